//! The lexer: template text cut into text and the tokens of actions, as Go's
//! `text/template/parse` lexer does (trim markers, comments, raw strings, character
//! constants, numbers, newlines inside actions).

/// A token's kind.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Tok {
    /// Plain text between actions (already trimmed by `{{-` and `-}}`).
    Text(String),
    /// `{{`.
    Left,
    /// `}}`.
    Right,
    /// Spaces inside an action (they separate arguments).
    Space,
    /// An identifier: a function name or a keyword (`if`, `range`, ...), `true`, `false`, `nil`.
    Ident(String),
    /// `.Name` (the dot excluded).
    Field(String),
    /// `$` or `$name` (the `$` included).
    Var(String),
    /// `.` alone.
    Dot,
    /// A quoted or raw string: its value and its text as written.
    Str(String, String),
    /// A character constant: its value.
    Char(char),
    /// A number as written.
    Number(String),
    /// `|`.
    Pipe,
    /// `(`.
    LParen,
    /// `)`.
    RParen,
    /// `:=`.
    Declare,
    /// `=`.
    Assign,
    /// `,`.
    Comma,
    /// Any other printable ASCII character (`@`, `#`, `{`): Go's lexer passes it on and
    /// its parser refuses it where it stands.
    Punct(char),
}

/// A token and the byte offset where it starts.
#[derive(Clone, Debug)]
pub(crate) struct Token {
    pub tok: Tok,
    pub pos: usize,
}

/// A lexing error: where and what.
#[derive(Debug)]
pub(crate) struct LexError {
    pub pos: usize,
    pub message: String,
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_alnum(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

/// Cuts `src` into tokens with the delimiters `left` and `right`.
pub(crate) fn lex(src: &str, left: &str, right: &str) -> Result<Vec<Token>, LexError> {
    let mut out = Vec::new();
    lex_into(src, left, right, &mut out).map(|()| out)
}

/// [`lex`], the tokens in `out`: those before an error stay there.
pub(crate) fn lex_into(
    src: &str,
    left: &str,
    right: &str,
    out: &mut Vec<Token>,
) -> Result<(), LexError> {
    let b = src.as_bytes();
    let mut i = 0;
    let mut trim_next_text = false;
    while i < b.len() {
        // Text up to the next left delimiter.
        let start = i;
        let next = src[i..].find(left).map(|k| i + k);
        let end = next.unwrap_or(b.len());
        let mut text = &src[start..end];
        if trim_next_text {
            text = text.trim_start_matches([' ', '\t', '\r', '\n']);
            trim_next_text = false;
        }
        let Some(open) = next else {
            if !text.is_empty() {
                out.push(Token {
                    tok: Tok::Text(text.to_string()),
                    pos: start,
                });
            }
            break;
        };
        // A left trim marker: "{{- " (the dash followed by a space).
        let after = open + left.len();
        let trim_left =
            b.get(after) == Some(&b'-') && b.get(after + 1).is_some_and(|c| is_space(*c));
        if trim_left {
            text = text.trim_end_matches([' ', '\t', '\r', '\n']);
        }
        if !text.is_empty() {
            out.push(Token {
                tok: Tok::Text(text.to_string()),
                pos: start,
            });
        }
        i = if trim_left { after + 2 } else { after };
        // A comment: {{/* ... */}}.
        if src[i..].starts_with("/*") {
            let Some(close) = src[i + 2..].find("*/") else {
                return Err(LexError {
                    pos: open,
                    message: "unclosed comment".into(),
                });
            };
            let mut j = i + 2 + close + 2;
            let mut trim_right = false;
            if b.get(j).is_some_and(|c| is_space(*c))
                && src[j + 1..].starts_with('-')
                && src[j + 2..].starts_with(right)
            {
                trim_right = true;
                j += 2;
            }
            if !src[j..].starts_with(right) {
                return Err(LexError {
                    pos: open,
                    message: "comment ends before closing delimiter".into(),
                });
            }
            i = j + right.len();
            trim_next_text = trim_right;
            continue;
        }
        out.push(Token {
            tok: Tok::Left,
            pos: open,
        });
        // Inside the action.
        let mut parens = 0i32;
        loop {
            if i >= b.len() {
                return Err(LexError {
                    pos: open,
                    message: "unclosed action".into(),
                });
            }
            // A right trim marker " -}}" or the right delimiter.
            if is_space(b[i]) {
                let s = i;
                while i < b.len() && is_space(b[i]) {
                    i += 1;
                }
                if src[i..].starts_with('-') && src[i + 1..].starts_with(right) {
                    if parens > 0 {
                        return Err(LexError {
                            pos: s,
                            message: "unclosed left paren".into(),
                        });
                    }
                    // Go places the delimiter after the marker's dash.
                    out.push(Token {
                        tok: Tok::Right,
                        pos: i + 1,
                    });
                    i += 1 + right.len();
                    trim_next_text = true;
                    break;
                }
                out.push(Token {
                    tok: Tok::Space,
                    pos: s,
                });
                continue;
            }
            if src[i..].starts_with(right) {
                if parens > 0 {
                    return Err(LexError {
                        pos: i,
                        message: "unclosed left paren".into(),
                    });
                }
                out.push(Token {
                    tok: Tok::Right,
                    pos: i,
                });
                i += right.len();
                break;
            }
            let c = src[i..].chars().next().unwrap_or('\0');
            let pos = i;
            match c {
                '=' => {
                    out.push(Token {
                        tok: Tok::Assign,
                        pos,
                    });
                    i += 1;
                }
                ':' => {
                    if b.get(i + 1) != Some(&b'=') {
                        return Err(LexError {
                            pos,
                            message: "expected :=".into(),
                        });
                    }
                    out.push(Token {
                        tok: Tok::Declare,
                        pos,
                    });
                    i += 2;
                }
                '|' => {
                    out.push(Token {
                        tok: Tok::Pipe,
                        pos,
                    });
                    i += 1;
                }
                ',' => {
                    out.push(Token {
                        tok: Tok::Comma,
                        pos,
                    });
                    i += 1;
                }
                '(' => {
                    parens += 1;
                    out.push(Token {
                        tok: Tok::LParen,
                        pos,
                    });
                    i += 1;
                }
                ')' => {
                    parens -= 1;
                    out.push(Token {
                        tok: Tok::RParen,
                        pos,
                    });
                    if parens < 0 {
                        return Err(LexError {
                            pos,
                            message: format!("unexpected right paren {}", go_rune(')')),
                        });
                    }
                    i += 1;
                }
                '"' => {
                    let (s, n) = lex_quote(&src[i..]).map_err(|m| LexError { pos, message: m })?;
                    out.push(Token {
                        tok: Tok::Str(s, src[i..i + n].to_string()),
                        pos,
                    });
                    i += n;
                }
                '`' => {
                    let Some(close) = src[i + 1..].find('`') else {
                        return Err(LexError {
                            pos,
                            message: "unterminated raw quoted string".into(),
                        });
                    };
                    out.push(Token {
                        tok: Tok::Str(
                            src[i + 1..i + 1 + close].to_string(),
                            src[i..i + close + 2].to_string(),
                        ),
                        pos,
                    });
                    i += close + 2;
                }
                '\'' => {
                    let (ch, n) = lex_char(&src[i..]).map_err(|m| LexError { pos, message: m })?;
                    out.push(Token {
                        tok: Tok::Char(ch),
                        pos,
                    });
                    i += n;
                }
                '$' => {
                    let mut j = i + 1;
                    while let Some(ch) = src[j..].chars().next() {
                        if !is_alnum(ch) {
                            break;
                        }
                        j += ch.len_utf8();
                    }
                    out.push(Token {
                        tok: Tok::Var(src[i..j].to_string()),
                        pos,
                    });
                    i = j;
                }
                '.' => {
                    // A number like .5, a field, or dot.
                    if b.get(i + 1).is_some_and(|d| d.is_ascii_digit()) {
                        let n = scan_number_or_complex(&src[i..])
                            .map_err(|m| LexError { pos, message: m })?;
                        out.push(Token {
                            tok: Tok::Number(src[i..i + n].to_string()),
                            pos,
                        });
                        i += n;
                        continue;
                    }
                    let mut j = i + 1;
                    while let Some(ch) = src[j..].chars().next() {
                        if !is_alnum(ch) {
                            break;
                        }
                        j += ch.len_utf8();
                    }
                    if j == i + 1 {
                        out.push(Token { tok: Tok::Dot, pos });
                    } else {
                        out.push(Token {
                            tok: Tok::Field(src[i + 1..j].to_string()),
                            pos,
                        });
                    }
                    i = j;
                }
                '+' | '-' | '0'..='9' => {
                    let n = scan_number_or_complex(&src[i..])
                        .map_err(|m| LexError { pos, message: m })?;
                    out.push(Token {
                        tok: Tok::Number(src[i..i + n].to_string()),
                        pos,
                    });
                    i += n;
                }
                c if is_alnum(c) => {
                    let mut j = i;
                    while let Some(ch) = src[j..].chars().next() {
                        if !is_alnum(ch) {
                            break;
                        }
                        j += ch.len_utf8();
                    }
                    out.push(Token {
                        tok: Tok::Ident(src[i..j].to_string()),
                        pos,
                    });
                    i = j;
                }
                c if c.is_ascii() && !c.is_ascii_control() => {
                    out.push(Token {
                        tok: Tok::Punct(c),
                        pos,
                    });
                    i += 1;
                }
                c => {
                    return Err(LexError {
                        pos,
                        message: format!("unrecognized character in action: {}", go_rune(c)),
                    });
                }
            }
        }
    }
    Ok(())
}

/// A rune as Go's `%#U` prints it: `U+0029 ')'`, or `U+0001` when it does not print.
fn go_rune(c: char) -> String {
    if c.is_control() || (c.is_whitespace() && c != ' ') {
        format!("U+{:04X}", c as u32)
    } else {
        format!("U+{:04X} '{c}'", c as u32)
    }
}

/// A number's or a complex constant's length at the start of `s`: a number followed by a
/// sign is a complex constant (`1+2i`), the second number ending in `i`, as Go lexes it.
fn scan_number_or_complex(s: &str) -> Result<usize, String> {
    let n = scan_number(s)?;
    if !matches!(s.as_bytes().get(n), Some(b'+' | b'-')) {
        return Ok(n);
    }
    match scan_number(&s[n..]) {
        Ok(m) if s[..n + m].ends_with('i') => Ok(n + m),
        _ => {
            let end = s[n + 1..]
                .find(|c: char| !(is_alnum(c) || c == '.'))
                .map_or(s.len(), |k| n + 1 + k);
            Err(format!("bad number syntax: {:?}", &s[..end]))
        }
    }
}

/// A number's length at the start of `s`, as Go scans it (sign, base prefix, digits with
/// underscores, fraction, exponent, imaginary suffix); an error for "bad number syntax".
pub(crate) fn scan_number(s: &str) -> Result<usize, String> {
    let b = s.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        i += 1;
    }
    let mut digits: &[u8] = b"0123456789_";
    let mut exp: &[u8] = b"eE";
    if b.get(i) == Some(&b'0')
        && b.get(i + 1)
            .is_some_and(|c| matches!(c, b'x' | b'X' | b'o' | b'O' | b'b' | b'B'))
    {
        i += 2;
        match b[i - 1] {
            b'x' | b'X' => {
                digits = b"0123456789abcdefABCDEF_";
                exp = b"pP";
            }
            b'o' | b'O' => digits = b"01234567_",
            _ => digits = b"01_",
        }
    }
    let start = i;
    while i < b.len() && digits.contains(&b[i]) {
        i += 1;
    }
    if i < b.len() && b[i] == b'.' {
        i += 1;
        while i < b.len() && digits.contains(&b[i]) {
            i += 1;
        }
    }
    if i < b.len() && exp.contains(&b[i]) {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
            i += 1;
        }
    }
    if i < b.len() && b[i] == b'i' {
        i += 1;
    }
    let next = s[i..].chars().next();
    let _ = start;
    if !s[..i].bytes().any(|c| c.is_ascii_digit()) {
        return Err(format!("bad number syntax: {:?}", &s[..i.max(1)]));
    }
    if next.is_some_and(|c| is_alnum(c) || c == '.') {
        let end = s[i..]
            .find(|c: char| !(is_alnum(c) || c == '.'))
            .map_or(s.len(), |k| i + k);
        return Err(format!("bad number syntax: {:?}", &s[..end]));
    }
    Ok(i)
}

/// A double-quoted string at the start of `s`: its value and length.
fn lex_quote(s: &str) -> Result<(String, usize), String> {
    let mut out = String::new();
    let mut it = s.char_indices().skip(1).peekable();
    while let Some((i, c)) = it.next() {
        match c {
            '"' => return Ok((out, i + 1)),
            '\n' => return Err("unterminated quoted string".into()),
            '\\' => {
                let (_, e) = it.next().ok_or("unterminated quoted string")?;
                let ch = unescape(e, &mut it, '"')?;
                match ch {
                    Esc::Char(ch) => out.push(ch),
                    Esc::Byte(b) => {
                        // A byte escape: kept as the character of that code when it is ASCII.
                        out.push(char::from(b));
                    }
                }
            }
            c => out.push(c),
        }
    }
    Err("unterminated quoted string".into())
}

enum Esc {
    Char(char),
    Byte(u8),
}

fn hex_digits<I: Iterator<Item = (usize, char)>>(it: &mut I, n: usize) -> Result<u32, String> {
    let mut v = 0u32;
    for _ in 0..n {
        let (_, c) = it.next().ok_or("invalid syntax")?;
        v = v * 16 + c.to_digit(16).ok_or("invalid syntax")?;
    }
    Ok(v)
}

fn unescape<I: Iterator<Item = (usize, char)>>(
    e: char,
    it: &mut I,
    quote: char,
) -> Result<Esc, String> {
    Ok(Esc::Char(match e {
        'a' => '\x07',
        'b' => '\x08',
        'f' => '\x0c',
        'n' => '\n',
        'r' => '\r',
        't' => '\t',
        'v' => '\x0b',
        '\\' => '\\',
        'x' => return Ok(Esc::Byte(hex_digits(it, 2)? as u8)),
        'u' => char::from_u32(hex_digits(it, 4)?).ok_or("invalid syntax")?,
        'U' => char::from_u32(hex_digits(it, 8)?).ok_or("invalid syntax")?,
        '0'..='7' => {
            let mut v = e.to_digit(8).unwrap_or(0);
            for _ in 0..2 {
                let (_, c) = it.next().ok_or("invalid syntax")?;
                v = v * 8 + c.to_digit(8).ok_or("invalid syntax")?;
            }
            if v > 255 {
                return Err("invalid syntax".into());
            }
            return Ok(Esc::Byte(v as u8));
        }
        c if c == quote => c,
        _ => return Err("invalid syntax".into()),
    }))
}

/// A character constant at the start of `s`: its value and length. As Go's lexer, up to
/// the closing quote (a newline or the end before it: unterminated), then decoded as Go's
/// parser decodes it (one character or escape, or malformed).
fn lex_char(s: &str) -> Result<(char, usize), String> {
    let mut it = s.char_indices().skip(1);
    let end = loop {
        match it.next() {
            Some((_, '\\')) => match it.next() {
                Some((_, c)) if c != '\n' => {}
                _ => return Err("unterminated character constant".into()),
            },
            None | Some((_, '\n')) => return Err("unterminated character constant".into()),
            Some((i, '\'')) => break i + 1,
            Some(_) => {}
        }
    };
    let text = &s[..end];
    let malformed = || format!("malformed character constant: {text}");
    let mut it = text.char_indices().skip(1);
    let ch = match it.next() {
        Some((_, '\\')) => {
            let (_, e) = it.next().ok_or_else(malformed)?;
            match unescape(e, &mut it, '\'')? {
                Esc::Char(c) => c,
                Esc::Byte(b) => char::from(b),
            }
        }
        Some((_, c)) if c != '\'' => c,
        _ => return Err(malformed()),
    };
    match it.next() {
        Some((i, '\'')) if i + 1 == end => Ok((ch, end)),
        _ => Err(malformed()),
    }
}

/// The line (from 1) and the column (bytes from the line's start, from 0, as Go counts
/// them) of a byte offset.
pub(crate) fn line_col(src: &str, pos: usize) -> (usize, usize) {
    let pos = pos.min(src.len());
    let before = &src.as_bytes()[..pos];
    let line = 1 + before.iter().filter(|c| **c == b'\n').count();
    let col = before
        .iter()
        .rposition(|c| *c == b'\n')
        .map_or(pos, |k| pos - k - 1);
    (line, col)
}
