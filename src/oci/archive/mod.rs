//! Image archives made from the layout: the airgap tarballs k3s imports at start
//! (`/var/lib/rancher/k3s/agent/images/*.tar[.gz|.zst]`).
//!
//! Two formats: an OCI archive (a tar of an OCI layout whose `index.json` names every image
//! with its full reference in both naming annotations, which is what containerd imports
//! under) and a docker-archive (`manifest.json` with full `RepoTags`). Only the selected
//! platforms go in, and with them every blob they reference: k3s does not skip missing
//! blobs.
//!
//! The archive is a pure function of its inputs: entries sorted, one mtime, owner 0:0,
//! fixed modes. It is streamed from the layout through the compressor into a temporary
//! file that is renamed into place, so memory stays flat and a failed run leaves no
//! half-written archive. zstd always runs in its multi-threaded mode, whose output does
//! not depend on the number of threads, and never in long mode: k3s's decoder refuses
//! windows above 32 MiB.

mod write;

use super::copy::{config_platform, filtered_index, selected_children, without_original};
use super::descriptor::{Descriptor, ManifestDoc, ManifestKind};
use super::digest::Digest;
use super::index::{IndexDoc, named};
use super::layout::Layout;
use super::platform::Platform;
use super::verify::KnownDigests;
use super::{OciError, Result};
use crate::report::Reporter;
use crate::util::{sync_parent, temp_path_beside};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::{Path, PathBuf};

/// Highest zstd level accepted: k3s's decoder limit (window log 25) holds up to 19.
pub const MAX_ZSTD_LEVEL: i32 = 19;

/// The archive layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ArchiveFormat {
    /// A tar of an OCI image layout.
    Oci,
    /// The `docker save` format.
    Docker,
}

/// How the tar is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// A plain `.tar`.
    None,
    /// `.tar.gz`.
    Gzip,
    /// `.tar.zst`.
    Zstd,
}

impl Compression {
    /// The compression a file name asks for, if its extension says.
    pub fn from_path(path: &Path) -> Option<Compression> {
        let name = path.file_name()?.to_str()?;
        if name.ends_with(".tar.zst") || name.ends_with(".tzst") {
            Some(Compression::Zstd)
        } else if name.ends_with(".tar.gz") || name.ends_with(".tgz") {
            Some(Compression::Gzip)
        } else if name.ends_with(".tar") {
            Some(Compression::None)
        } else {
            None
        }
    }

    /// The level used when none is given: zstd's and gzip's own defaults.
    pub fn default_level(self) -> i32 {
        match self {
            Compression::Gzip => 6,
            Compression::None | Compression::Zstd => 3,
        }
    }

    /// Checks a level: gzip 1-9, zstd 1-19 (k3s's decoder limit); ignored for plain tar.
    pub fn check_level(self, level: i32) -> Result<(), String> {
        match self {
            Compression::Gzip if !(1..=9).contains(&level) => {
                Err(format!("gzip level {level} is outside 1-9"))
            }
            Compression::Zstd if !(1..=MAX_ZSTD_LEVEL).contains(&level) => Err(format!(
                "zstd level {level} is outside 1-{MAX_ZSTD_LEVEL} (k3s cannot decode higher levels' windows)"
            )),
            _ => Ok(()),
        }
    }

    /// The usual file name suffix.
    pub fn suffix(self) -> &'static str {
        match self {
            Compression::None => ".tar",
            Compression::Gzip => ".tar.gz",
            Compression::Zstd => ".tar.zst",
        }
    }
}

/// The `airgap.compression` setting: a fixed compression, or `auto`, which leaves layers
/// that are compressed already as they are (a plain `.tar`) and compresses the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CompressionSetting {
    /// `.tar` when every layer is gzip or zstd already, else `.tar.zst`.
    Auto,
    /// Always a plain `.tar`.
    None,
    /// Always `.tar.gz`.
    Gzip,
    /// Always `.tar.zst`.
    Zstd,
}

impl CompressionSetting {
    /// The compression a fixed setting names; `None` for `auto`.
    pub fn fixed(self) -> Option<Compression> {
        match self {
            CompressionSetting::Auto => None,
            CompressionSetting::None => Some(Compression::None),
            CompressionSetting::Gzip => Some(Compression::Gzip),
            CompressionSetting::Zstd => Some(Compression::Zstd),
        }
    }

    /// The compression whose levels apply: `auto` compresses with zstd when it does.
    pub fn level_kind(self) -> Compression {
        self.fixed().unwrap_or(Compression::Zstd)
    }
}

/// True for a layer media type whose bytes are compressed already (gzip or zstd, OCI or
/// Docker names, distributable or not): compressing them again gains next to nothing.
pub fn layer_is_compressed(media_type: &str) -> bool {
    let base = media_type.split(';').next().unwrap_or_default().trim();
    ["+gzip", "+zstd", ".tar.gzip", ".tar.zstd"]
        .iter()
        .any(|end| base.ends_with(end))
}

/// What `auto` chose for one archive, and why, in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AutoCompression {
    /// The compression chosen.
    pub compression: Compression,
    /// Why: the layer counts that decided it.
    pub reason: String,
}

/// Decides `auto` from the layers going into an archive, given as (image name, layer media
/// type) pairs: a plain `.tar` when every layer is compressed already, else `.tar.zst`.
pub fn choose_compression<'a>(
    layers: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> AutoCompression {
    let mut total = 0usize;
    let mut plain = 0usize;
    let mut first_plain: Option<&str> = None;
    for (image, media_type) in layers {
        total += 1;
        if !layer_is_compressed(media_type) {
            plain += 1;
            first_plain.get_or_insert(image);
        }
    }
    match first_plain {
        Some(image) => AutoCompression {
            compression: Compression::Zstd,
            reason: format!(
                "auto: zstd, because {plain} of the {total} layers {} uncompressed (the first in {image})",
                if plain == 1 { "is" } else { "are" }
            ),
        },
        None if total == 0 => AutoCompression {
            compression: Compression::None,
            reason: "auto: no compression, because the images have no layers".into(),
        },
        None => AutoCompression {
            compression: Compression::None,
            reason: format!(
                "auto: no compression, because all {total} layers are gzip or zstd already and compressing them again saves next to nothing"
            ),
        },
    }
}

/// What to put in an archive and how.
#[derive(Debug, Clone)]
pub struct ArchiveOptions {
    /// OCI or docker format.
    pub format: ArchiveFormat,
    /// Compression.
    pub compression: Compression,
    /// zstd level (1..=19) or gzip level (0..=9, clamped).
    pub level: i32,
    /// Compression threads (zstd); the output does not depend on it.
    pub threads: u32,
    /// Platforms kept from multi-platform images.
    pub platforms: Vec<Platform>,
    /// Images to include, by their name in `index.json`; `None` means all.
    pub images: Option<Vec<String>>,
    /// Modification time of every entry (seconds since the epoch).
    pub mtime: u64,
    /// Re-hash every blob while archiving; off only right after a successful verify.
    pub verify_blobs: bool,
    /// Compute the sha256 of the file written. Off, an uncompressed archive's blob bodies
    /// are copied by the kernel (`copy_file_range`) and never pass through user space.
    pub digest: bool,
}

/// What an archive holds.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct ArchiveReport {
    /// The archive file.
    pub path: PathBuf,
    /// Format written.
    pub format: ArchiveFormat,
    /// Compression used.
    pub compression: Compression,
    /// Image names in the archive.
    pub images: Vec<String>,
    /// Blobs in the archive.
    pub blobs: usize,
    /// Uncompressed tar size.
    pub tar_bytes: u64,
    /// Size of the file written.
    pub file_bytes: u64,
    /// sha256 of the file written (hex, as `sha256sum` prints it), when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

/// Where a blob's bytes come from.
enum BlobSource {
    /// Stored in the layout with this size.
    Layout(u64),
    /// Made for the archive (an index reduced to the selected platforms).
    Memory(Vec<u8>),
}

/// One image as it goes into the archive.
struct Planned {
    name: String,
    /// The top-level descriptor in the archive (possibly a reduced index).
    root: Descriptor,
    /// The image manifests kept, with their parsed documents.
    manifests: Vec<(Descriptor, ManifestDoc)>,
}

/// Writes an archive of images from `layout` to `out`. With `options.verify_blobs`, a
/// blob whose file `known` vouches for is not re-hashed, and `known` learns the blobs that
/// were.
pub fn write_archive(
    layout: &Layout,
    out: &Path,
    options: &ArchiveOptions,
    reporter: &dyn Reporter,
    known: Option<&dyn KnownDigests>,
) -> Result<ArchiveReport> {
    options
        .compression
        .check_level(options.level)
        .map_err(OciError::Unsupported)?;
    let index = layout.read_index()?;
    let by_name = index.by_name();
    let names = chosen_names(&index, &by_name, options.images.as_deref(), layout)?;
    let mut blobs: BTreeMap<Digest, BlobSource> = BTreeMap::new();
    let mut planned = Vec::new();
    for name in &names {
        let entry = (by_name.get(name.as_str()).copied().cloned())
            .ok_or_else(|| missing_image(name, layout))?;
        planned.push(plan_image(layout, name, &entry, options, &mut blobs)?);
    }
    let tmp = temp_path_beside(out);
    let result = write::write_checked(layout, &tmp, &planned, &blobs, options, reporter, known);
    match result {
        Ok((tar_bytes, file_bytes, sha256)) => {
            fs::rename(&tmp, out).map_err(|e| OciError::io(out, e))?;
            sync_parent(out).map_err(|e| OciError::io(out, e))?;
            Ok(ArchiveReport {
                path: out.to_path_buf(),
                format: options.format,
                compression: options.compression,
                images: names,
                blobs: blobs.len(),
                tar_bytes,
                file_bytes,
                sha256: sha256.map(|d| d.hex().to_string()),
            })
        }
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(naming_archive(e, &tmp, out))
        }
    }
}

/// Errors writing the archive name the archive (`out`), not its temporary file or the
/// writer's `<archive>` placeholder: a full disk must point at the file that did not fit.
fn naming_archive(e: OciError, tmp: &Path, out: &Path) -> OciError {
    match e {
        OciError::Io { path, source } if path == tmp => OciError::io(out, source),
        OciError::Io { path, source } => {
            match path.to_str().and_then(|p| p.strip_prefix("<archive>")) {
                Some("") => OciError::io(out, source),
                Some(entry) => OciError::io(
                    format!(
                        "{} (entry {})",
                        out.display(),
                        entry.trim_start_matches('/')
                    ),
                    source,
                ),
                None => OciError::Io { path, source },
            }
        }
        e => e,
    }
}

fn missing_image(name: &str, layout: &Layout) -> OciError {
    OciError::Source {
        source_name: layout.root().display().to_string(),
        message: format!("no image named {name:?} in index.json"),
    }
}

/// The image names to archive, sorted: all named entries, or the requested ones (each
/// must exist).
fn chosen_names(
    index: &IndexDoc,
    by_name: &HashMap<&str, &Descriptor>,
    wanted: Option<&[String]>,
    layout: &Layout,
) -> Result<Vec<String>> {
    let mut names: Vec<String> = match wanted {
        None => index
            .manifests
            .iter()
            .filter_map(|d| d.ref_name().map(str::to_string))
            .collect(),
        Some(wanted) => {
            let missing: Vec<&str> = wanted
                .iter()
                .filter(|w| !by_name.contains_key(w.as_str()))
                .map(String::as_str)
                .collect();
            if !missing.is_empty() {
                return Err(OciError::Source {
                    source_name: layout.root().display().to_string(),
                    message: format!(
                        "not in the layout: {} (mirror them first)",
                        missing.join(", ")
                    ),
                });
            }
            wanted.to_vec()
        }
    };
    names.sort();
    names.dedup();
    if names.is_empty() {
        return Err(OciError::Source {
            source_name: layout.root().display().to_string(),
            message: "the layout names no images".into(),
        });
    }
    Ok(names)
}

fn read_doc(layout: &Layout, d: &Descriptor, name: &str) -> Result<(Vec<u8>, ManifestDoc)> {
    let bytes = layout.read_blob(&d.digest)?;
    if Digest::of(&bytes) != d.digest {
        return Err(OciError::DigestMismatch {
            context: format!("{name} in {}", layout.root().display()),
            expected: d.digest.clone(),
            expected_size: d.size,
            actual_digest: Digest::of(&bytes),
            actual_size: bytes.len() as u64,
        });
    }
    let doc = ManifestDoc::parse(&bytes).map_err(|source| OciError::Json {
        context: format!("{name}: manifest {}", d.digest),
        source,
    })?;
    Ok((bytes, doc))
}

/// Whether the image name `name` carries `digest` (`NAME:TAG@sha256:…`): the layout keeps
/// such an index whole (see `crate::oci::mirror::PreparedImage::pinned_whole`).
fn pins(name: &str, digest: &Digest) -> bool {
    crate::image::Reference::parse(name)
        .is_ok_and(|r| r.digest() == Some(digest.to_string().as_str()))
}

/// Decides what of one image goes in, and records its blobs.
fn plan_image(
    layout: &Layout,
    name: &str,
    entry: &Descriptor,
    options: &ArchiveOptions,
    blobs: &mut BTreeMap<Digest, BlobSource>,
) -> Result<Planned> {
    let (bytes, doc) = read_doc(layout, entry, name)?;
    let mut manifests = Vec::new();
    let root = match doc.kind(Some(&entry.media_type)) {
        Some(ManifestKind::Index) => {
            let children = doc.manifests.unwrap_or_default();
            // A docker-archive names image manifests only; the index stays out.
            let with_index = options.format == ArchiveFormat::Oci;
            // An image named by its index's digest goes in whole, under that digest: the
            // node asks for it by that digest, which a platform subset would not have.
            let keep = if with_index && pins(name, &entry.digest) {
                (0..children.len()).collect()
            } else {
                selected_children(&children, &options.platforms)
            };
            if keep.is_empty() {
                return Err(OciError::NoMatchingPlatform {
                    image: name.to_string(),
                    wanted: platform_list(&options.platforms),
                    available: children
                        .iter()
                        .filter_map(|c| c.platform.as_ref().map(ToString::to_string))
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            }
            for &i in &keep {
                let (_, child_doc) = read_doc(layout, &children[i], name)?;
                manifests.push((children[i].clone(), child_doc));
            }
            let json = |source| OciError::Json {
                context: format!("{name}: index {}", entry.digest),
                source,
            };
            // The index the layout's was cut from is not carried: the archive's index does
            // not name it, and is the one a filter alone would have written.
            let stripped = without_original(&bytes).map_err(json)?;
            if keep.len() == children.len() && stripped.is_none() {
                if with_index {
                    blobs.insert(entry.digest.clone(), BlobSource::Layout(entry.size));
                }
                entry.clone()
            } else {
                let bytes = stripped.unwrap_or(bytes);
                let reduced = filtered_index(&bytes, &keep).map_err(json)?;
                let d = Descriptor::new(
                    &entry.media_type,
                    Digest::of(&reduced),
                    reduced.len() as u64,
                );
                if with_index {
                    blobs.insert(d.digest.clone(), BlobSource::Memory(reduced));
                }
                d
            }
        }
        Some(ManifestKind::Image) => {
            check_image_platform(layout, name, &doc, &options.platforms)?;
            blobs.insert(entry.digest.clone(), BlobSource::Layout(entry.size));
            manifests.push((entry.clone(), doc));
            entry.clone()
        }
        None => {
            return Err(OciError::Unsupported(format!(
                "{name}: {} is neither an image manifest nor an index",
                entry.digest
            )));
        }
    };
    for (d, doc) in &manifests {
        blobs.insert(d.digest.clone(), BlobSource::Layout(d.size));
        for blob in doc.image_blobs() {
            if !layout.has_blob(&blob.digest, blob.size) {
                return Err(OciError::Source {
                    source_name: layout.root().display().to_string(),
                    message: format!(
                        "{name}: blob {} is missing; run `seedforge verify`",
                        blob.digest
                    ),
                });
            }
            blobs.insert(blob.digest.clone(), BlobSource::Layout(blob.size));
        }
    }
    if options.format == ArchiveFormat::Docker && manifests.len() != 1 {
        return Err(OciError::Unsupported(format!(
            "{name}: a docker-archive holds one platform per image, but {} are selected ({}); choose one with --platform or use the OCI format",
            manifests.len(),
            platform_list(&options.platforms)
        )));
    }
    Ok(Planned {
        name: name.to_string(),
        root: named(root, name),
        manifests,
    })
}

/// A single-platform image goes in only if its config names a selected platform: an
/// amd64-only image in the arm64 archive would fail on every arm64 node.
fn check_image_platform(
    layout: &Layout,
    name: &str,
    doc: &ManifestDoc,
    platforms: &[Platform],
) -> Result<()> {
    let Some(config) = doc
        .config
        .as_ref()
        .filter(|c| layout.has_blob(&c.digest, c.size))
    else {
        return Ok(()); // a missing config is reported with the image's other blobs
    };
    let bytes = layout.read_blob(&config.digest)?;
    let Some(platform) = config_platform(&bytes) else {
        return Ok(());
    };
    if platforms.iter().any(|p| p.matches_spec(&platform)) {
        return Ok(());
    }
    Err(OciError::NoMatchingPlatform {
        image: name.to_string(),
        wanted: platform_list(platforms),
        available: platform.to_string(),
    })
}

fn platform_list(platforms: &[Platform]) -> String {
    platforms
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// `manifest.json` of a docker-archive: one entry per image, blobs named by digest (the
/// layout Docker itself writes since 25.0).
fn docker_manifest(planned: &[Planned]) -> Vec<u8> {
    #[derive(Serialize)]
    struct Entry {
        #[serde(rename = "Config")]
        config: String,
        #[serde(rename = "RepoTags")]
        repo_tags: Vec<String>,
        #[serde(rename = "Layers")]
        layers: Vec<String>,
    }
    let path = |d: &Descriptor| format!("blobs/sha256/{}", d.digest.hex());
    let entries: Vec<Entry> = planned
        .iter()
        .filter_map(|p| {
            let (_, doc) = p.manifests.first()?;
            Some(Entry {
                config: doc.config.as_ref().map(path).unwrap_or_default(),
                repo_tags: vec![p.name.clone()],
                layers: doc.layers.iter().flatten().map(path).collect(),
            })
        })
        .collect();
    let mut bytes = serde_json::to_vec(&entries).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compressed_layer_media_types() {
        for t in [
            "application/vnd.oci.image.layer.v1.tar+gzip",
            "application/vnd.oci.image.layer.v1.tar+zstd",
            "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
            "application/vnd.docker.image.rootfs.diff.tar.gzip",
            "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
            "application/vnd.docker.image.rootfs.diff.tar.zstd",
        ] {
            assert!(layer_is_compressed(t), "{t}");
        }
        for t in [
            "application/vnd.oci.image.layer.v1.tar",
            "application/vnd.docker.image.rootfs.diff.tar",
            "application/vnd.oci.image.layer.v1.tar+gzip+encrypted",
            "application/octet-stream",
            "",
        ] {
            assert!(!layer_is_compressed(t), "{t}");
        }
    }

    #[test]
    fn auto_is_plain_only_when_every_layer_is_compressed() {
        let gz = "application/vnd.oci.image.layer.v1.tar+gzip";
        let tar = "application/vnd.oci.image.layer.v1.tar";
        let all = choose_compression([("a", gz), ("b", gz)]);
        assert_eq!(all.compression, Compression::None);
        assert!(all.reason.contains("all 2 layers"), "{}", all.reason);
        let mixed = choose_compression([("a", gz), ("b", tar), ("c", tar)]);
        assert_eq!(mixed.compression, Compression::Zstd);
        assert!(mixed.reason.contains("2 of the 3"), "{}", mixed.reason);
        assert!(mixed.reason.contains("first in b"), "{}", mixed.reason);
        assert_eq!(choose_compression([]).compression, Compression::None);
    }

    #[test]
    fn an_index_naming_its_original_goes_in_as_the_filter_alone_wrote_it() {
        use crate::image::ImageSource;
        use crate::oci::copy::{copy_image, select};
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/images");
        let source = ImageSource::parse("oci:oci:mirrored-pause:3.6", &fixtures).unwrap();
        let registries = crate::oci::registry::Registries::offline();
        let reader = crate::oci::local::open(&source, &registries).unwrap();
        let name = "docker.io/rancher/mirrored-pause:3.6";
        let amd64 = [Platform::linux_amd64()];
        let options = |format| ArchiveOptions {
            format,
            compression: Compression::None,
            level: 0,
            threads: 1,
            platforms: amd64.to_vec(),
            images: None,
            mtime: 0,
            verify_blobs: true,
            digest: false,
        };
        // The same image stored with its original kept and without: the same archive.
        let mut roots = Vec::new();
        for keep_original in [true, false] {
            let dir = tempfile::tempdir().unwrap();
            let layout = Layout::create(dir.path()).unwrap();
            let mut sel = select(reader.as_ref(), name, &amd64).unwrap();
            if keep_original {
                sel.keep_original();
            }
            let stored = copy_image(reader.as_ref(), &sel, &layout, name, &mut |_| {}).unwrap();
            for format in [ArchiveFormat::Oci, ArchiveFormat::Docker] {
                let mut blobs = BTreeMap::new();
                let planned =
                    plan_image(&layout, name, &stored.entry, &options(format), &mut blobs).unwrap();
                assert!(!blobs.contains_key(&reader.root().digest));
                if format == ArchiveFormat::Oci {
                    if let Some(BlobSource::Memory(bytes)) = blobs.get(&planned.root.digest) {
                        let text = String::from_utf8_lossy(bytes);
                        assert!(!text.contains(crate::oci::copy::INDEX_ORIGINAL), "{text}");
                    }
                    roots.push((
                        keep_original,
                        planned.root.digest,
                        stored.entry.digest.clone(),
                    ));
                }
            }
        }
        let [(_, with, stored_with), (_, without, stored_without)] = &roots[..] else {
            panic!("{roots:?}");
        };
        assert_ne!(stored_with, stored_without);
        assert_eq!(with, without);
        assert_eq!(without, stored_without);
    }

    #[test]
    fn settings_parse_and_fix() {
        let parse = |s: &str| serde_json::from_str::<CompressionSetting>(&format!("{s:?}"));
        assert_eq!(parse("auto").unwrap(), CompressionSetting::Auto);
        assert_eq!(parse("none").unwrap().fixed(), Some(Compression::None));
        assert_eq!(parse("zstd").unwrap().fixed(), Some(Compression::Zstd));
        assert!(parse("xz").is_err());
        assert_eq!(CompressionSetting::Auto.level_kind(), Compression::Zstd);
    }
}
