//! The PKI directory is state kept between runs: a second run changes nothing, a new
//! registry host reissues only the registry certificate, an imported CA is used as it is,
//! and a file that does not parse stops the run (exit 2) with everything left in place.
//! The build's registry files are snapshot-tested and parsed back as k3s's format.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use common::pki::{openssl_verify_ip, seedforge_pki};
use common::{Cmd, Lab, assert_same_tree, require_tool, snapshot};
use std::fs;
use std::path::Path;

fn read(p: &Path) -> Vec<u8> {
    fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn second_run_keeps_ca_bytes_and_a_new_host_reissues_only_the_registry_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    seedforge_pki(d, "192.168.6.1", 5000, &["--mirror", "docker.io"]);
    let first = snapshot(d);
    let out = seedforge_pki(d, "192.168.6.1", 5000, &["--mirror", "docker.io"]);
    assert_same_tree(&first, &snapshot(d), "second run");
    assert!(!out.stdout.contains("wrote"), "{}", out.stdout);
    let ca = read(&d.join("pki/ca.crt"));
    let ca_key = read(&d.join("pki/ca.key"));
    let cert = read(&d.join("pki/registry.crt"));
    let out = seedforge_pki(d, "192.168.6.20", 5000, &["--mirror", "docker.io"]);
    assert!(out.stdout.contains("reissued: its SANs"), "{}", out.stdout);
    assert_eq!(read(&d.join("pki/ca.crt")), ca);
    assert_eq!(read(&d.join("pki/ca.key")), ca_key);
    assert_ne!(read(&d.join("pki/registry.crt")), cert);
    if require_tool("openssl") {
        let ca = d.join("pki/ca.crt");
        let cert = d.join("pki/registry.crt");
        assert_eq!(openssl_verify_ip(&ca, &cert, "192.168.6.20").code, Some(0));
        assert_eq!(openssl_verify_ip(&ca, &cert, "192.168.6.1").code, Some(2));
    }
}

#[test]
fn a_pem_that_does_not_parse_is_exit_2_and_nothing_is_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    seedforge_pki(d, "192.168.6.1", 5000, &[]);
    fs::write(
        d.join("pki/registry.crt"),
        "-----BEGIN CERTIFICATE-----\nAAAA\n",
    )
    .unwrap();
    let before = snapshot(d);
    // Even with a changed host, which would otherwise reissue and rewrite.
    let out = Cmd::seedforge()
        .args(["pki", "--host", "10.1.1.1", "--out"])
        .arg(d)
        .expect(2)
        .run();
    assert!(out.stderr.contains("pki/registry.crt"), "{}", out.stderr);
    assert_same_tree(&before, &snapshot(d), "after a bad PEM");
}

/// A CA made with openssl, key in PKCS#8.
fn openssl_ca(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    common::registry::openssl_self_signed(dir, "own-ca", "/CN=Own Lab CA/O=Lab", 3650, true)
}

#[test]
fn an_imported_ca_is_used_as_it_is_and_never_silently_replaced() {
    if !require_tool("openssl") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (cert, key) = openssl_ca(d);
    let out = d.join("out");
    let import = |cert: &Path, key: &Path| {
        Cmd::seedforge()
            .args(["pki", "--host", "192.168.6.1", "--out"])
            .arg(&out)
            .arg("--ca-cert")
            .arg(cert)
            .arg("--ca-key")
            .arg(key)
    };
    let run = import(&cert, &key).run();
    assert!(run.stdout.contains("imported"), "{}", run.stdout);
    assert_eq!(read(&out.join("pki/ca.crt")), read(&cert));
    assert_eq!(
        openssl_verify_ip(
            &out.join("pki/ca.crt"),
            &out.join("pki/registry.crt"),
            "192.168.6.1"
        )
        .code,
        Some(0)
    );
    // Another CA to import while the directory holds the first: refused, nothing changes.
    let other = d.join("other");
    fs::create_dir(&other).unwrap();
    let (cert2, key2) = openssl_ca(&other);
    let before = snapshot(&out);
    let err = import(&cert2, &key2).expect(2).run();
    assert!(err.stderr.contains("different CA"), "{}", err.stderr);
    assert_same_tree(&before, &snapshot(&out), "after an import conflict");
    // A key that is not the certificate's is refused too.
    let fresh = d.join("fresh");
    let err = Cmd::seedforge()
        .args(["pki", "--host", "192.168.6.1", "--out"])
        .arg(&fresh)
        .arg("--ca-cert")
        .arg(&cert)
        .arg("--ca-key")
        .arg(&key2)
        .expect(2)
        .run();
    assert!(err.stderr.contains("does not match"), "{}", err.stderr);
    assert!(!fresh.exists());
}

const LAB_REGISTRIES_YAML: &str = "\
# k3s registry configuration written by seedforge.
# Install as /etc/rancher/k3s/registries.yaml on every node.
mirrors:
  \"192.168.6.1:5000\":
    endpoint:
      - \"https://192.168.6.1:5000\"
  \"docker.io\":
    endpoint:
      - \"https://192.168.6.1:5000\"
configs:
  \"192.168.6.1:5000\":
    tls:
      ca_file: \"/etc/rancher/k3s/seedforge-registry-ca.crt\"
";

const LAB_REGISTRY_CONFIG: &str = "\
# Distribution registry configuration written by seedforge.
# Serve from the output directory: docker-registry serve registry/config.yml
version: 0.1
log:
  level: info
storage:
  filesystem:
    rootdirectory: \"/var/lib/docker-registry\"
  delete:
    enabled: true
http:
  addr: \"192.168.6.1:5000\"
  tls:
    certificate: \"pki/registry.crt\"
    key: \"pki/registry.key\"
";

const LAB_DOCKER_IO_HOSTS: &str = "\
# containerd registry host configuration written by seedforge.
# Install as /etc/containerd/certs.d/docker.io/hosts.toml.

[host.\"https://192.168.6.1:5000\"]
  capabilities = [\"pull\", \"resolve\"]
  ca = \"/etc/rancher/k3s/seedforge-registry-ca.crt\"
";

/// The registry's own entry: a `[host]` table as well as `server`, since containerd 1.6
/// and 1.7 refuse a hosts.toml without one.
const LAB_OWN_HOSTS: &str = "\
# containerd registry host configuration written by seedforge.
# Install as /etc/containerd/certs.d/192.168.6.1_5000_/hosts.toml (containerd's name for 192.168.6.1:5000).
server = \"https://192.168.6.1:5000\"
ca = \"/etc/rancher/k3s/seedforge-registry-ca.crt\"

[host.\"https://192.168.6.1:5000\"]
  capabilities = [\"pull\", \"resolve\"]
  ca = \"/etc/rancher/k3s/seedforge-registry-ca.crt\"
";

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct K3sRegistries {
    mirrors: std::collections::BTreeMap<String, K3sMirror>,
    configs: std::collections::BTreeMap<String, K3sConfig>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct K3sMirror {
    endpoint: Vec<String>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct K3sConfig {
    tls: std::collections::BTreeMap<String, String>,
}

#[test]
fn demo_build_writes_the_registry_files_and_a_second_build_changes_none() {
    let lab = Lab::new();
    lab.build();
    let out = lab.out_dir();
    let text = fs::read_to_string(out.join("registries.yaml")).unwrap();
    assert_eq!(text, LAB_REGISTRIES_YAML);
    let parsed: K3sRegistries = serde_saphyr::from_str(&text).unwrap();
    assert_eq!(
        parsed.mirrors["docker.io"].endpoint,
        ["https://192.168.6.1:5000"]
    );
    assert_eq!(
        parsed.configs["192.168.6.1:5000"].tls["ca_file"],
        "/etc/rancher/k3s/seedforge-registry-ca.crt"
    );
    assert_eq!(
        fs::read_to_string(out.join("registry/config.yml")).unwrap(),
        LAB_REGISTRY_CONFIG
    );
    assert_eq!(
        fs::read_to_string(out.join("certs.d/docker.io/hosts.toml")).unwrap(),
        LAB_DOCKER_IO_HOSTS
    );
    assert_eq!(
        fs::read_to_string(out.join("certs.d/192.168.6.1_5000_/hosts.toml")).unwrap(),
        LAB_OWN_HOSTS
    );
    let first = snapshot(&out);
    lab.build();
    assert_same_tree(&first, &snapshot(&out), "second build");
    if require_tool("openssl") {
        let out = openssl_verify_ip(
            &out.join("pki/ca.crt"),
            &out.join("pki/registry.crt"),
            "192.168.6.1",
        );
        assert_eq!(out.code, Some(0), "{}", out.stderr);
    }
}

#[test]
fn plan_checks_the_pki_directory_and_writes_nothing() {
    let lab = Lab::new();
    lab.build();
    let key = lab.out_dir().join("pki/ca.key");
    fs::write(&key, "not a key\n").unwrap();
    let before = snapshot(lab.root());
    for cmd in ["plan", "build"] {
        let out = lab
            .seedforge()
            .args([cmd, "--config", lab.config_arg()])
            .expect(2)
            .run();
        assert!(out.stderr.contains("pki/ca.key"), "{cmd}: {}", out.stderr);
    }
    assert_same_tree(&before, &snapshot(lab.root()), "after a bad CA key");
}

#[test]
fn verify_warns_when_the_registry_certificate_expires_within_30_days() {
    let lab = Lab::new();
    lab.build();
    let quiet = lab.seedforge().args(["verify", "fixtures/lab/out"]).run();
    assert!(!quiet.stderr.contains("expires"), "{}", quiet.stderr);
    // Reissue with 20 days of validity starting now (no source date).
    let out = lab.out_dir();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let short = Cmd::seedforge()
        .args([
            "pki",
            "--host",
            "192.168.6.1",
            "--validity-days",
            "20",
            "--out",
        ])
        .arg(&out)
        .env("SOURCE_DATE_EPOCH", &now.to_string())
        .expect(2)
        .run();
    assert!(short.stderr.contains("validity_days"), "{}", short.stderr);
    let cert = out.join("pki/registry.crt");
    let before = read(&cert);
    if !require_tool("openssl") {
        return;
    }
    // A certificate made outside seedforge that has 10 days left.
    Cmd::new("openssl")
        .cwd(out.join("pki"))
        .args([
            "req",
            "-new",
            "-x509",
            "-key",
            "registry.key",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-days",
            "10",
            "-subj",
            "/CN=192.168.6.1",
            "-addext",
            "subjectAltName=IP:192.168.6.1",
            "-out",
            "registry.crt",
        ])
        .run();
    assert_ne!(read(&cert), before);
    // Replaced by hand, the certificate no longer matches the build's seal (SHA256SUMS,
    // and the SANs manifest.json records), so verify fails; it still warns.
    let warned = lab
        .seedforge()
        .args(["verify", "fixtures/lab/out"])
        .expect(1)
        .run();
    assert!(
        warned.stderr.contains("registry.crt expires in ") && warned.stderr.contains(" day(s)"),
        "{}",
        warned.stderr
    );
    assert!(
        warned.stderr.contains("BAD  pki/registry.crt"),
        "{}",
        warned.stderr
    );
}

#[test]
fn a_kept_ca_that_differs_from_the_config_is_kept_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    seedforge_pki(dir.path(), "192.168.6.1", 5000, &[]);
    let ca = read(&dir.path().join("pki/ca.crt"));
    let out = seedforge_pki(
        dir.path(),
        "192.168.6.1",
        5000,
        &["--ca-common-name", "Other"],
    );
    assert!(
        out.stderr.contains("warning:") && out.stderr.contains("\"Other\""),
        "{}",
        out.stderr
    );
    assert_eq!(read(&dir.path().join("pki/ca.crt")), ca);
}

#[test]
fn bad_registry_config_is_exit_2_with_file_and_line_and_writes_nothing() {
    let lab = Lab::new();
    let config = lab.lab_dir().join("seedforge.yaml");
    let text = fs::read_to_string(&config).unwrap();
    let line = text.lines().position(|l| l == "  port: 5000").unwrap() + 2;
    fs::write(
        &config,
        text.replace("  port: 5000\n", "  port: 5000\n  sans: [\"https://x\"]\n"),
    )
    .unwrap();
    let out = lab
        .seedforge()
        .args(["build", "--config", lab.config_arg()])
        .expect(2)
        .run();
    assert!(
        out.stderr
            .contains(&format!("fixtures/lab/seedforge.yaml:{line}:")),
        "{}",
        out.stderr
    );
    // A password variable that is not set: exit 2 naming it, nothing written.
    fs::write(
        &config,
        text.replace(
            "  port: 5000\n",
            "  port: 5000\n  auth:\n    username: u\n    password: {env: SEEDFORGE_TEST_UNSET_PULL}\n",
        ),
    )
    .unwrap();
    let out = lab
        .seedforge()
        .args(["build", "--config", lab.config_arg()])
        .expect(2)
        .run();
    assert!(
        out.stderr.contains("SEEDFORGE_TEST_UNSET_PULL"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("registry.auth.password"),
        "{}",
        out.stderr
    );
    assert!(
        !lab.out_dir().exists(),
        "a failed build wrote its output directory"
    );
}

#[test]
fn registry_files_are_byte_reproducible_across_fresh_builds() {
    let (a, b) = (Lab::new(), Lab::new());
    a.build();
    b.build();
    let files = [
        "registries.yaml",
        "registry/config.yml",
        "certs.d/docker.io/hosts.toml",
        "certs.d/192.168.6.1_5000_/hosts.toml",
    ];
    for f in files {
        assert_eq!(
            read(&a.out_dir().join(f)),
            read(&b.out_dir().join(f)),
            "{f}"
        );
    }
    // The keys are the exception: each fresh build has its own CA.
    assert_ne!(
        read(&a.out_dir().join("pki/ca.key")),
        read(&b.out_dir().join("pki/ca.key"))
    );
}
