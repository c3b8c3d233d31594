//! `seedforge debs`: one offline package bundle from .deb files or an apt repository.

use super::common::cache::open_cache;
use super::common::{CliError, ExitCode, Global, Kind, net, print_json, progress};
use clap::Args;
use seedforge::Reporter;
use seedforge::debs::Request;
use seedforge::debs::{BundleSpec, PackageSource, PreparedBundle, RepoSpec, prepare_for};
use seedforge::net::Net;
use std::path::{Path, PathBuf};

/// Arguments of `seedforge debs`.
#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("source").required(true).multiple(true).args(["debs", "repos"]))]
pub(super) struct DebsArgs {
    /// .deb file or directory of .debs to choose from; repeat for several.
    #[arg(long = "deb", value_name = "FILE", num_args = 1..)]
    debs: Vec<PathBuf>,
    /// apt repository (file://, http://, https://): a URL, whose suite and components are
    /// --suite and --component, or a sources.list line's "URL SUITE [COMPONENT...]";
    /// repeat for several (bookworm, bookworm-updates, and
    /// "http://deb.debian.org/debian-security bookworm-security main"). With --deb too,
    /// the local .debs come first: of two equal versions the earlier source's is taken.
    #[arg(long = "repo", value_name = "URL")]
    repos: Vec<String>,
    /// Suite of a --repo given as a bare URL (bookworm); end it with / for a flat
    /// repository (./).
    #[arg(long, value_name = "S")]
    suite: Option<String>,
    /// Component of a --repo given as a bare URL; repeat for several.
    #[arg(long = "component", value_name = "C", default_value = "main")]
    components: Vec<String>,
    /// Native architecture of the nodes.
    #[arg(long, value_name = "A", default_value = "amd64")]
    arch: String,
    /// A PEM file with CA certificates to trust for an https repository (in addition to
    /// the system's and SSL_CERT_FILE); repeat for several.
    #[arg(long = "ca-file", value_name = "FILE", requires = "repos")]
    ca_files: Vec<PathBuf>,
    /// Keyring to check each repository's Release signature with (gpgv).
    #[arg(long, value_name = "FILE", requires = "repos")]
    keyring: Option<PathBuf>,
    /// Package to include (NAME or NAME=VERSION); repeat for several.
    #[arg(long = "package", value_name = "P", num_args = 1..)]
    packages: Vec<Request>,
    /// Named package set to include (k3s-ops, kubeadm); repeat for several.
    #[arg(long = "set", value_name = "NAME")]
    sets: Vec<String>,
    /// What the node image already has, never bundled at the version it has: its dpkg
    /// status file (/var/lib/dpkg/status) or
    /// `dpkg-query -W -f='${Package}\t${Version}\t${Provides}\n'`, both exact; plain
    /// `dpkg-query -W` (name and version) takes each package's Provides from the
    /// repository's entry at that version. A requested package it has older than the
    /// candidate is upgraded, as apt-get install would (`upgrades NAME FROM -> TO`).
    #[arg(long, value_name = "FILE")]
    base: Option<PathBuf>,
    /// The bundle to write (NAME.tar.gz).
    #[arg(short, long, value_name = "FILE")]
    out: PathBuf,
    /// Bundle name [default: from --out]: 1-128 letters, digits, '.', '_', '+' and '-', not
    /// starting with '.' or '-' (it names files and a log tag on the node).
    #[arg(long)]
    name: Option<String>,
    /// Modification time of every entry [default: $SOURCE_DATE_EPOCH, else 0].
    #[arg(long, value_name = "SECONDS", env = "SOURCE_DATE_EPOCH")]
    source_date_epoch: Option<u64>,
    /// Download cache of .debs and package indexes, shared with `build` [default:
    /// $SEEDFORGE_CACHE_DIR, else $XDG_CACHE_HOME/seedforge, else ~/.cache/seedforge]. An
    /// entry is used only when it hashes to what the signed index records. Kept under
    /// $SEEDFORGE_CACHE_MAX (default 10G), least recently used first; `seedforge gc
    /// --cache` empties it.
    #[arg(long, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    /// Neither read nor write the download cache: download every index and .deb (also
    /// SEEDFORGE_NO_CACHE=1).
    #[arg(long)]
    no_cache: bool,
    /// Write the bundle even when the one at --out is what this run would write (by
    /// default it is kept as it is, as recorded in .NAME.tar.gz.seedforge.json beside it).
    #[arg(long)]
    force: bool,
}

/// One `--repo`: a bare URL takes --suite and --component; "URL SUITE [COMPONENT...]"
/// carries its own (components default to main).
fn repo_spec(repo: &str, a: &DebsArgs) -> Result<RepoSpec, CliError> {
    let words: Vec<&str> = repo.split_whitespace().collect();
    let (url, suite, components) = match words.as_slice() {
        [url] => {
            let suite = a.suite.clone().ok_or_else(|| {
                CliError::Usage(format!(
                    "--repo {url}: give its suite, with --suite or as \"{url} SUITE [COMPONENT...]\""
                ))
            })?;
            (url.to_string(), suite, a.components.clone())
        }
        [url, suite, components @ ..] => {
            let components: Vec<String> = if components.is_empty() {
                vec!["main".to_string()]
            } else {
                components.iter().map(|c| c.to_string()).collect()
            };
            (url.to_string(), suite.to_string(), components)
        }
        [] => return Err(CliError::Usage("--repo: empty".into())),
    };
    Ok(RepoSpec {
        url,
        suite,
        components,
        keyring: a.keyring.clone(),
    })
}

pub(super) fn debs_cmd(g: &Global, a: &DebsArgs) -> Result<ExitCode, CliError> {
    let mut sources = Vec::new();
    if !a.debs.is_empty() {
        sources.push(PackageSource::Debs(a.debs.clone()));
    }
    for repo in &a.repos {
        sources.push(PackageSource::Repo(repo_spec(repo, a)?));
    }
    let name = match &a.name {
        Some(n) => n.clone(),
        None => {
            let file = a.out.file_name().map(|f| f.to_string_lossy().into_owned());
            let stem = file.as_deref().and_then(|f| f.strip_suffix(".tar.gz"));
            stem.map(str::to_string).ok_or_else(|| {
                CliError::Usage(format!(
                    "{}: the bundle must be named NAME.tar.gz (or pass --name)",
                    a.out.display()
                ))
            })?
        }
    };
    seedforge::debs::bundle::check_name(&name).map_err(|m| {
        CliError::Usage(match &a.name {
            Some(_) => format!("--name: {m}"),
            None => format!("--out {}: {m} (pass --name)", a.out.display()),
        })
    })?;
    let spec = BundleSpec {
        name,
        sources,
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
    let repo_dirs: Vec<PathBuf> = (spec.sources.iter())
        .filter_map(|s| match s {
            PackageSource::Repo(r) => r.url.strip_prefix("file://").map(PathBuf::from),
            PackageSource::Debs(_) => None,
        })
        .collect();
    inputs.extend(
        repo_dirs
            .iter()
            .map(|d| (d.as_path(), "--repo".to_string())),
    );
    inputs.extend(a.base.as_deref().map(|b| (b, "--base".to_string())));
    inputs.extend(a.keyring.as_deref().map(|k| (k, "--keyring".to_string())));
    seedforge::outpath::refuse_inputs(&a.out, inputs)?;
    let net = std::sync::Arc::new(Net::new(net::settings(&a.ca_files)?));
    let cache = open_cache(a.no_cache, a.cache_dir.as_deref())?;
    let mtime = a.source_date_epoch.unwrap_or(0);
    let prepared = prepare_for(&spec, net, cache, (&a.out, mtime, a.force), &g.staging)?;
    let reporter = progress::CliReporter::new(g, prepared.closure.packages.len());
    if prepared.unverified() {
        reporter.warning(&unverified_note(&prepared));
    }
    let (report, unchanged) = prepared.write_unless_unchanged(&a.out, mtime, a.force, &reporter)?;
    reporter.finish();
    if g.json {
        print_json(
            g,
            Kind::Debs,
            &serde_json::json!({
                "bundle": report,
                "unchanged": unchanged,
                "verification": prepared.universe.verification,
                "closure": prepared.closure,
            }),
        );
    } else if !g.quiet {
        print_closure(&prepared);
        outln!(
            "{}  {} package(s), {}, sha256:{}{}",
            report.path.display(),
            report.debs,
            seedforge::util::human_bytes(report.file_bytes),
            report.sha256,
            if unchanged {
                "  (unchanged, kept; --force writes it again)"
            } else {
                ""
            }
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
    for u in &p.closure.upgrades {
        outln!("upgrades {u}");
    }
    for r in &p.closure.already_in_base {
        outln!("{r}: already in the base, not bundled");
    }
}
