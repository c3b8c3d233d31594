//! Helm charts and Kubernetes manifests carried across the air gap (`charts:`,
//! `manifests:`): what an entry may say, checked while the config is read so a bad one is
//! refused at its line; the fetching, the check of a values file against the chart's own
//! values and the node-side manifests live in the submodules.
//!
//! A chart's version must be exact: a range or `latest` would make the same config fetch
//! different charts on different days, and the lock could not say which one a build used.

pub mod calico;
pub mod coalesce;
pub mod context;
pub mod fetch;
pub mod found;
pub mod helmchart;
pub mod helmignore;
pub mod images;
pub mod load;
pub mod local;
pub mod manifests;
pub mod pulled;
pub mod push;
pub mod render;
mod typed;
pub mod values;

use crate::input::Location;
use crate::vocab::DnsLabel;
use serde::Deserialize;
use serde::de;
use std::path::PathBuf;

/// The largest values file read (a values file is a page of settings).
pub const MAX_VALUES_SIZE: u64 = 4 << 20;

/// Reads a chart's YAML document (a values file, the chart's `values.yaml` or
/// `Chart.yaml`) of any size its cap allows. The YAML reader's default budget (a million
/// events, 250,000 nodes, maps 64 deep) refuses files far below the caps; every input read
/// here is capped already, so the budget is scaled to the text instead: no YAML text yields
/// more than a few events and nodes per byte. The depth stays the reader's (64 levels).
/// A key repeated in a mapping keeps its last value, as Helm reads chart YAML and a
/// release's manifests (go-yaml v2 through sigs.k8s.io/yaml, not strict): traefik's chart
/// renders `prometheus.io/scrape` twice in a pod's annotations when the values set it too.
/// Comments are skipped as go-yaml skips them, however many.
pub fn read_yaml<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, serde_saphyr::Error> {
    let mut budget = serde_saphyr::Budget::default();
    let scaled = text.len().saturating_mul(4).saturating_add(1024);
    budget.max_events = budget.max_events.max(scaled);
    budget.max_nodes = budget.max_nodes.max(scaled);
    budget.max_total_scalar_bytes = budget.max_total_scalar_bytes.max(text.len());
    let mut options = serde_saphyr::Options::default();
    options.budget = Some(budget);
    options.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::LastWins;
    // Comments are skipped, never kept: kept, the reader buffers those it meets while it
    // looks ahead for a value and refuses more than a few dozen ("too many buffered
    // comments"), where go-yaml reads any number (a key whose value is only a long
    // commented-out block is `null`, as node-feature-discovery's values.yaml has it).
    options.emit_comments = false;
    serde_saphyr::from_str_with_options(text, options)
}

/// What can go wrong with a chart or a manifest.
#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    /// The chart could not be fetched (network, repository, index, registry).
    #[error("chart {chart}: {message}")]
    Fetch {
        /// The chart's entry name.
        chart: String,
        /// What went wrong.
        message: String,
    },
    /// The chart's repository or registry was busy or out of reach after the retries
    /// (another run later may succeed).
    #[error("chart {chart}: {message}")]
    Unreachable {
        /// The chart's entry name.
        chart: String,
        /// What went wrong.
        message: String,
    },
    /// The archive does not hash to the digest its repository (or the lock) gives.
    #[error(
        "chart {chart}: {origin} hashes to {actual}, but {expected} was expected; nothing was written"
    )]
    Tampered {
        /// The chart's entry name.
        chart: String,
        /// Where it came from.
        origin: String,
        /// The digest the repository, registry or lock gives.
        expected: String,
        /// The digest of what arrived.
        actual: String,
    },
    /// `--locked` or `--offline`, and the lock pins another digest, or nothing.
    #[error("{0}")]
    Locked(String),
    /// An input (a values file, a manifest, the chart's content) is invalid.
    #[error("{0}")]
    Invalid(String),
}

impl ChartError {
    /// True for bad input (exit 2): a values key the chart lacks, a bad manifest.
    pub fn is_invalid_input(&self) -> bool {
        matches!(self, ChartError::Invalid(_) | ChartError::Locked(_))
    }

    /// True when the chart's server was busy or out of reach (exit 75).
    pub fn is_transient(&self) -> bool {
        matches!(self, ChartError::Unreachable { .. })
    }
}

/// Where a chart comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChartRepo {
    /// A Helm HTTP repository: its base URL (`index.yaml` lies under it).
    Http(String),
    /// An OCI registry: `oci://HOST/PATH`, the chart at `HOST/PATH/CHART:VERSION`.
    Oci {
        /// `HOST[:PORT]`.
        host: String,
        /// The repository path before the chart's name (may be empty).
        path: String,
    },
    /// A chart kept beside the config (`path:`): its folder or its `.tgz`.
    Local {
        /// The path, resolved against the config's folder.
        path: PathBuf,
        /// The path as the config names it, relative to its folder (`./` and a trailing
        /// `/` dropped): what the lock, the plan and the SBOMs name the chart's origin by,
        /// the same on every machine.
        shown: String,
    },
}

impl ChartRepo {
    /// Parses `https://…`, `http://…` or `oci://HOST/PATH`.
    /// Every message shows `s` through [`crate::redact::url`], and a `user:password@` in
    /// it is refused before any part of it is quoted.
    pub fn parse(s: &str) -> Result<ChartRepo, String> {
        if let Some(rest) = s.strip_prefix("oci://") {
            let shown = crate::redact::url(s);
            let rest = rest.trim_end_matches('/');
            let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
            // As for an HTTP repository: credentials come from `registries:` and the auth
            // files; a URL's would end up in the lock and the plan.
            if host.contains('@') {
                return Err(format!("repo {shown:?}: {CREDENTIALS_IN_URL}"));
            }
            crate::image::reference::check_registry_host(host)
                .map_err(|why| format!("repo {shown:?}: {}", crate::redact::url(&why)))?;
            if path
                .split('/')
                .any(|p| p.is_empty() && !path.is_empty() || !repository_component(p))
            {
                return Err(format!(
                    "repo {shown:?}: the path after the host must be lowercase repository names separated by '/'"
                ));
            }
            return Ok(ChartRepo::Oci {
                host: host.to_string(),
                path: path.to_string(),
            });
        }
        check_http_url(s).map_err(|why| format!("repo: {why}"))?;
        Ok(ChartRepo::Http(s.trim_end_matches('/').to_string()))
    }
}

impl std::fmt::Display for ChartRepo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChartRepo::Http(url) => f.write_str(&crate::redact::url(url)),
            ChartRepo::Oci { host, path } if path.is_empty() => {
                f.write_str(&crate::redact::url(&format!("oci://{host}")))
            }
            ChartRepo::Oci { host, path } => {
                f.write_str(&crate::redact::url(&format!("oci://{host}/{path}")))
            }
            ChartRepo::Local { shown, .. } => f.write_str(shown),
        }
    }
}

/// Why a repository URL with a `user:password@` is refused.
const CREDENTIALS_IN_URL: &str =
    "credentials in a repository URL are not taken; give them under registries: for its host";

/// A component of an OCI repository path (empty is allowed: no path).
fn repository_component(p: &str) -> bool {
    p.is_empty()
        || (p
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
            && p.as_bytes()[0].is_ascii_alphanumeric())
}

/// An `http://` or `https://` URL with a host and a real port.
fn check_http_url(url: &str) -> Result<(), String> {
    if url.is_empty() {
        return Err("the URL is empty".into());
    }
    let Some(rest) = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
    else {
        return Err(format!(
            "{:?}: give a Helm repository's https:// (or http://) URL, or oci://HOST/PATH",
            crate::redact::url(url)
        ));
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    // Credentials come from `registries:` and the auth files, as for images: a URL's
    // would end up in the lock and the plan.
    if authority.contains('@') {
        return Err(format!(
            "{:?}: {CREDENTIALS_IN_URL}",
            crate::redact::url(url)
        ));
    }
    let host_port = authority;
    crate::net::check_host_port(host_port)?;
    if rest.contains(['?', '#']) {
        return Err("a repository URL has no query or fragment".into());
    }
    Ok(())
}

/// An exact chart version: SemVer 2 (`1.2.3`, `1.2.3-rc.1`, `1.2.3+build`), with Helm's
/// optional leading `v`. Ranges, wildcards, `latest` and the empty string are refused.
pub fn check_version(s: &str) -> Result<(), String> {
    let why = |what: &str| {
        Err(format!(
            "chart version {s:?} {what}; give the exact version the repository lists (`1.2.3`)"
        ))
    };
    if s.is_empty() {
        return why("is empty");
    }
    if s.eq_ignore_ascii_case("latest") {
        return why("is not a version");
    }
    if s.contains(['^', '~', '>', '<', '=', '*', '|', ' ', ',']) {
        return why("is a range");
    }
    let core = s.strip_prefix('v').unwrap_or(s);
    let (core, build) = core.split_once('+').unwrap_or((core, ""));
    let (core, pre) = core.split_once('-').unwrap_or((core, ""));
    let numbers: Vec<&str> = core.split('.').collect();
    let number = |n: &&str| {
        !n.is_empty()
            && n.bytes().all(|b| b.is_ascii_digit())
            && (n.len() == 1 || !n.starts_with('0'))
    };
    if numbers.len() != 3 || !numbers.iter().all(number) {
        if numbers.iter().any(|n| n.eq_ignore_ascii_case("x")) {
            return why("is a range");
        }
        return why("is not MAJOR.MINOR.PATCH");
    }
    let ident =
        |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    let has = |part: &str, seen: bool| !seen || part.split('.').all(ident);
    if !has(pre, s.contains('-')) || !has(build, s.contains('+')) {
        return why("has a malformed pre-release or build part");
    }
    Ok(())
}

/// A chart's exact version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChartVersion(pub String);

impl<'de> Deserialize<'de> for ChartVersion {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        check_version(&s).map_err(de::Error::custom)?;
        Ok(ChartVersion(s))
    }
}

impl<'de> Deserialize<'de> for ChartRepo {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        ChartRepo::parse(&String::deserialize(d)?).map_err(de::Error::custom)
    }
}

/// A chart's name in its repository: what Helm allows in a chart name, so it is safe in a
/// URL path and a file name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChartName(pub String);

impl<'de> Deserialize<'de> for ChartName {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let ok = !s.is_empty()
            && s.len() <= 250
            && s.as_bytes()[0].is_ascii_alphanumeric()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
        if ok {
            Ok(ChartName(s))
        } else {
            Err(de::Error::custom(format!(
                "chart {s:?} is not a chart name: letters, digits, '.', '_' and '-', starting with a letter or digit"
            )))
        }
    }
}

/// One `charts:` entry as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawChart {
    name: DnsLabel,
    #[serde(default)]
    repo: Option<ChartRepo>,
    #[serde(default)]
    path: Option<crate::winpath::LinuxPath>,
    #[serde(default)]
    chart: Option<ChartName>,
    #[serde(default)]
    version: Option<ChartVersion>,
    #[serde(default)]
    namespace: Option<DnsLabel>,
    #[serde(default)]
    values: Option<crate::winpath::LinuxPath>,
    #[serde(default)]
    images: Option<ImagesMode>,
}

/// What the images a chart pulls do: `check` (each must be in an image list, or the
/// plan is refused) or `add` (each is mirrored, as if an image list named it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ImagesMode {
    /// Each must be in an image list.
    #[default]
    Check,
    /// Each is added to the images mirrored.
    Add,
}

/// One `charts:` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChartConfig {
    /// The HelmChart's name, unique: also the file names on the node.
    pub name: DnsLabel,
    /// Where the chart comes from.
    pub repo: ChartRepo,
    /// The chart's name in the repository (the entry's name when not given; for a chart
    /// kept beside the config, its `Chart.yaml`'s, empty until the chart is read).
    pub chart: String,
    /// The exact version (for a chart kept beside the config, its `Chart.yaml`'s when not
    /// given, empty until the chart is read).
    pub version: String,
    /// The namespace the chart is installed into (`default` when not given).
    pub namespace: String,
    /// The values file, resolved against the config's folder.
    pub values: Option<PathBuf>,
    /// What the images it pulls do (`charts[].images`; `None`: `images.from_charts`).
    pub images: Option<ImagesMode>,
    /// Where the entry is in the config.
    pub location: Location,
}

impl ChartConfig {
    /// A refusal of this entry, at its line in the config file `config` (exit 2):
    /// `FILE:LINE:COLUMN: chart NAME{what}`.
    pub fn refusal(&self, config: &std::path::Path, what: &str) -> ChartError {
        ChartError::Invalid(format!(
            "{}:{}:{}: chart {}{what}",
            config.display(),
            self.location.line,
            self.location.column,
            self.name.as_str(),
        ))
    }

    /// The entry parsed at `location`; `dir` is the config's folder. An entry gives
    /// `repo:` (with `version:`) or `path:`, never both.
    pub fn from_raw(
        raw: RawChart,
        dir: &std::path::Path,
        location: Location,
    ) -> Result<ChartConfig, String> {
        let name = raw.name.as_str();
        let (repo, chart, version) = match (raw.repo, raw.path) {
            (Some(_), Some(_)) => {
                return Err(format!(
                    "chart {name}: give repo: (a chart repository) or path: (a chart beside the config), not both"
                ));
            }
            (None, None) => {
                return Err(format!(
                    "chart {name}: give repo: (an https:// or oci:// chart repository) or path: (a chart folder or .tgz beside the config)"
                ));
            }
            (Some(repo), None) => {
                let Some(version) = raw.version else {
                    return Err(format!(
                        "chart {name}: version: is needed for a chart from a repository; give the exact version (`1.2.3`)"
                    ));
                };
                let chart = raw.chart.map_or_else(|| name.to_string(), |c| c.0);
                (repo, chart, version.0)
            }
            (None, Some(path)) => {
                let shown = local_shown(&path).map_err(|why| format!("chart {name}: {why}"))?;
                let repo = ChartRepo::Local {
                    path: dir.join(&*path),
                    shown,
                };
                let chart = raw.chart.map(|c| c.0).unwrap_or_default();
                (repo, chart, raw.version.map(|v| v.0).unwrap_or_default())
            }
        };
        Ok(ChartConfig {
            chart,
            name: raw.name,
            repo,
            version,
            namespace: raw
                .namespace
                .map_or_else(|| "default".to_string(), |n| n.as_str().to_string()),
            values: raw.values.map(|v| dir.join(v)),
            images: raw.images,
            location,
        })
    }

    /// The chart's file name under `OUT/charts/`: `NAME-VERSION.tgz`.
    pub fn file_name(&self) -> String {
        format!("{}-{}.tgz", self.name.as_str(), self.version)
    }
}

/// A `path:` as the lock and the SBOMs name it: relative to the config's folder, its `./`
/// parts and a trailing `/` dropped. An absolute path is refused: it would name the chart
/// otherwise on every machine.
fn local_shown(path: &std::path::Path) -> Result<String, String> {
    use std::path::Component;
    if path.is_absolute() {
        return Err(format!(
            "path: {}: give the chart's path relative to the config file, so that the lock and the seal name it the same on every machine",
            path.display()
        ));
    }
    let mut parts = Vec::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::Normal(p) => parts.push(p.to_string_lossy().into_owned()),
            Component::ParentDir => parts.push("..".to_string()),
            Component::RootDir | Component::Prefix(_) => {}
        }
    }
    if parts.is_empty() {
        return Err("path: is empty; give the chart's folder or .tgz".into());
    }
    Ok(parts.join("/"))
}

/// Checks that the archive of `chart` (its files `files`, fetched from `origin`) is the
/// chart the entry pins: its `Chart.yaml` exists and gives the entry's chart name and
/// version (a leading `v` aside, as Helm compares versions). Helm refuses any other archive
/// on the node, far from the desk; here it is refused while planning, naming the entry at
/// its line in `config` and what the archive holds instead.
pub fn check_identity(
    chart: &ChartConfig,
    config: &std::path::Path,
    origin: &str,
    files: &values::ChartFiles,
) -> Result<(), ChartError> {
    let refuse = |holds: String| {
        chart.refusal(
            config,
            &format!(
                " pins {} {}, but the archive from {origin} {holds}; Helm would refuse it",
                chart.chart, chart.version,
            ),
        )
    };
    let Some(text) = &files.chart_yaml else {
        return Err(refuse("has no Chart.yaml".into()));
    };
    let meta: serde_json::Value = read_yaml(text).map_err(|e| {
        refuse(format!(
            "has a Chart.yaml that is not YAML Helm can read: {e}"
        ))
    })?;
    let field = |key: &str| match meta.get(key) {
        Some(serde_json::Value::String(s)) => Some(s.clone()),
        Some(serde_json::Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let (name, version) = (field("name"), field("version"));
    let same_version = |v: &str| {
        v.strip_prefix('v').unwrap_or(v)
            == chart.version.strip_prefix('v').unwrap_or(&chart.version)
    };
    if name.as_deref() == Some(chart.chart.as_str()) && version.as_deref().is_some_and(same_version)
    {
        return Ok(());
    }
    let shown = |v: Option<String>, what: &str| {
        v.map_or_else(|| format!("(no {what})"), |v| format!("{v:?}"))
    };
    Err(refuse(format!(
        "holds chart {} version {} (its Chart.yaml)",
        shown(name, "name"),
        shown(version, "version")
    )))
}

/// Each chart's name once: two HelmCharts of one name would overwrite each other's files
/// on the node.
pub fn check_unique(charts: &[ChartConfig]) -> Result<(), (Location, String)> {
    for (i, c) in charts.iter().enumerate() {
        if let Some(first) = charts[..i].iter().find(|e| e.name == c.name) {
            return Err((
                c.location,
                format!(
                    "chart name {:?} is used twice (first at line {}); each HelmChart needs its own name",
                    c.name.as_str(),
                    first.location.line
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn exact_versions_pass_and_ranges_do_not() {
        for good in [
            "1.2.3",
            "v1.2.3",
            "0.0.1-rc.1",
            "10.20.30+build.7",
            "1.0.0-alpha-1",
        ] {
            check_version(good).unwrap();
        }
        for (bad, why) in [
            ("", "is empty"),
            ("latest", "is not a version"),
            ("^1.2.3", "is a range"),
            ("~1.2", "is a range"),
            (">=1.0.0", "is a range"),
            ("1.2.x", "is a range"),
            ("1.2.*", "is a range"),
            ("1.2", "MAJOR.MINOR.PATCH"),
            ("1.2.3.4", "MAJOR.MINOR.PATCH"),
            ("01.2.3", "MAJOR.MINOR.PATCH"),
            ("1.2.3-", "pre-release"),
            ("1.2.3 || 2.0.0", "is a range"),
        ] {
            let err = check_version(bad).unwrap_err();
            assert!(err.contains(why), "{bad:?}: {err}");
        }
    }

    #[test]
    fn an_archive_must_hold_the_pinned_chart_name_and_version() {
        let chart = ChartConfig {
            name: DnsLabel::parse("demo").unwrap(),
            repo: ChartRepo::Http("https://charts.example".into()),
            chart: "demo-app".into(),
            version: "v1.2.3".into(),
            namespace: "default".into(),
            values: None,
            images: None,
            location: Location { line: 7, column: 5 },
        };
        let files = |yaml: Option<&str>| values::ChartFiles {
            chart_yaml: yaml.map(str::to_string),
            ..values::ChartFiles::default()
        };
        let check = |yaml: Option<&str>| {
            check_identity(
                &chart,
                Path::new("conf/seedforge.yaml"),
                "ORIGIN",
                &files(yaml),
            )
        };
        check(Some("apiVersion: v2\nname: demo-app\nversion: 1.2.3\n")).unwrap();
        check(Some("apiVersion: v2\nname: demo-app\nversion: v1.2.3\n")).unwrap();
        for (yaml, holds) in [
            (None, "has no Chart.yaml"),
            (
                Some("name: other\nversion: 1.2.3\n"),
                "holds chart \"other\" version \"1.2.3\"",
            ),
            (
                Some("name: demo-app\nversion: 1.2.4\n"),
                "holds chart \"demo-app\" version \"1.2.4\"",
            ),
            (Some("name: demo-app\n"), "version (no version)"),
            (Some("- a\n"), "holds chart (no name) version (no version)"),
        ] {
            let err = check(yaml).unwrap_err();
            assert!(err.is_invalid_input(), "{err}");
            let err = err.to_string();
            assert!(
                err.starts_with(
                    "conf/seedforge.yaml:7:5: chart demo pins demo-app v1.2.3, but the archive from ORIGIN "
                ),
                "{err}"
            );
            assert!(err.contains(holds), "{yaml:?}: {err}");
        }
    }

    #[test]
    fn repos_are_http_urls_or_oci_references() {
        assert_eq!(
            ChartRepo::parse("https://charts.example.com/").unwrap(),
            ChartRepo::Http("https://charts.example.com".into())
        );
        assert_eq!(
            ChartRepo::parse("oci://registry.example:5000/charts/team").unwrap(),
            ChartRepo::Oci {
                host: "registry.example:5000".into(),
                path: "charts/team".into()
            }
        );
        assert_eq!(
            ChartRepo::parse("oci://registry.example").unwrap(),
            ChartRepo::Oci {
                host: "registry.example".into(),
                path: String::new()
            }
        );
        for bad in [
            "",
            "charts.example.com",
            "ftp://x/charts",
            "https://x:0/",
            "oci://",
            "oci://Reg istry/x",
            "oci://registry.example/Charts",
            "oci://registry.example//x",
            "https://x/charts?token=1",
        ] {
            assert!(ChartRepo::parse(bad).is_err(), "{bad:?} accepted");
        }
        let err = ChartRepo::parse("ftp://u:s3cret@x/").unwrap_err();
        assert!(!err.contains("s3cret"), "{err}");
        let err = ChartRepo::parse("https://u:s3cret@charts.example/").unwrap_err();
        assert!(err.contains("registries:"), "{err}");
        assert!(!err.contains("s3cret"), "{err}");
        for url in [
            "oci://u:s3cret@registry.example/charts",
            "oci://u:s3cret@registry.example",
            "oci://u:s3cret@Bad_Host/charts",
            "oci://u:s3cret@registry.example/Charts",
        ] {
            let err = ChartRepo::parse(url).unwrap_err();
            assert!(!err.contains("s3cret"), "{url}: {err}");
            assert!(err.contains("registries:"), "{url}: {err}");
            assert!(
                err.contains("u:***@registry.example") || err.contains("u:***@Bad_Host"),
                "{url}: {err}"
            );
        }
        let err = ChartRepo::parse("oci://registry.example/Charts").unwrap_err();
        assert!(err.contains("lowercase"), "{err}");
        let shown = ChartRepo::Oci {
            host: "u:s3cret@registry.example".into(),
            path: "charts".into(),
        }
        .to_string();
        assert_eq!(shown, "oci://u:***@registry.example/charts");
    }
}
