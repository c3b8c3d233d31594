//! Rock Ridge (RRIP 1.09, `RRIP_1991A`) on top of the System Use Sharing Protocol.
//!
//! Rock Ridge is what lets Linux, osirrox and pycdlib see `user-data` rather than
//! `USER_DAT.;1`: each directory record carries SUSP entries in its system use area.
//! The root's `.` record starts with `SP` (SUSP is in use) and points with `CE` to a
//! continuation area holding `ER` (which extension is in use). Every record carries `PX`
//! (mode, links, owner 0:0), `TF` (times, all equal to the source date) and `NM` (the
//! real name). A directory record is at most 255 bytes, so when the entries do not fit,
//! `NM` moves to a continuation area and a `CE` entry points at it.

/// The extension identifier written in `ER` and looked for by readers.
pub const ER_ID: &[u8] = b"RRIP_1991A";
const ER_DESCRIPTOR: &[u8] =
    b"THE ROCK RIDGE INTERCHANGE PROTOCOL PROVIDES SUPPORT FOR POSIX FILE SYSTEM SEMANTICS";
const ER_SOURCE: &[u8] = b"PLEASE CONTACT DISC PUBLISHER FOR SPECIFICATION SOURCE.  SEE PUBLISHER IDENTIFIER IN PRIMARY VOLUME DESCRIPTOR FOR CONTACT INFORMATION.";

/// Length of a `CE` entry.
pub const CE_LEN: usize = 28;
/// `NM` flag: the name continues in the next `NM` entry.
pub const NM_CONTINUE: u8 = 1;
/// Most name bytes one `NM` entry carries (an entry is at most 255 bytes).
const NM_CHUNK: usize = 250;

use super::both32;

fn header(sig: &[u8; 2], len: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(len);
    v.extend_from_slice(sig);
    v.push(u8::try_from(len).unwrap_or(u8::MAX));
    v.push(1);
    v
}

/// `SP`: SUSP is in use; check bytes BE EF; no bytes skipped.
pub fn sp() -> Vec<u8> {
    let mut v = header(b"SP", 7);
    v.extend_from_slice(&[0xBE, 0xEF, 0]);
    v
}

/// `ER`: names the Rock Ridge extension.
pub fn er() -> Vec<u8> {
    let len = 8 + ER_ID.len() + ER_DESCRIPTOR.len() + ER_SOURCE.len();
    let mut v = header(b"ER", len);
    for part in [ER_ID, ER_DESCRIPTOR, ER_SOURCE] {
        v.push(u8::try_from(part.len()).unwrap_or(u8::MAX));
    }
    v.push(1);
    for part in [ER_ID, ER_DESCRIPTOR, ER_SOURCE] {
        v.extend_from_slice(part);
    }
    v
}

/// `CE`: the rest of the system use entries are `len` bytes at `offset` in block `lba`.
pub fn ce(lba: u32, offset: u32, len: u32) -> Vec<u8> {
    let mut v = header(b"CE", CE_LEN);
    v.extend_from_slice(&both32(lba));
    v.extend_from_slice(&both32(offset));
    v.extend_from_slice(&both32(len));
    v
}

/// `PX`: POSIX mode and link count; uid and gid are 0.
pub fn px(mode: u32, links: u32) -> Vec<u8> {
    let mut v = header(b"PX", 36);
    v.extend_from_slice(&both32(mode));
    v.extend_from_slice(&both32(links));
    v.extend_from_slice(&both32(0));
    v.extend_from_slice(&both32(0));
    v
}

/// `TF`: modification, access and attribute-change times, all `stamp` (7-byte form).
pub fn tf(stamp: [u8; 7]) -> Vec<u8> {
    let mut v = header(b"TF", 5 + 3 * 7);
    v.push(0x02 | 0x04 | 0x08);
    for _ in 0..3 {
        v.extend_from_slice(&stamp);
    }
    v
}

/// `NM` entries for `name`, split with the CONTINUE flag when longer than one entry holds.
pub fn nm(name: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    let chunks: Vec<&[u8]> = name.chunks(NM_CHUNK).collect();
    for (i, chunk) in chunks.iter().enumerate() {
        let mut e = header(b"NM", 5 + chunk.len());
        e.push(if i + 1 < chunks.len() { NM_CONTINUE } else { 0 });
        e.extend_from_slice(chunk);
        v.extend_from_slice(&e);
    }
    v
}

/// The system use area of one directory record: entries that always stay in the record
/// (`head`) and entries that move to a continuation area when the record would be too
/// long (`tail`).
#[derive(Debug, Clone, Default)]
pub struct SystemUse {
    /// Entries kept in the record.
    pub head: Vec<u8>,
    /// Entries that go inline if they fit, else to a continuation area.
    pub tail: Vec<u8>,
    /// True when `tail` lives in a continuation area.
    pub spill: bool,
}

impl SystemUse {
    /// Decides where `tail` goes given the bytes the record has room for.
    pub fn new(head: Vec<u8>, tail: Vec<u8>, room: usize) -> SystemUse {
        let together = head.len() + tail.len();
        let spill = !tail.is_empty() && together + together % 2 > room;
        SystemUse { head, tail, spill }
    }

    /// Bytes this area takes in the record, padded to keep the record length even.
    pub fn inline_len(&self) -> usize {
        let n = self.head.len() + if self.spill { CE_LEN } else { self.tail.len() };
        n + n % 2
    }

    /// Bytes the continuation area needs (0 when nothing spills).
    pub fn continuation_len(&self) -> usize {
        if self.spill { self.tail.len() } else { 0 }
    }

    /// The bytes for the record, with `CE` pointing at `(lba, offset)` when spilled.
    pub fn inline(&self, ce_at: (u32, u32)) -> Vec<u8> {
        let mut v = self.head.clone();
        if self.spill {
            let len = u32::try_from(self.tail.len()).unwrap_or(u32::MAX);
            v.extend_from_slice(&ce(ce_at.0, ce_at.1, len));
        } else {
            v.extend_from_slice(&self.tail);
        }
        if v.len() % 2 == 1 {
            v.push(0);
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_have_their_declared_lengths() {
        for e in [sp(), er(), ce(1, 2, 3), px(0o100644, 1), tf([0; 7])] {
            assert_eq!(usize::from(e[2]), e.len(), "{:?}", &e[..2]);
        }
    }

    #[test]
    fn long_names_split_into_continued_nm_entries() {
        let name = vec![b'x'; 300];
        let v = nm(&name);
        assert_eq!(v[2], 255);
        assert_eq!(v[4], NM_CONTINUE);
        assert_eq!(&v[255..257], b"NM");
        assert_eq!(usize::from(v[257]), 5 + 50);
        assert_eq!(v[259], 0);
    }

    #[test]
    fn tail_spills_only_when_it_does_not_fit() {
        let fits = SystemUse::new(vec![0; 62], vec![0; 20], 200);
        assert!(!fits.spill);
        assert_eq!(fits.inline_len(), 82);
        let spills = SystemUse::new(vec![0; 62], vec![0; 160], 200);
        assert!(spills.spill);
        assert_eq!(spills.inline_len(), 90);
        assert_eq!(spills.continuation_len(), 160);
        assert_eq!(spills.inline((7, 8)).len(), 90);
    }
}
