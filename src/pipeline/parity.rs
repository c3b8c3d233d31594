//! PAR 2.0 recovery files beside media-sized parts (`export_parity:`, `delta --parity`):
//! one set per folder, `NAME.par2` and `NAME.volXX+YY.par2` ([`crate::par2`]), over every
//! file the folder's `SHA256SUMS` lists (parts, whole files, the signed seal) and its
//! `SHA256SUMS.wholes` and `join.sh`; `SHA256SUMS` then lists the set's files too. No
//! volume is larger than a part. The slice size cuts the largest file into whole slices and
//! the recovery data is the percentage asked for, rounded up to whole slices and never less
//! than the largest file, so any one part lost whole can be rebuilt
//! ([`crate::par2::create::plan`]).

use crate::par2::create::{Options, Source, create, plan};
use crate::par2::repair::Rebuilt;
use crate::pipeline::seal::SealError;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// The set's name in an export folder: `export.par2`, `export.vol…`.
pub const EXPORT_SET: &str = "export";
/// The set's name in a delta folder: `delta.par2`, `delta.vol…`.
pub const DELTA_SET: &str = "delta";
/// Most bytes of recovery data held in memory while a set is written or used.
pub const BUDGET: usize = 256 << 20;

/// The Creator packet's text: the version only, so that a rebuild of the same release
/// writes the same bytes.
pub fn creator() -> String {
    format!(
        "Created by seedforge version {}.",
        env!("CARGO_PKG_VERSION")
    )
}

/// Writes set `base` in `dir` over `files` (names relative to `dir`, `/` between folders) at
/// `percent`, no volume over `max_volume` bytes, and removes files of an earlier set of
/// that name that are not in it. Returns each file written, by name, with its sha256.
pub fn write_set(
    dir: &Path,
    base: &str,
    files: &[String],
    percent: u32,
    max_volume: u64,
) -> Result<Vec<(String, String)>, SealError> {
    let mut sizes = Vec::new();
    let mut sources = Vec::new();
    for name in files {
        let path = dir.join(name);
        let size = fs::metadata(&path)
            .map_err(|e| SealError::io(&path, e))?
            .len();
        sizes.push(size);
        sources.push(Source {
            path,
            name: name.clone(),
        });
    }
    let invalid = |message: String| SealError::Incomplete {
        path: dir.join(format!("{base}.par2")),
        message,
    };
    let plan = plan(&sizes, percent)
        .ok_or_else(|| invalid("too many or too large files for one PAR 2.0 set".into()))?;
    let options = Options {
        plan,
        max_volume,
        creator: creator(),
        budget: BUDGET,
    };
    let created = create(dir, base, &sources, &options).map_err(|e| invalid(e.to_string()))?;
    let mut out = Vec::new();
    for path in &created.files {
        let name = file_name(path);
        let sha = crate::hashing::sha256_found(path).map_err(|e| SealError::io(path, e))?;
        out.push((name, sha));
    }
    let keep: Vec<String> = out.iter().map(|(n, _)| n.clone()).collect();
    remove_set(dir, base, &keep)?;
    Ok(out)
}

/// Removes the files of set `base` in `dir` (regular files named `BASE.par2` or
/// `BASE.vol*.par2`) but those in `keep`.
pub fn remove_set(dir: &Path, base: &str, keep: &[String]) -> Result<(), SealError> {
    let Ok(found) = crate::par2::check::set_files(dir, base) else {
        return Ok(());
    };
    for path in found {
        if !keep.contains(&file_name(&path)) {
            fs::remove_file(&path).map_err(|e| SealError::io(&path, e))?;
        }
    }
    Ok(())
}

/// Whether `name` is a file of set `base`.
pub fn in_set(name: &str, base: &str) -> bool {
    name == format!("{base}.par2")
        || (name.starts_with(&format!("{base}.vol")) && name.ends_with(".par2"))
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Why [`repair_checked`] rebuilt nothing.
#[derive(Debug, thiserror::Error)]
pub enum RepairError {
    /// The set could not be used, or the loss is beyond it.
    #[error(transparent)]
    Par2(#[from] crate::par2::Par2Error),
    /// The folder's `SHA256SUMS` cannot be read.
    #[error(transparent)]
    Sums(#[from] crate::input::InputError),
    /// A file the recovery data rebuilt (its MD5 right) is not the one `SHA256SUMS` lists.
    #[error(
        "{}: rebuilt from the recovery files, it hashes to {got}, not what {} lists",
        path.display(),
        crate::pipeline::seal::SUMS
    )]
    Mismatch {
        /// Where the file belongs.
        path: PathBuf,
        /// What the rebuilt bytes hash to.
        got: String,
    },
}

/// Rebuilds in `dir` what `report` found lost or damaged, each file checked against the
/// sha256 `dir`'s `SHA256SUMS` lists before it takes its name: when one does not match,
/// nothing is written. Returns the files rebuilt.
pub fn repair_checked(
    dir: &Path,
    set: &crate::par2::check::Loaded,
    report: &crate::par2::check::Report,
) -> Result<Vec<Rebuilt>, RepairError> {
    let text = crate::input::read_found_to_string(
        &dir.join(crate::pipeline::seal::SUMS),
        crate::input::Kind::Sums,
    )?;
    let listed: BTreeMap<&str, &str> = text
        .lines()
        .filter_map(crate::pipeline::seal::sums_line)
        .map(|(h, n)| (n, h))
        .collect();
    let rebuilt = crate::par2::repair::repair(dir, set, report, BUDGET)?;
    for r in &rebuilt {
        let got = match crate::hashing::sha256_found(&r.temp) {
            Ok(got) => got,
            Err(e) => {
                crate::par2::repair::discard(&rebuilt);
                return Err(crate::par2::Par2Error::io(&r.temp, e).into());
            }
        };
        if listed.get(r.name.as_str()) != Some(&got.as_str()) {
            crate::par2::repair::discard(&rebuilt);
            return Err(RepairError::Mismatch {
                path: r.path.clone(),
                got,
            });
        }
    }
    crate::par2::repair::commit(&rebuilt)?;
    Ok(rebuilt)
}
