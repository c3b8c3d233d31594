//! Who signed: the verdict of a keyless signature whose every check passed, whichever
//! check gave it (the sigstore verifier's in `verify.rs`, a 2021 `rekord` entry's in
//! `rekord.rs`).

/// Where the signing time came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeSource {
    /// The transparency log entry's integrated time (Rekor v1, under its SET).
    Log,
    /// An RFC 3161 timestamp of a timestamp authority of the root (Rekor v2 bundles).
    TimestampAuthority,
}

/// Who signed, once every check passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signer {
    /// The index of the policy's identity that matched.
    pub identity: usize,
    /// The certificate's subject alternative name that matched.
    pub subject: String,
    /// The certificate's OIDC issuer (none for a 2021 certificate).
    pub issuer: Option<String>,
    /// The signing time, seconds since the Unix epoch.
    pub signed_at: i64,
    /// Where the signing time came from.
    pub time_source: TimeSource,
}
