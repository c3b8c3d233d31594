//! Signing the seal: a signature is made once for the bytes it signs and kept while it
//! still signs them, so an unchanged rebuild keeps its bytes whatever the key type. The
//! side that holds only the public key (the far side of the gap) never signs: it keeps
//! the signatures carried to it when they sign the bytes it has rebuilt, and refuses to
//! seal bytes no carried signature covers.

use super::*;
use crate::trust::keys::{PublicKey, SigningKey};

/// Where the seal records the public key of the key that signed it: the far side checks
/// the next delta against it, and keeps the carried signatures with it.
pub const SEAL_KEY: &str = "keys/seal.pub";

/// The public key the output at `out` records it was signed with ([`SEAL_KEY`]), with the
/// file's path as a name for messages; `None` when it records none that reads as a key.
pub fn recorded_key(out: &Path) -> Option<(String, PublicKey)> {
    let path = out.join(SEAL_KEY);
    let pem = crate::input::read_found(&path, crate::input::Kind::Manifest).ok()?;
    let key = PublicKey::from_pem(&pem, SEAL_KEY).ok()?;
    Some((path.display().to_string(), key))
}

/// How the seal is signed.
#[derive(Debug, Clone)]
pub enum Signer {
    /// With the private key: a signature is made where none signs the bytes yet.
    Key(std::sync::Arc<SigningKey>),
    /// With the public key only: the signatures already in the output (carried by a delta,
    /// or kept from an earlier build) must sign the bytes; none is made. `name` says where
    /// the key came from, for messages.
    Check {
        /// The public key.
        key: PublicKey,
        /// Where it came from (`seal.public_key: cosign.pub`, `--key far.pub`).
        name: String,
    },
}

impl Signer {
    /// The public key of the signer.
    pub fn public_key(&self) -> &PublicKey {
        match self {
            Signer::Key(k) => k.public_key(),
            Signer::Check { key, .. } => key,
        }
    }
}

/// The bundle at `path` that `sign` makes with the signer's key: the one already there
/// when it still passes `check` with the public key, over the bytes it signs (so an
/// unchanged output keeps its bytes, although an ECDSA signature differs each time it is
/// made), else a new one. With the public key only, no new one can be made: the bytes
/// changed since they were signed, and the signature must come from the side that holds
/// the private key. Nothing is written here: the seal writes once every signature is
/// known, so a refusal leaves the output as it was.
pub(super) fn signed_once(
    path: &Path,
    signer: &Signer,
    sign: impl Fn(&SigningKey) -> Result<crate::trust::bundle::Bundle, crate::trust::keys::KeyError>,
    check: impl Fn(&crate::trust::bundle::Bundle, &[PublicKey]) -> Result<(), String>,
) -> Result<Vec<u8>, SealError> {
    let keys = [signer.public_key().clone()];
    let found = crate::input::read_found(path, crate::input::Kind::Manifest);
    let why_not = match &found {
        Ok(old) => match crate::trust::bundle::Bundle::from_json(old) {
            Ok(bundle) => match check(&bundle, &keys) {
                Ok(()) => return Ok(found.unwrap_or_default()),
                Err(e) => e,
            },
            Err(e) => format!("not a Sigstore bundle: {e}"),
        },
        Err(e) => format!("none is there ({})", e.reason()),
    };
    let key = match signer {
        Signer::Key(key) => key,
        Signer::Check { key, name } => {
            return Err(SealError::Unsigned {
                path: path.to_path_buf(),
                message: format!(
                    "no signature here signs what this build wrote ({why_not}), and only the public key {name} (key id {}) is here: sign on the side that holds the private key (build --signing-key KEY, or seal.key) and carry its output or a delta; a rebuild of unchanged inputs keeps the signatures it finds",
                    key.hint()
                ),
            });
        }
    };
    let bundle = sign(key).map_err(|e| SealError::Sign {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    Ok(bundle.to_json())
}
