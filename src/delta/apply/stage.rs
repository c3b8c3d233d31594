//! The staging copy of `apply`: the output linked beside itself, the config folder
//! mirrored, the delta's files laid over both, the rebuilt seal compared with the delta's,
//! and the copy made current in one rename.

use super::*;
use crate::delta::parts::place;

/// The derived files of `out` ([`crate::delta::carry::is_derived`]) that its `SHA256SUMS`
/// (`sums`) lists and that do not hash to what it lists. A file whose stat is the one the
/// output's build state recorded with the listed sha256 is not read (as a build trusts
/// it); the others are hashed, on a few threads.
pub(super) fn damaged_derived(out: &Path, sums: &BTreeMap<String, String>) -> Vec<String> {
    let state = crate::pipeline::state::BuildState::load(out, false);
    let mut damaged = Vec::new();
    let mut todo: Vec<(&String, &String)> = Vec::new();
    for (rel, hex) in sums
        .iter()
        .filter(|(r, _)| crate::delta::carry::is_derived(r))
    {
        let path = out.join(rel);
        match fs::symlink_metadata(&path) {
            Ok(m) if m.is_file() && state.holds(&path, hex) => {}
            Ok(m) if m.is_file() => todo.push((rel, hex)),
            _ => damaged.push(rel.clone()),
        }
    }
    let paths: Vec<PathBuf> = todo.iter().map(|(rel, _)| out.join(rel)).collect();
    for ((rel, hex), got) in todo.iter().zip(crate::hashing::sha256_files(&paths)) {
        if got.ok().as_ref() != Some(*hex) {
            damaged.push((*rel).clone());
        }
    }
    damaged.sort();
    damaged
}

/// Mirrors the config folder into `stage_cfg` with the delta's config files, copies `out`
/// into `stage_out` and lays the delta's `out/` files over it.
pub(super) fn stage(
    delta_dir: &Path,
    delta: &CheckedDelta,
    (config_dir, stage_cfg): (&Path, &Path),
    out: &Path,
    stage_out: &Path,
    (sources, deb_folders, removed): (&[crate::delta::sources::SourceCopy], &[PathBuf], &[String]),
    report: &mut ApplyReport,
) -> Result<(), DeltaError> {
    let mut changed: BTreeSet<PathBuf> = delta.config_files.keys().map(PathBuf::from).collect();
    changed.extend(sources.iter().map(|s| s.rel.clone()));
    changed.extend(deb_folders.iter().cloned());
    // A file the near side removed: left out of the mirror (its folder mirrored file by file).
    changed.extend(removed.iter().map(PathBuf::from));
    mirror(
        config_dir,
        stage_cfg,
        Path::new(""),
        &changed,
        &[stage_cfg, stage_out],
    )?;
    for rel in delta.config_files.keys() {
        let from = crate::delta::parts::sources(delta_dir, &format!("config/{rel}"), &delta.joined);
        let to = stage_cfg.join(rel);
        place(
            &from,
            &to,
            0o644,
            delta.config_files.get(rel).map(String::as_str),
        )?;
    }
    link_tree(out, stage_out, true)?;
    report.removed = drop_unlisted(stage_out, &delta.target_sums)?;
    report.blobs_removed = drop_unsealed_blobs(stage_out, &delta.target_sums)?;
    let modes: BTreeMap<String, u32> = read_modes(&delta_dir.join("out").join(seal::MANIFEST));
    for rel in delta.out_files.keys() {
        let from = crate::delta::parts::sources(delta_dir, &format!("out/{rel}"), &delta.joined);
        let to = stage_out.join(rel);
        let mode = modes.get(rel).copied().unwrap_or(0o644);
        // Judged by the rebuild: every sealed file is compared with the signed seal.
        let size = place(&from, &to, mode, None)?;
        report.files_applied += 1;
        report.bytes += size;
        if rel.starts_with(crate::delta::BLOBS) {
            report.blobs_added += 1;
        }
    }
    for (s, copy) in crate::delta::sources::held(stage_out, sources) {
        place(&[copy], &stage_cfg.join(&s.rel), s.mode(), None)?;
    }
    crate::delta::sources::make_folders(stage_cfg, deb_folders)?;
    report.files_applied += delta.config_files.len();
    for rel in delta.config_files.keys() {
        if let Ok(m) = fs::metadata(delta_dir.join("config").join(rel)) {
            report.bytes += m.len();
        }
    }
    Ok(())
}

/// Removes from the staging copy every file the output's seal lists and the new seal does
/// not (a node taken out of the config: its `user-data` and seed ISO hold the join token),
/// and the folders that leaves empty. The near side's build removed them as it sealed (what
/// its previous seal listed and it no longer wrote); the staging build cannot, since the
/// delta's `manifest.json` laid over the copy is its previous seal. The layout (blobs: see
/// [`drop_unsealed_blobs`]) and `pki/` are left, as the near side's build leaves them.
/// (The staging copy's files are links of the output's: removing one leaves the output as
/// it is.) Gives the files removed, in the order they were.
pub(super) fn drop_unlisted(
    stage_out: &Path,
    target_sums: &BTreeMap<String, String>,
) -> Result<Vec<String>, DeltaError> {
    let sums = stage_out.join(seal::SUMS);
    let text = crate::input::read_found_to_string(&sums, crate::input::Kind::Sums)?;
    // Token-bearing files first: the nodes' and their seeds.
    let mut gone: Vec<String> = (text.lines().filter_map(seal::sums_line))
        .map(|(_, rel)| rel.to_string())
        .filter(|rel| {
            !target_sums.contains_key(rel)
                && !rel.starts_with("oci/")
                && !rel.starts_with("pki/")
                && seal::safe_relative(rel).is_some()
        })
        .collect();
    gone.sort_by_key(|rel| !(rel.starts_with("nodes/") || rel.starts_with("iso/")));
    let mut removed = Vec::new();
    for rel in gone {
        let path = stage_out.join(&rel);
        match fs::symlink_metadata(&path) {
            Ok(m) if m.is_file() => fs::remove_file(&path).map_err(io_err(&path))?,
            _ => continue,
        }
        removed.push(rel);
        let mut dir = path.parent();
        while let Some(d) = dir {
            if d == stage_out || !d.starts_with(stage_out) || fs::remove_dir(d).is_err() {
                break;
            }
            dir = d.parent();
        }
    }
    Ok(removed)
}

/// Removes from the staging copy's layout every blob the new seal does not list: the
/// blobs of images the new build no longer lists. The offline build removes unlisted
/// images' blobs only when it removes their entries from `index.json`, and the delta's
/// `index.json` has none left to remove: kept, they would be sealed again and the rebuilt
/// output would not be the near side's. (The staging copy's blobs are links of the
/// output's: removing one leaves the output as it is.)
pub(super) fn drop_unsealed_blobs(
    stage_out: &Path,
    target_sums: &BTreeMap<String, String>,
) -> Result<usize, DeltaError> {
    let dir = stage_out.join(crate::delta::BLOBS);
    let entries = match fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(DeltaError::io(&dir, e)),
    };
    let mut removed = 0;
    for entry in entries {
        let entry = entry.map_err(io_err(&dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !target_sums.contains_key(&format!("{}{name}", crate::delta::BLOBS)) {
            let path = entry.path();
            fs::remove_file(&path).map_err(io_err(&path))?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// The mode of each artifact manifest.json records.
pub(super) fn read_modes(manifest: &Path) -> BTreeMap<String, u32> {
    let Ok(bytes) = crate::input::read_found(manifest, crate::input::Kind::Manifest) else {
        return BTreeMap::new();
    };
    #[derive(Deserialize)]
    struct Facts {
        artifacts: Vec<seal::Artifact>,
    }
    serde_json::from_slice::<Facts>(&bytes)
        .map(|f| {
            f.artifacts
                .into_iter()
                .filter_map(|a| Some((a.path, u32::from_str_radix(&a.mode, 8).ok()?)))
                .collect()
        })
        .unwrap_or_default()
}

/// `src` mirrored into the new folder `dst` by symbolic links, but for the paths of
/// `changed` (relative to the mirror's root) and the folders leading to them, which are
/// made as real folders; `skip` are left out.
pub(super) fn mirror(
    src: &Path,
    dst: &Path,
    prefix: &Path,
    changed: &BTreeSet<PathBuf>,
    skip: &[&Path],
) -> Result<(), DeltaError> {
    fs::create_dir_all(dst).map_err(io_err(dst))?;
    for entry in fs::read_dir(src).map_err(io_err(src))? {
        let entry = entry.map_err(io_err(src))?;
        let path = entry.path();
        if skip.iter().any(|s| *s == path) {
            continue;
        }
        let name = entry.file_name();
        let rel = prefix.join(&name);
        if changed.contains(&rel) {
            continue;
        }
        let target = dst.join(&name);
        let leads = changed.iter().any(|c| c.starts_with(&rel));
        let is_dir = entry.file_type().map(|t| t.is_dir()).unwrap_or(false);
        if leads && is_dir {
            mirror(&path, &target, &rel, changed, skip)?;
        } else {
            std::os::unix::fs::symlink(&path, &target).map_err(io_err(&target))?;
        }
    }
    Ok(())
}

/// Copies the tree `src` into the new folder `dst`: folders made with their modes, files
/// hard-linked (copied where the file system has no hard links). At the top, the build
/// state and the build lock are left out; temporary files of other writers and the
/// layout's private folder everywhere.
pub(super) fn link_tree(src: &Path, dst: &Path, top: bool) -> Result<(), DeltaError> {
    use std::os::unix::fs::PermissionsExt as _;
    let meta = fs::symlink_metadata(src).map_err(io_err(src))?;
    fs::create_dir_all(dst).map_err(io_err(dst))?;
    fs::set_permissions(
        dst,
        fs::Permissions::from_mode(meta.permissions().mode() & 0o7777),
    )
    .map_err(io_err(dst))?;
    let in_layout = src.join("oci-layout").is_file();
    for entry in fs::read_dir(src).map_err(io_err(src))? {
        let entry = entry.map_err(io_err(src))?;
        let name = entry.file_name();
        let name_text = name.to_string_lossy();
        if top && name_text == crate::pipeline::state::STATE_DIR {
            // The folder marks the output as seedforge's; its state is left behind (the
            // build runs every step, and the state names OUT's own paths).
            let target = dst.join(&name);
            fs::create_dir(&target).map_err(io_err(&target))?;
            continue;
        }
        if (top && name_text == crate::pipeline::build_lock::LOCK_FILE_NAME)
            || (in_layout && name_text == ".seedforge")
            || crate::leftovers::temp_owner(&name_text).is_some()
        {
            continue;
        }
        let path = entry.path();
        let target = dst.join(&name);
        let ft = entry.file_type().map_err(io_err(&path))?;
        if ft.is_dir() {
            link_tree(&path, &target, false)?;
        } else if ft.is_file() {
            if fs::hard_link(&path, &target).is_err() {
                let mode = entry
                    .metadata()
                    .map(|m| m.permissions().mode() & 0o7777)
                    .unwrap_or(0o644);
                place(std::slice::from_ref(&path), &target, mode, None)?;
            }
        } else {
            return Err(DeltaError::Unsound {
                out: src.to_path_buf(),
                message: format!(
                    "{}: not a regular file or folder; an output holds neither links nor devices",
                    path.display()
                ),
            });
        }
    }
    Ok(())
}

/// The staging build's `SHA256SUMS` against the delta's, line for line.
pub(super) fn compare(stage_out: &Path, delta: &CheckedDelta) -> Result<(), DeltaError> {
    let path = stage_out.join(seal::SUMS);
    let text = crate::input::read_found_to_string(&path, crate::input::Kind::Sums)?;
    if text == delta.target_sums_text {
        return Ok(());
    }
    let built = parse_sums(&text);
    let first = built
        .keys()
        .chain(delta.target_sums.keys())
        .filter(|p| built.get(*p) != delta.target_sums.get(*p))
        .min()
        .cloned()
        .unwrap_or_else(|| seal::SUMS.to_string());
    let what = match (built.get(&first), delta.target_sums.get(&first)) {
        (Some(b), Some(t)) => {
            format!("the offline build wrote sha256 {b}, the delta's seal says {t}")
        }
        (Some(_), None) => "the offline build wrote it, the delta's seal does not list it".into(),
        (None, Some(_)) => "the delta's seal lists it, the offline build did not write it".into(),
        (None, None) => "the two seals differ in their form".into(),
    };
    // Another source date changes every dated file: named by both dates.
    let built_date = seal::Recorded::load(stage_out).map(|r| r.epoch);
    let why = match built_date {
        Some(here) if here != delta.facts.source_date_epoch => format!(
            "the offline build here dated the output {}, the delta's is {} (a delta of an older seedforge records no source_date_from, and is dated as before, SOURCE_DATE_EPOCH first: apply it with SOURCE_DATE_EPOCH={})",
            seal::date_text(here),
            seal::date_text(delta.facts.source_date_epoch),
            delta.facts.source_date_epoch.unwrap_or(0)
        ),
        _ => "a config input or file the delta does not carry differs?".into(),
    };
    Err(DeltaError::Mismatch {
        // The staging copy's file, shown as the output's it stands for.
        path: stage_out.join(first),
        message: format!(
            "{what}: the delta does not rebuild the near side's output here ({why}); nothing was changed"
        ),
    })
}

/// Writes the config files, then makes the staging copy the output.
pub(super) fn commit(
    delta_dir: &Path,
    (delta, removed): (&CheckedDelta, &[String]),
    config_dir: &Path,
    out: &Path,
    stage_out: &Path,
    staging: &Staging,
    report: &mut ApplyReport,
) -> Result<(), DeltaError> {
    for rel in delta.config_files.keys() {
        let to = config_dir.join(rel);
        let from = crate::delta::parts::sources(delta_dir, &format!("config/{rel}"), &delta.joined);
        if to.is_file() && hash_file(&to).ok().as_ref() == delta.config_files.get(rel) {
            continue;
        }
        // A file replaced keeps its mode. A signal waits for the rename: no temporary
        // file is left in the config folder.
        let mode = fs::metadata(&to)
            .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o7777)
            .unwrap_or(0o644);
        // Hashed as it is written: the bytes checked are the bytes the folder gets.
        let want = delta.config_files.get(rel).map(String::as_str);
        staging.unless_stopping(|| place(&from, &to, mode, want))?;
        crate::util::sync_parent(&to).map_err(io_err(&to))?;
        report.config_files.push(rel.clone());
    }
    staging.unless_stopping(|| super::removed::remove(config_dir, removed))?;
    // The staging copy's own lock, which becomes the output's: held across the exchange.
    let _new_lock = BuildLock::acquire(stage_out, false, &mut |_| {}).map_err(DeltaError::from)?;
    crate::util::sync_dir(stage_out).map_err(io_err(stage_out))?;
    let swapped = staging.unless_stopping(|| {
        match rustix::fs::renameat_with(
            rustix::fs::CWD,
            stage_out,
            rustix::fs::CWD,
            out,
            rustix::fs::RenameFlags::EXCHANGE,
        ) {
            Ok(()) => Ok(()),
            Err(e)
                if e == rustix::io::Errno::INVAL
                    || e == rustix::io::Errno::NOSYS
                    || e == rustix::io::Errno::NOTSUP =>
            {
                // No exchange here: two renames, the old one named for the next run.
                let old = old_path(out);
                fs::rename(out, &old)?;
                fs::rename(stage_out, out)?;
                fs::rename(&old, stage_out)
            }
            Err(e) => Err(io::Error::from(e)),
        }
    });
    swapped.map_err(io_err(out))?;
    crate::util::sync_parent(out).map_err(io_err(out))?;
    Ok(())
}
