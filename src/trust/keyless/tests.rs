//! The keyless checks on real Sigstore material, taken at test time from where it is
//! published: the sigstore-verify and sigstore-trust-root crates' own test data and roots
//! (Apache-2.0, in cargo's registry cache, since the crate is a dependency), and cosign's
//! test data from Debian sid's golang-github-sigstore-cosign-v3-dev (fetched by
//! scripts/test.sh into target/sid-cosign-src). Hostile input: `tests_hostile.rs`.

use super::*;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// A crate's source folder in cargo's registry cache (`name-version`, the newest held).
pub(super) fn registry_crate(prefix: &str) -> PathBuf {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cargo"));
    let mut found = Vec::new();
    for index in std::fs::read_dir(home.join("registry/src")).unwrap() {
        for entry in std::fs::read_dir(index.unwrap().path()).unwrap() {
            let path = entry.unwrap().path();
            if path
                .file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(prefix)
            {
                found.push(path);
            }
        }
    }
    found.sort();
    found
        .pop()
        .unwrap_or_else(|| panic!("no {prefix}* in {}/registry/src", home.display()))
}

pub(crate) fn verify_data(name: &str) -> Vec<u8> {
    std::fs::read(
        registry_crate("sigstore-verify-0.15.")
            .join("test_data")
            .join(name),
    )
    .unwrap()
}

pub(super) fn root_json(name: &str) -> Vec<u8> {
    std::fs::read(
        registry_crate("sigstore-trust-root-0.15.")
            .join("src")
            .join(name),
    )
    .unwrap()
}

pub(crate) fn production() -> TrustedRoot {
    TrustedRoot::from_json(&root_json("trusted_root.json")).unwrap()
}

fn staging() -> TrustedRoot {
    TrustedRoot::from_json(&root_json("trusted_root_staging.json")).unwrap()
}

fn hex32(hex: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap();
    }
    out
}

pub(super) const CONDA: &str = "bundles/conda-attestation.sigstore.json";
pub(super) const CONDA_WORKFLOW: &str =
    "https://github.com/prefix-dev/sigstore-example/.github/workflows/action.yaml@refs/heads/main";
pub(super) const GITHUB_ACTIONS: &str = "https://token.actions.githubusercontent.com";

/// The conda package's SHA-256, as its attestation's statement names it.
pub(super) fn conda_subject() -> [u8; 32] {
    let pkg = verify_data("bundles/signed-package-2.1.0-hb0f4dca_0.conda");
    crate::hashing::sha256_bytes(&pkg)
        .as_slice()
        .try_into()
        .unwrap()
}

pub(super) fn conda_identity() -> Vec<Identity> {
    vec![
        Identity::exact("someone@example.com", "https://accounts.google.com"),
        Identity::exact(CONDA_WORKFLOW, GITHUB_ACTIONS),
    ]
}

fn regexp(subject: &str, issuer: &str) -> Identity {
    Identity {
        subject: Match::Regexp(Pattern::new("subject_regexp", subject).unwrap()),
        issuer: IssuerMatch::Is(Match::Regexp(
            Pattern::new("issuer_regexp", issuer).unwrap(),
        )),
    }
}

fn edit(json: &[u8], f: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut v: Value = serde_json::from_slice(json).unwrap();
    f(&mut v);
    serde_json::to_vec(&v).unwrap()
}

fn refused(r: Result<Signer, KeylessError>) -> String {
    match r {
        Err(KeylessError::Refused(why)) => why,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn a_github_actions_dsse_attestation_verifies_with_its_log_entry_set_and_proof() {
    // v0.3, DSSE, Rekor v1 dsse 0.0.1 with SET, inclusion proof and checkpoint.
    let signer = verify_bundle(
        &verify_data(CONDA),
        Artifact::Sha256(conda_subject()),
        &production(),
        &conda_identity(),
    )
    .unwrap();
    assert_eq!(
        signer,
        Signer {
            identity: 1,
            subject: CONDA_WORKFLOW.into(),
            issuer: Some(GITHUB_ACTIONS.into()),
            signed_at: 1756728839,
            time_source: TimeSource::Log,
        }
    );
    // Regular expressions match anywhere, as cosign's do.
    let ids = [regexp(
        "^https://github.com/prefix-dev/",
        r"token\.actions\.githubusercontent",
    )];
    assert!(
        verify_bundle(
            &verify_data(CONDA),
            Artifact::Sha256(conda_subject()),
            &production(),
            &ids
        )
        .is_ok()
    );
}

#[test]
fn the_same_attestation_as_v01_and_v02_bundles_verifies() {
    // v0.1 and v0.2 carry the leaf in x509CertificateChain.
    for media_type in [
        "application/vnd.dev.sigstore.bundle+json;version=0.1",
        "application/vnd.dev.sigstore.bundle+json;version=0.2",
    ] {
        let older = edit(&verify_data(CONDA), |v| {
            v["mediaType"] = media_type.into();
            let cert = v["verificationMaterial"]["certificate"].take();
            let vm = v["verificationMaterial"].as_object_mut().unwrap();
            vm.remove("certificate");
            vm.insert(
                "x509CertificateChain".into(),
                serde_json::json!({"certificates": [cert]}),
            );
        });
        let signer = verify_bundle(
            &older,
            Artifact::Sha256(conda_subject()),
            &production(),
            &conda_identity(),
        )
        .unwrap_or_else(|e| panic!("{media_type}: {e}"));
        assert_eq!(signer.subject, CONDA_WORKFLOW);
    }
}

#[test]
fn a_cosign_blob_message_signature_verifies() {
    let signer = verify_bundle(
        &verify_data("bundles/cosign-v3-blob.sigstore.json"),
        Artifact::Bytes(&verify_data("bundles/cosign-v3-blob.txt")),
        &production(),
        &[regexp("@", "^https://github.com/login/oauth$")],
    )
    .unwrap();
    assert_eq!(
        signer.issuer.as_deref(),
        Some("https://github.com/login/oauth")
    );
    assert_eq!(signer.time_source, TimeSource::Log);
    // Another blob: the message digest and signature are not its.
    refused(verify_bundle(
        &verify_data("bundles/cosign-v3-blob.sigstore.json"),
        Artifact::Bytes(b"another blob"),
        &production(),
        &[regexp("@", "")],
    ));
}

#[test]
fn rekor_v2_bundles_take_their_time_from_the_timestamp_authority() {
    // Rekor v2: no SET, no integrated time; a checkpoint and an RFC 3161 timestamp.
    let any = [regexp("", "")];
    let message = verify_bundle(
        &verify_data("upstream/sigstore-python/staging-rekor-v2.txt.sigstore.json"),
        Artifact::Bytes(&verify_data(
            "upstream/sigstore-python/staging-rekor-v2.txt",
        )),
        &staging(),
        &any,
    )
    .unwrap();
    assert_eq!(message.time_source, TimeSource::TimestampAuthority);
    let dsse = verify_bundle(
        &verify_data("upstream/sigstore-python/a.dsse.staging-rekor-v2.txt.sigstore.json"),
        Artifact::Sha256(hex32(
            "a0cfc71271d6e278e57cd332ff957c3f7043fdda354c4cbb190a30d56efa01bf",
        )),
        &staging(),
        &any,
    )
    .unwrap();
    assert_eq!(dsse.time_source, TimeSource::TimestampAuthority);
    let conda = verify_bundle(
        &verify_data("bundles/conda-attestation-rekor2.sigstore.json"),
        Artifact::Bytes(&verify_data(
            "bundles/signed-package-2.1.0-hb0f4dca_0.conda",
        )),
        &staging(),
        &[Identity::exact(
            "jku@goto.fi",
            "https://github.com/login/oauth",
        )],
    )
    .unwrap();
    assert_eq!(
        (conda.time_source, conda.signed_at),
        (TimeSource::TimestampAuthority, 1779781341)
    );
    // The timestamp authority of another root: refused.
    let why = refused(verify_bundle(
        &verify_data("bundles/conda-attestation-rekor2.sigstore.json"),
        Artifact::Bytes(&verify_data(
            "bundles/signed-package-2.1.0-hb0f4dca_0.conda",
        )),
        &production(),
        &any,
    ));
    assert!(why.contains("timestamp"), "{why}");
}

#[test]
fn an_intoto_v002_provenance_in_a_v01_bundle_verifies() {
    let mut digest = [0u8; 64];
    let hex = "46d4e2f74c4877316640000a6fdf8a8b59f1e0847667973e9859f774dd31b8f1e0937813b777fb66a2ac67d50540fe34640966eee9fc2ccca387082b4c85cd3c";
    for (i, b) in digest.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap();
    }
    let signer = verify_bundle(
        &verify_data("bundles/sigstore.js@2.0.0-provenance.sigstore.json"),
        Artifact::Sha512(digest),
        &production(),
        &[regexp("^https://github.com/sigstore/sigstore-js/", "")],
    )
    .unwrap();
    assert_eq!(signer.time_source, TimeSource::Log);
}

/// cosign's own test data from Debian sid, if scripts/test.sh fetched it.
pub(super) fn cosign_testdata() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(
        "target/sid-cosign-src/root/usr/share/gocode/src/github.com/sigstore/cosign/v3/pkg/cosign/testdata",
    );
    if dir.join("oci-attestation.sigstore.json").is_file() {
        return Some(dir);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{} is missing (scripts/test.sh fetches it)",
        dir.display()
    );
    eprintln!("skipped: no {} (scripts/test.sh fetches it)", dir.display());
    None
}

/// go-containerregistry's empty image, which cosign's test attestation is about.
pub(super) const EMPTY_IMAGE: &str =
    "732112270d7e59418a8c080b134b24cabd67d250d0d0147a97ed95ba5c280aa4";

#[test]
fn cosigns_attestation_on_the_empty_image_verifies_with_its_root() {
    let Some(dir) = cosign_testdata() else {
        return;
    };
    let bundle = std::fs::read(dir.join("oci-attestation.sigstore.json")).unwrap();
    let root = TrustedRoot::read(&dir.join("trusted_root_pgi.json")).unwrap();
    assert_eq!(
        root.summary(),
        RootSummary {
            certificate_authorities: 2,
            tlogs: 1,
            ctlogs: 2,
            timestamp_authorities: 0
        }
    );
    let any = [regexp("", "")];
    let signer = verify_bundle(&bundle, Artifact::Sha256(hex32(EMPTY_IMAGE)), &root, &any).unwrap();
    assert_eq!(signer.time_source, TimeSource::Log);
    // The statement names the empty image, not another.
    let other = hex32(&"0".repeat(64));
    refused(verify_bundle(&bundle, Artifact::Sha256(other), &root, &any));
    // The public-good root of the sigstore crates has that CA and log too.
    assert!(
        verify_bundle(
            &bundle,
            Artifact::Sha256(hex32(EMPTY_IMAGE)),
            &production(),
            &any
        )
        .is_ok()
    );
}

#[test]
fn another_identity_or_issuer_is_refused_by_name() {
    let bundle = verify_data(CONDA);
    for ids in [
        vec![Identity::exact(
            CONDA_WORKFLOW,
            "https://accounts.google.com",
        )],
        vec![Identity::exact(
            "https://github.com/prefix-dev/other/.github/workflows/action.yaml@refs/heads/main",
            GITHUB_ACTIONS,
        )],
        vec![regexp("^https://github.com/sigstore/", "")],
        // A certificate that names an issuer is not one that names none.
        vec![Identity {
            subject: Match::Exact(CONDA_WORKFLOW.into()),
            issuer: IssuerMatch::Absent,
        }],
        vec![],
    ] {
        let err = verify_bundle(
            &bundle,
            Artifact::Sha256(conda_subject()),
            &production(),
            &ids,
        )
        .unwrap_err();
        assert_eq!(
            err,
            KeylessError::Identity {
                subject: CONDA_WORKFLOW.into(),
                issuer: Some(GITHUB_ACTIONS.into()),
                identities: ids.len(),
            }
        );
        assert!(err.to_string().contains(CONDA_WORKFLOW), "{err}");
    }
}

/// The production root with one of its lists taken from the staging root.
fn production_with(list: &str) -> TrustedRoot {
    let staging: Value = serde_json::from_slice(&root_json("trusted_root_staging.json")).unwrap();
    TrustedRoot::from_json(&edit(&root_json("trusted_root.json"), |v| {
        v[list] = staging[list].clone();
    }))
    .unwrap()
}

#[test]
fn a_ca_or_log_not_in_the_root_is_refused() {
    let bundle = verify_data(CONDA);
    let ids = conda_identity();
    let why = refused(verify_bundle(
        &bundle,
        Artifact::Sha256(conda_subject()),
        &production_with("certificateAuthorities"),
        &ids,
    ));
    assert!(why.to_lowercase().contains("certificate"), "{why}");
    let why = refused(verify_bundle(
        &bundle,
        Artifact::Sha256(conda_subject()),
        &production_with("tlogs"),
        &ids,
    ));
    assert!(why.contains("log"), "{why}");
    // An SCT from a CT log the root does not hold (a foreign SCT).
    let why = refused(verify_bundle(
        &bundle,
        Artifact::Sha256(conda_subject()),
        &production_with("ctlogs"),
        &ids,
    ));
    assert!(why.to_uppercase().contains("SCT"), "{why}");
}

#[test]
fn a_ca_not_valid_at_the_signing_time_is_refused() {
    // The Fulcio CAs' windows end before the log's integrated time (2025-09-01).
    let root = TrustedRoot::from_json(&edit(&root_json("trusted_root.json"), |v| {
        for ca in v["certificateAuthorities"].as_array_mut().unwrap() {
            ca["validFor"] =
                serde_json::json!({"start": "2021-01-01T00:00:00Z", "end": "2022-01-01T00:00:00Z"});
        }
    }))
    .unwrap();
    refused(verify_bundle(
        &verify_data(CONDA),
        Artifact::Sha256(conda_subject()),
        &root,
        &conda_identity(),
    ));
}

#[test]
fn a_changed_set_proof_checkpoint_or_time_is_refused() {
    let bundle = verify_data(CONDA);
    let entry = "/verificationMaterial/tlogEntries/0";
    let flip_b64 = |v: &mut Value, path: &str| {
        let text = v.pointer(path).unwrap().as_str().unwrap();
        let mut bytes = crate::trust::unb64(text).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 1;
        *v.pointer_mut(path).unwrap() = crate::trust::b64(&bytes).into();
    };
    type Change<'a> = Box<dyn Fn(&mut Value) + 'a>;
    let cases: Vec<(&str, Change<'_>)> = vec![
        (
            "SET",
            Box::new(|v| flip_b64(v, &format!("{entry}/inclusionPromise/signedEntryTimestamp"))),
        ),
        (
            "integrated time",
            Box::new(|v| {
                *v.pointer_mut(&format!("{entry}/integratedTime")).unwrap() = "1756728840".into();
            }),
        ),
        (
            "proof hash",
            Box::new(|v| flip_b64(v, &format!("{entry}/inclusionProof/hashes/0"))),
        ),
        (
            "proof root",
            Box::new(|v| flip_b64(v, &format!("{entry}/inclusionProof/rootHash"))),
        ),
        (
            "proof index",
            Box::new(|v| {
                let p = format!("{entry}/inclusionProof/logIndex");
                let n: u64 = v.pointer(&p).unwrap().as_str().unwrap().parse().unwrap();
                *v.pointer_mut(&p).unwrap() = (n - 1).to_string().into();
            }),
        ),
        (
            "checkpoint",
            Box::new(|v| {
                let p = format!("{entry}/inclusionProof/checkpoint/envelope");
                let text = v.pointer(&p).unwrap().as_str().unwrap();
                let changed = text.replacen('\n', "\nX", 1);
                *v.pointer_mut(&p).unwrap() = changed.into();
            }),
        ),
        (
            "log entry body",
            Box::new(|v| flip_b64(v, &format!("{entry}/canonicalizedBody"))),
        ),
        (
            "DSSE signature",
            Box::new(|v| flip_b64(v, "/dsseEnvelope/signatures/0/sig")),
        ),
    ];
    for (what, change) in cases {
        let changed = edit(&bundle, change);
        let r = verify_bundle(
            &changed,
            Artifact::Sha256(conda_subject()),
            &production(),
            &conda_identity(),
        );
        assert!(
            matches!(
                r,
                Err(KeylessError::Refused(_) | KeylessError::Malformed(_))
            ),
            "{what}: {r:?}"
        );
    }
}

#[test]
fn a_log_entry_for_another_signature_is_refused() {
    // The cosign blob's entry (a hashedrekord of another signature) in the attestation's
    // bundle, and the attestation's in the blob's.
    let blob = verify_data("bundles/cosign-v3-blob.sigstore.json");
    let conda = verify_data(CONDA);
    let entry = |b: &[u8]| -> Value {
        serde_json::from_slice::<Value>(b).unwrap()["verificationMaterial"]["tlogEntries"].clone()
    };
    let swapped = edit(&conda, |v| {
        v["verificationMaterial"]["tlogEntries"] = entry(&blob);
    });
    refused(verify_bundle(
        &swapped,
        Artifact::Sha256(conda_subject()),
        &production(),
        &conda_identity(),
    ));
    let swapped = edit(&blob, |v| {
        v["verificationMaterial"]["tlogEntries"] = entry(&conda);
    });
    refused(verify_bundle(
        &swapped,
        Artifact::Bytes(&verify_data("bundles/cosign-v3-blob.txt")),
        &production(),
        &[regexp("", "")],
    ));
    // The sigstore-verify's CVE-2022-36056 bundle: an entry that does not match.
    let r = verify_bundle(
        &verify_data("bundles/bundle_cve_2022_36056.txt.sigstore"),
        Artifact::Bytes(b"x"),
        &staging(),
        &[regexp("", "")],
    );
    assert!(r.is_err());
}

#[test]
fn a_bundle_without_a_signing_time_or_log_entry_is_refused() {
    for name in [
        "bundles/bundle_v3_no_signed_time.txt.sigstore.json",
        "bundles/bundle_no_log_entry.txt.sigstore",
        "bundles/bundle_no_checkpoint.txt.sigstore",
    ] {
        let r = verify_bundle(
            &verify_data(name),
            Artifact::Bytes(b"x"),
            &production(),
            &[regexp("", "")],
        );
        assert!(matches!(r, Err(KeylessError::Refused(_))), "{name}: {r:?}");
    }
    // A key's bundle is not keyless.
    let r = verify_bundle(
        &verify_data("managed-key/bundle.sigstore.json"),
        Artifact::Bytes(&verify_data("managed-key/artifact.txt")),
        &production(),
        &[regexp("", "")],
    );
    assert!(matches!(r, Err(KeylessError::Malformed(_))), "{r:?}");
}

#[test]
fn the_issuer_is_read_from_the_v2_extension_else_the_v1() {
    // The conda leaf has both; the sigstore-js leaf of 2023 has only 1.1.
    for (name, issuer) in [
        (CONDA, GITHUB_ACTIONS),
        (
            "bundles/sigstore.js@2.0.0-provenance.sigstore.json",
            GITHUB_ACTIONS,
        ),
    ] {
        let v: Value = serde_json::from_slice(&verify_data(name)).unwrap();
        let raw = v
            .pointer("/verificationMaterial/certificate/rawBytes")
            .or_else(|| {
                v.pointer("/verificationMaterial/x509CertificateChain/certificates/0/rawBytes")
            })
            .unwrap()
            .as_str()
            .unwrap();
        let id = identity::cert_identity(&crate::trust::unb64(raw).unwrap()).unwrap();
        assert_eq!(id.issuer.as_deref(), Some(issuer), "{name}");
        assert!(id.has_sct, "{name}");
    }
}

/// The 2021 classic signature of sigstore-rs's tests (fixtures/trust/keyless-2021).
fn classic_2021(name: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/trust/keyless-2021")
            .join(name),
    )
    .unwrap()
}

#[test]
fn the_2021_classic_signature_passes_only_an_identity_accepting_no_issuer() {
    let payload = classic_2021("payload.json");
    let (signature, certificate, bundle) = (
        classic_2021("signature.b64"),
        classic_2021("certificate.pem"),
        classic_2021("rekor-bundle.json"),
    );
    let s = ClassicSignature {
        payload: payload.as_bytes(),
        signature: &signature,
        certificate: &certificate,
        chain: None,
        rekor_bundle: Some(&bundle),
        attestation: None,
    };
    let absent = |subject: &str| Identity {
        subject: Match::Exact(subject.into()),
        issuer: IssuerMatch::Absent,
    };
    let signer = verify_classic(&s, &production(), &[absent("flavio@castelli.me")]).unwrap();
    assert_eq!(
        signer,
        Signer {
            identity: 0,
            subject: "flavio@castelli.me".into(),
            issuer: None,
            signed_at: 1634714717,
            time_source: TimeSource::Log,
        }
    );
    // Any issuer given, another subject: refused.
    for ids in [
        vec![regexp("flavio@castelli.me", "")],
        vec![absent("someone@example.com")],
    ] {
        assert!(verify_classic(&s, &production(), &ids).is_err());
    }
    // A changed SET, payload, signature or time; another root.
    let ids = [absent("flavio@castelli.me")];
    let mut v: Value = serde_json::from_str(&bundle).unwrap();
    v["Payload"]["integratedTime"] = (1634714717 + 1).into();
    let later = v.to_string();
    let other_payload = payload.replace("5f48", "5f49");
    let mut sig = crate::trust::unb64(&signature).unwrap();
    sig[8] ^= 1;
    let sig = crate::trust::b64(&sig);
    let cases = [
        ClassicSignature {
            rekor_bundle: Some(&later),
            ..s
        },
        ClassicSignature {
            payload: other_payload.as_bytes(),
            ..s
        },
        ClassicSignature {
            signature: &sig,
            ..s
        },
    ];
    for case in cases {
        refused(verify_classic(&case, &production(), &ids));
    }
    refused(verify_classic(&s, &staging(), &ids));
}

#[test]
fn a_trusted_root_and_identities_are_shared_across_threads() {
    fn shared<T: Send + Sync>() {}
    shared::<TrustedRoot>();
    shared::<Identity>();
    let root = production();
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                verify_bundle(
                    &verify_data(CONDA),
                    Artifact::Sha256(conda_subject()),
                    &root,
                    &conda_identity(),
                )
                .unwrap();
            });
        }
    });
}
