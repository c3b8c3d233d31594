//! The offline demo: `seedforge build --config fixtures/lab/seedforge.yaml` and the real
//! tools (skopeo, oci-image-tool) that judge what it wrote.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use crate::common;

use common::{Cmd, Lab, index_names, read_json, require_tool, skopeo_inspect};
use std::time::Duration;

#[test]
fn demo_build_succeeds_and_every_image_inspects_as_amd64_with_skopeo() {
    let lab = Lab::new();
    lab.build();
    let layout = lab.out_layout();
    assert!(layout.join("oci-layout").is_file());
    if !require_tool("skopeo") {
        return;
    }
    let destinations = lab.lab_destinations();
    assert_eq!(destinations.len(), 8);
    for name in &destinations {
        let info = skopeo_inspect(&layout, name, &[]);
        assert_eq!(info["Architecture"], "amd64", "{name}: {info}");
        assert_eq!(info["Os"], "linux", "{name}: {info}");
    }
}

#[test]
fn demo_build_layout_passes_oci_image_tool_validate() {
    let lab = Lab::new();
    lab.build();
    if !require_tool("oci-image-tool") {
        return;
    }
    // Its --ref filter is broken (ORACLES.md): validate the whole layout.
    let out = Cmd::new("oci-image-tool")
        .args(["validate", "--type", "image"])
        .arg(lab.out_layout())
        .timeout(Duration::from_secs(60))
        .run();
    let all = format!("{}{}", out.stdout, out.stderr);
    assert!(
        all.contains("Validation succeeded"),
        "oci-image-tool did not report success:\n{all}"
    );
}

#[test]
fn demo_build_pause_copies_to_oci_archive_with_skopeo() {
    let lab = Lab::new();
    lab.build();
    if !require_tool("skopeo") {
        return;
    }
    let archive = lab.root().join("p.tar");
    Cmd::new("skopeo")
        .arg("copy")
        .arg(format!(
            "oci:{}:docker.io/rancher/mirrored-pause:3.6",
            lab.out_layout().display()
        ))
        .arg(format!("oci-archive:{}", archive.display()))
        .timeout(Duration::from_secs(60))
        .run();
    assert!(archive.is_file());
    let out = Cmd::new("skopeo")
        .arg("inspect")
        .arg(format!("oci-archive:{}", archive.display()))
        .timeout(Duration::from_secs(60))
        .run();
    assert_eq!(out.json()["Architecture"], "amd64");
}

#[test]
fn demo_build_json_output_lists_eight_images() {
    let lab = Lab::new();
    let out = lab
        .seedforge()
        .args(["--json", "build", "--config", lab.config_arg()])
        .run();
    let report = out.json();
    let images = report["images"].as_array().expect("images array");
    assert_eq!(images.len(), 8, "{report}");
    let mut listed: Vec<String> = images
        .iter()
        .map(|i| i["destination"].as_str().unwrap().to_string())
        .collect();
    let mut expected = lab.lab_destinations();
    listed.sort();
    expected.sort();
    assert_eq!(listed, expected);
    for i in images {
        assert!(i["digest"].as_str().unwrap().starts_with("sha256:"), "{i}");
    }
    assert_eq!(report["verify"]["problems"].as_array().unwrap().len(), 0);
}

#[test]
fn demo_build_index_entries_carry_both_name_annotations_with_full_reference() {
    let lab = Lab::new();
    lab.build();
    let index = read_json(&lab.out_layout().join("index.json"));
    let entries = index["manifests"].as_array().unwrap();
    assert_eq!(entries.len(), 8);
    for e in entries {
        let oci = e["annotations"]["org.opencontainers.image.ref.name"]
            .as_str()
            .unwrap_or_else(|| panic!("entry without ref.name: {e}"));
        let containerd = e["annotations"]["io.containerd.image.name"]
            .as_str()
            .unwrap_or_else(|| panic!("entry without io.containerd.image.name: {e}"));
        assert_eq!(oci, containerd);
        assert!(
            oci.starts_with("docker.io/rancher/"),
            "not a full reference: {oci}"
        );
    }
    let mut names = index_names(&lab.out_layout());
    let mut expected = lab.lab_destinations();
    names.sort();
    expected.sort();
    assert_eq!(names, expected);
}
