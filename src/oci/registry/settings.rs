//! How to reach each registry: which CA to trust, whether it speaks plain HTTP, and which
//! credentials to present.
//!
//! Settings come from three places, most specific first: the command line
//! (`--ca-file`, `--insecure-registry`, `--username` + `--password-stdin`), the config's
//! `registries:` list, and the `auths` of the Docker config file
//! (`$DOCKER_CONFIG/config.json` or `~/.docker/config.json`). Passwords are held in
//! [`Password`], which never prints its value.

use super::RegistryError;
use crate::config::Secret;
use base64::Engine;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// One entry of the config's `registries:` list.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistrySettings {
    /// The registry host as image references name it (`registry.example.com:5000`).
    pub host: String,
    /// A PEM file with the CA (or CAs) to trust for this host, relative to the config.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Speak plain HTTP to this host.
    #[serde(default)]
    pub insecure: bool,
    /// User name for basic authentication or the token service.
    #[serde(default)]
    pub username: Option<String>,
    /// The password, as `{env: NAME}` or `{file: PATH}`.
    #[serde(default)]
    pub password: Option<Secret>,
}

/// A password that never shows up in `Debug` output or messages.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    /// Wraps a password.
    pub fn new(value: impl Into<String>) -> Password {
        let value = value.into();
        crate::redact::register(&value);
        Password(value)
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

/// Everything needed to talk to one registry host.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostAccess {
    /// Extra CA certificates (PEM files) to trust.
    pub ca_files: Vec<PathBuf>,
    /// Plain HTTP instead of HTTPS.
    pub plain_http: bool,
    /// Credentials; `None` means anonymous.
    pub credentials: Option<Credentials>,
}

/// Settings for every registry a run may talk to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegistryAccess {
    hosts: BTreeMap<String, HostAccess>,
    /// CA files trusted for every host (`--ca-file`).
    pub ca_files: Vec<PathBuf>,
    /// Credentials for every host that has none of its own (`--username`).
    pub credentials: Option<Credentials>,
    /// Hosts that speak plain HTTP (`--insecure-registry`).
    pub plain_http: Vec<String>,
    /// Credentials read from the Docker config file, by host.
    pub docker_auths: BTreeMap<String, Credentials>,
}

impl RegistryAccess {
    /// Adds (or replaces) the settings of one host.
    pub fn set_host(&mut self, host: &str, access: HostAccess) {
        self.hosts.insert(normalize_host(host), access);
    }

    /// Adds the config's `registries:` entries, resolving password secrets against the
    /// config file at `config_path`.
    pub fn add_config(
        &mut self,
        entries: &[RegistrySettings],
        config_path: &Path,
    ) -> Result<(), crate::config::ConfigError> {
        let dir = config_path.parent().unwrap_or(Path::new("."));
        for (i, e) in entries.iter().enumerate() {
            let credentials = match (&e.username, &e.password) {
                (Some(user), Some(secret)) => {
                    let what = format!("registries[{i}].password");
                    let value = secret.resolve(&what, config_path)?;
                    Some(Credentials {
                        username: user.clone(),
                        password: Password::new(value.expose()),
                    })
                }
                _ => None,
            };
            self.set_host(
                &e.host,
                HostAccess {
                    ca_files: e.ca_file.iter().map(|f| dir.join(f)).collect(),
                    plain_http: e.insecure,
                    credentials,
                },
            );
        }
        Ok(())
    }

    /// Reads the `auths` of the Docker config file, if there is one.
    pub fn add_docker_config(&mut self) -> Result<(), RegistryError> {
        let Some(path) = docker_config_path() else {
            return Ok(());
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => {
                return Err(RegistryError::Settings(format!(
                    "{}: cannot read Docker config: {e}",
                    path.display()
                )));
            }
        };
        self.docker_auths = parse_docker_auths(&text)
            .map_err(|e| RegistryError::Settings(format!("{}: {e}", path.display())))?;
        Ok(())
    }

    /// The settings for `host`: its own entry, with the command line's CA files, plain-HTTP
    /// hosts and credentials merged in, and Docker config credentials as the last resort.
    pub fn for_host(&self, host: &str) -> HostAccess {
        let key = normalize_host(host);
        let mut access = self.hosts.get(&key).cloned().unwrap_or_default();
        access.ca_files.extend(self.ca_files.iter().cloned());
        if self.plain_http.iter().any(|h| normalize_host(h) == key) {
            access.plain_http = true;
        }
        if access.credentials.is_none() {
            access.credentials = self
                .credentials
                .clone()
                .or_else(|| self.docker_auths.get(&key).cloned());
        }
        access
    }
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

fn docker_config_path() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG") {
        return Some(PathBuf::from(dir).join("config.json"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker").join("config.json"))
}

#[derive(Deserialize)]
struct DockerConfig {
    #[serde(default)]
    auths: BTreeMap<String, DockerAuth>,
}

#[derive(Deserialize)]
struct DockerAuth {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
}

/// Parses a Docker config file's `auths`: `auth` is base64 of `user:password`; explicit
/// `username`/`password` fields are accepted too. Entries without either are skipped
/// (credential helpers are not consulted).
pub fn parse_docker_auths(text: &str) -> Result<BTreeMap<String, Credentials>, String> {
    let config: DockerConfig =
        serde_json::from_str(text).map_err(|e| format!("invalid Docker config JSON: {e}"))?;
    let mut out = BTreeMap::new();
    for (host, entry) in config.auths {
        let creds = if let Some(auth) = entry.auth.filter(|a| !a.is_empty()) {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(auth.trim())
                .map_err(|_| format!("auths.{host}.auth is not base64"))?;
            let text = String::from_utf8(decoded)
                .map_err(|_| format!("auths.{host}.auth is not UTF-8"))?;
            let (user, password) = text
                .split_once(':')
                .ok_or_else(|| format!("auths.{host}.auth is not user:password"))?;
            Credentials {
                username: user.to_string(),
                password: Password::new(password),
            }
        } else if let (Some(username), Some(password)) = (entry.username, entry.password) {
            Credentials {
                username,
                password: Password::new(password),
            }
        } else {
            continue;
        };
        out.insert(normalize_host(&host), creds);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_auths_decode_and_normalise_hosts() {
        let text = r#"{"auths":{
            "https://index.docker.io/v1/":{"auth":"dXNlcjpwYTpzcw=="},
            "127.0.0.1:5000":{"username":"u2","password":"p2"},
            "helper.example":{}
        }}"#;
        let auths = parse_docker_auths(text).unwrap();
        assert_eq!(auths.len(), 2);
        assert_eq!(auths["docker.io"].username, "user");
        assert_eq!(auths["docker.io"].password.expose(), "pa:ss");
        assert_eq!(auths["127.0.0.1:5000"].username, "u2");
        assert!(parse_docker_auths(r#"{"auths":{"x":{"auth":"!!"}}}"#).is_err());
    }

    #[test]
    fn command_line_credentials_yield_to_host_entries_and_beat_docker_config() {
        let mut access = RegistryAccess {
            credentials: Some(Credentials {
                username: "cli".into(),
                password: Password::new("p"),
            }),
            plain_http: vec!["127.0.0.1:5000".into()],
            ..Default::default()
        };
        access.docker_auths.insert(
            "r.example".into(),
            Credentials {
                username: "docker".into(),
                password: Password::new("d"),
            },
        );
        access.set_host(
            "own.example",
            HostAccess {
                credentials: Some(Credentials {
                    username: "own".into(),
                    password: Password::new("o"),
                }),
                ..Default::default()
            },
        );
        let user = |h: &str| access.for_host(h).credentials.map(|c| c.username);
        assert_eq!(user("own.example").as_deref(), Some("own"));
        assert_eq!(user("r.example").as_deref(), Some("cli"));
        assert!(access.for_host("127.0.0.1:5000").plain_http);
        assert!(!access.for_host("127.0.0.1:5001").plain_http);
        assert_eq!(
            format!("{:?}", access.for_host("x").credentials),
            r#"Some(Credentials { username: "cli", password: Password(<redacted>) })"#
        );
    }

    #[test]
    fn config_entries_resolve_secrets_and_paths_against_the_config() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pw.txt"), "from-file\n").unwrap();
        let config = dir.path().join("seedforge.yaml");
        let entries = [
            RegistrySettings {
                host: "a.example:5000".into(),
                ca_file: Some("certs/ca.pem".into()),
                insecure: false,
                username: Some("alice".into()),
                password: Some(Secret::File("pw.txt".into())),
            },
            RegistrySettings {
                host: "b.example".into(),
                ca_file: None,
                insecure: true,
                username: None,
                password: None,
            },
        ];
        let mut access = RegistryAccess::default();
        access.add_config(&entries, &config).unwrap();
        let a = access.for_host("a.example:5000");
        assert_eq!(a.ca_files, [dir.path().join("certs/ca.pem")]);
        let creds = a.credentials.unwrap();
        assert_eq!(
            (creds.username.as_str(), creds.password.expose()),
            ("alice", "from-file")
        );
        let b = access.for_host("b.example");
        assert!(b.plain_http && b.credentials.is_none());
        // A missing secret names the entry, never a value.
        let bad = [RegistrySettings {
            password: Some(Secret::Env("SEEDFORGE_TEST_SURELY_UNSET_PW".into())),
            ..entries[0].clone()
        }];
        let err = RegistryAccess::default()
            .add_config(&bad, &config)
            .unwrap_err();
        assert!(err.to_string().contains("registries[0].password"), "{err}");
    }
}
