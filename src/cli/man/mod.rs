//! `seedforge man`: the manual pages, one per command (from the command line's own
//! definition) and `seedforge.yaml(5)` (from docs/config.md: [`config_page`]).

mod config_page;

use super::common::{CliError, ExitCode, write_error};
use clap::Args;
use std::path::PathBuf;

/// Arguments of `seedforge man`.
#[derive(Debug, Args)]
pub(crate) struct ManArgs {
    /// The folder to write the pages into (made if missing).
    pub(crate) dir: PathBuf,
}

/// `seedforge man DIR`: seedforge.1 and seedforge-COMMAND.1 for each command of `cmd`, and
/// seedforge.yaml.5.
pub(crate) fn man_pages(cmd: clap::Command, a: &ManArgs) -> Result<ExitCode, CliError> {
    let io = write_error;
    seedforge::outpath::refuse_non_folder(&a.dir)?;
    std::fs::create_dir_all(&a.dir).map_err(|e| io(&a.dir, e))?;
    let mut pages = vec![("seedforge.1".to_string(), cmd.clone())];
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        let name = format!("seedforge-{}", sub.get_name());
        pages.push((
            format!("{name}.1"),
            sub.clone().name(name).version(seedforge::VERSION),
        ));
    }
    for (file, page) in pages {
        let path = a.dir.join(&file);
        let mut text = Vec::new();
        clap_mangen::Man::new(page)
            .render(&mut text)
            .map_err(|e| io(&path, e))?;
        seedforge::util::atomic_write_mode(&path, &text, 0o644).map_err(|e| io(&path, e))?;
        outln!("wrote {}", path.display());
    }
    let path = a.dir.join("seedforge.yaml.5");
    let text = config_page::render(config_page::CONFIG_MD, seedforge::VERSION);
    seedforge::util::atomic_write_mode(&path, text.as_bytes(), 0o644).map_err(|e| io(&path, e))?;
    outln!("wrote {}", path.display());
    Ok(ExitCode::Ok)
}
