//! The `packages:` section of seedforge.yaml: the offline package bundles a build writes.
//!
//! ```yaml
//! packages:
//!   - name: ops                   # out/packages/ops.tar.gz
//!     sets: [k3s-ops]             # named sets (k3s-ops, kubeadm)
//!     packages: [jq, curl=7.88.1-10+deb12u5]
//!     arch: amd64                 # default amd64
//!     nodes: true                 # on every seed, installed by the bootstrap (default);
//!                                 # false: only out/packages, for a machine that is no node
//!     base: base-bookworm.txt     # the node image's /var/lib/dpkg/status
//!     debs: [debs/]               # .deb files or directories, or instead:
//!     # repo: {url: http://deb.debian.org/debian, suite: bookworm,
//!     #        components: [main], keyring: /usr/share/keyrings/debian-archive-keyring.gpg}
//! ```
//!
//! Values are checked while the config is read (names, sets, package names, exactly one
//! source), so a typo fails with the config's file and line.

use super::pipeline::BundleSpec;
use super::repo::{PackageSource, RepoSpec};
use super::request::Request;
use super::sets;
use crate::winpath::LinuxPath;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// One bundle in the config.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawBundle")]
pub struct BundleConfig {
    /// Bundle name: the tarball is `packages/<name>.tar.gz`.
    pub name: String,
    /// Named package sets.
    pub sets: Vec<String>,
    /// Extra packages.
    pub packages: Vec<Request>,
    /// Native architecture.
    pub arch: String,
    /// Base list, relative to the config's directory.
    pub base: Option<PathBuf>,
    /// The source (paths relative to the config's directory).
    pub sources: Vec<PackageSource>,
    /// Carried on every node's seed and installed by the bootstrap (`true`, the default),
    /// or only written under the output, for a machine that is not a node (the registry
    /// host).
    pub nodes: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBundle {
    name: String,
    #[serde(default)]
    sets: Vec<String>,
    #[serde(default)]
    packages: Vec<String>,
    #[serde(default)]
    arch: Option<String>,
    #[serde(default)]
    base: Option<LinuxPath>,
    #[serde(default)]
    debs: Vec<LinuxPath>,
    #[serde(default)]
    repo: Option<RawRepo>,
    #[serde(default)]
    repos: Vec<RawRepo>,
    #[serde(default)]
    nodes: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRepo {
    url: String,
    suite: String,
    #[serde(default)]
    components: Vec<String>,
    #[serde(default)]
    keyring: Option<LinuxPath>,
}

impl TryFrom<RawBundle> for BundleConfig {
    type Error = String;

    fn try_from(raw: RawBundle) -> Result<Self, String> {
        let name_ok = (1..=63).contains(&raw.name.len())
            && raw
                .name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !raw.name.starts_with('-');
        if !name_ok {
            return Err(format!(
                "bundle name {:?}: use 1-63 lowercase letters, digits and '-'",
                raw.name
            ));
        }
        for s in &raw.sets {
            sets::find(s).map_err(|e| e.to_string())?;
        }
        let packages = raw
            .packages
            .iter()
            .map(|p| p.parse::<Request>())
            .collect::<Result<Vec<_>, _>>()?;
        if raw.sets.is_empty() && packages.is_empty() {
            return Err(format!(
                "bundle {}: name at least one set or package",
                raw.name
            ));
        }
        // Local .debs first, then the repositories in the order given: of two equal
        // versions the earlier source's is taken.
        let mut sources = Vec::new();
        if !raw.debs.is_empty() {
            sources.push(PackageSource::Debs(
                raw.debs.into_iter().map(PathBuf::from).collect(),
            ));
        }
        for r in raw.repo.into_iter().chain(raw.repos) {
            sources.push(PackageSource::Repo(RepoSpec {
                url: r.url,
                suite: r.suite,
                components: if r.components.is_empty() {
                    vec!["main".into()]
                } else {
                    r.components
                },
                keyring: r.keyring.map(PathBuf::from),
            }));
        }
        if sources.is_empty() {
            return Err(format!(
                "bundle {}: give a source: debs, repo or repos (any of them together)",
                raw.name
            ));
        }
        Ok(BundleConfig {
            name: raw.name,
            sets: raw.sets,
            packages,
            arch: raw.arch.unwrap_or_else(|| "amd64".into()),
            base: raw.base.map(PathBuf::from),
            sources,
            nodes: raw.nodes.unwrap_or(true),
        })
    }
}

impl BundleConfig {
    /// The bundle spec with paths resolved against the config's directory `dir`.
    pub fn spec(&self, dir: &Path) -> BundleSpec {
        let sources = self
            .sources
            .iter()
            .map(|source| match source {
                PackageSource::Debs(paths) => {
                    PackageSource::Debs(paths.iter().map(|p| dir.join(p)).collect())
                }
                PackageSource::Repo(r) => {
                    let mut r = r.clone();
                    if r.url.starts_with("file://") || r.url.starts_with("file:") {
                        let path = r
                            .url
                            .trim_start_matches("file://")
                            .trim_start_matches("file:");
                        r.url = format!("file://{}", dir.join(path).display());
                    }
                    r.keyring = r.keyring.map(|k| dir.join(k));
                    PackageSource::Repo(r)
                }
            })
            .collect();
        BundleSpec {
            name: self.name.clone(),
            sources,
            arch: self.arch.clone(),
            sets: self.sets.clone(),
            packages: self.packages.clone(),
            base: self.base.as_ref().map(|b| dir.join(b)),
        }
    }
}

/// Checks that bundle names are unique.
pub fn check_unique(bundles: &[BundleConfig]) -> Result<(), String> {
    for (i, b) in bundles.iter().enumerate() {
        if bundles[..i].iter().any(|o| o.name == b.name) {
            return Err(format!("packages: bundle name {:?} is used twice", b.name));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, ConfigError};
    use crate::debs::PackageSource;
    use std::path::Path;

    const BASE: &str = "\
version: 1
cluster:
  name: lab
  k3s_version: v1.33.1+k3s1
registry:
  host: 192.168.6.1
images:
  lists: [images.txt]
packages:
";

    fn parse(section: &str) -> Result<Config, ConfigError> {
        Config::parse(
            &format!("{BASE}{section}"),
            Path::new("conf/seedforge.yaml"),
        )
    }

    fn error(section: &str) -> String {
        parse(section).unwrap_err().to_string()
    }

    #[test]
    fn bundles_parse_with_defaults_and_resolve_paths() {
        let c = parse(
            "  - name: ops\n    sets: [k3s-ops]\n    packages: [curl=7.88.1-10]\n    base: base.txt\n    debs: [debs]\n  - name: kube\n    sets: [kubeadm]\n    repo: {url: 'file:mirror', suite: bookworm}\n",
        )
        .unwrap();
        assert_eq!(c.packages.len(), 2);
        assert!(
            c.packages.iter().all(|b| b.nodes),
            "on the seeds by default"
        );
        let spec = c.packages[0].spec(&c.dir);
        assert_eq!(spec.arch, "amd64");
        assert_eq!(spec.base.as_deref(), Some(Path::new("conf/base.txt")));
        assert_eq!(
            spec.sources,
            [PackageSource::Debs(vec!["conf/debs".into()])]
        );
        match &c.packages[1].spec(&c.dir).sources[..] {
            [PackageSource::Repo(r)] => {
                assert_eq!(r.url, "file://conf/mirror");
                assert_eq!(r.components, ["main"]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn debs_repo_and_repos_together_keep_their_order() {
        let c = parse(
            "  - name: ops\n    packages: [jq]\n    debs: [d]\n    repo: {url: http://a/debian, suite: bookworm}\n    repos:\n      - {url: http://a/debian, suite: bookworm-updates}\n      - {url: http://s/debian-security, suite: bookworm-security, components: [main, contrib]}\n",
        )
        .unwrap();
        let order: Vec<String> = c.packages[0]
            .spec(&c.dir)
            .sources
            .iter()
            .map(|s| match s {
                PackageSource::Debs(p) => format!("debs {}", p[0].display()),
                PackageSource::Repo(r) => {
                    format!("{} {} {}", r.url, r.suite, r.components.join(","))
                }
            })
            .collect();
        assert_eq!(
            order,
            [
                "debs conf/d",
                "http://a/debian bookworm main",
                "http://a/debian bookworm-updates main",
                "http://s/debian-security bookworm-security main,contrib",
            ]
        );
    }

    #[test]
    fn a_bundle_for_another_machine_is_kept_off_the_seeds() {
        let c = parse("  - name: registry-host\n    packages: [docker-registry]\n    debs: [d]\n    nodes: false\n")
            .unwrap();
        assert!(!c.packages[0].nodes);
        let e = error("  - name: r\n    packages: [jq]\n    debs: [d]\n    nodes: \"false\"\n");
        assert!(e.starts_with("conf/seedforge.yaml:"), "{e}");
    }

    #[test]
    fn bundle_mistakes_name_the_line() {
        let e = error("  - name: ops\n    sets: [k8s]\n    debs: [d]\n");
        assert!(e.starts_with("conf/seedforge.yaml:1"), "{e}");
        assert!(e.contains("k3s-ops, kubeadm"), "{e}");
        let e = error("  - name: ops\n    packages: [jq]\n");
        assert!(e.contains("give a source: debs, repo or repos"), "{e}");
        let e = error("  - name: ops\n    debs: [d]\n");
        assert!(e.contains("at least one set or package"), "{e}");
        let e = error("  - name: Ops\n    packages: [jq]\n    debs: [d]\n");
        assert!(e.contains("bundle name"), "{e}");
        let e = error("  - name: ops\n    packages: [jq]\n    debs: [d]\n    extra: 1\n");
        assert!(e.contains("extra"), "{e}");
        let twice = "  - name: ops\n    packages: [jq]\n    debs: [d]\n";
        let e = error(&format!("{twice}{twice}"));
        assert!(e.contains("used twice"), "{e}");
    }
}
