//! seedforge's chart rendering judged by Helm's own engine. Each of seedforge's own charts
//! (`fixtures/charts-own/`, each `SOURCE` naming the constructs it reproduces) is rendered
//! with each of its value sets (its defaults, values that move its images to another
//! registry, and the sets its constructs need: a subchart's condition, a profile, a digest):
//! by `seedforge chart-images --manifests` (the chart served from a Helm repository on
//! 127.0.0.1) and by Helm 4's Go library (`tests/helm/judge.py`: the `helm-sdkpy` wheel's
//! shared object, installing into a Kubernetes API of its own on 127.0.0.1 that serves the
//! API versions seedforge gives `.Capabilities`). Both outputs are read as YAML documents and
//! compared: the set of (kind, namespace, name), each document's content, and the chart's
//! NOTES. A value set both must refuse (a `fail` in NOTES.txt, a value against the chart's
//! schema) is refused by both, each naming the reason. The same archive is rendered by both.
//!
//! What Helm itself renders differently on every run would be normalised on both sides, each
//! place named in [`NORMALISED`] (none of the own charts makes anything at random). Every
//! other difference is a line of the case's report (each place of a document, each line of
//! a multi-line string: `tests/helm_judge_diff.rs`) and must be listed in
//! [`known_differences`] exactly, with its reason; a listed difference that no longer occurs
//! fails the test too, so the list shrinks as seedforge's rendering is fixed. Two refusals
//! agree only when both name the reason and the same template and line (and column, where
//! both name one).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use crate::common::misbehave::{Answer, Server};
use crate::common::{Cmd, repo_root};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A chart of `fixtures/charts-own/`, released as `release` in `namespace`, the values
/// (YAML) that move its images to `registry.example:5000`, and its other value sets.
struct Chart {
    fixture: &'static str,
    release: &'static str,
    namespace: &'static str,
    registry: &'static str,
    more: &'static [Set],
}

/// A value set of a chart: its name, its values (YAML), and, when both must refuse it, the
/// text both refusals hold.
struct Set {
    name: &'static str,
    values: &'static str,
    refused: Option<&'static str>,
}

const fn set(name: &'static str, values: &'static str) -> Set {
    Set {
        name,
        values,
        refused: None,
    }
}

const fn refused(name: &'static str, values: &'static str, why: &'static str) -> Set {
    Set {
        name,
        values,
        refused: Some(why),
    }
}

const CHARTS: &[Chart] = &[
    Chart {
        fixture: "webapp-1.2.0",
        release: "webapp",
        namespace: "web",
        registry: "global: {imageRegistry: registry.example:5000, imagePullSecrets: [mirror]}",
        more: &[
            set(
                "digest",
                "image: {digest: 'sha256:abababababababababababababababababababababababababababababababab', pullSecrets: [mirror, own]}\nbackup: {enabled: false}\nglobal: {labels: {team: web, tier: '2'}}",
            ),
            set(
                "templates",
                "fullnameOverride: site\npodAnnotations: {a.example/x: '{{ .Values.service.port | add 1 }}'}\nconfig: {greeting: \"{{ upper .Release.Name }} in {{ .Release.Namespace }}\"}\nextraEnv: [{name: FROM_A_LIST, value: '{{ .Chart.AppVersion }}'}]",
            ),
            refused("schema", "replicaCount: 0", "replicaCount"),
            refused(
                "schema-ref",
                "helper: {image: {digest: 'md5:0f'}}",
                "digest",
            ),
            refused(
                "required",
                "image: {repository: ''}",
                "an image needs its repository",
            ),
        ],
    },
    Chart {
        fixture: "platform-3.0.0",
        release: "platform",
        namespace: "platform",
        registry: "global: {imageRegistry: registry.example:5000}",
        more: &[
            set(
                "export",
                "export: {enabled: true}\ntags: {persistence: false}\ningest: {service: {port: 9100}}",
            ),
            refused("subchart-schema", "ingest: {replicas: 30}", "replicas"),
            set(
                "global-condition",
                "global: {exportEnabled: true, labels: {platform.example/tier: front, extra: x}}\nexport: {enabled: null}\nstore: {enabled: false}",
            ),
        ],
    },
    Chart {
        fixture: "mesh-1.5.0",
        release: "mesh",
        namespace: "mesh-system",
        registry: "global: {hub: registry.example:5000/meshproj}",
        more: &[
            set("minimal", "profile: minimal\nglobal: {tag: 1.5.1}"),
            set(
                "debug",
                "profile: debug\npilot: {env: {EXTRA: '1'}}\nmeshConfig: {trustDomain: example.org}",
            ),
            refused(
                "removed",
                "telemetry: {exporter: zipkin}",
                "telemetry.exporter is no longer read by mesh 1.5.0: set meshConfig.extensionProviders instead",
            ),
            refused(
                "no-profile",
                "profile: tiny",
                "no profile \"tiny\" (files/profile-tiny.yaml)",
            ),
        ],
    },
    Chart {
        fixture: "accel-operator-2.0.0",
        release: "accel",
        namespace: "accel",
        registry: "operator: {repository: registry.example:5000/accelproj}\nvalidator: {repository: registry.example:5000/accelproj}",
        more: &[set(
            "exporter",
            "exporter: {enabled: true}\ndevicePlugin: {version: '0.17.0'}",
        )],
    },
    Chart {
        fixture: "comments-1.0.0",
        release: "comments",
        namespace: "default",
        registry: "image: {registry: registry.example:5000}",
        more: &[set(
            "sidecars",
            "sidecars: [{name: only, image: registry.example:5000/only:1}]\nsettings: {after: 0}",
        )],
    },
    Chart {
        fixture: "engine-1.0.0",
        release: "engine",
        namespace: "default",
        registry: "image: {repository: registry.example:5000/engineproj/agent}",
        more: &[set(
            "numbers",
            "numbers: {million: 2000000, big: 98765432109876, half: 0.25, extra: 1e-7, int: 7}",
        )],
    },
    Chart {
        fixture: "capabilities-1.0.0",
        release: "caps",
        namespace: "default",
        registry: "image: {registry: registry.example:5000}\nsidecar: {image: 'registry.example:5000/capsproj/sidecar:edge'}",
        more: &[
            set(
                "disabled",
                "serviceMonitor: {enabled: false}\nscraper: {enabled: false}",
            ),
            refused(
                "fail-if-missing",
                "serviceMonitor: {renderMode: failIfMissing}",
                "serviceMonitor.renderMode is failIfMissing and the cluster serves no monitoring.coreos.com/v1/ServiceMonitor",
            ),
        ],
    },
    Chart {
        fixture: "metadata-1.0.0",
        release: "meta",
        namespace: "metaproj",
        registry: "image: {repository: registry.example:5000/metaproj/server}",
        more: &[
            set("extras", "extra: {enabled: true}\ntags: {extras: false}"),
            set(
                "tagged",
                "image: {tag: '3.2.2'}\nextra: {enabled: null}\ntags: {extras: true}",
            ),
        ],
    },
    Chart {
        fixture: "yaml-text-1.0.0",
        release: "text",
        namespace: "default",
        registry: "image: {registry: registry.example:5000}",
        more: &[],
    },
    Chart {
        fixture: "yaml-quoting-2.0.0",
        release: "quoting",
        namespace: "default",
        registry: "image: {registry: registry.example:5000}",
        more: &[],
    },
    Chart {
        fixture: "runners-0.12.0",
        release: "ci",
        namespace: "runners",
        registry: "runnerImage: registry.example:5000/runnersproj/runner:2.321.0\ndindImage: registry.example:5000/library/docker:27.1-dind",
        more: &[
            set("dind", "containerMode: {type: dind, volume: {size: 10Gi}}"),
            set(
                "kubernetes",
                "containerMode: {type: kubernetes, requireJobContainer: false, volume: {}, labels: [a, b], workVolumeClaim: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}}",
            ),
            refused(
                "nil-container",
                "extraContainers: [~]",
                "nil pointer evaluating interface {}.name",
            ),
            refused(
                "no-volume",
                "containerMode: {type: dind}",
                "nil pointer evaluating interface {}.size",
            ),
        ],
    },
    Chart {
        fixture: "pgoperator-1.14.0",
        release: "pg",
        namespace: "postgres",
        registry: "image: {registry: registry.example:5000}\nconfigGeneral: {docker_image: 'registry.example:5000/pgproj/spilo-17:4.0-p2'}\nconfigLogicalBackup: {logical_backup_docker_image: 'registry.example:5000/pgproj/logical-backup:v1.14.0'}\nconfigConnectionPooler: {connection_pooler_image: 'registry.example:5000/acid/pgbouncer:master-32'}",
        more: &[set("configmap", "configTarget: ConfigMap")],
    },
    Chart {
        fixture: "cni-operator-3.30.5",
        release: "calico",
        namespace: "calico-system",
        registry: "tigeraOperator: {registry: registry.example:5000}\ninstallation: {registry: registry.example:5000, imagePath: mirror}",
        more: &[set(
            "switches",
            "installation: {flexVolumePath: None, cni: {type: AmazonVPC}}\nkubeletVolumePluginPath: None\nwhisker: {enabled: false}\napiServer: {enabled: false}",
        )],
    },
    Chart {
        fixture: "scanner-operator-0.26.0",
        release: "scan",
        namespace: "scanner-system",
        registry: "image: {registry: registry.example:5000}\nscanner: {image: {registry: registry.example:5000}}\nnodeCollector: {registry: registry.example:5000}",
        more: &[
            set("disabled", "scanner: {enabled: false}"),
            set(
                "built-in-server",
                "scanner: {mode: ClientServer, server: {builtIn: true}}",
            ),
            refused(
                "no-registry",
                "scanner: {image: {registry: ''}}",
                ".Values.scanner.image.registry is required",
            ),
        ],
    },
];

/// What Helm renders differently on every run, replaced by `<normalised>` on both sides
/// in every value set: (fixture, kind, name, JSON pointer, why). None of the own charts
/// makes a value at random.
const NORMALISED: &[(&str, &str, &str, &str, &str)] = &[];

/// The differences seedforge's rendering has today, each pinned at its exact place with its
/// reason: (case, the whole line of the case's report: the document, the JSON pointer and
/// the value on each side, as [`crate::helm_judge_diff::line`] writes it, why). A case is
/// `FIXTURE SET` (`defaults`, `registry`, or a set's name). Any other difference of the same
/// document, or the same place with another value, is a line of its own and fails the test.
fn known_differences() -> Vec<(String, String, &'static str)> {
    let mut out = Vec::new();
    for set in ["defaults", "registry", "sidecars"] {
        out.push((
            format!("comments-1.0.0 {set}"),
            crate::helm_judge_diff::line(
                "Deployment comments-comments",
                "/spec/template/spec/containers/0/livenessProbe/initialDelaySeconds",
                None,
                Some("null"),
            ),
            NULLS,
        ));
    }
    // Helm 3's Go types of what templates are handed, where Helm 4 changed them.
    let json = |s: &str| serde_json::to_string(s).unwrap();
    let helm4 = [
        (
            "/data/chartType",
            "map[string]interface {} map",
            "struct { chart.Metadata; IsRoot bool } struct",
        ),
        (
            "/data/maintainers",
            r#"[{"Email":"maintainers@metaproj.example","Name":"Metaproj maintainers","URL":""},{"Email":"","Name":"Release team","URL":""}]"#,
            r#"[{"name":"Metaproj maintainers","email":"maintainers@metaproj.example"},{"name":"Release team"}]"#,
        ),
        (
            "/data/types",
            "[]interface {} []interface {} *common.Capabilities common.VersionSet",
            "[]string []*chart.Maintainer *chartutil.Capabilities chartutil.VersionSet",
        ),
    ];
    for set in ["defaults", "registry", "extras", "tagged"] {
        for (place, helm, seedforge) in helm4 {
            out.push((
                format!("metadata-1.0.0 {set}"),
                crate::helm_judge_diff::line(
                    "ConfigMap metaproj/meta-metadata",
                    place,
                    Some(&json(helm)),
                    Some(&json(seedforge)),
                ),
                TYPES,
            ));
        }
    }
    out
}

/// `.Chart` and `.Capabilities` as Helm 3's engine hands them, as on the node (k3s's
/// helm-controller): `.Chart` a `struct { chart.Metadata; IsRoot bool }` (its slices typed,
/// `toJson` by Metadata's `json` tags), `chartutil`'s types; Helm 4 makes `.Chart` a
/// `map[string]interface {}` of Go names and moved the types to `pkg/chart/common`.
const TYPES: &str =
    "Helm 3's Go types of .Chart and .Capabilities (Helm 4's judge: a map, package common)";

/// A key the chart's values.yaml leaves empty (`initialDelaySeconds:`, null): Helm 4.2 and
/// later drop a chart default's null when coalescing (`cleanNilValues`), so `toYaml` of the
/// map leaves the key out; Helm 3, which k3s's helm-controller installs with, copies it as
/// null, and so does seedforge (docs/config.md).
const NULLS: &str = "a chart default's null kept as Helm 3 keeps it (Helm 4.2 drops it)";

/// The judge's shared object: `$SEEDFORGE_HELM_SDKPY`, or where scripts/test.sh unpacks
/// the wheel.
pub(crate) fn helm_library() -> Option<PathBuf> {
    let lib = std::env::var_os("SEEDFORGE_HELM_SDKPY").map_or_else(
        || repo_root().join("target/helm-sdkpy/helm_sdkpy/_lib/linux-amd64/libhelm_sdkpy.so"),
        PathBuf::from,
    );
    if lib.is_file() {
        return Some(lib);
    }
    assert!(
        std::env::var("CI").map_or(true, |v| v != "true"),
        "Helm's library (helm-sdkpy) is missing at {} (CI=true); scripts/test.sh fetches it",
        lib.display()
    );
    eprintln!(
        "SKIP: no Helm library at {}; scripts/test.sh fetches it",
        lib.display()
    );
    None
}

/// The fixture's chart as an archive (`NAME/…`, fixed times and modes), with its name and
/// version.
fn chart_archive(fixture: &str) -> (String, String, Vec<u8>) {
    let dir = crate::charts_own::chart_dir(fixture);
    let meta: Value =
        seedforge::charts::read_yaml(&std::fs::read_to_string(dir.join("Chart.yaml")).unwrap())
            .unwrap();
    let name = meta["name"].as_str().unwrap().to_string();
    let version = meta["version"].as_str().unwrap().to_string();
    let mut tar = tar::Builder::new(Vec::new());
    for (rel, bytes) in crate::charts_own::files_under(&dir) {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_cksum();
        tar.append_data(&mut header, format!("{name}/{rel}"), bytes.as_slice())
            .unwrap();
    }
    let mut gz = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &tar.into_inner().unwrap()).unwrap();
    (name, version, gz.finish().unwrap())
}

/// One chart with one value set.
struct Case {
    id: String,
    chart: &'static Chart,
    name: String,
    version: String,
    archive: PathBuf,
    values: String,
    /// The text both refusals must hold, when both must refuse.
    refused: Option<&'static str>,
}

/// A rendered document: its identity and content.
type Docs = BTreeMap<(String, String, String), Vec<Value>>;

/// Splits a stream of documents at `---` lines.
fn documents(text: &str) -> Vec<&str> {
    let sep = regex::Regex::new(r"(?m)^---[ \t]*$").unwrap();
    sep.split(text).filter(|d| !d.trim().is_empty()).collect()
}

/// The documents of `texts`, by identity; documents that are only comments or empty left
/// out (Helm keeps them in a release's manifest, and they are nothing to a cluster).
fn parse(case: &str, texts: &[String]) -> Result<Docs, String> {
    let mut out = Docs::new();
    for text in texts {
        for d in documents(text) {
            let v: Value = seedforge::charts::read_yaml(d)
                .map_err(|e| format!("{case}: a document is not YAML ({e}):\n{d}"))?;
            if v.is_null() {
                continue;
            }
            let s = |p: &str| {
                v.pointer(p)
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string()
            };
            out.entry((s("/kind"), s("/metadata/namespace"), s("/metadata/name")))
                .or_default()
                .push(v);
        }
    }
    for docs in out.values_mut() {
        docs.sort_by_key(Value::to_string);
    }
    Ok(out)
}

/// `Kind namespace/name` (or `Kind name`).
fn shown(key: &(String, String, String)) -> String {
    if key.1.is_empty() {
        format!("{} {}", key.0, key.2)
    } else {
        format!("{} {}/{}", key.0, key.1, key.2)
    }
}

/// Replaces what [`NORMALISED`] names for `fixture` in `docs`.
fn normalise(fixture: &str, docs: &mut Docs) {
    for (f, kind, name, pointer, _) in NORMALISED {
        if *f != fixture {
            continue;
        }
        for ((k, _, n), list) in docs.iter_mut() {
            if k == kind && n == name {
                for v in list {
                    if let Some(slot) = v.pointer_mut(pointer) {
                        *slot = Value::String("<normalised>".into());
                    }
                }
            }
        }
    }
}

/// The lines of a case's report: what seedforge and Helm disagree on; and how many of
/// Helm's documents seedforge renders the same, of how many.
fn compare(
    case: &str,
    fixture: &str,
    helm: &Value,
    seedforge: &Result<PathBuf, String>,
) -> (Vec<String>, usize, usize) {
    let mut lines = Vec::new();
    let (mut same, mut all) = (0, 0);
    let mut helm_texts = vec![helm["manifest"].as_str().unwrap_or_default().to_string()];
    for h in helm["hooks"].as_array().into_iter().flatten() {
        helm_texts.push(h["manifest"].as_str().unwrap_or_default().to_string());
    }
    let dir = match seedforge {
        Err(e) => {
            let first = e.lines().next().unwrap_or_default();
            if helm["ok"] == true {
                lines.push(format!("seedforge refuses: {first}"));
            } else {
                // Both refuse a set neither should: named, never taken for agreement.
                lines.push(format!(
                    "both refuse: Helm {} / seedforge {first}",
                    helm["error"].as_str().unwrap_or_default()
                ));
            }
            let all = parse(case, &helm_texts).map_or(0, |h| h.values().map(Vec::len).sum());
            return (lines, 0, all);
        }
        Ok(dir) => dir,
    };
    if helm["ok"] != true {
        lines.push(format!(
            "Helm refuses: {}",
            helm["error"].as_str().unwrap_or_default()
        ));
        return (lines, 0, 0);
    }
    // Kinds no CRD of the chart defines, which the judge served from the start so that
    // Helm would install (and its capabilities then hold them).
    for k in helm["late_kinds"].as_array().into_iter().flatten() {
        lines.push(format!(
            "Helm needs the kind {k} served, no CRD of the chart defines it"
        ));
    }
    let mut ours = Vec::new();
    let mut notes = None;
    for (rel, bytes) in crate::charts_own::files_under(dir) {
        let text = String::from_utf8(bytes).unwrap();
        if rel == "NOTES.txt" {
            notes = Some(text);
        } else {
            ours.push(text);
        }
    }
    let (mut h, mut s) = match (parse(case, &helm_texts), parse(case, &ours)) {
        (Ok(h), Ok(s)) => (h, s),
        (Err(e), _) => return (vec![format!("Helm's output unreadable: {e}")], 0, 0),
        (_, Err(e)) => return (vec![format!("seedforge's output unreadable: {e}")], 0, 0),
    };
    normalise(fixture, &mut h);
    normalise(fixture, &mut s);
    for (key, docs) in &h {
        all += docs.len();
        match s.get(key) {
            None => lines.push(format!("only Helm renders {}", shown(key))),
            Some(ours) if ours.len() != docs.len() => lines.push(format!(
                "{}: Helm renders {}, seedforge {}",
                shown(key),
                docs.len(),
                ours.len()
            )),
            Some(ours) => {
                for (a, b) in docs.iter().zip(ours) {
                    let d = crate::helm_judge_diff::document_lines(&shown(key), a, b);
                    if d.is_empty() {
                        same += 1;
                    }
                    lines.extend(d);
                }
            }
        }
    }
    for key in s.keys().filter(|k| !h.contains_key(*k)) {
        lines.push(format!("only seedforge renders {}", shown(key)));
    }
    let helm_notes = helm["notes"].as_str().unwrap_or_default().trim();
    match notes {
        None if !helm_notes.is_empty() => lines.push("NOTES.txt: only Helm renders it".into()),
        Some(n) if n.trim() != helm_notes => lines.push("NOTES.txt differs".into()),
        _ => {}
    }
    (lines, same, all)
}

/// The lines of the report of a case both must refuse, naming `why`: none when both do.
fn both_refuse(helm: &Value, seedforge: &Result<PathBuf, String>, why: &str) -> Vec<String> {
    let mut lines = Vec::new();
    if helm["ok"] == true {
        lines.push(format!(
            "Helm renders it, refusing nothing (expected: {why})"
        ));
    } else {
        let e = helm["error"].as_str().unwrap_or_default();
        if !e.contains(why) {
            lines.push(format!("Helm refuses without naming {why:?}: {e}"));
        }
    }
    match seedforge {
        Ok(_) => lines.push(format!(
            "seedforge renders it, refusing nothing (expected: {why})"
        )),
        Err(e) if !e.contains(why) => {
            lines.push(format!("seedforge refuses without naming {why:?}: {e}"));
        }
        Err(e) => {
            // The same reason at the same place: the template and line each names.
            if helm["ok"] != true
                && let Some(l) = crate::helm_judge_diff::refusals_differ(
                    helm["error"].as_str().unwrap_or_default(),
                    e,
                )
            {
                lines.push(l);
            }
        }
    }
    lines
}

/// Renders `case` with `seedforge chart-images --manifests` (the chart served from a Helm
/// repository on 127.0.0.1): the folder of its manifests, or why seedforge refused (its
/// whole message).
fn seedforge_render(case: &Case, work: &Path) -> Result<PathBuf, String> {
    let tgz = std::fs::read(&case.archive).unwrap();
    let file = format!("charts/{}-{}.tgz", case.name, case.version);
    let index = format!(
        "apiVersion: v1\nentries:\n  {name}:\n    - apiVersion: v2\n      name: {name}\n      version: \"{version}\"\n      digest: {digest}\n      urls:\n        - {file}\n      created: \"2024-01-01T00:00:00Z\"\ngenerated: \"2024-01-01T00:00:00Z\"\n",
        name = case.name,
        version = case.version,
        digest = crate::common::sha256_bytes(&tgz),
    );
    let served = format!("/{file}");
    let server = Server::start(move |_, path| {
        if path == "/index.yaml" {
            Answer::ok("application/yaml", index.clone())
        } else if path == served {
            Answer::ok("application/gzip", tgz.clone())
        } else {
            Answer::status(404)
        }
    });
    let dir = work.join(case.id.replace(' ', "-"));
    std::fs::create_dir_all(&dir).unwrap();
    let lab = repo_root().join("fixtures/lab");
    std::fs::copy(lab.join("token"), dir.join("token")).unwrap();
    std::fs::write(dir.join("images.txt"), "").unwrap();
    std::fs::write(dir.join("values.yaml"), &case.values).unwrap();
    let mut config = std::fs::read_to_string(lab.join("seedforge.yaml")).unwrap();
    config.push_str(&format!(
        "\ncharts:\n  - name: {}\n    repo: {}\n    chart: {}\n    version: \"{}\"\n    namespace: {}\n    values: values.yaml\n",
        case.chart.release,
        server.url(""),
        case.name,
        case.version,
        case.chart.namespace
    ));
    std::fs::write(dir.join("seedforge.yaml"), config).unwrap();
    let out = Cmd::seedforge()
        .args([
            "chart-images",
            "--config",
            "seedforge.yaml",
            "--manifests",
            "manifests",
        ])
        .cwd(&dir)
        .any_status()
        .timeout(Duration::from_secs(120))
        .run();
    if out.code == Some(0) {
        Ok(dir.join("manifests").join(case.chart.release))
    } else {
        // The whole message: a schema's refusal names the values on the lines after.
        let message = out.stderr.trim();
        Err(if message.is_empty() {
            "no message".to_string()
        } else {
            message.trim_start_matches("error: ").to_string()
        })
    }
}

#[test]
fn helm_renders_each_chart_as_seedforge_does() {
    let Some(lib) = helm_library() else { return };
    let started = Instant::now();
    let work = tempfile::Builder::new()
        .prefix("seedforge-helm-judge-")
        .tempdir()
        .unwrap();
    // SEEDFORGE_HELM_JUDGE_KEEP=1 keeps both sides' outputs for a closer look.
    if std::env::var_os("SEEDFORGE_HELM_JUDGE_KEEP").is_some() {
        eprintln!("helm judge: keeping {}", work.path().display());
    }
    let mut cases = Vec::new();
    // SEEDFORGE_HELM_JUDGE_ONLY=TEXT judges only the charts whose fixture holds TEXT.
    let only = std::env::var("SEEDFORGE_HELM_JUDGE_ONLY").unwrap_or_default();
    for chart in CHARTS.iter().filter(|c| c.fixture.contains(&only)) {
        let (name, version, tgz) = chart_archive(chart.fixture);
        let archive = work.path().join(format!("{}.tgz", chart.fixture));
        std::fs::write(&archive, tgz).unwrap();
        let sets = [
            (&"defaults", "{}", None),
            (&"registry", chart.registry, None),
        ]
        .into_iter()
        .chain(chart.more.iter().map(|s| (&s.name, s.values, s.refused)));
        for (set, values, refused) in sets {
            cases.push(Case {
                id: format!("{} {set}", chart.fixture),
                chart,
                name: name.clone(),
                version: version.clone(),
                archive: archive.clone(),
                values: format!("{values}\n"),
                refused,
            });
        }
    }
    // Helm's renders, in the background while seedforge renders.
    let spec = serde_json::json!({
        "kube_version": "v1.33.1+k3s1",
        "api_versions": seedforge::charts::context::api_versions(),
        "cases": cases.iter().map(|c| {
            let values: Value = seedforge::charts::read_yaml(&c.values).unwrap();
            serde_json::json!({
                "id": c.id,
                "chart": c.archive,
                "release": c.chart.release,
                "namespace": c.chart.namespace,
                "values": values,
            })
        }).collect::<Vec<_>>(),
    });
    let spec_path = work.path().join("cases.json");
    let out_path = work.path().join("helm.json");
    std::fs::write(&spec_path, spec.to_string()).unwrap();
    let judge = Cmd::new("python3")
        .arg(repo_root().join("tests/helm/judge.py"))
        .arg("--lib")
        .arg(&lib)
        .arg("--cases")
        .arg(&spec_path)
        .arg("--out")
        .arg(&out_path)
        .args(["--timeout", "90", "--jobs", "1"])
        .timeout(Duration::from_secs(900))
        .spawn();
    let ours: Vec<(Result<PathBuf, String>, Duration)> = {
        let next = std::sync::atomic::AtomicUsize::new(0);
        let results = std::sync::Mutex::new(BTreeMap::new());
        std::thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(case) = cases.get(i) else { break };
                        let t = Instant::now();
                        let r = seedforge_render(case, work.path());
                        results.lock().unwrap().insert(i, (r, t.elapsed()));
                    }
                });
            }
        });
        results.into_inner().unwrap().into_values().collect()
    };
    let seedforge_took = started.elapsed();
    let judged = judge.wait();
    let helm: Value = serde_json::from_str(
        &std::fs::read_to_string(&out_path)
            .unwrap_or_else(|e| panic!("the judge wrote no results ({e}): {}", judged.stderr)),
    )
    .unwrap();
    eprintln!(
        "helm judge: {} cases; seedforge rendered them in {:?}, {} in {:?} (all done)",
        cases.len(),
        seedforge_took,
        helm["helm"],
        started.elapsed()
    );
    let known_differences = known_differences();
    let mut unexplained = Vec::new();
    let mut used = vec![false; known_differences.len()];
    let mut agree = 0;
    let mut documents = (0, 0);
    for (i, case) in cases.iter().enumerate() {
        let h = &helm["cases"][i];
        assert_eq!(h["id"], case.id.as_str());
        let (lines, same, all) = match case.refused {
            Some(why) => (both_refuse(h, &ours[i].0, why), 0, 0),
            None => compare(&case.id, case.chart.fixture, h, &ours[i].0),
        };
        if lines.is_empty() {
            agree += 1;
        }
        documents.0 += same;
        documents.1 += all;
        for line in &lines {
            let known = known_differences
                .iter()
                .position(|(c, pinned, _)| *c == case.id && line == pinned);
            match known {
                Some(k) => used[k] = true,
                None => unexplained.push(format!("{}: {line}", case.id)),
            }
            eprintln!(
                "  {}: {line}{}",
                case.id,
                if known.is_some() { "  [known]" } else { "" }
            );
        }
        eprintln!(
            "{}: {}; {same} of Helm's {all} documents the same (Helm {}s, seedforge {:.3}s)",
            case.id,
            if lines.is_empty() {
                "Helm and seedforge agree".to_string()
            } else {
                format!("{} difference(s)", lines.len())
            },
            h["seconds"],
            ours[i].1.as_secs_f64()
        );
    }
    eprintln!(
        "helm judge: {agree} of {} cases agree; {} of Helm's {} documents the same; {} known difference(s)",
        cases.len(),
        documents.0,
        documents.1,
        known_differences.len()
    );
    let stale: Vec<String> = known_differences
        .iter()
        .zip(&used)
        .filter(|((c, _, _), u)| !**u && cases.iter().any(|k| k.id == *c))
        .map(|((c, pinned, why), _)| format!("{c}: {pinned} ({why})"))
        .collect();
    if std::env::var_os("SEEDFORGE_HELM_JUDGE_KEEP").is_some() {
        let _ = work.keep();
    }
    assert!(
        unexplained.is_empty() && stale.is_empty(),
        "differences not in known_differences():\n{}\nknown_differences() that no longer occur (remove them):\n{}",
        unexplained.join("\n"),
        stale.join("\n")
    );
}

/// `chart-images --manifests DIR` lays out what a chart rendered as `helm template NAME
/// CHART --output-dir DIR/NAME` does (one file a template, `---` and `# Source:` before each
/// document, resources by kind, hooks after), the same bytes on every run; a folder that is
/// not empty is refused before anything is fetched.
#[test]
fn chart_images_writes_the_manifests_helm_template_writes() {
    let chart = CHARTS
        .iter()
        .find(|c| c.fixture == "accel-operator-2.0.0")
        .unwrap();
    let (name, version, tgz) = chart_archive(chart.fixture);
    let work = tempfile::Builder::new()
        .prefix("seedforge-manifests-")
        .tempdir()
        .unwrap();
    let archive = work.path().join("chart.tgz");
    std::fs::write(&archive, tgz).unwrap();
    let case = |id: &str| Case {
        id: id.into(),
        chart,
        name: name.clone(),
        version: version.clone(),
        archive: archive.clone(),
        values: "{}\n".into(),
        refused: None,
    };
    let first = seedforge_render(&case("first"), work.path()).unwrap();
    let second = seedforge_render(&case("second"), work.path()).unwrap();
    let (a, b) = (
        crate::charts_own::files_under(&first),
        crate::charts_own::files_under(&second),
    );
    assert_eq!(a, b, "two runs wrote different manifests");
    let deployment =
        String::from_utf8(a["accel-operator/templates/operator.yaml"].clone()).unwrap();
    assert!(
        deployment.starts_with(
            "---\n# Source: accel-operator/templates/operator.yaml\napiVersion: apps/v1\nkind: Deployment\n"
        ),
        "{deployment}"
    );
    // The CRD upgrade's job and its RBAC are hooks, in templates of their own, the Role
    // before the RoleBinding (Helm's kind order; the template writes them the other way).
    let hooks = String::from_utf8(a["accel-operator/templates/upgrade-job.yaml"].clone()).unwrap();
    assert!(hooks.contains("helm.sh/hook"), "{hooks}");
    let kinds: Vec<&str> = hooks
        .lines()
        .filter_map(|l| l.strip_prefix("kind: "))
        .collect();
    assert_eq!(kinds, ["Job"], "{hooks}");
    let rbac = String::from_utf8(a["accel-operator/templates/upgrade-rbac.yaml"].clone()).unwrap();
    let kinds: Vec<&str> = rbac
        .lines()
        .filter_map(|l| l.strip_prefix("kind: "))
        .collect();
    assert_eq!(kinds, ["Role", "RoleBinding"], "{rbac}");
    // A folder with something in it is refused, naming it.
    let dir = work.path().join("first");
    let refused = Cmd::seedforge()
        .args([
            "chart-images",
            "--config",
            "seedforge.yaml",
            "--manifests",
            "manifests",
        ])
        .cwd(&dir)
        .expect(2)
        .run();
    assert!(
        refused
            .stderr
            .contains("--manifests manifests: the folder is not empty"),
        "{}",
        refused.stderr
    );
}
