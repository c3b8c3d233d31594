//! The index of a tar archive that local sources read blobs from by seek: where each
//! regular file entry keeps its data, and what every other entry is, so that a blob
//! stored as a link, folder or device entry is refused by kind rather than reported
//! missing.

use super::source_error;
use crate::oci::layout::MAX_DOCUMENT_SIZE;
use crate::oci::{OciError, Result};
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// Where each regular file of a tar archive keeps its data, so members can be read by seek.
/// Other entries (links, folders, devices) are recorded by kind, so a blob that is one is
/// refused by name instead of reported missing.
#[derive(Debug)]
pub struct TarIndex {
    pub(super) path: PathBuf,
    members: HashMap<String, Member>,
}

/// One tar entry: a regular file's data (offset, size), or what else it is.
#[derive(Debug, Clone, Copy)]
enum Member {
    File(u64, u64),
    Other(&'static str),
}

/// What a non-regular tar entry is, for messages.
fn entry_kind(kind: tar::EntryType) -> &'static str {
    match kind {
        tar::EntryType::Link => "a hard link",
        tar::EntryType::Symlink => "a symbolic link",
        tar::EntryType::Directory => "a directory",
        tar::EntryType::Fifo => "a FIFO",
        tar::EntryType::Char => "a character device",
        tar::EntryType::Block => "a block device",
        tar::EntryType::GNUSparse => "a sparse file",
        _ => "a special entry",
    }
}

impl TarIndex {
    /// Scans the archive headers (skipping over member data) and records each file's data
    /// offset and size.
    pub fn scan(path: &Path, source_name: &str) -> Result<TarIndex> {
        let mut file = crate::input::open_regular(path).map_err(|e| {
            source_error(
                source_name,
                format!("cannot open {}: {}", path.display(), e.reason()),
            )
        })?;
        let mut magic = [0u8; 2];
        if file.read_exact(&mut magic).is_ok() && magic == [0x1f, 0x8b] {
            return Err(source_error(
                source_name,
                "the archive is gzip-compressed; decompress it first (gunzip) or use an uncompressed tar",
            ));
        }
        file.seek(SeekFrom::Start(0))
            .map_err(|e| OciError::io(path, e))?;
        let bad =
            |e: io::Error| source_error(source_name, format!("not a readable tar archive: {e}"));
        let mut archive = tar::Archive::new(file);
        let mut members = HashMap::new();
        for entry in archive.entries_with_seek().map_err(bad)? {
            let entry = entry.map_err(bad)?;
            let kind = entry.header().entry_type();
            let member = if kind.is_file() || kind == tar::EntryType::Continuous {
                Member::File(entry.raw_file_position(), entry.size())
            } else {
                Member::Other(entry_kind(kind))
            };
            let name = entry.path().map_err(bad)?.to_string_lossy().into_owned();
            let name = name
                .trim_start_matches("./")
                .trim_end_matches('/')
                .to_string();
            // A later entry of the same name replaces the earlier one, as on extraction.
            members.insert(name, member);
        }
        Ok(TarIndex {
            path: path.to_path_buf(),
            members,
        })
    }

    /// Size of a member that is a regular file, if there is one.
    pub fn size(&self, member: &str) -> Option<u64> {
        match self.members.get(member)? {
            Member::File(_, size) => Some(*size),
            Member::Other(_) => None,
        }
    }

    /// Streams one regular member's data.
    pub fn open(&self, member: &str) -> Option<io::Result<io::Take<File>>> {
        let Member::File(offset, size) = *self.members.get(member)? else {
            return None;
        };
        Some((|| {
            let mut f = crate::input::open_regular(&self.path).map_err(|e| e.into_io())?;
            f.seek(SeekFrom::Start(offset))?;
            Ok(f.take(size))
        })())
    }

    /// The size of `member`, which must be a regular file entry: else why not, worded
    /// for a message (`is a hard link, not a regular file`, `is missing from the archive`).
    pub fn regular(&self, member: &str) -> std::result::Result<u64, String> {
        match self.members.get(member) {
            Some(Member::File(_, size)) => Ok(*size),
            Some(Member::Other(kind)) => Err(format!(
                "{member} is {kind} in the archive, not a regular file"
            )),
            None => Err(format!("{member} is missing from the archive")),
        }
    }

    /// Checks that `member` is a regular file entry of `size` bytes.
    pub(super) fn check(&self, member: &str, size: u64, source_name: &str) -> Result<()> {
        let actual = self
            .regular(member)
            .map_err(|why| source_error(source_name, why))?;
        if actual != size {
            return Err(source_error(
                source_name,
                format!("{member} holds {actual} bytes, but the image's descriptor says {size}"),
            ));
        }
        Ok(())
    }

    /// Reads a small member whole.
    pub fn read_small(&self, member: &str, source_name: &str) -> Result<Vec<u8>> {
        let size = self
            .regular(member)
            .map_err(|why| source_error(source_name, why))?;
        if size > MAX_DOCUMENT_SIZE {
            return Err(source_error(
                source_name,
                format!("{member} is implausibly large ({size} bytes)"),
            ));
        }
        let mut bytes = Vec::new();
        self.open(member)
            .ok_or_else(|| source_error(source_name, format!("the archive has no {member}")))?
            .and_then(|mut r| r.read_to_end(&mut bytes))
            .map_err(|e| OciError::io(&self.path, e))?;
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tar with a regular file, a hard link to it, a symbolic link, a folder and a FIFO.
    fn archive(dir: &Path) -> PathBuf {
        let path = dir.join("a.tar");
        let mut b = tar::Builder::new(File::create(&path).unwrap());
        let mut file = tar::Header::new_gnu();
        file.set_size(3);
        file.set_mode(0o644);
        file.set_cksum();
        b.append_data(&mut file, "blobs/sha256/aa", &b"abc"[..])
            .unwrap();
        for (kind, name) in [
            (tar::EntryType::Link, "blobs/sha256/bb"),
            (tar::EntryType::Symlink, "blobs/sha256/cc"),
            (tar::EntryType::Directory, "blobs/sha256/dd/"),
            (tar::EntryType::Fifo, "blobs/sha256/ee"),
        ] {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(kind);
            h.set_size(0);
            h.set_mode(0o644);
            if matches!(kind, tar::EntryType::Link | tar::EntryType::Symlink) {
                h.set_link_name("blobs/sha256/aa").unwrap();
            }
            h.set_cksum();
            b.append_data(&mut h, name, io::empty()).unwrap();
        }
        b.into_inner().unwrap();
        path
    }

    #[test]
    fn only_regular_entries_are_members_and_the_others_are_named_by_kind() {
        let dir = tempfile::tempdir().unwrap();
        let tar = TarIndex::scan(&archive(dir.path()), "oci-archive:a.tar").unwrap();
        assert_eq!(tar.regular("blobs/sha256/aa"), Ok(3));
        let mut data = String::new();
        tar.open("blobs/sha256/aa")
            .unwrap()
            .unwrap()
            .read_to_string(&mut data)
            .unwrap();
        assert_eq!(data, "abc");
        for (name, kind) in [
            ("blobs/sha256/bb", "a hard link"),
            ("blobs/sha256/cc", "a symbolic link"),
            ("blobs/sha256/dd", "a directory"),
            ("blobs/sha256/ee", "a FIFO"),
        ] {
            assert_eq!(
                tar.regular(name),
                Err(format!(
                    "{name} is {kind} in the archive, not a regular file"
                ))
            );
            assert!(
                tar.size(name).is_none() && tar.open(name).is_none(),
                "{name}"
            );
        }
        assert_eq!(
            tar.regular("blobs/sha256/ff"),
            Err("blobs/sha256/ff is missing from the archive".to_string())
        );
        let err = tar
            .check("blobs/sha256/aa", 4, "src")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("holds 3 bytes") && err.contains("says 4"),
            "{err}"
        );
    }
}
