//! The download cache of `.deb` files and package indexes, shared by `seedforge debs` and
//! a build's packages step, as apt keeps `/var/cache/apt/archives`.
//!
//! Content-addressed: an entry is named by the SHA-256 the signed chain records for it (a
//! `Packages` entry's `SHA256` for a .deb, the Release file's for an index), and is only
//! ever used when its bytes hash to that name again: a damaged entry is removed and the
//! file downloaded anew, never bundled. The Release files themselves are never cached:
//! they are the root of that chain, and small.
//!
//! Entries are written under a temporary name and renamed into place (so concurrent runs
//! see whole files or none), created `0644`, opened without following symbolic links, and
//! the whole is kept under a size cap by removing the least recently used entries (a hit
//! refreshes an entry's modification time).
//!
//! Beside the entries, two kinds of derived files, each also written whole or not at all
//! and read as found files (regular, not through a link, capped; anything else is a miss):
//!
//! - `facts/<sha256>`: what reading a cached .deb gave (its control paragraph, its MD5 and
//!   SHA-1, whether its data member is compressed) with the entry's stat once the run that
//!   read it was done with it. A later run that finds the entry at that stat takes these
//!   facts instead of reading and hashing the .deb again, as a build's stat cache does; any
//!   other stat (a write, a `touch`, another file renamed over it) reads it again. The
//!   bundle writer still hashes every byte it packs and refuses a mismatch. A fact file
//!   goes with its entry.
//! - `closures/<key>`: a resolved closure ([`super::closures`]), trimmed with the entries
//!   in least recently used order.

use super::control::Paragraph;
use super::deb::DebFile;
use crate::hashing::{HashingWriter, sha256_hex};
use crate::util::FileStat;
use serde::{Deserialize, Serialize};
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// The environment variable naming the cache folder (`seedforge` under it holds `debs/`).
pub const CACHE_DIR_ENV: &str = "SEEDFORGE_CACHE_DIR";

/// The cache's size cap when none is given: 10 GiB.
pub const DEFAULT_CACHE_MAX: u64 = 10 << 30;

/// The folder under the cache folder holding the facts of cached .debs.
const FACTS_DIR: &str = "facts";

/// The folder under the cache folder holding resolved closures.
const CLOSURES_DIR: &str = "closures";

/// Format version of a facts file; one of another version is not read.
const FACTS_FORMAT: u32 = 1;

/// The largest facts file read: a control paragraph is a few KiB.
const MAX_FACTS: u64 = 1 << 20;

/// The largest closure file read: a few hundred bytes a package.
pub const MAX_CLOSURE: u64 = 16 << 20;

/// What reading a cached .deb gave, with the entry's stat then (see the module's doc).
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
struct Facts {
    format: u32,
    sha256: String,
    size: u64,
    md5: String,
    sha1: String,
    compressed: bool,
    /// The control paragraph's fields, in order.
    control: Vec<(String, String)>,
    /// The entry's stat when the facts were last found true.
    stat: FileStat,
}

impl Facts {
    fn of(deb: &DebFile, stat: FileStat) -> Facts {
        Facts {
            format: FACTS_FORMAT,
            sha256: deb.sha256.clone(),
            size: deb.size,
            md5: deb.md5.clone(),
            sha1: deb.sha1.clone(),
            compressed: deb.compressed,
            control: deb.control.fields().to_vec(),
            stat,
        }
    }

    /// The .deb at `path` these facts describe.
    fn deb(self, path: &Path) -> DebFile {
        let mut control = Paragraph::default();
        for (name, value) in self.control {
            control.set(&name, value);
        }
        DebFile {
            path: path.to_path_buf(),
            control,
            size: self.size,
            md5: self.md5,
            sha1: self.sha1,
            sha256: self.sha256,
            compressed: self.compressed,
        }
    }
}

/// The download cache under `ROOT/debs/`.
#[derive(Debug)]
pub struct DebCache {
    dir: PathBuf,
    max_bytes: u64,
}

/// A cache entry being written as its bytes stream past ([`DebCache::writer`]): it takes
/// its name only if they hash to it; dropped unfinished, it leaves nothing.
pub struct EntryWriter {
    out: Option<HashingWriter<File>>,
    tmp: PathBuf,
    path: PathBuf,
    sha256: String,
    size: u64,
}

impl EntryWriter {
    /// Writes `buf` to the entry.
    pub fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match &mut self.out {
            Some(out) => out.write_all(buf),
            None => Err(io::Error::other("entry already finished")),
        }
    }

    /// Renames the entry into place if what was written hashes to its name and has its
    /// size; otherwise removes it.
    pub fn finish(mut self) {
        let Some(out) = self.out.take() else {
            return;
        };
        let (file, hex, len) = out.finish();
        drop(file);
        if len == self.size && hex == self.sha256 && fs::rename(&self.tmp, &self.path).is_ok() {
            return;
        }
        let _ = fs::remove_file(&self.tmp);
    }
}

impl Drop for EntryWriter {
    fn drop(&mut self) {
        // Abandoned half written (not finished): the temporary file goes.
        if self.out.is_some() {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// What emptying or trimming the cache removed.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct CacheReport {
    /// The cache folder (`ROOT/debs`).
    pub dir: PathBuf,
    /// Entries removed.
    pub removed: usize,
    /// Their bytes.
    pub bytes_freed: u64,
    /// Entries kept.
    pub kept: usize,
    /// Their bytes.
    pub bytes_kept: u64,
}

/// The cache root when none is given: `$SEEDFORGE_CACHE_DIR`, else
/// `$XDG_CACHE_HOME/seedforge`, else `$HOME/.cache/seedforge`; `None` without a home.
/// Relative values of the XDG variables are ignored, as the XDG base directory rules say.
pub fn default_root() -> Option<PathBuf> {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(dir) = var(CACHE_DIR_ENV) {
        return Some(PathBuf::from(dir));
    }
    if let Some(xdg) = var("XDG_CACHE_HOME").map(PathBuf::from)
        && xdg.is_absolute()
    {
        return Some(xdg.join("seedforge"));
    }
    var("HOME")
        .map(PathBuf::from)
        .filter(|h| h.is_absolute())
        .map(|h| h.join(".cache/seedforge"))
}

/// Missing, or below a file (which the walk up then finds).
fn missing(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
    )
}

fn not_a_folder(path: &Path) -> io::Error {
    io::Error::other(format!(
        "{}: not a folder (a symbolic link is refused)",
        path.display()
    ))
}

/// True for a lower-case hex SHA-256, the only names the cache reads or writes.
fn is_sha256(name: &str) -> bool {
    name.len() == 64 && name.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Opens `path` for reading, refusing a symbolic link and anything but a regular file,
/// without blocking (a FIFO planted under an entry's name is refused at once).
fn open_entry(path: &Path) -> io::Result<File> {
    crate::input::open_found(path)
        .map(|(f, _)| f)
        .map_err(crate::input::InputError::into_io)
}

impl DebCache {
    /// Opens the cache under `root`, capped at `max_bytes`, without making anything: the
    /// folders are made when the first entry is stored ([`DebCache::make_dir`]), so a run
    /// that stores nothing leaves none. `ROOT/debs` must be a real folder, not a symbolic
    /// link to one elsewhere, and a missing one must be one that can be made (no file in
    /// the way).
    pub fn open(root: &Path, max_bytes: u64) -> io::Result<DebCache> {
        let dir = root.join("debs");
        match fs::symlink_metadata(&dir) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => return Err(not_a_folder(&dir)),
            Err(e) if missing(&e) => {
                // The nearest folder that exists is where the rest will be made.
                for at in root.ancestors().filter(|a| !a.as_os_str().is_empty()) {
                    match fs::metadata(at) {
                        Ok(m) if m.is_dir() => break,
                        Ok(_) => return Err(not_a_folder(at)),
                        Err(e) if missing(&e) => {}
                        Err(e) => return Err(e),
                    }
                }
            }
            Err(e) => return Err(e),
        }
        Ok(DebCache { dir, max_bytes })
    }

    /// Makes the cache folder if it is missing; fails if it is not a real folder.
    fn make_dir(&self) -> io::Result<()> {
        if let Some(root) = self.dir.parent() {
            fs::create_dir_all(root)?;
        }
        match fs::create_dir(&self.dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
        if !fs::symlink_metadata(&self.dir)?.is_dir() {
            return Err(not_a_folder(&self.dir));
        }
        Ok(())
    }

    /// The folder holding the entries (`ROOT/debs`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn entry(&self, sha256: &str) -> Option<PathBuf> {
        let name = sha256.to_ascii_lowercase();
        is_sha256(&name).then(|| self.dir.join(name))
    }

    /// Marks an entry as just used, for the least-recently-used order.
    fn touch(file: &File) {
        let _ = file.set_modified(std::time::SystemTime::now());
    }

    /// Removes an entry whose bytes are not what its name says.
    fn discard(&self, path: &Path) {
        tracing::warn!(
            "{}: cached file is damaged (its hash is not its name); fetching it again",
            path.display()
        );
        let _ = fs::remove_file(path);
    }

    /// The cached bytes of the file whose SHA-256 is `sha256`, if there is one of `size`
    /// bytes, NOT yet checked against its hash: for a caller that hashes them while it
    /// reads them (and calls [`DebCache::discard_entry`] when they do not match).
    pub fn get_bytes_unchecked(&self, sha256: &str, size: u64) -> Option<Vec<u8>> {
        let path = self.entry(sha256)?;
        let mut file = open_entry(&path).ok()?;
        let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        if (&mut file).take(size + 1).read_to_end(&mut bytes).is_err() {
            return None;
        }
        if bytes.len() as u64 != size {
            self.discard(&path);
            return None;
        }
        Self::touch(&file);
        Some(bytes)
    }

    /// Removes the entry `sha256`, found damaged by whoever read it.
    pub fn discard_entry(&self, sha256: &str) {
        if let Some(path) = self.entry(sha256) {
            self.discard(&path);
        }
    }

    /// The cached bytes of the file whose SHA-256 is `sha256` and size `size`, checked
    /// against both; `None` when there is none or it is damaged (then it is removed).
    pub fn get_bytes(&self, sha256: &str, size: u64) -> Option<Vec<u8>> {
        let path = self.entry(sha256)?;
        let mut file = open_entry(&path).ok()?;
        let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        if (&mut file).take(size + 1).read_to_end(&mut bytes).is_err() {
            return None;
        }
        if bytes.len() as u64 != size || !sha256_hex(&bytes).eq_ignore_ascii_case(sha256) {
            self.discard(&path);
            return None;
        }
        Self::touch(&file);
        Some(bytes)
    }

    /// Puts the cached file whose SHA-256 is `sha256` at `dest` (made new), if there is one
    /// of `size` bytes: a hard link to the entry (nothing is copied), or, where the entry is
    /// on another file system, a copy the kernel makes. Its bytes are NOT checked here: for
    /// a caller that hashes them as it reads them and calls [`DebCache::discard_entry`] when
    /// they do not match. False when there is none, it has another size (then it is
    /// removed) or it cannot be put there (nothing is left at `dest`).
    pub fn link_unchecked(&self, sha256: &str, size: u64, dest: &Path) -> bool {
        let Some(path) = self.entry(sha256) else {
            return false;
        };
        let Ok((file, meta)) = crate::input::open_found(&path) else {
            return false;
        };
        if meta.len() != size {
            self.discard(&path);
            return false;
        }
        let placed = Self::link_or_copy(&path, &file, &meta, size, dest);
        match placed {
            Ok(()) => {
                Self::touch(&file);
                true
            }
            Err(e) => {
                tracing::debug!("{}: cache not used: {e}", path.display());
                false
            }
        }
    }

    /// A hard link at `dest` to the entry `path`, open as `file`; a copy of `file` when no
    /// link can be made or the name no longer leads to the file that was opened. On an
    /// error, what it made at `dest` is gone (and what was there before is left alone).
    fn link_or_copy(
        path: &Path,
        file: &File,
        meta: &fs::Metadata,
        size: u64,
        dest: &Path,
    ) -> io::Result<()> {
        use std::os::unix::fs::MetadataExt as _;
        if fs::hard_link(path, dest).is_ok() {
            match fs::symlink_metadata(dest) {
                Ok(m) if m.is_file() && (m.dev(), m.ino()) == (meta.dev(), meta.ino()) => {
                    return Ok(());
                }
                _ => fs::remove_file(dest)?,
            }
        }
        let mut out = File::create_new(dest)?;
        // File to file: the kernel copies (copy_file_range), sharing blocks where the file
        // system can.
        let copied = io::copy(&mut file.take(size + 1), &mut out);
        drop(out);
        match copied {
            Ok(got) if got == size => Ok(()),
            other => {
                let _ = fs::remove_file(dest);
                Err(other.err().unwrap_or_else(|| {
                    io::Error::other("the entry changed size while it was copied")
                }))
            }
        }
    }

    /// The .deb whose SHA-256 is `sha256`, put at `dest` as [`DebCache::link_unchecked`]
    /// puts it, if the cache holds it with `size` bytes AND its facts file was written at
    /// the stat the entry has now: read from the facts, not from the file (see the
    /// module's doc). `None` (nothing left at `dest`) otherwise: the caller reads it.
    pub fn link_known(&self, sha256: &str, size: u64, dest: &Path) -> Option<DebFile> {
        let path = self.entry(sha256)?;
        let facts = self.facts(sha256)?;
        let (file, meta) = crate::input::open_found(&path).ok()?;
        if facts.size != size || FileStat::of(&meta) != facts.stat {
            return None;
        }
        match Self::link_or_copy(&path, &file, &meta, size, dest) {
            Ok(()) => {
                Self::touch(&file);
                Some(facts.deb(dest))
            }
            Err(e) => {
                tracing::debug!("{}: cache not used: {e}", path.display());
                None
            }
        }
    }

    /// The folder `name` under the cache folder, if it is one (not a link to one).
    fn sub_dir(&self, name: &str) -> Option<PathBuf> {
        let dir = self.dir.join(name);
        fs::symlink_metadata(&dir)
            .is_ok_and(|m| m.is_dir())
            .then_some(dir)
    }

    /// The facts file of the entry `sha256`, if it is whole, of this format and about it.
    fn facts(&self, sha256: &str) -> Option<Facts> {
        let name = sha256.to_ascii_lowercase();
        if !is_sha256(&name) {
            return None;
        }
        let path = self.sub_dir(FACTS_DIR)?.join(&name);
        let (file, meta) = crate::input::open_found(&path).ok()?;
        let read =
            crate::input::read_opened(file, meta, MAX_FACTS, "cached facts", &|| path.clone());
        let facts: Facts = serde_json::from_slice(&read.ok()?.0).ok()?;
        (facts.format == FACTS_FORMAT && facts.sha256 == name).then_some(facts)
    }

    /// Records the facts of `deb`, just read or taken from the cache entry of its SHA-256
    /// by a run now done with it (its staged links gone), with the entry's stat now. Nothing
    /// when the cache holds no such entry (trimmed, or never stored), or the facts file
    /// already says this. A facts file that cannot be written is only a slower next run.
    pub fn remember_deb(&self, deb: &DebFile) {
        let Some(path) = self.entry(&deb.sha256) else {
            return;
        };
        let Some(stat) = fs::symlink_metadata(&path)
            .ok()
            .filter(fs::Metadata::is_file)
            .map(|m| FileStat::of(&m))
            .filter(|s| s.size == deb.size)
        else {
            return;
        };
        let facts = Facts::of(deb, stat);
        if self.facts(&facts.sha256).as_ref() == Some(&facts) {
            return;
        }
        let Ok(bytes) = serde_json::to_vec(&facts) else {
            return;
        };
        let dest = self.dir.join(FACTS_DIR).join(&facts.sha256);
        self.put_at(&dest, &mut |out| out.write_all(&bytes));
    }

    /// The closure file `key` (a lower-case hex SHA-256) as found: `None` when there is
    /// none, or it is not a regular file, or larger than [`MAX_CLOSURE`]. Its use refreshes
    /// it for the least-recently-used order.
    pub fn closure(&self, key: &str) -> Option<Vec<u8>> {
        if !is_sha256(key) {
            return None;
        }
        let path = self.sub_dir(CLOSURES_DIR)?.join(key);
        let (file, meta) = crate::input::open_found(&path).ok()?;
        Self::touch(&file);
        crate::input::read_opened(file, meta, MAX_CLOSURE, "cached closure", &|| path.clone())
            .ok()
            .map(|(bytes, _)| bytes)
    }

    /// Stores `bytes` as the closure file `key`.
    pub fn put_closure(&self, key: &str, bytes: &[u8]) {
        if is_sha256(key) {
            let dest = self.dir.join(CLOSURES_DIR).join(key);
            self.put_at(&dest, &mut |out| out.write_all(bytes));
        }
    }

    /// A writer that stores what passes through it as the entry `sha256`, if its bytes
    /// turn out to hash to that and number `size` ([`EntryWriter::finish`]).
    pub fn writer(&self, sha256: &str, size: u64) -> Option<EntryWriter> {
        let path = self.entry(sha256)?;
        let tmp = crate::util::temp_path_beside(&path);
        let file = (self.make_dir())
            .and_then(|()| crate::util::create_new_mode(&tmp, 0o644))
            .map_err(|e| tracing::debug!("{}: not cached: {e}", path.display()))
            .ok()?;
        Some(EntryWriter {
            out: Some(HashingWriter::new(file)),
            tmp,
            path,
            sha256: sha256.to_ascii_lowercase(),
            size,
        })
    }

    /// Stores `bytes` (already checked to hash to `sha256`) under their hash. A cache
    /// that cannot be written is only a slower next run: the failure is logged, not raised.
    pub fn put_bytes(&self, sha256: &str, bytes: &[u8]) {
        self.put_with(sha256, &mut |out| out.write_all(bytes));
    }

    /// Stores a copy of the file `src` (already checked to hash to `sha256`).
    pub fn put_file(&self, sha256: &str, src: &Path) {
        self.put_with(sha256, &mut |out| {
            let (mut from, _) = crate::input::open_found(src).map_err(|e| e.into_io())?;
            io::copy(&mut from, out).map(|_| ())
        });
    }

    fn put_with(&self, sha256: &str, fill: &mut dyn FnMut(&mut File) -> io::Result<()>) {
        if let Some(path) = self.entry(sha256) {
            self.put_at(&path, fill);
        }
    }

    /// Writes the file `path`, under the cache folder, whole or not at all.
    fn put_at(&self, path: &Path, fill: &mut dyn FnMut(&mut File) -> io::Result<()>) {
        let tmp = crate::util::temp_path_beside(path);
        let result = (|| {
            self.make_dir()?;
            if let Some(dir) = path.parent().filter(|d| *d != self.dir) {
                match fs::create_dir(dir) {
                    Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(e),
                    _ => {}
                }
                // Never written through a link planted in its place.
                if !fs::symlink_metadata(dir)?.is_dir() {
                    return Err(not_a_folder(dir));
                }
            }
            let mut f = crate::util::create_new_mode(&tmp, 0o644)?;
            fill(&mut f)?;
            // Not synced: an entry a crash leaves short fails its hash check on the next
            // read and is fetched again.
            drop(f);
            fs::rename(&tmp, path)
        })();
        if let Err(e) = result {
            let _ = fs::remove_file(&tmp);
            tracing::debug!("{}: not cached: {e}", path.display());
        }
    }

    /// Removes the least recently used entries until the cache holds at most its cap, and
    /// the temporary files of runs that are gone.
    pub fn trim(&self) -> io::Result<CacheReport> {
        self.trim_to(self.max_bytes)
    }

    /// Removes every entry (and leftover temporary file).
    pub fn clear(&self) -> io::Result<CacheReport> {
        self.trim_to(0)
    }

    fn trim_to(&self, max_bytes: u64) -> io::Result<CacheReport> {
        let mut report = CacheReport {
            dir: self.dir.clone(),
            ..CacheReport::default()
        };
        // Nothing stored yet: nothing to trim.
        let listing = match fs::read_dir(&self.dir) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(report),
            listing => listing?,
        };
        let closures = self.dir.join(CLOSURES_DIR);
        let facts = self.dir.join(FACTS_DIR);
        for dir in [&self.dir, &closures, &facts] {
            crate::leftovers::sweep_beside(&dir.join("x"))?;
        }
        // The entries and the closures, in one least-recently-used order.
        let mut entries = Vec::new();
        let listed = |listing: fs::ReadDir, dir: &Path, entries: &mut Vec<_>| {
            for e in listing {
                let e = e?;
                let name = e.file_name();
                let Some(name) = name.to_str().filter(|n| is_sha256(n)) else {
                    continue;
                };
                let meta = e.metadata()?;
                if !meta.is_file() && !meta.is_symlink() {
                    continue;
                }
                let used = meta.modified().unwrap_or(std::time::UNIX_EPOCH);
                entries.push((used, dir.join(name), meta.len()));
            }
            io::Result::Ok(())
        };
        listed(listing, &self.dir, &mut entries)?;
        match fs::read_dir(&closures) {
            Err(e) if missing(&e) => {}
            listing => listed(listing?, &closures, &mut entries)?,
        }
        // Oldest first; the name breaks ties so the order does not depend on the listing.
        entries.sort();
        let mut total: u64 = entries.iter().map(|e| e.2).sum();
        for (_, path, size) in entries {
            if total > max_bytes {
                match fs::remove_file(&path) {
                    Ok(()) => {}
                    // A concurrent run removed it first.
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
                total -= size;
                report.removed += 1;
                report.bytes_freed += size;
            } else {
                report.kept += 1;
                report.bytes_kept += size;
            }
        }
        // A facts file goes with its entry.
        let listing = match fs::read_dir(&facts) {
            Err(e) if missing(&e) => return Ok(report),
            listing => listing?,
        };
        for e in listing {
            let name = e?.file_name();
            // Another name is a writer's temporary file (the sweep took the dead ones').
            let Some(name) = name.to_str().filter(|n| is_sha256(n)) else {
                continue;
            };
            if fs::symlink_metadata(self.dir.join(name)).is_err() {
                match fs::remove_file(facts.join(name)) {
                    Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                    _ => {}
                }
            }
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(max: u64) -> (tempfile::TempDir, DebCache) {
        let t = tempfile::tempdir().unwrap();
        let c = DebCache::open(t.path(), max).unwrap();
        (t, c)
    }

    #[test]
    fn an_entry_is_used_only_when_it_hashes_to_its_name() {
        let (t, c) = cache(DEFAULT_CACHE_MAX);
        let bytes = b"Package: jq\n".to_vec();
        let sha = sha256_hex(&bytes);
        assert!(c.get_bytes(&sha, bytes.len() as u64).is_none());
        c.put_bytes(&sha, &bytes);
        let entry = c.dir().join(&sha);
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(
            fs::metadata(&entry).unwrap().permissions().mode() & 0o777,
            0o644
        );
        assert_eq!(c.get_bytes(&sha, bytes.len() as u64).unwrap(), bytes);
        // Another size: refused and removed, nothing left at the destination.
        fs::write(&entry, b"Package: jq\n\n").unwrap();
        let dest2 = t.path().join("copy2");
        assert!(!c.link_unchecked(&sha, bytes.len() as u64, &dest2));
        assert!(!dest2.exists() && !entry.exists());
        // A flipped byte: refused and removed.
        let mut bad = bytes.clone();
        bad[0] ^= 1;
        fs::write(&entry, &bad).unwrap();
        assert!(c.get_bytes(&sha, bytes.len() as u64).is_none());
        assert!(!entry.exists());
        // A name that is not a hash is never a path.
        assert!(c.get_bytes("../../etc/passwd", 1).is_none());
    }

    #[test]
    fn an_entry_is_put_in_place_as_a_link_to_it_not_a_copy() {
        use std::os::unix::fs::MetadataExt as _;
        let (t, c) = cache(DEFAULT_CACHE_MAX);
        let bytes = vec![7u8; 100_000];
        let sha = sha256_hex(&bytes);
        c.put_bytes(&sha, &bytes);
        let entry = c.dir().join(&sha);
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        File::options()
            .write(true)
            .open(&entry)
            .unwrap()
            .set_modified(old)
            .unwrap();
        let dest = t.path().join("staged.deb");
        assert!(c.link_unchecked(&sha, bytes.len() as u64, &dest));
        assert_eq!(fs::read(&dest).unwrap(), bytes);
        let (a, b) = (fs::metadata(&entry).unwrap(), fs::metadata(&dest).unwrap());
        assert_eq!((a.dev(), a.ino()), (b.dev(), b.ino()), "the same file");
        // Used: the entry is the most recently used again.
        assert!(a.modified().unwrap() > old + std::time::Duration::from_secs(60));
        // The entry's name going (trimmed by another run) leaves the staged file whole.
        assert_eq!(c.clear().unwrap().removed, 1);
        assert_eq!(fs::read(&dest).unwrap(), bytes);
        // Something already at the destination: not used, and left alone.
        c.put_bytes(&sha, &bytes);
        let taken = t.path().join("taken");
        fs::write(&taken, b"other").unwrap();
        assert!(!c.link_unchecked(&sha, bytes.len() as u64, &taken));
        assert_eq!(fs::read(&taken).unwrap(), b"other");
    }

    #[test]
    fn the_folder_is_made_only_when_an_entry_is_stored() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("home/.cache/seedforge");
        let c = DebCache::open(&root, DEFAULT_CACHE_MAX).unwrap();
        // Looking up, trimming and emptying make nothing.
        assert!(c.get_bytes(&sha256_hex(b"x"), 1).is_none());
        assert_eq!(c.trim().unwrap().kept, 0);
        assert_eq!(c.clear().unwrap().removed, 0);
        assert!(!t.path().join("home").exists());
        c.put_bytes(&sha256_hex(b"x"), b"x");
        assert_eq!(c.get_bytes(&sha256_hex(b"x"), 1).unwrap(), b"x");
        // Through a writer too.
        let other = DebCache::open(&t.path().join("w"), DEFAULT_CACHE_MAX).unwrap();
        assert!(!t.path().join("w").exists());
        let mut w = other.writer(&sha256_hex(b"y"), 1).unwrap();
        w.write_all(b"y").unwrap();
        w.finish();
        assert_eq!(other.get_bytes(&sha256_hex(b"y"), 1).unwrap(), b"y");
        // A file where a folder would be made is refused at once.
        fs::write(t.path().join("file"), "x").unwrap();
        for root in [t.path().join("file"), t.path().join("file/sub")] {
            let e = DebCache::open(&root, 1).unwrap_err();
            assert!(e.to_string().contains("not a folder"), "{e}");
        }
        fs::create_dir(t.path().join("r")).unwrap();
        fs::write(t.path().join("r/debs"), "x").unwrap();
        assert!(DebCache::open(&t.path().join("r"), 1).is_err());
    }

    #[test]
    fn a_symbolic_link_is_never_followed() {
        let (t, c) = cache(DEFAULT_CACHE_MAX);
        let bytes = b"secret".to_vec();
        let sha = sha256_hex(&bytes);
        let target = t.path().join("elsewhere");
        fs::write(&target, &bytes).unwrap();
        fs::create_dir(c.dir()).unwrap();
        std::os::unix::fs::symlink(&target, c.dir().join(&sha)).unwrap();
        assert!(c.get_bytes(&sha, bytes.len() as u64).is_none());
        assert!(!c.link_unchecked(&sha, bytes.len() as u64, &t.path().join("d")));
        assert!(!t.path().join("d").exists());
        // Writing replaces the link itself, not what it points to.
        c.put_bytes(&sha, &bytes);
        assert!(fs::symlink_metadata(c.dir().join(&sha)).unwrap().is_file());
        assert_eq!(fs::read(&target).unwrap(), bytes);
        // A `debs` folder that is a link elsewhere is refused.
        let other = tempfile::tempdir().unwrap();
        let root = t.path().join("root");
        fs::create_dir(&root).unwrap();
        std::os::unix::fs::symlink(other.path(), root.join("debs")).unwrap();
        assert!(DebCache::open(&root, 1).is_err());
    }

    /// A .deb's facts as read, for an entry of `bytes`.
    fn deb_of(bytes: &[u8]) -> DebFile {
        let mut control = Paragraph::default();
        control.set("Package", "jq");
        control.set("Version", "1.6-2.1");
        control.set("Description", "one\n two");
        DebFile {
            path: PathBuf::from("read/from/here.deb"),
            control,
            size: bytes.len() as u64,
            md5: "m".into(),
            sha1: "s".into(),
            sha256: sha256_hex(bytes),
            compressed: true,
        }
    }

    #[test]
    fn a_deb_is_taken_from_its_facts_only_at_the_stat_they_were_recorded_at() {
        let (t, c) = cache(DEFAULT_CACHE_MAX);
        let bytes = vec![3u8; 5000];
        let deb = deb_of(&bytes);
        let size = deb.size;
        let dest = t.path().join("staged.deb");
        // No entry, then an entry without facts: nothing is put at `dest`.
        c.remember_deb(&deb);
        assert!(!c.dir().join(FACTS_DIR).exists());
        c.put_bytes(&deb.sha256, &bytes);
        assert!(c.link_known(&deb.sha256, size, &dest).is_none());
        assert!(!dest.exists());
        c.remember_deb(&deb);
        let known = c.link_known(&deb.sha256, size, &dest).unwrap();
        assert_eq!(fs::read(&dest).unwrap(), bytes);
        assert_eq!(known.path, dest);
        assert_eq!(known.control, deb.control);
        assert_eq!(known.control.to_string(), deb.control.to_string());
        assert_eq!(
            (
                known.md5,
                known.sha1,
                known.sha256,
                known.size,
                known.compressed
            ),
            (
                deb.md5.clone(),
                deb.sha1.clone(),
                deb.sha256.clone(),
                size,
                true
            )
        );
        // Linking and refreshing changed the entry's stat: until recorded again, it is
        // read again.
        fs::remove_file(&dest).unwrap();
        assert!(c.link_known(&deb.sha256, size, &dest).is_none());
        c.remember_deb(&deb);
        assert!(c.link_known(&deb.sha256, size, &dest).is_some());
        fs::remove_file(&dest).unwrap();
        c.remember_deb(&deb);
        // Another size asked for, a damaged facts file, facts about another entry: read.
        assert!(c.link_known(&deb.sha256, size + 1, &dest).is_none());
        let facts = c.dir().join(FACTS_DIR).join(&deb.sha256);
        let good = fs::read(&facts).unwrap();
        for bad in [&b"{not json"[..], b"", &good[..good.len() / 2]] {
            fs::write(&facts, bad).unwrap();
            assert!(c.link_known(&deb.sha256, size, &dest).is_none());
        }
        let other = String::from_utf8(good.clone())
            .unwrap()
            .replace(&deb.sha256, &sha256_hex(b"other"));
        fs::write(&facts, other).unwrap();
        assert!(c.link_known(&deb.sha256, size, &dest).is_none());
        // A link planted in its place is not followed.
        let elsewhere = t.path().join("facts.json");
        fs::write(&elsewhere, &good).unwrap();
        fs::remove_file(&facts).unwrap();
        std::os::unix::fs::symlink(&elsewhere, &facts).unwrap();
        assert!(c.link_known(&deb.sha256, size, &dest).is_none());
        assert!(!dest.exists());
        // A facts folder that is a link elsewhere is neither read nor written through.
        let folder = c.dir().join(FACTS_DIR);
        let moved = t.path().join("facts-elsewhere");
        fs::remove_file(&facts).unwrap();
        c.remember_deb(&deb);
        fs::rename(&folder, &moved).unwrap();
        std::os::unix::fs::symlink(&moved, &folder).unwrap();
        assert!(c.link_known(&deb.sha256, size, &dest).is_none());
        assert!(!dest.exists());
        let before = fs::read(moved.join(&deb.sha256)).unwrap();
        // The entry's stat changes: facts about it would be written anew, but not there.
        fs::File::options()
            .write(true)
            .open(c.dir().join(&deb.sha256))
            .unwrap()
            .set_modified(std::time::SystemTime::UNIX_EPOCH)
            .unwrap();
        c.remember_deb(&deb);
        assert_eq!(fs::read(moved.join(&deb.sha256)).unwrap(), before);
        fs::remove_file(&folder).unwrap();
        fs::rename(&moved, &folder).unwrap();
        // The entry going takes its facts with it at the next trim.
        fs::remove_file(&facts).unwrap();
        c.remember_deb(&deb);
        assert!(facts.is_file());
        fs::remove_file(c.dir().join(&deb.sha256)).unwrap();
        c.trim().unwrap();
        assert!(!facts.exists());
    }

    #[test]
    fn closures_are_found_files_trimmed_with_the_entries() {
        let (_t, c) = cache(DEFAULT_CACHE_MAX);
        let key = sha256_hex(b"inputs");
        assert!(c.closure(&key).is_none());
        c.put_closure(&key, b"{}");
        assert_eq!(c.closure(&key).unwrap(), b"{}");
        // Only hex names; a FIFO in its place is refused at once, not waited on.
        assert!(c.closure("../../x").is_none());
        c.put_closure("../x", b"{}");
        assert!(!c.dir().join("x").exists() && !c.dir().parent().unwrap().join("x").exists());
        let path = c.dir().join(CLOSURES_DIR).join(&key);
        fs::remove_file(&path).unwrap();
        let made = std::process::Command::new("mkfifo").arg(&path).status();
        assert!(made.unwrap().success());
        assert!(c.closure(&key).is_none());
        fs::remove_file(&path).unwrap();
        // Counted and trimmed as entries are, the least recently used first.
        c.put_closure(&key, &[b' '; 10]);
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(old)
            .unwrap();
        c.put_bytes(&sha256_hex(&[1u8; 10]), &[1u8; 10]);
        let report = c.trim_to(15).unwrap();
        assert_eq!((report.removed, report.kept), (1, 1));
        assert!(!path.exists());
        assert_eq!(c.clear().unwrap().removed, 1);
    }

    #[test]
    fn trimming_removes_the_least_recently_used_first() {
        let (_t, c) = cache(25);
        let mut shas = Vec::new();
        for (i, age) in [(0u8, 300u64), (1, 100), (2, 200)] {
            let bytes = vec![i; 10];
            let sha = sha256_hex(&bytes);
            c.put_bytes(&sha, &bytes);
            let f = File::options()
                .write(true)
                .open(c.dir().join(&sha))
                .unwrap();
            let when = std::time::SystemTime::now() - std::time::Duration::from_secs(age);
            f.set_modified(when).unwrap();
            shas.push(sha);
        }
        // Using the oldest makes it the newest.
        assert!(c.get_bytes(&shas[0], 10).is_some());
        let report = c.trim().unwrap();
        assert_eq!((report.removed, report.kept, report.bytes_kept), (1, 2, 20));
        assert!(
            !c.dir().join(&shas[2]).exists(),
            "the least recently used goes"
        );
        assert!(c.dir().join(&shas[0]).exists() && c.dir().join(&shas[1]).exists());
        let report = c.clear().unwrap();
        assert_eq!(
            (report.removed, report.bytes_freed, report.kept),
            (2, 20, 0)
        );
    }
}
