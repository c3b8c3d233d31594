use super::*;

#[test]
fn documents_are_split_as_helm_splits_a_manifest() {
    let text = "a: 1\n---\n\n---# only a comment\n---# c\nkind: Pod\nspec:\n  containers:\n  - image: x.io/a:1\n";
    let scan = scan(text).unwrap();
    assert_eq!(scan.found.len(), 1);
    assert_eq!(scan.found[0].line, 9);
}

#[test]
fn a_repeated_key_keeps_its_last_value_as_helm_reads_a_manifest() {
    let text = "kind: Pod\nmetadata:\n  annotations:\n    a: \"1\"\n    a: \"2\"\nspec:\n  containers:\n  - image: x.io/a:1\n    image: x.io/b:2\n";
    let scan = scan(text).unwrap();
    assert_eq!(scan.found.len(), 1);
    assert_eq!(scan.found[0].reference.to_string(), "x.io/b:2");
}

fn found(text: &str) -> Vec<(String, How, usize, String)> {
    scan(text)
        .unwrap()
        .found
        .into_iter()
        .map(|f| (f.reference.to_string(), f.how, f.line, f.resource))
        .collect()
}

#[test]
fn containers_of_every_kind_and_custom_resources_are_found() {
    let text = "\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  template:
    spec:
      initContainers:
        - name: init
          image: busybox:1.36
      containers:
        - name: web
          image: \"registry.example:5000/team/web:2.0\"
          args: [\"--engine-image=longhornio/longhorn-engine:v1.7.0\", \"--listen=0.0.0.0:8080\", \"--name=x\"]
          env:
            - {name: SOLVER, value: quay.io/jetstack/cert-manager-acmesolver:v1.15.0}
            - {name: DB, value: \"postgres.db.svc:5432\"}
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: backup}
spec:
  jobTemplate:
    spec:
      template:
        spec:
          containers:
            - {name: b, image: \"alpine@sha256:0000000000000000000000000000000000000000000000000000000000000000\"}
---
apiVersion: example.io/v1
kind: Thing
metadata: {name: custom}
spec:
  deep:
    podSpec:
      ephemeralContainers:
        - image: ghcr.io/example/dbg:1
";
    let f = found(text);
    assert_eq!(
            f,
            [
                ("docker.io/library/busybox:1.36".into(), How::Container, 9, "Deployment/web".into()),
                ("registry.example:5000/team/web:2.0".into(), How::Container, 12, "Deployment/web".into()),
                ("docker.io/longhornio/longhorn-engine:v1.7.0".into(), How::Argument, 13, "Deployment/web".into()),
                ("quay.io/jetstack/cert-manager-acmesolver:v1.15.0".into(), How::Argument, 15, "Deployment/web".into()),
                (
                    "docker.io/library/alpine@sha256:0000000000000000000000000000000000000000000000000000000000000000".into(),
                    How::Container,
                    27,
                    "CronJob/backup".into()
                ),
                ("ghcr.io/example/dbg:1".into(), How::Container, 36, "Thing/custom".into()),
            ]
        );
}

#[test]
fn a_custom_resource_names_the_image_its_operator_runs() {
    let text = "\
apiVersion: monitoring.coreos.com/v1
kind: Prometheus
metadata: {name: k}
spec:
  image: \"quay.io/prometheus/prometheus:v3.5.0\"
  version: v3.5.0
  thanos:
    image: prometheus
  containers:
    - name: side
      image: ghcr.io/example/side:1
---
apiVersion: example.io/v1
kind: Machine
metadata: {name: m}
spec:
  image: ubuntu-22.04
---
apiVersion: apps/v1
kind: Thing
metadata: {name: builtin}
spec:
  image: nginx:1.25
---
apiVersion: storage.k8s.io/v1
kind: Other
metadata: {name: k8s}
image: nginx:1.25
";
    assert_eq!(
        found(text),
        [
            (
                "quay.io/prometheus/prometheus:v3.5.0".into(),
                How::Resource,
                5,
                "Prometheus/k".into()
            ),
            (
                "ghcr.io/example/side:1".into(),
                How::Container,
                11,
                "Prometheus/k".into()
            ),
        ]
    );
    assert_eq!(How::Resource.to_string(), "a custom resource's image");
}

#[test]
fn config_map_data_and_empty_images_are_reported() {
    let text = "kind: ConfigMap\nmetadata: {name: c}\ndata:\n  images: |\n    engine=docker.io/x/engine:v1\n    url=http://example.com:80/x\n  mode: \"debug:true\"\n---\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n    - name: a\n      image: \"\"\n";
    let s = scan(text).unwrap();
    let f: Vec<_> = s
        .found
        .iter()
        .map(|f| (f.reference.to_string(), f.line))
        .collect();
    assert_eq!(f, [("docker.io/x/engine:v1".to_string(), 5)]);
    assert_eq!(s.unreadable.len(), 1);
    assert_eq!(s.unreadable[0].line, 14);
}

#[test]
fn words_that_are_not_images_are_not_named() {
    for yes in [
        "nginx:1.25",
        "nginx:latest",
        "rancher/klipper-helm:v0.9.3-build20241008",
        "quay.io/a/b:v1",
        "localhost:5000/x:1",
        "x/y:16",
        // Any tag the grammar allows, after a registry or a path.
        "ghcr.io/dapr/daprd:edge",
        "acme/tool:stable",
        "registry.example:5000/team/app:nightly_build",
        "a/b@sha256:0000000000000000000000000000000000000000000000000000000000000000",
    ] {
        assert!(named(yes), "{yes}");
    }
    for no in [
        "host:8080",
        "svc.ns.svc.cluster.local:5432",
        "level:info",
        "http://x:80",
        "/var/lib:x",
        "quay.io/a/b",
        "debug:true",
        "0.0.0.0:8080",
        "ghcr.io/a/b:bad/tag",
        "ghcr.io/a/b:-dash",
    ] {
        assert!(!named(no), "{no}");
    }
}

#[test]
fn a_source_line_is_found_by_its_key() {
    let src = "spec:\n  containers:\n    - image: {{ include \"x\" . }}\n      args:\n        - --side-image={{ .Values.side }}\n";
    assert_eq!(source_line(src, "image:", 0, 1), Some(3));
    assert_eq!(source_line(src, "- --side-image=", 0, 1), Some(5));
    assert_eq!(source_line(src, "value:", 0, 1), None);
}

/// (reference, how, field) of what `text` names.
fn fields(text: &str) -> Vec<(String, How, String)> {
    scan(text)
        .unwrap()
        .found
        .into_iter()
        .map(|f| (f.reference.to_string(), f.how, f.field))
        .collect()
}

#[test]
fn a_plugin_list_in_a_config_map_names_no_image() {
    // Jenkins's plugins.txt: `name:version` words, none an image; a reference with a
    // registry or a path and a tag or digest in the same data still is one.
    let text = "\
apiVersion: v1
kind: ConfigMap
metadata: {name: jenkins}
data:
  plugins.txt: |-
    kubernetes:4203.v1dd44f5b_1cf9
    workflow-aggregator:600.vb_57cdd26fdd7
    git:5.10.1
  apply_config.sh: |-
    echo agent docker.io/jenkins/inbound-agent:3283.v92c105e0f819-4
    crane digest quay.io/x/y@sha256:0000000000000000000000000000000000000000000000000000000000000000
    echo nginx:1.25 redis@sha256:0000000000000000000000000000000000000000000000000000000000000000
";
    let s = scan(text).unwrap();
    let got: Vec<_> = s
        .found
        .iter()
        .map(|f| (f.reference.to_string(), f.how, f.line, f.field.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (
                "docker.io/jenkins/inbound-agent:3283.v92c105e0f819-4".to_string(),
                How::Argument,
                10,
                "data[\"apply_config.sh\"]"
            ),
            (
                "quay.io/x/y@sha256:0000000000000000000000000000000000000000000000000000000000000000"
                    .to_string(),
                How::Argument,
                11,
                "data[\"apply_config.sh\"]"
            ),
        ]
    );
}

#[test]
fn a_bare_word_of_a_container_is_an_image_only_where_its_key_names_one() {
    let text = "\
apiVersion: apps/v1
kind: Deployment
metadata: {name: ci}
spec:
  template:
    spec:
      containers:
        - name: ci
          image: nginx:1.25
          args: [\"--helper-image=busybox:1.36\", \"git:5.10.1\", \"--plugins=git:5.10.1,kubernetes:4203.v1dd44f5b_1cf9\"]
          env:
            - {name: HELPER_IMAGE, value: \"alpine:3.20\"}
            - {name: PLUGINS, value: \"git:5.10.1 workflow-aggregator:600.vb_57cdd26fdd7\"}
            - {name: OPTS, value: \"--image=debian:12.6 --agent=docker.io/jenkins/inbound-agent:3283.v92c105e0f819-4\"}
";
    let c = "spec.template.spec.containers[0]";
    assert_eq!(
        fields(text),
        [
            (
                "docker.io/library/nginx:1.25".into(),
                How::Container,
                format!("{c}.image")
            ),
            (
                "docker.io/library/busybox:1.36".into(),
                How::Argument,
                format!("{c}.args[0]")
            ),
            (
                "docker.io/library/alpine:3.20".into(),
                How::Argument,
                format!("{c}.env[0].value")
            ),
            (
                "docker.io/library/debian:12.6".into(),
                How::Argument,
                format!("{c}.env[2].value")
            ),
            (
                "docker.io/jenkins/inbound-agent:3283.v92c105e0f819-4".into(),
                How::Argument,
                format!("{c}.env[2].value")
            ),
        ]
    );
}

#[test]
fn free_text_names_an_image_only_with_a_registry_or_a_path() {
    for yes in [
        "docker.io/jenkins/inbound-agent:3283.v92c105e0f819-4",
        "quay.io/a/b:v1",
        "localhost:5000/x:1",
        "x/y:16",
        "a/b@sha256:0000000000000000000000000000000000000000000000000000000000000000",
    ] {
        assert!(free(yes), "{yes}");
    }
    for no in [
        "git:5.10.1",
        "workflow-aggregator:600.vb_57cdd26fdd7",
        "kubernetes:4203.v1dd44f5b_1cf9",
        "nginx:1.25",
        "nginx:latest",
        "nginx@sha256:0000000000000000000000000000000000000000000000000000000000000000",
        "quay.io/a/b",
        "http://x.io/a:80",
    ] {
        assert!(!free(no), "{no}");
    }
}

#[test]
fn each_image_names_the_field_it_came_from() {
    let text = "\
apiVersion: batch/v1
kind: CronJob
metadata: {name: backup}
spec:
  jobTemplate:
    spec:
      template:
        spec:
          initContainers:
            - {name: a, image: busybox:1.36}
          containers:
            - {name: b, image: alpine:3.20, command: [sh, -c, \"run registry.example/t/u:1.0\"]}
---
apiVersion: monitoring.coreos.com/v1
kind: Prometheus
metadata: {name: k}
spec:
  image: quay.io/prometheus/prometheus:v3.5.0
";
    let p = "spec.jobTemplate.spec.template.spec";
    assert_eq!(
        fields(text),
        [
            (
                "docker.io/library/busybox:1.36".into(),
                How::Container,
                format!("{p}.initContainers[0].image")
            ),
            (
                "docker.io/library/alpine:3.20".into(),
                How::Container,
                format!("{p}.containers[0].image")
            ),
            (
                "registry.example/t/u:1.0".into(),
                How::Argument,
                format!("{p}.containers[0].command[2]")
            ),
            (
                "quay.io/prometheus/prometheus:v3.5.0".into(),
                How::Resource,
                "spec.image".into()
            ),
        ]
    );
}

#[test]
fn a_key_with_its_indentation_finds_its_own_line_of_the_template() {
    let src = "spec:\n  validator:\n    toolkit:\n      env: []\n  toolkit:\n    repository: x\n";
    // By its name alone, the first line holding it; with its indentation, its own.
    assert_eq!(source_line(src, "toolkit:", 0, 1), Some(3));
    assert_eq!(source_line(src, "  toolkit:", 0, 1), Some(5));
    assert_eq!(key_name("  toolkit:"), Some("  toolkit:".into()));
    assert_eq!(
        key_name("- --engine-image="),
        Some("--engine-image=".into())
    );
    // A template indenting it otherwise: by its name.
    assert_eq!(
        source_line("a:\n      toolkit:\n", "  toolkit:", 0, 1),
        Some(2)
    );
}

#[test]
fn an_env_value_or_list_argument_names_its_own_template_line() {
    let template = "containers:\n  - name: a\n    args:\n      - --level\n      - debug\n      - --helper-image\n      - {{ .Values.helper }}\n    env:\n{{- if .Values.debug }}\n      - name: DEBUG\n        value: \"1\"\n{{- end }}\n      - name: MODE\n        value: {{ .Values.mode }}\n      - name: SIDECAR_IMAGE\n        value: {{ .Values.sidecar }}\n";
    let output = "containers:\n  - name: a\n    args:\n      - --level\n      - debug\n      - --helper-image\n      - busybox:1.36\n    env:\n      - name: MODE\n        value: fast\n      - name: SIDECAR_IMAGE\n        value: ghcr.io/acme/sidecar:edge\n";
    assert_eq!(anchored_line(template, output, 12, "value:"), Some(16));
    assert_eq!(anchored_line(template, output, 7, "-"), Some(7));
    assert_eq!(anchored_line(template, output, 2, "name:"), Some(2));
    // A name on one line of the template is found as before.
    assert_eq!(anchored_line(template, output, 3, "args:"), None);
}

/// An operator's configuration as a custom resource names the images it pulls by fields
/// whose key names an image (zalando's postgres-operator `OperatorConfiguration`:
/// `docker_image`, `logical_backup_docker_image`, `connection_pooler_image`), as its
/// ConfigMap form names them in its data; a disabled section names none, nor does a key
/// naming an image whose value is no reference.
#[test]
fn an_operator_configuration_names_its_images_by_their_keys() {
    let text = "\
apiVersion: acid.zalan.do/v1
kind: OperatorConfiguration
metadata: {name: pg}
configuration:
  docker_image: ghcr.io/pgproj/spilo-17:4.0-p2
  kubernetes: {pod_environment_configmap: '', image_pull_policy: IfNotPresent}
  logical_backup:
    logical_backup_docker_image: ghcr.io/pgproj/logical-backup:v1.14.0
  connection_pooler:
    connection_pooler_image: registry.example/pgproj/pgbouncer:master-32
  debug: {enabled: false, debug_image: ghcr.io/pgproj/debug:1.0}
";
    assert_eq!(
        fields(text),
        [
            (
                "ghcr.io/pgproj/spilo-17:4.0-p2".to_string(),
                How::Resource,
                "configuration.docker_image".to_string()
            ),
            (
                "ghcr.io/pgproj/logical-backup:v1.14.0".to_string(),
                How::Resource,
                "configuration.logical_backup.logical_backup_docker_image".to_string()
            ),
            (
                "registry.example/pgproj/pgbouncer:master-32".to_string(),
                How::Resource,
                "configuration.connection_pooler.connection_pooler_image".to_string()
            ),
        ]
    );
}

/// A ConfigMap naming an image in two keys of one prefix (trivy-operator's
/// `trivy.repository` and `trivy.tag`), or three with a registry, names the image its
/// operator puts together; a prefix switched off, or without a tag, names none.
#[test]
fn a_config_map_names_an_image_in_split_keys() {
    let text = "\
apiVersion: v1
kind: ConfigMap
metadata: {name: scanner-config}
data:
  trivy.repository: \"mirror.example/scanproj/trivy\"
  trivy.tag: \"0.58.2\"
  trivy.dbRepository: \"mirror.example/scanproj/trivy-db\"
  trivy.severity: \"HIGH,CRITICAL\"
  collector.registry: ghcr.io
  collector.repository: scanproj/node-collector
  collector.digest: sha256:1111111111111111111111111111111111111111111111111111111111111111
  old.repository: scanproj/old
  old.tag: \"1.0\"
  old.enabled: \"false\"
  untagged.repository: scanproj/untagged
  git.repository: site
  git.tag: \"1.0\"
  repository: scanproj/bare
  tag: \"1.0\"
";
    let scan = scan(text).unwrap();
    let got: Vec<(String, How, String, Vec<String>, usize)> = scan
        .found
        .into_iter()
        .map(|f| (f.written, f.how, f.field, f.parts, f.line))
        .collect();
    assert_eq!(
        got,
        [
            (
                "mirror.example/scanproj/trivy:0.58.2".to_string(),
                How::Operator,
                "data[\"trivy.repository\"]".to_string(),
                vec!["mirror.example/scanproj/trivy".to_string(), "0.58.2".to_string()],
                5
            ),
            (
                "ghcr.io/scanproj/node-collector@sha256:1111111111111111111111111111111111111111111111111111111111111111".to_string(),
                How::Operator,
                "data[\"collector.repository\"]".to_string(),
                vec![
                    "ghcr.io".to_string(),
                    "scanproj/node-collector".to_string(),
                    "sha256:1111111111111111111111111111111111111111111111111111111111111111".to_string()
                ],
                9
            ),
        ]
    );
}
