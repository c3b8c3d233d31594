//! The classic signatures of 2021, logged as Rekor `rekord` 0.0.1 entries, which the
//! sigstore verifier does not know: checked here, by hand and narrowly.
//!
//! Accepted only for what those signatures are: a leaf that names no issuer and embeds no
//! SCT, under an identity whose issuer is [`IssuerMatch::Absent`] (so a policy says so).
//! The checks, all with the time the log's SET vouches for:
//!
//! - the SET (ECDSA over the canonical JSON `{body, integratedTime, logID, logIndex}`)
//!   verifies with the root's log key of that `logID`, valid (`validFor`) at that time;
//! - the body is this signature's: `spec.data.hash` is the payload's SHA-256,
//!   `spec.signature.content` the signature, `spec.signature.publicKey.content` the leaf
//!   (PEM), format `x509`;
//! - the leaf chains to a certificate authority of the root valid at that time, by the one
//!   path rule of every keyless signature (`chain.rs`: from the trusted root alone, every
//!   issuer checked as a CA), with the code-signing EKU;
//! - the signature over the payload verifies with the leaf's key.

use serde::Deserialize;
use x509_parser::prelude::{FromDer, X509Certificate};

use super::identity::cert_identity;
use super::signer::{Signer, TimeSource};
use super::{Identity, IssuerMatch, KeylessError, TrustedRoot};
use crate::trust::unb64;

fn refused(reason: impl Into<String>) -> KeylessError {
    KeylessError::Refused(reason.into())
}

#[derive(Deserialize)]
struct Body {
    spec: Spec,
}

#[derive(Deserialize)]
struct Spec {
    data: Data,
    signature: Sig,
}

#[derive(Deserialize)]
struct Data {
    hash: Hash,
}

#[derive(Deserialize)]
struct Hash {
    algorithm: String,
    value: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Sig {
    content: String,
    format: String,
    public_key: Content,
}

#[derive(Deserialize)]
struct Content {
    content: String,
}

/// One classic signature logged as a `rekord` entry.
pub(super) struct Entry<'a> {
    pub payload: &'a [u8],
    pub signature: &'a [u8],
    /// The leaf, then the chain annotation's certificates (DER).
    pub certs: &'a [Vec<u8>],
    /// The entry's body (decoded) and its base64 as logged.
    pub body: &'a [u8],
    pub body_b64: &'a str,
    pub integrated_time: i64,
    pub log_index: i64,
    pub log_id: &'a str,
    pub set: &'a str,
}

/// The raw key (subjectPublicKey) of a SubjectPublicKeyInfo.
fn raw_key(spki: &[u8]) -> Option<Vec<u8>> {
    let (_, spki) = x509_parser::x509::SubjectPublicKeyInfo::from_der(spki).ok()?;
    Some(spki.subject_public_key.data.to_vec())
}

fn ecdsa_verifies(raw_key: &[u8], message: &[u8], signature: &[u8]) -> bool {
    use ring::signature::{ECDSA_P256_SHA256_ASN1, ECDSA_P384_SHA384_ASN1, UnparsedPublicKey};
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, raw_key)
        .verify(message, signature)
        .is_ok()
        || UnparsedPublicKey::new(&ECDSA_P384_SHA384_ASN1, raw_key)
            .verify(message, signature)
            .is_ok()
}

fn within(range: Option<&sigstore_verify::types::TimeRange>, t: i64) -> bool {
    range.is_none_or(|r| r.start.as_second() <= t && r.end.is_none_or(|e| t <= e.as_second()))
}

pub(super) fn verify(
    e: &Entry<'_>,
    root: &TrustedRoot,
    identities: &[Identity],
) -> Result<Signer, KeylessError> {
    let leaf = &e.certs[0];
    let cert = cert_identity(leaf)?;
    let allowed = if cert.issuer.is_none() && !cert.has_sct {
        identities
            .iter()
            .position(|i| i.issuer == IssuerMatch::Absent && i.matches(&cert.subjects, None))
    } else {
        None
    };
    let Some(identity) = allowed else {
        return Err(refused(
            "a rekord log entry (2021) is accepted only for a certificate naming no issuer and \
             embedding no SCT, by an identity that accepts no issuer",
        ));
    };
    let t = e.integrated_time;
    // The SET, with the root's log key of that ID valid at that time.
    let log_id = super::classic::hex_decode(e.log_id)
        .ok_or_else(|| refused("the log entry's logID is not hex"))?;
    let log = root
        .root
        .tlogs
        .iter()
        .find(|l| l.log_id.key_id.as_bytes() == log_id.as_slice())
        .ok_or_else(|| {
            refused(format!(
                "no log of the trusted root has the ID {}",
                e.log_id
            ))
        })?;
    if !within(log.public_key.valid_for.as_ref(), t) {
        return Err(refused(format!(
            "the log key {} is not valid at the integrated time {}",
            e.log_id,
            super::chain::rfc3339(t)
        )));
    }
    let canonical = serde_json::json!({
        "body": e.body_b64,
        "integratedTime": t,
        "logID": e.log_id,
        "logIndex": e.log_index,
    });
    let canonical = serde_json::to_vec(&canonical).unwrap_or_default();
    let set = unb64(e.set).ok_or_else(|| refused("the SET is not base64"))?;
    let log_key = raw_key(log.public_key.raw_bytes.as_bytes())
        .ok_or_else(|| refused("the log key of the trusted root does not parse"))?;
    if !ecdsa_verifies(&log_key, &canonical, &set) {
        return Err(refused(
            "invalid inclusion promise: the SET does not verify",
        ));
    }
    // The body is this signature's.
    let body: Body = serde_json::from_slice(e.body)
        .map_err(|err| refused(format!("the rekord body is malformed ({err})")))?;
    let hash_ok = body.spec.data.hash.algorithm == "sha256"
        && body.spec.data.hash.value == crate::hashing::sha256_hex(e.payload);
    let sig_ok = unb64(&body.spec.signature.content).as_deref() == Some(e.signature);
    let key_ok = unb64(&body.spec.signature.public_key.content)
        .and_then(|pem| pem::parse(pem).ok())
        .is_some_and(|p| p.contents() == leaf.as_slice());
    if body.spec.signature.format != "x509" || !hash_ok || !sig_ok || !key_ok {
        return Err(refused(
            "the log entry is not this signature's (payload digest, signature or certificate)",
        ));
    }
    // The path from the trusted root alone, at that time.
    let issuers = root.authorities.issuers(leaf);
    root.authorities.verify_path(
        leaf,
        &issuers,
        &e.certs[1..],
        t,
        super::chain::TimeFrom::Log,
    )?;
    // The signature over the payload, with the leaf's key.
    let (_, parsed) = X509Certificate::from_der(leaf)
        .map_err(|err| refused(format!("the signing certificate does not parse ({err})")))?;
    if !ecdsa_verifies(
        &parsed.public_key().subject_public_key.data,
        e.payload,
        e.signature,
    ) {
        return Err(refused(
            "the signature does not verify with the certificate's key",
        ));
    }
    let subject = cert
        .subjects
        .iter()
        .find(|s| identities[identity].subject.matches(s))
        .cloned()
        .unwrap_or_default();
    Ok(Signer {
        identity,
        subject,
        issuer: None,
        signed_at: t,
        time_source: TimeSource::Log,
    })
}
