//! `verify_artifact` on the artifacts cosign 3.1.1 wrote for one image
//! (fixtures/trust/images/, see its README), and on changed copies of them.

use super::*;
use crate::trust::SigningKey;
use crate::trust::bundle::Material;
use std::path::PathBuf;

/// The image the fixtures' artifacts sign (`mirrored-coredns-coredns:1.12.1` of
/// fixtures/images/oci).
const IMAGE: &str = "sha256:4093ce381872ccfb8da05f88626a4ff871afa0781509cfc344bb3623572ea85a";
const OTHER: &str = "sha256:978f9b1e9a3652b97ba65e08210ac15af35bbd04946660aa2bb95144a56843b5";
const SLSA: &str = "https://slsa.dev/provenance/v1";

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/trust")
        .join(name)
}

/// An artifact: its manifest and its layers (media type, annotations, blob).
struct Artifact {
    manifest: serde_json::Value,
    layers: Vec<(String, BTreeMap<String, String>, Vec<u8>)>,
}

impl Artifact {
    fn load(name: &str) -> Artifact {
        let dir = fixture("images").join(name);
        let manifest: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
        let layers = manifest["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| {
                let digest = l["digest"].as_str().unwrap();
                let blob = std::fs::read(dir.join("blobs").join(&digest[7..])).unwrap();
                let annotations = serde_json::from_value(
                    l.get("annotations")
                        .cloned()
                        .unwrap_or(serde_json::json!({})),
                )
                .unwrap();
                (
                    l["mediaType"].as_str().unwrap().to_owned(),
                    annotations,
                    blob,
                )
            })
            .collect();
        Artifact { manifest, layers }
    }

    /// The manifest's layer descriptors made to match the layers again (after a change).
    fn relist(&mut self) {
        let listed: Vec<serde_json::Value> = self
            .layers
            .iter()
            .map(|(mt, ann, blob)| {
                let mut d = serde_json::json!({
                    "mediaType": mt,
                    "size": blob.len(),
                    "digest": format!("sha256:{}", crate::hashing::sha256_hex(blob)),
                });
                if !ann.is_empty() {
                    d["annotations"] = serde_json::to_value(ann).unwrap();
                }
                d
            })
            .collect();
        self.manifest["layers"] = listed.into();
    }

    fn verify(&self, subject: &str, keys: &[PublicKey]) -> Verdict {
        self.verify_with(subject, &Trust::keys(keys))
    }

    fn verify_with(&self, subject: &str, trust: &Trust<'_>) -> Verdict {
        let layers: Vec<Layer<'_>> = self
            .layers
            .iter()
            .map(|(media_type, annotations, blob)| Layer {
                media_type,
                annotations,
                blob,
            })
            .collect();
        verify_artifact(
            subject,
            &serde_json::to_vec(&self.manifest).unwrap(),
            &layers,
            trust,
        )
    }
}

fn key(name: &str) -> PublicKey {
    PublicKey::read(&fixture(name)).unwrap()
}

/// The trusted keys: another key first, so the index tells which verified.
fn keys() -> Vec<PublicKey> {
    vec![key("p256.pub"), key("cosign.pub")]
}

fn failed(v: &Verdict) -> &str {
    match v {
        Verdict::Failed { why } => why,
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[test]
fn cosigns_four_artifacts_verify() {
    let cases = [
        ("sig", Kind::Signature, None),
        ("att", Kind::Attestation, Some(SLSA)),
        ("sign-bundle", Kind::Bundle, Some(SIGN_PREDICATE_TYPE)),
        ("attest-bundle", Kind::Bundle, Some(SLSA)),
    ];
    for (name, kind, predicate) in cases {
        let artifact = Artifact::load(name);
        assert_eq!(
            artifact.verify(IMAGE, &keys()),
            Verdict::Verified {
                by: SignedBy::Key(1),
                kind,
                predicate_type: predicate.map(str::to_owned)
            },
            "{name}"
        );
    }
}

#[test]
fn wrong_key_fails() {
    for name in ["sig", "att", "sign-bundle", "attest-bundle"] {
        let v = Artifact::load(name).verify(IMAGE, &[key("p256.pub"), key("ed25519.pub")]);
        assert!(failed(&v).contains("2 key(s)"), "{name}: {v:?}");
        let v = Artifact::load(name).verify(IMAGE, &[]);
        assert!(matches!(v, Verdict::Failed { .. }), "{name}: {v:?}");
    }
}

#[test]
fn another_images_digest_fails() {
    for name in ["sig", "att", "sign-bundle", "attest-bundle"] {
        let v = Artifact::load(name).verify(OTHER, &keys());
        let why = failed(&v);
        assert!(why.contains(OTHER) && why.contains("not"), "{name}: {why}");
    }
    // Without the referrer's subject, the signed statement itself is checked.
    for name in ["sign-bundle", "attest-bundle"] {
        let mut a = Artifact::load(name);
        a.manifest.as_object_mut().unwrap().remove("subject");
        assert!(matches!(a.verify(IMAGE, &keys()), Verdict::Verified { .. }));
        let v = a.verify(OTHER, &keys());
        assert!(failed(&v).contains("statement is about"), "{name}: {v:?}");
    }
    assert!(failed(&Artifact::load("sig").verify("sha256:abc", &keys())).contains("not sha256"));
}

#[test]
fn a_flipped_byte_in_a_payload_or_signature_fails() {
    for name in ["sig", "att", "sign-bundle", "attest-bundle"] {
        // A changed blob no longer matches the manifest.
        let mut a = Artifact::load(name);
        let blob = &mut a.layers[0].2;
        let at = blob.len() / 2;
        blob[at] ^= 0x01;
        assert!(failed(&a.verify(IMAGE, &keys())).contains("the manifest lists"));
        // Listed again: the signature no longer verifies, or the JSON breaks.
        a.relist();
        assert!(
            matches!(a.verify(IMAGE, &keys()), Verdict::Failed { .. }),
            "{name}"
        );
    }
    // The signature annotation of the .sig payload.
    let mut a = Artifact::load("sig");
    let sig = a.layers[0].1.get_mut(SIGNATURE_ANNOTATION).unwrap();
    let mut bytes = crate::trust::unb64(sig).unwrap();
    bytes[20] ^= 0x80;
    *sig = crate::trust::b64(&bytes);
    a.relist();
    assert!(failed(&a.verify(IMAGE, &keys())).contains("does not verify"));
    // Given layers that differ from the manifest's descriptors.
    let mut a = Artifact::load("sig");
    a.layers[0].1.clear();
    assert!(failed(&a.verify(IMAGE, &keys())).contains("annotations"));
    let mut a = Artifact::load("att");
    a.layers.clear();
    assert!(failed(&a.verify(IMAGE, &keys())).contains("layer(s)"));
}

#[test]
fn malformed_artifacts_fail_without_panicking() {
    let k = keys();
    for manifest in [&b""[..], b"{", b"[]", b"null", br#"{"layers":7}"#] {
        assert!(matches!(
            verify_artifact(IMAGE, manifest, &[], &Trust::keys(&k)),
            Verdict::Failed { .. }
        ));
    }
    let garbage: [&[u8]; 5] = [
        b"",
        b"{",
        b"null",
        b"{\"payload\":\"%%\"}",
        &[0xff, 0xfe, 0x00],
    ];
    for media_type in [
        SIMPLE_SIGNING_MEDIA_TYPE,
        ENVELOPE_MEDIA_TYPE,
        BUNDLE_V03_MEDIA_TYPE,
    ] {
        for blob in garbage {
            for sig in ["", "%%%", "MEUCIQ==", "AAAA"] {
                let mut a = Artifact {
                    manifest: serde_json::json!({
                        "schemaVersion": 2,
                        "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    }),
                    layers: vec![(
                        media_type.to_owned(),
                        BTreeMap::from([(SIGNATURE_ANNOTATION.to_owned(), sig.to_owned())]),
                        blob.to_vec(),
                    )],
                };
                a.relist();
                let v = a.verify(IMAGE, &k);
                assert!(
                    matches!(v, Verdict::Failed { .. }),
                    "{media_type} {blob:?}: {v:?}"
                );
            }
        }
    }
}

#[test]
fn keyless_is_reported_as_keyless() {
    // A .sig payload signed keyless: the certificate in its annotation, a signature no
    // trusted key made.
    let mut a = Artifact::load("sig");
    a.layers[0].1.insert(
        CERTIFICATE_ANNOTATION.to_owned(),
        "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n".to_owned(),
    );
    a.relist();
    assert_eq!(
        a.verify(IMAGE, &[key("p256.pub")]),
        Verdict::Keyless {
            kind: Kind::Signature
        }
    );
    // A .att envelope of a keyless signer.
    let mut a = Artifact::load("att");
    a.layers[0].1.insert(
        CERTIFICATE_ANNOTATION.to_owned(),
        "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n".to_owned(),
    );
    a.relist();
    assert_eq!(
        a.verify(IMAGE, &[key("p256.pub")]),
        Verdict::Keyless {
            kind: Kind::Attestation
        }
    );
    // A bundle referrer whose bundle carries a certificate chain.
    let mut a = Artifact::load("sign-bundle");
    let mut bundle = Bundle::from_json(&a.layers[0].2).unwrap();
    bundle.material = Material::Certificates(vec![vec![0x30, 0x00]]);
    a.layers[0].2 = bundle.to_json();
    a.relist();
    assert_eq!(
        a.verify(IMAGE, &keys()),
        Verdict::Keyless { kind: Kind::Bundle }
    );
}

#[test]
fn other_artifacts_are_not_signatures() {
    let mut sbom = Artifact {
        manifest: serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "artifactType": "application/spdx+json",
            "subject": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": IMAGE, "size": 555},
        }),
        layers: vec![(
            "application/spdx+json".to_owned(),
            BTreeMap::new(),
            b"{\"spdxVersion\":\"SPDX-2.3\"}".to_vec(),
        )],
    };
    sbom.relist();
    assert_eq!(sbom.verify(IMAGE, &keys()), Verdict::NotSignature);
    let index = std::fs::read(fixture("images/sign-bundle/tag-index.json")).unwrap();
    assert_eq!(
        verify_artifact(IMAGE, &index, &[], &Trust::keys(&keys())),
        Verdict::NotSignature
    );
}

#[test]
fn payloads_signed_here_verify() {
    // A .sig payload and an attestation made with the library's own signer, in the
    // shape cosign writes.
    let signer = SigningKey::read(&fixture("ed25519.pem"), None).unwrap();
    let payload = SimpleSigning {
        manifest_digest: IMAGE.to_owned(),
        signature_type: SIMPLE_SIGNING_TYPE.to_owned(),
        docker_reference: "registry.lab/coredns".to_owned(),
        optional: serde_json::Value::Null,
    }
    .to_json();
    let original = std::fs::read(fixture(
        "images/sig/blobs/9ee5204c35d71388d0bc22101b027a9d3f6d31bef9f3f177e8a5a0dce76a62bd",
    ))
    .unwrap();
    assert_eq!(
        SimpleSigning::from_json(&original).unwrap().manifest_digest,
        IMAGE
    );
    let sig = crate::trust::b64(&signer.sign(&payload).unwrap());
    let mut a = Artifact {
        manifest: serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json"}),
        layers: vec![(
            SIMPLE_SIGNING_MEDIA_TYPE.to_owned(),
            BTreeMap::from([(SIGNATURE_ANNOTATION.to_owned(), sig)]),
            payload,
        )],
    };
    a.relist();
    let trusted = [key("cosign.pub"), signer.public_key().clone()];
    assert!(matches!(
        a.verify(IMAGE, &trusted),
        Verdict::Verified {
            by: SignedBy::Key(1),
            kind: Kind::Signature,
            ..
        }
    ));
}

/// A bundle referrer holding a keyless message signature (cosign's own blob bundle, from
/// the sigstore-verify crate's test data): with no keyless trust it is carried, not
/// verified; with one it is refused, since a message signature would be over bytes that
/// are not the image's (cosign signs an image's bundle as a DSSE statement naming it).
#[test]
fn a_keyless_message_signature_bundle_referrer_is_refused_under_a_keyless_policy() {
    use crate::trust::keyless::{Identity, tests as published};
    let mut a = Artifact::load("sign-bundle");
    a.layers[0].2 = published::verify_data("bundles/cosign-v3-blob.sigstore.json");
    a.relist();
    assert_eq!(
        a.verify(IMAGE, &keys()),
        Verdict::Keyless { kind: Kind::Bundle }
    );
    let root = published::production();
    let identities = [Identity::exact(
        "dev@example.com",
        "https://accounts.google.com",
    )];
    let trust = Trust {
        keys: &[],
        keyless: Some(KeylessTrust {
            root: &root,
            identities: &identities,
        }),
    };
    match a.verify_with(IMAGE, &trust) {
        Verdict::Failed { why } => assert!(
            why.contains("a message signature, not a DSSE envelope about the image"),
            "{why}"
        ),
        other => panic!("{other:?}"),
    }
}
