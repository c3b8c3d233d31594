//! The Sigstore bundle (`application/vnd.dev.sigstore.bundle.v0.3+json`), in the JSON form
//! of sigstore/protobuf-specs: what was signed and how to check it, in one document.
//!
//! ```text
//! { "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
//!   "verificationMaterial": { "publicKey": { "hint": … }            (a key's signature)
//!                           | "certificate": { "rawBytes": … }      (keyless: Fulcio)
//!                           | "x509CertificateChain": { "certificates": [ … ] },
//!                           "tlogEntries": [ … ], "timestampVerificationData": { … } },
//!   "messageSignature": { "messageDigest": { "algorithm": "SHA2_256", "digest": … },
//!                         "signature": … }
//!   | "dsseEnvelope": { "payload": …, "payloadType": …, "signatures": [ … ] } }
//! ```
//!
//! Read: v0.1 to v0.3 bundles, either content, either material. A bundle whose material
//! is a certificate was signed keyless: here it is reported as such
//! ([`BundleError::Keyless`]); [`super::keyless::verify_bundle`] checks it against a trusted
//! root. Transparency log entries and timestamps are counted here, checked there.
//!
//! Written: a key's bundle with no transparency log entry, as `cosign sign-blob --key
//! --bundle` writes it with no log: `publicKey.hint` is the key's [`PublicKey::hint`].
//! `cosign verify-blob --key K --bundle B --insecure-ignore-tlog FILE` accepts it.

use serde::{Deserialize, Serialize};

use super::dsse::{Envelope, RawEnvelope};
use super::keys::{KeyError, PublicKey, SigningKey};
use super::{FormatError, b64, unb64};

/// The media type of a v0.3 bundle (also the artifact type of cosign 3's signature and
/// attestation referrers).
pub const BUNDLE_V03_MEDIA_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";

/// The media types of older bundles, read too.
const OLDER_MEDIA_TYPES: [&str; 3] = [
    "application/vnd.dev.sigstore.bundle+json;version=0.1",
    "application/vnd.dev.sigstore.bundle+json;version=0.2",
    "application/vnd.dev.sigstore.bundle+json;version=0.3",
];

/// What a bundle says the signature is to be checked with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Material {
    /// A public key, known to the verifier; the hint (if any) helps pick it.
    PublicKey {
        /// `publicKey.hint`.
        hint: Option<String>,
    },
    /// Keyless: a certificate (or chain, leaf first), DER.
    Certificates(Vec<Vec<u8>>),
}

/// What a bundle signs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// A signature over a blob, with the blob's digest.
    MessageSignature {
        /// The digest's algorithm as protobuf-specs names it (`SHA2_256`).
        digest_algorithm: String,
        /// The blob's digest.
        digest: Vec<u8>,
        /// The signature over the blob.
        signature: Vec<u8>,
    },
    /// A DSSE envelope.
    Dsse(Envelope),
}

/// A Sigstore bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bundle {
    /// The bundle's media type (see [`BUNDLE_V03_MEDIA_TYPE`]).
    pub media_type: String,
    /// What to check the signature with.
    pub material: Material,
    /// What is signed.
    pub content: Content,
    /// How many transparency log entries the bundle carries (not checked here).
    pub tlog_entries: usize,
}

/// Why a bundle did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BundleError {
    /// The bundle is keyless (certificate material): carried, not verifiable offline
    /// against public keys.
    #[error("the bundle is signed keyless (a certificate); it is carried but not verified")]
    Keyless,
    /// The bundle signs a DSSE envelope where a blob's signature was expected, or the
    /// other way round.
    #[error("the bundle holds a {found}, not a {expected}")]
    WrongContent {
        /// What was expected.
        expected: &'static str,
        /// What the bundle holds.
        found: &'static str,
    },
    /// The bundle's message digest is not the blob's (or of an algorithm not supported).
    #[error("the bundle's message digest is not the file's SHA-256")]
    DigestMismatch,
    /// No signature verifies with any of the keys.
    #[error("the signature does not verify with any of the {keys} key(s) given")]
    NoKeyMatches {
        /// How many keys were tried.
        keys: usize,
    },
}

// --- the JSON form -------------------------------------------------------------------------

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawBundle {
    media_type: String,
    verification_material: RawMaterial,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    message_signature: Option<RawMessageSignature>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    dsse_envelope: Option<RawEnvelope>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawMaterial {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    public_key: Option<RawPublicKey>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    certificate: Option<RawCert>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    x509_certificate_chain: Option<RawChain>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    tlog_entries: Vec<serde_json::Value>,
}

#[derive(Serialize, Deserialize)]
struct RawPublicKey {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    hint: Option<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawCert {
    raw_bytes: String,
}

#[derive(Serialize, Deserialize)]
struct RawChain {
    #[serde(default)]
    certificates: Vec<RawCert>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawMessageSignature {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    message_digest: Option<RawDigest>,
    signature: String,
}

#[derive(Serialize, Deserialize)]
struct RawDigest {
    algorithm: String,
    digest: String,
}

fn bad(reason: impl Into<String>) -> FormatError {
    FormatError::new("Sigstore bundle", reason)
}

impl Bundle {
    /// Parses a bundle's JSON.
    pub fn from_json(bytes: &[u8]) -> Result<Bundle, FormatError> {
        let value =
            super::strict_json::parse(bytes).map_err(|e| bad(format!("not its JSON ({e})")))?;
        super::strict_json::check_bundle(&value).map_err(bad)?;
        let raw: RawBundle =
            serde_json::from_value(value).map_err(|e| bad(format!("not its JSON ({e})")))?;
        if raw.media_type != BUNDLE_V03_MEDIA_TYPE
            && !OLDER_MEDIA_TYPES.contains(&raw.media_type.as_str())
        {
            return Err(bad(format!(
                "mediaType {:?} is not a Sigstore bundle's",
                raw.media_type
            )));
        }
        let vm = raw.verification_material;
        let cert =
            |c: RawCert| unb64(&c.raw_bytes).ok_or_else(|| bad("a certificate is not base64"));
        // check_bundle has refused a material that sets more than one of the three.
        let material = match (vm.public_key, vm.certificate, vm.x509_certificate_chain) {
            (None, Some(c), None) => Material::Certificates(vec![cert(c)?]),
            (None, None, Some(chain)) => Material::Certificates(
                chain
                    .certificates
                    .into_iter()
                    .map(cert)
                    .collect::<Result<_, _>>()?,
            ),
            (Some(pk), None, None) => Material::PublicKey {
                hint: pk.hint.filter(|h| !h.is_empty()),
            },
            (None, None, None) => {
                return Err(bad(
                    "verificationMaterial has no publicKey, certificate or x509CertificateChain",
                ));
            }
            _ => {
                return Err(bad(
                    "verificationMaterial sets more than one of publicKey, certificate and \
                     x509CertificateChain",
                ));
            }
        };
        let content = match (raw.message_signature, raw.dsse_envelope) {
            (Some(ms), None) => {
                let signature =
                    unb64(&ms.signature).ok_or_else(|| bad("the signature is not base64"))?;
                let (digest_algorithm, digest) = match ms.message_digest {
                    Some(d) => (
                        d.algorithm,
                        unb64(&d.digest).ok_or_else(|| bad("the message digest is not base64"))?,
                    ),
                    None => (String::new(), Vec::new()),
                };
                Content::MessageSignature {
                    digest_algorithm,
                    digest,
                    signature,
                }
            }
            (None, Some(env)) => Content::Dsse(Envelope::from_raw(env)?),
            (Some(_), Some(_)) => {
                return Err(bad("holds both a messageSignature and a dsseEnvelope"));
            }
            (None, None) => return Err(bad("holds neither a messageSignature nor a dsseEnvelope")),
        };
        Ok(Bundle {
            media_type: raw.media_type,
            material,
            content,
            tlog_entries: vm.tlog_entries.len(),
        })
    }

    /// The JSON form (compact), as cosign writes it.
    pub fn to_json(&self) -> Vec<u8> {
        let (public_key, certificate, x509_certificate_chain) = match &self.material {
            Material::PublicKey { hint } => (Some(RawPublicKey { hint: hint.clone() }), None, None),
            Material::Certificates(certs) if certs.len() == 1 => (
                None,
                Some(RawCert {
                    raw_bytes: b64(&certs[0]),
                }),
                None,
            ),
            Material::Certificates(certs) => (
                None,
                None,
                Some(RawChain {
                    certificates: certs
                        .iter()
                        .map(|c| RawCert { raw_bytes: b64(c) })
                        .collect(),
                }),
            ),
        };
        let (message_signature, dsse_envelope) = match &self.content {
            Content::MessageSignature {
                digest_algorithm,
                digest,
                signature,
            } => (
                Some(RawMessageSignature {
                    message_digest: (!digest_algorithm.is_empty()).then(|| RawDigest {
                        algorithm: digest_algorithm.clone(),
                        digest: b64(digest),
                    }),
                    signature: b64(signature),
                }),
                None,
            ),
            Content::Dsse(env) => (None, Some(env.to_raw())),
        };
        let raw = RawBundle {
            media_type: self.media_type.clone(),
            verification_material: RawMaterial {
                public_key,
                certificate,
                x509_certificate_chain,
                tlog_entries: Vec::new(),
            },
            message_signature,
            dsse_envelope,
        };
        serde_json::to_vec(&raw).unwrap_or_default()
    }

    /// A bundle of `blob`'s signature by `key`: its SHA-256 and the signature over it, the
    /// key's hint, no transparency log entry.
    pub fn sign_blob(blob: &[u8], key: &SigningKey) -> Result<Bundle, KeyError> {
        let signature = key.sign(blob)?;
        Ok(Bundle {
            media_type: BUNDLE_V03_MEDIA_TYPE.to_owned(),
            material: Material::PublicKey {
                hint: Some(key.public_key().hint()),
            },
            content: Content::MessageSignature {
                digest_algorithm: "SHA2_256".to_owned(),
                digest: crate::hashing::sha256_bytes(blob).to_vec(),
                signature,
            },
            tlog_entries: 0,
        })
    }

    /// A bundle of a DSSE envelope of `payload` signed by `key` (keyid left out, as cosign
    /// writes it), the key's hint, no transparency log entry.
    pub fn sign_dsse(
        payload_type: &str,
        payload: &[u8],
        key: &SigningKey,
    ) -> Result<Bundle, KeyError> {
        Ok(Bundle::for_envelope(
            Envelope::sign(payload_type, payload, key, None)?,
            key.public_key(),
        ))
    }

    /// A bundle of an envelope already signed with `key`.
    pub fn for_envelope(envelope: Envelope, key: &PublicKey) -> Bundle {
        Bundle {
            media_type: BUNDLE_V03_MEDIA_TYPE.to_owned(),
            material: Material::PublicKey {
                hint: Some(key.hint()),
            },
            content: Content::Dsse(envelope),
            tlog_entries: 0,
        }
    }

    /// The key hint the bundle names (`publicKey.hint`), if any.
    pub fn key_hint(&self) -> Option<&str> {
        match &self.material {
            Material::PublicKey { hint } => hint.as_deref(),
            _ => None,
        }
    }

    /// True if the material is a certificate: signed keyless, not verifiable offline here.
    pub fn is_keyless(&self) -> bool {
        matches!(self.material, Material::Certificates(_))
    }

    /// The DSSE envelope, if the bundle holds one.
    pub fn envelope(&self) -> Option<&Envelope> {
        match &self.content {
            Content::Dsse(env) => Some(env),
            Content::MessageSignature { .. } => None,
        }
    }

    /// Checks a blob's bundle: the message digest is `blob`'s SHA-256 and the signature over
    /// `blob` verifies with one of `keys`; gives that key's index.
    pub fn verify_blob(&self, blob: &[u8], keys: &[PublicKey]) -> Result<usize, BundleError> {
        if self.is_keyless() {
            return Err(BundleError::Keyless);
        }
        let Content::MessageSignature {
            digest_algorithm,
            digest,
            signature,
        } = &self.content
        else {
            return Err(BundleError::WrongContent {
                expected: "message signature",
                found: "DSSE envelope",
            });
        };
        // A missing digest is allowed by the format; one given must be right.
        if !digest_algorithm.is_empty()
            && (digest_algorithm != "SHA2_256"
                || digest.as_slice() != crate::hashing::sha256_bytes(blob).as_slice())
        {
            return Err(BundleError::DigestMismatch);
        }
        self.ordered(keys)
            .find(|&i| keys[i].verify(blob, signature))
            .ok_or(BundleError::NoKeyMatches { keys: keys.len() })
    }

    /// Checks a DSSE bundle's envelope with `keys`; gives the key's index and the
    /// envelope (whose payload the caller then reads).
    pub fn verify_dsse(&self, keys: &[PublicKey]) -> Result<(usize, &Envelope), BundleError> {
        if self.is_keyless() {
            return Err(BundleError::Keyless);
        }
        let Content::Dsse(env) = &self.content else {
            return Err(BundleError::WrongContent {
                expected: "DSSE envelope",
                found: "message signature",
            });
        };
        let pae = env.pae();
        self.ordered(keys)
            .find(|&i| env.signatures.iter().any(|s| keys[i].verify(&pae, &s.sig)))
            .map(|i| (i, env))
            .ok_or(BundleError::NoKeyMatches { keys: keys.len() })
    }

    /// Indices into `keys`, the one the hint names first.
    fn ordered<'k>(&self, keys: &'k [PublicKey]) -> impl Iterator<Item = usize> + 'k {
        let hinted = match &self.material {
            Material::PublicKey { hint: Some(h) } => keys.iter().position(|k| &k.hint() == h),
            _ => None,
        };
        hinted
            .into_iter()
            .chain((0..keys.len()).filter(move |&i| Some(i) != hinted))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trust::dsse::IN_TOTO_PAYLOAD_TYPE;
    use std::path::PathBuf;

    fn fixture(name: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/trust")
            .join(name)
    }

    fn cosign_pub() -> PublicKey {
        PublicKey::read(&fixture("cosign.pub")).unwrap()
    }

    #[test]
    fn cosigns_blob_bundle_verifies() {
        let bundle = Bundle::from_json(&std::fs::read(fixture("blob.bundle")).unwrap()).unwrap();
        let blob = std::fs::read(fixture("blob.txt")).unwrap();
        let other = PublicKey::read(&fixture("p256.pub")).unwrap();
        assert_eq!(
            bundle.verify_blob(&blob, &[other.clone(), cosign_pub()]),
            Ok(1)
        );
        assert_eq!(
            bundle.verify_blob(&blob, std::slice::from_ref(&other)),
            Err(BundleError::NoKeyMatches { keys: 1 })
        );
        assert_eq!(
            bundle.verify_blob(b"hello-blob\nX", &[cosign_pub()]),
            Err(BundleError::DigestMismatch)
        );
        assert!(bundle.verify_dsse(&[cosign_pub()]).is_err());
        // Our JSON of cosign's bundle is cosign's, field for field.
        let ours: serde_json::Value = serde_json::from_slice(&bundle.to_json()).unwrap();
        let theirs: serde_json::Value =
            serde_json::from_slice(&std::fs::read(fixture("blob.bundle")).unwrap()).unwrap();
        assert_eq!(ours, theirs);
    }

    #[test]
    fn flipped_signature_fails() {
        let mut bundle =
            Bundle::from_json(&std::fs::read(fixture("blob.bundle")).unwrap()).unwrap();
        let blob = std::fs::read(fixture("blob.txt")).unwrap();
        if let Content::MessageSignature { signature, .. } = &mut bundle.content {
            let n = signature.len() - 3;
            signature[n] ^= 0x10;
        }
        assert!(bundle.verify_blob(&blob, &[cosign_pub()]).is_err());
    }

    #[test]
    fn written_bundles_verify_and_round_trip() {
        for (name, pw) in [
            ("cosign.key", Some(b"seedforge-test-password".as_slice())),
            ("p256.pem", None),
            ("ed25519.pem", None),
        ] {
            let key = SigningKey::read(&fixture(name), pw).unwrap();
            let bundle = Bundle::sign_blob(b"blob", &key).unwrap();
            let back = Bundle::from_json(&bundle.to_json()).unwrap();
            assert_eq!(back, bundle);
            assert_eq!(
                back.verify_blob(b"blob", &[key.public_key().clone()]),
                Ok(0)
            );
            let statement = br#"{"_type":"https://in-toto.io/Statement/v1"}"#;
            let dsse = Bundle::sign_dsse(IN_TOTO_PAYLOAD_TYPE, statement, &key).unwrap();
            let back = Bundle::from_json(&dsse.to_json()).unwrap();
            let (i, env) = back.verify_dsse(&[key.public_key().clone()]).unwrap();
            assert_eq!((i, env.payload.as_slice()), (0, &statement[..]));
        }
    }

    #[test]
    fn keyless_is_reported_as_keyless() {
        let bundle = br#"{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json",
            "verificationMaterial":{"certificate":{"rawBytes":"MIIB"},"tlogEntries":[{"logIndex":"1"}]},
            "messageSignature":{"messageDigest":{"algorithm":"SHA2_256","digest":"AAAA"},"signature":"AAAA"}}"#;
        let b = Bundle::from_json(bundle).unwrap();
        assert!(b.is_keyless());
        assert_eq!(b.tlog_entries, 1);
        assert_eq!(
            b.verify_blob(b"x", &[cosign_pub()]),
            Err(BundleError::Keyless)
        );
        let chain = br#"{"mediaType":"application/vnd.dev.sigstore.bundle+json;version=0.2",
            "verificationMaterial":{"x509CertificateChain":{"certificates":[{"rawBytes":"MIIB"},{"rawBytes":"MIIC"}]}},
            "dsseEnvelope":{"payload":"e30=","payloadType":"x","signatures":[{"sig":"AAAA"}]}}"#;
        let b = Bundle::from_json(chain).unwrap();
        assert!(matches!(&b.material, Material::Certificates(c) if c.len() == 2));
        assert_eq!(
            b.verify_dsse(&[cosign_pub()]).unwrap_err(),
            BundleError::Keyless
        );
    }

    #[test]
    fn malformed_bundles_are_errors() {
        for bad in [
            &b""[..],
            b"null",
            b"{}",
            br#"{"mediaType":"text/plain","verificationMaterial":{"publicKey":{}},"messageSignature":{"signature":""}}"#,
            br#"{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{},"messageSignature":{"signature":""}}"#,
            br#"{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{"publicKey":{}}}"#,
            br#"{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{"publicKey":{}},"messageSignature":{"signature":"@@"}}"#,
            br#"{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{"certificate":{"rawBytes":"@"}},"messageSignature":{"signature":""}}"#,
        ] {
            assert!(Bundle::from_json(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }
}
