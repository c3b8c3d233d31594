//! The files step: the `files:` payload copied (or downloaded) into `OUT/files/`, each
//! checked against its sha256. Skipped while the step (names, sources, sha256s, modes) is
//! unchanged and the files keep their stat.

use super::mirror::join;
use super::{Cx, Done, Record, StepKind, Work};
use crate::Result;
use crate::files::{FileReport, PlannedFile};
use crate::pipeline::modes::Kind;
use crate::seed::PayloadFile;
use serde::Serialize;
use std::path::PathBuf;

/// Copy (or download) the `files:` payload into `OUT/files/`, checking each sha256.
#[derive(Debug, Clone, Serialize)]
pub struct Files {
    /// `OUT/files`.
    pub out: PathBuf,
    /// The files.
    pub files: Vec<PlannedFile>,
}

impl StepKind for Files {
    type Report = Vec<FileReport>;
    type Kept = ();
    const NAME: &'static str = "files";

    fn describe(&self) -> String {
        format!(
            "write {} payload file(s) into {} ({}), each checked against its sha256",
            self.files.len(),
            self.out.display(),
            join((self.files.iter()).map(|f| format!("{} <- {}", f.name, f.source.display())))
        )
    }

    fn artifacts(&self, out: &mut dyn FnMut(PathBuf, Kind)) -> Result<()> {
        for f in &self.files {
            out(self.out.join(&f.name), Kind::of(f.executable));
        }
        Ok(())
    }

    fn payload(&self) -> Vec<PayloadFile> {
        (self.files.iter())
            .map(|f| PayloadFile {
                name: f.name.clone(),
                source: self.out.join(&f.name),
                executable: f.executable,
                content_named: false,
            })
            .collect()
    }

    fn fingerprint(&self, _: &mut Cx<'_>) -> Result<Option<serde_json::Value>> {
        Ok(Some(serde_json::json!([Self::NAME, self])))
    }

    fn restore(&self, _: &mut Cx<'_>, _: &str, (): ()) -> Result<Option<Vec<FileReport>>> {
        Ok(Some(
            (self.files.iter())
                .map(|f| {
                    let path = self.out.join(&f.name);
                    FileReport {
                        name: f.name.clone(),
                        size: std::fs::metadata(&path).map_or(0, |m| m.len()),
                        path,
                        source: f.source.display(),
                        sha256: f.sha256.clone(),
                        outcome: "unchanged",
                        retries: 0,
                    }
                })
                .collect(),
        ))
    }

    fn run<'p>(&'p self, cx: &mut Cx<'p>) -> Result<Work<'p, Vec<FileReport>>> {
        let state = &cx.inputs.state;
        Ok(Work::Done(crate::files::write_all_with(
            &self.files,
            &self.out,
            cx.inputs.mirror.registries.net(),
            cx.reporter,
            &|p| state.sha256(p),
        )?))
    }

    fn record(&self, cx: &Cx<'_>, _: &Vec<FileReport>) -> Result<Option<Record>> {
        let paths: Vec<PathBuf> = self.files.iter().map(|f| self.out.join(&f.name)).collect();
        for (f, p) in self.files.iter().zip(&paths) {
            cx.inputs.state.learn(p, &f.sha256);
        }
        Ok(Some(Record::wrote(paths, &())))
    }

    fn deliver(report: Vec<FileReport>, done: &mut Done) {
        done.files = report;
    }
}
