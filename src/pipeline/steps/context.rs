//! What the steps of a run share: the planned inputs ([`Inputs`]), the run's context
//! ([`Cx`]), the results so far ([`Done`]), and the few facts several steps derive the
//! same way (each payload's `SHA256SUMS`, the nodes' files as their seeds carry them).

use super::Step;
use super::reports::{ChartReport, ManifestsReport, SbomReport, SeedIso};
use crate::debs::{BundleReport, PreparedBundle};
use crate::image::ImageList;
use crate::iso::DigestCache;
use crate::oci::archive::ArchiveReport;
use crate::oci::mirror::{MirrorOptions, MirroredImage, PreparedImage};
use crate::oci::registry::lockfile::LockFile;
use crate::oci::verify::VerifyReport;
use crate::oci::{Digest, OciError};
use crate::pipeline::offline::Offline;
use crate::pipeline::seal::SealPlan;
use crate::pipeline::state::BuildState;
use crate::pki::{PkiReport, PkiSettings};
use crate::render::NodeFiles;
use crate::report::Reporter;
use crate::seed::PayloadFile;
use crate::{Error, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What planning prepared for the steps to run on: checked inputs, opened sources,
/// resolved bundles, rendered nodes, and what the last build recorded.
pub struct Inputs {
    /// The output directory.
    pub output: PathBuf,
    /// Every image to mirror, from all lists.
    pub images: ImageList,
    /// Mirror settings.
    pub mirror: MirrorOptions,
    /// The opened, platform-selected images, one per image entry.
    pub(crate) prepared: Vec<PreparedImage>,
    /// The resolved package bundles, one per packages step not kept offline.
    pub(crate) bundles: Vec<PreparedBundle>,
    /// The PKI step's settings (secrets resolved); `None` without a registry.
    pub(crate) pki: Option<PkiSettings>,
    /// Every node's rendered, validated files.
    pub(crate) nodes: Vec<NodeFiles>,
    /// `seedforge.lock` and the pins the steps make, written there once the output is
    /// sealed (`None` with
    /// `--locked`, which only checks, and `--offline`, which only reads it).
    pub(crate) lock: Option<(PathBuf, LockFile)>,
    /// What the seal records about the inputs.
    pub(crate) seal: SealPlan,
    /// `--offline`: where registry images are in the layout, and the bundles kept.
    pub(crate) offline: Option<Offline>,
    /// Bundle name → its inputs' digests, for each bundle whose pin the lock records once
    /// it is written.
    pub(crate) bundle_inputs: BTreeMap<String, crate::pipeline::offline::BundleInputs>,
    /// What the last build in the output folder did (empty with `--force`).
    pub(crate) state: BuildState,
}

/// A run's context, handed to every step: the inputs, every step of the plan, progress,
/// the lock being written, and what the steps before have done.
pub struct Cx<'p> {
    /// What planning prepared.
    pub inputs: &'p Inputs,
    /// Every step of the plan, in order.
    pub steps: &'p [Step],
    /// Progress.
    pub reporter: &'p dyn Reporter,
    /// The seed ISOs' shared prefixes, hashed once per build (shared by writer threads).
    pub digests: &'p DigestCache,
    /// `seedforge.lock` as this run writes it (see [`Inputs::lock`]).
    pub lock: Option<(PathBuf, LockFile)>,
    /// The results so far.
    pub done: Done,
}

/// What the steps of a run have produced so far: each step delivers its typed report
/// here ([`super::StepKind::deliver`]).
#[derive(Default)]
pub struct Done {
    /// The images mirrored.
    pub mirrored: Vec<MirroredImage>,
    /// The verification of the layout.
    pub verified: Option<VerifyReport>,
    /// The airgap archives.
    pub archives: Vec<ArchiveReport>,
    /// The package bundles.
    pub bundles: Vec<BundleReport>,
    /// The node folders.
    pub node_dirs: Vec<PathBuf>,
    /// The seed ISOs and the payload ISO.
    pub isos: Vec<SeedIso>,
    /// The registry PKI and configs.
    pub pki: Option<PkiReport>,
    /// The `files:` payload.
    pub files: Vec<crate::files::FileReport>,
    /// The Helm charts.
    pub charts: Vec<ChartReport>,
    /// The `manifests:` files copied.
    pub manifests: Option<ManifestsReport>,
    /// The SBOMs.
    pub sbom: Option<SbomReport>,
    /// `SHA256SUMS` and `manifest.json`.
    pub seal: Option<crate::pipeline::seal::SealReport>,
    /// The ISOs copied into `export_dir`.
    pub export: Option<crate::pipeline::export::ExportReport>,
    /// Each distinct payload's `SHA256SUMS` (servers and agents differ with the embedded
    /// registry mirror), made once per build.
    pub(crate) payload_sums: Vec<(Vec<PayloadFile>, String)>,
    /// The nodes' files as their seeds carry them (see [`Cx::seeded_nodes`]).
    seeded: Option<Vec<NodeFiles>>,
}

/// What a step's run gives the runner.
pub enum Work<'p, R> {
    /// The step ran; its report.
    Done(R),
    /// The step's writing, to run on any thread (batchable steps only); its report.
    Later(Box<dyn FnOnce() -> Result<R> + Send + 'p>),
}

/// What the build state records of a step that ran (see `BuildState::record`).
pub struct Record {
    /// The files the step wrote (or, `vouched`, read and vouches for).
    pub outputs: Vec<PathBuf>,
    /// What the state keeps to restore the report of a skipped step.
    pub kept: serde_json::Value,
    /// The outputs are files the step read and vouches for, not files it wrote.
    pub vouched: bool,
}

impl Record {
    /// The record of a step that wrote `outputs`, keeping `kept`.
    pub fn wrote(outputs: Vec<PathBuf>, kept: &impl serde::Serialize) -> Record {
        Record {
            outputs,
            kept: serde_json::to_value(kept).unwrap_or_default(),
            vouched: false,
        }
    }
}

/// An I/O error on `path`, as the steps report it.
pub(crate) fn io_error(path: &Path, e: std::io::Error) -> Error {
    Error::Oci(OciError::io(path, e))
}

/// The hex sha256 of `text`.
pub(crate) fn sha_of(text: &str) -> String {
    Digest::of(text.as_bytes()).hex().to_string()
}

impl Cx<'_> {
    /// The digest of `path` from the build state's stat cache.
    pub fn sha256(&self, path: &Path) -> Result<String> {
        self.inputs
            .state
            .sha256(path)
            .map_err(|e| io_error(path, e))
    }

    /// `payload/SHA256SUMS` of a seed carrying `payload`, from the stat cache; computed
    /// once per build for each distinct payload.
    pub fn payload_sums(&mut self, payload: &[PayloadFile]) -> Result<String> {
        if let Some((_, sums)) = self.done.payload_sums.iter().find(|(p, _)| p == payload) {
            return Ok(sums.clone());
        }
        let state = &self.inputs.state;
        let sums = crate::seed::payload_sums_with(payload, &|p| state.sha256(p))?;
        self.done
            .payload_sums
            .push((payload.to_vec(), sums.clone()));
        Ok(sums)
    }

    /// The nodes' files as their seeds carry them: `meta-data`'s instance-id also covers
    /// the payload's `SHA256SUMS` (each node's own); computed once per build.
    pub fn seeded_nodes(&mut self) -> Result<Vec<NodeFiles>> {
        if let Some(seeded) = &self.done.seeded {
            return Ok(seeded.clone());
        }
        let mut seeded = Vec::new();
        for n in &self.inputs.nodes {
            let payload = (self.steps.iter())
                .find_map(|s| match s.get().seed() {
                    Some((node, payload)) if node == n.node => Some(payload),
                    _ => None,
                })
                .unwrap_or_default();
            let sums = self.payload_sums(payload)?;
            seeded.push(n.with_payload(&sums));
        }
        self.done.seeded = Some(seeded.clone());
        Ok(seeded)
    }

    /// One node's files as its seed carries them (`None` for a node without files).
    pub fn seeded_node(&mut self, node: &str) -> Result<Option<NodeFiles>> {
        if self.done.seeded.is_none() {
            self.seeded_nodes()?;
        }
        Ok(self
            .done
            .seeded
            .as_ref()
            .and_then(|all| all.iter().find(|n| n.node == node))
            .cloned())
    }
}

/// Each payload file's mode (executable or not), which the checksums do not cover:
/// `executable:` turned on must rebuild the image that carries the payload.
pub(crate) fn payload_modes(payload: &[PayloadFile]) -> Vec<serde_json::Value> {
    (payload.iter())
        .map(|p| serde_json::json!([p.name, p.executable]))
        .collect()
}
