//! Storing the prepared images, their layers fetched: each image copied, the artifacts it
//! carries stored, and every image copied whole named in one `index.json` update.

use super::attachments::{PreparedAttachment, StoredAttachment};
use super::fetch::{FetchQueue, Fetched};
use super::options::{MirrorOptions, opener_count};
use super::prepare::PreparedImage;
use super::results::{Extras, MirrorRun, finish, summary};
use crate::image::{ImageSource, ListEntry};
use crate::oci::attached;
use crate::oci::copy::{CopyOutcome, copy_image_blobs};
use crate::oci::descriptor::Descriptor;
use crate::oci::digest::Digest;
use crate::oci::layout::{Layout, Presence};
use crate::oci::{OciError, Result};
use crate::report::Reporter;
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

/// What every step after fetching needs.
pub(super) struct Run<'a> {
    pub entries: &'a [ListEntry],
    pub layout: &'a Layout,
    pub present: &'a Presence,
    pub options: &'a MirrorOptions,
    pub reporter: &'a dyn Reporter,
    pub started: Instant,
}

impl Run<'_> {
    /// Copies the images (their layers now fetched), credits each fetched layer to the
    /// first image in list order that needs it, and totals the run.
    pub fn complete(
        &self,
        prepared: &[&PreparedImage],
        queue: &FetchQueue,
        fetched: Fetched,
    ) -> Result<MirrorRun> {
        tracing::debug!("layers fetched at {:?}", self.started.elapsed());
        let Fetched {
            written,
            mut failed,
        } = fetched;
        let stop = !self.options.keep_going && !failed.is_empty();
        // Each fetched layer is counted for the first image that has it, before that
        // image's copy reports what it wrote (the layers are most of it).
        let mut first_owner: HashMap<&Digest, usize> = HashMap::new();
        for (i, p) in prepared.iter().enumerate() {
            for l in p.selection.layers() {
                first_owner.entry(&l.digest).or_insert(i);
            }
        }
        let mut fetched_for = vec![(0usize, 0u64); prepared.len()];
        for (digest, size) in &written {
            if let Some(credit) = (first_owner.get(digest)).and_then(|&i| fetched_for.get_mut(i)) {
                credit.0 += 1;
                credit.1 += size;
            }
        }
        let mut outcomes = self.copy_all(prepared, &mut failed, stop, &fetched_for);
        tracing::debug!("images copied at {:?}", self.started.elapsed());
        let (mut attached, attached_entries) = self.copy_attached(prepared, &mut outcomes);
        self.name_copied(&mut outcomes, &mut attached, attached_entries);
        let extras: Vec<Extras> = attached
            .into_iter()
            .zip(prepared.iter().map(|p| p.verified.clone()))
            .collect();
        let (referenced, present) = queue.totals();
        let fetched_bytes: u64 = written.iter().map(|(_, size)| size).sum();
        let saved = referenced.saturating_sub(fetched_bytes);
        finish(
            self.entries,
            outcomes,
            extras,
            saved,
            present,
            self.started,
            self.options,
        )
    }
}

impl Run<'_> {
    /// Copies every image (its layers now in place), `concurrency` at a time; none is
    /// named yet ([`Run::name_copied`] names them). An image whose layer failed to fetch fails with
    /// that error; with `stop`, nothing is copied. `None` marks an image not copied because
    /// the run stopped after a failure.
    fn copy_all(
        &self,
        prepared: &[&PreparedImage],
        failed_blobs: &mut HashMap<Digest, OciError>,
        stop: bool,
        fetched_for: &[(usize, u64)],
    ) -> Vec<Option<Result<CopyOutcome>>> {
        let mut slots = self.assign_fetch_failures(prepared, failed_blobs);
        if stop {
            return slots;
        }
        let todo: Vec<usize> = (0..self.entries.len())
            .filter(|&i| slots[i].is_none())
            .collect();
        let next = AtomicUsize::new(0);
        let results = Mutex::new(Vec::new());
        let halt = AtomicBool::new(false);
        std::thread::scope(|scope| {
            for _ in 0..self.options.concurrency.clamp(1, todo.len().max(1)) {
                scope.spawn(|| {
                    while !halt.load(Ordering::Relaxed) {
                        let Some(&i) = todo.get(next.fetch_add(1, Ordering::Relaxed)) else {
                            break;
                        };
                        let fetched = fetched_for.get(i).copied().unwrap_or_default();
                        let result = self.copy_one(prepared[i], i, fetched);
                        if result.is_err() && !self.options.keep_going {
                            halt.store(true, Ordering::Relaxed);
                        }
                        if let Ok(mut r) = results.lock() {
                            r.push((i, result));
                        }
                    }
                });
            }
        });
        for (i, r) in results.into_inner().unwrap_or_default() {
            slots[i] = Some(r);
        }
        slots
    }

    /// Hands each layer that failed to fetch to the first image (in list order) that
    /// needed it; the other images needing it get an error pointing there.
    fn assign_fetch_failures(
        &self,
        prepared: &[&PreparedImage],
        failed_blobs: &mut HashMap<Digest, OciError>,
    ) -> Vec<Option<Result<CopyOutcome>>> {
        let failed: Vec<Digest> = failed_blobs.keys().cloned().collect();
        let mut slots: Vec<Option<Result<CopyOutcome>>> =
            (0..self.entries.len()).map(|_| None).collect();
        for (i, p) in prepared.iter().enumerate() {
            let Some(layer) = p.selection.layers().find(|l| failed.contains(&l.digest)) else {
                continue;
            };
            let entry = &self.entries[i];
            let e = failed_blobs
                .remove(&layer.digest)
                .unwrap_or_else(|| OciError::Read {
                    context: format!("{} (from {})", entry.destination, entry.source),
                    source: std::io::Error::other(format!(
                        "blob {} could not be fetched (see the image listed before)",
                        layer.digest
                    )),
                });
            slots[i] = Some(Err(e));
        }
        slots
    }

    /// Copies image `i`; `fetched` are the layers (count, bytes) fetched for it, which its
    /// outcome and the finished item's summary include.
    fn copy_one(
        &self,
        prepared: &PreparedImage,
        i: usize,
        fetched: (usize, u64),
    ) -> Result<CopyOutcome> {
        let destination = self.entries[i].destination.to_string();
        let reporter = self.reporter;
        reporter.item_started(&destination, i, self.entries.len());
        let result = copy_image_blobs(
            prepared.reader.as_ref(),
            &prepared.selection,
            self.layout,
            self.present,
            &destination,
            &mut |n| reporter.item_progress(&destination, n),
        )
        .map(|mut o| {
            o.blobs_written += fetched.0;
            o.bytes_written += fetched.1;
            o.blobs_present = o.blobs_present.saturating_sub(fetched.0);
            o
        });
        if let Ok(o) = &result {
            self.keep_source_index(prepared, o, i);
        }
        // An image that carries artifacts is finished once they are stored too
        // ([`Run::copy_attached`]): one that cannot be stored fails the image.
        match &result {
            Ok(_) if !prepared.attached.is_empty() => {}
            Ok(o) => reporter.item_finished(&destination, &summary(o)),
            Err(e) => reporter.item_finished(&destination, &format!("failed: {e}")),
        }
        result
    }
}

impl Run<'_> {
    /// Stores the artifacts found beside each image copied (small documents, a few blobs
    /// each), `concurrency` at a time. An image whose artifact cannot be stored fails with
    /// that error. Returns what each image (by position) had stored, and the entries that
    /// name them ([`Run::name_copied`] names them with their image).
    fn copy_attached(
        &self,
        prepared: &[&PreparedImage],
        outcomes: &mut [Option<Result<CopyOutcome>>],
    ) -> (Vec<Vec<StoredAttachment>>, Vec<Vec<Descriptor>>) {
        let todo: Vec<(usize, &PreparedAttachment)> = (0..prepared.len())
            .filter(|&i| matches!(outcomes.get(i), Some(Some(Ok(_)))))
            .flat_map(|i| prepared[i].attached.iter().map(move |a| (i, a)))
            .collect();
        let mut stored = vec![Vec::new(); prepared.len()];
        if todo.is_empty() {
            return (stored, vec![Vec::new(); prepared.len()]);
        }
        let next = AtomicUsize::new(0);
        let results = Mutex::new(Vec::with_capacity(todo.len()));
        std::thread::scope(|scope| {
            // Small documents: round trips cost latency, not bandwidth (as for opening).
            for _ in 0..opener_count(self.options, todo.len()) {
                scope.spawn(|| {
                    while let Some(&(i, a)) = todo.get(next.fetch_add(1, Ordering::Relaxed)) {
                        let to = self.entries[i].destination.to_string();
                        let copied = copy_image_blobs(
                            a.reader.as_ref(),
                            &a.selection,
                            self.layout,
                            self.present,
                            &a.name,
                            &mut |_| {},
                        )
                        .map(|o| attached::annotate(o.entry, &to, a.kind, &a.subject));
                        // The fallback tag's index, so that a warm run finds it here.
                        if let Some((digest, bytes)) = &a.listing
                            && let Err(e) = self.layout.keep_source_index(digest, bytes)
                        {
                            tracing::debug!("{}: referrers index not kept: {e}", a.name);
                        }
                        if let Ok(mut r) = results.lock() {
                            r.push((i, a, copied));
                        }
                    }
                });
            }
        });
        let mut results = results.into_inner().unwrap_or_default();
        results.sort_by(|x, y| (x.0, &x.1.name).cmp(&(y.0, &y.1.name)));
        let mut entries = vec![Vec::new(); prepared.len()];
        let mut carrying = Vec::new();
        for (i, a, copied) in results {
            if carrying.last() != Some(&i) {
                carrying.push(i);
            }
            match copied {
                Ok(entry) => {
                    stored[i].push(StoredAttachment {
                        kind: a.kind,
                        subject: a.subject.to_string(),
                        name: a.name.clone(),
                        digest: entry.digest.to_string(),
                    });
                    entries[i].push(entry);
                }
                Err(e) => {
                    if let Some(slot) = outcomes.get_mut(i) {
                        *slot = Some(Err(e));
                    }
                }
            }
        }
        // The images whose finish waited for their artifacts (see `copy_one`).
        for i in carrying {
            let destination = self.entries[i].destination.to_string();
            match outcomes.get(i) {
                Some(Some(Ok(o))) => self.reporter.item_finished(&destination, &summary(o)),
                Some(Some(Err(e))) => {
                    (self.reporter).item_finished(&destination, &format!("failed: {e}"));
                }
                _ => {}
            }
        }
        (stored, entries)
    }

    /// Names in one `index.json` update every image copied whole (itself and every artifact
    /// it carries), and nothing of an image that failed, its artifacts included: an image
    /// is named only once all of it is stored. If the update fails, nothing is named: the
    /// first copied image carries the error, the rest count as not copied.
    fn name_copied(
        &self,
        outcomes: &mut [Option<Result<CopyOutcome>>],
        stored: &mut [Vec<StoredAttachment>],
        attached: Vec<Vec<Descriptor>>,
    ) {
        let mut named = Vec::new();
        for ((outcome, stored), entries) in outcomes.iter().zip(stored.iter_mut()).zip(attached) {
            match outcome {
                Some(Ok(o)) => {
                    named.push(o.entry.clone());
                    named.extend(entries);
                }
                _ => stored.clear(),
            }
        }
        if named.is_empty() {
            return;
        }
        if let Err(e) = self.layout.add_to_index(named) {
            let mut e = Some(e);
            for (outcome, stored) in outcomes.iter_mut().zip(stored.iter_mut()) {
                stored.clear();
                if matches!(outcome, Some(Ok(_))) {
                    *outcome = e.take().map(Err);
                }
            }
        }
    }

    /// A registry index stored with platforms dropped is kept as the registry sent it too
    /// (not as a blob), so the next mirror of its tag finds it instead of fetching it. A
    /// failure to keep it costs that fetch, nothing more.
    fn keep_source_index(&self, prepared: &PreparedImage, o: &CopyOutcome, i: usize) {
        let root = prepared.reader.root();
        if o.kept_original_index
            || o.entry.digest == root.digest
            || self.layout.has_blob(&root.digest, root.size)
        {
            // Stored whole, or as the blob a subset names: found there next time.
            return;
        }
        if !matches!(self.entries[i].source, ImageSource::Registry(_)) {
            return;
        }
        // The reader holds the index it opened with: no request.
        let kept = prepared
            .reader
            .read_document(root)
            .and_then(|bytes| self.layout.keep_source_index(&root.digest, &bytes));
        if let Err(e) = kept {
            tracing::debug!(
                "{}: source index not kept: {e}",
                self.entries[i].destination
            );
        }
    }
}
