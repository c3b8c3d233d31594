//! PAR 2.0 recovery files (the Parity Volume Set Specification 2.0, as par2cmdline reads
//! and writes them): a format library like `iso`, importing nothing of seedforge but the
//! foundation.
//!
//! A set protects files ("the recovery set") cut into slices of one size; `NAME.par2`
//! holds the critical packets (Main: the slice size and the files' IDs; one FileDesc per
//! file: its name, length, MD5 and the MD5 of its first 16 KiB; one IFSC per file: each
//! slice's MD5 and CRC-32) and `NAME.volXX+YY.par2` the recovery slices with exponents XX
//! to XX+YY-1 (and the critical packets again). Recovery slice e is Σ_i c_i^e · slice_i
//! over GF(2^16) ([`gf`]), with c_i the i-th power of 2 whose exponent is coprime to
//! 65,535; any m lost slices are rebuilt from any m recovery slices.
//!
//! [`create::create`] writes a set, [`check::load`] reads one back (packets checked by
//! their MD5; damaged ones skipped), [`check::check`] finds what is lost or damaged and
//! [`repair::repair`] rebuilds it. Reed-Solomon itself is [`coder`], bit-sliced.

pub mod check;
pub mod coder;
pub mod crc;
pub mod create;
pub mod gf;
pub mod repair;

use md5::{Digest as _, Md5};
use std::path::PathBuf;

/// A packet's first eight bytes.
pub const MAGIC: &[u8; 8] = b"PAR2\0PKT";
/// Packet types.
pub const MAIN: &[u8; 16] = b"PAR 2.0\0Main\0\0\0\0";
/// File description.
pub const FILE_DESC: &[u8; 16] = b"PAR 2.0\0FileDesc";
/// Input file slice checksums.
pub const IFSC: &[u8; 16] = b"PAR 2.0\0IFSC\0\0\0\0";
/// Recovery slice.
pub const RECOVERY: &[u8; 16] = b"PAR 2.0\0RecvSlic";
/// Creator.
pub const CREATOR: &[u8; 16] = b"PAR 2.0\0Creator\0";
/// Bytes of a packet header.
pub const HEADER: u64 = 64;
/// The most input slices a set can have (the constants there are).
pub const MAX_SLICES: u64 = 32_768;

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
pub fn file_id(md5_16k: &Md5Hash, length: u64, name: &str) -> Md5Hash {
    let mut h = Md5::new();
    h.update(md5_16k);
    h.update(length.to_le_bytes());
    h.update(name.as_bytes());
    h.finalize().into()
}

/// par2cmdline's order of IDs: as 128-bit little-endian numbers (last byte first).
pub fn id_order(a: &Md5Hash, b: &Md5Hash) -> std::cmp::Ordering {
    a.iter().rev().cmp(b.iter().rev())
}

fn pad4(bytes: &mut Vec<u8>) {
    while !bytes.len().is_multiple_of(4) {
        bytes.push(0);
    }
}

/// The Main packet's body: slice size, file count and the IDs in `files`' order.
pub fn main_body(slice: u64, ids: &[Md5Hash]) -> Vec<u8> {
    let mut b = Vec::with_capacity(12 + 16 * ids.len());
    b.extend_from_slice(&slice.to_le_bytes());
    b.extend_from_slice(&(ids.len() as u32).to_le_bytes());
    for id in ids {
        b.extend_from_slice(id);
    }
    b
}

/// A whole packet: header (magic, length, MD5 of what follows it from the set ID, set ID,
/// type) and body.
pub fn packet(set_id: &Md5Hash, kind: &[u8; 16], body: &[u8]) -> Vec<u8> {
    let mut h = Md5::new();
    h.update(set_id);
    h.update(kind);
    h.update(body);
    let md5: Md5Hash = h.finalize().into();
    let mut p = Vec::with_capacity(64 + body.len());
    p.extend_from_slice(MAGIC);
    p.extend_from_slice(&(HEADER + body.len() as u64).to_le_bytes());
    p.extend_from_slice(&md5);
    p.extend_from_slice(set_id);
    p.extend_from_slice(kind);
    p.extend_from_slice(body);
    p
}

impl SetInfo {
    /// The set ID of a set with this slice size and these files.
    pub fn compute_id(slice: u64, files: &[FileInfo]) -> Md5Hash {
        let ids: Vec<Md5Hash> = files.iter().map(|f| f.id).collect();
        Md5::digest(main_body(slice, &ids)).into()
    }

    /// The critical packets: Main, then each file's FileDesc and IFSC.
    pub fn critical_packets(&self) -> Vec<u8> {
        let ids: Vec<Md5Hash> = self.files.iter().map(|f| f.id).collect();
        let mut out = packet(&self.set_id, MAIN, &main_body(self.slice, &ids));
        for f in &self.files {
            let mut desc = Vec::new();
            desc.extend_from_slice(&f.id);
            desc.extend_from_slice(&f.md5);
            desc.extend_from_slice(&f.md5_16k);
            desc.extend_from_slice(&f.length.to_le_bytes());
            desc.extend_from_slice(f.name.as_bytes());
            pad4(&mut desc);
            out.extend(packet(&self.set_id, FILE_DESC, &desc));
            let mut ifsc = Vec::with_capacity(16 + 20 * f.slices.len());
            ifsc.extend_from_slice(&f.id);
            for (md5, crc) in &f.slices {
                ifsc.extend_from_slice(md5);
                ifsc.extend_from_slice(&crc.to_le_bytes());
            }
            out.extend(packet(&self.set_id, IFSC, &ifsc));
        }
        out
    }

    /// The number of input slices.
    pub fn slice_count(&self) -> usize {
        self.files.iter().map(|f| f.slices.len()).sum()
    }
}

/// The Creator packet.
pub fn creator_packet(set_id: &Md5Hash, text: &str) -> Vec<u8> {
    let mut body = text.as_bytes().to_vec();
    pad4(&mut body);
    packet(set_id, CREATOR, &body)
}

/// Opens a file of the set or one it protects to read: a regular file, never through a
/// symbolic link.
pub(crate) fn open(path: &std::path::Path) -> Result<std::fs::File, Par2Error> {
    crate::input::open_found(path)
        .map(|(f, _)| f)
        .map_err(|e| Par2Error::io(path, e.into_io()))
}

/// The threads the arithmetic uses.
pub fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[cfg(test)]
mod tests;
