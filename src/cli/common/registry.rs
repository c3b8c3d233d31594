//! How to reach registries: the flags `mirror` and `push` share, and the registries they
//! describe.

use super::{CliError, net};
use clap::Args;
use seedforge::Error;
use seedforge::net::Net;
use seedforge::oci::registry::credentials::Password;
use seedforge::oci::registry::{Credentials, Registries, RegistryAccess};
use seedforge::redact::Secrets;
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

/// The mirror rewrites of the build output `dir` (its `registries.yaml`, as the nodes
/// read it): where the nodes ask the cluster's registry for each image, so that `push` and
/// `serve` put it there. None for a bare layout or an output without the file.
pub(crate) fn output_rewrites(dir: &std::path::Path) -> Result<seedforge::image::Rewrites, Error> {
    let path = dir.join("registries.yaml");
    if !dir.join("manifest.json").is_file() || !path.is_file() {
        return Ok(seedforge::image::Rewrites::default());
    }
    let text = seedforge::input::read_found_to_string(&path, seedforge::input::Kind::Config)?;
    let bad = |message: String| {
        Error::from(seedforge::oci::OciError::Source {
            source_name: path.display().to_string(),
            message,
        })
    };
    let file = seedforge::pki::registries_yaml::parse(&text).map_err(bad)?;
    seedforge::image::Rewrites::new(
        (file.mirrors.iter()).map(|(host, mirror)| (host.as_str(), &mirror.rewrite)),
    )
    .map_err(|e| bad(e.to_string()))
}
