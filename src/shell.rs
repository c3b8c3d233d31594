//! The one way a value goes into a shell script: [`quote`] makes it a single word that a
//! POSIX shell (sh, dash, bash) reads back as exactly the value, whatever it holds.
//!
//! Every script seedforge writes (a bundle's `install.sh`, the node templates through the
//! `sh` tera filter) embeds values only through [`quote`], at a word position: an
//! assignment's value or a command's argument, never inside a double-quoted string or a
//! comment. A value made only of characters no shell treats specially is left as it is,
//! so ordinary paths and names read as they always did; anything else is single-quoted,
//! the only quoting in which nothing (`$`, backquotes, `\`, newlines) is special.

use std::borrow::Cow;
use std::ffi::OsStr;

/// Why a value cannot go into a shell script.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuoteError {
    /// A NUL byte: no shell word (and no argument of a process) can hold one.
    #[error("{0:?} holds a NUL byte, which no shell word can carry")]
    Nul(String),
    /// Not UTF-8: scripts are written as UTF-8 text.
    #[error("{0:?} is not UTF-8")]
    NotUtf8(String),
}

/// True for the characters that need no quoting anywhere in a word (as Python's
/// `shlex.quote` decides): letters, digits and `@%+=:,./_-`.
fn plain(c: char) -> bool {
    c.is_ascii_alphanumeric() || "@%+=:,./_-".contains(c)
}

/// `value` as one shell word: unchanged when every character is plain (and it is not
/// empty), else in single quotes with each `'` written as `'\''`.
pub fn quote(value: &str) -> Result<Cow<'_, str>, QuoteError> {
    if value.contains('\0') {
        return Err(QuoteError::Nul(value.to_string()));
    }
    if !value.is_empty() && value.chars().all(plain) {
        return Ok(Cow::Borrowed(value));
    }
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for c in value.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    Ok(Cow::Owned(out))
}

/// [`quote`] for an OS string (a path, an argument): one that is not UTF-8 is refused.
pub fn quote_os(value: &OsStr) -> Result<Cow<'_, str>, QuoteError> {
    let text = value
        .to_str()
        .ok_or_else(|| QuoteError::NotUtf8(value.to_string_lossy().into_owned()))?;
    quote(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    /// Strings a script must carry through untouched.
    const HOSTILE: &[&str] = &[
        "",
        " ",
        "plain",
        "/opt/my bundle",
        "x'; touch /tmp/pwned; '",
        "'",
        "''",
        "\"",
        "$(touch /tmp/pwned)",
        "`touch /tmp/pwned`",
        "${HOME}",
        "$HOME",
        "a\nb",
        "\n",
        "trailing\n\n",
        "back\\slash\\",
        "\\'",
        "*",
        "?[a]",
        "-n",
        "-e \\x41",
        "--",
        "~",
        "~root",
        "a b\tc",
        "#comment",
        "a;b|c&d>e<f",
        "{a,b}",
        "!x",
        "é ünïcode ☃",
        "=",
        "%s%d",
    ];

    #[test]
    fn plain_values_are_left_as_they_are() {
        for v in [
            "/var/log/k3s-bootstrap.log",
            "node-1",
            "fd00::1",
            "a=b,c@d%e+f",
        ] {
            assert_eq!(quote(v).unwrap(), v);
        }
        assert_eq!(quote("").unwrap(), "''");
        assert_eq!(quote("it's").unwrap(), "'it'\\''s'");
        assert_eq!(quote("a b").unwrap(), "'a b'");
    }

    #[test]
    fn nul_and_non_utf8_are_refused() {
        assert!(matches!(quote("a\0b"), Err(QuoteError::Nul(_))));
        use std::os::unix::ffi::OsStrExt;
        assert!(matches!(
            quote_os(OsStr::from_bytes(b"a\xffb")),
            Err(QuoteError::NotUtf8(_))
        ));
        assert_eq!(quote_os(OsStr::new("a b")).unwrap(), "'a b'");
    }

    /// Each shell reads each quoted value back as the value itself: as an argument and as
    /// an assignment, and nothing in it runs.
    #[test]
    fn every_shell_reads_back_the_value() {
        let shells: Vec<&str> = ["sh", "dash", "bash"]
            .into_iter()
            .filter(|s| Command::new(s).arg("-c").arg(":").output().is_ok())
            .collect();
        assert!(!shells.is_empty());
        for shell in shells {
            for v in HOSTILE {
                let q = quote(v).unwrap();
                for script in [format!("printf %s {q}"), format!("v={q}; printf %s \"$v\"")] {
                    let out = Command::new(shell)
                        .arg("-c")
                        .arg(&script)
                        .env_remove("ENV")
                        .output()
                        .unwrap();
                    assert!(out.status.success(), "{shell}: {script:?}: {out:?}");
                    assert_eq!(
                        String::from_utf8(out.stdout).unwrap(),
                        *v,
                        "{shell} read {script:?} back wrong"
                    );
                }
            }
        }
    }
}
