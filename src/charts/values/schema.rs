//! The release's values checked against the charts' `values.schema.json`, as Helm checks
//! them before it renders (`ValidateAgainstSchema`, Helm 3.18 and later). The validator,
//! `boon`, is the Rust port of the Go one Helm uses (santhosh-tekuri/jsonschema v6), with
//! the same drafts, the same default draft (2020-12) and the same format rules (asserted up
//! to draft-07); its messages are its own wording of the same findings.
//!
//! As Helm: the values are the coalesced ones (the chart's defaults, the values file over
//! them, the dependencies chosen and their imports made); the chart's schema is checked
//! against all of them, and each dependency Helm keeps is checked, recursively, against
//! its own schema with the values under its name (or alias), when there are any.
//!
//! Helm compiles a schema with loaders for `http`, `https` and `file` references: a
//! `$ref` (or a `$schema`) to anything outside the chart is fetched when it installs (all
//! of them, as the schema is compiled, whether the values reach them or not). On an
//! air-gapped node that fetch fails, and so does the install, so such a schema is refused
//! here, naming what it refers to. A `urn:` reference, which Helm's default resolver
//! answers with an open schema (and a warning), is open here too.

use crate::charts::load::Chart;
use boon::{Compiler, Schemas, ValidationError};
use serde_json::{Map, Value};
use std::cell::RefCell;
use std::rc::Rc;

/// The name Helm compiles every chart schema under (so relative references resolve as
/// they do in Helm: against `file:///`).
const SCHEMA_URL: &str = "file:///values.schema.json";

/// How many findings of one chart are named; the rest are counted.
const SHOWN: usize = 20;

/// What Helm would refuse of a release's values: per chart (as Helm names it), the lines
/// of its schema's findings.
#[derive(Debug, Default)]
pub struct Refusals {
    /// Schemas referring outside the chart: the chart's path and the references.
    pub remote: Vec<(String, Vec<String>)>,
    /// Per chart (its name as Helm shows it), what its schema finds.
    pub findings: Vec<(String, Vec<String>)>,
}

impl Refusals {
    /// Whether nothing is refused.
    pub fn is_empty(&self) -> bool {
        self.remote.is_empty() && self.findings.is_empty()
    }

    /// The refusal's text, after `lead` (which names the file or the chart).
    pub fn message(&self, lead: &str, entry: &str) -> String {
        let mut out = String::new();
        for (path, urls) in &self.remote {
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str(&format!(
                "{lead}{path}/values.schema.json refers to {}: Helm fetches what a chart's schema refers to when it installs chart {entry}, and an air-gapped node cannot reach it, so the install would fail there",
                urls.join(", ")
            ));
        }
        if !self.findings.is_empty() {
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str(&format!(
                "{lead}values don't meet the specifications of the schema(s) in the following chart(s), so Helm would refuse to install chart {entry}:"
            ));
            for (chart, lines) in &self.findings {
                out.push_str(&format!("\n{chart}:"));
                for line in lines {
                    out.push_str(&format!("\n- {line}"));
                }
            }
        }
        out
    }
}

/// Checks `values` against the schema of `chart` and of every dependency it keeps (call it
/// after [`crate::charts::coalesce::release_values`], which chooses them).
pub fn validate(chart: &Chart, values: &Map<String, Value>) -> Refusals {
    let mut out = Refusals::default();
    visit(chart, values, "", &mut out, 0);
    out
}

fn visit(
    chart: &Chart,
    values: &Map<String, Value>,
    prefix: &str,
    out: &mut Refusals,
    depth: usize,
) {
    if let Some(text) = &chart.schema {
        match compile(text) {
            Compiled::Remote(urls) => out.remote.push((chart.path.clone(), urls)),
            Compiled::Broken(message) => out.findings.push((
                chart.name.clone(),
                vec![format!("its values.schema.json cannot be read: {message}")],
            )),
            Compiled::Ready(schemas, root) => {
                let doc = Value::Object(values.clone());
                if let Err(e) = schemas.validate(&doc, root) {
                    out.findings.push((chart.name.clone(), lines(&e, prefix)));
                }
            }
        }
    }
    if depth >= crate::charts::load::MAX_CHART_DEPTH {
        return;
    }
    for dep in &chart.dependencies {
        match values.get(&dep.name) {
            None | Some(Value::Null) => {}
            Some(Value::Object(m)) => {
                visit(dep, m, &format!("{prefix}{}.", dep.name), out, depth + 1);
            }
            Some(other) => out.findings.push((
                dep.name.clone(),
                vec![format!(
                    "invalid type for values: expected object (map), got {}",
                    type_name(other)
                )],
            )),
        }
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

enum Compiled {
    Ready(Schemas, boon::SchemaIndex),
    /// It refers outside the chart: these.
    Remote(Vec<String>),
    Broken(String),
}

/// Answers what Helm's loaders would fetch with an open schema, noting each address (so
/// that every one is named, not only the first).
struct Loader {
    asked: Rc<RefCell<Vec<String>>>,
}

impl boon::UrlLoader for Loader {
    fn load(&self, url: &str) -> Result<Value, Box<dyn std::error::Error>> {
        if !url.starts_with("urn:") {
            let mut asked = self.asked.borrow_mut();
            if !asked.iter().any(|a| a == url) {
                asked.push(url.to_string());
            }
        }
        Ok(Value::Bool(true))
    }
}

fn compile(text: &str) -> Compiled {
    let schema: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => return Compiled::Broken(format!("not JSON: {e}")),
    };
    let schema_copy = schema.clone();
    let asked = Rc::new(RefCell::new(Vec::new()));
    let mut compiler = Compiler::new();
    compiler.set_default_draft(boon::Draft::V2020_12);
    compiler.use_loader(Box::new(Loader {
        asked: asked.clone(),
    }));
    let compiled = match compiler.add_resource(SCHEMA_URL, schema) {
        Ok(()) => {
            let mut schemas = Schemas::new();
            compiler
                .compile(SCHEMA_URL, &mut schemas)
                .map(|root| (schemas, root))
                .map_err(|e| e.to_string())
        }
        Err(e) => Err(e.to_string()),
    };
    let mut asked = asked.borrow().clone();
    if !asked.is_empty() {
        // The compiler stops at the first reference it cannot resolve in what the loader
        // answered: name the other absolute ones too.
        let mut ids = Vec::new();
        let mut refs = Vec::new();
        outside_refs(&schema_copy, &mut ids, &mut refs, 0);
        for r in refs {
            if !ids.iter().any(|id| r.starts_with(id.as_str())) && !asked.contains(&r) {
                asked.push(r);
            }
        }
        return Compiled::Remote(asked);
    }
    match compiled {
        Ok((schemas, root)) => Compiled::Ready(schemas, root),
        Err(e) => Compiled::Broken(e),
    }
}

/// The `$id`s a schema declares and the absolute `$ref`s (`http:`, `https:`, `file:`)
/// it makes, without their fragments.
fn outside_refs(node: &Value, ids: &mut Vec<String>, refs: &mut Vec<String>, depth: usize) {
    if depth > 256 {
        return;
    }
    match node {
        Value::Object(m) => {
            for (k, v) in m {
                match (k.as_str(), v) {
                    ("$id", Value::String(id)) => ids.push(id.trim_end_matches('#').to_string()),
                    ("$ref", Value::String(r))
                        if ["http://", "https://", "file:"]
                            .iter()
                            .any(|p| r.starts_with(p)) =>
                    {
                        let r = r.split('#').next().unwrap_or(r).to_string();
                        if !refs.contains(&r) {
                            refs.push(r);
                        }
                    }
                    _ => outside_refs(v, ids, refs, depth + 1),
                }
            }
        }
        Value::Array(items) => {
            for v in items {
                outside_refs(v, ids, refs, depth + 1);
            }
        }
        _ => {}
    }
}

/// One line per finding: the value's path from the top of the release's values (dotted)
/// and what is wrong, as the validator words it; at most [`SHOWN`], then a count.
fn lines(error: &ValidationError<'_, '_>, prefix: &str) -> Vec<String> {
    let mut leaves = Vec::new();
    collect_leaves(error, &mut leaves);
    let mut out: Vec<String> = Vec::new();
    for leaf in leaves {
        let mut path = prefix.to_string();
        for t in &leaf.instance_location.tokens {
            match t {
                boon::InstanceToken::Prop(p) => path.push_str(p),
                boon::InstanceToken::Item(i) => path.push_str(&i.to_string()),
            }
            path.push('.');
        }
        let path = path.trim_end_matches('.');
        let line = format!(
            "at '{}': {}",
            if path.is_empty() { "" } else { path },
            leaf.kind
        );
        if !out.contains(&line) {
            out.push(line);
        }
    }
    if out.len() > SHOWN {
        let more = out.len() - SHOWN;
        out.truncate(SHOWN);
        out.push(format!("… and {more} more"));
    }
    out
}

fn collect_leaves<'a, 's, 'v>(
    error: &'a ValidationError<'s, 'v>,
    out: &mut Vec<&'a ValidationError<'s, 'v>>,
) {
    if error.causes.is_empty() {
        out.push(error);
    }
    for cause in &error.causes {
        collect_leaves(cause, out);
    }
}
