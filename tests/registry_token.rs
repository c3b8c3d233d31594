//! The bearer-token flow against a real distribution registry configured for token auth:
//! the registry's challenge sends seedforge to a token service (test code, see
//! `common::token`) with the user's basic credentials, and the token it gets back opens the
//! registry. Without credentials the token service refuses, and so does seedforge.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use common::registry::{Registry, RegistryOptions, fixture_layout};
use common::token::TokenServer;
use common::{Cmd, require_tool};
use std::fs::{self, File};
use std::process::Stdio;
use std::sync::atomic::Ordering;

#[test]
fn bearer_token_flow_pulls_and_pushes() {
    if !require_tool("docker-registry") || !require_tool("skopeo") || !require_tool("openssl") {
        return;
    }
    let repos = ["rancher/mirrored-pause", "copies/pause"];
    let tokens = TokenServer::start("tester", "s3cret-pw", &repos);
    let registry = Registry::start(&RegistryOptions {
        token: Some((tokens.realm(), tokens.cert.clone())),
        ..Default::default()
    });
    let host = registry.host();
    Cmd::new("skopeo")
        .args(["copy", "--quiet", "--all", "--dest-tls-verify=false"])
        .args(["--dest-creds", "tester:s3cret-pw"])
        .arg(format!(
            "oci:{}:mirrored-pause:3.6",
            fixture_layout().display()
        ))
        .arg(format!("docker://{host}/rancher/mirrored-pause:3.6"))
        .run();
    let work = tempfile::tempdir().unwrap();
    let list = work.path().join("images.txt");
    fs::write(
        &list,
        format!("docker://{host}/rancher/mirrored-pause:3.6 {host}/copies/pause:1\n"),
    )
    .unwrap();
    let pw = work.path().join("pw");
    fs::write(&pw, "s3cret-pw\n").unwrap();
    let mirror = |layout: &std::path::Path, code: i32, creds: bool| {
        let cmd = Cmd::seedforge()
            .args([
                "mirror",
                "--platform",
                "linux/amd64",
                "--platform",
                "linux/arm64",
            ])
            .arg("--images")
            .arg(&list)
            .arg("--layout")
            .arg(layout)
            .args(["--plain-http", &host])
            .expect(code);
        if creds {
            cmd.args(["--username", "tester", "--password-stdin"])
                .spawn_with_stdin(Stdio::from(File::open(&pw).unwrap()))
                .wait()
        } else {
            cmd.run()
        }
    };
    // Anonymous: the token service says no, and nothing is written.
    let refused = work.path().join("refused");
    let out = mirror(&refused, 2, false);
    assert!(out.stderr.contains("refused access"), "{}", out.stderr);
    assert!(out.stderr.contains(&host), "{}", out.stderr);
    assert!(!refused.exists());

    let layout = work.path().join("oci");
    mirror(&layout, 0, true);
    assert!(tokens.issued.load(Ordering::Relaxed) > 0);
    let want = Cmd::new("skopeo")
        .args([
            "inspect",
            "--raw",
            "--tls-verify=false",
            "--creds",
            "tester:s3cret-pw",
        ])
        .arg(format!("docker://{host}/rancher/mirrored-pause:3.6"))
        .run()
        .stdout;
    let stored = Cmd::new("skopeo")
        .args(["inspect", "--raw"])
        .arg(format!("oci:{}:{host}/copies/pause:1", layout.display()))
        .run()
        .stdout;
    assert_eq!(stored, want);

    // Push back under the other repository through the same token flow; the layers are
    // mounted from rancher/mirrored-pause or uploaded, and the digest is unchanged.
    Cmd::seedforge()
        .args(["push", "--layout"])
        .arg(&layout)
        .args(["--registry", &host, "--plain-http", &host])
        .args(["--username", "tester", "--password-stdin"])
        .spawn_with_stdin(Stdio::from(File::open(&pw).unwrap()))
        .wait();
    let pushed = Cmd::new("skopeo")
        .args([
            "inspect",
            "--raw",
            "--tls-verify=false",
            "--creds",
            "tester:s3cret-pw",
        ])
        .arg(format!("docker://{host}/copies/pause:1"))
        .run()
        .stdout;
    assert_eq!(pushed, want);
}
