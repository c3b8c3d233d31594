//! Why a delta changes what it changes: the diff of the config folder's inputs (the
//! config, the image lists, the templates, the other files the config names) from what the
//! far side holds, as its receipt lists them by digest, to what the new output was built
//! from. The far side's contents are never carried back: the near side kept each input
//! of every medium it made ([`super::kept`]), so the receipt's digests find them (or the
//! config folder's git history holds a version with that digest); one found nowhere is
//! said so ("inputs of the base not kept here"), never guessed. What is shown passes
//! through [`crate::redact::config_lines`]: a value that looks like a secret is never
//! shown, nor any line of a file whose name says it is one.

use super::kept;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Lines shown of one file's diff; the rest are counted.
pub const MAX_LINES: usize = 200;
/// Characters shown of one line.
const MAX_LINE_CHARS: usize = 240;
/// Edits beyond which a diff is not searched for the shortest one (every line of the old
/// file removed, every line of the new one added).
const MAX_EDITS: usize = 2_000;

/// What the note of a diff says when the base's content is not here.
pub const NOT_KEPT: &str = "inputs of the base not kept here";

/// One line added or removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiffLine {
    /// `+` (added) or `-` (removed).
    pub op: String,
    /// Its line number: in the new file for `+`, in the far side's for `-`.
    pub line: usize,
    /// Its text, secrets masked.
    pub text: String,
}

/// How one input changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputDiff {
    /// Relative to the config's folder.
    pub path: String,
    /// `added`, `removed` or `changed`.
    pub change: String,
    /// Its SHA-256 on the far side (none: added).
    pub before: Option<String>,
    /// Its SHA-256 in the new output (none: removed).
    pub after: Option<String>,
    /// Lines added (none when not known: the base's content is not kept here, or it is
    /// not text).
    pub added: Option<usize>,
    /// Lines removed (none when not known).
    pub removed: Option<usize>,
    /// The lines, at most [`MAX_LINES`]; none when not shown (see `note`).
    pub lines: Vec<DiffLine>,
    /// Lines added or removed beyond those shown.
    pub more: usize,
    /// Why lines are not shown, when they are not.
    pub note: Option<String>,
}

/// The config inputs' diff since the far side's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Why {
    /// Said when some of the far side's inputs that changed are not kept here
    /// ([`NOT_KEPT`]); none when every diff is whole.
    pub note: Option<String>,
    /// Each input added, removed or changed, by path.
    pub files: Vec<InputDiff>,
}

impl Why {
    /// One line per file: `values.yaml: changed, +2 -1`.
    pub fn lines(&self) -> Vec<String> {
        let mut out: Vec<String> = (self.files.iter())
            .map(|f| {
                let counts = match (f.added, f.removed) {
                    (Some(a), Some(r)) => format!(", +{a} -{r}"),
                    _ => String::new(),
                };
                let note = f
                    .note
                    .as_deref()
                    .map_or(String::new(), |n| format!(" ({n})"));
                format!("{}: {}{counts}{note}", f.path, f.change)
            })
            .collect();
        if let Some(n) = &self.note {
            out.push(n.clone());
        }
        out
    }
}

/// Whether a config file's name says it holds a secret (its lines are never shown).
fn named_secret(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path).to_ascii_lowercase();
    [
        "token",
        "password",
        "passwd",
        "secret",
        "htpasswd",
        "credential",
    ]
    .iter()
    .any(|w| name.contains(w))
        || name.ends_with(".key")
}

/// The diff of the config inputs from `base` (the far side's: path to sha256) to `target`
/// (the new output's), the contents taken from the near side's kept inputs in `out` or,
/// where one hashes right, from the config folder `config_dir`; shown through `secrets`.
pub fn why(
    out: &Path,
    config_dir: Option<&Path>,
    base: &BTreeMap<String, String>,
    target: &BTreeMap<String, String>,
    secrets: &crate::redact::Secrets,
) -> Why {
    // Kept here, or in the config folder as it is, or in its git history.
    let content = |path: &str, sha: &str| -> Option<Vec<u8>> {
        kept::kept_file(out, sha).or_else(|| {
            let dir = config_dir?;
            let rel = crate::pipeline::seal::safe_relative(path)?;
            crate::input::read(&dir.join(rel), crate::input::Kind::Text)
                .ok()
                .filter(|bytes| crate::hashing::sha256_hex(bytes) == sha)
                .or_else(|| super::record::from_history(dir, path, sha))
        })
    };
    let paths: BTreeSet<&String> = base.keys().chain(target.keys()).collect();
    let mut files = Vec::new();
    let mut missing = Vec::new();
    for path in paths {
        let (before, after) = (base.get(path), target.get(path));
        let change = match (before, after) {
            (Some(b), Some(a)) if a == b => continue,
            (Some(_), Some(_)) => "changed",
            (None, Some(_)) => "added",
            (Some(_), None) => "removed",
            (None, None) => continue,
        };
        let mut diff = InputDiff {
            path: path.clone(),
            change: change.into(),
            before: before.cloned(),
            after: after.cloned(),
            added: None,
            removed: None,
            lines: Vec::new(),
            more: 0,
            note: None,
        };
        let old = match before {
            Some(sha) => match content(path, sha) {
                Some(b) => Some(b),
                None => {
                    missing.push(path.clone());
                    diff.note = Some(format!("{NOT_KEPT}: the far side's sha256 {sha}"));
                    files.push(diff);
                    continue;
                }
            },
            None => Some(Vec::new()),
        };
        let new = match after {
            Some(sha) => content(path, sha),
            None => Some(Vec::new()),
        };
        let (Some(old), Some(new)) = (old, new) else {
            diff.note = Some("the new content is not here".into());
            files.push(diff);
            continue;
        };
        let (Some(old), Some(new)) = (text(&old), text(&new)) else {
            diff.note = Some("not text".into());
            files.push(diff);
            continue;
        };
        let (a, b) = (split(old), split(new));
        let edits = edits(&a, &b);
        diff.added = Some(edits.iter().filter(|e| matches!(e, Edit::Ins(_))).count());
        diff.removed = Some(edits.iter().filter(|e| matches!(e, Edit::Del(_))).count());
        if named_secret(path) {
            diff.note = Some("its lines are not shown: its name says it holds a secret".into());
            files.push(diff);
            continue;
        }
        let (shown_old, shown_new) = (
            crate::redact::config_lines(old, secrets),
            crate::redact::config_lines(new, secrets),
        );
        let cut = |s: &str| -> String {
            match s.char_indices().nth(MAX_LINE_CHARS) {
                Some((i, _)) => format!("{}…", &s[..i]),
                None => s.to_string(),
            }
        };
        for e in edits.iter().take(MAX_LINES) {
            diff.lines.push(match *e {
                Edit::Del(i) => DiffLine {
                    op: "-".into(),
                    line: i + 1,
                    text: cut(shown_old.get(i).map_or("", String::as_str)),
                },
                Edit::Ins(j) => DiffLine {
                    op: "+".into(),
                    line: j + 1,
                    text: cut(shown_new.get(j).map_or("", String::as_str)),
                },
            });
        }
        diff.more = edits.len().saturating_sub(MAX_LINES);
        files.push(diff);
    }
    Why {
        note: (!missing.is_empty()).then(|| {
            format!(
                "{NOT_KEPT}: {} changed since the far side's and this side keeps no copy of the far side's version (it did not build that output here, or its state was removed): named by digest only",
                missing.join(", ")
            )
        }),
        files,
    }
}

/// Text, when `bytes` are UTF-8 without a NUL.
fn text(bytes: &[u8]) -> Option<&str> {
    let t = std::str::from_utf8(bytes).ok()?;
    (!t.contains('\0')).then_some(t)
}

/// The lines of `text` (a final newline ends the last line, it does not start another).
fn split(text: &str) -> Vec<&str> {
    if text.is_empty() {
        return Vec::new();
    }
    let t = text.strip_suffix('\n').unwrap_or(text);
    t.split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect()
}

/// One edit of a line diff: a line of the old file removed, or of the new file added.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Edit {
    Del(usize),
    Ins(usize),
}

/// The edits from `a` to `b`, in order: the shortest script (Myers' algorithm) after the
/// common start and end are set aside; past [`MAX_EDITS`], every line in between removed
/// then added.
fn edits(a: &[&str], b: &[&str]) -> Vec<Edit> {
    let pre = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let suf = a[pre..]
        .iter()
        .rev()
        .zip(b[pre..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let (x, y) = (&a[pre..a.len() - suf], &b[pre..b.len() - suf]);
    let script = myers(x, y).unwrap_or_else(|| {
        (0..x.len())
            .map(Edit::Del)
            .chain((0..y.len()).map(Edit::Ins))
            .collect()
    });
    script
        .into_iter()
        .map(|e| match e {
            Edit::Del(i) => Edit::Del(i + pre),
            Edit::Ins(j) => Edit::Ins(j + pre),
        })
        .collect()
}

/// Myers' shortest edit script from `a` to `b`; `None` past [`MAX_EDITS`] edits.
fn myers(a: &[&str], b: &[&str]) -> Option<Vec<Edit>> {
    let (n, m) = (a.len() as isize, b.len() as isize);
    let max = n + m;
    if max == 0 {
        return Some(Vec::new());
    }
    let off = max + 1;
    let at = |k: isize| (k + off) as usize;
    let mut v = vec![0isize; (2 * max + 3) as usize];
    // The furthest x on each diagonal before each step d, for k in -d..=d.
    let mut trace: Vec<Vec<isize>> = Vec::new();
    let mut found = false;
    for d in 0..=max {
        if d as usize > MAX_EDITS {
            return None;
        }
        trace.push(v[at(-d)..=at(d)].to_vec());
        let mut k = -d;
        while k <= d {
            let mut x = if k == -d || (k != d && v[at(k - 1)] < v[at(k + 1)]) {
                v[at(k + 1)]
            } else {
                v[at(k - 1)] + 1
            };
            let mut y = x - k;
            while x < n && y < m && a[x as usize] == b[y as usize] {
                x += 1;
                y += 1;
            }
            v[at(k)] = x;
            if x >= n && y >= m {
                found = true;
                break;
            }
            k += 2;
        }
        if found {
            break;
        }
    }
    let mut script = Vec::new();
    let (mut x, mut y) = (n, m);
    for (d, window) in trace.iter().enumerate().rev() {
        let d = d as isize;
        // `window[i]` is v[k] for k = i - d.
        let get = |k: isize| window[(k + d) as usize];
        let (prev_x, prev_y) = if d == 0 {
            (0, 0)
        } else {
            let k = x - y;
            let prev_k = if k == -d || (k != d && get(k - 1) < get(k + 1)) {
                k + 1
            } else {
                k - 1
            };
            let px = get(prev_k);
            (px, px - prev_k)
        };
        while x > prev_x && y > prev_y {
            x -= 1;
            y -= 1;
        }
        if d > 0 {
            if x == prev_x {
                script.push(Edit::Ins(prev_y as usize));
            } else {
                script.push(Edit::Del(prev_x as usize));
            }
        }
        x = prev_x;
        y = prev_y;
    }
    script.reverse();
    Some(script)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `b` rebuilt from `a` and the script.
    fn apply(a: &[&str], b: &[&str], script: &[Edit]) -> Vec<String> {
        let dels: BTreeSet<usize> = (script.iter())
            .filter_map(|e| match e {
                Edit::Del(i) => Some(*i),
                _ => None,
            })
            .collect();
        let ins: BTreeSet<usize> = (script.iter())
            .filter_map(|e| match e {
                Edit::Ins(j) => Some(*j),
                _ => None,
            })
            .collect();
        // What is kept of a, in order, must be what is not inserted of b.
        let kept_a: Vec<&str> = (0..a.len())
            .filter(|i| !dels.contains(i))
            .map(|i| a[i])
            .collect();
        let kept_b: Vec<&str> = (0..b.len())
            .filter(|j| !ins.contains(j))
            .map(|j| b[j])
            .collect();
        assert_eq!(kept_a, kept_b);
        b.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_shortest_edit_script_turns_one_file_into_the_other() {
        let cases: [(&str, &str, usize); 6] = [
            ("a\nb\nc\n", "a\nb\nc\n", 0),
            ("a\nb\nc\n", "a\nx\nc\n", 2),
            ("", "a\nb\n", 2),
            ("a\nb\n", "", 2),
            ("a\nb\nc\na\nb\nb\na\n", "c\nb\na\nb\na\nc\n", 5),
            ("x\n", "y\nx\nz\n", 2),
        ];
        for (old, new, len) in cases {
            let (a, b) = (split(old), split(new));
            let script = edits(&a, &b);
            assert_eq!(script.len(), len, "{old:?} -> {new:?}: {script:?}");
            apply(&a, &b, &script);
        }
    }

    #[test]
    fn a_changed_value_is_shown_by_line_and_a_secret_never() {
        let tmp = tempfile::tempdir().unwrap();
        let cfg = tmp.path();
        let old = "replicas: 1\nimage: web:1\n";
        let new = "replicas: 3\nimage: web:1\npassword: hunter2-is-long\n";
        std::fs::write(cfg.join("values.yaml"), new).unwrap();
        std::fs::write(cfg.join("old.yaml"), old).unwrap();
        let sha = |t: &str| crate::hashing::sha256_hex(t.as_bytes());
        // The far side's version is in the folder under another name: found by digest
        // only where it is kept, so this one is not.
        let base = BTreeMap::from([("values.yaml".to_string(), sha(old))]);
        let target = BTreeMap::from([("values.yaml".to_string(), sha(new))]);
        let secrets = crate::redact::Secrets::new();
        let w = why(tmp.path(), Some(cfg), &base, &target, &secrets);
        assert_eq!(w.files.len(), 1);
        assert!(w.note.as_deref().unwrap().starts_with(NOT_KEPT), "{w:?}");
        assert_eq!(w.files[0].added, None);
        // Kept: the lines, the secret masked.
        let out = tmp.path().join("out");
        let inputs = crate::pipeline::seal::Inputs {
            config: crate::pipeline::seal::Input {
                path: "old.yaml".into(),
                sha256: sha(old),
            },
            image_lists: Vec::new(),
            templates: Vec::new(),
            other: None,
        };
        kept::keep(&out, cfg, &inputs, &"cd".repeat(32));
        let w = why(&out, Some(cfg), &base, &target, &secrets);
        assert_eq!(w.note, None, "{w:?}");
        let f = &w.files[0];
        assert_eq!((f.added, f.removed), (Some(2), Some(1)));
        let shown: Vec<String> = f
            .lines
            .iter()
            .map(|l| format!("{}{} {}", l.op, l.line, l.text))
            .collect();
        assert_eq!(
            shown,
            [
                "-1 replicas: 1",
                "+1 replicas: 3",
                "+3 password: <redacted>"
            ]
        );
        assert!(!format!("{w:?}").contains("hunter2"));
        assert_eq!(w.lines(), ["values.yaml: changed, +2 -1"]);
    }
}
