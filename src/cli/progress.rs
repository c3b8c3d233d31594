//! The CLI's [`Reporter`]: a progress bar on a terminal, one line per finished image
//! otherwise, nothing with `--quiet` or `--json`.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use seedforge::Reporter;
use std::io::IsTerminal;

/// Draws progress for one command.
pub struct CliReporter {
    bar: Option<ProgressBar>,
    lines: bool,
    /// Per-item lines are only worth printing for images, not for every verified blob.
    step: std::sync::Mutex<String>,
    bytes: std::sync::atomic::AtomicU64,
}

impl CliReporter {
    /// `silent` suppresses everything; `items` sizes the bar.
    pub fn new(silent: bool, items: usize) -> CliReporter {
        let terminal = std::io::stderr().is_terminal();
        let bar = (!silent && terminal && items > 0).then(|| {
            let bar =
                ProgressBar::with_draw_target(Some(items as u64), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template("{prefix:>8} [{bar:30}] {pos}/{len} {elapsed} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            bar
        });
        CliReporter {
            bar,
            lines: !silent && !terminal,
            step: std::sync::Mutex::new(String::new()),
            bytes: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Clears the bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Reporter for CliReporter {
    fn step_started(&self, step: &str) {
        tracing::debug!("step {step} started");
        if let Ok(mut s) = self.step.lock() {
            *s = step.to_string();
        }
        if let Some(bar) = &self.bar {
            bar.set_prefix(step.to_string());
            bar.set_position(0);
            self.bytes.store(0, std::sync::atomic::Ordering::Relaxed);
        }
    }

    fn step_finished(&self, step: &str) {
        tracing::debug!("step {step} finished");
    }

    fn step_skipped(&self, step: &str) {
        tracing::debug!("step {step} skipped (unchanged)");
        if let Some(bar) = &self.bar {
            bar.set_prefix(step.to_string());
            bar.set_message("unchanged, skipped");
        }
    }

    fn item_started(&self, item: &str, _index: usize, total: usize) {
        if let Some(bar) = &self.bar {
            bar.set_length(total as u64);
            bar.set_message(item.to_string());
        }
    }

    fn item_progress(&self, item: &str, bytes: u64) {
        use std::sync::atomic::Ordering;
        let total = self.bytes.fetch_add(bytes, Ordering::Relaxed) + bytes;
        if let Some(bar) = &self.bar {
            bar.set_message(format!("{} {item}", seedforge::util::human_bytes(total)));
        }
    }

    fn item_finished(&self, item: &str, detail: &str) {
        if let Some(bar) = &self.bar {
            bar.inc(1);
        } else if self.lines && self.step.lock().is_ok_and(|s| *s == "mirror") {
            eprintln!("  {item}: {detail}");
        }
    }

    fn warning(&self, message: &str) {
        match &self.bar {
            Some(bar) => bar.println(format!("warning: {message}")),
            None => eprintln!("warning: {message}"),
        }
    }
}
