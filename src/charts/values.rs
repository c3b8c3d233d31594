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

/// A key the values file sets: its path and where it is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetKey {
    /// The keys from the top (`["persistence", "storageClass"]`).
    pub path: Vec<String>,
    /// 1-based line.
    pub line: u64,
    /// 1-based column.
    pub column: u64,
}

/// Every key path a YAML document sets through maps alone (keys inside lists are not
/// listed), in document order. A syntax error is reported at its line.
pub fn set_keys(text: &str, file: &Path) -> Result<Vec<SetKey>, ChartError> {
    use serde_saphyr::granit_parser::{Event, Parser};
    enum Frame {
        Map { key: Option<String> },
        Seq,
    }
    let mut stack: Vec<Frame> = Vec::new();
    let mut path: Vec<String> = Vec::new();
    let mut keys = Vec::new();
    // After a key, its value follows: a scalar ends it, a collection is entered.
    let in_list = |stack: &[Frame]| stack.iter().any(|f| matches!(f, Frame::Seq));
    for event in Parser::new_from_str(text) {
        let (event, span) = event.map_err(|e| {
            ChartError::Invalid(format!(
                "{}:{}:{}: {}",
                file.display(),
                e.marker().line(),
                e.marker().col() + 1,
                e.info()
            ))
        })?;
        let value_done = |stack: &mut Vec<Frame>, path: &mut Vec<String>| {
            if let Some(Frame::Map { key }) = stack.last_mut()
                && key.take().is_some()
            {
                path.pop();
            }
        };
        match event {
            Event::Scalar(value, ..) => match stack.last_mut() {
                Some(Frame::Map { key: key @ None }) => {
                    *key = Some(value.to_string());
                    path.push(value.to_string());
                    if !in_list(&stack) {
                        keys.push(SetKey {
                            path: path.clone(),
                            line: span.start.line() as u64,
                            column: span.start.col() as u64 + 1,
                        });
                    }
                }
                _ => value_done(&mut stack, &mut path),
            },
            Event::Alias(_) | Event::UnresolvedAlias(_) => value_done(&mut stack, &mut path),
            Event::MappingStart(..) => {
                if let Some(Frame::Map { key: None }) = stack.last() {
                    // A map as a key: nothing names it; it is judged by Helm.
                    path.push("?".into());
                    if let Some(Frame::Map { key }) = stack.last_mut() {
                        *key = Some("?".into());
                    }
                }
                stack.push(Frame::Map { key: None });
            }
            Event::SequenceStart(..) => {
                if let Some(Frame::Map { key: None }) = stack.last() {
                    path.push("?".into());
                    if let Some(Frame::Map { key }) = stack.last_mut() {
                        *key = Some("?".into());
                    }
                }
                stack.push(Frame::Seq);
            }
            Event::MappingEnd | Event::SequenceEnd => {
                stack.pop();
                value_done(&mut stack, &mut path);
            }
            _ => {}
        }
    }
    Ok(keys)
}

/// Why a key is not known: at which depth of its path, and the keys the chart has there.
#[derive(Debug, PartialEq, Eq)]
struct Unknown {
    depth: usize,
    known: Vec<String>,
}

/// Judges one key path against the chart's values and schema (see the module docs).
fn judge(values: Option<&Value>, schema: Option<&Value>, path: &[String]) -> Result<(), Unknown> {
    let (mut vals, mut schema) = (values, schema);
    for (depth, key) in path.iter().enumerate() {
        let mut known = false;
        let mut free = false;
        let mut names: Vec<String> = Vec::new();
        let (mut next_vals, mut next_schema) = (None, None);
        match vals {
            Some(Value::Object(m)) if m.is_empty() => free = true,
            Some(Value::Object(m)) => {
                names.extend(m.keys().cloned());
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
            if let Some(p) = props {
                names.extend(p.keys().cloned());
                if let Some(sub) = p.get(key) {
                    known = true;
                    next_schema = Some(sub);
                }
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
            return Ok(());
        }
        if !known {
            names.sort();
            names.dedup();
            return Err(Unknown {
                depth,
                known: names,
            });
        }
        vals = next_vals;
        schema = next_schema;
        if vals.is_none() && schema.is_none() {
            return Ok(());
        }
    }
    Ok(())
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
    serde_saphyr::from_str(&files.values).map_err(|e| ChartError::Fetch {
        chart: chart.to_string(),
        message: format!("the chart's values.yaml is not YAML this check can read: {e}"),
    })
}

/// Checks the values file `file` (its `text`) against the chart `chart` (the entry's
/// name) whose own files are `files`: the first key the chart does not know is an error
/// naming `FILE:LINE:COLUMN`, the key path and the chart's closest keys at that place.
pub fn check(chart: &str, file: &Path, text: &str, files: &ChartFiles) -> Result<(), ChartError> {
    let keys = set_keys(text, file)?;
    if keys.is_empty() {
        return Ok(());
    }
    let values = chart_values(chart, files)?;
    let schema: Option<Value> = match &files.schema {
        Some(s) => Some(serde_json::from_str(s).map_err(|e| ChartError::Fetch {
            chart: chart.to_string(),
            message: format!("the chart's values.schema.json is not JSON: {e}"),
        })?),
        None => None,
    };
    for key in keys {
        // `?`: a key that is no string; `<<`: a YAML merge, whose keys come from an
        // anchor written elsewhere in the file and checked there.
        if key.path.iter().any(|k| k == "?" || k == "<<") {
            continue;
        }
        if let Err(u) = judge(Some(&values), schema.as_ref(), &key.path) {
            let at = key.path[..u.depth].join(".");
            let near: Vec<String> =
                crate::suggest::closest(&key.path[u.depth], u.known.iter().map(String::as_str), 3)
                    .into_iter()
                    .map(|k| {
                        if at.is_empty() {
                            k.to_string()
                        } else {
                            format!("{at}.{k}")
                        }
                    })
                    .collect();
            let hint = if near.is_empty() {
                format!(
                    "{} has no keys there",
                    if at.is_empty() { "it" } else { &at }
                )
            } else {
                format!("closest the chart has: {}", near.join(", "))
            };
            return Err(ChartError::Invalid(format!(
                "{}:{}:{}: {} is not a value of chart {chart} (its values.yaml{} has no {}): Helm would ignore it; {hint}",
                file.display(),
                key.line,
                key.column,
                key.path.join("."),
                if schema.is_some() {
                    " and values.schema.json"
                } else {
                    ""
                },
                key.path[..=u.depth].join("."),
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn set_keys_follow_maps_and_skip_lists() {
        let keys = set_keys("a:\n  b: 1\n  c:\n    - d: 2\ne: {f: 3}\n", Path::new("v")).unwrap();
        let paths: Vec<String> = keys.iter().map(|k| k.path.join(".")).collect();
        assert_eq!(paths, ["a", "a.b", "a.c", "e", "e.f"]);
        assert_eq!((keys[1].line, keys[1].column), (2, 3));
        let err = set_keys("a: [\n", Path::new("v.yaml"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("v.yaml:"), "{err}");
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
