//! seedforge's own charts (`fixtures/charts-own/NAME-VERSION/chart/`, each with a `SOURCE`
//! naming the constructs it reproduces), rendered as `helm template` renders them: the
//! images found, each with how it was found, are the facts written down here, no more and
//! no less. The charts' documents themselves are judged by Helm's engine
//! (`tests/helm_judge.rs`); these tests judge what seedforge reads out of them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use serde_json::{Map, Value, json};
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

/// The folder of an own chart.
pub fn chart_dir(fixture: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/charts-own")
        .join(fixture)
        .join("chart")
}

/// What the fixture's chart pulls, released as `release` in `namespace` with `user`'s values.
fn images_of(
    fixture: &str,
    release: &str,
    namespace: &str,
    user: &Value,
) -> seedforge::charts::pulled::ChartImages {
    let mut chart =
        seedforge::charts::load::load_files(fixture, files_under(&chart_dir(fixture))).unwrap();
    let settings = seedforge::charts::render::Settings {
        release: release.into(),
        namespace: namespace.into(),
        k3s_version: "v1.33.1+k3s1".into(),
    };
    let user: &Map<String, Value> = user.as_object().unwrap();
    let started = std::time::Instant::now();
    let found = seedforge::charts::pulled::images_of(fixture, &mut chart, user, &settings)
        .unwrap_or_else(|e| panic!("{fixture}: {e}"));
    // Reported, never asserted (BENCHMARKS.md records the figures).
    eprintln!(
        "{fixture}: loaded, rendered and scanned in {:?}",
        started.elapsed()
    );
    assert!(found.unreadable.is_empty(), "{:?}", found.unreadable);
    found
}

/// Each image found as `how: reference` (the reference normalised), once.
fn facts(found: &seedforge::charts::pulled::ChartImages) -> BTreeSet<String> {
    found
        .images
        .iter()
        .map(|p| format!("{}: {}", p.how, p.reference))
        .collect()
}

/// `expected` (`how: reference`, references as written) against what was found.
fn judge(name: &str, found: &seedforge::charts::pulled::ChartImages, expected: &[&str]) {
    let expected: BTreeSet<String> = expected
        .iter()
        .map(|e| {
            let (how, r) = e.split_once(": ").unwrap();
            let r = seedforge::image::Reference::parse(r).unwrap();
            format!("{how}: {r}")
        })
        .collect();
    let found = facts(found);
    let missing: Vec<_> = expected.difference(&found).collect();
    let extra: Vec<_> = found.difference(&expected).collect();
    eprintln!("{name}: {} images found", found.len());
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{name}: missing {missing:?}, extra {extra:?}"
    );
}

/// webapp on its library chart: the server's image from its parts (the tag the
/// appVersion), the helper's as an argument, the metrics sidecar's in a variable of
/// `extraEnv` (a template of YAML in the values), the backup's and its uploader's in a
/// CronJob, and the ConfigMap's sandbox images (its plugin list names none).
/// `global.imageRegistry` moves every image the library's helper puts together, and only
/// those; a digest pins the server's image without its tag.
#[test]
fn webapp_pulls_what_its_library_helper_puts_together() {
    let fixture = "webapp-1.2.0";
    let found = images_of(fixture, "webapp", "web", &json!({}));
    judge(
        "webapp defaults",
        &found,
        &[
            "container image: docker.io/webapp/server:4.7.1",
            "named in an argument: quay.io/webapp/helper:2.0.3",
            "named in an argument: docker.io/webapp/metrics:3.1.4",
            "container image: docker.io/webapp/backup:1.9",
            "named in an argument: ghcr.io/webapp/uploader:0.8.0",
            "named in an argument: docker.io/library/python:3.12-slim",
            "named in an argument: docker.io/library/node:22-alpine",
        ],
    );
    let found = images_of(
        fixture,
        "webapp",
        "web",
        &json!({"global": {"imageRegistry": "registry.example:5000"}}),
    );
    judge(
        "webapp registry",
        &found,
        &[
            "container image: registry.example:5000/webapp/server:4.7.1",
            "named in an argument: registry.example:5000/webapp/helper:2.0.3",
            "named in an argument: registry.example:5000/webapp/metrics:3.1.4",
            "container image: registry.example:5000/webapp/backup:1.9",
            "named in an argument: registry.example:5000/webapp/uploader:0.8.0",
            "named in an argument: docker.io/library/python:3.12-slim",
            "named in an argument: docker.io/library/node:22-alpine",
        ],
    );
    let digest = format!("sha256:{}", "ab".repeat(32));
    let found = images_of(
        fixture,
        "webapp",
        "web",
        &json!({"image": {"digest": digest, "tag": "ignored"}, "backup": {"enabled": false}}),
    );
    judge(
        "webapp digest",
        &found,
        &[
            &format!("container image: docker.io/webapp/server@{digest}"),
            "named in an argument: quay.io/webapp/helper:2.0.3",
            "named in an argument: docker.io/webapp/metrics:3.1.4",
            "named in an argument: docker.io/library/python:3.12-slim",
            "named in an argument: docker.io/library/node:22-alpine",
        ],
    );
}

/// platform: `ingest` (worker under an alias, its tag the worker's appVersion) and the
/// store with its init container; `export` (the same worker under another alias) only when
/// its condition holds, the store not when its tag is off; `global.imageRegistry` from the
/// parent reaching both subcharts and the library helper of one.
#[test]
fn platform_pulls_what_its_enabled_subcharts_do() {
    let fixture = "platform-3.0.0";
    let found = images_of(fixture, "platform", "platform", &json!({}));
    judge(
        "platform defaults",
        &found,
        &[
            "container image: docker.io/platform/ingest:1.0.4",
            "container image: docker.io/library/busybox:1.36",
            "container image: docker.io/platform/store:7.2.5",
        ],
    );
    let found = images_of(
        fixture,
        "platform",
        "platform",
        &json!({"export": {"enabled": true}, "tags": {"persistence": false}}),
    );
    judge(
        "platform export, no store",
        &found,
        &[
            "container image: docker.io/platform/ingest:1.0.4",
            "container image: docker.io/platform/export:3.0.1",
        ],
    );
    let found = images_of(
        fixture,
        "platform",
        "platform",
        &json!({"global": {"imageRegistry": "registry.example:5000"}}),
    );
    judge(
        "platform registry",
        &found,
        &[
            "container image: registry.example:5000/platform/ingest:1.0.4",
            "container image: registry.example:5000/library/busybox:1.36",
            "container image: registry.example:5000/platform/store:7.2.5",
        ],
    );
}

/// mesh: the control plane's container, and the proxy its injector puts into every pod it
/// injects, put together from the injector's values (`global.hub`, `global.tag`,
/// `global.proxy.image`) once the chart has merged its defaults, its profile and the
/// user's values. The `probe` injection template (profile `minimal`) names its image
/// whole; the `debug` profile's variant goes onto both tags.
#[test]
fn mesh_pulls_its_control_plane_and_injects_its_proxy() {
    let fixture = "mesh-1.5.0";
    let found = images_of(fixture, "mesh", "mesh-system", &json!({}));
    judge(
        "mesh defaults",
        &found,
        &[
            "container image: docker.io/meshproj/control:1.5.0",
            "pulled by the operator: docker.io/meshproj/proxy:1.5.0",
        ],
    );
    let found = images_of(
        fixture,
        "mesh",
        "mesh-system",
        &json!({"profile": "minimal", "global": {"hub": "registry.example:5000/meshproj", "tag": "1.5.1"}}),
    );
    judge(
        "mesh minimal",
        &found,
        &[
            "container image: registry.example:5000/meshproj/control:1.5.1",
            "pulled by the operator: registry.example:5000/meshproj/proxy:1.5.1",
            "pulled by the operator: docker.io/library/busybox:1.36",
        ],
    );
    let found = images_of(fixture, "mesh", "mesh-system", &json!({"profile": "debug"}));
    judge(
        "mesh debug",
        &found,
        &[
            "container image: docker.io/meshproj/control:1.5.0-debug",
            "pulled by the operator: docker.io/meshproj/proxy:1.5.0-debug",
        ],
    );
}

/// accel-operator: the operator's container and the images it is told (an argument, a
/// variable), and what its `ClusterPolicy` names in parts, pulled by the operator: the
/// validator (its version the appVersion), the driver manager, the toolkit, the device
/// plugin by digest. The driver is completed on the node; the exporter (`enabled: false`)
/// is pulled by nothing until enabled. Both render only because the chart's CRD serves
/// the resource's API.
#[test]
fn accel_operator_pulls_what_its_cluster_policy_names_in_parts() {
    let fixture = "accel-operator-2.0.0";
    let plugin = "ghcr.io/accelproj/device-plugin@sha256:9f2a8c1b7e3d4f5a6b7c8d9e0f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c";
    let found = images_of(fixture, "accel", "accel", &json!({}));
    let completed: Vec<&str> = found
        .completed_on_the_node
        .iter()
        .map(|c| c.written.as_str())
        .collect();
    assert_eq!(completed, ["docker.io/accelproj/driver:560.35.03"]);
    let by_operator = [
        "pulled by the operator: docker.io/accelproj/validator:v2.0.0",
        "pulled by the operator: docker.io/accelproj/driver-manager:0.7.0",
        "pulled by the operator: docker.io/accelproj/container-toolkit:1.17.4",
    ];
    let mut expected = vec![
        "container image: docker.io/accelproj/operator:v2.0.0",
        "named in an argument: docker.io/accelproj/cleanup:1.2",
        "named in an argument: docker.io/accelproj/driver-manager:0.7.0",
        "container image: docker.io/accelproj/kubectl:1.31",
    ];
    expected.extend(by_operator);
    let plugin_fact = format!("pulled by the operator: {plugin}");
    expected.push(&plugin_fact);
    judge("accel-operator defaults", &found, &expected);
    let found = images_of(
        fixture,
        "accel",
        "accel",
        &json!({"exporter": {"enabled": true}}),
    );
    expected.push("pulled by the operator: docker.io/accelproj/exporter:3.3.9");
    judge("accel-operator exporter", &found, &expected);
}

/// comments: the values read past their runs of comments (the image's parts between them,
/// the sidecars' list items after them).
#[test]
fn comments_pulls_what_its_values_name_between_their_comments() {
    let found = images_of("comments-1.0.0", "comments", "default", &json!({}));
    judge(
        "comments",
        &found,
        &[
            "container image: docker.io/library/nginx:1.27",
            "container image: docker.io/library/busybox:1.36",
            "container image: quay.io/prometheus/statsd-exporter:v0.27.1",
        ],
    );
}

/// runners: the quick start (no container mode, held in a variable and read for its
/// fields) renders and pulls the runner alone; the `dind` mode adds the Docker sidecar.
#[test]
fn runners_pull_what_their_container_mode_adds() {
    let fixture = "runners-0.12.0";
    let found = images_of(fixture, "ci", "runners", &json!({}));
    judge(
        "runners quick start",
        &found,
        &["container image: ghcr.io/runnersproj/runner:2.321.0"],
    );
    let found = images_of(
        fixture,
        "ci",
        "runners",
        &json!({"containerMode": {"type": "dind", "volume": {"size": "10Gi"}}}),
    );
    judge(
        "runners in dind mode",
        &found,
        &[
            "container image: ghcr.io/runnersproj/runner:2.321.0",
            "container image: docker.io/library/docker:27.1-dind",
        ],
    );
}

/// pgoperator: the images the operator pulls for its clusters are the same whether its
/// configuration is its custom resource (fields of `OperatorConfiguration` whose keys name
/// an image) or a ConfigMap (its data): the database's, the logical backup's and the
/// connection pooler's.
#[test]
fn pgoperator_pulls_the_same_images_whichever_its_configuration_is() {
    let fixture = "pgoperator-1.14.0";
    let operator = "container image: ghcr.io/pgproj/postgres-operator:v1.14.0";
    let pulled = [
        "ghcr.io/pgproj/spilo-17:4.0-p2",
        "ghcr.io/pgproj/logical-backup:v1.14.0",
        "registry.pgproj.example/acid/pgbouncer:master-32",
    ];
    let found = images_of(fixture, "pg", "postgres", &json!({}));
    let resource: Vec<String> = pulled
        .iter()
        .map(|i| format!("a custom resource's image: {i}"))
        .collect();
    let mut expected: Vec<&str> = resource.iter().map(String::as_str).collect();
    expected.push(operator);
    judge("pgoperator, OperatorConfiguration", &found, &expected);
    let fields: BTreeSet<String> = found.images.iter().map(|p| p.field.clone()).collect();
    assert!(
        fields.contains("configuration.logical_backup.logical_backup_docker_image"),
        "{fields:?}"
    );
    let found = images_of(
        fixture,
        "pg",
        "postgres",
        &json!({"configTarget": "ConfigMap"}),
    );
    let argument: Vec<String> = pulled
        .iter()
        .map(|i| format!("named in an argument: {i}"))
        .collect();
    let mut expected: Vec<&str> = argument.iter().map(String::as_str).collect();
    expected.push(operator);
    judge("pgoperator, ConfigMap", &found, &expected);
}

/// scanner-operator: the scanner its jobs run, put together from two keys of its ConfigMap
/// (`scanner.repository`, `scanner.tag`), and the node collector from three; neither the
/// database repository (no image) nor, switched off, the scanner; with a built-in server,
/// the scanner as that server's container too.
#[test]
fn scanner_operator_pulls_the_image_its_config_names_in_two_keys() {
    let fixture = "scanner-operator-0.26.0";
    let operator = "container image: ghcr.io/scanproj/scanner-operator:0.26.0";
    let collector = "pulled by the operator: ghcr.io/scanproj/node-collector:0.3.1";
    let scanner = "pulled by the operator: mirror.gcr.io/scanproj/scanner:0.58.2";
    let found = images_of(fixture, "scan", "scanner-system", &json!({}));
    judge("scanner-operator", &found, &[operator, collector, scanner]);
    let split = found
        .images
        .iter()
        .find(|p| p.reference.to_string().contains("/scanner:"))
        .unwrap();
    assert_eq!(split.field, "data[\"scanner.repository\"]");
    let found = images_of(
        fixture,
        "scan",
        "scanner-system",
        &json!({"scanner": {"enabled": false}}),
    );
    judge(
        "scanner-operator, scanner off",
        &found,
        &[operator, collector],
    );
    let found = images_of(
        fixture,
        "scan",
        "scanner-system",
        &json!({"scanner": {"mode": "ClientServer", "server": {"builtIn": true}}}),
    );
    judge(
        "scanner-operator, built-in server",
        &found,
        &[
            operator,
            collector,
            scanner,
            "container image: mirror.gcr.io/scanproj/scanner:0.58.2",
        ],
    );
}

/// cni-operator: the images Tigera's operator pulls for the `Installation`, `APIServer`,
/// `Goldmane` and `Whisker` the chart renders (none of them named by the chart): Calico's
/// components at the release the operator's version carries (v1.38.9: Calico v3.30.5), from
/// the registry and image path the `Installation` sets, less what its spec switches off; an
/// operator version seedforge's table does not know is a note, and no image is guessed.
#[test]
fn cni_operator_pulls_the_calico_release_its_version_carries() {
    let fixture = "cni-operator-3.30.5";
    let release = "calico-system";
    let operator = "container image: quay.io/tigera/operator:v1.38.9";
    let calico = |registry: &str, names: &[&str]| -> Vec<String> {
        names
            .iter()
            .map(|n| format!("pulled by the operator: {registry}/{n}:v3.30.5"))
            .collect()
    };
    let all = [
        "calico/node",
        "calico/cni",
        "calico/typha",
        "calico/kube-controllers",
        "calico/pod2daemon-flexvol",
        "calico/csi",
        "calico/node-driver-registrar",
        "calico/apiserver",
        "calico/goldmane",
        "calico/whisker",
        "calico/whisker-backend",
    ];
    let found = images_of(fixture, "calico", release, &json!({}));
    let pulled = calico("quay.io", &all);
    let mut expected: Vec<&str> = pulled.iter().map(String::as_str).collect();
    expected.push(operator);
    judge("cni-operator", &found, &expected);
    assert!(found.notes.is_empty(), "{:?}", found.notes);
    let node = found
        .images
        .iter()
        .find(|p| p.reference.to_string().contains("/calico/node:"))
        .unwrap();
    assert_eq!(node.resource, "Installation/default");
    assert_eq!(
        node.field,
        "spec (tigera/operator v1.38.9 deploys Calico v3.30.5: calico/node)"
    );
    assert_eq!(node.place(), "cni-operator/templates/resources.yaml:5");
    assert_eq!(node.values, ["tigeraOperator.version"]);

    // The Installation's registry and image path move every image; the switches leave
    // the flex volume driver and the CSI driver out, and no Whisker is rendered.
    let found = images_of(
        fixture,
        "calico",
        release,
        &json!({
            "installation": {"registry": "registry.example:5000", "imagePath": "mirror", "flexVolumePath": "None"},
            "kubeletVolumePluginPath": "None",
            "whisker": {"enabled": false},
        }),
    );
    let pulled: Vec<String> = [
        "node",
        "cni",
        "typha",
        "kube-controllers",
        "apiserver",
        "goldmane",
    ]
    .iter()
    .map(|n| format!("pulled by the operator: registry.example:5000/mirror/{n}:v3.30.5"))
    .collect();
    let mut expected: Vec<&str> = pulled.iter().map(String::as_str).collect();
    expected.push(operator);
    judge("cni-operator, moved and switched off", &found, &expected);
    let node = found
        .images
        .iter()
        .find(|p| p.reference.to_string().contains("/mirror/node:"))
        .unwrap();
    assert_eq!(
        node.values,
        [
            "installation.imagePath",
            "installation.registry",
            "tigeraOperator.version"
        ]
    );

    // An operator the table does not know: said, for each resource, and nothing guessed.
    let found = images_of(
        fixture,
        "calico",
        release,
        &json!({"tigeraOperator": {"version": "v1.44.0"}}),
    );
    judge(
        "cni-operator, unknown operator",
        &found,
        &["container image: quay.io/tigera/operator:v1.44.0"],
    );
    assert_eq!(found.notes.len(), 4, "{:?}", found.notes);
    assert!(
        found.notes[0].starts_with("chart cni-operator-3.30.5 (version v3.30.5): cni-operator/templates/resources.yaml:5 (Installation/default): tigera/operator v1.44.0 is not in seedforge's table"),
        "{}",
        found.notes[0]
    );
}

/// A CNI operator's chart (seedforge's own cni-operator, served as demo-app): `plan` asks
/// for the Calico images the operator pulls for the chart's `Installation` in an image
/// list, each with its resource; with an operator version seedforge's table does not know,
/// it names that, with the chart's version and the resource's line, and asks for no Calico
/// image it would have to guess.
#[test]
fn plan_asks_for_what_the_cni_operator_deploys_and_says_what_it_cannot_know() {
    let fixture = "cni-operator-3.30.5";
    let mut files: Vec<(String, String)> = Vec::new();
    for (path, body) in files_under(&chart_dir(fixture)) {
        let body = String::from_utf8(body).unwrap();
        let body = if path == "Chart.yaml" {
            body.replace("name: cni-operator", "name: demo-app")
                .replace("version: v3.30.5", "version: 1.2.3")
        } else {
            body
        };
        files.push((format!("demo-app/{path}"), body));
    }
    let tgz = crate::common::charts::tgz_of(&files);
    let repo = crate::charts::Repo::start(&tgz, tgz.clone());
    let lab = crate::charts::lab_with_chart(&repo.server.url(""), "");
    let refused = lab
        .seedforge()
        .args(["plan", "--config", lab.config_arg()])
        .expect(2)
        .run();
    for want in [
        "demo-app/templates/resources.yaml:5 (Installation/default, pulled by the operator) pulls quay.io/calico/node:v3.30.5 (values tigeraOperator.version)",
        "demo-app/templates/resources.yaml:5 (Installation/default, pulled by the operator) pulls quay.io/calico/csi:v3.30.5",
        "(Whisker/default, pulled by the operator) pulls quay.io/calico/whisker-backend:v3.30.5",
        "(Deployment/demo-operator, container image) pulls quay.io/tigera/operator:v1.38.9",
    ] {
        assert!(refused.stderr.contains(want), "{want}\n{}", refused.stderr);
    }
    assert!(!refused.stderr.contains("not known"), "{}", refused.stderr);
    std::fs::write(
        lab.lab_dir().join("calico.yaml"),
        "tigeraOperator:\n  version: v1.44.0\n",
    )
    .unwrap();
    let path = lab.lab_dir().join("seedforge.yaml");
    let config = std::fs::read_to_string(&path).unwrap() + "    values: calico.yaml\n";
    std::fs::write(&path, config).unwrap();
    let refused = lab
        .seedforge()
        .args(["plan", "--config", lab.config_arg()])
        .expect(2)
        .run();
    assert!(
        refused.stderr.contains("and not known: chart demo (version 1.2.3): demo-app/templates/resources.yaml:5 (Installation/default): tigera/operator v1.44.0 is not in seedforge's table of the Calico releases the operator deploys (v1.36.0 to v1.42.4, Calico v3.29.0 to v3.32.1)"),
        "{}",
        refused.stderr
    );
    assert!(refused.stderr.contains("1 image(s)"), "{}", refused.stderr);
    assert!(
        !refused.stderr.contains("calico/node"),
        "{}",
        refused.stderr
    );
    // chart-images says it as a warning, beside the one image it names.
    let shown = lab
        .seedforge()
        .args(["chart-images", "--config", lab.config_arg()])
        .run();
    assert!(
        shown.stderr.contains("chart demo (version 1.2.3): demo-app/templates/resources.yaml:29 (Whisker/default): tigera/operator v1.44.0 is not in seedforge's table"),
        "{}",
        shown.stderr
    );
    assert!(shown.stdout.contains("1 image(s)"), "{}", shown.stdout);
}

/// engine: the agent's tag chosen by the cluster's Kubernetes version (`semverCompare` on
/// `.Capabilities.KubeVersion`): the current one on k3s 1.33, the legacy one on 1.29.
#[test]
fn engine_pulls_the_tag_its_cluster_version_chooses() {
    let fixture = "engine-1.0.0";
    let found = images_of(fixture, "engine", "default", &json!({}));
    judge(
        "engine on 1.33",
        &found,
        &["container image: docker.io/engineproj/agent:0.9.0"],
    );
    let mut chart =
        seedforge::charts::load::load_files(fixture, files_under(&chart_dir(fixture))).unwrap();
    let settings = seedforge::charts::render::Settings {
        release: "engine".into(),
        namespace: "default".into(),
        k3s_version: "v1.29.4+k3s1".into(),
    };
    let found =
        seedforge::charts::pulled::images_of(fixture, &mut chart, &Map::new(), &settings).unwrap();
    judge(
        "engine on 1.29",
        &found,
        &["container image: docker.io/engineproj/agent:0.8.7"],
    );
}

/// capabilities: the controller, and the sidecar it hands to its pods in an environment
/// variable, tagged `edge` (no digit: found by the reference grammar), at the line of the
/// template that writes it; the ServiceMonitor gated on `has … .Capabilities.APIVersions`
/// renders nothing where the kind is not served.
#[test]
fn capabilities_pulls_its_controller_and_the_sidecar_it_names() {
    let fixture = "capabilities-1.0.0";
    let found = images_of(fixture, "caps", "default", &json!({}));
    judge(
        "capabilities",
        &found,
        &[
            "container image: docker.io/capsproj/controller:1.4.0",
            "named in an argument: ghcr.io/capsproj/sidecar:edge",
        ],
    );
    let sidecar = found
        .images
        .iter()
        .find(|p| p.written == "ghcr.io/capsproj/sidecar:edge")
        .unwrap();
    assert_eq!(
        (sidecar.template.as_str(), sidecar.line),
        ("capabilities/templates/deployment.yaml", Some(29)),
        "{sidecar:?}"
    );
}

/// metadata: the server tagged by `.Chart.AppVersion` (or the tag given), and the agent an
/// annotation of Chart.yaml names, read with `index .Chart.Annotations` (a container's, and
/// in the ConfigMap that lists the annotations, named in its data).
#[test]
fn metadata_pulls_the_images_its_chart_yaml_names() {
    let fixture = "metadata-1.0.0";
    let found = images_of(fixture, "meta", "metaproj", &json!({}));
    judge(
        "metadata",
        &found,
        &[
            "container image: docker.io/metaproj/server:3.2.1",
            "container image: docker.io/metaproj/agent:2.4.0",
            "named in an argument: docker.io/metaproj/agent:2.4.0",
        ],
    );
    let found = images_of(
        fixture,
        "meta",
        "metaproj",
        &json!({"image": {"tag": "3.2.2"}, "extra": {"enabled": true}}),
    );
    judge(
        "metadata tagged",
        &found,
        &[
            "container image: docker.io/metaproj/server:3.2.2",
            "container image: docker.io/metaproj/agent:2.4.0",
            "named in an argument: docker.io/metaproj/agent:2.4.0",
        ],
    );
}

/// yaml-quoting: the one container, whatever its arguments hold (strings that look like
/// references, URLs, paths), names no other image.
#[test]
fn yaml_quoting_pulls_its_one_image() {
    let found = images_of("yaml-quoting-2.0.0", "quoting", "default", &json!({}));
    judge(
        "yaml-quoting",
        &found,
        &["container image: docker.io/library/busybox:1.36"],
    );
}

/// A value the mesh chart no longer reads fails its NOTES.txt, and so the render, as
/// Helm's install fails; a profile the chart has no file for fails its merge.
#[test]
fn mesh_refuses_removed_values_in_its_notes() {
    let fixture = "mesh-1.5.0";
    let mut chart =
        seedforge::charts::load::load_files(fixture, files_under(&chart_dir(fixture))).unwrap();
    let settings = seedforge::charts::render::Settings {
        release: "mesh".into(),
        namespace: "mesh-system".into(),
        k3s_version: "v1.33.1+k3s1".into(),
    };
    for (user, message) in [
        (
            json!({"telemetry": {"exporter": "zipkin"}}),
            "telemetry.exporter is no longer read by mesh 1.5.0: set meshConfig.extensionProviders instead",
        ),
        (
            json!({"profile": "tiny"}),
            "no profile \"tiny\" (files/profile-tiny.yaml)",
        ),
    ] {
        let err = seedforge::charts::pulled::images_of(
            fixture,
            &mut chart,
            user.as_object().unwrap(),
            &settings,
        )
        .map(|_| ())
        .unwrap_err()
        .to_string();
        assert!(err.contains(message), "{err}");
    }
}
