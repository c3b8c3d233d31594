//! Rebuilding lost or damaged slices: with m slices lost, m recovery slices give m
//! equations in them (the Vandermonde rows of their exponents, restricted to the lost
//! slices' constants); the inverse of that m×m matrix turns one pass over every slice
//! still there and the m recovery slices into the lost ones (`coder.rs`).
//!
//! Each file with a lost slice, or with bytes appended, is rebuilt into a temporary file
//! (mode 0600) made in its own folder, opened beneath the set's folder
//! (`folder.rs`): a damaged file's recorded length is copied (never more), a lost
//! one starts empty. Each is checked against its recorded MD5 and handed back as a
//! [`Rebuilt`] for the caller to check further and [`commit`]; one dropped uncommitted
//! is removed.

use super::check::{FileState, Loaded, Report, read_range};
use super::coder::{self, Job};
use super::folder::{Folder, InFolder};
use super::gf::{Field, input_logs};
use super::{MAX_WORK, Md5Hash, Par2Error, repair_work};
use md5::{Digest as _, Md5};
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};

/// Bytes copied at a time.
const CHUNK: usize = 1 << 20;

/// A file rebuilt into a temporary name in the folder where it belongs; removed when
/// dropped unless [`commit`]ted.
#[derive(Debug)]
pub struct Rebuilt {
    /// Its name in the set.
    pub name: String,
    /// Where it belongs.
    pub path: PathBuf,
    /// The temporary file (for messages).
    pub temp: PathBuf,
    file: File,
    folder: InFolder,
    temp_leaf: String,
    done: bool,
}

impl std::fmt::Debug for InFolder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.leaf)
    }
}

impl Rebuilt {
    /// The rebuilt bytes, from the start (read through the temporary file's own handle).
    pub fn reader(&self) -> impl io::Read + '_ {
        struct At<'a>(&'a File, u64);
        impl io::Read for At<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let n = self.0.read_at(buf, self.1)?;
                self.1 += n as u64;
                Ok(n)
            }
        }
        At(&self.file, 0)
    }

    /// Gives the rebuilt file `mode` (a file system that keeps none is recorded, not an
    /// error).
    pub fn set_mode(&self, mode: u32) -> io::Result<()> {
        crate::modes::set_file(&self.file, &self.path, mode)
    }
}

impl Drop for Rebuilt {
    fn drop(&mut self) {
        if !self.done {
            let _ = self.folder.remove(&self.temp_leaf);
        }
    }
}

/// Renames each rebuilt file to where it belongs, once every name is found free or a
/// regular file (a folder, a link or a device there refuses them all, nothing renamed);
/// those not renamed are removed.
pub fn commit(mut rebuilt: Vec<Rebuilt>) -> Result<(), Par2Error> {
    for r in &rebuilt {
        let kind = r
            .folder
            .kind_of(&r.folder.leaf)
            .map_err(|e| Par2Error::io(&r.path, e))?;
        if let Some(kind) = kind.filter(|k| *k != rustix::fs::FileType::RegularFile) {
            return Err(Par2Error::Invalid {
                path: r.path.clone(),
                message: format!(
                    "{} at its name, not a file: move it away and repair again; nothing was written",
                    describe(kind)
                ),
            });
        }
    }
    for r in &mut rebuilt {
        r.file.sync_all().map_err(|e| Par2Error::io(&r.temp, e))?;
        r.folder
            .rename(&r.temp_leaf, &r.folder.leaf)
            .map_err(|e| Par2Error::io(&r.path, e))?;
        r.done = true;
        let _ = r.folder.dir.sync_all();
    }
    Ok(())
}

fn describe(kind: rustix::fs::FileType) -> &'static str {
    match kind {
        rustix::fs::FileType::Directory => "a folder",
        rustix::fs::FileType::Symlink => "a symbolic link",
        _ => "a device, FIFO or socket",
    }
}

/// Removes the temporary files of `rebuilt`.
pub fn discard(rebuilt: Vec<Rebuilt>) {
    drop(rebuilt);
}

/// A slice the coder reads: an input slice still there or a recovery slice.
enum Src {
    Input { file: usize, k: u64 },
    Recovery { volume: usize, at: u64 },
}

/// What is lost and what rebuilds it.
struct Lost {
    /// Each lost slice: (its number in the set, its file, its number in the file).
    lost: Vec<(usize, usize, u64)>,
    /// The slices read: the inputs still there (with their number in the set), then the
    /// recovery slices used.
    sources: Vec<(usize, Src)>,
    /// The inputs among `sources`.
    present: usize,
    /// The recovery slices used: exponent, volume, offset.
    used: Vec<(u32, usize, u64)>,
    /// The volumes read.
    volumes: Vec<PathBuf>,
    /// Input slices in the set.
    inputs: usize,
}

/// Which slices are lost, which are read, which recovery slices are used; fails when
/// there are too few recovery slices or the arithmetic would be more than seedforge does.
fn lost_slices(set: &Loaded, report: &Report) -> Result<Lost, Par2Error> {
    let info = &set.info;
    let mut lost = Vec::new();
    let mut sources = Vec::new();
    let mut global = 0usize;
    for (fi, (f, check)) in info.files.iter().zip(&report.files).enumerate() {
        for k in 0..f.slices.len() as u64 {
            let gone = match &check.state {
                FileState::Intact | FileState::Appended { .. } => false,
                FileState::Missing => true,
                FileState::Damaged { slices } => slices.contains(&k),
            };
            if gone {
                lost.push((global, fi, k));
            } else {
                sources.push((global, Src::Input { file: fi, k }));
            }
            global += 1;
        }
    }
    if lost.len() > set.recovery.len() {
        return Err(Par2Error::Unrepairable {
            path: set.index.clone(),
            lost: lost.len(),
            available: set.recovery.len(),
            size: info.slice,
        });
    }
    let work = repair_work(global as u64, lost.len() as u64);
    if work > u128::from(MAX_WORK) {
        return Err(Par2Error::Invalid {
            path: set.index.clone(),
            message: format!(
                "{} lost slices among {global}: more arithmetic than seedforge does for one repair ({work} steps, at most {MAX_WORK})",
                lost.len()
            ),
        });
    }
    let present = sources.len();
    let mut volumes: Vec<PathBuf> = Vec::new();
    let mut used = Vec::new();
    for (e, (path, at)) in set.recovery.iter().take(lost.len()) {
        let v = match volumes.iter().position(|v| v == path) {
            Some(v) => v,
            None => {
                volumes.push(path.clone());
                volumes.len() - 1
            }
        };
        used.push((*e, v, *at));
        sources.push((usize::MAX, Src::Recovery { volume: v, at: *at }));
    }
    Ok(Lost {
        lost,
        sources,
        present,
        used,
        volumes,
        inputs: global,
    })
}

/// Inverts `m` (n×n, row-major) over the field; `None` when it is singular.
fn invert(f: &Field, mut m: Vec<u16>, n: usize) -> Option<Vec<u16>> {
    let mut inv = vec![0u16; n * n];
    for i in 0..n {
        inv[i * n + i] = 1;
    }
    for col in 0..n {
        let pivot = (col..n).find(|&r| m[r * n + col] != 0)?;
        if pivot != col {
            for c in 0..n {
                m.swap(pivot * n + c, col * n + c);
                inv.swap(pivot * n + c, col * n + c);
            }
        }
        let p = m[col * n + col];
        for c in 0..n {
            m[col * n + c] = f.div(m[col * n + c], p)?;
            inv[col * n + c] = f.div(inv[col * n + c], p)?;
        }
        for r in 0..n {
            let factor = m[r * n + col];
            if r == col || factor == 0 {
                continue;
            }
            for c in 0..n {
                m[r * n + c] ^= f.mul(factor, m[col * n + c]);
                inv[r * n + c] ^= f.mul(factor, inv[col * n + c]);
            }
        }
    }
    Some(inv)
}

/// The constant of each source in each lost slice (source-major): input i to lost l is
/// Σ_r inv[l][r]·c_i^e_r, recovery r to lost l is inv[l][r].
fn coefficients(set: &Loaded, plan: &Lost) -> Result<Vec<u16>, Par2Error> {
    let invalid = |message: &str| Par2Error::Invalid {
        path: set.index.clone(),
        message: message.to_string(),
    };
    let field = Field::new();
    let logs = input_logs(plan.inputs).ok_or_else(|| invalid("more slices than PAR 2.0 allows"))?;
    let m = plan.lost.len();
    let mut a = vec![0u16; m * m];
    for (r, (e, _, _)) in plan.used.iter().enumerate() {
        for (l, (g, _, _)) in plan.lost.iter().enumerate() {
            a[r * m + l] = field.exp2(u64::from(logs[*g]) * u64::from(*e));
        }
    }
    let inv =
        invert(&field, a, m).ok_or_else(|| invalid("the recovery slices' matrix is singular"))?;
    let mut coefs = vec![0u16; plan.sources.len() * m];
    let mut powers = vec![0u16; m];
    for (s, (g, _)) in plan.sources.iter().enumerate().take(plan.present) {
        for (p, (e, _, _)) in powers.iter_mut().zip(&plan.used) {
            *p = field.exp2(u64::from(logs[*g]) * u64::from(*e));
        }
        for l in 0..m {
            let row = &inv[l * m..(l + 1) * m];
            let mut c = 0u16;
            for (x, p) in row.iter().zip(&powers) {
                c ^= field.mul(*x, *p);
            }
            coefs[s * m + l] = c;
        }
    }
    for r in 0..m {
        for l in 0..m {
            coefs[(plan.present + r) * m + l] = inv[l * m + r];
        }
    }
    Ok(coefs)
}

/// The temporary file of each file not intact: a damaged one's recorded length copied
/// from it (its good slices stay; bytes past that length are not read), a missing one
/// empty; each then the recorded length.
fn temporaries(
    folder: &Folder,
    set: &Loaded,
    report: &Report,
) -> Result<Vec<Option<Rebuilt>>, Par2Error> {
    let mut temps = Vec::new();
    let mut buf = vec![0u8; CHUNK];
    for (f, check) in set.info.files.iter().zip(&report.files) {
        if check.state == FileState::Intact {
            temps.push(None);
            continue;
        }
        let path = folder.path.join(&f.name);
        let at = folder.parent_of(&f.name)?;
        let temp_path = crate::util::temp_path_beside(&path);
        let temp_leaf = temp_path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let file = at
            .create(&temp_leaf)
            .map_err(|e| Par2Error::io(&temp_path, e))?;
        let rebuilt = Rebuilt {
            name: f.name.clone(),
            path: path.clone(),
            temp: temp_path.clone(),
            file,
            folder: at,
            temp_leaf,
            done: false,
        };
        if check.state != FileState::Missing
            && let Some((from, meta)) = folder.file(&f.name)?
        {
            let data = meta.len().min(f.length);
            let mut pos = 0u64;
            read_range(&from, data, 0, data, &mut buf, &mut |b| {
                if rebuilt.file.write_all_at(b, pos).is_ok() {
                    pos += b.len() as u64;
                }
            })
            .map_err(|e| Par2Error::io(&path, e))?;
            if pos != data {
                return Err(Par2Error::io(
                    &temp_path,
                    io::Error::other("could not write the copy"),
                ));
            }
        }
        rebuilt
            .file
            .set_len(f.length)
            .map_err(|e| Par2Error::io(&temp_path, e))?;
        temps.push(Some(rebuilt));
    }
    Ok(temps)
}

/// Rebuilds every file `report` finds lost, damaged or with bytes appended into a
/// temporary file in its folder, each checked against its recorded MD5. Fails, leaving
/// nothing, when there are fewer intact recovery slices than lost ones.
pub fn repair(
    dir: &Path,
    set: &Loaded,
    report: &Report,
    budget: usize,
) -> Result<Vec<Rebuilt>, Par2Error> {
    let plan = lost_slices(set, report)?;
    let coefs = if plan.lost.is_empty() {
        Vec::new()
    } else {
        coefficients(set, &plan)?
    };
    let folder = Folder::open(dir)?;
    let temps = temporaries(&folder, set, report)?;
    if !plan.lost.is_empty() {
        rebuild_slices(&folder, set, report, &plan, &coefs, &temps, budget)?;
    }
    let mut out = Vec::new();
    for (f, t) in set.info.files.iter().zip(temps) {
        let Some(t) = t else { continue };
        t.file.sync_all().map_err(|e| Par2Error::io(&t.temp, e))?;
        if md5_of(&t).map_err(|e| Par2Error::io(&t.temp, e))? != f.md5 {
            return Err(Par2Error::Invalid {
                path: t.path.clone(),
                message: "rebuilt, but its MD5 is not the recorded one; nothing was written".into(),
            });
        }
        out.push(t);
    }
    Ok(out)
}

/// One run of the coder: the lost slices written into the temporary files.
fn rebuild_slices(
    folder: &Folder,
    set: &Loaded,
    report: &Report,
    plan: &Lost,
    coefs: &[u16],
    temps: &[Option<Rebuilt>],
    budget: usize,
) -> Result<(), Par2Error> {
    let info = &set.info;
    let slice = info.slice;
    let m = plan.lost.len();
    let mut inputs: Vec<Option<(File, u64)>> = Vec::new();
    for (f, check) in info.files.iter().zip(&report.files) {
        inputs.push(match check.state {
            FileState::Missing => None,
            _ => folder
                .file(&f.name)?
                .map(|(file, meta)| (file, meta.len().min(f.length))),
        });
    }
    let volumes = (plan.volumes.iter())
        .map(|p| super::open(p))
        .collect::<Result<Vec<File>, Par2Error>>()?;
    let s = usize::try_from(slice).map_err(|_| Par2Error::Invalid {
        path: set.index.clone(),
        message: "a slice too large for this machine".into(),
    })?;
    let coef = |src: usize, o: usize| coefs[src * m + o];
    let job = Job {
        sources: plan.sources.len(),
        outputs: m,
        slice: s,
        coef: &coef,
        budget,
        threads: super::threads(),
    };
    let (sources, inputs, volumes) = (&plan.sources, &inputs, &volumes);
    let read = move |src: usize, from: usize, buf: &mut [u8]| -> io::Result<()> {
        let n = buf.len().min(s - from);
        match &sources[src].1 {
            Src::Input { file, k } => {
                let (f, len) = inputs[*file]
                    .as_ref()
                    .ok_or_else(|| io::Error::other("a missing file read"))?;
                read_range(
                    f,
                    *len,
                    k * slice + from as u64,
                    n as u64,
                    &mut buf[..n],
                    &mut |_| {},
                )
            }
            Src::Recovery { volume, at } => {
                volumes[*volume].read_exact_at(&mut buf[..n], at + from as u64)
            }
        }
    };
    coder::run(&job, read, |l, from, bytes| {
        let (_, fi, k) = plan.lost[l];
        let length = info.files[fi].length;
        let at = k * slice + from as u64;
        let n = (length.saturating_sub(at) as usize).min(bytes.len());
        match &temps[fi] {
            Some(t) => t.file.write_all_at(&bytes[..n], at),
            None => Ok(()),
        }
    })
    .map_err(|e| Par2Error::io(&folder.path, e))
}

fn md5_of(t: &Rebuilt) -> io::Result<Md5Hash> {
    let mut h = Md5::new();
    let mut buf = vec![0u8; CHUNK];
    let mut at = 0u64;
    loop {
        let n = t.file.read_at(&mut buf, at)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        at += n as u64;
    }
    Ok(h.finalize().into())
}
