//! The classic cosign signature signed keyless: a `.sig` manifest's simple-signing layer
//! with these annotations (sigstore/cosign `specs/SIGNATURE_SPEC.md`):
//!
//! - `dev.cosignproject.cosign/signature`: the signature over the layer's bytes (base64);
//! - `dev.sigstore.cosign/certificate`: the Fulcio leaf (PEM);
//! - `dev.sigstore.cosign/chain`: the intermediate and root (PEM), optional (the trusted
//!   root has them);
//! - `dev.sigstore.cosign/bundle`: the Rekor v1 entry and its SET,
//!   `{"SignedEntryTimestamp": base64, "Payload": {"body": base64, "integratedTime": n,
//!   "logIndex": n, "logID": hex}}`.
//!
//! It is checked as the Sigstore bundle v0.1 it stands for (the leaf, the log entry with
//! its SET as the inclusion promise, a message signature over the layer), so both forms go
//! through the same checks ([`super::verify`]). The chain annotation's certificates never
//! join the certificate path, which is built from the trusted root alone (`chain.rs`); they
//! are read only to name one in a refusal. Without the log entry there
//! is no signing time, and the signature is refused.

use serde::Deserialize;
use serde_json::json;
use sigstore_verify::types::Bundle as SigstoreBundle;

use super::KeylessError;

/// The most certificates read from the certificate and chain annotations together.
const MAX_CERTS: usize = 8;
/// The largest annotation read (a certificate chain is a few KiB).
const MAX_ANNOTATION: usize = 256 * 1024;

/// One classic keyless signature layer, as its annotations and blob give it.
#[derive(Debug, Clone, Copy)]
pub struct ClassicSignature<'a> {
    /// The layer's bytes (the simple-signing payload).
    pub payload: &'a [u8],
    /// `dev.cosignproject.cosign/signature` (base64).
    pub signature: &'a str,
    /// `dev.sigstore.cosign/certificate` (PEM).
    pub certificate: &'a str,
    /// `dev.sigstore.cosign/chain` (PEM), if given.
    pub chain: Option<&'a str>,
    /// `dev.sigstore.cosign/bundle` (JSON), if given.
    pub rekor_bundle: Option<&'a str>,
    /// `None` for a signature (`.sig`: the payload is signed as a message); for an
    /// attestation (`.att`: the payload is a DSSE envelope, its signature inside), the
    /// SHA-256 its in-toto statement must name as a subject.
    pub attestation: Option<[u8; 32]>,
}

/// A classic signature made ready to check.
pub(super) enum Prepared {
    /// The v0.1 bundle it stands for (the leaf alone in its chain, where the checks take
    /// it from), and the chain annotation's certificates (DER), which never join the
    /// certificate path.
    Bundle(SigstoreBundle, Vec<Vec<u8>>),
    /// A 2021 signature logged as a `rekord` entry.
    Rekord(Rekord),
}

/// A classic signature logged as a `rekord` entry, decoded.
pub(super) struct Rekord {
    /// The leaf, then the chain annotation's (DER).
    pub certs: Vec<Vec<u8>>,
    pub signature: Vec<u8>,
    pub body: Vec<u8>,
    pub rekor: RekorBundle,
}

#[derive(Deserialize)]
pub(super) struct RekorBundle {
    #[serde(rename = "SignedEntryTimestamp")]
    pub signed_entry_timestamp: String,
    #[serde(rename = "Payload")]
    pub payload: RekorPayload,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RekorPayload {
    pub body: String,
    pub integrated_time: i64,
    pub log_index: i64,
    #[serde(rename = "logID")]
    pub log_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BodyKind {
    api_version: String,
    kind: String,
}

fn malformed(reason: impl Into<String>) -> KeylessError {
    KeylessError::Malformed(reason.into())
}

fn pem_certs(what: &str, text: &str) -> Result<Vec<Vec<u8>>, KeylessError> {
    if text.len() > MAX_ANNOTATION {
        return Err(malformed(format!("the {what} annotation is too large")));
    }
    let blocks = pem::parse_many(text)
        .map_err(|e| malformed(format!("the {what} annotation is not PEM ({e})")))?;
    if blocks.len() > MAX_CERTS {
        return Err(malformed(format!(
            "the {what} annotation holds {} certificates, more than {MAX_CERTS}",
            blocks.len()
        )));
    }
    blocks
        .into_iter()
        .map(|b| {
            if b.tag() == "CERTIFICATE" {
                Ok(b.into_contents())
            } else {
                Err(malformed(format!(
                    "the {what} annotation holds a {} block, not a CERTIFICATE",
                    b.tag()
                )))
            }
        })
        .collect()
}

pub(super) fn hex_decode(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || text.len() > 256 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

impl ClassicSignature<'_> {
    /// The Sigstore bundle v0.1 this signature stands for, and its leaf (DER); or, for a
    /// 2021 `rekord` log entry, what [`super::rekord`] checks.
    pub(super) fn as_bundle(&self) -> Result<Prepared, KeylessError> {
        let mut certs = pem_certs("certificate", self.certificate)?;
        if certs.len() != 1 {
            return Err(malformed(format!(
                "the certificate annotation holds {} certificates, not one",
                certs.len()
            )));
        }
        if let Some(chain) = self.chain.filter(|c| !c.trim().is_empty()) {
            certs.extend(pem_certs("chain", chain)?);
            if certs.len() > MAX_CERTS {
                return Err(malformed("the certificate chain is too long"));
            }
        }
        let leaf = certs[0].clone();
        let signature = self.signature.trim();
        let content = if self.attestation.is_some() {
            let envelope = crate::trust::strict_json::parse(self.payload)
                .map_err(|e| malformed(format!("the attestation is not a DSSE envelope ({e})")))?;
            ("dsseEnvelope", envelope)
        } else {
            if crate::trust::unb64(signature).is_none_or(|s| s.is_empty()) {
                return Err(malformed(
                    "the signature annotation is missing or not base64",
                ));
            }
            (
                "messageSignature",
                json!({
                    "messageDigest": {
                        "algorithm": "SHA2_256",
                        "digest": crate::trust::b64(&crate::hashing::sha256_bytes(self.payload)),
                    },
                    "signature": signature,
                }),
            )
        };
        let Some(rekor) = self.rekor_bundle.filter(|b| !b.trim().is_empty()) else {
            return Err(KeylessError::Refused(
                "no transparency log entry (dev.sigstore.cosign/bundle): no signing time".into(),
            ));
        };
        if rekor.len() > MAX_ANNOTATION {
            return Err(malformed("the log entry annotation is too large"));
        }
        let rekor: RekorBundle = serde_json::from_str(rekor)
            .map_err(|e| malformed(format!("the log entry annotation is malformed ({e})")))?;
        let body = crate::trust::unb64(&rekor.payload.body)
            .ok_or_else(|| malformed("the log entry's body is not base64"))?;
        let kind: BodyKind = serde_json::from_slice(&body)
            .map_err(|e| malformed(format!("the log entry's body is malformed ({e})")))?;
        if kind.kind == "rekord" && self.attestation.is_none() {
            let signature = crate::trust::unb64(signature).unwrap_or_default();
            return Ok(Prepared::Rekord(Rekord {
                certs,
                signature,
                body,
                rekor,
            }));
        }
        let log_id = hex_decode(&rekor.payload.log_id)
            .ok_or_else(|| malformed("the log entry's logID is not hex"))?;
        let b64 = crate::trust::b64;
        let mut bundle = json!({
            "mediaType": "application/vnd.dev.sigstore.bundle+json;version=0.1",
            "verificationMaterial": {
                "x509CertificateChain": {
                    "certificates": [{"rawBytes": b64(&leaf)}],
                },
                "tlogEntries": [{
                    "logIndex": rekor.payload.log_index.to_string(),
                    "logId": {"keyId": b64(&log_id)},
                    "kindVersion": {"kind": kind.kind, "version": kind.api_version},
                    "integratedTime": rekor.payload.integrated_time.to_string(),
                    "inclusionPromise": {"signedEntryTimestamp": rekor.signed_entry_timestamp},
                    "canonicalizedBody": rekor.payload.body,
                }],
            },
        });
        bundle[content.0] = content.1;
        let bundle = SigstoreBundle::from_json(&bundle.to_string())
            .map_err(|e| malformed(format!("the signature does not make a bundle ({e})")))?;
        Ok(Prepared::Bundle(bundle, certs.split_off(1)))
    }
}
