//! `seedforge receipt` and `seedforge delta`: upgrades across the gap.

use super::{CliError, ExitCode, Global, print_json};
use clap::Args;
use seedforge::util::human_bytes;
use std::path::PathBuf;

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
