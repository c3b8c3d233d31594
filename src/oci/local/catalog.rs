//! What a local source holds, by name: the images of an OCI layout's `index.json` or of a
//! docker-archive's `manifest.json`, with a map from each name to its image, so that each
//! of the thousands of list entries naming one source picks its image in O(1) instead of
//! scanning (and re-parsing) every name the source has.
//!
//! A name matches an image if it equals one of the image's names, or if both parse as image
//! references that normalise to the same thing (`rancher/pause:3.6` finds
//! `docker.io/rancher/pause:3.6`). An exact match anywhere wins over a normalised one; among
//! several images with the name, the first in the document's order.

use super::source_error;
use crate::image::Reference;
use crate::oci::Result;
use crate::oci::descriptor::{ANNOTATION_CONTAINERD_NAME, ANNOTATION_REF_NAME, Descriptor};
use crate::oci::index::IndexDoc;
use serde::Deserialize;
use std::collections::HashMap;

/// Each name of a source's images to the first image (by position) that has it.
#[derive(Debug, Default)]
struct Names {
    exact: HashMap<String, usize>,
    /// By the normalised reference (`docker.io/library/x:latest`).
    normal: HashMap<Reference, usize>,
}

impl Names {
    fn exact(&mut self, name: &str, i: usize) {
        if !self.exact.contains_key(name) {
            self.exact.insert(name.to_owned(), i);
        }
    }

    fn normal(&mut self, name: &str, i: usize) {
        if let Ok(r) = Reference::parse(name) {
            self.normal.entry(r).or_insert(i);
        }
    }

    fn find(&self, wanted: &str) -> Option<usize> {
        self.exact.get(wanted).copied().or_else(|| {
            let r = Reference::parse(wanted).ok()?;
            self.normal.get(&r).copied()
        })
    }
}

/// An OCI layout's index (a directory's or an archive's), with its names.
#[derive(Debug)]
pub(super) struct OciCatalog {
    index: IndexDoc,
    names: Names,
}

impl OciCatalog {
    pub(super) fn new(index: IndexDoc) -> OciCatalog {
        let mut names = Names::default();
        for (i, d) in index.manifests.iter().enumerate() {
            for key in [ANNOTATION_REF_NAME, ANNOTATION_CONTAINERD_NAME] {
                if let Some(n) = d.annotations.get(key) {
                    names.exact(n, i);
                }
            }
            // Normalised matching looks at the name skopeo and umoci go by.
            if let Some(n) = d.ref_name() {
                names.normal(n, i);
            }
        }
        OciCatalog { index, names }
    }

    /// The image `reference` names; without a name, the index must hold exactly one.
    pub(super) fn select(&self, reference: Option<&str>, source_name: &str) -> Result<Descriptor> {
        let manifests = &self.index.manifests;
        let Some(wanted) = reference else {
            return match manifests.as_slice() {
                [only] => Ok(only.clone()),
                [] => Err(source_error(source_name, "the layout holds no images")),
                many => Err(source_error(
                    source_name,
                    format!(
                        "the layout holds {} images; name one with :REF (available: {})",
                        many.len(),
                        self.available(None)
                    ),
                )),
            };
        };
        match self.names.find(wanted) {
            Some(i) => Ok(manifests[i].clone()),
            None => Err(source_error(
                source_name,
                format!(
                    "no image named {wanted:?} (available: {})",
                    self.available(Some(wanted))
                ),
            )),
        }
    }

    fn available(&self, wanted: Option<&str>) -> String {
        let names: Vec<&str> = (self.index.manifests.iter())
            .filter_map(Descriptor::ref_name)
            .collect();
        if names.is_empty() {
            "no named images".to_string()
        } else {
            crate::suggest::listing(&names, wanted)
        }
    }
}

/// One image of a docker-archive's `manifest.json`.
#[derive(Debug, Deserialize)]
pub(super) struct DockerManifestEntry {
    #[serde(rename = "Config")]
    pub(super) config: String,
    #[serde(rename = "RepoTags", default)]
    pub(super) repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers")]
    pub(super) layers: Vec<String>,
}

/// A docker-archive's `manifest.json`, with its tags.
#[derive(Debug)]
pub(super) struct DockerCatalog {
    entries: Vec<DockerManifestEntry>,
    names: Names,
}

impl DockerCatalog {
    pub(super) fn new(entries: Vec<DockerManifestEntry>) -> DockerCatalog {
        let mut names = Names::default();
        for (i, e) in entries.iter().enumerate() {
            for t in e.repo_tags.iter().flatten() {
                names.exact(t, i);
                names.normal(t, i);
            }
        }
        DockerCatalog { entries, names }
    }

    /// The image `reference` names (a tag, or `@N` for the Nth); without one, the archive
    /// must hold exactly one.
    pub(super) fn select(
        &self,
        reference: Option<&str>,
        name: &str,
    ) -> Result<&DockerManifestEntry> {
        let entries = &self.entries;
        let Some(wanted) = reference else {
            return match entries.as_slice() {
                [only] => Ok(only),
                [] => Err(source_error(name, "manifest.json lists no images")),
                _ => Err(source_error(
                    name,
                    format!(
                        "the archive holds {} images; name one with :REF or :@N (available: {})",
                        entries.len(),
                        self.tags(None)
                    ),
                )),
            };
        };
        if let Some(n) = wanted.strip_prefix('@') {
            let i: usize = n.parse().map_err(|_| {
                source_error(name, format!("{wanted:?} is not an image index like @0"))
            })?;
            return entries.get(i).ok_or_else(|| {
                source_error(
                    name,
                    format!("no image @{i}: the archive holds {}", entries.len()),
                )
            });
        }
        match self.names.find(wanted) {
            Some(i) => Ok(&entries[i]),
            None => Err(source_error(
                name,
                format!(
                    "no image tagged {wanted:?} (available: {})",
                    self.tags(Some(wanted))
                ),
            )),
        }
    }

    fn tags(&self, wanted: Option<&str>) -> String {
        let all: Vec<&str> = (self.entries.iter())
            .flat_map(|e| e.repo_tags.iter().flatten().map(String::as_str))
            .collect();
        if all.is_empty() {
            "untagged images only".to_string()
        } else {
            crate::suggest::listing(&all, wanted)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::descriptor::OCI_MANIFEST;
    use crate::oci::digest::Digest;
    use crate::oci::index::named;

    fn index(names: &[&str]) -> IndexDoc {
        IndexDoc {
            manifests: (names.iter().enumerate())
                .map(|(i, n)| {
                    let d = Descriptor::new(OCI_MANIFEST, Digest::of(&[i as u8]), 1);
                    named(d, n)
                })
                .collect(),
            ..IndexDoc::default()
        }
    }

    #[test]
    fn exact_names_win_then_normalised_ones_first_in_order() {
        let idx = index(&[
            "docker.io/rancher/pause:3.6",
            "rancher/pause:3.6",
            "docker.io/library/busybox:latest",
            "docker.io/rancher/pause:3.6",
        ]);
        let c = OciCatalog::new(idx.clone());
        let pick = |w: &str| c.select(Some(w), "src").map(|d| d.digest);
        // Exact: the second entry's own name, though the first normalises to it too.
        assert_eq!(pick("rancher/pause:3.6").unwrap(), idx.manifests[1].digest);
        // Exact duplicates: the first.
        assert_eq!(
            pick("docker.io/rancher/pause:3.6").unwrap(),
            idx.manifests[0].digest
        );
        // Normalised: `busybox` is docker.io/library/busybox:latest.
        assert_eq!(pick("busybox").unwrap(), idx.manifests[2].digest);
        let err = pick("nginx:1").unwrap_err().to_string();
        assert!(err.contains("no image named \"nginx:1\""), "{err}");
        assert!(err.contains("docker.io/library/busybox:latest"), "{err}");
    }

    #[test]
    fn docker_tags_by_name_by_position_and_normalised() {
        let entry = |tags: &[&str]| DockerManifestEntry {
            config: format!("{}.json", tags.len()),
            repo_tags: Some(tags.iter().map(|t| t.to_string()).collect()),
            layers: Vec::new(),
        };
        let c = DockerCatalog::new(vec![
            entry(&["busybox:1.36"]),
            entry(&["example.com/a/b:1", "example.com/a/b:latest"]),
        ]);
        let pick = |w: &str| c.select(Some(w), "src").map(|e| e.config.clone());
        assert_eq!(pick("docker.io/library/busybox:1.36").unwrap(), "1.json");
        assert_eq!(pick("example.com/a/b").unwrap(), "2.json");
        assert_eq!(pick("@1").unwrap(), "2.json");
        assert!(pick("@2").is_err());
        assert!(c.select(None, "src").is_err(), "two images, none named");
    }
}
