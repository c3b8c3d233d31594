//! A private Sigstore made here (a root and intermediate CA, a CT log key, a log key), for
//! what no published material shows: the classic `.sig` form end to end, a leaf expired at
//! the signing time, a missing or foreign SCT, a 2021-style leaf naming no issuer.

use super::*;
use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair};
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::trust::{b64, unb64};

/// 2026-01-01T00:00:00Z: the leaves' notBefore; they live ten minutes.
pub(super) const T0: i64 = 1_767_225_600;

pub(super) fn key() -> KeyPair {
    KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap()
}

fn ring_key(k: &KeyPair) -> EcdsaKeyPair {
    EcdsaKeyPair::from_pkcs8(
        &ECDSA_P256_SHA256_ASN1_SIGNING,
        &k.serialize_der(),
        &SystemRandom::new(),
    )
    .unwrap()
}

pub(super) fn sign(k: &EcdsaKeyPair, message: &[u8]) -> Vec<u8> {
    k.sign(&SystemRandom::new(), message)
        .unwrap()
        .as_ref()
        .to_vec()
}

pub(super) fn at(unix: i64) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp(unix).unwrap()
}

pub(super) fn sha256(bytes: &[u8]) -> Vec<u8> {
    crate::hashing::sha256_bytes(bytes).to_vec()
}

pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The SCT a leaf embeds.
#[derive(Clone, Copy, PartialEq)]
pub(super) enum Sct {
    /// None.
    Missing,
    /// Signed by the root's CT log.
    Good,
    /// Signed by a CT log key the root does not hold.
    Foreign,
    /// Two: the foreign one, then the good one.
    Both,
}

/// What a leaf is made with.
#[derive(Clone, Copy)]
pub(super) struct Leaf<'a> {
    pub email: &'a str,
    pub issuer: Option<&'a str>,
    pub sct: Sct,
    /// Subject alternative names besides the email.
    pub also: &'a [&'a str],
    /// Extensions of the leaf besides Fulcio's: (OID, DER content, critical).
    pub extensions: &'a [(&'a [u64], &'a [u8], bool)],
}

impl Default for Leaf<'_> {
    fn default() -> Self {
        Leaf {
            email: "signer@example.com",
            issuer: Some("https://issuer.example"),
            sct: Sct::Good,
            also: &[],
            extensions: &[],
        }
    }
}

/// A classic signature's annotations.
pub(super) struct Classic {
    pub signature: String,
    pub certificate: String,
    pub chain: String,
    pub rekor_bundle: String,
}

impl Classic {
    pub fn as_signature<'a>(&'a self, payload: &'a [u8]) -> ClassicSignature<'a> {
        ClassicSignature {
            payload,
            signature: &self.signature,
            certificate: &self.certificate,
            chain: Some(&self.chain),
            rekor_bundle: Some(&self.rekor_bundle),
            attestation: None,
        }
    }
}

pub(super) struct Private {
    pub root: Vec<u8>,
    pub intermediate: Vec<u8>,
    intermediate_params: CertificateParams,
    intermediate_key: KeyPair,
    ct: EcdsaKeyPair,
    ct_spki: Vec<u8>,
    foreign_ct: EcdsaKeyPair,
    log: EcdsaKeyPair,
    log_spki: Vec<u8>,
    /// A second log of the root, whose key must vouch for no entry of the first.
    log2: EcdsaKeyPair,
    log2_spki: Vec<u8>,
}

pub(super) fn ca_params(cn: &str) -> CertificateParams {
    let mut p = CertificateParams::default();
    p.distinguished_name = DistinguishedName::new();
    p.distinguished_name
        .push(DnType::OrganizationName, "seedforge test");
    p.distinguished_name.push(DnType::CommonName, cn);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    p.not_before = at(1_577_836_800); // 2020
    p.not_after = at(2_208_988_800); // 2040
    p
}

fn spki_of(k: &KeyPair) -> Vec<u8> {
    use rcgen::PublicKeyData as _;
    k.subject_public_key_info()
}

impl Private {
    pub fn new() -> Private {
        let root_key = key();
        let root_params = ca_params("private root");
        let root = root_params.self_signed(&root_key).unwrap();
        let mut ip = ca_params("private intermediate");
        ip.extended_key_usages = vec![ExtendedKeyUsagePurpose::CodeSigning];
        let intermediate_key = key();
        let issuer = Issuer::new(root_params, root_key);
        let intermediate = ip.signed_by(&intermediate_key, &issuer).unwrap();
        let ct = key();
        let log = key();
        let log2 = key();
        Private {
            root: root.der().to_vec(),
            intermediate: intermediate.der().to_vec(),
            intermediate_params: ip,
            intermediate_key,
            ct_spki: spki_of(&ct),
            ct: ring_key(&ct),
            foreign_ct: ring_key(&key()),
            log_spki: spki_of(&log),
            log: ring_key(&log),
            log2_spki: spki_of(&log2),
            log2: ring_key(&log2),
        }
    }

    /// The trusted root: the CA chain, the log key and the CT log key.
    pub fn trusted_root(&self) -> Vec<u8> {
        self.trusted_root_of(&[vec![self.intermediate.clone(), self.root.clone()]])
    }

    /// A trusted root of these CA chains (each leafward first, its root last; valid from
    /// 2020 on), with the log key and the CT log key.
    pub fn trusted_root_of(&self, chains: &[Vec<Vec<u8>>]) -> Vec<u8> {
        let key = |spki: &[u8]| {
            serde_json::json!({
                "baseUrl": "https://log.example",
                "hashAlgorithm": "SHA2_256",
                "publicKey": {"rawBytes": b64(spki), "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                              "validFor": {"start": "2020-01-01T00:00:00Z"}},
                "logId": {"keyId": b64(&sha256(spki))},
            })
        };
        serde_json::to_vec(&serde_json::json!({
            "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
            "tlogs": [key(&self.log_spki), key(&self.log2_spki)],
            "certificateAuthorities": chains.iter().map(|chain| serde_json::json!({
                "subject": {"organization": "seedforge test", "commonName": "private"},
                "uri": "https://fulcio.example",
                "certChain": {"certificates": chain.iter().map(|c| serde_json::json!({"rawBytes": b64(c)})).collect::<Vec<_>>()},
                "validFor": {"start": "2020-01-01T00:00:00Z"},
            })).collect::<Vec<_>>(),
            "ctlogs": [key(&self.ct_spki)],
        }))
        .unwrap()
    }

    /// A leaf (DER) and its key.
    pub fn leaf(&self, leaf: Leaf<'_>) -> (Vec<u8>, EcdsaKeyPair) {
        self.leaf_by(leaf, &self.intermediate_params, &self.intermediate_key)
    }

    /// A leaf (DER) and its key, issued by the CA of `issuer_params` and `issuer_key`.
    pub fn leaf_by(
        &self,
        leaf: Leaf<'_>,
        issuer_params: &CertificateParams,
        issuer_key: &KeyPair,
    ) -> (Vec<u8>, EcdsaKeyPair) {
        let k = key();
        let mut p = CertificateParams::default();
        p.distinguished_name = DistinguishedName::new();
        p.serial_number = Some(SerialNumber::from(vec![0x42; 16]));
        p.not_before = at(T0);
        p.not_after = at(T0 + 600);
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::CodeSigning];
        p.subject_alt_names = vec![SanType::Rfc822Name(leaf.email.try_into().unwrap())];
        for name in leaf.also {
            p.subject_alt_names.push(if name.contains("://") {
                SanType::URI((*name).try_into().unwrap())
            } else {
                SanType::DnsName((*name).try_into().unwrap())
            });
        }
        for (oid, content, critical) in leaf.extensions {
            let mut e = CustomExtension::from_oid_content(oid, content.to_vec());
            e.set_criticality(*critical);
            p.custom_extensions.push(e);
        }
        if let Some(issuer) = leaf.issuer {
            let mut v = vec![0x0c, issuer.len() as u8];
            v.extend_from_slice(issuer.as_bytes());
            p.custom_extensions.push(CustomExtension::from_oid_content(
                &[1, 3, 6, 1, 4, 1, 57264, 1, 8],
                v,
            ));
        }
        let issuer = Issuer::from_params(issuer_params, issuer_key);
        let precert = p.signed_by(&k, &issuer).unwrap();
        if leaf.sct != Sct::Missing {
            let (_, cert) = X509Certificate::from_der(precert.der()).unwrap();
            let tbs = cert.tbs_certificate.as_ref();
            let timestamp = ((T0 + 1) * 1000) as u64;
            let one = |good: bool| {
                let (ct, log_id) = if good {
                    (&self.ct, sha256(&self.ct_spki))
                } else {
                    (&self.foreign_ct, vec![7u8; 32])
                };
                let mut signed = vec![0u8, 0u8];
                signed.extend_from_slice(&timestamp.to_be_bytes());
                signed.extend_from_slice(&[0, 1]);
                signed.extend_from_slice(&sha256(&spki_of(issuer_key)));
                signed.extend_from_slice(&(tbs.len() as u32).to_be_bytes()[1..]);
                signed.extend_from_slice(tbs);
                signed.extend_from_slice(&[0, 0]);
                let sig = sign(ct, &signed);
                let mut sct = vec![0u8];
                sct.extend_from_slice(&log_id);
                sct.extend_from_slice(&timestamp.to_be_bytes());
                sct.extend_from_slice(&[0, 0, 4, 3]);
                sct.extend_from_slice(&(sig.len() as u16).to_be_bytes());
                sct.extend_from_slice(&sig);
                let mut entry = (sct.len() as u16).to_be_bytes().to_vec();
                entry.extend(sct);
                entry
            };
            let scts: Vec<u8> = match leaf.sct {
                Sct::Good => one(true),
                Sct::Foreign => one(false),
                _ => [one(false), one(true)].concat(),
            };
            let mut list = (scts.len() as u16).to_be_bytes().to_vec();
            list.extend_from_slice(&scts);
            let mut octets = if list.len() < 128 {
                vec![0x04, list.len() as u8]
            } else {
                vec![0x04, 0x81, list.len() as u8]
            };
            octets.extend_from_slice(&list);
            p.custom_extensions.push(CustomExtension::from_oid_content(
                &[1, 3, 6, 1, 4, 1, 11129, 2, 4, 2],
                octets,
            ));
        }
        let cert = p.signed_by(&k, &issuer).unwrap();
        (cert.der().to_vec(), ring_key(&k))
    }

    /// A Rekor v1 hashedrekord entry of `signature` over `payload` by `leaf_pem`, logged at
    /// `time`, as cosign's bundle annotation.
    pub fn rekor_bundle(
        &self,
        payload: &[u8],
        signature: &[u8],
        leaf_pem: &str,
        time: i64,
    ) -> String {
        let body = format!(
            r#"{{"apiVersion":"0.0.1","kind":"hashedrekord","spec":{{"data":{{"hash":{{"algorithm":"sha256","value":"{}"}}}},"signature":{{"content":"{}","publicKey":{{"content":"{}"}}}}}}}}"#,
            hex(&sha256(payload)),
            b64(signature),
            b64(leaf_pem.as_bytes())
        );
        self.log(&body, time)
    }

    /// A Rekor v1 entry of `body` logged at `time` with its SET, as cosign's bundle
    /// annotation.
    pub fn log(&self, body: &str, time: i64) -> String {
        let log_id = hex(&sha256(&self.log_spki));
        let body = b64(body.as_bytes());
        let canonical = format!(
            r#"{{"body":"{body}","integratedTime":{time},"logID":"{log_id}","logIndex":7}}"#
        );
        let set = sign(&self.log, canonical.as_bytes());
        serde_json::json!({
            "SignedEntryTimestamp": b64(&set),
            "Payload": {"body": body, "integratedTime": time, "logIndex": 7, "logID": log_id},
        })
        .to_string()
    }

    /// The inclusion proof of `body` (raw) as the only leaf of a tree, its checkpoint
    /// signed by this root's log, or by its second log when `second` (as a bundle's
    /// `inclusionProof`).
    pub fn inclusion_proof(&self, body: &[u8], second: bool) -> serde_json::Value {
        let mut leaf = vec![0u8];
        leaf.extend_from_slice(body);
        let root = sha256(&leaf);
        let note = format!("log.example - 1\n1\n{}\n", b64(&root));
        let (k, spki) = if second {
            (&self.log2, &self.log2_spki)
        } else {
            (&self.log, &self.log_spki)
        };
        let mut signature = sha256(spki)[..4].to_vec();
        signature.extend(sign(k, note.as_bytes()));
        serde_json::json!({
            "logIndex": "0",
            "rootHash": b64(&root),
            "treeSize": "1",
            "hashes": [],
            "checkpoint": {"envelope": format!("{note}\n\u{2014} log.example {}\n", b64(&signature))},
        })
    }

    /// `payload` signed classic, keyless, logged at `time`.
    pub fn classic(&self, payload: &[u8], leaf: Leaf<'_>, time: i64) -> Classic {
        self.classic_by(payload, self.leaf(leaf), time)
    }

    /// `payload` signed classic by this leaf (DER) and key, logged at `time`.
    pub fn classic_by(&self, payload: &[u8], leaf: (Vec<u8>, EcdsaKeyPair), time: i64) -> Classic {
        let (der, k) = leaf;
        let pem = |der: &[u8]| pem::encode(&pem::Pem::new("CERTIFICATE", der.to_vec()));
        let signature = sign(&k, payload);
        let certificate = pem(&der);
        Classic {
            rekor_bundle: self.rekor_bundle(payload, &signature, &certificate, time),
            signature: b64(&signature),
            chain: pem(&self.intermediate) + &pem(&self.root),
            certificate,
        }
    }
}

pub(super) fn payload_for(digest: &str) -> Vec<u8> {
    crate::trust::cosign::SimpleSigning {
        manifest_digest: digest.to_owned(),
        signature_type: crate::trust::cosign::SIMPLE_SIGNING_TYPE.to_owned(),
        docker_reference: "registry.example/app".to_owned(),
        optional: serde_json::Value::Null,
    }
    .to_json()
}

pub(super) const IMAGE: &str =
    "sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae";

pub(super) fn signer_ids() -> Vec<Identity> {
    vec![Identity::exact(
        "signer@example.com",
        "https://issuer.example",
    )]
}

#[test]
fn a_classic_signature_verifies_with_its_set() {
    let private = Private::new();
    let root = TrustedRoot::from_json(&private.trusted_root()).unwrap();
    let payload = payload_for(IMAGE);
    let classic = private.classic(&payload, Leaf::default(), T0 + 60);
    let signer = verify_classic(&classic.as_signature(&payload), &root, &signer_ids()).unwrap();
    assert_eq!(
        signer,
        Signer {
            identity: 0,
            subject: "signer@example.com".into(),
            issuer: Some("https://issuer.example".into()),
            signed_at: T0 + 60,
            time_source: TimeSource::Log,
        }
    );
    // The chain annotation is optional: the root holds the chain.
    let mut s = classic.as_signature(&payload);
    s.chain = None;
    verify_classic(&s, &root, &signer_ids()).unwrap();
}

#[test]
fn classic_refusals() {
    let private = Private::new();
    let root = TrustedRoot::from_json(&private.trusted_root()).unwrap();
    let payload = payload_for(IMAGE);
    let ids = signer_ids();
    let refused = |r: Result<Signer, KeylessError>, what: &str| match r {
        Err(KeylessError::Refused(why)) => why,
        other => panic!("{what}: {other:?}"),
    };
    // Expired at the signing time: logged after the leaf's ten minutes.
    let late = private.classic(&payload, Leaf::default(), T0 + 601);
    refused(
        verify_classic(&late.as_signature(&payload), &root, &ids),
        "expired",
    );
    // Not yet valid.
    let early = private.classic(&payload, Leaf::default(), T0 - 1);
    refused(
        verify_classic(&early.as_signature(&payload), &root, &ids),
        "early",
    );
    // No SCT, or one by a CT log the root does not hold.
    for sct in [Sct::Missing, Sct::Foreign] {
        let c = private.classic(
            &payload,
            Leaf {
                sct,
                ..Leaf::default()
            },
            T0 + 60,
        );
        let why = refused(
            verify_classic(&c.as_signature(&payload), &root, &ids),
            "sct",
        );
        assert!(why.to_uppercase().contains("SCT"), "{why}");
    }
    let good = private.classic(&payload, Leaf::default(), T0 + 60);
    // A changed SET.
    let mut set: serde_json::Value = serde_json::from_str(&good.rekor_bundle).unwrap();
    let mut bytes = unb64(set["SignedEntryTimestamp"].as_str().unwrap()).unwrap();
    bytes[10] ^= 1;
    set["SignedEntryTimestamp"] = b64(&bytes).into();
    let changed = set.to_string();
    let mut s = good.as_signature(&payload);
    s.rekor_bundle = Some(&changed);
    let why = refused(verify_classic(&s, &root, &ids), "SET");
    assert!(why.contains("SET"), "{why}");
    // No log entry at all: no signing time.
    s.rekor_bundle = None;
    refused(verify_classic(&s, &root, &ids), "no entry");
    // The log entry of another signature (same leaf key, another payload).
    let other_payload = payload_for(&IMAGE.replace('2', "3"));
    let other = private.classic(&other_payload, Leaf::default(), T0 + 60);
    let mut s = good.as_signature(&payload);
    s.rekor_bundle = Some(&other.rekor_bundle);
    let why = refused(verify_classic(&s, &root, &ids), "foreign entry");
    assert!(why.contains("mismatch"), "{why}");
    // Another payload than the signed one.
    let s = good.as_signature(&other_payload);
    refused(verify_classic(&s, &root, &ids), "payload");
    // A CA not in the root: another private Sigstore's root.
    let stranger = TrustedRoot::from_json(&Private::new().trusted_root()).unwrap();
    refused(
        verify_classic(&good.as_signature(&payload), &stranger, &ids),
        "CA",
    );
}

#[test]
fn a_leaf_naming_no_issuer_passes_only_an_identity_that_says_so() {
    // Fulcio's 2021 leaves: no issuer extension, no SCT.
    let private = Private::new();
    let root = TrustedRoot::from_json(&private.trusted_root()).unwrap();
    let payload = payload_for(IMAGE);
    let legacy = Leaf {
        issuer: None,
        sct: Sct::Missing,
        ..Leaf::default()
    };
    let c = private.classic(&payload, legacy, T0 + 60);
    let s = c.as_signature(&payload);
    let absent = [Identity {
        subject: Match::Exact("signer@example.com".into()),
        issuer: IssuerMatch::Absent,
    }];
    let signer = verify_classic(&s, &root, &absent).unwrap();
    assert_eq!(signer.issuer, None);
    // Any issuer given, even a pattern matching everything, is not "none".
    let any = [Identity {
        subject: Match::Exact("signer@example.com".into()),
        issuer: IssuerMatch::Is(Match::Regexp(Pattern::new("issuer_regexp", "").unwrap())),
    }];
    assert!(verify_classic(&s, &root, &any).is_err());
    // Another subject under Absent: refused.
    let other = [Identity {
        subject: Match::Exact("other@example.com".into()),
        issuer: IssuerMatch::Absent,
    }];
    assert!(verify_classic(&s, &root, &other).is_err());
}

#[test]
fn the_fuzz_seed_made_by_a_private_sigstore_verifies_long_after_its_leaf_expired() {
    // fuzz/seeds/keyless_bundle/private-root-and-classic-bundle: a trusted root, a NUL byte
    // and the v0.1 bundle a classic signature of `payload` stands for, logged in 2026. Its
    // leaf lived ten minutes; the log's time, never the clock, says it was valid.
    let seed = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz/seeds/keyless_bundle/private-root-and-classic-bundle"),
    )
    .unwrap();
    let nul = seed.iter().position(|&b| b == 0).unwrap();
    let root = TrustedRoot::from_json(&seed[..nul]).unwrap();
    let signer = verify_bundle(
        &seed[nul + 1..],
        Artifact::Bytes(b"payload"),
        &root,
        &signer_ids(),
    )
    .unwrap();
    assert_eq!(signer.signed_at, T0 + 60);
}
