//! The charts step: one Helm chart's `.tgz` written to `OUT/charts/NAME-VERSION.tgz`.
//! The chart is fetched and checked while planning (its digest against its repository's
//! or registry's, against `seedforge.lock` with `--locked`; with `--offline` the archive
//! the last build wrote, against the lock), so a bad chart stops the build before anything
//! is written. Skipped while the config entry, the values file and the chart's digest are
//! unchanged and the archive keeps its stat; every run pins the chart in the lock.

use super::{Cx, Done, Record, StepKind, Work, output_key};
use crate::Result;
use crate::charts::fetch::{FetchedChart, fetch};
use crate::charts::{ChartConfig, ChartError};
use crate::config::Config;
use crate::oci::Digest;
use crate::oci::registry::Registries;
use crate::oci::registry::lockfile::{ChartPin, LockFile};
use crate::pipeline::modes::Kind;
use crate::seed::PayloadFile;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Write one chart's archive (fetched and checked while planning).
#[derive(Debug, Clone, Serialize)]
pub struct Charts {
    /// The entry's name (the HelmChart's).
    pub name: String,
    /// `REPO CHART VERSION`: what the lock pins it as.
    pub source: String,
    /// The repository as the config and the lock name it (`https://…`, `oci://HOST/PATH`,
    /// without credentials): what the SBOMs and the provenance record, online and offline
    /// alike. The archive's own URL is not: an index may move it (a mirror, a CDN) while
    /// the lock's pin, and so the output, stays the same.
    pub repo: String,
    /// The chart's name in the repository.
    pub chart: String,
    /// Its exact version.
    pub version: String,
    /// Where the archive came from (a URL or `HOST/REPO:TAG`; offline: the output), for
    /// the plan and the build's report.
    pub origin: String,
    /// The archive's SHA-256.
    pub digest: Digest,
    /// `OUT/charts/NAME-VERSION.tgz`.
    pub out: PathBuf,
    /// The namespace it installs into.
    pub namespace: String,
    /// The values file and the SHA-256 of its bytes.
    pub values: Option<(PathBuf, String)>,
    /// `--offline`: the archive is the one the last build wrote.
    pub offline: bool,
    /// `OUT/charts/NAME.yaml`: the HelmChart manifest the servers get.
    pub manifest_out: PathBuf,
    /// The archive (`None` offline: it is in place already).
    #[serde(skip)]
    pub bytes: Option<Arc<Vec<u8>>>,
    /// The HelmChart manifest's text.
    #[serde(skip)]
    pub manifest: String,
}

/// What the step did with one chart.
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

/// The archive's path under the output.
pub fn chart_path(output: &Path, chart: &ChartConfig) -> PathBuf {
    output.join("charts").join(chart.file_name())
}

/// What the lock pins a chart as: its repository, name and version.
fn source_of(chart: &ChartConfig) -> String {
    format!("{} {} {}", chart.repo, chart.chart, chart.version)
}

/// One step per chart: fetched and checked now, or (`offline`) the archive in the output
/// checked against the lock. With `locked`, the digest must be the one the lock pins.
pub fn plan(
    config: &Config,
    output: &Path,
    registries: &Registries,
    offline: bool,
    locked: bool,
    images: &crate::image::ImageList,
) -> Result<Vec<Charts>> {
    if config.charts.is_empty() {
        return Ok(Vec::new());
    }
    let lock_path = LockFile::path_for(&config.path);
    let lock = if offline || locked {
        LockFile::load(&lock_path).map_err(crate::oci::OciError::from)?
    } else {
        None
    };
    let pin = |c: &ChartConfig| {
        let pin = lock.as_ref().and_then(|l| l.charts.get(c.name.as_str()));
        pin.filter(|p| p.source == source_of(c)).ok_or_else(|| {
            ChartError::Locked(format!(
                "chart {}: {} pins no {} ({}); run build online without --locked first",
                c.name.as_str(),
                lock_path.display(),
                source_of(c),
                if offline { "--offline" } else { "--locked" }
            ))
        })
    };
    let listed: Vec<crate::image::Reference> = images
        .entries
        .iter()
        .map(|e| e.destination.clone())
        .collect();
    let mut missing: Vec<String> = Vec::new();
    let mut steps = Vec::new();
    for c in &config.charts {
        let out = chart_path(output, c);
        let fetched = if offline {
            let want = pin(c)?;
            let bytes = crate::input::read_found(&out, crate::input::Kind::Chart).map_err(|e| {
                ChartError::Locked(format!(
                    "chart {}: --offline needs {} from an earlier build: {}",
                    c.name.as_str(),
                    out.display(),
                    e.reason()
                ))
            })?;
            let digest = Digest::of(&bytes);
            if digest != want.digest {
                return Err(ChartError::Tampered {
                    chart: c.name.as_str().to_string(),
                    origin: out.display().to_string(),
                    expected: want.digest.to_string(),
                    actual: digest.to_string(),
                }
                .into());
            }
            FetchedChart {
                bytes,
                digest,
                origin: format!("{} (offline: kept as built before)", out.display()),
            }
        } else {
            let fetched = fetch(c, registries, &crate::NoopReporter)?;
            if locked {
                let want = pin(c)?;
                if fetched.digest != want.digest {
                    return Err(ChartError::Locked(format!(
                        "chart {}: {} is now {}, but {} pins {}; run build without --locked to accept it",
                        c.name.as_str(),
                        fetched.origin,
                        fetched.digest,
                        lock_path.display(),
                        want.digest
                    ))
                    .into());
                }
            }
            fetched
        };
        // The values file set against the chart's own values: a key the chart does not
        // have would be silently ignored by Helm.
        let files = crate::charts::values::chart_files(c.name.as_str(), &fetched.bytes)?;
        // The archive must be the chart the entry pins: Helm refuses any other on the node.
        crate::charts::check_identity(c, &config.path, &fetched.origin, &files)?;
        let mut values_text = None;
        let values = match &c.values {
            Some(path) => {
                let bytes =
                    crate::input::read_capped(path, crate::charts::MAX_VALUES_SIZE, "values file")?;
                let text = String::from_utf8(bytes).map_err(|_| {
                    ChartError::Invalid(format!("{}: not UTF-8 text", path.display()))
                })?;
                crate::charts::values::check(c.name.as_str(), path, &text, &files)?;
                let sha = Digest::of(text.as_bytes()).hex().to_string();
                values_text = Some(text);
                Some((path.clone(), sha))
            }
            None => None,
        };
        // The images the chart names, with the user's values over the chart's: each must
        // be mirrored, or the node could not pull it.
        let mut merged = crate::charts::values::chart_values(c.name.as_str(), &files)?;
        if let (Some(text), Some(path)) = (&values_text, &c.values) {
            let user: serde_json::Value = crate::charts::read_yaml(text).map_err(|e| {
                ChartError::Invalid(format!(
                    "{}: not YAML this check can read: {e}",
                    path.display()
                ))
            })?;
            crate::charts::images::merge(&mut merged, &user);
        }
        for image in crate::charts::images::images(&files, &merged) {
            if !crate::charts::images::is_listed(&image.reference, &listed) {
                missing.push(format!(
                    "chart {} ({}): {} names {}",
                    c.name.as_str(),
                    c.chart,
                    image.key,
                    image.reference
                ));
            }
        }
        steps.push(Charts {
            name: c.name.as_str().to_string(),
            source: source_of(c),
            repo: c.repo.to_string(),
            chart: c.chart.clone(),
            version: c.version.clone(),
            origin: fetched.origin,
            digest: fetched.digest,
            out,
            namespace: c.namespace.clone(),
            values,
            offline,
            bytes: (!offline).then(|| Arc::new(fetched.bytes)),
            manifest_out: output
                .join("charts")
                .join(format!("{}.yaml", c.name.as_str())),
            manifest: crate::charts::helmchart::manifest(c, values_text.as_deref()),
        });
    }
    if !missing.is_empty() {
        return Err(ChartError::Invalid(format!(
            "{} image(s) the charts name are in no image list; a node could not pull them. Add each to an image list (templates are not rendered: an image the scan cannot see is added the same way):\n  {}",
            missing.len(),
            missing.join("\n  ")
        ))
        .into());
    }
    Ok(steps)
}

impl Charts {
    /// Pins the chart in the lock being written (none with `--locked` or `--offline`).
    fn pin(&self, cx: &mut Cx<'_>) -> Result<()> {
        if let Some((path, lock)) = &mut cx.lock {
            lock.charts.insert(
                self.name.clone(),
                ChartPin {
                    source: self.source.clone(),
                    digest: self.digest.clone(),
                },
            );
            lock.write(path)?;
        }
        Ok(())
    }

    fn report(&self) -> ChartReport {
        ChartReport {
            name: self.name.clone(),
            path: self.out.clone(),
            digest: self.digest.clone(),
            origin: self.origin.clone(),
        }
    }
}

impl StepKind for Charts {
    type Report = ChartReport;
    type Kept = ChartReport;
    const NAME: &'static str = "charts";

    fn key(&self) -> String {
        output_key(Self::NAME, &self.out)
    }

    fn describe(&self) -> String {
        format!(
            "write {} ({}) from {}, namespace {}",
            self.out.display(),
            self.digest,
            self.origin,
            self.namespace
        )
    }

    /// The HelmChart manifest carries the values, which often hold passwords (an admin
    /// password is a chart value): it is kept like a secret.
    fn artifacts(&self, out: &mut dyn FnMut(PathBuf, Kind)) -> Result<()> {
        out(self.out.clone(), Kind::Plain);
        out(self.manifest_out.clone(), Kind::Secret);
        Ok(())
    }

    /// The archive under the name the HelmChart's static URL gives, and the manifest;
    /// the seeds of agents leave both out, and the bootstrap places them on servers only.
    fn payload(&self) -> Vec<PayloadFile> {
        vec![
            PayloadFile {
                name: format!("charts/{}.tgz", self.name),
                source: self.out.clone(),
                executable: false,
                content_named: false,
            },
            PayloadFile {
                name: format!("manifests/{}.yaml", self.name),
                source: self.manifest_out.clone(),
                executable: false,
                content_named: false,
            },
        ]
    }

    fn fingerprint(&self, _: &mut Cx<'_>) -> Result<Option<serde_json::Value>> {
        Ok(Some(serde_json::json!([
            Self::NAME,
            self.name,
            self.source,
            self.digest,
            self.namespace,
            self.values,
        ])))
    }

    fn restore(&self, cx: &mut Cx<'_>, _: &str, kept: ChartReport) -> Result<Option<ChartReport>> {
        self.pin(cx)?;
        Ok(Some(kept))
    }

    fn run<'p>(&'p self, cx: &mut Cx<'p>) -> Result<Work<'p, ChartReport>> {
        if let Some(bytes) = &self.bytes {
            let io = |e| super::context::io_error(&self.out, e);
            if let Some(dir) = self.out.parent() {
                std::fs::create_dir_all(dir).map_err(io)?;
            }
            crate::util::atomic_write_mode(&self.out, bytes, 0o644).map_err(io)?;
        }
        crate::util::atomic_write_mode(
            &self.manifest_out,
            self.manifest.as_bytes(),
            Kind::Secret.mode(),
        )
        .map_err(|e| super::context::io_error(&self.manifest_out, e))?;
        self.pin(cx)?;
        Ok(Work::Done(self.report()))
    }

    fn record(&self, cx: &Cx<'_>, report: &ChartReport) -> Result<Option<Record>> {
        cx.inputs.state.learn(&self.out, self.digest.hex());
        let manifest = Digest::of(self.manifest.as_bytes());
        cx.inputs.state.learn(&self.manifest_out, manifest.hex());
        let outputs = vec![self.out.clone(), self.manifest_out.clone()];
        Ok(Some(Record::wrote(outputs, report)))
    }

    fn deliver(report: ChartReport, done: &mut Done) {
        done.charts.push(report);
    }
}
