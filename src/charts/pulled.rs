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
    /// A container's image, named in an argument, a custom resource's image, or pulled by
    /// the operator.
    pub how: How,
    /// The chart: `top`, or a dependency's `top/charts/sub`.
    pub chart: String,
    /// The template (`top/templates/deploy.yaml`) or CRD file (`top/crds/x.yaml`).
    pub template: String,
    /// The template's line, when found.
    pub line: Option<usize>,
    /// The resource that pulls it: `Kind/name`.
    pub resource: String,
    /// The resource's field it came from (`spec.template.spec.containers[0].image`,
    /// `spec.driver`, `data.config`).
    pub field: String,
    /// The values it came from (dotted paths in the release's values).
    pub values: Vec<String>,
}

impl Pulled {
    /// Whether `other` is this image at the same place, whatever its field.
    fn same_place(&self, other: &Pulled) -> bool {
        self.reference == other.reference
            && self.written == other.written
            && self.how == other.how
            && self.chart == other.chart
            && self.template == other.template
            && self.line == other.line
            && self.resource == other.resource
            && self.values == other.values
    }

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

/// An image a resource names that its operator completes on the node (the GPU operator
/// appends the node's OS to its driver's tag): not checked against the image lists nor
/// mirrored, since the image pulled is another.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Completed {
    /// The image as the resource names it (`nvcr.io/nvidia/driver:595.58.03`).
    pub written: String,
    /// The chart.
    pub chart: String,
    /// The template, with its line when found.
    pub place: String,
    /// The resource: `Kind/name`.
    pub resource: String,
    /// Its field: `spec.driver`.
    pub field: String,
    /// The values it came from.
    pub values: Vec<String>,
    /// What the operator does to it.
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
    /// Images an operator completes on the node.
    pub completed_on_the_node: Vec<Completed>,
    /// What the chart makes an operator pull that seedforge cannot name (a release its
    /// table does not know): said, never guessed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
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
    // The resources of an operator that deploys what its release carries, with their
    // chart, template and template line.
    let mut operated: Vec<(found::Operated, String, String, Option<usize>)> = Vec::new();
    for r in rendered.iter().filter(|r| !r.is_notes()) {
        let scan = found::scan(&r.output).map_err(|e| {
            ChartError::Invalid(format!(
                "chart {entry}: {} renders text that is not YAML (line {} of its output): {}",
                r.name, e.line, e.message
            ))
        })?;
        for o in &scan.operated {
            let kind = format!("kind: {}", o.kind);
            let line = r.source.lines().position(|l| l.trim() == kind);
            operated.push((
                o.clone(),
                r.chart.clone(),
                r.name.clone(),
                line.map(|l| l + 1),
            ));
        }
        push(
            &mut out,
            scan,
            &r.chart,
            &r.name,
            Some((&r.source, &r.output)),
            &leaves,
            &deps,
        );
    }
    crds(chart, &mut out, &leaves, &deps, entry)?;
    deployed(&mut out, &operated, &leaves, &deps, entry, chart);
    out.rendered = rendered;
    Ok(out)
}

/// The images Tigera's operator pulls for the resources of its API the chart renders
/// ([`super::calico`]), its version the tag of the chart's `tigera/operator` container;
/// what cannot be known is a note naming the chart, the resource and why.
fn deployed(
    out: &mut ChartImages,
    operated: &[(found::Operated, String, String, Option<usize>)],
    leaves: &[(String, String)],
    deps: &[String],
    entry: &str,
    chart: &Chart,
) {
    if operated.is_empty() {
        return;
    }
    let containers = (out.images.iter())
        .filter(|p| p.how == How::Container)
        .map(|p| &p.reference);
    let version = super::calico::operator_version(containers);
    let installation = operated
        .iter()
        .find(|(o, ..)| o.kind == "Installation")
        .map(|(o, ..)| o.spec.clone());
    let version_of_chart = chart.metadata.get("version").and_then(Value::as_str);
    for (o, sub, template, line) in operated {
        let place = match line {
            Some(l) => format!("{template}:{l}"),
            None => template.clone(),
        };
        let outcome = match &installation {
            Some(i) => super::calico::pulled(version.as_deref(), &o.kind, &o.spec, i),
            None => Err("the chart renders no Installation, whose spec names the registry the operator pulls from".into()),
        };
        match outcome {
            Ok(images) => {
                for p in images {
                    let Ok(reference) = Reference::parse(&p.written) else {
                        continue;
                    };
                    let pulled = Pulled {
                        values: values_of_parts(&p.parts, "spec", sub, leaves, deps),
                        reference,
                        written: p.written,
                        how: How::Operator,
                        chart: sub.clone(),
                        template: template.clone(),
                        line: *line,
                        resource: o.resource.clone(),
                        field: p.field,
                    };
                    if !out.images.iter().any(|q| q.same_place(&pulled)) {
                        out.images.push(pulled);
                    }
                }
            }
            Err(why) => {
                let note = format!(
                    "chart {entry} (version {}): {place} ({}): {why}; list the images the operator pulls in an image list",
                    version_of_chart.unwrap_or("?"),
                    o.resource
                );
                if !out.notes.contains(&note) {
                    out.notes.push(note);
                }
            }
        }
    }
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
    source: Option<(&str, &str)>,
    leaves: &[(String, String)],
    deps: &[String],
) {
    let keys: Vec<Option<String>> = (scan.found.iter().map(|f| &f.key))
        .chain(scan.incomplete.iter().map(|f| &f.key))
        .map(|k| found::key_name(k))
        .collect();
    // The template's line of the `i`-th image found: its map's by its path when the
    // template writes it, else the line of its key's name after the text written before
    // it (an environment variable's `- name: X`, a flag's `- --helper-image`), else the
    // `n`-th of its key's name.
    let line_of = |i: usize, output_line: usize, path: &[String]| match source {
        // A CRD file is its own output.
        None => Some(output_line),
        Some((src, _))
            if !path.is_empty()
                && let Some(l) = found::path_line(src, path) =>
        {
            Some(l)
        }
        Some((src, output))
            if let Some(k) = &keys[i]
                && let Some(l) = found::anchored_line(src, output, output_line, k) =>
        {
            Some(l)
        }
        Some((src, _)) => keys[i].as_ref().and_then(|k| {
            let nth = keys[..i].iter().filter(|x| x.as_ref() == Some(k)).count();
            let total = keys.iter().filter(|x| x.as_ref() == Some(k)).count();
            found::source_line(src, k, nth, total)
        }),
    };
    let values = |written: &str, parts: &[String], field: &str| {
        if parts.is_empty() {
            values_of(written, chart, leaves, deps)
        } else {
            values_of_parts(parts, field, chart, leaves, deps)
        }
    };
    let count = scan.found.len();
    for (i, f) in scan.found.into_iter().enumerate() {
        let pulled = Pulled {
            values: values(&f.written, &f.parts, &f.field),
            reference: f.reference,
            written: f.written,
            how: f.how,
            chart: chart.to_string(),
            template: name.to_string(),
            line: line_of(i, f.line, &f.path),
            resource: f.resource,
            field: f.field,
        };
        // Once per place, as before fields were named: grafana's two sidecars of one image
        // on one template line are one entry (the first's field).
        let again = out.images.iter().any(|p| p.same_place(&pulled));
        if !again {
            out.images.push(pulled);
        }
    }
    for (i, f) in scan.incomplete.into_iter().enumerate() {
        let place = match line_of(count + i, f.line, &f.path) {
            Some(l) => format!("{name}:{l}"),
            None => name.to_string(),
        };
        let completed = Completed {
            values: values(&f.written, &f.parts, &f.field),
            written: f.written,
            chart: chart.to_string(),
            place,
            resource: f.resource,
            field: f.field,
            reason: f.reason,
        };
        if !out.completed_on_the_node.contains(&completed) {
            out.completed_on_the_node.push(completed);
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
    let mut out = in_scope(chart, leaves, deps, MAX_VALUES, |text| holds(written, text));
    out.sort();
    out
}

/// The values an image named in parts came from: for each part, the values whose text is
/// the part, those under a path ending as the field does preferred (the part
/// `nvcr.io/nvidia` of `spec.toolkit` is `toolkit.repository`, not `devicePlugin.repository`
/// of the same text), each once.
fn values_of_parts(
    parts: &[String],
    field: &str,
    chart: &str,
    leaves: &[(String, String)],
    deps: &[String],
) -> Vec<String> {
    // `spec.driver.manager` → [spec, driver, manager]; `data.values:global.proxy` → [global, proxy].
    let inner = field.rsplit_once(':').map_or(field, |(_, f)| f);
    let steps: Vec<&str> = inner
        .split(['.', '[', ']', '"'])
        .filter(|s| !s.is_empty() && !s.bytes().all(|b| b.is_ascii_digit()))
        .collect();
    let mut out: Vec<String> = Vec::new();
    for part in parts {
        let all = in_scope(chart, leaves, deps, 1000, |text| text == part);
        // The longest end of the field that some of them lie under.
        let under = (1..=steps.len()).rev().find_map(|n| {
            let end = steps[steps.len() - n..].join(".");
            // The value's own map is the field's end: `toolkit.image` for `spec.toolkit`,
            // not `vfioManager.driverManager.image` for `spec.vfioManager`.
            let hit: Vec<&String> = all
                .iter()
                .filter(|p| {
                    p.rsplit_once('.')
                        .is_some_and(|(map, _)| map == end || map.ends_with(&format!(".{end}")))
                })
                .collect();
            (!hit.is_empty()).then_some(hit)
        });
        let chosen: Vec<&String> = under.unwrap_or_else(|| all.iter().collect());
        for p in chosen {
            if !out.contains(p) {
                out.push(p.clone());
            }
        }
    }
    out.truncate(MAX_VALUES);
    out.sort();
    out
}

/// The values of `leaves` in the scope of `chart` (its own values, not its dependencies',
/// and the globals) whose text `wanted` takes, each once, a dependency's copy of a global
/// named as the user sets it (`global.x`); the first `most`.
fn in_scope(
    chart: &str,
    leaves: &[(String, String)],
    deps: &[String],
    most: usize,
    wanted: impl Fn(&str) -> bool,
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
        if below || !wanted(text) {
            continue;
        }
        let named = match rest.strip_prefix("global.") {
            Some(g) => format!("global.{g}"),
            None => path.clone(),
        };
        if !out.contains(&named) {
            out.push(named);
        }
        if out.len() >= most {
            break;
        }
    }
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
    fn an_operators_images_carry_their_field_line_and_own_values() {
        let archive = tgz(&[
            ("gpu/Chart.yaml", b"apiVersion: v2\nname: gpu\nversion: 1.0.0\nappVersion: v26.7.0\n"),
            ("gpu/values.yaml", b"validator:\n  repository: nvcr.io/nvidia\n  image: gpu-operator\n  toolkit:\n    env: []\ndriver:\n  repository: nvcr.io/nvidia\n  image: driver\n  version: \"595.58.03\"\ntoolkit:\n  repository: nvcr.io/nvidia/k8s\n  image: container-toolkit\n  version: v1.20.0\ndevicePlugin:\n  repository: nvcr.io/nvidia\n  image: k8s-device-plugin\n  version: v1.20.0\n"),
            ("gpu/templates/clusterpolicy.yaml", b"apiVersion: nvidia.com/v1\nkind: ClusterPolicy\nmetadata:\n  name: cluster-policy\nspec:\n  validator:\n    repository: {{ .Values.validator.repository }}\n    image: {{ .Values.validator.image }}\n    version: {{ .Values.validator.version | default .Chart.AppVersion | quote }}\n    {{- if .Values.validator.toolkit }}\n    toolkit:\n      env: []\n    {{- end }}\n  driver:\n    {{- with .Values.driver }}\n    repository: {{ .repository }}\n    image: {{ .image }}\n    version: {{ .version | quote }}\n    {{- end }}\n  toolkit:\n    {{- toYaml .Values.toolkit | nindent 4 }}\n  devicePlugin:\n    {{- toYaml .Values.devicePlugin | nindent 4 }}\n"),
        ]);
        let settings = Settings {
            release: "gpu".into(),
            namespace: "gpu".into(),
            k3s_version: "v1.33.1+k3s1".into(),
        };
        let found = chart_images("gpu", &archive, &Map::new(), &settings).unwrap();
        let got: Vec<(String, How, String, String, Vec<String>)> = found
            .images
            .iter()
            .map(|p| {
                let values = p.values.clone();
                (
                    p.reference.to_string(),
                    p.how,
                    p.place(),
                    p.field.clone(),
                    values,
                )
            })
            .collect();
        let t = "gpu/templates/clusterpolicy.yaml";
        assert_eq!(
            got,
            [
                (
                    "nvcr.io/nvidia/gpu-operator:v26.7.0".into(),
                    How::Operator,
                    format!("{t}:6"),
                    "spec.validator".into(),
                    vec!["validator.image".into(), "validator.repository".into()]
                ),
                // Its own line, not the validator's `toolkit:`; its own values, not the
                // device plugin's of the same text.
                (
                    "nvcr.io/nvidia/k8s/container-toolkit:v1.20.0".into(),
                    How::Operator,
                    format!("{t}:20"),
                    "spec.toolkit".into(),
                    vec![
                        "toolkit.image".into(),
                        "toolkit.repository".into(),
                        "toolkit.version".into()
                    ]
                ),
                (
                    "nvcr.io/nvidia/k8s-device-plugin:v1.20.0".into(),
                    How::Operator,
                    format!("{t}:22"),
                    "spec.devicePlugin".into(),
                    vec![
                        "devicePlugin.image".into(),
                        "devicePlugin.repository".into(),
                        "devicePlugin.version".into()
                    ]
                ),
            ]
        );
        assert_eq!(
            found.completed_on_the_node,
            [Completed {
                written: "nvcr.io/nvidia/driver:595.58.03".into(),
                chart: "gpu".into(),
                place: format!("{t}:14"),
                resource: "ClusterPolicy/cluster-policy".into(),
                field: "spec.driver".into(),
                values: vec![
                    "driver.image".into(),
                    "driver.repository".into(),
                    "driver.version".into()
                ],
                reason: found.completed_on_the_node[0].reason.clone(),
            }]
        );
        assert!(found.completed_on_the_node[0].reason.contains("node's OS"));
        // What chart-images --json prints of them: the field, the new list.
        let json = serde_json::to_value(&found).unwrap();
        assert_eq!(json["images"][0]["how"], "operator");
        assert_eq!(json["images"][0]["field"], "spec.validator");
        assert_eq!(json["completed_on_the_node"][0]["field"], "spec.driver");
    }

    #[test]
    fn one_image_at_one_place_is_one_entry_whatever_its_fields() {
        // Grafana's two sidecars: one image, one template line, two containers.
        let archive = tgz(&[
            ("g/Chart.yaml", b"apiVersion: v2\nname: g\nversion: 1.0.0\n"),
            ("g/templates/d.yaml", b"kind: Deployment\nmetadata: {name: g}\nspec:\n  template:\n    spec:\n      containers:\n      {{- range list \"dashboards\" \"datasources\" }}\n        - name: {{ . }}\n          image: quay.io/kiwigrid/k8s-sidecar:2.10.1\n      {{- end }}\n"),
        ]);
        let settings = Settings {
            release: "g".into(),
            namespace: "g".into(),
            k3s_version: "v1.33.1+k3s1".into(),
        };
        let found = chart_images("g", &archive, &Map::new(), &settings).unwrap();
        let got: Vec<(String, String)> = found
            .images
            .iter()
            .map(|p| (p.place(), p.field.clone()))
            .collect();
        assert_eq!(
            got,
            [(
                "g/templates/d.yaml:9".to_string(),
                "spec.template.spec.containers[0].image".to_string()
            )]
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
