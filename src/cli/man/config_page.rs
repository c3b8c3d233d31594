//! `seedforge.yaml(5)`: the config reference, made from docs/config.md itself (embedded in
//! the binary), so the manual page and the document cannot say different things.
//!
//! The Markdown the document uses, and only that, is turned into man(7) macros: `#` is the
//! page's title (the text before the first `##`, which points at the other documents, is
//! left out), the first `##` is DESCRIPTION and any later one a section of its own; a
//! paragraph that opens with a bold sentence (`**Secrets.** …`) is a subsection under that
//! title; a table is a list of tagged paragraphs (the first column the tag, each other
//! column `header: cell`); a fenced block is shown as it is; `- ` items are bullets.
//! The table of keys (its first column `key`) is a subsection of its own, Keys. Inline,
//! `**bold**` and `` `code` `` are bold; a link to another document is that document's path
//! in the sources (`docs/outputs.md`), any other link its text (and its address, when that
//! is a web address and not the text itself). Words are not hyphenated: a key broken over
//! two lines could not be searched for.

use roff::{Inline, Roff, bold, italic, roman};

/// The Markdown the page is made from.
pub(crate) const CONFIG_MD: &str = include_str!("../../../docs/config.md");

/// One block of the document.
#[derive(Debug, PartialEq)]
enum Block {
    /// `#`, `##`, …: the level and the text.
    Heading(usize, String),
    /// Lines joined by spaces.
    Paragraph(String),
    /// The header's cells and each row's.
    Table(Vec<String>, Vec<Vec<String>>),
    /// A fenced block's lines, as they are.
    Code(Vec<String>),
    /// Each item's text, its lines joined.
    List(Vec<String>),
}

/// Whether `line` starts a block other than a paragraph.
fn opens_block(line: &str) -> bool {
    line.starts_with("```") || line.starts_with('#') || line.starts_with('|') || is_item(line)
}

fn is_item(line: &str) -> bool {
    line.starts_with("- ")
}

/// The cells of a table row `| a | b |`.
fn cells(line: &str) -> Vec<String> {
    let inner = line.trim().trim_start_matches('|').trim_end_matches('|');
    inner.split('|').map(|c| c.trim().to_string()).collect()
}

/// Whether `line` is a table's header separator (`|---|:--|`).
fn is_separator(line: &str) -> bool {
    line.starts_with('|') && line.chars().all(|c| matches!(c, '|' | '-' | ':' | ' '))
}

fn blocks(markdown: &str) -> Vec<Block> {
    let lines: Vec<&str> = markdown.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if line.trim().is_empty() {
            i += 1;
        } else if line.starts_with("```") {
            let mut code = Vec::new();
            i += 1;
            while i < lines.len() && !lines[i].starts_with("```") {
                code.push(lines[i].to_string());
                i += 1;
            }
            i += 1;
            out.push(Block::Code(code));
        } else if line.starts_with('#') {
            let level = line.chars().take_while(|c| *c == '#').count();
            out.push(Block::Heading(level, line[level..].trim().to_string()));
            i += 1;
        } else if line.starts_with('|') {
            let header = cells(line);
            let mut rows = Vec::new();
            i += 1;
            while i < lines.len() && lines[i].starts_with('|') {
                if !is_separator(lines[i]) {
                    rows.push(cells(lines[i]));
                }
                i += 1;
            }
            out.push(Block::Table(header, rows));
        } else if is_item(line) {
            let mut items: Vec<String> = Vec::new();
            while i < lines.len() {
                let l = lines[i];
                if is_item(l) {
                    items.push(l[2..].trim().to_string());
                } else if l.starts_with(' ') && !l.trim().is_empty() {
                    let last = items.last_mut().expect("an item came first");
                    last.push(' ');
                    last.push_str(l.trim());
                } else {
                    break;
                }
                i += 1;
            }
            out.push(Block::List(items));
        } else {
            let mut text = line.trim().to_string();
            i += 1;
            while i < lines.len() && !lines[i].trim().is_empty() && !opens_block(lines[i]) {
                text.push(' ');
                text.push_str(lines[i].trim());
                i += 1;
            }
            out.push(Block::Paragraph(text));
        }
    }
    out
}

/// The inline Markdown of `text` as roff: bold and code spans bold, links as their text.
fn inlines(text: &str) -> Vec<Inline> {
    let mut out = Vec::new();
    spans(text, false, &mut out);
    out
}

fn spans(text: &str, in_bold: bool, out: &mut Vec<Inline>) {
    let plain = |s: &str, out: &mut Vec<Inline>| {
        if !s.is_empty() {
            out.push(if in_bold { bold(s) } else { roman(s) });
        }
    };
    let mut rest = text;
    while !rest.is_empty() {
        let Some(at) = rest.find(['`', '*', '[']) else {
            plain(rest, out);
            return;
        };
        plain(&rest[..at], out);
        let tail = &rest[at..];
        if let Some(code) = tail.strip_prefix('`') {
            if let Some(end) = code.find('`') {
                out.push(bold(&code[..end]));
                rest = &code[end + 1..];
                continue;
            }
        } else if let Some(inner) = tail.strip_prefix("**") {
            if let Some(end) = inner.find("**") {
                spans(&inner[..end], true, out);
                rest = &inner[end + 2..];
                continue;
            }
        } else if let Some(inner) = tail.strip_prefix('[')
            && let Some(end) = inner.find("](")
            && let Some(close) = inner[end + 2..].find(')')
        {
            let (label, target) = (&inner[..end], &inner[end + 2..end + 2 + close]);
            let web = target.starts_with("https://") || target.starts_with("http://");
            let file = target.split('#').next().unwrap_or_default();
            if !web && file.ends_with(".md") {
                // Another document, by its path in the sources.
                match file.strip_prefix("../") {
                    Some(top) => plain(top, out),
                    None => plain(&format!("docs/{file}"), out),
                }
            } else {
                spans(label, in_bold, out);
                if web && label != target {
                    plain(&format!(" <{target}>"), out);
                }
            }
            rest = &inner[end + 3 + close..];
            continue;
        }
        // A lone `*`, `` ` `` or `[` is text.
        plain(&tail[..1], out);
        rest = &tail[1..];
    }
}

/// The plain text of inline Markdown, for a heading.
fn plain_text(text: &str) -> String {
    inlines(text)
        .into_iter()
        .map(|i| match i {
            Inline::Roman(t) | Inline::Bold(t) | Inline::Italic(t) => t,
            Inline::LineBreak => " ".into(),
        })
        .collect()
}

/// A paragraph that opens with a bold sentence, `**Title.** rest`: the title (without its
/// full stop) and the rest.
fn titled(text: &str) -> Option<(String, &str)> {
    let inner = text.strip_prefix("**")?;
    let end = inner.find("**")?;
    let title = inner[..end].strip_suffix('.')?;
    Some((plain_text(title), inner[end + 2..].trim_start()))
}

/// The whole page, in roff, for seedforge `version`.
pub(crate) fn render(markdown: &str, version: &str) -> String {
    let mut page = Roff::new();
    let source = format!("seedforge {version}");
    page.control(
        "TH",
        ["SEEDFORGE.YAML", "5", "", source.as_str(), "File Formats"],
    );
    page.control("nh", []);
    page.control("ad", ["l"]);
    page.control("SH", ["NAME"]);
    page.text([roman(
        "seedforge.yaml - the config file of seedforge, which turns it into everything an air-gapped k3s cluster needs on first boot",
    )]);
    page.control("SH", ["SYNOPSIS"]);
    page.text([
        bold("seedforge build"),
        roman(" ["),
        bold("--config"),
        roman(" "),
        italic("seedforge.yaml"),
        roman("]"),
    ]);
    let mut sections = 0;
    for block in blocks(markdown) {
        match block {
            Block::Heading(1, _) => {}
            Block::Heading(2, text) => {
                sections += 1;
                let name = if sections == 1 {
                    "DESCRIPTION".to_string()
                } else {
                    plain_text(&text).to_uppercase()
                };
                page.control("SH", [name.as_str()]);
            }
            Block::Heading(_, text) => {
                page.control("SS", [plain_text(&text).as_str()]);
            }
            // Before the first section: where the document stands among the others.
            _ if sections == 0 => {}
            Block::Paragraph(text) => match titled(&text) {
                Some((title, rest)) => {
                    page.control("SS", [title.as_str()]);
                    page.text(inlines(rest));
                }
                None => {
                    page.control("PP", []);
                    page.text(inlines(&text));
                }
            },
            Block::Table(header, rows) => {
                if header.first().is_some_and(|h| h == "key") {
                    page.control("SS", ["Keys"]);
                }
                for row in rows {
                    page.control("TP", []);
                    page.text(inlines(row.first().map_or("", String::as_str)));
                    // Each column on a line of its own, the first below the tag even when
                    // the tag is shorter than the indent (`output`).
                    let mut body = Vec::new();
                    for (h, cell) in header.iter().zip(&row).skip(1) {
                        body.push(Inline::LineBreak);
                        body.push(italic(plain_text(h)));
                        body.push(roman(": "));
                        body.extend(inlines(cell));
                    }
                    page.text(body);
                }
            }
            Block::Code(lines) => {
                page.control("PP", []);
                page.control("RS", ["4"]);
                page.control("nf", []);
                for line in lines {
                    page.text([roman(line)]);
                }
                page.control("fi", []);
                page.control("RE", []);
            }
            Block::List(items) => {
                for item in items {
                    page.control("IP", ["\\(bu", "2"]);
                    page.text(inlines(&item));
                }
            }
        }
    }
    page.control("SH", ["SEE ALSO"]);
    page.text([
        bold("seedforge"),
        roman("(1), "),
        bold("seedforge-init"),
        roman("(1), "),
        bold("seedforge-build"),
        roman("(1), "),
        bold("seedforge-plan"),
        roman("(1); docs/config.md of the seedforge sources, which this page is made from."),
    ]);
    page.render()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_blocks_of_the_document_are_told_apart() {
        let md = "# T\n\nintro\n\n## S (`x`)\n\nA para\ncontinued.\n\n| key | type |\n|---|---|\n| `a.b` | integer |\n\n```yaml\n.dot: 1\n```\n\n- one\n  more\n- two\n";
        assert_eq!(
            blocks(md),
            [
                Block::Heading(1, "T".into()),
                Block::Paragraph("intro".into()),
                Block::Heading(2, "S (`x`)".into()),
                Block::Paragraph("A para continued.".into()),
                Block::Table(
                    vec!["key".into(), "type".into()],
                    vec![vec!["`a.b`".into(), "integer".into()]]
                ),
                Block::Code(vec![".dot: 1".into()]),
                Block::List(vec!["one more".into(), "two".into()]),
            ]
        );
    }

    #[test]
    fn bold_code_and_links_become_fonts_and_text() {
        let roff = |md: &str| {
            let mut r = Roff::new();
            r.text(inlines(md));
            r.to_roff()
        };
        assert_eq!(
            roff("a `b` **c `d`** [e](x.md#y) [f](https://g.example) *"),
            "a \\fBb\\fR \\fBc \\fR\\fBd\\fR docs/x.md f <https://g.example> *\n"
        );
        assert_eq!(roff("C:\\x -n"), "C:\\\\x \\-n\n");
        assert_eq!(roff("([README](../README.md))"), "(README.md)\n");
        assert_eq!(
            titled("**Secrets.** rest"),
            Some(("Secrets".into(), "rest"))
        );
        assert_eq!(titled("**Secrets** rest"), None);
    }

    #[test]
    fn a_line_that_starts_with_a_dot_stays_text() {
        let page = render("# T\n\n## S\n\n```\n.SH NOT A MACRO\n'also not\n```\n", "1");
        assert!(!page.lines().any(|l| l == ".SH NOT A MACRO"), "{page}");
        assert!(page.contains("\\&.SH NOT A MACRO"), "{page}");
        assert!(page.contains(".SH DESCRIPTION"), "{page}");
    }

    #[test]
    fn every_key_of_the_table_is_a_tag() {
        let page = render(CONFIG_MD, "1");
        for key in [
            "version",
            "cluster.k3s_version",
            "registries[].ca_file",
            "seeds.payload",
        ] {
            assert!(
                page.contains(&format!(".TP\n\\fB{key}\\fR\n")),
                "{key} is not a tag"
            );
        }
    }
}
