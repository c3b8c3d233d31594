//! The data a template sees: Go's `interface{}` values as Helm has them (maps of strings,
//! slices, strings, `int64` and `float64`, booleans, nil) and objects with methods.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::rc::Rc;

/// A map as templates see it: keys in sorted order (Go ranges over a map by sorted key and
/// prints it that way), shared by reference as a Go map is (`set` changes it for every holder).
pub type Map = BTreeMap<String, Value>;

/// A value: what `.`, a variable, a field or a function's result holds.
///
/// Lists and maps are shared: cloning a `Value` clones a pointer. A map is mutable through
/// every copy (Sprig's `set`, `unset`, `merge` change the map itself, as in Go); a list is
/// not (Sprig's `append` makes a new one).
#[derive(Clone, Default)]
pub enum Value {
    /// Go's nil interface (a YAML `null`, a missing map key under Helm's `missingkey=zero`).
    #[default]
    Nil,
    /// A boolean.
    Bool(bool),
    /// Go's `int` (64 bits): integer constants in templates, `len`, `int`, `atoi`.
    Int(i64),
    /// Go's `float64`: every number Helm reads from YAML or JSON, float constants.
    Float(f64),
    /// A string.
    String(Rc<str>),
    /// A slice (`[]interface{}`).
    List(Rc<Vec<Value>>),
    /// A map (`map[string]interface{}`).
    Map(Rc<RefCell<Map>>),
    /// Bytes (`[]byte`, what `.Files.GetBytes` returns); printed as Go prints a byte slice.
    Bytes(Rc<Vec<u8>>),
    /// An object with fields and methods given by the caller (Helm's `.Files`,
    /// `.Capabilities.APIVersions`).
    Object(Rc<dyn Object>),
}

/// An object with fields and methods, for data Helm gives as Go structs with methods:
/// `{{ .Files.Get "x" }}` calls [`Object::method`] with `"Get"` and the arguments,
/// `{{ .Capabilities.KubeVersion.Version }}` reads [`Object::field`] (or a method without
/// arguments, as Go does).
pub trait Object {
    /// The Go type's name, for `typeOf`, `kindOf` and error messages (`"chartutil.Files"`).
    fn type_name(&self) -> String;
    /// A field or an argument-less value; `None` when there is none of that name.
    fn field(&self, _name: &str) -> Option<Value> {
        None
    }
    /// A method called with its arguments; `None` when there is no method of that name,
    /// `Some(Err(message))` when it fails.
    fn method(&self, _name: &str, _args: &[Value]) -> Option<Result<Value, String>> {
        None
    }
    /// Its entries, key and value, when the Go type is a map (Helm's `chart.Files` is a
    /// `map[string][]byte`): what `range`, `len` and `index` see; `None` when it is not.
    fn entries(&self) -> Option<Vec<(String, Value)>> {
        None
    }
    /// Its items when the Go type is a slice (Helm's `chartutil.VersionSet`, a `[]string`
    /// with a `Has` method): what `range`, `len`, `index`, `slice`, Sprig's list functions,
    /// `kindOf` (`slice`) and `toJson` see; `None` when it is not.
    fn list(&self) -> Option<Rc<Vec<Value>>> {
        None
    }
    /// Go's kind of it when it is neither a map nor a slice (`struct`, `ptr`).
    fn kind(&self) -> &'static str {
        "struct"
    }
    /// How Go's `fmt.Print` writes it handed over as a value (a function's argument:
    /// `quote`, `print`, `toString`).
    fn to_text(&self) -> String {
        format!("{{{}}}", self.type_name())
    }
    /// How `{{ . }}` prints it where the template reached it through a pointer (a field of
    /// `.Capabilities`): Go's text/template then calls a pointer receiver's `String`.
    fn printed(&self) -> String {
        self.to_text()
    }
    /// Go's `encoding/json` of it (`toJson`, `toYaml`): a slice's items (a Go struct's
    /// fields under their `json` tags, where the object says so); `None` when it has no JSON
    /// form here.
    fn to_json(&self, max_depth: usize, floats: bool) -> Option<serde_json::Value> {
        let l = self.list()?;
        l.iter()
            .map(|v| v.to_json_as(max_depth.checked_sub(1)?, floats))
            .collect::<Option<Vec<_>>>()
            .map(serde_json::Value::Array)
    }
    /// What `index` gives for a key a Go map object does not hold: its element type's
    /// zero value (`""` for a `map[string]string`).
    fn missing(&self) -> Value {
        Value::Nil
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::String(s) => write!(f, "{s:?}"),
            other => f.write_str(&other.to_text()),
        }
    }
}

impl PartialEq for Value {
    /// Deep equality as Sprig's `deepEqual` (`reflect.DeepEqual`): types must match.
    fn eq(&self, other: &Value) -> bool {
        deep_equal(self, other, 0)
    }
}

fn deep_equal(a: &Value, b: &Value, depth: usize) -> bool {
    if depth > 200 {
        return false;
    }
    match (a, b) {
        (Value::Nil, Value::Nil) => true,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Int(x), Value::Int(y)) => x == y,
        (Value::Float(x), Value::Float(y)) => x == y,
        (Value::String(x), Value::String(y)) => x == y,
        (Value::Bytes(x), Value::Bytes(y)) => x == y,
        (Value::List(x), Value::List(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y.iter())
                    .all(|(p, q)| deep_equal(p, q, depth + 1))
        }
        (Value::Map(x), Value::Map(y)) => {
            if Rc::ptr_eq(x, y) {
                return true;
            }
            let (Ok(x), Ok(y)) = (x.try_borrow(), y.try_borrow()) else {
                return false;
            };
            x.len() == y.len()
                && x.iter()
                    .zip(y.iter())
                    .all(|((k1, v1), (k2, v2))| k1 == k2 && deep_equal(v1, v2, depth + 1))
        }
        (Value::Object(x), Value::Object(y)) => Rc::ptr_eq(x, y),
        _ => false,
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::String(Rc::from(s))
    }
}
impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::String(Rc::from(s))
    }
}
impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}
impl From<i64> for Value {
    fn from(i: i64) -> Value {
        Value::Int(i)
    }
}
impl From<f64> for Value {
    fn from(f: f64) -> Value {
        Value::Float(f)
    }
}
impl From<Vec<Value>> for Value {
    fn from(v: Vec<Value>) -> Value {
        Value::List(Rc::new(v))
    }
}
impl From<Map> for Value {
    fn from(m: Map) -> Value {
        Value::Map(Rc::new(RefCell::new(m)))
    }
}

/// How numbers of JSON or YAML become values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Numbers {
    /// Every number is a `float64`, as Helm reads values files and as `fromYaml`, `fromJson`
    /// give them (Go's `encoding/json` into `interface{}`).
    Float64,
    /// Integers that fit are `int64`, the rest `float64`.
    IntWhenWhole,
}

impl Value {
    /// A new empty map.
    pub fn new_map() -> Value {
        Value::from(Map::new())
    }

    /// A string value.
    pub fn str(s: &str) -> Value {
        Value::from(s)
    }

    /// The value of a JSON document (keys of objects sorted, as a Go map holds them).
    pub fn from_json(j: &serde_json::Value, numbers: Numbers) -> Value {
        match j {
            serde_json::Value::Null => Value::Nil,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => match (numbers, n.as_i64()) {
                (Numbers::IntWhenWhole, Some(i)) => Value::Int(i),
                _ => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            serde_json::Value::String(s) => Value::from(s.as_str()),
            serde_json::Value::Array(a) => Value::from(
                a.iter()
                    .map(|v| Value::from_json(v, numbers))
                    .collect::<Vec<_>>(),
            ),
            serde_json::Value::Object(o) => Value::from(
                o.iter()
                    .map(|(k, v)| (k.clone(), Value::from_json(v, numbers)))
                    .collect::<Map>(),
            ),
        }
    }

    /// The JSON form (Go's `encoding/json` of the value): `None` when the value holds an
    /// object with no JSON form, a float that is not finite, or nests deeper than `max_depth`.
    pub fn to_json(&self, max_depth: usize) -> Option<serde_json::Value> {
        self.to_json_as(max_depth, false)
    }

    /// [`Value::to_json`], but with `floats` a float stays a JSON float even when it is
    /// integral (`toYamlPretty` hands Go's value to go-yaml v3 with no JSON between, so
    /// `1e6` is written `1e+06`, not `1000000`).
    pub(crate) fn to_json_as(&self, max_depth: usize, floats: bool) -> Option<serde_json::Value> {
        if max_depth == 0 {
            return None;
        }
        Some(match self {
            Value::Nil => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Int(i) => serde_json::Value::from(*i),
            Value::Float(f) => {
                if !floats && f.fract() == 0.0 && f.abs() < 1e15 {
                    serde_json::Value::from(*f as i64)
                } else {
                    serde_json::Value::from(serde_json::Number::from_f64(*f)?)
                }
            }
            Value::String(s) => serde_json::Value::String(s.to_string()),
            Value::Bytes(b) => {
                use base64::Engine as _;
                serde_json::Value::String(base64::engine::general_purpose::STANDARD.encode(&**b))
            }
            Value::List(l) => serde_json::Value::Array(
                l.iter()
                    .map(|v| v.to_json_as(max_depth - 1, floats))
                    .collect::<Option<Vec<_>>>()?,
            ),
            Value::Map(m) => {
                let m = m.try_borrow().ok()?;
                let mut o = serde_json::Map::new();
                for (k, v) in m.iter() {
                    o.insert(k.clone(), v.to_json_as(max_depth - 1, floats)?);
                }
                serde_json::Value::Object(o)
            }
            Value::Object(o) => o.to_json(max_depth, floats)?,
        })
    }

    /// Go's truth of a value (`if`, `with`, `and`, `or`, `not`): false for nil, false, 0,
    /// and empty strings, lists and maps.
    pub fn truthy(&self) -> bool {
        match self {
            Value::Nil => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::String(s) => !s.is_empty(),
            Value::List(l) => !l.is_empty(),
            Value::Bytes(b) => !b.is_empty(),
            Value::Map(m) => m.try_borrow().map(|m| !m.is_empty()).unwrap_or(true),
            Value::Object(o) => match (o.list(), o.entries()) {
                (Some(l), _) => !l.is_empty(),
                (None, Some(e)) => !e.is_empty(),
                (None, None) => true,
            },
        }
    }

    /// The items of a slice: a list's, or those of an object that is a Go slice
    /// ([`Object::list`]).
    pub fn listed(&self) -> Option<Rc<Vec<Value>>> {
        match self {
            Value::List(l) => Some(l.clone()),
            Value::Object(o) => o.list(),
            _ => None,
        }
    }

    /// The string inside, if this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// Go's type name of the value (`typeOf`): `string`, `int`, `float64`, `bool`,
    /// `[]interface {}`, `map[string]interface {}`, `<nil>`.
    pub fn type_name(&self) -> String {
        match self {
            Value::Nil => "<nil>".into(),
            Value::Bool(_) => "bool".into(),
            Value::Int(_) => "int".into(),
            Value::Float(_) => "float64".into(),
            Value::String(_) => "string".into(),
            Value::List(_) => "[]interface {}".into(),
            Value::Map(_) => "map[string]interface {}".into(),
            Value::Bytes(_) => "[]uint8".into(),
            Value::Object(o) => o.type_name(),
        }
    }

    /// Go's kind of the value (`kindOf`): `string`, `int`, `float64`, `bool`, `slice`,
    /// `map`, `struct`, `invalid`.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Value::Nil => "invalid",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float64",
            Value::String(_) => "string",
            Value::List(_) | Value::Bytes(_) => "slice",
            Value::Map(_) => "map",
            Value::Object(o) if o.list().is_some() => "slice",
            Value::Object(o) if o.entries().is_some() => "map",
            Value::Object(o) => o.kind(),
        }
    }

    /// How Go's `fmt.Print` (and `{{ . }}`, `print`, `%v`) writes the value; nil is `<nil>`.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        write_text(&mut s, self, 0);
        s
    }
}

/// Go's `fmt` `%v` of a value into `out`, nesting cut at a fixed depth.
pub(crate) fn write_text(out: &mut String, v: &Value, depth: usize) {
    if depth > 200 {
        out.push_str("...");
        return;
    }
    match v {
        Value::Nil => out.push_str("<nil>"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => out.push_str(&i.to_string()),
        Value::Float(f) => out.push_str(&super::float::format_float_g(*f, -1, 'e')),
        Value::String(s) => out.push_str(s),
        Value::Bytes(b) => {
            out.push('[');
            for (i, x) in b.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                out.push_str(&x.to_string());
            }
            out.push(']');
        }
        Value::List(l) => {
            out.push('[');
            for (i, x) in l.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                write_text(out, x, depth + 1);
            }
            out.push(']');
        }
        Value::Map(m) => {
            out.push_str("map[");
            if let Ok(m) = m.try_borrow() {
                for (i, (k, x)) in m.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    out.push_str(k);
                    out.push(':');
                    write_text(out, x, depth + 1);
                }
            }
            out.push(']');
        }
        Value::Object(o) => out.push_str(&o.to_text()),
    }
}
