//! Reading ISO 9660 images: the primary tree (with Rock Ridge names and modes when
//! present) and the Joliet tree, listed and extracted.
//!
//! `seedforge verify` and the tests use this reader to check what the writer produced, and
//! it also opens images made by other tools. An image is untrusted input: every offset and
//! length is checked against the buffer and the image size, directory loops and runaway
//! continuation chains are cut off, names that would escape the extraction directory are
//! refused, and any inconsistency is an [`IsoError::Malformed`], never a panic.
//!
//! Work and memory are bounded by the image's size: one listing reads at most as many
//! bytes of directories and continuation areas as the image holds (in a sound image they
//! never overlap, so overlapping extents that would make a small image read gigabytes
//! are refused), and names and paths have the lengths a file system can hold, so a small
//! image cannot make the listing grow without bound.

use super::{IsoError, SECTOR};
use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Directory nesting the reader follows before it gives up.
const MAX_DEPTH: usize = 64;
/// Entries the reader lists before it gives up.
const MAX_ENTRIES: usize = 1_000_000;
/// Largest directory extent the reader loads.
const MAX_DIR_BYTES: u32 = 64 << 20;
/// SUSP continuation areas followed per record.
const MAX_CONTINUATIONS: usize = 16;
/// Longest name (UTF-8 bytes) the reader accepts; Linux's `NAME_MAX` is 255.
const MAX_NAME_BYTES: usize = 1024;
/// Longest path (UTF-8 bytes) the reader accepts, Linux's `PATH_MAX`.
const MAX_PATH_BYTES: usize = 4096;

/// Which names to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Namespace {
    /// The primary tree's raw identifiers (`USER_DAT.;1`).
    Iso,
    /// The primary tree with Rock Ridge names and modes.
    RockRidge,
    /// The Joliet tree.
    Joliet,
}

/// One file or directory in an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Path relative to the root, `/`-separated.
    pub path: String,
    /// True for directories.
    pub is_dir: bool,
    /// Bytes of file data (0 for directories).
    pub size: u64,
    /// POSIX mode from Rock Ridge `PX`, if the namespace carries one.
    pub mode: Option<u32>,
    /// The data extents: (first sector, bytes).
    pub extents: Vec<(u32, u32)>,
}

/// An opened image.
#[derive(Debug)]
pub struct IsoImage<R = File> {
    src: R,
    path: PathBuf,
    size: u64,
    /// The primary volume identifier.
    pub volume_id: String,
    /// The Joliet volume identifier, if the image has a Joliet tree.
    pub joliet_volume_id: Option<String>,
    /// True if the root carries the SUSP `SP` entry (Rock Ridge in use).
    pub rock_ridge: bool,
    primary_root: (u32, u32),
    joliet_root: Option<(u32, u32)>,
    /// Bytes of directories and continuation areas the current listing may still read.
    metadata_left: u64,
}

/// One raw directory record.
struct Record {
    id: Vec<u8>,
    flags: u8,
    lba: u32,
    len: u32,
    su: Vec<u8>,
}

fn le32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

impl IsoImage<File> {
    /// Opens the image at `path`.
    pub fn open(path: &Path) -> Result<IsoImage<File>, IsoError> {
        let file = crate::input::open_regular(path).map_err(|e| IsoError::Io {
            path: path.to_path_buf(),
            source: e.into_io(),
        })?;
        let size = file
            .metadata()
            .map_err(|source| IsoError::Io {
                path: path.to_path_buf(),
                source,
            })?
            .len();
        IsoImage::from_reader(file, size, path)
    }
}

impl<R: Read + Seek> IsoImage<R> {
    /// Opens an image held by `src` (`size` bytes); `path` only names it in errors.
    pub fn from_reader(src: R, size: u64, path: &Path) -> Result<IsoImage<R>, IsoError> {
        let mut img = IsoImage {
            src,
            path: path.to_path_buf(),
            size,
            volume_id: String::new(),
            joliet_volume_id: None,
            rock_ridge: false,
            primary_root: (0, 0),
            joliet_root: None,
            metadata_left: size,
        };
        img.read_descriptors()?;
        let (lba, len) = img.primary_root;
        let records = img.read_dir(lba, len)?;
        if let Some(dot) = records.first() {
            img.rock_ridge =
                dot.su.get(..2) == Some(b"SP") && dot.su.get(4..6) == Some(&[0xBE, 0xEF]);
        }
        Ok(img)
    }

    fn malformed(&self, reason: impl Into<String>) -> IsoError {
        IsoError::Malformed {
            path: self.path.clone(),
            reason: reason.into(),
        }
    }

    /// Counts `len` bytes of metadata against the listing's budget (the image size).
    fn charge_metadata(&mut self, len: u32, what: &str) -> Result<(), IsoError> {
        match self.metadata_left.checked_sub(u64::from(len)) {
            Some(left) => {
                self.metadata_left = left;
                Ok(())
            }
            None => Err(self.malformed(format!(
                "{what}: directories and continuation areas together claim more bytes than \
                 the image holds (overlapping extents)"
            ))),
        }
    }

    /// Reads `len` bytes at `offset`, refusing anything past the end of the image.
    fn read_at(&mut self, offset: u64, len: usize) -> Result<Vec<u8>, IsoError> {
        let end = offset.checked_add(len as u64);
        if end.is_none_or(|e| e > self.size) {
            return Err(self.malformed(format!(
                "{len} bytes at offset {offset} lie past the end of the image"
            )));
        }
        let mut buf = vec![0u8; len];
        let io = |e: io::Error| IsoError::Io {
            path: self.path.clone(),
            source: e,
        };
        self.src.seek(SeekFrom::Start(offset)).map_err(io)?;
        self.src.read_exact(&mut buf).map_err(|e| IsoError::Io {
            path: self.path.clone(),
            source: e,
        })?;
        Ok(buf)
    }

    fn read_descriptors(&mut self) -> Result<(), IsoError> {
        let mut primary = false;
        for sector in 16..16 + 64u64 {
            let d = self.read_at(sector * SECTOR, SECTOR as usize)?;
            if d.get(1..6) != Some(b"CD001") {
                return Err(self.malformed(format!("sector {sector} is not a volume descriptor")));
            }
            let root = |d: &[u8]| Some((le32(d, 158)?, le32(d, 166)?));
            match d[0] {
                1 if !primary => {
                    primary = true;
                    // Every offset below is counted in 2048-byte blocks; an image that
                    // says otherwise would be read at the wrong places.
                    let block = u16::from_le_bytes([d[128], d[129]]);
                    if block != SECTOR as u16 {
                        return Err(self.malformed(format!(
                            "logical block size {block}; this reader supports {SECTOR}-byte blocks only"
                        )));
                    }
                    self.volume_id = String::from_utf8_lossy(&d[40..72]).trim_end().to_string();
                    self.primary_root = root(&d).unwrap_or((0, 0));
                }
                2 if matches!(d.get(88..91), Some(b"%/@" | b"%/C" | b"%/E")) => {
                    self.joliet_volume_id = Some(ucs2(&d[40..72]).trim_end().to_string());
                    self.joliet_root = root(&d);
                }
                255 if primary => return Ok(()),
                255 => break,
                _ => {}
            }
        }
        Err(self.malformed("no primary volume descriptor before the terminator"))
    }

    /// The records of the directory extent at `lba`, `len` bytes.
    fn read_dir(&mut self, lba: u32, len: u32) -> Result<Vec<Record>, IsoError> {
        if len > MAX_DIR_BYTES {
            return Err(self.malformed(format!(
                "directory at sector {lba} claims {len} bytes, more than the {MAX_DIR_BYTES}-byte limit"
            )));
        }
        self.charge_metadata(len, &format!("directory at sector {lba}"))?;
        let buf = self.read_at(u64::from(lba) * SECTOR, len as usize)?;
        let mut out = Vec::new();
        let mut pos = 0usize;
        while pos < buf.len() {
            let rec_len = usize::from(buf[pos]);
            if rec_len == 0 {
                pos = (pos / SECTOR as usize + 1) * SECTOR as usize;
                continue;
            }
            let Some(rec) = buf.get(pos..pos + rec_len).and_then(parse_record) else {
                return Err(
                    self.malformed(format!("bad directory record at sector {lba} offset {pos}"))
                );
            };
            out.push(rec);
            pos += rec_len;
        }
        Ok(out)
    }

    /// Every entry of the tree `ns` names, sorted by path (a directory before its contents).
    pub fn entries(&mut self, ns: Namespace) -> Result<Vec<Entry>, IsoError> {
        let root = match ns {
            Namespace::Joliet => self
                .joliet_root
                .ok_or_else(|| self.malformed("the image has no Joliet tree"))?,
            _ => self.primary_root,
        };
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        let mut stack = vec![(String::new(), root, 0usize)];
        self.metadata_left = self.size;
        while let Some((prefix, (lba, len), depth)) = stack.pop() {
            if depth > MAX_DEPTH || !seen.insert(lba) {
                return Err(self.malformed(format!(
                    "directory loop or nesting beyond {MAX_DEPTH} at sector {lba}"
                )));
            }
            let mut subdirs = Vec::new();
            for entry in self.dir_entries(lba, len, ns, &prefix)? {
                if entry.is_dir {
                    let ext = entry.extents.first().copied().unwrap_or((0, 0));
                    subdirs.push((entry.path.clone(), ext, depth + 1));
                }
                out.push(entry);
                if out.len() > MAX_ENTRIES {
                    return Err(
                        self.malformed(format!("more than the limit of {MAX_ENTRIES} entries"))
                    );
                }
            }
            stack.extend(subdirs.into_iter().rev());
        }
        order_depth_first(&mut out);
        Ok(out)
    }

    /// The entries of one directory, multi-extent files merged.
    fn dir_entries(
        &mut self,
        lba: u32,
        len: u32,
        ns: Namespace,
        prefix: &str,
    ) -> Result<Vec<Entry>, IsoError> {
        let records = self.read_dir(lba, len)?;
        let mut out: Vec<Entry> = Vec::new();
        let mut continues = false;
        for rec in records {
            if rec.id == [0] || rec.id == [1] {
                continue;
            }
            let (name, mode) = self.name_and_mode(&rec, ns)?;
            check_name(&name).map_err(|why| {
                let shown: String = name.chars().take(64).collect();
                self.malformed(format!("entry {shown:?} in {prefix:?}: {why}"))
            })?;
            if prefix.len() + 1 + name.len() > MAX_PATH_BYTES {
                return Err(self.malformed(format!(
                    "a path in {prefix:?} is longer than {MAX_PATH_BYTES} bytes"
                )));
            }
            let path = if prefix.is_empty() {
                name
            } else {
                format!("{prefix}/{name}")
            };
            match out.last_mut() {
                Some(last) if continues && last.path == path => {
                    last.size += u64::from(rec.len);
                    last.extents.push((rec.lba, rec.len));
                }
                _ => out.push(Entry {
                    path,
                    is_dir: rec.flags & 0x02 != 0,
                    size: if rec.flags & 0x02 != 0 {
                        0
                    } else {
                        u64::from(rec.len)
                    },
                    mode,
                    extents: vec![(rec.lba, rec.len)],
                }),
            }
            continues = rec.flags & 0x80 != 0;
        }
        Ok(out)
    }

    fn name_and_mode(
        &mut self,
        rec: &Record,
        ns: Namespace,
    ) -> Result<(String, Option<u32>), IsoError> {
        match ns {
            Namespace::Iso => Ok((String::from_utf8_lossy(&rec.id).into_owned(), None)),
            Namespace::Joliet => Ok((strip_version(&ucs2(&rec.id)), None)),
            Namespace::RockRidge => {
                let (nm, mode) = self.rock_ridge_fields(&rec.su)?;
                let name = match nm {
                    Some(n) => String::from_utf8_lossy(&n).into_owned(),
                    None => strip_version(&String::from_utf8_lossy(&rec.id))
                        .trim_end_matches('.')
                        .to_string(),
                };
                Ok((name, mode))
            }
        }
    }

    /// `NM` name and `PX` mode from a system use area and its continuations.
    fn rock_ridge_fields(&mut self, su: &[u8]) -> Result<(Option<Vec<u8>>, Option<u32>), IsoError> {
        let mut name: Option<Vec<u8>> = None;
        let mut mode = None;
        let mut area = su.to_vec();
        for _ in 0..=MAX_CONTINUATIONS {
            let mut next = None;
            for (sig, e) in susp_entries(&area) {
                match &sig {
                    b"PX" => mode = le32(e, 4),
                    b"NM" if e.get(4).is_some_and(|f| f & 0x06 == 0) => {
                        let name = name.get_or_insert_with(Vec::new);
                        name.extend_from_slice(e.get(5..).unwrap_or(&[]));
                        if name.len() > MAX_NAME_BYTES {
                            return Err(self.malformed(format!(
                                "a Rock Ridge name is longer than {MAX_NAME_BYTES} bytes"
                            )));
                        }
                    }
                    b"CE" => next = Some((le32(e, 4), le32(e, 12), le32(e, 20))),
                    _ => {}
                }
            }
            match next {
                Some((Some(lba), Some(off), Some(len))) if len <= SECTOR as u32 => {
                    self.charge_metadata(len, &format!("continuation area at sector {lba}"))?;
                    area = self.read_at(u64::from(lba) * SECTOR + u64::from(off), len as usize)?;
                }
                Some(_) => {
                    return Err(self.malformed(format!(
                        "bad SUSP continuation entry (an area is at most {SECTOR} bytes)"
                    )));
                }
                None => return Ok((name, mode)),
            }
        }
        Err(self.malformed(format!(
            "SUSP continuation chain longer than the limit of {MAX_CONTINUATIONS}"
        )))
    }

    /// Writes the data of file `entry` to `out`; returns the bytes written.
    pub fn copy_to(&mut self, entry: &Entry, out: &mut impl Write) -> Result<u64, IsoError> {
        let mut total = 0;
        for &(lba, len) in &entry.extents {
            let start = u64::from(lba) * SECTOR;
            if start + u64::from(len) > self.size {
                return Err(self.malformed(format!(
                    "{}: extent at sector {lba} runs past the end of the image",
                    entry.path
                )));
            }
            self.src
                .seek(SeekFrom::Start(start))
                .map_err(|e| IsoError::Io {
                    path: self.path.clone(),
                    source: e,
                })?;
            let n = io::copy(&mut (&mut self.src).take(u64::from(len)), out).map_err(|e| {
                IsoError::Io {
                    path: self.path.clone(),
                    source: e,
                }
            })?;
            total += n;
        }
        Ok(total)
    }

    /// Extracts the tree `ns` names under `dest` (created); modes come from Rock Ridge when
    /// present, else 0644/0755. Returns the number of files written.
    pub fn extract(&mut self, ns: Namespace, dest: &Path) -> Result<usize, IsoError> {
        let io = |p: &Path, e: io::Error| IsoError::Io {
            path: p.to_path_buf(),
            source: e,
        };
        fs::create_dir_all(dest).map_err(|e| io(dest, e))?;
        let mut files = 0;
        for entry in self.entries(ns)? {
            let target = dest.join(&entry.path);
            if entry.is_dir {
                fs::create_dir_all(&target).map_err(|e| io(&target, e))?;
                continue;
            }
            let mut f = File::create(&target).map_err(|e| io(&target, e))?;
            self.copy_to(&entry, &mut f)?;
            let mode = entry.mode.map_or(0o644, |m| m & 0o777);
            crate::modes::set_path(&target, mode).map_err(|e| io(&target, e))?;
            files += 1;
        }
        Ok(files)
    }
}

fn parse_record(r: &[u8]) -> Option<Record> {
    let id_len = usize::from(*r.get(32)?);
    let id = r.get(33..33 + id_len)?.to_vec();
    let su_start = 33 + id_len + (1 - id_len % 2);
    Some(Record {
        flags: *r.get(25)?,
        lba: le32(r, 2)?,
        len: le32(r, 10)?,
        su: r.get(su_start..).unwrap_or(&[]).to_vec(),
        id,
    })
}

/// The SUSP entries of one area as (signature, whole entry); stops at `ST` or garbage.
fn susp_entries(area: &[u8]) -> Vec<([u8; 2], &[u8])> {
    let mut out = Vec::new();
    let mut pos = 0;
    while let Some(head) = area.get(pos..pos + 4) {
        let len = usize::from(head[2]);
        let Some(entry) = area.get(pos..pos + len).filter(|_| len >= 4) else {
            break;
        };
        let sig = [head[0], head[1]];
        if &sig == b"ST" {
            break;
        }
        out.push((sig, entry));
        pos += len;
    }
    out
}

fn ucs2(b: &[u8]) -> String {
    let units: Vec<u16> = b
        .chunks_exact(2)
        .map(|p| u16::from_be_bytes([p[0], p[1]]))
        .collect();
    String::from_utf16_lossy(&units)
}

/// `NAME.EXT;1` → `NAME.EXT`.
fn strip_version(name: &str) -> String {
    match name.rsplit_once(';') {
        Some((base, v)) if v.bytes().all(|b| b.is_ascii_digit()) => base.to_string(),
        _ => name.to_string(),
    }
}

/// Refuses names that would escape or confuse an extraction directory.
fn check_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() || name == "." || name == ".." {
        return Err("empty or dot name");
    }
    if name.contains('/') || name.contains('\0') {
        return Err("name holds '/' or NUL");
    }
    if name.len() > MAX_NAME_BYTES {
        return Err("name longer than 1024 bytes");
    }
    Ok(())
}

/// Puts entries in depth-first order (a directory right before its contents).
fn order_depth_first(entries: &mut [Entry]) {
    entries.sort_by(|a, b| a.path.split('/').cmp(b.path.split('/')));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    /// One directory record; `flags` 0x02 marks a directory.
    fn record(id: &[u8], flags: u8, lba: u32, len: u32, su: &[u8]) -> Vec<u8> {
        let pad = 1 - id.len() % 2;
        let total = 33 + id.len() + pad + su.len();
        let mut r = vec![0u8; total];
        r[0] = u8::try_from(total).unwrap();
        r[2..6].copy_from_slice(&lba.to_le_bytes());
        r[6..10].copy_from_slice(&lba.to_be_bytes());
        r[10..14].copy_from_slice(&len.to_le_bytes());
        r[14..18].copy_from_slice(&len.to_be_bytes());
        r[25] = flags;
        r[32] = u8::try_from(id.len()).unwrap();
        r[33..33 + id.len()].copy_from_slice(id);
        r[33 + id.len() + pad..].copy_from_slice(su);
        r
    }

    /// An image of `sectors` sectors: a primary volume descriptor at 16 whose root is
    /// `root` (lba, bytes), a terminator at 17, and `data` placed at (lba, offset).
    fn image(sectors: usize, root: (u32, u32), data: &[(u32, usize, Vec<u8>)]) -> Vec<u8> {
        let s = SECTOR as usize;
        let mut img = vec![0u8; sectors * s];
        let pvd = &mut img[16 * s..17 * s];
        pvd[0] = 1;
        pvd[1..6].copy_from_slice(b"CD001");
        pvd[6] = 1;
        pvd[40..46].copy_from_slice(b"CIDATA");
        pvd[128..130].copy_from_slice(&2048u16.to_le_bytes());
        pvd[130..132].copy_from_slice(&2048u16.to_be_bytes());
        pvd[156..156 + 34].copy_from_slice(&record(&[0], 2, root.0, root.1, &[]));
        let term = &mut img[17 * s..18 * s];
        term[0] = 255;
        term[1..6].copy_from_slice(b"CD001");
        term[6] = 1;
        for (lba, offset, bytes) in data {
            let at = *lba as usize * s + offset;
            img[at..at + bytes.len()].copy_from_slice(bytes);
        }
        img
    }

    #[test]
    fn block_sizes_other_than_2048_are_refused() {
        for size in [0u16, 1, 512, 4096] {
            let mut img = image(21, (20, 2048), &[(20, 0, dot_entries(20, 2048))]);
            let s = SECTOR as usize;
            img[16 * s + 128..16 * s + 130].copy_from_slice(&size.to_le_bytes());
            let err = IsoImage::from_reader(Cursor::new(img), 21 * SECTOR, Path::new("x.iso"))
                .err()
                .unwrap();
            assert!(
                err.to_string()
                    .contains(&format!("logical block size {size}")),
                "{err}"
            );
        }
    }

    fn open(img: Vec<u8>) -> IsoImage<Cursor<Vec<u8>>> {
        let size = img.len() as u64;
        IsoImage::from_reader(Cursor::new(img), size, Path::new("crafted.iso")).unwrap()
    }

    fn dot_entries(lba: u32, len: u32) -> Vec<u8> {
        let mut d = record(&[0], 2, lba, len, &[]);
        d.extend(record(&[1], 2, lba, len, &[]));
        d
    }

    /// A 128 KiB image whose 40 subdirectories all run to its end: listing it would read
    /// every later sector again for each of them (quadratic in the image size), so the
    /// reader stops once the directories claim more bytes than the image holds.
    #[test]
    fn overlapping_directory_extents_are_refused_not_reread() {
        let sectors = 64u32;
        let mut root = dot_entries(20, 2048);
        for i in 0..40u32 {
            let lba = 21 + i;
            root.extend(record(
                format!("D{i:02}").as_bytes(),
                2,
                lba,
                (sectors - lba) * 2048,
                &[],
            ));
        }
        assert!(root.len() <= 2048);
        let mut img = open(image(sectors as usize, (20, 2048), &[(20, 0, root)]));
        let err = img.entries(Namespace::Iso).unwrap_err().to_string();
        assert!(err.contains("overlapping"), "{err}");
    }

    /// Sound images are listed with their directories read once each.
    #[test]
    fn disjoint_directories_fit_the_budget() {
        let mut root = dot_entries(20, 2048);
        root.extend(record(b"A", 2, 21, 2048, &[]));
        root.extend(record(b"F.;1", 0, 22, 5, &[]));
        let sub = dot_entries(21, 2048);
        let mut img = open(image(
            23,
            (20, 2048),
            &[(20, 0, root), (21, 0, sub), (22, 0, b"hello".to_vec())],
        ));
        let entries = img.entries(Namespace::Iso).unwrap();
        let paths: Vec<&str> = entries.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["A", "F.;1"]);
        let mut data = Vec::new();
        img.copy_to(&entries[1], &mut data).unwrap();
        assert_eq!(data, b"hello");
    }

    /// A Rock Ridge name made of many `NM` entries in a continuation area may not grow
    /// past what a file system can hold.
    #[test]
    fn rock_ridge_name_longer_than_a_file_system_allows_is_refused() {
        let mut ce = vec![b'C', b'E', 28, 1];
        for v in [30u32, 0, 2048] {
            ce.extend(v.to_le_bytes());
            ce.extend(v.to_be_bytes());
        }
        let mut area = Vec::new();
        for _ in 0..8 {
            let mut nm = vec![b'N', b'M', 250, 1, 0x01];
            nm.extend([b'x'; 245]);
            area.extend(nm);
        }
        let mut root = dot_entries(20, 2048);
        root.extend(record(b"F.;1", 0, 21, 0, &ce));
        let mut img = open(image(31, (20, 2048), &[(20, 0, root), (30, 0, area)]));
        let err = img.entries(Namespace::RockRidge).unwrap_err().to_string();
        assert!(err.contains("longer than 1024 bytes"), "{err}");
    }

    /// A chain of nested directories with long names: paths stop at `PATH_MAX`, so a
    /// listing's memory stays proportional to the image.
    #[test]
    fn paths_longer_than_path_max_are_refused() {
        let name = [b'N'; 200];
        let mut data = Vec::new();
        let levels = 30u32;
        for level in 0..levels {
            let lba = 20 + level;
            let mut dir = dot_entries(lba, 2048);
            if level + 1 < levels {
                dir.extend(record(&name, 2, lba + 1, 2048, &[]));
            }
            data.push((lba, 0, dir));
        }
        let mut img = open(image((20 + levels) as usize, (20, 2048), &data));
        let err = img.entries(Namespace::Iso).unwrap_err().to_string();
        assert!(err.contains("longer than 4096 bytes"), "{err}");
    }
}
