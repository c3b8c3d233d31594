//! The real cosign (3.x) and openssl judge what `seedforge::trust` writes: a blob's
//! Sigstore bundle passes `cosign verify-blob --key --bundle --insecure-ignore-tlog` for
//! a cosign encrypted key and for PKCS#8 keys (and fails for a changed file or another
//! key), a DSSE envelope's signature verifies with openssl over the PAE bytes, and a DSSE
//! bundle of an in-toto statement passes `cosign verify-blob-attestation`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use crate::common;

use common::sigstore::{cosign, cosign_cmd, recorded_version};
use common::{Cmd, repo_root, require_tool};
use seedforge::trust::bundle::Bundle;
use seedforge::trust::dsse::{Envelope, IN_TOTO_PAYLOAD_TYPE};
use seedforge::trust::intoto::{Statement, Subject};
use seedforge::trust::{KeyAlgorithm, SigningKey};

/// The password `fixtures/trust/cosign.key` was made with (`cosign generate-key-pair`).
const PASSWORD: &[u8] = b"seedforge-test-password";

fn fixture(name: &str) -> PathBuf {
    repo_root().join("fixtures/trust").join(name)
}

/// Each signing key of the fixtures with its public key file and password.
fn keys() -> Vec<(&'static str, SigningKey, PathBuf)> {
    [
        ("cosign.key", "cosign.pub", Some(PASSWORD)),
        ("p256.pem", "p256.pub", None),
        ("p256-sec1.pem", "p256.pub", None),
        ("ed25519.pem", "ed25519.pub", None),
    ]
    .into_iter()
    .map(|(private, public, pw)| {
        (
            private,
            SigningKey::read(&fixture(private), pw).unwrap(),
            fixture(public),
        )
    })
    .collect()
}

fn verify_blob(
    cosign: &Path,
    home: &Path,
    key: &Path,
    bundle: &Path,
    file: &Path,
) -> common::Output {
    cosign_cmd(cosign, home)
        .args(["verify-blob", "--insecure-ignore-tlog", "--key"])
        .arg(key)
        .arg("--bundle")
        .arg(bundle)
        .arg(file)
        .any_status()
        .run()
}

#[test]
fn cosign_verify_blob_accepts_the_bundles_written_and_refuses_changed_ones() {
    let Some(cosign) = cosign() else { return };
    eprintln!(
        "cosign: {} (package {})",
        cosign.display(),
        recorded_version("cosign").unwrap_or_else(|| "not recorded".into())
    );
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    std::fs::create_dir(&home).unwrap();
    let file = dir.path().join("seed.iso");
    std::fs::write(&file, b"the medium's bytes\n".repeat(1000)).unwrap();
    let other = dir.path().join("other.iso");
    std::fs::write(&other, b"another medium\n").unwrap();
    let blob = std::fs::read(&file).unwrap();

    for (name, key, public) in keys() {
        let bundle_path = dir.path().join(format!("{name}.bundle"));
        std::fs::write(
            &bundle_path,
            Bundle::sign_blob(&blob, &key).unwrap().to_json(),
        )
        .unwrap();
        let out = verify_blob(&cosign, &home, &public, &bundle_path, &file);
        assert_eq!(
            out.code,
            Some(0),
            "{name}: cosign verify-blob refused our bundle:\n{}{}",
            out.stdout,
            out.stderr
        );
        assert!(out.stderr.contains("Verified OK"), "{name}: {}", out.stderr);

        // Another file: the digest no longer matches.
        let out = verify_blob(&cosign, &home, &public, &bundle_path, &other);
        assert_ne!(out.code, Some(0), "{name}: cosign accepted another file");

        // Another key's public key.
        let wrong = if key.algorithm() == KeyAlgorithm::Ed25519 {
            fixture("p256.pub")
        } else {
            fixture("ed25519.pub")
        };
        let out = verify_blob(&cosign, &home, &wrong, &bundle_path, &file);
        assert_ne!(out.code, Some(0), "{name}: cosign accepted another key");
    }

    // A flipped byte in the signature.
    let (_, key, public) = keys().remove(0);
    let mut json: serde_json::Value =
        serde_json::from_slice(&Bundle::sign_blob(&blob, &key).unwrap().to_json()).unwrap();
    let sig = json["messageSignature"]["signature"]
        .as_str()
        .unwrap()
        .to_owned();
    let flipped = format!(
        "{}{}",
        &sig[..10],
        if &sig[10..11] == "A" { "B" } else { "A" }
    );
    json["messageSignature"]["signature"] = format!("{flipped}{}", &sig[11..]).into();
    let bad = dir.path().join("flipped.bundle");
    std::fs::write(&bad, serde_json::to_vec(&json).unwrap()).unwrap();
    let out = verify_blob(&cosign, &home, &public, &bad, &file);
    assert_ne!(out.code, Some(0), "cosign accepted a flipped signature");
}

#[test]
fn dsse_envelopes_verify_with_openssl_over_the_pae() {
    if !require_tool("openssl") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let statement = Statement::new(
        vec![Subject::sha256("seed.iso", "ab".repeat(32))],
        "https://slsa.dev/provenance/v1",
        serde_json::json!({"buildDefinition": {"buildType": "https://example.test/t"}}),
    )
    .to_json();
    for (name, key, public) in keys() {
        let env = Envelope::sign(IN_TOTO_PAYLOAD_TYPE, &statement, &key, None).unwrap();
        let env = Envelope::from_json(&env.to_json()).unwrap();
        let pae = dir.path().join(format!("{name}.pae"));
        let sig = dir.path().join(format!("{name}.sig"));
        std::fs::write(&pae, env.pae()).unwrap();
        std::fs::write(&sig, &env.signatures[0].sig).unwrap();
        let openssl = |data: &Path| {
            let cmd = match key.algorithm() {
                KeyAlgorithm::Ed25519 => Cmd::new("openssl")
                    .args(["pkeyutl", "-verify", "-rawin", "-pubin", "-inkey"])
                    .arg(&public)
                    .arg("-sigfile")
                    .arg(&sig)
                    .arg("-in")
                    .arg(data),
                _ => Cmd::new("openssl")
                    .args(["dgst", "-sha256", "-verify"])
                    .arg(&public)
                    .arg("-signature")
                    .arg(&sig)
                    .arg(data),
            };
            cmd.any_status().run()
        };
        let out = openssl(&pae);
        assert_eq!(out.code, Some(0), "{name}: {}{}", out.stdout, out.stderr);
        // The signature is over the PAE, not over the bare payload.
        let payload = dir.path().join(format!("{name}.payload"));
        std::fs::write(&payload, &env.payload).unwrap();
        let out = openssl(&payload);
        assert_ne!(
            out.code,
            Some(0),
            "{name}: openssl accepted the bare payload"
        );
    }
}

#[test]
fn cosign_verify_blob_attestation_accepts_a_dsse_bundle_written() {
    let Some(cosign) = cosign() else { return };
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    std::fs::create_dir(&home).unwrap();
    let file = dir.path().join("seed.iso");
    std::fs::write(&file, b"medium\n").unwrap();
    let digest = seedforge::hashing::sha256_hex(&std::fs::read(&file).unwrap());
    let predicate_type = "https://slsa.dev/provenance/v1";
    for (subject, expect_ok) in [(digest.as_str(), true), (&"00".repeat(32)[..], false)] {
        let statement = Statement::new(
            vec![Subject::sha256("seed.iso", subject)],
            predicate_type,
            serde_json::json!({"buildDefinition": {"buildType": "https://example.test/t"}}),
        );
        for (name, key, public) in keys() {
            let bundle =
                Bundle::sign_dsse(IN_TOTO_PAYLOAD_TYPE, &statement.to_json(), &key).unwrap();
            let path = dir.path().join(format!("{name}.att.bundle"));
            std::fs::write(&path, bundle.to_json()).unwrap();
            let out = cosign_cmd(&cosign, &home)
                .args(["verify-blob-attestation", "--insecure-ignore-tlog"])
                .args(["--type", predicate_type, "--key"])
                .arg(&public)
                .arg("--bundle")
                .arg(&path)
                .arg(&file)
                .any_status()
                .run();
            assert_eq!(
                out.code == Some(0),
                expect_ok,
                "{name}, subject {subject}: cosign verify-blob-attestation:\n{}{}",
                out.stdout,
                out.stderr
            );
        }
    }
}
