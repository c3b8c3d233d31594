//! The images a rendered manifest pulls: every document of a template's output read as
//! YAML, and in it
//! - every `image` of a `containers`, `initContainers` or `ephemeralContainers` list,
//!   wherever it lies (Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob,
//!   and any custom resource with a pod template's shape);
//! - every image reference in those containers' `args`, `command` and `env[].value`, and
//!   in a ConfigMap's `data`, when it parses as a full reference with a tag or digest
//!   (a workload that hands an image to another one, as Longhorn's manager and
//!   cert-manager's controller do): "named in an argument";
//! - every `image` field elsewhere in a custom resource (a resource of an API group of its
//!   own, not Kubernetes'), when it is a full reference with a tag or digest: the image an
//!   operator runs for it (a Prometheus, an Alertmanager of the Prometheus operator).

use crate::image::Reference;
use serde_json::Value;

/// How an image was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum How {
    /// A container's `image`.
    Container,
    /// Named in a container's argument, command, environment or a ConfigMap's data.
    Argument,
    /// A custom resource's `image` field, outside its containers: the image the
    /// resource's operator runs.
    Resource,
}

impl std::fmt::Display for How {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            How::Container => "container image",
            How::Argument => "named in an argument",
            How::Resource => "a custom resource's image",
        })
    }
}

/// An image found in one rendered document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The text as the manifest writes it.
    pub written: String,
    /// The reference, normalised.
    pub reference: Reference,
    /// How it was found.
    pub how: How,
    /// The line of the rendered text it is on (1-based, in the whole text given).
    pub line: usize,
    /// The text before the value on that line (`image:`, `- --engine-image=`): what
    /// finds the template's line.
    pub key: String,
    /// The resource: `Kind/name`.
    pub resource: String,
}

/// A rendered text that is not YAML: the line and the parser's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotYaml {
    /// The line in the text.
    pub line: usize,
    /// Why.
    pub message: String,
}

/// A container image that is no image reference (an empty `image:` renders so when a
/// chart's value is unset): kept to be reported, never mirrored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable {
    /// The text.
    pub written: String,
    /// Its line.
    pub line: usize,
    /// Why it is no reference.
    pub reason: String,
}

/// What one rendered text holds.
#[derive(Debug, Clone, Default)]
pub struct Scan {
    /// The images, in document order.
    pub found: Vec<Found>,
    /// Container images that are no references.
    pub unreadable: Vec<Unreadable>,
}

/// The documents of a rendered text, split as Helm splits a release's manifest (its
/// `SplitManifests`: the pattern `(?:^|\s*\n)---\s*`), not as a YAML stream: a `---`
/// at the start of a line, whatever follows it on that line (`---# a comment`, which a
/// template trimming the lines around it renders), ends a document.
fn pieces(text: &str) -> Vec<std::ops::Range<usize>> {
    static SEP: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"(?:^|\s*\n)---\s*").unwrap_or_else(|_| unreachable!())
    });
    let mut out = Vec::new();
    let mut from = 0;
    for m in SEP.find_iter(text) {
        out.push(from..m.start());
        from = m.end();
    }
    out.push(from..text.len());
    out
}

/// The images of every document of `text` (a template's output, or a `crds/` file).
pub fn scan(text: &str) -> Result<Scan, NotYaml> {
    let mut scan = Scan::default();
    // The line each piece starts on, counted on from the last piece's start.
    let (mut counted_to, mut doc_line) = (0, 1);
    for piece in pieces(text) {
        doc_line += text[counted_to..piece.start].matches('\n').count();
        counted_to = piece.start;
        let part = &text[piece.clone()];
        if part.trim().is_empty() {
            continue;
        }
        let value: Value = super::read_yaml(part).map_err(|e| NotYaml {
            line: e
                .location()
                .map_or(doc_line, |l| doc_line + l.line() as usize - 1),
            message: e.to_string(),
        })?;
        if value.is_null() {
            // Only comments.
            continue;
        }
        let resource = resource_of(&value);
        let mut raw: Vec<(String, How)> = Vec::new();
        walk(&value, &mut raw, custom(&value), 0);
        if value.get("kind").and_then(Value::as_str) == Some("ConfigMap")
            && let Some(Value::Object(data)) = value.get("data")
        {
            for v in data.values() {
                if let Value::String(s) = v {
                    for t in tokens(s) {
                        raw.push((t.to_string(), How::Argument));
                    }
                }
            }
        }
        let mut cursor = 0usize;
        for (written, how) in raw {
            // An empty image is found by its key.
            let needle = if written.is_empty() {
                "image:"
            } else {
                written.as_str()
            };
            let (line, key) = locate(part, needle, &mut cursor);
            let line = doc_line.saturating_sub(1) + line.max(1);
            // A container's image is one whatever it says; an argument's or a custom
            // resource's only when it names a registry or tag.
            match Reference::parse(&written) {
                Ok(reference) if how == How::Container || named(&written) => {
                    scan.found.push(Found {
                        written,
                        reference,
                        how,
                        line,
                        key,
                        resource: resource.clone(),
                    });
                }
                Err(e) if how == How::Container => scan.unreadable.push(Unreadable {
                    written,
                    line,
                    reason: e.to_string(),
                }),
                _ => {}
            }
        }
    }
    Ok(scan)
}

/// `Kind/name` of a document.
fn resource_of(doc: &Value) -> String {
    let kind = doc.get("kind").and_then(Value::as_str).unwrap_or("?");
    let name = doc
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("?");
    format!("{kind}/{name}")
}

const CONTAINER_LISTS: [&str; 3] = ["containers", "initContainers", "ephemeralContainers"];

/// Whether a document is a custom resource: its `apiVersion`'s group is one of its own,
/// a dotted name outside Kubernetes' `*.k8s.io` (`monitoring.coreos.com/v1`), not a
/// built-in group (`v1`, `apps/v1`, `batch/v1`, `networking.k8s.io/v1`).
fn custom(doc: &Value) -> bool {
    let Some((group, _)) = doc
        .get("apiVersion")
        .and_then(Value::as_str)
        .and_then(|v| v.split_once('/'))
    else {
        return false;
    };
    group.contains('.') && !group.ends_with(".k8s.io") && group != "k8s.io"
}

/// Every container list under `value`, depth-first in document order, and in a custom
/// resource (`custom`) every other `image` field.
fn walk(value: &Value, out: &mut Vec<(String, How)>, custom: bool, depth: usize) {
    // The YAML reader stops at 64 levels already; this bounds the walk the same.
    if depth > 128 {
        return;
    }
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                if CONTAINER_LISTS.contains(&k.as_str())
                    && let Value::Array(items) = v
                    && items.iter().any(|c| c.get("image").is_some())
                {
                    for c in items {
                        container(c, out);
                    }
                    continue;
                }
                if custom
                    && k == "image"
                    && let Value::String(s) = v
                {
                    out.push((s.trim().to_string(), How::Resource));
                    continue;
                }
                walk(v, out, custom, depth + 1);
            }
        }
        Value::Array(items) => {
            for v in items {
                walk(v, out, custom, depth + 1);
            }
        }
        _ => {}
    }
}

/// One container: its `image`, then what its `command`, `args` and `env` name.
fn container(c: &Value, out: &mut Vec<(String, How)>) {
    let Value::Object(map) = c else { return };
    if let Some(image) = map.get("image") {
        let text = match image {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
        };
        out.push((text.trim().to_string(), How::Container));
    }
    for key in ["command", "args"] {
        if let Some(Value::Array(items)) = map.get(key) {
            for s in items.iter().filter_map(Value::as_str) {
                for t in tokens(s) {
                    out.push((t.to_string(), How::Argument));
                }
            }
        }
    }
    if let Some(Value::Array(env)) = map.get("env") {
        for e in env {
            if let Some(Value::String(s)) = e.get("value") {
                for t in tokens(s) {
                    out.push((t.to_string(), How::Argument));
                }
            }
        }
    }
}

/// The words of an argument or a value that may name an image: split at white space,
/// quotes, `,` and `;`, and a `--flag=` or `KEY=` prefix dropped.
fn tokens(s: &str) -> impl Iterator<Item = &str> {
    s.split(|c: char| c.is_whitespace() || "\"'`,;()[]{}<>|".contains(c))
        .map(|t| t.rsplit_once('=').map_or(t, |(_, v)| v))
        .map(|t| t.trim_end_matches(['.', ':']))
        .filter(|t| t.len() >= 3 && t.len() <= 512 && (t.contains(':') || t.contains('@')))
}

/// Whether a word found in an argument names an image: a full reference with a tag or
/// digest, whose tag looks like one (a version, `latest`, or anything after a path with
/// `/`), and not an address (`host:8080`), a URL or a `key:value` pair.
pub fn named(word: &str) -> bool {
    if word.contains("://") || word.starts_with('/') || word.starts_with('-') {
        return false;
    }
    let Ok(reference) = Reference::parse(word) else {
        return false;
    };
    if reference.digest().is_some() {
        return true;
    }
    let Some(tag) = reference.tag() else {
        return false;
    };
    // The tag as written (the parser adds `latest` when none is).
    let last = word.rsplit('/').next().unwrap_or(word);
    let Some((name, written_tag)) = last.split_once(':') else {
        return false;
    };
    if written_tag != tag || name.is_empty() {
        return false;
    }
    let versionish = tag == "latest"
        || tag.starts_with(|c: char| c.is_ascii_digit())
            && (tag.contains('.') || tag.contains('-'))
        || tag.starts_with('v') && tag[1..].starts_with(|c: char| c.is_ascii_digit());
    let has_path = word.contains('/');
    // `host:8080`, `svc.ns:5432`: a port, not a tag.
    if tag.bytes().all(|b| b.is_ascii_digit()) {
        return has_path;
    }
    versionish || has_path && tag.bytes().any(|b| b.is_ascii_digit())
}

/// The line (1-based, in `text`) of `needle`, at or after `cursor` (the byte after the
/// last one found, so repeated images keep their own lines), and what is written before it
/// on that line.
fn locate(text: &str, needle: &str, cursor: &mut usize) -> (usize, String) {
    if needle.is_empty() {
        return (0, String::new());
    }
    let at = text[*cursor..]
        .find(needle)
        .map(|i| i + *cursor)
        .or_else(|| text.find(needle));
    let Some(at) = at else {
        return (0, String::new());
    };
    *cursor = at + needle.len();
    let line = text[..at].matches('\n').count() + 1;
    let start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let key = text[start..at]
        .trim()
        .trim_end_matches(['"', '\''])
        .trim()
        .to_string();
    (line, key)
}

/// The line of `template` (its source text) an image found after `key` came from: the
/// `n`-th line of the source holding the key's name when the output has as many, else the
/// first; `None` when no source line holds it (the key came from a helper elsewhere).
pub fn source_line(template: &str, key: &str, nth: usize, in_output: usize) -> Option<usize> {
    let name = key_name(key)?;
    let lines: Vec<usize> = template
        .lines()
        .enumerate()
        .filter(|(_, l)| l.contains(&name))
        .map(|(i, _)| i + 1)
        .collect();
    if lines.len() == in_output {
        lines.get(nth).copied()
    } else {
        lines.first().copied()
    }
}

/// The name in a key as rendered: `image:` → `image:`, `- --engine-image=` →
/// `--engine-image=`, `value:` → `value:`.
pub fn key_name(key: &str) -> Option<String> {
    let k = key.trim().trim_start_matches("- ").trim();
    if k.is_empty() {
        return None;
    }
    // The last word before the value: `- name: x image:` is not YAML, but a flag is.
    Some(k.rsplit(' ').next().unwrap_or(k).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_are_split_as_helm_splits_a_manifest() {
        let text = "a: 1\n---\n\n---# only a comment\n---# c\nkind: Pod\nspec:\n  containers:\n  - image: x.io/a:1\n";
        let scan = scan(text).unwrap();
        assert_eq!(scan.found.len(), 1);
        assert_eq!(scan.found[0].line, 9);
    }

    #[test]
    fn a_repeated_key_keeps_its_last_value_as_helm_reads_a_manifest() {
        let text = "kind: Pod\nmetadata:\n  annotations:\n    a: \"1\"\n    a: \"2\"\nspec:\n  containers:\n  - image: x.io/a:1\n    image: x.io/b:2\n";
        let scan = scan(text).unwrap();
        assert_eq!(scan.found.len(), 1);
        assert_eq!(scan.found[0].reference.to_string(), "x.io/b:2");
    }

    fn found(text: &str) -> Vec<(String, How, usize, String)> {
        scan(text)
            .unwrap()
            .found
            .into_iter()
            .map(|f| (f.reference.to_string(), f.how, f.line, f.resource))
            .collect()
    }

    #[test]
    fn containers_of_every_kind_and_custom_resources_are_found() {
        let text = "\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  template:
    spec:
      initContainers:
        - name: init
          image: busybox:1.36
      containers:
        - name: web
          image: \"registry.example:5000/team/web:2.0\"
          args: [\"--engine-image=longhornio/longhorn-engine:v1.7.0\", \"--listen=0.0.0.0:8080\", \"--name=x\"]
          env:
            - {name: SOLVER, value: quay.io/jetstack/cert-manager-acmesolver:v1.15.0}
            - {name: DB, value: \"postgres.db.svc:5432\"}
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: backup}
spec:
  jobTemplate:
    spec:
      template:
        spec:
          containers:
            - {name: b, image: \"alpine@sha256:0000000000000000000000000000000000000000000000000000000000000000\"}
---
apiVersion: example.io/v1
kind: Thing
metadata: {name: custom}
spec:
  deep:
    podSpec:
      ephemeralContainers:
        - image: ghcr.io/example/dbg:1
";
        let f = found(text);
        assert_eq!(
            f,
            [
                ("docker.io/library/busybox:1.36".into(), How::Container, 9, "Deployment/web".into()),
                ("registry.example:5000/team/web:2.0".into(), How::Container, 12, "Deployment/web".into()),
                ("docker.io/longhornio/longhorn-engine:v1.7.0".into(), How::Argument, 13, "Deployment/web".into()),
                ("quay.io/jetstack/cert-manager-acmesolver:v1.15.0".into(), How::Argument, 15, "Deployment/web".into()),
                (
                    "docker.io/library/alpine@sha256:0000000000000000000000000000000000000000000000000000000000000000".into(),
                    How::Container,
                    27,
                    "CronJob/backup".into()
                ),
                ("ghcr.io/example/dbg:1".into(), How::Container, 36, "Thing/custom".into()),
            ]
        );
    }

    #[test]
    fn a_custom_resource_names_the_image_its_operator_runs() {
        let text = "\
apiVersion: monitoring.coreos.com/v1
kind: Prometheus
metadata: {name: k}
spec:
  image: \"quay.io/prometheus/prometheus:v3.5.0\"
  version: v3.5.0
  thanos:
    image: prometheus
  containers:
    - name: side
      image: ghcr.io/example/side:1
---
apiVersion: example.io/v1
kind: Machine
metadata: {name: m}
spec:
  image: ubuntu-22.04
---
apiVersion: apps/v1
kind: Thing
metadata: {name: builtin}
spec:
  image: nginx:1.25
---
apiVersion: storage.k8s.io/v1
kind: Other
metadata: {name: k8s}
image: nginx:1.25
";
        assert_eq!(
            found(text),
            [
                (
                    "quay.io/prometheus/prometheus:v3.5.0".into(),
                    How::Resource,
                    5,
                    "Prometheus/k".into()
                ),
                (
                    "ghcr.io/example/side:1".into(),
                    How::Container,
                    11,
                    "Prometheus/k".into()
                ),
            ]
        );
        assert_eq!(How::Resource.to_string(), "a custom resource's image");
    }

    #[test]
    fn config_map_data_and_empty_images_are_reported() {
        let text = "kind: ConfigMap\nmetadata: {name: c}\ndata:\n  images: |\n    engine=docker.io/x/engine:v1\n    url=http://example.com:80/x\n  mode: \"debug:true\"\n---\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n    - name: a\n      image: \"\"\n";
        let s = scan(text).unwrap();
        let f: Vec<_> = s
            .found
            .iter()
            .map(|f| (f.reference.to_string(), f.line))
            .collect();
        assert_eq!(f, [("docker.io/x/engine:v1".to_string(), 5)]);
        assert_eq!(s.unreadable.len(), 1);
        assert_eq!(s.unreadable[0].line, 14);
    }

    #[test]
    fn words_that_are_not_images_are_not_named() {
        for yes in [
            "nginx:1.25",
            "nginx:latest",
            "rancher/klipper-helm:v0.9.3-build20241008",
            "quay.io/a/b:v1",
            "localhost:5000/x:1",
            "x/y:16",
            "a/b@sha256:0000000000000000000000000000000000000000000000000000000000000000",
        ] {
            assert!(named(yes), "{yes}");
        }
        for no in [
            "host:8080",
            "svc.ns.svc.cluster.local:5432",
            "level:info",
            "http://x:80",
            "/var/lib:x",
            "quay.io/a/b",
            "debug:true",
            "0.0.0.0:8080",
        ] {
            assert!(!named(no), "{no}");
        }
    }

    #[test]
    fn a_source_line_is_found_by_its_key() {
        let src = "spec:\n  containers:\n    - image: {{ include \"x\" . }}\n      args:\n        - --side-image={{ .Values.side }}\n";
        assert_eq!(source_line(src, "image:", 0, 1), Some(3));
        assert_eq!(source_line(src, "- --side-image=", 0, 1), Some(5));
        assert_eq!(source_line(src, "value:", 0, 1), None);
    }
}
