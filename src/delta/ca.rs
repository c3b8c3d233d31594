//! The registry CA across the gap: the far side's nodes trust the CA of the output its
//! receipt describes. A delta of an output whose CA is another carries it only as a
//! rotation on purpose, which the output shows by its node trust bundle
//! (`pki/ca-bundle.crt`, written by `build --rotate-ca`: the new CA, then the far side's
//! `pki/ca.crt` byte for byte); `changes.ca` then names both fingerprints. Any other new
//! CA is refused, naming it and the far side's.

use super::receipt::Receipt;
use super::{DeltaError, Sealed};
use crate::pki::CaChange;
use crate::pki::continuity::{BUNDLE, bundle_previous, fingerprint_pem};
use std::path::Path;

/// The sealed path of the CA certificate.
const CA: &str = "pki/ca.crt";

/// The rotation from the receipt's CA to the output's, `None` when the CA is the same (or
/// either side has none); refused when the output's CA is another without a rotation.
pub(super) fn change(
    out: &Path,
    receipt: &Receipt,
    sealed: &Sealed,
) -> Result<Option<CaChange>, DeltaError> {
    let before = (receipt.artifacts.iter())
        .find(|a| a.path == CA)
        .map(|a| a.sha256.clone());
    let (Some(before), Some(after)) = (before, sealed.sums.get(CA)) else {
        return Ok(None);
    };
    if before == *after {
        return Ok(None);
    }
    let ca = read_sealed(out, CA, after)?;
    let new = fingerprint_pem(&ca).unwrap_or_else(|| format!("pki/ca.crt sha256 {after}"));
    let bundle_path = format!("pki/{BUNDLE}");
    if let Some(sha) = sealed.sums.get(&bundle_path) {
        let bundle = read_sealed(out, &bundle_path, sha)?;
        if let Some(old) = bundle_previous(&bundle, &ca)
            && crate::hashing::sha256_hex(old) == before
        {
            let old = fingerprint_pem(old).unwrap_or_else(|| format!("pki/ca.crt sha256 {before}"));
            return Ok(Some(CaChange { old, new }));
        }
    }
    Err(DeltaError::CaChanged {
        out: out.to_path_buf(),
        message: format!(
            "its registry CA ({new}) is not the one the far side's nodes trust: the receipt records the far side's pki/ca.crt with sha256 {before}, and this output does not rotate from it. \
             Applied, the far side's registry would present a certificate no running node trusts. \
             Restore the far side's CA (its ca.crt and ca.key into {}) and build again, or rotate on purpose with `seedforge build --rotate-ca` from an output (or a seedforge.lock) that holds the far side's CA",
            out.join("pki").display()
        ),
    })
}

/// A sealed file of `out`, checked against its `SHA256SUMS` line.
fn read_sealed(out: &Path, rel: &str, sha256: &str) -> Result<Vec<u8>, DeltaError> {
    let path = out.join(rel);
    let bytes = crate::input::read_found(&path, crate::input::Kind::Text)?;
    let hex = crate::hashing::sha256_hex(&bytes);
    if hex != sha256 {
        return Err(DeltaError::Changed {
            path,
            message: format!(
                "hashes to {hex}, not the {sha256} it was sealed with: it changed since the build; build again"
            ),
        });
    }
    Ok(bytes)
}
