//! The OCI image layout on disk: `oci-layout`, `index.json` and `blobs/sha256/<hex>`.
//!
//! Blobs are streamed into a private temporary directory, hashed and counted on the way,
//! fsynced, and only then renamed to their content address: a blob under its final name is
//! always complete and correct. Identical content lands on the same name, so it is stored
//! once. The renames are made durable together, by one fsync of the blob folder before
//! `index.json` is changed to name them ([`Layout::add_to_index`]), not one per blob: a crash
//! before it can lose a blob that nothing names yet, never one that `index.json` names.
//! `index.json` is changed only under an exclusive `flock` on the layout directory and
//! replaced atomically, so concurrent writers (threads or processes) never lose an entry.
//!
//! Temporary files live in `.seedforge/tmp/<session>/`, one session directory per process,
//! each held open under a lock. A session whose lock can be taken belongs to a process that
//! is gone (killed mid-copy), and is removed the next time the layout is opened for writing.

use super::digest::{BlobKey, Digest};
use super::index::IndexDoc;
use super::{OciError, Result};
use crate::hashing::HashingWriter;
use crate::util::{CopyError, atomic_write, sync_dir};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// The content of `oci-layout`.
pub const OCI_LAYOUT_CONTENT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;
/// The directory (inside the layout) that holds seedforge's temporary files.
pub const PRIVATE_DIR: &str = ".seedforge";

/// Manifests, indexes and configs are read whole; anything this large is not one.
pub const MAX_DOCUMENT_SIZE: u64 = 16 * 1024 * 1024;

/// The folder (inside the private one) of the registry indexes kept by
/// [`Layout::keep_source_index`].
const SOURCE_INDEXES: &str = "source-indexes";

/// Name prefix of a session directory that is still being set up.
const NEW_SESSION_PREFIX: &str = ".new-";

/// A blob's write-back is started behind the download every this many bytes.
const WRITE_AHEAD_BYTES: u64 = 4 << 20;

/// A layout's `blobs/sha256` held open ([`Layout::blob_dir`]): a blob is opened by its
/// name inside it, one name looked up by the kernel instead of every folder of the
/// layout's path again, and no path made unless an error must name it. A folder that
/// cannot be opened is not held; its blobs are then opened by their whole paths and fail
/// as they would.
#[derive(Debug)]
pub struct BlobDir {
    fd: Option<std::os::fd::OwnedFd>,
    path: PathBuf,
}

impl BlobDir {
    /// The folder `path` (a layout's `blobs/sha256`), held open if it can be opened.
    pub fn open_folder(path: PathBuf) -> BlobDir {
        let flags = rustix::fs::OFlags::RDONLY
            | rustix::fs::OFlags::DIRECTORY
            | rustix::fs::OFlags::CLOEXEC;
        let fd = rustix::fs::open(&path, flags, rustix::fs::Mode::empty()).ok();
        BlobDir { fd, path }
    }

    /// The folder's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The path of the blob `key`.
    pub fn path_of(&self, key: &BlobKey) -> PathBuf {
        self.path.join(key.hex(&mut [0; 64]))
    }

    /// Opens the blob `key` if it is a regular file, with the open file's metadata.
    pub fn open(
        &self,
        key: &BlobKey,
    ) -> std::result::Result<(File, fs::Metadata), crate::input::InputError> {
        let path = || self.path_of(key);
        match &self.fd {
            Some(fd) => {
                use std::os::fd::AsFd as _;
                crate::input::open_regular_at(fd.as_fd(), key.hex(&mut [0; 64]), &path)
            }
            None => crate::input::open_regular_with_metadata(&path()),
        }
    }

    /// True if the blob `key` is a regular file of `size` bytes (as [`Layout::has_blob`]),
    /// looked up by its name inside the held folder.
    pub fn has(&self, key: &BlobKey, size: u64) -> bool {
        match &self.fd {
            Some(fd) => {
                let flags = rustix::fs::AtFlags::empty();
                rustix::fs::statat(fd, key.hex(&mut [0; 64]), flags).is_ok_and(|st| {
                    rustix::fs::FileType::from_raw_mode(st.st_mode)
                        == rustix::fs::FileType::RegularFile
                        && u64::try_from(st.st_size) == Ok(size)
                })
            }
            None => fs::metadata(self.path_of(key)).is_ok_and(|m| m.is_file() && m.len() == size),
        }
    }

    /// Reads the small blob `key` (manifest, index) whole, with the open file's metadata.
    pub fn read_document(&self, key: &BlobKey) -> Result<(Vec<u8>, fs::Metadata)> {
        let (file, meta) = self.open(key)?;
        let path = || self.path_of(key);
        Ok(crate::input::read_opened(
            file,
            meta,
            MAX_DOCUMENT_SIZE,
            "JSON document",
            &path,
        )?)
    }
}

/// A layout's blobs as one run that only adds blobs sees them (a mirror): each looked up
/// by name in the held blob folder, and one found there is not looked up again, so the
/// base layer a thousand images share costs one system call, not a thousand.
#[derive(Debug)]
pub struct Presence {
    dir: BlobDir,
    found: std::sync::Mutex<std::collections::HashSet<(BlobKey, u64)>>,
}

impl Presence {
    /// True if the blob is in the store with `size` bytes (as [`Layout::has_blob`]).
    pub fn has(&self, digest: &Digest, size: u64) -> bool {
        let key = (digest.key(), size);
        let found = || {
            self.found
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        };
        if found().contains(&key) {
            return true;
        }
        let has = self.dir.has(&key.0, size);
        if has {
            found().insert(key);
        }
        has
    }
}

/// An OCI image layout directory.
#[derive(Debug)]
pub struct Layout {
    root: PathBuf,
    session: OnceLock<Session>,
    counter: AtomicU64,
}

/// This process's temporary directory inside the layout, locked while it lives.
#[derive(Debug)]
struct Session {
    dir: PathBuf,
    lock: Option<File>,
}

impl Drop for Session {
    fn drop(&mut self) {
        // The lock is closed before its folder is removed: a FUSE file system (ntfs-3g,
        // exfat-fuse, disorderfs) keeps a removed file that is still open under a hidden
        // name in the folder, so removing the folder first would fail and leave it behind
        // as a dead writer's. Closed under its nursery name, which other processes leave
        // alone while this process lives, the folder is never taken for a dead writer's.
        let nursery = self.dir.with_file_name(format!(
            "{NEW_SESSION_PREFIX}{}",
            self.dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        ));
        let dir = if fs::rename(&self.dir, &nursery).is_ok() {
            nursery
        } else {
            self.dir.clone()
        };
        drop(self.lock.take());
        let _ = fs::remove_dir_all(&dir);
    }
}

/// An exclusive lock on the layout's `index.json`, held until dropped.
#[derive(Debug)]
pub struct IndexLock {
    _dir: File,
}

impl Layout {
    /// Opens the layout at `root` for writing, creating it (and its parents) if it does
    /// not exist. Leftovers of killed writers are removed, and this handle's write session
    /// starts (see [`Layout::has_live_writers`]).
    pub fn create(root: &Path) -> Result<Layout> {
        let blobs = root.join("blobs").join("sha256");
        fs::create_dir_all(&blobs).map_err(|e| OciError::io(&blobs, e))?;
        let marker = root.join("oci-layout");
        match crate::input::read(&marker, crate::input::Kind::OciDocument).map_err(|e| e.into_io())
        {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                atomic_write(&marker, OCI_LAYOUT_CONTENT).map_err(|e| OciError::io(&marker, e))?;
            }
            Err(e) => return Err(OciError::io(&marker, e)),
        }
        let layout = Layout::open(root)?;
        let index = root.join("index.json");
        if !index.exists() {
            let _lock = layout.lock_index()?;
            if !index.exists() {
                layout.write_index(&IndexDoc::default())?;
            }
        }
        layout.remove_stale_sessions()?;
        // Start the write session now, not at the first blob: from here on, gc in another
        // process sees a live writer and leaves the blobs this one may be about to reference.
        layout.session()?;
        Ok(layout)
    }

    /// Opens an existing layout, checking its `oci-layout` marker.
    pub fn open(root: &Path) -> Result<Layout> {
        let marker = root.join("oci-layout");
        let content =
            crate::input::read(&marker, crate::input::Kind::OciDocument).map_err(|e| {
                OciError::NotALayout {
                    path: root.to_path_buf(),
                    reason: format!("cannot read oci-layout: {}", e.reason()),
                }
            })?;
        let parsed: serde_json::Value =
            serde_json::from_slice(&content).map_err(|e| OciError::NotALayout {
                path: root.to_path_buf(),
                reason: format!("oci-layout is not JSON: {e}"),
            })?;
        if parsed["imageLayoutVersion"] != "1.0.0" {
            return Err(OciError::NotALayout {
                path: root.to_path_buf(),
                reason: format!(
                    "unsupported imageLayoutVersion {}",
                    parsed["imageLayoutVersion"]
                ),
            });
        }
        Ok(Layout {
            root: root.to_path_buf(),
            session: OnceLock::new(),
            counter: AtomicU64::new(0),
        })
    }

    /// The layout directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the blob with `digest` lives (whether or not it exists).
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.blobs_path().join(digest.hex())
    }

    /// The folder of the blobs, `blobs/sha256`.
    pub fn blobs_path(&self) -> PathBuf {
        self.root.join("blobs").join("sha256")
    }

    /// The store's blobs for a run that only adds to it (see [`Presence`]).
    pub fn presence(&self) -> Presence {
        Presence {
            dir: self.blob_dir(),
            found: Default::default(),
        }
    }

    /// The folder of the blobs held open, for reading many blobs by name.
    pub fn blob_dir(&self) -> BlobDir {
        BlobDir::open_folder(self.blobs_path())
    }

    /// True if the blob is present with the expected size. Content is trusted here because
    /// only verified content is ever renamed into place; `verify` re-hashes.
    pub fn has_blob(&self, digest: &Digest, size: u64) -> bool {
        fs::metadata(self.blob_path(digest)).is_ok_and(|m| m.is_file() && m.len() == size)
    }

    /// Streams `reader` into the store. With `expected`, the content must hash to that
    /// digest and have that size, or nothing is stored and a [`OciError::DigestMismatch`]
    /// naming `context` is returned. Without it, the content is stored under whatever it
    /// hashes to. `progress` is called with byte counts as they are written.
    pub fn write_blob(
        &self,
        reader: &mut dyn Read,
        expected: Option<(&Digest, u64)>,
        context: &str,
        progress: &mut dyn FnMut(u64),
    ) -> Result<(Digest, u64)> {
        let tmp = self.temp_file_path()?;
        let result = self.stream_to(&tmp, reader, expected, progress);
        let (digest, size) = match result {
            Ok(v) => v,
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                return Err(stream_error(e, &tmp, context));
            }
        };
        if let Some((want, want_size)) = expected
            && (want != &digest || want_size != size)
        {
            let _ = fs::remove_file(&tmp);
            return Err(OciError::DigestMismatch {
                context: context.to_string(),
                expected: want.clone(),
                expected_size: want_size,
                actual_digest: digest,
                actual_size: size,
            });
        }
        let dest = self.blob_path(&digest);
        // The folder is fsynced once, before index.json names the blob (add_to_index).
        fs::rename(&tmp, &dest).map_err(|e| OciError::io(&dest, e))?;
        Ok((digest, size))
    }

    /// Stores a small in-memory blob (a manifest or config), checking `expected` if given.
    /// Callers check [`Layout::has_blob`] first; an existing blob is simply replaced by
    /// identical content.
    pub fn write_blob_bytes(
        &self,
        bytes: &[u8],
        expected: Option<(&Digest, u64)>,
        context: &str,
    ) -> Result<Digest> {
        // write_blob hashes while it writes and checks `expected`: one pass, no pre-hash.
        self.write_blob(&mut &bytes[..], expected, context, &mut |_| {})
            .map(|(digest, _)| digest)
    }

    /// Keeps `bytes`, an index as a registry sent it that the layout stores with some
    /// platforms dropped (so not under its own digest), in `.seedforge/source-indexes/`:
    /// a later mirror resolving the tag to the same digest then need not fetch it again.
    /// It is not a blob: no image references it, and `verify`, `airgap` and `gc` never see
    /// it; [`stored_document`] re-hashes it before it is used.
    pub fn keep_source_index(&self, digest: &Digest, bytes: &[u8]) -> Result<()> {
        if Digest::of(bytes) != *digest {
            return Ok(());
        }
        let dir = self.root.join(PRIVATE_DIR).join(SOURCE_INDEXES);
        let path = dir.join(digest.hex());
        // Kept by an earlier mirror: a warm or no-op run writes (and fsyncs) nothing.
        if read_limited(&path, MAX_DOCUMENT_SIZE).is_ok_and(|kept| kept == bytes) {
            return Ok(());
        }
        fs::create_dir_all(&dir).map_err(|e| OciError::io(&dir, e))?;
        // A cache, re-hashed before each use: a copy torn by a crash is only a miss, so it
        // is not synced (a mirror of many signed images keeps one per image).
        crate::util::replace_unsynced(&path, bytes).map_err(|e| OciError::io(&path, e))
    }

    /// Opens a stored blob for reading.
    pub fn open_blob(&self, digest: &Digest) -> Result<File> {
        let path = self.blob_path(digest);
        Ok(crate::input::open_regular(&path)?)
    }

    /// Reads a small stored blob (manifest, index, config) whole.
    pub fn read_blob(&self, digest: &Digest) -> Result<Vec<u8>> {
        let path = self.blob_path(digest);
        read_limited(&path, MAX_DOCUMENT_SIZE)
    }

    /// Reads and parses `index.json`.
    pub fn read_index(&self) -> Result<IndexDoc> {
        let path = self.root.join("index.json");
        let bytes = read_limited(&path, MAX_DOCUMENT_SIZE)?;
        IndexDoc::parse(&bytes).map_err(|source| OciError::Json {
            context: path.display().to_string(),
            source,
        })
    }

    /// Takes the exclusive lock that guards `index.json` read-modify-write cycles.
    pub fn lock_index(&self) -> Result<IndexLock> {
        let dir = crate::input::open_dir(&self.root).map_err(|e| OciError::io(&self.root, e))?;
        dir.lock().map_err(|e| OciError::io(&self.root, e))?;
        Ok(IndexLock { _dir: dir })
    }

    /// Adds (or replaces, by name) entries in `index.json` under the lock. The blobs they
    /// reference must already be stored; the blob folder is fsynced first, so that the
    /// renames that stored them are on disk before `index.json` names them (even when it
    /// already did: a blob stored again after a crash lost it).
    /// An `index.json` that already says exactly this is left as it is (not rewritten), so
    /// a mirror with nothing new changes no file.
    pub fn add_to_index(&self, entries: Vec<super::Descriptor>) -> Result<()> {
        let blobs = self.blobs_path();
        match sync_dir(&blobs) {
            // No blob folder: no blob was stored in it.
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(OciError::io(&blobs, e)),
            _ => {}
        }
        let _lock = self.lock_index()?;
        let path = self.root.join("index.json");
        let old = read_limited(&path, MAX_DOCUMENT_SIZE)?;
        let mut index = IndexDoc::parse(&old).map_err(|source| OciError::Json {
            context: path.display().to_string(),
            source,
        })?;
        index.merge(entries);
        if index.to_bytes() == old {
            return Ok(());
        }
        self.write_index(&index)
    }

    /// Removes from `index.json` (under the lock) every named entry whose name `keep`
    /// refuses; unnamed entries stay. Returns the names removed, in index order; an
    /// `index.json` that loses nothing is not rewritten.
    pub fn retain_named(&self, keep: &dyn Fn(&str) -> bool) -> Result<Vec<String>> {
        self.retain(&|e| e.ref_name().is_none_or(keep))
    }

    /// Removes from `index.json` (under the lock) every entry `keep` refuses. Returns the
    /// names of those removed (their digests when unnamed), in index order; an
    /// `index.json` that loses nothing is not rewritten.
    pub fn retain(&self, keep: &dyn Fn(&super::Descriptor) -> bool) -> Result<Vec<String>> {
        let _lock = self.lock_index()?;
        let mut index = self.read_index()?;
        let mut removed = Vec::new();
        index.manifests.retain(|e| {
            if keep(e) {
                return true;
            }
            removed.push(
                e.ref_name()
                    .map_or_else(|| e.digest.to_string(), str::to_string),
            );
            false
        });
        if !removed.is_empty() {
            self.write_index(&index)?;
        }
        Ok(removed)
    }

    /// Replaces `index.json`. Callers hold [`Layout::lock_index`].
    pub fn write_index(&self, index: &IndexDoc) -> Result<()> {
        let path = self.root.join("index.json");
        atomic_write(&path, &index.to_bytes()).map_err(|e| OciError::io(path, e))
    }

    /// Lists everything in `blobs/sha256/`: the digest each file name stands for, or
    /// `None` for a file whose name is not a sha256 digest.
    pub fn list_blobs(&self) -> Result<Vec<(Option<Digest>, PathBuf)>> {
        let dir = self.root.join("blobs").join("sha256");
        let mut out = Vec::new();
        for entry in fs::read_dir(&dir).map_err(|e| OciError::io(&dir, e))? {
            let entry = entry.map_err(|e| OciError::io(&dir, e))?;
            let name = entry.file_name();
            let path = entry.path();
            let digest = name.to_str().and_then(|n| Digest::from_hex(n).ok());
            out.push((digest, path));
        }
        out.sort();
        Ok(out)
    }

    /// The files in `blobs/sha256/` whose names `keep` does not keep, sorted: one pass over
    /// the directory, a path made only for what is left over.
    pub fn blobs_not_in(&self, keep: &dyn Fn(&str) -> bool) -> Result<Vec<PathBuf>> {
        let dir = self.root.join("blobs").join("sha256");
        let mut out = Vec::new();
        for entry in fs::read_dir(&dir).map_err(|e| OciError::io(&dir, e))? {
            let entry = entry.map_err(|e| OciError::io(&dir, e))?;
            let name = entry.file_name();
            if name.to_str().is_some_and(keep) {
                continue;
            }
            out.push(entry.path());
        }
        out.sort();
        Ok(out)
    }

    /// Temporary directories left by writers that are gone.
    pub fn stale_sessions(&self) -> Result<Vec<PathBuf>> {
        let tmp_root = self.root.join(PRIVATE_DIR).join("tmp");
        let entries = match fs::read_dir(&tmp_root) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(OciError::io(&tmp_root, e)),
        };
        let mut stale = Vec::new();
        for entry in entries {
            let dir = entry.map_err(|e| OciError::io(&tmp_root, e))?.path();
            if self.session.get().is_some_and(|s| s.dir == dir) {
                continue;
            }
            let lock = dir.join("lock");
            let name = dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let free = match name.strip_prefix(NEW_SESSION_PREFIX) {
                // A session still being set up takes its lock only after creating the
                // lock file: for that moment a free lock proves nothing. Such a folder is
                // a dead writer's only when the process its name carries is gone.
                Some(born) => born
                    .split('-')
                    .next()
                    .and_then(|pid| pid.parse::<u32>().ok())
                    .is_none_or(|pid| !crate::leftovers::alive(pid)),
                None => match crate::input::open_found(&lock) {
                    Ok((f, _)) => f.try_lock().is_ok(),
                    Err(_) => true,
                },
            };
            if free {
                stale.push(dir);
            }
        }
        stale.sort();
        Ok(stale)
    }

    /// True if another process (or another `Layout` in this one) holds a write session.
    pub fn has_live_writers(&self) -> Result<bool> {
        let tmp_root = self.root.join(PRIVATE_DIR).join("tmp");
        let entries = match fs::read_dir(&tmp_root) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(OciError::io(&tmp_root, e)),
        };
        let total = entries.count();
        let own = usize::from(self.session.get().is_some());
        Ok(total > own + self.stale_sessions()?.len())
    }

    /// Removes temporary directories of writers that are gone.
    pub fn remove_stale_sessions(&self) -> Result<usize> {
        let stale = self.stale_sessions()?;
        for dir in &stale {
            fs::remove_dir_all(dir).map_err(|e| OciError::io(dir, e))?;
        }
        Ok(stale.len())
    }

    fn session(&self) -> Result<&Session> {
        if let Some(s) = self.session.get() {
            return Ok(s);
        }
        let tmp_root = self.root.join(PRIVATE_DIR).join("tmp");
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let name = format!("{}-{nanos}", std::process::id());
        // The session is assembled under a name that other processes' cleanup leaves alone
        // until it holds its lock, then renamed into view: a session directory without a
        // held lock is therefore always a dead writer's, never one being born.
        let nursery = tmp_root.join(format!("{NEW_SESSION_PREFIX}{name}"));
        fs::create_dir_all(&nursery).map_err(|e| OciError::io(&nursery, e))?;
        let lock_path = nursery.join("lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| OciError::io(&lock_path, e))?;
        lock.lock().map_err(|e| OciError::io(&lock_path, e))?;
        let dir = tmp_root.join(name);
        fs::rename(&nursery, &dir).map_err(|e| OciError::io(&dir, e))?;
        // Another thread may have won the race; its session is as good as ours.
        let _ = self.session.set(Session {
            dir,
            lock: Some(lock),
        });
        self.session
            .get()
            .ok_or_else(|| OciError::io(&tmp_root, io::Error::other("temporary session vanished")))
    }

    fn temp_file_path(&self) -> Result<PathBuf> {
        let session = self.session()?;
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        Ok(session.dir.join(format!("{n}.partial")))
    }

    fn stream_to(
        &self,
        tmp: &Path,
        reader: &mut dyn Read,
        expected: Option<(&Digest, u64)>,
        progress: &mut dyn FnMut(u64),
    ) -> Result<(Digest, u64), CopyError> {
        let file = File::create(tmp).map_err(CopyError::Write)?;
        let behind = file.try_clone().ok();
        let mut writer = HashingWriter::new(BufWriter::with_capacity(1 << 20, file));
        // Read one byte past the announced size so an over-long blob is caught without
        // reading all of it.
        let limit = expected.map_or(u64::MAX, |(_, size)| size.saturating_add(1));
        let mut limited = reader.take(limit);
        // A large blob goes to disk while it downloads, not all at the closing fsync: its
        // write-back is started behind the download, without waiting for it.
        let mut last = 0;
        let mut ahead = behind
            .as_ref()
            .map(|f| crate::util::WriteBehind::new(f, WRITE_AHEAD_BYTES));
        crate::util::copy_split_with(&mut limited, &mut writer, &mut |total| {
            if let Some(ahead) = &mut ahead {
                ahead.progress(total);
            }
            progress(total - last);
            last = total;
        })?;
        let (buffered, hex, size) = writer.finish();
        let digest = Digest::from_hasher(hex);
        let file = buffered
            .into_inner()
            .map_err(|e| CopyError::Write(e.into_error()))?;
        file.sync_all().map_err(CopyError::Write)?;
        Ok((digest, size))
    }
}

/// A copy's error as the layout reports it: the source by what was read, the
/// destination by its path.
fn stream_error(e: CopyError, tmp: &Path, context: &str) -> OciError {
    match e {
        CopyError::Read(source) => OciError::Read {
            context: context.to_string(),
            source,
        },
        CopyError::Write(e) => OciError::io(tmp, e),
    }
}

/// Whether the layout at `root` has a file where [`stored_document`] would find `digest`
/// (a blob, or a kept source index), without reading it: for a guess that only chooses
/// how to ask a registry, never for what is copied.
pub fn holds_document(root: &Path, digest: &Digest) -> bool {
    let blob = root.join("blobs").join("sha256").join(digest.hex());
    let kept = root
        .join(PRIVATE_DIR)
        .join(SOURCE_INDEXES)
        .join(digest.hex());
    [blob, kept]
        .iter()
        .any(|p| fs::symlink_metadata(p).is_ok_and(|m| m.is_file()))
}

/// The manifest, index or config with `digest` from the layout at `root`, when it is there
/// as a regular file (of `size` bytes, if given) whose content hashes to `digest`. Such a
/// document need not be fetched again; being small, it is re-hashed rather than trusted
/// by its size alone. Anything else (absent, damaged, too large) is `None`.
/// A registry's index that the layout stores with platforms dropped is kept as well, by
/// [`Layout::keep_source_index`], and found here too.
pub fn stored_document(root: &Path, digest: &Digest, size: Option<u64>) -> Option<Vec<u8>> {
    let blob = root.join("blobs").join("sha256").join(digest.hex());
    let kept = root
        .join(PRIVATE_DIR)
        .join(SOURCE_INDEXES)
        .join(digest.hex());
    [blob, kept].into_iter().find_map(|path| {
        let meta = fs::symlink_metadata(&path).ok()?;
        if !meta.is_file()
            || meta.len() > MAX_DOCUMENT_SIZE
            || size.is_some_and(|s| s != meta.len())
        {
            return None;
        }
        let bytes = read_limited(&path, MAX_DOCUMENT_SIZE).ok()?;
        (Digest::of(&bytes) == *digest && size.is_none_or(|s| s == bytes.len() as u64))
            .then_some(bytes)
    })
}

/// Reads a file whole, refusing files larger than `limit` bytes.
pub fn read_limited(path: &Path, limit: u64) -> Result<Vec<u8>> {
    Ok(crate::input::read_capped(path, limit, "JSON document")?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_document_is_taken_only_when_it_hashes_right() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::create(dir.path()).unwrap();
        let doc = br#"{"schemaVersion":2}"#;
        let digest = layout.write_blob_bytes(doc, None, "t").unwrap();
        let size = doc.len() as u64;
        assert_eq!(
            stored_document(dir.path(), &digest, Some(size)).as_deref(),
            Some(&doc[..])
        );
        assert!(stored_document(dir.path(), &digest, None).is_some());
        assert!(stored_document(dir.path(), &digest, Some(size + 1)).is_none());
        // Same size, other content under the name: not the document, so not taken.
        let path = layout.blob_path(&digest);
        fs::write(&path, br#"{"schemaVersion":3}"#).unwrap();
        assert!(stored_document(dir.path(), &digest, Some(size)).is_none());
        // A link in its place is not taken either.
        fs::remove_file(&path).unwrap();
        let elsewhere = dir.path().join("elsewhere");
        fs::write(&elsewhere, doc).unwrap();
        std::os::unix::fs::symlink(&elsewhere, &path).unwrap();
        assert!(stored_document(dir.path(), &digest, Some(size)).is_none());
        assert!(stored_document(dir.path(), &Digest::of(b"absent"), None).is_none());
        // A kept source index is found beside the blobs; bytes that are not it are not kept.
        let index = br#"{"schemaVersion":2,"manifests":[]}"#;
        let index_digest = Digest::of(index);
        layout.keep_source_index(&digest, index).unwrap();
        assert!(stored_document(dir.path(), &index_digest, None).is_none());
        layout.keep_source_index(&index_digest, index).unwrap();
        assert_eq!(
            stored_document(dir.path(), &index_digest, Some(index.len() as u64)).as_deref(),
            Some(&index[..])
        );
        assert!(!layout.has_blob(&index_digest, index.len() as u64));
        // Kept again (a warm mirror): the file is left as it is, not rewritten.
        let kept = dir
            .path()
            .join(PRIVATE_DIR)
            .join(SOURCE_INDEXES)
            .join(index_digest.hex());
        let before = crate::util::FileStat::read(&kept).unwrap();
        layout.keep_source_index(&index_digest, index).unwrap();
        assert_eq!(crate::util::FileStat::read(&kept), Some(before));
        // Damaged in place: written again.
        fs::write(&kept, b"{}").unwrap();
        layout.keep_source_index(&index_digest, index).unwrap();
        assert_eq!(fs::read(&kept).unwrap(), index);
    }

    #[test]
    fn create_writes_marker_and_empty_index() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::create(&dir.path().join("a/b")).unwrap();
        assert_eq!(
            fs::read(layout.root().join("oci-layout")).unwrap(),
            OCI_LAYOUT_CONTENT
        );
        assert!(layout.read_index().unwrap().manifests.is_empty());
        assert!(Layout::open(dir.path()).is_err());
    }

    #[test]
    fn blob_is_stored_once_under_its_digest() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::create(dir.path()).unwrap();
        let d = Digest::of(b"layer");
        let mut seen = 0;
        let (got, size) = layout
            .write_blob(&mut &b"layer"[..], Some((&d, 5)), "t", &mut |n| seen += n)
            .unwrap();
        assert_eq!((got.clone(), size, seen), (d.clone(), 5, 5));
        assert!(layout.has_blob(&d, 5));
        assert!(!layout.has_blob(&d, 6));
        layout
            .write_blob(&mut &b"layer"[..], None, "t", &mut |_| {})
            .unwrap();
        assert_eq!(
            layout.list_blobs().unwrap(),
            vec![(Some(d.clone()), layout.blob_path(&d))]
        );
    }

    #[test]
    fn the_held_blob_folder_answers_as_has_blob_does() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::create(dir.path()).unwrap();
        let digest = layout.write_blob_bytes(b"layer", None, "t").unwrap();
        let absent = Digest::of(b"absent");
        let held = layout.blob_dir();
        let unheld = BlobDir {
            fd: None,
            path: layout.blobs_path(),
        };
        for (d, size) in [(&digest, 5), (&digest, 6), (&absent, 6)] {
            let want = layout.has_blob(d, size);
            assert_eq!(held.has(&d.key(), size), want, "{d} {size}");
            assert_eq!(unheld.has(&d.key(), size), want, "{d} {size}");
        }
        assert!(held.has(&digest.key(), 5));
        // A folder in a blob's place is not the blob.
        let other = Digest::of(b"x");
        fs::create_dir(layout.blob_path(&other)).unwrap();
        assert!(!held.has(&other.key(), 4096) && !layout.has_blob(&other, 4096));
    }

    #[test]
    fn wrong_content_or_size_is_never_committed() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::create(dir.path()).unwrap();
        let d = Digest::of(b"expected");
        for (content, size) in [
            (&b"tampered"[..], 8),
            (&b"expected plus more"[..], 8),
            (&b"expected"[..], 9),
        ] {
            let err = layout
                .write_blob(&mut &content[..], Some((&d, size)), "img:1", &mut |_| {})
                .unwrap_err();
            assert!(matches!(err, OciError::DigestMismatch { .. }), "{err}");
            assert!(err.to_string().contains("img:1"));
        }
        assert!(layout.list_blobs().unwrap().is_empty());
        assert!(layout.write_blob_bytes(b"x", Some((&d, 1)), "c").is_err());
    }

    #[test]
    fn sessions_of_dead_writers_are_stale_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::create(dir.path()).unwrap();
        layout
            .write_blob(&mut &b"a"[..], None, "t", &mut |_| {})
            .unwrap();
        // A session directory nobody holds a lock on: a killed writer's.
        let dead = dir.path().join(PRIVATE_DIR).join("tmp").join("1-1");
        fs::create_dir_all(&dead).unwrap();
        fs::write(dead.join("0.partial"), b"half").unwrap();
        assert_eq!(layout.stale_sessions().unwrap(), vec![dead.clone()]);
        assert!(!layout.has_live_writers().unwrap());
        // A second handle on the same layout sees the first one's session as live.
        let other = Layout::open(dir.path()).unwrap();
        assert!(other.has_live_writers().unwrap());
        assert_eq!(other.remove_stale_sessions().unwrap(), 1);
        assert!(!dead.exists());
    }

    #[test]
    fn a_session_being_set_up_is_stale_only_when_its_process_is_gone() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::create(dir.path()).unwrap();
        let tmp = dir.path().join(PRIVATE_DIR).join("tmp");
        // A live writer between creating its lock file and taking the lock.
        let born = tmp.join(format!("{NEW_SESSION_PREFIX}{}-7", std::process::id()));
        fs::create_dir_all(&born).unwrap();
        fs::write(born.join("lock"), b"").unwrap();
        // A writer killed while setting up (no process can have this id: above pid_max).
        let orphan = tmp.join(format!("{NEW_SESSION_PREFIX}4194305-7"));
        fs::create_dir_all(&orphan).unwrap();
        fs::write(orphan.join("lock"), b"").unwrap();
        assert_eq!(layout.stale_sessions().unwrap(), vec![orphan.clone()]);
        assert_eq!(layout.remove_stale_sessions().unwrap(), 1);
        assert!(born.exists() && !orphan.exists());
    }
}
