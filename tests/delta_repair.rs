//! Repair offline: a receipt of a damaged far side (`receipt --record-damage`) records what
//! is missing or wrong, a delta against it carries what cannot be rebuilt, and `apply` makes
//! the output whole, byte for byte the near side's, with no network.

use crate::common::{self, Cmd, Lab, flip_byte};
use std::fs;
use std::path::{Path, PathBuf};

#[test]
fn a_damaged_far_side_is_recorded_by_its_receipt_and_made_whole_by_the_delta() {
    let lab = Lab::new();
    lab.build();
    let far = lab.far_copy("far");
    let out = far.join("fixtures/lab/out");
    // A layer lost, the CA changed, a seed damaged.
    let blobs = out.join("oci/blobs/sha256");
    let mut largest: Vec<(u64, String)> = fs::read_dir(&blobs)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.metadata().unwrap().len(),
                e.file_name().into_string().unwrap(),
            )
        })
        .collect();
    largest.sort();
    let lost = largest.last().unwrap().1.clone();
    fs::remove_file(blobs.join(&lost)).unwrap();
    flip_byte(&out.join("pki/ca.crt"), 100);
    flip_byte(&out.join("iso/seed-lab-agent1.iso"), 40_000);
    let seedforge = || Cmd::seedforge().cwd(&far);
    // A plain receipt refuses the damaged output; --record-damage names it.
    seedforge()
        .args(["receipt", "fixtures/lab/out", "-o", "../r.json"])
        .expect(1)
        .run();
    assert!(!lab.root().join("r.json").exists());
    let r = seedforge()
        .args([
            "receipt",
            "fixtures/lab/out",
            "-o",
            "../r.json",
            "--record-damage",
        ])
        .run();
    for named in [lost.as_str(), "pki/ca.crt", "iso/seed-lab-agent1.iso"] {
        assert!(r.stdout.contains(named), "{named}: {}", r.stdout);
    }
    let receipt = common::read_json(&lab.root().join("r.json"));
    assert_eq!(receipt["damaged"].as_array().unwrap().len(), 3, "{receipt}");
    // The delta carries the blob and the CA (the seed is derived: rebuilt).
    lab.delta("r.json", "d").run();
    let d = lab.root().join("d");
    assert!(d.join(format!("out/oci/blobs/sha256/{lost}")).is_file());
    assert!(d.join("out/pki/ca.crt").is_file());
    assert!(!d.join("out/iso").exists());
    // Applied with no network where a namespace can be made: whole again.
    let apply = common::far_side(&far);
    let applied = apply
        .args(["--json", "apply"])
        .arg(&d)
        .args(["--to", "fixtures/lab/out"])
        .run()
        .json();
    assert_eq!(applied["outcome"], "applied", "{applied}");
    assert_eq!(
        applied["repaired"].as_array().unwrap().len(),
        3,
        "{applied}"
    );
    assert_eq!(
        fs::read_to_string(out.join("SHA256SUMS")).unwrap(),
        fs::read_to_string(lab.out_dir().join("SHA256SUMS")).unwrap()
    );
    seedforge().args(["verify", "fixtures/lab/out"]).run();
    // Whole now: a plain receipt passes.
    seedforge()
        .args(["receipt", "fixtures/lab/out", "-o", "../r2.json"])
        .run();
}

/// The blobs under `out/oci/blobs/sha256` that `out/SHA256SUMS` does not list.
fn unsealed_blobs(out: &std::path::Path) -> Vec<String> {
    let sums = fs::read_to_string(out.join("SHA256SUMS")).unwrap();
    let mut unsealed: Vec<String> = fs::read_dir(out.join("oci/blobs/sha256"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| !sums.contains(&format!("  oci/blobs/sha256/{name}\n")))
        .collect();
    unsealed.sort();
    unsealed
}

/// A destination whose source now names other content (a tag pointed elsewhere, here an
/// `oci:` source changed under the same destination) leaves the old image's blobs behind:
/// they are strays, never sealed. `gc` removes them and `verify` still passes; the delta,
/// the far side's apply, its own offline build, its receipt and the repair round of a blob
/// lost there all work.
#[test]
fn a_destination_pointed_at_new_content_leaves_unsealed_strays_and_every_side_stays_whole() {
    let lab = Lab::new();
    lab.build();
    let far = lab.far_copy("far");
    let far_out = far.join("fixtures/lab/out");
    let seedforge = || Cmd::seedforge().cwd(&far);
    seedforge()
        .args(["receipt", "fixtures/lab/out", "-o", "../r1.json"])
        .run();
    let list = lab.lab_dir().join("images.txt");
    let text = fs::read_to_string(&list).unwrap();
    fs::write(
        &list,
        text.replace(
            "oci:../images/oci:klipper-lb:v0.4.13 ",
            "oci:../images/oci:klipper-helm:v0.9.5-build20250306 ",
        ),
    )
    .unwrap();
    let built = lab.build();
    let out = lab.out_dir();
    let strays = unsealed_blobs(&out);
    assert!(!strays.is_empty(), "{}", built.stderr);
    lab.seedforge().args(["verify", "fixtures/lab/out"]).run();
    let sums = fs::read_to_string(out.join("SHA256SUMS")).unwrap();
    let gc = lab.seedforge().args(["gc", "fixtures/lab/out"]).run();
    assert!(
        gc.stdout
            .contains(&format!("removed {} unreferenced blob(s)", strays.len())),
        "{}",
        gc.stdout
    );
    assert!(unsealed_blobs(&out).is_empty());
    assert_eq!(fs::read_to_string(out.join("SHA256SUMS")).unwrap(), sums);
    lab.seedforge().args(["verify", "fixtures/lab/out"]).run();

    // Across the gap: the delta, its apply, the far side's own build and receipt.
    lab.delta("r1.json", "d1").run();
    common::far_side(&far)
        .arg("apply")
        .arg(lab.root().join("d1"))
        .args(["--to", "fixtures/lab/out"])
        .run();
    crate::delta::assert_same_output(&far_out, &out);
    common::far_side(&far)
        .args([
            "build",
            "--offline",
            "--config",
            "fixtures/lab/seedforge.yaml",
        ])
        .run();
    crate::delta::assert_same_output(&far_out, &out);
    seedforge().args(["verify", "fixtures/lab/out"]).run();
    seedforge().args(["gc", "fixtures/lab/out"]).run();
    seedforge().args(["verify", "fixtures/lab/out"]).run();

    // The repair round: a blob lost on the far side is recorded, carried and put back.
    let sealed_blob = sums
        .lines()
        .find_map(|l| {
            l.split_once("  oci/blobs/sha256/")
                .map(|(_, b)| b.to_string())
        })
        .unwrap();
    fs::remove_file(far_out.join("oci/blobs/sha256").join(&sealed_blob)).unwrap();
    seedforge()
        .args([
            "receipt",
            "fixtures/lab/out",
            "-o",
            "../r2.json",
            "--record-damage",
        ])
        .run();
    lab.delta("r2.json", "d2").run();
    assert!(
        lab.root()
            .join("d2/out/oci/blobs/sha256")
            .join(&sealed_blob)
            .is_file()
    );
    common::far_side(&far)
        .arg("apply")
        .arg(lab.root().join("d2"))
        .args(["--to", "fixtures/lab/out"])
        .run();
    crate::delta::assert_same_output(&far_out, &out);
    seedforge()
        .args(["receipt", "fixtures/lab/out", "-o", "../r3.json"])
        .run();
}

/// An output sealed while its seal listed a stray (as older builds did): `gc` keeps what
/// `SHA256SUMS` lists, so `verify` still passes, and says so.
#[test]
fn gc_never_removes_a_sealed_file() {
    let lab = Lab::new();
    lab.build();
    let out = lab.out_dir();
    // A blob nothing reaches, listed in SHA256SUMS as an older seal would have listed it.
    let bytes = b"a blob nothing reaches";
    let hex = common::sha256_bytes(bytes);
    fs::write(out.join("oci/blobs/sha256").join(&hex), bytes).unwrap();
    let sums = out.join("SHA256SUMS");
    let mut lines: Vec<String> = fs::read_to_string(&sums)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    lines.push(format!("{hex}  oci/blobs/sha256/{hex}"));
    lines.sort_by(|a, b| a[66..].cmp(&b[66..]));
    fs::write(&sums, lines.join("\n") + "\n").unwrap();
    let gc = lab.seedforge().args(["gc", "fixtures/lab/out"]).run();
    assert!(
        gc.stdout.contains("kept 1 unreferenced blob(s)"),
        "{}",
        gc.stdout
    );
    assert!(out.join("oci/blobs/sha256").join(&hex).is_file());
}

/// Names under `dir`, recursively, relative, sorted.
fn tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            out.push(e.path().strip_prefix(dir).unwrap().display().to_string());
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            }
        }
    }
    out.sort();
    out
}

/// An Ed25519 key pair made by openssl in `dir`: (private, public).
pub(crate) fn key_pair(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let key = dir.join(format!("{name}.pem"));
    let public = dir.join(format!("{name}.pub"));
    Cmd::new("openssl")
        .args(["genpkey", "-algorithm", "ed25519", "-out"])
        .arg(&key)
        .run();
    Cmd::new("openssl")
        .args(["pkey", "-pubout", "-in"])
        .arg(&key)
        .arg("-out")
        .arg(&public)
        .run();
    (key, public)
}

/// The lab built twice signed with `seal.pem` (v1 without traefik, then v2 with a file of
/// a few parts), the far side a copy of v1, and v2's delta in parts with recovery files:
/// (lab, far side, delta, another key's public key, the delta's parts).
fn signed_delta_in_parts() -> (Lab, PathBuf, PathBuf, PathBuf, Vec<String>) {
    let lab = Lab::new();
    let sign = |lab: &Lab| {
        let config = lab.lab_dir().join("seedforge.yaml");
        let text = fs::read_to_string(&config).unwrap();
        fs::write(&config, format!("{text}\nseal:\n  key: seal.pem\n")).unwrap();
    };
    key_pair(&lab.lab_dir(), "seal");
    crate::delta::without_traefik(&lab);
    sign(&lab);
    lab.build();
    lab.receipt("v1.json").run();
    let far = lab.far_copy("far");
    crate::delta::as_shipped(&lab);
    sign(&lab);
    // v2 carries a file of a few parts.
    let mut x = 7u32;
    let blob: Vec<u8> = (0..3 << 20)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect();
    fs::write(lab.lab_dir().join("blob.bin"), &blob).unwrap();
    let config = lab.lab_dir().join("seedforge.yaml");
    let text = fs::read_to_string(&config).unwrap();
    fs::write(
        &config,
        format!(
            "{text}\nfiles:\n  - name: blob.bin\n    source: blob.bin\n    sha256: \"{}\"\n",
            common::sha256_bytes(&blob)
        ),
    )
    .unwrap();
    lab.build();
    lab.delta("v1.json", "d")
        .args(["--split", "1MiB", "--parity", "10"])
        .run();
    let d = lab.root().join("d");
    assert!(d.join("delta.par2").is_file());
    let (_, other) = key_pair(lab.root(), "other");
    let parts: Vec<String> = tree(&d)
        .into_iter()
        .filter(|n| n.contains(".part"))
        .collect();
    assert!(parts.len() >= 3, "{parts:?}");

    (lab, far, d, other, parts)
}

/// `verify --key OTHER --repair DELTA` with a part lost: the signature fails first, and
/// nothing is read of the recovery files or written.
#[test]
fn verify_key_repair_checks_the_signature_before_it_repairs() {
    if !common::require_tool("openssl") {
        return;
    }
    let (lab, _far, d, other, parts) = signed_delta_in_parts();
    // One part lost, another key: the signature fails first, nothing is written.
    fs::remove_file(d.join(&parts[1])).unwrap();
    let before = tree(&d);
    let out = Cmd::seedforge()
        .args(["verify", "--repair", "--key"])
        .arg(&other)
        .arg(&d)
        .any_status()
        .run();
    assert_ne!(out.code, Some(0), "{out:?}");
    assert!(out.stderr.contains("signature"), "{}", out.stderr);
    assert!(!out.stdout.contains("REPAIRED"), "{}", out.stdout);
    assert_eq!(tree(&d), before);

    // With the key that signed it: rebuilt, and the delta verifies.
    let sums = fs::read_to_string(d.join("SHA256SUMS")).unwrap();
    let out = Cmd::seedforge()
        .args(["verify", "--repair", "--key"])
        .arg(lab.lab_dir().join("seal.pub"))
        .arg(&d)
        .run();
    assert!(out.stdout.contains("REPAIRED"), "{}", out.stdout);
    assert!(d.join(&parts[1]).is_file());

    // The delta's SHA256SUMS saying another sha256 of a file under out/ than the signed
    // out/SHA256SUMS: not repaired.
    let signed = fs::read_to_string(d.join("out/SHA256SUMS")).unwrap();
    let (_, rel) = signed
        .lines()
        .map(|l| l.split_once("  ").unwrap())
        .find(|(_, p)| sums.contains(&format!("  out/{p}\n")))
        .unwrap();
    let changed: String = sums
        .lines()
        .map(|l| match l.split_once("  ") {
            Some((_, p)) if p == format!("out/{rel}") => format!("{}  {p}\n", "0".repeat(64)),
            _ => format!("{l}\n"),
        })
        .collect();
    fs::write(d.join("SHA256SUMS"), changed).unwrap();
    fs::remove_file(d.join(&parts[1])).unwrap();
    let out = Cmd::seedforge()
        .args(["verify", "--repair", "--key"])
        .arg(lab.lab_dir().join("seal.pub"))
        .arg(&d)
        .expect(1)
        .run();
    assert!(out.stderr.contains("not repaired"), "{}", out.stderr);
    assert!(!d.join(&parts[1]).exists());
}

/// `apply` of a delta with recovery files: a delta signed by a key the output does not
/// trust is refused though its recovery files could not rebuild it either (the refusal is
/// the signature's: the recovery files are not read); a trusted delta whose loss is beyond
/// its recovery files is refused before anything is copied, naming its own `delta.par2`.
#[test]
fn apply_trusts_a_delta_before_it_reads_its_recovery_files() {
    if !common::require_tool("openssl") {
        return;
    }
    let (_lab, far, d, other, parts) = signed_delta_in_parts();
    // Every part lost (beyond the recovery files), another key: refused as untrusted.
    for p in &parts {
        let _ = fs::remove_file(d.join(p));
    }
    let out_dir = far.join("fixtures/lab/out");
    let out = crate::delta::apply(&far, &d, "fixtures/lab/out")
        .arg("--key")
        .arg(&other)
        .any_status()
        .run();
    assert_ne!(out.code, Some(0), "{out:?}");
    assert!(out.stderr.contains("signature"), "{}", out.stderr);
    assert!(!out.stderr.contains("more needed"), "{}", out.stderr);
    assert!(crate::delta::leftovers_beside(&out_dir).is_empty());

    // Trusted (the key the output records), the loss beyond repair: named, with the
    // delta's own delta.par2, before anything is copied.
    let out = crate::delta::apply(&far, &d, "fixtures/lab/out")
        .expect(1)
        .run();
    assert!(
        out.stderr
            .contains(&d.join("delta.par2").display().to_string()),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("nothing was copied"), "{}", out.stderr);
    assert!(crate::delta::leftovers_beside(&out_dir).is_empty());
    seedforge_verify_unchanged(&far);
}

/// The far side's output checks as it was.
fn seedforge_verify_unchanged(far: &Path) {
    Cmd::seedforge()
        .cwd(far)
        .args(["verify", "fixtures/lab/out"])
        .run();
}

/// A delta whose `out/files` is a link to a folder outside, a part lost: `verify --repair`
/// follows no link, and nothing is written in that folder.
#[test]
fn verify_repair_of_a_delta_follows_no_link_out_of_it() {
    if !common::require_tool("openssl") {
        return;
    }
    let (lab, _far, d, _other, parts) = signed_delta_in_parts();
    let part = parts
        .iter()
        .find(|p| p.starts_with("out/files/"))
        .unwrap()
        .clone();
    let outside = lab.root().join("outside");
    fs::rename(d.join("out/files"), &outside).unwrap();
    std::os::unix::fs::symlink(&outside, d.join("out/files")).unwrap();
    let name = Path::new(&part).file_name().unwrap();
    fs::remove_file(outside.join(name)).unwrap();
    let before = tree(&outside);
    let out = Cmd::seedforge()
        .args(["verify", "--repair"])
        .arg(&d)
        .expect(1)
        .run();
    assert_eq!(tree(&outside), before, "{}", out.stdout);
    assert!(out.stderr.contains("symbolic link"), "{}", out.stderr);
}
