//! The `files:` entries an offline build takes from the output rather than from their
//! local source. A `files:` entry is pinned by the config's `sha256`, so a copy sealed in
//! `OUT/files` with that digest is the file the config names, wherever its source is: on
//! a far side, the source is the version of an earlier crossing, or missing, while the
//! delta carried the new file. See [`kept_files`].

use crate::config::Config;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A `files:` entry with a local source whose copy in `OUT/files` stands for the source.
#[derive(Debug, Clone)]
pub struct KeptFile {
    /// The local source the config names (not read).
    pub source: PathBuf,
    /// `OUT/files/<name>`, holding the config's digest.
    pub copy: PathBuf,
    /// The config's sha256 of it.
    pub sha256: String,
    /// What the build is told: the source is missing or another file.
    pub note: Option<String>,
}

/// The `files:` entries of `config` with a local source whose copy in `output/files` is
/// taken for it, by payload name: those a delta carried (`carried`: name, sha256, when the
/// config names that digest), and, `offline`, those whose source does not hash to the
/// config's sha256 (missing, or an older version the far side kept) while the copy sealed
/// in the output does. The config pins the content, so the copy is the file it names; a
/// source that hashes right is read as usual. `sha256` hashes a file (a build's stat cache).
pub fn kept_files(
    config: &Config,
    output: &Path,
    offline: bool,
    carried: &BTreeMap<String, String>,
    sha256: &dyn Fn(&Path) -> std::io::Result<String>,
) -> BTreeMap<String, KeptFile> {
    let mut kept = BTreeMap::new();
    for f in &config.files {
        let crate::files::FileSource::Local(p) = &f.source else {
            continue;
        };
        let source = config.dir.join(p);
        let copy = output.join("files").join(&f.name);
        let note = if carried.get(&f.name) == Some(&f.sha256) {
            None
        } else if !offline {
            continue;
        } else {
            let found = sha256(&source);
            if found.as_ref().is_ok_and(|h| *h == f.sha256)
                || sha256(&copy).ok().as_deref() != Some(f.sha256.as_str())
            {
                continue;
            }
            let what = match found {
                Ok(h) => format!("holds sha256 {h}, not the config's"),
                Err(e) => e.to_string(),
            };
            Some(format!(
                "files entry {}: its source {} {what}; offline, the copy {} sealed with the config's sha256 {} is taken for it",
                f.name,
                source.display(),
                copy.display(),
                f.sha256
            ))
        };
        kept.insert(
            f.name.clone(),
            KeptFile {
                source,
                copy,
                sha256: f.sha256.clone(),
                note,
            },
        );
    }
    kept
}
