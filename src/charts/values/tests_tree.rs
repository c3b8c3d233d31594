//! The check against a whole chart as Helm loads it: `global`, subcharts under their names
//! and aliases, the paths templates read, and the release's values against the schemas.

use super::*;
use crate::charts::load::tests::tgz;

/// The files of a chart archive holding `files` (paths under the chart's folder).
fn archive(files: &[(&str, &str)]) -> ChartFiles {
    let entries: Vec<(String, Vec<u8>)> = files
        .iter()
        .map(|(p, t)| (p.to_string(), t.as_bytes().to_vec()))
        .collect();
    let refs: Vec<(&str, &[u8])> = entries
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_slice()))
        .collect();
    chart_files("demo", &tgz(&refs)).unwrap()
}

fn run(files: &ChartFiles, text: &str) -> Result<(), String> {
    check("demo", Path::new("v.yaml"), text, files).map_err(|e| e.to_string())
}

/// One of seedforge's own charts (`fixtures/charts-own/`) as the archive Helm packages.
fn own(fixture: &str, name: &str) -> ChartFiles {
    fn walk(dir: &Path, rel: &str, out: &mut Vec<(String, Vec<u8>)>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap())
            .collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let name = e.file_name().to_string_lossy().into_owned();
            let path = format!("{rel}/{name}");
            if e.file_type().unwrap().is_dir() {
                walk(&e.path(), &path, out);
            } else {
                out.push((path, std::fs::read(e.path()).unwrap()));
            }
        }
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/charts-own")
        .join(fixture)
        .join("chart");
    let mut files = Vec::new();
    walk(&dir, name, &mut files);
    let refs: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_slice()))
        .collect();
    chart_files(name, &tgz(&refs)).unwrap()
}

/// prometheus-style: the parent has no `global`, its subchart reads
/// `global.imageRegistry` and has it in its values.
fn parent_without_global() -> ChartFiles {
    archive(&[
        (
            "app/Chart.yaml",
            "apiVersion: v2\nname: app\nversion: 1.0.0\ndependencies:\n  - name: prometheus\n    version: 1.0.0\n    condition: prometheus.enabled\n",
        ),
        (
            "app/values.yaml",
            "replicaCount: 1\nprometheus:\n  enabled: true\n",
        ),
        (
            "app/templates/cm.yaml",
            "kind: ConfigMap\ndata:\n  n: \"{{ .Values.replicaCount }}\"\n",
        ),
        (
            "app/charts/prometheus/Chart.yaml",
            "apiVersion: v2\nname: prometheus\nversion: 1.0.0\n",
        ),
        (
            "app/charts/prometheus/values.yaml",
            "global:\n  imageRegistry: \"\"\nimage:\n  repository: prom/prometheus\n",
        ),
        (
            "app/charts/prometheus/templates/_helpers.tpl",
            "{{- define \"reg\" -}}{{ .Values.global.imageRegistry | default \"docker.io\" }}{{- end }}\n{{- define \"secrets\" -}}{{ toYaml $.Values.global.imagePullSecrets }}{{- end }}\n",
        ),
        (
            "app/charts/prometheus/templates/sts.yaml",
            "kind: StatefulSet\nimage: {{ include \"reg\" . }}/{{ .Values.image.repository }}\n",
        ),
    ])
}

#[test]
fn global_is_known_at_every_chart_top_with_what_any_chart_of_the_tree_says_of_it() {
    let files = parent_without_global();
    // Before: "global is not a value of chart demo" (the parent's values have none).
    run(&files, "global:\n  imageRegistry: mirror.example:5000\n").unwrap();
    run(&files, "global: {}\n").unwrap();
    // Read by a helper of the subchart, whole.
    run(&files, "global:\n  imagePullSecrets:\n    - name: pull\n").unwrap();
    run(
        &files,
        "prometheus:\n  global:\n    imageRegistry: r.example\n",
    )
    .unwrap();
    let err = run(&files, "global:\n  imageRegistri: x\n").unwrap_err();
    assert!(
        err.starts_with("v.yaml:2:3: global.imageRegistri is not a value of chart demo"),
        "{err}"
    );
    assert!(
        err.contains("closest the chart has: global.imageRegistry"),
        "{err}"
    );
    // Nothing of a one-chart tree says anything of global: the key is known, its keys not.
    let lone = archive(&[
        (
            "solo/Chart.yaml",
            "apiVersion: v2\nname: solo\nversion: 1.0.0\n",
        ),
        ("solo/values.yaml", "a: 1\n"),
    ]);
    run(&lone, "global: {}\n").unwrap();
    let err = run(&lone, "global:\n  imageRegistry: x\n").unwrap_err();
    assert!(err.contains("global.imageRegistry is not a value"), "{err}");
}

/// falco-style: the parent's values hold a few keys of the subchart; the subchart's own
/// values hold the rest.
fn falco() -> ChartFiles {
    archive(&[
        (
            "falco/Chart.yaml",
            "apiVersion: v2\nname: falco\nversion: 4.0.0\ndependencies:\n  - name: falcosidekick\n    version: 0.7.0\n    condition: falcosidekick.enabled\n  - name: redis\n    alias: cache\n    version: 1.0.0\n",
        ),
        (
            "falco/values.yaml",
            "driver:\n  kind: modern_ebpf\nfalcosidekick:\n  enabled: false\n  fullfqdn: false\n",
        ),
        (
            "falco/charts/falcosidekick/Chart.yaml",
            "apiVersion: v2\nname: falcosidekick\nversion: 0.7.0\n",
        ),
        (
            "falco/charts/falcosidekick/values.yaml",
            "replicaCount: 2\nwebui:\n  enabled: false\n  replicaCount: 1\n",
        ),
        (
            "falco/charts/redis/Chart.yaml",
            "apiVersion: v2\nname: redis\nversion: 1.0.0\n",
        ),
        ("falco/charts/redis/values.yaml", "port: 6379\n"),
    ])
}

#[test]
fn a_subcharts_keys_are_judged_by_its_own_values_under_its_name_or_alias() {
    let files = falco();
    // Before: "falcosidekick.webui is not a value of chart demo".
    run(
        &files,
        "falcosidekick:\n  enabled: true\n  webui:\n    enabled: true\n    replicaCount: 2\ncache:\n  port: 6380\n",
    )
    .unwrap();
    let err = run(&files, "falcosidekick:\n  webui:\n    replicas: 2\n").unwrap_err();
    assert!(
        err.starts_with(
            "v.yaml:3:5: falcosidekick.webui.replicas is not a value of chart demo's subchart falcosidekick (its values.yaml has no webui.replicas"
        ),
        "{err}"
    );
    assert!(
        err.contains("closest the chart has: falcosidekick.webui.replicaCount"),
        "{err}"
    );
    // A subchart's values are a map: Helm refuses anything else (before: passed).
    let err = run(&files, "falcosidekick: true\n").unwrap_err();
    assert_eq!(
        err,
        "v.yaml: falcosidekick is the subchart falcosidekick's values, a map, but it is set to true: Helm refuses to install chart demo (\"type mismatch on falcosidekick\")"
    );
    // The parent's keys of the subchart count as well as the subchart's own.
    run(&files, "falcosidekick:\n  fullfqdn: true\n").unwrap();
    let err = run(&files, "cache:\n  prot: 1\n").unwrap_err();
    assert!(err.contains("closest the chart has: cache.port"), "{err}");
    // Under its chart name, an aliased dependency is no key.
    let err = run(&files, "redis:\n  port: 1\n").unwrap_err();
    assert!(err.contains("redis is not a value of chart demo"), "{err}");
}

#[test]
fn platform_keys_of_its_aliased_subcharts_are_the_workers() {
    let files = own("platform-3.0.0", "platform");
    let started = std::time::Instant::now();
    // The parent's ingest block has no `service`; the worker's own values do.
    run(
        &files,
        "global:\n  imageRegistry: mirror.example:5000\ningest:\n  service:\n    port: 9100\nexport:\n  enabled: true\nstore:\n  persistence:\n    size: 2Gi\n",
    )
    .unwrap();
    eprintln!("platform checked in {:?}", started.elapsed());
    let err = run(&files, "ingest:\n  servce:\n    port: 1\n").unwrap_err();
    assert!(
        err.contains("ingest.servce is not a value of chart demo's subchart ingest"),
        "{err}"
    );
    assert!(err.contains("ingest.service"), "{err}");
    // Under its chart name, an aliased dependency is no key.
    let err = run(&files, "worker:\n  replicas: 2\n").unwrap_err();
    assert!(err.contains("worker is not a value of chart demo"), "{err}");
}

/// istio-style: the defaults hide under `_internal_defaults_do_not_set`; the templates read
/// `.Values.global.hub` once the profile merge has run.
fn istiod() -> ChartFiles {
    archive(&[
        (
            "istiod/Chart.yaml",
            "apiVersion: v2\nname: istiod\nversion: 1.24.0\n",
        ),
        (
            "istiod/values.yaml",
            "_internal_defaults_do_not_set:\n  global:\n    tag: 1.24.0\n  pilot:\n    image: pilot\n",
        ),
        (
            "istiod/templates/zzz_profile.yaml",
            "{{- $defaults := $.Values._internal_defaults_do_not_set }}\n{{- $_ := set $ \"Values\" (mustMergeOverwrite (deepCopy $defaults) $.Values) }}\n",
        ),
        (
            "istiod/templates/deployment.yaml",
            "{{- with .Values.pilot }}\nimage: \"{{ $.Values.global.hub }}/{{ .image }}:{{ $.Values.global.tag }}\"\nresources: {{ toYaml .resources }}\n{{- end }}\n{{ if (index .Values \"meshConfig\" \"enablePrometheusMerge\") }}x{{ end }}\n",
        ),
    ])
}

#[test]
fn a_key_a_template_reads_is_known() {
    let files = istiod();
    // Before: "global is not a value of chart demo … Helm would ignore it".
    run(
        &files,
        "global:\n  hub: mirror.example:5000/istio\n  tag: 1.24.1\npilot:\n  image: pilot\n  resources:\n    requests:\n      cpu: 10m\nmeshConfig:\n  enablePrometheusMerge: false\n",
    )
    .unwrap();
    let err = run(&files, "global:\n  hubb: x\n").unwrap_err();
    assert!(
        err.starts_with("v.yaml:2:3: global.hubb is not a value of chart demo (its values.yaml has no global.hubb, and no template of it reads it): Helm would ignore it"),
        "{err}"
    );
    assert!(err.contains("closest the chart has: global.hub"), "{err}");
    let err = run(&files, "pilot:\n  imag: x\n").unwrap_err();
    assert!(err.contains("closest the chart has: pilot.image"), "{err}");
    // A value a template uses whole (`toYaml`) takes any key below it.
    let resources = archive(&[
        ("r/Chart.yaml", "apiVersion: v2\nname: r\nversion: 1.0.0\n"),
        ("r/values.yaml", "resources:\n  limits:\n    cpu: 1\n"),
        (
            "r/templates/d.yaml",
            "resources: {{- toYaml .Values.resources | nindent 2 }}\n",
        ),
    ]);
    run(&resources, "resources:\n  requests:\n    cpu: 1\n").unwrap();
}

/// external-dns 1.21: `policy` is required and has no default.
const EXTERNAL_DNS_SCHEMA: &str = r#"{
  "$schema": "http://json-schema.org/draft-07/schema#",
  "type": "object",
  "required": ["policy"],
  "additionalProperties": true,
  "properties": {
    "policy": {"type": "string", "enum": ["create-only", "sync", "upsert-only"]},
    "interval": {"type": "string"}
  }
}"#;

fn external_dns() -> ChartFiles {
    archive(&[
        (
            "external-dns/Chart.yaml",
            "apiVersion: v2\nname: external-dns\nversion: 1.21.1\n",
        ),
        ("external-dns/values.yaml", "interval: 1m\npolicy:\n"),
        ("external-dns/values.schema.json", EXTERNAL_DNS_SCHEMA),
        (
            "external-dns/templates/d.yaml",
            "args: [--policy={{ .Values.policy }}, --interval={{ .Values.interval }}]\n",
        ),
    ])
}

#[test]
fn the_release_values_must_meet_the_schema_as_helm_checks_them() {
    let files = external_dns();
    // Before: nothing refused (the schema was read for key names only).
    let err = check_defaults("dns", &files).unwrap_err().to_string();
    assert!(
        err.starts_with("chart dns (no values file, the chart's defaults): values don't meet the specifications of the schema(s) in the following chart(s), so Helm would refuse to install chart dns:\nexternal-dns:\n- at 'policy': "),
        "{err}"
    );
    assert!(err.contains("want string, but got null"), "{err}");
    let err = run(&files, "interval: 2m\n").unwrap_err();
    assert!(err.starts_with("v.yaml: values don't meet"), "{err}");
    assert!(
        err.contains("- at 'policy': want string, but got null"),
        "{err}"
    );
    // Set to nothing, it is removed: missing.
    let err = run(&files, "policy: null\n").unwrap_err();
    assert!(
        err.contains("- at '': missing properties 'policy'"),
        "{err}"
    );
    let err = run(&files, "policy: delete-all\n").unwrap_err();
    assert!(err.contains("- at 'policy': value must be one of"), "{err}");
    run(&files, "policy: sync\n").unwrap();
    assert!(
        check(
            "dns",
            Path::new("v.yaml"),
            "interval: 5\npolicy: sync\n",
            &files
        )
        .unwrap_err()
        .is_invalid_input()
    );
}

#[test]
fn each_kept_subchart_is_checked_against_its_own_schema_with_its_own_values() {
    let sub_schema = r#"{"type": "object", "properties": {"port": {"type": "integer", "minimum": 1}, "global": {"type": "object"}}, "additionalProperties": false}"#;
    let files = archive(&[
        (
            "app/Chart.yaml",
            "apiVersion: v2\nname: app\nversion: 1.0.0\ndependencies:\n  - name: db\n    alias: store\n    version: 1.0.0\n  - name: db\n    alias: spare\n    version: 1.0.0\n    condition: spare.enabled\n",
        ),
        ("app/values.yaml", "spare:\n  enabled: false\n  port: 0\n"),
        (
            "app/charts/db/Chart.yaml",
            "apiVersion: v2\nname: db\nversion: 1.0.0\n",
        ),
        ("app/charts/db/values.yaml", "port: 5432\n"),
        ("app/charts/db/values.schema.json", sub_schema),
    ]);
    run(&files, "store:\n  port: 5433\n").unwrap();
    let err = run(&files, "store:\n  port: 0\n").unwrap_err();
    assert!(
        err.contains("\nstore:\n- at 'store.port': must be >=1, but got 0"),
        "{err}"
    );
    // A disabled dependency is not checked (Helm removes it first), though its values
    // break its schema (`spare.enabled`, `spare.port: 0`).
    assert!(!err.contains("spare"), "{err}");
    let err = run(&files, "spare:\n  enabled: true\n").unwrap_err();
    assert!(err.contains("\nspare:\n- at 'spare"), "{err}");
    assert!(
        err.contains("- at 'spare': additionalProperties 'enabled' not allowed"),
        "{err}"
    );
    assert!(
        err.contains("- at 'spare.port': must be >=1, but got 0"),
        "{err}"
    );
}

#[test]
fn a_schema_referring_outside_the_chart_is_refused_naming_what_it_fetches() {
    let schema = r##"{"type": "object", "properties": {
        "controller": {"$ref": "https://raw.githubusercontent.com/nginxinc/kubernetes-json-schema/master/v1.33.0/_definitions.json#/definitions/io.k8s.api.core.v1.Container"},
        "extra": {"$ref": "file:///schemas/extra.json"},
        "local": {"$ref": "#/definitions/port"},
        "urn": {"$ref": "urn:example:anything"}
    }, "definitions": {"port": {"type": "integer"}}}"##;
    let files = archive(&[
        (
            "nginx-ingress/Chart.yaml",
            "apiVersion: v2\nname: nginx-ingress\nversion: 2.0.0\n",
        ),
        (
            "nginx-ingress/values.yaml",
            "controller: {}\nextra: {}\nlocal: 1\nurn: 1\n",
        ),
        ("nginx-ingress/values.schema.json", schema),
    ]);
    let err = check_defaults("ingress", &files).unwrap_err().to_string();
    assert!(
        err.starts_with("chart ingress (no values file, the chart's defaults): nginx-ingress/values.schema.json refers to https://raw.githubusercontent.com/nginxinc/kubernetes-json-schema/master/v1.33.0/_definitions.json, file:///schemas/extra.json: Helm fetches"),
        "{err}"
    );
    assert!(err.contains("an air-gapped node cannot reach it"), "{err}");
    assert!(!err.contains("urn:"), "{err}");
    // The same schema with its references inside it passes.
    let inside = archive(&[
        ("c/Chart.yaml", "apiVersion: v2\nname: c\nversion: 1.0.0\n"),
        ("c/values.yaml", "local: 1\nurn: 2\n"),
        (
            "c/values.schema.json",
            r##"{"properties": {"local": {"$ref": "#/definitions/port"}, "urn": {"$ref": "urn:x"}}, "definitions": {"port": {"type": "integer"}}}"##,
        ),
    ]);
    check_defaults("c", &inside).unwrap();
}

#[test]
fn the_own_charts_defaults_meet_their_schemas_and_webapps_keys_follow_its_refs() {
    for (fixture, name) in [
        ("webapp-1.2.0", "webapp"),
        ("platform-3.0.0", "platform"),
        ("mesh-1.5.0", "mesh"),
        ("accel-operator-2.0.0", "accel-operator"),
        ("yaml-quoting-2.0.0", "yaml-quoting"),
    ] {
        let files = own(fixture, name);
        let started = std::time::Instant::now();
        check_defaults(name, &files).unwrap_or_else(|e| panic!("{fixture}: {e}"));
        eprintln!("{fixture}: defaults checked in {:?}", started.elapsed());
    }
    let files = own("webapp-1.2.0", "webapp");
    run(
        &files,
        "global:\n  imageRegistry: mirror.example:5000\nhelper:\n  image:\n    tag: \"2.1\"\n",
    )
    .unwrap();
    // The schema's properties are `$ref`s to its definitions, one of them a `$ref` again
    // (`pullPolicy`): followed, their constraints hold.
    let err = run(&files, "helper:\n  image:\n    digest: md5:0f\n").unwrap_err();
    assert!(
        err.contains("\nwebapp:\n- at 'helper.image.digest': 'md5:0f' does not match pattern"),
        "{err}"
    );
    let err = run(&files, "image:\n  pullPolicy: Sometimes\n").unwrap_err();
    assert!(
        err.contains("\nwebapp:\n- at 'image.pullPolicy': value must be one of 'Always', 'IfNotPresent', 'Never'"),
        "{err}"
    );
    let err = run(&files, "replicaCount: many\n").unwrap_err();
    assert!(
        err.contains("\nwebapp:\n- at 'replicaCount': want integer, but got string"),
        "{err}"
    );
    let err = run(&files, "replicaCont: 3\n").unwrap_err();
    assert!(err.contains("closest the chart has: replicaCount"), "{err}");
}

#[test]
fn mesh_values_under_its_merged_defaults_pass() {
    let files = own("mesh-1.5.0", "mesh");
    // The keys live under `_defaults` in values.yaml; the templates read them at the top.
    run(
        &files,
        "profile: minimal\nglobal:\n  hub: mirror.example:5000/meshproj\n  proxy:\n    image: proxy\npilot:\n  replicas: 2\n",
    )
    .unwrap();
}
