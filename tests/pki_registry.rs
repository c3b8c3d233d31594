//! The real consumers of the registry PKI: a distribution registry serves our certificate
//! on 127.0.0.1, skopeo pushes and pulls trusting only our CA, `openssl s_client` verifies
//! the served chain for the address, the registry runs from a build's own
//! `registry/config.yml` (with htpasswd auth), and containerd pulls through the mirror
//! that our `certs.d/*/hosts.toml` describe.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use common::pki::{ServedConfig, cert_dir_with, lab_config_for_loopback, port, seedforge_pki};
use common::registry::{Registry, RegistryOptions, TestCa, fixture_layout};
use common::{Cmd, Containerd, Lab, index_entry, require_containerd, require_tool};
use std::time::Duration;

const PAUSE: &str = "mirrored-pause:3.6";

fn skopeo() -> Cmd {
    Cmd::new("skopeo").timeout(Duration::from_secs(120))
}

#[test]
fn skopeo_pushes_and_pulls_through_a_registry_serving_our_certificate() {
    if !require_tool("docker-registry") || !require_tool("skopeo") || !require_tool("openssl") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    seedforge_pki(dir.path(), "127.0.0.1", 5000, &[]);
    let pki = dir.path().join("pki");
    let registry = Registry::start(&RegistryOptions {
        tls: Some((pki.join("registry.crt"), pki.join("registry.key"))),
        basic_auth: None,
        ..Default::default()
    });
    let certs = cert_dir_with(&pki.join("ca.crt"), &dir.path().join("trust"));
    let source = format!("oci:{}:{PAUSE}", fixture_layout().display());
    let target = format!("docker://{}/rancher/{PAUSE}", registry.host());
    skopeo()
        .args(["copy", "--quiet", "--all", "--dest-cert-dir"])
        .arg(&certs)
        .arg(&source)
        .arg(&target)
        .run();
    let pulled = dir.path().join("pulled");
    skopeo()
        .args(["copy", "--quiet", "--all", "--src-cert-dir"])
        .arg(&certs)
        .arg(&target)
        .arg(format!("oci:{}:pause", pulled.display()))
        .run();
    let want = index_entry(&fixture_layout(), PAUSE)["digest"].clone();
    assert_eq!(index_entry(&pulled, "pause")["digest"], want);
    // Another CA is not trusted for our certificate.
    let other = TestCa::new();
    let out = skopeo()
        .args(["inspect", "--raw", "--cert-dir"])
        .arg(other.cert_dir())
        .arg(&target)
        .any_status()
        .run();
    assert_ne!(out.code, Some(0));
    assert!(out.stderr.contains("x509"), "{}", out.stderr);
    s_client_verifies(&registry, &pki.join("ca.crt"));
    mirror_trusts_only_our_ca(&registry, &pki.join("ca.crt"), dir.path(), &want);
}

/// `seedforge mirror --ca-file` pulls from the registry serving our certificate and stores
/// the digest skopeo pushed; without the CA it refuses the registry.
fn mirror_trusts_only_our_ca(
    registry: &Registry,
    ca: &std::path::Path,
    dir: &std::path::Path,
    want: &serde_json::Value,
) {
    let list = dir.join("images.txt");
    let reference = format!("{}/rancher/{PAUSE}", registry.host());
    std::fs::write(&list, format!("docker://{reference}\n")).unwrap();
    let layout = dir.join("mirrored");
    let mirror = |with_ca: bool| {
        let mut cmd = Cmd::seedforge()
            .args(["mirror", "--images"])
            .arg(&list)
            .arg("--layout")
            .arg(&layout)
            .args(["--platform", "linux/amd64", "--platform", "linux/arm64"]);
        if with_ca {
            cmd = cmd.arg("--ca-file").arg(ca);
        }
        cmd
    };
    let refused = mirror(false).any_status().run();
    assert_ne!(refused.code, Some(0), "an unknown CA must be refused");
    mirror(true).run();
    assert_eq!(index_entry(&layout, &reference)["digest"], *want);
}

/// `openssl s_client -verify_ip` accepts the served chain for 127.0.0.1, not for another IP.
fn s_client_verifies(registry: &Registry, ca: &std::path::Path) {
    let s_client = |ip: &str| {
        Cmd::new("openssl")
            .args(["s_client", "-connect"])
            .arg(registry.host())
            .arg("-CAfile")
            .arg(ca)
            .args(["-verify_ip", ip, "-verify_return_error", "-brief"])
            .timeout(Duration::from_secs(30))
            .any_status()
            .run()
    };
    let ok = s_client("127.0.0.1");
    assert_eq!(ok.code, Some(0), "{}{}", ok.stdout, ok.stderr);
    assert!(ok.stderr.contains("Verification: OK"), "{}", ok.stderr);
    let bad = s_client("127.0.0.2");
    assert_ne!(bad.code, Some(0), "{}{}", bad.stdout, bad.stderr);
    assert!(bad.stderr.contains("IP address mismatch"), "{}", bad.stderr);
}

#[test]
fn build_output_serves_itself_with_auth_and_containerd_pulls_through_the_mirror() {
    for tool in ["docker-registry", "skopeo"] {
        if !require_tool(tool) {
            return;
        }
    }
    if !require_containerd() {
        return;
    }
    let lab = Lab::new();
    let p = port();
    let ca_on_node = lab.out_dir().join("pki/ca.crt");
    let config = lab_config_for_loopback(
        &lab,
        p,
        &format!(
            "  node_ca_path: {}\n  auth:\n    username: puller\n    password: {{env: LAB_PULL_PASSWORD}}\n",
            ca_on_node.display()
        ),
    );
    let out = lab
        .seedforge()
        .args(["build", "--config", config])
        .env("LAB_PULL_PASSWORD", "pull-s3cret")
        .run();
    assert!(!out.stdout.contains("pull-s3cret") && !out.stderr.contains("pull-s3cret"));
    let served = ServedConfig::start(&lab.out_dir(), p);
    let certs = cert_dir_with(&ca_on_node, &lab.root().join("trust"));
    let target = format!("docker://127.0.0.1:{p}/rancher/{PAUSE}");
    let push = |creds: &str| {
        skopeo()
            .args([
                "copy",
                "--quiet",
                "--all",
                "--dest-creds",
                creds,
                "--dest-cert-dir",
            ])
            .arg(&certs)
            .arg(format!("oci:{}:{PAUSE}", fixture_layout().display()))
            .arg(&target)
            .any_status()
            .run()
    };
    let refused = push("puller:wrong");
    assert_ne!(refused.code, Some(0), "{}", served.log_text());
    let pushed = push("puller:pull-s3cret");
    assert_eq!(
        pushed.code,
        Some(0),
        "{}\n{}",
        pushed.stderr,
        served.log_text()
    );
    // containerd resolves docker.io through certs.d/docker.io/hosts.toml to our registry,
    // trusting the CA the file names. The registry wants credentials: ctr passes them.
    let containerd = Containerd::start();
    // The same hosts.toml naming another CA: containerd refuses our registry, so the
    // pull below really goes through our files (there is no internet to fall back to).
    let other = TestCa::new();
    let wrong = lab.root().join("wrong-certs.d/docker.io");
    std::fs::create_dir_all(&wrong).unwrap();
    let text = std::fs::read_to_string(lab.out_dir().join("certs.d/docker.io/hosts.toml")).unwrap();
    let ours = ca_on_node.display().to_string();
    assert!(text.contains(&ours), "{text}");
    let text = text.replace(&ours, &other.ca_cert.display().to_string());
    std::fs::write(wrong.join("hosts.toml"), text).unwrap();
    let failed = containerd
        .ctr("seedforge-test")
        .args([
            "images",
            "pull",
            "--user",
            "puller:pull-s3cret",
            "--hosts-dir",
        ])
        .arg(wrong.parent().unwrap())
        .arg(format!("docker.io/rancher/{PAUSE}"))
        .any_status()
        .run();
    assert_ne!(failed.code, Some(0), "{}", failed.stdout);
    assert!(
        failed
            .stderr
            .contains("x509: certificate signed by unknown authority"),
        "{}",
        failed.stderr
    );
    containerd
        .ctr("seedforge-test")
        .args([
            "images",
            "pull",
            "--user",
            "puller:pull-s3cret",
            "--hosts-dir",
        ])
        .arg(lab.out_dir().join("certs.d"))
        .arg(format!("docker.io/rancher/{PAUSE}"))
        .timeout(Duration::from_secs(120))
        .run();
    let listed = containerd
        .ctr("seedforge-test")
        .args(["images", "ls", "-q"])
        .run();
    assert!(
        listed
            .stdout
            .contains(&format!("docker.io/rancher/{PAUSE}")),
        "{}",
        listed.stdout
    );
}

/// containerd (2.x, or Debian 12's 1.6 when asked) pulls through both kinds of
/// `certs.d/*/hosts.toml` that `seedforge pki` writes: the registry's own entry (in
/// `127.0.0.1_PORT_`, containerd's name for `127.0.0.1:PORT`, which holds no `:` for NTFS
/// or exFAT), which once had no `[host]` table and was refused by 1.6 ("invalid `host`
/// tree"), and an upstream (`docker.io`)
/// mirrored to it. The image is put there by `seedforge mirror` and `seedforge push`, so
/// the repository is where the mirror entry expects it (`library/pause` for
/// `docker.io/library/pause`). The same files naming another CA make both pulls fail on
/// the certificate, so the successes prove the files were read (2.x verifies no loopback
/// registry without them).
#[test]
fn containerd_pulls_the_registry_itself_and_a_mirrored_upstream_through_our_hosts_toml() {
    if !require_tool("docker-registry") || !require_containerd() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let ca = out.join("pki/ca.crt");
    let ca_arg = ca.display().to_string();
    let pki = |port: u16| {
        seedforge_pki(
            &out,
            "127.0.0.1",
            port,
            &["--mirror", "docker.io", "--node-ca-path", &ca_arg],
        )
    };
    // The certificate does not depend on the port: issue it, serve it on a free port,
    // then write the configs for that port (the certificate is kept).
    pki(5000);
    let registry = Registry::start(&RegistryOptions {
        tls: Some((out.join("pki/registry.crt"), out.join("pki/registry.key"))),
        ..Default::default()
    });
    pki(registry.port());
    let own = registry.host();
    let own_dir = format!("{}_", own.replace(':', "_"));
    let certs_d = out.join("certs.d");
    assert!(certs_d.join(&own_dir).join("hosts.toml").is_file());
    assert!(!certs_d.join("127.0.0.1_5000_").exists());
    assert!(!certs_d.join(&own).exists());

    let list = dir.path().join("images.txt");
    std::fs::write(
        &list,
        format!(
            "oci:{}:{PAUSE} docker.io/library/pause:3.6\n",
            fixture_layout().display()
        ),
    )
    .unwrap();
    let layout = dir.path().join("layout");
    Cmd::seedforge()
        .args(["mirror", "--images"])
        .arg(&list)
        .arg("--layout")
        .arg(&layout)
        .run();
    Cmd::seedforge()
        .args(["push", "--layout"])
        .arg(&layout)
        .args(["--registry", &own, "--ca-file", &ca_arg])
        .run();

    let containerd = Containerd::start();
    let pull = |hosts_dir: &std::path::Path, reference: &str| {
        containerd
            .ctr("seedforge-test")
            .args(["images", "pull", "--hosts-dir"])
            .arg(hosts_dir)
            .arg(reference)
            .timeout(Duration::from_secs(120))
            .any_status()
            .run()
    };
    let other = TestCa::new();
    let wrong = dir.path().join("wrong-certs.d");
    for host in [own_dir.as_str(), "docker.io"] {
        let text = std::fs::read_to_string(certs_d.join(host).join("hosts.toml")).unwrap();
        std::fs::create_dir_all(wrong.join(host)).unwrap();
        let text = text.replace(&ca_arg, &other.ca_cert.display().to_string());
        std::fs::write(wrong.join(host).join("hosts.toml"), text).unwrap();
    }
    for reference in [
        format!("{own}/library/pause:3.6"),
        "docker.io/library/pause:3.6".to_string(),
    ] {
        // Refused for the certificate, not for anything else: containerd 2.x would not
        // verify a loopback registry at all without the hosts tree, so this is what
        // proves the tree's CA is the one trusted.
        let refused = pull(&wrong, &reference);
        assert_ne!(refused.code, Some(0), "{reference}: {}", refused.stdout);
        assert!(
            refused
                .stderr
                .contains("x509: certificate signed by unknown authority"),
            "{reference}: {}",
            refused.stderr
        );
        let pulled = pull(&certs_d, &reference);
        assert_eq!(
            pulled.code,
            Some(0),
            "{reference}:\n{}{}\ncontainerd:\n{}",
            pulled.stdout,
            pulled.stderr,
            containerd.log_text()
        );
    }
    let listed = containerd
        .ctr("seedforge-test")
        .args(["images", "ls", "-q"])
        .run()
        .stdout;
    for name in [
        format!("{own}/library/pause:3.6"),
        "docker.io/library/pause:3.6".to_string(),
    ] {
        assert!(
            listed.lines().any(|l| l == name),
            "{name} not in:\n{listed}"
        );
    }
}

/// `push` of a build output trusts the output's own CA for the registry it pushes to, as
/// the nodes do: the far side needs no `--ca-file` for the registry the build configured.
/// A layout alone carries no CA: the refusal says what to pass.
#[test]
fn push_of_a_build_output_trusts_the_outputs_own_ca() {
    if !require_tool("docker-registry") {
        return;
    }
    let lab = Lab::new();
    let p = port();
    let config = lab_config_for_loopback(&lab, p, "");
    lab.seedforge().args(["build", "--config", config]).run();
    let _served = ServedConfig::start(&lab.out_dir(), p);
    let registry = format!("127.0.0.1:{p}");
    let refused = lab
        .seedforge()
        .args(["push", "--layout"])
        .arg(lab.out_dir().join("oci"))
        .args(["--registry", &registry])
        .any_status()
        .run();
    assert_ne!(refused.code, Some(0), "{}", refused.stderr);
    assert!(
        refused.stderr.contains("not trusted") && refused.stderr.contains("--ca-file"),
        "{}",
        refused.stderr
    );
    let pushed = lab
        .seedforge()
        .args(["push", "--layout"])
        .arg(lab.out_dir())
        .args(["--registry", &registry])
        .run();
    assert!(
        pushed
            .stdout
            .contains(&format!("{registry}/rancher/mirrored-pause:3.6")),
        "{}",
        pushed.stdout
    );
}
