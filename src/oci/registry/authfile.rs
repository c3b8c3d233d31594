//! The credential stores other container tools keep: Docker's `config.json` (`auths`,
//! `credHelpers`, `credsStore`) and the `auth.json` of podman, skopeo and buildah, which
//! has the same shape.
//!
//! A credential helper is run as Docker runs it: `docker-credential-NAME get`, the server
//! on standard input, a JSON object with `Username` and `Secret` on standard output. A
//! helper's output is never shown (it holds the secret); a missing helper is a warning and
//! the host stays anonymous, as with Docker.

use super::RegistryError;
use super::settings::{Credentials, Password, normalize_host};
use base64::Engine;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The user name Docker stores with an identity token instead of a password.
pub const IDENTITY_TOKEN_USER: &str = "<token>";

/// One parsed auth file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthFile {
    /// Where it was read from (for messages).
    pub path: PathBuf,
    /// `auths`, by normalised host: credentials stored inline.
    auths: BTreeMap<String, Credentials>,
    /// `credHelpers`, by normalised host: the helper name (`pass` for
    /// `docker-credential-pass`), and the key the helper knows the host by.
    helpers: BTreeMap<String, (String, String)>,
    /// `credsStore`: the helper for every host without its own.
    store: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawFile {
    #[serde(default)]
    auths: BTreeMap<String, RawAuth>,
    #[serde(default)]
    cred_helpers: BTreeMap<String, String>,
    #[serde(default)]
    creds_store: Option<String>,
}

#[derive(Deserialize)]
struct RawAuth {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct HelperAnswer {
    username: String,
    secret: String,
}

impl AuthFile {
    /// Parses an auth file's text. Errors name the entry, never a value.
    pub fn parse(path: &Path, text: &str) -> Result<AuthFile, String> {
        let raw: RawFile =
            serde_json::from_str(text).map_err(|e| format!("invalid auth file JSON: {e}"))?;
        let mut file = AuthFile {
            path: path.to_path_buf(),
            store: raw.creds_store.filter(|s| !s.is_empty()),
            ..AuthFile::default()
        };
        for (key, helper) in raw.cred_helpers {
            file.helpers
                .insert(normalize_host(&key), (helper, key.clone()));
        }
        for (key, entry) in raw.auths {
            if let Some(creds) = inline_credentials(&key, entry)? {
                file.auths.entry(normalize_host(&key)).or_insert(creds);
            }
        }
        Ok(file)
    }

    /// Reads the auth file at `path`; `Ok(None)` when there is none.
    pub fn read(path: &Path) -> Result<Option<AuthFile>, RegistryError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(RegistryError::Settings(format!(
                    "{}: cannot read auth file: {e}",
                    path.display()
                )));
            }
        };
        AuthFile::parse(path, &text)
            .map(Some)
            .map_err(|e| RegistryError::Settings(format!("{}: {e}", path.display())))
    }

    /// The credentials this file gives for `host` (normalised): its credential helper,
    /// else its inline entry, else its credential store.
    pub fn lookup(&self, host: &str) -> Result<Option<Credentials>, RegistryError> {
        if let Some((helper, key)) = self.helpers.get(host) {
            return self.run_helper(helper, key);
        }
        if let Some(c) = self.auths.get(host) {
            return Ok(Some(c.clone()));
        }
        match &self.store {
            Some(store) => {
                let key = if host == "docker.io" {
                    "https://index.docker.io/v1/"
                } else {
                    host
                };
                self.run_helper(store, key)
            }
            None => Ok(None),
        }
    }

    fn run_helper(&self, helper: &str, server: &str) -> Result<Option<Credentials>, RegistryError> {
        let program = format!("docker-credential-{helper}");
        let fail = |message: String| {
            RegistryError::Settings(format!(
                "{}: credential helper {program} for {server}: {message}",
                self.path.display()
            ))
        };
        let child = Command::new(&program)
            .arg("get")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn();
        let mut child = match child {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                tracing::warn!(
                    "{}: credential helper {program} is not on PATH; {server} is reached without credentials",
                    self.path.display()
                );
                return Ok(None);
            }
            Err(e) => return Err(fail(format!("cannot run it: {e}"))),
        };
        if let Some(mut stdin) = child.stdin.take() {
            // A helper that exits without reading is judged by its exit status below.
            let _ = stdin.write_all(server.as_bytes());
        }
        let out = child
            .wait_with_output()
            .map_err(|e| fail(format!("cannot run it: {e}")))?;
        if !out.status.success() {
            // "credentials not found in native keychain": anonymous, as with Docker.
            tracing::debug!("{program} has no credentials for {server}");
            return Ok(None);
        }
        let answer: HelperAnswer = serde_json::from_slice(&out.stdout)
            .map_err(|_| fail("its answer is not the JSON a helper gives".into()))?;
        Ok(Some(Credentials {
            username: answer.username,
            password: Password::new(answer.secret),
        }))
    }
}

/// The credentials stored inline in one `auths` entry, if any: an identity token, the
/// base64 `auth` of `user:password`, or `username` and `password` fields.
fn inline_credentials(key: &str, entry: RawAuth) -> Result<Option<Credentials>, String> {
    if let Some(token) = entry.identitytoken.filter(|t| !t.is_empty()) {
        return Ok(Some(Credentials {
            username: IDENTITY_TOKEN_USER.to_string(),
            password: Password::new(token),
        }));
    }
    if let Some(auth) = entry.auth.filter(|a| !a.is_empty()) {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(auth.trim())
            .map_err(|_| format!("auths.{key}.auth is not base64"))?;
        let text =
            String::from_utf8(decoded).map_err(|_| format!("auths.{key}.auth is not UTF-8"))?;
        let (user, password) = text
            .split_once(':')
            .ok_or_else(|| format!("auths.{key}.auth is not user:password"))?;
        return Ok(Some(Credentials {
            username: user.to_string(),
            password: Password::new(password),
        }));
    }
    Ok(match (entry.username, entry.password) {
        (Some(username), Some(password)) => Some(Credentials {
            username,
            password: Password::new(password),
        }),
        _ => None,
    })
}

/// Docker's config file: `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
pub fn docker_config_path() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG") {
        return Some(PathBuf::from(dir).join("config.json"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker").join("config.json"))
}

/// podman's and skopeo's auth file: `$REGISTRY_AUTH_FILE`, else
/// `$XDG_RUNTIME_DIR/containers/auth.json`.
pub fn containers_auth_path() -> Option<PathBuf> {
    if let Some(file) = std::env::var_os("REGISTRY_AUTH_FILE") {
        return Some(PathBuf::from(file));
    }
    std::env::var_os("XDG_RUNTIME_DIR")
        .map(|d| PathBuf::from(d).join("containers").join("auth.json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> AuthFile {
        AuthFile::parse(Path::new("config.json"), text).unwrap()
    }

    #[test]
    fn inline_entries_decode_and_normalise_hosts() {
        let f = parse(
            r#"{"auths":{
            "https://index.docker.io/v1/":{"auth":"dXNlcjpwYTpzcw=="},
            "127.0.0.1:5000":{"username":"u2","password":"p2"},
            "tok.example":{"identitytoken":"refresh"},
            "helper.example":{}
        }}"#,
        );
        let user = |h: &str| f.lookup(h).unwrap().map(|c| c.username);
        assert_eq!(user("docker.io").as_deref(), Some("user"));
        assert_eq!(
            f.lookup("docker.io").unwrap().unwrap().password.expose(),
            "pa:ss"
        );
        assert_eq!(user("127.0.0.1:5000").as_deref(), Some("u2"));
        assert_eq!(user("tok.example").as_deref(), Some(IDENTITY_TOKEN_USER));
        assert_eq!(user("helper.example"), None);
        let e = AuthFile::parse(Path::new("c"), r#"{"auths":{"x":{"auth":"!!"}}}"#).unwrap_err();
        assert!(e.contains("auths.x.auth"), "{e}");
    }

    #[test]
    fn a_missing_helper_leaves_the_host_anonymous() {
        let f = parse(
            r#"{"credHelpers":{"h.example":"seedforge-surely-missing"},"credsStore":"seedforge-surely-missing-too"}"#,
        );
        assert!(f.lookup("h.example").unwrap().is_none());
        assert!(f.lookup("other.example").unwrap().is_none());
    }
}
