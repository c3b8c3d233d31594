//! `seedforge iso`: write a NoCloud seed image from a directory (`verify` re-reads one:
//! `verify/iso.rs`).

use super::common::{CliError, ExitCode, Global, Kind, print_json};
use clap::Args;
use seedforge::iso::{IsoOptions, write_iso};
use std::path::PathBuf;

/// Arguments of `seedforge iso`.
#[derive(Debug, Args)]
pub struct IsoArgs {
    /// The image to write (replaced atomically).
    #[arg(short, long, value_name = "FILE")]
    out: PathBuf,
    /// Volume label; cloud-init's NoCloud looks for `cidata`. Up to 16 characters.
    #[arg(long, default_value = "cidata")]
    label: String,
    /// Every date in the image [default: $SOURCE_DATE_EPOCH, else 0].
    #[arg(long, value_name = "SECONDS", env = "SOURCE_DATE_EPOCH")]
    source_date_epoch: Option<u64>,
    /// The directory whose contents become the image's root.
    #[arg(value_name = "DIR")]
    dir: PathBuf,
}

/// Writes the image.
pub fn iso_cmd(g: &Global, a: &IsoArgs) -> Result<ExitCode, CliError> {
    let opts = IsoOptions {
        label: a.label.clone(),
        source_date_epoch: a.source_date_epoch.unwrap_or(0),
        application_id: "SEEDFORGE".to_string(),
        last: Vec::new(),
        executable: None,
    };
    let summary = write_iso(&a.dir, &a.out, &opts)?;
    if g.json {
        print_json(g, Kind::Iso, &summary);
    } else if !g.quiet {
        outln!(
            "{}: {} file(s), {} dir(s), {} payload, {} image",
            summary.path.display(),
            summary.files,
            summary.dirs,
            seedforge::util::human_bytes(summary.payload_bytes),
            seedforge::util::human_bytes(summary.image_bytes)
        );
    }
    Ok(ExitCode::Ok)
}
