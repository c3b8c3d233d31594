//! `manifests:`: Kubernetes manifests k3s applies at start on the servers. Each file (or
//! each `.yaml`/`.yml` file of a folder, not recursing) is checked while planning: every
//! document must be a YAML map with `apiVersion`, `kind` and `metadata.name`, since k3s
//! would otherwise skip it with a line in its log, far from the desk it was written at.

use super::ChartError;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The largest manifest file read.
pub const MAX_MANIFEST_FILE: u64 = 4 << 20;

/// One manifest file the servers get: its name in k3s's manifests folder and its source.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ManifestFile {
    /// The file name (`app.yaml`).
    pub name: String,
    /// The file.
    pub source: PathBuf,
}

/// The manifest files of `entries` (files, or folders of `.yaml`/`.yml` files, sorted),
/// each checked; `taken` are names already used in the manifests folder (the charts'
/// `NAME.yaml`).
pub fn collect(entries: &[PathBuf], taken: &[String]) -> Result<Vec<ManifestFile>, ChartError> {
    let mut files: Vec<ManifestFile> = Vec::new();
    for entry in entries {
        let mut found = Vec::new();
        if entry.is_dir() {
            let read = std::fs::read_dir(entry)
                .map_err(|e| ChartError::Invalid(format!("manifests: {}: {e}", entry.display())))?;
            for e in read {
                let e = e.map_err(|e| {
                    ChartError::Invalid(format!("manifests: {}: {e}", entry.display()))
                })?;
                let path = e.path();
                let yaml = path.extension().is_some_and(|x| x == "yaml" || x == "yml");
                if yaml && path.is_file() {
                    found.push(path);
                }
            }
            found.sort();
        } else {
            found.push(entry.clone());
        }
        for path in found {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if taken.contains(&name) || files.iter().any(|f| f.name == name) {
                return Err(ChartError::Invalid(format!(
                    "{}: a manifest named {name} is there already (a chart's HelmChart is NAME.yaml); give each manifest its own file name",
                    path.display()
                )));
            }
            let bytes = crate::input::read_capped(&path, MAX_MANIFEST_FILE, "manifest")
                .map_err(|e| ChartError::Invalid(e.to_string()))?;
            let text = String::from_utf8(bytes)
                .map_err(|_| ChartError::Invalid(format!("{}: not UTF-8 text", path.display())))?;
            check_documents(&path, &text)?;
            files.push(ManifestFile { name, source: path });
        }
    }
    Ok(files)
}

/// Every document of `text` is a map with `apiVersion`, `kind` and `metadata.name`.
pub fn check_documents(path: &Path, text: &str) -> Result<(), ChartError> {
    let at = |line: usize, message: String| {
        ChartError::Invalid(format!("{}:{line}: {message}", path.display()))
    };
    // Documents are split at `---` lines, each parsed alone, so an error names its line.
    let mut start = 1;
    let mut chunk = String::new();
    let mut documents = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line == "---" || line.starts_with("--- ") {
            documents.push((start, std::mem::take(&mut chunk)));
            start = i + 2;
            continue;
        }
        chunk.push_str(line);
        chunk.push('\n');
    }
    documents.push((start, chunk));
    let mut any = false;
    for (start, doc) in documents {
        let blank = doc
            .lines()
            .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'));
        if blank {
            continue;
        }
        any = true;
        let value: Value = serde_saphyr::from_str(&doc).map_err(|e| {
            let line = e
                .location()
                .map_or(start, |l| start + l.line() as usize - 1);
            let message = e.to_string();
            let message = message
                .rfind(" at line ")
                .map_or(message.as_str(), |i| &message[..i])
                .to_string();
            at(line, format!("not YAML: {message}"))
        })?;
        let first = doc
            .lines()
            .position(|l| !(l.trim().is_empty() || l.trim_start().starts_with('#')))
            .map_or(start, |i| start + i);
        let Value::Object(map) = &value else {
            return Err(at(
                first,
                "a manifest document is a map (apiVersion, kind, metadata)".into(),
            ));
        };
        let text_of = |v: Option<&Value>| v.and_then(Value::as_str).is_some_and(|s| !s.is_empty());
        for key in ["apiVersion", "kind"] {
            if !text_of(map.get(key)) {
                return Err(at(first, format!("the document has no {key}")));
            }
        }
        if !text_of(map.get("metadata").and_then(|m| m.get("name"))) {
            return Err(at(first, "the document has no metadata.name".into()));
        }
    }
    if !any {
        return Err(at(1, "the file holds no manifest".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str) -> Result<(), String> {
        check_documents(Path::new("m/app.yaml"), text).map_err(|e| e.to_string())
    }

    #[test]
    fn documents_need_api_version_kind_and_a_name_at_their_line() {
        let good = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n";
        check(good).unwrap();
        check(&format!("# two\n{good}---\n{good}---\n")).unwrap();
        let err = check(&format!(
            "{good}---\n# b\nkind: ConfigMap\nmetadata: {{name: b}}\n"
        ))
        .unwrap_err();
        assert_eq!(err, "m/app.yaml:7: the document has no apiVersion");
        let err = check(&format!(
            "{good}---\napiVersion: v1\nkind: X\nmetadata: {{}}\n"
        ))
        .unwrap_err();
        assert_eq!(err, "m/app.yaml:6: the document has no metadata.name");
        let err = check("- a\n- b\n").unwrap_err();
        assert!(
            err.starts_with("m/app.yaml:1: a manifest document is a map"),
            "{err}"
        );
        let err = check(&format!("{good}---\napiVersion: v1\nkind: [\n")).unwrap_err();
        assert!(err.starts_with("m/app.yaml:"), "{err}");
        assert!(err.contains("not YAML"), "{err}");
        assert!(check("# nothing\n").unwrap_err().contains("no manifest"));
    }

    #[test]
    fn folders_give_their_yaml_files_sorted_and_names_are_unique() {
        let dir = tempfile::tempdir().unwrap();
        let good = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: apps\n";
        std::fs::write(dir.path().join("b.yaml"), good).unwrap();
        std::fs::write(dir.path().join("a.yml"), good).unwrap();
        std::fs::write(dir.path().join("notes.txt"), "not a manifest").unwrap();
        let files = collect(&[dir.path().to_path_buf()], &[]).unwrap();
        let names: Vec<&str> = files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["a.yml", "b.yaml"]);
        let err = collect(&[dir.path().to_path_buf()], &["b.yaml".into()]).unwrap_err();
        assert!(err.to_string().contains("b.yaml"), "{err}");
    }
}
