//! Charts kept beside the config (`charts[].path`): a chart's folder, packed here as
//! `helm package` lays a chart out, or a `.tgz` taken as it is. Either way the result is
//! an archive like one fetched from a repository, pinned, sealed and carried the same.
//!
//! A folder is packed so that its bytes depend on the chart's files alone, the same on
//! every machine and in every checkout: the files Helm's loader takes from a folder (its
//! `.helmignore` and Helm's default rule honoured, a UTF-8 BOM at a file's start dropped
//! as Helm drops it), each under `NAME/` (`NAME` from `Chart.yaml`), in name order, with
//! mode 0644, owner 0, time 0 and no folder entries, gzipped with time 0. Modes, owners
//! and times of the checkout do not count; the bytes of each file do.

use super::fetch::{FetchedChart, MAX_CHART_SIZE};
use super::helmignore::Rules;
use super::load::{MAX_CHART_CONTENT, MAX_CHART_FILE};
use super::{ChartConfig, ChartError};
use crate::oci::Digest;
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// How deep a chart's folders nest (a symbolic link loop stops here).
const MAX_DEPTH: usize = 64;

/// The chart of the entry `chart`, kept at `path` (a folder or a `.tgz`; `shown` as the
/// config names it), read and checked: an archive Helm can load, with a `Chart.yaml`.
/// Each error names the entry at its line in the config file `config` (exit 2).
pub fn read(
    chart: &ChartConfig,
    path: &Path,
    shown: &str,
    config: &Path,
) -> Result<FetchedChart, ChartError> {
    let refuse = |why: String| chart.refusal(config, &format!(": path {shown}: {why}"));
    let meta = std::fs::metadata(path).map_err(|e| refuse(format!("{}: {e}", path.display())))?;
    let entry = chart.name.as_str();
    let (bytes, origin) = if meta.is_dir() {
        let config_dir = config.parent().unwrap_or(Path::new("."));
        let bound = LinkBound::of(path, config_dir).map_err(&refuse)?;
        let bytes = pack_dir_within(path, &bound).map_err(refuse)?;
        (bytes, format!("{shown} (a chart folder, packed)"))
    } else {
        let bytes = crate::input::read_capped(path, MAX_CHART_SIZE, "chart archive")
            .map_err(|e| refuse(e.reason()))?;
        let files = super::values::chart_files(entry, &bytes).map_err(|e| {
            refuse(format!(
                "not a chart archive (.tgz) Helm can read: {}",
                inner(&e)
            ))
        })?;
        if files.chart_yaml.is_none() {
            return Err(refuse(
                "the archive holds no NAME/Chart.yaml: not a chart".into(),
            ));
        }
        super::load::load_archive(entry, &bytes)
            .map_err(|e| refuse(format!("not a chart Helm can load: {}", inner(&e))))?;
        (bytes, shown.to_string())
    };
    let digest = Digest::of(&bytes);
    Ok(FetchedChart {
        bytes,
        digest,
        origin,
    })
}

/// A chart error's own words, without the `chart NAME:` it starts with.
fn inner(e: &ChartError) -> String {
    match e {
        ChartError::Fetch { message, .. } => message.clone(),
        other => other.to_string(),
    }
}

/// The entry `chart` with the chart's name and version its `Chart.yaml` (`files`) gives
/// where the config gives none; a name or version given that the chart does not have is
/// refused naming both, at the entry's line in `config`.
pub fn identify(
    chart: &ChartConfig,
    config: &Path,
    shown: &str,
    files: &super::values::ChartFiles,
) -> Result<ChartConfig, ChartError> {
    let refuse = |why: String| chart.refusal(config, &format!(": {why}"));
    let meta: serde_json::Value = files
        .chart_yaml
        .as_deref()
        .map(super::read_yaml)
        .transpose()
        .map_err(|e| {
            refuse(format!(
                "{shown}: Chart.yaml is not YAML Helm can read: {e}"
            ))
        })?
        .unwrap_or_default();
    let field = |key: &str| match meta.get(key) {
        Some(serde_json::Value::String(s)) => Some(s.clone()),
        Some(serde_json::Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let mut c = chart.clone();
    for (key, given) in [("name", &mut c.chart), ("version", &mut c.version)] {
        let Some(has) = field(key) else {
            return Err(refuse(format!("{shown}: Chart.yaml has no {key}")));
        };
        let same = if key == "version" {
            has.strip_prefix('v').unwrap_or(&has) == given.strip_prefix('v').unwrap_or(given)
        } else {
            has == *given
        };
        if given.is_empty() {
            *given = has;
        } else if !same {
            let field = if key == "name" { "chart" } else { "version" };
            return Err(refuse(format!(
                "{field}: {given} is given, but {shown}'s Chart.yaml says {key} {has}; give the chart's own {key}, or leave {field}: out"
            )));
        }
    }
    super::check_version(&c.version).map_err(|e| refuse(format!("{shown}: Chart.yaml: {e}")))?;
    let name_ok = !c.chart.is_empty()
        && !matches!(c.chart.as_str(), "." | "..")
        && !c.chart.contains(['/', '\\'])
        && !c.chart.chars().any(char::is_control);
    if !name_ok {
        return Err(refuse(format!(
            "{shown}: Chart.yaml's name {:?} is not a chart name",
            c.chart
        )));
    }
    Ok(c)
}

/// The tree a chart folder's symbolic links may lead within. Helm follows every link of a
/// chart folder wherever it leads; seedforge follows one that stays inside the git checkout
/// holding the chart (a vendor's chart linking `charts/library -> ../../library` of its
/// own repository), or, for a chart in no checkout, inside the config's folder, and refuses
/// by name a link leaving that tree, so that a key or token elsewhere is never packed.
pub struct LinkBound {
    /// The tree, resolved.
    root: PathBuf,
    /// What it is, for a refusal ("the git checkout holding the chart").
    what: &'static str,
}

impl LinkBound {
    /// The bound of the chart folder `dir` given by a config in `config_dir`: the nearest
    /// folder at or above the chart (resolved) holding a `.git` (a clone's folder or a
    /// worktree's file); else `config_dir` when the chart is beneath it; else the chart's
    /// own folder.
    pub fn of(dir: &Path, config_dir: &Path) -> Result<LinkBound, String> {
        let chart = std::fs::canonicalize(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        if let Some(top) = chart
            .ancestors()
            .find(|a| std::fs::symlink_metadata(a.join(".git")).is_ok())
        {
            return Ok(LinkBound {
                root: top.to_path_buf(),
                what: "the git checkout holding the chart",
            });
        }
        let config_dir = if config_dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            config_dir
        };
        if let Ok(c) = std::fs::canonicalize(config_dir)
            && chart.starts_with(&c)
        {
            return Ok(LinkBound {
                root: c,
                what: "the config's folder",
            });
        }
        Ok(LinkBound::chart(chart))
    }

    /// The chart folder itself (`dir`, resolved).
    fn chart(dir: PathBuf) -> LinkBound {
        LinkBound {
            root: dir,
            what: "the chart folder",
        }
    }
}

/// The `.tgz` of the chart folder `dir`, as described in the module's documentation; a
/// symbolic link is followed only while it stays beneath the chart folder.
pub fn pack_dir(dir: &Path) -> Result<Vec<u8>, String> {
    let root = std::fs::canonicalize(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    pack_dir_within(dir, &LinkBound::chart(root))
}

/// The `.tgz` of the chart folder `dir`, its symbolic links followed while they stay
/// within `bound`.
pub fn pack_dir_within(dir: &Path, bound: &LinkBound) -> Result<Vec<u8>, String> {
    let root = bound;
    let chart_yaml = dir.join("Chart.yaml");
    if chart_yaml.exists() {
        beneath(root, &chart_yaml)?;
    }
    let text = match crate::input::read_capped(&chart_yaml, MAX_CHART_FILE, "Chart.yaml") {
        Ok(bytes) => String::from_utf8(bytes)
            .map_err(|_| format!("{}: not UTF-8 text", chart_yaml.display()))?,
        Err(crate::input::InputError::Io { source, .. })
            if source.kind() == std::io::ErrorKind::NotFound =>
        {
            return Err(format!(
                "the folder has no Chart.yaml: not a chart ({} is missing)",
                chart_yaml.display()
            ));
        }
        Err(e) => return Err(format!("{}: {}", chart_yaml.display(), e.reason())),
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let meta: serde_json::Value = super::read_yaml(text)
        .map_err(|e| format!("{}: not YAML Helm can read: {e}", chart_yaml.display()))?;
    let name = match meta.get("name") {
        Some(serde_json::Value::String(s))
            if !s.is_empty()
                && !matches!(s.as_str(), "." | "..")
                && !s.contains(['/', '\\'])
                && !s.chars().any(char::is_control) =>
        {
            s.clone()
        }
        Some(other) => {
            return Err(format!(
                "{}: name {other} is not a chart name",
                chart_yaml.display()
            ));
        }
        None => return Err(format!("{}: it has no name", chart_yaml.display())),
    };
    let ignore = dir.join(".helmignore");
    let rules = if std::fs::symlink_metadata(&ignore).is_ok() {
        beneath(root, &ignore)?;
        let text = crate::input::read_to_string(&ignore, crate::input::Kind::Text)
            .map_err(|e| format!("{}: {}", ignore.display(), e.reason()))?;
        Rules::parse(&text).map_err(|e| format!("{}: {e}", ignore.display()))?
    } else {
        Rules::defaults()
    };
    let mut files = Vec::new();
    let mut total = 0u64;
    let mut ancestors = Vec::new();
    let mut walked = Walk {
        root,
        rules: &rules,
        files: &mut files,
        total: &mut total,
    };
    walk(dir, "", &mut ancestors, &mut walked)?;
    let mut tar = tar::Builder::new(Vec::new());
    for (rel, data) in &files {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        h.set_mtime(0);
        h.set_uid(0);
        h.set_gid(0);
        tar.append_data(&mut h, format!("{name}/{rel}"), data.as_slice())
            .map_err(|e| format!("{rel}: {e}"))?;
    }
    let raw = tar.into_inner().map_err(|e| e.to_string())?;
    let mut gz = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), flate2::Compression::default());
    gz.write_all(&raw).map_err(|e| e.to_string())?;
    let tgz = gz.finish().map_err(|e| e.to_string())?;
    if tgz.len() as u64 > MAX_CHART_SIZE {
        return Err(format!(
            "the chart packs to {} bytes, more than the {MAX_CHART_SIZE} a chart may have",
            tgz.len()
        ));
    }
    Ok(tgz)
}

/// Refuses `path` when it resolves outside `bound`: a symbolic link leading out of the tree
/// a chart's links may reach ([`LinkBound`]). Helm follows it; seedforge does not, so that
/// a link to a token or key elsewhere is never packed.
fn beneath(bound: &LinkBound, path: &Path) -> Result<(), String> {
    let resolved = std::fs::canonicalize(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if resolved.starts_with(&bound.root) {
        Ok(())
    } else {
        Err(format!(
            "{} is a symbolic link leading out of {} ({}) to {}: seedforge follows a chart's links only within it (Helm would follow it); copy the file into the chart, or list the link in .helmignore",
            path.display(),
            bound.what,
            bound.root.display(),
            resolved.display()
        ))
    }
}

/// What [`walk`] reads against and fills.
struct Walk<'a> {
    root: &'a LinkBound,
    rules: &'a Rules,
    files: &'a mut Vec<(String, Vec<u8>)>,
    total: &'a mut u64,
}

/// The files under `dir/rel` Helm's folder loader takes, in name order (symbolic links
/// followed while they stay beneath the chart folder), with their bytes. `ancestors`: the
/// folders walked into, resolved, so that a link back to one of them is refused, not
/// walked forever.
fn walk(
    dir: &Path,
    rel: &str,
    ancestors: &mut Vec<std::path::PathBuf>,
    w: &mut Walk<'_>,
) -> Result<(), String> {
    let (rules, root) = (w.rules, w.root);
    let here = dir.join(rel);
    let resolved = std::fs::canonicalize(&here).map_err(|e| format!("{}: {e}", here.display()))?;
    if ancestors.contains(&resolved) {
        return Err(format!(
            "{} leads back to {} (a symbolic link loop)",
            here.display(),
            resolved.display()
        ));
    }
    if ancestors.len() > MAX_DEPTH {
        return Err(format!(
            "{}: folders nest more than {MAX_DEPTH} deep",
            here.display()
        ));
    }
    ancestors.push(resolved);
    let entries = std::fs::read_dir(&here).map_err(|e| format!("{}: {e}", here.display()))?;
    let mut names = Vec::new();
    for e in entries {
        let e = e.map_err(|e| format!("{}: {e}", here.display()))?;
        let name = e.file_name().into_string().map_err(|n| {
            format!(
                "{}: a name that is not UTF-8: {}",
                here.display(),
                n.to_string_lossy()
            )
        })?;
        names.push(name);
    }
    names.sort();
    for name in names {
        let path = if rel.is_empty() {
            name.clone()
        } else {
            format!("{rel}/{name}")
        };
        let full = dir.join(&path);
        let meta = std::fs::metadata(&full).map_err(|e| format!("{}: {e}", full.display()))?;
        if meta.is_dir() {
            if !rules.ignore(&path, true) {
                beneath(root, &full)?;
                walk(dir, &path, ancestors, w)?;
            }
            continue;
        }
        if rules.ignore(&path, false) {
            continue;
        }
        beneath(root, &full)?;
        if !meta.is_file() {
            return Err(format!(
                "{} is {}, not a regular file; Helm refuses it too (list it in .helmignore to leave it out)",
                full.display(),
                crate::input::describe(meta.file_type())
            ));
        }
        if meta.len() > MAX_CHART_FILE {
            return Err(format!(
                "{} is larger than the {MAX_CHART_FILE} bytes a chart's file may have",
                full.display()
            ));
        }
        let mut data = crate::input::read_capped(&full, MAX_CHART_FILE, "chart file")
            .map_err(|e| format!("{}: {}", full.display(), e.reason()))?;
        if data.starts_with(b"\xEF\xBB\xBF") {
            data.drain(..3);
        }
        *w.total += data.len() as u64;
        if *w.total > MAX_CHART_CONTENT || w.files.len() >= super::load::MAX_CHART_FILES {
            return Err(format!(
                "the chart holds more than {MAX_CHART_CONTENT} bytes or {} files",
                super::load::MAX_CHART_FILES
            ));
        }
        w.files.push((path, data));
    }
    ancestors.pop();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn entries(tgz: &[u8]) -> Vec<(String, u32, u64, Vec<u8>)> {
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(tgz));
        let mut out = Vec::new();
        for e in archive.entries().unwrap() {
            let mut e = e.unwrap();
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut e, &mut data).unwrap();
            let h = e.header();
            out.push((
                e.path().unwrap().to_string_lossy().into_owned(),
                h.mode().unwrap(),
                h.mtime().unwrap(),
                data,
            ));
        }
        out
    }

    fn chart_dir(at: &Path) {
        fs::create_dir_all(at.join("templates/sub")).unwrap();
        fs::write(
            at.join("Chart.yaml"),
            "apiVersion: v2\nname: site\nversion: 0.1.0\n",
        )
        .unwrap();
        fs::write(at.join("values.yaml"), "\u{feff}replicas: 1\n").unwrap();
        fs::write(at.join("templates/a.yaml"), "kind: A\n").unwrap();
        fs::write(at.join("templates/sub/b.yaml"), "kind: B\n").unwrap();
        fs::write(at.join("templates/.swp"), "x").unwrap();
        fs::write(at.join("notes.bak"), "x").unwrap();
        fs::create_dir_all(at.join("secret")).unwrap();
        fs::write(at.join("secret/key"), "x").unwrap();
        fs::write(at.join(".helmignore"), "*.bak\nsecret/\n").unwrap();
    }

    /// A folder packs to the same bytes whatever its times and modes; what Helm leaves out
    /// (`.helmignore`'s rules, dot files under templates/) is left out; entries are
    /// `NAME/…` in name order, 0644, time 0; a BOM is dropped.
    #[test]
    fn a_folder_packs_as_helm_lays_it_out_and_the_same_everywhere() {
        let tmp = tempfile::tempdir().unwrap();
        let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
        chart_dir(&a);
        chart_dir(&b);
        use std::os::unix::fs::PermissionsExt as _;
        fs::set_permissions(b.join("values.yaml"), fs::Permissions::from_mode(0o600)).unwrap();
        let old = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000);
        fs::File::options()
            .write(true)
            .open(b.join("Chart.yaml"))
            .unwrap()
            .set_modified(old)
            .unwrap();
        let packed = pack_dir(&a).unwrap();
        assert_eq!(packed, pack_dir(&b).unwrap());
        let got = entries(&packed);
        let names: Vec<&str> = got.iter().map(|e| e.0.as_str()).collect();
        assert_eq!(
            names,
            [
                "site/.helmignore",
                "site/Chart.yaml",
                "site/templates/a.yaml",
                "site/templates/sub/b.yaml",
                "site/values.yaml"
            ]
        );
        assert!(got.iter().all(|e| e.1 == 0o644 && e.2 == 0));
        assert_eq!(got[4].3, b"replicas: 1\n");
        // The archive is one the loader reads.
        let chart = crate::charts::load::load_archive("site", &packed).unwrap();
        assert_eq!(chart.name, "site");
        // A changed file changes the bytes.
        fs::write(b.join("templates/a.yaml"), "kind: A2\n").unwrap();
        assert_ne!(packed, pack_dir(&b).unwrap());
    }

    #[test]
    fn a_folder_without_chart_yaml_or_with_a_bad_helmignore_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let err = pack_dir(tmp.path()).unwrap_err();
        assert!(err.contains("has no Chart.yaml"), "{err}");
        fs::write(tmp.path().join("Chart.yaml"), "version: 1.0.0\n").unwrap();
        let err = pack_dir(tmp.path()).unwrap_err();
        assert!(err.contains("no name"), "{err}");
        fs::write(tmp.path().join("Chart.yaml"), "name: x\nversion: 1.0.0\n").unwrap();
        fs::write(tmp.path().join(".helmignore"), "a/**\n").unwrap();
        let err = pack_dir(tmp.path()).unwrap_err();
        assert!(err.contains(".helmignore: line 1"), "{err}");
        fs::remove_file(tmp.path().join(".helmignore")).unwrap();
        // A linked file is packed as the file; a link back up is refused, not walked.
        fs::write(tmp.path().join("real.txt"), "r\n").unwrap();
        std::os::unix::fs::symlink("real.txt", tmp.path().join("linked.txt")).unwrap();
        let names: Vec<String> = entries(&pack_dir(tmp.path()).unwrap())
            .into_iter()
            .map(|e| e.0)
            .collect();
        assert_eq!(names, ["x/Chart.yaml", "x/linked.txt", "x/real.txt"]);
        fs::create_dir(tmp.path().join("sub")).unwrap();
        std::os::unix::fs::symlink("..", tmp.path().join("sub/up")).unwrap();
        let err = pack_dir(tmp.path()).unwrap_err();
        assert!(err.contains("symbolic link loop"), "{err}");
        // A FIFO is refused, naming it.
        let fifo = tmp.path().join("sub/pipe");
        fs::remove_file(tmp.path().join("sub/up")).unwrap();
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.is_ok_and(|s| s.success()), "mkfifo");
        let err = pack_dir(tmp.path()).unwrap_err();
        assert!(err.contains("sub/pipe is a FIFO"), "{err}");
    }

    /// A link leading out of the chart folder (a token beside it, a folder above) is
    /// refused by name, whatever it is: the chart is read beneath its folder; a link
    /// within the chart is packed as the file; one `.helmignore` leaves out is not read.
    #[test]
    fn a_link_out_of_the_chart_folder_is_refused_by_name() {
        let tmp = tempfile::tempdir().unwrap();
        let chart = tmp.path().join("chart");
        fs::create_dir(&chart).unwrap();
        fs::write(chart.join("Chart.yaml"), "name: x\nversion: 1.0.0\n").unwrap();
        fs::write(tmp.path().join("token"), "K10secret::server:abc\n").unwrap();
        fs::create_dir(chart.join("files")).unwrap();
        std::os::unix::fs::symlink("../../token", chart.join("files/token")).unwrap();
        let err = pack_dir(&chart).unwrap_err();
        assert!(
            err.contains("files/token is a symbolic link leading out of the chart folder"),
            "{err}"
        );
        assert!(!err.contains("K10secret"), "{err}");
        // Left out by .helmignore: not read, so not refused.
        fs::write(chart.join(".helmignore"), "files/token\n").unwrap();
        assert!(pack_dir(&chart).is_ok());
        fs::remove_file(chart.join(".helmignore")).unwrap();
        fs::remove_file(chart.join("files/token")).unwrap();
        // A folder linked from outside, and Chart.yaml itself linked out.
        fs::create_dir(tmp.path().join("keys")).unwrap();
        std::os::unix::fs::symlink(tmp.path().join("keys"), chart.join("keys")).unwrap();
        let err = pack_dir(&chart).unwrap_err();
        assert!(err.contains("keys is a symbolic link leading out"), "{err}");
        fs::remove_file(chart.join("keys")).unwrap();
        fs::rename(chart.join("Chart.yaml"), tmp.path().join("Chart.yaml")).unwrap();
        std::os::unix::fs::symlink("../Chart.yaml", chart.join("Chart.yaml")).unwrap();
        let err = pack_dir(&chart).unwrap_err();
        assert!(
            err.contains("Chart.yaml is a symbolic link leading out"),
            "{err}"
        );
    }

    /// A vendor's chart in its git checkout linking a library chart of the same checkout
    /// (`charts/library -> ../../library`) is packed with the library, as Helm packs it; a
    /// link leaving the checkout is refused by name. Outside a checkout the config's folder
    /// is the bound, and a chart outside that folder keeps its own.
    #[test]
    fn a_link_within_the_checkout_holding_the_chart_is_followed() {
        let tmp = tempfile::tempdir().unwrap();
        let repo = tmp.path().join("vendor/rook");
        let chart = repo.join("deploy/charts/cluster");
        fs::create_dir_all(repo.join(".git")).unwrap();
        fs::create_dir_all(chart.join("charts")).unwrap();
        fs::write(
            chart.join("Chart.yaml"),
            "name: cluster
version: 1.0.0
",
        )
        .unwrap();
        let library = repo.join("deploy/charts/library");
        fs::create_dir_all(library.join("templates")).unwrap();
        fs::write(
            library.join("Chart.yaml"),
            "name: library
version: 1.0.0
",
        )
        .unwrap();
        fs::write(
            library.join("templates/_lib.tpl"),
            "{{- define \"l\" }}{{ end }}\n",
        )
        .unwrap();
        std::os::unix::fs::symlink("../../library", chart.join("charts/library")).unwrap();
        let bound = LinkBound::of(&chart, tmp.path()).unwrap();
        let names: Vec<String> = entries(&pack_dir_within(&chart, &bound).unwrap())
            .into_iter()
            .map(|e| e.0)
            .collect();
        assert_eq!(
            names,
            [
                "cluster/Chart.yaml",
                "cluster/charts/library/Chart.yaml",
                "cluster/charts/library/templates/_lib.tpl"
            ]
        );
        // The chart folder alone is the stricter bound.
        let err = pack_dir(&chart).unwrap_err();
        assert!(err.contains("leading out of the chart folder"), "{err}");
        // A link leaving the checkout, to a token beside it.
        fs::write(tmp.path().join("vendor/token"), "K10secret::server:abc\n").unwrap();
        std::os::unix::fs::symlink("../../../../token", chart.join("token")).unwrap();
        let err = pack_dir_within(&chart, &bound).unwrap_err();
        assert!(
            err.contains(
                "token is a symbolic link leading out of the git checkout holding the chart"
            ),
            "{err}"
        );
        assert!(!err.contains("K10secret"), "{err}");
        // No checkout: the config's folder bounds the links of a chart beneath it.
        fs::remove_dir(repo.join(".git")).unwrap();
        let bound = LinkBound::of(&chart, &repo).unwrap();
        let err = pack_dir_within(&chart, &bound).unwrap_err();
        assert!(
            err.contains("token is a symbolic link leading out of the config's folder"),
            "{err}"
        );
        let bound = LinkBound::of(&chart, tmp.path()).unwrap();
        assert!(pack_dir_within(&chart, &bound).is_ok());
        let bound = LinkBound::of(&chart, &library).unwrap();
        let err = pack_dir_within(&chart, &bound).unwrap_err();
        assert!(
            err.contains("charts/library is a symbolic link leading out of the chart folder"),
            "{err}"
        );
    }
}
