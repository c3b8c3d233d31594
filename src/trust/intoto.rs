//! in-toto Statement v1 (in-toto/attestation, `spec/v1/statement.md`): the subjects an
//! attestation is about, each with digests, and a typed predicate. The payload of a DSSE
//! envelope of type [`super::dsse::IN_TOTO_PAYLOAD_TYPE`].
//!
//! Read leniently (v0.1 statements, which older cosign writes, parse too; unknown fields are
//! ignored); written as v1.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::FormatError;

/// The `_type` of a v1 statement.
pub const STATEMENT_V1: &str = "https://in-toto.io/Statement/v1";
/// The `_type` of a v0.1 statement (read only).
pub const STATEMENT_V01: &str = "https://in-toto.io/Statement/v0.1";

/// One subject: a name (optional in v1) and its digests by algorithm (`sha256` → hex).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subject {
    /// The subject's name (a file name, an image reference); may be empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Digests by algorithm name, lowercase hex.
    pub digest: BTreeMap<String, String>,
}

impl Subject {
    /// A subject named `name` with one SHA-256 digest (`hex`, without `sha256:`).
    pub fn sha256(name: impl Into<String>, hex: impl Into<String>) -> Subject {
        Subject {
            name: name.into(),
            digest: BTreeMap::from([("sha256".to_owned(), hex.into())]),
        }
    }

    /// True if the subject's SHA-256 digest is `hex` (case-insensitive).
    pub fn has_sha256(&self, hex: &str) -> bool {
        self.digest
            .get("sha256")
            .is_some_and(|d| d.eq_ignore_ascii_case(hex))
    }
}

/// An in-toto statement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Statement {
    /// The statement's type and version ([`STATEMENT_V1`]).
    #[serde(rename = "_type")]
    pub statement_type: String,
    /// What the statement is about.
    pub subject: Vec<Subject>,
    /// The predicate's type (a URI: `https://slsa.dev/provenance/v1`, …).
    #[serde(rename = "predicateType")]
    pub predicate_type: String,
    /// The predicate; any JSON value.
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub predicate: serde_json::Value,
}

impl Statement {
    /// A v1 statement.
    pub fn new(
        subject: Vec<Subject>,
        predicate_type: impl Into<String>,
        predicate: serde_json::Value,
    ) -> Statement {
        Statement {
            statement_type: STATEMENT_V1.to_owned(),
            subject,
            predicate_type: predicate_type.into(),
            predicate,
        }
    }

    /// Parses a statement (v1 or v0.1); any other `_type` is an error.
    pub fn from_json(bytes: &[u8]) -> Result<Statement, FormatError> {
        let st: Statement = serde_json::from_slice(bytes)
            .map_err(|e| FormatError::new("in-toto statement", format!("not its JSON ({e})")))?;
        if st.statement_type != STATEMENT_V1 && st.statement_type != STATEMENT_V01 {
            return Err(FormatError::new(
                "in-toto statement",
                format!("_type {:?} is not an in-toto statement", st.statement_type),
            ));
        }
        Ok(st)
    }

    /// The JSON form (compact).
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// True if one of the subjects has the SHA-256 digest `hex`.
    pub fn is_about_sha256(&self, hex: &str) -> bool {
        self.subject.iter().any(|s| s.has_sha256(hex))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_versions() {
        let st = Statement::new(
            vec![Subject::sha256("a.iso", "ab".repeat(32))],
            "https://slsa.dev/provenance/v1",
            serde_json::json!({"x": 1}),
        );
        let json = st.to_json();
        assert!(String::from_utf8_lossy(&json).starts_with(
            r#"{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"a.iso""#
        ));
        let back = Statement::from_json(&json).unwrap();
        assert_eq!(back, st);
        assert!(back.is_about_sha256(&"AB".repeat(32)));
        assert!(!back.is_about_sha256(&"cd".repeat(32)));
        let old = br#"{"_type":"https://in-toto.io/Statement/v0.1","subject":[{"name":"x","digest":{"sha256":"00"}}],"predicateType":"p","predicate":{}}"#;
        assert!(Statement::from_json(old).is_ok());
        let other = br#"{"_type":"https://example.com/x","subject":[],"predicateType":"p"}"#;
        assert!(Statement::from_json(other).is_err());
        assert!(Statement::from_json(b"{").is_err());
    }
}
