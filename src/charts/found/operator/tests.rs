use super::super::{How, scan};
use super::*;

/// (reference, how, line, resource, field) of what `text` names, and the images completed
/// on the node (written, line, field).
#[allow(clippy::type_complexity)]
fn found(
    text: &str,
) -> (
    Vec<(String, How, usize, String, String)>,
    Vec<(String, usize, String)>,
) {
    let s = scan(text).unwrap();
    (
        s.found
            .into_iter()
            .map(|f| (f.reference.to_string(), f.how, f.line, f.resource, f.field))
            .collect(),
        s.incomplete
            .into_iter()
            .map(|i| (i.written, i.line, i.field))
            .collect(),
    )
}

fn op(
    reference: &str,
    line: usize,
    resource: &str,
    field: &str,
) -> (String, How, usize, String, String) {
    (
        reference.into(),
        How::Operator,
        line,
        resource.into(),
        field.into(),
    )
}

/// The shape of the GPU operator's ClusterPolicy (its chart's `clusterpolicy.yaml`): each
/// component's image as `repository`, `image` and `version`, some switched off.
const CLUSTER_POLICY: &str = "\
apiVersion: nvidia.com/v1
kind: ClusterPolicy
metadata:
  name: cluster-policy
spec:
  validator:
    repository: nvcr.io/nvidia
    image: gpu-operator
    version: \"v26.7.0\"
    driver:
      env: []
  driver:
    enabled: true
    repository: nvcr.io/nvidia
    image: driver
    version: \"595.58.03\"
    manager:
      repository: nvcr.io/nvidia/cloud-native
      image: k8s-driver-manager
      version: \"v0.12.0\"
  vgpuManager:
    enabled: false
    image: vgpu-manager
    driverManager:
      repository: nvcr.io/nvidia/cloud-native
      image: k8s-driver-manager
      version: \"v0.11.0\"
  toolkit:
    enabled: true
    repository: nvcr.io/nvidia/k8s
    image: container-toolkit
    version: v1.20.0
  dcgm:
    enabled: false
    repository: nvcr.io/nvidia/cloud-native
    image: dcgm
    version: 4.6.0-1-ubuntu24.04
  devicePlugin:
    repository: nvcr.io/nvidia
    image: k8s-device-plugin
    version: sha256:1111111111111111111111111111111111111111111111111111111111111111
  gds:
    enabled: true
    repository: nvcr.io/nvidia/cloud-native
    image: nvidia-fs
    version: \"2.29.4\"
  gdrcopy:
    enabled: true
    repository: nvcr.io/nvidia/cloud-native
    image: gdrdrv
    version: sha256:2222222222222222222222222222222222222222222222222222222222222222
";

#[test]
fn a_cluster_policy_names_the_images_of_its_components_in_parts() {
    let (found, completed) = found(CLUSTER_POLICY);
    let cp = "ClusterPolicy/cluster-policy";
    assert_eq!(
        found,
        [
            op(
                "nvcr.io/nvidia/gpu-operator:v26.7.0",
                6,
                cp,
                "spec.validator"
            ),
            op(
                "nvcr.io/nvidia/cloud-native/k8s-driver-manager:v0.12.0",
                17,
                cp,
                "spec.driver.manager"
            ),
            op(
                "nvcr.io/nvidia/k8s/container-toolkit:v1.20.0",
                28,
                cp,
                "spec.toolkit"
            ),
            op(
                "nvcr.io/nvidia/k8s-device-plugin@sha256:1111111111111111111111111111111111111111111111111111111111111111",
                38,
                cp,
                "spec.devicePlugin"
            ),
            // A digest is pulled as it is: the operator appends nothing to it.
            op(
                "nvcr.io/nvidia/cloud-native/gdrdrv@sha256:2222222222222222222222222222222222222222222222222222222222222222",
                47,
                cp,
                "spec.gdrcopy"
            ),
        ]
    );
    // The driver's and GDS's tags get the node's OS on the node: not the image pulled.
    assert_eq!(
        completed,
        [
            (
                "nvcr.io/nvidia/driver:595.58.03".to_string(),
                12,
                "spec.driver".to_string()
            ),
            (
                "nvcr.io/nvidia/cloud-native/nvidia-fs:2.29.4".to_string(),
                42,
                "spec.gds".to_string()
            ),
        ]
    );
    // The same maps in a resource of Kubernetes' own name nothing.
    let builtin = CLUSTER_POLICY.replace("nvidia.com/v1", "v1");
    assert_eq!(found_none(&builtin), (0, 0));
}

fn found_none(text: &str) -> (usize, usize) {
    let s = scan(text).unwrap();
    (s.found.len(), s.incomplete.len())
}

#[test]
fn a_registry_a_repository_and_a_tag_or_a_hub_and_a_tag_name_an_image() {
    let text = "\
apiVersion: example.io/v1
kind: Cache
metadata: {name: c}
spec:
  image:
    registry: docker.io
    repository: bitnami/redis
    tag: 7.2.4-debian-12-r9
  exporter:
    registry: quay.io
    repository: oliver006/redis_exporter
    tag: v1.62.0
    digest: sha256:3333333333333333333333333333333333333333333333333333333333333333
  unset:
    registry: docker.io
    repository: bitnami/redis
    tag: \"\"
---
apiVersion: install.istio.io/v1alpha1
kind: Mesh
metadata: {name: m}
spec:
  pilot:
    hub: docker.io/istio
    tag: 1.29.6
    image: pilot
    variant: distroless
  global:
    hub: docker.io/istio
    tag: 1.29.6-distroless
    variant: debug
    proxy:
      image: proxyv2
    proxy_init:
      image: docker.io/istio/proxyv2:1.29.6
    own:
      hub: other.io/x
      image: y
  nothing:
    hub: docker.io/istio
    tag: 1.29.6
";
    let (found, _) = found(text);
    assert_eq!(
        found,
        [
            op(
                "docker.io/bitnami/redis:7.2.4-debian-12-r9",
                5,
                "Cache/c",
                "spec.image"
            ),
            op(
                "quay.io/oliver006/redis_exporter@sha256:3333333333333333333333333333333333333333333333333333333333333333",
                9,
                "Cache/c",
                "spec.exporter"
            ),
            op(
                "docker.io/istio/pilot:1.29.6-distroless",
                23,
                "Mesh/m",
                "spec.pilot"
            ),
            op(
                "docker.io/istio/proxyv2:1.29.6-debug",
                32,
                "Mesh/m",
                "spec.global.proxy"
            ),
            // A full reference under a hub is the image itself.
            (
                "docker.io/istio/proxyv2:1.29.6".into(),
                How::Resource,
                35,
                "Mesh/m".into(),
                "spec.global.proxy_init.image".into()
            ),
        ]
    );
}

/// Istio's sidecar injector: its templates' containers take `{{ .ProxyImage }}`, which
/// the injector puts together from the values the same ConfigMap holds (`global.hub`,
/// `global.proxy.image`, `global.tag`).
const INJECTOR: &str = r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: istio-sidecar-injector
data:
  values: |-
    {
      "global": {
        "hub": "docker.io/istio",
        "tag": "1.29.6",
        "variant": "",
        "proxy": {"image": "proxyv2", "autoInject": "enabled"},
        "proxy_init": {"image": "proxyv2"}
      },
      "revision": ""
    }
  config: |-
    defaultTemplates: [sidecar]
    templates:
      sidecar: |
        spec:
          {{ if not $nativeSidecar }}
          initContainers:
          {{ end }}
          - name: istio-init
          {{- if contains "/" (annotation .ObjectMeta `sidecar.istio.io/proxyImage` .Values.global.proxy_init.image) }}
            image: {{ annotation .ObjectMeta `sidecar.istio.io/proxyImage` .Values.global.proxy_init.image | quote }}
          {{- else }}
            image: "{{ .ProxyInitImage }}"
          {{- end }}
          containers:
          - name: istio-proxy
            image: "{{ .ProxyImage }}"
"#;

#[test]
fn a_sidecar_injectors_templates_pull_the_image_its_values_name() {
    let (found, _) = found(INJECTOR);
    let cm = "ConfigMap/istio-sidecar-injector";
    assert_eq!(
        found,
        [
            op(
                "docker.io/istio/proxyv2:1.29.6",
                9,
                cm,
                "data.values:global.proxy"
            ),
            op(
                "docker.io/istio/proxyv2:1.29.6",
                9,
                cm,
                "data.values:global.proxy_init"
            ),
        ]
    );
    // Values alone, with no pod template taking them, name nothing.
    let values_only = INJECTOR.split("  config: |-").next().unwrap();
    assert_eq!(found_none(values_only), (0, 0));
}

#[test]
fn a_config_maps_pod_templates_name_the_images_of_their_containers() {
    // A CI server's agent pods (Jenkins's configuration as code): a container's image,
    // bare or not, is one; an `image:` outside a container list is text.
    let text = r#"apiVersion: v1
kind: ConfigMap
metadata: {name: jcasc}
data:
  jcasc.yaml: |-
    jenkins:
      clouds:
      - kubernetes:
          templates:
          - name: "default"
            containers:
            - name: "jnlp"
              image: "docker.io/jenkins/inbound-agent:3283.v92c105e0f819-4"
            - name: tools
              image: busybox:1.36 # the tools
            yaml: |
              spec:
                initContainers:
                  - image: '${AGENT_IMAGE}'
          - name: other
            image: alpine:3.20
"#;
    let (found, _) = found(text);
    assert_eq!(
        found,
        [
            op(
                "docker.io/jenkins/inbound-agent:3283.v92c105e0f819-4",
                13,
                "ConfigMap/jcasc",
                "data[\"jcasc.yaml\"]"
            ),
            op(
                "busybox:1.36",
                15,
                "ConfigMap/jcasc",
                "data[\"jcasc.yaml\"]"
            ),
        ]
        .map(|(r, h, l, res, f)| (
            crate::image::Reference::parse(&r).unwrap().to_string(),
            h,
            l,
            res,
            f
        ))
    );
}

#[test]
fn template_images_reads_container_lists_by_their_lines() {
    let text = "a:\n  containers:\n  - name: x\n    image: \"r.io/a/b:1\"\n  image: c:2\ncontainers: []\nb:\n  initContainers:\n    - image: '{{ .Img }}'\n";
    assert_eq!(
        template_images(text),
        (vec!["r.io/a/b:1".to_string()], true)
    );
    assert_eq!(template_images("image: a:1\n"), (vec![], false));
}

#[test]
fn a_path_finds_its_keys_line_in_block_style() {
    let text = "spec:\n  validator:\n    toolkit:\n      env: []\n  # c\n  {{- if .x }}\n  toolkit:\n    repository: x\n";
    assert_eq!(
        line_of_path(text, &["spec", "toolkit"]),
        Some((7, "  toolkit:".to_string()))
    );
    assert_eq!(
        line_of_path(text, &["spec", "validator", "toolkit"]),
        Some((3, "    toolkit:".to_string()))
    );
    assert_eq!(line_of_path(text, &["spec", "nothing"]), None);
    assert_eq!(
        line_of_path("spec: {toolkit: {a: 1}}\n", &["spec", "toolkit"]),
        None
    );
    assert_eq!(
        line_of_path("\"spec\":\n  'toolkit': 1\n", &["spec", "toolkit"]),
        Some((2, "  'toolkit':".to_string()))
    );
}

#[test]
fn a_variant_replaces_the_type_a_tag_ends_with() {
    assert_eq!(with_variant("1.29.6", None), "1.29.6");
    assert_eq!(with_variant("1.29.6", Some("")), "1.29.6");
    assert_eq!(
        with_variant("1.29.6", Some("distroless")),
        "1.29.6-distroless"
    );
    assert_eq!(
        with_variant("1.29.6-debug", Some("distroless")),
        "1.29.6-distroless"
    );
    assert_eq!(with_variant("1.29.6-distroless", Some("default")), "1.29.6");
}
