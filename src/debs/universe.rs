//! What the sources offer: every candidate package, read from an index entry or a .deb,
//! with how far its source was authenticated. The repository reader (`repo`) fills a
//! [`Universe`]; what the node has (`base`) and the resolver (`resolve`) read it.

use super::control::Paragraph;
use super::deb::DebFile;
use super::error::DebsError;
use super::version::Version;
use std::path::PathBuf;

/// How far a repository's Release file was authenticated.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verification {
    /// Local .deb files: nothing to verify beyond reading them.
    LocalFiles,
    /// The Release signature verified with gpgv against the keyring.
    Signed {
        /// The keyring used.
        keyring: PathBuf,
    },
    /// No keyring was given: the index hashes were checked, the signature was not.
    Unverified,
}

/// One package a source offers.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// The index paragraph (the control fields plus Filename, Size, SHA256 for a repo).
    pub fields: Paragraph,
    /// Package name.
    pub name: String,
    /// Version.
    pub version: Version,
    /// Architecture (`amd64`, `all`).
    pub arch: String,
    /// Size of the .deb.
    pub size: u64,
    /// SHA-256 of the .deb.
    pub sha256: String,
    /// Where the .deb is.
    pub location: Location,
}

/// Where a candidate's .deb lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// Already read and hashed on disk.
    Local(PathBuf),
    /// To be downloaded from `path` under the repository at `base` (one `base` shared by
    /// every candidate of a repository).
    Remote {
        /// The repository's URL.
        base: std::sync::Arc<str>,
        /// The `Filename` of the index entry.
        path: String,
    },
}

/// Every candidate of a source, with how the source was verified.
#[derive(Debug, Clone)]
pub struct Universe {
    /// The candidates.
    pub candidates: Vec<Candidate>,
    /// Native architecture.
    pub arch: String,
    /// How the index was authenticated.
    pub verification: Verification,
    /// The source, for messages.
    pub origin: String,
    /// Sources apt's conventions would add for newer versions (the security suite of a
    /// Debian release given without it), as sources.list lines, for messages.
    pub suggested: Vec<String>,
}

/// A candidate for a .deb read from disk.
pub fn candidate_from_deb(deb: &DebFile) -> Result<Candidate, DebsError> {
    let mut c = candidate(deb.control.clone(), &deb.path.display().to_string())?;
    c.size = deb.size;
    c.sha256 = deb.sha256.clone();
    c.location = Location::Local(deb.path.clone());
    Ok(c)
}

/// The candidate a paragraph describes, which it keeps as its fields.
pub(crate) fn candidate(p: Paragraph, origin: &str) -> Result<Candidate, DebsError> {
    let bad = |message: String| DebsError::Index {
        source_name: origin.to_string(),
        line: p.line,
        message,
    };
    let field = |name: &str| p.get(name).ok_or_else(|| bad(format!("no {name} field")));
    let name = field("Package")?.to_string();
    let version =
        Version::parse(field("Version")?).map_err(|e| bad(format!("package {name}: {e}")))?;
    for rel in RELATION_FIELDS {
        p.relations(rel)
            .map_err(|e| bad(format!("package {name}: {e}")))?;
    }
    let arch = field("Architecture")?.to_string();
    Ok(Candidate {
        size: p.get("Size").and_then(|s| s.parse().ok()).unwrap_or(0),
        sha256: p.get("SHA256").unwrap_or_default().to_ascii_lowercase(),
        fields: p,
        arch,
        location: Location::Local(PathBuf::new()),
        name,
        version,
    })
}

/// The fields a candidate keeps in its paragraph: those the resolver reads.
pub(super) const RELATION_FIELDS: &[&str] =
    &["Depends", "Pre-Depends", "Provides", "Conflicts", "Breaks"];
