//! YAML and TOML as Helm's `toYaml`, `fromYaml` and `toToml` write and read them: `toYaml` is
//! `sigs.k8s.io/yaml` (the value through JSON, then go-yaml v2's emitter, `emit.rs`: keys
//! in go-yaml's order, sequences not indented under their key, a string double-quoted when
//! YAML 1.1 would read it as something else (`resolve.rs`), multi-line strings as literal
//! blocks, long lines folded at 80 columns).

mod emit;
mod resolve;

use super::value::{Numbers, Value};

/// `toYaml`: the document with a final newline (Helm trims it).
pub(crate) fn to_yaml(v: &Value, max_depth: usize) -> Result<String, String> {
    to_yaml_indent(v, max_depth, 0)
}

/// `toYamlPretty`: sequences indented under their key (go-yaml v3 with an indent of 2).
pub(crate) fn to_yaml_pretty(v: &Value, max_depth: usize) -> Result<String, String> {
    to_yaml_indent(v, max_depth, 2)
}

fn to_yaml_indent(v: &Value, max_depth: usize, si: usize) -> Result<String, String> {
    const UNSUPPORTED: &str =
        "json: unsupported value, or nesting deeper than Limits::max_value_depth";
    if si == 0 {
        let mut j = v.to_json(max_depth).ok_or(UNSUPPORTED)?;
        through_json(&mut j)?;
        Ok(emit::document(&j, emit::V2))
    } else {
        let j = v.to_json_as(max_depth, true).ok_or(UNSUPPORTED)?;
        Ok(emit::document(&j, emit::V3_INDENT_2))
    }
}

/// What `sigs.k8s.io/yaml` does to a value on its way to the emitter: Go's JSON text of it
/// is read back by go-yaml v2, whose reader refuses the characters YAML may not hold
/// (DEL, the C1 controls but NEL, U+FFFE, U+FFFF: JSON writes them as they are), so the
/// whole `toYaml` fails; and a NEL (U+0085, which JSON does not escape) is a line break to
/// it, folded inside the double-quoted JSON string as YAML folds one: the spaces around
/// it dropped, one break read as a space, more as one newline fewer.
fn through_json(j: &mut serde_json::Value) -> Result<(), String> {
    fn text(s: &str) -> Result<Option<String>, String> {
        if s.chars().any(
            |c| matches!(c, '\u{7f}'..='\u{84}' | '\u{86}'..='\u{9f}' | '\u{fffe}' | '\u{ffff}'),
        ) {
            return Err(
                "error converting JSON to YAML: yaml: control characters are not allowed".into(),
            );
        }
        if !s.contains('\u{85}') {
            return Ok(None);
        }
        let mut out = String::with_capacity(s.len());
        let mut rest = s;
        while let Some(at) = rest.find('\u{85}') {
            out.push_str(rest[..at].trim_end_matches(' '));
            let mut breaks = 0;
            rest = &rest[at..];
            loop {
                let t = rest.trim_start_matches(' ');
                match t.strip_prefix('\u{85}') {
                    Some(after) => {
                        breaks += 1;
                        rest = after;
                    }
                    None => {
                        rest = t;
                        break;
                    }
                }
            }
            if breaks == 1 {
                out.push(' ');
            } else {
                out.extend(std::iter::repeat_n('\n', breaks - 1));
            }
        }
        out.push_str(rest);
        Ok(Some(out))
    }
    match j {
        serde_json::Value::String(s) => {
            if let Some(t) = text(s)? {
                *s = t;
            }
        }
        serde_json::Value::Array(a) => {
            for x in a {
                through_json(x)?;
            }
        }
        serde_json::Value::Object(m) => {
            let old = std::mem::take(m);
            for (k, mut v) in old {
                through_json(&mut v)?;
                m.insert(text(&k)?.unwrap_or(k), v);
            }
        }
        _ => {}
    }
    Ok(())
}

/// `fromYaml`: one document; numbers as `float64`, as Helm reads them through JSON.
///
/// Of several documents, the first, as go-yaml's `Unmarshal` reads it (`include` of a
/// template that holds a second document, `| fromYaml`, as bitnami's checksums take it).
pub(crate) fn from_yaml(s: &str, max_depth: usize) -> Result<Value, String> {
    let j: serde_json::Value = match serde_saphyr::from_multiple::<serde_json::Value>(s) {
        Ok(docs) => docs.into_iter().next().unwrap_or_default(),
        Err(_) => {
            serde_saphyr::from_str(s).map_err(|e| format!("error converting YAML to JSON: {e}"))?
        }
    };
    if depth(&j, 0) > max_depth {
        return Err(format!(
            "YAML nests deeper than {max_depth} (Limits::max_value_depth)"
        ));
    }
    Ok(Value::from_json(&j, Numbers::Float64))
}

fn depth(j: &serde_json::Value, d: usize) -> usize {
    if d > 1_000 {
        return d;
    }
    match j {
        serde_json::Value::Array(a) => a.iter().map(|x| depth(x, d + 1)).max().unwrap_or(d + 1),
        serde_json::Value::Object(o) => o.values().map(|x| depth(x, d + 1)).max().unwrap_or(d + 1),
        _ => d,
    }
}

/// `toToml`: tables and key/value pairs, as BurntSushi/toml writes them.
pub(crate) fn to_toml(v: &Value, max_depth: usize) -> Result<String, String> {
    let j = v.to_json(max_depth).ok_or("toml: unsupported value")?;
    let serde_json::Value::Object(m) = &j else {
        return Err("toml: top-level value must be a map".into());
    };
    let mut out = String::new();
    toml_table(&mut out, m, "");
    Ok(out)
}

fn toml_value(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => serde_json::to_string(s).unwrap_or_default(),
        serde_json::Value::Array(a) => format!(
            "[{}]",
            a.iter().map(toml_value).collect::<Vec<_>>().join(", ")
        ),
        serde_json::Value::Object(o) => format!(
            "{{{}}}",
            o.iter()
                .map(|(k, v)| format!("{k} = {}", toml_value(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        serde_json::Value::Null => "\"\"".into(),
        other => other.to_string(),
    }
}

fn toml_table(out: &mut String, m: &serde_json::Map<String, serde_json::Value>, prefix: &str) {
    let level = if prefix.is_empty() {
        0
    } else {
        prefix.matches('.').count() + 1
    };
    let pad = "  ".repeat(level);
    let mut keys: Vec<&String> = m.keys().collect();
    keys.sort();
    for k in &keys {
        if !m[*k].is_object() {
            out.push_str(&format!("{pad}{k} = {}\n", toml_value(&m[*k])));
        }
    }
    for k in &keys {
        if let serde_json::Value::Object(sub) = &m[*k] {
            let name = if prefix.is_empty() {
                k.to_string()
            } else {
                format!("{prefix}.{k}")
            };
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str(&format!("{pad}[{name}]\n"));
            toml_table(out, sub, &name);
        }
    }
}

#[cfg(test)]
mod tests;
