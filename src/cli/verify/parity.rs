//! `seedforge verify [--repair]` of a folder with PAR 2.0 recovery files (an export
//! folder's `export.par2`, a delta's `delta.par2`): what is lost or damaged, whether the
//! recovery data can rebuild it, and with `--repair` the rebuilding, each file checked
//! against the folder's `SHA256SUMS` before it takes its name.

use crate::cli::common::{CliError, Global};
use seedforge::Error;
use seedforge::par2::check::{FileState, check, set_files};
use seedforge::pipeline::parity::{DELTA_SET, EXPORT_SET, load_listed};
use std::path::Path;

fn failed(message: String) -> CliError {
    Error::VerifyFailed(message).into()
}

/// What the recovery set of a folder says of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Parity {
    /// No recovery files, or nothing lost or damaged (or rebuilt by `--repair`).
    Sound,
    /// Files lost or damaged that the recovery files can rebuild (not asked to): what.
    Repairable(String),
    /// Files lost or damaged beyond the recovery data: what.
    Beyond(String),
}

/// Checks the recovery set of `dir`, if it has one, and with `repair` rebuilds what is
/// lost. With `keys`, the signature of the folder (an export's `manifest.json`, a delta's)
/// is checked before the set is read. Fails (exit 1) when `repair` is asked and the loss
/// is beyond the recovery data; without `repair`, a loss found is returned (what is lost),
/// for the caller to fail with once the rest of the folder is checked. Names the files
/// par2cmdline's repair leaves beside a file it rebuilt (`NAME.1`).
pub(crate) fn check_or_repair(
    g: &Global,
    dir: &Path,
    repair: bool,
    keys: &[(String, seedforge::trust::keys::PublicKey)],
) -> Result<Parity, CliError> {
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
    if repair && !keys.is_empty() {
        signature_first(dir, base, keys)?;
    }
    let listed = load_listed(dir, base).map_err(|e| failed(e.to_string()))?;
    let set = &listed.set;
    let report = check(dir, set, &|_| false).map_err(|e| failed(e.to_string()))?;
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
            FileState::Appended { bytes } => errln!(
                "DAMAGED  {}: {bytes} byte(s) after its {} recorded ones (cut on repair)",
                f.name,
                f.length
            ),
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
    if set.ignored_recovery > 0 {
        errln!(
            "note  {}: {} recovery packet(s) not one slice of data or with an exponent past 65,534, not counted",
            index.display(),
            set.ignored_recovery
        );
    }
    let bad: Vec<&str> = (report.files.iter())
        .filter(|f| f.state != FileState::Intact)
        .map(|f| f.name.as_str())
        .collect();
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
            "parity {}: {} file(s), {} lost or damaged ({} slice(s) of {slice}); {verdict}",
            index.display(),
            report.files.len(),
            bad.len(),
            report.lost_slices
        );
    }
    if report.is_sound() {
        return Ok(Parity::Sound);
    }
    if !repair {
        let lost = format!(
            "{}: {} lost or damaged: {}",
            index.display(),
            bad.len(),
            bad.join(", ")
        );
        return Ok(if report.repairable() {
            Parity::Repairable(lost)
        } else {
            Parity::Beyond(lost)
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
    let repaired = seedforge::pipeline::parity::repair_checked(dir, &listed, &report)
        .map_err(|e| failed(e.to_string()))?;
    if !g.json && !g.quiet {
        for name in &repaired.rebuilt {
            outln!(
                "REPAIRED  {}: rebuilt, its sha256 the one SHA256SUMS lists",
                dir.join(name).display()
            );
        }
    }
    if !repaired.not_listed.is_empty() {
        return Err(failed(format!(
            "{}: not rebuilt: {} SHA256SUMS does not list (nothing vouches for what the recovery files give); the files it lists are rebuilt",
            dir.display(),
            repaired.not_listed.join(", ")
        )));
    }
    Ok(Parity::Sound)
}

/// The folder's signature with `keys`, before its recovery set is read: a delta's
/// (`out/manifest.json` and its bundle, `out/SHA256SUMS` against it), or an export's
/// (`manifest.json` and its bundle beside the ISOs, and the sha256 `SHA256SUMS.wholes`
/// gives each ISO in parts against it, when it is there).
fn signature_first(
    dir: &Path,
    base: &str,
    keys: &[(String, seedforge::trust::keys::PublicKey)],
) -> Result<(), CliError> {
    if base == DELTA_SET {
        seedforge::delta::apply::verify_signature(dir, keys)?;
        return signed_lines_agree(dir);
    }
    let mut wholes = Vec::new();
    let path = dir.join(seedforge::pipeline::split::WHOLES);
    if let Ok(text) = seedforge::input::read_found_to_string(&path, seedforge::input::Kind::Sums) {
        for (sha, name) in text
            .lines()
            .filter_map(seedforge::pipeline::seal::sums_line)
        {
            wholes.push((dir.join(name), sha.to_string()));
        }
    }
    seedforge::pipeline::seal::verify_signed_hashes(dir, &wholes, keys).map_err(Error::from)?;
    Ok(())
}

/// A delta whose signature checked: what its own `SHA256SUMS` and `SHA256SUMS.wholes` say
/// of each file under `out/` must be what the signed `out/SHA256SUMS` says, so that a file
/// the recovery files rebuild (checked against those lines) is one the signature vouches
/// for.
fn signed_lines_agree(dir: &Path) -> Result<(), CliError> {
    let read = |path: &Path| -> Result<std::collections::BTreeMap<String, String>, CliError> {
        match seedforge::input::read_found_to_string(path, seedforge::input::Kind::Sums) {
            Ok(text) => Ok(seedforge::pipeline::seal::parse_sums(&text)),
            Err(seedforge::input::InputError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                Ok(Default::default())
            }
            Err(e) => Err(failed(e.to_string())),
        }
    };
    let signed = read(&dir.join("out").join(seedforge::pipeline::seal::SUMS))?;
    for file in [
        seedforge::pipeline::seal::SUMS,
        seedforge::pipeline::split::WHOLES,
    ] {
        for (name, sha) in read(&dir.join(file))? {
            let Some(rel) = name.strip_prefix("out/") else {
                continue;
            };
            if let Some(want) = signed.get(rel)
                && *want != sha
            {
                return Err(failed(format!(
                    "{}: says {sha} for {name}, the signed out/{} {want}: not repaired",
                    dir.join(file).display(),
                    seedforge::pipeline::seal::SUMS
                )));
            }
        }
    }
    Ok(())
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
