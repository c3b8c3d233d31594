//! Go's float formats (`strconv.FormatFloat`'s `e`, `f` and `g`, shortest or to a
//! precision, and Go's `+Inf`, `-Inf`, `NaN`): what `%v`, `%g`, `%e` and `%f` of a
//! `float64` print, and how a value's float reads in text and YAML.

/// The digits of `|f|` (no trailing zeros) and the decimal point's place: shortest when
/// `prec` is negative, else rounded to `prec` significant digits.
fn digits(f: f64, prec: i32) -> (Vec<u8>, i32) {
    let a = f.abs();
    if a == 0.0 {
        return (Vec::new(), 0);
    }
    let s = if prec < 0 {
        format!("{a:e}")
    } else {
        format!("{:.*e}", (prec.max(1) - 1) as usize, a)
    };
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let mut d: Vec<u8> = mant.bytes().filter(|c| c.is_ascii_digit()).collect();
    while d.last() == Some(&b'0') {
        d.pop();
    }
    (d, exp + 1)
}

fn fmt_e(neg: bool, d: &[u8], dp: i32, prec: i32, echar: char) -> String {
    let mut s = String::new();
    if neg {
        s.push('-');
    }
    s.push(d.first().map_or('0', |c| *c as char));
    if prec > 0 {
        s.push('.');
        for i in 1..=prec as usize {
            s.push(d.get(i).map_or('0', |c| *c as char));
        }
    }
    let exp = if d.is_empty() { 0 } else { dp - 1 };
    s.push(echar);
    s.push(if exp < 0 { '-' } else { '+' });
    let e = exp.abs();
    if e < 10 {
        s.push('0');
    }
    s.push_str(&e.to_string());
    s
}

fn fmt_f(neg: bool, d: &[u8], dp: i32, prec: i32) -> String {
    let mut s = String::new();
    if neg {
        s.push('-');
    }
    if dp > 0 {
        for i in 0..dp as usize {
            s.push(d.get(i).map_or('0', |c| *c as char));
        }
    } else {
        s.push('0');
    }
    if prec > 0 {
        s.push('.');
        for i in 0..prec {
            let k = dp + i;
            s.push(if k < 0 {
                '0'
            } else {
                d.get(k as usize).map_or('0', |c| *c as char)
            });
        }
    }
    s
}

pub(super) fn special(f: f64) -> Option<String> {
    if f.is_nan() {
        Some("NaN".into())
    } else if f.is_infinite() {
        Some(if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        })
    } else {
        None
    }
}

/// Go's `strconv.FormatFloat(f, 'g', prec, 64)` (`echar` `'e'` or `'E'`).
pub(super) fn format_float_g(f: f64, prec: i32, echar: char) -> String {
    if let Some(s) = special(f) {
        return s;
    }
    let neg = f.is_sign_negative();
    let shortest = prec < 0;
    let p = if prec == 0 { 1 } else { prec };
    let (d, dp) = digits(f, if shortest { -1 } else { p });
    let nd = d.len() as i32;
    let mut eprec = if shortest { nd } else { p };
    if eprec > nd && nd >= dp {
        eprec = nd;
    }
    if shortest {
        eprec = 6;
    }
    let exp = dp - 1;
    if !d.is_empty() && (exp < -4 || exp >= eprec) {
        let pr = if shortest { nd } else { p.min(nd) };
        return fmt_e(neg, &d, dp, pr - 1, echar);
    }
    let pr = if shortest || p > dp { nd } else { p };
    fmt_f(neg, &d, dp, (pr - dp).max(0))
}

/// Go's `%e` with a precision.
pub(super) fn format_e(f: f64, prec: i32, echar: char) -> String {
    if let Some(s) = special(f) {
        return s;
    }
    let (d, dp) = digits(f, prec + 1);
    fmt_e(f.is_sign_negative(), &d, dp, prec, echar)
}
