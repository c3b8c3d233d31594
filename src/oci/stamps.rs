//! Stat stamps of a layout's blobs: for each blob whose content was last hashed and found
//! right, the stat it had then (size, mtime, ctime, inode, device), kept in
//! `LAYOUT/.seedforge/blob-stamps.json`. `seedforge airgap` re-hashes only the blobs whose
//! stat changed since, so an archive of an unchanged layout costs no read of its blobs (on
//! a copy-on-write file system, no read at all); `seedforge verify` re-hashes everything and
//! refreshes the stamps.
//!
//! The limit is that of any stat cache (see the build state's stat cache): a blob rewritten in a way
//! that keeps all five values is not noticed; `seedforge verify` notices it.

use super::digest::BlobKey;
use super::layout::{Layout, PRIVATE_DIR};
use super::verify::{BlobFile, KnownDigests};
use crate::util::FileStat;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The stamps file inside the layout's private folder.
const STAMPS_FILE: &str = "blob-stamps.json";
/// Format version of the stamps file.
const FORMAT: u32 = 1;
/// A stamps file larger than this is not ours (one line per blob, ~200 bytes each).
const MAX_BYTES: u64 = 64 << 20;

#[derive(Debug, Default, Serialize, Deserialize)]
struct Doc {
    format: u32,
    /// Blob digest (hex in the file) to its stat when it last hashed right (written sorted).
    #[serde(serialize_with = "crate::util::serialize_sorted")]
    blobs: HashMap<BlobKey, FileStat>,
}

/// The stamps of one layout, loaded, used, and saved when they changed.
#[derive(Debug)]
pub struct BlobStamps {
    path: PathBuf,
    /// Whether a matching stamp vouches for a blob (`false`: only record new stamps).
    trust: bool,
    doc: Mutex<(Doc, bool)>,
}

impl BlobStamps {
    /// The stamps of `layout`; a missing, damaged or foreign file is an empty set.
    pub fn load(layout: &Layout) -> BlobStamps {
        let path = layout.root().join(PRIVATE_DIR).join(STAMPS_FILE);
        let doc = read_doc(&path).unwrap_or_default();
        BlobStamps {
            path,
            trust: true,
            doc: Mutex::new((doc, false)),
        }
    }

    /// Stamps that vouch for nothing but record what is hashed now (a full verify).
    pub fn recording(layout: &Layout) -> BlobStamps {
        BlobStamps {
            trust: false,
            ..BlobStamps::load(layout)
        }
    }

    /// Writes the stamps (atomically) if this run changed them.
    pub fn save(&self) -> io::Result<()> {
        let mut guard = self
            .doc
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !guard.1 {
            return Ok(());
        }
        if let Some(dir) = self.path.parent() {
            fs::create_dir_all(dir)?;
        }
        guard.0.format = FORMAT;
        let bytes = serde_json::to_vec(&guard.0).map_err(io::Error::other)?;
        crate::util::atomic_write(&self.path, &bytes)?;
        guard.1 = false;
        Ok(())
    }
}

/// The stamps file, read like any other of seedforge's own files (a regular file only,
/// capped); anything else is no stamps at all.
fn read_doc(path: &Path) -> Option<Doc> {
    let bytes = crate::input::read_capped(path, MAX_BYTES, "blob stamps file").ok()?;
    serde_json::from_slice::<Doc>(&bytes)
        .ok()
        .filter(|d| d.format == FORMAT)
}

impl KnownDigests for BlobStamps {
    fn known(&self, blob: &BlobFile<'_>, stat: &FileStat) -> bool {
        self.trust
            && self
                .doc
                .lock()
                .is_ok_and(|guard| guard.0.blobs.get(&blob.key()) == Some(stat))
    }

    fn trusts(&self) -> bool {
        self.trust
    }

    fn learned(&self, blob: &BlobFile<'_>, stat: &FileStat) {
        if let Ok(mut guard) = self.doc.lock()
            && guard.0.blobs.get(&blob.key()) != Some(stat)
        {
            guard.0.blobs.insert(blob.key(), *stat);
            guard.1 = true;
        }
    }
}
