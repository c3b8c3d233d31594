//! A chart as Helm loads it: `Chart.yaml` (`apiVersion` v1 or v2, `type: library`), its
//! `values.yaml` and `values.schema.json`, `templates/`, `crds/`, the files `.Files` sees,
//! and its dependencies under `charts/` (archives and folders, each a chart loaded the same
//! way). Everything is read from the chart's archive in memory, bounded: the whole, nested
//! archives included, decompresses to at most [`MAX_CHART_CONTENT`], one file to at most
//! [`MAX_CHART_FILE`], charts nest at most [`MAX_CHART_DEPTH`] deep and hold at most
//! [`MAX_CHART_FILES`] files.
//!
//! As Helm's loader: a file `charts/NAME/…` belongs to the dependency in folder `NAME`, a
//! `charts/*.tgz` is a dependency archive, `Chart.yaml`, `Chart.lock`, `values.yaml`,
//! `values.schema.json`, `requirements.yaml`/`.lock` and `templates/…` are the chart's own
//! parts, and every other file (`crds/` included) is one `.Files` serves.

use super::ChartError;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::io::Read as _;

/// The most bytes a chart may decompress to (Helm's own limit).
pub const MAX_CHART_CONTENT: u64 = 100 << 20;
/// The most bytes one file of a chart may have (Helm's own limit).
pub const MAX_CHART_FILE: u64 = 5 << 20;
/// How deep dependencies nest (a chart, its subchart, the subchart's, …).
pub const MAX_CHART_DEPTH: usize = 10;
/// The most files a chart holds, its dependencies' included.
pub const MAX_CHART_FILES: usize = 20_000;

/// One chart, loaded.
#[derive(Debug, Clone, Default)]
pub struct Chart {
    /// Its name (`Chart.yaml`'s, or the alias its parent gives it).
    pub name: String,
    /// Where it is, as Helm names it in template names: `top`, `top/charts/sub`.
    pub path: String,
    /// `Chart.yaml`, as a map.
    pub metadata: Map<String, Value>,
    /// `values.yaml`, as a map (empty when the chart has none).
    pub values: Map<String, Value>,
    /// `values.schema.json`, when the chart ships one.
    pub schema: Option<String>,
    /// `templates/…`: the path under the chart (`templates/deploy.yaml`) and the text.
    pub templates: Vec<(String, String)>,
    /// The files `.Files` serves (`crds/` among them), by path under the chart.
    pub files: BTreeMap<String, Vec<u8>>,
    /// The dependencies found under `charts/`, in name order.
    pub dependencies: Vec<Chart>,
}

impl Chart {
    /// `type: library`: its templates only define, nothing of it renders.
    pub fn is_library(&self) -> bool {
        self.metadata.get("type").and_then(Value::as_str) == Some("library")
    }

    /// A field of `Chart.yaml` as text.
    pub fn field(&self, key: &str) -> Option<String> {
        match self.metadata.get(key)? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }

    /// The `dependencies:` of `Chart.yaml` (or, for `apiVersion: v1`, of
    /// `requirements.yaml`, which the loader moves there).
    pub fn declared(&self) -> Vec<Map<String, Value>> {
        match self.metadata.get("dependencies") {
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(|d| d.as_object().cloned())
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The `crds/` files (YAML), by path under the chart.
    pub fn crds(&self) -> impl Iterator<Item = (&String, &Vec<u8>)> {
        self.files.iter().filter(|(p, _)| {
            p.starts_with("crds/")
                && (p.ends_with(".yaml") || p.ends_with(".yml") || p.ends_with(".json"))
        })
    }
}

/// What the loading has spent so far, shared by nested archives.
struct Budget {
    bytes: u64,
    files: usize,
}

/// Loads the chart in `tgz` (a `.tgz` as Helm packages it), named `entry` in messages.
pub fn load_archive(entry: &str, tgz: &[u8]) -> Result<Chart, ChartError> {
    let mut budget = Budget { bytes: 0, files: 0 };
    let files = untar(entry, tgz, &mut budget)?;
    from_files(entry, files, "", "", 0, &mut budget)
}

/// Loads a chart from its files (paths relative to the chart's folder), as a folder of a
/// chart Helm loads; `at` is `entry`'s path to it, for messages.
pub fn load_files(entry: &str, files: BTreeMap<String, Vec<u8>>) -> Result<Chart, ChartError> {
    let mut budget = Budget { bytes: 0, files: 0 };
    for (path, data) in &files {
        spend(entry, &mut budget, path, data.len() as u64)?;
    }
    build(entry, files, "", "", 0, &mut budget)
}

fn bad(entry: &str, message: String) -> ChartError {
    ChartError::Invalid(format!("chart {entry}: {message}"))
}

fn spend(entry: &str, budget: &mut Budget, path: &str, size: u64) -> Result<(), ChartError> {
    budget.bytes = budget.bytes.saturating_add(size);
    budget.files += 1;
    if budget.bytes > MAX_CHART_CONTENT {
        return Err(bad(
            entry,
            format!("the chart decompresses to more than {MAX_CHART_CONTENT} bytes (at {path})"),
        ));
    }
    if budget.files > MAX_CHART_FILES {
        return Err(bad(
            entry,
            format!("the chart holds more than {MAX_CHART_FILES} files (at {path})"),
        ));
    }
    Ok(())
}

/// The regular files of a `.tgz`, by path, bounded.
fn untar(
    entry: &str,
    tgz: &[u8],
    budget: &mut Budget,
) -> Result<BTreeMap<String, Vec<u8>>, ChartError> {
    let fail = |message: String| bad(entry, format!("the chart archive: {message}"));
    let gz = flate2::read::GzDecoder::new(tgz).take(MAX_CHART_CONTENT + 1);
    let mut archive = tar::Archive::new(gz);
    let mut files = BTreeMap::new();
    for item in archive.entries().map_err(|e| fail(e.to_string()))? {
        let mut item = item.map_err(|e| fail(e.to_string()))?;
        if !item.header().entry_type().is_file() {
            continue;
        }
        let path = item
            .path()
            .map_err(|e| fail(e.to_string()))?
            .to_string_lossy()
            .into_owned();
        let size = item.header().size().unwrap_or(0);
        spend(entry, budget, &path, size)?;
        if size > MAX_CHART_FILE {
            return Err(fail(format!(
                "{path} is larger than {MAX_CHART_FILE} bytes"
            )));
        }
        let mut data = Vec::with_capacity(size as usize);
        (&mut item)
            .take(MAX_CHART_FILE + 1)
            .read_to_end(&mut data)
            .map_err(|e| fail(format!("{path}: {e}")))?;
        if data.len() as u64 > MAX_CHART_FILE {
            return Err(fail(format!(
                "{path} is larger than {MAX_CHART_FILE} bytes"
            )));
        }
        files.insert(path, data);
    }
    Ok(files)
}

/// A chart from an archive's files: all under one top folder (the chart's), as Helm
/// packages it; `at` is where the archive lies in the top chart, for messages (`""` for
/// the chart's own archive, `top/charts/sub-1.0.0.tgz/` for a dependency's).
fn from_files(
    entry: &str,
    files: BTreeMap<String, Vec<u8>>,
    parent: &str,
    at: &str,
    depth: usize,
    budget: &mut Budget,
) -> Result<Chart, ChartError> {
    let mut inner = BTreeMap::new();
    let mut top: Option<String> = None;
    for (path, data) in files {
        let path = path.trim_start_matches("./").to_string();
        let Some((first, rest)) = path.split_once('/') else {
            // A file beside the chart's folder: Helm's loader takes the chart's files from
            // the first folder only.
            continue;
        };
        match &top {
            None => top = Some(first.to_string()),
            Some(t) if t != first => continue,
            Some(_) => {}
        }
        inner.insert(rest.to_string(), data);
    }
    let at = format!("{at}{}/", top.unwrap_or_default());
    build(entry, inner, parent, &at, depth, budget)
}

/// A path under a chart that Helm's loader would take: relative, no `..`, no empty or
/// `.` component.
fn clean(path: &str) -> bool {
    !path.starts_with('/')
        && !path.contains('\\')
        && path
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != "..")
}

/// A chart from its files (paths under its folder). `parent` is the chart path of the
/// folder holding it (`top/charts/`, as Helm names templates: by chart names), `at` the
/// path of its folder in the archive or folder the top chart was read from, which messages
/// name (`top/charts/sub/`: by folder names).
fn build(
    entry: &str,
    files: BTreeMap<String, Vec<u8>>,
    parent: &str,
    at: &str,
    depth: usize,
    budget: &mut Budget,
) -> Result<Chart, ChartError> {
    if depth > MAX_CHART_DEPTH {
        return Err(bad(
            entry,
            format!("dependencies nest more than {MAX_CHART_DEPTH} deep (at {at})"),
        ));
    }
    let text = |path: &str, data: &[u8]| {
        String::from_utf8(data.to_vec())
            .map_err(|_| bad(entry, format!("{at}{path} is not UTF-8 text")))
    };
    let yaml_map = |path: &str, data: &[u8]| -> Result<Map<String, Value>, ChartError> {
        let t = text(path, data)?;
        if t.trim().is_empty() {
            return Ok(Map::new());
        }
        match super::read_yaml::<Value>(&t) {
            Ok(Value::Object(m)) => Ok(m),
            Ok(Value::Null) => Ok(Map::new()),
            Ok(_) => Err(bad(entry, format!("{at}{path} is not a map"))),
            Err(e) => Err(bad(entry, format!("{at}{path}: not YAML: {e}"))),
        }
    };
    let mut chart = Chart::default();
    let mut chart_yaml = None;
    let mut requirements = None;
    let mut sub_folders: BTreeMap<String, BTreeMap<String, Vec<u8>>> = BTreeMap::new();
    let mut sub_archives: Vec<(String, Vec<u8>)> = Vec::new();
    for (path, data) in files {
        if !clean(&path) {
            return Err(bad(
                entry,
                format!("{at}{path}: a path that leaves the chart"),
            ));
        }
        match path.as_str() {
            "Chart.yaml" => chart_yaml = Some(yaml_map(&path, &data)?),
            "values.yaml" => chart.values = yaml_map(&path, &data)?,
            "values.schema.json" => chart.schema = Some(text(&path, &data)?),
            "requirements.yaml" => requirements = Some(yaml_map(&path, &data)?),
            "Chart.lock" | "requirements.lock" => {}
            p if p.starts_with("templates/") => {
                chart.templates.push((path.clone(), text(&path, &data)?))
            }
            p if p.starts_with("charts/") => {
                let rest = &p["charts/".len()..];
                match rest.split_once('/') {
                    Some((folder, inner)) => {
                        sub_folders
                            .entry(folder.to_string())
                            .or_default()
                            .insert(inner.to_string(), data);
                    }
                    None if rest.ends_with(".tgz") || rest.ends_with(".tar.gz") => {
                        sub_archives.push((rest.to_string(), data));
                    }
                    // `.prov` files and anything else beside the archives: files of the chart.
                    None => {
                        chart.files.insert(path, data);
                    }
                }
            }
            _ => {
                chart.files.insert(path, data);
            }
        }
    }
    let Some(mut metadata) = chart_yaml else {
        return Err(bad(
            entry,
            format!(
                "{}has no Chart.yaml; Helm would not load it",
                if depth == 0 {
                    "the archive ".to_string()
                } else {
                    format!("{at} ")
                }
            ),
        ));
    };
    // apiVersion v1 kept its dependencies in requirements.yaml; Helm moves them into the
    // metadata.
    if let Some(req) = requirements
        && !metadata.contains_key("dependencies")
        && let Some(deps) = req.get("dependencies")
    {
        metadata.insert("dependencies".into(), deps.clone());
    }
    let name = match metadata.get("name") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        _ => return Err(bad(entry, format!("{at}Chart.yaml has no name"))),
    };
    chart.name = name.clone();
    chart.metadata = metadata;
    chart.templates.sort();
    let own = format!("{parent}{name}");
    chart.path = own.clone();
    let sub_parent = format!("{own}/charts/");
    for (folder, files) in sub_folders {
        let sub_at = format!("{at}charts/{folder}/");
        chart.dependencies.push(build(
            entry,
            files,
            &sub_parent,
            &sub_at,
            depth + 1,
            budget,
        )?);
    }
    for (file, tgz) in sub_archives {
        let files = untar(&format!("{entry} ({at}charts/{file})"), &tgz, budget)?;
        let sub_at = format!("{at}charts/{file}/");
        chart.dependencies.push(from_files(
            entry,
            files,
            &sub_parent,
            &sub_at,
            depth + 1,
            budget,
        )?);
    }
    chart.dependencies.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(chart)
}

/// Sets the path of `chart` and of its dependencies below `parent` (after an alias renames
/// one, its templates are named by the alias, as Helm names them).
pub fn set_paths(chart: &mut Chart, parent: &str) {
    chart.path = format!("{parent}{}", chart.name);
    let below = format!("{}/charts/", chart.path);
    for d in &mut chart.dependencies {
        set_paths(d, &below);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A `.tgz` of `files` (path and bytes).
    pub(crate) fn tgz(files: &[(&str, &[u8])]) -> Vec<u8> {
        use std::io::Write as _;
        let mut tar = tar::Builder::new(Vec::new());
        for (path, body) in files {
            let mut header = tar::Header::new_gnu();
            header.set_size(body.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            tar.append_data(&mut header, path, *body).unwrap();
        }
        let raw = tar.into_inner().unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&raw).unwrap();
        gz.finish().unwrap()
    }

    #[test]
    fn a_chart_with_a_folder_and_an_archive_dependency_loads_as_helm_does() {
        let sub = tgz(&[
            (
                "db/Chart.yaml",
                b"apiVersion: v2\nname: db\nversion: 1.0.0\n",
            ),
            ("db/values.yaml", b"image: {repository: pg, tag: \"16\"}\n"),
            ("db/templates/sts.yaml", b"kind: StatefulSet\n"),
        ]);
        let chart = load_archive(
            "demo",
            &tgz(&[
                (
                    "app/Chart.yaml",
                    b"apiVersion: v2\nname: app\nversion: 1.2.3\n",
                ),
                ("app/values.yaml", b"replicas: 1\n"),
                ("app/templates/deploy.yaml", b"kind: Deployment\n"),
                ("app/templates/_helpers.tpl", b"{{ define \"x\" }}{{ end }}"),
                ("app/crds/crd.yaml", b"kind: CustomResourceDefinition\n"),
                ("app/files/conf.ini", b"a=1\n"),
                (
                    "app/charts/lib/Chart.yaml",
                    b"apiVersion: v2\nname: common\nversion: 2.0.0\ntype: library\n",
                ),
                ("app/charts/lib/templates/_names.tpl", b""),
                ("app/charts/db-1.0.0.tgz", &sub),
            ]),
        )
        .unwrap();
        assert_eq!(chart.name, "app");
        assert_eq!(chart.path, "app");
        assert_eq!(chart.values["replicas"], 1);
        assert_eq!(
            chart
                .templates
                .iter()
                .map(|t| t.0.as_str())
                .collect::<Vec<_>>(),
            ["templates/_helpers.tpl", "templates/deploy.yaml"]
        );
        assert_eq!(
            chart.files.keys().collect::<Vec<_>>(),
            ["crds/crd.yaml", "files/conf.ini"]
        );
        assert_eq!(chart.crds().count(), 1);
        let names: Vec<_> = chart
            .dependencies
            .iter()
            .map(|d| (d.name.as_str(), d.path.as_str(), d.is_library()))
            .collect();
        assert_eq!(
            names,
            [
                ("common", "app/charts/common", true),
                ("db", "app/charts/db", false)
            ]
        );
        assert_eq!(chart.dependencies[1].templates[0].0, "templates/sts.yaml");
    }

    #[test]
    fn hostile_archives_are_refused_naming_the_chart() {
        let err = load_archive("demo", &tgz(&[("app/values.yaml", b"")])).unwrap_err();
        assert!(
            err.to_string()
                .contains("chart demo: the archive has no Chart.yaml"),
            "{err}"
        );
        let err = load_archive(
            "demo",
            &tgz(&[
                ("app/Chart.yaml", b"name: app\nversion: 1.0.0\n"),
                ("app/values.yaml", b"- a\n"),
            ]),
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("values.yaml is not a map"),
            "{err}"
        );
        // Charts nested deeper than the cap.
        let mut inner = tgz(&[("c/Chart.yaml", b"name: c\nversion: 1.0.0\n")]);
        for _ in 0..=MAX_CHART_DEPTH {
            inner = tgz(&[
                ("c/Chart.yaml", b"name: c\nversion: 1.0.0\n"),
                ("c/charts/c.tgz", &inner),
            ]);
        }
        let err = load_archive("deep", &inner).unwrap_err();
        assert!(err.to_string().contains("nest more than"), "{err}");
        // A zip bomb: a file that decompresses past the cap.
        let big = vec![0u8; (MAX_CHART_FILE + 1) as usize];
        let err = load_archive(
            "bomb",
            &tgz(&[
                ("c/Chart.yaml", b"name: c\nversion: 1.0.0\n"),
                ("c/big.bin", &big),
            ]),
        )
        .unwrap_err();
        assert!(err.to_string().contains("larger than"), "{err}");
    }

    /// A key whose value is only comments, then a long commented-out block (as
    /// node-feature-discovery's values.yaml has), then more keys.
    fn commented_out_block() -> String {
        let mut text =
            String::from("before: 0\nconfig:\n  # the whole configuration, commented out\n");
        for i in 0..40 {
            text.push_str(&format!("  #  option{i}: value {i}\n"));
        }
        text.push_str("after:\n  key: 1\n");
        text
    }

    /// Read as go-yaml through sigs.k8s.io/yaml reads it (`{"after":{"key":1},
    /// "before":0,"config":null}`), however many comments the block holds.
    #[test]
    fn a_value_of_only_comments_is_null_however_many_lines_follow() {
        let v: Value = crate::charts::read_yaml(&commented_out_block()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"before": 0, "config": null, "after": {"key": 1}})
        );
        let chart = load_archive(
            "gpu",
            &tgz(&[
                (
                    "gpu-operator/Chart.yaml",
                    b"apiVersion: v2\nname: gpu-operator\nversion: 1.0.0\n",
                ),
                (
                    "gpu-operator/charts/node-feature-discovery/Chart.yaml",
                    b"apiVersion: v2\nname: node-feature-discovery\nversion: 0.1.0\n",
                ),
                (
                    "gpu-operator/charts/node-feature-discovery/values.yaml",
                    commented_out_block().as_bytes(),
                ),
            ]),
        )
        .unwrap();
        assert_eq!(chart.dependencies[0].values["config"], Value::Null);
        assert_eq!(chart.dependencies[0].values["after"]["key"], 1);
    }

    /// A subchart's bad file is named by its path in the chart's archive: its folder (or
    /// its archive) under `charts/` included.
    #[test]
    fn a_subcharts_bad_file_is_named_by_its_real_path() {
        let bad: &[u8] = b"a: [1, 2\n";
        let err = load_archive(
            "gpu",
            &tgz(&[
                (
                    "gpu-operator/Chart.yaml",
                    b"apiVersion: v2\nname: gpu-operator\nversion: 1.0.0\n",
                ),
                (
                    "gpu-operator/charts/node-feature-discovery/Chart.yaml",
                    b"apiVersion: v2\nname: nfd\nversion: 0.1.0\n",
                ),
                (
                    "gpu-operator/charts/node-feature-discovery/values.yaml",
                    bad,
                ),
            ]),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with(
                "chart gpu: gpu-operator/charts/node-feature-discovery/values.yaml: not YAML"
            ),
            "{err}"
        );
        let sub = tgz(&[
            (
                "db/Chart.yaml",
                b"apiVersion: v2\nname: db\nversion: 1.0.0\n",
            ),
            ("db/values.yaml", bad),
        ]);
        let err = load_archive(
            "demo",
            &tgz(&[
                (
                    "app/Chart.yaml",
                    b"apiVersion: v2\nname: app\nversion: 1.2.3\n",
                ),
                ("app/charts/db-1.0.0.tgz", &sub),
            ]),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("chart demo: app/charts/db-1.0.0.tgz/db/values.yaml: not YAML"),
            "{err}"
        );
        // The top chart's own file, by its path in the archive.
        let err = load_archive(
            "demo",
            &tgz(&[
                (
                    "app/Chart.yaml",
                    b"apiVersion: v2\nname: app\nversion: 1.2.3\n",
                ),
                ("app/values.yaml", bad),
            ]),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("chart demo: app/values.yaml: not YAML"),
            "{err}"
        );
    }
}
