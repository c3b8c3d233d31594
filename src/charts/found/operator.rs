//! The images an operator pulls that no pod spec of the chart names:
//! - a custom resource's map naming an image in parts, as operators put them together:
//!   `repository`, `image` and `version` or `tag` (`repository/image:version`, with `@`
//!   when the version is a digest: the GPU operator's `ClusterPolicy`); `registry`,
//!   `repository` and `tag` or `digest`; `hub` and `tag` with the map's own `image`, or the
//!   `image` of each map under it that names no registry of its own (Istio's `global.hub`,
//!   `global.tag`, `global.proxy.image`), a `variant` appended to the tag as Istio's
//!   injector appends it. A map whose `enabled` is false names nothing, nor do the maps
//!   under it;
//! - a ConfigMap holding pod templates an operator fills in (a sidecar injector's templates,
//!   a CI server's agent pods): the `image` of their containers, and, when those are
//!   templates themselves (`image: "{{ .ProxyImage }}"`), the images the ConfigMap's YAML or
//!   JSON data names in parts as above (the values the injector puts them together from);
//! - a ConfigMap's keys naming an image in parts, `P.repository` and `P.tag` (and
//!   `P.registry`): the image an operator reads them for (trivy-operator's scanner).

use serde_json::{Map, Value};

/// An image put together from the parts a map names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Composed {
    /// `repository/image:version`.
    pub written: String,
    /// The parts, as the map writes them.
    pub parts: Vec<String>,
    /// The map under this one the image's name came from (`proxy` of Istio's `global`).
    pub child: Option<String>,
    /// Whether the version is a digest (an operator appends nothing to it).
    pub digest: bool,
}

/// A part's text: a non-empty string or a number.
fn part(v: Option<&Value>) -> Option<String> {
    let s = match v? {
        Value::String(s) => s.trim().to_string(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    (!s.is_empty()).then_some(s)
}

/// Whether a map switches its component off (`enabled: false`).
pub(super) fn disabled(map: &Map<String, Value>) -> bool {
    match map.get("enabled") {
        Some(Value::Bool(b)) => !b,
        Some(Value::String(s)) => s.trim() == "false",
        _ => false,
    }
}

/// `name:version`, or `name@version` when the version is a digest; none unless it is a
/// reference.
fn join(name: &str, version: &str, parts: Vec<String>, child: Option<String>) -> Option<Composed> {
    let digest = version.starts_with("sha256:");
    let written = format!("{name}{}{version}", if digest { '@' } else { ':' });
    crate::image::Reference::parse(&written).ok()?;
    Some(Composed {
        written,
        parts,
        child,
        digest,
    })
}

/// Istio's image type on a tag: none, `default` (the tag without a type), or one
/// (`distroless`) replacing the type the tag ends with.
fn with_variant(tag: &str, variant: Option<&str>) -> String {
    let Some(variant) = variant.filter(|v| !v.is_empty()) else {
        return tag.to_string();
    };
    let bare = ["-distroless", "-debug"]
        .iter()
        .find_map(|s| tag.strip_suffix(s))
        .unwrap_or(tag);
    if variant == "default" {
        bare.to_string()
    } else {
        format!("{bare}-{variant}")
    }
}

/// The images `map` names in parts (none when it names none).
pub(super) fn parts(map: &Map<String, Value>) -> Vec<Composed> {
    let get = |k: &str| part(map.get(k));
    if let (Some(repository), Some(image), Some(version)) = (
        get("repository"),
        get("image"),
        get("version").or_else(|| get("tag")),
    ) {
        let name = format!("{repository}/{image}");
        return join(
            &name,
            &version,
            vec![repository, image, version.clone()],
            None,
        )
        .into_iter()
        .collect();
    }
    if let (Some(registry), Some(repository), Some(version)) = (
        get("registry"),
        get("repository"),
        get("digest").or_else(|| get("tag")),
    ) {
        let name = format!("{registry}/{repository}");
        return join(
            &name,
            &version,
            vec![registry, repository, version.clone()],
            None,
        )
        .into_iter()
        .collect();
    }
    let (Some(hub), Some(tag)) = (get("hub"), get("tag")) else {
        return Vec::new();
    };
    let tag = with_variant(&tag, get("variant").as_deref());
    // A full reference in `image` is the image itself, found as such.
    let named = |image: &str, child: Option<String>| {
        let name = format!("{hub}/{image}");
        join(
            &name,
            &tag,
            vec![hub.clone(), image.to_string(), tag.clone()],
            child,
        )
    };
    if let Some(image) = get("image") {
        return (!image.contains('/'))
            .then(|| named(&image, None))
            .flatten()
            .into_iter()
            .collect();
    }
    let own = ["hub", "tag", "registry", "repository"];
    let mut out: Vec<Composed> = Vec::new();
    for (k, v) in map {
        let Value::Object(child) = v else { continue };
        if own.iter().any(|o| child.contains_key(*o)) || disabled(child) {
            continue;
        }
        if let Some(image) = part(child.get("image")).filter(|i| !i.contains('/'))
            && let Some(c) = named(&image, Some(k.clone()))
        {
            out.push(c);
        }
    }
    out
}

/// The images a ConfigMap's data names in two (or three) keys of one prefix, as an operator
/// reads them to put the image of the pods it starts together: `P.repository` and `P.tag`
/// (or `P.digest`), with `P.registry` before the repository when there is one
/// (trivy-operator's `trivy.repository: mirror.gcr.io/aquasec/trivy` and `trivy.tag:
/// 0.58.2`, the scanner its jobs run). A prefix whose `P.enabled` is `false` names nothing,
/// nor does a name without a registry or a path (`app.repository: site`, `app.tag: main`).
/// Each with the repository's key.
pub(super) fn split_keys(data: &Map<String, Value>) -> Vec<(String, Composed)> {
    let mut out = Vec::new();
    for key in data.keys() {
        let Some(prefix) = key
            .strip_suffix("repository")
            .filter(|p| p.len() > 1 && p.ends_with(['.', '_', '-']))
        else {
            continue;
        };
        let get = |k: &str| part(data.get(&format!("{prefix}{k}")));
        let (Some(repository), Some(version)) =
            (get("repository"), get("digest").or_else(|| get("tag")))
        else {
            continue;
        };
        if get("enabled").is_some_and(|e| e == "false") {
            continue;
        }
        let (name, mut parts) = match get("registry") {
            Some(registry) => (
                format!("{registry}/{repository}"),
                vec![registry, repository.clone()],
            ),
            None => (repository.clone(), vec![repository.clone()]),
        };
        parts.push(version.clone());
        // As in free text: a registry or a path, never a bare `name:version`.
        if !name.contains('/') {
            continue;
        }
        if let Some(c) = join(&name, &version, parts, None) {
            out.push((key.clone(), c));
        }
    }
    out
}

/// The fields whose image NVIDIA's GPU operator completes on the node: it appends the
/// node's OS (`-ubuntu24.04`, from the node's labels) to the tag of the driver's, GPUDirect
/// Storage's, GDRCopy's and the vGPU manager's images (and, for precompiled drivers, the
/// kernel's version before it), unless the version is a digest (`resolveDriverTag` of its
/// controllers).
const COMPLETED_ON_THE_NODE: [(&str, &str, &str); 7] = [
    ("nvidia.com", "ClusterPolicy", "spec.driver"),
    ("nvidia.com", "ClusterPolicy", "spec.gds"),
    ("nvidia.com", "ClusterPolicy", "spec.gdrcopy"),
    ("nvidia.com", "ClusterPolicy", "spec.vgpuManager"),
    ("nvidia.com", "NVIDIADriver", "spec"),
    ("nvidia.com", "NVIDIADriver", "spec.gds"),
    ("nvidia.com", "NVIDIADriver", "spec.gdrcopy"),
];

/// Why the image a resource's field names is not the one pulled, when its operator
/// completes it on the node.
pub(super) fn completed_on_the_node(
    group: &str,
    kind: &str,
    field: &str,
    image: &Composed,
) -> Option<&'static str> {
    let listed = COMPLETED_ON_THE_NODE
        .iter()
        .any(|(g, k, f)| *g == group && *k == kind && *f == field);
    (listed && !image.digest).then_some(
        "the operator appends the node's OS to the tag (595.58.03-ubuntu24.04; a precompiled driver's kernel version before it): list the image of the OS your nodes run",
    )
}

/// Whether `line` (its indentation and list dashes gone) is the key `key`.
fn is_key<'a>(content: &'a str, key: &str) -> Option<&'a str> {
    for quote in ["", "\"", "'"] {
        if let Some(rest) = content
            .strip_prefix(quote)
            .and_then(|r| r.strip_prefix(key))
            .and_then(|r| r.strip_prefix(quote))
            .and_then(|r| r.strip_prefix(':'))
            && (rest.is_empty() || rest.starts_with([' ', '\t']))
        {
            return Some(rest);
        }
    }
    None
}

/// The `image` of every container of the pod templates in `text` (a ConfigMap's data,
/// YAML or a template of YAML such as Istio's injection templates), read by its lines:
/// those that are references, and whether any is a template (`{{ .ProxyImage }}`).
pub(super) fn template_images(text: &str) -> (Vec<String>, bool) {
    let (mut images, mut templated) = (Vec::new(), false);
    // The indentation of the container list's key, while in one.
    let mut block: Option<usize> = None;
    for line in text.lines() {
        let t = line.trim_start();
        // Comments and template actions on lines of their own are not YAML.
        if t.is_empty() || t.starts_with('#') || t.starts_with("{{") {
            continue;
        }
        let indent = line.len() - t.len();
        let (mut content, mut item) = (t, false);
        while let Some(rest) = content.strip_prefix("- ") {
            content = rest.trim_start();
            item = true;
        }
        if block.is_some_and(|b| indent < b || indent == b && !item) {
            block = None;
        }
        if super::CONTAINER_LISTS
            .iter()
            .any(|k| is_key(content, k).is_some())
        {
            block = Some(indent);
            continue;
        }
        if block.is_none() {
            continue;
        }
        let Some(value) = is_key(content, "image") else {
            continue;
        };
        let value = value.trim();
        let value = match value.chars().next() {
            Some(q @ ('"' | '\'')) => value[1..].split(q).next().unwrap_or(""),
            _ => value.split(" #").next().unwrap_or("").trim(),
        };
        if ["{{", "${", "$("].iter().any(|t| value.contains(t)) {
            templated = true;
        } else if !value.is_empty() && crate::image::Reference::parse(value).is_ok() {
            images.push(value.to_string());
        }
    }
    (images, templated)
}

/// The line (1-based) of the key at `keys` (a path of map keys from the document's top) in
/// a YAML document written in block style, and the text of that line up to the key's
/// colon (its indentation kept: what finds the template's line); none when the document
/// does not write it so (flow style). Lines of template actions alone (a template's
/// `{{- if .Values.x }}`) are passed over.
pub(super) fn line_of_path(text: &str, keys: &[&str]) -> Option<(usize, String)> {
    let lines: Vec<&str> = text.lines().collect();
    let (mut from, mut parent): (usize, Option<usize>) = (0, None);
    let mut found = None;
    for key in keys {
        // The children's indentation: that of the first line deeper than the parent.
        let mut child = None;
        let mut at = None;
        for (i, l) in lines.iter().enumerate().skip(from) {
            let t = l.trim_start();
            if t.is_empty() || t.starts_with('#') || t.starts_with("{{") {
                continue;
            }
            let indent = l.len() - t.len();
            if parent.is_some_and(|p| indent <= p) {
                break;
            }
            let c = *child.get_or_insert(indent);
            if indent == c
                && let Some(rest) = is_key(t, key)
            {
                at = Some((i, indent, l.len() - rest.len()));
                break;
            }
        }
        let (i, indent, colon) = at?;
        found = Some((i + 1, lines[i][..colon].to_string()));
        parent = Some(indent);
        from = i + 1;
    }
    found
}

#[cfg(test)]
mod tests;
