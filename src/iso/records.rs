//! The fixed ECMA-119 structures: directory records, path table records, volume
//! descriptors and the two date formats, plus the identifier order records are sorted in.
//!
//! Everything here is a pure function from values to bytes so the layout can size a
//! structure before it knows where things go, and the writer can fill it in afterwards.

use super::{IsoError, SECTOR, both16, both32};
use std::cmp::Ordering;

/// Directory record flag: the entry is a directory.
pub const FLAG_DIR: u8 = 0x02;
/// Directory record flag: this is not the last extent of the file.
pub const FLAG_MULTI_EXTENT: u8 = 0x80;
/// Largest extent of a multi-extent file: the biggest whole number of sectors below 4 GiB.
pub const MAX_EXTENT: u64 = 0xFFFF_F800;
/// A directory record is at most this long (its length is one byte).
pub const MAX_RECORD: usize = 255;

/// Length of a directory record with an identifier of `id_len` bytes and `su_len` bytes
/// of system use (which the caller keeps even).
pub fn record_len(id_len: usize, su_len: usize) -> usize {
    33 + id_len + (1 - id_len % 2) + su_len
}

/// Room left for system use in a record with an `id_len`-byte identifier.
pub fn su_room(id_len: usize) -> usize {
    MAX_RECORD - record_len(id_len, 0)
}

/// One directory record.
pub fn dir_record(id: &[u8], lba: u32, len: u32, flags: u8, stamp: [u8; 7], su: &[u8]) -> Vec<u8> {
    let total = record_len(id.len(), su.len());
    let mut r = Vec::with_capacity(total);
    r.push(u8::try_from(total).unwrap_or(u8::MAX));
    r.push(0);
    r.extend_from_slice(&both32(lba));
    r.extend_from_slice(&both32(len));
    r.extend_from_slice(&stamp);
    r.push(flags);
    r.extend_from_slice(&[0, 0]);
    r.extend_from_slice(&both16(1));
    r.push(u8::try_from(id.len()).unwrap_or(u8::MAX));
    r.extend_from_slice(id);
    if id.len().is_multiple_of(2) {
        r.push(0);
    }
    r.extend_from_slice(su);
    r
}

/// Length of a path table record for an `id_len`-byte directory identifier.
pub fn path_record_len(id_len: usize) -> usize {
    8 + id_len + id_len % 2
}

/// One path table record, little-endian (L table) or big-endian (M table).
pub fn path_record(id: &[u8], lba: u32, parent: u16, big_endian: bool) -> Vec<u8> {
    let mut r = Vec::with_capacity(path_record_len(id.len()));
    r.push(u8::try_from(id.len()).unwrap_or(u8::MAX));
    r.push(0);
    if big_endian {
        r.extend_from_slice(&lba.to_be_bytes());
        r.extend_from_slice(&parent.to_be_bytes());
    } else {
        r.extend_from_slice(&lba.to_le_bytes());
        r.extend_from_slice(&parent.to_le_bytes());
    }
    r.extend_from_slice(id);
    if id.len() % 2 == 1 {
        r.push(0);
    }
    r
}

/// Orders identifiers the way ECMA-119 9.3 sorts directory records: by name, then
/// extension (each padded with spaces), then version descending. Works on bytes (ISO) and
/// UCS-2 units (Joliet) alike.
pub fn compare_ids(a: &[u16], b: &[u16]) -> Ordering {
    let (an, ae, av) = split_id(a);
    let (bn, be, bv) = split_id(b);
    padded_cmp(an, bn)
        .then_with(|| padded_cmp(ae, be))
        .then_with(|| bv.cmp(av))
}

fn split_id(id: &[u16]) -> (&[u16], &[u16], &[u16]) {
    let (rest, version) = match id.iter().rposition(|&u| u == u16::from(b';')) {
        Some(i) => (&id[..i], &id[i + 1..]),
        None => (id, &id[id.len()..]),
    };
    match rest.iter().rposition(|&u| u == u16::from(b'.')) {
        Some(i) => (&rest[..i], &rest[i + 1..], version),
        None => (rest, &rest[rest.len()..], version),
    }
}

fn padded_cmp(a: &[u16], b: &[u16]) -> Ordering {
    let n = a.len().max(b.len());
    let at = |s: &[u16], i: usize| s.get(i).copied().unwrap_or(0x20);
    (0..n)
        .map(|i| at(a, i).cmp(&at(b, i)))
        .find(|o| o.is_ne())
        .unwrap_or(Ordering::Equal)
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// A broken-down UTC time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateTime {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
}

impl DateTime {
    /// Converts seconds since the Unix epoch; the year must fit the 7-byte form (to 2155).
    pub fn from_epoch(epoch: u64) -> Result<DateTime, IsoError> {
        let secs = i64::try_from(epoch).map_err(|_| bad_date(epoch))?;
        let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
        let rem = secs.rem_euclid(86_400) as u32;
        if year > 1900 + 255 {
            return Err(bad_date(epoch));
        }
        Ok(DateTime {
            year,
            month,
            day,
            hour: rem / 3600,
            minute: rem / 60 % 60,
            second: rem % 60,
        })
    }

    /// The 7-byte form of directory records and `TF` (GMT offset 0).
    pub fn stamp7(&self) -> [u8; 7] {
        let b = |v: u32| u8::try_from(v).unwrap_or(0);
        [
            u8::try_from(self.year - 1900).unwrap_or(0),
            b(self.month),
            b(self.day),
            b(self.hour),
            b(self.minute),
            b(self.second),
            0,
        ]
    }

    /// The 17-byte form of volume descriptors (`YYYYMMDDHHMMSScc` + GMT offset 0).
    pub fn stamp17(&self) -> [u8; 17] {
        let s = format!(
            "{:04}{:02}{:02}{:02}{:02}{:02}00",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        );
        let mut out = [0u8; 17];
        out[..16].copy_from_slice(&s.as_bytes()[..16]);
        out
    }
}

fn bad_date(epoch: u64) -> IsoError {
    IsoError::BadOption(format!(
        "source date {epoch} is past 2155, the last year ISO 9660 directory records can hold"
    ))
}

/// The unspecified 17-byte date (all digits zero, offset zero).
const NO_DATE: [u8; 17] = *b"0000000000000000\0";

/// What differs between the primary and the Joliet volume descriptor.
#[derive(Debug, Clone)]
pub struct VolumeFields {
    /// 1 primary, 2 supplementary (Joliet).
    pub kind: u8,
    /// System identifier, already encoded and padded to 32 bytes.
    pub system_id: [u8; 32],
    /// Volume identifier, already encoded and padded to 32 bytes.
    pub volume_id: [u8; 32],
    /// Escape sequences (Joliet: `%/E`), zero for the primary descriptor.
    pub escapes: [u8; 32],
    /// Application identifier, encoded and padded to 128 bytes.
    pub application_id: [u8; 128],
    /// A 128-byte field left empty (spaces in the encoding of the descriptor).
    pub blank128: [u8; 128],
    /// A 37-byte file-name field left empty.
    pub blank37: [u8; 37],
}

/// Where the path tables and the root directory of one tree are.
#[derive(Debug, Clone, Copy)]
pub struct TreeLocation {
    /// Bytes in one path table.
    pub path_table_size: u32,
    /// Sector of the little-endian path table.
    pub l_table: u32,
    /// Sector of the big-endian path table.
    pub m_table: u32,
    /// Sector of the root directory.
    pub root_lba: u32,
    /// Bytes of the root directory.
    pub root_len: u32,
}

/// A primary or supplementary volume descriptor (one sector).
pub fn volume_descriptor(
    f: &VolumeFields,
    loc: &TreeLocation,
    volume_sectors: u32,
    date: &DateTime,
) -> Vec<u8> {
    let mut d = vec![0u8; SECTOR as usize];
    d[0] = f.kind;
    d[1..6].copy_from_slice(b"CD001");
    d[6] = 1;
    d[8..40].copy_from_slice(&f.system_id);
    d[40..72].copy_from_slice(&f.volume_id);
    d[80..88].copy_from_slice(&both32(volume_sectors));
    d[88..120].copy_from_slice(&f.escapes);
    d[120..124].copy_from_slice(&both16(1));
    d[124..128].copy_from_slice(&both16(1));
    d[128..132].copy_from_slice(&both16(SECTOR as u16));
    d[132..140].copy_from_slice(&both32(loc.path_table_size));
    d[140..144].copy_from_slice(&loc.l_table.to_le_bytes());
    d[148..152].copy_from_slice(&loc.m_table.to_be_bytes());
    let root = dir_record(
        &[0],
        loc.root_lba,
        loc.root_len,
        FLAG_DIR,
        date.stamp7(),
        &[],
    );
    d[156..190].copy_from_slice(&root);
    for range in [190..318, 318..446, 446..574] {
        d[range].copy_from_slice(&f.blank128);
    }
    d[574..702].copy_from_slice(&f.application_id);
    for range in [702..739, 739..776, 776..813] {
        d[range].copy_from_slice(&f.blank37);
    }
    let stamp = date.stamp17();
    d[813..830].copy_from_slice(&stamp);
    d[830..847].copy_from_slice(&stamp);
    d[847..864].copy_from_slice(&NO_DATE);
    d[864..881].copy_from_slice(&NO_DATE);
    d[881] = 1;
    d
}

/// The volume descriptor set terminator.
pub fn terminator() -> Vec<u8> {
    let mut d = vec![0u8; SECTOR as usize];
    d[0] = 255;
    d[1..6].copy_from_slice(b"CD001");
    d[6] = 1;
    d
}

/// `s` as a space-padded field of `N` bytes (a-/d-characters, already mapped).
pub fn ascii_field<const N: usize>(s: &str) -> [u8; N] {
    let mut out = [b' '; N];
    for (o, b) in out.iter_mut().zip(s.bytes()) {
        *o = b;
    }
    out
}

/// `s` as a UCS-2 big-endian field of `N` bytes padded with UCS-2 spaces.
pub fn ucs2_field<const N: usize>(s: &str) -> [u8; N] {
    let mut out = [0u8; N];
    for pair in out.chunks_exact_mut(2) {
        pair.copy_from_slice(&[0, b' ']);
    }
    for (pair, u) in out.chunks_exact_mut(2).zip(s.encode_utf16()) {
        pair.copy_from_slice(&u.to_be_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(s: &str) -> Vec<u16> {
        s.encode_utf16().collect()
    }

    #[test]
    fn dates_convert_from_epoch() {
        let d = DateTime::from_epoch(1_700_000_000).unwrap();
        assert_eq!(&d.stamp17()[..16], b"2023111422132000");
        assert_eq!(d.stamp7(), [123, 11, 14, 22, 13, 20, 0]);
        assert_eq!(
            &DateTime::from_epoch(0).unwrap().stamp17()[..8],
            b"19700101"
        );
        assert!(DateTime::from_epoch(6_000_000_000).is_err());
    }

    #[test]
    fn records_have_even_lengths_and_declared_sizes() {
        for id in [&b"\0"[..], b"AB", b"USER_DAT.;1"] {
            let r = dir_record(id, 20, 2048, 0, [0; 7], &[]);
            assert_eq!(r.len() % 2, 0);
            assert_eq!(usize::from(r[0]), r.len());
            assert_eq!(r.len(), record_len(id.len(), 0));
        }
        assert_eq!(path_record(b"A", 1, 1, false).len(), path_record_len(1));
    }

    #[test]
    fn identifiers_sort_by_name_then_extension_padded_with_spaces() {
        let mut ids = vec![u("AB.;1"), u("A.B;1"), u("A_.;1"), u("A.;1")];
        ids.sort_by(|a, b| compare_ids(a, b));
        assert_eq!(ids, [u("A.;1"), u("A.B;1"), u("AB.;1"), u("A_.;1")]);
    }
}
