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

mod airgap;
mod build;
mod clean;
mod debs;
mod delta;
mod exit;
mod gc;
mod init;
mod iso;
mod json_report;
mod mirror;
mod modes;
mod net;
mod parity;
mod paths;
mod pki;
mod progress;
mod push;
mod render;
mod serve;
pub mod stdio;
mod unsealed;
mod verify;

use clap::{Args, Parser, Subcommand};
use seedforge::Error;
use seedforge::config::Config;
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
    Build(build::BuildArgs),
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
    /// Serve a build output's images as a read-only registry (TLS from OUT/pki), straight
    /// from OUT/oci: no registry package, no push, no second copy.
    Serve(serve::ServeArgs),
}

#[derive(Debug, Args)]
struct ConfigArg {
    /// The config file.
    #[arg(short, long, default_value = "seedforge.yaml", value_name = "FILE")]
    config: PathBuf,
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
    // `serve` stops on them itself (it stages nothing).
    if !matches!(cli.command, Command::Serve(_)) {
        cli.global.staging.watch(move |code| stopped(code, json));
    }
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
        Command::Build(a) => build::build(g, a),
        Command::Plan(a) => build::plan_cmd(g, a),
        Command::Mirror(a) => mirror::run(g, a),
        Command::Push(a) => push::run(g, a),
        Command::Airgap(a) => airgap::airgap_cmd(g, a),
        Command::Debs(a) => debs::debs_cmd(g, a),
        Command::Iso(a) => iso::iso_cmd(g, a),
        Command::Verify(a) => verify::run(g, a),
        Command::Clean(a) => clean::clean_cmd(g, a),
        Command::Gc(a) => gc::gc_cmd(g, a),
        Command::Render(a) => render::run(g, a),
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

/// A build output directory holds the layout in `oci/`; a layout can also be given directly.
pub(crate) fn layout_dir(dir: &Path) -> PathBuf {
    if dir.join("oci-layout").is_file() {
        dir.to_path_buf()
    } else {
        dir.join("oci")
    }
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
