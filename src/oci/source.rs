//! The interface between image sources and the store: an opened image exposes its root
//! descriptor (a manifest or an index) and can stream any blob under it. Local files
//! (`oci:`, `oci-archive:`, `docker-archive:`) implement it today; a registry client
//! implements the same trait, so copying and platform selection are written once. An
//! artifact a source keeps beside an image (see [`super::attached`]) comes opened the same
//! way, as an [`Attached`] with a reader of its own.

use super::attached::AttachedKind;
use super::descriptor::Descriptor;
use super::digest::Digest;
use super::layout::MAX_DOCUMENT_SIZE;
use super::{OciError, Result};
use std::io::Read;

/// One image, opened in its source.
pub trait ImageReader: Send + Sync {
    /// The source as the user wrote it, for messages (`oci-archive:traefik.tar`).
    fn describe(&self) -> String;

    /// The descriptor of the image's top-level manifest or index.
    fn root(&self) -> &Descriptor;

    /// Streams a blob that the root references directly or indirectly (including the root
    /// itself). Implementations need not check the digest: the store does while it writes.
    fn open_blob(&self, descriptor: &Descriptor) -> Result<Box<dyn Read + Send + '_>>;

    /// Checks, without reading it, that a blob is there as a regular file of the size its
    /// descriptor gives, so a local source missing a layer is refused before anything is
    /// written. Sources that can only tell by fetching (registries) accept every blob here.
    fn check_blob(&self, descriptor: &Descriptor) -> Result<()> {
        let _ = descriptor;
        Ok(())
    }

    /// The artifacts this source keeps beside the image for each of `subjects` (the
    /// image's root and the platform manifests kept): cosign's signature, attestation and
    /// SBOM tags and OCI 1.1 referrers, each opened. Sources that keep none (archives)
    /// have none.
    fn attached(&self, subjects: &[Digest]) -> Result<Vec<Attached>> {
        let _ = subjects;
        Ok(Vec::new())
    }

    /// Reads a manifest, index or config whole and checks it against its descriptor.
    fn read_document(&self, descriptor: &Descriptor) -> Result<Vec<u8>> {
        if descriptor.size > MAX_DOCUMENT_SIZE {
            return Err(OciError::Source {
                source_name: self.describe(),
                message: format!(
                    "{} claims {} bytes, more than the {MAX_DOCUMENT_SIZE}-byte limit for a manifest or config",
                    descriptor.digest, descriptor.size
                ),
            });
        }
        let mut bytes = Vec::with_capacity(descriptor.size as usize);
        self.open_blob(descriptor)?
            .take(descriptor.size + 1)
            .read_to_end(&mut bytes)
            .map_err(|source| OciError::Read {
                context: format!("{} ({})", self.describe(), descriptor.digest),
                source,
            })?;
        let actual = Digest::of(&bytes);
        if actual != descriptor.digest || bytes.len() as u64 != descriptor.size {
            return Err(OciError::DigestMismatch {
                context: self.describe(),
                expected: descriptor.digest.clone(),
                expected_size: descriptor.size,
                actual_digest: actual,
                actual_size: bytes.len() as u64,
            });
        }
        Ok(bytes)
    }
}

/// An artifact found beside an image in its source, opened: its own reader (rooted at the
/// artifact's manifest) and what it is.
pub struct Attached {
    /// What it is.
    pub kind: AttachedKind,
    /// The digest it refers to.
    pub subject: Digest,
    /// The artifact's manifest.
    pub descriptor: Descriptor,
    /// Reads the artifact (its manifest, config and layers).
    pub reader: Box<dyn ImageReader>,
    /// The referrers fallback tag's index it was listed in (digest and bytes), kept beside
    /// the layout so that a warm run need not fetch it again.
    pub listing: Option<(Digest, Vec<u8>)>,
}
