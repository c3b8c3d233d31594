//! The OCI image layout store and everything that fills or checks it.
//!
//! - [`layout`]: the on-disk store (`oci-layout`, `index.json`, `blobs/sha256/…`) with
//!   streamed, digest-checked, atomically committed blobs and a locked `index.json`.
//! - [`index`]: pure logic for merging named entries into `index.json`.
//! - [`source`]: the [`ImageReader`](source::ImageReader) trait every image source implements.
//! - [`local`]: sources on disk: `oci:`, `oci-archive:` and `docker-archive:`.
//! - [`copy`]: copying one image from a source into the store, with platform selection.
//! - [`registry`]: registries as sources (pull) and targets (push), and the lock file.
//! - [`mirror`]: copying a whole image list, concurrently.
//! - [`verify`]: re-hashing everything reachable, reporting strays, and garbage collection.

pub mod archive;
pub mod attached;
pub mod copy;
pub mod descriptor;
pub mod digest;
pub mod index;
pub mod layout;
pub mod local;
pub mod mirror;
pub mod platform;
pub mod registry;
pub mod source;
pub mod stamps;
pub mod verify;

pub use descriptor::Descriptor;
pub use digest::Digest;
pub use layout::Layout;
pub use platform::Platform;

use std::path::PathBuf;

/// Errors from the store and the image sources.
#[derive(Debug, thiserror::Error)]
pub enum OciError {
    /// A filesystem operation failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Reading from an image source failed part-way.
    #[error("{context}: read failed: {source}")]
    Read {
        /// The image or file being read.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A blob's content does not match the digest or size it was announced with.
    #[error(
        "{context}: blob {expected} failed verification: got {actual_digest} ({actual_size} bytes), expected {expected_size} bytes"
    )]
    DigestMismatch {
        /// The image or file the blob belongs to.
        context: String,
        /// The announced digest.
        expected: Digest,
        /// The announced size.
        expected_size: u64,
        /// The digest of what was actually read.
        actual_digest: Digest,
        /// The size of what was actually read.
        actual_size: u64,
    },
    /// A directory is not an OCI image layout (or a broken one).
    #[error("{}: not a usable OCI image layout: {reason}", path.display())]
    NotALayout {
        /// The directory.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A JSON document (index, manifest, config, archive manifest) could not be parsed.
    #[error("{context}: invalid JSON: {source}")]
    Json {
        /// Which document.
        context: String,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// The source does not hold what the image list asks for (missing ref, bad archive).
    #[error("{source_name}: {message}")]
    Source {
        /// The image source as the user wrote it.
        source_name: String,
        /// What is wrong.
        message: String,
    },
    /// None of the selected platforms is available for an image.
    #[error("{image}: no manifest for platform {wanted}; the image has: {available}")]
    NoMatchingPlatform {
        /// The image.
        image: String,
        /// The selected platforms.
        wanted: String,
        /// The platforms the image offers.
        available: String,
    },
    /// A file of a layout or archive is not a regular file, or too large for its kind.
    #[error(transparent)]
    Input(crate::input::InputError),
    /// Something the input asks for that this tool does not do.
    #[error("{0}")]
    Unsupported(String),
    /// A registry could not be reached, refused access, or lacks the image.
    #[error(transparent)]
    Registry(#[from] registry::RegistryError),
    /// An image's signatures do not satisfy the signature policy (`images.verify`).
    #[error("{image}: {message}")]
    Untrusted {
        /// The image (its source as listed).
        image: String,
        /// Which keys were tried, what was found and why nothing verified.
        message: String,
    },
    /// An error of one image list entry, at its `LIST:LINE`.
    #[error("{at}: {error}")]
    AtEntry {
        /// `LIST:LINE`.
        at: String,
        /// What went wrong.
        error: Box<OciError>,
    },
    /// Several entries of an image list could not be opened: each, in list order.
    #[error("{} image(s) of the lists cannot be used:\n{}", .0.len(), .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Entries(Vec<OciError>),
    /// Some images of a list could not be mirrored (`--keep-going`); the others were.
    #[error("{failed} of {total} image(s) failed:\n{}", failures.join("\n"))]
    Incomplete {
        /// How many failed.
        failed: usize,
        /// How many were listed.
        total: usize,
        /// One line per failed image: its destination and the error.
        failures: Vec<String>,
        /// Every failure was a registry busy or out of reach ([`OciError::is_transient`]).
        transient: bool,
    },
}

impl From<crate::input::InputError> for OciError {
    fn from(e: crate::input::InputError) -> OciError {
        match e {
            crate::input::InputError::Io { path, source } => OciError::Io { path, source },
            refused => OciError::Input(refused),
        }
    }
}

impl OciError {
    /// True when the error is caused by what the user asked for rather than by a failure
    /// along the way; such errors exit with code 2.
    pub fn is_invalid_input(&self) -> bool {
        matches!(
            self,
            OciError::Source { .. }
                | OciError::Input(_)
                | OciError::NoMatchingPlatform { .. }
                | OciError::Unsupported(_)
        ) || matches!(self, OciError::Registry(e) if e.is_invalid_input())
            || matches!(self, OciError::AtEntry { error, .. } if error.is_invalid_input())
            // Exit 2 only when every one of them is the input's fault.
            || matches!(self, OciError::Entries(all) if all.iter().all(OciError::is_invalid_input))
    }

    /// True when a registry was busy or out of reach after the retries (another run later
    /// may succeed: exit 75), also when that failure broke a read off part-way.
    pub fn is_transient(&self) -> bool {
        match self {
            OciError::Registry(e) => e.is_transient(),
            OciError::Read { source, .. } | OciError::Io { source, .. } => source
                .get_ref()
                .and_then(|e| e.downcast_ref::<registry::RegistryError>())
                .is_some_and(registry::RegistryError::is_transient),
            OciError::AtEntry { error, .. } => error.is_transient(),
            OciError::Entries(all) => !all.is_empty() && all.iter().all(OciError::is_transient),
            OciError::Incomplete { transient, .. } => *transient,
            _ => false,
        }
    }

    /// Wraps an I/O error with the path it happened on.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> OciError {
        OciError::Io {
            path: path.into(),
            source,
        }
    }
}

/// Result type of this module.
pub type Result<T, E = OciError> = std::result::Result<T, E>;
