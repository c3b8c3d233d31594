//! The images a chart names, found without rendering it (there is no Helm template
//! engine here): in the chart's values merged with the user's, every `image: NAME:TAG`
//! string and every `{registry, repository, tag}` map (the tag defaulting to the chart's
//! `appVersion`, as most charts do); in its templates, every `image:` line whose value is
//! literal (no `{{`). An air-gapped node can pull only what the build mirrored, so each
//! must be in an image list.

use super::values::ChartFiles;
use crate::image::Reference;
use serde_json::Value;

/// An image a chart names, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChartImage {
    /// The reference as the chart writes it, normalised.
    pub reference: Reference,
    /// Where: a values key path (`image`, `controller.image`) or `templates/FILE:LINE`.
    pub key: String,
}

/// Deep-merges `over` into `base` (maps key by key; anything else replaced), as Helm
/// merges a values file over the chart's values.
pub fn merge(base: &mut Value, over: &Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(k) {
                    Some(slot) => merge(slot, v),
                    None => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (slot, v) => *slot = v.clone(),
    }
}

/// The chart's `appVersion`, when its Chart.yaml gives one.
fn app_version(chart_yaml: &str) -> Option<String> {
    let doc: Value = serde_saphyr::from_str(chart_yaml).ok()?;
    match doc.get("appVersion")? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The images `files` names with `values` (the chart's merged with the user's).
pub fn images(files: &ChartFiles, values: &Value) -> Vec<ChartImage> {
    let app = files.chart_yaml.as_deref().and_then(app_version);
    let mut found = Vec::new();
    walk(values, &mut Vec::new(), app.as_deref(), &mut found);
    for (path, text) in &files.templates {
        for (i, line) in text.lines().enumerate() {
            let t = line.trim_start().trim_start_matches("- ");
            let Some(value) = t.strip_prefix("image:") else {
                continue;
            };
            let value = value.trim().trim_matches(['"', '\'']);
            if value.is_empty() || value.contains("{{") || value.starts_with('#') {
                continue;
            }
            if let Ok(reference) = Reference::parse(value) {
                found.push(ChartImage {
                    reference,
                    key: format!("{path}:{}", i + 1),
                });
            }
        }
    }
    found.dedup();
    found
}

fn walk(value: &Value, path: &mut Vec<String>, app: Option<&str>, found: &mut Vec<ChartImage>) {
    let Value::Object(map) = value else { return };
    let text = |k: &str| match map.get(k) {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    if let Some(repository) = text("repository") {
        let registry = text("registry");
        let tag = text("tag").or_else(|| app.map(str::to_string));
        let digest = text("digest");
        let name = match registry {
            Some(r) => format!("{r}/{repository}"),
            None => repository,
        };
        let full = match (digest, tag) {
            (Some(d), _) => format!("{name}@{d}"),
            (None, Some(t)) => format!("{name}:{t}"),
            (None, None) => name,
        };
        if let Ok(reference) = Reference::parse(&full) {
            found.push(ChartImage {
                reference,
                key: path.join("."),
            });
        }
    }
    for (k, v) in map {
        path.push(k.clone());
        match v {
            Value::String(s) if k == "image" && looks_like_image(s) => {
                if let Ok(reference) = Reference::parse(s) {
                    found.push(ChartImage {
                        reference,
                        key: path.join("."),
                    });
                }
            }
            Value::Object(_) => walk(v, path, app, found),
            _ => {}
        }
        path.pop();
    }
}

/// `NAME:TAG` or `NAME@DIGEST`: a string that names one image (not a bare name, which a
/// chart completes elsewhere).
fn looks_like_image(s: &str) -> bool {
    let last = s.rsplit('/').next().unwrap_or(s);
    !s.contains("{{") && (last.contains(':') || s.contains('@'))
}

/// Whether `image` is among `listed` (the image lists' destinations): the same name and
/// the same tag or digest.
pub fn is_listed(image: &Reference, listed: &[Reference]) -> bool {
    listed.iter().any(|l| {
        l.name() == image.name()
            && ((image.tag().is_some() && l.tag() == image.tag())
                || l.tag_or_digest() == image.tag_or_digest())
    })
}

/// The name an image pulled as `image` is stored under so that the nodes find it: their
/// `registries.yaml` sends its registry to the cluster's registry with `rewrite` applied to
/// the repository (k3s applies a rewrite whose expression matches; of several, here the
/// first in name order), so the image is kept under the rewritten repository. An
/// expression that does not compile, or a result that is no reference, leaves it as it is
/// (the config's check refuses the former).
pub fn destination(
    image: &Reference,
    rewrite: Option<&std::collections::BTreeMap<String, String>>,
) -> Reference {
    let Some(rules) = rewrite else {
        return image.clone();
    };
    for (from, to) in rules {
        let Ok(re) = regex::Regex::new(from) else {
            continue;
        };
        if !re.is_match(image.repository()) {
            continue;
        }
        let repo = re.replace(image.repository(), to.as_str());
        let mut text = format!("{}/{repo}", image.registry());
        if let Some(t) = image.tag() {
            text.push_str(&format!(":{t}"));
        }
        if let Some(d) = image.digest() {
            text.push_str(&format!("@{d}"));
        }
        return Reference::parse(&text).unwrap_or_else(|_| image.clone());
    }
    image.clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_maps_strings_and_literal_template_lines_are_found() {
        let files = ChartFiles {
            values: String::new(),
            schema: None,
            templates: vec![(
                "templates/deploy.yaml".into(),
                "spec:\n  containers:\n    - image: \"{{ .Values.image.repository }}\"\n    - name: side\n      image: busybox:1.36\n".into(),
            )],
            chart_yaml: Some("apiVersion: v2\nname: x\nversion: 1.0.0\nappVersion: \"2.1\"\n".into()),
        };
        let values: Value = serde_json::json!({
            "image": {"repository": "demo/app", "tag": ""},
            "sidecar": {"image": "quay.io/x/y:3"},
            "db": {"image": {"registry": "registry.example:5000", "repository": "pg", "tag": "16"}},
            "name": "image: not:this"
        });
        let found: Vec<(String, String)> = images(&files, &values)
            .into_iter()
            .map(|i| (i.reference.to_string(), i.key))
            .collect();
        assert!(
            found.contains(&("docker.io/demo/app:2.1".into(), "image".into())),
            "{found:?}"
        );
        assert!(
            found.contains(&("quay.io/x/y:3".into(), "sidecar.image".into())),
            "{found:?}"
        );
        assert!(
            found.contains(&("registry.example:5000/pg:16".into(), "db.image".into())),
            "{found:?}"
        );
        assert!(
            found.contains(&(
                "docker.io/library/busybox:1.36".into(),
                "templates/deploy.yaml:5".into()
            )),
            "{found:?}"
        );
        assert_eq!(found.len(), 4, "{found:?}");
    }

    #[test]
    fn merging_overrides_key_by_key() {
        let mut base = serde_json::json!({"image": {"repository": "a", "tag": "1"}, "x": [1]});
        merge(
            &mut base,
            &serde_json::json!({"image": {"tag": "2"}, "x": [2]}),
        );
        assert_eq!(
            base,
            serde_json::json!({"image": {"repository": "a", "tag": "2"}, "x": [2]})
        );
    }

    #[test]
    fn a_rewrite_moves_the_destination_as_the_nodes_will_ask_for_it() {
        let image = Reference::parse("rancher/mirrored-pause:3.6").unwrap();
        assert_eq!(destination(&image, None), image);
        let rules: std::collections::BTreeMap<String, String> =
            [("^rancher/(.*)".to_string(), "lab/rancher/$1".to_string())].into();
        assert_eq!(
            destination(&image, Some(&rules)).to_string(),
            "docker.io/lab/rancher/mirrored-pause:3.6"
        );
        let other = Reference::parse("quay.io/jetstack/cert-manager-controller:v1.15.0").unwrap();
        assert_eq!(destination(&other, Some(&rules)), other);
    }

    #[test]
    fn listed_means_same_name_and_tag() {
        let listed = vec![Reference::parse("docker.io/demo/app:1.0").unwrap()];
        assert!(is_listed(
            &Reference::parse("demo/app:1.0").unwrap(),
            &listed
        ));
        assert!(!is_listed(
            &Reference::parse("demo/app:1.1").unwrap(),
            &listed
        ));
        assert!(!is_listed(
            &Reference::parse("other/app:1.0").unwrap(),
            &listed
        ));
    }
}
