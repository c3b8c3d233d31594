//! A helm-unittest suite of seedforge's own for its webapp chart
//! (`fixtures/charts-own/webapp-1.2.0/unittest/`), run against what the engine renders:
//! every test concerns an image (the server's from its registry, repository, tag and
//! digest, `global.imageRegistry`, the images named in arguments, variables and the
//! ConfigMap, pull secrets, a refused image), and each passes.
//!
//! A small runner of helm-unittest's suite format (as helm-unittest 0.8 reads it):
//! `templates` (none: all), `set` (maps and dotted keys), `values` files, `chart`
//! (`version`, `appVersion`), `capabilities` (`majorVersion`, `minorVersion`), `release`
//! (`name`, `namespace`), `documentIndex` (a test's or an assertion's), per assertion
//! `template` and `not`, and the assertions `equal`, `notEqual`, `matchRegex`, `notMatchRegex`, `contains`,
//! `notContains`, `isSubset`, `isKind`, `isAPIVersion`, `isNull`, `isNotNull`,
//! `isNullOrEmpty`, `isNotNullOrEmpty`, `isEmpty`, `isNotEmpty`, `exists`, `notExists`,
//! `hasDocuments`, `containsDocument`, `failedTemplate`, `notFailedTemplate`; `path` in
//! its JSONPath-like syntax (`spec.template.spec.containers[0].image`,
//! `metadata.labels["app.kubernetes.io/name"]`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use serde_json::{Map, Value as Json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const FIXTURE: &str = "webapp-1.2.0";

/// The chart's name, as its templates are named in the render (`webapp/templates/…`).
const NAME: &str = "webapp";

/// Tests of the selected ones left out, by suite file and name, with why: none.
const EXCLUDED: &[(&str, &str, &str)] = &[];

/// The folder of the suites, beside the chart (never in its archive).
fn unittest_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/charts-own")
        .join(FIXTURE)
        .join("unittest")
}

/// The chart the suites were written for.
fn own_chart() -> seedforge::charts::load::Chart {
    let files = crate::charts_own::files_under(&crate::charts_own::chart_dir(FIXTURE));
    seedforge::charts::load::load_files(NAME, files).unwrap()
}

fn yaml(text: &str) -> Json {
    seedforge::charts::read_yaml(text).unwrap()
}

/// Whether a key path names an image value (`image.tag`, `global.azure.images.hub.registry`,
/// `versionOverride`), not a pull policy or secret.
fn image_key(path: &str) -> bool {
    let segs: Vec<&str> = path.split(['.', '[', ']']).collect();
    segs.iter().any(|s| {
        [
            "image",
            "images",
            "versionOverride",
            "registry",
            "repository",
            "tag",
        ]
        .contains(s)
    }) && !segs.iter().any(|s| s.starts_with("imagePull"))
}

fn key_paths(v: &Json, prefix: &str, out: &mut Vec<String>) {
    if let Json::Object(m) = v {
        for (k, v) in m {
            let p = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            out.push(p.clone());
            key_paths(v, &p, out);
        }
    }
}

fn sets_images(set: Option<&Json>) -> bool {
    let mut keys = Vec::new();
    if let Some(s) = set {
        key_paths(s, "", &mut keys);
    }
    keys.iter().any(|k| image_key(k))
}

/// Whether a test concerns images: its values (or its suite's) set an image value, or an
/// assertion's path or expected error names one.
fn selected(suite: &Json, test: &Json) -> bool {
    if sets_images(suite.get("set")) || sets_images(test.get("set")) {
        return true;
    }
    test["asserts"].as_array().unwrap().iter().any(|a| {
        a.as_object().unwrap().values().any(|body| {
            let path = body.get("path").and_then(Json::as_str).unwrap_or("");
            let msg = ["errorMessage", "errorPattern"]
                .iter()
                .filter_map(|k| body.get(*k).and_then(Json::as_str))
                .any(|m| m.contains("image"));
            image_key(path) || msg
        })
    })
}

/// `b` over `a`, maps merged key by key.
fn merge(a: &mut Map<String, Json>, b: &Map<String, Json>) {
    for (k, v) in b {
        match (a.get_mut(k), v) {
            (Some(Json::Object(am)), Json::Object(bm)) => merge(am, bm),
            _ => {
                a.insert(k.clone(), v.clone());
            }
        }
    }
}

/// helm-unittest's `set`: each key a dotted path.
fn expand_set(set: &Map<String, Json>) -> Map<String, Json> {
    let mut out = Map::new();
    for (k, v) in set {
        let mut value = v.clone();
        for part in k.split('.').rev() {
            let mut m = Map::new();
            m.insert(part.to_string(), value);
            value = Json::Object(m);
        }
        merge(&mut out, value.as_object().unwrap());
    }
    out
}

/// What one test renders: each selected template's documents, or the render's error.
enum Outcome {
    Docs(BTreeMap<String, Vec<Json>>),
    Failed(String),
}

/// The message helm-unittest compares: Helm reports a `fail` or `required` as
/// `execution error at (FILE:LINE:COL): MESSAGE`, and helm-unittest keeps the MESSAGE.
fn render_error_message(e: &str) -> String {
    for marker in ["error calling fail: ", "error calling required: "] {
        if let Some(i) = e.find(marker) {
            return e[i + marker.len()..].to_string();
        }
    }
    e.to_string()
}

/// The documents of a template's output, as helm-unittest splits them (empty ones dropped).
fn documents(output: &str) -> Vec<Json> {
    let mut docs = Vec::new();
    let mut cur = String::new();
    let mut flush = |cur: &mut String| {
        if !cur.trim().is_empty() {
            let v = yaml(cur);
            if !v.is_null() {
                docs.push(v);
            }
        }
        cur.clear();
    };
    for line in output.lines() {
        if line.starts_with("---") {
            flush(&mut cur);
        } else {
            cur.push_str(line);
            cur.push('\n');
        }
    }
    flush(&mut cur);
    docs
}

fn field<'a>(test: &'a Json, suite: &'a Json, key: &str) -> Option<&'a Json> {
    test.get(key).or_else(|| suite.get(key))
}

fn render(
    chart: &seedforge::charts::load::Chart,
    suite: &Json,
    test: &Json,
    suite_dir: &Path,
    templates: &[String],
) -> Outcome {
    let mut user = Map::new();
    for level in [suite, test] {
        for f in level
            .get("values")
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
        {
            let text = std::fs::read_to_string(suite_dir.join(f.as_str().unwrap())).unwrap();
            if let Json::Object(m) = yaml(&text) {
                merge(&mut user, &m);
            }
        }
    }
    for level in [suite, test] {
        if let Some(Json::Object(set)) = level.get("set") {
            merge(&mut user, &expand_set(set));
        }
    }
    // helm-unittest renders the suite's templates and the partials they may include, no other.
    // A suite that names none renders them all.
    let mut chart = chart.clone();
    chart.templates.retain(|(path, _)| {
        let under = path.strip_prefix("templates/").unwrap_or(path);
        let base = under.rsplit('/').next().unwrap_or(under);
        templates.is_empty() || base.starts_with('_') || templates.iter().any(|t| t == under)
    });
    for level in [suite, test] {
        if let Some(Json::Object(c)) = level.get("chart") {
            for (k, v) in c {
                chart.metadata.insert(k.clone(), v.clone());
            }
        }
    }
    // helm-unittest's capabilities: Helm's defaults (Kubernetes v1.20.0) unless given.
    let (mut major, mut minor) = ("1".to_string(), "20".to_string());
    for level in [suite, test] {
        if let Some(c) = level.get("capabilities") {
            let text = |v: &Json| match v {
                Json::String(s) => s.clone(),
                v => v.to_string(),
            };
            if let Some(v) = c.get("majorVersion") {
                major = text(v);
            }
            if let Some(v) = c.get("minorVersion") {
                minor = text(v);
            }
        }
    }
    let (mut name, mut namespace) = ("RELEASE-NAME".to_string(), "NAMESPACE".to_string());
    for level in [suite, test] {
        if let Some(r) = level.get("release") {
            if let Some(n) = r.get("name").and_then(Json::as_str) {
                name = n.into();
            }
            if let Some(n) = r.get("namespace").and_then(Json::as_str) {
                namespace = n.into();
            }
        }
    }
    let settings = seedforge::charts::render::Settings {
        release: name,
        namespace,
        k3s_version: format!("v{major}.{minor}.0"),
    };
    let values = seedforge::charts::coalesce::release_values(&mut chart, &user);
    match seedforge::charts::render::render(NAME, &chart, &values, &settings) {
        Err(e) => Outcome::Failed(render_error_message(&e.to_string())),
        Ok(rendered) => Outcome::Docs(
            rendered
                .into_iter()
                .filter_map(|r| {
                    let t = r
                        .name
                        .strip_prefix(&format!("{NAME}/templates/"))?
                        .to_string();
                    Some((t, documents(&r.output)))
                })
                .collect(),
        ),
    }
}

/// One step of a path: a key or an index.
#[derive(Debug)]
enum Step {
    Key(String),
    Index(usize),
}

/// helm-unittest's path syntax: `a.b[0].c`, `a["x.y"]`, `a['x.y']`, `a[x.y]`.
fn parse_path(path: &str) -> Vec<Step> {
    let mut steps = Vec::new();
    let mut cur = String::new();
    let mut chars = path.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '.' => {
                if !cur.is_empty() {
                    steps.push(Step::Key(std::mem::take(&mut cur)));
                }
            }
            '[' => {
                if !cur.is_empty() {
                    steps.push(Step::Key(std::mem::take(&mut cur)));
                }
                let mut inner = String::new();
                for c in chars.by_ref() {
                    if c == ']' {
                        break;
                    }
                    inner.push(c);
                }
                let inner = inner.trim();
                let unquoted = inner
                    .strip_prefix('"')
                    .and_then(|s| s.strip_suffix('"'))
                    .or_else(|| inner.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')));
                match (unquoted, inner.parse::<usize>()) {
                    (Some(k), _) => steps.push(Step::Key(k.to_string())),
                    (None, Ok(i)) => steps.push(Step::Index(i)),
                    (None, Err(_)) => steps.push(Step::Key(inner.to_string())),
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        steps.push(Step::Key(cur));
    }
    steps
}

/// The value at `path` in `doc`, `None` when the path is not there.
fn at<'a>(doc: &'a Json, path: &str) -> Option<&'a Json> {
    let mut v = doc;
    for step in parse_path(path) {
        v = match step {
            Step::Key(k) => v.as_object()?.get(&k)?,
            Step::Index(i) => v.as_array()?.get(i)?,
        };
    }
    Some(v)
}

fn is_empty(v: &Json) -> bool {
    match v {
        Json::Null => true,
        Json::Bool(b) => !b,
        Json::Number(n) => n.as_f64() == Some(0.0),
        Json::String(s) => s.is_empty(),
        Json::Array(a) => a.is_empty(),
        Json::Object(m) => m.is_empty(),
    }
}

/// Whether `part` is within `whole`: every key of a map with a value within, or equal.
fn subset(part: &Json, whole: &Json) -> bool {
    match (part, whole) {
        (Json::Object(p), Json::Object(w)) => p
            .iter()
            .all(|(k, v)| w.get(k).is_some_and(|wv| subset(v, wv))),
        _ => part == whole,
    }
}

fn regex(pattern: &str) -> regex::Regex {
    regex::Regex::new(pattern).unwrap()
}

/// One assertion on one document: `Ok` or why not (before `not` is applied).
fn check_doc(kind: &str, body: &Json, doc: &Json) -> Result<(), String> {
    let path = body.get("path").and_then(Json::as_str).unwrap_or("");
    let found = at(doc, path);
    let need = || found.ok_or_else(|| format!("no {path}"));
    let ok = |b: bool, what: String| if b { Ok(()) } else { Err(what) };
    match kind {
        "equal" | "notEqual" => {
            let v = need()?;
            let want = &body["value"];
            ok(
                (v == want) == (kind == "equal"),
                format!("{path} is {v}, {kind} {want}"),
            )
        }
        "matchRegex" | "notMatchRegex" => {
            let v = need()?;
            let s = v.as_str().ok_or_else(|| format!("{path} is no string"))?;
            let p = body["pattern"].as_str().unwrap();
            ok(
                regex(p).is_match(s) == (kind == "matchRegex"),
                format!("{path} is {s:?}, {kind} {p:?}"),
            )
        }
        "contains" | "notContains" => {
            let v = need()?;
            let items = v
                .as_array()
                .ok_or_else(|| format!("{path} is no list: {v}"))?;
            let want = &body["content"];
            let any = body.get("any").and_then(Json::as_bool).unwrap_or(false);
            let hits = items
                .iter()
                .filter(|i| if any { subset(want, i) } else { *i == want })
                .count();
            let good = match (kind, body.get("count").and_then(Json::as_u64)) {
                ("contains", Some(n)) => hits as u64 == n,
                ("contains", None) => hits > 0,
                _ => hits == 0,
            };
            ok(good, format!("{path} is {v}, {kind} {want}"))
        }
        "isSubset" => {
            let v = need()?;
            ok(
                subset(&body["content"], v),
                format!("{path} is {v}, no superset of {}", body["content"]),
            )
        }
        "isKind" => ok(
            doc.get("kind") == body.get("of"),
            format!("kind {:?}, not {}", doc.get("kind"), body["of"]),
        ),
        "isAPIVersion" => ok(
            doc.get("apiVersion") == body.get("of"),
            format!("apiVersion {:?}, not {}", doc.get("apiVersion"), body["of"]),
        ),
        "isNull" => ok(
            found.is_none_or(Json::is_null),
            format!("{path} is {found:?}"),
        ),
        "isNotNull" => ok(
            found.is_some_and(|v| !v.is_null()),
            format!("{path} is null"),
        ),
        "isNullOrEmpty" | "isEmpty" => {
            ok(found.is_none_or(is_empty), format!("{path} is {found:?}"))
        }
        "isNotNullOrEmpty" | "isNotEmpty" => ok(
            found.is_some_and(|v| !is_empty(v)),
            format!("{path} is empty"),
        ),
        "exists" => ok(found.is_some(), format!("no {path}")),
        "notExists" => ok(found.is_none(), format!("{path} is there")),
        other => Err(format!("the runner does not know the assertion {other}")),
    }
}

/// Whether `doc` is the document `containsDocument` describes.
fn is_document(body: &Json, doc: &Json) -> bool {
    let meta = |k: &str| doc.get("metadata").and_then(|m| m.get(k));
    body.get("kind").is_none_or(|k| doc.get("kind") == Some(k))
        && body
            .get("apiVersion")
            .is_none_or(|k| doc.get("apiVersion") == Some(k))
        && body.get("name").is_none_or(|k| meta("name") == Some(k))
        && body
            .get("namespace")
            .is_none_or(|k| meta("namespace") == Some(k))
}

/// One assertion of a test: `Ok` or why it fails.
fn check(
    assertion: &Map<String, Json>,
    test: &Json,
    outcome: &Outcome,
    templates: &[String],
) -> Result<(), String> {
    let negate = assertion
        .get("not")
        .and_then(Json::as_bool)
        .unwrap_or(false);
    let (kind, body) = assertion
        .iter()
        .find(|(k, _)| !["template", "documentIndex", "not", "errorMessage"].contains(&k.as_str()))
        .ok_or("an assertion without a kind")?;
    let body = if body.is_null() { &Json::Null } else { body };
    let empty = Map::new();
    let fields = body.as_object().unwrap_or(&empty);
    let result: Result<(), String> = match (kind.as_str(), outcome) {
        ("failedTemplate", Outcome::Failed(msg)) => {
            match (
                fields.get("errorMessage").and_then(Json::as_str),
                fields.get("errorPattern").and_then(Json::as_str),
            ) {
                (Some(want), _) if want != msg => Err(format!("failed with {msg:?}, not {want:?}")),
                (None, Some(p)) if !regex(p).is_match(msg) => {
                    Err(format!("failed with {msg:?}, not matching {p:?}"))
                }
                _ => Ok(()),
            }
        }
        ("failedTemplate", Outcome::Docs(_)) if fields.is_empty() => Ok(()),
        ("failedTemplate", Outcome::Docs(_)) => Err("rendered without failing".into()),
        ("notFailedTemplate", Outcome::Failed(msg)) => Err(format!("failed: {msg}")),
        ("notFailedTemplate", Outcome::Docs(_)) => Ok(()),
        (_, Outcome::Failed(msg)) => Err(format!("the render failed: {msg}")),
        (kind, Outcome::Docs(all)) => {
            let chosen: Vec<String> = match assertion.get("template").and_then(Json::as_str) {
                Some(t) => vec![t.to_string()],
                None => templates.to_vec(),
            };
            let mut docs = Vec::new();
            for t in &chosen {
                let of = all
                    .get(t)
                    .ok_or_else(|| format!("no template {t} in the chart"))?;
                let index = assertion
                    .get("documentIndex")
                    .or_else(|| test.get("documentIndex"));
                match index.and_then(Json::as_u64) {
                    Some(i) => docs.push(
                        of.get(i as usize)
                            .ok_or_else(|| format!("{t} has no document {i}"))?,
                    ),
                    None => docs.extend(of.iter()),
                }
            }
            match kind {
                "hasDocuments" => {
                    let want = body["count"].as_u64().unwrap() as usize;
                    if docs.len() == want {
                        Ok(())
                    } else {
                        Err(format!("{} documents, not {want}", docs.len()))
                    }
                }
                "containsDocument" => {
                    if docs.iter().any(|d| is_document(body, d)) {
                        Ok(())
                    } else {
                        Err(format!("no document {body}"))
                    }
                }
                _ if docs.is_empty() => Err("no document to check".into()),
                _ => docs.iter().try_for_each(|d| check_doc(kind, body, d)),
            }
        }
    };
    match (result, negate) {
        (Ok(()), false) | (Err(_), true) => Ok(()),
        (Err(e), false) => Err(e),
        (Ok(()), true) => Err(format!("{kind} holds, with not: true")),
    }
}

fn template_list(v: Option<&Json>) -> Vec<String> {
    match v {
        Some(Json::Array(a)) => a.iter().map(|t| t.as_str().unwrap().to_string()).collect(),
        Some(Json::String(s)) => vec![s.clone()],
        _ => Vec::new(),
    }
}

/// What a run of suites gave.
#[derive(Default)]
struct Summary {
    passed: usize,
    asserts: usize,
    excluded: usize,
    failures: Vec<String>,
}

/// The tests `select` keeps of the stored suites `only` names (all when empty), run.
fn run_suites(only: &[&str], select: &dyn Fn(&Json, &Json) -> bool) -> (usize, Summary) {
    let chart = own_chart();
    let dir = unittest_dir();
    let mut suites: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with("_test.yaml"))
        .filter(|p| {
            only.is_empty()
                || only
                    .iter()
                    .any(|o| p.file_name().unwrap().to_str() == Some(o))
        })
        .collect();
    suites.sort();
    let mut sum = Summary::default();
    for path in &suites {
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        let suite = yaml(&std::fs::read_to_string(path).unwrap());
        for test in suite["tests"].as_array().unwrap() {
            if !select(&suite, test) {
                continue;
            }
            let name = test["it"].as_str().unwrap();
            if EXCLUDED.iter().any(|(f, n, _)| *f == file && *n == name) {
                sum.excluded += 1;
                continue;
            }
            let mut templates = template_list(test.get("templates"));
            if templates.is_empty() {
                templates = template_list(test.get("template"));
            }
            if templates.is_empty() {
                templates = template_list(field(test, &suite, "templates"));
            }
            let outcome = render(&chart, &suite, test, &dir, &templates);
            let mut ok = true;
            for a in test["asserts"].as_array().unwrap() {
                sum.asserts += 1;
                if let Err(e) = check(a.as_object().unwrap(), test, &outcome, &templates) {
                    ok = false;
                    sum.failures.push(format!("{file}: {name}: {e}"));
                }
            }
            if ok {
                sum.passed += 1;
            }
        }
    }
    (suites.len(), sum)
}

#[test]
fn webapp_helm_unittest_image_assertions_pass() {
    let (suites, sum) = run_suites(&[], &selected);
    let (_, all) = run_suites(&[], &|_, _| true);
    eprintln!(
        "webapp helm-unittest: {} selected tests pass ({} assertions), {} fail, {} excluded",
        sum.passed,
        sum.asserts,
        sum.failures.len(),
        sum.excluded
    );
    assert!(sum.failures.is_empty(), "{:#?}", sum.failures);
    assert_eq!(sum.excluded, EXCLUDED.len());
    // Every test of the suite concerns an image, and is selected.
    assert_eq!(suites, 1);
    assert_eq!(sum.passed, 9);
    assert_eq!(all.passed, sum.passed);
}

/// The runner's path syntax and selection, on their own.
#[test]
fn charts_unittest_runner_reads_paths_as_helm_unittest() {
    let doc = serde_json::json!({
        "metadata": {"labels": {"app.kubernetes.io/name": "x"}},
        "spec": {"containers": [{"image": "a"}, {"image": "b"}]}
    });
    assert_eq!(at(&doc, "spec.containers[1].image"), Some(&Json::from("b")));
    assert_eq!(
        at(&doc, "metadata.labels[\"app.kubernetes.io/name\"]"),
        Some(&Json::from("x"))
    );
    assert_eq!(
        at(&doc, "metadata.labels['app.kubernetes.io/name']"),
        Some(&Json::from("x"))
    );
    assert_eq!(at(&doc, "spec.containers[2].image"), None);
    assert!(image_key("global.azure.images.hub.registry"));
    assert!(image_key("versionOverride"));
    assert!(!image_key("deployment.imagePullSecrets"));
    let set = serde_json::json!({"image.tag": "v1", "image": {"registry": "r"}});
    assert_eq!(
        Json::Object(expand_set(set.as_object().unwrap())),
        serde_json::json!({"image": {"tag": "v1", "registry": "r"}})
    );
    // Against the chart: a right image passes, a wrong one and a wrong failure do not.
    let chart = own_chart();
    let suite = serde_json::json!({"templates": ["deployment.yaml", "configmap.yaml"]});
    let templates = template_list(suite.get("templates"));
    let dir = unittest_dir();
    let test = serde_json::json!({"set": {"image.tag": "v3.3.0"}});
    let outcome = render(&chart, &suite, &test, &dir, &templates);
    let equal = |image: &str| {
        serde_json::json!({"equal": {"path": "spec.template.spec.containers[0].image", "value": image},
            "template": "deployment.yaml"})
    };
    let assert_of = |v: Json| v.as_object().unwrap().clone();
    assert!(
        check(
            &assert_of(equal("docker.io/webapp/server:v3.3.0")),
            &test,
            &outcome,
            &templates
        )
        .is_ok()
    );
    assert!(
        check(
            &assert_of(equal("docker.io/webapp/server:v3.3.1")),
            &test,
            &outcome,
            &templates
        )
        .is_err()
    );
    let test = serde_json::json!({"set": {"image": {"repository": ""}}});
    let outcome = render(&chart, &suite, &test, &dir, &templates);
    let failed = |m: &str| assert_of(serde_json::json!({"failedTemplate": {"errorMessage": m}}));
    assert!(
        check(
            &failed("an image needs its repository"),
            &test,
            &outcome,
            &templates
        )
        .is_ok()
    );
    assert!(
        check(
            &failed("ERROR: something else"),
            &test,
            &outcome,
            &templates
        )
        .is_err()
    );
    assert_eq!(
        render_error_message(
            "chart webapp: webapp/templates/deployment.yaml:3:4: error calling fail: ERROR: x"
        ),
        "ERROR: x"
    );
}
