//! A command's JSON report when the command fails after making it (`verify` finding a
//! problem): one document, the report's fields and the error document's `error` beside
//! them, so that a script reading `.error` finds the failure whether the command failed
//! before its report or after it (docs/json.md).

use super::{CliError, ExitCode, Global, Kind, error_json, print_json};

/// Prints `doc` (a JSON object, the document of `kind`) with `--json`, with `result`'s error under `error` when
/// it failed; nothing without `--json`.
pub(crate) fn print_report(
    g: &Global,
    kind: Kind,
    mut doc: serde_json::Value,
    result: &Result<ExitCode, CliError>,
) {
    if !g.json {
        return;
    }
    if let (Err(e), Some(map)) = (result, doc.as_object_mut()) {
        let error = error_json(&g.secrets, e);
        map.insert("error".into(), error["error"].clone());
    }
    print_json(g, kind, &doc);
}
