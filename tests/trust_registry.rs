//! What the installed cosign writes for an image in a real registry (Debian's
//! `docker-registry` on 127.0.0.1), fetched back with oras, is what
//! `trust::cosign::verify_artifact` checks: the `.sig` and `.att` manifests of
//! `--new-bundle-format=false` and the two bundle referrers of cosign 3's default format
//! (`cosign sign`, `cosign attest`) verify with the key that signed them, and fail with
//! another key or for another image. The fixtures in fixtures/trust/images were made the
//! same way once; this test follows the cosign that scripts/test.sh fetches today.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use crate::common;

use common::registry::{Registry, fixture_layout, skopeo_push, skopeo_raw_digest};
use common::sigstore::{cosign, cosign_cmd, oras, recorded_version};
use common::{Cmd, repo_root, require_tool};
use seedforge::trust::PublicKey;
use seedforge::trust::cosign::{Kind, Layer, SignedBy, Trust, Verdict, verify_artifact};

const SLSA: &str = "https://slsa.dev/provenance/v1";

/// An artifact fetched from the registry: its manifest and layers.
struct Fetched {
    what: String,
    manifest: Vec<u8>,
    layers: Vec<(String, BTreeMap<String, String>, Vec<u8>)>,
}

impl Fetched {
    fn verify(&self, subject: &str, keys: &[PublicKey]) -> Verdict {
        let layers: Vec<Layer<'_>> = self
            .layers
            .iter()
            .map(|(media_type, annotations, blob)| Layer {
                media_type,
                annotations,
                blob,
            })
            .collect();
        verify_artifact(subject, &self.manifest, &layers, &Trust::keys(keys))
    }
}

fn oras_cmd(oras: &Path, home: &Path) -> Cmd {
    Cmd::new(oras)
        .env("HOME", &home.display().to_string())
        .timeout(Duration::from_secs(60))
}

/// `oras manifest fetch` of `reference`, then `oras blob fetch` of each layer.
fn fetch(oras: &Path, home: &Path, repo: &str, reference: &str, what: &str) -> Fetched {
    let manifest = oras_cmd(oras, home)
        .args(["manifest", "fetch", "--plain-http", reference])
        .run()
        .stdout
        .into_bytes();
    let parsed: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
    let layers = parsed["layers"]
        .as_array()
        .unwrap_or_else(|| panic!("{what}: no layers in {parsed}"))
        .iter()
        .map(|l| {
            let digest = l["digest"].as_str().unwrap();
            let blob = oras_cmd(oras, home)
                .args(["blob", "fetch", "--plain-http", "--output", "-"])
                .arg(format!("{repo}@{digest}"))
                .run()
                .stdout
                .into_bytes();
            let annotations =
                serde_json::from_value(l.get("annotations").cloned().unwrap_or_default())
                    .unwrap_or_default();
            (
                l["mediaType"].as_str().unwrap().to_owned(),
                annotations,
                blob,
            )
        })
        .collect();
    Fetched {
        what: what.to_owned(),
        manifest,
        layers,
    }
}

#[test]
fn the_installed_cosigns_artifacts_verify_after_a_round_trip_through_a_registry() {
    let Some(cosign) = cosign() else { return };
    let Some(oras) = oras() else { return };
    if !require_tool("docker-registry") || !require_tool("skopeo") {
        return;
    }
    eprintln!(
        "cosign {}, oras {}",
        recorded_version("cosign").unwrap_or_else(|| "(not recorded)".into()),
        recorded_version("oras").unwrap_or_else(|| "(not recorded)".into())
    );
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    std::fs::create_dir(&home).unwrap();
    let registry = Registry::start_plain();
    let source = format!(
        "oci:{}:mirrored-coredns-coredns:1.12.1",
        fixture_layout().display()
    );
    skopeo_push(&source, &registry, "signed:1", false);
    let digest = skopeo_raw_digest(&registry, "signed:1");
    let repo = format!("{}/signed", registry.host());
    let image = format!("{repo}@{digest}");
    let hex = digest.strip_prefix("sha256:").unwrap();

    let trust = repo_root().join("fixtures/trust");
    let predicate = trust.join("images/predicate.json");
    let cosign_run = |args: &[&str]| {
        cosign_cmd(&cosign, &home)
            .env("COSIGN_PASSWORD", "seedforge-test-password")
            .args(args)
            .arg("--key")
            .arg(trust.join("cosign.key"))
            .args([
                "--allow-http-registry",
                "--allow-insecure-registry",
                "--use-signing-config=false",
                "--tlog-upload=false",
                "-y",
            ])
            .arg(&image)
            .timeout(Duration::from_secs(120))
            .run()
    };
    let attest = |extra: &[&str]| {
        let mut args = vec!["attest", "--type", "slsaprovenance1", "--predicate"];
        let p = predicate.to_str().unwrap();
        args.push(p);
        args.extend_from_slice(extra);
        cosign_run(&args);
    };
    cosign_run(&["sign", "--new-bundle-format=false"]);
    cosign_run(&["sign"]);
    attest(&["--new-bundle-format=false"]);
    attest(&[]);

    let mut artifacts = vec![
        fetch(
            &oras,
            &home,
            &repo,
            &format!("{repo}:sha256-{hex}.sig"),
            ".sig",
        ),
        fetch(
            &oras,
            &home,
            &repo,
            &format!("{repo}:sha256-{hex}.att"),
            ".att",
        ),
    ];
    let discovered = oras_cmd(&oras, &home)
        .args(["discover", "--plain-http", "--format", "json", &image])
        .run()
        .json();
    for referrer in discovered["referrers"].as_array().unwrap() {
        let d = referrer["digest"].as_str().unwrap();
        artifacts.push(fetch(&oras, &home, &repo, &format!("{repo}@{d}"), d));
    }
    assert_eq!(
        artifacts.len(),
        4,
        "two tags and two referrers: {discovered}"
    );

    let signer = PublicKey::read(&trust.join("cosign.pub")).unwrap();
    let other = PublicKey::read(&trust.join("p256.pub")).unwrap();
    let mut seen = Vec::new();
    for a in &artifacts {
        match a.verify(&digest, &[other.clone(), signer.clone()]) {
            Verdict::Verified {
                by,
                kind,
                predicate_type,
            } => {
                assert_eq!(by, SignedBy::Key(1), "{}", a.what);
                seen.push((kind, predicate_type));
            }
            v => panic!("{}: {v:?}", a.what),
        }
        let v = a.verify(&digest, std::slice::from_ref(&other));
        assert!(matches!(v, Verdict::Failed { .. }), "{}: {v:?}", a.what);
        let elsewhere = format!("sha256:{}", "0".repeat(64));
        let v = a.verify(&elsewhere, std::slice::from_ref(&signer));
        assert!(matches!(v, Verdict::Failed { .. }), "{}: {v:?}", a.what);
    }
    seen.sort_by_key(|(kind, p)| (format!("{kind:?}"), p.clone()));
    assert_eq!(
        seen,
        vec![
            (Kind::Attestation, Some(SLSA.to_owned())),
            (
                Kind::Bundle,
                Some("https://sigstore.dev/cosign/sign/v1".to_owned())
            ),
            (Kind::Bundle, Some(SLSA.to_owned())),
            (Kind::Signature, None),
        ]
    );
}
