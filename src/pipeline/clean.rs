//! `seedforge clean OUT`: removes what `OUT/manifest.json` says seedforge wrote, and
//! nothing else.
//!
//! Field lesson: the seeds' scripts once deleted the Ubuntu installer ISO that sat next to
//! their outputs. So clean removes only the files the manifest lists as artifacts, the
//! manifest and `SHA256SUMS` themselves, the build state (`.seedforge/`, see
//! [`crate::pipeline::state`]) and seedforge's own leftovers of interrupted runs (`oci/.seedforge/`,
//! `iso/.stage-*`, hidden `*.seedforge-PID-N.tmp` and `*.PID.iso-tmp` temporary files
//! beside artifacts); then the directories that became empty. An output a first build
//! left unsealed (no manifest, its build state there) is cleaned by the files under the
//! paths a build owns instead. Without a manifest or such a state it refuses and removes
//! nothing. The output directory itself is kept.

use crate::pipeline::seal::statement::{STATEMENT, STATEMENT_BUNDLE};
use crate::pipeline::seal::{MANIFEST, ManifestView, SUMS, SealError, rel};
use serde::Serialize;
use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

/// What `clean` removed (or would remove, with `dry_run`).
#[derive(Debug, Clone, Serialize)]
pub struct CleanReport {
    /// The output directory.
    pub output: PathBuf,
    /// Nothing was removed; this is what would be.
    pub dry_run: bool,
    /// Files removed, relative to the output.
    pub files: Vec<String>,
    /// Leftovers of interrupted runs removed (files or whole temporary directories).
    pub leftovers: Vec<String>,
    /// Directories removed because they became empty.
    pub dirs: Vec<String>,
    /// Bytes of the files removed.
    pub bytes: u64,
    /// Listed artifacts that were already gone.
    pub already_gone: usize,
    /// Listed artifacts kept: under `pki/` and `site.json` with `keep_pki`, or reached through a symlink
    /// that leads out of the output directory.
    pub kept: Vec<String>,
}

impl CleanReport {
    /// Nothing removed yet.
    fn empty(out: &Path, dry_run: bool) -> CleanReport {
        CleanReport {
            output: out.to_path_buf(),
            dry_run,
            files: Vec::new(),
            leftovers: Vec::new(),
            dirs: Vec::new(),
            bytes: 0,
            already_gone: 0,
            kept: Vec::new(),
        }
    }
}

/// Options of [`clean`].
#[derive(Debug, Clone, Copy, Default)]
pub struct CleanOptions {
    /// Only report.
    pub dry_run: bool,
    /// Keep `pki/` (the CA the nodes trust, and the registry's key pair) and `site.json`
    /// (the output's site identity, which its far side's receipts name).
    pub keep_pki: bool,
}

/// Removes what seedforge wrote into `out`, as its `manifest.json` lists it.
pub fn clean(out: &Path, options: CleanOptions) -> Result<CleanReport, SealError> {
    if !out.join(MANIFEST).exists() && finished(out, options.keep_pki) {
        // A clean interrupted after its last removal: nothing is left to do.
        return Ok(CleanReport::empty(out, options.dry_run));
    }
    let root = out.canonicalize().map_err(|e| SealError::io(out, e))?;
    let listed = match ManifestView::load(out) {
        Ok(view) => view.artifacts.iter().map(|a| a.path.clone()).collect(),
        Err(e) => match unsealed_outputs(out, &root) {
            Some(listed) => listed,
            None => return Err(e),
        },
    };
    let mut report = CleanReport::empty(out, options.dry_run);
    let (mut files, gone) = listed_files(out, &root, listed, options, &mut report);
    // The directories artifacts live in, where interrupted runs leave temporary files.
    let mut dirs: BTreeSet<PathBuf> = BTreeSet::new();
    dirs.insert(out.to_path_buf());
    for path in files.iter().map(|(_, p)| p).chain(&gone) {
        dirs.extend(folders_between(out, path));
    }
    let leftovers = leftovers_in(out, &root, &dirs);
    let mut candidates: Vec<PathBuf> = dirs.into_iter().filter(|d| d != out).collect();
    for (_, p) in &leftovers {
        for dir in folders_between(out, p) {
            if !candidates.contains(&dir) {
                candidates.push(dir);
            }
        }
    }
    candidates.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
    let going: BTreeSet<PathBuf> = (files.iter().chain(&leftovers))
        .map(|(_, p)| p.clone())
        .collect();
    let emptied = emptied(&candidates, &going);
    report.files = files.iter().map(|(r, _)| r.clone()).collect();
    report.leftovers = leftovers.iter().map(|(r, _)| r.clone()).collect();
    report.dirs = (candidates.iter())
        .filter(|d| emptied.contains(*d))
        .map(|d| rel(d, out))
        .collect();
    if options.dry_run {
        return Ok(report);
    }
    // The manifest goes last of all (after the leftovers and the emptied folders), so an
    // interrupted clean can be run again.
    let manifest = (files.iter())
        .position(|(r, _)| r == MANIFEST)
        .map(|i| files.remove(i));
    for (_, path) in files.iter().chain(&leftovers) {
        remove(path)?;
    }
    let mut removed_dirs = Vec::new();
    for dir in &candidates {
        // Only directories that hold nothing else: remove_dir fails on anything non-empty.
        if fs::remove_dir(dir).is_ok() {
            removed_dirs.push(rel(dir, out));
        }
    }
    report.dirs = removed_dirs;
    if let Some((_, path)) = manifest {
        remove(&path)?;
    }
    Ok(report)
}

/// The files the manifest lists that a clean removes (relative and full path), and those
/// already gone; what it keeps (`pki/` with `keep_pki`, folders, anything outside the
/// output) and the number gone go into `report`.
fn listed_files(
    out: &Path,
    root: &Path,
    listed: Vec<String>,
    options: CleanOptions,
    report: &mut CleanReport,
) -> (Vec<(String, PathBuf)>, Vec<PathBuf>) {
    let mut files = Vec::new();
    let mut gone = Vec::new();
    let listed = listed
        .into_iter()
        .chain([MANIFEST.to_string(), SUMS.to_string()])
        .chain(
            [STATEMENT, STATEMENT_BUNDLE]
                .into_iter()
                .filter(|f| fs::symlink_metadata(out.join(f)).is_ok())
                .map(str::to_string),
        );
    for rel in listed {
        let Some(relative) = crate::pipeline::seal::safe_relative(&rel) else {
            continue;
        };
        let path = out.join(&relative);
        // The site identity goes with the PKI: both are made once and kept.
        let kept = relative.starts_with("pki") || rel == crate::pipeline::seal::site::SITE_FILE;
        if options.keep_pki && kept {
            report.kept.push(rel);
            continue;
        }
        let Ok(meta) = fs::symlink_metadata(&path) else {
            // Gone already (a clean interrupted before): its folders may still be there.
            report.already_gone += 1;
            gone.push(path);
            continue;
        };
        if meta.is_dir() || !inside(root, &path) {
            report.kept.push(rel);
            continue;
        }
        report.bytes += meta.len();
        files.push((rel, path));
    }
    (files, gone)
}

/// The files under the paths a build owns ([`OWNED`]: the image layout, `registries.yaml`,
/// `nodes/`, `iso/`, …; the PKI, kept with `keep_pki`), relative to `out`, when `out` has
/// no manifest but a build state: a first build killed or out of space before it sealed,
/// whose seeds (and the join token in them) a clean must still be able to remove. The
/// build state proves this seedforge made the folder, and no build starts in a folder
/// that held a file at those paths; every file a step records lies under them. Regular
/// files only; a symbolic link is neither followed nor removed. None without such a state.
fn unsealed_outputs(out: &Path, root: &Path) -> Option<Vec<String>> {
    use crate::pipeline::plan::outdir::OWNED;
    use crate::pipeline::state::{STATE_DIR, STATE_FILE};
    if out.join(MANIFEST).exists() || !out.join(STATE_DIR).join(STATE_FILE).is_file() {
        return None;
    }
    let mut listed = Vec::new();
    for name in OWNED {
        if *name == STATE_DIR || *name == crate::pipeline::build_lock::LOCK_FILE_NAME {
            continue;
        }
        for entry in walkdir::WalkDir::new(out.join(name))
            .follow_links(false)
            .sort_by_file_name()
            .into_iter()
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_file())
        {
            if inside(root, entry.path()) {
                listed.push(rel(entry.path(), out));
            }
        }
    }
    (!listed.is_empty()).then_some(listed)
}

/// The folders between `out` (excluded) and `path` (excluded), deepest first.
fn folders_between(out: &Path, path: &Path) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    let mut p = path.parent();
    while let Some(dir) = p {
        if !dir.starts_with(out) || dir == out {
            break;
        }
        dirs.push(dir.to_path_buf());
        p = dir.parent();
    }
    dirs
}

/// What killed runs left: the build state, the layout's scratch space, and temporary
/// files (and ISO staging folders) in the folders artifacts live in.
fn leftovers_in(out: &Path, root: &Path, dirs: &BTreeSet<PathBuf>) -> Vec<(String, PathBuf)> {
    let mut leftovers: Vec<(String, PathBuf)> = Vec::new();
    for fixed in [
        out.join(crate::pipeline::state::STATE_DIR),
        out.join("oci").join(".seedforge"),
    ] {
        if fixed.exists() && inside(root, &fixed) {
            leftovers.push((rel(&fixed, out), fixed));
        }
    }
    let iso_dir = out.join("iso");
    for dir in dirs.iter().chain(std::iter::once(&iso_dir)) {
        let Ok(read) = fs::read_dir(dir) else {
            continue;
        };
        let mut found: Vec<PathBuf> = read
            .filter_map(|e| e.ok())
            .filter(|e| {
                let name = e.file_name();
                let name = name.to_string_lossy();
                is_temp_name(&name) || (*dir == iso_dir && name.starts_with(".stage-"))
            })
            .map(|e| e.path())
            .collect();
        found.sort();
        for p in found {
            if inside(root, &p) && !leftovers.iter().any(|(_, q)| q == &p) {
                leftovers.push((rel(&p, out), p));
            }
        }
    }
    leftovers
}

/// Which of `candidates` (deepest first) become empty when `going` is removed: a folder
/// whose every entry goes.
fn emptied(candidates: &[PathBuf], going: &BTreeSet<PathBuf>) -> BTreeSet<PathBuf> {
    let mut emptied: BTreeSet<PathBuf> = BTreeSet::new();
    for dir in candidates {
        let Ok(read) = fs::read_dir(dir) else {
            continue;
        };
        let all_go = read
            .filter_map(|e| e.ok())
            .all(|e| going.contains(&e.path()) || emptied.contains(&e.path()));
        if all_go {
            emptied.insert(dir.clone());
        }
    }
    emptied
}

/// Removes a file, or a folder with what it holds; one already gone is fine.
fn remove(path: &Path) -> Result<(), SealError> {
    let result = if fs::symlink_metadata(path).is_ok_and(|m| m.is_dir()) {
        fs::remove_dir_all(path)
    } else {
        fs::remove_file(path)
    };
    match result {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(SealError::io(path, e)),
    }
}

/// True if `out` holds nothing a clean would remove: at most `pki/` and `site.json` (when
/// kept) and the build lock file (which the command removes itself).
fn finished(out: &Path, keep_pki: bool) -> bool {
    let Ok(entries) = fs::read_dir(out) else {
        return false;
    };
    entries.filter_map(|e| e.ok()).all(|e| {
        let name = e.file_name();
        (keep_pki && (name == "pki" || name == crate::pipeline::seal::site::SITE_FILE))
            || name == crate::pipeline::build_lock::LOCK_FILE_NAME
    })
}

/// True if `path`'s parent, with symlinks resolved, lies inside `root` (canonical).
fn inside(root: &Path, path: &Path) -> bool {
    path.parent()
        .and_then(|p| p.canonicalize().ok())
        .is_some_and(|p| p.starts_with(root))
}

/// The temporary names seedforge's writers use: `.NAME.seedforge-PID-N.tmp`
/// ([`crate::util::temp_path_beside`]) and `.NAME.PID.iso-tmp` (the ISO writer).
pub fn is_temp_name(name: &str) -> bool {
    let Some(rest) = name.strip_prefix('.') else {
        return false;
    };
    if let Some(body) = rest.strip_suffix(".tmp")
        && let Some((_, tail)) = body.rsplit_once(".seedforge-")
        && let Some((pid, n)) = tail.split_once('-')
    {
        return is_digits(pid) && is_digits(n);
    }
    if let Some(body) = rest.strip_suffix(".iso-tmp")
        && let Some((_, pid)) = body.rsplit_once('.')
    {
        return is_digits(pid);
    }
    false
}

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_names_are_recognised_exactly() {
        assert!(is_temp_name(".k3s.seedforge-123-0.tmp"));
        assert!(is_temp_name(".seed-a.iso.4242.iso-tmp"));
        for other in [
            "k3s.seedforge-1-0.tmp",
            ".notes.tmp",
            ".x.seedforge-a-0.tmp",
            ".seed.iso.iso-tmp",
            "ubuntu-24.04-live-server-amd64.iso",
        ] {
            assert!(!is_temp_name(other), "{other}");
        }
    }
}
