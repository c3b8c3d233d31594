//! go-yaml's block emitter, as `toYaml` (go-yaml v2 through `sigs.k8s.io/yaml`) and
//! `toYamlPretty` (go-yaml v3, indent 2) write a value: the same keys in the same order,
//! each string in the style go-yaml picks for it (plain, single-quoted, double-quoted or
//! literal) and folded where go-yaml folds it, so that text taken of the output (a
//! `sha256sum` checksum, a ConfigMap's data) is Helm's to the byte.

use super::resolve::plain_reads_as_string;
use std::cmp::Ordering;

/// What differs between the two emitters `toYaml` and `toYamlPretty` use.
#[derive(Clone, Copy)]
pub(super) struct Dialect {
    /// Where a long plain or quoted string is folded: go-yaml v2's 80 columns; v3 never.
    width: usize,
    /// A sequence under a mapping key is indented under it (v3 with indent 2), rather than
    /// starting at the key's column (v2).
    indent_sequences: bool,
    /// Numbers came through JSON (v2, by way of `sigs.k8s.io/yaml`): an integral float
    /// reads back as an integer.
    json_numbers: bool,
}

pub(super) const V2: Dialect = Dialect {
    width: 80,
    indent_sequences: false,
    json_numbers: true,
};
pub(super) const V3_INDENT_2: Dialect = Dialect {
    width: usize::MAX,
    indent_sequences: true,
    json_numbers: false,
};

/// The document go-yaml writes for `j`, with its final newline.
pub(super) fn document(j: &serde_json::Value, dialect: Dialect) -> String {
    let mut e = Emitter {
        out: String::new(),
        column: 0,
        indent: -1,
        indents: Vec::new(),
        whitespace: true,
        indention: true,
        dialect,
        mapping: false,
        simple_key: false,
    };
    e.node(j, false, false);
    // The document's end: a line break unless the last line is already ended.
    e.indent = -1;
    e.write_indent();
    e.out
}

#[derive(Clone, Copy, PartialEq)]
enum Style {
    Plain,
    Single,
    Double,
    Literal,
}

struct Emitter {
    out: String,
    /// Characters (not bytes) since the last line break.
    column: usize,
    indent: isize,
    indents: Vec<isize>,
    /// The last character written is whitespace (no space is needed before an indicator).
    whitespace: bool,
    /// Only indentation (and `-` indicators) is on the current line so far.
    indention: bool,
    dialect: Dialect,
    /// The node being written is a mapping's key or value, a key written in the simple
    /// `key:` form.
    mapping: bool,
    simple_key: bool,
}

impl Emitter {
    fn put(&mut self, c: char) {
        self.out.push(c);
        self.column += 1;
    }

    fn put_break(&mut self) {
        self.out.push('\n');
        self.column = 0;
    }

    fn write_break(&mut self, c: char) {
        if c == '\n' {
            self.put_break();
        } else {
            self.out.push(c);
            self.column = 0;
        }
    }

    fn write_indent(&mut self) {
        let indent = self.indent.max(0) as usize;
        if !self.indention || self.column > indent || (self.column == indent && !self.whitespace) {
            self.put_break();
        }
        while self.column < indent {
            self.put(' ');
        }
        self.whitespace = true;
        self.indention = true;
    }

    fn write_indicator(
        &mut self,
        s: &str,
        need_whitespace: bool,
        is_whitespace: bool,
        is_indention: bool,
    ) {
        if need_whitespace && !self.whitespace {
            self.put(' ');
        }
        for c in s.chars() {
            self.put(c);
        }
        self.whitespace = is_whitespace;
        self.indention = self.indention && is_indention;
    }

    fn increase_indent(&mut self, flow: bool, indentless: bool) {
        self.indents.push(self.indent);
        if self.indent < 0 {
            self.indent = if flow { 2 } else { 0 };
        } else if !indentless {
            self.indent += 2;
        }
    }

    fn pop_indent(&mut self) {
        self.indent = self.indents.pop().unwrap_or(-1);
    }

    fn node(&mut self, j: &serde_json::Value, mapping: bool, simple_key: bool) {
        self.mapping = mapping;
        self.simple_key = simple_key;
        match j {
            serde_json::Value::Object(m) if m.is_empty() => self.empty_flow("{", "}"),
            serde_json::Value::Array(a) if a.is_empty() => self.empty_flow("[", "]"),
            serde_json::Value::Object(m) => {
                self.increase_indent(false, false);
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort_by(|a, b| key_order(a, b));
                for k in keys {
                    self.write_indent();
                    let key = Scalar::string(k);
                    if !key.multiline && k.len() <= 128 {
                        self.mapping = true;
                        self.simple_key = true;
                        self.scalar(&key);
                        self.write_indicator(":", false, false, false);
                    } else {
                        self.write_indicator("?", true, false, true);
                        self.mapping = true;
                        self.simple_key = false;
                        self.scalar(&key);
                        self.write_indent();
                        self.write_indicator(":", true, false, true);
                    }
                    self.node(&m[k], true, false);
                }
                self.pop_indent();
            }
            serde_json::Value::Array(a) => {
                let indentless = !self.dialect.indent_sequences && self.mapping && !self.indention;
                self.increase_indent(false, indentless);
                for x in a {
                    self.write_indent();
                    self.write_indicator("-", true, false, true);
                    self.node(x, false, false);
                }
                self.pop_indent();
            }
            s => self.scalar(&Scalar::of(s, self.dialect.json_numbers)),
        }
    }

    fn empty_flow(&mut self, open: &str, close: &str) {
        self.write_indicator(open, true, true, false);
        self.increase_indent(true, false);
        self.pop_indent();
        self.write_indicator(close, false, false, false);
    }

    fn scalar(&mut self, s: &Scalar) {
        let mut style = s.style;
        if self.simple_key && s.multiline {
            style = Style::Double;
        }
        if style == Style::Plain && (!s.block_plain_allowed || s.text.is_empty() && self.simple_key)
        {
            style = Style::Single;
        }
        if style == Style::Single && !s.single_quoted_allowed {
            style = Style::Double;
        }
        if style == Style::Literal && (!s.block_allowed || self.simple_key) {
            style = Style::Double;
        }
        self.increase_indent(true, false);
        let breaks_allowed = !self.simple_key;
        match style {
            Style::Plain => self.plain_or_single(&s.text, false, breaks_allowed),
            Style::Single => self.plain_or_single(&s.text, true, breaks_allowed),
            Style::Double => self.double_quoted(&s.text, breaks_allowed),
            Style::Literal => self.literal(&s.text),
        }
        self.pop_indent();
    }

    /// A plain or single-quoted scalar (`quoted`): the two are written alike, folded at a
    /// single space inside the text once past the width (a plain scalar has no space at
    /// either end), a single quote doubled.
    fn plain_or_single(&mut self, text: &str, quoted: bool, breaks_allowed: bool) {
        if quoted {
            self.write_indicator("'", true, false, false);
        } else if !self.whitespace {
            self.put(' ');
        }
        let (mut spaces, mut breaks) = (false, false);
        let mut chars = text.chars().peekable();
        let mut first = true;
        while let Some(c) = chars.next() {
            if c == ' ' {
                if breaks_allowed
                    && !spaces
                    && self.column > self.dialect.width
                    && !first
                    && chars.peek().is_some_and(|&n| n != ' ')
                {
                    self.write_indent();
                } else {
                    self.put(c);
                }
                spaces = true;
            } else if is_break(c) {
                if !breaks && c == '\n' {
                    self.put_break();
                }
                self.write_break(c);
                self.indention = true;
                breaks = true;
            } else {
                if breaks {
                    self.write_indent();
                }
                if quoted && c == '\'' {
                    self.put('\'');
                }
                self.put(c);
                self.indention = false;
                spaces = false;
                breaks = false;
            }
            first = false;
        }
        if quoted {
            self.write_indicator("'", false, false, false);
        }
        self.whitespace = false;
        self.indention = false;
    }

    fn double_quoted(&mut self, text: &str, breaks_allowed: bool) {
        self.write_indicator("\"", true, false, false);
        let chars: Vec<char> = text.chars().collect();
        let mut spaces = false;
        for (i, &c) in chars.iter().enumerate() {
            if !printable(c) || c == '\u{FEFF}' || is_break(c) || c == '"' || c == '\\' {
                self.put('\\');
                let short = match c {
                    '\0' => Some('0'),
                    '\u{7}' => Some('a'),
                    '\u{8}' => Some('b'),
                    '\t' => Some('t'),
                    '\n' => Some('n'),
                    '\u{b}' => Some('v'),
                    '\u{c}' => Some('f'),
                    '\r' => Some('r'),
                    '\u{1b}' => Some('e'),
                    '"' => Some('"'),
                    '\\' => Some('\\'),
                    '\u{85}' => Some('N'),
                    '\u{a0}' => Some('_'),
                    '\u{2028}' => Some('L'),
                    '\u{2029}' => Some('P'),
                    _ => None,
                };
                match short {
                    Some(s) => self.put(s),
                    None => {
                        let v = u32::from(c);
                        let (mark, digits) = match v {
                            0..=0xFF => ('x', 2),
                            0x100..=0xFFFF => ('u', 4),
                            _ => ('U', 8),
                        };
                        self.put(mark);
                        for d in format!("{v:0digits$X}").chars() {
                            self.put(d);
                        }
                    }
                }
                spaces = false;
            } else if c == ' ' {
                if breaks_allowed
                    && !spaces
                    && self.column > self.dialect.width
                    && i > 0
                    && i + 1 < chars.len()
                {
                    self.write_indent();
                    if chars[i + 1] == ' ' {
                        self.put('\\');
                    }
                } else {
                    self.put(c);
                }
                spaces = true;
            } else {
                self.put(c);
                spaces = false;
            }
        }
        self.write_indicator("\"", false, false, false);
        self.whitespace = false;
        self.indention = false;
    }

    fn literal(&mut self, text: &str) {
        self.write_indicator("|", true, false, false);
        let chars: Vec<char> = text.chars().collect();
        if chars.first().is_some_and(|&c| c == ' ' || is_break(c)) {
            self.write_indicator("2", false, false, false);
        }
        let chomp = match chars.as_slice() {
            [] => Some("-"),
            [.., last] if !is_break(*last) => Some("-"),
            [_] => Some("+"),
            [.., before, _] if is_break(*before) => Some("+"),
            _ => None,
        };
        if let Some(chomp) = chomp {
            self.write_indicator(chomp, false, false, false);
        }
        self.put_break();
        self.indention = true;
        self.whitespace = true;
        let mut breaks = true;
        for c in chars {
            if is_break(c) {
                self.write_break(c);
                self.indention = true;
                breaks = true;
            } else {
                if breaks {
                    self.write_indent();
                }
                self.put(c);
                self.indention = false;
                breaks = false;
            }
        }
    }
}

/// A scalar as go-yaml's encoder hands it to the emitter: its text, the style asked for,
/// and what the emitter's analysis of the text allows.
struct Scalar {
    text: String,
    style: Style,
    multiline: bool,
    block_plain_allowed: bool,
    single_quoted_allowed: bool,
    block_allowed: bool,
}

impl Scalar {
    fn of(j: &serde_json::Value, json_numbers: bool) -> Scalar {
        let text = match j {
            serde_json::Value::String(s) => return Scalar::string(s),
            serde_json::Value::Null => "null".to_string(),
            serde_json::Value::Bool(b) => b.to_string(),
            serde_json::Value::Number(n) if n.is_f64() && !json_numbers => {
                crate::gotmpl::float::format_float_g(n.as_f64().unwrap_or(0.0), -1, 'e')
            }
            serde_json::Value::Number(n) => number(n),
            _ => String::new(),
        };
        Scalar::analysed(text, Style::Plain)
    }

    /// A string: literal when it has a line break, plain when it reads back as this
    /// string, double-quoted otherwise.
    fn string(s: &str) -> Scalar {
        let style = if s.contains('\n') {
            Style::Literal
        } else if plain_reads_as_string(s) {
            Style::Plain
        } else {
            Style::Double
        };
        Scalar::analysed(s.to_string(), style)
    }

    /// go-yaml's `yaml_emitter_analyze_scalar` (block context).
    fn analysed(text: String, style: Style) -> Scalar {
        if text.is_empty() {
            return Scalar {
                text,
                style,
                multiline: false,
                block_plain_allowed: true,
                single_quoted_allowed: true,
                block_allowed: false,
            };
        }
        let mut block_indicators = text.starts_with("---") || text.starts_with("...");
        let (mut line_breaks, mut special) = (false, false);
        let (mut leading_space, mut leading_break) = (false, false);
        let (mut trailing_space, mut trailing_break) = (false, false);
        let (mut break_space, mut space_break) = (false, false);
        let (mut previous_space, mut previous_break) = (false, false);
        let mut preceded_by_whitespace = true;
        let mut chars = text.chars().enumerate().peekable();
        while let Some((i, c)) = chars.next() {
            let next = chars.peek().map(|&(_, n)| n);
            let followed_by_whitespace = next.is_none_or(|n| n == ' ' || n == '\t');
            let last = next.is_none();
            if i == 0 {
                match c {
                    '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\''
                    | '"' | '%' | '@' | '`' => block_indicators = true,
                    '?' | ':' | '-' if followed_by_whitespace => block_indicators = true,
                    _ => {}
                }
            } else {
                match c {
                    ':' if followed_by_whitespace => block_indicators = true,
                    '#' if preceded_by_whitespace => block_indicators = true,
                    _ => {}
                }
            }
            if !printable(c) {
                special = true;
            }
            if c == ' ' {
                leading_space |= i == 0;
                trailing_space |= last;
                break_space |= previous_break;
                previous_space = true;
                previous_break = false;
            } else if is_break(c) {
                line_breaks = true;
                leading_break |= i == 0;
                trailing_break |= last;
                space_break |= previous_space;
                previous_space = false;
                previous_break = true;
            } else {
                previous_space = false;
                previous_break = false;
            }
            preceded_by_whitespace = matches!(c, ' ' | '\t' | '\0') || is_break(c);
        }
        let mut block_plain_allowed =
            !(leading_space || leading_break || trailing_space || trailing_break);
        let mut single_quoted_allowed = true;
        let mut block_allowed = !trailing_space;
        if break_space {
            block_plain_allowed = false;
            single_quoted_allowed = false;
        }
        if space_break || special {
            block_plain_allowed = false;
            single_quoted_allowed = false;
            block_allowed = false;
        }
        if line_breaks || block_indicators {
            block_plain_allowed = false;
        }
        Scalar {
            text,
            style,
            multiline: line_breaks,
            block_plain_allowed,
            single_quoted_allowed,
            block_allowed,
        }
    }
}

/// A number as it comes back from JSON through go-yaml: Go's JSON writes a float without
/// an exponent from 1e-6 to 1e21 (its shortest digits), and what then reads as an integer
/// (signed, or else unsigned, 64 bits) is one; any other is a float, written as Go's
/// `strconv.FormatFloat(f, 'g', -1, 64)`.
fn number(n: &serde_json::Number) -> String {
    if let Some(i) = n.as_i64() {
        return i.to_string();
    }
    if let Some(u) = n.as_u64() {
        return u.to_string();
    }
    let f = n.as_f64().unwrap_or(0.0);
    if f.fract() == 0.0 && f.abs() < 1e21 {
        let text = format!("{f}");
        if let Ok(i) = text.parse::<i64>() {
            return i.to_string();
        }
        if let Ok(u) = text.parse::<u64>() {
            return u.to_string();
        }
    }
    crate::gotmpl::float::format_float_g(f, -1, 'e')
}

/// YAML's printable characters as go-yaml's emitter has them (a tab is not one, nor
/// anything beyond the Basic Multilingual Plane).
fn printable(c: char) -> bool {
    matches!(c, '\n' | ' '..='~' | '\u{A0}'..='\u{D7FF}')
        || ('\u{E000}'..='\u{FFFD}').contains(&c) && c != '\u{FEFF}'
}

fn is_break(c: char) -> bool {
    matches!(c, '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

/// go-yaml's key order: numbers in digits compared as numbers, letters before other
/// characters.
fn key_order(a: &str, b: &str) -> Ordering {
    if key_less(a, b) {
        Ordering::Less
    } else if key_less(b, a) {
        Ordering::Greater
    } else {
        Ordering::Equal
    }
}

fn key_less(a: &str, b: &str) -> bool {
    let ar: Vec<char> = a.chars().collect();
    let br: Vec<char> = b.chars().collect();
    let digit = |c: char| c.is_ascii_digit();
    for i in 0..ar.len().min(br.len()) {
        if ar[i] == br[i] {
            continue;
        }
        let al = ar[i].is_alphabetic();
        let bl = br[i].is_alphabetic();
        if al && bl {
            return ar[i] < br[i];
        }
        if al || bl {
            return bl;
        }
        let (mut an, mut bn): (i64, i64) = (0, 0);
        if ar[i] == '0' || br[i] == '0' {
            let mut j = i;
            while j > 0 && digit(ar[j - 1]) {
                j -= 1;
                if ar[j] != '0' {
                    an = 1;
                    bn = 1;
                    break;
                }
            }
        }
        let mut ai = i;
        while ai < ar.len() && digit(ar[ai]) {
            an = an
                .wrapping_mul(10)
                .wrapping_add(i64::from(ar[ai] as u8 - b'0'));
            ai += 1;
        }
        let mut bi = i;
        while bi < br.len() && digit(br[bi]) {
            bn = bn
                .wrapping_mul(10)
                .wrapping_add(i64::from(br[bi] as u8 - b'0'));
            bi += 1;
        }
        if an != bn {
            return an < bn;
        }
        if ai != bi {
            return ai < bi;
        }
        return ar[i] < br[i];
    }
    ar.len() < br.len()
}
