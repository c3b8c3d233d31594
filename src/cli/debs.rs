//! `seedforge debs`: one offline package bundle from .deb files or an apt repository.

use super::{Global, print_json, progress};
use clap::Args;
use seedforge::debs::resolve::Request;
use seedforge::debs::{BundleSpec, PackageSource, PreparedBundle, RepoSpec, prepare};
use seedforge::net::Net;
use seedforge::{Error, ExitCode, Reporter};
use std::path::{Path, PathBuf};

/// Arguments of `seedforge debs`.
#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("source").required(true).args(["debs", "repo"]))]
pub(super) struct DebsArgs {
    /// .deb file or directory of .debs to choose from; repeat for several.
    #[arg(long = "deb", value_name = "FILE", num_args = 1..)]
    debs: Vec<PathBuf>,
    /// apt repository URL (file://, http://, https://).
    #[arg(long, value_name = "URL", requires = "suite")]
    repo: Option<String>,
    /// Repository suite (bookworm); end it with / for a flat repository (./).
    #[arg(long, value_name = "S")]
    suite: Option<String>,
    /// Repository component; repeat for several.
    #[arg(long = "component", value_name = "C", default_value = "main")]
    components: Vec<String>,
    /// Native architecture of the nodes.
    #[arg(long, value_name = "A", default_value = "amd64")]
    arch: String,
    /// A PEM file with CA certificates to trust for an https repository (in addition to
    /// the system's and SSL_CERT_FILE); repeat for several.
    #[arg(long = "ca-file", value_name = "FILE", requires = "repo")]
    ca_files: Vec<PathBuf>,
    /// Keyring to check the repository's Release signature with (gpgv).
    #[arg(long, value_name = "FILE", requires = "repo")]
    keyring: Option<PathBuf>,
    /// Package to include (NAME or NAME=VERSION); repeat for several.
    #[arg(long = "package", value_name = "P", num_args = 1..)]
    packages: Vec<Request>,
    /// Named package set to include (k3s-ops, kubeadm); repeat for several.
    #[arg(long = "set", value_name = "NAME")]
    sets: Vec<String>,
    /// What the node image already has: `dpkg-query -W` output from the image.
    #[arg(long, value_name = "FILE")]
    base: Option<PathBuf>,
    /// The bundle to write (NAME.tar.gz).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Bundle name [default: from --out].
    #[arg(long)]
    name: Option<String>,
    /// Modification time of every entry [default: $SOURCE_DATE_EPOCH, else 0].
    #[arg(long, value_name = "SECONDS", env = "SOURCE_DATE_EPOCH")]
    source_date_epoch: Option<u64>,
}

pub(super) fn debs_cmd(g: &Global, a: &DebsArgs) -> Result<ExitCode, Error> {
    let source = match &a.repo {
        Some(url) => PackageSource::Repo(RepoSpec {
            url: url.clone(),
            suite: a.suite.clone().unwrap_or_default(),
            components: a.components.clone(),
            keyring: a.keyring.clone(),
        }),
        None => PackageSource::Debs(a.debs.clone()),
    };
    let name = match &a.name {
        Some(n) => n.clone(),
        None => {
            let file = a.out.file_name().map(|f| f.to_string_lossy().into_owned());
            let stem = file.as_deref().and_then(|f| f.strip_suffix(".tar.gz"));
            stem.map(str::to_string).ok_or_else(|| {
                Error::Usage(format!(
                    "{}: the bundle must be named NAME.tar.gz (or pass --name)",
                    a.out.display()
                ))
            })?
        }
    };
    let spec = BundleSpec {
        name,
        source,
        arch: a.arch.clone(),
        sets: a.sets.clone(),
        packages: a.packages.clone(),
        base: a.base.clone(),
    };
    // The bundle must not land on what it is made from: a --deb file, a --deb folder
    // (searched without descending, so a subfolder is fine), a local repository.
    use seedforge::outpath::{OutPathError, resolve};
    let out_real = resolve(&a.out);
    for deb in &a.debs {
        let real = resolve(deb);
        if out_real == real || out_real.parent() == Some(real.as_path()) {
            return Err(OutPathError::HoldsInput {
                out: a.out.clone(),
                input: deb.clone(),
                what: "--deb".into(),
            }
            .into());
        }
    }
    let mut inputs: Vec<(&Path, String)> = Vec::new();
    let repo_dir = a
        .repo
        .as_deref()
        .and_then(|u| u.strip_prefix("file://"))
        .map(PathBuf::from);
    inputs.extend(repo_dir.as_deref().map(|d| (d, "--repo".to_string())));
    inputs.extend(a.base.as_deref().map(|b| (b, "--base".to_string())));
    inputs.extend(a.keyring.as_deref().map(|k| (k, "--keyring".to_string())));
    seedforge::outpath::refuse_inputs(&a.out, inputs)?;
    let net = std::sync::Arc::new(Net::new(super::net::settings(&a.ca_files)?));
    let prepared = prepare(&spec, net)?;
    let reporter = progress::CliReporter::new(g.quiet || g.json, prepared.closure.packages.len());
    if prepared.unverified() {
        reporter.warning(&unverified_note(&prepared));
    }
    let report = prepared.write(&a.out, a.source_date_epoch.unwrap_or(0), &reporter)?;
    reporter.finish();
    if g.json {
        print_json(&serde_json::json!({
            "bundle": report,
            "verification": prepared.universe.verification,
            "closure": prepared.closure,
        }));
    } else if !g.quiet {
        print_closure(&prepared);
        outln!(
            "{}  {} package(s), {}, sha256:{}",
            report.path.display(),
            report.debs,
            seedforge::util::human_bytes(report.file_bytes),
            report.sha256
        );
    }
    Ok(ExitCode::Ok)
}

/// The warning for a repository whose Release signature was not checked.
pub(super) fn unverified_note(p: &PreparedBundle) -> String {
    format!(
        "{} is unverified: no --keyring was given, so the Release signature was not checked (index and package hashes were)",
        p.universe.origin
    )
}

/// The closure as a table: package, version, size, pulled in by.
pub(super) fn print_closure(p: &PreparedBundle) {
    let rows: Vec<[String; 4]> = p
        .closure
        .packages
        .iter()
        .map(|r| {
            [
                r.name.clone(),
                r.version.clone(),
                seedforge::util::human_bytes(r.size),
                r.pulled_by.join(", "),
            ]
        })
        .collect();
    let header = ["PACKAGE", "VERSION", "SIZE", "PULLED IN BY"].map(String::from);
    let mut widths = [0usize; 3];
    for row in std::iter::once(&header).chain(&rows) {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for row in std::iter::once(&header).chain(&rows) {
        outln!(
            "{:<w0$}  {:<w1$}  {:>w2$}  {}",
            row[0],
            row[1],
            row[2],
            row[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2]
        );
    }
    for r in &p.closure.already_in_base {
        outln!("{r}: already in the base, not bundled");
    }
}
