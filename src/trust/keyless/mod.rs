//! Keyless signatures (Sigstore: a Fulcio certificate, a transparency log entry) checked
//! offline against a trusted root the caller holds, never the clock or the network.
//!
//! The protocol checks are the sigstore project's verifier (`sigstore-verify`), built
//! without its TUF client, network client or TLS stack, its crypto on ring
//! (`provider.rs`). What is ours and small: the trusted root read as hostile input
//! ([`root`]), the identities of a policy and how they match ([`identity`]), the classic
//! cosign `.sig` layer turned into the bundle it stands for ([`classic`]), and the verdict
//! ([`verify`]).
//!
//! What a keyless signature must show to verify ([`verify_bundle`], [`verify_classic`]):
//!
//! - **a signing time from the log or a timestamp authority**: the Rekor v1 entry's
//!   integrated time under its signed entry timestamp (SET, over the canonical JSON
//!   `{body, integratedTime, logID, logIndex}`) with a log key of the root, or an RFC 3161
//!   timestamp over the signature bytes by a timestamp authority of the root (Rekor v2
//!   entries have no integrated time); the log key or the authority valid (`validFor`) at
//!   that time. An inclusion proof alone is no time: its checkpoint signs the tree, not the
//!   entry's time (as sigstore-go and cosign take it);
//! - **the inclusion proof**, when the entry carries one (v0.2 and v0.3 bundles must; the
//!   classic `.sig` annotation carries only the SET, which is then the log's promise, as
//!   cosign takes it): the RFC 6962 audit path from the entry's leaf hash up to the root
//!   hash of a signed-note checkpoint signed by a log key of the root (Rekor v1 and v2);
//! - **the certificate**: it chains to a certificate authority of the root valid at that
//!   time, through that authority's own intermediates to its root (the only anchors), each
//!   certificate checked as Go's `x509.Verify` checks it for cosign (`chain.rs`: validity,
//!   critical extensions, CA constraints, extended key usages chaining to code signing,
//!   name constraints from the root down);
//! - **the SCT**: one of the leaf's embedded signed certificate timestamps verifies with a
//!   CT log key of the root valid at its time, over the precertificate (the leaf's TBS
//!   without the SCT list, and the issuer's key hash); SCTs of logs the root does not list
//!   are skipped (`logs.rs`); a certificate without one is refused, except by an identity
//!   that explicitly accepts the 2021 certificates ([`IssuerMatch::Absent`]);
//! - **the log entry is this signature's**: its body (hashedrekord 0.0.1, dsse 0.0.1,
//!   intoto 0.0.2; Rekor v2's hashedrekord and dsse 0.0.2) names this signature, this
//!   certificate and this payload's digest;
//! - **the signature**: it verifies with the leaf's key over the payload (a message
//!   signature) or the DSSE pre-authentication encoding;
//! - **the payload binds the artifact**: the message's digest, or a subject of the in-toto
//!   statement, is the artifact's;
//! - **the identity**: the leaf's subject alternative name and its issuer match one of the
//!   policy's [`Identity`] entries, as cosign's `--certificate-identity[-regexp]` and
//!   `--certificate-oidc-issuer[-regexp]` match them.
//!
//! A classic signature of 2021, logged as a Rekor `rekord` entry (which the verifier does
//! not know), is checked by hand in `rekord.rs`, narrowly: only for a leaf naming no issuer
//! and embedding no SCT, under an [`IssuerMatch::Absent`] identity.

mod chain;
pub mod classic;
pub mod identity;
mod logs;
mod provider;
mod re2;
mod rekord;
pub mod root;
mod signer;
pub mod verify;

#[cfg(test)]
pub(crate) mod tests;
#[cfg(test)]
mod tests_artifact;
#[cfg(test)]
mod tests_chain;
#[cfg(test)]
mod tests_hostile;
#[cfg(test)]
mod tests_path;
#[cfg(test)]
mod tests_private;

pub use classic::ClassicSignature;
pub use identity::{Identity, IssuerMatch, Match, Pattern};
pub use root::{RootSummary, TrustedRoot};
pub use verify::{Artifact, Signer, TimeSource, verify_bundle, verify_classic};

/// Why a keyless signature was refused, or a trusted root or identity could not be read.
/// Each names what and why; none shows key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeylessError {
    /// The trusted root could not be read or does not parse.
    #[error("the trusted root {0}")]
    Root(String),
    /// An identity's regular expression does not compile or is too large.
    #[error("the identity's {field} {pattern:?} is not a usable regular expression: {reason}")]
    Pattern {
        /// `subject_regexp` or `issuer_regexp`.
        field: &'static str,
        /// The pattern given.
        pattern: String,
        /// Why.
        reason: String,
    },
    /// The bundle or classic signature is malformed (JSON, base64, PEM, structure, size).
    #[error("{0}")]
    Malformed(String),
    /// A cryptographic or consistency check failed (chain, SCT, log entry, signature,
    /// timestamp, payload): the verifier's reason.
    #[error("{0}")]
    Refused(String),
    /// Every check passed but the signer is none of the policy's identities.
    #[error(
        "signed by {subject} (issuer {}), which is none of the {identities} identit(y/ies) of the policy",
        issuer.as_deref().unwrap_or("none")
    )]
    Identity {
        /// The certificate's subject alternative name.
        subject: String,
        /// Its OIDC issuer, if it names one.
        issuer: Option<String>,
        /// How many identities the policy holds.
        identities: usize,
    },
}
