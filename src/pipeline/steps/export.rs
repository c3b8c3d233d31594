//! The export step (`export_dir:`): the seed ISOs (and the payload ISO) copied into a
//! folder of the user's choosing, nothing else there touched
//! ([`crate::pipeline::export`]). Skipped while the folder and every ISO's sha256 are
//! unchanged and the copies keep their stat.

use super::{Cx, Done, Record, StepKind, Work};
use crate::Result;
use crate::pipeline::export::{ExportReport, Exported, export};
use serde::Serialize;
use std::path::PathBuf;

/// Copy the seed ISOs (and the payload ISO) into `export_dir`.
#[derive(Debug, Clone, Serialize)]
pub struct Export {
    /// The destination folder.
    pub dir: PathBuf,
    /// The ISOs copied.
    pub isos: Vec<PathBuf>,
}

impl Export {
    /// Each ISO with its sha256: as the seal hashed it, else from the stat cache.
    fn shas(&self, cx: &Cx<'_>) -> Result<Vec<(PathBuf, String)>> {
        let sealed = cx.done.seal.as_ref().map(|s| &s.hashes);
        (self.isos.iter())
            .map(|iso| {
                let sha = match sealed.and_then(|h| h.get(iso)) {
                    Some(sha) => sha.clone(),
                    None => cx.sha256(iso)?,
                };
                Ok((iso.clone(), sha))
            })
            .collect()
    }
}

impl StepKind for Export {
    type Report = ExportReport;
    type Kept = ();
    const NAME: &'static str = "export";

    fn describe(&self) -> String {
        format!(
            "copy {} ISO(s) into {} (nothing else there is touched)",
            self.isos.len(),
            self.dir.display()
        )
    }

    fn fingerprint(&self, cx: &mut Cx<'_>) -> Result<Option<serde_json::Value>> {
        let shas = self.shas(cx)?;
        Ok(Some(serde_json::json!([Self::NAME, self.dir, shas])))
    }

    fn restore(&self, _: &mut Cx<'_>, _: &str, (): ()) -> Result<Option<ExportReport>> {
        let files = (self.isos.iter())
            .filter_map(|iso| {
                let path = self.dir.join(iso.file_name()?);
                Some(Exported {
                    size: std::fs::metadata(&path).map_or(0, |m| m.len()),
                    path,
                    outcome: "unchanged",
                })
            })
            .collect();
        Ok(Some(ExportReport {
            dir: self.dir.clone(),
            files,
        }))
    }

    fn run<'p>(&'p self, cx: &mut Cx<'p>) -> Result<Work<'p, ExportReport>> {
        Ok(Work::Done(export(&self.shas(cx)?, &self.dir)?))
    }

    fn record(&self, cx: &Cx<'_>, _: &ExportReport) -> Result<Option<Record>> {
        let Some(sealed) = cx.done.seal.as_ref().map(|s| &s.hashes) else {
            return Ok(None);
        };
        let mut paths = Vec::new();
        for iso in &self.isos {
            if let (Some(name), Some(sha)) = (iso.file_name(), sealed.get(iso)) {
                let copy = self.dir.join(name);
                cx.inputs.state.learn(&copy, sha);
                paths.push(copy);
            }
        }
        Ok(Some(Record::wrote(paths, &())))
    }

    fn deliver(report: ExportReport, done: &mut Done) {
        done.export = Some(report);
    }
}
