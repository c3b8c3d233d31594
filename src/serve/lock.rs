//! `serve` reads `OUT` under its build lock, shared, as `verify` and `push` do: it does not
//! start on an output a build, `apply` or `gc` is writing (it waits, or with `--no-wait`
//! fails with exit 75), and a writer that comes later sees a reader (with `--no-wait` it
//! fails with 75; without, it waits).
//!
//! A registry runs for days, so it does not keep a waiting writer out: a thread looks for
//! one a few times a second ([`HeldLock::writer_waits`]); when one waits, `serve` lets the
//! lock go and answers every new request `503` with `Retry-After` until the writer is done
//! (downloads under way go on from the files they opened), then takes the lock again and
//! serves `OUT` as the writer left it: the new seal of a build or `apply`, or a layout after
//! `gc`. An output replaced by `apply`'s rename is locked at its new lock file; an output
//! without one (never built into) is served unlocked until one appears.

use super::State;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// How often the thread looks for a waiting writer.
const POLL: Duration = Duration::from_millis(200);

/// The output's lock as `serve` holds it: taken shared, given up to a writer that waits.
/// The build lock is the pipeline's; the command line hands it over as this, with
/// [`OutputLock`] to take it again.
pub trait HeldLock: Send {
    /// The lock file is still the one at the output's path (not replaced by `apply`'s
    /// rename, nor removed).
    fn still_at_path(&self) -> bool;
    /// Another command waits to take the lock to write.
    fn writer_waits(&self) -> bool;
}

/// How `serve` takes the output's lock again after giving it up.
pub struct OutputLock {
    /// The lock file's name in the output.
    pub file_name: &'static str,
    /// Takes the lock of the output at the path, shared, waiting for a writer (the callback
    /// is told once when it waits); `None` when the output has no lock file.
    #[allow(clippy::type_complexity)]
    pub acquire_shared:
        Box<dyn Fn(&Path, &mut dyn FnMut()) -> Result<Option<Box<dyn HeldLock>>, String> + Send>,
}

/// Holds `lock` for `state`'s output for as long as the process serves, yielding it to
/// each writer that waits for it.
pub(super) fn watch(state: Arc<State>, mut lock: Option<Box<dyn HeldLock>>, how: OutputLock) {
    loop {
        std::thread::sleep(POLL);
        let yield_to_writer = match &lock {
            Some(held) if held.still_at_path() => {
                if !held.writer_waits() {
                    continue;
                }
                true
            }
            // Replaced or removed under us (`apply`, `clean`): the lock at the path now.
            Some(_) => false,
            None if state.out.join(how.file_name).exists() => false,
            // No lock file: nothing to hold.
            None => continue,
        };
        let out = state.out.display().to_string();
        // Paused before the lock goes: once the writer has it, no new request is answered
        // from the output it writes.
        if yield_to_writer {
            state.paused.store(true, Ordering::SeqCst);
            tracing::info!(
                "{out}: another seedforge command waits to write this output; new requests are answered 503 until it is done"
            );
        }
        drop(lock.take());
        let mut said = false;
        let taken = (how.acquire_shared)(&state.out, &mut || {
            if !yield_to_writer {
                state.paused.store(true, Ordering::SeqCst);
                said = true;
            }
        });
        match taken {
            Ok(taken) => lock = taken,
            Err(e) => tracing::warn!("{out}: {e}; served unlocked"),
        }
        if state.paused.swap(false, Ordering::SeqCst) && (yield_to_writer || said) {
            tracing::info!("{out}: written; serving it as it is now");
        }
    }
}
