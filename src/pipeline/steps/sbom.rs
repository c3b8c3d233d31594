//! The sbom step: `OUT/sbom/sbom.spdx.json` (SPDX 2.3) and `OUT/sbom/sbom.cdx.json`
//! (CycloneDX 1.6), written by [`crate::sbom`] from what the steps before it resolved and
//! wrote: the layout's images (each index and its platform manifests), the .debs of every
//! bundle (from the bundle's own `Packages` index, read once per bundle and remembered
//! with its stat), the charts, the `files:` payload, and what each airgap archive and ISO
//! carries. No image is scanned. Skipped while that inventory is unchanged and both files
//! keep their stat.

use super::reports::SbomReport;
use super::{Cx, Done, Record, Step, StepKind, Work};
use crate::Result;
use crate::oci::descriptor::{DOCKER_MANIFEST_LIST, OCI_INDEX};
use crate::oci::index::IndexDoc;
use crate::pipeline::modes::Kind;
use crate::pipeline::seal::rel;
use crate::sbom::{
    Bundle, Chart, Container, ContainerKind, Deb, FileEntry, Image, Inventory, OutFile,
    PlatformManifest, without_credentials,
};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The folder under the output the SBOMs and the provenance go in.
pub const SBOM_DIR: &str = "sbom";
/// The SPDX document's file name.
pub const SPDX_FILE: &str = "sbom.spdx.json";
/// The CycloneDX document's file name.
pub const CYCLONEDX_FILE: &str = "sbom.cdx.json";

/// Write the SBOMs of the build.
#[derive(Debug, Clone, Serialize)]
pub struct Sbom {
    /// `OUT/sbom`.
    pub out: PathBuf,
    /// The cluster's name (the documents').
    pub name: String,
    /// The source date the documents carry.
    pub created: u64,
}

impl Sbom {
    fn spdx_path(&self) -> PathBuf {
        self.out.join(SPDX_FILE)
    }

    fn cyclonedx_path(&self) -> PathBuf {
        self.out.join(CYCLONEDX_FILE)
    }

    fn report(&self, inventory: Inventory) -> SbomReport {
        SbomReport {
            spdx: self.spdx_path(),
            cyclonedx: self.cyclonedx_path(),
            inventory,
        }
    }

    /// What the build put into the output, from the plan and the reports of the steps
    /// before this one.
    fn inventory(&self, cx: &mut Cx<'_>) -> Result<Inventory> {
        let output = cx.inputs.output.clone();
        let mut inv = Inventory {
            name: self.name.clone(),
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
            created: self.created,
            ..Inventory::default()
        };
        let layout = cx.steps.iter().find_map(|s| match s {
            Step::Mirror(m) => Some(m.layout.clone()),
            _ => None,
        });
        if let Some(layout) = layout {
            inv.images = images(cx, &layout)?;
        }
        for step in cx.steps {
            match step {
                Step::Packages(p) if p.out.is_file() => {
                    let sha256 = (cx.done.bundles.iter())
                        .find(|b| b.path == p.out)
                        .map(|b| hex(&b.sha256))
                        .map_or_else(|| cx.sha256(&p.out), Ok)?;
                    inv.debs.push(Bundle {
                        name: p.name.clone(),
                        path: rel(&p.out, &output),
                        sha256,
                        debs: bundle_debs(cx, &p.out)?,
                    });
                }
                Step::Charts(c) => inv.charts.push(Chart {
                    name: c.name.clone(),
                    chart: c.chart.clone(),
                    version: c.version.clone(),
                    path: rel(&c.out, &output),
                    sha256: c.digest.hex().to_string(),
                    origin: without_credentials(&c.repo),
                }),
                Step::Files(f) => {
                    for p in &f.files {
                        let source = p.source.recorded();
                        inv.files.push(FileEntry {
                            name: p.name.clone(),
                            path: rel(&f.out.join(&p.name), &output),
                            sha256: p.sha256.clone(),
                            source: without_credentials(&source),
                            executable: p.executable,
                        });
                    }
                }
                _ => {}
            }
        }
        let all_images: Vec<String> = inv.images.iter().map(|i| i.name.clone()).collect();
        for step in cx.steps {
            let (path, kind, contains) = match step {
                Step::Airgap(a) => {
                    let images = (cx.done.archives.iter())
                        .find(|r| r.path == a.out)
                        .map(|r| r.images.clone())
                        .or_else(|| a.only.clone())
                        .unwrap_or_else(|| all_images.clone());
                    (&a.out, ContainerKind::Airgap, images)
                }
                Step::Iso(i) if i.shared => (&i.out, ContainerKind::Iso, Vec::new()),
                Step::Iso(i) => (&i.out, ContainerKind::Iso, payload(cx, &i.payload)),
                Step::Payload(p) => (&p.out, ContainerKind::Iso, payload(cx, &p.payload)),
                _ => continue,
            };
            if !path.is_file() {
                continue;
            }
            let known = (cx.done.isos.iter())
                .find(|s| &s.iso.path == path)
                .and_then(|s| s.iso.sha256.clone())
                .or_else(|| {
                    (cx.done.archives.iter())
                        .find(|r| &r.path == path)
                        .and_then(|r| r.sha256.as_deref().map(hex))
                });
            let sha256 = known.map_or_else(|| cx.sha256(path), Ok)?;
            inv.containers.push(Container {
                path: rel(path, &output),
                sha256,
                kind,
                contains,
            });
        }
        // What a medium carries that is no element yet (the CA, registries.yaml, the
        // charts' HelmChart manifests, the manifests: files).
        let named: Vec<String> = inv.paths().into_iter().map(str::to_string).collect();
        let mut carried: Vec<String> = (inv.containers.iter())
            .filter(|c| c.kind == ContainerKind::Iso)
            .flat_map(|c| c.contains.iter().cloned())
            .filter(|p| !named.contains(p))
            .collect();
        carried.sort();
        carried.dedup();
        for p in carried {
            let sha256 = cx.sha256(&output.join(&p))?;
            inv.others.push(OutFile { path: p, sha256 });
        }
        Ok(inv.sorted())
    }
}

/// `sha` without a `sha256:` prefix.
fn hex(sha: &str) -> String {
    sha.strip_prefix("sha256:").unwrap_or(sha).to_string()
}

/// The payload files of a medium, by their paths in the output.
fn payload(cx: &Cx<'_>, payload: &[crate::seed::PayloadFile]) -> Vec<String> {
    let output = &cx.inputs.output;
    (payload.iter())
        .filter(|p| p.source.starts_with(output))
        .map(|p| rel(&p.source, output))
        .collect()
}

/// Every listed image with the digest the layout names it by and the platform manifests
/// of an index.
fn images(cx: &Cx<'_>, layout: &Path) -> Result<Vec<Image>> {
    let layout = crate::oci::Layout::open(layout)?;
    let index = layout.read_index()?;
    let by_name = index.by_name();
    let sources: BTreeMap<&str, &str> = (cx.inputs.seal.image_sources().iter())
        .map(|(source, destination)| (destination.as_str(), source.as_str()))
        .collect();
    let mut images = Vec::new();
    for e in &cx.inputs.images.entries {
        let name = e.destination.to_string();
        let Some(root) = by_name.get(name.as_str()) else {
            continue;
        };
        let mut manifests = Vec::new();
        if root.media_type == OCI_INDEX || root.media_type == DOCKER_MANIFEST_LIST {
            // A blob never changes under its name: what it lists is remembered with its
            // stat, so that a build with nothing changed opens no blob.
            let path = layout.blob_path(&root.digest);
            let lines = (cx.inputs.state)
                .derived(&path, "sbom manifests", || {
                    let bytes = layout
                        .read_blob(&root.digest)
                        .map_err(std::io::Error::other)?;
                    Ok(index_lines(&bytes))
                })
                .map_err(|e| super::context::io_error(&path, e))?;
            let part = |s: &str| (!s.is_empty()).then(|| s.to_string());
            for l in lines.lines() {
                let mut f = l.split('\t');
                let (Some(digest), Some(os), Some(arch), Some(variant)) =
                    (f.next(), f.next(), f.next(), f.next())
                else {
                    continue;
                };
                manifests.push(PlatformManifest {
                    digest: digest.to_string(),
                    os: part(os),
                    architecture: part(arch),
                    variant: part(variant),
                });
            }
        }
        images.push(Image {
            repository: e.destination.name(),
            tag: e.destination.tag().map(str::to_string),
            digest: root.digest.to_string(),
            source: without_credentials(sources.get(name.as_str()).copied().unwrap_or_default()),
            manifests,
            name,
        });
    }
    Ok(images)
}

/// One line per manifest an index lists: digest, os, architecture and variant,
/// tab-separated (empty when the index does not say); none for a blob that is no index.
fn index_lines(bytes: &[u8]) -> String {
    let Ok(doc) = IndexDoc::parse(bytes) else {
        return String::new();
    };
    let clean = |s: &str| s.replace(['\t', '\n'], " ");
    (doc.manifests.iter())
        .map(|m| {
            let p = m.platform.as_deref();
            format!(
                "{}\t{}\t{}\t{}\n",
                m.digest,
                p.map(|p| clean(&p.os)).unwrap_or_default(),
                p.map(|p| clean(&p.architecture)).unwrap_or_default(),
                p.and_then(|p| p.variant.as_deref().map(clean))
                    .unwrap_or_default()
            )
        })
        .collect()
}

/// The .debs of the bundle at `path`, from its `Packages` index (the tarball's first
/// entry), remembered with the bundle's stat so that an unchanged bundle is not opened
/// again.
fn bundle_debs(cx: &Cx<'_>, path: &Path) -> Result<Vec<Deb>> {
    let io = |e| super::context::io_error(path, e);
    let lines = cx
        .inputs
        .state
        .derived(path, "sbom debs", || read_packages(path))
        .map_err(io)?;
    Ok(lines
        .lines()
        .filter_map(|l| {
            let mut f = l.split('\t');
            Some(Deb {
                name: f.next()?.to_string(),
                version: f.next()?.to_string(),
                arch: f.next()?.to_string(),
                sha256: f.next()?.to_string(),
                filename: f.next()?.to_string(),
            })
        })
        .collect())
}

/// One line per .deb of the bundle at `path`: name, version, architecture, sha256 and
/// file name, tab-separated.
fn read_packages(path: &Path) -> std::io::Result<String> {
    let mut out = String::new();
    for p in crate::debs::bundle::read_packages(path)? {
        let field = |n: &str| p.get(n).unwrap_or_default().replace(['\t', '\n'], " ");
        out.push_str(&format!(
            "{}\t{}\t{}\t{}\t{}\n",
            field("Package"),
            field("Version"),
            field("Architecture"),
            field("SHA256"),
            field("Filename")
        ));
    }
    Ok(out)
}

impl StepKind for Sbom {
    type Report = SbomReport;
    type Kept = ();
    const NAME: &'static str = "sbom";

    fn describe(&self) -> String {
        format!(
            "write {SPDX_FILE} (SPDX 2.3) and {CYCLONEDX_FILE} (CycloneDX 1.6) into {}: every image, .deb, chart and files: entry, and what each archive and ISO carries",
            self.out.display()
        )
    }

    fn artifacts(&self, out: &mut dyn FnMut(PathBuf, Kind)) -> Result<()> {
        out(self.spdx_path(), Kind::Plain);
        out(self.cyclonedx_path(), Kind::Plain);
        Ok(())
    }

    fn fingerprint(&self, cx: &mut Cx<'_>) -> Result<Option<serde_json::Value>> {
        let inventory = self.inventory(cx)?;
        let digest = crate::hashing::hex(&inventory.digest(Self::NAME));
        Ok(Some(serde_json::json!([
            Self::NAME,
            self,
            digest,
            crate::COMMIT
        ])))
    }

    fn restore(&self, cx: &mut Cx<'_>, _: &str, (): ()) -> Result<Option<SbomReport>> {
        Ok(Some(self.report(self.inventory(cx)?)))
    }

    fn run<'p>(&'p self, cx: &mut Cx<'p>) -> Result<Work<'p, SbomReport>> {
        let inventory = self.inventory(cx)?;
        let io = super::context::io_error;
        std::fs::create_dir_all(&self.out).map_err(|e| io(&self.out, e))?;
        for (path, bytes) in [
            (self.spdx_path(), crate::sbom::spdx::spdx(&inventory)),
            (
                self.cyclonedx_path(),
                crate::sbom::cyclonedx::cyclonedx(&inventory),
            ),
        ] {
            if !crate::input::holds(&path, &bytes) {
                crate::util::atomic_write_mode(&path, &bytes, Kind::Plain.mode())
                    .map_err(|e| io(&path, e))?;
            }
            cx.inputs
                .state
                .learn(&path, &crate::hashing::sha256_hex(&bytes));
        }
        Ok(Work::Done(self.report(inventory)))
    }

    fn record(&self, _: &Cx<'_>, _: &SbomReport) -> Result<Option<Record>> {
        Ok(Some(Record::wrote(
            vec![self.spdx_path(), self.cyclonedx_path()],
            &(),
        )))
    }

    fn deliver(report: SbomReport, done: &mut Done) {
        done.sbom = Some(report);
    }
}
