//! `seedforge lock`: `seedforge.lock` as a build of the config would write it, without
//! the build. The config is planned as `build` plans it, online: tags resolved to digests,
//! charts fetched from their repositories, package closures resolved. Then every step
//! records what its run would pin ([`StepKind::pin_planned`]): the mirror the root each
//! image is stored as and what the signature policy verified (both known once platforms
//! are chosen), each chart its archive's digest, each bundle the digest of the tarball a
//! build writes (from the build state when it knows the bundle's fingerprint, else written
//! once into a scratch folder outside the output). What only a build makes is kept as the
//! lock has it: the registry CA (`registry_ca`). No output folder is written; the lock is
//! replaced in one rename, or left byte for byte.

use crate::Result;
use crate::iso::DigestCache;
use crate::oci::registry::lockfile::LockFile;
use crate::pipeline::plan::Plan;
use crate::pipeline::steps::{Cx, Done, StepKind, Visit};
use crate::report::Reporter;
use serde::Serialize;
use serde_json::Value;
use std::path::PathBuf;

/// The lock a build of a plan would write, beside the one there is.
#[derive(Debug)]
pub struct Refreshed {
    /// `seedforge.lock`, beside the config.
    pub path: PathBuf,
    /// The lock as a build would write it now.
    pub lock: LockFile,
    /// The file holds those very bytes (or there is none and nothing is pinned).
    pub current: bool,
    /// What changes from the file to the new lock.
    pub changes: Changes,
}

/// The pins a refresh adds, updates and removes, section by section (`images`, `stored`,
/// `packages`, `charts`, `verified`, `registry_ca`).
#[derive(Debug, Default, Serialize)]
pub struct Changes {
    /// Pins the file lacks.
    pub added: Vec<Pin>,
    /// Pins the file holds with another value.
    pub updated: Vec<Pin>,
    /// Pins the file holds that the new lock does not.
    pub removed: Vec<Pin>,
}

/// One pin of a lock.
#[derive(Debug, Clone, Serialize)]
pub struct Pin {
    /// The section (`images`).
    pub section: String,
    /// What it pins (an image source, a chart's or bundle's name; empty for `registry_ca`).
    pub key: String,
    /// Its value in the file (absent for an added pin).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<Value>,
    /// Its value in the new lock (absent for a removed pin).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<Value>,
}

impl Changes {
    /// True when no pin changes.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.updated.is_empty() && self.removed.is_empty()
    }
}

/// Asks each step what it would pin.
struct PinPlanned<'c, 'p>(&'c mut Cx<'p>);

impl<'p> Visit<'p> for PinPlanned<'_, 'p> {
    type Out = Result<()>;
    fn visit<S: StepKind>(self, step: &'p S) -> Result<()> {
        step.pin_planned(self.0)
    }
}

/// The lock a build of `plan` (planned online, not `--locked`) would write, and how it
/// differs from the file; nothing is written.
pub fn refresh(plan: &Plan, reporter: &dyn Reporter) -> Result<Refreshed> {
    let inputs = &plan.inputs;
    let Some((path, start)) = inputs.lock.clone() else {
        return Err(
            crate::oci::OciError::from(crate::oci::registry::RegistryError::Lock(
                "the plan writes no lock (planned --locked or --offline)".into(),
            ))
            .into(),
        );
    };
    let digests = DigestCache::default();
    let mut cx = Cx {
        inputs,
        steps: &plan.steps,
        reporter,
        digests: &digests,
        lock: Some((path.clone(), start)),
        done: Done::default(),
    };
    for step in &plan.steps {
        step.visit(PinPlanned(&mut cx))?;
    }
    let lock = cx.lock.map(|(_, lock)| lock).unwrap_or_default();
    let on_disk = match crate::input::read(&path, crate::input::Kind::Lock) {
        Ok(bytes) => Some(bytes),
        Err(crate::input::InputError::Io { source, .. })
            if source.kind() == std::io::ErrorKind::NotFound =>
        {
            None
        }
        Err(e) => return Err(crate::oci::OciError::io(&path, e.into_io()).into()),
    };
    let current = match &on_disk {
        Some(bytes) => *bytes == lock.to_bytes(),
        None => lock.is_empty(),
    };
    let before = on_disk.and_then(|b| serde_json::from_slice::<LockFile>(&b).ok());
    let changes = changes(before.as_ref(), &lock);
    Ok(Refreshed {
        path,
        lock,
        current,
        changes,
    })
}

impl Refreshed {
    /// Writes the lock in one rename (a lock that pins nothing is not written, as a build
    /// writes none); `false` when the file already held it.
    pub fn write(&self) -> Result<bool> {
        if self.current || self.lock.is_empty() {
            return Ok(false);
        }
        self.lock.write(&self.path)?;
        Ok(true)
    }
}

/// The pins of `after` that `before` lacks, holds otherwise, or holds alone.
pub fn changes(before: Option<&LockFile>, after: &LockFile) -> Changes {
    let sections = |lock: Option<&LockFile>| -> Vec<(String, String, Value)> {
        let Some(Value::Object(doc)) = lock.and_then(|l| serde_json::to_value(l).ok()) else {
            return Vec::new();
        };
        let mut pins = Vec::new();
        for (section, value) in doc {
            match value {
                // The registry CA is one pin (its fingerprint and certificate go together).
                Value::Object(map) if section != "registry_ca" => {
                    pins.extend(map.into_iter().map(|(k, v)| (section.clone(), k, v)));
                }
                // The format's version is no pin.
                _ if section == "version" => {}
                other => pins.push((section, String::new(), other)),
            }
        }
        pins
    };
    let old = sections(before);
    let new = sections(Some(after));
    let find = |pins: &[(String, String, Value)], s: &str, k: &str| {
        (pins.iter())
            .find(|(section, key, _)| section == s && key == k)
            .map(|(_, _, v)| v.clone())
    };
    let mut changes = Changes::default();
    for (section, key, value) in &new {
        let pin = |before: Option<Value>| Pin {
            section: section.clone(),
            key: key.clone(),
            before,
            after: Some(value.clone()),
        };
        match find(&old, section, key) {
            None => changes.added.push(pin(None)),
            Some(was) if was != *value => changes.updated.push(pin(Some(was))),
            Some(_) => {}
        }
    }
    for (section, key, value) in old {
        if find(&new, &section, &key).is_none() {
            changes.removed.push(Pin {
                section,
                key,
                before: Some(value),
                after: None,
            });
        }
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::Digest;
    use crate::oci::registry::lockfile::{CaPin, ChartPin};

    #[test]
    fn changes_name_each_pin_added_updated_and_removed() {
        let mut old = LockFile {
            version: 1,
            ..LockFile::default()
        };
        old.images.insert("docker://r/a:1".into(), Digest::of(b"a"));
        old.images.insert("docker://r/b:1".into(), Digest::of(b"b"));
        old.registry_ca = Some(CaPin {
            fingerprint: "sha256:ca".into(),
            certificate: "PEM".into(),
        });
        let mut new = old.clone();
        new.images.remove("docker://r/b:1");
        new.images
            .insert("docker://r/a:1".into(), Digest::of(b"a2"));
        new.charts.insert(
            "traefik".into(),
            ChartPin {
                source: "https://charts traefik 1.0.0".into(),
                digest: Digest::of(b"chart"),
            },
        );
        let c = changes(Some(&old), &new);
        let names = |pins: &[Pin]| -> Vec<(String, String)> {
            pins.iter()
                .map(|p| (p.section.clone(), p.key.clone()))
                .collect()
        };
        assert_eq!(
            names(&c.added),
            [("charts".to_string(), "traefik".to_string())]
        );
        assert_eq!(
            names(&c.updated),
            [("images".to_string(), "docker://r/a:1".to_string())]
        );
        assert_eq!(
            c.updated[0].before,
            Some(Value::from(Digest::of(b"a").to_string()))
        );
        assert_eq!(
            names(&c.removed),
            [("images".to_string(), "docker://r/b:1".to_string())]
        );
        // The CA is one pin, unchanged here; no lock at all: everything is added.
        assert!(changes(Some(&new), &new).is_empty());
        let all = changes(None, &new);
        assert_eq!(all.added.len(), 3);
        assert!(all.added.iter().any(|p| p.section == "registry_ca"));
    }
}
