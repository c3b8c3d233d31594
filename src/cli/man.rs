//! `seedforge man`: the manual pages.

use super::common::{CliError, ExitCode, write_error};
use clap::Args;
use std::path::PathBuf;

/// Arguments of `seedforge man`.
#[derive(Debug, Args)]
pub(crate) struct ManArgs {
    /// The folder to write the pages into (made if missing).
    pub(crate) dir: PathBuf,
}

/// `seedforge man DIR`: seedforge.1 and seedforge-COMMAND.1 for each command of `cmd`.
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
    Ok(ExitCode::Ok)
}
