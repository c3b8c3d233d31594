//! The values Helm gives templates besides `.Values` and `.Files`, with the Go types
//! templates see (Helm 3's `chartutil`): `.Capabilities` is a `*chartutil.Capabilities`
//! (a pointer to a struct: its fields, no others), its `APIVersions` a
//! `chartutil.VersionSet` (a `[]string` with a `Has` method: `has`, `len`, `range`,
//! `index` and every list function take it, `kindOf` is `slice`), its `KubeVersion` a
//! `chartutil.KubeVersion` (`Version`, `Major`, `Minor`, and `GitVersion` and `String`,
//! printed as its version), its `HelmVersion` a `version.BuildInfo`; `.Release` is a
//! `map[string]interface {}` whose `Revision` is an `int`; `.Chart` is the engine's
//! `struct { chart.Metadata; IsRoot bool }`. Helm 4 renamed the package of these types
//! (`common`) and hands `.Chart` as a map; seedforge's are Helm 3's, the node's.

use super::context;
use super::load::Chart;
use crate::gotmpl::{Object, Value};
use std::rc::Rc;

/// `.Capabilities.APIVersions`: Helm's `chartutil.VersionSet`, a `[]string` with `Has`.
pub(crate) struct ApiVersions(Rc<Vec<Value>>);

impl ApiVersions {
    pub(crate) fn new(versions: Vec<String>) -> ApiVersions {
        ApiVersions(Rc::new(versions.into_iter().map(Value::from).collect()))
    }
}

impl Object for ApiVersions {
    fn type_name(&self) -> String {
        "chartutil.VersionSet".into()
    }
    fn method(&self, name: &str, args: &[Value]) -> Option<Result<Value, String>> {
        match name {
            "Has" => Some(match args {
                [Value::String(v)] => {
                    Ok(Value::Bool(self.0.iter().any(|x| x.as_str() == Some(&**v))))
                }
                [v] => Err(format!(
                    "wrong type for value; expected string; got {}",
                    v.type_name()
                )),
                _ => Err(format!(
                    "wrong number of args for Has: want 1 got {}",
                    args.len()
                )),
            }),
            _ => None,
        }
    }
    fn list(&self) -> Option<Rc<Vec<Value>>> {
        Some(self.0.clone())
    }
    fn to_text(&self) -> String {
        Value::List(self.0.clone()).to_text()
    }
}

/// A Go struct field: its name, its `json` tag's name (`None`: the Go name) and
/// `omitempty`, whether it is embedded (its fields promoted: `.Chart.Name` of
/// `struct { chart.Metadata; IsRoot bool }`), and its value.
pub(crate) struct Field {
    name: &'static str,
    json: Option<&'static str>,
    omitempty: bool,
    embedded: bool,
    value: Value,
}

/// A field with a `json:"NAME,omitempty"` tag.
fn omitempty(name: &'static str, json: &'static str, value: Value) -> Field {
    Field {
        name,
        json: Some(json),
        omitempty: true,
        embedded: false,
        value,
    }
}

/// A field with a `json:"NAME"` tag.
fn tagged(name: &'static str, json: &'static str, value: Value) -> Field {
    Field {
        name,
        json: Some(json),
        omitempty: false,
        embedded: false,
        value,
    }
}

/// A field with no tag (JSON names it by its Go name).
fn untagged(name: &'static str, value: Value) -> Field {
    Field {
        name,
        json: None,
        omitempty: false,
        embedded: false,
        value,
    }
}

/// Go's "empty" of `omitempty`: false, 0, "", nil, and a slice or map of no items.
fn empty(v: &Value) -> bool {
    match v {
        Value::Nil => true,
        Value::Bool(b) => !b,
        Value::Int(i) => *i == 0,
        Value::Float(f) => *f == 0.0,
        Value::String(s) => s.is_empty(),
        Value::List(l) => l.is_empty(),
        Value::Bytes(b) => b.is_empty(),
        Value::Map(m) => m.try_borrow().is_ok_and(|m| m.is_empty()),
        Value::Object(o) => match (o.list(), o.entries()) {
            (Some(l), _) => l.is_empty(),
            (None, Some(e)) => e.is_empty(),
            (None, None) => false,
        },
    }
}

/// A Go struct, its fields in their declared order: printed `{a b c}` (or `&{…}` behind a
/// pointer); a field it does not have is an error, as in Go; `toJson` and `toYaml` write
/// it as Go's `encoding/json` does (its fields' `json` tags, `omitempty`, an embedded
/// struct's fields in its place).
pub(crate) struct Struct {
    type_name: &'static str,
    pointer: bool,
    fields: Vec<Field>,
}

impl Struct {
    fn find(&self, name: &str) -> Option<Value> {
        if let Some(f) = self.fields.iter().find(|f| f.name == name) {
            return Some(f.value.clone());
        }
        self.fields
            .iter()
            .filter(|f| f.embedded)
            .find_map(|f| match &f.value {
                Value::Object(o) => o.field(name),
                _ => None,
            })
    }

    fn json_into(
        &self,
        out: &mut serde_json::Map<String, serde_json::Value>,
        max_depth: usize,
        floats: bool,
    ) -> Option<()> {
        for f in &self.fields {
            if f.embedded {
                match f.value.to_json_as(max_depth, floats)? {
                    serde_json::Value::Object(m) => out.extend(m),
                    _ => return None,
                }
                continue;
            }
            if f.omitempty && empty(&f.value) {
                continue;
            }
            out.insert(
                f.json.unwrap_or(f.name).to_string(),
                f.value.to_json_as(max_depth - 1, floats)?,
            );
        }
        Some(())
    }
}

impl Object for Struct {
    fn type_name(&self) -> String {
        self.type_name.into()
    }
    fn field(&self, name: &str) -> Option<Value> {
        self.find(name)
    }
    fn kind(&self) -> &'static str {
        if self.pointer { "ptr" } else { "struct" }
    }
    fn to_text(&self) -> String {
        let inner: Vec<String> = self.fields.iter().map(|f| f.value.to_text()).collect();
        format!(
            "{}{{{}}}",
            if self.pointer { "&" } else { "" },
            inner.join(" ")
        )
    }
    fn to_json(&self, max_depth: usize, floats: bool) -> Option<serde_json::Value> {
        if max_depth == 0 {
            return None;
        }
        let mut out = serde_json::Map::new();
        self.json_into(&mut out, max_depth, floats)?;
        Some(serde_json::Value::Object(out))
    }
}

/// A Go slice of a named element type (`[]string`, `[]*chart.Maintainer`), nil or not:
/// `range`, `len`, `index` and the list functions take it; a nil one is JSON's `null`.
pub(crate) struct Slice {
    type_name: &'static str,
    items: Option<Rc<Vec<Value>>>,
}

impl Object for Slice {
    fn type_name(&self) -> String {
        self.type_name.into()
    }
    fn list(&self) -> Option<Rc<Vec<Value>>> {
        Some(self.items.clone().unwrap_or_default())
    }
    fn to_text(&self) -> String {
        Value::List(self.items.clone().unwrap_or_default()).to_text()
    }
    fn to_json(&self, max_depth: usize, floats: bool) -> Option<serde_json::Value> {
        match &self.items {
            None => Some(serde_json::Value::Null),
            Some(l) => l
                .iter()
                .map(|v| v.to_json_as(max_depth.checked_sub(1)?, floats))
                .collect::<Option<Vec<_>>>()
                .map(serde_json::Value::Array),
        }
    }
}

/// A Go `map[string]string` (`.Chart.Annotations`), nil or not: a key it does not hold is
/// `""`; Sprig's functions of `map[string]interface {}` (`hasKey`, `dig`) refuse it, as in Go.
pub(crate) struct StringMap(Option<Vec<(String, Value)>>);

impl Object for StringMap {
    fn type_name(&self) -> String {
        "map[string]string".into()
    }
    fn entries(&self) -> Option<Vec<(String, Value)>> {
        Some(self.0.clone().unwrap_or_default())
    }
    fn field(&self, name: &str) -> Option<Value> {
        Some(
            self.0
                .iter()
                .flatten()
                .find(|(k, _)| k == name)
                .map_or_else(|| Value::from(""), |(_, v)| v.clone()),
        )
    }
    fn missing(&self) -> Value {
        Value::from("")
    }
    fn to_text(&self) -> String {
        let inner: Vec<String> = self
            .0
            .iter()
            .flatten()
            .map(|(k, v)| format!("{k}:{}", v.to_text()))
            .collect();
        format!("map[{}]", inner.join(" "))
    }
    fn to_json(&self, _: usize, _: bool) -> Option<serde_json::Value> {
        Some(match &self.0 {
            None => serde_json::Value::Null,
            Some(e) => serde_json::Value::Object(
                e.iter()
                    .map(|(k, v)| (k.clone(), serde_json::Value::from(v.to_text())))
                    .collect(),
            ),
        })
    }
}

/// `.Capabilities.KubeVersion`: fields `Version`, `Major`, `Minor`; `GitVersion` and
/// `String` (pointer-receiver methods) give the version, and it prints as its version.
pub(crate) struct KubeVersion {
    version: String,
    major: String,
    minor: String,
}

impl Object for KubeVersion {
    fn type_name(&self) -> String {
        "chartutil.KubeVersion".into()
    }
    fn field(&self, name: &str) -> Option<Value> {
        Some(Value::from(match name {
            "Version" | "GitVersion" => self.version.as_str(),
            "Major" => self.major.as_str(),
            "Minor" => self.minor.as_str(),
            _ => return None,
        }))
    }
    fn method(&self, name: &str, args: &[Value]) -> Option<Result<Value, String>> {
        (name == "String" && args.is_empty()).then(|| Ok(Value::from(self.version.as_str())))
    }
    /// Handed to a function (`quote`, `print`) it is the struct, printed as Go prints one
    /// (its `String` has a pointer receiver, which a copy does not have): Helm 3's
    /// `{v1.33.1+k3s1 1 33}` (Helm 4's struct has a field more, printed empty).
    fn to_text(&self) -> String {
        format!("{{{} {} {}}}", self.version, self.major, self.minor)
    }
    fn printed(&self) -> String {
        self.version.clone()
    }
    fn to_json(&self, _: usize, _: bool) -> Option<serde_json::Value> {
        Some(serde_json::json!({
            "Version": self.version, "Major": self.major, "Minor": self.minor,
        }))
    }
}

/// `.Capabilities` of `chart` on the k3s release `k3s_version`.
pub(crate) fn capabilities(k3s_version: &str, chart: &Chart) -> Value {
    let caps = context::capabilities(k3s_version);
    let s = |p: &str| {
        caps.pointer(p)
            .and_then(serde_json::Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let kube = KubeVersion {
        version: s("/KubeVersion/Version"),
        major: s("/KubeVersion/Major"),
        minor: s("/KubeVersion/Minor"),
    };
    let helm = Struct {
        type_name: "version.BuildInfo",
        pointer: false,
        fields: [
            ("Version", "version"),
            ("GitCommit", "git_commit"),
            ("GitTreeState", "git_tree_state"),
            ("GoVersion", "go_version"),
        ]
        .into_iter()
        .map(|(f, j)| omitempty(f, j, Value::from(s(&format!("/HelmVersion/{f}")))))
        .collect(),
    };
    Value::Object(Rc::new(Struct {
        type_name: "*chartutil.Capabilities",
        pointer: true,
        fields: vec![
            untagged("KubeVersion", Value::Object(Rc::new(kube))),
            untagged(
                "APIVersions",
                Value::Object(Rc::new(ApiVersions::new(context::release_api_versions(
                    chart,
                )))),
            ),
            untagged("HelmVersion", Value::Object(Rc::new(helm))),
        ],
    }))
}

/// `.Release`: a map, as Helm's `ToRenderValues` makes it, `Revision` an `int`.
pub(crate) fn release(name: &str, namespace: &str) -> Value {
    let mut m = crate::gotmpl::Map::new();
    for (k, v) in [
        ("Name", Value::from(name)),
        ("Namespace", Value::from(namespace)),
        ("IsUpgrade", Value::Bool(false)),
        ("IsInstall", Value::Bool(true)),
        ("Revision", Value::Int(1)),
        ("Service", Value::from("Helm")),
    ] {
        m.insert(k.into(), v);
    }
    Value::from(m)
}

/// `.Chart`, as Helm 3's engine hands it to each chart's templates (`recAllTpls`): a
/// `struct { chart.Metadata; IsRoot bool }`, Chart.yaml's fields under their Go names
/// (promoted from the embedded `chart.Metadata`: `.Chart.AppVersion`; a field Chart.yaml
/// leaves out is its zero value, a field Go's struct does not have an error), the name the
/// parent's alias gives, `Dependencies` those Helm kept enabled (`*chart.Dependency`, the
/// alias as their name), and `toJson`/`toYaml` writing Metadata's `json` tags.
pub(crate) fn chart(chart: &Chart, is_root: bool) -> Value {
    use serde_json::Value as Json;
    fn text(v: Option<&Json>) -> Value {
        match v {
            Some(Json::String(s)) => Value::from(s.as_str()),
            Some(Json::Number(n)) => Value::from(n.to_string()),
            Some(Json::Bool(b)) => Value::from(b.to_string()),
            _ => Value::from(""),
        }
    }
    fn strings(v: Option<&Json>) -> Value {
        Value::Object(Rc::new(Slice {
            type_name: "[]string",
            items: v
                .and_then(Json::as_array)
                .map(|a| Rc::new(a.iter().map(|x| text(Some(x))).collect())),
        }))
    }
    fn structs(
        type_name: &'static str,
        v: Option<&Json>,
        each: impl Fn(&serde_json::Map<String, Json>) -> Struct,
    ) -> Value {
        Value::Object(Rc::new(Slice {
            type_name,
            items: v.and_then(Json::as_array).map(|a| {
                Rc::new(
                    a.iter()
                        .filter_map(Json::as_object)
                        .map(|m| Value::Object(Rc::new(each(m))))
                        .collect(),
                )
            }),
        }))
    }
    let m = &chart.metadata;
    let s = |k: &str| text(m.get(k));
    let maintainers = structs("[]*chart.Maintainer", m.get("maintainers"), |x| Struct {
        type_name: "*chart.Maintainer",
        pointer: true,
        fields: vec![
            omitempty("Name", "name", text(x.get("name"))),
            omitempty("Email", "email", text(x.get("email"))),
            omitempty("URL", "url", text(x.get("url"))),
        ],
    });
    let dependencies = structs("[]*chart.Dependency", m.get("dependencies"), |d| Struct {
        type_name: "*chart.Dependency",
        pointer: true,
        fields: vec![
            tagged("Name", "name", text(d.get("name"))),
            omitempty("Version", "version", text(d.get("version"))),
            tagged("Repository", "repository", text(d.get("repository"))),
            omitempty("Condition", "condition", text(d.get("condition"))),
            omitempty("Tags", "tags", strings(d.get("tags"))),
            omitempty(
                "Enabled",
                "enabled",
                Value::Bool(d.get("enabled").and_then(Json::as_bool).unwrap_or(false)),
            ),
            omitempty(
                "ImportValues",
                "import-values",
                Value::Object(Rc::new(Slice {
                    type_name: "[]interface {}",
                    items: d.get("import-values").and_then(Json::as_array).map(|a| {
                        Rc::new(
                            a.iter()
                                .map(|x| Value::from_json(x, crate::gotmpl::Numbers::Float64))
                                .collect(),
                        )
                    }),
                })),
            ),
            omitempty("Alias", "alias", text(d.get("alias"))),
        ],
    });
    let annotations = StringMap(m.get("annotations").and_then(Json::as_object).map(|a| {
        let mut e: Vec<(String, Value)> =
            a.iter().map(|(k, v)| (k.clone(), text(Some(v)))).collect();
        e.sort_by(|x, y| x.0.cmp(&y.0));
        e
    }));
    let metadata = Struct {
        type_name: "chart.Metadata",
        pointer: false,
        fields: vec![
            omitempty("Name", "name", Value::from(chart.name.as_str())),
            omitempty("Home", "home", s("home")),
            omitempty("Sources", "sources", strings(m.get("sources"))),
            omitempty("Version", "version", s("version")),
            omitempty("Description", "description", s("description")),
            omitempty("Keywords", "keywords", strings(m.get("keywords"))),
            omitempty("Maintainers", "maintainers", maintainers),
            omitempty("Icon", "icon", s("icon")),
            omitempty("APIVersion", "apiVersion", s("apiVersion")),
            omitempty("Condition", "condition", s("condition")),
            omitempty("Tags", "tags", s("tags")),
            omitempty("AppVersion", "appVersion", s("appVersion")),
            omitempty(
                "Deprecated",
                "deprecated",
                Value::Bool(m.get("deprecated").and_then(Json::as_bool).unwrap_or(false)),
            ),
            omitempty(
                "Annotations",
                "annotations",
                Value::Object(Rc::new(annotations)),
            ),
            omitempty("KubeVersion", "kubeVersion", s("kubeVersion")),
            omitempty("Dependencies", "dependencies", dependencies),
            omitempty("Type", "type", s("type")),
        ],
    };
    Value::Object(Rc::new(Struct {
        type_name: CHART_TYPE,
        pointer: false,
        fields: vec![
            Field {
                name: "Metadata",
                json: None,
                omitempty: false,
                embedded: true,
                value: Value::Object(Rc::new(metadata)),
            },
            untagged("IsRoot", Value::Bool(is_root)),
        ],
    }))
}

/// Go's name of `.Chart`'s type in Helm 3 (`typeOf .Chart`).
pub(crate) const CHART_TYPE: &str = "struct { chart.Metadata; IsRoot bool }";

#[cfg(test)]
mod tests {
    use crate::charts::render::tests::render_files;
    use serde_json::Value as Json;

    fn one(template: &str) -> Result<String, String> {
        let files: &[(&str, &[u8])] = &[
            (
                "app/Chart.yaml",
                b"apiVersion: v2\nname: app\nversion: 1.2.3\n",
            ),
            ("app/templates/t.yaml", template.as_bytes()),
        ];
        render_files(files, Json::Null)
            .map(|o| o[0].output.clone())
            .map_err(|e| e.to_string())
    }

    /// A chart with a fuller Chart.yaml, rendering `template`.
    fn chart(template: &str) -> Result<String, String> {
        let files: &[(&str, &[u8])] = &[
            (
                "app/Chart.yaml",
                b"apiVersion: v2\nname: app\nversion: 1.2.3\nappVersion: \"2.0\"\nkeywords: [a, b]\nannotations: {example.com/images: x, a: b}\nmaintainers: [{name: Ann, email: ann@example.com}]\ndependencies:\n- {name: sub, version: 0.1.0, repository: '', condition: sub.enabled}\n- {name: sub, alias: other, version: 0.1.0, repository: '', tags: [extra]}\n",
            ),
            ("app/values.yaml", b"sub: {enabled: false}\n"),
            ("app/templates/t.yaml", template.as_bytes()),
            (
                "app/charts/sub/Chart.yaml",
                b"apiVersion: v2\nname: sub\nversion: 0.1.0\n",
            ),
            (
                "app/charts/sub/templates/t.yaml",
                b"{{ .Chart.Name }} {{ .Chart.IsRoot }}",
            ),
        ];
        render_files(files, Json::Null)
            .map(|o| {
                o.iter()
                    .find(|r| r.name == "app/templates/t.yaml")
                    .map(|r| r.output.clone())
                    .unwrap_or_default()
            })
            .map_err(|e| e.to_string())
    }

    #[test]
    fn chart_is_helm_3s_struct_of_metadata() {
        let t = |s: &str| chart(s).unwrap();
        assert_eq!(
            t("{{ typeOf .Chart }}"),
            "struct { chart.Metadata; IsRoot bool }"
        );
        assert_eq!(t("{{ kindOf .Chart }}"), "struct");
        assert_eq!(
            t("{{ .Chart.Name }} {{ .Chart.Version }} {{ .Chart.AppVersion }} {{ .Chart.IsRoot }}"),
            "app 1.2.3 2.0 true"
        );
        assert_eq!(t("{{ .Chart.Metadata.Name }}"), "app");
        assert_eq!(t("{{ typeOf .Chart.Metadata }}"), "chart.Metadata");
        // A field Go's struct does not have is an error, not an empty value.
        // Go names the type the value has where it was read: a map's element type,
        // `interface {}`, for `.Chart` of the data map; the struct itself through a variable
        // or `with`; `chart.Metadata` for the embedded struct.
        for (template, in_type) in [
            ("{{ .Chart.Nope }}", "interface {}"),
            (
                "{{ with .Chart }}{{ .Nope }}{{ end }}",
                "struct { chart.Metadata; IsRoot bool }",
            ),
            (
                "{{ $c := .Chart }}{{ $c.Nope }}",
                "struct { chart.Metadata; IsRoot bool }",
            ),
            ("{{ .Chart.Metadata.Nope }}", "chart.Metadata"),
        ] {
            let e = chart(template).unwrap_err();
            assert!(
                e.contains(&format!("can't evaluate field Nope in type {in_type}")),
                "{template}: {e}"
            );
        }
        // Fields Chart.yaml leaves out are Go's zero values.
        assert_eq!(
            t("[{{ .Chart.Home }}] {{ .Chart.Deprecated }} {{ len .Chart.Sources }}"),
            "[] false 0"
        );
        assert_eq!(
            t(
                "{{ typeOf .Chart.Keywords }} {{ len .Chart.Keywords }} {{ index .Chart.Keywords 1 }}"
            ),
            "[]string 2 b"
        );
        assert_eq!(
            t("{{ typeOf .Chart.Annotations }} {{ kindOf .Chart.Annotations }}"),
            "map[string]string map"
        );
        assert_eq!(
            t(
                "{{ index .Chart.Annotations \"example.com/images\" }}|{{ index .Chart.Annotations \"nope\" | quote }}|{{ .Chart.Annotations.a }}"
            ),
            "x|\"\"|b"
        );
        assert_eq!(
            t("{{ range $k, $v := .Chart.Annotations }}{{ $k }}={{ $v }};{{ end }}"),
            "a=b;example.com/images=x;"
        );
        // Sprig's map functions take map[string]interface {}, which it is not.
        assert!(chart("{{ hasKey .Chart.Annotations \"a\" }}").is_err());
        assert_eq!(
            t("{{ range .Chart.Maintainers }}{{ .Name }} <{{ .Email }}>{{ typeOf . }}{{ end }}"),
            "Ann <ann@example.com>*chart.Maintainer"
        );
        // The dependencies Helm kept enabled, an alias as the name.
        assert_eq!(
            t(
                "{{ range .Chart.Dependencies }}{{ .Name }} {{ .Enabled }} {{ .Alias }} {{ .Tags }};{{ end }}"
            ),
            "other true other [extra];"
        );
        assert_eq!(t("{{ typeOf .Chart.Dependencies }}"), "[]*chart.Dependency");
        // toYaml and toJson write Metadata's json tags, omitempty, and IsRoot.
        assert_eq!(
            t("{{ toYaml .Chart }}"),
            "IsRoot: true\nannotations:\n  a: b\n  example.com/images: x\napiVersion: v2\nappVersion: \"2.0\"\ndependencies:\n- alias: other\n  enabled: true\n  name: other\n  repository: \"\"\n  tags:\n  - extra\n  version: 0.1.0\nkeywords:\n- a\n- b\nmaintainers:\n- email: ann@example.com\n  name: Ann\nname: app\nversion: 1.2.3"
        );
        assert_eq!(
            t("{{ toJson .Chart.Maintainers }}"),
            r#"[{"name":"Ann","email":"ann@example.com"}]"#
        );
        assert!(
            t("{{ toJson .Chart }}")
                .starts_with(r#"{"name":"app","version":"1.2.3","keywords":["a","b"],"#)
        );
        assert_eq!(t("{{ if .Chart.Sources }}x{{ else }}none{{ end }}"), "none");
        // .Release is a map; .Template a map too.
        assert_eq!(
            t("{{ typeOf .Release }} {{ kindOf .Template }}"),
            "map[string]interface {} map"
        );
        assert_eq!(t("[{{ .Release.Nope }}]"), "[]");
        assert_eq!(
            t(
                "{{ .Release.Name }} {{ .Release.Namespace }} {{ .Release.IsUpgrade }} {{ .Release.IsInstall }} {{ .Release.Revision }} {{ .Release.Service }}"
            ),
            "demo apps false true 1 Helm"
        );
        assert_eq!(
            t("{{ .Template.Name }} {{ .Template.BasePath }}"),
            "app/templates/t.yaml app/templates"
        );
    }

    #[test]
    fn api_versions_is_a_list_of_strings_with_has() {
        let t = |s: &str| one(s).unwrap();
        // Sprig's `has` takes it as the slice it is (external-secrets' ServiceMonitor gate).
        assert_eq!(
            t(r#"{{ has "apps/v1/Deployment" .Capabilities.APIVersions }}"#),
            "true"
        );
        assert_eq!(
            t(r#"{{ has "monitoring.coreos.com/v1/ServiceMonitor" .Capabilities.APIVersions }}"#),
            "false"
        );
        assert_eq!(
            t(r#"{{ .Capabilities.APIVersions.Has "batch/v1" }}"#),
            "true"
        );
        assert_eq!(t("{{ kindOf .Capabilities.APIVersions }}"), "slice");
        assert_eq!(
            t("{{ typeOf .Capabilities.APIVersions }}"),
            "chartutil.VersionSet"
        );
        assert_eq!(
            t("{{ kindIs \"slice\" .Capabilities.APIVersions }}"),
            "true"
        );
        let n = crate::charts::context::api_versions().len();
        assert_eq!(t("{{ len .Capabilities.APIVersions }}"), n.to_string());
        assert_eq!(t("{{ index .Capabilities.APIVersions 0 }}"), "v1");
        assert_eq!(t("{{ first .Capabilities.APIVersions }}"), "v1");
        assert_eq!(
            t(
                "{{ range $i, $v := .Capabilities.APIVersions }}{{ if lt $i 2 }}{{ $i }}={{ $v }};{{ end }}{{ end }}"
            ),
            "0=v1;1=v1/Pod;"
        );
        assert_eq!(
            t("{{ slice .Capabilities.APIVersions 0 2 | toJson }}"),
            r#"["v1","v1/Pod"]"#
        );
        assert!(t("{{ .Capabilities.APIVersions }}").starts_with("[v1 v1/Pod v1/Service "));
        assert!(t("{{ toJson .Capabilities.APIVersions }}").starts_with(r#"["v1","v1/Pod","#));
        assert_eq!(
            t(r#"{{ without .Capabilities.APIVersions "v1" | first }}"#),
            "v1/Pod"
        );
        assert_eq!(
            t("{{ if .Capabilities.APIVersions }}served{{ end }}"),
            "served"
        );
        // A slice is not comparable, as in Go.
        assert!(one("{{ eq .Capabilities.APIVersions 1 }}").is_err());
    }

    #[test]
    fn capabilities_release_and_kube_version_have_helms_types() {
        let t = |s: &str| one(s).unwrap();
        assert_eq!(t("{{ typeOf .Capabilities }}"), "*chartutil.Capabilities");
        assert_eq!(t("{{ kindOf .Capabilities }}"), "ptr");
        assert!(one("{{ .Capabilities.Nothing }}").is_err());
        assert_eq!(t("{{ .Capabilities.KubeVersion }}"), "v1.33.1+k3s1");
        // Handed to a function it is the struct (no pointer, so no String).
        assert_eq!(
            t("{{ .Capabilities.KubeVersion | quote }}"),
            "\"{v1.33.1+k3s1 1 33}\""
        );
        assert_eq!(
            t("{{ .Capabilities.KubeVersion | toString }}"),
            "{v1.33.1+k3s1 1 33}"
        );
        assert_eq!(t("{{ .Capabilities.KubeVersion.String }}"), "v1.33.1+k3s1");
        assert_eq!(
            t("{{ .Capabilities.KubeVersion.GitVersion }}"),
            "v1.33.1+k3s1"
        );
        assert_eq!(
            t("{{ .Capabilities.KubeVersion.Major }}.{{ .Capabilities.KubeVersion.Minor }}"),
            "1.33"
        );
        assert_eq!(t("{{ kindOf .Capabilities.KubeVersion }}"), "struct");
        assert_eq!(
            t("{{ typeOf .Capabilities.KubeVersion }}"),
            "chartutil.KubeVersion"
        );
        assert_eq!(
            t("{{ .Capabilities.HelmVersion.Version }}"),
            super::context::HELM_VERSION
        );
        assert_eq!(
            t("{{ typeOf .Capabilities.HelmVersion }}"),
            "version.BuildInfo"
        );
        assert_eq!(t("{{ kindOf .Capabilities.HelmVersion }}"), "struct");
        assert!(t("{{ .Capabilities.HelmVersion }}").starts_with("{v3."));
        // .Release is a map, its Revision an int.
        assert_eq!(t("{{ typeOf .Release.Revision }}"), "int");
        assert_eq!(t("{{ printf \"%d\" .Release.Revision }}"), "1");
        assert_eq!(t("{{ kindOf .Release }}"), "map");
        assert_eq!(
            t("{{ .Release.IsInstall }} {{ .Release.Service }}"),
            "true Helm"
        );
    }
}
