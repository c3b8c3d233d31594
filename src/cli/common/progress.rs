//! The CLI's [`Reporter`]: a progress bar on a terminal (items done of the step's items,
//! bytes so far, the current item), otherwise one line per finished image that counts it
//! (`mirror 3/8: …`; the images themselves are listed once, in the result), nothing with
//! `--quiet` or `--json`. Every long command draws through it: `build`, `mirror`, `debs`,
//! `push`, `airgap` and `verify`.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use seedforge::Reporter;
use seedforge::redact::Secrets;
use std::io::IsTerminal;

/// Draws progress for one command.
pub struct CliReporter {
    bar: Option<ProgressBar>,
    lines: bool,
    /// Per-item lines are only worth printing for images, not for every verified blob.
    step: std::sync::Mutex<String>,
    bytes: std::sync::atomic::AtomicU64,
    /// The current step's items finished, and their number.
    done: std::sync::atomic::AtomicUsize,
    total: std::sync::atomic::AtomicUsize,
    /// The bar is drawn from the first item (or skipped step) on, so that a command whose
    /// number of items is not known yet never shows an empty `0/0` bar.
    shown: std::sync::Once,
    /// Whether the current step has reported an item: until it does, no bar is drawn
    /// (a step without items would show the last step's count).
    items: std::sync::atomic::AtomicBool,
    /// The run's secrets: every item and warning shown is scrubbed with them.
    secrets: Secrets,
}

/// A step with items: done of all, time, bytes so far and the current item. The message
/// is cut to the terminal's width: a long one would wrap and every redraw would leave a
/// line behind.
const BAR: &str = "{prefix:>8} [{bar:30}] {pos}/{len} {elapsed} {wide_msg}";

/// A step before its first item (or one without items).
const PLAIN: &str = "{prefix:>8} {elapsed} {wide_msg}";

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

impl CliReporter {
    /// `--quiet` or `--json` suppress everything; `items` sizes the bar until a step
    /// tells its own number of items.
    pub fn new(g: &super::Global, items: usize) -> CliReporter {
        let silent = g.quiet || g.json;
        let terminal = std::io::stderr().is_terminal();
        let bar = (!silent && terminal).then(|| {
            let bar =
                ProgressBar::with_draw_target(Some(items as u64), ProgressDrawTarget::hidden());
            bar.set_style(style(BAR));
            bar
        });
        CliReporter {
            bar,
            lines: !silent && !terminal,
            step: std::sync::Mutex::new(String::new()),
            bytes: std::sync::atomic::AtomicU64::new(0),
            done: std::sync::atomic::AtomicUsize::new(0),
            total: std::sync::atomic::AtomicUsize::new(items),
            shown: std::sync::Once::new(),
            items: std::sync::atomic::AtomicBool::new(items > 0),
            secrets: g.secrets.clone(),
        }
    }

    /// Starts drawing the bar on stderr (once).
    fn show(&self) {
        if let Some(bar) = &self.bar {
            self.shown
                .call_once(|| bar.set_draw_target(ProgressDrawTarget::stderr()));
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
        self.bytes.store(0, std::sync::atomic::Ordering::Relaxed);
        self.done.store(0, std::sync::atomic::Ordering::Relaxed);
        self.items
            .store(false, std::sync::atomic::Ordering::Relaxed);
        if let Some(bar) = &self.bar {
            bar.set_style(style(PLAIN));
            bar.set_message("");
            bar.set_position(0);
            bar.set_prefix(step.to_string());
        }
    }

    fn step_finished(&self, step: &str) {
        tracing::debug!("step {step} finished");
    }

    fn step_skipped(&self, step: &str) {
        tracing::debug!("step {step} skipped (unchanged)");
        if let Some(bar) = &self.bar {
            bar.set_style(style(PLAIN));
            bar.set_prefix(step.to_string());
            bar.set_message("unchanged, skipped");
        }
        self.show();
    }

    fn item_started(&self, item: &str, _index: usize, total: usize) {
        self.total
            .store(total, std::sync::atomic::Ordering::Relaxed);
        if let Some(bar) = &self.bar {
            let first = !self.items.swap(true, std::sync::atomic::Ordering::Relaxed);
            if first {
                bar.set_style(style(BAR));
            }
            bar.set_length(total as u64);
            bar.set_message(self.secrets.scrub(item).into_owned());
            self.show();
            // Redraws are rate-limited; a step's first item is always drawn, so even a
            // quick step shows that it ran.
            if first {
                bar.force_draw();
            }
        }
    }

    fn item_progress(&self, item: &str, bytes: u64) {
        use std::sync::atomic::Ordering;
        let total = self.bytes.fetch_add(bytes, Ordering::Relaxed) + bytes;
        if let Some(bar) = &self.bar {
            bar.set_message(format!(
                "{} {}",
                seedforge::util::human_bytes(total),
                self.secrets.scrub(item)
            ));
        }
    }

    fn item_finished(&self, _item: &str, detail: &str) {
        use std::sync::atomic::Ordering;
        let done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        if let Some(bar) = &self.bar {
            bar.inc(1);
        } else if self.lines && self.step.lock().is_ok_and(|s| *s == "mirror") {
            // The image is named once, in the result list; this line counts it.
            errln!(
                "  mirror {done}/{}: {}",
                self.total.load(Ordering::Relaxed),
                self.secrets.scrub(detail)
            );
        }
    }

    fn warning(&self, message: &str) {
        let message = self.secrets.scrub(message);
        super::sink::record(&message);
        match &self.bar {
            Some(bar) => bar.println(format!("warning: {message}")),
            None => errln!("warning: {message}"),
        }
    }
}
