//! Named package sets per cluster profile, from the field: the tools operators reached
//! for on air-gapped k3s nodes and found missing, and what kubeadm's preflight refuses to
//! run without. A config or the command line uses a set by name and may add packages.

use super::error::DebsError;
use super::request::Request;

/// One named set.
#[derive(Debug, Clone, Copy)]
pub struct PackageSet {
    /// The name used in configs and on the command line.
    pub name: &'static str,
    /// What it is for.
    pub description: &'static str,
    /// The packages.
    pub packages: &'static [&'static str],
}

/// Every known set.
pub const SETS: &[PackageSet] = &[
    PackageSet {
        name: "k3s-ops",
        description: "troubleshooting tools for k3s nodes",
        packages: &[
            "jq", "htop", "ethtool", "iproute2", "dnsutils", "telnet", "psmisc", "sysstat",
            "iftop", "iotop", "dstat", "yq",
        ],
    },
    PackageSet {
        name: "kubeadm",
        description: "what kubeadm's preflight checks require on every node",
        packages: &["conntrack", "socat", "ebtables", "ipset"],
    },
];

/// Looks a set up by name.
pub fn find(name: &str) -> Result<&'static PackageSet, DebsError> {
    SETS.iter()
        .find(|s| s.name == name)
        .ok_or_else(|| DebsError::UnknownSet {
            name: name.to_string(),
            known: SETS.iter().map(|s| s.name).collect::<Vec<_>>().join(", "),
        })
}

/// The packages of `sets` followed by `extra`, without duplicates, in first-seen order.
pub fn expand(sets: &[String], extra: &[Request]) -> Result<Vec<Request>, DebsError> {
    let mut out: Vec<Request> = Vec::new();
    for name in sets {
        for p in find(name)?.packages {
            if !out.iter().any(|r| r.name == *p) {
                out.push(Request {
                    name: (*p).to_string(),
                    version: None,
                });
            }
        }
    }
    for r in extra {
        match out.iter_mut().find(|o| o.name == r.name) {
            Some(o) => o.version = r.version.clone(),
            None => out.push(r.clone()),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_expand_and_extend_without_duplicates() {
        let extra: Vec<Request> = vec!["jq=1.6".parse().unwrap(), "curl".parse().unwrap()];
        let all = expand(&["kubeadm".into(), "k3s-ops".into()], &extra).unwrap();
        assert_eq!(all[0].name, "conntrack");
        assert_eq!(all.iter().filter(|r| r.name == "jq").count(), 1);
        assert_eq!(
            all.iter().find(|r| r.name == "jq").unwrap().to_string(),
            "jq=1.6"
        );
        assert_eq!(all.last().unwrap().name, "curl");
        assert_eq!(all.len(), 4 + 12 + 1);
    }

    #[test]
    fn unknown_sets_list_the_known_ones() {
        let e = find("k8s").unwrap_err().to_string();
        assert!(e.contains("k3s-ops, kubeadm"), "{e}");
    }
}
