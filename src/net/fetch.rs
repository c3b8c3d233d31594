//! Blocking downloads for the synchronous callers (apt repositories, `files:` URLs): one
//! GET, retried as the policy says, whose body is read through [`Body`], which enforces
//! the size bound and records why a transfer broke off so the retry loop can tell a
//! broken transfer from the caller's own failure (a hash mismatch, a full disk).

use super::{Net, NetError, classify, host_key};
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

/// A response body as a `Read`, bounded in size.
pub struct Body<'a> {
    response: reqwest::Response,
    handle: &'a tokio::runtime::Handle,
    max: Option<u64>,
    received: u64,
    chunk: Bytes,
    failure: Option<(bool, String)>,
    started: Instant,
    net: &'a Net,
}

impl Body<'_> {
    /// Bytes received so far.
    pub fn received(&self) -> u64 {
        self.received
    }

    fn fail(&mut self, transient: bool, message: String) -> io::Error {
        let e = io::Error::other(message.clone());
        self.failure = Some((transient, message));
        e
    }
}

impl Read for Body<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some((_, m)) = &self.failure {
            return Err(io::Error::other(m.clone()));
        }
        if self.chunk.is_empty() {
            match self.handle.block_on(self.response.chunk()) {
                Ok(Some(bytes)) => {
                    self.received += bytes.len() as u64;
                    if let Some(max) = self.max.filter(|m| self.received > *m) {
                        return Err(self.fail(
                            false,
                            format!("the server sent more than the {max} bytes expected"),
                        ));
                    }
                    self.chunk = bytes;
                }
                Ok(None) => return Ok(0),
                Err(e) => {
                    let p = classify(&e, self.started, self.net.limits());
                    return Err(self.fail(p.transient, p.message));
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
    /// GETs `fetch.url` and hands the body to `consume`; `Ok(None)` when the server says
    /// 404 or 410. Transient failures (connection, idle timeout, 408/429/5xx, a body
    /// broken off) are retried with the policy, calling `on_retry` with the reason each
    /// time; `consume` then starts again from the first byte.
    pub fn fetch<T, E>(
        &self,
        fetch: &Fetch<'_>,
        consume: &mut dyn FnMut(&mut Body<'_>) -> Result<T, E>,
        on_retry: &mut dyn FnMut(&str),
    ) -> Result<Option<T>, FetchError<E>> {
        let url = reqwest::Url::parse(fetch.url).map_err(|e| {
            FetchError::Net(NetError::Settings(format!("{}: not a URL: {e}", fetch.url)))
        })?;
        let client = self.client(&host_key(&url)).map_err(FetchError::Net)?;
        let handle = self.runtime().map_err(FetchError::Net)?.handle().clone();
        let policy = self.policy();
        let mut attempt = 1;
        loop {
            let (problem, retry_after) =
                match self.attempt(&client, &handle, &url, fetch, consume)? {
                    Attempt::Done(v) => return Ok(v),
                    Attempt::Retry(p, r) => (p, r),
                };
            if !policy.should_retry(attempt) {
                return Err(FetchError::Net(NetError::Transfer {
                    url: fetch.url.to_string(),
                    message: format!("{problem} (tried {attempt} times)"),
                }));
            }
            let wait = policy.delay(attempt, retry_after);
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
        client: &reqwest::Client,
        handle: &tokio::runtime::Handle,
        url: &reqwest::Url,
        fetch: &Fetch<'_>,
        consume: &mut dyn FnMut(&mut Body<'_>) -> Result<T, E>,
    ) -> Result<Attempt<T>, FetchError<E>> {
        let fail = |message: String| {
            FetchError::Net(NetError::Transfer {
                url: fetch.url.to_string(),
                message,
            })
        };
        let started = Instant::now();
        let mut request = client.get(url.clone());
        if let Some(value) = fetch.authorization {
            let mut value = HeaderValue::from_str(value)
                .map_err(|_| fail("credentials that cannot be sent in a header".into()))?;
            value.set_sensitive(true);
            request = request.header(AUTHORIZATION, value);
        }
        let response = match handle.block_on(async move { request.send().await }) {
            Ok(r) => r,
            Err(e) => {
                let p = classify(&e, started, self.limits());
                if p.untrusted {
                    return Err(FetchError::Net(NetError::Untrusted {
                        url: fetch.url.to_string(),
                        detail: p.message,
                    }));
                }
                if p.transient {
                    return Ok(Attempt::Retry(p.message, None));
                }
                return Err(fail(p.message));
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
            started,
            net: self,
        };
        match consume(&mut body) {
            Ok(v) => Ok(Attempt::Done(Some(v))),
            Err(e) => match body.failure.take() {
                Some((true, message)) => Ok(Attempt::Retry(message, None)),
                Some((false, message)) => Err(fail(message)),
                None => Err(FetchError::Consumer(e)),
            },
        }
    }
}

/// Reads a whole response body of at most `max` bytes; more is an error, and reading
/// stops there (an endless body costs `max` bytes of memory, not more). `started` is when
/// the request was sent, to tell a deadline from an idle timeout.
pub async fn read_bounded(
    response: &mut reqwest::Response,
    max: u64,
    started: Instant,
    limits: super::Limits,
) -> Result<Vec<u8>, super::Problem> {
    let too_big = |message: String| super::Problem {
        transient: false,
        untrusted: false,
        not_tls: false,
        message,
    };
    if let Some(len) = response.content_length().filter(|l| *l > max) {
        return Err(too_big(format!(
            "the server announces {len} bytes, more than the {max} allowed"
        )));
    }
    let mut out = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| classify(&e, started, limits))?
    {
        if out.len() as u64 + chunk.len() as u64 > max {
            return Err(too_big(format!(
                "the server sent more than the {max} bytes allowed"
            )));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}
