//! Platform selection with `seedforge mirror --platform`: keeping every platform stores the
//! index byte for byte (so do `all` and comma lists); keeping some writes a smaller index
//! whose blobs are all present.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use crate::common;

use common::{
    Cmd, Lab, blob_path, files_under, index_entry, read_json, require_tool, skopeo_inspect,
    write_list,
};
use std::path::{Path, PathBuf};
use std::time::Duration;

const PAUSE: &str = "docker.io/rancher/mirrored-pause:3.6";

/// A list file in the lab root naming only the pause image (an index: amd64 + arm64/v8).
fn pause_list(lab: &Lab) -> PathBuf {
    let list = lab.root().join("pause.txt");
    write_list(
        &list,
        &[format!(
            "oci:fixtures/images/oci:mirrored-pause:3.6 {PAUSE}"
        )],
    );
    list
}

fn mirror(lab: &Lab, list: &Path, layout: &Path, platforms: &[&str]) -> Cmd {
    let mut cmd = lab
        .seedforge()
        .args(["mirror", "--images"])
        .arg(list)
        .arg("--layout")
        .arg(layout);
    for p in platforms {
        cmd = cmd.args(["--platform", p]);
    }
    cmd
}

/// The pause index digest recorded in the fixture layout's own index.json.
fn fixture_pause_digest(lab: &Lab) -> String {
    let index = read_json(&lab.root().join("fixtures/images/oci/index.json"));
    index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == "mirrored-pause:3.6")
        .unwrap()["digest"]
        .as_str()
        .unwrap()
        .to_string()
}

/// `skopeo copy --all` out of the layout: fails if any blob an index references is missing.
fn skopeo_copy_all(layout: &Path, dest: &Path) {
    Cmd::new("skopeo")
        .args(["copy", "--all"])
        .arg(format!("oci:{}:{PAUSE}", layout.display()))
        .arg(format!("oci:{}:p", dest.display()))
        .timeout(Duration::from_secs(60))
        .run();
}

#[test]
fn mirror_keeping_all_platforms_stores_index_byte_identical() {
    let lab = Lab::new();
    let list = pause_list(&lab);
    let layout = lab.root().join("layout");
    mirror(&lab, &list, &layout, &["linux/amd64", "linux/arm64"]).run();
    assert_whole_index_kept(&lab, &layout);
}

/// `--platform` as crane and buildx take it: a comma list, and `all` (every platform of
/// the index, as `skopeo copy --all`), each keeps the two-platform index byte for byte.
#[test]
fn mirror_platform_comma_list_and_all_keep_every_platform() {
    let lab = Lab::new();
    let list = pause_list(&lab);
    for (i, spelling) in [
        &["linux/amd64,linux/arm64"][..],
        &["all"],
        &["linux/arm64", "all"],
    ]
    .into_iter()
    .enumerate()
    {
        let layout = lab.root().join(format!("layout{i}"));
        mirror(&lab, &list, &layout, spelling).run();
        assert_whole_index_kept(&lab, &layout);
    }
    // An empty element is a typo, not "no platform": usage error, nothing written.
    let layout = lab.root().join("typo");
    let out = mirror(&lab, &list, &layout, &["linux/amd64,"])
        .expect(2)
        .run();
    assert!(out.stderr.contains("--platform"), "{}", out.stderr);
    assert!(!layout.exists());
}

/// The layout names the fixture's pause index itself, with every blob it references;
/// skopeo reads both platforms out of it.
fn assert_whole_index_kept(lab: &Lab, layout: &Path) {
    let want = fixture_pause_digest(lab);
    let entry = index_entry(layout, PAUSE);
    assert_eq!(entry["digest"], want.as_str());
    assert_eq!(
        std::fs::read(blob_path(layout, &want)).unwrap(),
        std::fs::read(blob_path(&lab.root().join("fixtures/images/oci"), &want)).unwrap()
    );
    if !require_tool("skopeo") {
        return;
    }
    skopeo_copy_all(layout, &lab.root().join("x"));
    for arch in ["amd64", "arm64"] {
        let info = skopeo_inspect(layout, PAUSE, &["--override-arch", arch]);
        assert_eq!(info["Architecture"], arch);
    }
}

#[test]
fn mirror_keeping_only_arm64_stores_smaller_index_with_all_blobs_present() {
    let lab = Lab::new();
    let list = pause_list(&lab);
    let layout = lab.root().join("layout");
    mirror(&lab, &list, &layout, &["linux/arm64"]).run();
    let entry = index_entry(&layout, PAUSE);
    let digest = entry["digest"].as_str().unwrap();
    assert_ne!(
        digest,
        fixture_pause_digest(&lab),
        "the index was not filtered"
    );
    assert_eq!(
        entry["mediaType"],
        "application/vnd.oci.image.index.v1+json"
    );
    let stored = read_json(&blob_path(&layout, digest));
    let manifests = stored["manifests"].as_array().unwrap();
    assert_eq!(manifests.len(), 1, "{stored}");
    assert_eq!(manifests[0]["platform"]["architecture"], "arm64");
    assert_eq!(manifests[0]["platform"]["os"], "linux");
    // The amd64 manifest was not copied.
    let amd64 = "sha256:272aec7ec0209a52c148c35c50647b5bad0a602e5b9e2a81c3cf94cf88d4eb10";
    assert!(!blob_path(&layout, amd64).exists());
    if !require_tool("skopeo") {
        return;
    }
    let info = skopeo_inspect(&layout, PAUSE, &["--override-arch", "arm64"]);
    assert_eq!(info["Architecture"], "arm64");
    skopeo_copy_all(&layout, &lab.root().join("x"));
}

#[test]
fn mirror_with_platform_no_image_has_exits_2_naming_image_and_available_platforms() {
    let lab = Lab::new();
    let list = pause_list(&lab);
    let layout = lab.root().join("layout");
    let out = mirror(&lab, &list, &layout, &["linux/s390x"])
        .expect(2)
        .run();
    for needle in [PAUSE, "linux/s390x", "linux/amd64", "linux/arm64"] {
        assert!(
            out.stderr.contains(needle),
            "stderr does not mention {needle}:\n{}",
            out.stderr
        );
    }
    // Whatever the directory holds, no image is named and no blob was stored.
    if layout.join("index.json").exists() {
        assert!(common::index_names(&layout).is_empty());
    }
    assert!(files_under(&layout.join("blobs")).is_empty());
}

/// `seedforge airgap --platform` takes the same spellings: a comma list and `all` write
/// the same archive, byte for byte, as the repeated flag, and skopeo reads both platforms
/// of the pause index out of it.
#[test]
fn airgap_platform_comma_list_and_all_match_repeated_flags() {
    let lab = Lab::new();
    let list = pause_list(&lab);
    let layout = lab.root().join("layout");
    mirror(&lab, &list, &layout, &["all"]).run();
    let airgap = |name: &str, platforms: &[&str]| {
        let out = lab.root().join(name);
        let mut cmd = lab
            .seedforge()
            .args(["airgap", "--layout"])
            .arg(&layout)
            .arg("--out")
            .arg(&out)
            .env("SOURCE_DATE_EPOCH", "1700000000");
        for p in platforms {
            cmd = cmd.args(["--platform", p]);
        }
        cmd.run();
        std::fs::read(out).unwrap()
    };
    let repeated = airgap("repeated.tar", &["linux/amd64", "linux/arm64"]);
    assert!(airgap("comma.tar", &["linux/amd64,linux/arm64"]) == repeated);
    assert!(airgap("all.tar", &["all"]) == repeated);
    assert!(airgap("amd64.tar", &["linux/amd64"]) != repeated);
    if !require_tool("skopeo") {
        return;
    }
    for arch in ["amd64", "arm64"] {
        let out = Cmd::new("skopeo")
            .args(["inspect", "--override-arch", arch])
            .arg(format!(
                "oci-archive:{}:{PAUSE}",
                lab.root().join("all.tar").display()
            ))
            .timeout(Duration::from_secs(60))
            .run();
        assert_eq!(out.json()["Architecture"], arch);
    }
}
