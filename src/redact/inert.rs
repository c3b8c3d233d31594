//! Text from outside (a config's line, a file name, `delta --reason`, a chart's field)
//! shown as what it is, never as what it would do to the screen showing it. A terminal
//! acts on control characters (an ESC sequence can move the cursor, erase the line that
//! named an added image, retitle the window) and a terminal or a browser reorders text
//! around the Unicode bidirectional controls (U+202E shows what follows right to left),
//! so the reviewer could read something other than what the record holds. [`inert`]
//! makes each of them visible: a C0 control or DEL as its escape (`\x1b`, `\n`, `\t`),
//! a C1 control, a bidi control, a zero-width character or a line or paragraph separator
//! as its code point (`<U+202E>`). Everything else, non-ASCII letters included, is left
//! as it is. JSON output needs none of it: serde_json escapes the control characters
//! itself, and a JSON string holds the record's characters exactly.

use std::borrow::Cow;

/// `text` with every character that could act on a terminal or reorder the text shown
/// made visible (see the module's words); borrowed when there is none.
pub fn inert(text: &str) -> Cow<'_, str> {
    if !text.chars().any(acts) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if !acts(c) {
            out.push(c);
            continue;
        }
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push_str(&format!("<U+{:04X}>", c as u32)),
        }
    }
    Cow::Owned(out)
}

/// True for a character a terminal acts on or one that reorders or hides text.
fn acts(c: char) -> bool {
    let u = c as u32;
    u < 0x20
        || (0x7f..=0x9f).contains(&u)
        // Bidi: the Arabic letter mark, the marks and embeddings, the isolates.
        || u == 0x061c
        || (0x200b..=0x200f).contains(&u)
        || (0x2028..=0x202e).contains(&u)
        || (0x2060..=0x2069).contains(&u)
        || u == 0xfeff
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_and_bidi_controls_are_shown_not_obeyed() {
        assert_eq!(
            inert("a\u{1b}[2K\u{1b}]0;t\u{7}b"),
            "a\\x1b[2K\\x1b]0;t\\x07b"
        );
        assert_eq!(
            inert("abc\u{202e}fed\u{2066}x\u{2069}"),
            "abc<U+202E>fed<U+2066>x<U+2069>"
        );
        assert_eq!(inert("l1\nl2\r\tx\u{0}"), "l1\\nl2\\r\\tx\\x00");
        assert_eq!(
            inert("\u{9b}31m\u{200b}\u{feff}"),
            "<U+009B>31m<U+200B><U+FEFF>"
        );
        for plain in [
            "",
            "image: registry.example/a@sha256:00",
            "Grüße, 東京, שלום",
        ] {
            assert!(matches!(inert(plain), Cow::Borrowed(_)), "{plain}");
        }
    }
}
