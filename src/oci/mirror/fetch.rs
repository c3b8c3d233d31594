//! The layer fetcher of a mirror run: a queue that images add their layers to as they are
//! opened, and worker threads that take the largest layer waiting, so downloads start
//! while other images are still being resolved. A layer is queued once however many
//! images need it, and not at all if the store already has it.

use crate::oci::descriptor::Descriptor;
use crate::oci::digest::Digest;
use crate::oci::layout::{Layout, Presence};
use crate::oci::source::ImageReader;
use crate::oci::{OciError, Result};
use crate::report::Reporter;
use std::cmp::Ordering as CmpOrdering;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

/// How many times a blob whose content fails verification is fetched in all.
pub const BLOB_ATTEMPTS: u32 = 3;

/// A layer to fetch, with the image that queued it (whose reader fetches it).
struct Wanted {
    owner: usize,
    descriptor: Descriptor,
}

impl PartialEq for Wanted {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == CmpOrdering::Equal
    }
}
impl Eq for Wanted {}
impl PartialOrd for Wanted {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}
impl Ord for Wanted {
    /// Largest first; ties by digest, so the order does not depend on timing.
    fn cmp(&self, other: &Self) -> CmpOrdering {
        self.descriptor
            .size
            .cmp(&other.descriptor.size)
            .then_with(|| other.descriptor.digest.cmp(&self.descriptor.digest))
    }
}

#[derive(Default)]
struct State {
    heap: BinaryHeap<Wanted>,
    seen: HashSet<Digest>,
    closed: bool,
    stopped: bool,
    referenced: u64,
    present: usize,
}

/// Layers waiting to be fetched.
#[derive(Default)]
pub(super) struct FetchQueue {
    state: Mutex<State>,
    ready: Condvar,
}

/// What the workers did.
#[derive(Default)]
pub(super) struct Fetched {
    /// Digest and size of every layer written.
    pub written: Vec<(Digest, u64)>,
    /// Layers that could not be fetched.
    pub failed: HashMap<Digest, OciError>,
}

impl FetchQueue {
    /// Queues the layers of image `owner` that are neither queued already nor stored.
    pub fn add_image<'a>(
        &self,
        owner: usize,
        layers: impl IntoIterator<Item = &'a Descriptor>,
        present: &Presence,
    ) {
        // The store is looked at without the lock held, so that images being opened do
        // not wait for each other's look-ups.
        let new: Vec<&Descriptor> = {
            let Ok(mut s) = self.state.lock() else { return };
            layers
                .into_iter()
                .filter(|layer| {
                    s.referenced += layer.size;
                    s.seen.insert(layer.digest.clone())
                })
                .collect()
        };
        let (stored, wanted): (Vec<&Descriptor>, Vec<&Descriptor>) = new
            .into_iter()
            .partition(|layer| present.has(&layer.digest, layer.size));
        let Ok(mut s) = self.state.lock() else { return };
        s.present += stored.len();
        for layer in wanted {
            s.heap.push(Wanted {
                owner,
                descriptor: layer.clone(),
            });
        }
        self.ready.notify_all();
    }

    /// No more images will be added; workers finish what is queued.
    pub fn close(&self) {
        if let Ok(mut s) = self.state.lock() {
            s.closed = true;
        }
        self.ready.notify_all();
    }

    /// Workers take nothing more (after a failure).
    pub fn stop(&self) {
        if let Ok(mut s) = self.state.lock() {
            s.stopped = true;
        }
        self.ready.notify_all();
    }

    /// Layer bytes referenced by all images added (with repeats), and how many distinct
    /// layers the store already held.
    pub fn totals(&self) -> (u64, usize) {
        self.state
            .lock()
            .map(|s| (s.referenced, s.present))
            .unwrap_or_default()
    }

    /// The largest waiting layer; blocks while the queue is empty but open.
    fn next(&self) -> Option<Wanted> {
        let mut s = self.state.lock().ok()?;
        loop {
            if s.stopped {
                return None;
            }
            if let Some(w) = s.heap.pop() {
                return Some(w);
            }
            if s.closed {
                return None;
            }
            s = self.ready.wait(s).ok()?;
        }
    }

    /// One worker: fetches layers until the queue is closed and empty, or stopped.
    /// `reader_of(i)` is image i's reader; `destinations[i]` its name for messages.
    pub fn work<'a>(
        &self,
        reader_of: &(dyn Fn(usize) -> Option<&'a dyn ImageReader> + Sync),
        layout: &Layout,
        destinations: &[String],
        keep_going: bool,
        reporter: &dyn Reporter,
        fetched: &Mutex<Fetched>,
    ) {
        while let Some(w) = self.next() {
            let Some(reader) = reader_of(w.owner) else {
                continue;
            };
            let dest = &destinations[w.owner];
            let result = fetch_layer(reader, &w.descriptor, layout, dest, reporter);
            let Ok(mut f) = fetched.lock() else { return };
            match result {
                Ok(size) => f.written.push((w.descriptor.digest.clone(), size)),
                Err(e) => {
                    f.failed.insert(w.descriptor.digest.clone(), e);
                    if !keep_going {
                        self.stop();
                    }
                }
            }
        }
    }
}

/// Fetches one layer into the store, fetching it again when its content fails
/// verification.
fn fetch_layer(
    reader: &dyn ImageReader,
    layer: &Descriptor,
    layout: &Layout,
    destination: &str,
    reporter: &dyn Reporter,
) -> Result<u64> {
    let context = format!("{destination} (from {})", reader.describe());
    let mut attempt = 1;
    loop {
        let result = reader.open_blob(layer).and_then(|mut r| {
            layout.write_blob(
                &mut r,
                Some((&layer.digest, layer.size)),
                &context,
                &mut |n| reporter.item_progress(destination, n),
            )
        });
        match result {
            Ok((_, size)) => return Ok(size),
            Err(e @ OciError::DigestMismatch { .. }) if attempt < BLOB_ATTEMPTS => {
                reporter.warning(&format!("{e}; fetching it again"));
            }
            Err(e) => return Err(refused(e, &context, layer, attempt)),
        }
        std::thread::sleep(Duration::from_millis(200 * u64::from(attempt)));
        attempt += 1;
    }
}

fn refused(e: OciError, context: &str, layer: &Descriptor, attempt: u32) -> OciError {
    match e {
        OciError::DigestMismatch { .. } => OciError::Read {
            context: format!(
                "{context}: blob {} refused after {attempt} attempts",
                layer.digest
            ),
            source: std::io::Error::other(e.to_string()),
        },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(content: &[u8]) -> Descriptor {
        Descriptor::new(
            crate::oci::descriptor::OCI_LAYER_GZIP,
            Digest::of(content),
            content.len() as u64,
        )
    }

    #[test]
    fn queue_dedups_skips_stored_layers_and_serves_largest_first() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::create(dir.path()).unwrap();
        layout.write_blob_bytes(b"stored", None, "t").unwrap();
        let q = FetchQueue::default();
        let present = layout.presence();
        q.add_image(0, &[layer(b"base layer"), layer(b"a")], &present);
        q.add_image(
            1,
            &[layer(b"base layer"), layer(b"stored"), layer(b"bbb")],
            &present,
        );
        q.close();
        let order: Vec<(usize, u64)> = std::iter::from_fn(|| q.next())
            .map(|w| (w.owner, w.descriptor.size))
            .collect();
        assert_eq!(order, [(0, 10), (1, 3), (0, 1)]);
        assert_eq!(q.totals(), (10 + 1 + 10 + 6 + 3, 1));
    }

    #[test]
    fn stop_ends_waiting_workers() {
        let q = FetchQueue::default();
        std::thread::scope(|s| {
            let h = s.spawn(|| q.next().is_none());
            std::thread::sleep(Duration::from_millis(20));
            q.stop();
            assert!(h.join().unwrap());
        });
    }
}
