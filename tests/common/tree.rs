//! File trees on disk: copying, snapshots compared path by path, listing the files under a
//! folder, reading JSON files and damaging a byte on purpose.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// Recursively copies `from` to `to`, skipping entries for which `skip` is true.
pub fn copy_tree(from: &Path, to: &Path, skip: &dyn Fn(&Path) -> bool) {
    fs::create_dir_all(to).unwrap();
    let mut entries: Vec<_> = fs::read_dir(from)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if skip(&path) {
            continue;
        }
        let dest = to.join(path.file_name().unwrap());
        let meta = fs::symlink_metadata(&path).unwrap();
        if meta.is_dir() {
            copy_tree(&path, &dest, skip);
        } else if meta.is_file() {
            fs::copy(&path, &dest).unwrap();
        }
    }
}

/// Copies what a build keeps from one build to the next and makes at random the first
/// time (the PKI, `pki/`, and the site identity, `site.json`) from the output `from` to the
/// output `to`, so that a build into `to` gives the same bytes as the one of `from`.
pub fn copy_kept_state(from: &Path, to: &Path) {
    copy_tree(&from.join("pki"), &to.join("pki"), &|_| false);
    fs::copy(from.join("site.json"), to.join("site.json")).unwrap();
}

/// What a tree snapshot records for one path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// A directory.
    Dir,
    /// A regular file and its bytes.
    File(Vec<u8>),
    /// Anything else (symlink, …).
    Other,
}

/// Every path under `root` (relative, sorted) with its kind and, for files, its bytes.
pub fn snapshot(root: &Path) -> BTreeMap<PathBuf, Entry> {
    let mut out = BTreeMap::new();
    walk(root, root, &mut |rel, meta, path| {
        let entry = if meta.is_dir() {
            Entry::Dir
        } else if meta.is_file() {
            Entry::File(fs::read(path).unwrap())
        } else {
            Entry::Other
        };
        out.insert(rel.to_path_buf(), entry);
    });
    out
}

/// Asserts that two snapshots are identical, naming the first difference.
pub fn assert_same_tree(a: &BTreeMap<PathBuf, Entry>, b: &BTreeMap<PathBuf, Entry>, what: &str) {
    let names_a: Vec<_> = a.keys().collect();
    let names_b: Vec<_> = b.keys().collect();
    assert_eq!(names_a, names_b, "{what}: the trees hold different paths");
    for (path, entry) in a {
        assert!(
            b.get(path) == Some(entry),
            "{what}: {} differs",
            path.display()
        );
    }
}

/// Calls `f` with every path under `dir` (relative to `root`, sorted, a folder before what
/// it holds), its `symlink_metadata` and its full path.
pub fn walk(root: &Path, dir: &Path, f: &mut dyn FnMut(&Path, &fs::Metadata, &Path)) {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        let meta = fs::symlink_metadata(&path).unwrap();
        let rel = path.strip_prefix(root).unwrap();
        f(rel, &meta, &path);
        if meta.is_dir() {
            walk(root, &path, f);
        }
    }
}

/// The names in `dir` (one level, temporary files included), sorted.
pub fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Every regular file under `root` (absolute paths, sorted).
pub fn files_under(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if root.exists() {
        walk(root, root, &mut |_, meta, path| {
            if meta.is_file() {
                out.push(path.to_path_buf());
            }
        });
    }
    out
}

/// Reads a JSON file.
pub fn read_json(path: &Path) -> serde_json::Value {
    let bytes = fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("{} is not valid JSON: {e}", path.display()))
}

/// Flips the lowest bit of the byte at `offset` in `path`.
pub fn flip_byte(path: &Path, offset: usize) {
    let mut bytes = fs::read(path).unwrap();
    assert!(offset < bytes.len(), "{} is too short", path.display());
    bytes[offset] ^= 1;
    // The blob is read-only for nobody in particular; write it in place.
    fs::write(path, bytes).unwrap();
}

/// The sealed files of the output `b` are those of `a`, byte for byte: `SHA256SUMS`, every
/// file it lists, and the signatures beside it (`manifest.json.sigstore.json`,
/// `sbom/provenance.sigstore.json`) when `a` has them. A difference names the file.
pub fn assert_same_seal(a: &Path, b: &Path, what: &str) {
    let differ = seal_differences(a, b);
    assert!(
        differ.is_empty(),
        "{what}: these sealed files differ: {differ:?}\n--- {}\n{}\n--- {}\n{}",
        a.display(),
        fs::read_to_string(a.join("SHA256SUMS")).unwrap_or_default(),
        b.display(),
        fs::read_to_string(b.join("SHA256SUMS")).unwrap_or_default(),
    );
}

/// The sealed files (as [`assert_same_seal`] compares them) whose bytes differ between
/// the outputs `a` and `b`, by their paths in the output.
pub fn seal_differences(a: &Path, b: &Path) -> Vec<String> {
    let sums = fs::read_to_string(a.join("SHA256SUMS")).unwrap();
    let mut names = vec!["SHA256SUMS".to_string()];
    names.extend(
        sums.lines()
            .filter_map(|l| l.split_once("  ").map(|(_, p)| p.to_string())),
    );
    for n in [
        "manifest.json.sigstore.json",
        "sbom/provenance.sigstore.json",
    ] {
        if !names.iter().any(|m| m == n) && (a.join(n).exists() || b.join(n).exists()) {
            names.push(n.to_string());
        }
    }
    names
        .into_iter()
        .filter(|n| fs::read(a.join(n)).ok() != fs::read(b.join(n)).ok())
        .collect()
}
