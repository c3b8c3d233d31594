//! The airgap step: one k3s airgap image archive per architecture,
//! `OUT/airgap/k3s-airgap-images-<arch>.tar[.gz|.zst]`, written from the layout. Skipped
//! while the step, the images and the layout's `index.json` are unchanged.

use super::mirror::join;
use super::{Cx, Done, Record, StepKind, Work, output_key, payload_file};
use crate::Result;
use crate::config::{AirgapImages, Config};
use crate::image::ImageList;
use crate::oci::archive::{
    ArchiveFormat, ArchiveOptions, ArchiveReport, Compression, choose_compression, write_archive,
};
use crate::oci::mirror::PreparedImage;
use crate::oci::{Layout, OciError, Platform};
use crate::pipeline::modes::Kind;
use crate::seed::PayloadFile;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Write one k3s airgap image archive.
#[derive(Debug, Clone, Serialize)]
pub struct Airgap {
    /// The layout directory.
    pub layout: PathBuf,
    /// The archive file.
    pub out: PathBuf,
    /// Platforms in this archive (one architecture).
    pub platforms: Vec<Platform>,
    /// Format.
    pub format: ArchiveFormat,
    /// Compression.
    pub compression: Compression,
    /// With `airgap.compression: auto`, why `compression` was chosen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto: Option<String>,
    /// Compression level.
    pub level: i32,
    /// Entry mtime.
    pub mtime: u64,
    /// With `airgap.images: system`, the images the archive holds (those k3s needs
    /// itself); `None`: every listed image.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub only: Option<Vec<String>>,
    /// `airgap.images: system`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub system: bool,
    /// The hop of `cluster.upgrade_path` whose images the archive holds (those not in an
    /// earlier hop's archive); `None`: the target's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hop: Option<String>,
}

/// One archive per architecture. With `airgap.compression: auto`, each archive's
/// compression is decided now, from the layer media types of the manifests the images'
/// sources offer for its platforms (manifests are small and were read to choose the
/// platforms; no layer is fetched): the file name must say it, since k3s decompresses by
/// the extension.
pub fn plan(
    config: &Config,
    output: &Path,
    layout: &Path,
    images: &ImageList,
    prepared: &[PreparedImage],
    (required, hops): (
        &[crate::preflight::Requirement],
        &[crate::preflight::HopNeeds],
    ),
    mtime: u64,
) -> Result<Vec<Airgap>> {
    let meets = |e: &crate::image::ListEntry, required: &[crate::preflight::Requirement]| {
        required.iter().any(|r| r.is_met_by(&e.destination))
    };
    let system = |e: &crate::image::ListEntry| meets(e, required);
    // An image only a hop needs is in that hop's archive, not the target's.
    let only_hops =
        |e: &crate::image::ListEntry| !system(e) && hops.iter().any(|h| meets(e, &h.required));
    let mut by_arch: BTreeMap<&str, Vec<Platform>> = BTreeMap::new();
    for p in &config.images.platforms {
        by_arch.entry(&p.architecture).or_default().push(p.clone());
    }
    let scope = Scope {
        config,
        output,
        layout,
        images,
        prepared,
        mtime,
    };
    let mut steps = Vec::new();
    for (arch, platforms) in by_arch {
        // The images (not the other artifacts a list may name, which only the registry
        // serves): all, or those k3s needs itself.
        let main_system = config.airgap.images == AirgapImages::System;
        steps.push(
            scope.archive(arch, &platforms, "", main_system, None, &|e| {
                (config.airgap.images == AirgapImages::All || system(e)) && !only_hops(e)
            })?,
        );
        // The agents' own, smaller archive: the servers carry the one above.
        if config.airgap.agents == AirgapImages::System && config.airgap.images == AirgapImages::All
        {
            steps.push(scope.archive(arch, &platforms, AGENTS_SUFFIX, true, None, &system)?);
        }
        // Each hop's: what it needs that no earlier hop's archive holds (none when
        // nothing is new).
        let mut earlier = std::collections::BTreeSet::new();
        for hop in hops {
            let new = |e: &crate::image::ListEntry| {
                meets(e, &hop.required) && !earlier.contains(&e.destination.to_string())
            };
            let archive = scope.archive(arch, &platforms, "", true, Some(&hop.release), &new)?;
            earlier.extend(archive.only.iter().flatten().cloned());
            if archive.only.as_ref().is_some_and(|o| !o.is_empty()) {
                steps.push(archive);
            }
        }
    }
    Ok(steps)
}

/// What the archive of the agents' seeds (`airgap.agents: system`) adds to its name.
pub const AGENTS_SUFFIX: &str = "-agents";

/// Whether the payload file `name` is an airgap archive: the target's (`images/…`) or a
/// hop's (`hops/<RELEASE>/images/…`).
pub fn is_image_archive(name: &str) -> bool {
    name.starts_with("images/")
        || (name.strip_prefix("hops/"))
            .and_then(|rest| rest.split_once('/'))
            .is_some_and(|(_, rest)| rest.starts_with("images/"))
}

/// Whether the payload file `name` (`images/…`) is the agents' own archive.
pub fn is_agents_archive(name: &str) -> bool {
    name.starts_with("images/") && name.contains(&format!("{AGENTS_SUFFIX}."))
}

/// What every archive of a build is planned from.
struct Scope<'a> {
    config: &'a Config,
    output: &'a Path,
    layout: &'a Path,
    images: &'a ImageList,
    prepared: &'a [PreparedImage],
    mtime: u64,
}

impl Scope<'_> {
    /// The archive of `arch` holding the images `wanted` keeps (named with `suffix`);
    /// `system`: it holds only the images k3s needs itself, by `airgap.images` or
    /// `airgap.agents`.
    fn archive(
        &self,
        arch: &str,
        platforms: &[Platform],
        suffix: &str,
        system: bool,
        hop: Option<&String>,
        wanted: &dyn Fn(&crate::image::ListEntry) -> bool,
    ) -> Result<Airgap> {
        let (images, prepared) = (self.images, self.prepared);
        let carried: Vec<bool> = (images.entries.iter().zip(prepared))
            .map(|(e, p)| p.is_image() && wanted(e))
            .collect();
        // A hop's archive always names its images (a hop needs some of the lists' only).
        let only = (hop.is_some() || !carried.iter().all(|c| *c)).then(|| {
            (images.entries.iter().zip(&carried))
                .filter(|(_, c)| **c)
                .map(|(e, _)| e.destination.to_string())
                .collect::<Vec<_>>()
        });
        let (compression, auto) = match self.config.airgap.compression.fixed() {
            Some(c) => (c, None),
            None => {
                let mut layers = Vec::new();
                let kept = images.entries.iter().zip(prepared).zip(&carried);
                for ((entry, image), _) in kept.filter(|(_, c)| **c) {
                    let name = entry.destination.to_string();
                    for layer in image.selected_layers(platforms)? {
                        layers.push((name.clone(), layer.media_type));
                    }
                }
                let chosen =
                    choose_compression(layers.iter().map(|(n, t)| (n.as_str(), t.as_str())));
                (chosen.compression, Some(chosen.reason))
            }
        };
        Ok(Airgap {
            layout: self.layout.to_path_buf(),
            out: hop
                .map_or_else(
                    || self.output.join("airgap"),
                    |hop| self.output.join("airgap").join("hops").join(hop),
                )
                .join(format!(
                    "k3s-airgap-images-{arch}{suffix}{}",
                    compression.suffix()
                )),
            platforms: platforms.to_vec(),
            format: self.config.airgap.format,
            compression,
            auto,
            level: self.config.airgap_level,
            mtime: self.mtime,
            only,
            system,
            hop: hop.cloned(),
        })
    }
}

impl Airgap {
    /// Whether this is the agents' own archive (`airgap.agents: system`).
    fn is_agents(&self) -> bool {
        (self.out.file_name())
            .and_then(|n| n.to_str())
            .is_some_and(|n| is_agents_archive(&format!("images/{n}")))
    }
}

impl StepKind for Airgap {
    type Report = ArchiveReport;
    type Kept = ArchiveReport;
    const NAME: &'static str = "airgap";

    fn key(&self) -> String {
        output_key(Self::NAME, &self.out)
    }

    fn describe(&self) -> String {
        format!(
            "write {} ({}, {}) with {} for {}{}",
            self.out.display(),
            match self.format {
                ArchiveFormat::Oci => "OCI layout",
                ArchiveFormat::Docker => "docker save format",
            },
            match self.compression {
                Compression::None => "uncompressed".to_string(),
                Compression::Gzip => format!("gzip level {}", self.level),
                Compression::Zstd => format!("zstd level {}", self.level),
            },
            match &self.only {
                Some(only) if self.hop.is_some() => format!(
                    "the {} image(s) k3s {} needs that no earlier hop's archive holds (a hop of cluster.upgrade_path)",
                    only.len(),
                    self.hop.as_deref().unwrap_or_default()
                ),
                None => "every image".to_string(),
                Some(only) if self.system && self.is_agents() => format!(
                    "the {} image(s) k3s needs itself, for the agents' seeds (airgap.agents: system; the servers' seeds carry the whole set, the registry serves the rest)",
                    only.len()
                ),
                Some(only) if self.system => format!(
                    "the {} image(s) k3s needs itself (airgap.images: system; the others are in the registry alone)",
                    only.len()
                ),
                Some(only) => format!(
                    "the {} image(s) the lists name (the other artifacts they name, signatures or charts, are in the registry alone)",
                    only.len()
                ),
            },
            join(self.platforms.iter().map(ToString::to_string)),
            self.auto
                .as_ref()
                .map(|why| format!("; {why}"))
                .unwrap_or_default()
        )
    }

    fn artifacts(&self, out: &mut dyn FnMut(PathBuf, Kind)) -> Result<()> {
        out(self.out.clone(), Kind::Plain);
        Ok(())
    }

    /// The archive, named in the payload by its content ([`crate::seed::carried_name`]).
    fn payload(&self) -> Vec<PayloadFile> {
        vec![PayloadFile {
            content_named: true,
            ..payload_file(
                &match &self.hop {
                    Some(hop) => format!("hops/{hop}/images/"),
                    None => "images/".to_string(),
                },
                &self.out,
            )
        }]
    }

    fn fingerprint(&self, cx: &mut Cx<'_>) -> Result<Option<serde_json::Value>> {
        let images: Vec<String> = (cx.inputs.images.entries.iter())
            .map(|e| e.destination.to_string())
            .collect();
        let index = cx.sha256(&self.layout.join("index.json"))?;
        Ok(Some(serde_json::json!([Self::NAME, self, images, index])))
    }

    fn restore(
        &self,
        _: &mut Cx<'_>,
        _: &str,
        mut kept: ArchiveReport,
    ) -> Result<Option<ArchiveReport>> {
        // A state written before the digest rule recorded `sha256:<hex>`.
        if let Some(sha) = &mut kept.sha256
            && let Some(hex) = sha.strip_prefix("sha256:")
        {
            *sha = hex.to_string();
        }
        Ok(Some(kept))
    }

    fn run<'p>(&'p self, cx: &mut Cx<'p>) -> Result<Work<'p, ArchiveReport>> {
        if let Some(dir) = self.out.parent() {
            std::fs::create_dir_all(dir).map_err(|e| OciError::io(dir, e))?;
        }
        remove_other_compressions(&self.out)?;
        let options = ArchiveOptions {
            format: self.format,
            compression: self.compression,
            level: self.level,
            threads: std::thread::available_parallelism().map_or(2, |n| n.get() as u32),
            platforms: self.platforms.clone(),
            images: Some(self.only.clone().unwrap_or_else(|| {
                (cx.inputs.images.entries.iter())
                    .map(|e| e.destination.to_string())
                    .collect()
            })),
            mtime: self.mtime,
            // The verify step has just re-hashed every blob of the layout.
            verify_blobs: false,
            digest: true,
        };
        let layout = Layout::open(&self.layout)?;
        Ok(Work::Done(write_archive(
            &layout,
            &self.out,
            &options,
            cx.reporter,
            None,
        )?))
    }

    fn record(&self, cx: &Cx<'_>, report: &ArchiveReport) -> Result<Option<Record>> {
        if let Some(sha) = &report.sha256 {
            cx.inputs.state.learn(&self.out, sha);
        }
        Ok(Some(Record::wrote(vec![self.out.clone()], report)))
    }

    fn deliver(report: ArchiveReport, done: &mut Done) {
        done.archives.push(report);
    }
}

/// Removes the archive of the same architecture under another compression's name, left by
/// a build whose `airgap.compression` (or `auto`'s choice) differed: a node must not find
/// two archives of one image set.
fn remove_other_compressions(out: &Path) -> Result<()> {
    let Some(name) = out.file_name().and_then(|n| n.to_str()) else {
        return Ok(());
    };
    let Some(own) = Compression::from_path(out) else {
        return Ok(());
    };
    let stem = name.strip_suffix(own.suffix()).unwrap_or(name);
    for other in [Compression::None, Compression::Gzip, Compression::Zstd] {
        if other != own {
            let path = out.with_file_name(format!("{stem}{}", other.suffix()));
            match std::fs::remove_file(&path) {
                Ok(()) => crate::util::sync_parent(&path).map_err(|e| OciError::io(&path, e))?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(OciError::io(&path, e).into()),
            }
        }
    }
    Ok(())
}
