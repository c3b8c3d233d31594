//! What a source of candidates is: local .deb files, or an apt repository.

use std::path::PathBuf;

/// An apt repository to read from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RepoSpec {
    /// Base URL (`http://deb.debian.org/debian`, `file:///srv/mirror`).
    pub url: String,
    /// Suite (`bookworm`); a suite ending in `/` names a flat repository.
    pub suite: String,
    /// Components (`main`); ignored for a flat repository.
    pub components: Vec<String>,
    /// Keyring to check the Release signature with (`gpgv --keyring`).
    pub keyring: Option<PathBuf>,
}

/// Where the candidates come from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PackageSource {
    /// .deb files, or directories searched (not recursively) for `*.deb`.
    Debs(Vec<PathBuf>),
    /// An apt repository.
    Repo(RepoSpec),
}
