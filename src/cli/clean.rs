//! `seedforge clean`.

use super::common::{CliError, ExitCode, Global, Kind, lock_output, print_json};
use clap::Args;
use seedforge::Error;
use seedforge::pipeline::clean::{CleanOptions, clean};
use seedforge::util::human_bytes;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub(crate) struct CleanArgs {
    /// The build output directory (it must hold the manifest.json a build wrote).
    #[arg(value_name = "DIR")]
    dir: PathBuf,
    /// List what would be removed; remove nothing.
    #[arg(long)]
    dry_run: bool,
    /// Also remove pki/ and site.json: the CA that installed nodes trust, the registry's
    /// key pair and the output's site identity. Kept by default, since a new CA means new
    /// seeds for every node, and a new site a far side that refuses this output's deltas.
    #[arg(long)]
    remove_pki: bool,
}

pub(crate) fn clean_cmd(g: &Global, a: &CleanArgs) -> Result<ExitCode, CliError> {
    // Never while a build writes there. Without a manifest, clean refuses without
    // touching the folder, so the lock (a file) is taken only when there is one.
    // A lock file without a manifest is what a clean killed after its last removal
    // leaves; it is removed like any other time.
    let lock = if !a.dry_run
        && (a.dir.join(seedforge::pipeline::seal::MANIFEST).is_file()
            || a.dir
                .join(seedforge::pipeline::build_lock::LOCK_FILE_NAME)
                .is_file())
    {
        Some(lock_output(g, &a.dir, true)?)
    } else {
        None
    };
    let report = clean(
        &a.dir,
        CleanOptions {
            dry_run: a.dry_run,
            keep_pki: !a.remove_pki,
        },
    )?;
    if let Some(lock) = lock {
        // The lock file is seedforge's too; a build waiting on it locks a new one.
        let path = lock.path().to_path_buf();
        lock.remove()
            .map_err(|e| Error::Oci(seedforge::oci::OciError::io(&path, e)))?;
    }
    if g.json {
        print_json(g, Kind::Clean, &report);
        return Ok(ExitCode::Ok);
    }
    if g.quiet {
        return Ok(ExitCode::Ok);
    }
    let verb = if report.dry_run {
        "would remove"
    } else {
        "removed"
    };
    for f in report.files.iter().chain(&report.leftovers) {
        outln!("{verb}  {f}");
    }
    for d in &report.dirs {
        outln!("{verb}  {d}/");
    }
    for k in &report.kept {
        outln!("kept  {k}");
    }
    outln!(
        "{}: {verb} {} file(s) ({}), {} leftover(s), {} empty dir(s); everything else is untouched",
        report.output.display(),
        report.files.len(),
        human_bytes(report.bytes),
        report.leftovers.len(),
        report.dirs.len()
    );
    Ok(ExitCode::Ok)
}
