//! Sprig's date and duration functions. `now` is a fixed clock and a date is its Unix seconds
//! (an integer, as `date` takes one), so output is reproducible; durations are Go's
//! `time.Duration` (nanoseconds), parsed and written as Go's `time` package does.

use super::{to_i64, want, want_str};
use crate::gotmpl::call::{Builtin, FResult, Fail};
use crate::gotmpl::parse::quote_go;
use crate::gotmpl::value::Value;
use std::collections::HashMap;

/// The fixed clock: 2000-01-01T00:00:00Z.
const EPOCH: i64 = 946_684_800;

const SECOND: u64 = 1_000_000_000;

fn date_fmt(layout: &str, t: i64) -> String {
    // Go's reference-time layout, for the fields charts use.
    let dt =
        time::OffsetDateTime::from_unix_timestamp(t).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let reps: [(&str, String); 12] = [
        ("2006", format!("{:04}", dt.year())),
        ("01", format!("{:02}", u8::from(dt.month()))),
        ("02", format!("{:02}", dt.day())),
        ("15", format!("{:02}", dt.hour())),
        ("04", format!("{:02}", dt.minute())),
        ("05", format!("{:02}", dt.second())),
        ("Z07:00", "Z".into()),
        ("-0700", "+0000".into()),
        ("MST", "UTC".into()),
        ("Jan", format!("{:.3}", dt.month().to_string())),
        ("Mon", format!("{:.3}", dt.weekday().to_string())),
        ("06", format!("{:02}", dt.year() % 100)),
    ];
    let mut out = String::new();
    let mut i = 0;
    'outer: while i < layout.len() {
        for (k, v) in &reps {
            if layout[i..].starts_with(k) {
                out.push_str(v);
                i += k.len();
                continue 'outer;
            }
        }
        let c = layout[i..].chars().next().unwrap_or(' ');
        out.push(c);
        i += c.len_utf8();
    }
    out
}

/// Go's `time.ParseDuration`: `[-+]?([0-9]*(\.[0-9]*)?[a-z]+)+`, in nanoseconds.
pub(crate) fn parse_duration(orig: &str) -> Result<i64, String> {
    let invalid = || format!("time: invalid duration {}", quote_go(orig));
    let mut s = orig.as_bytes();
    let mut neg = false;
    if let Some(&c) = s.first()
        && (c == b'-' || c == b'+')
    {
        neg = c == b'-';
        s = &s[1..];
    }
    if s == b"0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(invalid());
    }
    const LIMIT: u64 = 1 << 63;
    let mut d: u64 = 0;
    while !s.is_empty() {
        if !(s[0] == b'.' || s[0].is_ascii_digit()) {
            return Err(invalid());
        }
        // The integer part; an overflow is an invalid duration.
        let mut v: u64 = 0;
        let mut i = 0;
        while i < s.len() && s[i].is_ascii_digit() {
            if v > LIMIT / 10 {
                return Err(invalid());
            }
            v = v * 10 + u64::from(s[i] - b'0');
            if v > LIMIT {
                return Err(invalid());
            }
            i += 1;
        }
        let pre = i > 0;
        s = &s[i..];
        // The fraction: digits past what fits are ignored.
        let (mut f, mut scale, mut post) = (0u64, 1f64, false);
        if s.first() == Some(&b'.') {
            s = &s[1..];
            let mut i = 0;
            let mut overflow = false;
            while i < s.len() && s[i].is_ascii_digit() {
                if !overflow {
                    if f > LIMIT / 10 {
                        overflow = true;
                    } else {
                        let y = f * 10 + u64::from(s[i] - b'0');
                        if y > LIMIT {
                            overflow = true;
                        } else {
                            f = y;
                            scale *= 10.0;
                        }
                    }
                }
                i += 1;
            }
            post = i > 0;
            s = &s[i..];
        }
        if !pre && !post {
            return Err(invalid());
        }
        let i = s
            .iter()
            .position(|c| *c == b'.' || c.is_ascii_digit())
            .unwrap_or(s.len());
        if i == 0 {
            return Err(format!("time: missing unit in duration {}", quote_go(orig)));
        }
        let u = String::from_utf8_lossy(&s[..i]).into_owned();
        s = &s[i..];
        let unit: u64 = match u.as_str() {
            "ns" => 1,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
            "ms" => 1_000_000,
            "s" => SECOND,
            "m" => 60 * SECOND,
            "h" => 3600 * SECOND,
            _ => {
                return Err(format!(
                    "time: unknown unit {} in duration {}",
                    quote_go(&u),
                    quote_go(orig)
                ));
            }
        };
        if v > LIMIT / unit {
            return Err(invalid());
        }
        v *= unit;
        if f > 0 {
            v += (f as f64 * (unit as f64 / scale)) as u64;
            if v > LIMIT {
                return Err(invalid());
            }
        }
        d += v;
        if d > LIMIT {
            return Err(invalid());
        }
    }
    if neg {
        return Ok((d as i64).wrapping_neg());
    }
    if d > LIMIT - 1 {
        return Err(invalid());
    }
    Ok(d as i64)
}

/// The fraction of `v` with `prec` digits, trailing zeros dropped (Go's `fmtFrac`), and `v`
/// without them.
fn frac(v: u64, prec: u32) -> (String, u64) {
    let f = v % 10u64.pow(prec);
    if f == 0 {
        return (String::new(), v / 10u64.pow(prec));
    }
    let digits = format!("{f:0width$}", width = prec as usize);
    (
        format!(".{}", digits.trim_end_matches('0')),
        v / 10u64.pow(prec),
    )
}

/// Go's `time.Duration.String`: "1h1m1s", "1.5s", "2ms", "0s".
pub(crate) fn duration_string(d: i64) -> String {
    let neg = d < 0;
    let u = d.unsigned_abs();
    let body = if u == 0 {
        return "0s".into();
    } else if u < SECOND {
        let (prec, unit) = if u < 1_000 {
            (0, "ns")
        } else if u < 1_000_000 {
            (3, "\u{b5}s")
        } else {
            (6, "ms")
        };
        let (f, v) = if prec == 0 {
            (String::new(), u)
        } else {
            frac(u, prec)
        };
        format!("{v}{f}{unit}")
    } else {
        let (f, v) = frac(u, 9);
        let mut out = format!("{}{f}s", v % 60);
        let m = v / 60;
        if m > 0 {
            out = format!("{}m{out}", m % 60);
            let h = m / 60;
            if h > 0 {
                out = format!("{h}h{out}");
            }
        }
        out
    };
    if neg { format!("-{body}") } else { body }
}

/// Sprig's `durationRound`: the largest whole unit (y of 365 days, mo of 30, d, h, m, s).
fn duration_round(d: i64) -> String {
    let u = d.unsigned_abs();
    let hour = 3600 * SECOND;
    let units = [
        (hour * 24 * 365, "y"),
        (hour * 24 * 30, "mo"),
        (hour * 24, "d"),
        (hour, "h"),
        (60 * SECOND, "m"),
        (SECOND, "s"),
    ];
    for (size, name) in units {
        if u > size {
            return format!("{}{name}", u / size);
        }
    }
    "0s".into()
}

/// A date moved by a Go duration, kept in whole seconds as dates are here.
fn modify(a: &[Value], name: &str) -> Result<(i64, Result<i64, String>), Fail> {
    want(a, 2, name)?;
    let date = to_i64(&a[1]);
    let moved = parse_duration(want_str(&a[0])?)
        .map(|ns| date.saturating_add(ns.div_euclid(SECOND as i64)));
    Ok((date, moved))
}

fn to_date(a: &[Value], name: &str) -> FResult {
    want(a, 2, name)?;
    want_str(&a[0])?;
    want_str(&a[1])?;
    Ok(Value::Int(EPOCH))
}

pub(super) fn add(m: &mut HashMap<&'static str, Builtin>) {
    m.insert("now", |_, _| Ok(Value::Int(EPOCH)));
    m.insert("unixEpoch", |_, a| {
        want(&a, 1, "unixEpoch")?;
        Ok(Value::from(to_i64(&a[0]).to_string()))
    });
    m.insert("date", |_, a| {
        want(&a, 2, "date")?;
        Ok(Value::from(date_fmt(want_str(&a[0])?, to_i64(&a[1]))))
    });
    m.insert("dateInZone", |_, a| {
        want(&a, 3, "dateInZone")?;
        Ok(Value::from(date_fmt(want_str(&a[0])?, to_i64(&a[1]))))
    });
    m.insert("htmlDate", |_, a| {
        want(&a, 1, "htmlDate")?;
        Ok(Value::from(date_fmt("2006-01-02", to_i64(&a[0]))))
    });
    m.insert("toDate", |_, a| {
        want(&a, 2, "toDate")?;
        Ok(Value::Int(EPOCH))
    });
    m.insert("ago", |_, _| Ok(Value::from("0s")));
    m.insert("date_in_zone", |_, a| {
        want(&a, 3, "date_in_zone")?;
        Ok(Value::from(date_fmt(want_str(&a[0])?, to_i64(&a[1]))))
    });
    m.insert("htmlDateInZone", |_, a| {
        want(&a, 2, "htmlDateInZone")?;
        Ok(Value::from(date_fmt("2006-01-02", to_i64(&a[0]))))
    });
    m.insert("mustToDate", |_, a| to_date(&a, "mustToDate"));
    for name in ["dateModify", "date_modify"] {
        m.insert(name, |_, a| {
            let (date, moved) = modify(&a, "dateModify")?;
            Ok(Value::Int(moved.unwrap_or(date)))
        });
    }
    for name in ["mustDateModify", "must_date_modify"] {
        m.insert(name, |_, a| {
            Ok(Value::Int(modify(&a, "mustDateModify")?.1?))
        });
    }
    m.insert("duration", |_, a| {
        want(&a, 1, "duration")?;
        let n = match &a[0] {
            Value::String(s) => s.parse::<i64>().unwrap_or(0),
            Value::Int(i) => *i,
            _ => 0,
        };
        Ok(Value::from(duration_string(n.wrapping_mul(SECOND as i64))))
    });
    m.insert("durationRound", |_, a| {
        want(&a, 1, "durationRound")?;
        let d = match &a[0] {
            Value::String(s) => parse_duration(s).unwrap_or(0),
            Value::Int(i) => *i,
            _ => 0,
        };
        Ok(Value::from(duration_round(d)))
    });
}
