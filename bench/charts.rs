//! seedforge's own charts of `fixtures/charts-own/` (a chart on a library chart, an umbrella
//! of aliased subcharts, a mesh merging its defaults before render, an operator's custom
//! resource, runs of comments, the engine's numbers, capabilities and files, `.Capabilities`
//! as Helm's types, `.Chart` and `.Release` as Helm's types, go-yaml's quoting cases, a CI runner set's missing
//! container mode, a Postgres operator's configuration, a scanner operator's split keys, a CNI
//! operator's `Installation`), each loaded from its files (held in memory, read from
//! disk once), its values coalesced, every template rendered and every rendered document
//! scanned for images, `ROUNDS` times; against the literal scan that came before rendering,
//! on the same files: the chart's own `values.yaml` merged with the user's values (every
//! `image: NAME:TAG` string and `{registry, repository, tag}` map, the tag defaulting to
//! `appVersion`) and its own templates' literal `image:` lines, as `src/charts/images.rs`
//! read them up to the commit that brought the rendering (acd3ec1), copied here as the
//! baseline. Prints the median and fastest round of each and how many images each finds.
//!
//! ```sh
//! cargo bench --bench charts                    # 20 rounds, every chart, both scans
//! cargo bench --bench charts -- 50 platform     # 50 rounds, the charts whose name holds it
//! cargo bench --bench charts -- 1 mesh render   # one mode only (for /usr/bin/time -v)
//! ```
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::disallowed_methods
)]

use seedforge::charts::{load, pulled, render::Settings};
use seedforge::image::Reference;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

/// Every file under `dir`, by path relative to it.
fn files_under(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for e in walkdir::WalkDir::new(dir).sort_by_file_name() {
        let e = e.unwrap();
        if e.file_type().is_file() {
            let rel = e.path().strip_prefix(dir).unwrap();
            out.insert(
                rel.to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            );
        }
    }
    out
}

/// The fixtures, with the release, namespace and values the tests render them with.
fn charts() -> Vec<(&'static str, &'static str, &'static str, Map<String, Value>)> {
    let platform = serde_json::json!({"export": {"enabled": true}});
    vec![
        ("webapp-1.2.0", "webapp", "web", Map::new()),
        (
            "platform-3.0.0",
            "platform",
            "platform",
            platform.as_object().unwrap().clone(),
        ),
        ("mesh-1.5.0", "mesh", "mesh-system", Map::new()),
        ("accel-operator-2.0.0", "accel", "accel", Map::new()),
        ("comments-1.0.0", "comments", "default", Map::new()),
        ("engine-1.0.0", "engine", "default", Map::new()),
        ("capabilities-1.0.0", "caps", "default", Map::new()),
        ("metadata-1.0.0", "meta", "metaproj", Map::new()),
        ("yaml-quoting-2.0.0", "quoting", "default", Map::new()),
        ("runners-0.12.0", "ci", "runners", Map::new()),
        ("pgoperator-1.14.0", "pg", "postgres", Map::new()),
        (
            "scanner-operator-0.26.0",
            "scan",
            "scanner-system",
            Map::new(),
        ),
        ("cni-operator-3.30.5", "calico", "calico-system", Map::new()),
    ]
}

/// Load, coalesce, render, scan: the distinct images found.
fn rendered(
    name: &str,
    files: &BTreeMap<String, Vec<u8>>,
    user: &Map<String, Value>,
    settings: &Settings,
) -> BTreeSet<String> {
    let mut chart = load::load_files(name, files.clone()).unwrap();
    let found = pulled::images_of(name, &mut chart, user, settings)
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    found
        .images
        .iter()
        .map(|p| p.reference.to_string())
        .collect()
}

/// The literal scan: the chart's own values merged with the user's, and its own
/// templates' literal `image:` lines.
fn literal(files: &BTreeMap<String, Vec<u8>>, user: &Map<String, Value>) -> BTreeSet<String> {
    let text = |p: &str| {
        files
            .get(p)
            .map(|d| String::from_utf8_lossy(d).into_owned())
    };
    let mut values: Value = match text("values.yaml") {
        Some(t) if !t.trim().is_empty() => seedforge::charts::read_yaml(&t).unwrap(),
        _ => Value::Object(Map::new()),
    };
    merge(&mut values, &Value::Object(user.clone()));
    let app = text("Chart.yaml")
        .and_then(|t| seedforge::charts::read_yaml::<Value>(&t).ok())
        .and_then(|c| match c.get("appVersion")? {
            Value::String(s) if !s.is_empty() => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        });
    let mut found = BTreeSet::new();
    walk(&values, app.as_deref(), &mut found);
    for (path, data) in files {
        if !path.starts_with("templates/") || path.ends_with(".tpl") {
            continue;
        }
        for line in String::from_utf8_lossy(data).lines() {
            let t = line.trim_start().trim_start_matches("- ");
            let Some(value) = t.strip_prefix("image:") else {
                continue;
            };
            let value = value.trim().trim_matches(['"', '\'']);
            if value.is_empty() || value.contains("{{") || value.starts_with('#') {
                continue;
            }
            if let Ok(r) = Reference::parse(value) {
                found.insert(r.to_string());
            }
        }
    }
    found
}

fn merge(base: &mut Value, over: &Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(k) {
                    Some(slot) => merge(slot, v),
                    None => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (slot, v) => *slot = v.clone(),
    }
}

fn walk(value: &Value, app: Option<&str>, found: &mut BTreeSet<String>) {
    let Value::Object(map) = value else { return };
    let text = |k: &str| match map.get(k) {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    if let Some(repository) = text("repository") {
        let tag = text("tag").or_else(|| app.map(str::to_string));
        let name = match text("registry") {
            Some(r) => format!("{r}/{repository}"),
            None => repository,
        };
        let full = match (text("digest"), tag) {
            (Some(d), _) => format!("{name}@{d}"),
            (None, Some(t)) => format!("{name}:{t}"),
            (None, None) => name,
        };
        if let Ok(r) = Reference::parse(&full) {
            found.insert(r.to_string());
        }
    }
    for (k, v) in map {
        match v {
            Value::String(s) if k == "image" => {
                let last = s.rsplit('/').next().unwrap_or(s);
                if !s.contains("{{")
                    && (last.contains(':') || s.contains('@'))
                    && let Ok(r) = Reference::parse(s)
                {
                    found.insert(r.to_string());
                }
            }
            Value::Object(_) => walk(v, app, found),
            _ => {}
        }
    }
}

/// The median and the fastest of `rounds` runs of `f`.
fn time<T>(rounds: usize, mut f: impl FnMut() -> T) -> (Duration, Duration, T) {
    let mut times = Vec::with_capacity(rounds);
    let mut last = None;
    for _ in 0..rounds {
        let started = Instant::now();
        let out = std::hint::black_box(f());
        times.push(started.elapsed());
        last = Some(out);
    }
    times.sort();
    (times[times.len() / 2], times[0], last.unwrap())
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    // `cargo bench` passes `--bench`; the rest: ROUNDS, a name filter, a mode. Without it
    // this is a test run (`cargo test --all-targets`, or a runner listing the tests with
    // `--list`): there is no test here, and nothing is measured.
    let raw: Vec<String> = std::env::args().skip(1).collect();
    if !raw.iter().any(|a| a == "--bench") {
        return;
    }
    let args: Vec<String> = raw.into_iter().filter(|a| !a.starts_with("--")).collect();
    let rounds: usize = args.first().map_or(20, |a| a.parse().expect("ROUNDS"));
    let filter = args.get(1).cloned().unwrap_or_default();
    let mode = args.get(2).cloned().unwrap_or_else(|| "both".into());
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/charts-own");
    println!(
        "| chart | files | render: median (fastest) | images | literal scan: median (fastest) | images (of the render's) | render / literal |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (name, release, namespace, user) in charts() {
        if !name.contains(filter.as_str()) {
            continue;
        }
        let files = files_under(&root.join(name).join("chart"));
        let bytes: usize = files.values().map(Vec::len).sum();
        let settings = Settings {
            release: release.into(),
            namespace: namespace.into(),
            k3s_version: "v1.33.1+k3s1".into(),
        };
        let (r_med, r_min, r_found) = if mode != "literal" {
            time(rounds, || rendered(name, &files, &user, &settings))
        } else {
            (Duration::ZERO, Duration::ZERO, BTreeSet::new())
        };
        let (l_med, l_min, l_found) = if mode != "render" {
            time(rounds, || literal(&files, &user))
        } else {
            (Duration::ZERO, Duration::ZERO, BTreeSet::new())
        };
        let ratio = if l_med.is_zero() {
            "-".to_string()
        } else {
            format!("{:.0}x", r_med.as_secs_f64() / l_med.as_secs_f64())
        };
        println!(
            "| {name} | {} ({:.1} MB) | {} ({}) | {} | {} ({}) | {} ({}) | {ratio} |",
            files.len(),
            bytes as f64 / 1e6,
            ms(r_med),
            ms(r_min),
            r_found.len(),
            ms(l_med),
            ms(l_min),
            l_found.len(),
            l_found.intersection(&r_found).count(),
        );
    }
}
