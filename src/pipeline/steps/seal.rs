//! The seal step: `OUT/SHA256SUMS` and `OUT/manifest.json` over every artifact the steps
//! wrote, and the build's provenance `OUT/sbom/provenance.json` before them
//! ([`crate::pipeline::seal`]). It always runs: it takes the digests this run's
//! steps computed, reads the rest from the stat cache, and rewrites neither file when it
//! is right. It also reads back the mode of every secret of the output, and warns once
//! when the file system did not keep 0600 ([`crate::pipeline::modes::secret_modes`]).

use super::{Cx, Done, Step, StepKind, Work, artifact_paths, payload_files};
use crate::Result;
use crate::pipeline::modes::{Kind, secret_modes};
use crate::pipeline::seal::{
    Contents, Known, MANIFEST, MANIFEST_BUNDLE, PROVENANCE, SUMS, SealError, SealReport, seal_with,
};
use crate::sbom::provenance::Dependency;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Write `OUT/SHA256SUMS` and `OUT/manifest.json` over every artifact.
#[derive(Debug, Clone, Serialize)]
pub struct Seal {
    /// The output directory.
    pub out: PathBuf,
    /// How the seal is signed, in words (the key's file and hint, or the public key the
    /// signatures kept are checked with), if it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signing_key: Option<String>,
}

impl StepKind for Seal {
    type Report = SealReport;
    type Kept = ();
    const NAME: &'static str = "seal";

    fn describe(&self) -> String {
        let signed = match &self.signing_key {
            Some(key) => {
                format!("; {key} ({MANIFEST_BUNDLE})")
            }
            None => String::new(),
        };
        format!(
            "write {PROVENANCE}, {SUMS} and {MANIFEST} over every artifact in {}{signed}",
            self.out.display()
        )
    }

    fn run<'p>(&'p self, cx: &mut Cx<'p>) -> Result<Work<'p, SealReport>> {
        let known = known_hashes(cx.steps, &cx.done);
        let layout = cx.steps.iter().find_map(|s| match s {
            Step::Mirror(m) => Some(m.layout.as_path()),
            _ => None,
        });
        let mut artifacts = artifact_paths(&self.out, cx.steps)?;
        match (&known.blob_strays, layout) {
            // This run's verify step knows them (it ran, or the index is the one it last
            // vouched for).
            (Some(strays), _) => artifacts.retain(|(path, ..)| !strays.contains(path)),
            (None, Some(layout)) => leave_out_strays(layout, &mut artifacts)?,
            (None, None) => {}
        }
        let contents = Contents {
            artifacts,
            layout,
            packages: (cx.steps.iter())
                .filter_map(|s| match s {
                    Step::Packages(p) => Some((p.name.as_str(), p.out.as_path(), p.debs)),
                    _ => None,
                })
                .collect(),
            files: (cx.steps.iter())
                .flat_map(|s| match s {
                    Step::Files(f) => f.files.as_slice(),
                    _ => &[],
                })
                .collect(),
            resolved: cx
                .done
                .sbom
                .as_ref()
                .map(|s| resolved(&s.inventory))
                .unwrap_or_default(),
        };
        let state = &cx.inputs.state;
        let hash_many = |paths: &[PathBuf]| {
            let (results, read) = state.sha256_many(paths);
            let digests = (results.into_iter().zip(paths))
                .map(|(r, p)| r.map_err(|e| SealError::io(p, e)))
                .collect();
            (digests, read)
        };
        let report = seal_with(&cx.inputs.seal, &contents, &self.out, &known, &hash_many)?;
        // Once per build, over every secret of the output, whichever step wrote it.
        let secrets: Vec<PathBuf> = (contents.artifacts.iter())
            .filter(|(_, kind, _)| *kind == Kind::Secret)
            .map(|(path, ..)| path.clone())
            .collect();
        if let Some(warning) = secret_modes(&secrets) {
            cx.reporter.warning(&warning);
        }
        crate::modes::secrets_told(&secrets);
        Ok(Work::Done(report))
    }

    fn deliver(report: SealReport, done: &mut Done) {
        done.seal = Some(report);
    }
}

/// Blobs nothing in `layout`'s `index.json` reaches (an image whose tag now names other
/// content left them) are never sealed: nothing vouches for them, `gc` removes them, and
/// neither a receipt nor a delta may count on them. Where this run's verify step did not
/// say which they are, the manifests are walked (not the blobs hashed) to know; when one
/// cannot be read, every blob stays listed, and the verify step has already failed the
/// build.
fn leave_out_strays(
    layout: &std::path::Path,
    artifacts: &mut Vec<(PathBuf, Kind, u64)>,
) -> Result<()> {
    let Ok(reached) = crate::oci::verify::reachable(&crate::oci::Layout::open(layout)?)? else {
        return Ok(());
    };
    let reached: std::collections::HashSet<&str> = reached
        .iter()
        .filter_map(|(digest, _)| digest.strip_prefix("sha256:"))
        .collect();
    let blobs = layout.join("blobs").join("sha256");
    artifacts.retain(|(path, ..)| {
        path.parent() != Some(blobs.as_path())
            || path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| reached.contains(n))
    });
    Ok(())
}

/// What the provenance lists besides the images and the `files:` payload: every .deb of
/// every bundle (its package URL as its URI) and every chart.
fn resolved(inventory: &crate::sbom::Inventory) -> Vec<Dependency> {
    let mut out = Vec::new();
    let sha = |hex: &str| BTreeMap::from([("sha256".to_string(), hex.to_string())]);
    for b in &inventory.debs {
        for d in &b.debs {
            out.push(Dependency {
                name: format!("{}/{}", b.name, d.filename),
                uri: Some(crate::sbom::deb_purl(&d.name, &d.version, &d.arch)),
                digest: sha(&d.sha256),
                annotations: BTreeMap::from([
                    ("kind".to_string(), "deb".to_string()),
                    ("bundle".to_string(), b.name.clone()),
                ]),
            });
        }
    }
    for c in &inventory.charts {
        out.push(Dependency {
            name: c.name.clone(),
            uri: crate::sbom::download_url(&c.origin),
            digest: sha(&c.sha256),
            annotations: BTreeMap::from([
                ("kind".to_string(), "chart".to_string()),
                ("chart".to_string(), c.chart.clone()),
                ("version".to_string(), c.version.clone()),
                ("origin".to_string(), c.origin.clone()),
            ]),
        });
    }
    out
}

/// The digests this run's steps computed, for the seal to reuse: the seed ISOs (their
/// writer hashes them), the airgap archives, the package bundles, the `files:` payload,
/// every payload file (from the seeds' `SHA256SUMS`) and the blobs the verify step
/// re-hashed.
fn known_hashes(steps: &[Step], done: &Done) -> Known {
    let mut known = Known::default();
    let hex = |sha: &str| sha.strip_prefix("sha256:").unwrap_or(sha).to_string();
    for iso in done.isos.iter().map(|s| &s.iso) {
        if let Some(sha) = &iso.sha256 {
            known.hashes.insert(iso.path.clone(), sha.clone());
        }
    }
    for a in &done.archives {
        if let Some(sha) = &a.sha256 {
            known.hashes.insert(a.path.clone(), hex(sha));
        }
    }
    for b in &done.bundles {
        known.hashes.insert(b.path.clone(), hex(&b.sha256));
    }
    for f in &done.files {
        known.hashes.insert(f.path.clone(), f.sha256.clone());
    }
    let payload = payload_files(steps);
    for (_, sums) in &done.payload_sums {
        for line in sums.lines() {
            if let Some((hex, name)) = line.split_once("  ")
                && let Some(p) = payload.iter().find(|p| p.name == name)
            {
                known.hashes.insert(p.source.clone(), hex.to_string());
            }
        }
    }
    if let Some(report) = &done.verified
        && report.is_sound()
        && report.strays_unknown.is_none()
    {
        known.blob_strays = Some(report.strays.iter().cloned().collect());
    }
    known
}
