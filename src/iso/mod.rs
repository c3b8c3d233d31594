//! ISO 9660 images with Joliet and Rock Ridge, written and read without an ISO crate.
//!
//! A NoCloud seed ISO is found by cloud-init only when blkid reports `TYPE="iso9660"` and
//! the label `cidata`, and when `user-data` and `meta-data` are visible at the root under
//! those exact names. The plain ECMA-119 tree can only hold upper-case 8.3 names, so the
//! real names travel twice: in Rock Ridge `NM` entries (Linux, osirrox, pycdlib) and in a
//! Joliet tree (Windows, 7-Zip). Peer tools are not reproducible by default; this writer
//! is: every date comes from one source date, owners are 0:0, modes are normalised and
//! entries are sorted, so the same tree always gives the same bytes.
//!
//! This module is a pure format library: it knows nothing of seedforge beyond its own
//! [`IsoError`], so it could become a crate of its own.
//!
//! - [`tree`]: scanning a directory and mangling names for the ISO and Joliet trees.
//! - [`layout`]: assigning sectors to descriptors, path tables, directories and files.
//! - [`records`]: directory records, path tables, volume descriptors and dates.
//! - [`rockridge`]: the SUSP/RRIP entries (SP, ER, CE, PX, NM, TF).
//! - [`write`]: streaming the image to a temporary file and renaming it into place;
//!   `direct` writes a large one with direct I/O where extents cannot be shared.
//! - [`read`]: listing and extracting images; never panics on malformed input.

mod direct;
pub mod layout;
pub mod read;
pub mod records;
pub mod rockridge;
pub mod tree;
pub mod write;

pub use read::{Entry, IsoImage, Namespace};
pub use write::{DigestCache, IsoOptions, IsoSummary, write_iso, write_iso_with_mode};

use std::path::PathBuf;

/// Size of a logical sector (and logical block) in every image this module writes.
pub const SECTOR: u64 = 2048;

/// The deepest directory level ECMA-119 allows (the root is level 1).
pub const MAX_DIR_LEVEL: usize = 8;

/// Errors from writing or reading an image.
#[derive(Debug, thiserror::Error)]
pub enum IsoError {
    /// A filesystem operation failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The source tree holds something an image cannot carry (nothing was written).
    #[error("{}: {reason}", path.display())]
    Unsupported {
        /// The offending file or directory.
        path: PathBuf,
        /// Why it cannot go into the image.
        reason: String,
    },
    /// An option (label, source date) is invalid (nothing was written).
    #[error("{0}")]
    BadOption(String),
    /// A source file changed size while it was copied into the image.
    #[error("{}: changed while the image was written ({expected} bytes expected)", path.display())]
    Changed {
        /// The file.
        path: PathBuf,
        /// The size it had when the tree was scanned.
        expected: u64,
    },
    /// An image being read is not a valid ISO 9660 image, or a structure in it is broken.
    #[error("{}: not a readable ISO 9660 image: {reason}", path.display())]
    Malformed {
        /// The image.
        path: PathBuf,
        /// What is wrong, and where.
        reason: String,
    },
}

/// An I/O failure on `path`.
pub(super) fn io_err(path: &std::path::Path, source: std::io::Error) -> IsoError {
    IsoError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl IsoError {
    /// True if the error is about the caller's input (exit code 2, nothing written).
    pub fn is_invalid_input(&self) -> bool {
        matches!(self, IsoError::Unsupported { .. } | IsoError::BadOption(_))
    }
}

/// A `u16` in ECMA-119 both-byte-order form (little-endian, then big-endian).
pub(crate) fn both16(v: u16) -> [u8; 4] {
    let l = v.to_le_bytes();
    let b = v.to_be_bytes();
    [l[0], l[1], b[0], b[1]]
}

/// A `u32` in ECMA-119 both-byte-order form (little-endian, then big-endian).
pub(crate) fn both32(v: u32) -> [u8; 8] {
    let l = v.to_le_bytes();
    let b = v.to_be_bytes();
    [l[0], l[1], l[2], l[3], b[0], b[1], b[2], b[3]]
}

/// Number of sectors needed to hold `bytes`.
pub(crate) fn sectors(bytes: u64) -> u64 {
    bytes.div_ceil(SECTOR)
}
