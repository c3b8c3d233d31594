//! The small part of the OCI image spec that the store needs to walk images: descriptors,
//! media types and the fields of manifests and indexes that point at other blobs.
//!
//! Manifests are always kept as the raw bytes received. These types are only *read views*;
//! unknown fields are carried along (`extra`) so that an index rewritten for platform
//! selection loses nothing it did not have to.

use super::digest::Digest;
use super::platform::PlatformSpec;
use serde::{Deserialize, Serialize};

/// `application/vnd.oci.image.index.v1+json`
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// `application/vnd.oci.image.manifest.v1+json`
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// `application/vnd.oci.image.config.v1+json`
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// `application/vnd.oci.image.layer.v1.tar`
pub const OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
/// `application/vnd.oci.image.layer.v1.tar+gzip`
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// Docker's manifest list, the pre-OCI image index.
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker's image manifest, schema 2.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

/// The annotation OCI tools (skopeo, umoci) use to name an image in `index.json`.
pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";
/// The annotation containerd (and so k3s) uses to name an imported image.
pub const ANNOTATION_CONTAINERD_NAME: &str = "io.containerd.image.name";

/// A content descriptor: what a blob is, its digest and size.
///
/// Read and written by hand rather than derived: a derived `#[serde(flatten)]` buffers every
/// field of every descriptor before it sorts them, which was most of the cost of reading
/// an `index.json` of 30,000 entries. The rarely present parts are boxed, so that the
/// descriptors of that many images take a third of the memory.
#[derive(Debug, Clone, PartialEq)]
pub struct Descriptor {
    /// The blob's media type.
    pub media_type: String,
    /// The blob's sha256 digest.
    pub digest: Digest,
    /// The blob's size in bytes.
    pub size: u64,
    /// The platform of a manifest listed in an index.
    pub platform: Option<Box<PlatformSpec>>,
    /// Annotations, sorted by key so that written JSON is reproducible.
    pub annotations: Annotations,
    /// Any other fields (`urls`, `artifactType`, `data`), kept as received, in their order;
    /// `None` when there are none.
    pub extra: Option<Box<serde_json::Map<String, serde_json::Value>>>,
}

impl Descriptor {
    /// A plain descriptor with no platform, annotations or extra fields.
    pub fn new(media_type: &str, digest: Digest, size: u64) -> Descriptor {
        Descriptor {
            media_type: media_type.to_string(),
            digest,
            size,
            platform: None,
            annotations: Annotations::default(),
            extra: None,
        }
    }

    /// The blob's bytes when the descriptor itself gives them, so that nothing need be
    /// fetched: its `data` field (base64) when that is exactly the blob (size and digest),
    /// or the OCI empty JSON blob `{}` (an artifact's config), whose digest says its bytes.
    pub fn inline_data(&self) -> Option<Vec<u8>> {
        use base64::Engine as _;
        if self.size == EMPTY_JSON.len() as u64 && self.digest.hex() == EMPTY_JSON_SHA256 {
            return Some(EMPTY_JSON.to_vec());
        }
        let data = self.extra.as_ref()?.get("data")?.as_str()?;
        // Larger than it says is not decoded: base64 is 4 characters for 3 bytes.
        if data.len() as u64 > self.size.div_ceil(3) * 4 {
            return None;
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(data)
            .ok()?;
        (bytes.len() as u64 == self.size && Digest::of(&bytes) == self.digest).then_some(bytes)
    }

    /// The name this entry carries in an `index.json`, if any.
    pub fn ref_name(&self) -> Option<&str> {
        self.annotations
            .get(ANNOTATION_REF_NAME)
            .or_else(|| self.annotations.get(ANNOTATION_CONTAINERD_NAME))
            .map(String::as_str)
    }
}

/// The OCI empty JSON blob (image-spec `application/vnd.oci.empty.v1+json`): an
/// artifact's config where it has none.
pub const EMPTY_JSON: &[u8] = b"{}";

/// The SHA-256 of [`EMPTY_JSON`].
pub const EMPTY_JSON_SHA256: &str =
    "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";

/// A descriptor's annotations, sorted by key so that written JSON is reproducible: a map
/// in a vector sized to what it holds (a descriptor has two or three), not a tree node
/// of eleven slots for each.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Annotations(Vec<(String, String)>);

impl Annotations {
    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&String> {
        self.position(key).ok().map(|i| &self.0[i].1)
    }

    /// Sets `key` to `value` (replacing what it had); gives the value it had.
    pub fn insert(&mut self, key: String, value: String) -> Option<String> {
        match self.position(&key) {
            Ok(i) => Some(std::mem::replace(&mut self.0[i].1, value)),
            Err(i) => {
                self.0.insert(i, (key, value));
                None
            }
        }
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Every key and value, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &String)> {
        self.0.iter().map(|(k, v)| (k, v))
    }

    fn position(&self, key: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(k, _)| k.as_str().cmp(key))
    }
}

impl std::ops::Index<&str> for Annotations {
    type Output = String;
    fn index(&self, key: &str) -> &String {
        self.get(key)
            .unwrap_or_else(|| panic!("no annotation {key:?}"))
    }
}

impl Serialize for Annotations {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.iter())
    }
}

impl<'de> Deserialize<'de> for Annotations {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Annotations;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a map")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Annotations, A::Error> {
                let mut all = Annotations(Vec::with_capacity(map.size_hint().unwrap_or(2)));
                // As a map keeps them: a key given twice has its last value.
                while let Some((k, v)) = map.next_entry::<String, String>()? {
                    all.insert(k, v);
                }
                all.0.shrink_to_fit();
                Ok(all)
            }
        }
        d.deserialize_map(V)
    }
}

impl Serialize for Descriptor {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("mediaType", &self.media_type)?;
        map.serialize_entry("digest", &self.digest)?;
        map.serialize_entry("size", &self.size)?;
        if let Some(p) = &self.platform {
            map.serialize_entry("platform", p)?;
        }
        if !self.annotations.is_empty() {
            map.serialize_entry("annotations", &self.annotations)?;
        }
        for (k, v) in self.extra.iter().flat_map(|e| e.iter()) {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Descriptor {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(DescriptorVisitor)
    }
}

/// A descriptor's field name: one of the five it reads, or any other (kept in `extra`).
enum Field {
    MediaType,
    Digest,
    Size,
    Platform,
    Annotations,
    Other(String),
}

impl<'de> Deserialize<'de> for Field {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct FieldVisitor;
        impl serde::de::Visitor<'_> for FieldVisitor {
            type Value = Field;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a field name")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Field, E> {
                Ok(match v {
                    "mediaType" => Field::MediaType,
                    "digest" => Field::Digest,
                    "size" => Field::Size,
                    "platform" => Field::Platform,
                    "annotations" => Field::Annotations,
                    other => Field::Other(other.to_string()),
                })
            }
        }
        d.deserialize_identifier(FieldVisitor)
    }
}

struct DescriptorVisitor;

impl<'de> serde::de::Visitor<'de> for DescriptorVisitor {
    type Value = Descriptor;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("struct Descriptor")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Descriptor, A::Error> {
        use serde::de::Error;
        fn once<T, E: Error>(slot: &mut Option<T>, value: T, name: &'static str) -> Result<(), E> {
            match slot.replace(value) {
                Some(_) => Err(E::duplicate_field(name)),
                None => Ok(()),
            }
        }
        let mut media_type = None;
        let mut digest = None;
        let mut size = None;
        let mut platform: Option<Option<Box<PlatformSpec>>> = None;
        let mut annotations = None;
        let mut extra = serde_json::Map::new();
        while let Some(key) = map.next_key::<Field>()? {
            match key {
                Field::MediaType => once(&mut media_type, map.next_value()?, "mediaType")?,
                Field::Digest => once(&mut digest, map.next_value()?, "digest")?,
                Field::Size => once(&mut size, map.next_value()?, "size")?,
                Field::Platform => once(&mut platform, map.next_value()?, "platform")?,
                Field::Annotations => once(&mut annotations, map.next_value()?, "annotations")?,
                Field::Other(name) => {
                    extra.insert(name, map.next_value()?);
                }
            }
        }
        Ok(Descriptor {
            media_type: media_type.ok_or_else(|| A::Error::missing_field("mediaType"))?,
            digest: digest.ok_or_else(|| A::Error::missing_field("digest"))?,
            size: size.ok_or_else(|| A::Error::missing_field("size"))?,
            platform: platform.flatten(),
            annotations: annotations.unwrap_or_default(),
            extra: (!extra.is_empty()).then(|| Box::new(extra)),
        })
    }
}

/// What a manifest-like blob is, as far as walking the blob graph is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManifestKind {
    /// An OCI image index or Docker manifest list: it points at other manifests.
    Index,
    /// An image manifest: it points at a config and layers.
    Image,
}

/// The fields of a manifest or index that reference other blobs.
#[derive(Debug, Clone, Deserialize)]
pub struct ManifestDoc {
    /// `schemaVersion`; 2 for everything this tool reads.
    #[serde(rename = "schemaVersion", default)]
    pub schema_version: Option<u32>,
    /// The document's own `mediaType`, if it states one.
    #[serde(rename = "mediaType", default)]
    pub media_type: Option<String>,
    /// Image manifests: the config blob.
    #[serde(default)]
    pub config: Option<Descriptor>,
    /// Image manifests: the layers, base first.
    #[serde(default)]
    pub layers: Option<Vec<Descriptor>>,
    /// Indexes: the manifests they list.
    #[serde(default)]
    pub manifests: Option<Vec<Descriptor>>,
}

impl ManifestDoc {
    /// Parses a manifest or index; `descriptor_media_type` is the type the referrer gave it.
    pub fn parse(bytes: &[u8]) -> Result<ManifestDoc, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    /// Decides whether this is an index or an image manifest, from the media type the
    /// referrer gave, the document's own media type, or failing both its shape.
    pub fn kind(&self, descriptor_media_type: Option<&str>) -> Option<ManifestKind> {
        let declared = descriptor_media_type.or(self.media_type.as_deref());
        match declared {
            Some(OCI_INDEX | DOCKER_MANIFEST_LIST) => Some(ManifestKind::Index),
            Some(OCI_MANIFEST | DOCKER_MANIFEST) => Some(ManifestKind::Image),
            _ if self.manifests.is_some() => Some(ManifestKind::Index),
            _ if self.config.is_some() => Some(ManifestKind::Image),
            _ => None,
        }
    }

    /// The blobs an image manifest references directly: config first, then layers.
    pub fn image_blobs(&self) -> Vec<&Descriptor> {
        self.config
            .iter()
            .chain(self.layers.iter().flatten())
            .collect()
    }
}

/// True if `media_type` names a manifest or index (something with children to walk).
pub fn is_manifest_type(media_type: &str) -> bool {
    matches!(
        media_type,
        OCI_INDEX | OCI_MANIFEST | DOCKER_MANIFEST_LIST | DOCKER_MANIFEST
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_data_is_taken_only_when_it_is_the_blob() {
        use base64::Engine as _;
        let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        let with_data = |bytes: &[u8], data: &str| {
            let mut d = Descriptor::new("x", Digest::of(bytes), bytes.len() as u64);
            let mut extra = serde_json::Map::new();
            extra.insert("data".into(), data.into());
            d.extra = Some(Box::new(extra));
            d
        };
        // The empty JSON blob needs no data field: its digest says it.
        let empty = Descriptor::new("application/vnd.oci.empty.v1+json", Digest::of(b"{}"), 2);
        assert_eq!(empty.inline_data().as_deref(), Some(&b"{}"[..]));
        assert_eq!(Digest::of(EMPTY_JSON).hex(), EMPTY_JSON_SHA256);
        // The same digest at another size is not it.
        let mut wrong = empty.clone();
        wrong.size = 3;
        assert_eq!(wrong.inline_data(), None);
        // `data` that is the blob is taken; data of other bytes, a wrong size or bad base64
        // is not (the blob is then fetched as any other).
        let d = with_data(b"payload", &b64(b"payload"));
        assert_eq!(d.inline_data().as_deref(), Some(&b"payload"[..]));
        assert_eq!(with_data(b"payload", &b64(b"payloaD")).inline_data(), None);
        assert_eq!(with_data(b"payload", "!!!").inline_data(), None);
        let mut d = with_data(b"payload", &b64(b"payload"));
        d.size = 3;
        assert_eq!(d.inline_data(), None);
        assert_eq!(
            Descriptor::new("x", Digest::of(b"p"), 1).inline_data(),
            None
        );
    }

    #[test]
    fn descriptor_keeps_unknown_fields() {
        let json = r#"{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","size":3,"urls":["u"],"platform":{"architecture":"arm64","os":"linux","variant":"v8"}}"#;
        let d: Descriptor = serde_json::from_str(json).unwrap();
        assert_eq!(d.extra.as_ref().unwrap()["urls"][0], "u");
        let back = serde_json::to_string(&d).unwrap();
        assert!(back.contains(r#""urls":["u"]"#), "{back}");
        assert!(back.contains(r#""variant":"v8""#), "{back}");
    }

    #[test]
    fn descriptor_reads_as_the_derived_form_did() {
        let digest = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let full = format!(
            r#"{{"x":1,"size":3,"digest":"{digest}","platform":null,"annotations":{{"a":"b"}},"mediaType":"m","urls":["u"]}}"#
        );
        let d: Descriptor = serde_json::from_str(&full).unwrap();
        assert_eq!(
            (d.media_type.as_str(), d.size, &d.platform),
            ("m", 3, &None)
        );
        assert_eq!(d.annotations["a"], "b");
        let extra: Vec<&str> = d
            .extra
            .iter()
            .flat_map(|e| e.keys())
            .map(String::as_str)
            .collect();
        assert_eq!(extra, ["x", "urls"], "unknown fields kept in their order");
        // Written back in the field order the spec lists, unknown fields last as received.
        assert_eq!(
            serde_json::to_string(&d).unwrap(),
            format!(
                r#"{{"mediaType":"m","digest":"{digest}","size":3,"annotations":{{"a":"b"}},"x":1,"urls":["u"]}}"#
            )
        );
        let plain = Descriptor::new("m", d.digest.clone(), 3);
        assert_eq!(
            serde_json::to_string(&plain).unwrap(),
            format!(r#"{{"mediaType":"m","digest":"{digest}","size":3}}"#)
        );
        // Through a JSON value too (the path a document already parsed takes).
        let v: serde_json::Value = serde_json::from_str(&full).unwrap();
        assert_eq!(serde_json::from_value::<Descriptor>(v).unwrap(), d);
        for (json, says) in [
            (
                format!(r#"{{"digest":"{digest}","size":3}}"#),
                "missing field `mediaType`",
            ),
            (
                r#"{"mediaType":"m","size":3}"#.to_string(),
                "missing field `digest`",
            ),
            (
                format!(r#"{{"mediaType":"m","digest":"{digest}"}}"#),
                "missing field `size`",
            ),
            (
                format!(r#"{{"mediaType":"m","digest":"{digest}","size":3,"size":4}}"#),
                "duplicate field `size`",
            ),
            (
                format!(r#"{{"mediaType":"m","digest":"{digest}","size":-1}}"#),
                "invalid value: integer `-1`",
            ),
            (
                r#"{"mediaType":"m","digest":"md5:00","size":1}"#.to_string(),
                "only sha256 digests are supported",
            ),
            (format!(r#"["m","{digest}",3]"#), "invalid type: sequence"),
        ] {
            let err = serde_json::from_str::<Descriptor>(&json)
                .unwrap_err()
                .to_string();
            assert!(err.contains(says), "{json}: {err}");
        }
    }

    #[test]
    fn annotations_are_a_sorted_map() {
        let a: Annotations = serde_json::from_str(r#"{"z":"1","a":"2","m":"3","a":"4"}"#).unwrap();
        assert_eq!(
            serde_json::to_string(&a).unwrap(),
            r#"{"a":"4","m":"3","z":"1"}"#
        );
        let mut b = a.clone();
        assert_eq!(b.insert("m".into(), "5".into()).as_deref(), Some("3"));
        assert_eq!(b.insert("b".into(), "6".into()), None);
        assert_eq!(
            (b["m"].as_str(), b.get("b").map(String::as_str), b.get("c")),
            ("5", Some("6"), None)
        );
        let keys: Vec<&String> = b.iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["a", "b", "m", "z"]);
        assert!(Annotations::default().is_empty() && !b.is_empty());
        let err = serde_json::from_str::<Annotations>(r#"{"a":1}"#).unwrap_err();
        assert!(err.to_string().contains("invalid type: integer"), "{err}");
    }

    #[test]
    fn kind_from_media_type_or_shape() {
        let idx = ManifestDoc::parse(br#"{"schemaVersion":2,"manifests":[]}"#).unwrap();
        assert_eq!(idx.kind(None), Some(ManifestKind::Index));
        let img = ManifestDoc::parse(br#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"mediaType":"x","digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","size":0},"layers":[]}"#).unwrap();
        assert_eq!(img.kind(None), Some(ManifestKind::Image));
        assert_eq!(img.image_blobs().len(), 1);
        let odd = ManifestDoc::parse(br#"{"schemaVersion":1}"#).unwrap();
        assert_eq!(odd.kind(None), None);
    }
}
