//! The errors of the package bundle pipeline, and what each says of itself: where it is
//! (an index file and line), whether it is about the inputs, a missing tool.

use super::deb;
use crate::redact;
use std::path::PathBuf;

/// Errors of the package bundle pipeline.
#[derive(Debug, thiserror::Error)]
pub enum DebsError {
    /// A .deb file could not be read or is not a .deb.
    #[error(transparent)]
    Deb(#[from] deb::DebError),
    /// An index (Packages, Release, a base list) is malformed.
    #[error("{}: {message}", at(source_name, *line))]
    Index {
        /// The file or URL.
        source_name: String,
        /// 1-based line (0 when unknown).
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// The network refused or failed (offline, untrusted certificate, after the retries).
    #[error(transparent)]
    Net(#[from] crate::net::NetError),
    /// A repository file could not be fetched.
    #[error("{}: {message}", redact::url(url))]
    Fetch {
        /// The URL.
        url: String,
        /// What went wrong.
        message: String,
    },
    /// A downloaded .deb is another package than the index entry it was fetched for.
    #[error(
        "{}: this .deb is {actual}, but its index entry says {expected}; refusing it",
        redact::url(url)
    )]
    NotTheEntry {
        /// Where it was downloaded from.
        url: String,
        /// Package, version and architecture of the entry.
        expected: String,
        /// Package, version and architecture of the .deb's control file.
        actual: String,
    },
    /// Downloaded or local content does not match the hash its index records.
    #[error(
        "{}: hash mismatch: expected {expected}, got {actual}; refusing it",
        redact::url(what)
    )]
    HashMismatch {
        /// The file or URL.
        what: String,
        /// The recorded hash (or size).
        expected: String,
        /// What the content hashes to (or its size).
        actual: String,
    },
    /// The InRelease/Release signature does not verify against the keyring.
    #[error("{}: signature check failed: {message}", redact::url(url))]
    Signature {
        /// The Release file's URL.
        url: String,
        /// gpgv's verdict.
        message: String,
    },
    /// The requested packages cannot be installed from the source.
    #[error("{0}")]
    Unsatisfiable(String),
    /// A bundle name that cannot be a file name and a shell word on the node.
    #[error("{0}")]
    Name(String),
    /// A package set name is not known.
    #[error("unknown package set {name:?}; known sets: {known}")]
    UnknownSet {
        /// The name given.
        name: String,
        /// The known names.
        known: String,
    },
    /// A required external tool is missing.
    #[error("{tool} is required to {why}, but it is not installed")]
    MissingTool {
        /// The tool.
        tool: String,
        /// What it is needed for.
        why: String,
    },
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

impl DebsError {
    /// The index file (or URL) and line the error is at, when it names a line.
    pub fn place(&self) -> Option<crate::input::Place> {
        match self {
            DebsError::Index {
                source_name, line, ..
            } if *line > 0 => Some(crate::input::Place::line(
                std::path::Path::new(source_name),
                *line as u64,
            )),
            _ => None,
        }
    }
}

/// `FILE:LINE`, or `FILE` when the line is unknown (0).
/// `source` (a file or URL, its password masked) and the line, if known.
fn at(source: &str, line: usize) -> String {
    let source = redact::url(source);
    if line == 0 {
        source.into_owned()
    } else {
        format!("{source}:{line}")
    }
}

impl DebsError {
    /// Wraps an I/O error with its path.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> DebsError {
        DebsError::Io {
            path: path.into(),
            source,
        }
    }

    /// True when the error is about the inputs (exit code 2) rather than a failure.
    pub fn is_invalid_input(&self) -> bool {
        match self {
            DebsError::Net(e) => e.is_invalid_input(),
            _ => matches!(
                self,
                DebsError::Deb(_)
                    | DebsError::Index { .. }
                    | DebsError::NotTheEntry { .. }
                    | DebsError::Unsatisfiable(_)
                    | DebsError::UnknownSet { .. }
                    | DebsError::Name(_)
            ),
        }
    }

    /// True when a repository was busy or out of reach after the retries: another run
    /// later may succeed (exit 75).
    pub fn is_transient(&self) -> bool {
        matches!(self, DebsError::Net(e) if e.is_transient())
    }

    /// True when a required external tool is missing (exit code 3).
    pub fn is_missing_tool(&self) -> bool {
        matches!(self, DebsError::MissingTool { .. })
    }
}
