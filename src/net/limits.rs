//! The one place that decides how long a request may take, so that a server which accepts
//! a connection and then answers slowly or not at all costs a bounded time.
//!
//! Four rules, each with its own setting:
//! - **Per attempt**: a connect timeout, an idle timeout (no byte for that long), and a
//!   deadline: short for documents (manifests, indexes, tokens, `Release` files, small
//!   package indexes), long for bulk bodies (layers, .debs, `files:` URLs).
//! - **Speed** (as curl's `--speed-limit`/`--speed-time`): once the body has started, each
//!   window of `speed_time` must bring at least `speed_limit` bytes a second on average, or
//!   the attempt ends (a transient failure). The window starts at the first body byte, so a
//!   slow start is the idle timeout's and the deadline's business, not this rule's.
//! - **Budget**: one request, all its attempts and the waits between them, may spend at
//!   most `budget` without healthy progress. A body that keeps up the speed limit restarts
//!   the budget, so a large blob on a sound link is never cut by it; a silent or trickling
//!   server is given up on once it is spent, however many attempts the retry policy allows.
//!
//! [`worst_case`] runs the same rules on a simulated clock, so the defaults' worst case
//! against a silent or trickling server is a number a unit test can check.

use super::RetryPolicy;
use std::time::{Duration, Instant};

/// Bodies up to this size that are read whole are documents ([`Transfer::sized`]): the
/// largest manifest or index a registry may send (containerd's limit too).
pub const DOCUMENT_SIZE: u64 = 4 << 20;

/// Time limits of every request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest wait for a TCP and TLS connection.
    pub connect: Duration,
    /// Longest wait for the next byte (headers or body).
    pub idle: Duration,
    /// Longest time one attempt at a bulk body (a layer, a .deb, a `files:` URL) may take,
    /// from connecting to the body's last byte.
    pub deadline: Duration,
    /// Longest time one attempt at a document (manifest, index, token, `Release`) may take.
    pub document_deadline: Duration,
    /// The slowest average a body may keep up over `speed_time`, in bytes a second (0: no
    /// speed rule).
    pub speed_limit: u64,
    /// The window the speed is averaged over.
    pub speed_time: Duration,
    /// Longest one request may go without healthy progress, all attempts and waits included.
    pub budget: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            connect: Duration::from_secs(15),
            idle: Duration::from_secs(60),
            deadline: Duration::from_secs(30 * 60),
            document_deadline: Duration::from_secs(30),
            speed_limit: 1024,
            speed_time: Duration::from_secs(30),
            budget: Duration::from_secs(120),
        }
    }
}

/// What a request fetches, which decides its per-attempt deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transfer {
    /// A small document read whole: the short deadline.
    Document,
    /// A body of any size, streamed: the long deadline, as long as bytes flow.
    Bulk,
}

impl Transfer {
    /// A document if at most [`DOCUMENT_SIZE`] bytes are expected, else bulk.
    pub fn sized(max_bytes: u64) -> Transfer {
        if max_bytes <= DOCUMENT_SIZE {
            Transfer::Document
        } else {
            Transfer::Bulk
        }
    }
}

/// Which limit ends an attempt that runs too long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CutBy {
    /// The bulk deadline.
    Deadline,
    /// The document deadline.
    DocumentDeadline,
    /// What was left of the request's budget.
    Budget,
}

/// The longest one attempt may take, and which limit that is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cut {
    /// The time from sending the request to the body's last byte.
    pub after: Duration,
    /// Which limit it is.
    pub by: CutBy,
}

impl Cut {
    /// What happened when the attempt ran into it, with the setting that changes it.
    pub fn describe(&self) -> String {
        let secs = seconds(self.after);
        match self.by {
            CutBy::Deadline => {
                format!("no complete answer within the {secs} s deadline (SEEDFORGE_DEADLINE)")
            }
            CutBy::DocumentDeadline => format!(
                "no complete answer within the {secs} s deadline for documents (SEEDFORGE_DOCUMENT_DEADLINE)"
            ),
            CutBy::Budget => format!("no complete answer in the {secs} s left of the budget"),
        }
    }

    /// Worth another attempt: a document that took too long may come quicker next time
    /// (the budget bounds how often); a bulk body that ran into its long deadline would
    /// take as long again.
    pub fn transient(&self) -> bool {
        self.by == CutBy::DocumentDeadline
    }
}

impl Limits {
    /// The cut of one attempt at `kind` when `left` of the request's budget remains: the
    /// kind's deadline, or for a document the rest of the budget if that is sooner (a bulk
    /// body that flows restarts the budget, so only its wait for an answer is held to it).
    pub fn cut(&self, kind: Transfer, left: Duration) -> Cut {
        match kind {
            Transfer::Bulk => Cut {
                after: self.deadline,
                by: CutBy::Deadline,
            },
            Transfer::Document if left < self.document_deadline => Cut {
                after: left,
                by: CutBy::Budget,
            },
            Transfer::Document => Cut {
                after: self.document_deadline,
                by: CutBy::DocumentDeadline,
            },
        }
    }
}

/// A duration in seconds as messages give it: whole seconds without a fraction.
pub fn seconds(d: Duration) -> String {
    // f64's Display is the shortest form that reads back: `30`, `1.5`, `0.25`.
    format!("{}", d.as_secs_f64())
}

/// A speed in bytes a second as messages give it: `1 KiB/s`, `1500 bytes/s`.
pub fn rate(bytes_per_second: u64) -> String {
    if bytes_per_second >= 1024 && bytes_per_second.is_multiple_of(1024) {
        format!("{} KiB/s", bytes_per_second / 1024)
    } else {
        format!("{bytes_per_second} bytes/s")
    }
}

/// The time one request has spent without healthy progress, across its attempts and the
/// waits between them.
#[derive(Debug, Clone)]
pub struct Budget {
    total: Duration,
    since: Instant,
    attempts: u32,
    last: Option<String>,
}

impl Budget {
    /// A fresh budget of `limits.budget`, starting now.
    pub fn new(limits: &Limits) -> Budget {
        Budget {
            total: limits.budget,
            since: Instant::now(),
            attempts: 0,
            last: None,
        }
    }

    /// What is left.
    pub fn left(&self) -> Duration {
        self.total.saturating_sub(self.since.elapsed())
    }

    /// When it runs out.
    pub fn ends(&self) -> Instant {
        self.since + self.total
    }

    /// The body kept up the speed limit: the clock starts again.
    pub fn progress(&mut self) {
        self.since = Instant::now();
    }

    /// Counts an attempt about to be sent.
    pub fn attempt(&mut self) {
        self.attempts += 1;
    }

    /// Attempts sent so far.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// After failed attempt `attempt` of this request's retry loop (`problem` being why):
    /// the wait before the next one, or the final error message when the policy allows no
    /// more attempts or the wait would not fit in what is left of the budget.
    pub fn retry(
        &mut self,
        policy: &RetryPolicy,
        attempt: u32,
        retry_after: Option<Duration>,
        problem: &str,
    ) -> Result<Duration, String> {
        if !policy.should_retry(attempt) {
            return Err(format!("{problem} (tried {attempt} times)"));
        }
        let wait = policy.delay(attempt, retry_after);
        if !permits(self.total, self.since.elapsed(), wait) {
            return Err(self.spent(problem));
        }
        self.last = Some(problem.to_string());
        Ok(wait)
    }

    /// The final message once the budget is spent, `problem` being the last failure.
    pub fn spent(&self, problem: &str) -> String {
        let attempts = self.attempts.max(1);
        format!(
            "{what}; gave up after {attempts} attempt{}: the request's budget of {} s is spent (SEEDFORGE_BUDGET)",
            if attempts == 1 { "" } else { "s" },
            seconds(self.total),
            what = problem
        )
    }

    /// The final message when an attempt ran into the end of the budget itself (`what`
    /// says how): the failure before it names the server's misbehaviour better, if there
    /// was one.
    pub fn cut(&self, what: &str) -> String {
        self.spent(self.last.as_deref().unwrap_or(what))
    }
}

/// True if a wait of `wait` after `spent` still leaves time for another attempt.
fn permits(total: Duration, spent: Duration, wait: Duration) -> bool {
    spent + wait < total
}

/// The speed rule for one body: tumbling windows of `speed_time` from the first byte, each
/// of which must bring `speed_limit * speed_time` bytes.
#[derive(Debug, Clone)]
pub struct Pace {
    limit: u64,
    window: Duration,
    start: Option<Instant>,
    bytes: u64,
}

impl Pace {
    /// The speed rule of `limits`, before the first byte.
    pub fn new(limits: &Limits) -> Pace {
        Pace {
            limit: limits.speed_limit,
            window: limits.speed_time,
            start: None,
            bytes: 0,
        }
    }

    /// When the current window closes (none before the first byte or without a rule).
    pub fn due(&self) -> Option<Instant> {
        (self.limit > 0).then_some(self.start? + self.window)
    }

    /// Notes `n` bytes arriving now (0 when woken at [`Pace::due`]). `Ok(true)` when a
    /// window closed at or above the limit (healthy progress); an error message when one
    /// closed under it.
    pub fn record(&mut self, n: u64) -> Result<bool, String> {
        let now = Instant::now();
        let Some(start) = self.start else {
            if n > 0 {
                self.start = Some(now);
                self.bytes = n;
            }
            return Ok(false);
        };
        let mut passed = false;
        if self.limit > 0 && now >= start + self.window {
            if self.bytes < self.floor() {
                return Err(format!(
                    "under {} for {} s: {} bytes in the last window (SEEDFORGE_SPEED_LIMIT, SEEDFORGE_SPEED_TIME)",
                    rate(self.limit),
                    seconds(self.window),
                    self.bytes
                ));
            }
            self.start = Some(now);
            self.bytes = 0;
            passed = true;
        }
        self.bytes += n;
        Ok(passed)
    }

    /// True while the current window is on course to pass: bytes flow at the limit or
    /// faster since it opened.
    pub fn healthy(&self) -> bool {
        let Some(start) = self.start else {
            return false;
        };
        let expected = self.limit as f64 * start.elapsed().as_secs_f64();
        self.bytes > 0 && self.bytes as f64 >= expected
    }

    fn floor(&self) -> u64 {
        (self.limit as f64 * self.window.as_secs_f64()) as u64
    }
}

/// A misbehaving server, for [`worst_case`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Misbehaviour {
    /// Accepts the connection, never answers.
    Silent,
    /// Sends the headers at once, then one body byte every `every`.
    Trickle {
        /// The pause before each byte.
        every: Duration,
    },
}

/// The longest one request of `kind` runs against `server` before it fails, under `limits`
/// and `policy`, with every wait at its longest (no jitter discount): the retry loops'
/// arithmetic on a simulated clock.
pub fn worst_case(
    limits: &Limits,
    policy: &RetryPolicy,
    kind: Transfer,
    server: Misbehaviour,
) -> Duration {
    let mut spent = Duration::ZERO;
    let mut attempt = 1;
    loop {
        let left = limits.budget.saturating_sub(spent);
        let cut = limits.cut(kind, left);
        let ends = match server {
            // Silence before the headers: the idle timeout, the cut, or the budget (the
            // wait for an answer is held to it for every kind).
            Misbehaviour::Silent => limits.idle.min(cut.after).min(left),
            // The speed rule's first window closes `speed_time` after the first byte; a
            // byte rate under the limit is never healthy, so the budget holds too.
            Misbehaviour::Trickle { every } => {
                let speed = if limits.speed_limit > 0 && every.as_secs_f64() > 0.0 {
                    every + limits.speed_time
                } else {
                    Duration::MAX
                };
                let idle = if every >= limits.idle {
                    limits.idle
                } else {
                    Duration::MAX
                };
                speed.min(idle).min(cut.after).min(left)
            }
        };
        spent += ends;
        if ends >= left || !policy.should_retry(attempt) {
            return spent;
        }
        let wait = policy.longest_delay(attempt);
        if !permits(limits.budget, spent, wait) {
            return spent;
        }
        spent += wait;
        attempt += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO_MINUTES: Duration = Duration::from_secs(120);

    #[test]
    fn defaults_give_up_on_silent_and_trickling_servers_within_two_minutes() {
        let (limits, policy) = (Limits::default(), RetryPolicy::default());
        let trickle = Misbehaviour::Trickle {
            every: Duration::from_secs(2),
        };
        for (kind, server) in [
            (Transfer::Document, Misbehaviour::Silent),
            (Transfer::Bulk, Misbehaviour::Silent),
            (Transfer::Document, trickle),
            (Transfer::Bulk, trickle),
        ] {
            let worst = worst_case(&limits, &policy, kind, server);
            assert!(worst <= TWO_MINUTES, "{kind:?} {server:?}: {worst:?}");
        }
        // Without the budget, the same policy would run far longer: the rule is what holds.
        let unbudgeted = Limits {
            budget: Duration::from_secs(86_400),
            ..limits
        };
        let worst = worst_case(&unbudgeted, &policy, Transfer::Bulk, Misbehaviour::Silent);
        assert!(worst > TWO_MINUTES, "{worst:?}");
    }

    #[test]
    fn documents_get_the_short_deadline_or_what_is_left_of_the_budget() {
        let l = Limits::default();
        let cut = l.cut(Transfer::Document, Duration::from_secs(100));
        assert_eq!(cut.by, CutBy::DocumentDeadline);
        assert_eq!(cut.after, l.document_deadline);
        assert!(cut.transient());
        let cut = l.cut(Transfer::Document, Duration::from_secs(10));
        assert_eq!(
            (cut.by, cut.after),
            (CutBy::Budget, Duration::from_secs(10))
        );
        assert!(!cut.transient());
        let cut = l.cut(Transfer::Bulk, Duration::from_secs(10));
        assert_eq!((cut.by, cut.after), (CutBy::Deadline, l.deadline));
        assert!(!cut.transient());
        assert_eq!(Transfer::sized(DOCUMENT_SIZE), Transfer::Document);
        assert_eq!(Transfer::sized(DOCUMENT_SIZE + 1), Transfer::Bulk);
    }

    #[test]
    fn the_budget_names_the_last_real_failure_and_its_setting() {
        let limits = Limits {
            budget: Duration::from_secs(5),
            ..Limits::default()
        };
        let policy = RetryPolicy {
            attempts: 100,
            base: Duration::from_secs(2),
            max: Duration::from_secs(2),
            ..RetryPolicy::default()
        };
        let mut budget = Budget::new(&limits);
        budget.attempt();
        assert!(budget.retry(&policy, 1, None, "no data for 2 s").is_ok());
        budget.attempt();
        budget.since -= Duration::from_secs(4);
        let e = budget
            .retry(&policy, 2, Some(Duration::from_secs(2)), "HTTP status 503")
            .unwrap_err();
        assert_eq!(
            e,
            "HTTP status 503; gave up after 2 attempts: the request's budget of 5 s is spent (SEEDFORGE_BUDGET)"
        );
        let cut = limits.cut(Transfer::Document, Duration::from_secs(1));
        assert!(budget.cut(&cut.describe()).starts_with("no data for 2 s;"));
        assert!(Budget::new(&limits).cut(&cut.describe()).starts_with(
            "no complete answer in the 1 s left of the budget; gave up after 1 attempt:"
        ));
        // The policy's own limit keeps its message.
        let one = RetryPolicy {
            attempts: 1,
            ..policy
        };
        assert_eq!(
            Budget::new(&limits).retry(&one, 1, None, "HTTP status 500"),
            Err("HTTP status 500 (tried 1 times)".to_string())
        );
    }

    #[test]
    fn pace_judges_whole_windows_from_the_first_byte() {
        let limits = Limits {
            speed_limit: 100,
            speed_time: Duration::from_millis(40),
            ..Limits::default()
        };
        let mut pace = Pace::new(&limits);
        assert_eq!(pace.due(), None);
        assert_eq!(pace.record(0), Ok(false));
        assert_eq!(pace.due(), None, "no window before the first byte");
        assert_eq!(pace.record(1), Ok(false));
        assert!(pace.due().is_some());
        std::thread::sleep(Duration::from_millis(50));
        let e = pace.record(0).unwrap_err();
        assert!(
            e.starts_with("under 100 bytes/s for 0.04 s: 1 bytes"),
            "{e}"
        );
        assert!(e.contains("SEEDFORGE_SPEED_LIMIT"), "{e}");
        assert_eq!(rate(1024), "1 KiB/s");

        let mut pace = Pace::new(&limits);
        pace.record(10).unwrap();
        assert!(pace.healthy());
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(pace.record(0), Ok(true), "10 bytes in 40 ms is 250 bytes/s");

        let off = Limits {
            speed_limit: 0,
            ..limits
        };
        let mut pace = Pace::new(&off);
        pace.record(1).unwrap();
        assert_eq!(pace.due(), None);
        assert!(pace.healthy());
    }
}
