//! Setting a file's unix mode where the file system may not keep modes.
//!
//! FAT and exFAT (a USB stick, fusefat, exfat-fuse), and NTFS through drvfs without the
//! `metadata` option (`/mnt/c` under WSL), have no unix modes: `chmod` fails with `ENOSYS`
//! (fusefat), `EPERM` (FAT, exFAT) or `EOPNOTSUPP`. Under the output folder and in an export
//! folder a file's mode on disk does not matter for what seedforge makes of it (the nodes
//! get their files from the ISOs and archives), so such a refusal is not a failure: it is
//! recorded, once per file system, and the command line says so once at the end of the
//! run ([`take_refusals`]) instead of once per file. A file meant to be private (a mode
//! without group or other bits: a key, a token) is recorded by name
//! ([`secret_mode_refused`]): that its mode could not be kept is worth a word of its own.
//!
//! The record is process-wide, like the signal watcher: the writers that set modes are
//! foundation helpers (`util::atomic_write_mode`) called from everywhere, and a
//! refused mode is a fact about a file system, not about one step.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

/// What one file system refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// The file system's mount point and type (`/media/stick (fuse.fusefat)`), or the first
    /// file's folder when the mount table does not say.
    pub file_system: String,
    /// The first file whose mode was refused.
    pub first: PathBuf,
    /// How many files' modes were refused.
    pub files: usize,
    /// The error `chmod` gave (`Function not implemented (os error 38)`).
    pub error: String,
}

/// What the file systems of this run refused, taken by [`take_refusals`].
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Refusals {
    /// One entry per file system that refused a mode.
    pub file_systems: Vec<Refused>,
    /// The private files (keys, tokens) whose mode could not be kept, in order.
    pub secrets: Vec<PathBuf>,
}

#[derive(Default)]
struct Record {
    /// By device number: the first file, the count, the error.
    by_device: BTreeMap<u64, (PathBuf, usize, String)>,
    secrets: Vec<PathBuf>,
}

static RECORD: Mutex<Option<Record>> = Mutex::new(None);

/// Sets `file`'s (open at `path`) mode to exactly `mode`; a file system that keeps no
/// modes is recorded, not an error.
pub fn set_file(file: &File, path: &Path, mode: u32) -> io::Result<()> {
    match file.set_permissions(fs::Permissions::from_mode(mode)) {
        Ok(()) => Ok(()),
        Err(e) => refused(path, mode, e),
    }
}

/// Sets `path`'s mode to exactly `mode`; a file system that keeps no modes is recorded,
/// not an error.
pub fn set_path(path: &Path, mode: u32) -> io::Result<()> {
    match fs::set_permissions(path, fs::Permissions::from_mode(mode)) {
        Ok(()) => Ok(()),
        Err(e) => refused(path, mode, e),
    }
}

/// The one failure path of setting a mode: `e` is returned unless it says the file
/// system keeps no modes, which is recorded instead (a private `mode` through
/// [`secret_mode_refused`]).
pub fn refused(path: &Path, mode: u32, e: io::Error) -> io::Result<()> {
    if !keeps_no_modes(&e) {
        return Err(e);
    }
    if mode & 0o077 == 0 {
        return secret_mode_refused(path, mode, e);
    }
    record(path, &e);
    Ok(())
}

/// A file meant to be private (`mode` has no group or other bits) whose mode the file
/// system refused: recorded by name for the run's warning, and counted with its file
/// system.
pub fn secret_mode_refused(path: &Path, _mode: u32, e: io::Error) -> io::Result<()> {
    record(path, &e);
    // A seed's stage (`iso/.stage-NODE.PID/`) holds copies of files named already
    // (`nodes/NODE/user-data`) and is removed once its ISO is written.
    let staged = path.components().any(|c| {
        c.as_os_str()
            .to_str()
            .is_some_and(|c| c.starts_with(".stage-"))
    });
    if staged {
        return Ok(());
    }
    let mut guard = RECORD.lock().unwrap_or_else(PoisonError::into_inner);
    let secrets = &mut guard.get_or_insert_with(Record::default).secrets;
    let path = final_name(path);
    if !secrets.contains(&path) {
        secrets.push(path);
    }
    Ok(())
}

/// A copy whose mode does not matter where it goes (an exported seed on a stick): a
/// refusal is recorded with its file system; any other error is dropped too, since the
/// copy is complete either way.
pub fn copy_mode_refused(path: &Path, e: io::Error) {
    if keeps_no_modes(&e) {
        record(path, &e);
    }
}

/// True when `e`, from `chmod`/`fchmod`, means the file system has no unix modes:
/// `ENOSYS`, `EOPNOTSUPP` (unsupported) or `EPERM` (FAT and exFAT refuse any change; the
/// files seedforge sets modes on are its own, so it is not a question of ownership).
fn keeps_no_modes(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::Unsupported | io::ErrorKind::PermissionDenied
    )
}

fn record(path: &Path, e: &io::Error) {
    let path = &final_name(path);
    let device = fs::metadata(path)
        .or_else(|_| fs::metadata(path.parent().unwrap_or(Path::new("."))))
        .map(|m| m.dev())
        .unwrap_or(0);
    let mut guard = RECORD.lock().unwrap_or_else(PoisonError::into_inner);
    let entry = guard
        .get_or_insert_with(Record::default)
        .by_device
        .entry(device)
        .or_insert_with(|| (path.to_path_buf(), 0, e.to_string()));
    entry.1 += 1;
}

/// The name a file written through a temporary one beside it
/// (`util::temp_path_beside`: `.NAME.seedforge-PID-N.tmp`; the ISO writer's
/// `.NAME.PID.iso-tmp`) will have: the name a reader of the warning knows.
fn final_name(path: &Path) -> PathBuf {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return path.to_path_buf();
    };
    let digits = |d: &str| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit());
    if let Some((original, _)) = name
        .strip_prefix('.')
        .and_then(|n| n.strip_suffix(".iso-tmp"))
        .and_then(|n| n.rsplit_once('.'))
        .filter(|(original, pid)| !original.is_empty() && digits(pid))
    {
        return path.with_file_name(original);
    }
    let inner = name
        .strip_prefix('.')
        .and_then(|n| n.strip_suffix(".tmp"))
        .and_then(|n| n.rsplit_once(".seedforge-"))
        .filter(|(_, id)| {
            id.split_once('-')
                .is_some_and(|(pid, n)| digits(pid) && digits(n))
        });
    match inner {
        Some((original, _)) if !original.is_empty() => path.with_file_name(original),
        _ => path.to_path_buf(),
    }
}

/// Forgets the private files among `paths` recorded so far: the build's seal reads each
/// secret's mode back and tells what it finds once (`pipeline::modes::secret_modes`), so a
/// refused chmod of one of them is not told a second time, and a file created 0600 whose
/// later chmod was refused (its mode right all the same) is not told at all.
pub fn secrets_told(paths: &[PathBuf]) {
    let mut record = RECORD.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(record) = record.as_mut() {
        record.secrets.retain(|s| !paths.contains(s));
    }
}

/// Takes (and clears) what the file systems refused since the last call.
pub fn take_refusals() -> Refusals {
    let record = RECORD
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take()
        .unwrap_or_default();
    let mounts =
        crate::input::read_to_string(Path::new("/proc/self/mountinfo"), crate::input::Kind::Text)
            .unwrap_or_default();
    let file_systems = record
        .by_device
        .into_iter()
        .map(|(device, (first, files, error))| Refused {
            file_system: mount_of(&mounts, device, &first).unwrap_or_else(|| {
                first
                    .parent()
                    .unwrap_or(Path::new("."))
                    .display()
                    .to_string()
            }),
            first,
            files,
            error,
        })
        .collect();
    Refusals {
        file_systems,
        secrets: record.secrets,
    }
}

/// The mount point and type of device `device` in `mountinfo` (the one holding `path`
/// when the device is mounted more than once), as `POINT (TYPE)`.
fn mount_of(mountinfo: &str, device: u64, path: &Path) -> Option<String> {
    let major = ((device >> 8) & 0xfff) | ((device >> 32) & !0xfff);
    let minor = (device & 0xff) | ((device >> 12) & !0xff);
    let want = format!("{major}:{minor}");
    mountinfo
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            let dash = fields.iter().position(|f| *f == "-")?;
            (fields.get(2) == Some(&want.as_str())).then_some(())?;
            let point = unescape(fields.get(4)?);
            Some((point, fields.get(dash + 1)?.to_string()))
        })
        .max_by_key(|(point, _)| {
            if path.starts_with(point) {
                point.as_os_str().len()
            } else {
                0
            }
        })
        .map(|(point, kind)| format!("{} ({kind})", point.display()))
}

/// A mount point as the mount table writes it: space, tab, newline and backslash as
/// `\ooo` octal escapes.
fn unescape(field: &str) -> PathBuf {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| bytes[i] == b'\\' && d.iter().all(|b| (b'0'..=b'7').contains(b)));
        match octal {
            Some(d) => {
                out.push(d.iter().fold(0u8, |n, b| n.wrapping_mul(8) + (b - b'0')));
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    use std::os::unix::ffi::OsStringExt as _;
    PathBuf::from(std::ffi::OsString::from_vec(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_file_system_without_modes_is_recorded() {
        let enosys = io::Error::from_raw_os_error(38);
        let eperm = io::Error::from_raw_os_error(1);
        let eio = io::Error::from_raw_os_error(5);
        assert!(keeps_no_modes(&enosys) && keeps_no_modes(&eperm));
        assert!(!keeps_no_modes(&eio));
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a");
        fs::write(&file, b"").unwrap();
        assert_eq!(
            refused(&file, 0o644, io::Error::from_raw_os_error(5))
                .unwrap_err()
                .raw_os_error(),
            Some(5)
        );
    }

    #[test]
    fn a_temporary_file_is_named_by_its_final_name() {
        let tmp = crate::util::temp_path_beside(Path::new("/o/nodes/a/user-data"));
        assert_eq!(final_name(&tmp), Path::new("/o/nodes/a/user-data"));
        assert_eq!(
            final_name(Path::new("/o/iso/.seed-a.iso.4242.iso-tmp")),
            Path::new("/o/iso/seed-a.iso")
        );
        for kept in [
            "/o/.x.seedforge-1-.tmp",
            "/o/plain",
            "/o/.seedforge-1-2.tmp",
        ] {
            assert_eq!(final_name(Path::new(kept)), Path::new(kept));
        }
    }

    #[test]
    fn mount_table_names_the_file_system_holding_the_path() {
        let table = "\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
40 22 0:50 / /media/my\\040stick rw,nosuid - fuse.fusefat /dev/loop0 rw
41 22 0:50 / /srv/bind rw - fuse.fusefat /dev/loop0 rw
";
        let dev = 50; // 0:50
        assert_eq!(
            mount_of(table, dev, Path::new("/media/my stick/out/x")).as_deref(),
            Some("/media/my stick (fuse.fusefat)")
        );
        assert_eq!(
            mount_of(table, dev, Path::new("/srv/bind/x")).as_deref(),
            Some("/srv/bind (fuse.fusefat)")
        );
        assert_eq!(mount_of(table, 8 << 8 | 2, Path::new("/x")), None);
        assert_eq!(
            mount_of(table, 8 << 8 | 1, Path::new("/x")).as_deref(),
            Some("/ (ext4)")
        );
    }
}
