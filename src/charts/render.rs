//! A chart rendered as `helm template` renders it, with [`crate::gotmpl`]: every template
//! of the chart and of its enabled dependencies parsed into one set (deepest first, so a
//! parent's `define` wins over a subchart's of the same name, as in Helm), then each
//! template that is not a partial (`_…`), in that same order, executed with its chart's
//! data: `.Values` (a subchart's: its map in the parent's), `.Release`, `.Chart`,
//! `.Capabilities`, `.Template`, `.Files`, `.Subcharts`. The data of a chart is one map its
//! templates share, as Helm's are: what one template sets (`set .Values …`, `set $ "Values"
//! …`) the templates executed after it see. A library chart's templates only define (the
//! others are not even parsed). `NOTES.txt` is executed as Helm executes it (every chart's:
//! a `fail` in one fails the install) but is no manifest.

use super::ChartError;
use super::context;
use super::load::Chart;
use crate::gotmpl::{Limits, Numbers, Object, TemplateSet, Value};
use serde_json::{Map, Value as Json};
use std::collections::BTreeMap;
use std::rc::Rc;

/// The release a chart is rendered for.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `.Release.Name` (the HelmChart's name: k3s installs the release under it).
    pub release: String,
    /// `.Release.Namespace`.
    pub namespace: String,
    /// The cluster's k3s release (`v1.33.1+k3s1`): `.Capabilities.KubeVersion`.
    pub k3s_version: String,
}

/// One template's output.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// The chart's path (`top`, `top/charts/sub`).
    pub chart: String,
    /// The template's name as Helm gives it (`top/templates/deploy.yaml`).
    pub name: String,
    /// Its source text.
    pub source: String,
    /// What it rendered.
    pub output: String,
}

impl Rendered {
    /// True for a chart's notes (`NOTES.txt`): text Helm shows after an install, no
    /// manifest, so no image is read from it.
    pub fn is_notes(&self) -> bool {
        notes(&self.name)
    }
}

/// What a template may cost (the engine's defaults, with a smaller output: a manifest is
/// text a cluster stores in etcd, whose objects are at most 1.5 MiB).
pub fn limits() -> Limits {
    Limits {
        max_output: 8 << 20,
        ..Limits::default()
    }
}

/// `.Files`: the chart's files but its own parts, by exact path.
struct Files {
    chart: Rc<Chart>,
    /// The paths this object holds (all the chart's, or those a `Glob` kept).
    paths: Rc<Vec<String>>,
}

impl Files {
    fn of(chart: Rc<Chart>) -> Files {
        let paths = Rc::new(chart.files.keys().cloned().collect());
        Files { chart, paths }
    }
}

fn yaml_quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

impl Object for Files {
    fn type_name(&self) -> String {
        "chart.Files".into()
    }

    /// A `map[string][]byte`: `range $path, $bytes := .Files.Glob "…"`, `len`, `index`.
    fn entries(&self) -> Option<Vec<(String, Value)>> {
        Some(
            self.paths
                .iter()
                .filter_map(|p| {
                    let bytes = context::files_get(&self.chart, p).ok()?;
                    Some((p.clone(), Value::Bytes(Rc::new(bytes.to_vec()))))
                })
                .collect(),
        )
    }

    fn method(&self, name: &str, args: &[Value]) -> Option<Result<Value, String>> {
        let arg = || match args.first().and_then(Value::as_str) {
            Some(s) if args.len() == 1 => Ok(s.to_string()),
            _ => Err(format!("Files.{name} takes one string")),
        };
        let leaves = |e: context::Leaves| e.to_string();
        Some(match name {
            "Get" => arg().and_then(|p| {
                context::files_get(&self.chart, &p)
                    .map(|b| Value::from(String::from_utf8_lossy(b).into_owned()))
                    .map_err(leaves)
            }),
            "GetBytes" => arg().and_then(|p| {
                context::files_get(&self.chart, &p)
                    .map(|b| Value::Bytes(Rc::new(b.to_vec())))
                    .map_err(leaves)
            }),
            "Lines" => arg().and_then(|p| {
                context::files_lines(&self.chart, &p)
                    .map(|l| Value::from(l.into_iter().map(Value::from).collect::<Vec<_>>()))
                    .map_err(leaves)
            }),
            "Glob" => arg().and_then(|p| {
                let kept = context::files_glob(&self.chart, &p).map_err(leaves)?;
                let kept: Vec<String> = kept
                    .into_iter()
                    .filter(|k| self.paths.contains(k))
                    .collect();
                Ok(Value::Object(Rc::new(Files {
                    chart: self.chart.clone(),
                    paths: Rc::new(kept),
                })))
            }),
            "AsConfig" | "AsSecrets" => {
                let map = context::files_as_map(&self.chart, &self.paths, name == "AsSecrets");
                // YAML of a map of strings, keys sorted, values double-quoted.
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                let text = keys
                    .iter()
                    .map(|k| {
                        format!(
                            "{}: {}",
                            yaml_quote(k),
                            yaml_quote(map[*k].as_str().unwrap_or(""))
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n");
                Ok(Value::from(text))
            }
            _ => return None,
        })
    }
}

/// One chart with the data its templates get, and its dependencies'.
struct Node {
    chart: Rc<Chart>,
    /// The one map every template of the chart is executed with (Helm's `next` of
    /// `recAllTpls`): a template that changes it (`set $ "Values" …`, as istiod's
    /// `zzz_profile.yaml` does) changes it for the templates executed after it.
    data: Value,
}

/// The data of `chart` and its dependencies (Helm's `recAllTpls`), `values` its `.Values`:
/// a dependency's `.Values` is the very map its parent's holds under its name (a template
/// that sets a value in it sets it for the dependency's templates), or a new empty map
/// when the parent's holds none.
fn nodes(
    chart: &Chart,
    values: Value,
    is_root: bool,
    common: &(Value, Value),
    out: &mut Vec<Node>,
) -> Value {
    let rc = Rc::new(chart.clone());
    let mut data = crate::gotmpl::Map::new();
    data.insert("Chart".into(), super::typed::chart(chart, is_root));
    data.insert(
        "Files".into(),
        Value::Object(Rc::new(Files::of(rc.clone()))),
    );
    data.insert("Release".into(), common.0.clone());
    data.insert("Capabilities".into(), common.1.clone());
    let mut subcharts = crate::gotmpl::Map::new();
    for d in &chart.dependencies {
        let sub = match &values {
            Value::Map(m) => match m.borrow().get(&d.name) {
                Some(v @ Value::Map(_)) => Some(v.clone()),
                _ => None,
            },
            _ => None,
        };
        let sub = sub.unwrap_or_else(|| Value::from(crate::gotmpl::Map::new()));
        subcharts.insert(d.name.clone(), nodes(d, sub, false, common, out));
    }
    data.insert("Values".into(), values);
    data.insert("Subcharts".into(), Value::from(subcharts));
    let v = Value::from(data);
    out.push(Node {
        chart: rc,
        data: v.clone(),
    });
    v
}

/// Whether Helm takes the template `path` (under its chart) into the set at all: a library
/// chart's only define (`isTemplateValid`: its partials alone).
fn taken(chart: &Chart, path: &str) -> bool {
    !chart.is_library() || partial(path)
}

/// A partial (`_helpers.tpl`): parsed, never executed on its own.
fn partial(path: &str) -> bool {
    path.rsplit('/').next().unwrap_or(path).starts_with('_')
}

/// The notes Helm pulls out of the rendered files (any name ending so): executed as every
/// template (a `fail` in one fails the install, a subchart's too), but no manifest.
fn notes(name: &str) -> bool {
    name.ends_with("NOTES.txt")
}

/// Helm's order (`sortTemplates`), in which it parses and then executes the templates: the
/// most `/` first, then reverse name order.
fn helm_order(names: &mut [String]) {
    names.sort_by(|a, b| {
        let (ca, cb) = (a.matches('/').count(), b.matches('/').count());
        cb.cmp(&ca).then_with(|| b.cmp(a))
    });
}

/// Renders `chart` (its dependencies chosen, see [`super::coalesce::release_values`]) with
/// `values` (the release's), `entry` naming it in errors. The manifests come in name
/// order, as Helm sorts the rendered files.
pub fn render(
    entry: &str,
    chart: &Chart,
    values: &Map<String, Json>,
    settings: &Settings,
) -> Result<Vec<Rendered>, ChartError> {
    let common = (
        super::typed::release(&settings.release, &settings.namespace),
        super::typed::capabilities(&settings.k3s_version, chart),
    );
    let mut all = Vec::new();
    let root = Value::from_json(&Json::Object(values.clone()), Numbers::Float64);
    nodes(chart, root, true, &common, &mut all);
    let mut sources: BTreeMap<String, (usize, String)> = BTreeMap::new();
    for (i, n) in all.iter().enumerate() {
        for (path, text) in &n.chart.templates {
            if taken(&n.chart, path) {
                sources.insert(format!("{}/{path}", n.chart.path), (i, text.clone()));
            }
        }
    }
    let mut names: Vec<String> = sources.keys().cloned().collect();
    helm_order(&mut names);
    let mut set = TemplateSet::new(limits());
    let fail = |e: crate::gotmpl::Error| {
        ChartError::Invalid(format!(
            "chart {entry}: {}:{}:{}: {}",
            e.template, e.line, e.column, e.message
        ))
    };
    for name in &names {
        set.parse(name, &sources[name].1).map_err(fail)?;
    }
    let mut out = Vec::new();
    for name in &names {
        let (i, source) = &sources[name];
        let node = &all[*i];
        if partial(name) {
            continue;
        }
        if let Value::Map(m) = &node.data {
            m.borrow_mut().insert(
                "Template".into(),
                Value::from_json(
                    &context::template(name, &format!("{}/templates", node.chart.path)),
                    Numbers::Float64,
                ),
            );
        }
        let output = set.execute(name, &node.data).map_err(|e| {
            // An error in a helper it includes is named at the `include`, the helper's line
            // after it (a `fail` of Bitnami's `common` chart, included by `NOTES.txt`); one
            // in a template it calls with `template` names that template's line and the
            // template executed.
            if e.template.starts_with(name.as_str()) {
                fail(e)
            } else {
                ChartError::Invalid(format!(
                    "chart {entry}: {}:{}:{} (executing {name}): {}",
                    e.template, e.line, e.column, e.message
                ))
            }
        })?;
        // Notes are kept (Helm shows the top chart's), never read as a manifest:
        // [`Rendered::is_notes`].
        out.push(Rendered {
            chart: node.chart.path.clone(),
            name: name.clone(),
            source: source.clone(),
            output,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::charts::load::tests::tgz;

    fn settings() -> Settings {
        Settings {
            release: "demo".into(),
            namespace: "apps".into(),
            k3s_version: "v1.33.1+k3s1".into(),
        }
    }

    #[test]
    fn a_chart_renders_with_its_subchart_and_helpers() {
        let mut chart = crate::charts::load::load_archive(
            "demo",
            &tgz(&[
                ("app/Chart.yaml", b"apiVersion: v2\nname: app\nversion: 1.2.3\nappVersion: \"2.0\"\n"),
                ("app/values.yaml", b"image:\n  registry: docker.io\n  repository: acme/app\n  tag: \"\"\n"),
                ("app/templates/_helpers.tpl", b"{{- define \"app.image\" -}}\n{{ .Values.image.registry }}/{{ .Values.image.repository }}:{{ with .Values.image.tag }}{{ . }}{{ else }}{{ $.Chart.AppVersion }}{{ end }}\n{{- end }}\n"),
                ("app/templates/deploy.yaml", b"kind: Deployment\nmetadata:\n  name: {{ .Release.Name }}\n  namespace: {{ .Release.Namespace }}\nspec:\n  template:\n    spec:\n      containers:\n        - image: {{ include \"app.image\" . }}\n{{- if .Capabilities.APIVersions.Has \"apps/v1/Deployment\" }}\n          args: [\"--conf={{ .Files.Get \"files/a.conf\" }}\"]\n{{- end }}\n"),
                ("app/templates/NOTES.txt", b"image: {{ .Values.image.repository }}\n"),
                ("app/files/a.conf", b"x"),
                ("app/charts/db/Chart.yaml", b"apiVersion: v2\nname: db\nversion: 1.0.0\n"),
                ("app/charts/db/values.yaml", b"tag: \"16\"\n"),
                ("app/charts/db/templates/sts.yaml", b"kind: StatefulSet\nmetadata: {name: {{ .Chart.Name }}}\nspec: {template: {spec: {containers: [{image: \"pg:{{ .Values.tag }}\"}]}}}\n"),
            ]),
        )
        .unwrap();
        let values = crate::charts::coalesce::release_values(&mut chart, &Map::new());
        let out = render("demo", &chart, &values, &settings()).unwrap();
        let names: Vec<&str> = (out.iter())
            .filter(|r| !r.is_notes())
            .map(|r| r.name.as_str())
            .collect();
        assert_eq!(
            names,
            [
                "app/charts/db/templates/sts.yaml",
                "app/templates/deploy.yaml"
            ]
        );
        assert!(
            out[0].output.contains("image: \"pg:16\""),
            "{}",
            out[0].output
        );
        let deploy = &out[2].output;
        assert!(deploy.contains("image: docker.io/acme/app:2.0"), "{deploy}");
        assert!(deploy.contains("namespace: apps"), "{deploy}");
        assert!(deploy.contains("--conf=x"), "{deploy}");
    }

    /// `.Files` and a `Glob` of it are Go maps of path to bytes: ranged in path order,
    /// measured by `len`, looked up by `index`, as charts build ConfigMaps of a folder.
    #[test]
    fn files_and_a_glob_range_as_maps_in_path_order() {
        let mut chart = crate::charts::load::load_archive(
            "demo",
            &tgz(&[
                ("app/Chart.yaml", b"apiVersion: v2\nname: app\nversion: 1.2.3\n"),
                ("app/dashboards/b.json", b"{\"image\": \"acme/b:2\"}"),
                ("app/dashboards/a.json", b"{}"),
                ("app/other.txt", b"x"),
                ("app/templates/cm.yaml", b"kind: ConfigMap\ndata:\n{{- range $path, $bytes := .Files.Glob \"dashboards/*.json\" }}\n  {{ base $path }}: {{ $.Files.Get $path | quote }} # {{ len $bytes }}\n{{- end }}\n  n: \"{{ len (.Files.Glob \"dashboards/*\") }} {{ index (.Files.Glob \"**.json\") \"dashboards/a.json\" | toString }}\"\n{{- range .Files.Glob \"none/*\" }}x{{ else }}\n  empty: \"yes\"{{ end }}\n"),
            ]),
        )
        .unwrap();
        let values = crate::charts::coalesce::release_values(&mut chart, &Map::new());
        let out = render("demo", &chart, &values, &settings()).unwrap();
        assert_eq!(
            out[0].output,
            "kind: ConfigMap\ndata:\n  a.json: \"{}\" # 2\n  b.json: \"{\\\"image\\\": \\\"acme/b:2\\\"}\" # 21\n  n: \"2 {}\"\n  empty: \"yes\"\n"
        );
    }

    #[test]
    fn a_file_path_leaving_the_chart_is_refused_at_its_line() {
        let mut chart = crate::charts::load::load_archive(
            "demo",
            &tgz(&[
                (
                    "app/Chart.yaml",
                    b"apiVersion: v2\nname: app\nversion: 1.2.3\n",
                ),
                (
                    "app/templates/cm.yaml",
                    b"kind: ConfigMap\ndata:\n  x: {{ .Files.Get \"../../etc/passwd\" }}\n",
                ),
            ]),
        )
        .unwrap();
        let values = crate::charts::coalesce::release_values(&mut chart, &Map::new());
        let err = render("demo", &chart, &values, &settings())
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("chart demo: app/templates/cm.yaml:3:"),
            "{err}"
        );
        assert!(err.contains("leaves the chart"), "{err}");
    }

    #[test]
    fn hostile_templates_are_refused_naming_chart_template_and_line() {
        for (template, want) in [
            (
                &b"{{ define \"loop\" }}{{ include \"loop\" . }}{{ end }}\nkind: X\nx: {{ include \"loop\" . }}\n"[..],
                "app/templates/x.yaml:",
            ),
            (&b"kind: X\nx: {{ repeat 100000000 \"x\" }}\n"[..], "app/templates/x.yaml:2:"),
            (&b"kind: X\n\nx: {{ required \"set x\" .Values.x }}\n"[..], "app/templates/x.yaml:3:"),
        ] {
            let mut chart = crate::charts::load::load_archive(
                "demo",
                &tgz(&[
                    ("app/Chart.yaml", b"apiVersion: v2\nname: app\nversion: 1.2.3\n"),
                    ("app/templates/x.yaml", template),
                ]),
            )
            .unwrap();
            let values = crate::charts::coalesce::release_values(&mut chart, &Map::new());
            let err = render("demo", &chart, &values, &settings())
                .unwrap_err()
                .to_string();
            assert!(err.starts_with(&format!("chart demo: {want}")), "{err}");
        }
    }

    #[test]
    fn a_library_chart_only_defines() {
        let mut chart = crate::charts::load::load_archive(
            "demo",
            &tgz(&[
                ("app/Chart.yaml", b"apiVersion: v2\nname: app\nversion: 1.2.3\n"),
                ("app/templates/cm.yaml", b"{{ include \"common.cm\" . }}"),
                ("app/charts/common/Chart.yaml", b"apiVersion: v2\nname: common\nversion: 1.0.0\ntype: library\n"),
                ("app/charts/common/templates/_cm.tpl", b"{{ define \"common.cm\" }}kind: ConfigMap\nmetadata: {name: {{ .Chart.Name }}}{{ end }}"),
                ("app/charts/common/templates/never.yaml", b"{{ fail \"a library renders nothing\" }}"),
                // Not even parsed: Helm takes a library's partials alone.
                ("app/charts/common/templates/broken.yaml", b"{{ if }}"),
            ]),
        )
        .unwrap();
        let values = crate::charts::coalesce::release_values(&mut chart, &Map::new());
        let out = render("demo", &chart, &values, &settings()).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].output, "kind: ConfigMap\nmetadata: {name: app}");
    }

    /// A chart of `files` (under `app/`), rendered with `user` values.
    pub(crate) fn render_files(
        files: &[(&str, &[u8])],
        user: Json,
    ) -> Result<Vec<Rendered>, ChartError> {
        let mut chart = crate::charts::load::load_archive("demo", &tgz(files)).unwrap();
        let user = user.as_object().cloned().unwrap_or_default();
        let values = crate::charts::coalesce::release_values(&mut chart, &user);
        render("demo", &chart, &values, &settings())
    }

    /// Bitnami's guard, as its charts write it: the notes fail when a registry is set
    /// without the insecure images allowed.
    const GUARDED_NOTES: &[u8] = b"Thank you for installing {{ .Chart.Name }}.\n\n{{- if and .Values.global.imageRegistry (not .Values.global.security.allowInsecureImages) }}\n{{- fail \"Original containers have been substituted for unrecognized ones. Deploying this chart with non-standard containers is likely to cause degraded security and performance, broken chart features, and missing environment variables.\" }}\n{{- end }}\n";

    /// The top chart's `NOTES.txt` is executed: its `fail` refuses the release at its
    /// line with its message; notes that render are no manifest.
    #[test]
    fn the_notes_are_executed_and_their_fail_refuses_the_release() {
        let files: &[(&str, &[u8])] = &[
            (
                "app/Chart.yaml",
                b"apiVersion: v2\nname: app\nversion: 1.2.3\n",
            ),
            (
                "app/values.yaml",
                b"global:\n  imageRegistry: \"\"\n  security:\n    allowInsecureImages: false\n",
            ),
            ("app/templates/cm.yaml", b"kind: ConfigMap\n"),
            ("app/templates/NOTES.txt", GUARDED_NOTES),
        ];
        let out = render_files(files, Json::Null).unwrap();
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].name, "app/templates/NOTES.txt");
        assert!(out[0].is_notes() && !out[1].is_notes());
        assert_eq!(out[1].name, "app/templates/cm.yaml");
        let err = render_files(
            files,
            serde_json::json!({"global": {"imageRegistry": "mirror.lan:5000"}}),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("chart demo: app/templates/NOTES.txt:4:"),
            "{err}"
        );
        assert!(
            err.contains("Original containers have been substituted"),
            "{err}"
        );
        let ok = serde_json::json!({"global": {"imageRegistry": "mirror.lan:5000", "security": {"allowInsecureImages": true}}});
        assert_eq!(render_files(files, ok).unwrap().len(), 2);
    }

    /// A subchart's `NOTES.txt` is executed too (Helm keeps only the top chart's text,
    /// but renders every chart's): its `fail` refuses the release, as wordpress's
    /// memcached subchart does.
    #[test]
    fn a_subchart_notes_fail_refuses_the_release() {
        let files: &[(&str, &[u8])] = &[
            (
                "app/Chart.yaml",
                b"apiVersion: v2\nname: app\nversion: 1.2.3\n",
            ),
            (
                "app/values.yaml",
                b"global:\n  imageRegistry: mirror.lan:5000\n",
            ),
            ("app/templates/cm.yaml", b"kind: ConfigMap\n"),
            ("app/templates/NOTES.txt", b"top notes\n"),
            (
                "app/charts/memcached/Chart.yaml",
                b"apiVersion: v2\nname: memcached\nversion: 1.0.0\n",
            ),
            (
                "app/charts/memcached/values.yaml",
                b"global:\n  imageRegistry: \"\"\n  security:\n    allowInsecureImages: false\n",
            ),
            ("app/charts/memcached/templates/NOTES.txt", GUARDED_NOTES),
        ];
        let err = render_files(files, Json::Null).unwrap_err().to_string();
        assert!(
            err.starts_with("chart demo: app/charts/memcached/templates/NOTES.txt:4:"),
            "{err}"
        );
        // Failing in a helper the notes include: named at the notes' `include`, as Helm
        // names it, the helper's line after it.
        let mut files = files.to_vec();
        files[6].1 = b"{{ include \"memcached.guard\" . }}";
        files.push((
            "app/charts/memcached/templates/_guard.tpl",
            b"{{ define \"memcached.guard\" }}\n{{ fail \"substituted\" }}\n{{ end }}",
        ));
        let err = render_files(&files, Json::Null).unwrap_err().to_string();
        assert_eq!(
            err,
            "chart demo: app/charts/memcached/templates/NOTES.txt:1:3: error calling include: app/charts/memcached/templates/_guard.tpl:2:3: error calling fail: substituted"
        );
    }

    /// Every template but the partials is executed and is a manifest, whatever its
    /// extension, as Helm's engine and its manifest sorter take them.
    #[test]
    fn a_template_of_any_extension_is_rendered() {
        let files: &[(&str, &[u8])] = &[
            ("app/Chart.yaml", b"apiVersion: v2\nname: app\nversion: 1.2.3\n"),
            ("app/templates/pod.json", b"{\"kind\": \"Pod\", \"spec\": {\"containers\": [{\"image\": \"acme/app:{{ .Chart.Version }}\"}]}}\n"),
            ("app/templates/helpers.tpl", b"{{ define \"x\" }}x{{ end }}"),
            ("app/templates/_more.json", b"{{ fail \"a partial is not executed\" }}"),
        ];
        let out = render_files(files, Json::Null).unwrap();
        let names: Vec<&str> = out.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(
            names,
            ["app/templates/helpers.tpl", "app/templates/pod.json"]
        );
        assert!(
            out[1].output.contains("acme/app:1.2.3"),
            "{}",
            out[1].output
        );
    }

    /// Templates are executed in Helm's order (the most `/` first, then reverse name
    /// order) with one data map per chart: `zzz_profile.yaml` rewrites `.Values` (by
    /// `set` on it and by `set $ "Values"`, as istiod's does) before the others read it.
    #[test]
    fn templates_run_in_helm_order_and_share_their_values() {
        let files: &[(&str, &[u8])] = &[
            ("app/Chart.yaml", b"apiVersion: v2\nname: app\nversion: 1.2.3\n"),
            ("app/values.yaml", b"defaults:\n  scope: {resourceScope: all}\nname: x\ndb: {}\n"),
            ("app/templates/autoscale.yaml", b"kind: ConfigMap\ndata: {scope: {{ .Values.scope.resourceScope }}, tag: {{ .Values.tag }}, name: {{ .Values.name }}}\n"),
            ("app/templates/zzz_profile.yaml", b"{{- $_ := set .Values \"tag\" \"set-by-zzz\" }}\n{{- $d := .Values.defaults }}\n{{- $_ := unset .Values \"defaults\" }}\n{{- $_ := set $ \"Values\" (mustMergeOverwrite $d .Values) }}\n"),
            // Deeper than the subchart's template: executed before it, and its `set` on
            // the subchart's map is what the subchart reads.
            ("app/templates/a/b/c/set-db.yaml", b"{{- $_ := set .Values.db \"tag\" \"16\" }}\n"),
            ("app/charts/db/Chart.yaml", b"apiVersion: v2\nname: db\nversion: 1.0.0\n"),
            ("app/charts/db/templates/sts.yaml", b"kind: StatefulSet\ntag: \"{{ .Values.tag }}\"\n"),
        ];
        let out = render_files(files, Json::Null).unwrap();
        let by_name = |n: &str| out.iter().find(|r| r.name == n).unwrap().output.clone();
        assert_eq!(
            by_name("app/templates/autoscale.yaml"),
            "kind: ConfigMap\ndata: {scope: all, tag: set-by-zzz, name: x}\n"
        );
        assert_eq!(
            by_name("app/charts/db/templates/sts.yaml"),
            "kind: StatefulSet\ntag: \"16\"\n"
        );
        // The manifests still come in name order.
        let names: Vec<&str> = out.iter().map(|r| r.name.as_str()).collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted);
    }

    #[test]
    fn helm_order_is_deepest_first_then_reverse_names() {
        let mut names: Vec<String> = [
            "app/templates/autoscale.yaml",
            "app/templates/zzz_profile.yaml",
            "app/charts/db/templates/sts.yaml",
            "app/templates/a/x.yaml",
            "app/templates/NOTES.txt",
        ]
        .map(String::from)
        .to_vec();
        helm_order(&mut names);
        assert_eq!(
            names,
            [
                "app/charts/db/templates/sts.yaml",
                "app/templates/a/x.yaml",
                "app/templates/zzz_profile.yaml",
                "app/templates/autoscale.yaml",
                "app/templates/NOTES.txt",
            ]
        );
    }

    /// The CRDs of the chart's `crds/` (and its subcharts') are served when the templates
    /// render, as `helm install` creates them first: their group versions and kinds are
    /// in `.Capabilities.APIVersions`, a version not served is not.
    #[test]
    fn the_charts_own_crds_are_in_the_api_versions() {
        let crd = b"# the widgets\n---\napiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: widgets.example.com}\nspec:\n  group: example.com\n  names: {kind: Widget, plural: widgets}\n  scope: Namespaced\n  versions:\n    - name: v1\n      served: true\n      storage: true\n      subresources: {scale: {specReplicasPath: .spec.replicas, statusReplicasPath: .status.replicas}}\n    - name: v2alpha1\n      served: false\n      storage: false\n";
        let sub_crd = b"apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nspec:\n  group: db.example.org\n  names: {kind: Cluster}\n  versions: [{name: v1beta1, served: true, storage: true}]\n";
        let files: &[(&str, &[u8])] = &[
            ("app/Chart.yaml", b"apiVersion: v2\nname: app\nversion: 1.2.3\n"),
            ("app/crds/widgets.yaml", crd),
            ("app/templates/cm.yaml", b"kind: ConfigMap\ndata:\n{{- range list \"example.com/v1\" \"example.com/v1/Widget\" \"example.com/v1/Scale\" \"example.com/v2alpha1\" \"db.example.org/v1beta1/Cluster\" \"apps/v1/Deployment\" \"example.com/v1/Gadget\" }}\n  {{ . | quote }}: {{ $.Capabilities.APIVersions.Has . | quote }}\n{{- end }}\n"),
            ("app/charts/db/Chart.yaml", b"apiVersion: v2\nname: db\nversion: 1.0.0\n"),
            ("app/charts/db/crds/cluster.yaml", sub_crd),
        ];
        let out = render_files(files, Json::Null).unwrap();
        assert_eq!(
            out[0].output,
            "kind: ConfigMap\ndata:\n  \"example.com/v1\": \"true\"\n  \"example.com/v1/Widget\": \"true\"\n  \"example.com/v1/Scale\": \"true\"\n  \"example.com/v2alpha1\": \"false\"\n  \"db.example.org/v1beta1/Cluster\": \"true\"\n  \"apps/v1/Deployment\": \"true\"\n  \"example.com/v1/Gadget\": \"false\"\n"
        );
    }
}
