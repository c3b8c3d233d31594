//! Windows paths where seedforge expects a Linux one: refused, with the path to write.
//!
//! On Linux `C:\Users\me\out` is a relative name with a colon and backslashes in it: an
//! output named so would be built into a folder of that literal name, not on drive C:. So
//! every path field of the config and every path on the command line is checked, and a
//! Windows path is refused (exit 2) with what to write instead: under WSL (detected as
//! WSL's own tools do: the `WSLInterop` entry of binfmt_misc, or `microsoft` in the
//! kernel release) the drive's mount as `wslpath` gives it (`/mnt/c/Users/me/out`: the
//! drive letter in lowercase under the automount root of `/etc/wsl.conf`, default `/mnt/`,
//! backslashes turned into slashes); elsewhere the same advice, worded for any system that
//! mounts the drive.
//!
//! What counts as a Windows path: a drive letter and a colon (`C:\x`, `C:/x`, and
//! drive-relative `c:x`, which names a file relative to drive C:'s current folder and has
//! no Linux form), a UNC path (`\\server\share`, no `/mnt` form: the share must be mounted
//! first), and a relative path with backslashes (`images\list.txt`). `//server/share` is a
//! Linux path (POSIX leaves a leading `//` to the system; Linux reads it as `/`), so it is
//! not refused. A file whose name starts with a letter and a colon is still reachable as
//! `./c:name`.

use serde::de;
use std::path::{Path, PathBuf};

/// A path written in the config, where seedforge expects a Linux path: its deserializing
/// refuses a Windows path ([`refusal`], with the Linux path to write), so every config
/// field of this type is checked, and a new path field cannot be added without the check
/// (a field typed `PathBuf` or `String` would skip it; the config's path fields are all of
/// this type). The error is the deserializer's, at the value's line and column; the config
/// reader names the field.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LinuxPath(PathBuf);

impl LinuxPath {
    /// `value` as a path, or why it is a Windows path (worded for WSL when running under
    /// it).
    pub fn parse(value: &str) -> Result<LinuxPath, String> {
        if refusal(value, None).is_some() {
            // Looked at only now: nearly every path is no Windows path.
            let wsl = wsl_mount_root();
            return Err(refusal(value, wsl.as_deref()).unwrap_or_default());
        }
        Ok(LinuxPath(PathBuf::from(value)))
    }

    /// The path.
    pub fn as_path(&self) -> &Path {
        &self.0
    }

    /// The path, owned.
    pub fn into_path_buf(self) -> PathBuf {
        self.0
    }
}

impl std::ops::Deref for LinuxPath {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for LinuxPath {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl From<LinuxPath> for PathBuf {
    fn from(p: LinuxPath) -> PathBuf {
        p.0
    }
}

impl<'de> serde::Deserialize<'de> for LinuxPath {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <String as serde::Deserialize>::deserialize(d)?;
        LinuxPath::parse(&s).map_err(de::Error::custom)
    }
}

impl serde::Serialize for LinuxPath {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

/// Why `value`, written where a Linux path is expected, is a Windows path, and what to
/// write instead; `None` when it is not one. `wsl` is the automount root when running
/// under WSL ([`wsl_mount_root`]).
pub fn refusal(value: &str, wsl: Option<&str>) -> Option<String> {
    // Quoted as written: a debug string would double every backslash.
    let shown = format!("'{value}'");
    if let Some(rest) = value
        .strip_prefix(r"\\?\")
        .or_else(|| value.strip_prefix(r"\\.\"))
        .filter(|r| drive(r).is_some())
    {
        return refusal(rest, wsl).map(|m| m.replacen(&format!("'{rest}'"), &shown, 1));
    }
    if let Some(rest) = value
        .strip_prefix(r"\\")
        .filter(|r| !r.is_empty() && !r.starts_with('\\'))
    {
        let parts: Vec<&str> = rest.split(['\\', '/']).collect();
        let host = parts[0].to_ascii_lowercase();
        if (host == "wsl$" || host == "wsl.localhost") && parts.len() >= 2 {
            let inside = format!("/{}", parts[2..].join("/"));
            return Some(format!(
                "{shown} is a Windows path to the files of the WSL distribution '{}'; write their Linux path ({inside} inside that distribution)",
                parts[1]
            ));
        }
        let share = parts[..parts.len().min(2)].join("\\");
        let under = parts.get(2..).unwrap_or_default().join("/");
        return Some(format!(
            "{shown} is a Windows network (UNC) path, which has no /mnt form; mount the share (under WSL: sudo mount -t drvfs '\\\\{share}' /mnt/share) and write the path under it (/mnt/share/{under}), or copy the files into a local folder"
        ));
    }
    if let Some((letter, rest)) = drive(value) {
        let drive_name = letter.to_ascii_uppercase();
        if !rest.starts_with(['\\', '/']) {
            return Some(format!(
                "{shown} is a Windows path relative to the current folder of drive {drive_name}:, which has no Linux form; write the full path{}, or ./{value} for a file of that name here",
                match wsl {
                    Some(root) => format!(" ({}{}/...)", root, letter.to_ascii_lowercase()),
                    None => String::new(),
                }
            ));
        }
        let linux = linux_form(letter, rest, wsl.unwrap_or("/mnt/"));
        return Some(match wsl {
            Some(_) => format!("{shown} is a Windows path; under WSL write {linux}"),
            None => format!(
                "{shown} is a Windows path, which names no file on this system; write the path where drive {drive_name}: is mounted (under WSL: {linux})"
            ),
        });
    }
    if value.contains('\\') {
        return Some(format!(
            "{shown} uses Windows separators (\\); write '{}'",
            value.replace('\\', "/")
        ));
    }
    None
}

/// The drive letter and what follows `X:` in `value`.
fn drive(value: &str) -> Option<(char, &str)> {
    let mut chars = value.chars();
    let letter = chars.next().filter(char::is_ascii_alphabetic)?;
    let rest = chars.as_str().strip_prefix(':')?;
    Some((letter, rest))
}

/// `wslpath -u`'s form of drive `letter` and the absolute path `rest` on it: the letter in
/// lowercase under `root`, backslashes turned into slashes, repeated ones into one, no
/// trailing one.
fn linux_form(letter: char, rest: &str, root: &str) -> String {
    let mut out = format!(
        "{}/{}",
        root.trim_end_matches('/'),
        letter.to_ascii_lowercase()
    );
    for part in rest.split(['\\', '/']).filter(|p| !p.is_empty()) {
        out.push('/');
        out.push_str(part);
    }
    out
}

/// The automount root (`/mnt/`) when running under WSL, `None` elsewhere.
pub fn wsl_mount_root() -> Option<String> {
    let interop = ["WSLInterop", "WSLInterop-late"]
        .iter()
        .any(|n| Path::new("/proc/sys/fs/binfmt_misc").join(n).exists());
    let read = |path: &str| {
        crate::input::read_to_string(Path::new(path), crate::input::Kind::Text).unwrap_or_default()
    };
    let release = read("/proc/sys/kernel/osrelease");
    if !(interop || is_wsl_release(&release)) {
        return None;
    }
    let conf = read("/etc/wsl.conf");
    Some(automount_root(&conf))
}

/// True for a WSL kernel's release (`5.15.167.4-microsoft-standard-WSL2`,
/// `4.4.0-19041-Microsoft`).
fn is_wsl_release(release: &str) -> bool {
    release.to_ascii_lowercase().contains("microsoft")
}

/// `[automount] root` of a `wsl.conf`, with a trailing slash; `/mnt/` when not set.
fn automount_root(conf: &str) -> String {
    let mut section = String::new();
    for line in conf.lines() {
        let line = line.trim();
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.trim().to_ascii_lowercase();
            continue;
        }
        if section != "automount" {
            continue;
        }
        if let Some((key, value)) = line.split_once('=')
            && key.trim().eq_ignore_ascii_case("root")
        {
            let value = value.trim().trim_matches('"');
            if value.starts_with('/') {
                return format!("{}/", value.trim_end_matches('/'));
            }
        }
    }
    "/mnt/".into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drive_paths_become_their_mount_as_wslpath_writes_them() {
        for (windows, linux) in [
            (r"C:\Users\me\out", "/mnt/c/Users/me/out"),
            ("D:/seeds/out", "/mnt/d/seeds/out"),
            (r"e:\", "/mnt/e"),
            (
                r"C:\Users\\me\Desktop\seeds\",
                "/mnt/c/Users/me/Desktop/seeds",
            ),
            (r"\\?\C:\Long\Path", "/mnt/c/Long/Path"),
        ] {
            let m = refusal(windows, Some("/mnt/")).unwrap();
            assert_eq!(
                m,
                format!("'{windows}' is a Windows path; under WSL write {linux}")
            );
            let general = refusal(windows, None).unwrap();
            assert!(general.contains("where drive"), "{general}");
            assert!(
                general.contains(&format!("(under WSL: {linux})")),
                "{general}"
            );
        }
        assert!(
            refusal(r"C:\x", Some("/win/"))
                .unwrap()
                .ends_with("write /win/c/x")
        );
    }

    #[test]
    fn unc_drive_relative_and_backslash_paths_are_refused_with_their_own_advice() {
        let unc = refusal(r"\\server\share\seeds", Some("/mnt/")).unwrap();
        assert!(unc.contains("UNC") && unc.contains("no /mnt form"), "{unc}");
        assert!(
            unc.contains(r"mount -t drvfs '\\server\share' /mnt/share")
                && unc.contains("(/mnt/share/seeds)"),
            "{unc}"
        );
        let distro = refusal(r"\\wsl$\Ubuntu\home\me\out", None).unwrap();
        assert!(
            distro.contains("(/home/me/out inside that distribution)"),
            "{distro}"
        );
        let relative = refusal("c:out", Some("/mnt/")).unwrap();
        assert!(
            relative.contains("drive C:") && relative.contains("./c:out"),
            "{relative}"
        );
        assert!(refusal("C:", None).is_some());
        let slashes = refusal(r"images\list.txt", None).unwrap();
        assert!(slashes.ends_with("write 'images/list.txt'"), "{slashes}");
    }

    #[test]
    fn linux_paths_are_not_windows_paths() {
        for linux in [
            "out",
            "/mnt/c/Users/me/out",
            "//server/share",
            "./c:out",
            "ab:c",
            "registry.example:5000/x",
            "",
            "1:x",
        ] {
            assert_eq!(refusal(linux, Some("/mnt/")), None, "{linux}");
        }
    }

    #[test]
    fn wsl_is_told_by_its_kernel_release_and_its_mount_root_by_wsl_conf() {
        assert!(is_wsl_release("5.15.167.4-microsoft-standard-WSL2\n"));
        assert!(is_wsl_release("4.4.0-19041-Microsoft"));
        assert!(!is_wsl_release("6.1.0-28-amd64"));
        assert_eq!(automount_root(""), "/mnt/");
        assert_eq!(
            automount_root(
                "[boot]\nsystemd=true\n[automount]\noptions = \"metadata\"\nroot = /win\n"
            ),
            "/win/"
        );
        assert_eq!(automount_root("[network]\nroot = /x/\n"), "/mnt/");
    }
}
