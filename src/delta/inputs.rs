//! The config folder's files a build reads that `manifest.json` does not record: chart
//! values files, `cluster.release_images`, the files of `manifests:`, package base
//! lists, and `images.verify`'s keys and trusted root. The far side's offline build reads them from its own folder, so a changed one
//! must cross: the receipt records each by digest, the delta carries each that changed
//! (or, against an older receipt that records none, each there is), and one outside the
//! config's folder (`../values.yaml`), which is not the folder's to carry, is refused.
//! (Local `.deb` folders and `files:` sources need not cross: the bundle and the file
//! they made are carried, and the far side's build takes them from the output.)

use std::path::{Path, PathBuf};

/// The other inputs of the config file `config_file`: (path relative to its folder, as
/// the config names it, `../` included; the file), sorted, once each. The config is
/// parsed, its paths not checked (a far side may lack a `files:` source the output holds);
/// none when it cannot be read or parsed (the build says why).
pub(crate) fn other_inputs(config_file: &Path) -> Vec<(String, PathBuf)> {
    let Ok(text) = crate::input::read_to_string(config_file, crate::input::Kind::Config) else {
        return Vec::new();
    };
    let Ok(config) = crate::config::Config::parse(&text, config_file) else {
        return Vec::new();
    };
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
