//! A cheap pass over a whole `Packages` text, and the entries a bundle can reach.
//!
//! Parsing every entry of an archive's index (63k in Debian's main) into candidates is
//! most of a run whose files are all cached, and a bundle needs a few hundred of them.
//! [`scan`] walks every line once, checking the text's structure as the paragraph parser
//! does (same messages, same line numbers) and noting each entry's byte range, name and
//! `Provides`, without building fields. [`reachable`] then starts from the requested
//! names and follows `Pre-Depends` and `Depends` (every alternative, real packages and
//! the providers of virtual ones) to a fixpoint: every entry the resolver could look at.

use crate::debs::control::provided_names;
use crate::debs::error::DebsError;
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
/// whose `Provides` a two-column base takes from the sources). The base's entries that
/// matter are also reached as providers of the names they provide; keeping them by
/// name costs a few entries and does not rest on that.
#[derive(Debug, Default)]
pub(super) struct Roots {
    /// Names followed through their dependencies.
    pub follow: Vec<String>,
    /// Names whose entries are kept but not followed.
    pub include: Vec<String>,
}

/// Names and the entries under each, as chains through one list.
struct Chains<'t> {
    /// The last entry pushed under each name.
    last: HashMap<&'t str, usize>,
    /// (entry, the one pushed before it under the same name).
    links: Vec<(usize, Option<usize>)>,
}

impl<'t> Chains<'t> {
    fn with_capacity(n: usize) -> Chains<'t> {
        Chains {
            last: HashMap::with_capacity(n),
            links: Vec::with_capacity(n),
        }
    }

    /// Files `entry` under `name` (once, if pushed twice in a row).
    fn push(&mut self, name: &'t str, entry: usize) {
        let before = self.last.get(name).copied();
        if before.is_some_and(|b| self.links[b].0 == entry) {
            return;
        }
        self.links.push((entry, before));
        self.last.insert(name, self.links.len() - 1);
    }

    /// The entries under `name`, last pushed first.
    fn get<'s>(&'s self, name: &str) -> impl Iterator<Item = usize> + 's {
        let mut at = self.last.get(name).copied();
        std::iter::from_fn(move || {
            let (entry, before) = self.links[at?];
            at = before;
            Some(entry)
        })
    }
}

/// The entries of `texts` the resolver can reach from `roots`, per text in order:
/// every entry of a name met, and every entry providing it, followed through the names
/// `depends` gives for it (its `Pre-Depends` and `Depends`, every alternative).
pub(super) fn reachable(
    texts: &[Scanned],
    roots: &Roots,
    depends: &mut dyn FnMut(usize, usize) -> Result<Vec<String>, DebsError>,
) -> Result<Vec<Vec<usize>>, DebsError> {
    // Each name's entries as a chain through `next`: no list allocated per name (an
    // archive has tens of thousands).
    let places: Vec<(usize, usize)> = (texts.iter().enumerate())
        .flat_map(|(t, scanned)| (0..scanned.stanzas.len()).map(move |s| (t, s)))
        .collect();
    let mut by_name = Chains::with_capacity(places.len());
    let mut providers = Chains::with_capacity(places.len() / 4);
    for (at, &(t, s)) in places.iter().enumerate() {
        let (text, st) = (texts[t].text, &texts[t].stanzas[s]);
        by_name.push(&text[st.name.clone()], at);
        for name in provided_names(&text[st.provides.clone()]) {
            providers.push(name, at);
        }
    }
    // 0: not kept, 1: kept, 2: kept and followed.
    let mut state: Vec<Vec<u8>> = texts.iter().map(|t| vec![0; t.stanzas.len()]).collect();
    for name in &roots.include {
        for (t, s) in by_name.get(name).map(|at| places[at]) {
            state[t][s] = state[t][s].max(1);
        }
    }
    let mut seen: HashSet<String> = HashSet::new();
    let mut queue: Vec<String> = roots.follow.clone();
    while let Some(name) = queue.pop() {
        if seen.contains(&name) {
            continue;
        }
        let entries: Vec<usize> = by_name.get(&name).chain(providers.get(&name)).collect();
        seen.insert(name);
        for (t, s) in entries.into_iter().map(|at| places[at]) {
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

#[cfg(test)]
mod tests {
    use super::super::index::{INDEX_FIELDS, IndexText, REQUIRED, RepoPart, entry_candidate};
    use super::super::{Part, universe_of};
    use super::{Roots, scan};
    use crate::debs::universe::{Location, Universe, Verification};
    use crate::debs::{Base, DebsError, Request, resolve};

    const SHA: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn entry(name: &str, fields: &str) -> String {
        format!(
            "Package: {name}\nVersion: 1\nArchitecture: amd64\n{fields}Description: d\n more\nFilename: pool/{name}.deb\nSize: 1\nSHA256: {SHA}\n"
        )
    }

    /// The first error reading `text` entry by entry, as every entry was read before the
    /// scan: (line, message).
    fn parsed_error(text: &str) -> Option<(usize, String)> {
        let base: std::sync::Arc<str> = "http://repo".into();
        let mut builder = crate::debs::control::ParagraphBuilder::keeping(INDEX_FIELDS);
        let mut paragraphs = Vec::new();
        for line in text.split('\n') {
            match builder.line(line) {
                Ok(p) => paragraphs.extend(p),
                Err(e) => return Some(e),
            }
        }
        paragraphs.extend(builder.finish());
        for p in paragraphs {
            if let Err(DebsError::Index { line, message, .. }) =
                entry_candidate(p, "Packages", ("http://repo", &base))
            {
                return Some((line, message));
            }
        }
        None
    }

    #[test]
    fn the_scan_refuses_what_the_parser_refuses_at_the_same_line() {
        let good = entry("a", "Depends: b\n");
        let bad_entries = [
            " lead\n".to_string(),
            entry("b", "no colon\n"),
            entry("b", ": x\n"),
            entry("b", "depends: c\nDepends: d\n"),
            entry("b", "").replace("Version: 1\n", ""),
            entry("b", "").replace("Package: b\n", ""),
            entry("b", "").replace("Architecture: amd64\n", ""),
            entry("b", "").replace("Filename: pool/b.deb\n", ""),
            entry("b", "").replace("Size: 1\n", ""),
            entry("b", "").replace(SHA, "abc"),
            "# comment\n\nDescription: only\n x\n\nBad Name: 1\n".to_string(),
        ];
        for bad in bad_entries {
            let text = format!("{good}\n{bad}\n{good}");
            let expected = parsed_error(&text);
            assert!(expected.is_some(), "{text}");
            let got = scan(&text, INDEX_FIELDS, &REQUIRED).err();
            assert_eq!(got, expected, "{text}");
        }
        // What the parser takes, the scan takes, with the same entries.
        let text = format!(
            "# c\n\n{good}\r\n\n\n{}\n{}",
            entry("b", "Provides: x (= 1),\n y\nX-Other: 1\n x\n"),
            entry("c", "#odd: 1\n")
        );
        assert_eq!(parsed_error(&text), None);
        let stanzas = scan(&text, INDEX_FIELDS, &REQUIRED).unwrap();
        let names: Vec<&str> = stanzas.iter().map(|s| &text[s.name.clone()]).collect();
        assert_eq!(names, ["a", "b", "c"]);
        assert_eq!(&text[stanzas[1].provides.clone()], "x (= 1),\n y");
        assert_eq!(stanzas[0].line, 3);
    }

    /// A generated archive: several versions, architectures, alternatives, virtual names
    /// (versioned and not), missing names, cycles, conflicts and breaks, and arch-all
    /// packages listed twice (binary-ARCH and binary-all).
    fn archive() -> (String, String) {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = |n: u64| {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            (seed >> 33) % n
        };
        let (mut main, mut all) = (String::new(), String::new());
        for i in 0..240u64 {
            for version in ["1.0-1", "2.0-1"].iter().take(1 + next(2) as usize) {
                let arch = ["amd64", "amd64", "all", "i386"][next(4) as usize];
                let mut e = format!("Package: p{i}\nVersion: {version}\nArchitecture: {arch}\n");
                let relation = |next: &mut dyn FnMut(u64) -> u64| {
                    let alternatives = 1 + next(3);
                    (0..alternatives)
                        .map(|_| {
                            let name = match next(10) {
                                0..=5 => format!("p{}", (i + 1 + next(40)) % 240),
                                6..=7 => format!("v{}", next(12)),
                                8 => format!("p{}", next(240)),
                                _ => format!("missing{}", next(3)),
                            };
                            let qualifier = ["", "", "", ":any"][next(4) as usize];
                            let constraint = ["", "", "", " (>= 2.0-1)", " (<< 2.0-1)", " (= 1)"]
                                [next(6) as usize];
                            format!("{name}{qualifier}{constraint}")
                        })
                        .collect::<Vec<_>>()
                        .join(" | ")
                };
                let depends: Vec<String> = (0..next(4)).map(|_| relation(&mut next)).collect();
                if !depends.is_empty() {
                    e += &format!("Depends: {}\n", depends.join(", "));
                }
                if next(8) == 0 {
                    e += &format!("Pre-Depends: {}\n", relation(&mut next));
                }
                if next(3) == 0 {
                    let v = next(12);
                    let versioned = if next(2) == 0 { " (= 1)" } else { "" };
                    e += &format!("Provides: v{v}{versioned},\n p{}\n", next(240));
                }
                if next(10) == 0 {
                    e += &format!("Conflicts: p{} (<< 2.0-1)\n", next(240));
                }
                if next(10) == 0 {
                    e += &format!("Breaks: v{}\n", next(12));
                }
                e += &format!(
                    "Description: p{i}\n long\nFilename: pool/p{i}_{version}_{arch}.deb\nSize: {}\nSHA256: {SHA}\n\n",
                    i + 1
                );
                main += &e;
                if arch == "all" {
                    all += &e;
                }
            }
        }
        (main, all)
    }

    fn part(texts: &[&str]) -> Part {
        let texts = texts
            .iter()
            .enumerate()
            .map(|(i, text)| IndexText {
                url: format!("http://repo/{i}/Packages"),
                text: text.to_string(),
                stanzas: scan(text, INDEX_FIELDS, &REQUIRED).unwrap(),
            })
            .collect();
        Part::Repo(RepoPart {
            url: "http://repo".into(),
            base: "http://repo".into(),
            reads_all: true,
            texts,
            verification: Verification::Unverified,
            origin: "the test repository".into(),
            suggested: Vec::new(),
        })
    }

    /// What a resolution chose, by the .debs' paths (candidates' places differ).
    fn outcome(universe: &Universe, requests: &[Request], base: &Base) -> String {
        match resolve(universe, requests, base) {
            Ok(c) => {
                let packages: Vec<String> = (c.packages.iter())
                    .map(|r| {
                        let Location::Remote { path, .. } =
                            &universe.candidates[r.candidate].location
                        else {
                            unreachable!()
                        };
                        format!(
                            "{} {} {} {path} {:?}",
                            r.name, r.version, r.arch, r.pulled_by
                        )
                    })
                    .collect();
                format!("{packages:?} {:?} {:?}", c.install, c.already_in_base)
            }
            Err(e) => format!("error: {e}"),
        }
    }

    #[test]
    fn a_pruned_universe_resolves_as_the_whole_one() {
        let (main, all) = archive();
        let parts = [part(&[&main, &all])];
        let whole = universe_of(&parts, "amd64", None).unwrap();
        // A two-column base takes its packages' Provides from the sources: some that
        // provide, so that what they provide is met by the base.
        let providing: String = (whole.candidates.iter())
            .filter(|c| c.fields.get("Provides").is_some() && c.arch != "i386")
            .step_by(3)
            .take(8)
            .map(|c| format!("{}\t{}\n", c.name, c.version))
            .collect();
        let bases = [
            Base::default(),
            Base::parse(&format!("p3\t1.0-1\np17\t2.0-1\n{providing}"), "base.txt").unwrap(),
        ];
        let mut requests: Vec<Vec<Request>> = (0..240)
            .step_by(2)
            .map(|i| format!("p{i}"))
            .chain((0..12).map(|v| format!("v{v}")))
            .chain(["missing0".to_string(), "p7=1.0-1".to_string()])
            .map(|r| vec![r.parse().unwrap()])
            .collect();
        requests.extend((0..20).map(|i| {
            vec![
                format!("p{i}").parse().unwrap(),
                format!("p{}", 239 - i).parse().unwrap(),
            ]
        }));
        let (mut smaller, mut resolved, mut refused) = (0, 0, 0);
        for base in &bases {
            for request in &requests {
                let roots = Roots {
                    follow: request.iter().map(|r| r.name.clone()).collect(),
                    include: base.installed.keys().cloned().collect(),
                };
                let pruned = universe_of(&parts, "amd64", Some(roots)).unwrap();
                if pruned.candidates.len() < whole.candidates.len() {
                    smaller += 1;
                }
                let expected = outcome(&whole, request, base);
                if expected.starts_with("error") {
                    refused += 1;
                } else {
                    resolved += 1;
                }
                assert_eq!(outcome(&pruned, request, base), expected, "{request:?}");
            }
        }
        // The archive exercises both outcomes, and pruning leaves entries out.
        assert!(resolved > 30 && refused > 30, "{resolved} {refused}");
        assert!(smaller > 50, "{smaller}");
    }
}
