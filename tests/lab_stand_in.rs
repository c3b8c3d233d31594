//! docs/workflow.md, "A lab without the release's images", run as written: the demo set to
//! the release `seedforge init` starts on is refused for want of its images; with the
//! list the section gives (the demo's stand-ins under the release's names) it plans,
//! builds, verifies and configures the nodes with the release's pause image; with the
//! section's `cluster.release_images` and `cluster.pause_image` it plans.

use crate::common::{self, Cmd, Lab};
use std::fs;

const VERSION_LINE: &str = "  k3s_version: v1.33.1+k3s1\n";

/// The section's text.
fn section() -> String {
    let doc = fs::read_to_string(common::repo_root().join("docs/workflow.md")).unwrap();
    let start = doc
        .find("### A lab without the release's images")
        .expect("docs/workflow.md has the section");
    let rest = &doc[start + 4..];
    rest[..rest.find("\n#").unwrap_or(rest.len())].to_string()
}

/// The fenced blocks of `text`, each line without the indentation of a list item.
fn blocks(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        let line = line.strip_prefix("  ").unwrap_or(line);
        if line.starts_with("```") {
            match current.take() {
                Some(block) => out.push(block),
                None => current = Some(String::new()),
            }
        } else if let Some(block) = &mut current {
            block.push_str(line);
            block.push('\n');
        }
    }
    out
}

/// The lab set to `version` (its images as they are).
fn lab_on(version: &str) -> Lab {
    let lab = Lab::new();
    let path = lab.lab_dir().join("seedforge.yaml");
    let text = fs::read_to_string(&path).unwrap();
    assert!(text.contains(VERSION_LINE), "the lab config changed");
    fs::write(
        &path,
        text.replace(VERSION_LINE, &format!("  k3s_version: {version}\n")),
    )
    .unwrap();
    lab
}

#[test]
fn the_demo_stands_in_for_the_release_init_starts_on_as_the_workflow_says() {
    // The release the section names is the one `init` starts on.
    let dir = tempfile::tempdir().unwrap();
    Cmd::seedforge().arg("init").cwd(dir.path()).run();
    let config = fs::read_to_string(dir.path().join("seedforge.yaml")).unwrap();
    let release = config
        .lines()
        .find_map(|l| l.trim().strip_prefix("k3s_version: "))
        .unwrap()
        .to_string();
    let text = section();
    assert!(
        text.contains(&format!("newest release this seedforge knows ({release})")),
        "the section names another release than init's {release}"
    );
    let blocks = blocks(&text);
    assert_eq!(blocks.len(), 2, "{blocks:?}");

    // As it is, the demo lacks the release's images.
    let lab = lab_on(&release);
    let refused = lab
        .seedforge()
        .args(["plan", "--config", lab.config_arg()])
        .expect(2)
        .run();
    assert!(
        refused
            .stderr
            .contains("docker.io/rancher/mirrored-pause:3.10.2 (the pod sandbox (pause) image)"),
        "{}",
        refused.stderr
    );

    // The stand-ins under the release's names.
    fs::write(lab.lab_dir().join("images.txt"), &blocks[0]).unwrap();
    lab.seedforge()
        .args(["build", "-q", "--config", lab.config_arg()])
        .run();
    lab.seedforge()
        .args(["verify", "-q", "fixtures/lab/out"])
        .run();
    let user_data = fs::read_to_string(lab.out_dir().join("nodes/lab-server1/user-data")).unwrap();
    assert!(
        user_data.contains("pause-image: \"docker.io/rancher/mirrored-pause:3.10.2\""),
        "{user_data}"
    );

    // The stand-ins' own names, and the release said to be made of them.
    let lab = Lab::new();
    let path = lab.lab_dir().join("seedforge.yaml");
    let cluster = blocks[1]
        .strip_prefix("cluster:\n")
        .expect("a cluster: section");
    let text = fs::read_to_string(&path).unwrap();
    fs::write(&path, text.replace(VERSION_LINE, cluster)).unwrap();
    let list = fs::read_to_string(lab.lab_dir().join("images.txt")).unwrap();
    let tags: String = (list.lines())
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| format!("{}\n", l.split_whitespace().last().unwrap()))
        .collect();
    fs::write(lab.lab_dir().join("k3s-images.txt"), tags).unwrap();
    let planned = lab
        .seedforge()
        .args(["plan", "--config", lab.config_arg()])
        .run();
    assert!(!planned.stderr.contains("lack"), "{}", planned.stderr);
    assert!(
        planned.stdout.contains("1. mirror 8 images"),
        "{}",
        planned.stdout
    );
}
