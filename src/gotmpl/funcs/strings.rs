//! Sprig's string functions (strings.go, regex.go, crypto.go's hashes and encodings).

use super::{strval, want, want_int, want_str};
use crate::gotmpl::call::{Builtin, Caller, FResult, Fail};
use crate::gotmpl::parse::quote_go;
use crate::gotmpl::value::{Map, Value};
use std::collections::HashMap;

fn s1(a: &[Value], name: &str) -> Result<String, Fail> {
    want(a, 1, name)?;
    Ok(want_str(&a[0])?.to_string())
}

fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut prev_letter = false;
    for c in s.chars() {
        if !prev_letter && c.is_alphabetic() {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        prev_letter = c.is_alphanumeric() || c == '_' || c == '\'';
    }
    out
}

fn regex(ex: &dyn Caller, re: &str) -> Result<regex::Regex, Fail> {
    regex::RegexBuilder::new(re)
        .size_limit(ex.limits().max_regex_size)
        .dfa_size_limit(ex.limits().max_regex_size)
        .build()
        .map_err(|e| Fail::Msg(format!("error parsing regexp: {e}")))
}

/// Go's `regexp.Expand` template syntax into the `regex` crate's (the same: `$1`, `${name}`).
fn repl(s: &str) -> String {
    s.to_string()
}

fn list_of_strings(v: Vec<String>) -> Value {
    Value::from(v.into_iter().map(Value::from).collect::<Vec<_>>())
}

/// Sprig's `strslice`: a list's items as strings (nil items skipped), or the value alone.
pub(crate) fn strslice(v: &Value) -> Vec<String> {
    match v {
        l if let Some(l) = l.listed() => l
            .iter()
            .filter(|x| !matches!(x, Value::Nil))
            .map(strval)
            .collect(),
        Value::Nil => Vec::new(),
        v => vec![strval(v)],
    }
}

fn size_ok(ex: &dyn Caller, n: usize) -> Result<(), Fail> {
    if n > ex.limits().max_output {
        return Err(format!(
            "would make a string of {n} bytes, more than {} (Limits::max_output)",
            ex.limits().max_output
        )
        .into());
    }
    Ok(())
}

fn indent(ex: &dyn Caller, a: &[Value], newline: bool) -> FResult {
    want(a, 2, if newline { "nindent" } else { "indent" })?;
    let n = want_int(&a[0])?.max(0) as usize;
    let s = want_str(&a[1])?;
    let lines = s.matches('\n').count() + 1;
    size_ok(ex, s.len().saturating_add(n.saturating_mul(lines)))?;
    let pad = " ".repeat(n);
    let mut out = format!("{pad}{}", s.replace('\n', &format!("\n{pad}")));
    if newline {
        out.insert(0, '\n');
    }
    Ok(Value::from(out))
}

pub(super) fn add(m: &mut HashMap<&'static str, Builtin>) {
    m.insert("upper", |_, a| {
        Ok(Value::from(s1(&a, "upper")?.to_uppercase()))
    });
    m.insert("lower", |_, a| {
        Ok(Value::from(s1(&a, "lower")?.to_lowercase()))
    });
    m.insert("title", |_, a| Ok(Value::from(title(&s1(&a, "title")?))));
    m.insert("untitle", |_, a| {
        let s = s1(&a, "untitle")?;
        let mut out = String::new();
        let mut prev = false;
        for c in s.chars() {
            if !prev && c.is_alphabetic() {
                out.extend(c.to_lowercase())
            } else {
                out.push(c)
            }
            prev = !c.is_whitespace();
        }
        Ok(Value::from(out))
    });
    m.insert("trim", |_, a| {
        Ok(Value::from(s1(&a, "trim")?.trim().to_string()))
    });
    m.insert("nospace", |_, a| {
        Ok(Value::from(
            s1(&a, "nospace")?
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect::<String>(),
        ))
    });
    m.insert("trimAll", |_, a| {
        want(&a, 2, "trimAll")?;
        let cut: Vec<char> = want_str(&a[0])?.chars().collect();
        Ok(Value::from(
            want_str(&a[1])?.trim_matches(&cut[..]).to_string(),
        ))
    });
    m.insert("trimall", |_, a| {
        want(&a, 2, "trimall")?;
        let cut: Vec<char> = want_str(&a[0])?.chars().collect();
        Ok(Value::from(
            want_str(&a[1])?.trim_matches(&cut[..]).to_string(),
        ))
    });
    m.insert("trimPrefix", |_, a| {
        want(&a, 2, "trimPrefix")?;
        let (p, s) = (want_str(&a[0])?, want_str(&a[1])?);
        Ok(Value::from(s.strip_prefix(p).unwrap_or(s).to_string()))
    });
    m.insert("trimSuffix", |_, a| {
        want(&a, 2, "trimSuffix")?;
        let (p, s) = (want_str(&a[0])?, want_str(&a[1])?);
        Ok(Value::from(s.strip_suffix(p).unwrap_or(s).to_string()))
    });
    m.insert("contains", |_, a| {
        want(&a, 2, "contains")?;
        Ok(Value::Bool(want_str(&a[1])?.contains(want_str(&a[0])?)))
    });
    m.insert("hasPrefix", |_, a| {
        want(&a, 2, "hasPrefix")?;
        Ok(Value::Bool(want_str(&a[1])?.starts_with(want_str(&a[0])?)))
    });
    m.insert("hasSuffix", |_, a| {
        want(&a, 2, "hasSuffix")?;
        Ok(Value::Bool(want_str(&a[1])?.ends_with(want_str(&a[0])?)))
    });
    m.insert("replace", |ex, a| {
        want(&a, 3, "replace")?;
        let (old, new, src) = (want_str(&a[0])?, want_str(&a[1])?, want_str(&a[2])?);
        let n = if old.is_empty() {
            src.chars().count() + 1
        } else {
            src.matches(old).count()
        };
        size_ok(ex, src.len().saturating_add(n.saturating_mul(new.len())))?;
        Ok(Value::from(if old.is_empty() {
            src.to_string()
        } else {
            src.replace(old, new)
        }))
    });
    m.insert("repeat", |ex, a| {
        want(&a, 2, "repeat")?;
        let n = want_int(&a[0])?;
        let s = want_str(&a[1])?;
        if n < 0 {
            return Err("strings: negative Repeat count".into());
        }
        size_ok(ex, s.len().saturating_mul(n as usize))?;
        Ok(Value::from(s.repeat(n as usize)))
    });
    m.insert("substr", |_, a| {
        want(&a, 3, "substr")?;
        let (start, end, s) = (want_int(&a[0])?, want_int(&a[1])?, want_str(&a[2])?);
        let b = s.as_bytes();
        let len = b.len() as i64;
        let r = if start < 0 {
            &b[..end.clamp(0, len) as usize]
        } else if end < 0 || end > len {
            &b[start.min(len) as usize..]
        } else {
            &b[start.min(end) as usize..end as usize]
        };
        Ok(Value::from(String::from_utf8_lossy(r).into_owned()))
    });
    m.insert("trunc", |_, a| {
        want(&a, 2, "trunc")?;
        let (c, s) = (want_int(&a[0])?, want_str(&a[1])?);
        let len = s.len() as i64;
        let b = s.as_bytes();
        let r = if c < 0 && len + c > 0 {
            &b[(len + c) as usize..]
        } else if c >= 0 && len > c {
            &b[..c as usize]
        } else {
            b
        };
        Ok(Value::from(String::from_utf8_lossy(r).into_owned()))
    });
    m.insert("abbrev", |_, a| {
        want(&a, 2, "abbrev")?;
        let (w, s) = (want_int(&a[0])?, want_str(&a[1])?);
        if w < 4 || s.len() as i64 <= w {
            return Ok(Value::from(s));
        }
        let head = String::from_utf8_lossy(&s.as_bytes()[..(w as usize - 3)]).into_owned();
        Ok(Value::from(format!("{head}...")))
    });
    m.insert("abbrevboth", |_, a| {
        want(&a, 3, "abbrevboth")?;
        let (l, r, s) = (want_int(&a[0])?, want_int(&a[1])?, want_str(&a[2])?);
        if r < 4 || l > 0 && r < 7 {
            return Ok(Value::from(s));
        }
        Ok(Value::from(abbreviate_full(s, l, r)))
    });
    m.insert("quote", |_, a| {
        let v: Vec<String> = a
            .iter()
            .filter(|x| !matches!(x, Value::Nil))
            .map(|x| quote_go(&strval(x)))
            .collect();
        Ok(Value::from(v.join(" ")))
    });
    m.insert("squote", |_, a| {
        let v: Vec<String> = a
            .iter()
            .filter(|x| !matches!(x, Value::Nil))
            .map(|x| format!("'{}'", strval(x)))
            .collect();
        Ok(Value::from(v.join(" ")))
    });
    m.insert("cat", |_, a| {
        let v: Vec<String> = a
            .iter()
            .filter(|x| !matches!(x, Value::Nil))
            .map(strval)
            .collect();
        Ok(Value::from(v.join(" ")))
    });
    m.insert("indent", |ex, a| indent(ex, &a, false));
    m.insert("nindent", |ex, a| indent(ex, &a, true));
    m.insert("splitList", |_, a| {
        want(&a, 2, "splitList")?;
        let (sep, s) = (want_str(&a[0])?, want_str(&a[1])?);
        Ok(list_of_strings(go_split(s, sep)))
    });
    m.insert("split", |_, a| {
        want(&a, 2, "split")?;
        let (sep, s) = (want_str(&a[0])?, want_str(&a[1])?);
        let mut m = Map::new();
        for (i, p) in go_split(s, sep).into_iter().enumerate() {
            m.insert(format!("_{i}"), Value::from(p));
        }
        Ok(Value::from(m))
    });
    m.insert("splitn", |_, a| {
        want(&a, 3, "splitn")?;
        let (sep, n, s) = (want_str(&a[0])?, want_int(&a[1])?, want_str(&a[2])?);
        let mut m = Map::new();
        let parts: Vec<String> = if n < 0 {
            go_split(s, sep)
        } else {
            s.splitn(n as usize, sep).map(str::to_string).collect()
        };
        for (i, p) in parts.into_iter().enumerate() {
            m.insert(format!("_{i}"), Value::from(p));
        }
        Ok(Value::from(m))
    });
    m.insert("join", |_, a| {
        want(&a, 2, "join")?;
        Ok(Value::from(strslice(&a[1]).join(want_str(&a[0])?)))
    });
    m.insert("toString", |_, a| {
        want(&a, 1, "toString")?;
        Ok(Value::from(strval(&a[0])))
    });
    m.insert("toStrings", |_, a| {
        want(&a, 1, "toStrings")?;
        Ok(list_of_strings(match &a[0] {
            l if let Some(l) = l.listed() => l.iter().map(strval).collect(),
            Value::Nil => Vec::new(),
            v => vec![strval(v)],
        }))
    });
    m.insert("plural", |_, a| {
        want(&a, 3, "plural")?;
        let n = want_int(&a[2])?;
        Ok(if n == 1 { a[0].clone() } else { a[1].clone() })
    });
    m.insert("snakecase", |_, a| {
        Ok(Value::from(
            words(&s1(&a, "snakecase")?).join("_").to_lowercase(),
        ))
    });
    m.insert("kebabcase", |_, a| {
        Ok(Value::from(
            words(&s1(&a, "kebabcase")?).join("-").to_lowercase(),
        ))
    });
    m.insert("camelcase", |_, a| {
        let s = s1(&a, "camelcase")?;
        Ok(Value::from(
            s.split(['_', ' ', '-']).map(title).collect::<String>(),
        ))
    });
    m.insert("swapcase", |_, a| {
        Ok(Value::from(
            s1(&a, "swapcase")?
                .chars()
                .map(|c| {
                    if c.is_uppercase() {
                        c.to_lowercase().collect::<String>()
                    } else {
                        c.to_uppercase().collect()
                    }
                })
                .collect::<String>(),
        ))
    });
    m.insert("initials", |_, a| {
        Ok(Value::from(
            s1(&a, "initials")?
                .split_whitespace()
                .filter_map(|w| w.chars().next())
                .collect::<String>(),
        ))
    });
    m.insert("wrap", |_, a| {
        want(&a, 2, "wrap")?;
        Ok(Value::from(wrap(
            want_str(&a[1])?,
            want_int(&a[0])?.max(1) as usize,
            "\n",
        )))
    });
    m.insert("wrapWith", |_, a| {
        want(&a, 3, "wrapWith")?;
        Ok(Value::from(wrap(
            want_str(&a[2])?,
            want_int(&a[0])?.max(1) as usize,
            want_str(&a[1])?,
        )))
    });
    // Go's path package.
    m.insert("base", |_, a| Ok(Value::from(path_base(&s1(&a, "base")?))));
    m.insert("dir", |_, a| {
        let p = s1(&a, "dir")?;
        let d = match p.rfind('/') {
            Some(i) => &p[..i + 1],
            None => "",
        };
        Ok(Value::from(path_clean(d)))
    });
    m.insert("clean", |_, a| {
        Ok(Value::from(path_clean(&s1(&a, "clean")?)))
    });
    m.insert("ext", |_, a| {
        let p = s1(&a, "ext")?;
        let last = p.rsplit('/').next().unwrap_or("");
        Ok(Value::from(
            last.rfind('.')
                .map(|i| last[i..].to_string())
                .unwrap_or_default(),
        ))
    });
    m.insert("isAbs", |_, a| {
        Ok(Value::Bool(s1(&a, "isAbs")?.starts_with('/')))
    });
    // filepath's on Linux: the same as path's.
    for (os, plain) in [
        ("osBase", "base"),
        ("osDir", "dir"),
        ("osClean", "clean"),
        ("osExt", "ext"),
        ("osIsAbs", "isAbs"),
    ] {
        if let Some(f) = m.get(plain).copied() {
            m.insert(os, f);
        }
    }
    // Regular expressions (the regex crate: linear time).
    m.insert("regexMatch", |ex, a| {
        want(&a, 2, "regexMatch")?;
        Ok(Value::Bool(
            regex(ex, want_str(&a[0])?)
                .map(|r| r.is_match(want_str(&a[1]).unwrap_or("")))
                .unwrap_or(false),
        ))
    });
    m.insert("mustRegexMatch", |ex, a| {
        want(&a, 2, "mustRegexMatch")?;
        Ok(Value::Bool(
            regex(ex, want_str(&a[0])?)?.is_match(want_str(&a[1])?),
        ))
    });
    m.insert("regexFind", |ex, a| {
        want(&a, 2, "regexFind")?;
        let r = regex(ex, want_str(&a[0])?)?;
        Ok(Value::from(
            r.find(want_str(&a[1])?)
                .map(|m| m.as_str().to_string())
                .unwrap_or_default(),
        ))
    });
    m.insert("mustRegexFind", |ex, a| {
        want(&a, 2, "mustRegexFind")?;
        let r = regex(ex, want_str(&a[0])?)?;
        Ok(Value::from(
            r.find(want_str(&a[1])?)
                .map(|m| m.as_str().to_string())
                .unwrap_or_default(),
        ))
    });
    m.insert("regexFindAll", regex_find_all);
    m.insert("mustRegexFindAll", regex_find_all);
    m.insert("regexReplaceAll", regex_replace);
    m.insert("mustRegexReplaceAll", regex_replace);
    m.insert("regexReplaceAllLiteral", |ex, a| {
        want(&a, 3, "regexReplaceAllLiteral")?;
        let r = regex(ex, want_str(&a[0])?)?;
        Ok(Value::from(
            r.replace_all(want_str(&a[1])?, regex::NoExpand(want_str(&a[2])?))
                .into_owned(),
        ))
    });
    m.insert("mustRegexReplaceAllLiteral", |ex, a| {
        want(&a, 3, "mustRegexReplaceAllLiteral")?;
        let r = regex(ex, want_str(&a[0])?)?;
        Ok(Value::from(
            r.replace_all(want_str(&a[1])?, regex::NoExpand(want_str(&a[2])?))
                .into_owned(),
        ))
    });
    m.insert("regexSplit", regex_split);
    m.insert("mustRegexSplit", regex_split);
    m.insert("regexQuoteMeta", |_, a| {
        Ok(Value::from(regex::escape(&s1(&a, "regexQuoteMeta")?)))
    });
    // Encodings and hashes.
    m.insert("b64enc", |_, a| {
        use base64::Engine as _;
        Ok(Value::from(
            base64::engine::general_purpose::STANDARD.encode(s1(&a, "b64enc")?),
        ))
    });
    m.insert("b64dec", |_, a| {
        use base64::Engine as _;
        Ok(Value::from(
            match base64::engine::general_purpose::STANDARD.decode(s1(&a, "b64dec")?) {
                Ok(b) => String::from_utf8_lossy(&b).into_owned(),
                Err(e) => e.to_string(),
            },
        ))
    });
    m.insert("sha256sum", |_, a| {
        use sha2::Digest as _;
        Ok(Value::from(hex(&sha2::Sha256::digest(
            s1(&a, "sha256sum")?.as_bytes(),
        ))))
    });
    m.insert("sha1sum", |_, a| {
        use sha1::Digest as _;
        Ok(Value::from(hex(&sha1::Sha1::digest(
            s1(&a, "sha1sum")?.as_bytes(),
        ))))
    });
    m.insert("adler32sum", |_, a| {
        let s = s1(&a, "adler32sum")?;
        let (mut x, mut y) = (1u32, 0u32);
        for b in s.bytes() {
            x = (x + u32::from(b)) % 65521;
            y = (y + x) % 65521;
        }
        Ok(Value::from(((y << 16) | x).to_string()))
    });
}

/// Go's `path.Base`.
fn path_base(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let t = p.trim_end_matches('/');
    if t.is_empty() {
        return "/".into();
    }
    t.rsplit('/').next().unwrap_or(t).to_string()
}

/// Go's `path.Clean`.
fn path_clean(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let rooted = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            s => parts.push(s),
        }
    }
    let j = parts.join("/");
    match (rooted, j.is_empty()) {
        (true, _) => format!("/{j}"),
        (false, true) => ".".into(),
        (false, false) => j,
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Go's `strings.Split`: an empty separator splits into characters.
fn go_split(s: &str, sep: &str) -> Vec<String> {
    if sep.is_empty() {
        return s.chars().map(String::from).collect();
    }
    s.split(sep).map(str::to_string).collect()
}

fn words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut prev_lower = false;
    let chars: Vec<char> = s.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if c == '_' || c == '-' || c.is_whitespace() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            prev_lower = false;
            continue;
        }
        // A capital after a small letter starts a word; so does the last capital of a run
        // followed by a small letter ("HTTPServer": "HTTP", "Server").
        let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
        if c.is_uppercase()
            && !cur.is_empty()
            && (prev_lower || next_lower && cur.chars().last().is_some_and(char::is_uppercase))
        {
            out.push(std::mem::take(&mut cur));
        }
        prev_lower = c.is_lowercase() || c.is_ascii_digit();
        cur.push(c);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn wrap(s: &str, width: usize, nl: &str) -> String {
    let mut out = String::new();
    let mut line = 0;
    for (i, w) in s.split(' ').enumerate() {
        if i > 0 {
            if line + 1 + w.len() > width {
                out.push_str(nl);
                line = 0;
            } else {
                out.push(' ');
                line += 1;
            }
        }
        out.push_str(w);
        line += w.len();
    }
    out
}

fn regex_find_all(ex: &mut dyn Caller, a: Vec<Value>) -> FResult {
    want(&a, 3, "regexFindAll")?;
    let r = regex(ex, want_str(&a[0])?)?;
    let n = want_int(&a[2])?;
    let it = r
        .find_iter(want_str(&a[1])?)
        .map(|m| Value::from(m.as_str()));
    Ok(Value::from(if n < 0 {
        it.collect::<Vec<_>>()
    } else {
        it.take(n as usize).collect()
    }))
}

fn regex_replace(ex: &mut dyn Caller, a: Vec<Value>) -> FResult {
    want(&a, 3, "regexReplaceAll")?;
    let r = regex(ex, want_str(&a[0])?)?;
    Ok(Value::from(
        r.replace_all(want_str(&a[1])?, repl(want_str(&a[2])?).as_str())
            .into_owned(),
    ))
}

fn regex_split(ex: &mut dyn Caller, a: Vec<Value>) -> FResult {
    want(&a, 3, "regexSplit")?;
    let r = regex(ex, want_str(&a[0])?)?;
    let n = want_int(&a[2])?;
    let s = want_str(&a[1])?;
    let v: Vec<Value> = if n < 0 {
        r.split(s).map(Value::from).collect()
    } else {
        r.splitn(s, n as usize).map(Value::from).collect()
    };
    Ok(Value::from(v))
}

/// goutils' `AbbreviateFull` (Apache Commons' `abbreviate(str, offset, maxWidth)`), for the
/// widths `abbrevboth` lets through (`max_width` of at least 4, 7 with an offset).
fn abbreviate_full(s: &str, offset: i64, max_width: i64) -> String {
    let b = s.as_bytes();
    let len = b.len() as i64;
    let text = |x: &[u8]| String::from_utf8_lossy(x).into_owned();
    if len <= max_width {
        return s.to_string();
    }
    let mut offset = offset.min(len);
    if len - offset < max_width - 3 {
        offset = len - (max_width - 3);
    }
    if offset <= 4 {
        return format!("{}...", text(&b[..(max_width - 3) as usize]));
    }
    if offset + max_width - 3 < len {
        // goutils' Abbreviate of the rest to max_width - 3.
        let rest = &b[offset as usize..];
        let w = max_width - 3;
        let inner = if (rest.len() as i64) <= w {
            text(rest)
        } else {
            format!("{}...", text(&rest[..(w - 3) as usize]))
        };
        return format!("...{inner}");
    }
    format!("...{}", text(&b[(len - (max_width - 3)) as usize..]))
}
