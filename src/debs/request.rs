//! A requested package, as `seedforge.yaml`, a package set or the command line names it:
//! `name` or `name=version`.

use super::control::{Dependency, Relation};
use super::version::{Op, Version};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A requested package: `name` or `name=version`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// Package name.
    pub name: String,
    /// Exact version wanted.
    #[serde(
        serialize_with = "serialize_opt_version",
        deserialize_with = "deserialize_opt_version",
        default
    )]
    pub version: Option<Version>,
}

fn deserialize_opt_version<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Version>, D::Error> {
    Option::<String>::deserialize(d)?
        .map(|v| Version::parse(&v).map_err(serde::de::Error::custom))
        .transpose()
}

fn serialize_opt_version<S: serde::Serializer>(
    v: &Option<Version>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => s.serialize_some(&v.to_string()),
        None => s.serialize_none(),
    }
}

impl FromStr for Request {
    type Err = String;

    fn from_str(s: &str) -> Result<Request, String> {
        let (name, version) = match s.split_once('=') {
            Some((n, v)) => (n, Some(Version::parse(v)?)),
            None => (s, None),
        };
        let dep = super::control::parse_relations(name)?;
        match dep.as_slice() {
            [Relation(alts)] if alts.len() == 1 && alts[0].constraint.is_none() => Ok(Request {
                name: alts[0].name.clone(),
                version,
            }),
            _ => Err(format!("{s:?} is not a package name (or name=version)")),
        }
    }
}

impl Request {
    /// The request as a dependency (`name (= version)`).
    pub(super) fn dependency(&self) -> Dependency {
        Dependency {
            name: self.name.clone(),
            arch: None,
            constraint: self.version.clone().map(|v| (Op::Eq, v)),
        }
    }
}

impl fmt::Display for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.version {
            Some(v) => write!(f, "{}={v}", self.name),
            None => f.write_str(&self.name),
        }
    }
}
