//! Writing the PKI step's files: atomically (temporary file beside, fsync, rename, fsync
//! the directory), with mode 0600 for keys and files holding secrets and 0644 otherwise,
//! whatever the umask, and not at all when the bytes on disk are already right.

use super::PkiError;
use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

fn mode(private: bool) -> u32 {
    if private { 0o600 } else { 0o644 }
}

/// Writes `bytes` to `path` unless it already holds them with the right mode; returns
/// whether it wrote.
pub(super) fn write_if_changed(path: &Path, bytes: &[u8], private: bool) -> Result<bool, PkiError> {
    let want = mode(private);
    if crate::input::holds(path, bytes)
        && let Ok(meta) = fs::symlink_metadata(path)
    {
        if meta.permissions().mode() & 0o777 != want {
            crate::modes::set_path(path, want).map_err(|e| PkiError::io(path, e))?;
        }
        return Ok(false);
    }
    write_atomic(path, bytes, want).map_err(|e| PkiError::io(path, e))?;
    Ok(true)
}

/// Sets a kept key file to 0600 if it is looser.
pub(super) fn tighten(path: &Path) -> Result<(), PkiError> {
    let meta = fs::metadata(path).map_err(|e| PkiError::io(path, e))?;
    if meta.permissions().mode() & 0o077 != 0 {
        crate::modes::set_path(path, 0o600).map_err(|e| PkiError::io(path, e))?;
    }
    Ok(())
}

fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    crate::util::atomic_write_mode(path, bytes, mode)
}
