//! The charts step: one Helm chart's `.tgz` written to `OUT/charts/NAME-VERSION.tgz`.
//! The chart is fetched and checked while planning (its digest against its repository's
//! or registry's, against `seedforge.lock` with `--locked`; with `--offline` the archive
//! the last build wrote, against the lock), so a bad chart stops the build before anything
//! is written. A chart kept beside the config (`path:`) is read (a folder packed) instead
//! of fetched, and is otherwise the same: pinned, `--locked` to its digest, and offline
//! taken from the output as the lock pins it (name, version and digest), so a far side
//! whose copy of the folder is older or missing rebuilds what was carried. Skipped while the config entry, the values file and the chart's digest are
//! unchanged and the archive keeps its stat; every run pins the chart in the lock.

use super::reports::ChartReport;
use super::{Cx, Done, Record, StepKind, Work, output_key};
use crate::Result;
use crate::charts::fetch::{FetchedChart, fetch};
use crate::charts::{ChartConfig, ChartError, ChartRepo, ImagesMode};
use crate::config::Config;
use crate::image::ListEntry;
use crate::oci::Digest;
use crate::oci::registry::Registries;
use crate::oci::registry::lockfile::{ChartPin, LockFile};
use crate::pipeline::modes::Kind;
use crate::seed::PayloadFile;
use serde::Serialize;
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
    /// The images the chart pulls, and those it adds.
    pub images: Box<Pulls>,
}

/// The images a chart pulls, as the plan shows them.
#[derive(Debug, Clone, Serialize)]
pub struct Pulls {
    /// Each as `REF (TEMPLATE:LINE)`.
    pub pulls: Vec<String>,
    /// Those it adds to the images mirrored (`images: add`, those no list has).
    pub adds: Vec<String>,
    /// The digest `seedforge.lock` pins for the same source when it is another one (the
    /// chart changed since: republished, or a chart beside the config edited).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pinned: Option<Digest>,
    /// What the chart makes an operator pull that seedforge cannot name (the plan's
    /// warnings say it).
    #[serde(skip)]
    pub notes: Vec<String>,
}

/// The archive's path under the output.
pub fn chart_path(output: &Path, chart: &ChartConfig) -> PathBuf {
    output.join("charts").join(chart.file_name())
}

/// What the lock pins a chart as: its repository, name and version.
fn source_of(chart: &ChartConfig) -> String {
    format!("{} {} {}", chart.repo, chart.chart, chart.version)
}

/// The entry of a chart beside the config as the lock pins it, for an offline build: the
/// name and version of the chart pinned for its path (those the entry gives must agree).
/// The folder itself is not read: the archive comes from the output, as the lock pins it.
fn from_pin(
    c: &ChartConfig,
    shown: &str,
    lock: Option<&LockFile>,
    lock_path: &Path,
) -> std::result::Result<ChartConfig, ChartError> {
    let pinned = lock
        .and_then(|l| l.charts.get(c.name.as_str()))
        .and_then(|p| {
            let mut parts = p.source.rsplitn(3, ' ');
            let (version, chart, repo) = (parts.next()?, parts.next()?, parts.next()?);
            let agrees = repo == shown
                && (c.chart.is_empty() || c.chart == chart)
                && (c.version.is_empty() || c.version == version);
            agrees.then(|| (chart.to_string(), version.to_string()))
        });
    let Some((chart, version)) = pinned else {
        return Err(ChartError::Locked(format!(
            "chart {}: {} pins no chart from {shown}{} (--offline); run build online without --offline first",
            c.name.as_str(),
            lock_path.display(),
            if c.version.is_empty() {
                String::new()
            } else {
                format!(" version {}", c.version)
            }
        )));
    };
    let mut c = c.clone();
    c.chart = chart;
    c.version = version;
    Ok(c)
}

/// One step per chart: fetched and checked now, or (`offline`) the archive in the output
/// checked against the lock. With `locked`, the digest must be the one the lock pins.
/// Each chart is rendered and the images it pulls found: with `images: check` each must be
/// in `images` (else the plan is refused, naming them all); with `images: add` the ones no
/// list has are returned, as image list entries (the config's path and the chart's line)
/// under the name the nodes' registries.yaml resolves them to.
pub fn plan(
    config: &Config,
    output: &Path,
    registries: &Registries,
    offline: bool,
    locked: bool,
    images: &crate::image::ImageList,
) -> Result<(Vec<Charts>, Vec<ListEntry>)> {
    if config.charts.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let mut added: Vec<ListEntry> = Vec::new();
    let lock_path = LockFile::path_for(&config.path);
    let lock = if offline || locked {
        LockFile::load(&lock_path).map_err(crate::oci::OciError::from)?
    } else {
        // Read only to show what changed since; a bad lock is the next build's to refuse
        // (this one writes it anew).
        LockFile::load(&lock_path).ok().flatten()
    };
    let listed: Vec<crate::image::Reference> = images
        .entries
        .iter()
        .map(|e| e.destination.clone())
        .collect();
    let mut missing: Vec<String> = Vec::new();
    let mut steps = Vec::new();
    for c in &config.charts {
        let added_before = added.len();
        let Prepared {
            chart: c,
            out,
            fetched,
            values,
            values_text,
            pulled,
        } = prepare(
            config,
            c,
            output,
            registries,
            offline,
            locked,
            lock.as_ref(),
        )?;
        let c = &c;
        let pinned = (lock.as_ref())
            .and_then(|l| l.charts.get(c.name.as_str()))
            .filter(|p| p.source == source_of(c) && p.digest != fetched.digest)
            .map(|p| p.digest.clone());
        let mode = c.images.unwrap_or(config.images.from_charts);
        for image in &pulled.images {
            if crate::charts::images::is_listed(&image.reference, &listed) {
                continue;
            }
            match mode {
                ImagesMode::Check => {
                    let line = format!(
                        "chart {} ({}): {} ({}, {}) pulls {}{}",
                        c.name.as_str(),
                        c.chart,
                        image.place(),
                        image.resource,
                        image.how,
                        image.reference,
                        shown_values(&image.values)
                    );
                    if !missing.contains(&line) {
                        missing.push(line);
                    }
                }
                ImagesMode::Add => {
                    let destination = crate::charts::images::destination(&image.reference);
                    if added
                        .iter()
                        .any(|e: &ListEntry| e.destination == destination)
                        || crate::charts::images::is_listed(&destination, &listed)
                    {
                        continue;
                    }
                    added.push(ListEntry {
                        source: crate::image::ImageSource::Registry(image.reference.clone()),
                        destination,
                        path: config.path.clone(),
                        line: usize::try_from(c.location.line).unwrap_or(usize::MAX),
                        absolute_path: false,
                    });
                }
            }
        }
        let pulls: Vec<String> = pulled
            .images
            .iter()
            .map(|p| format!("{} ({})", p.reference, p.place()))
            .collect();
        let adds: Vec<String> = (added[added_before..].iter())
            .map(|e| e.destination.to_string())
            .collect();
        steps.push(Charts {
            images: Box::new(Pulls {
                pulls,
                adds,
                pinned,
                notes: pulled.notes.clone(),
            }),
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
        // What a chart's operator pulls that seedforge cannot name is said here too: the
        // plan's warnings, which would say it, are not printed when the plan is refused.
        let notes: Vec<String> = (steps.iter())
            .flat_map(|s| {
                s.images
                    .notes
                    .iter()
                    .map(|n| format!("\nand not known: {n}"))
            })
            .collect();
        return Err(ChartError::Invalid(format!(
            "{} image(s) the charts pull are in no image list; a node could not pull them. Add each to an image list, or set images: add on the chart (or images.from_charts: add) to mirror what the charts pull:\n  {}{}",
            missing.len(),
            missing.join("\n  "),
            notes.concat()
        ))
        .into());
    }
    Ok((steps, added))
}

/// `: values a, b` when the image came from values.
fn shown_values(values: &[String]) -> String {
    if values.is_empty() {
        String::new()
    } else {
        format!(" (values {})", values.join(", "))
    }
}

/// One chart fetched (or, offline, read from the output), checked and rendered.
struct Prepared {
    /// The entry, with the name and version of a chart beside the config filled in.
    chart: ChartConfig,
    out: PathBuf,
    fetched: FetchedChart,
    values: Option<(PathBuf, String)>,
    values_text: Option<String>,
    pulled: crate::charts::pulled::ChartImages,
}

fn prepare(
    config: &Config,
    c: &ChartConfig,
    output: &Path,
    registries: &Registries,
    offline: bool,
    locked: bool,
    lock: Option<&LockFile>,
) -> Result<Prepared> {
    let lock_path = LockFile::path_for(&config.path);
    let pin = |c: &ChartConfig| {
        let pin = lock.and_then(|l| l.charts.get(c.name.as_str()));
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
    let (chart, fetched) = if offline {
        let c = match &c.repo {
            ChartRepo::Local { shown, .. } => from_pin(c, shown, lock, &lock_path)?,
            _ => c.clone(),
        };
        let out = chart_path(output, &c);
        let want = pin(&c)?;
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
        let fetched = FetchedChart {
            bytes,
            digest,
            origin: format!("{} (offline: kept as built before)", out.display()),
        };
        (c, fetched)
    } else {
        let (c, fetched) = match &c.repo {
            ChartRepo::Local { path, shown } => {
                let fetched = crate::charts::local::read(c, path, shown, &config.path)?;
                let files = crate::charts::values::chart_files(c.name.as_str(), &fetched.bytes)?;
                let c = crate::charts::local::identify(c, &config.path, shown, &files)?;
                (c, fetched)
            }
            _ => (c.clone(), fetch(c, registries, &crate::NoopReporter)?),
        };
        if locked {
            let want = pin(&c)?;
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
        (c, fetched)
    };
    let c = &chart;
    let out = chart_path(output, c);
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
            let text = String::from_utf8(bytes)
                .map_err(|_| ChartError::Invalid(format!("{}: not UTF-8 text", path.display())))?;
            crate::charts::values::check(c.name.as_str(), path, &text, &files)?;
            let sha = Digest::of(text.as_bytes()).hex().to_string();
            values_text = Some(text);
            Some((path.clone(), sha))
        }
        None => {
            // No values file: the chart's defaults must meet its schemas all the same.
            crate::charts::values::check_defaults(c.name.as_str(), &files)?;
            None
        }
    };
    // The images the chart pulls, rendered with the user's values over the chart's:
    // each must be mirrored, or the node could not pull it.
    let user = match (&values_text, &c.values) {
        (Some(text), Some(path)) => match crate::charts::read_yaml::<serde_json::Value>(text) {
            Ok(serde_json::Value::Object(m)) => m,
            Ok(_) => serde_json::Map::new(),
            Err(e) => {
                return Err(ChartError::Invalid(format!(
                    "{}: not YAML this check can read: {e}",
                    path.display()
                ))
                .into());
            }
        },
        _ => serde_json::Map::new(),
    };
    let settings = crate::charts::render::Settings {
        release: c.name.as_str().to_string(),
        namespace: c.namespace.clone(),
        k3s_version: config.cluster.k3s_version.clone(),
    };
    let pulled =
        crate::charts::pulled::chart_images(c.name.as_str(), &fetched.bytes, &user, &settings)?;
    Ok(Prepared {
        chart: chart.clone(),
        out,
        fetched,
        values,
        values_text,
        pulled,
    })
}

/// What `seedforge chart-images` shows of one chart.
#[derive(Debug, Clone, Serialize)]
pub struct ChartPulled {
    /// The entry's name.
    pub name: String,
    /// The chart's name and version.
    pub chart: String,
    /// What its images do.
    pub mode: ImagesMode,
    /// What it pulls.
    pub images: crate::charts::pulled::ChartImages,
}

/// The images each chart of `config` pulls, fetched as `plan` fetches them (offline: the
/// archives the last build wrote, checked against the lock).
pub fn pulled(
    config: &Config,
    output: &Path,
    registries: &Registries,
    offline: bool,
) -> Result<Vec<ChartPulled>> {
    let lock = if offline {
        LockFile::load(&LockFile::path_for(&config.path)).map_err(crate::oci::OciError::from)?
    } else {
        None
    };
    let mut out = Vec::new();
    for c in &config.charts {
        let p = prepare(config, c, output, registries, offline, false, lock.as_ref())?;
        out.push(ChartPulled {
            name: c.name.as_str().to_string(),
            chart: format!("{} {}", p.chart.chart, p.chart.version),
            mode: c.images.unwrap_or(config.images.from_charts),
            images: p.pulled,
        });
    }
    Ok(out)
}

impl Charts {
    /// Pins the chart in the lock being written (none with `--locked` or `--offline`).
    fn pin(&self, cx: &mut Cx<'_>) -> Result<()> {
        if let Some((_, lock)) = &mut cx.lock {
            lock.charts.insert(
                self.name.clone(),
                ChartPin {
                    source: self.source.clone(),
                    digest: self.digest.clone(),
                },
            );
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
        let mut text = format!(
            "write {} ({}) from {}, namespace {}",
            self.out.display(),
            self.digest,
            self.origin,
            self.namespace
        );
        if let Some(pinned) = &self.images.pinned {
            text.push_str(&format!(
                "; changed: seedforge.lock pins {} {pinned}",
                self.source
            ));
        }
        let Pulls { pulls, adds, .. } = &*self.images;
        if !pulls.is_empty() {
            text.push_str(&format!("; it pulls {}", pulls.join(", ")));
        }
        if !adds.is_empty() {
            text.push_str(&format!(
                "; images: add mirrors {} no list has: {}",
                adds.len(),
                adds.join(", ")
            ));
        }
        text
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

    fn pin_planned(&self, cx: &mut Cx<'_>) -> Result<()> {
        // The archive was fetched while planning: its digest is what a run pins.
        self.pin(cx)
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
