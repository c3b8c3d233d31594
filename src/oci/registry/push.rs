//! Pushing every image of a layout into a registry, with every digest preserved.
//!
//! Each image goes to its destination name rebased onto the target registry
//! (`docker.io/rancher/pause:3.6` → `HOST:PORT/rancher/pause:3.6`). Blobs go first, each
//! unique blob uploaded once (streamed from the store, never held in memory); a blob that
//! another repository of the same push already received is mounted across repositories
//! instead, and blobs the registry already has are skipped. Manifests and indexes are then
//! pushed byte for byte — child manifests by digest, the root by tag — so the digests in
//! the registry are the digests in the layout.

use super::RegistryError;
use super::client::RegistryClient;
use super::registries::Registries;
use crate::image::Reference;
use crate::oci::attached::AttachedKind;
use crate::oci::descriptor::{Descriptor, ManifestDoc, ManifestKind};
use crate::oci::{Digest, Layout, OciError, Result};
use crate::report::Reporter;
use bytes::Bytes;
use futures_util::stream::{self, StreamExt};
use oci_client::RegistryOperation;
use oci_client::errors::OciDistributionError;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use tokio::io::AsyncReadExt;

/// Where and how to push.
#[derive(Debug, Clone)]
pub struct PushOptions {
    /// The target registry, `HOST[:PORT]`.
    pub registry: String,
    /// Blobs uploaded at the same time.
    pub concurrency: usize,
    /// Where the nodes ask the registry for each image (a build output's
    /// `registries.yaml` rewrites): an image goes to its repository as these rules make it.
    pub rewrites: crate::image::Rewrites,
}

/// One pushed image.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PushedImage {
    /// Its name in the layout.
    pub source: String,
    /// Where it went (`HOST:PORT/repo:tag`).
    pub target: String,
    /// The digest of its root manifest or index (unchanged by the push).
    pub digest: String,
}

/// What a push did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PushReport {
    /// The images, in `index.json` order.
    pub images: Vec<PushedImage>,
    /// Blobs uploaded.
    pub blobs_uploaded: usize,
    /// Bytes uploaded.
    pub bytes_uploaded: u64,
    /// Blobs mounted from another repository of the same registry.
    pub blobs_mounted: usize,
    /// Blobs the registry already had in the target repository.
    pub blobs_present: usize,
}

/// One image to push: its target, its documents (manifests and index, pushed in order)
/// and the blobs they need.
struct Plan {
    source: String,
    target: Reference,
    root: Descriptor,
    /// Whether it is stored with an image (a signature, a referrer…): pushed after the
    /// images.
    is_attached: bool,
    /// For a referrer stored with an image: the digest it refers to.
    referrer_of: Option<Digest>,
    /// Child manifests (by digest) then the root, with their bytes.
    documents: Documents,
    blobs: Vec<Descriptor>,
}

/// Pushes every named image of `layout` into `options.registry`, reporting each blob as
/// an item (with its bytes while it uploads).
pub fn push_layout(
    layout: &Layout,
    registries: &Registries,
    options: &PushOptions,
    reporter: &dyn Reporter,
) -> Result<PushReport> {
    let plans = plan(layout, &options.registry, &options.rewrites)?;
    let client = registries.client(&options.registry, &layout.root().display().to_string())?;
    let runtime = registries.runtime()?;
    runtime.block_on(push_all(
        layout,
        &client,
        &plans,
        options.concurrency.max(1),
        reporter,
    ))
}

/// Progress of the blobs of one push: how many began, out of how many.
struct Progress<'a> {
    reporter: &'a dyn Reporter,
    started: AtomicUsize,
    total: usize,
}

impl Progress<'_> {
    /// Reports `blob` (of `image`) begun; returns its label.
    fn start(&self, image: &str, blob: &Descriptor) -> String {
        let hex = blob.digest.hex();
        let label = format!("{image} {}", &hex[..hex.len().min(12)]);
        let i = self.started.fetch_add(1, Ordering::Relaxed);
        self.reporter.item_started(&label, i, self.total);
        label
    }
}

/// Reads every image's documents from the layout and names its target.
fn plan(layout: &Layout, registry: &str, rewrites: &crate::image::Rewrites) -> Result<Vec<Plan>> {
    let index = layout.read_index()?;
    let mut plans = Vec::new();
    // The first plan for each target: a second image for it is a collision.
    let mut first_at: HashMap<String, usize> = HashMap::new();
    for entry in &index.manifests {
        let name = entry.ref_name().ok_or_else(|| OciError::Source {
            source_name: layout.root().display().to_string(),
            message: format!(
                "index.json entry {} has no image name to push it under",
                entry.digest
            ),
        })?;
        let reference = Reference::parse(name).map_err(|e| OciError::Source {
            source_name: layout.root().display().to_string(),
            message: format!("image name {name:?} is not a full reference: {e}"),
        })?;
        // A referrer stored with an image is named by its digest and pushed by it.
        let at = match (reference.tag(), reference.digest()) {
            (None, Some(digest)) => format!("@{digest}"),
            (tag, _) => format!(":{}", tag.unwrap_or("latest")),
        };
        // The repository the nodes ask for: its own, or as a mirror's rewrite makes it.
        let repository = rewrites
            .served(reference.registry(), reference.repository())
            .map_err(|e| OciError::Source {
                source_name: name.to_string(),
                message: format!("{e}; nothing was pushed"),
            })?;
        let target = Reference::parse(&format!("{registry}/{repository}{at}")).map_err(|e| {
            OciError::Source {
                source_name: name.to_string(),
                message: format!("cannot rebase onto {registry}: {e}"),
            }
        })?;
        let first = *first_at.entry(target.to_string()).or_insert(plans.len());
        if let Some(other) = plans
            .get(first)
            .filter(|p: &&Plan| p.root.digest != entry.digest)
        {
            return Err(OciError::Source {
                source_name: layout.root().display().to_string(),
                message: format!(
                    "{} and {} are different images that would both be {target}: the registry would keep only the last one pushed; nothing was pushed. Give one of them another name in the image list (its DESTINATION) and build again",
                    other.source, name
                ),
            });
        }
        let root = Descriptor::new(&entry.media_type, entry.digest.clone(), entry.size);
        let (documents, blobs) = walk(layout, &root, name)?;
        let attached = crate::oci::attached::of_entry(entry);
        let referrer_of = (attached.as_ref())
            .filter(|(_, kind, _)| *kind == AttachedKind::Referrer)
            .map(|(_, _, subject)| subject.clone());
        plans.push(Plan {
            source: name.to_string(),
            target,
            root,
            is_attached: attached.is_some(),
            referrer_of,
            documents,
            blobs,
        });
    }
    // Images first, then what is stored with them (a signature tag names an image that
    // is already there).
    plans.sort_by_key(|p| p.is_attached);
    Ok(plans)
}

/// Manifests with their bytes, in push order.
type Documents = Vec<(Descriptor, Vec<u8>)>;

/// The documents (children first, root last) and blobs of one image.
fn walk(layout: &Layout, root: &Descriptor, name: &str) -> Result<(Documents, Vec<Descriptor>)> {
    let parse = |d: &Descriptor| -> Result<(Vec<u8>, ManifestDoc)> {
        let bytes = layout.read_blob(&d.digest)?;
        let doc = ManifestDoc::parse(&bytes).map_err(|source| OciError::Json {
            context: format!("{name}: manifest {}", d.digest),
            source,
        })?;
        Ok((bytes, doc))
    };
    let (root_bytes, root_doc) = parse(root)?;
    let mut documents = Vec::new();
    let mut blobs = Vec::new();
    let manifests = match root_doc.kind(Some(&root.media_type)) {
        Some(ManifestKind::Index) => {
            let mut docs = Vec::new();
            for child in root_doc.manifests.iter().flatten() {
                let (bytes, doc) = parse(child)?;
                documents.push((child.clone(), bytes));
                docs.push(doc);
            }
            docs
        }
        _ => vec![root_doc],
    };
    for m in &manifests {
        blobs.extend(m.image_blobs().into_iter().cloned());
    }
    documents.push((root.clone(), root_bytes));
    Ok((documents, blobs))
}

/// What happened to one blob in one repository.
enum BlobResult {
    Present,
    Mounted,
    Uploaded(u64),
}

async fn push_all(
    layout: &Layout,
    client: &Arc<RegistryClient>,
    plans: &[Plan],
    concurrency: usize,
    reporter: &dyn Reporter,
) -> Result<PushReport> {
    for repo in plans
        .iter()
        .map(|p| p.target.repository())
        .collect::<HashSet<_>>()
    {
        let reference = client.reference(repo, "latest");
        client
            .retry_oci(repo, "authentication", || {
                client
                    .oci()
                    .auth(&reference, client.auth(), RegistryOperation::Push)
            })
            .await?;
    }
    // Each blob's first repository receives it by upload; the others mount it from there.
    let mut first_repo: BTreeMap<Digest, (String, Descriptor, String)> = BTreeMap::new();
    let mut later: Vec<(String, Descriptor, String, String)> = Vec::new();
    for p in plans {
        let repo = p.target.repository().to_string();
        for b in &p.blobs {
            match first_repo.get(&b.digest) {
                None => {
                    first_repo.insert(
                        b.digest.clone(),
                        (repo.clone(), b.clone(), p.source.clone()),
                    );
                }
                Some((r, _, _)) if *r != repo => {
                    later.push((repo.clone(), b.clone(), r.clone(), p.source.clone()));
                }
                Some(_) => {}
            }
        }
    }
    later.sort_by(|a, b| (&a.0, &a.1.digest).cmp(&(&b.0, &b.1.digest)));
    later.dedup_by(|a, b| a.0 == b.0 && a.1.digest == b.1.digest);
    let mut report = PushReport::default();
    let progress = Progress {
        reporter,
        started: AtomicUsize::new(0),
        total: first_repo.len() + later.len(),
    };
    let uploads = first_repo
        .values()
        .map(|(repo, blob, image)| push_blob(layout, client, repo, blob, None, image, &progress));
    tally(&mut report, run_bounded(uploads, concurrency).await?);
    let mounts = later.iter().map(|(repo, blob, from, image)| {
        push_blob(layout, client, repo, blob, Some(from), image, &progress)
    });
    tally(&mut report, run_bounded(mounts, concurrency).await?);
    for p in plans {
        push_documents(client, p).await?;
        report.images.push(PushedImage {
            source: p.source.clone(),
            target: p.target.to_string(),
            digest: p.root.digest.to_string(),
        });
    }
    super::referrers::write_fallback_tags(
        client,
        plans.iter().filter_map(|p| {
            let subject = p.referrer_of.as_ref()?;
            let (_, bytes) = p.documents.last()?;
            Some((p.target.repository(), subject, &p.root, bytes.as_slice()))
        }),
    )
    .await?;
    Ok(report)
}

async fn run_bounded<F>(futures: impl Iterator<Item = F>, n: usize) -> Result<Vec<BlobResult>>
where
    F: Future<Output = Result<BlobResult>>,
{
    let results: Vec<Result<BlobResult>> =
        stream::iter(futures).buffer_unordered(n).collect().await;
    results.into_iter().collect()
}

fn tally(report: &mut PushReport, results: Vec<BlobResult>) {
    for r in results {
        match r {
            BlobResult::Present => report.blobs_present += 1,
            BlobResult::Mounted => report.blobs_mounted += 1,
            BlobResult::Uploaded(n) => {
                report.blobs_uploaded += 1;
                report.bytes_uploaded += n;
            }
        }
    }
}

/// Makes `blob` present in `repo` (see [`put_blob`]), reporting it as one item.
async fn push_blob(
    layout: &Layout,
    client: &RegistryClient,
    repo: &str,
    blob: &Descriptor,
    mount_from: Option<&str>,
    image: &str,
    progress: &Progress<'_>,
) -> Result<BlobResult> {
    let label = progress.start(image, blob);
    let result = put_blob(layout, client, repo, blob, mount_from, image, &|n| {
        progress.reporter.item_progress(&label, n);
    })
    .await;
    let detail = match &result {
        Ok(BlobResult::Present) => "already there".to_string(),
        Ok(BlobResult::Mounted) => "mounted".to_string(),
        Ok(BlobResult::Uploaded(n)) => format!("uploaded {}", crate::util::human_bytes(*n)),
        Err(e) => format!("failed: {e}"),
    };
    progress.reporter.item_finished(&label, &detail);
    result
}

/// Makes `blob` present in `repo`: skipped if there, mounted from `mount_from` if given
/// and the registry agrees, uploaded otherwise; `sent` hears of the bytes of an upload as
/// they go (every [`TICK`]).
async fn put_blob(
    layout: &Layout,
    client: &RegistryClient,
    repo: &str,
    blob: &Descriptor,
    mount_from: Option<&str>,
    image: &str,
    sent: &(dyn Fn(u64) + Sync),
) -> Result<BlobResult> {
    let target = client.reference(repo, "latest");
    let digest = blob.digest.to_string();
    let exists = client
        .retry_oci(image, &format!("HEAD blob {digest}"), || {
            client.oci().blob_exists(&target, &digest)
        })
        .await?;
    if exists {
        return Ok(BlobResult::Present);
    }
    if let Some(from) = mount_from {
        let source = client.reference(from, "latest");
        if client
            .oci()
            .mount_blob(&target, &source, &digest)
            .await
            .is_ok()
        {
            return Ok(BlobResult::Mounted);
        }
    }
    let path = layout.blob_path(&blob.digest);
    // The stream counts what it read; the count is reported from here, where the reporter
    // lives, while the upload runs. A retried upload starts its count again.
    let read = Arc::new(AtomicU64::new(0));
    let what = format!("upload of blob {digest}");
    let upload = client.retry_oci(image, &what, || {
        read.store(0, Ordering::Relaxed);
        let stream = file_stream(path.clone(), Arc::clone(&read));
        client
            .oci()
            .push_blob_stream(&target, stream, &digest, Some(blob.size))
    });
    tokio::pin!(upload);
    let mut told = 0u64;
    let tell = |told: &mut u64| {
        let now = read.load(Ordering::Relaxed).min(blob.size);
        if now > *told {
            sent(now - *told);
            *told = now;
        }
    };
    let mut tick = tokio::time::interval(TICK);
    let result = loop {
        tokio::select! {
            result = &mut upload => break result,
            _ = tick.tick() => tell(&mut told),
        }
    };
    result?;
    read.store(blob.size, Ordering::Relaxed);
    tell(&mut told);
    Ok(BlobResult::Uploaded(blob.size))
}

/// How often the bytes of an upload are reported.
const TICK: std::time::Duration = std::time::Duration::from_millis(200);

/// A stored blob as a stream of 1 MiB chunks; `read` counts the bytes handed out.
fn file_stream(
    path: PathBuf,
    read: Arc<AtomicU64>,
) -> impl futures_util::Stream<Item = std::result::Result<Bytes, OciDistributionError>> + Send + 'static
{
    stream::unfold(Some((path, None::<tokio::fs::File>)), move |state| {
        let read = Arc::clone(&read);
        async move {
            let (path, file) = state?;
            let mut file = match file {
                Some(f) => f,
                None => match crate::input::open_regular(&path) {
                    Ok(f) => tokio::fs::File::from_std(f),
                    Err(e) => return Some((Err(e.into_io().into()), None)),
                },
            };
            let mut buf = vec![0u8; 1 << 20];
            match file.read(&mut buf).await {
                Ok(0) => None,
                Ok(n) => {
                    buf.truncate(n);
                    read.fetch_add(n as u64, Ordering::Relaxed);
                    Some((Ok(Bytes::from(buf)), Some((path, Some(file)))))
                }
                Err(e) => Some((Err(e.into()), None)),
            }
        }
    })
}

/// Pushes an image's manifests (children by digest) and then its root under its tag.
async fn push_documents(client: &RegistryClient, p: &Plan) -> Result<()> {
    let repo = p.target.repository();
    let tag = p.target.tag();
    let image = p.target.to_string();
    let mut by_digest: HashMap<&Digest, ()> = HashMap::new();
    for (d, bytes) in &p.documents {
        let is_root = d.digest == p.root.digest;
        if !is_root && by_digest.insert(&d.digest, ()).is_some() {
            continue;
        }
        let reference = if let (true, Some(tag)) = (is_root, tag) {
            client.reference(repo, tag)
        } else {
            oci_client::Reference::with_digest(
                client.host().to_string(),
                repo.to_string(),
                d.digest.to_string(),
            )
        };
        let content_type = reqwest::header::HeaderValue::from_str(&d.media_type).map_err(|_| {
            RegistryError::Protocol {
                registry: client.host().to_string(),
                image: image.clone(),
                message: format!("media type {:?} cannot be sent", d.media_type),
            }
        })?;
        let body = Bytes::from(bytes.clone());
        client
            .retry_oci(&image, &format!("PUT manifest {}", d.digest), || {
                client
                    .oci()
                    .push_manifest_raw(&reference, body.clone(), content_type.clone())
            })
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::ImageSource;
    use crate::oci::Platform;
    use crate::oci::copy::{copy_image, select};

    #[test]
    fn the_original_a_subset_names_is_neither_pushed_nor_walked() {
        let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/images");
        let source = ImageSource::parse("oci:oci:mirrored-pause:3.6", &fixtures).unwrap();
        let reader = crate::oci::local::open(&source, &Registries::offline()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::create(dir.path()).unwrap();
        let dest = "docker.io/rancher/mirrored-pause:3.6";
        let mut sel = select(reader.as_ref(), dest, &[Platform::linux_amd64()]).unwrap();
        sel.keep_original();
        let outcome = copy_image(reader.as_ref(), &sel, &layout, dest, &mut |_| {}).unwrap();
        let original = &reader.root().digest;
        assert!(layout.has_blob(original, reader.root().size));
        let plans = plan(&layout, "127.0.0.1:5000", &Default::default()).unwrap();
        assert_eq!(plans.len(), 1);
        let p = &plans[0];
        assert_eq!(p.root.digest, outcome.entry.digest);
        // The amd64 manifest by digest, then the stored index: nothing else.
        let documents: Vec<&Digest> = p.documents.iter().map(|(d, _)| &d.digest).collect();
        assert_eq!(documents.len(), 2, "{documents:?}");
        assert_eq!(documents[1], &outcome.entry.digest);
        assert!(!documents.contains(&original));
        assert!(p.blobs.iter().all(|b| &b.digest != original));
    }

    #[test]
    fn two_images_on_one_target_are_refused_and_stored_artifacts_go_last() {
        let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/images");
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::create(dir.path()).unwrap();
        let copy = |fixture: &str, dest: &str| {
            let source = ImageSource::parse(&format!("oci:oci:{fixture}"), &fixtures).unwrap();
            let reader = crate::oci::local::open(&source, &Registries::offline()).unwrap();
            let sel = select(reader.as_ref(), dest, &[Platform::linux_amd64()]).unwrap();
            copy_image(reader.as_ref(), &sel, &layout, dest, &mut |_| {}).unwrap()
        };
        // A signature-like entry stored with the first image, named before the images.
        let signed = copy("klipper-lb:v0.4.13", "docker.io/acme/web:1");
        let sig = copy("mirrored-pause:3.6", "docker.io/acme/a:sha256-aa.sig");
        let entry = crate::oci::attached::annotate(
            sig.entry,
            "docker.io/acme/web:1",
            crate::oci::attached::AttachedKind::Signature,
            &signed.entry.digest,
        );
        layout.add_to_index(vec![entry]).unwrap();
        copy("klipper-lb:v0.4.13", "ghcr.io/acme/web:1");
        let plans = plan(&layout, "127.0.0.1:5000", &Default::default()).unwrap();
        let order: Vec<bool> = plans.iter().map(|p| p.is_attached).collect();
        assert_eq!(order, vec![false, false, true], "images first");
        // Another image on the same target: refused, naming both.
        copy("mirrored-pause:3.6", "quay.io/acme/web:1");
        let err = plan(&layout, "127.0.0.1:5000", &Default::default())
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("quay.io/acme/web:1"), "{err}");
        assert!(
            err.contains("would both be 127.0.0.1:5000/acme/web:1"),
            "{err}"
        );
    }

    #[test]
    fn a_mirrors_rewrite_moves_its_registrys_images_and_only_those() {
        let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/images");
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::create(dir.path()).unwrap();
        for dest in ["docker.io/rancher/pause:1", "quay.io/rancher/pause:2"] {
            let source = ImageSource::parse("oci:oci:mirrored-pause:3.6", &fixtures).unwrap();
            let reader = crate::oci::local::open(&source, &Registries::offline()).unwrap();
            let sel = select(reader.as_ref(), dest, &[Platform::linux_amd64()]).unwrap();
            copy_image(reader.as_ref(), &sel, &layout, dest, &mut |_| {}).unwrap();
        }
        let rules: std::collections::BTreeMap<String, String> =
            [("^rancher/(.*)".to_string(), "mirror/rancher/$1".to_string())].into();
        let rewrites = crate::image::Rewrites::new([("docker.io", &rules)]).unwrap();
        let plans = plan(&layout, "127.0.0.1:5000", &rewrites).unwrap();
        let targets: Vec<String> = plans.iter().map(|p| p.target.to_string()).collect();
        assert_eq!(
            targets,
            [
                "127.0.0.1:5000/mirror/rancher/pause:1",
                "127.0.0.1:5000/rancher/pause:2"
            ]
        );
        // Two rules that disagree: nothing is pushed.
        let both: std::collections::BTreeMap<String, String> = [
            ("^rancher/(.*)".to_string(), "a/$1".to_string()),
            ("pause".to_string(), "stop".to_string()),
        ]
        .into();
        let rewrites = crate::image::Rewrites::new([("docker.io", &both)]).unwrap();
        let err = plan(&layout, "127.0.0.1:5000", &rewrites)
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("random order") && err.contains("nothing was pushed"),
            "{err}"
        );
    }
}
