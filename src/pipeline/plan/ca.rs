//! The records of the registry CA a build reads before it plans the PKI step: the lock's
//! (`seedforge.lock`, for a build into the config's own output) and the last build's
//! seal (`OUT/manifest.json`). A build that would make a CA other than a recorded one
//! refuses, unless it rotates on purpose (see [`crate::pki::continuity`]).

use crate::Result;
use crate::config::Config;
use crate::oci::OciError;
use crate::oci::registry::lockfile::LockFile;
use crate::pipeline::plan::PlanOptions;
use crate::pipeline::seal::{MANIFEST, ManifestView};
use crate::pki::{CaContinuity, RecordedCa};
use std::path::Path;

/// The sealed path of the CA certificate.
const CA_CERT: &str = "pki/ca.crt";

/// True when `output` is the config's own output (`output:`): the lock records its CA.
/// A build into another folder (`--out`) keeps its own CA, and neither reads nor writes
/// the lock's record.
pub(super) fn recorded_in_lock(config: &Config, output: &Path) -> bool {
    crate::outpath::resolve(output) == crate::outpath::resolve(&config.output)
}

/// What the PKI step is told of the CA's continuity.
pub(super) fn continuity(
    config: &Config,
    output: &Path,
    in_lock: bool,
    options: &PlanOptions,
) -> Result<CaContinuity> {
    let mut recorded = Vec::new();
    if in_lock {
        let path = LockFile::path_for(&config.path);
        if let Some(pin) = LockFile::load(&path)
            .map_err(OciError::from)?
            .and_then(|lock| lock.registry_ca)
        {
            recorded.push(RecordedCa {
                recorded_in: path.display().to_string(),
                fingerprint: Some(pin.fingerprint),
                file_sha256: None,
                certificate: Some(pin.certificate),
            });
        }
    }
    // An output sealed by a build whose CA is lost: its seal still names it.
    if let Ok(view) = ManifestView::load(output)
        && let Some(ca) = view.artifacts.iter().find(|a| a.path == CA_CERT)
    {
        recorded.push(RecordedCa {
            recorded_in: format!(
                "{} (the last build's seal)",
                output.join(MANIFEST).display()
            ),
            fingerprint: None,
            file_sha256: Some(ca.sha256.clone()),
            certificate: None,
        });
    }
    Ok(CaContinuity {
        recorded,
        rotate: options.rotate_ca,
        keep_bundle: options.keep_ca_bundle,
    })
}
