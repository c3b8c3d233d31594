//! Writing an image: scan, lay out, serialise the metadata, then stream file data.
//!
//! The descriptors, path tables, directories and continuation areas are built in memory:
//! their size grows with the number of entries, not with their bytes. File data is then
//! copied straight from each source file to its sectors with `std::io::copy`, which uses `copy_file_range` between files on Linux and a
//! buffered copy elsewhere, so memory stays flat whatever the payload; a large image on a
//! file system that cannot share extents is written with direct I/O instead ([`super::direct`]). Holes in sparse
//! sources (found with `SEEK_DATA`/`SEEK_HOLE`) are skipped, leaving holes in the image
//! that read back as the same zeros. The image is written to a temporary file beside the
//! destination, synced, and renamed into place: a failed or interrupted run never leaves a
//! partial image under the final name.

use super::direct;
use super::layout::{Hierarchy, Plan, extent_count, id_bytes, px_tf};
use super::records::{
    self, DateTime, FLAG_DIR, FLAG_MULTI_EXTENT, MAX_EXTENT, TreeLocation, VolumeFields,
};
use super::tree::{NodeKind, Tree};
use super::{IsoError, SECTOR, io_err};
use crate::util::start_writeback;
use sha2::{Digest as _, Sha256};
use std::fs::{self, File};
use std::io::{self, Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// How to write an image.
#[derive(Debug, Clone)]
pub struct IsoOptions {
    /// Volume label as given (Joliet volume id); the ISO volume id is its upper-case form.
    pub label: String,
    /// Every date in the image, in seconds since the Unix epoch.
    pub source_date_epoch: u64,
    /// Application identifier recorded in the volume descriptors (a-characters).
    pub application_id: String,
    /// Files (paths relative to the source directory) whose data goes after the
    /// directories, so that images differing only in these files' contents begin with the
    /// same bytes ([`super::layout`]); empty for the plain layout.
    pub last: Vec<PathBuf>,
    /// The files (paths relative to the source directory) the image records as
    /// executable (mode 0755; every other file 0644), whatever their permission bits say;
    /// `None` takes it from the bits (any execute bit). A writer that knows what each file
    /// is says so: a source on a file system without Unix modes (NTFS, exFAT, FAT) reports
    /// every file executable, or none, and would change the image's bytes.
    pub executable: Option<Vec<PathBuf>>,
}

/// Longest label, in UCS-2 units (the Joliet volume id field is 32 bytes).
pub const LABEL_MAX_UNITS: usize = 16;

/// What was written.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct IsoSummary {
    /// The image file.
    pub path: PathBuf,
    /// Regular files in the image.
    pub files: usize,
    /// Directories in the image, the root included.
    pub dirs: usize,
    /// Bytes of file data.
    pub payload_bytes: u64,
    /// Bytes of the image.
    pub image_bytes: u64,
    /// The image's sha256 (hex), when it was asked for ([`write_iso_with_mode`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

/// Writes the tree under `src` as an ISO 9660 image with Joliet and Rock Ridge at `out`.
pub fn write_iso(src: &Path, out: &Path, opts: &IsoOptions) -> Result<IsoSummary, IsoError> {
    write_iso_inner(src, out, opts, None, None)
}

/// Like [`write_iso`], with the image file created at `mode` (exactly, whatever the
/// umask), so an image that carries secrets is never readable by others, not even while
/// it is written; with `digests`, the summary carries the image's sha256, its shared
/// prefix ([`IsoOptions::last`]) hashed once per `digests` for every image that has it.
pub fn write_iso_with_mode(
    src: &Path,
    out: &Path,
    opts: &IsoOptions,
    mode: u32,
    digests: Option<&DigestCache>,
) -> Result<IsoSummary, IsoError> {
    write_iso_inner(src, out, opts, Some(mode), digests)
}

fn write_iso_inner(
    src: &Path,
    out: &Path,
    opts: &IsoOptions,
    mode: Option<u32>,
    digests: Option<&DigestCache>,
) -> Result<IsoSummary, IsoError> {
    let date = DateTime::from_epoch(opts.source_date_epoch)?;
    let (iso_label, joliet_label) = check_label(&opts.label)?;
    refuse_output_inside_source(src, out)?;
    let mut tree = Tree::scan(src)?;
    if let Some(executable) = &opts.executable {
        tree.set_executable(executable)?;
    }
    let last = tree.mark(&opts.last)?;
    let plan = Plan::new(&tree, date.stamp7(), &last)?;
    let meta = metadata(&tree, &plan, opts, &iso_label, &joliet_label, &date);
    let image_bytes = u64::from(plan.total_sectors) * SECTOR;
    let payload_bytes = tree.nodes.iter().map(|n| n.size()).sum();
    // The output's folder is made once the tree has been checked.
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
    }
    let mut sha256 = None;
    write_atomically(out, mode, |file, tmp| {
        use std::os::unix::fs::FileExt as _;
        let direct = (payload_bytes >= direct::MIN_BYTES)
            .then(|| direct::open(tmp, file))
            .flatten();
        if let Some(direct) = direct {
            let mut pieces = image_pieces(&tree, &plan, &meta.head, &meta.body);
            direct::write(direct, &mut pieces, file, out)?;
        } else {
            file.write_all(&meta.head).map_err(|e| io_err(out, e))?;
            file.write_all_at(&meta.body, u64::from(plan.meta_start) * SECTOR)
                .map_err(|e| io_err(out, e))?;
            copy_files(&tree, &plan, file, out)?;
        }
        file.set_len(image_bytes).map_err(|e| io_err(out, e))?;
        if let Some(cache) = digests {
            sha256 = Some(digest(&tree, &plan, &meta.head, file, out, cache)?);
        }
        Ok(())
    })?;
    let files = tree.nodes.iter().filter(|n| !n.is_dir()).count();
    Ok(IsoSummary {
        path: out.to_path_buf(),
        files,
        dirs: tree.nodes.len() - files,
        payload_bytes,
        image_bytes,
        sha256,
    })
}

/// Digests of image prefixes, shared by the images one run writes (a build's seed ISOs):
/// images of the same tree whose [`IsoOptions::last`] files differ begin with the same
/// bytes, the shared files' data among them, and those are hashed once.
///
/// A prefix is known by its descriptors and, for each shared file, its place, size and
/// identity: its content's digest when small, else its device, inode, size and mtime (a
/// run's shared files are the same files, hard-linked into each image's source).
///
/// Images may be written on several threads at once: the first to need a prefix hashes
/// it while the others that need the same one wait for it.
#[derive(Debug, Default)]
pub struct DigestCache {
    prefixes: Mutex<Vec<([u8; 32], PrefixSlot)>>,
    /// Bytes read to hash prefixes (for tests and reports).
    prefix_bytes: std::sync::atomic::AtomicU64,
}

impl DigestCache {
    /// Bytes of shared file data read so far to hash prefixes.
    pub fn prefix_bytes(&self) -> u64 {
        self.prefix_bytes.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The slot of the prefix known by `key` (empty until someone hashed it).
    fn slot(&self, key: [u8; 32]) -> PrefixSlot {
        let mut prefixes = lock(&self.prefixes);
        if let Some((_, slot)) = prefixes.iter().find(|(k, _)| *k == key) {
            return Arc::clone(slot);
        }
        let slot = Arc::new(Mutex::new(None));
        prefixes.push((key, Arc::clone(&slot)));
        slot
    }
}

/// A prefix's hash state once someone has made it.
type PrefixSlot = Arc<Mutex<Option<Sha256>>>;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A shared file is known by its content's digest below this size.
const SMALL_FILE: u64 = 1 << 20;

/// The sha256 (hex) of the image just written to `file`: its shared prefix from `cache`
/// (hashed from the head and the shared files' sources when new), the rest read back.
fn digest(
    tree: &Tree,
    plan: &Plan,
    head: &[u8],
    file: &File,
    out: &Path,
    cache: &DigestCache,
) -> Result<String, IsoError> {
    let prefix_end = u64::from(plan.shared_sectors) * SECTOR;
    let mut hasher = if prefix_end == 0 {
        Sha256::new()
    } else {
        let slot = cache.slot(prefix_key(tree, plan, head)?);
        let mut known = lock(&slot);
        match &*known {
            Some(h) => h.clone(),
            None => {
                let h = hash_prefix(tree, plan, head, prefix_end, cache)?;
                *known = Some(h.clone());
                h
            }
        }
    };
    let image_bytes = u64::from(plan.total_sectors) * SECTOR;
    let mut reader = file;
    reader
        .seek(SeekFrom::Start(prefix_end))
        .map_err(|e| io_err(out, e))?;
    let read = hash_read(&mut reader, image_bytes - prefix_end, &mut hasher)
        .map_err(|e| io_err(out, e))?;
    if read != image_bytes - prefix_end {
        return Err(io_err(
            out,
            io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the image is shorter than written",
            ),
        ));
    }
    Ok(crate::hashing::hex(&hasher.finalize()))
}

/// Buffer for hashing reads.
const HASH_BUF: usize = 1 << 20;

/// Feeds up to `limit` bytes of `reader` to `h`; returns how many there were.
fn hash_read(reader: &mut impl io::Read, limit: u64, h: &mut Sha256) -> io::Result<u64> {
    let mut buf = vec![0u8; HASH_BUF];
    let mut total = 0u64;
    while total < limit {
        let want = (limit - total).min(HASH_BUF as u64) as usize;
        let n = match reader.read(&mut buf[..want]) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        h.update(&buf[..n]);
        total += n as u64;
    }
    Ok(total)
}

/// The shared files of `plan`'s image (those before [`Plan::shared_sectors`]), in image
/// order: (first byte, source, size).
fn shared_files<'a>(
    tree: &'a Tree,
    plan: &'a Plan,
) -> impl Iterator<Item = (u64, &'a PathBuf, u64)> + 'a {
    plan.file_order
        .iter()
        .filter(move |&&c| plan.file_lba[c] < plan.shared_sectors)
        .filter_map(move |&c| match &tree.nodes[c].kind {
            NodeKind::File { source, size, .. } => {
                Some((u64::from(plan.file_lba[c]) * SECTOR, source, *size))
            }
            NodeKind::Dir { .. } => None,
        })
}

/// What the shared prefix of `plan`'s image is made of (see [`DigestCache`]).
fn prefix_key(tree: &Tree, plan: &Plan, head: &[u8]) -> Result<[u8; 32], IsoError> {
    use std::os::unix::fs::MetadataExt as _;
    let mut key = Sha256::new();
    key.update(head);
    key.update(plan.shared_sectors.to_le_bytes());
    for (at, source, size) in shared_files(tree, plan) {
        key.update(at.to_le_bytes());
        key.update(size.to_le_bytes());
        if size < SMALL_FILE {
            let bytes = crate::input::read_capped(source, SMALL_FILE, "file")
                .map_err(|e| io_err(source, e.into_io()))?;
            key.update(b"content");
            key.update(Sha256::digest(&bytes));
        } else {
            let m = fs::metadata(source).map_err(|e| io_err(source, e))?;
            key.update(b"inode");
            for v in [m.dev(), m.ino(), m.len()] {
                key.update(v.to_le_bytes());
            }
            key.update(m.mtime().to_le_bytes());
            key.update(m.mtime_nsec().to_le_bytes());
        }
    }
    Ok(key.finalize().into())
}

/// Hashes the first `prefix_end` bytes of the image: the head, then each shared file's
/// bytes from its source at its place, zeros between.
fn hash_prefix(
    tree: &Tree,
    plan: &Plan,
    head: &[u8],
    prefix_end: u64,
    cache: &DigestCache,
) -> Result<Sha256, IsoError> {
    let mut h = Sha256::new();
    h.update(head);
    let mut pos = head.len() as u64;
    for (at, source, size) in shared_files(tree, plan) {
        hash_zeros(&mut h, at - pos);
        let file = crate::input::open_regular(source).map_err(|e| io_err(source, e.into_io()))?;
        let _ = rustix::fs::fadvise(&file, 0, None, rustix::fs::Advice::Sequential);
        let read = hash_read(&mut &file, size, &mut h).map_err(|e| io_err(source, e))?;
        if read != size {
            return Err(IsoError::Changed {
                path: source.clone(),
                expected: size,
            });
        }
        cache
            .prefix_bytes
            .fetch_add(read, std::sync::atomic::Ordering::Relaxed);
        pos = at + size;
    }
    hash_zeros(&mut h, prefix_end - pos);
    Ok(h)
}

fn hash_zeros(h: &mut Sha256, mut n: u64) {
    const ZEROS: [u8; 4096] = [0; 4096];
    while n > 0 {
        let k = n.min(ZEROS.len() as u64) as usize;
        h.update(&ZEROS[..k]);
        n -= k as u64;
    }
}

/// The ISO volume id (upper-case d-characters) and the Joliet one (as given).
fn check_label(label: &str) -> Result<(String, String), IsoError> {
    let units = label.encode_utf16().count();
    if units == 0 || units > LABEL_MAX_UNITS {
        return Err(IsoError::BadOption(format!(
            "label {label:?} must be 1 to {LABEL_MAX_UNITS} characters (the Joliet volume id holds {LABEL_MAX_UNITS})"
        )));
    }
    if label
        .chars()
        .any(|c| c.is_control() || "*/:;?\\".contains(c))
    {
        return Err(IsoError::BadOption(format!(
            "label {label:?} holds a control character or one of * / : ; ? \\"
        )));
    }
    let iso = label
        .chars()
        .map(|c| match c.to_ascii_uppercase() {
            u @ ('A'..='Z' | '0'..='9' | '_') => u,
            _ => '_',
        })
        .collect();
    Ok((iso, label.to_string()))
}

/// An image written inside its own source tree would be swallowed by the next run.
fn refuse_output_inside_source(src: &Path, out: &Path) -> Result<(), IsoError> {
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let (Ok(src), Ok(dir)) = (src.canonicalize(), parent.canonicalize()) else {
        return Ok(());
    };
    if dir.starts_with(&src) {
        return Err(IsoError::Unsupported {
            path: out.to_path_buf(),
            reason: format!(
                "is inside the source directory {}; write the image elsewhere",
                src.display()
            ),
        });
    }
    Ok(())
}

/// Runs `fill` on a temporary file beside `out` (created at `mode` when given), then syncs
/// and renames it into place.
fn write_atomically(
    out: &Path,
    mode: Option<u32>,
    fill: impl FnOnce(&mut File, &Path) -> Result<(), IsoError>,
) -> Result<(), IsoError> {
    let name = out.file_name().map(|n| n.to_string_lossy().into_owned());
    let tmp = out.with_file_name(format!(
        ".{}.{}.iso-tmp",
        name.unwrap_or_default(),
        std::process::id()
    ));
    let result = (|| {
        let mut file = create(&tmp, mode).map_err(|e| io_err(&tmp, e))?;
        fill(&mut file, &tmp)?;
        file.sync_all().map_err(|e| io_err(&tmp, e))?;
        fs::rename(&tmp, out).map_err(|e| io_err(out, e))?;
        let dir = match out.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        crate::input::open_dir(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| io_err(dir, e))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Creates `path` for reading and writing: like `File::create`, or with exactly `mode`.
fn create(path: &Path, mode: Option<u32>) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut options = fs::OpenOptions::new();
    // Read too: the image's digest is read back from it (a file this run creates).
    #[allow(clippy::disallowed_methods)]
    options.read(true).write(true).create(true).truncate(true);
    let Some(mode) = mode else {
        return options.open(path);
    };
    let file = options.mode(mode).open(path)?;
    // The open may have found a leftover of a killed run, or the umask cleared bits.
    crate::modes::set_file(&file, path, mode)?;
    Ok(file)
}

/// Descriptor fields of the primary (`joliet == false`) or Joliet descriptor.
fn volume_fields(opts: &IsoOptions, label: &str, joliet: bool) -> VolumeFields {
    if joliet {
        let mut escapes = [0u8; 32];
        escapes[..3].copy_from_slice(b"%/E");
        VolumeFields {
            kind: 2,
            system_id: records::ucs2_field("LINUX"),
            volume_id: records::ucs2_field(label),
            escapes,
            application_id: records::ucs2_field(&opts.application_id),
            blank128: records::ucs2_field(""),
            blank37: [0; 37],
        }
    } else {
        VolumeFields {
            kind: 1,
            system_id: records::ascii_field("LINUX"),
            volume_id: records::ascii_field(label),
            escapes: [0; 32],
            application_id: records::ascii_field(&opts.application_id.to_ascii_uppercase()),
            blank128: records::ascii_field(""),
            blank37: records::ascii_field(""),
        }
    }
}

/// The image's structures: the system area and volume descriptors (`head`, from sector 0)
/// and the path tables, directories and continuation areas (`body`, from
/// [`Plan::meta_start`] to [`Plan::meta_end`]).
struct Metadata {
    head: Vec<u8>,
    body: Vec<u8>,
}

fn metadata(
    tree: &Tree,
    plan: &Plan,
    opts: &IsoOptions,
    iso_label: &str,
    joliet_label: &str,
    date: &DateTime,
) -> Metadata {
    let sector = SECTOR as usize;
    let mut head = vec![0u8; super::layout::FIRST_FREE as usize * sector];
    let mut body = vec![0u8; (plan.meta_end - plan.meta_start) as usize * sector];
    let body_at = plan.meta_start as usize * sector;
    let mut put = |lba: u32, bytes: &[u8]| {
        let at = lba as usize * sector;
        let (img, at) = if at < head.len() {
            (&mut head, at)
        } else {
            (&mut body, at - body_at)
        };
        img[at..at + bytes.len()].copy_from_slice(bytes);
    };
    for (i, (kind, label, joliet)) in [
        (Hierarchy::Iso, iso_label, false),
        (Hierarchy::Joliet, joliet_label, true),
    ]
    .into_iter()
    .enumerate()
    {
        let h = if joliet { &plan.joliet } else { &plan.iso };
        let loc = TreeLocation {
            path_table_size: h.path_table_size,
            l_table: h.l_table,
            m_table: h.m_table,
            root_lba: h.lba[0],
            root_len: h.len[0],
        };
        let fields = volume_fields(opts, label, joliet);
        let vd = records::volume_descriptor(&fields, &loc, plan.total_sectors, date);
        put(16 + i as u32, &vd);
        put(h.l_table, &path_table(tree, plan, kind, false));
        put(h.m_table, &path_table(tree, plan, kind, true));
        for &d in &h.dirs {
            put(h.lba[d], &directory(tree, plan, kind, d, date.stamp7()));
        }
    }
    put(18, &records::terminator());
    for (node, su) in plan.su.iter().enumerate() {
        if su.spill {
            let (lba, off) = plan.ce_at[node];
            let at = lba as usize * sector + off as usize - body_at;
            body[at..at + su.tail.len()].copy_from_slice(&su.tail);
        }
    }
    Metadata { head, body }
}

/// One path table of hierarchy `kind`.
fn path_table(tree: &Tree, plan: &Plan, kind: Hierarchy, big_endian: bool) -> Vec<u8> {
    let h = if kind == Hierarchy::Iso {
        &plan.iso
    } else {
        &plan.joliet
    };
    let mut out = Vec::with_capacity(h.path_table_size as usize);
    for &d in &h.dirs {
        let parent = h.number[tree.nodes[d].parent];
        out.extend(records::path_record(
            &id_bytes(tree, d, kind),
            h.lba[d],
            parent,
            big_endian,
        ));
    }
    out
}

/// The extent of directory `d` in hierarchy `kind`: its records, none crossing a sector.
fn directory(tree: &Tree, plan: &Plan, kind: Hierarchy, d: usize, stamp: [u8; 7]) -> Vec<u8> {
    let h = if kind == Hierarchy::Iso {
        &plan.iso
    } else {
        &plan.joliet
    };
    let rr = |su: Vec<u8>| {
        if kind == Hierarchy::Iso {
            su
        } else {
            Vec::new()
        }
    };
    let parent = tree.nodes[d].parent;
    let dot_su = if d == 0 {
        plan.su[0].inline(plan.ce_at[0])
    } else {
        px_tf(tree, d, stamp)
    };
    let mut recs = vec![
        records::dir_record(&[0], h.lba[d], h.len[d], FLAG_DIR, stamp, &rr(dot_su)),
        records::dir_record(
            &[1],
            h.lba[parent],
            h.len[parent],
            FLAG_DIR,
            stamp,
            &rr(px_tf(tree, parent, stamp)),
        ),
    ];
    for &c in &h.order[d] {
        let id = id_bytes(tree, c, kind);
        let su = rr(plan.su[c].inline(plan.ce_at[c]));
        if tree.nodes[c].is_dir() {
            recs.push(records::dir_record(
                &id, h.lba[c], h.len[c], FLAG_DIR, stamp, &su,
            ));
            continue;
        }
        let size = tree.nodes[c].size();
        let count = extent_count(size);
        for i in 0..count {
            let offset = i * MAX_EXTENT;
            let len = (size - offset.min(size)).min(MAX_EXTENT);
            let lba = u64::from(plan.file_lba[c]) + offset / SECTOR;
            let flags = if i + 1 < count { FLAG_MULTI_EXTENT } else { 0 };
            let lba = u32::try_from(lba).unwrap_or(u32::MAX);
            recs.push(records::dir_record(&id, lba, len as u32, flags, stamp, &su));
        }
    }
    pack(&recs, h.len[d] as usize)
}

/// Concatenates records, starting a new sector whenever the next one would cross.
fn pack(recs: &[Vec<u8>], size: usize) -> Vec<u8> {
    let sector = SECTOR as usize;
    let mut out = Vec::with_capacity(size);
    for r in recs {
        if out.len() % sector + r.len() > sector {
            out.resize(out.len().div_ceil(sector) * sector, 0);
        }
        out.extend_from_slice(r);
    }
    out.resize(size.max(out.len()), 0);
    out
}

/// Every run of the image's bytes for [`direct::write`]: the head, the directories and the
/// files' data.
fn image_pieces<'a>(
    tree: &'a Tree,
    plan: &Plan,
    head: &'a [u8],
    body: &'a [u8],
) -> Vec<direct::Piece<'a>> {
    let mut pieces = vec![
        direct::Piece::Bytes { at: 0, bytes: head },
        direct::Piece::Bytes {
            at: u64::from(plan.meta_start) * SECTOR,
            bytes: body,
        },
    ];
    for &c in &plan.file_order {
        if let NodeKind::File { source, size, .. } = &tree.nodes[c].kind {
            pieces.push(direct::Piece::File {
                at: u64::from(plan.file_lba[c]) * SECTOR,
                source,
                size: *size,
            });
        }
    }
    pieces
}

/// Streams every file's bytes to its sectors, in image order (which is ascending offsets).
fn copy_files(tree: &Tree, plan: &Plan, out: &mut File, out_path: &Path) -> Result<(), IsoError> {
    let mut behind = WriteBehind::default();
    for &c in &plan.file_order {
        if let NodeKind::File { source, size, .. } = &tree.nodes[c].kind {
            let at = u64::from(plan.file_lba[c]) * SECTOR;
            copy_sparse(source, *size, out, at, out_path, &mut behind)?;
        }
    }
    Ok(())
}

/// How much file data is copied between two starts of write-back.
const WRITE_BEHIND_BYTES: u64 = 16 << 20;

/// Starts the write-back of the image's pages behind the copy ([`start_writeback`]), so
/// that the disk writes while the copy goes on and the closing fsync finds little left to
/// do: without it, the whole image would sit dirty in the page cache until that fsync, and
/// reading the sources and writing the image would take turns instead of overlapping.
#[derive(Default)]
struct WriteBehind {
    /// Where the last write-back started from.
    from: u64,
}

impl WriteBehind {
    /// The image holds its final bytes up to `written`.
    fn advance(&mut self, out: &File, written: u64) {
        if written >= self.from + WRITE_BEHIND_BYTES {
            start_writeback(out, self.from, written);
            self.from = written;
        }
    }
}

/// Copies `size` bytes of `src` to `out` at `at`, skipping the source's holes.
fn copy_sparse(
    src: &Path,
    size: u64,
    out: &mut File,
    at: u64,
    out_path: &Path,
    behind: &mut WriteBehind,
) -> Result<(), IsoError> {
    let file = crate::input::open_regular(src).map_err(|e| io_err(src, e.into_io()))?;
    // Read ahead as far as the kernel allows: the source is read once, front to back.
    let _ = rustix::fs::fadvise(&file, 0, None, rustix::fs::Advice::Sequential);
    let mut pos = 0;
    while pos < size {
        let (start, end) = crate::util::next_data(&file, pos, size);
        if start >= size {
            break;
        }
        (&file)
            .seek(SeekFrom::Start(start))
            .map_err(|e| io_err(src, e))?;
        out.seek(SeekFrom::Start(at + start))
            .map_err(|e| io_err(out_path, e))?;
        let mut chunk_start = start;
        while chunk_start < end {
            let want = (end - chunk_start).min(WRITE_BEHIND_BYTES);
            // `io::copy` between two files is `copy_file_range`: the bytes stay in the
            // kernel, and a copy-on-write file system shares the extents instead.
            let copied = io::copy(&mut (&file).take(want), out).map_err(|e| io_err(src, e))?;
            if copied != want {
                return Err(IsoError::Changed {
                    path: src.to_path_buf(),
                    expected: size,
                });
            }
            chunk_start += want;
            behind.advance(out, at + chunk_start);
        }
        pos = end;
    }
    let now = file.metadata().map_err(|e| io_err(src, e))?.len();
    if now != size {
        return Err(IsoError::Changed {
            path: src.to_path_buf(),
            expected: size,
        });
    }
    Ok(())
}
