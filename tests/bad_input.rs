//! Invalid input: exit code 2, an error that points at the file and line, and nothing
//! written — no output directory for a first build, unchanged bytes for a later one.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod common;

use common::{Lab, Output, assert_same_tree, snapshot, write_list};
use std::fs;

/// Appends `line` to the lab's images.txt; returns its 1-based line number.
fn append_list_line(lab: &Lab, line: &str) -> usize {
    let path = lab.lab_dir().join("images.txt");
    let mut text = fs::read_to_string(&path).unwrap();
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(line);
    text.push('\n');
    fs::write(&path, &text).unwrap();
    text.lines().count()
}

/// Inserts `line` after the first line equal to `after` in seedforge.yaml; returns its
/// 1-based line number.
fn insert_config_line(lab: &Lab, after: &str, line: &str) -> usize {
    let path = lab.lab_dir().join("seedforge.yaml");
    let text = fs::read_to_string(&path).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    let at = lines.iter().position(|l| *l == after).unwrap() + 1;
    lines.insert(at, line);
    fs::write(&path, lines.join("\n") + "\n").unwrap();
    at + 1
}

fn replace_config_line(lab: &Lab, old: &str, new: &str) {
    let path = lab.lab_dir().join("seedforge.yaml");
    let text = fs::read_to_string(&path).unwrap();
    assert!(
        text.lines().any(|l| l == old),
        "no line {old:?} in the config"
    );
    let text: Vec<&str> = text
        .lines()
        .map(|l| if l == old { new } else { l })
        .collect();
    fs::write(&path, text.join("\n") + "\n").unwrap();
}

fn build_expecting_2(lab: &Lab) -> Output {
    lab.seedforge()
        .args(["build", "--config", lab.config_arg()])
        .expect(2)
        .run()
}

/// Runs a bad-input case twice: into a fresh lab (the output directory must not appear)
/// and over a good earlier build (its bytes must not change). `check` sees stderr.
fn case(break_input: impl Fn(&Lab) -> String, check: impl Fn(&str, &str)) {
    // No earlier build: nothing may be created.
    let lab = Lab::new();
    let token = break_input(&lab);
    let out = build_expecting_2(&lab);
    check(&out.stderr, &token);
    assert!(
        !lab.out_dir().exists(),
        "a failed build created {}",
        lab.out_dir().display()
    );
    // Plan reports the same error.
    let out = lab
        .seedforge()
        .args(["plan", "--config", lab.config_arg()])
        .expect(2)
        .run();
    check(&out.stderr, &token);
    assert!(!lab.out_dir().exists());

    // A good earlier build: nothing may change.
    let lab = Lab::new();
    lab.build();
    let before = snapshot(&lab.out_dir());
    let token = break_input(&lab);
    let out = build_expecting_2(&lab);
    check(&out.stderr, &token);
    assert_same_tree(&before, &snapshot(&lab.out_dir()), "after a failed build");
}

#[test]
fn list_line_with_three_fields_exits_2_naming_file_and_line() {
    case(
        |lab| {
            let n = append_list_line(lab, "oci:../images/oci:mirrored-pause:3.6 a b");
            format!("images.txt:{n}")
        },
        |stderr, token| assert!(stderr.contains(token), "no {token} in:\n{stderr}"),
    );
}

#[test]
fn list_line_with_uppercase_destination_exits_2_naming_file_and_line() {
    case(
        |lab| {
            let n = append_list_line(
                lab,
                "oci:../images/oci:mirrored-pause:3.6 Docker.io/UPPER:tag",
            );
            format!("images.txt:{n}")
        },
        |stderr, token| {
            assert!(stderr.contains(token), "no {token} in:\n{stderr}");
            assert!(stderr.contains("Docker.io/UPPER:tag"), "{stderr}");
        },
    );
}

#[test]
fn config_unknown_key_exits_2_naming_file_line_and_column() {
    case(
        |lab| {
            let n = insert_config_line(lab, "registry:", "  bogus: 1");
            format!("seedforge.yaml:{n}:3")
        },
        |stderr, token| {
            assert!(stderr.contains(token), "no {token} in:\n{stderr}");
            assert!(stderr.contains("bogus"), "{stderr}");
        },
    );
}

#[test]
fn config_unsupported_version_exits_2() {
    case(
        |lab| {
            replace_config_line(lab, "version: 1", "version: 99");
            "99".to_string()
        },
        |stderr, token| {
            assert!(stderr.contains("version"), "{stderr}");
            assert!(stderr.contains(token), "{stderr}");
            assert!(stderr.contains("seedforge.yaml:"), "{stderr}");
        },
    );
}

#[test]
fn list_naming_missing_ref_in_oci_layout_exits_2_naming_file_and_line() {
    case(
        |lab| {
            let n = append_list_line(
                lab,
                "oci:../images/oci:no-such-image:1.0 docker.io/rancher/no-such-image:1.0",
            );
            format!("images.txt:{n}")
        },
        |stderr, token| {
            assert!(stderr.contains(token), "no {token} in:\n{stderr}");
            assert!(stderr.contains("no-such-image:1.0"), "{stderr}");
        },
    );
}

#[test]
fn list_naming_missing_archive_file_exits_2_naming_file_and_line() {
    case(
        |lab| {
            let n = append_list_line(
                lab,
                "oci-archive:../images/absent.tar docker.io/rancher/absent:1.0",
            );
            format!("images.txt:{n}")
        },
        |stderr, token| assert!(stderr.contains(token), "no {token} in:\n{stderr}"),
    );
}

#[test]
fn duplicate_destination_exits_2_and_writes_nothing() {
    case(
        |lab| {
            let n = append_list_line(
                lab,
                "oci:../images/oci:klipper-lb:v0.4.13 docker.io/rancher/mirrored-pause:3.6",
            );
            format!("images.txt:{n}")
        },
        |stderr, token| assert!(stderr.contains(token), "no {token} in:\n{stderr}"),
    );
}

#[test]
fn mirror_with_malformed_list_exits_2_and_creates_no_layout() {
    let lab = Lab::new();
    let list = lab.root().join("bad.txt");
    write_list(
        &list,
        &[
            "oci:fixtures/images/oci:mirrored-pause:3.6 docker.io/rancher/mirrored-pause:3.6"
                .to_string(),
            "oci:fixtures/images/oci:klipper-lb:v0.4.13 docker.io/rancher/klipper-lb:v0.4.13 extra"
                .to_string(),
        ],
    );
    let layout = lab.root().join("layout");
    let out = lab
        .seedforge()
        .args(["mirror", "--images"])
        .arg(&list)
        .arg("--layout")
        .arg(&layout)
        .expect(2)
        .run();
    assert!(out.stderr.contains("bad.txt:3"), "{}", out.stderr);
    assert!(!layout.exists(), "a failed mirror created the layout");
}

/// Exit code 2 promises "nothing written" (`seedforge --help`): a platform that no listed
/// image has is invalid input and must be found before the output directory is created.
#[test]
fn build_for_platform_no_image_has_exits_2_and_writes_nothing() {
    let lab = Lab::new();
    replace_config_line(&lab, "    - linux/amd64", "    - linux/s390x");
    let out = build_expecting_2(&lab);
    assert!(out.stderr.contains("linux/s390x"), "{}", out.stderr);
    assert!(
        !lab.out_dir().exists(),
        "build exited 2 (\"nothing written\") but created {}: {:?}",
        lab.out_dir().display(),
        common::files_under(&lab.out_dir())
    );
}

/// Removes every line of the lab's images.txt that contains `needle`.
fn drop_list_lines(lab: &Lab, needle: &str) {
    let path = lab.lab_dir().join("images.txt");
    let text = fs::read_to_string(&path).unwrap();
    let kept: Vec<&str> = text.lines().filter(|l| !l.contains(needle)).collect();
    fs::write(&path, kept.join("\n") + "\n").unwrap();
}

#[test]
fn pause_image_missing_from_the_airgap_set_exits_2_naming_it() {
    // The field failure: pods stuck in ContainerCreating ("failed to get sandbox image").
    case(
        |lab| {
            drop_list_lines(lab, "mirrored-pause");
            "docker.io/rancher/mirrored-pause:3.6".to_string()
        },
        |stderr, token| {
            assert!(stderr.contains(token), "no {token} in:\n{stderr}");
            assert!(stderr.contains("pause"), "{stderr}");
        },
    );
}

#[test]
fn pause_image_version_other_than_the_clusters_exits_2() {
    case(
        |lab| {
            insert_config_line(
                lab,
                "  k3s_version: v1.33.1+k3s1",
                "  pause_image: rancher/mirrored-pause:3.10",
            );
            "docker.io/rancher/mirrored-pause:3.10".to_string()
        },
        |stderr, token| assert!(stderr.contains(token), "no {token} in:\n{stderr}"),
    );
}

#[test]
fn traefik_missing_is_an_error_unless_disabled() {
    case(
        |lab| {
            drop_list_lines(lab, "traefik");
            "docker.io/rancher/mirrored-library-traefik:3.3.6".to_string()
        },
        |stderr, token| assert!(stderr.contains(token), "no {token} in:\n{stderr}"),
    );
    let lab = Lab::new();
    drop_list_lines(&lab, "traefik");
    insert_config_line(&lab, "  k3s_version: v1.33.1+k3s1", "  disable: [traefik]");
    lab.build();
}

#[test]
fn unknown_disabled_component_exits_2_with_position() {
    case(
        |lab| {
            let n = insert_config_line(lab, "  k3s_version: v1.33.1+k3s1", "  disable: [traefick]");
            format!("seedforge.yaml:{n}:")
        },
        |stderr, token| {
            assert!(stderr.contains(token), "no {token} in:\n{stderr}");
            assert!(stderr.contains("traefick"), "{stderr}");
        },
    );
}

#[test]
fn airgap_zstd_level_above_k3s_limit_exits_2() {
    case(
        |lab| {
            fs::write(
                lab.lab_dir().join("seedforge.yaml"),
                fs::read_to_string(lab.lab_dir().join("seedforge.yaml")).unwrap()
                    + "airgap:\n  compression: zstd\n  level: 22\n",
            )
            .unwrap();
            "level 22".to_string()
        },
        |stderr, token| assert!(stderr.contains(token), "no {token} in:\n{stderr}"),
    );
}
