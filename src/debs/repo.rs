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

use super::DebsError;
use super::base::Base;
use super::cache::DebCache;
use super::control::{Paragraph, parse_paragraphs, release_sha256};
use super::deb::{DebFile, read_deb};
use super::request::Request;
use super::universe::{
    Candidate, Location, RELATION_FIELDS, Universe, Verification, candidate, candidate_from_deb,
};
use super::version::Version;
use crate::leftovers::Staging;
use crate::net::{Fetch, FetchError, Net, Transfer};
use crate::report::Reporter;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// The largest Release, InRelease or Release.gpg accepted (Debian's own are ~150 KiB).
pub const MAX_RELEASE_SIZE: u64 = 16 << 20;

#[path = "repo_scan.rs"]
mod scan;

/// An apt repository to read from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RepoSpec {
    /// Base URL (`http://deb.debian.org/debian`, `file:///srv/mirror`).
    pub url: String,
    /// Suite (`bookworm`); a suite ending in `/` names a flat repository.
    pub suite: String,
    /// Components (`main`); ignored for a flat repository.
    pub components: Vec<String>,
    /// Keyring to check the Release signature with (`gpgv --keyring`).
    pub keyring: Option<PathBuf>,
}

/// Where the candidates come from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PackageSource {
    /// .deb files, or directories searched (not recursively) for `*.deb`.
    Debs(Vec<PathBuf>),
    /// An apt repository.
    Repo(RepoSpec),
}

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

/// Fetches files by URL: `file://` from disk, `http(s)://` through the run's [`Net`].
pub struct Fetcher<'a> {
    net: &'a Net,
    reporter: Option<&'a dyn Reporter>,
    cache: Option<&'a DebCache>,
    /// The run's staging paths, which files made in a staging folder are made under and
    /// the signature check's scratch folder is registered with; `None` for a caller that
    /// stages nothing a signal should remove.
    staging: Option<&'a Staging>,
}

impl<'a> Fetcher<'a> {
    /// Fetches through `net`, reporting retries to `reporter` if given.
    pub fn new(net: &'a Net, reporter: Option<&'a dyn Reporter>) -> Fetcher<'a> {
        Fetcher {
            net,
            reporter,
            cache: None,
            staging: None,
        }
    }

    /// Makes files (and the signature check's scratch folder) under `staging`.
    pub fn with_staging(mut self, staging: &'a Staging) -> Fetcher<'a> {
        self.staging = Some(staging);
        self
    }

    /// Runs `f` under [`Staging::unless_stopping`] when the fetcher has a staging set.
    fn unless_stopping<T>(&self, f: impl FnOnce() -> T) -> T {
        match self.staging {
            Some(staging) => staging.unless_stopping(f),
            None => f(),
        }
    }

    /// Takes files whose hash is known from `cache` first, and stores what it downloads.
    pub fn with_cache(mut self, cache: Option<&'a DebCache>) -> Fetcher<'a> {
        self.cache = cache;
        self
    }

    /// Reads `url`, a file the signed chain says is `size` bytes hashing to `sha256`: from
    /// the cache when it holds it, else downloaded, checked and stored in the cache.
    /// `Ok(None)` when it does not exist.
    pub fn get_checked(
        &self,
        url: &str,
        size: u64,
        sha256: &str,
    ) -> Result<Option<Vec<u8>>, DebsError> {
        if let Some(bytes) = self.cache.and_then(|c| c.get_bytes(sha256, size)) {
            return Ok(Some(bytes));
        }
        let Some(bytes) = self.get(url, size, Transfer::sized(size))? else {
            return Ok(None);
        };
        let actual = crate::hashing::sha256_hex(&bytes);
        check_sums(url, (bytes.len() as u64, &actual), size, sha256)?;
        if let Some(cache) = self.cache {
            cache.put_bytes(sha256, &bytes);
        }
        Ok(Some(bytes))
    }

    /// Puts the cached copy of the file whose SHA-256 is `sha256` at `dest` (a link to the
    /// cache entry: nothing copied), if the cache holds one of `size` bytes. NOT checked:
    /// the caller hashes it as it reads it and calls [`Fetcher::discard_cached`] when it
    /// does not match, then [`Fetcher::download_to_cache`].
    pub fn from_cache_unchecked(&self, dest: &Path, size: u64, sha256: &str) -> bool {
        let Some(cache) = self.cache else {
            return false;
        };
        // Made in a staging folder a signal removes: whole before that, or not at all.
        self.unless_stopping(|| cache.link_unchecked(sha256, size, dest))
    }

    /// The cached .deb whose SHA-256 is `sha256`, put at `dest` and read from the facts the
    /// cache recorded when its entry last had the stat it has now
    /// ([`DebCache::link_known`]): not read or hashed here. `None` (nothing at `dest`) when
    /// the cache has no such entry, or no facts for it at that stat.
    pub fn from_cache_known(&self, dest: &Path, size: u64, sha256: &str) -> Option<DebFile> {
        let cache = self.cache?;
        self.unless_stopping(|| cache.link_known(sha256, size, dest))
    }

    /// Removes the cache entry `sha256`, found damaged by whoever read it.
    pub fn discard_cached(&self, sha256: &str) {
        if let Some(cache) = self.cache {
            cache.discard_entry(sha256);
        }
    }

    /// [`Fetcher::download_checked`], then stored in the cache if there is one.
    pub fn download_to_cache(
        &self,
        url: &str,
        dest: &Path,
        size: u64,
        sha256: &str,
    ) -> Result<(), DebsError> {
        self.download_checked(url, dest, size, sha256)?;
        if let Some(cache) = self.cache {
            cache.put_file(sha256, dest);
        }
        Ok(())
    }

    /// `Some(path)` for a `file:` URL.
    fn local(url: &str) -> Option<&str> {
        url.strip_prefix("file://").or(url.strip_prefix("file:"))
    }

    fn check_scheme(url: &str) -> Result<(), DebsError> {
        if url.starts_with("http://") || url.starts_with("https://") {
            return Ok(());
        }
        Err(DebsError::Fetch {
            url: url.to_string(),
            message: "only file://, http:// and https:// URLs are supported".into(),
        })
    }

    /// Streams `url` into `consume`; `Ok(None)` when it does not exist (404 or no such
    /// file). More than `max` bytes is an error.
    fn with_body<T>(
        &self,
        url: &str,
        max: u64,
        kind: Transfer,
        consume: &mut dyn FnMut(&mut dyn Read) -> Result<T, DebsError>,
    ) -> Result<Option<T>, DebsError> {
        if let Some(path) = Self::local(url) {
            return match crate::input::open_regular(std::path::Path::new(path))
                .map_err(|e| e.into_io())
            {
                Ok(f) => consume(&mut f.take(max + 1)).map(Some),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(DebsError::Fetch {
                    url: url.to_string(),
                    message: e.to_string(),
                }),
            };
        }
        Self::check_scheme(url)?;
        let fetch = Fetch {
            url,
            authorization: None,
            max_bytes: Some(max),
        };
        let reporter = self.reporter;
        let mut on_retry = |m: &str| {
            if let Some(r) = reporter {
                r.warning(&format!("{}: {m}", crate::redact::url(url)));
            }
        };
        self.net
            .fetch_as(kind, &fetch, &mut |body| consume(body), &mut on_retry)
            .map_err(|e| match e {
                FetchError::Net(e) => DebsError::Net(e),
                FetchError::Consumer(e) => e,
            })
    }

    /// Reads all of `url`, at most `max` bytes; `Ok(None)` when it does not exist. `kind`
    /// decides its deadline: `Release` files are documents, indexes by their size.
    pub fn get(&self, url: &str, max: u64, kind: Transfer) -> Result<Option<Vec<u8>>, DebsError> {
        self.with_body(url, max, kind, &mut |r| {
            // Room for the expected size at once (untouched room costs no memory), so a
            // large index is not copied as the buffer doubles.
            let mut out = Vec::with_capacity(usize::try_from(max.min(64 << 20)).unwrap_or(0) + 1);
            r.read_to_end(&mut out).map_err(|e| DebsError::Fetch {
                url: url.to_string(),
                message: e.to_string(),
            })?;
            if out.len() as u64 > max {
                return Err(DebsError::Fetch {
                    url: url.to_string(),
                    message: format!("larger than the {max} bytes expected"),
                });
            }
            Ok(out)
        })
    }

    /// Downloads `url` into `dest`, refusing it unless its size and SHA-256 match; a
    /// refused download leaves nothing at `dest`.
    pub fn download_checked(
        &self,
        url: &str,
        dest: &Path,
        size: u64,
        sha256: &str,
    ) -> Result<(), DebsError> {
        let result = self.with_body(url, size, Transfer::Bulk, &mut |r| {
            // In a staging folder a signal removes: made whole before that, or not at all.
            let mut file = self
                .unless_stopping(|| std::fs::File::create(dest))
                .map_err(|e| DebsError::io(dest, e))?;
            let mut body = crate::hashing::HashingReader::new(r);
            let got = crate::util::copy_split(&mut body, &mut file).map_err(|e| match e {
                crate::util::CopyError::Read(e) => DebsError::Fetch {
                    url: url.to_string(),
                    message: e.to_string(),
                },
                crate::util::CopyError::Write(e) => DebsError::io(dest, e),
            })?;
            check_sums(url, (got, &body.hex()), size, sha256)?;
            file.sync_all().map_err(|e| DebsError::io(dest, e))
        });
        let result = result.and_then(|found| {
            found.ok_or_else(|| DebsError::Fetch {
                url: url.to_string(),
                message: "not found".into(),
            })
        });
        if result.is_err() {
            let _ = std::fs::remove_file(dest);
        }
        result
    }
}

/// `actual` (size, hex sha256) against what an index or Release file records.
fn check_sums(what: &str, actual: (u64, &str), size: u64, sha256: &str) -> Result<(), DebsError> {
    let (actual_size, actual_sha256) = actual;
    if !actual_sha256.eq_ignore_ascii_case(sha256) {
        return Err(DebsError::HashMismatch {
            what: what.to_string(),
            expected: format!("sha256:{sha256}"),
            actual: format!("sha256:{actual_sha256}"),
        });
    }
    if actual_size != size {
        return Err(DebsError::HashMismatch {
            what: what.to_string(),
            expected: format!("{size} bytes"),
            actual: format!("{actual_size} bytes"),
        });
    }
    Ok(())
}

/// True when `rel`, a path an index gives (a `Filename`, an index the Release file lists),
/// stays inside the repository it is joined to: relative, no `..` segment (nor one spelt
/// with percent-escapes, which a server decodes), nothing a URL would read as its query or
/// fragment, no control characters. What apt itself fetches from such a path is the
/// repository's file; anything else is refused.
pub(super) fn inside_repo(rel: &str) -> bool {
    let lower = rel.to_ascii_lowercase();
    !rel.is_empty()
        && !rel.starts_with('/')
        && !rel.split('/').any(|segment| segment == "..")
        && !["%2e", "%2f", "%5c"].iter().any(|e| lower.contains(e))
        && !rel.chars().any(|c| c.is_control() || "\\?#".contains(c))
}

/// Refuses a path from an index that leads out of the repository at `repo` (exit 2), named
/// by the index (`source`, `line`) and its `field`.
fn check_inside(
    repo: &str,
    rel: &str,
    field: &str,
    (source, line): (&str, usize),
) -> Result<(), DebsError> {
    if inside_repo(rel) {
        return Ok(());
    }
    Err(DebsError::Index {
        source_name: source.to_string(),
        line,
        message: format!("{field} {rel:?} leads outside the repository {repo}; refusing it"),
    })
}

/// The components a suite can be asked for, as apt reads a Release file's `Components`:
/// each as listed, and for one with a prefix (Debian's security archive lists
/// `updates/main`) also its last segment (`main`), which is what a sources.list line names
/// and what the index paths use (`main/binary-amd64/Packages`).
fn supported_components<'a>(listed: &[&'a str]) -> Vec<&'a str> {
    let mut out = Vec::with_capacity(listed.len() * 2);
    for c in listed {
        if let Some((_, last)) = c.rsplit_once('/') {
            out.push(last);
        }
        out.push(c);
    }
    out
}

/// The security suite apt's sources for a Debian release name beside `spec` (the
/// `debian-security` archive next to a `debian` one, `SUITE-security` for `SUITE`), as a
/// sources.list line `URL SUITE COMPONENT...`; `None` for a repository that is not laid
/// out as Debian's, or a suite that is already an update suite.
pub fn security_source(spec: &RepoSpec) -> Option<String> {
    let url = spec.url.trim_end_matches('/');
    let suite = spec.suite.as_str();
    if suite.ends_with('/') || suite.contains('-') || !url.ends_with("/debian") {
        return None;
    }
    Some(format!(
        "{url}-security {suite}-security {}",
        spec.components.join(" ")
    ))
}

fn join(base: &str, rel: &str) -> String {
    format!(
        "{}/{}",
        base.trim_end_matches('/'),
        rel.trim_start_matches("./")
    )
}

/// A repository whose Release file is fetched and checked, before any index is read.
struct RepoRelease {
    dist: String,
    release_url: String,
    listed: Vec<super::control::ReleaseFile>,
    indices: Vec<String>,
    verification: Verification,
    /// The SHA-256 of the Release text: it pins every index, so every candidate.
    digest: String,
}

fn fetch_repo_release(
    spec: &RepoSpec,
    arch: &str,
    fetcher: &Fetcher,
) -> Result<RepoRelease, DebsError> {
    let flat = spec.suite.ends_with('/');
    let dist = if flat {
        join(&spec.url, &spec.suite)
    } else {
        join(&spec.url, &format!("dists/{}", spec.suite))
    };
    let (release, verification, digest) = fetch_release(fetcher, &dist, spec.keyring.as_deref())?;
    let release_url = join(&dist, "Release");
    let listed = release_sha256(&release).map_err(|message| DebsError::Index {
        source_name: release_url.clone(),
        line: release.line,
        message,
    })?;
    if !flat {
        // An architecture or component the suite does not have is named as such, not as
        // every package missing.
        let wanted = [
            ("Architectures", "architecture", vec![arch.to_string()]),
            ("Components", "component", spec.components.clone()),
        ];
        for (field, what, names) in wanted {
            let Some(list) = release.get(field) else {
                continue;
            };
            let have: Vec<&str> = list.split_whitespace().collect();
            let (supported, named) = if field == "Components" {
                // Named as a sources.list line names them (`main` for `updates/main`).
                let last = have.iter().map(|c| c.rsplit('/').next().unwrap_or(c));
                (supported_components(&have), last.collect())
            } else {
                (have.clone(), have.clone())
            };
            if let Some(missing) = names.iter().find(|n| !supported.contains(&n.as_str())) {
                return Err(DebsError::Index {
                    source_name: release_url,
                    line: 0,
                    message: format!(
                        "suite {} has no {what} {missing:?}; it has: {}",
                        spec.suite,
                        named.join(", ")
                    ),
                });
            }
        }
    }
    let indices: Vec<String> = if flat {
        vec!["Packages".into()]
    } else {
        // As apt: a Release that says `No-Support-for-Architecture-all: Packages` lists
        // arch-all packages in each binary-ARCH index, and binary-all is not read.
        let all_in_arch = release
            .get("No-Support-for-Architecture-all")
            .is_some_and(|v| v.split_whitespace().any(|w| w == "Packages"));
        spec.components
            .iter()
            .flat_map(|c| {
                let mut list = vec![format!("{c}/binary-{arch}/Packages")];
                if !all_in_arch {
                    list.push(format!("{c}/binary-all/Packages"));
                }
                list
            })
            .collect()
    };
    Ok(RepoRelease {
        dist,
        release_url,
        listed,
        indices,
        verification,
        digest,
    })
}

/// The part of a repository whose Release file is `release`: its indexes read, or none
/// (`read` false: only the verification and the origin are wanted).
fn fetch_repo_indexes(
    spec: &RepoSpec,
    release: RepoRelease,
    fetcher: &Fetcher,
    read: bool,
) -> Result<RepoPart, DebsError> {
    let RepoRelease {
        dist,
        release_url,
        listed,
        indices,
        verification,
        ..
    } = release;
    let mut texts = Vec::new();
    for index in indices.iter().filter(|_| read) {
        texts.extend(load_index(fetcher, &dist, index, &listed)?);
    }
    if texts.is_empty() && read {
        // As apt: a component is named by its last segment, its indexes lie under that.
        let prefixed = spec.components.iter().find_map(|c| c.rsplit_once('/'));
        let hint = prefixed.map_or(String::new(), |(_, last)| {
            format!("; name the component as apt does, {last:?}")
        });
        return Err(DebsError::Index {
            source_name: release_url,
            line: 0,
            message: format!(
                "the Release file lists no index among {}{hint}",
                indices.join(", ")
            ),
        });
    }
    Ok(RepoPart {
        url: spec.url.clone(),
        base: spec.url.as_str().into(),
        reads_all: indices.iter().any(|i| i.contains("/binary-all/")),
        texts,
        verification,
        origin: format!("{} {}", crate::redact::url(&spec.url), spec.suite),
        suggested: security_source(spec).into_iter().collect(),
    })
}

/// A repository's part of a universe before its entries become candidates.
struct RepoPart {
    /// The repository's URL.
    url: String,
    /// The same, shared by its candidates' locations.
    base: std::sync::Arc<str>,
    /// An arch-all package can be listed in both binary-ARCH and binary-all.
    reads_all: bool,
    texts: Vec<IndexText>,
    verification: Verification,
    origin: String,
    suggested: Vec<String>,
}

/// One index's plain text, checked against the Release file and scanned.
struct IndexText {
    url: String,
    text: String,
    stanzas: Vec<scan::Stanza>,
}

/// Where `INDEX_FIELDS` has the fields every entry needs (see [`scan::Required`]).
const REQUIRED: scan::Required = scan::Required {
    at: [0, 1, 2, 5, 9, 10, 11],
};

/// The candidate of entry `s` of `index`, a text of the repository `part`.
fn index_candidate(part: &RepoPart, index: &IndexText, s: usize) -> Result<Candidate, DebsError> {
    let stanza = &index.stanzas[s];
    let bad = |(l, message): (usize, String)| DebsError::Index {
        source_name: index.url.clone(),
        line: stanza.line + l - 1,
        message,
    };
    let mut builder = super::control::ParagraphBuilder::keeping(INDEX_FIELDS);
    for line in index.text[stanza.range.clone()].split('\n') {
        // The scan found no blank line inside the entry: nothing ends here.
        builder.line(line).map_err(bad)?;
    }
    let mut p = builder.finish().unwrap_or_default();
    p.line = stanza.line;
    entry_candidate(p, &index.url, (&part.url, &part.base))
}

/// The candidate an index entry `p` of the index at `url` describes, its .deb under the
/// repository `repo` (its URL, and the same shared).
fn entry_candidate(
    p: Paragraph,
    url: &str,
    repo: (&str, &std::sync::Arc<str>),
) -> Result<Candidate, DebsError> {
    let line = p.line;
    let filename = p.get("Filename").map(str::to_string);
    let has_size = p.get("Size").is_some();
    let mut c = candidate(p, url)?;
    let filename = filename.ok_or_else(|| DebsError::Index {
        source_name: url.to_string(),
        line,
        message: format!("package {} has no Filename field", c.name),
    })?;
    check_inside(
        repo.0,
        &filename,
        &format!("package {}: Filename", c.name),
        (url, line),
    )?;
    if c.sha256.len() != 64 || !has_size {
        return Err(DebsError::Index {
            source_name: url.to_string(),
            line,
            message: format!("package {} has no SHA256 or Size field", c.name),
        });
    }
    c.location = Location::Remote {
        base: repo.1.clone(),
        path: filename,
    };
    // What the candidate holds apart (name, version, size, hash, URL) goes.
    c.fields.retain(RELATION_FIELDS);
    Ok(c)
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

/// The fields of an index entry that resolving and fetching need: the rest (descriptions,
/// tags, maintainers) is most of an index and is not kept.
const INDEX_FIELDS: &[&str] = &[
    "Package",
    "Version",
    "Architecture",
    "Depends",
    "Pre-Depends",
    "Provides",
    "Conflicts",
    "Breaks",
    "Multi-Arch",
    "Filename",
    "Size",
    "SHA256",
];

/// An index as fetched: its URL, its suffix (`.xz`, `.gz` or none) and its body.
type FetchedIndex<'a> = (String, &'static str, IndexBody<'a>);

/// The body of an index as downloaded (or taken from the cache), checked against the
/// Release file; `plain`, when given, is where the decompressed text is stored if it
/// hashes to what the Release file lists for the plain index.
struct IndexBody<'a> {
    bytes: Vec<u8>,
    plain: Option<(&'a DebCache, super::control::ReleaseFile)>,
}

/// Reads one `Packages` index as [`fetch_index`] fetches it, or from the cache: its text,
/// checked against the Release file, and scanned.
fn load_index(
    fetcher: &Fetcher,
    dist: &str,
    index: &str,
    listed: &[super::control::ReleaseFile],
) -> Result<Option<IndexText>, DebsError> {
    let plain = listed.iter().find(|f| f.path == index);
    if let (Some(cache), Some(entry)) = (fetcher.cache, plain) {
        check_inside(dist, index, "the index path", (&join(dist, "Release"), 0))?;
        if let Some(text) = cached_index(cache, &join(dist, index), entry)? {
            return Ok(Some(text));
        }
    }
    let Some((url, suffix, body)) = fetch_index(fetcher, dist, index, listed)? else {
        return Ok(None);
    };
    let started = std::time::Instant::now();
    let text = index_text(body, suffix, &url)?;
    let stanzas = scan_index(&text, &url)?;
    tracing::debug!(
        "{url}: {} entries read in {:?}",
        stanzas.len(),
        started.elapsed()
    );
    Ok(Some(IndexText { url, text, stanzas }))
}

/// [`scan::scan`] of the index at `url`.
fn scan_index(text: &str, url: &str) -> Result<Vec<scan::Stanza>, DebsError> {
    scan::scan(text, INDEX_FIELDS, &REQUIRED).map_err(|(line, message)| DebsError::Index {
        source_name: url.to_string(),
        line,
        message,
    })
}

/// The plain index at `url` as the cache holds it, hashed on a thread of its own while it
/// is scanned (the scan's result counts only once the hash is the one the Release file
/// lists); `Ok(None)` when the cache does not hold it or its copy is damaged (then it is
/// removed).
fn cached_index(
    cache: &DebCache,
    url: &str,
    entry: &super::control::ReleaseFile,
) -> Result<Option<IndexText>, DebsError> {
    let started = std::time::Instant::now();
    let Some(bytes) = cache.get_bytes_unchecked(&entry.sha256, entry.size) else {
        return Ok(None);
    };
    let matches = |bytes: &[u8]| crate::hashing::sha256_hex(bytes) == entry.sha256;
    let text = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) if matches(e.as_bytes()) => return Err(not_utf8(e.as_bytes(), url)),
        Err(_) => {
            cache.discard_entry(&entry.sha256);
            return Ok(None);
        }
    };
    let (matched, stanzas) = std::thread::scope(|scope| {
        let hashing = scope.spawn(|| matches(text.as_bytes()));
        let stanzas = scan_index(&text, url);
        (hashing.join().unwrap_or(false), stanzas)
    });
    if !matched {
        cache.discard_entry(&entry.sha256);
        return Ok(None);
    }
    let stanzas = stanzas?;
    tracing::debug!(
        "{url}: {} entries read from the cache in {:?}",
        stanzas.len(),
        started.elapsed()
    );
    Ok(Some(IndexText {
        url: url.to_string(),
        text,
        stanzas,
    }))
}

/// The error for an index at `url` that is not UTF-8 text, naming the line.
fn not_utf8(bytes: &[u8], url: &str) -> DebsError {
    let valid = match std::str::from_utf8(bytes) {
        Ok(_) => bytes,
        Err(e) => &bytes[..e.valid_up_to()],
    };
    DebsError::Index {
        source_name: url.to_string(),
        line: valid.iter().filter(|&&b| b == b'\n').count() + 1,
        message: "not UTF-8".into(),
    }
}

/// Fetches one `Packages` index, preferring .xz, then .gz, then plain, among the
/// variants the Release file lists; checks it against the Release hash. Returns its URL,
/// its suffix and its (compressed) bytes, and, with a cache, where to store the plain text
/// (kept so that a warm run does not decompress it again).
fn fetch_index<'a>(
    fetcher: &Fetcher<'a>,
    dist: &str,
    index: &str,
    listed: &[super::control::ReleaseFile],
) -> Result<Option<FetchedIndex<'a>>, DebsError> {
    let plain = listed.iter().find(|f| f.path == index);
    for suffix in [".xz", ".gz", ""] {
        let path = format!("{index}{suffix}");
        let Some(entry) = listed.iter().find(|f| f.path == path) else {
            continue;
        };
        check_inside(
            dist,
            &entry.path,
            "the index path",
            (&join(dist, "Release"), 0),
        )?;
        let url = join(dist, &path);
        let Some(bytes) = fetcher.get_checked(&url, entry.size, &entry.sha256)? else {
            continue;
        };
        let plain = match (fetcher.cache, plain) {
            (Some(cache), Some(entry)) if !suffix.is_empty() => Some((cache, entry.clone())),
            _ => None,
        };
        return Ok(Some((url, suffix, IndexBody { bytes, plain })));
    }
    Ok(None)
}

/// The plain text of an index: decompressed (`suffix` says how) from the bytes the
/// Release file vouched for, storing it in the cache when it hashes to the plain index's
/// entry, or as the cache held it (checked against that entry as it was read).
fn index_text(body: IndexBody, suffix: &str, url: &str) -> Result<String, DebsError> {
    let IndexBody { bytes, plain } = body;
    let room = plain.as_ref().map_or(bytes.len() * 4, |(_, e)| {
        usize::try_from(e.size).unwrap_or(0)
    });
    let mut text = Vec::with_capacity(room + 1);
    let read = match suffix {
        ".xz" => super::deb::xz_reader(bytes.as_slice())
            .read_to_end(&mut text)
            .map_err(super::deb::xz_error),
        ".gz" => flate2::read::GzDecoder::new(bytes.as_slice()).read_to_end(&mut text),
        _ => {
            text.extend_from_slice(&bytes);
            Ok(text.len())
        }
    };
    read.map_err(|e| DebsError::Index {
        source_name: url.to_string(),
        line: 0,
        message: format!("cannot decompress: {e}"),
    })?;
    // Stored only if it hashes to the plain index the Release file lists.
    if let Some((cache, entry)) = plain
        && let Some(mut copy) = cache.writer(&entry.sha256, entry.size)
        && copy.write_all(&text).is_ok()
    {
        copy.finish();
    }
    String::from_utf8(text).map_err(|e| not_utf8(e.as_bytes(), url))
}

/// Fetches InRelease (else Release and Release.gpg) and checks the signature if a keyring
/// is given; the third value is the SHA-256 of the Release text (what the signature
/// covers).
fn fetch_release(
    fetcher: &Fetcher,
    dist: &str,
    keyring: Option<&Path>,
) -> Result<(Paragraph, Verification, String), DebsError> {
    let in_url = join(dist, "InRelease");
    let (url, text, signature) =
        if let Some(bytes) = fetcher.get(&in_url, MAX_RELEASE_SIZE, Transfer::Document)? {
            let text = String::from_utf8_lossy(&bytes).into_owned();
            let body = clearsigned_body(&text).ok_or_else(|| DebsError::Index {
                source_name: in_url.clone(),
                line: 1,
                message: "not a clearsigned document".into(),
            })?;
            (in_url, body, Some((bytes, None)))
        } else {
            let url = join(dist, "Release");
            let bytes = fetcher
                .get(&url, MAX_RELEASE_SIZE, Transfer::Document)?
                .ok_or_else(|| DebsError::Fetch {
                    url: url.clone(),
                    message: "neither InRelease nor Release exists".into(),
                })?;
            let sig = fetcher.get(
                &join(dist, "Release.gpg"),
                MAX_RELEASE_SIZE,
                Transfer::Document,
            )?;
            let text = String::from_utf8_lossy(&bytes).into_owned();
            (url, text, sig.map(|s| (bytes, Some(s))))
        };
    let verification = match keyring {
        None => Verification::Unverified,
        Some(keyring) => {
            let (data, detached) = signature.ok_or_else(|| DebsError::Signature {
                url: url.clone(),
                message: "the repository has neither InRelease nor Release.gpg".into(),
            })?;
            gpgv(&url, keyring, &data, detached.as_deref(), fetcher.staging)?;
            Verification::Signed {
                keyring: keyring.to_path_buf(),
            }
        }
    };
    let mut paragraphs = parse_paragraphs(&text).map_err(|(line, message)| DebsError::Index {
        source_name: url.clone(),
        line,
        message,
    })?;
    if paragraphs.is_empty() {
        return Err(DebsError::Index {
            source_name: url,
            line: 1,
            message: "empty Release file".into(),
        });
    }
    let digest = crate::hashing::sha256_hex(text.as_bytes());
    Ok((paragraphs.remove(0), verification, digest))
}

/// The signed text of a clearsigned document, with dash-escaping removed.
fn clearsigned_body(text: &str) -> Option<String> {
    let rest = text.split_once("-----BEGIN PGP SIGNED MESSAGE-----")?.1;
    let rest = rest
        .split_once("\n\n")
        .map(|(_, r)| r)
        .or_else(|| rest.split_once("\r\n\r\n").map(|(_, r)| r))?;
    let body = rest.split_once("-----BEGIN PGP SIGNATURE-----")?.0;
    Some(
        body.lines()
            .map(|l| l.strip_prefix("- ").unwrap_or(l))
            .collect::<Vec<_>>()
            .join("\n"),
    )
}

/// Runs `gpgv --keyring KEYRING` over the signed data in a private temp dir.
fn gpgv(
    url: &str,
    keyring: &Path,
    data: &[u8],
    detached: Option<&[u8]>,
    staging: Option<&Staging>,
) -> Result<(), DebsError> {
    static RUNS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let run = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("seedforge-gpgv-{}-{run}", std::process::id()));
    let io = |e| DebsError::io(&dir, e);
    let _staged = match staging {
        Some(staging) => Some(staging.create_dir(&dir).map_err(io)?),
        None => {
            std::fs::create_dir_all(&dir).map_err(io)?;
            None
        }
    };
    let result = (|| {
        let data_path = dir.join("Release");
        std::fs::write(&data_path, data).map_err(|e| DebsError::io(&data_path, e))?;
        let mut cmd = Command::new("gpgv");
        cmd.arg("--keyring").arg(keyring);
        if let Some(sig) = detached {
            let sig_path = dir.join("Release.gpg");
            std::fs::write(&sig_path, sig).map_err(|e| DebsError::io(&sig_path, e))?;
            cmd.arg(&sig_path);
        }
        cmd.arg(&data_path);
        let out = cmd.output().map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => DebsError::MissingTool {
                tool: "gpgv".into(),
                why: "check the repository's Release signature".into(),
            },
            _ => DebsError::io("gpgv", e),
        })?;
        if out.status.success() {
            Ok(())
        } else {
            Err(DebsError::Signature {
                url: url.to_string(),
                message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            })
        }
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// How many .debs download at once.
const PARALLEL_DOWNLOADS: usize = 4;

/// Brings every candidate to disk (downloading the remote ones into `dir`, several at a
/// time, each checked against its index entry's size, hash and names) and reads each; the
/// result is in the order of `candidates`. After the first failure no new download starts.
/// A .deb `cache` holds with the entry's hash is copied from it instead of downloaded.
/// `dir` is a staging folder registered with `staging`: each file is made in it under
/// that set's lock.
pub fn materialise(
    candidates: &[&Candidate],
    dir: &Path,
    (net, cache): (&Net, Option<&DebCache>),
    reporter: &dyn Reporter,
    staging: &Staging,
) -> Result<Vec<DebFile>, DebsError> {
    let fetcher = Fetcher::new(net, Some(reporter))
        .with_cache(cache)
        .with_staging(staging);
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let results: Mutex<Vec<Option<Result<DebFile, DebsError>>>> =
        Mutex::new((0..candidates.len()).map(|_| None).collect());
    let workers = PARALLEL_DOWNLOADS.min(candidates.len()).max(1);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                while !failed.load(Ordering::Relaxed) {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(c) = candidates.get(i) else { break };
                    let r = materialise_one(c, (i, candidates.len()), dir, &fetcher, reporter);
                    if r.is_err() {
                        failed.store(true, Ordering::Relaxed);
                    }
                    if let Ok(mut all) = results.lock() {
                        all[i] = Some(r);
                    }
                }
            });
        }
    });
    // In closure order: the first failure is the one reported.
    let mut debs = Vec::with_capacity(candidates.len());
    for r in results.into_inner().unwrap_or_default() {
        match r {
            Some(Ok(deb)) => debs.push(deb),
            Some(Err(e)) => return Err(e),
            // Not started because an earlier one failed: that failure is further on.
            None => {}
        }
    }
    if debs.len() != candidates.len() {
        return Err(DebsError::Unsatisfiable(format!(
            "{} of {} packages were not fetched",
            candidates.len() - debs.len(),
            candidates.len()
        )));
    }
    Ok(debs)
}

/// One candidate of [`materialise`]: `at` is its place and the count, for progress.
fn materialise_one(
    c: &Candidate,
    at: (usize, usize),
    dir: &Path,
    fetcher: &Fetcher,
    reporter: &dyn Reporter,
) -> Result<DebFile, DebsError> {
    let label = format!("{} {}", c.name, c.version);
    reporter.item_started(&label, at.0, at.1);
    let deb = match &c.location {
        Location::Local(p) => read_deb(p)?,
        Location::Remote { base, path } => {
            let url = join(base, path);
            let dest = dir.join(format!(
                "{}_{}_{}.deb",
                c.name,
                c.version.without_epoch(),
                c.arch
            ));
            // A cache entry at the stat its facts were recorded at is not read again (the
            // bundle writer hashes what it packs). Any other is hashed once, by read_deb,
            // as every .deb is: one that does not hash to its name (or is no .deb) is
            // removed and the file downloaded.
            let known = fetcher.from_cache_known(&dest, c.size, &c.sha256);
            let cached = known.map(Ok).or_else(|| {
                (fetcher.from_cache_unchecked(&dest, c.size, &c.sha256)).then(|| read_deb(&dest))
            });
            let cached = cached.and_then(|read| match read {
                Ok(deb) if deb.sha256 == c.sha256 => Some(deb),
                _ => {
                    fetcher.discard_cached(&c.sha256);
                    let _ = std::fs::remove_file(&dest);
                    None
                }
            });
            match cached {
                Some(deb) => deb,
                None => {
                    fetcher.download_to_cache(&url, &dest, c.size, &c.sha256)?;
                    read_deb(&dest)?
                }
            }
        }
    };
    if deb.sha256 != c.sha256 {
        return Err(DebsError::HashMismatch {
            what: deb.path.display().to_string(),
            expected: format!("sha256:{}", c.sha256),
            actual: format!("sha256:{}", deb.sha256),
        });
    }
    if let Location::Remote { base, path } = &c.location {
        check_entry(c, &deb, &join(base, path))?;
    }
    reporter.item_finished(&label, &crate::util::human_bytes(deb.size));
    Ok(deb)
}

/// A .deb must be the package its index entry names: its control file's Package,
/// Version and Architecture against the entry's (a repository whose hashes match but whose
/// names do not would otherwise install another package under the requested name).
fn check_entry(c: &Candidate, deb: &DebFile, url: &str) -> Result<(), DebsError> {
    let control = &deb.control;
    let package = control.get("Package").unwrap_or_default();
    let version = control.get("Version").unwrap_or_default();
    let arch = control.get("Architecture").unwrap_or_default();
    let same_version = Version::parse(version).is_ok_and(|v| v == c.version);
    if package == c.name && same_version && arch == c.arch {
        return Ok(());
    }
    Err(DebsError::NotTheEntry {
        url: url.to_string(),
        expected: format!("{} {} {}", c.name, c.version, c.arch),
        actual: format!("{package} {version} {arch}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clearsigned_body_strips_armour_and_dash_escapes() {
        let text = "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\nOrigin: x\n- -dash\n-----BEGIN PGP SIGNATURE-----\nabc\n-----END PGP SIGNATURE-----\n";
        assert_eq!(clearsigned_body(text).unwrap(), "Origin: x\n-dash");
        assert!(clearsigned_body("Origin: x\n").is_none());
    }

    #[test]
    fn index_paths_stay_inside_the_repository() {
        for ok in [
            "pool/main/j/jq/jq_1.6_amd64.deb",
            "./pool/a.deb",
            "pool/main/f/foo/foo_1%3a2.0_amd64.deb",
            "a..b/c..deb",
            "main/binary-amd64/Packages.xz",
        ] {
            assert!(inside_repo(ok), "{ok}");
        }
        for bad in [
            "",
            "/etc/passwd",
            "pool/main/../../../outside/x.deb",
            "..",
            "pool/..",
            "pool/%2e%2e/%2E%2E/x.deb",
            "pool%2f..%2fx.deb",
            "pool\\..\\x.deb",
            "pool/x.deb?y",
            "pool/x.deb#y",
            "pool/x\n.deb",
        ] {
            assert!(!inside_repo(bad), "{bad:?}");
        }
    }

    #[test]
    fn prefixed_components_are_named_by_their_last_segment_as_apt_names_them() {
        let listed = ["updates/main", "updates/contrib", "non-free"];
        let supported = supported_components(&listed);
        for c in ["main", "updates/main", "contrib", "non-free"] {
            assert!(supported.contains(&c), "{c}");
        }
        assert!(!supported.contains(&"updates"));
    }

    #[test]
    fn the_security_suite_of_a_debian_release_is_suggested() {
        let spec = |url: &str, suite: &str| RepoSpec {
            url: url.into(),
            suite: suite.into(),
            components: vec!["main".into(), "contrib".into()],
            keyring: None,
        };
        assert_eq!(
            security_source(&spec("http://deb.debian.org/debian/", "bookworm")).as_deref(),
            Some("http://deb.debian.org/debian-security bookworm-security main contrib")
        );
        for (url, suite) in [
            ("http://deb.debian.org/debian", "bookworm-updates"),
            ("http://deb.debian.org/debian-security", "bookworm-security"),
            ("http://mirror/ubuntu", "noble"),
            ("file:///srv/debian", "./"),
        ] {
            assert_eq!(security_source(&spec(url, suite)), None, "{url} {suite}");
        }
    }

    #[test]
    fn urls_join_without_double_slashes() {
        assert_eq!(
            join("http://h/debian/", "./pool/a.deb"),
            "http://h/debian/pool/a.deb"
        );
        assert_eq!(join("file:///r", "dists/x"), "file:///r/dists/x");
    }
}
