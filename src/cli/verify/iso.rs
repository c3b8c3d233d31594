//! The ISO half of `seedforge verify`: re-read an image with our own reader and check what
//! cloud-init needs from it.

use crate::cli::common::{CliError, ExitCode, Global, Kind, json_report};
use seedforge::Error;
use seedforge::hashing::HashingWriter;
use seedforge::iso::{IsoImage, Namespace};
use seedforge::oci::Digest;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// True if `path` names an image file rather than an output directory.
pub fn is_image(path: &Path) -> bool {
    path.is_file()
        && path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("iso"))
}

/// The images a build output directory holds (`iso/*.iso`), sorted. No `iso/` means no
/// images; an `iso/` that cannot be listed fails, so `verify` never passes images it could
/// not see.
pub fn images_in(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    images_at(&dir.join("iso"))
}

/// The ISO images in the folder `iso_dir` itself (an export folder), sorted.
pub fn images_at(iso_dir: &Path) -> Result<Vec<PathBuf>, Error> {
    let unreadable =
        |e: std::io::Error| Error::VerifyFailed(format!("{}: cannot list: {e}", iso_dir.display()));
    let read = match std::fs::read_dir(iso_dir) {
        Ok(read) => read,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(unreadable(e)),
    };
    let mut out = Vec::new();
    for entry in read {
        let path = entry.map_err(unreadable)?.path();
        if is_image(&path) {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
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
    /// A shared-mode seed's `payload.sha256`: the digest of the payload's `SHA256SUMS` it
    /// expects.
    #[serde(skip)]
    expects_payload: Option<String>,
    /// A payload ISO's: the digest of its `payload/SHA256SUMS`.
    #[serde(skip)]
    carries_payload: Option<String>,
}

/// An export folder of an unsigned build (`export_dir:`, whole ISOs): ISOs at its top
/// level, and no `iso/` or `oci/` of a build output.
pub fn is_unsigned_export(dir: &Path) -> Result<bool, Error> {
    if dir.join("iso").exists() || dir.join("oci").exists() {
        return Ok(false);
    }
    Ok(!images_at(dir)?.is_empty())
}

/// Checks every image; prints the results (with `--json`, `{"iso": […], "signature": …}`,
/// with `error` when one fails; `signature` is what `verify` says of the signature,
/// [`super::check_signature`]); fails if any has a problem.
pub fn verify_images(
    g: &Global,
    images: &[PathBuf],
    signature: serde_json::Value,
) -> Result<ExitCode, CliError> {
    let (checks, result) = check_images(g, images);
    let doc = serde_json::json!({ "iso": checks, "signature": signature });
    json_report::print_report(g, Kind::Verify, doc, &result);
    result
}

/// Checks every image, printing text (not JSON) as [`verify_images`] does; returns the
/// checks for a caller that prints one combined JSON document.
pub fn check_images(g: &Global, images: &[PathBuf]) -> (Vec<IsoCheck>, Result<ExitCode, CliError>) {
    let mut checks: Vec<IsoCheck> = images.iter().map(|p| check_image(p)).collect();
    match_payloads(&mut checks);
    let bad = checks.iter().filter(|c| !c.problems.is_empty()).count();
    for c in &checks {
        for p in &c.problems {
            errln!("BAD  {}: {p}", c.path.display());
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
        Err(Error::VerifyFailed(format!("{bad} image(s) failed verification")).into())
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
        expects_payload: None,
        carries_payload: None,
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
        // A file the check must read whole but that is beyond its cap fails the check:
        // hashing it as a plain file instead would leave the payload unchecked.
        let cap = match e.path.as_str() {
            PAYLOAD_SUMS => Some(seedforge::seed::PAYLOAD_SUMS_CAP),
            seedforge::seed::PAYLOAD_REF => Some(seedforge::seed::PAYLOAD_REF_CAP),
            _ => None,
        };
        if let Some(cap) = cap.filter(|&cap| e.size > cap) {
            check.problems.push(format!(
                "{}: {} bytes, larger than the {cap}-byte limit of what verify reads, so it cannot be checked",
                e.path, e.size
            ));
        }
        let n = if e.path == PAYLOAD_SUMS && e.size <= seedforge::seed::PAYLOAD_SUMS_CAP {
            let mut text = Vec::new();
            let n = img.copy_to(e, &mut text)?;
            check.carries_payload = Some(seedforge::hashing::sha256_hex(&text));
            sums = Some(text);
            n
        } else if e.path == seedforge::seed::PAYLOAD_REF
            && e.size <= seedforge::seed::PAYLOAD_REF_CAP
        {
            let mut text = Vec::new();
            let n = img.copy_to(e, &mut text)?;
            let text = String::from_utf8_lossy(&text);
            match text.split_once("  ") {
                Some((hex, name)) if name.trim_end() == PAYLOAD_SUMS => {
                    check.expects_payload = Some(hex.to_string());
                }
                _ => check.problems.push(format!(
                    "{}: not a `SHA256  {PAYLOAD_SUMS}` line",
                    seedforge::seed::PAYLOAD_REF
                )),
            }
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
    match sums {
        Some(sums) => check.problems.extend(payload_problems(&sums, &hashes)),
        // A payload with no list is one the node's bootstrap cannot check (it refuses it).
        None if rr.iter().any(|e| e.path == PAYLOAD_SUMS) => {}
        None if check
            .label
            .eq_ignore_ascii_case(seedforge::seed::PAYLOAD_LABEL)
            || hashes.keys().any(|p| p.starts_with("payload/")) =>
        {
            check
                .problems
                .push(format!("no {PAYLOAD_SUMS}: the payload cannot be checked"));
        }
        None => {}
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

/// Shared-mode seeds checked together with payload ISOs (`verify OUT`): each seed must
/// name the payload of one of them, as the node's bootstrap refuses a payload medium whose
/// `SHA256SUMS` is not the one its seed names. Without a payload ISO among the images
/// (a seed verified alone) there is nothing to compare.
fn match_payloads(checks: &mut [IsoCheck]) {
    let carried: Vec<(String, PathBuf)> = checks
        .iter()
        .filter(|c| c.label.eq_ignore_ascii_case(seedforge::seed::PAYLOAD_LABEL))
        .filter_map(|c| Some((c.carries_payload.clone()?, c.path.clone())))
        .collect();
    if carried.is_empty() {
        return;
    }
    for c in checks.iter_mut() {
        let Some(expected) = &c.expects_payload else {
            continue;
        };
        if carried.iter().any(|(hex, _)| hex == expected) {
            continue;
        }
        let held: Vec<String> = carried
            .iter()
            .map(|(hex, path)| format!("{} holds {}", path.display(), short(hex)))
            .collect();
        c.problems.push(format!(
            "{} names payload {} but {}: the node refuses this pair (attach the payload ISO of the same build)",
            seedforge::seed::PAYLOAD_REF,
            short(expected),
            held.join(", ")
        ));
    }
}

/// The first 12 characters of a digest, for messages.
fn short(hex: &str) -> String {
    hex.chars().take(12).collect()
}

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
