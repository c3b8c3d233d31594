//! The build's provenance: an in-toto Statement v1 whose predicate is SLSA provenance v1
//! (`OUT/sbom/provenance.json`, written by the seal, which knows every artifact's digest).
//!
//! - `subject`: every sealed file (its path in the output and its SHA-256, as
//!   `SHA256SUMS` lists it), but the statement itself, `manifest.json` and `SHA256SUMS`.
//! - `buildDefinition.buildType`: [`BUILD_TYPE`]; `externalParameters`: the config's file
//!   name and digest, the image lists and template overrides as `manifest.json` records
//!   them; `internalParameters`: the source date and the cluster; `resolvedDependencies`:
//!   what the build resolved (each image with its digest, each .deb, each chart, each
//!   `files:` entry, with their SHA-256).
//! - `runDetails.builder.id`: [`builder_id`], naming seedforge and its version; no time
//!   but the source date, no host, no invocation id.
//!
//! [`statement`] is a pure function of its input and returns the bytes written: a DSSE
//! envelope can be made around exactly these bytes (payload type
//! `application/vnd.in-toto+json`) without the statement being built again.

use super::to_bytes;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// The statement's `_type`.
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
/// The predicate's type.
pub const PREDICATE_TYPE: &str = "https://slsa.dev/provenance/v1";
/// What a seedforge build is, as SLSA's `buildType` names it: a URN of seedforge's own
/// (no domain is claimed), versioned by the format of `externalParameters`.
pub const BUILD_TYPE: &str = "urn:seedforge:build-type:seedforge-build:v1";
/// The media type of the statement, for a DSSE envelope's `payloadType`.
pub const PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

/// The builder's id: a URN naming seedforge and `version`
/// (`urn:seedforge:builder:seedforge@0.1.0`).
pub fn builder_id(version: &str) -> String {
    format!("urn:seedforge:builder:seedforge@{version}")
}

/// One input file of the build (path relative to the config's directory).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    /// Its path, `/`-separated.
    pub path: String,
    /// Its SHA-256 (hex).
    pub sha256: String,
}

/// One thing the build resolved and used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependency {
    /// Its name (an image's destination, `bundle/package_version_arch.deb`, a chart's
    /// name, a `files:` entry's name).
    pub name: String,
    /// Where it came from (without credentials), when that is a URI.
    pub uri: Option<String>,
    /// Its digests, by algorithm (`sha256` → hex).
    pub digest: BTreeMap<String, String>,
    /// What else is worth saying (`kind`, `source`, …).
    pub annotations: BTreeMap<String, String>,
}

/// One sealed file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    /// Its path in the output.
    pub path: String,
    /// Its SHA-256 (hex).
    pub sha256: String,
}

/// Everything the statement says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provenance {
    /// seedforge's version (`0.1.0`).
    pub version: String,
    /// The commit it was built from.
    pub commit: String,
    /// The build's source date.
    pub source_date_epoch: Option<u64>,
    /// The cluster's name and k3s version.
    pub cluster: (String, String),
    /// The config file.
    pub config: Param,
    /// The image lists.
    pub image_lists: Vec<Param>,
    /// The template overrides.
    pub templates: Vec<Param>,
    /// What the build resolved.
    pub dependencies: Vec<Dependency>,
    /// The sealed files.
    pub subjects: Vec<Subject>,
}

fn param(p: &Param) -> Value {
    json!({"path": p.path, "digest": {"sha256": p.sha256}})
}

/// The statement's bytes (pretty JSON, newline-terminated): the same input gives the same
/// bytes. Subjects and dependencies are sorted here.
pub fn statement(p: &Provenance) -> Vec<u8> {
    let mut subjects: Vec<&Subject> = p.subjects.iter().collect();
    subjects.sort_by(|a, b| a.path.cmp(&b.path));
    subjects.dedup();
    let mut deps: Vec<&Dependency> = p.dependencies.iter().collect();
    deps.sort_by(|a, b| (&a.name, &a.uri, &a.digest).cmp(&(&b.name, &b.uri, &b.digest)));
    deps.dedup();
    let subject: Vec<Value> = subjects
        .iter()
        .map(|s| json!({"name": s.path, "digest": {"sha256": s.sha256}}))
        .collect();
    let resolved: Vec<Value> = deps
        .iter()
        .map(|d| {
            let mut v = json!({"name": d.name, "digest": d.digest});
            if let Some(uri) = &d.uri {
                v["uri"] = json!(uri);
            }
            if !d.annotations.is_empty() {
                v["annotations"] = json!(d.annotations);
            }
            v
        })
        .collect();
    let mut internal = json!({
        "cluster": {"name": p.cluster.0, "k3sVersion": p.cluster.1},
    });
    if let Some(epoch) = p.source_date_epoch {
        internal["sourceDateEpoch"] = json!(epoch);
    }
    let value = json!({
        "_type": STATEMENT_TYPE,
        "subject": subject,
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "buildDefinition": {
                "buildType": BUILD_TYPE,
                "externalParameters": {
                    "config": param(&p.config),
                    "imageLists": p.image_lists.iter().map(param).collect::<Vec<_>>(),
                    "templates": p.templates.iter().map(param).collect::<Vec<_>>(),
                },
                "internalParameters": internal,
                "resolvedDependencies": resolved,
            },
            "runDetails": {
                "builder": {
                    "id": builder_id(&p.version),
                    "version": {"seedforge": p.version, "commit": p.commit},
                },
            },
        },
    });
    to_bytes(&value)
}
