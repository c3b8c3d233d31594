//! The k3s release's checks while planning: the airgap set against what the release needs
//! (the tables of `preflight`, the config's `cluster.release_images`), and the k3s binary
//! carried in `files:`, which is believed over the tables: its own release must be the
//! config's, and the images it defaults to (its pause image, its helm job image) are the
//! ones required and the ones the nodes are configured with.

use crate::Result;
use crate::config::Config;
use crate::image::{ImageList, Reference};
use crate::pipeline::state::BuildState;
use crate::preflight::{
    BinaryFacts, HopNeeds, K3S_BINARY_SCAN_LIMIT, PAUSE_REPOSITORY, Requirement,
    binary_disagreements, check_airgap_images, k3s_binary_facts, release_warnings, required_images,
};
use std::path::PathBuf;

/// What the k3s binary carried in `files:` (a local `bin/k3s`) says about itself.
pub(super) struct CarriedBinary {
    /// The binary.
    path: PathBuf,
    /// Its `files:` entry's name.
    name: String,
    /// The images it defaults to, one per repository.
    defaults: Vec<Reference>,
}

impl CarriedBinary {
    /// The pause image the binary defaults to, if it names one.
    pub(super) fn pause(&self) -> Option<&Reference> {
        self.defaults.iter().find(|r| r.name() == PAUSE_REPOSITORY)
    }
}

/// The k3s binary the nodes install (the `files:` entry `bin/k3s`), when it is a local
/// file, must be the release `cluster.k3s_version` names, if it names one. What a binary
/// says is read once and remembered with its stat: an unchanged binary (tens of MiB) is not
/// read again by the next build. A binary that cannot be read is not refused here (the
/// files step names it) and says nothing.
pub(super) fn carried_binary(
    config: &Config,
    state: &BuildState,
    kept: &std::collections::BTreeMap<String, crate::pipeline::offline_files::KeptFile>,
) -> Result<Option<CarriedBinary>> {
    read_binary(
        config,
        state,
        kept,
        crate::files::K3S_BINARY,
        &config.cluster.k3s_version,
    )
}

/// Each hop of `cluster.upgrade_path` (oldest first) with its k3s binary
/// (`hops/<RELEASE>/k3s`) read as [`carried_binary`] reads the target's: a local binary of
/// another release than the hop's is refused.
pub(super) fn hop_binaries(
    config: &Config,
    state: &BuildState,
    kept: &std::collections::BTreeMap<String, crate::pipeline::offline_files::KeptFile>,
) -> Result<Vec<(String, Option<CarriedBinary>)>> {
    (config.cluster.hops.iter())
        .map(|hop| {
            let name = crate::config::hop_binary_name(hop);
            Ok((hop.clone(), read_binary(config, state, kept, &name, hop)?))
        })
        .collect()
}

/// The local `files:` entry `name`, read for what it says and refused unless it is the
/// release `expected` (when it names one).
fn read_binary(
    config: &Config,
    state: &BuildState,
    kept: &std::collections::BTreeMap<String, crate::pipeline::offline_files::KeptFile>,
    name: &str,
    expected: &str,
) -> Result<Option<CarriedBinary>> {
    for f in config.files.iter().filter(|f| f.name == name) {
        if let crate::files::FileSource::Local(p) = &f.source {
            // The copy the build takes: the one kept in OUT/files, else the source.
            let path = match kept.get(&f.name) {
                Some(k) => k.copy.clone(),
                None => config.dir.join(p),
            };
            let words = state.derived(&path, "k3s binary", || {
                let mut file = crate::input::open_regular(&path).map_err(|e| e.into_io())?;
                Ok(k3s_binary_facts(&mut file, K3S_BINARY_SCAN_LIMIT)?.to_words())
            });
            let Ok(words) = words else { continue };
            let facts = BinaryFacts::from_words(&words);
            crate::preflight::check_k3s_releases(
                expected,
                facts.releases.clone(),
                &path,
                &config.path,
                f.location,
                &f.name,
            )?;
            return Ok(Some(CarriedBinary {
                defaults: facts.defaults(),
                path,
                name: f.name.clone(),
            }));
        }
    }
    Ok(None)
}

/// The k3s release the output at `output` was last sealed with (its manifest.json's
/// `cluster.k3s_version`), if it holds a readable one.
pub(super) fn sealed_release(output: &std::path::Path) -> Option<String> {
    let path = output.join(crate::pipeline::seal::MANIFEST);
    let bytes = crate::input::read_found(&path, crate::input::Kind::Manifest).ok()?;
    let manifest: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    Some(manifest["cluster"]["k3s_version"].as_str()?.to_string())
}

/// Without `cluster.upgrade_from`, the far side's nodes run the release the output was last
/// sealed with ([`sealed_release`]) once its media are carried: a `cluster.k3s_version` more
/// than one minor ahead of it is refused at its line (exit 2, nothing written), naming
/// both releases, every minor skipped and the fix (the config's `cluster.upgrade_from` with
/// `cluster.upgrade_path`, or a medium per minor). With `upgrade_from` the config says where
/// the nodes start, and its path was checked while reading it.
pub(super) fn check_sealed_step(config: &Config, output: &std::path::Path) -> Result<()> {
    if config.cluster.upgrade_from.is_some() {
        return Ok(());
    }
    let Some(from) = sealed_release(output) else {
        return Ok(());
    };
    let to = &config.cluster.k3s_version;
    let from_what = format!(
        "{} was last built with it, as its manifest.json records, and the config has no cluster.upgrade_from: the far side's nodes run it once that output's media are carried",
        output.display()
    );
    let Some((what, skipped)) =
        crate::preflight::skipped_minors_message((&from, &from_what), (to, "cluster.k3s_version"))
    else {
        return Ok(());
    };
    let (line, column) = crate::config::k3s_version_at(&config.path)
        .map_or((1, 1), |(line, column, _)| (line, column));
    Err(crate::config::ConfigError::Invalid {
        path: config.path.clone(),
        line,
        column,
        message: format!(
            "cluster.k3s_version: {what}; {}; nothing was written",
            crate::preflight::skip_fix(Some(&from), to, &skipped),
        ),
    }
    .into())
}

/// What each hop needs of the airgap set, as [`preflight_airgap`] checks the target's:
/// its pause image (the config's, else its binary's, else the release's default) and its
/// packaged components (its binary's defaults over the table); a missing one is refused,
/// naming the hop. Returns the warnings and each hop's requirements, oldest first.
pub(super) fn preflight_hops(
    config: &Config,
    images: &ImageList,
    hops: &[(String, Option<CarriedBinary>)],
) -> Result<(Vec<String>, Vec<HopNeeds>)> {
    let disabled: Vec<String> = config.cluster.disable.iter().map(|c| c.0.clone()).collect();
    let available: Vec<_> = (images.entries.iter())
        .map(|e| e.destination.clone())
        .collect();
    let mut warnings = Vec::new();
    let mut out = Vec::new();
    for (hop, binary) in hops {
        let pause = pause_image(config, binary.as_ref());
        let embedded = binary.as_ref().map_or(&[][..], |b| &b.defaults[..]);
        let required = required_images(hop, pause.as_ref(), &disabled, None, embedded)?;
        check_airgap_images(
            &format!("{hop} (a hop of cluster.upgrade_path)"),
            &required,
            &available,
        )?;
        if let Some(b) = binary {
            warnings.extend(binary_disagreements(hop, &b.defaults, &b.name, &b.path));
        }
        out.push(HopNeeds {
            release: hop.clone(),
            required,
        });
    }
    Ok((warnings, out))
}

/// The seed logs' pause-image and missing-component failures, caught before writing;
/// returns the warnings (what is checked by repository only, what the binary says against
/// the tables) and what is required.
pub(super) fn preflight_airgap(
    config: &Config,
    images: &ImageList,
    binary: Option<&CarriedBinary>,
) -> Result<(Vec<String>, Vec<Requirement>)> {
    let version = &config.cluster.k3s_version;
    let disabled: Vec<String> = config.cluster.disable.iter().map(|c| c.0.clone()).collect();
    let pause = pause_image(config, binary);
    let release = match &config.release_images {
        Some((path, _)) => Some(ImageList::load(path)?),
        None => None,
    };
    let embedded = binary.map_or(&[][..], |b| &b.defaults[..]);
    let required = required_images(
        version,
        pause.as_ref(),
        &disabled,
        release.as_ref(),
        embedded,
    )?;
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
    let mut warnings = Vec::new();
    if let Some(b) = binary {
        // The config's own pause image is the one the nodes are told to use.
        let defaults: Vec<Reference> = (b.defaults.iter())
            .filter(|r| config.cluster.pause_image.is_none() || r.name() != PAUSE_REPOSITORY)
            .cloned()
            .collect();
        warnings.extend(binary_disagreements(version, &defaults, &b.name, &b.path));
    }
    warnings.extend(release_warnings(
        version,
        release.is_some(),
        pause.is_some(),
    ));
    Ok((warnings, required))
}

/// The pause image the nodes are told to use when it is not the release's default from the
/// table: the config's (`cluster.pause_image`), else the carried binary's.
pub(super) fn pause_image(config: &Config, binary: Option<&CarriedBinary>) -> Option<Reference> {
    match &config.cluster.pause_image {
        Some(p) => Some(p.0.clone()),
        None => binary.and_then(CarriedBinary::pause).cloned(),
    }
}

/// What rendering the nodes' files needs, as a build renders them: the config's settings
/// with the pause image the carried k3s binary defaults to (`seedforge render`). A binary
/// of another release than the config's is refused here too.
pub fn render_settings(config: &Config) -> Result<crate::render::RenderSettings> {
    let state = BuildState::load(&config.output, false);
    let binary = carried_binary(config, &state, &Default::default())?;
    let mut settings = config.render_settings()?;
    if let Some(pause) = pause_image(config, binary.as_ref()) {
        settings.pause_image = pause.to_string();
    }
    Ok(settings)
}
