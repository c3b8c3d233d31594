//! Reading a set back: every `NAME.par2` and `NAME.vol*.par2` in the folder scanned for
//! packets, each kept only when its MD5 matches (a damaged stretch is skipped to the next
//! packet's magic), then the critical packets checked against each other and bounded.
//!
//! A set comes from a medium that crossed the gap, so every field is hostile until checked:
//! a packet's length is taken only up to what its type can hold (a recovery packet or one
//! of a type not known here is hashed as it streams by, never held); the set ID must be the
//! MD5 of the Main packet's body and each file ID the MD5 of the file's first-16-KiB MD5,
//! length and name; a name is a relative path of plain components; the slice size is no
//! larger than the largest file (or [`MIN_SLICE`]); the input slices number at most
//! [`MAX_SLICES`]; a recovery slice counts only with an exponent below 65,535 (higher ones
//! repeat lower ones) and exactly one slice of data.

use super::packet::{CREATOR, FILE_DESC, HEADER, IFSC, MAGIC, MAIN, RECOVERY};
use super::{FileInfo, MAX_FILES, MAX_NAME, MAX_SLICE, MAX_SLICES, MIN_SLICE};
use super::{Md5Hash, Par2Error, SetInfo};
use md5::{Digest as _, Md5};
use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io;
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};

/// Bytes read at a time.
const CHUNK: usize = 1 << 20;
/// The exponents there are: 2^65,535 is 1, so exponent 65,535 repeats exponent 0.
const EXPONENTS: u32 = 65_535;
/// The most bytes of critical packets held while a set is read: more than the Main,
/// FileDesc and IFSC packets of a set of [`MAX_FILES`] files and [`MAX_SLICES`] slices.
const MAX_HELD: usize = 192 << 20;
/// The most recovery packets kept of sets whose Main packet was not read before them (a
/// set's volumes hold the Main packet before the recovery packets).
const MAX_UNKNOWN_RECOVERY: usize = 1 << 16;
/// Bytes counted for each critical packet held besides its body.
const ENTRY: usize = 64;
/// The longest Creator packet kept (its text is not used).
const MAX_CREATOR: u64 = 64 << 10;

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
    /// Recovery packets of this set not counted: an exponent from 65,535 up, or not one
    /// slice of data.
    pub ignored_recovery: usize,
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

/// The packets found, by kind.
#[derive(Default)]
struct Found {
    mains: Vec<(Md5Hash, Vec<u8>)>,
    descs: BTreeMap<(Md5Hash, Md5Hash), Vec<u8>>,
    ifscs: BTreeMap<(Md5Hash, Md5Hash), Vec<u8>>,
    /// (set, exponent) to each copy found.
    recovery: BTreeMap<(Md5Hash, u32), Vec<Copy>>,
    /// Recovery packets by set whose exponent is out of range.
    odd_recovery: BTreeMap<Md5Hash, usize>,
    damaged: usize,
    /// Bytes of critical packets held.
    held: usize,
    /// More would have been held than [`MAX_HELD`].
    overflow: bool,
    /// Recovery packets kept of sets whose Main packet was not known when they were read.
    unknown_recovery: usize,
}

/// Where a recovery packet's data is: its file, offset and length.
type Copy = (PathBuf, u64, u64);

/// One intact packet.
struct Packet {
    set: Md5Hash,
    kind: [u8; 16],
    /// The body for a critical packet, else empty.
    body: Vec<u8>,
    /// The body's first four bytes (a recovery packet's exponent).
    first: [u8; 4],
    /// Where the body starts.
    at: u64,
    /// The body's length.
    len: u64,
}

/// Reads set `base` in `dir`.
pub fn load(dir: &Path, base: &str) -> Result<Loaded, Par2Error> {
    let index = dir.join(format!("{base}.par2"));
    let files = set_files(dir, base).map_err(|e| Par2Error::io(dir, e))?;
    let mut found = Found::default();
    for path in &files {
        let damaged =
            scan(path, &mut |p: Packet| found.take(path, p)).map_err(|e| Par2Error::io(path, e))?;
        found.damaged += damaged;
        if found.overflow {
            return Err(Par2Error::Invalid {
                path: path.clone(),
                message: format!(
                    "more than {} MiB of critical packets (descriptions and checksums of files) in the set's files: more than a set of {MAX_FILES} files and {MAX_SLICES} slices holds",
                    MAX_HELD >> 20
                ),
            });
        }
    }
    let invalid = |message: String| Par2Error::Invalid {
        path: index.clone(),
        message,
    };
    let (set_id, main) = match found.mains.len() {
        0 => {
            return Err(invalid(
                "no intact Main packet (whose set ID is the MD5 of its body) in the set's files: not a PAR 2.0 set, or all of it damaged"
                    .into(),
            ));
        }
        1 => found.mains.remove(0),
        n => {
            return Err(invalid(format!(
                "the set's files hold {n} recovery sets: one set a folder"
            )));
        }
    };
    let (slice, ids) = parse_main(&main).map_err(invalid)?;
    let mut infos = Vec::new();
    let mut total: u64 = 0;
    for id in ids {
        let desc = found
            .descs
            .get(&(set_id, id))
            .ok_or_else(|| invalid(format!("no intact description of file {}", hex(&id))))?;
        let ifsc = found.ifscs.get(&(set_id, id));
        let info = parse_file(id, desc, ifsc, slice).map_err(invalid)?;
        total = total.saturating_add(info.slices.len() as u64);
        if total > MAX_SLICES {
            return Err(invalid(format!(
                "its files are more than {MAX_SLICES} slices of {slice} bytes: more than PAR 2.0 (and seedforge) writes"
            )));
        }
        infos.push(info);
    }
    // A slice larger than the largest file holds nothing but padding: a set written so is
    // not one to trust (seedforge's slices are at least MIN_SLICE).
    let largest = infos.iter().map(|f| f.length).max().unwrap_or(0);
    if slice > largest.div_ceil(4).saturating_mul(4).max(MIN_SLICE) {
        return Err(invalid(format!(
            "a slice size of {slice} bytes, larger than its largest file ({largest} bytes)"
        )));
    }
    let mut ignored = found.odd_recovery.get(&set_id).copied().unwrap_or(0);
    let mut recovery = BTreeMap::new();
    for ((set, exp), copies) in found.recovery {
        if set != set_id {
            continue;
        }
        // A recovery slice is one slice of data: a shorter or longer packet is not one.
        match copies.into_iter().find(|c| c.2 == slice) {
            Some((path, at, _)) => {
                recovery.insert(exp, (path, at));
            }
            None => ignored += 1,
        }
    }
    Ok(Loaded {
        info: SetInfo {
            slice,
            set_id,
            files: infos,
        },
        recovery,
        par2_files: files,
        damaged_packets: found.damaged,
        ignored_recovery: ignored,
        index,
    })
}

impl Found {
    fn take(&mut self, path: &Path, p: Packet) {
        let id = |b: &[u8]| -> Md5Hash { b[..16].try_into().unwrap_or_default() };
        if self.held + p.body.len() + ENTRY > MAX_HELD {
            self.overflow = true;
            return;
        }
        match &p.kind {
            // Only a Main packet whose set ID is the MD5 of its body names a set.
            k if k == MAIN
                && !self.mains.iter().any(|m| m.0 == p.set)
                && <Md5Hash>::from(Md5::digest(&p.body)) == p.set =>
            {
                self.held += p.body.len() + ENTRY;
                self.mains.push((p.set, p.body));
            }
            k if k == FILE_DESC && p.body.len() >= 56 => {
                let len = p.body.len();
                if let std::collections::btree_map::Entry::Vacant(e) =
                    self.descs.entry((p.set, id(&p.body)))
                {
                    self.held += len + ENTRY;
                    e.insert(p.body);
                }
            }
            k if k == IFSC && p.body.len() >= 16 => {
                let len = p.body.len();
                if let std::collections::btree_map::Entry::Vacant(e) =
                    self.ifscs.entry((p.set, id(&p.body)))
                {
                    self.held += len + ENTRY;
                    e.insert(p.body);
                }
            }
            k if k == RECOVERY && p.len >= 4 => {
                let exp = u32::from_le_bytes(p.first);
                // A set whose Main packet is known holds at most a few copies of each of
                // its exponents; packets of sets not (yet) known are kept up to a bound.
                let known = self.mains.iter().any(|m| m.0 == p.set);
                let room = known || self.unknown_recovery < MAX_UNKNOWN_RECOVERY;
                if exp < EXPONENTS && room {
                    let copies = self.recovery.entry((p.set, exp)).or_default();
                    if copies.len() < 4 {
                        copies.push((path.to_path_buf(), p.at + 4, p.len - 4));
                        self.unknown_recovery += usize::from(!known);
                    }
                } else {
                    *self.odd_recovery.entry(p.set).or_default() += 1;
                }
            }
            _ => {}
        }
    }
}

/// The slice size and the file IDs of the recovery set, from a Main packet's body.
fn parse_main(main: &[u8]) -> Result<(u64, Vec<Md5Hash>), String> {
    let bad = |why: &str| format!("a Main packet that does not hold together: {why}");
    if main.len() < 12 {
        return Err(bad("too short"));
    }
    let slice = u64::from_le_bytes(main[..8].try_into().unwrap_or_default());
    let count = u32::from_le_bytes(main[8..12].try_into().unwrap_or_default());
    if slice == 0 || !slice.is_multiple_of(4) || slice > MAX_SLICE {
        return Err(bad(&format!(
            "a slice size of {slice} bytes (not a positive multiple of 4 up to {MAX_SLICE})"
        )));
    }
    if u64::from(count) > MAX_FILES {
        return Err(bad(&format!("{count} files, more than {MAX_FILES}")));
    }
    let ids_end = 12 + 16 * count as usize;
    // The recovery set's IDs, then perhaps those of files outside it (not used here).
    if main.len() < ids_end || !(main.len() - ids_end).is_multiple_of(16) {
        return Err(bad(&format!(
            "{count} file IDs in a body of {} bytes",
            main.len()
        )));
    }
    let ids: Vec<Md5Hash> = main[12..ids_end]
        .chunks_exact(16)
        .map(|c| c.try_into().unwrap_or_default())
        .collect();
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    sorted.dedup();
    if sorted.len() != ids.len() {
        return Err(bad("a file ID given twice"));
    }
    Ok((slice, ids))
}

/// One file of the set from its FileDesc and IFSC bodies.
fn parse_file(
    id: Md5Hash,
    desc: &[u8],
    ifsc: Option<&Vec<u8>>,
    slice: u64,
) -> Result<FileInfo, String> {
    let length = u64::from_le_bytes(desc[48..56].try_into().unwrap_or_default());
    let md5_16k: Md5Hash = desc[32..48].try_into().unwrap_or_default();
    let raw = &desc[56..];
    let end = raw.iter().rposition(|b| *b != 0).map_or(0, |p| p + 1);
    let raw = &raw[..end];
    let shown = String::from_utf8_lossy(raw).into_owned();
    if super::file_id(&md5_16k, length, raw) != id {
        return Err(format!(
            "the description of {shown:?} does not match its file ID {} (the MD5 of its first 16 KiB's MD5, length and name)",
            hex(&id)
        ));
    }
    let name = std::str::from_utf8(raw)
        .ok()
        .filter(|n| super::valid_name(n))
        .ok_or_else(|| {
            format!(
                "a file named {shown:?}: a name in a set is a relative path of plain components (no \"..\", \".\", empty or absolute one), at most {MAX_NAME} bytes"
            )
        })?
        .to_string();
    let n = length.div_ceil(slice);
    if n > MAX_SLICES {
        return Err(format!(
            "{name}: {length} bytes, more than {MAX_SLICES} slices of {slice} bytes"
        ));
    }
    let n = n as usize;
    let ifsc = ifsc.ok_or_else(|| format!("no intact slice checksums of {name}"))?;
    if ifsc.len() < 16 + 20 * n {
        return Err(format!("the slice checksums of {name} are short"));
    }
    let slices = (0..n)
        .map(|k| {
            let at = 16 + 20 * k;
            let md5: Md5Hash = ifsc[at..at + 16].try_into().unwrap_or_default();
            let crc = u32::from_le_bytes(ifsc[at + 16..at + 20].try_into().unwrap_or_default());
            (md5, crc)
        })
        .collect();
    Ok(FileInfo {
        id,
        name,
        length,
        md5: desc[16..32].try_into().unwrap_or_default(),
        md5_16k,
        slices,
    })
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The most bytes a packet of `kind` can be (a critical one's body is kept in memory);
/// `None` for a packet streamed through its MD5 and never held.
fn held_cap(kind: &[u8; 16]) -> Option<u64> {
    if kind == MAIN {
        Some(HEADER + 12 + 16 * 2 * MAX_FILES)
    } else if kind == FILE_DESC {
        Some(HEADER + 56 + MAX_NAME as u64 + 4)
    } else if kind == IFSC {
        Some(HEADER + 16 + 20 * MAX_SLICES)
    } else if kind == CREATOR {
        Some(HEADER + MAX_CREATOR)
    } else {
        None
    }
}

/// Calls `found` for each packet of `path` whose MD5 checks; returns how many stretches
/// did not (damaged, or a critical packet longer than its kind can be).
fn scan(path: &Path, found: &mut dyn FnMut(Packet)) -> io::Result<usize> {
    let file = super::open(path).map_err(|e| match e {
        Par2Error::Io { source, .. } => source,
        other => io::Error::other(other.to_string()),
    })?;
    let len = file.metadata()?.len();
    let mut at = 0u64;
    let mut buf = vec![0u8; CHUNK];
    let mut damaged = 0;
    while at.saturating_add(HEADER) <= len {
        let mut head = [0u8; 64];
        file.read_exact_at(&mut head, at)?;
        if let Some(plen) = intact(&file, &head, at, len, &mut buf, found)? {
            at += plen;
            continue;
        }
        damaged += 1;
        // The next packet's magic, four bytes on.
        at = match next_magic(&file, at + 4, len, &mut buf)? {
            Some(next) => next,
            None => break,
        };
    }
    Ok(damaged)
}

/// The packet at `at` when it is intact (its length, after `found` has it).
fn intact(
    file: &File,
    head: &[u8; 64],
    at: u64,
    len: u64,
    buf: &mut [u8],
    found: &mut dyn FnMut(Packet),
) -> io::Result<Option<u64>> {
    let plen = u64::from_le_bytes(head[8..16].try_into().unwrap_or_default());
    let kind: [u8; 16] = head[48..64].try_into().unwrap_or_default();
    let cap = held_cap(&kind);
    let sane = &head[..8] == MAGIC
        && plen >= HEADER
        && plen.is_multiple_of(4)
        && plen <= len - at
        && cap.is_none_or(|c| plen <= c);
    if !sane {
        return Ok(None);
    }
    let set: Md5Hash = head[32..48].try_into().unwrap_or_default();
    let want: Md5Hash = head[16..32].try_into().unwrap_or_default();
    let mut h = Md5::new();
    h.update(&head[32..]);
    let mut body = Vec::new();
    let mut first = [0u8; 4];
    let mut pos = at + HEADER;
    let end = at + plen;
    while pos < end {
        let n = ((end - pos) as usize).min(buf.len());
        file.read_exact_at(&mut buf[..n], pos)?;
        h.update(&buf[..n]);
        if pos == at + HEADER {
            let k = n.min(4);
            first[..k].copy_from_slice(&buf[..k]);
        }
        if cap.is_some() {
            body.extend_from_slice(&buf[..n]);
        }
        pos += n as u64;
    }
    if <[u8; 16]>::from(h.finalize()) != want {
        return Ok(None);
    }
    found(Packet {
        set,
        kind,
        body,
        first,
        at: at + HEADER,
        len: plen - HEADER,
    });
    Ok(Some(plen))
}

fn next_magic(file: &File, from: u64, len: u64, buf: &mut [u8]) -> io::Result<Option<u64>> {
    let mut at = from;
    while at < len {
        let n = ((len - at) as usize).min(buf.len());
        file.read_exact_at(&mut buf[..n], at)?;
        if let Some(p) = buf[..n].windows(8).position(|w| w == MAGIC) {
            return Ok(Some(at + p as u64));
        }
        if n < 8 || n < buf.len() {
            break;
        }
        at += (n - 7) as u64;
    }
    Ok(None)
}
