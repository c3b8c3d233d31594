//! Small filesystem helpers shared by every module that writes artifacts.
//!
//! The rule they enforce: a file appears under its final name only complete and synced.
//! Everything is written to a temporary file in the destination directory, fsynced, renamed
//! into place, and the directory is fsynced so the rename itself survives a crash.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A unique temporary file name next to `path`, hidden and marked as seedforge's.
pub fn temp_path_beside(path: &Path) -> PathBuf {
    let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.seedforge-{}-{n}.tmp", std::process::id()))
}

/// Writes `bytes` to `path` atomically (temp file, fsync, rename, fsync directory).
pub fn atomic_write(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_via_temp(path, bytes, |tmp| File::create(tmp))
}

/// Writes `bytes` to `path` through a temporary file and a rename, with no fsync: for a
/// cache whose every entry is checked (hashed) before it is used, so that an entry torn by
/// a crash is only a miss. Never for anything a reader trusts as it is.
pub fn replace_unsynced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = temp_path_beside(path);
    let result = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        drop(f);
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Like [`atomic_write`], with the file created at `mode` (never readable by others for
/// a moment, whatever the umask) so that files holding secrets can be 0600 from the start.
pub fn atomic_write_mode(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    write_via_temp(path, bytes, |tmp| create_new_mode(tmp, mode))
}

/// Creates a new file (failing if `path` exists) with exactly `mode`: never readable by
/// others for a moment, whatever the umask. A file system without modes (FAT, exFAT) is
/// recorded by [`crate::modes`], not an error.
pub fn create_new_mode(path: &Path, mode: u32) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)?;
    // The umask may have cleared bits of `mode`; set it exactly.
    crate::modes::set_file(&f, path, mode)?;
    Ok(f)
}

/// Opens a temporary file beside `path` with `open`, writes and fsyncs it, renames it over
/// `path` and fsyncs the directory; the temporary file is removed on failure.
fn write_via_temp(
    path: &Path,
    bytes: &[u8],
    open: impl FnOnce(&Path) -> io::Result<File>,
) -> io::Result<()> {
    let tmp = temp_path_beside(path);
    let result = (|| {
        let mut f = open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        sync_parent(path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// fsyncs the directory that holds `path`, making a rename into it durable.
pub fn sync_parent(path: &Path) -> io::Result<()> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => sync_dir(dir),
        _ => sync_dir(Path::new(".")),
    }
}

/// fsyncs a directory.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    crate::input::open_dir(dir)?.sync_all()
}

/// Starts writing `file`'s dirty pages in `from..to` back to disk, without waiting for it:
/// a writer calls it behind itself, so that the disk works while it goes on and its closing
/// fsync finds little left. `POSIX_FADV_DONTNEED` does this on Linux (it queues the range's
/// dirty pages for write-back, then drops only those already clean), as
/// `sync_file_range(SYNC_FILE_RANGE_WRITE)` would. Unlike an fsync on a helper thread, it
/// never makes the writer wait, and it costs nothing on a copy-on-write file system whose
/// copied extents are shared rather than dirty. Advice only: errors surface at the fsync.
pub fn start_writeback(file: &File, from: u64, to: u64) {
    if let Some(len) = to.checked_sub(from).and_then(std::num::NonZeroU64::new) {
        let _ = rustix::fs::fadvise(file, from, Some(len), rustix::fs::Advice::DontNeed);
    }
}

/// Starts a file's write-back behind its writer ([`start_writeback`]) every `every`
/// bytes the writer reports, up to what the file holds so far (its length: buffers and
/// compressors between the writer and the file lag the count). Nothing waits for it.
pub struct WriteBehind<'a> {
    file: &'a File,
    every: u64,
    /// Where the last write-back started from (a file offset).
    from: u64,
    /// The count at which to start the next.
    next: u64,
}

impl<'a> WriteBehind<'a> {
    /// Write-back of `file` every `every` bytes.
    pub fn new(file: &'a File, every: u64) -> WriteBehind<'a> {
        WriteBehind {
            file,
            every,
            from: 0,
            next: every,
        }
    }

    /// Called with the bytes written so far.
    pub fn progress(&mut self, written: u64) {
        if written >= self.next {
            self.next = written + self.every;
            if let Ok(meta) = self.file.metadata() {
                start_writeback(self.file, self.from, meta.len());
                self.from = meta.len();
            }
        }
    }
}

/// Which side of a [`copy_split`] failed.
#[derive(Debug)]
pub enum CopyError {
    /// Reading the source.
    Read(io::Error),
    /// Writing (or flushing) the destination.
    Write(io::Error),
}

/// `io::copy` that tells the source's errors from the destination's, so each can be
/// reported against its own path; flushes `dst` at the end and returns the bytes copied.
pub fn copy_split(src: &mut dyn io::Read, dst: &mut dyn Write) -> Result<u64, CopyError> {
    copy_split_with(src, dst, &mut |_| {})
}

/// [`copy_split`], telling `progress` the total copied so far after each chunk. The one
/// copy loop of the crate.
pub fn copy_split_with(
    src: &mut dyn io::Read,
    dst: &mut dyn Write,
    progress: &mut dyn FnMut(u64),
) -> Result<u64, CopyError> {
    // Small to begin with (most blobs and documents are a few KiB: a 1 MiB buffer would
    // be zeroed for each), doubled while reads fill it, up to 1 MiB.
    const FIRST: usize = 64 << 10;
    const MOST: usize = 1 << 20;
    let mut buf = vec![0u8; FIRST];
    let mut total = 0u64;
    loop {
        let n = match src.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(CopyError::Read(e)),
        };
        dst.write_all(&buf[..n]).map_err(CopyError::Write)?;
        total += n as u64;
        progress(total);
        if n == buf.len() && buf.len() < MOST {
            buf.resize(buf.len() * 2, 0);
        }
    }
    dst.flush().map_err(CopyError::Write)?;
    Ok(total)
}

/// The next data run of `file` at or after `pos`, clipped to `size`, found with
/// `SEEK_DATA`/`SEEK_HOLE`: `(size, size)` when only a hole is left, and everything from
/// `pos` on when the file system cannot tell holes apart.
pub fn next_data(file: &File, pos: u64, size: u64) -> (u64, u64) {
    use rustix::fs::{SeekFrom as RSeek, seek};
    let start = match seek(file, RSeek::Data(pos)) {
        Ok(s) => s,
        Err(rustix::io::Errno::NXIO) => return (size, size),
        Err(_) => return (pos, size),
    };
    let end = seek(file, RSeek::Hole(start)).unwrap_or(size);
    (start.min(size), end.min(size))
}

/// A file read front to back whose holes are filled with zeros in memory instead of being
/// read: a sparse ISO of gigabytes hashes at the speed of its data, where reading its holes
/// costs the kernel as much as reading data. What the file holds is read as it is; past the
/// length it had when opened it is read for real, so that growth still shows.
pub struct SparseReader {
    file: File,
    pos: u64,
    size: u64,
    /// Zeros are given up to here.
    hole_end: u64,
    /// The file is read up to here before the next `SEEK_DATA`.
    data_end: u64,
}

impl SparseReader {
    /// Reads `file` from its start; `size` is its length when opened.
    pub fn new(file: File, size: u64) -> Self {
        SparseReader {
            file,
            pos: 0,
            size,
            hole_end: 0,
            data_end: 0,
        }
    }
}

impl io::Read for SparseReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        use std::os::unix::fs::FileExt;
        if buf.is_empty() {
            return Ok(0);
        }
        if self.pos >= self.hole_end && self.pos >= self.data_end {
            if self.pos < self.size {
                (self.hole_end, self.data_end) = next_data(&self.file, self.pos, self.size);
            } else {
                self.hole_end = self.pos;
                self.data_end = u64::MAX;
            }
        }
        let n = if self.pos < self.hole_end {
            let n =
                usize::try_from(self.hole_end - self.pos).map_or(buf.len(), |n| n.min(buf.len()));
            buf[..n].fill(0);
            n
        } else {
            let n =
                usize::try_from(self.data_end - self.pos).map_or(buf.len(), |n| n.min(buf.len()));
            self.file.read_at(&mut buf[..n], self.pos)?
        };
        self.pos += n as u64;
        Ok(n)
    }
}

/// Human-readable byte count (`1.5 MiB`).
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// The parts of a file's status that change whenever its content is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FileStat {
    /// Size in bytes.
    pub size: u64,
    /// Modification time, nanoseconds since the epoch.
    pub mtime_ns: i64,
    /// Status change time, nanoseconds since the epoch (set by every write, chmod, link,
    /// and by `touch`; it cannot be set back by a user).
    pub ctime_ns: i64,
    /// Inode number.
    pub ino: u64,
    /// Device.
    pub dev: u64,
}

impl FileStat {
    /// The stat of `meta`.
    pub fn of(meta: &fs::Metadata) -> FileStat {
        use std::os::unix::fs::MetadataExt as _;
        let ns = |s: i64, n: i64| s.saturating_mul(1_000_000_000).saturating_add(n);
        FileStat {
            size: meta.len(),
            mtime_ns: ns(meta.mtime(), meta.mtime_nsec()),
            ctime_ns: ns(meta.ctime(), meta.ctime_nsec()),
            ino: meta.ino(),
            dev: meta.dev(),
        }
    }

    /// The stat of the regular file at `path` (symlinks followed); `None` if there is no
    /// such file.
    pub fn read(path: &Path) -> Option<FileStat> {
        fs::metadata(path)
            .ok()
            .filter(fs::Metadata::is_file)
            .map(|m| FileStat::of(&m))
    }
}

/// A duration in seconds (fractions allowed, above 0 and at most a day) from the
/// environment variable `name`, else `default`; a bad value is an error naming the variable.
pub fn env_seconds(
    name: &str,
    default: std::time::Duration,
) -> Result<std::time::Duration, String> {
    let Ok(raw) = std::env::var(name) else {
        return Ok(default);
    };
    raw.trim()
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s > 0.0 && *s <= 86_400.0)
        .map(std::time::Duration::from_secs_f64)
        .ok_or_else(|| format!("{name}={raw:?}: expected a number of seconds between 0 and 86400"))
}

/// Writes a hash map as a map in the order of its keys, so that the same map always reads
/// the same (`#[serde(serialize_with = "crate::util::serialize_sorted")]`). For maps
/// looked up often and written rarely: the build state's paths, a layout's blob stamps.
pub fn serialize_sorted<K, V, S>(
    map: &std::collections::HashMap<K, V>,
    serializer: S,
) -> Result<S::Ok, S::Error>
where
    K: serde::Serialize + Ord,
    V: serde::Serialize,
    S: serde::Serializer,
{
    let mut entries: Vec<(&K, &V)> = map.iter().collect();
    entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
    serializer.collect_map(entries)
}

/// `%XX` escapes (two hex digits) decoded, everything else kept as it is (`+` too); bytes
/// that do not make UTF-8 become U+FFFD.
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let Some(&[hi, lo]) = b.get(i + 1..i + 3)
            && hi.is_ascii_hexdigit()
            && lo.is_ascii_hexdigit()
        {
            let nibble = |c: u8| (c as char).to_digit(16).unwrap_or(0) as u8;
            out.push(nibble(hi) << 4 | nibble(lo));
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    #[test]
    fn percent_escapes_are_two_hex_digits() {
        use super::percent_decode;
        assert_eq!(
            percent_decode("application%2Fvnd.x%2bjson"),
            "application/vnd.x+json"
        );
        assert_eq!(percent_decode("a+b%20c"), "a+b c");
        // Not an escape: kept as it is.
        for kept in ["%", "%4", "%+1", "%-1", "%zz", "100%"] {
            assert_eq!(percent_decode(kept), kept);
        }
        assert_eq!(percent_decode("%41"), "A");
        assert_eq!(percent_decode("%ff"), "\u{fffd}");
    }

    use super::*;

    /// A file of holes and data runs reads the same through [`SparseReader`] as through
    /// `read`, whatever the buffer size; bytes added after it was opened are read too.
    #[test]
    fn a_sparse_file_reads_the_same_with_its_holes_skipped() {
        use std::io::{Read as _, Seek as _, SeekFrom};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sparse");
        let mut f = File::create(&path).unwrap();
        f.set_len(40 << 20).unwrap();
        for (at, byte) in [
            (0u64, 1u8),
            (9 << 20, 2),
            ((9 << 20) + 4095, 3),
            ((40 << 20) - 1, 4),
        ] {
            f.seek(SeekFrom::Start(at)).unwrap();
            f.write_all(&[byte; 100][..usize::try_from((40u64 << 20) - at).unwrap().min(100)])
                .unwrap();
        }
        drop(f);
        let want = fs::read(&path).unwrap();
        for buf_len in [1usize, 4096, 100_000, 1 << 20, 3 << 20] {
            let file = File::open(&path).unwrap();
            let mut r = SparseReader::new(file, want.len() as u64);
            let mut got = Vec::new();
            let mut buf = vec![7u8; buf_len];
            loop {
                let n = r.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
            assert!(got == want, "buffer of {buf_len}");
        }
        // Opened at one length, grown before the end is reached: the growth is read.
        let file = File::open(&path).unwrap();
        let mut r = SparseReader::new(file, want.len() as u64);
        fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"more")
            .unwrap();
        let mut got = Vec::new();
        r.read_to_end(&mut got).unwrap();
        assert_eq!(got.len(), want.len() + 4);
        assert!(got.ends_with(b"more"));
    }

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.json");
        atomic_write(&p, b"one").unwrap();
        atomic_write(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn human_bytes_units() {
        assert_eq!(human_bytes(10), "10 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(3 * 1024 * 1024), "3.0 MiB");
    }
}
