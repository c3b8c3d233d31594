//! The render step: each node's NoCloud files (`user-data`, `meta-data`,
//! `network-config`) under `OUT/nodes/<node>/`, rendered and validated while planning.
//! Skipped while every file's digest and mode is unchanged; when it runs, a file that
//! already holds its bytes is left alone, so changing one node rewrites only its files.

use super::context::{io_error, sha_of};
use super::{Cx, Done, Record, StepKind, Work};
use crate::Result;
use crate::pipeline::modes::Kind;
use serde::Serialize;
use std::path::PathBuf;

/// Write each node's NoCloud files (rendered and validated while planning).
#[derive(Debug, Clone, Serialize)]
pub struct Render {
    /// `OUT/nodes`; each node's files go in `OUT/nodes/<node>/`.
    pub out: PathBuf,
    /// The nodes, in config order.
    pub nodes: Vec<String>,
}

impl StepKind for Render {
    type Report = Vec<PathBuf>;
    type Kept = ();
    const NAME: &'static str = "render";

    fn describe(&self) -> String {
        format!(
            "write user-data, meta-data and network-config of {} node(s) ({}) under {}",
            self.nodes.len(),
            self.nodes.join(", "),
            self.out.display()
        )
    }

    fn artifacts(&self, out: &mut dyn FnMut(PathBuf, Kind)) -> Result<()> {
        for node in &self.nodes {
            for (name, kind) in [
                ("meta-data", Kind::Plain),
                ("network-config", Kind::Plain),
                // It holds the join token.
                ("user-data", Kind::Secret),
            ] {
                out(self.out.join(node).join(name), kind);
            }
        }
        Ok(())
    }

    fn fingerprint(&self, cx: &mut Cx<'_>) -> Result<Option<serde_json::Value>> {
        let files: Vec<_> = (cx.seeded_nodes()?.iter())
            .flat_map(|n| {
                (n.files().into_iter()).map(|(name, content, mode)| {
                    serde_json::json!([n.node, name, sha_of(content), mode])
                })
            })
            .collect();
        Ok(Some(serde_json::json!([Self::NAME, self, files])))
    }

    fn restore(&self, cx: &mut Cx<'_>, _: &str, (): ()) -> Result<Option<Vec<PathBuf>>> {
        Ok(Some(
            (cx.inputs.nodes.iter())
                .map(|n| self.out.join(&n.node))
                .collect(),
        ))
    }

    fn run<'p>(&'p self, cx: &mut Cx<'p>) -> Result<Work<'p, Vec<PathBuf>>> {
        let state = &cx.inputs.state;
        let mut dirs = Vec::new();
        for files in &cx.seeded_nodes()? {
            let dir = self.out.join(&files.node);
            std::fs::create_dir_all(&dir).map_err(|e| io_error(&dir, e))?;
            for (name, content, mode) in files.files() {
                let path = dir.join(name);
                let sha = sha_of(content);
                if state.holds(&path, &sha) {
                    continue;
                }
                crate::util::atomic_write_mode(&path, content.as_bytes(), mode)
                    .map_err(|e| io_error(&path, e))?;
                state.learn(&path, &sha);
            }
            dirs.push(dir);
        }
        Ok(Work::Done(dirs))
    }

    fn record(&self, cx: &Cx<'_>, _: &Vec<PathBuf>) -> Result<Option<Record>> {
        let paths: Vec<PathBuf> = (cx.inputs.nodes.iter())
            .flat_map(|n| {
                (n.files().into_iter()).map(|(name, _, _)| self.out.join(&n.node).join(name))
            })
            .collect();
        Ok(Some(Record::wrote(paths, &())))
    }

    fn deliver(report: Vec<PathBuf>, done: &mut Done) {
        done.node_dirs.extend(report);
    }
}
