//! `manifests:`: Kubernetes manifests k3s applies at start on the servers. Each file (or
//! each `.yaml`/`.yml` file of a folder, not recursing) is checked while planning: every
//! document (as the YAML parser splits them) must be a YAML map with `apiVersion`, `kind`
//! and `metadata.name`, since k3s would otherwise skip it with a line in its log, far from
//! the desk it was written at.

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

/// One document of a manifest file: where its text starts and where its content does.
#[derive(Debug)]
pub(crate) struct Document {
    /// The byte offset of the start of the line the document starts on.
    pub(crate) from: usize,
    /// That line (1-based).
    pub(crate) line: usize,
    /// The line of its first node (`None`: the document is empty, or only `null`).
    pub(crate) first: Option<usize>,
}

/// The documents of `text`, as the YAML parser sees them: a document starts at its `---`
/// marker (with its content on the same line, `--- {kind: …}`, or on the next), or where
/// the first one's content starts when it has no marker. A syntax error is `(line,
/// message)`.
pub(crate) fn documents(text: &str) -> Result<Vec<Document>, (usize, String)> {
    use serde_saphyr::granit_parser::{Event, Parser, ScalarStyle};
    let line_start = |offset: usize| {
        text[..offset.min(text.len())]
            .rfind('\n')
            .map_or(0, |i| i + 1)
    };
    let mut docs: Vec<Document> = Vec::new();
    let mut depth = 0usize;
    for event in Parser::new_from_str(text) {
        let (event, span) =
            event.map_err(|e| (e.marker().line(), format!("not YAML: {}", e.info())))?;
        let offset = span.start.byte_offset().unwrap_or_else(|| {
            text.char_indices()
                .nth(span.start.index())
                .map_or(text.len(), |(i, _)| i)
        });
        let node_at = |docs: &mut Vec<Document>| {
            if let Some(d) = docs.last_mut()
                && d.first.is_none()
            {
                d.first = Some(span.start.line());
            }
        };
        match event {
            Event::DocumentStart(..) => docs.push(Document {
                from: line_start(offset),
                line: span.start.line(),
                first: None,
            }),
            Event::Scalar(v, ScalarStyle::Plain, _, None)
                if depth == 0 && matches!(v.as_ref(), "" | "~" | "null" | "Null" | "NULL") => {}
            Event::Scalar(..) | Event::Alias(_) | Event::UnresolvedAlias(_) if depth == 0 => {
                node_at(&mut docs);
            }
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                if depth == 0 {
                    node_at(&mut docs);
                }
                depth += 1;
            }
            Event::MappingEnd | Event::SequenceEnd => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(docs)
}

/// Every document of `text` is a map with `apiVersion`, `kind` and `metadata.name`.
pub fn check_documents(path: &Path, text: &str) -> Result<(), ChartError> {
    let at = |line: usize, message: String| {
        ChartError::Invalid(format!("{}:{line}: {message}", path.display()))
    };
    // The documents are found by the YAML parser itself (not by looking for `---` lines,
    // which misses a document written on its marker's line), then each is read alone, so
    // an error names its line.
    let docs = documents(text).map_err(|(line, message)| at(line, message))?;
    let mut any = false;
    for (i, doc) in docs.iter().enumerate() {
        let Some(first) = doc.first else { continue };
        any = true;
        let end = docs.get(i + 1).map_or(text.len(), |d| d.from);
        let value: Value = serde_saphyr::from_str(&text[doc.from..end]).map_err(|e| {
            let line = e
                .location()
                .map_or(doc.line, |l| doc.line + l.line() as usize - 1);
            let message = e.to_string();
            let message = message
                .rfind(" at line ")
                .map_or(message.as_str(), |i| &message[..i])
                .to_string();
            at(line, format!("not YAML: {message}"))
        })?;
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
    fn a_document_written_on_its_separator_line_is_checked() {
        let good = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n";
        let err = check("--- {apiVersion: v1, kind: ConfigMap}\n").unwrap_err();
        assert_eq!(err, "m/app.yaml:1: the document has no metadata.name");
        let err = check(&format!("{good}--- {{apiVersion: v1, kind: ConfigMap}}\n")).unwrap_err();
        assert_eq!(err, "m/app.yaml:5: the document has no metadata.name");
        let err = check(&format!("{good}---\n# c\n--- !!map\nkind: X\n")).unwrap_err();
        assert_eq!(err, "m/app.yaml:8: the document has no apiVersion");
        let err = check(&format!("{good}--- [a, b]\n")).unwrap_err();
        assert!(
            err.starts_with("m/app.yaml:5: a manifest document is a map"),
            "{err}"
        );
        check(&format!(
            "--- {{apiVersion: v1, kind: ConfigMap, metadata: {{name: a}}}}\n---\n{good}...\n--- # empty\n---\n"
        ))
        .unwrap();
        let err = check(&format!("{good}--- {{apiVersion: v1, kind: [\n")).unwrap_err();
        assert!(err.starts_with("m/app.yaml:"), "{err}");
        assert!(err.contains("not YAML"), "{err}");
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
