//! A node's seed ISO: its NoCloud files at the root (what cloud-init reads) and a
//! `payload/` folder with everything the first boot installs, listed with their sha256 in
//! `payload/SHA256SUMS` so the node's bootstrap can refuse a payload damaged on the way
//! (the field once lost a worker to a corrupt image archive).
//!
//! With `seeds: {payload: shared}` the payload goes once into its own ISO
//! (`payload.iso`, label [`PAYLOAD_LABEL`]) and each node's seed carries only its NoCloud
//! files and `payload.sha256`: the sha256 of the payload's `SHA256SUMS` it expects, in
//! `sha256sum -c` form, so the bootstrap refuses a payload medium of another build.
//!
//! The tree is staged with hard links (a copy where linking fails, e.g. across
//! filesystems), so a 1 GiB airgap archive costs no extra disk per node; the ISO writer
//! copies the bytes once, into the image.

use crate::iso::{DigestCache, IsoOptions, IsoSummary, write_iso_with_mode};
use crate::oci::OciError;
use crate::render::NodeFiles;

/// Why a payload digest or a seed ISO could not be made.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    /// A file could not be read or written.
    #[error(transparent)]
    Io(#[from] OciError),
    /// The ISO writer failed.
    #[error(transparent)]
    Iso(#[from] crate::iso::IsoError),
}

type Result<T> = std::result::Result<T, SeedError>;
use std::fs;
use std::io;
use std::os::unix::fs::DirBuilderExt as _;
use std::path::{Path, PathBuf};

/// The NoCloud volume label cloud-init looks for.
pub const LABEL: &str = "cidata";

/// The volume label of the shared payload ISO (`seeds: {payload: shared}`), which the
/// bootstrap looks for beside the seed.
pub const PAYLOAD_LABEL: &str = crate::render::PAYLOAD_LABEL;

/// The file of a shared-mode seed that names the payload it expects.
pub const PAYLOAD_REF: &str = "payload.sha256";

/// The largest `payload/SHA256SUMS` that `verify` reads (bytes): one line of about 100
/// bytes per payload file, so far beyond any real payload; a larger one fails the check.
pub const PAYLOAD_SUMS_CAP: u64 = 64 << 20;

/// The largest [`PAYLOAD_REF`] that `verify` reads (bytes); it holds one line of about 90
/// bytes, and a larger one fails the check.
pub const PAYLOAD_REF_CAP: u64 = 4096;

/// Where a node's payload travels (`seeds: {payload: ...}`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PayloadMode {
    /// Every seed carries the whole payload (the default).
    #[default]
    AllInOne,
    /// One payload ISO for every node; each seed is a few KiB and names the payload.
    Shared,
}

/// The `payload.sha256` of a shared-mode seed: the digest of the payload's `SHA256SUMS`, as
/// `sha256sum -c` reads it from the payload medium's root.
pub fn payload_ref(sums: &str) -> String {
    format!(
        "{}  payload/SHA256SUMS\n",
        crate::hashing::sha256_hex(sums.as_bytes())
    )
}

/// One payload file: its path under `payload/`, where it is in the output tree and
/// whether seedforge means it as executable.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PayloadFile {
    /// Path under `payload/`, `/`-separated (`images/k3s-airgap-images-amd64.tar.zst`);
    /// with `content_named`, the name before its digest is added (see [`carried_name`]).
    pub name: String,
    /// The file in the output tree.
    pub source: PathBuf,
    /// Mode 0755 in the images (else 0644): what the file is, never what the output's
    /// file system reports of it.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub executable: bool,
    /// The payload carries it under a name holding the first 12 hex digits of its sha256
    /// ([`carried_name`]): an airgap archive, so a node never takes a new archive for one
    /// it has imported already.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub content_named: bool,
}

/// How many hex digits of its sha256 a content-named payload file carries in its name.
pub const CONTENT_DIGITS: usize = 12;

/// The name under `payload/` of `file`, whose sha256 is `hex`: its [`PayloadFile::name`],
/// or for a content-named file that name with `-` and the first [`CONTENT_DIGITS`] hex
/// digits of its sha256 before the suffixes (`images/k3s-airgap-images-amd64.tar.zst` is
/// carried as `images/k3s-airgap-images-amd64-0123456789ab.tar.zst`). k3s's import at start
/// skips an archive whose path, size and modification time it has seen (its
/// `agent/images/.cache.json`); a new archive under a new name is never skipped, and an
/// old one left beside it is told apart by its name.
pub fn carried_name(file: &PayloadFile, hex: &str) -> String {
    if !file.content_named {
        return file.name.clone();
    }
    let short = hex.get(..CONTENT_DIGITS).unwrap_or(hex);
    let (dir, base) = match file.name.rfind('/') {
        Some(at) => file.name.split_at(at + 1),
        None => ("", file.name.as_str()),
    };
    let (stem, suffixes) = base.split_at(base.find('.').unwrap_or(base.len()));
    format!("{dir}{stem}-{short}{suffixes}")
}

/// `payload/SHA256SUMS`: one `sha256  name` line per payload file, in the payload's order,
/// each under its [`carried_name`].
pub fn payload_sums(payload: &[PayloadFile]) -> Result<String> {
    payload_sums_with(payload, &crate::hashing::sha256_file)
}

/// [`payload_sums`] with the digests from `sha256` (a build takes them from its stat
/// cache, the build state's `sha256`, so an unchanged payload is not read).
pub fn payload_sums_with(
    payload: &[PayloadFile],
    sha256: &dyn Fn(&Path) -> io::Result<String>,
) -> Result<String> {
    let mut sums = String::new();
    for file in payload {
        let hex = sha256(&file.source).map_err(|e| SeedError::Io(OciError::io(&file.source, e)))?;
        sums.push_str(&format!("{hex}  {}\n", carried_name(file, &hex)));
    }
    Ok(sums)
}

/// Each payload file with the name it is carried under: the names of `sums`, the
/// payload's [`payload_sums`] (one line per file, in order), so the tree and its
/// `SHA256SUMS` never disagree.
fn carried<'a>(payload: &'a [PayloadFile], sums: &'a str) -> Vec<(&'a PayloadFile, &'a str)> {
    let mut lines = sums.lines();
    (payload.iter())
        .map(|file| {
            let listed = lines
                .next()
                .and_then(|l| l.split_once("  "))
                .map(|(_, n)| n);
            (file, listed.unwrap_or(file.name.as_str()))
        })
        .collect()
}

/// Writes `out` (the node's seed ISO, mode 0600: user-data holds the join token) from the
/// node's files, the payload and its [`payload_sums`], staging the tree in `stage`
/// (removed afterwards). The summary carries the image's sha256.
///
/// The node's files go last in the image ([`crate::iso::layout`]): the seeds of one build
/// then share every byte before them, the payload included, and `digests` hashes that
/// prefix once for all of them instead of once per node.
pub fn write_seed_iso(
    node: &NodeFiles,
    payload: &[PayloadFile],
    sums: &str,
    stage: &Path,
    out: &Path,
    source_date_epoch: u64,
    digests: &DigestCache,
) -> Result<IsoSummary> {
    let files: Vec<(&str, &str, u32)> = node.files().to_vec();
    write_staged(
        &Staged {
            stage,
            out,
            label: LABEL,
            files: &files,
            payload: Some((payload, sums)),
            source_date_epoch,
        },
        digests,
    )
}

/// Writes `out`, a shared-mode seed (mode 0600): the node's files and [`PAYLOAD_REF`]
/// naming the payload listed by `sums`, which travels on the payload ISO. The summary
/// carries the image's sha256.
pub fn write_shared_seed_iso(
    node: &NodeFiles,
    sums: &str,
    stage: &Path,
    out: &Path,
    source_date_epoch: u64,
    digests: &DigestCache,
) -> Result<IsoSummary> {
    let reference = payload_ref(sums);
    let mut files: Vec<(&str, &str, u32)> = node.files().to_vec();
    files.push((PAYLOAD_REF, &reference, 0o644));
    write_staged(
        &Staged {
            stage,
            out,
            label: LABEL,
            files: &files,
            payload: None,
            source_date_epoch,
        },
        digests,
    )
}

/// Writes `out`, the shared payload ISO (label [`PAYLOAD_LABEL`], mode 0600: its
/// `registries.yaml` may hold the registry's password): `payload/` and its `SHA256SUMS`.
/// The summary carries the image's sha256.
pub fn write_payload_iso(
    payload: &[PayloadFile],
    sums: &str,
    stage: &Path,
    out: &Path,
    source_date_epoch: u64,
    digests: &DigestCache,
) -> Result<IsoSummary> {
    write_staged(
        &Staged {
            stage,
            out,
            label: PAYLOAD_LABEL,
            files: &[],
            payload: Some((payload, sums)),
            source_date_epoch,
        },
        digests,
    )
}

/// One image to stage and write.
struct Staged<'a> {
    /// Where the tree is staged (private, removed afterwards).
    stage: &'a Path,
    /// The image.
    out: &'a Path,
    /// Its volume label.
    label: &'a str,
    /// (name, content, mode) of the files at the root.
    files: &'a [(&'a str, &'a str, u32)],
    /// The payload, under `payload/`, and its `SHA256SUMS`.
    payload: Option<(&'a [PayloadFile], &'a str)>,
    /// Every date in the image.
    source_date_epoch: u64,
}

/// Stages the root files and the payload and writes the image. With a payload, the root
/// files go last in the image, so images that differ only in them share their prefix.
fn write_staged(image: &Staged<'_>, digests: &DigestCache) -> Result<IsoSummary> {
    let Staged {
        stage,
        out,
        label,
        files,
        payload,
        source_date_epoch,
    } = *image;
    let io_err = |p: &Path, e: io::Error| SeedError::Io(OciError::io(p, e));
    if stage.exists() {
        fs::remove_dir_all(stage).map_err(|e| io_err(stage, e))?;
    }
    let result = (|| {
        // The stage may hold user-data (the join token): private from the start.
        if let Some(parent) = stage.parent() {
            fs::create_dir_all(parent).map_err(|e| io_err(parent, e))?;
        }
        fs::DirBuilder::new()
            .mode(0o700)
            .create(stage)
            .map_err(|e| io_err(stage, e))?;
        for (name, content, mode) in files {
            let path = stage.join(name);
            write_new(&path, content.as_bytes(), *mode).map_err(|e| io_err(&path, e))?;
        }
        if let Some((payload, sums)) = payload {
            fs::create_dir_all(stage.join("payload")).map_err(|e| io_err(stage, e))?;
            for (file, name) in carried(payload, sums) {
                let to = stage.join("payload").join(name);
                if let Some(dir) = to.parent() {
                    fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
                }
                if fs::hard_link(&file.source, &to).is_err() {
                    copy_keeping_mode(&file.source, &to).map_err(|e| io_err(&file.source, e))?;
                }
            }
            let sums_path = stage.join("payload").join("SHA256SUMS");
            fs::write(&sums_path, sums).map_err(|e| io_err(&sums_path, e))?;
        }
        if let Some(dir) = out.parent() {
            fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
        }
        let last = match payload {
            Some(_) => files.iter().map(|(name, ..)| PathBuf::from(name)).collect(),
            None => Vec::new(),
        };
        // The modes are what each file is: the stage is on the output's file system,
        // whose permission bits may say nothing (NTFS, exFAT).
        let mut executable: Vec<PathBuf> = (files.iter())
            .filter(|(_, _, mode)| mode & 0o111 != 0)
            .map(|(name, ..)| PathBuf::from(name))
            .collect();
        if let Some((payload, sums)) = payload {
            executable.extend(
                (carried(payload, sums).into_iter())
                    .filter(|(f, _)| f.executable)
                    .map(|(_, name)| Path::new("payload").join(name)),
            );
        }
        let options = IsoOptions {
            label: label.to_string(),
            source_date_epoch,
            application_id: "SEEDFORGE".to_string(),
            last,
            executable: Some(executable),
        };
        // Created 0600: the image is never readable by others, not even while it is written.
        Ok(write_iso_with_mode(
            stage,
            out,
            &options,
            0o600,
            Some(digests),
        )?)
    })();
    let _ = fs::remove_dir_all(stage);
    result
}

/// Copies `from` into the new file `to` with `from`'s mode. Unlike `fs::copy`, which fails
/// when `fchmod` does, a file system that keeps no modes (FAT, where the stage cannot hard
/// link either) is recorded by `crate::modes`, not a failure. `io::copy` lets the kernel
/// copy between the two files (`copy_file_range`).
fn copy_keeping_mode(from: &Path, to: &Path) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    let (mut src, _) = crate::input::open_found(from).map_err(crate::input::InputError::into_io)?;
    let mode = src.metadata()?.permissions().mode() & 0o7777;
    let mut dst = crate::util::create_new_mode(to, mode)?;
    io::copy(&mut src, &mut dst)?;
    Ok(())
}

/// Writes a new file created with exactly `mode`.
fn write_new(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    use std::io::Write as _;
    crate::util::create_new_mode(path, mode)?.write_all(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn a_staged_copy_has_the_bytes_and_the_mode_of_its_source() {
        let dir = tempfile::tempdir().unwrap();
        for mode in [0o755, 0o644, 0o600] {
            let from = dir.path().join(format!("from-{mode:o}"));
            let to = dir.path().join(format!("to-{mode:o}"));
            fs::write(&from, b"#!/bin/sh\necho ok\n").unwrap();
            fs::set_permissions(&from, fs::Permissions::from_mode(mode)).unwrap();
            copy_keeping_mode(&from, &to).unwrap();
            assert_eq!(fs::read(&to).unwrap(), fs::read(&from).unwrap());
            assert_eq!(
                fs::metadata(&to).unwrap().permissions().mode() & 0o7777,
                mode
            );
        }
    }

    fn archive(name: &str) -> PayloadFile {
        PayloadFile {
            name: name.into(),
            source: PathBuf::from("unused"),
            executable: false,
            content_named: true,
        }
    }

    /// An archive is carried with 12 hex digits of its sha256 before its suffixes, which
    /// stay what the compression made them; a file not content-named keeps its name.
    #[test]
    fn an_archive_is_carried_under_a_name_holding_its_digest() {
        let hex = "0123456789abcdef".repeat(4);
        for (name, carried) in [
            (
                "images/k3s-airgap-images-amd64.tar.zst",
                "images/k3s-airgap-images-amd64-0123456789ab.tar.zst",
            ),
            (
                "images/k3s-airgap-images-arm64-agents.tar.gz",
                "images/k3s-airgap-images-arm64-agents-0123456789ab.tar.gz",
            ),
            (
                "images/k3s-airgap-images-amd64.tar",
                "images/k3s-airgap-images-amd64-0123456789ab.tar",
            ),
            ("archive", "archive-0123456789ab"),
        ] {
            assert_eq!(carried_name(&archive(name), &hex), carried, "{name}");
        }
        let plain = PayloadFile {
            content_named: false,
            ..archive("images/extra.tar")
        };
        assert_eq!(carried_name(&plain, &hex), "images/extra.tar");
    }

    /// The seed's tree has the archive under the name its `SHA256SUMS` lists.
    #[test]
    fn a_seed_carries_an_archive_under_the_name_its_sums_list() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("k3s-airgap-images-amd64.tar.zst");
        fs::write(&source, b"archive bytes").unwrap();
        let payload = vec![PayloadFile {
            source: source.clone(),
            ..archive("images/k3s-airgap-images-amd64.tar.zst")
        }];
        let sums = payload_sums(&payload).unwrap();
        let hex = crate::hashing::sha256_file(&source).unwrap();
        let name = format!("images/k3s-airgap-images-amd64-{}.tar.zst", &hex[..12]);
        assert_eq!(sums, format!("{hex}  {name}\n"));
        let out = dir.path().join("seed.iso");
        write_seed_iso(
            &node(),
            &payload,
            &sums,
            &dir.path().join("stage"),
            &out,
            0,
            &DigestCache::default(),
        )
        .unwrap();
        let paths: Vec<String> = modes(&out).into_iter().map(|(p, _)| p).collect();
        assert!(paths.contains(&format!("payload/{name}")), "{paths:?}");
        assert!(
            !paths.iter().any(|p| p.ends_with("amd64.tar.zst")),
            "{paths:?}"
        );
    }

    use crate::iso::{IsoImage, Namespace};

    /// The modes of every file in `iso`'s Rock Ridge tree, by path.
    fn modes(iso: &Path) -> Vec<(String, u32)> {
        let mut image = IsoImage::open(iso).unwrap();
        let mut v: Vec<(String, u32)> = (image.entries(Namespace::RockRidge).unwrap())
            .into_iter()
            .map(|e| (e.path, e.mode.unwrap() & 0o7777))
            .collect();
        v.sort();
        v
    }

    fn node() -> NodeFiles {
        NodeFiles {
            node: "n1".into(),
            install: crate::vocab::InstallMode::CloudInit,
            user_data: "#cloud-config\n".into(),
            meta_data: "instance-id: iid-1\n".into(),
            network_config: "version: 2\n".into(),
            instance_id: "iid-1".into(),
        }
    }

    /// A file system without Unix modes (NTFS: 0777 for everything; exFAT, FAT: 0755)
    /// changes neither the modes a seed records nor its bytes: they are what each file is.
    #[test]
    fn a_seed_records_what_each_file_is_not_its_permission_bits() {
        let tmp = tempfile::tempdir().unwrap();
        // `bits`: what the file system reports of every file; `None` keeps what each is.
        let write = |bits: Option<u32>, name: &str| {
            let dir = tmp.path().join(name);
            fs::create_dir_all(&dir).unwrap();
            let mut payload = Vec::new();
            for (file, executable) in [("registries.yaml", false), ("bin/k3s", true)] {
                let source = dir.join(file.replace('/', "-"));
                fs::write(&source, file).unwrap();
                let meant = if executable { 0o755 } else { 0o644 };
                let mode = bits.unwrap_or(meant);
                fs::set_permissions(&source, fs::Permissions::from_mode(mode)).unwrap();
                payload.push(PayloadFile {
                    name: file.into(),
                    source,
                    executable,
                    content_named: false,
                });
            }
            let sums = payload_sums(&payload).unwrap();
            let out = dir.join("seed.iso");
            let summary = write_seed_iso(
                &node(),
                &payload,
                &sums,
                &dir.join("stage"),
                &out,
                0,
                &DigestCache::default(),
            )
            .unwrap();
            (out, summary.sha256.unwrap())
        };
        let (ext4, ext4_sha) = write(None, "ext4");
        let (ntfs, ntfs_sha) = write(Some(0o777), "ntfs");
        let (fat, fat_sha) = write(Some(0o755), "fat");
        let want: Vec<(String, u32)> = [
            ("meta-data", 0o644),
            ("network-config", 0o644),
            ("payload", 0o755),
            ("payload/SHA256SUMS", 0o644),
            ("payload/bin", 0o755),
            ("payload/bin/k3s", 0o755),
            ("payload/registries.yaml", 0o644),
            ("user-data", 0o644),
        ]
        .into_iter()
        .map(|(p, m)| (p.to_string(), m))
        .collect();
        assert_eq!(modes(&ext4), want);
        assert_eq!(modes(&ntfs), want);
        assert_eq!(modes(&fat), want);
        assert_eq!(ntfs_sha, ext4_sha);
        assert_eq!(fat_sha, ext4_sha);
        assert_eq!(fs::read(&ntfs).unwrap(), fs::read(&ext4).unwrap());
    }
}
