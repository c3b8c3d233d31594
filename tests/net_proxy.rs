//! `HTTP_PROXY`, `HTTPS_PROXY` and `NO_PROXY` are followed as Go's `httpproxy` follows
//! them (what containerd, skopeo and podman do), checked with `mirror` against a real
//! registry behind a logging forward proxy. The proxy takes every request to the registry
//! whatever host it names, and `registry.test` resolves nowhere, so a mirror of
//! `registry.test:PORT/…` succeeds only through the proxy and a direct attempt fails at the
//! name lookup: the outcome and the proxy's log together show which way a request went.
//!
//! - A `NO_PROXY` entry `host:port` exempts that host on that port only.
//! - `https://` goes through `HTTPS_PROXY` (a `CONNECT` tunnel), never `HTTP_PROXY`.
//! - Loopback (`127.0.0.1`) is never proxied, with no `NO_PROXY` at all.
//! - A proxy scheme the client cannot speak (`socks5://`) is exit 2 naming the variable as
//!   it was set (`https_proxy` or `HTTPS_PROXY`, `http_proxy` or `HTTP_PROXY`),
//!   its password masked, rather than a direct connection.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use common::proxy::ForwardProxy;
use common::registry::{Registry, RegistryOptions, TestCa, fixture_layout, skopeo_push};
use common::{Cmd, Output, require_tool};
use std::fs;
use std::path::Path;

const IMAGE: &str = "mirrored-pause:3.6";

fn filled_registry() -> Option<Registry> {
    if !require_tool("docker-registry") || !require_tool("skopeo") {
        return None;
    }
    let registry = Registry::start_plain();
    let source = format!("oci:{}:{IMAGE}", fixture_layout().display());
    skopeo_push(&source, &registry, &format!("rancher/{IMAGE}"), false);
    Some(registry)
}

/// `mirror` of the image from `host` over plain HTTP with the proxy variables set to
/// `proxy` and `NO_PROXY` to `no_proxy`.
fn mirror(work: &Path, host: &str, proxy: &ForwardProxy, no_proxy: &str) -> Output {
    let url = proxy.url();
    let env = [
        ("HTTP_PROXY", url.as_str()),
        ("HTTPS_PROXY", &url),
        ("NO_PROXY", no_proxy),
    ];
    mirror_with(work, host, &env, &["--plain-http", host])
}

/// `mirror` of the image from `host` with `env` set, every other proxy variable emptied
/// (so the test runner's own environment plays no part), and `args` added.
fn mirror_with(work: &Path, host: &str, env: &[(&str, &str)], args: &[&str]) -> Output {
    let list = work.join("images.txt");
    fs::write(&list, format!("docker://{host}/rancher/{IMAGE}\n")).unwrap();
    let mut cmd = Cmd::seedforge()
        .args(["mirror", "--images"])
        .arg(&list)
        .arg("--layout")
        .arg(work.join("oci"))
        .args(["--platform", "linux/amd64"])
        .args(args)
        // A direct attempt at a name that resolves nowhere fails fast.
        .env("SEEDFORGE_BUDGET", "5")
        .any_status();
    for name in ["HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY"] {
        if !env.iter().any(|(k, _)| *k == name) {
            cmd = cmd.env(name, "");
        }
        cmd = cmd.env(&name.to_ascii_lowercase(), "");
    }
    for (k, v) in env {
        cmd = cmd.env(k, v);
    }
    cmd.run()
}

#[test]
fn no_proxy_host_port_entry_exempts_that_port_only() {
    let Some(registry) = filled_registry() else {
        return;
    };
    let proxy = ForwardProxy::start(registry.port());
    let host = format!("registry.test:{}", registry.port());
    let other = format!("registry.test:{}", registry.port() ^ 1);

    // Another port in NO_PROXY: the request goes through the proxy and succeeds.
    let work = tempfile::tempdir().unwrap();
    let out = mirror(work.path(), &host, &proxy, &other);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let seen = proxy.seen();
    assert!(
        seen.iter()
            .any(|l| l.contains(&format!("http://{host}/v2/"))),
        "{seen:?}"
    );

    // Its own host:port in NO_PROXY: direct, so the name lookup fails; the proxy sees nothing.
    let before = proxy.seen().len();
    let work = tempfile::tempdir().unwrap();
    let out = mirror(
        work.path(),
        &host,
        &proxy,
        &format!(" other.example, {host} "),
    );
    assert_ne!(out.code, Some(0), "{}", out.stdout);
    assert!(out.stderr.contains("registry.test"), "{}", out.stderr);
    assert_eq!(proxy.seen()[before..], [] as [String; 0]);
}

#[test]
fn loopback_is_never_proxied() {
    let Some(registry) = filled_registry() else {
        return;
    };
    let proxy = ForwardProxy::start(registry.port());
    let work = tempfile::tempdir().unwrap();
    let out = mirror(work.path(), &registry.host(), &proxy, "");
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(proxy.seen(), [] as [String; 0]);
    assert!(work.path().join("oci/index.json").is_file());
}

#[test]
fn a_proxy_scheme_the_client_cannot_speak_is_refused() {
    let work = tempfile::tempdir().unwrap();
    let list = work.path().join("images.txt");
    fs::write(&list, "docker://registry.example:5000/x/y:1\n").unwrap();
    let out = Cmd::seedforge()
        .args(["mirror", "--images"])
        .arg(&list)
        .arg("--layout")
        .arg(work.path().join("oci"))
        .env("HTTPS_PROXY", "socks5://me:s3cret@127.0.0.1:1")
        .env("NO_PROXY", "")
        .env("no_proxy", "")
        .expect(2)
        .run();
    assert!(
        out.stderr.contains("HTTPS_PROXY=socks5://me:***@"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("s3cret"), "{}", out.stderr);
    assert!(!work.path().join("oci").exists());
}

/// Every proxy variable but `only` emptied (the test runner's own are not used).
fn proxy_env(cmd: Cmd, only: (&str, &str)) -> Cmd {
    let mut cmd = cmd;
    for name in [
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "NO_PROXY",
        "no_proxy",
        "ALL_PROXY",
        "all_proxy",
    ] {
        cmd = cmd.env(name, if name == only.0 { only.1 } else { "" });
    }
    cmd
}

#[test]
fn a_refused_proxy_is_named_by_the_variable_set() {
    let work = tempfile::tempdir().unwrap();
    let list = work.path().join("images.txt");
    fs::write(&list, "docker://registry.example:5000/x/y:1\n").unwrap();
    for name in ["https_proxy", "HTTPS_PROXY"] {
        let out = proxy_env(
            Cmd::seedforge()
                .args(["mirror", "--images"])
                .arg(&list)
                .arg("--layout")
                .arg(work.path().join("oci")),
            (name, "socks5h://me:s3cret@127.0.0.1:1"),
        )
        .expect(2)
        .run();
        assert!(
            out.stderr.contains(&format!("{name}=socks5h://me:***@")),
            "{name}: {}",
            out.stderr
        );
        assert!(!out.stderr.contains("s3cret"), "{}", out.stderr);
        assert!(!work.path().join("oci").exists());
    }
    // An http:// repository goes by http_proxy.
    let bundle = work.path().join("ops.tar.gz");
    for name in ["http_proxy", "HTTP_PROXY"] {
        let out = proxy_env(
            Cmd::seedforge()
                .args([
                    "debs",
                    "--repo",
                    "http://deb.example/debian",
                    "--suite",
                    "bookworm",
                    "--package",
                    "jq",
                    "--no-cache",
                ])
                .arg("--out")
                .arg(&bundle),
            (name, "socks5h://127.0.0.1:1"),
        )
        .expect(2)
        .run();
        assert!(
            out.stderr
                .contains(&format!("{name}=socks5h://127.0.0.1:1")),
            "{name}: {}",
            out.stderr
        );
        assert!(!bundle.exists());
    }
}

#[test]
fn https_goes_through_https_proxy_only() {
    if !require_tool("docker-registry") || !require_tool("skopeo") || !require_tool("openssl") {
        return;
    }
    let ca = TestCa::new();
    let registry = Registry::start(&RegistryOptions {
        tls: Some((ca.server_cert.clone(), ca.server_key.clone())),
        ..Default::default()
    });
    let source = format!("oci:{}:{IMAGE}", fixture_layout().display());
    skopeo_push(&source, &registry, &format!("rancher/{IMAGE}"), false);
    let proxy = ForwardProxy::start(registry.port());
    let host = format!("registry.test:{}", registry.port());
    let ca_file = ca.ca_cert.to_str().unwrap();

    let work = tempfile::tempdir().unwrap();
    let url = proxy.url();
    let out = mirror_with(
        work.path(),
        &host,
        &[("HTTPS_PROXY", &url)],
        &["--ca-file", ca_file],
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let seen = proxy.seen();
    assert!(!seen.is_empty(), "nothing went through the proxy");
    assert!(
        seen.iter().all(|l| *l == format!("CONNECT {host}")),
        "{seen:?}"
    );

    // HTTP_PROXY alone is not for https:// URLs: direct, and the name resolves nowhere.
    let before = seen.len();
    let work = tempfile::tempdir().unwrap();
    let out = mirror_with(
        work.path(),
        &host,
        &[("HTTP_PROXY", &url)],
        &["--ca-file", ca_file],
    );
    assert_ne!(out.code, Some(0), "{}", out.stdout);
    assert_eq!(proxy.seen()[before..], [] as [String; 0]);
}
