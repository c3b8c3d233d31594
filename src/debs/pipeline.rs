//! One bundle from start to end, in two halves: [`prepare`] reads every input and
//! resolves the closure (so a missing dependency fails before anything is written), and
//! [`PreparedBundle::write`] fetches the .debs and writes the tarball.

use super::base::Base;
use super::bundle::{BundleOptions, BundleReport, write_bundle_stat};
use super::cache::DebCache;
use super::error::DebsError;
use super::repo::{PackageSource, materialise};
use super::request::Request;
use super::resolve::{Closure, resolve};
use super::universe::{Candidate, Location, Universe, Verification};
use super::{closures, sets, unchanged};
use crate::leftovers::Staging;
use crate::net::Net;
use crate::report::Reporter;
use crate::util::FileStat;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Everything that defines one bundle.
#[derive(Debug, Clone, Serialize)]
pub struct BundleSpec {
    /// Bundle name.
    pub name: String,
    /// Where packages come from: local .debs and repositories, in tie-breaking order.
    pub sources: Vec<PackageSource>,
    /// Native architecture of the nodes.
    pub arch: String,
    /// Named sets to include.
    pub sets: Vec<String>,
    /// Packages to include besides the sets.
    pub packages: Vec<Request>,
    /// What the node image already has (`dpkg-query -W` output).
    pub base: Option<PathBuf>,
}

/// A bundle whose inputs are read and whose closure is resolved.
#[derive(Debug, Clone)]
pub struct PreparedBundle {
    /// The spec.
    pub spec: BundleSpec,
    /// Every package requested (sets expanded).
    pub requests: Vec<Request>,
    /// The candidates: those reachable from the requests, or, for a closure taken from
    /// the cache ([`closures`]), the closure's own, in its order.
    pub universe: Universe,
    /// The closure.
    pub closure: Closure,
    /// The network its .debs are fetched through.
    pub net: Arc<Net>,
    /// The download cache its indexes and .debs are taken from and stored in, if any.
    pub cache: Option<Arc<DebCache>>,
    /// The run's staging paths: the signature check's scratch folder, the folder of
    /// .debs and the partial tarball are registered here, so a SIGINT or SIGTERM removes
    /// them.
    pub staging: Staging,
    /// The fingerprint of what the closure was resolved from ([`prepare_for`]).
    inputs: Option<String>,
    /// The key the closure is filed under in the cache ([`closures::key`]), when it was
    /// resolved here (not taken from the cache) and there is a cache to file it in.
    file_as: Option<String>,
    /// The bundle [`prepare_for`] found unchanged: nothing was resolved (the closure is
    /// the recorded one, and the universe holds no candidate from a repository).
    pub kept: Option<BundleReport>,
}

/// Reads the inputs of `spec` (a repository through `net`) and resolves its closure;
/// what it stages is registered with `staging`, the run's.
pub fn prepare(
    spec: &BundleSpec,
    net: Arc<Net>,
    staging: &Staging,
) -> Result<PreparedBundle, DebsError> {
    prepare_cached(spec, net, None, staging)
}

/// [`prepare`] with a download cache: indexes (here) and .debs (when written) whose hash
/// it holds are taken from it, and what is downloaded is stored in it. A closure it holds
/// for these inputs ([`closures`]) is taken as it is: no index is read, nothing resolved.
pub fn prepare_cached(
    spec: &BundleSpec,
    net: Arc<Net>,
    cache: Option<Arc<DebCache>>,
    staging: &Staging,
) -> Result<PreparedBundle, DebsError> {
    prepare_inner(spec, net, cache, None, staging)
}

/// [`prepare_cached`] for the bundle to be written to `out` with entries stamped `mtime`
/// by [`PreparedBundle::write_unless_unchanged`]. Unless `force`, when the record beside
/// `out` says its closure was resolved from these very inputs (the Release files, fetched
/// and checked as always, among them) and the bundle there is whole, no index is read and
/// nothing is resolved: the bundle is kept ([`PreparedBundle::kept`]), its closure the
/// recorded one.
pub fn prepare_for(
    spec: &BundleSpec,
    net: Arc<Net>,
    cache: Option<Arc<DebCache>>,
    (out, mtime, force): (&Path, u64, bool),
    staging: &Staging,
) -> Result<PreparedBundle, DebsError> {
    prepare_inner(spec, net, cache, Some((out, mtime, force)), staging)
}

fn prepare_inner(
    spec: &BundleSpec,
    net: Arc<Net>,
    cache: Option<Arc<DebCache>>,
    target: Option<(&Path, u64, bool)>,
    staging: &Staging,
) -> Result<PreparedBundle, DebsError> {
    super::bundle::check_name(&spec.name).map_err(DebsError::Name)?;
    let requests = sets::expand(&spec.sets, &spec.packages)?;
    if requests.is_empty() {
        return Err(DebsError::Unsatisfiable(format!(
            "bundle {}: no packages requested; name a set or packages",
            spec.name
        )));
    }
    let (base, base_sha256) = match &spec.base {
        Some(path) => {
            let text = crate::input::read_to_string(path, crate::input::Kind::Text)
                .map_err(|e| DebsError::io(path, e.into_io()))?;
            let base = Base::parse(&text, &path.display().to_string())?;
            (base, Some(crate::hashing::sha256_hex(text.as_bytes())))
        }
        None => (Base::default(), None),
    };
    let spec_json = serde_json::to_value(spec).unwrap_or_default();
    let request_words: Vec<String> = requests.iter().map(ToString::to_string).collect();
    // Set by `enough` once the Release files are in: the inputs' fingerprint, and what the
    // record beside `out` says when it matches them; else the key of the closure in the
    // cache, and the closure the cache holds under it.
    let inputs = std::cell::RefCell::new(None::<String>);
    let kept = std::cell::RefCell::new(None);
    let key = std::cell::RefCell::new(None::<String>);
    let stored = std::cell::RefCell::new(None::<closures::Stored>);
    let use_stored = std::cell::Cell::new(true);
    let enough = |pins: &[String]| {
        if let Some((out, mtime, force)) = target {
            let fingerprint = unchanged::inputs(
                &spec_json,
                &request_words,
                base_sha256.as_deref(),
                mtime,
                pins,
            );
            if !force {
                *kept.borrow_mut() = unchanged::kept_as_resolved(out, &fingerprint, staging);
            }
            *inputs.borrow_mut() = Some(fingerprint);
            if kept.borrow().is_some() {
                return true;
            }
        }
        let Some(cache) = cache.as_deref() else {
            return false;
        };
        let k = closures::key(&spec_json, &request_words, base_sha256.as_deref(), pins);
        if use_stored.get() {
            *stored.borrow_mut() = closures::load(cache, &k, &spec.sources);
        }
        *key.borrow_mut() = Some(k);
        stored.borrow().is_some()
    };
    let load = || {
        Universe::load_reachable_unless(
            &spec.sources,
            &spec.arch,
            (&net, cache.as_deref()),
            (&requests, &base),
            &enough,
            staging,
        )
    };
    let (mut universe, _) = load()?;
    let from_cache = match stored.take() {
        Some(stored) => match stored.candidates(&universe) {
            Some(found) => Some(found),
            None => {
                // A local .deb it names is not among those read: read and resolve.
                use_stored.set(false);
                universe = load()?.0;
                None
            }
        },
        None => None,
    };
    let mut file_as = None;
    let (kept, closure) = match (kept.into_inner(), from_cache) {
        (Some((report, closure)), _) => (Some(report), closure),
        (None, Some((candidates, closure))) => {
            universe.candidates = candidates;
            (None, closure)
        }
        (None, None) => {
            let closure = resolve(&universe, &requests, &base).map_err(|e| match e {
                DebsError::Unsatisfiable(m) => {
                    DebsError::Unsatisfiable(format!("bundle {}: {m}", spec.name))
                }
                other => other,
            })?;
            file_as = key.take();
            (None, closure)
        }
    };
    Ok(PreparedBundle {
        spec: spec.clone(),
        requests,
        universe,
        closure,
        net,
        cache,
        staging: staging.clone(),
        inputs: inputs.into_inner(),
        file_as,
        kept,
    })
}

impl PreparedBundle {
    /// True when the source's Release signature was not checked.
    pub fn unverified(&self) -> bool {
        self.universe.verification == Verification::Unverified
    }

    /// Fetches the closure's .debs (checking each against its index) and writes the
    /// bundle to `out` atomically, entries stamped with `mtime`.
    pub fn write(
        &self,
        out: &Path,
        mtime: u64,
        reporter: &dyn Reporter,
    ) -> Result<BundleReport, DebsError> {
        self.write_stat(out, mtime, reporter)
            .map(|(report, _)| report)
    }

    /// [`PreparedBundle::write`], with the stat of the file written
    /// ([`super::bundle::write_bundle_stat`]).
    fn write_stat(
        &self,
        out: &Path,
        mtime: u64,
        reporter: &dyn Reporter,
    ) -> Result<(BundleReport, FileStat), DebsError> {
        if self.kept.is_some() {
            // Its closure names no candidate this universe holds.
            return Err(DebsError::Unsatisfiable(format!(
                "bundle {}: kept unchanged, not resolved; nothing to write",
                self.spec.name
            )));
        }
        if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| DebsError::io(dir, e))?;
        }
        // What a killed run left beside the bundle (its staging folder of .debs) goes.
        crate::leftovers::sweep_beside(out).map_err(|e| DebsError::io(out, e))?;
        let work = crate::util::temp_path_beside(out);
        // Ctrl-C or a SIGTERM removes it too, whenever it comes; a SIGKILL leaves it to the
        // next run's sweep.
        let _staging = self
            .staging
            .create_dir(&work)
            .map_err(|e| DebsError::io(&work, e))?;
        let chosen = self.chosen();
        let cache = self.cache.as_deref();
        let result = (|| {
            let debs = materialise(&chosen, &work, (&self.net, cache), reporter, &self.staging)?;
            if let Some(cache) = cache {
                // Every .deb is in: the closure is filed for the next bundle of these inputs.
                if let Some(key) = &self.file_as {
                    closures::save(cache, key, &self.closure, &chosen);
                }
                // Over its cap, the least recently used entries go; a cache that cannot be
                // trimmed does not fail the bundle.
                if let Err(e) = cache.trim() {
                    reporter.warning(&format!("{}: {e}", cache.dir().display()));
                }
            }
            let written =
                write_bundle_stat(&debs, &self.options(mtime), out, reporter, &self.staging)?;
            Ok::<_, DebsError>((written, debs))
        })();
        let _ = std::fs::remove_dir_all(&work);
        let (written, debs) = result?;
        if let Some(cache) = cache {
            // Its links in the staging folder gone, each cached .deb has the stat the next
            // run finds: what it was read as is recorded with that stat.
            for (c, deb) in chosen.iter().zip(&debs) {
                if matches!(c.location, Location::Remote { .. }) {
                    cache.remember_deb(deb);
                }
            }
        }
        Ok(written)
    }

    /// [`PreparedBundle::write`], unless the bundle at `out` is the one this would write
    /// (see [`unchanged`]): then it is kept as it is, and the second value is true. With
    /// `force` it is written regardless.
    pub fn write_unless_unchanged(
        &self,
        out: &Path,
        mtime: u64,
        force: bool,
        reporter: &dyn Reporter,
    ) -> Result<(BundleReport, bool), DebsError> {
        if let Some(report) = &self.kept {
            return Ok((report.clone(), true));
        }
        let fingerprint = unchanged::fingerprint(&self.chosen(), &self.options(mtime));
        let inputs = self.inputs.as_deref().unwrap_or_default();
        if !force
            && let Some(report) =
                unchanged::kept(out, &fingerprint, inputs, &self.closure, &self.staging)
        {
            return Ok((report, true));
        }
        let (report, written) = self.write_stat(out, mtime, reporter)?;
        unchanged::remember(
            out,
            &fingerprint,
            (inputs, &self.closure),
            (&report, &written),
            &self.staging,
        );
        Ok((report, false))
    }

    /// The closure's candidates, in closure order.
    fn chosen(&self) -> Vec<&Candidate> {
        (self.closure.packages.iter())
            .map(|r| &self.universe.candidates[r.candidate])
            .collect()
    }

    /// What goes into the bundle besides the .debs.
    fn options(&self, mtime: u64) -> BundleOptions {
        BundleOptions {
            name: self.spec.name.clone(),
            requested: self.closure.install.clone(),
            arch: self.spec.arch.clone(),
            mtime,
        }
    }
}
