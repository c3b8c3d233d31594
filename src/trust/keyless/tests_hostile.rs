//! Hostile input to every parser of the keyless checks (trusted root, bundle, certificate,
//! checkpoint, inclusion proof, classic annotations): bounded, no panic, a clear error.

use super::tests::{CONDA, conda_identity, conda_subject, production, root_json, verify_data};
use super::*;
use serde_json::{Value, json};

fn root_err(bytes: &[u8]) -> String {
    match TrustedRoot::from_json(bytes) {
        Err(KeylessError::Root(why)) => why,
        other => panic!(
            "expected a root error for {:?}: {other:?}",
            String::from_utf8_lossy(&bytes[..bytes.len().min(80)])
        ),
    }
}

#[test]
fn a_trusted_root_that_does_not_parse_is_an_error_naming_why() {
    let good: Value = serde_json::from_slice(&root_json("trusted_root.json")).unwrap();
    let with = |f: &dyn Fn(&mut Value)| {
        let mut v = good.clone();
        f(&mut v);
        serde_json::to_vec(&v).unwrap()
    };
    let deep = "[".repeat(100_000);
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"".to_vec(), "not JSON"),
        (b"\xff\xfe".to_vec(), "UTF-8"),
        (b"[]".to_vec(), "not a JSON object"),
        (deep.into_bytes(), "not JSON"),
        (vec![b' '; MAX_ROOT_BYTES + 1], "more than"),
        (
            with(&|v| v["mediaType"] = "application/json".into()),
            "mediaType",
        ),
        (
            with(&|v| {
                v.as_object_mut().unwrap().remove("mediaType");
            }),
            "mediaType",
        ),
        (with(&|v| v["tlogs"] = json!({"a": 1})), "not a list"),
        (
            with(&|v| v["ctlogs"] = json!(vec![v["ctlogs"][0].clone(); 65])),
            "more than 64",
        ),
        (
            with(&|v| {
                let chain = v["certificateAuthorities"][0]["certChain"]["certificates"][0].clone();
                v["certificateAuthorities"][0]["certChain"]["certificates"] = json!(vec![chain; 9]);
            }),
            "chain of 9",
        ),
        (
            with(&|v| v["tlogs"][0]["publicKey"]["rawBytes"] = "AAAA".into()),
            "not usable",
        ),
        (
            with(&|v| v["tlogs"][0]["publicKey"]["rawBytes"] = "@@".into()),
            "does not parse",
        ),
        (
            with(&|v| {
                v["certificateAuthorities"][0]["certChain"]["certificates"][0]["rawBytes"] =
                    "MIIB".into()
            }),
            "not usable",
        ),
        (
            with(&|v| v["certificateAuthorities"][0]["validFor"]["start"] = "yesterday".into()),
            "does not parse",
        ),
        (
            with(&|v| v["tlogs"][0]["logId"]["keyId"] = "AAAA".into()),
            "not usable",
        ),
        (
            with(&|v| v["tlogs"] = json!([v["tlogs"][0].clone(), v["tlogs"][0].clone()])),
            "not usable",
        ),
    ];
    for (bytes, expected) in cases {
        let why = root_err(&bytes);
        assert!(why.contains(expected), "{expected:?} not in {why:?}");
    }
    // A file: named in the error; a folder is refused without reading.
    let dir = tempfile::tempdir().unwrap();
    let err = TrustedRoot::read(dir.path()).unwrap_err().to_string();
    assert!(err.contains(&dir.path().display().to_string()), "{err}");
    let file = dir.path().join("trusted_root.json");
    std::fs::write(&file, b"{").unwrap();
    let err = TrustedRoot::read(&file).unwrap_err().to_string();
    assert!(
        err.contains("trusted_root.json") && err.contains("not JSON"),
        "{err}"
    );
    // Both media types read.
    for version in ["0.1", "0.2"] {
        let v = with(&|v| {
            v["mediaType"] =
                format!("application/vnd.dev.sigstore.trustedroot+json;version={version}").into()
        });
        TrustedRoot::from_json(&v).unwrap();
    }
}

const MAX_ROOT_BYTES: usize = root::MAX_BYTES;

fn bundle_err(bytes: &[u8]) -> KeylessError {
    verify_bundle(
        bytes,
        Artifact::Sha256(conda_subject()),
        &production(),
        &conda_identity(),
    )
    .expect_err("a hostile bundle must not verify")
}

#[test]
fn hostile_bundles_are_bounded_errors() {
    let good: Value = serde_json::from_slice(&verify_data(CONDA)).unwrap();
    let with = |f: &dyn Fn(&mut Value)| {
        let mut v = good.clone();
        f(&mut v);
        serde_json::to_vec(&v).unwrap()
    };
    let entry = "/verificationMaterial/tlogEntries/0";
    let cases: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"{".to_vec(),
        b"null".to_vec(),
        b"\xff".to_vec(),
        "{\"a\":".repeat(50_000).into_bytes(),
        vec![b' '; verify::MAX_BUNDLE_BYTES + 1],
        with(&|v| v["mediaType"] = "application/vnd.dev.sigstore.bundle.v9+json".into()),
        with(&|v| {
            v.as_object_mut().unwrap().remove("dsseEnvelope");
        }),
        with(&|v| {
            v["verificationMaterial"]["tlogEntries"] = json!(vec![
                    v["verificationMaterial"]["tlogEntries"][0].clone();
                    17
                ])
        }),
        with(&|v| v["verificationMaterial"]["tlogEntries"] = json!([])),
        with(&|v| {
            *v.pointer_mut(&format!("{entry}/inclusionProof/hashes"))
                .unwrap() = json!(vec!["AAAA"; 65])
        }),
        with(&|v| {
            *v.pointer_mut(&format!("{entry}/inclusionProof/hashes"))
                .unwrap() = json!(["AA"])
        }),
        with(&|v| {
            *v.pointer_mut(&format!("{entry}/inclusionProof/treeSize"))
                .unwrap() = "0".into()
        }),
        with(&|v| {
            *v.pointer_mut(&format!("{entry}/inclusionProof/logIndex"))
                .unwrap() = "-1".into()
        }),
        with(&|v| {
            *v.pointer_mut(&format!("{entry}/inclusionProof/logIndex"))
                .unwrap() = "18446744073709551615".into()
        }),
        with(&|v| {
            *v.pointer_mut(&format!("{entry}/inclusionProof/checkpoint/envelope"))
                .unwrap() = "x".repeat(verify::MAX_CHECKPOINT + 1).into()
        }),
        with(&|v| {
            *v.pointer_mut(&format!("{entry}/inclusionProof/checkpoint/envelope"))
                .unwrap() = "".into()
        }),
        with(&|v| {
            *v.pointer_mut(&format!("{entry}/inclusionProof/checkpoint/envelope"))
                .unwrap() = "\n\n\n— \n".into()
        }),
        with(&|v| {
            *v.pointer_mut(&format!("{entry}/inclusionProof/checkpoint/envelope"))
                .unwrap() = "origin\n99999999999999999999999\nAAAA\n\n— origin AAAA\n".into()
        }),
        with(&|v| {
            *v.pointer_mut(&format!("{entry}/canonicalizedBody"))
                .unwrap() = crate::trust::b64(b"{\"kind\":7}").into()
        }),
        with(&|v| {
            *v.pointer_mut(&format!("{entry}/canonicalizedBody"))
                .unwrap() = "!!".into()
        }),
        with(&|v| {
            *v.pointer_mut(&format!("{entry}/integratedTime")).unwrap() = "-99999999999999".into()
        }),
        with(&|v| *v.pointer_mut(&format!("{entry}/kindVersion/kind")).unwrap() = "rekord".into()),
        with(&|v| v["verificationMaterial"]["certificate"]["rawBytes"] = "MIIB".into()),
        with(&|v| {
            v["verificationMaterial"]["certificate"]["rawBytes"] =
                crate::trust::b64(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]).into()
        }),
        with(&|v| v["verificationMaterial"]["certificate"]["rawBytes"] = "".into()),
        with(&|v| {
            v["dsseEnvelope"]["signatures"] =
                json!(vec![v["dsseEnvelope"]["signatures"][0].clone(); 17])
        }),
        with(&|v| v["dsseEnvelope"]["payload"] = crate::trust::b64(b"[[[[").into()),
    ];
    for (i, bytes) in cases.iter().enumerate() {
        let err = bundle_err(bytes);
        let text = err.to_string();
        assert!(!text.is_empty() && text.len() < 4096, "case {i}: {text}");
    }
}

#[test]
fn hostile_certificates_and_classic_annotations_are_errors() {
    for der in [
        &b""[..],
        b"\x30",
        b"\x30\x03\x02\x01\x01",
        &[0x30, 0x84, 0xff, 0xff, 0xff, 0xff],
    ] {
        assert!(identity::cert_identity(der).is_err());
    }
    let root = production();
    let ids = conda_identity();
    let big = "A".repeat(300 * 1024);
    let many = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n".repeat(9);
    let key = "-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----\n";
    for (certificate, chain, rekor) in [
        ("", None, None),
        ("not pem", None, None),
        (key, None, None),
        (many.as_str(), None, None),
        (big.as_str(), None, None),
        (
            "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
            Some(many.as_str()),
            Some("{}"),
        ),
        (
            "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
            None,
            Some("{}"),
        ),
        (
            "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
            None,
            Some(big.as_str()),
        ),
        (
            "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
            None,
            Some(
                r#"{"SignedEntryTimestamp":"AA","Payload":{"body":"!!","integratedTime":1,"logIndex":1,"logID":"zz"}}"#,
            ),
        ),
        (
            "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
            None,
            Some(
                r#"{"SignedEntryTimestamp":"AA","Payload":{"body":"e30=","integratedTime":1,"logIndex":1,"logID":"00"}}"#,
            ),
        ),
    ] {
        let s = ClassicSignature {
            payload: b"{}",
            signature: "AAAA",
            certificate,
            chain,
            rekor_bundle: rekor,
            attestation: None,
        };
        let err = verify_classic(&s, &root, &ids).unwrap_err();
        assert!(err.to_string().len() < 4096);
    }
}

#[test]
fn hostile_identity_patterns_are_refused() {
    assert!(Pattern::new("subject_regexp", "(").is_err());
    assert!(Pattern::new("subject_regexp", &"a".repeat(identity::MAX_PATTERN + 1)).is_err());
    // Too large once compiled.
    let err = Pattern::new("issuer_regexp", "(((a{100}){100}){100})").unwrap_err();
    assert!(err.to_string().contains("issuer_regexp"), "{err}");
    // Linear time: a pattern that backtracks exponentially elsewhere.
    let p = Pattern::new("subject_regexp", "^(a+)+$").unwrap();
    assert!(!p.is_match(&format!("{}b", "a".repeat(10_000))));
}

/// A genuine bundle (v0.3, `certificate`) made ambiguous: its leaf given again as a v0.1
/// chain beside it, in either order; the `certificate` key given twice (first a stranger's
/// bytes, then the leaf: a reader that keeps the last would verify the leaf); an unknown
/// field; the proto name beside the JSON name. Each is refused by name before anything is
/// checked, as cosign's protobuf JSON reader refuses it, and the genuine one still passes.
#[test]
fn a_bundle_that_two_readers_could_read_as_two_is_refused_before_any_check() {
    let text = String::from_utf8(verify_data(CONDA)).unwrap();
    let value: Value = serde_json::from_str(&text).unwrap();
    let leaf = value["verificationMaterial"]["certificate"]["rawBytes"]
        .as_str()
        .unwrap()
        .to_owned();
    let verify = |bundle: &str| {
        verify_bundle(
            bundle.as_bytes(),
            Artifact::Sha256(conda_subject()),
            &production(),
            &conda_identity(),
        )
    };
    verify(&text).unwrap();
    let cert = format!(r#""certificate":{{"rawBytes":"{leaf}"}}"#);
    let cert_at = text.find(r#""certificate":"#).unwrap();
    let cert_text = &text[cert_at..cert_at + text[cert_at..].find('}').unwrap() + 1];
    assert_eq!(
        serde_json::from_str::<Value>(&format!("{{{cert_text}}}")).unwrap()["certificate"]["rawBytes"],
        leaf.as_str()
    );
    let chain = format!(r#""x509CertificateChain":{{"certificates":[{{"rawBytes":"{leaf}"}}]}}"#);
    let stranger = r#""certificate":{"rawBytes":"MIIBstrangerAAAA"}"#;
    let cases = [
        (format!("{chain},{cert}"), "one choice (a oneof)"),
        (format!("{cert},{chain}"), "one choice (a oneof)"),
        (format!("{stranger},{cert}"), "is given twice"),
        (
            format!(r#"{cert},"extra":{{"rawBytes":"{leaf}"}}"#),
            "does not have",
        ),
        (
            format!(r#"{cert},"x509_certificate_chain":{{"certificates":[]}}"#),
            "does not have",
        ),
    ];
    for (material, why) in cases {
        let bundle = text.replacen(cert_text, &material, 1);
        assert_ne!(bundle, text);
        match verify(&bundle) {
            Err(KeylessError::Malformed(e)) => assert!(e.contains(why), "{material}: {e}"),
            other => panic!("{material}: {other:?}"),
        }
        // The format's reader refuses it as well, for the same cause.
        let read = crate::trust::bundle::Bundle::from_json(bundle.as_bytes()).unwrap_err();
        assert!(read.reason.contains(why), "{material}: {read}");
    }
}
