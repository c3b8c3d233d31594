//! A damaged blob in a built layout: `seedforge verify` must fail, name the blob and every
//! image that uses it, in text and in `--json`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use crate::common;

use common::{Cmd, Lab, blob_path, flip_byte, index_entry, read_json, require_tool};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;
use std::time::Duration;

/// For every blob reachable from index.json: the image names that reach it, and whether it
/// is a layer, config, manifest or index. Computed here, independently of seedforge.
fn blob_users(layout: &Path) -> BTreeMap<String, (String, BTreeSet<String>)> {
    fn visit(
        layout: &Path,
        d: &Value,
        image: &str,
        kind: &str,
        out: &mut BTreeMap<String, (String, BTreeSet<String>)>,
    ) {
        let digest = d["digest"].as_str().unwrap().to_string();
        out.entry(digest.clone())
            .or_insert_with(|| (kind.to_string(), BTreeSet::new()))
            .1
            .insert(image.to_string());
        if kind != "manifest" && kind != "index" {
            return;
        }
        let doc = read_json(&blob_path(layout, &digest));
        if let Some(children) = doc["manifests"].as_array() {
            for c in children {
                visit(layout, c, image, "manifest", out);
            }
        }
        if doc["config"].is_object() {
            visit(layout, &doc["config"], image, "config", out);
        }
        if let Some(layers) = doc["layers"].as_array() {
            for l in layers {
                visit(layout, l, image, "layer", out);
            }
        }
    }
    let index = read_json(&layout.join("index.json"));
    let mut out = BTreeMap::new();
    for entry in index["manifests"].as_array().unwrap() {
        let name = entry["annotations"]["org.opencontainers.image.ref.name"]
            .as_str()
            .unwrap();
        let kind = if entry["mediaType"] == "application/vnd.oci.image.index.v1+json" {
            "index"
        } else {
            "manifest"
        };
        visit(layout, entry, name, kind, &mut out);
    }
    out
}

/// The layer used by the most images (the fixtures' shared base layer).
fn shared_base_layer(layout: &Path) -> (String, BTreeSet<String>) {
    let users = blob_users(layout);
    let (digest, (_, images)) = users
        .iter()
        .filter(|(_, (kind, _))| kind == "layer")
        .max_by_key(|(_, (_, images))| images.len())
        .unwrap();
    assert!(
        images.len() >= 3,
        "expected a base layer shared by several images, found {images:?}"
    );
    (digest.clone(), images.clone())
}

/// Runs `verify` (text and JSON) on a damaged layout and checks both name `digest`, every
/// image in `images`, and a problem of kind `kind`.
fn assert_verify_reports(lab: &Lab, digest: &str, images: &BTreeSet<String>, kind: &str) {
    let out = lab
        .seedforge()
        .arg("verify")
        .arg(lab.out_dir())
        .expect(1)
        .run();
    assert!(
        out.stderr.contains(digest),
        "verify's stderr does not name {digest}:\n{}",
        out.stderr
    );
    let line = out
        .stderr
        .lines()
        .find(|l| l.contains(digest))
        .unwrap()
        .to_string();
    for image in images {
        assert!(
            line.contains(image.as_str()),
            "verify's report for {digest} does not name {image}:\n{line}"
        );
    }
    assert!(
        out.stdout.contains("1 problem(s)") || out.stderr.contains("1 problem(s)"),
        "verify does not count one problem:\n{}{}",
        out.stdout,
        out.stderr
    );

    let out = lab
        .seedforge()
        .args(["--json", "verify"])
        .arg(lab.out_dir())
        .expect(1)
        .run();
    let report = out.json();
    let problems = report["problems"].as_array().unwrap();
    let p = problems
        .iter()
        .find(|p| p["digest"] == digest)
        .unwrap_or_else(|| panic!("--json verify does not list {digest}: {report}"));
    assert_eq!(p["problem"]["kind"], kind, "{p}");
    let listed: BTreeSet<String> = p["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i.as_str().unwrap().to_string())
        .collect();
    assert_eq!(&listed, images, "images using {digest}");
}

#[test]
fn verify_fails_naming_shared_base_layer_and_all_its_images_when_one_byte_flips() {
    let lab = Lab::new();
    lab.build();
    let layout = lab.out_layout();
    let (digest, images) = shared_base_layer(&layout);
    let path = blob_path(&layout, &digest);
    let len = fs::metadata(&path).unwrap().len() as usize;
    flip_byte(&path, len / 2);
    assert_verify_reports(&lab, &digest, &images, "digest_mismatch");
}

#[test]
fn verify_fails_naming_config_blob_when_one_byte_flips() {
    let lab = Lab::new();
    lab.build();
    let layout = lab.out_layout();
    let users = blob_users(&layout);
    let (digest, (_, images)) = users
        .iter()
        .find(|(_, (kind, _))| kind == "config")
        .unwrap();
    flip_byte(&blob_path(&layout, digest), 5);
    assert_verify_reports(&lab, digest, images, "digest_mismatch");
}

#[test]
fn verify_fails_naming_manifest_blob_when_one_byte_flips() {
    let lab = Lab::new();
    lab.build();
    let layout = lab.out_layout();
    let name = "docker.io/rancher/klipper-lb:v0.4.13";
    let digest = index_entry(&layout, name)["digest"]
        .as_str()
        .unwrap()
        .to_string();
    // Flip a byte inside a digest string so the manifest still parses as JSON.
    let path = blob_path(&layout, &digest);
    let text = fs::read_to_string(&path).unwrap();
    let at = text.find("sha256:").unwrap() + "sha256:".len() + 3;
    flip_byte(&path, at);
    let images: BTreeSet<String> = [name.to_string()].into();
    assert_verify_reports(&lab, &digest, &images, "digest_mismatch");
}

#[test]
fn verify_fails_naming_image_index_blob_when_one_byte_flips() {
    let lab = Lab::new();
    lab.build();
    let layout = lab.out_layout();
    let name = "docker.io/rancher/mirrored-pause:3.6";
    let digest = index_entry(&layout, name)["digest"]
        .as_str()
        .unwrap()
        .to_string();
    flip_byte(&blob_path(&layout, &digest), 0);
    let images: BTreeSet<String> = [name.to_string()].into();
    assert_verify_reports(&lab, &digest, &images, "digest_mismatch");
}

#[test]
fn verify_reports_size_mismatch_for_truncated_blob() {
    let lab = Lab::new();
    lab.build();
    let layout = lab.out_layout();
    let (digest, images) = shared_base_layer(&layout);
    let path = blob_path(&layout, &digest);
    let len = fs::metadata(&path).unwrap().len();
    fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    assert_verify_reports(&lab, &digest, &images, "size_mismatch");
    // The independent judge agrees that the layout is broken.
    if require_tool("oci-image-tool") {
        let out = Cmd::new("oci-image-tool")
            .args(["validate", "--type", "image"])
            .arg(&layout)
            .any_status()
            .timeout(Duration::from_secs(60))
            .run();
        let all = format!("{}{}", out.stdout, out.stderr);
        assert!(
            out.code != Some(0) && !all.contains("Validation succeeded"),
            "oci-image-tool accepted a truncated blob:\n{all}"
        );
    }
}

#[test]
fn verify_reports_missing_for_deleted_blob() {
    let lab = Lab::new();
    lab.build();
    let layout = lab.out_layout();
    let (digest, images) = shared_base_layer(&layout);
    fs::remove_file(blob_path(&layout, &digest)).unwrap();
    assert_verify_reports(&lab, &digest, &images, "missing");
}

#[test]
fn verify_of_intact_build_reports_no_problems() {
    let lab = Lab::new();
    lab.build();
    let out = lab.seedforge().arg("verify").arg(lab.out_dir()).run();
    assert!(
        out.stdout.contains("0 problem(s), 0 stray(s)"),
        "{}",
        out.stdout
    );
    let report = lab
        .seedforge()
        .args(["--json", "verify"])
        .arg(lab.out_dir())
        .run()
        .json();
    assert_eq!(report["problems"].as_array().unwrap().len(), 0);
    assert_eq!(report["images"].as_array().unwrap().len(), 8);
}

#[test]
fn verify_of_a_layout_without_its_blob_folder_reports_each_image_missing_by_its_path() {
    let lab = Lab::new();
    lab.build();
    let layout = lab.out_layout();
    let index: serde_json::Value =
        serde_json::from_slice(&fs::read(layout.join("index.json")).unwrap()).unwrap();
    let tops: BTreeSet<String> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["digest"].as_str().unwrap().to_string())
        .collect();
    fs::remove_dir_all(layout.join("blobs/sha256")).unwrap();
    let report = lab
        .seedforge()
        .args(["--json", "verify"])
        .arg(lab.out_dir())
        .expect(1)
        .run()
        .json();
    let missing: BTreeSet<String> = report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .inspect(|p| {
            assert_eq!(p["problem"]["kind"], "missing", "{p}");
            let hex = p["digest"].as_str().unwrap().trim_start_matches("sha256:");
            let path = layout.join("blobs/sha256").join(hex);
            assert_eq!(p["path"].as_str().unwrap(), path.to_str().unwrap(), "{p}");
        })
        .map(|p| p["digest"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(missing, tops, "{report}");
    assert!(report["strays_unknown"].is_string(), "{report}");
}
