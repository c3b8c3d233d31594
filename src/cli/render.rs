//! `seedforge render`: a node's NoCloud files from the config and templates.

use super::common::{CliError, ConfigArg, ExitCode, Global, Kind, print_json};
use seedforge::config::Config;
use seedforge::render::{self, NodeFiles};

use std::path::PathBuf;

/// Arguments of `seedforge render`.
#[derive(Debug, clap::Args)]
pub(super) struct RenderArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// Only this node; its files go straight into --out. Default: every node, each in
    /// OUT/<node>/.
    #[arg(long, value_name = "NAME")]
    node: Option<String>,
    /// Output directory.
    #[arg(short, long, value_name = "DIR")]
    out: PathBuf,
}

pub(super) fn run(g: &Global, a: &RenderArgs) -> Result<ExitCode, CliError> {
    seedforge::outpath::refuse_dangerous(&a.out)?;
    let config = Config::load(&a.config.config)?;
    config.register_secrets(&g.secrets);
    if let Some(name) = &a.node
        && !config.nodes.iter().any(|n| n.name.as_str() == name)
    {
        let known: Vec<&str> = config.nodes.iter().map(|n| n.name.as_str()).collect();
        return Err(CliError::Usage(format!(
            "{}: no node named {name:?} (nodes: {})",
            config.path.display(),
            known.join(", ")
        )));
    }
    // Everything is rendered and validated before anything is written.
    let settings = seedforge::pipeline::plan::render_settings(&config)?;
    let rendered: Vec<NodeFiles> = render::render_all(&settings)?
        .into_iter()
        .filter(|f| a.node.as_ref().is_none_or(|n| &f.node == n))
        .collect();
    let mut written = Vec::new();
    for files in &rendered {
        let dir = match &a.node {
            Some(_) => a.out.clone(),
            None => a.out.join(&files.node),
        };
        render::write_node_files(files, &dir)
            .map_err(|e| CliError::Usage(format!("{}: cannot write: {e}", dir.display())))?;
        written.push(dir);
    }
    if g.json {
        print_json(g, Kind::Render, &serde_json::json!({ "nodes": written }));
    } else if !g.quiet {
        for dir in &written {
            outln!("{}  user-data meta-data network-config", dir.display());
        }
    }
    Ok(ExitCode::Ok)
}
