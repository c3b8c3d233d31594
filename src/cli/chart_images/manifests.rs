//! `seedforge chart-images --manifests DIR`: what each chart rendered, laid out as `helm
//! template NAME CHART --output-dir DIR/NAME` lays it out, so that an operator can diff it
//! with Helm's: one file a template (`DIR/NAME/CHART/templates/x.yaml`, a dependency's
//! under `CHART/charts/SUB/templates/`), each document as `---`, `# Source: TEMPLATE` and
//! the document. Helm's own steps, as its release utilities take them: each template's
//! output split into documents at `---` (at the start or after a newline, the blanks
//! around it dropped), empty ones left out; the documents that are no hooks first, sorted
//! by kind in Helm's install order (kinds it does not name after those it does, by name;
//! documents of one kind in template name order, then in their order in the template);
//! then the hooks (a `helm.sh/hook` annotation; one naming an event Helm does not know is
//! dropped, as Helm drops it), sorted the same way and appended to their template's file.
//! The chart's own `NOTES.txt`, when rendered, goes to `DIR/NAME/NOTES.txt` (Helm shows
//! it after an install; `helm template` writes none).

use seedforge::charts::render::Rendered;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Helm's install order of kinds (`releaseutil.InstallOrder`).
const INSTALL_ORDER: &[&str] = &[
    "PriorityClass",
    "Namespace",
    "NetworkPolicy",
    "ResourceQuota",
    "LimitRange",
    "PodSecurityPolicy",
    "PodDisruptionBudget",
    "ServiceAccount",
    "Secret",
    "SecretList",
    "ConfigMap",
    "StorageClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleList",
    "ClusterRoleBinding",
    "ClusterRoleBindingList",
    "Role",
    "RoleList",
    "RoleBinding",
    "RoleBindingList",
    "Service",
    "DaemonSet",
    "Pod",
    "ReplicationController",
    "ReplicaSet",
    "Deployment",
    "HorizontalPodAutoscaler",
    "StatefulSet",
    "Job",
    "CronJob",
    "IngressClass",
    "Ingress",
    "APIService",
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
];

/// The hook events Helm knows (`helm.sh/hook`), `test-success` the old name of `test`.
const HOOK_EVENTS: &[&str] = &[
    "pre-install",
    "post-install",
    "pre-delete",
    "post-delete",
    "pre-upgrade",
    "post-upgrade",
    "pre-rollback",
    "post-rollback",
    "test",
    "test-success",
];

/// One document of a template's output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Document {
    /// The template (`chart/templates/x.yaml`).
    pub(super) template: String,
    /// Its `kind` (empty when it has none).
    pub(super) kind: String,
    /// The document's text, its blanks around trimmed.
    pub(super) text: String,
}

/// A chart's documents in the order `helm template` writes them: the resources, then the
/// hooks.
#[derive(Debug, Default)]
pub(super) struct Laid {
    pub(super) resources: Vec<Document>,
    pub(super) hooks: Vec<Document>,
    /// The chart's own NOTES.txt as rendered, if it was.
    pub(super) notes: Option<String>,
}

/// Splits `text` into documents as Helm 3 does: at `---` at the start or after a
/// newline, with the whitespace around it, each document trimmed, empty ones left out.
pub(super) fn split_documents(text: &str) -> Vec<&str> {
    // Built once a call: the pattern is a constant and cannot fail.
    let Ok(sep) = regex::Regex::new(r"(?:^|\s*\n)---\s*") else {
        return vec![text.trim()];
    };
    sep.split(text.trim())
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .collect()
}

fn order_of(kind: &str) -> Option<usize> {
    INSTALL_ORDER.iter().position(|k| *k == kind)
}

/// Helm's order: a known kind by its place, before every unknown one; unknown ones by
/// name; the same rank keeps its order (the sort is stable).
fn by_kind(a: &Document, b: &Document) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    match (order_of(&a.kind), order_of(&b.kind)) {
        (Some(x), Some(y)) => x.cmp(&y),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => a.kind.cmp(&b.kind),
    }
}

/// The hook events a document's `helm.sh/hook` annotation names: `None` when it has
/// none, `Some(false)` when one is unknown to Helm (the document is dropped).
fn hook(head: &serde_json::Value) -> Option<bool> {
    let events = head
        .get("metadata")?
        .get("annotations")?
        .get("helm.sh/hook")?;
    let events = events.as_str().unwrap_or_default();
    Some(
        events
            .split(',')
            .all(|e| HOOK_EVENTS.contains(&e.trim().to_lowercase().as_str())),
    )
}

/// The kind of a document that is plainly no hook, without parsing it (a chart's CRDs
/// run to megabytes): no `helm.sh/hook` in its text and one root `kind:` line, a plain
/// word. Anything else is parsed (and every document was parsed as YAML already when the
/// chart's images were found).
fn quick_head(text: &str) -> Option<String> {
    if text.contains("helm.sh/hook") {
        return None;
    }
    let mut kinds = text.lines().filter_map(|l| l.strip_prefix("kind:"));
    let kind = kinds.next()?.trim().trim_matches('"');
    let plain = !kind.is_empty() && kind.bytes().all(|b| b.is_ascii_alphanumeric());
    (plain && kinds.next().is_none()).then(|| kind.to_string())
}

/// Lays out what a chart rendered (`rendered`, in template name order), `entry` naming
/// it in errors.
pub(super) fn lay_out(entry: &str, rendered: &[Rendered]) -> Result<Laid, String> {
    let mut out = Laid::default();
    let top = rendered
        .first()
        .map(|r| r.name.split('/').next().unwrap_or_default().to_string())
        .unwrap_or_default();
    let mut sorted: Vec<&Rendered> = rendered.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    for r in sorted {
        let base = r.name.rsplit('/').next().unwrap_or_default();
        if base.starts_with('_') {
            continue;
        }
        if base == "NOTES.txt" {
            if r.name == format!("{top}/templates/NOTES.txt") {
                out.notes = Some(r.output.clone());
            }
            continue;
        }
        for text in split_documents(&r.output) {
            let (kind, hook) = match quick_head(text) {
                Some(kind) => (kind, None),
                None => {
                    let head: serde_json::Value =
                        seedforge::charts::read_yaml(text).map_err(|e| {
                            format!(
                                "chart {entry}: {} renders a document that is not YAML: {e}",
                                r.name
                            )
                        })?;
                    let kind = head
                        .get("kind")
                        .and_then(serde_json::Value::as_str)
                        .unwrap_or_default()
                        .to_string();
                    (kind, hook(&head))
                }
            };
            let doc = Document {
                template: r.name.clone(),
                kind,
                text: text.to_string(),
            };
            match hook {
                None => out.resources.push(doc),
                Some(true) => out.hooks.push(doc),
                Some(false) => {}
            }
        }
    }
    out.resources.sort_by(by_kind);
    out.hooks.sort_by(by_kind);
    Ok(out)
}

/// The files `helm template --output-dir` writes for `laid`: each template's path (under
/// the chart's folder) and its text.
pub(super) fn files(laid: &Laid) -> BTreeMap<String, String> {
    let mut files: BTreeMap<String, String> = BTreeMap::new();
    for d in laid.resources.iter().chain(&laid.hooks) {
        let f = files.entry(d.template.clone()).or_default();
        f.push_str(&format!("---\n# Source: {}\n{}\n", d.template, d.text));
    }
    if let Some(notes) = &laid.notes {
        files.insert("NOTES.txt".into(), notes.clone());
    }
    files
}

/// A template's name as a path under the chart's folder: relative, no `..`.
fn relative(name: &str) -> Option<PathBuf> {
    let ok = !name.starts_with('/')
        && !name.contains('\\')
        && name
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != "..");
    ok.then(|| PathBuf::from(name))
}

/// Writes `files` under `dir` (made as needed); returns the paths written.
pub(super) fn write(dir: &Path, files: &BTreeMap<String, String>) -> Result<Vec<PathBuf>, String> {
    let mut written = Vec::new();
    for (name, text) in files {
        let rel = relative(name).ok_or_else(|| {
            format!(
                "{}: template name {name:?} is no relative path",
                dir.display()
            )
        })?;
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| format!("{}: cannot write: {e}", parent.display()))?;
        }
        std::fs::write(&path, text)
            .map_err(|e| format!("{}: cannot write: {e}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rendered(name: &str, output: &str) -> Rendered {
        Rendered {
            chart: name.split("/templates/").next().unwrap_or_default().into(),
            name: name.into(),
            source: String::new(),
            output: output.into(),
        }
    }

    #[test]
    fn documents_split_as_helm_splits_them() {
        // The blanks after a separator are part of it, so a second `---` right after it
        // stays at the start of the next document (as Go's regexp leaves it to Helm).
        assert_eq!(
            split_documents("\n---\na: 1\n---   \n\n---\nb: 2\n  ---\n"),
            ["a: 1", "---\nb: 2\n  ---"]
        );
        assert_eq!(split_documents("--- a: 1\n---b: 2"), ["a: 1", "b: 2"]);
        assert!(split_documents("  \n---\n\n").is_empty());
    }

    #[test]
    fn resources_sort_by_kind_then_template_and_hooks_follow() {
        let laid = lay_out(
            "x",
            &[
                rendered(
                    "c/templates/b.yaml",
                    "kind: Deployment\nmetadata: {name: d}\n---\nkind: Widget\n---\nkind: ServiceAccount\n",
                ),
                rendered(
                    "c/templates/a.yaml",
                    "kind: Job\nmetadata:\n  name: j\n  annotations: {helm.sh/hook: pre-install}\n---\nkind: Deployment\nmetadata: {name: a}\n---\nkind: Job\nmetadata:\n  name: k\n  annotations: {helm.sh/hook: pre-launch}\n---\n# only a comment\n",
                ),
                rendered("c/templates/NOTES.txt", "hello"),
                rendered("c/charts/s/templates/NOTES.txt", "not shown"),
                rendered("c/templates/_h.tpl", "kind: Secret"),
            ],
        )
        .unwrap();
        let kinds: Vec<(&str, &str)> = laid
            .resources
            .iter()
            .map(|d| (d.kind.as_str(), d.template.as_str()))
            .collect();
        assert_eq!(
            kinds,
            [
                ("ServiceAccount", "c/templates/b.yaml"),
                ("Deployment", "c/templates/a.yaml"),
                ("Deployment", "c/templates/b.yaml"),
                ("", "c/templates/a.yaml"),
                ("Widget", "c/templates/b.yaml"),
            ]
        );
        assert_eq!(laid.hooks.len(), 1);
        assert_eq!(laid.notes.as_deref(), Some("hello"));
        let files = files(&laid);
        assert_eq!(
            files["c/templates/a.yaml"],
            "---\n# Source: c/templates/a.yaml\nkind: Deployment\nmetadata: {name: a}\n---\n# Source: c/templates/a.yaml\n# only a comment\n---\n# Source: c/templates/a.yaml\nkind: Job\nmetadata:\n  name: j\n  annotations: {helm.sh/hook: pre-install}\n"
        );
        assert_eq!(files["NOTES.txt"], "hello");
        assert_eq!(files.len(), 3);
    }

    #[test]
    fn a_plain_kind_is_read_without_parsing() {
        assert_eq!(
            quick_head("apiVersion: v1\nkind: \"ConfigMap\"\ndata:\n  kind: x\n").as_deref(),
            Some("ConfigMap")
        );
        for parsed in [
            "kind: Job\nmetadata:\n  annotations: {helm.sh/hook: test}\n",
            "{kind: Pod}",
            "kind: Pod\nkind: Job\n",
            "kind: 'a b'\n",
            "# only a comment",
        ] {
            assert_eq!(quick_head(parsed), None, "{parsed}");
        }
    }

    #[test]
    fn a_document_that_is_no_yaml_is_named() {
        let e = lay_out("x", &[rendered("c/templates/a.yaml", "a: [1\n")]).unwrap_err();
        assert!(
            e.contains("chart x: c/templates/a.yaml renders a document that is not YAML"),
            "{e}"
        );
    }

    #[test]
    fn template_names_stay_under_the_folder() {
        assert!(relative("c/templates/a.yaml").is_some());
        for bad in ["/etc/x", "c/../x", "c//x", "c\\x", "./c"] {
            assert!(relative(bad).is_none(), "{bad}");
        }
    }
}
