//! The warnings of the run not yet put into a JSON document: every warning said (by a
//! command, the progress reporter, the library's `tracing` warnings, the modes a file
//! system refused) is recorded here, and the next document printed takes them all.

use std::sync::Mutex;

/// The warnings said so far and not yet put into a document.
static WARNINGS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Records a warning for the next JSON document (already scrubbed of the run's secrets);
/// prints nothing.
pub(crate) fn record(message: &str) {
    if let Ok(mut w) = WARNINGS.lock() {
        w.push(message.to_owned());
    }
}

/// The warnings recorded since the last document.
pub(super) fn take() -> Vec<String> {
    WARNINGS
        .lock()
        .map(|mut w| std::mem::take(&mut *w))
        .unwrap_or_default()
}
