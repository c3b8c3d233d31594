//! Offline, an image whose local source (`oci:`, `oci-archive:`, `docker-archive:`) is not
//! here is taken from the output's layout at the digest the output's `manifest.json`
//! records for its destination: the far side of the gap lacks a source folder the near
//! side named since, and the delta carried the image's blobs (`apply`: its staging copy
//! holds the delta's signed `manifest.json`, and the rebuild must seal what it records), or
//! the output holds them already (the far side's own `build --offline` after that). A
//! source that is here is read as always; one that is neither here nor sealed in the
//! output is refused as before, naming it.

use crate::image::{ImageSource, ListEntry};
use crate::oci::Digest;
use crate::pipeline::seal;
use std::collections::BTreeMap;
use std::path::Path;

/// The local entries of `entries` whose source is not here and whose destination the
/// output's `manifest.json` records, with the digest it records.
pub(crate) fn sealed_roots<'a>(
    output: &Path,
    entries: &'a [ListEntry],
) -> Vec<(&'a ListEntry, Digest)> {
    let missing: Vec<&ListEntry> = (entries.iter())
        .filter(|e| source_missing(&e.source))
        .collect();
    if missing.is_empty() {
        return Vec::new();
    }
    let recorded = recorded_images(output);
    (missing.into_iter())
        .filter_map(|e| {
            let digest = recorded.get(&e.destination.to_string())?.parse().ok()?;
            Some((e, digest))
        })
        .collect()
}

/// What the build says of an image taken so.
pub(crate) fn note(entry: &ListEntry, output: &Path, digest: &Digest) -> String {
    format!(
        "image {}: its source {} is not here; taken from {} as {} records it ({digest})",
        entry.destination,
        entry.source,
        output.join("oci").display(),
        output.join(seal::MANIFEST).display()
    )
}

/// A local source with nothing at its path.
fn source_missing(source: &ImageSource) -> bool {
    let path = match source {
        ImageSource::Registry(_) => return false,
        ImageSource::OciDir { path, .. }
        | ImageSource::OciArchive { path, .. }
        | ImageSource::DockerArchive { path, .. } => path,
    };
    std::fs::symlink_metadata(path).is_err()
}

/// The images `output/manifest.json` records: destination → digest (none when it cannot
/// be read).
fn recorded_images(output: &Path) -> BTreeMap<String, String> {
    #[derive(serde::Deserialize)]
    struct Facts {
        #[serde(default)]
        images: Vec<seal::ImageRecord>,
    }
    crate::input::read_found(&output.join(seal::MANIFEST), crate::input::Kind::Manifest)
        .ok()
        .and_then(|b| serde_json::from_slice::<Facts>(&b).ok())
        .map(|f| {
            (f.images.into_iter())
                .map(|i| (i.destination, i.digest))
                .collect()
        })
        .unwrap_or_default()
}
