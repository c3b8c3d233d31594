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

/// `text` with every registered secret replaced by [`MASK`].
pub fn scrub(text: &str) -> Cow<'_, str> {
    let secrets = SECRETS.lock().unwrap_or_else(PoisonError::into_inner);
    let mut out = Cow::Borrowed(text);
    for secret in secrets.iter() {
        if out.contains(secret.as_str()) {
            out = Cow::Owned(out.replace(secret.as_str(), MASK));
        }
    }
    out
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
}
