//! `seedforge iso` (write a NoCloud seed image from a directory) and the ISO half of
//! `seedforge verify` (re-read an image with our own reader and check what cloud-init
//! needs from it).

use super::{Global, print_json};
use clap::Args;
use seedforge::iso::{IsoImage, IsoOptions, Namespace, write_iso};
use seedforge::{Error, ExitCode};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Arguments of `seedforge iso`.
#[derive(Debug, Args)]
pub struct IsoArgs {
    /// The image to write (replaced atomically).
    #[arg(long, value_name = "FILE")]
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
pub fn iso_cmd(g: &Global, a: &IsoArgs) -> Result<ExitCode, Error> {
    let opts = IsoOptions {
        label: a.label.clone(),
        source_date_epoch: a.source_date_epoch.unwrap_or(0),
        application_id: "SEEDFORGE".to_string(),
    };
    let summary = write_iso(&a.dir, &a.out, &opts)?;
    if g.json {
        print_json(&summary);
    } else if !g.quiet {
        println!(
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

/// True if `path` names an image file rather than an output directory.
pub fn is_image(path: &Path) -> bool {
    path.is_file()
        && path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("iso"))
}

/// The images a build output directory holds (`iso/*.iso`), sorted.
pub fn images_in(dir: &Path) -> Vec<PathBuf> {
    let Ok(read) = std::fs::read_dir(dir.join("iso")) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = read
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| is_image(p))
        .collect();
    out.sort();
    out
}

/// What `verify` found in one image.
#[derive(Debug, Serialize)]
pub struct IsoCheck {
    /// The image.
    pub path: PathBuf,
    /// Joliet volume id (else the primary one).
    pub label: String,
    /// Files read back.
    pub files: usize,
    /// Everything wrong with it.
    pub problems: Vec<String>,
}

/// Checks every image; prints the results; fails if any has a problem.
pub fn verify_images(g: &Global, images: &[PathBuf]) -> Result<ExitCode, Error> {
    let (checks, result) = check_images(g, images);
    if g.json {
        print_json(&checks);
    }
    result
}

/// Checks every image, printing text (not JSON) as [`verify_images`] does; returns the
/// checks for a caller that prints one combined JSON document.
pub fn check_images(g: &Global, images: &[PathBuf]) -> (Vec<IsoCheck>, Result<ExitCode, Error>) {
    let checks: Vec<IsoCheck> = images.iter().map(|p| check_image(p)).collect();
    let bad = checks.iter().filter(|c| !c.problems.is_empty()).count();
    for c in &checks {
        for p in &c.problems {
            eprintln!("BAD  {}: {p}", c.path.display());
        }
        if !g.json && (!g.quiet || !c.problems.is_empty()) {
            println!(
                "verify {}: label {:?}, {} file(s), {} problem(s)",
                c.path.display(),
                c.label,
                c.files,
                c.problems.len()
            );
        }
    }
    let result = if bad == 0 {
        Ok(ExitCode::Ok)
    } else {
        Err(Error::VerifyFailed(format!(
            "{bad} image(s) failed verification"
        )))
    };
    (checks, result)
}

/// Re-reads one image: both trees, every file's data, and the NoCloud names.
pub fn check_image(path: &Path) -> IsoCheck {
    let mut check = IsoCheck {
        path: path.to_path_buf(),
        label: String::new(),
        files: 0,
        problems: Vec::new(),
    };
    if let Err(e) = check_into(path, &mut check) {
        check.problems.push(e.to_string());
    }
    check
}

fn check_into(path: &Path, check: &mut IsoCheck) -> Result<(), Error> {
    let mut img = IsoImage::open(path)?;
    check.label = img
        .joliet_volume_id
        .clone()
        .unwrap_or_else(|| img.volume_id.clone());
    if !img.rock_ridge {
        check
            .problems
            .push("no Rock Ridge in the root directory".into());
    }
    let rr = img.entries(Namespace::RockRidge)?;
    let joliet = img.entries(Namespace::Joliet)?;
    let data = |v: &[seedforge::iso::Entry]| {
        let mut d: Vec<_> = v
            .iter()
            .filter(|e| !e.is_dir)
            .map(|e| e.extents.clone())
            .collect();
        d.sort();
        d
    };
    if data(&rr) != data(&joliet) {
        check
            .problems
            .push("the Rock Ridge and Joliet trees hold different files".into());
    }
    for e in rr.iter().filter(|e| !e.is_dir) {
        let n = img.copy_to(e, &mut std::io::sink())?;
        if n != e.size {
            check
                .problems
                .push(format!("{}: read {n} of {} bytes", e.path, e.size));
        }
        check.files += 1;
    }
    if check.label.eq_ignore_ascii_case("cidata") {
        for name in ["user-data", "meta-data"] {
            for (tree, entries) in [("Rock Ridge", &rr), ("Joliet", &joliet)] {
                if !entries.iter().any(|e| e.path == name && !e.is_dir) {
                    check
                        .problems
                        .push(format!("no {name} at the root of the {tree} tree"));
                }
            }
        }
    }
    Ok(())
}
