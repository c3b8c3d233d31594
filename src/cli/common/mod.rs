//! What the commands share, below all of them: the global flags ([`Global`]), exit codes
//! and the command line's own failures ([`exit`]), stdout and stderr ([`stdio`]), the JSON
//! document, progress, network settings, the download cache, registry flags and the report
//! lines more than one command prints. No command imports another; each imports this.

pub(crate) mod cache;
#[cfg(test)]
mod contract;
pub(crate) mod document;
pub(crate) mod exit;
pub(crate) mod json_report;
pub(crate) mod modes;
pub(crate) mod net;
pub(crate) mod paths;
pub(crate) mod print;
pub(crate) mod progress;
pub(crate) mod registry;
mod sink;
pub mod stdio;

use clap::Args;
pub(crate) use document::{Kind, print_json};
pub(crate) use exit::{CliError, ExitCode};
use seedforge::Error;
use seedforge::pipeline::build_lock::BuildLock;
use seedforge::redact::Secrets;
use std::path::{Path, PathBuf};

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

#[derive(Debug, Args)]
pub(crate) struct ConfigArg {
    /// The config file.
    #[arg(short, long, default_value = "seedforge.yaml", value_name = "FILE")]
    pub(crate) config: PathBuf,
}

/// The JSON document a failed command prints on stdout with `--json` (docs/json.md,
/// `error`): the exit code, what failed, where (file, line, column, when the error
/// has a place) and the message and its causes, scrubbed as on stderr.
pub(crate) fn error_json(secrets: &Secrets, e: &CliError) -> serde_json::Value {
    let scrub = |t: String| secrets.scrub(&t).into_owned();
    let (kind, place) = match e {
        CliError::Lib(e) => (e.try_again().map_or(e.kind(), |t| t.kind()), e.place()),
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

/// A file the command line writes itself (man pages, `init`) could not be written.
pub(crate) fn write_error(path: &Path, e: std::io::Error) -> Error {
    Error::OutPath(seedforge::outpath::OutPathError::Io {
        path: path.to_path_buf(),
        source: e,
    })
}

/// Whether this command has printed its JSON document: a command that fails after
/// printing its report (`verify` finding problems) prints no error document after it.
pub(crate) static JSON_PRINTED: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// A build output directory holds the layout in `oci/`; a layout can also be given directly.
pub(crate) fn layout_dir(dir: &Path) -> PathBuf {
    if dir.join("oci-layout").is_file() {
        dir.to_path_buf()
    } else {
        dir.join("oci")
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

/// Takes the build lock of the output `dir` is (or whose layout it is: `OUT/oci`) shared,
/// for a command that only reads it, saying once on stderr when it has to wait for a
/// build; `None` when there is no lock file (no build output, or never built into).
pub(crate) fn read_lock_output(
    g: &Global,
    dir: &Path,
    wait: bool,
) -> Result<Option<BuildLock>, Error> {
    let mut candidates = vec![dir];
    if dir.file_name().is_some_and(|n| n == "oci")
        && let Some(out) = dir.parent()
    {
        candidates.push(if out.as_os_str().is_empty() {
            Path::new(".")
        } else {
            out
        });
    }
    // A file or a missing path given for the folder is the command's own refusal to make.
    for out in candidates.into_iter().filter(|c| c.is_dir()) {
        let lock = BuildLock::acquire_shared(out, wait, &mut |pid| {
            if !g.quiet {
                errln!(
                    "waiting for another seedforge build on {} ({})…",
                    out.display(),
                    seedforge::pipeline::build_lock::pid_text(pid)
                );
            }
        })?;
        if lock.is_some() {
            return Ok(lock);
        }
    }
    Ok(None)
}

pub(crate) fn parse_part_size(text: &str) -> Result<u64, String> {
    seedforge::config::size::parse_part_size(text)
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
