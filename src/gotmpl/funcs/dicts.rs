//! Sprig's dict functions (dict.go).

use super::{strval, want, want_str};
use crate::gotmpl::call::{Builtin, Caller, FResult, Fail};
use crate::gotmpl::value::{Map, Value};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

/// A map argument. Nil is Go's nil map, as `text/template` passes an untyped nil to a map
/// parameter: empty to read, a new map to `merge` into (Sprig's merge makes one).
fn dict_arg(v: &Value) -> Result<Rc<RefCell<Map>>, Fail> {
    match v {
        Value::Map(m) => Ok(m.clone()),
        Value::Nil => Ok(Rc::new(RefCell::new(Map::new()))),
        v => Err(format!(
            "wrong type for value; expected map[string]interface {{}}; got {}",
            v.type_name()
        )
        .into()),
    }
}

fn snapshot(m: &Rc<RefCell<Map>>) -> Result<Map, Fail> {
    Ok(m.try_borrow().map_err(|_| "map is being changed")?.clone())
}

/// A deep copy of a value, nesting bounded.
pub(crate) fn deep_copy(v: &Value, depth: usize) -> Result<Value, Fail> {
    if depth == 0 {
        return Err("value nests deeper than Limits::max_value_depth".into());
    }
    Ok(match v {
        Value::List(l) => Value::from(
            l.iter()
                .map(|x| deep_copy(x, depth - 1))
                .collect::<Result<Vec<_>, _>>()?,
        ),
        Value::Map(m) => {
            let s = snapshot(m)?;
            let mut o = Map::new();
            for (k, x) in s {
                o.insert(k, deep_copy(&x, depth - 1)?);
            }
            Value::from(o)
        }
        v => v.clone(),
    })
}

/// mergo's merge of `src` into `dst`: keys `dst` lacks (or, with `overwrite`, every key
/// whose value in `src` is not empty) taken from `src`, maps merged deeply.
fn merge_into(dst: &mut Map, src: &Map, overwrite: bool, depth: usize) -> Result<(), Fail> {
    if depth == 0 {
        return Err("value nests deeper than Limits::max_value_depth".into());
    }
    for (k, sv) in src {
        match dst.get_mut(k) {
            None => {
                dst.insert(k.clone(), sv.clone());
            }
            Some(dv) => {
                if let (Value::Map(dm), Value::Map(sm)) = (&*dv, sv) {
                    if Rc::ptr_eq(dm, sm) {
                        continue;
                    }
                    let s = snapshot(sm)?;
                    let mut d = dm.try_borrow_mut().map_err(|_| "map is being changed")?;
                    merge_into(&mut d, &s, overwrite, depth - 1)?;
                } else if !dv.truthy() || (overwrite && sv.truthy()) {
                    *dv = sv.clone();
                }
            }
        }
    }
    Ok(())
}

fn merge(ex: &mut dyn Caller, a: Vec<Value>, overwrite: bool) -> FResult {
    let Some(first) = a.first() else {
        return Err("wrong number of args for merge: want at least 1 got 0".into());
    };
    let dst = dict_arg(first)?;
    for s in &a[1..] {
        let src = snapshot(&dict_arg(s)?)?;
        if Rc::ptr_eq(&dst, &dict_arg(s)?) {
            continue;
        }
        let mut d = dst.try_borrow_mut().map_err(|_| "map is being changed")?;
        merge_into(&mut d, &src, overwrite, ex.limits().max_value_depth)?;
    }
    Ok(Value::Map(dst))
}

pub(super) fn add(m: &mut HashMap<&'static str, Builtin>) {
    m.insert("dict", |_, a| {
        let mut d = Map::new();
        for p in a.chunks(2) {
            // An odd key's value is "" (Sprig's dict).
            d.insert(
                strval(&p[0]),
                p.get(1).cloned().unwrap_or_else(|| Value::from("")),
            );
        }
        Ok(Value::from(d))
    });
    m.insert("get", |_, a| {
        want(&a, 2, "get")?;
        let d = dict_arg(&a[0])?;
        let k = want_str(&a[1])?;
        Ok(d.try_borrow()
            .map_err(|_| "map is being changed")?
            .get(k)
            .cloned()
            .unwrap_or_else(|| Value::from("")))
    });
    m.insert("set", |_, a| {
        want(&a, 3, "set")?;
        if matches!(a[0], Value::Nil) {
            return Err("assignment to entry in nil map".into());
        }
        let d = dict_arg(&a[0])?;
        let k = want_str(&a[1])?.to_string();
        d.try_borrow_mut()
            .map_err(|_| "map is being changed")?
            .insert(k, a[2].clone());
        Ok(Value::Map(d))
    });
    m.insert("unset", |_, a| {
        want(&a, 2, "unset")?;
        let d = dict_arg(&a[0])?;
        let k = want_str(&a[1])?;
        d.try_borrow_mut()
            .map_err(|_| "map is being changed")?
            .remove(k);
        Ok(Value::Map(d))
    });
    m.insert("hasKey", |_, a| {
        want(&a, 2, "hasKey")?;
        let d = dict_arg(&a[0])?;
        let k = want_str(&a[1])?;
        Ok(Value::Bool(
            d.try_borrow()
                .map_err(|_| "map is being changed")?
                .contains_key(k),
        ))
    });
    m.insert("keys", |_, a| {
        let mut out = Vec::new();
        for d in &a {
            out.extend(snapshot(&dict_arg(d)?)?.into_keys().map(Value::from));
        }
        Ok(Value::from(out))
    });
    m.insert("values", |_, a| {
        want(&a, 1, "values")?;
        Ok(Value::from(
            snapshot(&dict_arg(&a[0])?)?
                .into_values()
                .collect::<Vec<_>>(),
        ))
    });
    m.insert("pluck", |_, a| {
        let Some(k) = a.first() else {
            return Err("wrong number of args for pluck".into());
        };
        let k = want_str(k)?;
        let mut out = Vec::new();
        for d in &a[1..] {
            if let Some(v) = snapshot(&dict_arg(d)?)?.get(k) {
                out.push(v.clone());
            }
        }
        Ok(Value::from(out))
    });
    m.insert("pick", |_, a| {
        let Some(d) = a.first() else {
            return Err("wrong number of args for pick".into());
        };
        let s = snapshot(&dict_arg(d)?)?;
        let mut o = Map::new();
        for k in &a[1..] {
            let k = want_str(k)?;
            if let Some(v) = s.get(k) {
                o.insert(k.to_string(), v.clone());
            }
        }
        Ok(Value::from(o))
    });
    m.insert("omit", |_, a| {
        let Some(d) = a.first() else {
            return Err("wrong number of args for omit".into());
        };
        let mut s = snapshot(&dict_arg(d)?)?;
        for k in &a[1..] {
            s.remove(want_str(k)?);
        }
        Ok(Value::from(s))
    });
    m.insert("dig", |_, a| {
        if a.len() < 3 {
            return Err(format!(
                "wrong number of args for dig: want at least 3 got {}",
                a.len()
            )
            .into());
        }
        let n = a.len();
        let mut cur = dict_arg(&a[n - 1])?;
        let keys = &a[..n - 2];
        for (i, k) in keys.iter().enumerate() {
            let k = want_str(k)?;
            let v = cur
                .try_borrow()
                .map_err(|_| "map is being changed")?
                .get(k)
                .cloned();
            match v {
                None => return Ok(a[n - 2].clone()),
                Some(v) if i == keys.len() - 1 => return Ok(v),
                Some(Value::Map(m)) => cur = m,
                Some(_) => {
                    return Err(
                        "interface conversion: interface {} is not map[string]interface {}".into(),
                    );
                }
            }
        }
        Ok(a[n - 2].clone())
    });
    m.insert("merge", |ex, a| merge(ex, a, false));
    m.insert("mustMerge", |ex, a| merge(ex, a, false));
    m.insert("mergeOverwrite", |ex, a| merge(ex, a, true));
    m.insert("mustMergeOverwrite", |ex, a| merge(ex, a, true));
    m.insert("deepCopy", |ex, a| {
        want(&a, 1, "deepCopy")?;
        deep_copy(&a[0], ex.limits().max_value_depth)
    });
    m.insert("mustDeepCopy", |ex, a| {
        want(&a, 1, "mustDeepCopy")?;
        deep_copy(&a[0], ex.limits().max_value_depth)
    });
}
