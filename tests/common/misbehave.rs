//! A misbehaving HTTP/1.1 server on 127.0.0.1: each request gets the [`Answer`] a route
//! function picks for its method and path: a normal answer, a body without end, a trickle,
//! a stall before the headers or in the middle of the body, a `429 Retry-After`, a redirect
//! to itself, or a sound body sent slowly at first and then in paced chunks. It counts the body bytes it managed to send, so a test can tell a client that
//! stopped reading from one that kept swallowing. Every connection ends by itself
//! ([`LIMIT`]) and all stop when the server is dropped.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// The longest any connection is served (stalls and endless bodies included).
pub const LIMIT: Duration = Duration::from_secs(90);

/// What one request gets.
#[derive(Debug, Clone)]
pub enum Answer {
    /// A complete answer.
    Full {
        /// HTTP status.
        status: u16,
        /// Extra headers.
        headers: Vec<(String, String)>,
        /// The body (not sent for HEAD).
        body: Vec<u8>,
    },
    /// 200 with a chunked body that never ends.
    Endless,
    /// 200 announcing `length` bytes, then one byte every `every`.
    Trickle {
        /// Announced length.
        length: usize,
        /// The pause between bytes.
        every: Duration,
    },
    /// The request is read, then nothing is ever sent.
    StallBeforeHeaders,
    /// 200 with `body`: the headers at once, the first byte after `delay`, then `chunk`
    /// bytes every `every` (a slow start, then a steady flow).
    Paced {
        /// The body.
        body: Vec<u8>,
        /// The pause between the headers and the first byte.
        delay: Duration,
        /// Bytes per write.
        chunk: usize,
        /// The pause between writes.
        every: Duration,
    },
    /// 200 announcing `length` bytes; `sent` of them are sent, then nothing more.
    StallMidBody {
        /// Announced length.
        length: usize,
        /// Bytes sent before the stall.
        sent: usize,
    },
    /// 429 with `Retry-After: N`.
    RetryAfter(u64),
    /// 302 back to the same path.
    RedirectLoop,
}

impl Answer {
    /// 200 with `body` and the given content type.
    pub fn ok(content_type: &str, body: impl Into<Vec<u8>>) -> Answer {
        Answer::Full {
            status: 200,
            headers: vec![("Content-Type".into(), content_type.into())],
            body: body.into(),
        }
    }

    /// A bodiless status answer.
    pub fn status(status: u16) -> Answer {
        Answer::Full {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }
}

/// What the server saw and sent.
#[derive(Debug, Default)]
pub struct Seen {
    /// `METHOD PATH` of every request, in order.
    pub requests: Mutex<Vec<String>>,
    /// Every request's header block.
    pub heads: Mutex<Vec<String>>,
    /// Body bytes written to clients.
    pub body_bytes: AtomicU64,
}

type Route = dyn Fn(&str, &str) -> Answer + Send + Sync;

/// A running server; stopped (its accept loop joined, its connections ended) when dropped.
pub struct Server {
    port: u16,
    /// What it saw.
    pub seen: Arc<Seen>,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Server {
    /// Starts a server answering each request with `route(method, path)`.
    pub fn start(route: impl Fn(&str, &str) -> Answer + Send + Sync + 'static) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Seen::default());
        let stop = Arc::new(AtomicBool::new(false));
        let route: Arc<Route> = Arc::new(route);
        let (seen2, stop2) = (seen.clone(), stop.clone());
        let thread = thread::spawn(move || {
            let end = Instant::now() + LIMIT;
            while !stop2.load(Ordering::Relaxed) && Instant::now() < end {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let (seen, stop, route) = (seen2.clone(), stop2.clone(), route.clone());
                        thread::spawn(move || serve(stream, &*route, &seen, &stop));
                    }
                    Err(_) => thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Server {
            port,
            seen,
            stop,
            thread: Some(thread),
        }
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `http://127.0.0.1:PORT/PATH`.
    pub fn url(&self, path: &str) -> String {
        format!(
            "http://127.0.0.1:{}/{}",
            self.port,
            path.trim_start_matches('/')
        )
    }

    /// Requests seen so far.
    pub fn requests(&self) -> Vec<String> {
        self.seen.requests.lock().unwrap().clone()
    }

    /// Body bytes sent so far.
    pub fn body_bytes(&self) -> u64 {
        self.seen.body_bytes.load(Ordering::Relaxed)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Sleeps `d` in small steps; false if the server stopped or the connection's time is up.
fn pause(d: Duration, stop: &AtomicBool, end: Instant) -> bool {
    let until = Instant::now() + d;
    while Instant::now() < until {
        if stop.load(Ordering::Relaxed) || Instant::now() >= end {
            return false;
        }
        thread::sleep(Duration::from_millis(20).min(d));
    }
    true
}

fn serve(mut stream: TcpStream, route: &Route, seen: &Seen, stop: &AtomicBool) {
    let end = Instant::now() + LIMIT;
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(10)));
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) if head.len() < 64 * 1024 => head.push(byte[0]),
            _ => return,
        }
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let mut words = head.split_whitespace();
    let (method, path) = (
        words.next().unwrap_or("").to_string(),
        words.next().unwrap_or("").to_string(),
    );
    seen.requests
        .lock()
        .unwrap()
        .push(format!("{method} {path}"));
    seen.heads.lock().unwrap().push(head.clone());
    let count = |n: usize| {
        seen.body_bytes.fetch_add(n as u64, Ordering::Relaxed);
    };
    let header = |status: u16, reason: &str, extra: &str| {
        format!("HTTP/1.1 {status} {reason}\r\n{extra}Connection: close\r\n\r\n")
    };
    match route(&method, &path) {
        Answer::Full {
            status,
            headers,
            body,
        } => {
            let mut h = String::new();
            for (k, v) in &headers {
                h.push_str(&format!("{k}: {v}\r\n"));
            }
            h.push_str(&format!("Content-Length: {}\r\n", body.len()));
            let mut out = header(status, "Answer", &h).into_bytes();
            if method != "HEAD" {
                out.extend_from_slice(&body);
                count(body.len());
            }
            let _ = stream.write_all(&out);
        }
        Answer::Endless => {
            let _ = stream.write_all(
                header(
                    200,
                    "OK",
                    "Content-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n",
                )
                .as_bytes(),
            );
            let chunk = vec![b'x'; 64 * 1024];
            let mut frame = format!("{:x}\r\n", chunk.len()).into_bytes();
            frame.extend_from_slice(&chunk);
            frame.extend_from_slice(b"\r\n");
            while !stop.load(Ordering::Relaxed) && Instant::now() < end {
                if stream.write_all(&frame).is_err() {
                    break;
                }
                count(chunk.len());
            }
        }
        Answer::Trickle { length, every } => {
            let h =
                format!("Content-Type: application/octet-stream\r\nContent-Length: {length}\r\n");
            if stream.write_all(header(200, "OK", &h).as_bytes()).is_err() {
                return;
            }
            for _ in 0..length {
                if !pause(every, stop, end) || stream.write_all(b"x").is_err() {
                    break;
                }
                count(1);
            }
        }
        Answer::StallBeforeHeaders => {
            pause(LIMIT, stop, end);
        }
        Answer::Paced {
            body,
            delay,
            chunk,
            every,
        } => {
            let h = format!(
                "Content-Type: application/octet-stream\r\nContent-Length: {}\r\n",
                body.len()
            );
            if stream.write_all(header(200, "OK", &h).as_bytes()).is_err() {
                return;
            }
            let mut wait = delay;
            for piece in body.chunks(chunk.max(1)) {
                if !pause(wait, stop, end) || stream.write_all(piece).is_err() {
                    break;
                }
                count(piece.len());
                wait = every;
            }
        }
        Answer::StallMidBody { length, sent } => {
            let h =
                format!("Content-Type: application/octet-stream\r\nContent-Length: {length}\r\n");
            let mut out = header(200, "OK", &h).into_bytes();
            out.extend(std::iter::repeat_n(b'x', sent.min(length)));
            if stream.write_all(&out).is_ok() {
                count(sent.min(length));
                pause(LIMIT, stop, end);
            }
        }
        Answer::RetryAfter(secs) => {
            let h = format!("Retry-After: {secs}\r\nContent-Length: 0\r\n");
            let _ = stream.write_all(header(429, "Too Many Requests", &h).as_bytes());
        }
        Answer::RedirectLoop => {
            let h = format!("Location: {path}\r\nContent-Length: 0\r\n");
            let _ = stream.write_all(header(302, "Found", &h).as_bytes());
        }
    }
}
