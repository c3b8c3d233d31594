//! The artifacts carried with an image (signatures, attestations, SBOMs, referrers: see
//! [`crate::oci::attached`]): found and opened beside it in its source, then stored.

use crate::image::ListEntry;
use crate::oci::Result;
use crate::oci::attached::{self, AttachedKind};
use crate::oci::copy::{Selection, select};
use crate::oci::descriptor::Descriptor;
use crate::oci::digest::Digest;
use crate::oci::platform::Platform;
use crate::oci::source::ImageReader;

/// An artifact found beside an image (a signature, an attestation, an SBOM, a referrer:
/// see [`crate::oci::attached`]), opened, to be stored with it.
pub struct PreparedAttachment {
    /// What it is.
    pub kind: AttachedKind,
    /// The digest it refers to: the image's root as its source serves it, or one of the
    /// platform manifests kept.
    pub subject: Digest,
    /// The name it is stored under in `index.json`.
    pub name: String,
    pub(super) reader: Box<dyn ImageReader>,
    pub(super) selection: Selection,
    pub(super) listing: Option<(Digest, Vec<u8>)>,
}

impl PreparedAttachment {
    /// The artifact's manifest.
    pub fn root(&self) -> &Descriptor {
        self.reader.root()
    }

    /// The artifact's reader (its manifest, config and layers; small documents are kept).
    pub fn reader(&self) -> &dyn ImageReader {
        self.reader.as_ref()
    }
}

/// One attached artifact as stored.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StoredAttachment {
    /// What it is.
    pub kind: AttachedKind,
    /// The digest it refers to.
    pub subject: String,
    /// Its name in `index.json`.
    pub name: String,
    /// Its manifest's digest.
    pub digest: String,
}

/// The digests signatures and referrers may name for an image: its root as the source
/// serves it and each platform manifest kept.
fn subjects_of(root: &Descriptor, selection: &Selection) -> Vec<Digest> {
    let mut subjects = vec![root.digest.clone()];
    for child in selection.kept_children() {
        if !subjects.contains(&child.digest) {
            subjects.push(child.digest.clone());
        }
    }
    subjects
}

/// Finds and opens the artifacts kept beside the image in its source.
pub(super) fn prepare_attached(
    reader: &dyn ImageReader,
    selection: &Selection,
    e: &ListEntry,
) -> Result<Vec<PreparedAttachment>> {
    let subjects = subjects_of(reader.root(), selection);
    let repository = format!(
        "{}/{}",
        e.destination.registry(),
        e.destination.repository()
    );
    let mut out = Vec::new();
    for a in reader.attached(&subjects)? {
        let name = attached::stored_name(&repository, a.kind, &a.subject, &a.descriptor.digest);
        // An artifact is carried whole, whatever platforms the images are kept for.
        let selection = select(a.reader.as_ref(), &name, &[Platform::all()])?;
        out.push(PreparedAttachment {
            kind: a.kind,
            subject: a.subject,
            name,
            reader: a.reader,
            selection,
            listing: a.listing,
        });
    }
    Ok(out)
}
