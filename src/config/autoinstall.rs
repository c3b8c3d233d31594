//! `nodes[].install` and `autoinstall:` — how a node gets its operating system. A
//! `cloud-init` node boots an image that is already installed and reads its seed on first
//! boot; an `autoinstall` node boots Ubuntu's server installer, which installs from the
//! installer ISO, copies the seed's payload into the new system and reboots into the same
//! first-boot bootstrap. The settings below are the installer's, shared by every
//! `autoinstall` node. Values are checked while parsing, so a bad one is an error at its
//! own line; the password is a secret (a crypt(3) hash, read only when rendering).

use super::{InstallMode, Node, Secret};
use serde::Deserialize;
use serde::de;
use serde_saphyr::Spanned;

/// `autoinstall:` — the installer settings of the nodes with `install: autoinstall`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Autoinstall {
    /// The login the installer creates.
    #[serde(default)]
    pub username: Username,
    /// Its password as a crypt(3) hash (`mkpasswd -m sha-512`); none: the password is
    /// locked and the user logs in with an SSH key only.
    #[serde(default)]
    pub password: Option<Secret>,
    /// SSH public keys that may log in as that user.
    #[serde(default)]
    pub ssh_authorized_keys: Vec<SshKey>,
    /// The installer's guided storage layout.
    #[serde(default)]
    pub storage_layout: StorageLayout,
}

/// A login name: what `useradd` accepts without complaint (lowercase letter or `_` first,
/// then lowercase letters, digits, `_` and `-`; at most 32), and not `root`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(pub String);

impl Default for Username {
    fn default() -> Self {
        Username("ubuntu".to_string())
    }
}

impl<'de> Deserialize<'de> for Username {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let mut bytes = s.bytes();
        let first_ok = bytes
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b == b'_');
        let rest_ok =
            bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if !first_ok || !rest_ok || s.len() > 32 {
            return Err(de::Error::custom(format!(
                "{s:?} is not a valid user name: a lowercase letter or '_', then lowercase letters, digits, '_' or '-' (at most 32)"
            )));
        }
        if s == "root" {
            return Err(de::Error::custom(
                "the installer cannot create root; name an ordinary user (it gets sudo)",
            ));
        }
        Ok(Username(s))
    }
}

/// One OpenSSH public key line (`ssh-ed25519 AAAA… comment`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshKey(pub String);

impl<'de> Deserialize<'de> for SshKey {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let mut fields = s.split_whitespace();
        let kind = fields.next().unwrap_or_default();
        let blob = fields.next().unwrap_or_default();
        let kind_ok = kind.starts_with("ssh-")
            || kind.starts_with("ecdsa-sha2-")
            || kind.starts_with("sk-ssh-")
            || kind.starts_with("sk-ecdsa-");
        let blob_ok = blob.len() >= 16
            && blob
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'=');
        if !kind_ok || !blob_ok || s.contains(['\n', '\r']) {
            return Err(de::Error::custom(
                "not an OpenSSH public key line (`ssh-ed25519 AAAA… comment`, as in a .pub file)",
            ));
        }
        Ok(SshKey(s.trim().to_string()))
    }
}

/// The installer's guided storage layouts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StorageLayout {
    /// LVM on the largest disk (the installer's default).
    #[default]
    Lvm,
    /// Plain partitions on the largest disk.
    Direct,
    /// ZFS on the largest disk.
    Zfs,
}

impl StorageLayout {
    /// The layout name the installer knows.
    pub fn as_str(self) -> &'static str {
        match self {
            StorageLayout::Lvm => "lvm",
            StorageLayout::Direct => "direct",
            StorageLayout::Zfs => "zfs",
        }
    }
}

/// A node installed with neither a password nor an SSH key could be logged into by no one:
/// refused at the first such node.
pub(super) fn check_logins(
    nodes: &[Spanned<Node>],
    settings: &Autoinstall,
) -> Result<(), (serde_saphyr::Location, String)> {
    if settings.password.is_some() || !settings.ssh_authorized_keys.is_empty() {
        return Ok(());
    }
    match nodes
        .iter()
        .find(|n| n.value.install == InstallMode::Autoinstall)
    {
        Some(node) => Err((
            node.referenced,
            format!(
                "node {:?} is installed with autoinstall, but autoinstall has neither a password nor ssh_authorized_keys: no one could log in",
                node.value.name.as_str()
            ),
        )),
        None => Ok(()),
    }
}

/// Checks that a resolved `autoinstall.password` is a crypt(3) hash (`$6$salt$hash`,
/// `$y$j9T$salt$hash`) and not a plaintext password. The message never contains the value.
pub fn check_password_hash(value: &str) -> Result<(), String> {
    let fields: Vec<&str> = value.split('$').collect();
    let charset_ok = value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"$./=,-".contains(&b));
    // "$id$…$hash": an empty first field, an id, at least a salt and a hash.
    let shape_ok = fields.len() >= 4
        && fields[0].is_empty()
        && !fields[1].is_empty()
        && fields.last().is_some_and(|h| h.len() >= 20);
    if charset_ok && shape_ok {
        Ok(())
    } else {
        Err(
            "is not a crypt(3) password hash (such as `mkpasswd -m sha-512` or `openssl passwd -6` print, starting with $6$ or $y$); a plaintext password is never written to a node"
                .into(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_hashes_are_told_from_plaintext() {
        let sha512 = "$6$seedforge$u3cVCBhjE4Gi2yOIzmcUFfuXwMvPUHhOyxzOOEw6kIwITDWXEp6JE3TVO.VnPhZ4lEdEL3UqvfPJ9yAGYB3wH/";
        check_password_hash(sha512).unwrap();
        check_password_hash("$y$j9T$abcdefghijklmnop$ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefg")
            .unwrap();
        for bad in [
            "hunter2",
            "$6$salt",
            "$6$salt$short",
            "$6$sa lt$aaaaaaaaaaaaaaaaaaaaaaaa",
            "",
        ] {
            let e = check_password_hash(bad).unwrap_err();
            assert!(bad.is_empty() || !e.contains(bad), "{e}");
        }
    }
}
