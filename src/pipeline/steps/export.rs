//! The export step (`export_dir:`): the seed ISOs (and the payload ISO) copied into a
//! folder of the user's choosing, nothing else there touched
//! ([`crate::pipeline::export`]). Skipped while the folder and every ISO's sha256 are
//! unchanged and the copies keep their stat. With `export_split:` an ISO larger than the
//! part size goes as numbered parts, with `SHA256SUMS`, `SHA256SUMS.wholes` and `join.sh`
//! ([`crate::pipeline::split`]).

use super::{Cx, Done, Record, StepKind, Work};
use crate::Result;
use crate::pipeline::export::{ExportReport, Exported, SIGNED_SEAL, export};
use crate::pipeline::seal::SUMS;
use crate::pipeline::seal::statement::{STATEMENT, STATEMENT_BUNDLE};
use crate::pipeline::split::{self, Part};
use serde::Serialize;
use std::path::PathBuf;

/// Copy the seed ISOs (and the payload ISO) into `export_dir`.
#[derive(Debug, Clone, Serialize)]
pub struct Export {
    /// The destination folder.
    pub dir: PathBuf,
    /// The ISOs copied.
    pub isos: Vec<PathBuf>,
    /// The largest part an ISO is cut into (`export_split:`), if any.
    pub split: Option<u64>,
    /// PAR 2.0 recovery data beside the parts, in percent (`export_parity:`), if any.
    pub parity: Option<u32>,
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

/// The output folder, when the seal signed it.
fn signed(cx: &Cx<'_>) -> Option<PathBuf> {
    let out = &cx.inputs.output;
    std::fs::symlink_metadata(out.join(crate::pipeline::seal::MANIFEST_BUNDLE))
        .is_ok_and(|m| m.is_file())
        .then(|| out.clone())
}

/// Who signs the export's statement: `key`, `public_key` (keeps one that signs it) or
/// `none`.
fn signer_kind(cx: &Cx<'_>) -> &'static str {
    match cx.inputs.seal.signer() {
        Some(crate::pipeline::seal::Signer::Key(_)) => "key",
        Some(crate::pipeline::seal::Signer::Check { .. }) => "public_key",
        None => "none",
    }
}

impl StepKind for Export {
    type Report = ExportReport;
    /// Each ISO's parts (empty for one exported whole).
    type Kept = Vec<Vec<Part>>;
    const NAME: &'static str = "export";

    fn describe(&self) -> String {
        match self.split {
            Some(part) => format!(
                "copy {} ISO(s) into {}, those over {part} bytes in parts, with SHA256SUMS, \
                 {} and {}{} (nothing else there is touched)",
                self.isos.len(),
                self.dir.display(),
                split::WHOLES,
                split::JOIN,
                match self.parity {
                    Some(p) => format!(" and PAR 2.0 recovery files ({p}%)"),
                    None => String::new(),
                }
            ),
            None => format!(
                "copy {} ISO(s) into {} (nothing else there is touched)",
                self.isos.len(),
                self.dir.display()
            ),
        }
    }

    fn fingerprint(&self, cx: &mut Cx<'_>) -> Result<Option<serde_json::Value>> {
        let shas = self.shas(cx)?;
        let mut seal = Vec::new();
        if let Some(out) = signed(cx) {
            for name in SIGNED_SEAL {
                seal.push(cx.sha256(&out.join(name))?);
            }
        }
        Ok(Some(serde_json::json!([
            Self::NAME,
            self.dir,
            shas,
            self.split,
            seal,
            self.parity,
            // The folder's signed statement, and who signs it.
            ["statement", signer_kind(cx)]
        ])))
    }

    fn restore(
        &self,
        _: &mut Cx<'_>,
        _: &str,
        kept: Vec<Vec<Part>>,
    ) -> Result<Option<ExportReport>> {
        if kept.len() != self.isos.len() {
            return Ok(None);
        }
        let files = (self.isos.iter().zip(kept))
            .filter_map(|(iso, parts)| {
                let path = self.dir.join(iso.file_name()?);
                let size = if parts.is_empty() {
                    std::fs::metadata(&path).map_or(0, |m| m.len())
                } else {
                    parts.iter().map(|p| p.size).sum()
                };
                Some(Exported {
                    size,
                    path,
                    outcome: "unchanged",
                    parts,
                })
            })
            .collect();
        let parity = match self.parity {
            Some(_) => {
                crate::par2::check::set_files(&self.dir, crate::pipeline::parity::EXPORT_SET)
                    .unwrap_or_default()
            }
            None => Vec::new(),
        };
        Ok(Some(ExportReport {
            dir: self.dir.clone(),
            files,
            parity,
        }))
    }

    fn run<'p>(&'p self, cx: &mut Cx<'p>) -> Result<Work<'p, ExportReport>> {
        let signed = signed(cx);
        Ok(Work::Done(export(
            &self.shas(cx)?,
            &self.dir,
            self.split,
            self.parity,
            signed.as_deref(),
            cx.inputs.seal.signer(),
        )?))
    }

    fn record(&self, cx: &Cx<'_>, report: &ExportReport) -> Result<Option<Record>> {
        let Some(sealed) = cx.done.seal.as_ref().map(|s| &s.hashes) else {
            return Ok(None);
        };
        let mut paths = Vec::new();
        for (iso, file) in self.isos.iter().zip(&report.files) {
            if file.parts.is_empty()
                && let Some(sha) = sealed.get(iso)
            {
                cx.inputs.state.learn(&file.path, sha);
                paths.push(file.path.clone());
            }
            for part in &file.parts {
                cx.inputs.state.learn(&part.path, &part.sha256);
                paths.push(part.path.clone());
            }
        }
        if signed(cx).is_some() {
            paths.extend(SIGNED_SEAL.iter().map(|name| self.dir.join(name)));
        }
        if self.split.is_some() {
            for name in [SUMS, split::WHOLES, split::JOIN] {
                paths.push(self.dir.join(name));
            }
        }
        paths.extend(report.parity.iter().cloned());
        for name in [STATEMENT, STATEMENT_BUNDLE] {
            let path = self.dir.join(name);
            if std::fs::symlink_metadata(&path).is_ok() {
                paths.push(path);
            }
        }
        let kept: Vec<&Vec<Part>> = report.files.iter().map(|f| &f.parts).collect();
        Ok(Some(Record::wrote(paths, &kept)))
    }

    fn deliver(report: ExportReport, done: &mut Done) {
        done.export = Some(report);
    }
}
