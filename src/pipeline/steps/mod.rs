//! The steps of a build, one file each. A step file owns its step whole: what the step
//! reads and writes, how it is planned from the config, its line in `seedforge plan`, its
//! fingerprint, running it, the report it returns (its type in `reports.rs` when it is the
//! step's own), and restoring that report when the step is skipped as unchanged.
//! [`StepKind`] is what every step is; [`Step`] lists them, and its [`Step::visit`] is the
//! one place that names every step.
//!
//! Adding a step: a new file here with a type that implements [`StepKind`], one variant
//! in [`Step`] and one arm in [`Step::visit`]. The runner (`pipeline::run`) does the
//! rest generically: skipping, recording in the build state, and writing consecutive
//! batchable steps (the seed ISOs) on every core.

mod context;
mod reports;

pub mod airgap;
pub mod charts;
pub mod export;
pub mod files;
pub mod iso;
pub mod manifests;
pub mod mirror;
pub mod packages;
pub mod payload;
pub mod pki;
pub mod render;
pub mod sbom;
pub mod seal;
pub mod verify;

pub use context::{Cx, Done, Inputs, Record, Work};
pub use reports::{ChartReport, ManifestCopy, ManifestsReport, SbomReport, SeedIso};

use crate::Result;
use crate::pipeline::modes::Kind;
use crate::seed::PayloadFile;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// One step of a build, as `seedforge plan` shows it (`--json`: `{"step": "mirror", …}`)
/// and `seedforge build` runs it.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Step {
    /// Copy every listed image into the OCI layout.
    Mirror(mirror::Mirror),
    /// Re-hash everything reachable in the layout.
    Verify(verify::Verify),
    /// Write one k3s airgap image archive.
    Airgap(airgap::Airgap),
    /// Write one offline package bundle.
    Packages(packages::Packages),
    /// Write one Helm chart's archive.
    Charts(charts::Charts),
    /// Copy the `manifests:` files.
    Manifests(manifests::Manifests),
    /// Keep or issue the registry PKI and write the registry configs.
    Pki(pki::Pki),
    /// Copy (or download) the `files:` payload.
    Files(files::Files),
    /// Write each node's NoCloud files.
    Render(render::Render),
    /// Write the shared payload ISO.
    Payload(payload::Payload),
    /// Write one node's seed ISO.
    Iso(iso::Iso),
    /// Write the SBOMs (SPDX and CycloneDX) of everything the build wrote.
    Sbom(sbom::Sbom),
    /// Write `SHA256SUMS` and `manifest.json` over every artifact.
    Seal(seal::Seal),
    /// Copy the ISOs into `export_dir`.
    Export(export::Export),
}

/// Something done with one step, whatever its kind: [`Step::visit`] calls `visit` with
/// the step's own type.
pub trait Visit<'p> {
    /// What the visit gives.
    type Out;
    /// Visits `step`.
    fn visit<S: StepKind>(self, step: &'p S) -> Self::Out;
}

impl Step {
    /// Calls `v` with the step's own type. The one place that lists every step.
    pub fn visit<'p, V: Visit<'p>>(&'p self, v: V) -> V::Out {
        match self {
            Step::Mirror(s) => v.visit(s),
            Step::Verify(s) => v.visit(s),
            Step::Airgap(s) => v.visit(s),
            Step::Packages(s) => v.visit(s),
            Step::Charts(s) => v.visit(s),
            Step::Manifests(s) => v.visit(s),
            Step::Pki(s) => v.visit(s),
            Step::Files(s) => v.visit(s),
            Step::Render(s) => v.visit(s),
            Step::Payload(s) => v.visit(s),
            Step::Iso(s) => v.visit(s),
            Step::Sbom(s) => v.visit(s),
            Step::Seal(s) => v.visit(s),
            Step::Export(s) => v.visit(s),
        }
    }

    /// The step behind the kind-independent questions ([`AnyStep`]).
    pub fn get(&self) -> &dyn AnyStep {
        struct AsDyn;
        impl<'p> Visit<'p> for AsDyn {
            type Out = &'p dyn AnyStep;
            fn visit<S: StepKind>(self, step: &'p S) -> &'p dyn AnyStep {
                step
            }
        }
        self.visit(AsDyn)
    }

    /// The step's short name (`mirror`).
    pub fn name(&self) -> &'static str {
        self.get().name()
    }

    /// One line describing what the step does.
    pub fn describe(&self) -> String {
        self.get().describe()
    }
}

/// What every step is. A step is planned into a value of its type (the plan's line and
/// the fingerprint's inputs), then run by the runner through these methods.
pub trait StepKind: Serialize + Sync {
    /// What running the step gives, kept in the build's report.
    type Report: Send;
    /// What the build state keeps of a run, to give the report again when the step is
    /// skipped (`()` for steps whose report is rebuilt from the plan).
    type Kept: Serialize + DeserializeOwned;
    /// The step's short name.
    const NAME: &'static str;
    /// Consecutive steps of a batchable kind may return [`Work::Later`]: the runner writes
    /// them on every core, then records each in order as if it had run alone.
    const BATCH: bool = false;

    /// The step's name in the build state: its kind and, for steps of which a build has
    /// several, which one.
    fn key(&self) -> String {
        Self::NAME.to_string()
    }
    /// One line describing what the step does (`seedforge plan`).
    fn describe(&self) -> String;
    /// The files under the output the seal covers (only those that exist count), each with
    /// what it is: its kind, not the file system, decides the mode the manifest records.
    fn artifacts(&self, _out: &mut dyn FnMut(PathBuf, Kind)) -> Result<()> {
        Ok(())
    }
    /// What the step adds under every seed's `payload/`.
    fn payload(&self) -> Vec<PayloadFile> {
        Vec::new()
    }
    /// The node whose seed the step writes, and the payload that seed carries (the iso
    /// step); `None` for every other step.
    fn seed(&self) -> Option<(&str, &[PayloadFile])> {
        None
    }
    /// Everything the step's result depends on; `None` when the step always runs.
    fn fingerprint(&self, _cx: &mut Cx<'_>) -> Result<Option<serde_json::Value>> {
        Ok(None)
    }
    /// The report of a skipped step from what the state kept; `None` runs the step.
    fn restore(
        &self,
        _cx: &mut Cx<'_>,
        _key: &str,
        _kept: Self::Kept,
    ) -> Result<Option<Self::Report>> {
        Ok(None)
    }
    /// Runs the step, or (a [`Self::BATCH`] step) prepares the part that may run on
    /// another thread.
    fn run<'p>(&'p self, cx: &mut Cx<'p>) -> Result<Work<'p, Self::Report>>;
    /// Records in the lock being written (`cx.lock`) what running the step would pin,
    /// without running it or writing the output (`seedforge lock`); most steps pin nothing.
    fn pin_planned(&self, _cx: &mut Cx<'_>) -> Result<()> {
        Ok(())
    }
    /// What the build state records of a run that has just finished (learning the
    /// digests the step computed); `None` records nothing.
    fn record(&self, _cx: &Cx<'_>, _report: &Self::Report) -> Result<Option<Record>> {
        Ok(None)
    }
    /// Puts the report where the build's report and later steps find it.
    fn deliver(report: Self::Report, done: &mut Done);
}

/// The questions about a step that do not depend on its type.
pub trait AnyStep {
    /// The step's short name.
    fn name(&self) -> &'static str;
    /// See [`StepKind::key`].
    fn key(&self) -> String;
    /// See [`StepKind::describe`].
    fn describe(&self) -> String;
    /// See [`StepKind::artifacts`].
    fn artifacts(&self, out: &mut dyn FnMut(PathBuf, Kind)) -> Result<()>;
    /// See [`StepKind::payload`].
    fn payload(&self) -> Vec<PayloadFile>;
    /// See [`StepKind::seed`].
    fn seed(&self) -> Option<(&str, &[PayloadFile])>;
    /// See [`StepKind::BATCH`].
    fn batch(&self) -> bool;
}

impl<S: StepKind> AnyStep for S {
    fn name(&self) -> &'static str {
        S::NAME
    }
    fn key(&self) -> String {
        StepKind::key(self)
    }
    fn describe(&self) -> String {
        StepKind::describe(self)
    }
    fn artifacts(&self, out: &mut dyn FnMut(PathBuf, Kind)) -> Result<()> {
        StepKind::artifacts(self, out)
    }
    fn payload(&self) -> Vec<PayloadFile> {
        StepKind::payload(self)
    }
    fn seed(&self) -> Option<(&str, &[PayloadFile])> {
        StepKind::seed(self)
    }
    fn batch(&self) -> bool {
        S::BATCH
    }
}

/// The key of a step that writes one file of several of its kind (`airgap OUT/…`).
pub fn output_key(name: &str, out: &Path) -> String {
    format!("{name} {}", out.display())
}

/// What every node's seed carries under `payload/`, from the steps before the seeds
/// (airgap archives, package bundles, the registry CA and `registries.yaml`, the
/// `files:` payload), sorted by name.
pub fn payload_files(steps: &[Step]) -> Vec<PayloadFile> {
    let mut files: Vec<PayloadFile> = steps.iter().flat_map(|s| s.get().payload()).collect();
    files.sort_by(|a, b| a.name.cmp(&b.name));
    files
}

/// A payload entry `DIR/FILE` for the file at `path`.
fn payload_file(dir: &str, path: &Path) -> PayloadFile {
    PayloadFile {
        name: format!(
            "{dir}{}",
            path.file_name()
                .map(|n| n.to_string_lossy())
                .unwrap_or_default()
        ),
        source: path.to_path_buf(),
        executable: false,
        content_named: false,
    }
}

/// Every artifact the steps wrote under `output`, sorted by bytes, with its kind (the files the
/// seal covers).
pub fn artifact_paths(output: &Path, steps: &[Step]) -> Result<Vec<(PathBuf, Kind, u64)>> {
    // Each path's size, from the one stat that also tells it is a file.
    let mut found: HashMap<PathBuf, (Kind, u64)> = HashMap::new();
    for step in steps {
        step.get().artifacts(&mut |p, kind| {
            if let Some(at) = found.get_mut(&p) {
                // Claimed twice, the stricter kind wins (a secret stays one).
                at.0 = at.0.max(kind);
            } else if let Ok(meta) = std::fs::metadata(&p)
                && meta.is_file()
            {
                found.insert(p, (kind, meta.len()));
            }
        })?;
    }
    // Only what lies inside the output is an artifact of it.
    let mut inside: Vec<(PathBuf, Kind, u64)> = found
        .into_iter()
        .filter(|(p, _)| p.starts_with(output))
        .map(|(p, (kind, size))| (p, kind, size))
        .collect();
    // In the order of the paths' bytes (thousands of blobs: no component-wise compares).
    inside.sort_unstable_by(|a, b| a.0.as_os_str().as_bytes().cmp(b.0.as_os_str().as_bytes()));
    Ok(inside)
}
