//! Two small proxies on 127.0.0.1 for the tests.
//!
//! [`ForwardProxy`] is an HTTP forward proxy (absolute-form requests and `CONNECT`) that
//! logs the host each request names and takes it to one local port whatever that host is,
//! so a name that resolves nowhere (`registry.test`) reaches a local registry only through
//! the proxy: whether a request went direct or through it shows in its log and outcome.
//!
//! [`FaultProxy`] is a fault-injecting reverse proxy placed in front of a test registry.
//! Blob downloads (`GET …/blobs/sha256:…`) get the faults queued for them, in order:
//! a connection cut halfway through the body, a 500, a 429 with `Retry-After`; or every
//! blob body whose size is in a given range arrives with one byte changed. Everything else is
//! passed through. Every upstream exchange uses its own connection (`Connection: close`).
//! Every request line is recorded, so a test can count what a run asked for; HEADs can be
//! refused with 405, or answered without `Docker-Content-Digest`.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// One fault for one blob request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Send the headers and half the body, then close the connection.
    ResetMidway,
    /// Answer 500.
    ServerError,
    /// Answer 429 with `Retry-After: N`.
    TooManyRequests(u32),
}

/// What the proxy saw and did.
#[derive(Debug, Default)]
pub struct ProxyStats {
    /// Blob GETs seen.
    pub blob_requests: AtomicUsize,
    /// Blob GETs that carried a Range header.
    pub range_requests: AtomicUsize,
    /// Faults injected.
    pub faults: AtomicUsize,
    /// Every request seen, as `METHOD /path`, in arrival order.
    pub requests: Mutex<Vec<String>>,
    /// Answer every HEAD with 405 Method Not Allowed (a registry that refuses HEAD).
    pub refuse_head: AtomicBool,
    /// Drop `Docker-Content-Digest` from the answers to HEADs.
    pub strip_head_digest: AtomicBool,
}

impl ProxyStats {
    /// The requests seen so far (`METHOD /path`), emptying the record.
    pub fn take_requests(&self) -> Vec<String> {
        std::mem::take(&mut *self.requests.lock().unwrap())
    }
}

/// A running proxy; its accept loop stops when dropped.
pub struct FaultProxy {
    port: u16,
    stop: Arc<AtomicBool>,
    /// Counters.
    pub stats: Arc<ProxyStats>,
}

impl FaultProxy {
    /// Starts a proxy to `upstream` (`127.0.0.1:PORT`) injecting `faults` in order into
    /// blob downloads, and flipping a byte of every blob body whose size is in `flip`.
    pub fn start(upstream: &str, faults: Vec<Fault>, flip: Option<Range<usize>>) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(ProxyStats::default());
        let queue = Arc::new(Mutex::new(VecDeque::from(faults)));
        let upstream = upstream.to_string();
        let (stop2, stats2) = (stop.clone(), stats.clone());
        thread::spawn(move || {
            while !stop2.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((client, _)) => {
                        let (up, q, s) = (upstream.clone(), queue.clone(), stats2.clone());
                        let f = flip.clone();
                        thread::spawn(move || {
                            let _ = serve(client, &up, &q, &s, f);
                        });
                    }
                    Err(_) => thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        FaultProxy { port, stop, stats }
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn read_head(stream: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte)? == 0 {
            break;
        }
        head.push(byte[0]);
    }
    Ok(head)
}

/// The head with any `Connection` header replaced by `Connection: close`.
fn closing(head: &str) -> String {
    let mut out: Vec<&str> = head
        .trim_end()
        .split("\r\n")
        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
        .collect();
    out.push("Connection: close");
    format!("{}\r\n\r\n", out.join("\r\n"))
}

fn serve(
    mut client: TcpStream,
    upstream: &str,
    queue: &Mutex<VecDeque<Fault>>,
    stats: &ProxyStats,
    flip: Option<Range<usize>>,
) -> std::io::Result<()> {
    client.set_nonblocking(false)?;
    client.set_read_timeout(Some(Duration::from_secs(30)))?;
    let head = String::from_utf8_lossy(&read_head(&mut client)?).into_owned();
    let first = head.lines().next().unwrap_or_default().to_string();
    let method_path: Vec<&str> = first.split(' ').take(2).collect();
    stats.requests.lock().unwrap().push(method_path.join(" "));
    if first.starts_with("HEAD ") && stats.refuse_head.load(Ordering::Relaxed) {
        let refused =
            "HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        return client.write_all(refused.as_bytes());
    }
    let is_blob = first.starts_with("GET ") && first.contains("/blobs/sha256:");
    let fault = if is_blob {
        stats.blob_requests.fetch_add(1, Ordering::Relaxed);
        if head.to_ascii_lowercase().contains("\r\nrange:") {
            stats.range_requests.fetch_add(1, Ordering::Relaxed);
        }
        queue.lock().unwrap().pop_front()
    } else {
        None
    };
    let canned = |status: &str, extra: &str| {
        format!("HTTP/1.1 {status}\r\n{extra}Content-Length: 0\r\nConnection: close\r\n\r\n")
    };
    match fault {
        Some(Fault::ServerError) => {
            stats.faults.fetch_add(1, Ordering::Relaxed);
            return client.write_all(canned("500 Internal Server Error", "").as_bytes());
        }
        Some(Fault::TooManyRequests(secs)) => {
            stats.faults.fetch_add(1, Ordering::Relaxed);
            let extra = format!("Retry-After: {secs}\r\n");
            return client.write_all(canned("429 Too Many Requests", &extra).as_bytes());
        }
        _ => {}
    }
    let mut up = TcpStream::connect(upstream)?;
    up.write_all(closing(&head).as_bytes())?;
    let mut response_head = String::from_utf8_lossy(&read_head(&mut up)?).into_owned();
    if first.starts_with("HEAD ") && stats.strip_head_digest.load(Ordering::Relaxed) {
        response_head = response_head
            .split_inclusive("\r\n")
            .filter(|l| !l.to_ascii_lowercase().starts_with("docker-content-digest:"))
            .collect();
    }
    let mut body = Vec::new();
    up.read_to_end(&mut body)?;
    client.write_all(closing(&response_head).as_bytes())?;
    if is_blob && !body.is_empty() && flip.is_some_and(|r| r.contains(&body.len())) {
        let mid = body.len() / 2;
        body[mid] ^= 0x01;
        stats.faults.fetch_add(1, Ordering::Relaxed);
    }
    if fault == Some(Fault::ResetMidway) && body.len() > 1 {
        stats.faults.fetch_add(1, Ordering::Relaxed);
        client.write_all(&body[..body.len() / 2])?;
        client.flush()?;
        return client.shutdown(Shutdown::Both);
    }
    client.write_all(&body)
}

/// A running forward proxy; its accept loop stops when dropped.
pub struct ForwardProxy {
    port: u16,
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<Vec<String>>>,
}

impl ForwardProxy {
    /// Starts a forward proxy that takes every request to `127.0.0.1:upstream`.
    pub fn start(upstream: u16) -> ForwardProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let log = Arc::new(Mutex::new(Vec::new()));
        let (stop2, log2) = (stop.clone(), log.clone());
        thread::spawn(move || {
            while !stop2.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((client, _)) => {
                        let log = log2.clone();
                        thread::spawn(move || {
                            let _ = forward(client, upstream, &log);
                        });
                    }
                    Err(_) => thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        ForwardProxy { port, stop, log }
    }

    /// `http://127.0.0.1:PORT`, the value for `HTTP_PROXY` and `HTTPS_PROXY`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// One line per request so far: `CONNECT host:port` or `METHOD http://host:port/…`.
    pub fn seen(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for ForwardProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Serves one client connection: a `CONNECT` tunnel, or one forwarded request (sent with
/// `Connection: close`, so each connection carries one exchange and one log line).
fn forward(mut client: TcpStream, upstream: u16, log: &Mutex<Vec<String>>) -> std::io::Result<()> {
    client.set_nonblocking(false)?;
    client.set_read_timeout(Some(Duration::from_secs(30)))?;
    let head = String::from_utf8_lossy(&read_head(&mut client)?).into_owned();
    let first = head.lines().next().unwrap_or_default();
    let mut words = first.split(' ');
    let (method, target) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    if method.is_empty() {
        return Ok(());
    }
    log.lock().unwrap().push(format!("{method} {target}"));
    let mut up = TcpStream::connect(("127.0.0.1", upstream))?;
    up.set_read_timeout(Some(Duration::from_secs(30)))?;
    if method == "CONNECT" {
        client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")?;
    } else {
        up.write_all(closing(&head).as_bytes())?;
    }
    let (mut client_in, mut up_out) = (client.try_clone()?, up.try_clone()?);
    let upload = thread::spawn(move || {
        let _ = std::io::copy(&mut client_in, &mut up_out);
        let _ = up_out.shutdown(Shutdown::Write);
    });
    let _ = std::io::copy(&mut up, &mut client);
    let _ = client.shutdown(Shutdown::Both);
    let _ = upload.join();
    Ok(())
}
