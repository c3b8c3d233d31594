//! The mirror step: every listed image into the OCI layout `OUT/oci`. It always runs: it
//! fetches only the blobs the layout lacks and leaves an unchanged `index.json` alone.
//! With a lock being written, the registry pins are recorded after mirroring.

use super::{Cx, Done, StepKind, Work};
use crate::Result;
use crate::oci::Platform;
use crate::oci::mirror::{MirroredImage, mirror_prepared};
use crate::pipeline::modes::Kind;
use crate::pipeline::seal::{is_hex64, list_dir};
use serde::Serialize;
use std::path::PathBuf;

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
        )
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
        if let Some((path, lock)) = &mut cx.lock {
            crate::pipeline::offline::record_stored(
                lock,
                &inputs.images.entries,
                &inputs.prepared,
                &mirrored,
            );
            if !lock.is_empty() {
                lock.write(path)?;
            }
        }
        Ok(Work::Done(mirrored))
    }

    fn deliver(report: Self::Report, done: &mut Done) {
        done.mirrored = report;
    }
}

/// Items joined with `, `.
pub(super) fn join(items: impl Iterator<Item = String>) -> String {
    items.collect::<Vec<_>>().join(", ")
}
