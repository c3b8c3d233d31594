//! The JSON documents of `--json` (docs/json.md): each a JSON object that names its kind
//! and version (`"schema": "seedforge.build/v1"`) and carries the run's warnings
//! (`"warnings"`), both added here for every document, so no command can leave them out.
//! Each kind has a JSON Schema, `docs/schemas/KIND.vVERSION.json`.
//!
//! Warnings reach the document through one sink ([`super::sink`]): [`warn`] (what the
//! commands say with `warning: …` on stderr), the progress
//! [`Reporter`](seedforge::Reporter)'s `warning`, the library's `tracing` warnings
//! ([`WarningLayer`]) and the modes a file system refused ([`super::modes`]).
//! [`print_json`] drains it into the document it prints.

use super::Global;
use super::sink::{record, take};
use serde::Serialize;

/// Declares the document kinds: each variant with its name and its version.
macro_rules! kinds {
    ($($(#[$doc:meta])* $variant:ident => $name:literal v $version:literal,)*) => {
        /// A kind of JSON document (one per shape a command prints).
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub(crate) enum Kind {
            $($(#[$doc])* $variant,)*
        }

        impl Kind {
            /// Every kind the command line can print.
            #[cfg_attr(not(test), allow(dead_code))]
            pub(crate) const ALL: &[Kind] = &[$(Kind::$variant,)*];

            /// The kind's name: `build`, `verify-delta`, `error`.
            pub(crate) fn name(self) -> &'static str {
                match self {
                    $(Kind::$variant => $name,)*
                }
            }

            /// The kind's version: bumped by a change a reader could trip on (docs/json.md).
            pub(crate) fn version(self) -> u32 {
                match self {
                    $(Kind::$variant => $version,)*
                }
            }
        }
    };
}

kinds! {
    /// `build`.
    Build => "build" v 1,
    /// `plan`.
    Plan => "plan" v 1,
    /// `mirror`.
    Mirror => "mirror" v 1,
    /// `push`.
    Push => "push" v 1,
    /// `airgap`.
    Airgap => "airgap" v 1,
    /// `debs`.
    Debs => "debs" v 1,
    /// `iso`.
    Iso => "iso" v 1,
    /// `render`.
    Render => "render" v 1,
    /// `pki`.
    Pki => "pki" v 1,
    /// `verify` of a build output, an OCI layout, an export folder or ISOs.
    Verify => "verify" v 1,
    /// `verify` of a delta folder.
    VerifyDelta => "verify-delta" v 2,
    /// `receipt`.
    Receipt => "receipt" v 2,
    /// `delta`.
    Delta => "delta" v 3,
    /// `apply`.
    Apply => "apply" v 2,
    /// `clean`.
    Clean => "clean" v 1,
    /// `gc`.
    Gc => "gc" v 1,
    /// `chart-images`.
    ChartImages => "chart-images" v 1,
    /// `init`.
    Init => "init" v 1,
    /// `lock`.
    Lock => "lock" v 1,
    /// `serve` (printed once it listens).
    Serve => "serve" v 1,
    /// A command that failed before its own document, a usage error, a signal.
    Error => "error" v 1,
}

impl Kind {
    /// The document's `schema` field: `seedforge.KIND/vVERSION`.
    pub(crate) fn schema(self) -> String {
        format!("seedforge.{}/v{}", self.name(), self.version())
    }

    /// The file of its JSON Schema under docs/schemas/: `KIND.vVERSION.json`.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn schema_file(self) -> String {
        format!("{}.v{}.json", self.name(), self.version())
    }
}

/// Says `message` as `warning: …` on stderr, scrubbed of the run's secrets, and records it
/// for the JSON document.
pub(crate) fn warn(g: &Global, message: &str) {
    let message = g.secrets.scrub(message);
    errln!("warning: {message}");
    record(&message);
}

/// Prints `value` as the JSON document of `kind`: the modes refused so far are said first
/// (as warnings, [`super::modes`]), then the document with `schema` first and the run's
/// `warnings` last.
pub(crate) fn print_json(g: &Global, kind: Kind, value: &impl Serialize) {
    super::modes::warnings(g);
    emit(kind, value);
}

/// Prints the document of `kind` (the warnings recorded so far put in); for a caller with
/// no [`Global`] (arguments that did not parse, a signal).
pub(crate) fn emit(kind: Kind, value: &impl Serialize) {
    super::JSON_PRINTED.store(true, std::sync::atomic::Ordering::Relaxed);
    let doc = match serde_json::to_value(value) {
        Ok(v) => document(kind, v, take()),
        Err(e) => {
            errln!("error: cannot serialise output: {e}");
            return;
        }
    };
    match serde_json::to_string_pretty(&doc) {
        Ok(s) => outln!("{s}"),
        Err(e) => errln!("error: cannot serialise output: {e}"),
    }
}

/// The document: `schema`, the fields of `value` (an object; anything else is put under
/// `value`, which no command prints), then `warnings`, the run's.
///
/// A report never carries a `warnings` field of its own: what it has to warn of is said
/// through [`warn`] and so is among the run's. One that does is a mistake of the command
/// that prints it, which the tests' (debug) builds stop at; a release build keeps its
/// entries the run's warnings lack rather than drop them.
fn document(kind: Kind, value: serde_json::Value, mut warnings: Vec<String>) -> serde_json::Value {
    let mut doc = serde_json::Map::new();
    doc.insert("schema".into(), kind.schema().into());
    match value {
        serde_json::Value::Object(fields) => {
            for (k, v) in fields {
                match k.as_str() {
                    "schema" => {}
                    "warnings" => {
                        debug_assert!(
                            false,
                            "a {} report with a warnings field of its own ({v}): say each through common::document::warn, the document's warnings are the run's",
                            kind.name()
                        );
                        let own = v.as_array().into_iter().flatten();
                        for w in own.filter_map(serde_json::Value::as_str) {
                            if !warnings.iter().any(|r| r == w) {
                                warnings.push(w.to_owned());
                            }
                        }
                    }
                    _ => {
                        doc.insert(k, v);
                    }
                }
            }
        }
        other => {
            debug_assert!(false, "a {} document that is not an object", kind.name());
            doc.insert("value".into(), other);
        }
    }
    doc.insert("warnings".into(), warnings.into());
    serde_json::Value::Object(doc)
}

/// The library's `tracing` warnings (those of the `seedforge` target), recorded for the
/// document as they are said, whatever the log level lets through to stderr.
pub(crate) struct WarningLayer(pub(crate) seedforge::redact::Secrets);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for WarningLayer {
    fn on_event(
        &self,
        event: &tracing::Event<'_>,
        _ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        if *event.metadata().level() != tracing::Level::WARN {
            return;
        }
        struct Message(String);
        impl tracing::field::Visit for Message {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                if field.name() == "message" {
                    self.0 = format!("{value:?}");
                } else {
                    self.0.push_str(&format!(" {}={value:?}", field.name()));
                }
            }
            fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
                if field.name() == "message" {
                    self.0 = value.to_owned();
                } else {
                    self.0.push_str(&format!(" {}={value}", field.name()));
                }
            }
        }
        let mut message = Message(String::new());
        event.record(&mut message);
        record(&self.0.scrub(&message.0));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo() -> std::path::PathBuf {
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
    }

    #[test]
    fn every_document_names_its_schema_first_and_carries_the_warnings_last() {
        let doc = document(
            Kind::Plan,
            serde_json::json!({ "output": "out", "schema": "x" }),
            vec!["said on stderr".into()],
        );
        let keys: Vec<&str> = doc
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, ["schema", "output", "warnings"]);
        assert_eq!(doc["schema"], "seedforge.plan/v1");
        assert_eq!(doc["warnings"], serde_json::json!(["said on stderr"]));
        let empty = document(Kind::Error, serde_json::json!({ "error": {} }), vec![]);
        assert_eq!(empty["warnings"], serde_json::json!([]));
        assert_eq!(empty["schema"], "seedforge.error/v1");
    }

    /// A report with a `warnings` field of its own is stopped, not dropped silently.
    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "a pki report with a warnings field of its own")]
    fn a_report_with_warnings_of_its_own_is_a_mistake_the_tests_stop_at() {
        document(
            Kind::Pki,
            serde_json::json!({ "dir": null, "warnings": ["the CA expires soon"] }),
            vec![],
        );
    }

    /// Every `warning: …` the command line says goes through [`warn`] (or the reporter's
    /// and the modes' own, which record too), so the document has it.
    #[test]
    fn no_command_says_a_warning_the_document_would_miss() {
        let allowed = ["document.rs", "progress.rs", "modes.rs"];
        for entry in walkdir::WalkDir::new(repo().join("src/cli")) {
            let entry = entry.unwrap();
            let name = entry.file_name().to_string_lossy().into_owned();
            if !name.ends_with(".rs") || allowed.contains(&name.as_str()) {
                continue;
            }
            let text = std::fs::read_to_string(entry.path()).unwrap();
            for (i, line) in text.lines().enumerate() {
                assert!(
                    !line.contains("\"warning: "),
                    "{}:{}: a warning said past the JSON document's sink (common::document::warn): {line}",
                    entry.path().display(),
                    i + 1
                );
            }
        }
    }

    #[test]
    fn every_kind_has_a_schema_file_that_parses_and_names_the_kind() {
        let dir = repo().join("docs/schemas");
        let mut names = std::collections::BTreeSet::new();
        for kind in Kind::ALL {
            assert!(names.insert(kind.name()), "{} named twice", kind.name());
            let path = dir.join(kind.schema_file());
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{}: {e} (every kind has a schema)", path.display()));
            let schema: serde_json::Value =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert_eq!(
                schema["$schema"],
                "https://json-schema.org/draft/2020-12/schema",
                "{}",
                path.display()
            );
            assert_eq!(schema["type"], "object", "{}", path.display());
            assert_eq!(
                schema["properties"]["schema"]["const"],
                kind.schema(),
                "{}",
                path.display()
            );
            let required: Vec<&str> = schema["required"]
                .as_array()
                .unwrap_or_else(|| panic!("{}: no required", path.display()))
                .iter()
                .filter_map(|v| v.as_str())
                .collect();
            assert!(
                required.contains(&"schema") && required.contains(&"warnings"),
                "{}: schema and warnings are required",
                path.display()
            );
            assert_eq!(
                schema["additionalProperties"],
                false,
                "{}: the top level is closed",
                path.display()
            );
        }
        // The page that documents them names each schema and its file.
        let page = std::fs::read_to_string(repo().join("docs/json.md")).unwrap();
        for kind in Kind::ALL {
            assert!(
                page.contains(&format!("`{}`", kind.schema()))
                    && page.contains(&format!("schemas/{}", kind.schema_file())),
                "docs/json.md does not name {} and schemas/{}",
                kind.schema(),
                kind.schema_file()
            );
        }
        // No schema file without a kind either (a kind renamed leaves none behind); a
        // kind's earlier versions stay beside its current one, each naming its own version
        // and documented on the page with what the next one changed.
        for entry in std::fs::read_dir(&dir).unwrap() {
            let file = entry.unwrap().file_name().into_string().unwrap();
            let (name, version) = super::super::contract::kind_and_version(&file)
                .unwrap_or_else(|| panic!("docs/schemas/{file}: not KIND.vN.json"));
            let kind = Kind::ALL
                .iter()
                .find(|k| k.name() == name && version <= k.version())
                .unwrap_or_else(|| panic!("docs/schemas/{file}: no kind prints it"));
            if version < kind.version() {
                let text = std::fs::read_to_string(dir.join(&file)).unwrap();
                let schema: serde_json::Value = serde_json::from_str(&text).unwrap();
                let old = format!("seedforge.{name}/v{version}");
                assert_eq!(schema["properties"]["schema"]["const"], old, "{file}");
                assert!(
                    page.contains(&format!("`{old}`")) && page.contains(&format!("schemas/{file}")),
                    "docs/json.md does not name {old} and schemas/{file}"
                );
            }
        }
    }
}
