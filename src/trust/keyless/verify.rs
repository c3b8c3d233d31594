//! The verdict on one keyless signature: the sigstore verifier's checks against the
//! trusted root, then the policy's identities.

use serde_json::Value;
use sigstore_verify::VerificationPolicy;
use sigstore_verify::types::{
    ArtifactDigest, Bundle as SigstoreBundle, DigestBytes, HashAlgorithm, Sha256Hash,
    VerificationMaterialContent,
};

use super::identity::cert_identity;
pub use super::signer::{Signer, TimeSource};
use super::{Identity, IssuerMatch, KeylessError, TrustedRoot};
use crate::trust::strict_json;

/// The largest bundle read (a DSSE attestation of an SBOM can be large; a signature's
/// bundle is a few KiB).
pub const MAX_BUNDLE_BYTES: usize = 16 * 1024 * 1024;

/// The most transparency log entries, RFC 3161 timestamps or chain certificates a bundle
/// may carry.
pub const MAX_ENTRIES: usize = 16;
/// The most hashes of an inclusion proof (a tree of 2^64 leaves needs 64).
pub const MAX_PROOF_HASHES: usize = 64;
/// The largest checkpoint (a signed note of a few lines and signatures).
pub const MAX_CHECKPOINT: usize = 64 * 1024;

/// Refuses a bundle whose lists or checkpoint are past the bounds above, before it is
/// parsed for verification.
fn bounded(value: &Value) -> Result<(), KeylessError> {
    let count = |path: &str| {
        value
            .pointer(path)
            .and_then(Value::as_array)
            .map_or(0, Vec::len)
    };
    for (path, what) in [
        (
            "/verificationMaterial/tlogEntries",
            "transparency log entries",
        ),
        (
            "/verificationMaterial/x509CertificateChain/certificates",
            "chain certificates",
        ),
        (
            "/verificationMaterial/timestampVerificationData/rfc3161Timestamps",
            "RFC 3161 timestamps",
        ),
        ("/dsseEnvelope/signatures", "DSSE signatures"),
    ] {
        let n = count(path);
        if n > MAX_ENTRIES {
            return Err(malformed(format!(
                "the bundle carries {n} {what}, more than {MAX_ENTRIES}"
            )));
        }
    }
    let entries = value
        .pointer("/verificationMaterial/tlogEntries")
        .and_then(Value::as_array);
    for (i, entry) in entries.into_iter().flatten().enumerate() {
        let hashes = entry
            .pointer("/inclusionProof/hashes")
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        if hashes > MAX_PROOF_HASHES {
            return Err(malformed(format!(
                "log entry {i}: the inclusion proof has {hashes} hashes, more than {MAX_PROOF_HASHES}"
            )));
        }
        let checkpoint = entry
            .pointer("/inclusionProof/checkpoint/envelope")
            .and_then(Value::as_str)
            .map_or(0, str::len);
        if checkpoint > MAX_CHECKPOINT {
            return Err(malformed(format!(
                "log entry {i}: the checkpoint is {checkpoint} bytes, more than {MAX_CHECKPOINT}"
            )));
        }
    }
    Ok(())
}

/// What was signed, as the caller has it.
#[derive(Debug, Clone, Copy)]
pub enum Artifact<'a> {
    /// The signed bytes themselves (a message signature's blob, a simple-signing payload).
    Bytes(&'a [u8]),
    /// The SHA-256 of the artifact (an image's manifest digest, which a DSSE statement's
    /// subject names). A message signature is checked over its message: give its bytes.
    Sha256([u8; 32]),
    /// The SHA-512 of the artifact, as a DSSE statement's subject may name it.
    Sha512([u8; 64]),
}

fn malformed(reason: impl Into<String>) -> KeylessError {
    KeylessError::Malformed(reason.into())
}

/// The leaf certificate (DER) of a parsed bundle: `certificate` (v0.3) or the first of
/// `x509CertificateChain` (v0.1, v0.2). The verifier checks the signature, the SCT and the
/// log entry on this same parsed value, so the leaf whose identity is matched is the leaf
/// they verified.
pub(super) fn leaf_of(bundle: &SigstoreBundle) -> Result<&[u8], KeylessError> {
    match &bundle.verification_material.content {
        VerificationMaterialContent::Certificate(c) => Ok(c.raw_bytes.as_bytes()),
        VerificationMaterialContent::X509CertificateChain { certificates } => certificates
            .first()
            .map(|c| c.raw_bytes.as_bytes())
            .ok_or_else(|| malformed("the bundle's certificate chain is empty")),
        _ => Err(malformed(
            "the bundle holds no certificate (signed with a key, not keyless)",
        )),
    }
}

/// Checks a Sigstore bundle (v0.1 to v0.3, message signature or DSSE) of `artifact` against
/// `root`, then `identities`; gives the signer. See [`super`] for every check.
///
/// The bundle is read once, strictly (`trust::strict_json`): a key given twice, a field
/// protobuf JSON does not know, or a `oneof` set twice (`certificate` beside
/// `x509CertificateChain`) is refused by name before anything is checked.
pub fn verify_bundle(
    bundle_json: &[u8],
    artifact: Artifact<'_>,
    root: &TrustedRoot,
    identities: &[Identity],
) -> Result<Signer, KeylessError> {
    super::provider::install();
    if bundle_json.len() > MAX_BUNDLE_BYTES {
        return Err(malformed(format!(
            "the bundle is {} bytes, more than {MAX_BUNDLE_BYTES}",
            bundle_json.len()
        )));
    }
    let text =
        std::str::from_utf8(bundle_json).map_err(|_| malformed("the bundle is not UTF-8"))?;
    let value = strict_json::parse(bundle_json)
        .map_err(|e| malformed(format!("the bundle is not JSON as protobuf reads it ({e})")))?;
    bounded(&value)?;
    strict_json::check_bundle(&value).map_err(|e| malformed(format!("the bundle: {e}")))?;
    let mut bundle = SigstoreBundle::from_json(text)
        .map_err(|e| malformed(format!("the bundle does not parse ({e})")))?;
    let carried = take_carried(&mut bundle)?;
    check(&bundle, &carried, artifact, root, identities)
}

/// Takes the certificates a v0.1 or v0.2 bundle carries after its leaf
/// (`x509CertificateChain`) out of the parsed bundle, and gives them (DER): they never join
/// the certificate path (`chain.rs`), and are kept only to name one in a refusal.
fn take_carried(bundle: &mut SigstoreBundle) -> Result<Vec<Vec<u8>>, KeylessError> {
    match &mut bundle.verification_material.content {
        VerificationMaterialContent::X509CertificateChain { certificates } => {
            if certificates.is_empty() {
                return Err(malformed("the bundle's certificate chain is empty"));
            }
            Ok(certificates
                .drain(1..)
                .map(|c| c.raw_bytes.as_bytes().to_vec())
                .collect())
        }
        _ => Ok(Vec::new()),
    }
}

/// True if the verifier refused the certificate path or its time (the refusal the
/// trusted-root path of `chain.rs` then words).
fn chain_refusal(e: &sigstore_verify::Error) -> bool {
    use sigstore_verify::CertificateError as C;
    matches!(
        e,
        sigstore_verify::Error::Certificate(
            C::ChainInvalid(_)
                | C::NoValidAuthority { .. }
                | C::Expired { .. }
                | C::NotYetValid { .. }
        )
    )
}

/// The checks of one parsed bundle, which carried `carried` beside its leaf (taken out of
/// `bundle`): the verifier's, then the certificate path from the trusted root alone
/// (`chain.rs`) at every verified signing time, then the identity: each of the leaf
/// [`leaf_of`] gives, which is the one the verifier checked.
pub(super) fn check(
    bundle: &SigstoreBundle,
    carried: &[Vec<u8>],
    artifact: Artifact<'_>,
    root: &TrustedRoot,
    identities: &[Identity],
) -> Result<Signer, KeylessError> {
    let leaf = leaf_of(bundle)?;
    let cert = cert_identity(leaf)?;
    // No SCT required only where an identity that accepts certificates naming no issuer
    // would take this one, and it embeds none.
    let legacy = cert.issuer.is_none()
        && !cert.has_sct
        && identities
            .iter()
            .any(|i| i.issuer == IssuerMatch::Absent && i.matches(&cert.subjects, None));
    // The SCTs are checked in logs.rs (one verified SCT of a listed log suffices).
    // The root's certificates that signed the leaf, its signature verified once for the
    // SCTs and the path at every signing time.
    let issuers = root.authorities.issuers(leaf);
    if !legacy {
        super::logs::check_leaf_scts(leaf, &issuers, root)?;
    }
    // A hashedrekord entry's digest against the leaf's key, read before the verifier,
    // which misreads a SHA-512 entry.
    super::logs::check_digests(bundle, leaf)?;
    let policy = VerificationPolicy::any_identity().skip_sct();
    let run = |policy: &VerificationPolicy| -> Result<_, KeylessError> {
        match artifact {
            Artifact::Bytes(bytes) => Ok(super::provider::with_message(bytes, || {
                root.verifier.verify(bytes, bundle, policy)
            })),
            Artifact::Sha256(digest) => {
                Ok(root
                    .verifier
                    .verify(Sha256Hash::new(digest), bundle, policy))
            }
            Artifact::Sha512(digest) => {
                let digest =
                    ArtifactDigest::new(HashAlgorithm::Sha2512, DigestBytes::new(digest.to_vec()))
                        .map_err(|e| malformed(format!("the artifact's SHA-512 ({e})")))?;
                Ok(root.verifier.verify(digest, bundle, policy))
            }
        }
    };
    // The path at every time the verifier verified (the log's, each timestamp's).
    let path_at = |result: &sigstore_verify::VerificationResult| -> Result<(), KeylessError> {
        let logged = result.integrated_time().map(|t| t.as_second());
        for t in result.verified_timestamps() {
            let t = t.as_second();
            let from = if Some(t) == logged {
                super::chain::TimeFrom::Log
            } else {
                super::chain::TimeFrom::Timestamp
            };
            root.authorities
                .verify_path(leaf, &issuers, carried, t, from)?;
        }
        Ok(())
    };
    let result = match run(&policy)? {
        Ok(result) => {
            path_at(&result)?;
            result
        }
        Err(e) if chain_refusal(&e) => {
            // The verifier anchors every certificate of the root and so refuses less than
            // the path does; where it refused the path, the path's own check, at the times
            // the verifier verifies without it, names the cause.
            if let Ok(Ok(result)) = run(&policy.clone().skip_certificate_chain()) {
                path_at(&result)?;
            }
            return Err(KeylessError::Refused(e.to_string()));
        }
        Err(e) => return Err(KeylessError::Refused(e.to_string())),
    };
    let (signed_at, time_source) = match (result.integrated_time(), result.verified_timestamps()) {
        (Some(t), _) => (t.as_second(), TimeSource::Log),
        (None, [t, ..]) => (t.as_second(), TimeSource::TimestampAuthority),
        (None, []) => {
            return Err(KeylessError::Refused(
                "no signing time: neither a log entry nor a timestamp verified".into(),
            ));
        }
    };
    super::logs::check(bundle, root, signed_at)?;
    for (n, identity) in identities.iter().enumerate() {
        if identity.matches(&cert.subjects, cert.issuer.as_deref()) {
            let subject = cert
                .subjects
                .iter()
                .find(|s| identity.subject.matches(s))
                .cloned()
                .unwrap_or_default();
            return Ok(Signer {
                identity: n,
                subject,
                issuer: cert.issuer,
                signed_at,
                time_source,
            });
        }
    }
    Err(KeylessError::Identity {
        subject: cert
            .subjects
            .first()
            .cloned()
            .unwrap_or_else(|| "no subject alternative name".into()),
        issuer: cert.issuer,
        identities: identities.len(),
    })
}

/// Checks a classic cosign layer signed keyless (see [`super::classic`]): a `.sig` layer's
/// signature over its bytes, or an `.att` layer's DSSE envelope (whose statement must name
/// [`super::ClassicSignature::attestation`]), with the leaf of its certificate, logged as
/// its log entry says; gives the signer. The caller checks what a `.sig` payload says (the
/// image's digest).
pub fn verify_classic(
    signature: &super::ClassicSignature<'_>,
    root: &TrustedRoot,
    identities: &[Identity],
) -> Result<Signer, KeylessError> {
    super::provider::install();
    // Bounded by construction: one log entry, annotations capped, at most 8 certificates.
    let (bundle, carried) = match signature.as_bundle()? {
        super::classic::Prepared::Bundle(bundle, carried) => (bundle, carried),
        super::classic::Prepared::Rekord(r) => {
            let entry = super::rekord::Entry {
                payload: signature.payload,
                signature: &r.signature,
                certs: &r.certs,
                body: &r.body,
                body_b64: &r.rekor.payload.body,
                integrated_time: r.rekor.payload.integrated_time,
                log_index: r.rekor.payload.log_index,
                log_id: &r.rekor.payload.log_id,
                set: &r.rekor.signed_entry_timestamp,
            };
            return super::rekord::verify(&entry, root, identities);
        }
    };
    let artifact = match signature.attestation {
        Some(subject) => Artifact::Sha256(subject),
        None => Artifact::Bytes(signature.payload),
    };
    check(&bundle, &carried, artifact, root, identities)
}
