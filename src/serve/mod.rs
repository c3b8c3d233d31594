//! `seedforge serve`: a read-only OCI distribution registry (the pull side of the
//! distribution spec 1.1) straight over a build output's layout, `OUT/oci`: no registry
//! package, no push, no second copy of the blobs.
//!
//! - **What it answers**: `GET /v2/`; manifests by tag and by digest (`GET`, `HEAD`, the
//!   stored media type, `Accept` honoured whatever its case); blobs by digest (`GET`,
//!   `HEAD`, one `Range`; several are answered with the whole blob); `If-None-Match` with
//!   the digest, the `ETag`, as `304`; tags lists; the referrers API with `artifactType`
//!   filtering; `/v2/_catalog`. Every write is `405` with the spec's `UNSUPPORTED`; an
//!   HTTP/1.1 request without one `Host` field `400` (RFC 9112 3.2); everything else the
//!   spec's error body ([`routes`]).
//! - **By digest, only what the repository reaches** ([`reach`]): its images, their
//!   manifests, configs and layers, and the signatures and referrers stored beside them.
//!   Another repository's manifest or blob, or a layer asked for as a manifest, is `404` at
//!   once, its blob never opened.
//! - **No bytes a digest does not vouch for**: a manifest is read whole and checked before
//!   it is sent; a whole blob is hashed as it is streamed and, on a mismatch, the response
//!   is cut short of its `Content-Length` (and the blob named in the log), so no client
//!   takes it as complete ([`body`]); once matched, it is sent unhashed while its file
//!   keeps its identity ([`verified`]). A range is not checked: its client checks the blob
//!   it puts together.
//! - **Names** ([`catalog`]): a layout image `docker.io/rancher/pause:3.6` is
//!   `rancher/pause:3.6` here, as `seedforge push` would have put it and as the build's
//!   `registries.yaml` and `hosts.toml` make k3s and containerd ask for it; containerd's
//!   `?ns=docker.io` picks the source registry when two share a repository path (an `ns`
//!   that names none of them finds nothing), and the full name (`docker.io/rancher/pause`)
//!   works too.
//! - **What `OUT` holds at each request's time**: each request opens `OUT` once and reads
//!   everything (the index, the blobs, the auth settings) relative to that handle, so an
//!   `apply` or `build` that replaces `OUT` by one rename is served from the next request
//!   on and no request sees a mix. The parsed `index.json` is kept while the file is the
//!   same one (device, inode, size, times). Blobs are opened beneath `OUT/oci` by the kernel
//!   (`RESOLVE_BENEATH`, no links) and named only by a checked `sha256:<64 hex>`: no path a
//!   client sends reaches the file system.
//! - **Bounded** ([`limits`]): request heads, paths, time to send a head, idle and
//!   stalled-write time, TLS handshakes, connections; a blob is streamed in chunks, never
//!   held; basic auth checks are cached, and an unknown user costs the same check as a
//!   known one ([`auth`]).
//! - **TLS** from `OUT/pki/registry.crt` and `registry.key` ([`tls`]); plain HTTP only when
//!   asked.

mod auth;
mod body;
mod catalog;
mod content;
mod handle;
mod limits;
pub mod lock;
mod reach;
mod referrers;
mod routes;
mod tls;
mod unit;
mod verified;

pub use limits::{Limits, raise_fd_limit};
pub use unit::unit;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Why `serve` cannot start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The output (or its layout) is missing or not one `serve` can read.
    #[error("{}: {message}", path.display())]
    BadOutput {
        /// The file or folder.
        path: PathBuf,
        /// What is wrong and what to do.
        message: String,
    },
    /// The registry certificate or key is missing or does not load.
    #[error("{}: {message}", path.display())]
    BadTls {
        /// The certificate or key.
        path: PathBuf,
        /// What is wrong and what to do.
        message: String,
    },
    /// The address cannot be listened on.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The server's runtime could not be made.
    #[error("cannot start the server: {0}")]
    Runtime(#[source] std::io::Error),
}

impl ServeError {
    /// True if the output, certificate or key given is at fault (exit code 2).
    pub fn is_invalid_input(&self) -> bool {
        matches!(
            self,
            ServeError::BadOutput { .. } | ServeError::BadTls { .. }
        )
    }
}

/// What to serve and how.
#[derive(Debug, Clone)]
pub struct Options {
    /// The build output (`OUT`): `oci/`, `pki/`, `registry/`.
    pub out: PathBuf,
    /// Where to listen.
    pub listen: SocketAddr,
    /// Plain HTTP instead of TLS.
    pub plain_http: bool,
    /// The bounds.
    pub limits: Limits,
    /// Where the nodes ask for each image: an image is served at its repository as its
    /// registry's mirror rewrites make it (the output's `registries.yaml`).
    pub rewrites: crate::image::Rewrites,
}

/// What the server shares between its connections.
pub(crate) struct State {
    out: PathBuf,
    catalog: catalog::Cache,
    auth: auth::Auth,
    limits: Limits,
    /// While a writer holds `OUT` ([`lock`]): new requests are answered `503`.
    paused: std::sync::atomic::AtomicBool,
}

/// A server bound to its address, not yet serving.
pub struct Server {
    listener: std::net::TcpListener,
    tls: Option<Arc<tls::Certs>>,
    state: Arc<State>,
    images: usize,
    lock: Option<(Option<Box<dyn lock::HeldLock>>, lock::OutputLock)>,
}

/// Why the server stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// SIGINT (Ctrl-C).
    Interrupt,
    /// SIGTERM.
    Terminate,
}

/// A listening socket on `addr`, non-blocking, its queue of connections not yet accepted
/// as long as the system allows (`net.core.somaxconn`, as Go's servers and docker-registry
/// have it), not the 128 of `std::net::TcpListener::bind`: a fleet connecting at once
/// overflows 128, and each connection past it waits a second for its SYN to be sent again.
fn listen(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    use rustix::net::{AddressFamily, SocketFlags, SocketType, sockopt};
    let family = if addr.is_ipv4() {
        AddressFamily::INET
    } else {
        AddressFamily::INET6
    };
    let fd = rustix::net::socket_with(
        family,
        SocketType::STREAM,
        SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
        None,
    )?;
    // As std's bind: a restarted server binds its port again at once.
    sockopt::set_socket_reuseaddr(&fd, true)?;
    rustix::net::bind(&fd, &addr)?;
    // The kernel takes the lesser of this and net.core.somaxconn.
    rustix::net::listen(&fd, i32::MAX)?;
    Ok(std::net::TcpListener::from(fd))
}

impl Server {
    /// Checks `OUT` (its layout's `index.json` read once), loads the certificate and key
    /// unless plain HTTP, and binds the address.
    pub fn bind(options: &Options) -> Result<Server, ServeError> {
        let out = &options.out;
        if !out.is_dir() {
            return Err(ServeError::BadOutput {
                path: out.clone(),
                message: "no such build output folder".into(),
            });
        }
        let mut cache = catalog::Cache::default();
        cache.rewrites = options.rewrites.clone();
        let snapshot = catalog::Snapshot::open(out, &cache).map_err(|e| e.into_serve(out))?;
        let images = snapshot.catalog.images();
        let tls = if options.plain_http {
            None
        } else {
            Some(Arc::new(tls::Certs::load(out)?))
        };
        let listener = listen(options.listen).map_err(|source| ServeError::Listen {
            addr: options.listen,
            source,
        })?;
        Ok(Server {
            listener,
            tls,
            state: Arc::new(State {
                out: out.clone(),
                catalog: cache,
                auth: auth::Auth::default(),
                limits: options.limits.clone(),
                paused: std::sync::atomic::AtomicBool::new(false),
            }),
            images,
            lock: None,
        })
    }

    /// Serves holding `lock`, `OUT`'s build lock taken shared before [`Server::bind`]
    /// read it, and yields it to each writer that waits for it, taking it again with `how`
    /// ([`lock`]).
    pub fn holding(
        mut self,
        lock: Option<Box<dyn lock::HeldLock>>,
        how: lock::OutputLock,
    ) -> Server {
        self.lock = Some((lock, how));
        self
    }

    /// The address it listens on (the port chosen when 0 was asked for).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The images the layout names (signatures and other attached artifacts not counted).
    pub fn images(&self) -> usize {
        self.images
    }

    /// Serves until SIGINT or SIGTERM; then stops accepting, lets requests in flight end
    /// for a few seconds and returns which signal it was.
    pub fn run(self) -> Result<Stopped, ServeError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("seedforge-serve")
            .build()
            .map_err(ServeError::Runtime)?;
        if let Some((lock, how)) = self.lock {
            let state = self.state.clone();
            std::thread::Builder::new()
                .name("seedforge-serve-lock".into())
                .spawn(move || lock::watch(state, lock, how))
                .map_err(ServeError::Runtime)?;
        }
        runtime.block_on(async move {
            use tokio::signal::unix::{SignalKind, signal};
            let mut interrupt = signal(SignalKind::interrupt()).map_err(ServeError::Runtime)?;
            let mut terminate = signal(SignalKind::terminate()).map_err(ServeError::Runtime)?;
            let listener =
                tokio::net::TcpListener::from_std(self.listener).map_err(ServeError::Runtime)?;
            let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
            let accept = limits::accept_loop(listener, self.tls, self.state, stop_rx);
            let accepting = tokio::spawn(accept);
            let stopped = tokio::select! {
                _ = interrupt.recv() => Stopped::Interrupt,
                _ = terminate.recv() => Stopped::Terminate,
            };
            let _ = stop_tx.send(true);
            let _ = tokio::time::timeout(Duration::from_secs(5), accepting).await;
            Ok(stopped)
        })
    }
}
