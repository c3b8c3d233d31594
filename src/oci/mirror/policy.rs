//! The signature policy (`images.verify`), applied to an image while it is opened, before
//! anything of it is written: the signatures found beside it (cosign's `.sig` and `.att`
//! tags, Sigstore bundle referrers) are checked against the policy's public keys and its
//! keyless identities (with its Sigstore trusted root), offline, by
//! [`crate::trust::cosign::verify_artifact`]. An image the policy refuses fails with the
//! keys and identities tried and why each signature did not verify; nothing of it is stored.

use super::attachments::PreparedAttachment;
use crate::oci::descriptor::ManifestDoc;
use crate::oci::{Descriptor, Digest, OciError, Result};
use crate::trust::cosign::{KeylessTrust, Kind, Layer, SignedBy, Trust, Verdict, verify_artifact};
use crate::trust::keyless::{Identity, Signer, TrustedRoot};
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

/// A keyless identity of the policy, with the name it is known by (as the config writes
/// it: the subject and the issuer).
#[derive(Debug, Clone)]
pub struct PolicyIdentity {
    /// The identity as written, for messages and records.
    pub name: String,
    /// The identity.
    pub identity: Identity,
}

/// The policy's Sigstore trusted root: its file as the config names it, its bytes as read
/// (recorded in the output), and what they hold.
#[derive(Debug)]
pub struct PolicyTrustedRoot {
    /// The file, as the config names it.
    pub name: String,
    /// Its bytes.
    pub bytes: Vec<u8>,
    /// The root.
    pub root: TrustedRoot,
}

/// The keys, the keyless identities with their trusted root, and the requirement.
#[derive(Debug, Clone, Default)]
pub struct SignaturePolicy {
    /// Trusted public keys.
    pub keys: Arc<Vec<PolicyKey>>,
    /// Trusted keyless signers (checked with `trusted_root`).
    pub identities: Arc<Vec<PolicyIdentity>>,
    /// The Sigstore trusted root of the identities.
    pub trusted_root: Option<Arc<PolicyTrustedRoot>>,
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
    /// The key (its file, as the config names it), or the identity of the policy.
    pub key: String,
    /// A keyless signature's signer: the certificate's subject and issuer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signer: Option<String>,
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
        self.require != RequireSignature::Never && (!self.keys.is_empty() || self.keyless())
    }

    /// Whether keyless signatures are checked (identities and a trusted root).
    fn keyless(&self) -> bool {
        !self.identities.is_empty() && self.trusted_root.is_some()
    }

    /// The policy's identities, for [`KeylessTrust`].
    fn identity_list(&self) -> Vec<Identity> {
        self.identities.iter().map(|i| i.identity.clone()).collect()
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
        let identities = self.identity_list();
        let trust = Trust {
            keys: &keys,
            keyless: self
                .trusted_root
                .as_deref()
                .filter(|_| !identities.is_empty())
                .map(|r| KeylessTrust {
                    root: &r.root,
                    identities: &identities,
                }),
        };
        let mut found = Findings::default();
        for a in attached {
            self.check_one(a, &trust, &mut found)?;
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
        trust: &Trust<'_>,
        found: &mut Findings,
    ) -> Result<()> {
        let reader = a.reader();
        let manifest = reader.read_document(a.root())?;
        let subject = a.subject.to_string();
        let Some(verdict) = judge(&subject, &manifest, &|l| reader.read_document(l), trust)? else {
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
                key: match &by {
                    SignedBy::Key(key) => self
                        .keys
                        .get(*key)
                        .map(|k| k.name.clone())
                        .unwrap_or_default(),
                    SignedBy::Identity(signer) => self
                        .identities
                        .get(signer.identity)
                        .map(|i| i.name.clone())
                        .unwrap_or_default(),
                },
                signer: match &by {
                    SignedBy::Key(_) => None,
                    SignedBy::Identity(signer) => Some(signer_name(signer)),
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

    /// Why an image is refused: what was found, the keys and identities tried, and what
    /// to do.
    fn refusal(&self, root: &[Digest], found: &Findings) -> String {
        let mut tried = Vec::new();
        if !self.keys.is_empty() {
            let keys: Vec<&str> = self.keys.iter().map(|k| k.name.as_str()).collect();
            tried.push(format!("the key(s) {}", keys.join(", ")));
        }
        if self.keyless() {
            let ids: Vec<&str> = self.identities.iter().map(|i| i.name.as_str()).collect();
            tried.push(format!(
                "the identit(y/ies) {} (trusted root {})",
                ids.join(", "),
                self.trusted_root
                    .as_ref()
                    .map(|r| r.name.as_str())
                    .unwrap_or_default()
            ));
        }
        let root: Vec<String> = root.iter().map(ToString::to_string).collect();
        let mut m = format!(
            "no signature of {} verifies with {} (images.verify require: {})",
            root.join(", "),
            tried.join(" or "),
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
                "\n  {} keyless signature(s) (a certificate, not a key): not checked without images.verify.identities and trusted_root",
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

/// A keyless signer as reports name it: the certificate's subject and issuer.
fn signer_name(signer: &Signer) -> String {
    match &signer.issuer {
        Some(issuer) => format!("{} (issuer {issuer})", signer.subject),
        None => format!("{} (no issuer)", signer.subject),
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
    trust: &Trust<'_>,
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
    Ok(Some(verify_artifact(subject, manifest, &given, trust)))
}

/// What checking the signatures a layout carries found, image by image.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Recheck {
    /// Images with at least one signature artifact, each with one verifying.
    pub verified: Vec<String>,
    /// Images whose signatures carried no longer verify with the keys (image, why).
    pub failed: Vec<(String, String)>,
    /// Who signed each image keyless, among its verified signatures: the certificate's
    /// subject and issuer (image to signers).
    pub identities: BTreeMap<String, Vec<String>>,
}

/// Checks again the signatures stored with each image of `layout` against `trust` (the
/// keys, trusted root and identities the build recorded): every image that carries a
/// signature, attestation or bundle must have one that verifies over the digest it names.
/// Images without any are left alone (the policy that let them in decided that).
pub fn recheck(layout: &crate::oci::Layout, trust: &Trust<'_>) -> Result<Recheck> {
    use crate::oci::attached::of_entry;
    let index = layout.read_index()?;
    let mut by_image: BTreeMap<String, Vec<Verdict>> = BTreeMap::new();
    for entry in &index.manifests {
        let Some((to, _, subject)) = of_entry(entry) else {
            continue;
        };
        let manifest = layout.read_blob(&entry.digest)?;
        let read = |l: &Descriptor| layout.read_blob(&l.digest);
        let Some(verdict) = judge(&subject.to_string(), &manifest, &read, trust)? else {
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
            let mut signers: Vec<String> = verdicts
                .iter()
                .filter_map(|v| match v {
                    Verdict::Verified {
                        by: SignedBy::Identity(signer),
                        ..
                    } => Some(signer_name(signer)),
                    _ => None,
                })
                .collect();
            signers.sort();
            signers.dedup();
            if !signers.is_empty() {
                out.identities.insert(image.clone(), signers);
            }
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

    fn empty_root() -> TrustedRoot {
        TrustedRoot::from_json(
            br#"{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1","tlogs":[],"certificateAuthorities":[],"ctlogs":[]}"#,
        )
        .unwrap()
    }

    #[test]
    fn identities_make_the_policy_active_only_with_a_trusted_root_and_a_requirement() {
        let root = empty_root();
        let identity = PolicyIdentity {
            name: "dev@example.com (issuer https://issuer.example)".into(),
            identity: Identity::exact("dev@example.com", "https://issuer.example"),
        };
        let mut policy = SignaturePolicy {
            identities: Arc::new(vec![identity]),
            require: RequireSignature::Always,
            ..SignaturePolicy::default()
        };
        assert!(!policy.is_active(), "identities without a trusted root");
        policy.trusted_root = Some(Arc::new(PolicyTrustedRoot {
            name: "trusted_root.json".into(),
            bytes: Vec::new(),
            root,
        }));
        assert!(policy.is_active());
        // The refusal names the identities and the root, not keys it does not have.
        let refusal = policy.refusal(&[], &Findings::default());
        assert!(
            refusal.contains("dev@example.com (issuer https://issuer.example)")
                && refusal.contains("trusted root trusted_root.json")
                && !refusal.contains("key(s)"),
            "{refusal}"
        );
        policy.require = RequireSignature::Never;
        assert!(!policy.is_active());
    }

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
        let verdict = judge(&subject, manifest.as_bytes(), &read, &Trust::keys(&[])).unwrap();
        assert!(
            matches!(&verdict, Some(Verdict::Failed { why }) if why.contains("layers")),
            "{verdict:?}"
        );
        // Not made of signature layers (an SBOM): not judged, nothing read.
        let sbom = manifest.replace(SIGNATURE_LAYERS[0], "application/spdx+json");
        assert_eq!(
            judge(&subject, sbom.as_bytes(), &read, &Trust::keys(&[])).unwrap(),
            None
        );
    }
}
