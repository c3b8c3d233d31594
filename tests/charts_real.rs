//! Real charts, as their vendors publish them at a tag (`fixtures/charts-real/NAME-VERSION/`:
//! the chart's source, its `SOURCE` and the vendor's own list of the images an install
//! pulls), rendered with their defaults as `helm template` renders them: the images found
//! are the vendor's list, no more and no less.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Every file under `dir`, by path relative to it.
pub fn files_under(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for e in walkdir::WalkDir::new(dir).sort_by_file_name() {
        let e = e.unwrap();
        if e.file_type().is_file() {
            let rel = e
                .path()
                .strip_prefix(dir)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            out.insert(rel, std::fs::read(e.path()).unwrap());
        }
    }
    out
}

/// The images the fixture's chart pulls with its defaults, normalised.
pub fn rendered(fixture: &str, release: &str) -> BTreeSet<String> {
    rendered_with(fixture, release, release, &serde_json::Map::new())
}

/// The images the fixture's chart pulls with `user` values over its defaults, released as
/// `release` in `namespace`, normalised.
fn rendered_with(
    fixture: &str,
    release: &str,
    namespace: &str,
    user: &serde_json::Map<String, serde_json::Value>,
) -> BTreeSet<String> {
    let found = images_of(fixture, release, namespace, user);
    assert!(found.unreadable.is_empty(), "{:?}", found.unreadable);
    found
        .images
        .iter()
        .map(|p| p.reference.to_string())
        .collect()
}

/// What the fixture's chart pulls, released as `release` in `namespace` with `user`'s values.
fn images_of(
    fixture: &str,
    release: &str,
    namespace: &str,
    user: &serde_json::Map<String, serde_json::Value>,
) -> seedforge::charts::pulled::ChartImages {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/charts-real")
        .join(fixture)
        .join("chart");
    let mut chart = seedforge::charts::load::load_files(fixture, files_under(&dir)).unwrap();
    let settings = seedforge::charts::render::Settings {
        release: release.into(),
        namespace: namespace.into(),
        k3s_version: "v1.33.1+k3s1".into(),
    };
    let started = std::time::Instant::now();
    let found = seedforge::charts::pulled::images_of(fixture, &mut chart, user, &settings)
        .unwrap_or_else(|e| panic!("{fixture}: {e}"));
    // Reported, never asserted (BENCHMARKS.md records the figures).
    eprintln!(
        "{fixture}: loaded, rendered and scanned in {:?}",
        started.elapsed()
    );
    found
}

/// The vendor's list (one reference a line, `#` starting a comment), normalised.
fn vendor_list(fixture: &str, file: &str) -> BTreeSet<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/charts-real")
        .join(fixture)
        .join(file);
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| l.split_once(" #").map_or(l, |(r, _)| r).trim())
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| seedforge::image::Reference::parse(l).unwrap().to_string())
        .collect()
}

/// The found set against the vendor's list, with each image the vendor lists that the
/// chart does not pull explained (`not_pulled`): found = expected, no more and no less.
fn judge(name: &str, found: &BTreeSet<String>, expected: &BTreeSet<String>, not_pulled: &[&str]) {
    judge_both(name, found, expected, not_pulled, &[]);
}

/// [`judge`], and each image found that the defaults never pull explained too
/// (`named_unpulled`: named to a workload that pulls it only with other values).
fn judge_both(
    name: &str,
    found: &BTreeSet<String>,
    expected: &BTreeSet<String>,
    not_pulled: &[&str],
    named_unpulled: &[&str],
) {
    let normal = |list: &[&str]| -> BTreeSet<String> {
        list.iter()
            .map(|r| seedforge::image::Reference::parse(r).unwrap().to_string())
            .collect()
    };
    let (not_pulled, named_unpulled) = (normal(not_pulled), normal(named_unpulled));
    let missing: Vec<_> = expected
        .difference(found)
        .filter(|r| !not_pulled.contains(*r))
        .collect();
    let extra: Vec<_> = found
        .difference(expected)
        .filter(|r| !named_unpulled.contains(*r))
        .collect();
    eprintln!(
        "{name}: found {} of {} the vendor lists ({} explained as not pulled by the chart), {} more ({} explained as named, not pulled with the defaults)",
        expected.intersection(found).count(),
        expected.len(),
        not_pulled.len(),
        found.difference(expected).count(),
        named_unpulled.len()
    );
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{name}: missing {missing:?}, extra {extra:?}"
    );
    for r in &not_pulled {
        assert!(
            expected.contains(r) && !found.contains(r),
            "{name}: {r} is no exception"
        );
    }
    for r in &named_unpulled {
        assert!(
            found.contains(r) && !expected.contains(r),
            "{name}: {r} is no exception"
        );
    }
}

/// Longhorn's chart against its deploy/longhorn-images.txt: the manager's, the UI's and the
/// driver deployer's containers, and the images the chart hands the manager and the
/// driver deployer as flags (engine, instance manager, share manager, backing image
/// manager, support bundle kit, the CSI sidecars). `longhorn-cli` is the image of
/// `longhornctl`, the command-line tool run outside the chart (its preflight checks): the
/// chart at v1.12.1 has no value or template naming it (its `questions.yaml` script looks
/// for `image.longhorn.cli`, which `values.yaml` does not have).
#[test]
fn longhorn_pulls_what_its_image_list_names() {
    let found = rendered("longhorn-1.12.1", "longhorn");
    let expected = vendor_list("longhorn-1.12.1", "longhorn-images.txt");
    judge(
        "longhorn 1.12.1",
        &found,
        &expected,
        &["longhornio/longhorn-cli:v1.12.1"],
    );
}

/// cert-manager's chart against the images its release publishes: the controller, the
/// webhook, the CA injector and the startup API check job as containers, the ACME HTTP-01
/// solver as the controller's `--acme-http01-solver-image` flag.
#[test]
fn cert_manager_pulls_its_five_release_images() {
    let found = rendered("cert-manager-1.21.1", "cert-manager");
    let expected = vendor_list("cert-manager-1.21.1", "cert-manager-images.txt");
    judge("cert-manager 1.21.1", &found, &expected, &[]);
}

/// ingress-nginx's chart against the images of the vendor's install manifest
/// (`deploy/static/provider/cloud/deploy.yaml`, made from this chart): the controller and
/// the admission webhook's certificate jobs, pinned by digest.
#[test]
fn ingress_nginx_pulls_what_its_install_manifest_does() {
    let found = rendered("ingress-nginx-4.15.1", "ingress-nginx");
    let expected = vendor_list("ingress-nginx-4.15.1", "ingress-nginx-images.txt");
    judge("ingress-nginx 4.15.1", &found, &expected, &[]);
}

/// k3s's packaged traefik chart, with the values k3s gives it (`k3s-traefik.yaml`: the
/// HelmChart's `valuesContent` and `global.systemDefaultRegistry` left empty), released as
/// k3s releases it (`traefik` in `kube-system`), against the traefik entry of k3s's airgap
/// image list at the same releases: the mirrored image, by the tag the values pin.
#[test]
fn k3s_traefik_pulls_what_k3s_images_lists() {
    let fixture = "traefik-37.1.1+up37.1.0";
    let user = serde_json::json!({
        "deployment": {
            "podAnnotations": {
                "prometheus.io/port": "8082",
                "prometheus.io/scrape": "true"
            }
        },
        "providers": {"kubernetesIngress": {"publishedService": {"enabled": true}}},
        "priorityClassName": "system-cluster-critical",
        "image": {"repository": "rancher/mirrored-library-traefik", "tag": "3.5.1"},
        "tolerations": [
            {"key": "CriticalAddonsOnly", "operator": "Exists"},
            {
                "key": "node-role.kubernetes.io/control-plane",
                "operator": "Exists",
                "effect": "NoSchedule"
            }
        ],
        "service": {"ipFamilyPolicy": "PreferDualStack"},
        "global": {"systemDefaultRegistry": ""}
    });
    let found = rendered_with(fixture, "traefik", "kube-system", user.as_object().unwrap());
    let expected = vendor_list(fixture, "k3s-images.txt");
    judge("k3s traefik 37.1.1+up37.1.0", &found, &expected, &[]);

    // k3s started with --system-default-registry: the chart prefixes the repository with it.
    let mut user = user;
    user["global"]["systemDefaultRegistry"] = "registry.example:5000".into();
    let found = rendered_with(fixture, "traefik", "kube-system", user.as_object().unwrap());
    let expected: BTreeSet<String> =
        ["registry.example:5000/rancher/mirrored-library-traefik:3.5.1".to_string()].into();
    assert_eq!(found, expected);
}

/// kube-prometheus-stack, its subcharts from two other repositories placed as `helm
/// dependency build` places them (kube-state-metrics, prometheus-node-exporter,
/// prometheus-windows-exporter and grafana as archives, the crds subchart as the chart's own
/// folder), each enabled by its `condition`, against the images the vendors' values name for
/// the components enabled by default (`kube-prometheus-stack-images.txt`): the operator's
/// deployment and certificate jobs, the Prometheus and Alertmanager the operator runs for the
/// chart's custom resources, the config reloader the chart hands the operator as a flag,
/// grafana with its sidecar and its `helm test` pod, kube-state-metrics and the node
/// exporter. Thanos is named to the operator as `--thanos-default-base-image`, but the
/// values pull it only "when configured" (a Thanos sidecar or ruler, both off by default).
/// The Windows exporter (`windowsMonitoring.enabled: false`) renders nothing.
#[test]
fn kube_prometheus_stack_pulls_what_its_charts_values_name() {
    let fixture = "kube-prometheus-stack-88.5.3";
    let found = rendered_with(
        fixture,
        "kube-prometheus-stack",
        "monitoring",
        &serde_json::Map::new(),
    );
    let expected = vendor_list(fixture, "kube-prometheus-stack-images.txt");
    judge_both(
        "kube-prometheus-stack 88.5.3",
        &found,
        &expected,
        &[],
        &["quay.io/thanos/thanos:v0.42.4"],
    );

    // A subchart's condition turns it on: the Windows exporter's DaemonSet, its image as its
    // helper makes it (the appVersion, no "v").
    let user = serde_json::json!({"windowsMonitoring": {"enabled": true}});
    let found = rendered_with(
        fixture,
        "kube-prometheus-stack",
        "monitoring",
        user.as_object().unwrap(),
    );
    let more: Vec<_> = found.difference(&expected).collect();
    assert_eq!(
        more,
        [
            "ghcr.io/prometheus-community/windows-exporter:0.31.8",
            "quay.io/thanos/thanos:v0.42.4"
        ]
    );
}

/// The GPU operator's chart against NVIDIA's own air-gap list (`gpu-operator-images.txt`,
/// made by the generator NVIDIA keeps in the repository at the tag): the operator's own
/// deployment and jobs, node-feature-discovery's, and what the operator pulls as named in
/// parts in its `ClusterPolicy` (toolkit, device plugin and GPU feature discovery, DCGM
/// exporter, MIG manager, driver manager, vGPU device manager, confidential computing
/// manager, the KubeVirt and sandbox device plugins, the validator). Not pulled with the
/// defaults: DCGM, GPUDirect Storage (`nvidia-fs`) and GDRCopy (`gdrdrv`), each
/// `enabled: false`, and the DRA driver, rendered only with `gpuCluster.deployCR: true`.
/// The driver is reported apart, completed on the node: the operator appends the node's OS
/// to its tag.
#[test]
fn gpu_operator_pulls_what_nvidias_air_gap_list_names() {
    let fixture = "gpu-operator-v26.7.0";
    let images = images_of(
        fixture,
        "gpu-operator",
        "gpu-operator",
        &serde_json::Map::new(),
    );
    let found: BTreeSet<String> = images.references().iter().map(|r| r.to_string()).collect();
    let by_operator = images
        .images
        .iter()
        .filter(|p| p.how == seedforge::charts::found::How::Operator)
        .count();
    assert!(
        by_operator >= 10,
        "{by_operator} images pulled by the operator"
    );
    let completed: Vec<String> = images
        .completed_on_the_node
        .iter()
        .map(|c| c.written.clone())
        .collect();
    assert_eq!(completed, ["nvcr.io/nvidia/driver:595.91.07"]);
    judge(
        "gpu-operator v26.7.0",
        &found,
        &vendor_list(fixture, "gpu-operator-images.txt"),
        &[
            "nvcr.io/nvidia/cloud-native/dcgm:4.6.0-1-ubuntu24.04",
            "nvcr.io/nvidia/cloud-native/nvidia-fs:2.29.4",
            "nvcr.io/nvidia/cloud-native/gdrdrv:v2.6",
            "nvcr.io/nvidia/dra-driver-nvidia-gpu:v0.5.0",
            "nvcr.io/nvidia/driver:595.91.07",
        ],
    );
}

/// istiod's chart against the two images Istio publishes for a sidecar install, as the
/// chart's values name them (`global.hub` `docker.io/istio`, `pilot.image` and
/// `global.proxy.image`, `global.tag` defaulting to the chart's appVersion): pilot as the
/// deployment's container, proxyv2 as the image the injector puts in every pod it injects
/// (its injection templates, pulled by the operator). One more explained: `busybox:1.28`,
/// the init container of the `grpc-simple` injection template, pulled only for a pod that
/// asks for that template.
#[test]
fn istiod_pulls_pilot_and_injects_proxyv2() {
    let fixture = "istiod-1.30.3";
    let images = images_of(fixture, "istiod", "istio-system", &serde_json::Map::new());
    let found: BTreeSet<String> = images.references().iter().map(|r| r.to_string()).collect();
    assert!(
        images
            .images
            .iter()
            .any(|p| p.how == seedforge::charts::found::How::Operator
                && p.reference.to_string() == "docker.io/istio/proxyv2:1.30.3"),
        "proxyv2 is pulled by the injector"
    );
    let expected = [
        "docker.io/istio/pilot:1.30.3",
        "docker.io/istio/proxyv2:1.30.3",
    ]
    .iter()
    .map(|r| r.to_string())
    .collect();
    judge_both(
        "istiod 1.30.3",
        &found,
        &expected,
        &[],
        &["docker.io/library/busybox:1.28"],
    );
}
