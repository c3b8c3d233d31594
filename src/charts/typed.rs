//! The values Helm gives templates besides `.Values` and `.Files`, with the Go types
//! templates see (Helm 3's `chartutil`): `.Capabilities` is a `*chartutil.Capabilities`
//! (a pointer to a struct: its fields, no others), its `APIVersions` a
//! `chartutil.VersionSet` (a `[]string` with a `Has` method: `has`, `len`, `range`,
//! `index` and every list function take it, `kindOf` is `slice`), its `KubeVersion` a
//! `chartutil.KubeVersion` (`Version`, `Major`, `Minor`, and `GitVersion` and `String`,
//! printed as its version), its `HelmVersion` a `version.BuildInfo`; `.Release` is a
//! `map[string]interface {}` whose `Revision` is an `int`.

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

/// A Go struct of string fields, in their declared order: printed `{a b c}` (or `&{…}`
/// behind a pointer); a field it does not have is an error, as in Go.
pub(crate) struct Struct {
    type_name: &'static str,
    pointer: bool,
    fields: Vec<(&'static str, Value)>,
}

impl Object for Struct {
    fn type_name(&self) -> String {
        self.type_name.into()
    }
    fn field(&self, name: &str) -> Option<Value> {
        self.fields
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
    }
    fn kind(&self) -> &'static str {
        if self.pointer { "ptr" } else { "struct" }
    }
    fn to_text(&self) -> String {
        let inner: Vec<String> = self.fields.iter().map(|(_, v)| v.to_text()).collect();
        format!(
            "{}{{{}}}",
            if self.pointer { "&" } else { "" },
            inner.join(" ")
        )
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
        fields: ["Version", "GitCommit", "GitTreeState", "GoVersion"]
            .into_iter()
            .map(|f| (f, Value::from(s(&format!("/HelmVersion/{f}")))))
            .collect(),
    };
    Value::Object(Rc::new(Struct {
        type_name: "*chartutil.Capabilities",
        pointer: true,
        fields: vec![
            ("KubeVersion", Value::Object(Rc::new(kube))),
            (
                "APIVersions",
                Value::Object(Rc::new(ApiVersions::new(context::release_api_versions(
                    chart,
                )))),
            ),
            ("HelmVersion", Value::Object(Rc::new(helm))),
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
