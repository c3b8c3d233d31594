//! `seedforge pki`: the registry PKI and registry configs without a config file.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use super::common::print::outcome;
use super::common::{CliError, ExitCode, Global, Kind, document, print_json};
use clap::Args;
use seedforge::config::{DEFAULT_NODE_CA_PATH, Host};
use seedforge::pki::{self, PkiSettings};

use std::path::PathBuf;

/// Arguments of `seedforge pki`.
#[derive(Debug, Args)]
pub(super) struct PkiArgs {
    /// IP address or DNS name the nodes reach the registry at (CN and first SAN).
    #[arg(long, value_name = "HOST_OR_IP", value_parser = parse_host)]
    host: Host,
    /// The registry's TCP port (1-65535).
    #[arg(long, default_value_t = 5000, value_parser = clap::value_parser!(u16).range(1..))]
    port: u16,
    /// An extra name or address for the certificate; repeat for several.
    #[arg(long = "san", value_name = "NAME_OR_IP", value_parser = parse_host)]
    sans: Vec<Host>,
    /// An upstream registry mirrored to this one (`docker.io`); repeat for several.
    #[arg(long = "mirror", value_name = "REGISTRY")]
    mirrors: Vec<String>,
    /// Output directory: pki/, registries.yaml, registry/config.yml, certs.d/.
    #[arg(short, long, value_name = "DIR")]
    out: PathBuf,
    /// Use this CA certificate (PEM) instead of creating one; needs --ca-key.
    #[arg(long, value_name = "FILE", requires = "ca_key")]
    ca_cert: Option<PathBuf>,
    /// The key of --ca-cert (unencrypted PKCS#8 PEM).
    #[arg(long, value_name = "FILE", requires = "ca_cert")]
    ca_key: Option<PathBuf>,
    /// Common name of a new CA.
    #[arg(long, value_name = "NAME", default_value = "seedforge registry CA")]
    ca_common_name: String,
    /// Validity of a new CA in days.
    #[arg(long, value_name = "DAYS", default_value_t = pki::DEFAULT_CA_DAYS,
          value_parser = clap::value_parser!(u32).range(1..=36_500))]
    ca_validity_days: u32,
    /// Validity of the registry certificate in days.
    #[arg(long, value_name = "DAYS", default_value_t = pki::DEFAULT_CERT_DAYS,
          value_parser = clap::value_parser!(u32).range(1..=36_500))]
    validity_days: u32,
    /// Where the CA certificate is installed on the nodes.
    #[arg(long, value_name = "PATH", default_value = DEFAULT_NODE_CA_PATH)]
    node_ca_path: String,
    /// Where the registry stores images on its host (registry/config.yml's storage).
    #[arg(long, value_name = "PATH", default_value = pki::DEFAULT_REGISTRY_STORAGE)]
    storage: String,
    /// Start of validity of new certificates [default: $SOURCE_DATE_EPOCH, else now].
    #[arg(long, value_name = "SECONDS", env = "SOURCE_DATE_EPOCH")]
    source_date_epoch: Option<u64>,
}

fn parse_host(s: &str) -> Result<Host, String> {
    s.parse()
}

pub(super) fn pki_cmd(g: &Global, a: &PkiArgs) -> Result<ExitCode, CliError> {
    if !a.storage.starts_with('/') {
        return Err(CliError::Usage(format!(
            "--storage {:?} must be an absolute path on the registry's host",
            a.storage
        )));
    }
    if !a.node_ca_path.starts_with('/') {
        return Err(CliError::Usage(format!(
            "--node-ca-path {:?} must be an absolute path",
            a.node_ca_path
        )));
    }
    let settings = PkiSettings {
        host: a.host.clone(),
        port: a.port,
        extra_sans: a.sans.clone(),
        plain_http: false,
        ca_common_name: a.ca_common_name.clone(),
        ca_organization: None,
        ca_validity_days: a.ca_validity_days,
        cert_validity_days: a.validity_days,
        ca_import: a.ca_cert.clone().zip(a.ca_key.clone()),
        node_ca_path: a.node_ca_path.clone(),
        storage: a.storage.clone(),
        auth: None,
        rewrite: Default::default(),
        mirrors: a.mirrors.iter().cloned().collect(),
        source_date: a.source_date_epoch,
        continuity: Default::default(),
    };
    seedforge::outpath::refuse_dangerous(&a.out)?;
    let prepared = pki::prepare(&settings, &a.out, pki::now())?;
    let report = pki::commit(prepared, &seedforge::NoopReporter)?;
    for w in &report.warnings {
        document::warn(g, w);
    }
    if g.json {
        // Its warnings were said just above, and so are the document's own.
        let mut doc = serde_json::to_value(&report).unwrap_or_default();
        if let Some(fields) = doc.as_object_mut() {
            fields.remove("warnings");
        }
        print_json(g, Kind::Pki, &doc);
    } else if !g.quiet {
        print_report(&report);
    }
    Ok(ExitCode::Ok)
}

/// Prints what the PKI step did, file by file.
pub(super) fn print_report(report: &pki::PkiReport) {
    if let Some(dir) = &report.dir {
        outln!(
            "ca    {}  {}",
            dir.join("ca.crt").display(),
            outcome(report.ca.as_ref())
        );
        outln!(
            "cert  {}  {}",
            dir.join("registry.crt").display(),
            outcome(report.certificate.as_ref())
        );
    }
    if let Some(info) = &report.registry_cert {
        let sans: Vec<String> = info.sans.iter().map(ToString::to_string).collect();
        outln!("      SANs {}", sans.join(", "));
    }
    for p in &report.written {
        outln!("wrote {}", p.display());
    }
    for p in &report.removed {
        outln!("removed {}", p.display());
    }
}
