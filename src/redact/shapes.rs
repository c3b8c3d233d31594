//! Values that are secrets by their shape, whatever key holds them: the token formats of
//! the services a config names (cloud access keys, registry and git host tokens, chat
//! and payment keys, a k3s join token), a JWT, a PEM private key written on one line,
//! and a long run of base64's alphabet that mixes upper- and lower-case letters and
//! digits with the spread of characters of a random string. What is kept on purpose: a
//! hex digest (`sha256:…`, all one case: it pins content, it hides nothing), an image
//! reference, a version (`v1.33.1+k3s1`), a path, a UUID, a word.

use super::MASK;
use std::borrow::Cow;

/// A token format known by its prefix: the prefix, the fewest characters after it, and
/// which characters those are.
struct Prefixed {
    prefix: &'static str,
    min: usize,
    body: fn(u8) -> bool,
}

fn alnum(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}
fn alnum_under(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}
fn url_b64(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}
fn upper_digit(b: u8) -> bool {
    b.is_ascii_uppercase() || b.is_ascii_digit()
}
fn hex(b: u8) -> bool {
    b.is_ascii_hexdigit()
}
fn dotted(b: u8) -> bool {
    url_b64(b) || b == b'.'
}
fn path_part(b: u8) -> bool {
    url_b64(b) || b == b'/'
}
fn join_token(b: u8) -> bool {
    url_b64(b) || b == b':' || b == b'.'
}

/// The token formats known by prefix.
const PREFIXED: &[Prefixed] = &[
    // Cloud access key ids: four letters naming the kind, then 16.
    Prefixed {
        prefix: "AKIA",
        min: 16,
        body: upper_digit,
    },
    Prefixed {
        prefix: "ASIA",
        min: 16,
        body: upper_digit,
    },
    Prefixed {
        prefix: "ABIA",
        min: 16,
        body: upper_digit,
    },
    Prefixed {
        prefix: "ACCA",
        min: 16,
        body: upper_digit,
    },
    Prefixed {
        prefix: "A3T",
        min: 17,
        body: upper_digit,
    },
    // Git hosts.
    Prefixed {
        prefix: "ghp_",
        min: 30,
        body: alnum,
    },
    Prefixed {
        prefix: "gho_",
        min: 30,
        body: alnum,
    },
    Prefixed {
        prefix: "ghu_",
        min: 30,
        body: alnum,
    },
    Prefixed {
        prefix: "ghs_",
        min: 30,
        body: alnum,
    },
    Prefixed {
        prefix: "ghr_",
        min: 30,
        body: alnum,
    },
    Prefixed {
        prefix: "github_pat_",
        min: 40,
        body: alnum_under,
    },
    Prefixed {
        prefix: "glpat-",
        min: 20,
        body: url_b64,
    },
    Prefixed {
        prefix: "glptt-",
        min: 20,
        body: url_b64,
    },
    Prefixed {
        prefix: "gldt-",
        min: 20,
        body: url_b64,
    },
    Prefixed {
        prefix: "glrt-",
        min: 20,
        body: url_b64,
    },
    Prefixed {
        prefix: "glcbt-",
        min: 20,
        body: url_b64,
    },
    Prefixed {
        prefix: "glsoat-",
        min: 20,
        body: url_b64,
    },
    Prefixed {
        prefix: "GR1348941",
        min: 20,
        body: url_b64,
    },
    Prefixed {
        prefix: "ATBB",
        min: 24,
        body: alnum,
    },
    // Registries and package indexes.
    Prefixed {
        prefix: "dckr_pat_",
        min: 20,
        body: url_b64,
    },
    Prefixed {
        prefix: "dckr_oat_",
        min: 20,
        body: url_b64,
    },
    Prefixed {
        prefix: "npm_",
        min: 30,
        body: alnum,
    },
    Prefixed {
        prefix: "pypi-AgE",
        min: 40,
        body: url_b64,
    },
    Prefixed {
        prefix: "hf_",
        min: 30,
        body: alnum,
    },
    // Chat, payment, mail, AI services.
    Prefixed {
        prefix: "xoxb-",
        min: 10,
        body: url_b64,
    },
    Prefixed {
        prefix: "xoxp-",
        min: 10,
        body: url_b64,
    },
    Prefixed {
        prefix: "xoxa-",
        min: 10,
        body: url_b64,
    },
    Prefixed {
        prefix: "xoxr-",
        min: 10,
        body: url_b64,
    },
    Prefixed {
        prefix: "xoxs-",
        min: 10,
        body: url_b64,
    },
    Prefixed {
        prefix: "xoxe-",
        min: 10,
        body: url_b64,
    },
    Prefixed {
        prefix: "xapp-",
        min: 10,
        body: url_b64,
    },
    Prefixed {
        prefix: "hooks.slack.com/services/",
        min: 20,
        body: path_part,
    },
    Prefixed {
        prefix: "discord.com/api/webhooks/",
        min: 20,
        body: path_part,
    },
    Prefixed {
        prefix: "sk_live_",
        min: 16,
        body: alnum,
    },
    Prefixed {
        prefix: "rk_live_",
        min: 16,
        body: alnum,
    },
    Prefixed {
        prefix: "sk_test_",
        min: 16,
        body: alnum,
    },
    Prefixed {
        prefix: "rk_test_",
        min: 16,
        body: alnum,
    },
    Prefixed {
        prefix: "SG.",
        min: 40,
        body: dotted,
    },
    Prefixed {
        prefix: "sk-",
        min: 32,
        body: url_b64,
    },
    Prefixed {
        prefix: "AIza",
        min: 30,
        body: url_b64,
    },
    Prefixed {
        prefix: "ya29.",
        min: 30,
        body: dotted,
    },
    Prefixed {
        prefix: "shpat_",
        min: 32,
        body: hex,
    },
    Prefixed {
        prefix: "shpss_",
        min: 32,
        body: hex,
    },
    Prefixed {
        prefix: "dop_v1_",
        min: 40,
        body: hex,
    },
    Prefixed {
        prefix: "glc_",
        min: 30,
        body: url_b64,
    },
    Prefixed {
        prefix: "hvs.",
        min: 24,
        body: url_b64,
    },
    Prefixed {
        prefix: "hvb.",
        min: 24,
        body: url_b64,
    },
    // A k3s join token: K10, the CA's hash, then `::user:password`.
    Prefixed {
        prefix: "K10",
        min: 16,
        body: join_token,
    },
];

/// The fewest characters of a run judged by its spread alone.
const MIN_RANDOM: usize = 24;
/// The fewest bits of Shannon entropy per character of such a run (a random string of
/// base64's alphabet of 24 characters has about 4.2; a word repeated, less than 3).
const MIN_BITS: f64 = 3.6;
/// The fewest changes of kind (upper-case, lower-case, other) between neighbouring
/// characters of such a run, in percent of them: about 64 in a random string of base64's
/// alphabet, 25 to 35 in a camel-case name.
const MIN_CHANGES_PERCENT: usize = 38;

/// `text` with every value that is a secret by its shape replaced by [`MASK`].
pub fn mask(text: &str) -> Cow<'_, str> {
    let spans = spans(text);
    if spans.is_empty() {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for (from, to) in spans {
        if from < at {
            continue;
        }
        out.push_str(&text[at..from]);
        out.push_str(MASK);
        at = to;
    }
    out.push_str(&text[at..]);
    Cow::Owned(out)
}

/// True when `text` holds a value that is a secret by its shape.
pub fn any(text: &str) -> bool {
    !spans(text).is_empty()
}

/// Where each secret of `text` is, in order, none overlapping.
fn spans(text: &str) -> Vec<(usize, usize)> {
    let b = text.as_bytes();
    let mut spans: Vec<(usize, usize)> = Vec::new();
    let boundary = |i: usize| i == 0 || !b[i - 1].is_ascii_alphanumeric();
    let mut i = 0;
    while i < b.len() {
        if let Some(end) = pem_one_line(text, i).or_else(|| {
            boundary(i)
                .then(|| prefixed(b, i).or_else(|| jwt(b, i)))
                .flatten()
        }) {
            spans.push((i, end));
            i = end;
            continue;
        }
        i += 1;
    }
    // Long random runs, where no format was found.
    let run_char =
        |c: u8| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'=' | b'_' | b'-');
    let mut i = 0;
    while i < b.len() {
        if !run_char(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && run_char(b[i]) {
            i += 1;
        }
        let covered = spans.iter().any(|&(f, t)| f < i && start < t);
        // A run glued to `.` or `:` is part of a name, a version or a reference.
        let glued = (start > 0 && matches!(b[start - 1], b'.' | b':' | b'@'))
            || (i < b.len() && matches!(b[i], b'.' | b':' | b'@'));
        if !covered && !glued && looks_random(&text[start..i]) {
            spans.push((start, i));
        }
    }
    spans.sort();
    spans
}

/// The end of a known token format starting at `i`.
fn prefixed(b: &[u8], i: usize) -> Option<usize> {
    let rest = &b[i..];
    PREFIXED.iter().find_map(|p| {
        let body = rest.strip_prefix(p.prefix.as_bytes())?;
        let n = body.iter().take_while(|&&c| (p.body)(c)).count();
        // A K10 token starts with the CA's hash in hex.
        if p.prefix == "K10" && body.iter().take(p.min).any(|&c| !c.is_ascii_hexdigit()) {
            return None;
        }
        (n >= p.min).then_some(i + p.prefix.len() + n)
    })
}

/// The end of a JWT (`eyJ…` header, payload, signature) starting at `i`.
fn jwt(b: &[u8], i: usize) -> Option<usize> {
    if !b[i..].starts_with(b"eyJ") {
        return None;
    }
    let seg = |from: usize| b[from..].iter().take_while(|&&c| url_b64(c)).count();
    let head = seg(i);
    if head < 10 || b.get(i + head) != Some(&b'.') {
        return None;
    }
    let body_at = i + head + 1;
    let body = seg(body_at);
    if body < 10 {
        return None;
    }
    let mut end = body_at + body;
    if b.get(end) == Some(&b'.') {
        end += 1 + seg(end + 1);
    }
    Some(end)
}

/// A private key's PEM block written on one line (`"-----BEGIN PRIVATE KEY-----\nMII…"`
/// in JSON): its end, or the line's end less the closing quote.
fn pem_one_line(text: &str, i: usize) -> Option<usize> {
    if !text.as_bytes()[i..].starts_with(b"-----BEGIN ") {
        return None;
    }
    let rest = &text[i..];
    let header_end = rest[11..].find("-----")? + 11;
    if !rest[..header_end].contains("PRIVATE KEY") {
        return None;
    }
    if let Some(end) = rest.find("-----END ") {
        let close = rest[end + 9..]
            .find("-----")
            .map_or(rest.len(), |c| end + 9 + c + 5);
        return Some(i + close);
    }
    let stop = rest.find(['"', '\'']).unwrap_or(rest.len());
    Some(i + stop)
}

/// True for a run that reads as random: long, upper- and lower-case letters and digits,
/// changing kind often and with a wide spread of characters; not a path.
fn looks_random(run: &str) -> bool {
    let core = run.trim_end_matches('=');
    if core.len() < MIN_RANDOM || core.starts_with('/') || core.starts_with('-') {
        return false;
    }
    let has = |f: fn(&char) -> bool| core.chars().any(|c| f(&c));
    if !(has(char::is_ascii_uppercase)
        && has(char::is_ascii_lowercase)
        && has(char::is_ascii_digit))
    {
        return false;
    }
    // Words joined by separators (`my-App-Name-2`) are names: each piece is short.
    let longest_piece = core.split(['-', '_', '/']).map(str::len).max().unwrap_or(0);
    if longest_piece < 16 {
        return false;
    }
    // Words in camel case change between upper- and lower-case now and then; a random
    // string at more than a third of its characters.
    let class = |c: u8| (c.is_ascii_uppercase(), c.is_ascii_lowercase());
    let b = core.as_bytes();
    let changes = b.windows(2).filter(|w| class(w[0]) != class(w[1])).count();
    changes * 100 >= MIN_CHANGES_PERCENT * (b.len() - 1) && bits_per_char(core) >= MIN_BITS
}

/// Shannon entropy of `s`, in bits per character.
fn bits_per_char(s: &str) -> f64 {
    let mut counts = [0u32; 256];
    for b in s.bytes() {
        counts[b as usize] += 1;
    }
    let n = s.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / n;
            -p * p.log2()
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_kept_is_kept() {
        for kept in [
            "image: docker.io/library/nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "k3s_version: v1.33.1+k3s1",
            "path: /var/lib/rancher/k3s/agent/images/k3s-airgap-images-amd64.tar.zst",
            "uid: 3f1e6a52-7d1c-4a8e-9a41-0c5e2f7b9d11",
            "name: MyApplicationServiceAccountNameV2",
            "chart: ingress-nginx-4.11.3 from oci://registry.example/Charts/IngressNginx",
            "destination: registry.local:5000/library/pause:3.10",
            "note: the quick brown fox jumps over the lazy dog",
            "sha512: 7c0b4e8f2d8a1b9e3f5a6c7d8e9f0a1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9",
            "task-0123456789abcdef0123456789abcdef",
        ] {
            assert_eq!(mask(kept), kept, "{kept}");
        }
    }
}
