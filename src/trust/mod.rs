//! Trust across the gap: signatures made on the connected side and checked on the far side
//! with no network: against public keys, or keyless (a Fulcio certificate and a
//! transparency log entry) against a Sigstore trusted root the caller carries.
//!
//! A format and crypto library: it imports nothing of seedforge but the foundation
//! (`hashing`, `input`), so the OCI mirror and the output writers can call it.
//!
//! - [`keys`]: public keys (ECDSA P-256, Ed25519, RSA to verify) from PEM, signing keys from
//!   cosign's encrypted key files or plain PKCS#8/SEC1 PEM, and a key's hint.
//! - [`dsse`]: the DSSE envelope and its pre-authentication encoding.
//! - [`bundle`]: the Sigstore bundle v0.1-v0.3 (JSON), read and written.
//! - `strict_json`: signed JSON read once and strictly (no key given twice; a bundle's
//!   fields as protobuf JSON knows them, each `oneof` set once), by every reader here.
//! - [`intoto`]: in-toto Statement v1.
//! - [`cosign`]: the signature artifacts cosign stores beside an image in a registry, and
//!   [`cosign::verify_artifact`], which checks one of them with a [`cosign::Trust`] (keys,
//!   and keyless trust).
//! - [`keyless`]: keyless signatures checked offline against a trusted root
//!   ([`keyless::TrustedRoot`]) and the identities of a policy ([`keyless::Identity`]),
//!   the signing time taken from the log entry or a timestamp authority, never the clock.
//!
//! One crypto provider: `ring` signs, verifies and hashes, also for the sigstore verifier
//! the keyless checks use (`keyless/provider.rs`). `scrypt` and `crypto_secretbox` only
//! open cosign's encrypted keys (ring has neither).
//!
//! Nothing here prints, and no error names a password or shows key material.

pub mod bundle;

pub mod cosign;
pub mod dsse;
pub mod intoto;
pub mod keyless;
pub mod keys;
pub(crate) mod strict_json;

pub use keys::{KeyAlgorithm, KeyError, PublicKey, SigningKey};

/// Why a signed document could not be read: malformed JSON, base64 or structure. It names
/// the document and what is wrong with it, never key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what}: {reason}")]
pub struct FormatError {
    /// The document (`DSSE envelope`, `Sigstore bundle`, …).
    pub what: &'static str,
    /// What is wrong.
    pub reason: String,
}

impl FormatError {
    pub(crate) fn new(what: &'static str, reason: impl Into<String>) -> FormatError {
        FormatError {
            what,
            reason: reason.into(),
        }
    }
}

/// Standard base64 with padding, as Sigstore's JSON documents write bytes.
pub(crate) fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Decodes base64 as DSSE and protobuf JSON accept it: standard or URL-safe alphabet,
/// padded or not.
pub(crate) fn unb64(text: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    let text = text.trim();
    [STANDARD, URL_SAFE, STANDARD_NO_PAD, URL_SAFE_NO_PAD]
        .iter()
        .find_map(|engine| engine.decode(text).ok())
}
