//! `seedforge gc`: unreferenced blobs of a layout, and the download cache.

use super::common::{CliError, ExitCode, Global, cache, layout_dir, print_json, write_error};
use clap::Args;
use seedforge::Error;
use seedforge::oci::Layout;
use seedforge::oci::verify::gc;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub(crate) struct GcArgs {
    /// The OCI layout or build output to collect (optional with --cache).
    #[arg(value_name = "DIR", required_unless_present = "cache")]
    dir: Option<PathBuf>,
    /// Empty the download cache that `debs` and `build` share.
    #[arg(long)]
    cache: bool,
}

pub(crate) fn gc_cmd(g: &Global, a: &GcArgs) -> Result<ExitCode, CliError> {
    let cache = if a.cache { Some(gc_cache(g)?) } else { None };
    let Some(dir) = &a.dir else {
        if g.json {
            print_json(&serde_json::json!({ "cache": cache }));
        }
        return Ok(ExitCode::Ok);
    };
    let layout = Layout::open(&layout_dir(dir))?;
    let report = gc(&layout)?;
    if g.json {
        // One document: the layout's report, with the cache's beside it when emptied too.
        let mut value = serde_json::to_value(&report).unwrap_or_default();
        if let (Some(cache), Some(map)) = (cache, value.as_object_mut()) {
            map.insert("cache".into(), serde_json::json!(cache));
        }
        print_json(&value);
    } else if !g.quiet {
        outln!(
            "removed {} unreferenced blob(s), {} freed; {} stale temporary dir(s)",
            report.removed.len(),
            seedforge::util::human_bytes(report.bytes_freed),
            report.stale_temp_removed
        );
    }
    Ok(ExitCode::Ok)
}

/// `gc --cache`: empties the download cache, if there is one, and says what it freed
/// (the JSON is the caller's).
pub(crate) fn gc_cache(g: &Global) -> Result<seedforge::debs::cache::CacheReport, Error> {
    let root = cache::cache_root(None);
    let report = match &root {
        Some(root) if root.join("debs").is_dir() => seedforge::debs::cache::DebCache::open(root, 0)
            .and_then(|c| c.clear())
            .map_err(|e| write_error(&root.join("debs"), e))?,
        _ => seedforge::debs::cache::CacheReport {
            dir: root.map(|r| r.join("debs")).unwrap_or_default(),
            ..Default::default()
        },
    };
    if !g.json && !g.quiet {
        outln!(
            "removed {} cached file(s), {} freed, from {}",
            report.removed,
            seedforge::util::human_bytes(report.bytes_freed),
            report.dir.display()
        );
    }
    Ok(report)
}
