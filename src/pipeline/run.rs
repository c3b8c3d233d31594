//! Running a plan: each step in order, through [`StepKind`] and nothing step-specific.
//! A step whose fingerprint the build state knows, with its outputs unchanged, is
//! skipped and its report restored ([`crate::pipeline::state`]); a step that ran is
//! recorded. Consecutive batchable steps (the seed ISOs) are prepared in order, written
//! on every core, then recorded in order as if each had run alone. A build over a sealed
//! output that fails puts every file back as it was ([`crate::pipeline::undo`]).

use crate::iso::DigestCache;
use crate::oci::archive::ArchiveReport;
use crate::oci::mirror::MirroredImage;
use crate::oci::verify::VerifyReport;
use crate::pipeline::plan::Plan;
use crate::pipeline::steps::{Cx, Done, Step, StepKind, Visit, Work, output_key};
use crate::pki::PkiReport;
use crate::report::Reporter;
use crate::{Error, Result};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What a build did.
#[derive(Debug, Serialize)]
pub struct BuildReport {
    /// The output directory.
    pub output: PathBuf,
    /// The source date every dated file carries, and where it came from (as
    /// `manifest.json` records it).
    #[serde(flatten)]
    pub source_date: crate::pipeline::seal::SourceDate,
    /// Wall time of the whole run, in seconds. The steps' own times do not add up to it:
    /// the seed ISOs are written at the same time.
    pub seconds: f64,
    /// Every step, in order: whether it ran or was skipped (unchanged), and its time.
    pub steps: Vec<StepRun>,
    /// The images mirrored.
    pub images: Vec<MirroredImageReport>,
    /// The verification of the layout.
    pub verify: VerifyReport,
    /// The airgap archives written.
    pub airgap: Vec<ArchiveReport>,
    /// The package bundles written.
    pub packages: Vec<crate::debs::BundleReport>,
    /// The registry PKI and configs.
    pub pki: Option<PkiReport>,
    /// The node folders written.
    pub nodes: Vec<PathBuf>,
    /// The seed ISOs and the payload ISO, each with its node (none for the payload ISO).
    pub iso: Vec<crate::pipeline::steps::SeedIso>,
    /// The `files:` payload written.
    pub files: Vec<crate::files::FileReport>,
    /// The Helm charts written.
    pub charts: Vec<crate::pipeline::steps::ChartReport>,
    /// The `manifests:` files copied.
    pub manifests: Option<crate::pipeline::steps::ManifestsReport>,
    /// `SHA256SUMS` and `manifest.json`.
    pub seal: Option<crate::pipeline::seal::SealReport>,
    /// The seed ISOs copied into `export_dir`.
    pub export: Option<crate::pipeline::export::ExportReport>,
}

impl BuildReport {
    /// True when the step `name` (the one that wrote `out`, for steps that write one file
    /// each) was skipped as unchanged: its report is the one kept from the build that ran it.
    pub fn kept(&self, name: &str, out: Option<&Path>) -> bool {
        let key = match out {
            Some(out) => output_key(name, out),
            None => name.to_string(),
        };
        (self.steps.iter()).any(|s| s.key == key && s.status == "skipped")
    }
}

/// How one step went, for the build report.
#[derive(Debug, Clone, Serialize)]
pub struct StepRun {
    /// The step's name (`iso`).
    pub step: &'static str,
    /// Which one (`iso lab-agent1`), as the build state names it.
    pub key: String,
    /// `ran`, or `skipped` when its inputs and outputs were unchanged.
    pub status: &'static str,
    /// Wall time from its start to its end, in seconds. Seed ISOs are written at the same
    /// time, so their times overlap; [`BuildReport::seconds`] is the run's.
    pub seconds: f64,
}

/// One mirrored image, for reports.
#[derive(Debug, Serialize)]
pub struct MirroredImageReport {
    /// Destination reference.
    pub destination: String,
    /// Source as listed.
    pub source: String,
    /// Digest of the stored manifest or index.
    pub digest: String,
    /// Media type of the stored manifest or index.
    pub media_type: String,
    /// Platforms stored.
    pub platforms: Vec<String>,
    /// Blobs written by this run.
    pub blobs_written: usize,
    /// Bytes written by this run.
    pub bytes_written: u64,
    /// The signatures, attestations, SBOMs and referrers stored with it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attached: Vec<crate::oci::mirror::StoredAttachment>,
    /// The signatures the policy (`images.verify`) verified, with the key of each.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub verified: Vec<crate::oci::mirror::policy::VerifiedSignature>,
}

impl From<&MirroredImage> for MirroredImageReport {
    fn from(m: &MirroredImage) -> Self {
        MirroredImageReport {
            destination: m.destination.clone(),
            source: m.source.clone(),
            digest: m.outcome.entry.digest.to_string(),
            media_type: m.outcome.entry.media_type.clone(),
            platforms: m.outcome.platforms.clone(),
            blobs_written: m.outcome.blobs_written,
            bytes_written: m.outcome.bytes_written,
            attached: m.attached.clone(),
            verified: m.verified.clone(),
        }
    }
}

/// How often a build saves its state between steps: a build killed in between runs the
/// steps since the last save again, and 48 seed ISO steps do not write it 48 times.
const STATE_SAVE_EVERY: Duration = Duration::from_millis(500);

/// Runs a plan (see the module's head).
pub fn run(plan: &Plan, reporter: &dyn Reporter) -> Result<BuildReport> {
    let started = Instant::now();
    let inputs = &plan.inputs;
    // A signed output whose inputs changed, with only its public key here, is refused
    // before any step writes: its end could not be signed.
    inputs.seal.check_signable(&inputs.output)?;
    // What runs killed earlier left behind (never under a final name) goes first: in the
    // output tree, beside the lock file and in the export folder.
    let beside: Vec<&Path> = (inputs.lock.as_ref().and_then(|(path, _)| path.parent()))
        .into_iter()
        .chain(plan.steps.iter().filter_map(|s| match s {
            Step::Export(e) => Some(e.dir.as_path()),
            _ => None,
        }))
        .collect();
    let undo_error =
        |(path, e): crate::pipeline::undo::Failed| Error::Oci(crate::oci::OciError::io(&path, e));
    // A killed build's changes are put back first (the output's lock does it too, before
    // the plan is made again), then its temporary files go.
    let restored = crate::pipeline::undo::recover(&inputs.output).map_err(undo_error)?;
    inputs.state.absorb_ctime(&restored);
    crate::leftovers::sweep(&inputs.output, &beside)
        .map_err(|e| crate::oci::OciError::io(&inputs.output, e))?;
    // What a failure puts back: every file of the sealed output, as it is now (made before
    // the first step that writes).
    let watch = crate::pipeline::undo::watch(&inputs.output).map_err(undo_error)?;
    let digests = DigestCache::default();
    let mut runner = Runner {
        cx: Cx {
            inputs,
            steps: &plan.steps,
            reporter,
            digests: &digests,
            lock: inputs.lock.clone(),
            done: Done::default(),
        },
        pending: Vec::new(),
        runs: Vec::new(),
        saved: Instant::now(),
        undo: match watch {
            Some(w) => Undo::Watching(w),
            None => Undo::Unsealed,
        },
    };
    let ran = (|| {
        for step in &plan.steps {
            runner.step(step)?;
        }
        runner.flush()
    })();
    let undo = std::mem::replace(&mut runner.undo, Undo::Unsealed);
    let undo = match undo {
        Undo::Made(set) => Some(set),
        // A step that runs every time may have replaced a file before it failed.
        Undo::Watching(w) if ran.is_err() && w.changed() => match runner.make_undo(&w) {
            Ok(set) => Some(set),
            Err(_) => {
                // No room for the set (a full disk): what such a step wrote is put back
                // from what was watched.
                match w.put_back() {
                    Ok(restored) => inputs.state.absorb_ctime(&restored),
                    Err((path, why)) => reporter.warning(&format!(
                        "{}: could not put back the output as it was ({why})",
                        path.display()
                    )),
                }
                None
            }
        },
        _ => None,
    };
    // Every file the output held is put back: it is the last sealed output again. What the
    // finished steps recorded is kept: a step whose files were put back finds them changed
    // and runs again.
    let put_back = || {
        match crate::pipeline::undo::recover(&inputs.output) {
            Ok(restored) => inputs.state.absorb_ctime(&restored),
            Err((path, why)) => reporter.warning(&format!(
                "{}: could not put back the output as it was ({why}); the next build puts it back",
                path.display()
            )),
        }
        let _ = inputs.state.save();
    };
    if let Err(e) = ran {
        if undo.is_some() {
            put_back();
        } else {
            let _ = inputs.state.save();
        }
        return Err(e);
    }
    if let Some(set) = undo {
        let kept = set.files().to_vec();
        if let Err(failed) = set.commit() {
            // The set still rolls back: the build fails as a step would have.
            put_back();
            return Err(undo_error(failed));
        }
        inputs.state.absorb_ctime(&kept);
    }
    // The pins the steps made are written once the output they describe is sealed: a
    // build that fails leaves seedforge.lock as it was, as it leaves the output.
    // (A lock that pins what the file holds is left alone by `write`.)
    if let Some((path, lock)) = &runner.cx.lock
        && !lock.is_empty()
    {
        lock.write(path)?;
    }
    // The output is complete and sealed: the state only saves work next time, so a
    // failure to write it fails nothing (the next build checks every step again).
    if let Err(e) = inputs.state.finish() {
        reporter.warning(&format!(
            "{}: the build is complete, but its state could not be saved ({e}); the next build checks every step again",
            inputs.state.path().display()
        ));
    }
    let done = runner.cx.done;
    Ok(BuildReport {
        output: inputs.output.clone(),
        source_date: inputs.seal.source_date(),
        seconds: started.elapsed().as_secs_f64(),
        steps: runner.runs,
        images: done
            .mirrored
            .iter()
            .map(MirroredImageReport::from)
            .collect(),
        verify: done.verified.unwrap_or_default(),
        airgap: done.archives,
        packages: done.bundles,
        pki: done.pki,
        nodes: done.node_dirs,
        iso: done.isos,
        files: done.files,
        charts: done.charts,
        manifests: done.manifests,
        seal: done.seal,
        export: done.export,
    })
}

/// A failure to write the build state, naming its file.
fn state_error(state: &crate::pipeline::state::BuildState, e: std::io::Error) -> Error {
    Error::Oci(crate::oci::OciError::io(state.path(), e))
}

/// What finishes a step whose writing ran on a writer thread: recording it, in order.
type Finish<'p> = Box<dyn FnOnce(&mut Runner<'p>) -> Result<()> + Send + 'p>;
/// The writing of a batchable step, and what finishes it.
type Pending<'p> = (
    &'static str,
    Box<dyn FnOnce() -> Result<Finish<'p>> + Send + 'p>,
);

/// Where a run stands with the undo set of a sealed output ([`crate::pipeline::undo`]).
enum Undo {
    /// The output was never sealed: nothing to put back.
    Unsealed,
    /// Nothing has been written yet.
    Watching(crate::pipeline::undo::Watch),
    /// The undo set is in place.
    Made(crate::pipeline::undo::UndoSet),
}

/// A plan being run.
struct Runner<'p> {
    cx: Cx<'p>,
    /// Batchable steps prepared and not written yet.
    pending: Vec<Pending<'p>>,
    /// How each step went, in order.
    runs: Vec<StepRun>,
    /// When the state was last saved.
    saved: Instant,
    /// The undo set, or what it will be made from.
    undo: Undo,
}

/// Runs one step with its own type.
struct Exec<'r, 'p>(&'r mut Runner<'p>);

impl<'p> Visit<'p> for Exec<'_, 'p> {
    type Out = Result<()>;
    fn visit<S: StepKind>(self, step: &'p S) -> Result<()> {
        self.0.execute(step)
    }
}

impl<'p> Runner<'p> {
    /// Makes the undo set from what was watched, its links taken in by the state.
    fn make_undo(
        &self,
        watch: &crate::pipeline::undo::Watch,
    ) -> std::result::Result<crate::pipeline::undo::UndoSet, crate::pipeline::undo::Failed> {
        let set = watch.prepare()?;
        self.cx.inputs.state.absorb_ctime(set.files());
        if set.copied {
            self.cx.reporter.warning(&format!(
                "{}: the file system has no hard links: the files a failed build would put back were copied",
                self.cx.inputs.output.display()
            ));
        }
        Ok(set)
    }

    /// Makes the undo set now (before a step that writes, or after one that wrote), if it
    /// is not made yet.
    fn ensure_undo(&mut self) -> Result<()> {
        if let Undo::Watching(w) = &self.undo {
            // On failure the output stays watched: the run's end puts back from it.
            let set = self
                .make_undo(w)
                .map_err(|(path, e)| Error::Oci(crate::oci::OciError::io(&path, e)))?;
            self.undo = Undo::Made(set);
        }
        Ok(())
    }

    fn step(&mut self, step: &'p Step) -> Result<()> {
        // A step that is not batchable may read what the pending ones write.
        if !step.get().batch() {
            self.flush()?;
        }
        step.visit(Exec(self))
    }

    /// Skips `step` as unchanged, or runs it (a batchable step's writing is left pending).
    fn execute<S: StepKind>(&mut self, step: &'p S) -> Result<()> {
        let started = Instant::now();
        let key = step.key();
        let fingerprint =
            (step.fingerprint(&mut self.cx)?).map(|doc| crate::pipeline::state::fingerprint(&doc));
        if let Some(fp) = &fingerprint
            && let Some(kept) = self.cx.inputs.state.skippable(&key, fp)
            && let Ok(kept) = serde_json::from_value::<S::Kept>(kept)
            && let Some(report) = step.restore(&mut self.cx, &key, kept)?
        {
            self.cx.reporter.step_skipped(S::NAME);
            S::deliver(report, &mut self.cx.done);
            return self.finished(S::NAME, key, "skipped", started);
        }
        // A step with a fingerprint runs because something it writes changed. One without
        // (the mirror, the PKI, the seal, a bundle kept as it is) checks and writes only
        // what changed: the files it replaced, if any, are taken in after it.
        if fingerprint.is_some() {
            self.ensure_undo()?;
        }
        if !S::BATCH {
            self.cx.reporter.step_started(S::NAME);
        }
        let work = step.run(&mut self.cx)?;
        if let Undo::Watching(w) = &self.undo
            && w.changed()
        {
            self.ensure_undo()?;
        }
        match work {
            Work::Done(report) if S::BATCH => {
                // Nothing to write (a node without files).
                self.cx.reporter.step_skipped(S::NAME);
                S::deliver(report, &mut self.cx.done);
                self.finished(S::NAME, key, "skipped", started)
            }
            Work::Done(report) => {
                self.ran(step, key, fingerprint, started, report)?;
                self.cx.reporter.step_finished(S::NAME);
                Ok(())
            }
            Work::Later(write) => {
                self.pending.push((
                    S::NAME,
                    Box::new(move || {
                        let report = write()?;
                        Ok(Box::new(move |runner: &mut Runner<'p>| {
                            runner.ran(step, key, fingerprint, started, report)
                        }) as Finish<'p>)
                    }),
                ));
                Ok(())
            }
        }
    }

    /// Records a step that has just run and delivers its report.
    fn ran<S: StepKind>(
        &mut self,
        step: &S,
        key: String,
        fingerprint: Option<String>,
        started: Instant,
        report: S::Report,
    ) -> Result<()> {
        if let Some(fp) = &fingerprint
            && let Some(record) = step.record(&self.cx, &report)?
        {
            let state = &self.cx.inputs.state;
            state
                .record(&key, fp, &record.outputs, &record.kept, record.vouched)
                .map_err(|e| state_error(state, e))?;
        }
        S::deliver(report, &mut self.cx.done);
        self.finished(S::NAME, key, "ran", started)
    }

    /// Notes how a step went; saves the state at most every [`STATE_SAVE_EVERY`].
    fn finished(
        &mut self,
        name: &'static str,
        key: String,
        status: &'static str,
        started: Instant,
    ) -> Result<()> {
        self.runs.push(StepRun {
            step: name,
            key,
            status,
            seconds: started.elapsed().as_secs_f64(),
        });
        if self.saved.elapsed() >= STATE_SAVE_EVERY {
            let state = &self.cx.inputs.state;
            state.save().map_err(|e| state_error(state, e))?;
            self.saved = Instant::now();
        }
        Ok(())
    }

    /// Writes the pending steps on every core, then finishes each in order. The first is
    /// written alone, on this thread: it hashes what the others share (the seed ISOs'
    /// common prefix), and a build killed in it stops at the same point every time.
    fn flush(&mut self) -> Result<()> {
        let pending = std::mem::take(&mut self.pending);
        if pending.is_empty() {
            return Ok(());
        }
        let reporter = self.cx.reporter;
        let jobs: Vec<Mutex<Option<Pending<'p>>>> =
            pending.into_iter().map(|p| Mutex::new(Some(p))).collect();
        let written: Vec<Mutex<Option<Result<Finish<'p>>>>> =
            jobs.iter().map(|_| Mutex::new(None)).collect();
        let write = |k: usize| {
            let job = jobs[k].lock().ok().and_then(|mut j| j.take());
            if let Some((name, job)) = job {
                reporter.step_started(name);
                let result = job();
                reporter.step_finished(name);
                if let Ok(mut slot) = written[k].lock() {
                    *slot = Some(result);
                }
            }
        };
        write(0);
        let next = std::sync::atomic::AtomicUsize::new(1);
        let work = || {
            loop {
                let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if k >= jobs.len() {
                    break;
                }
                write(k);
            }
        };
        let helpers = std::thread::available_parallelism()
            .map_or(1, std::num::NonZeroUsize::get)
            .min(jobs.len().saturating_sub(1))
            .saturating_sub(1);
        std::thread::scope(|scope| {
            for _ in 0..helpers {
                scope.spawn(work);
            }
            work();
        });
        for slot in written {
            let finish = (slot.into_inner())
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .ok_or_else(|| {
                    Error::Oci(crate::oci::OciError::io(
                        &self.cx.inputs.output,
                        std::io::Error::other("a writer thread failed"),
                    ))
                })??;
            finish(self)?;
        }
        Ok(())
    }
}
