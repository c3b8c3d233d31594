//! Debian version numbers and their ordering, as Debian policy §5.6.12 defines them.
//!
//! A version is `[epoch:]upstream[-revision]`. Versions compare epoch first (as a
//! number), then the upstream part, then the revision, each with dpkg's algorithm:
//! alternating runs of non-digits (compared character by character, where `~` sorts before
//! everything, even the end of the string, and letters sort before other characters) and
//! runs of digits (compared as numbers). A resolver that gets this wrong picks a package
//! apt will not accept, so the ordering is cross-checked against `dpkg --compare-versions`.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

/// A parsed Debian version.
#[derive(Debug, Clone, Eq)]
pub struct Version {
    epoch: u64,
    upstream: String,
    revision: String,
    text: String,
}

impl Version {
    /// Parses a version, rejecting what dpkg rejects: an empty or non-numeric epoch, an
    /// empty upstream part, or characters policy does not allow.
    pub fn parse(s: &str) -> Result<Version, String> {
        let text = s.trim();
        if text.is_empty() {
            return Err("empty version".into());
        }
        let (epoch, rest) = match text.split_once(':') {
            Some((e, rest)) => {
                let epoch = e
                    .parse::<u64>()
                    .ok()
                    .filter(|_| e.bytes().all(|b| b.is_ascii_digit()))
                    .ok_or_else(|| format!("version {text:?}: epoch {e:?} is not a number"))?;
                (epoch, rest)
            }
            None => (0, text),
        };
        let (upstream, revision) = match rest.rsplit_once('-') {
            Some((u, r)) => (u, r),
            None => (rest, ""),
        };
        if upstream.is_empty() {
            return Err(format!("version {text:?} has an empty upstream part"));
        }
        if !upstream.as_bytes()[0].is_ascii_digit() {
            return Err(format!("version {text:?} does not start with a digit"));
        }
        let allowed = |b: u8| b.is_ascii_alphanumeric() || b"~+.-:".contains(&b);
        if let Some(bad) = rest.bytes().find(|&b| !allowed(b)) {
            return Err(format!(
                "version {text:?} contains {:?}, which policy does not allow",
                bad as char
            ));
        }
        if rest.contains('-') && revision.is_empty() {
            return Err(format!("version {text:?} has an empty revision"));
        }
        Ok(Version {
            epoch,
            upstream: upstream.to_string(),
            revision: revision.to_string(),
            text: text.to_string(),
        })
    }

    /// The epoch (0 when absent).
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The upstream part.
    pub fn upstream(&self) -> &str {
        &self.upstream
    }

    /// The Debian revision (empty when absent).
    pub fn revision(&self) -> &str {
        &self.revision
    }

    /// The version without its epoch, as it appears in pool file names.
    pub fn without_epoch(&self) -> String {
        if self.revision.is_empty() {
            self.upstream.clone()
        } else {
            format!("{}-{}", self.upstream, self.revision)
        }
    }
}

impl FromStr for Version {
    type Err = String;

    fn from_str(s: &str) -> Result<Version, String> {
        Version::parse(s)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        self.epoch
            .cmp(&other.epoch)
            .then_with(|| compare_part(&self.upstream, &other.upstream))
            .then_with(|| compare_part(&self.revision, &other.revision))
    }
}

/// The weight of one character in a non-digit run: `~` first, then the end of the run,
/// then letters, then everything else.
fn order(c: Option<u8>) -> i32 {
    match c {
        Some(b'~') => -1,
        None => 0,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => i32::from(c),
        Some(c) => i32::from(c) + 256,
    }
}

/// dpkg's `verrevcmp`: compares an upstream part or a revision.
fn compare_part(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        while (i < a.len() && !a[i].is_ascii_digit()) || (j < b.len() && !b[j].is_ascii_digit()) {
            let (ca, cb) = (order(a.get(i).copied()), order(b.get(j).copied()));
            if ca != cb {
                return ca.cmp(&cb);
            }
            i += 1;
            j += 1;
        }
        while a.get(i) == Some(&b'0') {
            i += 1;
        }
        while b.get(j) == Some(&b'0') {
            j += 1;
        }
        let start = (i, j);
        while i < a.len() && a[i].is_ascii_digit() {
            i += 1;
        }
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        let (da, db) = (&a[start.0..i], &b[start.1..j]);
        let by_number = da.len().cmp(&db.len()).then_with(|| da.cmp(db));
        if by_number != Ordering::Equal {
            return by_number;
        }
    }
    Ordering::Equal
}

/// A relation operator in a dependency field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Op {
    /// `<<`
    Less,
    /// `<=` (and the obsolete `<`)
    LessEq,
    /// `=`
    Eq,
    /// `>=` (and the obsolete `>`)
    GreaterEq,
    /// `>>`
    Greater,
}

impl Op {
    /// Parses an operator as it appears between the parentheses.
    pub fn parse(s: &str) -> Option<Op> {
        Some(match s {
            "<<" => Op::Less,
            "<=" | "<" => Op::LessEq,
            "=" => Op::Eq,
            ">=" | ">" => Op::GreaterEq,
            ">>" => Op::Greater,
            _ => return None,
        })
    }

    /// True if `have OP want` holds.
    pub fn holds(self, have: &Version, want: &Version) -> bool {
        let o = have.cmp(want);
        match self {
            Op::Less => o == Ordering::Less,
            Op::LessEq => o != Ordering::Greater,
            Op::Eq => o == Ordering::Equal,
            Op::GreaterEq => o != Ordering::Less,
            Op::Greater => o == Ordering::Greater,
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Op::Less => "<<",
            Op::LessEq => "<=",
            Op::Eq => "=",
            Op::GreaterEq => ">=",
            Op::Greater => ">>",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap()
    }

    /// (a, b, expected ordering of a against b)
    const CASES: &[(&str, &str, Ordering)] = &[
        // Policy §5.6.12's own examples.
        ("1.0~rc1", "1.0", Ordering::Less),
        ("1~~", "1~~a", Ordering::Less),
        ("1~~a", "1~", Ordering::Less),
        ("1~", "1", Ordering::Less),
        ("1", "1a", Ordering::Less),
        ("1:1.0", "2.0", Ordering::Greater),
        ("1.0", "1.0-0", Ordering::Equal),
        ("1.0-1", "1.0-1+b1", Ordering::Less),
        ("1.0a", "1.0+", Ordering::Less),
        ("1.0", "1.0a", Ordering::Less),
        // Epochs.
        ("0:1.0", "1.0", Ordering::Equal),
        ("1:0.1", "0:9.9", Ordering::Greater),
        ("2:1", "10:1", Ordering::Less),
        ("1:5.16-1ubuntu0.2", "5.16-1ubuntu0.2", Ordering::Greater),
        // Numbers compare as numbers, leading zeros ignored.
        ("1.10", "1.9", Ordering::Greater),
        ("1.002", "1.2", Ordering::Equal),
        ("10", "9", Ordering::Greater),
        ("1.0.0", "1.0", Ordering::Greater),
        ("1.0.0", "1.0.", Ordering::Equal),
        ("1.00000000000000000000001", "1.1", Ordering::Equal),
        (
            "1.99999999999999999999999",
            "1.100000000000000000000000",
            Ordering::Less,
        ),
        // Tildes.
        ("1.0~beta", "1.0~alpha", Ordering::Greater),
        ("1.0~", "1.0", Ordering::Less),
        ("1.0~~", "1.0~", Ordering::Less),
        ("2.30~rc1", "2.30~rc1.1", Ordering::Less),
        ("1.0-1~bpo1", "1.0-1", Ordering::Less),
        ("6.9.8-1~deb12u1", "6.9.8-1", Ordering::Less),
        // Revisions.
        ("1.0-1", "1.0-2", Ordering::Less),
        ("1.0-10", "1.0-9", Ordering::Greater),
        ("1.0-1ubuntu1", "1.0-1", Ordering::Greater),
        ("1.6-2.1+deb12u3", "1.6-2.1", Ordering::Greater),
        ("1.6-2.1+deb12u3", "1.6-2.1+deb12u10", Ordering::Less),
        ("2.36-9+deb12u10", "2.36-9+deb12u9", Ordering::Greater),
        ("1-2-3", "1-2-4", Ordering::Less),
        ("1-2-3", "1-2", Ordering::Greater),
        // Letters sort before non-letters, case matters.
        ("1.0a", "1.0A", Ordering::Greater),
        ("1.0+a", "1.0.a", Ordering::Less),
        ("1.0+dfsg", "1.0", Ordering::Greater),
        ("1.0+dfsg", "1.0-1", Ordering::Greater),
        ("1a", "1b", Ordering::Less),
        ("1.2.3a", "1.2.3.1", Ordering::Less),
        ("0.1", "0.1", Ordering::Equal),
        ("1:2.36-9", "1:2.36-9", Ordering::Equal),
        ("3.0.5-7build2", "3.0.5-7", Ordering::Greater),
        ("0.7.4-6.1", "0.7.4-6", Ordering::Greater),
        ("1.2+git20200101", "1.2+git20191231", Ordering::Greater),
    ];

    #[test]
    fn comparisons_follow_policy() {
        assert!(CASES.len() >= 40);
        for (a, b, want) in CASES {
            assert_eq!(v(a).cmp(&v(b)), *want, "{a} vs {b}");
            assert_eq!(v(b).cmp(&v(a)), want.reverse(), "{b} vs {a}");
        }
    }

    #[test]
    fn parts_are_split_at_the_first_colon_and_last_hyphen() {
        let x = v("1:2.0-rc-3");
        assert_eq!((x.epoch(), x.upstream(), x.revision()), (1, "2.0-rc", "3"));
        assert_eq!(x.without_epoch(), "2.0-rc-3");
        assert_eq!(x.to_string(), "1:2.0-rc-3");
        assert_eq!(v("1.6").without_epoch(), "1.6");
    }

    #[test]
    fn invalid_versions_are_rejected() {
        for bad in ["", "a1.0", "x:1.0", "1.0-", "1.0 2", "1_0", ":1"] {
            assert!(Version::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn operators_hold_as_dpkg_says() {
        let (a, b) = (v("1.0"), v("1.1"));
        assert!(Op::Less.holds(&a, &b));
        assert!(!Op::Less.holds(&b, &b));
        assert!(Op::LessEq.holds(&b, &b));
        assert!(Op::Eq.holds(&v("1.0-0"), &a));
        assert!(Op::GreaterEq.holds(&b, &a));
        assert!(Op::Greater.holds(&b, &a));
        assert!(!Op::Greater.holds(&a, &a));
        assert_eq!(Op::parse("<"), Some(Op::LessEq));
        assert_eq!(Op::parse(">"), Some(Op::GreaterEq));
        assert_eq!(Op::parse("=>"), None);
    }
}
