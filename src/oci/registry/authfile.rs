//! The credential stores other container tools keep: Docker's `config.json` (`auths`,
//! `credHelpers`, `credsStore`) and the `auth.json` of podman, skopeo and buildah, which
//! has the same shape.
//!
//! The files are read as any input is ([`crate::input`]: a regular file of at most
//! 4 MiB, so a FIFO or `/dev/zero` in their place is refused rather than read forever), and
//! no message about them quotes a value from them: a JSON error gives the position only
//! (serde quotes the value it did not expect, which may be a password).
//!
//! A credential helper is run as Docker runs it ([`super::credhelper`], bounded in time and
//! size): `docker-credential-NAME get`, the server on standard input, a JSON object with
//! `Username` and `Secret` on standard output. A helper's output is never shown (it holds
//! the secret); a missing helper is a warning and the host stays anonymous, as with Docker.

use super::RegistryError;
use super::credhelper;
use super::settings::{Credentials, Password, normalize_host};
use crate::input;
use base64::Engine;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

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
    /// Parses an auth file's text. Errors name the file and the entry or position, never
    /// a value.
    pub fn parse(path: &Path, text: &str) -> Result<AuthFile, String> {
        let raw: RawFile = serde_json::from_str(text).map_err(|e| json_error(path, &e))?;
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
            let creds =
                inline_credentials(&key, entry).map_err(|e| format!("{}: {e}", path.display()))?;
            if let Some(creds) = creds {
                file.auths.entry(normalize_host(&key)).or_insert(creds);
            }
        }
        Ok(file)
    }

    /// Reads the auth file at `path`; `Ok(None)` when there is none.
    pub fn read(path: &Path) -> Result<Option<AuthFile>, RegistryError> {
        let text = match input::read_to_string(path, input::Kind::AuthFile) {
            Ok(t) => t,
            Err(input::InputError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                return Ok(None);
            }
            Err(e) => {
                return Err(RegistryError::Settings(format!(
                    "{}: cannot read credential file: {}",
                    path.display(),
                    e.reason()
                )));
            }
        };
        AuthFile::parse(path, &text)
            .map(Some)
            .map_err(RegistryError::Settings)
    }

    /// The credentials this file gives for `host` (normalised): its credential helper,
    /// else its inline entry, else its credential store.
    pub fn lookup(&self, host: &str) -> Result<Option<Credentials>, RegistryError> {
        if let Some((helper, key)) = self.helpers.get(host) {
            return self.run_helper(helper, &format!("credHelpers entry for {key}"), key);
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
                self.run_helper(store, "credsStore", key)
            }
            None => Ok(None),
        }
    }

    /// Asks `helper` (named by `entry` of this file) for `server`'s credentials.
    fn run_helper(
        &self,
        helper: &str,
        entry: &str,
        server: &str,
    ) -> Result<Option<Credentials>, RegistryError> {
        if !credhelper::valid_name(helper) {
            // Not quoted: it came from the file, and is no name anyway.
            return Err(RegistryError::Settings(format!(
                "{}: the {entry} is not a credential helper name (letters, digits, `.`, `_` and `-`, for docker-credential-NAME on PATH); refusing to run it",
                self.path.display()
            )));
        }
        let program = format!("docker-credential-{helper}");
        let fail = |message: String| {
            RegistryError::Settings(format!(
                "{}: credential helper {program} for {server}: {message}",
                self.path.display()
            ))
        };
        let Some(found) = credhelper::find_on_path(&program) else {
            tracing::warn!(
                "{}: credential helper {program} is not on PATH; {server} is reached without credentials",
                self.path.display()
            );
            return Ok(None);
        };
        let timeout = credhelper::timeout().map_err(RegistryError::Settings)?;
        let Some(answer) = credhelper::get(&found, server, timeout).map_err(fail)? else {
            // "credentials not found in native keychain": anonymous, as with Docker.
            tracing::debug!("{program} has no credentials for {server}");
            return Ok(None);
        };
        let answer: HelperAnswer = serde_json::from_slice(&answer)
            .map_err(|_| fail("its answer is not the JSON a helper gives".into()))?;
        Ok(Some(Credentials {
            username: answer.username,
            password: Password::new(answer.secret),
        }))
    }
}

/// A JSON error in a credential file by position only: serde's own message quotes the
/// value it did not expect, which may be a password (`"password": 12345678`).
fn json_error(path: &Path, e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let what = match e.classify() {
        Category::Eof => "the JSON ends early",
        Category::Syntax => "not valid JSON",
        Category::Data => {
            "a value of the wrong type (user names, passwords and helper names are strings)"
        }
        Category::Io => "cannot be read",
    };
    format!("{}:{}:{}: {what}", path.display(), e.line(), e.column())
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

    #[test]
    fn json_errors_give_the_position_never_the_value() {
        for (text, at) in [
            (
                r#"{"auths":{"h":{"username":"u","password":31415926535}}}"#,
                "1:52",
            ),
            ("{\n\"auths\": {\"h\": {\"auth\": 2718281828}}}", "2:"),
            (r#"{"auths":{"h":{"password":"31415926535"#, "1:"),
            ("{\"credsStore\": 31415926535,}", "1:"),
        ] {
            let e = AuthFile::parse(Path::new("dir/config.json"), text).unwrap_err();
            assert!(e.starts_with(&format!("dir/config.json:{at}")), "{e}");
            assert!(
                !e.contains("31415926535") && !e.contains("2718281828"),
                "{e}"
            );
        }
    }

    #[test]
    fn helper_names_with_a_path_are_refused_naming_the_file() {
        let f =
            parse(r#"{"credHelpers":{"h.example":"x/../../evil.sh"},"credsStore":"../../bin/sh"}"#);
        for host in ["h.example", "other.example"] {
            let e = f.lookup(host).unwrap_err().to_string();
            assert!(e.starts_with("config.json: the cred"), "{e}");
            assert!(!e.contains("evil") && !e.contains("bin/sh"), "{e}");
        }
    }
}
