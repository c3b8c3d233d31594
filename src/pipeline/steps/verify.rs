//! The verify step: every blob reachable from the layout's `index.json` hashed again.
//! Skipped while `index.json` is unchanged and every blob it vouched for still has the
//! stat it had when it hashed right; strays and leftovers are looked for again then
//! (a directory listing).

use super::{Cx, Done, Record, StepKind, Work};
use crate::oci::Layout;
use crate::oci::verify::{VerifyReport, verify_with};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};

/// Re-hash everything reachable in the layout.
#[derive(Debug, Clone, Serialize)]
pub struct Verify {
    /// The layout directory.
    pub layout: PathBuf,
}

/// What the state keeps of a sound verify.
#[derive(Debug, Serialize, Deserialize)]
pub struct Verified {
    images: Vec<String>,
    blobs_checked: usize,
}

impl StepKind for Verify {
    type Report = VerifyReport;
    type Kept = Verified;
    const NAME: &'static str = "verify";

    fn describe(&self) -> String {
        format!(
            "verify every blob reachable from {}/index.json",
            self.layout.display()
        )
    }

    fn fingerprint(&self, cx: &mut Cx<'_>) -> Result<Option<serde_json::Value>> {
        let index = cx.sha256(&self.layout.join("index.json"))?;
        Ok(Some(serde_json::json!([Self::NAME, self, index])))
    }

    fn restore(&self, cx: &mut Cx<'_>, key: &str, kept: Verified) -> Result<Option<VerifyReport>> {
        let layout = Layout::open(&self.layout)?;
        // The state keeps absolute paths, of wherever the output was when they were
        // recorded (a far side's copy, an apply's staging copy): the vouched blobs are
        // known by their names in a `blobs/sha256` folder, the index being unchanged.
        let vouched = cx.inputs.state.outputs(key);
        let reachable: HashSet<&str> = vouched
            .iter()
            .filter(|p| {
                p.parent()
                    .is_some_and(|d| d.ends_with(Path::new("blobs").join("sha256")))
            })
            .filter_map(|p| p.file_name()?.to_str())
            .collect();
        let strays = layout.blobs_not_in(&|name| reachable.contains(name))?;
        Ok(Some(VerifyReport {
            layout: layout.root().to_path_buf(),
            images: kept.images,
            blobs_checked: kept.blobs_checked,
            blobs_hashed: 0,
            bytes_checked: 0,
            problems: Vec::new(),
            strays,
            strays_unknown: None,
            stale_temp: layout.stale_sessions()?,
        }))
    }

    fn run<'p>(&'p self, cx: &mut Cx<'p>) -> Result<Work<'p, VerifyReport>> {
        // Blobs whose files are unchanged since they were last hashed are not read.
        let report = verify_with(
            &Layout::open(&self.layout)?,
            cx.reporter,
            Some(&cx.inputs.state),
        )?;
        if !report.is_sound() {
            return Err(Error::VerifyFailed(format!(
                "{}: {} blob problem(s) after mirroring",
                self.layout.display(),
                report.problems.len()
            )));
        }
        Ok(Work::Done(report))
    }

    /// A sound verify vouches for `index.json` and every blob but the strays: a later
    /// build skips it while each of them keeps its stat.
    fn record(&self, _cx: &Cx<'_>, report: &VerifyReport) -> Result<Option<Record>> {
        if !report.is_sound() || report.strays_unknown.is_some() {
            return Ok(None);
        }
        let strays: BTreeSet<&PathBuf> = report.strays.iter().collect();
        let mut vouched = vec![self.layout.join("index.json")];
        vouched.extend(
            Layout::open(&self.layout)?
                .list_blobs()?
                .into_iter()
                .filter(|(d, p)| d.is_some() && !strays.contains(p))
                .map(|(_, p)| p),
        );
        let kept = Verified {
            images: report.images.clone(),
            blobs_checked: report.blobs_checked,
        };
        Ok(Some(Record {
            vouched: true,
            ..Record::wrote(vouched, &kept)
        }))
    }

    fn deliver(report: VerifyReport, done: &mut Done) {
        done.verified = Some(report);
    }
}
