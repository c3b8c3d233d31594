//! A config folder's text files (YAML, JSON, TOML, an env file, an image list) as they
//! may be shown to a person: every secret masked by what it means and by what it looks
//! like, one line out for each line in, the rest as written so a diff still says what
//! changed and where.
//!
//! A value is masked ([`MASK`]; its key, its indentation, the line itself stay):
//! - when its key names a credential ([`key_names_secret`], in any case or spelling:
//!   `password`, `DB_PASSWD`, `adminPwd`, `client-secret`, `X-Auth-Token`, `apiKey`,
//!   `joinKey`, `tlsCert`, `.dockerconfigjson`, …), in a block mapping, a flow mapping
//!   (`{user: app, password: …}`), JSON (`"apiKey": "…"`), TOML (`token = "…"`, an inline
//!   table, a `"""` string), an env file (`export API_TOKEN=…`), a connection string
//!   (`Server=db;Password=…`) or a URL's query (`?token=…`), and in a commented-out line
//!   (`# password: …`);
//! - with every line that belongs to it: a block scalar (`|`, `>`), a quoted or plain
//!   scalar continued on the next lines, a value on the line after its key, a mapping
//!   under it (its keys kept, its values masked);
//! - when it is the `value` of an env pair whose `name` names a credential
//!   (`- name: DB_PASSWORD` then `value: …`, in either order, or as a flow mapping);
//! - when it follows a flag that names one (`--password=…`, `--token …`, or
//!   `- --password` then the next list item);
//! - in a Secret manifest's `data` and `stringData` (every value, whatever its key);
//! - the password of a URL's user information (`scheme://user:***@host`);
//! - every line of a PEM private key block;
//! - a value that is a secret by its shape ([`super::shapes`]), wherever it is.

use super::{MASK, Secrets, shapes};

/// The lines of a config file's text as they may be shown: see the module's words. The
/// run's registered secrets ([`Secrets::scrub`]) are masked too.
pub fn config_lines(text: &str, secrets: &Secrets) -> Vec<String> {
    let lines: Vec<String> = text
        .split('\n')
        .map(|l| {
            let l = l.strip_suffix('\r').unwrap_or(l);
            secrets.scrub(l).into_owned()
        })
        .collect();
    let in_secret = secret_documents(&lines);
    let mut out = Vec::with_capacity(lines.len());
    let mut block: Option<Block> = None;
    let mut pem = false;
    // The column of a `name:` naming a credential: its sibling `value:` is masked.
    let mut env: Option<usize> = None;
    // The column of a `- --password` item: the next item there is its value.
    let mut flag: Option<usize> = None;
    for (i, line) in lines.iter().enumerate() {
        let line = line.as_str();
        let indent = indent_of(line);
        let lead = &line[..indent];
        if let Some(b) = &block {
            match b.end {
                End::Closing(close) => {
                    // The closing delimiter's line: masked up to it.
                    match line.find(close) {
                        Some(at) => {
                            out.push(format!("{lead}{MASK}{}", &line[at..]));
                            block = None;
                        }
                        None => out.push(whole(line)),
                    }
                    continue;
                }
                End::Dedent(col) => {
                    if line.trim().is_empty() {
                        out.push(line.to_string());
                        continue;
                    }
                    if indent > col {
                        out.push(if b.keys_kept {
                            values_masked(line)
                        } else {
                            whole(line)
                        });
                        continue;
                    }
                    block = None;
                }
            }
        }
        // A block on one line (`"-----BEGIN …\n…-----END …"`) is left to the shapes.
        let begins = line.contains("-----BEGIN") && line.contains("PRIVATE KEY");
        if pem || (begins && !line.contains("-----END")) {
            pem = !line.contains("-----END");
            out.push(format!("{lead}{MASK}"));
            continue;
        }
        if line.trim().is_empty() {
            out.push(line.to_string());
            continue;
        }
        let body = line.trim_start();
        if let Some(marker) = comment_marker(body) {
            // A commented-out line is masked as the line it was.
            let rest = &body[marker.len()..];
            let (shown, _) = mask_line(rest, &Context::default());
            out.push(format!("{lead}{marker}{shown}"));
            continue;
        }
        let entry = entry(line);
        // Which list item a line is in: an env pair or a flag's value ends with it.
        if let Some(col) = env {
            let ends = match &entry {
                Some(e) => e.col < col || (e.item && e.col <= col),
                None => indent < col,
            };
            if ends {
                env = None;
            }
        }
        if let Some(col) = flag.take()
            && let Some(item) = body.strip_prefix("- ")
            && indent == col
            && entry.is_none()
        {
            let item = item.trim();
            out.push(if item.is_empty() {
                line.to_string()
            } else {
                format!("{lead}- {MASK}")
            });
            continue;
        }
        if entry.is_none()
            && let Some(item) = body.strip_prefix("- ")
            && names_a_secret_flag(item.trim())
        {
            flag = Some(indent);
            out.push(line.to_string());
            continue;
        }
        let ctx = Context {
            secret_value: entry.as_ref().is_some_and(|e| {
                e.name == "value" && (env == Some(e.col) || env_named_below(&lines, i, e.col))
            }),
            secret_data: in_secret[i]
                && entry
                    .as_ref()
                    .is_some_and(|e| e.name == "data" || e.name == "stringData"),
        };
        if let Some(e) = &entry
            && e.name == "name"
            && key_names_secret(unquote(e.value.trim()))
        {
            env = Some(e.col);
        }
        let (shown, arm) = mask_line(line, &ctx);
        if let Some(b) = arm {
            block = Some(b);
        }
        out.push(shown);
    }
    out
}

/// True when anything of `text` would be masked in [`config_lines`] beyond the run's
/// registered secrets: a file that holds a secret by its content.
pub fn holds_secret(text: &str) -> bool {
    let none = Secrets::new();
    let shown = config_lines(text, &none);
    shown
        .iter()
        .zip(text.split('\n'))
        .any(|(s, l)| s != l.strip_suffix('\r').unwrap_or(l))
}

/// The names of `files` (a name, and the file to read) whose text holds a secret
/// ([`holds_secret`]): a file not text, or not readable as an input file, is not named.
pub fn files_holding_secrets<'a>(
    files: impl IntoIterator<Item = (&'a str, &'a std::path::Path)>,
) -> Vec<String> {
    files
        .into_iter()
        .filter(|(_, path)| {
            crate::input::read(path, crate::input::Kind::Text).is_ok_and(|bytes| {
                std::str::from_utf8(&bytes)
                    .is_ok_and(|text| !text.contains('\0') && holds_secret(text))
            })
        })
        .map(|(name, _)| name.to_string())
        .collect()
}

/// How a masked block ends.
#[derive(Debug, Clone, Copy)]
enum End {
    /// At the first line not indented past this column.
    Dedent(usize),
    /// At the line holding this delimiter (a TOML `"""` string, a quoted scalar).
    Closing(&'static str),
}

/// Lines after a secret key that belong to its value.
#[derive(Debug, Clone, Copy)]
struct Block {
    end: End,
    /// A mapping under the key: its keys are shown, its values masked.
    keys_kept: bool,
}

/// What is known of a line from those around it.
#[derive(Default)]
struct Context {
    /// Its value is a secret whatever its key (an env pair's `value`).
    secret_value: bool,
    /// It is a Secret manifest's `data` or `stringData`.
    secret_data: bool,
}

/// One `key: value` (or `key = value`, `"key": value`, `KEY=value`) line.
struct Entry<'a> {
    /// Everything before the value: indentation, `- `, the key, the separator.
    head: &'a str,
    /// The key without quotes.
    name: &'a str,
    /// The rest of the line.
    value: &'a str,
    /// The key's column.
    col: usize,
    /// The line starts a list item (`- key: value`).
    item: bool,
}

fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

fn comment_marker(body: &str) -> Option<&'static str> {
    ["#", "//"].into_iter().find(|m| body.starts_with(m))
}

fn unquote(s: &str) -> &str {
    let s = s.trim_end_matches(',').trim();
    s.strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .or_else(|| s.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')))
        .unwrap_or(s)
}

/// The line as a key and its value, when it is one.
fn entry(line: &str) -> Option<Entry<'_>> {
    let indent = indent_of(line);
    let mut at = indent;
    let mut item = false;
    while line[at..].starts_with("- ") {
        at += 2;
        item = true;
        at += indent_of(&line[at..]);
    }
    if line[at..].starts_with("export ") {
        at += "export ".len();
    }
    let body = &line[at..];
    let (name, key_len) = if let Some(q) = body.chars().next().filter(|c| *c == '"' || *c == '\'') {
        let close = body[1..].find(q)? + 1;
        (&body[1..close], close + 1)
    } else {
        let end = body.find([':', '=', ' ', '\t'])?;
        (&body[..end], end)
    };
    if name.is_empty() || name.contains(['{', '[', '}', ']', ',', '#']) {
        return None;
    }
    let after = &body[key_len..];
    let gap = after.len() - after.trim_start_matches([' ', '\t']).len();
    let sep = &after[gap..];
    let sep_len = if sep.starts_with('=') && !sep.starts_with("==") {
        1
    } else if let Some(rest) = sep.strip_prefix(':') {
        // YAML needs a space after `:` (`nginx:1.25` is a scalar); JSON does not.
        let quoted_key = key_len > name.len();
        if rest.is_empty() || rest.starts_with([' ', '\t']) || quoted_key {
            1
        } else {
            return None;
        }
    } else {
        return None;
    };
    // A bare YAML key has no space before its `:`; TOML and env files may.
    if gap > 0 && sep.starts_with(':') && key_len == name.len() {
        return None;
    }
    let value_at = at + key_len + gap + sep_len;
    Some(Entry {
        head: &line[..value_at],
        name,
        value: &line[value_at..],
        col: at,
        item,
    })
}

/// `line` shown, and the block its value opens, if its value is a secret that goes on.
fn mask_line(line: &str, ctx: &Context) -> (String, Option<Block>) {
    let Some(e) = entry(line) else {
        return (free(line), None);
    };
    if ctx.secret_data {
        return mask_value(&e, true);
    }
    if ctx.secret_value || key_names_secret(e.name) {
        return mask_value(&e, false);
    }
    let value = e.value.trim_start();
    let gap = &e.value[..e.value.len() - value.len()];
    (format!("{}{gap}{}", e.head, free(value)), None)
}

/// The value of `e`, a secret, masked; `all`: a mapping's values are masked whatever
/// their keys (a Secret's `data`).
fn mask_value(e: &Entry<'_>, all: bool) -> (String, Option<Block>) {
    let value = e.value.trim();
    let space = if e.value.starts_with([' ', '\t']) {
        " "
    } else {
        ""
    };
    let kept = |arm| (format!("{}{}", e.head, e.value), arm);
    let mapping = Some(Block {
        end: End::Dedent(e.col),
        keys_kept: true,
    });
    let scalar = Some(Block {
        end: End::Dedent(e.col),
        keys_kept: false,
    });
    let bare = value.trim_end_matches(',');
    if bare.is_empty() {
        // The value is on the lines below: a scalar or a mapping.
        return kept(mapping);
    }
    if bare.starts_with(['|', '>'])
        && bare[1..]
            .chars()
            .all(|c| matches!(c, '+' | '-') || c.is_ascii_digit())
    {
        return kept(scalar);
    }
    // Where the secret is read from (`{file: token}`, `{env: NAME}`) is not the secret.
    if !all && names_where_a_secret_is(bare) {
        return kept(None);
    }
    if all && bare.starts_with(['{', '[']) {
        return (
            format!("{}{space}{}", e.head, values_masked_flow(value)),
            None,
        );
    }
    if [
        "null", "~", "\"\"", "''", "{}", "[]", "true", "false", "{", "[",
    ]
    .contains(&bare)
    {
        return kept(if bare == "{" || bare == "[" {
            mapping
        } else {
            None
        });
    }
    let comma = if value.ends_with(',') { "," } else { "" };
    // A quoted value may go on to the lines below; a triple-quoted one (TOML) too.
    let mut arm = scalar;
    for (open, close) in [("\"\"\"", "\"\"\""), ("'''", "'''")] {
        if let Some(rest) = value.strip_prefix(open)
            && !rest.contains(close)
        {
            arm = Some(Block {
                end: End::Closing(close),
                keys_kept: false,
            });
        }
    }
    if let Some(q) = value.chars().next().filter(|c| *c == '"' || *c == '\'')
        && arm.is_some_and(|b| matches!(b.end, End::Dedent(_)))
        && closing_quote(value, q).is_none()
    {
        arm = Some(Block {
            end: End::Closing(if q == '"' { "\"" } else { "'" }),
            keys_kept: false,
        });
    }
    (format!("{}{space}{MASK}{comma}", e.head), arm)
}

/// True for a flow mapping that only says where a secret is read from: one `file` or
/// `env` entry (`{file: token}`, `{env: JOIN_TOKEN}`), as seedforge's config names its
/// secrets.
fn names_where_a_secret_is(value: &str) -> bool {
    let Some(inner) = value.strip_prefix('{').and_then(|v| v.strip_suffix('}')) else {
        return false;
    };
    let Some((key, place)) = inner.split_once(':') else {
        return false;
    };
    let place = unquote(place.trim());
    ["file", "env"].contains(&unquote(key.trim()))
        && !place.is_empty()
        && !place.contains([',', '{', '[', ':', ' '])
        && !shapes::any(place)
}

/// Where the quoted string `value` (starting with `q`) closes.
fn closing_quote(value: &str, q: char) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in value.char_indices().skip(1) {
        if escaped {
            escaped = false;
        } else if c == '\\' && q == '"' {
            escaped = true;
        } else if c == q {
            return Some(i);
        }
    }
    None
}

/// A line inside a mapping whose values are all secret: its key kept.
fn values_masked(line: &str) -> String {
    let lead = &line[..indent_of(line)];
    if let Some(e) = entry(line) {
        let value = e.value.trim();
        // A value that cannot be a secret says what changed.
        if [
            "null", "~", "true", "false", "\"\"", "''", "{}", "[]", "{", "[",
        ]
        .contains(&value.trim_end_matches(','))
        {
            return line.to_string();
        }
        if value.is_empty()
            || value == "|"
            || value == ">"
            || value.starts_with(['|', '>']) && value.len() <= 3
        {
            return line.to_string();
        }
        if value.starts_with(['{', '[']) {
            return format!("{} {}", e.head.trim_end(), values_masked_flow(value));
        }
        let comma = if value.ends_with(',') { "," } else { "" };
        return format!("{} {MASK}{comma}", e.head.trim_end());
    }
    let body = line.trim_start();
    if let Some(rest) = body.strip_prefix("- ") {
        if rest.trim().is_empty() {
            return line.to_string();
        }
        return format!("{lead}- {MASK}");
    }
    // Brackets alone are the shape of the text.
    if body
        .chars()
        .all(|c| matches!(c, '{' | '}' | '[' | ']' | ',' | ' '))
    {
        return line.to_string();
    }
    whole(line)
}

/// A flow mapping or sequence with every scalar masked (the keys of a mapping kept).
fn values_masked_flow(value: &str) -> String {
    pairs(value, true)
}

/// The line's content masked, its indentation kept.
fn whole(line: &str) -> String {
    format!("{}{MASK}", &line[..indent_of(line)])
}

/// Text with no key of its own (a list item, a value, a comment), masked by what is
/// inside it: keyed pairs, flags, shapes.
fn free(text: &str) -> String {
    let keyed = pairs(text, false);
    let flagged = flags(&keyed);
    shapes::mask(&flagged).into_owned()
}

/// `text` with the value of each `key: value`, `"key": value`, `key=value` inside it
/// masked when the key names a credential (or, `all`, in a flow collection whatever the
/// key), and the `value` of a flow mapping whose `name` names one.
fn pairs(text: &str, all: bool) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut depth = 0usize;
    // The depth of a flow mapping whose `name` names a credential.
    let mut env_at: Option<usize> = None;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match c {
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                if env_at == Some(depth) {
                    env_at = None;
                }
                depth = depth.saturating_sub(1);
            }
            _ => {}
        }
        let sep = match c {
            b'=' => {
                !matches!(b.get(i + 1), Some(b'=' | b'>' | b'~'))
                    && !matches!(
                        i.checked_sub(1).map(|p| b[p]),
                        Some(b'=' | b'!' | b'<' | b'>')
                    )
            }
            b':' => matches!(b.get(i + 1), None | Some(b' ' | b'"' | b'\'' | b'{' | b'[')),
            _ => false,
        };
        if !sep {
            i += 1;
            continue;
        }
        let key = key_before(text, i);
        let value_start = i + 1 + b[i + 1..].iter().take_while(|&&c| c == b' ').count();
        let value_end = value_end(b, value_start, depth > 0);
        let value = &text[value_start..value_end];
        let Some(key) = key else {
            i += 1;
            continue;
        };
        if key == "name" && depth > 0 && key_names_secret(unquote(value)) {
            env_at = Some(depth);
        }
        let secret = key_names_secret(key)
            || (all && depth > 0)
            || (key == "value" && env_at == Some(depth) && depth > 0);
        let nothing = ["\"\"", "''", "null", "true", "false"].contains(&value);
        if secret
            && !value.is_empty()
            && !nothing
            && value != MASK
            && !value.starts_with(['{', '['])
        {
            out.push_str(&text[copied..value_start]);
            out.push_str(MASK);
            copied = value_end;
            i = value_end;
            continue;
        }
        i += 1;
    }
    out.push_str(&text[copied..]);
    out
}

/// The key before the separator at `sep`: a quoted string or a run of name characters.
fn key_before(text: &str, sep: usize) -> Option<&str> {
    let head = text[..sep].trim_end_matches(' ');
    let b = head.as_bytes();
    let last = *b.last()?;
    if last == b'"' || last == b'\'' {
        let open = head[..head.len() - 1].rfind(last as char)?;
        return Some(&head[open + 1..head.len() - 1]);
    }
    let start = head
        .bytes()
        .rposition(|c| !(c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.')))
        .map_or(0, |p| p + 1);
    let key = &head[start..];
    (!key.is_empty()).then_some(key)
}

/// Where a value that starts at `start` ends: its closing quote, or the first character
/// that ends a value (inside a flow collection, a space does not).
fn value_end(b: &[u8], start: usize, in_flow: bool) -> usize {
    match b.get(start) {
        Some(&q @ (b'"' | b'\'')) => {
            let mut i = start + 1;
            while i < b.len() {
                if b[i] == b'\\' && q == b'"' {
                    i += 2;
                    continue;
                }
                if b[i] == q {
                    return i + 1;
                }
                i += 1;
            }
            b.len()
        }
        _ => {
            let mut i = start;
            while i < b.len() {
                let c = b[i];
                let stop = matches!(c, b',' | b';' | b'&' | b'}' | b']' | b'"' | b'\'' | b'\t')
                    || (c == b' ' && !in_flow)
                    || (c == b' ' && b.get(i + 1) == Some(&b'#'));
                if stop {
                    break;
                }
                i += 1;
            }
            // A value does not end with the spaces before the next entry.
            while i > start && b[i - 1] == b' ' {
                i -= 1;
            }
            i
        }
    }
}

/// True for a command-line flag that names a credential and has no value of its own
/// (`--password`, `"--token"`).
fn names_a_secret_flag(item: &str) -> bool {
    let item = unquote(item);
    item.starts_with('-') && !item.contains(['=', ' ']) && key_names_secret(item)
}

/// `text` with the value after each flag naming a credential masked (`--token abc`,
/// `["--password", "abc"]`); `--flag=value` is masked as a pair.
fn flags(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut i = 0;
    while i < b.len() {
        let boundary = i == 0 || matches!(b[i - 1], b' ' | b'"' | b'\'' | b'[' | b',' | b'(');
        if !(boundary && b[i] == b'-') {
            i += 1;
            continue;
        }
        let name_end = i + b[i..]
            .iter()
            .take_while(|&&c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
            .count();
        let name = &text[i..name_end];
        if !(name.len() > 2 && name.starts_with('-') && key_names_secret(name)) {
            i = name_end.max(i + 1);
            continue;
        }
        // The separators between the flag and its value: a space, quotes, a comma.
        let gap = b[name_end..]
            .iter()
            .take_while(|&&c| matches!(c, b' ' | b'"' | b'\'' | b','))
            .count();
        let value_start = name_end + gap;
        if gap == 0 || value_start >= b.len() || matches!(b[value_start], b'-' | b']' | b'#') {
            i = name_end;
            continue;
        }
        // The opening quote of the value is among the separators.
        let end = value_start
            + b[value_start..]
                .iter()
                .take_while(|&&c| !matches!(c, b' ' | b'"' | b'\'' | b',' | b']' | b')'))
                .count();
        let value = &text[value_start..end];
        if value.is_empty() || value == MASK {
            i = end.max(name_end);
            continue;
        }
        out.push_str(&text[copied..value_start]);
        out.push_str(MASK);
        copied = end;
        i = end;
    }
    out.push_str(&text[copied..]);
    out
}

/// Whether a later line of the same list item is a `name:` naming a credential (the
/// `value:` of an env pair written before its `name:`).
fn env_named_below(lines: &[String], i: usize, col: usize) -> bool {
    for line in &lines[i + 1..] {
        if line.trim().is_empty() {
            continue;
        }
        let Some(e) = entry(line) else {
            return false;
        };
        if e.col < col || (e.item && e.col <= col) {
            return false;
        }
        if e.col == col && e.name == "name" {
            return key_names_secret(unquote(e.value.trim()));
        }
    }
    false
}

/// For each line, whether it is in a YAML document (or a JSON file) whose `kind` is
/// `Secret`.
fn secret_documents(lines: &[String]) -> Vec<bool> {
    let mut out = vec![false; lines.len()];
    let mut start = 0;
    for end in 0..=lines.len() {
        let boundary = end == lines.len() || lines[end] == "---" || lines[end].starts_with("--- ");
        if !boundary {
            continue;
        }
        let secret = lines[start..end].iter().any(|l| {
            entry(l).is_some_and(|e| {
                e.name == "kind"
                    && unquote(e.value.trim()) == "Secret"
                    && (e.col == 0 || l.trim_start().starts_with('"'))
            })
        });
        if secret {
            out[start..end].iter_mut().for_each(|s| *s = true);
        }
        start = end + 1;
    }
    out
}

/// True when a key's name says its value is a secret, in any case or spelling: split
/// into words (at anything but letters and digits, and where a lower-case letter meets
/// an upper-case one), a word is one of [`SECRET_WORDS`]; or the name ends in `key` with
/// a word before it (`apiKey`, `joinKey`, `access_key`, `AccountKey`) other than one of
/// [`NOT_SECRET_KEYS`] (`publicKey`, `topologyKey`); or, written as one word, it
/// holds `password`, `passwd`, `secret` or `token`, or ends in one of [`SECRET_SUFFIXES`]
/// (`apikey`, `joinkey`).
pub fn key_names_secret(key: &str) -> bool {
    let mut words: Vec<String> = Vec::new();
    let mut word = String::new();
    let mut prev_lower = false;
    for c in key.chars() {
        if !c.is_ascii_alphanumeric() {
            if !word.is_empty() {
                words.push(std::mem::take(&mut word));
            }
            prev_lower = false;
            continue;
        }
        if c.is_ascii_uppercase() && prev_lower && !word.is_empty() {
            words.push(std::mem::take(&mut word));
        }
        prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        word.push(c.to_ascii_lowercase());
    }
    if !word.is_empty() {
        words.push(word);
    }
    let joined: String = words.concat();
    if words.iter().any(|w| SECRET_WORDS.contains(&w.as_str())) {
        return true;
    }
    if let [before @ .., last] = words.as_slice()
        && (last == "key" || last == "keys")
        && !before.is_empty()
        && !before.iter().any(|w| NOT_SECRET_KEYS.contains(&w.as_str()))
    {
        return true;
    }
    ["password", "passwd", "secret", "token"]
        .iter()
        .any(|w| joined.contains(w))
        || SECRET_SUFFIXES.iter().any(|s| joined.ends_with(s))
}

/// The words of a key's name that make its value a secret.
pub const SECRET_WORDS: &[&str] = &[
    "password",
    "passwords",
    "passwd",
    "passphrase",
    "pass",
    "pwd",
    "pw",
    "secret",
    "secrets",
    "token",
    "tokens",
    "apikey",
    "apikeys",
    "credential",
    "credentials",
    "cred",
    "creds",
    "auth",
    "authorization",
    "bearer",
    "cookie",
    "privatekey",
    "htpasswd",
    "salt",
    "cert",
    "certs",
    "certificate",
    "dockerconfigjson",
    "dockercfg",
    "signature",
    "sig",
    "jwt",
    "otp",
];

/// Words before a final `key` that make it a name, not a secret (`topologyKey`).
pub const NOT_SECRET_KEYS: &[&str] = &[
    "public",
    "pub",
    "topology",
    "label",
    "sort",
    "primary",
    "partition",
    "hash",
    "foreign",
    "routing",
    "cache",
    "lookup",
    "match",
    "selector",
    "field",
    "index",
    "map",
    "config",
    "authorized",
    "host",
    "known",
    "file",
    "ref",
    "name",
    "id",
];

/// Endings of a key written as one word that make its value a secret.
pub const SECRET_SUFFIXES: &[&str] = &[
    "apikey",
    "accesskey",
    "secretkey",
    "privatekey",
    "joinkey",
    "masterkey",
    "signingkey",
    "encryptionkey",
    "sessionkey",
    "clientkey",
    "authkey",
    "licensekey",
    "accountkey",
];

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
