//! The images a rendered manifest pulls: every document of a template's output read as
//! YAML, and in it
//! - every `image` of a `containers`, `initContainers` or `ephemeralContainers` list,
//!   wherever it lies (Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob,
//!   and any custom resource with a pod template's shape);
//! - every image reference in those containers' `args`, `command` and `env[].value`, and
//!   in a ConfigMap's `data`, when it is a reference a container would take: a registry
//!   host or a path (`repo/name`) and a tag or digest, never a bare `name:version` word
//!   (a plugin list's `git:5.10.1`), unless a container's flag or variable names it as an
//!   image (`--helper-image=busybox:1.36`, `HELPER_IMAGE`). A workload that hands an
//!   image to another one, as Longhorn's manager and cert-manager's controller do: "named
//!   in an argument";
//! - every `image` field elsewhere in a custom resource (a resource of an API group of its
//!   own, not Kubernetes'), and every field whose key names an image (`docker_image`), when
//!   it is a full reference with a tag or digest: the image an operator runs for it (a
//!   Prometheus, an Alertmanager of the Prometheus operator, the database of a Postgres
//!   operator's `OperatorConfiguration`);
//! - the images an operator pulls that a custom resource names in parts, or a ConfigMap's
//!   pod templates or its keys of one prefix name ([`operator`]): "pulled by the operator".
//!
//! Each is found with the field it came from (`spec.template.spec.containers[0].image`,
//! `spec.driver`, `data.config`).

mod operator;

use crate::image::Reference;
use serde_json::{Map, Value};

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
    /// Named in parts by a custom resource, or by a pod template a ConfigMap holds: an
    /// image the operator pulls for it (a GPU operator's driver, an injected sidecar).
    Operator,
}

impl std::fmt::Display for How {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            How::Container => "container image",
            How::Argument => "named in an argument",
            How::Resource => "a custom resource's image",
            How::Operator => "pulled by the operator",
        })
    }
}

/// An image found in one rendered document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The text as the manifest writes it (put together from its parts when it names it
    /// in parts).
    pub written: String,
    /// The reference, normalised.
    pub reference: Reference,
    /// How it was found.
    pub how: How,
    /// The line of the rendered text it is on (1-based, in the whole text given).
    pub line: usize,
    /// The text before the value on that line (`image:`, `- --engine-image=`), or the
    /// key of the map naming it in parts with its indentation (`  toolkit:`): what finds
    /// the template's line.
    pub key: String,
    /// The resource: `Kind/name`.
    pub resource: String,
    /// The field it came from: `spec.template.spec.containers[0].image`, `spec.driver`
    /// (a map naming it in parts), `data.config` (a ConfigMap's data), `data.values:global`
    /// (a map inside the YAML or JSON of a ConfigMap's data).
    pub field: String,
    /// The parts it was put together from, as written (empty when written whole).
    pub parts: Vec<String>,
    /// The keys from the document's top to the map naming it in parts (empty when none
    /// does): what finds the template's line when the key's name is not enough.
    pub path: Vec<String>,
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

/// An image a resource names that its operator completes on the node (the GPU operator
/// appends the node's OS to its driver's tag): not the image pulled, so kept to be
/// reported, never mirrored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incomplete {
    /// The image as the resource names it (`nvcr.io/nvidia/driver:595.58.03`).
    pub written: String,
    /// The parts it was put together from.
    pub parts: Vec<String>,
    /// Its line.
    pub line: usize,
    /// As [`Found::key`].
    pub key: String,
    /// As [`Found::path`].
    pub path: Vec<String>,
    /// The resource: `Kind/name`.
    pub resource: String,
    /// The field: `spec.driver`.
    pub field: String,
    /// What the operator does to it.
    pub reason: String,
}

/// What one rendered text holds.
#[derive(Debug, Clone, Default)]
pub struct Scan {
    /// The images, in document order.
    pub found: Vec<Found>,
    /// Container images that are no references.
    pub unreadable: Vec<Unreadable>,
    /// Images an operator completes on the node.
    pub incomplete: Vec<Incomplete>,
    /// The resources of an operator whose images are known from its release
    /// ([`super::calico`]: Tigera's `Installation`, `APIServer`, …).
    pub operated: Vec<Operated>,
}

/// A resource of an operator that deploys what its release carries (Tigera's
/// `Installation`): its kind, its spec and where it is.
#[derive(Debug, Clone, PartialEq)]
pub struct Operated {
    /// `Installation`.
    pub kind: String,
    /// `Kind/name`.
    pub resource: String,
    /// Its `spec` (null when it has none).
    pub spec: Value,
    /// The line of its `kind:` in the rendered text (1-based).
    pub line: usize,
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

/// Where an image found in a document is written.
#[derive(Debug)]
enum At {
    /// Its own text (an empty image: its key).
    Written,
    /// A map's key, by its path from the document's top; else the first part's text.
    Path(Vec<String>),
    /// The first part's text.
    Part,
}

/// An image as the walk finds it, before it is placed.
#[derive(Debug)]
struct Raw {
    written: String,
    how: How,
    field: String,
    parts: Vec<String>,
    at: At,
    /// Why the operator completes it on the node, when it does.
    incomplete: Option<&'static str>,
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
        let kind = value.get("kind").and_then(Value::as_str).unwrap_or("");
        if group(&value) == Some(super::calico::GROUP) && super::calico::deploys(kind) {
            let at = part
                .lines()
                .position(|l| l.trim_end() == format!("kind: {kind}"))
                .unwrap_or(0);
            scan.operated.push(Operated {
                kind: kind.to_string(),
                resource: resource.clone(),
                spec: value.get("spec").cloned().unwrap_or(Value::Null),
                line: doc_line + at,
            });
        }
        let mut walker = Walker {
            out: Vec::new(),
            mode: match group(&value) {
                Some(g) => Mode::Custom { group: g, kind },
                None => Mode::Workload,
            },
            prefix: String::new(),
            path: Vec::new(),
        };
        walker.walk(&value, false, 0);
        if kind == "ConfigMap"
            && let Some(Value::Object(data)) = value.get("data")
        {
            walker.config_map(data);
        }
        let mut cursor = 0usize;
        for raw in walker.out {
            let first_part = raw.parts.first().map_or("", String::as_str);
            let (line, key) = match &raw.at {
                // An empty image is found by its key.
                At::Written if raw.written.is_empty() => locate(part, "image:", &mut cursor),
                At::Written => locate(part, &raw.written, &mut cursor),
                At::Path(keys) => {
                    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
                    operator::line_of_path(part, &keys)
                        .unwrap_or_else(|| locate(part, first_part, &mut cursor))
                }
                At::Part => locate(part, first_part, &mut cursor),
            };
            let line = doc_line.saturating_sub(1) + line.max(1);
            let path = match raw.at {
                At::Path(keys) => keys,
                _ => Vec::new(),
            };
            if let Some(reason) = raw.incomplete {
                scan.incomplete.push(Incomplete {
                    written: raw.written,
                    parts: raw.parts,
                    line,
                    key,
                    path,
                    resource: resource.clone(),
                    field: raw.field,
                    reason: reason.to_string(),
                });
                continue;
            }
            // Whether a word found elsewhere than in a container's image names an image
            // was judged as it was found; a container's image is one whatever it says.
            match Reference::parse(&raw.written) {
                Ok(reference) => scan.found.push(Found {
                    written: raw.written,
                    reference,
                    how: raw.how,
                    line,
                    key,
                    resource: resource.clone(),
                    field: raw.field,
                    parts: raw.parts,
                    path,
                }),
                Err(e) if raw.how == How::Container => scan.unreadable.push(Unreadable {
                    written: raw.written,
                    line,
                    reason: e.to_string(),
                }),
                Err(_) => {}
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

/// The API group of a custom resource: its `apiVersion`'s group when it is one of its own,
/// a dotted name outside Kubernetes' `*.k8s.io` (`monitoring.coreos.com/v1`), not a
/// built-in group (`v1`, `apps/v1`, `batch/v1`, `networking.k8s.io/v1`).
fn group(doc: &Value) -> Option<&str> {
    let (group, _) = doc
        .get("apiVersion")
        .and_then(Value::as_str)?
        .split_once('/')?;
    (group.contains('.') && !group.ends_with(".k8s.io") && group != "k8s.io").then_some(group)
}

/// What a walk looks for besides containers.
#[derive(Debug, Clone, Copy)]
enum Mode<'a> {
    /// A resource of Kubernetes' own: containers only.
    Workload,
    /// A custom resource: its `image` fields and the images its maps name in parts too.
    Custom { group: &'a str, kind: &'a str },
    /// The YAML or JSON of a ConfigMap's data: the images its maps name in parts only.
    Values,
}

/// One step of a field's path.
#[derive(Debug, Clone)]
enum Step {
    Key(String),
    Index(usize),
}

/// A walk of one document, gathering what it names in document order.
struct Walker<'a> {
    out: Vec<Raw>,
    mode: Mode<'a>,
    /// Written before every field (`data.values:`, the data the walk is inside).
    prefix: String,
    path: Vec<Step>,
}

impl Walker<'_> {
    /// The field at the walk's path (with `last` after it): `spec.containers[0].image`;
    /// a key that is no plain name is quoted (`data["plugins.txt"]`).
    fn field(&self, last: Option<&str>) -> String {
        let mut out = self.prefix.clone();
        let steps = self
            .path
            .iter()
            .cloned()
            .chain(last.map(|k| Step::Key(k.into())));
        for s in steps {
            match s {
                Step::Key(k) => {
                    let first = out.is_empty() || out.ends_with(':');
                    push_key(&mut out, &k, first);
                }
                Step::Index(n) => out.push_str(&format!("[{n}]")),
            }
        }
        out
    }

    fn push(&mut self, written: String, how: How, last: Option<&str>) {
        let field = self.field(last);
        self.out.push(Raw {
            written,
            how,
            field,
            parts: Vec::new(),
            at: At::Written,
            incomplete: None,
        });
    }

    /// Every container list under `value`, depth-first in document order, and what the
    /// walk's mode looks for besides.
    fn walk(&mut self, value: &Value, disabled: bool, depth: usize) {
        // The YAML reader stops at 64 levels already; this bounds the walk the same.
        if depth > 128 {
            return;
        }
        match value {
            Value::Object(map) => self.map(map, disabled, depth),
            Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    self.path.push(Step::Index(i));
                    self.walk(v, disabled, depth + 1);
                    self.path.pop();
                }
            }
            _ => {}
        }
    }

    fn map(&mut self, map: &Map<String, Value>, disabled: bool, depth: usize) {
        let operated = !matches!(self.mode, Mode::Workload);
        let disabled = disabled || operated && operator::disabled(map);
        let mut whole = false;
        if operated && !disabled {
            for c in operator::parts(map) {
                whole |= c.child.is_none();
                self.composed(c);
            }
        }
        for (k, v) in map {
            self.path.push(Step::Key(k.clone()));
            // A ConfigMap's pod templates are read by their lines, whether or not they
            // are YAML (see `config_map`).
            if CONTAINER_LISTS.contains(&k.as_str())
                && !matches!(self.mode, Mode::Values)
                && let Value::Array(items) = v
                && items.iter().any(|c| c.get("image").is_some())
            {
                for (i, c) in items.iter().enumerate() {
                    self.path.push(Step::Index(i));
                    self.container(c);
                    self.path.pop();
                }
            } else if matches!(self.mode, Mode::Custom { .. })
                && !disabled
                && (k == "image" && !whole || k != "image" && names_image(k))
                && let Value::String(s) = v
            {
                if named(s.trim()) {
                    self.push(s.trim().to_string(), How::Resource, None);
                }
            } else {
                self.walk(v, disabled, depth + 1);
            }
            self.path.pop();
        }
    }

    /// An image a map names in parts: pulled by the operator, or completed by it on the
    /// node.
    fn composed(&mut self, c: operator::Composed) {
        let field = self.field(c.child.as_deref());
        let (at, incomplete) = match self.mode {
            Mode::Custom { group, kind } => {
                let mut keys: Vec<String> = Vec::new();
                let mut plain = true;
                for s in &self.path {
                    match s {
                        Step::Key(k) => keys.push(k.clone()),
                        Step::Index(_) => plain = false,
                    }
                }
                keys.extend(c.child.clone());
                let at = if plain && !keys.is_empty() {
                    At::Path(keys)
                } else {
                    At::Part
                };
                (at, operator::completed_on_the_node(group, kind, &field, &c))
            }
            _ => (At::Part, None),
        };
        self.out.push(Raw {
            written: c.written,
            how: How::Operator,
            field,
            parts: c.parts,
            at,
            incomplete,
        });
    }

    /// One container: its `image`, then what its `command`, `args` and `env` name.
    fn container(&mut self, c: &Value) {
        let Value::Object(map) = c else { return };
        if let Some(image) = map.get("image") {
            let text = match image {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                other => other.to_string(),
            };
            self.push(text.trim().to_string(), How::Container, Some("image"));
        }
        for key in ["command", "args"] {
            if let Some(Value::Array(items)) = map.get(key) {
                self.path.push(Step::Key(key.into()));
                for (i, s) in items.iter().enumerate() {
                    let Some(s) = s.as_str() else { continue };
                    self.path.push(Step::Index(i));
                    for (flag, word) in tokens(s) {
                        if free(word) || names_image(flag) && named(word) {
                            self.push(word.to_string(), How::Argument, None);
                        }
                    }
                    self.path.pop();
                }
                self.path.pop();
            }
        }
        if let Some(Value::Array(env)) = map.get("env") {
            self.path.push(Step::Key("env".into()));
            for (i, e) in env.iter().enumerate() {
                let Some(Value::String(s)) = e.get("value") else {
                    continue;
                };
                let var = e.get("name").and_then(Value::as_str).unwrap_or("");
                self.path.push(Step::Index(i));
                for (key, word) in tokens(s) {
                    if free(word) || (names_image(var) || names_image(key)) && named(word) {
                        self.push(word.to_string(), How::Argument, Some("value"));
                    }
                }
                self.path.pop();
            }
            self.path.pop();
        }
    }

    /// A ConfigMap's data: the references its text names, the images of the pod templates
    /// it holds, and, when those are templates, the images its YAML or JSON names in parts.
    fn config_map(&mut self, data: &Map<String, Value>) {
        let mut templated = false;
        for (k, v) in data {
            let Value::String(s) = v else { continue };
            self.path = vec![Step::Key("data".into()), Step::Key(k.clone())];
            let (images, t) = operator::template_images(s);
            templated |= t;
            for image in &images {
                self.push(image.clone(), How::Operator, None);
            }
            for (_, word) in tokens(s) {
                if free(word) && !images.iter().any(|i| i == word) {
                    self.push(word.to_string(), How::Argument, None);
                }
            }
        }
        for (key, c) in operator::split_keys(data) {
            self.path = vec![Step::Key("data".into())];
            self.composed(operator::Composed {
                child: Some(key),
                ..c
            });
        }
        if !templated {
            self.path.clear();
            return;
        }
        let mode = std::mem::replace(&mut self.mode, Mode::Values);
        for (k, v) in data {
            let Value::String(s) = v else { continue };
            let Ok(inner @ (Value::Object(_) | Value::Array(_))) = super::read_yaml::<Value>(s)
            else {
                continue;
            };
            self.path.clear();
            self.prefix = String::new();
            push_key(&mut self.prefix, "data", true);
            push_key(&mut self.prefix, k, false);
            self.prefix.push(':');
            self.walk(&inner, false, 0);
        }
        self.mode = mode;
        self.prefix.clear();
        self.path.clear();
    }
}

/// `k` after a field's text: `.k`, or `["k"]` when it is no plain name (`plugins.txt`).
fn push_key(out: &mut String, k: &str, first: bool) {
    let plain = !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !plain {
        out.push_str(&format!("[{k:?}]"));
    } else {
        if !first {
            out.push('.');
        }
        out.push_str(k);
    }
}

/// Whether a flag or a variable names an image (`--engine-image`, `HELPER_IMAGE`).
fn names_image(key: &str) -> bool {
    key.to_ascii_lowercase().contains("image")
}

/// The words of an argument or a value that may name an image, each with what is written
/// before its `=` (a `--flag` or a `KEY`; empty when none): split at white space, quotes,
/// `,` and `;`.
fn tokens(s: &str) -> impl Iterator<Item = (&str, &str)> {
    s.split(|c: char| c.is_whitespace() || "\"'`,;()[]{}<>|".contains(c))
        .map(|t| t.rsplit_once('=').unwrap_or(("", t)))
        .map(|(k, t)| (k, t.trim_end_matches(['.', ':'])))
        .filter(|(_, t)| t.len() >= 3 && t.len() <= 512 && (t.contains(':') || t.contains('@')))
}

/// Whether a word of free text (an argument, a value, a ConfigMap's data) names an image:
/// [`named`], with a registry host or a path, never a bare `name:version` (a plugin
/// list's `git:5.10.1`).
pub fn free(word: &str) -> bool {
    named(word) && word.contains('/')
}

/// Whether a word found in an argument names an image: a full reference by the reference
/// grammar with a tag or digest written, and not a URL or a path. With a registry host or a
/// path (`repo/name`) any valid tag is taken (`ghcr.io/dapr/daprd:edge`); a bare
/// `name:tag` only when its tag looks like one (a version, `latest`), never a port
/// (`host:8080`) or a `key:value` pair (`level:info`).
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
    if word.contains('/') {
        return true;
    }
    // `host:8080`, `svc.ns:5432`: a port, not a tag.
    if tag.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    tag == "latest"
        || tag.starts_with(|c: char| c.is_ascii_digit()) && (tag.contains('.') || tag.contains('-'))
        || tag.starts_with('v') && tag[1..].starts_with(|c: char| c.is_ascii_digit())
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
/// first; `None` when no source line holds it (the key came from a helper elsewhere). A
/// key with its indentation (a map's, `  toolkit:`) is looked for at the start of a line
/// first, so that a key of the same name deeper (`    toolkit:`) is not taken for it.
pub fn source_line(template: &str, key: &str, nth: usize, in_output: usize) -> Option<usize> {
    let name = key_name(key)?;
    let holding = |at_start: bool| -> Vec<usize> {
        template
            .lines()
            .enumerate()
            .filter(|(_, l)| {
                if at_start {
                    l.starts_with(&name)
                } else {
                    l.contains(name.trim_start())
                }
            })
            .map(|(i, _)| i + 1)
            .collect()
    };
    let mut lines = Vec::new();
    if name.starts_with(' ') {
        lines = holding(true);
    }
    if lines.is_empty() {
        lines = holding(false);
    }
    if lines.len() == in_output {
        lines.get(nth).copied()
    } else {
        lines.first().copied()
    }
}

/// The line of `template` (its source text) an image found at `output_line` of the
/// template's `output` after `name` (a [`key_name`]) came from, when the key's name is on
/// several lines of the template: the output's line itself when the template writes it so
/// (once), else the first line holding the name after the nearest output line before it
/// that the template writes literally, once (`- name: SIDECAR_IMAGE` before its `value:`,
/// `- --helper-image` before the item naming it); `None` when there is no such line.
pub fn anchored_line(
    template: &str,
    output: &str,
    output_line: usize,
    name: &str,
) -> Option<usize> {
    let source: Vec<&str> = template.lines().map(str::trim).collect();
    let needle = name.trim();
    if source.iter().filter(|l| l.contains(needle)).count() < 2 {
        return None;
    }
    let once = |text: &str| {
        let mut at = source.iter().enumerate().filter(|(_, l)| **l == text);
        match (at.next(), at.next()) {
            (Some((i, _)), None) => Some(i),
            _ => None,
        }
    };
    let out: Vec<&str> = output.lines().map(str::trim).collect();
    let here = out.get(output_line.checked_sub(1)?)?;
    if let Some(i) = once(here) {
        return Some(i + 1);
    }
    for back in out[..output_line - 1].iter().rev().take(16) {
        if back.is_empty() || back.starts_with('#') || *back == "---" {
            continue;
        }
        if let Some(a) = once(back) {
            return source
                .iter()
                .enumerate()
                .skip(a + 1)
                .find(|(_, l)| l.contains(needle))
                .map(|(j, _)| j + 1);
        }
    }
    None
}

/// The line of `template` (its source text) the map at `path` (keys from the document's
/// top) is written on, when the template writes the document in block style: its lines of
/// template actions alone (`{{- if .Values.x }}`) are passed over.
pub fn path_line(template: &str, path: &[String]) -> Option<usize> {
    let keys: Vec<&str> = path.iter().map(String::as_str).collect();
    operator::line_of_path(template, &keys).map(|(line, _)| line)
}

/// The name in a key as rendered: `image:` → `image:`, `- --engine-image=` →
/// `--engine-image=`, `value:` → `value:`; a key's indentation is kept (`  toolkit:`).
pub fn key_name(key: &str) -> Option<String> {
    let indent = &key[..key.len() - key.trim_start().len()];
    let k = key.trim().trim_start_matches("- ").trim();
    if k.is_empty() {
        return None;
    }
    // The last word before the value: `- name: x image:` is not YAML, but a flag is.
    Some(format!("{indent}{}", k.rsplit(' ').next().unwrap_or(k)))
}

#[cfg(test)]
mod tests;
