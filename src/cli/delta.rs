//! `seedforge receipt`, `seedforge delta` and `seedforge apply`: upgrades across the gap.

use super::{CliError, Config, ExitCode, Global, plan, print_json, run};
use clap::Args;
use seedforge::util::human_bytes;
use std::path::{Path, PathBuf};

#[derive(Debug, Args)]
pub(crate) struct ReceiptArgs {
    /// The sealed build output to describe (its SHA256SUMS is checked first).
    #[arg(value_name = "DIR")]
    dir: PathBuf,
    /// The receipt to write (outside DIR).
    #[arg(short, long, value_name = "FILE")]
    out: PathBuf,
    /// The config the output was built from: seedforge.lock beside it is recorded
    /// (default: the folder above DIR when it holds the config manifest.json names).
    #[arg(short, long, value_name = "FILE")]
    config: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct DeltaArgs {
    /// The sealed build output, newer than the far side's.
    #[arg(value_name = "DIR")]
    dir: PathBuf,
    /// The far side's receipt (`seedforge receipt`).
    #[arg(long, value_name = "FILE")]
    since: PathBuf,
    /// The delta folder to write (new or empty, outside DIR).
    #[arg(short, long, value_name = "DIR")]
    out: PathBuf,
    /// The config DIR was built from: its changed inputs and seedforge.lock are carried
    /// (default: the folder above DIR when it holds the config manifest.json names).
    #[arg(short, long, value_name = "FILE")]
    config: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct ApplyArgs {
    /// The delta folder (`seedforge delta`), checked against its own SHA256SUMS first.
    #[arg(value_name = "DELTA")]
    delta: PathBuf,
    /// The sealed output the delta was made against; replaced whole by the new one once
    /// the offline build of it matches the delta's seal.
    #[arg(long, value_name = "DIR")]
    to: PathBuf,
    /// The config OUT was built from: its changed inputs and seedforge.lock are written
    /// into its folder (default: the folder above OUT when it holds the config
    /// manifest.json names).
    #[arg(short, long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Fail at once (exit 1) if a build is writing to OUT, instead of waiting for it.
    #[arg(long)]
    no_wait: bool,
}

pub(crate) fn apply_cmd(g: &Global, a: &ApplyArgs) -> Result<ExitCode, CliError> {
    use seedforge::delta::apply::{ApplyError, apply};
    let net = super::net::settings(&[])?;
    let out = a.to.clone();
    let mut on_wait = |pid: Option<u32>| {
        if !g.quiet {
            errln!(
                "waiting for another seedforge build on {} ({})…",
                out.display(),
                seedforge::pipeline::build_lock::pid_text(pid)
            );
        }
    };
    // `build --offline` of the staged config into the staging copy of OUT, every step
    // run; export_dir is left for a later build: nothing is written outside OUT's copy.
    let mut build = |config_file: &Path, staged_out: &Path| -> Result<(), CliError> {
        let mut config = Config::load(config_file)?;
        config.register_secrets(&g.secrets);
        config.export_dir = None;
        let options = plan::PlanOptions {
            locked: false,
            offline: true,
            force: true,
            deb_cache: super::debs::open_cache(false, None)?,
            secrets: g.secrets.clone(),
            staging: g.staging.clone(),
            signing_key: None,
        };
        let plan = plan::plan_with_net(&config, Some(staged_out.to_path_buf()), options, &net)?;
        let reporter = super::progress::CliReporter::new(g, plan.inputs.images.entries.len());
        run::run(&plan, &reporter)?;
        reporter.finish();
        Ok(())
    };
    let r = match apply(
        &a.delta,
        &a.to,
        a.config.as_deref(),
        &g.staging,
        !a.no_wait,
        &mut on_wait,
        &mut build,
    ) {
        Ok(r) => r,
        Err(ApplyError::Delta(e)) => return Err(e.into()),
        Err(ApplyError::Build(e)) => return Err(e),
    };
    if g.json {
        print_json(&r);
        return Ok(ExitCode::Ok);
    }
    if !g.quiet {
        if r.outcome == "unchanged" {
            outln!(
                "{} already is the delta's output (manifest.json sha256 {}): nothing to apply",
                r.output.display(),
                r.manifest_sha256
            );
        } else {
            outln!(
                "applied {} to {}: {} file(s) ({}), {} blob(s) added, {} config file(s) written; rebuilt offline and matching the delta's seal in {:.1}s",
                r.delta.display(),
                r.output.display(),
                r.files_applied,
                human_bytes(r.bytes),
                r.blobs_added,
                r.config_files.len(),
                r.seconds
            );
        }
    }
    Ok(ExitCode::Ok)
}

pub(crate) fn receipt_cmd(g: &Global, a: &ReceiptArgs) -> Result<ExitCode, CliError> {
    let r = seedforge::delta::receipt::receipt(&a.dir, a.config.as_deref(), &a.out)?;
    if g.json {
        print_json(&r);
        return Ok(ExitCode::Ok);
    }
    if !g.quiet {
        outln!(
            "receipt {}  {}: {} blob(s) ({}), {} sealed file(s), {} file(s) checked against SHA256SUMS; seedforge.lock {}",
            r.receipt.display(),
            r.digest,
            r.blobs,
            human_bytes(r.blob_bytes),
            r.artifacts,
            r.checked,
            match &r.lock_sha256 {
                Some(_) => "recorded",
                None => "not found",
            }
        );
    }
    Ok(ExitCode::Ok)
}

pub(crate) fn delta_cmd(g: &Global, a: &DeltaArgs) -> Result<ExitCode, CliError> {
    let r = seedforge::delta::carry::delta(&a.dir, &a.since, &a.out, a.config.as_deref())?;
    if g.json {
        print_json(&r);
        return Ok(ExitCode::Ok);
    }
    if !g.quiet {
        let d = &r.doc;
        outln!(
            "delta {}: {} blob(s) ({}), {} sealed file(s) ({}), {} config file(s), the seal; {} of the {} output ({} derived file(s) left for build --offline)",
            r.dir.display(),
            d.blobs.count,
            human_bytes(d.blobs.bytes),
            d.artifacts.count,
            human_bytes(d.artifacts.bytes),
            d.config.count,
            human_bytes(d.bytes),
            human_bytes(d.full_output_bytes),
            d.derived_not_carried
        );
        if r.config_dir.is_none() {
            outln!(
                "note: no config folder given or found beside {}: no config file or seedforge.lock carried (--config FILE)",
                a.dir.display()
            );
        }
    }
    Ok(ExitCode::Ok)
}
