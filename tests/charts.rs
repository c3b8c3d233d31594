//! `charts:` in the config: Helm charts fetched from a Helm HTTP repository served on
//! 127.0.0.1 (its `index.yaml` and a `.tgz` made here) or from the distribution registry
//! as an OCI artifact, checked against their digests, written to `OUT/charts/` and pinned
//! in `seedforge.lock`; `--locked` refuses a changed chart, `--offline` reuses the one
//! written before, and a tampered archive leaves nothing under a final name.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use crate::common;

use common::charts::{VALUES, chart_tgz, push_chart, tgz_of};
use common::helmchart::validate_helmchart;
use common::misbehave::{Answer, Server};
use common::{Cmd, Lab, sha256_bytes};
use std::fs;
use std::os::unix::fs::MetadataExt as _;
use std::sync::{Arc, Mutex};

/// A Helm HTTP repository on 127.0.0.1: `/index.yaml` lists `demo-app` 1.2.3 at a
/// relative URL with the digest of the first archive, `/charts/demo-app-1.2.3.tgz`
/// serves the second; [`Repo::set`] republishes.
pub struct Repo {
    pub server: Server,
    state: Arc<Mutex<(Vec<u8>, Vec<u8>)>>,
}

impl Repo {
    pub fn start(listed: &[u8], served: Vec<u8>) -> Repo {
        let state = Arc::new(Mutex::new((listed.to_vec(), served)));
        let seen = state.clone();
        let server = Server::start(move |_, path| {
            let (listed, served) = seen.lock().unwrap().clone();
            match path {
                "/index.yaml" => Answer::ok(
                    "application/yaml",
                    format!(
                        "apiVersion: v1\nentries:\n  demo-app:\n    - apiVersion: v2\n      name: demo-app\n      version: 1.2.3\n      digest: {}\n      urls:\n        - charts/demo-app-1.2.3.tgz\n      created: \"2024-01-01T00:00:00Z\"\ngenerated: \"2024-01-01T00:00:00Z\"\n",
                        sha256_bytes(&listed)
                    ),
                ),
                "/charts/demo-app-1.2.3.tgz" => Answer::ok("application/gzip", served),
                _ => Answer::status(404),
            }
        });
        Repo { server, state }
    }

    /// Lists `tgz` (with its digest) and serves it from now on.
    pub fn set(&self, tgz: &[u8]) {
        *self.state.lock().unwrap() = (tgz.to_vec(), tgz.to_vec());
    }
}

/// The lab with one chart from `repo` appended to its config.
pub fn lab_with_chart(repo: &str, extra: &str) -> Lab {
    let lab = Lab::new();
    let path = lab.lab_dir().join("seedforge.yaml");
    let mut config = fs::read_to_string(&path).unwrap();
    config.push_str(&format!(
        "\ncharts:\n  - name: demo\n    repo: {repo}\n    chart: demo-app\n    version: 1.2.3\n    namespace: apps\n{extra}"
    ));
    fs::write(&path, config).unwrap();
    lab
}

fn lock_text(lab: &Lab) -> String {
    fs::read_to_string(lab.lab_dir().join("seedforge.lock")).unwrap()
}

/// Names under `dir`, recursively (temporary files included).
fn names_under(dir: &std::path::Path) -> Vec<String> {
    let mut names = Vec::new();
    if let Ok(entries) = fs::read_dir(dir) {
        for e in entries.flatten() {
            names.push(e.file_name().to_string_lossy().into_owned());
        }
    }
    names.sort();
    names
}

/// The archive lands byte-identical to the repository's digest and is pinned; an
/// unchanged chart is not written again; `--locked` refuses a chart that changed upstream
/// (exit 2); `--offline` builds from the archive written before, without the repository.
#[test]
fn a_chart_from_a_helm_repository_is_written_pinned_skipped_and_locked() {
    let tgz = chart_tgz("demo-app", "1.2.3", VALUES);
    let repo = Repo::start(&tgz, tgz.clone());
    let lab = lab_with_chart(&repo.server.url(""), "");
    lab.build();
    let out = lab.out_dir().join("charts/demo-1.2.3.tgz");
    assert_eq!(fs::read(&out).unwrap(), tgz);
    let digest = format!("sha256:{}", sha256_bytes(&tgz));
    let lock = lock_text(&lab);
    assert!(lock.contains("\"charts\""), "{lock}");
    assert!(lock.contains(&digest), "{lock}");
    let sums = fs::read_to_string(lab.out_dir().join("SHA256SUMS")).unwrap();
    assert!(sums.contains("charts/demo-1.2.3.tgz"), "{sums}");

    // Unchanged: the step is skipped, the archive not rewritten.
    let ino = fs::metadata(&out).unwrap().ino();
    lab.build();
    assert_eq!(fs::metadata(&out).unwrap().ino(), ino, "rewritten");

    // --locked: the same chart passes; one republished under its version is refused,
    // naming both digests, and nothing changes.
    lab.seedforge()
        .args(["build", "--locked", "--config", lab.config_arg()])
        .run();
    let republished = chart_tgz("demo-app", "1.2.3", &format!("{VALUES}extra: 1\n"));
    repo.set(&republished);
    let refused = lab
        .seedforge()
        .args(["build", "--locked", "--config", lab.config_arg()])
        .expect(2)
        .run();
    assert!(
        refused.stderr.contains(&sha256_bytes(&tgz))
            && refused.stderr.contains(&sha256_bytes(&republished)),
        "{}",
        refused.stderr
    );
    assert_eq!(fs::read(&out).unwrap(), tgz, "changed by a refused build");
    assert!(lock_text(&lab).contains(&digest), "the lock moved");
    // `lock --check` names the chart's pin as stale, with the republished archive's digest
    // (exit 1), and writes nothing.
    let stale = (lab.seedforge())
        .args(["lock", "--check", "--json", "--config", lab.config_arg()])
        .expect(1)
        .run()
        .json();
    assert_eq!(stale["updated"][0]["section"], "charts", "{stale}");
    assert_eq!(stale["updated"][0]["key"], "demo", "{stale}");
    let now = format!("sha256:{}", sha256_bytes(&republished));
    assert_eq!(
        stale["updated"][0]["after"]["digest"],
        now.as_str(),
        "{stale}"
    );
    assert!(lock_text(&lab).contains(&digest), "the lock moved");

    // --offline: no repository needed; the archive written before is used.
    drop(repo);
    lab.seedforge()
        .args(["build", "--offline", "--config", lab.config_arg()])
        .run();
    assert_eq!(fs::read(&out).unwrap(), tgz);
    assert_eq!(fs::metadata(&out).unwrap().ino(), ino, "rewritten offline");
}

/// The SBOMs and the provenance record a chart by its repository, as the lock pins it,
/// never by the archive's URL (which an index may move while the digest stays): an online
/// rebuild after the index moved the archive keeps the seal, and so does `build --offline`
/// of the unchanged output in a copy, with the repository gone. Before, the online build
/// recorded the archive's URL and the offline one the repository's, so every offline
/// rebuild of such an output changed `manifest.json`, the SBOMs and the provenance.
#[test]
fn a_chart_is_recorded_by_its_repository_so_a_moved_archive_and_offline_keep_the_seal() {
    let tgz = chart_tgz("demo-app", "1.2.3", VALUES);
    let moved = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (served, at) = (tgz.clone(), moved.clone());
    let server = Server::start(move |_, path| {
        let url = if at.load(std::sync::atomic::Ordering::SeqCst) {
            "../mirror/demo-app-1.2.3.tgz"
        } else {
            "charts/demo-app-1.2.3.tgz"
        };
        match path {
            "/repo/index.yaml" => Answer::ok(
                "application/yaml",
                format!(
                    "apiVersion: v1\nentries:\n  demo-app:\n    - version: 1.2.3\n      digest: {}\n      urls:\n        - {url}\n",
                    sha256_bytes(&served)
                ),
            ),
            "/repo/charts/demo-app-1.2.3.tgz" | "/mirror/demo-app-1.2.3.tgz" => {
                Answer::ok("application/gzip", served.clone())
            }
            _ => Answer::status(404),
        }
    });
    let repo = server.url("repo");
    let lab = lab_with_chart(&repo, "");
    lab.build();
    let out = lab.out_dir();
    let sbom = fs::read_to_string(out.join("sbom/sbom.spdx.json")).unwrap();
    assert!(
        sbom.contains(&format!("\"chart demo-app from {repo}\"")),
        "{sbom}"
    );
    for name in [
        "sbom/sbom.spdx.json",
        "sbom/sbom.cdx.json",
        "sbom/provenance.json",
    ] {
        let text = fs::read_to_string(out.join(name)).unwrap();
        assert!(!text.contains("demo-app-1.2.3.tgz"), "{name}: {text}");
    }
    let built = lab.root().join("built");
    common::copy_tree(&out, &built, &|_| false);

    // The index moves the archive to a mirror: the same chart, the same seal.
    moved.store(true, std::sync::atomic::Ordering::SeqCst);
    lab.build();
    let requests = server.requests();
    assert!(
        requests
            .iter()
            .any(|r| r.contains("/mirror/demo-app-1.2.3.tgz")),
        "{requests:?}"
    );
    common::assert_same_seal(&built, &out, "an online rebuild from the moved archive");
    drop(server);
    let far = lab.far_copy("far");
    Cmd::seedforge()
        .cwd(&far)
        .args(["build", "--offline", "--config", lab.config_arg()])
        .run();
    common::assert_same_seal(&built, &far.join("fixtures/lab/out"), "build --offline");
}

/// An archive that does not hash to the index's digest: exit 1, and nothing under
/// `OUT/charts` (no final name, no temporary file), nothing else of the build either.
#[test]
fn a_tampered_chart_is_refused_and_nothing_is_written() {
    let tgz = chart_tgz("demo-app", "1.2.3", VALUES);
    let mut tampered = tgz.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    let repo = Repo::start(&tgz, tampered.clone());
    let lab = lab_with_chart(&repo.server.url(""), "");
    let refused = lab
        .seedforge()
        .args(["build", "--config", lab.config_arg()])
        .expect(1)
        .run();
    assert!(
        refused.stderr.contains(&sha256_bytes(&tgz))
            && refused.stderr.contains(&sha256_bytes(&tampered)),
        "{}",
        refused.stderr
    );
    assert!(names_under(&lab.out_dir().join("charts")).is_empty());
    assert!(!lab.out_dir().join("oci").exists(), "the build went on");
    drop(repo);
}

/// A chart pushed to the distribution registry as an OCI artifact is fetched by its tag,
/// checked against the layer's digest, written byte-identical and pinned; an artifact
/// without a chart layer is refused.
#[test]
fn a_chart_from_an_oci_registry_is_written_and_pinned() {
    let registry = common::registry::Registry::start_plain();
    let tgz = chart_tgz("demo-app", "1.2.3", VALUES);
    push_chart(&registry, "charts/demo-app", "1.2.3", &tgz);
    let host = registry.host();
    let lab = lab_with_chart(&format!("oci://{host}/charts"), "");
    let config = lab.lab_dir().join("seedforge.yaml");
    let text = fs::read_to_string(&config).unwrap().replace(
        "\nimages:\n",
        &format!("\nregistries:\n  - host: \"{host}\"\n    insecure: true\n\nimages:\n"),
    );
    fs::write(&config, &text).unwrap();
    lab.build();
    let out = lab.out_dir().join("charts/demo-1.2.3.tgz");
    assert_eq!(fs::read(&out).unwrap(), tgz);
    assert!(lock_text(&lab).contains(&sha256_bytes(&tgz)));

    // A version the registry lacks: refused, naming the reference.
    fs::write(&config, text.replace("version: 1.2.3", "version: 1.2.4")).unwrap();
    let refused = lab
        .seedforge()
        .args(["build", "--config", lab.config_arg()])
        .expect(1)
        .run();
    assert!(
        refused.stderr.contains("charts/demo-app:1.2.4"),
        "{}",
        refused.stderr
    );

    // A tag whose archive is another version of the chart: refused (exit 2), naming what
    // the archive holds, and the archive built before stays as it was.
    push_chart(
        &registry,
        "charts/demo-app",
        "1.2.5",
        &chart_tgz("demo-app", "9.9.9", VALUES),
    );
    fs::write(&config, text.replace("version: 1.2.3", "version: 1.2.5")).unwrap();
    let refused = lab
        .seedforge()
        .args(["build", "--config", lab.config_arg()])
        .expect(2)
        .run();
    assert!(
        refused.stderr.contains(&format!(
            "chart demo pins demo-app 1.2.5, but the archive from {host}/charts/demo-app:1.2.5 holds chart \"demo-app\" version \"9.9.9\""
        )),
        "{}",
        refused.stderr
    );
    assert!(!lab.out_dir().join("charts/demo-1.2.5.tgz").exists());
    assert_eq!(fs::read(&out).unwrap(), tgz);
}

/// A repository whose `index.yaml` lists 50,000 versions of the chart (large public
/// repositories have indexes of tens of MiB): read whole, within the index cap, and the
/// pinned version is found and built.
#[test]
fn an_index_of_fifty_thousand_versions_is_read() {
    let tgz = chart_tgz("demo-app", "1.2.3", VALUES);
    let mut index = String::from("apiVersion: v1\nentries:\n  demo-app:\n");
    for i in 0..50_000 {
        let (version, digest) = if i == 43_210 {
            ("1.2.3".to_string(), sha256_bytes(&tgz))
        } else {
            (format!("0.{i}.0"), format!("{i:064x}"))
        };
        index.push_str(&format!(
            "    - apiVersion: v2\n      name: demo-app\n      version: {version}\n      created: \"2024-01-01T00:00:00Z\"\n      urls:\n        - charts/demo-app-{version}.tgz\n      digest: {digest}\n"
        ));
    }
    index.push_str("generated: \"2024-01-01T00:00:00Z\"\n");
    let served = tgz.clone();
    let server = Server::start(move |_, path| match path {
        "/index.yaml" => Answer::ok("application/yaml", index.clone()),
        "/charts/demo-app-1.2.3.tgz" => Answer::ok("application/gzip", served.clone()),
        _ => Answer::status(404),
    });
    let lab = lab_with_chart(&server.url(""), "");
    let plan = lab
        .seedforge()
        .args(["plan", "--config", lab.config_arg()])
        .run();
    assert!(!plan.stderr.contains("budget"), "{}", plan.stderr);
    lab.build();
    assert_eq!(
        fs::read(lab.out_dir().join("charts/demo-1.2.3.tgz")).unwrap(),
        tgz
    );
}

/// `spec.valuesContent` is the values file's exact text for any YAML reader: NEL, LINE
/// SEPARATOR and PARAGRAPH SEPARATOR (line breaks to YAML 1.1 readers such as PyYAML and
/// go-yaml, which fold them inside a quoted string) are escaped, and the manifest read back (PyYAML when it is installed; the YAML reader seedforge uses)
/// gives the file's bytes.
#[test]
fn values_content_reads_back_as_the_values_file_exactly() {
    let tgz = chart_tgz("demo-app", "1.2.3", VALUES);
    let repo = Repo::start(&tgz, tgz.clone());
    let lab = lab_with_chart(&repo.server.url(""), "    values: demo-values.yaml\n");
    let values = lab.lab_dir().join("demo-values.yaml");
    let text = "# notes: a \u{85}b  \u{2028} c\u{2029}d\u{feff} é\nreplicaCount: 2\npodAnnotations:\n  note: \"tab\\there\"\n";
    fs::write(&values, text).unwrap();
    lab.build();
    let manifest = lab.out_dir().join("charts/demo.yaml");
    let written = fs::read_to_string(&manifest).unwrap();
    for raw in ['\u{85}', '\u{2028}', '\u{2029}', '\u{feff}'] {
        assert!(!written.contains(raw), "{raw:?} raw in:\n{written}");
    }
    let doc: serde_json::Value = serde_saphyr::from_str(&written).unwrap();
    assert_eq!(doc["spec"]["valuesContent"].as_str(), Some(text));
    if !common::require_tool("python3") {
        return;
    }
    let probe = common::Cmd::new("python3")
        .args(["-c", "import yaml"])
        .any_status()
        .run();
    if probe.code != Some(0) {
        assert!(
            std::env::var("CI").map_or(true, |v| v != "true"),
            "PyYAML is not installed (CI=true, so this is a failure)"
        );
        eprintln!("SKIP: PyYAML is not installed; the manifest is not read back with it");
        return;
    }
    let read = std::process::Command::new("python3")
        .args([
            "-c",
            "import sys, yaml\nd = yaml.safe_load(open(sys.argv[1], encoding='utf-8'))\nsys.stdout.buffer.write(d['spec']['valuesContent'].encode('utf-8'))",
        ])
        .arg(&manifest)
        .output()
        .unwrap();
    assert!(
        read.status.success(),
        "{}",
        String::from_utf8_lossy(&read.stderr)
    );
    assert_eq!(
        read.stdout,
        fs::read(&values).unwrap(),
        "PyYAML reads another text"
    );
}

/// An archive that is not the chart the entry pins (another name or version in its
/// Chart.yaml, or no Chart.yaml at all) is one Helm refuses on the node: refused while
/// planning (exit 2), naming the entry at its line and what the archive holds, and
/// nothing is written.
#[test]
fn an_archive_of_another_chart_or_version_or_without_chart_yaml_is_refused() {
    let other = chart_tgz("other-app", "1.2.3", VALUES);
    let newer = chart_tgz("demo-app", "9.9.9", VALUES);
    let bare = tgz_of(&[("demo-app/values.yaml".into(), VALUES.into())]);
    for (tgz, holds) in [
        (
            &other,
            "holds chart \"other-app\" version \"1.2.3\" (its Chart.yaml)",
        ),
        (
            &newer,
            "holds chart \"demo-app\" version \"9.9.9\" (its Chart.yaml)",
        ),
        (&bare, "has no Chart.yaml"),
    ] {
        let repo = Repo::start(tgz, tgz.clone());
        let lab = lab_with_chart(&repo.server.url(""), "");
        let config = fs::read_to_string(lab.lab_dir().join("seedforge.yaml")).unwrap();
        let line = config.lines().position(|l| l == "  - name: demo").unwrap() + 1;
        for command in ["plan", "build"] {
            let refused = lab
                .seedforge()
                .args([command, "--config", lab.config_arg()])
                .expect(2)
                .run();
            assert!(
                refused.stderr.contains(&format!(
                    "seedforge.yaml:{line}:5: chart demo pins demo-app 1.2.3, but the archive from "
                )) && refused.stderr.contains(holds)
                    && refused.stderr.contains("Helm would refuse it"),
                "{holds}:\n{}",
                refused.stderr
            );
        }
        assert!(!lab.out_dir().exists(), "the refused build wrote something");
    }
}

/// A values file whose top level is a list, a string or a number: Helm fails on it; it
/// is refused while planning (exit 2), naming the file at its line, nothing written.
#[test]
fn a_values_file_that_is_no_map_is_refused_naming_it() {
    let tgz = chart_tgz("demo-app", "1.2.3", VALUES);
    let repo = Repo::start(&tgz, tgz.clone());
    let lab = lab_with_chart(&repo.server.url(""), "    values: demo-values.yaml\n");
    let values = lab.lab_dir().join("demo-values.yaml");
    for (text, found) in [
        ("# replicas\n- replicaCount: 2\n", "a list"),
        ("replicaCount=2\n", "the string \"replicaCount=2\""),
        ("42\n", "the string \"42\""),
    ] {
        fs::write(&values, text).unwrap();
        let refused = lab
            .seedforge()
            .args(["build", "--config", lab.config_arg()])
            .expect(2)
            .run();
        let line = if text.starts_with('#') { 2 } else { 1 };
        assert!(
            refused.stderr.contains(&format!(
                "demo-values.yaml:{line}:1: a values file is a map"
            )) && refused
                .stderr
                .contains(&format!("its top level is {found}")),
            "{text:?}:\n{}",
            refused.stderr
        );
        assert!(!lab.out_dir().exists(), "the refused build wrote something");
    }
}

/// A values key the chart does not have (renamed upstream) is refused before anything is
/// written: exit 2 naming `values.yaml:LINE:COLUMN`, the key and the chart's closest
/// keys. Keys the chart has, and keys under a map it leaves empty, pass; a changed values
/// file reruns the chart's step.
#[test]
fn a_values_key_the_chart_lacks_is_refused_at_its_line() {
    let tgz = chart_tgz("demo-app", "1.2.3", VALUES);
    let repo = Repo::start(&tgz, tgz.clone());
    let lab = lab_with_chart(&repo.server.url(""), "    values: demo-values.yaml\n");
    let values = lab.lab_dir().join("demo-values.yaml");
    fs::write(
        &values,
        "replicaCount: 2\npersistence:\n  enabled: true\n  storageClassName: local-path\n",
    )
    .unwrap();
    let refused = lab
        .seedforge()
        .args(["build", "--config", lab.config_arg()])
        .expect(2)
        .run();
    assert!(
        refused.stderr.contains(
            "demo-values.yaml:4:3: persistence.storageClassName is not a value of chart demo"
        ),
        "{}",
        refused.stderr
    );
    assert!(
        refused
            .stderr
            .contains("closest the chart has: persistence.storageClass"),
        "{}",
        refused.stderr
    );
    assert!(!lab.out_dir().exists(), "the refused build wrote something");
    let plan = lab
        .seedforge()
        .args(["plan", "--config", lab.config_arg()])
        .expect(2)
        .run();
    assert!(
        plan.stderr.contains("demo-values.yaml:4:3"),
        "{}",
        plan.stderr
    );

    fs::write(
        &values,
        "replicaCount: 2\npersistence:\n  storageClass: local-path\npodAnnotations:\n  example.com/team: apps\n",
    )
    .unwrap();
    lab.build();
    let out = lab.out_dir().join("charts/demo-1.2.3.tgz");
    let ino = fs::metadata(&out).unwrap().ino();
    lab.build();
    assert_eq!(
        fs::metadata(&out).unwrap().ino(),
        ino,
        "unchanged, yet rewritten"
    );
    fs::write(&values, "replicaCount: 3\n").unwrap();
    lab.build();
    assert_ne!(
        fs::metadata(&out).unwrap().ino(),
        ino,
        "changed values, step skipped"
    );
}

/// A chart whose schema its values do not meet (a required value with no default, as
/// external-dns's `policy`): Helm refuses it on install, with or without a values file;
/// here it is refused while planning (exit 2), naming the value, and nothing is written.
#[test]
fn values_that_do_not_meet_the_charts_schema_are_refused() {
    let schema = r#"{"type": "object", "required": ["policy"], "properties": {"policy": {"type": "string", "enum": ["sync", "upsert-only"]}}}"#;
    let deployment = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}\nspec:\n  template:\n    spec:\n      containers:\n        - name: demo\n          image: \"{{ .Values.image.repository }}:{{ .Values.image.tag }}\"\n          args: [\"--policy={{ .Values.policy }}\"]\n";
    let tgz = tgz_of(&[
        (
            "demo-app/Chart.yaml".into(),
            "apiVersion: v2\nname: demo-app\nversion: 1.2.3\n".into(),
        ),
        ("demo-app/values.yaml".into(), VALUES.into()),
        ("demo-app/values.schema.json".into(), schema.into()),
        (
            "demo-app/templates/deployment.yaml".into(),
            deployment.into(),
        ),
    ]);
    let repo = Repo::start(&tgz, tgz.clone());
    let lab = lab_with_chart(&repo.server.url(""), "");
    let refused = lab
        .seedforge()
        .args(["plan", "--config", lab.config_arg()])
        .expect(2)
        .run();
    assert!(
        refused.stderr.contains("chart demo (no values file, the chart's defaults): values don't meet the specifications of the schema(s)")
            && refused.stderr.contains("- at '': missing properties 'policy'"),
        "{}",
        refused.stderr
    );
    let path = lab.lab_dir().join("seedforge.yaml");
    let config = fs::read_to_string(&path).unwrap();
    fs::write(&path, format!("{config}    values: demo-values.yaml\n")).unwrap();
    let values = lab.lab_dir().join("demo-values.yaml");
    fs::write(&values, "policy: delete-all\n").unwrap();
    let refused = lab
        .seedforge()
        .args(["build", "--config", lab.config_arg()])
        .expect(2)
        .run();
    assert!(
        refused
            .stderr
            .contains("demo-values.yaml: values don't meet")
            && refused
                .stderr
                .contains("- at 'policy': value must be one of"),
        "{}",
        refused.stderr
    );
    assert!(!lab.out_dir().exists(), "the refused build wrote something");
    fs::write(&values, "policy: sync\n").unwrap();
    lab.build();
}

fn extract(iso: &std::path::Path, to: &std::path::Path) {
    common::Cmd::new("osirrox")
        .arg("-indev")
        .arg(iso)
        .args(["-extract", "/"])
        .arg(to)
        .run();
}

/// The server's seed carries the chart byte-identical to the repository's digest under
/// `payload/charts/NAME.tgz` and a HelmChart manifest that helm-controller's CRD schema
/// accepts (its fields as `tests/common/helmchart.rs` lists them), pointing at the static URL with the version, namespace and values; an agent's
/// seed carries neither.
#[test]
fn the_server_seed_carries_the_chart_and_its_helmchart_and_agents_none() {
    if !common::require_tool("osirrox") {
        return;
    }
    let tgz = chart_tgz("demo-app", "1.2.3", VALUES);
    let repo = Repo::start(&tgz, tgz.clone());
    let lab = lab_with_chart(&repo.server.url(""), "    values: demo-values.yaml\n");
    let values = "replicaCount: 2\npodAnnotations:\n  example.com/team: apps\n";
    fs::write(lab.lab_dir().join("demo-values.yaml"), values).unwrap();
    lab.build();
    let server = lab.root().join("server");
    extract(&lab.out_dir().join("iso/seed-lab-server1.iso"), &server);
    let carried = fs::read(server.join("payload/charts/demo.tgz")).unwrap();
    assert_eq!(sha256_bytes(&carried), sha256_bytes(&tgz));
    assert_eq!(carried, tgz);
    let sums = fs::read_to_string(server.join("payload/SHA256SUMS")).unwrap();
    assert!(
        sums.contains(&format!("{}  charts/demo.tgz", sha256_bytes(&tgz))),
        "{sums}"
    );
    let text = fs::read_to_string(server.join("payload/manifests/demo.yaml")).unwrap();
    let doc: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
    validate_helmchart(&doc).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(doc["apiVersion"], "helm.cattle.io/v1");
    assert_eq!(doc["kind"], "HelmChart");
    assert_eq!(doc["metadata"]["name"], "demo");
    assert_eq!(
        doc["spec"]["chart"],
        "https://%{KUBERNETES_API}%/static/charts/demo.tgz"
    );
    assert_eq!(doc["spec"]["version"], "1.2.3");
    assert_eq!(doc["spec"]["targetNamespace"], "apps");
    assert_eq!(doc["spec"]["valuesContent"], values);
    // The schema is a real judge: a misspelt field is refused.
    let mut bad = doc.clone();
    bad["spec"]["targetNamespaces"] = serde_json::json!("apps");
    assert!(validate_helmchart(&bad).is_err());

    let user_data = fs::read_to_string(server.join("user-data")).unwrap();
    assert!(
        user_data.contains("K3S_SERVER=/var/lib/rancher/k3s/server")
            && user_data.contains("\"$K3S_SERVER/static/charts/$name\""),
        "the server's bootstrap places charts"
    );
    let agent = lab.root().join("agent");
    extract(&lab.out_dir().join("iso/seed-lab-agent1.iso"), &agent);
    assert!(
        !agent.join("payload/charts").exists(),
        "an agent got charts"
    );
    assert!(
        !agent.join("payload/manifests").exists(),
        "an agent got manifests"
    );
    let user_data = fs::read_to_string(agent.join("user-data")).unwrap();
    assert!(
        !user_data.contains("static/charts"),
        "an agent places charts"
    );
}

/// `manifests:` files reach the servers' seeds under `payload/manifests/`, not the
/// agents'; a document without `metadata.name` is refused at its line (exit 2) before
/// anything is written.
#[test]
fn manifests_reach_the_servers_and_a_nameless_one_is_refused_at_its_line() {
    if !common::require_tool("osirrox") {
        return;
    }
    let lab = Lab::new();
    let dir = lab.lab_dir().join("manifests");
    fs::create_dir(&dir).unwrap();
    let good = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: apps\n";
    fs::write(dir.join("apps.yaml"), good).unwrap();
    fs::write(
        dir.join("config.yaml"),
        format!("{good}---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  namespace: apps\n"),
    )
    .unwrap();
    let config = lab.lab_dir().join("seedforge.yaml");
    let text = fs::read_to_string(&config).unwrap();
    fs::write(&config, format!("{text}\nmanifests:\n  - manifests\n")).unwrap();
    let refused = lab
        .seedforge()
        .args(["build", "--config", lab.config_arg()])
        .expect(2)
        .run();
    assert!(
        refused
            .stderr
            .contains("manifests/config.yaml:6: the document has no metadata.name"),
        "{}",
        refused.stderr
    );
    assert!(!lab.out_dir().exists(), "the refused build wrote something");

    fs::write(
        dir.join("config.yaml"),
        format!("{good}---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: apps\n"),
    )
    .unwrap();
    let built = lab
        .seedforge()
        .args(["--json", "build", "--config", lab.config_arg()])
        .run()
        .json();
    let copied: Vec<&str> = (built["manifests"]["files"].as_array().unwrap().iter())
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(copied, ["apps.yaml", "config.yaml"], "{built}");
    assert_eq!(
        built["manifests"]["files"][0]["sha256"],
        common::sha256_bytes(good.as_bytes()),
        "{built}"
    );
    let server = lab.root().join("server");
    extract(&lab.out_dir().join("iso/seed-lab-server1.iso"), &server);
    assert_eq!(
        fs::read_to_string(server.join("payload/manifests/apps.yaml")).unwrap(),
        good
    );
    assert!(server.join("payload/manifests/config.yaml").is_file());
    let agent = lab.root().join("agent");
    extract(&lab.out_dir().join("iso/seed-lab-agent1.iso"), &agent);
    assert!(
        !agent.join("payload/manifests").exists(),
        "an agent got manifests"
    );
}

/// A manifest document written on its `---` line (`--- {apiVersion: v1, kind:
/// ConfigMap}`) is a document like any other: without `metadata.name` it is refused at
/// that line (exit 2) and nothing is written.
#[test]
fn a_manifest_document_on_its_separator_line_is_checked() {
    let lab = Lab::new();
    let good = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: apps\n";
    fs::write(
        lab.lab_dir().join("inline.yaml"),
        format!("{good}--- {{apiVersion: v1, kind: ConfigMap}}\n"),
    )
    .unwrap();
    let config = lab.lab_dir().join("seedforge.yaml");
    let text = fs::read_to_string(&config).unwrap();
    fs::write(&config, format!("{text}\nmanifests:\n  - inline.yaml\n")).unwrap();
    for command in ["plan", "build"] {
        let refused = lab
            .seedforge()
            .args([command, "--config", lab.config_arg()])
            .expect(2)
            .run();
        assert!(
            refused
                .stderr
                .contains("inline.yaml:5: the document has no metadata.name"),
            "{}",
            refused.stderr
        );
    }
    assert!(!lab.out_dir().exists(), "the refused build wrote something");
}

/// An image the chart names (with the user's values over the chart's) that no image list
/// has: `plan` and `build` exit 2 naming the chart, the key and the image, before anything
/// is written; listed, it passes.
#[test]
fn an_image_the_chart_names_must_be_in_an_image_list() {
    let tgz = chart_tgz("demo-app", "1.2.3", VALUES);
    let repo = Repo::start(&tgz, tgz.clone());
    let lab = lab_with_chart(&repo.server.url(""), "    values: demo-values.yaml\n");
    let values = lab.lab_dir().join("demo-values.yaml");
    fs::write(&values, "image:\n  tag: \"3.7\"\n").unwrap();
    for command in ["plan", "build"] {
        let refused = lab
            .seedforge()
            .args([command, "--config", lab.config_arg()])
            .expect(2)
            .run();
        assert!(
            refused.stderr.contains(
                "chart demo (demo-app): demo-app/templates/deployment.yaml:10 (Deployment/demo, container image) pulls docker.io/rancher/mirrored-pause:3.7 (values image.repository, image.tag)"
            ),
            "{command}: {}",
            refused.stderr
        );
        assert!(!lab.out_dir().exists(), "{command} wrote something");
    }
    fs::write(&values, "image:\n  tag: \"3.6\"\n").unwrap();
    lab.seedforge()
        .args(["plan", "--config", lab.config_arg()])
        .run();
}

/// `push` sends the build's charts as Helm OCI artifacts: the registry then serves
/// `charts/demo-app:1.2.3` whose chart layer is the archive, byte for byte, and seedforge
/// fetches it back from there as a chart. `verify` checks the charts against their
/// digests: a flipped byte in the archive is found (exit 1), naming it.
#[test]
fn push_sends_the_charts_as_oci_artifacts_and_verify_checks_them() {
    let tgz = chart_tgz("demo-app", "1.2.3", VALUES);
    let repo = Repo::start(&tgz, tgz.clone());
    let lab = lab_with_chart(&repo.server.url(""), "");
    let built = lab
        .seedforge()
        .args(["--json", "build", "--config", lab.config_arg()])
        .run()
        .json();
    // The build's report names the chart it wrote, with its digest.
    let charts = built["charts"].as_array().unwrap();
    assert_eq!(charts.len(), 1, "{built}");
    assert_eq!(charts[0]["name"], "demo", "{built}");
    assert_eq!(
        charts[0]["digest"],
        format!("sha256:{}", common::sha256_bytes(&tgz)),
        "{built}"
    );
    let registry = common::registry::Registry::start_plain();
    let host = registry.host();
    let pushed = lab
        .seedforge()
        .args(["push", "--layout"])
        .arg(lab.out_dir())
        .args(["--registry", &host, "--plain-http", &host])
        .run();
    assert!(
        pushed
            .stdout
            .contains(&format!("{host}/charts/demo-app:1.2.3")),
        "{}",
        pushed.stdout
    );
    // Fetched back as an OCI chart by a second lab: the same bytes.
    drop(repo);
    let back = lab_with_chart(&format!("oci://{host}/charts"), "");
    let config = back.lab_dir().join("seedforge.yaml");
    let text = fs::read_to_string(&config).unwrap().replace(
        "\nimages:\n",
        &format!("\nregistries:\n  - host: \"{host}\"\n    insecure: true\n\nimages:\n"),
    );
    fs::write(&config, text).unwrap();
    back.build();
    assert_eq!(
        fs::read(back.out_dir().join("charts/demo-1.2.3.tgz")).unwrap(),
        tgz
    );

    lab.seedforge().arg("verify").arg(lab.out_dir()).run();
    common::flip_byte(&lab.out_dir().join("charts/demo-1.2.3.tgz"), 100);
    let failed = lab
        .seedforge()
        .arg("verify")
        .arg(lab.out_dir())
        .expect(1)
        .run();
    let said = format!("{}{}", failed.stdout, failed.stderr);
    assert!(said.contains("charts/demo-1.2.3.tgz"), "{said}");
}

/// With `seeds: {payload: shared}`, the one payload ISO carries the chart and its
/// HelmChart (every node attaches it; the bootstrap places them on servers only).
#[test]
fn the_shared_payload_carries_the_chart() {
    if !common::require_tool("osirrox") {
        return;
    }
    let tgz = chart_tgz("demo-app", "1.2.3", VALUES);
    let repo = Repo::start(&tgz, tgz.clone());
    let lab = lab_with_chart(&repo.server.url(""), "seeds:\n  payload: shared\n");
    lab.build();
    let payload = lab.root().join("payload");
    extract(&lab.out_dir().join("iso/payload.iso"), &payload);
    assert_eq!(
        fs::read(payload.join("payload/charts/demo.tgz")).unwrap(),
        tgz
    );
    assert!(payload.join("payload/manifests/demo.yaml").is_file());
}

/// A Helm repository's credentials are found as a registry's: `registries:` for its
/// host, sent as basic auth with every request to it, never shown.
#[test]
fn a_repository_gets_the_credentials_configured_for_its_host() {
    let tgz = chart_tgz("demo-app", "1.2.3", VALUES);
    let repo = Repo::start(&tgz, tgz.clone());
    let host = repo.server.host();
    let lab = lab_with_chart(&repo.server.url(""), "");
    let config = lab.lab_dir().join("seedforge.yaml");
    let text = fs::read_to_string(&config).unwrap().replace(
        "\nimages:\n",
        &format!(
            "\nregistries:\n  - host: \"{host}\"\n    username: deploy\n    password: {{env: CHART_REPO_PASSWORD}}\n\nimages:\n"
        ),
    );
    fs::write(&config, text).unwrap();
    let built = lab
        .seedforge()
        .env("CHART_REPO_PASSWORD", "s3cret-pw")
        .args(["build", "--config", lab.config_arg()])
        .run();
    assert!(!built.stdout.contains("s3cret-pw") && !built.stderr.contains("s3cret-pw"));
    use base64::Engine as _;
    let basic = base64::engine::general_purpose::STANDARD.encode("deploy:s3cret-pw");
    let heads = repo.server.seen.heads.lock().unwrap().clone();
    assert_eq!(heads.len(), 2, "{heads:?}");
    for head in heads {
        assert!(
            head.to_ascii_lowercase().contains(&format!(
                "authorization: basic {}",
                basic.to_ascii_lowercase()
            )),
            "{head}"
        );
    }
    assert!(!lock_text(&lab).contains("s3cret-pw"));
}

/// A chart whose operator pulls what its custom resource names in parts (the GPU
/// operator's ClusterPolicy): `chart-images` names each with the resource and its field,
/// the driver whose tag the operator completes on the node apart; `plan` asks for the
/// former in an image list, never for the latter.
#[test]
fn an_operators_images_are_named_with_their_field_and_a_completed_one_apart() {
    let policy = "apiVersion: nvidia.com/v1\nkind: ClusterPolicy\nmetadata:\n  name: cluster-policy\nspec:\n  driver:\n    repository: nvcr.io/nvidia\n    image: driver\n    version: \"595.58.03\"\n  toolkit:\n    repository: {{ .Values.toolkit.repository }}\n    image: container-toolkit\n    version: v1.20.0\n";
    let tgz = tgz_of(&[
        (
            "demo-app/Chart.yaml".into(),
            "apiVersion: v2\nname: demo-app\nversion: 1.2.3\n".into(),
        ),
        (
            "demo-app/values.yaml".into(),
            "toolkit:\n  repository: nvcr.io/nvidia/k8s\n".into(),
        ),
        ("demo-app/templates/policy.yaml".into(), policy.into()),
    ]);
    let repo = Repo::start(&tgz, tgz.clone());
    let lab = lab_with_chart(&repo.server.url(""), "");
    let text = lab
        .seedforge()
        .args(["chart-images", "--config", lab.config_arg()])
        .run();
    for want in [
        "nvcr.io/nvidia/k8s/container-toolkit:v1.20.0  [NOT LISTED]  demo-app/templates/policy.yaml:10 (ClusterPolicy/cluster-policy, pulled by the operator, spec.toolkit); values toolkit.repository",
        "(completed on the node)  nvcr.io/nvidia/driver:595.58.03  demo-app/templates/policy.yaml:6 (ClusterPolicy/cluster-policy, spec.driver): the operator appends the node's OS",
    ] {
        assert!(text.stdout.contains(want), "{want}\n{}", text.stdout);
    }
    let json = lab
        .seedforge()
        .args(["chart-images", "--config", lab.config_arg(), "--json"])
        .run();
    let doc: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let chart = &doc["charts"][0];
    assert_eq!(chart["images"][0]["how"], "operator");
    assert_eq!(chart["images"][0]["field"], "spec.toolkit");
    assert_eq!(chart["images"][0]["listed"], false);
    assert_eq!(
        chart["completed_on_the_node"][0]["written"],
        "nvcr.io/nvidia/driver:595.58.03"
    );
    let refused = lab
        .seedforge()
        .args(["plan", "--config", lab.config_arg()])
        .expect(2)
        .run();
    assert!(
        refused.stderr.contains("demo-app/templates/policy.yaml:10 (ClusterPolicy/cluster-policy, pulled by the operator) pulls nvcr.io/nvidia/k8s/container-toolkit:v1.20.0 (values toolkit.repository)"),
        "{}",
        refused.stderr
    );
    assert!(
        !refused.stderr.contains("driver:595.58.03"),
        "{}",
        refused.stderr
    );
}
