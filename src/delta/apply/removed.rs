//! The config files the near side's build stopped reading: a file taken out of a
//! `manifests:` folder there is still in the far side's folder, where the offline build
//! would read it again and make another seed than the delta's seal. The new
//! `manifest.json` (signed with the seal) records every file the near side's build read;
//! a file the new config would read here that it does not record is the near side's
//! removal. It is removed here too when it is the file the far side's output was built
//! from (its digest recorded there); one holding anything else is refused by name before
//! anything is staged, as an edit nobody carried.

use super::*;

/// The files of `config_dir` that the new config (`new_config`'s text, read as the config
/// `config_name` of `config_dir`) would make a build read and that the delta's
/// `manifest.json` (`target_other`) does not record, each the far side's as its output
/// (`far_other`) recorded it: relative paths, to leave out of the staging copy and to
/// remove once the delta is applied.
pub(super) fn removed_inputs(
    new_config: &Path,
    (config_dir, config_name): (&Path, &Path),
    target_other: &[seal::Input],
    far_other: &[seal::Input],
) -> Result<Vec<String>, DeltaError> {
    let Ok(text) = crate::input::read_to_string(new_config, crate::input::Kind::Config) else {
        return Ok(Vec::new());
    };
    let Ok(config) = crate::config::Config::parse(&text, &config_dir.join(config_name)) else {
        return Ok(Vec::new());
    };
    let mut removed = Vec::new();
    for (rel, file) in crate::delta::inputs::of_config(&config) {
        if seal::safe_relative(&rel).is_none() || target_other.iter().any(|i| i.path == rel) {
            continue;
        }
        // Read by the new config here, not by the near side's build.
        let Ok(holds) = crate::hashing::sha256_file(&file) else {
            continue;
        };
        match far_other.iter().find(|i| i.path == rel) {
            Some(built) if built.sha256 == holds => removed.push(rel),
            built => {
                return Err(DeltaError::BadTarget {
                    path: file.clone(),
                    message: format!(
                        "the delta's build did not read {rel} (the near side removed it: its manifest.json records no such input), and the config would read it here; this side's copy holds sha256 {holds}, {}: remove it (or move it out of the folder) and apply again; nothing was changed",
                        match built {
                            Some(b) =>
                                format!("not the sha256 {} this output was built from", b.sha256),
                            None => "which this output was not built from".to_string(),
                        }
                    ),
                });
            }
        }
    }
    Ok(removed)
}

/// Removes the files `removed` (relative to `config_dir`) once the delta is applied,
/// each synced away; gives them back for the report.
pub(super) fn remove(config_dir: &Path, removed: &[String]) -> Result<(), DeltaError> {
    for rel in removed {
        let file = config_dir.join(rel);
        match fs::remove_file(&file) {
            Ok(()) => {
                tracing::info!(
                    "{}: removed: the delta's build no longer reads it (the near side removed it)",
                    file.display()
                );
                crate::util::sync_parent(&file).map_err(io_err(&file))?;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(DeltaError::io(&file, e)),
        }
    }
    Ok(())
}
