//! Which proxy a request goes through, decided from `HTTP_PROXY`, `HTTPS_PROXY` and
//! `NO_PROXY` by the rules of Go's `golang.org/x/net/http/httpproxy` (what containerd,
//! skopeo, podman and k3s use), so that one environment sends seedforge and the cluster's
//! own tools the same way. reqwest's own environment handling differs from Go's (it
//! proxies loopback, reads `ALL_PROXY`, and takes `host:port` entries of `NO_PROXY` for
//! domain names that never match), so [`Net`](super::Net) switches it off and asks
//! [`ProxyRules::proxy_for`] for every URL instead, redirects included.
//!
//! - `HTTP_PROXY` is for `http://` URLs, `HTTPS_PROXY` for `https://` URLs; the upper-case
//!   name wins when it is set and not empty. `ALL_PROXY` is not read (Go does not).
//! - A value without a scheme (`proxy:3128`) means `http://proxy:3128`.
//! - `localhost` and loopback addresses (127.0.0.0/8, ::1) are never proxied.
//! - `NO_PROXY` is a comma-separated list: `*` (nothing is proxied), an IP address, a CIDR
//!   block, a domain (`example.com` matches it and its subdomains, `.example.com` and
//!   `*.example.com` only its subdomains), each but `*` and CIDR optionally with `:PORT`,
//!   which then must be the request's port (the scheme's default when the URL has none).
//!   Entries that cannot be read are skipped, as Go skips them.
//! - With `REQUEST_METHOD` set (a CGI environment, where `HTTP_PROXY` can come from a
//!   request's `Proxy:` header) `HTTP_PROXY` is not used. Go fails such a request;
//!   reqwest's proxy hook cannot fail one, so seedforge connects directly, which equally
//!   keeps the value out of use.

use std::fmt;
use std::net::IpAddr;

use reqwest::Url;

/// The proxy settings of a process, parsed once.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ProxyRules {
    http: Option<Url>,
    https: Option<Url>,
    cgi: bool,
    no_proxy: NoProxy,
    /// The variables the proxies were read from, for messages.
    names: Names,
}

/// The variable each proxy was read from, spelled as it was set (`http_proxy` or
/// `HTTP_PROXY`, …): a message about a value names the variable that holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Names {
    http: &'static str,
    https: &'static str,
}

impl Default for Names {
    fn default() -> Names {
        Names {
            http: "HTTP_PROXY",
            https: "HTTPS_PROXY",
        }
    }
}

/// The parsed `NO_PROXY` list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
enum NoProxy {
    /// `*`: nothing is proxied.
    All,
    /// Entries, IP ones and domain ones apart (an IP host is matched by IP entries only).
    List {
        ips: Vec<IpEntry>,
        domains: Vec<DomainEntry>,
    },
    /// No entries.
    #[default]
    Empty,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum IpEntry {
    /// An address, with the port it is limited to (empty: any).
    Addr(IpAddr, String),
    /// A CIDR block (any port).
    Block(IpAddr, u8),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct DomainEntry {
    /// The suffix, starting with `.`.
    suffix: String,
    /// The port it is limited to (empty: any).
    port: String,
    /// The entry had no leading `.`, so the domain itself matches too.
    itself: bool,
}

impl fmt::Debug for ProxyRules {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = |u: &Option<Url>| {
            u.as_ref()
                .map(|u| crate::redact::url(u.as_str()).into_owned())
        };
        f.debug_struct("ProxyRules")
            .field("http", &shown(&self.http))
            .field("https", &shown(&self.https))
            .field("cgi", &self.cgi)
            .field("no_proxy", &self.no_proxy)
            .field("names", &self.names)
            .finish()
    }
}

/// Proxy settings fixed for a whole client, for a library that builds its own reqwest
/// client and takes only a proxy URL per scheme and a `NO_PROXY` string (`oci-client`,
/// which reaches a registry's token service and receives pushes): everything it requests
/// goes the way [`ProxyRules::proxy_for`] sends the one URL it was fixed for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FixedProxy {
    /// The proxy for `http://` URLs.
    pub http_proxy: Option<String>,
    /// The proxy for `https://` URLs.
    pub https_proxy: Option<String>,
    /// The hosts not proxied.
    pub no_proxy: Option<String>,
}

impl FixedProxy {
    /// Settings under which nothing is proxied.
    pub fn direct() -> FixedProxy {
        FixedProxy {
            http_proxy: Some(UNUSED_PROXY.to_string()),
            https_proxy: Some(UNUSED_PROXY.to_string()),
            no_proxy: Some(NOTHING_PROXIED.to_string()),
        }
    }
}

/// A proxy that is set only so that the library does not read the environment itself;
/// [`NOTHING_PROXIED`] keeps it from ever being used.
const UNUSED_PROXY: &str = "http://127.0.0.1:9";

/// Every host name (`*`) and every address (reqwest matches addresses by IP entries only).
const NOTHING_PROXIED: &str = "*, 0.0.0.0/0, ::/0";

/// Why a proxy cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{variable}={url}: only http:// and https:// proxies are supported")]
pub struct UnsupportedProxy {
    /// The variable that holds it, as it was set: `HTTP_PROXY`, `http_proxy`,
    /// `HTTPS_PROXY` or `https_proxy`.
    pub variable: &'static str,
    /// The proxy URL, its password masked.
    pub url: String,
}

impl ProxyRules {
    /// The rules of this process's environment (read as Go's `FromEnvironment` reads it).
    pub fn from_env() -> ProxyRules {
        ProxyRules::from_lookup(|name| std::env::var(name).ok())
    }

    /// The rules with the variables looked up by `var`. Each setting comes from the first
    /// of its names (upper case first) that is set and not empty, and keeps that name.
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> ProxyRules {
        let any = |names: [&'static str; 2]| {
            names
                .into_iter()
                .find_map(|n| var(n).filter(|v| !v.is_empty()).map(|v| (n, v)))
                .unwrap_or((names[0], String::new()))
        };
        let (http_name, http) = any(["HTTP_PROXY", "http_proxy"]);
        let (https_name, https) = any(["HTTPS_PROXY", "https_proxy"]);
        let (_, no_proxy) = any(["NO_PROXY", "no_proxy"]);
        ProxyRules {
            names: Names {
                http: http_name,
                https: https_name,
            },
            ..ProxyRules::new(
                &http,
                &https,
                &no_proxy,
                var("REQUEST_METHOD").is_some_and(|v| !v.is_empty()),
            )
        }
    }

    /// The rules for these values (empty: not set); `cgi` is a CGI environment. Messages
    /// name the upper-case variables.
    pub fn new(http_proxy: &str, https_proxy: &str, no_proxy: &str, cgi: bool) -> ProxyRules {
        ProxyRules {
            http: parse_proxy(http_proxy),
            https: parse_proxy(https_proxy),
            cgi,
            no_proxy: NoProxy::parse(no_proxy),
            names: Names::default(),
        }
    }

    /// The proxy for `url`, or `None` to connect directly.
    pub fn proxy_for(&self, url: &Url) -> Option<Url> {
        let proxy = match url.scheme() {
            "https" => self.https.as_ref(),
            "http" if !self.cgi => self.http.as_ref(),
            _ => None,
        }?;
        let port = url.port_or_known_default().unwrap_or_default();
        let host = url.host_str()?;
        self.use_proxy(host, port).then(|| proxy.clone())
    }

    /// The settings that send every request of a client the way `url` goes.
    pub fn fixed_for(&self, url: &Url) -> FixedProxy {
        match self.proxy_for(url) {
            Some(proxy) => FixedProxy {
                http_proxy: Some(proxy.to_string()),
                https_proxy: Some(proxy.to_string()),
                no_proxy: None,
            },
            None => FixedProxy::direct(),
        }
    }

    /// A configured proxy that would be used for `host` (`host` or `host:port`, as
    /// [`super::host_key`] makes it) but whose scheme the client cannot speak: seedforge
    /// refuses it rather than connecting directly behind the user's back.
    pub fn unsupported_for(&self, host: &str) -> Option<UnsupportedProxy> {
        let candidates = [
            (self.names.http, "http", &self.http),
            (self.names.https, "https", &self.https),
        ];
        candidates
            .into_iter()
            .find_map(|(variable, scheme, proxy)| {
                let proxy = proxy.as_ref()?;
                if matches!(proxy.scheme(), "http" | "https") {
                    return None;
                }
                let url = Url::parse(&format!("{scheme}://{host}/")).ok()?;
                self.proxy_for(&url).map(|_| UnsupportedProxy {
                    variable,
                    url: crate::redact::url(proxy.as_str()).into_owned(),
                })
            })
    }

    /// Go's `useProxy`: false for loopback and for hosts `NO_PROXY` names.
    /// `host` is a URL's host: a name, an IPv4 address or a bracketed IPv6 address.
    fn use_proxy(&self, host: &str, port: u16) -> bool {
        if host == "localhost" {
            return false;
        }
        let bare = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        let ip = bare.parse::<IpAddr>().ok().map(|ip| ip.to_canonical());
        if ip.is_some_and(|ip| ip.is_loopback()) {
            return false;
        }
        let (ips, domains) = match &self.no_proxy {
            NoProxy::All => return false,
            NoProxy::Empty => return true,
            NoProxy::List { ips, domains } => (ips, domains),
        };
        let port = port.to_string();
        let port_ok = |want: &str| want.is_empty() || want == port;
        match ip {
            Some(ip) => !ips.iter().any(|entry| match entry {
                IpEntry::Addr(addr, want) => *addr == ip && port_ok(want),
                IpEntry::Block(net, bits) => in_block(ip, *net, *bits),
            }),
            None => {
                let name = host.to_ascii_lowercase();
                !domains.iter().any(|d| {
                    (name.ends_with(&d.suffix) || (d.itself && name == d.suffix[1..]))
                        && port_ok(&d.port)
                })
            }
        }
    }
}

/// Go's `parseProxy`: a URL with a scheme and a host, else the value after `http://`.
fn parse_proxy(value: &str) -> Option<Url> {
    if value.is_empty() {
        return None;
    }
    let first = Url::parse(value);
    if let Ok(url) = &first
        && url.host_str().is_some_and(|h| !h.is_empty())
    {
        return first.ok();
    }
    Url::parse(&format!("http://{value}")).ok()
}

impl NoProxy {
    /// Go's reading of `NO_PROXY`: lower-cased, trimmed entries; unreadable ones skipped.
    fn parse(list: &str) -> NoProxy {
        let (mut ips, mut domains) = (Vec::new(), Vec::new());
        for entry in list.split(',') {
            let entry = entry.trim().to_ascii_lowercase();
            if entry.is_empty() {
                continue;
            }
            if entry == "*" {
                return NoProxy::All;
            }
            if let Some((net, bits)) = parse_cidr(&entry) {
                ips.push(IpEntry::Block(net, bits));
                continue;
            }
            let (host, port) = match split_host_port(&entry) {
                Some(("", _)) => continue,
                Some((host, port)) => (
                    host.strip_prefix('[')
                        .and_then(|h| h.strip_suffix(']'))
                        .unwrap_or(host),
                    port,
                ),
                None => (entry.as_str(), ""),
            };
            if let Ok(ip) = host.parse::<IpAddr>() {
                ips.push(IpEntry::Addr(ip.to_canonical(), port.to_string()));
                continue;
            }
            if host.is_empty() {
                continue;
            }
            let host = host
                .strip_prefix('*')
                .filter(|h| h.starts_with('.'))
                .unwrap_or(host);
            let itself = !host.starts_with('.');
            let suffix = if itself {
                format!(".{host}")
            } else {
                host.to_string()
            };
            domains.push(DomainEntry {
                suffix: idna_ascii(&suffix),
                port: port.to_string(),
                itself,
            });
        }
        if ips.is_empty() && domains.is_empty() {
            NoProxy::Empty
        } else {
            NoProxy::List { ips, domains }
        }
    }
}

/// `.name` in its ASCII (punycode) form, as request hosts are; unchanged if it is ASCII
/// already or cannot be converted.
fn idna_ascii(suffix: &str) -> String {
    if suffix.is_ascii() {
        return suffix.to_string();
    }
    match Url::parse(&format!("http://{}/", &suffix[1..])) {
        Ok(url) => url
            .host_str()
            .map_or_else(|| suffix.to_string(), |d| format!(".{d}")),
        Err(_) => suffix.to_string(),
    }
}

/// Go's `net.ParseCIDR`: `ADDRESS/BITS` with BITS within the address's length.
fn parse_cidr(entry: &str) -> Option<(IpAddr, u8)> {
    let (addr, bits) = entry.split_once('/')?;
    let addr: IpAddr = addr.parse().ok()?;
    if bits.is_empty() || !bits.bytes().all(|b| b.is_ascii_digit()) || bits.len() > 3 {
        return None;
    }
    let bits: u8 = bits.parse().ok()?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    (bits <= max).then_some((addr, bits))
}

/// True when `ip` is in the block `net/bits` (an IPv4 block holds IPv4 addresses only).
fn in_block(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    let (ip, net, width) = match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(b)) => (u128::from(a.to_bits()), u128::from(b.to_bits()), 32),
        (IpAddr::V6(a), IpAddr::V6(b)) => (a.to_bits(), b.to_bits(), 128),
        _ => return false,
    };
    let shift = width - u32::from(bits);
    if shift >= 128 {
        return true;
    }
    (ip >> shift) == (net >> shift)
}

/// Go's `net.SplitHostPort`: `host:port` or `[host]:port` (the port may be empty), the
/// brackets removed; `None` for anything else (no port, several colons without brackets).
fn split_host_port(s: &str) -> Option<(&str, &str)> {
    let colon = s.rfind(':')?;
    let (host, rest_from) = if s.starts_with('[') {
        let end = s.find(']')?;
        if end + 1 != colon {
            return None;
        }
        (&s[1..end], end + 1)
    } else {
        let host = &s[..colon];
        if host.contains(':') {
            return None;
        }
        (host, 0)
    };
    let from_open = if s.starts_with('[') { 1 } else { 0 };
    if s[from_open..].contains('[') || s[rest_from..].contains(']') {
        return None;
    }
    Some((host, &s[colon + 1..]))
}

#[cfg(test)]
#[path = "proxy_tests.rs"]
mod tests;
