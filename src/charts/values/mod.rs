//! A values file checked against the chart it configures, before anything is rendered.
//!
//! **Every key it sets must be one Helm would use.** Helm itself ignores a key no template
//! reads, so a key renamed upstream (`controller.adminPassword` →
//! `controller.admin.password`) silently does nothing; here it is refused at its line, with
//! the chart's closest keys. What counts as known, level by level from the top
//! ([`known`]):
//! - a key the chart's values have at that place;
//! - a key its templates read there ([`reads`]): `.Values.a.b`, `$.Values.a.b`,
//!   `index .Values "a" "b"`, `pluck`, `dig`, a variable or the dot of a `with` holding a
//!   place of the values; and anything under a value a template uses whole (printed,
//!   handed to `toYaml`, `include`, …, ranged over);
//! - at a chart's top, each subchart under its name or alias (judged, below it, by the
//!   subchart's own values, schema and templates, and by what the parent says there), the
//!   paths Helm reads for its dependencies (`condition`, `tags.…`), and `global`: always
//!   known, and below it whatever any chart of the tree has or reads under `global`;
//! - anything under a value the chart leaves open: an empty map (`podAnnotations: {}`),
//!   `null`, or a value that is not a map (types are the schema's to judge);
//! - anything inside a list (list items have no names to compare);
//! - with a schema: a key in `properties`, a key matching a simple `patternProperties`
//!   pattern, any key where `additionalProperties` is `true` or a schema, and anything
//!   under a schema that constrains no keys; `$ref`s into the schema itself, `allOf`,
//!   `anyOf`, `oneOf`, `then` and `else` are followed. A missing `additionalProperties`
//!   allows nothing here (JSON Schema would allow everything, which would make the check
//!   void).
//!
//! **The release's values must meet the charts' schemas** ([`schema`]): the chart's
//! defaults with the values file over them, as Helm coalesces them, checked against the
//! chart's `values.schema.json` and each kept subchart's, as Helm checks them on install.

mod known;
mod reads;
mod schema;

use super::ChartError;
use super::load::{MAX_CHART_CONTENT, MAX_CHART_FILE};
use known::{Ctx, Here, Place};
use serde_json::{Map, Value};
use std::io::Read as _;
use std::path::Path;
use std::rc::Rc;
use std::sync::Arc;

/// The files of a chart this module and the image scan read.
#[derive(Debug, Clone, Default)]
pub struct ChartFiles {
    /// `values.yaml` (empty when the chart has none).
    pub values: String,
    /// `values.schema.json`, when the chart ships one.
    pub schema: Option<String>,
    /// `templates/*` of the chart itself (not of its subcharts): path and text.
    pub templates: Vec<(String, String)>,
    /// `Chart.yaml` (`None` when the archive has none: no chart Helm would load).
    pub chart_yaml: Option<String>,
    /// The archive these came from: the whole chart, its subcharts included, is loaded
    /// from it when values are checked (`None`: the chart is these files alone).
    pub archive: Option<Arc<[u8]>>,
}

/// Reads the chart's own files from its `.tgz` (bounded as Helm bounds it).
pub fn chart_files(name: &str, tgz: &[u8]) -> Result<ChartFiles, ChartError> {
    let bad = |message: String| ChartError::Fetch {
        chart: name.to_string(),
        message: format!("the chart archive: {message}"),
    };
    let gz = flate2::read::GzDecoder::new(tgz).take(MAX_CHART_CONTENT + 1);
    let mut archive = tar::Archive::new(gz);
    let mut files = ChartFiles {
        archive: Some(Arc::from(tgz)),
        ..ChartFiles::default()
    };
    let mut total = 0u64;
    for entry in archive.entries().map_err(|e| bad(e.to_string()))? {
        let mut entry = entry.map_err(|e| bad(e.to_string()))?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = entry
            .path()
            .map_err(|e| bad(e.to_string()))?
            .to_string_lossy()
            .into_owned();
        // `CHART/values.yaml`, `CHART/templates/…`: the first component is the chart's
        // folder; subcharts lie under `CHART/charts/`.
        let Some((_, inner)) = path.split_once('/') else {
            continue;
        };
        let wanted = inner == "values.yaml"
            || inner == "Chart.yaml"
            || inner == "values.schema.json"
            || (inner.starts_with("templates/") && !inner.ends_with(".tpl"));
        let size = entry.header().size().unwrap_or(0);
        total += size;
        if total > MAX_CHART_CONTENT {
            return Err(bad(format!(
                "decompresses to more than {MAX_CHART_CONTENT} bytes"
            )));
        }
        if !wanted {
            continue;
        }
        if size > MAX_CHART_FILE {
            return Err(bad(format!("{path} is larger than {MAX_CHART_FILE} bytes")));
        }
        let mut text = String::new();
        (&mut entry)
            .take(MAX_CHART_FILE)
            .read_to_string(&mut text)
            .map_err(|e| bad(format!("{path}: {e}")))?;
        match inner {
            "values.yaml" => files.values = text,
            "values.schema.json" => files.schema = Some(text),
            "Chart.yaml" => files.chart_yaml = Some(text),
            _ => files.templates.push((inner.to_string(), text)),
        }
    }
    Ok(files)
}

/// Whether `key` matches a `patternProperties` pattern this check can read without a
/// regular expression engine: a literal, `^literal`, `literal$`, `^literal$`, `.*`, `.+`.
/// Any other pattern matches everything (it cannot be judged, so it does not refuse).
pub(super) fn simple_match(pattern: &str, key: &str) -> bool {
    let start = pattern.strip_prefix('^');
    let body = start.unwrap_or(pattern);
    let end = body.strip_suffix('$');
    let lit = end.unwrap_or(body);
    if matches!(lit, ".*" | ".+" | "") {
        return lit != ".+" || !key.is_empty();
    }
    // `\.` is a literal dot; any other metacharacter makes the pattern not simple.
    let lit = lit.replace("\\.", "\u{0}");
    if lit.contains(['.', '*', '+', '?', '(', ')', '[', ']', '{', '}', '|', '\\']) {
        return true;
    }
    let lit = lit.replace('\u{0}', ".");
    let lit = lit.as_str();
    match (start.is_some(), end.is_some()) {
        (true, true) => key == lit,
        (true, false) => key.starts_with(lit),
        (false, true) => key.ends_with(lit),
        (false, false) => key.contains(lit),
    }
}

/// The chart's own values, as JSON (an empty `values.yaml` is an empty map).
pub fn chart_values(chart: &str, files: &ChartFiles) -> Result<Value, ChartError> {
    if files.values.trim().is_empty() {
        return Ok(Value::Object(serde_json::Map::new()));
    }
    super::read_yaml(&files.values).map_err(|e| ChartError::Fetch {
        chart: chart.to_string(),
        message: format!("the chart's values.yaml is not YAML this check can read: {e}"),
    })
}

/// What comes next in a map of the values file.
#[derive(Debug, Clone)]
enum Next<'v> {
    /// A key.
    Key,
    /// A key that is a collection (no string names it), being read.
    KeyNode,
    /// The value of the last key, which lands at this place.
    Value(Place<'v>),
}

/// A collection open in the values file.
enum Frame<'v> {
    /// A map whose keys land under `place`.
    Map { place: Place<'v>, next: Next<'v> },
    /// A list (its items have no names to compare: free).
    Seq,
}

/// A value is complete: its map waits for the next key.
fn value_done(stack: &mut [Frame<'_>], path: &mut Vec<String>) {
    if let Some(Frame::Map { next, .. }) = stack.last_mut() {
        match next {
            Next::Key => {}
            Next::KeyNode => {
                *next = Next::Value(Place::Free);
                path.push("?".into());
            }
            Next::Value(_) => {
                *next = Next::Key;
                path.pop();
            }
        }
    }
}

/// Whether a plain scalar is YAML's null (a values file of nothing but that is empty).
fn is_null(value: &str) -> bool {
    matches!(value, "" | "~" | "null" | "Null" | "NULL")
}

/// How many keys the chart lacks are named one by one; the rest are counted.
const SHOWN_UNKNOWN: usize = 50;

/// The chart `files` are of, as Helm loads it: from the archive, subcharts and all, or,
/// without one, from the files alone.
fn load(entry: &str, files: &ChartFiles) -> Result<super::load::Chart, ChartError> {
    if let Some(archive) = &files.archive {
        return super::load::load_archive(entry, archive);
    }
    let values = match chart_values(entry, files)? {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    let metadata: Map<String, Value> = files
        .chart_yaml
        .as_deref()
        .and_then(|t| super::read_yaml(t).ok())
        .unwrap_or_default();
    let name = metadata
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or(entry)
        .to_string();
    Ok(super::load::Chart {
        path: name.clone(),
        name,
        metadata,
        values,
        schema: files.schema.clone(),
        templates: files.templates.clone(),
        ..super::load::Chart::default()
    })
}

/// Checks the values file `file` (its `text`) against the chart `chart` (the entry's
/// name) whose own files are `files`: its top level must be a map (Helm reads a values
/// file as one), a key the chart does not know is an error naming `FILE:LINE:COLUMN`,
/// the key path and the chart's closest keys at that place, and the release's values (the
/// chart's with these over them) must meet the charts' schemas.
///
/// One walk over the file's events: each key is judged once, from the place its parent
/// map landed at, and the path from the top is one stack shared by every key (a string is
/// built only for a message), so time and memory stay proportional to the file however
/// deep its maps are. Every key the chart lacks is named in the one run (the first
/// [`SHOWN_UNKNOWN`] one by one, the rest counted); what lies under such a key is not
/// judged.
pub fn check(chart: &str, file: &Path, text: &str, files: &ChartFiles) -> Result<(), ChartError> {
    let loaded = load(chart, files)?;
    let ctx = Ctx::build(chart, &loaded, chart, chart.to_string(), "")?;
    check_keys(file, text, &ctx)?;
    drop(ctx);
    let user = match super::read_yaml::<Value>(text) {
        Ok(Value::Object(m)) => m,
        Ok(_) => Map::new(),
        // Keys that are no strings (a map as a key): no values Helm could read either; the
        // caller's own reading of the file refuses it.
        Err(_) => return Ok(()),
    };
    validate(chart, loaded, &user, &format!("{}: ", file.display()))
}

/// Checks the chart's own values (a chart with no values file) against its schemas, as
/// Helm checks them on install.
pub fn check_defaults(chart: &str, files: &ChartFiles) -> Result<(), ChartError> {
    let loaded = load(chart, files)?;
    validate(
        chart,
        loaded,
        &Map::new(),
        &format!("chart {chart} (no values file, the chart's defaults): "),
    )
}

fn validate(
    entry: &str,
    mut chart: super::load::Chart,
    user: &Map<String, Value>,
    lead: &str,
) -> Result<(), ChartError> {
    let values = super::coalesce::release_values(&mut chart, user);
    if let Some((path, value)) = super::coalesce::type_mismatch(&chart, user) {
        return Err(ChartError::Invalid(format!(
            "{lead}{path} is the subchart {path}'s values, a map, but it is set to {}: Helm refuses to install chart {entry} (\"type mismatch on {}\")",
            serde_json::to_string(&value).unwrap_or_default(),
            path.rsplit('.').next().unwrap_or(&path),
        )));
    }
    let refused = schema::validate(&chart, &values);
    if refused.is_empty() {
        return Ok(());
    }
    Err(ChartError::Invalid(refused.message(lead, entry)))
}

/// The key check of [`check`], against the chart tree `ctx`.
fn check_keys(file: &Path, text: &str, ctx: &Ctx) -> Result<(), ChartError> {
    use serde_saphyr::granit_parser::{Event, Parser, ScalarStyle};
    let at = |line: u64, column: u64, message: String| {
        ChartError::Invalid(format!("{}:{line}:{column}: {message}", file.display()))
    };
    let mut stack: Vec<Frame<'_>> = Vec::new();
    // The keys from the top to the value being read.
    let mut path: Vec<String> = Vec::new();
    // Every key the chart lacks, each at its place (what is under one is not judged).
    let mut unknown_keys: Vec<ChartError> = Vec::new();
    let mut more_unknown = 0usize;
    for event in Parser::new_from_str(text) {
        let (event, span) = event.map_err(|e| {
            at(
                e.marker().line() as u64,
                e.marker().col() as u64 + 1,
                e.info().to_string(),
            )
        })?;
        let (line, column) = (span.start.line() as u64, span.start.col() as u64 + 1);
        if stack.is_empty() {
            // The top of a document: a map, or nothing at all.
            let found = match &event {
                Event::Scalar(v, ScalarStyle::Plain, _, None) if is_null(v) => None,
                Event::Scalar(v, ..) => Some(format!("the string {:?}", truncated(v))),
                Event::SequenceStart(..) => Some("a list".to_string()),
                Event::Alias(_) | Event::UnresolvedAlias(_) => Some("an alias".to_string()),
                _ => None,
            };
            if let Some(found) = found {
                return Err(at(
                    line,
                    column,
                    format!(
                        "a values file is a map of keys (Helm reads it as one), but its top level is {found}"
                    ),
                ));
            }
        }
        match event {
            Event::Scalar(key, ..) => match stack.last_mut() {
                Some(Frame::Map {
                    place,
                    next: next @ Next::Key,
                }) => {
                    let landed = if matches!(place, Place::Free) || key == "<<" || key == "?" {
                        Place::Free
                    } else {
                        let here = match place {
                            Place::Known(h) => h.clone(),
                            _ => Rc::new(Here::top(ctx)),
                        };
                        match here.step(&key) {
                            Ok(p) => p,
                            Err(()) => {
                                if unknown_keys.len() == SHOWN_UNKNOWN {
                                    more_unknown += 1;
                                } else {
                                    unknown_keys
                                        .push(unknown(&at, &path, &key, &here, line, column));
                                }
                                Place::Free
                            }
                        }
                    };
                    *next = Next::Value(landed);
                    path.push(key.into_owned());
                }
                _ => value_done(&mut stack, &mut path),
            },
            Event::Alias(_) | Event::UnresolvedAlias(_) => match stack.last_mut() {
                Some(Frame::Map {
                    next: next @ Next::Key,
                    ..
                }) => {
                    *next = Next::Value(Place::Free);
                    path.push("?".into());
                }
                _ => value_done(&mut stack, &mut path),
            },
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                let place = match stack.last_mut() {
                    None => Place::Top,
                    Some(Frame::Seq) => Place::Free,
                    Some(Frame::Map { next, .. }) => match next {
                        Next::Value(p) => p.clone(),
                        Next::Key | Next::KeyNode => {
                            *next = Next::KeyNode;
                            Place::Free
                        }
                    },
                };
                stack.push(if matches!(event, Event::MappingStart(..)) {
                    Frame::Map {
                        place,
                        next: Next::Key,
                    }
                } else {
                    Frame::Seq
                });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                stack.pop();
                value_done(&mut stack, &mut path);
            }
            _ => {}
        }
    }
    match unknown_keys.len() {
        0 => Ok(()),
        1 => Err(unknown_keys.remove(0)),
        n => Err(ChartError::Invalid(format!(
            "{} keys the chart does not have:\n{}{}",
            n + more_unknown,
            unknown_keys
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n"),
            if more_unknown > 0 {
                format!("\n… and {more_unknown} more")
            } else {
                String::new()
            }
        ))),
    }
}

/// `s`, cut to a length a message can show.
fn truncated(s: &str) -> String {
    match s.char_indices().nth(60) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// The message for `key`, set under `path` at `here`, which nothing of the chart knows.
fn unknown(
    at: &dyn Fn(u64, u64, String) -> ChartError,
    path: &[String],
    key: &str,
    here: &Here<'_>,
    line: u64,
    column: u64,
) -> ChartError {
    let parent = path.join(".");
    let full = if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    };
    let names = here.names();
    let near: Vec<String> = crate::suggest::closest(key, names.iter().map(String::as_str), 3)
        .into_iter()
        .map(|k| {
            if parent.is_empty() {
                k.to_string()
            } else {
                format!("{parent}.{k}")
            }
        })
        .collect();
    let hint = if near.is_empty() {
        format!(
            "{} has no keys there",
            if parent.is_empty() { "it" } else { &parent }
        )
    } else {
        format!("closest the chart has: {}", near.join(", "))
    };
    let owner = here.chart();
    let own = full.strip_prefix(owner.at.as_str()).unwrap_or(&full);
    let schema = owner.schema.is_some();
    at(
        line,
        column,
        format!(
            "{full} is not a value of chart {} (its values.yaml{} {} no {own}, and no template of it reads it): Helm would ignore it; {hint}",
            owner.shown,
            if schema {
                " and values.schema.json"
            } else {
                ""
            },
            if schema { "have" } else { "has" },
        ),
    )
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_tree;
