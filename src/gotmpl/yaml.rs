//! YAML and TOML as Helm's `toYaml`, `fromYaml` and `toToml` write and read them: `toYaml` is
//! `sigs.k8s.io/yaml` (the value through JSON, then go-yaml v2's emitter: keys sorted,
//! sequences not indented under their key, strings quoted when YAML 1.1 would read them as
//! something else, multi-line strings as literal blocks).

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
    let j = v
        .to_json(max_depth)
        .ok_or("json: unsupported value, or nesting deeper than Limits::max_value_depth")?;
    let mut out = String::new();
    match &j {
        serde_json::Value::Object(m) if m.is_empty() => out.push_str("{}\n"),
        serde_json::Value::Array(a) if a.is_empty() => out.push_str("[]\n"),
        serde_json::Value::Object(_) | serde_json::Value::Array(_) => node(&mut out, &j, 0, si),
        s => {
            out.push_str(&scalar(s, 0));
            out.push('\n');
        }
    }
    Ok(out)
}

fn node(out: &mut String, j: &serde_json::Value, indent: usize, si: usize) {
    let pad = " ".repeat(indent);
    match j {
        serde_json::Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 || !out.ends_with("- ") {
                    out.push_str(&pad);
                }
                out.push_str(&string(k, indent));
                out.push(':');
                value_after_key(out, &m[k], indent, si);
            }
        }
        serde_json::Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                if i > 0 || !out.ends_with("- ") {
                    out.push_str(&pad);
                }
                out.push_str("- ");
                match x {
                    serde_json::Value::Object(m) if !m.is_empty() => node(out, x, indent + 2, si),
                    serde_json::Value::Array(l) if !l.is_empty() => node(out, x, indent + 2, si),
                    s => {
                        out.push_str(&scalar_or_empty(s, indent + 2));
                        out.push('\n');
                    }
                }
            }
        }
        s => {
            out.push_str(&scalar(s, indent));
            out.push('\n');
        }
    }
}

fn value_after_key(out: &mut String, v: &serde_json::Value, indent: usize, si: usize) {
    match v {
        serde_json::Value::Object(m) if !m.is_empty() => {
            out.push('\n');
            node(out, v, indent + 2, si);
        }
        serde_json::Value::Array(a) if !a.is_empty() => {
            out.push('\n');
            node(out, v, indent + si, si);
        }
        s => {
            out.push(' ');
            out.push_str(&scalar_or_empty(s, indent + 2));
            out.push('\n');
        }
    }
}

fn scalar_or_empty(s: &serde_json::Value, indent: usize) -> String {
    match s {
        serde_json::Value::Object(_) => "{}".into(),
        serde_json::Value::Array(_) => "[]".into(),
        s => scalar(s, indent),
    }
}

fn scalar(s: &serde_json::Value, indent: usize) -> String {
    match s {
        serde_json::Value::Null => "null".into(),
        serde_json::Value::Bool(b) => b.to_string(),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => i.to_string(),
            None => {
                let f = n.as_f64().unwrap_or(0.0);
                super::float::format_float_g(f, -1, 'e')
            }
        },
        serde_json::Value::String(s) => string(s, indent),
        _ => String::new(),
    }
}

/// Whether YAML 1.1 reads a plain scalar as something other than this string.
fn resolves_to_other(s: &str) -> bool {
    const WORDS: &[&str] = &[
        "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "true", "True", "TRUE", "false",
        "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF", "null", "Null", "NULL", "~",
        ".inf", ".Inf", ".INF", "-.inf", "-.Inf", "-.INF", "+.inf", ".nan", ".NaN", ".NAN", "<<",
        "=",
    ];
    if WORDS.contains(&s) {
        return true;
    }
    let t = s.replace('_', "");
    let body = t.trim_start_matches(['+', '-']);
    if !body.is_empty()
        && (body.parse::<f64>().is_ok()
            || body.starts_with("0x") && i64::from_str_radix(&body[2..], 16).is_ok()
            || body.starts_with("0b")
            || body.starts_with('.')
                && body[1..].chars().all(|c| c.is_ascii_digit())
                && body.len() > 1)
    {
        return true;
    }
    // Sexagesimal (base 60) numbers: 1:30.
    if s.contains(':')
        && s.split(':')
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit() || c == '.'))
    {
        return true;
    }
    // Timestamps: 2001-12-14 and longer.
    let b = s.as_bytes();
    if b.len() >= 8 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-' {
        return true;
    }
    false
}

fn plain_ok(s: &str) -> bool {
    if s.is_empty() || resolves_to_other(s) {
        return false;
    }
    let first = s.chars().next().unwrap_or(' ');
    if "-?:,[]{}#&*!|>'\"%@`".contains(first) {
        // "-" or "?" or ":" followed by a non-space may start a plain scalar in block context.
        if !("-?:".contains(first) && s.len() > 1 && !s[1..].starts_with(' ')) {
            return false;
        }
    }
    if s.starts_with(' ') || s.ends_with(' ') || s.ends_with(':') {
        return false;
    }
    if s.contains(": ") || s.contains(" #") || s.contains(['\n', '\t', '\r']) {
        return false;
    }
    if s.chars().any(|c| c.is_control() || c == '\u{FEFF}') {
        return false;
    }
    if s.starts_with("---") || s.starts_with("...") {
        return false;
    }
    true
}

fn string(s: &str, indent: usize) -> String {
    if plain_ok(s) {
        return s.to_string();
    }
    if s.contains('\n') && !s.chars().any(|c| c.is_control() && c != '\n') && !s.contains(" \n") {
        let chomp = if s.ends_with("\n\n") {
            "+"
        } else if s.ends_with('\n') {
            ""
        } else {
            "-"
        };
        let ind = if s.starts_with(' ') { "2" } else { "" };
        let pad = " ".repeat(indent.max(2));
        let body = s.strip_suffix('\n').unwrap_or(s);
        let mut out = format!("|{ind}{chomp}");
        for line in body.split('\n') {
            out.push('\n');
            if !line.is_empty() {
                out.push_str(&pad);
                out.push_str(line);
            }
        }
        return out;
    }
    if s.chars().any(|c| c.is_control()) {
        return serde_json::to_string(s).unwrap_or_default();
    }
    format!("'{}'", s.replace('\'', "''"))
}

/// `fromYaml`: one document; numbers as `float64`, as Helm reads them through JSON.
pub(crate) fn from_yaml(s: &str, max_depth: usize) -> Result<Value, String> {
    let j: serde_json::Value =
        serde_saphyr::from_str(s).map_err(|e| format!("error converting YAML to JSON: {e}"))?;
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
