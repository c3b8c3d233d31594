//! The crossing record's facts that `delta` sets beyond what changes: the site the receipt
//! is of against the output's (one site a crossing), who made it, its base and why.

use super::{DeltaDoc, DeltaError, doc_bytes};
use crate::delta::receipt::Receipt;
use crate::pipeline::seal;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// A receipt of another site than `out`'s (another far side of a cluster with this name:
/// a lab cloned with its CA, keys and token) is refused, naming both; a receipt or an
/// output without a site (made by a seedforge without sites) is warned of, not refused.
pub(super) fn check_site(
    out: &Path,
    receipt_path: &Path,
    doc: &DeltaDoc,
) -> Result<(), DeltaError> {
    match (&doc.base_site, &doc.site) {
        (Some(far), Some(near)) if far != near => Err(DeltaError::OtherSite {
            path: receipt_path.to_path_buf(),
            message: format!(
                "the receipt is of site {far}, and {} is the output of site {near} (its site.json): two far sides share the cluster name, and a delta applies only to the site it is made for. Make the delta of site {far}'s output, or against a receipt of site {near}'s far side (seedforge receipt OUT -o FILE run there, on the copy of this output); if this side lost the output it built for site {far} and built it anew, take that site back first (jq '{{site}}' {} > {}) and build again; nothing was written",
                out.display(),
                receipt_path.display(),
                out.join(seal::site::SITE_FILE).display()
            ),
        }),
        (None, Some(near)) => {
            tracing::warn!(
                "{}: the receipt names no site (a seedforge without sites wrote it, or its output has none yet): it cannot be told from another far side of this cluster; this output is site {near}, which the far side takes with this delta",
                receipt_path.display()
            );
            Ok(())
        }
        (Some(far), None) => {
            tracing::warn!(
                "{}: this output has no site yet (built by a seedforge without sites, or only offline since); the receipt is of site {far}: build it with this seedforge to make the delta for one site",
                out.display()
            );
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Sets the record's facts beyond what changes in `doc`: who made it (the config's digest,
/// the config folder's commit), the base (the receipt's time, what the far side last
/// applied, staleness by the deltas `out`'s state records, each warned of, with a receipt
/// too old to trust) and why (the config inputs' diff since the receipt's). Gives what to
/// record as sent once the delta is written.
pub(super) fn crossing_record(
    doc: &mut DeltaDoc,
    out: &Path,
    (receipt_path, receipt): (&Path, &Receipt),
    (config_dir, sealed): (Option<&Path>, &crate::delta::Sealed),
    secrets: Option<&crate::redact::Secrets>,
) -> impl Fn(&DeltaDoc) -> crate::delta::record::Sent + use<> {
    use crate::delta::record;
    let config_sha256 = (sealed.facts.inputs.as_ref()).map(|i| i.config.sha256.clone());
    doc.made_by = Some(record::made_by(out, config_dir, config_sha256));
    let stale = record::stale(
        receipt.described(),
        doc.cluster.as_deref(),
        &sealed.manifest_sha256,
        &record::sent(out),
    );
    for said in stale
        .iter()
        .cloned()
        .chain(record::aged(receipt.described(), record::now()))
    {
        tracing::warn!("{}: {said}", receipt_path.display());
    }
    doc.base = Some(record::Base {
        receipt_written_at: receipt.written_at,
        last_applied: receipt.applied.clone(),
        stale,
    });
    let mut target: BTreeMap<String, String> = (sealed.facts.inputs.as_ref())
        .map(crate::delta::kept::all_inputs)
        .unwrap_or_default()
        .into_iter()
        .map(|i| (i.path, i.sha256))
        .collect();
    let mut base: BTreeMap<String, String> = (receipt.inputs.iter())
        .chain(&receipt.other_inputs)
        .map(|i| (i.path.clone(), i.sha256.clone()))
        .collect();
    // A receipt that lists none of the config's other files: those of the seal it
    // describes, as kept here; or, when the far side's folder was not known to it, none
    // compared (rather than each called new).
    if receipt.other_inputs.is_empty() {
        match crate::delta::kept::kept_seal(out, &receipt.manifest_sha256) {
            Some(kept) => {
                for i in kept.inputs {
                    base.entry(i.path).or_insert(i.sha256);
                }
            }
            None if receipt.lock_sha256.is_none() => {
                let recorded: BTreeSet<&String> = receipt.inputs.iter().map(|i| &i.path).collect();
                let own: BTreeSet<String> = (sealed.inputs().into_iter()).map(|i| i.path).collect();
                target.retain(|p, _| recorded.contains(p) || own.contains(p));
            }
            None => {}
        }
    }
    let none = crate::redact::Secrets::new();
    doc.why = Some(crate::delta::why::why(
        out,
        config_dir,
        &base,
        &target,
        secrets.unwrap_or(&none),
    ));
    let (base_receipt, base_manifest) = (receipt.stated_digest(), receipt.manifest_sha256.clone());
    let (target_manifest, k3s) = (
        sealed.manifest_sha256.clone(),
        (sealed.facts.cluster.as_ref()).map(|c| c.k3s_version.clone()),
    );
    move |doc: &DeltaDoc| record::Sent {
        delta_sha256: crate::hashing::sha256_hex(&doc_bytes(doc)),
        cluster: doc.cluster.clone(),
        base_receipt: base_receipt.clone(),
        base_manifest_sha256: base_manifest.clone(),
        target_manifest_sha256: target_manifest.clone(),
        k3s_version: k3s.clone(),
        made_at: record::now(),
    }
}
