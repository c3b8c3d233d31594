//! `index.json`: reading it without losing fields, merging named entries into it, and
//! writing it reproducibly.
//!
//! Every entry seedforge writes carries both naming annotations with the full destination
//! reference: skopeo and umoci look up `org.opencontainers.image.ref.name`, containerd (k3s)
//! imports under `io.containerd.image.name`. Entries are kept sorted by name so that the
//! same images give the same bytes whatever order concurrent copies finished in.

use super::descriptor::{ANNOTATION_CONTAINERD_NAME, ANNOTATION_REF_NAME, Descriptor, OCI_INDEX};
use serde_json::{Map, Value};
use std::collections::{HashMap, HashSet};

/// A parsed `index.json`: its manifest list plus every other top-level field.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IndexDoc {
    /// The `manifests` array.
    pub manifests: Vec<Descriptor>,
    /// All other top-level fields except `schemaVersion` and `mediaType`, in order.
    pub rest: Map<String, Value>,
}

impl IndexDoc {
    /// Parses `index.json` bytes. A document without `schemaVersion: 2` or without a
    /// `manifests` array is not an OCI index: reading it as an empty one would make every
    /// blob look unreferenced, and `gc` would delete them all.
    pub fn parse(bytes: &[u8]) -> Result<IndexDoc, serde_json::Error> {
        use serde::de::Error as _;
        let mut map: Map<String, Value> = serde_json::from_slice(bytes)?;
        match map.get("schemaVersion") {
            Some(v) if v.as_u64() == Some(2) => {}
            Some(v) => {
                return Err(serde_json::Error::custom(format!(
                    "not an OCI index: schemaVersion is {v}, not 2"
                )));
            }
            None => {
                return Err(serde_json::Error::custom(
                    "not an OCI index: no schemaVersion",
                ));
            }
        }
        let manifests = match map.remove("manifests") {
            Some(v @ Value::Array(_)) => serde_json::from_value(v)?,
            Some(_) => {
                return Err(serde_json::Error::custom(
                    "not an OCI index: manifests is not an array",
                ));
            }
            None => {
                return Err(serde_json::Error::custom(
                    "not an OCI index: no manifests array",
                ));
            }
        };
        map.remove("schemaVersion");
        map.remove("mediaType");
        Ok(IndexDoc {
            manifests,
            rest: map,
        })
    }

    /// Serialises with a fixed field order: `schemaVersion`, `mediaType`, `manifests`, rest.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut map = Map::new();
        map.insert("schemaVersion".into(), Value::from(2));
        map.insert("mediaType".into(), Value::from(OCI_INDEX));
        map.insert(
            "manifests".into(),
            serde_json::to_value(&self.manifests).unwrap_or(Value::Array(Vec::new())),
        );
        for (k, v) in &self.rest {
            map.insert(k.clone(), v.clone());
        }
        let mut bytes = serde_json::to_vec(&Value::Object(map)).unwrap_or_default();
        bytes.push(b'\n');
        bytes
    }

    /// Adds or replaces named entries. An existing entry with the same name (either
    /// annotation) is replaced, and so is an earlier one of `entries`: the last of a name
    /// wins. The result is sorted by name, unnamed entries first in their original order.
    /// One pass over the index and the entries (a set of the new names), then the sort:
    /// merging thousands of images costs what sorting them does.
    pub fn merge(&mut self, entries: impl IntoIterator<Item = Descriptor>) {
        let entries: Vec<Descriptor> = entries.into_iter().collect();
        // An entry goes when a later one's name is one of its names (each entry removes
        // what came before it under its name, as one merge after another would).
        let mut later: HashSet<String> = HashSet::new();
        let mut kept: Vec<Descriptor> = Vec::with_capacity(entries.len());
        for entry in entries.into_iter().rev() {
            let replaced = names_of(&entry).any(|n| later.contains(n));
            if let Some(name) = entry.ref_name() {
                later.insert(name.to_owned());
            }
            if !replaced {
                kept.push(entry);
            }
        }
        kept.reverse();
        self.manifests
            .retain(|e| !names_of(e).any(|n| later.contains(n)));
        self.manifests.extend(kept);
        // Stable sort: unnamed entries keep their relative order ahead of named ones.
        self.manifests
            .sort_by(|a, b| a.ref_name().cmp(&b.ref_name()));
    }

    /// The entry named `name`, matching either naming annotation: a scan of the index, kept
    /// as the reference [`IndexDoc::by_name`] is tested against (code looks names up in
    /// that map, once built, never with a scan per name).
    #[cfg(test)]
    pub fn find(&self, name: &str) -> Option<&Descriptor> {
        self.manifests
            .iter()
            .find(|e| names_of(e).any(|n| n == name))
    }

    /// Every entry by each of its names, for looking up many names at once: the entry
    /// [`IndexDoc::find`] gives for a name (the first that has it).
    pub fn by_name(&self) -> HashMap<&str, &Descriptor> {
        let mut map = HashMap::with_capacity(self.manifests.len());
        for e in &self.manifests {
            for n in names_of(e) {
                map.entry(n).or_insert(e);
            }
        }
        map
    }
}

fn names_of(d: &Descriptor) -> impl Iterator<Item = &str> {
    [ANNOTATION_REF_NAME, ANNOTATION_CONTAINERD_NAME]
        .into_iter()
        .filter_map(|k| d.annotations.get(k).map(String::as_str))
}

/// Sets both naming annotations on `descriptor` to `name`.
pub fn named(mut descriptor: Descriptor, name: &str) -> Descriptor {
    descriptor
        .annotations
        .insert(ANNOTATION_REF_NAME.into(), name.into());
    descriptor
        .annotations
        .insert(ANNOTATION_CONTAINERD_NAME.into(), name.into());
    descriptor
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::descriptor::OCI_MANIFEST;
    use crate::oci::digest::Digest;

    fn entry(name: Option<&str>, content: &[u8]) -> Descriptor {
        let d = Descriptor::new(OCI_MANIFEST, Digest::of(content), content.len() as u64);
        match name {
            Some(n) => named(d, n),
            None => d,
        }
    }

    #[test]
    fn merge_replaces_same_name_and_sorts() {
        let mut idx = IndexDoc::default();
        idx.merge([
            entry(Some("docker.io/b:1"), b"b"),
            entry(Some("docker.io/a:1"), b"a"),
        ]);
        idx.merge([entry(Some("docker.io/b:1"), b"b2")]);
        let names: Vec<_> = idx
            .manifests
            .iter()
            .map(|d| d.ref_name().unwrap())
            .collect();
        assert_eq!(names, ["docker.io/a:1", "docker.io/b:1"]);
        assert_eq!(idx.find("docker.io/b:1").unwrap().digest, Digest::of(b"b2"));
    }

    #[test]
    fn merge_order_does_not_change_bytes() {
        let mut one = IndexDoc::default();
        one.merge([entry(Some("x:1"), b"x"), entry(Some("y:1"), b"y")]);
        let mut two = IndexDoc::default();
        two.merge([entry(Some("y:1"), b"y")]);
        two.merge([entry(Some("x:1"), b"x")]);
        assert_eq!(one.to_bytes(), two.to_bytes());
    }

    #[test]
    fn unnamed_entries_and_unknown_fields_survive() {
        let raw = br#"{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","size":0}],"annotations":{"k":"v"}}"#;
        let mut idx = IndexDoc::parse(raw).unwrap();
        idx.merge([entry(Some("a:1"), b"a")]);
        assert_eq!(idx.manifests.len(), 2);
        assert!(idx.manifests[0].ref_name().is_none());
        let text = String::from_utf8(idx.to_bytes()).unwrap();
        assert!(text.starts_with(r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":"#));
        assert!(text.contains(r#""annotations":{"k":"v"}"#));
        assert_eq!(IndexDoc::parse(text.as_bytes()).unwrap(), idx);
    }

    #[test]
    fn documents_that_are_no_index_are_refused() {
        for raw in [
            &b"{}"[..],
            br#"{"schemaVersion":2}"#,
            br#"{"schemaVersion":2,"manifest":[]}"#,
            br#"{"schemaVersion":2,"manifests":{}}"#,
            br#"{"schemaVersion":1,"manifests":[]}"#,
            br#"{"manifests":[]}"#,
        ] {
            let err = IndexDoc::parse(raw).unwrap_err();
            assert!(err.to_string().contains("not an OCI index"), "{err}");
        }
        assert!(IndexDoc::parse(br#"{"schemaVersion":2,"manifests":[]}"#).is_ok());
    }

    #[test]
    fn named_sets_both_annotations() {
        let d = entry(Some("docker.io/rancher/mirrored-pause:3.6"), b"p");
        assert_eq!(
            d.annotations[ANNOTATION_REF_NAME],
            "docker.io/rancher/mirrored-pause:3.6"
        );
        assert_eq!(
            d.annotations[ANNOTATION_CONTAINERD_NAME],
            "docker.io/rancher/mirrored-pause:3.6"
        );
    }

    /// The merge as one entry at a time: each new entry removes every entry before it
    /// that has its name, then is appended; then the sort.
    fn merge_one_by_one(index: &mut IndexDoc, entries: Vec<Descriptor>) {
        for entry in entries {
            if let Some(name) = entry.ref_name().map(str::to_owned) {
                index
                    .manifests
                    .retain(|e| !names_of(e).any(|n| n == name.as_str()));
            }
            index.manifests.push(entry);
        }
        index
            .manifests
            .sort_by(|a, b| a.ref_name().cmp(&b.ref_name()));
    }

    #[test]
    fn merging_at_once_is_merging_one_by_one_and_by_name_is_find() {
        // Entries named by both annotations, by one of them, or not at all, with names
        // from a small set so that they collide, in many pseudo-random mixes.
        struct Rng(u64);
        impl Rng {
            fn next(&mut self, n: u64) -> u64 {
                self.0 ^= self.0 << 13;
                self.0 ^= self.0 >> 7;
                self.0 ^= self.0 << 17;
                self.0 % n
            }
        }
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        let names = ["a", "b", "c", "d"];
        let make = |rng: &mut Rng, i: usize| {
            let d = Descriptor::new(OCI_MANIFEST, Digest::of(&i.to_le_bytes()), i as u64);
            let mut pick = || format!("docker.io/library/{}:1", names[rng.next(4) as usize]);
            let (r, c) = (pick(), pick());
            let mut d = d;
            match i % 4 {
                0 => {}
                1 => d = named(d, &r),
                2 => {
                    d.annotations.insert(ANNOTATION_CONTAINERD_NAME.into(), c);
                }
                _ => {
                    d.annotations.insert(ANNOTATION_REF_NAME.into(), r);
                    d.annotations.insert(ANNOTATION_CONTAINERD_NAME.into(), c);
                }
            }
            d
        };
        let mut i = 0;
        for _ in 0..300 {
            let mut start = IndexDoc::default();
            let old: Vec<Descriptor> = (0..rng.next(6))
                .map(|_| {
                    i += 1;
                    make(&mut rng, i)
                })
                .collect();
            merge_one_by_one(&mut start, old);
            let new: Vec<Descriptor> = (0..rng.next(6))
                .map(|_| {
                    i += 1;
                    make(&mut rng, i)
                })
                .collect();
            let (mut fast, mut slow) = (start.clone(), start.clone());
            fast.merge(new.clone());
            merge_one_by_one(&mut slow, new);
            assert_eq!(fast, slow);
            let by_name = fast.by_name();
            for n in names {
                let name = format!("docker.io/library/{n}:1");
                assert_eq!(
                    by_name.get(name.as_str()).copied(),
                    fast.find(&name),
                    "{name}"
                );
            }
        }
    }
}
