//! Local image sources (`oci:`, `oci-archive:`, `docker-archive:`) are checked whole
//! before anything is written: a blob an image needs that is missing, a FIFO, a folder, or
//! (in an archive) a hard or symbolic link entry is exit 2 naming the image list's line,
//! for `build` and `mirror` alike, and the tree is byte-for-byte unchanged (an absent
//! output folder stays absent).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use crate::common;

use common::{Cmd, Lab, assert_same_tree, list_lines, read_json, snapshot};
use serde_json::Value;
use std::fs;
use std::path::{Path, PathBuf};

/// The image list of the lab, relative to the lab root.
const LIST: &str = "fixtures/lab/images.txt";

/// The line of the lab's list whose source holds `needle`.
fn line_of(lab: &Lab, needle: &str) -> usize {
    list_lines(&lab.root().join(LIST))
        .into_iter()
        .find(|(_, fields)| fields[0].contains(needle))
        .map(|(line, _)| line)
        .unwrap()
}

/// The linux/amd64 manifest reached from `d` in the layout at `dir`.
fn amd64_manifest(dir: &Path, d: &Value) -> Value {
    let blob = |d: &Value| {
        let digest = d["digest"].as_str().unwrap().trim_start_matches("sha256:");
        read_json(&dir.join("blobs/sha256").join(digest))
    };
    let doc = blob(d);
    match doc["manifests"].as_array() {
        Some(children) => {
            let child = children
                .iter()
                .find(|c| c["platform"]["architecture"] == "amd64")
                .unwrap_or(&children[0]);
            amd64_manifest(dir, child)
        }
        None => doc,
    }
}

/// The path of the first layer blob of the image named `name` (or the only one) in the
/// layout at `dir`.
fn first_layer(dir: &Path, name: Option<&str>) -> PathBuf {
    let index = read_json(&dir.join("index.json"));
    let entries = index["manifests"].as_array().unwrap();
    let entry = match name {
        Some(n) => entries
            .iter()
            .find(|e| e["annotations"]["org.opencontainers.image.ref.name"] == n)
            .unwrap(),
        None => &entries[0],
    };
    let manifest = amd64_manifest(dir, entry);
    let digest = manifest["layers"][0]["digest"].as_str().unwrap();
    dir.join("blobs/sha256")
        .join(digest.trim_start_matches("sha256:"))
}

/// Runs `sh -c SCRIPT` in `dir`.
fn sh(dir: &Path, script: &str) {
    Cmd::new("sh").arg("-c").arg(script).cwd(dir).run();
}

/// Runs `build` and `plan` (into the lab's absent output folder, and over a good build's
/// output) and `mirror` (into an absent layout, and into a layout mirrored before the
/// damage): each must exit 2 naming `images.txt:LINE` and `what`, and change nothing.
fn assert_refused(lab: &Lab, line: usize, what: &str, damage: &dyn Fn(&Lab)) {
    const CONFIG: &str = "fixtures/lab/seedforge.yaml";
    // A good output and a good layout, made before the damage.
    lab.seedforge()
        .args(["build", "--config", CONFIG, "--out", "earlier-out"])
        .run();
    lab.seedforge()
        .args(["mirror", "--images", LIST, "--layout", "earlier"])
        .run();
    damage(lab);
    let at = format!("images.txt:{line}: ");
    let runs = [
        vec!["build", "--config", CONFIG],
        vec!["plan", "--config", CONFIG],
        vec!["build", "--config", CONFIG, "--out", "earlier-out"],
        vec!["mirror", "--images", LIST, "--layout", "layout"],
        vec!["mirror", "--images", LIST, "--layout", "earlier"],
    ];
    for args in runs {
        let before = snapshot(lab.root());
        let out = lab.seedforge().args(&args).any_status().run();
        assert_eq!(out.code, Some(2), "{args:?}: exit 2\n{}", out.stderr);
        assert!(
            out.stderr.contains(&at) && out.stderr.contains(what),
            "{args:?}: {at:?} and {what:?} in\n{}",
            out.stderr
        );
        assert_same_tree(&before, &snapshot(lab.root()), &format!("{args:?}"));
    }
    assert!(!lab.out_dir().exists(), "no output folder");
    assert!(!lab.root().join("layout").exists(), "no layout");
}

#[test]
fn a_missing_layer_blob_of_an_oci_source_is_refused_at_its_line() {
    let lab = Lab::new();
    let line = line_of(&lab, "oci:../images/oci:mirrored-pause");
    assert_refused(&lab, line, "missing", &|lab| {
        let oci = lab.root().join("fixtures/images/oci");
        fs::remove_file(first_layer(&oci, Some("mirrored-pause:3.6"))).unwrap();
    });
}

#[test]
fn a_fifo_layer_blob_of_an_oci_source_is_refused_at_its_line() {
    let lab = Lab::new();
    let line = line_of(&lab, "oci:../images/oci:mirrored-pause");
    assert_refused(&lab, line, "FIFO", &|lab| {
        let oci = lab.root().join("fixtures/images/oci");
        let blob = first_layer(&oci, Some("mirrored-pause:3.6"));
        fs::remove_file(&blob).unwrap();
        Cmd::new("mkfifo").arg(&blob).run();
    });
}

#[test]
fn a_folder_layer_blob_of_an_oci_source_is_refused_at_its_line() {
    let lab = Lab::new();
    let line = line_of(&lab, "oci:../images/oci:mirrored-pause");
    assert_refused(&lab, line, "directory", &|lab| {
        let oci = lab.root().join("fixtures/images/oci");
        let blob = first_layer(&oci, Some("mirrored-pause:3.6"));
        fs::remove_file(&blob).unwrap();
        fs::create_dir(&blob).unwrap();
    });
}

#[test]
fn a_hard_linked_layer_member_of_an_oci_archive_is_refused_at_its_line() {
    let lab = Lab::new();
    let line = line_of(&lab, "oci-archive:");
    assert_refused(&lab, line, "is a hard link in the archive", &|lab| {
        let images = lab.root().join("fixtures/images");
        let x = images.join("x");
        fs::create_dir(&x).unwrap();
        sh(&x, "tar -xf ../traefik.oci.tar");
        let layer = first_layer(&x, None);
        let rel = layer.strip_prefix(&x).unwrap().display().to_string();
        // The same inode archived first under another name: the blob's entry is a link.
        sh(
            &x,
            &format!(
                "ln {rel} a-copy && tar -cf ../traefik.oci.tar a-copy oci-layout index.json blobs"
            ),
        );
        fs::remove_dir_all(&x).unwrap();
    });
}

#[test]
fn a_symlinked_layer_member_of_a_docker_archive_is_refused_at_its_line() {
    let lab = Lab::new();
    let line = line_of(&lab, "docker-archive:");
    assert_refused(&lab, line, "is a symbolic link in the archive", &|lab| {
        let images = lab.root().join("fixtures/images");
        let x = images.join("x");
        fs::create_dir(&x).unwrap();
        sh(
            &x,
            "tar -xf ../busybox.docker.tar && l=$(ls */layer.tar) && mv $l real.tar && \
             ln -s ../real.tar $l && tar -cf ../busybox.docker.tar *",
        );
        fs::remove_dir_all(&x).unwrap();
    });
}

#[test]
fn a_missing_config_blob_behind_an_index_is_refused_at_its_line() {
    let lab = Lab::new();
    let line = line_of(&lab, "oci:../images/oci:mirrored-pause");
    assert_refused(&lab, line, "missing", &|lab| {
        let oci = lab.root().join("fixtures/images/oci");
        let index = read_json(&oci.join("index.json"));
        let entry = index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["annotations"]["org.opencontainers.image.ref.name"] == "mirrored-pause:3.6")
            .unwrap()
            .clone();
        let manifest = amd64_manifest(&oci, &entry);
        let digest = manifest["config"]["digest"].as_str().unwrap();
        fs::remove_file(
            oci.join("blobs/sha256")
                .join(digest.trim_start_matches("sha256:")),
        )
        .unwrap();
    });
}

#[test]
fn a_layer_blob_of_another_size_is_refused_at_its_line() {
    let lab = Lab::new();
    let line = line_of(&lab, "oci:../images/oci:mirrored-pause");
    assert_refused(&lab, line, "but the image's descriptor says", &|lab| {
        let oci = lab.root().join("fixtures/images/oci");
        let blob = first_layer(&oci, Some("mirrored-pause:3.6"));
        let len = fs::metadata(&blob).unwrap().len();
        fs::OpenOptions::new()
            .write(true)
            .open(&blob)
            .unwrap()
            .set_len(len - 1)
            .unwrap();
    });
}

#[test]
fn a_fifo_index_of_an_oci_source_is_refused_at_its_line() {
    let lab = Lab::new();
    let line = line_of(&lab, "oci:../images/oci:mirrored-pause");
    assert_refused(&lab, line, "index.json: is a FIFO", &|lab| {
        let index = lab.root().join("fixtures/images/oci/index.json");
        fs::remove_file(&index).unwrap();
        Cmd::new("mkfifo").arg(&index).run();
    });
}
