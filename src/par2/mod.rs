//! PAR 2.0 recovery files (the Parity Volume Set Specification 2.0, as par2cmdline reads
//! and writes them): a format library like `iso`, importing nothing of seedforge but the
//! foundation.
//!
//! A set protects files ("the recovery set") cut into slices of one size; `NAME.par2`
//! holds the critical packets (Main: the slice size and the files' IDs; one FileDesc per
//! file: its name, length, MD5 and the MD5 of its first 16 KiB; one IFSC per file: each
//! slice's MD5 and CRC-32) and `NAME.volXX+YY.par2` the recovery slices with exponents XX
//! to XX+YY-1 (and the critical packets again). Recovery slice e is Σ_i c_i^e · slice_i
//! over GF(2^16) (`gf.rs`), with c_i the i-th power of 2 whose exponent is coprime to
//! 65,535; any m lost slices are rebuilt from any m recovery slices.
//!
//! [`create::create`] writes a set, [`check::load`] reads one back as hostile input
//! (packets checked by their MD5, damaged ones skipped; names, sizes, counts, IDs and
//! exponents checked and bounded, `read.rs`), [`check::check`] finds what is lost or
//! damaged and [`repair::repair`] rebuilds it, every file reached beneath the set's folder
//! with no link followed (`folder.rs`). Reed-Solomon itself is `coder.rs`, bit-sliced.
//! Only this set-level API is public; the field, the coder, CRC-32 and the packet
//! builders are not.

pub mod check;
mod coder;
mod crc;
pub mod create;
mod folder;
mod gf;
mod packet;
mod read;
pub mod repair;

use md5::{Digest as _, Md5};
use std::path::PathBuf;

/// The most input slices a set can have (the constants there are).
pub const MAX_SLICES: u64 = 32_768;
/// The most files a set read here may name (each non-empty file is a slice at least).
pub const MAX_FILES: u64 = MAX_SLICES;
/// The longest name of a file in a set read here, in bytes.
pub const MAX_NAME: usize = 4096;
/// The largest slice a set read or written here may have (a set of [`MAX_SLICES`] of
/// them protects 32 TiB).
pub const MAX_SLICE: u64 = 1 << 30;
/// The smallest slice seedforge writes; a set's slice may be larger than its largest file
/// only up to this.
pub const MIN_SLICE: u64 = 64 << 10;

/// The most field operations one repair's matrix work may take (its inversion, m³ for m
/// lost slices, and the constants of every input, inputs × m²). Every set
/// [`create::plan`] makes can lose as many slices as it has recovery slices within it.
pub const MAX_WORK: u64 = 1 << 36;

/// The field operations of the matrix work of a repair of `lost` slices among `inputs`.
pub fn repair_work(inputs: u64, lost: u64) -> u128 {
    let (n, m) = (u128::from(inputs), u128::from(lost));
    m * m * m + n * m * m
}

/// A 16-byte MD5.
pub type Md5Hash = [u8; 16];

/// Failures reading or writing a set.
#[derive(Debug, thiserror::Error)]
pub enum Par2Error {
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A set that cannot be read or written as asked.
    #[error("{}: {message}", path.display())]
    Invalid {
        /// The set's index or folder.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// More is lost than the recovery slices can rebuild.
    #[error(
        "{}: {lost} slice(s) of {size} bytes lost or damaged, {available} recovery slice(s) found: {missing} more needed; nothing was written",
        path.display(),
        missing = lost - available
    )]
    Unrepairable {
        /// The set's index.
        path: PathBuf,
        /// Slices lost.
        lost: usize,
        /// Recovery slices found intact.
        available: usize,
        /// The slice size.
        size: u64,
    },
}

impl Par2Error {
    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Par2Error {
        Par2Error::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// One file of a set, as its FileDesc and IFSC packets describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfo {
    /// MD5 of (MD5 of the first 16 KiB, length, name).
    pub id: Md5Hash,
    /// Its name in the set (`/` between folders, relative to the set's folder).
    pub name: String,
    /// Its length.
    pub length: u64,
    /// Its MD5.
    pub md5: Md5Hash,
    /// The MD5 of its first 16 KiB (all of it when shorter).
    pub md5_16k: Md5Hash,
    /// Each slice's MD5 and CRC-32, the last one padded with zeros to the slice size.
    pub slices: Vec<(Md5Hash, u32)>,
}

/// What a set says of itself: the slice size and its files in the order of the Main
/// packet, which numbers the input slices.
#[derive(Debug, Clone)]
pub struct SetInfo {
    /// The slice size.
    pub slice: u64,
    /// The recovery set ID: the MD5 of the Main packet's body.
    pub set_id: Md5Hash,
    /// The files, by file ID as par2cmdline sorts them.
    pub files: Vec<FileInfo>,
}

/// A file ID: MD5 of the 16 KiB MD5, the length (little-endian) and the name.
fn file_id(md5_16k: &Md5Hash, length: u64, name: &[u8]) -> Md5Hash {
    let mut h = Md5::new();
    h.update(md5_16k);
    h.update(length.to_le_bytes());
    h.update(name);
    h.finalize().into()
}

/// par2cmdline's order of IDs: as 128-bit little-endian numbers (last byte first).
fn id_order(a: &Md5Hash, b: &Md5Hash) -> std::cmp::Ordering {
    a.iter().rev().cmp(b.iter().rev())
}

/// Whether `name` may name a file of a set: a relative path (`/` between folders) of plain
/// components, none empty, `.` or `..`, no NUL, at most [`MAX_NAME`] bytes.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME
        && !name.contains('\0')
        && name
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != "..")
}

impl SetInfo {
    /// The number of input slices.
    pub fn slice_count(&self) -> usize {
        self.files.iter().map(|f| f.slices.len()).sum()
    }
}

/// Opens a file of the set or one it protects to read: a regular file, never through a
/// symbolic link.
pub(crate) fn open(path: &std::path::Path) -> Result<std::fs::File, Par2Error> {
    crate::input::open_found(path)
        .map(|(f, _)| f)
        .map_err(|e| Par2Error::io(path, e.into_io()))
}

/// The threads the arithmetic uses.
fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[cfg(test)]
mod tests;
