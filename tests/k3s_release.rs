//! The k3s release a build is planned for: the image list of a release this seedforge does
//! not carry (`cluster.release_images`), the warning when there is none, and the k3s
//! binary given through `files:`, whose own version must be `cluster.k3s_version`. Every
//! refusal is exit 2 naming the config's file, line and column, with nothing written.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use common::Lab;
use std::fs;

const VERSION_LINE: &str = "  k3s_version: v1.33.1+k3s1\n";

/// The lab with `edit` applied to its config.
fn lab(edit: &dyn Fn(String) -> String) -> Lab {
    let lab = Lab::new();
    let path = lab.lab_dir().join("seedforge.yaml");
    let text = fs::read_to_string(&path).unwrap();
    assert!(text.contains(VERSION_LINE), "the lab config changed");
    fs::write(&path, edit(text)).unwrap();
    lab
}

/// `seedforge plan` of `lab`: exit `code`, nothing written; returns (stdout, stderr).
fn plan(lab: &Lab, code: i32) -> (String, String) {
    let out = lab
        .seedforge()
        .args(["plan", "--config", lab.config_arg()])
        .expect(code)
        .run();
    assert!(
        !lab.out_dir().exists(),
        "plan wrote {}",
        lab.out_dir().display()
    );
    (out.stdout, out.stderr)
}

/// The lab's config line of `needle` (1-based).
fn line_of(lab: &Lab, needle: &str) -> usize {
    let text = fs::read_to_string(lab.lab_dir().join("seedforge.yaml")).unwrap();
    text.lines().position(|l| l.contains(needle)).unwrap() + 1
}

/// The lab's own airgap list (fixtures/lab/images.txt) as a release list, with `edit`.
fn release_list(lab: &Lab, edit: &dyn Fn(String) -> String) {
    let images = fs::read_to_string(lab.lab_dir().join("images.txt")).unwrap();
    let list: String = images
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| format!("{}\n", l.split_whitespace().last().unwrap()))
        .collect();
    fs::write(lab.lab_dir().join("k3s-images.txt"), edit(list)).unwrap();
}

fn with_release(version: &str, images: &str) -> impl Fn(String) -> String {
    let line = format!("  k3s_version: {version}\n  release_images: {images}\n");
    move |t: String| t.replace(VERSION_LINE, &line)
}

#[test]
fn an_unknown_release_without_its_list_is_planned_with_a_warning_naming_the_key() {
    let lab = lab(&|t| t.replace("v1.33.1+k3s1", "v1.33.5+k3s1"));
    let (_, stderr) = plan(&lab, 0);
    assert!(
        stderr.contains("warning: k3s v1.33.5+k3s1 is not a release"),
        "{stderr}"
    );
    assert!(stderr.contains("the newest is v1.33.1+k3s1"), "{stderr}");
    assert!(stderr.contains("cluster.release_images"), "{stderr}");
    // In JSON too, and not for a release whose list is known.
    let json = lab
        .seedforge()
        .args(["--json", "plan", "--config", lab.config_arg()])
        .run();
    assert!(json.stdout.contains("\"warnings\""), "{}", json.stdout);
    let known = self::lab(&|t| t);
    let (_, stderr) = plan(&known, 0);
    assert!(!stderr.contains("warning"), "{stderr}");
}

#[test]
fn a_release_list_from_the_config_is_checked_exactly() {
    // The release's list names coredns 1.12.3; the airgap set has 1.12.1 only.
    let lab = lab(&with_release("v1.33.5+k3s1", "k3s-images.txt"));
    release_list(&lab, &|l| l.replace("coredns:1.12.1", "coredns:1.12.3"));
    let (_, stderr) = plan(&lab, 2);
    assert!(
        stderr.contains("docker.io/rancher/mirrored-coredns-coredns:1.12.3"),
        "{stderr}"
    );
    // The release's exact list that the set matches: planned, with no warning.
    let lab = self::lab(&with_release("v1.33.5+k3s1", "k3s-images.txt"));
    release_list(&lab, &|l| l);
    let (_, stderr) = plan(&lab, 0);
    assert!(!stderr.contains("warning"), "{stderr}");
}

#[test]
fn a_missing_or_windows_release_list_is_exit_2_at_its_line() {
    let lab = lab(&with_release("v1.33.5+k3s1", "k3s-images.txt"));
    let line = line_of(&lab, "release_images:");
    let (_, stderr) = plan(&lab, 2);
    assert!(
        stderr.contains(&format!("fixtures/lab/seedforge.yaml:{line}:19:")),
        "{stderr}"
    );
    assert!(stderr.contains("cluster.release_images"), "{stderr}");
    assert!(stderr.contains("k3s-images.txt"), "{stderr}");

    let lab = self::lab(&with_release("v1.33.5+k3s1", "'C:\\k3s\\k3s-images.txt'"));
    let (_, stderr) = plan(&lab, 2);
    assert!(
        stderr.contains(&format!("fixtures/lab/seedforge.yaml:{line}:")),
        "{stderr}"
    );
    assert!(stderr.contains("Windows path"), "{stderr}");

    // A bad line in the list names the list's file and line.
    let lab = self::lab(&with_release("v1.33.5+k3s1", "k3s-images.txt"));
    release_list(&lab, &|l| format!("{l}not an image!\n"));
    let lines = fs::read_to_string(lab.lab_dir().join("k3s-images.txt"))
        .unwrap()
        .lines()
        .count();
    let (_, stderr) = plan(&lab, 2);
    assert!(
        stderr.contains(&format!("k3s-images.txt:{lines}")),
        "{stderr}"
    );
}

/// The lab with a local k3s binary of `content` in `files:`.
fn lab_with_binary(content: &[u8]) -> Lab {
    let sha = {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("k3s");
        fs::write(&f, content).unwrap();
        let out = std::process::Command::new("sha256sum")
            .arg(&f)
            .output()
            .unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        text.split_whitespace().next().unwrap().to_string()
    };
    let files = format!(
        "files:\n  - name: bin/k3s\n    source: k3s\n    sha256: \"{sha}\"\n    executable: true\n"
    );
    let lab = lab(&|t| format!("{t}{files}"));
    fs::write(lab.lab_dir().join("k3s"), content).unwrap();
    lab
}

#[test]
fn a_k3s_binary_of_another_release_is_exit_2_naming_both_and_its_files_line() {
    let mut binary = b"\x7fELF\x02\x01\x01".to_vec();
    binary.extend(std::iter::repeat_n(0u8, 200_000));
    binary.extend_from_slice(b"go1.24.2v1.33.0-k3s1v1.33.0+k3s1github.com/k3s-io/k3s");
    binary.extend(std::iter::repeat_n(0u8, 100_000));
    let lab = lab_with_binary(&binary);
    let line = line_of(&lab, "- name: bin/k3s");
    let (_, stderr) = plan(&lab, 2);
    assert!(
        stderr.contains(&format!(
            "fixtures/lab/seedforge.yaml:{line}:5: files entry \"bin/k3s\""
        )),
        "{stderr}"
    );
    assert!(stderr.contains("is k3s v1.33.0+k3s1"), "{stderr}");
    assert!(
        stderr.contains("cluster.k3s_version is v1.33.1+k3s1"),
        "{stderr}"
    );

    // The release the config names is planned.
    let right = String::from_utf8_lossy(&binary).replace("v1.33.0+k3s1", "v1.33.1+k3s1");
    let lab = lab_with_binary(right.as_bytes());
    plan(&lab, 0);
    // A binary naming no release is not refused.
    let lab = lab_with_binary(b"#!/bin/sh\necho a stand-in for k3s\n");
    plan(&lab, 0);
}
