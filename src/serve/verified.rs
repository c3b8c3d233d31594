//! Blobs checked once per change, not once per request: a whole blob whose bytes matched
//! its digest is remembered with what identifies those bytes on disk ([`Identity`]: device,
//! inode, size, modification and change times), and sent unhashed while its file still
//! has that identity. Every write to a file moves its change time (which no program can
//! set back), a replaced file has another inode, a truncated one another size: each is
//! hashed again at its next whole download. A download sent unhashed looks at its file's
//! identity again once its last chunk is read (the response's body does, `body.rs`) and is
//! cut short if it moved: a write during the download is caught too.
//!
//! What it cannot see: bytes changed beneath the file system (a failing disk, a write to
//! the block device) leave the identity as it was; such a blob is served as checked until
//! its file changes or `serve` restarts. A file system that checksums its data (btrfs,
//! ZFS) fails the read instead, and the response is cut short as for any read error.

use crate::oci::digest::BlobKey;
use std::collections::HashMap;
use std::os::unix::fs::MetadataExt as _;
use std::sync::{Mutex, PoisonError};

/// How many blobs are remembered; past it the memory starts again empty (a layout this
/// large is re-checked blob by blob, as if `serve` had restarted). About 100 bytes each.
const REMEMBERED: usize = 1 << 20;

/// What identifies a file's bytes on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Identity {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Identity {
    pub(crate) fn of(meta: &std::fs::Metadata) -> Identity {
        Identity {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.len(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        }
    }
}

/// The blobs checked whole, with the identity of the file they were read from.
#[derive(Default)]
pub(crate) struct Verified {
    checked: Mutex<HashMap<BlobKey, Identity>>,
}

impl Verified {
    /// Whether `key`'s bytes were checked in a file of this identity.
    pub(crate) fn holds(&self, key: BlobKey, identity: &Identity) -> bool {
        self.lock().get(&key) == Some(identity)
    }

    /// `key`'s bytes matched it, read from a file of this identity.
    pub(crate) fn remember(&self, key: BlobKey, identity: Identity) {
        let mut checked = self.lock();
        if checked.len() >= REMEMBERED && !checked.contains_key(&key) {
            checked.clear();
        }
        checked.insert(key, identity);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<BlobKey, Identity>> {
        self.checked.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    fn identity(path: &std::path::Path) -> Identity {
        Identity::of(&std::fs::metadata(path).unwrap())
    }

    #[test]
    fn a_write_a_replacement_or_a_truncation_is_another_identity() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("blob");
        std::fs::write(&path, b"the bytes").unwrap();
        let verified = Verified::default();
        let key = BlobKey::from_bytes([7; 32]);
        let first = identity(&path);
        verified.remember(key, first);
        assert!(verified.holds(key, &identity(&path)));
        assert!(!verified.holds(BlobKey::from_bytes([8; 32]), &first));

        // Damaged in place, same size, its modification time put back: the change time moved.
        let mtime = std::fs::metadata(&path).unwrap().modified().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let mut f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        f.write_all(b"THE").unwrap();
        f.set_modified(mtime).unwrap();
        drop(f);
        let damaged = identity(&path);
        assert_eq!(damaged.size, first.size);
        assert_eq!(damaged.mtime, first.mtime);
        assert!(!verified.holds(key, &damaged));

        // Replaced by a rename: another inode.
        verified.remember(key, damaged);
        let other = dir.path().join("new");
        std::fs::write(&other, b"the bytes").unwrap();
        std::fs::rename(&other, &path).unwrap();
        assert!(!verified.holds(key, &identity(&path)));

        // Truncated.
        verified.remember(key, identity(&path));
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(3)
            .unwrap();
        assert!(!verified.holds(key, &identity(&path)));
    }

    #[test]
    fn memory_is_bounded() {
        let verified = Verified::default();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("blob");
        std::fs::write(&path, b"x").unwrap();
        let id = identity(&path);
        for i in 0..REMEMBERED as u32 + 1 {
            let mut bytes = [0u8; 32];
            bytes[..4].copy_from_slice(&i.to_le_bytes());
            verified.remember(BlobKey::from_bytes(bytes), id);
        }
        assert_eq!(verified.lock().len(), 1);
    }
}
