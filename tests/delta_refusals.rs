//! What `apply`, `receipt` and `delta` say and leave when they refuse or find damage: an
//! apply into a folder that is not an output leaves nothing there; a file given for the
//! output is exit 2 for all three; every message of apply names the operator's folders,
//! never the staging copies it builds in; damage found in the far side's derived files is
//! named file by file before they are written anew.

use crate::common::{Cmd, flip_byte, snapshot};
use crate::delta::{apply, day_two, leftovers_beside};
use std::fs;

#[test]
fn apply_into_an_empty_folder_is_exit_2_and_leaves_it_empty() {
    let (lab, _far) = day_two();
    let delta = lab.root().join("delta");
    let empty = lab.root().join("empty");
    fs::create_dir(&empty).unwrap();
    let r = apply(lab.root(), &delta, "empty").expect(2).run();
    assert!(r.stderr.contains("empty"), "{}", r.stderr);
    assert!(
        r.stderr.contains("not a sealed build output"),
        "{}",
        r.stderr
    );
    assert!(snapshot(&empty).is_empty(), "{:?}", snapshot(&empty).keys());
    assert!(
        leftovers_beside(&empty.join("x")).is_empty(),
        "{:?}",
        leftovers_beside(&empty.join("x"))
    );
}

#[test]
fn a_file_given_for_the_output_is_exit_2_for_apply_receipt_and_delta() {
    // The same exit and words for the three, and nothing written by any of them.
    let (lab, _far) = day_two();
    fs::write(lab.root().join("a-file"), "not an output\n").unwrap();
    let before = snapshot(lab.root());
    for args in [
        &["apply", "delta", "--to", "a-file"][..],
        &["receipt", "a-file", "-o", "r.json"],
        &["delta", "a-file", "--since", "v1.json", "-o", "d2"],
    ] {
        let r = lab.seedforge().args(args).expect(2).run();
        assert!(
            r.stderr
                .contains("a-file: is a file, not a build output folder"),
            "{args:?}: {}",
            r.stderr
        );
        let j = lab
            .seedforge()
            .arg("--json")
            .args(args)
            .expect(2)
            .run()
            .json();
        assert_eq!(j["error"]["code"], 2, "{args:?}: {j}");
    }
    crate::common::assert_same_tree(&before, &snapshot(lab.root()), "after the refusals");
}

#[test]
fn apply_names_the_operators_folders_never_its_staging_copies() {
    let (lab, far) = day_two();
    let delta = lab.root().join("delta");
    let token = far.join("fixtures/lab/token");
    let kept = fs::read(&token).unwrap();
    // The far side's token gone: the offline build in the staging copy fails on the config.
    fs::remove_file(&token).unwrap();
    let r = apply(&far, &delta, "fixtures/lab/out").expect(2).run();
    let said = format!("{}{}", r.stdout, r.stderr);
    assert!(
        said.contains("fixtures/lab/seedforge.yaml:") && said.contains("fixtures/lab/token"),
        "{said}"
    );
    assert!(!said.contains(".seedforge-"), "{said}");
    let j = apply(&far, &delta, "fixtures/lab/out")
        .arg("--json")
        .expect(2)
        .run()
        .json();
    let e = &j["error"];
    assert!(
        e["file"]
            .as_str()
            .unwrap()
            .ends_with("fixtures/lab/seedforge.yaml"),
        "{j}"
    );
    assert!(!j.to_string().contains(".seedforge-"), "{j}");
    // A rebuild that does not match the delta's seal names the output's file, never the
    // staging copy (tests/delta_date.rs: an older seedforge's delta under another date).
    fs::write(&token, &kept).unwrap();
    // With its own token, the same delta applies.
    apply(&far, &delta, "fixtures/lab/out").run();
}

#[test]
fn apply_names_each_damaged_derived_file_before_it_is_written_anew() {
    let (lab, far) = day_two();
    let delta = lab.root().join("delta");
    let out = far.join("fixtures/lab/out");
    flip_byte(&out.join("iso/seed-lab-agent1.iso"), 40_000);
    let registries = out.join("registries.yaml");
    let mut text = fs::read_to_string(&registries).unwrap();
    text.push_str("# edited on the far side\n");
    fs::write(&registries, text).unwrap();
    // Named as it is found, before the rebuild: an apply that then fails has said it.
    let token = far.join("fixtures/lab/token");
    let kept = fs::read(&token).unwrap();
    fs::write(&token, b"another-token-of-the-far-side-0123456789\n").unwrap();
    // Refused for the token (exit 2, before anything is staged), the damage said first.
    let r = apply(&far, &delta, "fixtures/lab/out").expect(2).run();
    assert!(
        r.stderr
            .contains("fixtures/lab/out/iso/seed-lab-agent1.iso: damaged here"),
        "{}",
        r.stderr
    );
    fs::write(&token, kept).unwrap();
    let r = apply(&far, &delta, "fixtures/lab/out").arg("--json").run();
    let j = r.json();
    assert_eq!(j["outcome"], "applied");
    assert_eq!(
        j["rebuilt_damaged"],
        serde_json::json!(["iso/seed-lab-agent1.iso", "registries.yaml"])
    );
    for rel in ["iso/seed-lab-agent1.iso", "registries.yaml"] {
        assert!(
            r.stderr
                .contains(&format!("fixtures/lab/out/{rel}: damaged here")),
            "{rel}: {}",
            r.stderr
        );
    }
    crate::delta::assert_same_output(&out, &lab.out_dir());
    // Applied again to an output that already is the delta's: nothing is rebuilt, and the
    // damage is named all the same.
    flip_byte(&out.join("iso/seed-lab-agent2.iso"), 40_000);
    let r = apply(&far, &delta, "fixtures/lab/out").run();
    assert!(r.stdout.contains("nothing to apply"), "{}", r.stdout);
    assert!(
        r.stderr.contains(
            "fixtures/lab/out/iso/seed-lab-agent2.iso: damaged here (it does not match SHA256SUMS); not rebuilt"
        ),
        "{}",
        r.stderr
    );
    // In the text output too; and an apply that finds no damage names none.
    let (lab, far) = day_two();
    let out = far.join("fixtures/lab/out");
    flip_byte(&out.join("nodes/lab-server1/meta-data"), 3);
    let r = apply(&far, &lab.root().join("delta"), "fixtures/lab/out").run();
    assert!(
        r.stderr
            .contains("fixtures/lab/out/nodes/lab-server1/meta-data: damaged here"),
        "{}",
        r.stderr
    );
    assert!(r.stdout.contains("applied"), "{}", r.stdout);
    let (lab, far) = day_two();
    let j = apply(&far, &lab.root().join("delta"), "fixtures/lab/out")
        .arg("--json")
        .run()
        .json();
    assert_eq!(j["rebuilt_damaged"], serde_json::json!([]));
    Cmd::seedforge()
        .cwd(&far)
        .args(["verify", "fixtures/lab/out"])
        .run();
}

#[test]
fn receipt_delta_and_apply_refuse_an_output_with_a_link_under_it() {
    let (lab, far) = day_two();
    let out = far.join("fixtures/lab/out");
    let copy = far.join("oci-elsewhere");
    fs::rename(out.join("oci"), &copy).unwrap();
    std::os::unix::fs::symlink(&copy, out.join("oci")).unwrap();
    let before = snapshot(&far);
    let receipt = Cmd::seedforge()
        .cwd(&far)
        .args(["receipt", "fixtures/lab/out", "-o", "r.json"])
        .expect(1)
        .run();
    let applied = apply(&far, &lab.root().join("delta"), "fixtures/lab/out")
        .expect(1)
        .run();
    for r in [&receipt, &applied] {
        assert!(
            r.stderr.contains("oci: a symbolic link"),
            "{}: {}",
            r.what,
            r.stderr
        );
    }
    crate::common::assert_same_tree(&before, &snapshot(&far), "after the refusals");
    // The near side's output the same: no delta from it.
    let near = lab.out_dir();
    let copy = lab.root().join("near-oci");
    fs::rename(near.join("oci"), &copy).unwrap();
    std::os::unix::fs::symlink(&copy, near.join("oci")).unwrap();
    let r = lab.delta("v1.json", "delta-2").expect(1).run();
    assert!(r.stderr.contains("oci: a symbolic link"), "{}", r.stderr);
    assert!(!lab.root().join("delta-2").exists());
}
