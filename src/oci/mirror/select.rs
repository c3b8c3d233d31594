//! What preparing an image decides from its manifests: the layers of other platforms than
//! the run's, and the list line an error is told at.

use super::super::descriptor::{Descriptor, ManifestDoc, ManifestKind};
use super::super::platform::Platform;
use super::super::source::ImageReader;
use super::super::{OciError, Result};
use crate::image::ListEntry;
use crate::oci::copy::selected_children;

/// Prefixes an input error with the list file and line it came from.
pub(super) fn at_line(err: OciError, entry: &ListEntry) -> OciError {
    let at = format!("{}:{}", entry.path.display(), entry.line);
    match err {
        OciError::Source {
            source_name,
            message,
        } => OciError::Source {
            source_name: format!("{at}: {source_name}"),
            message,
        },
        OciError::Unsupported(msg) => OciError::Unsupported(format!("{at}: {msg}")),
        OciError::Json { context, source } => OciError::Json {
            context: format!("{at}: {context}"),
            source,
        },
        OciError::DigestMismatch {
            context,
            expected,
            expected_size,
            actual_digest,
            actual_size,
        } => OciError::DigestMismatch {
            context: format!("{at}: {context}"),
            expected,
            expected_size,
            actual_digest,
            actual_size,
        },
        OciError::NoMatchingPlatform {
            image,
            wanted,
            available,
        } => OciError::NoMatchingPlatform {
            image: format!("{at}: {image}"),
            wanted,
            available,
        },
        already @ (OciError::AtEntry { .. } | OciError::Entries(_)) => already,
        other => OciError::AtEntry {
            at,
            error: Box::new(other),
        },
    }
}

/// The layers of the manifests `platforms` selects from an image (the run's own
/// platforms are in [`crate::oci::copy::Selection::layers`]; this reads the manifests again).
pub(super) fn selected_layers(
    reader: &dyn ImageReader,
    platforms: &[Platform],
) -> Result<Vec<Descriptor>> {
    let root = reader.root().clone();
    let parse = |d: &Descriptor, bytes: &[u8]| {
        ManifestDoc::parse(bytes).map_err(|source| OciError::Json {
            context: format!("{}: manifest {}", reader.describe(), d.digest),
            source,
        })
    };
    let doc = parse(&root, &reader.read_document(&root)?)?;
    let manifests = match doc.kind(Some(&root.media_type)) {
        Some(ManifestKind::Index) => {
            let children = doc.manifests.unwrap_or_default();
            let mut docs = Vec::new();
            for i in selected_children(&children, platforms) {
                let child = &children[i];
                docs.push(parse(child, &reader.read_document(child)?)?);
            }
            docs
        }
        _ => vec![doc],
    };
    Ok(manifests
        .into_iter()
        .flat_map(|m| m.layers.unwrap_or_default())
        .collect())
}
