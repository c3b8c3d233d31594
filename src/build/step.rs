//! A step of a build: what it reads and what it writes, as `seedforge plan` shows it and
//! `seedforge build` runs it. The seal's file names live here, as the seal step's outputs.

use crate::oci::Platform;
use crate::oci::archive::{ArchiveFormat, Compression};
use crate::seed::PayloadFile;
use serde::Serialize;
use std::path::PathBuf;

/// The checksum file the seal writes (`sha256sum -c` format).
pub const SUMS: &str = "SHA256SUMS";
/// The manifest the seal writes.
pub const MANIFEST: &str = "manifest.json";

/// One step of a build.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Step {
    /// Copy every listed image into the OCI layout.
    Mirror {
        /// The image list files.
        lists: Vec<PathBuf>,
        /// The layout directory.
        layout: PathBuf,
        /// Platforms kept.
        platforms: Vec<Platform>,
        /// Number of images.
        images: usize,
        /// Images copied at once.
        concurrency: usize,
        /// `--offline`: registry images come from the layout, as `seedforge.lock` pins them.
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        offline: bool,
    },
    /// Re-hash everything reachable in the layout.
    Verify {
        /// The layout directory.
        layout: PathBuf,
    },
    /// Write one k3s airgap image archive.
    Airgap {
        /// The layout directory.
        layout: PathBuf,
        /// The archive file.
        out: PathBuf,
        /// Platforms in this archive (one architecture).
        platforms: Vec<Platform>,
        /// Format.
        format: ArchiveFormat,
        /// Compression.
        compression: Compression,
        /// With `airgap.compression: auto`, why `compression` was chosen.
        #[serde(skip_serializing_if = "Option::is_none")]
        auto: Option<String>,
        /// Compression level.
        level: i32,
        /// Entry mtime.
        mtime: u64,
    },
    /// Write one offline package bundle (its closure was resolved while planning).
    Packages {
        /// Bundle name.
        name: String,
        /// The tarball.
        out: PathBuf,
        /// Where the packages come from.
        source: String,
        /// Packages requested (sets expanded).
        requested: usize,
        /// Packages in the closure.
        debs: usize,
        /// Entry mtime.
        mtime: u64,
    },
    /// Write each node's NoCloud files (rendered and validated while planning).
    Render {
        /// `OUT/nodes`; each node's files go in `OUT/nodes/<node>/`.
        out: PathBuf,
        /// The nodes, in config order.
        nodes: Vec<String>,
    },
    /// Write a node's seed ISO: its NoCloud files and the payload, with SHA256SUMS.
    Iso {
        /// The node.
        node: String,
        /// `OUT/iso/seed-<node>.iso`.
        out: PathBuf,
        /// What goes under `payload/`.
        payload: Vec<PayloadFile>,
        /// Every date in the image.
        mtime: u64,
    },
    /// Keep or issue the registry PKI and write the registry configs for k3s, containerd
    /// and the registry.
    Pki {
        /// The output directory (`pki/`, `registries.yaml`, `registry/`, `certs.d/`).
        out: PathBuf,
        /// The registry's endpoint (`https://HOST:PORT`).
        endpoint: String,
        /// The SANs of the registry certificate (none for plain HTTP).
        sans: Vec<String>,
        /// The registries mirrored to it.
        mirrors: Vec<String>,
    },
    /// Copy (or download) the `files:` payload into `OUT/files/`, checking each sha256.
    Files {
        /// `OUT/files`.
        out: PathBuf,
        /// The files.
        files: Vec<crate::files::PlannedFile>,
    },
    /// Write `OUT/SHA256SUMS` and `OUT/manifest.json` over every artifact.
    Seal {
        /// The output directory.
        out: PathBuf,
    },
    /// Copy the seed ISOs into `export_dir`.
    Export {
        /// The destination folder.
        dir: PathBuf,
        /// The ISOs copied.
        isos: Vec<PathBuf>,
    },
}

impl Step {
    /// The step's short name.
    pub fn name(&self) -> &'static str {
        match self {
            Step::Mirror { .. } => "mirror",
            Step::Verify { .. } => "verify",
            Step::Airgap { .. } => "airgap",
            Step::Packages { .. } => "packages",
            Step::Pki { .. } => "pki",
            Step::Render { .. } => "render",
            Step::Iso { .. } => "iso",
            Step::Files { .. } => "files",
            Step::Seal { .. } => "seal",
            Step::Export { .. } => "export",
        }
    }

    /// One line describing what the step does.
    pub fn describe(&self) -> String {
        match self {
            Step::Mirror {
                lists,
                layout,
                platforms,
                images,
                concurrency,
                offline,
            } => format!(
                "mirror {images} images from {} into {} for {} ({concurrency} at a time){}",
                lists
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                layout.display(),
                platforms
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
                if *offline {
                    "; offline: registry images are kept from the layout as seedforge.lock pins them"
                } else {
                    ""
                }
            ),
            Step::Verify { layout } => {
                format!(
                    "verify every blob reachable from {}/index.json",
                    layout.display()
                )
            }
            Step::Airgap {
                out,
                platforms,
                format,
                compression,
                auto,
                level,
                ..
            } => format!(
                "write {} ({}, {}) with every image for {}{}",
                out.display(),
                match format {
                    ArchiveFormat::Oci => "OCI layout",
                    ArchiveFormat::Docker => "docker save format",
                },
                match compression {
                    Compression::None => "uncompressed".to_string(),
                    Compression::Gzip => format!("gzip level {level}"),
                    Compression::Zstd => format!("zstd level {level}"),
                },
                platforms
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
                auto.as_ref()
                    .map(|why| format!("; {why}"))
                    .unwrap_or_default()
            ),
            Step::Packages {
                out,
                source,
                requested,
                debs,
                ..
            } => format!(
                "write {} with {debs} .deb(s) for {requested} requested package(s) from {source}",
                out.display()
            ),
            Step::Iso {
                node, out, payload, ..
            } => format!(
                "write {} (label {}) for {node} with user-data, meta-data, network-config and {} payload file(s) + SHA256SUMS",
                out.display(),
                crate::seed::LABEL,
                payload.len()
            ),
            Step::Render { out, nodes } => format!(
                "write user-data, meta-data and network-config of {} node(s) ({}) under {}",
                nodes.len(),
                nodes.join(", "),
                out.display()
            ),
            Step::Pki {
                out,
                endpoint,
                sans,
                mirrors,
            } => format!(
                "registry PKI in {}/pki for {endpoint} (SANs {}), registries.yaml mirroring {}",
                out.display(),
                if sans.is_empty() {
                    "none".to_string()
                } else {
                    sans.join(", ")
                },
                mirrors.join(", ")
            ),
            Step::Files { out, files } => format!(
                "write {} payload file(s) into {} ({}), each checked against its sha256",
                files.len(),
                out.display(),
                files
                    .iter()
                    .map(|f| format!("{} <- {}", f.name, f.source.display()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Step::Seal { out } => format!(
                "write {} and {} over every artifact in {}",
                SUMS,
                MANIFEST,
                out.display()
            ),
            Step::Export { dir, isos } => format!(
                "copy {} seed ISO(s) into {} (nothing else there is touched)",
                isos.len(),
                dir.display()
            ),
        }
    }
}
