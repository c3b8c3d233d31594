//! Sprig's math and conversion functions (numeric.go).

use super::{strval, to_f64, to_i64, want};
use crate::gotmpl::call::{Builtin, Caller, FResult, Fail};
use crate::gotmpl::value::Value;
use std::collections::HashMap;

fn fold(a: &[Value], init: i64, f: fn(i64, i64) -> i64) -> Value {
    Value::Int(a.iter().map(to_i64).fold(init, f))
}

fn foldf(a: &[Value], f: fn(f64, f64) -> f64) -> Value {
    let mut it = a.iter().map(to_f64);
    let first = it.next().unwrap_or(0.0);
    Value::Float(it.fold(first, f))
}

fn two(a: &[Value], name: &str) -> Result<(i64, i64), Fail> {
    want(a, 2, name)?;
    Ok((to_i64(&a[0]), to_i64(&a[1])))
}

pub(super) fn add(m: &mut HashMap<&'static str, Builtin>) {
    m.insert("add", |_, a| Ok(fold(&a, 0, i64::wrapping_add)));
    m.insert("add1", |_, a| {
        want(&a, 1, "add1")?;
        Ok(Value::Int(to_i64(&a[0]).wrapping_add(1)))
    });
    m.insert("sub", |_, a| {
        let (x, y) = two(&a, "sub")?;
        Ok(Value::Int(x.wrapping_sub(y)))
    });
    m.insert("mul", |_, a| Ok(fold(&a, 1, i64::wrapping_mul)));
    m.insert("div", |_, a| {
        let (x, y) = two(&a, "div")?;
        if y == 0 {
            return Err("runtime error: integer divide by zero".into());
        }
        Ok(Value::Int(x.wrapping_div(y)))
    });
    m.insert("mod", |_, a| {
        let (x, y) = two(&a, "mod")?;
        if y == 0 {
            return Err("runtime error: integer divide by zero".into());
        }
        Ok(Value::Int(x.wrapping_rem(y)))
    });
    m.insert("max", |_, a| {
        Ok(fold(
            &a[1.min(a.len())..],
            a.first().map_or(0, to_i64),
            i64::max,
        ))
    });
    m.insert("biggest", |_, a| {
        Ok(fold(
            &a[1.min(a.len())..],
            a.first().map_or(0, to_i64),
            i64::max,
        ))
    });
    m.insert("min", |_, a| {
        Ok(fold(
            &a[1.min(a.len())..],
            a.first().map_or(0, to_i64),
            i64::min,
        ))
    });
    m.insert("addf", |_, a| Ok(foldf(&a, |x, y| x + y)));
    m.insert("add1f", |_, a| {
        want(&a, 1, "add1f")?;
        Ok(Value::Float(to_f64(&a[0]) + 1.0))
    });
    m.insert("subf", |_, a| Ok(foldf(&a, |x, y| x - y)));
    m.insert("mulf", |_, a| Ok(foldf(&a, |x, y| x * y)));
    m.insert("divf", |_, a| Ok(foldf(&a, |x, y| x / y)));
    m.insert("maxf", |_, a| Ok(foldf(&a, f64::max)));
    m.insert("minf", |_, a| Ok(foldf(&a, f64::min)));
    m.insert("floor", |_, a| {
        want(&a, 1, "floor")?;
        Ok(Value::Float(to_f64(&a[0]).floor()))
    });
    m.insert("ceil", |_, a| {
        want(&a, 1, "ceil")?;
        Ok(Value::Float(to_f64(&a[0]).ceil()))
    });
    m.insert("round", round);
    m.insert("int", |_, a| {
        want(&a, 1, "int")?;
        Ok(Value::Int(to_i64(&a[0])))
    });
    m.insert("int64", |_, a| {
        want(&a, 1, "int64")?;
        Ok(Value::Int(to_i64(&a[0])))
    });
    m.insert("float64", |_, a| {
        want(&a, 1, "float64")?;
        Ok(Value::Float(to_f64(&a[0])))
    });
    m.insert("atoi", |_, a| {
        want(&a, 1, "atoi")?;
        Ok(Value::Int(strval(&a[0]).parse::<i64>().unwrap_or(0)))
    });
    m.insert("toDecimal", |_, a| {
        want(&a, 1, "toDecimal")?;
        Ok(Value::Int(
            i64::from_str_radix(&strval(&a[0]), 8).unwrap_or(0),
        ))
    });
}

fn round(_: &mut dyn Caller, a: Vec<Value>) -> FResult {
    if a.len() < 2 || a.len() > 3 {
        return Err(format!(
            "wrong number of args for round: want 2 or 3 got {}",
            a.len()
        )
        .into());
    }
    let x = to_f64(&a[0]);
    let p = to_i64(&a[1]).clamp(-300, 300) as i32;
    let r = a.get(2).map_or(0.5, to_f64);
    let pow = 10f64.powi(p);
    let digit = pow * x;
    let (int, frac) = (digit.trunc(), digit.fract());
    let rounded = if frac >= r { int + 1.0 } else { int };
    Ok(Value::Float(rounded / pow))
}
