//! Go's `fmt` for template values: `Sprint`, `Sprintln`, `Sprintf` with its verbs, flags,
//! width and precision (a float's digits from `float`: `%v` of a `float64` is `%g`
//! shortest, with an exponent from 1e+06 up, as Helm prints large numbers of values files).

use super::float::{format_e, format_float_g, special};
use super::parse::quote_go;
use super::value::Value;

/// Go's `fmt.Sprint`: operands joined, with a space between two that are not strings.
pub(crate) fn sprint(args: &[Value]) -> String {
    let mut s = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 && !matches!(a, Value::String(_)) && !matches!(args[i - 1], Value::String(_)) {
            s.push(' ');
        }
        s.push_str(&a.to_text());
    }
    s
}

/// Go's `fmt.Sprintln`.
pub(crate) fn sprintln(args: &[Value]) -> String {
    let parts: Vec<String> = args.iter().map(|a| a.to_text()).collect();
    let mut s = parts.join(" ");
    s.push('\n');
    s
}

#[derive(Default, Clone, Copy)]
struct Spec {
    minus: bool,
    plus: bool,
    sharp: bool,
    zero: bool,
    space: bool,
    width: Option<usize>,
    prec: Option<usize>,
}

fn pad(s: String, sp: &Spec, numeric: bool) -> String {
    let Some(w) = sp.width else { return s };
    let n = s.chars().count();
    if n >= w {
        return s;
    }
    let fill = w - n;
    if sp.minus {
        format!("{s}{}", " ".repeat(fill))
    } else if sp.zero && numeric {
        let (sign, rest) = match s.strip_prefix(['-', '+']) {
            Some(r) => (&s[..1], r),
            None => ("", s.as_str()),
        };
        format!("{sign}{}{rest}", "0".repeat(fill))
    } else {
        format!("{}{s}", " ".repeat(fill))
    }
}

fn bad(verb: char, v: &Value) -> String {
    match v {
        Value::Nil => format!("%!{verb}(<nil>)"),
        v => format!("%!{verb}({}={})", v.type_name(), v.to_text()),
    }
}

fn int_fmt(i: i64, verb: char, sp: &Spec) -> String {
    let neg = i < 0;
    let u = i.unsigned_abs();
    let mut body = match verb {
        'd' | 'v' => u.to_string(),
        'x' => format!("{u:x}"),
        'X' => format!("{u:X}"),
        'o' | 'O' => format!("{u:o}"),
        'b' => format!("{u:b}"),
        _ => u.to_string(),
    };
    if let Some(p) = sp.prec {
        if body.len() < p {
            body = format!("{}{body}", "0".repeat(p - body.len()));
        }
        if p == 0 && u == 0 {
            body.clear();
        }
    }
    if sp.sharp {
        match verb {
            'x' => body = format!("0x{body}"),
            'X' => body = format!("0X{body}"),
            'o' if !body.starts_with('0') => body = format!("0{body}"),
            'b' => body = format!("0b{body}"),
            _ => {}
        }
    }
    if verb == 'O' {
        body = format!("0o{body}");
    }
    let sign = if neg {
        "-"
    } else if sp.plus {
        "+"
    } else if sp.space {
        " "
    } else {
        ""
    };
    format!("{sign}{body}")
}

fn float_fmt(f: f64, verb: char, sp: &Spec) -> String {
    let prec = sp.prec.map(|p| p as i32);
    let mut s = match verb {
        'f' | 'F' => match special(f) {
            Some(s) => s,
            None => format!("{:.*}", prec.unwrap_or(6) as usize, f),
        },
        'e' | 'E' => format_e(f, prec.unwrap_or(6), if verb == 'E' { 'E' } else { 'e' }),
        'g' | 'G' | 'v' => {
            format_float_g(f, prec.unwrap_or(-1), if verb == 'G' { 'E' } else { 'e' })
        }
        _ => return bad(verb, &Value::Float(f)),
    };
    if sp.plus && !s.starts_with(['-', '+']) {
        s.insert(0, '+');
    } else if sp.space && !s.starts_with(['-', '+']) {
        s.insert(0, ' ');
    }
    s
}

/// One operand formatted with one verb.
fn format_one(v: &Value, verb: char, sp: &Spec) -> (String, bool) {
    match (verb, v) {
        ('T', v) => (v.type_name(), false),
        ('v', Value::Int(i)) | ('d', Value::Int(i)) => (int_fmt(*i, 'd', sp), true),
        ('x' | 'X' | 'o' | 'O' | 'b', Value::Int(i)) => (int_fmt(*i, verb, sp), true),
        ('c', Value::Int(i)) => (
            char::from_u32(*i as u32).unwrap_or('\u{FFFD}').to_string(),
            false,
        ),
        ('q', Value::Int(i)) => (
            format!("'{}'", char::from_u32(*i as u32).unwrap_or('\u{FFFD}')),
            false,
        ),
        ('U', Value::Int(i)) => (format!("U+{:04X}", i), false),
        ('v' | 'f' | 'F' | 'e' | 'E' | 'g' | 'G', Value::Float(f)) => {
            (float_fmt(*f, verb, sp), true)
        }
        ('x' | 'X', Value::Float(_)) => (bad(verb, v), false),
        ('v' | 't', Value::Bool(b)) => (b.to_string(), false),
        ('v' | 's', Value::String(s)) => {
            let s: String = match sp.prec {
                Some(p) => s.chars().take(p).collect(),
                None => s.to_string(),
            };
            (s, false)
        }
        ('q', Value::String(s)) => {
            if sp.sharp && !s.contains('`') {
                (format!("`{s}`"), false)
            } else {
                (quote_go(s), false)
            }
        }
        ('x' | 'X', Value::String(s)) => {
            let h: String = s
                .bytes()
                .map(|b| {
                    if verb == 'x' {
                        format!("{b:02x}")
                    } else {
                        format!("{b:02X}")
                    }
                })
                .collect();
            (h, false)
        }
        ('s' | 'v', Value::Bytes(b)) if verb == 's' => {
            (String::from_utf8_lossy(b).into_owned(), false)
        }
        ('v', Value::Nil) => ("<nil>".into(), false),
        ('v', other) => (other.to_text(), false),
        (_, Value::List(l)) => {
            let parts: Vec<String> = l.iter().map(|x| format_one(x, verb, sp).0).collect();
            (format!("[{}]", parts.join(" ")), false)
        }
        (_, Value::Map(m)) => {
            let parts: Vec<String> = m
                .try_borrow()
                .map(|m| {
                    m.iter()
                        .map(|(k, x)| {
                            format!(
                                "{}:{}",
                                format_one(&Value::from(k.as_str()), verb, sp).0,
                                format_one(x, verb, sp).0
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            (format!("map[{}]", parts.join(" ")), false)
        }
        (_, v) => (bad(verb, v), false),
    }
}

/// Go's `fmt.Sprintf`.
pub(crate) fn sprintf(format: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut argi = 0;
    let mut it = format.chars().peekable();
    while let Some(c) = it.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut sp = Spec::default();
        while let Some(&f) = it.peek() {
            match f {
                '-' => sp.minus = true,
                '+' => sp.plus = true,
                '#' => sp.sharp = true,
                '0' => sp.zero = !sp.minus,
                ' ' => sp.space = true,
                _ => break,
            }
            it.next();
        }
        // Width: digits or '*'.
        if it.peek() == Some(&'*') {
            it.next();
            if let Some(Value::Int(w)) = args.get(argi) {
                if *w < 0 {
                    sp.minus = true;
                }
                sp.width = Some(w.unsigned_abs() as usize);
            } else {
                out.push_str("%!(BADWIDTH)");
            }
            argi += 1;
        } else {
            let mut w = String::new();
            while let Some(&d) = it.peek().filter(|d| d.is_ascii_digit()) {
                w.push(d);
                it.next();
            }
            if !w.is_empty() {
                sp.width = w.parse().ok().map(|w: usize| w.min(1 << 20));
            }
        }
        if it.peek() == Some(&'.') {
            it.next();
            if it.peek() == Some(&'*') {
                it.next();
                if let Some(Value::Int(p)) = args.get(argi) {
                    sp.prec = if *p < 0 {
                        None
                    } else {
                        Some((*p as usize).min(1 << 20))
                    };
                } else {
                    out.push_str("%!(BADPREC)");
                }
                argi += 1;
            } else {
                let mut p = String::new();
                while let Some(&d) = it.peek().filter(|d| d.is_ascii_digit()) {
                    p.push(d);
                    it.next();
                }
                sp.prec = Some(p.parse::<usize>().unwrap_or(0).min(1 << 20));
            }
        }
        let Some(verb) = it.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.get(argi) else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        argi += 1;
        let (s, numeric) = format_one(arg, verb, &sp);
        out.push_str(&pad(s, &sp, numeric));
    }
    if argi < args.len() {
        out.push_str("%!(EXTRA ");
        let extra: Vec<String> = args[argi..]
            .iter()
            .map(|a| match a {
                Value::Nil => "<nil>".to_string(),
                a => format!("{}={}", a.type_name(), a.to_text()),
            })
            .collect();
        out.push_str(&extra.join(", "));
        out.push(')');
    }
    out
}
