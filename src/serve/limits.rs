//! The server's bounds: how many connections, how long each may take to send a request
//! head, stay idle or leave a write stalled, how large a head and a path may be. Each
//! connection is a task that holds a permit of the connection cap; a client that opens a
//! connection and sends nothing costs a socket and that task (no TLS state is made before
//! its first byte), and is dropped after the idle time. A slow reader is dropped when a
//! write of its response makes no progress for the write timeout; the blob behind it is
//! read one chunk ahead, so memory does not grow with it.

use super::State;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// The bounds of one server.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Connections served at once; more are closed as they come.
    pub max_connections: usize,
    /// Time to send a whole request head once it began (slowloris).
    pub header_read_timeout: Duration,
    /// Time a connection may pass with nothing read or written.
    pub idle_timeout: Duration,
    /// Time a write may stay stalled (a client that stopped reading its response).
    pub write_timeout: Duration,
    /// Time a TLS handshake may take once the client's first bytes came.
    pub handshake_timeout: Duration,
    /// The largest request head (request line and headers), in bytes: larger is 431.
    pub max_head_bytes: usize,
    /// The longest request target (path and query), in bytes: longer is 414.
    pub max_path_bytes: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_connections: 1024,
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            write_timeout: Duration::from_secs(30),
            handshake_timeout: Duration::from_secs(10),
            max_head_bytes: 16 * 1024,
            max_path_bytes: 2048,
        }
    }
}

/// Raises this process's open-file limit to its hard limit and returns the new limit
/// (the number of connections then sensible is a little below it).
pub fn raise_fd_limit() -> u64 {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    if let (Some(current), Some(max)) = (limit.current, limit.maximum)
        && current < max
    {
        limit.current = Some(max);
        if setrlimit(Resource::Nofile, limit).is_ok() {
            return max;
        }
        return current;
    }
    limit.current.unwrap_or(1024)
}

/// Accepts connections until `stop` turns true, each in a task of its own.
pub(super) async fn accept_loop(
    listener: tokio::net::TcpListener,
    tls: Option<Arc<super::tls::Certs>>,
    state: Arc<State>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let permits = Arc::new(tokio::sync::Semaphore::new(state.limits.max_connections));
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stop.changed() => break,
        };
        let (tcp, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors, or a connection reset before it was taken:
                // wait a moment rather than spin.
                tracing::debug!("accept: {e}");
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            tracing::debug!(
                "{peer}: refused, {} connections open",
                state.limits.max_connections
            );
            drop(tcp);
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let (tls, state, stop) = (tls.clone(), state.clone(), stop.clone());
        tokio::spawn(async move {
            connection(tcp, peer, tls, state, stop).await;
            drop(permit);
        });
    }
    // Wait for the connections still open (the caller bounds the wait).
    let _ = permits
        .acquire_many(u32::try_from(state.limits.max_connections).unwrap_or(u32::MAX))
        .await;
}

/// One connection: wait for its first byte, the TLS handshake, then HTTP/1.1.
async fn connection(
    tcp: tokio::net::TcpStream,
    peer: std::net::SocketAddr,
    tls: Option<Arc<super::tls::Certs>>,
    state: Arc<State>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let limits = &state.limits;
    // An idle connection costs no TLS state until it sends something.
    match tokio::time::timeout(limits.idle_timeout, tcp.readable()).await {
        Ok(Ok(())) => {}
        _ => return,
    }
    let io = Guarded::new(tcp, limits);
    let service_state = state.clone();
    let service = hyper::service::service_fn(move |req| {
        super::handle::handle(service_state.clone(), req, peer)
    });
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_head_bytes.max(8192) * 2)
        .max_header_size(limits.max_head_bytes)
        .max_headers(100)
        .keep_alive(true);
    match tls {
        Some(certs) => {
            let acceptor = certs.acceptor();
            let handshake = tokio::time::timeout(limits.handshake_timeout, acceptor.accept(io));
            let Ok(Ok(stream)) = handshake.await else {
                tracing::debug!("{peer}: TLS handshake failed or timed out");
                return;
            };
            let conn = builder.serve_connection(TokioIo::new(stream), service);
            drive(conn, &mut stop, peer).await;
        }
        None => {
            let conn = builder.serve_connection(TokioIo::new(io), service);
            drive(conn, &mut stop, peer).await;
        }
    }
}

/// Runs a connection to its end; on stop, lets the request in flight finish and closes.
async fn drive<I, S>(
    conn: http1::Connection<I, S>,
    stop: &mut tokio::sync::watch::Receiver<bool>,
    peer: std::net::SocketAddr,
) where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    S: hyper::service::HttpService<hyper::body::Incoming>,
    S::ResBody: 'static,
    <S::ResBody as hyper::body::Body>::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    tokio::pin!(conn);
    let result = tokio::select! {
        r = conn.as_mut() => r,
        _ = stop.changed() => {
            conn.as_mut().graceful_shutdown();
            conn.as_mut().await
        }
    };
    if let Err(e) = result {
        tracing::debug!("{peer}: connection ended: {e}");
    }
}

/// A socket with the idle and write timeouts: a read that waits while nothing was read or
/// written for the idle time, and a write stalled for the write time, fail with
/// `TimedOut`, which ends the connection.
pub(super) struct Guarded<T> {
    inner: T,
    idle: Duration,
    write: Duration,
    /// Last time bytes moved either way.
    last: Instant,
    read_timer: Pin<Box<Sleep>>,
    /// Since when a write has been waiting.
    stalled_since: Option<Instant>,
    write_timer: Pin<Box<Sleep>>,
}

impl<T> Guarded<T> {
    fn new(inner: T, limits: &Limits) -> Guarded<T> {
        let now = Instant::now();
        Guarded {
            inner,
            idle: limits.idle_timeout,
            write: limits.write_timeout,
            last: now,
            read_timer: Box::pin(tokio::time::sleep_until(now + limits.idle_timeout)),
            stalled_since: None,
            write_timer: Box::pin(tokio::time::sleep_until(now + limits.write_timeout)),
        }
    }
}

fn timed_out(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, what.to_string())
}

impl<T: AsyncRead + Unpin> AsyncRead for Guarded<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(r) => {
                if buf.filled().len() > before {
                    self.last = Instant::now();
                }
                Poll::Ready(r)
            }
            Poll::Pending => {
                let deadline = self.last + self.idle;
                if Instant::now() >= deadline {
                    return Poll::Ready(Err(timed_out("idle")));
                }
                self.read_timer.as_mut().reset(deadline);
                ready!(self.read_timer.as_mut().poll(cx));
                Poll::Ready(Err(timed_out("idle")))
            }
        }
    }
}

impl<T: AsyncWrite + Unpin> Guarded<T> {
    /// Records the outcome of a write: progress clears the stall, waiting starts or checks it.
    fn account<R>(
        &mut self,
        cx: &mut Context<'_>,
        polled: Poll<io::Result<R>>,
    ) -> Poll<io::Result<R>> {
        match polled {
            Poll::Ready(r) => {
                let now = Instant::now();
                self.last = now;
                self.stalled_since = None;
                Poll::Ready(r)
            }
            Poll::Pending => {
                let since = *self.stalled_since.get_or_insert_with(Instant::now);
                let deadline = since + self.write;
                if Instant::now() >= deadline {
                    return Poll::Ready(Err(timed_out("write stalled")));
                }
                self.write_timer.as_mut().reset(deadline);
                ready!(self.write_timer.as_mut().poll(cx));
                Poll::Ready(Err(timed_out("write stalled")))
            }
        }
    }
}

use std::future::Future as _;

impl<T: AsyncWrite + Unpin> AsyncWrite for Guarded<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.account(cx, polled)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.account(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.inner).poll_flush(cx);
        self.account(cx, polled)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.inner).poll_shutdown(cx);
        self.account(cx, polled)
    }
}
