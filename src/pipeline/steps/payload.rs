//! The payload step (`seeds: {payload: shared}`): the shared payload ISO
//! `OUT/iso/payload.iso` (label `SEEDPAYLOAD`), the payload once with `SHA256SUMS`, for
//! every node. Skipped while the payload's `SHA256SUMS` and modes are unchanged.

use super::context::payload_modes;
use super::iso::{image_archives, written};
use super::{Cx, Done, Record, StepKind, Work};
use crate::Result;
use crate::iso::IsoSummary;
use crate::pipeline::modes::Kind;
use crate::seed::{PayloadFile, write_payload_iso};
use serde::Serialize;
use std::path::PathBuf;

/// The shared payload ISO's file name under `OUT/iso/`.
pub const PAYLOAD_ISO: &str = "payload.iso";

/// Write the shared payload ISO: the payload once, with SHA256SUMS, for every node.
#[derive(Debug, Clone, Serialize)]
pub struct Payload {
    /// `OUT/iso/payload.iso`.
    pub out: PathBuf,
    /// What goes under `payload/`.
    pub payload: Vec<PayloadFile>,
    /// Every date in the image.
    pub mtime: u64,
}

impl StepKind for Payload {
    type Report = IsoSummary;
    type Kept = IsoSummary;
    const NAME: &'static str = "payload";

    fn describe(&self) -> String {
        format!(
            "write {} (label {}) for every node with {} payload file(s) ({}) + SHA256SUMS",
            self.out.display(),
            crate::seed::PAYLOAD_LABEL,
            self.payload.len(),
            image_archives(&self.payload)
        )
    }

    fn artifacts(&self, out: &mut dyn FnMut(PathBuf, Kind)) -> Result<()> {
        // registries.yaml, in the payload, may hold the registry's password.
        out(self.out.clone(), Kind::Secret);
        Ok(())
    }

    fn fingerprint(&self, cx: &mut Cx<'_>) -> Result<Option<serde_json::Value>> {
        let sums = cx.payload_sums(&self.payload)?;
        let modes = payload_modes(&self.payload);
        Ok(Some(serde_json::json!([Self::NAME, self, sums, modes])))
    }

    fn restore(&self, _: &mut Cx<'_>, _: &str, kept: IsoSummary) -> Result<Option<IsoSummary>> {
        Ok(Some(kept))
    }

    fn run<'p>(&'p self, cx: &mut Cx<'p>) -> Result<Work<'p, IsoSummary>> {
        let stage = (cx.inputs.output).join(format!("iso/.stage-payload.{}", std::process::id()));
        let sums = cx.payload_sums(&self.payload)?;
        Ok(Work::Done(write_payload_iso(
            &self.payload,
            &sums,
            &stage,
            &self.out,
            self.mtime,
            cx.digests,
        )?))
    }

    fn record(&self, cx: &Cx<'_>, report: &IsoSummary) -> Result<Option<Record>> {
        written(cx, &self.payload, report);
        Ok(Some(Record::wrote(vec![self.out.clone()], report)))
    }

    fn deliver(report: IsoSummary, done: &mut Done) {
        done.isos.push(super::SeedIso {
            node: None,
            iso: report,
        });
    }
}
