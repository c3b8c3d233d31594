//! What `apply` checks of the far side's own config folder before it stages anything, so
//! that an input edited on the far side is named as itself, not found later as a
//! rebuilt file (`manifest.json`, a seed ISO) that differs from the delta's seal:
//!
//! - each input `OUT`'s manifest.json records (the config, image lists, template
//!   overrides) must hold the content recorded there, or the delta's version of it (an
//!   apply killed after it wrote the config files); anything else is exit 2, naming them;
//! - the join token is a secret, recorded nowhere as content, but every node's
//!   `user-data` holds it and is sealed: the far side's config is rendered (nothing
//!   written) and each `user-data` compared with `OUT`'s sealed digest. Done only when
//!   `OUT` was built by this very seedforge (another one's templates may render
//!   otherwise), and only when the config folder's inputs are the ones `OUT` was built from.

use super::{DeltaError, Sealed};
use crate::pipeline::seal;
use std::collections::BTreeMap;
use std::path::Path;

/// Refuses a config folder whose recorded inputs are neither `OUT`'s (`sealed`) nor the
/// delta's (`carried`: path, sha256); returns true when every one is `OUT`'s.
pub(crate) fn check_inputs(
    out: &Path,
    config_dir: &Path,
    sealed: &Sealed,
    carried: &BTreeMap<String, String>,
) -> Result<bool, DeltaError> {
    let mut edited = Vec::new();
    let mut all_base = true;
    for input in sealed.inputs() {
        let file = config_dir.join(&input.path);
        let now = crate::input::read(&file, crate::input::Kind::Config)
            .ok()
            .map(|b| crate::hashing::sha256_hex(&b));
        if now.as_deref() == Some(input.sha256.as_str()) {
            continue;
        }
        all_base = false;
        if now.is_some() && now.as_ref() == carried.get(&input.path) {
            continue;
        }
        edited.push(match now {
            Some(h) => format!(
                "{} (sha256 {h}; {} was built from {})",
                file.display(),
                out.display(),
                input.sha256
            ),
            None => format!("{} (missing)", file.display()),
        });
    }
    if edited.is_empty() {
        return Ok(all_base);
    }
    Err(DeltaError::OutOfDate {
        out: out.to_path_buf(),
        message: format!(
            "the config folder holds {} input(s) that are neither what this output was built from (its manifest.json records them) nor the delta's: {}; edited on this side? put each back as it was (the delta carries the near side's version of what changed), then apply again; nothing was changed",
            edited.len(),
            edited.join(", ")
        ),
    })
}

/// Refuses a config folder holding one of the other files the new config names (chart
/// values, `cluster.release_images`, `manifests:` files, base lists; `near`: path as the
/// config names it, the near side's sha256) with other content than the near side's,
/// when the delta does not carry it (`carried`): edited on this side, or outside the
/// config folder and not brought in step by hand.
pub(crate) fn check_other_inputs(
    out: &Path,
    config_dir: &Path,
    near: &BTreeMap<String, String>,
    carried: &BTreeMap<String, String>,
) -> Result<(), DeltaError> {
    let mut differ = Vec::new();
    for (rel, sha) in near {
        if carried.contains_key(rel) {
            continue;
        }
        let file = config_dir.join(rel);
        match crate::hashing::sha256_file(&file) {
            Ok(h) if h == *sha => {}
            Ok(h) => differ.push(format!(
                "{} (sha256 {h}; the near side's {sha})",
                file.display()
            )),
            Err(_) => differ.push(format!("{} (missing)", file.display())),
        }
    }
    if differ.is_empty() {
        return Ok(());
    }
    Err(DeltaError::OutOfDate {
        out: out.to_path_buf(),
        message: format!(
            "the config names {} file(s) this side holds otherwise than the near side, which the delta does not carry: {}; edited on this side, or outside the config folder and not copied across: put each in step with the near side's, then apply again; nothing was changed",
            differ.len(),
            differ.join(", ")
        ),
    })
}

/// When the folder above `out` (`out_abs`, resolved) holds the config file `OUT`'s
/// manifest.json names with other content (which is why it was not found as the config
/// folder): the error naming it, as [`check_inputs`] names an edited input.
pub(crate) fn edited_config(out: &Path, out_abs: &Path, sealed: &Sealed) -> Option<DeltaError> {
    let recorded = &sealed.facts.inputs.as_ref()?.config;
    let file = out_abs.parent()?.join(seal::safe_relative(&recorded.path)?);
    let now = crate::input::read(&file, crate::input::Kind::Config).ok()?;
    let now = crate::hashing::sha256_hex(&now);
    Some(DeltaError::OutOfDate {
        out: out.to_path_buf(),
        message: format!(
            "the config file {} (sha256 {now}) is not the one this output was built from ({}, as its manifest.json records) nor the delta's: edited on this side? put it back as it was (the delta carries the near side's version when it changed), or name the config with --config FILE; nothing was changed",
            file.display(),
            recorded.sha256
        ),
    })
}

/// Refuses a join token (or another value the nodes' `user-data` holds) that is not the
/// one `OUT` was built with: the config `config_file` rendered, each node's `user-data`
/// compared with `OUT`'s sealed one. Skipped when `OUT` is another seedforge's or the
/// config cannot be rendered here (the build names why).
pub(crate) fn check_token(
    out: &Path,
    config_file: &Path,
    sealed: &Sealed,
) -> Result<(), DeltaError> {
    if sealed.facts.seedforge_version.as_deref() != Some(env!("CARGO_PKG_VERSION"))
        || sealed.facts.seedforge_commit.as_deref() != Some(crate::COMMIT)
    {
        return Ok(());
    }
    // Parsed, its paths not checked: a `files:` source this side lacks is written by the
    // apply, and the render reads none of them.
    let Ok(text) = crate::input::read_to_string(config_file, crate::input::Kind::Config) else {
        return Ok(());
    };
    let Ok(config) = crate::config::Config::parse(&text, config_file) else {
        return Ok(());
    };
    let Ok(nodes) = config
        .render_settings()
        .map_err(drop)
        .and_then(|s| crate::render::render_all(&s).map_err(drop))
    else {
        return Ok(());
    };
    let differ: Vec<String> = (nodes.iter())
        .filter_map(|n| {
            let rel = format!("nodes/{}/user-data", n.node);
            let sealed_sha = sealed.sums.get(&rel)?;
            (crate::hashing::sha256_hex(n.user_data.as_bytes()) != *sealed_sha).then_some(rel)
        })
        .collect();
    if differ.is_empty() {
        return Ok(());
    }
    let token = match &config.cluster.token {
        Some(crate::vocab::Secret::File(f)) => {
            format!(
                "the join token (cluster.token, {})",
                config.dir.join(f).display()
            )
        }
        Some(crate::vocab::Secret::Env(name)) => {
            format!("the join token (cluster.token, ${name})")
        }
        None => "the join token".to_string(),
    };
    Err(DeltaError::OutOfDate {
        out: out.to_path_buf(),
        message: format!(
            "{token} is not the one this output was built with: rendered from the config folder as it is, {} do(es) not hash to what {} seals; put the token (or another secret the nodes' user-data holds) back as it was (a changed one is carried by hand, to both sides, and built on the near side first); nothing was changed",
            differ.join(", "),
            out.join(seal::SUMS).display()
        ),
    })
}
