//! The signature policy (`images.verify`), applied to an image while it is opened, before
//! anything of it is written: the signatures found beside it (cosign's `.sig` and `.att`
//! tags, Sigstore bundle referrers) are checked against the policy's public keys, offline,
//! by [`crate::trust::cosign::verify_artifact`]. An image the policy refuses fails with
//! the keys tried and why each signature did not verify; nothing of it is stored.

use super::PreparedAttachment;
use crate::oci::descriptor::ManifestDoc;
use crate::oci::{Descriptor, Digest, OciError, Result};
use crate::trust::cosign::{Kind, Layer, SignedBy, Trust, Verdict, verify_artifact};
use crate::trust::keys::PublicKey;
use std::collections::BTreeMap;
use std::sync::Arc;

/// When an image must carry a signature verified by one of the keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RequireSignature {
    /// Every image.
    Always,
    /// Images that carry signatures: one of them must verify.
    IfPresent,
    /// Signatures are carried, not checked.
    #[default]
    Never,
}

/// A public key of the policy, with the name it is known by (its file, as written).
#[derive(Debug, Clone)]
pub struct PolicyKey {
    /// The file, as the config names it.
    pub name: String,
    /// The key.
    pub key: PublicKey,
}

/// The keys and the requirement.
#[derive(Debug, Clone, Default)]
pub struct SignaturePolicy {
    /// Trusted public keys.
    pub keys: Arc<Vec<PolicyKey>>,
    /// When a verified signature is required.
    pub require: RequireSignature,
}

/// A signature that verified.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct VerifiedSignature {
    /// The digest it signs.
    pub subject: String,
    /// The artifact's manifest digest.
    pub artifact: String,
    /// `signature`, `attestation` or `bundle`.
    pub kind: &'static str,
    /// The key (its file, as the config names it).
    pub key: String,
    /// The in-toto predicate type of an attestation or bundle.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub predicate_type: Option<String>,
}

/// The layer media types that carry signatures: only artifacts made of these are read.
const SIGNATURE_LAYERS: [&str; 3] = [
    crate::trust::cosign::SIMPLE_SIGNING_MEDIA_TYPE,
    crate::trust::dsse::ENVELOPE_MEDIA_TYPE,
    crate::trust::bundle::BUNDLE_V03_MEDIA_TYPE,
];

/// The most layers a signature artifact is read with (each is read whole, up to the
/// document cap, to be checked).
const MAX_SIGNATURE_LAYERS: usize = 64;

/// What checking one image's artifacts found.
#[derive(Debug, Default)]
struct Findings {
    verified: Vec<VerifiedSignature>,
    keyless: usize,
    failed: Vec<String>,
}

impl SignaturePolicy {
    /// Whether the policy checks anything.
    pub fn is_active(&self) -> bool {
        self.require != RequireSignature::Never && !self.keys.is_empty()
    }

    /// Checks the artifacts of an image whose root, as its source serves it, is `roots[0]`
    /// (the others: indexes it was cut from, which a signature may name instead), and
    /// whose kept platform manifests are `children`. Returns the signatures that
    /// verified, or the error refusing the image.
    pub(super) fn check(
        &self,
        image: &str,
        roots: &[Digest],
        children: &[Digest],
        attached: &[PreparedAttachment],
    ) -> Result<Vec<VerifiedSignature>> {
        if !self.is_active() {
            return Ok(Vec::new());
        }
        let keys: Vec<PublicKey> = self.keys.iter().map(|k| k.key.clone()).collect();
        let mut found = Findings::default();
        for a in attached {
            self.check_one(a, &keys, &mut found)?;
        }
        // The root signed, or every platform manifest kept signed.
        let signs = |d: &Digest| found.verified.iter().any(|v| v.subject == d.to_string());
        let satisfied =
            roots.iter().any(signs) || (!children.is_empty() && children.iter().all(signs));
        let any_signature =
            !found.verified.is_empty() || found.keyless > 0 || !found.failed.is_empty();
        let needed = match self.require {
            RequireSignature::Always => true,
            RequireSignature::IfPresent => any_signature,
            RequireSignature::Never => false,
        };
        if satisfied || !needed {
            return Ok(found.verified);
        }
        Err(OciError::Untrusted {
            image: image.to_string(),
            message: self.refusal(roots, &found),
        })
    }

    fn check_one(
        &self,
        a: &PreparedAttachment,
        keys: &[PublicKey],
        found: &mut Findings,
    ) -> Result<()> {
        let reader = a.reader();
        let manifest = reader.read_document(a.root())?;
        let subject = a.subject.to_string();
        let Some(verdict) = judge(&subject, &manifest, &|l| reader.read_document(l), keys)? else {
            // An SBOM, an index, another artifact: nothing to check, and not read.
            return Ok(());
        };
        match verdict {
            Verdict::Verified {
                by,
                kind,
                predicate_type,
            } => found.verified.push(VerifiedSignature {
                subject,
                artifact: a.root().digest.to_string(),
                kind: kind_name(kind),
                key: match by {
                    SignedBy::Key(key) => self
                        .keys
                        .get(key)
                        .map(|k| k.name.clone())
                        .unwrap_or_default(),
                    SignedBy::Identity(signer) => signer.subject,
                },
                predicate_type,
            }),
            Verdict::Keyless { .. } => found.keyless += 1,
            Verdict::NotSignature => {}
            Verdict::Failed { why } => found.failed.push(format!(
                "{} {} for {subject}: {why}",
                a.kind.as_str(),
                a.root().digest
            )),
        }
        Ok(())
    }

    /// Why an image is refused: what was found, the keys tried, and what to do.
    fn refusal(&self, root: &[Digest], found: &Findings) -> String {
        let keys: Vec<&str> = self.keys.iter().map(|k| k.name.as_str()).collect();
        let root: Vec<String> = root.iter().map(ToString::to_string).collect();
        let mut m = format!(
            "no signature of {} verifies with the key(s) {} (images.verify require: {})",
            root.join(", "),
            keys.join(", "),
            match self.require {
                RequireSignature::Always => "always",
                RequireSignature::IfPresent => "if-present",
                RequireSignature::Never => "never",
            }
        );
        if found.failed.is_empty() && found.keyless == 0 && found.verified.is_empty() {
            m.push_str("; the image has no signature (no sha256-<hex>.sig or .att tag, no Sigstore bundle referrer)");
        }
        for f in &found.failed {
            m.push_str(&format!("\n  {f}"));
        }
        if found.keyless > 0 {
            m.push_str(&format!(
                "\n  {} keyless signature(s) (a certificate, not a key): carried, not verified here; check them on a connected machine with cosign verify --certificate-identity … --certificate-oidc-issuer …",
                found.keyless
            ));
        }
        for v in &found.verified {
            m.push_str(&format!(
                "\n  a {} verified for {} only (not the image's root or all its platforms)",
                v.kind, v.subject
            ));
        }
        m.push_str("\nnothing of this image was stored");
        m
    }
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Signature => "signature",
        Kind::Attestation => "attestation",
        Kind::Bundle => "bundle",
    }
}

/// Judges one artifact whose manifest is `manifest` for `subject`, its layers read with
/// `read`: `None` when it is not made of signature layers (an SBOM, an index, another
/// artifact; its layers are then not read), a failed verdict when it is not a manifest.
fn judge(
    subject: &str,
    manifest: &[u8],
    read: &dyn Fn(&Descriptor) -> Result<Vec<u8>>,
    keys: &[PublicKey],
) -> Result<Option<Verdict>> {
    let Ok(doc) = ManifestDoc::parse(manifest) else {
        return Ok(Some(Verdict::Failed {
            why: "not a manifest".into(),
        }));
    };
    let layers: Vec<Descriptor> = doc.layers.unwrap_or_default();
    if layers.is_empty()
        || !layers
            .iter()
            .all(|l| SIGNATURE_LAYERS.contains(&l.media_type.as_str()))
    {
        return Ok(None);
    }
    // Each layer is read whole to be checked: a signature has one or a few.
    if layers.len() > MAX_SIGNATURE_LAYERS {
        return Ok(Some(Verdict::Failed {
            why: format!(
                "{} layers, more than the {MAX_SIGNATURE_LAYERS} a signature artifact is read with",
                layers.len()
            ),
        }));
    }
    let mut blobs = Vec::with_capacity(layers.len());
    for l in &layers {
        blobs.push(read(l)?);
    }
    let annotations: Vec<BTreeMap<String, String>> = layers
        .iter()
        .map(|l| {
            l.annotations
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .collect();
    let given: Vec<Layer<'_>> = layers
        .iter()
        .zip(&blobs)
        .zip(&annotations)
        .map(|((l, blob), annotations)| Layer {
            media_type: &l.media_type,
            annotations,
            blob,
        })
        .collect();
    Ok(Some(verify_artifact(
        subject,
        manifest,
        &given,
        &Trust::keys(keys),
    )))
}

/// What checking the signatures a layout carries found, image by image.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Recheck {
    /// Images with at least one signature artifact, each with one verifying.
    pub verified: Vec<String>,
    /// Images whose signatures carried no longer verify with the keys (image, why).
    pub failed: Vec<(String, String)>,
}

/// Checks again the signatures stored with each image of `layout` against `keys` (the
/// keys the build recorded): every image that carries a signature, attestation or bundle
/// must have one that verifies over the digest it names. Images without any are left
/// alone (the policy that let them in decided that).
pub fn recheck(layout: &crate::oci::Layout, keys: &[PublicKey]) -> Result<Recheck> {
    use crate::oci::attached::of_entry;
    let index = layout.read_index()?;
    let mut by_image: BTreeMap<String, Vec<Verdict>> = BTreeMap::new();
    for entry in &index.manifests {
        let Some((to, _, subject)) = of_entry(entry) else {
            continue;
        };
        let manifest = layout.read_blob(&entry.digest)?;
        let read = |l: &Descriptor| layout.read_blob(&l.digest);
        let Some(verdict) = judge(&subject.to_string(), &manifest, &read, keys)? else {
            continue;
        };
        by_image.entry(to.to_string()).or_default().push(verdict);
    }
    let mut out = Recheck::default();
    for (image, verdicts) in by_image {
        if verdicts
            .iter()
            .any(|v| matches!(v, Verdict::Verified { .. }))
        {
            out.verified.push(image);
        } else if verdicts
            .iter()
            .all(|v| matches!(v, Verdict::Keyless { .. }))
        {
            // Keyless signatures are carried, never verified here.
        } else {
            let why: Vec<String> = verdicts
                .iter()
                .filter_map(|v| match v {
                    Verdict::Failed { why } => Some(why.clone()),
                    _ => None,
                })
                .collect();
            out.failed.push((image, why.join("; ")));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_artifact_of_too_many_layers_fails_unread() {
        let layer = format!(
            r#"{{"mediaType":"{}","digest":"sha256:{}","size":1}}"#,
            SIGNATURE_LAYERS[0],
            "a".repeat(64)
        );
        let layers = vec![layer; MAX_SIGNATURE_LAYERS + 1].join(",");
        let manifest = format!(
            r#"{{"schemaVersion":2,"config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:{}","size":2}},"layers":[{layers}]}}"#,
            "b".repeat(64)
        );
        let read = |_: &Descriptor| -> Result<Vec<u8>> { panic!("a layer was read") };
        let subject = format!("sha256:{}", "c".repeat(64));
        let verdict = judge(&subject, manifest.as_bytes(), &read, &[]).unwrap();
        assert!(
            matches!(&verdict, Some(Verdict::Failed { why }) if why.contains("layers")),
            "{verdict:?}"
        );
        // Not made of signature layers (an SBOM): not judged, nothing read.
        let sbom = manifest.replace(SIGNATURE_LAYERS[0], "application/spdx+json");
        assert_eq!(judge(&subject, sbom.as_bytes(), &read, &[]).unwrap(), None);
    }
}
