//! deb822 control data: the paragraphs of `Packages`, `Release` and a .deb's `control`
//! file, and the dependency relations inside them.
//!
//! Field names are case-insensitive and keep their spelling and order, because our
//! `Packages` output must match `dpkg-scanpackages` field by field. Values keep their
//! continuation lines verbatim (a `Description` or a `SHA256` list is multi-line).

use super::version::{Op, Version};
use std::fmt;

/// One deb822 paragraph: fields in the order they were read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Paragraph {
    fields: Vec<(String, String)>,
    /// 1-based line of the paragraph's first field in its file.
    pub line: usize,
}

impl Paragraph {
    /// The value of `name` (case-insensitive).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Sets `name`, replacing an existing value in place or appending.
    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        let value = value.into();
        match self
            .fields
            .iter_mut()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
        {
            Some(slot) => slot.1 = value,
            None => self.fields.push((name.to_string(), value)),
        }
    }

    /// Keeps only the fields named (case-insensitive).
    pub fn retain(&mut self, names: &[&str]) {
        self.fields
            .retain(|(k, _)| names.iter().any(|n| n.eq_ignore_ascii_case(k)));
        self.fields.shrink_to_fit();
    }

    /// The fields in order.
    pub fn fields(&self) -> &[(String, String)] {
        &self.fields
    }

    /// The relations of a dependency field (empty when absent).
    pub fn relations(&self, name: &str) -> Result<Vec<Relation>, String> {
        match self.get(name) {
            Some(v) => parse_relations(v).map_err(|e| format!("{name}: {e}")),
            None => Ok(Vec::new()),
        }
    }
}

impl fmt::Display for Paragraph {
    /// Renders the paragraph as deb822 text (no trailing blank line).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (k, v) in &self.fields {
            if v.starts_with('\n') {
                writeln!(f, "{k}:{v}")?;
            } else {
                writeln!(f, "{k}: {v}")?;
            }
        }
        Ok(())
    }
}

/// Parses deb822 text into paragraphs. Errors carry the 1-based line.
pub fn parse_paragraphs(text: &str) -> Result<Vec<Paragraph>, (usize, String)> {
    let mut out = Vec::new();
    let mut builder = ParagraphBuilder::default();
    for raw in text.lines() {
        out.extend(builder.line(raw)?);
    }
    out.extend(builder.finish());
    Ok(out)
}

/// Paragraphs built from lines given one at a time: a whole file, or a stream being
/// decompressed, so an index is never held whole. With [`ParagraphBuilder::keeping`],
/// only the named fields are kept (an index's descriptions are most of its size).
#[derive(Debug, Default)]
pub struct ParagraphBuilder {
    current: Paragraph,
    line_no: usize,
    keep: Option<&'static [&'static str]>,
    /// The field being continued was dropped.
    skipping: bool,
}

impl ParagraphBuilder {
    /// A builder that keeps only `fields` (case-insensitive).
    pub fn keeping(fields: &'static [&'static str]) -> ParagraphBuilder {
        ParagraphBuilder {
            keep: Some(fields),
            ..ParagraphBuilder::default()
        }
    }

    /// Takes the next line (without its newline); returns the paragraph it ends, if any.
    pub fn line(&mut self, raw: &str) -> Result<Option<Paragraph>, (usize, String)> {
        self.line_no += 1;
        let line_no = self.line_no;
        // As dpkg's parser does (Dpkg::Control::HashCore), trailing whitespace, CR
        // included, is not part of a line.
        let line = raw.trim_end();
        let started = !self.current.fields.is_empty() || self.skipping;
        if line.trim().is_empty() {
            return Ok(self.finish());
        }
        if line.starts_with('#') && !started {
            return Ok(None);
        }
        if line.starts_with([' ', '\t']) {
            if self.skipping {
                return Ok(None);
            }
            let Some(last) = self.current.fields.last_mut() else {
                return Err((line_no, "continuation line before any field".into()));
            };
            last.1.push('\n');
            last.1.push_str(line);
            return Ok(None);
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err((line_no, format!("expected `Field: value`, found {line:?}")));
        };
        if name.is_empty() || name.contains(char::is_whitespace) {
            return Err((line_no, format!("invalid field name {name:?}")));
        }
        if !started {
            self.current.line = line_no;
        }
        self.skipping = self
            .keep
            .is_some_and(|keep| !keep.iter().any(|k| k.eq_ignore_ascii_case(name)));
        if self.skipping {
            return Ok(None);
        }
        if self.current.get(name).is_some() {
            return Err((line_no, format!("field {name} appears twice")));
        }
        self.current
            .fields
            .push((name.to_string(), value.trim().to_string()));
        Ok(None)
    }

    /// The paragraph still open at the end of the input, if any.
    pub fn finish(&mut self) -> Option<Paragraph> {
        self.skipping = false;
        if self.current.fields.is_empty() {
            return None;
        }
        Some(std::mem::take(&mut self.current))
    }
}

/// A writer that cuts what it is given into lines for a [`ParagraphBuilder`] and hands
/// each paragraph to `each` as soon as it ends: a decompressor writes into it, and the
/// index is never held whole. The first error (a bad line, or one `each` returns) stops
/// the writing and is kept in [`ParagraphSink::error`].
pub struct ParagraphSink<E, F: FnMut(Paragraph) -> Result<(), E>> {
    builder: ParagraphBuilder,
    partial: Vec<u8>,
    each: F,
    /// What stopped the writing, if something in the text did.
    pub error: Option<SinkError<E>>,
}

/// Why a [`ParagraphSink`] stopped.
#[derive(Debug)]
pub enum SinkError<E> {
    /// A line that is not deb822 (1-based line, message), or not UTF-8.
    Syntax(usize, String),
    /// What the paragraph's consumer returned.
    Each(E),
}

impl<E, F: FnMut(Paragraph) -> Result<(), E>> ParagraphSink<E, F> {
    /// A sink keeping `fields` of each paragraph (all when `None`).
    pub fn new(fields: Option<&'static [&'static str]>, each: F) -> Self {
        ParagraphSink {
            builder: match fields {
                Some(f) => ParagraphBuilder::keeping(f),
                None => ParagraphBuilder::default(),
            },
            partial: Vec::new(),
            each,
            error: None,
        }
    }

    fn take_line(&mut self, bytes: &[u8]) -> Result<(), SinkError<E>> {
        let line = std::str::from_utf8(bytes)
            .map_err(|_| SinkError::Syntax(self.builder.line_no + 1, "not UTF-8".into()))?;
        if let Some(p) = self
            .builder
            .line(line)
            .map_err(|(l, m)| SinkError::Syntax(l, m))?
        {
            (self.each)(p).map_err(SinkError::Each)?;
        }
        Ok(())
    }

    /// Ends the input: the last line and paragraph, then any error met on the way.
    pub fn finish(mut self) -> Result<(), SinkError<E>> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        if !self.partial.is_empty() {
            let rest = std::mem::take(&mut self.partial);
            self.take_line(&rest)?;
        }
        if let Some(p) = self.builder.finish() {
            (self.each)(p).map_err(SinkError::Each)?;
        }
        Ok(())
    }
}

impl<E, F: FnMut(Paragraph) -> Result<(), E>> std::io::Write for ParagraphSink<E, F> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.error.is_some() {
            return Err(std::io::Error::other("index text refused"));
        }
        let mut start = 0;
        let mut rest: &[u8] = buf;
        while let Some(nl) = rest.iter().position(|&b| b == b'\n') {
            let result = if self.partial.is_empty() {
                self.take_line(&buf[start..start + nl])
            } else {
                self.partial.extend_from_slice(&buf[start..start + nl]);
                let line = std::mem::take(&mut self.partial);
                self.take_line(&line)
            };
            if let Err(e) = result {
                self.error = Some(e);
                return Err(std::io::Error::other("index text refused"));
            }
            start += nl + 1;
            rest = &buf[start..];
        }
        self.partial.extend_from_slice(rest);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// One alternative of a relation: `name[:arch] [(op version)]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependency {
    /// Package (or virtual package) name.
    pub name: String,
    /// Architecture qualifier (`any`, `native` or an architecture).
    pub arch: Option<String>,
    /// Version constraint.
    pub constraint: Option<(Op, Version)>,
}

impl Dependency {
    /// True if a package of `version` satisfies the constraint.
    pub fn accepts(&self, version: &Version) -> bool {
        self.constraint
            .as_ref()
            .is_none_or(|(op, want)| op.holds(version, want))
    }
}

impl fmt::Display for Dependency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if let Some(a) = &self.arch {
            write!(f, ":{a}")?;
        }
        if let Some((op, v)) = &self.constraint {
            write!(f, " ({op} {v})")?;
        }
        Ok(())
    }
}

/// A relation: one or more alternatives separated by `|`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relation(pub Vec<Dependency>);

impl fmt::Display for Relation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" | ")?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

/// Parses a dependency field such as `libc6 (>= 2.34), mawk | gawk, python3:any`.
/// Architecture restrictions (`[amd64]`) and build profiles (`<!nocheck>`) are dropped;
/// they do not appear in binary package indices.
pub fn parse_relations(value: &str) -> Result<Vec<Relation>, String> {
    let mut out = Vec::new();
    for group in value.split(',') {
        let group = group.trim();
        if group.is_empty() {
            continue;
        }
        let alternatives = group
            .split('|')
            .map(parse_dependency)
            .collect::<Result<Vec<_>, _>>()?;
        out.push(Relation(alternatives));
    }
    Ok(out)
}

fn parse_dependency(text: &str) -> Result<Dependency, String> {
    let text = strip_brackets(text.trim(), '[', ']');
    let text = strip_brackets(&text, '<', '>');
    let (head, constraint) = match text.split_once('(') {
        Some((head, rest)) => {
            let inner = rest
                .strip_suffix(')')
                .or_else(|| rest.trim_end().strip_suffix(')'))
                .ok_or_else(|| format!("unclosed parenthesis in {text:?}"))?
                .trim();
            let split = inner
                .find(|c: char| !"<>=".contains(c))
                .ok_or_else(|| format!("no version in {text:?}"))?;
            let op = Op::parse(inner[..split].trim())
                .ok_or_else(|| format!("unknown operator in {text:?}"))?;
            let version = Version::parse(inner[split..].trim())?;
            (head.trim(), Some((op, version)))
        }
        None => (text.trim(), None),
    };
    let (name, arch) = match head.split_once(':') {
        Some((n, a)) => (n, Some(a.to_string())),
        None => (head, None),
    };
    let valid = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+-.".contains(&b));
    if !valid {
        return Err(format!("invalid package name {name:?}"));
    }
    Ok(Dependency {
        name: name.to_string(),
        arch,
        constraint,
    })
}

/// Removes `open … close` groups outside the version parentheses (whose `<<` and `>>`
/// operators use the same characters as build profiles).
fn strip_brackets(text: &str, open: char, close: char) -> String {
    let mut out = String::with_capacity(text.len());
    let (mut depth, mut in_parens) = (0usize, false);
    for c in text.chars() {
        match c {
            '(' if depth == 0 => {
                in_parens = true;
                out.push(c);
            }
            ')' if depth == 0 => {
                in_parens = false;
                out.push(c);
            }
            c if c == open && !in_parens => depth += 1,
            c if c == close && !in_parens && depth > 0 => depth -= 1,
            c if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out.trim().to_string()
}

/// The package names a `Provides` field lists (`a (= 1), b:any` gives a, b), without
/// parsing versions: enough to index providers by name.
pub(super) fn provided_names(text: &str) -> impl Iterator<Item = &str> {
    text.split([',', '|']).filter_map(|item| {
        let name = item
            .trim()
            .split(|c: char| c.is_whitespace() || c == '(' || c == ':' || c == '[' || c == '<')
            .next()
            .unwrap_or_default();
        (!name.is_empty()).then_some(name)
    })
}

/// One file listed in a Release file's `SHA256` field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseFile {
    /// Hex SHA-256.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
    /// Path relative to the Release file's directory.
    pub path: String,
}

/// The `SHA256` entries of a Release paragraph.
pub fn release_sha256(release: &Paragraph) -> Result<Vec<ReleaseFile>, String> {
    let list = release
        .get("SHA256")
        .ok_or("the Release file has no SHA256 field")?;
    let mut out = Vec::new();
    for line in list.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let parts: Vec<&str> = line.split_whitespace().collect();
        let [sha256, size, path] = parts[..] else {
            return Err(format!("malformed SHA256 line {line:?}"));
        };
        let size = size
            .parse()
            .map_err(|_| format!("malformed size in SHA256 line {line:?}"))?;
        if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!("malformed hash in SHA256 line {line:?}"));
        }
        out.push(ReleaseFile {
            sha256: sha256.to_ascii_lowercase(),
            size,
            path: path.to_string(),
        });
    }
    Ok(out)
}

/// The field order of a binary package index entry, as dpkg's `Dpkg::Control` writes
/// it for `Packages` files; fields not listed follow in name order.
const INDEX_ORDER: &[&str] = &[
    "package",
    "package-type",
    "source",
    "version",
    "kernel-version",
    "built-for-profiles",
    "auto-built-package",
    "architecture",
    "subarchitecture",
    "installer-menu-item",
    "build-essential",
    "essential",
    "protected",
    "origin",
    "bugs",
    "maintainer",
    "installed-size",
    "pre-depends",
    "depends",
    "recommends",
    "suggests",
    "enhances",
    "conflicts",
    "breaks",
    "replaces",
    "provides",
    "built-using",
    "static-built-using",
    "filename",
    "size",
    "md5sum",
    "sha1",
    "sha256",
    "section",
    "priority",
    "multi-arch",
    "homepage",
    "description",
    "tag",
    "task",
];

/// Reorders a paragraph's fields into `Packages` index order and drops empty fields.
pub fn index_order(p: &Paragraph) -> Paragraph {
    let rank = |k: &str| {
        INDEX_ORDER
            .iter()
            .position(|o| o.eq_ignore_ascii_case(k))
            .unwrap_or(usize::MAX)
    };
    let mut fields: Vec<(String, String)> = p
        .fields
        .iter()
        .filter(|(_, v)| !v.trim().is_empty())
        .cloned()
        .collect();
    fields.sort_by(|(a, _), (b, _)| rank(a).cmp(&rank(b)).then_with(|| a.cmp(b)));
    Paragraph {
        fields,
        line: p.line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paragraphs_keep_order_case_and_continuations() {
        let text =
            "Package: jq\nVersion: 1.6\nDescription: short\n more\n .\n end\n\n\nPackage: b\n";
        let ps = parse_paragraphs(text).unwrap();
        assert_eq!(ps.len(), 2);
        assert_eq!(ps[0].get("package"), Some("jq"));
        assert_eq!(ps[0].get("Description"), Some("short\n more\n .\n end"));
        assert_eq!(ps[1].line, 9);
        assert_eq!(
            ps[0].to_string(),
            text.split("\n\n").next().unwrap().to_owned() + "\n"
        );
    }

    #[test]
    fn a_sink_fed_in_any_pieces_gives_the_paragraphs_and_keeps_only_what_it_is_asked() {
        use std::io::Write as _;
        let text = "Package: a\nVersion: 1\nDescription: long\n more\n .\nDepends: b\n\n# c\n\nPackage: b\nVersion: 2\r\n";
        let whole = parse_paragraphs(text).unwrap();
        for piece in [1, 2, 7, 1000] {
            let mut got = Vec::new();
            let mut sink = ParagraphSink::new(None, |p| {
                got.push(p);
                Ok::<(), ()>(())
            });
            for chunk in text.as_bytes().chunks(piece) {
                sink.write_all(chunk).unwrap();
            }
            sink.finish().unwrap();
            assert_eq!(got, whole, "pieces of {piece}");
        }
        let mut kept = Vec::new();
        let mut sink = ParagraphSink::new(Some(&["package", "Depends"]), |p| {
            kept.push(p.to_string());
            Ok::<(), ()>(())
        });
        sink.write_all(text.as_bytes()).unwrap();
        sink.finish().unwrap();
        assert_eq!(kept, ["Package: a\nDepends: b\n", "Package: b\n"]);
        let mut sink = ParagraphSink::new(None, |_| Ok::<(), ()>(()));
        assert!(sink.write_all(b"A: 1\nno colon\n").is_err());
        assert!(matches!(sink.finish(), Err(SinkError::Syntax(2, _))));
    }

    #[test]
    fn bad_paragraphs_name_the_line() {
        assert_eq!(parse_paragraphs(" x\n").unwrap_err().0, 1);
        assert_eq!(parse_paragraphs("A: 1\nno colon\n").unwrap_err().0, 2);
        assert_eq!(parse_paragraphs("A: 1\na: 2\n").unwrap_err().0, 2);
    }

    #[test]
    fn relations_parse_alternatives_arch_and_constraints() {
        let r = parse_relations(
            "libc6 (>= 2.34), mawk | gawk (>>1:4), python3:any, x [amd64] <!nocheck> <x>, y (<< 2)",
        )
        .unwrap();
        assert_eq!(r.len(), 5);
        assert_eq!(r[4].0[0].to_string(), "y (<< 2)");
        assert_eq!(r[0].0[0].constraint.as_ref().unwrap().0, Op::GreaterEq);
        assert_eq!(r[1].0.len(), 2);
        assert_eq!(r[1].0[1].to_string(), "gawk (>> 1:4)");
        assert_eq!(r[2].0[0].arch.as_deref(), Some("any"));
        assert_eq!(r[3].0[0].name, "x");
        assert!(parse_relations("Foo").is_err());
        assert!(parse_relations("a (>= 1").is_err());
        assert!(parse_relations("a (~ 1)").is_err());
    }

    #[test]
    fn release_sha256_lists_files() {
        let p = &parse_paragraphs(
            "Suite: x\nSHA256:\n 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef 12 main/binary-amd64/Packages\n",
        )
        .unwrap()[0];
        let files = release_sha256(p).unwrap();
        assert_eq!(files[0].size, 12);
        assert_eq!(files[0].path, "main/binary-amd64/Packages");
        assert!(release_sha256(&Paragraph::default()).is_err());
    }

    #[test]
    fn index_order_matches_dpkg() {
        let p = &parse_paragraphs(
            "Description: d\nZ-Extra: 1\nPackage: a\nA-Extra: 2\nVersion: 1\nSHA256: x\nEmpty: \n",
        )
        .unwrap()[0];
        let names: Vec<_> = index_order(p)
            .fields()
            .iter()
            .map(|(k, _)| k.clone())
            .collect();
        assert_eq!(
            names,
            [
                "Package",
                "Version",
                "SHA256",
                "Description",
                "A-Extra",
                "Z-Extra"
            ]
        );
    }

    /// Found by fuzzing: a continuation line ending in several carriage returns lost one
    /// per parse, so a paragraph did not print back to itself. Lines now lose all
    /// trailing whitespace, as in dpkg's parser.
    #[test]
    fn trailing_whitespace_is_not_part_of_a_line_and_printing_round_trips() {
        let text = "Package: e\r\nDescription: one\r\n more\r\r\r\n end \t\r\n";
        let ps = parse_paragraphs(text).unwrap();
        assert_eq!(ps[0].get("Description"), Some("one\n more\n end"));
        let again = parse_paragraphs(&ps[0].to_string()).unwrap();
        assert_eq!(again[0].fields(), ps[0].fields());
    }
}
