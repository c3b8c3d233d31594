//! The one place secrets are kept out of what seedforge prints.
//!
//! Every secret value is registered here when it is read (the join token, registry
//! passwords); the binary passes every error message and log line through [`scrub`] before
//! it reaches the terminal. Types such as `SecretValue` already refuse to print themselves,
//! but a secret can also reach a message as plain text: a token file given by mistake as
//! an image list is quoted as a bad line, a template that puts the token where validation
//! quotes a key shows it as the key. Scrubbing the text itself covers those too.

use std::borrow::Cow;
use std::sync::{Mutex, PoisonError};

/// What replaces a secret in printed text.
pub const MASK: &str = "<redacted>";

/// Secrets shorter than this are not scrubbed piecewise (too likely to be ordinary words).
const MIN_PIECE: usize = 8;

static SECRETS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Registers a secret value: from now on [`scrub`] replaces it, its quoted (escaped) form
/// and each of its whitespace-separated words of 8 characters or more.
pub fn register(value: &str) {
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
    let mut secrets = SECRETS.lock().unwrap_or_else(PoisonError::into_inner);
    for form in forms {
        if !secrets.contains(&form) {
            secrets.push(form);
        }
    }
    // Longest first, so a secret that contains another is replaced whole.
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
}

/// What replaces the password of a URL (`user:***@host`).
pub const URL_MASK: &str = "***";

/// `text` with every registered secret replaced by [`MASK`] and the password of every
/// `scheme://user:password@` in it by [`URL_MASK`].
///
/// One pass over the text: at each position the longest registered secret that starts
/// there is replaced, and the mask itself is never scanned again (replacing secret after
/// secret would mask a short secret's letters inside an earlier `<redacted>`).
pub fn scrub(text: &str) -> Cow<'_, str> {
    let secrets = SECRETS.lock().unwrap_or_else(PoisonError::into_inner);
    let text = url(text);
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

/// A writer that scrubs each write before passing it on (log lines are written whole).
#[derive(Debug)]
pub struct ScrubbingWriter<W>(pub W);

impl<W: std::io::Write> std::io::Write for ScrubbingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        self.0.write_all(scrub(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_values_and_their_quoted_forms_are_replaced() {
        register("K10tok\"en-with-quote::server:abc");
        let plain = "error: x: invalid source \"K10tok\"en-with-quote::server:abc\"";
        assert!(!scrub(plain).contains("K10tok"), "{}", scrub(plain));
        let debug = format!("error: {:?}", "K10tok\"en-with-quote::server:abc");
        assert!(!scrub(&debug).contains("K10tok"), "{}", scrub(&debug));
        // Other tests in this process register their own (short) secrets, so only the
        // replacement of this one is checked.
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
        for (text, want) in cases {
            assert_eq!(url(text), want, "{text}");
            // Other tests in this process register short secrets of their own, which
            // `scrub` also masks: only the URL password's absence is checked through it.
            if want != text {
                assert!(!scrub(text).contains(":s3cret@"), "{text}");
            }
        }
        assert!(!scrub("http://me:s3cret@h.example/debian").contains("s3cret"));
        assert!(matches!(url("http://h/x"), Cow::Borrowed(_)));
    }

    #[test]
    fn a_short_secret_never_masks_inside_a_mask() {
        // "edac" is inside "<redacted>": masking secret after secret would mask the mask.
        register("edac");
        register("zq-longer-secret-value");
        assert_eq!(scrub("zq-longer-secret-value"), MASK);
        assert_eq!(
            scrub("zq-longer-secret-value:edac"),
            format!("{MASK}:{MASK}")
        );
    }
}
