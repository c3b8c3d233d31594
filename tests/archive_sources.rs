//! docker-archive and oci-archive sources, judged by skopeo and umoci after mirroring.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use crate::common;

use common::{Cmd, Lab, require_tool, skopeo_inspect, write_list};
use std::fs;
use std::path::PathBuf;
use std::time::Duration;

const BUSYBOX: &str = "docker.io/rancher/mirrored-library-busybox:1.36.1";
const TRAEFIK: &str = "docker.io/rancher/mirrored-library-traefik:3.3.6";

fn mirror_archives(lab: &Lab) -> PathBuf {
    let list = lab.root().join("archives.txt");
    write_list(
        &list,
        &[
            format!(
                "docker-archive:fixtures/images/busybox.docker.tar:rancher/mirrored-library-busybox:1.36.1 {BUSYBOX}"
            ),
            format!("oci-archive:fixtures/images/traefik.oci.tar {TRAEFIK}"),
        ],
    );
    let layout = lab.root().join("layout");
    lab.seedforge()
        .args(["mirror", "--images"])
        .arg(&list)
        .arg("--layout")
        .arg(&layout)
        .run();
    layout
}

#[test]
fn docker_archive_source_inspects_with_skopeo_after_mirror() {
    let lab = Lab::new();
    let layout = mirror_archives(&lab);
    if !require_tool("skopeo") {
        return;
    }
    let info = skopeo_inspect(&layout, BUSYBOX, &[]);
    assert_eq!(info["Architecture"], "amd64");
    assert_eq!(info["Os"], "linux");
    assert_eq!(info["Layers"].as_array().unwrap().len(), 1, "{info}");
}

#[test]
fn oci_archive_source_keeps_manifest_digest_and_inspects_with_skopeo() {
    let lab = Lab::new();
    let layout = mirror_archives(&lab);
    let entry = common::index_entry(&layout, TRAEFIK);
    assert_eq!(
        entry["digest"],
        "sha256:62b66b233ac2f4c4dec5da040361e2311cf4e5351ca7ac949125cb21f117d19d"
    );
    if !require_tool("skopeo") {
        return;
    }
    let info = skopeo_inspect(&layout, TRAEFIK, &[]);
    assert_eq!(info["Architecture"], "amd64");
}

#[test]
fn docker_archive_source_unpacks_with_umoci_and_yields_its_files() {
    let lab = Lab::new();
    let layout = mirror_archives(&lab);
    if !require_tool("umoci") {
        return;
    }
    let bundle = lab.root().join("bundle");
    Cmd::new("umoci")
        .args(["unpack", "--rootless", "--image"])
        .arg(format!("{}:{BUSYBOX}", layout.display()))
        .arg(&bundle)
        .timeout(Duration::from_secs(60))
        .run();
    let rootfs = bundle.join("rootfs");
    let version =
        fs::read_to_string(rootfs.join("usr/share/mirrored-library-busybox/VERSION")).unwrap();
    assert_eq!(version.trim(), "1.36.1");
    let source =
        fs::read_to_string(rootfs.join("usr/share/mirrored-library-busybox/SOURCE")).unwrap();
    assert_eq!(source.trim(), BUSYBOX);
    assert!(rootfs.join("etc/os-release").is_file());
}

#[test]
fn oci_archive_source_unpacks_with_umoci_and_yields_its_files() {
    let lab = Lab::new();
    let layout = mirror_archives(&lab);
    if !require_tool("umoci") {
        return;
    }
    let bundle = lab.root().join("bundle");
    Cmd::new("umoci")
        .args(["unpack", "--rootless", "--image"])
        .arg(format!("{}:{TRAEFIK}", layout.display()))
        .arg(&bundle)
        .timeout(Duration::from_secs(60))
        .run();
    let version =
        fs::read_to_string(bundle.join("rootfs/usr/share/mirrored-library-traefik/VERSION"))
            .unwrap();
    assert_eq!(version.trim(), "3.3.6");
}
