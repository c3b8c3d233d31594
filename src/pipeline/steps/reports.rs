//! The reports of the steps whose report is a type of their own (the others deliver their
//! library's: `MirroredImage`, `VerifyReport`, `ArchiveReport`, …). [`super::Done`] holds
//! them for the build's report and the steps after; the step that makes each fills it.

use crate::iso::IsoSummary;
use crate::oci::Digest;
use crate::sbom::Inventory;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// What the charts step did with one chart.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChartReport {
    /// The entry's name.
    pub name: String,
    /// The archive.
    pub path: PathBuf,
    /// Its SHA-256.
    pub digest: Digest,
    /// Where it came from.
    pub origin: String,
}

/// What the manifests step copied: `OUT/manifests` and each file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ManifestsReport {
    /// `OUT/manifests`.
    pub dir: PathBuf,
    /// Each file copied.
    pub files: Vec<ManifestCopy>,
}

/// One manifest file copied.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ManifestCopy {
    /// Its name (`app.yaml`).
    pub name: String,
    /// The copy, `OUT/manifests/NAME`.
    pub path: PathBuf,
    /// Its SHA-256 (hex).
    pub sha256: String,
}

/// A seed or payload ISO the build wrote (the iso and payload steps), with the node it is
/// for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeedIso {
    /// The node whose seed it is; `None` for the shared payload ISO (every node's).
    pub node: Option<String>,
    /// What was written.
    #[serde(flatten)]
    pub iso: IsoSummary,
}

/// What the sbom step wrote.
#[derive(Debug, Clone, Serialize)]
pub struct SbomReport {
    /// `OUT/sbom/sbom.spdx.json`.
    pub spdx: PathBuf,
    /// `OUT/sbom/sbom.cdx.json`.
    pub cyclonedx: PathBuf,
    /// What they list.
    #[serde(skip)]
    pub inventory: Inventory,
}
