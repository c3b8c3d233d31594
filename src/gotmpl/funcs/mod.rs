//! The functions templates call: Go's builtins (here), Sprig's (`strings.rs`, `lists.rs`,
//! `dicts.rs`, `math.rs`, `misc.rs`, `dates.rs`) and Helm's (`helm.rs`).

pub(crate) mod dates;
mod dicts;
mod helm;
mod lists;
mod math;
mod misc;
mod strings;

use super::call::{Builtin, Caller, FResult, Fail};
use super::printf;
use super::value::Value;
use std::cmp::Ordering;
use std::collections::HashMap;

/// Go's builtins only.
pub(crate) fn go_builtins() -> HashMap<&'static str, Builtin> {
    let mut m: HashMap<&'static str, Builtin> = HashMap::new();
    m.insert("and", |_, _| Ok(Value::Nil));
    m.insert("or", |_, _| Ok(Value::Nil));
    m.insert("not", |_, a| {
        want(&a, 1, "not")?;
        Ok(Value::Bool(!a[0].truthy()))
    });
    m.insert("len", |_, a| {
        want(&a, 1, "len")?;
        Ok(Value::Int(match &a[0] {
            Value::String(s) => s.len(),
            Value::List(l) => l.len(),
            Value::Bytes(b) => b.len(),
            Value::Map(m) => m.try_borrow().map(|m| m.len()).unwrap_or(0),
            Value::Object(o) if let Some(entries) = o.entries() => entries.len(),
            Value::Object(o) if let Some(l) = o.list() => l.len(),
            Value::Nil => return Err("len of nil pointer".into()),
            v => return Err(format!("len of type {}", v.type_name()).into()),
        } as i64))
    });
    m.insert("index", index);
    m.insert("slice", slice);
    m.insert("print", |_, a| Ok(Value::from(printf::sprint(&a))));
    m.insert("println", |_, a| Ok(Value::from(printf::sprintln(&a))));
    m.insert("printf", |_, a| {
        if a.is_empty() {
            return Err("wrong number of args for printf: want at least 1 got 0".into());
        }
        let f = want_str(&a[0])?;
        Ok(Value::from(printf::sprintf(f, &a[1..])))
    });
    m.insert("html", |_, a| Ok(Value::from(html_escape(&eval_args(&a)))));
    m.insert("js", |_, a| Ok(Value::from(js_escape(&eval_args(&a)))));
    m.insert("urlquery", |_, a| {
        Ok(Value::from(misc::url_escape(
            &eval_args(&a),
            misc::Enc::QueryComponent,
        )))
    });
    m.insert("call", |_, a| match a.first() {
        None => Err("wrong number of args for call: want at least 1 got 0".into()),
        Some(Value::Nil) => Err("call of nil".into()),
        Some(v) => Err(format!("non-function of type {}", v.type_name()).into()),
    });
    m.insert("eq", |_, a| {
        if a.is_empty() {
            return Err("wrong number of args for eq: want at least 1 got 0".into());
        }
        Ok(Value::Bool(eq(&a[0], &a[1..])?))
    });
    m.insert("ne", |_, a| {
        want(&a, 2, "ne")?;
        Ok(Value::Bool(!eq(&a[0], &a[1..])?))
    });
    m.insert("lt", |_, a| {
        want(&a, 2, "lt")?;
        Ok(Value::Bool(lt(&a[0], &a[1])?))
    });
    m.insert("le", |_, a| {
        want(&a, 2, "le")?;
        Ok(Value::Bool(lt(&a[0], &a[1])? || eq(&a[0], &a[1..])?))
    });
    m.insert("gt", |_, a| {
        want(&a, 2, "gt")?;
        Ok(Value::Bool(!(lt(&a[0], &a[1])? || eq(&a[0], &a[1..])?)))
    });
    m.insert("ge", |_, a| {
        want(&a, 2, "ge")?;
        Ok(Value::Bool(!lt(&a[0], &a[1])?))
    });
    m
}

/// Go's builtins, Sprig's and Helm's functions.
pub(crate) fn all() -> HashMap<&'static str, Builtin> {
    let mut m = go_builtins();
    strings::add(&mut m);
    lists::add(&mut m);
    dicts::add(&mut m);
    math::add(&mut m);
    misc::add(&mut m);
    dates::add(&mut m);
    helm::add(&mut m);
    m
}

/// Refuses a call with the wrong number of arguments.
pub(crate) fn want(a: &[Value], n: usize, name: &str) -> Result<(), Fail> {
    if a.len() != n {
        return Err(format!("wrong number of args for {name}: want {n} got {}", a.len()).into());
    }
    Ok(())
}

/// A `string` parameter (Go refuses any other type).
pub(crate) fn want_str(v: &Value) -> Result<&str, Fail> {
    match v {
        Value::String(s) => Ok(s),
        Value::Nil => Err("invalid value; expected string".into()),
        v => Err(format!(
            "wrong type for value; expected string; got {}",
            v.type_name()
        )
        .into()),
    }
}

/// An `int` parameter (Go refuses a float64).
pub(crate) fn want_int(v: &Value) -> Result<i64, Fail> {
    match v {
        Value::Int(i) => Ok(*i),
        Value::Nil => Err("invalid value; expected int".into()),
        v => Err(format!("wrong type for value; expected int; got {}", v.type_name()).into()),
    }
}

/// Go's `evalArgs` for `html`, `js`, `urlquery`: one string as is, else `fmt.Sprint`.
fn eval_args(a: &[Value]) -> String {
    if let [Value::String(s)] = a {
        return s.to_string();
    }
    printf::sprint(a)
}

fn html_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => o.push_str("&#34;"),
            '\'' => o.push_str("&#39;"),
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '\0' => o.push('\u{FFFD}'),
            c => o.push(c),
        }
    }
    o
}

fn js_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => o.push_str("\\\\"),
            '\'' => o.push_str("\\'"),
            '"' => o.push_str("\\\""),
            '<' => o.push_str("\\u003C"),
            '>' => o.push_str("\\u003E"),
            '&' => o.push_str("\\u0026"),
            '=' => o.push_str("\\u003D"),
            '\n' => o.push_str("\\n"),
            '\r' => o.push_str("\\r"),
            '\t' => o.push_str("\\t"),
            c if (c as u32) < 0x20 => o.push_str(&format!("\\u{:04X}", c as u32)),
            c => o.push(c),
        }
    }
    o
}

fn index(_: &mut dyn Caller, a: Vec<Value>) -> FResult {
    let Some(mut item) = a.first().cloned() else {
        return Err("wrong number of args for index: want at least 1 got 0".into());
    };
    for ix in &a[1..] {
        item = match &item {
            l if let Some(l) = l.listed() => {
                let i = index_arg(ix, l.len())?;
                l[i].clone()
            }
            Value::Bytes(b) => Value::Int(i64::from(b[index_arg(ix, b.len())?])),
            Value::String(s) => Value::Int(i64::from(s.as_bytes()[index_arg(ix, s.len())?])),
            Value::Map(m) => {
                let k = match ix {
                    Value::String(k) => k.to_string(),
                    Value::Nil => return Err("value is nil; should be of type string".into()),
                    v => {
                        return Err(
                            format!("value has type {}; should be string", v.type_name()).into(),
                        );
                    }
                };
                m.try_borrow()
                    .map_err(|_| "map is being changed")?
                    .get(&k)
                    .cloned()
                    .unwrap_or(Value::Nil)
            }
            Value::Object(o) if let Some(entries) = o.entries() => {
                let Value::String(k) = ix else {
                    return Err(
                        format!("value has type {}; should be string", ix.type_name()).into(),
                    );
                };
                entries
                    .into_iter()
                    .find(|(key, _)| key.as_str() == &**k)
                    .map_or_else(|| o.missing(), |(_, v)| v)
            }
            Value::Nil => return Err("index of untyped nil".into()),
            v => return Err(format!("can't index item of type {}", v.type_name()).into()),
        };
    }
    Ok(item)
}

fn index_arg(ix: &Value, len: usize) -> Result<usize, Fail> {
    let i = match ix {
        Value::Int(i) => *i,
        Value::Nil => return Err("cannot index slice/array with nil".into()),
        v => return Err(format!("cannot index slice/array with type {}", v.type_name()).into()),
    };
    if i < 0 || i as usize >= len {
        return Err(format!("index out of range: {i}").into());
    }
    Ok(i as usize)
}

fn slice(_: &mut dyn Caller, a: Vec<Value>) -> FResult {
    let Some(item) = a.first() else {
        return Err("wrong number of args for slice: want at least 1 got 0".into());
    };
    let idx = &a[1..];
    if idx.len() > 3 {
        return Err(format!("too many slice indexes: {}", idx.len()).into());
    }
    let (len, cap) = match item {
        Value::String(s) => {
            if idx.len() == 3 {
                return Err("cannot 3-index slice a string".into());
            }
            (s.len(), s.len())
        }
        l if let Some(l) = l.listed() => (l.len(), l.len()),
        Value::Nil => return Err("slice of untyped nil".into()),
        v => return Err(format!("can't slice item of type {}", v.type_name()).into()),
    };
    let mut ix = [0usize, len, cap];
    for (k, v) in idx.iter().enumerate() {
        let i = match v {
            Value::Int(i) => *i,
            v => {
                return Err(format!("cannot index slice/array with type {}", v.type_name()).into());
            }
        };
        if i < 0 || i as usize > cap {
            return Err(format!("index out of range: {i}").into());
        }
        ix[k] = i as usize;
    }
    if ix[0] > ix[1] {
        return Err(format!("invalid slice index: {} > {}", ix[0], ix[1]).into());
    }
    if idx.len() == 3 && ix[1] > ix[2] {
        return Err(format!("invalid slice index: {} > {}", ix[1], ix[2]).into());
    }
    Ok(match item {
        Value::String(s) => {
            Value::from(String::from_utf8_lossy(&s.as_bytes()[ix[0]..ix[1]]).into_owned())
        }
        l if let Some(l) = l.listed() => Value::from(l[ix[0]..ix[1]].to_vec()),
        _ => Value::Nil,
    })
}

#[derive(PartialEq, Clone, Copy)]
enum Kind {
    Invalid,
    Bool,
    Int,
    Float,
    String,
}

fn kind(v: &Value) -> Kind {
    match v {
        Value::Bool(_) => Kind::Bool,
        Value::Int(_) => Kind::Int,
        Value::Float(_) => Kind::Float,
        Value::String(_) => Kind::String,
        _ => Kind::Invalid,
    }
}

fn comparable(v: &Value) -> bool {
    !matches!(v, Value::List(_) | Value::Map(_) | Value::Bytes(_)) && v.listed().is_none()
}

/// Go's `eq arg1 arg2...`: true when arg1 equals any of the others.
pub(crate) fn eq(a1: &Value, rest: &[Value]) -> Result<bool, Fail> {
    if !matches!(a1, Value::Nil) && !comparable(a1) {
        return Err(format!("uncomparable type {}: {}", a1.type_name(), a1.to_text()).into());
    }
    if rest.is_empty() {
        return Err("missing argument for comparison".into());
    }
    let k1 = kind(a1);
    for a in rest {
        let k2 = kind(a);
        let truth = if k1 != k2 {
            if !matches!(a1, Value::Nil) && !matches!(a, Value::Nil) {
                return Err("incompatible types for comparison".into());
            }
            false
        } else {
            match (a1, a) {
                (Value::Bool(x), Value::Bool(y)) => x == y,
                (Value::Int(x), Value::Int(y)) => x == y,
                (Value::Float(x), Value::Float(y)) => x == y,
                (Value::String(x), Value::String(y)) => x == y,
                _ => {
                    let n1 = matches!(a1, Value::Nil);
                    let n2 = matches!(a, Value::Nil);
                    if n1 || n2 {
                        n1 == n2
                    } else if !comparable(a) {
                        return Err(format!(
                            "uncomparable type {}: {}",
                            a.type_name(),
                            a.to_text()
                        )
                        .into());
                    } else {
                        match (a1, a) {
                            (Value::Object(x), Value::Object(y)) => std::rc::Rc::ptr_eq(x, y),
                            _ => false,
                        }
                    }
                }
            }
        };
        if truth {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Go's `lt`.
pub(crate) fn lt(a: &Value, b: &Value) -> Result<bool, Fail> {
    let (k1, k2) = (kind(a), kind(b));
    if k1 == Kind::Invalid || k2 == Kind::Invalid {
        return Err("invalid type for comparison".into());
    }
    if k1 != k2 {
        return Err("incompatible types for comparison".into());
    }
    Ok(match (a, b) {
        (Value::Int(x), Value::Int(y)) => x < y,
        (Value::Float(x), Value::Float(y)) => x.partial_cmp(y) == Some(Ordering::Less),
        (Value::String(x), Value::String(y)) => x < y,
        _ => return Err("invalid type for comparison".into()),
    })
}

/// Sprig's `strval`: a string as is, anything else as `fmt.Sprint` writes it.
pub(crate) fn strval(v: &Value) -> String {
    match v {
        Value::String(s) => s.to_string(),
        Value::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
        v => v.to_text(),
    }
}

/// `cast.ToInt64` as Sprig uses it: numbers truncated, strings parsed, anything else 0.
pub(crate) fn to_i64(v: &Value) -> i64 {
    match v {
        Value::Int(i) => *i,
        Value::Float(f) => *f as i64,
        Value::Bool(b) => i64::from(*b),
        Value::String(s) => s.trim().parse::<i64>().unwrap_or(0),
        _ => 0,
    }
}

/// `cast.ToFloat64`.
pub(crate) fn to_f64(v: &Value) -> f64 {
    match v {
        Value::Int(i) => *i as f64,
        Value::Float(f) => *f,
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::String(s) => s.trim().parse::<f64>().unwrap_or(0.0),
        _ => 0.0,
    }
}
