//! Signing the seal: a signature is made once for the bytes it signs and kept while it
//! still signs them, so an unchanged rebuild keeps its bytes whatever the key type.

use super::*;

/// The bundle at `path` that `sign` makes with `key`: the one already there when it still
/// passes `check` with the key, over the bytes it signs (so an unchanged output keeps its bytes, although
/// an ECDSA signature differs each time it is made), else a new one, written atomically.
pub(super) fn signed_once(
    path: &Path,
    key: &crate::trust::keys::SigningKey,
    sign: impl Fn(
        &crate::trust::keys::SigningKey,
    ) -> Result<crate::trust::bundle::Bundle, crate::trust::keys::KeyError>,
    check: impl Fn(
        &crate::trust::bundle::Bundle,
        &[crate::trust::keys::PublicKey],
    ) -> Result<(), String>,
) -> Result<Vec<u8>, SealError> {
    let keys = [key.public_key().clone()];
    if let Ok(old) = crate::input::read_found(path, crate::input::Kind::Manifest)
        && let Ok(bundle) = crate::trust::bundle::Bundle::from_json(&old)
        && check(&bundle, &keys).is_ok()
    {
        return Ok(old);
    }
    let bundle = sign(key).map_err(|e| SealError::Sign {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let bytes = bundle.to_json();
    write_artifact(path, &bytes)?;
    Ok(bytes)
}
