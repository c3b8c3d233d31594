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
    /// Write a node's seed ISO: its NoCloud files and the payload, with SHA256SUMS (or,
    /// `shared`, only `payload.sha256` naming the payload of the payload ISO).
    Iso {
        /// The node.
        node: String,
        /// `OUT/iso/seed-<node>.iso`.
        out: PathBuf,
        /// What goes under `payload/` (shared: of the payload ISO).
        payload: Vec<PayloadFile>,
        /// Every date in the image.
        mtime: u64,
        /// `seeds: {payload: shared}`: the payload is on the payload ISO, not here.
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        shared: bool,
    },
    /// Write the shared payload ISO (`seeds: {payload: shared}`): the payload once, with
    /// SHA256SUMS, for every node.
    Payload {
        /// `OUT/iso/payload.iso`.
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
        /// The registry's endpoint (`https://HOST:PORT`); none when the cluster has no
        /// registry (only `registries.yaml` for k3s's embedded registry mirror is written).
        #[serde(skip_serializing_if = "Option::is_none")]
        endpoint: Option<String>,
        /// The SANs of the registry certificate (none for plain HTTP or no registry).
        sans: Vec<String>,
        /// The registries mirrored to it (or, without a registry, shared between the nodes).
        mirrors: Vec<String>,
        /// The servers run k3s's embedded registry mirror.
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        embedded_registry: bool,
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
    /// Copy the seed ISOs (and the payload ISO) into `export_dir`.
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
            Step::Payload { .. } => "payload",
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
                node,
                out,
                shared: true,
                ..
            } => format!(
                "write {} (label {}) for {node} with user-data, meta-data, network-config and {} naming the payload of the payload ISO",
                out.display(),
                crate::seed::LABEL,
                crate::seed::PAYLOAD_REF,
            ),
            Step::Iso {
                node, out, payload, ..
            } => format!(
                "write {} (label {}) for {node} with user-data, meta-data, network-config and {} payload file(s) ({}) + SHA256SUMS",
                out.display(),
                crate::seed::LABEL,
                payload.len(),
                image_archives(payload)
            ),
            Step::Payload { out, payload, .. } => format!(
                "write {} (label {}) for every node with {} payload file(s) ({}) + SHA256SUMS",
                out.display(),
                crate::seed::PAYLOAD_LABEL,
                payload.len(),
                image_archives(payload)
            ),
            Step::Render { out, nodes } => format!(
                "write user-data, meta-data and network-config of {} node(s) ({}) under {}",
                nodes.len(),
                nodes.join(", "),
                out.display()
            ),
            Step::Pki {
                out,
                endpoint: Some(endpoint),
                sans,
                mirrors,
                embedded_registry,
            } => format!(
                "registry PKI in {}/pki for {endpoint} (SANs {}), registries.yaml mirroring {}{}",
                out.display(),
                if sans.is_empty() {
                    "none".to_string()
                } else {
                    sans.join(", ")
                },
                mirrors.join(", "),
                if *embedded_registry {
                    "; k3s's embedded registry mirror on every node is tried before the registry, and only the servers' seeds carry the airgap archives"
                } else {
                    ""
                }
            ),
            Step::Pki {
                out,
                endpoint: None,
                mirrors,
                ..
            } => format!(
                "write {} for k3s's embedded registry mirror, sharing {} between the nodes (only the servers' seeds carry the airgap archives); no registry: no registry CA or certificate, registry/config.yml or certs.d",
                out.join("registries.yaml").display(),
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
                "copy {} ISO(s) into {} (nothing else there is touched)",
                isos.len(),
                dir.display()
            ),
        }
    }
}

/// How many of a payload's files are image archives (`images/`), for the plan: with k3s's
/// embedded registry mirror, agents' seeds carry none.
fn image_archives(payload: &[crate::seed::PayloadFile]) -> String {
    match payload
        .iter()
        .filter(|p| p.name.starts_with("images/"))
        .count()
    {
        0 => "no image archive".to_string(),
        n => format!("{n} image archive(s)"),
    }
}
