//! `--insecure-registry` is refused: docker and podman take it to mean "HTTPS without
//! certificate verification, or HTTP", and seedforge never skips verification. The
//! refusal (exit 2, before anything is read or written) names the flags to use instead.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use common::registry::{fixture_layout, free_port};
use common::{Cmd, snapshot};

#[test]
fn insecure_registry_exits_2_naming_plain_http_and_ca_file_for_mirror_and_push() {
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens there: the refusal comes before any connection.
    let host = format!("127.0.0.1:{}", free_port());
    let list = dir.path().join("images.txt");
    std::fs::write(&list, format!("docker://{host}/rancher/pause:3.6\n")).unwrap();
    let layout = dir.path().join("layout");
    let fixture = fixture_layout();
    let before = snapshot(&fixture);
    let mirror = Cmd::seedforge()
        .args(["mirror", "--images"])
        .arg(&list)
        .arg("--layout")
        .arg(&layout)
        .args(["--insecure-registry", &host]);
    let push = Cmd::seedforge()
        .args(["push", "--layout"])
        .arg(&fixture)
        .args(["--registry", &host, "--insecure-registry", &host]);
    for cmd in [mirror, push] {
        let out = cmd.expect(2).run();
        for needle in [
            "--insecure-registry",
            "without certificate verification",
            &format!("--plain-http {host}"),
            "--ca-file",
            "registries[].ca_file",
        ] {
            assert!(out.stderr.contains(needle), "{needle}:\n{}", out.stderr);
        }
        assert!(out.stdout.is_empty(), "{}", out.stdout);
    }
    assert!(!layout.exists());
    common::assert_same_tree(&before, &snapshot(&fixture), "the pushed layout");
}

/// `--plain-http` for a registry that speaks HTTPS gets a 400 from it (an HTTPS server's
/// answer to plain HTTP); the message says what that likely means and what to change,
/// for `mirror` and for `push`.
#[test]
fn plain_http_to_an_https_registry_says_to_leave_the_flag_out() {
    if !common::require_tool("docker-registry") {
        return;
    }
    let ca = common::registry::TestCa::new();
    let registry = common::registry::Registry::start(&common::registry::RegistryOptions {
        tls: Some((ca.server_cert.clone(), ca.server_key.clone())),
        ..Default::default()
    });
    let host = registry.host();
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("images.txt");
    std::fs::write(&list, format!("docker://{host}/rancher/pause:3.6\n")).unwrap();
    let mirror = Cmd::seedforge()
        .args(["mirror", "--images"])
        .arg(&list)
        .arg("--layout")
        .arg(dir.path().join("layout"))
        .args(["--plain-http", &host]);
    let push = Cmd::seedforge()
        .args(["push", "--layout"])
        .arg(fixture_layout())
        .args(["--registry", &host, "--plain-http", &host]);
    for cmd in [mirror, push] {
        let out = cmd.any_status().run();
        assert_eq!(out.code, Some(1), "{}", out.stderr);
        for needle in ["400", "may speak HTTPS", "leave out --plain-http"] {
            assert!(out.stderr.contains(needle), "{needle}:\n{}", out.stderr);
        }
    }
}
