//! `seedforge push`: every image of a layout into a registry, digests unchanged, and a
//! build output's Helm charts as OCI artifacts (`REGISTRY/charts/CHART:VERSION`, CHART the
//! name in the chart's `Chart.yaml`).

use super::common::registry::RegistryArgs;
use super::common::{
    CliError, ExitCode, Global, Kind, document, layout_dir, print_json, progress, read_lock_output,
};
use clap::Args;
use seedforge::Reporter;
use seedforge::oci::Layout;
use seedforge::oci::registry::push::{PushOptions, push_layout};
use seedforge::util::human_bytes;
use std::path::PathBuf;

/// `seedforge push` arguments.
#[derive(Debug, Args)]
pub struct PushArgs {
    /// The OCI layout (or build output directory) to push; a build output's charts
    /// (charts/*.tgz) are pushed too, to REGISTRY/charts/CHART:VERSION (CHART: the name in
    /// the chart's Chart.yaml), its own CA
    /// (pki/ca.crt, which signed the registry's certificate) is trusted without --ca-file,
    /// and each image goes to its repository as the mirror rewrites of its registries.yaml
    /// make it (the path the nodes ask for).
    #[arg(long, value_name = "DIR")]
    layout: PathBuf,
    /// The registry to push into, HOST[:PORT].
    #[arg(long, value_name = "HOST:PORT")]
    registry: String,
    /// Blobs uploaded at the same time.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    concurrency: u16,
    /// Remove from the registry what the last push of this output pushed and this push
    /// does not (images the new output dropped, the old version of an image pushed again
    /// under its tag, their signatures and other stored artifacts, charts), and nothing
    /// else. Every push, with --prune or without, records what it pushed (as
    /// seedforge/push-record:<cluster name>) for the next --prune. The registry must allow
    /// deletes (storage.delete.enabled: true, which seedforge's registry/config.yml sets);
    /// the blobs are freed by the registry's garbage-collect.
    #[arg(long)]
    prune: bool,
    /// Fail at once (exit 75) if a build is writing to the output DIR belongs to, instead
    /// of waiting for it (DIR is read under its build lock, shared: other readers do not
    /// wait).
    #[arg(long)]
    no_wait: bool,
    #[command(flatten)]
    access: RegistryArgs,
}

/// Runs `seedforge push`.
pub fn run(g: &Global, a: &PushArgs) -> Result<ExitCode, CliError> {
    if a.registry.contains('/') || a.registry.is_empty() {
        return Err(CliError::Usage(format!(
            "--registry {:?}: expected HOST[:PORT], without a scheme or path",
            a.registry
        )));
    }
    let _lock = read_lock_output(g, &a.layout, !a.no_wait)?;
    let layout = Layout::open(&layout_dir(&a.layout))?;
    // A build output's charts go along, as Helm's OCI artifacts.
    let charts_dir = a.layout.join("charts");
    // A build output's registry certificate is signed by the output's own CA: trusted
    // without a flag, as the nodes trust it.
    let own_ca: Vec<PathBuf> = [a.layout.join("pki").join("ca.crt")]
        .into_iter()
        .filter(|ca| a.layout.join("manifest.json").is_file() && ca.is_file())
        .collect();
    let registries = a.access.registries_trusting(
        &std::iter::once(a.registry.clone()).collect(),
        &g.secrets,
        &own_ca,
    )?;
    let options = PushOptions {
        registry: a.registry.clone(),
        concurrency: usize::from(a.concurrency),
        rewrites: super::common::registry::output_rewrites(&a.layout)?,
    };
    // The record of the last push of this output, read before anything is pushed.
    let record_tag = seedforge::oci::registry::prune::record_tag(&prune_name(&a.layout));
    let previous = if a.prune {
        seedforge::oci::registry::prune::read_record(&registries, &a.registry, &record_tag)
            .map_err(seedforge::oci::OciError::from)?
    } else {
        None
    };
    let reporter = progress::CliReporter::new(g, 0);
    reporter.step_started("push");
    let report = push_layout(&layout, &registries, &options, &reporter);
    reporter.finish();
    let report = report?;
    let charts = seedforge::charts::push::push_charts(&charts_dir, &registries, &a.registry)?;
    // Every push records what it pushed, so that the first --prune after plain pushes
    // removes what they pushed and this one does not; only --prune removes anything.
    let now = seedforge::oci::registry::prune::record_of(
        &a.registry,
        (report.images.iter())
            .map(|i| (i.target.as_str(), i.digest.clone()))
            .chain(
                charts
                    .iter()
                    .map(|c| (c.target.as_str(), c.digest.to_string())),
            ),
    );
    let recorded = seedforge::oci::registry::prune::prune_and_record(
        &registries,
        &a.registry,
        &record_tag,
        previous.as_ref(),
        &now,
    )
    .map_err(seedforge::oci::OciError::from);
    let pruned = match recorded {
        Ok(report) => a.prune.then_some(report),
        Err(e) if a.prune => return Err(e.into()),
        // A plain push did its job; a registry that refuses the record (a token scoped to
        // the images' repositories) only leaves the next --prune without it.
        Err(e) => {
            document::warn(
                g,
                &format!(
                    "this push is not recorded ({e}): a later push --prune cannot remove what it pushed"
                ),
            );
            None
        }
    };
    if g.json {
        let mut json = serde_json::to_value(&report).unwrap_or_default();
        json["charts"] = serde_json::to_value(&charts).unwrap_or_default();
        if let Some(p) = &pruned {
            json["pruned"] = serde_json::to_value(p).unwrap_or_default();
        }
        print_json(g, Kind::Push, &json);
    } else if !g.quiet {
        for image in &report.images {
            outln!("{}  {}", image.target, image.digest);
        }
        for chart in &charts {
            outln!("{}  {}", chart.target, chart.digest);
        }
        errln!(
            "pushed {} image(s): {} blob(s) uploaded ({}), {} mounted, {} already there",
            report.images.len(),
            report.blobs_uploaded,
            human_bytes(report.bytes_uploaded),
            report.blobs_mounted,
            report.blobs_present
        );
        match (&pruned, &previous) {
            (Some(p), Some(_)) => {
                for removed in &p.removed {
                    outln!("removed {}/{removed}", a.registry);
                }
                errln!(
                    "pruned {} manifest(s) the last push --prune pushed and this one does not ({} already gone); the registry's garbage-collect frees their blobs",
                    p.removed.len(),
                    p.already_gone.len()
                );
            }
            (Some(_), None) => errln!(
                "no record of an earlier push of this output in {}: nothing removed; this push is recorded for the next",
                a.registry
            ),
            _ => {}
        }
    }
    Ok(ExitCode::Ok)
}

/// The name a push of `dir` is recorded under: the cluster's name its manifest.json
/// records, else the folder's name.
fn prune_name(dir: &std::path::Path) -> String {
    let recorded =
        seedforge::input::read_found(&dir.join("manifest.json"), seedforge::input::Kind::Manifest)
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .and_then(|v| v["cluster"]["name"].as_str().map(str::to_string));
    recorded.unwrap_or_else(|| {
        seedforge::outpath::resolve(dir)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    })
}
