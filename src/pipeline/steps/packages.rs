//! The packages step: one offline package bundle (`OUT/packages/<name>.tar.gz`), its
//! closure resolved while planning. Skipped while the bundle's spec, requests, resolved
//! closure and every .deb's sha256 are unchanged. An offline build keeps the bundle built
//! before. A bundle from an http(s) repository is pinned in the lock, built now or not.

use super::context::io_error;
use super::{Cx, Done, Record, StepKind, Work, output_key, payload_file};
use crate::Result;
use crate::config::Config;
use crate::debs::resolve::Upgrade;
use crate::debs::{BundleReport, PreparedBundle};
use crate::pipeline::modes::Kind;
use crate::pipeline::offline::{KeptBundle, Offline, bundle_path, pin_bundle};
use crate::seed::PayloadFile;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Write one offline package bundle (its closure was resolved while planning).
#[derive(Debug, Clone, Serialize)]
pub struct Packages {
    /// Bundle name.
    pub name: String,
    /// The tarball.
    pub out: PathBuf,
    /// Where the packages come from.
    pub source: String,
    /// Packages requested (sets expanded).
    pub requested: usize,
    /// Packages in the closure.
    pub debs: usize,
    /// Entry mtime.
    pub mtime: u64,
    /// Carried on every node's seed (`packages[].nodes`); shown only when not.
    #[serde(skip_serializing_if = "on_nodes")]
    pub nodes: bool,
    /// The packages the bundle upgrades over its base (none when kept offline).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub upgrades: Vec<Upgrade>,
}

/// True for a bundle the seeds carry (the default, left out of the step's JSON).
fn on_nodes(nodes: &bool) -> bool {
    *nodes
}

/// One step per configured bundle: resolved now (`bundles`), or kept as built before
/// (`--offline`).
pub fn plan(
    config: &Config,
    output: &Path,
    bundles: &[PreparedBundle],
    offline: Option<&Offline>,
    mtime: u64,
) -> Vec<Packages> {
    let mut steps = Vec::new();
    for b in &config.packages {
        let (name, out) = (b.name.clone(), bundle_path(output, &b.name));
        if let Some(k) = offline.and_then(|o| o.kept(&b.name)) {
            steps.push(Packages {
                source: format!("{} (offline: kept as built before)", k.origin),
                requested: k.requested,
                debs: k.debs,
                name,
                out,
                mtime,
                nodes: b.nodes,
                upgrades: Vec::new(),
            });
        } else if let Some(p) = bundles.iter().find(|p| p.spec.name == b.name) {
            steps.push(Packages {
                source: p.universe.origin.clone(),
                requested: p.requests.len(),
                debs: p.closure.packages.len(),
                name,
                out,
                mtime,
                nodes: b.nodes,
                upgrades: p.closure.upgrades.clone(),
            });
        }
    }
    steps
}

impl Packages {
    /// The bundle an offline build keeps for this step.
    fn kept<'p>(&self, cx: &Cx<'p>) -> Option<&'p KeptBundle> {
        cx.inputs.offline.as_ref().and_then(|o| o.kept(&self.name))
    }

    /// The bundle resolved for this step while planning.
    fn prepared<'p>(&self, cx: &Cx<'p>) -> Option<&'p PreparedBundle> {
        cx.inputs.bundles.iter().find(|b| b.spec.name == self.name)
    }

    /// Pins the bundle in the lock being written, for a bundle from an http(s) repository.
    fn pin(&self, cx: &mut Cx<'_>, report: &BundleReport) -> Result<()> {
        if let (Some((_, lock)), Some(inputs)) =
            (&mut cx.lock, cx.inputs.bundle_inputs.get(&self.name))
        {
            pin_bundle(lock, &self.name, inputs, report);
        }
        Ok(())
    }
}

/// The bundle `bundle` written as a build would write it to `out`, into a scratch folder
/// of the system's temporary folder (removed after, or by a SIGINT or SIGTERM): its digest
/// and count, for the lock, with no output written.
fn scratch_bundle(
    bundle: &PreparedBundle,
    out: &Path,
    mtime: u64,
    cx: &Cx<'_>,
) -> Result<BundleReport> {
    let name = out
        .file_name()
        .unwrap_or(std::ffi::OsStr::new("bundle.tar.gz"));
    let dir = crate::util::temp_path_beside(&std::env::temp_dir().join(name));
    let staged = (bundle.staging.create_dir(&dir)).map_err(|e| io_error(&dir, e))?;
    let written = bundle.write(&dir.join(name), mtime, cx.reporter);
    let _ = std::fs::remove_dir_all(&dir);
    drop(staged);
    Ok(written?)
}

impl StepKind for Packages {
    type Report = Option<BundleReport>;
    type Kept = BundleReport;
    const NAME: &'static str = "packages";

    fn key(&self) -> String {
        output_key(Self::NAME, &self.out)
    }

    fn describe(&self) -> String {
        let upgrades: String = (self.upgrades.iter())
            .map(|u| format!("; upgrades {u}"))
            .collect();
        format!(
            "write {} with {} .deb(s) for {} requested package(s) from {}{}{upgrades}",
            self.out.display(),
            self.debs,
            self.requested,
            self.source,
            if self.nodes {
                ""
            } else {
                " (not on the seeds: nodes: false)"
            }
        )
    }

    fn artifacts(&self, out: &mut dyn FnMut(PathBuf, Kind)) -> Result<()> {
        out(self.out.clone(), Kind::Plain);
        Ok(())
    }

    fn payload(&self) -> Vec<PayloadFile> {
        if !self.nodes {
            return Vec::new();
        }
        vec![payload_file("packages/", &self.out)]
    }

    fn fingerprint(&self, cx: &mut Cx<'_>) -> Result<Option<serde_json::Value>> {
        if self.kept(cx).is_some() {
            return Ok(None);
        }
        let Some(b) = self.prepared(cx) else {
            return Ok(None);
        };
        let debs: Vec<&str> = (b.closure.packages.iter())
            .filter_map(|r| b.universe.candidates.get(r.candidate))
            .map(|c| c.sha256.as_str())
            .collect();
        Ok(Some(serde_json::json!([
            Self::NAME,
            self,
            b.spec,
            b.requests,
            b.closure,
            debs
        ])))
    }

    fn restore(
        &self,
        cx: &mut Cx<'_>,
        _: &str,
        kept: BundleReport,
    ) -> Result<Option<Self::Report>> {
        // The lock records every bundle from an http(s) repository, built now or not.
        self.pin(cx, &kept)?;
        Ok(Some(Some(kept)))
    }

    fn pin_planned(&self, cx: &mut Cx<'_>) -> Result<()> {
        if cx.lock.is_none() || !cx.inputs.bundle_inputs.contains_key(&self.name) {
            return Ok(());
        }
        let Some(doc) = self.fingerprint(cx)? else {
            return Ok(());
        };
        // The bundle a build with this fingerprint skips, as the state recorded it; else
        // written once where no output is, for its digest.
        let fingerprint = crate::pipeline::state::fingerprint(&doc);
        let recorded = (cx.inputs.state.recorded(&self.key(), &fingerprint))
            .and_then(|kept| serde_json::from_value::<BundleReport>(kept).ok());
        let report = match (recorded, self.prepared(cx)) {
            (Some(report), _) => report,
            (None, Some(bundle)) => scratch_bundle(bundle, &self.out, self.mtime, cx)?,
            (None, None) => return Ok(()),
        };
        self.pin(cx, &report)
    }

    fn run<'p>(&'p self, cx: &mut Cx<'p>) -> Result<Work<'p, Self::Report>> {
        if let Some(kept) = self.kept(cx) {
            return Ok(Work::Done(Some(kept.report(&self.out))));
        }
        let Some(bundle) = self.prepared(cx) else {
            return Ok(Work::Done(None));
        };
        if bundle.unverified() {
            cx.reporter.warning(&format!(
                "bundle {}: {} is unverified (no keyring): the Release signature was not checked",
                bundle.spec.name, bundle.universe.origin
            ));
        }
        let report = bundle.write(&self.out, self.mtime, cx.reporter)?;
        self.pin(cx, &report)?;
        Ok(Work::Done(Some(report)))
    }

    fn record(&self, cx: &Cx<'_>, report: &Self::Report) -> Result<Option<Record>> {
        let Some(b) = report else {
            return Ok(None);
        };
        cx.inputs.state.learn(&self.out, &b.sha256);
        Ok(Some(Record::wrote(vec![self.out.clone()], b)))
    }

    fn deliver(report: Self::Report, done: &mut Done) {
        done.bundles.extend(report);
    }
}
