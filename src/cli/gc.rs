//! `seedforge gc`: unreferenced blobs of a layout, and the download cache.

use super::common::{
    CliError, ExitCode, Global, Kind, cache, layout_dir, lock_output, print_json, write_error,
};
use clap::Args;
use seedforge::Error;
use seedforge::oci::Layout;
use seedforge::oci::verify::gc_keeping;
use std::collections::HashSet;
use std::path::Path;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub(crate) struct GcArgs {
    /// The OCI layout or build output to collect (optional with --cache).
    #[arg(value_name = "DIR", required_unless_present = "cache")]
    dir: Option<PathBuf>,
    /// Empty the download cache that `debs` and `build` share.
    #[arg(long)]
    cache: bool,
    /// Fail at once (exit 75) instead of waiting when another seedforge command (a build,
    /// apply, verify, serve…) holds the output (OUT/.seedforge-build.lock).
    #[arg(long)]
    no_wait: bool,
}

pub(crate) fn gc_cmd(g: &Global, a: &GcArgs) -> Result<ExitCode, CliError> {
    let cache = if a.cache { Some(gc_cache(g)?) } else { None };
    let Some(dir) = &a.dir else {
        if g.json {
            print_json(g, Kind::Gc, &serde_json::json!({ "cache": cache }));
        }
        return Ok(ExitCode::Ok);
    };
    // A build output is collected under its build lock, exclusive, as a build writes it:
    // never under a build, apply, verify or serve reading or writing it.
    let _lock = match output_of(dir) {
        Some(out) => Some(lock_output(g, &out, !a.no_wait)?),
        None => None,
    };
    let layout = Layout::open(&layout_dir(dir))?;
    // A build output's seal vouches for what it lists: such a blob stays (an output sealed
    // by an older seedforge may list blobs nothing reaches), until a build seals without it.
    let sealed = sealed_blobs(layout.root());
    let report = gc_keeping(&layout, &|p| {
        p.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| sealed.contains(n))
    })?;
    if g.json {
        // One document: the layout's report, with the cache's beside it when emptied too.
        let mut value = serde_json::to_value(&report).unwrap_or_default();
        if let (Some(cache), Some(map)) = (cache, value.as_object_mut()) {
            map.insert("cache".into(), serde_json::json!(cache));
        }
        print_json(g, Kind::Gc, &value);
    } else if !g.quiet {
        outln!(
            "removed {} unreferenced blob(s), {} freed; {} stale temporary dir(s)",
            report.removed.len(),
            seedforge::util::human_bytes(report.bytes_freed),
            report.stale_temp_removed
        );
        if !report.kept.is_empty() {
            outln!(
                "kept {} unreferenced blob(s) that the output's SHA256SUMS lists: the next build seals without them, and gc removes them then",
                report.kept.len()
            );
        }
    }
    Ok(ExitCode::Ok)
}

/// The build output `dir` is, or whose layout (`OUT/oci`) it is; `None` for a layout of
/// its own (its `index.json` has a lock of its own) or a path that is no folder.
fn output_of(dir: &Path) -> Option<PathBuf> {
    use seedforge::pipeline::build_lock::LOCK_FILE_NAME;
    let is_output = |d: &Path| {
        d.is_dir()
            && (d.join(LOCK_FILE_NAME).exists()
                || d.join("manifest.json").is_file()
                || d.join("oci").join("oci-layout").is_file())
    };
    if dir.join("oci-layout").is_file() {
        let parent = dir.parent().filter(|_| dir.ends_with("oci"))?;
        let parent = if parent.as_os_str().is_empty() {
            Path::new(".")
        } else {
            parent
        };
        return (parent.join(LOCK_FILE_NAME).exists() || parent.join("manifest.json").is_file())
            .then(|| parent.to_path_buf());
    }
    is_output(dir).then(|| dir.to_path_buf())
}

/// The blob names (hex) that the `SHA256SUMS` of the build output holding `layout` (its
/// `oci/`) lists; none when the layout is not a build output's.
fn sealed_blobs(layout: &Path) -> HashSet<String> {
    use seedforge::pipeline::seal::{SUMS, parse_sums};
    let Some(out) = layout.parent().filter(|_| layout.ends_with("oci")) else {
        return HashSet::new();
    };
    let Ok(text) =
        seedforge::input::read_found_to_string(&out.join(SUMS), seedforge::input::Kind::Sums)
    else {
        return HashSet::new();
    };
    parse_sums(&text)
        .into_keys()
        .filter_map(|path| path.strip_prefix("oci/blobs/sha256/").map(str::to_string))
        .collect()
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
