//! From a config to an ordered list of steps. `seedforge plan` prints the steps without
//! writing anything; `seedforge build` runs them. Everything that can be checked without
//! writing (the config, every image list, every local image source) is checked while
//! planning, so a bad input fails before the output directory is touched. A build skips
//! the steps whose inputs and outputs are unchanged since the last one ([`crate::pipeline::state`]).

use crate::config::Config;
use crate::debs::{BundleReport, PreparedBundle};
use crate::image::ImageList;
use crate::iso::IsoSummary;
use crate::net::{Net, NetSettings};
use crate::oci::Layout;
use crate::oci::OciError;
use crate::oci::Platform;
use crate::oci::archive::{
    ArchiveOptions, ArchiveReport, Compression, choose_compression, write_archive,
};
use crate::oci::mirror::{
    MirrorOptions, MirroredImage, PreparedImage, mirror_prepared, prepare, prepare_with,
};
use crate::oci::registry::lockfile::LockFile;
use crate::oci::registry::{Registries, RegistryAccess};
use crate::oci::verify::{VerifyReport, verify_with};
use crate::pipeline::offline::Offline;
use crate::pipeline::state::BuildState;
use crate::pki::{self, PkiReport, PkiSettings};
use crate::preflight::{check_airgap_images, required_images};
use crate::render::NodeFiles;
use crate::report::Reporter;
use crate::seed::{
    PayloadFile, PayloadMode, write_payload_iso, write_seed_iso, write_shared_seed_iso,
};
use crate::{Error, Result};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;
use std::path::PathBuf;
use std::sync::Arc;

mod incremental;
pub mod outdir;

/// The shared payload ISO's file name under `OUT/iso/` (`seeds: {payload: shared}`).
pub const PAYLOAD_ISO: &str = "payload.iso";
pub use crate::pipeline::step::Step;
pub use incremental::StepRun;

/// A checked, ready-to-run build. Image sources are opened and their platforms chosen
/// while planning (that is how they are checked), and kept for the run.
pub struct Plan {
    /// The output directory.
    pub output: PathBuf,
    /// The steps, in order.
    pub steps: Vec<Step>,
    /// Every image to mirror, from all lists.
    pub images: ImageList,
    /// Mirror settings.
    pub mirror: MirrorOptions,
    /// The opened, platform-selected images, one per image entry.
    prepared: Vec<PreparedImage>,
    /// The resolved package bundles, one per `Packages` step.
    bundles: Vec<PreparedBundle>,
    /// The PKI step's settings (secrets resolved); `None` without a registry, when the
    /// step writes only the embedded registry mirror's `registries.yaml`.
    pki: Option<PkiSettings>,
    /// Every node's rendered, validated files.
    nodes: Vec<NodeFiles>,
    /// `seedforge.lock` and the pins to write there after mirroring (`None` with
    /// `--locked`, which only checks, and `--offline`, which only reads it); it is written
    /// only when it pins something.
    lock: Option<(PathBuf, LockFile)>,
    /// What the seal records about the inputs.
    seal: crate::pipeline::seal::SealPlan,
    /// `--offline`: where registry images are in the layout, and the bundles kept.
    offline: Option<Offline>,
    /// Bundle name → inputs digest, for each bundle from an http(s) repository whose pin
    /// the lock records once it is written.
    bundle_inputs: BTreeMap<String, String>,
    /// What the last build in the output folder did (empty with `--force`).
    state: BuildState,
}

impl std::fmt::Debug for Plan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plan")
            .field("output", &self.output)
            .field("steps", &self.steps)
            .field("images", &self.images.entries.len())
            .finish()
    }
}

/// What a build did.
#[derive(Debug, Serialize)]
pub struct BuildReport {
    /// The output directory.
    pub output: PathBuf,
    /// Every step, in order: whether it ran or was skipped (unchanged), and its time.
    pub steps: Vec<StepRun>,
    /// The images mirrored.
    pub images: Vec<MirroredImageReport>,
    /// The verification of the layout.
    pub verify: VerifyReport,
    /// The airgap archives written.
    pub airgap: Vec<ArchiveReport>,
    /// The package bundles written.
    pub packages: Vec<BundleReport>,
    /// The registry PKI and configs.
    pub pki: Option<PkiReport>,
    /// The node folders written.
    pub nodes: Vec<PathBuf>,
    /// The seed ISOs written.
    pub iso: Vec<IsoSummary>,
    /// The `files:` payload written.
    pub files: Vec<crate::files::FileReport>,
    /// `SHA256SUMS` and `manifest.json`.
    pub seal: Option<crate::pipeline::seal::SealReport>,
    /// The seed ISOs copied into `export_dir`.
    pub export: Option<crate::pipeline::export::ExportReport>,
}

impl BuildReport {
    /// True when the step `name` (the one that wrote `out`, for steps that write one file
    /// each) was skipped as unchanged: its report is the one kept from the build that ran it.
    pub fn kept(&self, name: &str, out: Option<&Path>) -> bool {
        let key = match out {
            Some(out) => incremental::output_key(name, out),
            None => name.to_string(),
        };
        self.steps
            .iter()
            .any(|s| s.key == key && s.status == "skipped")
    }
}

/// One mirrored image, for reports.
#[derive(Debug, Serialize)]
pub struct MirroredImageReport {
    /// Destination reference.
    pub destination: String,
    /// Source as listed.
    pub source: String,
    /// Digest of the stored manifest or index.
    pub digest: String,
    /// Media type of the stored manifest or index.
    pub media_type: String,
    /// Platforms stored.
    pub platforms: Vec<String>,
    /// Blobs written by this run.
    pub blobs_written: usize,
    /// Bytes written by this run.
    pub bytes_written: u64,
}

impl From<&MirroredImage> for MirroredImageReport {
    fn from(m: &MirroredImage) -> Self {
        MirroredImageReport {
            destination: m.destination.clone(),
            source: m.source.clone(),
            digest: m.outcome.entry.digest.to_string(),
            media_type: m.outcome.entry.media_type.clone(),
            platforms: m.outcome.platforms.clone(),
            blobs_written: m.outcome.blobs_written,
            bytes_written: m.outcome.bytes_written,
        }
    }
}

/// How to plan.
#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    /// Every registry tag must resolve to the digest `seedforge.lock` pins.
    pub locked: bool,
    /// Never touch the network: registry images and remote bundles come from the output
    /// folder as the lock records them (see [`crate::pipeline::offline`]).
    pub offline: bool,
    /// Ignore what the last build recorded (`OUT/.seedforge/state.json`): every step runs
    /// and every file is hashed again.
    pub force: bool,
    /// The download cache the packages step takes indexes and .debs from (and stores them
    /// in); `None` downloads everything.
    pub deb_cache: Option<Arc<crate::debs::cache::DebCache>>,
    /// The run's secrets: passwords found in other tools' auth files are registered here.
    pub secrets: crate::redact::Secrets,
    /// The run's staging paths, removed on SIGINT or SIGTERM (the packages step's).
    pub staging: crate::leftovers::Staging,
}

/// Plans a build of `config` into `output` (the config's `output` when `None`). With
/// `locked`, every registry tag must resolve to the digest `seedforge.lock` pins.
pub fn plan(config: &Config, output: Option<PathBuf>, locked: bool) -> Result<Plan> {
    plan_with(
        config,
        output,
        PlanOptions {
            locked,
            ..PlanOptions::default()
        },
    )
}

/// [`plan`] with every option.
pub fn plan_with(config: &Config, output: Option<PathBuf>, options: PlanOptions) -> Result<Plan> {
    plan_with_net(config, output, options, &NetSettings::default())
}

/// [`plan_with`] on a network with `net`'s limits, retry policy and CA files (the
/// config's `registries[].ca_file` are added per host; `--offline` makes it refuse every
/// connection).
pub fn plan_with_net(
    config: &Config,
    output: Option<PathBuf>,
    options: PlanOptions,
    net: &NetSettings,
) -> Result<Plan> {
    let output = output.unwrap_or_else(|| config.output.clone());
    // Read only: a build writes it back step by step.
    let state = BuildState::load(&output, options.force);
    let images = ImageList::load_all(config.images.lists.iter().map(|(path, _)| path))?;
    outdir::check(config, &output, &images)?;
    // Offline: everything the network would give must already be in the lock and the
    // output folder; whatever is not fails here, all named at once.
    let offline = if options.offline {
        Some(Offline::check(
            config,
            &output,
            &images.entries,
            &config.images.platforms,
            source_date_epoch(config),
        )?)
    } else {
        None
    };
    // Offline, no secret is resolved and no auth file read: nothing would use them.
    let mut access = RegistryAccess::new(options.secrets.clone());
    if offline.is_none() {
        access.add_config(&config.registries, &config.path)?;
        access.add_auth_files(None).map_err(OciError::from)?;
    }
    let settings = NetSettings {
        offline: offline.is_some(),
        ..access.net_settings(net.clone())
    };
    let registries = Registries::new(access, Arc::new(Net::new(settings)));
    let mirror = MirrorOptions {
        platforms: config.images.platforms.clone(),
        concurrency: config.images.concurrency,
        registries: Arc::new(registries),
        keep_going: false,
        // What an earlier build mirrored is not fetched again to prepare this one.
        known_layout: Some(output.join("oci")),
    };
    let (prepared, lock) = match &offline {
        Some(o) => (
            prepare_with(&images.entries, &mirror, &|e| o.open(e))?,
            None,
        ),
        None => {
            let prepared = prepare(&images.entries, &mirror)?;
            let lock = check_lock(config, &prepared, options.locked)?;
            (prepared, lock)
        }
    };
    preflight_airgap(config, &images)?;
    let layout = output.join("oci");
    let mut steps = vec![
        Step::Mirror {
            lists: config.images.lists.iter().map(|(p, _)| p.clone()).collect(),
            layout: layout.clone(),
            platforms: mirror.platforms.clone(),
            images: images.entries.len(),
            concurrency: mirror.concurrency,
            offline: offline.is_some(),
        },
        Step::Verify {
            layout: layout.clone(),
        },
    ];
    steps.extend(airgap_steps(config, &output, &layout, &images, &prepared)?);
    let bundles = prepare_bundles(
        config,
        offline.as_ref(),
        mirror.registries.net(),
        options.deb_cache.as_ref(),
        &options.staging,
    )?;
    for b in &config.packages {
        let (name, out, mtime) = (
            b.name.clone(),
            crate::pipeline::offline::bundle_path(&output, &b.name),
            source_date_epoch(config),
        );
        if let Some(k) = offline.as_ref().and_then(|o| o.kept(&b.name)) {
            steps.push(Step::Packages {
                source: format!("{} (offline: kept as built before)", k.origin),
                requested: k.requested,
                debs: k.debs,
                name,
                out,
                mtime,
            });
        } else if let Some(p) = bundles.iter().find(|p| p.spec.name == b.name) {
            steps.push(Step::Packages {
                source: p.universe.origin.clone(),
                requested: p.requests.len(),
                debs: p.closure.packages.len(),
                name,
                out,
                mtime,
            });
        }
    }
    let bundle_inputs = match lock {
        Some(_) => {
            crate::pipeline::offline::remote_bundle_inputs(config, source_date_epoch(config))?
        }
        None => BTreeMap::new(),
    };
    let upstreams = images.entries.iter().map(|e| e.destination.registry());
    let pki = config.pki_settings(upstreams.clone(), source_date(config))?;
    steps.push(pki_step(config, &output, pki.as_ref(), upstreams)?);
    if !config.files.is_empty() {
        let generated: Vec<String> = payload_files(&steps).into_iter().map(|p| p.name).collect();
        steps.push(Step::Files {
            out: output.join("files"),
            files: crate::files::plan_with(
                &config.files,
                &config.path,
                &config.dir,
                &generated,
                &|p| state.sha256(p),
            )?,
        });
    }
    // Rendered and validated now, so a template mistake fails the plan before anything is
    // written.
    let nodes = crate::render::render_all(&config.render_settings()?)?;
    if !nodes.is_empty() {
        steps.push(Step::Render {
            out: output.join("nodes"),
            nodes: nodes.iter().map(|n| n.node.clone()).collect(),
        });
        let payload = payload_files(&steps);
        let shared = config.seeds.payload == PayloadMode::Shared;
        if shared {
            steps.push(Step::Payload {
                out: output.join("iso").join(PAYLOAD_ISO),
                payload: payload.clone(),
                mtime: source_date_epoch(config),
            });
        }
        steps.extend(nodes.iter().map(|n| Step::Iso {
            node: n.node.clone(),
            out: output.join("iso").join(format!("seed-{}.iso", n.node)),
            // A shared seed names the one payload ISO's payload, whole.
            payload: if shared {
                payload.clone()
            } else {
                node_payload(config, &n.node, &payload)
            },
            mtime: source_date_epoch(config),
            shared,
        }));
    }
    let seal = crate::pipeline::seal::SealPlan::new(config, &images, &steps, source_date(config))?;
    steps.push(Step::Seal {
        out: output.clone(),
    });
    if let Some(dir) = &config.export_dir {
        steps.push(Step::Export {
            dir: dir.clone(),
            isos: steps
                .iter()
                .filter_map(|s| match s {
                    Step::Iso { out, .. } | Step::Payload { out, .. } => Some(out.clone()),
                    _ => None,
                })
                .collect(),
        });
    }
    Ok(Plan {
        output,
        steps,
        images,
        mirror,
        prepared,
        bundles,
        pki,
        nodes,
        lock,
        seal,
        offline,
        bundle_inputs,
        state,
    })
}

/// The PKI step: the registry's PKI and configs with `registries.yaml`, or (no registry)
/// only the embedded registry mirror's `registries.yaml` listing the `upstreams`.
fn pki_step<'a>(
    config: &Config,
    output: &Path,
    pki: Option<&PkiSettings>,
    upstreams: impl Iterator<Item = &'a str>,
) -> Result<Step> {
    let embedded_registry = config.cluster.embedded_registry;
    let Some(pki) = pki else {
        return Ok(Step::Pki {
            out: output.to_path_buf(),
            endpoint: None,
            sans: Vec::new(),
            mirrors: upstreams
                .map(str::to_string)
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect(),
            embedded_registry,
        });
    };
    // Computes (and throws away) everything the step will write: bad PEM files in the
    // PKI directory and the SAN preflight fail here, before anything is written.
    pki::prepare(pki, output, pki::now())?;
    Ok(Step::Pki {
        out: output.to_path_buf(),
        endpoint: Some(pki.endpoint()),
        sans: if pki.plain_http {
            Vec::new()
        } else {
            pki.sans().iter().map(ToString::to_string).collect()
        },
        mirrors: pki.mirror_hosts().into_iter().collect(),
        embedded_registry,
    })
}

/// What `node`'s seed carries of `payload`: everything, but with k3s's embedded registry
/// mirror only the servers carry the airgap archives (`images/`); agents pull from them.
fn node_payload(config: &Config, node: &str, payload: &[PayloadFile]) -> Vec<PayloadFile> {
    let agent = config
        .nodes
        .iter()
        .any(|n| n.name.as_str() == node && n.role == crate::vocab::Role::Agent);
    let skip_archives = config.cluster.embedded_registry && agent;
    payload
        .iter()
        .filter(|p| !(skip_archives && p.name.starts_with("images/")))
        .cloned()
        .collect()
}

/// What every node's seed carries under `payload/`: the airgap archives, the package
/// bundles, the registry CA and `registries.yaml` (see [`node_payload`] for agents of a
/// cluster with the embedded registry mirror).
fn payload_files(steps: &[Step]) -> Vec<PayloadFile> {
    let file = |dir: &str, path: &Path| PayloadFile {
        name: format!(
            "{dir}{}",
            path.file_name()
                .map(|n| n.to_string_lossy())
                .unwrap_or_default()
        ),
        source: path.to_path_buf(),
    };
    let mut files = Vec::new();
    for step in steps {
        match step {
            Step::Airgap { out, .. } => files.push(file("images/", out)),
            Step::Packages { out, .. } => files.push(file("packages/", out)),
            Step::Pki { out, sans, .. } => {
                // A plain-HTTP registry has no certificate, hence no CA to carry.
                if !sans.is_empty() {
                    files.push(file("pki/", &out.join("pki").join("ca.crt")));
                }
                files.push(file("", &out.join("registries.yaml")));
            }
            Step::Files {
                out,
                files: payload,
            } => {
                files.extend(payload.iter().map(|f| PayloadFile {
                    name: f.name.clone(),
                    source: out.join(&f.name),
                }));
            }
            _ => {}
        }
    }
    files.sort_by(|a, b| a.name.cmp(&b.name));
    files
}

/// The build's source date: `SOURCE_DATE_EPOCH`, else the config's.
fn source_date(config: &Config) -> Option<u64> {
    std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|v| v.parse().ok())
        .or(config.source_date_epoch)
}

/// With `locked`, checks the resolved tags against `seedforge.lock` and returns nothing
/// to write; otherwise returns the lock to write after mirroring.
fn check_lock(
    config: &Config,
    prepared: &[PreparedImage],
    locked: bool,
) -> Result<Option<(PathBuf, LockFile)>> {
    let path = LockFile::path_for(&config.path);
    let pins: Vec<_> = prepared
        .iter()
        .filter_map(PreparedImage::resolved)
        .collect();
    if locked {
        let lock = LockFile::load(&path)
            .map_err(OciError::from)?
            .ok_or_else(|| {
                OciError::from(crate::oci::registry::RegistryError::Lock(format!(
                    "--locked: there is no lock file at {}; run build without --locked first",
                    path.display()
                )))
            })?;
        lock.check(pins, &path).map_err(OciError::from)?;
        return Ok(None);
    }
    let mut lock = LockFile::from_resolved(pins);
    // Bundle pins are recorded by their packages steps, which run after the mirror writes
    // the lock: keep the earlier pins of bundles still configured, so that a build failing
    // in between does not leave a lock that an offline build can no longer use. (A pin
    // carries a digest of its bundle's inputs; offline compares it.)
    if let Ok(Some(old)) = LockFile::load(&path) {
        lock.packages = old
            .packages
            .into_iter()
            .filter(|(name, _)| config.packages.iter().any(|b| &b.name == name))
            .collect();
    }
    Ok(Some((path, lock)))
}

/// The seed logs' pause-image and missing-component failures, caught before writing.
fn preflight_airgap(config: &Config, images: &ImageList) -> Result<()> {
    let version = &config.cluster.k3s_version;
    let disabled: Vec<String> = config.cluster.disable.iter().map(|c| c.0.clone()).collect();
    let pause = config.cluster.pause_image.as_ref().map(|p| &p.0);
    let required = required_images(version, pause, &disabled)?;
    let available: Vec<_> = images
        .entries
        .iter()
        .map(|e| e.destination.clone())
        .collect();
    check_airgap_images(version, &required, &available)?;
    // Without a registry, agents have the servers' airgap images only, through the
    // embedded registry mirror.
    if config.cluster.embedded_registry && config.registry.is_none() {
        crate::preflight::check_embedded_shareable(&images.entries)?;
    }
    Ok(())
}

/// Resolves every package bundle (but those an offline plan keeps): a missing dependency
/// fails the plan, naming it.
fn prepare_bundles(
    config: &Config,
    offline: Option<&Offline>,
    net: &Arc<Net>,
    cache: Option<&Arc<crate::debs::cache::DebCache>>,
    staging: &crate::leftovers::Staging,
) -> Result<Vec<PreparedBundle>> {
    config
        .packages
        .iter()
        .filter(|b| offline.is_none_or(|o| o.kept(&b.name).is_none()))
        .map(|b| {
            let spec = b.spec(&config.dir);
            Ok(crate::debs::prepare_cached(
                &spec,
                net.clone(),
                cache.cloned(),
                staging,
            )?)
        })
        .collect()
}

/// `SOURCE_DATE_EPOCH`, else the config's, else 0.
fn source_date_epoch(config: &Config) -> u64 {
    source_date(config).unwrap_or(0)
}

/// One archive per architecture: `airgap/k3s-airgap-images-<arch>.tar[.gz|.zst]`. With
/// `airgap.compression: auto`, each archive's compression is decided now, from the layer
/// media types of the manifests the images' sources offer for its platforms (manifests are
/// small and were read to choose the platforms; no layer is fetched): the file name must
/// say it, since k3s decompresses by the extension.
fn airgap_steps(
    config: &Config,
    output: &Path,
    layout: &Path,
    images: &ImageList,
    prepared: &[PreparedImage],
) -> Result<Vec<Step>> {
    let format = config.airgap.format;
    let mtime = source_date_epoch(config);
    let mut by_arch: BTreeMap<&str, Vec<Platform>> = BTreeMap::new();
    for p in &config.images.platforms {
        by_arch.entry(&p.architecture).or_default().push(p.clone());
    }
    by_arch
        .into_iter()
        .map(|(arch, platforms)| {
            let (compression, auto) = match config.airgap.compression.fixed() {
                Some(c) => (c, None),
                None => {
                    let mut layers = Vec::new();
                    for (entry, image) in images.entries.iter().zip(prepared) {
                        let name = entry.destination.to_string();
                        for layer in image.selected_layers(&platforms)? {
                            layers.push((name.clone(), layer.media_type));
                        }
                    }
                    let chosen =
                        choose_compression(layers.iter().map(|(n, t)| (n.as_str(), t.as_str())));
                    (chosen.compression, Some(chosen.reason))
                }
            };
            Ok(Step::Airgap {
                layout: layout.to_path_buf(),
                out: output
                    .join("airgap")
                    .join(format!("k3s-airgap-images-{arch}{}", compression.suffix())),
                platforms,
                format,
                compression,
                auto,
                level: config.airgap_level,
                mtime,
            })
        })
        .collect()
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

/// What the steps of a run have produced so far.
#[derive(Default)]
struct Done {
    mirrored: Vec<MirroredImage>,
    verified: Option<VerifyReport>,
    archives: Vec<ArchiveReport>,
    bundles: Vec<BundleReport>,
    node_dirs: Vec<PathBuf>,
    isos: Vec<IsoSummary>,
    /// The seed ISOs' shared prefixes, hashed once per build.
    iso_digests: crate::iso::DigestCache,
    /// Each distinct payload's `SHA256SUMS` (servers and agents differ with the embedded
    /// registry mirror), made once per build.
    payload_sums: Vec<(Vec<PayloadFile>, String)>,
    /// The nodes' files as their seeds carry them (see [`incremental::seeded_nodes`]).
    seeded: Option<Vec<NodeFiles>>,
    pki: Option<PkiReport>,
    files: Vec<crate::files::FileReport>,
    seal: Option<crate::pipeline::seal::SealReport>,
    export: Option<crate::pipeline::export::ExportReport>,
    steps: Vec<StepRun>,
}

/// What writing one node's seed ISO needs.
struct IsoJob<'a> {
    step: &'a Step,
    files: NodeFiles,
    sums: String,
}

/// The [`IsoJob`] of a [`Step::Iso`]: the node's files as its seed carries them and its
/// payload's sums (made once per distinct payload and build); `None` for a node without
/// files.
fn iso_job<'a>(plan: &Plan, step: &'a Step, done: &mut Done) -> Result<Option<IsoJob<'a>>> {
    let Step::Iso { node, payload, .. } = step else {
        return Ok(None);
    };
    let Some(files) = incremental::seeded_node(plan, done, node)? else {
        return Ok(None);
    };
    let sums = incremental::payload_sums(plan, payload, done)?.to_string();
    Ok(Some(IsoJob { step, files, sums }))
}

/// A run ISO step's bookkeeping: key, fingerprint, when it started.
type IsoRecord = (String, Option<String>, std::time::Instant);

/// Runs a run of consecutive [`Step::Iso`] steps: the skip checks in order, the images
/// written on every core (each node's seed is independent of the others'; their shared
/// prefix is hashed once, [`crate::iso::DigestCache`]), then each step recorded in order
/// as if it had run alone.
fn run_isos(
    plan: &Plan,
    steps: &[Step],
    reporter: &dyn Reporter,
    done: &mut Done,
    lock: &mut Option<(PathBuf, crate::oci::registry::lockfile::LockFile)>,
) -> Result<()> {
    let mut jobs: Vec<IsoJob<'_>> = Vec::new();
    let mut records: Vec<IsoRecord> = Vec::new();
    for step in steps {
        let started = std::time::Instant::now();
        let key = incremental::key(step);
        let fingerprint = incremental::fingerprint(plan, step, done)?;
        let skipped = match &fingerprint {
            Some(fp) => incremental::skip(plan, step, &key, fp, done, lock)?,
            None => false,
        };
        let job = if skipped {
            None
        } else {
            iso_job(plan, step, done)?
        };
        let Some(job) = job else {
            reporter.step_skipped(step.name());
            done.steps.push(StepRun {
                step: step.name(),
                key,
                status: "skipped",
                seconds: started.elapsed().as_secs_f64(),
            });
            continue;
        };
        jobs.push(job);
        records.push((key, fingerprint, started));
    }
    let written: Vec<std::sync::Mutex<Option<Result<IsoSummary>>>> =
        jobs.iter().map(|_| std::sync::Mutex::new(None)).collect();
    let digests = &done.iso_digests;
    let write = |k: usize| {
        let job = &jobs[k];
        reporter.step_started(job.step.name());
        let result = write_iso_step(plan, job, digests);
        reporter.step_finished(job.step.name());
        if let Ok(mut slot) = written[k].lock() {
            *slot = Some(result);
        }
    };
    // The first seed is written alone, on this thread: it hashes the prefix the others
    // share, and a build killed in it stops at the same point every time.
    if !jobs.is_empty() {
        write(0);
    }
    let next = std::sync::atomic::AtomicUsize::new(1);
    let work = || {
        loop {
            let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if k >= jobs.len() {
                break;
            }
            write(k);
        }
    };
    let helpers = std::thread::available_parallelism()
        .map_or(1, std::num::NonZeroUsize::get)
        .min(jobs.len().saturating_sub(1))
        .saturating_sub(1);
    std::thread::scope(|scope| {
        for _ in 0..helpers {
            scope.spawn(work);
        }
        work();
    });
    for ((job, slot), (key, fingerprint, started)) in jobs.iter().zip(written).zip(records) {
        let result = slot
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .ok_or_else(|| {
                Error::Oci(OciError::io(
                    &plan.output,
                    std::io::Error::other("an ISO writer thread failed"),
                ))
            })?;
        iso_written(plan, job.step, result?, done);
        if let Some(fp) = &fingerprint {
            incremental::record(plan, job.step, &key, fp, done)?;
        }
        done.steps.push(StepRun {
            step: job.step.name(),
            key,
            status: "ran",
            seconds: started.elapsed().as_secs_f64(),
        });
    }
    Ok(())
}

/// Writes the seed ISO of one [`IsoJob`].
fn write_iso_step(
    plan: &Plan,
    job: &IsoJob<'_>,
    digests: &crate::iso::DigestCache,
) -> Result<IsoSummary> {
    let Step::Iso {
        node,
        out,
        payload,
        mtime,
        shared,
    } = job.step
    else {
        return Err(Error::Oci(OciError::io(
            &plan.output,
            std::io::Error::other("not an ISO step"),
        )));
    };
    let stage = plan
        .output
        .join(format!("iso/.stage-{node}.{}", std::process::id()));
    Ok(if *shared {
        write_shared_seed_iso(&job.files, &job.sums, &stage, out, *mtime, digests)?
    } else {
        write_seed_iso(&job.files, payload, &job.sums, &stage, out, *mtime, digests)?
    })
}

/// How often a build saves its state between steps (see [`run`]).
const STATE_SAVE_EVERY: std::time::Duration = std::time::Duration::from_millis(500);

/// Runs a plan. A step whose inputs and outputs are unchanged since the last build is
/// skipped (see [`crate::pipeline::state`]); its report comes from the build state.
pub fn run(plan: &Plan, reporter: &dyn Reporter) -> Result<BuildReport> {
    let mut done = Done::default();
    let mut lock = plan.lock.clone();
    // What runs killed earlier left behind (never under a final name) goes first: in the
    // output tree, beside the lock file and in the export folder.
    let beside: Vec<&Path> = (plan.lock.as_ref().and_then(|(path, _)| path.parent()))
        .into_iter()
        .chain(plan.steps.iter().filter_map(|s| match s {
            Step::Export { dir, .. } => Some(dir.as_path()),
            _ => None,
        }))
        .collect();
    crate::leftovers::sweep(&plan.output, &beside).map_err(|e| OciError::io(&plan.output, e))?;
    let save_error = |e| Error::Oci(OciError::io(plan.state.path(), e));
    let mut saved = std::time::Instant::now();
    let mut at = 0;
    while at < plan.steps.len() {
        let step = &plan.steps[at];
        // A run of seed ISO steps is written on every core.
        let isos = plan.steps[at..]
            .iter()
            .take_while(|s| matches!(s, Step::Iso { .. }))
            .count();
        if isos > 1 {
            let steps = &plan.steps[at..at + isos];
            if let Err(e) = run_isos(plan, steps, reporter, &mut done, &mut lock) {
                let _ = plan.state.save();
                return Err(e);
            }
            at += isos;
            continue;
        }
        at += 1;
        let started = std::time::Instant::now();
        let key = incremental::key(step);
        let ran = (|| -> Result<bool> {
            let fingerprint = incremental::fingerprint(plan, step, &mut done)?;
            let skipped = match &fingerprint {
                Some(fp) => incremental::skip(plan, step, &key, fp, &mut done, &mut lock)?,
                None => false,
            };
            if skipped {
                reporter.step_skipped(step.name());
                return Ok(false);
            }
            reporter.step_started(step.name());
            run_step(plan, step, reporter, &mut done, &mut lock)?;
            if let Some(fp) = &fingerprint {
                incremental::record(plan, step, &key, fp, &done)?;
            }
            reporter.step_finished(step.name());
            Ok(true)
        })();
        let skipped = match ran {
            Ok(ran) => !ran,
            Err(e) => {
                // What the finished steps recorded is kept for the next build.
                let _ = plan.state.save();
                return Err(e);
            }
        };
        // The state (the steps done, digests learned along the way) is saved at most
        // every STATE_SAVE_EVERY and at the end: a build killed in between runs the steps
        // since the last save again, and 48 seed ISO steps do not write it 48 times.
        if saved.elapsed() >= STATE_SAVE_EVERY {
            plan.state.save().map_err(save_error)?;
            saved = std::time::Instant::now();
        }
        done.steps.push(StepRun {
            step: step.name(),
            key,
            status: if skipped { "skipped" } else { "ran" },
            seconds: started.elapsed().as_secs_f64(),
        });
    }
    plan.state.finish().map_err(save_error)?;
    Ok(BuildReport {
        output: plan.output.clone(),
        steps: done.steps,
        images: done
            .mirrored
            .iter()
            .map(MirroredImageReport::from)
            .collect(),
        verify: done.verified.unwrap_or_default(),
        airgap: done.archives,
        packages: done.bundles,
        pki: done.pki,
        nodes: done.node_dirs,
        iso: done.isos,
        files: done.files,
        seal: done.seal,
        export: done.export,
    })
}

/// Runs one step.
fn run_step(
    plan: &Plan,
    step: &Step,
    reporter: &dyn Reporter,
    done: &mut Done,
    lock: &mut Option<(PathBuf, LockFile)>,
) -> Result<()> {
    match step {
        Step::Mirror { layout, .. } => {
            done.mirrored = mirror_prepared(
                &plan.images.entries,
                &plan.prepared,
                layout,
                &plan.mirror,
                reporter,
            )?
            .images;
            if let Some((path, lock)) = lock {
                crate::pipeline::offline::record_stored(
                    lock,
                    &plan.images.entries,
                    &plan.prepared,
                    &done.mirrored,
                );
                if !lock.is_empty() {
                    lock.write(path)?;
                }
            }
        }
        Step::Verify { layout } => {
            // Blobs whose files are unchanged since they were last hashed are not read.
            let report = verify_with(&Layout::open(layout)?, reporter, Some(&plan.state))?;
            if !report.is_sound() {
                return Err(Error::VerifyFailed(format!(
                    "{}: {} blob problem(s) after mirroring",
                    layout.display(),
                    report.problems.len()
                )));
            }
            done.verified = Some(report);
        }
        Step::Airgap {
            layout,
            out,
            platforms,
            format,
            compression,
            level,
            mtime,
            ..
        } => {
            if let Some(dir) = out.parent() {
                std::fs::create_dir_all(dir).map_err(|e| OciError::io(dir, e))?;
            }
            remove_other_compressions(out)?;
            let options = ArchiveOptions {
                format: *format,
                compression: *compression,
                level: *level,
                threads: std::thread::available_parallelism().map_or(2, |n| n.get() as u32),
                platforms: platforms.clone(),
                images: Some(
                    plan.images
                        .entries
                        .iter()
                        .map(|e| e.destination.to_string())
                        .collect(),
                ),
                mtime: *mtime,
                // The verify step has just re-hashed every blob of the layout.
                verify_blobs: false,
                digest: true,
            };
            done.archives.push(write_archive(
                &Layout::open(layout)?,
                out,
                &options,
                reporter,
                None,
            )?);
        }
        Step::Packages {
            name, out, mtime, ..
        } => {
            if let Some(kept) = plan.offline.as_ref().and_then(|o| o.kept(name)) {
                done.bundles.push(kept.report(out));
            } else if let Some(bundle) = plan.bundles.iter().find(|b| &b.spec.name == name) {
                if bundle.unverified() {
                    reporter.warning(&format!(
                        "bundle {}: {} is unverified (no keyring): the Release signature was not checked",
                        bundle.spec.name, bundle.universe.origin
                    ));
                }
                let report = bundle.write(out, *mtime, reporter)?;
                if let (Some((path, lock)), Some(inputs)) = (lock, plan.bundle_inputs.get(name)) {
                    crate::pipeline::offline::pin_bundle(lock, name, inputs, &report);
                    lock.write(path)?;
                }
                done.bundles.push(report);
            }
        }
        Step::Render { out, .. } => incremental::write_nodes(plan, out, done)?,
        Step::Iso { .. } => {
            if let Some(job) = iso_job(plan, step, done)? {
                let summary = write_iso_step(plan, &job, &done.iso_digests)?;
                iso_written(plan, step, summary, done);
            }
        }
        Step::Payload {
            out,
            payload,
            mtime,
        } => {
            let stage = plan
                .output
                .join(format!("iso/.stage-payload.{}", std::process::id()));
            let sums = incremental::payload_sums(plan, payload, done)?.to_string();
            let summary =
                write_payload_iso(payload, &sums, &stage, out, *mtime, &done.iso_digests)?;
            iso_written(plan, step, summary, done);
        }
        Step::Pki { out, mirrors, .. } => {
            let prepared = match &plan.pki {
                Some(settings) => pki::prepare(settings, out, pki::now())?,
                None => pki::prepare_embedded(&mirrors.iter().cloned().collect(), out),
            };
            done.pki = Some(pki::commit(prepared, reporter)?);
        }
        Step::Files { out, files } => {
            done.files = crate::files::write_all_with(
                files,
                out,
                plan.mirror.registries.net(),
                reporter,
                &|p| plan.state.sha256(p),
            )?;
        }
        Step::Seal { out } => {
            let known = known_hashes(
                &plan.steps,
                &done.isos,
                &done.archives,
                &done.bundles,
                &done.files,
                done.payload_sums.iter().map(|(_, sums)| sums.as_str()),
                done.verified.as_ref(),
            );
            let hash_many = |paths: &[PathBuf]| {
                let (results, read) = plan.state.sha256_many(paths);
                let digests = results
                    .into_iter()
                    .zip(paths)
                    .map(|(r, p)| r.map_err(|e| crate::pipeline::seal::SealError::io(p, e)))
                    .collect();
                (digests, read)
            };
            done.seal = Some(crate::pipeline::seal::seal_with(
                &plan.seal,
                &plan.steps,
                out,
                &known,
                &hash_many,
            )?);
        }
        Step::Export { dir, isos } => {
            let sealed = done.seal.as_ref().map(|s| &s.hashes);
            let isos = isos
                .iter()
                .map(|p| {
                    let sha = match sealed.and_then(|h| h.get(p)) {
                        Some(sha) => sha.clone(),
                        None => plan
                            .state
                            .sha256(p)
                            .map_err(|e| crate::pipeline::seal::SealError::io(p, e))?,
                    };
                    Ok((p.clone(), sha))
                })
                .collect::<Result<Vec<_>>>()?;
            done.export = Some(crate::pipeline::export::export(&isos, dir)?);
        }
    }
    Ok(())
}

/// What follows an ISO written by a [`Step::Iso`] or [`Step::Payload`]: staging linked
/// the payload files into its tree and removed the links, so only their ctime changed,
/// and that was this build; the image's digest is learnt; its summary is reported.
fn iso_written(plan: &Plan, step: &Step, summary: IsoSummary, done: &mut Done) {
    if let Step::Iso {
        payload,
        shared: false,
        ..
    }
    | Step::Payload { payload, .. } = step
    {
        let sources: Vec<PathBuf> = payload.iter().map(|p| p.source.clone()).collect();
        plan.state.absorb_ctime(&sources);
    }
    learn_iso(plan, &summary);
    done.isos.push(summary);
}

/// Records the digest an ISO step's writer computed, so later builds know the image
/// without reading it (while its stat is unchanged).
fn learn_iso(plan: &Plan, summary: &IsoSummary) {
    if let Some(sha) = &summary.sha256 {
        plan.state.learn(&summary.path, sha);
    }
}

/// The digests this run's steps computed, for the seal to reuse: the seed ISOs (their
/// writer hashes them), the airgap archives, the package bundles, the `files:` payload,
/// every payload file (from the seeds' `SHA256SUMS`) and the blobs the verify step
/// re-hashed.
fn known_hashes<'a>(
    steps: &[Step],
    isos: &[IsoSummary],
    archives: &[ArchiveReport],
    bundles: &[BundleReport],
    files: &[crate::files::FileReport],
    payload_sums: impl Iterator<Item = &'a str>,
    verified: Option<&VerifyReport>,
) -> crate::pipeline::seal::Known {
    let mut known = crate::pipeline::seal::Known::default();
    for iso in isos {
        if let Some(sha) = &iso.sha256 {
            known.hashes.insert(iso.path.clone(), sha.clone());
        }
    }
    for a in archives {
        if let Some(sha) = &a.sha256 {
            let hex = sha.strip_prefix("sha256:").unwrap_or(sha);
            known.hashes.insert(a.path.clone(), hex.to_string());
        }
    }
    for b in bundles {
        let hex = b.sha256.strip_prefix("sha256:").unwrap_or(&b.sha256);
        known.hashes.insert(b.path.clone(), hex.to_string());
    }
    for f in files {
        known.hashes.insert(f.path.clone(), f.sha256.clone());
    }
    let payload = payload_files(steps);
    for sums in payload_sums {
        for line in sums.lines() {
            if let Some((hex, name)) = line.split_once("  ")
                && let Some(p) = payload.iter().find(|p| p.name == name)
            {
                known.hashes.insert(p.source.clone(), hex.to_string());
            }
        }
    }
    if let Some(report) = verified
        && report.is_sound()
        && report.strays_unknown.is_none()
    {
        known.blob_strays = Some(report.strays.iter().cloned().collect());
    }
    known
}
