//! The JSON contract (docs/json.md, docs/schemas/) held to the letter: every object a
//! schema describes, at any depth, is closed or marked open, and every error kind the
//! code can print is named on the page.

use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Whether `schema` admits a JSON object: a `type` naming `object`, or no `type` at all
/// (any value) and nothing else pinning the value (`const`, `enum`, `$ref`, or the
/// branches of an `anyOf`/`oneOf`, which are judged themselves).
fn admits_object(schema: &serde_json::Map<String, serde_json::Value>) -> bool {
    if ["const", "enum", "$ref"]
        .iter()
        .any(|k| schema.contains_key(*k))
    {
        return false;
    }
    match schema.get("type") {
        Some(serde_json::Value::String(t)) => t == "object",
        Some(serde_json::Value::Array(ts)) => ts.iter().any(|t| t == "object"),
        Some(_) => false,
        None => !schema.contains_key("anyOf") && !schema.contains_key("oneOf"),
    }
}

/// The objects of `schema` (at `at`, a JSON pointer into its file) that are neither closed
/// (`additionalProperties: false`) nor marked open (`$comment` starting with `open`, and
/// `additionalProperties` not false), and the `required` fields no `properties` names;
/// `value` is false for the branches of a typed schema's `anyOf` (constraints on the
/// object itself, such as `{"required": [...]}`, not values of their own).
fn faults(schema: &serde_json::Value, at: &str, value: bool, out: &mut Vec<String>) {
    let Some(map) = schema.as_object() else {
        return;
    };
    if value && admits_object(map) {
        let closed = map.get("additionalProperties") == Some(&serde_json::Value::Bool(false));
        let open = map
            .get("$comment")
            .and_then(serde_json::Value::as_str)
            .is_some_and(|c| c.starts_with("open"));
        match (closed, open) {
            (true, true) => out.push(format!("{at}: closed and marked open")),
            (false, false) => out.push(format!(
                "{at}: an object neither closed (\"additionalProperties\": false) nor marked open (\"$comment\": \"open: …\")"
            )),
            _ => {}
        }
    }
    let properties = map.get("properties").and_then(serde_json::Value::as_object);
    for name in (value.then_some(map)).into_iter().flat_map(|map| {
        map.get("required")
            .and_then(serde_json::Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(serde_json::Value::as_str)
    }) {
        if !properties.is_some_and(|p| p.contains_key(name)) {
            out.push(format!(
                "{at}: requires {name:?}, which its properties do not list"
            ));
        }
    }
    for key in ["properties", "$defs", "patternProperties"] {
        if let Some(children) = map.get(key).and_then(serde_json::Value::as_object) {
            for (name, child) in children {
                faults(child, &format!("{at}/{key}/{name}"), true, out);
            }
        }
    }
    for key in ["items", "additionalProperties", "contains", "not"] {
        if let Some(child) = map.get(key).filter(|c| c.is_object()) {
            faults(child, &format!("{at}/{key}"), true, out);
        }
    }
    let typed = map.contains_key("type");
    for key in ["prefixItems", "anyOf", "oneOf", "allOf"] {
        let branch_is_value = key == "prefixItems" || (!typed && key != "allOf");
        if let Some(children) = map.get(key).and_then(serde_json::Value::as_array) {
            for (i, child) in children.iter().enumerate() {
                faults(child, &format!("{at}/{key}/{i}"), branch_is_value, out);
            }
        }
    }
}

fn schema_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo().join("docs/schemas"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
}

/// The kind and version a schema file's name says (`delta.v2.json`: `("delta", 2)`), the
/// inverse of `Kind::schema_file`; `None` for a name of another shape.
pub(super) fn kind_and_version(file: &str) -> Option<(&str, u32)> {
    let (kind, version) = file.strip_suffix(".json")?.rsplit_once(".v")?;
    Some((kind, version.parse().ok()?))
}

fn read_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// docs/json.md: only the objects marked *open* may grow fields within a version, so every
/// other object of every schema, nested or an array's item, must refuse a field it does not
/// list.
#[test]
fn every_object_of_every_schema_is_closed_or_marked_open() {
    let mut all = Vec::new();
    for path in schema_files() {
        let mut out = Vec::new();
        faults(&read_json(&path), "#", true, &mut out);
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        all.extend(out.into_iter().map(|f| format!("{name}: {f}")));
    }
    assert!(all.is_empty(), "{}", all.join("\n"));
    let page = std::fs::read_to_string(repo().join("docs/json.md")).unwrap();
    assert!(
        page.contains(r#""$comment": "open"#),
        "docs/json.md says how a schema marks an object open"
    );
}

#[test]
fn the_walk_finds_an_object_nested_or_in_an_array_that_is_neither() {
    let schema = serde_json::json!({
        "type": "object",
        "properties": {
            "a": {"type": "object", "properties": {"b": {"type": "string"}}},
            "c": {"type": "array", "items": {"type": ["object", "null"], "additionalProperties": false}},
            "d": {"type": "array", "items": {}},
            "e": {"type": "object", "additionalProperties": true, "$comment": "open: a map"},
            "f": {"anyOf": [{"enum": ["x"]}, {"type": "object"}]},
            "g": {"type": "object", "properties": {}, "required": ["h"], "additionalProperties": false}
        },
        "anyOf": [{"required": ["a"]}],
        "additionalProperties": false
    });
    let mut out = Vec::new();
    faults(&schema, "#", true, &mut out);
    let at: Vec<&str> = out.iter().map(|f| f.split_once(':').unwrap().0).collect();
    assert_eq!(
        at,
        [
            "#/properties/a",
            "#/properties/d/items",
            "#/properties/f/anyOf/1",
            "#/properties/g"
        ],
        "{out:#?}"
    );
}

/// The kinds the code gives `error.kind`: each of the library's errors, the two reasons
/// to try again, a usage error and the two signals; each named on docs/json.md's `kind`
/// row.
#[test]
fn every_error_kind_the_code_prints_is_named_in_docs_json() {
    let quoted_after = |text: &str, starts: &[&str]| -> Vec<String> {
        text.lines()
            .map(str::trim)
            .filter(|l| starts.iter().any(|s| l.starts_with(s)))
            .filter_map(|l| l.split_once("=> \"").or_else(|| l.split_once("=> (\"")))
            .filter_map(|(_, rest)| rest.split_once('"').map(|(k, _)| k.to_owned()))
            .collect()
    };
    let lib = std::fs::read_to_string(repo().join("src/lib.rs")).unwrap();
    let mut kinds = quoted_after(&lib, &["Error::", "TryAgain::"]);
    assert!(
        kinds.len() > 10 && kinds.contains(&"busy".to_owned()),
        "src/lib.rs's Error::kind and TryAgain::kind not found: {kinds:?}"
    );
    let common = std::fs::read_to_string(repo().join("src/cli/common/mod.rs")).unwrap();
    kinds.extend(quoted_after(&common, &["CliError::"]));
    assert!(kinds.contains(&"usage".to_owned()), "{kinds:?}");
    let cli = std::fs::read_to_string(repo().join("src/cli/mod.rs")).unwrap();
    for signal in ["interrupted", "terminated"] {
        assert!(
            cli.contains(&format!("\"{signal}\"")),
            "src/cli/mod.rs: {signal}"
        );
        kinds.push(signal.to_owned());
    }
    let page = std::fs::read_to_string(repo().join("docs/json.md")).unwrap();
    let row = page
        .lines()
        .find(|l| l.starts_with("| `kind` |"))
        .expect("docs/json.md: the error's `kind` row");
    let missing: Vec<&String> = kinds
        .iter()
        .filter(|k| !row.contains(&format!("`{k}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/json.md's error kinds do not name {missing:?}: {row}"
    );
}

/// Where version `new` of a schema breaks version `old` (docs/json.md: a new version adds
/// fields, it never removes, renames or retypes one): each field `old` lists, at the top or
/// nested, is in `new` with the same schema but for the fields added inside it, and what
/// `old` requires `new` requires too. The `schema` name itself differs, as it must.
fn breaks(old: &serde_json::Value, new: &serde_json::Value, at: &str, out: &mut Vec<String>) {
    let (Some(o), Some(n)) = (old.as_object(), new.as_object()) else {
        if old != new {
            out.push(format!("{at}: {old} became {new}"));
        }
        return;
    };
    for (key, was) in o {
        let Some(now) = n.get(key) else {
            out.push(format!("{at}/{key}: gone"));
            continue;
        };
        match key.as_str() {
            "properties" => {
                let now = now.as_object();
                for (field, schema) in was.as_object().into_iter().flatten() {
                    match now.and_then(|now| now.get(field)) {
                        Some(_) if at == "#" && field == "schema" => {}
                        Some(s) => breaks(schema, s, &format!("{at}/{field}"), out),
                        None => out.push(format!("{at}/{field}: removed")),
                    }
                }
            }
            "required" => {
                for field in was.as_array().into_iter().flatten() {
                    if !now.as_array().is_some_and(|r| r.contains(field)) {
                        out.push(format!("{at}: {field} no longer required"));
                    }
                }
            }
            "$id" | "description" | "$comment" | "title" => {}
            _ => breaks(was, now, &format!("{at}/{key}"), out),
        }
    }
}

/// Every kind's earlier schema is kept beside its current one, and the current one only adds
/// to it.
#[test]
fn each_later_version_of_a_schema_only_adds_fields() {
    let mut all = Vec::new();
    for path in schema_files() {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let Some((kind, v)) = kind_and_version(&name) else {
            continue;
        };
        let next = path.with_file_name(format!("{kind}.v{}.json", v + 1));
        if next.is_file() {
            let mut out = Vec::new();
            breaks(&read_json(&path), &read_json(&next), "#", &mut out);
            all.extend(
                out.into_iter()
                    .map(|f| format!("{name} -> v{}: {f}", v + 1)),
            );
        }
    }
    assert!(all.is_empty(), "{}", all.join("\n"));
    let mut out = Vec::new();
    breaks(
        &serde_json::json!({"properties": {"a": {"type": "string"}, "b": {"type": "integer"}}, "required": ["a"]}),
        &serde_json::json!({"properties": {"a": {"type": ["string", "null"]}}}),
        "#",
        &mut out,
    );
    assert_eq!(out.len(), 3, "{out:?}");
}
