//! From a config to an ordered list of steps. `seedforge plan` prints the steps without
//! writing anything; `seedforge build` runs them (`pipeline::run`). Everything
//! that can be checked without writing (the config, every image list, every local image
//! source) is checked while planning, so a bad input fails before the output directory is
//! touched. Each step is planned by its own file under [`crate::pipeline::steps`].

use crate::Result;
use crate::config::Config;
use crate::debs::PreparedBundle;
use crate::image::ImageList;
use crate::net::{Net, NetSettings};
use crate::oci::OciError;
use crate::oci::mirror::{MirrorOptions, PreparedImage, prepare, prepare_with};
use crate::oci::registry::lockfile::LockFile;
use crate::oci::registry::{Registries, RegistryAccess};
use crate::pipeline::offline::Offline;
use crate::pipeline::state::BuildState;
use crate::pipeline::steps::{self, Inputs, Step, payload_files};
use crate::seed::PayloadMode;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

mod ca;
mod k3s;
pub use k3s::render_settings;
pub mod outdir;
mod signing;

pub use crate::pipeline::steps::payload::PAYLOAD_ISO;

/// A checked, ready-to-run build. Image sources are opened and their platforms chosen
/// while planning (that is how they are checked), and kept for the run.
pub struct Plan {
    /// The output directory.
    pub output: PathBuf,
    /// The steps, in order.
    pub steps: Vec<Step>,
    /// What the steps run on.
    pub inputs: Inputs,
    /// What the build should be told before it runs (a k3s release whose images are only
    /// checked by repository).
    pub warnings: Vec<String>,
}

impl std::fmt::Debug for Plan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plan")
            .field("output", &self.output)
            .field("steps", &self.steps)
            .field("images", &self.inputs.images.entries.len())
            .finish()
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
    /// The key that signs the seal (`--signing-key`), in place of the config's `seal.key`.
    pub signing_key: Option<PathBuf>,
    /// The public key that checks the signatures the output holds where the config's
    /// private key is not (`apply --key`): the build keeps them and signs nothing.
    pub trusted_key: Option<PathBuf>,
    /// An unsigned output is an error (`build --require-signature`; the config's
    /// `seal.require_signature` says so too).
    pub require_signature: bool,
    /// Offline only: package bundles a delta carried into the output folder (name, sha256),
    /// kept as they are whatever their source, because they are the near side's (`apply`):
    /// the far side's own inputs of a bundle (a local .deb folder) may be older.
    pub carried_bundles: std::collections::BTreeMap<String, String>,
    /// Offline only: `files:` entries a delta carried into `OUT/files` (payload name,
    /// sha256): one whose local source the far side has in an older version is taken as
    /// carried when the config names the carried digest (`apply`).
    pub carried_files: std::collections::BTreeMap<String, String>,
    /// Make a new registry CA on purpose (`build --rotate-ca`): the node trust bundle
    /// keeps the old one beside it for this output (see [`crate::pki::continuity`]).
    pub rotate_ca: bool,
    /// Keep `OUT/pki/ca-bundle.crt` as it is: `apply` rebuilding the output of a rotating
    /// build, whose seal lists it.
    pub keep_ca_bundle: bool,
    /// Planned only for the pins it makes (`seedforge lock`): nothing is sealed, so who
    /// signs is neither asked nor required.
    pub pins_only: bool,
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
    // SOURCE_DATE_EPOCH set to something that is not a date is refused before anything.
    let env_date = crate::pipeline::seal::SourceDate::from_env()?;
    // Who signs the seal, or why nothing can: before the network, before anything else.
    let signer = if options.pins_only {
        None
    } else {
        signing::signer(config, &output, &options)?
    };
    // Read only: a build writes it back step by step.
    let state = BuildState::load(&output, options.force);
    let mut images = ImageList::load_all(config.images.lists.iter().map(|(path, _)| path))?;
    outdir::check(config, &output, &images)?;
    // The nodes never skip a minor: from the release the output was last built with.
    if !options.pins_only {
        k3s::check_sealed_step(config, &output)?;
    }
    // Offline, the date the output records, not the environment's.
    let (date, date_note) = crate::pipeline::seal::SourceDate::resolve(
        env_date.as_deref(),
        config.source_date_epoch,
        (options.offline)
            .then(|| crate::pipeline::seal::Recorded::load(&output))
            .flatten(),
        &output,
    );
    let mtime = date.source_date_epoch.unwrap_or(0);
    let mirror = mirror_options(config, &output, options.offline, &options.secrets, net)?;
    // The charts, fetched (offline: the archives the last build wrote) and rendered: the
    // images they pull are checked against the lists, or added to them (`images: add`)
    // before anything else reads the lists.
    let (charts, from_charts) = steps::charts::plan(
        config,
        &output,
        &mirror.registries,
        options.offline,
        options.locked,
        &images,
    )?;
    images.entries.extend(from_charts);
    // Without a registry (the embedded mirror alone), nodes import images by their full
    // names: nothing shares a path.
    if config.registry.is_some() {
        images.check_registry_paths()?;
    }
    // Offline: everything the network would give must already be in the lock and the
    // output folder; whatever is not fails here, all named at once.
    let offline = if options.offline {
        Some(Offline::check(
            config,
            &output,
            &images.entries,
            &config.images.platforms,
            mtime,
            &options.carried_bundles,
            &|p| state.sha256(p),
        )?)
    } else {
        None
    };
    let (prepared, lock) = match &offline {
        Some(o) => (
            prepare_with(&images.entries, &mirror, &|e| o.open(e))?,
            None,
        ),
        None => {
            let prepared = prepare(&images.entries, &mirror)?;
            let lock = check_lock(config, &images.entries, &prepared, &mirror, options.locked)?;
            (prepared, lock)
        }
    };
    // `files:` entries whose copy in OUT/files stands for a local source: one a delta
    // carried, and offline, one sealed there with the config's digest.
    let kept_files = crate::pipeline::offline_files::kept_files(
        config,
        &output,
        options.offline,
        &options.carried_files,
        &|p| state.sha256(p),
    );
    let binary = k3s::carried_binary(config, &state, &kept_files)?;
    let (mut warnings, required) = k3s::preflight_airgap(config, &images, binary.as_ref())?;
    let hop_binaries = k3s::hop_binaries(config, &state, &kept_files)?;
    let (hop_warnings, hops) = k3s::preflight_hops(config, &images, &hop_binaries)?;
    warnings.extend(hop_warnings);
    warnings.extend(kept_files.values().filter_map(|k| k.note.clone()));
    warnings.extend(offline.iter().flat_map(|o| o.notes().iter().cloned()));
    warnings.extend(date_note);
    // What a chart makes an operator pull that no table here names.
    warnings.extend(charts.iter().flat_map(|c| c.images.notes.iter().cloned()));
    let layout = output.join("oci");
    let mut steps = vec![
        Step::Mirror(steps::mirror::Mirror {
            lists: config.images.lists.iter().map(|(p, _)| p.clone()).collect(),
            layout: layout.clone(),
            platforms: mirror.platforms.clone(),
            images: images.entries.len(),
            concurrency: mirror.concurrency,
            offline: offline.is_some(),
            unlisted: steps::mirror::unlisted(&layout, &images.entries),
            kept_whole: steps::mirror::KeptWhole::of(&images.entries, &prepared, &mirror.platforms),
        }),
        Step::Verify(steps::verify::Verify {
            layout: layout.clone(),
        }),
    ];
    let airgap = steps::airgap::plan(
        config,
        &output,
        &layout,
        &images,
        &prepared,
        (&required, &hops),
        mtime,
    )?;
    steps.extend(airgap.into_iter().map(Step::Airgap));
    let bundles = prepare_bundles(
        config,
        offline.as_ref(),
        mirror.registries.net(),
        options.deb_cache.as_ref(),
        &options.staging,
    )?;
    let packages = steps::packages::plan(config, &output, &bundles, offline.as_ref(), mtime);
    steps.extend(packages.into_iter().map(Step::Packages));
    steps.extend(charts.into_iter().map(Step::Charts));
    let manifests = steps::manifests::plan(config, &output, &|p| state.sha256(p))?;
    steps.extend(manifests.map(Step::Manifests));
    let bundle_inputs = match lock {
        Some(_) => {
            crate::pipeline::offline::pinned_bundle_inputs(config, mtime, &|p| state.sha256(p))?
        }
        None => BTreeMap::new(),
    };
    let upstreams = images.entries.iter().map(|e| e.destination.registry());
    let mut pki = config.pki_settings(upstreams.clone(), date.source_date_epoch)?;
    if let Some(r) = &config.registry
        && !r.rewrite.is_empty()
    {
        images.check_rewrites(&config_rewrites(pki.as_ref(), &r.rewrite)?)?;
    }
    let in_lock = ca::recorded_in_lock(config, &output);
    // `seedforge lock` keeps the lock's CA record as it is and builds no PKI: the CA's
    // continuity is a build's question.
    if let Some(settings) = pki.as_mut().filter(|_| !options.pins_only) {
        settings.continuity = ca::continuity(config, &output, in_lock, &options)?;
    }
    let pki_step = steps::pki::plan(config, &output, pki.as_ref(), upstreams, in_lock)?;
    let sans = pki_step.sans.clone();
    steps.push(Step::Pki(pki_step));
    if !config.files.is_empty() {
        let generated: Vec<String> = payload_files(&steps).into_iter().map(|p| p.name).collect();
        // A local source whose copy in OUT/files stands for it is not read: the files
        // step finds that copy in place.
        let carried: BTreeMap<PathBuf, String> = (kept_files.values())
            .map(|k| (k.source.clone(), k.sha256.clone()))
            .collect();
        let mut files =
            crate::files::plan_with(&config.files, &config.path, &config.dir, &generated, &|p| {
                match carried.get(p) {
                    Some(sha) => Ok(sha.clone()),
                    None => state.sha256(p),
                }
            })?;
        // A downloaded k3s binary is checked for its release once it is there: the
        // target's, or a hop's (`hops/<RELEASE>/k3s`).
        for f in &mut files {
            if !matches!(f.origin, crate::files::Origin::Url(_)) {
                continue;
            }
            if f.name == crate::files::K3S_BINARY {
                f.k3s_version = Some(config.cluster.k3s_version.clone());
            } else if let Some(hop) = crate::config::hop_of_binary(&f.name) {
                f.k3s_version = Some(hop.to_string());
            }
        }
        steps.push(Step::Files(steps::files::Files {
            out: output.join("files"),
            files,
        }));
    }
    // Rendered and validated now, so a template mistake fails the plan before anything is
    // written.
    let mut render = config.render_settings()?;
    if let Some(pause) = k3s::pause_image(config, binary.as_ref()) {
        render.pause_image = pause.to_string();
    }
    let nodes = crate::render::render_all(&render)?;
    let names: Vec<String> = nodes.iter().map(|n| n.node.clone()).collect();
    seed_steps(config, &output, &names, mtime, &mut steps);
    // After every step whose results it lists, before the seal that covers it.
    steps.push(Step::Sbom(steps::sbom::Sbom {
        out: output.join(steps::sbom::SBOM_DIR),
        name: config.cluster.name.as_str().to_string(),
        created: mtime,
    }));
    let mut seal = crate::pipeline::seal::SealPlan::new(config, &images, sans, date)?;
    let mut signing_key = None;
    match signer {
        Some(crate::config::SealSigner::Key(path, key)) => {
            signing_key = Some(format!(
                "sign {} and the provenance with {} ({})",
                crate::pipeline::seal::MANIFEST,
                path.display(),
                key.public_key().hint()
            ));
            seal.sign_with(*key);
        }
        Some(crate::config::SealSigner::Check { name, key }) => {
            signing_key = Some(format!(
                "no private key here: keep the signatures the output holds, checked with {name} ({}), and sign nothing",
                key.hint()
            ));
            seal.keep_signed_with(key, name);
        }
        None => {}
    }
    // With the public key only, inputs changed since the output was signed: no signature
    // here could sign the seal.
    seal.check_signable(&output)?;
    seal.take_site(&output, options.offline)?;
    seal.record_image_keys(&mirror.policy.keys);
    if let (Some(root), Some(verify)) = (&mirror.policy.trusted_root, &config.images.verify)
        && !mirror.policy.identities.is_empty()
    {
        seal.record_image_keyless(
            root.name.clone(),
            root.bytes.clone(),
            verify.identities.iter().map(|i| i.value.clone()).collect(),
        );
    }
    steps.push(Step::Seal(steps::seal::Seal {
        out: output.clone(),
        signing_key,
    }));
    if let Some((dir, _)) = &config.export_dir {
        steps.push(export_step(
            dir,
            config.export_split,
            config.export_parity,
            &steps,
        ));
    }
    Ok(Plan {
        output: output.clone(),
        steps,
        warnings,
        inputs: Inputs {
            output,
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
        },
    })
}

/// The images each chart of `config` pulls (`seedforge chart-images`): the charts fetched
/// as a build fetches them (`offline`: the archives a build wrote into `output`, checked
/// against the lock), rendered, and their images found, each with where it came from.
pub fn chart_images(
    config: &Config,
    output: Option<PathBuf>,
    offline: bool,
    secrets: &crate::redact::Secrets,
    net: &NetSettings,
) -> Result<Vec<steps::charts::ChartPulled>> {
    let output = output.unwrap_or_else(|| config.output.clone());
    let mirror = mirror_options(config, &output, offline, secrets, net)?;
    steps::charts::pulled(config, &output, &mirror.registries, offline)
}

/// How images are fetched: the config's registries and the auth files (none offline: no
/// secret is resolved and no auth file read when nothing would use them), on a network
/// with `net`'s settings.
fn mirror_options(
    config: &Config,
    output: &Path,
    offline: bool,
    secrets: &crate::redact::Secrets,
    net: &NetSettings,
) -> Result<MirrorOptions> {
    let mut access = RegistryAccess::new(secrets.clone());
    if !offline {
        access.add_config(&config.registries, &config.path)?;
        access.add_auth_files(None).map_err(OciError::from)?;
    }
    let settings = NetSettings {
        offline,
        ..access.net_settings(net.clone())
    };
    let registries = Registries::new(access, Arc::new(Net::new(settings)));
    Ok(MirrorOptions {
        platforms: config.images.platforms.clone(),
        concurrency: config.images.concurrency,
        registries: Arc::new(registries),
        keep_going: false,
        // What an earlier build mirrored is not fetched again to prepare this one.
        known_layout: Some(output.join("oci")),
        opened: Arc::default(),
        attached: config.images.signatures == crate::config::Signatures::Carry,
        policy: config.signature_policy()?,
    })
}

/// The nodes' steps: their files, the shared payload ISO (`seeds: {payload: shared}`)
/// and one seed ISO each, carrying the payload of the `steps` before them.
fn seed_steps(config: &Config, output: &Path, nodes: &[String], mtime: u64, steps: &mut Vec<Step>) {
    if nodes.is_empty() {
        return;
    }
    steps.push(Step::Render(steps::render::Render {
        out: output.join("nodes"),
        nodes: nodes.to_vec(),
    }));
    let payload = payload_files(steps);
    let shared = config.seeds.payload == PayloadMode::Shared;
    if shared {
        steps.push(Step::Payload(steps::payload::Payload {
            out: output.join("iso").join(PAYLOAD_ISO),
            payload: payload.clone(),
            mtime,
        }));
    }
    let isos = steps::iso::plan(config, output, nodes, &payload, shared, mtime);
    steps.extend(isos.into_iter().map(Step::Iso));
}

/// The export step: every ISO of the `steps` copied into `dir`, those larger than `split`
/// in parts.
fn export_step(dir: &Path, split: Option<u64>, parity: Option<u32>, steps: &[Step]) -> Step {
    let isos = (steps.iter())
        .filter_map(|s| match s {
            Step::Iso(i) => Some(i.out.clone()),
            Step::Payload(p) => Some(p.out.clone()),
            _ => None,
        })
        .collect();
    Step::Export(steps::export::Export {
        dir: dir.to_path_buf(),
        isos,
        split,
        parity,
    })
}

/// With `locked`, checks the resolved tags against `seedforge.lock` and returns nothing
/// to write; otherwise returns the lock to write after mirroring.
fn check_lock(
    config: &Config,
    entries: &[crate::image::ListEntry],
    prepared: &[PreparedImage],
    mirror: &MirrorOptions,
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
        // With a signature policy, what verified must be what the lock pins as verified.
        if mirror.policy.is_active() {
            let now = crate::pipeline::offline::verified_now(entries, prepared);
            let now = now.iter().map(|(s, pin)| (s.as_str(), pin.as_ref()));
            lock.check_verified(now, &path).map_err(OciError::from)?;
        }
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
        // The CA's record: the PKI step records it again when it builds the config's
        // output; a build into another folder leaves it as it is.
        lock.registry_ca = old.registry_ca;
        // Chart pins likewise: the charts steps pin them again when they run.
        lock.charts = old
            .charts
            .into_iter()
            .filter(|(name, _)| config.charts.iter().any(|c| c.name.as_str() == name))
            .collect();
    }
    Ok(Some((path, lock)))
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

/// `registry.rewrite` as registries.yaml gives it to the nodes: the rules on the mirror of
/// every registry the images come from, none on the cluster's own registry.
fn config_rewrites(
    pki: Option<&crate::pki::PkiSettings>,
    rules: &BTreeMap<String, String>,
) -> Result<crate::image::Rewrites> {
    let Some(pki) = pki else {
        return Ok(crate::image::Rewrites::default());
    };
    let own = pki.address();
    let hosts: Vec<String> = pki
        .mirror_hosts()
        .into_iter()
        .filter(|h| *h != own)
        .collect();
    crate::image::Rewrites::new(hosts.iter().map(|h| (h.as_str(), rules))).map_err(|e| {
        crate::image::ImageError::InvalidReference {
            input: "registry.rewrite".into(),
            reason: e.to_string(),
        }
        .into()
    })
}
