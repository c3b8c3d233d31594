//! Reading a set back: every `NAME.par2` and `NAME.vol*.par2` in the folder scanned for
//! packets, each kept only when its MD5 matches (a damaged stretch is skipped to the next
//! packet's magic), then the files checked against what the set records of them.

use super::create::read_slice;
use super::{CREATOR, FILE_DESC, FileInfo, HEADER, IFSC, MAGIC, MAIN, Md5Hash, Par2Error};
use super::{RECOVERY, SetInfo};
use md5::{Digest as _, Md5};
use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io;
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};

/// A set as found on disk.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// What the critical packets say.
    pub info: SetInfo,
    /// Each intact recovery slice by exponent: its file and where its data starts.
    pub recovery: BTreeMap<u32, (PathBuf, u64)>,
    /// The set's files found (`NAME.par2`, volumes).
    pub par2_files: Vec<PathBuf>,
    /// Packets that did not check (damaged), over all files.
    pub damaged_packets: usize,
    /// `NAME.par2`.
    pub index: PathBuf,
}

/// The files of set `base` in `dir`: `BASE.par2` and `BASE.vol*.par2`, by name.
pub fn set_files(dir: &Path, base: &str) -> io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let vol = format!("{base}.vol");
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let ours =
            name == format!("{base}.par2") || (name.starts_with(&vol) && name.ends_with(".par2"));
        if ours && entry.file_type()?.is_file() {
            out.push(entry.path());
        }
    }
    out.sort();
    Ok(out)
}

/// Reads set `base` in `dir`.
pub fn load(dir: &Path, base: &str) -> Result<Loaded, Par2Error> {
    let index = dir.join(format!("{base}.par2"));
    let files = set_files(dir, base).map_err(|e| Par2Error::io(dir, e))?;
    let mut mains: Vec<(Md5Hash, Vec<u8>)> = Vec::new();
    let mut descs: BTreeMap<(Md5Hash, Md5Hash), Vec<u8>> = BTreeMap::new();
    let mut ifscs: BTreeMap<(Md5Hash, Md5Hash), Vec<u8>> = BTreeMap::new();
    let mut recovery: BTreeMap<(Md5Hash, u32), (PathBuf, u64)> = BTreeMap::new();
    let mut damaged = 0;
    for path in &files {
        scan(
            path,
            &mut |set, kind, at, body: Option<Vec<u8>>| match (kind, body) {
                (k, Some(b)) if k == *MAIN && !mains.iter().any(|m| m.0 == set) => {
                    mains.push((set, b));
                }
                (k, Some(b)) if k == *FILE_DESC && b.len() >= 56 => {
                    let id: Md5Hash = b[..16].try_into().unwrap_or_default();
                    descs.entry((set, id)).or_insert(b);
                }
                (k, Some(b)) if k == *IFSC && b.len() >= 16 => {
                    let id: Md5Hash = b[..16].try_into().unwrap_or_default();
                    ifscs.entry((set, id)).or_insert(b);
                }
                (k, None) if k == *RECOVERY => {
                    if let Some(exp) = at.1 {
                        recovery.entry((set, exp)).or_insert((path.clone(), at.0));
                    }
                }
                _ => {}
            },
            &mut damaged,
        )
        .map_err(|e| Par2Error::io(path, e))?;
    }
    let invalid = |message: String| Par2Error::Invalid {
        path: index.clone(),
        message,
    };
    let Some((set_id, main)) = mains.into_iter().next() else {
        return Err(invalid(
            "no intact Main packet in the set's files: not a PAR 2.0 set, or all of it damaged"
                .into(),
        ));
    };
    if main.len() < 12 {
        return Err(invalid("a Main packet too short".into()));
    }
    let slice = u64::from_le_bytes(main[..8].try_into().unwrap_or_default());
    let count = u32::from_le_bytes(main[8..12].try_into().unwrap_or_default()) as usize;
    if slice == 0 || !slice.is_multiple_of(4) || main.len() < 12 + 16 * count {
        return Err(invalid("a Main packet that does not hold together".into()));
    }
    let mut infos = Vec::new();
    for i in 0..count {
        let id: Md5Hash = main[12 + 16 * i..28 + 16 * i]
            .try_into()
            .unwrap_or_default();
        let desc = descs
            .get(&(set_id, id))
            .ok_or_else(|| invalid(format!("no intact description of file {}", hex(&id))))?;
        let length = u64::from_le_bytes(desc[48..56].try_into().unwrap_or_default());
        let name_bytes: Vec<u8> = desc[56..].to_vec();
        let end = name_bytes
            .iter()
            .rposition(|b| *b != 0)
            .map_or(0, |p| p + 1);
        let name = String::from_utf8_lossy(&name_bytes[..end]).into_owned();
        let n = length.div_ceil(slice) as usize;
        let ifsc = ifscs
            .get(&(set_id, id))
            .ok_or_else(|| invalid(format!("no intact slice checksums of {name}")))?;
        if ifsc.len() < 16 + 20 * n {
            return Err(invalid(format!("the slice checksums of {name} are short")));
        }
        let slices = (0..n)
            .map(|k| {
                let at = 16 + 20 * k;
                let md5: Md5Hash = ifsc[at..at + 16].try_into().unwrap_or_default();
                let crc = u32::from_le_bytes(ifsc[at + 16..at + 20].try_into().unwrap_or_default());
                (md5, crc)
            })
            .collect();
        infos.push(FileInfo {
            id,
            name,
            length,
            md5: desc[16..32].try_into().unwrap_or_default(),
            md5_16k: desc[32..48].try_into().unwrap_or_default(),
            slices,
        });
    }
    let recovery = recovery
        .into_iter()
        .filter(|((set, _), _)| *set == set_id)
        .map(|((_, exp), at)| (exp, at))
        .collect();
    let _ = CREATOR;
    Ok(Loaded {
        info: SetInfo {
            slice,
            set_id,
            files: infos,
        },
        recovery,
        par2_files: files,
        damaged_packets: damaged,
        index,
    })
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Calls `found(set id, type, (offset of the data after the exponent, exponent for a
/// recovery packet), body except for recovery packets)` for each packet of `path` whose
/// MD5 checks; counts the others in `damaged`.
#[allow(clippy::type_complexity)]
fn scan(
    path: &Path,
    found: &mut dyn FnMut(Md5Hash, [u8; 16], (u64, Option<u32>), Option<Vec<u8>>),
    damaged: &mut usize,
) -> io::Result<()> {
    let file = super::open(path).map_err(|e| match e {
        Par2Error::Io { source, .. } => source,
        other => io::Error::other(other.to_string()),
    })?;
    let len = file.metadata()?.len();
    let mut at = 0u64;
    let mut buf = vec![0u8; 1 << 20];
    while at + HEADER <= len {
        let mut head = [0u8; 64];
        file.read_exact_at(&mut head, at)?;
        let plen = u64::from_le_bytes(head[8..16].try_into().unwrap_or_default());
        let sane =
            &head[..8] == MAGIC && plen >= HEADER && plen.is_multiple_of(4) && plen <= len - at;
        if sane {
            let kind: [u8; 16] = head[48..64].try_into().unwrap_or_default();
            let set: Md5Hash = head[32..48].try_into().unwrap_or_default();
            let want: Md5Hash = head[16..32].try_into().unwrap_or_default();
            let recovery = &kind == RECOVERY;
            let mut h = Md5::new();
            h.update(&head[32..]);
            let mut body = Vec::new();
            let mut pos = at + HEADER;
            let end = at + plen;
            while pos < end {
                let n = ((end - pos) as usize).min(buf.len());
                file.read_exact_at(&mut buf[..n], pos)?;
                h.update(&buf[..n]);
                if !recovery {
                    body.extend_from_slice(&buf[..n]);
                }
                pos += n as u64;
            }
            let got: Md5Hash = h.finalize().into();
            if got == want && (!recovery || plen >= HEADER + 4) {
                if recovery {
                    let mut e = [0u8; 4];
                    file.read_exact_at(&mut e, at + HEADER)?;
                    found(
                        set,
                        kind,
                        (at + HEADER + 4, Some(u32::from_le_bytes(e))),
                        None,
                    );
                } else {
                    found(set, kind, (at + HEADER, None), Some(body));
                }
                at += plen;
                continue;
            }
        }
        *damaged += 1;
        // The next packet's magic, four bytes on.
        at = match next_magic(&file, at + 4, len, &mut buf)? {
            Some(next) => next,
            None => break,
        };
    }
    Ok(())
}

fn next_magic(file: &File, from: u64, len: u64, buf: &mut [u8]) -> io::Result<Option<u64>> {
    let mut at = from;
    while at < len {
        let n = ((len - at) as usize).min(buf.len());
        file.read_exact_at(&mut buf[..n], at)?;
        if let Some(p) = buf[..n].windows(8).position(|w| w == MAGIC) {
            return Ok(Some(at + p as u64));
        }
        if n < 8 {
            break;
        }
        at += (n - 7) as u64;
        if n < buf.len() {
            break;
        }
    }
    Ok(None)
}

/// What became of one file of the set.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum FileState {
    /// Its MD5 and length are the recorded ones.
    Intact,
    /// Not there.
    Missing,
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
    /// Whether anything is to be rebuilt.
    pub fn is_sound(&self) -> bool {
        self.lost_slices == 0
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
                let mut buf = vec![0u8; slice as usize];
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(f) = files.get(i) else { break };
                    let state = if known_intact(&f.name) {
                        Ok(FileState::Intact)
                    } else {
                        check_file(&dir.join(&f.name), f, slice, &mut buf)
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
            FileState::Intact => 0,
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

/// One file: its MD5 over one read when its length is right (intact when it matches),
/// else each slice against its MD5 and CRC-32.
fn check_file(
    path: &Path,
    f: &FileInfo,
    slice: u64,
    buf: &mut [u8],
) -> Result<FileState, Par2Error> {
    let m = match fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(FileState::Missing),
        Err(e) => return Err(Par2Error::io(path, e)),
        Ok(m) if !m.is_file() => return Ok(FileState::Missing),
        Ok(m) => m,
    };
    let file = super::open(path)?;
    let have = m.len();
    if have == f.length {
        let mut whole = Md5::new();
        let mut at = 0u64;
        while at < have {
            let n = ((have - at) as usize).min(buf.len());
            file.read_exact_at(&mut buf[..n], at)
                .map_err(|e| Par2Error::io(path, e))?;
            whole.update(&buf[..n]);
            at += n as u64;
        }
        if <[u8; 16]>::from(whole.finalize()) == f.md5 {
            return Ok(FileState::Intact);
        }
    }
    let mut bad = Vec::new();
    for (k, (md5, crc)) in f.slices.iter().enumerate() {
        let at = k as u64 * slice;
        read_slice(&file, have, at, buf).map_err(|e| Par2Error::io(path, e))?;
        let mut c = super::crc::Crc32::new();
        c.update(buf);
        if c.finish() != *crc || <[u8; 16]>::from(Md5::digest(&*buf)) != *md5 {
            bad.push(k as u64);
        }
    }
    // Longer than recorded, its slices right: the length is set again on repair.
    Ok(FileState::Damaged { slices: bad })
}
