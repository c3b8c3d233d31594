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
