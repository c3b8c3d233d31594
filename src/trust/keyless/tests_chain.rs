//! The certificate path from the trusted root alone (`chain.rs`), on hierarchies made here:
//! intermediates that are no CAs, expired, without `keyCertSign` or under a `pathlen:0`
//! CA; sub-CAs that only a signature carries; a root listed without its intermediate. Each
//! in the classic `.sig` form and as a v0.1 bundle carrying the same chain, and the 2021
//! `rekord` path where it applies. The sigstore verifier alone passes the first of them
//! (it anchors every certificate of the root): a test below shows it, so these fail if its
//! anchoring decides again.

use super::tests_private::{
    Classic, IMAGE, Leaf, Private, Sct, T0, at, ca_params, hex, key, payload_for, sha256,
    signer_ids,
};
use super::*;
use crate::trust::b64;
use rcgen::{
    BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

/// The signing time of every case: a minute into the leaf's ten.
pub(super) const SIGNED: i64 = T0 + 60;

/// A CA made here.
pub(super) struct Ca {
    pub der: Vec<u8>,
    pub params: CertificateParams,
    pub key: KeyPair,
}

pub(super) fn root_ca(cn: &str) -> Ca {
    let params = ca_params(cn);
    let key = key();
    let der = params.self_signed(&key).unwrap().der().to_vec();
    Ca { der, params, key }
}

/// A CA issued by `parent` (EKU code signing, as Fulcio's), changed by `edit`.
pub(super) fn sub_ca(cn: &str, parent: &Ca, edit: impl FnOnce(&mut CertificateParams)) -> Ca {
    let mut params = ca_params(cn);
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::CodeSigning];
    edit(&mut params);
    let key = key();
    let issuer = Issuer::from_params(&parent.params, &parent.key);
    let der = params.signed_by(&key, &issuer).unwrap().der().to_vec();
    Ca { der, params, key }
}

fn pem(ders: &[&[u8]]) -> String {
    ders.iter()
        .map(|d| pem::encode(&pem::Pem::new("CERTIFICATE", d.to_vec())))
        .collect()
}

/// The classic signature of the demo payload by a leaf of `issuer`, carrying `carried` in
/// its chain annotation.
pub(super) fn classic(private: &Private, issuer: &Ca, carried: &[&[u8]]) -> Classic {
    let leaf = private.leaf_by(Leaf::default(), &issuer.params, &issuer.key);
    let mut c = private.classic_by(&payload_for(IMAGE), leaf, SIGNED);
    c.chain = pem(carried);
    c
}

/// The v0.1 bundle of the same signature, its chain the leaf and `carried`.
pub(super) fn v01(c: &Classic, carried: &[&[u8]]) -> Vec<u8> {
    let rekor: serde_json::Value = serde_json::from_str(&c.rekor_bundle).unwrap();
    let leaf = pem::parse(&c.certificate).unwrap().into_contents();
    let mut chain = vec![serde_json::json!({"rawBytes": b64(&leaf)})];
    chain.extend(
        carried
            .iter()
            .map(|d| serde_json::json!({"rawBytes": b64(d)})),
    );
    let log_id =
        crate::trust::keyless::classic::hex_decode(rekor["Payload"]["logID"].as_str().unwrap())
            .unwrap();
    serde_json::to_vec(&serde_json::json!({
        "mediaType": "application/vnd.dev.sigstore.bundle+json;version=0.1",
        "verificationMaterial": {
            "x509CertificateChain": {"certificates": chain},
            "tlogEntries": [{
                "logIndex": "7",
                "logId": {"keyId": b64(&log_id)},
                "kindVersion": {"kind": "hashedrekord", "version": "0.0.1"},
                "integratedTime": SIGNED.to_string(),
                "inclusionPromise": {"signedEntryTimestamp": rekor["SignedEntryTimestamp"]},
                "canonicalizedBody": rekor["Payload"]["body"],
            }],
        },
        "messageSignature": {
            "messageDigest": {"algorithm": "SHA2_256", "digest": b64(&sha256(&payload_for(IMAGE)))},
            "signature": c.signature,
        },
    }))
    .unwrap()
}

/// seedforge's verdict on the classic form and on the v0.1 bundle: both must agree.
pub(super) fn verdicts(root: &TrustedRoot, c: &Classic, carried: &[&[u8]]) -> Result<(), String> {
    let payload = payload_for(IMAGE);
    let classic = verify_classic(&c.as_signature(&payload), root, &signer_ids());
    let bundle = verify_bundle(
        &v01(c, carried),
        Artifact::Bytes(&payload),
        root,
        &signer_ids(),
    );
    match (classic, bundle) {
        (Ok(_), Ok(_)) => Ok(()),
        (Err(a), Err(b)) => {
            assert_eq!(
                a.to_string(),
                b.to_string(),
                "the two forms give two reasons"
            );
            Err(a.to_string())
        }
        (a, b) => panic!("the forms disagree: classic {a:?}, bundle {b:?}"),
    }
}

pub(super) fn root_of(private: &Private, chains: &[&[&Ca]]) -> TrustedRoot {
    let chains: Vec<Vec<Vec<u8>>> = chains
        .iter()
        .map(|chain| chain.iter().map(|ca| ca.der.clone()).collect())
        .collect();
    TrustedRoot::from_json(&private.trusted_root_of(&chains)).unwrap()
}

pub(super) fn refused_with(r: Result<(), String>, words: &str) {
    let why = r.expect_err("passed");
    assert!(why.contains(words), "not {words:?}: {why}");
}

#[test]
fn an_expired_intermediate_signs_nothing_though_the_sigstore_verifier_alone_passes_it() {
    let private = Private::new();
    let root = root_ca("chain root");
    let expired = sub_ca("expired intermediate", &root, |p| {
        p.not_after = at(T0 - 86_400);
    });
    let trusted = root_of(&private, &[&[&expired, &root]]);
    let c = classic(&private, &expired, &[&expired.der, &root.der]);
    // The verifier alone anchors the intermediate itself and passes the signature.
    let payload = payload_for(IMAGE);
    let bundle =
        sigstore_verify::types::Bundle::from_json(std::str::from_utf8(&v01(&c, &[])).unwrap())
            .unwrap();
    let policy = sigstore_verify::VerificationPolicy::any_identity();
    super::provider::install();
    super::provider::with_message(&payload, || {
        trusted
            .verifier
            .verify(payload.as_slice(), &bundle, &policy)
    })
    .expect("the sigstore verifier alone passes an expired intermediate");
    // The path from the root refuses it, naming the intermediate and the dates.
    refused_with(
        verdicts(&trusted, &c, &[&expired.der, &root.der]),
        "intermediate CN=expired intermediate is not valid at 2026-01-01T00:01:00Z \
         (the signing time, from the log entry; valid from 2020-01-01T00:00:00Z to \
         2025-12-31T00:00:00Z)",
    );
}

#[test]
fn an_intermediate_that_is_no_ca_or_may_not_sign_certificates_is_refused() {
    let private = Private::new();
    let root = root_ca("chain root");
    let not_ca = sub_ca("not a ca", &root, |p| {
        p.is_ca = IsCa::ExplicitNoCa;
    });
    let trusted = root_of(&private, &[&[&not_ca, &root]]);
    refused_with(
        verdicts(&trusted, &classic(&private, &not_ca, &[]), &[]),
        "intermediate CN=not a ca is not a CA (basicConstraints CA:false)",
    );
    let no_cert_sign = sub_ca("no keyCertSign", &root, |p| {
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::CrlSign];
    });
    let trusted = root_of(&private, &[&[&no_cert_sign, &root]]);
    refused_with(
        verdicts(&trusted, &classic(&private, &no_cert_sign, &[]), &[]),
        "intermediate CN=no keyCertSign may not sign certificates (keyUsage without keyCertSign)",
    );
    // A root that is no CA anchors nothing either.
    let mut params = ca_params("root no ca");
    params.is_ca = IsCa::ExplicitNoCa;
    let key = key();
    let der = params.self_signed(&key).unwrap().der().to_vec();
    let bad_root = Ca { der, params, key };
    let inter = sub_ca("under a root no ca", &bad_root, |_| {});
    let trusted = root_of(&private, &[&[&inter, &bad_root]]);
    refused_with(
        verdicts(&trusted, &classic(&private, &inter, &[]), &[]),
        "root CN=root no ca is not a CA (basicConstraints CA:false)",
    );
}

#[test]
fn a_sub_ca_under_a_pathlen_0_ca_is_refused_even_when_the_root_lists_it() {
    let private = Private::new();
    let root = root_ca("chain root");
    let inter = sub_ca("pathlen 0", &root, |p| {
        p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    });
    let sub = sub_ca("sub ca", &inter, |_| {});
    let trusted = root_of(&private, &[&[&sub, &inter, &root]]);
    refused_with(
        verdicts(&trusted, &classic(&private, &sub, &[]), &[]),
        "intermediate CN=pathlen 0 allows 0 intermediate(s) below it (pathlen:0), and the path has 1",
    );
    // The root's own pathlen counts too.
    let root1 = {
        let mut params = ca_params("root pathlen 0");
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        let key = key();
        let der = params.self_signed(&key).unwrap().der().to_vec();
        Ca { der, params, key }
    };
    let inter = sub_ca("under pathlen 0 root", &root1, |_| {});
    let trusted = root_of(&private, &[&[&inter, &root1]]);
    // A leaf straight from the root passes; one from its intermediate does not.
    let direct = private.leaf_by(Leaf::default(), &root1.params, &root1.key);
    let direct = private.classic_by(&payload_for(IMAGE), direct, SIGNED);
    verdicts(&trusted, &direct, &[]).unwrap();
    refused_with(
        verdicts(&trusted, &classic(&private, &inter, &[]), &[]),
        "root CN=root pathlen 0 allows 0 intermediate(s) below it (pathlen:0), and the path has 1",
    );
}

#[test]
fn a_certificate_the_signature_carries_never_extends_the_trusted_root() {
    let private = Private::new();
    let root = root_ca("chain root");
    let inter = sub_ca("listed intermediate", &root, |_| {});
    // A sub-CA that the signature carries, under an intermediate with no path limit.
    let sub = sub_ca("carried sub ca", &inter, |_| {});
    let trusted = root_of(&private, &[&[&inter, &root]]);
    let carried: [&[u8]; 3] = [&sub.der, &inter.der, &root.der];
    refused_with(
        verdicts(&trusted, &classic(&private, &sub, &carried), &carried),
        "certificate CN=carried sub ca carried by the signature is not in the trusted root",
    );
    // A root listed without its (compromised) intermediate: the intermediate's leaves stop,
    // though each signature carries it.
    let only_root = root_of(&private, &[&[&root]]);
    let carried: [&[u8]; 2] = [&inter.der, &root.der];
    refused_with(
        verdicts(&only_root, &classic(&private, &inter, &carried), &carried),
        "certificate CN=listed intermediate carried by the signature is not in the trusted root",
    );
    // A longer or unrelated chain beside a good leaf is ignored: it passes.
    let stranger = root_ca("unrelated root");
    let carried: [&[u8]; 4] = [&sub.der, &stranger.der, &inter.der, &root.der];
    verdicts(&trusted, &classic(&private, &inter, &carried), &carried).unwrap();
    verdicts(&trusted, &classic(&private, &inter, &[]), &[]).unwrap();
}

#[test]
fn no_ca_valid_at_the_signing_time_is_said_with_the_date() {
    let private = Private::new();
    let json = private.trusted_root();
    let mut v: serde_json::Value = serde_json::from_slice(&json).unwrap();
    v["certificateAuthorities"][0]["validFor"] =
        serde_json::json!({"start": "2020-01-01T00:00:00Z", "end": "2025-06-01T00:00:00Z"});
    let root = TrustedRoot::from_json(&serde_json::to_vec(&v).unwrap()).unwrap();
    let payload = payload_for(IMAGE);
    let c = private.classic(&payload, Leaf::default(), SIGNED);
    let why = verify_classic(&c.as_signature(&payload), &root, &signer_ids())
        .unwrap_err()
        .to_string();
    assert!(
        why.contains(
            "no CA of the trusted root was valid at 2026-01-01T00:01:00Z (the signing time, \
             from the log entry)"
        ),
        "{why}"
    );
    assert!(
        !why.contains("UnixTime") && !why.contains("RequiredEku"),
        "{why}"
    );
}

/// A 2021 classic signature (leaf naming no issuer, no SCT) logged as a `rekord` entry by
/// a leaf of `issuer`.
fn rekord(private: &Private, issuer: &Ca, carried: &[&[u8]]) -> Classic {
    let leaf = Leaf {
        issuer: None,
        sct: Sct::Missing,
        ..Leaf::default()
    };
    let (der, k) = private.leaf_by(leaf, &issuer.params, &issuer.key);
    let payload = payload_for(IMAGE);
    let signature = super::tests_private::sign(&k, &payload);
    let certificate = pem(&[&der]);
    let body = serde_json::json!({
        "apiVersion": "0.0.1",
        "kind": "rekord",
        "spec": {
            "data": {"hash": {"algorithm": "sha256", "value": hex(&sha256(&payload))}},
            "signature": {
                "content": b64(&signature),
                "format": "x509",
                "publicKey": {"content": b64(certificate.as_bytes())},
            },
        },
    });
    Classic {
        rekor_bundle: private.log(&body.to_string(), SIGNED),
        signature: b64(&signature),
        certificate,
        chain: pem(carried),
    }
}

#[test]
fn the_2021_rekord_path_builds_the_same_path() {
    let private = Private::new();
    let ids = vec![Identity {
        subject: Match::Exact("signer@example.com".into()),
        issuer: IssuerMatch::Absent,
    }];
    let payload = payload_for(IMAGE);
    let verdict = |root: &TrustedRoot, c: &Classic| {
        verify_classic(&c.as_signature(&payload), root, &ids).map_err(|e| e.to_string())
    };
    let root = root_ca("chain root");
    let inter = sub_ca("listed intermediate", &root, |_| {});
    let trusted = root_of(&private, &[&[&inter, &root]]);
    verdict(&trusted, &rekord(&private, &inter, &[])).unwrap();
    let sub = sub_ca("carried sub ca", &inter, |_| {});
    let why = verdict(&trusted, &rekord(&private, &sub, &[&sub.der, &inter.der])).unwrap_err();
    assert!(
        why.contains(
            "certificate CN=carried sub ca carried by the signature is not in the trusted root"
        ),
        "{why}"
    );
    let expired = sub_ca("expired intermediate", &root, |p| {
        p.not_after = at(T0 - 86_400);
    });
    let trusted = root_of(&private, &[&[&expired, &root]]);
    let why = verdict(&trusted, &rekord(&private, &expired, &[])).unwrap_err();
    assert!(
        why.contains("intermediate CN=expired intermediate is not valid at 2026-01-01T00:01:00Z"),
        "{why}"
    );
}
