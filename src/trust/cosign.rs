//! The signature artifacts cosign stores in a registry beside an image, and the one check
//! of them the mirror calls, [`verify_artifact`].
//!
//! cosign writes three kinds (sigstore/cosign `specs/SIGNATURE_SPEC.md`,
//! `ATTESTATION_SPEC.md`, `BUNDLE_SPEC.md`), each an OCI image manifest:
//!
//! - **a signature** (`cosign sign --new-bundle-format=false`, tag `sha256-<hex>.sig`): each
//!   layer (`application/vnd.dev.cosign.simplesigning.v1+json`) is a simple-signing payload
//!   naming the image's digest in `critical.image.docker-manifest-digest`; the signature
//!   over the layer's bytes is the layer's `dev.cosignproject.cosign/signature` annotation
//!   (base64). Signed keyless, the layer also carries the certificate
//!   (`dev.sigstore.cosign/certificate`, PEM).
//! - **an attestation** (`cosign attest --new-bundle-format=false`, tag
//!   `sha256-<hex>.att`): each layer (`application/vnd.dsse.envelope.v1+json`) is a DSSE
//!   envelope of an in-toto statement whose subject is the image's digest; the signature
//!   annotation is empty.
//! - **a bundle** (cosign 3's default for `cosign sign` and `cosign attest`): a referrer
//!   (`subject` = the image, `artifactType` `application/vnd.dev.sigstore.bundle.v0.3+json`,
//!   empty config) with one layer holding a Sigstore bundle. cosign 3.1.1 puts a DSSE
//!   envelope in it for both: `cosign sign` signs an in-toto statement of predicate type
//!   `https://sigstore.dev/cosign/sign/v1` about the image's digest, `cosign attest` the
//!   statement of the predicate given. The manifest's annotations say which
//!   (`dev.sigstore.bundle.content`, `dev.sigstore.bundle.predicateType`). A registry
//!   without the referrers API gets the referrer through a tag `sha256-<hex>` holding an
//!   index of them.
//!
//! Any other artifact (an SBOM, a Helm provenance file) is [`Verdict::NotSignature`].
//!
//! Signed keyless (a certificate in the layer's annotations or the bundle), a signature is
//! checked with the [`KeylessTrust`] given ([`keyless`]: the classic `.sig` and `.att`
//! layers through [`keyless::verify_classic`], bundles through [`keyless::verify_bundle`]);
//! with none, it is [`Verdict::Keyless`]: carried, not verified.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::bundle::{BUNDLE_V03_MEDIA_TYPE, Bundle, BundleError, Content};
use super::dsse::{ENVELOPE_MEDIA_TYPE, Envelope, IN_TOTO_PAYLOAD_TYPE};
use super::intoto::Statement;
use super::keyless::{self, Identity, KeylessError, Signer, TrustedRoot};
use super::keys::PublicKey;

/// The media type of a simple-signing payload layer.
pub const SIMPLE_SIGNING_MEDIA_TYPE: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// The annotation holding a layer's signature (base64).
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// The annotation holding a keyless signer's certificate (PEM).
pub const CERTIFICATE_ANNOTATION: &str = "dev.sigstore.cosign/certificate";
/// The annotation holding a keyless signer's certificate chain (PEM).
pub const CHAIN_ANNOTATION: &str = "dev.sigstore.cosign/chain";
/// The annotation holding a keyless signature's transparency log entry (Rekor v1 and its
/// SET).
pub const REKOR_BUNDLE_ANNOTATION: &str = "dev.sigstore.cosign/bundle";
/// The artifact type (and layer media type) of cosign 3's bundle referrers.
pub const BUNDLE_ARTIFACT_TYPE: &str = BUNDLE_V03_MEDIA_TYPE;
/// A bundle referrer's annotation naming what the bundle holds (`dsse-envelope`).
pub const BUNDLE_CONTENT_ANNOTATION: &str = "dev.sigstore.bundle.content";
/// A bundle referrer's annotation naming the statement's predicate type.
pub const BUNDLE_PREDICATE_TYPE_ANNOTATION: &str = "dev.sigstore.bundle.predicateType";
/// The predicate type of the statement `cosign sign` signs into a bundle.
pub const SIGN_PREDICATE_TYPE: &str = "https://sigstore.dev/cosign/sign/v1";
/// `critical.type` of a simple-signing payload.
pub const SIMPLE_SIGNING_TYPE: &str = "cosign container image signature";

/// The hex of a `sha256:<64 lowercase hex>` digest.
fn sha256_hex_of(digest: &str) -> Option<&str> {
    let hex = digest.strip_prefix("sha256:")?;
    (hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))).then_some(hex)
}

/// A simple-signing payload (`critical` part; `optional` kept as given).
#[derive(Debug, Clone, PartialEq)]
pub struct SimpleSigning {
    /// `critical.image.docker-manifest-digest`: the signed image's digest.
    pub manifest_digest: String,
    /// `critical.type` ([`SIMPLE_SIGNING_TYPE`]).
    pub signature_type: String,
    /// `critical.identity.docker-reference`: where the image was signed (informative).
    pub docker_reference: String,
    /// `optional`: signer-chosen annotations, or null.
    pub optional: serde_json::Value,
}

#[derive(Deserialize)]
struct RawSimpleSigning {
    critical: RawCritical,
    #[serde(default)]
    optional: serde_json::Value,
}

#[derive(Deserialize)]
struct RawCritical {
    #[serde(default)]
    identity: RawIdentity,
    image: RawImage,
    #[serde(rename = "type")]
    signature_type: String,
}

#[derive(Deserialize, Default)]
struct RawIdentity {
    #[serde(default, rename = "docker-reference")]
    docker_reference: String,
}

#[derive(Deserialize)]
struct RawImage {
    #[serde(rename = "docker-manifest-digest")]
    docker_manifest_digest: String,
}

impl SimpleSigning {
    /// Parses a simple-signing payload.
    pub fn from_json(bytes: &[u8]) -> Result<SimpleSigning, super::FormatError> {
        let raw: RawSimpleSigning = serde_json::from_slice(bytes).map_err(|e| {
            super::FormatError::new("simple-signing payload", format!("not its JSON ({e})"))
        })?;
        Ok(SimpleSigning {
            manifest_digest: raw.critical.image.docker_manifest_digest,
            signature_type: raw.critical.signature_type,
            docker_reference: raw.critical.identity.docker_reference,
            optional: raw.optional,
        })
    }

    /// The payload cosign signs for `image_digest` signed as `docker_reference`, in
    /// cosign's field order.
    pub fn to_json(&self) -> Vec<u8> {
        let value = serde_json::json!({
            "critical": {
                "identity": {"docker-reference": self.docker_reference},
                "image": {"docker-manifest-digest": self.manifest_digest},
                "type": self.signature_type,
            },
            "optional": self.optional,
        });
        serde_json::to_vec(&value).unwrap_or_default()
    }
}

/// One layer of a signature artifact as the caller has it: its descriptor's media type
/// and annotations, and the blob's bytes.
#[derive(Debug, Clone, Copy)]
pub struct Layer<'a> {
    /// The descriptor's `mediaType`.
    pub media_type: &'a str,
    /// The descriptor's `annotations` (empty when it has none).
    pub annotations: &'a BTreeMap<String, String>,
    /// The blob.
    pub blob: &'a [u8],
}

/// What kind of signature artifact was checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A `.sig` manifest: simple-signing payloads signed in annotations.
    Signature,
    /// A `.att` manifest: DSSE envelopes of in-toto statements.
    Attestation,
    /// A Sigstore bundle referrer (cosign 3's default for signatures and attestations).
    Bundle,
}

/// What signatures are trusted: public keys, and keyless signers (a trusted root and the
/// identities a policy accepts).
#[derive(Debug, Clone, Copy)]
pub struct Trust<'a> {
    /// The trusted public keys.
    pub keys: &'a [PublicKey],
    /// Keyless trust, if any; without it a keyless signature is [`Verdict::Keyless`].
    pub keyless: Option<KeylessTrust<'a>>,
}

impl<'a> Trust<'a> {
    /// Keys only.
    pub fn keys(keys: &'a [PublicKey]) -> Trust<'a> {
        Trust {
            keys,
            keyless: None,
        }
    }
}

/// Keyless trust: signatures whose Fulcio certificate and log entry verify against `root`
/// and whose signer is one of `identities` ([`keyless`]).
#[derive(Debug, Clone, Copy)]
pub struct KeylessTrust<'a> {
    /// The trusted root.
    pub root: &'a TrustedRoot,
    /// The identities accepted.
    pub identities: &'a [Identity],
}

/// Who a verified signature was made by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignedBy {
    /// The key at this index of [`Trust::keys`].
    Key(usize),
    /// A keyless signer: which identity of [`KeylessTrust::identities`], the certificate's
    /// subject and issuer, and the signing time.
    Identity(Signer),
}

/// The outcome of [`verify_artifact`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// A signature verified with a key or a keyless identity, over a payload naming the
    /// image's digest.
    Verified {
        /// The key or identity.
        by: SignedBy,
        /// The artifact's kind.
        kind: Kind,
        /// The in-toto statement's predicate type, for an attestation or a bundle
        /// (`https://sigstore.dev/cosign/sign/v1` for `cosign sign`'s bundle).
        predicate_type: Option<String>,
    },
    /// Signed keyless (a certificate, Fulcio) and no keyless trust given: carried, not
    /// verified.
    Keyless {
        /// The artifact's kind.
        kind: Kind,
    },
    /// Not a signature artifact (an SBOM, another referrer): nothing to check.
    NotSignature,
    /// Checked and refused: no signature verifies with any key, a payload is for another
    /// image, or the artifact is malformed.
    Failed {
        /// Why, for a message (names no key material).
        why: String,
    },
}

impl Verdict {
    fn failed(why: impl Into<String>) -> Verdict {
        Verdict::Failed { why: why.into() }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Manifest {
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default)]
    artifact_type: Option<String>,
    #[serde(default)]
    layers: Vec<Descriptor>,
    #[serde(default)]
    subject: Option<Descriptor>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Descriptor {
    media_type: String,
    digest: String,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

/// Checks one signature artifact of the image `subject_digest` (`sha256:<hex>`, the
/// image's top digest: its index or manifest): `artifact_manifest` is the artifact's
/// manifest bytes, `layers` its layers in the manifest's order (each blob's SHA-256, media
/// type and annotations must be the manifest's, so what was pinned by the manifest's digest
/// is what is checked), `trust` the trusted keys and keyless signers.
///
/// Verified when, for one layer, a signature verifies with one of the keys, or keyless
/// against the trusted root by one of the identities ([`keyless`]), and the signed payload
/// names `subject_digest` (the simple-signing payload's
/// `critical.image.docker-manifest-digest`, or a subject of the in-toto statement). A
/// referrer whose `subject` is another image fails. A keyless signature with no keyless
/// trust given is [`Verdict::Keyless`]; with it, one that does not verify fails, naming why.
/// Never panics on malformed input.
pub fn verify_artifact(
    subject_digest: &str,
    artifact_manifest: &[u8],
    layers: &[Layer<'_>],
    trust: &Trust<'_>,
) -> Verdict {
    let Some(subject_hex) = sha256_hex_of(subject_digest) else {
        return Verdict::failed(format!(
            "the image digest {subject_digest:?} is not sha256:<64 hex>"
        ));
    };
    let manifest: Manifest = match serde_json::from_slice::<serde_json::Value>(artifact_manifest) {
        Ok(v) if v.is_object() => match serde_json::from_value(v) {
            Ok(m) => m,
            Err(e) => {
                return Verdict::failed(format!("the artifact's manifest is malformed ({e})"));
            }
        },
        Ok(_) => return Verdict::failed("the artifact's manifest is not a JSON object"),
        Err(e) => return Verdict::failed(format!("the artifact's manifest is not JSON ({e})")),
    };
    if let Some(mt) = &manifest.media_type
        && mt != "application/vnd.oci.image.manifest.v1+json"
        && mt != "application/vnd.docker.distribution.manifest.v2+json"
    {
        return Verdict::NotSignature;
    }
    let kind = if manifest.artifact_type.as_deref() == Some(BUNDLE_ARTIFACT_TYPE)
        || manifest
            .layers
            .iter()
            .any(|l| l.media_type == BUNDLE_V03_MEDIA_TYPE)
    {
        Kind::Bundle
    } else if manifest
        .layers
        .iter()
        .any(|l| l.media_type == SIMPLE_SIGNING_MEDIA_TYPE)
    {
        Kind::Signature
    } else if manifest
        .layers
        .iter()
        .any(|l| l.media_type == ENVELOPE_MEDIA_TYPE)
    {
        Kind::Attestation
    } else {
        return Verdict::NotSignature;
    };
    if let Some(subject) = &manifest.subject
        && subject.digest != subject_digest
    {
        return Verdict::failed(format!(
            "the artifact refers to {}, not to {subject_digest}",
            subject.digest
        ));
    }
    if layers.len() != manifest.layers.len() {
        return Verdict::failed(format!(
            "the manifest lists {} layer(s); {} were given",
            manifest.layers.len(),
            layers.len()
        ));
    }
    for (i, (given, listed)) in layers.iter().zip(&manifest.layers).enumerate() {
        let digest = format!("sha256:{}", crate::hashing::sha256_hex(given.blob));
        if digest != listed.digest {
            return Verdict::failed(format!(
                "layer {i}: the blob is {digest}, the manifest lists {}",
                listed.digest
            ));
        }
        if given.media_type != listed.media_type || given.annotations != &listed.annotations {
            return Verdict::failed(format!(
                "layer {i}: the media type or annotations given are not the manifest's"
            ));
        }
    }

    // One outcome per layer of the artifact's kind; the first verified wins, then keyless.
    let mut outcomes = Vec::new();
    for layer in layers {
        let outcome = match kind {
            Kind::Signature if layer.media_type == SIMPLE_SIGNING_MEDIA_TYPE => {
                check_simple_signing(subject_digest, layer, trust)
            }
            Kind::Attestation if layer.media_type == ENVELOPE_MEDIA_TYPE => {
                check_attestation(subject_hex, layer, trust)
            }
            Kind::Bundle if layer.media_type == BUNDLE_V03_MEDIA_TYPE => {
                check_bundle(subject_hex, layer, trust)
            }
            _ => continue,
        };
        outcomes.push(outcome);
    }
    let mut keyless = false;
    let mut reasons = Vec::new();
    for outcome in outcomes {
        match outcome {
            Outcome::Verified { by, predicate_type } => {
                return Verdict::Verified {
                    by,
                    kind,
                    predicate_type,
                };
            }
            Outcome::Keyless => keyless = true,
            Outcome::Failed(why) => reasons.push(why),
        }
    }
    if keyless {
        return Verdict::Keyless { kind };
    }
    match reasons.len() {
        0 => Verdict::failed("the artifact holds no signature"),
        1 => Verdict::failed(reasons.remove(0)),
        n => Verdict::failed(format!(
            "none of its {n} signatures verifies: {}",
            reasons.join("; ")
        )),
    }
}

enum Outcome {
    Verified {
        by: SignedBy,
        predicate_type: Option<String>,
    },
    Keyless,
    Failed(String),
}

fn no_key(keys: &[PublicKey]) -> String {
    format!(
        "the signature does not verify with any of the {} key(s) given",
        keys.len()
    )
}

fn has_certificate(layer: &Layer<'_>) -> bool {
    layer
        .annotations
        .get(CERTIFICATE_ANNOTATION)
        .is_some_and(|c| !c.trim().is_empty())
}

fn check_simple_signing(subject_digest: &str, layer: &Layer<'_>, trust: &Trust<'_>) -> Outcome {
    let keys = trust.keys;
    let sig = layer
        .annotations
        .get(SIGNATURE_ANNOTATION)
        .map(|s| s.trim())
        .unwrap_or_default();
    let Some(sig) = (!sig.is_empty()).then(|| super::unb64(sig)).flatten() else {
        if has_certificate(layer) {
            return keyless_classic(layer, trust, None)
                .map_or_else(|o| o, |by| check_payload(subject_digest, layer, by));
        }
        return Outcome::Failed(format!(
            "a payload's {SIGNATURE_ANNOTATION} annotation is missing or not base64"
        ));
    };
    let by = match keys.iter().position(|k| k.verify(layer.blob, &sig)) {
        Some(key) => SignedBy::Key(key),
        None if has_certificate(layer) => match keyless_classic(layer, trust, None) {
            Ok(by) => by,
            Err(outcome) => return outcome,
        },
        None => return Outcome::Failed(no_key(keys)),
    };
    check_payload(subject_digest, layer, by)
}

/// A classic layer signed keyless: checked with the keyless trust if there is one
/// (`attestation`: the image's digest a DSSE layer's statement must name).
fn keyless_classic(
    layer: &Layer<'_>,
    trust: &Trust<'_>,
    attestation: Option<[u8; 32]>,
) -> Result<SignedBy, Outcome> {
    let Some(keyless) = trust.keyless else {
        return Err(Outcome::Keyless);
    };
    let get = |name: &str| layer.annotations.get(name).map(String::as_str);
    let signature = keyless::ClassicSignature {
        payload: layer.blob,
        signature: get(SIGNATURE_ANNOTATION).unwrap_or_default(),
        certificate: get(CERTIFICATE_ANNOTATION).unwrap_or_default(),
        chain: get(CHAIN_ANNOTATION),
        rekor_bundle: get(REKOR_BUNDLE_ANNOTATION),
        attestation,
    };
    keyless::verify_classic(&signature, keyless.root, keyless.identities)
        .map(SignedBy::Identity)
        .map_err(keyless_failed)
}

fn keyless_failed(e: KeylessError) -> Outcome {
    Outcome::Failed(format!("keyless: {e}"))
}

/// A verified simple-signing payload: what it says.
fn check_payload(subject_digest: &str, layer: &Layer<'_>, by: SignedBy) -> Outcome {
    let payload = match SimpleSigning::from_json(layer.blob) {
        Ok(p) => p,
        Err(e) => return Outcome::Failed(e.to_string()),
    };
    if payload.manifest_digest != subject_digest {
        return Outcome::Failed(format!(
            "the signed payload is for {}, not for {subject_digest}",
            payload.manifest_digest
        ));
    }
    if !payload
        .signature_type
        .eq_ignore_ascii_case(SIMPLE_SIGNING_TYPE)
    {
        return Outcome::Failed(format!(
            "the signed payload's critical.type is {:?}, not {SIMPLE_SIGNING_TYPE:?}",
            payload.signature_type
        ));
    }
    Outcome::Verified {
        by,
        predicate_type: None,
    }
}

/// A verified envelope's statement: its predicate type if it is about the image.
fn check_statement(subject_hex: &str, env: &Envelope, by: SignedBy) -> Outcome {
    if env.payload_type != IN_TOTO_PAYLOAD_TYPE {
        return Outcome::Failed(format!(
            "the envelope's payload type is {:?}, not an in-toto statement",
            env.payload_type
        ));
    }
    let statement = match Statement::from_json(&env.payload) {
        Ok(s) => s,
        Err(e) => return Outcome::Failed(e.to_string()),
    };
    if !statement.is_about_sha256(subject_hex) {
        let named: Vec<String> = statement
            .subject
            .iter()
            .filter_map(|s| s.digest.get("sha256").map(|d| format!("sha256:{d}")))
            .collect();
        return Outcome::Failed(format!(
            "the signed statement is about {}, not sha256:{subject_hex}",
            if named.is_empty() {
                "no sha256 digest".to_owned()
            } else {
                named.join(", ")
            }
        ));
    }
    Outcome::Verified {
        by,
        predicate_type: Some(statement.predicate_type),
    }
}

/// The 32 bytes of a 64-hex SHA-256.
fn sha256_bytes_of(hex: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = hex
            .get(2 * i..2 * i + 2)
            .and_then(|h| u8::from_str_radix(h, 16).ok())
            .unwrap_or_default();
    }
    out
}

fn check_attestation(subject_hex: &str, layer: &Layer<'_>, trust: &Trust<'_>) -> Outcome {
    let env = match Envelope::from_json(layer.blob) {
        Ok(e) => e,
        Err(e) => return Outcome::Failed(e.to_string()),
    };
    match env.verify(trust.keys) {
        Ok(key) => check_statement(subject_hex, &env, SignedBy::Key(key)),
        Err(_) if has_certificate(layer) => {
            match keyless_classic(layer, trust, Some(sha256_bytes_of(subject_hex))) {
                Ok(by) => check_statement(subject_hex, &env, by),
                Err(outcome) => outcome,
            }
        }
        Err(e) => Outcome::Failed(e.to_string()),
    }
}

fn check_bundle(subject_hex: &str, layer: &Layer<'_>, trust: &Trust<'_>) -> Outcome {
    let bundle = match Bundle::from_json(layer.blob) {
        Ok(b) => b,
        Err(e) => return Outcome::Failed(e.to_string()),
    };
    if let Content::MessageSignature { .. } = bundle.content {
        if bundle.is_keyless() && trust.keyless.is_none() {
            return Outcome::Keyless;
        }
        // cosign signs an image's bundle as a DSSE envelope; a bare message signature
        // would be over the image's manifest, which is not part of the artifact.
        return Outcome::Failed(
            "the bundle holds a message signature, not a DSSE envelope about the image".into(),
        );
    }
    match bundle.verify_dsse(trust.keys) {
        Ok((key, env)) => check_statement(subject_hex, env, SignedBy::Key(key)),
        Err(BundleError::Keyless) => {
            let Some(keyless) = trust.keyless else {
                return Outcome::Keyless;
            };
            let subject = keyless::Artifact::Sha256(sha256_bytes_of(subject_hex));
            match keyless::verify_bundle(layer.blob, subject, keyless.root, keyless.identities) {
                Ok(signer) => match bundle.envelope() {
                    Some(env) => check_statement(subject_hex, env, SignedBy::Identity(signer)),
                    None => Outcome::Failed("the bundle holds no DSSE envelope".into()),
                },
                Err(e) => keyless_failed(e),
            }
        }
        Err(e) => Outcome::Failed(e.to_string()),
    }
}

#[cfg(test)]
mod tests;
