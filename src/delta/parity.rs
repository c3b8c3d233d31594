//! A delta's PAR 2.0 recovery files (`delta --split SIZE --parity PERCENT`): one set,
//! `delta.par2` and `delta.volXX+YY.par2`, over every file the delta's `SHA256SUMS` lists
//! ([`crate::pipeline::parity`]), which then lists the set's files too. They serve repair
//! only: `apply` checks them no further, and takes a delta with a part lost or damaged by
//! rebuilding it in a staging copy of the delta (the delta folder itself, perhaps a
//! read-only medium, is never written), each rebuilt file checked against the delta's
//! `SHA256SUMS` before the copy is used.

use super::DeltaError;
use crate::leftovers::{SignalGuard, Staging};
use crate::par2::check::{FileState, check, set_files};
use crate::pipeline::parity::{DELTA_SET, load_listed, write_set};
use crate::pipeline::{seal, split};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// Writes the set over the files the delta folder `dir`'s `SHA256SUMS` lists (no volume
/// over `part` bytes) and lists its files there. Returns how many files it wrote.
pub(super) fn write(dir: &Path, part: u64, percent: u32) -> Result<usize, DeltaError> {
    let sums_path = dir.join(seal::SUMS);
    let mut lines = sums(&sums_path)?;
    let names: Vec<String> = lines.keys().cloned().collect();
    let set = write_set(dir, DELTA_SET, &names, percent, part)?;
    let n = set.len();
    lines.extend(set);
    let lines: Vec<(String, String)> = lines.into_iter().collect();
    crate::util::atomic_write_mode(&sums_path, split::sums_text(&lines).as_bytes(), 0o644)
        .map_err(|e| DeltaError::io(&sums_path, e))?;
    Ok(n)
}

/// `SHA256SUMS` as name to sha256.
fn sums(path: &Path) -> Result<BTreeMap<String, String>, DeltaError> {
    let text = crate::input::read_found_to_string(path, crate::input::Kind::Sums)?;
    Ok(crate::pipeline::seal::parse_sums(&text))
}

/// Whether `rel` (relative to a delta folder) is a file of its recovery set.
pub(super) fn is_set_file(rel: &str) -> bool {
    crate::pipeline::parity::in_set(rel, DELTA_SET)
}

/// A staging copy of a delta with what was lost rebuilt; removed when dropped.
pub(super) struct Repaired {
    /// The copy.
    pub(super) dir: PathBuf,
    /// The files rebuilt from the recovery files, by path in the delta folder.
    pub(super) rebuilt: Vec<String>,
    _guard: SignalGuard,
}

impl Drop for Repaired {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// When the delta at `delta` (which did not check) has a recovery set that finds files lost
/// or damaged, a copy of it beside `beside` with them rebuilt and checked against its
/// `SHA256SUMS`; `None` when there is no set or it finds nothing lost (the caller's own
/// check then names what is wrong). A set that protects a file the delta's `SHA256SUMS`
/// does not list is refused, and a loss beyond the recovery data fails naming it, both
/// before anything is copied. The caller has checked the delta's signature already: this
/// is never reached for a delta that is not trusted.
pub(super) fn repaired_copy(
    delta: &Path,
    beside: &Path,
    staging: &Staging,
) -> Result<Option<Repaired>, DeltaError> {
    if set_files(delta, DELTA_SET).map_or(true, |f| f.is_empty()) {
        return Ok(None);
    }
    let listed = load_listed(delta, DELTA_SET).map_err(|e| repair_err(delta, delta, e))?;
    let report = check(delta, &listed.set, &|_| false).map_err(par2_err)?;
    if report.is_sound() {
        return Ok(None);
    }
    if !report.repairable() {
        let lost: Vec<&str> = (report.files.iter())
            .filter(|f| f.state != FileState::Intact)
            .map(|f| f.name.as_str())
            .collect();
        return Err(DeltaError::Damaged {
            path: listed.set.index.clone(),
            message: format!(
                "{} slice(s) of {} bytes lost or damaged ({}), {} recovery slice(s) found: {} more needed; nothing was copied or written: carry the lost files again",
                report.lost_slices,
                report.slice,
                lost.join(", "),
                report.recovery_slices,
                report.lost_slices - report.recovery_slices
            ),
        });
    }
    // Beside the output (the delta may be on a read-only medium), named after the delta,
    // so that a message about a file of the copy names the delta, never the output.
    let name = crate::outpath::resolve(delta)
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_else(|| "delta".into());
    let dir = crate::util::temp_path_beside(&beside.with_file_name(name));
    let guard = staging
        .create_dir(&dir)
        .map_err(|e| DeltaError::io(&dir, e))?;
    let mut copy = Repaired {
        dir,
        rebuilt: Vec::new(),
        _guard: guard,
    };
    copy_tree(delta, &copy.dir)?;
    let in_copy = load_listed(&copy.dir, DELTA_SET).map_err(|e| repair_err(delta, &copy.dir, e))?;
    let repaired = crate::pipeline::parity::repair_checked(&copy.dir, &in_copy, &report)
        .map_err(|e| repair_err(delta, &copy.dir, e))?;
    if let Some(name) = repaired.not_listed.first() {
        return Err(DeltaError::Damaged {
            path: delta.join(name),
            message: format!(
                "lost or damaged, and not listed in the delta's {}: not rebuilt",
                seal::SUMS
            ),
        });
    }
    copy.rebuilt = repaired.rebuilt;
    Ok(Some(copy))
}

/// A failure of a repair in `copy` (or of `delta` itself), its paths named in `delta`.
fn repair_err(delta: &Path, copy: &Path, e: crate::pipeline::parity::RepairError) -> DeltaError {
    use crate::pipeline::parity::RepairError;
    let meant = |path: &Path| delta.join(path.strip_prefix(copy).unwrap_or(path));
    match e {
        RepairError::Par2(e) => {
            let (path, message) = par2_parts(e);
            DeltaError::Damaged {
                path: meant(&path),
                message,
            }
        }
        RepairError::Sums(e) => e.into(),
        RepairError::NotListed { index, name } => DeltaError::Damaged {
            path: meant(&index),
            message: format!(
                "the recovery set protects {name:?}, which the delta's {} does not list: the set is not used",
                seal::SUMS
            ),
        },
        RepairError::Mismatch { path, got } => DeltaError::Damaged {
            path: meant(&path),
            message: format!(
                "rebuilt from the recovery files, it hashes to {got}, not what the delta's {} lists",
                seal::SUMS
            ),
        },
    }
}

/// A set's error as the file it names and what is wrong, without the path.
fn par2_parts(e: crate::par2::Par2Error) -> (PathBuf, String) {
    use crate::par2::Par2Error;
    let path = match &e {
        Par2Error::Io { path, .. }
        | Par2Error::Invalid { path, .. }
        | Par2Error::Unrepairable { path, .. } => path.clone(),
    };
    let text = e.to_string();
    let prefix = format!("{}: ", path.display());
    let message = text.strip_prefix(&prefix).unwrap_or(&text).to_string();
    (path, message)
}

fn par2_err(e: crate::par2::Par2Error) -> DeltaError {
    let (path, message) = par2_parts(e);
    DeltaError::Damaged { path, message }
}

/// Copies the regular files and folders under `from` into `to`.
fn copy_tree(from: &Path, to: &Path) -> Result<(), DeltaError> {
    for entry in walkdir::WalkDir::new(from).min_depth(1).sort_by_file_name() {
        let entry = entry.map_err(|e| DeltaError::io(from, e.into()))?;
        let rel = entry.path().strip_prefix(from).unwrap_or(entry.path());
        let dest = to.join(rel);
        if entry.file_type().is_dir() {
            fs::create_dir_all(&dest).map_err(|e| DeltaError::io(&dest, e))?;
        } else if entry.file_type().is_file() {
            let (mut src, _) = crate::input::open_found(entry.path())?;
            let mut out = fs::File::create(&dest).map_err(|e| DeltaError::io(&dest, e))?;
            std::io::copy(&mut src, &mut out).map_err(|e| DeltaError::io(&dest, e))?;
        }
    }
    Ok(())
}
