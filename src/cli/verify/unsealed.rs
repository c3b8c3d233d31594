//! `verify`'s look at what a sealed output holds besides what its seal lists
//! ([`seedforge::pipeline::unsealed`]): symbolic links and files `SHA256SUMS` does not list.

use crate::cli::common::{CliError, Global, document};
use seedforge::Error;
use std::path::Path;

/// Names every symbolic link and every file `SHA256SUMS` does not list under the sealed
/// output `dir` (stderr, and `unsealed` in the JSON document `doc`); fails (exit 1) on a
/// link, and on an unlisted ISO under `iso/` or node file under `nodes/`.
pub(crate) fn check(g: &Global, dir: &Path, doc: &mut serde_json::Value) -> Result<(), CliError> {
    let found = seedforge::pipeline::unsealed::find(dir)
        .map_err(|e| Error::VerifyFailed(format!("{}: cannot list: {e}", dir.display())))?;
    for link in &found.links {
        errln!(
            "BAD  {}: a symbolic link (to {}); an output holds none: what is read through it is another folder's",
            link.path,
            link.target
        );
    }
    for u in &found.unlisted {
        if u.fails {
            errln!(
                "BAD  {}: not listed in SHA256SUMS: no seal vouches for it; remove it, or build again",
                u.path
            );
        } else {
            document::warn(
                g,
                &format!(
                    "{}: not listed in SHA256SUMS: not sealed, nothing vouches for it",
                    u.path
                ),
            );
        }
    }
    let failures = found.failures();
    let any = !found.links.is_empty() || !found.unlisted.is_empty();
    if any && !g.json && (!g.quiet || !failures.is_empty()) {
        outln!(
            "verify {}: {} file(s) SHA256SUMS does not list, {} symbolic link(s); {} problem(s)",
            dir.display(),
            found.unlisted.len(),
            found.links.len(),
            failures.len()
        );
    }
    doc["unsealed"] = serde_json::to_value(&found).unwrap_or_default();
    if failures.is_empty() {
        return Ok(());
    }
    Err(Error::VerifyFailed(format!(
        "{}: {} symbolic link(s) or file(s) no seal covers where artifacts are: {}",
        dir.display(),
        failures.len(),
        failures.join(", ")
    ))
    .into())
}
