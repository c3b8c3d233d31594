//! `seedforge lock`: `seedforge.lock` refreshed without a build.

use super::common::{
    CliError, ConfigArg, ExitCode, Global, Kind, cache, net, print_json, progress, read_lock_output,
};
use clap::Args;
use seedforge::config::Config;
use seedforge::pipeline::lock::{Pin, Refreshed, refresh};
use seedforge::pipeline::plan;
use serde::Serialize;
use std::path::{Path, PathBuf};

#[derive(Debug, Args)]
pub(crate) struct LockArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// Write nothing: exit 0 when seedforge.lock already is what a build would write now,
    /// 1 when it is stale (the changes are printed), as a CI job checks it.
    #[arg(long)]
    check: bool,
    /// A PEM file of CA certificates to trust for every download (registries, chart and
    /// package repositories), besides the system's and `SSL_CERT_FILE`; repeatable. A
    /// registry's own CA goes in its `registries:` entry (`ca_file`).
    #[arg(long = "ca-file", value_name = "FILE")]
    ca_files: Vec<PathBuf>,
}

/// What `seedforge lock --json` prints.
#[derive(Serialize)]
struct LockJson<'a> {
    /// The lock file.
    lock: &'a Path,
    /// It already held what a build would write.
    current: bool,
    /// It was written (never with `--check`).
    written: bool,
    /// `--check` was given.
    check: bool,
    /// The pins the file lacked.
    added: &'a [Pin],
    /// The pins that changed.
    updated: &'a [Pin],
    /// The pins that went.
    removed: &'a [Pin],
}

pub(crate) fn lock_cmd(g: &Global, a: &LockArgs) -> Result<ExitCode, CliError> {
    let net = net::settings(&a.ca_files)?;
    let mut config = Config::load(&a.config.config)?;
    config.register_secrets(&g.secrets);
    // A build of the config's output writes the lock once it is sealed: wait for one that
    // is running (a shared hold, as the readers take, creates nothing in the output).
    let reading = read_lock_output(g, &config.output, true)?;
    if reading.as_ref().is_some_and(|l| l.waited()) {
        // What it waited for (a build, an apply writing the config's files) may have
        // changed the config: planned from it as it is now.
        config = Config::load(&a.config.config)?;
        config.register_secrets(&g.secrets);
    }
    // Planned as `build` plans, online and not --locked: the pins are the ones it makes.
    let options = plan::PlanOptions {
        locked: false,
        offline: false,
        force: false,
        deb_cache: cache::open_cache(false, None)?,
        secrets: g.secrets.clone(),
        staging: g.staging.clone(),
        signing_key: None,
        trusted_key: None,
        require_signature: false,
        carried_bundles: Default::default(),
        carried_files: Default::default(),
        rotate_ca: false,
        keep_ca_bundle: false,
        pins_only: true,
    };
    let plan = plan::plan_with_net(&config, None, options, &net)?;
    let reporter = progress::CliReporter::new(g, 0);
    let refreshed = refresh(&plan, &reporter)?;
    reporter.finish();
    let written = if a.check { false } else { refreshed.write()? };
    let stale = a.check && !refreshed.current;
    if g.json {
        let c = &refreshed.changes;
        print_json(
            g,
            Kind::Lock,
            &LockJson {
                lock: &refreshed.path,
                current: refreshed.current,
                written,
                check: a.check,
                added: &c.added,
                updated: &c.updated,
                removed: &c.removed,
            },
        );
    } else if !g.quiet || stale {
        print_changes(&refreshed, written, a.check);
    }
    Ok(if stale {
        ExitCode::Failure
    } else {
        ExitCode::Ok
    })
}

/// One line per pin that changes, then what became of the file.
fn print_changes(r: &Refreshed, written: bool, check: bool) {
    let value = |v: &Option<serde_json::Value>| match v {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Object(o)) => (o.get("digest").or_else(|| o.get("fingerprint")))
            .and_then(|d| d.as_str())
            .map_or_else(
                || serde_json::Value::Object(o.clone()).to_string(),
                str::to_string,
            ),
        Some(other) => other.to_string(),
        None => String::new(),
    };
    let name = |p: &Pin| {
        if p.key.is_empty() {
            p.section.clone()
        } else {
            format!("{} {}", p.section, p.key)
        }
    };
    let c = &r.changes;
    for p in &c.added {
        outln!("+ {}: {}", name(p), value(&p.after));
    }
    for p in &c.updated {
        outln!("~ {}: {} -> {}", name(p), value(&p.before), value(&p.after));
    }
    for p in &c.removed {
        outln!("- {}: {}", name(p), value(&p.before));
    }
    let counts = format!(
        "{} added, {} updated, {} removed",
        c.added.len(),
        c.updated.len(),
        c.removed.len()
    );
    let path = r.path.display();
    if r.current && r.lock.is_empty() {
        outln!("{path}: nothing to pin (no registry tag, chart or package bundle), none written");
    } else if r.current {
        outln!("{path}: up to date");
    } else if check {
        outln!("{path}: stale ({counts}); run seedforge lock to write it");
    } else if written {
        outln!("{path}: written ({counts})");
    } else {
        outln!("{path}: nothing to pin, not written");
    }
}
