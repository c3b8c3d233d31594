//! `seedforge mirror`: image lists into an OCI layout, from registries or local files.

use super::{Global, print_images, print_json, progress};
use clap::Args;
use seedforge::image::ImageList;
use seedforge::oci::Platform;
use seedforge::oci::mirror::{MirrorOptions, MirrorSummary, mirror};
use seedforge::oci::registry::settings::Password;
use seedforge::oci::registry::{Credentials, Registries, RegistryAccess};
use seedforge::plan::MirroredImageReport;
use seedforge::util::human_bytes;
use seedforge::{Error, ExitCode, Reporter};
use std::io::BufRead;
use std::path::PathBuf;
use std::sync::Arc;

/// How to reach registries, shared by `mirror` and `push`.
#[derive(Debug, Args)]
pub struct RegistryArgs {
    /// A PEM file with CA certificates to trust for registries (in addition to the
    /// system's); repeat for several.
    #[arg(long = "ca-file", value_name = "FILE")]
    pub ca_files: Vec<PathBuf>,
    /// Speak plain HTTP to this registry; repeat for several.
    #[arg(long = "insecure-registry", value_name = "HOST[:PORT]")]
    pub insecure: Vec<String>,
    /// User name for registry authentication (with --password-stdin).
    #[arg(long, requires = "password_stdin")]
    pub username: Option<String>,
    /// Read the registry password from the first line of standard input.
    #[arg(long, requires = "username")]
    pub password_stdin: bool,
}

impl RegistryArgs {
    /// The registry settings these flags describe, with the Docker config file's
    /// credentials as the fallback.
    pub fn access(&self) -> Result<RegistryAccess, Error> {
        let mut access = RegistryAccess::default();
        access.ca_files = self.ca_files.clone();
        access.plain_http = self.insecure.clone();
        for file in &self.ca_files {
            if !file.is_file() {
                return Err(Error::Usage(format!(
                    "--ca-file {}: no such file",
                    file.display()
                )));
            }
        }
        if let Some(username) = &self.username {
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .map_err(|e| Error::Usage(format!("--password-stdin: cannot read: {e}")))?;
            let password = line.trim_end_matches(['\n', '\r']);
            if password.is_empty() {
                return Err(Error::Usage(
                    "--password-stdin: standard input holds no password".into(),
                ));
            }
            access.credentials = Some(Credentials {
                username: username.clone(),
                password: Password::new(password),
            });
        }
        access
            .add_docker_config()
            .map_err(|e| Error::Oci(e.into()))?;
        Ok(access)
    }
}

/// `seedforge mirror` arguments.
#[derive(Debug, Args)]
pub struct MirrorArgs {
    /// Image list file(s).
    #[arg(long = "images", value_name = "LIST", required = true, num_args = 1..)]
    images: Vec<PathBuf>,
    /// The OCI layout directory to write (created if missing).
    #[arg(long, value_name = "DIR")]
    layout: PathBuf,
    /// Platform to keep, OS/ARCH[/VARIANT]; repeat for several.
    #[arg(
        long = "platform",
        value_name = "PLATFORM",
        default_value = "linux/amd64"
    )]
    platforms: Vec<Platform>,
    /// Blobs and images copied at the same time.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    concurrency: u16,
    /// Copy the other images when one fails; the run still fails and lists the failures.
    #[arg(long)]
    keep_going: bool,
    #[command(flatten)]
    registry: RegistryArgs,
}

/// Runs `seedforge mirror`.
pub fn run(g: &Global, a: &MirrorArgs) -> Result<ExitCode, Error> {
    let images = ImageList::load_all(&a.images)?;
    let options = MirrorOptions {
        platforms: a.platforms.clone(),
        concurrency: usize::from(a.concurrency),
        registries: Arc::new(Registries::new(a.registry.access()?)),
        keep_going: a.keep_going,
    };
    let reporter = progress::CliReporter::new(g.quiet || g.json, images.entries.len());
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
        eprintln!("{}", summary_line(&run.summary));
    }
    Ok(ExitCode::Ok)
}

fn summary_line(s: &MirrorSummary) -> String {
    format!(
        "mirrored {} image(s): {} blob(s) written, {} transferred, {} saved by deduplication ({} layer(s) already present), {:.1}s",
        s.images,
        s.blobs_written,
        human_bytes(s.bytes_transferred),
        human_bytes(s.bytes_saved),
        s.blobs_present,
        s.seconds
    )
}
