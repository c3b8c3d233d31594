//! Platforms: the `os/arch[/variant]` selectors users give with `--platform`, and the
//! `platform` objects found in image indexes and configs.
//!
//! Matching follows containerd's normalisation where it matters for k3s images: `arm64`
//! without a variant is `arm64/v8`, `amd64` variants are ignored unless asked for, and a
//! selector without a variant accepts any variant of that architecture.
//!
//! On the command line a selector may also be `all`, every platform an image offers (what
//! `crane --platform all` and `skopeo copy --all` copy), and `--platform` takes comma
//! lists (`linux/amd64,linux/arm64`) as crane and buildx do. The config's
//! `images.platforms` takes neither `all` nor commas: each entry there names one
//! architecture's airgap archive.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A `platform` object as it appears in an index descriptor or an image config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlatformSpec {
    /// CPU architecture (`amd64`, `arm64`, `arm`, …).
    pub architecture: String,
    /// Operating system (`linux`).
    pub os: String,
    /// `os.version`, kept as received.
    #[serde(
        rename = "os.version",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_version: Option<String>,
    /// `os.features`, kept as received.
    #[serde(
        rename = "os.features",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_features: Option<Vec<String>>,
    /// CPU variant (`v7`, `v8`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// `features`, kept as received.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub features: Option<Vec<String>>,
}

/// A platform selector: `os/arch[/variant]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Platform {
    /// Operating system.
    pub os: String,
    /// Architecture.
    pub architecture: String,
    /// Variant, when the user asked for one.
    pub variant: Option<String>,
}

/// Why a platform selector was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid platform {input:?}: {reason}")]
pub struct PlatformError {
    /// The rejected text.
    pub input: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// The `os` and `architecture` of [`Platform::all`]: `*` is no valid part of a parsed
/// `OS/ARCH`, so no named platform can be mistaken for it.
const ANY: &str = "*";

impl Platform {
    /// `all`: every platform of an index, and entries without a platform too (as
    /// `skopeo copy --all` keeps the index byte for byte); a single image whatever its
    /// platform.
    pub fn all() -> Platform {
        Platform {
            os: ANY.into(),
            architecture: ANY.into(),
            variant: None,
        }
    }

    /// Whether this is [`Platform::all`].
    pub fn is_all(&self) -> bool {
        self.os == ANY && self.architecture == ANY
    }

    /// A command-line selector: `all` or `OS/ARCH[/VARIANT]` (see [`FromStr`]).
    pub fn parse_selector(s: &str) -> Result<Platform, PlatformError> {
        if s == "all" {
            return Ok(Platform::all());
        }
        s.parse().map_err(|e: PlatformError| PlatformError {
            reason: if e.reason.starts_with("expected") {
                "expected all, OS/ARCH or OS/ARCH/VARIANT (linux/amd64); separate several with commas"
            } else {
                e.reason
            },
            ..e
        })
    }

    /// `linux/amd64`, the default when nothing is selected.
    pub fn linux_amd64() -> Platform {
        Platform {
            os: "linux".into(),
            architecture: "amd64".into(),
            variant: None,
        }
    }

    /// Whether an image for `os`/`architecture`/`variant` satisfies this selector.
    pub fn matches(&self, os: &str, architecture: &str, variant: Option<&str>) -> bool {
        if self.is_all() {
            return true;
        }
        if self.os != os || self.architecture != architecture {
            return false;
        }
        match &self.variant {
            None => true,
            Some(wanted) => normalized_variant(architecture, variant) == Some(wanted.as_str()),
        }
    }

    /// Whether an index entry's platform satisfies this selector.
    pub fn matches_spec(&self, spec: &PlatformSpec) -> bool {
        self.matches(&spec.os, &spec.architecture, spec.variant.as_deref())
    }
}

/// The variant an architecture implies when none is given (containerd's rules).
fn normalized_variant<'a>(architecture: &str, variant: Option<&'a str>) -> Option<&'a str> {
    match (architecture, variant) {
        ("arm64", None) => Some("v8"),
        (_, v) => v,
    }
}

impl FromStr for Platform {
    type Err = PlatformError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason| PlatformError {
            input: s.to_string(),
            reason,
        };
        let parts: Vec<&str> = s.split('/').collect();
        if !(2..=3).contains(&parts.len()) {
            return Err(err(if s == "all" {
                "`all` is for --platform only; here list each platform (linux/amd64): every architecture gets its own airgap archive"
            } else {
                "expected OS/ARCH or OS/ARCH/VARIANT, e.g. linux/amd64"
            }));
        }
        let valid = |p: &str| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'.')
        };
        if !parts.iter().all(|p| valid(p)) {
            return Err(err(
                "each part must be non-empty lowercase letters, digits, '_' or '.'",
            ));
        }
        let architecture = match parts[1] {
            "x86_64" | "x86-64" => "amd64",
            "aarch64" => "arm64",
            other => other,
        };
        Ok(Platform {
            os: parts[0].to_string(),
            architecture: architecture.to_string(),
            variant: parts.get(2).map(|v| v.to_string()),
        })
    }
}

fn write_platform(
    f: &mut fmt::Formatter<'_>,
    os: &str,
    arch: &str,
    variant: Option<&str>,
) -> fmt::Result {
    write!(f, "{os}/{arch}")?;
    match variant {
        Some(v) => write!(f, "/{v}"),
        None => Ok(()),
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_all() {
            return f.write_str("all");
        }
        write_platform(f, &self.os, &self.architecture, self.variant.as_deref())
    }
}

impl fmt::Display for PlatformSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_platform(f, &self.os, &self.architecture, self.variant.as_deref())
    }
}

impl<'de> Deserialize<'de> for Platform {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl Serialize for Platform {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Platform {
        s.parse().unwrap()
    }

    #[test]
    fn parses_and_normalises() {
        assert_eq!(p("linux/amd64"), Platform::linux_amd64());
        assert_eq!(p("linux/x86_64"), Platform::linux_amd64());
        assert_eq!(p("linux/aarch64").architecture, "arm64");
        assert_eq!(p("linux/arm/v7").variant.as_deref(), Some("v7"));
        assert_eq!(p("linux/arm/v7").to_string(), "linux/arm/v7");
        for bad in [
            "linux",
            "linux/",
            "/amd64",
            "linux/amd64/v1/x",
            "Linux/amd64",
            "",
        ] {
            assert!(bad.parse::<Platform>().is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn variant_matching() {
        assert!(p("linux/arm64").matches("linux", "arm64", Some("v8")));
        assert!(p("linux/arm64/v8").matches("linux", "arm64", None));
        assert!(p("linux/arm/v7").matches("linux", "arm", Some("v7")));
        assert!(!p("linux/arm/v7").matches("linux", "arm", Some("v6")));
        assert!(!p("linux/arm/v7").matches("linux", "arm", None));
        assert!(p("linux/arm").matches("linux", "arm", Some("v6")));
        assert!(!p("linux/amd64").matches("linux", "arm64", None));
        assert!(!p("linux/amd64").matches("windows", "amd64", None));
        assert!(!p("linux/amd64").matches("unknown", "unknown", None));
    }

    #[test]
    fn all_is_a_command_line_selector_matching_everything() {
        let all = Platform::parse_selector("all").unwrap();
        assert!(all.is_all());
        assert_eq!(all.to_string(), "all");
        assert!(all.matches("linux", "s390x", None));
        assert!(all.matches("windows", "amd64", Some("x")));
        assert!(!p("linux/amd64").is_all());
        assert_eq!(
            Platform::parse_selector("linux/arm64").unwrap(),
            p("linux/arm64")
        );
        // The config's parser (FromStr, serde) refuses `all`, saying why.
        let err = "all".parse::<Platform>().unwrap_err();
        assert!(err.reason.contains("--platform only"), "{err}");
        let err = Platform::parse_selector("linux").unwrap_err();
        assert!(err.reason.contains("expected all,"), "{err}");
        assert!(Platform::parse_selector("ALL").is_err());
    }
}
