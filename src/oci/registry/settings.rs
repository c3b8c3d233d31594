//! How to reach each registry: which CA to trust, whether it speaks plain HTTP, and which
//! credentials to present.
//!
//! Credentials are looked up for one image repository at a time and are only ever sent to
//! its host. The sources, first match wins:
//! 1. the command line (`--username HOST=USER` with `--password-stdin`);
//! 2. the config's `registries:` entry for the host;
//! 3. the auth files of other tools, as podman and skopeo read them: `--authfile FILE`
//!    alone, else `$REGISTRY_AUTH_FILE` alone, else the search of
//!    [`super::authfile::search_paths`] (podman's and skopeo's `auth.json` files, then
//!    Docker's `config.json`, then `~/.dockercfg`). In each file the most specific key
//!    that holds the repository wins ([`AuthFile::lookup`]).
//!
//! The auth files are read when a registry is first about to be reached, once per run: a
//! run that reaches no registry reads none. A searched file that cannot be used (not
//! JSON, not a regular file, too large) is a warning naming it and is skipped, as Docker
//! skips a broken `config.json`; the file chosen with `--authfile` or
//! `$REGISTRY_AUTH_FILE` is an error instead, as it is for podman and skopeo.
//!
//! Each source is read within bounds: the files as capped inputs, helpers with a time
//! and size limit ([`super::authfile`], [`super::credhelper`]).
//!
//! CA files are not kept here but in the network's trust ([`RegistryAccess::net_settings`]).
//! Passwords are held in [`Password`], which never prints its value.

use super::RegistryError;
use super::authfile::{AuthFile, AuthPath, chosen_by_environment, search_paths};
use super::credentials::{Credentials, Password, normalize_host};
use super::credhelper::HelperRuns;
use crate::net::NetSettings;
use crate::redact::Secrets;
use crate::vocab::Secret;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

/// One entry of the config's `registries:` list.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistrySettings {
    /// The registry host as image references name it (`registry.example.com:5000`).
    pub host: String,
    /// A PEM file with the CA (or CAs) to trust for this host, relative to the config.
    #[serde(default)]
    pub ca_file: Option<crate::winpath::LinuxPath>,
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

/// Everything needed to talk to one registry host.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostAccess {
    /// Extra CA certificates (PEM files) to trust for this host only.
    pub ca_files: Vec<PathBuf>,
    /// Plain HTTP instead of HTTPS.
    pub plain_http: bool,
    /// Credentials; `None` means anonymous.
    pub credentials: Option<Credentials>,
}

/// Settings for every registry a run may talk to.
#[derive(Debug, Clone, Default)]
pub struct RegistryAccess {
    hosts: BTreeMap<String, HostAccess>,
    /// CA files trusted for every host (`--ca-file`).
    pub ca_files: Vec<PathBuf>,
    /// Credentials from the command line, by normalised host.
    pub command_line: BTreeMap<String, Credentials>,
    /// Hosts that speak plain HTTP (`--plain-http`).
    pub plain_http: Vec<String>,
    /// Auth files of other tools already read, most important first (before those of
    /// [`RegistryAccess::add_auth_files`]).
    pub auth_files: Vec<AuthFile>,
    /// Which auth files to read when a registry is first reached.
    auth_choice: AuthChoice,
    /// Those files, read once (or why the chosen one cannot be used).
    auth_read: OnceLock<Result<Vec<AuthFile>, String>>,
    /// The run's secrets: each password these settings resolve or find (the config's,
    /// an auth file's, a credential helper's answer) is registered here.
    pub secrets: Secrets,
    /// What the credential helpers answered in this run (each is asked once).
    helpers: Arc<HelperRuns>,
}

/// Which auth files of other tools a run reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
enum AuthChoice {
    /// None (a run that was not asked to: offline, or library use).
    #[default]
    None,
    /// This one alone (`--authfile` or `$REGISTRY_AUTH_FILE`): an error in it is an error.
    Chosen(PathBuf),
    /// The search of containers-auth.json(5): a file that cannot be used is skipped.
    Search,
}

impl RegistryAccess {
    /// No settings yet, for a run whose secrets are `secrets`.
    pub fn new(secrets: Secrets) -> RegistryAccess {
        RegistryAccess {
            secrets,
            ..RegistryAccess::default()
        }
    }

    /// Adds (or replaces) the settings of one host.
    pub fn set_host(&mut self, host: &str, access: HostAccess) {
        self.hosts.insert(normalize_host(host), access);
    }

    /// Command-line credentials for `host` only.
    pub fn set_command_line(&mut self, host: &str, credentials: Credentials) {
        self.command_line.insert(normalize_host(host), credentials);
    }

    /// Adds the config's `registries:` entries, resolving password secrets against the
    /// config file at `config_path`.
    pub fn add_config(
        &mut self,
        entries: &[RegistrySettings],
        config_path: &Path,
    ) -> Result<(), crate::vocab::SecretError> {
        let dir = config_path.parent().unwrap_or(Path::new("."));
        for (i, e) in entries.iter().enumerate() {
            let credentials = match (&e.username, &e.password) {
                (Some(user), Some(secret)) => {
                    let what = format!("registries[{i}].password");
                    let value = secret.resolve_registered(&what, config_path, &self.secrets)?;
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

    /// Takes credentials from the auth files of other tools, as podman and skopeo do:
    /// `authfile` (`--authfile`, which must exist) alone, else `$REGISTRY_AUTH_FILE` alone,
    /// else the files of [`search_paths`]. Nothing is read here: the files are read when
    /// a registry is first about to be reached (see the module docs).
    pub fn add_auth_files(&mut self, authfile: Option<&Path>) -> Result<(), RegistryError> {
        self.auth_choice = match authfile {
            Some(path) => {
                // As podman: a file named on the command line must be there.
                if std::fs::metadata(path).is_err() {
                    return Err(RegistryError::Settings(format!(
                        "--authfile {}: no such file",
                        path.display()
                    )));
                }
                AuthChoice::Chosen(path.to_path_buf())
            }
            None => chosen_by_environment().map_or(AuthChoice::Search, AuthChoice::Chosen),
        };
        Ok(())
    }

    /// The auth files, read on first use.
    fn read_auth_files(&self) -> Result<&[AuthFile], RegistryError> {
        let read = self.auth_read.get_or_init(|| match &self.auth_choice {
            AuthChoice::None => Ok(Vec::new()),
            AuthChoice::Chosen(path) => AuthFile::read(&AuthPath::new(path))
                .map(|f| f.into_iter().collect())
                .map_err(|e| e.to_string()),
            AuthChoice::Search => Ok(search_paths()
                .iter()
                .filter_map(|at| match AuthFile::read(at) {
                    Ok(file) => file,
                    Err(e) => {
                        tracing::warn!("{e}; its credentials are not used");
                        None
                    }
                })
                .collect()),
        });
        read.as_deref()
            .map_err(|e| RegistryError::Settings(e.clone()))
    }

    /// The network settings these registries need on top of `base`: `--ca-file` for
    /// every host, each entry's `ca_file` for its host only.
    pub fn net_settings(&self, mut base: NetSettings) -> NetSettings {
        base.ca_files.extend(self.ca_files.iter().cloned());
        for (host, access) in &self.hosts {
            if !access.ca_files.is_empty() {
                base.host_ca_files
                    .entry(host.clone())
                    .or_default()
                    .extend(access.ca_files.iter().cloned());
            }
        }
        base
    }

    /// The settings for `host` as a whole (see [`RegistryAccess::for_repository`]).
    pub fn for_host(&self, host: &str) -> Result<HostAccess, RegistryError> {
        self.for_repository(host, "").map(|(access, _)| access)
    }

    /// The settings for the repository `repository` (`team/app`; empty for the whole
    /// host) on `host`: the host's own entry, the plain-HTTP flag, and the credentials of
    /// the first source that has some for it (see the module docs). With them comes their
    /// scope: the auth file key they were found under (`host:5000/team`), else the host;
    /// repositories of one scope can share a client.
    pub fn for_repository(
        &self,
        host: &str,
        repository: &str,
    ) -> Result<(HostAccess, String), RegistryError> {
        let key = normalize_host(host);
        let mut access = self.hosts.get(&key).cloned().unwrap_or_default();
        if self.plain_http.iter().any(|h| normalize_host(h) == key) {
            access.plain_http = true;
        }
        if let Some(c) = self.command_line.get(&key) {
            access.credentials = Some(c.clone());
        }
        let mut scope = key.clone();
        if access.credentials.is_none() {
            let wanted = match repository.trim_matches('/') {
                "" => key.clone(),
                repo => format!("{key}/{repo}"),
            };
            let read = self.read_auth_files()?;
            for file in self.auth_files.iter().chain(read) {
                if let Some((c, found)) = file.lookup(&wanted, &self.helpers)? {
                    self.secrets.register(c.password.expose());
                    access.credentials = Some(c);
                    scope = found;
                    break;
                }
            }
        }
        Ok((access, scope))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_go_to_their_host_only() {
        let mut access = RegistryAccess {
            plain_http: vec!["127.0.0.1:5000".into()],
            ..Default::default()
        };
        access.set_command_line(
            "cli.example",
            Credentials {
                username: "cli".into(),
                password: Password::new("p"),
            },
        );
        access.auth_files.push(
            AuthFile::parse(
                Path::new("auth.json"),
                r#"{"auths":{"r.example":{"username":"file","password":"d"},"cli.example":{"username":"no","password":"no"}}}"#,
            )
            .unwrap(),
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
        let user = |h: &str| access.for_host(h).unwrap().credentials.map(|c| c.username);
        assert_eq!(user("own.example").as_deref(), Some("own"));
        assert_eq!(user("cli.example").as_deref(), Some("cli"));
        assert_eq!(user("r.example").as_deref(), Some("file"));
        assert_eq!(user("elsewhere.example"), None);
        assert!(access.for_host("127.0.0.1:5000").unwrap().plain_http);
        assert!(!access.for_host("127.0.0.1:5001").unwrap().plain_http);
        assert_eq!(
            format!("{:?}", access.for_host("cli.example").unwrap().credentials),
            r#"Some(Credentials { username: "cli", password: Password(<redacted>) })"#
        );
    }

    #[test]
    fn a_repository_takes_the_credentials_of_its_most_specific_key() {
        let mut access = RegistryAccess::default();
        access.auth_files.push(
            AuthFile::parse(
                Path::new("auth.json"),
                r#"{"auths":{"r.example:5000":{"username":"host","password":"h"},"r.example:5000/team":{"username":"team","password":"t"}}}"#,
            )
            .unwrap(),
        );
        let found = |access: &RegistryAccess, repo: &str| {
            let (a, scope) = access.for_repository("r.example:5000", repo).unwrap();
            (a.credentials.unwrap().username, scope)
        };
        let pair = |u: &str, s: &str| (u.to_string(), s.to_string());
        assert_eq!(
            found(&access, "team/app"),
            pair("team", "r.example:5000/team")
        );
        assert_eq!(found(&access, "other/app"), pair("host", "r.example:5000"));
        assert_eq!(found(&access, ""), pair("host", "r.example:5000"));
        // The command line names a host: it wins for every repository there.
        access.set_command_line(
            "r.example:5000",
            Credentials {
                username: "cli".into(),
                password: Password::new("c"),
            },
        );
        assert_eq!(found(&access, "team/app"), pair("cli", "r.example:5000"));
    }

    #[test]
    fn config_entries_resolve_secrets_and_paths_against_the_config() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pw.txt"), "from-file\n").unwrap();
        let config = dir.path().join("seedforge.yaml");
        let entries = [
            RegistrySettings {
                host: "a.example:5000".into(),
                ca_file: Some(crate::winpath::LinuxPath::parse("certs/ca.pem").unwrap()),
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
        let a = access.for_host("a.example:5000").unwrap();
        assert_eq!(a.ca_files, [dir.path().join("certs/ca.pem")]);
        let net = access.net_settings(NetSettings::default());
        assert_eq!(
            net.host_ca_files["a.example:5000"],
            [dir.path().join("certs/ca.pem")]
        );
        let creds = a.credentials.unwrap();
        assert_eq!(
            (creds.username.as_str(), creds.password.expose()),
            ("alice", "from-file")
        );
        let b = access.for_host("b.example").unwrap();
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
