//! The certificate path, the logs and the identity of a keyless signature, judged by cosign
//! 3.1.1: a private Sigstore (`common::keyless`) signs a blob for each case, cosign
//! `verify-blob --trusted-root` gives its verdict on the Sigstore bundle, and seedforge's
//! (`verify_bundle`, the check every keyless path runs) must be the same, its refusal
//! naming the cause. The cases: issuers Go's `x509.Verify` refuses (an unknown critical
//! extension, an extended key usage without code signing, a version 1 intermediate, a
//! root's name constraints), a leaf's unknown critical extension, Fulcio's username
//! `otherName` and another type's, a malformed GitHub workflow extension, a leaf with two
//! SCTs (one of a log no trusted root lists), a checkpoint signed by another log's key;
//! and where seedforge stays stricter than cosign (a P-521 leaf key, a leaf signed with
//! ecdsa-with-SHA512: ring verifies neither), its refusal names the cause.
//!
//! The classic form (a `.sig` with its certificate, chain and log entry annotations) has
//! no `verify-blob` with a trusted root, so its cases are images in a real registry:
//! `cosign verify --trusted-root` and `seedforge mirror` with cosign's flags judge each.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;
use common::keyless::{ISSUER, PrivateSigstore, SIGNER, Signing};
use common::registry::{Registry, fixture_layout, skopeo_push, skopeo_raw_digest};
use common::{Cmd, require_tool};
use seedforge::trust::keyless::{Artifact, Identity, TrustedRoot, verify_bundle};

/// One case: how it is signed, the identity asked for, and the verdict: `None` passes,
/// `Some(words)` is refused by both, seedforge's refusal holding one of `words`; where
/// seedforge is `stricter` than cosign, cosign passes what seedforge refuses so.
struct Case {
    name: &'static str,
    how: Signing,
    subject: &'static str,
    refused: Option<&'static [&'static str]>,
    stricter: bool,
}

fn case(name: &'static str, refused: Option<&'static [&'static str]>) -> Case {
    Case {
        name,
        how: Signing {
            mutate: Some(name),
            ..Signing::default()
        },
        subject: SIGNER,
        refused,
        stricter: false,
    }
}

fn cases() -> Vec<Case> {
    let as_signer = |name: &'static str, id: &str, refused| Case {
        name,
        how: Signing {
            signer: Some(id.into()),
            ..Signing::default()
        },
        subject: SIGNER,
        refused,
        stricter: false,
    };
    vec![
        // The certificate path, as Go's x509.Verify checks it.
        case(
            "critical-ca",
            Some(&[
                "intermediate CN=critical-inter carries the critical extension 1.3.6.1.4.1.99999.1",
            ]),
        ),
        case(
            "eku-server",
            Some(&["intermediate CN=eku-server-inter may not issue code-signing certificates"]),
        ),
        case(
            "v1-ca",
            Some(&[
                "intermediate CN=v1-inter is not a CA (a version 1 certificate, without basicConstraints)",
            ]),
        ),
        case(
            "nc-email",
            Some(&[
                "root CN=nc-email-root does not permit the email address \"dev@seedforge.test\"",
            ]),
        ),
        case("nc-ok", None),
        case(
            "nc-dirname",
            Some(&[
                "root CN=nc-dirname-root constrains names of a kind that cannot be evaluated (directoryName)",
            ]),
        ),
        case(
            "critical-leaf",
            Some(&["the signing certificate carries the critical extension 1.3.6.1.4.1.99999.1"]),
        ),
        // The identity.
        as_signer("othername", &format!("othername:{SIGNER}"), None),
        as_signer(
            "othername-foreign",
            &format!("othername-foreign:{SIGNER}"),
            Some(&["signed by no subject alternative name"]),
        ),
        case(
            "bad-ext",
            Some(&[
                "extension 1.3.6.1.4.1.57264.1.12 (source repository URI) is not a DER UTF8String",
            ]),
        ),
        case("good-ext", None),
        // The logs.
        case("two-scts", None),
        case(
            "checkpoint-key",
            Some(&["the checkpoint is not signed by the key of the entry's log"]),
        ),
        // What seedforge cannot verify (ring has no P-521, no ECDSA with SHA-512): cosign
        // (Go) passes both; seedforge refuses each, naming the cause.
        Case {
            stricter: true,
            ..case(
                "p521",
                Some(&[
                    "the signing certificate has an elliptic-curve key on the curve P-521/secp521r1 (1.3.132.0.35), which is not supported",
                ]),
            )
        },
        Case {
            stricter: true,
            ..case(
                "sha512-sig",
                Some(&[
                    "the signing certificate is signed with ecdsa-with-SHA512 (1.2.840.10045.4.3.4), a signature algorithm that is not supported",
                ]),
            )
        },
    ]
}

#[test]
fn seedforge_judges_the_path_logs_and_identity_as_cosign_does() {
    let Some(sigstore) = PrivateSigstore::new() else {
        return;
    };
    let root = TrustedRoot::read(&sigstore.trusted_root).unwrap();
    let mut wrong = Vec::new();
    for c in cases() {
        let content = format!("a blob for {}\n", c.name);
        let (file, bundle) = sigstore.sign_blob(content.as_bytes(), &c.how);
        let judged = sigstore.verify_blob(&file, &bundle, c.subject);
        let cosign_passes = judged.code == Some(0);
        let ours = verify_bundle(
            &std::fs::read(&bundle).unwrap(),
            Artifact::Bytes(content.as_bytes()),
            &root,
            &[Identity::exact(c.subject, ISSUER)],
        );
        let expected_pass = c.refused.is_none() || c.stricter;
        if cosign_passes != expected_pass {
            wrong.push(format!(
                "{}: cosign {}: {}",
                c.name,
                if cosign_passes { "passes" } else { "refuses" },
                judged.stderr.trim()
            ));
        }
        match (&ours, c.refused) {
            (Ok(_), None) => {}
            (Err(e), Some(words)) if words.iter().any(|w| e.to_string().contains(w)) => {}
            _ => wrong.push(format!("{}: seedforge: {ours:?}", c.name)),
        }
        eprintln!(
            "{}: cosign {}, seedforge {}",
            c.name,
            if cosign_passes { "passes" } else { "refuses" },
            match &ours {
                Ok(_) => "passes".to_string(),
                Err(e) => format!("refuses: {e}"),
            }
        );
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// The classic form's cases, on images: `cosign verify` and `seedforge mirror` agree.
/// (No checkpoint there: the classic annotation carries the SET alone.)
fn classic_cases() -> Vec<Case> {
    let keep = [
        "critical-ca",
        "eku-server",
        "v1-ca",
        "nc-email",
        "nc-ok",
        "critical-leaf",
        "othername-foreign",
        "bad-ext",
        "good-ext",
        "two-scts",
        "p521",
        "sha512-sig",
    ];
    let mut cases: Vec<Case> = cases()
        .into_iter()
        .filter(|c| keep.contains(&c.name))
        .collect();
    // cosign's classic path reads Fulcio's extensions only when a flag asks for one, and
    // passes a malformed one its bundle path refuses; seedforge refuses it in both forms.
    for c in &mut cases {
        if c.name == "bad-ext" {
            c.stricter = true;
        }
    }
    cases.push(case(
        "ed25519-sha256",
        Some(&["a hashedrekord entry of an Ed25519 key names a sha256 digest, not in [SHA-512]"]),
    ));
    cases
}

#[test]
fn the_classic_form_is_judged_alike_by_seedforge_mirror_and_cosign_verify() {
    if !require_tool("docker-registry") || !require_tool("skopeo") {
        return;
    }
    let Some(sigstore) = PrivateSigstore::new() else {
        return;
    };
    let registry = Registry::start_plain();
    let host = registry.host();
    let work = tempfile::tempdir().unwrap();
    let source = format!("oci:{}:mirrored-pause:3.6", fixture_layout().display());
    let mut wrong = Vec::new();
    for c in classic_cases() {
        let repo_tag = format!("path/{}:v1", c.name);
        skopeo_push(&source, &registry, &repo_tag, false);
        let digest = skopeo_raw_digest(&registry, &repo_tag);
        let image = format!("{host}/path/{}@{digest}", c.name);
        sigstore.sign_classic(&image, &c.how);
        let judged = sigstore.verify(&image);
        let cosign_passes = judged.code == Some(0);
        let list = work.path().join(format!("{}.txt", c.name));
        std::fs::write(
            &list,
            format!("docker://{host}/{repo_tag} docker.io/{repo_tag}\n"),
        )
        .unwrap();
        let ours = Cmd::seedforge()
            .args(["mirror", "--images"])
            .arg(&list)
            .arg("--layout")
            .arg(work.path().join(c.name))
            .args(["--plain-http", &host])
            .args(["--certificate-identity", c.subject])
            .args(["--certificate-oidc-issuer", ISSUER])
            .arg("--trusted-root")
            .arg(&sigstore.trusted_root)
            .any_status()
            .run();
        let expected_pass = c.refused.is_none() || c.stricter;
        if cosign_passes != expected_pass {
            wrong.push(format!(
                "{}: cosign {}: {}",
                c.name,
                if cosign_passes { "passes" } else { "refuses" },
                judged.stderr.trim()
            ));
        }
        let fine = match c.refused {
            None => ours.code == Some(0),
            Some(words) => ours.code == Some(1) && words.iter().any(|w| ours.stderr.contains(w)),
        };
        if !fine {
            wrong.push(format!(
                "{}: seedforge mirror: {:?} {}",
                c.name,
                ours.code,
                ours.stderr.trim()
            ));
        }
        eprintln!(
            "{} (classic): cosign {}, seedforge mirror exit {:?}",
            c.name,
            if cosign_passes { "passes" } else { "refuses" },
            ours.code
        );
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
