//! The build's output folder is seedforge's or empty of what seedforge writes.
//!
//! Checked while planning, before anything is written (so `plan` reports the same): the
//! folder is not `/` or the home folder and holds none of the build's inputs; no path
//! seedforge writes inside it is a symbolic link (the link's target would receive seed
//! ISOs and user-data carrying the join token); and a folder no build wrote (no
//! `.seedforge/` state, no build lock) holds no file at a path seedforge would replace.
//!
//! `export_dir` is checked here too, by the same path rules ([`check_export`]): it must be
//! a folder or one that can be made, outside the output folder and outside every input.

use crate::config::{Config, Secret};
use crate::debs::PackageSource;
use crate::files::FileSource;
use crate::image::{ImageList, ImageSource};
use crate::outpath::{self, OutPathError};
use std::path::{Path, PathBuf};

/// Every top-level entry of the output folder a build writes or keeps its state in.
pub const OWNED: &[&str] = &[
    crate::pipeline::state::STATE_DIR,
    crate::pipeline::build_lock::LOCK_FILE_NAME,
    "oci",
    "pki",
    crate::pipeline::seal::site::SITE_FILE,
    "registries.yaml",
    "registry",
    "airgap",
    "packages",
    "charts",
    "manifests",
    "files",
    "nodes",
    "iso",
    "sbom",
    "SHA256SUMS",
    "manifest.json",
];

/// Runs every check on `output` and on `export_dir` for a build of `config`, against one
/// list of the build's inputs.
pub fn check(config: &Config, output: &Path, images: &ImageList) -> crate::Result<()> {
    outpath::refuse_dangerous(output)?;
    let inputs = inputs(config, images);
    outpath::refuse_inputs(output, inputs.iter().map(|(p, w)| (p.as_path(), w.clone())))?;
    for name in OWNED {
        outpath::refuse_links_under(output, Path::new(name))?;
    }
    refuse_foreign(output)?;
    check_export(config, output, &inputs)
}

/// Refuses the config's `export_dir` when it is not a folder (a file, a device, a path
/// under a file), when it is the output folder or inside it, or when it is one of
/// `inputs` or inside one ([`outpath::refuse_copy_folder`]): exit 2 naming the config's
/// line, before anything is written.
fn check_export(config: &Config, output: &Path, inputs: &[(PathBuf, String)]) -> crate::Result<()> {
    let Some((dir, at)) = &config.export_dir else {
        return Ok(());
    };
    let inputs = inputs.iter().map(|(p, w)| (p.as_path(), w.clone()));
    match outpath::refuse_copy_folder(dir, "export_dir", output, inputs) {
        Ok(()) => Ok(()),
        Err(e) if e.is_invalid_input() => Err(crate::config::ConfigError::Invalid {
            path: config.path.clone(),
            line: at.line,
            column: at.column,
            message: format!("export_dir: {e}"),
        }
        .into()),
        Err(e) => Err(e.into()),
    }
}

/// A folder an earlier build wrote has its state folder or its build lock; anything else
/// that holds a file at one of seedforge's paths belongs to someone else.
fn refuse_foreign(output: &Path) -> Result<(), OutPathError> {
    let ours = [
        crate::pipeline::state::STATE_DIR,
        crate::pipeline::build_lock::LOCK_FILE_NAME,
    ]
    .iter()
    .any(|m| std::fs::symlink_metadata(output.join(m)).is_ok());
    if ours {
        return Ok(());
    }
    // pki/ and site.json are the exceptions: a CA and key, or a site identity, placed
    // there before the first build are an input the build keeps (and checks), not a file
    // it replaces.
    let kept = ["pki", crate::pipeline::seal::site::SITE_FILE];
    for name in OWNED.iter().filter(|n| !kept.contains(*n)) {
        let path = output.join(name);
        if std::fs::symlink_metadata(&path).is_ok() {
            return Err(OutPathError::Foreign {
                path,
                marker: crate::pipeline::state::STATE_DIR,
            });
        }
    }
    Ok(())
}

/// The files and folders the build reads, each with what it is.
fn inputs(config: &Config, images: &ImageList) -> Vec<(PathBuf, String)> {
    let mut out = vec![(config.path.clone(), "the config".to_string())];
    out.extend(
        config
            .images
            .lists
            .iter()
            .map(|(p, _)| (p.clone(), "an image list".to_string())),
    );
    let secrets = config
        .cluster
        .token
        .iter()
        .map(|s| (s, "cluster.token"))
        .chain(
            config
                .registry
                .iter()
                .filter_map(|r| r.auth.as_ref())
                .map(|a| (&a.password, "registry.auth.password")),
        );
    for (secret, what) in secrets {
        if let Secret::File(f) = secret {
            out.push((config.dir.join(f), what.to_string()));
        }
    }
    if let Some(t) = &config.templates {
        out.push((t.clone(), "templates".to_string()));
    }
    if let Some(import) = config.registry.as_ref().and_then(|r| r.ca.import.as_ref()) {
        out.push((config.dir.join(&import.cert), "registry.ca.import".into()));
        out.push((config.dir.join(&import.key), "registry.ca.import".into()));
    }
    for e in &images.entries {
        match &e.source {
            ImageSource::OciDir { path, .. }
            | ImageSource::OciArchive { path, .. }
            | ImageSource::DockerArchive { path, .. } => {
                out.push((
                    path.clone(),
                    format!("the image source of {}", e.destination),
                ));
            }
            ImageSource::Registry(_) => {}
        }
    }
    for f in &config.files {
        if let FileSource::Local(p) = &f.source {
            out.push((config.dir.join(p), format!("files: {}", f.name)));
        }
    }
    for c in &config.charts {
        if let crate::charts::ChartRepo::Local { path, .. } = &c.repo {
            out.push((path.clone(), format!("charts: {} path", c.name.as_str())));
        }
        if let Some(values) = &c.values {
            out.push((
                values.clone(),
                format!("charts: {} values", c.name.as_str()),
            ));
        }
    }
    for (m, _) in &config.manifests {
        out.push((m.clone(), "manifests".to_string()));
    }
    for b in &config.packages {
        for source in &b.spec(&config.dir).sources {
            if let PackageSource::Debs(paths) = source {
                for p in paths {
                    out.push((p.clone(), format!("packages: {}", b.name)));
                }
            }
        }
    }
    out
}
