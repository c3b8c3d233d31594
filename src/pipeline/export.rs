//! `export_dir:`: after the seal, the seed ISOs are copied into a folder of the user's
//! choosing (for example a Windows folder under `/mnt/c` from WSL) and nothing else there
//! is touched.
//!
//! Each ISO is copied into a temporary name inside the destination folder with a plain
//! read/write loop (no `copy_file_range`, no rename across filesystems, both of which fail
//! between ext4 and drvfs), hashed on the way, synced, and renamed to its final name in
//! that same folder. A copy whose digest differs from the source's is removed, never
//! renamed. Failing to set mode 0600 is not an error there (drvfs ignores chmod). An ISO
//! already there with the same size and sha256 is not rewritten.

use crate::hashing::HashingWriter;
use crate::pipeline::seal::SealError;
use crate::util::temp_path_beside;
use serde::Serialize;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// What the export did with one ISO.
#[derive(Debug, Clone, Serialize)]
pub struct Exported {
    /// The copy.
    pub path: PathBuf,
    /// Its size.
    pub size: u64,
    /// `written` or `unchanged`.
    pub outcome: &'static str,
}

/// What the export did.
#[derive(Debug, Clone, Serialize)]
pub struct ExportReport {
    /// The destination folder.
    pub dir: PathBuf,
    /// One entry per ISO.
    pub files: Vec<Exported>,
}

/// Copies each `(iso, sha256)` into `dir` (created if missing).
pub fn export(isos: &[(PathBuf, String)], dir: &Path) -> Result<ExportReport, SealError> {
    fs::create_dir_all(dir).map_err(|e| SealError::io(dir, e))?;
    let mut files = Vec::new();
    for (iso, sha256) in isos {
        let Some(name) = iso.file_name() else {
            continue;
        };
        let dest = dir.join(name);
        let size = fs::metadata(iso).map_err(|e| SealError::io(iso, e))?.len();
        let unchanged = fs::metadata(&dest).is_ok_and(|m| m.is_file() && m.len() == size)
            && crate::hashing::sha256_file(&dest).is_ok_and(|h| &h == sha256);
        if !unchanged {
            copy_into(iso, &dest, sha256)?;
        }
        files.push(Exported {
            path: dest,
            size,
            outcome: if unchanged { "unchanged" } else { "written" },
        });
    }
    Ok(ExportReport {
        dir: dir.to_path_buf(),
        files,
    })
}

/// Copies `src` to a temporary file beside `dest`, checks its digest and renames it.
fn copy_into(src: &Path, dest: &Path, sha256: &str) -> Result<(), SealError> {
    let tmp = temp_path_beside(dest);
    let result = (|| {
        let mut from = fs::File::open(src).map_err(|e| SealError::io(src, e))?;
        let file = create_private(&tmp).map_err(|e| SealError::io(&tmp, e))?;
        let mut to = HashingWriter::new(io::BufWriter::with_capacity(1 << 20, file));
        crate::util::copy_split(&mut from, &mut to).map_err(|e| match e {
            crate::util::CopyError::Read(e) => SealError::io(src, e),
            crate::util::CopyError::Write(e) => SealError::io(&tmp, e),
        })?;
        let (buf, actual, _) = to.finish();
        let file = buf
            .into_inner()
            .map_err(|e| SealError::io(&tmp, e.into_error()))?;
        if actual != sha256 {
            return Err(SealError::Incomplete {
                path: src.to_path_buf(),
                message: format!(
                    "changed while it was exported (sha256 {actual}, sealed as {sha256})"
                ),
            });
        }
        file.sync_all().map_err(|e| SealError::io(&tmp, e))?;
        drop(file);
        // drvfs and other foreign filesystems ignore or refuse chmod: not an error (an
        // exported copy's mode on a stick says nothing to its reader); a refusal is
        // recorded for the run's one warning.
        if let Err(e) = set_private(&tmp) {
            crate::modes::copy_mode_refused(dest, e);
        }
        fs::rename(&tmp, dest).map_err(|e| SealError::io(dest, e))?;
        // Some filesystems cannot fsync a directory; the rename is done either way.
        let _ = crate::util::sync_parent(dest);
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Creates `path` with mode 0600 where the filesystem honours modes.
fn create_private(path: &Path) -> io::Result<fs::File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

fn set_private(path: &Path) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    fs::set_permissions(path, fs::Permissions::from_mode(0o600))
}
