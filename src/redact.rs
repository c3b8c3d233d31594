//! The one place secrets are kept out of what seedforge prints.
//!
//! A run owns one [`Secrets`]: every secret value is registered in it when it is read (the
//! join token, registry passwords), and the binary passes every error message, warning
//! and log line through [`Secrets::scrub`] before it reaches the terminal. Types such as
//! `SecretValue` already refuse to print themselves, but a secret can also reach a message
//! as plain text: a token file given by mistake as an image list is quoted as a bad line,
//! a template that puts the token where validation quotes a key shows it as the key.
//! Scrubbing the text itself covers those too. [`url`] masks the password of a URL and
//! needs no registry.

use std::borrow::Cow;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

/// What replaces a secret in printed text.
pub const MASK: &str = "<redacted>";

/// Secrets shorter than this are not scrubbed piecewise (too likely to be ordinary words).
const MIN_PIECE: usize = 8;

/// The secret values of one run, and what masks them. Clones share one set (the log
/// writer, the error report and the library code that reads secrets all hold the run's);
/// two values made by [`Secrets::new`] know nothing of each other.
#[derive(Clone, Default)]
pub struct Secrets {
    /// Every form of every registered value, longest first.
    forms: Arc<Mutex<Vec<String>>>,
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secrets({} form(s))", self.lock().len())
    }
}

impl Secrets {
    /// An empty set.
    pub fn new() -> Secrets {
        Secrets::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<String>> {
        self.forms.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers a secret value: from now on [`Secrets::scrub`] replaces it, its quoted
    /// (escaped) form and each of its whitespace-separated words of 8 characters or more.
    pub fn register(&self, value: &str) {
        if value.is_empty() {
            return;
        }
        let escaped = format!("{value:?}");
        let escaped = escaped[1..escaped.len() - 1].to_string();
        let mut forms = vec![value.to_string(), escaped];
        let words: Vec<&str> = value.split_whitespace().collect();
        if words.len() > 1 {
            forms.extend(
                words
                    .into_iter()
                    .filter(|w| w.len() >= MIN_PIECE)
                    .map(str::to_string),
            );
        }
        let mut secrets = self.lock();
        for form in forms {
            if !secrets.contains(&form) {
                secrets.push(form);
            }
        }
        // Longest first, so a secret that contains another is replaced whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    }

    /// `text` with every registered secret replaced by [`MASK`] and the password of every
    /// `scheme://user:password@` in it by [`URL_MASK`]; a path inside a staging folder of
    /// this process is written as the path it stands for ([`crate::leftovers::as_meant`]).
    ///
    /// One pass over the text: at each position the longest registered secret that starts
    /// there is replaced, and the mask itself is never scanned again (replacing secret
    /// after secret would mask a short secret's letters inside an earlier `<redacted>`).
    pub fn scrub<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let secrets = self.lock();
        // A path in a staging copy is shown as the path it stands for.
        let text = match crate::leftovers::as_meant(text) {
            Cow::Borrowed(t) => url(t),
            Cow::Owned(t) => Cow::Owned(url(&t).into_owned()),
        };
        if !secrets.iter().any(|s| text.contains(s.as_str())) {
            return text;
        }
        let mut out = String::with_capacity(text.len());
        let mut rest: &str = &text;
        while let Some(c) = rest.chars().next() {
            // `secrets` is sorted longest first, so the first match is the longest.
            match secrets.iter().find(|s| rest.starts_with(s.as_str())) {
                Some(secret) => {
                    out.push_str(MASK);
                    rest = &rest[secret.len()..];
                }
                None => {
                    out.push(c);
                    rest = &rest[c.len_utf8()..];
                }
            }
        }
        Cow::Owned(out)
    }
}

/// What replaces the password of a URL (`user:***@host`).
pub const URL_MASK: &str = "***";

/// An image reference or source as written, for a message: [`url`]'s masking, and a
/// `user:password@` before the first `/` (`me:s3cret@registry/app:1`) masked too.
pub fn reference(text: &str) -> Cow<'_, str> {
    // An image reference has `@` only after its repository path (`name@sha256:…`); an
    // `@` before the first `/` is a `user:password@host` someone wrote into it.
    let url_like = url(text);
    if url_like != text {
        return url_like;
    }
    // A host follows the `@` and a path the host: without a `/`, `name:tag@sha256:…`.
    let Some(first_slash) = text.find('/') else {
        return Cow::Borrowed(text);
    };
    match text[..first_slash].rfind('@') {
        Some(at) => match text[..at].find(':') {
            Some(colon) => Cow::Owned(format!("{}{URL_MASK}{}", &text[..=colon], &text[at..])),
            None => Cow::Borrowed(text),
        },
        None => Cow::Borrowed(text),
    }
}

/// `text` (one URL, or text holding URLs) with the password of each `scheme://user:password@`
/// replaced by [`URL_MASK`], for showing a URL: `http://me:s3cret@host/x` becomes
/// `http://me:***@host/x`. The user name stays (it says which account was used), as Go's
/// `URL.Redacted` keeps it.
pub fn url(text: &str) -> Cow<'_, str> {
    let mut out = String::new();
    // Up to here `text` is in `out` already (or, while `out` is empty, unchanged).
    let mut copied = 0;
    let mut from = 0;
    while let Some(found) = text[from..].find("://") {
        let start = from + found + 3;
        from = start;
        if !has_scheme(&text[..start - 3]) {
            continue;
        }
        // The authority ends where the path, query or fragment starts (`\` ends it for
        // the WHATWG parser too) or at what cannot be inside a URL as written in a message.
        let end = text[start..]
            .find(|c: char| {
                matches!(c, '/' | '?' | '#' | '\\' | '"' | '\'' | '<' | '>' | '`')
                    || c.is_whitespace()
                    || c.is_control()
            })
            .map_or(text.len(), |i| start + i);
        // The last `@` ends the user information, as in a URL parser.
        let Some(at) = text[start..end].rfind('@').map(|i| start + i) else {
            continue;
        };
        let Some(colon) = text[start..at].find(':').map(|i| start + i) else {
            continue;
        };
        out.push_str(&text[copied..=colon]);
        out.push_str(URL_MASK);
        copied = at;
        from = end;
    }
    if copied == 0 {
        return Cow::Borrowed(text);
    }
    out.push_str(&text[copied..]);
    Cow::Owned(out)
}

/// True when `before` ends in what can be a URL scheme (letters, digits, `+`, `-`, `.`,
/// at least one letter).
fn has_scheme(before: &str) -> bool {
    let scheme_len = before
        .bytes()
        .rev()
        .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
        .count();
    before[before.len() - scheme_len..]
        .bytes()
        .any(|b| b.is_ascii_alphabetic())
}

/// The lines of a config folder's text file (YAML, JSON, an env file, an image list) as
/// they may be shown to a person, each scrubbed as [`Secrets::scrub`] does and besides:
/// the value of every key that names a secret (`password:`, `token =`, `"apiKey":`,
/// `client_secret`, …, and the more-indented lines of such a key's block scalar) replaced
/// by [`MASK`]; every line of a PEM private key block; and each word that looks like a
/// credential (a k3s join token `K10…`, a long mixed-case base64 run). Hex digests are
/// kept: they pin content, they are not secret. One line out for each line in.
pub fn config_lines(text: &str, secrets: &Secrets) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_private_key = false;
    // The indent of a secret key whose value is a block below it.
    let mut secret_block: Option<usize> = None;
    for raw in text.split('\n') {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        let indent = line.len() - line.trim_start().len();
        let lead = &line[..indent];
        if let Some(key_indent) = secret_block {
            if line.trim().is_empty() || indent > key_indent {
                out.push(if line.trim().is_empty() {
                    line.to_string()
                } else {
                    format!("{lead}{MASK}")
                });
                continue;
            }
            secret_block = None;
        }
        if line.contains("-----BEGIN") && line.contains("PRIVATE KEY") {
            in_private_key = true;
        }
        if in_private_key {
            if line.contains("-----END") {
                in_private_key = false;
            }
            out.push(format!("{lead}{MASK}"));
            continue;
        }
        let scrubbed = secrets.scrub(line).into_owned();
        let (masked, block) = mask_secret_value(&scrubbed);
        if block {
            secret_block = Some(indent);
        }
        out.push(mask_credential_words(&masked));
    }
    out
}

/// `line` with the value of a key naming a secret masked; true when that value is a block
/// scalar (`|`, `>`) whose lines follow.
fn mask_secret_value(line: &str) -> (String, bool) {
    let body = line.trim_start();
    let lead = &line[..line.len() - body.len()];
    let body_key = body.strip_prefix("- ").unwrap_or(body);
    let body_key = body_key.strip_prefix("export ").unwrap_or(body_key);
    let prefix_len = body.len() - body_key.len();
    // `key: value`, `key = value`, `KEY=value`, `"key": value`.
    let sep = [": ", "=", ":"]
        .iter()
        .filter_map(|s| body_key.find(s).map(|i| (i, *s)))
        .filter(|(i, s)| *s != ":" || *i + 1 == body_key.len())
        .min_by_key(|(i, _)| *i);
    let Some((at, sep)) = sep else {
        return (line.to_string(), false);
    };
    let key = body_key[..at]
        .trim()
        .trim_matches(|c| c == '"' || c == '\'');
    if key.is_empty() || key.contains(char::is_whitespace) || !key_names_secret(key) {
        return (line.to_string(), false);
    }
    let value = body_key[at + sep.len()..].trim();
    let bare = value.trim_end_matches(',');
    if ["|", ">", "|-", ">-", "|+", ">+"].contains(&bare) {
        return (line.to_string(), true);
    }
    if bare.is_empty() || ["null", "~", "\"\"", "''", "{}", "[]"].contains(&bare) {
        return (line.to_string(), false);
    }
    let comma = if value.ends_with(',') { "," } else { "" };
    let after = &body_key[at + sep.len()..];
    let space = if sep == ": " || after.starts_with(' ') {
        " "
    } else {
        ""
    };
    (
        format!(
            "{lead}{}{}{}{space}{MASK}{comma}",
            &body[..prefix_len],
            &body_key[..at],
            sep.trim_end()
        ),
        false,
    )
}

/// True when a key's name says its value is a secret: a word of it (split at anything
/// but letters and digits, and where a lower-case letter meets an upper-case one) is a
/// password, secret, token, credential or the like, or it is a key of an API, an access,
/// a private key or a signature.
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
    const SECRET: &[&str] = &[
        "password",
        "passwd",
        "passphrase",
        "pass",
        "pwd",
        "secret",
        "secrets",
        "token",
        "tokens",
        "apikey",
        "credential",
        "credentials",
        "auth",
        "authorization",
        "bearer",
        "cookie",
        "privatekey",
        "htpasswd",
        "salt",
    ];
    const KEY_OF: &[&str] = &[
        "api",
        "access",
        "secret",
        "private",
        "signing",
        "encryption",
        "client",
        "master",
        "session",
    ];
    let joined = key.to_ascii_lowercase();
    words.iter().any(|w| SECRET.contains(&w.as_str()))
        || (words.iter().any(|w| w == "key") && words.iter().any(|w| KEY_OF.contains(&w.as_str())))
        || ["password", "passwd", "secret", "token"]
            .iter()
            .any(|w| joined.contains(w))
}

/// `line` with each word that looks like a credential masked: a k3s join token
/// (`K10` and hex), or 32 characters or more of base64's alphabet mixing upper- and
/// lower-case letters and digits (a hex digest, all one case, is kept).
fn mask_credential_words(line: &str) -> String {
    let is_token_char = |c: char| c.is_ascii_alphanumeric() || "+/=_-.:".contains(c);
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while !rest.is_empty() {
        let start = rest.find(is_token_char).unwrap_or(rest.len());
        out.push_str(&rest[..start]);
        rest = &rest[start..];
        let end = rest.find(|c| !is_token_char(c)).unwrap_or(rest.len());
        let word = &rest[..end];
        out.push_str(if looks_like_credential(word) {
            MASK
        } else {
            word
        });
        rest = &rest[end..];
    }
    out
}

fn looks_like_credential(word: &str) -> bool {
    let join_token = word
        .strip_prefix("K10")
        .is_some_and(|r| r.len() >= 16 && r.chars().take(16).all(|c| c.is_ascii_hexdigit()));
    if join_token {
        return true;
    }
    // A reference or a path is made of words: only a run without separators counts.
    let core = word.trim_matches(|c| c == ':' || c == '.' || c == '=');
    core.len() >= 32
        && !core.contains([':', '.', '/'])
        && core.chars().any(|c| c.is_ascii_uppercase())
        && core.chars().any(|c| c.is_ascii_lowercase())
        && core.chars().any(|c| c.is_ascii_digit())
}

/// A writer that scrubs each write with a run's [`Secrets`] before passing it on (log
/// lines are written whole).
#[derive(Debug)]
pub struct ScrubbingWriter<W> {
    secrets: Secrets,
    inner: W,
}

impl<W> ScrubbingWriter<W> {
    /// Writes to `inner` what is written to it, scrubbed with `secrets`.
    pub fn new(secrets: Secrets, inner: W) -> ScrubbingWriter<W> {
        ScrubbingWriter { secrets, inner }
    }
}

impl<W: std::io::Write> std::io::Write for ScrubbingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        self.inner.write_all(self.secrets.scrub(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_written_into_an_image_reference_is_masked() {
        assert_eq!(
            reference("me:s3cret@registry.example/x/y:1"),
            "me:***@registry.example/x/y:1"
        );
        assert_eq!(
            reference("docker://me:s3cret@registry.example/x/y:1"),
            "docker://me:***@registry.example/x/y:1"
        );
        for plain in [
            "nginx:1.25@sha256:0123",
            "registry.example:5000/x/y:1@sha256:0123",
            "oci:dir:ref",
        ] {
            assert_eq!(reference(plain), plain);
        }
    }

    #[test]
    fn registered_values_and_their_quoted_forms_are_replaced() {
        let secrets = Secrets::new();
        secrets.register("K10tok\"en-with-quote::server:abc");
        let plain = "error: x: invalid source \"K10tok\"en-with-quote::server:abc\"";
        assert_eq!(
            secrets.scrub(plain),
            format!("error: x: invalid source \"{MASK}\"")
        );
        let debug = format!("error: {:?}", "K10tok\"en-with-quote::server:abc");
        assert!(
            !secrets.scrub(&debug).contains("K10tok"),
            "{}",
            secrets.scrub(&debug)
        );
    }

    #[test]
    fn two_runs_secrets_are_independent() {
        let one = Secrets::new();
        let two = Secrets::new();
        one.register("first-run-token-value");
        two.register("second-run-token-value");
        let text = "first-run-token-value second-run-token-value";
        assert_eq!(one.scrub(text), format!("{MASK} second-run-token-value"));
        assert_eq!(two.scrub(text), format!("first-run-token-value {MASK}"));
        // A clone is the same set: what is registered through it is masked by both.
        let shared = one.clone();
        shared.register("registered-through-a-clone");
        assert_eq!(one.scrub("registered-through-a-clone"), MASK);
        assert_eq!(
            two.scrub("registered-through-a-clone"),
            "registered-through-a-clone"
        );
        assert_eq!(Secrets::new().scrub(text), text);
    }

    #[test]
    fn the_log_writer_scrubs_what_passes_through_it() {
        use std::io::Write;
        let secrets = Secrets::new();
        secrets.register("hunter2-is-the-password");
        let mut out = Vec::new();
        let mut w = ScrubbingWriter::new(secrets.clone(), &mut out);
        w.write_all(b"WARN login with hunter2-is-the-password failed\n")
            .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            format!("WARN login with {MASK} failed\n")
        );
        assert!(!format!("{secrets:?}").contains("hunter2"));
    }

    #[test]
    fn url_passwords_are_masked_wherever_a_url_is() {
        let cases = [
            (
                "http://me:s3cret@h.example/debian",
                "http://me:***@h.example/debian",
            ),
            ("https://me:p@ss@h:8443", "https://me:***@h:8443"),
            (
                "error: http://a:b@h/x: 404; then \"https://c:d@i?q\"",
                "error: http://a:***@h/x: 404; then \"https://c:***@i?q\"",
            ),
            ("ftp://me:@h/", "ftp://me:***@h/"),
            // No password, or no user information at all: unchanged.
            ("https://token@h.example/", "https://token@h.example/"),
            (
                "docker://127.0.0.1:5000/lib/a@sha256:00",
                "docker://127.0.0.1:5000/lib/a@sha256:00",
            ),
            ("http://h/p?a=b:c@d", "http://h/p?a=b:c@d"),
            ("no url: a:b@c", "no url: a:b@c"),
            ("://x:y@z", "://x:y@z"),
            ("µ http://ü:ö@h µ", "µ http://ü:***@h µ"),
        ];
        let secrets = Secrets::new();
        for (text, want) in cases {
            assert_eq!(url(text), want, "{text}");
            // Scrubbing masks URL passwords too, with nothing registered.
            assert_eq!(secrets.scrub(text), want, "{text}");
        }
        assert!(matches!(url("http://h/x"), Cow::Borrowed(_)));
    }

    #[test]
    fn a_config_files_secret_values_are_masked_and_the_rest_kept() {
        let secrets = Secrets::new();
        secrets.register("registered-token-value-1234");
        let text = "replicas: 3\npassword: hunter2\n  dbPassword: \"x\"\napiKey = abc\nAPI_TOKEN=zzz\n\"client_secret\": \"s\",\nimage: docker.io/a/b@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\nnote: registered-token-value-1234\ntoken: K10abcdef0123456789abcdef::server:abc\nkey: |\n  line one\n  line two\nafter: ok\n-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg\n-----END PRIVATE KEY-----\nblob: aGVsbG8gd29ybGQgdGhpcyBpcyBBIGxvbmcgc2VjcmV0MTIz\npasswordFile: token.txt\nempty_password: \"\"\nauthor: me\n";
        let lines = config_lines(text, &secrets);
        let joined = lines.join("\n");
        for hidden in [
            "hunter2",
            "\"x\"",
            "abc\n",
            "zzz",
            "\"s\"",
            "registered-token-value-1234",
            "K10abcdef",
            "MIIEvQIBADANBg",
            "aGVsbG8gd29y",
            "token.txt",
        ] {
            assert!(!joined.contains(hidden), "{hidden} shown: {joined}");
        }
        for shown in [
            "replicas: 3",
            "password: <redacted>",
            "  dbPassword: <redacted>",
            "apiKey = <redacted>",
            "API_TOKEN=<redacted>",
            "\"client_secret\": <redacted>,",
            "@sha256:0123456789abcdef",
            "after: ok",
            "empty_password: \"\"",
            "author: me",
        ] {
            assert!(joined.contains(shown), "{shown} not shown: {joined}");
        }
        // `key: |` is not a secret key by itself; a block under a secret one is masked.
        assert!(joined.contains("  line one"), "{joined}");
        let block = config_lines("token: |\n  abc\n  def\nnext: 1", &secrets);
        assert_eq!(
            block,
            ["token: |", "  <redacted>", "  <redacted>", "next: 1"]
        );
        assert_eq!(lines.len(), text.split('\n').count());
        assert!(key_names_secret("registryPassword"));
        assert!(key_names_secret("client-secret"));
        assert!(key_names_secret("accessKey"));
        assert!(!key_names_secret("keyFile"));
        assert!(!key_names_secret("replicas"));
        assert!(!key_names_secret("passthrough"));
    }

    #[test]
    fn a_short_secret_never_masks_inside_a_mask() {
        // "edac" is inside "<redacted>": masking secret after secret would mask the mask.
        let secrets = Secrets::new();
        secrets.register("edac");
        secrets.register("zq-longer-secret-value");
        assert_eq!(secrets.scrub("zq-longer-secret-value"), MASK);
        assert_eq!(
            secrets.scrub("zq-longer-secret-value:edac"),
            format!("{MASK}:{MASK}")
        );
    }
}
