//! The translation judged against Go's own `regexp` (see the table's comment).

use super::translate;
use crate::trust::keyless::identity::Pattern;

/// What Go's `regexp` does with a pattern and an input.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Go {
    /// `regexp.MatchString` is true.
    M,
    /// It is false.
    N,
    /// `regexp.Compile` refuses the pattern.
    E,
}
use Go::{E, M, N};

/// (pattern, input, what Go does). The expected values are what Go 1.19's
/// `regexp.MatchString` gives (go1.19.8 linux/amd64, its `regexp` read each pair from
/// this table), except that `(?<name>…)` (refused before Go 1.22) is not here.
///
/// The `regex` crate given the pattern as is disagrees on 82 of them, among which:
/// `\s` and `\v`, `\d` and `٣` (U+0663), `\w` and `é`, `\b` beside `é`, every `\Q…\E`,
/// `[[]`, `[a&&b]`, `a{,2}`, `a{01}`, `a**`, `(?x)`, `\pC` and an unassigned code point.
#[rustfmt::skip]
const CASES: &[(&str, &str, Go)] = &[
    // ordinary
    (r"^https://github\.com/org/repo/\.github/workflows/.*@refs/tags/v.*$", "https://github.com/org/repo/.github/workflows/release.yml@refs/tags/v1.2.3", M),
    (r"^https://github\.com/org/repo/\.github/workflows/.*@refs/tags/v.*$", "https://github.com/org/repo/.github/workflows/release.yml@refs/heads/main", N),
    (r"^https://github\.com/org/repo/\.github/workflows/.*@refs/tags/v.*$", "https://github.com/org/repo-fork/.github/workflows/release.yml@refs/tags/v1", N),
    (r"^https://github\.com/org/repo/\.github/workflows/.*@refs/tags/v.*$", "xhttps://github.com/org/repo/.github/workflows/release.yml@refs/tags/v1", N),
    (r"github\.com/org/", "https://github.com/org/repo", M),
    (r"^[^@]+@example\.com$", "alice@example.com", M),
    (r"^[^@]+@example\.com$", "alice@example.com.evil.net", N),
    (r"@example\.com", "alice@example.com.evil.net", M),
    (r"^https://accounts\.google\.com$", "https://accounts.google.com", M),
    ("example.com", "exampleXcom", M),
    (r"^(alice|bob)@example\.com$", "bob@example.com", M),
    (r"^(alice|bob)@example\.com$", "carol@example.com", N),
    ("", "", M),
    ("x*", "", M),
    ("^a.c$", "a\nc", N),
    ("(?s)^a.c$", "a\nc", M),
    ("^b$", "a\nb", N),
    ("(?m)^b$", "a\nb", M),
    ("a$", "a\n", N),
    ("(?m)a$", "a\n", M),
    (r"\Aa\z", "a", M),
    (r"a\Z", "a", E),
    ("(?U)^a+$", "aaa", M),
    ("(?i-s:A.)", "a\n", N),
    ("(?i-s:A.)", "ab", M),
    // (?i): Unicode simple folding
    ("(?i)^kelvin$", "\u{212a}elvin", M),
    ("K", "\u{212a}", N),
    ("(?i)K", "k", M),
    ("(?i)s", "\u{17f}", M),
    ("(?i)\u{df}", "\u{1e9e}", M),
    ("(?i)\u{3c3}", "\u{3c2}", M),
    ("(?i)i", "\u{130}", N),
    ("(?i)[k]", "\u{212a}", M),
    ("(?i)[^k]", "\u{212a}", N),
    // \d \w \s \b are ASCII
    (r"\d", "3", M),
    (r"\d", "\u{663}", N),
    (r"\D", "\u{663}", M),
    (r"[\d]", "\u{663}", N),
    (r"[^\d]", "\u{663}", M),
    (r"\w", "_", M),
    (r"\w", "\u{e9}", N),
    (r"^\W$", "\u{e9}", M),
    (r"[\w.-]+", "\u{e9}", N),
    (r"(?i)\w", "\u{212a}", M),
    (r"(?i)\W", "\u{212a}", N),
    (r"\s", "\u{b}", N),
    (r"\s", "\u{c}", M),
    (r"\s", "\u{a0}", N),
    (r"\S", "\u{b}", M),
    (r"[\s]", "\u{b}", N),
    (r"[^\s]", "\u{b}", M),
    (r"[\S]", "\u{b}", M),
    ("[[:space:]]", "\u{b}", M),
    ("\\bcaf\u{e9}\\b", "caf\u{e9}", N),
    ("\\b\u{e9}", "\u{e9}", N),
    ("\\B\u{e9}", "\u{e9}", M),
    ("\u{e9}\\b", "\u{e9}", N),
    (r"\B", "a\u{e9}a", N),
    (r"\bfoo\b", "a foo.", M),
    (r"\b{start}", "a{start}", M),
    (r"\b{start}", "{start}", N),
    // \Q...\E
    (r"\Qa.b\E", "a.b", M),
    (r"\Qa.b\E", "axb", N),
    (r"^\Qa.b", "a.b", M),
    (r"^\Q[x](?i)\E$", "[x](?i)", M),
    (r"^\Qab\E+$", "abbb", M),
    (r"^\Qab\E+$", "abab", N),
    (r"^a\Q\E$", "a", M),
    (r"[\Q]", "Q", E),
    // [ inside a class, POSIX classes, set operators
    ("[[]", "[", M),
    ("[a[]+$", "a[a", M),
    ("[[:alpha]", "p", M),
    ("[[:alpha:]]", "\u{e9}", N),
    ("[[:alpha:]]", "a", M),
    ("[[:^alpha:]]", "\u{e9}", M),
    ("(?i)[[:upper:]]", "a", M),
    ("[[:foo:]]", "f", E),
    ("[[:word:]]", "\u{e9}", N),
    ("[a&&b]", "a", M),
    ("[a&&b]", "&", M),
    ("[a--b]", "-", E),
    ("[a~~b]", "~", M),
    ("[]a]", "]", M),
    ("[^]a]", "b", M),
    ("[a-]", "-", M),
    ("[z-a]", "a", E),
    (r"[\d-z]", "-", M),
    (r"[a-\d]", "b", E),
    (r"[\b]", "b", E),
    ("[a", "a", E),
    // { that is no repetition
    ("a{", "a{", M),
    ("a{x}", "a{x}", M),
    ("^a{,2}$", "a{,2}", M),
    ("^a{01}$", "a{01}", M),
    ("^a{01}$", "a", N),
    ("^a{1, 2}$", "a{1, 2}", M),
    ("^a{2}$", "aa", M),
    ("^a{2,}$", "aaa", M),
    ("^a{1,2}$", "aaa", N),
    ("{", "{", M),
    ("a}", "a}", M),
    ("a]", "a]", M),
    ("a{1000}", "a", N),
    ("a{1001}", "a", E),
    ("a{2,1}", "aa", E),
    ("(?:a{100}){20}", "a", E),
    ("(a{10}){100}", "a", N),
    ("(a{10}b){101}", "a", E),
    ("((a{10})*){101}", "a", E),
    ("a**", "aa", E),
    ("a*??", "a", E),
    ("a{2}{3}", "aaaaaa", E),
    ("a+?$", "aa", M),
    ("^*", "a", M),
    ("*", "a", E),
    ("a|*", "a", E),
    ("(*)", "a", E),
    // flags, groups
    ("(?x)a b", "ab", E),
    ("(?u)a", "a", E),
    ("(?R)a", "a", E),
    ("(?)a", "a", M),
    ("(?-)a", "a", E),
    ("(?i-)a", "a", E),
    ("(?ii)a", "A", M),
    ("(?i-i)a", "A", N),
    ("(?i)*", "a", E),
    ("a(?i)*", "aa", M),
    ("(?P<n>a)", "a", M),
    ("(?P<1x>a)", "a", M),
    ("(?P<n>a)(?P<n>b)", "ab", M),
    ("(?P<n.x>a)", "a", E),
    ("(?=a)", "a", E),
    ("(?#c)a", "a", E),
    ("(?P=n)", "a", E),
    (r"(a)\1", "aa", E),
    (")", "a", E),
    ("(", "a", E),
    // escapes
    (r"\C", "a", E),
    (r"\101", "A", M),
    (r"\0", "\0", M),
    (r"\08", "\08", M),
    (r"\x41", "A", M),
    (r"\x{41}", "A", M),
    (r"\x{110000}", "a", E),
    (r"\x4", "a", E),
    (r"\u0041", "A", E),
    (r"\e", "\u{1b}", E),
    (r"\<a\>", "<a>", M),
    (r"^\<a\>$", "<a>", M),
    (r"\_", "_", M),
    (r"\@", "@", M),
    (r"\pL", "\u{e9}", M),
    (r"\p{Greek}", "\u{3b1}", M),
    (r"\p{greek}", "\u{3b1}", E),
    (r"\p{Letter}", "a", E),
    (r"\p{Alphabetic}", "a", E),
    (r"\p{^Greek}", "a", M),
    (r"\P{^Greek}", "a", N),
    (r"\PL", "1", M),
    (r"\pC", "\u{378}", N),
    (r"\pC", "\u{1}", M),
    (r"\p{Cn}", "\u{378}", E),
    (r"\p{Cs}", "a", N),
    (r"[^\p{Cs}]", "a", M),
    (r"\p{Any}", "a", M),
    (r"\p{L", "a", E),
    (r"[\p{Nd}]", "\u{663}", M),
    (r"(?i)\p{Lu}", "a", M),
    (r"\p{gc=Lu}", "A", E),
    (r"\p{sc=Greek}", "\u{3b1}", E),
    (r"\x{D800}", "a", N),
    (r"a|\x{D800}", "a", M),
    (r"[\x{D7FF}-\x{E000}]", "\u{e000}", M),
    (r"[\x{D800}-\x{DFFF}]", "a", N),
    (r"[^\x{D800}-\x{DFFF}]", "a", M),
    ("a(?i)b|C", "c", M),
    ("a*(?i)*", "aa", M),
    (r"a\E", "aE", E),
    (r"^\Qa\\E$", r"a\", M),
    (r"(?i)\Qk\E", "\u{212a}", M),
    ("(?m)^$", "a\n", M),
    (r"\P{Any}", "a", N),
    (r"[^\D]", "7", M),
    (r"(?i)[^\W]", "\u{212a}", M),
    (r"[\pL-]", "-", M),
];

fn go(pattern: &str, input: &str) -> Go {
    match Pattern::new("subject_regexp", pattern) {
        Ok(p) if p.is_match(input) => M,
        Ok(_) => N,
        Err(_) => E,
    }
}

#[test]
fn every_case_is_as_go_has_it() {
    let wrong: Vec<String> = CASES
        .iter()
        .filter(|&&(p, s, want)| go(p, s) != want)
        .map(|&(p, s, want)| {
            format!(
                "{p:?} on {s:?}: Go {want:?}, here {:?} ({:?})",
                go(p, s),
                translate(p)
            )
        })
        .collect();
    assert!(
        wrong.is_empty(),
        "{} of {}:\n{}",
        wrong.len(),
        CASES.len(),
        wrong.join("\n")
    );
}

/// Why the translation: the `regex` crate alone reads these otherwise than Go.
#[test]
fn the_regex_crate_alone_reads_them_otherwise() {
    for (p, s) in [
        (r"\s", "\u{b}"),
        (r"\d", "\u{663}"),
        (r"\w", "\u{e9}"),
        ("\\b\u{e9}", "\u{e9}"),
        (r"\Qa.b\E", "a.b"),
    ] {
        let want = CASES.iter().find(|c| c.0 == p && c.1 == s).map(|c| c.2);
        let alone = match regex::Regex::new(p) {
            Ok(r) if r.is_match(s) => M,
            Ok(_) => N,
            Err(_) => E,
        };
        assert_ne!(Some(alone), want, "{p:?} on {s:?}");
        assert_eq!(Some(go(p, s)), want, "{p:?} on {s:?}");
    }
}

#[test]
fn named_groups_are_read_as_go_1_22_reads_them() {
    assert_eq!(go("^(?<n>a)$", "a"), M);
    assert_eq!(go("(?<n.x>a)", "a"), E);
    assert_eq!(go("(?<=a)b", "ab"), E);
}

#[test]
fn every_unicode_name_go_knows_compiles() {
    for name in super::CATEGORIES.iter().chain(super::SCRIPTS) {
        for p in [format!(r"\p{{{name}}}"), format!(r"[^\P{{^{name}}}]")] {
            assert_ne!(go(&p, "a"), E, "{p}");
        }
    }
}

#[test]
fn the_translation_is_plain() {
    assert_eq!(translate(r"^a\.b$").unwrap(), r"^a\.b$");
    assert_eq!(
        translate(r"\d+\s").unwrap(),
        r"[0-9]+[\x{9}-\x{A}\x{C}-\x{D} ]"
    );
    assert_eq!(translate(r"[\w.-]").unwrap(), r"[[0-9A-Za-z_]\.\-]");
    assert_eq!(translate(r"\Q*\E{,1}").unwrap(), r"\*\{,1\}");
    assert_eq!(translate("a(?i)*(?i-i)b").unwrap(), "a*(?i)(?-i)b");
    assert_eq!(
        translate("(?x)").unwrap_err(),
        "invalid or unsupported Perl syntax: `(?x`"
    );
}
