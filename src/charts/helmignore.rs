//! A chart folder's `.helmignore`, read as Helm reads it when it loads or packages a
//! folder: one rule a line (blank lines and `#` comments skipped, spaces around a rule
//! trimmed, a UTF-8 BOM before the first dropped), `**` refused; `!` negates, a trailing
//! `/` matches folders only, a leading `/` anchors the rule at the chart's folder, a rule
//! with a `/` is matched against the whole path and one without against the last name.
//! The patterns are Go's `filepath.Match` (`*`, `?`, `[...]` and `\` escapes, none of
//! them crossing a `/`). Rules are tried in order and the first that decides wins, with
//! Helm's reading of a negated rule: a path it does not match is ignored. After the
//! file's rules comes Helm's own default, `templates/.?*` (dot files under templates/).

/// A `.helmignore` read.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    patterns: Vec<Pattern>,
}

#[derive(Debug, Clone)]
struct Pattern {
    /// The pattern without `!`, a leading `/` or a trailing `/`.
    glob: String,
    negate: bool,
    must_dir: bool,
    /// Matched against the whole path (the rule has a `/`), else against the last name.
    whole: bool,
}

impl Rules {
    /// The rules of `text` (a `.helmignore`), then Helm's default. An error names the line.
    pub fn parse(text: &str) -> Result<Rules, String> {
        let mut rules = Rules::default();
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        for (i, line) in text.lines().enumerate() {
            rules
                .add(line)
                .map_err(|why| format!("line {}: {why}", i + 1))?;
        }
        rules.add_defaults();
        Ok(rules)
    }

    /// Only Helm's default (a folder without `.helmignore`).
    pub fn defaults() -> Rules {
        let mut rules = Rules::default();
        rules.add_defaults();
        rules
    }

    fn add_defaults(&mut self) {
        // A fixed, valid rule.
        let _ = self.add("templates/.?*");
    }

    fn add(&mut self, rule: &str) -> Result<(), String> {
        let rule = rule.trim();
        if rule.is_empty() || rule.starts_with('#') {
            return Ok(());
        }
        if rule.contains("**") {
            return Err(format!(
                "{rule:?}: double-star (**) syntax is not supported"
            ));
        }
        if glob_match(rule, "abc").is_none() {
            return Err(format!("{rule:?}: not a valid pattern"));
        }
        let (negate, rest) = match rule.strip_prefix('!') {
            Some(r) => (true, r),
            None => (false, rule),
        };
        let (must_dir, rest) = match rest.strip_suffix('/') {
            Some(r) => (true, r),
            None => (false, rest),
        };
        let (glob, whole) = match rest.strip_prefix('/') {
            Some(r) => (r, true),
            None => (rest, rest.contains('/')),
        };
        self.patterns.push(Pattern {
            glob: glob.to_string(),
            negate,
            must_dir,
            whole,
        });
        Ok(())
    }

    /// Whether `path` (relative to the chart's folder, `/`-separated; a folder when
    /// `is_dir`) is left out.
    pub fn ignore(&self, path: &str, is_dir: bool) -> bool {
        if path.is_empty() || path == "." || path == "./" {
            return false;
        }
        for p in &self.patterns {
            let name = if p.whole {
                path
            } else {
                path.rsplit('/').next().unwrap_or(path)
            };
            let matched = glob_match(&p.glob, name) == Some(true);
            if p.negate {
                if (p.must_dir && !is_dir) || !matched {
                    return true;
                }
                continue;
            }
            if p.must_dir && !is_dir {
                continue;
            }
            if matched {
                return true;
            }
        }
        false
    }
}

/// Go's `filepath.Match` on `/`-separated names: `Some(matched)`, or `None` for a
/// malformed pattern.
pub fn glob_match(pattern: &str, name: &str) -> Option<bool> {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    let matched = match_from(&p, &n)?;
    // A malformed pattern is refused even where the name decided early.
    check_pattern(&p)?;
    Some(matched)
}

/// Checks every class and escape of `p` is well formed.
fn check_pattern(p: &[char]) -> Option<()> {
    let mut i = 0;
    while i < p.len() {
        match p[i] {
            '\\' => {
                p.get(i + 1)?;
                i += 2;
            }
            '[' => {
                let (_, next) = class(p, i + 1, 'a')?;
                i = next;
            }
            _ => i += 1,
        }
    }
    Some(())
}

/// Whether the pattern `p` matches all of `n`; `None` when the pattern is malformed.
fn match_from(p: &[char], n: &[char]) -> Option<bool> {
    let Some(&first) = p.first() else {
        return Some(n.is_empty());
    };
    match first {
        '*' => {
            // The star takes as few characters as it must, never a `/`.
            let mut k = 0;
            loop {
                if match_from(&p[1..], &n[k..])? {
                    return Some(true);
                }
                if k == n.len() || n[k] == '/' {
                    return Some(false);
                }
                k += 1;
            }
        }
        '?' => match n.first() {
            Some(&c) if c != '/' => match_from(&p[1..], &n[1..]),
            _ => check_pattern(&p[1..]).map(|()| false),
        },
        '[' => {
            let Some(&c) = n.first() else {
                return check_pattern(p).map(|()| false);
            };
            let (hit, next) = class(p, 1, c)?;
            if hit && c != '/' {
                match_from(&p[next..], &n[1..])
            } else {
                check_pattern(&p[next..]).map(|()| false)
            }
        }
        '\\' => {
            let &lit = p.get(1)?;
            match n.first() {
                Some(&c) if c == lit => match_from(&p[2..], &n[1..]),
                _ => check_pattern(&p[2..]).map(|()| false),
            }
        }
        lit => match n.first() {
            Some(&c) if c == lit => match_from(&p[1..], &n[1..]),
            _ => check_pattern(&p[1..]).map(|()| false),
        },
    }
}

/// A character class starting at `p[i]` (just after `[`): whether `c` is in it, and the
/// index after its `]`; `None` when it is malformed.
fn class(p: &[char], mut i: usize, c: char) -> Option<(bool, usize)> {
    let negated = p.get(i) == Some(&'^');
    if negated {
        i += 1;
    }
    let mut hit = false;
    let mut first = true;
    loop {
        let &ch = p.get(i)?;
        if ch == ']' && !first {
            i += 1;
            break;
        }
        first = false;
        let (lo, next) = class_char(p, i)?;
        i = next;
        let mut hi = lo;
        if p.get(i) == Some(&'-') {
            let (h, next) = class_char(p, i + 1)?;
            hi = h;
            i = next;
        }
        if lo <= c && c <= hi {
            hit = true;
        }
    }
    Some((hit != negated, i))
}

/// One character of a class at `p[i]` (escaped or not): the character and the index after.
fn class_char(p: &[char], i: usize) -> Option<(char, usize)> {
    match *p.get(i)? {
        '-' | ']' => None,
        '\\' => p.get(i + 1).map(|&c| (c, i + 2)),
        c => Some((c, i + 1)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_as_go_filepath_match() {
        for (p, n, want) in [
            ("abc", "abc", Some(true)),
            ("*", "abc", Some(true)),
            ("*c", "abc", Some(true)),
            ("a*", "a", Some(true)),
            ("a*/b", "abc/b", Some(true)),
            ("a*/b", "a/c/b", Some(false)),
            ("a*b*c*d*e*/f", "axbxcxdxe/f", Some(true)),
            ("a*b?c*x", "abxbbxdbxebxczzx", Some(true)),
            ("ab[c]", "abc", Some(true)),
            ("ab[b-d]", "abc", Some(true)),
            ("ab[e-g]", "abc", Some(false)),
            ("ab[^c]", "abc", Some(false)),
            ("ab[^b-d]", "abe", Some(true)),
            ("a\\*b", "a*b", Some(true)),
            ("a\\*b", "ab", Some(false)),
            ("a?b", "a/b", Some(false)),
            ("a*b", "a/b", Some(false)),
            ("[\\]a]", "]", Some(true)),
            ("[x\\-]", "-", Some(true)),
            ("[]a]", "]", None),
            ("[-]", "-", None),
            ("[x-]", "x", None),
            ("[a-b-c]", "a", None),
            ("[", "a", None),
            ("[^", "a", None),
            ("a\\", "a", None),
            ("*x", "xxx", Some(true)),
            ("[a-c]*", "x", Some(false)),
        ] {
            assert_eq!(glob_match(p, n), want, "{p:?} {n:?}");
        }
    }

    #[test]
    fn rules_decide_as_helm_reads_them() {
        let rules =
            Rules::parse("\u{feff}# comment\n\n  *.bak  \nsecret/\n/top.txt\ndocs/*.md\n").unwrap();
        assert!(rules.ignore("a.bak", false));
        assert!(rules.ignore("templates/x.bak", false));
        assert!(rules.ignore("secret", true));
        assert!(!rules.ignore("secret", false));
        assert!(rules.ignore("top.txt", false));
        assert!(!rules.ignore("sub/top.txt", false));
        assert!(rules.ignore("docs/a.md", false));
        assert!(!rules.ignore("docs/sub/a.md", false));
        // Helm's default: dot files under templates/.
        assert!(rules.ignore("templates/.keep", false));
        assert!(!rules.ignore("templates/a.yaml", false));
        assert!(!rules.ignore(".helmignore", false));
        assert!(Rules::defaults().ignore("templates/.x", false));
        // Helm's negation: a path the negated rule does not match is ignored.
        let neg = Rules::parse("!keep.txt\n").unwrap();
        assert!(neg.ignore("other.txt", false));
        assert!(!neg.ignore("keep.txt", false));
        let err = Rules::parse("ok\na/**/b\n").unwrap_err();
        assert!(err.starts_with("line 2: ") && err.contains("**"), "{err}");
        let err = Rules::parse("[x\n").unwrap_err();
        assert!(err.starts_with("line 1: "), "{err}");
    }
}
