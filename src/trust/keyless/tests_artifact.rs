//! [`crate::trust::cosign::verify_artifact`] with keyless trust: both forms as a registry
//! holds them (a bundle referrer, a classic `.sig` manifest).

use std::collections::BTreeMap;

use super::tests_private::{Leaf, Private, T0, payload_for};
use super::*;
use crate::trust::cosign::{
    BUNDLE_ARTIFACT_TYPE, CERTIFICATE_ANNOTATION, CHAIN_ANNOTATION, KeylessTrust, Kind, Layer,
    REKOR_BUNDLE_ANNOTATION, SIGNATURE_ANNOTATION, SIMPLE_SIGNING_MEDIA_TYPE, SignedBy, Trust,
    Verdict, verify_artifact,
};

struct Manifest {
    json: Vec<u8>,
    layers: Vec<(String, BTreeMap<String, String>, Vec<u8>)>,
}

fn manifest(
    subject: Option<&str>,
    artifact_type: Option<&str>,
    layers: Vec<(String, BTreeMap<String, String>, Vec<u8>)>,
) -> Manifest {
    let mut m = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a", "size": 2},
        "layers": layers.iter().map(|(mt, ann, blob)| serde_json::json!({
            "mediaType": mt,
            "digest": format!("sha256:{}", crate::hashing::sha256_hex(blob)),
            "size": blob.len(),
            "annotations": ann,
        })).collect::<Vec<_>>(),
    });
    if let Some(s) = subject {
        m["subject"] = serde_json::json!({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": s, "size": 1});
    }
    if let Some(t) = artifact_type {
        m["artifactType"] = t.into();
    }
    Manifest {
        json: serde_json::to_vec(&m).unwrap(),
        layers,
    }
}

impl Manifest {
    fn verify(&self, subject: &str, trust: &Trust<'_>) -> Verdict {
        let layers: Vec<Layer<'_>> = self
            .layers
            .iter()
            .map(|(media_type, annotations, blob)| Layer {
                media_type,
                annotations,
                blob,
            })
            .collect();
        verify_artifact(subject, &self.json, &layers, trust)
    }
}

fn failed(v: Verdict) -> String {
    match v {
        Verdict::Failed { why } => why,
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[test]
fn a_keyless_bundle_referrer_verifies_with_an_identity() {
    let Some(dir) = super::tests::cosign_testdata() else {
        return;
    };
    let image = format!("sha256:{}", super::tests::EMPTY_IMAGE);
    let bundle = std::fs::read(dir.join("oci-attestation.sigstore.json")).unwrap();
    let root = TrustedRoot::read(&dir.join("trusted_root_pgi.json")).unwrap();
    let referrer = manifest(
        Some(&image),
        Some(BUNDLE_ARTIFACT_TYPE),
        vec![(BUNDLE_ARTIFACT_TYPE.to_owned(), BTreeMap::new(), bundle)],
    );
    let ids = [
        Identity::exact("someone@example.com", "https://github.com/login/oauth"),
        Identity::exact("cody@soyland.com", "https://github.com/login/oauth"),
    ];
    let trust = Trust {
        keys: &[],
        keyless: Some(KeylessTrust {
            root: &root,
            identities: &ids,
        }),
    };
    match referrer.verify(&image, &trust) {
        Verdict::Verified {
            by: SignedBy::Identity(signer),
            kind: Kind::Bundle,
            predicate_type,
        } => {
            assert_eq!(signer.identity, 1);
            assert_eq!(signer.subject, "cody@soyland.com");
            assert_eq!(
                predicate_type.as_deref(),
                Some("https://cosign.sigstore.dev/attestation/v1")
            );
        }
        other => panic!("{other:?}"),
    }
    // No keyless trust: carried, as before.
    assert_eq!(
        referrer.verify(&image, &Trust::keys(&[])),
        Verdict::Keyless { kind: Kind::Bundle }
    );
    // Another identity: refused, naming the signer.
    let others = [Identity::exact(
        "cody@soyland.com",
        "https://accounts.google.com",
    )];
    let why = failed(referrer.verify(
        &image,
        &Trust {
            keys: &[],
            keyless: Some(KeylessTrust {
                root: &root,
                identities: &others,
            }),
        },
    ));
    assert!(why.contains("cody@soyland.com"), "{why}");
}

#[test]
fn a_classic_keyless_signature_verifies_with_an_identity() {
    let private = Private::new();
    let root = TrustedRoot::from_json(&private.trusted_root()).unwrap();
    let image = format!("sha256:{}", "ab".repeat(32));
    let sig_manifest = |payload: Vec<u8>, time: i64| {
        let c = private.classic(&payload, Leaf::default(), time);
        let annotations = BTreeMap::from([
            (SIGNATURE_ANNOTATION.to_owned(), c.signature),
            (CERTIFICATE_ANNOTATION.to_owned(), c.certificate),
            (CHAIN_ANNOTATION.to_owned(), c.chain),
            (REKOR_BUNDLE_ANNOTATION.to_owned(), c.rekor_bundle),
        ]);
        manifest(
            None,
            None,
            vec![(SIMPLE_SIGNING_MEDIA_TYPE.to_owned(), annotations, payload)],
        )
    };
    let ids = [Identity::exact(
        "signer@example.com",
        "https://issuer.example",
    )];
    let trust = Trust {
        keys: &[],
        keyless: Some(KeylessTrust {
            root: &root,
            identities: &ids,
        }),
    };
    let good = sig_manifest(payload_for(&image), T0 + 60);
    assert!(matches!(
        good.verify(&image, &trust),
        Verdict::Verified {
            by: SignedBy::Identity(Signer { identity: 0, .. }),
            kind: Kind::Signature,
            predicate_type: None,
        }
    ));
    assert_eq!(
        good.verify(&image, &Trust::keys(&[])),
        Verdict::Keyless {
            kind: Kind::Signature
        }
    );
    // A payload signed for another image.
    let why = failed(good.verify(&format!("sha256:{}", "cd".repeat(32)), &trust));
    assert!(why.contains("not for"), "{why}");
    // Expired at the signing time.
    let late = sig_manifest(payload_for(&image), T0 + 3600);
    let why = failed(late.verify(&image, &trust));
    assert!(why.starts_with("keyless: "), "{why}");
}

#[test]
fn a_classic_keyless_attestation_verifies_with_an_identity() {
    use super::tests_private::{hex, sha256, sign};
    use crate::trust::b64;
    use crate::trust::dsse::ENVELOPE_MEDIA_TYPE as ENVELOPE;
    let private = Private::new();
    let root = TrustedRoot::from_json(&private.trusted_root()).unwrap();
    let image_hex = "ab".repeat(32);
    let image = format!("sha256:{image_hex}");
    let att_manifest = |about: &str, time: i64| {
        let statement = serde_json::json!({
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [{"name": "registry.example/app", "digest": {"sha256": about}}],
            "predicateType": "https://slsa.dev/provenance/v1",
            "predicate": {},
        });
        let payload = serde_json::to_vec(&statement).unwrap();
        let (der, key) = private.leaf(Leaf::default());
        let pae = crate::trust::dsse::pae(crate::trust::dsse::IN_TOTO_PAYLOAD_TYPE, &payload);
        let sig = sign(&key, &pae);
        let envelope = serde_json::json!({
            "payloadType": crate::trust::dsse::IN_TOTO_PAYLOAD_TYPE,
            "payload": b64(&payload),
            "signatures": [{"keyid": "", "sig": b64(&sig)}],
        });
        let envelope = serde_json::to_vec(&envelope).unwrap();
        let pem = pem::encode(&pem::Pem::new("CERTIFICATE", der));
        let body = serde_json::json!({
            "apiVersion": "0.0.1", "kind": "dsse",
            "spec": {
                "envelopeHash": {"algorithm": "sha256", "value": hex(&sha256(&envelope))},
                "payloadHash": {"algorithm": "sha256", "value": hex(&sha256(&payload))},
                "signatures": [{"signature": b64(&sig), "verifier": b64(pem.as_bytes())}],
            },
        });
        let annotations = BTreeMap::from([
            (SIGNATURE_ANNOTATION.to_owned(), String::new()),
            (CERTIFICATE_ANNOTATION.to_owned(), pem),
            (
                REKOR_BUNDLE_ANNOTATION.to_owned(),
                private.log(&body.to_string(), time),
            ),
        ]);
        manifest(
            None,
            None,
            vec![(ENVELOPE.to_owned(), annotations, envelope)],
        )
    };
    let ids = [Identity::exact(
        "signer@example.com",
        "https://issuer.example",
    )];
    let trust = Trust {
        keys: &[],
        keyless: Some(KeylessTrust {
            root: &root,
            identities: &ids,
        }),
    };
    let good = att_manifest(&image_hex, T0 + 60);
    assert!(matches!(
        good.verify(&image, &trust),
        Verdict::Verified {
            by: SignedBy::Identity(Signer { identity: 0, .. }),
            kind: Kind::Attestation,
            ..
        }
    ));
    // A statement about another image; logged after the leaf expired.
    failed(att_manifest(&"cd".repeat(32), T0 + 60).verify(&image, &trust));
    failed(att_manifest(&image_hex, T0 + 3600).verify(&image, &trust));
}
