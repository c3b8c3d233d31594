//! Exit 75 only where another run can help: a proxy answering with 407 (the `CONNECT`
//! tunnel of an `https://` fetch, or a plain-HTTP request through it) is exit 1, the
//! credentials named, never 75.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;
use common::Cmd;
use common::misbehave::{Answer, Server};
use std::fs;

/// `mirror` of `image` with both proxy variables set to `proxy` (the runner's own
/// proxy settings emptied).
fn mirror(image: &str, proxy: &str, args: &[&str]) -> common::Output {
    let work = tempfile::tempdir().unwrap();
    let list = work.path().join("images.txt");
    fs::write(&list, format!("docker://{image}\n")).unwrap();
    let mut cmd = Cmd::seedforge()
        .args(["mirror", "--images"])
        .arg(&list)
        .arg("--layout")
        .arg(work.path().join("oci"))
        .args(["--platform", "linux/amd64"])
        .args(args)
        .env("SEEDFORGE_BUDGET", "5")
        .any_status();
    for name in ["HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY"] {
        cmd = cmd.env(name, "").env(&name.to_ascii_lowercase(), "");
    }
    cmd.env("HTTP_PROXY", proxy).env("HTTPS_PROXY", proxy).run()
}

#[test]
fn a_proxy_asking_for_credentials_is_exit_1_tunnel_or_not() {
    let proxy = Server::start(|_, _| Answer::status(407));
    let url = format!("http://{}", proxy.host());
    // https://: the CONNECT tunnel is refused.
    let tunnel = mirror("registry.test:5000/x/y:1", &url, &[]);
    assert_eq!(tunnel.code, Some(1), "{}", tunnel.stderr);
    assert!(tunnel.stderr.contains("407"), "{}", tunnel.stderr);
    assert!(
        proxy
            .requests()
            .iter()
            .any(|r| r.starts_with("CONNECT registry.test:5000")),
        "{:?}",
        proxy.requests()
    );
    // Plain HTTP through the proxy: the same answer, the same code.
    let plain = mirror(
        "registry.test:5000/x/y:1",
        &url,
        &["--plain-http", "registry.test:5000"],
    );
    assert_eq!(plain.code, Some(1), "{}", plain.stderr);
}

/// A chart index naming its archive as a `file://` URL: refused as the wrong input it is
/// (exit 2: no retry helps) naming the scheme, not 75 with a DNS hint.
#[test]
fn a_chart_archive_at_a_file_url_is_refused_naming_the_scheme() {
    let index = "apiVersion: v1\nentries:\n  demo-app:\n    - apiVersion: v2\n      name: demo-app\n      version: 1.2.3\n      digest: 0000000000000000000000000000000000000000000000000000000000000000\n      urls:\n        - file:///etc/hostname\n      created: \"2024-01-01T00:00:00Z\"\ngenerated: \"2024-01-01T00:00:00Z\"\n";
    let repo = Server::start(move |_, path| match path {
        "/index.yaml" => Answer::ok("application/yaml", index),
        _ => Answer::status(404),
    });
    let lab = crate::charts::lab_with_chart(&repo.url(""), "");
    let refused = lab
        .seedforge()
        .args(["plan", "--config", lab.config_arg()])
        .any_status()
        .run();
    assert_eq!(refused.code, Some(2), "{}", refused.stderr);
    assert!(
        refused
            .stderr
            .contains("file:///etc/hostname: a file:// URL, which seedforge does not fetch"),
        "{}",
        refused.stderr
    );
    assert!(
        !refused.stderr.contains("cannot look up"),
        "{}",
        refused.stderr
    );
}
