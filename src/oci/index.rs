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
        let TopLevel {
            schema_version,
            manifests,
            rest,
        } = serde_json::from_slice(bytes)?;
        match schema_version {
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
        match manifests {
            Some(Some(manifests)) => Ok(IndexDoc { manifests, rest }),
            Some(None) => Err(serde_json::Error::custom(
                "not an OCI index: manifests is not an array",
            )),
            None => Err(serde_json::Error::custom(
                "not an OCI index: no manifests array",
            )),
        }
    }

    /// Serialises with a fixed field order: `schemaVersion`, `mediaType`, `manifests`, rest.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec(self).unwrap_or_default();
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

    /// Every entry by each of its names, for looking up many names at once: for a name,
    /// the first entry that has it.
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

impl serde::Serialize for IndexDoc {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        const OWN: [&str; 3] = ["schemaVersion", "mediaType", "manifests"];
        let rest = self.rest.iter().filter(|(k, _)| !OWN.contains(&k.as_str()));
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("schemaVersion", &2)?;
        map.serialize_entry("mediaType", OCI_INDEX)?;
        map.serialize_entry("manifests", &self.manifests)?;
        for (k, v) in rest {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

/// `index.json` as read in one pass: the descriptors straight into their type, every
/// other field as a JSON value. `manifests` is `Some(None)` when it is there but not an
/// array. A field given twice counts once, the last time (as a JSON object map keeps it).
struct TopLevel {
    schema_version: Option<Value>,
    manifests: Option<Option<Vec<Descriptor>>>,
    rest: Map<String, Value>,
}

impl<'de> serde::Deserialize<'de> for TopLevel {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(TopLevelVisitor)
    }
}

struct TopLevelVisitor;

impl<'de> serde::de::Visitor<'de> for TopLevelVisitor {
    type Value = TopLevel;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON object (an OCI index)")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<TopLevel, A::Error> {
        let mut top = TopLevel {
            schema_version: None,
            manifests: None,
            rest: Map::new(),
        };
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "schemaVersion" => top.schema_version = Some(map.next_value()?),
                "mediaType" => {
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
                "manifests" => top.manifests = Some(map.next_value::<ManifestsArray>()?.0),
                _ => {
                    top.rest.insert(key, map.next_value()?);
                }
            }
        }
        Ok(top)
    }
}

/// The `manifests` value: its descriptors when it is an array, `None` when it is anything
/// else (so the caller can say that an index needs an array there).
struct ManifestsArray(Option<Vec<Descriptor>>);

impl<'de> serde::Deserialize<'de> for ManifestsArray {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = ManifestsArray;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<ManifestsArray, A::Error> {
                let mut all = Vec::with_capacity(seq.size_hint().unwrap_or(0));
                while let Some(d) = seq.next_element()? {
                    all.push(d);
                }
                Ok(ManifestsArray(Some(all)))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<ManifestsArray, A::Error> {
                while map
                    .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
                    .is_some()
                {}
                Ok(ManifestsArray(None))
            }
            fn visit_bool<E>(self, _: bool) -> Result<ManifestsArray, E> {
                Ok(ManifestsArray(None))
            }
            fn visit_i64<E>(self, _: i64) -> Result<ManifestsArray, E> {
                Ok(ManifestsArray(None))
            }
            fn visit_u64<E>(self, _: u64) -> Result<ManifestsArray, E> {
                Ok(ManifestsArray(None))
            }
            fn visit_f64<E>(self, _: f64) -> Result<ManifestsArray, E> {
                Ok(ManifestsArray(None))
            }
            fn visit_str<E>(self, _: &str) -> Result<ManifestsArray, E> {
                Ok(ManifestsArray(None))
            }
            fn visit_unit<E>(self) -> Result<ManifestsArray, E> {
                Ok(ManifestsArray(None))
            }
        }
        d.deserialize_any(V)
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
    fn parse_refuses_what_is_not_an_index() {
        for (raw, says) in [
            (r#"{"manifests":[]}"#, "no schemaVersion"),
            (
                r#"{"schemaVersion":1,"manifests":[]}"#,
                "schemaVersion is 1, not 2",
            ),
            (r#"{"schemaVersion":2}"#, "no manifests array"),
            (
                r#"{"schemaVersion":2,"manifests":{"a":[1]}}"#,
                "manifests is not an array",
            ),
            (
                r#"{"schemaVersion":2,"manifests":"x"}"#,
                "manifests is not an array",
            ),
            (
                r#"{"schemaVersion":2,"manifests":null}"#,
                "manifests is not an array",
            ),
            (
                r#"{"schemaVersion":2,"manifests":[{"size":1}]}"#,
                "missing field",
            ),
            (r#"[2]"#, "invalid type: sequence"),
        ] {
            let err = IndexDoc::parse(raw.as_bytes()).unwrap_err().to_string();
            assert!(err.contains(says), "{raw}: {err}");
        }
    }

    #[test]
    fn written_bytes_are_those_of_the_json_value_form() {
        let raw = br#"{"z":[1,{"b":2,"a":"\u00e9"}],"schemaVersion":2,"mediaType":"x","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","size":0,"platform":{"architecture":"arm64","os":"linux"},"urls":["u"]}],"annotations":{"k":"v"}}"#;
        let mut idx = IndexDoc::parse(raw).unwrap();
        idx.merge([entry(Some("a:1"), b"a")]);
        let mut map = Map::new();
        map.insert("schemaVersion".into(), Value::from(2));
        map.insert("mediaType".into(), Value::from(OCI_INDEX));
        map.insert(
            "manifests".into(),
            serde_json::to_value(&idx.manifests).unwrap(),
        );
        for (k, v) in &idx.rest {
            map.insert(k.clone(), v.clone());
        }
        let mut expected = serde_json::to_vec(&Value::Object(map)).unwrap();
        expected.push(b'\n');
        assert_eq!(
            String::from_utf8(idx.to_bytes()).unwrap(),
            String::from_utf8(expected).unwrap()
        );
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
