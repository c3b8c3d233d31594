//! Blocking downloads for the synchronous callers (apt repositories, `files:` URLs): one
//! GET, retried as the policy says within the request's budget, whose body is read
//! through [`Body`], which enforces the size bound and the speed rule and records why a
//! transfer broke off so the retry loop can tell a broken transfer from the caller's own
//! failure (a hash mismatch, a full disk). [`next_chunk`] is the one body-reading step
//! every download uses, registry blobs and manifests included.

use super::limits::{Budget, Cut, Limits, Pace, Transfer, seconds};
use super::{Net, NetError, Problem, classify, host_key};
use bytes::Bytes;
use reqwest::header::{AUTHORIZATION, HeaderValue};
use std::io::{self, Read};
use std::time::{Duration, Instant};

/// One GET to send.
pub struct Fetch<'a> {
    /// The URL, without credentials (it is shown in messages).
    pub url: &'a str,
    /// An `Authorization` header value, sent to this URL's host only.
    pub authorization: Option<&'a str>,
    /// The most bytes the body may have; one more is an error.
    pub max_bytes: Option<u64>,
}

/// A download failed: on the network, or in what the caller did with the body.
#[derive(Debug)]
pub enum FetchError<E> {
    /// The network failed (after the retries).
    Net(NetError),
    /// The caller's consumer failed (not retried).
    Consumer(E),
}

/// How one attempt's body is watched: the speed rule, and what ends the attempt.
#[derive(Debug, Clone)]
pub struct Watch {
    /// The speed rule's state.
    pub pace: Pace,
    /// When the request was sent (a deadline is told from an idle timeout by it).
    pub started: Instant,
    /// The run's limits.
    pub limits: Limits,
    /// The attempt's cut.
    pub cut: Cut,
}

impl Watch {
    /// The watch of an attempt sent at `started` to end by `cut`.
    pub fn new(limits: &Limits, started: Instant, cut: Cut) -> Watch {
        Watch {
            pace: Pace::new(limits),
            started,
            limits: *limits,
            cut,
        }
    }
}

/// The next chunk of `response`: `Ok(None)` at its end. The wait is held to the speed rule
/// (a window under the limit is a transient failure) and to the budget (running out of it
/// while bytes come slower than the limit is final; bytes at the limit or faster restart
/// it, so a sound large body is never cut by it).
pub async fn next_chunk(
    response: &mut reqwest::Response,
    watch: &mut Watch,
    budget: &mut Budget,
) -> Result<Option<Bytes>, Problem> {
    loop {
        let due = watch
            .pace
            .due()
            .map_or(budget.ends(), |d| d.min(budget.ends()));
        let waited = tokio::time::timeout_at(due.into(), response.chunk()).await;
        let arrived = match waited {
            Ok(Ok(Some(bytes))) => Some(bytes),
            Ok(Ok(None)) => return Ok(None),
            Ok(Err(e)) => {
                let problem = classify(&e, watch.started, &watch.limits, watch.cut);
                // The client's own timer for the budget's end can fire a moment before
                // ours: the same end, named the same way (a body with no byte yet is one
                // slower than the limit, as our timer has it).
                if problem.budget && !watch.pace.healthy() {
                    return Err(too_slow(watch));
                }
                return Err(problem);
            }
            Err(_) => None,
        };
        let n = arrived.as_ref().map_or(0, |b| b.len() as u64);
        match watch.pace.record(n) {
            Ok(true) => budget.progress(),
            Ok(false) => {}
            Err(message) => return Err(Problem::transient(message)),
        }
        if let Some(bytes) = arrived {
            return Ok(Some(bytes));
        }
        if Instant::now() >= budget.ends() {
            if !watch.pace.healthy() {
                return Err(too_slow(watch));
            }
            budget.progress();
        }
    }
}

/// The end of the budget while the body comes slower than the speed limit: final. Worded
/// as the speed rule's own failure ([`super::limits::Pace::record`]), with its settings.
fn too_slow(watch: &Watch) -> Problem {
    let mut p = Problem::fatal(format!(
        "under {} since the speed window opened (SEEDFORGE_SPEED_LIMIT, SEEDFORGE_SPEED_TIME)",
        super::limits::rate(watch.limits.speed_limit)
    ));
    p.budget = true;
    p
}

/// A response body as a `Read`, bounded in size and held to the speed rule.
pub struct Body<'a> {
    response: reqwest::Response,
    handle: &'a tokio::runtime::Handle,
    max: Option<u64>,
    received: u64,
    chunk: Bytes,
    failure: Option<Problem>,
    watch: Watch,
    budget: &'a mut Budget,
}

impl Body<'_> {
    /// Bytes received so far.
    pub fn received(&self) -> u64 {
        self.received
    }

    fn fail(&mut self, problem: Problem) -> io::Error {
        let e = io::Error::other(problem.message.clone());
        self.failure = Some(problem);
        e
    }
}

impl Read for Body<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(p) = &self.failure {
            return Err(io::Error::other(p.message.clone()));
        }
        if self.chunk.is_empty() {
            let next =
                self.handle
                    .block_on(next_chunk(&mut self.response, &mut self.watch, self.budget));
            match next {
                Ok(Some(bytes)) => {
                    self.received += bytes.len() as u64;
                    if let Some(max) = self.max.filter(|m| self.received > *m) {
                        return Err(self.fail(Problem::fatal(format!(
                            "the server sent more than the {max} bytes expected"
                        ))));
                    }
                    self.chunk = bytes;
                }
                Ok(None) => return Ok(0),
                Err(p) => {
                    let message = p.final_message(self.budget);
                    return Err(self.fail(Problem { message, ..p }));
                }
            }
        }
        let n = buf.len().min(self.chunk.len());
        buf[..n].copy_from_slice(&self.chunk.split_to(n));
        Ok(n)
    }
}

/// How one attempt went.
enum Attempt<T> {
    Done(Option<T>),
    Retry(String, Option<Duration>),
}

impl Net {
    /// [`Net::fetch_as`] for a bulk body (the long deadline).
    pub fn fetch<T, E>(
        &self,
        fetch: &Fetch<'_>,
        consume: &mut dyn FnMut(&mut Body<'_>) -> Result<T, E>,
        on_retry: &mut dyn FnMut(&str),
    ) -> Result<Option<T>, FetchError<E>> {
        self.fetch_as(Transfer::Bulk, fetch, consume, on_retry)
    }

    /// GETs `fetch.url` (a `kind` of transfer, which decides its deadline) and hands the
    /// body to `consume`; `Ok(None)` when the server says 404 or 410. Transient failures
    /// (connection, idle timeout, 408/429/5xx, a body broken off or under the speed limit,
    /// a document past its deadline) are retried with the policy within the request's
    /// budget, calling `on_retry` with the reason each time; `consume` then starts again
    /// from the first byte.
    pub fn fetch_as<T, E>(
        &self,
        kind: Transfer,
        fetch: &Fetch<'_>,
        consume: &mut dyn FnMut(&mut Body<'_>) -> Result<T, E>,
        on_retry: &mut dyn FnMut(&str),
    ) -> Result<Option<T>, FetchError<E>> {
        let url = reqwest::Url::parse(fetch.url).map_err(|e| {
            FetchError::Net(NetError::Settings(format!("{}: not a URL: {e}", fetch.url)))
        })?;
        // Only HTTP is fetched: a file:// or ftp:// URL (a chart index naming its archive
        // so) is a wrong input, not a host out of reach.
        if !matches!(url.scheme(), "http" | "https") {
            return Err(FetchError::Net(NetError::Settings(format!(
                "a {}:// URL, which seedforge does not fetch: only http:// and https:// URLs are (a local file is given by its path where the config takes one)",
                url.scheme()
            ))));
        }
        let client = self.client(&host_key(&url)).map_err(FetchError::Net)?;
        self.check_name(&url).map_err(FetchError::Net)?;
        let handle = self.runtime().map_err(FetchError::Net)?.handle().clone();
        let policy = self.policy();
        let mut budget = Budget::new(&self.limits());
        let mut attempt = 1;
        loop {
            let call = Call {
                client: &client,
                handle: &handle,
                url: &url,
                kind,
            };
            let (problem, retry_after) = match self.attempt(&call, &mut budget, fetch, consume)? {
                Attempt::Done(v) => return Ok(v),
                Attempt::Retry(p, r) => (p, r),
            };
            let wait = budget
                .retry(&policy, attempt, retry_after, &problem)
                .map_err(|message| {
                    FetchError::Net(NetError::Transfer {
                        url: shown(&url),
                        message,
                        transient: true,
                    })
                })?;
            on_retry(&format!(
                "{problem}; retrying in {} ms ({attempt}/{})",
                wait.as_millis(),
                policy.attempts - 1
            ));
            std::thread::sleep(wait);
            attempt += 1;
        }
    }

    fn attempt<T, E>(
        &self,
        call: &Call<'_>,
        budget: &mut Budget,
        fetch: &Fetch<'_>,
        consume: &mut dyn FnMut(&mut Body<'_>) -> Result<T, E>,
    ) -> Result<Attempt<T>, FetchError<E>> {
        let (handle, limits) = (call.handle, self.limits());
        // Final failures: `transient` when another run later may succeed (the budget
        // spent waiting), not for an answer that will not change.
        let fail_as = |message: String, transient: bool| {
            FetchError::Net(NetError::Transfer {
                url: shown(call.url),
                message,
                transient,
            })
        };
        let fail = |message: String| fail_as(message, false);
        budget.attempt();
        let started = Instant::now();
        let cut = limits.cut(call.kind, budget.left());
        let mut request = call.client.get(call.url.clone()).timeout(cut.after);
        if let Some(value) = fetch.authorization {
            let mut value = HeaderValue::from_str(value)
                .map_err(|_| fail("credentials that cannot be sent in a header".into()))?;
            value.set_sensitive(true);
            request = request.header(AUTHORIZATION, value);
        }
        // The wait for an answer is held to the budget whatever the kind.
        let left = budget.left();
        let sent = handle.block_on(async move { tokio::time::timeout(left, request.send()).await });
        let Ok(sent) = sent else {
            let waited = format!("no answer within {} s", seconds(left));
            return Err(fail_as(budget.cut(&waited), true));
        };
        let response = match sent {
            Ok(r) => r,
            Err(e) => {
                let p = classify(&e, started, &limits, cut);
                if p.untrusted {
                    return Err(FetchError::Net(NetError::Untrusted {
                        url: shown(call.url),
                        detail: p.message,
                    }));
                }
                if p.transient {
                    return Ok(Attempt::Retry(p.message, None));
                }
                return Err(fail_as(p.final_message(budget), p.budget));
            }
        };
        let status = response.status().as_u16();
        match status {
            200 => {}
            404 | 410 => return Ok(Attempt::Done(None)),
            _ if super::retry::retryable_status(status) => {
                let retry_after = response
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(super::retry::parse_retry_after);
                return Ok(Attempt::Retry(format!("HTTP status {status}"), retry_after));
            }
            _ => return Err(fail(format!("HTTP status {status}"))),
        }
        if let (Some(max), Some(len)) = (fetch.max_bytes, response.content_length())
            && len > max
        {
            return Err(fail(format!(
                "the server announces {len} bytes, more than the {max} expected"
            )));
        }
        let mut body = Body {
            response,
            handle,
            max: fetch.max_bytes,
            received: 0,
            chunk: Bytes::new(),
            failure: None,
            watch: Watch::new(&limits, started, cut),
            budget,
        };
        match consume(&mut body) {
            Ok(v) => Ok(Attempt::Done(Some(v))),
            Err(e) => match body.failure.take() {
                Some(p) if p.transient => Ok(Attempt::Retry(p.message, None)),
                Some(p) => Err(fail_as(p.message, p.budget)),
                None => Err(FetchError::Consumer(e)),
            },
        }
    }
}

/// `url` as messages show it: a password it carries is masked, as everywhere
/// ([`crate::redact::url`]).
fn shown(url: &reqwest::Url) -> String {
    crate::redact::url(url.as_str()).into_owned()
}

/// Where one attempt goes.
struct Call<'a> {
    client: &'a reqwest::Client,
    handle: &'a tokio::runtime::Handle,
    url: &'a reqwest::Url,
    kind: Transfer,
}

/// Reads a whole response body of at most `max` bytes; more is an error, and reading
/// stops there (an endless body costs `max` bytes of memory, not more). Each chunk is
/// awaited with [`next_chunk`] (the speed rule and the budget).
pub async fn read_bounded(
    response: &mut reqwest::Response,
    max: u64,
    watch: &mut Watch,
    budget: &mut Budget,
) -> Result<Vec<u8>, Problem> {
    let too_big = Problem::fatal;
    if let Some(len) = response.content_length().filter(|l| *l > max) {
        return Err(too_big(format!(
            "the server announces {len} bytes, more than the {max} allowed"
        )));
    }
    let mut out = Vec::new();
    while let Some(chunk) = next_chunk(response, watch, budget).await? {
        if out.len() as u64 + chunk.len() as u64 > max {
            return Err(too_big(format!(
                "the server sent more than the {max} bytes allowed"
            )));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_urls_leave_passwords_out() {
        let url = |s: &str| reqwest::Url::parse(s).unwrap();
        assert_eq!(
            shown(&url("http://me:s3cret@mirror.example/dists/x")),
            "http://me:***@mirror.example/dists/x"
        );
        assert_eq!(shown(&url("https://h:8443/a")), "https://h:8443/a");
    }
}
