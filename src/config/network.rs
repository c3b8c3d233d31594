//! `network:` and `nodes[].mac` — which interface a node's static address goes on, in a
//! form every renderer of cloud-init reads. cloud-init hands a version 2 `network-config`
//! to netplan as it is, but converts it itself for its other renderers (ENI, networkd,
//! sysconfig, NetworkManager), which take the interface's name from the `ethernets` entry's
//! key (or its `set-name`) and ignore a `match: {name: GLOB}`. So a plain name is the key,
//! a MAC address is matched with `set-name`, and a glob only reaches netplan (the entry is
//! then keyed `eth0`, [`GLOB_FALLBACK`], for the other renderers). Values are checked while parsing,
//! so a bad one is an error at its own line.

use serde::Deserialize;
use serde::de;
use std::net::IpAddr;

/// `network:`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Network {
    /// Default gateway for the nodes.
    #[serde(default, deserialize_with = "crate::vocab::ip_field::optional")]
    pub gateway: Option<IpAddr>,
    /// DNS servers for the nodes.
    #[serde(default, deserialize_with = "crate::vocab::ip_field::list")]
    pub nameservers: Vec<IpAddr>,
    /// The interface the static address goes on: a plain name (`ens18`), or a glob
    /// (`e*`, the default) that only netplan reads.
    #[serde(default)]
    pub interface: Interface,
}

pub use crate::render::{GLOB_FALLBACK, is_glob};

/// The default `network.interface`: netplan matches the first interface whose name starts
/// with `e` (Ubuntu's and Debian's cloud images); the other renderers take [`GLOB_FALLBACK`].
pub const DEFAULT_INTERFACE: &str = "e*";

/// `network.interface`: a Linux interface name (at most 15 bytes of letters, digits, `-`,
/// `_` and `.`) or, with `*`, `?` or `[...]`, a glob netplan matches names with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface(pub String);

impl Default for Interface {
    fn default() -> Self {
        Interface(DEFAULT_INTERFACE.to_string())
    }
}

impl Interface {
    /// Whether this is a glob (only netplan reads it) rather than one interface's name.
    pub fn is_glob(&self) -> bool {
        is_glob(&self.0)
    }
}

/// Why `name` is not an interface name or glob, if it is not.
fn interface_error(name: &str) -> Option<String> {
    let glob = is_glob(name);
    let allowed = |c: char| {
        c.is_ascii_alphanumeric()
            || matches!(c, '-' | '_' | '.')
            || (glob && matches!(c, '*' | '?' | '[' | ']' | '!'))
    };
    if name.is_empty() {
        return Some(
            "network.interface is empty; give the interface's name (ens18) or a netplan glob (e*)"
                .into(),
        );
    }
    if let Some(bad) = name.chars().find(|c| !allowed(*c)) {
        return Some(format!(
            "network.interface {name:?} holds {bad:?}: an interface name is letters, digits, '-', '_' and '.' (a glob adds '*', '?' and '[...]')"
        ));
    }
    if !glob && name.len() > 15 {
        return Some(format!(
            "network.interface {name:?} is {} bytes long; Linux interface names have at most 15",
            name.len()
        ));
    }
    if name == "." || name == ".." {
        return Some(format!("network.interface {name:?} is no interface name"));
    }
    None
}

impl<'de> Deserialize<'de> for Interface {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        match interface_error(&s) {
            Some(message) => Err(de::Error::custom(message)),
            None => Ok(Interface(s)),
        }
    }
}

/// `nodes[].mac`: the MAC address of the node's NIC (`52:54:00:12:34:56`, six pairs of hex
/// digits separated by `:`), kept in lowercase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MacAddress(pub String);

impl<'de> Deserialize<'de> for MacAddress {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let pairs: Vec<&str> = s.split([':', '-']).collect();
        let well_formed = pairs.len() == 6
            && pairs
                .iter()
                .all(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_hexdigit()))
            && !(s.contains(':') && s.contains('-'));
        if !well_formed {
            return Err(de::Error::custom(format!(
                "{s:?} is not a MAC address: six pairs of hex digits separated by ':' (52:54:00:12:34:56)"
            )));
        }
        let first = u8::from_str_radix(pairs[0], 16).unwrap_or(0);
        if first & 1 == 1 {
            return Err(de::Error::custom(format!(
                "{s:?} is a multicast address, which no NIC has"
            )));
        }
        Ok(MacAddress(pairs.join(":").to_ascii_lowercase()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn interface(s: &str) -> Result<Interface, String> {
        serde_json::from_value(serde_json::Value::String(s.into())).map_err(|e| e.to_string())
    }

    fn mac(s: &str) -> Result<MacAddress, String> {
        serde_json::from_value(serde_json::Value::String(s.into())).map_err(|e| e.to_string())
    }

    #[test]
    fn names_and_globs_are_told_apart_and_bad_ones_refused() {
        assert!(!interface("ens18").unwrap().is_glob());
        assert!(!interface("enp0s3").unwrap().is_glob());
        assert!(interface("e*").unwrap().is_glob());
        assert!(interface("en[ps]*").unwrap().is_glob());
        for bad in [
            "",
            "eth 0",
            "eth0\"",
            "a/b",
            "abcdefghijklmnop",
            "..",
            "eth0:1",
        ] {
            assert!(interface(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn a_mac_is_six_hex_pairs_kept_in_lowercase() {
        assert_eq!(mac("52:54:00:AB:cd:01").unwrap().0, "52:54:00:ab:cd:01");
        assert_eq!(mac("52-54-00-ab-cd-01").unwrap().0, "52:54:00:ab:cd:01");
        for bad in [
            "52:54:00:ab:cd",
            "52:54:00:ab:cd:0g",
            "5254.00ab.cd01",
            "01:00:5e:00:00:01",
        ] {
            assert!(mac(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
