//! Which steps of a build can be skipped, and what a skipped step reports (see
//! [`crate::pipeline::state`]).
//!
//! Each skippable step has a fingerprint of everything its result depends on:
//!
//! | step | fingerprint |
//! |---|---|
//! | verify | the layout's `index.json` (its content digest) |
//! | airgap | the step, the images, `index.json` |
//! | packages | the step, the bundle's spec, requests, resolved closure and each .deb's sha256 |
//! | files | the step (names, sources, sha256s, modes) |
//! | render | the step and every rendered file's digest and mode |
//! | iso | the step, the node's files, the payload's `SHA256SUMS` |
//! | payload | the step, the payload's `SHA256SUMS` and modes (shared payload ISO) |
//! | export | the folder and each ISO's sha256 |
//!
//! `mirror` (which fetches only missing blobs and leaves an unchanged `index.json`
//! alone), `pki` (which rewrites no file whose bytes are right) and `seal` (which reads
//! digests from the stat cache and rewrites neither `manifest.json` nor `SHA256SUMS` when
//! they are right) always run.

use super::{Done, Plan, Step};
use crate::oci::verify::VerifyReport;
use crate::oci::{Digest, Layout, OciError};
use crate::render::NodeFiles;
use crate::{Error, Result};
use serde::Serialize;
use serde_json::json;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// How one step went, for the build report.
#[derive(Debug, Clone, Serialize)]
pub struct StepRun {
    /// The step's name (`iso`).
    pub step: &'static str,
    /// Which one (`iso lab-agent1`), as the build state names it.
    pub key: String,
    /// `ran`, or `skipped` when its inputs and outputs were unchanged.
    pub status: &'static str,
    /// Wall time it took, in seconds.
    pub seconds: f64,
}

/// The name of a step in the build state: its kind and what it is about.
pub fn key(step: &Step) -> String {
    match step {
        Step::Airgap { out, .. } | Step::Packages { out, .. } => output_key(step.name(), out),
        Step::Iso { node, .. } => format!("iso {node}"),
        _ => step.name().to_string(),
    }
}

/// The key of a step that writes one file of several of its kind (`airgap OUT/…`).
pub fn output_key(name: &str, out: &Path) -> String {
    format!("{name} {}", out.display())
}

fn io_error(path: &Path, e: std::io::Error) -> Error {
    Error::Oci(OciError::io(path, e))
}

/// The digest of `path` from the plan's stat cache.
fn sha256(plan: &Plan, path: &Path) -> Result<String> {
    plan.state.sha256(path).map_err(|e| io_error(path, e))
}

fn sha_of(text: &str) -> String {
    Digest::of(text.as_bytes()).hex().to_string()
}

/// `payload/SHA256SUMS` of a seed carrying `payload`, from the stat cache; computed once
/// per build for each distinct payload (with the embedded registry mirror, agents carry
/// no airgap archives).
pub(super) fn payload_sums<'a>(
    plan: &Plan,
    payload: &[crate::seed::PayloadFile],
    done: &'a mut Done,
) -> Result<&'a str> {
    let i = match done.payload_sums.iter().position(|(p, _)| p == payload) {
        Some(i) => i,
        None => {
            let sums = crate::seed::payload_sums_with(payload, &|p| plan.state.sha256(p))?;
            done.payload_sums.push((payload.to_vec(), sums));
            done.payload_sums.len() - 1
        }
    };
    Ok(done.payload_sums[i].1.as_str())
}

/// The nodes' files as their seeds carry them: `meta-data`'s instance-id also covers the
/// payload's `SHA256SUMS` (each node's own); computed once per build.
pub(super) fn seeded_nodes(plan: &Plan, done: &mut Done) -> Result<Vec<NodeFiles>> {
    if done.seeded.is_none() {
        let mut seeded = Vec::new();
        for n in &plan.nodes {
            let payload = plan
                .steps
                .iter()
                .find_map(|s| match s {
                    Step::Iso { node, payload, .. } if node == &n.node => Some(payload.as_slice()),
                    _ => None,
                })
                .unwrap_or_default();
            let sums = payload_sums(plan, payload, done)?;
            seeded.push(n.with_payload(sums));
        }
        done.seeded = Some(seeded);
    }
    Ok(done.seeded.clone().unwrap_or_default())
}

/// One node's files as its seed carries them ([`seeded_nodes`], without copying the
/// others').
pub(super) fn seeded_node(plan: &Plan, done: &mut Done, node: &str) -> Result<Option<NodeFiles>> {
    if done.seeded.is_none() {
        seeded_nodes(plan, done)?;
    }
    Ok(done
        .seeded
        .as_ref()
        .and_then(|all| all.iter().find(|n| n.node == node))
        .cloned())
}

/// The fingerprint of a step that can be skipped; `None` for the steps that always run.
pub(super) fn fingerprint(plan: &Plan, step: &Step, done: &mut Done) -> Result<Option<String>> {
    let step_json = serde_json::to_value(step).unwrap_or_default();
    let doc = match step {
        Step::Verify { layout } => {
            json!([
                "verify",
                step_json,
                sha256(plan, &layout.join("index.json"))?
            ])
        }
        Step::Airgap { layout, .. } => {
            let images: Vec<String> = plan
                .images
                .entries
                .iter()
                .map(|e| e.destination.to_string())
                .collect();
            json!([
                "airgap",
                step_json,
                images,
                sha256(plan, &layout.join("index.json"))?
            ])
        }
        Step::Packages { name, .. } => {
            if plan
                .offline
                .as_ref()
                .is_some_and(|o| o.kept(name).is_some())
            {
                return Ok(None);
            }
            let Some(b) = plan.bundles.iter().find(|b| &b.spec.name == name) else {
                return Ok(None);
            };
            let debs: Vec<&str> = b
                .closure
                .packages
                .iter()
                .filter_map(|r| b.universe.candidates.get(r.candidate))
                .map(|c| c.sha256.as_str())
                .collect();
            json!(["packages", step_json, b.spec, b.requests, b.closure, debs])
        }
        Step::Files { .. } => json!(["files", step_json]),
        Step::Render { .. } => {
            let files: Vec<_> = seeded_nodes(plan, done)?
                .iter()
                .flat_map(|n| {
                    n.files()
                        .into_iter()
                        .map(|(name, content, mode)| json!([n.node, name, sha_of(content), mode]))
                })
                .collect();
            json!(["render", step_json, files])
        }
        Step::Iso {
            node,
            payload,
            shared,
            ..
        } => {
            let Some(n) = seeded_node(plan, done, node)? else {
                return Ok(None);
            };
            let files: Vec<_> = n
                .files()
                .into_iter()
                .map(|(name, content, mode)| json!([name, sha_of(content), mode]))
                .collect();
            let sums = payload_sums(plan, payload, done)?.to_string();
            // A shared seed names the payload by its sums only.
            let modes = if *shared {
                Vec::new()
            } else {
                payload_modes(payload)
            };
            json!(["iso", step_json, files, sums, modes])
        }
        Step::Payload { payload, .. } => {
            let sums = payload_sums(plan, payload, done)?.to_string();
            json!(["payload", step_json, sums, payload_modes(payload)])
        }
        Step::Export { dir, isos } => {
            let sealed = done.seal.as_ref().map(|s| &s.hashes);
            let mut shas = Vec::new();
            for iso in isos {
                let sha = match sealed.and_then(|h| h.get(iso)) {
                    Some(sha) => sha.clone(),
                    None => sha256(plan, iso)?,
                };
                shas.push(json!([iso, sha]));
            }
            json!(["export", dir, shas])
        }
        Step::Mirror { .. } | Step::Pki { .. } | Step::Seal { .. } => return Ok(None),
    };
    Ok(Some(crate::pipeline::state::fingerprint(&doc)))
}

/// The image records each payload file's mode (0755 or 0644), which the checksums do not
/// cover: `executable:` turned on must rebuild the image that carries the payload.
fn payload_modes(payload: &[crate::seed::PayloadFile]) -> Vec<serde_json::Value> {
    payload
        .iter()
        .map(|p| {
            use std::os::unix::fs::PermissionsExt as _;
            let exec = std::fs::metadata(&p.source)
                .ok()
                .map(|m| m.permissions().mode() & 0o111 != 0);
            json!([p.name, exec])
        })
        .collect()
}

/// Skips `step` when the state allows it, taking its report from the state; false when
/// the step has to run.
pub(super) fn skip(
    plan: &Plan,
    step: &Step,
    key: &str,
    fingerprint: &str,
    done: &mut Done,
    lock: &mut Option<(PathBuf, crate::oci::registry::lockfile::LockFile)>,
) -> Result<bool> {
    let Some(report) = plan.state.skippable(key, fingerprint) else {
        return Ok(false);
    };
    match step {
        Step::Verify { layout } => {
            let Some(report) = skipped_verify(plan, key, layout, &report)? else {
                return Ok(false);
            };
            done.verified = Some(report);
        }
        Step::Airgap { .. } => match serde_json::from_value(report) {
            Ok(archive) => done.archives.push(archive),
            Err(_) => return Ok(false),
        },
        Step::Packages { name, .. } => {
            let Ok(bundle) = serde_json::from_value::<crate::debs::BundleReport>(report) else {
                return Ok(false);
            };
            // The lock records every bundle from an http(s) repository, built now or not.
            if let (Some((path, lock)), Some(inputs)) = (lock, plan.bundle_inputs.get(name)) {
                crate::pipeline::offline::pin_bundle(lock, name, inputs, &bundle);
                lock.write(path)?;
            }
            done.bundles.push(bundle);
        }
        Step::Files { out, files } => {
            for f in files {
                let path = out.join(&f.name);
                done.files.push(crate::files::FileReport {
                    name: f.name.clone(),
                    size: std::fs::metadata(&path).map_or(0, |m| m.len()),
                    path,
                    source: f.source.display(),
                    sha256: f.sha256.clone(),
                    outcome: "unchanged",
                    retries: 0,
                });
            }
        }
        Step::Render { out, .. } => {
            done.node_dirs
                .extend(plan.nodes.iter().map(|n| out.join(&n.node)));
        }
        Step::Iso { .. } | Step::Payload { .. } => match serde_json::from_value(report) {
            Ok(summary) => done.isos.push(summary),
            Err(_) => return Ok(false),
        },
        Step::Export { dir, isos } => {
            let files = isos
                .iter()
                .filter_map(|iso| {
                    let path = dir.join(iso.file_name()?);
                    Some(crate::pipeline::export::Exported {
                        size: std::fs::metadata(&path).map_or(0, |m| m.len()),
                        path,
                        outcome: "unchanged",
                    })
                })
                .collect();
            done.export = Some(crate::pipeline::export::ExportReport {
                dir: dir.clone(),
                files,
            });
        }
        Step::Mirror { .. } | Step::Pki { .. } | Step::Seal { .. } => return Ok(false),
    }
    Ok(true)
}

/// What the state keeps of a sound verify.
#[derive(Debug, Serialize, serde::Deserialize)]
struct Verified {
    images: Vec<String>,
    blobs_checked: usize,
}

/// The report of a skipped verify: the layout is as it was when it last verified sound.
/// Strays and leftovers are looked for again (cheap: a directory listing).
fn skipped_verify(
    plan: &Plan,
    key: &str,
    layout: &Path,
    report: &serde_json::Value,
) -> Result<Option<VerifyReport>> {
    let Ok(verified) = serde_json::from_value::<Verified>(report.clone()) else {
        return Ok(None);
    };
    let reachable: BTreeSet<PathBuf> = plan.state.outputs(key).into_iter().collect();
    let layout = Layout::open(layout)?;
    let strays = layout
        .list_blobs()?
        .into_iter()
        .map(|(_, p)| p)
        .filter(|p| !reachable.contains(&std::path::absolute(p).unwrap_or_else(|_| p.clone())))
        .collect();
    Ok(Some(VerifyReport {
        layout: layout.root().to_path_buf(),
        images: verified.images,
        blobs_checked: verified.blobs_checked,
        bytes_checked: 0,
        problems: Vec::new(),
        strays,
        strays_unknown: None,
        stale_temp: layout.stale_sessions()?,
    }))
}

/// Records a step that has just run, with the files it wrote (or, for verify, vouched
/// for), and saves the state.
pub(super) fn record(
    plan: &Plan,
    step: &Step,
    key: &str,
    fingerprint: &str,
    done: &Done,
) -> Result<()> {
    let state = &plan.state;
    let saved = match step {
        Step::Verify { layout } => {
            let Some(report) = done
                .verified
                .as_ref()
                .filter(|r| r.is_sound() && r.strays_unknown.is_none())
            else {
                return Ok(());
            };
            let strays: BTreeSet<&PathBuf> = report.strays.iter().collect();
            let mut vouched = vec![layout.join("index.json")];
            vouched.extend(
                Layout::open(layout)?
                    .list_blobs()?
                    .into_iter()
                    .filter(|(d, p)| d.is_some() && !strays.contains(p))
                    .map(|(_, p)| p),
            );
            let kept = Verified {
                images: report.images.clone(),
                blobs_checked: report.blobs_checked,
            };
            state.record(key, fingerprint, &vouched, &kept, true)
        }
        Step::Airgap { out, .. } => {
            let Some(a) = done.archives.last() else {
                return Ok(());
            };
            if let Some(sha) = &a.sha256 {
                state.learn(out, sha);
            }
            state.record(key, fingerprint, std::slice::from_ref(out), a, false)
        }
        Step::Packages { out, .. } => {
            let Some(b) = done.bundles.last() else {
                return Ok(());
            };
            state.learn(out, &b.sha256);
            state.record(key, fingerprint, std::slice::from_ref(out), b, false)
        }
        Step::Files { out, files } => {
            let paths: Vec<PathBuf> = files.iter().map(|f| out.join(&f.name)).collect();
            for (f, p) in files.iter().zip(&paths) {
                state.learn(p, &f.sha256);
            }
            state.record(key, fingerprint, &paths, &(), false)
        }
        Step::Render { out, .. } => {
            let paths: Vec<PathBuf> = plan
                .nodes
                .iter()
                .flat_map(|n| {
                    n.files()
                        .into_iter()
                        .map(|(name, _, _)| out.join(&n.node).join(name))
                })
                .collect();
            state.record(key, fingerprint, &paths, &(), false)
        }
        Step::Iso { out, .. } | Step::Payload { out, .. } => {
            let Some(summary) = done.isos.last() else {
                return Ok(());
            };
            state.record(key, fingerprint, std::slice::from_ref(out), summary, false)
        }
        Step::Export { dir, isos } => {
            let Some(sealed) = done.seal.as_ref().map(|s| &s.hashes) else {
                return Ok(());
            };
            let mut paths = Vec::new();
            for iso in isos {
                if let (Some(name), Some(sha)) = (iso.file_name(), sealed.get(iso)) {
                    let copy = dir.join(name);
                    state.learn(&copy, sha);
                    paths.push(copy);
                }
            }
            state.record(key, fingerprint, &paths, &(), false)
        }
        Step::Mirror { .. } | Step::Pki { .. } | Step::Seal { .. } => return Ok(()),
    };
    saved.map_err(|e| io_error(state.path(), e))
}

/// Writes each node's files, leaving a file alone when the stat cache says it already
/// holds these bytes (so changing one node rewrites only that node's files).
pub(super) fn write_nodes(plan: &Plan, out: &Path, done: &mut Done) -> Result<()> {
    for files in &seeded_nodes(plan, done)? {
        let dir = out.join(&files.node);
        std::fs::create_dir_all(&dir).map_err(|e| io_error(&dir, e))?;
        for (name, content, mode) in files.files() {
            let path = dir.join(name);
            let sha = sha_of(content);
            if plan.state.holds(&path, &sha) {
                continue;
            }
            crate::util::atomic_write_mode(&path, content.as_bytes(), mode)
                .map_err(|e| io_error(&path, e))?;
            plan.state.learn(&path, &sha);
        }
        done.node_dirs.push(dir);
    }
    Ok(())
}
