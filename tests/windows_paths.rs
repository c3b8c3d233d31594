//! Windows paths (`C:\...`, `C:/...`, `c:name`, `\\server\share`, `dir\file`) where a Linux
//! path is expected: refused with exit 2, naming the config field at its line (or the
//! flag) and the Linux path to write, and nothing written. On Linux such a value is a
//! relative name with a colon and backslashes; accepted, it would build into a folder of
//! that literal name beside the config.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use crate::common;

use common::{Cmd, assert_same_tree, snapshot};
use std::fs;

/// A config whose every other value is sound; `{token}`, `{list}` and `{extra}` are
/// replaced per case.
const BASE: &str = "\
version: 1
cluster:
  name: lab
  k3s_version: v1.33.1+k3s1
  token: {token}
registry:
  host: 192.168.6.1
images:
  lists:
    - {list}
nodes:
  - name: s1
    role: server
    address: 192.168.6.10/24
{extra}";

#[test]
fn a_windows_path_in_any_path_field_of_the_config_is_refused_at_its_line() {
    // (the field as the message names it, token, list, extra lines)
    let cases: &[(&str, &str, &str, &str)] = &[
        (
            "output",
            "{file: token}",
            "images.txt",
            "output: 'C:\\Users\\me\\out'\n",
        ),
        (
            "output",
            "{file: token}",
            "images.txt",
            "output: 'D:/seeds/out'\n",
        ),
        (
            "export_dir",
            "{file: token}",
            "images.txt",
            "export_dir: 'C:\\Users\\me\\Desktop\\seeds'\n",
        ),
        (
            "templates",
            "{file: token}",
            "images.txt",
            "templates: 'c:templates'\n",
        ),
        (
            "images.lists[0]",
            "{file: token}",
            "'C:\\lists\\images.txt'",
            "",
        ),
        (
            "images.lists[0]",
            "{file: token}",
            "'lists\\images.txt'",
            "",
        ),
        (
            "cluster.token.file",
            "{file: 'C:\\secrets\\token'}",
            "images.txt",
            "",
        ),
        (
            "files[0].source",
            "{file: token}",
            "images.txt",
            "files:\n  - name: tool\n    source: 'C:\\tools\\tool'\n    sha256: 0000000000000000000000000000000000000000000000000000000000000000\n",
        ),
        (
            "packages[0].base",
            "{file: token}",
            "images.txt",
            "packages:\n  - name: ops\n    base: 'C:\\debs\\base.txt'\n",
        ),
        (
            "packages[0].debs[1]",
            "{file: token}",
            "images.txt",
            "packages:\n  - name: ops\n    debs: [a.deb, 'C:\\debs\\b.deb']\n",
        ),
        (
            "packages[0].repos[0].keyring",
            "{file: token}",
            "images.txt",
            "packages:\n  - name: ops\n    repos:\n      - url: http://deb.example/debian\n        suite: stable\n        keyring: '\\\\server\\share\\key.gpg'\n",
        ),
        (
            "registries[0].ca_file",
            "{file: token}",
            "images.txt",
            "registries:\n  - host: r.example\n    ca_file: 'C:/certs/ca.pem'\n",
        ),
        (
            "registries[0].password.file",
            "{file: token}",
            "images.txt",
            "registries:\n  - host: r.example\n    username: me\n    password: {file: 'C:\\pw'}\n",
        ),
        (
            "autoinstall.password.file",
            "{file: token}",
            "images.txt",
            "autoinstall:\n  password: {file: 'C:\\pw'}\n",
        ),
        (
            "charts[0].values",
            "{file: token}",
            "images.txt",
            "charts:\n  - name: demo\n    repo: https://charts.example\n    version: 1.2.3\n    values: 'C:\\charts\\demo-values.yaml'\n",
        ),
        (
            "charts[0].values",
            "{file: token}",
            "images.txt",
            "charts:\n  - name: demo\n    repo: https://charts.example\n    version: 1.2.3\n    values: 'values\\demo.yaml'\n",
        ),
        (
            "manifests[1]",
            "{file: token}",
            "images.txt",
            "manifests:\n  - manifests\n  - '\\\\server\\share\\app.yaml'\n",
        ),
        (
            "manifests[0]",
            "{file: token}",
            "images.txt",
            "manifests:\n  - 'D:/k8s/app.yaml'\n",
        ),
    ];
    for (field, token, list, extra) in cases {
        let dir = tempfile::tempdir().unwrap();
        let text = BASE
            .replace("{token}", token)
            .replace("{list}", list)
            .replace("{extra}", extra);
        fs::write(dir.path().join("seedforge.yaml"), &text).unwrap();
        fs::write(dir.path().join("token"), "t0ken\n").unwrap();
        fs::write(dir.path().join("images.txt"), "").unwrap();
        let before = snapshot(dir.path());
        let out = Cmd::seedforge()
            .cwd(dir.path())
            .args(["build", "--config", "seedforge.yaml"])
            .expect(2)
            .run();
        let line = text
            .lines()
            .position(|l| {
                l.contains('\\') || l.contains("c:") || (l.contains(":/") && !l.contains("://"))
            })
            .unwrap()
            + 1;
        let want = format!("seedforge.yaml:{line}:");
        assert!(
            out.stderr.contains(&want) && out.stderr.contains(&format!("{field}: '")),
            "{field}: wanted {want} and the field in:\n{}",
            out.stderr
        );
        assert!(out.stderr.contains("Windows"), "{field}:\n{}", out.stderr);
        assert_same_tree(&before, &snapshot(dir.path()), field);
    }
}

#[test]
fn an_output_written_as_a_drive_path_names_its_linux_path_and_builds_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let text = BASE
        .replace("{token}", "{file: token}")
        .replace("{list}", "images.txt")
        .replace("{extra}", "output: 'C:\\Users\\me\\out'\n");
    fs::write(dir.path().join("seedforge.yaml"), &text).unwrap();
    fs::write(dir.path().join("token"), "t0ken\n").unwrap();
    fs::write(dir.path().join("images.txt"), "").unwrap();
    for command in ["build", "plan"] {
        let out = Cmd::seedforge()
            .cwd(dir.path())
            .args([command, "--config", "seedforge.yaml"])
            .expect(2)
            .run();
        // This machine is no WSL: the advice is worded for any system, with the WSL form.
        assert!(
            out.stderr
                .contains("seedforge.yaml:15:9: output: 'C:\\Users\\me\\out' is a Windows path")
                && out.stderr.contains("/mnt/c/Users/me/out"),
            "{}",
            out.stderr
        );
    }
    let names: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!names.iter().any(|n| n.contains("C:")), "{names:?}");
}

#[test]
fn a_windows_path_given_to_a_path_flag_is_refused_naming_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("seedforge.yaml"), "version: 1\n").unwrap();
    let cases: &[(&[&str], &str)] = &[
        (
            &["build", "--out", "C:\\Users\\me\\out"],
            "--out: 'C:\\Users\\me\\out'",
        ),
        (
            &["build", "--config", "D:/lab/seedforge.yaml"],
            "--config: 'D:/lab/seedforge.yaml'",
        ),
        (&["render", "--out", "e:nodes"], "--out: 'e:nodes'"),
        (
            &["verify", "\\\\server\\share\\out"],
            "<DIR>: '\\\\server\\share\\out'",
        ),
        (
            &[
                "pki",
                "--host",
                "10.0.0.1",
                "--out",
                "pki",
                "--ca-cert",
                "C:\\ca.crt",
                "--ca-key",
                "ca.key",
            ],
            "--ca-cert: 'C:\\ca.crt'",
        ),
        (&["clean", "out\\old"], "<DIR>: 'out\\old'"),
    ];
    let before = snapshot(dir.path());
    for (args, want) in cases {
        let out = Cmd::seedforge()
            .cwd(dir.path())
            .args(args.iter().copied())
            .expect(2)
            .run();
        assert!(
            out.stderr.starts_with(&format!("error: {want}")),
            "{args:?}:\n{}",
            out.stderr
        );
    }
    assert_same_tree(&before, &snapshot(dir.path()), "after the refused commands");
    // `//server/share` is a Linux path (Linux reads a leading `//` as `/`): not refused as
    // a Windows one.
    let out = Cmd::seedforge()
        .cwd(dir.path())
        .args(["verify", "//nonexistent-seedforge-test/share"])
        .any_status()
        .run();
    assert!(!out.stderr.contains("Windows"), "{}", out.stderr);
}

#[test]
fn a_windows_path_in_an_image_list_source_is_refused_at_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let text = BASE
        .replace("{token}", "{file: token}")
        .replace("{list}", "images.txt")
        .replace("{extra}", "");
    fs::write(dir.path().join("seedforge.yaml"), &text).unwrap();
    fs::write(dir.path().join("token"), "t0ken\n").unwrap();
    fs::write(
        dir.path().join("images.txt"),
        "# local archives\noci-archive:C:\\images\\pause.tar:rancher/mirrored-pause:3.6\n",
    )
    .unwrap();
    let before = snapshot(dir.path());
    let out = Cmd::seedforge()
        .cwd(dir.path())
        .args(["build", "--config", "seedforge.yaml"])
        .expect(2)
        .run();
    assert!(
        out.stderr.contains("images.txt:2")
            && out
                .stderr
                .contains("'C:\\images\\pause.tar' is a Windows path")
            && out.stderr.contains("/mnt/c/images/pause.tar"),
        "{}",
        out.stderr
    );
    assert_same_tree(&before, &snapshot(dir.path()), "after the refused build");
}
