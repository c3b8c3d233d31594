//! The shared vocabulary of the layers above: host names and addresses, DNS labels,
//! subnets, and secrets that never print their value. The config is written in these
//! types, and the capabilities take them without knowing the config.

use serde::Deserialize;
use serde::de::{self, MapAccess, Visitor};
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// A secret could not be read: which one, from which config, and why (never its value).
#[derive(Debug, thiserror::Error)]
#[error("{}: secret {what}: {message}", path.display())]
pub struct SecretError {
    /// The config file the secret belongs to.
    pub path: PathBuf,
    /// Which secret (`cluster.token`).
    pub what: String,
    /// What is wrong.
    pub message: String,
}

/// A DNS label: 1-63 lowercase letters, digits and '-', not starting or ending with '-'.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsLabel(String);

impl DnsLabel {
    /// The label.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub(crate) fn parse(s: &str) -> Result<DnsLabel, String> {
        let ok = (1..=63).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !s.starts_with('-')
            && !s.ends_with('-');
        if ok {
            Ok(DnsLabel(s.to_string()))
        } else {
            Err(format!(
                "{s:?} is not a valid name: use 1-63 lowercase letters, digits and '-', not starting or ending with '-'"
            ))
        }
    }
}

impl<'de> Deserialize<'de> for DnsLabel {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        DnsLabel::parse(&String::deserialize(d)?).map_err(de::Error::custom)
    }
}

/// A registry host: an IP address or a DNS name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    /// An IP address.
    Ip(IpAddr),
    /// A DNS name.
    Name(String),
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]"),
            Host::Ip(ip) => write!(f, "{ip}"),
            Host::Name(n) => f.write_str(n),
        }
    }
}

/// Reads a bare IP address, refusing anything else with the value and what is wrong with
/// it (`"10.20.30.1:53" is not an IP address: a port is not written here`), where serde's
/// own reader says only "invalid IP address syntax".
pub fn parse_ip(s: &str) -> Result<IpAddr, String> {
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Ok(ip);
    }
    let hint = if let Some((ip, _)) = s.split_once('/')
        && ip.parse::<IpAddr>().is_ok()
    {
        ": give the address without its /prefix"
    } else if s.rsplit_once(':').is_some_and(|(ip, port)| {
        port.bytes().all(|b| b.is_ascii_digit())
            && ip
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>()
                .is_ok()
    }) {
        ": a port is not written here"
    } else {
        " (IPv4 like 192.168.6.1 or IPv6 like fd00::1)"
    };
    Err(format!("{s:?} is not an IP address{hint}"))
}

/// `#[serde(deserialize_with)]` readers for IP address fields, through [`parse_ip`].
pub mod ip_field {
    use serde::{Deserialize as _, Deserializer, de};
    use std::net::IpAddr;

    /// One address.
    pub fn one<'de, D: Deserializer<'de>>(d: D) -> Result<IpAddr, D::Error> {
        super::parse_ip(&String::deserialize(d)?).map_err(de::Error::custom)
    }

    /// An optional address.
    pub fn optional<'de, D: Deserializer<'de>>(d: D) -> Result<Option<IpAddr>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|s| super::parse_ip(&s).map_err(de::Error::custom))
            .transpose()
    }

    /// One element of a list, read (and refused) where it stands.
    struct Element(IpAddr);

    impl<'de> serde::Deserialize<'de> for Element {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Element, D::Error> {
            one(d).map(Element)
        }
    }

    /// A list of addresses; a bad one is refused at its own place.
    pub fn list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<IpAddr>, D::Error> {
        Ok(Vec::<Element>::deserialize(d)?
            .into_iter()
            .map(|e| e.0)
            .collect())
    }
}

impl<'de> Deserialize<'de> for Host {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?.parse().map_err(de::Error::custom)
    }
}

impl std::str::FromStr for Host {
    type Err = String;

    fn from_str(s: &str) -> Result<Host, String> {
        if let Ok(ip) = s.parse::<IpAddr>() {
            // Loopback stays allowed: it is a usual extra SAN for the registry's own host.
            if let Some(why) = unusable_host(ip).filter(|_| !ip.is_loopback()) {
                return Err(format!("{s} is {why}, not an address a node can reach"));
            }
            return Ok(Host::Ip(ip));
        }
        let valid = s.len() <= 253
            && !s.is_empty()
            && s.split('.').all(|l| {
                (1..=63).contains(&l.len())
                    && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                    && !l.starts_with('-')
                    && !l.ends_with('-')
            });
        if !valid || s.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
            return Err(format!(
                "{s:?} is neither an IP address nor a DNS name (give the host without scheme or port)"
            ));
        }
        Ok(Host::Name(s.to_ascii_lowercase()))
    }
}

impl Host {
    /// Reads a certificate name: a host ([`Host::from_str`]), or a wildcard DNS name as
    /// Go's crypto/x509 verifier (what k3s and containerd check with) accepts it: `*` as
    /// the whole leftmost label of a DNS name (`*.lab.example`, which covers
    /// `registry.lab.example` and no deeper name). A `*` anywhere else is refused.
    pub fn parse_san(s: &str) -> Result<Host, String> {
        match s.strip_prefix("*.") {
            Some(rest) => match rest.parse::<Host>() {
                Ok(Host::Name(name)) => Ok(Host::Name(format!("*.{name}"))),
                _ => Err(format!(
                    "{s:?} is not a wildcard name a certificate verifier accepts: `*` stands alone as the leftmost label of a DNS name (*.lab.example)"
                )),
            },
            None if s.contains('*') => Err(format!(
                "{s:?} is not a wildcard name a certificate verifier accepts: `*` stands alone as the leftmost label of a DNS name (*.lab.example)"
            )),
            None => s.parse(),
        }
    }

    /// The host without IPv6 brackets: what goes into a certificate's common name.
    pub fn bare(&self) -> String {
        match self {
            Host::Ip(ip) => ip.to_string(),
            Host::Name(n) => n.clone(),
        }
    }
}

/// Why `ip` cannot be a host's own address (unspecified, loopback, multicast, broadcast).
pub(crate) fn unusable_host(ip: IpAddr) -> Option<&'static str> {
    if ip.is_unspecified() {
        Some("the unspecified address")
    } else if ip.is_loopback() {
        Some("a loopback address")
    } else if ip.is_multicast() {
        Some("a multicast address")
    } else if ip == IpAddr::V4(std::net::Ipv4Addr::BROADCAST) {
        Some("the broadcast address")
    } else {
        None
    }
}

impl Cidr {
    /// The prefix as a bit mask over the address's 128 (or 32) bits.
    fn mask(&self) -> u128 {
        let bits = if self.ip.is_ipv4() { 32 } else { 128 };
        let ones = u128::MAX >> (128 - bits);
        match u32::from(self.prefix) {
            0 => 0,
            p => ones & !(ones >> p),
        }
    }

    fn bits(ip: IpAddr) -> u128 {
        match ip {
            IpAddr::V4(v4) => u128::from(u32::from(v4)),
            IpAddr::V6(v6) => u128::from(v6),
        }
    }

    /// True if `other` lies in this address's subnet (and is of the same family).
    pub fn contains(&self, other: IpAddr) -> bool {
        self.ip.is_ipv4() == other.is_ipv4()
            && Cidr::bits(self.ip) & self.mask() == Cidr::bits(other) & self.mask()
    }

    /// Refuses what cannot be a node's own address: a subnet of everything, an address
    /// that is no host's, or its subnet's network or broadcast address.
    fn check_host(&self) -> Result<(), String> {
        if self.prefix == 0 {
            return Err(format!(
                "{self}: a /0 prefix is the whole address space, not the node's subnet"
            ));
        }
        if let Some(why) = unusable_host(self.ip) {
            return Err(format!(
                "{self}: {} is {why}, not a node's address",
                self.ip
            ));
        }
        let host_bits = Cidr::bits(self.ip) & !self.mask();
        let all_host = !self.mask() & (u128::MAX >> if self.ip.is_ipv4() { 96 } else { 0 });
        // /31 and /32 (/127 and /128) have no network or broadcast address to avoid.
        let max = if self.ip.is_ipv4() { 30 } else { 126 };
        if self.prefix <= max {
            if host_bits == 0 {
                return Err(format!(
                    "{self}: {} is the network address of its subnet, not a host's",
                    self.ip
                ));
            }
            if self.ip.is_ipv4() && host_bits == all_host {
                return Err(format!(
                    "{self}: {} is the broadcast address of its subnet, not a host's",
                    self.ip
                ));
            }
        }
        Ok(())
    }
}

/// An address with a prefix length (`192.168.6.10/24`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    /// The address.
    pub ip: IpAddr,
    /// The prefix length.
    pub prefix: u8,
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.ip, self.prefix)
    }
}

impl<'de> Deserialize<'de> for Cidr {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let err = || {
            de::Error::custom(format!(
                "{s:?} is not an address with prefix length like 192.168.6.10/24"
            ))
        };
        let (ip, prefix) = s.split_once('/').ok_or_else(err)?;
        let ip: IpAddr = ip.parse().map_err(|_| err())?;
        let prefix: u8 = prefix.parse().map_err(|_| err())?;
        let max = if ip.is_ipv4() { 32 } else { 128 };
        if prefix > max {
            return Err(err());
        }
        let cidr = Cidr { ip, prefix };
        cidr.check_host().map_err(de::Error::custom)?;
        Ok(cidr)
    }
}

/// A secret given indirectly. Its value is read only when a step needs it and is never
/// printed: `Debug` shows where it comes from, not what it is.
#[derive(Clone, PartialEq, Eq)]
pub enum Secret {
    /// Read from an environment variable.
    Env(String),
    /// Read from a file (relative to the config's directory).
    File(PathBuf),
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Secret::Env(name) => write!(f, "Secret(env {name})"),
            Secret::File(path) => write!(f, "Secret(file {})", path.display()),
        }
    }
}

/// A resolved secret value. It cannot be printed by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretValue(String);

impl SecretValue {
    /// The value, for the one place that must use it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretValue(<redacted>)")
    }
}

impl Secret {
    /// Reads the secret. `what` names it in errors (`cluster.token`); `config` is the
    /// config file, whose directory relative secret files resolve against.
    pub fn resolve(&self, what: &str, config: &Path) -> Result<SecretValue, SecretError> {
        Secret::judge(self.read_raw(what, config)?, what, config)
    }

    /// [`Secret::resolve`], registering the value with `secrets` first (even a rejected
    /// value is somebody's secret).
    pub fn resolve_registered(
        &self,
        what: &str,
        config: &Path,
        secrets: &crate::redact::Secrets,
    ) -> Result<SecretValue, SecretError> {
        let value = self.read_raw(what, config)?;
        secrets.register(&value);
        Secret::judge(value, what, config)
    }

    /// A value read by [`Secret::read_raw`], refused if no tool could use it.
    fn judge(value: String, what: &str, config: &Path) -> Result<SecretValue, SecretError> {
        let fail = |message: String| SecretError {
            path: config.to_path_buf(),
            what: what.to_string(),
            message,
        };
        if value.is_empty() {
            return Err(fail("the secret is empty".into()));
        }
        if value.trim().is_empty() {
            return Err(fail("the secret is only whitespace".into()));
        }
        if value.contains('\0') {
            return Err(fail("the secret holds a NUL byte".into()));
        }
        if value.contains(['\n', '\r']) {
            return Err(fail(
                "the secret holds a line break (a secret file holds one line)".into(),
            ));
        }
        Ok(SecretValue(value))
    }

    /// The value as read, before [`Secret::resolve`] judges it (a run registers even a
    /// rejected value with its [`crate::redact::Secrets`]: it is somebody's secret).
    pub fn read_raw(&self, what: &str, config: &Path) -> Result<String, SecretError> {
        let fail = |message: String| SecretError {
            path: config.to_path_buf(),
            what: what.to_string(),
            message,
        };
        Ok(match self {
            Secret::Env(name) => std::env::var(name)
                .map_err(|_| fail(format!("environment variable {name} is not set")))?,
            Secret::File(file) => {
                let dir = config.parent().unwrap_or(Path::new("."));
                let full = dir.join(file);
                let bytes = crate::input::read(&full, crate::input::Kind::Secret)
                    .map_err(|e| fail(format!("cannot read {}: {}", full.display(), e.reason())))?;
                let text = String::from_utf8(bytes)
                    .map_err(|_| fail(format!("{} is not UTF-8 text", full.display())))?;
                text.trim_end_matches(['\n', '\r']).to_string()
            }
        })
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct SecretVisitor;
        impl<'de> Visitor<'de> for SecretVisitor {
            type Value = Secret;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("{env: NAME} or {file: PATH}")
            }

            fn visit_str<E: de::Error>(self, _: &str) -> Result<Secret, E> {
                Err(E::custom(
                    "secrets cannot be written inline; use {env: NAME} or {file: PATH}",
                ))
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Secret, A::Error> {
                let mut found: Option<Secret> = None;
                while let Some(key) = map.next_key::<String>()? {
                    let empty = || de::Error::custom(format!("{key} must not be empty"));
                    let secret = match key.as_str() {
                        "env" => Secret::Env(
                            Some(map.next_value::<String>()?)
                                .filter(|v| !v.is_empty())
                                .ok_or_else(empty)?,
                        ),
                        // A path field: a Windows path is refused like any other's.
                        "file" => Secret::File(
                            Some(map.next_value::<crate::winpath::LinuxPath>()?)
                                .filter(|v| !v.as_os_str().is_empty())
                                .ok_or_else(empty)?
                                .into(),
                        ),
                        other => {
                            map.next_value::<de::IgnoredAny>()?;
                            return Err(de::Error::custom(format!(
                                "unknown secret source {other:?}; use env or file"
                            )));
                        }
                    };
                    if found.replace(secret).is_some() {
                        return Err(de::Error::custom("give exactly one of env or file"));
                    }
                }
                found.ok_or_else(|| de::Error::custom("give one of {env: NAME} or {file: PATH}"))
            }
        }
        d.deserialize_any(SecretVisitor)
    }
}

/// A node's k3s role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Runs the k3s server (control plane).
    Server,
    /// Runs the k3s agent and joins a server.
    Agent,
}

/// How a node is installed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum InstallMode {
    /// The node boots an installed image; cloud-init applies the seed (the default).
    #[default]
    #[serde(rename = "cloud-init")]
    CloudInit,
    /// Ubuntu's installer (Subiquity) installs the node from its seed's `autoinstall:`.
    #[serde(rename = "autoinstall")]
    Autoinstall,
}

impl InstallMode {
    /// The name used in the config and in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            InstallMode::CloudInit => "cloud-init",
            InstallMode::Autoinstall => "autoinstall",
        }
    }
}
