//! A cheap pass over a whole `Packages` text, and the entries a bundle can reach.
//!
//! Parsing every entry of an archive's index (63k in Debian's main) into candidates is
//! most of a run whose files are all cached, and a bundle needs a few hundred of them.
//! [`scan`] walks every line once, checking the text's structure as the paragraph parser
//! does (same messages, same line numbers) and noting each entry's byte range, name and
//! `Provides`, without building fields. [`reachable`] then starts from the requested
//! names and follows `Pre-Depends` and `Depends` (every alternative, real packages and
//! the providers of virtual ones) to a fixpoint: every entry the resolver could look at.

use crate::debs::DebsError;
use crate::debs::resolve::provided_names;
use std::collections::{HashMap, HashSet};
use std::ops::Range;

/// One entry of an index text, as the scan found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Stanza {
    /// Its bytes in the text, from its first field line to the end of its last line.
    pub range: Range<usize>,
    /// 1-based line of its first field.
    pub line: usize,
    /// The `Package` value.
    pub name: Range<usize>,
    /// The `Provides` value with its continuation lines (empty when absent).
    pub provides: Range<usize>,
}

/// Which fields of `fields` (indexes into it) an entry must have: `Package`, `Version`,
/// `Architecture`, `Filename`, `Size`, `SHA256`.
pub(super) struct Required {
    /// Index of `Package`, `Version`, `Architecture`, `Provides`, `Filename`, `Size`,
    /// `SHA256` in the kept fields.
    pub at: [usize; 7],
}

/// Scans `text`, whose paragraphs keep only `fields` (case-insensitive, as
/// [`crate::debs::control::ParagraphBuilder::keeping`] does). Errors carry the 1-based line.
pub(super) fn scan(
    text: &str,
    fields: &[&str],
    required: &Required,
) -> Result<Vec<Stanza>, (usize, String)> {
    assert!(fields.len() <= 32, "a field mask is 32 bits");
    let [
        package,
        version,
        architecture,
        provides,
        filename,
        size,
        sha256,
    ] = required.at;
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let (mut pos, mut line_no) = (0, 0);
    // The entry being read: the fields seen, where it starts, its name and Provides.
    let mut mask = 0u32;
    let mut skipping = false;
    let mut current = Stanza {
        range: 0..0,
        line: 0,
        name: 0..0,
        provides: 0..0,
    };
    let mut sha_len = 0;
    let mut last_kept = usize::MAX;
    let mut last_end = 0;
    let finish = |mask: u32, current: &mut Stanza, sha_len: usize, end: usize| {
        if mask == 0 {
            return Ok(None);
        }
        let name = &text[current.name.clone()];
        let missing = |i: usize| mask & (1 << i) == 0;
        let field_of = |i: usize| fields[i];
        for i in [package, version, architecture] {
            if missing(i) {
                return Err((current.line, format!("no {} field", field_of(i))));
            }
        }
        if missing(filename) {
            return Err((
                current.line,
                format!("package {name} has no Filename field"),
            ));
        }
        if missing(size) || sha_len != 64 {
            return Err((
                current.line,
                format!("package {name} has no SHA256 or Size field"),
            ));
        }
        current.range.end = end;
        Ok(Some(std::mem::replace(
            current,
            Stanza {
                range: 0..0,
                line: 0,
                name: 0..0,
                provides: 0..0,
            },
        )))
    };
    while pos < bytes.len() {
        let end = bytes[pos..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(bytes.len(), |n| pos + n);
        let raw = &text[pos..end];
        let start = pos;
        pos = end + 1;
        line_no += 1;
        let line = raw.trim_end();
        let started = mask != 0 || skipping;
        if line.trim().is_empty() {
            skipping = false;
            out.extend(finish(mask, &mut current, sha_len, last_end)?);
            mask = 0;
            sha_len = 0;
            continue;
        }
        if line.starts_with('#') && !started {
            continue;
        }
        if line.starts_with([' ', '\t']) {
            if skipping {
                last_end = end;
                continue;
            }
            if mask == 0 {
                return Err((line_no, "continuation line before any field".into()));
            }
            if last_kept == provides {
                current.provides.end = start + line.len();
            }
            last_end = end;
            continue;
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err((line_no, format!("expected `Field: value`, found {line:?}")));
        };
        if name.is_empty() || name.contains(char::is_whitespace) {
            return Err((line_no, format!("invalid field name {name:?}")));
        }
        if !started {
            current.line = line_no;
            current.range.start = start;
        }
        last_end = end;
        let Some(i) = fields.iter().position(|f| f.eq_ignore_ascii_case(name)) else {
            skipping = true;
            continue;
        };
        skipping = false;
        if mask & (1 << i) != 0 {
            return Err((line_no, format!("field {name} appears twice")));
        }
        mask |= 1 << i;
        last_kept = i;
        // Where the trimmed value lies in the text.
        let value_start = start + name.len() + 1;
        let lead = value.len() - value.trim_start().len();
        let value = value_start + lead..start + line.len();
        if i == package {
            current.name = value;
        } else if i == provides {
            current.provides = value;
        } else if i == sha256 {
            sha_len = value.len();
        }
    }
    out.extend(finish(mask, &mut current, sha_len, last_end)?);
    Ok(out)
}

/// An index text and its scanned entries.
pub(super) struct Scanned<'t> {
    /// The text.
    pub text: &'t str,
    /// Its entries, in order.
    pub stanzas: &'t [Stanza],
}

/// Where the resolver starts: names whose dependencies it follows (the requests, and
/// those of candidates that are always kept), and names it only looks up (the base's,
/// whose `Provides` a two-column base takes from the sources).
#[derive(Debug, Default)]
pub(super) struct Roots {
    /// Names followed through their dependencies.
    pub follow: Vec<String>,
    /// Names whose entries are kept but not followed.
    pub include: Vec<String>,
}

/// The entries of `texts` the resolver can reach from `roots`, per text in order:
/// every entry of a name met, and every entry providing it, followed through the names
/// `depends` gives for it (its `Pre-Depends` and `Depends`, every alternative).
pub(super) fn reachable(
    texts: &[Scanned],
    roots: &Roots,
    depends: &mut dyn FnMut(usize, usize) -> Result<Vec<String>, DebsError>,
) -> Result<Vec<Vec<usize>>, DebsError> {
    let mut by_name: HashMap<&str, Vec<(usize, usize)>> = HashMap::new();
    let mut providers: HashMap<&str, Vec<(usize, usize)>> = HashMap::new();
    for (t, scanned) in texts.iter().enumerate() {
        for (s, st) in scanned.stanzas.iter().enumerate() {
            by_name
                .entry(&scanned.text[st.name.clone()])
                .or_default()
                .push((t, s));
            for name in provided_names(&scanned.text[st.provides.clone()]) {
                let list = providers.entry(name).or_default();
                if list.last() != Some(&(t, s)) {
                    list.push((t, s));
                }
            }
        }
    }
    // 0: not kept, 1: kept, 2: kept and followed.
    let mut state: Vec<Vec<u8>> = texts.iter().map(|t| vec![0; t.stanzas.len()]).collect();
    for name in &roots.include {
        for &(t, s) in by_name.get(name.as_str()).into_iter().flatten() {
            state[t][s] = state[t][s].max(1);
        }
    }
    let mut seen: HashSet<String> = HashSet::new();
    let mut queue: Vec<String> = roots.follow.clone();
    while let Some(name) = queue.pop() {
        if seen.contains(&name) {
            continue;
        }
        let entries = [by_name.get(name.as_str()), providers.get(name.as_str())];
        seen.insert(name);
        for &(t, s) in entries.into_iter().flatten().flatten() {
            if state[t][s] == 2 {
                continue;
            }
            state[t][s] = 2;
            queue.extend(depends(t, s)?.into_iter().filter(|n| !seen.contains(n)));
        }
    }
    Ok(state
        .iter()
        .map(|st| (0..st.len()).filter(|&s| st[s] > 0).collect())
        .collect())
}
