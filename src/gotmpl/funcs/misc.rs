//! Sprig's defaults, reflection, semver, JSON, URL and random functions (its dates are in
//! `dates.rs`). The random functions are seeded from their arguments: output is reproducible.

use super::{strval, to_i64, want, want_int, want_str};
use crate::gotmpl::call::{Builtin, Caller, FResult, Fail};
use crate::gotmpl::parse::quote_go;
use crate::gotmpl::value::{Map, Numbers, Value};
use std::collections::HashMap;

fn semver_parse(s: &str) -> Option<(u64, u64, u64, String)> {
    let s = s.trim().trim_start_matches(['v', 'V']);
    let s = s.split('+').next()?;
    let (core, pre) = match s.split_once('-') {
        Some((c, p)) => (c, p.to_string()),
        None => (s, String::new()),
    };
    let mut it = core.split('.');
    let ma = it.next()?.parse().ok()?;
    let mi = it.next().map_or(Some(0), |x| x.parse().ok())?;
    let pa = it.next().map_or(Some(0), |x| x.parse().ok())?;
    if it.next().is_some() {
        return None;
    }
    Some((ma, mi, pa, pre))
}

fn cmp_pre(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering::*;
    match (a.is_empty(), b.is_empty()) {
        (true, true) => Equal,
        (true, false) => Greater,
        (false, true) => Less,
        _ => {
            for (x, y) in a.split('.').zip(b.split('.')) {
                let o = match (x.parse::<u64>(), y.parse::<u64>()) {
                    (Ok(p), Ok(q)) => p.cmp(&q),
                    (Ok(_), Err(_)) => Less,
                    (Err(_), Ok(_)) => Greater,
                    _ => x.cmp(y),
                };
                if o != Equal {
                    return o;
                }
            }
            a.split('.').count().cmp(&b.split('.').count())
        }
    }
}

type Ver = (u64, u64, u64, String);

fn vcmp(a: &Ver, b: &Ver) -> std::cmp::Ordering {
    (a.0, a.1, a.2)
        .cmp(&(b.0, b.1, b.2))
        .then_with(|| cmp_pre(&a.3, &b.3))
}

/// One constraint of Masterminds/semver (`>=1.19-0`, `^1.2`, `~1.2.3`, `1.2.x`, `!=1.0`).
fn check_one(c: &str, v: &Ver) -> Result<bool, String> {
    use std::cmp::Ordering::*;
    let c = c.trim();
    let ops = [">=", "<=", "!=", "=>", "=<", ">", "<", "=", "~>", "~", "^"];
    let (op, rest) = ops
        .iter()
        .find_map(|o| c.strip_prefix(o).map(|r| (*o, r.trim())))
        .unwrap_or(("", c));
    let parts: Vec<&str> = rest
        .trim_start_matches(['v', 'V'])
        .split(['-', '+'])
        .next()
        .unwrap_or("")
        .split('.')
        .collect();
    let wild = |p: Option<&&str>| p.is_none_or(|x| matches!(*x, "x" | "X" | "*" | ""));
    let cv_text = rest.replace(['x', 'X', '*'], "0");
    let cv = semver_parse(&cv_text).ok_or_else(|| format!("improper constraint: {c}"))?;
    let has_pre = !cv.3.is_empty();
    if !v.3.is_empty() && !has_pre {
        return Ok(false);
    }
    let (wmi, wpa) = (wild(parts.get(1)), wild(parts.get(2)));
    let o = vcmp(v, &cv);
    Ok(match op {
        "" | "=" => {
            if wmi {
                v.0 == cv.0
            } else if wpa {
                v.0 == cv.0 && v.1 == cv.1
            } else {
                o == Equal
            }
        }
        "!=" => o != Equal,
        ">" => {
            if wmi {
                v.0 > cv.0
            } else if wpa {
                (v.0, v.1) > (cv.0, cv.1)
            } else {
                o == Greater
            }
        }
        "<" => o == Less,
        ">=" | "=>" => o != Less,
        "<=" | "=<" => {
            if wmi {
                v.0 <= cv.0
            } else if wpa {
                (v.0, v.1) <= (cv.0, cv.1)
            } else {
                o != Greater
            }
        }
        "~" | "~>" => o != Less && v.0 == cv.0 && (wmi || v.1 == cv.1),
        "^" => {
            o != Less
                && if cv.0 > 0 || wmi {
                    v.0 == cv.0
                } else if cv.1 > 0 || wpa {
                    v.0 == 0 && v.1 == cv.1
                } else {
                    v.0 == 0 && v.1 == 0 && v.2 == cv.2
                }
        }
        _ => false,
    })
}

/// Masterminds/semver's constraint check: `||` of `,`/space-joined ANDs, hyphen ranges.
pub(crate) fn semver_check(constraint: &str, version: &str) -> Result<bool, String> {
    let v = semver_parse(version).ok_or_else(|| "Invalid Semantic Version".to_string())?;
    for alt in constraint.split("||") {
        let alt = alt.trim();
        let mut ok = true;
        let toks: Vec<String> = if let Some((lo, hi)) = alt.split_once(" - ") {
            vec![format!(">={}", lo.trim()), format!("<={}", hi.trim())]
        } else {
            alt.split([',', ' '])
                .filter(|t| !t.is_empty())
                .map(|t| t.to_string())
                .collect::<Vec<_>>()
        };
        let mut merged: Vec<String> = Vec::new();
        for t in toks {
            // "> 1.2" written with a space: glue the operator to its version.
            if let Some(last) = merged
                .last_mut()
                .filter(|l| l.chars().all(|c| "<>=!~^".contains(c)))
            {
                last.push_str(&t);
                continue;
            }
            merged.push(t);
        }
        for t in &merged {
            if !check_one(t, &v)? {
                ok = false;
                break;
            }
        }
        if ok && !merged.is_empty() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// A deterministic generator seeded from a string (splitmix64).
struct Rng(u64);
impl Rng {
    fn new(seed: &str) -> Rng {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in seed.bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
        Rng(h)
    }
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

fn rand_string(ex: &dyn Caller, a: &[Value], name: &str, alphabet: &[u8]) -> FResult {
    want(a, 1, name)?;
    let n = to_i64(&a[0]).max(0) as usize;
    if n > ex.limits().max_output {
        return Err(format!("{n} characters is more than Limits::max_output").into());
    }
    let mut r = Rng::new(&format!("{name}/{n}/{}", ex.steps()));
    Ok(Value::from(
        (0..n)
            .map(|_| alphabet[(r.next() % alphabet.len() as u64) as usize] as char)
            .collect::<String>(),
    ))
}

/// A bcrypt hash's shape (`$2a$10$`, 53 characters of its alphabet), marked PLACEHOLDER and
/// derived from the input: a chart's htpasswd secret renders, with no real hash in it.
fn bcrypt_placeholder(input: &str) -> String {
    const A: &[u8] = b"./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut r = Rng::new(&format!("bcrypt/{input}"));
    let tail: String = (0..42)
        .map(|_| A[(r.next() % A.len() as u64) as usize] as char)
        .collect();
    format!("$2a$10$PLACEHOLDER{tail}")
}

/// A certificate and key pair as Sprig's `genCA` and friends return it: placeholders, not keys.
fn cert_pair(kind: &str, seed: &str) -> Value {
    let tag = Rng::new(seed).next();
    let mut o = Map::new();
    o.insert("Cert".into(), Value::from(format!("-----BEGIN CERTIFICATE-----\nPLACEHOLDER {kind} {tag:016x}\n-----END CERTIFICATE-----\n")));
    o.insert("Key".into(), Value::from(format!("-----BEGIN RSA PRIVATE KEY-----\nPLACEHOLDER {kind} {tag:016x}\n-----END RSA PRIVATE KEY-----\n")));
    Value::from(o)
}

/// Sprig's key and certificate generators, `htpasswd`, `derivePassword`, Helm's
/// `getHostByName`, URL functions and `sha512sum`: placeholders where Sprig makes secrets
/// (deterministic text marked PLACEHOLDER, so a chart that makes a webhook's certificate still
/// renders; the output is for reading, not for applying).
fn add_placeholders(m: &mut HashMap<&'static str, Builtin>) {
    for name in [
        "genCA",
        "genCAWithKey",
        "genSelfSignedCert",
        "genSelfSignedCertWithKey",
        "genSignedCert",
        "genSignedCertWithKey",
    ] {
        m.insert(name, |_, a| {
            Ok(cert_pair(
                "certificate",
                &a.iter().map(strval).collect::<Vec<_>>().join("/"),
            ))
        });
    }
    m.insert("genPrivateKey", |_, a| {
        let kind = a.first().map(strval).unwrap_or_default();
        Ok(Value::from(format!(
            "-----BEGIN PRIVATE KEY-----\nPLACEHOLDER {kind}\n-----END PRIVATE KEY-----\n"
        )))
    });
    m.insert("buildCustomCert", |_, a| {
        Ok(cert_pair(
            "custom",
            &a.iter().map(strval).collect::<Vec<_>>().join("/"),
        ))
    });
    m.insert("derivePassword", |_, a| {
        let mut r = Rng::new(&a.iter().map(strval).collect::<Vec<_>>().join("/"));
        Ok(Value::from(format!("{:016x}", r.next())))
    });
    m.insert("bcrypt", |_, a| {
        want(&a, 1, "bcrypt")?;
        Ok(Value::from(bcrypt_placeholder(want_str(&a[0])?)))
    });
    m.insert("randBytes", |ex, a| {
        use base64::Engine as _;
        want(&a, 1, "randBytes")?;
        let n = want_int(&a[0])?;
        if n < 0 {
            return Err("runtime error: makeslice: len out of range".into());
        }
        if n as usize > ex.limits().max_output / 2 {
            return Err(format!("{n} bytes is more than Limits::max_output").into());
        }
        let mut r = Rng::new(&format!("randBytes/{n}/{}", ex.steps()));
        let b: Vec<u8> = (0..n).map(|_| r.next() as u8).collect();
        Ok(Value::from(
            base64::engine::general_purpose::STANDARD.encode(b),
        ))
    });
    m.insert("htpasswd", |_, a| {
        want(&a, 2, "htpasswd")?;
        Ok(Value::from(format!("{}:PLACEHOLDER", strval(&a[0]))))
    });
    m.insert(
        "encryptAES",
        |_, _| Err("encryptAES is not provided".into()),
    );
    m.insert(
        "decryptAES",
        |_, _| Err("decryptAES is not provided".into()),
    );
    m.insert("getHostByName", |_, _| Ok(Value::from("")));
    m.insert("sha512sum", |_, a| {
        use sha2::Digest as _;
        want(&a, 1, "sha512sum")?;
        Ok(Value::from(
            sha2::Sha512::digest(want_str(&a[0])?.as_bytes())
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>(),
        ))
    });
    m.insert("urlParse", |_, a| {
        want(&a, 1, "urlParse")?;
        let u = want_str(&a[0])?;
        let (scheme, rest) = u.split_once("://").unwrap_or(("", u));
        let (rest, fragment) = rest.split_once('#').unwrap_or((rest, ""));
        let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (hostpart, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        let (userinfo, host) = hostpart.rsplit_once('@').unwrap_or(("", hostpart));
        let mut o = Map::new();
        for (k, v) in [
            ("scheme", scheme),
            ("host", host),
            ("hostname", host.rsplit_once(':').map_or(host, |x| x.0)),
            ("path", path),
            ("query", query),
            ("opaque", ""),
            ("fragment", fragment),
            ("userinfo", userinfo),
        ] {
            o.insert(k.into(), Value::from(v));
        }
        Ok(Value::from(o))
    });
}

/// Go's `url.shouldEscape` modes: the parts `urlJoin` writes, and a query component
/// (`url.QueryEscape`, what Go's `urlquery` writes).
#[derive(Clone, Copy, PartialEq)]
pub(super) enum Enc {
    Host,
    Path,
    UserPassword,
    Fragment,
    QueryComponent,
}

fn should_escape(c: u8, mode: Enc) -> bool {
    if c.is_ascii_alphanumeric() {
        return false;
    }
    if mode == Enc::Host && b"!$&'()*+,;=:[]<>\"".contains(&c) {
        return false;
    }
    match c {
        b'-' | b'_' | b'.' | b'~' => return false,
        b'$' | b'&' | b'+' | b',' | b'/' | b':' | b';' | b'=' | b'?' | b'@' => {
            return match mode {
                Enc::Path => c == b'?',
                Enc::UserPassword => matches!(c, b'@' | b'/' | b'?' | b':'),
                Enc::Fragment => false,
                Enc::Host | Enc::QueryComponent => true,
            };
        }
        _ => {}
    }
    !(mode == Enc::Fragment && matches!(c, b'!' | b'(' | b')' | b'*'))
}

/// Go's `url.escape`: a query component writes a space as `+`.
pub(super) fn url_escape(s: &str, mode: Enc) -> String {
    let mut o = String::new();
    for b in s.bytes() {
        if b == b' ' && mode == Enc::QueryComponent {
            o.push('+');
        } else if should_escape(b, mode) {
            o.push_str(&format!("%{b:02X}"));
        } else {
            o.push(b as char);
        }
    }
    o
}

/// Go's `url.PathUnescape`-style decoding of a userinfo part.
fn url_unescape(s: &str) -> Result<String, Fail> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            let Some(v) = hex else {
                let end = (i + 3).min(b.len());
                return Err(format!(
                    "unable to parse userinfo in dict: parse \"proto://{s}@host\": invalid URL escape {}",
                    quote_go(&String::from_utf8_lossy(&b[i..end]))
                )
                .into());
            };
            out.push(v);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// Sprig's `urlJoin`: Go's `url.URL.String` of a dict's scheme, userinfo, host, path, query,
/// opaque and fragment (each a string when present).
fn url_join(d: &Value) -> FResult {
    let Value::Map(m) = d else {
        return Err(format!(
            "wrong type for value; expected map[string]interface {{}}; got {}",
            d.type_name()
        )
        .into());
    };
    let m = m.try_borrow().map_err(|_| "map is being changed")?;
    let get = |k: &str| -> Result<String, Fail> {
        match m.get(k) {
            None => Ok(String::new()),
            Some(Value::String(s)) => Ok(s.to_string()),
            Some(v) => Err(format!(
                "unable to parse {k} key, must be of type string, but {} found",
                v.kind_name()
            )
            .into()),
        }
    };
    let (scheme, host, path) = (get("scheme")?, get("host")?, get("path")?);
    let (query, opaque, fragment) = (get("query")?, get("opaque")?, get("fragment")?);
    let userinfo = get("userinfo")?;
    let user = if userinfo.is_empty() {
        None
    } else {
        if userinfo.contains(['/', '?', '#']) {
            return Err(format!(
                "unable to parse userinfo in dict: parse \"proto://{userinfo}@host\": invalid userinfo"
            )
            .into());
        }
        Some(match userinfo.split_once(':') {
            Some((u, p)) => format!(
                "{}:{}",
                url_escape(&url_unescape(u)?, Enc::UserPassword),
                url_escape(&url_unescape(p)?, Enc::UserPassword)
            ),
            None => url_escape(&url_unescape(&userinfo)?, Enc::UserPassword),
        })
    };
    let mut out = String::new();
    if !scheme.is_empty() {
        out.push_str(&scheme);
        out.push(':');
    }
    if !opaque.is_empty() {
        out.push_str(&opaque);
    } else {
        if !scheme.is_empty() || !host.is_empty() || user.is_some() {
            if !host.is_empty() || !path.is_empty() || user.is_some() {
                out.push_str("//");
            }
            if let Some(u) = &user {
                out.push_str(u);
                out.push('@');
            }
            out.push_str(&url_escape(&host, Enc::Host));
        }
        let p = url_escape(&path, Enc::Path);
        if !p.is_empty() && !p.starts_with('/') && !host.is_empty() {
            out.push('/');
        }
        if out.is_empty() && p.split('/').next().is_some_and(|seg| seg.contains(':')) {
            out.push_str("./");
        }
        out.push_str(&p);
    }
    if !query.is_empty() {
        out.push('?');
        out.push_str(&query);
    }
    if !fragment.is_empty() {
        out.push('#');
        out.push_str(&url_escape(&fragment, Enc::Fragment));
    }
    Ok(Value::from(out))
}

fn to_json_text(ex: &dyn Caller, a: &[Value], name: &str, pretty: bool) -> FResult {
    want(a, 1, name)?;
    let j = a[0]
        .to_json(ex.limits().max_value_depth)
        .ok_or("json: unsupported value")?;
    Ok(Value::from(if pretty {
        serde_json::to_string_pretty(&j).unwrap_or_default()
    } else {
        serde_json::to_string(&j).unwrap_or_default()
    }))
}

pub(super) fn add(m: &mut HashMap<&'static str, Builtin>) {
    add_placeholders(m);
    m.insert("default", |_, a| {
        if a.is_empty() {
            return Err("wrong number of args for default: want at least 1 got 0".into());
        }
        Ok(match a.get(1) {
            Some(g) if g.truthy() => g.clone(),
            _ => a[0].clone(),
        })
    });
    m.insert("empty", |_, a| {
        want(&a, 1, "empty")?;
        Ok(Value::Bool(!a[0].truthy()))
    });
    m.insert("coalesce", |_, a| {
        Ok(a.iter().find(|x| x.truthy()).cloned().unwrap_or_default())
    });
    m.insert("all", |_, a| Ok(Value::Bool(a.iter().all(Value::truthy))));
    m.insert("any", |_, a| Ok(Value::Bool(a.iter().any(Value::truthy))));
    m.insert("ternary", |_, a| {
        want(&a, 3, "ternary")?;
        let Value::Bool(c) = a[2] else {
            return Err(format!(
                "wrong type for value; expected bool; got {}",
                a[2].type_name()
            )
            .into());
        };
        Ok(if c { a[0].clone() } else { a[1].clone() })
    });
    m.insert("typeOf", |_, a| {
        want(&a, 1, "typeOf")?;
        Ok(Value::from(a[0].type_name()))
    });
    m.insert("kindOf", |_, a| {
        want(&a, 1, "kindOf")?;
        Ok(Value::from(a[0].kind_name()))
    });
    m.insert("typeIs", |_, a| {
        want(&a, 2, "typeIs")?;
        Ok(Value::Bool(want_str(&a[0])? == a[1].type_name()))
    });
    m.insert("typeIsLike", |_, a| {
        want(&a, 2, "typeIsLike")?;
        let t = want_str(&a[0])?;
        let n = a[1].type_name();
        Ok(Value::Bool(t == n || t == format!("*{n}")))
    });
    m.insert("kindIs", |_, a| {
        want(&a, 2, "kindIs")?;
        Ok(Value::Bool(want_str(&a[0])? == a[1].kind_name()))
    });
    m.insert("deepEqual", |_, a| {
        want(&a, 2, "deepEqual")?;
        Ok(Value::Bool(a[0] == a[1]))
    });
    m.insert("semverCompare", |_, a| {
        want(&a, 2, "semverCompare")?;
        Ok(Value::Bool(semver_check(
            want_str(&a[0])?,
            want_str(&a[1])?,
        )?))
    });
    m.insert("semver", |_, a| {
        want(&a, 1, "semver")?;
        let s = want_str(&a[0])?;
        let (ma, mi, pa, pre) = semver_parse(s).ok_or("Invalid Semantic Version")?;
        let mut o = Map::new();
        o.insert("Major".into(), Value::Int(ma as i64));
        o.insert("Minor".into(), Value::Int(mi as i64));
        o.insert("Patch".into(), Value::Int(pa as i64));
        o.insert("Prerelease".into(), Value::from(pre));
        o.insert(
            "Metadata".into(),
            Value::from(s.split_once('+').map(|x| x.1).unwrap_or("")),
        );
        o.insert("Original".into(), Value::from(s));
        Ok(Value::from(o))
    });
    m.insert("toPrettyJson", |ex, a| {
        to_json_text(ex, &a, "toPrettyJson", true)
    });
    m.insert("mustToPrettyJson", |ex, a| {
        to_json_text(ex, &a, "mustToPrettyJson", true)
    });
    m.insert("toRawJson", |ex, a| {
        to_json_text(ex, &a, "toRawJson", false)
    });
    m.insert("mustToRawJson", |ex, a| {
        to_json_text(ex, &a, "mustToRawJson", false)
    });
    m.insert("hello", |_, _| Ok(Value::from("Hello!")));
    m.insert("mustFromJson", |_, a| {
        want(&a, 1, "mustFromJson")?;
        let j: serde_json::Value =
            serde_json::from_str(want_str(&a[0])?).map_err(|e| e.to_string())?;
        Ok(Value::from_json(&j, Numbers::Float64))
    });
    m.insert("urlJoin", |_, a| {
        want(&a, 1, "urlJoin")?;
        url_join(&a[0])
    });
    m.insert("b32dec", |_, a| {
        want(&a, 1, "b32dec")?;
        Ok(Value::from(match base32_decode(want_str(&a[0])?) {
            Ok(b) => String::from_utf8_lossy(&b).into_owned(),
            Err(e) => e,
        }))
    });
    m.insert("b32enc", |_, a| {
        want(&a, 1, "b32enc")?;
        Ok(Value::from(base32(want_str(&a[0])?.as_bytes())))
    });
    m.insert("uuidv4", |ex, _| {
        let mut r = Rng::new(&format!("uuid/{}", ex.steps()));
        let (x, y) = (r.next(), r.next());
        let x = (x & !0xF000) | 0x4000;
        let y = (y & !(0xC000 << 48)) | (0x8000 << 48);
        Ok(Value::from(format!(
            "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            x >> 32,
            (x >> 16) & 0xFFFF,
            x & 0xFFFF,
            y >> 48,
            y & 0xFFFF_FFFF_FFFF
        )))
    });
    m.insert("randAlpha", |ex, a| {
        rand_string(
            ex,
            &a,
            "randAlpha",
            b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
        )
    });
    m.insert("randAlphaNum", |ex, a| {
        rand_string(
            ex,
            &a,
            "randAlphaNum",
            b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
        )
    });
    m.insert("randNumeric", |ex, a| {
        rand_string(ex, &a, "randNumeric", b"0123456789")
    });
    m.insert("randAscii", |ex, a| rand_string(ex, &a, "randAscii", b"!\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~"));
    m.insert("randInt", |ex, a| {
        want(&a, 2, "randInt")?;
        let (lo, hi) = (to_i64(&a[0]), to_i64(&a[1]));
        if hi <= lo {
            return Err("invalid argument to Intn".into());
        }
        let mut r = Rng::new(&format!("randInt/{lo}/{hi}/{}", ex.steps()));
        Ok(Value::Int(lo + (r.next() % (hi - lo) as u64) as i64))
    });
    m.insert("shuffle", |_, a| {
        want(&a, 1, "shuffle")?;
        let s = strval(&a[0]);
        let mut c: Vec<char> = s.chars().collect();
        let mut r = Rng::new(&s);
        for i in (1..c.len()).rev() {
            c.swap(i, (r.next() % (i as u64 + 1)) as usize);
        }
        Ok(Value::from(c.into_iter().collect::<String>()))
    });
}

/// Base32's standard alphabet (RFC 4648), as Go's `base32.StdEncoding`.
const BASE32: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

fn base32(b: &[u8]) -> String {
    let mut out = String::new();
    for chunk in b.chunks(5) {
        let mut buf = [0u8; 5];
        buf[..chunk.len()].copy_from_slice(chunk);
        let n = u64::from_be_bytes([0, 0, 0, buf[0], buf[1], buf[2], buf[3], buf[4]]);
        let chars = (chunk.len() * 8).div_ceil(5);
        for i in 0..8 {
            if i < chars {
                out.push(BASE32[((n >> (35 - i * 5)) & 31) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Go's `base32.StdEncoding.DecodeString` (padded, as `b32enc` writes), its error as Go words it.
fn base32_decode(s: &str) -> Result<Vec<u8>, String> {
    // Go drops newlines before decoding.
    let src: Vec<u8> = s.bytes().filter(|c| *c != b'\n' && *c != b'\r').collect();
    let corrupt = |i: usize| format!("illegal base32 data at input byte {i}");
    if !src.len().is_multiple_of(8) {
        return Err(corrupt(src.len() / 8 * 8));
    }
    let mut out = Vec::new();
    for (ci, chunk) in src.chunks(8).enumerate() {
        let pad = chunk.iter().rev().take_while(|c| **c == b'=').count();
        let data = 8 - pad;
        // Only 0, 1, 3, 4 or 6 padding characters end a group, and only the last one.
        if !matches!(pad, 0 | 1 | 3 | 4 | 6) || (pad > 0 && (ci + 1) * 8 != src.len()) {
            return Err(corrupt(ci * 8 + data));
        }
        let mut n: u64 = 0;
        for (j, c) in chunk[..data].iter().enumerate() {
            let v = BASE32
                .iter()
                .position(|x| x == c)
                .ok_or_else(|| corrupt(ci * 8 + j))?;
            n |= (v as u64) << (35 - j * 5);
        }
        let bytes = n.to_be_bytes();
        out.extend_from_slice(&bytes[3..3 + data * 5 / 8]);
    }
    Ok(out)
}
