//! `seedforge.lock`: the digest every registry tag resolved to, kept next to the config.
//!
//! Tags move; digests do not. A build records what each tag meant when it ran, so the same
//! config can be rebuilt from the same bytes: `build --locked` refuses to go on when a tag
//! now resolves to something else, naming the image and both digests. The file is JSON
//! with sorted keys, so it diffs well and is byte-identical for the same resolutions.
//!
//! It also records what `build --offline` needs to rebuild without the network: the root
//! the layout holds for an image whose index was rewritten by platform selection
//! (`stored`), and for each package bundle fetched from an http(s) repository, its inputs
//! and the sha256 of the tarball that was written (`packages`), and the digest of each Helm
//! chart's archive (`charts`). These sections are left out when empty.
//!
//! With a signature policy (`images.verify`), it records per image source the digest whose
//! signatures verified and the keys that verified them (`verified`): `build --locked` then
//! refuses an image whose verified digest or keys are not the ones pinned. A lock without
//! the section reads as one with it empty; a seedforge that predates it refuses a lock
//! that has it, naming the field, as it refuses any field it does not know.
//!
//! It records the registry CA of the config's output (`registry_ca`: its fingerprint,
//! `sha256:<hex>` of the certificate's DER, and the certificate itself, which is public):
//! a clean checkout of the config folder with its lock knows the CA the nodes trust, and a
//! build that would make another refuses (see `crate::pki::continuity`).

use super::RegistryError;
use super::reader::ResolvedTag;
use crate::oci::{Digest, OciError};
use crate::util::atomic_write;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The lock file's name.
pub const LOCK_FILE_NAME: &str = "seedforge.lock";
/// The format version written and read.
pub const LOCK_VERSION: u32 = 1;

/// Tag → digest pins, by image source.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockFile {
    /// Format version.
    pub version: u32,
    /// Image source (`docker://registry/repo:tag`) → the digest its tag resolved to.
    pub images: BTreeMap<String, Digest>,
    /// Image source → the root stored in the layout, where platform selection stored a
    /// rewritten index instead of the one the source names.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub stored: BTreeMap<String, Digest>,
    /// Bundle name → what was written for a bundle from an http(s) repository.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub packages: BTreeMap<String, BundlePin>,
    /// Chart name (`charts[].name`) → where its archive came from and its digest.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub charts: BTreeMap<String, ChartPin>,
    /// Image source → the digest the signature policy verified, and by which keys.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub verified: BTreeMap<String, VerifiedPin>,
    /// The registry CA the nodes of the config's output trust.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry_ca: Option<CaPin>,
}

/// The registry CA of the config's output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaPin {
    /// `sha256:<hex>` of the CA certificate's DER.
    pub fingerprint: String,
    /// The CA certificate (PEM), byte for byte `OUT/pki/ca.crt`: what a rotation keeps in
    /// the node trust bundle when the PKI folder is lost.
    pub certificate: String,
}

/// What the signature policy verified of an image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifiedPin {
    /// The image's root as its registry serves it (what a tag resolves to).
    pub digest: Digest,
    /// The keys (their files, as the config names them) that verified a signature of it,
    /// sorted, once each.
    pub keys: Vec<String>,
}

/// A Helm chart as an online build fetched it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChartPin {
    /// The repository, chart and version it was fetched as (`REPO CHART VERSION`): a pin
    /// of another source is no pin of this one.
    pub source: String,
    /// The SHA-256 of the chart's `.tgz`.
    pub digest: Digest,
}

/// A package bundle as an online build wrote it: from a remote repository, or from local
/// .deb files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundlePin {
    /// `sha256:` of the bundle's inputs (repository, suite, components, architecture,
    /// packages, sets, base list content, source date, local .debs by content).
    pub inputs: String,
    /// `sha256:` of the same inputs with local .debs left out: what the config and its
    /// base list say. An offline build whose local .debs are not the ones pinned (a far
    /// side that got the bundle from a delta) keeps the pinned bundle when this matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<String>,
    /// The sha256 (hex) of `packages/<name>.tar.gz`.
    pub sha256: String,
    /// How many .debs it holds.
    pub debs: usize,
}

impl LockFile {
    /// Where the lock file of the config at `config` lives.
    pub fn path_for(config: &Path) -> PathBuf {
        config
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .join(LOCK_FILE_NAME)
    }

    /// The pins of a run.
    pub fn from_resolved<'a>(resolved: impl IntoIterator<Item = &'a ResolvedTag>) -> LockFile {
        LockFile {
            version: LOCK_VERSION,
            images: resolved
                .into_iter()
                .map(|r| (r.source.clone(), r.digest.clone()))
                .collect(),
            ..LockFile::default()
        }
    }

    /// True when the lock pins nothing (such a lock is not written).
    pub fn is_empty(&self) -> bool {
        self.images.is_empty()
            && self.stored.is_empty()
            && self.packages.is_empty()
            && self.charts.is_empty()
            && self.verified.is_empty()
            && self.registry_ca.is_none()
    }

    /// Reads a lock file; `None` if there is none.
    pub fn load(path: &Path) -> Result<Option<LockFile>, RegistryError> {
        let text = match crate::input::read_to_string(path, crate::input::Kind::Lock) {
            Ok(t) => t,
            Err(crate::input::InputError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                return Ok(None);
            }
            Err(e) => {
                return Err(RegistryError::Lock(format!(
                    "{}: cannot read: {}",
                    path.display(),
                    e.reason()
                )));
            }
        };
        let lock: LockFile = serde_json::from_str(&text).map_err(|e| {
            RegistryError::Lock(format!(
                "{}:{}: invalid lock file: {e}",
                path.display(),
                e.line()
            ))
        })?;
        if lock.version != LOCK_VERSION {
            return Err(RegistryError::Lock(format!(
                "{}: lock file version {} is not {LOCK_VERSION}",
                path.display(),
                lock.version
            )));
        }
        Ok(Some(lock))
    }

    /// Checks that every tag in `resolved` resolved to the digest this lock pins
    /// (`--locked`). `path` names the lock in errors.
    pub fn check<'a>(
        &self,
        resolved: impl IntoIterator<Item = &'a ResolvedTag>,
        path: &Path,
    ) -> Result<(), RegistryError> {
        for r in resolved {
            match self.images.get(&r.source) {
                Some(locked) if *locked == r.digest => {}
                Some(locked) => {
                    return Err(RegistryError::LockMismatch {
                        image: r.source.clone(),
                        tag: r.tag.clone(),
                        locked: locked.to_string(),
                        resolved: r.digest.to_string(),
                        lockfile: path.display().to_string(),
                    });
                }
                None => {
                    return Err(RegistryError::Lock(format!(
                        "{}: {} is not pinned in {} (it resolves to {}); run build without --locked to add it",
                        r.source,
                        r.tag,
                        path.display(),
                        r.digest
                    )));
                }
            }
        }
        Ok(())
    }

    /// Checks what the signature policy verified now (`now`: image source → what verified,
    /// `None` when nothing did) against the `verified` pins (`--locked`): the same digest,
    /// and one of the keys pinned among those that verified it. An image pinned as verified
    /// that nothing verifies now, or verified now but not pinned, is refused too. `path`
    /// names the lock in errors.
    pub fn check_verified<'a>(
        &self,
        now: impl IntoIterator<Item = (&'a str, Option<&'a VerifiedPin>)>,
        path: &Path,
    ) -> Result<(), RegistryError> {
        let lock = path.display();
        let keys = |pin: &VerifiedPin| pin.keys.join(", ");
        for (source, now) in now {
            let refused = match (self.verified.get(source), now) {
                (None, None) => continue,
                (Some(pinned), Some(now))
                    if pinned.digest == now.digest
                        && pinned.keys.iter().any(|k| now.keys.contains(k)) =>
                {
                    continue;
                }
                (Some(pinned), Some(now)) if pinned.digest != now.digest => format!(
                    "{source}: the signatures verified now are of {}, but {lock} pins {} as verified (by {})",
                    now.digest,
                    pinned.digest,
                    keys(pinned)
                ),
                (Some(pinned), Some(now)) => format!(
                    "{source}: {} is verified now by {}, but {lock} pins it as verified by {}",
                    now.digest,
                    keys(now),
                    keys(pinned)
                ),
                (Some(pinned), None) => format!(
                    "{source}: no signature verifies now, but {lock} pins {} as verified (by {})",
                    pinned.digest,
                    keys(pinned)
                ),
                (None, Some(now)) => format!(
                    "{source}: {} is verified (by {}) but {lock} pins no verification of it",
                    now.digest,
                    keys(now)
                ),
            };
            return Err(RegistryError::Lock(format!(
                "{refused}; run build without --locked to update the lock"
            )));
        }
        Ok(())
    }

    /// The file's bytes: pretty JSON, sorted, newline-terminated.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec_pretty(self).unwrap_or_default();
        bytes.push(b'\n');
        bytes
    }

    /// Writes the lock file atomically.
    pub fn write(&self, path: &Path) -> Result<(), OciError> {
        let bytes = self.to_bytes();
        // A lock that pins what it already pinned is left alone: no new mtime for a file
        // that is usually kept in version control next to the config.
        if crate::input::read(path, crate::input::Kind::Lock).is_ok_and(|old| old == bytes) {
            return Ok(());
        }
        atomic_write(path, &bytes).map_err(|e| OciError::io(path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pin(source: &str, content: &[u8]) -> ResolvedTag {
        ResolvedTag {
            source: source.into(),
            tag: "1".into(),
            digest: Digest::of(content),
        }
    }

    #[test]
    fn an_unchanged_lock_is_not_rewritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(LOCK_FILE_NAME);
        let lock = LockFile::from_resolved(&[pin("docker://r/a:1", b"a")]);
        lock.write(&path).unwrap();
        let before = std::fs::metadata(&path).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        lock.write(&path).unwrap();
        let after = std::fs::metadata(&path).unwrap();
        use std::os::unix::fs::MetadataExt as _;
        assert_eq!(
            (before.ino(), before.mtime_nsec()),
            (after.ino(), after.mtime_nsec())
        );
        LockFile::from_resolved(&[pin("docker://r/a:1", b"b")])
            .write(&path)
            .unwrap();
        assert_ne!(std::fs::metadata(&path).unwrap().ino(), before.ino());
    }

    #[test]
    fn round_trip_is_sorted_and_stable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(LOCK_FILE_NAME);
        let pins = [pin("docker://r/b:1", b"b"), pin("docker://r/a:1", b"a")];
        let lock = LockFile::from_resolved(&pins);
        lock.write(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.find("r/a:1").unwrap() < text.find("r/b:1").unwrap());
        assert_eq!(LockFile::load(&path).unwrap(), Some(lock.clone()));
        let reversed = LockFile::from_resolved(pins.iter().rev());
        assert_eq!(reversed.to_bytes(), lock.to_bytes());
        assert_eq!(LockFile::load(&dir.path().join("none")).unwrap(), None);
    }

    #[test]
    fn check_names_image_and_both_digests() {
        let lock = LockFile::from_resolved(&[pin("docker://r/a:1", b"old")]);
        let path = Path::new("cfg/seedforge.lock");
        lock.check(&[pin("docker://r/a:1", b"old")], path).unwrap();
        let err = lock
            .check(&[pin("docker://r/a:1", b"new")], path)
            .unwrap_err()
            .to_string();
        assert!(err.contains("docker://r/a:1"), "{err}");
        assert!(err.contains(&Digest::of(b"old").to_string()), "{err}");
        assert!(err.contains(&Digest::of(b"new").to_string()), "{err}");
        let missing = lock
            .check(&[pin("docker://r/b:1", b"b")], path)
            .unwrap_err();
        assert!(missing.to_string().contains("not pinned"), "{missing}");
    }

    #[test]
    fn offline_sections_appear_only_when_used() {
        let mut lock = LockFile::from_resolved(&[pin("docker://r/a:1", b"a")]);
        let plain = String::from_utf8(lock.to_bytes()).unwrap();
        assert!(
            !plain.contains("stored") && !plain.contains("packages"),
            "{plain}"
        );
        lock.stored
            .insert("docker://r/a:1".into(), Digest::of(b"filtered"));
        lock.packages.insert(
            "ops".into(),
            BundlePin {
                inputs: Digest::of(b"inputs").to_string(),
                spec: Some(Digest::of(b"spec").to_string()),
                sha256: Digest::of(b"tarball").hex().to_string(),
                debs: 3,
            },
        );
        assert!(!lock.is_empty());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(LOCK_FILE_NAME);
        lock.write(&path).unwrap();
        assert_eq!(LockFile::load(&path).unwrap(), Some(lock));
        assert!(LockFile::from_resolved(&[]).is_empty());
    }

    #[test]
    fn verified_pins_are_optional_and_checked() {
        let path = Path::new("cfg/seedforge.lock");
        let mut lock = LockFile::from_resolved(&[pin("docker://r/a:1", b"a")]);
        // An older lock, without the section, reads as one with it empty.
        let old = String::from_utf8(lock.to_bytes()).unwrap();
        assert!(!old.contains("verified"), "{old}");
        let read: LockFile = serde_json::from_str(&old).unwrap();
        assert!(read.verified.is_empty());
        let a = VerifiedPin {
            digest: Digest::of(b"a"),
            keys: vec!["keys/cosign.pub".into()],
        };
        lock.verified.insert("docker://r/a:1".into(), a.clone());
        let text = String::from_utf8(lock.to_bytes()).unwrap();
        assert!(text.contains(r#""verified": {"#), "{text}");
        assert!(text.contains(&Digest::of(b"a").to_string()), "{text}");
        let back: LockFile = serde_json::from_str(&text).unwrap();
        assert_eq!(back, lock);
        let only_verified = LockFile {
            verified: lock.verified.clone(),
            ..LockFile::default()
        };
        assert!(!only_verified.is_empty());
        // The same digest and key: accepted; an image verified by neither: accepted.
        let source = "docker://r/a:1";
        lock.check_verified([(source, Some(&a)), ("docker://r/b:1", None)], path)
            .unwrap();
        let another_key = VerifiedPin {
            keys: vec!["keys/cosign.pub".into(), "keys/other.pub".into()],
            ..a.clone()
        };
        lock.check_verified([(source, Some(&another_key))], path)
            .unwrap();
        // Another digest, other keys only, nothing verified, or not pinned: refused.
        let moved = VerifiedPin {
            digest: Digest::of(b"moved"),
            ..a.clone()
        };
        let e = lock
            .check_verified([(source, Some(&moved))], path)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(source) && e.contains(&Digest::of(b"moved").to_string()),
            "{e}"
        );
        assert!(
            e.contains(&Digest::of(b"a").to_string()) && e.contains("--locked"),
            "{e}"
        );
        let other = VerifiedPin {
            keys: vec!["keys/other.pub".into()],
            ..a.clone()
        };
        let e = lock
            .check_verified([(source, Some(&other))], path)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("keys/other.pub") && e.contains("keys/cosign.pub"),
            "{e}"
        );
        let e = lock.check_verified([(source, None)], path).unwrap_err();
        assert!(e.to_string().contains("no signature verifies now"), "{e}");
        let e = lock
            .check_verified([("docker://r/b:1", Some(&a))], path)
            .unwrap_err();
        assert!(e.to_string().contains("pins no verification"), "{e}");
    }

    #[test]
    fn path_is_next_to_the_config() {
        assert_eq!(
            LockFile::path_for(Path::new("lab/seedforge.yaml")),
            Path::new("lab/seedforge.lock")
        );
        assert_eq!(
            LockFile::path_for(Path::new("seedforge.yaml")),
            Path::new("./seedforge.lock")
        );
    }
}
