//! What the nodes will ask the cluster's registry for, refused at `plan` when the registry
//! could not answer it: an IPv6-literal registry host with a k3s release whose containerd
//! (1.7) cannot read the `hosts.toml` key k3s writes for it (a `registry.rewrite` is
//! honoured: `registry_rewrite.rs`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use common::Lab;
use std::fs;

/// The lab on k3s `version` with its registry at `host`, the components that release
/// would need at other tags than the lab carries switched off, and `extra` under
/// `registry:`.
fn lab_on(version: &str, host: &str, extra: &str) -> Lab {
    let lab = Lab::new();
    let config = lab.lab_dir().join("seedforge.yaml");
    let text = fs::read_to_string(&config).unwrap();
    let new = text
        .replace(
            "k3s_version: v1.33.1+k3s1",
            &format!("k3s_version: {version}"),
        )
        .replace(
            "  token: {file: token}\n",
            "  token: {file: token}\n  disable: [coredns, traefik, local-storage]\n",
        )
        .replace(
            "registry:\n  host: 192.168.6.1\n  port: 5000\n",
            &format!("registry:\n  host: \"{host}\"\n  port: 5000\n{extra}"),
        );
    fs::write(&config, new).unwrap();
    lab
}

fn plan(lab: &Lab, code: i32) -> common::Output {
    lab.seedforge()
        .args(["plan", "--config", lab.config_arg()])
        .expect(code)
        .run()
}

#[test]
fn an_ipv6_registry_is_refused_where_the_releases_containerd_cannot_read_it() {
    let refused = plan(&lab_on("v1.32.1+k3s1", "fd00:6::1", ""), 2);
    let e = &refused.stderr;
    for says in [
        "seedforge.yaml:",
        "registry.host [fd00:6::1] is an IPv6 address",
        "k3s v1.32.1+k3s1 runs containerd 1.x",
        "v1.32.X.md",
        "k3s-io/k3s#9897",
        "k3s v1.32.2+k3s1 or newer",
        "DNS name",
    ] {
        assert!(e.contains(says), "{says:?} not in:\n{e}");
    }
    // The first release of the line on containerd 2.0, the same address: planned.
    plan(&lab_on("v1.32.2+k3s1", "fd00:6::1", ""), 0);
    // And the same old release with a DNS name.
    plan(&lab_on("v1.32.1+k3s1", "registry.lab", ""), 0);
}

/// `registry.sans` takes a wildcard name as Go's crypto/x509 verifier accepts it (`*` as
/// the whole leftmost label): the certificate carries it, openssl verifies a name under it
/// and refuses one two labels deeper, `seedforge verify` passes the output; a `*` anywhere
/// else is refused at its line.
#[test]
fn a_wildcard_san_is_written_as_go_accepts_it_and_others_are_refused() {
    if !common::require_tool("openssl") {
        return;
    }
    let lab = lab_on(
        "v1.33.1+k3s1",
        "192.168.6.1",
        "  sans: [\"*.lab.example\", registry.lab]\n",
    );
    lab.build();
    let out = lab.out_dir();
    let cert = out.join("pki/registry.crt");
    let text = common::Cmd::new("openssl")
        .args(["x509", "-noout", "-ext", "subjectAltName", "-in"])
        .arg(&cert)
        .run();
    assert!(text.stdout.contains("DNS:*.lab.example"), "{}", text.stdout);
    let verify = |name: &str| {
        common::Cmd::new("openssl")
            .args(["verify", "-verify_hostname", name, "-CAfile"])
            .arg(out.join("pki/ca.crt"))
            .arg(&cert)
            .any_status()
            .run()
    };
    let ok = verify("registry2.lab.example");
    assert_eq!(ok.code, Some(0), "{}{}", ok.stdout, ok.stderr);
    let deeper = verify("a.b.lab.example");
    assert_ne!(deeper.code, Some(0), "{}", deeper.stdout);
    lab.seedforge().arg("verify").arg(&out).run();
    for bad in ["a*.lab.example", "*.*.lab.example", "*"] {
        let lab = lab_on(
            "v1.33.1+k3s1",
            "192.168.6.1",
            &format!("  sans: [\"{bad}\"]\n"),
        );
        let refused = plan(&lab, 2);
        assert!(
            refused.stderr.contains("seedforge.yaml:") && refused.stderr.contains("wildcard"),
            "{bad}: {}",
            refused.stderr
        );
    }
}
