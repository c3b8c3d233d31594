//! The dependency closure: every package apt will need to install the requested ones on a
//! node that has only its base image and our bundle.
//!
//! The resolver follows `Pre-Depends` and `Depends` (not `Recommends`: the install script
//! passes `--no-install-recommends`), takes the first satisfiable alternative, prefers a
//! real package over a virtual one provided by others (a versioned dependency is only met
//! by a versioned `Provides`, as in apt), picks the highest version, and honours
//! architecture qualifiers (`:any`, `:native`). When two packages need different versions
//! of a third, the stricter constraint is remembered and the search restarts; when no
//! version satisfies them all, or a chosen package conflicts with another, the error says
//! who wants what. Packages the base already has at a satisfying version are left out.
//!
//! What the base has is judged as `apt-get install` judges it: a requested package the base
//! has at an older version than the candidate is upgraded (bundled at the candidate's
//! version, with what that version needs), and a base version equal to or newer than the
//! candidate stays as it is. A dependency the base meets, even at an older version than the
//! sources offer, is left alone; one whose base version no longer meets what the bundle
//! needs is upgraded. Each upgrade is reported (`upgrades jq 1.6-2.1+deb12u1 ->
//! 1.6-2.1+deb12u3`). A base package an upgrade would leave broken (it depends on the old
//! version) is refused, naming it: it is to be requested too.

use super::base::{Base, provide_meets};
use super::control::{Dependency, Relation, provided_names};
use super::error::DebsError;
use super::request::Request;
use super::universe::{Candidate, Universe};
use super::version::Op;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;

/// One package of the closure.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Resolved {
    /// Package name.
    pub name: String,
    /// Version.
    pub version: String,
    /// Architecture.
    pub arch: String,
    /// Size of the .deb.
    pub size: u64,
    /// The packages whose dependencies pulled this one in (`requested` for the request).
    pub pulled_by: Vec<String>,
    /// Index into the universe's candidates.
    #[serde(skip)]
    pub candidate: usize,
}

/// The resolved closure.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Closure {
    /// Packages to ship, sorted by name.
    pub packages: Vec<Resolved>,
    /// Requested packages the base already has.
    pub already_in_base: Vec<String>,
    /// What the node's install.sh asks apt for and checks afterwards: each request the base
    /// does not meet, as apt means it: `name=version` keeps its version, and a virtual
    /// name becomes the package chosen to provide it (apt has no candidate for a virtual
    /// name, and dpkg never lists one as installed).
    pub install: Vec<Request>,
    /// The packages of `packages` the base has at an older version: what the bundle
    /// upgrades on the node, by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub upgrades: Vec<Upgrade>,
}

/// A package the bundle upgrades: the base has `from`, the bundle carries `to`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Upgrade {
    /// Package name.
    pub name: String,
    /// The base's version.
    pub from: String,
    /// The bundle's version.
    pub to: String,
}

impl fmt::Display for Upgrade {
    /// `jq 1.6-2.1+deb12u1 -> 1.6-2.1+deb12u3`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} -> {}", self.name, self.from, self.to)
    }
}

const REQUESTED: &str = "requested";

/// Resolves the closure of `requests` over `universe`, leaving out what `base` has.
pub fn resolve(
    universe: &Universe,
    requests: &[Request],
    base: &Base,
) -> Result<Closure, DebsError> {
    let base = base.with_fields_from(universe);
    let resolver = Resolver::new(universe, &base)?;
    resolver.check_virtual_requests(requests)?;
    let mut pins: BTreeMap<String, Vec<(Dependency, String)>> = BTreeMap::new();
    for _ in 0..100 {
        match resolver.attempt(requests, &pins) {
            Ok(closure) => {
                resolver.check_conflicts(&closure)?;
                resolver.check_base_kept_whole(&closure)?;
                return Ok(closure);
            }
            Err(Failed::Fatal(message)) => return Err(DebsError::Unsatisfiable(message)),
            Err(Failed::Retry { name, dep, by }) => {
                let list = pins.entry(name).or_default();
                if list.iter().any(|(d, _)| *d == *dep) {
                    return Err(DebsError::Unsatisfiable(format!(
                        "{by} needs {dep}, which conflicts with another choice"
                    )));
                }
                list.push((*dep, by));
            }
        }
    }
    Err(DebsError::Unsatisfiable(
        "the dependency search did not settle after 100 restarts".into(),
    ))
}

enum Failed {
    Retry {
        name: String,
        dep: Box<Dependency>,
        by: String,
    },
    Fatal(String),
}

struct Resolver<'a> {
    universe: &'a Universe,
    base: &'a Base,
    by_name: HashMap<&'a str, Vec<usize>>,
    /// The candidates whose `Provides` names each virtual package (found by a scan of
    /// the field's names; each candidate's full `Provides` is parsed when needed).
    providers: HashMap<&'a str, Vec<usize>>,
    provides: Vec<std::cell::OnceCell<Vec<Dependency>>>,
    /// Each candidate's Pre-Depends and Depends, parsed when the closure first reaches it
    /// (a whole archive's would be most of the memory a resolve takes).
    depends: Vec<std::cell::OnceCell<Vec<Relation>>>,
}

type Pins = BTreeMap<String, Vec<(Dependency, String)>>;

impl<'a> Resolver<'a> {
    fn new(universe: &'a Universe, base: &'a Base) -> Result<Resolver<'a>, DebsError> {
        let mut by_name: HashMap<&str, Vec<usize>> = HashMap::new();
        let mut providers: HashMap<&str, Vec<usize>> = HashMap::new();
        for (i, c) in universe.candidates.iter().enumerate() {
            by_name.entry(c.name.as_str()).or_default().push(i);
            for name in provided_names(c.fields.get("Provides").unwrap_or_default()) {
                let list = providers.entry(name).or_default();
                if list.last() != Some(&i) {
                    list.push(i);
                }
            }
        }
        Ok(Resolver {
            universe,
            base,
            by_name,
            providers,
            provides: (0..universe.candidates.len())
                .map(|_| std::cell::OnceCell::new())
                .collect(),
            depends: (0..universe.candidates.len())
                .map(|_| std::cell::OnceCell::new())
                .collect(),
        })
    }

    /// The `Provides` of candidate `i` (checked when the candidate was read, so it parses).
    fn provides(&self, i: usize) -> &[Dependency] {
        self.provides[i].get_or_init(|| {
            let rels = self.candidate(i).fields.relations("Provides");
            rels.unwrap_or_default()
                .into_iter()
                .flat_map(|r| r.0)
                .collect()
        })
    }

    /// Every (candidate, provide) that provides `name`.
    fn provider_entries<'s>(
        &'s self,
        name: &'s str,
    ) -> impl Iterator<Item = (usize, &'s Dependency)> + 's {
        self.providers
            .get(name)
            .into_iter()
            .flatten()
            .flat_map(move |&i| {
                self.provides(i)
                    .iter()
                    .filter(move |p| p.name == name)
                    .map(move |p| (i, p))
            })
    }

    /// Pre-Depends and Depends of candidate `i` (checked when the candidate was read, so
    /// they parse).
    fn depends(&self, i: usize) -> &[Relation] {
        self.depends[i].get_or_init(|| {
            let c = self.candidate(i);
            let mut deps = c.fields.relations("Pre-Depends").unwrap_or_default();
            deps.extend(c.fields.relations("Depends").unwrap_or_default());
            deps
        })
    }

    fn candidate(&self, i: usize) -> &'a Candidate {
        &self.universe.candidates[i]
    }

    fn arch_ok(&self, c: &Candidate, dep: &Dependency) -> bool {
        let native = self.universe.arch.as_str();
        match dep.arch.as_deref() {
            Some("any") => true,
            None | Some("native") => c.arch == native || c.arch == "all",
            Some(a) => c.arch == a || c.arch == "all",
        }
    }

    fn pinned_ok(pins: &Pins, c: &Candidate) -> bool {
        pins.get(&c.name)
            .is_none_or(|list| list.iter().all(|(d, _)| d.accepts(&c.version)))
    }

    /// The best candidate for one alternative: the highest acceptable version of the real
    /// package, else the first provider by name.
    fn best(&self, dep: &Dependency, pins: &Pins) -> Option<usize> {
        let real = self.by_name.get(dep.name.as_str()).into_iter().flatten();
        let best_real = real
            .copied()
            .filter(|&i| {
                let c = self.candidate(i);
                self.arch_ok(c, dep) && dep.accepts(&c.version) && Self::pinned_ok(pins, c)
            })
            .max_by(|&a, &b| {
                self.candidate(a)
                    .version
                    .cmp(&self.candidate(b).version)
                    .then(b.cmp(&a))
            });
        if best_real.is_some() {
            return best_real;
        }
        self.provider_entries(&dep.name)
            .filter(|(i, p)| {
                let c = self.candidate(*i);
                self.arch_ok(c, dep) && provide_meets(p, dep) && Self::pinned_ok(pins, c)
            })
            .map(|(i, _)| i)
            .min_by(|&a, &b| {
                let (ca, cb) = (self.candidate(a), self.candidate(b));
                ca.name.cmp(&cb.name).then(cb.version.cmp(&ca.version))
            })
    }

    /// The selected package that satisfies `rel`, if any.
    fn selected_for(
        &self,
        rel: &Relation,
        selected: &BTreeMap<String, Resolved>,
    ) -> Option<String> {
        rel.0.iter().find_map(|dep| {
            if let Some(s) = selected.get(&dep.name)
                && self.arch_ok(self.candidate(s.candidate), dep)
                && dep.accepts(&self.candidate(s.candidate).version)
            {
                return Some(s.name.clone());
            }
            self.provider_entries(&dep.name).find_map(|(i, p)| {
                let c = self.candidate(i);
                let chosen = selected.get(&c.name).is_some_and(|s| s.candidate == i);
                (chosen && provide_meets(p, dep)).then(|| c.name.clone())
            })
        })
    }

    fn attempt(&self, requests: &[Request], pins: &Pins) -> Result<Closure, Failed> {
        let mut selected: BTreeMap<String, Resolved> = BTreeMap::new();
        let mut already_in_base = Vec::new();
        let mut queue: VecDeque<(Relation, String)> = requests
            .iter()
            .map(|r| (Relation(vec![r.dependency()]), REQUESTED.to_string()))
            .collect();
        while let Some((rel, by)) = queue.pop_front() {
            let met = if by == REQUESTED {
                rel.0.iter().any(|d| self.base_meets_request(d)) && !self.upgrade_of(&rel, pins)
            } else {
                rel.0.iter().any(|d| self.base.satisfies(d))
            };
            if met {
                if by == REQUESTED {
                    already_in_base.push(rel.to_string());
                }
                continue;
            }
            if let Some(name) = self.selected_for(&rel, &selected) {
                if let Some(s) = selected.get_mut(&name)
                    && !s.pulled_by.contains(&by)
                {
                    s.pulled_by.push(by);
                }
                continue;
            }
            let Some((dep, i)) = rel
                .0
                .iter()
                .find_map(|d| self.best(d, pins).map(|i| (d, i)))
            else {
                return Err(Failed::Fatal(self.explain(&rel, &by, pins, &selected)));
            };
            let c = self.candidate(i);
            if self.base.has_exactly(&c.name, &c.version) {
                // The node has this very package (met through one of its Provides the
                // base did not list): apt installs nothing for it.
                if by == REQUESTED {
                    already_in_base.push(rel.to_string());
                }
                continue;
            }
            if let Some(have) = self.base.version_of(&c.name)
                && c.version < *have
            {
                // The highest candidate that fits is older than the node's own: apt
                // refuses to downgrade, so the bundle would fail on the node.
                return Err(Failed::Fatal(format!(
                    "{} needs {dep}, but the best candidate is {} {} and the base has {} {have}, which apt will not downgrade; {}",
                    self.describe(&by, &selected),
                    c.name,
                    c.version,
                    c.name,
                    self.newer_source_advice()
                )));
            }
            if selected.contains_key(&c.name) {
                // A virtual dependency met by another version of a chosen package pins
                // that exact version.
                let dep = if dep.name == c.name {
                    dep.clone()
                } else {
                    Dependency {
                        name: c.name.clone(),
                        arch: None,
                        constraint: Some((Op::Eq, c.version.clone())),
                    }
                };
                return Err(Failed::Retry {
                    name: c.name.clone(),
                    dep: Box::new(dep),
                    by: self.describe(&by, &selected),
                });
            }
            selected.insert(
                c.name.clone(),
                Resolved {
                    name: c.name.clone(),
                    version: c.version.to_string(),
                    arch: c.arch.clone(),
                    size: c.size,
                    pulled_by: vec![by],
                    candidate: i,
                },
            );
            for r in self.depends(i) {
                queue.push_back((r.clone(), c.name.clone()));
            }
        }
        let install = requests
            .iter()
            .filter_map(|r| {
                let dep = r.dependency();
                if self.base_meets_request(&dep) && !selected.contains_key(&r.name) {
                    return None;
                }
                if self.by_name.contains_key(r.name.as_str()) {
                    return Some(r.clone());
                }
                let name = self.selected_for(&Relation(vec![dep]), &selected)?;
                Some(Request {
                    name,
                    version: None,
                })
            })
            .collect();
        let upgrades = (selected.values())
            .filter_map(|s| {
                let have = self.base.version_of(&s.name)?;
                let to = &self.candidate(s.candidate).version;
                (have < to).then(|| Upgrade {
                    name: s.name.clone(),
                    from: have.to_string(),
                    to: to.to_string(),
                })
            })
            .collect();
        Ok(Closure {
            packages: selected.into_values().collect(),
            already_in_base,
            install,
            upgrades,
        })
    }

    /// True if the base meets a request as apt sees it: a real package (one the sources
    /// have) only by itself, whatever the base's packages provide (`apt-get install
    /// lsb-base` installs lsb-base even where sysvinit-utils provides it); a virtual name
    /// by a package or a `Provides`.
    fn base_meets_request(&self, dep: &Dependency) -> bool {
        if self.by_name.contains_key(dep.name.as_str()) {
            self.base
                .version_of(&dep.name)
                .is_some_and(|v| dep.accepts(v))
        } else {
            self.base.satisfies(dep)
        }
    }

    /// True if `rel`, a request, names a real package the base has at an older version
    /// than the best candidate: `apt-get install NAME` upgrades it.
    fn upgrade_of(&self, rel: &Relation, pins: &Pins) -> bool {
        let [dep] = rel.0.as_slice() else {
            return false;
        };
        let Some(have) = self.base.version_of(&dep.name) else {
            return false;
        };
        self.by_name
            .get(dep.name.as_str())
            .into_iter()
            .flatten()
            .map(|&i| self.candidate(i))
            .filter(|c| self.arch_ok(c, dep) && dep.accepts(&c.version))
            .filter(|c| Self::pinned_ok(pins, c))
            .map(|c| &c.version)
            .max()
            .is_some_and(|best| best > have)
    }

    /// A base package the bundle does not replace, whose dependency the bundle's upgrades
    /// no longer meet (it needs the old version), is refused: apt would upgrade it too, or
    /// remove it, and the bundle carries neither its new version nor that decision.
    fn check_base_kept_whole(&self, closure: &Closure) -> Result<(), DebsError> {
        if closure.upgrades.is_empty() {
            return Ok(());
        }
        let bundled: BTreeMap<&str, &Candidate> = (closure.packages.iter())
            .map(|r| (r.name.as_str(), self.candidate(r.candidate)))
            .collect();
        let meets = |dep: &Dependency| {
            if let Some(c) = bundled.get(dep.name.as_str()) {
                if dep.accepts(&c.version) {
                    return true;
                }
            } else if self
                .base
                .version_of(&dep.name)
                .is_some_and(|v| dep.accepts(v))
            {
                return true;
            }
            let by_bundle = (closure.packages.iter())
                .any(|r| (self.provides(r.candidate).iter()).any(|p| provide_meets(p, dep)));
            by_bundle
                || (self.base.installed.iter())
                    .filter(|(name, _)| !bundled.contains_key(name.as_str()))
                    .any(|(_, (_, provides))| provides.iter().any(|p| provide_meets(p, dep)))
        };
        for (name, version, relations) in self.base.depends() {
            if bundled.contains_key(name) {
                continue;
            }
            for rel in relations {
                let touched = rel
                    .0
                    .iter()
                    .any(|d| closure.upgrades.iter().any(|u| u.name == d.name));
                if !touched || rel.0.iter().any(&meets) {
                    continue;
                }
                let upgrades: Vec<String> = (closure.upgrades.iter())
                    .filter(|u| rel.0.iter().any(|d| d.name == u.name))
                    .map(|u| format!("upgrades {u}"))
                    .collect();
                return Err(DebsError::Unsatisfiable(format!(
                    "the bundle {}, but the base's {name} {version} depends on {rel}, which the new version does not meet, so apt would upgrade {name} too or remove it: request {name} too, so that the bundle carries its new version",
                    upgrades.join(" and ")
                )));
            }
        }
        Ok(())
    }

    /// A requested virtual name (no package has it) that the base does not meet must have
    /// exactly one provider: apt itself refuses to choose among several.
    fn check_virtual_requests(&self, requests: &[Request]) -> Result<(), DebsError> {
        for r in requests {
            let dep = r.dependency();
            if self.by_name.contains_key(r.name.as_str()) || self.base.satisfies(&dep) {
                continue;
            }
            let mut names: Vec<&str> = self
                .provider_entries(&r.name)
                .filter(|(i, p)| self.arch_ok(self.candidate(*i), &dep) && provide_meets(p, &dep))
                .map(|(i, _)| self.candidate(i).name.as_str())
                .collect();
            names.sort_unstable();
            names.dedup();
            if names.len() > 1 {
                return Err(DebsError::Unsatisfiable(format!(
                    "{r} is a virtual package provided by {}: request one of them",
                    names.join(", ")
                )));
            }
        }
        Ok(())
    }

    /// What to add so that the base's newer version is found: the security suite of a
    /// Debian release source when it is not a source yet, else in general terms.
    fn newer_source_advice(&self) -> String {
        let lines: Vec<String> = (self.universe.suggested.iter())
            .map(|line| match line.split_once(' ') {
                Some((url, rest)) => format!("\"{} {rest}\"", crate::redact::url(url)),
                None => format!("\"{line}\""),
            })
            .collect();
        if lines.is_empty() {
            "add the source the base's version comes from (e.g. bookworm-security)".into()
        } else {
            format!(
                "add the source the base's version comes from: {} (--repo, or repos: in seedforge.yaml)",
                lines.join(" or ")
            )
        }
    }

    fn describe(&self, by: &str, selected: &BTreeMap<String, Resolved>) -> String {
        match selected.get(by) {
            Some(s) => format!("{} {}", s.name, s.version),
            None => "the request".to_string(),
        }
    }

    /// Why no alternative of `rel` can be met.
    fn explain(
        &self,
        rel: &Relation,
        by: &str,
        pins: &Pins,
        selected: &BTreeMap<String, Resolved>,
    ) -> String {
        let origin = &self.universe.origin;
        let reasons: Vec<String> = rel
            .0
            .iter()
            .map(|dep| {
                let versions: Vec<&Candidate> = self
                    .by_name
                    .get(dep.name.as_str())
                    .into_iter()
                    .flatten()
                    .map(|&i| self.candidate(i))
                    .collect();
                let mut why =
                    if versions.is_empty() && !self.providers.contains_key(dep.name.as_str()) {
                        format!("{} is not in {origin}", dep.name)
                    } else {
                        let have: Vec<String> = versions
                            .iter()
                            .map(|c| format!("{} ({})", c.version, c.arch))
                            .collect();
                        format!("{origin} has {} {}", dep.name, have.join(", "))
                    };
                if let Some(list) = pins.get(&dep.name) {
                    for (d, who) in list {
                        why.push_str(&format!(", and {who} needs {d}"));
                    }
                }
                why
            })
            .collect();
        let who = match selected.get(by) {
            Some(s) => {
                let chain = s.pulled_by.join(", ");
                format!("{} {} (pulled in by {chain}) depends on", s.name, s.version)
            }
            None => "the requested package".to_string(),
        };
        format!(
            "{who} {rel}, which cannot be installed: {}",
            reasons.join("; ")
        )
    }

    /// For a base package that a bundled one conflicts with or breaks: when the sources
    /// have a newer version of it that the relation spares, apt would upgrade it too, so
    /// the way out is to request it.
    fn upgrade_advice(&self, dep: &Dependency, chosen: &BTreeMap<&str, &Candidate>) -> String {
        if chosen.contains_key(dep.name.as_str()) {
            return String::new();
        }
        let Some(have) = self.base.version_of(&dep.name) else {
            return String::new();
        };
        let spared = (self.by_name.get(dep.name.as_str()).into_iter().flatten())
            .map(|&i| self.candidate(i))
            .any(|c| c.version > *have && !dep.accepts(&c.version));
        if spared {
            format!(
                "; apt would upgrade {0} too: request {0} too, so that the bundle carries its new version",
                dep.name
            )
        } else {
            String::new()
        }
    }

    /// Conflicts and Breaks between chosen packages, or with what the base keeps.
    fn check_conflicts(&self, closure: &Closure) -> Result<(), DebsError> {
        let chosen: BTreeMap<&str, &Candidate> = closure
            .packages
            .iter()
            .map(|r| (r.name.as_str(), self.candidate(r.candidate)))
            .collect();
        for r in &closure.packages {
            let c = self.candidate(r.candidate);
            for field in ["Conflicts", "Breaks"] {
                let rels = c.fields.relations(field).unwrap_or_default();
                for dep in rels.iter().flat_map(|r| &r.0) {
                    if dep.name == c.name {
                        continue;
                    }
                    let hit = match chosen.get(dep.name.as_str()) {
                        Some(other) => dep.accepts(&other.version).then(|| {
                            format!("{} {} (also in the bundle)", other.name, other.version)
                        }),
                        None => self
                            .base
                            .installed
                            .get(&dep.name)
                            .filter(|(v, _)| dep.accepts(v))
                            .map(|(v, _)| format!("{} {v} (installed in the base)", dep.name)),
                    };
                    if let Some(other) = hit {
                        return Err(DebsError::Unsatisfiable(format!(
                            "{} {} {} {dep}: {other}{}",
                            c.name,
                            c.version,
                            field.to_lowercase(),
                            self.upgrade_advice(dep, &chosen)
                        )));
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "resolve_tests.rs"]
mod tests;
