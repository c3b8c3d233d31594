//! `seedforge mirror`: image lists into an OCI layout, from registries or local files.

use super::common::print::print_images;
use super::common::registry::RegistryArgs;
use super::common::{CliError, ExitCode, Global, print_json, progress};
use clap::Args;
use seedforge::Reporter;
use seedforge::image::{ImageList, ImageSource};
use seedforge::oci::Platform;
use seedforge::oci::mirror::policy::{PolicyKey, RequireSignature, SignaturePolicy};
use seedforge::oci::mirror::{MirrorOptions, MirrorSummary, mirror};
use seedforge::pipeline::run::MirroredImageReport;
use seedforge::util::human_bytes;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;

/// `seedforge mirror` arguments.
#[derive(Debug, Args)]
pub struct MirrorArgs {
    /// Image list file(s); `-` reads the list from standard input.
    #[arg(long = "images", value_name = "LIST", required = true, num_args = 1..)]
    images: Vec<PathBuf>,
    /// The OCI layout directory to write (created if missing).
    #[arg(short = 'o', long, value_name = "DIR")]
    layout: PathBuf,
    /// Platform to keep, OS/ARCH[/VARIANT], or `all` for every platform an image offers
    /// (as `crane --platform all`, `skopeo copy --all`); several as a comma list
    /// (linux/amd64,linux/arm64) or by repeating the flag.
    #[arg(
        long = "platform",
        value_name = "PLATFORM",
        default_value = "linux/amd64",
        value_delimiter = ',',
        value_parser = Platform::parse_selector
    )]
    platforms: Vec<Platform>,
    /// Blobs and images copied at the same time.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    concurrency: u16,
    /// Copy the other images when one fails; the run still fails and lists the failures.
    #[arg(long)]
    keep_going: bool,
    /// Copy the images only: do not look for the signatures, attestations, SBOMs and other
    /// OCI 1.1 referrers kept beside them (cosign's `sha256-<hex>.sig`/`.att`/`.sbom` tags
    /// and the referrers API or its fallback tag), which are carried by default.
    #[arg(long)]
    no_signatures: bool,
    /// A public key (PEM, cosign.pub) each image's signatures are checked against before it
    /// is stored, offline (repeat for several keys): a cosign `.sig` signature, a `.att`
    /// attestation or a Sigstore bundle referrer must verify with one of them.
    #[arg(long, value_name = "FILE")]
    verify_key: Vec<PathBuf>,
    /// With --verify-key: `always` (an image without a verified signature fails; the
    /// default) or `if-present` (only images that carry signatures must verify).
    #[arg(long, value_name = "WHEN", default_value = "always", value_parser = ["always", "if-present"])]
    require_signature: String,
    #[command(flatten)]
    registry: RegistryArgs,
}

/// The policy of `--verify-key` and `--require-signature`.
fn signature_policy(a: &MirrorArgs) -> Result<SignaturePolicy, CliError> {
    let mut keys = Vec::new();
    for path in &a.verify_key {
        let key = seedforge::trust::keys::PublicKey::read(path)
            .map_err(|e| CliError::Usage(format!("--verify-key {}: {e}", path.display())))?;
        keys.push(PolicyKey {
            name: path.display().to_string(),
            key,
        });
    }
    Ok(SignaturePolicy {
        require: if keys.is_empty() {
            RequireSignature::Never
        } else if a.require_signature == "if-present" {
            RequireSignature::IfPresent
        } else {
            RequireSignature::Always
        },
        keys: Arc::new(keys),
        ..SignaturePolicy::default()
    })
}

/// Runs `seedforge mirror`.
pub fn run(g: &Global, a: &MirrorArgs) -> Result<ExitCode, CliError> {
    seedforge::outpath::refuse_dangerous(&a.layout)?;
    if a.registry.password_stdin && a.images.iter().any(|p| p.as_os_str() == "-") {
        return Err(CliError::Usage(
            "--images - and --password-stdin both read standard input: give the list as a file"
                .into(),
        ));
    }
    let images = ImageList::load_all(&a.images)?;
    let options = MirrorOptions {
        platforms: a.platforms.clone(),
        concurrency: usize::from(a.concurrency),
        registries: Arc::new(
            a.registry
                .registries(&registry_hosts(&images), &g.secrets)?,
        ),
        keep_going: a.keep_going,
        known_layout: None,
        opened: Arc::default(),
        attached: !a.no_signatures,
        policy: signature_policy(a)?,
    };
    let reporter = progress::CliReporter::new(g, images.entries.len());
    reporter.step_started("mirror");
    let result = mirror(&images.entries, &a.layout, &options, &reporter);
    reporter.finish();
    let run = result?;
    let reports: Vec<MirroredImageReport> = run.images.iter().map(Into::into).collect();
    if g.json {
        print_json(&serde_json::json!({
            "layout": a.layout,
            "images": reports,
            "summary": run.summary,
        }));
    } else if !g.quiet {
        print_images(&reports);
        errln!("{}", summary_line(&run.summary));
    }
    Ok(ExitCode::Ok)
}

/// The registries the images come from.
fn registry_hosts(images: &ImageList) -> BTreeSet<String> {
    images
        .entries
        .iter()
        .filter_map(|e| match &e.source {
            ImageSource::Registry(r) => Some(r.registry().to_string()),
            _ => None,
        })
        .collect()
}

fn summary_line(s: &MirrorSummary) -> String {
    format!(
        "mirrored {} image(s): {} blob(s) written, {} transferred, {} saved by deduplication ({} blob(s) reused), {:.1}s",
        s.images,
        s.blobs_written,
        human_bytes(s.bytes_transferred),
        human_bytes(s.bytes_saved),
        s.blobs_present,
        s.seconds
    )
}
