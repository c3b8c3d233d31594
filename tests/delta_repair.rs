//! Repair offline: a receipt of a damaged far side (`receipt --record-damage`) records what
//! is missing or wrong, a delta against it carries what cannot be rebuilt, and `apply` makes
//! the output whole, byte for byte the near side's, with no network.

use crate::common::{self, Cmd, Lab, flip_byte};
use std::fs;

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
