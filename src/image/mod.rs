//! Image naming: what the user writes to say which image to fetch and where it should land.
//!
//! Three layers, each in its own file so each can be tested on its own:
//! [`Reference`] normalises Docker-style names the way the Docker CLI and containerd do,
//! so `nginx` and `docker.io/library/nginx:latest` are the same image everywhere;
//! [`ImageSource`] adds skopeo-style transports for images that come from local files;
//! [`ImageList`] reads the line-oriented list files that pair sources with destinations.

pub mod list;
pub mod reference;
pub mod rewrite;
pub mod source;

use std::path::PathBuf;

pub use list::{ImageList, ListEntry};
pub use reference::Reference;
pub use rewrite::Rewrites;
pub use source::ImageSource;

/// Everything that can be wrong with an image name, source or list. Each variant carries
/// the offending input or location so the message can point the user at it directly.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// A string is not a valid Docker image reference.
    #[error(
        "invalid image reference {:?}: {reason}",
        crate::redact::reference(input)
    )]
    InvalidReference {
        /// The text as the user wrote it.
        input: String,
        /// What exactly is wrong with it.
        reason: String,
    },
    /// A string is not a valid image source (transport plus location).
    #[error("invalid image source {:?}: {reason}", crate::redact::reference(input))]
    InvalidSource {
        /// The text as the user wrote it.
        input: String,
        /// What exactly is wrong with it.
        reason: String,
    },
    /// A line of an image list file is invalid.
    #[error("{}:{line}: {message}", path.display())]
    List {
        /// The list file.
        path: PathBuf,
        /// The 1-based line number.
        line: usize,
        /// What is wrong on that line.
        message: String,
    },
    /// An image list file could not be read.
    #[error("cannot read image list {}: {source}", path.display())]
    ReadList {
        /// The list file.
        path: PathBuf,
        /// The underlying I/O failure.
        #[source]
        source: std::io::Error,
    },
}

impl ImageError {
    /// The list file and line the error is at, as its message names them.
    pub fn place(&self) -> Option<crate::input::Place> {
        use crate::input::Place;
        match self {
            ImageError::List { path, line, .. } => Some(Place::line(path, *line as u64)),
            ImageError::ReadList { path, .. } => Some(Place::file(path)),
            ImageError::InvalidReference { .. } | ImageError::InvalidSource { .. } => None,
        }
    }
}
