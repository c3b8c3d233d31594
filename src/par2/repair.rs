//! Rebuilding lost or damaged slices: with m slices lost, m recovery slices give m
//! equations in them (the Vandermonde rows of their exponents, restricted to the lost
//! slices' constants); the inverse of that m×m matrix turns one pass over every slice
//! still there and the m recovery slices into the lost ones ([`super::coder`]). Each file
//! with a lost slice is rebuilt into a temporary file beside it, checked against its
//! recorded MD5 and handed back for the caller to check further and rename.

use super::check::{FileState, Loaded, Report};
use super::coder::{self, Job};
use super::create::read_slice;
use super::gf::{Field, input_logs};
use super::{Md5Hash, Par2Error};
use md5::{Digest as _, Md5};
use std::fs::{self, File};
use std::io;
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};

/// A file rebuilt into a temporary name beside where it belongs.
#[derive(Debug, Clone)]
pub struct Rebuilt {
    /// Its name in the set.
    pub name: String,
    /// Where it belongs.
    pub path: PathBuf,
    /// The rebuilt bytes, checked against the set's MD5; the caller renames it to `path`
    /// or removes it.
    pub temp: PathBuf,
}

enum Src {
    Input { file: usize, k: u64 },
    Recovery { path: PathBuf, at: u64 },
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

/// Rebuilds every file `report` finds lost or damaged into a temporary file beside it.
/// Fails, writing nothing, when there are fewer intact recovery slices than lost ones.
pub fn repair(
    dir: &Path,
    set: &Loaded,
    report: &Report,
    budget: usize,
) -> Result<Vec<Rebuilt>, Par2Error> {
    let info = &set.info;
    let slice = info.slice;
    let mut lost: Vec<(usize, usize, u64)> = Vec::new();
    let mut sources: Vec<(usize, Src)> = Vec::new();
    let mut global = 0usize;
    for (fi, (f, check)) in info.files.iter().zip(&report.files).enumerate() {
        for k in 0..f.slices.len() as u64 {
            let gone = match &check.state {
                FileState::Intact => false,
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
            size: slice,
        });
    }
    let field = Field::new();
    let logs = input_logs(global).ok_or_else(|| Par2Error::Invalid {
        path: set.index.clone(),
        message: "more slices than PAR 2.0 allows".into(),
    })?;
    let m = lost.len();
    let used: Vec<(u32, &(PathBuf, u64))> = set
        .recovery
        .iter()
        .take(m)
        .map(|(e, at)| (*e, at))
        .collect();
    let mut a = vec![0u16; m * m];
    for (r, (e, _)) in used.iter().enumerate() {
        for (l, (g, _, _)) in lost.iter().enumerate() {
            a[r * m + l] = field.exp2(u64::from(logs[*g]) * u64::from(*e));
        }
    }
    let inv = invert(&field, a, m).ok_or_else(|| Par2Error::Invalid {
        path: set.index.clone(),
        message: "the recovery slices' matrix is singular".into(),
    })?;
    // Coefficients: input i to lost l is Σ_r inv[l][r]·c_i^e_r; recovery r to l is inv[l][r].
    let present = sources.len();
    for (e, (path, at)) in &used {
        let _ = e;
        sources.push((
            usize::MAX,
            Src::Recovery {
                path: path.clone(),
                at: *at,
            },
        ));
    }
    let mut coefs = vec![0u16; sources.len() * m];
    for (s, (g, _)) in sources.iter().enumerate().take(present) {
        let powers: Vec<u16> = used
            .iter()
            .map(|(e, _)| field.exp2(u64::from(logs[*g]) * u64::from(*e)))
            .collect();
        for l in 0..m {
            let mut c = 0u16;
            for (r, p) in powers.iter().enumerate() {
                c ^= field.mul(inv[l * m + r], *p);
            }
            coefs[s * m + l] = c;
        }
    }
    for r in 0..m {
        for l in 0..m {
            coefs[(present + r) * m + l] = inv[l * m + r];
        }
    }
    // Temporary files: a damaged file's own bytes (its good slices stay), a missing one
    // empty, each the recorded length.
    let mut temps: Vec<Option<(PathBuf, File)>> = (0..info.files.len()).map(|_| None).collect();
    let mut out = Vec::new();
    let result = (|| {
        for (fi, check) in report.files.iter().enumerate() {
            if check.state == FileState::Intact {
                continue;
            }
            let f = &info.files[fi];
            let path = dir.join(&f.name);
            let tmp = crate::util::temp_path_beside(&path);
            let mut file = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&tmp)
                .map_err(|e| Par2Error::io(&tmp, e))?;
            if let FileState::Damaged { .. } = check.state {
                // Its good slices stay; the lost ones are written over.
                let copied = super::open(&path).and_then(|mut from| {
                    io::copy(&mut from, &mut file).map_err(|e| Par2Error::io(&tmp, e))
                });
                if let Err(e) = copied {
                    let _ = fs::remove_file(&tmp);
                    return Err(e);
                }
            }
            file.set_len(f.length).map_err(|e| Par2Error::io(&tmp, e))?;
            temps[fi] = Some((tmp.clone(), file));
            out.push(Rebuilt {
                name: f.name.clone(),
                path,
                temp: tmp,
            });
        }
        let mut inputs: Vec<Option<(File, u64)>> = Vec::new();
        for (fi, check) in report.files.iter().enumerate() {
            let path = dir.join(&info.files[fi].name);
            inputs.push(match check.state {
                FileState::Missing => None,
                _ => {
                    let file = super::open(&path)?;
                    let len = file.metadata().map_err(|e| Par2Error::io(&path, e))?.len();
                    Some((file, len))
                }
            });
        }
        let mut volumes: Vec<(PathBuf, File)> = Vec::new();
        for (path, _) in set.recovery.values().take(m) {
            if !volumes.iter().any(|v| &v.0 == path) {
                let f = super::open(path)?;
                volumes.push((path.clone(), f));
            }
        }
        let s = slice as usize;
        let coef = |src: usize, o: usize| coefs[src * m + o];
        let job = Job {
            sources: sources.len(),
            outputs: m,
            slice: s,
            coef: &coef,
            budget,
            threads: super::threads(),
        };
        let (sources_ref, inputs_ref, volumes_ref) = (&sources, &inputs, &volumes);
        let read = move |src: usize, from: usize, buf: &mut [u8]| -> io::Result<()> {
            let n = buf.len().min(s - from);
            match &sources_ref[src].1 {
                Src::Input { file, k } => {
                    let (f, len) = inputs_ref[*file]
                        .as_ref()
                        .ok_or_else(|| io::Error::other("a missing file read"))?;
                    read_slice(f, *len, k * slice + from as u64, &mut buf[..n])
                }
                Src::Recovery { path, at } => {
                    let v = volumes_ref
                        .iter()
                        .find(|v| &v.0 == path)
                        .ok_or_else(|| io::Error::other("a volume not opened"))?;
                    v.1.read_exact_at(&mut buf[..n], at + from as u64)
                }
            }
        };
        coder::run(&job, read, |l, from, bytes| {
            let (_, fi, k) = lost[l];
            let length = info.files[fi].length;
            let at = k * slice + from as u64;
            let n = (length.saturating_sub(at) as usize).min(bytes.len());
            match &temps[fi] {
                Some((_, file)) => file.write_all_at(&bytes[..n], at),
                None => Ok(()),
            }
        })
        .map_err(|e| Par2Error::io(dir, e))?;
        for (fi, t) in temps.iter().enumerate() {
            let Some((tmp, file)) = t else { continue };
            file.sync_all().map_err(|e| Par2Error::io(tmp, e))?;
            let got = md5_of(tmp).map_err(|e| Par2Error::io(tmp, e))?;
            if got != info.files[fi].md5 {
                return Err(Par2Error::Invalid {
                    path: tmp.clone(),
                    message: format!(
                        "{}: rebuilt, but its MD5 is not the recorded one",
                        info.files[fi].name
                    ),
                });
            }
        }
        Ok(out)
    })();
    if result.is_err() {
        for (tmp, _) in temps.iter().flatten() {
            let _ = fs::remove_file(tmp);
        }
    }
    result
}

fn md5_of(path: &Path) -> io::Result<Md5Hash> {
    use std::io::Read as _;
    let mut f = super::open(path).map_err(|e| io::Error::other(e.to_string()))?;
    let mut h = Md5::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().into())
}

/// Renames each rebuilt file to where it belongs.
pub fn commit(rebuilt: &[Rebuilt]) -> Result<(), Par2Error> {
    for r in rebuilt {
        fs::rename(&r.temp, &r.path).map_err(|e| Par2Error::io(&r.path, e))?;
        let _ = crate::util::sync_parent(&r.path);
    }
    Ok(())
}

/// Removes the temporary files of `rebuilt`.
pub fn discard(rebuilt: &[Rebuilt]) {
    for r in rebuilt {
        let _ = fs::remove_file(&r.temp);
    }
}
