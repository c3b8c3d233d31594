//! `seedforge render`: a node's NoCloud files from the config and templates.

use super::common::{CliError, ConfigArg, ExitCode, Global, Kind, print_json};
use seedforge::config::Config;
use seedforge::render::{self, NodeFiles, notes};
use seedforge::vocab::InstallMode;

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
        // The installer asks before it installs unless its kernel command line says
        // autoinstall: the boot entry that says it, for the operator.
        if files.install == InstallMode::Autoinstall {
            let grub = dir.join(notes::AUTOINSTALL_GRUB_FILE);
            seedforge::util::atomic_write_mode(
                &grub,
                notes::autoinstall_grub(&files.node).as_bytes(),
                0o644,
            )
            .map_err(|e| CliError::Usage(format!("{}: cannot write: {e}", grub.display())))?;
        }
        written.push((dir, files.install));
    }
    if g.json {
        let nodes: Vec<&PathBuf> = written.iter().map(|(d, _)| d).collect();
        print_json(g, Kind::Render, &serde_json::json!({ "nodes": nodes }));
    } else if !g.quiet {
        for (dir, install) in &written {
            match install {
                InstallMode::CloudInit => {
                    outln!("{}  user-data meta-data network-config", dir.display());
                }
                InstallMode::Autoinstall => outln!(
                    "{}  user-data meta-data network-config {}",
                    dir.display(),
                    notes::AUTOINSTALL_GRUB_FILE
                ),
            }
        }
        for files in &rendered {
            if files.install == InstallMode::Autoinstall {
                outln!("{}", notes::autoinstall_note(&files.node));
            }
        }
        let without_mac: Vec<&str> = (config.nodes.iter())
            .filter(|n| n.mac.is_none())
            .filter(|n| a.node.as_ref().is_none_or(|name| n.name.as_str() == name))
            .map(|n| n.name.as_str())
            .collect();
        if let Some(note) = notes::interface_note(&config.network.interface.0, &without_mac) {
            outln!("{note}");
        }
    }
    Ok(ExitCode::Ok)
}
