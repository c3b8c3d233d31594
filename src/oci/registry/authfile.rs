//! The credential stores other container tools keep: Docker's `config.json` (`auths`,
//! `credHelpers`, `credsStore`), the `auth.json` of podman, skopeo and buildah, which has
//! the same shape, and Docker's legacy `~/.dockercfg` (the `auths` map alone).
//!
//! Where they are looked for and how a key matches an image follow containers-auth.json(5)
//! ([`search_paths`], [`AuthFile::lookup`]): an `auths` key may name a registry
//! (`host:port`), a namespace or a repository in it (`host:port/team`), and the most specific
//! key that holds the image's repository wins; Docker's URL keys
//! (`https://index.docker.io/v1/`) match their host.
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
use super::credentials::{Credentials, Password, normalize_host};
use super::credhelper::{self, HelperRuns};
use crate::input;
use base64::Engine;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The user name Docker stores with an identity token instead of a password.
pub const IDENTITY_TOKEN_USER: &str = "<token>";

/// Where an auth file is, and whether it has the legacy `~/.dockercfg` shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthPath {
    /// The file.
    pub path: PathBuf,
    /// `~/.dockercfg`: the `auths` map is the whole file, its keys name hosts only.
    pub legacy: bool,
}

impl AuthPath {
    /// A file of the current shape (`{"auths": …}`).
    pub fn new(path: impl Into<PathBuf>) -> AuthPath {
        AuthPath {
            path: path.into(),
            legacy: false,
        }
    }
}

/// One parsed auth file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthFile {
    /// Where it was read from (for messages).
    pub path: PathBuf,
    /// The legacy `~/.dockercfg` shape: keys are matched by host only.
    legacy: bool,
    /// `auths`, by key as written: credentials stored inline.
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
    auths: BTreeMap<String, Object<RawAuth>>,
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

/// `T` read from a JSON object only. serde's derived structs also take an array of their
/// fields in order (`[]` for a struct whose fields all have defaults), a shape no tool
/// writes: an auth file, an `auths` entry or a helper's answer of any other shape is
/// refused, not read as empty.
struct Object<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for Visit<T> {
            type Value = T;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(serde::de::value::MapAccessDeserializer::new(map))
            }
        }
        d.deserialize_map(Visit(std::marker::PhantomData))
            .map(Object)
    }
}

impl AuthFile {
    /// Parses an auth file's text. Errors name the file and the entry or position, never
    /// a value.
    pub fn parse(path: &Path, text: &str) -> Result<AuthFile, String> {
        let Object(raw): Object<RawFile> =
            serde_json::from_str(text).map_err(|e| json_error(path, text, &e))?;
        AuthFile::from_raw(path, false, raw)
    }

    /// Parses the text of a legacy `~/.dockercfg`: the `auths` map alone.
    pub fn parse_legacy(path: &Path, text: &str) -> Result<AuthFile, String> {
        let auths: BTreeMap<String, Object<RawAuth>> =
            serde_json::from_str(text).map_err(|e| json_error(path, text, &e))?;
        let raw = RawFile {
            auths,
            cred_helpers: BTreeMap::new(),
            creds_store: None,
        };
        AuthFile::from_raw(path, true, raw)
    }

    fn from_raw(path: &Path, legacy: bool, raw: RawFile) -> Result<AuthFile, String> {
        let mut file = AuthFile {
            path: path.to_path_buf(),
            legacy,
            store: raw.creds_store.filter(|s| !s.is_empty()),
            ..AuthFile::default()
        };
        for (key, helper) in raw.cred_helpers {
            file.helpers
                .insert(normalize_host(&key), (helper, key.clone()));
        }
        for (key, Object(entry)) in raw.auths {
            let creds =
                inline_credentials(&key, entry).map_err(|e| format!("{}: {e}", path.display()))?;
            if let Some(creds) = creds {
                file.auths.insert(key, creds);
            }
        }
        Ok(file)
    }

    /// Reads the auth file at `at`; `Ok(None)` when there is none.
    pub fn read(at: &AuthPath) -> Result<Option<AuthFile>, RegistryError> {
        let path = at.path.as_path();
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
        let parsed = if at.legacy {
            AuthFile::parse_legacy(path, &text)
        } else {
            AuthFile::parse(path, &text)
        };
        parsed.map(Some).map_err(RegistryError::Settings)
    }

    /// The credentials this file gives for `repository` (`host[:port]/path`, the host
    /// normalised; the host alone asks for the registry), with the key they were found
    /// under (the credentials' scope): the host's credential helper; else the most
    /// specific `auths` key among the repository, its parents and the host (the host
    /// alone in a legacy file); else an `auths` URL key of the host
    /// (`https://host/v1/`); else the credential store.
    /// Credential helpers are run through `helpers`, the run's (each asked once).
    pub fn lookup(
        &self,
        repository: &str,
        helpers: &HelperRuns,
    ) -> Result<Option<(Credentials, String)>, RegistryError> {
        let host = repository.split('/').next().unwrap_or(repository);
        let scoped = |c: Option<Credentials>| c.map(|c| (c, host.to_string()));
        if let Some((helper, key)) = self.helpers.get(host) {
            let entry = format!("credHelpers entry for {key}");
            let found = self.run_helper(helper, &entry, key, helpers)?;
            return Ok(scoped(found));
        }
        let mut key = if self.legacy { host } else { repository };
        loop {
            if let Some(c) = self.auths.get(key) {
                return Ok(Some((c.clone(), key.to_string())));
            }
            match key.rsplit_once('/') {
                Some((parent, _)) => key = parent,
                None => break,
            }
        }
        let by_url = self
            .auths
            .iter()
            .find(|(k, _)| normalize_key(k, self.legacy) == host);
        if let Some((_, c)) = by_url {
            return Ok(scoped(Some(c.clone())));
        }
        match &self.store {
            Some(store) => {
                let key = if host == "docker.io" {
                    "https://index.docker.io/v1/"
                } else {
                    host
                };
                Ok(scoped(self.run_helper(
                    store,
                    "credsStore",
                    key,
                    helpers,
                )?))
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
        helpers: &HelperRuns,
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
            // Once per run and helper, not once per image.
            if helpers.first_warning(format!("{program} {server}")) {
                tracing::warn!(
                    "{}: credential helper {program} is not on PATH; {server} is reached without credentials",
                    self.path.display()
                );
            }
            return Ok(None);
        };
        let timeout = credhelper::timeout().map_err(RegistryError::Settings)?;
        let Some(answer) = helpers.get_once(&found, server, timeout).map_err(fail)? else {
            // "credentials not found in native keychain": anonymous, as with Docker.
            tracing::debug!("{program} has no credentials for {server}");
            return Ok(None);
        };
        let Object(answer): Object<HelperAnswer> = serde_json::from_slice(&answer)
            .map_err(|_| fail("its answer is not the JSON a helper gives".into()))?;
        Ok(Some(Credentials {
            username: answer.username,
            password: Password::new(answer.secret),
        }))
    }
}

/// A JSON error in a credential file by position only: serde's own message quotes the
/// value it did not expect, which may be a password (`"password": 12345678`). A file
/// whose top level is not an object is said to be so.
fn json_error(path: &Path, text: &str, e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let top = text.trim_start_matches([' ', '\t', '\n', '\r']);
    let kind = match top.bytes().next() {
        Some(b'[') => Some("an array"),
        Some(b'"') => Some("a string"),
        Some(b't' | b'f') => Some("a boolean"),
        Some(b'n') => Some("null"),
        Some(b'-' | b'0'..=b'9') => Some("a number"),
        _ => None,
    };
    if let Some(kind) = kind
        && e.classify() == Category::Data
    {
        return format!(
            "{}: the file is {kind}, where an auth file holds a JSON object",
            path.display()
        );
    }
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

/// The host an `auths` key names when it is written as a URL (`https://host/v1/`, as
/// `docker login` wrote them for years) or stands in a legacy file; any other key as it is.
/// Docker Hub's aliases are one host.
fn normalize_key(key: &str, legacy: bool) -> String {
    let stripped = key
        .strip_prefix("http://")
        .or_else(|| key.strip_prefix("https://"));
    let host = match stripped {
        Some(rest) => rest.split('/').next().unwrap_or(rest),
        None if legacy => key.split('/').next().unwrap_or(key),
        None => key,
    };
    normalize_host(host)
}

/// The file chosen by `$REGISTRY_AUTH_FILE`, if it is set (and not empty): podman and
/// skopeo take it as the default of `--authfile`, and read it alone.
pub fn chosen_by_environment() -> Option<PathBuf> {
    std::env::var_os("REGISTRY_AUTH_FILE")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// The files searched when none is chosen, in the order of containers-auth.json(5):
/// 1. `$XDG_RUNTIME_DIR/containers/auth.json`, or `/run/containers/$UID/auth.json` when
///    the variable is unset (where `podman login` and `skopeo login` write); a variable
///    naming a folder that does not exist is a warning and the file is skipped;
/// 2. `$XDG_CONFIG_HOME/containers/auth.json`, else `~/.config/containers/auth.json`;
/// 3. `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`;
/// 4. `~/.dockercfg` (legacy shape).
pub fn search_paths() -> Vec<AuthPath> {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    let home = var("HOME").map(PathBuf::from);
    let mut paths = Vec::new();
    match var("XDG_RUNTIME_DIR").map(PathBuf::from) {
        Some(dir) if !dir.is_dir() => tracing::warn!(
            "XDG_RUNTIME_DIR names {}, which is not a folder; its containers/auth.json is not read",
            dir.display()
        ),
        Some(dir) => paths.push(AuthPath::new(dir.join("containers/auth.json"))),
        None => paths.push(AuthPath::new(format!(
            "/run/containers/{}/auth.json",
            rustix::process::getuid().as_raw()
        ))),
    }
    match var("XDG_CONFIG_HOME").map(PathBuf::from) {
        Some(dir) => paths.push(AuthPath::new(dir.join("containers/auth.json"))),
        None => paths.extend(
            home.iter()
                .map(|h| AuthPath::new(h.join(".config/containers/auth.json"))),
        ),
    }
    match var("DOCKER_CONFIG").map(PathBuf::from) {
        Some(dir) => paths.push(AuthPath::new(dir.join("config.json"))),
        None => paths.extend(
            home.iter()
                .map(|h| AuthPath::new(h.join(".docker/config.json"))),
        ),
    }
    paths.extend(home.iter().map(|h| AuthPath {
        path: h.join(".dockercfg"),
        legacy: true,
    }));
    paths
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
        let user = |h: &str| {
            f.lookup(h, &HelperRuns::default())
                .unwrap()
                .map(|(c, _)| c.username)
        };
        assert_eq!(user("docker.io").as_deref(), Some("user"));
        assert_eq!(user("docker.io/library/alpine").as_deref(), Some("user"));
        assert_eq!(
            f.lookup("docker.io", &HelperRuns::default())
                .unwrap()
                .unwrap()
                .0
                .password
                .expose(),
            "pa:ss"
        );
        assert_eq!(user("127.0.0.1:5000").as_deref(), Some("u2"));
        assert_eq!(user("tok.example").as_deref(), Some(IDENTITY_TOKEN_USER));
        assert_eq!(user("helper.example"), None);
        let e = AuthFile::parse(Path::new("c"), r#"{"auths":{"x":{"auth":"!!"}}}"#).unwrap_err();
        assert!(e.contains("auths.x.auth"), "{e}");
    }

    #[test]
    fn the_most_specific_key_of_the_repository_wins() {
        let f = parse(
            r#"{"auths":{
            "r.example:5000":{"username":"host","password":"p"},
            "r.example:5000/team":{"username":"team","password":"p"},
            "r.example:5000/team/app":{"username":"app","password":"p"},
            "https://other.example/v1/":{"username":"url","password":"p"},
            "other.example/ns":{"username":"ns","password":"p"}
        }}"#,
        );
        let found = |r: &str| {
            f.lookup(r, &HelperRuns::default())
                .unwrap()
                .map(|(c, scope)| (c.username, scope))
        };
        let pair = |u: &str, s: &str| Some((u.to_string(), s.to_string()));
        assert_eq!(
            found("r.example:5000/team/app"),
            pair("app", "r.example:5000/team/app")
        );
        assert_eq!(
            found("r.example:5000/team/app2"),
            pair("team", "r.example:5000/team")
        );
        assert_eq!(
            found("r.example:5000/team/x/y"),
            pair("team", "r.example:5000/team")
        );
        assert_eq!(
            found("r.example:5000/teams/x"),
            pair("host", "r.example:5000")
        );
        assert_eq!(found("r.example:5000"), pair("host", "r.example:5000"));
        assert_eq!(found("r.example:5001/team/app"), None);
        // A URL key names its host; a namespace key only its namespace.
        assert_eq!(found("other.example/lib/x"), pair("url", "other.example"));
        assert_eq!(found("other.example/ns/x"), pair("ns", "other.example/ns"));
    }

    #[test]
    fn a_legacy_dockercfg_matches_by_host() {
        let f = AuthFile::parse_legacy(
            Path::new(".dockercfg"),
            r#"{"https://r.example/v1/":{"auth":"bGVnYWN5OnB3","email":"a@b"},"r2.example/ns":{"auth":"bGVnYWN5OnB3"}}"#,
        )
        .unwrap();
        let user = |r: &str| {
            f.lookup(r, &HelperRuns::default())
                .unwrap()
                .map(|(c, _)| c.username)
        };
        assert_eq!(user("r.example/lib/x").as_deref(), Some("legacy"));
        assert_eq!(user("r2.example/ns/x").as_deref(), Some("legacy"));
        assert_eq!(user("r3.example/x"), None);
        assert!(AuthFile::parse_legacy(Path::new("c"), r#"{"h":5}"#).is_err());
    }

    #[test]
    fn the_search_follows_containers_auth_json() {
        // The process environment is shared by the unit tests: this one only reads it.
        let paths = search_paths();
        let names: Vec<_> = paths
            .iter()
            .map(|p| (p.path.file_name().unwrap().to_str().unwrap(), p.legacy))
            .collect();
        let set = |v: &str| std::env::var_os(v).is_some_and(|v| !v.is_empty());
        let (home, docker) = (set("HOME"), set("DOCKER_CONFIG"));
        let mut want = vec![("auth.json", false)];
        if home || set("XDG_CONFIG_HOME") {
            want.push(("auth.json", false));
        }
        if home || docker {
            want.push(("config.json", false));
        }
        if home {
            want.push((".dockercfg", true));
        }
        if !set("XDG_RUNTIME_DIR") {
            let uid = rustix::process::getuid().as_raw();
            assert_eq!(
                paths[0].path,
                PathBuf::from(format!("/run/containers/{uid}/auth.json"))
            );
            assert_eq!(names, want, "{paths:?}");
        }
    }

    #[test]
    fn a_missing_helper_leaves_the_host_anonymous() {
        let f = parse(
            r#"{"credHelpers":{"h.example":"seedforge-surely-missing"},"credsStore":"seedforge-surely-missing-too"}"#,
        );
        assert!(
            f.lookup("h.example", &HelperRuns::default())
                .unwrap()
                .is_none()
        );
        assert!(
            f.lookup("other.example", &HelperRuns::default())
                .unwrap()
                .is_none()
        );
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
    fn a_file_or_entry_that_is_not_an_object_is_refused_naming_the_file() {
        for (text, kind) in [
            ("[]", "an array"),
            (" \n[{\"auths\": {}}]", "an array"),
            ("\"s3cret\"", "a string"),
            ("31415926535", "a number"),
            ("-1", "a number"),
            ("null", "null"),
            ("true", "a boolean"),
            ("false", "a boolean"),
        ] {
            for legacy in [false, true] {
                let path = Path::new("dir/config.json");
                let e = if legacy {
                    AuthFile::parse_legacy(path, text)
                } else {
                    AuthFile::parse(path, text)
                }
                .unwrap_err();
                assert_eq!(
                    e,
                    format!(
                        "dir/config.json: the file is {kind}, where an auth file holds a JSON object"
                    ),
                    "{text}"
                );
            }
        }
        // An entry in the shape of an array is refused too, by its position.
        for text in [
            r#"{"auths": {"h": []}}"#,
            r#"{"auths": {"h": ["dXNlcjpwdw=="]}}"#,
        ] {
            let e = AuthFile::parse(Path::new("config.json"), text).unwrap_err();
            assert!(e.starts_with("config.json:1:"), "{e}");
            assert!(!e.contains("dXNlcjpwdw"), "{e}");
        }
        let e = AuthFile::parse_legacy(Path::new(".dockercfg"), r#"{"h": []}"#).unwrap_err();
        assert!(e.starts_with(".dockercfg:1:"), "{e}");
        // An object is read as before, whitespace around it or not.
        assert_eq!(parse(" \n {} ").auths, BTreeMap::new());
    }

    #[test]
    fn helper_names_with_a_path_are_refused_naming_the_file() {
        let f =
            parse(r#"{"credHelpers":{"h.example":"x/../../evil.sh"},"credsStore":"../../bin/sh"}"#);
        for host in ["h.example", "other.example"] {
            let e = f
                .lookup(host, &HelperRuns::default())
                .unwrap_err()
                .to_string();
            assert!(e.starts_with("config.json: the cred"), "{e}");
            assert!(!e.contains("evil") && !e.contains("bin/sh"), "{e}");
        }
    }
}
