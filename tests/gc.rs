//! Unreferenced blobs: `verify` reports them without failing; `gc` removes them and leaves
//! every image intact.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use crate::common;

use common::{Lab, files_under, require_tool, sha256_bytes, skopeo_inspect};
use std::fs;

#[test]
fn verify_reports_stray_blob_without_failing_and_gc_removes_it() {
    let lab = Lab::new();
    lab.build();
    let layout = lab.out_layout();
    let blobs_before = files_under(&layout.join("blobs"));

    let content = b"a blob nothing references\n";
    let stray = layout.join("blobs/sha256").join(sha256_bytes(content));
    fs::write(&stray, content).unwrap();

    let out = lab.seedforge().arg("verify").arg(lab.out_dir()).run();
    assert!(
        out.stderr
            .contains(&stray.file_name().unwrap().to_string_lossy().to_string()),
        "verify does not name the stray:\n{}",
        out.stderr
    );
    assert!(out.stdout.contains("1 stray(s)"), "{}", out.stdout);
    assert!(out.stdout.contains("0 problem(s)"), "{}", out.stdout);
    let report = lab
        .seedforge()
        .args(["--json", "verify"])
        .arg(lab.out_dir())
        .run()
        .json();
    let strays: Vec<&str> = report["strays"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert_eq!(strays.len(), 1, "{report}");
    assert!(strays[0].ends_with(&sha256_bytes(content)), "{report}");

    let gc = lab
        .seedforge()
        .args(["--json", "gc"])
        .arg(lab.out_dir())
        .run()
        .json();
    assert_eq!(gc["removed"].as_array().unwrap().len(), 1, "{gc}");
    assert_eq!(gc["bytes_freed"], content.len());
    assert!(!stray.exists());
    assert_eq!(files_under(&layout.join("blobs")), blobs_before);

    let report = lab
        .seedforge()
        .args(["--json", "verify"])
        .arg(lab.out_dir())
        .run()
        .json();
    assert!(report["strays"].as_array().unwrap().is_empty(), "{report}");
    assert!(
        report["problems"].as_array().unwrap().is_empty(),
        "{report}"
    );
    assert!(
        report["stale_temp"].as_array().unwrap().is_empty(),
        "{report}"
    );

    if !require_tool("skopeo") {
        return;
    }
    for name in lab.lab_destinations() {
        let info = skopeo_inspect(&layout, &name, &[]);
        assert_eq!(info["Architecture"], "amd64", "{name}");
    }
}

#[test]
fn gc_on_clean_layout_removes_nothing() {
    let lab = Lab::new();
    lab.build();
    let before = common::snapshot(&lab.out_dir());
    let out = lab.seedforge().arg("gc").arg(lab.out_dir()).run();
    assert!(out.stdout.contains("removed 0"), "{}", out.stdout);
    common::assert_same_tree(&before, &common::snapshot(&lab.out_dir()), "gc");
}

#[test]
fn gc_accepts_layout_dir_directly_and_removes_stray() {
    let lab = Lab::new();
    lab.build();
    let layout = lab.out_layout();
    let content = b"another stray\n";
    let stray = layout.join("blobs/sha256").join(sha256_bytes(content));
    fs::write(&stray, content).unwrap();
    lab.seedforge().arg("gc").arg(&layout).run();
    assert!(!stray.exists());
    lab.seedforge().arg("verify").arg(&layout).run();
}

/// A manifest that no longer parses hides what it references; gc must not take that as
/// "unreferenced" and delete the image's config and layers (index.json still names it).
#[test]
fn gc_never_deletes_blobs_of_an_image_whose_manifest_is_damaged() {
    let lab = Lab::new();
    lab.build();
    let layout = lab.out_layout();
    let name = "docker.io/rancher/klipper-lb:v0.4.13";
    let digest = common::index_entry(&layout, name)["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let manifest = common::blob_path(&layout, &digest);
    let mut bytes = fs::read(&manifest).unwrap();
    bytes[0] = b'x'; // no longer JSON
    fs::write(&manifest, bytes).unwrap();
    let before = files_under(&layout.join("blobs"));

    lab.seedforge()
        .arg("verify")
        .arg(lab.out_dir())
        .expect(1)
        .run();
    let gc = lab
        .seedforge()
        .arg("gc")
        .arg(lab.out_dir())
        .any_status()
        .run();
    let after = files_under(&layout.join("blobs"));
    let deleted: Vec<_> = before.iter().filter(|p| !after.contains(p)).collect();
    assert!(
        deleted.is_empty(),
        "gc (exit {:?}) deleted blobs of {name}, which index.json still names: {deleted:?}\n{}{}",
        gc.code,
        gc.stdout,
        gc.stderr
    );
}
