//! Go's regular expressions read into the `regex` crate's.
//!
//! cosign matches `--certificate-identity-regexp` and `--certificate-oidc-issuer-regexp`
//! with Go's `regexp` (RE2 syntax, Perl flags, `regexp.MatchString`: found anywhere in the
//! value). The `regex` crate reads the same syntax differently in places, so a pattern is
//! parsed here as Go parses it and written out in the `regex` crate's syntax, meaning the
//! same strings:
//!
//! - `\d \w \s \b` and their negations are ASCII, as in Go: `[0-9]`, `[0-9A-Za-z_]`,
//!   `[\t\n\f\r ]` (no vertical tab), an ASCII word boundary; the POSIX classes
//!   (`[[:alpha:]]`) are ASCII too;
//! - `\Q…\E` is literal text (to the end of the pattern without `\E`);
//! - in a class, `[` is literal unless it opens a POSIX class, and `&&`, `--`, `~~` are
//!   characters, not set operations;
//! - a `{` that opens no repetition `{n}`, `{n,}`, `{n,m}` is literal (`a{,2}`, `a{01}`);
//! - `\pX`, `\p{Name}` know Go's names only: the general categories (`L`, `Lu`, …, `C`
//!   without unassigned code points), the scripts, and `Any`;
//! - octal escapes (`\0`, `\101`) are characters, escaped punctuation (`\<`) is literal.
//!
//! What Go refuses is refused, with Go's wording: other escapes (`\C`, `\Z`, `\u`, `\1`),
//! flags other than `i m s U` (`(?x)`), look-around, a repetition of a repetition (`a**`),
//! counts over 1000, nested counts whose product is over 1000 (`(a{100}){20}`). One
//! construct newer than some Go releases is read as Go 1.22 and later read it: `(?<name>…)`
//! is a named group, like `(?P<name>…)`.
//!
//! Nothing here matches: the output is compiled by the `regex` crate (linear time).

/// Translates an RE2 pattern into a `regex`-crate pattern that matches the same strings,
/// or says why Go's `regexp` refuses it.
pub(super) fn translate(source: &str) -> Result<String, String> {
    let mut t = Translator {
        rest: source,
        out: String::with_capacity(source.len() * 2),
        frames: vec![Frame::default()],
        pending_flags: String::new(),
        last_repeat: None,
    };
    t.run()?;
    Ok(t.out)
}

/// The most a repetition count, or a product of nested counts, may be (Go's limit).
const MAX_REPEAT: u64 = 1000;

/// Go's ASCII classes: `\d`, `\s`, `\w`.
const DIGIT: &[(char, char)] = &[('0', '9')];
const SPACE: &[(char, char)] = &[('\t', '\n'), ('\x0c', '\r'), (' ', ' ')];
const WORD: &[(char, char)] = &[('0', '9'), ('A', 'Z'), ('a', 'z'), ('_', '_')];

/// Go's POSIX classes (`[:name:]`), all ASCII.
const POSIX: &[(&str, &[(char, char)])] = &[
    ("alnum", &[('0', '9'), ('A', 'Z'), ('a', 'z')]),
    ("alpha", &[('A', 'Z'), ('a', 'z')]),
    ("ascii", &[('\0', '\x7f')]),
    ("blank", &[('\t', '\t'), (' ', ' ')]),
    ("cntrl", &[('\0', '\x1f'), ('\x7f', '\x7f')]),
    ("digit", DIGIT),
    ("graph", &[('!', '~')]),
    ("lower", &[('a', 'z')]),
    ("print", &[(' ', '~')]),
    ("punct", &[('!', '/'), (':', '@'), ('[', '`'), ('{', '~')]),
    ("space", &[('\t', '\r'), (' ', ' ')]),
    ("upper", &[('A', 'Z')]),
    ("word", WORD),
    ("xdigit", &[('0', '9'), ('A', 'F'), ('a', 'f')]),
];

/// Go's general categories (`unicode.Categories`). `C` is Go's: `Cc Cf Co Cs`, without
/// the unassigned code points the Unicode `C` (and the `regex` crate's) includes. `Cs`,
/// the surrogates, matches nothing: no string holds one.
#[rustfmt::skip]
const CATEGORIES: &[&str] = &[
    "C", "Cc", "Cf", "Co", "Cs", "L", "Ll", "Lm", "Lo", "Lt", "Lu", "M", "Mc", "Me", "Mn",
    "N", "Nd", "Nl", "No", "P", "Pc", "Pd", "Pe", "Pf", "Pi", "Po", "Ps", "S", "Sc", "Sk",
    "Sm", "So", "Z", "Zl", "Zp", "Zs",
];

/// Go's scripts (`unicode.Scripts`): Unicode 13's (Go 1.19), and the seven of Unicode 14
/// and 15 that Go 1.21 and later know.
#[rustfmt::skip]
const SCRIPTS: &[&str] = &[
    "Adlam", "Ahom", "Anatolian_Hieroglyphs", "Arabic", "Armenian", "Avestan", "Balinese",
    "Bamum", "Bassa_Vah", "Batak", "Bengali", "Bhaiksuki", "Bopomofo", "Brahmi", "Braille",
    "Buginese", "Buhid", "Canadian_Aboriginal", "Carian", "Caucasian_Albanian", "Chakma",
    "Cham", "Cherokee", "Chorasmian", "Common", "Coptic", "Cuneiform", "Cypriot",
    "Cypro_Minoan", "Cyrillic", "Deseret", "Devanagari", "Dives_Akuru", "Dogra", "Duployan",
    "Egyptian_Hieroglyphs", "Elbasan", "Elymaic", "Ethiopic", "Georgian", "Glagolitic",
    "Gothic", "Grantha", "Greek", "Gujarati", "Gunjala_Gondi", "Gurmukhi", "Han", "Hangul",
    "Hanifi_Rohingya", "Hanunoo", "Hatran", "Hebrew", "Hiragana", "Imperial_Aramaic",
    "Inherited", "Inscriptional_Pahlavi", "Inscriptional_Parthian", "Javanese", "Kaithi",
    "Kannada", "Katakana", "Kawi", "Kayah_Li", "Kharoshthi", "Khitan_Small_Script", "Khmer",
    "Khojki", "Khudawadi", "Lao", "Latin", "Lepcha", "Limbu", "Linear_A", "Linear_B",
    "Lisu", "Lycian", "Lydian", "Mahajani", "Makasar", "Malayalam", "Mandaic", "Manichaean",
    "Marchen", "Masaram_Gondi", "Medefaidrin", "Meetei_Mayek", "Mende_Kikakui",
    "Meroitic_Cursive", "Meroitic_Hieroglyphs", "Miao", "Modi", "Mongolian", "Mro",
    "Multani", "Myanmar", "Nabataean", "Nag_Mundari", "Nandinagari", "New_Tai_Lue", "Newa",
    "Nko", "Nushu", "Nyiakeng_Puachue_Hmong", "Ogham", "Ol_Chiki", "Old_Hungarian",
    "Old_Italic", "Old_North_Arabian", "Old_Permic", "Old_Persian", "Old_Sogdian",
    "Old_South_Arabian", "Old_Turkic", "Old_Uyghur", "Oriya", "Osage", "Osmanya",
    "Pahawh_Hmong", "Palmyrene", "Pau_Cin_Hau", "Phags_Pa", "Phoenician", "Psalter_Pahlavi",
    "Rejang", "Runic", "Samaritan", "Saurashtra", "Sharada", "Shavian", "Siddham",
    "SignWriting", "Sinhala", "Sogdian", "Sora_Sompeng", "Soyombo", "Sundanese",
    "Syloti_Nagri", "Syriac", "Tagalog", "Tagbanwa", "Tai_Le", "Tai_Tham", "Tai_Viet",
    "Takri", "Tamil", "Tangsa", "Tangut", "Telugu", "Thaana", "Thai", "Tibetan", "Tifinagh",
    "Tirhuta", "Toto", "Ugaritic", "Vai", "Vithkuqi", "Wancho", "Warang_Citi", "Yezidi",
    "Yi", "Zanabazar_Square",
];

/// Every code point: a class of none (negated) or all.
const ALL: &str = r"\x{0}-\x{10FFFF}";

/// A group being read: what Go's repetition checks need of it.
#[derive(Default)]
struct Frame {
    /// The largest product of nested repetition counts among its finished items.
    heaviest: u64,
    /// The last item of the current alternative (its product), which a repetition
    /// operator repeats; `None` at the start of the group or of an alternative.
    last: Option<u64>,
}

struct Translator<'a> {
    /// What is left to read.
    rest: &'a str,
    out: String,
    /// The open groups, the whole pattern first.
    frames: Vec<Frame>,
    /// A flag group (`(?i)`) not yet written: written before the next item, after a
    /// repetition operator that follows it (Go applies `a(?i)*` to `a`).
    pending_flags: String,
    /// The repetition operator just read, if the last token was one.
    last_repeat: Option<String>,
}

fn invalid_escape(text: &str) -> String {
    format!("invalid escape sequence: `{text}`")
}

fn invalid_range(text: &str) -> String {
    format!("invalid character class range: `{text}`")
}

/// Writes `c` as a literal (in or out of a class).
fn push_char(out: &mut String, c: char) {
    if c.is_control() || (c.is_whitespace() && c != ' ') {
        out.push_str(&format!(r"\x{{{:X}}}", c as u32));
    } else {
        out.push_str(&regex::escape(c.encode_utf8(&mut [0; 4])));
    }
}

/// Writes the ranges as a class, negated or not.
fn push_class(out: &mut String, negated: bool, ranges: &[(char, char)]) {
    out.push('[');
    if negated {
        out.push('^');
    }
    for &(lo, hi) in ranges {
        push_char(out, lo);
        if hi != lo {
            out.push('-');
            push_char(out, hi);
        }
    }
    out.push(']');
}

/// Writes the code points `lo..=hi` as class items, without the surrogates (which no
/// string holds); false if none is left.
fn push_range(out: &mut String, lo: u32, hi: u32) -> bool {
    let mut any = false;
    for (lo, hi) in [(lo, hi.min(0xD7FF)), (lo.max(0xE000), hi)] {
        if let (Some(l), Some(h)) = (char::from_u32(lo), char::from_u32(hi))
            && l <= h
        {
            push_char(out, l);
            if h != l {
                out.push('-');
                push_char(out, h);
            }
            any = true;
        }
    }
    any
}

/// Go's `parseInt`: decimal digits without a leading zero; `Some(None)` if too large.
fn parse_int(s: &str) -> Option<(Option<u64>, &str)> {
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 || (digits > 1 && s.starts_with('0')) {
        return None;
    }
    let value = if digits > 8 {
        None
    } else {
        s[..digits].parse().ok()
    };
    Some((value, &s[digits..]))
}

/// A counted repetition `{n}`, `{n,}`, `{n,m}` at the start of `s`: its bounds (`None`
/// for a number too large; max `Some(None)` for none) and its length; `None` if `s` does
/// not start with one (the `{` is then literal).
#[allow(clippy::type_complexity)]
fn parse_repeat(s: &str) -> Option<(Option<u64>, Option<Option<u64>>, usize)> {
    let (min, mut t) = parse_int(s.strip_prefix('{')?)?;
    let max;
    if let Some(after) = t.strip_prefix(',') {
        if let Some(after) = after.strip_prefix('}') {
            return Some((min, Some(None), s.len() - after.len()));
        }
        let (m, after) = parse_int(after)?;
        max = m.map(Some);
        t = after;
    } else {
        max = min.map(Some);
    }
    let after = t.strip_prefix('}')?;
    Some((min, max, s.len() - after.len()))
}

impl Translator<'_> {
    fn next(&mut self) -> Option<char> {
        let c = self.rest.chars().next()?;
        self.rest = &self.rest[c.len_utf8()..];
        Some(c)
    }

    fn frame(&mut self) -> &mut Frame {
        self.frames.last_mut().unwrap_or_else(|| unreachable!())
    }

    fn flush_flags(&mut self) {
        let flags = std::mem::take(&mut self.pending_flags);
        self.out.push_str(&flags);
    }

    /// A new item of the current alternative, of `weight` (its product of counts).
    fn push_item(&mut self, weight: u64) {
        let f = self.frame();
        f.heaviest = f.heaviest.max(f.last.unwrap_or(0));
        f.last = Some(weight);
    }

    /// Writes an item (a repetition operator may follow it).
    fn item(&mut self, text: &str) {
        self.flush_flags();
        self.out.push_str(text);
        self.push_item(1);
    }

    fn run(&mut self) -> Result<(), String> {
        while let Some(c) = self.rest.chars().next() {
            let repeat = match c {
                '*' | '+' | '?' => {
                    self.next();
                    Some(self.repeat(c.to_string(), None)?)
                }
                '{' => match parse_repeat(self.rest) {
                    Some((min, max, len)) => {
                        let text = self.rest[..len].to_owned();
                        self.rest = &self.rest[len..];
                        let (Some(min), Some(max)) = (min, max) else {
                            return Err(format!("invalid repeat count: `{text}`"));
                        };
                        if min > MAX_REPEAT || max.is_some_and(|m| m > MAX_REPEAT || m < min) {
                            return Err(format!("invalid repeat count: `{text}`"));
                        }
                        Some(self.repeat(text, Some((min, max)))?)
                    }
                    None => {
                        self.next();
                        self.item(r"\{");
                        None
                    }
                },
                '(' => {
                    self.group()?;
                    None
                }
                '|' => {
                    self.next();
                    self.flush_flags();
                    self.out.push('|');
                    let f = self.frame();
                    f.heaviest = f.heaviest.max(f.last.take().unwrap_or(1));
                    None
                }
                ')' => {
                    self.next();
                    if self.frames.len() == 1 {
                        return Err("unexpected ): `)`".into());
                    }
                    self.flush_flags();
                    self.out.push(')');
                    let f = self.frames.pop().unwrap_or_else(|| unreachable!());
                    self.push_item(f.heaviest.max(f.last.unwrap_or(1)));
                    None
                }
                '[' => {
                    self.next();
                    let class = self.class()?;
                    self.item(&class);
                    None
                }
                '^' | '$' | '.' => {
                    self.next();
                    self.item(&c.to_string());
                    None
                }
                '\\' => {
                    self.escape()?;
                    None
                }
                _ => {
                    self.next();
                    let mut s = String::new();
                    push_char(&mut s, c);
                    self.item(&s);
                    None
                }
            };
            self.last_repeat = repeat;
        }
        if self.frames.len() > 1 {
            return Err("missing closing ): the pattern ends inside a group".into());
        }
        self.flush_flags();
        Ok(())
    }

    /// A repetition operator just read (`text`, counted or not) and its optional `?`:
    /// checked as Go checks it, and written after the item it repeats. Returns the
    /// operator's text.
    fn repeat(
        &mut self,
        mut text: String,
        count: Option<(u64, Option<u64>)>,
    ) -> Result<String, String> {
        if self.rest.starts_with('?') {
            self.next();
            text.push('?');
        }
        if let Some(last) = &self.last_repeat {
            return Err(format!(
                "invalid nested repetition operator: `{last}{text}`"
            ));
        }
        let Some(weight) = self.frame().last else {
            return Err(format!("missing argument to repetition operator: `{text}`"));
        };
        let weight = match count {
            None => weight,
            Some((_, Some(0))) => 1,
            Some((min, max)) => {
                let m = max.unwrap_or(min);
                let product = weight.saturating_mul(m.max(1));
                if (min >= 2 || max.is_some_and(|m| m >= 2)) && product > MAX_REPEAT {
                    return Err(format!("invalid repeat count: `{text}`"));
                }
                product
            }
        };
        self.frame().last = Some(weight);
        self.out.push_str(&text);
        Ok(text)
    }

    /// A group: `(`, `(?P<name>`, `(?<name>`, `(?flags:` or a flag group `(?flags)`.
    fn group(&mut self) -> Result<(), String> {
        let start = self.rest;
        self.next();
        let open = if let Some(after) = self.rest.strip_prefix('?') {
            let named = after
                .strip_prefix("P<")
                .filter(|a| !a.is_empty())
                .or_else(|| after.strip_prefix('<'));
            if let Some(name_on) = named {
                let Some(end) = name_on.find('>') else {
                    return Err(format!("invalid named capture: `{start}`"));
                };
                let name = &name_on[..end];
                if name.is_empty() || !name.bytes().all(|b| b == b'_' || b.is_ascii_alphanumeric())
                {
                    let text = &start[..start.len() - name_on.len() + end + 1];
                    return Err(format!("invalid named capture: `{text}`"));
                }
                self.rest = &name_on[end + 1..];
                "(".to_owned()
            } else {
                self.rest = after;
                match self.flags(start)? {
                    Some(open) => open,
                    None => return Ok(()),
                }
            }
        } else {
            "(".to_owned()
        };
        self.flush_flags();
        self.out.push_str(&open);
        self.frames.push(Frame::default());
        Ok(())
    }

    /// The flags of `(?flags)` or `(?flags:` (after the `?`): the group's opening, or
    /// `None` for a flag group (kept to be written before the next item).
    fn flags(&mut self, start: &str) -> Result<Option<String>, String> {
        // Each flag's last setting wins, as in Go (`(?i-i)` clears `i`).
        let mut set: Vec<(char, bool)> = Vec::new();
        let mut on = true;
        let mut saw_flag = false;
        while let Some(c) = self.next() {
            match c {
                'i' | 'm' | 's' | 'U' => {
                    set.retain(|&(f, _)| f != c);
                    set.push((c, on));
                    saw_flag = true;
                }
                '-' if on => {
                    on = false;
                    saw_flag = false;
                }
                ':' | ')' if on || saw_flag => {
                    let plus: String = set.iter().filter(|f| f.1).map(|f| f.0).collect();
                    let minus: String = set.iter().filter(|f| !f.1).map(|f| f.0).collect();
                    let mut flags = plus;
                    if !minus.is_empty() {
                        flags.push('-');
                        flags.push_str(&minus);
                    }
                    if c == ':' {
                        return Ok(Some(format!("(?{flags}:")));
                    }
                    if !flags.is_empty() {
                        self.pending_flags.push_str(&format!("(?{flags})"));
                    }
                    return Ok(None);
                }
                _ => break,
            }
        }
        let text = &start[..start.len() - self.rest.len()];
        Err(format!("invalid or unsupported Perl syntax: `{text}`"))
    }

    /// An escape outside a class.
    fn escape(&mut self) -> Result<(), String> {
        let start = self.rest;
        self.next();
        match self.rest.chars().next() {
            Some('A') => {
                self.next();
                self.item(r"\A");
            }
            Some('z') => {
                self.next();
                self.item(r"\z");
            }
            Some('b') => {
                self.next();
                self.item(r"(?-u:\b)");
            }
            Some('B') => {
                self.next();
                self.item(r"(?-u:\B)");
            }
            Some('C') => return Err(invalid_escape(r"\C")),
            Some('Q') => {
                let body = &self.rest[1..];
                let (literal, rest) = body.split_once(r"\E").unwrap_or((body, ""));
                self.rest = rest;
                for c in literal.chars() {
                    let mut s = String::new();
                    push_char(&mut s, c);
                    self.item(&s);
                }
            }
            Some('p' | 'P') => {
                self.rest = start;
                let mut s = String::new();
                self.unicode_class(&mut s)?;
                self.item(&s);
            }
            Some(c @ ('d' | 'D' | 's' | 'S' | 'w' | 'W')) => {
                self.next();
                let mut s = String::new();
                perl_class(&mut s, c);
                self.item(&s);
            }
            _ => {
                self.rest = start;
                let c = self.escaped_char()?;
                let mut s = String::new();
                if !push_range(&mut s, c, c) {
                    // A surrogate: no string holds it.
                    s = format!("[^{ALL}]");
                }
                self.item(&s);
            }
        }
        Ok(())
    }

    /// Go's `parseEscape`, at a `\`: the code point of an octal, hex, control or
    /// punctuation escape.
    fn escaped_char(&mut self) -> Result<u32, String> {
        let start = self.rest;
        self.next();
        let taken = |t: &Self| &start[..start.len() - t.rest.len()];
        let Some(c) = self.next() else {
            return Err("trailing backslash at end of expression".into());
        };
        let octal = |b: Option<char>| b.is_some_and(|b| ('0'..='7').contains(&b));
        match c {
            '1'..='7' if !octal(self.rest.chars().next()) => Err(invalid_escape(taken(self))),
            '0'..='7' => {
                let mut r = c as u32 - '0' as u32;
                for _ in 0..2 {
                    let d = self.rest.chars().next();
                    if !octal(d) {
                        break;
                    }
                    self.next();
                    r = r * 8 + d.map_or(0, |d| d as u32 - '0' as u32);
                }
                Ok(r)
            }
            'x' => {
                let hex = |c: Option<char>| c.and_then(|c| c.to_digit(16));
                match self.next() {
                    Some('{') => {
                        let mut r: u32 = 0;
                        let mut digits = 0;
                        loop {
                            match self.next() {
                                Some('}') if digits > 0 => return Ok(r),
                                d => match hex(d) {
                                    Some(v) if r <= 0x10FFFF / 16 && r * 16 + v <= 0x10FFFF => {
                                        r = r * 16 + v;
                                        digits += 1;
                                    }
                                    _ => break,
                                },
                            }
                        }
                        Err(invalid_escape(taken(self)))
                    }
                    first => match (hex(first), hex(self.next())) {
                        (Some(x), Some(y)) => Ok(x * 16 + y),
                        _ => Err(invalid_escape(taken(self))),
                    },
                }
            }
            'a' => Ok(7),
            'f' => Ok(12),
            'n' => Ok(10),
            'r' => Ok(13),
            't' => Ok(9),
            'v' => Ok(11),
            c if c.is_ascii() && !c.is_ascii_alphanumeric() => Ok(c as u32),
            _ => Err(invalid_escape(taken(self))),
        }
    }

    /// Go's `parseUnicodeClass`, at `\p` or `\P`: written to `out` (in or out of a class).
    fn unicode_class(&mut self, out: &mut String) -> Result<(), String> {
        let start = self.rest;
        let mut negated = start.starts_with(r"\P");
        self.rest = &start[2..];
        let (seq, mut name) = if let Some(braced) = self.rest.strip_prefix('{') {
            let Some(end) = braced.find('}') else {
                return Err(invalid_range(start));
            };
            self.rest = &braced[end + 1..];
            (&start[..start.len() - self.rest.len()], &braced[..end])
        } else {
            let c = self.next().map_or(0, char::len_utf8);
            (&start[..2 + c], &start[2..2 + c])
        };
        if let Some(n) = name.strip_prefix('^') {
            negated = !negated;
            name = n;
        }
        let p = if negated { 'P' } else { 'p' };
        if name == "Any" {
            out.push_str(&format!("[{}{ALL}]", if negated { "^" } else { "" }));
        } else if name == "C" {
            // Cs (the surrogates) left out: no string holds one.
            let neg = if negated { "^" } else { "" };
            out.push_str(&format!(r"[{neg}\p{{gc=Cc}}\p{{gc=Cf}}\p{{gc=Co}}]"));
        } else if name == "Cs" {
            out.push_str(&format!("[{}{ALL}]", if negated { "" } else { "^" }));
        } else if CATEGORIES.contains(&name) {
            out.push_str(&format!(r"\{p}{{gc={name}}}"));
        } else if SCRIPTS.contains(&name) {
            out.push_str(&format!(r"\{p}{{sc={name}}}"));
        } else {
            return Err(invalid_range(seq));
        }
        Ok(())
    }

    /// A class, after its `[`: Go's `parseClass`.
    fn class(&mut self) -> Result<String, String> {
        let start = self.rest;
        let mut out = String::from("[");
        let negated = self.rest.starts_with('^');
        if negated {
            self.next();
            out.push('^');
        }
        let mut items = 0;
        let mut first = true;
        loop {
            if self.rest.is_empty() {
                return Err(format!("missing closing ]: `[{start}`"));
            }
            if !first && self.rest.starts_with(']') {
                self.next();
                break;
            }
            first = false;
            if let Some(after) = self.rest.strip_prefix("[:")
                && let Some(end) = after.find(":]")
            {
                let name = &self.rest[..end + 4];
                self.rest = &after[end + 2..];
                let (neg, bare) = match after[..end].strip_prefix('^') {
                    Some(bare) => (true, bare),
                    None => (false, &after[..end]),
                };
                let Some((_, ranges)) = POSIX.iter().find(|(n, _)| *n == bare) else {
                    return Err(invalid_range(name));
                };
                push_class(&mut out, neg, ranges);
                items += 1;
                continue;
            }
            if self.rest.starts_with(r"\p") || self.rest.starts_with(r"\P") {
                self.unicode_class(&mut out)?;
                items += 1;
                continue;
            }
            if let Some(c @ ('d' | 'D' | 's' | 'S' | 'w' | 'W')) =
                self.rest.strip_prefix('\\').and_then(|a| a.chars().next())
            {
                self.rest = &self.rest[2..];
                perl_class(&mut out, c);
                items += 1;
                continue;
            }
            let range_start = self.rest;
            let lo = self.class_char(start)?;
            let mut hi = lo;
            if self.rest.len() >= 2
                && self.rest.starts_with('-')
                && !self.rest[1..].starts_with(']')
            {
                self.next();
                hi = self.class_char(start)?;
                if hi < lo {
                    let text = &range_start[..range_start.len() - self.rest.len()];
                    return Err(invalid_range(text));
                }
            }
            if push_range(&mut out, lo, hi) {
                items += 1;
            }
        }
        if items == 0 {
            // Only surrogates: a class of none, or of all if negated.
            return Ok(format!("[{}{ALL}]", if negated { "" } else { "^" }));
        }
        out.push(']');
        Ok(out)
    }

    /// A character in a class (Go's `parseClassChar`).
    fn class_char(&mut self, class: &str) -> Result<u32, String> {
        if self.rest.is_empty() {
            return Err(format!("missing closing ]: `[{class}`"));
        }
        if self.rest.starts_with('\\') {
            return self.escaped_char();
        }
        Ok(self.next().map_or(0, |c| c as u32))
    }
}

/// `\d \D \s \S \w \W` as Go means them (ASCII).
fn perl_class(out: &mut String, c: char) {
    let ranges = match c.to_ascii_lowercase() {
        'd' => DIGIT,
        's' => SPACE,
        _ => WORD,
    };
    push_class(out, c.is_ascii_uppercase(), ranges);
}

#[cfg(test)]
#[path = "re2_tests.rs"]
mod tests;
