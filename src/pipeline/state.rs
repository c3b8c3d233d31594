//! Incremental builds: what the last build did, kept in `OUT/.seedforge/state.json`.
//!
//! Two things are recorded there.
//!
//! - **A stat cache** (the idea of git's index): for every file seedforge hashed or wrote
//!   with a known digest (inputs such as `files:` sources, and outputs), its size, mtime,
//!   ctime, inode and device, with the sha256 it had then. A file whose stat is still the
//!   same is not read again: the seal, the seeds' `payload/SHA256SUMS`, the verify step
//!   and the `files:` checks take the digest from the cache. The stat is taken *before* a
//!   file is hashed, so a change during hashing shows as a different stat next time.
//! - **One record per step**: a fingerprint of everything the step's result depends on
//!   (the step itself and the content digests of what it reads) and the stat of each file
//!   it wrote. A step is skipped when its fingerprint is the recorded one and every file
//!   it wrote still has the recorded stat; its report then comes from the record.
//!
//! The state is written atomically after each step that completed, and only after the
//! step's own files are durable (every writer fsyncs and renames before it returns), so
//! a build killed at any point only causes work to be redone, never a step to be skipped
//! whose output is incomplete. A state that is missing, unreadable, damaged or written by
//! another seedforge version is ignored (everything runs), and `build --force` ignores it
//! on purpose.
//!
//! The limit of any stat cache: a file changed in a way that keeps its size, mtime,
//! ctime, inode and device (which needs the clock set back or the raw device written) is
//! not noticed. Restoring the mtime with `touch -d` after editing a file does not hide the
//! edit, since that sets the ctime. `seedforge verify OUT` re-hashes everything, and
//! `build --force` rebuilds everything.

use crate::oci::verify::{BlobFile, KnownDigests};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The folder inside the output that holds seedforge's own state (`clean` removes it).
pub const STATE_DIR: &str = ".seedforge";
/// The state file inside [`STATE_DIR`].
pub const STATE_FILE: &str = "state.json";
/// Format version of the state file.
const FORMAT: u32 = 1;

pub use crate::util::FileStat;

impl FileStat {
    /// Everything but the ctime is the same.
    fn same_but_ctime(&self, other: &FileStat) -> bool {
        FileStat {
            ctime_ns: other.ctime_ns,
            ..*self
        } == *other
    }
}

/// A digest known for a file while it has a given stat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Cached {
    stat: FileStat,
    sha256: String,
}

/// What a step left the last time it ran.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct StepRecord {
    fingerprint: String,
    #[serde(serialize_with = "crate::util::serialize_sorted")]
    outputs: HashMap<PathBuf, FileStat>,
    #[serde(default)]
    report: serde_json::Value,
}

/// `state.json`.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Doc {
    format: u32,
    seedforge: String,
    steps: BTreeMap<String, StepRecord>,
    /// Paths are kept in hash maps (thousands of blobs are looked up per build; a tree
    /// map compares paths component by component) and written sorted.
    #[serde(serialize_with = "crate::util::serialize_sorted")]
    files: HashMap<PathBuf, Cached>,
}

#[derive(Debug, Default)]
struct Inner {
    doc: Doc,
    /// Files whose cache entry this build used or made.
    used: HashSet<PathBuf>,
    /// Steps this build skipped or recorded.
    seen: BTreeSet<String>,
    /// The document differs from the file (or there is no file): a build that changes
    /// nothing neither serializes nor writes it.
    dirty: bool,
}

/// The state of one output folder, loaded while planning and saved while building.
#[derive(Debug)]
pub struct BuildState {
    path: PathBuf,
    inner: Mutex<Inner>,
}

/// The cache key of a path: absolute (symlinks are not resolved).
fn key(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// A fingerprint: the sha256 of a JSON document.
pub fn fingerprint(doc: &serde_json::Value) -> String {
    crate::oci::Digest::of(doc.to_string().as_bytes())
        .hex()
        .to_string()
}

impl BuildState {
    /// The state of `output`. With `fresh` (`build --force`), or when there is no usable
    /// state file, it starts empty.
    pub fn load(output: &Path, fresh: bool) -> BuildState {
        let path = output.join(STATE_DIR).join(STATE_FILE);
        let mut inner = Inner {
            dirty: true,
            ..Inner::default()
        };
        if !fresh {
            match crate::input::read_found(&path, crate::input::Kind::State)
                .map_err(|e| e.into_io())
            {
                Ok(bytes) => match serde_json::from_slice::<Doc>(&bytes) {
                    Ok(doc) if doc.format == FORMAT && doc.seedforge == version() => {
                        inner.doc = doc;
                        inner.dirty = false;
                    }
                    Ok(_) => tracing::debug!(
                        "{}: written by another seedforge; every step runs",
                        path.display()
                    ),
                    Err(e) => {
                        tracing::warn!("{}: not readable ({e}); every step runs", path.display())
                    }
                },
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => tracing::warn!("{}: {e}; every step runs", path.display()),
            }
        }
        BuildState {
            path,
            inner: Mutex::new(inner),
        }
    }

    /// The state file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The cached sha256 of `path` if its stat is `stat`.
    fn cached(&self, path: &Path, stat: &FileStat) -> Option<String> {
        let k = key(path);
        let mut inner = self.lock();
        let hit = inner
            .doc
            .files
            .get(&k)
            .filter(|c| c.stat == *stat)
            .map(|c| c.sha256.clone());
        if hit.is_some() {
            inner.used.insert(k);
        }
        hit
    }

    /// Records that `path`, while its stat is `stat`, has sha256 `sha256` (hex).
    fn remember(&self, path: &Path, stat: FileStat, sha256: &str) {
        let k = key(path);
        let mut inner = self.lock();
        let fresh = Cached {
            stat,
            sha256: sha256.to_string(),
        };
        if inner.doc.files.get(&k) != Some(&fresh) {
            inner.doc.files.insert(k.clone(), fresh);
            inner.dirty = true;
        }
        inner.used.insert(k);
    }

    /// The sha256 (hex) of the file at `path`: from the cache when its stat is unchanged,
    /// otherwise hashed (and cached).
    pub fn sha256(&self, path: &Path) -> io::Result<String> {
        let meta = fs::metadata(path)?;
        let stat = FileStat::of(&meta);
        if meta.is_file()
            && let Some(sha) = self.cached(path, &stat)
        {
            return Ok(sha);
        }
        let sha = crate::hashing::sha256_file(path)?;
        // A file that changed while it was read is not cached.
        if meta.is_file() && FileStat::read(path) == Some(stat) {
            self.remember(path, stat, &sha);
        }
        Ok(sha)
    }

    /// What `compute` derives from the file at `path` (`what` names it), remembered like
    /// a digest: while the file keeps its stat, a later build gets it without reading the
    /// file. A file that changed while it was read is not remembered.
    pub fn derived(
        &self,
        path: &Path,
        what: &str,
        compute: impl FnOnce() -> io::Result<String>,
    ) -> io::Result<String> {
        let meta = fs::metadata(path)?;
        let stat = FileStat::of(&meta);
        let mut slot = key(path).into_os_string();
        slot.push(format!("#{what}"));
        let slot = PathBuf::from(slot);
        if meta.is_file()
            && let Some(value) = self.cached(&slot, &stat)
        {
            return Ok(value);
        }
        let value = compute()?;
        if meta.is_file() && FileStat::read(path) == Some(stat) {
            self.remember(&slot, stat, &value);
        }
        Ok(value)
    }

    /// [`BuildState::sha256`] of every path, hashing the files not in the cache on a few
    /// threads; one result per path, in order. The second value counts the files hashed.
    pub fn sha256_many(&self, paths: &[PathBuf]) -> (Vec<io::Result<String>>, usize) {
        let mut results: Vec<Option<io::Result<String>>> = Vec::with_capacity(paths.len());
        let mut todo: Vec<(usize, Option<FileStat>)> = Vec::new();
        for (i, p) in paths.iter().enumerate() {
            match fs::metadata(p) {
                Err(e) => results.push(Some(Err(e))),
                Ok(meta) => {
                    let stat = meta.is_file().then(|| FileStat::of(&meta));
                    match stat.as_ref().and_then(|s| self.cached(p, s)) {
                        Some(sha) => results.push(Some(Ok(sha))),
                        None => {
                            results.push(None);
                            todo.push((i, stat));
                        }
                    }
                }
            }
        }
        let todo_paths: Vec<PathBuf> = todo.iter().map(|(i, _)| paths[*i].clone()).collect();
        let hashed = crate::hashing::sha256_files(&todo_paths);
        for ((i, stat), result) in todo.iter().zip(hashed) {
            if let (Ok(sha), Some(stat)) = (&result, stat)
                && FileStat::read(&paths[*i]).as_ref() == Some(stat)
            {
                self.remember(&paths[*i], *stat, sha);
            }
            results[*i] = Some(result);
        }
        let results = results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(io::Error::other("not hashed"))))
            .collect();
        (results, todo.len())
    }

    /// Records the sha256 of a file this build has just written (its digest computed while
    /// writing).
    pub fn learn(&self, path: &Path, sha256: &str) {
        let sha256 = sha256.strip_prefix("sha256:").unwrap_or(sha256);
        if let Some(stat) = FileStat::read(path) {
            self.remember(path, stat, sha256);
        }
    }

    /// True when `path` is known to hold content with sha256 `sha256` (its stat is the
    /// cached one), so writing that content again can be left out.
    pub fn holds(&self, path: &Path, sha256: &str) -> bool {
        FileStat::read(path)
            .and_then(|stat| self.cached(path, &stat))
            .is_some_and(|sha| sha == sha256)
    }

    /// The report recorded for step `key` when the step can be skipped: its fingerprint is
    /// `fingerprint` and every file it wrote still has the stat it had.
    pub fn skippable(&self, key_: &str, fingerprint: &str) -> Option<serde_json::Value> {
        let mut inner = self.lock();
        let record = inner.doc.steps.get(key_)?;
        if record.fingerprint != fingerprint {
            return None;
        }
        if !record
            .outputs
            .iter()
            .all(|(p, stat)| FileStat::read(p).as_ref() == Some(stat))
        {
            return None;
        }
        let report = record.report.clone();
        let outputs: Vec<PathBuf> = record.outputs.keys().cloned().collect();
        inner.used.extend(outputs);
        inner.seen.insert(key_.to_string());
        Some(report)
    }

    /// The report recorded for step `key` when its fingerprint is `fingerprint`, whatever
    /// became of the files it wrote since: a step that runs again with the same fingerprint
    /// gives the same result (`seedforge lock` takes a bundle's digest from here).
    pub fn recorded(&self, key_: &str, fingerprint: &str) -> Option<serde_json::Value> {
        let inner = self.lock();
        let record = inner.doc.steps.get(key_)?;
        (record.fingerprint == fingerprint).then(|| record.report.clone())
    }

    /// The files step `key` wrote when it last ran (empty when there is no record), in no
    /// particular order.
    pub fn outputs(&self, key_: &str) -> Vec<PathBuf> {
        self.lock()
            .doc
            .steps
            .get(key_)
            .map(|r| r.outputs.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Records that step `key` completed with `fingerprint`, having written `outputs`
    /// (each durable by now), and saves the state. A cache entry of an output that no
    /// longer matches the file is dropped (the step has just rewritten it). With `strict`
    /// (the outputs are files the step read and vouches for, not files it wrote), every
    /// output must instead still have the stat the cache knows from when it was read, or
    /// the step is not recorded and runs again next time.
    pub fn record(
        &self,
        key_: &str,
        fingerprint: &str,
        outputs: &[PathBuf],
        report: &impl Serialize,
        strict: bool,
    ) -> io::Result<()> {
        {
            let mut inner = self.lock();
            let mut stats = HashMap::new();
            let mut sound = true;
            for p in outputs {
                let k = key(p);
                let now = FileStat::read(p);
                let cached = inner.doc.files.get(&k).map(|c| c.stat);
                match (now, cached) {
                    (Some(now), Some(cached)) if now == cached => {
                        stats.insert(k.clone(), now);
                    }
                    (Some(now), _) if !strict => {
                        if inner.doc.files.remove(&k).is_some() {
                            inner.dirty = true;
                        }
                        stats.insert(k.clone(), now);
                    }
                    _ => sound = false,
                }
                inner.used.insert(k);
            }
            inner.seen.insert(key_.to_string());
            if sound {
                let record = StepRecord {
                    fingerprint: fingerprint.to_string(),
                    outputs: stats,
                    report: serde_json::to_value(report).unwrap_or_default(),
                };
                if inner.doc.steps.get(key_) != Some(&record) {
                    inner.doc.steps.insert(key_.to_string(), record);
                    inner.dirty = true;
                }
            } else if inner.doc.steps.remove(key_).is_some() {
                inner.dirty = true;
            }
        }
        self.save()
    }

    /// Takes in a change of ctime that this build made itself without changing content
    /// (hard links to `paths` made and removed while staging a seed ISO): cache entries and
    /// step records whose stat differs from the file's only by the ctime get the new one.
    pub fn absorb_ctime(&self, paths: &[PathBuf]) {
        let mut inner = self.lock();
        let mut changed = false;
        for p in paths {
            let Some(now) = FileStat::read(p) else {
                continue;
            };
            let k = key(p);
            if let Some(c) = inner.doc.files.get_mut(&k)
                && c.stat.same_but_ctime(&now)
                && c.stat != now
            {
                c.stat = now;
                changed = true;
            }
            for record in inner.doc.steps.values_mut() {
                if let Some(stat) = record.outputs.get_mut(&k)
                    && stat.same_but_ctime(&now)
                    && *stat != now
                {
                    *stat = now;
                    changed = true;
                }
            }
        }
        inner.dirty |= changed;
    }

    /// Writes the state if it changed.
    pub fn save(&self) -> io::Result<()> {
        let mut inner = self.lock();
        if !inner.dirty {
            return Ok(());
        }
        inner.doc.format = FORMAT;
        inner.doc.seedforge = version();
        let mut bytes = serde_json::to_vec_pretty(&inner.doc).map_err(io::Error::other)?;
        bytes.push(b'\n');
        if let Some(dir) = self.path.parent() {
            fs::create_dir_all(dir)?;
        }
        crate::util::atomic_write(&self.path, &bytes)?;
        inner.dirty = false;
        Ok(())
    }

    /// At the end of a successful build: forgets the files and steps this build did not
    /// meet (a node removed, a file no longer used), then saves.
    pub fn finish(&self) -> io::Result<()> {
        {
            let mut inner = self.lock();
            let Inner {
                doc,
                used,
                seen,
                dirty,
            } = &mut *inner;
            let before = (doc.files.len(), doc.steps.len());
            doc.files.retain(|p, _| used.contains(p));
            doc.steps.retain(|k, _| seen.contains(k));
            *dirty |= before != (doc.files.len(), doc.steps.len());
        }
        self.save()
    }
}

impl KnownDigests for BuildState {
    fn known(&self, blob: &BlobFile<'_>, stat: &FileStat) -> bool {
        self.cached(&blob.path(), stat).as_deref() == Some(blob.key().hex(&mut [0; 64]))
    }

    fn learned(&self, blob: &BlobFile<'_>, stat: &FileStat) {
        self.remember(&blob.path(), *stat, blob.key().hex(&mut [0; 64]));
    }
}

fn version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, bytes: &[u8]) {
        fs::write(path, bytes).unwrap();
    }

    #[test]
    fn an_unchanged_file_is_not_hashed_again_and_a_changed_one_is() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let f = dir.path().join("f");
        write(&f, b"one");
        let state = BuildState::load(&out, false);
        let sha = state.sha256(&f).unwrap();
        assert_eq!(sha, crate::hashing::sha256_file(&f).unwrap());
        // A wrong digest planted in the cache is what comes back while the stat holds:
        // proof that the file is not read.
        state.remember(&f, FileStat::read(&f).unwrap(), "planted");
        assert_eq!(state.sha256(&f).unwrap(), "planted");
        let (many, hashed) = state.sha256_many(std::slice::from_ref(&f));
        assert_eq!((many[0].as_ref().unwrap().as_str(), hashed), ("planted", 0));
        // Same size, then the mtime set back: the ctime still tells (a clock tick later).
        std::thread::sleep(std::time::Duration::from_millis(50));
        let before = fs::metadata(&f).unwrap().modified().unwrap();
        write(&f, b"two");
        fs::File::options()
            .write(true)
            .open(&f)
            .unwrap()
            .set_modified(before)
            .unwrap();
        assert_eq!(
            state.sha256(&f).unwrap(),
            crate::hashing::sha256_file(&f).unwrap()
        );
    }

    #[test]
    fn what_is_derived_from_a_file_is_remembered_while_it_keeps_its_stat() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let f = dir.path().join("k3s");
        write(&f, b"v1.33.1+k3s1");
        let state = BuildState::load(&out, false);
        let calls = std::cell::Cell::new(0);
        let derive = |value: &str| {
            calls.set(calls.get() + 1);
            Ok(value.to_string())
        };
        assert_eq!(
            state.derived(&f, "k3s releases", || derive("a")).unwrap(),
            "a"
        );
        assert_eq!(
            state.derived(&f, "k3s releases", || derive("b")).unwrap(),
            "a"
        );
        assert_eq!(calls.get(), 1, "not read again while the stat holds");
        // Its own slot: the file's digest is not it.
        assert_eq!(
            state.sha256(&f).unwrap(),
            crate::hashing::sha256_file(&f).unwrap()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
        write(&f, b"v1.33.5+k3s1 longer");
        assert_eq!(
            state.derived(&f, "k3s releases", || derive("c")).unwrap(),
            "c"
        );
        assert_eq!(calls.get(), 2);
    }

    #[test]
    fn steps_are_skipped_only_with_the_same_fingerprint_and_untouched_outputs() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        fs::create_dir_all(&out).unwrap();
        let a = out.join("a");
        write(&a, b"a");
        let state = BuildState::load(&out, false);
        state.learn(&a, "aa");
        state
            .record("s", "fp", std::slice::from_ref(&a), &"report", false)
            .unwrap();
        state.finish().unwrap();
        let again = BuildState::load(&out, false);
        assert_eq!(
            again.skippable("s", "fp"),
            Some(serde_json::json!("report"))
        );
        assert_eq!(again.skippable("s", "other"), None);
        assert_eq!(again.outputs("s").len(), 1);
        // --force ignores it.
        assert_eq!(BuildState::load(&out, true).skippable("s", "fp"), None);
        // Rewritten with the same bytes: a new inode and ctime, so not skipped.
        let tmp = out.join("a.new");
        write(&tmp, b"a");
        fs::rename(&tmp, &a).unwrap();
        assert_eq!(again.skippable("s", "fp"), None);
        // Gone: not skipped.
        fs::remove_file(&a).unwrap();
        assert_eq!(again.skippable("s", "fp"), None);
    }

    #[test]
    fn a_damaged_state_is_ignored_and_an_unchanged_one_is_not_rewritten() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().to_path_buf();
        fs::create_dir_all(out.join(STATE_DIR)).unwrap();
        let path = out.join(STATE_DIR).join(STATE_FILE);
        write(&path, b"{not json");
        let state = BuildState::load(&out, false);
        assert_eq!(state.skippable("s", "fp"), None);
        state.finish().unwrap();
        let stat = FileStat::read(&path).unwrap();
        BuildState::load(&out, false).finish().unwrap();
        assert_eq!(FileStat::read(&path), Some(stat), "rewritten unchanged");
    }

    #[test]
    fn a_build_that_changes_nothing_writes_nothing_and_the_file_lists_paths_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        fs::create_dir_all(&out).unwrap();
        let names = ["b", "a-b", "a", "a/x"];
        fs::create_dir_all(out.join("a.d")).unwrap();
        let files: Vec<PathBuf> = names
            .iter()
            .map(|n| out.join(n.replace("a/", "a.d/")))
            .collect();
        let first = BuildState::load(&out, false);
        for f in &files {
            write(f, f.to_string_lossy().as_bytes());
            first.sha256(f).unwrap();
        }
        first.record("s", "fp", &files, &"report", true).unwrap();
        first.finish().unwrap();
        let path = out.join(STATE_DIR).join(STATE_FILE);
        let bytes = fs::read(&path).unwrap();
        let stat = FileStat::read(&path).unwrap();
        // The same build again: every digest from the cache, the same record.
        let again = BuildState::load(&out, false);
        assert!(again.skippable("s", "fp").is_some());
        for f in &files {
            again.sha256(f).unwrap();
        }
        again.record("s", "fp", &files, &"report", true).unwrap();
        again.finish().unwrap();
        assert_eq!(
            FileStat::read(&path),
            Some(stat),
            "an unchanged state rewritten"
        );
        // A changed record is written, and the paths stand in the order of their bytes.
        let third = BuildState::load(&out, false);
        third.record("s", "fp2", &files, &"report", true).unwrap();
        third.finish().unwrap();
        let text = fs::read_to_string(&path).unwrap();
        assert_ne!(text.as_bytes(), bytes.as_slice());
        let at = |n: &str| text.find(&format!("{}\"", out.join(n).display())).unwrap();
        assert!(at("a") < at("a-b") && at("a-b") < at("a.d/x") && at("a.d/x") < at("b"));
    }

    #[test]
    fn a_ctime_change_made_by_the_build_itself_is_absorbed() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        fs::create_dir_all(&out).unwrap();
        let a = out.join("a");
        write(&a, b"a");
        let state = BuildState::load(&out, false);
        state.learn(&a, "aa");
        state
            .record("s", "fp", std::slice::from_ref(&a), &(), false)
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(50));
        fs::hard_link(&a, out.join("link")).unwrap();
        fs::remove_file(out.join("link")).unwrap();
        assert_eq!(state.skippable("s", "fp"), None);
        state.absorb_ctime(std::slice::from_ref(&a));
        assert!(state.skippable("s", "fp").is_some());
        assert!(state.holds(&a, "aa"));
    }
}
