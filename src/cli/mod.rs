//! The command line. This is the only code that knows about clap, terminals, progress bars
//! and stdout; each subcommand is one thin function over the library. This file is the
//! dispatcher (the arguments, the run, its end); each other module here is one command (or
//! a few close ones) that the dispatcher calls, and imports only [`common`], what they all
//! share, never another command.
#![allow(clippy::print_stdout, clippy::print_stderr)]

/// `println!` to stdout, except that a reader gone away (`seedforge plan | head`) ends
/// the command quietly and a stdout that cannot be written ends it with a message on
/// stderr, instead of with a panic ([`common::stdio`]).
macro_rules! outln {
    () => { $crate::cli::common::stdio::write_stdout(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::cli::common::stdio::write_stdout(format_args!("{}\n", format_args!($($arg)*))) };
}

/// `print!` to stdout, as [`outln!`] without the newline.
macro_rules! out {
    ($($arg:tt)*) => { $crate::cli::common::stdio::write_stdout(format_args!($($arg)*)) };
}

/// `eprintln!` without its panic: a stderr that cannot be written is recorded and told at
/// the end ([`common::stdio::finish`]).
macro_rules! errln {
    ($($arg:tt)*) => { $crate::cli::common::stdio::write_stderr(format_args!("{}\n", format_args!($($arg)*))) };
}

mod airgap;
mod build;
mod chart_images;
mod clean;
pub mod common;
mod debs;
mod delta;
mod gc;
mod init;
mod iso;
mod lock;
mod man;
mod mirror;
mod pki;
mod push;
mod render;
mod serve;
mod verify;

use clap::{Args, Parser, Subcommand};
use common::{
    CliError, ExitCode, Global, JSON_PRINTED, Kind, document, error_json, modes, paths, print_json,
    stdio,
};

const AFTER_HELP: &str = "\
Exit codes: 0 ok, 1 failure (a full stdout or stderr too), 2 invalid input or usage
(nothing written), 3 missing tool, 75 busy or unreachable: another build holds the output,
or a registry or server could not be reached or kept failing after the retries (run again
later), 130 stopped by SIGINT (Ctrl-C) and 143 by SIGTERM (nothing half-written left; run
the same command again), 141 stdout closed by its reader.

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
    Build(build::BuildArgs),
    /// Refresh seedforge.lock without a build: resolve online what a build pins, write
    /// the lock beside the config, and no output.
    ///
    /// The config is planned as `build` plans it: every registry tag resolved to its
    /// digest, every chart fetched from its repository (its archive's digest pinned), every
    /// package bundle's closure resolved (its tarball's digest taken from the last build
    /// of the same closure, or the bundle made once in a scratch folder). The lock is the
    /// one a build would write now, byte for byte: `seedforge lock` then `seedforge build
    /// --locked` passes and leaves it as it is. What only a build makes is kept as the
    /// lock records it (the registry CA, `registry_ca`). The lock is replaced in one
    /// rename; a failure leaves it byte for byte, and an unchanged lock is not touched.
    /// Prints each pin added (+), updated (~) and removed (-); --json prints them as a
    /// document. With --check, writes nothing and exits 1 when the lock is stale (as
    /// `cargo update --locked` or `npm ci` refuse a lock that no longer fits).
    Lock(lock::LockArgs),
    /// Print what `build` would do, checking every input; writes nothing.
    ///
    /// With --upgrade-from RECEIPT, also the upgrade of a far side that sent that receipt:
    /// after `seedforge build`, `seedforge plan --upgrade-from receipt.json` prints what a
    /// delta would carry and the order in which the nodes take the new output.
    Plan(build::PlanArgs),
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
    Airgap(airgap::AirgapArgs),
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
    Verify(verify::VerifyArgs),
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
    Gc(gc::GcArgs),
    /// Start a new folder: a commented seedforge.yaml, images.txt with k3s's images, a
    /// join token and a .gitignore that keeps the token and out/ out of git; nothing that
    /// exists is written over, and nothing through a symbolic
    /// link (a `templates` link to another folder is refused).
    Init(init::InitArgs),
    /// Print a shell completion script for bash, zsh, fish, elvish or powershell.
    ///
    /// bash: `seedforge completions bash > /etc/bash_completion.d/seedforge`;
    /// zsh: `seedforge completions zsh > "${fpath[1]}/_seedforge"`;
    /// fish: `seedforge completions fish > ~/.config/fish/completions/seedforge.fish`.
    Completions(CompletionsArgs),
    /// Write the manual pages (seedforge.1, one per command, and seedforge.yaml.5, the
    /// config file's, from docs/config.md) into DIR.
    ///
    /// Read one with `man -l DIR/seedforge-build.1` or `man -l DIR/seedforge.yaml.5`, or
    /// install the .1 pages under /usr/local/share/man/man1 and seedforge.yaml.5 under
    /// /usr/local/share/man/man5 (then `man seedforge.yaml`).
    Man(man::ManArgs),
    /// List the images each chart pulls, found by rendering it as Helm does.
    ///
    /// Each chart is fetched as `build` fetches it (with --offline, read from the output a
    /// build wrote), rendered with its values over its own (`helm template` for the
    /// cluster's k3s release), and every container image and every image named in a
    /// container's arguments, command or environment or in a ConfigMap is listed with its
    /// template and line, the resource and the values it came from, and whether an image
    /// list has it (or `images: add` adds it).
    ChartImages(chart_images::ChartImagesArgs),
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
    /// Serve a build output's images as a read-only registry (TLS from OUT/pki), straight
    /// from OUT/oci: no registry package, no push, no second copy.
    Serve(serve::ServeArgs),
}

/// Parses arguments, runs, and returns the process exit code.
pub fn main() -> i32 {
    let clap_exit = |e: clap::Error| {
        let code = if e.use_stderr() {
            ExitCode::InvalidInput
        } else {
            ExitCode::Ok
        };
        // A usage error under `--json` is a JSON document on stdout too, so a job reading
        // it (`| jq -e .`) fails on it instead of reading nothing. The arguments did not
        // parse, so `--json` is looked for as it was typed, before a `--`.
        if e.use_stderr() && json_asked() {
            let rendered = e.render().to_string();
            let message = rendered.lines().next().unwrap_or_default();
            let usage = CliError::Usage(message.trim_start_matches("error: ").to_owned());
            document::emit(Kind::Error, &error_json(&Default::default(), &usage));
        }
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
            print_json(
                &cli.global,
                Kind::Error,
                &error_json(&cli.global.secrets, &e),
            );
        }
        return stdio::finish(ExitCode::InvalidInput as i32);
    }
    init_logging(&cli.global);
    // A SIGINT or SIGTERM at any point says what happened and what to do next.
    let json = cli.global.json;
    // `serve` stops on them itself (it stages nothing).
    if !matches!(cli.command, Command::Serve(_)) {
        cli.global.staging.watch(move |code| stopped(code, json));
    }
    // Modes are part of the output (manifest.json records them), so they come from
    // seedforge, not from whoever's umask: public files 0644 and folders 0755; files and
    // folders holding secrets are created with their own modes (0600, 0700) explicitly.
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o022));
    let result = run(&cli);
    modes::warnings(&cli.global);
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
                print_json(&cli.global, Kind::Error, &error_json(secrets, &e));
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

/// True if `--json` was given on the command line (before a `--`), whether or not the
/// rest parsed.
fn json_asked() -> bool {
    std::env::args_os()
        .skip(1)
        .take_while(|a| a != "--")
        .any(|a| a == "--json")
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
        document::emit(
            Kind::Error,
            &serde_json::json!({
                "error": { "code": code, "kind": what, "message": message }
            }),
        );
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
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(move || {
            seedforge::redact::ScrubbingWriter::new(secrets.clone(), stdio::Stderr)
        })
        // Its own report of a failed write would be an `eprintln!`, which panics then.
        .log_internal_errors(false)
        .with_ansi(colour(global.color))
        .with_target(false)
        .without_time()
        .with_filter(filter);
    // The warnings go into the JSON document whatever the level lets through to stderr.
    let warnings = document::WarningLayer(global.secrets.clone()).with_filter(
        tracing_subscriber::filter::Targets::new().with_target("seedforge", tracing::Level::WARN),
    );
    let _ = tracing_subscriber::registry()
        .with(stderr)
        .with(warnings)
        .try_init();
}

fn run(cli: &Cli) -> Result<ExitCode, CliError> {
    let g = &cli.global;
    match &cli.command {
        Command::Build(a) => build::build(g, a),
        Command::Plan(a) => build::plan_cmd(g, a),
        Command::Lock(a) => lock::lock_cmd(g, a),
        Command::Mirror(a) => mirror::run(g, a),
        Command::Push(a) => push::run(g, a),
        Command::Airgap(a) => airgap::airgap_cmd(g, a),
        Command::Debs(a) => debs::debs_cmd(g, a),
        Command::Iso(a) => iso::iso_cmd(g, a),
        Command::Verify(a) => verify::run(g, a),
        Command::Clean(a) => clean::clean_cmd(g, a),
        Command::Gc(a) => gc::gc_cmd(g, a),
        Command::Render(a) => render::run(g, a),
        Command::ChartImages(a) => chart_images::run(g, a),
        Command::Pki(a) => pki::pki_cmd(g, a),
        Command::Receipt(a) => delta::receipt_cmd(g, a),
        Command::Delta(a) => delta::delta_cmd(g, a),
        Command::Apply(a) => delta::apply_cmd(g, a),
        Command::Serve(a) => serve::serve_cmd(g, a),
        Command::Init(a) => init::init_cmd(g, a),
        Command::Completions(a) => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            let mut out = Vec::new();
            clap_complete::generate(a.shell, &mut cmd, "seedforge", &mut out);
            out!("{}", String::from_utf8_lossy(&out));
            Ok(ExitCode::Ok)
        }
        Command::Man(a) => man::man_pages(<Cli as clap::CommandFactory>::command(), a),
    }
}

/// Arguments of `seedforge completions`.
#[derive(Debug, Args)]
struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    shell: clap_complete::Shell,
}
