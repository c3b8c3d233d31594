//! The images a chart will pull, found by rendering it as Helm does ([`super::render`]):
//! each with its chart (a dependency's path), the template (and its line, found by the key
//! that names the image), the resource, and the values it came from (a best effort: the
//! values whose text the reference holds, component by component). The chart's `crds/`
//! are not rendered (Helm installs them as they are) but read the same way.

use super::ChartError;
use super::coalesce;
use super::found::{self, How};
use super::load::Chart;
use super::render::{Settings, render};
use crate::image::Reference;
use serde_json::{Map, Value};

/// An image a chart pulls, and where it comes from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Pulled {
    /// The reference, normalised.
    pub reference: Reference,
    /// As the manifest writes it.
    pub written: String,
    /// A container's image, named in an argument, or a custom resource's image.
    pub how: How,
    /// The chart: `top`, or a dependency's `top/charts/sub`.
    pub chart: String,
    /// The template (`top/templates/deploy.yaml`) or CRD file (`top/crds/x.yaml`).
    pub template: String,
    /// The template's line, when found.
    pub line: Option<usize>,
    /// The resource that pulls it: `Kind/name`.
    pub resource: String,
    /// The values it came from (dotted paths in the release's values).
    pub values: Vec<String>,
}

impl Pulled {
    /// `top/templates/deploy.yaml:12` (or without a line).
    pub fn place(&self) -> String {
        match self.line {
            Some(l) => format!("{}:{l}", self.template),
            None => self.template.clone(),
        }
    }
}

/// A container whose image is no reference (an unset value renders so).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Unreadable {
    /// The chart.
    pub chart: String,
    /// The template, with its line.
    pub place: String,
    /// The text.
    pub written: String,
    /// Why.
    pub reason: String,
}

/// Everything a chart pulls.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ChartImages {
    /// The images, in template order, each once per place.
    pub images: Vec<Pulled>,
    /// Container images that are no references.
    pub unreadable: Vec<Unreadable>,
    /// What each template rendered, in template name order (`chart-images --manifests`).
    #[serde(skip)]
    pub rendered: Vec<super::render::Rendered>,
}

impl ChartImages {
    /// The distinct references, in order.
    pub fn references(&self) -> Vec<&Reference> {
        let mut seen = std::collections::HashSet::new();
        self.images
            .iter()
            .map(|p| &p.reference)
            .filter(|r| seen.insert(r.to_string()))
            .collect()
    }
}

/// The images the chart in `tgz` (named `entry`) pulls with the user's values `user` over
/// its own, rendered for `settings`.
pub fn chart_images(
    entry: &str,
    tgz: &[u8],
    user: &Map<String, Value>,
    settings: &Settings,
) -> Result<ChartImages, ChartError> {
    let mut chart = super::load::load_archive(entry, tgz)?;
    images_of(entry, &mut chart, user, settings)
}

/// [`chart_images`] of a chart loaded already.
pub fn images_of(
    entry: &str,
    chart: &mut Chart,
    user: &Map<String, Value>,
    settings: &Settings,
) -> Result<ChartImages, ChartError> {
    let values = coalesce::release_values(chart, user);
    let rendered = render(entry, chart, &values, settings)?;
    let mut out = ChartImages::default();
    let leaves = leaves(&values);
    let deps = dependency_names(chart);
    for r in rendered.iter().filter(|r| !r.is_notes()) {
        let scan = found::scan(&r.output).map_err(|e| {
            ChartError::Invalid(format!(
                "chart {entry}: {} renders text that is not YAML (line {} of its output): {}",
                r.name, e.line, e.message
            ))
        })?;
        push(
            &mut out,
            scan,
            &r.chart,
            &r.name,
            Some(&r.source),
            &leaves,
            &deps,
        );
    }
    crds(chart, &mut out, &leaves, &deps, entry)?;
    out.rendered = rendered;
    Ok(out)
}

fn crds(
    chart: &Chart,
    out: &mut ChartImages,
    leaves: &[(String, String)],
    deps: &[String],
    entry: &str,
) -> Result<(), ChartError> {
    for (path, data) in chart.crds() {
        let text = String::from_utf8_lossy(data);
        let name = format!("{}/{path}", chart.path);
        let scan = found::scan(&text).map_err(|e| {
            ChartError::Invalid(format!(
                "chart {entry}: {name}:{}: not YAML: {}",
                e.line, e.message
            ))
        })?;
        push(out, scan, &chart.path, &name, None, leaves, deps);
    }
    for d in &chart.dependencies {
        crds(d, out, leaves, deps, entry)?;
    }
    Ok(())
}

fn push(
    out: &mut ChartImages,
    scan: found::Scan,
    chart: &str,
    name: &str,
    source: Option<&str>,
    leaves: &[(String, String)],
    deps: &[String],
) {
    let keys: Vec<Option<String>> = scan.found.iter().map(|f| found::key_name(&f.key)).collect();
    for (i, f) in scan.found.into_iter().enumerate() {
        let line = match source {
            // A CRD file is its own output.
            None => Some(f.line),
            Some(src) => keys[i].as_ref().and_then(|k| {
                let nth = keys[..i].iter().filter(|x| x.as_ref() == Some(k)).count();
                let total = keys.iter().filter(|x| x.as_ref() == Some(k)).count();
                found::source_line(src, k, nth, total)
            }),
        };
        let pulled = Pulled {
            values: values_of(&f.written, chart, leaves, deps),
            reference: f.reference,
            written: f.written,
            how: f.how,
            chart: chart.to_string(),
            template: name.to_string(),
            line,
            resource: f.resource,
        };
        if !out.images.contains(&pulled) {
            out.images.push(pulled);
        }
    }
    for u in scan.unreadable {
        out.unreadable.push(Unreadable {
            chart: chart.to_string(),
            place: format!("{name} (line {} of its output)", u.line),
            written: u.written,
            reason: u.reason,
        });
    }
}

/// The dotted path of every dependency, as its values lie in the release's (`sub`,
/// `sub.inner`).
fn dependency_names(chart: &Chart) -> Vec<String> {
    fn walk(c: &Chart, prefix: &str, out: &mut Vec<String>) {
        for d in &c.dependencies {
            let p = format!("{prefix}{}", d.name);
            out.push(p.clone());
            walk(d, &format!("{p}."), out);
        }
    }
    let mut out = Vec::new();
    walk(chart, "", &mut out);
    out
}

/// The most values named for one image.
const MAX_VALUES: usize = 6;

/// Every string or number leaf of `values` with its dotted path (lists as `[i]`),
/// bounded.
fn leaves(values: &Map<String, Value>) -> Vec<(String, String)> {
    fn walk(v: &Value, path: &str, out: &mut Vec<(String, String)>, depth: usize) {
        if depth > 64 || out.len() > 100_000 {
            return;
        }
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    let p = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    walk(v, &p, out, depth + 1);
                }
            }
            Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    walk(v, &format!("{path}[{i}]"), out, depth + 1);
                }
            }
            Value::String(s) if s.len() >= 2 && s.len() <= 512 => {
                out.push((path.to_string(), s.clone()))
            }
            Value::Number(n) => out.push((path.to_string(), n.to_string())),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(&Value::Object(values.clone()), "", &mut out, 0);
    out
}

/// The values whose text `written` holds between reference separators (`/`, `:`, `@`),
/// from the scope of `chart` (its own values, not its dependencies', and the globals),
/// each once.
fn values_of(
    written: &str,
    chart: &str,
    leaves: &[(String, String)],
    deps: &[String],
) -> Vec<String> {
    // `top/charts/a/charts/b` → `a.b.`
    let scope: String = chart
        .split("/charts/")
        .skip(1)
        .map(|p| format!("{p}."))
        .collect();
    let mut out: Vec<String> = Vec::new();
    for (path, text) in leaves {
        let Some(rest) = path.strip_prefix(&scope) else {
            continue;
        };
        // A dependency's own values, or a dependency's copy of the globals.
        let below = deps
            .iter()
            .filter_map(|d| d.strip_prefix(&scope))
            .any(|d| !d.is_empty() && rest.starts_with(&format!("{d}.")));
        if below {
            continue;
        }
        if !holds(written, text) {
            continue;
        }
        // A dependency's copy of a global is named as the user sets it: `global.x`.
        let named = match rest.strip_prefix("global.") {
            Some(g) => format!("global.{g}"),
            None => path.clone(),
        };
        if !out.contains(&named) {
            out.push(named);
        }
        if out.len() >= MAX_VALUES {
            break;
        }
    }
    out.sort();
    out
}

/// Whether `text` is in `written` between separators (or its ends).
fn holds(written: &str, text: &str) -> bool {
    let sep = |c: Option<char>| c.is_none_or(|c| "/:@".contains(c));
    let mut from = 0;
    while let Some(i) = written[from..].find(text) {
        let at = from + i;
        let before = written[..at].chars().next_back();
        let after = written[at + text.len()..].chars().next();
        if sep(before) && sep(after) {
            return true;
        }
        from = at + 1;
        if from >= written.len() {
            break;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::charts::load::tests::tgz;

    #[test]
    fn images_carry_their_template_line_and_values() {
        let archive = tgz(&[
            ("app/Chart.yaml", b"apiVersion: v2\nname: app\nversion: 1.2.3\nappVersion: v2.0\n"),
            ("app/values.yaml", b"image:\n  registry: registry.example:5000\n  repository: acme/app\n  tag: \"\"\nsidecar:\n  image: acme/side\n  tag: \"1.4\"\n"),
            ("app/templates/_helpers.tpl", b"{{- define \"app.image\" -}}\n{{ .Values.image.registry }}/{{ .Values.image.repository }}:{{ with .Values.image.tag }}{{ . }}{{ else }}{{ $.Chart.AppVersion }}{{ end }}\n{{- end }}\n"),
            ("app/templates/deploy.yaml", b"kind: Deployment\nmetadata:\n  name: {{ .Release.Name }}\nspec:\n  template:\n    spec:\n      containers:\n        - name: app\n          image: {{ include \"app.image\" . }}\n          args:\n            - --sidecar-image={{ .Values.sidecar.image }}:{{ .Values.sidecar.tag }}\n"),
            ("app/crds/crd.yaml", b"kind: CustomResourceDefinition\nmetadata: {name: x}\n"),
        ]);
        let settings = Settings {
            release: "demo".into(),
            namespace: "default".into(),
            k3s_version: "v1.33.1+k3s1".into(),
        };
        let found = chart_images("demo", &archive, &Map::new(), &settings).unwrap();
        let got: Vec<(String, How, String, Vec<String>)> = found
            .images
            .iter()
            .map(|p| (p.reference.to_string(), p.how, p.place(), p.values.clone()))
            .collect();
        assert_eq!(
            got,
            [
                (
                    "registry.example:5000/acme/app:v2.0".into(),
                    How::Container,
                    "app/templates/deploy.yaml:9".into(),
                    vec!["image.registry".into(), "image.repository".into()]
                ),
                (
                    "docker.io/acme/side:1.4".into(),
                    How::Argument,
                    "app/templates/deploy.yaml:11".into(),
                    vec!["sidecar.image".into(), "sidecar.tag".into()]
                ),
            ]
        );
    }

    #[test]
    fn a_value_is_held_only_between_separators() {
        assert!(holds("docker.io/acme/app:1.0", "acme/app"));
        assert!(holds("docker.io/acme/app:1.0", "1.0"));
        assert!(!holds("docker.io/acme/app:1.0", "app:1"));
        assert!(!holds("docker.io/acme/app:1.0", "cme"));
    }
}
