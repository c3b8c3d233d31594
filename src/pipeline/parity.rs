//! PAR 2.0 recovery files beside media-sized parts (`export_parity:`, `delta --parity`):
//! one set per folder, `NAME.par2` and `NAME.volXX+YY.par2` ([`crate::par2`]), over every
//! file the folder's `SHA256SUMS` lists (parts, whole files, the signed seal) and its
//! `SHA256SUMS.wholes` and `join.sh`; `SHA256SUMS` then lists the set's files too. No
//! volume is larger than a part. The slice size cuts the largest file into whole slices and
//! the recovery data is the percentage asked for, rounded up to whole slices and never less
//! than the largest file, so any one part lost whole can be rebuilt
//! ([`crate::par2::create::plan`]).

use crate::par2::check::Loaded;
use crate::par2::create::{Options, Source, create, plan};
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

/// Why [`load_listed`] or [`repair_checked`] rebuilt nothing.
#[derive(Debug, thiserror::Error)]
pub enum RepairError {
    /// The set could not be used, or the loss is beyond it.
    #[error(transparent)]
    Par2(#[from] crate::par2::Par2Error),
    /// The folder's `SHA256SUMS` cannot be read.
    #[error(transparent)]
    Sums(#[from] crate::input::InputError),
    /// The set protects a file the folder's `SHA256SUMS` does not list.
    #[error(
        "{}: the recovery set protects {name:?}, which {} does not list: a set here protects the files the folder lists, and is not used",
        index.display(),
        crate::pipeline::seal::SUMS
    )]
    NotListed {
        /// The set's index.
        index: PathBuf,
        /// The name in the set.
        name: String,
    },
    /// A file the recovery data rebuilt (its MD5 right) is not the one `SHA256SUMS` lists.
    #[error(
        "{}: rebuilt from the recovery files, it hashes to {got}, not what {} lists; nothing was written",
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

/// A folder's recovery set, read and checked against what its `SHA256SUMS` lists.
#[derive(Debug, Clone)]
pub struct Listed {
    /// The set.
    pub set: Loaded,
    /// `SHA256SUMS`: name to sha256.
    pub sums: BTreeMap<String, String>,
}

/// Reads set `base` in `dir` and its `SHA256SUMS`: every file the set protects must be one
/// `SHA256SUMS` lists (or, in an export of an older seedforge, its `SHA256SUMS.wholes` or
/// `join.sh`, which are checked but never rebuilt), else the set is not used.
pub fn load_listed(dir: &Path, base: &str) -> Result<Listed, RepairError> {
    let text = crate::input::read_found_to_string(
        &dir.join(crate::pipeline::seal::SUMS),
        crate::input::Kind::Sums,
    )?;
    let sums = crate::pipeline::seal::parse_sums(&text);
    let set = crate::par2::check::load(dir, base)?;
    let unlisted_ok = [crate::pipeline::split::WHOLES, crate::pipeline::split::JOIN];
    if let Some(f) = (set.info.files.iter())
        .find(|f| !sums.contains_key(&f.name) && !unlisted_ok.contains(&f.name.as_str()))
    {
        return Err(RepairError::NotListed {
            index: set.index.clone(),
            name: f.name.clone(),
        });
    }
    Ok(Listed { set, sums })
}

/// What [`repair_checked`] did.
#[derive(Debug, Clone, Default)]
pub struct Repaired {
    /// The files rebuilt, by name in the folder, each with the sha256 `SHA256SUMS` lists.
    pub rebuilt: Vec<String>,
    /// Files lost or damaged that were not rebuilt: `SHA256SUMS` does not list them, so
    /// nothing vouches for what the recovery data gives.
    pub not_listed: Vec<String>,
}

/// Rebuilds in `dir` what `report` found lost, damaged or with bytes appended, each file
/// checked against the sha256 `SHA256SUMS` lists before it takes its name: when one does
/// not match, nothing is written. A file `SHA256SUMS` does not list is rebuilt (its slices
/// are needed for the others) but not kept. Each file takes the mode of the file it
/// replaces, or of the other parts of its whole, or the one its folder's seal records for
/// it (seed ISO parts 0600), else 0600 (`join.sh` 0755).
pub fn repair_checked(
    dir: &Path,
    listed: &Listed,
    report: &crate::par2::check::Report,
) -> Result<Repaired, RepairError> {
    let rebuilt = crate::par2::repair::repair(dir, &listed.set, report, BUDGET)?;
    let mut keep = Vec::new();
    let mut out = Repaired::default();
    for r in rebuilt {
        let got = crate::hashing::sha256_reader(&mut r.reader())
            .map_err(|e| crate::par2::Par2Error::io(&r.temp, e))?
            .0;
        match listed.sums.get(&r.name) {
            None => out.not_listed.push(r.name.clone()),
            Some(want) if *want == got => keep.push(r),
            Some(_) => {
                return Err(RepairError::Mismatch {
                    path: r.path.clone(),
                    got,
                });
            }
        }
    }
    for r in &keep {
        let mode = mode_for(dir, &r.name, &listed.set);
        r.set_mode(mode)
            .map_err(|e| crate::par2::Par2Error::io(&r.temp, e))?;
    }
    out.rebuilt = keep.iter().map(|r| r.name.clone()).collect();
    crate::par2::repair::commit(keep)?;
    Ok(out)
}

/// The mode a rebuilt file takes (see [`repair_checked`]).
fn mode_for(dir: &Path, name: &str, set: &Loaded) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    let mode_of = |n: &str| {
        fs::symlink_metadata(dir.join(n))
            .ok()
            .filter(|m| m.is_file())
            .map(|m| m.permissions().mode() & 0o777)
    };
    if let Some(mode) = mode_of(name) {
        return mode;
    }
    let whole = whole_of(name);
    if let Some(whole) = whole
        && let Some(mode) = (set.info.files.iter())
            .filter(|f| f.name != name && whole_of(&f.name) == Some(whole))
            .find_map(|f| mode_of(&f.name))
    {
        return mode;
    }
    if name == crate::pipeline::split::JOIN {
        return 0o755;
    }
    recorded_mode(dir, whole.unwrap_or(name)).unwrap_or(0o600)
}

/// `NAME` of `NAME.partNNN`.
fn whole_of(name: &str) -> Option<&str> {
    let (whole, n) = name.rsplit_once(".part")?;
    (!n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())).then_some(whole)
}

/// The mode the seal in `dir` (an export folder's `manifest.json`, or a delta's
/// `out/manifest.json`) records for `name`.
fn recorded_mode(dir: &Path, name: &str) -> Option<u32> {
    let (seal_dir, path) = match name.strip_prefix("out/") {
        Some(rel) => (dir.join("out"), rel.to_string()),
        None => (dir.to_path_buf(), name.to_string()),
    };
    let view = crate::pipeline::seal::ManifestView::load(&seal_dir).ok()?;
    let artifact = (view.artifacts.iter())
        .find(|a| a.path == path)
        .or_else(|| {
            // An export folder holds the output's ISOs by their file name.
            (!name.contains('/'))
                .then(|| (view.artifacts.iter()).find(|a| a.path.rsplit('/').next() == Some(name)))
                .flatten()
        })?;
    u32::from_str_radix(&artifact.mode, 8)
        .ok()
        .map(|m| m & 0o777)
}
