//! `seedforge push`: every image of a layout into a registry, digests unchanged, and a
//! build output's Helm charts as OCI artifacts (`REGISTRY/charts/CHART:VERSION`, CHART the
//! name in the chart's `Chart.yaml`).

use super::mirror::RegistryArgs;
use super::{CliError, ExitCode};
use super::{Global, layout_dir, print_json, progress};
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
    /// the chart's Chart.yaml), and its own CA
    /// (pki/ca.crt, which signed the registry's certificate) is trusted without --ca-file.
    #[arg(long, value_name = "DIR")]
    layout: PathBuf,
    /// The registry to push into, HOST[:PORT].
    #[arg(long, value_name = "HOST:PORT")]
    registry: String,
    /// Blobs uploaded at the same time.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    concurrency: u16,
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
    };
    let reporter = progress::CliReporter::new(g, 0);
    reporter.step_started("push");
    let report = push_layout(&layout, &registries, &options, &reporter);
    reporter.finish();
    let report = report?;
    let charts = seedforge::charts::push::push_charts(&charts_dir, &registries, &a.registry)?;
    if g.json {
        let mut json = serde_json::to_value(&report).unwrap_or_default();
        json["charts"] = serde_json::to_value(&charts).unwrap_or_default();
        print_json(&json);
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
    }
    Ok(ExitCode::Ok)
}
