//! The one network client: registries, apt repositories and `files:` URLs all go through a
//! [`Net`], so they share one HTTP stack (reqwest with rustls on ring), one trust
//! configuration, one retry policy and one set of time limits.
//!
//! - Trust: the system store (which honours `SSL_CERT_FILE`), plus CA files given for every
//!   host (`--ca-file`) and CA files for one host (`registries[].ca_file`). A client is made
//!   per host so a host's own CA is trusted for that host only.
//! - Time: a connect timeout, an idle-read timeout (no byte for that long, headers
//!   included), a deadline per attempt (short for documents, long for bulk bodies), a
//!   speed rule for bodies and a budget per request across its attempts; [`limits`]
//!   decides them all.
//! - Size: callers say how many bytes an answer may have ([`Fetch::max_bytes`]); one byte
//!   more is an error, and nothing is kept.
//! - Proxies: `HTTP_PROXY`, `HTTPS_PROXY` and `NO_PROXY` by Go's rules ([`proxy`]),
//!   decided for every URL a client requests.
//! - Offline: a [`Net`] made with `offline` cannot open a connection; every attempt is an
//!   error naming what asked for it.

pub mod fetch;
pub mod limits;
pub mod proxy;
pub mod retry;

pub use fetch::{Body, Fetch, FetchError};
pub use limits::{Budget, Cut, CutBy, Limits, Pace, Transfer};
pub use proxy::{FixedProxy, ProxyRules};
pub use retry::RetryPolicy;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::runtime::Runtime;

/// Everything a [`Net`] is made from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetSettings {
    /// Time limits.
    pub limits: Limits,
    /// The retry policy.
    pub retry: RetryPolicy,
    /// PEM files with CAs trusted for every host (besides the system's).
    pub ca_files: Vec<PathBuf>,
    /// PEM files with CAs trusted for one host (`host` or `host:port`).
    pub host_ca_files: BTreeMap<String, Vec<PathBuf>>,
    /// No connection may be opened.
    pub offline: bool,
}

/// Why the network could not be used.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// The run is offline.
    #[error("{what} cannot be fetched with --offline")]
    Offline {
        /// What asked for the network.
        what: String,
    },
    /// A CA file cannot be used, or the client cannot be set up.
    #[error("{0}")]
    Settings(String),
    /// The server's certificate is not trusted.
    #[error("{url}: {}", untrusted_advice(detail))]
    Untrusted {
        /// The URL.
        url: String,
        /// What the TLS stack said.
        detail: String,
    },
    /// The transfer failed (after the retries, where it was worth retrying).
    #[error("{url}: {message}")]
    Transfer {
        /// The URL (without credentials).
        url: String,
        /// What went wrong.
        message: String,
        /// Another run later may succeed: the server could not be reached (refused, reset,
        /// no DNS answer, no answer in time) or kept answering 429 or 5xx after the
        /// retries. False for an answer that will not change.
        transient: bool,
    },
}

/// What to say of a certificate that is not trusted, `detail` being the TLS stack's words.
pub fn untrusted_advice(detail: &str) -> String {
    format!(
        "the TLS certificate is not trusted ({detail}); pass --ca-file FILE or set SSL_CERT_FILE to a file with the CA that signed it"
    )
}

impl NetError {
    /// The message without the URL (for callers that name it already).
    pub fn detail(&self) -> String {
        match self {
            NetError::Untrusted { detail, .. } => untrusted_advice(detail),
            NetError::Transfer { message, .. } => message.clone(),
            other => other.to_string(),
        }
    }

    /// True when the user must change an input (CA file, `--offline`, trust).
    pub fn is_invalid_input(&self) -> bool {
        !matches!(self, NetError::Transfer { .. })
    }

    /// True when the server was busy or out of reach after the retries: another run
    /// later may succeed (exit 75).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            NetError::Transfer {
                transient: true,
                ..
            }
        )
    }
}

/// The network of one run: settings, the proxy rules of the environment, an async runtime
/// started on first use, and one HTTP client per host.
pub struct Net {
    settings: NetSettings,
    proxy: Arc<ProxyRules>,
    runtime: OnceLock<Runtime>,
    clients: Mutex<HashMap<String, reqwest::Client>>,
    /// What looking each `HOST:PORT` up gave (see [`Net::check_name`]).
    names: Mutex<HashMap<String, Result<(), String>>>,
}

/// `HOST:PORT` of a URL's host for a lookup; `None` for an address (nothing to look up).
fn name_lookup(host: &str, default_port: u16) -> Option<String> {
    if host.starts_with('[') {
        return None;
    }
    let (name, port) = match host.rsplit_once(':') {
        Some((n, p)) if p.parse::<u16>().is_ok() => (n, p.to_string()),
        _ => (host, default_port.to_string()),
    };
    if name.parse::<std::net::IpAddr>().is_ok() {
        return None;
    }
    Some(format!("{name}:{port}"))
}

/// Looks `host_port` up within `within`: `Err` says why it has no address.
pub async fn look_up(host_port: &str, within: Duration) -> Result<(), String> {
    match tokio::time::timeout(within, tokio::net::lookup_host(host_port)).await {
        Ok(Ok(mut addrs)) => match addrs.next() {
            Some(_) => Ok(()),
            None => Err("the name has no address".to_string()),
        },
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!(
            "no answer from DNS within {} s",
            limits::seconds(within)
        )),
    }
}

/// What a failed lookup of `host_port` means and what to do, for a message.
pub fn lookup_failed(host_port: &str, why: &str) -> String {
    let name = host_port.rsplit_once(':').map_or(host_port, |(n, _)| n);
    format!(
        "cannot look up {name}: {why}. This machine has no network or no DNS for it: reach it through a proxy (HTTPS_PROXY, or HTTP_PROXY for http:// URLs), or build with --offline from an earlier build's output and seedforge.lock"
    )
}

impl fmt::Debug for Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Net")
            .field("settings", &self.settings)
            .field("proxy", &self.proxy)
            .finish_non_exhaustive()
    }
}

impl Default for Net {
    fn default() -> Self {
        Net::new(NetSettings::default())
    }
}

impl Net {
    /// A network reached with `settings`, through the proxies the environment names.
    pub fn new(settings: NetSettings) -> Net {
        Net::with_proxy(settings, ProxyRules::from_env())
    }

    /// A network reached with `settings`, through the proxies `proxy` names.
    pub fn with_proxy(settings: NetSettings, proxy: ProxyRules) -> Net {
        install_crypto_provider();
        Net {
            settings,
            proxy: Arc::new(proxy),
            runtime: OnceLock::new(),
            clients: Mutex::new(HashMap::new()),
            names: Mutex::new(HashMap::new()),
        }
    }

    /// A network that refuses every connection.
    pub fn offline() -> Net {
        Net::new(NetSettings {
            offline: true,
            ..NetSettings::default()
        })
    }

    /// True when no connection may be opened.
    pub fn is_offline(&self) -> bool {
        self.settings.offline
    }

    /// The settings.
    pub fn settings(&self) -> &NetSettings {
        &self.settings
    }

    /// The retry policy.
    pub fn policy(&self) -> RetryPolicy {
        self.settings.retry
    }

    /// The time limits.
    pub fn limits(&self) -> Limits {
        self.settings.limits
    }

    /// Errors with [`NetError::Offline`] naming `what` when the run is offline.
    pub fn refuse_offline(&self, what: &str) -> Result<(), NetError> {
        if self.settings.offline {
            return Err(NetError::Offline {
                what: what.to_string(),
            });
        }
        Ok(())
    }

    /// The async runtime requests run on (two worker threads: transfers are I/O-bound).
    pub fn runtime(&self) -> Result<&Runtime, NetError> {
        self.refuse_offline("(network runtime)")?;
        if let Some(rt) = self.runtime.get() {
            return Ok(rt);
        }
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("seedforge-net")
            .enable_all()
            .build()
            .map_err(|e| NetError::Settings(format!("cannot start the network runtime: {e}")))?;
        let _ = self.runtime.set(rt);
        self.runtime
            .get()
            .ok_or_else(|| NetError::Settings("network runtime vanished".into()))
    }

    /// Looks `url`'s host up once per run, unless a proxy stands between (the proxy then
    /// resolves it) or it is an address: a name that does not resolve is not worth
    /// retrying, and is named as what it is (no network, no DNS) at once.
    pub fn check_name(&self, url: &reqwest::Url) -> Result<(), NetError> {
        let Some(lookup) = self.to_look_up(url) else {
            return Ok(());
        };
        let known = self.names.lock().ok().and_then(|n| n.get(&lookup).cloned());
        let outcome = match known {
            Some(o) => o,
            None => {
                let within = self.limits().connect;
                let o = self.runtime()?.block_on(look_up(&lookup, within));
                if let Ok(mut n) = self.names.lock() {
                    n.insert(lookup.clone(), o.clone());
                }
                o
            }
        };
        outcome.map_err(|why| NetError::Transfer {
            url: crate::redact::url(url.as_str()).into_owned(),
            message: lookup_failed(&lookup, &why),
            transient: true,
        })
    }

    /// The `HOST:PORT` a request to `url` needs looked up first: none for an address, or
    /// when a proxy stands between (the proxy then resolves the name).
    pub fn to_look_up(&self, url: &reqwest::Url) -> Option<String> {
        let default = url.port_or_known_default().unwrap_or(443);
        let lookup = name_lookup(&host_key(url), default)?;
        self.proxy.proxy_for(url).is_none().then_some(lookup)
    }

    /// The proxy settings for a library's own client that is to reach `url` (and whatever
    /// else it requests, the same way): see [`FixedProxy`].
    pub fn fixed_proxy(&self, url: &str) -> FixedProxy {
        // A URL that does not parse is not requested either: nothing to proxy.
        reqwest::Url::parse(url).map_or_else(|_| FixedProxy::direct(), |u| self.proxy.fixed_for(&u))
    }

    /// The CA files trusted for `host` (`host` or `host:port`), with their contents:
    /// its own, then those for every host.
    pub fn ca_pems(&self, host: &str) -> Result<Vec<(PathBuf, Vec<u8>)>, NetError> {
        let own = self.settings.host_ca_files.get(host).into_iter().flatten();
        own.chain(&self.settings.ca_files)
            .map(|file| {
                crate::input::read(file, crate::input::Kind::Text)
                    .map(|pem| (file.clone(), pem))
                    .map_err(|e| {
                        NetError::Settings(format!(
                            "{}: cannot read CA file: {}",
                            file.display(),
                            e.reason()
                        ))
                    })
            })
            .collect()
    }

    /// The HTTP client for `host` (`host` or `host:port`, as URLs and image references
    /// name it), made on first use with the trust and limits of this network.
    pub fn client(&self, host: &str) -> Result<reqwest::Client, NetError> {
        self.refuse_offline(host)?;
        let mut clients = self
            .clients
            .lock()
            .map_err(|_| NetError::Settings("HTTP client table poisoned".into()))?;
        if let Some(c) = clients.get(host) {
            return Ok(c.clone());
        }
        // reqwest needs a runtime context to build its connection pool.
        let _guard = self.runtime()?.enter();
        let mut certs = Vec::new();
        for (file, pem) in self.ca_pems(host)? {
            let bundle = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                NetError::Settings(format!(
                    "{}: not a PEM certificate file: {e}",
                    file.display()
                ))
            })?;
            if bundle.is_empty() {
                return Err(NetError::Settings(format!(
                    "{}: holds no PEM certificate",
                    file.display()
                )));
            }
            certs.extend(bundle);
        }
        if let Some(e) = self.proxy.unsupported_for(host) {
            return Err(NetError::Settings(format!("{host}: {e}")));
        }
        let limits = self.settings.limits;
        // Setting a proxy turns reqwest's own reading of the environment off; ours is
        // asked for every URL, redirects to other hosts included.
        let rules = Arc::clone(&self.proxy);
        let client = reqwest::Client::builder()
            .proxy(reqwest::Proxy::custom(move |url| rules.proxy_for(url)))
            .tls_certs_merge(certs)
            .connect_timeout(limits.connect)
            .read_timeout(limits.idle)
            // The bulk deadline; documents set their shorter cut per request.
            .timeout(limits.deadline)
            .user_agent(concat!("seedforge/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| NetError::Settings(format!("{host}: cannot set up HTTP: {e}")))?;
        clients.insert(host.to_string(), client.clone());
        Ok(client)
    }
}

/// Checks a URL's `HOST[:PORT]` (`[V6]:PORT` too): a host is named, and a port, if given,
/// is one (1-65535). The reason, for the caller to attach the URL to.
pub fn check_host_port(host_port: &str) -> Result<(), String> {
    if host_port.is_empty() {
        return Err("the URL names no host".into());
    }
    let port = match host_port.strip_prefix('[') {
        Some(v6) => v6.split_once(']').and_then(|(_, p)| p.strip_prefix(':')),
        None => host_port.split_once(':').map(|(_, p)| p),
    };
    if let Some(port) = port
        && !port.parse::<u16>().is_ok_and(|p| p != 0)
    {
        return Err(format!("the URL's port {port:?} is not a port (1-65535)"));
    }
    Ok(())
}

/// The key [`Net::client`] and [`NetSettings::host_ca_files`] use for a URL: its host,
/// with the port when the URL names one.
pub fn host_key(url: &reqwest::Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    }
}

/// Makes ring the process's rustls provider, once: reqwest and oci-client are built
/// without one so that only ring is compiled in.
fn install_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Fails only when a provider is installed already, which is as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// How a failed request should be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Worth another attempt.
    pub transient: bool,
    /// The certificate was refused.
    pub untrusted: bool,
    /// The server answered a TLS handshake with plain HTTP.
    pub not_tls: bool,
    /// The attempt ran into the end of the request's budget (final, see [`Budget::cut`]).
    pub budget: bool,
    /// The error with its causes, on one line.
    pub message: String,
}

impl Problem {
    /// A failure of the body that another attempt may not have (the speed rule).
    pub fn transient(message: String) -> Problem {
        Problem {
            transient: true,
            untrusted: false,
            not_tls: false,
            budget: false,
            message,
        }
    }

    /// A failure no other attempt can fix.
    pub fn fatal(message: String) -> Problem {
        Problem {
            transient: false,
            ..Problem::transient(message)
        }
    }

    /// The message to fail with when this is the request's last failure.
    pub fn final_message(&self, budget: &Budget) -> String {
        if self.budget {
            budget.cut(&self.message)
        } else {
            self.message.clone()
        }
    }
}

/// Sorts a reqwest error of an attempt that was to end by `cut`. Running into a bulk
/// deadline is not retried (the same server would take as long again); running into a
/// document's deadline is, within the budget ([`Cut::transient`]).
pub fn classify(
    e: &reqwest::Error,
    started: std::time::Instant,
    limits: &Limits,
    cut: Cut,
) -> Problem {
    let mut message = error_chain(e);
    let tls = tls_error(e);
    let untrusted = matches!(
        tls,
        Some(rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented)
    );
    // A server that answers the TLS hello with something else (plain HTTP).
    let not_tls = matches!(tls, Some(rustls::Error::InvalidMessage(_)));
    let deadline = e.is_timeout() && started.elapsed() + Duration::from_millis(50) >= cut.after;
    // The proxy refused the CONNECT tunnel for want of credentials (407): no retry brings
    // them, as none does for a 407 over plain HTTP.
    let proxy_auth = message.contains("proxy authorization required");
    if proxy_auth {
        message = format!(
            "{message}: the proxy answered the CONNECT tunnel with 407 Proxy Authentication Required; give its user and password in HTTPS_PROXY (http://USER:PASSWORD@HOST:PORT)"
        );
    } else if deadline {
        message = cut.describe();
    } else if e.is_timeout() && e.is_connect() {
        message = format!(
            "{message} (no connection within {} s, SEEDFORGE_CONNECT_TIMEOUT)",
            limits::seconds(limits.connect)
        );
    } else if e.is_timeout() {
        message = format!(
            "{message} (no data for {} s, SEEDFORGE_READ_TIMEOUT)",
            limits::seconds(limits.idle)
        );
    }
    Problem {
        transient: !untrusted
            && !not_tls
            && !proxy_auth
            && (!deadline || cut.transient())
            && !e.is_redirect()
            && (e.is_connect() || e.is_timeout() || e.is_request() || e.is_body()),
        untrusted,
        not_tls,
        budget: deadline && cut.by == CutBy::Budget,
        message,
    }
}

/// The TLS error under `e`, found by type down its causes. An `io::Error` is opened to
/// the error it wraps, which its `source()` skips.
fn tls_error<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut next = Some(e);
    while let Some(err) = next {
        if let Some(tls) = err.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        if let Some(inner) = err
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
            && let Some(tls) = tls_error(inner)
        {
            return Some(tls);
        }
        next = err.source();
    }
    None
}

/// An error with its causes, one line.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offline_refuses_runtime_and_clients() {
        let net = Net::offline();
        assert!(matches!(net.runtime(), Err(NetError::Offline { .. })));
        let e = net.client("example.com").unwrap_err();
        assert_eq!(
            e.to_string(),
            "example.com cannot be fetched with --offline"
        );
    }

    #[test]
    fn host_keys_keep_explicit_ports_only() {
        let url = |s: &str| reqwest::Url::parse(s).unwrap();
        assert_eq!(host_key(&url("https://a.example/x")), "a.example");
        assert_eq!(host_key(&url("https://a.example:8443/x")), "a.example:8443");
        assert_eq!(host_key(&url("http://127.0.0.1:5000/")), "127.0.0.1:5000");
    }

    #[test]
    fn host_ca_files_come_before_global_ones() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.pem"), dir.path().join("b.pem"));
        std::fs::write(&a, "A").unwrap();
        std::fs::write(&b, "B").unwrap();
        let mut settings = NetSettings {
            ca_files: vec![b.clone()],
            ..NetSettings::default()
        };
        settings.host_ca_files.insert("h:1".into(), vec![a.clone()]);
        let net = Net::new(settings);
        let files = |h: &str| -> Vec<PathBuf> {
            net.ca_pems(h)
                .unwrap()
                .into_iter()
                .map(|(f, _)| f)
                .collect()
        };
        assert_eq!(files("h:1"), [a, b.clone()]);
        assert_eq!(files("h"), [b]);
    }
}
