//! Signed documents read strictly, once: JSON whose object keys are each given once, and a
//! Sigstore bundle whose every field is one protobuf JSON knows, each `oneof` set at most
//! once.
//!
//! Two readers of one document must never see two different documents. A JSON object that
//! names a key twice is read by one parser as its first value and by another as its last;
//! a bundle whose `verificationMaterial` holds both `certificate` and
//! `x509CertificateChain` is read by one as the one and by another as the other. Either
//! lets a signature be verified on one certificate and its identity matched on another.
//! protobuf JSON (cosign's reader) refuses all of these before anything is checked, and so
//! does seedforge, by name: a duplicated key, an unknown field, a `oneof` set twice, a
//! field of the wrong JSON kind.

use serde::Deserialize as _;
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// Parses `bytes` as JSON, refusing an object that names a key twice (anywhere in the
/// document; the refusal names the key and where it is).
pub(crate) fn parse(bytes: &[u8]) -> Result<Value, String> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = Strict { at: String::new() }
        .deserialize(&mut de)
        .map_err(|e| e.to_string())?;
    de.end().map_err(|e| e.to_string())?;
    Ok(value)
}

/// A JSON value whose objects are checked for duplicated keys; `at` is its place
/// (`/verificationMaterial`), for the refusal.
struct Strict {
    at: String,
}

impl<'de> DeserializeSeed<'de> for Strict {
    type Value = Value;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Value::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(Strict {
            at: format!("{}/{}", self.at, out.len()),
        })? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let at = format!("{}/{key}", self.at);
            if out.contains_key(&key) {
                return Err(de::Error::custom(format!(
                    "the key {key:?} is given twice in the object at {}",
                    if self.at.is_empty() { "/" } else { &self.at }
                )));
            }
            let value = map.next_value_seed(Strict { at })?;
            out.insert(key, value);
        }
        Ok(Value::Object(out))
    }
}

/// What a field of a protobuf message holds, as its JSON form gives it.
enum Field {
    /// A string, number or boolean (bytes as base64, 64-bit integers as strings or numbers).
    Scalar,
    /// A list of scalars.
    Scalars,
    /// A message.
    Message(&'static Message),
    /// A list of messages.
    Messages(&'static Message),
}

/// A protobuf message of sigstore/protobuf-specs: its fields by JSON name and its `oneof`
/// groups.
struct Message {
    name: &'static str,
    fields: &'static [(&'static str, Field)],
    oneofs: &'static [&'static [&'static str]],
}

const fn scalars(name: &'static str, fields: &'static [(&'static str, Field)]) -> Message {
    Message {
        name,
        fields,
        oneofs: &[],
    }
}

static BUNDLE: Message = Message {
    name: "Bundle",
    fields: &[
        ("mediaType", Field::Scalar),
        ("verificationMaterial", Field::Message(&MATERIAL)),
        ("messageSignature", Field::Message(&MESSAGE_SIGNATURE)),
        ("dsseEnvelope", Field::Message(&ENVELOPE)),
    ],
    oneofs: &[&["messageSignature", "dsseEnvelope"]],
};
static MATERIAL: Message = Message {
    name: "VerificationMaterial",
    fields: &[
        ("publicKey", Field::Message(&KEY_ID)),
        ("x509CertificateChain", Field::Message(&CHAIN)),
        ("certificate", Field::Message(&CERTIFICATE)),
        ("tlogEntries", Field::Messages(&LOG_ENTRY)),
        ("timestampVerificationData", Field::Message(&TIMESTAMPS)),
    ],
    oneofs: &[&["publicKey", "x509CertificateChain", "certificate"]],
};
static KEY_ID: Message = scalars("PublicKeyIdentifier", &[("hint", Field::Scalar)]);
static CERTIFICATE: Message = scalars("X509Certificate", &[("rawBytes", Field::Scalar)]);
static CHAIN: Message = scalars(
    "X509CertificateChain",
    &[("certificates", Field::Messages(&CERTIFICATE))],
);
static LOG_ENTRY: Message = scalars(
    "TransparencyLogEntry",
    &[
        ("logIndex", Field::Scalar),
        ("logId", Field::Message(&LOG_ID)),
        ("kindVersion", Field::Message(&KIND_VERSION)),
        ("integratedTime", Field::Scalar),
        ("inclusionPromise", Field::Message(&PROMISE)),
        ("inclusionProof", Field::Message(&PROOF)),
        ("canonicalizedBody", Field::Scalar),
    ],
);
static LOG_ID: Message = scalars("LogId", &[("keyId", Field::Scalar)]);
static KIND_VERSION: Message = scalars(
    "KindVersion",
    &[("kind", Field::Scalar), ("version", Field::Scalar)],
);
static PROMISE: Message = scalars(
    "InclusionPromise",
    &[("signedEntryTimestamp", Field::Scalar)],
);
static PROOF: Message = scalars(
    "InclusionProof",
    &[
        ("logIndex", Field::Scalar),
        ("rootHash", Field::Scalar),
        ("treeSize", Field::Scalar),
        ("hashes", Field::Scalars),
        ("checkpoint", Field::Message(&CHECKPOINT)),
    ],
);
static CHECKPOINT: Message = scalars("Checkpoint", &[("envelope", Field::Scalar)]);
static TIMESTAMPS: Message = scalars(
    "TimestampVerificationData",
    &[("rfc3161Timestamps", Field::Messages(&TIMESTAMP))],
);
static TIMESTAMP: Message = scalars(
    "RFC3161SignedTimestamp",
    &[("signedTimestamp", Field::Scalar)],
);
static MESSAGE_SIGNATURE: Message = scalars(
    "MessageSignature",
    &[
        ("messageDigest", Field::Message(&DIGEST)),
        ("signature", Field::Scalar),
    ],
);
static DIGEST: Message = scalars(
    "HashOutput",
    &[("algorithm", Field::Scalar), ("digest", Field::Scalar)],
);
static ENVELOPE: Message = scalars(
    "Envelope",
    &[
        ("payload", Field::Scalar),
        ("payloadType", Field::Scalar),
        ("signatures", Field::Messages(&SIGNATURE)),
    ],
);
static SIGNATURE: Message = scalars(
    "Signature",
    &[("sig", Field::Scalar), ("keyid", Field::Scalar)],
);

/// Checks that `value` is a Sigstore bundle as protobuf JSON reads one: every field known
/// by its JSON name, each of the right kind, each `oneof` (the material: `publicKey`,
/// `x509CertificateChain`, `certificate`; the content: `messageSignature`, `dsseEnvelope`)
/// set at most once. Parse it with [`parse`] first, which refuses duplicated keys.
pub(crate) fn check_bundle(value: &Value) -> Result<(), String> {
    check_message(value, &BUNDLE, "")
}

fn check_message(value: &Value, message: &Message, at: &str) -> Result<(), String> {
    let place = if at.is_empty() { "/" } else { at };
    let Value::Object(object) = value else {
        return Err(format!(
            "{place} is not an object (a {} message)",
            message.name
        ));
    };
    for (key, v) in object {
        let here = format!("{at}/{key}");
        let Some((_, field)) = message.fields.iter().find(|(name, _)| name == key) else {
            return Err(format!(
                "{place} has the field {key:?}, which a {} message does not have",
                message.name
            ));
        };
        if v.is_null() {
            continue;
        }
        match field {
            Field::Scalar => scalar(v, &here)?,
            Field::Scalars => list(v, &here)?
                .iter()
                .enumerate()
                .try_for_each(|(i, v)| scalar(v, &format!("{here}/{i}")))?,
            Field::Message(m) => check_message(v, m, &here)?,
            Field::Messages(m) => list(v, &here)?
                .iter()
                .enumerate()
                .try_for_each(|(i, v)| check_message(v, m, &format!("{here}/{i}")))?,
        }
    }
    for group in message.oneofs {
        let set: Vec<&str> = group
            .iter()
            .copied()
            .filter(|name| object.contains_key(*name))
            .collect();
        if set.len() > 1 {
            return Err(format!(
                "{place} sets {} together, which are one choice (a oneof): a bundle holds one",
                set.iter()
                    .map(|s| format!("{s:?}"))
                    .collect::<Vec<_>>()
                    .join(" and ")
            ));
        }
    }
    Ok(())
}

fn scalar(value: &Value, at: &str) -> Result<(), String> {
    match value {
        Value::Object(_) | Value::Array(_) => Err(format!("{at} is not a string or number")),
        _ => Ok(()),
    }
}

fn list<'v>(value: &'v Value, at: &str) -> Result<&'v Vec<Value>, String> {
    value
        .as_array()
        .ok_or_else(|| format!("{at} is not a list"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_given_twice_is_refused_where_it_is() {
        let e = parse(br#"{"a":{"b":1,"c":[{"d":1,"d":2}]}}"#).unwrap_err();
        assert!(
            e.contains("\"d\" is given twice in the object at /a/c/0"),
            "{e}"
        );
        let e = parse(br#"{"a":1,"a":1}"#).unwrap_err();
        assert!(e.contains("\"a\" is given twice in the object at /"), "{e}");
        // Escapes are read before comparing: "\u0061" is "a".
        assert!(parse(br#"{"a":1,"\u0061":2}"#).is_err());
        assert_eq!(
            parse(br#"{"a":[1,"x",null,true,{"b":1.5}]}"#).unwrap(),
            serde_json::json!({"a":[1,"x",null,true,{"b":1.5}]})
        );
        assert!(parse(b"{} x").is_err());
    }

    fn bundle(material: &str, content: &str) -> Value {
        parse(
            format!(
                r#"{{"mediaType":"application/vnd.dev.sigstore.bundle+json;version=0.2",
                "verificationMaterial":{{{material},"tlogEntries":[{{"logIndex":"1",
                "logId":{{"keyId":"AA=="}},"kindVersion":{{"kind":"hashedrekord","version":"0.0.1"}},
                "integratedTime":"1","inclusionPromise":{{"signedEntryTimestamp":"AA=="}},
                "inclusionProof":{{"logIndex":"1","rootHash":"AA==","treeSize":"2","hashes":["AA=="],
                "checkpoint":{{"envelope":"x"}}}},"canonicalizedBody":"AA=="}}]}},{content}}}"#
            )
            .as_bytes(),
        )
        .unwrap()
    }

    const SIGNATURE: &str = r#""messageSignature":{"messageDigest":{"algorithm":"SHA2_256","digest":"AA=="},"signature":"AA=="}"#;

    #[test]
    fn a_bundle_sets_each_oneof_once() {
        let chain = r#""x509CertificateChain":{"certificates":[{"rawBytes":"AA=="}]}"#;
        let cert = r#""certificate":{"rawBytes":"AA=="}"#;
        check_bundle(&bundle(chain, SIGNATURE)).unwrap();
        check_bundle(&bundle(cert, SIGNATURE)).unwrap();
        for material in [
            format!("{chain},{cert}"),
            format!("{cert},{chain}"),
            format!(r#"{cert},"publicKey":{{"hint":"x"}}"#),
        ] {
            let e = check_bundle(&bundle(&material, SIGNATURE)).unwrap_err();
            assert!(e.contains("one choice (a oneof)"), "{e}");
        }
        let dsse = r#""dsseEnvelope":{"payload":"AA==","payloadType":"t","signatures":[{"sig":"AA==","keyid":""}]}"#;
        check_bundle(&bundle(cert, dsse)).unwrap();
        let e = check_bundle(&bundle(cert, &format!("{SIGNATURE},{dsse}"))).unwrap_err();
        assert!(
            e.contains(r#""messageSignature" and "dsseEnvelope""#),
            "{e}"
        );
    }

    #[test]
    fn unknown_fields_and_wrong_kinds_are_refused_by_name() {
        let cert = r#""certificate":{"rawBytes":"AA=="}"#;
        let e = check_bundle(&bundle(
            r#""certificate":{"rawBytes":"AA==","extra":1}"#,
            SIGNATURE,
        ))
        .unwrap_err();
        assert!(
            e.contains(r#"/verificationMaterial/certificate has the field "extra""#),
            "{e}"
        );
        let e = check_bundle(&bundle(cert, &format!(r#"{SIGNATURE},"other":{{}}"#))).unwrap_err();
        assert!(e.contains("a Bundle message does not have"), "{e}");
        // The proto name is not the JSON name seedforge reads.
        assert!(check_bundle(&bundle(r#""x509_certificate_chain":{}"#, SIGNATURE)).is_err());
        let e =
            check_bundle(&bundle(r#""certificate":[{"rawBytes":"AA=="}]"#, SIGNATURE)).unwrap_err();
        assert!(e.contains("is not an object"), "{e}");
        let e =
            check_bundle(&bundle(r#""certificate":{"rawBytes":{"a":1}}"#, SIGNATURE)).unwrap_err();
        assert!(e.contains("rawBytes is not a string or number"), "{e}");
        // null is an unset field, as protobuf JSON reads it.
        check_bundle(&bundle(
            r#""certificate":{"rawBytes":"AA=="},"timestampVerificationData":null"#,
            SIGNATURE,
        ))
        .unwrap();
    }
}
