//! A node's seed ISO: its NoCloud files at the root (what cloud-init reads) and a
//! `payload/` folder with everything the first boot installs, listed with their sha256 in
//! `payload/SHA256SUMS` so the node's bootstrap can refuse a payload damaged on the way
//! (the field once lost a worker to a corrupt image archive).
//!
//! The tree is staged with hard links (a copy where linking fails, e.g. across
//! filesystems), so a 1 GiB airgap archive costs no extra disk per node; the ISO writer
//! copies the bytes once, into the image.

use crate::iso::{IsoOptions, IsoSummary, write_iso};
use crate::oci::OciError;
use crate::render::NodeFiles;
use crate::{Error, Result};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// The NoCloud volume label cloud-init looks for.
pub const LABEL: &str = "cidata";

/// One payload file: its path under `payload/` and where it is in the output tree.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PayloadFile {
    /// Path under `payload/`, `/`-separated (`images/k3s-airgap-images-amd64.tar.zst`).
    pub name: String,
    /// The file in the output tree.
    pub source: PathBuf,
}

/// Writes `out` (the node's seed ISO, mode 0600: user-data holds the join token) from the
/// node's files and the payload, staging the tree in `stage` (removed afterwards).
pub fn write_seed_iso(
    node: &NodeFiles,
    payload: &[PayloadFile],
    stage: &Path,
    out: &Path,
    source_date_epoch: u64,
) -> Result<IsoSummary> {
    let io_err = |p: &Path, e: io::Error| Error::Oci(OciError::io(p, e));
    if stage.exists() {
        fs::remove_dir_all(stage).map_err(|e| io_err(stage, e))?;
    }
    let result = (|| {
        fs::create_dir_all(stage.join("payload")).map_err(|e| io_err(stage, e))?;
        for (name, content, _) in node.files() {
            fs::write(stage.join(name), content).map_err(|e| io_err(&stage.join(name), e))?;
        }
        let mut sums = String::new();
        for file in payload {
            let to = stage.join("payload").join(&file.name);
            if let Some(dir) = to.parent() {
                fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
            }
            if fs::hard_link(&file.source, &to).is_err() {
                fs::copy(&file.source, &to).map_err(|e| io_err(&file.source, e))?;
            }
            let digest = sha256_file(&file.source).map_err(|e| io_err(&file.source, e))?;
            sums.push_str(&format!("{digest}  {}\n", file.name));
        }
        let sums_path = stage.join("payload").join("SHA256SUMS");
        fs::write(&sums_path, sums).map_err(|e| io_err(&sums_path, e))?;
        if let Some(dir) = out.parent() {
            fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
        }
        let options = IsoOptions {
            label: LABEL.to_string(),
            source_date_epoch,
            application_id: "SEEDFORGE".to_string(),
        };
        let summary = write_iso(stage, out, &options)?;
        set_private(out).map_err(|e| io_err(out, e))?;
        Ok(summary)
    })();
    let _ = fs::remove_dir_all(stage);
    result
}

fn set_private(path: &Path) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    fs::set_permissions(path, fs::Permissions::from_mode(0o600))
}

fn sha256_file(path: &Path) -> io::Result<String> {
    let mut file = fs::File::open(path)?;
    let (digest, _) = crate::oci::digest::digest_reader(&mut file)?;
    Ok(digest.hex().to_string())
}
