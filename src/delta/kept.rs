//! What the near side keeps of each medium it sent, so that a later delta can say why it
//! changes what it changes: the config folder's inputs the medium's seal records (the
//! config, the image lists, the templates, the other files it names: `manifest.json`'s
//! `inputs`), each copied once by content into the output's state when `delta` writes a
//! delta of that output, and which of them each seal recorded.
//!
//! ```text
//! OUT/.seedforge/kept/files/<sha256>                 an input's content, stored by its SHA-256
//! OUT/.seedforge/kept/seals/<manifest sha256>.json   {"inputs": [{"path", "sha256"}, …]}
//! ```
//!
//! A far side holds what the last medium it applied brought; its receipt lists those
//! inputs by digest, so only the receipt need come back for the next `delta` to diff the
//! config inputs since. The first medium, the whole output, is carried by hand, not made
//! by seedforge: its inputs are not kept, and the first delta after it says so. (A build
//! keeps nothing: the output's state is the build's, rolled back with it.) Keeping is
//! best effort (a full disk, a read-only state folder, a file changed since: nothing
//! kept, said at debug level); nothing reads a kept file without hashing it again. The
//! state folder is the build's own: `clean` removes it, with what it keeps.

use crate::pipeline::seal::{Input, Inputs, safe_relative};
use serde::{Deserialize, Serialize};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// The folder, inside the output's state folder, that holds what is kept.
pub const KEPT_DIR: &str = "kept";

/// One seal's inputs, as kept.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct KeptSeal {
    /// Every input `manifest.json` recorded: path relative to the config's folder, sha256.
    pub inputs: Vec<Input>,
}

fn root(output: &Path) -> PathBuf {
    output
        .join(crate::pipeline::state::STATE_DIR)
        .join(KEPT_DIR)
}

fn is_hex64(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Every input of `inputs`, once each, sorted by path.
pub fn all_inputs(inputs: &Inputs) -> Vec<Input> {
    let mut all: Vec<Input> = std::iter::once(&inputs.config)
        .chain(&inputs.image_lists)
        .chain(&inputs.templates)
        .chain(inputs.other.iter().flatten())
        .cloned()
        .collect();
    all.sort_by(|a, b| a.path.cmp(&b.path));
    all.dedup_by(|a, b| a.path == b.path);
    all
}

/// Keeps the inputs `inputs` of the seal whose `manifest.json` hashes to `manifest_sha256`,
/// read from `config_dir`: each file not kept yet is copied (a file that does not hash to
/// what the seal records is not kept), then the seal's list. Best effort: a failure is
/// said at debug level and keeps less.
pub fn keep(output: &Path, config_dir: &Path, inputs: &Inputs, manifest_sha256: &str) {
    if let Err(e) = try_keep(output, config_dir, inputs, manifest_sha256) {
        tracing::debug!(
            "{}: the config inputs of this seal are not kept ({e}): a delta of it cannot show what changed since",
            root(output).display()
        );
    }
}

fn try_keep(
    output: &Path,
    config_dir: &Path,
    inputs: &Inputs,
    manifest_sha256: &str,
) -> io::Result<()> {
    if !is_hex64(manifest_sha256) {
        return Ok(());
    }
    let seals = root(output).join("seals");
    let index = seals.join(format!("{manifest_sha256}.json"));
    if index.is_file() {
        return Ok(());
    }
    let files = root(output).join("files");
    fs::create_dir_all(&files)?;
    fs::create_dir_all(&seals)?;
    let all = all_inputs(inputs);
    for input in &all {
        if !is_hex64(&input.sha256) {
            continue;
        }
        let to = files.join(&input.sha256);
        if to.is_file() {
            continue;
        }
        // Only what lies inside the config's folder: one outside it is not the folder's.
        let Some(rel) = safe_relative(&input.path) else {
            continue;
        };
        let Ok(bytes) = crate::input::read(&config_dir.join(rel), crate::input::Kind::Text) else {
            continue;
        };
        if crate::hashing::sha256_hex(&bytes) != input.sha256 {
            continue;
        }
        crate::util::replace_unsynced(&to, &bytes)?;
    }
    let doc = KeptSeal { inputs: all };
    let mut json = serde_json::to_vec_pretty(&doc).map_err(io::Error::other)?;
    json.push(b'\n');
    crate::util::replace_unsynced(&index, &json)
}

/// The content of the input kept in `output` with the SHA-256 `sha256`, hashed again;
/// `None` when it is not kept (or no longer hashes right).
pub fn kept_file(output: &Path, sha256: &str) -> Option<Vec<u8>> {
    if !is_hex64(sha256) {
        return None;
    }
    let path = root(output).join("files").join(sha256);
    let bytes = crate::input::read_found(&path, crate::input::Kind::Text).ok()?;
    (crate::hashing::sha256_hex(&bytes) == sha256).then_some(bytes)
}

/// The inputs kept for the seal whose `manifest.json` hashes to `manifest_sha256`.
pub fn kept_seal(output: &Path, manifest_sha256: &str) -> Option<KeptSeal> {
    if !is_hex64(manifest_sha256) {
        return None;
    }
    let path = root(output)
        .join("seals")
        .join(format!("{manifest_sha256}.json"));
    let bytes = crate::input::read_found(&path, crate::input::Kind::State).ok()?;
    serde_json::from_slice(&bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_are_kept_by_content_once_and_read_back_hashed() {
        let tmp = tempfile::tempdir().unwrap();
        let (cfg, out) = (tmp.path().join("cfg"), tmp.path().join("out"));
        fs::create_dir_all(&cfg).unwrap();
        fs::create_dir_all(&out).unwrap();
        fs::write(cfg.join("seedforge.yaml"), "a: 1\n").unwrap();
        fs::write(cfg.join("values.yaml"), "b: 2\n").unwrap();
        let input = |path: &str, text: &str| Input {
            path: path.into(),
            sha256: crate::hashing::sha256_hex(text.as_bytes()),
        };
        let inputs = Inputs {
            config: input("seedforge.yaml", "a: 1\n"),
            image_lists: Vec::new(),
            templates: Vec::new(),
            // One that changed under the build, and one outside the folder: not kept.
            other: Some(vec![
                input("values.yaml", "b: 3\n"),
                input("../x.yaml", "c: 4\n"),
            ]),
        };
        let manifest = "ab".repeat(32);
        keep(&out, &cfg, &inputs, &manifest);
        assert_eq!(
            kept_file(&out, &inputs.config.sha256).unwrap(),
            b"a: 1\n".to_vec()
        );
        assert!(kept_file(&out, &crate::hashing::sha256_hex(b"b: 3\n")).is_none());
        assert!(kept_file(&out, &crate::hashing::sha256_hex(b"b: 2\n")).is_none());
        let seal = kept_seal(&out, &manifest).unwrap();
        assert_eq!(seal.inputs.len(), 3);
        // A kept file changed since is not read as kept.
        let path = root(&out).join("files").join(&inputs.config.sha256);
        fs::write(&path, "a: 9\n").unwrap();
        assert!(kept_file(&out, &inputs.config.sha256).is_none());
        assert!(kept_seal(&out, "nothex").is_none());
    }
}
