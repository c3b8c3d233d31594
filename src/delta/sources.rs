//! `files:` sources of the far side's config folder, brought in step by `apply`. A local
//! `files:` source (the k3s binary given by path) is not carried on its own: the file it
//! made is, under `out/files/`, with the digest the new config names. Where the far
//! side's source is missing or another version, `apply` writes that copy at the source's
//! path, in the staging mirror (so the staged config reads as it does on the near side)
//! and then in the config folder with the config files, so that the far side's own
//! builds read what the near side's did.
//!
//! A local `.deb` folder is not carried either: the bundle made from it is, pinned by the
//! carried lock, and the far side's offline build keeps that bundle when its own `.deb`s
//! are not the pinned ones. A folder of a bundle new to the far side, which it has never
//! had, is made empty, so that the config reads there.

use crate::pipeline::seal;
use std::path::{Path, PathBuf};

/// A `files:` source to write from the new output's copy.
#[derive(Debug, Clone)]
pub(crate) struct SourceCopy {
    /// The source, relative to the config's folder (inside it).
    pub rel: PathBuf,
    /// The copy, relative to the output (`files/<name>`).
    pub copy: String,
    /// The digest the config names.
    pub sha256: String,
    /// Executable (the entry's `executable`).
    pub executable: bool,
}

/// The `files:` entries of the config file `config_file` (read as the config folder
/// `config_dir` would hold it; parsed, not checked: a source may be missing) with a local
/// source inside `config_dir` that does not hash to the sha256 the config names.
pub(crate) fn stale(config_file: &Path, config_dir: &Path, name: &Path) -> Vec<SourceCopy> {
    let Ok(text) = crate::input::read_to_string(config_file, crate::input::Kind::Config) else {
        return Vec::new();
    };
    let Ok(config) = crate::config::Config::parse(&text, &config_dir.join(name)) else {
        return Vec::new();
    };
    (config.files.iter())
        .filter_map(|f| {
            let crate::files::FileSource::Local(p) = &f.source else {
                return None;
            };
            let rel = seal::safe_relative(p.to_str()?)?;
            let now = crate::hashing::sha256_file(&config_dir.join(&rel)).ok();
            (now.as_deref() != Some(f.sha256.as_str())).then(|| SourceCopy {
                rel,
                copy: format!("files/{}", f.name),
                sha256: f.sha256.clone(),
                executable: f.executable,
            })
        })
        .collect()
}

/// The local `.deb` folders of the config file `config_file` (read as the config folder
/// `config_dir` would hold it) that `config_dir` lacks, of the bundles for which `carried`
/// is true (the delta carries `packages/<name>.tar.gz`): relative to the folder, inside it.
pub(crate) fn missing_deb_folders(
    config_file: &Path,
    config_dir: &Path,
    name: &Path,
    carried: &dyn Fn(&str) -> bool,
) -> Vec<PathBuf> {
    let Ok(text) = crate::input::read_to_string(config_file, crate::input::Kind::Config) else {
        return Vec::new();
    };
    let Ok(config) = crate::config::Config::parse(&text, &config_dir.join(name)) else {
        return Vec::new();
    };
    let mut folders = Vec::new();
    for b in config.packages.iter().filter(|b| carried(&b.name)) {
        for source in &b.sources {
            let crate::debs::PackageSource::Debs(paths) = source else {
                continue;
            };
            for p in paths {
                let Some(rel) = p.to_str().and_then(seal::safe_relative) else {
                    continue;
                };
                let is_deb = rel.extension().is_some_and(|x| x == "deb");
                if !is_deb && std::fs::symlink_metadata(config_dir.join(&rel)).is_err() {
                    folders.push(rel);
                }
            }
        }
    }
    folders.sort();
    folders.dedup();
    folders
}

/// Makes each of `folders` under `dir` (with the folders above it); the ones made.
pub(crate) fn make_folders(
    dir: &Path,
    folders: &[PathBuf],
) -> Result<Vec<String>, super::DeltaError> {
    let mut made = Vec::new();
    for rel in folders {
        let path = dir.join(rel);
        if path.is_dir() {
            continue;
        }
        std::fs::create_dir_all(&path).map_err(|e| super::DeltaError::io(&path, e))?;
        crate::util::sync_parent(&path).map_err(|e| super::DeltaError::io(&path, e))?;
        made.push(format!("{}/", rel.display()));
    }
    Ok(made)
}

/// The copies of `sources` that `out` holds with the config's digest.
pub(crate) fn held(out: &Path, sources: &[SourceCopy]) -> Vec<(SourceCopy, PathBuf)> {
    (sources.iter())
        .filter_map(|s| {
            let copy = out.join(&s.copy);
            let sha = crate::hashing::sha256_found(&copy).ok()?;
            (sha == s.sha256).then(|| (s.clone(), copy))
        })
        .collect()
}

impl SourceCopy {
    /// The mode a source is written with.
    pub(crate) fn mode(&self) -> u32 {
        if self.executable { 0o755 } else { 0o644 }
    }
}

/// Writes each of `sources` the staging output `stage_out` holds into the config folder
/// `config_dir` (atomically; a signal waits for the rename); the paths written.
pub(crate) fn write(
    config_dir: &Path,
    stage_out: &Path,
    sources: &[SourceCopy],
    staging: &crate::leftovers::Staging,
) -> Result<Vec<String>, super::DeltaError> {
    let mut written = Vec::new();
    for (s, copy) in held(stage_out, sources) {
        let to = config_dir.join(&s.rel);
        staging.unless_stopping(|| super::parts::place(&[copy], &to, s.mode(), Some(&s.sha256)))?;
        crate::util::sync_parent(&to).map_err(|e| super::DeltaError::io(&to, e))?;
        written.push(s.rel.display().to_string());
    }
    Ok(written)
}
