//! Artifacts attached to an image: cosign's signature, attestation and SBOM tags
//! (`sha256-<hex>.sig`, `.att`, `.sbom` in the image's repository) and OCI 1.1 referrers
//! (manifests whose `subject` is the image, found through the referrers API or its
//! fallback tag `sha256-<hex>`).
//!
//! The layout stores each one as an `index.json` entry of its own, named so that `push`
//! writes it back where cosign and oras look for it, with annotations saying what it is and
//! what it belongs to:
//!
//! - a tag artifact as `<repository>:sha256-<hex>.sig` (the image's destination
//!   repository: a tag is a tag on the far side too);
//! - a referrer as `<repository>@sha256:<artifact hex>` (pushed by digest);
//! - [`ATTACHED_TO`]: the destination of the image it belongs to (`docker.io/acme/web:9.9`);
//!   [`ATTACHED_SUBJECT`]: the digest it refers to (the image's root as its registry serves
//!   it, or one of its platform manifests); [`ATTACHED_KIND`]: `signature`,
//!   `attestation`, `sbom` or `referrer`.
//!
//! They are never images: airgap archives, the image list checks and the seal's image list
//! leave them out, and a build keeps them exactly while the image they belong to is listed.

use super::descriptor::Descriptor;
use super::digest::Digest;

/// The annotation naming the destination of the image an artifact belongs to.
pub const ATTACHED_TO: &str = "dev.seedforge.attached.to";
/// The annotation naming the digest an artifact refers to.
pub const ATTACHED_SUBJECT: &str = "dev.seedforge.attached.subject";
/// The annotation saying what kind of artifact it is ([`AttachedKind::as_str`]).
pub const ATTACHED_KIND: &str = "dev.seedforge.attached.kind";

/// The media type of the referrers API's answer and of the fallback tag's index.
pub const REFERRERS_INDEX: &str = super::descriptor::OCI_INDEX;

/// What an attached artifact is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AttachedKind {
    /// A cosign signature tag (`.sig`).
    Signature,
    /// A cosign attestation tag (`.att`).
    Attestation,
    /// A cosign SBOM tag (`.sbom`).
    Sbom,
    /// An OCI 1.1 referrer (a Sigstore bundle, an attestation, an SBOM…).
    Referrer,
}

impl AttachedKind {
    /// The tag kinds, in the order they are looked for.
    pub const TAGS: [AttachedKind; 3] = [
        AttachedKind::Signature,
        AttachedKind::Attestation,
        AttachedKind::Sbom,
    ];

    /// The word written in [`ATTACHED_KIND`].
    pub fn as_str(self) -> &'static str {
        match self {
            AttachedKind::Signature => "signature",
            AttachedKind::Attestation => "attestation",
            AttachedKind::Sbom => "sbom",
            AttachedKind::Referrer => "referrer",
        }
    }

    /// Parses [`AttachedKind::as_str`].
    pub fn parse(s: &str) -> Option<AttachedKind> {
        [Self::TAGS.as_slice(), &[AttachedKind::Referrer]]
            .concat()
            .into_iter()
            .find(|k| k.as_str() == s)
    }

    /// The tag cosign gives this kind of artifact for `subject`; `None` for a referrer.
    pub fn tag_for(self, subject: &Digest) -> Option<String> {
        let suffix = match self {
            AttachedKind::Signature => "sig",
            AttachedKind::Attestation => "att",
            AttachedKind::Sbom => "sbom",
            AttachedKind::Referrer => return None,
        };
        Some(format!("{}.{suffix}", fallback_tag(subject)))
    }
}

/// The referrers fallback tag of `subject` (OCI distribution spec 1.1), also the stem of
/// cosign's tags: `sha256-<hex>`.
pub fn fallback_tag(subject: &Digest) -> String {
    format!("sha256-{}", subject.hex())
}

/// The name an attached artifact is stored under in `index.json`, in the repository of the
/// image's `destination` (a full reference).
pub fn stored_name(
    repository_of_destination: &str,
    kind: AttachedKind,
    subject: &Digest,
    artifact: &Digest,
) -> String {
    match kind.tag_for(subject) {
        Some(tag) => format!("{repository_of_destination}:{tag}"),
        None => format!("{repository_of_destination}@{artifact}"),
    }
}

/// The `index.json` entry of an attached artifact: `entry` (named by the copy) with the
/// annotations that say what it is.
pub fn annotate(
    mut entry: Descriptor,
    to: &str,
    kind: AttachedKind,
    subject: &Digest,
) -> Descriptor {
    entry.annotations.insert(ATTACHED_TO.into(), to.into());
    entry
        .annotations
        .insert(ATTACHED_SUBJECT.into(), subject.to_string());
    entry
        .annotations
        .insert(ATTACHED_KIND.into(), kind.as_str().into());
    entry
}

/// What an `index.json` entry's annotations say of it, when it is an attached artifact:
/// the image it belongs to, its kind and its subject.
pub fn of_entry(entry: &Descriptor) -> Option<(&str, AttachedKind, Digest)> {
    let to = entry.annotations.get(ATTACHED_TO)?;
    let kind = AttachedKind::parse(entry.annotations.get(ATTACHED_KIND)?)?;
    let subject = entry.annotations.get(ATTACHED_SUBJECT)?.parse().ok()?;
    Some((to.as_str(), kind, subject))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_cosign_and_the_referrers_fallback() {
        let subject = Digest::of(b"image");
        let artifact = Digest::of(b"sig");
        let hex = subject.hex();
        assert_eq!(
            stored_name("r/acme/web", AttachedKind::Signature, &subject, &artifact),
            format!("r/acme/web:sha256-{hex}.sig")
        );
        assert_eq!(
            stored_name("r/acme/web", AttachedKind::Sbom, &subject, &artifact),
            format!("r/acme/web:sha256-{hex}.sbom")
        );
        assert_eq!(
            stored_name("r/acme/web", AttachedKind::Referrer, &subject, &artifact),
            format!("r/acme/web@{artifact}")
        );
        assert_eq!(fallback_tag(&subject), format!("sha256-{hex}"));
    }

    #[test]
    fn annotations_read_back() {
        let subject = Digest::of(b"image");
        let d = Descriptor::new(super::super::descriptor::OCI_MANIFEST, Digest::of(b"a"), 1);
        let d = annotate(
            d,
            "docker.io/acme/web:1",
            AttachedKind::Attestation,
            &subject,
        );
        assert_eq!(
            of_entry(&d),
            Some(("docker.io/acme/web:1", AttachedKind::Attestation, subject))
        );
        for k in [AttachedKind::Signature, AttachedKind::Referrer] {
            assert_eq!(AttachedKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(AttachedKind::parse("image"), None);
    }
}
