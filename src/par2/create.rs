//! Writing a set: the slice size and recovery count ([`plan`]), then one read of the
//! inputs that hashes them (each file's MD5, each slice's MD5 and CRC-32) while the
//! recovery slices are computed (`coder.rs`), written into `NAME.volXX+YY.par2`
//! beside `NAME.par2`. Same inputs, same options: same bytes (no time, no host, files in
//! the order of their IDs).

use super::coder::{self, Job};
use super::gf::{Field, input_logs};
use super::packet::{HEADER, MAGIC, RECOVERY, creator_packet};
use super::{FileInfo, MAX_SLICE, MAX_SLICES, MAX_WORK, MIN_SLICE, id_order, repair_work};
use super::{Md5Hash, Par2Error, SetInfo, file_id};
use md5::{Digest as _, Md5};
use std::fs::{self, File};
use std::io;
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};

/// A file to protect: where it is and its name in the set.
#[derive(Debug, Clone)]
pub struct Source {
    /// The file.
    pub path: PathBuf,
    /// Its name in the set, relative to the set's folder (`/` between folders).
    pub name: String,
}

/// The slice size and the number of recovery slices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// Bytes per slice, a multiple of 4.
    pub slice: u64,
    /// Recovery slices.
    pub recovery: u32,
    /// Input slices.
    pub inputs: u64,
}

/// About this many slices per set: small enough damage costs little, few enough that the
/// arithmetic (which grows with inputs × recovery slices) stays quick.
const TARGET_SLICES: u64 = 1024;

/// The plan for files of `sizes` at `percent` redundancy: the largest file is cut into a
/// whole number of slices (k slices of ⌈size / k⌉ bytes rounded up to 4, k chosen for
/// about 1,024 slices in all), and the recovery slices are `percent` of the input slices
/// rounded up, and never fewer than the largest file's slices, so that any one file lost
/// whole (a part) can be rebuilt. The slices are made larger (fewer) until a repair of as
/// many slices as there are recovery slices is within [`MAX_WORK`]; `None` when even one
/// slice a file is too many.
pub fn plan(sizes: &[u64], percent: u32) -> Option<Plan> {
    let largest = sizes.iter().copied().max().unwrap_or(0).max(1);
    let total: u64 = sizes.iter().fold(0u64, |a, s| a.saturating_add(*s)).max(1);
    let mut k = (u128::from(TARGET_SLICES) * u128::from(largest) / u128::from(total)) as u64;
    k = k.clamp(1, TARGET_SLICES).max(largest.div_ceil(MAX_SLICE));
    loop {
        let slice = (largest.div_ceil(k).div_ceil(4) * 4).max(MIN_SLICE);
        if slice > MAX_SLICE {
            return None;
        }
        let inputs: u64 = sizes.iter().map(|s| s.div_ceil(slice)).sum();
        let by_percent = (inputs * u64::from(percent)).div_ceil(100);
        let recovery = by_percent.max(largest.div_ceil(slice)).max(1);
        if inputs > MAX_SLICES || repair_work(inputs, recovery) > u128::from(MAX_WORK) {
            if k == 1 {
                return None;
            }
            k = k.div_ceil(2);
            continue;
        }
        if recovery > 65_535 {
            return None;
        }
        return Some(Plan {
            slice,
            recovery: recovery as u32,
            inputs,
        });
    }
}

/// What [`create`] wrote.
#[derive(Debug, Clone)]
pub struct Created {
    /// `NAME.par2`, then the volumes in order of exponents.
    pub files: Vec<PathBuf>,
    /// The set as written.
    pub info: SetInfo,
}

/// How a set is written.
#[derive(Debug, Clone)]
pub struct Options {
    /// Slice size and recovery count ([`plan`]).
    pub plan: Plan,
    /// The largest a volume may be (its recovery slices are spread over as many volumes as
    /// that takes).
    pub max_volume: u64,
    /// The Creator packet's text.
    pub creator: String,
    /// Most bytes of recovery data held in memory at once.
    pub budget: usize,
}

pub(super) struct Volume {
    pub(super) name: String,
    first: u32,
    count: u32,
}

/// The volumes' names and exponents, as par2cmdline names them: `NAME.volXX+YY.par2`, XX
/// the first exponent and YY the count, each zero-padded to the widest of its kind.
pub(super) fn volumes(base: &str, recovery: u32, per_volume: u32) -> Vec<Volume> {
    let n = recovery.div_ceil(per_volume.max(1)).max(1);
    let (each, extra) = (recovery / n, recovery % n);
    let mut out = Vec::new();
    let mut first = 0;
    for v in 0..n {
        let count = each + u32::from(v < extra);
        out.push((first, count));
        first += count;
    }
    let low = first.to_string().len();
    let wide = out.iter().map(|v| v.1).max().unwrap_or(0).to_string().len();
    out.into_iter()
        .map(|(first, count)| Volume {
            name: format!("{base}.vol{first:0low$}+{count:0wide$}.par2"),
            first,
            count,
        })
        .collect()
}

/// A file of the set being written: what the set records of it, and the file open.
type Input = (FileInfo, File);

/// Writes the set `base` (`BASE.par2`, `BASE.volXX+YY.par2`) for `sources` into `dir`,
/// every file through a temporary name, renamed once all are complete.
pub fn create(
    dir: &Path,
    base: &str,
    sources: &[Source],
    options: &Options,
) -> Result<Created, Par2Error> {
    let slice = options.plan.slice;
    let files = describe(sources, slice)?;
    let mut index: Vec<(usize, u64)> = Vec::new();
    for (f, (info, _)) in files.iter().enumerate() {
        for k in 0..info.slices.len() as u64 {
            index.push((f, k));
        }
    }
    let infos: Vec<FileInfo> = files.iter().map(|f| f.0.clone()).collect();
    let set_id = SetInfo::compute_id(slice, &infos);
    let logs = input_logs(index.len()).ok_or_else(|| Par2Error::Invalid {
        path: dir.to_path_buf(),
        message: format!("{} slices: more than PAR 2.0 allows", index.len()),
    })?;
    let field = Field::new();
    let coef = |src: usize, out: usize| field.exp2(u64::from(logs[src]) * out as u64);
    let job = Job {
        sources: index.len(),
        outputs: options.plan.recovery as usize,
        slice: slice as usize,
        coef: &coef,
        budget: options.budget,
        threads: super::threads(),
    };
    let passes = (slice as usize).div_ceil(coder::chunk_len(&job));
    // Hashes: during the one pass, or in a pass of their own when there are several.
    let mut hashes = Hashes::new(files.len(), &index);
    if passes > 1 {
        hash_inputs(sources, &files, &index, slice, &mut hashes)?;
    }
    let layout = Layout::new(base, &infos, &set_id, options);
    let mut temps: Vec<(PathBuf, PathBuf, File)> = Vec::new();
    let result = (|| {
        for v in &layout.vols {
            let path = dir.join(&v.name);
            let tmp = crate::util::temp_path_beside(&path);
            let f = create_new(&tmp)?;
            temps.push((tmp, path, f));
        }
        let hash_now = passes == 1;
        let packet_md5 = write_recovery(
            dir,
            &job,
            (&files, &index, slice),
            &layout,
            &temps,
            hash_now.then_some(&mut hashes),
        )?;
        let mut info = SetInfo {
            slice,
            set_id,
            files: infos.clone(),
        };
        hashes.fill(&mut info);
        finish(dir, base, &info, &layout, packet_md5, &mut temps)
    })();
    if result.is_err() {
        for (tmp, _, _) in &temps {
            let _ = fs::remove_file(tmp);
        }
    }
    result
}

/// Each non-empty source's length, first-16-KiB MD5 and ID (its MD5 and slice checksums
/// come later), open, in the order of their IDs.
fn describe(sources: &[Source], slice: u64) -> Result<Vec<Input>, Par2Error> {
    let mut files: Vec<Input> = Vec::new();
    for src in sources {
        let file = super::open(&src.path)?;
        let length = file
            .metadata()
            .map_err(|e| Par2Error::io(&src.path, e))?
            .len();
        if length == 0 {
            continue;
        }
        let mut head = vec![0u8; length.min(16 << 10) as usize];
        file.read_exact_at(&mut head, 0)
            .map_err(|e| Par2Error::io(&src.path, e))?;
        let md5_16k: Md5Hash = Md5::digest(&head).into();
        let info = FileInfo {
            id: file_id(&md5_16k, length, src.name.as_bytes()),
            name: src.name.clone(),
            length,
            md5: [0; 16],
            md5_16k,
            slices: vec![([0; 16], 0); length.div_ceil(slice) as usize],
        };
        files.push((info, file));
    }
    files.sort_by(|a, b| id_order(&a.0.id, &b.0.id));
    Ok(files)
}

/// The hashes in a pass of their own (when the coder takes several passes).
fn hash_inputs(
    sources: &[Source],
    files: &[Input],
    index: &[(usize, u64)],
    slice: u64,
    hashes: &mut Hashes,
) -> Result<(), Par2Error> {
    let mut buf = vec![0u8; slice as usize];
    for (i, &(f, k)) in index.iter().enumerate() {
        let (info, file) = &files[f];
        read_slice(file, info.length, k * slice, &mut buf)
            .map_err(|e| Par2Error::io(&sources_path(sources, &info.name), e))?;
        hashes.add(i, f, k, info.length, slice, &buf);
    }
    Ok(())
}

/// Where each part of the set goes: the volumes, and the bytes before their recovery
/// packets.
struct Layout {
    set_id: Md5Hash,
    vols: Vec<Volume>,
    critical_len: u64,
    packet_len: u64,
    creator: Vec<u8>,
}

impl Layout {
    fn new(base: &str, infos: &[FileInfo], set_id: &Md5Hash, options: &Options) -> Layout {
        let critical_len = critical_len(infos);
        let creator = creator_packet(set_id, &options.creator);
        let packet_len = HEADER + 4 + options.plan.slice;
        let room = options
            .max_volume
            .saturating_sub(critical_len + creator.len() as u64);
        let per_volume = (room / packet_len).clamp(1, u64::from(u32::MAX)) as u32;
        Layout {
            set_id: *set_id,
            vols: volumes(base, options.plan.recovery, per_volume),
            critical_len,
            packet_len,
            creator,
        }
    }

    /// Where output o goes: its volume and the offset of its packet there.
    fn place(&self, o: usize) -> (usize, u64) {
        let v = (self.vols.iter())
            .position(|v| (o as u32) < v.first + v.count)
            .unwrap_or(0);
        let at = self.critical_len + u64::from(o as u32 - self.vols[v].first) * self.packet_len;
        (v, at)
    }
}

/// The one read of the inputs: the recovery slices computed and written into the
/// volumes' temporary files (their headers later), hashing the inputs on the way when
/// `hashes` is given. Returns each recovery packet's MD5 so far.
fn write_recovery(
    dir: &Path,
    job: &Job,
    (files, index, slice): (&[Input], &[(usize, u64)], u64),
    layout: &Layout,
    temps: &[(PathBuf, PathBuf, File)],
    mut hashes: Option<&mut Hashes>,
) -> Result<Vec<Md5>, Par2Error> {
    let s = slice as usize;
    let mut packet_md5: Vec<Md5> = (0..job.outputs)
        .map(|o| {
            let mut h = Md5::new();
            h.update(layout.set_id);
            h.update(RECOVERY);
            h.update((o as u32).to_le_bytes());
            h
        })
        .collect();
    let mut failed_at: Option<PathBuf> = None;
    let read = |src: usize, from: usize, buf: &mut [u8]| -> io::Result<()> {
        let (f, k) = index[src];
        let (info, file) = &files[f];
        let n = buf.len().min(s - from);
        read_slice(file, info.length, k * slice + from as u64, &mut buf[..n])?;
        if let Some(h) = hashes.as_deref_mut() {
            h.add(src, f, k, info.length, slice, &buf[..s]);
        }
        Ok(())
    };
    coder::run(job, read, |o, from, bytes| {
        let (v, at) = layout.place(o);
        let (tmp, _, file) = &temps[v];
        packet_md5[o].update(bytes);
        file.write_all_at(bytes, at + HEADER + 4 + from as u64)
            .inspect_err(|_| failed_at = Some(tmp.clone()))
    })
    .map_err(|e| {
        let path = failed_at.clone().unwrap_or_else(|| dir.to_path_buf());
        Par2Error::io(&path, e)
    })?;
    Ok(packet_md5)
}

/// The recovery packets' headers, the critical packets and the Creator packet in every
/// volume, the index, then every file synced and renamed.
fn finish(
    dir: &Path,
    base: &str,
    info: &SetInfo,
    layout: &Layout,
    packet_md5: Vec<Md5>,
    temps: &mut Vec<(PathBuf, PathBuf, File)>,
) -> Result<Created, Par2Error> {
    let critical = info.critical_packets();
    debug_assert_eq!(critical.len() as u64, layout.critical_len);
    for (o, h) in packet_md5.into_iter().enumerate() {
        let (v, at) = layout.place(o);
        let (tmp, _, file) = &temps[v];
        let md5: Md5Hash = h.finalize().into();
        let mut head = Vec::with_capacity(68);
        head.extend_from_slice(MAGIC);
        head.extend_from_slice(&layout.packet_len.to_le_bytes());
        head.extend_from_slice(&md5);
        head.extend_from_slice(&info.set_id);
        head.extend_from_slice(RECOVERY);
        head.extend_from_slice(&(o as u32).to_le_bytes());
        file.write_all_at(&head, at)
            .map_err(|e| Par2Error::io(tmp, e))?;
    }
    for (v, (tmp, _, file)) in layout.vols.iter().zip(temps.iter()) {
        file.write_all_at(&critical, 0)
            .map_err(|e| Par2Error::io(tmp, e))?;
        let end = layout.critical_len + u64::from(v.count) * layout.packet_len;
        file.write_all_at(&layout.creator, end)
            .map_err(|e| Par2Error::io(tmp, e))?;
    }
    let index_path = dir.join(format!("{base}.par2"));
    let index_tmp = crate::util::temp_path_beside(&index_path);
    let f = create_new(&index_tmp)?;
    let mut whole = critical;
    whole.extend_from_slice(&layout.creator);
    f.write_all_at(&whole, 0)
        .map_err(|e| Par2Error::io(&index_tmp, e))?;
    temps.push((index_tmp, index_path.clone(), f));
    for (tmp, _, f) in temps.iter() {
        f.sync_all().map_err(|e| Par2Error::io(tmp, e))?;
    }
    let mut written = vec![index_path];
    for (tmp, path, _) in temps.iter() {
        fs::rename(tmp, path).map_err(|e| Par2Error::io(path, e))?;
        if !written.contains(path) {
            written.push(path.clone());
        }
    }
    let _ = crate::util::sync_parent(&dir.join(base));
    Ok(Created {
        files: written,
        info: info.clone(),
    })
}

fn sources_path(sources: &[Source], name: &str) -> PathBuf {
    (sources.iter())
        .find(|s| s.name == name)
        .map(|s| s.path.clone())
        .unwrap_or_default()
}

fn create_new(path: &Path) -> Result<File, Par2Error> {
    use std::os::unix::fs::OpenOptionsExt as _;
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(path)
        .map_err(|e| Par2Error::io(path, e))
}

/// Fills `buf` from `file` at `at`, zeros past its `length`.
fn read_slice(file: &File, length: u64, at: u64, buf: &mut [u8]) -> io::Result<()> {
    let have = length.saturating_sub(at).min(buf.len() as u64) as usize;
    file.read_exact_at(&mut buf[..have], at)?;
    buf[have..].fill(0);
    Ok(())
}

/// Bytes of the critical packets of a set of these files (their names and slice counts
/// are what count).
fn critical_len(files: &[FileInfo]) -> u64 {
    let mut n = HEADER + 12 + 16 * files.len() as u64;
    for f in files {
        n += HEADER + 56 + (f.name.len() as u64).div_ceil(4) * 4;
        n += HEADER + 16 + 20 * f.slices.len() as u64;
    }
    n
}

/// The hashes taken while the inputs are read, in order.
struct Hashes {
    file_md5: Vec<Md5>,
    slices: Vec<(Md5Hash, u32)>,
}

impl Hashes {
    fn new(files: usize, index: &[(usize, u64)]) -> Hashes {
        Hashes {
            file_md5: (0..files).map(|_| Md5::new()).collect(),
            slices: vec![([0; 16], 0); index.len()],
        }
    }

    /// Slice `i` (the `k`-th of file `f`), padded to the slice size.
    fn add(&mut self, i: usize, f: usize, k: u64, length: u64, slice: u64, padded: &[u8]) {
        let real = length.saturating_sub(k * slice).min(slice) as usize;
        self.file_md5[f].update(&padded[..real]);
        let mut crc = super::crc::Crc32::new();
        crc.update(padded);
        self.slices[i] = (Md5::digest(padded).into(), crc.finish());
    }

    fn fill(self, info: &mut SetInfo) {
        let mut at = 0;
        for (f, h) in info.files.iter_mut().zip(self.file_md5) {
            f.md5 = h.finalize().into();
            let n = f.slices.len();
            f.slices.copy_from_slice(&self.slices[at..at + n]);
            at += n;
        }
    }
}
