//! The `HelmChart` (`helm.cattle.io/v1`) manifest k3s's helm-controller installs a chart
//! from: the chart is served by the k3s API server itself from
//! `/var/lib/rancher/k3s/server/static/charts/NAME.tgz` (the `%{KUBERNETES_API}%` URL), so
//! no repository is needed on the air-gapped side. The fields are those of
//! helm-controller's CRD (`spec.chart`, `spec.version`, `spec.targetNamespace`,
//! `spec.createNamespace`, `spec.valuesContent`).

use super::ChartConfig;

/// Where k3s serves static files from, on a server.
pub const STATIC_CHARTS: &str = "/var/lib/rancher/k3s/server/static/charts";
/// Where k3s applies manifests from at start, on a server.
pub const SERVER_MANIFESTS: &str = "/var/lib/rancher/k3s/server/manifests";

/// The chart's URL as helm-controller reaches it through the k3s API server.
pub fn static_url(chart: &ChartConfig) -> String {
    format!(
        "https://%{{KUBERNETES_API}}%/static/charts/{}.tgz",
        chart.name.as_str()
    )
}

/// A YAML double-quoted scalar that every YAML reader reads back as exactly `s`. JSON's
/// string syntax is YAML's, but JSON leaves characters raw that YAML does not take as
/// written: NEL (U+0085), LINE SEPARATOR (U+2028) and PARAGRAPH SEPARATOR (U+2029) are
/// line breaks to YAML 1.1 readers (PyYAML, go-yaml), which fold them inside a quoted
/// scalar; DEL, the C1 controls, U+FEFF, U+FFFE and U+FFFF are not printable YAML
/// characters, which a reader refuses or drops. Each is written as its `\uXXXX` escape,
/// which YAML (and JSON) read as the character itself.
pub fn quoted(s: &str) -> String {
    let json = serde_json::to_string(s).unwrap_or_default();
    if !json.chars().any(needs_escape) {
        return json;
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if needs_escape(c) {
            out.push_str(&format!("\\u{:04X}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out
}

/// Whether JSON leaves `c` raw where a YAML reader would not read it as written.
fn needs_escape(c: char) -> bool {
    matches!(
        c,
        '\u{7F}'..='\u{9F}' | '\u{2028}' | '\u{2029}' | '\u{FEFF}' | '\u{FFFE}' | '\u{FFFF}'
    )
}

/// The manifest for `chart`, with `values` (the values file's text) as `valuesContent`.
/// The HelmChart lives in `kube-system`, where k3s's own charts are; the chart installs
/// into its `namespace`, created when missing.
pub fn manifest(chart: &ChartConfig, values: Option<&str>) -> String {
    let mut out = format!(
        "# Written by seedforge: k3s installs the chart {chart} {version} from {url}.\napiVersion: helm.cattle.io/v1\nkind: HelmChart\nmetadata:\n  name: {name}\n  namespace: kube-system\nspec:\n  chart: {url_q}\n  version: {version_q}\n  targetNamespace: {ns}\n  createNamespace: true\n",
        chart = chart.chart,
        version = chart.version,
        url = static_url(chart),
        name = quoted(chart.name.as_str()),
        url_q = quoted(&static_url(chart)),
        version_q = quoted(&chart.version),
        ns = quoted(&chart.namespace),
    );
    if let Some(values) = values {
        out.push_str(&format!("  valuesContent: {}\n", quoted(values)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::charts::ChartRepo;
    use crate::input::Location;

    #[test]
    fn the_manifest_names_the_static_url_version_namespace_and_values() {
        let chart = ChartConfig {
            name: crate::vocab::DnsLabel::parse("demo").unwrap(),
            repo: ChartRepo::Http("https://charts.example".into()),
            chart: "demo-app".into(),
            version: "1.2.3".into(),
            namespace: "apps".into(),
            values: None,
            images: None,
            location: Location { line: 1, column: 1 },
        };
        let text = manifest(&chart, Some("replicaCount: 2\nname: \"x\"\n"));
        let doc: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
        assert_eq!(doc["apiVersion"], "helm.cattle.io/v1");
        assert_eq!(doc["kind"], "HelmChart");
        assert_eq!(doc["metadata"]["name"], "demo");
        assert_eq!(
            doc["spec"]["chart"],
            "https://%{KUBERNETES_API}%/static/charts/demo.tgz"
        );
        assert_eq!(doc["spec"]["version"], "1.2.3");
        assert_eq!(doc["spec"]["targetNamespace"], "apps");
        assert_eq!(
            doc["spec"]["valuesContent"],
            "replicaCount: 2\nname: \"x\"\n"
        );
        assert!(manifest(&chart, None).find("valuesContent").is_none());
    }

    #[test]
    fn line_breaks_of_yaml_1_1_and_unprintable_characters_are_escaped() {
        let text = "a: 1 # x\u{85}y\u{2028}z\u{2029}w\u{7f}\u{9b}\u{feff}\u{ffff}\né: \"\\\"\t\n";
        let written = quoted(text);
        assert!(
            !written.contains([
                '\u{85}', '\u{2028}', '\u{2029}', '\u{7f}', '\u{9b}', '\u{feff}'
            ]),
            "{written}"
        );
        assert!(
            written.contains(r"\u0085") && written.contains(r"\u2028"),
            "{written}"
        );
        assert!(
            written.contains('é'),
            "printable characters stay as written"
        );
        let back: String = serde_saphyr::from_str(&written).unwrap();
        assert_eq!(back, text);
        let json: String = serde_json::from_str(&written).unwrap();
        assert_eq!(json, text);
        assert_eq!(quoted("plain"), "\"plain\"");
    }
}
