//! The mirror step: every listed image into the OCI layout `OUT/oci`. It always runs: it
//! fetches only the blobs the layout lacks and leaves an unchanged `index.json` alone.
//! With a lock being written, the registry pins are recorded after mirroring, with what
//! the signature policy verified of each image.
//!
//! The layout holds exactly the images the config lists: an image an earlier build
//! mirrored that no list names any more leaves `index.json` (the plan says which), and
//! the blobs nothing else reaches are removed, so that `push`, the seal and `gc` never
//! carry it on.

use super::{Cx, Done, StepKind, Work};
use crate::Result;
use crate::image::ListEntry;
use crate::oci::mirror::{MirroredImage, mirror_prepared};
use crate::oci::{Layout, Platform};
use crate::pipeline::modes::Kind;
use crate::pipeline::seal::{is_hex64, list_dir};
use serde::Serialize;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// Copy every listed image into the OCI layout.
#[derive(Debug, Clone, Serialize)]
pub struct Mirror {
    /// The image list files.
    pub lists: Vec<PathBuf>,
    /// The layout directory.
    pub layout: PathBuf,
    /// Platforms kept.
    pub platforms: Vec<Platform>,
    /// Number of images.
    pub images: usize,
    /// Images copied at once.
    pub concurrency: usize,
    /// `--offline`: registry images come from the layout, as `seedforge.lock` pins them.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub offline: bool,
    /// Images the layout holds that no list names any more: they leave it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unlisted: Vec<String>,
    /// Images named by their index digest, kept whole: what that adds to the platforms.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub kept_whole: Vec<KeptWhole>,
}

/// An image a list names by the digest of its index (`NAME:TAG@sha256:…`): the layout,
/// the archives and the registry keep that index whole, every platform and attestation
/// manifest, since any subset is another index under another digest.
#[derive(Debug, Clone, Serialize)]
pub struct KeptWhole {
    /// The destination, digest included.
    pub image: String,
    /// The manifests kept beyond the platforms selected (`linux/arm64`, `attestation`).
    pub added: Vec<String>,
    /// The bytes they add (their manifests, configs and layers not shared).
    pub added_bytes: u64,
}

impl KeptWhole {
    /// The pinned images among `prepared` (by position in `entries`).
    pub fn of(
        entries: &[ListEntry],
        prepared: &[crate::oci::mirror::PreparedImage],
        platforms: &[Platform],
    ) -> Vec<KeptWhole> {
        (entries.iter().zip(prepared))
            .filter(|(_, p)| p.pinned_whole())
            .map(|(e, p)| {
                let (added, added_bytes) = p.whole_cost(platforms);
                KeptWhole {
                    image: e.destination.to_string(),
                    added,
                    added_bytes,
                }
            })
            .collect()
    }
}

/// The destinations `entries` name, as the layout's `index.json` names images.
fn listed(entries: &[ListEntry]) -> HashSet<String> {
    entries.iter().map(|e| e.destination.to_string()).collect()
}

/// Whether the image named `name` in a layout is one of `listed`; a name that is no image
/// reference is not seedforge's to remove.
fn is_listed(listed: &HashSet<String>, name: &str) -> bool {
    crate::image::Reference::parse(name).map_or(true, |r| listed.contains(&r.to_string()))
}

/// Whether an `index.json` entry stays: an image a list names (or an entry that is not
/// seedforge's), or an artifact stored with a listed image (see [`crate::oci::attached`]).
fn stays(listed: &HashSet<String>, entry: &crate::oci::Descriptor) -> bool {
    match crate::oci::attached::of_entry(entry) {
        Some((to, _, _)) => is_listed(listed, to),
        None => entry.ref_name().is_none_or(|n| is_listed(listed, n)),
    }
}

/// The images the layout at `layout` holds that `entries` no longer name (none when there
/// is no layout yet, or its `index.json` cannot be read: the mirror step reports that).
pub fn unlisted(layout: &Path, entries: &[ListEntry]) -> Vec<String> {
    if !layout.join("index.json").exists() {
        return Vec::new();
    }
    let listed = listed(entries);
    Layout::open(layout)
        .and_then(|l| l.read_index())
        .map(|index| {
            index
                .manifests
                .iter()
                .filter(|e| crate::oci::attached::of_entry(e).is_none())
                .filter(|e| !stays(&listed, e))
                .filter_map(|e| e.ref_name())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

impl StepKind for Mirror {
    type Report = Vec<MirroredImage>;
    type Kept = ();
    const NAME: &'static str = "mirror";

    fn describe(&self) -> String {
        format!(
            "mirror {} images from {} into {} for {} ({} at a time){}",
            self.images,
            join(self.lists.iter().map(|p| p.display().to_string())),
            self.layout.display(),
            join(self.platforms.iter().map(ToString::to_string)),
            self.concurrency,
            if self.offline {
                "; offline: registry images are kept from the layout as seedforge.lock pins them"
            } else {
                ""
            }
        ) + &self.describe_unlisted()
            + &self.describe_kept_whole()
    }

    fn artifacts(&self, out: &mut dyn FnMut(PathBuf, Kind)) -> Result<()> {
        out(self.layout.join("oci-layout"), Kind::Plain);
        out(self.layout.join("index.json"), Kind::Plain);
        let blobs = self.layout.join("blobs").join("sha256");
        for p in list_dir(&blobs)? {
            if p.file_name().and_then(|n| n.to_str()).is_some_and(is_hex64) {
                out(p, Kind::Plain);
            }
        }
        Ok(())
    }

    fn run<'p>(&'p self, cx: &mut Cx<'p>) -> Result<Work<'p, Self::Report>> {
        let inputs = cx.inputs;
        let mirrored = mirror_prepared(
            &inputs.images.entries,
            &inputs.prepared,
            &self.layout,
            &inputs.mirror,
            cx.reporter,
        )?
        .images;
        // What leaves: the images planning found unlisted (the build lock keeps that so),
        // the artifacts stored with them, and artifacts their sources no longer keep.
        self.drop_unlisted(&inputs.images.entries, &mirrored, cx.reporter)?;
        if let Some((_, lock)) = &mut cx.lock {
            crate::pipeline::offline::record_stored(
                lock,
                &inputs.images.entries,
                &inputs.prepared,
                &mirrored,
            );
            crate::pipeline::offline::record_verified(
                lock,
                &inputs.images.entries,
                &inputs.prepared,
                &mirrored,
            );
        }
        Ok(Work::Done(mirrored))
    }

    fn pin_planned(&self, cx: &mut Cx<'_>) -> Result<()> {
        let inputs = cx.inputs;
        if let Some((_, lock)) = &mut cx.lock {
            crate::pipeline::offline::record_planned(
                lock,
                &inputs.images.entries,
                &inputs.prepared,
            )?;
        }
        Ok(())
    }

    fn deliver(report: Self::Report, done: &mut Done) {
        done.mirrored = report;
    }
}

impl Mirror {
    fn describe_kept_whole(&self) -> String {
        let each: Vec<String> = (self.kept_whole.iter())
            .filter(|k| !k.added.is_empty())
            .map(|k| {
                let (attestations, platforms): (Vec<&String>, Vec<&String>) =
                    k.added.iter().partition(|a| *a == "attestation");
                let mut adds: Vec<String> = platforms.into_iter().cloned().collect();
                if !attestations.is_empty() {
                    adds.push(format!("{} attestation manifest(s)", attestations.len()));
                }
                format!(
                    "{} (adds {}: {})",
                    k.image,
                    adds.join(", "),
                    crate::util::human_bytes(k.added_bytes)
                )
            })
            .collect();
        if each.is_empty() {
            return String::new();
        }
        format!(
            "; kept whole, as named by their index digest (a platform subset would be another digest, which the nodes do not ask for), in the layout, every airgap archive and the registry: {}",
            each.join("; ")
        )
    }

    fn describe_unlisted(&self) -> String {
        if self.unlisted.is_empty() {
            return String::new();
        }
        let names: Vec<&str> = self.unlisted.iter().map(String::as_str).collect();
        format!(
            "; {} image(s) no image list names any more leave the layout, with the blobs only they use: {}",
            names.len(),
            crate::suggest::listing(&names, None)
        )
    }

    /// Removes the images no list names from `index.json` with the artifacts stored with
    /// them, and the artifacts this run did not find beside their images, then the blobs
    /// nothing reaches any more (as `seedforge gc` does).
    fn drop_unlisted(
        &self,
        entries: &[ListEntry],
        mirrored: &[MirroredImage],
        reporter: &dyn crate::Reporter,
    ) -> Result<()> {
        let layout = Layout::open(&self.layout)?;
        let listed = listed(entries);
        let found: HashSet<&str> = mirrored
            .iter()
            .flat_map(|m| m.attached.iter().map(|a| a.name.as_str()))
            .collect();
        let removed = layout.retain(&|e| {
            stays(&listed, e)
                && (crate::oci::attached::of_entry(e).is_none()
                    || e.ref_name().is_some_and(|n| found.contains(n)))
        })?;
        if removed.is_empty() {
            return Ok(());
        }
        match crate::oci::verify::gc(&layout) {
            Ok(_) => Ok(()),
            // The images are gone from index.json either way; their blobs wait for the next
            // build or `seedforge gc`.
            Err(e) => {
                reporter.warning(&format!(
                    "{}: the blobs of images no longer listed stay for now: {e}",
                    self.layout.display()
                ));
                Ok(())
            }
        }
    }
}

/// Items joined with `, `.
pub(super) fn join(items: impl Iterator<Item = String>) -> String {
    items.collect::<Vec<_>>().join(", ")
}
