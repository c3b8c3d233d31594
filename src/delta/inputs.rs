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
    of_config(&config)
}

/// [`other_inputs`] of the config `config`, parsed: what its build reads (and records in
/// `manifest.json`'s `inputs.other`), as the seal finds them
/// ([`crate::pipeline::seal::other_inputs_of`]).
pub(crate) fn of_config(config: &crate::config::Config) -> Vec<(String, PathBuf)> {
    crate::pipeline::seal::other_inputs_of(config)
}

/// What the build read of the config's folder that the folder holds otherwise now: each of
/// the other inputs `manifest.json` records (`recorded`, path relative to `config_dir`,
/// sha256) that is missing or holds other content, and each the config `config_file` names
/// now that the build did not read (a file added to a `manifests:` folder), said with both
/// digests: what the build read, what the folder holds. In the config's order.
pub(crate) fn changed_since_build(
    config_file: &Path,
    config_dir: &Path,
    recorded: &[crate::pipeline::seal::Input],
) -> Vec<String> {
    let mut said = Vec::new();
    let now: Vec<(String, PathBuf)> = (other_inputs(config_file).into_iter())
        .filter(|(rel, _)| !Path::new(rel).is_absolute())
        .collect();
    for input in recorded {
        let file = config_dir.join(&input.path);
        match crate::hashing::sha256_file(&file) {
            Ok(sha256) if sha256 == input.sha256 => {}
            Ok(sha256) => said.push(format!(
                "{}: the build read sha256 {}, the folder holds sha256 {sha256} now",
                file.display(),
                input.sha256
            )),
            Err(e) => said.push(format!(
                "{}: the build read sha256 {}, the folder holds none now ({e})",
                file.display(),
                input.sha256
            )),
        }
    }
    for (rel, file) in now {
        if recorded.iter().any(|i| i.path == rel) {
            continue;
        }
        let holds = crate::hashing::sha256_file(&file)
            .map_or_else(|e| format!("none ({e})"), |h| format!("sha256 {h}"));
        said.push(format!(
            "{}: the build read none, the folder holds {holds} now",
            file.display()
        ));
    }
    said
}
