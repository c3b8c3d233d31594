//! DSSE, the Dead Simple Signing Envelope (secure-systems-lab/dsse, protocol v1): a
//! payload, its type, and signatures over the pre-authentication encoding ([`pae`]) of
//! both, so a signature over one type of payload cannot be passed off as another's.
//!
//! The JSON form: `{"payload": base64, "payloadType": "...", "signatures": [{"keyid": "...",
//! "sig": base64}]}`. cosign writes it as an image attestation's layer and inside a
//! Sigstore bundle (`dsseEnvelope`).

use serde::{Deserialize, Serialize};

use super::keys::{KeyError, PublicKey, SigningKey};
use super::{FormatError, b64, unb64};

/// The payload type of an in-toto statement.
pub const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

/// The media type of a DSSE envelope stored as an OCI layer.
pub const ENVELOPE_MEDIA_TYPE: &str = "application/vnd.dsse.envelope.v1+json";

/// The pre-authentication encoding DSSE signs:
/// `"DSSEv1" SP LEN(type) SP type SP LEN(payload) SP payload`, lengths in ASCII decimal.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload_type.len() + payload.len() + 32);
    out.extend_from_slice(b"DSSEv1 ");
    out.extend_from_slice(payload_type.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload_type.as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload);
    out
}

/// One signature of an envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    /// The key's id, when the signer gave one (cosign leaves it empty or out).
    pub keyid: Option<String>,
    /// The signature bytes.
    pub sig: Vec<u8>,
}

/// A DSSE envelope, its payload decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// What the payload is (`application/vnd.in-toto+json`).
    pub payload_type: String,
    /// The payload bytes (base64 in the JSON).
    pub payload: Vec<u8>,
    /// The signatures, each over `pae(payload_type, payload)`.
    pub signatures: Vec<Signature>,
}

/// The JSON form.
#[derive(Serialize, Deserialize)]
pub(crate) struct RawEnvelope {
    pub(crate) payload: String,
    #[serde(rename = "payloadType")]
    pub(crate) payload_type: String,
    pub(crate) signatures: Vec<RawSignature>,
}

#[derive(Serialize, Deserialize)]
pub(crate) struct RawSignature {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) keyid: Option<String>,
    pub(crate) sig: String,
}

/// Why an envelope did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The envelope carries no signature.
    #[error("the envelope carries no signature")]
    Unsigned,
    /// No signature verifies with any of the keys.
    #[error("no signature verifies with any of the {keys} key(s) given")]
    NoKeyMatches {
        /// How many keys were tried.
        keys: usize,
    },
}

impl Envelope {
    /// Signs `payload` of `payload_type` with `key`; `keyid` goes into the signature (out
    /// of the JSON when `None`, as cosign writes it).
    pub fn sign(
        payload_type: &str,
        payload: &[u8],
        key: &SigningKey,
        keyid: Option<&str>,
    ) -> Result<Envelope, KeyError> {
        let sig = key.sign(&pae(payload_type, payload))?;
        Ok(Envelope {
            payload_type: payload_type.to_owned(),
            payload: payload.to_vec(),
            signatures: vec![Signature {
                keyid: keyid.map(str::to_owned),
                sig,
            }],
        })
    }

    /// Parses the JSON form.
    pub fn from_json(bytes: &[u8]) -> Result<Envelope, FormatError> {
        let raw: RawEnvelope = serde_json::from_slice(bytes)
            .map_err(|e| FormatError::new("DSSE envelope", format!("not its JSON ({e})")))?;
        Envelope::from_raw(raw)
    }

    pub(crate) fn from_raw(raw: RawEnvelope) -> Result<Envelope, FormatError> {
        let payload = unb64(&raw.payload)
            .ok_or_else(|| FormatError::new("DSSE envelope", "the payload is not base64"))?;
        let signatures = raw
            .signatures
            .into_iter()
            .map(|s| {
                let sig = unb64(&s.sig).ok_or_else(|| {
                    FormatError::new("DSSE envelope", "a signature is not base64")
                })?;
                Ok(Signature {
                    keyid: s.keyid.filter(|k| !k.is_empty()),
                    sig,
                })
            })
            .collect::<Result<Vec<_>, FormatError>>()?;
        Ok(Envelope {
            payload_type: raw.payload_type,
            payload,
            signatures,
        })
    }

    pub(crate) fn to_raw(&self) -> RawEnvelope {
        RawEnvelope {
            payload: b64(&self.payload),
            payload_type: self.payload_type.clone(),
            signatures: self
                .signatures
                .iter()
                .map(|s| RawSignature {
                    keyid: s.keyid.clone(),
                    sig: b64(&s.sig),
                })
                .collect(),
        }
    }

    /// The JSON form (compact, fields in the order DSSE's examples use).
    pub fn to_json(&self) -> Vec<u8> {
        // Serialising plain strings and vectors cannot fail.
        serde_json::to_vec(&self.to_raw()).unwrap_or_default()
    }

    /// The bytes the signatures are over.
    pub fn pae(&self) -> Vec<u8> {
        pae(&self.payload_type, &self.payload)
    }

    /// The index in `keys` of the first key that verifies one of the signatures.
    pub fn verify(&self, keys: &[PublicKey]) -> Result<usize, VerifyError> {
        if self.signatures.is_empty() {
            return Err(VerifyError::Unsigned);
        }
        let pae = self.pae();
        keys.iter()
            .position(|k| self.signatures.iter().any(|s| k.verify(&pae, &s.sig)))
            .ok_or(VerifyError::NoKeyMatches { keys: keys.len() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn fixture(name: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/trust")
            .join(name)
    }

    #[test]
    fn pae_is_the_specs_encoding() {
        // The example of DSSE's protocol.md.
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
        assert_eq!(pae("", b""), b"DSSEv1 0  0 ".to_vec());
    }

    #[test]
    fn sign_then_verify_and_round_trip() {
        for name in ["ed25519.pem", "p256.pem"] {
            let key = SigningKey::read(&fixture(name), None).unwrap();
            let env = Envelope::sign(IN_TOTO_PAYLOAD_TYPE, b"{}", &key, None).unwrap();
            let back = Envelope::from_json(&env.to_json()).unwrap();
            assert_eq!(back, env);
            let other = PublicKey::read(&fixture("cosign.pub")).unwrap();
            assert_eq!(
                back.verify(&[other.clone(), key.public_key().clone()]),
                Ok(1)
            );
            assert_eq!(
                back.verify(&[other]),
                Err(VerifyError::NoKeyMatches { keys: 1 })
            );
            // A changed payload type is a different PAE.
            let mut retyped = back.clone();
            retyped.payload_type = "text/plain".into();
            assert!(retyped.verify(&[key.public_key().clone()]).is_err());
            let mut unsigned = back;
            unsigned.signatures.clear();
            assert_eq!(
                unsigned.verify(&[key.public_key().clone()]),
                Err(VerifyError::Unsigned)
            );
        }
    }

    #[test]
    fn cosigns_envelope_verifies() {
        // fixtures/trust/blob.att.bundle: `cosign attest-blob --key cosign.key`.
        let bundle: serde_json::Value =
            serde_json::from_slice(&std::fs::read(fixture("blob.att.bundle")).unwrap()).unwrap();
        let env =
            Envelope::from_json(&serde_json::to_vec(&bundle["dsseEnvelope"]).unwrap()).unwrap();
        let key = PublicKey::read(&fixture("cosign.pub")).unwrap();
        assert_eq!(env.verify(std::slice::from_ref(&key)), Ok(0));
        let mut flipped = env.clone();
        flipped.payload[10] ^= 1;
        assert!(flipped.verify(std::slice::from_ref(&key)).is_err());
        let mut flipped = env;
        let last = flipped.signatures[0].sig.len() - 1;
        flipped.signatures[0].sig[last] ^= 1;
        assert!(flipped.verify(&[key]).is_err());
    }

    #[test]
    fn malformed_envelopes_are_errors() {
        for bad in [
            &b""[..],
            b"{}",
            b"[]",
            br#"{"payload":"!!","payloadType":"x","signatures":[]}"#,
            br#"{"payload":"e30=","payloadType":"x","signatures":[{"sig":"%%"}]}"#,
            br#"{"payload":"e30=","payloadType":7,"signatures":[]}"#,
        ] {
            assert!(
                Envelope::from_json(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
