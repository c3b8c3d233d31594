//! Where candidate packages come from: local .deb files, or an apt repository reached
//! over `file://`, `http://` or `https://`.
//!
//! Nothing from a repository is trusted before it is checked: the `Packages` index must be
//! listed in the Release file with the same SHA-256 and size, and every .deb must match the
//! SHA-256 and size its `Packages` entry records. The Release file's signature is checked
//! with `gpgv` against a keyring when one is given; otherwise the repository is reported as
//! unverified. HTTP goes through the run's [`Net`] (its trust, retries and limits); every
//! download is bounded: an index by the size the Release file lists, a .deb by the size
//! its `Packages` entry records, the Release file itself by [`MAX_RELEASE_SIZE`].
//!
//! Its parts: `fetch.rs` reads a URL ([`Fetcher`]: `file://` from disk, HTTP through the
//! run's [`Net`], bounded, checked against the hash it should have, through the package
//! cache); `release.rs` fetches a repository's Release file and checks its signature;
//! `index.rs` reads the `Packages` indexes the Release file lists and makes their entries
//! candidates; `scan.rs` is the cheap pass over an index that finds the entries a bundle
//! can reach; `materialise.rs` brings the chosen candidates' .debs to disk; `source.rs`
//! says what a source is. This file puts the [`Universe`] of the sources together.

use super::base::Base;
use super::cache::DebCache;
use super::deb::read_deb;
use super::error::DebsError;
use super::request::Request;
use super::universe::{Candidate, Universe, Verification, candidate_from_deb};
use crate::leftovers::Staging;
use crate::net::Net;
use std::path::PathBuf;

mod fetch;
mod index;
mod materialise;
mod release;
mod scan;
mod source;

pub use fetch::Fetcher;
pub(super) use index::inside_repo;
pub use materialise::materialise;
pub use release::{MAX_RELEASE_SIZE, security_source};
pub use source::{PackageSource, RepoSpec};

use index::{IndexText, RepoPart, fetch_repo_indexes, index_candidate};
use release::fetch_repo_release;

impl Universe {
    /// Reads every candidate of `source` for architecture `arch`, a repository through
    /// `net`.
    pub fn load(source: &PackageSource, arch: &str, net: &Net) -> Result<Universe, DebsError> {
        Universe::load_all(std::slice::from_ref(source), arch, net)
    }

    /// Every candidate of every source, in the order given: the resolver takes the highest
    /// version, and of equal versions the one from the source listed first. The whole is
    /// as verified as its least verified repository.
    pub fn load_all(
        sources: &[PackageSource],
        arch: &str,
        net: &Net,
    ) -> Result<Universe, DebsError> {
        Universe::load_all_cached(sources, arch, net, None)
    }

    /// [`Universe::load_all`], taking each index the Release file lists from `cache` when
    /// it holds one with the listed hash (and storing those it downloads).
    pub fn load_all_cached(
        sources: &[PackageSource],
        arch: &str,
        net: &Net,
        cache: Option<&DebCache>,
    ) -> Result<Universe, DebsError> {
        let fetcher = Fetcher::new(net, None).with_cache(cache);
        load_sources(sources, arch, &fetcher, None)
    }

    /// [`Universe::load_all_cached`] with only the candidates resolving `requests` over
    /// `base` can reach: the entries of every name a request, a dependency (any
    /// alternative) or the base names, and of every package providing such a name,
    /// followed to a fixpoint. Resolving over it gives what resolving over the whole
    /// archive gives, without reading the thousands of entries no path leads to. Every
    /// index is still checked whole for its structure (each line, each entry's required
    /// fields); an unreached entry's version and relations are not parsed.
    ///
    /// The signature check's scratch folder is registered with `staging`, the run's.
    pub fn load_reachable(
        sources: &[PackageSource],
        arch: &str,
        (net, cache): (&Net, Option<&DebCache>),
        requests: &[Request],
        base: &Base,
        staging: &Staging,
    ) -> Result<Universe, DebsError> {
        let (universe, _) = Universe::load_reachable_unless(
            sources,
            arch,
            (net, cache),
            (requests, base),
            &|_| false,
            staging,
        )?;
        Ok(universe)
    }

    /// [`Universe::load_reachable`], asking `enough` once every Release file is fetched
    /// and checked and every local .deb read, before any index is read: given what pins
    /// every candidate (each repository's URL, suite, components and the SHA-256 of its
    /// Release text; each local .deb's package, version, architecture, size and SHA-256),
    /// is that enough? If it says so, no index is read: the universe has the local
    /// candidates only, with the verification and origin of the whole, and the second
    /// value is true.
    pub fn load_reachable_unless(
        sources: &[PackageSource],
        arch: &str,
        (net, cache): (&Net, Option<&DebCache>),
        (requests, base): (&[Request], &Base),
        enough: &dyn Fn(&[String]) -> bool,
        staging: &Staging,
    ) -> Result<(Universe, bool), DebsError> {
        let fetcher = Fetcher::new(net, None)
            .with_cache(cache)
            .with_staging(staging);
        let roots = scan::Roots {
            follow: requests.iter().map(|r| r.name.clone()).collect(),
            include: base.installed.keys().cloned().collect(),
        };
        load_sources_unless(sources, arch, &fetcher, Some(roots), enough)
    }
}

/// A source's part of a universe, before a repository's entries become candidates.
enum Part {
    Local(Universe),
    Repo(RepoPart),
}

/// The universe of `sources`: every entry of their indexes, or those `roots` reach.
fn load_sources(
    sources: &[PackageSource],
    arch: &str,
    fetcher: &Fetcher,
    roots: Option<scan::Roots>,
) -> Result<Universe, DebsError> {
    load_sources_unless(sources, arch, fetcher, roots, &|_| false).map(|(u, _)| u)
}

/// [`load_sources`], asking `enough` before any index is read (see
/// [`Universe::load_reachable_unless`]).
fn load_sources_unless(
    sources: &[PackageSource],
    arch: &str,
    fetcher: &Fetcher,
    roots: Option<scan::Roots>,
    enough: &dyn Fn(&[String]) -> bool,
) -> Result<(Universe, bool), DebsError> {
    let mut locals = Vec::new();
    let mut releases = Vec::new();
    let mut pins = Vec::new();
    for (i, source) in sources.iter().enumerate() {
        match source {
            PackageSource::Debs(paths) => {
                let u = load_debs(paths, arch)?;
                pins.extend(u.candidates.iter().map(|c| {
                    let v = &c.version;
                    format!("deb {} {v} {} {} {}", c.name, c.arch, c.size, c.sha256)
                }));
                locals.push((i, u));
            }
            PackageSource::Repo(spec) => {
                let release = fetch_repo_release(spec, arch, fetcher)?;
                pins.push(format!(
                    "repo {} {} {} {}",
                    spec.url,
                    spec.suite,
                    spec.components.join(","),
                    release.digest
                ));
                releases.push((i, spec, release));
            }
        }
    }
    let done = enough(&pins);
    let mut parts: Vec<(usize, Part)> = (locals.into_iter())
        .map(|(i, u)| (i, Part::Local(u)))
        .collect();
    for (i, spec, release) in releases {
        parts.push((
            i,
            Part::Repo(fetch_repo_indexes(spec, release, fetcher, !done)?),
        ));
    }
    parts.sort_by_key(|(i, _)| *i);
    let parts: Vec<Part> = parts.into_iter().map(|(_, p)| p).collect();
    let mut all = universe_of(&parts, arch, roots)?;
    // What is already a source is not suggested.
    all.suggested.retain(|line| {
        !sources.iter().any(|s| match s {
            PackageSource::Repo(r) => {
                let mut words = line.split_whitespace();
                words.next() == Some(r.url.trim_end_matches('/')) && words.next() == Some(&r.suite)
            }
            PackageSource::Debs(_) => false,
        })
    });
    all.suggested.dedup();
    Ok((all, done))
}

/// The universe of `parts`, in order: every entry of their indexes, or those `roots`
/// reach.
fn universe_of(
    parts: &[Part],
    arch: &str,
    roots: Option<scan::Roots>,
) -> Result<Universe, DebsError> {
    // Every index of every repository, in order: a name may be met in one and provided
    // in another.
    let indexes: Vec<(&RepoPart, &IndexText)> = (parts.iter())
        .filter_map(|p| match p {
            Part::Repo(r) => Some(r),
            Part::Local(_) => None,
        })
        .flat_map(|r| r.texts.iter().map(move |t| (r, t)))
        .collect();
    let mut parsed: std::collections::HashMap<(usize, usize), Candidate> = Default::default();
    let keep: Vec<Vec<usize>> = match roots {
        None => (indexes.iter())
            .map(|(_, t)| (0..t.stanzas.len()).collect())
            .collect(),
        Some(mut roots) => {
            // Local .debs are all candidates: what they depend on is reached.
            for p in parts {
                if let Part::Local(u) = p {
                    roots
                        .follow
                        .extend(u.candidates.iter().flat_map(depends_names));
                }
            }
            let scanned: Vec<scan::Scanned> = (indexes.iter())
                .map(|(_, t)| scan::Scanned {
                    text: &t.text,
                    stanzas: &t.stanzas,
                })
                .collect();
            let started = std::time::Instant::now();
            let keep = scan::reachable(&scanned, &roots, &mut |t, s| {
                let c = index_candidate(indexes[t].0, indexes[t].1, s)?;
                let names = depends_names(&c);
                parsed.insert((t, s), c);
                Ok(names)
            })?;
            tracing::debug!(
                "{} of {} index entries reachable, found in {:?}",
                keep.iter().map(Vec::len).sum::<usize>(),
                scanned.iter().map(|s| s.stanzas.len()).sum::<usize>(),
                started.elapsed()
            );
            keep
        }
    };
    let mut all = Universe {
        candidates: Vec::new(),
        arch: arch.to_string(),
        verification: Verification::LocalFiles,
        origin: String::new(),
        suggested: Vec::new(),
    };
    let mut origins = Vec::new();
    let mut t = 0;
    for part in parts {
        let u = match part {
            Part::Local(u) => u.clone(),
            Part::Repo(r) => {
                let mut candidates = Vec::new();
                // An arch-all package listed in both binary-ARCH and binary-all is one
                // candidate.
                let mut seen_all: std::collections::HashSet<(String, String)> = Default::default();
                for index in &r.texts {
                    for &s in &keep[t] {
                        let c = match parsed.remove(&(t, s)) {
                            Some(c) => c,
                            None => index_candidate(r, index, s)?,
                        };
                        if c.arch == "all"
                            && r.reads_all
                            && !seen_all.insert((c.name.clone(), c.version.to_string()))
                        {
                            continue;
                        }
                        candidates.push(c);
                    }
                    t += 1;
                }
                Universe {
                    candidates,
                    arch: arch.to_string(),
                    verification: r.verification.clone(),
                    origin: r.origin.clone(),
                    suggested: r.suggested.clone(),
                }
            }
        };
        all.candidates.extend(u.candidates);
        origins.push(u.origin);
        all.suggested.extend(u.suggested);
        all.verification = match (all.verification, u.verification) {
            (Verification::Unverified, _) | (_, Verification::Unverified) => {
                Verification::Unverified
            }
            (Verification::LocalFiles, v) | (v, Verification::LocalFiles) => v,
            (signed, _) => signed,
        };
    }
    all.origin = origins.join("; ");
    Ok(all)
}

/// The names a candidate's `Pre-Depends` and `Depends` name, every alternative.
fn depends_names(c: &Candidate) -> Vec<String> {
    ["Pre-Depends", "Depends"]
        .iter()
        .flat_map(|f| c.fields.relations(f).unwrap_or_default())
        .flat_map(|r| r.0)
        .map(|d| d.name)
        .collect()
}

/// The .deb files `paths` name: files as given, folders searched (not recursively) for
/// `*.deb`, in name order.
pub fn deb_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, DebsError> {
    let mut files = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(|e| DebsError::io(p, e))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.extension().is_some_and(|x| x == "deb") && f.is_file())
                .collect();
            found.sort();
            files.extend(found);
        } else {
            files.push(p.clone());
        }
    }
    Ok(files)
}

fn load_debs(paths: &[PathBuf], arch: &str) -> Result<Universe, DebsError> {
    let files = deb_files(paths)?;
    let mut candidates = Vec::new();
    for f in &files {
        let deb = read_deb(f)?;
        candidates.push(candidate_from_deb(&deb)?);
    }
    Ok(Universe {
        candidates,
        arch: arch.to_string(),
        verification: Verification::LocalFiles,
        origin: paths
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
        suggested: Vec::new(),
    })
}
