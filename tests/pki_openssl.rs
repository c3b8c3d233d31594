//! openssl judges the certificates `seedforge pki` issues: the chain verifies for the
//! registry's address and not for another one, and the parsed fields (extensions, SANs,
//! validity) are pinned, as openssl prints them and as seedforge's own report has them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use common::pki::{openssl_text, openssl_verify_ip, seedforge_pki};
use common::{Cmd, require_tool};
use std::os::unix::fs::PermissionsExt as _;

#[test]
fn openssl_verify_ip_passes_for_the_registry_host_and_fails_for_another() {
    if !require_tool("openssl") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    seedforge_pki(dir.path(), "192.168.6.1", 5000, &["--san", "10.0.0.5"]);
    let ca = dir.path().join("pki/ca.crt");
    let cert = dir.path().join("pki/registry.crt");
    for ip in ["192.168.6.1", "127.0.0.1", "10.0.0.5"] {
        let out = openssl_verify_ip(&ca, &cert, ip);
        assert_eq!(out.code, Some(0), "{ip}: {}{}", out.stdout, out.stderr);
    }
    let out = openssl_verify_ip(&ca, &cert, "192.168.6.2");
    assert_eq!(out.code, Some(2), "{}{}", out.stdout, out.stderr);
    assert!(out.stderr.contains("IP address mismatch"), "{}", out.stderr);
}

#[test]
fn a_dns_host_is_a_dns_san_that_openssl_accepts_by_name_only() {
    if !require_tool("openssl") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    seedforge_pki(dir.path(), "Registry.Lab", 5000, &[]);
    let verify = |name: &str| {
        Cmd::new("openssl")
            .arg("verify")
            .arg("-CAfile")
            .arg(dir.path().join("pki/ca.crt"))
            .args(["-verify_hostname", name])
            .arg(dir.path().join("pki/registry.crt"))
            .any_status()
            .run()
    };
    assert_eq!(verify("registry.lab").code, Some(0));
    assert_eq!(verify("localhost").code, Some(0));
    assert_eq!(verify("other.lab").code, Some(2));
}

/// `openssl x509 -text` lines from "X509v3 extensions:" on, trimmed, with key
/// identifiers (random keys) replaced by `<keyid>`.
fn extension_lines(text: &str) -> Vec<String> {
    let start = text.find("X509v3 extensions:").expect("extensions");
    let end = text
        .find("Signature Algorithm: ecdsa-with-SHA256\n    Signature Value")
        .unwrap_or(text.len());
    let keyid = |l: &str| l.len() == 59 && l.split(':').count() == 20;
    text[start..end]
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| {
            if keyid(l) {
                "<keyid>".to_string()
            } else {
                l.to_string()
            }
        })
        .collect()
}

#[test]
fn certificate_fields_are_pinned() {
    if !require_tool("openssl") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = Cmd::seedforge()
        .args([
            "--json",
            "pki",
            "--host",
            "192.168.6.1",
            "--san",
            "registry.lab",
            "--out",
        ])
        .arg(dir.path())
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .run();
    let ca = openssl_text(&dir.path().join("pki/ca.crt"));
    assert!(ca.contains("Issuer: CN = seedforge registry CA\n"), "{ca}");
    assert!(ca.contains("Subject: CN = seedforge registry CA\n"), "{ca}");
    assert!(ca.contains("Not Before: Nov 14 22:13:20 2023 GMT"), "{ca}");
    assert!(ca.contains("Not After : Nov 11 22:13:20 2033 GMT"), "{ca}");
    assert!(ca.contains("ASN1 OID: prime256v1"), "{ca}");
    assert_eq!(
        extension_lines(&ca),
        [
            "X509v3 extensions:",
            "X509v3 Key Usage: critical",
            "Certificate Sign, CRL Sign",
            "X509v3 Subject Key Identifier:",
            "<keyid>",
            "X509v3 Basic Constraints: critical",
            "CA:TRUE, pathlen:0",
        ]
    );
    let leaf = openssl_text(&dir.path().join("pki/registry.crt"));
    assert!(leaf.contains("Subject: CN = 192.168.6.1\n"), "{leaf}");
    assert!(
        leaf.contains("Not Before: Nov 14 22:13:20 2023 GMT"),
        "{leaf}"
    );
    assert!(
        leaf.contains("Not After : Nov 12 22:13:20 2028 GMT"),
        "{leaf}"
    );
    assert_eq!(
        extension_lines(&leaf),
        [
            "X509v3 extensions:",
            "X509v3 Authority Key Identifier:",
            "<keyid>",
            "X509v3 Subject Alternative Name:",
            "IP Address:192.168.6.1, IP Address:127.0.0.1, DNS:localhost, DNS:registry.lab",
            "X509v3 Key Usage: critical",
            "Digital Signature",
            "X509v3 Extended Key Usage:",
            "TLS Web Server Authentication",
            "X509v3 Subject Key Identifier:",
            "<keyid>",
            "X509v3 Basic Constraints: critical",
            "CA:FALSE",
        ]
    );
    // The same fields as seedforge parses them back.
    let report = out.json();
    let cert = &report["registry_cert"];
    assert_eq!(cert["subject"], "CN=192.168.6.1");
    assert_eq!(cert["issuer"], "CN=seedforge registry CA");
    assert_eq!(cert["not_before"], 1_700_000_000);
    assert_eq!(cert["not_after"], 1_700_000_000 + 1825 * 86_400);
    assert_eq!(cert["basic_constraints"], serde_json::json!([false, null]));
    assert_eq!(cert["key_usage"], serde_json::json!(["digitalSignature"]));
    assert_eq!(
        cert["extended_key_usage"],
        serde_json::json!(["serverAuth"])
    );
    assert_eq!(
        cert["critical"],
        serde_json::json!(["keyUsage", "basicConstraints"])
    );
    assert_eq!(
        cert["sans"],
        serde_json::json!([
            {"type": "ip", "value": "192.168.6.1"},
            {"type": "ip", "value": "127.0.0.1"},
            {"type": "dns", "value": "localhost"},
            {"type": "dns", "value": "registry.lab"},
        ])
    );
    // The authority key identifier is the CA's subject key identifier.
    let ski = |text: &str, label: &str| {
        let i = text.find(label).unwrap() + label.len();
        text[i..].lines().nth(1).unwrap().trim().to_string()
    };
    assert_eq!(
        ski(&leaf, "X509v3 Authority Key Identifier:"),
        ski(&ca, "X509v3 Subject Key Identifier:")
    );
}

#[test]
fn key_files_are_0600_whatever_the_umask() {
    let dir = tempfile::tempdir().unwrap();
    Cmd::new("sh")
        .arg("-c")
        .arg(format!(
            "umask 000 && exec {} pki --host 192.168.6.1 --out {}",
            common::seedforge_bin().display(),
            dir.path().display()
        ))
        .run();
    for (name, mode) in [
        ("pki/ca.key", 0o600),
        ("pki/registry.key", 0o600),
        ("pki/ca.crt", 0o644),
        ("pki/registry.crt", 0o644),
        ("registries.yaml", 0o644),
        ("registry/config.yml", 0o644),
    ] {
        let meta = std::fs::metadata(dir.path().join(name)).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, mode, "{name}");
    }
    // A kept key whose mode was loosened is tightened again.
    let key = dir.path().join("pki/ca.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    seedforge_pki(dir.path(), "192.168.6.1", 5000, &[]);
    let meta = std::fs::metadata(&key).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
}
