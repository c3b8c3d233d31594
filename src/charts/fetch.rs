//! Fetching a chart's `.tgz`, whole and checked, through the one network client: from a
//! Helm HTTP repository (its `index.yaml` names the archive's URLs and SHA-256) or from an
//! OCI registry (the manifest of the version's tag, whose layer of Helm's chart media type
//! is the archive). A chart is small, so it is held in memory: planning checks it (values,
//! images) before the build writes anything.

use super::{ChartConfig, ChartError, ChartRepo};
use crate::net::fetch::{Fetch, FetchError};
use crate::net::{Transfer, fetch::read_bounded};
use crate::oci::Digest;
use crate::oci::registry::Registries;
use crate::oci::registry::client::Get;
use crate::report::Reporter;
use serde::Deserialize;
use std::io::Read as _;

/// The largest chart archive accepted (Helm refuses charts decompressing past 100 MiB; an
/// archive is a fraction of that).
pub const MAX_CHART_SIZE: u64 = 20 << 20;
/// The largest `index.yaml` accepted (the biggest public repositories' are tens of MiB).
pub const MAX_INDEX_SIZE: u64 = 128 << 20;
/// The media type of a Helm chart's archive in an OCI artifact.
pub const HELM_CHART_LAYER: &str = "application/vnd.cncf.helm.chart.content.v1.tar+gzip";
/// The media type of a Helm chart's config in an OCI artifact.
pub const HELM_CHART_CONFIG: &str = "application/vnd.cncf.helm.config.v1+json";

/// A chart fetched and checked.
#[derive(Debug, Clone)]
pub struct FetchedChart {
    /// The `.tgz`.
    pub bytes: Vec<u8>,
    /// Its SHA-256.
    pub digest: Digest,
    /// Where it came from (a URL without credentials, or `HOST/REPO:TAG`).
    pub origin: String,
}

/// The entry of one chart version in a repository's `index.yaml`.
#[derive(Debug, Default)]
struct IndexEntry {
    version: String,
    /// The first URL (the one Helm uses).
    url: Option<String>,
    digest: Option<String>,
}

/// What an `index.yaml` says of one chart.
#[derive(Debug, Default)]
struct IndexScan {
    /// The index has an `entries` map.
    entries: bool,
    /// `entries` has the chart.
    chart: bool,
    /// The first versions the chart lists (for a message).
    listed: Vec<String>,
    /// The entry of the version looked for.
    found: Option<IndexEntry>,
}

/// The role of a collection open in the index, by where it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Top,
    Entries,
    Versions,
    Entry,
    Urls,
    Other,
}

/// What comes next in a map of the index.
enum Next<'a> {
    Key,
    KeyNode,
    Value(std::borrow::Cow<'a, str>),
}

/// A collection open in the index.
struct Frame<'a> {
    role: Role,
    /// `None` for a list.
    next: Option<Next<'a>>,
}

/// Reads what `index.yaml` (`text`) says of `chart` at `version`, walking the YAML
/// parser's events and keeping only that chart's entries: an index of tens of MiB with
/// hundreds of thousands of versions is read in one pass, in memory bounded by the one
/// chart's entries, with no budget of events or nodes to breach (the text itself is
/// capped at [`MAX_INDEX_SIZE`]). The walk stops once the chart's list of versions ends.
fn scan_index(text: &str, chart: &str, version: &str) -> Result<IndexScan, String> {
    use serde_saphyr::granit_parser::{Event, Parser};
    let mut scan = IndexScan::default();
    let mut stack: Vec<Frame<'_>> = Vec::new();
    let mut entry: Option<IndexEntry> = None;
    for event in Parser::new_from_str(text) {
        let (event, _) = event.map_err(|e| {
            format!(
                "line {} column {}: {}",
                e.marker().line(),
                e.marker().col() + 1,
                e.info()
            )
        })?;
        // The key a node is the value of, and the role of the collection it is in.
        let (parent, key) = match stack.last() {
            None => (None, None),
            Some(f) => match &f.next {
                Some(Next::Value(k)) => (Some(f.role), Some(k.as_ref())),
                _ => (Some(f.role), None),
            },
        };
        let in_key = matches!(
            stack.last(),
            Some(Frame {
                next: Some(Next::Key | Next::KeyNode),
                ..
            })
        );
        match event {
            Event::Scalar(value, ..) => {
                if in_key {
                    if let Some(f) = stack.last_mut() {
                        f.next = Some(Next::Value(value));
                    }
                    continue;
                }
                if let Some(e) = entry.as_mut() {
                    match (parent, key) {
                        (Some(Role::Entry), Some("version")) => e.version = value.into_owned(),
                        (Some(Role::Entry), Some("digest")) => e.digest = Some(value.into_owned()),
                        (Some(Role::Urls), _) if e.url.is_none() => {
                            e.url = Some(value.into_owned());
                        }
                        _ => {}
                    }
                }
                value_done(&mut stack);
            }
            Event::Alias(_) | Event::UnresolvedAlias(_) => {
                if in_key {
                    if let Some(f) = stack.last_mut() {
                        f.next = Some(Next::Value("?".into()));
                    }
                } else {
                    value_done(&mut stack);
                }
            }
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                let map = matches!(event, Event::MappingStart(..));
                let role = match (parent, key, map) {
                    _ if in_key => Role::Other,
                    (None, _, true) => Role::Top,
                    (Some(Role::Top), Some("entries"), true) => Role::Entries,
                    (Some(Role::Entries), Some(k), false) if k == chart => Role::Versions,
                    (Some(Role::Versions), _, true) => Role::Entry,
                    (Some(Role::Entry), Some("urls"), false) => Role::Urls,
                    _ => Role::Other,
                };
                match role {
                    Role::Entries => scan.entries = true,
                    Role::Versions => scan.chart = true,
                    Role::Entry => entry = Some(IndexEntry::default()),
                    _ => {}
                }
                if in_key && let Some(f) = stack.last_mut() {
                    f.next = Some(Next::KeyNode);
                }
                stack.push(Frame {
                    role,
                    next: map.then_some(Next::Key),
                });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                let Some(done) = stack.pop() else { continue };
                match done.role {
                    Role::Entry => {
                        if let Some(e) = entry.take() {
                            if scan.listed.len() < 10 {
                                scan.listed.push(e.version.clone());
                            }
                            if scan.found.is_none() && e.version == version {
                                scan.found = Some(e);
                            }
                        }
                    }
                    // The chart's versions are all read: nothing else is needed.
                    Role::Versions => return Ok(scan),
                    _ => {}
                }
                value_done(&mut stack);
            }
            _ => {}
        }
    }
    Ok(scan)
}

/// A value is complete: its map waits for the next key.
fn value_done(stack: &mut [Frame<'_>]) {
    if let Some(f) = stack.last_mut() {
        f.next = match f.next.take() {
            None => None,
            Some(Next::KeyNode) => Some(Next::Value("?".into())),
            Some(Next::Key | Next::Value(_)) => Some(Next::Key),
        };
    }
}

/// Fetches `chart` through `registries` (their network and credentials).
pub fn fetch(
    chart: &ChartConfig,
    registries: &Registries,
    reporter: &dyn Reporter,
) -> Result<FetchedChart, ChartError> {
    match &chart.repo {
        ChartRepo::Http(base) => fetch_http(chart, base, registries, reporter),
        ChartRepo::Oci { host, path } => fetch_oci(chart, host, path, registries),
        // Read, not fetched: `local::read`.
        ChartRepo::Local { shown, .. } => Err(ChartError::Fetch {
            chart: chart.name.as_str().to_string(),
            message: format!("{shown} is kept beside the config: it is read, not fetched"),
        }),
    }
}

/// The `Authorization` header for `url`'s host: the credentials configured for it as for a
/// registry (`registries:`, the command line, the auth files).
fn authorization(url: &reqwest::Url, registries: &Registries) -> Option<String> {
    let host = crate::net::host_key(url);
    let access = registries.access().for_host(&host).ok()?;
    access.credentials.map(|c| {
        use base64::Engine as _;
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!(
                "{}:{}",
                c.username,
                c.password.expose()
            ))
        )
    })
}

/// GETs `url` whole, at most `max` bytes.
fn get(
    chart: &ChartConfig,
    url: &str,
    max: u64,
    registries: &Registries,
    reporter: &dyn Reporter,
) -> Result<Vec<u8>, ChartError> {
    let fail = |message: String| ChartError::Fetch {
        chart: chart.name.as_str().to_string(),
        message: format!("{}: {message}", crate::redact::url(url)),
    };
    let parsed = reqwest::Url::parse(url).map_err(|e| fail(format!("not a URL: {e}")))?;
    // A URL of a scheme seedforge does not fetch (an index naming its archive as file://)
    // is the repository's wrong input, which no retry cures (exit 2), not a host out of
    // reach.
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(ChartError::Invalid(format!(
            "chart {}: {}: a {}:// URL, which seedforge does not fetch: only http:// and https:// URLs are",
            chart.name.as_str(),
            crate::redact::url(url),
            parsed.scheme()
        )));
    }
    let authorization = authorization(&parsed, registries);
    let fetch = Fetch {
        url,
        authorization: authorization.as_deref(),
        max_bytes: Some(max),
    };
    let name = chart.name.as_str();
    let net = registries.net();
    net.refuse_offline(&format!("chart {name}"))
        .map_err(|e| fail(e.detail()))?;
    let found = net.fetch(
        &fetch,
        &mut |body| {
            let mut bytes = Vec::new();
            body.read_to_end(&mut bytes).map(|_| bytes)
        },
        &mut |m| reporter.warning(&format!("chart {name}: {}: {m}", crate::redact::url(url))),
    );
    match found {
        Ok(Some(bytes)) => Ok(bytes),
        Ok(None) => Err(fail("HTTP status 404".into())),
        Err(FetchError::Net(e)) if e.is_transient() => Err(ChartError::Unreachable {
            chart: chart.name.as_str().to_string(),
            message: format!("{}: {}", crate::redact::url(url), e.detail()),
        }),
        Err(FetchError::Net(e)) => Err(fail(e.detail())),
        Err(FetchError::Consumer(e)) => Err(fail(e.to_string())),
    }
}

fn fetch_http(
    chart: &ChartConfig,
    base: &str,
    registries: &Registries,
    reporter: &dyn Reporter,
) -> Result<FetchedChart, ChartError> {
    let index_url = format!("{base}/index.yaml");
    let text = get(chart, &index_url, MAX_INDEX_SIZE, registries, reporter)?;
    let (url, want) = find_in_index(chart, &index_url, &text)?;
    let bytes = get(chart, &url, MAX_CHART_SIZE, registries, reporter)?;
    let digest = Digest::of(&bytes);
    if let Some(want) = want
        && digest.hex() != want
    {
        return Err(ChartError::Tampered {
            chart: chart.name.as_str().to_string(),
            origin: crate::redact::url(&url).into_owned(),
            expected: format!("sha256:{want}"),
            actual: digest.to_string(),
        });
    }
    Ok(FetchedChart {
        bytes,
        digest,
        origin: crate::redact::url(&url).into_owned(),
    })
}

/// The archive's absolute URL and its SHA-256 (lowercase hex) in the repository's index.
fn find_in_index(
    chart: &ChartConfig,
    index_url: &str,
    text: &[u8],
) -> Result<(String, Option<String>), ChartError> {
    let shown = crate::redact::url(index_url).into_owned();
    let fail = |message: String| ChartError::Fetch {
        chart: chart.name.as_str().to_string(),
        message: format!("{shown}: {message}"),
    };
    let text = std::str::from_utf8(text).map_err(|_| fail("not UTF-8 text".into()))?;
    let scan = scan_index(text, &chart.chart, &chart.version)
        .map_err(|e| fail(format!("not a Helm index: {e}")))?;
    if !scan.entries {
        return Err(fail("not a Helm index: it has no entries".into()));
    }
    if !scan.chart {
        return Err(fail(format!(
            "the repository has no chart {:?}",
            chart.chart
        )));
    }
    let Some(entry) = scan.found else {
        return Err(fail(format!(
            "chart {:?} has no version {} (it has {})",
            chart.chart,
            chart.version,
            scan.listed.join(", ")
        )));
    };
    let Some(first) = entry.url.as_deref() else {
        return Err(fail(format!(
            "chart {:?} {} lists no URL",
            chart.chart, chart.version
        )));
    };
    // Relative URLs resolve against the index's own URL, as Helm resolves them.
    let url = reqwest::Url::parse(index_url)
        .and_then(|u| u.join(first))
        .map_err(|e| fail(format!("URL {:?}: {e}", crate::redact::url(first))))?;
    let digest = match entry.digest.as_deref() {
        None | Some("") => None,
        Some(d) => {
            let hex = d.strip_prefix("sha256:").unwrap_or(d).to_ascii_lowercase();
            if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(fail(format!(
                    "chart {:?} {}: digest {d:?} is not a SHA-256",
                    chart.chart, chart.version
                )));
            }
            Some(hex)
        }
    };
    if digest.is_none() {
        return Err(fail(format!(
            "chart {:?} {} has no digest in the index: its archive could not be checked",
            chart.chart, chart.version
        )));
    }
    Ok((url.to_string(), digest))
}

#[derive(Debug, Deserialize)]
struct OciManifest {
    #[serde(default)]
    layers: Vec<OciLayer>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct OciLayer {
    media_type: String,
    digest: String,
    size: u64,
}

/// Helm's tag for a version: OCI tags have no `+`, Helm writes `_` for it.
pub fn oci_tag(version: &str) -> String {
    version.replace('+', "_")
}

/// The repository a chart lives in on its registry: `PATH/CHART`.
pub fn oci_repository(path: &str, chart: &str) -> String {
    if path.is_empty() {
        chart.to_string()
    } else {
        format!("{path}/{chart}")
    }
}

fn fetch_oci(
    chart: &ChartConfig,
    host: &str,
    path: &str,
    registries: &Registries,
) -> Result<FetchedChart, ChartError> {
    let repo = oci_repository(path, &chart.chart);
    let tag = oci_tag(&chart.version);
    let origin = format!("{host}/{repo}:{tag}");
    let fail = |message: String| ChartError::Fetch {
        chart: chart.name.as_str().to_string(),
        message: format!("{origin}: {message}"),
    };
    let registry = |e: crate::oci::registry::RegistryError| {
        if e.is_transient() {
            return ChartError::Unreachable {
                chart: chart.name.as_str().to_string(),
                message: format!("{origin}: {e}"),
            };
        }
        fail(e.to_string())
    };
    let client = registries
        .repository_client(host, &repo, &origin)
        .map_err(registry)?;
    let runtime = registries.runtime().map_err(registry)?;
    let (manifest, _, _) = runtime
        .block_on(client.manifest(&repo, &tag, &origin))
        .map_err(registry)?;
    let manifest: OciManifest =
        serde_json::from_slice(&manifest).map_err(|e| fail(format!("not an OCI manifest: {e}")))?;
    let Some(layer) = manifest
        .layers
        .iter()
        .find(|l| l.media_type == HELM_CHART_LAYER)
    else {
        return Err(fail(format!(
            "the artifact has no layer of type {HELM_CHART_LAYER}: not a Helm chart"
        )));
    };
    let want: Digest = layer
        .digest
        .parse()
        .map_err(|e| fail(format!("layer digest {:?}: {e}", layer.digest)))?;
    if layer.size > MAX_CHART_SIZE {
        return Err(fail(format!(
            "the chart claims {} bytes, more than the {MAX_CHART_SIZE} a chart may have",
            layer.size
        )));
    }
    let get = Get {
        repo: &repo,
        path: format!("blobs/{want}"),
        accept: &[],
        offset: 0,
        image: &origin,
        kind: Transfer::Bulk,
    };
    let bytes = runtime
        .block_on(async {
            let mut budget = crate::net::Budget::new(&client.limits());
            let (mut resp, mut watch) = client.get(&get, &mut budget).await?;
            read_bounded(&mut resp, layer.size, &mut watch, &mut budget)
                .await
                .map_err(|p| client.transfer_as(&origin, p.final_message(&budget), p.budget))
        })
        .map_err(registry)?;
    let digest = Digest::of(&bytes);
    if digest != want {
        return Err(ChartError::Tampered {
            chart: chart.name.as_str().to_string(),
            origin,
            expected: want.to_string(),
            actual: digest.to_string(),
        });
    }
    Ok(FetchedChart {
        bytes,
        digest,
        origin,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::Location;

    fn chart(version: &str) -> ChartConfig {
        ChartConfig {
            name: crate::vocab::DnsLabel::parse("demo").unwrap(),
            repo: ChartRepo::Http("https://charts.example/sub".into()),
            chart: "demo-app".into(),
            version: version.into(),
            namespace: "default".into(),
            values: None,
            images: None,
            location: Location { line: 1, column: 1 },
        }
    }

    const INDEX: &str = "apiVersion: v1\nentries:\n  demo-app:\n    - version: 1.2.3\n      urls: [charts/demo-app-1.2.3.tgz]\n      digest: ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef0123456789\n      created: 2024-01-01T00:00:00Z\n    - version: 2.0.0\n      urls: [https://cdn.example/demo-app-2.0.0.tgz]\n      digest: sha256:abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789\n    - version: 3.0.0\n      urls: [x.tgz]\ngenerated: 2024-01-01T00:00:00Z\n";

    #[test]
    fn index_entries_resolve_relative_and_absolute_urls_with_their_digest() {
        let at = "https://charts.example/sub/index.yaml";
        let (url, digest) = find_in_index(&chart("1.2.3"), at, INDEX.as_bytes()).unwrap();
        assert_eq!(url, "https://charts.example/sub/charts/demo-app-1.2.3.tgz");
        assert_eq!(
            digest.as_deref(),
            Some("abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789")
        );
        let (url, _) = find_in_index(&chart("2.0.0"), at, INDEX.as_bytes()).unwrap();
        assert_eq!(url, "https://cdn.example/demo-app-2.0.0.tgz");
        let err = find_in_index(&chart("3.0.0"), at, INDEX.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("no digest"), "{err}");
        let err = find_in_index(&chart("9.9.9"), at, INDEX.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("1.2.3, 2.0.0"), "{err}");
        let mut other = chart("1.2.3");
        other.chart = "nope".into();
        let err = find_in_index(&other, at, INDEX.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("no chart \"nope\""), "{err}");
    }

    /// An index of 50,000 versions (the YAML reader's default budget stops near 12,500):
    /// read whole, the version looked for found wherever it is, other charts skipped.
    #[test]
    fn an_index_of_many_versions_is_read_within_its_cap() {
        let mut index = String::from("apiVersion: v1\nentries:\n  aaa-other:\n");
        for i in 0..20_000 {
            index.push_str(&format!(
                "    - {{version: 0.0.{i}, urls: [o-{i}.tgz], digest: {}}}\n",
                "0".repeat(64)
            ));
        }
        index.push_str("  demo-app:\n");
        for i in 0..50_000 {
            index.push_str(&format!(
                "    - apiVersion: v2\n      name: demo-app\n      version: 1.{i}.0\n      created: \"2024-01-01T00:00:00Z\"\n      description: a chart\n      urls:\n        - charts/demo-app-1.{i}.0.tgz\n        - https://mirror.example/demo-app-1.{i}.0.tgz\n      digest: {:064x}\n",
                i
            ));
        }
        index.push_str("generated: \"2024-01-01T00:00:00Z\"\n");
        assert!(index.len() as u64 <= MAX_INDEX_SIZE);
        let at = "https://charts.example/sub/index.yaml";
        for i in [12_345, 49_999] {
            let (url, digest) =
                find_in_index(&chart(&format!("1.{i}.0")), at, index.as_bytes()).unwrap();
            assert_eq!(
                url,
                format!("https://charts.example/sub/charts/demo-app-1.{i}.0.tgz")
            );
            assert_eq!(digest, Some(format!("{i:064x}")));
        }
        let err = find_in_index(&chart("9.9.9"), at, index.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("(it has 1.0.0, 1.1.0, "), "{err}");
        let err = find_in_index(&chart("1.0.0"), at, b"- a\n").unwrap_err();
        assert!(err.to_string().contains("no entries"), "{err}");
        let err = find_in_index(&chart("1.0.0"), at, b"entries: {a: [\n").unwrap_err();
        assert!(err.to_string().contains("not a Helm index: line "), "{err}");
    }

    #[test]
    fn oci_tags_and_repositories_follow_helm() {
        assert_eq!(oci_tag("1.2.3+build.1"), "1.2.3_build.1");
        assert_eq!(oci_repository("", "demo"), "demo");
        assert_eq!(oci_repository("charts/team", "demo"), "charts/team/demo");
    }
}
