//! Helm's own functions: `include`, `tpl`, `required`, `fail`, the YAML, JSON and TOML
//! conversions, `lookup`.

use super::{want, want_str};
use crate::gotmpl::call::{Builtin, Caller, FResult};
use crate::gotmpl::value::{Map, Numbers, Value};
use crate::gotmpl::yaml;
use std::collections::HashMap;

pub(super) fn add(m: &mut HashMap<&'static str, Builtin>) {
    m.insert("include", include);
    m.insert("tpl", tpl);
    m.insert("required", |_, a| {
        want(&a, 2, "required")?;
        let msg = want_str(&a[0])?;
        match &a[1] {
            Value::Nil => Err(msg.into()),
            Value::String(s) if s.is_empty() => Err(msg.into()),
            v => Ok(v.clone()),
        }
    });
    m.insert("fail", |_, a| {
        want(&a, 1, "fail")?;
        Err(want_str(&a[0])?.into())
    });
    m.insert("lookup", |_, a| {
        want(&a, 4, "lookup")?;
        for v in &a {
            want_str(v)?;
        }
        Ok(Value::new_map())
    });
    m.insert("toYaml", |ex, a| {
        want(&a, 1, "toYaml")?;
        Ok(Value::from(
            yaml::to_yaml(&a[0], ex.limits().max_value_depth)
                .map(trim_one_newline)
                .unwrap_or_default(),
        ))
    });
    m.insert("mustToYaml", |ex, a| {
        want(&a, 1, "mustToYaml")?;
        Ok(Value::from(trim_one_newline(yaml::to_yaml(
            &a[0],
            ex.limits().max_value_depth,
        )?)))
    });
    m.insert("toYamlPretty", |ex, a| {
        want(&a, 1, "toYamlPretty")?;
        Ok(Value::from(
            yaml::to_yaml_pretty(&a[0], ex.limits().max_value_depth)
                .map(trim_one_newline)
                .unwrap_or_default(),
        ))
    });
    m.insert("fromYaml", |ex, a| {
        want(&a, 1, "fromYaml")?;
        let s = want_str(&a[0])?;
        Ok(match yaml::from_yaml(s, ex.limits().max_value_depth) {
            Ok(Value::Map(m)) => Value::Map(m),
            Ok(Value::Nil) => Value::new_map(),
            Ok(_) => error_map("error unmarshaling JSON: while decoding JSON: json: cannot unmarshal array into Go value of type map[string]interface {}"),
            Err(e) => error_map(&e),
        })
    });
    m.insert("fromYamlArray", |ex, a| {
        want(&a, 1, "fromYamlArray")?;
        let s = want_str(&a[0])?;
        Ok(match yaml::from_yaml(s, ex.limits().max_value_depth) {
            Ok(Value::List(l)) => Value::List(l),
            Ok(Value::Nil) => Value::from(Vec::new()),
            Ok(_) => Value::from(vec![Value::from("error unmarshaling JSON: while decoding JSON: json: cannot unmarshal object into Go value of type []interface {}")]),
            Err(e) => Value::from(vec![Value::from(e)]),
        })
    });
    m.insert("toJson", |ex, a| {
        want(&a, 1, "toJson")?;
        Ok(Value::from(
            a[0].to_json(ex.limits().max_value_depth)
                .map(|j| go_json(&j))
                .unwrap_or_default(),
        ))
    });
    m.insert("mustToJson", |ex, a| {
        want(&a, 1, "mustToJson")?;
        let j = a[0]
            .to_json(ex.limits().max_value_depth)
            .ok_or("json: unsupported value")?;
        Ok(Value::from(go_json(&j)))
    });
    m.insert("fromJson", |_, a| {
        want(&a, 1, "fromJson")?;
        let s = want_str(&a[0])?;
        Ok(match serde_json::from_str::<serde_json::Value>(s) {
            Ok(j @ serde_json::Value::Object(_)) => Value::from_json(&j, Numbers::Float64),
            Ok(serde_json::Value::Null) => Value::new_map(),
            Ok(j) => error_map(&format!(
                "json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
                json_kind(&j)
            )),
            Err(e) => error_map(&e.to_string()),
        })
    });
    m.insert("fromJsonArray", |_, a| {
        want(&a, 1, "fromJsonArray")?;
        let s = want_str(&a[0])?;
        Ok(match serde_json::from_str::<serde_json::Value>(s) {
            Ok(j @ serde_json::Value::Array(_)) => Value::from_json(&j, Numbers::Float64),
            Ok(serde_json::Value::Null) => Value::from(Vec::new()),
            Ok(j) => Value::from(vec![Value::from(format!(
                "json: cannot unmarshal {} into Go value of type []interface {{}}",
                json_kind(&j)
            ))]),
            Err(e) => Value::from(vec![Value::from(e.to_string())]),
        })
    });
    m.insert("fromToml", |ex, a| {
        want(&a, 1, "fromToml")?;
        let s = want_str(&a[0])?;
        Ok(match s.parse::<toml::Table>() {
            Ok(t) => toml_value(toml::Value::Table(t), ex.limits().max_value_depth)
                .unwrap_or_else(|e| error_map(&e)),
            // Helm's message comes from another TOML parser: the same map, its own words.
            Err(e) => error_map(&format!("toml: {}", e.message())),
        })
    });
    m.insert("mustToToml", |ex, a| {
        want(&a, 1, "mustToToml")?;
        Ok(Value::from(yaml::to_toml(
            &a[0],
            ex.limits().max_value_depth,
        )?))
    });
    m.insert("toToml", |ex, a| {
        want(&a, 1, "toToml")?;
        Ok(Value::from(
            yaml::to_toml(&a[0], ex.limits().max_value_depth).unwrap_or_else(|e| e),
        ))
    });
}

/// A TOML value as a template value: an integer `int64`, a float `float64`, a date or time
/// its text. Nested no deeper than `depth`.
fn toml_value(v: toml::Value, depth: usize) -> Result<Value, String> {
    let deeper = || {
        depth
            .checked_sub(1)
            .ok_or("toml: nesting deeper than Limits::max_value_depth")
    };
    Ok(match v {
        toml::Value::String(s) => Value::from(s),
        toml::Value::Integer(i) => Value::Int(i),
        toml::Value::Float(f) => Value::Float(f),
        toml::Value::Boolean(b) => Value::Bool(b),
        toml::Value::Datetime(d) => Value::from(d.to_string()),
        toml::Value::Array(a) => {
            let depth = deeper()?;
            Value::from(
                a.into_iter()
                    .map(|e| toml_value(e, depth))
                    .collect::<Result<Vec<_>, _>>()?,
            )
        }
        toml::Value::Table(t) => {
            let depth = deeper()?;
            let mut m = Map::new();
            for (k, e) in t {
                m.insert(k, toml_value(e, depth)?);
            }
            Value::from(m)
        }
    })
}

/// The JSON kind Go's `encoding/json` names in its errors.
fn json_kind(j: &serde_json::Value) -> &'static str {
    match j {
        serde_json::Value::Array(_) => "array",
        serde_json::Value::Object(_) => "object",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::Bool(_) => "bool",
        serde_json::Value::Null => "null",
    }
}

/// Helm's failed `fromYaml`/`fromJson`: a map with the error under `Error`.
fn error_map(e: &str) -> Value {
    let mut m = Map::new();
    m.insert("Error".into(), Value::from(e));
    Value::from(m)
}

/// Go's `encoding/json` text: compact, `<`, `>`, `&` escaped as Go escapes them.
pub(crate) fn go_json(j: &serde_json::Value) -> String {
    let s = serde_json::to_string(j).unwrap_or_default();
    s.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

fn include(ex: &mut dyn Caller, a: Vec<Value>) -> FResult {
    want(&a, 2, "include")?;
    let name = want_str(&a[0])?.to_string();
    Ok(Value::from(ex.include(&name, a[1].clone())?))
}

fn tpl(ex: &mut dyn Caller, a: Vec<Value>) -> FResult {
    want(&a, 2, "tpl")?;
    let text = want_str(&a[0])?.to_string();
    Ok(Value::from(ex.tpl(&text, a[1].clone())?))
}

/// Helm's `strings.TrimSuffix(text, "\n")`: one final newline off, not all of them (a
/// literal block kept with `|+` keeps its own).
fn trim_one_newline(mut text: String) -> String {
    if text.ends_with('\n') {
        text.pop();
    }
    text
}
