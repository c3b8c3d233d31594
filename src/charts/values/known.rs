//! What a chart knows of its values, place by place: the keys its `values.yaml` has, the
//! keys its `values.schema.json` names, the paths its templates read, its subcharts (each
//! judged by its own values, schema and templates under its name or alias) and `global`
//! (known at every chart's top: Helm gives each chart one and copies it into the
//! subcharts, so what any chart of the tree says of `global.…` counts there).

use super::reads::Reads;
use crate::charts::ChartError;
use crate::charts::load::Chart;
use serde_json::{Map, Value};
use std::rc::Rc;

/// One chart of the tree, as keys are judged against it.
#[derive(Debug)]
pub struct Ctx {
    /// Its key under its parent (its alias, or its name); the entry's name at the top.
    pub key: String,
    /// How a message names it: `falco`, `falco's subchart falcosidekick`.
    pub shown: String,
    /// Its place in the release's values: `""` at the top, `falcosidekick.` below.
    pub at: String,
    /// Its `values.yaml`.
    pub values: Value,
    /// Its `values.schema.json`, read.
    pub schema: Option<Value>,
    /// What its templates (and those of the library charts it uses) read, and the paths
    /// Helm itself reads for its dependencies (`condition`, `tags`).
    pub reads: Reads,
    /// Its subcharts (library charts only define: they have no values of their own).
    pub deps: Vec<Ctx>,
}

impl Ctx {
    /// The tree of `chart`, named `key` and shown as `shown`.
    pub fn build(
        entry: &str,
        chart: &Chart,
        key: &str,
        shown: String,
        at: &str,
    ) -> Result<Ctx, ChartError> {
        let schema = match &chart.schema {
            Some(text) => Some(serde_json::from_str(text).map_err(|e| ChartError::Fetch {
                chart: entry.to_string(),
                message: format!("{}/values.schema.json is not JSON: {e}", chart.path),
            })?),
            None => None,
        };
        let mut reads = Reads::default();
        scan_templates(chart, &mut reads, 0);
        let mut deps = Vec::new();
        let mut named = Vec::new();
        for req in chart.declared() {
            let Some(name) = req.get("name").and_then(Value::as_str) else {
                continue;
            };
            named.push(name.to_string());
            if let Some(Value::String(condition)) = req.get("condition") {
                for c in condition
                    .split(',')
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                {
                    let path: Vec<String> = c.split('.').map(str::to_string).collect();
                    reads.add(&path, false);
                }
            }
            for tag in req
                .get("tags")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                reads.add(&["tags".to_string(), tag.to_string()], false);
            }
            let Some(dep) = chart.dependencies.iter().find(|d| d.name == name) else {
                continue;
            };
            if dep.is_library() {
                continue;
            }
            let key = req
                .get("alias")
                .and_then(Value::as_str)
                .filter(|a| !a.is_empty())
                .unwrap_or(name);
            let shown = format!("{shown}'s subchart {key}");
            deps.push(Ctx::build(entry, dep, key, shown, &format!("{at}{key}."))?);
        }
        // A dependency in charts/ that Chart.yaml does not declare is kept under its name.
        for dep in &chart.dependencies {
            if dep.is_library() || named.contains(&dep.name) {
                continue;
            }
            let shown = format!("{shown}'s subchart {}", dep.name);
            let below = format!("{at}{}.", dep.name);
            deps.push(Ctx::build(entry, dep, &dep.name, shown, &below)?);
        }
        Ok(Ctx {
            key: key.to_string(),
            shown,
            at: at.to_string(),
            values: Value::Object(chart.values.clone()),
            schema,
            reads,
            deps,
        })
    }

    /// This chart and every chart below it.
    fn subtree(&self) -> Vec<&Ctx> {
        let mut out = vec![self];
        let mut i = 0;
        while i < out.len() {
            out.extend(out[i].deps.iter());
            i += 1;
        }
        out
    }
}

/// The templates of `chart` and of the library charts it depends on (their helpers run
/// with its values).
fn scan_templates(chart: &Chart, reads: &mut Reads, depth: usize) {
    for (_, text) in &chart.templates {
        reads.scan(text);
    }
    if depth < crate::charts::load::MAX_CHART_DEPTH {
        for dep in chart.dependencies.iter().filter(|d| d.is_library()) {
            scan_templates(dep, reads, depth + 1);
        }
    }
}

/// Where a key of the values file lands.
#[derive(Debug, Clone)]
pub enum Place<'v> {
    /// The top of the values file: the chart's top, once the chart is read.
    Top,
    /// A place the chart describes.
    Known(Rc<Here<'v>>),
    /// Anything goes: under a value the chart leaves open, inside a list, under a key that
    /// is no string or a YAML merge (`<<`, whose keys are checked where they are written).
    Free,
}

/// A schema at a place: the node, and the document its `$ref`s point into.
type Schema<'v> = (&'v Value, &'v Value);

/// What describes one place of the values: values, schemas and template reads, of the
/// chart `chart` (at its top when `top`).
#[derive(Debug)]
pub struct Here<'v> {
    chart: &'v Ctx,
    top: bool,
    vals: Vec<&'v Value>,
    schemas: Vec<Schema<'v>>,
    reads: Vec<&'v Reads>,
}

/// How many schema nodes one place expands to (`$ref`, `allOf`, `anyOf`, `oneOf`, `then`,
/// `else`) before the rest is left out.
const MAX_EXPANDED: usize = 256;

impl<'v> Here<'v> {
    /// The top of `chart`.
    pub fn top(chart: &'v Ctx) -> Here<'v> {
        Here {
            chart,
            top: true,
            vals: vec![&chart.values],
            schemas: chart.schema.iter().map(|s| (s, s)).collect(),
            reads: vec![&chart.reads],
        }
    }

    /// The chart this place belongs to.
    pub fn chart(&self) -> &'v Ctx {
        self.chart
    }

    fn below(&self) -> Here<'v> {
        Here {
            chart: self.chart,
            top: false,
            vals: Vec::new(),
            schemas: Vec::new(),
            reads: Vec::new(),
        }
    }

    /// Where `key`, set in a map at this place, lands; `Err` when nothing knows it.
    pub fn step(&self, key: &str) -> Result<Place<'v>, ()> {
        if self.top {
            if let Some(dep) = self.chart.deps.iter().find(|d| d.key == key) {
                return Ok(self.subchart(dep, key));
            }
            if key == "global" {
                return Ok(self.global());
            }
        }
        let mut next = self.below();
        let mut known = false;
        let mut free = false;
        for v in &self.vals {
            match v {
                Value::Object(m) if m.is_empty() => free = true,
                Value::Object(m) => {
                    if let Some(c) = m.get(key) {
                        known = true;
                        next.vals.push(c);
                    }
                }
                // A value that is not a map: its type is Helm's to judge, not this check's.
                _ => free = true,
            }
        }
        if !self.schemas.is_empty() {
            let (found, open, names_keys) = schema_child(&self.schemas, key, &mut next.schemas);
            known |= found;
            free |= open;
            // A schema that names no keys here constrains none.
            free |= !names_keys && self.vals.is_empty();
        }
        for r in &self.reads {
            if let Some(c) = r.keys.get(key) {
                known = true;
                if c.whole {
                    free = true;
                }
                next.reads.push(c);
            }
        }
        if free {
            return Ok(Place::Free);
        }
        if !known {
            return Err(());
        }
        // Known, and nothing says what is below: anything goes there.
        if next.vals.is_empty()
            && next.schemas.is_empty()
            && next.reads.iter().all(|r| r.keys.is_empty())
        {
            return Ok(Place::Free);
        }
        Ok(Place::Known(Rc::new(next)))
    }

    /// The top of the subchart `dep`, under its key: its own values, schema and templates,
    /// and what its parent says of it (its values under the key, unless empty, its schema
    /// there, its templates' reads there).
    fn subchart(&self, dep: &'v Ctx, key: &str) -> Place<'v> {
        let mut next = Here::top(dep);
        for v in &self.vals {
            if let Some(c @ Value::Object(m)) = v.get(key)
                && !m.is_empty()
            {
                next.vals.push(c);
            }
        }
        let mut schemas = Vec::new();
        let _ = schema_child(&self.schemas, key, &mut schemas);
        next.schemas.extend(schemas);
        for r in &self.reads {
            if let Some(c) = r.keys.get(key) {
                if c.whole {
                    return Place::Free;
                }
                next.reads.push(c);
            }
        }
        Place::Known(Rc::new(next))
    }

    /// `global` at a chart's top: always known; below it, what this chart and every chart
    /// under it have or read there (the chart's parents' globals reach it, not the other
    /// way round).
    fn global(&self) -> Place<'v> {
        let mut next = self.below();
        let mut free = false;
        let mut add_vals = |v: &'v Value, next: &mut Here<'v>| match v {
            Value::Object(m) if m.is_empty() => free = true,
            Value::Object(_) => next.vals.push(v),
            Value::Null => {}
            _ => free = true,
        };
        for v in &self.vals {
            if let Some(g) = v.get("global") {
                add_vals(g, &mut next);
            }
        }
        let mut schemas = Vec::new();
        let _ = schema_child(&self.schemas, "global", &mut schemas);
        let mut reads: Vec<&'v Reads> = Vec::new();
        for r in &self.reads {
            reads.extend(r.keys.get("global"));
        }
        for sub in self.chart.subtree().into_iter().skip(1) {
            if let Some(g) = sub.values.get("global") {
                add_vals(g, &mut next);
            }
            if let Some(s) = &sub.schema {
                let _ = schema_child(&[(s, s)], "global", &mut schemas);
            }
            reads.extend(sub.reads.keys.get("global"));
        }
        if free || reads.iter().any(|r| r.whole) {
            return Place::Free;
        }
        next.schemas = schemas;
        next.reads = reads;
        Place::Known(Rc::new(next))
    }

    /// The keys known here, sorted: only built for the message of a key nothing knows.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for v in &self.vals {
            if let Value::Object(m) = v {
                names.extend(m.keys().cloned());
            }
        }
        for (node, _) in expand(&self.schemas) {
            if let Some(p) = node.get("properties").and_then(Value::as_object) {
                names.extend(p.keys().cloned());
            }
        }
        for r in &self.reads {
            names.extend(r.keys.keys().cloned());
        }
        if self.top {
            names.extend(self.chart.deps.iter().map(|d| d.key.clone()));
            names.push("global".into());
        }
        names.sort();
        names.dedup();
        names
    }
}

/// What the schemas at a place say of `key`: whether one names it, whether one leaves it
/// open (`additionalProperties: true`), and whether any names keys at all; the schemas
/// below it are pushed to `below`.
fn schema_child<'v>(
    schemas: &[Schema<'v>],
    key: &str,
    below: &mut Vec<Schema<'v>>,
) -> (bool, bool, bool) {
    let (mut known, mut open, mut names_keys) = (false, false, false);
    for (node, doc) in expand(schemas) {
        let props = node.get("properties").and_then(Value::as_object);
        let patterns = node.get("patternProperties").and_then(Value::as_object);
        let additional = node.get("additionalProperties");
        if props.is_some() || patterns.is_some() || additional.is_some() {
            names_keys = true;
        }
        let mut here = false;
        if let Some(sub) = props.and_then(|p| p.get(key)) {
            here = true;
            below.push((sub, doc));
        }
        if !here
            && let Some((_, sub)) = patterns
                .into_iter()
                .flatten()
                .find(|(pattern, _)| super::simple_match(pattern, key))
        {
            here = true;
            below.push((sub, doc));
        }
        match additional {
            Some(Value::Bool(true)) => open = true,
            Some(sub @ Value::Object(_)) if !here => {
                here = true;
                below.push((sub, doc));
            }
            _ => {}
        }
        known |= here;
    }
    (known, open, names_keys)
}

/// The object schemas that describe a place: each of `schemas`, what its `$ref` points to
/// in its own document (`#…`; a reference to anything outside it names no keys here), and
/// the members of `allOf`, `anyOf`, `oneOf`, `then` and `else`, at most
/// [`MAX_EXPANDED`].
fn expand<'v>(schemas: &[Schema<'v>]) -> Vec<(&'v Map<String, Value>, &'v Value)> {
    let mut out = Vec::new();
    let mut todo: Vec<Schema<'v>> = schemas.iter().rev().copied().collect();
    let mut seen = 0usize;
    while let Some((node, doc)) = todo.pop() {
        seen += 1;
        if seen > MAX_EXPANDED {
            break;
        }
        let Value::Object(m) = node else { continue };
        out.push((m, doc));
        if let Some(target) = m
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| pointer(doc, r))
        {
            todo.push((target, doc));
        }
        for k in ["allOf", "anyOf", "oneOf"] {
            if let Some(Value::Array(items)) = m.get(k) {
                todo.extend(items.iter().rev().map(|i| (i, doc)));
            }
        }
        for k in ["then", "else"] {
            if let Some(s) = m.get(k) {
                todo.push((s, doc));
            }
        }
    }
    out
}

/// The node a same-document `$ref` (`#`, `#/a/b`, with `~0`, `~1` and `%XX` escapes)
/// names in `doc`.
fn pointer<'v>(doc: &'v Value, reference: &str) -> Option<&'v Value> {
    let fragment = reference.strip_prefix('#')?;
    if fragment.is_empty() {
        return Some(doc);
    }
    let fragment = fragment.strip_prefix('/')?;
    let mut node = doc;
    for raw in fragment.split('/') {
        let token = percent_decode(raw).replace("~1", "/").replace("~0", "~");
        node = match node {
            Value::Object(m) => m.get(&token)?,
            Value::Array(a) => a.get(token.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(node)
}

fn percent_decode(s: &str) -> String {
    if !s.contains('%') {
        return s.to_string();
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let Some(v) = b
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
