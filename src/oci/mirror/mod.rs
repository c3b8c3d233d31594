//! Copying a whole image list into one layout, many blobs at a time.
//!
//! Every source is opened (registry tags resolved to digests, root manifests read and
//! platforms chosen) before anything is written, so a list naming a missing file, tag or
//! platform, or a registry refusing access, fails with nothing changed.
//!
//! Registry images are opened against the layout: a tag is resolved with a HEAD, and a
//! manifest, index or config the layout already holds is read from it, not fetched.
//!
//! Then the layers of every selected manifest are gathered and deduplicated across the
//! whole list: a layer shared by twenty images is fetched once, and layers already in the
//! store are not fetched at all. The unique layers are fetched by a bounded pool of
//! threads, largest first so the long downloads start early. Finally each image is copied
//! as before (configs, manifests, index, then its `index.json` entry), finding its layers
//! already in place. A layer whose content does not match its digest is fetched again a
//! few times before it counts as failed.

//!
//! The parts, in the order a run takes them: `options` (how to mirror), `prepare` (every
//! source opened and checked), `attachments` (the artifacts beside an image), [`policy`]
//! (the signatures an image must carry), `fetch` (the layers, deduplicated and fetched by
//! a pool of threads), `store` (images copied and named) and `results` (what the run
//! tells). This file runs them: [`mirror`], and [`mirror_prepared`] for a list already
//! prepared.

mod attachments;
mod fetch;
mod options;
pub mod policy;
mod prepare;
mod results;
mod select;
mod store;

pub use attachments::{PreparedAttachment, StoredAttachment};
pub use fetch::BLOB_ATTEMPTS;
pub use options::MirrorOptions;
pub use prepare::{OpenOverride, PreparedImage, prepare, prepare_with};
pub use results::{MirrorRun, MirrorSummary, MirroredImage};

use super::layout::Layout;
use super::{OciError, Result};
use crate::image::ListEntry;
use crate::report::Reporter;
use fetch::{FetchQueue, Fetched};
use options::{effective_platforms, opener_count};
use prepare::{entries_failed, prepare_one};
use select::at_line;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Instant;
use store::Run;

/// Mirrors every entry into the layout at `layout_dir` (created if needed). Returns one
/// result per entry, in list order.
///
/// Local sources (`oci:`, `oci-archive:`, `docker-archive:`) are opened first, and every
/// blob they need is checked to be in place, before the layout is created or touched.
/// Images are opened several at a time, and the layers of each opened image are fetched
/// while the others are still being opened. If any image cannot be opened, the run fails
/// with the first such error in list order and names nothing in `index.json`; a layout
/// directory this run created is removed again.
pub fn mirror(
    entries: &[ListEntry],
    layout_dir: &Path,
    options: &MirrorOptions,
    reporter: &dyn Reporter,
) -> Result<MirrorRun> {
    let started = Instant::now();
    let platforms = effective_platforms(&options.platforms);
    // Local sources are opened and checked whole before the layout is touched: a list
    // line naming a broken one is refused with nothing written.
    let local: Vec<usize> = (0..entries.len())
        .filter(|&i| entries[i].source.is_local())
        .collect();
    let local_entries: Vec<ListEntry> = local.iter().map(|&i| entries[i].clone()).collect();
    let local_prepared = prepare(&local_entries, options)?;
    let created = first_missing_ancestor(layout_dir);
    let layout = Layout::create(layout_dir)?;
    let present = layout.presence();
    let destinations: Vec<String> = entries.iter().map(|e| e.destination.to_string()).collect();
    let slots: Vec<OnceLock<PreparedImage>> = entries.iter().map(|_| OnceLock::new()).collect();
    let errors = Mutex::new(Vec::new());
    let queue = FetchQueue::default();
    for (i, p) in local.into_iter().zip(local_prepared) {
        queue.add_image(i, slots[i].get_or_init(|| p).selection.layers(), &present);
    }
    let fetched = Mutex::new(Fetched::default());
    let next = AtomicUsize::new(0);
    let reader_of = |i: usize| slots.get(i)?.get().map(|p| p.reader.as_ref());
    std::thread::scope(|scope| {
        for _ in 0..options.concurrency.max(1) {
            scope.spawn(|| {
                let keep_going = options.keep_going;
                queue.work(
                    &reader_of,
                    &layout,
                    &destinations,
                    keep_going,
                    reporter,
                    &fetched,
                )
            });
        }
        let openers: Vec<_> = (0..opener_count(options, entries.len()))
            .map(|_| {
                scope.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(e) = entries.get(i) else { break };
                        if slots[i].get().is_some() {
                            continue;
                        }
                        let known = Some(layout.root());
                        match prepare_one(e, options, &platforms, &|_| None, known) {
                            Ok(found) => {
                                // The reader must be in place before its layers are queued.
                                let p = slots[i].get_or_init(|| found);
                                queue.add_image(i, p.selection.layers(), &present);
                            }
                            Err(err) => {
                                if let Ok(mut v) = errors.lock() {
                                    v.push((i, at_line(err, e)));
                                }
                            }
                        }
                    }
                })
            })
            .collect();
        for h in openers {
            let _ = h.join();
        }
        let failed = errors.lock().map(|v| !v.is_empty()).unwrap_or(true);
        if failed { queue.stop() } else { queue.close() }
    });
    tracing::debug!("opened and fetched in {:?}", started.elapsed());
    let mut errors = errors.into_inner().unwrap_or_default();
    if !errors.is_empty() {
        errors.sort_by_key(|(i, _)| *i);
        let others_writing = layout.has_live_writers().unwrap_or(true);
        drop(layout);
        if let Some(dir) = created.filter(|_| !others_writing) {
            let _ = std::fs::remove_dir_all(dir);
        }
        return Err(entries_failed(errors.into_iter().map(|(_, e)| e).collect()));
    }
    let opened: Option<Vec<_>> = slots.iter().map(OnceLock::get).collect();
    let Some(prepared) = opened else {
        return Err(OciError::Unsupported(
            "an image could not be opened (a worker thread failed)".into(),
        ));
    };
    let run = Run {
        entries,
        layout: &layout,
        present: &present,
        options,
        reporter,
        started,
    };
    run.complete(&prepared, &queue, fetched.into_inner().unwrap_or_default())
}

/// The outermost directory of `path` that does not exist yet (what creating it adds).
fn first_missing_ancestor(path: &Path) -> Option<std::path::PathBuf> {
    let mut missing = None;
    for p in path.ancestors() {
        if p.as_os_str().is_empty() || p.exists() {
            break;
        }
        missing = Some(p.to_path_buf());
    }
    missing
}

/// [`mirror`] with the images already prepared by [`prepare()`] (`prepared[i]` belongs to
/// `entries[i]`).
pub fn mirror_prepared(
    entries: &[ListEntry],
    prepared: &[PreparedImage],
    layout_dir: &Path,
    options: &MirrorOptions,
    reporter: &dyn Reporter,
) -> Result<MirrorRun> {
    let started = Instant::now();
    let layout = Layout::create(layout_dir)?;
    let present = layout.presence();
    let queue = FetchQueue::default();
    for (i, p) in prepared.iter().enumerate() {
        queue.add_image(i, p.selection.layers(), &present);
    }
    queue.close();
    let destinations: Vec<String> = entries.iter().map(|e| e.destination.to_string()).collect();
    let fetched = Mutex::new(Fetched::default());
    let reader_of = |i: usize| prepared.get(i).map(|p| p.reader.as_ref());
    std::thread::scope(|scope| {
        for _ in 0..options.concurrency.max(1) {
            scope.spawn(|| {
                let keep_going = options.keep_going;
                queue.work(
                    &reader_of,
                    &layout,
                    &destinations,
                    keep_going,
                    reporter,
                    &fetched,
                )
            });
        }
    });
    let prepared: Vec<&PreparedImage> = prepared.iter().collect();
    let run = Run {
        entries,
        layout: &layout,
        present: &present,
        options,
        reporter,
        started,
    };
    run.complete(&prepared, &queue, fetched.into_inner().unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::results::summary;
    use super::*;
    use crate::oci::descriptor::{
        ANNOTATION_REF_NAME, Descriptor, OCI_CONFIG, OCI_LAYER_TAR, OCI_MANIFEST,
    };

    #[test]
    fn an_images_summary_counts_the_layers_fetched_for_it() {
        let dir = tempfile::tempdir().unwrap();
        let source = Layout::create(&dir.path().join("src")).unwrap();
        let config =
            br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
        let layer = vec![7u8; 300 * 1024];
        let config_digest = source.write_blob_bytes(config, None, "t").unwrap();
        let layer_digest = source.write_blob_bytes(&layer, None, "t").unwrap();
        let manifest = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"{OCI_CONFIG}","digest":"{config_digest}","size":{}}},"layers":[{{"mediaType":"{OCI_LAYER_TAR}","digest":"{layer_digest}","size":{}}}]}}"#,
            config.len(),
            layer.len()
        );
        let digest = source
            .write_blob_bytes(manifest.as_bytes(), None, "t")
            .unwrap();
        let mut entry = Descriptor::new(OCI_MANIFEST, digest, manifest.len() as u64);
        entry
            .annotations
            .insert(ANNOTATION_REF_NAME.to_string(), "app:1".to_string());
        source.add_to_index(vec![entry]).unwrap();
        let list = crate::image::ImageList::parse(
            "oci:src:app:1 example.com/app:1\n",
            &dir.path().join("images.txt"),
        )
        .unwrap();
        let tally = crate::report::Tally::default();
        let run = mirror(
            &list.entries,
            &dir.path().join("out"),
            &MirrorOptions::default(),
            &tally,
        )
        .unwrap();
        let outcome = &run.images[0].outcome;
        assert!(outcome.bytes_written > layer.len() as u64, "{outcome:?}");
        tally.assert_counts();
        let finished = tally.finished.lock().unwrap();
        assert_eq!(finished.len(), 1);
        assert_eq!(finished[0].1, summary(outcome), "what the item told");
    }
}
