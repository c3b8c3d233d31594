//! Sprig's list functions (list.go, numeric.go's `until`, `untilStep`, `seq`).

use super::{strval, to_i64, want};
use crate::gotmpl::call::{Builtin, Caller, FResult, Fail};
use crate::gotmpl::value::Value;
use std::collections::HashMap;
use std::rc::Rc;

fn list_arg(v: &Value, name: &str) -> Result<Rc<Vec<Value>>, Fail> {
    match v {
        Value::List(l) => Ok(l.clone()),
        Value::Object(o) if let Some(l) = o.list() => Ok(l),
        Value::Nil => Ok(Rc::new(Vec::new())),
        v => Err(format!("Cannot {name} on type {}", v.type_name()).into()),
    }
}

fn cap(ex: &dyn Caller, n: i64) -> Result<(), Fail> {
    if n > ex.limits().max_range_items as i64 {
        return Err(format!(
            "would make {n} items, more than {} (Limits::max_range_items)",
            ex.limits().max_range_items
        )
        .into());
    }
    Ok(())
}

fn until_step(ex: &dyn Caller, start: i64, stop: i64, step: i64) -> FResult {
    let mut v = Vec::new();
    if step == 0 || (step > 0 && start >= stop) || (step < 0 && start <= stop) {
        return Ok(Value::from(v));
    }
    let n = ((stop as i128 - start as i128) / step as i128).unsigned_abs() + 1;
    cap(ex, n.min(i64::MAX as u128) as i64)?;
    let mut i = start;
    while (step > 0 && i < stop) || (step < 0 && i > stop) {
        v.push(Value::Int(i));
        i = match i.checked_add(step) {
            Some(x) => x,
            None => break,
        };
    }
    Ok(Value::from(v))
}

pub(super) fn add(m: &mut HashMap<&'static str, Builtin>) {
    m.insert("list", |_, a| Ok(Value::from(a)));
    m.insert("tuple", |_, a| Ok(Value::from(a)));
    for name in ["first", "mustFirst"] {
        m.insert(name, |_, a| {
            want(&a, 1, "first")?;
            Ok(list_arg(&a[0], "find first")?
                .first()
                .cloned()
                .unwrap_or_default())
        });
    }
    for name in ["last", "mustLast"] {
        m.insert(name, |_, a| {
            want(&a, 1, "last")?;
            Ok(list_arg(&a[0], "find last")?
                .last()
                .cloned()
                .unwrap_or_default())
        });
    }
    for name in ["rest", "mustRest"] {
        m.insert(name, |_, a| {
            want(&a, 1, "rest")?;
            let l = list_arg(&a[0], "find rest")?;
            Ok(Value::from(l.get(1..).unwrap_or(&[]).to_vec()))
        });
    }
    for name in ["initial", "mustInitial"] {
        m.insert(name, |_, a| {
            want(&a, 1, "initial")?;
            let l = list_arg(&a[0], "find initial")?;
            Ok(Value::from(l[..l.len().saturating_sub(1)].to_vec()))
        });
    }
    for name in ["append", "push", "mustAppend", "mustPush"] {
        m.insert(name, |_, a| {
            want(&a, 2, "append")?;
            let mut l = list_arg(&a[0], "append")?.to_vec();
            l.push(a[1].clone());
            Ok(Value::from(l))
        });
    }
    for name in ["prepend", "mustPrepend"] {
        m.insert(name, |_, a| {
            want(&a, 2, "prepend")?;
            let mut l = vec![a[1].clone()];
            l.extend(list_arg(&a[0], "prepend")?.iter().cloned());
            Ok(Value::from(l))
        });
    }
    for name in ["chunk", "mustChunk"] {
        m.insert(name, |_, a| {
            want(&a, 2, "chunk")?;
            let n = to_i64(&a[0]).max(1) as usize;
            let l = list_arg(&a[1], "chunk")?;
            Ok(Value::from(
                l.chunks(n)
                    .map(|c| Value::from(c.to_vec()))
                    .collect::<Vec<_>>(),
            ))
        });
    }
    m.insert("mustSlice", |_, a| {
        let Some(first) = a.first() else {
            return Err("wrong number of args for slice".into());
        };
        let l = list_arg(first, "slice")?;
        let start = a.get(1).map_or(0, to_i64).clamp(0, l.len() as i64) as usize;
        let end = a
            .get(2)
            .map_or(l.len() as i64, to_i64)
            .clamp(start as i64, l.len() as i64) as usize;
        Ok(Value::from(l[start..end].to_vec()))
    });
    m.insert("concat", |_, a| {
        let mut l = Vec::new();
        for x in &a {
            l.extend(list_arg(x, "concat")?.iter().cloned());
        }
        Ok(Value::from(l))
    });
    for name in ["uniq", "mustUniq"] {
        m.insert(name, |_, a| {
            want(&a, 1, "uniq")?;
            let mut out: Vec<Value> = Vec::new();
            for x in list_arg(&a[0], "uniq")?.iter() {
                if !out.contains(x) {
                    out.push(x.clone());
                }
            }
            Ok(Value::from(out))
        });
    }
    for name in ["has", "mustHas"] {
        m.insert(name, |_, a| {
            want(&a, 2, "has")?;
            Ok(Value::Bool(match &a[1] {
                Value::Nil => false,
                h => list_arg(h, "find has")?.contains(&a[0]),
            }))
        });
    }
    for name in ["without", "mustWithout"] {
        m.insert(name, |_, a| {
            if a.is_empty() {
                return Err("wrong number of args for without: want at least 1 got 0".into());
            }
            let l = list_arg(&a[0], "find without")?;
            Ok(Value::from(
                l.iter()
                    .filter(|x| !a[1..].contains(x))
                    .cloned()
                    .collect::<Vec<_>>(),
            ))
        });
    }
    for name in ["compact", "mustCompact"] {
        m.insert(name, |_, a| {
            want(&a, 1, "compact")?;
            Ok(Value::from(
                list_arg(&a[0], "compact")?
                    .iter()
                    .filter(|x| x.truthy())
                    .cloned()
                    .collect::<Vec<_>>(),
            ))
        });
    }
    for name in ["reverse", "mustReverse"] {
        m.insert(name, |_, a| {
            want(&a, 1, "reverse")?;
            Ok(Value::from(
                list_arg(&a[0], "reverse")?
                    .iter()
                    .rev()
                    .cloned()
                    .collect::<Vec<_>>(),
            ))
        });
    }
    m.insert("sortAlpha", |_, a| {
        want(&a, 1, "sortAlpha")?;
        let mut v: Vec<String> = match &a[0] {
            l if let Some(l) = l.listed() => l.iter().map(strval).collect(),
            v => vec![strval(v)],
        };
        v.sort();
        Ok(Value::from(
            v.into_iter().map(Value::from).collect::<Vec<_>>(),
        ))
    });
    m.insert("until", |ex, a| {
        want(&a, 1, "until")?;
        let n = to_i64(&a[0]);
        until_step(ex, 0, n, if n < 0 { -1 } else { 1 })
    });
    m.insert("untilStep", |ex, a| {
        want(&a, 3, "untilStep")?;
        until_step(ex, to_i64(&a[0]), to_i64(&a[1]), to_i64(&a[2]))
    });
    m.insert("seq", |ex, a| {
        let p: Vec<i64> = a.iter().map(to_i64).collect();
        let (start, end, step) = match p.as_slice() {
            [] => return Ok(Value::from("")),
            [e] => (1, *e, if *e >= 1 { 1 } else { -1 }),
            [s, e] => (*s, *e, if e >= s { 1 } else { -1 }),
            [s, st, e] => {
                if (*st > 0 && s > e) || (*st < 0 && s < e) || *st == 0 {
                    return Ok(Value::from(""));
                }
                (*s, *e, *st)
            }
            _ => return Ok(Value::from("")),
        };
        let stop = if step > 0 {
            end.saturating_add(1)
        } else {
            end.saturating_sub(1)
        };
        let v = until_step(ex, start, stop, step)?;
        let Value::List(l) = v else {
            return Ok(Value::from(""));
        };
        Ok(Value::from(
            l.iter().map(|x| x.to_text()).collect::<Vec<_>>().join(" "),
        ))
    });
}
