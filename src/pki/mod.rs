//! The registry's PKI and the files that make nodes trust and reach it.
//!
//! A registry certificate issued for `CN=localhost` without the registry's IP as a SAN
//! broke every image pull of a field cluster with "connection reset". This module issues
//! a CA and a registry certificate that Go's TLS (containerd, k3s), openssl and the
//! distribution registry accept, writes `registries.yaml` (k3s), `registry/config.yml`
//! (distribution) and `certs.d/*/hosts.toml` (containerd), and refuses when the issued
//! certificate, parsed back, does not cover the address the nodes will dial.
//!
//! A cluster without a registry (k3s's embedded registry mirror alone) gets only
//! `registries.yaml` ([`prepare_embedded`]): no CA, certificate, registry config or
//! `certs.d`, and the registry configs an earlier build wrote are removed.
//!
//! The PKI directory is state kept between builds: nodes trust the CA, so an existing CA
//! is reused and never replaced behind the user's back, a lost one is not made anew where
//! the lock or the last build recorded it, and a rotation is a planned change
//! ([`continuity`]); the registry certificate is
//! reissued only when its SANs, key, issuer or validity no longer match. Everything is
//! computed in memory first ([`prepare`]), checked, and only then written ([`commit`]), so
//! an error leaves existing files untouched.

mod ca;
mod cert;
pub mod continuity;
mod files;
pub mod hosts_toml;
pub mod htpasswd;
pub mod inspect;
pub mod registries_yaml;
pub mod registry_config;

pub use continuity::{CaChange, CaContinuity, RecordedCa};
pub use inspect::{CertInfo, San};

use crate::report::Reporter;
use crate::vocab::{Host, SecretValue};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Days before expiry at which a certificate counts as due for renewal.
pub const RENEW_BEFORE_DAYS: u32 = 30;
/// Default validity of a new CA.
pub const DEFAULT_CA_DAYS: u32 = 3650;
/// Where the registry stores images on its host unless `registry.storage` says otherwise:
/// the folder Debian's `docker-registry` package uses, outside the build's output (the
/// output is sealed; the registry's storage grows with every push).
pub const DEFAULT_REGISTRY_STORAGE: &str = "/var/lib/docker-registry";
/// Default validity of the registry certificate.
pub const DEFAULT_CERT_DAYS: u32 = 1825;

const DAY: i64 = 86_400;

/// Errors of the PKI step.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// A PEM file (certificate or key) does not parse.
    #[error("{}: {message}", path.display())]
    BadPem {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A certificate and the key beside it do not belong together.
    #[error("{}: the key does not match the certificate {}", key.display(), cert.display())]
    KeyMismatch {
        /// The certificate.
        cert: PathBuf,
        /// The key.
        key: PathBuf,
    },
    /// Half of a certificate/key pair is missing.
    #[error("{} exists but {} does not; restore it, or remove both to start over", present.display(), missing.display())]
    Incomplete {
        /// The file that exists.
        present: PathBuf,
        /// The file that is missing.
        missing: PathBuf,
    },
    /// The CA to import does not exist (neither its certificate nor its key).
    #[error("{}: no such file (nor {}): the CA to import is missing", cert.display(), key.display())]
    ImportMissing {
        /// The certificate file named.
        cert: PathBuf,
        /// The key file named.
        key: PathBuf,
    },
    /// The certificate to use as a CA is not one.
    #[error("{}: not a CA certificate (basicConstraints CA:TRUE is missing)", path.display())]
    NotCa {
        /// The certificate.
        path: PathBuf,
    },
    /// The PKI directory holds a different CA than the one to import.
    #[error(
        "{} holds a different CA than registry.ca.import ({}); nodes trust the existing one, so it is not replaced: rotate to the import on purpose with `seedforge build --rotate-ca`",
        existing.display(), import.display()
    )]
    ImportConflict {
        /// The CA certificate in the PKI directory.
        existing: PathBuf,
        /// The CA certificate to import.
        import: PathBuf,
    },
    /// A certificate is expired, not yet valid, or would be too close to expiry.
    #[error("{what}: {message}")]
    Validity {
        /// Which certificate.
        what: String,
        /// What is wrong and what to change.
        message: String,
    },
    /// The issued certificate does not cover a host the nodes will dial (preflight).
    #[error(
        "{}: the registry certificate does not cover {host} ({named_in}); its SANs are {}. Nodes would fail every pull with a TLS error",
        cert.display(), sans.join(", ")
    )]
    SanMissing {
        /// The certificate.
        cert: PathBuf,
        /// The host that is not covered.
        host: String,
        /// Where the host is named.
        named_in: String,
        /// The SANs the certificate has.
        sans: Vec<String>,
    },
    /// The build would make or import a CA other than the one a record says the nodes
    /// trust (and the rotation was not asked for).
    #[error("{message}")]
    CaWouldChange {
        /// The record, the fingerprint, and how to go on.
        message: String,
    },
    /// The registry certificate was not issued by the CA.
    #[error("{}: not issued by the CA {}", cert.display(), ca.display())]
    WrongIssuer {
        /// The certificate.
        cert: PathBuf,
        /// The CA certificate.
        ca: PathBuf,
    },
    /// Key or certificate generation failed.
    #[error("cannot generate {what}: {message}")]
    Generate {
        /// What was being generated.
        what: String,
        /// The library's message.
        message: String,
    },
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

impl PkiError {
    /// True if the error is about the inputs (exit code 2) rather than a failure.
    pub fn is_invalid_input(&self) -> bool {
        !matches!(self, PkiError::Generate { .. } | PkiError::Io { .. })
    }

    fn io(path: &Path, source: std::io::Error) -> PkiError {
        PkiError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    fn generate(what: &str, e: impl std::fmt::Display) -> PkiError {
        PkiError::Generate {
            what: what.to_string(),
            message: e.to_string(),
        }
    }
}

/// Everything the PKI step needs, with secrets already resolved.
#[derive(Debug, Clone)]
pub struct PkiSettings {
    /// Where nodes reach the registry.
    pub host: Host,
    /// The registry's port.
    pub port: u16,
    /// Extra SANs.
    pub extra_sans: Vec<Host>,
    /// Serve plain HTTP: no certificate, `http://` endpoints.
    pub plain_http: bool,
    /// CA subject common name.
    pub ca_common_name: String,
    /// CA subject organisation.
    pub ca_organization: Option<String>,
    /// Validity of a new CA (days).
    pub ca_validity_days: u32,
    /// Validity of the registry certificate (days).
    pub cert_validity_days: u32,
    /// An existing CA to use: (certificate, key).
    pub ca_import: Option<(PathBuf, PathBuf)>,
    /// Where the CA certificate is installed on the nodes.
    pub node_ca_path: String,
    /// Where the registry stores images on its own host (an absolute path).
    pub storage: String,
    /// Basic auth for pulls: (user, password).
    pub auth: Option<(String, SecretValue)>,
    /// k3s rewrites applied to every upstream mirror.
    pub rewrite: BTreeMap<String, String>,
    /// Upstream registries the images come from (`docker.io`, `quay.io`).
    pub mirrors: BTreeSet<String>,
    /// The build's source date: start of validity of newly issued certificates.
    pub source_date: Option<u64>,
    /// The CA's records and whether it is rotated on purpose (see [`continuity`]).
    pub continuity: CaContinuity,
}

impl PkiSettings {
    /// `HOST:PORT`, as nodes and registries.yaml name the registry.
    pub fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// `https://HOST:PORT` (or `http://`).
    pub fn endpoint(&self) -> String {
        let scheme = if self.plain_http { "http" } else { "https" };
        format!("{scheme}://{}", self.address())
    }

    /// The SANs the registry certificate must carry: the host, 127.0.0.1, localhost and
    /// the extras, without repeats, in that order.
    pub fn sans(&self) -> Vec<Host> {
        let mut out: Vec<Host> = Vec::new();
        let fixed = [
            self.host.clone(),
            Host::Ip(std::net::Ipv4Addr::LOCALHOST.into()),
            Host::Name("localhost".into()),
        ];
        for h in fixed.into_iter().chain(self.extra_sans.iter().cloned()) {
            if !out.contains(&h) {
                out.push(h);
            }
        }
        out
    }

    /// Every registry host the nodes get a mirror for: the upstreams and the registry
    /// itself.
    pub fn mirror_hosts(&self) -> BTreeSet<String> {
        let mut all = self.mirrors.clone();
        all.insert(self.address());
        all
    }
}

/// Where the PKI step writes, relative to the output directory.
#[derive(Debug, Clone)]
pub struct PkiPaths {
    /// The output directory.
    pub out: PathBuf,
}

impl PkiPaths {
    /// `out/pki`.
    pub fn dir(&self) -> PathBuf {
        self.out.join("pki")
    }
    /// `out/pki/ca.crt`.
    pub fn ca_cert(&self) -> PathBuf {
        self.dir().join("ca.crt")
    }
    /// `out/pki/ca.key`.
    pub fn ca_key(&self) -> PathBuf {
        self.dir().join("ca.key")
    }
    /// `out/pki/ca-bundle.crt`: the node trust bundle of a rotating build.
    pub fn ca_bundle(&self) -> PathBuf {
        self.dir().join(continuity::BUNDLE)
    }
    /// `out/pki/registry.crt`.
    pub fn registry_cert(&self) -> PathBuf {
        self.dir().join("registry.crt")
    }
    /// `out/pki/registry.key`.
    pub fn registry_key(&self) -> PathBuf {
        self.dir().join("registry.key")
    }
    /// `out/registries.yaml`.
    pub fn registries_yaml(&self) -> PathBuf {
        self.out.join("registries.yaml")
    }
    /// `out/registry/config.yml`.
    pub fn registry_config(&self) -> PathBuf {
        self.out.join("registry/config.yml")
    }
    /// `out/registry/htpasswd`.
    pub fn htpasswd(&self) -> PathBuf {
        self.out.join("registry/htpasswd")
    }
    /// `out/certs.d`.
    pub fn certs_d(&self) -> PathBuf {
        self.out.join("certs.d")
    }
}

/// What happened to a certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The existing one was kept.
    Kept,
    /// It was copied from `registry.ca.import`.
    Imported,
    /// A new one was made.
    Created,
    /// A new one replaced the old one, for this reason.
    Reissued(String),
}

/// What the PKI step did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PkiReport {
    /// The PKI directory (absent when serving plain HTTP).
    pub dir: Option<PathBuf>,
    /// The CA.
    pub ca: Option<Outcome>,
    /// The registry certificate.
    pub certificate: Option<Outcome>,
    /// The registry certificate as parsed back.
    pub registry_cert: Option<CertInfo>,
    /// Every file written (unchanged state files are not rewritten).
    pub written: Vec<PathBuf>,
    /// `certs.d` directories removed because their registry is no longer mirrored, and
    /// registry configs removed because the config no longer has a registry.
    pub removed: Vec<PathBuf>,
    /// Things the user should know (a kept CA that differs from the config).
    pub warnings: Vec<String>,
    /// What this build changes on purpose: `ca`, the CA rotated (`build --rotate-ca`).
    #[serde(skip_serializing_if = "PkiChanges::is_empty")]
    pub changes: PkiChanges,
}

/// The planned changes of the PKI step.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PkiChanges {
    /// The CA rotated: the old fingerprint and the new one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca: Option<CaChange>,
}

impl PkiChanges {
    /// True when nothing changes on purpose.
    pub fn is_empty(&self) -> bool {
        self.ca.is_none()
    }
}

/// One file to write.
#[derive(Debug, Clone)]
struct PlannedFile {
    path: PathBuf,
    bytes: Vec<u8>,
    private: bool,
}

/// A fully computed, checked PKI step, ready to be written by [`commit`].
#[derive(Debug)]
pub struct Prepared {
    files: Vec<PlannedFile>,
    /// Key files kept as they are, whose mode is tightened to 0600 on commit.
    kept_keys: Vec<PathBuf>,
    /// `certs.d` directories of registries no longer mirrored, removed on commit.
    stale: Vec<PathBuf>,
    /// Registry configs of a registry no longer configured, removed on commit.
    stale_files: Vec<PathBuf>,
    /// The nodes take `pki/ca-bundle.crt` as their `pki/ca.crt` (a rotating build's
    /// output, or one `apply` rebuilds).
    pub node_bundle: bool,
    /// The report (its `written` is filled by [`commit`]).
    pub report: PkiReport,
}

/// Computes everything the PKI step would write for `settings` into `out` at time `now`
/// (seconds since the epoch), checking existing state and the SAN preflight; writes
/// nothing.
pub fn prepare(settings: &PkiSettings, out: &Path, now: i64) -> Result<Prepared, PkiError> {
    let paths = PkiPaths {
        out: out.to_path_buf(),
    };
    let registries = registries_yaml::render(settings);
    let mut files = vec![PlannedFile {
        path: paths.registries_yaml(),
        bytes: registries.clone().into_bytes(),
        private: settings.auth.is_some(),
    }];
    let mut report = PkiReport::default();
    let mut kept_keys = Vec::new();
    let mut stale_files = Vec::new();
    let mut node_bundle = false;
    if !settings.plain_http {
        let ca = ca::resolve(settings, &paths, now)?;
        let leaf = cert::resolve(settings, &paths, &ca, now)?;
        cert::preflight(settings, &paths, &ca, &leaf.info, &registries)?;
        report.dir = Some(paths.dir());
        report.ca = Some(ca.outcome.clone());
        report.certificate = Some(leaf.outcome.clone());
        report.registry_cert = Some(leaf.info.clone());
        report.warnings.extend(ca.warnings.iter().cloned());
        for (path, bytes, private) in ca.files(&paths).into_iter().chain(leaf.files(&paths)) {
            files.push(PlannedFile {
                path,
                bytes,
                private,
            });
        }
        if ca.outcome == Outcome::Kept {
            kept_keys.push(paths.ca_key());
        }
        report.changes.ca = ca.change.clone();
        if let Some(bundle) = &ca.bundle {
            files.push(PlannedFile {
                path: paths.ca_bundle(),
                bytes: bundle.clone().into_bytes(),
                private: false,
            });
            node_bundle = true;
        } else if settings.continuity.keep_bundle && paths.ca_bundle().is_file() {
            node_bundle = true;
        }
        if leaf.outcome == Outcome::Kept {
            kept_keys.push(paths.registry_key());
        }
    }
    if let Some((user, password)) = &settings.auth {
        files.push(PlannedFile {
            path: paths.htpasswd(),
            bytes: htpasswd::entry(&paths.htpasswd(), user, password)?.into_bytes(),
            private: true,
        });
    }
    files.push(PlannedFile {
        path: paths.registry_config(),
        bytes: registry_config::render(settings).into_bytes(),
        private: false,
    });
    let hosts = hosts_toml::render_all(settings);
    let keep: Vec<String> = hosts.iter().map(|(h, _)| h.clone()).collect();
    let stale = hosts_toml::stale(&paths.certs_d(), &keep);
    for (host, text) in hosts {
        files.push(PlannedFile {
            path: paths.certs_d().join(host).join("hosts.toml"),
            bytes: text.into_bytes(),
            private: false,
        });
    }
    // The bundle of the last build, which rotated the CA: the nodes trust the new CA
    // alone from this build on.
    if !node_bundle && paths.ca_bundle().is_file() {
        stale_files.push(paths.ca_bundle());
    }
    Ok(Prepared {
        files,
        kept_keys,
        stale,
        stale_files,
        node_bundle,
        report,
    })
}

/// What the PKI step writes for a cluster without a registry, whose nodes share the
/// images of the `mirrors` registries through k3s's embedded registry mirror: only
/// `registries.yaml`. The registry configs and `certs.d` files an earlier build with a
/// registry wrote are removed on commit; `pki/` (state: the CA the nodes may trust) is
/// left alone. Writes nothing.
pub fn prepare_embedded(mirrors: &BTreeSet<String>, out: &Path) -> Prepared {
    let paths = PkiPaths {
        out: out.to_path_buf(),
    };
    Prepared {
        files: vec![PlannedFile {
            path: paths.registries_yaml(),
            bytes: registries_yaml::render_embedded(mirrors).into_bytes(),
            private: false,
        }],
        kept_keys: Vec::new(),
        stale: hosts_toml::stale(&paths.certs_d(), &[]),
        stale_files: [paths.registry_config(), paths.htpasswd()]
            .into_iter()
            .filter(|p| p.is_file())
            .collect(),
        node_bundle: false,
        report: PkiReport::default(),
    }
}

/// Writes a prepared step: every file atomically, keys and secrets with mode 0600.
/// Keys are written before their certificates, so a crash in between leaves a pair that
/// does not match, which the next run detects and repairs.
pub fn commit(prepared: Prepared, reporter: &dyn Reporter) -> Result<PkiReport, PkiError> {
    let mut report = prepared.report;
    for w in &report.warnings {
        reporter.warning(w);
    }
    for key in &prepared.kept_keys {
        files::tighten(key)?;
    }
    for (i, f) in prepared.files.iter().enumerate() {
        let label = f.path.display().to_string();
        reporter.item_started(&label, i, prepared.files.len());
        if files::write_if_changed(&f.path, &f.bytes, f.private)? {
            reporter.item_finished(&label, "written");
            report.written.push(f.path.clone());
        } else {
            reporter.item_finished(&label, "unchanged");
        }
    }
    for dir in &prepared.stale {
        let file = dir.join("hosts.toml");
        std::fs::remove_file(&file).map_err(|e| PkiError::io(&file, e))?;
        std::fs::remove_dir(dir).map_err(|e| PkiError::io(dir, e))?;
        report.removed.push(dir.clone());
    }
    for file in &prepared.stale_files {
        std::fs::remove_file(file).map_err(|e| PkiError::io(file, e))?;
        report.removed.push(file.clone());
        // The folder goes too once it is empty (`registry/`); a folder holding anything
        // else is left alone.
        if let Some(dir) = file.parent() {
            let _ = std::fs::remove_dir(dir);
        }
    }
    Ok(report)
}

/// The current time in seconds since the epoch.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Warnings for the certificates in `out/pki` that expire within [`RENEW_BEFORE_DAYS`]
/// of `now` (none when there is no PKI directory).
pub fn expiry_warnings(out: &Path, now: i64) -> Result<Vec<String>, PkiError> {
    let paths = PkiPaths {
        out: out.to_path_buf(),
    };
    let mut warnings = Vec::new();
    for path in [paths.ca_cert(), paths.registry_cert()] {
        if !path.exists() {
            continue;
        }
        let bytes = crate::input::read_found(&path, crate::input::Kind::Text)
            .map_err(|e| PkiError::io(&path, e.into_io()))?;
        let (_, info) = inspect::parse_pem(&bytes, &path)?;
        warnings.extend(expiry_warning(&path.display().to_string(), &info, now));
    }
    Ok(warnings)
}

/// Re-checks the registry certificate in `out/pki` as the SAN preflight does: it must
/// chain to `out/pki/ca.crt` and cover every one of `hosts`.
pub fn check_registry_certificate(out: &Path, hosts: &[Host]) -> Result<CertInfo, PkiError> {
    let paths = PkiPaths {
        out: out.to_path_buf(),
    };
    let read = |path: &Path| -> Result<CertInfo, PkiError> {
        let bytes = crate::input::read_found(path, crate::input::Kind::Text)
            .map_err(|e| PkiError::io(path, e.into_io()))?;
        Ok(inspect::parse_pem(&bytes, path)?.1)
    };
    let ca = read(&paths.ca_cert())?;
    let leaf = read(&paths.registry_cert())?;
    if !cert::issued_by(&leaf, &ca) {
        return Err(PkiError::WrongIssuer {
            cert: paths.registry_cert(),
            ca: paths.ca_cert(),
        });
    }
    for host in hosts {
        if !leaf.covers(host) {
            return Err(PkiError::SanMissing {
                cert: paths.registry_cert(),
                host: host.bare(),
                named_in: "manifest.json".into(),
                sans: leaf.sans.iter().map(ToString::to_string).collect(),
            });
        }
    }
    Ok(leaf)
}

/// A warning when `info` expires within [`RENEW_BEFORE_DAYS`] of `now` (or has expired).
pub fn expiry_warning(what: &str, info: &CertInfo, now: i64) -> Option<String> {
    let left = info.not_after - now;
    if left < 0 {
        Some(format!("{what} expired {} day(s) ago", -left / DAY))
    } else if left < i64::from(RENEW_BEFORE_DAYS) * DAY {
        Some(format!(
            "{what} expires in {} day(s); run the build again to renew it",
            left / DAY
        ))
    } else {
        None
    }
}

#[cfg(test)]
mod tests;
