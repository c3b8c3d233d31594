//! The charts a config keeps beside itself (`charts[].path`), as the near side holds them
//! when it makes a delta: each packed again (as `build` packs it) and compared with the
//! archive the output was sealed with. The far side's offline build takes the chart from
//! the output, so a chart folder edited after the build would not cross, and the next
//! build of the near side would carry it with no word of when it changed. `delta` refuses
//! such an output, naming the chart, its folder and each file of it that differs, as
//! `plan --upgrade-from` notices the new pin.

use crate::charts::{ChartConfig, ChartRepo};
use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::Path;

/// Each chart of the config file `config_file` kept beside it whose archive now differs
/// from the one the output `out` holds (`sums`: its `SHA256SUMS`, path to hex sha256),
/// said in one line each: the entry, its path, the output's archive and what differs. The
/// config is parsed but not checked (the build has checked it); none when it cannot be
/// read.
pub(crate) fn changed_since_build(
    config_file: &Path,
    out: &Path,
    sums: &BTreeMap<String, String>,
) -> Vec<String> {
    let Ok(text) = crate::input::read_to_string(config_file, crate::input::Kind::Config) else {
        return Vec::new();
    };
    let Ok(config) = crate::config::Config::parse(&text, config_file) else {
        return Vec::new();
    };
    (config.charts.iter())
        .filter_map(|chart| changed(chart, config_file, out, sums))
        .collect()
}

/// One chart's line for [`changed_since_build`], or none when its archive is the output's.
fn changed(
    chart: &ChartConfig,
    config_file: &Path,
    out: &Path,
    sums: &BTreeMap<String, String>,
) -> Option<String> {
    let ChartRepo::Local { path, shown } = &chart.repo else {
        return None;
    };
    let name = chart.name.as_str();
    // The output's archive of this entry: `charts/NAME-VERSION.tgz`.
    let prefix = format!("charts/{name}-");
    let held: Vec<(&String, &String)> = (sums.iter())
        .filter(|(p, _)| {
            p.strip_prefix(&prefix)
                .is_some_and(|v| v.ends_with(".tgz") && !v.contains('/'))
        })
        .collect();
    let now = match crate::charts::local::read(chart, path, shown, config_file) {
        Ok(fetched) => fetched,
        Err(e) => {
            return Some(format!(
                "chart {name} (path {shown}): the output holds {}, and the chart cannot be read now: {e}",
                held.first().map_or("no archive of it", |(p, _)| p.as_str())
            ));
        }
    };
    let now_hex = now.digest.hex().to_string();
    if held.iter().any(|(_, sha)| **sha == now_hex) {
        return None;
    }
    let Some((rel, sha)) = held.first() else {
        return Some(format!(
            "chart {name} (path {shown}): the output holds no archive of it (charts/{name}-*.tgz); the folder packs to sha256 {now_hex} now"
        ));
    };
    let differs = match crate::input::read_found(&out.join(rel.as_str()), crate::input::Kind::Chart)
    {
        Ok(built) => match (entries(&built), entries(&now.bytes)) {
            (Some(built), Some(now)) => {
                let mut said = Vec::new();
                for (file, digest) in &now {
                    match built.get(file) {
                        Some(d) if d == digest => {}
                        Some(_) => said.push(format!("{file} changed")),
                        None => said.push(format!("{file} added")),
                    }
                }
                said.extend(
                    (built.keys())
                        .filter(|f| !now.contains_key(*f))
                        .map(|f| format!("{f} removed")),
                );
                said.join(", ")
            }
            _ => String::new(),
        },
        Err(_) => String::new(),
    };
    let differs = if differs.is_empty() {
        String::new()
    } else {
        format!(" ({differs})")
    };
    Some(format!(
        "chart {name} (path {shown}) changed since the build{differs}: the output holds {rel} sha256 {sha}, the folder packs to sha256 {now_hex} now"
    ))
}

/// The files of a chart archive by name, each with its SHA-256; none when it cannot be
/// read (the archive is the seal's and was checked; a folder is packed by seedforge).
fn entries(tgz: &[u8]) -> Option<BTreeMap<String, String>> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(tgz));
    let mut found = BTreeMap::new();
    for entry in archive.entries().ok()? {
        let mut entry = entry.ok()?;
        let name = entry.path().ok()?.to_string_lossy().into_owned();
        let mut bytes = Vec::new();
        (&mut entry)
            .take(crate::charts::load::MAX_CHART_FILE)
            .read_to_end(&mut bytes)
            .ok()?;
        found.insert(name, crate::hashing::sha256_hex(&bytes));
    }
    Some(found)
}
