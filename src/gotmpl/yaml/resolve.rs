//! Which plain scalars YAML 1.1 (go-yaml v2's resolver) reads as something other than a
//! string: `toYaml` quotes such a string, so that it reads back as the string it was.

/// Whether `s`, written plain, reads back as this string: not a null, bool, number or
/// timestamp to go-yaml v2's resolver, and no base-60 float (which it quotes on the way out
/// though it no longer reads them).
pub(super) fn plain_reads_as_string(s: &str) -> bool {
    resolves_to_string(s) && !base60_float(s)
}

fn resolves_to_string(s: &str) -> bool {
    const WORDS: &[&str] = &[
        "y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON", "n", "N", "no",
        "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF", "~", "null", "Null", "NULL",
        ".nan", ".NaN", ".NAN", ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf",
        "-.Inf", "-.INF",
    ];
    // The resolver looks further only at what its first byte hints at.
    let Some(&first) = s.as_bytes().first() else {
        return false; // the empty string is null
    };
    let hint = match first {
        b'+' | b'-' => b'S',
        b'0'..=b'9' => b'D',
        b'y' | b'Y' | b'n' | b'N' | b't' | b'T' | b'f' | b'F' | b'o' | b'O' | b'~' => b'M',
        b'.' => b'.',
        _ => return true,
    };
    if WORDS.contains(&s) {
        return false;
    }
    match hint {
        b'.' => go_float(s).is_none(),
        b'D' | b'S' => {
            if timestamp(s) {
                return false;
            }
            let plain = s.replace('_', "");
            !(go_int(&plain) || yaml_style_float(&plain) && go_float(&plain).is_some())
        }
        _ => true,
    }
}

/// Go's `strconv.ParseInt(s, 0, 64)` or `ParseUint(s, 0, 64)` accepts it (a sign, then a
/// `0x`, `0o`, `0b` or `0` prefix, or decimal), in range.
fn go_int(s: &str) -> bool {
    let (neg, body) = match s.as_bytes().first() {
        Some(b'+') => (false, &s[1..]),
        Some(b'-') => (true, &s[1..]),
        _ => (false, s),
    };
    if body.is_empty() {
        return false;
    }
    let lower = body.to_ascii_lowercase();
    let (radix, digits) = if body.len() >= 3 && lower.starts_with("0x") {
        (16, &body[2..])
    } else if body.len() >= 3 && lower.starts_with("0o") {
        (8, &body[2..])
    } else if body.len() >= 3 && lower.starts_with("0b") {
        (2, &body[2..])
    } else if let Some(rest) = body.strip_prefix('0') {
        (8, rest)
    } else {
        (10, body)
    };
    if !digits.chars().all(|c| c.is_digit(radix)) {
        return false;
    }
    let Ok(n) = u128::from_str_radix(if digits.is_empty() { "0" } else { digits }, radix) else {
        return false;
    };
    if neg {
        n <= 1 << 63
    } else {
        n <= u128::from(u64::MAX)
    }
}

/// go-yaml's `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`.
fn yaml_style_float(s: &str) -> bool {
    let b = s.trim_start_matches(['+', '-']).as_bytes();
    if b.len() + 1 < s.len() {
        return false; // two signs
    }
    let digits = |from: usize| b[from..].iter().take_while(|c| c.is_ascii_digit()).count();
    let mut i;
    if b.first() == Some(&b'.') {
        let n = digits(1);
        if n == 0 {
            return false;
        }
        i = 1 + n;
    } else {
        let n = digits(0);
        if n == 0 {
            return false;
        }
        i = n;
        if b.get(i) == Some(&b'.') {
            i += 1 + digits(i + 1);
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let n = digits(i);
        if n == 0 {
            return false;
        }
        i += n;
    }
    i == b.len()
}

/// Go's `strconv.ParseFloat(s, 64)` without an error, for the decimal forms the resolver
/// can reach here (its hint keeps out words, and `Inf` and `NaN`): `None` out of range.
fn go_float(s: &str) -> Option<f64> {
    let body = s.trim_start_matches(['+', '-']);
    if body.len() + 1 < s.len() || !yaml_style_float(body) {
        return None;
    }
    s.parse::<f64>().ok().filter(|f| f.is_finite())
}

/// go-yaml's base-60 float, `^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$`.
fn base60_float(s: &str) -> bool {
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    let (whole, frac) = match body.find('.') {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    if frac.is_some_and(|f| !f.bytes().all(|c| c.is_ascii_digit() || c == b'_')) {
        return false;
    }
    let mut parts = whole.split(':');
    let head = parts.next().unwrap_or("");
    if !head.starts_with(|c: char| c.is_ascii_digit())
        || !head.bytes().all(|c| c.is_ascii_digit() || c == b'_')
    {
        return false;
    }
    let mut sixties = 0;
    for p in parts {
        let ok = match p.as_bytes() {
            [d] => d.is_ascii_digit(),
            [t, d] => (b'0'..=b'5').contains(t) && d.is_ascii_digit(),
            _ => false,
        };
        if !ok {
            return false;
        }
        sixties += 1;
    }
    sixties > 0
}

/// go-yaml's timestamps: Go's `time.Parse` with `2006-1-2T15:4:5.999999999Z07:00` (`T` or
/// `t`), `2006-1-2 15:4:5.999999999` and `2006-1-2`.
fn timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 5 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
        return false;
    }
    let year: u32 = s[..4].parse().unwrap_or(0);
    let mut i = 5;
    // Go's getnum: one digit, or two.
    let num = |i: &mut usize| -> Option<u32> {
        let d0 = *b.get(*i).filter(|c| c.is_ascii_digit())?;
        *i += 1;
        let mut n = u32::from(d0 - b'0');
        if let Some(d1) = b.get(*i).filter(|c| c.is_ascii_digit()) {
            n = n * 10 + u32::from(d1 - b'0');
            *i += 1;
        }
        Some(n)
    };
    let lit = |i: &mut usize, c: u8| -> bool {
        let ok = b.get(*i) == Some(&c);
        *i += usize::from(ok);
        ok
    };
    let Some(month) = num(&mut i).filter(|m| (1..=12).contains(m)) else {
        return false;
    };
    if !lit(&mut i, b'-') {
        return false;
    }
    let Some(day) = num(&mut i) else {
        return false;
    };
    let leap = year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400));
    let days = match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    if day < 1 || day > days {
        return false;
    }
    if i == b.len() {
        return true;
    }
    let zoned = match b[i] {
        b'T' | b't' => true,
        b' ' => false,
        _ => return false,
    };
    i += 1;
    let clock = num(&mut i).is_some_and(|h| h < 24)
        && lit(&mut i, b':')
        && num(&mut i).is_some_and(|m| m < 60)
        && lit(&mut i, b':')
        && num(&mut i).is_some_and(|s| s < 60);
    if !clock {
        return false;
    }
    // A fraction: any number of digits after `.` or `,`.
    if matches!(b.get(i), Some(b'.' | b',')) && b.get(i + 1).is_some_and(u8::is_ascii_digit) {
        i += 1;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
    }
    if !zoned {
        return i == b.len();
    }
    match &b[i..] {
        [b'Z'] => true,
        [sign, h1, h2, b':', m1, m2] => {
            matches!(sign, b'+' | b'-')
                && [h1, h2, m1, m2].iter().all(|c| c.is_ascii_digit())
                && (h1 - b'0') * 10 + (h2 - b'0') <= 24
                && (m1 - b'0') * 10 + (m2 - b'0') <= 60
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::plain_reads_as_string;

    #[test]
    fn the_resolver_reads_these_as_other_than_strings() {
        for s in [
            "",
            "~",
            "null",
            "y",
            "N",
            "yes",
            "On",
            "OFF",
            "true",
            "FALSE",
            "0",
            "02",
            "08",
            "-1",
            "+1",
            "1_000",
            "0x1F",
            "0o17",
            "0b101",
            "-0b101",
            "1.5",
            "1.",
            ".5",
            "-.5",
            "+.5",
            "1e3",
            "1E+3",
            "6.02e23",
            ".inf",
            "-.Inf",
            ".NaN",
            "1:30",
            "-1:2:3.5",
            "190:20:30",
            "2001-12-14",
            "2001-1-2",
            "2001-12-14t21:59:43.10-05:00",
            "2001-12-14T21:59:43Z",
            "2001-12-14 21:59:43.10",
            "2000-02-29",
            "18446744073709551615",
            "99999999999999999999",
        ] {
            assert!(!plain_reads_as_string(s), "{s:?} reads as a string");
        }
    }

    #[test]
    fn the_resolver_reads_these_as_strings() {
        for s in [
            "<<",
            "=",
            "abc",
            "Yes please",
            "nan",
            "inf",
            "Infinity",
            "+Inf",
            "0x",
            "0xZ",
            "1.2.3",
            "1e",
            ".",
            "-",
            "+",
            "--",
            "12:60",
            "1:30:",
            "2001-13-01",
            "2001-02-30",
            "2001-02-29",
            "2001-12-14T25:00:00Z",
            "2001-12-14 21:59:43Z",
            "2001-12-14x",
            "1.5e999",
            "v1.2",
            "1,000",
            "0.5.5",
            "2024-01-01T00:00:00+0100",
        ] {
            assert!(plain_reads_as_string(s), "{s:?} does not read as a string");
        }
    }
}
