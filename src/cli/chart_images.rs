//! `seedforge chart-images`: the images each chart of the config pulls, found by rendering
//! it as Helm does, each with its template (and line), the resource, how it is pulled and
//! the values it came from; whether an image list has it, or `images: add` adds it. With
//! `--manifests DIR`, what each chart rendered too, as `helm template` writes it
//! (`manifests.rs`).

mod manifests;

use super::common::{CliError, ConfigArg, ExitCode, Global, Kind, net, print_json};
use clap::Args;
use seedforge::config::Config;
use seedforge::pipeline::plan;
use std::path::PathBuf;

/// Arguments of `seedforge chart-images`.
#[derive(Debug, Args)]
pub(super) struct ChartImagesArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// Read the charts a build wrote into OUT (the config's output by default), checked
    /// against seedforge.lock, instead of fetching them.
    #[arg(long)]
    offline: bool,
    /// The build output `--offline` reads the charts from.
    #[arg(short, long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// A PEM file of CA certificates to trust for the chart repositories, besides the
    /// system's; repeatable.
    #[arg(long = "ca-file", value_name = "FILE")]
    ca_files: Vec<PathBuf>,
    /// Also write what each chart rendered into DIR (a new or empty folder), as `helm
    /// template NAME CHART --output-dir DIR/NAME` writes it: DIR/NAME/CHART/templates/x.yaml,
    /// one file a template, each document after `---` and `# Source: TEMPLATE`, resources
    /// sorted by kind as Helm installs them, then the hooks (tests too); the chart's own
    /// NOTES.txt, when rendered, as DIR/NAME/NOTES.txt. Byte for byte the same on each run.
    #[arg(long, value_name = "DIR")]
    manifests: Option<PathBuf>,
}

pub(super) fn run(g: &Global, a: &ChartImagesArgs) -> Result<ExitCode, CliError> {
    let net = net::settings(&a.ca_files)?;
    if let Some(dir) = &a.manifests {
        refuse_unempty(dir)?;
    }
    let config = Config::load(&a.config.config)?;
    config.register_secrets(&g.secrets);
    let charts = plan::chart_images(&config, a.out.clone(), a.offline, &g.secrets, &net)?;
    // Every chart laid out before anything is written.
    let mut laid = Vec::new();
    if a.manifests.is_some() {
        for c in &charts {
            laid.push(manifests::lay_out(&c.name, &c.images.rendered).map_err(CliError::Usage)?);
        }
    }
    let mut written: Vec<Option<PathBuf>> = vec![None; charts.len()];
    if let Some(dir) = &a.manifests {
        for (i, (c, l)) in charts.iter().zip(&laid).enumerate() {
            let to = dir.join(&c.name);
            manifests::write(&to, &manifests::files(l)).map_err(CliError::Usage)?;
            written[i] = Some(to);
        }
    }
    let listed: Vec<seedforge::image::Reference> =
        seedforge::image::ImageList::load_all(config.images.lists.iter().map(|(p, _)| p))?
            .entries
            .into_iter()
            .map(|e| e.destination)
            .collect();
    let is_listed =
        |r: &seedforge::image::Reference| seedforge::charts::images::is_listed(r, &listed);
    // What a chart makes an operator pull that no table here names: on stderr, as the
    // plan's warnings.
    for note in charts.iter().flat_map(|c| &c.images.notes) {
        super::common::document::warn(g, note);
    }
    if g.json {
        let doc: Vec<serde_json::Value> = charts
            .iter()
            .map(|c| {
                let images: Vec<serde_json::Value> = c
                    .images
                    .images
                    .iter()
                    .map(|p| {
                        let mut v = serde_json::to_value(p).unwrap_or_default();
                        v["listed"] = serde_json::Value::Bool(is_listed(&p.reference));
                        v
                    })
                    .collect();
                serde_json::json!({
                    "name": c.name,
                    "chart": c.chart,
                    "mode": c.mode,
                    "images": images,
                    "unreadable": c.images.unreadable,
                    "completed_on_the_node": c.images.completed_on_the_node,
                })
            })
            .zip(&written)
            .map(|(mut v, w)| {
                if let Some(w) = w {
                    v["manifests"] = serde_json::Value::String(w.display().to_string());
                }
                v
            })
            .collect();
        print_json(g, Kind::ChartImages, &serde_json::json!({ "charts": doc }));
        return Ok(ExitCode::Ok);
    }
    for (c, w) in charts.iter().zip(&written) {
        outln!(
            "chart {} ({}): {} image(s), images: {}",
            c.name,
            c.chart,
            c.images.references().len(),
            match c.mode {
                seedforge::charts::ImagesMode::Check => "check",
                seedforge::charts::ImagesMode::Add => "add",
            }
        );
        for p in &c.images.images {
            let state = if is_listed(&p.reference) {
                "listed"
            } else if c.mode == seedforge::charts::ImagesMode::Add {
                "added"
            } else {
                "NOT LISTED"
            };
            let values = if p.values.is_empty() {
                String::new()
            } else {
                format!("; values {}", p.values.join(", "))
            };
            // An operator's image names the field it came from: no template line says it.
            let field = if p.how == seedforge::charts::found::How::Operator {
                format!(", {}", p.field)
            } else {
                String::new()
            };
            outln!(
                "  {}  [{state}]  {} ({}, {}{field}){values}",
                p.reference,
                p.place(),
                p.resource,
                p.how
            );
        }
        for i in &c.images.completed_on_the_node {
            outln!(
                "  (completed on the node)  {}  {} ({}, {}): {}",
                i.written,
                i.place,
                i.resource,
                i.field,
                i.reason
            );
        }
        for u in &c.images.unreadable {
            outln!(
                "  (no image)  {}: {:?} is no image reference: {}",
                u.place,
                u.written,
                u.reason
            );
        }
        if let Some(w) = w {
            outln!("  manifests: {}", w.display());
        }
    }
    Ok(ExitCode::Ok)
}

/// `--manifests DIR` takes a new or empty folder: what is written there is only this run's.
fn refuse_unempty(dir: &std::path::Path) -> Result<(), CliError> {
    seedforge::outpath::refuse_dangerous(dir)?;
    match std::fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(CliError::Usage(format!(
                    "--manifests {}: the folder is not empty; give a new or empty one",
                    dir.display()
                )));
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(CliError::Usage(format!(
            "--manifests {}: cannot read: {e}",
            dir.display()
        ))),
    }
}
