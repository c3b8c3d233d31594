//! What a template sees besides `.Values`, as Helm builds it for `helm template` on the
//! cluster's k3s release: `.Template`, `.Capabilities` (the k3s release's Kubernetes
//! version, the API versions a k3s cluster serves and those the chart's own CRDs add,
//! Helm's version) and `.Files` (the
//! chart's files but its own parts, read by exact path: a path that leaves the chart is
//! refused).

use super::load::Chart;
use serde_json::{Map, Value, json};

/// The Helm release the engine stands in for (`HelmVersion`).
pub const HELM_VERSION: &str = "v3.18.4";

/// `.Template` of the template at `name` (`top/templates/x.yaml`).
pub fn template(name: &str, base_path: &str) -> Value {
    json!({"Name": name, "BasePath": base_path})
}

/// The API group versions a k3s cluster serves without any chart installed, each with
/// the kinds charts test for (`.Capabilities.APIVersions.Has "apps/v1/Deployment"`).
const API_VERSIONS: &[(&str, &[&str])] = &[
    (
        "v1",
        &[
            "Pod",
            "Service",
            "ConfigMap",
            "Secret",
            "ServiceAccount",
            "Namespace",
            "PersistentVolumeClaim",
            "PersistentVolume",
            "Endpoints",
            "Node",
            "Event",
            "LimitRange",
            "ResourceQuota",
            "ReplicationController",
        ],
    ),
    (
        "admissionregistration.k8s.io/v1",
        &[
            "MutatingWebhookConfiguration",
            "ValidatingWebhookConfiguration",
            "ValidatingAdmissionPolicy",
            "ValidatingAdmissionPolicyBinding",
        ],
    ),
    ("apiextensions.k8s.io/v1", &["CustomResourceDefinition"]),
    ("apiregistration.k8s.io/v1", &["APIService"]),
    (
        "apps/v1",
        &[
            "Deployment",
            "StatefulSet",
            "DaemonSet",
            "ReplicaSet",
            "ControllerRevision",
        ],
    ),
    (
        "authentication.k8s.io/v1",
        &["TokenReview", "SelfSubjectReview"],
    ),
    (
        "authorization.k8s.io/v1",
        &[
            "SubjectAccessReview",
            "SelfSubjectAccessReview",
            "LocalSubjectAccessReview",
            "SelfSubjectRulesReview",
        ],
    ),
    ("autoscaling/v1", &["HorizontalPodAutoscaler"]),
    ("autoscaling/v2", &["HorizontalPodAutoscaler"]),
    ("batch/v1", &["Job", "CronJob"]),
    ("certificates.k8s.io/v1", &["CertificateSigningRequest"]),
    ("coordination.k8s.io/v1", &["Lease"]),
    ("discovery.k8s.io/v1", &["EndpointSlice"]),
    ("events.k8s.io/v1", &["Event"]),
    (
        "flowcontrol.apiserver.k8s.io/v1",
        &["FlowSchema", "PriorityLevelConfiguration"],
    ),
    (
        "networking.k8s.io/v1",
        &["Ingress", "IngressClass", "NetworkPolicy"],
    ),
    ("node.k8s.io/v1", &["RuntimeClass"]),
    ("policy/v1", &["PodDisruptionBudget", "Eviction"]),
    (
        "rbac.authorization.k8s.io/v1",
        &["Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"],
    ),
    ("scheduling.k8s.io/v1", &["PriorityClass"]),
    (
        "storage.k8s.io/v1",
        &[
            "StorageClass",
            "CSIDriver",
            "CSINode",
            "VolumeAttachment",
            "CSIStorageCapacity",
        ],
    ),
    // k3s's own: its HelmChart controller, its addons, metrics-server, Traefik's CRDs.
    ("helm.cattle.io/v1", &["HelmChart", "HelmChartConfig"]),
    ("k3s.cattle.io/v1", &["Addon", "ETCDSnapshotFile"]),
    ("metrics.k8s.io/v1beta1", &["NodeMetrics", "PodMetrics"]),
    (
        "traefik.io/v1alpha1",
        &[
            "IngressRoute",
            "IngressRouteTCP",
            "IngressRouteUDP",
            "Middleware",
            "MiddlewareTCP",
            "ServersTransport",
            "ServersTransportTCP",
            "TLSOption",
            "TLSStore",
            "TraefikService",
        ],
    ),
];

/// `.Capabilities.APIVersions`: every group version, and every `GROUP/VERSION/Kind`.
pub fn api_versions() -> Vec<String> {
    let mut out = Vec::new();
    for (gv, kinds) in API_VERSIONS {
        out.push((*gv).to_string());
        for k in *kinds {
            out.push(format!("{gv}/{k}"));
        }
    }
    out
}

/// `.Capabilities.APIVersions` of the cluster `chart` is installed into: a k3s cluster's
/// (see [`api_versions`]) and those of the chart's own CRDs (`crds/` of the chart and of
/// its dependencies). A first `helm install` creates the CRDs of `crds/` and waits for
/// them before it asks the cluster what it serves and renders, so a template's
/// `.Capabilities.APIVersions.Has "GROUP/VERSION"` (or `"GROUP/VERSION/Kind"`) is true for
/// them.
pub fn release_api_versions(chart: &Chart) -> Vec<String> {
    let mut out = api_versions();
    crd_api_versions(chart, &mut out);
    out
}

/// The group versions and `GROUP/VERSION/Kind`s the CRDs of `chart` and its dependencies
/// make the API server serve, added to `out` (each once): every served version of an
/// `apiextensions.k8s.io/v1` CustomResourceDefinition, with its kind, and `Scale` for a
/// version with the scale subresource (the API server lists it under the CRD's group
/// version). A document that is no such CRD, or no YAML, adds nothing (the images step
/// reads every `crds/` file and refuses one that is not YAML, naming its line).
fn crd_api_versions(chart: &Chart, out: &mut Vec<String>) {
    for (_, data) in chart.crds() {
        let text = String::from_utf8_lossy(data);
        for doc in yaml_documents(&text) {
            let Ok(crd) = super::read_yaml::<Value>(doc) else {
                continue;
            };
            for gv in served(&crd) {
                if !out.contains(&gv) {
                    out.push(gv);
                }
            }
        }
    }
    for d in &chart.dependencies {
        crd_api_versions(d, out);
    }
}

/// What one CRD makes the API server serve: `GROUP/VERSION`, `GROUP/VERSION/Kind`, and
/// `GROUP/VERSION/Scale` with the scale subresource, for each served version.
fn served(crd: &Value) -> Vec<String> {
    let is_crd = crd.get("kind").and_then(Value::as_str) == Some("CustomResourceDefinition")
        && crd.get("apiVersion").and_then(Value::as_str) == Some("apiextensions.k8s.io/v1");
    if !is_crd {
        return Vec::new();
    }
    let spec = crd.get("spec");
    let field = |path: &[&str]| {
        path.iter()
            .try_fold(spec?, |v, k| v.get(*k))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    let (Some(group), Some(kind)) = (field(&["group"]), field(&["names", "kind"])) else {
        return Vec::new();
    };
    let Some(Value::Array(versions)) = spec.and_then(|s| s.get("versions")) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for v in versions {
        let Some(name) = v.get("name").and_then(Value::as_str) else {
            continue;
        };
        if v.get("served").and_then(Value::as_bool) != Some(true) {
            continue;
        }
        let gv = format!("{group}/{name}");
        out.push(gv.clone());
        out.push(format!("{gv}/{kind}"));
        if v.get("subresources").and_then(|s| s.get("scale")).is_some() {
            out.push(format!("{gv}/Scale"));
        }
    }
    out
}

/// The documents of a multi-document YAML file as Kubernetes' YAML reader splits them: a
/// line starting with `---` ends one when the rest of the line is blank or a comment.
fn yaml_documents(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut from = 0;
    let mut at = 0;
    for line in text.split_inclusive('\n') {
        if let Some(rest) = line.strip_prefix("---") {
            let rest = rest.trim();
            if rest.is_empty() || rest.starts_with('#') {
                out.push(&text[from..at]);
                from = at + line.len();
            }
        }
        at += line.len();
    }
    out.push(&text[from..]);
    out.retain(|d| !d.trim().is_empty());
    out
}

/// `.Capabilities` for the k3s release `k3s_version` (`v1.33.1+k3s1`): `KubeVersion`
/// (`Version` and `GitVersion` the release, `Major`, `Minor`), `APIVersions` (a list;
/// `Has` is the engine's), `HelmVersion`.
pub fn capabilities(k3s_version: &str) -> Value {
    let v = k3s_version.strip_prefix('v').unwrap_or(k3s_version);
    let mut parts = v.split(['.', '+', '-']);
    let major = parts.next().unwrap_or("1").to_string();
    let minor = parts.next().unwrap_or("0").to_string();
    json!({
        "KubeVersion": {
            "Version": k3s_version,
            "GitVersion": k3s_version,
            "Major": major,
            "Minor": minor,
        },
        "APIVersions": api_versions(),
        "HelmVersion": {
            "Version": HELM_VERSION,
            "GitCommit": "",
            "GitTreeState": "clean",
            "GoVersion": "",
        },
    })
}

/// Why a `.Files` path is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leaves(pub String);

impl std::fmt::Display for Leaves {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, ".Files path {:?} leaves the chart", self.0)
    }
}

/// A path a template gives `.Files`: relative, without `..`; `./` and doubled `/` are
/// read as Helm's map look-up would not, so they are refused too.
fn inside(path: &str) -> Result<(), Leaves> {
    let bad = path.starts_with('/') || path.contains('\\') || path.split('/').any(|c| c == "..");
    if bad {
        Err(Leaves(path.to_string()))
    } else {
        Ok(())
    }
}

/// `.Files.GetBytes`: the file's bytes, or none (Helm gives an empty result for a file it
/// does not have).
pub fn files_get<'c>(chart: &'c Chart, path: &str) -> Result<&'c [u8], Leaves> {
    inside(path)?;
    Ok(chart.files.get(path).map_or(&[][..], Vec::as_slice))
}

/// `.Files.Lines`: the file's lines (one trailing newline dropped), none for a missing file.
pub fn files_lines(chart: &Chart, path: &str) -> Result<Vec<String>, Leaves> {
    let bytes = files_get(chart, path)?;
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    let s = String::from_utf8_lossy(bytes);
    let s = s.strip_suffix('\n').unwrap_or(&s);
    Ok(s.split('\n').map(str::to_string).collect())
}

/// `.Files.Glob`: the files whose path matches `pattern` (`*` and `?` within a path
/// component, `**` across them, `{a,b}` alternatives, `[…]` classes), in path order.
pub fn files_glob(chart: &Chart, pattern: &str) -> Result<Vec<String>, Leaves> {
    inside(pattern)?;
    Ok(chart
        .files
        .keys()
        .filter(|p| glob(pattern.as_bytes(), p.as_bytes()))
        .cloned()
        .collect())
}

/// `AsConfig` and `AsSecrets`: the files by base name (the later of two of one name
/// wins), each as text or base64.
pub fn files_as_map(chart: &Chart, paths: &[String], base64: bool) -> Map<String, Value> {
    use base64::Engine as _;
    let mut out = Map::new();
    let mut sorted: Vec<&String> = paths.iter().collect();
    sorted.sort();
    for p in sorted {
        let bytes = chart.files.get(p.as_str()).map_or(&[][..], Vec::as_slice);
        let base = p.rsplit('/').next().unwrap_or(p);
        let v = if base64 {
            base64::engine::general_purpose::STANDARD.encode(bytes)
        } else {
            String::from_utf8_lossy(bytes).into_owned()
        };
        out.insert(base.to_string(), Value::String(v));
    }
    out
}

/// One piece of a glob pattern.
#[derive(Debug, Clone)]
enum Piece {
    /// `*`: any bytes but `/`.
    Star,
    /// `**`: any bytes.
    Stars,
    /// `?`: one byte but `/`.
    One,
    /// `[…]`: one byte of the class (or, negated, not of it), not `/`.
    Class(bool, Vec<(u8, u8)>),
    /// A byte as written.
    Byte(u8),
}

/// The longest glob pattern taken, and the most alternatives its `{…}` expand to.
const MAX_GLOB: usize = 4096;
const MAX_ALTERNATIVES: usize = 256;

/// The pattern with its `{a,b}` alternatives expanded (bounded).
fn alternatives(p: &[u8]) -> Vec<Vec<u8>> {
    let Some(open) = p.iter().position(|&c| c == b'{') else {
        return vec![p.to_vec()];
    };
    let Some(close) = p[open..].iter().position(|&c| c == b'}').map(|i| i + open) else {
        return vec![p.to_vec()];
    };
    let mut out = Vec::new();
    for alt in p[open + 1..close].split(|&c| c == b',') {
        let mut q = p[..open].to_vec();
        q.extend_from_slice(alt);
        q.extend_from_slice(&p[close + 1..]);
        for x in alternatives(&q) {
            if out.len() < MAX_ALTERNATIVES {
                out.push(x);
            }
        }
    }
    out
}

fn pieces(p: &[u8]) -> Vec<Piece> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < p.len() {
        match p[i] {
            b'*' if p.get(i + 1) == Some(&b'*') => {
                out.push(Piece::Stars);
                i += 2;
            }
            b'*' => {
                out.push(Piece::Star);
                i += 1;
            }
            b'?' => {
                out.push(Piece::One);
                i += 1;
            }
            b'[' if p[i + 1..].contains(&b']') => {
                let close = i + 1 + p[i + 1..].iter().position(|&c| c == b']').unwrap_or(0);
                let mut class = &p[i + 1..close];
                let negate = matches!(class.first(), Some(b'!' | b'^'));
                if negate {
                    class = &class[1..];
                }
                let mut ranges = Vec::new();
                let mut k = 0;
                while k < class.len() {
                    if k + 2 < class.len() && class[k + 1] == b'-' {
                        ranges.push((class[k], class[k + 2]));
                        k += 3;
                    } else {
                        ranges.push((class[k], class[k]));
                        k += 1;
                    }
                }
                out.push(Piece::Class(negate, ranges));
                i = close + 1;
            }
            b'\\' if i + 1 < p.len() => {
                out.push(Piece::Byte(p[i + 1]));
                i += 2;
            }
            c => {
                out.push(Piece::Byte(c));
                i += 1;
            }
        }
    }
    out
}

/// Glob matching as Helm's (gobwas/glob with `/` as the separator), on bytes, in time
/// proportional to the pattern's length times the path's (no backtracking).
fn glob(p: &[u8], s: &[u8]) -> bool {
    if p.len() > MAX_GLOB {
        return false;
    }
    alternatives(p).iter().any(|alt| matches(&pieces(alt), s))
}

fn matches(p: &[Piece], s: &[u8]) -> bool {
    let (np, ns) = (p.len(), s.len());
    // next[j]: p[i+1..] matches s[j..]; cur[j]: p[i..] matches s[j..].
    let mut next: Vec<bool> = (0..=ns).map(|j| j == ns).collect();
    for i in (0..np).rev() {
        let mut cur = vec![false; ns + 1];
        for j in (0..=ns).rev() {
            let c = s.get(j).copied();
            cur[j] = match &p[i] {
                Piece::Star => next[j] || (c.is_some_and(|c| c != b'/') && cur[j + 1]),
                Piece::Stars => next[j] || (c.is_some() && cur[j + 1]),
                Piece::One => c.is_some_and(|c| c != b'/') && next[j + 1],
                Piece::Class(negate, ranges) => {
                    c.is_some_and(|c| {
                        c != b'/' && ranges.iter().any(|&(a, b)| a <= c && c <= b) != *negate
                    }) && next[j + 1]
                }
                Piece::Byte(b) => c == Some(*b) && next[j + 1],
            };
        }
        next = cur;
    }
    next[0]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demo() -> Chart {
        let mut c = Chart {
            name: "demo".into(),
            ..Chart::default()
        };
        c.metadata = json!({"name": "demo", "version": "1.2.3", "appVersion": 2.1, "maintainers": [{"name": "a"}]})
            .as_object()
            .unwrap()
            .clone();
        for (p, d) in [
            ("files/a.conf", "x=1\ny=2\n"),
            ("files/sub/b.conf", "b"),
            ("files/c.txt", "c"),
            ("crds/crd.yaml", "kind: X"),
        ] {
            c.files.insert(p.into(), d.as_bytes().to_vec());
        }
        c
    }

    #[test]
    fn capabilities_come_from_the_k3s_release() {
        let c = capabilities("v1.33.1+k3s1");
        assert_eq!(c["KubeVersion"]["Major"], "1");
        assert_eq!(c["KubeVersion"]["Minor"], "33");
        assert_eq!(c["KubeVersion"]["Version"], "v1.33.1+k3s1");
        let all = api_versions();
        assert!(all.contains(&"apps/v1/Deployment".to_string()));
        assert!(all.contains(&"policy/v1".to_string()));
        assert!(!all.contains(&"policy/v1beta1".to_string()));
    }

    /// What a CRD adds: each served version of an `apiextensions.k8s.io/v1` CRD, in every
    /// document of a `crds/` file (Kubernetes' separators: `---` alone or before a
    /// comment); a document that is no such CRD, or no YAML, adds nothing.
    #[test]
    fn served_crd_versions_are_api_versions() {
        let mut c = Chart::default();
        let crd = |group: &str, api: &str| {
            format!(
                "apiVersion: {api}\nkind: CustomResourceDefinition\nspec:\n  group: {group}\n  names: {{kind: Thing}}\n  versions: [{{name: v1, served: true}}, {{name: v0, served: false}}]\n"
            )
        };
        let text = format!(
            "{}--- # next\n{}---\nkind: ConfigMap\n---\n: [ not yaml\n---\n{}",
            crd("a.example", "apiextensions.k8s.io/v1"),
            crd("b.example", "apiextensions.k8s.io/v1"),
            crd("c.example", "apiextensions.k8s.io/v1beta1"),
        );
        c.files.insert("crds/all.yaml".into(), text.into_bytes());
        c.files.insert(
            "crds/notes.txt".into(),
            crd("d.example", "apiextensions.k8s.io/v1").into_bytes(),
        );
        let all = release_api_versions(&c);
        let added: Vec<&String> = all.iter().skip(api_versions().len()).collect();
        assert_eq!(
            added,
            [
                "a.example/v1",
                "a.example/v1/Thing",
                "b.example/v1",
                "b.example/v1/Thing"
            ]
        );
    }

    #[test]
    fn files_are_read_by_path_and_never_outside() {
        let c = demo();
        assert_eq!(files_get(&c, "files/c.txt").unwrap(), b"c");
        assert_eq!(files_get(&c, "nope").unwrap(), b"");
        assert_eq!(files_lines(&c, "files/a.conf").unwrap(), ["x=1", "y=2"]);
        assert_eq!(files_glob(&c, "files/*.conf").unwrap(), ["files/a.conf"]);
        assert_eq!(
            files_glob(&c, "files/**.conf").unwrap(),
            ["files/a.conf", "files/sub/b.conf"]
        );
        assert_eq!(
            files_glob(&c, "files/{a,c}.*").unwrap(),
            ["files/a.conf", "files/c.txt"]
        );
        assert_eq!(files_glob(&c, "files/[ab].conf").unwrap(), ["files/a.conf"]);
        for bad in ["../values.yaml", "/etc/passwd", "files/../../x", "a\\b"] {
            assert!(files_get(&c, bad).is_err(), "{bad}");
            assert!(files_glob(&c, bad).is_err(), "{bad}");
        }
        let m = files_as_map(&c, &["files/sub/b.conf".into(), "files/c.txt".into()], true);
        assert_eq!(m["b.conf"], "Yg==");
        // A glob of many stars against a long path ends.
        let long = "a".repeat(4000);
        assert!(!glob("*a*a*a*a*a*a*a*a*a*b".as_bytes(), long.as_bytes()));
    }
}
