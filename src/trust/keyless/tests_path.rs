//! The certificate path checked as Go's `x509.Verify` checks it for cosign, on hierarchies
//! made here: unhandled critical extensions (an intermediate's, a root's, the leaf's),
//! extended key usages that do not chain to code signing, a version 1 intermediate (no
//! basicConstraints), and a root's name constraints over the leaf's names through its
//! intermediate. The sigstore verifier alone passes each refused case (it anchors every
//! certificate of the root's `certChain`): each test shows it, so these fail if its
//! anchoring decides trust again.

use super::tests_chain::{
    Ca, SIGNED, classic, refused_with, root_ca, root_of, sub_ca, v01, verdicts,
};
use super::tests_private::{
    Classic, IMAGE, Leaf, Private, Sct, ca_params, hex, key, payload_for, sha256, signer_ids,
};
use super::*;
use crate::trust::{b64, unb64};
use rcgen::{
    CertificateParams, CustomExtension, DistinguishedName, DnType, ExtendedKeyUsagePurpose,
    GeneralSubtree, Issuer, KeyPair, KeyUsagePurpose, NameConstraints, SanType, SigningKey,
};

/// True if the sigstore verifier alone (its own chain step, every certificate of a
/// `certChain` an anchor) passes `c` in its v0.1 bundle form.
fn crate_alone_passes(root: &TrustedRoot, c: &Classic) -> bool {
    crate_alone_passes_bundle(root, &v01(c, &[]))
}

/// True if the sigstore verifier alone passes this bundle of the demo payload.
fn crate_alone_passes_bundle(root: &TrustedRoot, bundle: &[u8]) -> bool {
    let payload = payload_for(IMAGE);
    let bundle =
        sigstore_verify::types::Bundle::from_json(std::str::from_utf8(bundle).unwrap()).unwrap();
    let policy = sigstore_verify::VerificationPolicy::any_identity();
    super::provider::install();
    super::provider::with_message(&payload, || {
        root.verifier.verify(payload.as_slice(), &bundle, &policy)
    })
    .is_ok()
}

/// A DER element of `tag` holding `content`.
fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let n = content.len();
    if n < 0x80 {
        out.push(n as u8);
    } else if n < 0x100 {
        out.extend([0x81, n as u8]);
    } else {
        out.extend([0x82, (n >> 8) as u8, n as u8]);
    }
    out.extend_from_slice(content);
    out
}

/// The DER elements (whole) of a DER element's content.
fn elements(mut der: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    while !der.is_empty() {
        let (len, head) = match der[1] {
            n if n < 0x80 => (n as usize, 2),
            0x81 => (der[2] as usize, 3),
            0x82 => (((der[2] as usize) << 8) | der[3] as usize, 4),
            other => panic!("length form {other:#x}"),
        };
        out.push(&der[..head + len]);
        der = &der[head + len..];
    }
    out
}

/// The content of one DER element.
fn content(der: &[u8]) -> &[u8] {
    let head = match der[1] {
        n if n < 0x80 => 2,
        0x81 => 3,
        _ => 4,
    };
    &der[head..]
}

/// `ca` made again as a version 1 certificate (no version field, no extensions), signed
/// by `parent`: the same name and key, so what it issued chains to it.
fn version_1(ca: &Ca, parent: &Ca) -> Vec<u8> {
    let cert = elements(content(&ca.der));
    let tbs: Vec<u8> = elements(content(cert[0]))
        .into_iter()
        .filter(|e| e[0] != 0xa0 && e[0] != 0xa3)
        .flatten()
        .copied()
        .collect();
    let tbs = tlv(0x30, &tbs);
    let signature = parent.key.sign(&tbs).unwrap();
    let mut bits = vec![0];
    bits.extend(signature);
    tlv(0x30, &[tbs, cert[1].to_vec(), tlv(0x03, &bits)].concat())
}

/// A critical extension of an OID no verifier knows (content: NULL).
fn unknown(critical: bool) -> CustomExtension {
    let mut e = CustomExtension::from_oid_content(&[1, 3, 6, 1, 4, 1, 99999, 1], vec![5, 0]);
    e.set_criticality(critical);
    e
}

/// The classic signature of the demo payload by a leaf made so, of `issuer`.
fn classic_leaf(private: &Private, issuer: &Ca, leaf: Leaf<'_>) -> Classic {
    let leaf = private.leaf_by(leaf, &issuer.params, &issuer.key);
    private.classic_by(&payload_for(IMAGE), leaf, SIGNED)
}

#[test]
fn an_unhandled_critical_extension_refuses_an_intermediate_a_root_or_the_leaf() {
    let private = Private::new();
    let root = root_ca("chain root");
    let inter = sub_ca("critical intermediate", &root, |p| {
        p.custom_extensions.push(unknown(true));
    });
    let trusted = root_of(&private, &[&[&inter, &root]]);
    let c = classic(&private, &inter, &[]);
    assert!(crate_alone_passes(&trusted, &c));
    refused_with(
        verdicts(&trusted, &c, &[]),
        "intermediate CN=critical intermediate carries the critical extension \
         1.3.6.1.4.1.99999.1, which is not handled",
    );
    // Not critical, it is no matter.
    let plain = sub_ca("plain intermediate", &root, |p| {
        p.custom_extensions.push(unknown(false));
    });
    let trusted = root_of(&private, &[&[&plain, &root]]);
    verdicts(&trusted, &classic(&private, &plain, &[]), &[]).unwrap();
    // A root's own.
    let mut params = ca_params("critical root");
    params.custom_extensions.push(unknown(true));
    let k = key();
    let der = params.self_signed(&k).unwrap().der().to_vec();
    let bad_root = Ca {
        der,
        params,
        key: k,
    };
    let inter = sub_ca("under a critical root", &bad_root, |_| {});
    let trusted = root_of(&private, &[&[&inter, &bad_root]]);
    let c = classic(&private, &inter, &[]);
    assert!(crate_alone_passes(&trusted, &c));
    refused_with(
        verdicts(&trusted, &c, &[]),
        "root CN=critical root carries the critical extension 1.3.6.1.4.1.99999.1",
    );
    // The leaf's: an unknown one, or one of Fulcio's marked critical.
    let trusted = root_of(&private, &[&[&plain, &root]]);
    let repo = tlv(0x0c, b"https://github.com/o/r");
    for (oid, value) in [
        (&[1, 3, 6, 1, 4, 1, 99999, 1][..], &[5, 0][..]),
        (&[1, 3, 6, 1, 4, 1, 57264, 1, 12][..], repo.as_slice()),
    ] {
        let leaf = Leaf {
            extensions: &[(oid, value, true)],
            ..Leaf::default()
        };
        // (The verifier's own chain step, webpki's, refuses the leaf's too, without naming
        // it; seedforge's check comes first and names it.)
        let c = classic_leaf(&private, &plain, leaf);
        refused_with(
            verdicts(&trusted, &c, &[]),
            "the signing certificate carries the critical extension 1.3.6.1.4.1.",
        );
        // The same, not critical, passes.
        let leaf = Leaf {
            extensions: &[(oid, value, false)],
            ..Leaf::default()
        };
        verdicts(&trusted, &classic_leaf(&private, &plain, leaf), &[]).unwrap();
    }
    // Extensions Go handles may be critical: an intermediate's certificatePolicies
    // (anyPolicy). (A leaf's is refused by the verifier's own step, webpki's, which
    // knows fewer extensions than Go: stricter than cosign there.)
    let policies = tlv(0x30, &tlv(0x30, &tlv(0x06, &[0x55, 0x1d, 0x20, 0x00])));
    let with_policies = sub_ca("policies intermediate", &root, |p| {
        let mut e = CustomExtension::from_oid_content(&[2, 5, 29, 32], policies);
        e.set_criticality(true);
        p.custom_extensions.push(e);
    });
    let trusted = root_of(&private, &[&[&with_policies, &root]]);
    verdicts(&trusted, &classic(&private, &with_policies, &[]), &[]).unwrap();
}

#[test]
fn an_issuer_whose_extended_key_usages_exclude_code_signing_issues_no_signing_leaf() {
    let private = Private::new();
    let root = root_ca("chain root");
    let server = sub_ca("server auth only", &root, |p| {
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    });
    let trusted = root_of(&private, &[&[&server, &root]]);
    let c = classic(&private, &server, &[]);
    assert!(crate_alone_passes(&trusted, &c));
    refused_with(
        verdicts(&trusted, &c, &[]),
        "intermediate CN=server auth only may not issue code-signing certificates (its \
         extKeyUsage names neither code signing nor anyExtendedKeyUsage)",
    );
    // A root's usages chain too.
    let mut params = ca_params("server root");
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    let k = key();
    let der = params.self_signed(&k).unwrap().der().to_vec();
    let server_root = Ca {
        der,
        params,
        key: k,
    };
    let inter = sub_ca("under a server root", &server_root, |_| {});
    let trusted = root_of(&private, &[&[&inter, &server_root]]);
    let c = classic(&private, &inter, &[]);
    assert!(crate_alone_passes(&trusted, &c));
    refused_with(
        verdicts(&trusted, &c, &[]),
        "root CN=server root may not issue code-signing certificates",
    );
    // anyExtendedKeyUsage, or no extKeyUsage at all, allows every usage.
    for (cn, usages) in [
        ("any usage", vec![ExtendedKeyUsagePurpose::Any]),
        ("no usage", vec![]),
        (
            "code signing among others",
            vec![
                ExtendedKeyUsagePurpose::ServerAuth,
                ExtendedKeyUsagePurpose::CodeSigning,
            ],
        ),
    ] {
        let inter = sub_ca(cn, &root, |p| p.extended_key_usages = usages);
        let trusted = root_of(&private, &[&[&inter, &root]]);
        verdicts(&trusted, &classic(&private, &inter, &[]), &[])
            .unwrap_or_else(|e| panic!("{cn}: {e}"));
    }
}

#[test]
fn a_version_1_intermediate_is_no_ca() {
    let private = Private::new();
    let root = root_ca("chain root");
    let v3 = sub_ca("version 1 intermediate", &root, |_| {});
    let v1 = Ca {
        der: version_1(&v3, &root),
        params: v3.params,
        key: v3.key,
    };
    use x509_parser::prelude::FromDer as _;
    let (_, parsed) = x509_parser::prelude::X509Certificate::from_der(&v1.der).unwrap();
    assert_eq!(parsed.version().0, 0);
    assert!(parsed.extensions().is_empty());
    let trusted = root_of(&private, &[&[&v1, &root]]);
    let c = classic(&private, &v1, &[]);
    assert!(crate_alone_passes(&trusted, &c));
    refused_with(
        verdicts(&trusted, &c, &[]),
        "intermediate CN=version 1 intermediate is not a CA (a version 1 certificate, \
         without basicConstraints)",
    );
}

/// A root constraining names so, and an intermediate of it (which constrains none).
fn constrained(cn: &str, constraints: NameConstraints) -> (Ca, Ca) {
    let mut params = ca_params(cn);
    params.name_constraints = Some(constraints);
    let k = key();
    let der = params.self_signed(&k).unwrap().der().to_vec();
    let root = Ca {
        der,
        params,
        key: k,
    };
    let inter = sub_ca(&format!("{cn} intermediate"), &root, |_| {});
    (root, inter)
}

fn permitted(subtrees: Vec<GeneralSubtree>) -> NameConstraints {
    NameConstraints {
        permitted_subtrees: subtrees,
        excluded_subtrees: vec![],
    }
}

/// The verdict on a leaf of the intermediate of a root constrained so (the leaf's email
/// is signer@example.com, its other names `also`).
fn under(private: &Private, constraints: NameConstraints, also: &[&str]) -> Result<(), String> {
    let (root, inter) = constrained("constrained root", constraints);
    let trusted = root_of(private, &[&[&inter, &root]]);
    let leaf = Leaf {
        also,
        ..Leaf::default()
    };
    let c = classic_leaf(private, &inter, leaf);
    let verdict = verdicts(&trusted, &c, &[]);
    if verdict.is_err() {
        assert!(crate_alone_passes(&trusted, &c), "{verdict:?}");
    }
    verdict
}

/// Name constraints of a root written by hand (kinds rcgen does not write): `[0]`
/// permitted subtrees holding each general name (DER, context-tagged) given.
fn by_hand(names: &[Vec<u8>]) -> CustomExtension {
    let subtrees: Vec<u8> = names.iter().flat_map(|n| tlv(0x30, n)).collect();
    let mut e =
        CustomExtension::from_oid_content(&[2, 5, 29, 30], tlv(0x30, &tlv(0xa0, &subtrees)));
    e.set_criticality(true);
    e
}

#[test]
fn a_roots_name_constraints_reach_the_leaf_through_its_intermediate() {
    let private = Private::new();
    let email = |s: &str| permitted(vec![GeneralSubtree::Rfc822Name(s.into())]);
    // The email's domain, a mailbox, or a domain above it.
    for ok in ["example.com", "signer@example.com", "EXAMPLE.com", ""] {
        under(&private, email(ok), &[]).unwrap_or_else(|e| panic!("{ok}: {e}"));
    }
    refused_with(
        under(&private, email("example.org"), &[]),
        "root CN=constrained root does not permit the email address \"signer@example.com\": \
         no name constraint of its permits it",
    );
    // A leading dot asks for a name below the domain.
    refused_with(
        under(&private, email(".example.com"), &[]),
        "does not permit the email address \"signer@example.com\"",
    );
    refused_with(
        under(&private, email("other@example.com"), &[]),
        "does not permit the email address",
    );
    // Excluded.
    let excluded = NameConstraints {
        permitted_subtrees: vec![],
        excluded_subtrees: vec![GeneralSubtree::Rfc822Name("example.com".into())],
    };
    refused_with(
        under(&private, excluded, &[]),
        "root CN=constrained root excludes the email address \"signer@example.com\" (name \
         constraint \"example.com\")",
    );
    // DNS names: constrained only where the leaf has one.
    let dns = || permitted(vec![GeneralSubtree::DnsName("example.com".into())]);
    under(&private, dns(), &[]).unwrap();
    under(&private, dns(), &["build.example.com"]).unwrap();
    refused_with(
        under(&private, dns(), &["build.example.net"]),
        "does not permit the DNS name \"build.example.net\"",
    );
    // URIs, by their host.
    let uri = |host: &str| by_hand(&[tlv(0x86, host.as_bytes())]);
    let with_uri = |e: CustomExtension, also: &[&str]| {
        let (mut root, _) = constrained("uri root", permitted(vec![]));
        root.params.name_constraints = None;
        root.params.custom_extensions.push(e);
        root.der = root.params.self_signed(&root.key).unwrap().der().to_vec();
        let inter = sub_ca("uri root intermediate", &root, |_| {});
        let trusted = root_of(&private, &[&[&inter, &root]]);
        let leaf = Leaf {
            also,
            ..Leaf::default()
        };
        verdicts(&trusted, &classic_leaf(&private, &inter, leaf), &[])
    };
    // (The path passes; the identity is then the URI, the SAN cosign's rule picks first.)
    refused_with(
        with_uri(
            uri("github.com"),
            &["https://github.com/o/r/.github/workflows/w.yml@refs/heads/main"],
        ),
        "signed by https://github.com/o/r/.github/workflows/w.yml@refs/heads/main (issuer \
         https://issuer.example), which is none of the 1 identit(y/ies) of the policy",
    );
    refused_with(
        with_uri(
            uri("github.com"),
            &["https://gitlab.com/o/r//.gitlab-ci.yml@refs/heads/main"],
        ),
        "root CN=uri root does not permit the URI \"https://gitlab.com/o/r//.gitlab-ci.yml@refs/heads/main\"",
    );
    // A kind that cannot be evaluated refuses the CA, whatever the leaf's names.
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "seedforge test");
    refused_with(
        under(
            &private,
            permitted(vec![GeneralSubtree::DirectoryName(dn)]),
            &[],
        ),
        "root CN=constrained root constrains names of a kind that cannot be evaluated \
         (directoryName)",
    );
    let other_name = tlv(
        0xa0,
        &[
            tlv(0x06, &[0x2b, 6, 1, 4, 1, 0x83, 0xbf, 0x30, 1, 7]),
            tlv(0xa0, &tlv(0x0c, b"x")),
        ]
        .concat(),
    );
    refused_with(
        with_uri(by_hand(&[other_name]), &[]),
        "constrains names of a kind that cannot be evaluated (otherName)",
    );
}

/// The v0.1 bundle of `c` with an inclusion proof (a tree of its entry alone), its
/// checkpoint signed by the root's log, or by its second log when `second`.
fn with_proof(private: &Private, c: &Classic, second: bool) -> Vec<u8> {
    let mut v: serde_json::Value = serde_json::from_slice(&v01(c, &[])).unwrap();
    let entry = &mut v["verificationMaterial"]["tlogEntries"][0];
    let body = unb64(entry["canonicalizedBody"].as_str().unwrap()).unwrap();
    entry["inclusionProof"] = private.inclusion_proof(&body, second);
    serde_json::to_vec(&v).unwrap()
}

#[test]
fn a_checkpoint_verifies_only_with_the_key_of_the_entrys_own_log() {
    let private = Private::new();
    let root = TrustedRoot::from_json(&private.trusted_root()).unwrap();
    let payload = payload_for(IMAGE);
    let c = private.classic(&payload, Leaf::default(), SIGNED);
    let own = with_proof(&private, &c, false);
    verify_bundle(&own, Artifact::Bytes(&payload), &root, &signer_ids()).unwrap();
    // Signed by the root's other log: the verifier alone takes it (a key of the root that
    // the signature line's hint names), seedforge does not.
    let other = with_proof(&private, &c, true);
    assert!(crate_alone_passes_bundle(&root, &other));
    let why = verify_bundle(&other, Artifact::Bytes(&payload), &root, &signer_ids())
        .unwrap_err()
        .to_string();
    assert!(
        why.contains(
            "log entry 0: the checkpoint is not signed by the key of the entry's log (log ID "
        ),
        "{why}"
    );
    // The entry's log key must be valid at the signing time.
    let mut json: serde_json::Value = serde_json::from_slice(&private.trusted_root()).unwrap();
    json["tlogs"][0]["publicKey"]["validFor"] =
        serde_json::json!({"start": "2020-01-01T00:00:00Z", "end": "2025-01-01T00:00:00Z"});
    let ended = TrustedRoot::from_json(&serde_json::to_vec(&json).unwrap()).unwrap();
    assert!(verify_bundle(&own, Artifact::Bytes(&payload), &ended, &signer_ids()).is_err());
}

#[test]
fn one_verified_sct_of_a_listed_log_suffices_and_others_are_skipped() {
    let private = Private::new();
    let root = TrustedRoot::from_json(&private.trusted_root()).unwrap();
    let payload = payload_for(IMAGE);
    let verdict = |sct| {
        let c = private.classic(
            &payload,
            Leaf {
                sct,
                ..Leaf::default()
            },
            SIGNED,
        );
        verify_classic(&c.as_signature(&payload), &root, &signer_ids()).map_err(|e| e.to_string())
    };
    // An SCT of a log the root does not list, then one of its CT log: passes, as cosign.
    verdict(Sct::Both).unwrap();
    verdict(Sct::Good).unwrap();
    let why = verdict(Sct::Foreign).unwrap_err();
    assert!(
        why.contains(
            "SCT signature verification failed: none of the 1 SCT(s) the signing certificate \
             embeds verifies with a CT log key of the trusted root (0 of a listed log valid at \
             its time)"
        ),
        "{why}"
    );
    assert!(verdict(Sct::Missing).unwrap_err().contains("missing SCT"));
    // The CT log's key must be valid at the SCT's time.
    let mut json: serde_json::Value = serde_json::from_slice(&private.trusted_root()).unwrap();
    json["ctlogs"][0]["publicKey"]["validFor"] =
        serde_json::json!({"start": "2026-06-01T00:00:00Z"});
    let later = TrustedRoot::from_json(&serde_json::to_vec(&json).unwrap()).unwrap();
    let c = private.classic(&payload, Leaf::default(), SIGNED);
    let why = verify_classic(&c.as_signature(&payload), &later, &signer_ids())
        .unwrap_err()
        .to_string();
    assert!(why.contains("SCT signature verification failed"), "{why}");
}

/// A 2021-style leaf (no issuer, no SCT) of `issuer` with an Ed25519 key: its DER and key.
fn ed25519_leaf(issuer: &Ca) -> (Vec<u8>, KeyPair) {
    let k = KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
    let mut p = CertificateParams::default();
    p.distinguished_name = DistinguishedName::new();
    p.not_before = super::tests_private::at(super::tests_private::T0);
    p.not_after = super::tests_private::at(super::tests_private::T0 + 600);
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::CodeSigning];
    p.subject_alt_names = vec![SanType::Rfc822Name(
        "signer@example.com".try_into().unwrap(),
    )];
    let der = p
        .signed_by(&k, &Issuer::from_params(&issuer.params, &issuer.key))
        .unwrap()
        .der()
        .to_vec();
    (der, k)
}

#[test]
fn an_ed25519_keys_hashedrekord_entry_must_name_a_sha512_digest() {
    let private = Private::new();
    let root = root_ca("chain root");
    let inter = sub_ca("ed25519 intermediate", &root, |_| {});
    let trusted = root_of(&private, &[&[&inter, &root]]);
    let (der, k) = ed25519_leaf(&inter);
    let payload = payload_for(IMAGE);
    let signature = k.sign(&payload).unwrap();
    let certificate = pem::encode(&pem::Pem::new("CERTIFICATE", der));
    let ids = [Identity {
        subject: Match::Exact("signer@example.com".into()),
        issuer: IssuerMatch::Absent,
    }];
    let logged = |algorithm: &str, digest: &[u8]| {
        let body = serde_json::json!({
            "apiVersion": "0.0.1",
            "kind": "hashedrekord",
            "spec": {
                "data": {"hash": {"algorithm": algorithm, "value": hex(digest)}},
                "signature": {
                    "content": b64(&signature),
                    "publicKey": {"content": b64(certificate.as_bytes())},
                },
            },
        });
        Classic {
            rekor_bundle: private.log(&body.to_string(), SIGNED),
            signature: b64(&signature),
            certificate: certificate.clone(),
            chain: String::new(),
        }
    };
    let sha256_entry = logged("sha256", &sha256(&payload));
    let why = verify_classic(&sha256_entry.as_signature(&payload), &trusted, &ids)
        .unwrap_err()
        .to_string();
    assert!(
        why.contains(
            "log entry 0: a hashedrekord entry of an Ed25519 key names a sha256 digest, not in \
             [SHA-512]"
        ),
        "{why}"
    );
    // The same signature logged with its SHA-512 digest, as Rekor logs an Ed25519 key's
    // (cosign passes it): refused, saying that an Ed25519 signing key is not supported,
    // not with the verifier's misreading of the digest as a SHA-256 one.
    let sha512 = ring::digest::digest(&ring::digest::SHA512, &payload);
    let sha512_entry = logged("sha512", sha512.as_ref());
    let why = verify_classic(&sha512_entry.as_signature(&payload), &trusted, &ids)
        .unwrap_err()
        .to_string();
    assert!(
        why.contains(
            "log entry 0: a hashedrekord entry of an Ed25519 key (a SHA-512 digest, as Rekor \
             logs it) is not supported"
        ) && !why.contains("32 bytes"),
        "{why}"
    );
}

/// A P-521 public key (SubjectPublicKeyInfo, DER) made for these tests.
const P521_SPKI: &str = "30819b301006072a8648ce3d020106052b81040023038186000401c3fc9c30ff35d470906783ed86a3724850b7ff81c4facbbc347ffe6c2fad1ca569496a7fdfddabe258ac0617ad53cbe3b44f3e3f85161b6b42eebb84601e73fa6f002b08863804371bb9f2fa19e67cc11ece26f6df60e75bf97a68561f140b0ed23b649dcc3fcbd64c07e1a148ca99d50bc99c04397b9cb9e91707599b40b6973a276a";

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// `leaf` (DER) made again by `issuer` with `edit` applied to its TBS fields (whole DER
/// elements, in order) and `algorithm` (an AlgorithmIdentifier, DER) as its outer
/// signature algorithm, signed by the issuer's key (ECDSA P-256 with SHA-256, whatever
/// the algorithm says).
fn remade(
    leaf: &[u8],
    issuer: &Ca,
    edit: impl FnOnce(&mut Vec<Vec<u8>>),
    algorithm: Option<Vec<u8>>,
) -> Vec<u8> {
    let cert = elements(content(leaf));
    let mut fields: Vec<Vec<u8>> = elements(content(cert[0]))
        .into_iter()
        .map(<[u8]>::to_vec)
        .collect();
    edit(&mut fields);
    let tbs = tlv(0x30, &fields.concat());
    let signature = issuer.key.sign(&tbs).unwrap();
    let mut bits = vec![0];
    bits.extend(signature);
    let algorithm = algorithm.unwrap_or_else(|| cert[1].to_vec());
    tlv(0x30, &[tbs, algorithm, tlv(0x03, &bits)].concat())
}

/// The classic signature of the demo payload with this leaf (DER) in place of the one
/// `c` was made with (its key is the same), logged again.
fn with_leaf(private: &Private, c: &Classic, leaf: &[u8]) -> Classic {
    let certificate = pem::encode(&pem::Pem::new("CERTIFICATE", leaf.to_vec()));
    let signature = unb64(&c.signature).unwrap();
    Classic {
        rekor_bundle: private.rekor_bundle(&payload_for(IMAGE), &signature, &certificate, SIGNED),
        signature: c.signature.clone(),
        certificate,
        chain: String::new(),
    }
}

#[test]
fn an_unsupported_curve_or_signature_algorithm_is_named() {
    let private = Private::new();
    let root = root_ca("chain root");
    let inter = sub_ca("listed intermediate", &root, |_| {});
    let trusted = root_of(&private, &[&[&inter, &root]]);
    let c = classic(&private, &inter, &[]);
    let leaf = pem::parse(&c.certificate).unwrap().into_contents();
    let payload = payload_for(IMAGE);
    let verdict = |c: &Classic| {
        verify_classic(&c.as_signature(&payload), &trusted, &signer_ids())
            .unwrap_err()
            .to_string()
    };
    // A leaf key on P-521 (its subjectPublicKeyInfo is the seventh field of the TBS).
    let p521 = remade(&leaf, &inter, |f| f[6] = unhex(P521_SPKI), None);
    let why = verdict(&with_leaf(&private, &c, &p521));
    assert!(
        why.contains(
            "the signing certificate has an elliptic-curve key on the curve P-521/secp521r1 \
             (1.3.132.0.35), which is not supported (P-256 and P-384 are)"
        ),
        "{why}"
    );
    // A leaf signed with ecdsa-with-SHA512 (the TBS's third field and the outer one).
    let sha512 = tlv(
        0x30,
        &tlv(0x06, &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x04]),
    );
    let alg = sha512.clone();
    let signed_sha512 = remade(&leaf, &inter, |f| f[2] = alg, Some(sha512));
    let why = verdict(&with_leaf(&private, &c, &signed_sha512));
    assert!(
        why.contains(
            "the signing certificate is signed with ecdsa-with-SHA512 (1.2.840.10045.4.3.4), a \
             signature algorithm that is not supported"
        ),
        "{why}"
    );
    // An issuer whose key is on P-521: the root lists it; its leaf names it.
    let mut p521_inter = sub_ca("p521 intermediate", &root, |_| {});
    p521_inter.der = remade(&p521_inter.der, &root, |f| f[6] = unhex(P521_SPKI), None);
    let trusted = root_of(&private, &[&[&p521_inter, &root]]);
    let c = classic(&private, &p521_inter, &[]);
    let why = verify_classic(&c.as_signature(&payload), &trusted, &signer_ids())
        .unwrap_err()
        .to_string();
    assert!(
        why.contains(
            "the signing certificate's issuer CN=p521 intermediate has an elliptic-curve key \
             on the curve P-521/secp521r1 (1.3.132.0.35)"
        ),
        "{why}"
    );
}
