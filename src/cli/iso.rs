//! `seedforge iso` (write a NoCloud seed image from a directory) and the ISO half of
//! `seedforge verify` (re-read an image with our own reader and check what cloud-init
//! needs from it).

use super::{Global, print_json};
use clap::Args;
use seedforge::hashing::HashingWriter;
use seedforge::iso::{IsoImage, IsoOptions, Namespace, write_iso};
use seedforge::oci::Digest;
use seedforge::{Error, ExitCode};
use serde::Serialize;
use std::path::{Path, PathBuf};

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
pub fn iso_cmd(g: &Global, a: &IsoArgs) -> Result<ExitCode, Error> {
    let opts = IsoOptions {
        label: a.label.clone(),
        source_date_epoch: a.source_date_epoch.unwrap_or(0),
        application_id: "SEEDFORGE".to_string(),
        last: Vec::new(),
    };
    let summary = write_iso(&a.dir, &a.out, &opts)?;
    if g.json {
        print_json(&summary);
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
            outln!(
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
    let mut hashes = std::collections::BTreeMap::new();
    let mut sums = None;
    for e in rr.iter().filter(|e| !e.is_dir) {
        // A seed's SHA256SUMS is a few lines; a larger one is not ours to hold in memory.
        let n = if e.path == PAYLOAD_SUMS && e.size <= 1 << 20 {
            let mut text = Vec::new();
            let n = img.copy_to(e, &mut text)?;
            sums = Some(text);
            n
        } else {
            let mut sink = HashingWriter::new(std::io::sink());
            let n = img.copy_to(e, &mut sink)?;
            hashes.insert(e.path.clone(), Digest::from_hasher(sink.finish().1));
            n
        };
        if n != e.size {
            check
                .problems
                .push(format!("{}: read {n} of {} bytes", e.path, e.size));
        }
        check.files += 1;
    }
    if let Some(sums) = sums {
        check.problems.extend(payload_problems(&sums, &hashes));
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

/// Where a seed ISO lists its payload's digests (what the node's bootstrap checks).
const PAYLOAD_SUMS: &str = "payload/SHA256SUMS";

/// What the node's `sha256sum --strict -c payload/SHA256SUMS` would refuse: a malformed
/// line, a listed file that is missing or holds other bytes; and a payload file that is
/// not listed (the node would install it unchecked).
fn payload_problems(
    sums: &[u8],
    hashes: &std::collections::BTreeMap<String, seedforge::oci::Digest>,
) -> Vec<String> {
    let mut problems = Vec::new();
    let Ok(text) = std::str::from_utf8(sums) else {
        return vec![format!("{PAYLOAD_SUMS}: not UTF-8 text")];
    };
    let mut listed = std::collections::BTreeSet::new();
    for (i, line) in text.lines().enumerate() {
        let Some((hex, name)) = line.split_once("  ") else {
            problems.push(format!(
                "{PAYLOAD_SUMS}:{}: not a `SHA256  NAME` line",
                i + 1
            ));
            continue;
        };
        let path = format!("payload/{name}");
        listed.insert(path.clone());
        match hashes.get(&path) {
            None => problems.push(format!("{path}: listed in {PAYLOAD_SUMS} but missing")),
            Some(d) if d.hex() != hex => problems.push(format!(
                "{path}: sha256 {} but {PAYLOAD_SUMS} says {hex} (the node refuses this seed)",
                d.hex()
            )),
            Some(_) => {}
        }
    }
    for path in hashes.keys().filter(|p| p.starts_with("payload/")) {
        if !listed.contains(path) {
            problems.push(format!("{path}: not listed in {PAYLOAD_SUMS}"));
        }
    }
    problems
}
