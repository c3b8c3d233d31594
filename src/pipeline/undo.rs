//! The undo set of a build: what a build over a sealed output puts back if it fails, so
//! that a failed build leaves the output as the last good one sealed it.
//!
//! Every writer replaces a file by renaming a new one over its name and never writes into
//! one ([`crate::util::atomic_write`]), so the file a name held before a build lives on as
//! long as another name links to it. Before its first step that writes, a build over a
//! sealed output (one with `SHA256SUMS`) makes that other name for every file of the output:
//! `OUT/.seedforge/undo/files/REL`, a hard link to `OUT/REL` (a copy where the file system
//! has no hard links), with the list of every file and folder the output held
//! (`before.json`). It is made under a temporary name and renamed into place complete, so
//! it either exists whole or not at all. Left out: the build state (`.seedforge/`), the
//! build lock, the layout's private folder (`oci/.seedforge/`), temporary files of
//! interrupted runs, and the layout's blobs (`oci/blobs/`), which are named by their
//! content and never rewritten under their name: a blob a failed build added is a stray
//! that nothing reaches, as after `mirror`, and `seedforge gc` removes it.
//!
//! - The build **succeeds**: the undo set is removed ([`UndoSet::commit`]).
//! - A step **fails** (an error, a failed check, a full disk): every file is renamed back
//!   over its name, the files and folders the build added are removed, then the undo set
//!   ([`UndoSet::roll_back`]). `SHA256SUMS`, `manifest.json` and every file they list are
//!   then the ones sealed before, byte for byte and inode for inode.
//! - The build is **killed** (SIGKILL, power loss, SIGINT, SIGTERM): the undo set stays.
//!   The next command that takes the output's lock (`build`, `apply`, `clean`) rolls it
//!   back before anything else ([`recover`]), and a build that finds one at its start does
//!   too.
//!
//! A build with nothing changed writes nothing into its output, not even this set: it is
//! made before the first step that runs with a fingerprint (it runs because something it
//! writes changed), or right after a step without one (the mirror, the PKI, the seal, a
//! bundle kept as it is: they run every time and write only what changed) changed a file.
//! Small files go into the set as the bytes read before the first step ([`Watch`]), so one
//! such a step replaced goes in as it was; large ones as links.
//! A build killed inside such a step, after it replaced a file and before the set was
//! made, leaves that file replaced, as before the set existed.
//!
//! The links change the ctime of the files they point at, which the build state's stat
//! cache compares: the runner takes in those changes ([`crate::pipeline::state::BuildState::absorb_ctime`]),
//! so an unchanged step is still skipped.

use crate::leftovers;
use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// The undo set's folder inside the build state's folder ([`super::state::STATE_DIR`]).
pub const UNDO_DIR: &str = "undo";
/// The folder inside the undo set that holds the links, by their path in the output.
const FILES: &str = "files";
/// The list of what the output held, inside the undo set.
const BEFORE: &str = "before.json";

/// A failure, with the path it concerns.
pub type Failed = (PathBuf, io::Error);

/// What the output held when the undo set was made.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Before {
    /// Every file, relative to the output, `/`-separated.
    files: BTreeSet<String>,
    /// Every folder, relative to the output.
    dirs: BTreeSet<String>,
}

/// An undo set in place for a running build.
#[derive(Debug)]
pub struct UndoSet {
    out: PathBuf,
    /// The files it holds, as paths under the output.
    files: Vec<PathBuf>,
    /// True when a file system without hard links made it hold copies.
    pub copied: bool,
}

/// The undo set's folder for the output `out`.
pub fn undo_dir(out: &Path) -> PathBuf {
    out.join(super::state::STATE_DIR).join(UNDO_DIR)
}

fn at(path: &Path) -> impl Fn(io::Error) -> Failed + '_ {
    move |e| (path.to_path_buf(), e)
}

/// True for what the undo set leaves out at `rel` (relative to the output, a path whose
/// last component is `name`).
fn left_out(rel: &str, name: &str) -> bool {
    // The build state's folder and the build lock (`.seedforge-build.lock`, which must
    // keep its inode while it is held) are the only top-level names seedforge begins
    // with `.seedforge`.
    (!rel.contains('/') && rel.starts_with(super::state::STATE_DIR))
        || rel == "oci/.seedforge"
        || rel == "oci/blobs"
        || leftovers::temp_owner(name).is_some()
        || leftovers::stage_owner(name).is_some()
}

/// Every file and folder under `out` but what the undo set leaves out. Names that are not
/// UTF-8 are neither listed nor walked (seedforge writes none; a rollback leaves them).
fn walk(out: &Path) -> io::Result<Before> {
    let mut before = Before {
        files: BTreeSet::new(),
        dirs: BTreeSet::new(),
    };
    let mut todo = vec![String::new()];
    while let Some(dir) = todo.pop() {
        for entry in fs::read_dir(out.join(&dir))? {
            let entry = entry?;
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            let rel = if dir.is_empty() {
                name.clone()
            } else {
                format!("{dir}/{name}")
            };
            if left_out(&rel, &name) {
                continue;
            }
            let kind = entry.file_type()?;
            if kind.is_dir() {
                before.dirs.insert(rel.clone());
                todo.push(rel);
            } else if kind.is_file() {
                before.files.insert(rel);
            }
        }
    }
    Ok(before)
}

/// Copies `from` to the new file `to` with its mode, synced.
fn copy_file(from: &Path, to: &Path) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    let (mut src, meta) = crate::input::open_found(from).map_err(|e| e.into_io())?;
    let mut dst = crate::util::create_new_mode(to, meta.permissions().mode() & 0o7777)?;
    crate::util::copy_split(&mut src, &mut dst).map_err(|e| match e {
        crate::util::CopyError::Read(e) | crate::util::CopyError::Write(e) => e,
    })?;
    dst.sync_all()
}

/// Makes the undo set of the sealed output `out` at once (see the module's head). An
/// output without `SHA256SUMS` has nothing sealed to keep: `Ok(None)`.
pub fn prepare(out: &Path) -> Result<Option<UndoSet>, Failed> {
    match watch(out)? {
        Some(w) => w.prepare().map(Some),
        None => Ok(None),
    }
}

/// Makes the undo set of `out`, which held `before`: `keep(rel, to)` writes the file kept
/// for `rel` at `to` itself and says so, or leaves it to a link (a copy where the file
/// system has no hard links) to the file there now.
fn make(
    out: &Path,
    before: &Before,
    keep: &dyn Fn(&str, &Path) -> io::Result<bool>,
) -> Result<UndoSet, Failed> {
    let dir = undo_dir(out);
    let tmp = crate::util::temp_path_beside(&dir);
    let made = (|| {
        let files_dir = tmp.join(FILES);
        fs::create_dir_all(&files_dir).map_err(at(&files_dir))?;
        let mut copied = false;
        let mut files = Vec::with_capacity(before.files.len());
        let mut dirs: BTreeSet<PathBuf> = BTreeSet::from([tmp.clone(), files_dir.clone()]);
        for rel in &before.files {
            let (from, to) = (out.join(rel), files_dir.join(rel));
            if let Some(parent) = to.parent()
                && dirs.insert(parent.to_path_buf())
            {
                fs::create_dir_all(parent).map_err(at(parent))?;
            }
            if keep(rel, &to).map_err(at(&to))? {
                continue;
            }
            if !from.is_file() {
                continue;
            }
            if fs::hard_link(&from, &to).is_err() {
                // A file system without hard links (FAT, exFAT, some FUSE ones).
                copy_file(&from, &to).map_err(at(&from))?;
                copied = true;
            }
            files.push(from);
        }
        let list = tmp.join(BEFORE);
        let json = serde_json::to_vec(before).map_err(|e| at(&list)(io::Error::other(e)))?;
        crate::util::atomic_write(&list, &json).map_err(at(&list))?;
        // The links are durable before the build replaces anything they keep.
        for d in dirs.iter().rev() {
            crate::util::sync_dir(d).map_err(at(d))?;
        }
        fs::rename(&tmp, &dir).map_err(at(&dir))?;
        crate::util::sync_parent(&dir).map_err(at(&dir))?;
        Ok(UndoSet {
            out: out.to_path_buf(),
            files,
            copied,
        })
    })();
    if made.is_err() {
        let _ = fs::remove_dir_all(&tmp);
    }
    made
}

/// A sealed output watched before its undo set is made. A build with nothing changed
/// writes nothing into its output, not even links (which change the files' ctime), so the
/// set is made only before the first step that runs and writes for sure, or as soon as a
/// step that runs every time and writes only what changed (the mirror, the PKI, the seal)
/// has changed a file. The files such steps may write are read first (the small ones,
/// outside the folders of large artifacts) and kept in memory: a file one of them replaced
/// goes into the set with the bytes it had.
#[derive(Debug)]
pub struct Watch {
    out: PathBuf,
    before: Before,
    stats: std::collections::BTreeMap<String, crate::util::FileStat>,
    /// The bytes and mode of each small file.
    small: std::collections::BTreeMap<String, (Vec<u8>, u32)>,
}

/// The folders of large artifacts, which the steps that run every time never write.
const LARGE: [&str; 5] = ["iso/", "airgap/", "packages/", "files/", "nodes/"];
/// The largest file [`watch`] keeps in memory.
const SMALL: u64 = 4 << 20;

/// Starts watching the sealed output `out` (see [`Watch`]); `Ok(None)` for an output
/// without `SHA256SUMS`, which has nothing sealed to keep.
pub fn watch(out: &Path) -> Result<Option<Watch>, Failed> {
    if !out.join(super::seal::SUMS).is_file() {
        return Ok(None);
    }
    let before = walk(out).map_err(at(out))?;
    let mut stats = std::collections::BTreeMap::new();
    let mut small = std::collections::BTreeMap::new();
    for rel in &before.files {
        let path = out.join(rel);
        let Some(stat) = crate::util::FileStat::read(&path) else {
            continue;
        };
        if stat.size <= SMALL && !LARGE.iter().any(|l| rel.starts_with(l)) {
            use std::os::unix::fs::PermissionsExt as _;
            let bytes = crate::input::read_found(&path, crate::input::Kind::Sums)
                .map_err(|e| (path.clone(), e.into_io()))?;
            let mode = fs::metadata(&path).map_err(at(&path))?.permissions().mode();
            small.insert(rel.clone(), (bytes, mode & 0o7777));
        }
        stats.insert(rel.clone(), stat);
    }
    Ok(Some(Watch {
        out: out.to_path_buf(),
        before,
        stats,
        small,
    }))
}

impl Watch {
    /// True when a file of the output is no longer the one watched (replaced, removed).
    pub fn changed(&self) -> bool {
        (self.stats.iter()).any(|(rel, stat)| {
            crate::util::FileStat::read(&self.out.join(rel)).is_none_or(|now| now != *stat)
        })
    }

    /// Makes the undo set: the kept bytes of each small file (as [`watch`] read it, so one
    /// replaced or removed since goes in as it was), a link to each large one.
    pub fn prepare(&self) -> Result<UndoSet, Failed> {
        // A small file goes in as the bytes read: the file itself keeps its ctime, which
        // caches other than the build state's compare (the layout's `index.json`).
        make(
            &self.out,
            &self.before,
            &|rel, to| match self.small.get(rel) {
                Some((bytes, mode)) => {
                    crate::util::atomic_write_mode(to, bytes, *mode).map(|()| true)
                }
                None => Ok(false),
            },
        )
    }
}

impl Watch {
    /// Puts back what a step that runs every time changed before it failed, from what was
    /// watched alone, where the undo set could not be made (a full disk): each small file
    /// replaced or removed is written again with the bytes and mode it had, and each file
    /// the build added outside the layout's blobs is removed. Such steps write only small
    /// files. Returns the files put back.
    pub fn put_back(self) -> Result<Vec<PathBuf>, Failed> {
        let mut restored = Vec::new();
        for (rel, (bytes, mode)) in &self.small {
            let path = self.out.join(rel);
            let same = (self.stats.get(rel)).is_some_and(|was| {
                crate::util::FileStat::read(&path).is_some_and(|now| now == *was)
            });
            if same {
                continue;
            }
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent).map_err(at(parent))?;
            }
            crate::util::atomic_write_mode(&path, bytes, *mode).map_err(at(&path))?;
            restored.push(path);
        }
        remove_added(&self.out, &self.before, &mut BTreeSet::new())?;
        Ok(restored)
    }
}

impl UndoSet {
    /// The files the undo set holds, as paths under the output: their ctime changed.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    /// The build succeeded: the undo set is removed. Its list goes first, which makes
    /// it a set nothing rolls back ([`recover`] discards a set without its list): once
    /// that is done the build's output stands, and a failure to remove the rest (to sync
    /// a folder, say) is no longer the build's; the next build's sweep removes what is
    /// left. An error here means the list is still in place: the set can still be
    /// rolled back, and the build must be.
    pub fn commit(self) -> Result<(), Failed> {
        let dir = undo_dir(&self.out);
        let list = dir.join(BEFORE);
        fs::remove_file(&list).map_err(at(&list))?;
        let _ = crate::util::sync_dir(&dir);
        let _ = discard(&dir);
        Ok(())
    }

    /// The build failed: every file is put back (see [`recover`]). Returns the files put
    /// back.
    pub fn roll_back(self) -> Result<Vec<PathBuf>, Failed> {
        recover(&self.out)
    }
}

/// Removes the undo set's folder `dir`: first renamed to a temporary name (which
/// [`leftovers::sweep`] removes should this be cut short), so that a half-removed set is
/// never taken for one to roll back.
fn discard(dir: &Path) -> Result<(), Failed> {
    let aside = crate::util::temp_path_beside(dir);
    fs::rename(dir, &aside).map_err(at(dir))?;
    crate::util::sync_parent(dir).map_err(at(dir))?;
    // Once aside, it is a temporary folder like any other: what cannot be removed now
    // the next build's sweep removes.
    let _ = fs::remove_dir_all(&aside);
    Ok(())
}

/// Removes every file and folder `out` holds that it did not hold `before` (the layout's
/// blobs, the build state and temporary files aside: see [`walk`]), adding to `touched`
/// the folders that changed.
fn remove_added(
    out: &Path,
    before: &Before,
    touched: &mut BTreeSet<PathBuf>,
) -> Result<(), Failed> {
    let now = walk(out).map_err(at(out))?;
    for rel in now.files.difference(&before.files) {
        let path = out.join(rel);
        fs::remove_file(&path).map_err(at(&path))?;
        if let Some(parent) = path.parent() {
            touched.insert(parent.to_path_buf());
        }
    }
    // Deepest first, so a folder is empty of new files when its turn comes.
    let added: Vec<&String> = now.dirs.difference(&before.dirs).collect();
    for rel in added.into_iter().rev() {
        let path = out.join(rel);
        if path.is_dir() {
            fs::remove_dir_all(&path).map_err(at(&path))?;
        }
        if let Some(parent) = path.parent() {
            touched.insert(parent.to_path_buf());
        }
    }
    Ok(())
}

/// Rolls back the undo set a failed or killed build left in `out`, if there is one: every
/// file it holds is renamed back over its name, every file and folder the output holds
/// that it did not hold then is removed (the layout's blobs, the build state and
/// temporary files aside), then the set is removed. Cut short, it does the rest when run
/// again. Returns the files put back (none when there was no undo set).
pub fn recover(out: &Path) -> Result<Vec<PathBuf>, Failed> {
    let dir = undo_dir(out);
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let list = dir.join(BEFORE);
    if fs::symlink_metadata(&list).is_err() {
        // A set whose list is gone was committed (see [`UndoSet::commit`]), or is being
        // removed: there is nothing to put back.
        discard(&dir)?;
        return Ok(Vec::new());
    }
    let text = crate::input::read_found(&list, crate::input::Kind::Sums).map_err(|e| {
        let e = e.into_io();
        (list.clone(), e)
    })?;
    let before: Before = serde_json::from_slice(&text)
        .map_err(|e| (list.clone(), io::Error::new(io::ErrorKind::InvalidData, e)))?;
    let files_dir = dir.join(FILES);
    let mut restored = Vec::new();
    let mut synced: BTreeSet<PathBuf> = BTreeSet::new();
    for rel in &before.files {
        let (kept, path) = (files_dir.join(rel), out.join(rel));
        let Ok(kept_meta) = fs::symlink_metadata(&kept) else {
            // Already put back by a rollback cut short.
            continue;
        };
        let same = fs::symlink_metadata(&path).is_ok_and(|m| {
            use std::os::unix::fs::MetadataExt as _;
            m.ino() == kept_meta.ino() && m.dev() == kept_meta.dev()
        });
        if same {
            // Never replaced: `rename` between two links to one file does nothing.
            fs::remove_file(&kept).map_err(at(&kept))?;
        } else {
            if let Some(parent) = path.parent() {
                // A folder the build removed (a node taken out of the config).
                if fs::symlink_metadata(parent).is_ok_and(|m| !m.is_dir()) {
                    fs::remove_file(parent).map_err(at(parent))?;
                }
                fs::create_dir_all(parent).map_err(at(parent))?;
                synced.insert(parent.to_path_buf());
            }
            if fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir()) {
                fs::remove_dir_all(&path).map_err(at(&path))?;
            }
            fs::rename(&kept, &path).map_err(at(&path))?;
        }
        restored.push(path);
    }
    // What the failed build added.
    remove_added(out, &before, &mut synced)?;
    for d in &synced {
        if d.is_dir() {
            crate::util::sync_dir(d).map_err(at(d))?;
        }
    }
    discard(&dir)?;
    Ok(restored)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(root: &Path) -> Vec<(String, Vec<u8>)> {
        let mut all = Vec::new();
        let before = walk(root).unwrap();
        for f in &before.files {
            all.push((f.clone(), std::fs::read(root.join(f)).unwrap()));
        }
        for d in &before.dirs {
            all.push((format!("{d}/"), Vec::new()));
        }
        all.sort();
        all
    }

    fn sealed_output() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path();
        for (rel, text) in [
            ("SHA256SUMS", "sums"),
            ("manifest.json", "{}"),
            ("nodes/a/user-data", "a"),
            ("registries.yaml", "old"),
            ("oci/index.json", "{}"),
            ("oci/blobs/sha256/aa", "blob"),
            (".seedforge/state.json", "{}"),
        ] {
            fs::create_dir_all(out.join(rel).parent().unwrap()).unwrap();
            fs::write(out.join(rel), text).unwrap();
        }
        dir
    }

    #[test]
    fn a_rollback_puts_back_every_file_and_removes_what_the_build_added() {
        let dir = sealed_output();
        let out = dir.path();
        let was = tree(out);
        let set = prepare(out).unwrap().unwrap();
        // Small files are kept as bytes, large ones (a node's files) as links.
        assert_eq!(set.files(), [out.join("nodes/a/user-data")]);
        assert!(undo_dir(out).join("files/oci/index.json").is_file());
        assert!(!undo_dir(out).join("files/oci/blobs").exists());
        // The build replaces, adds and removes.
        crate::util::atomic_write(&out.join("registries.yaml"), b"new").unwrap();
        fs::create_dir_all(out.join("nodes/b")).unwrap();
        fs::write(out.join("nodes/b/user-data"), "b").unwrap();
        fs::remove_dir_all(out.join("nodes/a")).unwrap();
        fs::write(out.join("oci/blobs/sha256/bb"), "stray").unwrap();
        let restored = set.roll_back().unwrap();
        assert_eq!(restored.len(), 5);
        assert_eq!(tree(out), was);
        assert!(out.join("oci/blobs/sha256/bb").exists(), "blobs are left");
        assert!(!undo_dir(out).exists());
        // A commit leaves the output and removes the set.
        let set = prepare(out).unwrap().unwrap();
        set.commit().unwrap();
        assert_eq!(tree(out), was);
        assert_eq!(
            fs::read_dir(out.join(".seedforge")).unwrap().count(),
            1,
            "only the state is left"
        );
    }

    #[test]
    fn a_rollback_cut_short_finishes_when_run_again() {
        let dir = sealed_output();
        let out = dir.path();
        let was = tree(out);
        let set = prepare(out).unwrap().unwrap();
        crate::util::atomic_write(&out.join("registries.yaml"), b"new").unwrap();
        crate::util::atomic_write(&out.join("manifest.json"), b"new").unwrap();
        drop(set);
        // As if killed after one file was put back.
        fs::rename(
            undo_dir(out).join("files/manifest.json"),
            out.join("manifest.json"),
        )
        .unwrap();
        recover(out).unwrap();
        assert_eq!(tree(out), was);
        assert!(recover(out).unwrap().is_empty());
    }

    #[test]
    fn taking_the_outputs_lock_rolls_back_a_killed_builds_undo_set() {
        let dir = sealed_output();
        let out = dir.path();
        let was = tree(out);
        let set = prepare(out).unwrap().unwrap();
        crate::util::atomic_write(&out.join("registries.yaml"), b"new").unwrap();
        std::mem::forget(set);
        let lock = super::super::build_lock::BuildLock::acquire(out, false, &mut |_| {}).unwrap();
        assert!(lock.waited(), "the folder changed since it was planned");
        let mut now = tree(out);
        now.retain(|(p, _)| p != super::super::build_lock::LOCK_FILE_NAME);
        assert_eq!(now, was);
    }

    #[test]
    fn a_file_replaced_before_the_set_was_made_goes_into_it_with_the_bytes_it_had() {
        let dir = sealed_output();
        let out = dir.path();
        let was = tree(out);
        let watch = watch(out).unwrap().unwrap();
        assert!(!watch.changed());
        assert!(!undo_dir(out).exists(), "watching writes nothing");
        crate::util::atomic_write(&out.join("oci/index.json"), b"{\"new\":1}").unwrap();
        assert!(watch.changed());
        let set = watch.prepare().unwrap();
        assert_eq!(
            fs::read(undo_dir(out).join("files/oci/index.json")).unwrap(),
            b"{}"
        );
        set.roll_back().unwrap();
        assert_eq!(tree(out), was);
    }

    #[test]
    fn a_set_whose_list_is_gone_is_committed_and_never_rolled_back() {
        let dir = sealed_output();
        let out = dir.path();
        let set = prepare(out).unwrap().unwrap();
        crate::util::atomic_write(&out.join("registries.yaml"), b"new").unwrap();
        // As if the commit was cut short after it removed the list.
        fs::remove_file(undo_dir(out).join(BEFORE)).unwrap();
        std::mem::forget(set);
        assert!(recover(out).unwrap().is_empty());
        assert_eq!(fs::read(out.join("registries.yaml")).unwrap(), b"new");
        assert!(!undo_dir(out).exists());
    }

    #[test]
    fn what_was_watched_is_put_back_without_a_set() {
        let dir = sealed_output();
        let out = dir.path();
        let was = tree(out);
        let watch = watch(out).unwrap().unwrap();
        crate::util::atomic_write(&out.join("SHA256SUMS"), b"new sums").unwrap();
        fs::remove_file(out.join("manifest.json")).unwrap();
        fs::create_dir_all(out.join("sbom")).unwrap();
        fs::write(out.join("sbom/new.json"), "{}").unwrap();
        let restored = watch.put_back().unwrap();
        assert_eq!(restored.len(), 2);
        assert_eq!(tree(out), was);
        assert!(!undo_dir(out).exists());
    }

    #[test]
    fn an_output_never_sealed_has_no_undo_set() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("registries.yaml"), "x").unwrap();
        assert!(prepare(dir.path()).unwrap().is_none());
        assert!(recover(dir.path()).unwrap().is_empty());
    }
}
