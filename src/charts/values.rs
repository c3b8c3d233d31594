//! A values file checked against the chart it configures: every key path it sets must be
//! one the chart's own `values.yaml` has, or one its `values.schema.json` allows. Helm
//! itself ignores a key no template reads, so a key renamed upstream
//! (`controller.adminPassword` → `controller.admin.password`) silently does nothing; here
//! it is refused at its line, with the chart's closest keys.
//!
//! What counts as known, level by level from the top:
//! - a key the chart's values have at that place;
//! - anything under a value the chart leaves open: an empty map (`podAnnotations: {}`),
//!   `null`, or a value that is not a map (types are Helm's to judge, not this check's);
//! - anything inside a list (list items have no names to compare);
//! - with a schema: a key in `properties`, a key matching a simple `patternProperties`
//!   pattern, any key where `additionalProperties` is `true` or a schema, and anything
//!   under a schema that constrains no keys. A missing `additionalProperties` allows
//!   nothing here (JSON Schema would allow everything, which would make the check void).

use super::ChartError;
use serde_json::Value;
use std::io::Read as _;
use std::path::Path;

/// The most bytes a chart may decompress to (Helm's own limit).
pub const MAX_CHART_CONTENT: u64 = 100 << 20;
/// The most bytes one file of a chart may have (Helm's own limit).
pub const MAX_CHART_FILE: u64 = 5 << 20;

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
}

/// Reads the chart's own files from its `.tgz` (bounded as Helm bounds it).
pub fn chart_files(name: &str, tgz: &[u8]) -> Result<ChartFiles, ChartError> {
    let bad = |message: String| ChartError::Fetch {
        chart: name.to_string(),
        message: format!("the chart archive: {message}"),
    };
    let gz = flate2::read::GzDecoder::new(tgz).take(MAX_CHART_CONTENT + 1);
    let mut archive = tar::Archive::new(gz);
    let mut files = ChartFiles::default();
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

/// Where a key of the values file lands in the chart.
#[derive(Debug, Clone, Copy)]
enum Place<'v> {
    /// The top of the values file: the chart's values and schema, read when the first key
    /// needs them.
    Top,
    /// A place the chart describes: its values there and its schema there (either may be
    /// absent).
    Known {
        vals: Option<&'v Value>,
        schema: Option<&'v Value>,
    },
    /// Anything goes: under a value the chart leaves open, inside a list, under a key that
    /// is no string or a YAML merge (`<<`, whose keys are checked where they are written).
    Free,
}

/// The chart's values and schema, as JSON.
type Chart = (Value, Option<Value>);

/// Where `key`, set in a map at `place`, lands; `Err` when the chart does not know it.
/// One step of the path: each key is judged once, from its parent's place.
fn step<'v>(place: Place<'v>, key: &str, chart: &'v Chart) -> Result<Place<'v>, ()> {
    let (vals, schema) = match place {
        Place::Free => return Ok(Place::Free),
        Place::Top => (Some(&chart.0), chart.1.as_ref()),
        Place::Known { vals, schema } => (vals, schema),
    };
    let mut known = false;
    let mut free = false;
    let (mut next_vals, mut next_schema) = (None, None);
    match vals {
        Some(Value::Object(m)) if m.is_empty() => free = true,
        Some(Value::Object(m)) => {
            if let Some(v) = m.get(key) {
                known = true;
                next_vals = Some(v);
            }
        }
        Some(_) => free = true,
        None => {}
    }
    if let Some(Value::Object(s)) = schema {
        let props = s.get("properties").and_then(Value::as_object);
        let patterns = s.get("patternProperties").and_then(Value::as_object);
        let additional = s.get("additionalProperties");
        if props.is_none() && patterns.is_none() && additional.is_none() {
            // A schema that names no keys here constrains none.
            free |= vals.is_none();
        }
        if let Some(sub) = props.and_then(|p| p.get(key)) {
            known = true;
            next_schema = Some(sub);
        }
        if !known
            && let Some((_, sub)) = patterns
                .into_iter()
                .flatten()
                .find(|(pattern, _)| simple_match(pattern, key))
        {
            known = true;
            next_schema = Some(sub);
        }
        match additional {
            Some(Value::Bool(true)) => free = true,
            Some(sub @ Value::Object(_)) if !known => {
                known = true;
                next_schema = Some(sub);
            }
            _ => {}
        }
    } else if vals.is_none() {
        // Known through the schema alone, and it says nothing below: free.
        free = true;
    }
    if free {
        return Ok(Place::Free);
    }
    if !known {
        return Err(());
    }
    if next_vals.is_none() && next_schema.is_none() {
        return Ok(Place::Free);
    }
    Ok(Place::Known {
        vals: next_vals,
        schema: next_schema,
    })
}

/// The keys the chart has at `place`, sorted: only built for the message of a key it
/// lacks.
fn names_at(place: Place<'_>, chart: &Chart) -> Vec<String> {
    let (vals, schema) = match place {
        Place::Free => return Vec::new(),
        Place::Top => (Some(&chart.0), chart.1.as_ref()),
        Place::Known { vals, schema } => (vals, schema),
    };
    let mut names: Vec<String> = Vec::new();
    if let Some(Value::Object(m)) = vals {
        names.extend(m.keys().cloned());
    }
    if let Some(p) = schema
        .and_then(|s| s.get("properties"))
        .and_then(Value::as_object)
    {
        names.extend(p.keys().cloned());
    }
    names.sort();
    names.dedup();
    names
}

/// Whether `key` matches a `patternProperties` pattern this check can read without a
/// regular expression engine: a literal, `^literal`, `literal$`, `^literal$`, `.*`, `.+`.
/// Any other pattern matches everything (it cannot be judged, so it does not refuse).
fn simple_match(pattern: &str, key: &str) -> bool {
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
#[derive(Debug, Clone, Copy)]
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

/// Checks the values file `file` (its `text`) against the chart `chart` (the entry's
/// name) whose own files are `files`: its top level must be a map (Helm reads a values
/// file as one), and a key the chart does not know is an error naming
/// `FILE:LINE:COLUMN`, the key path and the chart's closest keys at that place.
///
/// One walk over the file's events: each key is judged once, from the place its parent
/// map landed at, and the path from the top is one stack shared by every key (a string is
/// built only for a message), so time and memory stay proportional to the file however
/// deep its maps are. The chart's values are read only when the first key needs them.
/// Every key the chart lacks is named in the one run (the first [`SHOWN_UNKNOWN`] one by
/// one, the rest counted); what lies under such a key is not judged.
pub fn check(chart: &str, file: &Path, text: &str, files: &ChartFiles) -> Result<(), ChartError> {
    use serde_saphyr::granit_parser::{Event, Parser, ScalarStyle};
    let at = |line: u64, column: u64, message: String| {
        ChartError::Invalid(format!("{}:{line}:{column}: {message}", file.display()))
    };
    let loaded: std::cell::OnceCell<Chart> = std::cell::OnceCell::new();
    let load = || -> Result<&Chart, ChartError> {
        if let Some(c) = loaded.get() {
            return Ok(c);
        }
        let values = chart_values(chart, files)?;
        let schema: Option<Value> = match &files.schema {
            Some(s) => Some(serde_json::from_str(s).map_err(|e| ChartError::Fetch {
                chart: chart.to_string(),
                message: format!("the chart's values.schema.json is not JSON: {e}"),
            })?),
            None => None,
        };
        Ok(loaded.get_or_init(|| (values, schema)))
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
                        let chart_values = load()?;
                        match step(*place, &key, chart_values) {
                            Ok(p) => p,
                            Err(()) => {
                                let names = names_at(*place, chart_values);
                                if unknown_keys.len() == SHOWN_UNKNOWN {
                                    more_unknown += 1;
                                } else {
                                    unknown_keys.push(unknown(
                                        &at,
                                        chart,
                                        &path,
                                        &key,
                                        &names,
                                        loaded.get(),
                                        line,
                                        column,
                                    ));
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
                    Some(Frame::Map { next, .. }) => match *next {
                        Next::Value(p) => p,
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

/// The message for `key`, set under `path`, which the chart does not have; `names` are
/// the keys it has there.
#[allow(clippy::too_many_arguments)]
fn unknown(
    at: &dyn Fn(u64, u64, String) -> ChartError,
    chart: &str,
    path: &[String],
    key: &str,
    names: &[String],
    loaded: Option<&Chart>,
    line: u64,
    column: u64,
) -> ChartError {
    let parent = path.join(".");
    let full = if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    };
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
    let schema = loaded.is_some_and(|c| c.1.is_some());
    at(
        line,
        column,
        format!(
            "{full} is not a value of chart {chart} (its values.yaml{} has no {full}): Helm would ignore it; {hint}",
            if schema {
                " and values.schema.json"
            } else {
                ""
            },
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::charts::MAX_VALUES_SIZE;

    const CHART: &str = "controller:\n  admin:\n    password: \"\"\n    username: admin\n  resources: {}\n  image:\n    tag: lts\npersistence:\n  enabled: true\n  storageClass: null\npodAnnotations: {}\ntolerations: []\nreplicaCount: 1\n";

    fn files(schema: Option<&str>) -> ChartFiles {
        ChartFiles {
            values: CHART.into(),
            schema: schema.map(str::to_string),
            templates: Vec::new(),
            chart_yaml: None,
        }
    }

    fn run(text: &str, schema: Option<&str>) -> Result<(), String> {
        check(
            "jenkins",
            Path::new("conf/values.yaml"),
            text,
            &files(schema),
        )
        .map_err(|e| e.to_string())
    }

    #[test]
    fn a_renamed_key_is_refused_at_its_line_with_the_closest_keys() {
        let text = "replicaCount: 2\ncontroller:\n  adminPassword: s3cret\n";
        let err = run(text, None).unwrap_err();
        assert!(
            err.starts_with("conf/values.yaml:3:3: controller.adminPassword "),
            "{err}"
        );
        assert!(
            err.contains("closest the chart has: controller.admin"),
            "{err}"
        );
        let err = run("persistance:\n  enabled: false\n", None).unwrap_err();
        assert!(err.contains("values.yaml:1:1: persistance is not"), "{err}");
        assert!(err.contains("closest the chart has: persistence"), "{err}");
    }

    #[test]
    fn known_keys_free_maps_nulls_and_lists_pass() {
        let text = "controller:\n  admin:\n    password: x\n  resources:\n    limits: {cpu: 1}\npersistence:\n  storageClass: local-path\npodAnnotations:\n  a.b/c: d\ntolerations:\n  - key: x\n    anything: y\nreplicaCount: 3\n";
        run(text, None).unwrap();
        run("", None).unwrap();
        run("replicaCount: 1\npersistence: &p\n  enabled: true\ncontroller:\n  admin:\n    <<: {password: x}\n", None).unwrap();
        run("# nothing set\n", None).unwrap();
    }

    #[test]
    fn the_schema_allows_more_keys() {
        let schema = r#"{"type":"object","properties":{"extraEnv":{"type":"object","additionalProperties":{"type":"string"}},"controller":{"properties":{"sidecars":{}}},"labels":{"patternProperties":{"^app\\.":{}}}}}"#;
        run("extraEnv:\n  FOO: bar\n", Some(schema)).unwrap();
        run("controller:\n  sidecars:\n    anything: 1\n", Some(schema)).unwrap();
        run("labels:\n  app.name: x\n", Some(schema)).unwrap();
        let err = run("labels:\n  team: x\n", Some(schema)).unwrap_err();
        assert!(err.contains("labels.team"), "{err}");
        assert!(err.contains("values.schema.json"), "{err}");
        let err = run("nope: 1\n", Some(schema)).unwrap_err();
        assert!(err.contains("nope"), "{err}");
    }

    #[test]
    fn keys_are_judged_through_maps_and_not_inside_lists_or_complex_keys() {
        // Inside a list anything goes; a key that is a map is no name to compare; a
        // syntax error is reported at its line.
        run(
            "tolerations:\n  - key: x\n    nope: y\n? {a: 1}\n: whatever\nreplicaCount: 2\n",
            None,
        )
        .unwrap();
        let err = run("controller:\n  image:\n    tag: x\n    tga: y\n", None).unwrap_err();
        assert!(
            err.starts_with("conf/values.yaml:4:5: controller.image.tga is not a value"),
            "{err}"
        );
        assert!(
            err.contains("closest the chart has: controller.image.tag"),
            "{err}"
        );
        let err = run("e: {f: 3}\n", None).unwrap_err();
        assert!(err.starts_with("conf/values.yaml:1:1: e is not"), "{err}");
        let err = run("replicaCount: [\n", None).unwrap_err();
        assert!(err.starts_with("conf/values.yaml:"), "{err}");
    }

    #[test]
    fn every_key_the_chart_lacks_is_named_in_one_run_and_what_lies_under_one_is_not_judged() {
        let err = run(
            "controller:\n  image:\n    tga: y\n    tag: x\nreplicaCont: 2\nwrong:\n  deeper: 1\n",
            None,
        )
        .unwrap_err();
        assert!(
            err.starts_with("3 keys the chart does not have:\n"),
            "{err}"
        );
        for needle in [
            "conf/values.yaml:3:5: controller.image.tga is not a value",
            "conf/values.yaml:5:1: replicaCont is not",
            "conf/values.yaml:6:1: wrong is not",
        ] {
            assert!(err.contains(needle), "{needle}: {err}");
        }
        assert!(!err.contains("deeper"), "{err}");
        let many: String = (0..SHOWN_UNKNOWN + 7)
            .map(|i| format!("k{i}: 1\n"))
            .collect();
        let err = run(&many, None).unwrap_err();
        assert!(
            err.starts_with(&format!("{} keys", SHOWN_UNKNOWN + 7))
                && err.ends_with("… and 7 more"),
            "{err}"
        );
    }

    #[test]
    fn a_values_file_whose_top_level_is_no_map_is_refused_naming_the_file() {
        for (text, found) in [
            ("- replicaCount: 2\n", "a list"),
            ("replicaCount\n", "the string \"replicaCount\""),
            ("3\n", "the string \"3\""),
            ("\"\"\n", "the string \"\""),
            ("# a list\n[a, b]\n", "a list"),
        ] {
            let err = run(text, None).unwrap_err();
            assert!(err.starts_with("conf/values.yaml:"), "{text:?}: {err}");
            assert!(
                err.contains(&format!("its top level is {found}")),
                "{text:?}: {err}"
            );
        }
        let bad = check("jenkins", Path::new("v.yaml"), "- a\n", &files(None)).unwrap_err();
        assert!(bad.is_invalid_input(), "{bad}");
        assert!(bad.to_string().starts_with("v.yaml:1:1: "), "{bad}");
        // Nothing at all, or null, is an empty map to Helm.
        for empty in ["", "# nothing\n", "~\n", "null\n", "---\n"] {
            run(empty, None).unwrap();
        }
    }

    /// A values file at the size cap with two thirds of a million keys under maps more than fifty
    /// deep: copying each key's path would take gigabytes (a vector of fifty-odd strings per
    /// key); judged from a shared path stack, it takes what the file's events take.
    #[test]
    fn deep_maps_with_many_keys_are_checked_without_copying_paths() {
        const DEPTH: usize = 56;
        let mut chart = String::new();
        let mut text = String::new();
        for level in 0..DEPTH {
            let pad = " ".repeat(level);
            chart.push_str(&format!("{pad}l{level}:\n"));
            text.push_str(&format!("{pad}l{level}:\n"));
        }
        let pad = " ".repeat(DEPTH);
        chart.push_str(&format!("{pad}known: 1\n{pad}open: {{}}\n"));
        text.push_str(&format!("{pad}open: {{"));
        // Keys without values (`{a, b}`: each is null), named a, b, …, ba, bb, …
        let mut keys = 0usize;
        while text.len() < (MAX_VALUES_SIZE as usize) - 64 {
            let mut n = keys;
            loop {
                text.push(char::from(b'a' + (n % 26) as u8));
                n /= 26;
                if n == 0 {
                    break;
                }
            }
            text.push_str(", ");
            keys += 1;
        }
        text.push_str("zzzzzzzz}\n");
        assert!(text.len() as u64 <= MAX_VALUES_SIZE);
        assert!(keys > 600_000, "{keys}");
        let files = ChartFiles {
            values: chart,
            ..ChartFiles::default()
        };
        check("deep", Path::new("deep.yaml"), &text, &files).unwrap();
        // The same depth, one key the chart lacks at the bottom: found, its path named.
        let bad = text.replacen(&format!("{pad}open: {{"), &format!("{pad}nope: {{"), 1);
        let err = check("deep", Path::new("deep.yaml"), &bad, &files)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(&format!("deep.yaml:{}:{}: l0.l1.", DEPTH + 1, DEPTH + 1)),
            "{}",
            &err[..200.min(err.len())]
        );
        assert!(
            err.contains(&format!(".l{}.nope is not a value", DEPTH - 1)),
            "{}",
            &err[..300.min(err.len())]
        );
    }

    #[test]
    fn simple_patterns() {
        assert!(simple_match("^[a-z]+$", "anything"), "not simple: allowed");
        assert!(simple_match("^app\\.", "app.x"));
        assert!(!simple_match("^app\\.", "apps"));
        assert!(simple_match("^x-", "x-a"));
        assert!(!simple_match("^x-", "y-a"));
        assert!(simple_match("_total$", "a_total"));
        assert!(!simple_match("^exact$", "exactly"));
    }
}
