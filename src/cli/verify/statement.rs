//! `verify --key`'s first check of a sealed output or an export folder: its signed
//! `statement.json` ([`seedforge::pipeline::seal::statement`]), then every file there
//! against it, before anything else of the folder is read (an export's parts before
//! anything joins them, `join.sh` included). An added file, a missing one or a changed one
//! is refused by name.

use crate::cli::common::{CliError, Global};
use seedforge::Error;
use seedforge::pipeline::seal::statement::{self, STATEMENT, STATEMENT_BUNDLE};
use seedforge::pipeline::seal::{MANIFEST, MANIFEST_BUNDLE, SUMS, SealError};
use seedforge::pipeline::{parity, split};
use seedforge::trust::keys::PublicKey;
use std::path::Path;

/// Checks the medium `dir` (a sealed output, or an export folder when `export`) against
/// its statement signed with one of `keys`. An export folder made where only the public
/// key is has no signed statement: its files are then checked against what the export
/// writes for the ISOs its signed `manifest.json` names ([`unsigned_export`]).
pub(crate) fn check(
    g: &Global,
    dir: &Path,
    export: bool,
    keys: &[(String, PublicKey)],
) -> Result<(), CliError> {
    let stripped = std::fs::symlink_metadata(dir.join(STATEMENT_BUNDLE)).is_err();
    if export && stripped {
        return unsigned_export(g, dir);
    }
    let skip: &dyn Fn(&str) -> bool = if export {
        &|_| false
    } else {
        &statement::output_own
    };
    let (listed, key) = statement::verify_any(dir, keys).map_err(Error::from)?;
    statement::check(dir, &listed, skip).map_err(Error::from)?;
    if !g.json && !g.quiet {
        outln!(
            "statement {}: verified with {key}; {} file(s){} on the {}, each one it lists, none added or missing",
            dir.join(STATEMENT).display(),
            listed.files.len(),
            if listed.wholes.is_empty() {
                String::new()
            } else {
                format!(" ({} in parts)", listed.wholes.len())
            },
            if export { "export folder" } else { "output" }
        );
    }
    Ok(())
}

/// An export folder with no signed statement (made where only the public key is, which
/// cannot sign one; or stripped): every file there must be one the export writes for the
/// ISOs its signed `manifest.json` names (checked after this), and `join.sh` the very
/// script seedforge writes for its `SHA256SUMS.wholes`, so that nothing unsigned acts.
fn unsigned_export(g: &Global, dir: &Path) -> Result<(), CliError> {
    let refused = |rel: &str, message: String| -> CliError {
        Error::from(SealError::BadSignature {
            path: dir.join(rel),
            message,
        })
        .into()
    };
    let mut wholes: Vec<split::Whole> = Vec::new();
    if std::fs::symlink_metadata(dir.join(split::WHOLES)).is_ok() {
        let text = seedforge::input::read_found_to_string(
            &dir.join(split::WHOLES),
            seedforge::input::Kind::Sums,
        )
        .map_err(|e| Error::from(SealError::Input(e)))?;
        for (name, sha256) in seedforge::pipeline::seal::parse_sums(&text) {
            let parts = split::parts_in(dir, &name)
                .map_err(|e| Error::from(SealError::io(dir, e)))?
                .into_iter()
                .map(|(_, p)| p)
                .collect();
            wholes.push(split::Whole {
                name,
                sha256,
                parts,
            });
        }
    }
    let present = statement::walk(dir, &|_| false).map_err(Error::from)?;
    let script = split::join_script(&wholes).map_err(|e| refused(split::JOIN, e.to_string()))?;
    if present.contains(split::JOIN) {
        let bytes =
            seedforge::input::read_found(&dir.join(split::JOIN), seedforge::input::Kind::Manifest)
                .map_err(|e| Error::from(SealError::Input(e)))?;
        if bytes != script.as_bytes() {
            return Err(refused(
                split::JOIN,
                format!(
                    "not the script seedforge writes for this folder's {}, and no signed {STATEMENT} lists it: changed since it was exported; do not run it (seedforge verify --key is the check, and the export step writes it again)",
                    split::WHOLES
                ),
            ));
        }
    }
    for rel in &present {
        let name = rel.as_str();
        let ours = [MANIFEST, MANIFEST_BUNDLE, SUMS, split::WHOLES, split::JOIN].contains(&name)
            || name.ends_with(".iso")
            || wholes.iter().any(|w| w.parts.iter().any(|p| p == name))
            || (name.starts_with(&format!("{}.", parity::EXPORT_SET)) && name.ends_with(".par2"));
        if !ours || name.contains('/') {
            return Err(refused(
                name,
                "in the export folder, and not a file the export writes: added since it was exported; nothing of the folder should be used until it is removed".to_string(),
            ));
        }
    }
    if !g.json && !g.quiet {
        outln!(
            "statement {}: none signed (an export made where only the public key is); {} file(s), each one the export writes, {} the script it writes",
            dir.join(STATEMENT).display(),
            present.len(),
            split::JOIN
        );
    }
    Ok(())
}
