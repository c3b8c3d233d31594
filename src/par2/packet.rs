//! The packets seedforge writes: header (magic, length, MD5 of what follows it from the
//! set ID, set ID, type) and body.

use super::{Md5Hash, SetInfo};
use md5::{Digest as _, Md5};

/// A packet's first eight bytes.
pub(super) const MAGIC: &[u8; 8] = b"PAR2\0PKT";
/// Packet types.
pub(super) const MAIN: &[u8; 16] = b"PAR 2.0\0Main\0\0\0\0";
/// File description.
pub(super) const FILE_DESC: &[u8; 16] = b"PAR 2.0\0FileDesc";
/// Input file slice checksums.
pub(super) const IFSC: &[u8; 16] = b"PAR 2.0\0IFSC\0\0\0\0";
/// Recovery slice.
pub(super) const RECOVERY: &[u8; 16] = b"PAR 2.0\0RecvSlic";
/// Creator.
pub(super) const CREATOR: &[u8; 16] = b"PAR 2.0\0Creator\0";
/// Bytes of a packet header.
pub(super) const HEADER: u64 = 64;

fn pad4(bytes: &mut Vec<u8>) {
    while !bytes.len().is_multiple_of(4) {
        bytes.push(0);
    }
}

/// The Main packet's body: slice size, file count and the IDs in `files`' order.
pub(super) fn main_body(slice: u64, ids: &[Md5Hash]) -> Vec<u8> {
    let mut b = Vec::with_capacity(12 + 16 * ids.len());
    b.extend_from_slice(&slice.to_le_bytes());
    b.extend_from_slice(&(ids.len() as u32).to_le_bytes());
    for id in ids {
        b.extend_from_slice(id);
    }
    b
}

/// A whole packet: header and body.
pub(super) fn packet(set_id: &Md5Hash, kind: &[u8; 16], body: &[u8]) -> Vec<u8> {
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

/// The Creator packet.
pub(super) fn creator_packet(set_id: &Md5Hash, text: &str) -> Vec<u8> {
    let mut body = text.as_bytes().to_vec();
    pad4(&mut body);
    packet(set_id, CREATOR, &body)
}

impl SetInfo {
    /// The set ID of a set with this slice size and these files.
    pub(super) fn compute_id(slice: u64, files: &[super::FileInfo]) -> Md5Hash {
        let ids: Vec<Md5Hash> = files.iter().map(|f| f.id).collect();
        Md5::digest(main_body(slice, &ids)).into()
    }

    /// The critical packets: Main, then each file's FileDesc and IFSC.
    pub(super) fn critical_packets(&self) -> Vec<u8> {
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
}
