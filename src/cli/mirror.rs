//! `seedforge mirror`: image lists into an OCI layout, from registries or local files.

use super::{CliError, ExitCode};
use super::{Global, net, print_images, print_json, progress};
use clap::Args;
use seedforge::image::{ImageList, ImageSource};
use seedforge::net::Net;
use seedforge::oci::Platform;
use seedforge::oci::mirror::policy::{PolicyKey, RequireSignature, SignaturePolicy};
use seedforge::oci::mirror::{MirrorOptions, MirrorSummary, mirror};
use seedforge::oci::registry::settings::Password;
use seedforge::oci::registry::{Credentials, Registries, RegistryAccess};
use seedforge::pipeline::run::MirroredImageReport;
use seedforge::redact::Secrets;
use seedforge::util::human_bytes;
use seedforge::{Error, Reporter};
use std::collections::BTreeSet;
use std::io::{BufRead as _, Read as _};
use std::path::PathBuf;
use std::sync::Arc;

/// How to reach registries, shared by `mirror` and `push`.
#[derive(Debug, Args)]
pub struct RegistryArgs {
    /// A PEM file with CA certificates to trust for registries (in addition to the
    /// system's); repeat for several.
    #[arg(long = "ca-file", value_name = "FILE")]
    pub ca_files: Vec<PathBuf>,
    /// Speak plain HTTP to this registry; repeat for several. (There is no
    /// --insecure-registry: docker and podman mean by it HTTPS without verification.)
    #[arg(long = "plain-http", value_name = "HOST[:PORT]")]
    pub insecure: Vec<String>,
    /// Refused while the command line is parsed (exit 2, before anything is read or
    /// written), with a message naming what to use instead: docker and podman take it to
    /// mean "HTTPS without certificate verification, or HTTP", which seedforge never does.
    #[arg(
        long = "insecure-registry",
        value_name = "HOST[:PORT]",
        hide = true,
        value_parser = insecure_registry_refused
    )]
    pub insecure_registry: Vec<String>,
    /// User name for one registry (with --password-stdin): HOST=USER, or USER alone when
    /// only one registry is involved. The credentials are sent to that registry only.
    #[arg(long, value_name = "[HOST=]USER", requires = "password_stdin")]
    pub username: Option<String>,
    /// Read the registry password from the first line of standard input (at most 64 KiB).
    #[arg(long, requires = "username")]
    pub password_stdin: bool,
    /// The auth file (podman auth.json or Docker config.json) to take credentials from,
    /// instead of any other: as with podman and skopeo, no other auth file is read. It
    /// must exist; an error in it is an error. Without it, $REGISTRY_AUTH_FILE alone is
    /// read if set, else the files podman, skopeo and Docker read (docs/network.md).
    #[arg(long, value_name = "FILE")]
    pub authfile: Option<PathBuf>,
}

impl RegistryArgs {
    /// The registries these flags describe, for a run that talks to the registries in
    /// `scope`: `--username` without a host applies to the one registry there, and is
    /// refused when there are several. Passwords read or found are registered with
    /// `secrets`, the run's.
    pub fn registries(
        &self,
        scope: &BTreeSet<String>,
        secrets: &Secrets,
    ) -> Result<Registries, CliError> {
        self.registries_trusting(scope, secrets, &[])
    }

    /// [`RegistryArgs::registries`], trusting the CA certificates in `extra` too (a build
    /// output's own CA, for `push`).
    pub fn registries_trusting(
        &self,
        scope: &BTreeSet<String>,
        secrets: &Secrets,
        extra: &[PathBuf],
    ) -> Result<Registries, CliError> {
        let ca_files: Vec<PathBuf> = self.ca_files.iter().chain(extra).cloned().collect();
        let net_settings = net::settings(&ca_files)?;
        let mut access = RegistryAccess::new(secrets.clone());
        access.plain_http = self.insecure.clone();
        if let Some(user) = &self.username {
            let (host, username) = scoped_user(user, scope)?;
            let password = read_password()?;
            secrets.register(&password);
            access.set_command_line(
                &host,
                Credentials {
                    username,
                    password: Password::new(password),
                },
            );
        }
        access
            .add_auth_files(self.authfile.as_deref())
            .map_err(|e| Error::Oci(e.into()))?;
        let net = Arc::new(Net::new(access.net_settings(net_settings)));
        Ok(Registries::new(access, net))
    }
}

/// Refuses `--insecure-registry HOST`, saying what to pass instead.
fn insecure_registry_refused(host: &str) -> Result<String, String> {
    Err(format!(
        "not supported: docker and podman take it to mean HTTPS without \
         certificate verification, which seedforge never does. For a registry that speaks plain \
         HTTP, pass --plain-http {host}; for one whose certificate comes from its own CA, pass \
         --ca-file FILE (or set registries[].ca_file in the config)"
    ))
}

/// The host and user of `--username [HOST=]USER`.
fn scoped_user(value: &str, scope: &BTreeSet<String>) -> Result<(String, String), CliError> {
    if let Some((host, user)) = value.split_once('=') {
        if host.is_empty() || user.is_empty() || host.contains('/') {
            return Err(CliError::Usage(format!(
                "--username {value:?}: expected HOST=USER (registry.example.com:5000=alice) or USER"
            )));
        }
        return Ok((host.to_string(), user.to_string()));
    }
    let mut hosts = scope.iter();
    match (hosts.next(), hosts.next()) {
        (Some(host), None) => Ok((host.clone(), value.to_string())),
        (None, _) => Err(CliError::Usage(format!(
            "--username {value}: no image here comes from a registry; drop --username"
        ))),
        (Some(_), Some(_)) => Err(CliError::Usage(format!(
            "--username {value}: the images come from {} registries ({}); say which one the credentials are for with --username HOST={value}",
            scope.len(),
            scope.iter().cloned().collect::<Vec<_>>().join(", ")
        ))),
    }
}

/// The first line of standard input, read no further than a secret file's cap: an endless
/// stream without a line break (`/dev/zero`) is refused, not kept in memory.
fn read_password() -> Result<String, CliError> {
    let cap = seedforge::input::Kind::Secret.cap();
    let mut line = Vec::new();
    std::io::stdin()
        .lock()
        .take(cap + 2)
        .read_until(b'\n', &mut line)
        .map_err(|e| CliError::Usage(format!("--password-stdin: cannot read: {e}")))?;
    if line.last() == Some(&b'\n') {
        line.pop();
    }
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    if line.len() as u64 > cap {
        return Err(CliError::Usage(format!(
            "--password-stdin: the first line of standard input is longer than the {cap}-byte limit for a password"
        )));
    }
    let password = String::from_utf8(line)
        .map_err(|_| CliError::Usage("--password-stdin: the password is not UTF-8".into()))?;
    if password.is_empty() {
        return Err(CliError::Usage(
            "--password-stdin: standard input holds no password".into(),
        ));
    }
    Ok(password)
}

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
