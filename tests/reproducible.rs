//! Reproducibility: the same inputs give the same bytes, wherever the output goes, and a
//! rebuild changes nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use crate::common;

use common::{Lab, assert_same_tree, snapshot};

#[test]
fn two_builds_into_different_output_dirs_give_byte_identical_oci_trees() {
    // Two separate copies of the fixtures, so even the absolute source paths differ.
    let one = Lab::new();
    let two = Lab::new();
    one.build();
    let other_out = two.root().join("elsewhere/out");
    two.seedforge()
        .args(["build", "--config", two.config_arg(), "--out"])
        .arg(&other_out)
        .run();
    let a = snapshot(&one.out_layout());
    let b = snapshot(&other_out.join("oci"));
    assert!(a.len() > 20, "suspiciously small layout: {:?}", a.keys());
    assert_same_tree(&a, &b, "two builds");
}

#[test]
fn repeated_builds_give_identical_bytes_whatever_order_copies_finish_in() {
    let lab = Lab::new();
    lab.build();
    let first = snapshot(&lab.out_layout());
    for i in 0..4 {
        let out = lab.root().join(format!("run{i}"));
        lab.seedforge()
            .args(["--quiet", "build", "--config", lab.config_arg(), "--out"])
            .arg(&out)
            .run();
        assert_same_tree(&first, &snapshot(&out.join("oci")), &format!("run {i}"));
    }
}

#[test]
fn rebuild_into_same_dir_is_a_noop_and_leaves_bytes_identical() {
    let lab = Lab::new();
    lab.build();
    let before = snapshot(&lab.out_dir());
    let out = lab
        .seedforge()
        .args(["--json", "build", "--config", lab.config_arg()])
        .run();
    let report = out.json();
    for image in report["images"].as_array().unwrap() {
        assert_eq!(
            image["blobs_written"], 0,
            "a rebuild wrote blobs for {image}"
        );
        assert_eq!(image["bytes_written"], 0, "{image}");
    }
    assert_same_tree(&before, &snapshot(&lab.out_dir()), "rebuild");
}
