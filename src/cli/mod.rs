//! The command line. This is the only code that knows about clap, terminals, progress bars
//! and stdout; each subcommand is one thin function over the library.
#![allow(clippy::print_stdout, clippy::print_stderr)]

/// `println!` to stdout, except that a reader gone away (`seedforge plan | head`) ends
/// the command quietly and a stdout that cannot be written ends it with a message on
/// stderr, instead of with a panic ([`stdio`]).
macro_rules! outln {
    () => { $crate::cli::stdio::write_stdout(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::cli::stdio::write_stdout(format_args!("{}\n", format_args!($($arg)*))) };
}

/// `print!` to stdout, as [`outln!`] without the newline.
macro_rules! out {
    ($($arg:tt)*) => { $crate::cli::stdio::write_stdout(format_args!($($arg)*)) };
}

/// `eprintln!` without its panic: a stderr that cannot be written is recorded and told at
/// the end ([`stdio::finish`]).
macro_rules! errln {
    ($($arg:tt)*) => { $crate::cli::stdio::write_stderr(format_args!("{}\n", format_args!($($arg)*))) };
}

mod clean;
mod debs;
mod delta;
mod exit;
mod init;
mod iso;
mod json_report;
mod mirror;
mod modes;
mod net;
mod paths;
mod pki;
mod progress;
mod push;
mod render;
pub mod stdio;
mod unsealed;

use clap::{Args, Parser, Subcommand};
use seedforge::Error;
use seedforge::config::Config;
use seedforge::image::ImageList;
use seedforge::oci::archive::{ArchiveFormat, ArchiveOptions, Compression, write_archive};
use seedforge::oci::stamps::BlobStamps;
use seedforge::oci::verify::{VerifyReport, gc};
use seedforge::oci::{Layout, Platform};
use seedforge::pipeline::build_lock::BuildLock;
use seedforge::pipeline::plan;
use seedforge::pipeline::run::{self, MirroredImageReport};
use seedforge::redact::Secrets;
use serde::Serialize;

pub(crate) use exit::{CliError, ExitCode};
use std::path::{Path, PathBuf};

const AFTER_HELP: &str = "\
Exit codes: 0 ok, 1 failure (a full stdout or stderr too), 2 invalid input or usage
(nothing written), 3 missing tool, 141 stdout closed by its reader.

Examples:
  seedforge build --config fixtures/lab/seedforge.yaml
  seedforge build --offline --config fixtures/lab/seedforge.yaml   (air gap: from seedforge.lock and OUT)
  seedforge mirror --images images.txt --layout out/oci --platform linux/amd64 --platform linux/arm64
  seedforge verify out
  seedforge clean out --dry-run";

/// Turns one config file into everything an air-gapped k3s cluster needs on first boot.
#[derive(Debug, Parser)]
#[command(name = "seedforge", version = seedforge::VERSION, about, after_help = AFTER_HELP)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Args)]
pub(crate) struct Global {
    /// More log output (-v: debug, -vv: trace).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub(crate) verbose: u8,
    /// Only errors on stderr; no progress.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub(crate) quiet: bool,
    /// Print the result as one JSON document on stdout (no progress bars).
    #[arg(long, global = true)]
    pub(crate) json: bool,
    /// Colour in log lines on stderr: auto (when stderr is a terminal and NO_COLOR is not
    /// set), always or never.
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = clap::ColorChoice::Auto, global = true)]
    pub(crate) color: clap::ColorChoice,
    /// This run's secrets: the config's and every password read, registered as they are
    /// read; every error, warning and log line this process prints is scrubbed with them.
    #[arg(skip)]
    pub(crate) secrets: Secrets,
    /// This run's staging paths, removed if a SIGINT or SIGTERM ends it.
    #[arg(skip)]
    pub(crate) staging: seedforge::leftovers::Staging,
}

/// Whether log lines on stderr are coloured.
fn colour(choice: clap::ColorChoice) -> bool {
    match choice {
        clap::ColorChoice::Always => true,
        clap::ColorChoice::Never => false,
        clap::ColorChoice::Auto => {
            std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                && std::io::IsTerminal::is_terminal(&std::io::stderr())
        }
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run every step the config describes and write the output tree.
    ///
    /// Reads seedforge.yaml and checks the config, every image list, image source and local
    /// payload file; then mirrors the images into OUT/oci, verifies the layout and writes
    /// the airgap archives, package bundles, registry PKI, the files: payload (OUT/files),
    /// the node files and the seed ISOs. Last, OUT/SHA256SUMS and OUT/manifest.json seal
    /// the output, and the seed ISOs are copied into export_dir when the config names one.
    /// Nothing is written if any input is invalid. A step whose inputs and outputs are
    /// unchanged since the last build is skipped (--force runs every step), so a rebuild
    /// with nothing changed writes nothing. One build at a time per output folder: a second
    /// one waits (or fails with --no-wait) while OUT/.seedforge-build.lock is held.
    Build(BuildArgs),
    /// Print what `build` would do, checking every input; writes nothing.
    ///
    /// With --upgrade-from RECEIPT, also the upgrade of a far side that sent that receipt:
    /// after `seedforge build`, `seedforge plan --upgrade-from receipt.json` prints what a
    /// delta would carry and the order in which the nodes take the new output.
    Plan(PlanArgs),
    /// Copy images listed in image list files into an OCI image layout.
    ///
    /// A list line is `SOURCE [DESTINATION]`; `#` starts a comment. Sources use skopeo's
    /// transports: docker://REF (the default), oci:DIR[:ref], oci-archive:FILE[:ref],
    /// docker-archive:FILE[:ref].
    /// Relative paths resolve against the list file's directory. Each image is named in
    /// index.json by its full destination reference.
    Mirror(mirror::MirrorArgs),
    /// Push every image of an OCI layout into a registry, digests unchanged.
    ///
    /// Each image goes under its destination name with the registry replaced by
    /// --registry (docker.io/rancher/pause:3.6 becomes HOST:PORT/rancher/pause:3.6).
    /// Blobs the registry already has are skipped or mounted from another repository;
    /// manifests and indexes are pushed byte for byte.
    Push(push::PushArgs),
    /// Write an image archive (a k3s airgap tarball) from an OCI layout.
    ///
    /// The archive holds every image of the layout, or those named as destinations in
    /// --images lists, with only the selected platforms and every blob they reference.
    /// Compression follows the file name (.tar, .tar.gz, .tar.zst) unless --compression
    /// says otherwise. The same inputs give the same bytes, whatever --threads is.
    Airgap(AirgapArgs),
    /// Bundle .debs and their whole dependency closure for offline install with apt.
    ///
    /// Candidates come from .deb files (--deb) or an apt repository (--repo, --suite,
    /// --component, --arch); packages are named with --package and --set. What --base
    /// lists (the node image's dpkg status file or `dpkg-query -W`) is left out. The
    /// bundle holds pool/*.deb, Packages, Packages.gz, Release, install.sh and SHA256SUMS.
    Debs(debs::DebsArgs),
    /// Write a NoCloud seed ISO (ISO 9660 + Joliet + Rock Ridge) from a directory.
    ///
    /// The same tree gives the same bytes: dates come from --source-date-epoch, owners are
    /// 0:0 and modes 0644/0755 (the executable bit kept).
    Iso(iso::IsoArgs),
    /// Re-hash every blob reachable from index.json; exit 0 only if all are sound.
    ///
    /// DIR is a build output directory (its oci/ and iso/*.iso are checked), an OCI layout
    /// itself, or one .iso image. Unreferenced blobs are reported as strays but do not
    /// fail verification. In a build output, every file SHA256SUMS lists is re-hashed
    /// (each missing or changed one is named) and the registry certificate in pki/ is
    /// checked against the registry host and SANs manifest.json records. In an export
    /// folder with ISOs in parts (export_split), every file its SHA256SUMS lists is
    /// re-hashed and each ISO of SHA256SUMS.wholes is hashed over its parts in order.
    Verify(VerifyArgs),
    /// Remove what a build wrote into DIR, as its manifest.json lists it; nothing else.
    ///
    /// Removes the artifacts manifest.json lists, manifest.json and SHA256SUMS, the build
    /// state (.seedforge, what incremental builds compare against), leftovers of interrupted
    /// runs (oci/.seedforge, iso/.stage-*, hidden *.tmp files seedforge
    /// named), then the directories that became empty. Other files (an installer ISO, your
    /// notes) stay. Without a manifest.json it refuses (exit 2) and removes nothing.
    Clean(clean::CleanArgs),
    /// Remove blobs that nothing in index.json references, and leftovers of killed runs.
    ///
    /// With --cache, also empty the download cache of .debs and package indexes
    /// ($SEEDFORGE_CACHE_DIR, else $XDG_CACHE_HOME/seedforge, else ~/.cache/seedforge).
    Gc(GcArgs),
    /// Start a new folder: a commented seedforge.yaml, images.txt with k3s's images and a
    /// join token; nothing that exists is written over, and nothing through a symbolic
    /// link (a `templates` link to another folder is refused).
    Init(init::InitArgs),
    /// Print a shell completion script for bash, zsh, fish, elvish or powershell.
    ///
    /// bash: `seedforge completions bash > /etc/bash_completion.d/seedforge`;
    /// zsh: `seedforge completions zsh > "${fpath[1]}/_seedforge"`;
    /// fish: `seedforge completions fish > ~/.config/fish/completions/seedforge.fish`.
    Completions(CompletionsArgs),
    /// Write the manual pages (seedforge.1 and one per command) into DIR.
    ///
    /// Read one with `man -l DIR/seedforge-build.1`, or install them under
    /// /usr/local/share/man/man1.
    Man(ManArgs),
    /// Render each node's NoCloud files (user-data, meta-data, network-config).
    ///
    /// Templates are embedded (cloud-init mode) or read from the config's `templates`
    /// folder. Everything is validated before anything is written: YAML that parses as
    /// meant, the `#cloud-config` header, cloud-init's own schema of a cloud-config
    /// (cloud-init 22.4's, embedded; a key it does not know is refused too), `bash -n` on
    /// every script carried, every systemd unit enabled exactly once. user-data holds the
    /// join token and is written 0600.
    Render(render::RenderArgs),
    /// Issue the registry CA and certificate and write the registry configs.
    ///
    /// Writes OUT/pki/{ca.crt,ca.key,registry.crt,registry.key}, OUT/registries.yaml (k3s),
    /// OUT/registry/config.yml (distribution registry) and OUT/certs.d/*/hosts.toml
    /// (containerd). An existing CA in OUT/pki is kept; the registry certificate is
    /// reissued only when it no longer matches.
    Pki(pki::PkiArgs),
    /// Write a receipt of a sealed output: its blobs, sealed files and seal by digest,
    /// after checking them against its SHA256SUMS; no file's content, no secret.
    Receipt(delta::ReceiptArgs),
    /// Write a delta folder: what a build output holds that a receipt's output lacks
    /// (new blobs, changed bundles, charts, files, pki, config inputs, the new seal).
    Delta(delta::DeltaArgs),
    /// Apply a delta to the output it was made against: checked, rebuilt offline in a
    /// staging copy, compared with the delta's seal, then made current in one rename.
    Apply(delta::ApplyArgs),
}

#[derive(Debug, Args)]
struct ConfigArg {
    /// The config file.
    #[arg(short, long, default_value = "seedforge.yaml", value_name = "FILE")]
    config: PathBuf,
}

#[derive(Debug, Args)]
struct BuildArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// Output directory (default: the config's `output`, relative to the config).
    #[arg(short, long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Fail if a registry tag resolves to another digest than seedforge.lock pins.
    #[arg(long)]
    locked: bool,
    /// Never touch the network. Registry images must be pinned in seedforge.lock and
    /// already in OUT/oci, bundles from http(s) repositories already in OUT/packages: build
    /// once online, carry the config folder and OUT across, then build with --offline.
    /// Whatever is missing is named, and nothing is written (exit 2).
    #[arg(long)]
    offline: bool,
    /// Fail at once (exit 1) if another build is writing to the output folder, instead of
    /// waiting for it to finish.
    #[arg(long)]
    no_wait: bool,
    /// Run every step and hash every file again, ignoring what the last build recorded in
    /// OUT/.seedforge/state.json (by default a step whose inputs and outputs are unchanged
    /// is skipped).
    #[arg(long)]
    force: bool,
    /// A PEM file of CA certificates to trust for every download (registries, package
    /// repositories, `files:` URLs), besides the system's and `SSL_CERT_FILE`; repeatable.
    /// A registry's own CA goes in its `registries:` entry (`ca_file`).
    #[arg(long = "ca-file", value_name = "FILE")]
    ca_files: Vec<PathBuf>,
    /// Export each ISO larger than SIZE into export_dir as numbered parts
    /// (NAME.part001, ...), with SHA256SUMS, SHA256SUMS.wholes and join.sh; overrides the
    /// config's export_split. SIZE: fat32 (4 GiB - 1 byte), dvd (4,700,000,000 bytes),
    /// bytes, or a number with K M G T (powers of 1000: 4G fits FAT32) or KiB MiB GiB TiB.
    #[arg(long, value_name = "SIZE", value_parser = parse_part_size)]
    export_split: Option<u64>,
    /// Sign the output with this private key (cosign's encrypted cosign.key, its password
    /// from COSIGN_PASSWORD; or a PKCS#8 PEM, ECDSA P-256 or Ed25519), in place of the
    /// config's `seal.key`: the seal writes manifest.json.sigstore.json (a Sigstore bundle
    /// over manifest.json, which names every file's SHA-256) and the provenance's signed
    /// form. Check it with `seedforge verify --key cosign.pub OUT`, or cosign verify-blob.
    #[arg(long, value_name = "FILE")]
    signing_key: Option<PathBuf>,
}

fn parse_part_size(text: &str) -> Result<u64, String> {
    seedforge::config::size::parse_part_size(text)
}

#[derive(Debug, Args)]
struct PlanArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// Output directory to plan for.
    #[arg(short, long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Plan as `build --offline` would: check that seedforge.lock and the output folder
    /// hold everything, without touching the network.
    #[arg(long)]
    offline: bool,
    /// A PEM file of CA certificates to trust for every download (registries, package
    /// repositories, `files:` URLs), besides the system's and `SSL_CERT_FILE`; repeatable.
    /// A registry's own CA goes in its `registries:` entry (`ca_file`).
    #[arg(long = "ca-file", value_name = "FILE")]
    ca_files: Vec<PathBuf>,
    /// Plan the upgrade of a running far side from its receipt (`seedforge receipt OUT -o
    /// FILE`, carried back across the gap): what `seedforge delta` of this config's output
    /// would carry (new blobs, sealed files, config inputs, against the whole output), and
    /// the order for the nodes: apply the delta, then every node imports the new images
    /// (`seedforge-bootstrap --images-only`) before any k3s changes, then the servers one
    /// at a time, then the agents, each until its status file says it runs the new
    /// payload and k3s version. Reads the output as the last build left it: build first.
    /// A receipt of a newer k3s than the config's is a downgrade, which the nodes refuse
    /// unless `cluster.allow_downgrade: true`.
    #[arg(long, value_name = "RECEIPT")]
    upgrade_from: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct AirgapArgs {
    /// The OCI layout to read.
    #[arg(long, value_name = "DIR")]
    layout: PathBuf,
    /// The archive to write, e.g. k3s-airgap-images-amd64.tar.zst.
    #[arg(short, long, value_name = "FILE")]
    out: PathBuf,
    /// Only the images these lists name (their destinations); default: every image. `-`
    /// reads a list from standard input.
    #[arg(long = "images", value_name = "LIST", num_args = 1..)]
    images: Vec<PathBuf>,
    /// Archive format.
    #[arg(long, value_enum, default_value_t = FormatArg::Oci)]
    format: FormatArg,
    /// Compression [default: from the --out file name].
    #[arg(long, value_enum)]
    compression: Option<CompressionArg>,
    /// Compression level (zstd 1-19, gzip 1-9) [default: zstd 3, gzip 6].
    #[arg(long, value_parser = clap::value_parser!(i32).range(1..=19))]
    level: Option<i32>,
    /// zstd compression threads; the output is the same for any value.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=64))]
    threads: u32,
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
    /// Modification time of every entry [default: $SOURCE_DATE_EPOCH, else 0].
    #[arg(long, value_name = "SECONDS", env = "SOURCE_DATE_EPOCH")]
    source_date_epoch: Option<u64>,
    /// Also compute and print the archive's sha256. Without it, a plain .tar's layers are
    /// copied by the kernel without passing through seedforge.
    #[arg(long)]
    sha256: bool,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum FormatArg {
    /// A tar of an OCI image layout.
    Oci,
    /// The `docker save` format.
    Docker,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum CompressionArg {
    /// Plain tar.
    None,
    /// gzip.
    Gzip,
    /// zstd (within k3s's decoder limits).
    Zstd,
}

#[derive(Debug, Args)]
struct GcArgs {
    /// The OCI layout or build output to collect (optional with --cache).
    #[arg(value_name = "DIR", required_unless_present = "cache")]
    dir: Option<PathBuf>,
    /// Empty the download cache that `debs` and `build` share.
    #[arg(long)]
    cache: bool,
}

#[derive(Debug, Args)]
struct DirArg {
    /// The directory.
    #[arg(value_name = "DIR")]
    dir: PathBuf,
}

#[derive(Debug, Args)]
struct VerifyArgs {
    /// The build output, OCI layout, export folder or .iso image.
    #[arg(value_name = "DIR")]
    dir: PathBuf,
    /// A public key (PEM: cosign.pub) the output's signature must verify with (repeat for
    /// several): manifest.json.sigstore.json over manifest.json, SHA256SUMS matching the
    /// signed manifest file for file, the provenance's signature; on an export folder or a
    /// lone ISO, the manifest.json and bundle beside it and each ISO's SHA-256 in it.
    #[arg(long, value_name = "FILE")]
    key: Vec<PathBuf>,
}

/// Parses arguments, runs, and returns the process exit code.
pub fn main() -> i32 {
    let clap_exit = |e: clap::Error| {
        let code = if e.use_stderr() {
            ExitCode::InvalidInput
        } else {
            ExitCode::Ok
        };
        stdio::print_clap(&e, code as i32)
    };
    // Parsed in two steps (as `Cli::try_parse` does) to see every path argument as clap
    // stored it, whatever subcommand it belongs to.
    let command = <Cli as clap::CommandFactory>::command();
    let matches = match command.clone().try_get_matches() {
        Ok(m) => m,
        Err(e) => return clap_exit(e),
    };
    let cli = match <Cli as clap::FromArgMatches>::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => return clap_exit(e.format(&mut command.clone())),
    };
    if let Err(message) = paths::check(&command, &matches) {
        let report = format!("error: {message}\n");
        stdio::write_error_report(&cli.global.secrets.scrub(&report));
        if cli.global.json {
            let e = CliError::Usage(message);
            print_json(&error_json(&cli.global.secrets, &e));
        }
        return stdio::finish(ExitCode::InvalidInput as i32);
    }
    init_logging(&cli.global);
    // A SIGINT or SIGTERM at any point says what happened and what to do next.
    let json = cli.global.json;
    cli.global.staging.watch(move |code| stopped(code, json));
    // Modes are part of the output (manifest.json records them), so they come from
    // seedforge, not from whoever's umask: public files 0644 and folders 0755; files and
    // folders holding secrets are created with their own modes (0600, 0700) explicitly.
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o022));
    let result = run(&cli);
    if !cli.global.quiet {
        modes::warnings(&cli.global);
    }
    let code = match result {
        Ok(code) => code as i32,
        Err(e) => {
            // Every message passes the one redaction point on its way out.
            let secrets = &cli.global.secrets;
            let scrub = |t: String| secrets.scrub(&t).into_owned();
            let mut report = format!("error: {}\n", scrub(e.to_string()));
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                if !e.to_string().contains(&s.to_string()) {
                    report.push_str(&format!("  caused by: {}\n", scrub(s.to_string())));
                }
                source = s.source();
            }
            stdio::write_error_report(&report);
            if cli.global.json && !JSON_PRINTED.load(std::sync::atomic::Ordering::Relaxed) {
                print_json(&error_json(secrets, &e));
            }
            e.exit_code() as i32
        }
    };
    // A SIGINT or SIGTERM being handled ends the process itself (130, 143) once its
    // staging paths are gone: the command does not end it first with its own status (a
    // write into a staging folder that was just taken away fails the command).
    cli.global.staging.unless_stopping(|| ());
    stdio::finish(code)
}

/// The JSON document a failed command prints on stdout with `--json` (docs/outputs.md,
/// "JSON output"): the exit code, what failed, where (file, line, column, when the error
/// has a place) and the message and its causes, scrubbed as on stderr.
fn error_json(secrets: &Secrets, e: &CliError) -> serde_json::Value {
    let scrub = |t: String| secrets.scrub(&t).into_owned();
    let (kind, place) = match e {
        CliError::Lib(e) => (e.kind(), e.place()),
        CliError::Usage(_) => ("usage", None),
    };
    let message = e.to_string();
    let mut causes = Vec::new();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if !message.contains(&s.to_string()) {
            causes.push(scrub(s.to_string()));
        }
        source = s.source();
    }
    let mut doc = serde_json::json!({
        "code": e.exit_code() as i32,
        "kind": kind,
    });
    if let Some(place) = place {
        doc["file"] = scrub(place.file.display().to_string()).into();
        if let Some(line) = place.line {
            doc["line"] = line.into();
        }
        if let Some(column) = place.column {
            doc["column"] = column.into();
        }
    }
    doc["message"] = scrub(message).into();
    if !causes.is_empty() {
        doc["causes"] = causes.into();
    }
    serde_json::json!({ "error": doc })
}

/// What a SIGINT or SIGTERM ends the run with (status 130 or 143), once the staging paths
/// are removed: one line on stderr, and the JSON error document with `--json`.
fn stopped(code: i32, json: bool) {
    let what = if code == 128 + 2 {
        "interrupted"
    } else {
        "terminated"
    };
    let message = format!(
        "{what}: nothing half-written is left under an output's name; run the same command again to finish"
    );
    // On a terminal the line replaces a progress bar's.
    let clear = if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        "\r\u{1b}[2K"
    } else {
        ""
    };
    errln!("{clear}{message}");
    if json && !JSON_PRINTED.load(std::sync::atomic::Ordering::Relaxed) {
        print_json(&serde_json::json!({
            "error": { "code": code, "kind": what, "message": message }
        }));
    }
}

fn init_logging(global: &Global) {
    let secrets = global.secrets.clone();
    let level = match (global.quiet, global.verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "debug",
        (false, _) => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("SEEDFORGE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("seedforge={level}")));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(move || {
            seedforge::redact::ScrubbingWriter::new(secrets.clone(), stdio::Stderr)
        })
        // Its own report of a failed write would be an `eprintln!`, which panics then.
        .log_internal_errors(false)
        .with_ansi(colour(global.color))
        .with_target(false)
        .without_time()
        .try_init();
}

fn run(cli: &Cli) -> Result<ExitCode, CliError> {
    let g = &cli.global;
    match &cli.command {
        Command::Build(a) => build(g, a),
        Command::Plan(a) => plan_cmd(g, a),
        Command::Mirror(a) => mirror::run(g, a),
        Command::Push(a) => push::run(g, a),
        Command::Airgap(a) => airgap_cmd(g, a),
        Command::Debs(a) => debs::debs_cmd(g, a),
        Command::Iso(a) => iso::iso_cmd(g, a),
        Command::Verify(a) => verify_cmd(g, &a.dir, &read_keys(&a.key)?),
        Command::Clean(a) => clean::clean_cmd(g, a),
        Command::Gc(a) => gc_cmd(g, a),
        Command::Render(a) => render::run(g, a),
        Command::Pki(a) => pki::pki_cmd(g, a),
        Command::Receipt(a) => delta::receipt_cmd(g, a),
        Command::Delta(a) => delta::delta_cmd(g, a),
        Command::Apply(a) => delta::apply_cmd(g, a),
        Command::Init(a) => init::init_cmd(g, a),
        Command::Completions(a) => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            let mut out = Vec::new();
            clap_complete::generate(a.shell, &mut cmd, "seedforge", &mut out);
            out!("{}", String::from_utf8_lossy(&out));
            Ok(ExitCode::Ok)
        }
        Command::Man(a) => man_pages(a),
    }
}

/// A file the command line writes itself (man pages, `init`) could not be written.
pub(crate) fn write_error(path: &Path, e: std::io::Error) -> Error {
    Error::OutPath(seedforge::outpath::OutPathError::Io {
        path: path.to_path_buf(),
        source: e,
    })
}

/// Arguments of `seedforge completions`.
#[derive(Debug, Args)]
struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    shell: clap_complete::Shell,
}

/// Arguments of `seedforge man`.
#[derive(Debug, Args)]
struct ManArgs {
    /// The folder to write the pages into (made if missing).
    dir: PathBuf,
}

/// `seedforge man DIR`: seedforge.1 and seedforge-COMMAND.1 for each command.
fn man_pages(a: &ManArgs) -> Result<ExitCode, CliError> {
    let io = write_error;
    seedforge::outpath::refuse_non_folder(&a.dir)?;
    std::fs::create_dir_all(&a.dir).map_err(|e| io(&a.dir, e))?;
    let cmd = <Cli as clap::CommandFactory>::command();
    let mut pages = vec![("seedforge.1".to_string(), cmd.clone())];
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        let name = format!("seedforge-{}", sub.get_name());
        pages.push((
            format!("{name}.1"),
            sub.clone().name(name).version(seedforge::VERSION),
        ));
    }
    for (file, page) in pages {
        let path = a.dir.join(&file);
        let mut text = Vec::new();
        clap_mangen::Man::new(page)
            .render(&mut text)
            .map_err(|e| io(&path, e))?;
        seedforge::util::atomic_write_mode(&path, &text, 0o644).map_err(|e| io(&path, e))?;
        outln!("wrote {}", path.display());
    }
    Ok(ExitCode::Ok)
}

/// Whether this command has printed its JSON document: a command that fails after
/// printing its report (`verify` finding problems) prints no error document after it.
static JSON_PRINTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

pub(crate) fn print_json(value: &impl Serialize) {
    JSON_PRINTED.store(true, std::sync::atomic::Ordering::Relaxed);
    match serde_json::to_string_pretty(value) {
        Ok(s) => outln!("{s}"),
        Err(e) => errln!("error: cannot serialise output: {e}"),
    }
}

fn build(g: &Global, a: &BuildArgs) -> Result<ExitCode, CliError> {
    let net = net::settings(&a.ca_files)?;
    let mut config = Config::load(&a.config.config)?;
    config.register_secrets(&g.secrets);
    if let Some(split) = a.export_split {
        if config.export_dir.is_none() {
            return Err(CliError::Usage(format!(
                "--export-split: {} names no export_dir to export into",
                a.config.config.display()
            )));
        }
        config.export_split = Some(split);
    }
    let options = plan::PlanOptions {
        locked: a.locked,
        offline: a.offline,
        force: a.force,
        // Shared with `seedforge debs`: SEEDFORGE_CACHE_DIR, SEEDFORGE_NO_CACHE.
        deb_cache: debs::open_cache(false, None)?,
        secrets: g.secrets.clone(),
        staging: g.staging.clone(),
        signing_key: a.signing_key.clone(),
        trusted_key: None,
        carried_bundles: Default::default(),
        carried_files: Default::default(),
    };
    let mut plan = plan::plan_with_net(&config, a.out.clone(), options.clone(), &net)?;
    print_plan_warnings(g, &plan.warnings);
    // One build per output folder: taken before the first write, held until the end.
    let _lock = {
        let lock = lock_output(g, &plan.output, !a.no_wait)?;
        if lock.waited() {
            // The other build may have changed the folder the plan was made against.
            plan = plan::plan_with_net(&config, a.out.clone(), options, &net)?;
        }
        lock
    };
    let reporter = progress::CliReporter::new(g, plan.inputs.images.entries.len());
    let report = run::run(&plan, &reporter)?;
    reporter.finish();
    if g.json {
        print_json(&report);
    } else if !g.quiet {
        let tag = |name: &str, out: &Path| {
            if report.kept(name, Some(out)) {
                "  (unchanged)"
            } else {
                ""
            }
        };
        print_images(&report.images);
        if !report.kept("verify", None) {
            print_verify(&report.verify);
        }
        for a in &report.airgap {
            let sha256 = (a.sha256.as_deref())
                .map(|d| format!(", sha256:{d}"))
                .unwrap_or_default();
            outln!(
                "{}  {} image(s), {}{sha256}{}",
                a.path.display(),
                a.images.len(),
                seedforge::util::human_bytes(a.file_bytes),
                tag("airgap", &a.path)
            );
        }
        for p in &report.packages {
            outln!(
                "{}  {} package(s), {}, sha256:{}{}",
                p.path.display(),
                p.debs,
                seedforge::util::human_bytes(p.file_bytes),
                p.sha256,
                tag("packages", &p.path)
            );
        }
        if let Some(p) = &report.pki {
            pki::print_summary(p);
        }
        clean::print_build(&report);
        for line in steps_lines(&report.steps, report.seconds) {
            outln!("{line}");
        }
        outln!("built {}", report.output.display());
    }
    Ok(ExitCode::Ok)
}

/// One line for the steps that ran, with the run's wall time `seconds` (the steps' own
/// times overlap: seed ISOs are written at the same time), and one for those skipped as
/// unchanged.
fn steps_lines(steps: &[run::StepRun], seconds: f64) -> Vec<String> {
    let list = |status: &str| -> Vec<String> {
        steps
            .iter()
            .filter(|s| s.status == status)
            .map(|s| match s.key.split_once(' ') {
                Some((_, what)) if s.step == "iso" => format!("iso {what}"),
                _ => s.step.to_string(),
            })
            .collect()
    };
    let (ran, skipped) = (list("ran"), list("skipped"));
    let mut lines = vec![format!(
        "ran {} step(s) in {seconds:.2} s: {}",
        ran.len(),
        ran.join(", ")
    )];
    if !skipped.is_empty() {
        lines.push(format!(
            "skipped {} unchanged step(s): {} (build --force runs every step)",
            skipped.len(),
            skipped.join(", ")
        ));
    }
    lines
}

/// What planning found worth saying before a build runs, on stderr (also with `--quiet`
/// and `--json`: a check that could not be exact is not news to hide).
fn print_plan_warnings(g: &Global, warnings: &[String]) {
    for w in warnings {
        errln!("warning: {}", g.secrets.scrub(w));
    }
}

fn plan_cmd(g: &Global, a: &PlanArgs) -> Result<ExitCode, CliError> {
    let net = net::settings(&a.ca_files)?;
    if let Some(receipt) = &a.upgrade_from {
        // A bad receipt is refused before anything is planned.
        seedforge::delta::receipt::Receipt::load(receipt)?;
    }
    let config = Config::load(&a.config.config)?;
    config.register_secrets(&g.secrets);
    let options = plan::PlanOptions {
        locked: false,
        offline: a.offline,
        force: false,
        deb_cache: debs::open_cache(false, None)?,
        secrets: g.secrets.clone(),
        staging: g.staging.clone(),
        signing_key: None,
        trusted_key: None,
        carried_bundles: Default::default(),
        carried_files: Default::default(),
    };
    let plan = plan::plan_with_net(&config, a.out.clone(), options, &net)?;
    print_plan_warnings(g, &plan.warnings);
    let upgrade = match &a.upgrade_from {
        Some(receipt) => Some(delta::plan_upgrade(
            &config,
            &plan,
            receipt,
            &a.config.config,
        )?),
        None => None,
    };
    if g.json {
        #[derive(Serialize)]
        struct PlanJson<'a> {
            output: &'a Path,
            steps: &'a [seedforge::pipeline::steps::Step],
            images: Vec<[String; 2]>,
            warnings: &'a [String],
            #[serde(skip_serializing_if = "Option::is_none")]
            upgrade: Option<&'a seedforge::delta::upgrade::UpgradePlan>,
        }
        print_json(&PlanJson {
            output: &plan.output,
            steps: &plan.steps,
            warnings: &plan.warnings,
            upgrade: upgrade.as_ref(),
            images: plan
                .inputs
                .images
                .entries
                .iter()
                .map(|e| [e.source.to_string(), e.destination.to_string()])
                .collect(),
        });
    } else {
        outln!("output: {}", plan.output.display());
        for (i, step) in plan.steps.iter().enumerate() {
            outln!("{}. {}", i + 1, step.describe());
        }
        if !plan.inputs.images.entries.is_empty() {
            outln!(
                "images ({}, destination <- source):",
                plan.inputs.images.entries.len()
            );
        }
        for e in &plan.inputs.images.entries {
            outln!("   {}  <-  {}", e.destination, e.source);
        }
        if let Some(u) = &upgrade {
            delta::print_upgrade(u);
        }
    }
    Ok(ExitCode::Ok)
}

fn airgap_cmd(g: &Global, a: &AirgapArgs) -> Result<ExitCode, CliError> {
    let from_name = Compression::from_path(&a.out);
    let compression = match (a.compression, from_name) {
        (Some(flag), _) => match flag {
            CompressionArg::None => Compression::None,
            CompressionArg::Gzip => Compression::Gzip,
            CompressionArg::Zstd => Compression::Zstd,
        },
        (None, Some(c)) => c,
        (None, None) => {
            return Err(CliError::Usage(format!(
                "{}: cannot tell the compression from the file name; name it .tar, .tar.gz or .tar.zst, or pass --compression",
                a.out.display()
            )));
        }
    };
    let level = a.level.unwrap_or(compression.default_level());
    compression.check_level(level).map_err(CliError::Usage)?;
    let images = if a.images.is_empty() {
        None
    } else {
        let merged = ImageList::load_all(&a.images)?;
        Some(
            merged
                .entries
                .iter()
                .map(|e| e.destination.to_string())
                .collect(),
        )
    };
    let options = ArchiveOptions {
        format: match a.format {
            FormatArg::Oci => ArchiveFormat::Oci,
            FormatArg::Docker => ArchiveFormat::Docker,
        },
        compression,
        level,
        threads: a.threads,
        platforms: a.platforms.clone(),
        images,
        mtime: a.source_date_epoch.unwrap_or(0),
        verify_blobs: true,
        digest: a.sha256,
    };
    let layout_path = layout_dir(&a.layout);
    // Written into the layout it reads, the archive would replace a blob or index.json.
    let inputs = std::iter::once((layout_path.as_path(), "the layout it reads".to_string())).chain(
        a.images
            .iter()
            .map(|l| (l.as_path(), "--images".to_string())),
    );
    seedforge::outpath::refuse_inputs(&a.out, inputs)?;
    let layout = Layout::open(&layout_path)?;
    // Blobs unchanged since they last hashed right are not read again.
    let stamps = BlobStamps::load(&layout);
    let reporter = progress::CliReporter::new(g, 0);
    seedforge::Reporter::step_started(&reporter, "airgap");
    let report = write_archive(&layout, &a.out, &options, &reporter, Some(&stamps));
    reporter.finish();
    let report = report?;
    if let Err(e) = stamps.save() {
        tracing::warn!(
            "cannot save the blob stamps of {}: {e}",
            layout.root().display()
        );
    }
    if g.json {
        print_json(&report);
    } else if !g.quiet {
        let digest = report
            .sha256
            .as_deref()
            .map(|d| format!(", sha256:{d}"))
            .unwrap_or_default();
        outln!(
            "{}: {} image(s), {} blob(s), {} ({} uncompressed){digest}",
            report.path.display(),
            report.images.len(),
            report.blobs,
            seedforge::util::human_bytes(report.file_bytes),
            seedforge::util::human_bytes(report.tar_bytes),
        );
    }
    Ok(ExitCode::Ok)
}

/// A build output directory holds the layout in `oci/`; a layout can also be given directly.
pub(crate) fn layout_dir(dir: &Path) -> PathBuf {
    if dir.join("oci-layout").is_file() {
        dir.to_path_buf()
    } else {
        dir.join("oci")
    }
}

/// The public keys of `--key`, each with its name as given.
fn read_keys(
    paths: &[PathBuf],
) -> Result<Vec<(String, seedforge::trust::keys::PublicKey)>, CliError> {
    paths
        .iter()
        .map(|p| {
            seedforge::trust::keys::PublicKey::read(p)
                .map(|k| (p.display().to_string(), k))
                .map_err(|e| CliError::Usage(format!("--key {}: {e}", p.display())))
        })
        .collect()
}

/// With `--key`: the signature of the output at `dir` (a sealed output: the bundle beside
/// manifest.json, SHA256SUMS against the signed manifest), or of the ISOs `isos` (the
/// manifest.json and bundle beside them, each ISO's SHA-256 in it).
fn check_signature(
    g: &Global,
    dir: &Path,
    isos: &[PathBuf],
    keys: &[(String, seedforge::trust::keys::PublicKey)],
) -> Result<(), CliError> {
    if keys.is_empty() {
        if std::fs::symlink_metadata(dir.join(seedforge::pipeline::seal::MANIFEST_BUNDLE)).is_ok()
            && !g.json
        {
            outln!(
                "note: {} is signed; seedforge verify --key KEY.pub checks the signature",
                dir.display()
            );
        }
        return Ok(());
    }
    let check = if isos.is_empty() && is_export_folder(dir) {
        seedforge::pipeline::seal::verify_signed_hashes(dir, &export_isos(dir)?, keys)
    } else if isos.is_empty() {
        seedforge::pipeline::seal::verify_signature(dir, keys)
    } else {
        seedforge::pipeline::seal::verify_signed_isos(dir, isos, keys)
    }
    .map_err(Error::from)?;
    if !g.json && !g.quiet {
        outln!(
            "signature {}: verified with {} ({} file(s) bound to it{})",
            check.bundle.display(),
            check.key,
            check.files,
            if check.provenance {
                ", provenance signed"
            } else {
                ""
            }
        );
    }
    Ok(())
}

/// An export folder (`export_dir:`) with a signed output's seal: `manifest.json` and its
/// bundle beside the ISOs, and no `iso/` or `oci/` of a build output.
fn is_export_folder(dir: &Path) -> bool {
    use seedforge::pipeline::seal::{MANIFEST, MANIFEST_BUNDLE};
    dir.join(MANIFEST).is_file()
        && dir.join(MANIFEST_BUNDLE).is_file()
        && !dir.join("iso").exists()
        && !dir.join("oci").exists()
}

/// The ISOs of an export folder with their SHA-256: each whole `*.iso` hashed, each ISO in
/// parts as `SHA256SUMS.wholes` records it (its parts are checked against that by
/// [`seedforge::pipeline::split::verify_wholes`]). At least one, else the folder is not
/// an export.
fn export_isos(dir: &Path) -> Result<Vec<(PathBuf, String)>, CliError> {
    let whole = iso::images_at(dir)?;
    let hashes = seedforge::pipeline::seal::hash_many(&whole).map_err(Error::from)?;
    let mut found: Vec<(PathBuf, String)> = whole.into_iter().zip(hashes).collect();
    let wholes = dir.join(seedforge::pipeline::split::WHOLES);
    if std::fs::symlink_metadata(&wholes).is_ok() {
        let text = seedforge::input::read_found_to_string(&wholes, seedforge::input::Kind::Sums)
            .map_err(|e| Error::from(seedforge::pipeline::seal::SealError::Input(e)))?;
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            if let Some((sha, name)) = seedforge::pipeline::seal::sums_line(line) {
                found.push((dir.join(name), sha.to_string()));
            }
        }
    }
    if found.is_empty() {
        return Err(CliError::Usage(format!(
            "--key: {} holds a signed manifest.json but no ISO (whole or in parts) to check against it",
            dir.display()
        )));
    }
    Ok(found)
}

fn verify_cmd(
    g: &Global,
    dir: &Path,
    keys: &[(String, seedforge::trust::keys::PublicKey)],
) -> Result<ExitCode, CliError> {
    for warning in seedforge::pki::expiry_warnings(dir, seedforge::pki::now())? {
        errln!("warning: {warning}");
    }
    if iso::is_image(dir) {
        if !keys.is_empty() {
            // The signed manifest.json beside the ISO (an export folder), or in the output
            // whose iso/ holds it.
            let beside = dir
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            let signed = [beside, beside.parent().unwrap_or(beside)]
                .into_iter()
                .find(|d| d.join(seedforge::pipeline::seal::MANIFEST_BUNDLE).exists())
                .unwrap_or(beside);
            check_signature(g, signed, &[dir.to_path_buf()], keys)?;
        }
        return iso::verify_images(g, &[dir.to_path_buf()]);
    }
    if dir.join(seedforge::delta::carry::DELTA_JSON).is_file() {
        return delta::verify_delta(g, dir, keys);
    }
    // An export folder with ISOs in parts: each whole is hashed over its parts first, and
    // the parts' own digests, taken on the way, spare SHA256SUMS a second read of them.
    let wholes = if std::fs::symlink_metadata(dir.join(seedforge::pipeline::seal::SUMS)).is_ok() {
        seedforge::pipeline::split::verify_wholes(dir)
    } else {
        Ok(None)
    };
    let known = |p: &Path, _: &str| {
        (wholes.as_ref().ok().and_then(Option::as_ref)).and_then(|w| w.part_sha256.get(p).cloned())
    };
    if let Some(sealed) = clean::verify_sealed(g, dir, &known)? {
        check_signature(g, dir, &[], keys)?;
        return verify_sealed_output(g, dir, sealed, wholes);
    }
    // An export folder of whole ISOs (no SHA256SUMS): each checked against the signed
    // manifest.json beside them (with --key), then read as an ISO.
    if is_export_folder(dir) || (keys.is_empty() && iso::is_unsigned_export(dir)?) {
        let isos = iso::images_at(dir)?;
        check_signature(g, dir, &[], keys)?;
        return iso::verify_images(g, &isos);
    }
    if !keys.is_empty() {
        return Err(CliError::Usage(format!(
            "--key: {} is not a sealed build output (no SHA256SUMS) or an ISO",
            dir.display()
        )));
    }
    let images = iso::images_in(dir)?;
    if images.is_empty() {
        return verify_layout(g, dir);
    }
    if !layout_dir(dir).exists() {
        return iso::verify_images(g, &images);
    }
    // One JSON document: the layout's report with the seed ISOs' checks under "iso".
    let (report, layout) = layout_report(g, dir)?;
    let (checks, isos) = iso::check_images(g, &images);
    let mut doc = serde_json::to_value(&report).unwrap_or_default();
    doc["iso"] = serde_json::to_value(&checks).unwrap_or_default();
    let result = layout.and(isos);
    json_report::print_report(g, doc, &result);
    result
}

/// A sealed build output: the layout, the seed ISOs, SHA256SUMS and the registry
/// certificate, in one JSON document.
fn verify_sealed_output(
    g: &Global,
    dir: &Path,
    (sums, cert, sums_result): clean::Sealed,
    wholes: Result<
        Option<seedforge::pipeline::split::WholesReport>,
        seedforge::pipeline::seal::SealError,
    >,
) -> Result<ExitCode, CliError> {
    let mut failures = Vec::new();
    let mut doc = serde_json::json!({});
    if layout_dir(dir).exists() {
        let (report, result) = layout_report(g, dir)?;
        doc = serde_json::to_value(&report).unwrap_or_default();
        failures.extend(result.err());
    }
    let images = iso::images_in(dir).unwrap_or_else(|e| {
        failures.push(e.into());
        Vec::new()
    });
    if !images.is_empty() {
        let (checks, result) = iso::check_images(g, &images);
        doc["iso"] = serde_json::to_value(&checks).unwrap_or_default();
        failures.extend(result.err());
    }
    match seedforge::pipeline::seal::recheck_image_signatures(dir) {
        Ok(Some(recheck)) => {
            for (image, why) in &recheck.failed {
                errln!(
                    "BAD  {image}: its signatures no longer verify with the recorded keys: {why}"
                );
            }
            if !g.json && !g.quiet {
                outln!(
                    "signatures {}: {} image(s) with a signature verifying with the recorded keys, {} problem(s)",
                    dir.join("oci").display(),
                    recheck.verified.len(),
                    recheck.failed.len()
                );
            }
            if !recheck.failed.is_empty() {
                failures.push(
                    Error::VerifyFailed(format!(
                        "{} image(s) whose carried signatures do not verify: {}",
                        recheck.failed.len(),
                        recheck
                            .failed
                            .iter()
                            .map(|(i, _)| i.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                    .into(),
                );
            }
            doc["signatures"] = serde_json::to_value(&recheck).unwrap_or_default();
        }
        Ok(None) => {}
        Err(e) => failures.push(Error::from(e).into()),
    }
    doc["sums"] = serde_json::to_value(&sums).unwrap_or_default();
    doc["registry_certificate"] = serde_json::to_value(&cert).unwrap_or_default();
    failures.extend(sums_result.err());
    // A build output (an export in parts holds other files by design): links and
    // unlisted files.
    if matches!(wholes, Ok(None)) {
        failures.extend(unsealed::check(g, dir, &mut doc).err());
    }
    match wholes {
        Ok(Some(wholes)) => {
            doc["wholes"] = serde_json::to_value(&wholes).unwrap_or_default();
            failures.extend(wholes_result(g, &wholes).err());
        }
        Ok(None) => {}
        Err(e) => failures.push(Error::from(e).into()),
    }
    let result = match failures.len() {
        0 => Ok(ExitCode::Ok),
        1 => Err(failures.remove(0)),
        _ => Err(Error::VerifyFailed(
            failures
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; "),
        )
        .into()),
    };
    json_report::print_report(g, doc, &result);
    result
}

/// Prints what [`seedforge::pipeline::split::verify_wholes`] found; fails naming every
/// file whose parts do not join to its recorded sha256.
fn wholes_result(
    g: &Global,
    wholes: &seedforge::pipeline::split::WholesReport,
) -> Result<ExitCode, CliError> {
    let failed: Vec<_> = wholes.failed().collect();
    for w in &failed {
        errln!(
            "BAD  {}: {}",
            w.name,
            w.problem.as_deref().unwrap_or_default()
        );
    }
    if !g.json && (!g.quiet || !failed.is_empty()) {
        outln!(
            "verify {}: {} file(s) in parts, {} joined and hashed, {} problem(s)",
            wholes.file.display(),
            wholes.wholes.len(),
            seedforge::util::human_bytes(wholes.wholes.iter().map(|w| w.bytes).sum()),
            failed.len()
        );
    }
    if failed.is_empty() {
        return Ok(ExitCode::Ok);
    }
    Err(Error::VerifyFailed(format!(
        "{}: {} file(s) do not join to their sha256: {}",
        wholes.file.display(),
        failed.len(),
        failed
            .iter()
            .map(|w| w.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    ))
    .into())
}

fn verify_layout(g: &Global, dir: &Path) -> Result<ExitCode, CliError> {
    let (report, result) = layout_report(g, dir)?;
    json_report::print_report(
        g,
        serde_json::to_value(&report).unwrap_or_default(),
        &result,
    );
    result
}

/// Verifies the layout, printing text unless `--json`; the caller prints the JSON.
fn layout_report(
    g: &Global,
    dir: &Path,
) -> Result<(VerifyReport, Result<ExitCode, CliError>), Error> {
    let layout = Layout::open(&layout_dir(dir))?;
    let reporter = progress::CliReporter::new(g, 0);
    seedforge::Reporter::step_started(&reporter, "verify");
    // Every blob is re-hashed; those found right get fresh stamps for `airgap`.
    let stamps = BlobStamps::recording(&layout);
    let report = seedforge::oci::verify::verify_with(&layout, &reporter, Some(&stamps));
    reporter.finish();
    let report = report?;
    if let Err(e) = stamps.save() {
        tracing::warn!(
            "cannot save the blob stamps of {}: {e}",
            layout.root().display()
        );
    }
    if !g.json && (!g.quiet || !report.is_sound()) {
        print_verify(&report);
    }
    let result = if report.is_sound() {
        Ok(ExitCode::Ok)
    } else {
        Err(Error::VerifyFailed(format!(
            "{}: {} blob problem(s)",
            layout.root().display(),
            report.problems.len()
        ))
        .into())
    };
    Ok((report, result))
}

fn gc_cmd(g: &Global, a: &GcArgs) -> Result<ExitCode, CliError> {
    let cache = if a.cache { Some(gc_cache(g)?) } else { None };
    let Some(dir) = &a.dir else {
        if g.json {
            print_json(&serde_json::json!({ "cache": cache }));
        }
        return Ok(ExitCode::Ok);
    };
    let layout = Layout::open(&layout_dir(dir))?;
    let report = gc(&layout)?;
    if g.json {
        // One document: the layout's report, with the cache's beside it when emptied too.
        let mut value = serde_json::to_value(&report).unwrap_or_default();
        if let (Some(cache), Some(map)) = (cache, value.as_object_mut()) {
            map.insert("cache".into(), serde_json::json!(cache));
        }
        print_json(&value);
    } else if !g.quiet {
        outln!(
            "removed {} unreferenced blob(s), {} freed; {} stale temporary dir(s)",
            report.removed.len(),
            seedforge::util::human_bytes(report.bytes_freed),
            report.stale_temp_removed
        );
    }
    Ok(ExitCode::Ok)
}

/// `gc --cache`: empties the download cache, if there is one, and says what it freed
/// (the JSON is the caller's).
fn gc_cache(g: &Global) -> Result<seedforge::debs::cache::CacheReport, Error> {
    let root = debs::cache_root(None);
    let report = match &root {
        Some(root) if root.join("debs").is_dir() => seedforge::debs::cache::DebCache::open(root, 0)
            .and_then(|c| c.clear())
            .map_err(|e| write_error(&root.join("debs"), e))?,
        _ => seedforge::debs::cache::CacheReport {
            dir: root.map(|r| r.join("debs")).unwrap_or_default(),
            ..Default::default()
        },
    };
    if !g.json && !g.quiet {
        outln!(
            "removed {} cached file(s), {} freed, from {}",
            report.removed,
            seedforge::util::human_bytes(report.bytes_freed),
            report.dir.display()
        );
    }
    Ok(report)
}

pub(crate) fn print_images(images: &[MirroredImageReport]) {
    for i in images {
        let platforms = if i.platforms.is_empty() {
            String::new()
        } else {
            format!(" [{}]", i.platforms.join(", "))
        };
        let mut extra = String::new();
        if !i.attached.is_empty() {
            extra.push_str(&format!(
                " +{} signature/attestation/SBOM/referrer artifact(s)",
                i.attached.len()
            ));
        }
        if let Some(v) = i.verified.first() {
            extra.push_str(&format!(", signature verified with {}", v.key));
        }
        outln!("{}  {}{platforms}{extra}", i.destination, i.digest);
    }
}

fn print_verify(report: &VerifyReport) {
    for f in &report.problems {
        let what = match &f.problem {
            seedforge::oci::verify::BlobProblem::Missing => "missing".to_string(),
            seedforge::oci::verify::BlobProblem::SizeMismatch { expected, actual } => {
                format!("size {actual}, expected {expected}")
            }
            seedforge::oci::verify::BlobProblem::DigestMismatch { actual } => {
                format!("content hashes to {actual}")
            }
            seedforge::oci::verify::BlobProblem::Unreadable { error } => {
                format!("unreadable: {error}")
            }
            seedforge::oci::verify::BlobProblem::BadDocument { error } => {
                format!("not a valid manifest: {error}")
            }
        };
        errln!(
            "BAD  blob {} ({}): {what}; used by {}",
            f.digest,
            f.path.display(),
            f.images.join(", ")
        );
    }
    for s in &report.strays {
        errln!(
            "stray  {} (not referenced; `seedforge gc` removes it)",
            s.display()
        );
    }
    if let Some(why) = &report.strays_unknown {
        errln!("note  strays not checked: {why}");
    }
    for s in &report.stale_temp {
        errln!(
            "stale  {} (left by an interrupted run; `seedforge gc` removes it)",
            s.display()
        );
    }
    outln!(
        "verify {}: {} image(s), {} blob(s), {} checked, {} problem(s), {} stray(s)",
        report.layout.display(),
        report.images.len(),
        report.blobs_checked,
        seedforge::util::human_bytes(report.bytes_checked),
        report.problems.len(),
        report.strays.len()
    );
}

/// Takes the output folder's build lock, saying once on stderr when it has to wait.
pub(crate) fn lock_output(g: &Global, out: &Path, wait: bool) -> Result<BuildLock, Error> {
    Ok(BuildLock::acquire(out, wait, &mut |pid| {
        if !g.quiet {
            errln!(
                "waiting for another seedforge build on {} ({})…",
                out.display(),
                seedforge::pipeline::build_lock::pid_text(pid)
            );
        }
    })?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_steps_line_gives_the_runs_wall_time_not_the_sum_of_overlapping_steps() {
        let step = |step: &'static str, key: &str, seconds: f64| run::StepRun {
            step,
            key: key.to_string(),
            status: "ran",
            seconds,
        };
        // Three seeds written at the same time: 4 s each, 4.85 s in all.
        let steps = [
            step("mirror", "mirror", 0.5),
            step("iso", "iso n1", 4.0),
            step("iso", "iso n2", 4.0),
            step("iso", "iso n3", 4.0),
        ];
        assert_eq!(
            steps_lines(&steps, 4.85),
            ["ran 4 step(s) in 4.85 s: mirror, iso n1, iso n2, iso n3"]
        );
    }
    #[test]
    fn the_error_document_names_the_place_and_is_scrubbed_like_stderr() {
        let secrets = Secrets::new();
        secrets.register("hunter2-token");
        let e = CliError::from(seedforge::config::ConfigError::Invalid {
            path: "lab/seedforge.yaml".into(),
            line: 7,
            column: 3,
            message: "token hunter2-token is not a file; see https://u:pw@example.com/x".into(),
        });
        let doc = error_json(&secrets, &e);
        let e = &doc["error"];
        assert_eq!(
            (&e["code"], &e["kind"], &e["file"], &e["line"], &e["column"]),
            (
                &2.into(),
                &"config".into(),
                &"lab/seedforge.yaml".into(),
                &7.into(),
                &3.into()
            )
        );
        let message = e["message"].as_str().unwrap();
        assert!(
            message.starts_with("lab/seedforge.yaml:7:3: token "),
            "{message}"
        );
        assert!(
            !message.contains("hunter2") && !message.contains(":pw@"),
            "{message}"
        );
        let usage = error_json(&secrets, &CliError::Usage("--a and --b".into()));
        assert_eq!(usage["error"]["kind"], "usage");
        assert!(usage["error"].get("line").is_none());
    }
}
