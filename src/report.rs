//! Progress reporting. The library calls a [`Reporter`]; the CLI decides whether that means
//! progress bars, log lines, JSON events or nothing at all.

/// Receives progress events from long-running library work. Every method has a no-op
/// default so implementations only handle what they draw.
pub trait Reporter: Send + Sync {
    /// A pipeline step (`mirror`, `verify`, …) begins.
    fn step_started(&self, _step: &str) {}
    /// A pipeline step finished.
    fn step_finished(&self, _step: &str) {}
    /// A pipeline step was skipped: its inputs and outputs are as the last build left them.
    fn step_skipped(&self, _step: &str) {}
    /// Work on one item (an image, a file) began; `total` is the number of items in the step
    /// and `index` (from 0) this item's place among them. Each item of a step is started
    /// and finished once, so a count of finished items never passes `total`; a second pass
    /// over the same items (packing what was fetched) reports bytes only.
    fn item_started(&self, _item: &str, _index: usize, _total: usize) {}
    /// `bytes` more bytes of `item` were processed.
    fn item_progress(&self, _item: &str, _bytes: u64) {}
    /// Work on one item finished; `detail` is a short human summary.
    fn item_finished(&self, _item: &str, _detail: &str) {}
    /// Something the user should know about but that does not stop the work.
    fn warning(&self, _message: &str) {}
}

/// A reporter that discards everything (tests, `--quiet`).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoopReporter;

impl Reporter for NoopReporter {}

/// A reporter for tests that records every item event, per step, to check the counts.
#[cfg(test)]
#[derive(Debug, Default)]
pub(crate) struct Tally {
    /// Per item started: (item, index, total).
    pub started: std::sync::Mutex<Vec<(String, usize, usize)>>,
    /// The items finished, with their detail.
    pub finished: std::sync::Mutex<Vec<(String, String)>>,
}

#[cfg(test)]
impl Tally {
    /// Panics unless each item was started once, below its total, and no more items
    /// finished than the total.
    pub(crate) fn assert_counts(&self) {
        let started = self.started.lock().unwrap();
        let finished = self.finished.lock().unwrap();
        let total = started.iter().map(|(_, _, t)| *t).max().unwrap_or(0);
        for (item, index, t) in started.iter() {
            assert!(index < t, "{item}: item {index} of {t}");
        }
        assert!(
            started.len() <= total && finished.len() <= total,
            "{} started and {} finished of {total}: {started:?}",
            started.len(),
            finished.len()
        );
    }
}

#[cfg(test)]
impl Reporter for Tally {
    fn item_started(&self, item: &str, index: usize, total: usize) {
        self.started
            .lock()
            .unwrap()
            .push((item.to_string(), index, total));
    }
    fn item_finished(&self, item: &str, detail: &str) {
        self.finished
            .lock()
            .unwrap()
            .push((item.to_string(), detail.to_string()));
    }
}
