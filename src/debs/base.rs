//! What the node image already has (`--base`, `packages[].base`), in one of three forms:
//!
//! - dpkg's status file (`/var/lib/dpkg/status`): exact, the installed packages with their
//!   `Provides`;
//! - three columns, `name version provides` (`dpkg-query -W -f='${Package}\t${Version}\t${Provides}\n'`):
//!   the same packages and `Provides`;
//! - two columns, `name version` (`dpkg-query -W`): no `Provides`, so each package's are
//!   taken from the repository's entry for that package at that exact version (the same
//!   version of a package is the same package), as apt on the node knows them.
//!
//! Whatever the form, a package the base has at a version is never bundled at that version.
//! The base's own dependencies (the status file's `Pre-Depends` and `Depends`, else the
//! repository's entry at the same version) say which of its packages a newer version in
//! the bundle would leave broken.

use super::control::{Dependency, Relation};
use super::error::DebsError;
use super::universe::Universe;
use super::version::{Op, Version};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// What the node image already has: see the module documentation for its forms.
#[derive(Debug, Clone, Default)]
pub struct Base {
    /// Each installed package's version and `Provides`.
    pub(super) installed: BTreeMap<String, (Version, Vec<Dependency>)>,
    /// The packages whose `Provides` the base did not say (two-column lines).
    unknown_provides: BTreeSet<String>,
    /// Each installed package's `Pre-Depends` and `Depends`, where known.
    depends: BTreeMap<String, Vec<Relation>>,
}

impl Base {
    /// Reads a base list file.
    pub fn load(path: &Path) -> Result<Base, DebsError> {
        let text = crate::input::read_to_string(path, crate::input::Kind::Text)
            .map_err(|e| DebsError::io(path, e.into_io()))?;
        Base::parse(&text, &path.display().to_string())
    }

    /// Parses base list text, or a dpkg status file; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Base, DebsError> {
        let first = text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with('#'));
        if first.is_some_and(|l| l.starts_with("Package:")) {
            return Base::parse_status(text, origin);
        }
        let mut base = Base::default();
        for (i, line) in text.lines().enumerate() {
            let bad = |message: String| DebsError::Index {
                source_name: origin.to_string(),
                line: i + 1,
                message,
            };
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            // Columns are separated by tabs (dpkg-query) or any run of blanks (a list
            // written by hand or aligned); the third is the rest of the line.
            let (name, rest) = split_word(line);
            let name = name.split_once(':').map_or(name, |(n, _)| n);
            let (version, rest) = split_word(rest);
            if version.is_empty() {
                continue; // known to dpkg but not installed
            }
            let version = Version::parse(version).map_err(|e| bad(format!("{name}: {e}")))?;
            if rest.is_empty() {
                base.unknown_provides.insert(name.to_string());
            } else {
                base.unknown_provides.remove(name);
            }
            let provides = provides(Some(rest)).map_err(|e| bad(format!("{name}: {e}")))?;
            base.installed.insert(name.to_string(), (version, provides));
        }
        Ok(base)
    }

    /// A dpkg status file: the packages whose `Status` is `install ok installed` (a
    /// removed package keeps its paragraph with another status), with their `Provides`.
    fn parse_status(text: &str, origin: &str) -> Result<Base, DebsError> {
        let bad = |line: usize, message: String| DebsError::Index {
            source_name: origin.to_string(),
            line,
            message,
        };
        let paragraphs = super::control::parse_paragraphs(text).map_err(|(l, m)| bad(l, m))?;
        let (mut installed, mut depends) = (BTreeMap::new(), BTreeMap::new());
        for p in &paragraphs {
            let (Some(name), Some(status)) = (p.get("Package"), p.get("Status")) else {
                return Err(bad(
                    p.line,
                    "a status entry needs Package and Status".into(),
                ));
            };
            let words: Vec<&str> = status.split_whitespace().collect();
            if words.last() != Some(&"installed") {
                continue;
            }
            let Some(version) = p.get("Version") else {
                return Err(bad(p.line, format!("{name}: installed but no Version")));
            };
            let version =
                Version::parse(version).map_err(|e| bad(p.line, format!("{name}: {e}")))?;
            let provides =
                provides(p.get("Provides")).map_err(|e| bad(p.line, format!("{name}: {e}")))?;
            let mut relations = Vec::new();
            for field in ["Pre-Depends", "Depends"] {
                if let Some(text) = p.get(field).filter(|t| !t.trim().is_empty()) {
                    relations.extend(super::control::parse_relations(text).map_err(|e| {
                        bad(p.line, format!("{name}: {}: {e}", field.to_lowercase()))
                    })?);
                }
            }
            installed.insert(name.to_string(), (version, provides));
            depends.insert(name.to_string(), relations);
        }
        Ok(Base {
            installed,
            unknown_provides: BTreeSet::new(),
            depends,
        })
    }

    /// The base with what it did not say taken from `universe`: a two-column package's
    /// `Provides`, and a listed package's `Pre-Depends` and `Depends`, are those of the
    /// candidate of the same name at the same version (of the native architecture or
    /// `all`), when the sources have it.
    pub fn with_fields_from(&self, universe: &Universe) -> Base {
        let mut base = self.clone();
        if base.unknown_provides.is_empty() && base.depends.len() == base.installed.len() {
            return base;
        }
        for c in &universe.candidates {
            if c.arch != universe.arch && c.arch != "all" {
                continue;
            }
            let Some((version, list)) = base.installed.get_mut(&c.name) else {
                continue;
            };
            if *version != c.version {
                continue;
            }
            // Checked when the candidate was read, so they parse.
            if base.unknown_provides.remove(&c.name) {
                let from_repo = c.fields.relations("Provides").unwrap_or_default();
                *list = from_repo.into_iter().flat_map(|r| r.0).collect();
            }
            if !base.depends.contains_key(&c.name) {
                let mut relations = c.fields.relations("Pre-Depends").unwrap_or_default();
                relations.extend(c.fields.relations("Depends").unwrap_or_default());
                base.depends.insert(c.name.clone(), relations);
            }
        }
        base
    }

    /// Each installed package with its `Pre-Depends` and `Depends`, where known.
    pub(super) fn depends(&self) -> impl Iterator<Item = (&str, &Version, &[Relation])> {
        self.depends.iter().filter_map(|(name, relations)| {
            let (version, _) = self.installed.get(name)?;
            Some((name.as_str(), version, relations.as_slice()))
        })
    }

    /// Number of installed packages listed.
    pub fn len(&self) -> usize {
        self.installed.len()
    }

    /// True if nothing is listed.
    pub fn is_empty(&self) -> bool {
        self.installed.is_empty()
    }

    /// The version of `name` the base has, if any.
    pub fn version_of(&self, name: &str) -> Option<&Version> {
        self.installed.get(name).map(|(v, _)| v)
    }

    /// True if the base has `name` at exactly `version`.
    pub(super) fn has_exactly(&self, name: &str, version: &Version) -> bool {
        self.version_of(name).is_some_and(|v| v == version)
    }

    /// True if a package the base has, or one of their `Provides`, meets `dep`.
    pub(super) fn satisfies(&self, dep: &Dependency) -> bool {
        if let Some((v, _)) = self.installed.get(&dep.name)
            && dep.accepts(v)
        {
            return true;
        }
        self.installed
            .values()
            .any(|(_, provides)| provides.iter().any(|p| provide_meets(p, dep)))
    }
}

/// The first blank-separated word of `text` and the rest, trimmed.
fn split_word(text: &str) -> (&str, &str) {
    match text.split_once([' ', '\t']) {
        Some((word, rest)) => (word, rest.trim()),
        None => (text, ""),
    }
}

/// A base package's `Provides` list (none when absent or empty).
fn provides(text: Option<&str>) -> Result<Vec<Dependency>, String> {
    match text.filter(|t| !t.is_empty()) {
        Some(t) => Ok(super::control::parse_relations(t)
            .map_err(|e| format!("provides: {e}"))?
            .into_iter()
            .flat_map(|r| r.0)
            .collect()),
        None => Ok(Vec::new()),
    }
}

/// True if a `Provides` entry meets a dependency: same name, and a versioned dependency
/// needs a versioned provide that satisfies it.
pub(super) fn provide_meets(provide: &Dependency, dep: &Dependency) -> bool {
    provide.name == dep.name
        && match (&dep.constraint, &provide.constraint) {
            (None, _) => true,
            (Some((op, want)), Some((Op::Eq, have))) => op.holds(have, want),
            (Some(_), _) => false,
        }
}
