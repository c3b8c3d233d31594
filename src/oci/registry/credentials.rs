//! What every source of credentials hands the registry client: a user name with a
//! [`Password`] that never prints its value, and the host they are for, named as one
//! registry however it is written ([`normalize_host`]).

use std::fmt;

/// A password that never shows up in `Debug` output or messages.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    /// Wraps a password.
    ///
    /// Whoever reads a password registers it with the run's [`crate::redact::Secrets`]
    /// (the registry settings, `RegistryAccess`, do for those they find).
    pub fn new(value: impl Into<String>) -> Password {
        Password(value.into())
    }

    /// The value, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// A user name and password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user name (printed in errors).
    pub username: String,
    /// The password (never printed).
    pub password: Password,
}

/// `docker.io` and its historical aliases are one registry.
pub fn normalize_host(host: &str) -> String {
    let h = host
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_end_matches('/');
    let h = h.strip_suffix("/v1").or(h.strip_suffix("/v2")).unwrap_or(h);
    match h {
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => {
            "docker.io".to_string()
        }
        other => other.to_string(),
    }
}
