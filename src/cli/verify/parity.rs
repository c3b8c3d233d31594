//! `seedforge verify [--repair]` of a folder with PAR 2.0 recovery files (an export
//! folder's `export.par2`, a delta's `delta.par2`): what is lost or damaged, whether the
//! recovery data can rebuild it, and with `--repair` the rebuilding, each file checked
//! against the folder's `SHA256SUMS` before it takes its name.

use crate::cli::common::{CliError, Global};
use seedforge::Error;
use seedforge::par2::check::{FileState, check, load, set_files};
use seedforge::pipeline::parity::{DELTA_SET, EXPORT_SET};
use std::path::Path;

fn failed(message: String) -> CliError {
    Error::VerifyFailed(message).into()
}

/// What the recovery set of a folder says of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Parity {
    /// No recovery files, or nothing lost or damaged (or rebuilt by `--repair`).
    Sound,
    /// Files lost or damaged that the recovery files can rebuild (not asked to).
    Repairable,
    /// Files lost or damaged beyond the recovery data.
    Beyond,
}

/// Checks the recovery set of `dir`, if it has one, and with `repair` rebuilds what is
/// lost. Fails (exit 1) when `repair` is asked and the loss is beyond the recovery data.
/// Names the files par2cmdline's repair leaves beside a file it rebuilt (`NAME.1`).
pub(crate) fn check_or_repair(g: &Global, dir: &Path, repair: bool) -> Result<Parity, CliError> {
    let base = [EXPORT_SET, DELTA_SET]
        .into_iter()
        .find(|b| set_files(dir, b).is_ok_and(|f| !f.is_empty()));
    let Some(base) = base else {
        if repair {
            return Err(CliError::Usage(format!(
                "--repair: {} has no PAR 2.0 recovery files ({EXPORT_SET}.par2 or {DELTA_SET}.par2): export_parity or delta --parity writes them",
                dir.display()
            )));
        }
        return Ok(Parity::Sound);
    };
    let set = load(dir, base).map_err(|e| failed(e.to_string()))?;
    let report = check(dir, &set, &|_| false).map_err(|e| failed(e.to_string()))?;
    let index = dir.join(format!("{base}.par2"));
    let names: Vec<&str> = report.files.iter().map(|f| f.name.as_str()).collect();
    for (left, of) in par2_leftovers(dir, &names) {
        errln!(
            "note  {}: left by par2's repair beside {of} (the copy it replaced); not part of the folder, it can be removed",
            left.display()
        );
    }
    let slice = seedforge::util::human_bytes(report.slice);
    for f in &report.files {
        match &f.state {
            FileState::Intact => {}
            FileState::Missing => errln!("LOST  {}: missing", f.name),
            FileState::Damaged { slices } => errln!(
                "DAMAGED  {}: {} of its {} slice(s) of {slice} do not match",
                f.name,
                slices.len(),
                f.length.div_ceil(report.slice)
            ),
        }
    }
    if set.damaged_packets > 0 {
        errln!(
            "note  {}: {} damaged packet(s) in the recovery files, skipped",
            index.display(),
            set.damaged_packets
        );
    }
    let bad = report
        .files
        .iter()
        .filter(|f| f.state != FileState::Intact)
        .count();
    let verdict = if report.is_sound() {
        "nothing to rebuild".to_string()
    } else if report.repairable() {
        format!(
            "repairable: {} of the {} recovery slice(s) rebuild it{}",
            report.lost_slices,
            report.recovery_slices,
            if repair {
                String::new()
            } else if base == DELTA_SET {
                format!(
                    " (seedforge verify --repair {} rebuilds it in the folder; apply rebuilds it in a staging copy)",
                    dir.display()
                )
            } else {
                format!(" (seedforge verify --repair {} rebuilds it)", dir.display())
            }
        )
    } else {
        format!(
            "NOT repairable: {} recovery slice(s) for {} lost; carry the lost files again",
            report.recovery_slices, report.lost_slices
        )
    };
    if !g.json && (!g.quiet || !report.is_sound()) {
        outln!(
            "parity {}: {} file(s), {bad} lost or damaged ({} slice(s) of {slice}); {verdict}",
            index.display(),
            report.files.len(),
            report.lost_slices
        );
    }
    if report.is_sound() {
        return Ok(Parity::Sound);
    }
    if !repair {
        return Ok(if report.repairable() {
            Parity::Repairable
        } else {
            Parity::Beyond
        });
    }
    if !report.repairable() {
        return Err(failed(format!(
            "{}: {} slice(s) lost or damaged, {} recovery slice(s): not repairable; nothing was written",
            index.display(),
            report.lost_slices,
            report.recovery_slices
        )));
    }
    let rebuilt = seedforge::pipeline::parity::repair_checked(dir, &set, &report).map_err(|e| {
        use seedforge::pipeline::parity::RepairError;
        failed(match e {
            RepairError::Mismatch { path, .. } => format!(
                "{}: rebuilt from the recovery files, but not to the sha256 {} lists; nothing was written",
                path.display(),
                dir.join(seedforge::pipeline::seal::SUMS).display()
            ),
            e => e.to_string(),
        })
    })?;
    if !g.json && !g.quiet {
        for r in &rebuilt {
            outln!(
                "REPAIRED  {}: rebuilt, its sha256 the one SHA256SUMS lists",
                r.path.display()
            );
        }
    }
    Ok(Parity::Sound)
}

/// The files par2cmdline's repair leaves in `dir` beside a file of the set `names` it
/// rebuilt (the damaged copy, renamed `NAME.1`, `NAME.2`, …), each with the file it was.
fn par2_leftovers(dir: &Path, names: &[&str]) -> Vec<(std::path::PathBuf, String)> {
    let mut folders: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
    for name in names {
        let (folder, file) = name.rsplit_once('/').unwrap_or(("", name));
        folders.entry(folder).or_default().push(file);
    }
    let mut found = Vec::new();
    for (folder, files) in folders {
        let Ok(entries) = std::fs::read_dir(dir.join(folder)) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let Some((of, n)) = name.rsplit_once('.') else {
                continue;
            };
            if !n.is_empty()
                && n.bytes().all(|b| b.is_ascii_digit())
                && files.contains(&of)
                && !names.contains(&rel(folder, name).as_str())
                && entry.file_type().is_ok_and(|t| t.is_file())
            {
                found.push((entry.path(), rel(folder, of)));
            }
        }
    }
    found.sort();
    found
}

/// `folder/name`, or `name` at the top.
fn rel(folder: &str, name: &str) -> String {
    match folder {
        "" => name.to_string(),
        f => format!("{f}/{name}"),
    }
}
