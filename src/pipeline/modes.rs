//! The modes of a build's output. What each artifact is ([`Kind`]) decides the mode that
//! `manifest.json` records and that the images and archives carry, never the permission
//! bits the output's file system reports: NTFS (ntfs-3g, or WSL's drvfs without the
//! `metadata` option) reports 0777 for every file and exFAT 0755, and a build there must
//! give the same bytes as one on ext4.
//!
//! The one thing such a file system does change is who may read the secrets (keys, the
//! join token in `user-data` and the seed ISOs, the registry's password): seedforge writes
//! them 0600, and [`secret_modes`] says so once per build when the file system did not keep
//! that mode, naming the files and the fix. It is a warning, not a failure: the output is
//! right, only its protection on this machine is not.

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

/// What an artifact is to seedforge, which alone decides the mode `manifest.json` records
/// for it: the output's file system is not asked (NTFS and exFAT report 0777 or 0755 for
/// every file), so a build onto any file system records the same modes, hence the same
/// `manifest.json` and `SHA256SUMS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// An ordinary file: 0644.
    Plain,
    /// A file seedforge means to be run (a `files:` entry with `executable: true`): 0755.
    Executable,
    /// A file that holds a secret (a private key, the join token, a password): 0600.
    Secret,
}

impl Kind {
    /// The permission bits of a file of this kind.
    pub const fn mode(self) -> u32 {
        match self {
            Kind::Plain => 0o644,
            Kind::Executable => 0o755,
            Kind::Secret => 0o600,
        }
    }

    /// [`Kind::Secret`] if `secret`, else [`Kind::Plain`].
    pub const fn of_secret(secret: bool) -> Kind {
        if secret { Kind::Secret } else { Kind::Plain }
    }

    /// [`Kind::Executable`] if `executable`, else [`Kind::Plain`].
    pub const fn of(executable: bool) -> Kind {
        if executable {
            Kind::Executable
        } else {
            Kind::Plain
        }
    }
}

/// The most secret files a [`secret_modes`] warning names; the rest are counted.
pub const NAMED_SECRETS: usize = 12;

/// Reads back the mode of each secret in `written` (files seedforge wrote 0600) and, if
/// any has another mode (the file system ignores or refuses chmod), the one warning that
/// names them and the fix; `None` when every secret is 0600. A file that is gone is
/// skipped.
pub fn secret_modes(written: &[PathBuf]) -> Option<String> {
    let loose: Vec<(&Path, u32)> = (written.iter())
        .filter_map(|p| {
            let mode = fs::metadata(p).ok()?.permissions().mode() & 0o7777;
            (mode != Kind::Secret.mode()).then_some((p.as_path(), mode))
        })
        .collect();
    if loose.is_empty() {
        return None;
    }
    let mut names: Vec<String> = (loose.iter().take(NAMED_SECRETS))
        .map(|(p, mode)| format!("{} ({mode:04o})", p.display()))
        .collect();
    if loose.len() > NAMED_SECRETS {
        names.push(format!("{} more", loose.len() - NAMED_SECRETS));
    }
    Some(format!(
        "this file system does not keep mode 0600, so {} file(s) holding secrets (keys, the join token, passwords) may be read by other users of this machine: {}. \
         The output itself is right (manifest.json records 0600 and the bytes are those of any other file system). \
         Under WSL, let the Windows drives keep Unix modes (/etc/wsl.conf: [automount] options = \"metadata\", then `wsl --shutdown`), \
         or build into an ext4 folder (the output in the Linux file system) and copy the ISOs to Windows with export_dir",
        loose.len(),
        names.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(dir: &Path, name: &str, mode: u32) -> PathBuf {
        let path = dir.join(name);
        fs::write(&path, "secret").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    #[test]
    fn kinds_have_fixed_modes() {
        assert_eq!(Kind::Plain.mode(), 0o644);
        assert_eq!(Kind::Executable.mode(), 0o755);
        assert_eq!(Kind::Secret.mode(), 0o600);
        assert_eq!(Kind::of(true), Kind::Executable);
        assert_eq!(Kind::of(false), Kind::Plain);
        assert_eq!(Kind::of_secret(true), Kind::Secret);
        assert!(Kind::Secret > Kind::Executable && Kind::Executable > Kind::Plain);
    }

    #[test]
    fn secrets_kept_at_0600_give_no_warning() {
        let tmp = tempfile::tempdir().unwrap();
        let key = file(tmp.path(), "ca.key", 0o600);
        let gone = tmp.path().join("gone");
        assert_eq!(secret_modes(&[key, gone]), None);
        assert_eq!(secret_modes(&[]), None);
    }

    #[test]
    fn secrets_with_another_mode_are_named_once_with_the_fix() {
        let tmp = tempfile::tempdir().unwrap();
        let kept = file(tmp.path(), "kept.key", 0o600);
        let open = file(tmp.path(), "ca.key", 0o777);
        let exec = file(tmp.path(), "user-data", 0o755);
        let warning = secret_modes(&[kept.clone(), open.clone(), exec.clone()]).unwrap();
        assert!(
            warning.contains(&format!("{} (0777)", open.display())),
            "{warning}"
        );
        assert!(
            warning.contains(&format!("{} (0755)", exec.display())),
            "{warning}"
        );
        assert!(!warning.contains(&kept.display().to_string()), "{warning}");
        assert!(warning.contains("2 file(s)"), "{warning}");
        assert!(
            warning.contains("[automount] options = \"metadata\""),
            "{warning}"
        );
        assert!(warning.contains("export_dir"), "{warning}");
    }

    #[test]
    fn a_long_list_names_the_first_and_counts_the_rest() {
        let tmp = tempfile::tempdir().unwrap();
        let paths: Vec<PathBuf> = (0..NAMED_SECRETS + 3)
            .map(|i| file(tmp.path(), &format!("user-data-{i:02}"), 0o644))
            .collect();
        let warning = secret_modes(&paths).unwrap();
        assert!(warning.contains("user-data-00 (0644)"), "{warning}");
        assert!(
            !warning.contains(&format!("user-data-{NAMED_SECRETS:02}")),
            "{warning}"
        );
        assert!(
            warning.contains(": ") && warning.contains("3 more"),
            "{warning}"
        );
    }
}
