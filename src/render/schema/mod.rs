//! cloud-config checked against cloud-init's own JSON schema, the one the nodes' cloud-init
//! validates its user-data with, embedded in the binary so the check needs no cloud-init.
//!
//! `schema/cloud-config-v1.json` is cloud-init 22.4's `schema-cloud-config-v1.json`, as the
//! Debian 12 package `cloud-init 22.4.2-1+deb12u4` installs it under
//! `/usr/lib/python3/dist-packages/cloudinit/config/schemas/` (the nodes run Debian 12),
//! copied unchanged. cloud-init is dual licensed GPLv3 / Apache-2.0; seedforge takes the
//! file under Apache-2.0 (see `schema/NOTICE`).
//!
//! The schema is JSON Schema draft-04, read with `boon` (no loader reaches a file or the
//! network: the schema refers only to itself). It is what cloud-init accepts, with two
//! choices that make the verdict the one `cloud-init schema` gives on a Debian 12 host:
//!
//! - `format` is asserted where Debian's python3-jsonschema asserts it: `date` and `uri`
//!   are checked, `hostname` is not (its checker needs a module Debian does not ship).
//! - `deprecated` is an annotation: cloud-init warns about a deprecated key and uses it.
//!
//! What the schema does not say, cloud-init 22.4 does not check either: a key it does not
//! know is ignored silently (cloud-init 23.4 made it a schema error). [`is_known_key`]
//! gives the keys the schema knows, so that a misspelt key is caught here.

use boon::{Compiler, Schemas, ValidationError};
use serde_json::Value;
use std::sync::OnceLock;

/// The cloud-init release the embedded schema comes from.
pub const CLOUD_INIT_VERSION: &str = "22.4";

/// cloud-init 22.4's schema of a cloud-config (`#cloud-config` user-data).
const SCHEMA: &str = include_str!("cloud-config-v1.json");

/// The name the schema is compiled under; never loaded from anywhere.
const SCHEMA_URL: &str = "file:///seedforge/cloud-init/schema-cloud-config-v1.json";

/// Top-level keys cloud-init reads that no module's schema lists: user-data merging
/// (`merge_how`, `merge_type`) and where its output goes (`output`). cloud-init 23.4's
/// schema, which refuses unknown keys, lists them.
const KEYS_BEYOND_THE_SCHEMA: &[&str] = &["merge_how", "merge_type", "output"];

/// The compiled schema and the keys it knows.
struct Compiled {
    schemas: Schemas,
    root: boon::SchemaIndex,
    keys: Vec<String>,
}

/// One thing the schema refuses: where (the keys and list indexes from the top of the
/// cloud-config) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The path to the refused value (`["write_files", "0"]`); empty for the whole document.
    pub path: Vec<String>,
    /// What is wrong, in the schema's terms.
    pub message: String,
}

/// Refuses every loader: the schema refers only to itself, so reaching for a file or a URL
/// would be a bug, not a need.
struct NoLoader;

impl boon::UrlLoader for NoLoader {
    fn load(&self, url: &str) -> Result<Value, Box<dyn std::error::Error>> {
        Err(format!("{url}: the cloud-config schema loads nothing from outside").into())
    }
}

fn compile() -> Result<Compiled, String> {
    let schema: Value =
        serde_json::from_str(SCHEMA).map_err(|e| format!("the schema is not JSON: {e}"))?;
    let keys = top_level_keys(&schema);
    let mut compiler = Compiler::new();
    compiler.use_loader(Box::new(NoLoader));
    // Debian 12's python3-jsonschema has no hostname checker (it needs `fqdn`), so
    // cloud-init accepts any string there; so does this check.
    compiler.register_format(boon::Format {
        name: "hostname",
        func: |_| Ok(()),
    });
    compiler
        .add_resource(SCHEMA_URL, schema)
        .map_err(|e| e.to_string())?;
    let mut schemas = Schemas::new();
    let root = compiler
        .compile(SCHEMA_URL, &mut schemas)
        .map_err(|e| e.to_string())?;
    Ok(Compiled {
        schemas,
        root,
        keys,
    })
}

/// The compiled schema, built once per process (a few milliseconds) on first use.
fn compiled() -> Result<&'static Compiled, String> {
    static COMPILED: OnceLock<Result<Compiled, String>> = OnceLock::new();
    COMPILED
        .get_or_init(compile)
        .as_ref()
        .map_err(|e| format!("cloud-init {CLOUD_INIT_VERSION} schema: {e}"))
}

/// The top-level keys the schema knows: the `properties` of every module schema its root
/// combines (`allOf` of `$ref`s into `$defs`).
fn top_level_keys(schema: &Value) -> Vec<String> {
    let mut keys: Vec<String> = schema["allOf"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|part| part["$ref"].as_str()?.strip_prefix("#/$defs/"))
        .filter_map(|name| schema["$defs"][name]["properties"].as_object())
        .flat_map(|props| props.keys().cloned())
        .chain(KEYS_BEYOND_THE_SCHEMA.iter().map(|k| (*k).to_string()))
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

/// Whether cloud-init knows `key` as a top-level cloud-config key.
pub fn is_known_key(key: &str) -> Result<bool, String> {
    Ok(compiled()?
        .keys
        .binary_search_by(|k| k.as_str().cmp(key))
        .is_ok())
}

/// Checks a cloud-config against the schema. `Ok(None)` when it passes; otherwise the
/// first problem (the schema's errors are a tree; its deepest findings say the most).
/// `Err` only if the embedded schema itself cannot be compiled.
pub fn check(doc: &Value) -> Result<Option<Problem>, String> {
    let compiled = compiled()?;
    let Err(error) = compiled.schemas.validate(doc, compiled.root) else {
        return Ok(None);
    };
    Ok(Some(problem(&error)))
}

/// The most telling finding of a validation error: among its leaves, those at the deepest
/// place in the document. A value that fits none of a `oneOf`'s shapes has a leaf per shape;
/// the ones that got furthest into the value say what is wrong with it.
fn problem(error: &ValidationError<'_, '_>) -> Problem {
    let mut leaves = Vec::new();
    collect_leaves(error, &mut leaves);
    let deepest = leaves
        .iter()
        .map(|l| l.instance_location.tokens.len())
        .max()
        .unwrap_or(0);
    let at_deepest: Vec<&ValidationError<'_, '_>> = leaves
        .into_iter()
        .filter(|l| l.instance_location.tokens.len() == deepest)
        .collect();
    let path = at_deepest
        .first()
        .map(|l| {
            l.instance_location
                .tokens
                .iter()
                .map(|t| match t {
                    boon::InstanceToken::Prop(p) => p.to_string(),
                    boon::InstanceToken::Item(i) => i.to_string(),
                })
                .collect()
        })
        .unwrap_or_default();
    let mut messages: Vec<String> = at_deepest.iter().map(|l| l.kind.to_string()).collect();
    messages.dedup();
    Problem {
        path,
        message: messages.join("; or "),
    }
}

fn collect_leaves<'a, 's, 'v>(
    error: &'a ValidationError<'s, 'v>,
    out: &mut Vec<&'a ValidationError<'s, 'v>>,
) {
    if error.causes.is_empty() {
        out.push(error);
    }
    for cause in &error.causes {
        collect_leaves(cause, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn refused(doc: Value) -> Problem {
        check(&doc).unwrap().expect("the schema refuses it")
    }

    #[test]
    fn the_schema_compiles_and_knows_the_modules_keys() {
        check(&json!({})).unwrap();
        for key in ["snap", "runcmd", "write_files", "autoinstall", "output"] {
            assert!(is_known_key(key).unwrap(), "{key}");
        }
        assert!(!is_known_key("hostnme").unwrap());
        assert!(compiled().unwrap().keys.len() > 80);
    }

    #[test]
    fn what_the_schema_allows_passes() {
        let docs = [
            json!({"snap": {"commands": ["snap install hello"]}}),
            json!({"package_update": true, "packages": ["curl", ["jq", "1.6"]]}),
            json!({"users": ["default", {"name": "a", "sudo": "ALL=(ALL) NOPASSWD:ALL"}]}),
            // Deprecated, but used by cloud-init (it warns).
            json!({"apt_update": true}),
            // Not checked by cloud-init on Debian 12.
            json!({"ntp": {"servers": ["not a host name!"]}}),
        ];
        for doc in docs {
            assert_eq!(check(&doc).unwrap(), None, "{doc}");
        }
    }

    #[test]
    fn what_it_refuses_is_named_by_its_path() {
        let p = refused(json!({"package_update": "yes please"}));
        assert_eq!(p.path.join("."), "package_update");
        assert!(p.message.contains("boolean"), "{}", p.message);
        let p = refused(json!({"write_files": [{"path": "/a", "content": "x"}, {"content": "x"}]}));
        assert_eq!(p.path.join("."), "write_files.1");
        assert!(p.message.contains("'path'"), "{}", p.message);
        let p = refused(json!({"users": [{"name": "a", "expiredate": "2020-13-45"}]}));
        assert_eq!(p.path.join("."), "users.0.expiredate");
        assert!(p.message.contains("date"), "{}", p.message);
    }
}
