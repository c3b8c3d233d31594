//! The CA is continuity: the nodes trust it, so a build that would make another where a
//! record says which one they trust refuses, and a new one is made only on purpose
//! (`build --rotate-ca`), as a change every document names.
//!
//! A CA is named by its fingerprint, `sha256:<hex>` of its certificate's DER (what
//! `openssl x509 -in ca.crt -outform DER | sha256sum` prints). The records a build reads
//! ([`RecordedCa`]): `seedforge.lock` (the fingerprint and the certificate), and the last
//! build's seal (`manifest.json`: the sha256 of `pki/ca.crt` as it was sealed).
//!
//! A rotating build writes, beside the new `pki/ca.crt`, the node trust bundle
//! `pki/ca-bundle.crt`: the new CA's certificate, then the old one's as it was (byte for
//! byte the old `pki/ca.crt`). The seeds carry the bundle as the nodes' `pki/ca.crt`, so a
//! node that takes the rotating output trusts both CAs; the next build drops the bundle,
//! and the nodes then trust the new CA alone.

use super::PkiError;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The node trust bundle's file name in `OUT/pki` (a rotating build's output only).
pub const BUNDLE: &str = "ca-bundle.crt";

/// The fingerprint of a CA certificate: `sha256:<hex>` of its DER.
pub fn fingerprint_der(der: &[u8]) -> String {
    format!("sha256:{}", crate::hashing::sha256_hex(der))
}

/// The fingerprint of the first certificate of PEM text (`None`: not a certificate).
pub fn fingerprint_pem(pem: &[u8]) -> Option<String> {
    let (_, block) = x509_parser::pem::parse_x509_pem(pem).ok()?;
    (block.label == "CERTIFICATE").then(|| fingerprint_der(&block.contents))
}

/// A rotation of the CA: the fingerprint the nodes trusted and the new one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaChange {
    /// The CA the nodes trusted (`sha256:<hex>` of its DER).
    pub old: String,
    /// The CA that replaces it.
    pub new: String,
}

/// A record of the CA the nodes trust.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedCa {
    /// Where it is recorded, as the operator names it (`fixtures/lab/seedforge.lock`).
    pub recorded_in: String,
    /// Its fingerprint, when the record gives it.
    pub fingerprint: Option<String>,
    /// The sha256 (hex) of `pki/ca.crt` as it was sealed, when the record gives that.
    pub file_sha256: Option<String>,
    /// Its certificate, byte for byte the `pki/ca.crt` it was read from (the lock).
    pub certificate: Option<String>,
}

impl RecordedCa {
    /// True when the CA whose `pki/ca.crt` is `pem` is the one recorded.
    pub fn matches(&self, pem: &[u8]) -> bool {
        match (&self.fingerprint, &self.file_sha256) {
            (Some(f), _) => fingerprint_pem(pem).as_deref() == Some(f.as_str()),
            (None, Some(s)) => crate::hashing::sha256_hex(pem) == *s,
            (None, None) => true,
        }
    }

    /// How the record names the CA: its fingerprint, else the sealed file's sha256.
    pub fn names(&self) -> String {
        match (&self.fingerprint, &self.file_sha256) {
            (Some(f), _) => format!("the CA {f}"),
            (None, Some(s)) => format!("the CA whose pki/ca.crt has sha256 {s}"),
            (None, None) => "a CA".into(),
        }
    }
}

/// What a build knows and wants of the CA's continuity.
#[derive(Debug, Clone, Default)]
pub struct CaContinuity {
    /// The records of the CA the nodes trust.
    pub recorded: Vec<RecordedCa>,
    /// `build --rotate-ca`: make a new CA on purpose, the old one kept in the node trust
    /// bundle for this output.
    pub rotate: bool,
    /// Keep `pki/ca-bundle.crt` as it is (`apply` rebuilding the output of a rotating
    /// build, whose seal lists it).
    pub keep_bundle: bool,
}

/// The refusal of a build that would make a CA other than the recorded one.
pub(super) fn refusal(record: &RecordedCa, ca_dir: &Path, what: &str) -> PkiError {
    PkiError::CaWouldChange {
        message: format!(
            "{} records {} as the registry CA the nodes trust, but {} does not hold it: this build would {what}, and no running node would trust the registry's certificate. \
             Restore the CA (its ca.crt and ca.key into {}, or registry.ca.import naming them), or rotate on purpose with `seedforge build --rotate-ca` (the new CA is a planned change: the nodes trust both for one delta, then the new one alone)",
            record.recorded_in,
            record.names(),
            ca_dir.display(),
            ca_dir.display(),
        ),
    }
}

/// The node trust bundle: `new`'s certificate, then `old`'s as it is.
pub(super) fn bundle(new: &str, old: &str) -> String {
    let mut out = new.to_string();
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(old);
    out
}

/// The old CA's certificate of a bundle whose first part is `ca` (the bytes after it), as
/// [`bundle`] wrote it; `None` when the bundle does not begin with `ca`.
pub fn bundle_previous<'a>(bundle: &'a [u8], ca: &[u8]) -> Option<&'a [u8]> {
    let rest = bundle.strip_prefix(ca)?;
    let rest = if ca.ends_with(b"\n") {
        rest
    } else {
        rest.strip_prefix(b"\n")?
    };
    (!rest.is_empty()).then_some(rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bundle_gives_back_the_old_certificate_byte_for_byte() {
        let b = bundle("NEW\n", "OLD\n");
        assert_eq!(bundle_previous(b.as_bytes(), b"NEW\n"), Some(&b"OLD\n"[..]));
        let b = bundle("NEW", "OLD");
        assert_eq!(bundle_previous(b.as_bytes(), b"NEW"), Some(&b"OLD"[..]));
        assert_eq!(bundle_previous(b"OTHER\nOLD", b"NEW"), None);
        assert_eq!(bundle_previous(b"NEW\n", b"NEW\n"), None);
    }

    #[test]
    fn a_record_by_file_digest_matches_those_bytes_only() {
        let r = RecordedCa {
            recorded_in: "out/manifest.json".into(),
            fingerprint: None,
            file_sha256: Some(crate::hashing::sha256_hex(b"PEM")),
            certificate: None,
        };
        assert!(r.matches(b"PEM"));
        assert!(!r.matches(b"PEM2"));
        assert!(r.names().contains("sha256"));
    }
}
