//! The iso step: one node's seed ISO `OUT/iso/seed-<node>.iso` (label `CIDATA`): its
//! NoCloud files and the payload with `SHA256SUMS`, or (`seeds: {payload: shared}`) only
//! `payload.sha256` naming the payload of the payload ISO. Skipped while the node's files,
//! the payload's `SHA256SUMS` and modes are unchanged. Batchable: consecutive seeds are
//! written on every core (their shared prefix hashed once, [`crate::iso::DigestCache`]).

use super::context::payload_modes;
use super::reports::SeedIso;
use super::{Cx, Done, Record, StepKind, Work};
use crate::Result;
use crate::config::Config;
use crate::iso::IsoSummary;
use crate::pipeline::modes::Kind;
use crate::seed::{PayloadFile, write_seed_iso, write_shared_seed_iso};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Write a node's seed ISO: its NoCloud files and the payload, with SHA256SUMS (or,
/// `shared`, only `payload.sha256` naming the payload of the payload ISO).
#[derive(Debug, Clone, Serialize)]
pub struct Iso {
    /// The node.
    pub node: String,
    /// `OUT/iso/seed-<node>.iso`.
    pub out: PathBuf,
    /// What goes under `payload/` (shared: of the payload ISO).
    pub payload: Vec<PayloadFile>,
    /// Every date in the image.
    pub mtime: u64,
    /// `seeds: {payload: shared}`: the payload is on the payload ISO, not here.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub shared: bool,
}

/// One seed per node. A shared seed names the one payload ISO's payload, whole; with
/// k3s's embedded registry mirror, an agent's own seed carries no airgap archive (agents
/// pull the images from the servers).
pub fn plan(
    config: &Config,
    output: &Path,
    nodes: &[String],
    payload: &[PayloadFile],
    shared: bool,
    mtime: u64,
) -> Vec<Iso> {
    nodes
        .iter()
        .map(|node| Iso {
            node: node.clone(),
            out: output.join("iso").join(format!("seed-{node}.iso")),
            payload: if shared {
                payload.to_vec()
            } else {
                node_payload(config, node, payload)
            },
            mtime,
            shared,
        })
        .collect()
}

/// What `node`'s seed carries of `payload`: everything, but with k3s's embedded registry
/// mirror only the servers carry the airgap archives (`images/`, `hops/<RELEASE>/images/`), with `airgap.agents:
/// system` the agents carry their own smaller archive and the servers the whole set, and
/// only servers carry the charts and manifests (`charts/`, `manifests/`: k3s applies them
/// on servers).
fn node_payload(config: &Config, node: &str, payload: &[PayloadFile]) -> Vec<PayloadFile> {
    let agent = (config.nodes.iter())
        .any(|n| n.name.as_str() == node && n.role == crate::vocab::Role::Agent);
    let skip_archives = config.cluster.embedded_registry && agent;
    let server_only = |name: &str| name.starts_with("charts/") || name.starts_with("manifests/");
    // With `airgap.agents: system` an agent carries its own archive instead of the whole
    // set, and a server the whole set only.
    let agents_own = config.airgap.agents == crate::config::AirgapImages::System;
    let unwanted_archive = |name: &str| {
        agents_own && name.starts_with("images/") && super::airgap::is_agents_archive(name) != agent
    };
    (payload.iter())
        .filter(|p| !(skip_archives && super::airgap::is_image_archive(&p.name)))
        .filter(|p| !unwanted_archive(&p.name))
        .filter(|p| !(agent && server_only(&p.name)))
        .cloned()
        .collect()
}

/// How many of a payload's files are image archives (`images/`), for the plan.
pub(super) fn image_archives(payload: &[PayloadFile]) -> String {
    match payload
        .iter()
        .filter(|p| super::airgap::is_image_archive(&p.name))
        .count()
    {
        0 => "no image archive".to_string(),
        n => format!("{n} image archive(s)"),
    }
}

impl StepKind for Iso {
    type Report = Option<SeedIso>;
    type Kept = IsoSummary;
    const NAME: &'static str = "iso";
    const BATCH: bool = true;

    fn key(&self) -> String {
        format!("iso {}", self.node)
    }

    fn describe(&self) -> String {
        if self.shared {
            return format!(
                "write {} (label {}) for {} with user-data, meta-data, network-config and {} naming the payload of the payload ISO",
                self.out.display(),
                crate::seed::LABEL,
                self.node,
                crate::seed::PAYLOAD_REF,
            );
        }
        format!(
            "write {} (label {}) for {} with user-data, meta-data, network-config and {} payload file(s) ({}) + SHA256SUMS",
            self.out.display(),
            crate::seed::LABEL,
            self.node,
            self.payload.len(),
            image_archives(&self.payload)
        )
    }

    fn artifacts(&self, out: &mut dyn FnMut(PathBuf, Kind)) -> Result<()> {
        // user-data, in the seed, holds the join token.
        out(self.out.clone(), Kind::Secret);
        Ok(())
    }

    fn seed(&self) -> Option<(&str, &[PayloadFile])> {
        Some((&self.node, &self.payload))
    }

    fn fingerprint(&self, cx: &mut Cx<'_>) -> Result<Option<serde_json::Value>> {
        let Some(n) = cx.seeded_node(&self.node)? else {
            return Ok(None);
        };
        let files: Vec<_> = (n.files().into_iter())
            .map(|(name, content, mode)| {
                serde_json::json!([name, super::context::sha_of(content), mode])
            })
            .collect();
        let sums = cx.payload_sums(&self.payload)?;
        // A shared seed names the payload by its sums only.
        let modes = if self.shared {
            Vec::new()
        } else {
            payload_modes(&self.payload)
        };
        Ok(Some(serde_json::json!([
            Self::NAME,
            self,
            files,
            sums,
            modes
        ])))
    }

    fn restore(&self, _: &mut Cx<'_>, _: &str, kept: IsoSummary) -> Result<Option<Self::Report>> {
        Ok(Some(Some(self.report(kept))))
    }

    fn run<'p>(&'p self, cx: &mut Cx<'p>) -> Result<Work<'p, Self::Report>> {
        let Some(files) = cx.seeded_node(&self.node)? else {
            return Ok(Work::Done(None));
        };
        let sums = cx.payload_sums(&self.payload)?;
        let (output, digests) = (&cx.inputs.output, cx.digests);
        Ok(Work::Later(Box::new(move || {
            let stage = output.join(format!("iso/.stage-{}.{}", self.node, std::process::id()));
            Ok(Some(self.report(if self.shared {
                write_shared_seed_iso(&files, &sums, &stage, &self.out, self.mtime, digests)?
            } else {
                write_seed_iso(
                    &files,
                    &self.payload,
                    &sums,
                    &stage,
                    &self.out,
                    self.mtime,
                    digests,
                )?
            })))
        })))
    }

    fn record(&self, cx: &Cx<'_>, report: &Self::Report) -> Result<Option<Record>> {
        let Some(SeedIso { iso: summary, .. }) = report else {
            return Ok(None);
        };
        if !self.shared {
            written(cx, &self.payload, summary);
        } else if let Some(sha) = &summary.sha256 {
            cx.inputs.state.learn(&summary.path, sha);
        }
        Ok(Some(Record::wrote(vec![self.out.clone()], summary)))
    }

    fn deliver(report: Self::Report, done: &mut Done) {
        done.isos.extend(report);
    }
}

impl Iso {
    /// `iso`, as this node's seed.
    fn report(&self, iso: IsoSummary) -> SeedIso {
        SeedIso {
            node: Some(self.node.clone()),
            iso,
        }
    }
}

/// What follows an image written with `payload`: staging linked the payload files into
/// its tree and removed the links, so only their ctime changed, and that was this build;
/// the image's digest, computed while writing, is learnt.
pub(super) fn written(cx: &Cx<'_>, payload: &[PayloadFile], summary: &IsoSummary) {
    let sources: Vec<PathBuf> = payload.iter().map(|p| p.source.clone()).collect();
    cx.inputs.state.absorb_ctime(&sources);
    if let Some(sha) = &summary.sha256 {
        cx.inputs.state.learn(&summary.path, sha);
    }
}
