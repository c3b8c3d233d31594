//! The k3s release a build is planned for: the releases this seedforge knows (`init`, the
//! pause image each release runs), the image list of a release this seedforge does not
//! carry (`cluster.release_images`), the warning when there is none, and the k3s binary
//! given through `files:`, whose own version must be `cluster.k3s_version` and whose
//! default pause image is believed over the tables. Every refusal is exit 2 naming the
//! config's file, line and column, with nothing written.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use common::{Cmd, Lab};
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
    // v1.33.8+k3s1 (February 2026): no component table of it was found.
    let lab = lab(&|t| t.replace("v1.33.1+k3s1", "v1.33.8+k3s1"));
    let (_, stderr) = plan(&lab, 0);
    assert!(
        stderr.contains("warning: k3s v1.33.8+k3s1 is not a release"),
        "{stderr}"
    );
    assert!(stderr.contains("the newest is v1.37.1+k3s1"), "{stderr}");
    assert!(stderr.contains("cluster.release_images"), "{stderr}");
    // In JSON too, and not for a release whose list is known.
    let json = lab
        .seedforge()
        .args(["--json", "plan", "--config", lab.config_arg()])
        .run();
    // The document's warnings are the ones said on stderr.
    let said = common::json_schema::stderr_warnings(&json.stderr);
    assert!(
        said.iter().any(|w| w.contains("is not a release")),
        "{said:?}"
    );
    assert_eq!(
        json.json()["warnings"],
        serde_json::json!(said),
        "{}",
        json.stdout
    );
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

/// `seedforge init` in a new folder with `args`; returns the folder and its images.txt.
fn init(args: &[&str]) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    Cmd::seedforge()
        .arg("init")
        .args(args)
        .cwd(dir.path())
        .run();
    let images = fs::read_to_string(dir.path().join("images.txt")).unwrap();
    (dir, images)
}

/// The images of an image list, comments and blank lines left out.
fn listed(text: &str) -> Vec<String> {
    let mut out: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect();
    out.sort();
    out
}

/// k3s v1.37.1+k3s1's eight airgap images, as its k3s-images.txt names them (its release
/// notes in k3s-io/docs agree on Traefik, CoreDNS, metrics-server and local-path; the
/// pause image moved to 3.10.2 with k3s#14339 in v1.37.0).
const V1_37_1: &[&str] = &[
    "docker.io/rancher/klipper-helm:v0.13.3-build20260727",
    "docker.io/rancher/klipper-lb:v0.4.17",
    "docker.io/rancher/local-path-provisioner:v0.0.37",
    "docker.io/rancher/mirrored-coredns-coredns:1.14.7",
    "docker.io/rancher/mirrored-library-busybox:1.37.0",
    "docker.io/rancher/mirrored-library-traefik:3.7.13",
    "docker.io/rancher/mirrored-metrics-server:v0.9.0",
    "docker.io/rancher/mirrored-pause:3.10.2",
];

#[test]
fn init_writes_the_images_of_any_known_release_and_defaults_to_the_newest() {
    let (dir, images) = init(&["--k3s-version", "v1.37.1+k3s1"]);
    assert!(images.contains("mirrored-pause:3.10.2"), "{images}");
    assert_eq!(listed(&images), V1_37_1, "{images}");
    let config = fs::read_to_string(dir.path().join("seedforge.yaml")).unwrap();
    assert!(config.contains("k3s_version: v1.37.1+k3s1\n"), "{config}");

    // No version: the newest release whose whole image set is known, the same files.
    let (newest, images) = init(&[]);
    assert_eq!(listed(&images), V1_37_1, "{images}");
    let config = fs::read_to_string(newest.path().join("seedforge.yaml")).unwrap();
    assert!(config.contains("k3s_version: v1.37.1+k3s1\n"), "{config}");
    // The nodes are told to use the pause image the list carries.
    Cmd::seedforge()
        .args(["render", "-o", "nodes"])
        .cwd(newest.path())
        .run();
    let user_data = fs::read_to_string(newest.path().join("nodes/server1/user-data")).unwrap();
    assert!(
        user_data.contains("pause-image: \"docker.io/rancher/mirrored-pause:3.10.2\""),
        "{user_data}"
    );

    // An older known release keeps its own pause image: v1.34.5+k3s1 runs 3.6
    // (hauler's manifest of its images, harvester/tests#2554).
    let (_, images) = init(&["--k3s-version", "v1.34.5+k3s1"]);
    let images = listed(&images);
    assert!(
        images
            .iter()
            .any(|i| i == "docker.io/rancher/mirrored-pause:3.6"),
        "{images:?}"
    );
    assert!(!images.iter().any(|i| i.contains("3.10.2")), "{images:?}");
    assert!(
        images
            .iter()
            .any(|i| i.ends_with("mirrored-library-traefik:3.6.9")),
        "{images:?}"
    );

    // A release known from its notes only is not offered: its whole set is not known.
    let refused = Cmd::seedforge()
        .args(["init", "x", "--k3s-version", "v1.36.2+k3s1"])
        .cwd(dir.path())
        .expect(2)
        .run();
    assert!(
        refused.stderr.contains("v1.37.1+k3s1"),
        "{}",
        refused.stderr
    );
}

/// The lab planned as k3s `version` with the lab's own list as the release's list (so that
/// only the pause image differs from the release's), its pause image as the lab carries
/// it: 3.6.
fn plan_release(version: &str, code: i32) -> String {
    let lab = lab(&with_release(version, "k3s-images.txt"));
    release_list(&lab, &|l| l);
    plan(&lab, code).1
}

#[test]
fn the_pause_image_each_release_runs_is_demanded_from_the_patch_release_it_moved_in() {
    // k3s v1.34.5+k3s1 runs pause 3.6 (hauler's manifest of its images).
    let stderr = plan_release("v1.34.5+k3s1", 0);
    assert!(!stderr.contains("mirrored-pause"), "{stderr}");
    // Its own list, which the lab's set does not carry, is checked exactly, the pause
    // image included: 3.6 is not demanded as missing.
    let lab = lab(&|t| t.replace("v1.33.1+k3s1", "v1.34.5+k3s1"));
    let (_, stderr) = plan(&lab, 2);
    assert!(
        stderr.contains("klipper-helm:v0.9.14-build20260210"),
        "{stderr}"
    );
    assert!(!stderr.contains("mirrored-pause"), "{stderr}");

    // The first release of each line with 3.10.2 demands it, the one before does not:
    // - 1.34: k3s#14391 (backport of #14339), validated on release-1.34 after v1.34.9
    //   (k3s#14384); v1.34.9-rc1 was June's (k3s#14199), v1.34.11 August's (k3s#14543);
    // - 1.35: k3s#14390, validated on release-1.35 after v1.35.6 (k3s#14384, #14198);
    // - 1.36: k3s#14389, validated on release-1.36 after v1.36.2 (k3s#14384, #14197);
    // - 1.37: k3s#14339 in v1.37.0+k3s1 (k3s-io/docs, docs/release-notes/v1.37.X.md).
    for (last_old, first_new) in [
        (Some("v1.34.9+k3s1"), "v1.34.10+k3s1"),
        (Some("v1.35.6+k3s1"), "v1.35.7+k3s1"),
        (Some("v1.36.2+k3s1"), "v1.36.3+k3s1"),
        (None, "v1.37.0+k3s1"),
    ] {
        let stderr = plan_release(first_new, 2);
        assert!(
            stderr.contains(
                "docker.io/rancher/mirrored-pause:3.10.2 (the pod sandbox (pause) image)"
            ),
            "{first_new}: {stderr}"
        );
        if let Some(old) = last_old {
            let stderr = plan_release(old, 0);
            assert!(!stderr.contains("mirrored-pause"), "{old}: {stderr}");
        }
    }
}

/// A stand-in for a k3s binary: a script that prints its version for `--version`, and
/// holds its default pause image as the real one does (`strings k3s | grep
/// mirrored-pause`).
fn stand_in(version: &str, pause: &str) -> Vec<u8> {
    format!(
        "#!/bin/sh\n# --pause-image default: rancher/mirrored-pause:{pause}\necho \"k3s version {version} (0123abcd)\"\n"
    )
    .into_bytes()
}

#[test]
fn a_k3s_binarys_own_pause_image_is_demanded_over_the_tables() {
    // The stand-in does what a k3s binary does.
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("k3s");
    fs::write(&script, stand_in("v1.38.0+k3s1", "3.11")).unwrap();
    let out = std::process::Command::new("sh")
        .arg(&script)
        .arg("--version")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "k3s version v1.38.0+k3s1 (0123abcd)\n"
    );

    // A release the table does not know, with a pause image of its own: demanded.
    let version = |t: String| t.replace("v1.33.1+k3s1", "v1.38.0+k3s1");
    let lab = lab_with_binary(&stand_in("v1.38.0+k3s1", "3.11"));
    let path = lab.lab_dir().join("seedforge.yaml");
    fs::write(&path, version(fs::read_to_string(&path).unwrap())).unwrap();
    let (_, stderr) = plan(&lab, 2);
    assert!(
        stderr.contains("docker.io/rancher/mirrored-pause:3.11 (the pod sandbox (pause) image)"),
        "{stderr}"
    );
    // Carried, it passes, with the table's warning for the release's other images only,
    // and the nodes are told to use it.
    let list = lab.lab_dir().join("images.txt");
    let text = fs::read_to_string(&list).unwrap();
    fs::write(
        &list,
        text.replace(
            "docker.io/rancher/mirrored-pause:3.6",
            "docker.io/rancher/mirrored-pause:3.11",
        ),
    )
    .unwrap();
    let (_, stderr) = plan(&lab, 0);
    assert!(
        stderr.contains("warning: k3s v1.38.0+k3s1 is not a release"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("default pause image is not known"),
        "{stderr}"
    );
    let built = lab.build();
    let user_data = fs::read_to_string(lab.out_dir().join("nodes/lab-server1/user-data"))
        .unwrap_or_else(|e| panic!("{e}: {}", built.stdout));
    assert!(
        user_data.contains("pause-image: \"docker.io/rancher/mirrored-pause:3.11\""),
        "{user_data}"
    );
    // `seedforge render` alone says the same.
    let rendered = lab.lab_dir().join("rendered");
    lab.seedforge()
        .args(["render", "--config", lab.config_arg(), "-o"])
        .arg(&rendered)
        .run();
    let alone = fs::read_to_string(rendered.join("lab-server1/user-data")).unwrap();
    assert_eq!(alone, user_data);

    // Without the binary, the same release is configured with the newest pause image the
    // table knows, with a warning saying so.
    let lab = self::lab(&version);
    let (_, stderr) = plan(&lab, 2);
    assert!(
        stderr.contains("docker.io/rancher/mirrored-pause:3.10.2 (the pod sandbox (pause) image)"),
        "{stderr}"
    );
    let list = lab.lab_dir().join("images.txt");
    let text = fs::read_to_string(&list).unwrap();
    fs::write(
        &list,
        text.replace(
            "docker.io/rancher/mirrored-pause:3.6",
            "docker.io/rancher/mirrored-pause:3.10.2",
        ),
    )
    .unwrap();
    let (_, stderr) = plan(&lab, 0);
    assert!(
        stderr.contains("k3s v1.38.0+k3s1's default pause image is not known"),
        "{stderr}"
    );
}

#[test]
fn a_k3s_binary_that_disagrees_with_the_table_is_believed_with_a_warning_naming_both() {
    // A v1.34.5+k3s1 binary whose pause image is 3.10.2 (the table has 3.6).
    let binary = stand_in("v1.34.5+k3s1", "3.10.2");
    let lab = lab_with_binary(&binary);
    let path = lab.lab_dir().join("seedforge.yaml");
    let text = fs::read_to_string(&path).unwrap();
    fs::write(
        &path,
        text.replace(
            VERSION_LINE,
            "  k3s_version: v1.34.5+k3s1\n  release_images: k3s-images.txt\n",
        ),
    )
    .unwrap();
    release_list(&lab, &|l| l);
    let (_, stderr) = plan(&lab, 2);
    assert!(
        stderr.contains("docker.io/rancher/mirrored-pause:3.10.2 (the pod sandbox (pause) image)"),
        "{stderr}"
    );
    // Carried, it passes, with a warning naming both.
    let list = lab.lab_dir().join("images.txt");
    let lab_list = fs::read_to_string(&list).unwrap();
    fs::write(
        &list,
        lab_list.replace(
            "docker.io/rancher/mirrored-pause:3.6",
            "docker.io/rancher/mirrored-pause:3.10.2",
        ),
    )
    .unwrap();
    let (_, stderr) = plan(&lab, 0);
    assert!(stderr.contains("files entry \"bin/k3s\""), "{stderr}");
    assert!(
        stderr.contains("defaults to docker.io/rancher/mirrored-pause:3.10.2, but this seedforge's table has docker.io/rancher/mirrored-pause:3.6 for k3s v1.34.5+k3s1"),
        "{stderr}"
    );
    fs::write(&list, lab_list).unwrap();
    // The config's own pause image is what the nodes are told to use: no warning.
    let text = fs::read_to_string(&path).unwrap();
    fs::write(
        &path,
        text.replace(
            "  release_images: k3s-images.txt\n",
            "  release_images: k3s-images.txt\n  pause_image: docker.io/rancher/mirrored-pause:3.6\n",
        ),
    )
    .unwrap();
    let (_, stderr) = plan(&lab, 0);
    assert!(!stderr.contains("warning"), "{stderr}");
}

/// An upgrade across a minor (`cluster.upgrade_path`): planned with the hop's images and
/// binary, its archive in the plan; a missing image of the hop, a hop binary of another
/// release, or no path at all: exit 2 naming what to fix, nothing written.
#[test]
fn a_hops_images_and_binary_are_checked_while_planning() {
    let hop = common::HOP;
    let hops = Lab::new();
    common::hop_upgrade(&hops, hop);
    let (stdout, _) = plan(&hops, 0);
    assert!(
        stdout.contains(&format!("airgap/hops/{hop}/k3s-airgap-images-amd64")),
        "{stdout}"
    );
    assert!(stdout.contains(&format!("k3s {hop} needs")), "{stdout}");
    // The nodes' order through the hop: each node at the hop, Ready, before any takes
    // the target; servers before agents at each.
    assert!(
        stdout.contains(&format!(
            "upgrade path: k3s v1.31.4+k3s1 -> {hop} -> v1.33.1+k3s1"
        )),
        "{stdout}"
    );
    let json = hops
        .seedforge()
        .args(["plan", "--json", "--config", hops.config_arg()])
        .run()
        .json();
    let steps = json["upgrade_path"]["steps"].as_array().unwrap();
    let order: Vec<(&str, &str)> = (steps.iter())
        .map(|s| (s["on"].as_str().unwrap(), s["until"].as_str().unwrap()))
        .collect();
    let mut expected = Vec::new();
    for release in [hop, "v1.33.1+k3s1"] {
        for node in ["lab-server1", "lab-agent1", "lab-agent2"] {
            expected.push(node);
            let (on, until) = order[expected.len() - 1];
            assert_eq!(on, node);
            let watch = format!("`k3s kubectl get nodes` shows {node} at {release}, Ready");
            assert!(until.contains(&watch), "{until}");
        }
    }
    assert_eq!(order.len(), expected.len());

    // A hop image missing from the lists: named with the hop.
    let list = hops.lab_dir().join("images.txt");
    let text = fs::read_to_string(&list).unwrap();
    fs::write(&list, text.replace(common::HOP_IMAGES[0], "")).unwrap();
    let (_, stderr) = plan(&hops, 2);
    assert!(
        stderr.contains(&format!("k3s {hop} (a hop of cluster.upgrade_path)")),
        "{stderr}"
    );
    assert!(
        stderr.contains("docker.io/rancher/mirrored-coredns-coredns:1.13.1"),
        "{stderr}"
    );

    // The hop's binary is another release.
    let other = Lab::new();
    common::hop_upgrade(&other, "v1.33.1+k3s1");
    let line = line_of(&other, &format!("- name: hops/{hop}/k3s"));
    let (_, stderr) = plan(&other, 2);
    assert!(
        stderr.contains(&format!(
            "fixtures/lab/seedforge.yaml:{line}:5: files entry \"hops/{hop}/k3s\" is k3s v1.33.1+k3s1, not the hop's release"
        )),
        "{stderr}"
    );

    // No path: refused at k3s_version, naming the fix.
    let direct = lab(&|t| t.replace("  token:", "  upgrade_from: v1.31.4+k3s1\n  token:"));
    let (_, stderr) = plan(&direct, 2);
    assert!(
        stderr.contains("fixtures/lab/seedforge.yaml:8:3: cluster.k3s_version: k3s v1.31.4+k3s1"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("cluster.upgrade_path: auto (the hops {hop})")),
        "{stderr}"
    );
}

/// The packaged components' tags (Traefik, CoreDNS, metrics-server,
/// local-path-provisioner) of the releases of an upgrade from the lab's v1.33 to v1.36, as
/// the preflight's table names them (the pause image stays 3.6).
const COMPONENTS_1_34_TO_1_36: [(&str, [&str; 4]); 3] = [
    ("v1.34.2+k3s1", ["3.5.1", "1.13.1", "v0.8.0", "v0.0.32"]),
    ("v1.35.1+k3s1", ["3.6.7", "1.14.1", "v0.8.1", "v0.0.34"]),
    ("v1.36.2+k3s1", ["3.7.4", "1.14.4", "v0.8.1", "v0.0.36"]),
];

/// Image-list lines of the lab's fixtures standing for the components of `releases`
/// (of [`COMPONENTS_1_34_TO_1_36`]), under each release's names.
fn components_of(releases: &[&str]) -> String {
    let mut lines = std::collections::BTreeSet::new();
    for (release, [traefik, coredns, metrics, lpp]) in COMPONENTS_1_34_TO_1_36 {
        if !releases.contains(&release) {
            continue;
        }
        lines.insert(format!(
            "oci-archive:../images/traefik.oci.tar docker.io/rancher/mirrored-library-traefik:{traefik}\n"
        ));
        lines.insert(format!("oci:../images/oci:mirrored-coredns-coredns:1.12.1 docker.io/rancher/mirrored-coredns-coredns:{coredns}\n"));
        lines.insert(format!("oci:../images/oci:mirrored-metrics-server:v0.7.2 docker.io/rancher/mirrored-metrics-server:{metrics}\n"));
        lines.insert(format!("oci:../images/oci:local-path-provisioner:v0.0.31 docker.io/rancher/local-path-provisioner:{lpp}\n"));
    }
    lines.into_iter().collect()
}

/// `build` alone, with no `cluster.upgrade_from`, starts from the release the output was
/// last sealed with: an output built at v1.33.1 whose config moves to v1.36.2 is refused by
/// `plan` and `build` (exit 2 at `cluster.k3s_version`'s line, naming both releases, the
/// minors 1.34 and 1.35 and the fix; the output as it was), and built once the config
/// carries the hops (`cluster.upgrade_from` and `cluster.upgrade_path`). The whole media
/// (every seed's payload) and the delta since the v1.33 output's receipt carry the same
/// hops' binaries.
#[test]
fn a_build_alone_never_skips_a_minor_from_the_outputs_last_release() {
    let lab = lab(&|t| t);
    lab.build();
    lab.receipt("v1_33.json").run();
    let config = lab.lab_dir().join("seedforge.yaml");
    let shipped = fs::read_to_string(&config).unwrap();
    let line = line_of(&lab, "k3s_version:");
    fs::write(
        &config,
        shipped.replace("k3s_version: v1.33.1+k3s1", "k3s_version: v1.36.2+k3s1"),
    )
    .unwrap();
    let list = lab.lab_dir().join("images.txt");
    let images = fs::read_to_string(&list).unwrap();
    fs::write(&list, images.clone() + &components_of(&["v1.36.2+k3s1"])).unwrap();
    let before = common::snapshot(&lab.out_dir());
    for command in ["plan", "build"] {
        let out = (lab.seedforge())
            .args([command, "--config", lab.config_arg()])
            .expect(2)
            .run();
        for said in [
            format!(
                "fixtures/lab/seedforge.yaml:{line}:3: cluster.k3s_version: k3s v1.33.1+k3s1 ("
            ),
            "-> v1.36.2+k3s1 (cluster.k3s_version) skips the minors 1.34 (newest release known here: v1.34.5+k3s1), 1.35 (newest release known here: v1.35.4+k3s1)".to_string(),
            "the config has no cluster.upgrade_from".to_string(),
            "set cluster.upgrade_from: v1.33.1+k3s1".to_string(),
            "cluster.upgrade_path: auto (the hops v1.34.5+k3s1, v1.35.4+k3s1)".to_string(),
            "first with cluster.k3s_version: v1.34.5+k3s1".to_string(),
            "nothing was written".to_string(),
        ] {
            assert!(out.stderr.contains(&said), "{command}: {said}: {}", out.stderr);
        }
        common::assert_same_tree(&before, &common::snapshot(&lab.out_dir()), "a refused skip");
    }
    // One minor from the output's release: built as before (a build into a fresh folder
    // has no release to start from).
    (lab.seedforge())
        .args(["plan", "--config", lab.config_arg(), "--out"])
        .arg(lab.root().join("fresh"))
        .run();

    // The hops configured: built, every seed and the delta carrying both hops' binaries.
    let hops = ["v1.34.2+k3s1", "v1.35.1+k3s1"];
    let mut files = String::from("files:\n");
    for hop in hops {
        let binary = common::k3s_binary(hop, "hop");
        let name = format!("k3s-{hop}");
        fs::write(lab.lab_dir().join(&name), &binary).unwrap();
        files.push_str(&format!(
            "  - name: hops/{hop}/k3s\n    source: {name}\n    sha256: \"{}\"\n    executable: true\n",
            common::sha256_bytes(&binary)
        ));
    }
    let with_hops = shipped
        .replace("k3s_version: v1.33.1+k3s1", "k3s_version: v1.36.2+k3s1")
        .replace(
            "  token: {file: token}\n",
            &format!(
                "  upgrade_from: v1.33.1+k3s1\n  upgrade_path: [{}]\n  token: {{file: token}}\n",
                hops.join(", ")
            ),
        )
        + &files;
    fs::write(&config, with_hops).unwrap();
    fs::write(
        &list,
        images + &components_of(&["v1.34.2+k3s1", "v1.35.1+k3s1", "v1.36.2+k3s1"]),
    )
    .unwrap();
    lab.build();
    let sums = fs::read_to_string(lab.out_dir().join("SHA256SUMS")).unwrap();
    for hop in hops {
        for path in [
            format!("  files/hops/{hop}/k3s\n"),
            format!("  airgap/hops/{hop}/k3s-airgap-images-amd64"),
        ] {
            assert!(sums.contains(&path), "{path}: {sums}");
        }
    }
    let manifest: serde_json::Value =
        serde_json::from_slice(&fs::read(lab.out_dir().join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["cluster"]["k3s_version"], "v1.36.2+k3s1");
    let delta = lab.root().join("delta");
    lab.delta("v1_33.json", "delta").run();
    for hop in hops {
        let carried = delta.join(format!("out/files/hops/{hop}/k3s"));
        assert!(carried.is_file(), "{}", carried.display());
    }
    if common::require_tool("isoinfo") {
        for node in ["lab-server1", "lab-agent1", "lab-agent2"] {
            let payload = Cmd::new("isoinfo")
                .args(["-R", "-x", "/payload/SHA256SUMS", "-i"])
                .arg(lab.out_dir().join(format!("iso/seed-{node}.iso")))
                .run()
                .stdout;
            for hop in hops {
                assert!(
                    payload.contains(&format!("  hops/{hop}/k3s\n")),
                    "{node}: {payload}"
                );
                assert!(
                    payload.contains(&format!("  hops/{hop}/images/k3s-airgap-images-amd64-")),
                    "{node}: {payload}"
                );
            }
        }
    }
    // The path dropped once every node runs v1.36.2 (upgrade_from that release's minor
    // before): the hops' archives and binaries leave the output with the seal, their
    // folders too.
    fs::write(
        &config,
        shipped
            .replace("k3s_version: v1.33.1+k3s1", "k3s_version: v1.36.2+k3s1")
            .replace(
                "  token: {file: token}\n",
                "  upgrade_from: v1.35.1+k3s1\n  token: {file: token}\n",
            ),
    )
    .unwrap();
    lab.build();
    for stale in ["airgap/hops", "files/hops"] {
        assert!(!lab.out_dir().join(stale).exists(), "{stale} stayed");
    }
    let sums = fs::read_to_string(lab.out_dir().join("SHA256SUMS")).unwrap();
    assert!(!sums.contains("hops/"), "{sums}");
    // From there on the output's release is v1.36.2: a config without the path that stays
    // within a minor of it builds; one back at the far side's old release is a downgrade,
    // not a skip (the nodes refuse it unless allowed).
    fs::write(
        &config,
        shipped.replace("k3s_version: v1.33.1+k3s1", "k3s_version: v1.37.1+k3s1"),
    )
    .unwrap();
    let out = (lab.seedforge())
        .args(["plan", "--config", lab.config_arg()])
        .any_status()
        .run();
    assert!(!out.stderr.contains("skips the minor"), "{}", out.stderr);
}
