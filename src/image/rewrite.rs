//! A registry mirror's `rewrite` as a k3s node applies it: where the cluster's registry
//! must hold an image so that the nodes find it there.
//!
//! k3s writes each mirror's `rewrite` map of `registries.yaml` into the mirror endpoint's
//! `hosts.toml`, and its containerd, asking that endpoint for an image, takes the image's
//! repository (its name without the registry: `rancher/mirrored-pause`,
//! `library/busybox`) through the rules in Go's map order, which is random: the first rule
//! whose `regexp.ReplaceAllString` changes the repository gives the path asked for, with
//! the registry as `?ns=`. A rule that leaves it as it is passes the turn on. So:
//!
//! - the expressions are RE2 (Go's `regexp`), leftmost-first, every match replaced (not
//!   only the first), the replacement expanded as Go's `Regexp.Expand` does (`$1`, `${1}`,
//!   `$name`, `$$`; `$1x` names the group `1x`, which is empty);
//! - when two rules change a repository into two different paths, the node asks for
//!   either, at random: no registry can answer both, and [`Rewrites::path`] says so;
//! - the images under the cluster's own registry name get no rewrite (seedforge writes the
//!   rules for the other registries' mirrors only).
//!
//! Repositories are ASCII (the reference grammar), where Rust's `regex` and Go's `regexp`
//! match alike; replacing and expanding follow Go's code step by step here, so that
//! empty matches, `$` forms and unmatched groups give Go's bytes.

use regex::Regex;
use std::collections::BTreeMap;

/// One rule: an expression and its replacement.
#[derive(Debug, Clone)]
pub struct Rule {
    /// The expression as written.
    pub from: String,
    /// The replacement as written.
    pub to: String,
    re: Regex,
}

/// The rules of each registry's mirror.
#[derive(Debug, Clone, Default)]
pub struct Rewrites {
    by_registry: BTreeMap<String, Vec<Rule>>,
}

/// Why an image has no one path in the cluster's registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RewriteError {
    /// An expression Go's `regexp` would not compile either (k3s skips it with a warning).
    Pattern {
        /// The expression.
        from: String,
        /// Why it does not compile.
        reason: String,
    },
    /// Two rules change the repository into different paths: the node picks one at random.
    Ambiguous {
        /// The repository.
        repository: String,
        /// Each rule (expression, replacement) with the path it gives.
        paths: Vec<(String, String, String)>,
    },
}

impl std::fmt::Display for RewriteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RewriteError::Pattern { from, reason } => {
                write!(f, "rewrite {from:?} is not a regular expression: {reason}")
            }
            RewriteError::Ambiguous { repository, paths } => {
                let each: Vec<String> = (paths.iter())
                    .map(|(from, to, path)| format!("{from:?}: {to:?} makes it {path}"))
                    .collect();
                write!(
                    f,
                    "{repository} is rewritten by more than one rule ({}), and k3s's containerd tries the rules in random order, so a node asks for either path; no registry can hold the image at both. Make the expressions exclusive (anchor them, e.g. \"^rancher/(.*)\")",
                    each.join("; ")
                )
            }
        }
    }
}

impl std::error::Error for RewriteError {}

impl Rewrites {
    /// The rules of each registry's mirror (registry name to expression to replacement).
    pub fn new<'a>(
        mirrors: impl IntoIterator<Item = (&'a str, &'a BTreeMap<String, String>)>,
    ) -> Result<Rewrites, RewriteError> {
        let mut by_registry = BTreeMap::new();
        for (registry, rules) in mirrors {
            if rules.is_empty() {
                continue;
            }
            let rules = (rules.iter())
                .map(|(from, to)| {
                    let re = Regex::new(from).map_err(|e| RewriteError::Pattern {
                        from: from.clone(),
                        reason: e.to_string(),
                    })?;
                    Ok(Rule {
                        from: from.clone(),
                        to: to.clone(),
                        re,
                    })
                })
                .collect::<Result<Vec<_>, RewriteError>>()?;
            by_registry.insert(registry.to_string(), rules);
        }
        Ok(Rewrites { by_registry })
    }

    /// Whether no registry has a rule.
    pub fn is_empty(&self) -> bool {
        self.by_registry.is_empty()
    }

    /// The repository path a node asks the cluster's registry for, for an image named
    /// `registry/repository`: `None` when no rule changes it (the path is the repository).
    pub fn path(&self, registry: &str, repository: &str) -> Result<Option<String>, RewriteError> {
        let Some(rules) = self.by_registry.get(registry) else {
            return Ok(None);
        };
        let changed: Vec<(&Rule, String)> = (rules.iter())
            .map(|r| (r, replace_all(&r.re, repository, &r.to)))
            .filter(|(_, out)| out != repository)
            .collect();
        let Some((_, first)) = changed.first() else {
            return Ok(None);
        };
        if changed.iter().all(|(_, out)| out == first) {
            return Ok(Some(first.clone()));
        }
        Err(RewriteError::Ambiguous {
            repository: repository.to_string(),
            paths: (changed.into_iter())
                .map(|(r, out)| (r.from.clone(), r.to.clone(), out))
                .collect(),
        })
    }

    /// [`Rewrites::path`], or the repository itself when no rule changes it.
    pub fn served(&self, registry: &str, repository: &str) -> Result<String, RewriteError> {
        Ok(self
            .path(registry, repository)?
            .unwrap_or_else(|| repository.to_string()))
    }
}

/// Go's `Regexp.ReplaceAllString(src, template)`: every match replaced by the template
/// expanded, an empty match right after a match skipped, the search moved on by at least
/// one character.
pub fn replace_all(re: &Regex, src: &str, template: &str) -> String {
    let mut out = String::new();
    let mut last_end = 0;
    let mut search = 0;
    while search <= src.len() {
        let Some(caps) = re.captures_at(src, search) else {
            break;
        };
        let whole = caps
            .get(0)
            .map(|m| (m.start(), m.end()))
            .unwrap_or_default();
        out.push_str(&src[last_end..whole.0]);
        if whole.1 > last_end || whole.0 == 0 {
            expand(re, &caps, template, &mut out);
        }
        last_end = whole.1;
        let width = src[search..].chars().next().map_or(0, char::len_utf8);
        if search + width > whole.1 {
            search += width;
        } else if search + 1 > whole.1 {
            search += 1;
        } else {
            search = whole.1;
        }
    }
    out.push_str(&src[last_end..]);
    out
}

/// Go's `Regexp.Expand`: `$$` is `$`; `$name` and `${name}` (name: letters, digits, `_`)
/// are the group's text (a number is a group's index, without leading zeros), empty when
/// the group does not exist or did not take part; a `$` not followed by a name is itself.
fn expand(re: &Regex, caps: &regex::Captures<'_>, template: &str, out: &mut String) {
    let mut rest = template;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        rest = &rest[at + 1..];
        if let Some(after) = rest.strip_prefix('$') {
            out.push('$');
            rest = after;
            continue;
        }
        let Some((name, after)) = extract(rest) else {
            out.push('$');
            continue;
        };
        rest = after;
        let index = number(name)
            .or_else(|| (re.capture_names()).position(|n| n == Some(name)))
            .and_then(|i| caps.get(i));
        if let Some(m) = index {
            out.push_str(m.as_str());
        }
    }
    out.push_str(rest);
}

/// The name after a `$` (`name` or `{name}`) and what follows it, as Go's `extract` reads it.
fn extract(text: &str) -> Option<(&str, &str)> {
    let (braced, body) = match text.strip_prefix('{') {
        Some(b) => (true, b),
        None => (false, text),
    };
    let end = body
        .char_indices()
        .find(|(_, c)| !(c.is_alphabetic() || c.is_numeric() || *c == '_'))
        .map_or(body.len(), |(i, _)| i);
    if end == 0 {
        return None;
    }
    let name = &body[..end];
    if !braced {
        return Some((name, &body[end..]));
    }
    body[end..].strip_prefix('}').map(|after| (name, after))
}

/// A group index as Go reads one: ASCII digits only, no leading zero, below 10^8.
fn number(name: &str) -> Option<usize> {
    if !name.bytes().all(|b| b.is_ascii_digit()) || (name.len() > 1 && name.starts_with('0')) {
        return None;
    }
    name.parse::<usize>().ok().filter(|n| *n < 100_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn go(pattern: &str, src: &str, template: &str) -> String {
        replace_all(&Regex::new(pattern).unwrap(), src, template)
    }

    /// Results of Go's `regexp.MustCompile(p).ReplaceAllString(s, t)`, from the cases of
    /// Go's own `replaceTests` table and the forms k3s's documentation uses.
    #[test]
    fn replacing_gives_gos_bytes() {
        let cases = [
            // The forms k3s documents.
            (
                "^rancher/(.*)",
                "rancher/mirrored-pause",
                "mirror/rancher/$1",
                "mirror/rancher/mirrored-pause",
            ),
            ("^library/(.*)", "library/busybox", "lab/$1", "lab/busybox"),
            // Every match, not only the first.
            ("a", "banana", "o", "bonono"),
            // Empty matches: none right after a match.
            ("a*", "baaac", "x", "xbxcx"),
            ("", "abc", "-", "-a-b-c-"),
            ("x*", "", "y", "y"),
            ("b*", "abc", "x", "xaxcx"),
            // Expansion.
            ("(a)(b)", "ab", "$2$1", "ba"),
            ("(a)(b)", "ab", "${1}x", "ax"),
            ("(a)(b)", "ab", "$1x", ""),
            ("(a)(b)", "ab", "$$1", "$1"),
            ("(a)(b)", "ab", "$", "$"),
            ("(a)(b)", "ab", "$-", "$-"),
            ("(a)(b)", "ab", "${1", "${1"),
            ("(a)(b)", "ab", "$3", ""),
            ("(a)(b)", "ab", "$01", ""),
            ("(?P<first>a)(b)", "ab", "${first}-$first", "a-a"),
            ("(?P<first>a)(b)", "ab", "$second", ""),
            ("(a)|(b)", "b", "[$1]", "[]"),
        ];
        for (pattern, src, template, want) in cases {
            assert_eq!(
                go(pattern, src, template),
                want,
                "{pattern} {src} {template}"
            );
        }
    }

    fn rules(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        (pairs.iter())
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn a_path_is_what_the_rules_make_of_the_repository() {
        let docker = rules(&[("^rancher/(.*)", "mirror/rancher/$1")]);
        let r = Rewrites::new([("docker.io", &docker)]).unwrap();
        assert_eq!(
            r.path("docker.io", "rancher/mirrored-pause").unwrap(),
            Some("mirror/rancher/mirrored-pause".into())
        );
        assert_eq!(r.path("docker.io", "library/busybox").unwrap(), None);
        // Another registry's mirror has no rules.
        assert_eq!(r.path("quay.io", "rancher/x").unwrap(), None);
        assert_eq!(r.served("quay.io", "rancher/x").unwrap(), "rancher/x");
    }

    #[test]
    fn two_rules_that_disagree_are_named_and_two_that_agree_are_one() {
        let both = rules(&[("^rancher/(.*)", "a/$1"), ("mirrored", "other")]);
        let r = Rewrites::new([("docker.io", &both)]).unwrap();
        let err = r.path("docker.io", "rancher/mirrored-pause").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("a/mirrored-pause") && text.contains("rancher/other-pause"));
        // Only one changes this one.
        assert_eq!(
            r.path("docker.io", "rancher/pause").unwrap(),
            Some("a/pause".into())
        );
        let same = rules(&[("^rancher/(.*)", "a/$1"), ("^rancher/", "a/")]);
        let r = Rewrites::new([("docker.io", &same)]).unwrap();
        assert_eq!(
            r.path("docker.io", "rancher/x").unwrap(),
            Some("a/x".into())
        );
        // A rule that matches but changes nothing passes the turn on.
        let idle = rules(&[("^(rancher/.*)", "$1"), ("^rancher/", "b/")]);
        let r = Rewrites::new([("docker.io", &idle)]).unwrap();
        assert_eq!(
            r.path("docker.io", "rancher/x").unwrap(),
            Some("b/x".into())
        );
    }

    #[test]
    fn an_expression_that_does_not_compile_is_refused() {
        let bad = rules(&[("(", "x")]);
        assert!(matches!(
            Rewrites::new([("docker.io", &bad)]),
            Err(RewriteError::Pattern { .. })
        ));
    }
}
