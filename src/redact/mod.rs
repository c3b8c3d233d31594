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
//!
//! A config file's text shown to a person (the diff of the config inputs a delta records,
//! and so its page, `verify` and the `--json` documents that carry it) passes through
//! [`config_lines`]: secrets masked by meaning and by shape (`config.rs`, `shapes.rs`).
//! Any string from outside printed on a terminal or a page passes through [`inert`]:
//! nothing in it acts on the screen (`inert.rs`).

mod config;
mod inert;
#[cfg(test)]
pub mod samples;
mod shapes;

pub use config::{
    NOT_SECRET_KEYS, SECRET_SUFFIXES, SECRET_WORDS, config_lines, files_holding_secrets,
    holds_secret, key_names_secret,
};
pub use inert::inert;

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
        // What follows the `@` is a host (`docker://NAME[:TAG|@DIGEST]`, a synopsis, is not).
        let host = &text[at + 1..end];
        if host.contains(']') && !host.starts_with('[') {
            continue;
        }
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
            (
                "docker://NAME[:TAG|@DIGEST]   an image",
                "docker://NAME[:TAG|@DIGEST]   an image",
            ),
            ("http://a:b@[::1]:80/", "http://a:***@[::1]:80/"),
            ("(http://a:b@h)", "(http://a:***@h)"),
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
