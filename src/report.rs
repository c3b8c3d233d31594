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
    /// Work on one item (an image, a file) began; `total` is the number of items in the step.
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
