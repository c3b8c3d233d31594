//! Checking the files a set protects against what it records of them: each file's MD5
//! over one read when its length is right, else each slice against its MD5 and CRC-32, a
//! slice read a piece at a time (memory does not grow with the slice size).

pub use super::read::{Loaded, load, set_files};

use super::folder::Folder;
use super::{FileInfo, Md5Hash, Par2Error};
use md5::{Digest as _, Md5};
use std::os::unix::fs::FileExt as _;
use std::path::Path;

/// Bytes read at a time.
const CHUNK: usize = 1 << 20;

/// What became of one file of the set.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum FileState {
    /// Its MD5 and length are the recorded ones.
    Intact,
    /// Not there.
    Missing,
    /// There with its recorded bytes intact and `bytes` more after them: cut to its
    /// length on repair (as par2cmdline does), no slice to rebuild.
    Appended {
        /// The bytes past its recorded length.
        bytes: u64,
    },
    /// There, with these slices (from 0) lost or damaged.
    Damaged {
        /// The slices that do not match their checksums.
        slices: Vec<u64>,
    },
}

/// One file's check.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FileCheck {
    /// Its name in the set.
    pub name: String,
    /// Its recorded length.
    pub length: u64,
    /// What became of it.
    #[serde(flatten)]
    pub state: FileState,
}

/// A set's check: each file, the slices to rebuild, the recovery slices there are.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    /// Every file of the set.
    pub files: Vec<FileCheck>,
    /// Input slices lost or damaged.
    pub lost_slices: usize,
    /// Intact recovery slices found.
    pub recovery_slices: usize,
    /// The slice size.
    pub slice: u64,
}

impl Report {
    /// Whether every file is intact (nothing to rebuild or cut).
    pub fn is_sound(&self) -> bool {
        self.lost_slices == 0 && self.files.iter().all(|f| f.state == FileState::Intact)
    }
    /// Whether the recovery slices are enough to rebuild all that is lost.
    pub fn repairable(&self) -> bool {
        self.lost_slices <= self.recovery_slices
    }
}

/// Checks each file of `set` in `dir`, a few files at a time on as many threads as there
/// are processors; `known_intact(name)` may vouch for a file (its sha256 already checked by
/// the caller), which is then not read.
pub fn check(
    dir: &Path,
    set: &Loaded,
    known_intact: &(dyn Fn(&str) -> bool + Sync),
) -> Result<Report, Par2Error> {
    let folder = Folder::open(dir)?;
    let slice = set.info.slice;
    let files = &set.info.files;
    let next = std::sync::atomic::AtomicUsize::new(0);
    let threads = super::threads().clamp(1, files.len().max(1));
    let mut states: Vec<Option<Result<FileState, Par2Error>>> =
        (0..files.len()).map(|_| None).collect();
    let results = std::sync::Mutex::new(&mut states);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                let mut buf = vec![0u8; CHUNK];
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(f) = files.get(i) else { break };
                    let state = if known_intact(&f.name) {
                        Ok(FileState::Intact)
                    } else {
                        check_file(&folder, f, slice, &mut buf)
                    };
                    if let Ok(mut r) = results.lock() {
                        r[i] = Some(state);
                    }
                }
            });
        }
    });
    let mut out = Vec::new();
    let mut lost = 0usize;
    for (f, state) in files.iter().zip(states) {
        let state = state.unwrap_or_else(|| {
            Err(Par2Error::Invalid {
                path: dir.join(&f.name),
                message: "not checked".into(),
            })
        })?;
        lost += match &state {
            FileState::Intact | FileState::Appended { .. } => 0,
            FileState::Missing => f.slices.len(),
            FileState::Damaged { slices } => slices.len(),
        };
        out.push(FileCheck {
            name: f.name.clone(),
            length: f.length,
            state,
        });
    }
    Ok(Report {
        files: out,
        lost_slices: lost,
        recovery_slices: set.recovery.len(),
        slice,
    })
}

/// One file: its MD5 over one read of its recorded length when it has at least that
/// many bytes (intact, or intact with bytes appended, when it matches), else each slice
/// against its MD5 and CRC-32.
fn check_file(
    folder: &Folder,
    f: &FileInfo,
    slice: u64,
    buf: &mut [u8],
) -> Result<FileState, Par2Error> {
    let path = folder.path.join(&f.name);
    let Some((file, meta)) = folder.file(&f.name)? else {
        return Ok(FileState::Missing);
    };
    let have = meta.len();
    let io = |e| Par2Error::io(&path, e);
    if have >= f.length {
        let mut whole = Md5::new();
        read_range(&file, f.length, 0, f.length, buf, &mut |b| whole.update(b)).map_err(io)?;
        if <Md5Hash>::from(whole.finalize()) == f.md5 {
            return Ok(match have - f.length {
                0 => FileState::Intact,
                bytes => FileState::Appended { bytes },
            });
        }
        // One slice, its bytes all there and not the file's: that slice is damaged (its
        // padding is not hashed).
        if f.slices.len() == 1 {
            return Ok(FileState::Damaged { slices: vec![0] });
        }
    }
    // A slice whose recorded bytes are not all there is damaged without a read; one read
    // is its bytes and its padding (less than the bytes of the slices before it), so a
    // check reads no more than about twice what the file holds, whatever the set says.
    let mut bad = Vec::new();
    for (k, (md5, crc)) in f.slices.iter().enumerate() {
        let from = k as u64 * slice;
        if from.saturating_add(slice).min(f.length) > have {
            bad.push(k as u64);
            continue;
        }
        let mut h = Md5::new();
        let mut c = super::crc::Crc32::new();
        read_range(&file, f.length, from, slice, buf, &mut |b| {
            h.update(b);
            c.update(b);
        })
        .map_err(io)?;
        if c.finish() != *crc || <Md5Hash>::from(h.finalize()) != *md5 {
            bad.push(k as u64);
        }
    }
    Ok(FileState::Damaged { slices: bad })
}

/// Gives `len` bytes of `file` from `at` to `each`, a piece at a time, zeros past `data`
/// (the bytes the file holds).
pub(super) fn read_range(
    file: &std::fs::File,
    data: u64,
    at: u64,
    len: u64,
    buf: &mut [u8],
    each: &mut dyn FnMut(&[u8]),
) -> std::io::Result<()> {
    let mut pos = at;
    let end = at.saturating_add(len);
    while pos < end {
        let n = ((end - pos) as usize).min(buf.len());
        let real = data.saturating_sub(pos).min(n as u64) as usize;
        file.read_exact_at(&mut buf[..real], pos)?;
        buf[real..n].fill(0);
        each(&buf[..n]);
        pos += n as u64;
    }
    Ok(())
}
