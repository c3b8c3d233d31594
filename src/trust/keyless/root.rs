//! A Sigstore trusted root (`trusted_root.json`, the file cosign's `--trusted-root` takes,
//! `cosign trusted-root create` writes and a TUF client caches), read as hostile input.
//!
//! ```text
//! { "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",   (or 0.2)
//!   "tlogs":  [ { "baseUrl", "hashAlgorithm", "publicKey": { "rawBytes", "keyDetails",
//!                 "validFor": { "start", "end"? } }, "logId": { "keyId" } } ],  Rekor
//!   "certificateAuthorities": [ { "subject", "uri", "certChain": { "certificates": [
//!                 { "rawBytes" } ] }, "validFor" } ],                             Fulcio
//!   "ctlogs": [ … as tlogs … ],                                              CT logs
//!   "timestampAuthorities": [ … as certificateAuthorities … ] }             RFC 3161 TSAs
//! ```
//!
//! Bounded: at most [`MAX_BYTES`] of JSON, [`MAX_ENTRIES`] entries in each list and
//! [`MAX_CHAIN`] certificates in a chain. Every key and certificate must parse and every
//! `validFor` be a window (the verifier is prepared once, here), so a root that reads is a
//! root that can verify.

use std::path::Path;

use sigstore_verify::Verifier;
use sigstore_verify::trust_root::TrustedRoot as SigstoreRoot;

use super::KeylessError;

/// The largest trusted root read (Sigstore's public-good root is about 8 KiB).
pub const MAX_BYTES: usize = 1024 * 1024;
/// The most entries of each list (logs, CT logs, authorities) a trusted root may hold.
pub const MAX_ENTRIES: usize = 64;
/// The most certificates in one authority's chain.
pub const MAX_CHAIN: usize = 8;

/// The media types of a trusted root read.
pub const MEDIA_TYPES: [&str; 2] = [
    "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
    "application/vnd.dev.sigstore.trustedroot+json;version=0.2",
];

/// A trusted root, parsed and prepared for verification.
pub struct TrustedRoot {
    pub(super) root: SigstoreRoot,
    pub(super) verifier: Verifier,
    /// The Fulcio authorities prepared for the certificate path (`chain.rs`).
    pub(super) authorities: super::chain::Authorities,
    summary: RootSummary,
}

impl std::fmt::Debug for TrustedRoot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrustedRoot")
            .field("summary", &self.summary)
            .finish_non_exhaustive()
    }
}

/// What a trusted root holds, counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RootSummary {
    /// Fulcio certificate authorities (`certificateAuthorities`).
    pub certificate_authorities: usize,
    /// Transparency logs, Rekor (`tlogs`).
    pub tlogs: usize,
    /// Certificate transparency logs (`ctlogs`).
    pub ctlogs: usize,
    /// RFC 3161 timestamp authorities (`timestampAuthorities`).
    pub timestamp_authorities: usize,
}

fn bad(reason: impl std::fmt::Display) -> KeylessError {
    KeylessError::Root(reason.to_string())
}

impl TrustedRoot {
    /// Parses a trusted root's JSON.
    pub fn from_json(bytes: &[u8]) -> Result<TrustedRoot, KeylessError> {
        super::provider::install();
        if bytes.len() > MAX_BYTES {
            return Err(bad(format!(
                "is {} bytes, more than the {MAX_BYTES} a trusted root may be",
                bytes.len()
            )));
        }
        let text = std::str::from_utf8(bytes).map_err(|_| bad("is not UTF-8"))?;
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| bad(format!("is not JSON ({e})")))?;
        let Some(object) = value.as_object() else {
            return Err(bad("is not a JSON object"));
        };
        let media_type = object
            .get("mediaType")
            .and_then(|m| m.as_str())
            .unwrap_or_default();
        if !MEDIA_TYPES.contains(&media_type) {
            return Err(bad(format!(
                "has mediaType {media_type:?}, not a Sigstore trusted root's ({})",
                MEDIA_TYPES.join(" or ")
            )));
        }
        let mut counts = [0usize; 4];
        for (i, list) in [
            "certificateAuthorities",
            "tlogs",
            "ctlogs",
            "timestampAuthorities",
        ]
        .into_iter()
        .enumerate()
        {
            let entries = match object.get(list) {
                None | Some(serde_json::Value::Null) => continue,
                Some(serde_json::Value::Array(a)) => a,
                Some(_) => return Err(bad(format!("has a {list} that is not a list"))),
            };
            if entries.len() > MAX_ENTRIES {
                return Err(bad(format!(
                    "lists {} {list}, more than {MAX_ENTRIES}",
                    entries.len()
                )));
            }
            for (n, entry) in entries.iter().enumerate() {
                let chain = entry
                    .pointer("/certChain/certificates")
                    .and_then(|c| c.as_array())
                    .map_or(0, Vec::len);
                if chain > MAX_CHAIN {
                    return Err(bad(format!(
                        "{list}[{n}] has a chain of {chain} certificates, more than {MAX_CHAIN}"
                    )));
                }
            }
            counts[i] = entries.len();
        }
        let root: SigstoreRoot =
            serde_json::from_value(value).map_err(|e| bad(format!("does not parse ({e})")))?;
        let verifier = Verifier::new(&root).map_err(|e| bad(format!("is not usable ({e})")))?;
        Ok(TrustedRoot {
            authorities: super::chain::Authorities::new(&root),
            root,
            verifier,
            summary: RootSummary {
                certificate_authorities: counts[0],
                tlogs: counts[1],
                ctlogs: counts[2],
                timestamp_authorities: counts[3],
            },
        })
    }

    /// Reads a trusted root from a file (a regular file, at most [`MAX_BYTES`]); errors name
    /// the file.
    pub fn read(path: &Path) -> Result<TrustedRoot, KeylessError> {
        let bytes = crate::input::read_capped(path, MAX_BYTES as u64, "trusted root")
            .map_err(|e| bad(format!("{}: {}", path.display(), e.reason())))?;
        TrustedRoot::from_json(&bytes).map_err(|e| match e {
            KeylessError::Root(reason) => bad(format!("{} {reason}", path.display())),
            other => other,
        })
    }

    /// What the root holds, counted.
    pub fn summary(&self) -> RootSummary {
        self.summary
    }
}
