//! The manifests step: the config's `manifests:` files, checked while planning (each
//! document has `apiVersion`, `kind`, `metadata.name`), copied to `OUT/manifests/` and
//! carried on the servers' seeds for k3s to apply at start. Skipped while the names and
//! every file's SHA-256 are unchanged and the copies keep their stat.

use super::reports::{ManifestCopy, ManifestsReport};
use super::{Cx, Done, Record, StepKind, Work};
use crate::Result;
use crate::charts::manifests::{ManifestFile, collect};
use crate::config::Config;
use crate::pipeline::modes::Kind;
use crate::seed::PayloadFile;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Copy the `manifests:` files into `OUT/manifests/`.
#[derive(Debug, Clone, Serialize)]
pub struct Manifests {
    /// `OUT/manifests`.
    pub out: PathBuf,
    /// The files, with the SHA-256 (hex) each had when planned.
    pub files: Vec<(ManifestFile, String)>,
}

/// The step, when the config names manifests; `charts` are the names of the charts'
/// HelmChart manifests (`NAME.yaml`), which a manifest may not take.
pub fn plan(
    config: &Config,
    output: &Path,
    sha256: &dyn Fn(&Path) -> std::io::Result<String>,
) -> Result<Option<Manifests>> {
    if config.manifests.is_empty() {
        return Ok(None);
    }
    let entries: Vec<PathBuf> = config.manifests.iter().map(|(p, _)| p.clone()).collect();
    let taken: Vec<String> = (config.charts.iter())
        .map(|c| format!("{}.yaml", c.name.as_str()))
        .collect();
    let mut files = Vec::new();
    for f in collect(&entries, &taken)? {
        let sum = sha256(&f.source).map_err(|e| super::context::io_error(&f.source, e))?;
        files.push((f, sum));
    }
    Ok(Some(Manifests {
        out: output.join("manifests"),
        files,
    }))
}

impl StepKind for Manifests {
    type Report = ManifestsReport;
    type Kept = ManifestsReport;
    const NAME: &'static str = "manifests";

    fn describe(&self) -> String {
        format!(
            "copy {} manifest(s) into {} for the servers ({})",
            self.files.len(),
            self.out.display(),
            super::mirror::join(self.files.iter().map(|(f, _)| f.name.clone()))
        )
    }

    /// A manifest may hold a Secret: each is kept like one.
    fn artifacts(&self, out: &mut dyn FnMut(PathBuf, Kind)) -> Result<()> {
        for (f, _) in &self.files {
            out(self.out.join(&f.name), Kind::Secret);
        }
        Ok(())
    }

    fn payload(&self) -> Vec<PayloadFile> {
        (self.files.iter())
            .map(|(f, _)| PayloadFile {
                name: format!("manifests/{}", f.name),
                source: self.out.join(&f.name),
                executable: false,
                content_named: false,
            })
            .collect()
    }

    fn fingerprint(&self, _: &mut Cx<'_>) -> Result<Option<serde_json::Value>> {
        let files: Vec<(&str, &str)> = (self.files.iter())
            .map(|(f, sum)| (f.name.as_str(), sum.as_str()))
            .collect();
        Ok(Some(serde_json::json!([Self::NAME, self.out, files])))
    }

    fn restore(
        &self,
        _: &mut Cx<'_>,
        _: &str,
        kept: ManifestsReport,
    ) -> Result<Option<ManifestsReport>> {
        Ok(Some(kept))
    }

    fn run<'p>(&'p self, _: &mut Cx<'p>) -> Result<Work<'p, ManifestsReport>> {
        let io = super::context::io_error;
        std::fs::create_dir_all(&self.out).map_err(|e| io(&self.out, e))?;
        for (f, sum) in &self.files {
            let bytes = crate::input::read_capped(
                &f.source,
                crate::charts::manifests::MAX_MANIFEST_FILE,
                "manifest",
            )?;
            // The file changed since it was checked: planning's verdict no longer holds.
            if crate::oci::Digest::of(&bytes).hex() != sum {
                return Err(crate::charts::ChartError::Invalid(format!(
                    "{}: changed while the build ran; run it again",
                    f.source.display()
                ))
                .into());
            }
            let dest = self.out.join(&f.name);
            crate::util::atomic_write_mode(&dest, &bytes, Kind::Secret.mode())
                .map_err(|e| io(&dest, e))?;
        }
        Ok(Work::Done(self.report()))
    }

    fn record(&self, cx: &Cx<'_>, report: &ManifestsReport) -> Result<Option<Record>> {
        let mut outputs = Vec::new();
        for (f, sum) in &self.files {
            let dest = self.out.join(&f.name);
            cx.inputs.state.learn(&dest, sum);
            outputs.push(dest);
        }
        Ok(Some(Record::wrote(outputs, report)))
    }

    fn deliver(report: ManifestsReport, done: &mut Done) {
        done.manifests = Some(report);
    }
}

impl Manifests {
    fn report(&self) -> ManifestsReport {
        ManifestsReport {
            dir: self.out.clone(),
            files: (self.files.iter())
                .map(|(f, sum)| ManifestCopy {
                    name: f.name.clone(),
                    path: self.out.join(&f.name),
                    sha256: sum.clone(),
                })
                .collect(),
        }
    }
}
