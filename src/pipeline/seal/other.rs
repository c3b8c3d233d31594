//! The files of the config's folder a build reads that `manifest.json` records as
//! `inputs.other` (chart values files, `cluster.release_images`, the files of
//! `manifests:`, package base lists, `images.verify`'s keys and trusted root): found here,
//! where the seal records them, and read by `delta` to carry and check them.

use std::path::PathBuf;

/// The other inputs of the config `config`: (path relative to its folder, as the config
/// names it, `../` included; the file), sorted, once each: what its build reads and records
/// in `manifest.json`'s `inputs.other`.
pub(crate) fn other_inputs_of(config: &crate::config::Config) -> Vec<(String, PathBuf)> {
    let dir = &config.dir;
    // Paths as the config holds them: joined to its folder, but for base lists.
    let mut files: Vec<PathBuf> = Vec::new();
    files.extend(config.charts.iter().filter_map(|c| c.values.clone()));
    files.extend(config.release_images.iter().map(|(p, _)| p.clone()));
    files.extend(
        config
            .packages
            .iter()
            .filter_map(|b| b.base.as_ref().map(|p| dir.join(p))),
    );
    // The signature policy's keys and trusted root: the far side's build reads them too.
    if let Some(verify) = &config.images.verify {
        files.extend(verify.keys.iter().map(|k| dir.join(&*k.value)));
        files.extend(verify.trusted_root.iter().map(|r| dir.join(&*r.value)));
    }
    let manifests: Vec<PathBuf> = config.manifests.iter().map(|(p, _)| p.clone()).collect();
    if let Ok(found) = crate::charts::manifests::collect(&manifests, &[]) {
        files.extend(found.into_iter().map(|m| m.source));
    }
    let mut out: Vec<(String, PathBuf)> = (files.into_iter())
        .map(|file| {
            let rel = file.strip_prefix(dir).map_or_else(
                |_| file.display().to_string(),
                |r| r.to_string_lossy().into_owned(),
            );
            (rel, file)
        })
        .collect();
    // A file manifest.json records (an image list named as release_images too) is carried
    // and checked as that already.
    let recorded: Vec<&PathBuf> = std::iter::once(&config.path)
        .chain(config.images.lists.iter().map(|(p, _)| p))
        .collect();
    out.retain(|(_, file)| !recorded.contains(&file));
    out.sort();
    out.dedup_by(|a, b| a.0 == b.0);
    out
}
