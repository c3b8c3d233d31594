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

use std::collections::BTreeMap;

use serde::Deserialize;

use super::bundle::{BUNDLE_V03_MEDIA_TYPE, Bundle, BundleError, Content};
use super::dsse::{ENVELOPE_MEDIA_TYPE, Envelope, IN_TOTO_PAYLOAD_TYPE};
use super::intoto::Statement;
use super::keys::PublicKey;

/// The media type of a simple-signing payload layer.
pub const SIMPLE_SIGNING_MEDIA_TYPE: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// The annotation holding a layer's signature (base64).
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// The annotation holding a keyless signer's certificate (PEM).
pub const CERTIFICATE_ANNOTATION: &str = "dev.sigstore.cosign/certificate";
/// The annotation holding a keyless signer's certificate chain (PEM).
pub const CHAIN_ANNOTATION: &str = "dev.sigstore.cosign/chain";
/// The annotation holding a transparency log entry (not checked here).
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

/// The outcome of [`verify_artifact`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// A signature verified with `keys[key]`, over a payload naming the image's digest.
    Verified {
        /// The index of the key in the slice given.
        key: usize,
        /// The artifact's kind.
        kind: Kind,
        /// The in-toto statement's predicate type, for an attestation or a bundle
        /// (`https://sigstore.dev/cosign/sign/v1` for `cosign sign`'s bundle).
        predicate_type: Option<String>,
    },
    /// Signed keyless (a certificate, Fulcio): carried, not verified (that needs Fulcio's
    /// roots and the transparency log).
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
/// is what is checked), `keys` the trusted public keys.
///
/// Verified when, for one layer, a signature verifies with one of the keys and the signed
/// payload names `subject_digest` (the simple-signing payload's
/// `critical.image.docker-manifest-digest`, or a subject of the in-toto statement). A
/// referrer whose `subject` is another image fails. Never panics on malformed input.
pub fn verify_artifact(
    subject_digest: &str,
    artifact_manifest: &[u8],
    layers: &[Layer<'_>],
    keys: &[PublicKey],
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
                check_simple_signing(subject_digest, layer, keys)
            }
            Kind::Attestation if layer.media_type == ENVELOPE_MEDIA_TYPE => {
                check_attestation(subject_hex, layer, keys)
            }
            Kind::Bundle if layer.media_type == BUNDLE_V03_MEDIA_TYPE => {
                check_bundle(subject_hex, layer, keys)
            }
            _ => continue,
        };
        outcomes.push(outcome);
    }
    let mut keyless = false;
    let mut reasons = Vec::new();
    for outcome in outcomes {
        match outcome {
            Outcome::Verified {
                key,
                predicate_type,
            } => {
                return Verdict::Verified {
                    key,
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
        key: usize,
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

fn check_simple_signing(subject_digest: &str, layer: &Layer<'_>, keys: &[PublicKey]) -> Outcome {
    let sig = layer
        .annotations
        .get(SIGNATURE_ANNOTATION)
        .map(|s| s.trim())
        .unwrap_or_default();
    let Some(sig) = (!sig.is_empty()).then(|| super::unb64(sig)).flatten() else {
        if has_certificate(layer) {
            return Outcome::Keyless;
        }
        return Outcome::Failed(format!(
            "a payload's {SIGNATURE_ANNOTATION} annotation is missing or not base64"
        ));
    };
    let Some(key) = keys.iter().position(|k| k.verify(layer.blob, &sig)) else {
        if has_certificate(layer) {
            return Outcome::Keyless;
        }
        return Outcome::Failed(no_key(keys));
    };
    // Verified bytes; now what they say.
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
        key,
        predicate_type: None,
    }
}

/// A verified envelope's statement: its predicate type if it is about the image.
fn check_statement(subject_hex: &str, env: &Envelope, key: usize) -> Outcome {
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
        key,
        predicate_type: Some(statement.predicate_type),
    }
}

fn check_attestation(subject_hex: &str, layer: &Layer<'_>, keys: &[PublicKey]) -> Outcome {
    let env = match Envelope::from_json(layer.blob) {
        Ok(e) => e,
        Err(e) => return Outcome::Failed(e.to_string()),
    };
    match env.verify(keys) {
        Ok(key) => check_statement(subject_hex, &env, key),
        Err(_) if has_certificate(layer) => Outcome::Keyless,
        Err(e) => Outcome::Failed(e.to_string()),
    }
}

fn check_bundle(subject_hex: &str, layer: &Layer<'_>, keys: &[PublicKey]) -> Outcome {
    let bundle = match Bundle::from_json(layer.blob) {
        Ok(b) => b,
        Err(e) => return Outcome::Failed(e.to_string()),
    };
    if let Content::MessageSignature { .. } = bundle.content {
        if bundle.is_keyless() {
            return Outcome::Keyless;
        }
        // cosign signs an image's bundle as a DSSE envelope; a bare message signature
        // would be over the image's manifest, which is not part of the artifact.
        return Outcome::Failed(
            "the bundle holds a message signature, not a DSSE envelope about the image".into(),
        );
    }
    match bundle.verify_dsse(keys) {
        Ok((key, env)) => check_statement(subject_hex, env, key),
        Err(BundleError::Keyless) => Outcome::Keyless,
        Err(e) => Outcome::Failed(e.to_string()),
    }
}

#[cfg(test)]
mod tests;
