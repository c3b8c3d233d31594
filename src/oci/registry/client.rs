//! One HTTP client per registry host, shared by every image on that host.
//!
//! `oci-client` does the authentication dance (the `/v2/` challenge, basic credentials,
//! the bearer-token flow with its scopes) and the push side. Pulls are sent here on the
//! same `reqwest` stack because they need what `oci-client` hides: the `Retry-After`
//! header of a 429, the `Content-Type` of a manifest, and `Range` requests to resume a
//! blob. Every request goes through [`RegistryClient::get`], which retries transient
//! failures according to the [`RetryPolicy`].

use super::RegistryError;
use super::retry::{RetryPolicy, parse_retry_after, retryable_status};
use super::settings::{HostAccess, RegistryAccess};
use crate::oci::Digest;
use crate::oci::descriptor::{DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX, OCI_MANIFEST};
use crate::oci::layout::MAX_DOCUMENT_SIZE;
use oci_client::errors::OciDistributionError;
use oci_client::secrets::RegistryAuth;
use oci_client::{RegistryOperation, client::ClientConfig, client::ClientProtocol};
use reqwest::header::{ACCEPT, CONTENT_TYPE, RANGE};
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::runtime::Runtime;

/// The manifest media types asked for, most preferred first.
pub const MANIFEST_ACCEPT: [&str; 4] = [
    OCI_INDEX,
    OCI_MANIFEST,
    DOCKER_MANIFEST_LIST,
    DOCKER_MANIFEST,
];

const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// The registries of one run: their settings, a lazily started async runtime, and one
/// client per host.
pub struct Registries {
    access: RegistryAccess,
    policy: RetryPolicy,
    runtime: OnceLock<Runtime>,
    clients: Mutex<HashMap<String, Arc<RegistryClient>>>,
}

impl fmt::Debug for Registries {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registries")
            .field("access", &self.access)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl Default for Registries {
    fn default() -> Self {
        Registries::new(RegistryAccess::default())
    }
}

impl Registries {
    /// Registries reached with `access`, retried with the default policy.
    pub fn new(access: RegistryAccess) -> Registries {
        Registries {
            access,
            policy: RetryPolicy::default(),
            runtime: OnceLock::new(),
            clients: Mutex::new(HashMap::new()),
        }
    }

    /// The same with another retry policy.
    pub fn with_policy(mut self, policy: RetryPolicy) -> Registries {
        self.policy = policy;
        self
    }

    /// The async runtime the clients run on (started on first use; two worker threads
    /// are plenty for I/O-bound transfers).
    pub fn runtime(&self) -> Result<&Runtime, RegistryError> {
        if let Some(rt) = self.runtime.get() {
            return Ok(rt);
        }
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("seedforge-net")
            .enable_all()
            .build()
            .map_err(|e| {
                RegistryError::Settings(format!("cannot start the network runtime: {e}"))
            })?;
        let _ = self.runtime.set(rt);
        self.runtime
            .get()
            .ok_or_else(|| RegistryError::Settings("network runtime vanished".into()))
    }

    /// The client for `host` (`127.0.0.1:5000`, `docker.io`), created on first use.
    pub fn client(&self, host: &str) -> Result<Arc<RegistryClient>, RegistryError> {
        let mut clients = self
            .clients
            .lock()
            .map_err(|_| RegistryError::Settings("registry client table poisoned".into()))?;
        if let Some(c) = clients.get(host) {
            return Ok(c.clone());
        }
        // reqwest needs a runtime context to build its connection pool.
        let _guard = self.runtime()?.enter();
        let client = Arc::new(RegistryClient::new(
            host,
            &self.access.for_host(host),
            self.policy,
        )?);
        clients.insert(host.to_string(), client.clone());
        Ok(client)
    }
}

/// How requests to one registry authenticate.
#[derive(Debug, Clone)]
enum AuthHeader {
    None,
    Basic,
    Bearer(String),
}

/// A client for one registry host.
pub struct RegistryClient {
    host: String,
    base_url: String,
    http: reqwest::Client,
    oci: oci_client::Client,
    auth: RegistryAuth,
    username: Option<String>,
    password: Option<String>,
    /// By (repository, push); the empty repository holds a host-wide answer.
    tokens: tokio::sync::Mutex<HashMap<(String, bool), AuthHeader>>,
    policy: RetryPolicy,
}

impl fmt::Debug for RegistryClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistryClient")
            .field("host", &self.host)
            .field("base_url", &self.base_url)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// A GET to send: where, what to accept, and from which byte.
pub struct Get<'a> {
    /// The repository (`rancher/mirrored-pause`).
    pub repo: &'a str,
    /// The path below `/v2/<repo>/` (`manifests/3.6`, `blobs/sha256:…`).
    pub path: String,
    /// Accepted media types.
    pub accept: &'a [&'a str],
    /// Resume from this byte with a Range request (0: the whole thing).
    pub offset: u64,
    /// The image, for messages.
    pub image: &'a str,
}

impl RegistryClient {
    fn new(
        host: &str,
        access: &HostAccess,
        policy: RetryPolicy,
    ) -> Result<RegistryClient, RegistryError> {
        let api_host = if host == "docker.io" {
            "registry-1.docker.io"
        } else {
            host
        };
        let scheme = if access.plain_http { "http" } else { "https" };
        let mut pems = Vec::new();
        for file in &access.ca_files {
            let pem = std::fs::read(file).map_err(|e| {
                RegistryError::Settings(format!("{}: cannot read CA file: {e}", file.display()))
            })?;
            pems.push((file.clone(), pem));
        }
        let mut certs = Vec::new();
        for (file, pem) in &pems {
            let bundle = reqwest::Certificate::from_pem_bundle(pem).map_err(|e| {
                RegistryError::Settings(format!(
                    "{}: not a PEM certificate file: {e}",
                    file.display()
                ))
            })?;
            if bundle.is_empty() {
                return Err(RegistryError::Settings(format!(
                    "{}: holds no PEM certificate",
                    file.display()
                )));
            }
            certs.extend(bundle);
        }
        let http = reqwest::Client::builder()
            .tls_certs_merge(certs)
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(READ_TIMEOUT)
            .user_agent(concat!("seedforge/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| {
                RegistryError::Settings(format!("registry {host}: cannot set up HTTP: {e}"))
            })?;
        let oci_config = ClientConfig {
            protocol: if access.plain_http {
                ClientProtocol::Http
            } else {
                ClientProtocol::Https
            },
            extra_root_certificates: pems
                .iter()
                .map(|(_, pem)| oci_client::client::Certificate {
                    encoding: oci_client::client::CertificateEncoding::Pem,
                    data: pem.clone(),
                })
                .collect(),
            use_monolithic_push: true,
            connect_timeout: Some(CONNECT_TIMEOUT),
            read_timeout: Some(READ_TIMEOUT),
            platform_resolver: None,
            ..ClientConfig::default()
        };
        let oci = oci_client::Client::try_from(oci_config)
            .map_err(|e| RegistryError::Settings(format!("registry {host}: {e}")))?;
        let (auth, username, password) = match &access.credentials {
            Some(c) => (
                RegistryAuth::Basic(c.username.clone(), c.password.expose().to_string()),
                Some(c.username.clone()),
                Some(c.password.expose().to_string()),
            ),
            None => (RegistryAuth::Anonymous, None, None),
        };
        Ok(RegistryClient {
            host: host.to_string(),
            base_url: format!("{scheme}://{api_host}"),
            http,
            oci,
            auth,
            username,
            password,
            tokens: tokio::sync::Mutex::new(HashMap::new()),
            policy,
        })
    }

    /// The registry host as references name it.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The retry policy.
    pub fn policy(&self) -> RetryPolicy {
        self.policy
    }

    /// The `oci-client` client (for pushes).
    pub fn oci(&self) -> &oci_client::Client {
        &self.oci
    }

    /// The credentials, as `oci-client` wants them.
    pub fn auth(&self) -> &RegistryAuth {
        &self.auth
    }

    /// An `oci-client` reference to `repo` on this registry.
    pub fn reference(&self, repo: &str, tag: &str) -> oci_client::Reference {
        oci_client::Reference::with_tag(self.host.clone(), repo.to_string(), tag.to_string())
    }

    fn who(&self) -> String {
        match &self.username {
            Some(u) => format!("for user {u:?}; check the username and password"),
            None => "to anonymous requests; give credentials (--username with --password-stdin, `registries:` in the config, or the Docker config file)".to_string(),
        }
    }

    /// Authenticates for `repo` (once, or again with `refresh`) and returns how to sign
    /// requests.
    async fn authorization(
        &self,
        repo: &str,
        push: bool,
        refresh: bool,
        image: &str,
    ) -> Result<AuthHeader, RegistryError> {
        let key = (repo.to_string(), push);
        let mut tokens = self.tokens.lock().await;
        if !refresh {
            // Without a bearer challenge the answer is the same for every repository.
            let host_wide = tokens.get(&(String::new(), push));
            if let Some(h) = host_wide.or_else(|| tokens.get(&key)) {
                return Ok(h.clone());
            }
        }
        let op = if push {
            RegistryOperation::Push
        } else {
            RegistryOperation::Pull
        };
        let reference = self.reference(repo, "latest");
        let mut attempt = 1;
        let token = loop {
            match self.oci.auth(&reference, &self.auth, op).await {
                Ok(t) => break t,
                Err(e) => {
                    let failure = self.classify_oci(e, image);
                    if failure.transient && self.policy.should_retry(attempt) {
                        tokio::time::sleep(self.policy.delay(attempt, None)).await;
                        attempt += 1;
                        continue;
                    }
                    return Err(failure.error);
                }
            }
        };
        let header = match (token, &self.password) {
            (Some(t), _) => AuthHeader::Bearer(t),
            (None, Some(_)) => AuthHeader::Basic,
            (None, None) => AuthHeader::None,
        };
        if !matches!(header, AuthHeader::Bearer(_)) {
            tokens.insert((String::new(), push), header.clone());
        }
        tokens.insert(key, header.clone());
        Ok(header)
    }

    /// Sends a GET, retrying transient failures, re-authenticating once on 401. Returns a
    /// successful response; anything else becomes an error naming the registry and image.
    pub async fn get(&self, get: &Get<'_>) -> Result<reqwest::Response, RegistryError> {
        let url = format!("{}/v2/{}/{}", self.base_url, get.repo, get.path);
        let mut refreshed = false;
        let mut attempt = 1;
        loop {
            let auth = self
                .authorization(get.repo, false, refreshed, get.image)
                .await?;
            let mut request = self.http.get(&url).header(ACCEPT, get.accept.join(", "));
            if get.offset > 0 {
                request = request.header(RANGE, format!("bytes={}-", get.offset));
            }
            request = match &auth {
                AuthHeader::None => request,
                AuthHeader::Basic => request.basic_auth(
                    self.username.clone().unwrap_or_default(),
                    self.password.clone(),
                ),
                AuthHeader::Bearer(t) => request.bearer_auth(t),
            };
            let (retry_after, problem) = match request.send().await {
                Ok(resp) if resp.status().is_success() => return Ok(resp),
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    if (status == 401 || status == 403) && !refreshed {
                        refreshed = true;
                        continue;
                    }
                    if status == 401 || status == 403 {
                        return Err(RegistryError::Unauthorized {
                            registry: self.host.clone(),
                            image: get.image.to_string(),
                            status,
                            who: self.who(),
                        });
                    }
                    if status == 404 {
                        return Err(self.not_found(get));
                    }
                    let retry_after = resp
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(parse_retry_after);
                    if !retryable_status(status) {
                        let body = resp.text().await.unwrap_or_default();
                        return Err(self.transfer(
                            get.image,
                            format!("GET {}: HTTP {status}: {}", get.path, excerpt(&body)),
                        ));
                    }
                    (retry_after, format!("HTTP {status}"))
                }
                Err(e) => {
                    let failure = self.classify_reqwest(&e, get.image);
                    if !failure.transient {
                        return Err(failure.error);
                    }
                    (None, error_chain(&e))
                }
            };
            if !self.policy.should_retry(attempt) {
                return Err(self.transfer(
                    get.image,
                    format!("GET {} failed {attempt} times; last: {problem}", get.path),
                ));
            }
            let wait = self.policy.delay(attempt, retry_after);
            tracing::debug!(
                "{}: GET {}: {problem}; retrying in {wait:?}",
                self.host,
                get.path
            );
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    fn not_found(&self, get: &Get<'_>) -> RegistryError {
        let what = match get.path.strip_prefix("manifests/") {
            Some(r) if r.starts_with("sha256:") => format!("manifest {r} in {}", get.repo),
            Some(r) => format!("image {}:{r} (unknown repository or tag)", get.repo),
            None => format!("{} in {}", get.path.replace("blobs/", "blob "), get.repo),
        };
        RegistryError::NotFound {
            registry: self.host.clone(),
            image: get.image.to_string(),
            what,
        }
    }

    /// A transfer failure on this registry.
    pub fn transfer(&self, image: &str, message: String) -> RegistryError {
        RegistryError::Transfer {
            registry: self.host.clone(),
            image: image.to_string(),
            message,
        }
    }

    /// Fetches a manifest or index by tag or digest, whole: its bytes, media type and
    /// digest. The digest is checked against the one asked for, and against the
    /// registry's `Docker-Content-Digest`; a mismatch is retried, then refused.
    pub async fn manifest(
        &self,
        repo: &str,
        reference: &str,
        image: &str,
    ) -> Result<(Vec<u8>, String, Digest), RegistryError> {
        let get = Get {
            repo,
            path: format!("manifests/{reference}"),
            accept: &MANIFEST_ACCEPT,
            offset: 0,
            image,
        };
        let mut attempt = 1;
        loop {
            let problem = match self.manifest_once(&get).await {
                Ok(Ok(found)) => match check_manifest_digest(reference, &found) {
                    Ok(()) => return Ok((found.bytes, found.media_type, found.digest)),
                    Err(message) => message,
                },
                Ok(Err(message)) => message,
                Err(e) => return Err(e),
            };
            if !self.policy.should_retry(attempt) {
                return Err(RegistryError::Protocol {
                    registry: self.host.clone(),
                    image: image.to_string(),
                    message: format!("manifest {reference}: {problem} (tried {attempt} times)"),
                });
            }
            tokio::time::sleep(self.policy.delay(attempt, None)).await;
            attempt += 1;
        }
    }

    /// One manifest fetch; the inner error is a retryable problem with the body.
    async fn manifest_once(&self, get: &Get<'_>) -> Result<Result<Fetched, String>, RegistryError> {
        let resp = self.get(get).await?;
        let header_digest = resp
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let content_type = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or(v).trim().to_string());
        if resp.content_length().is_some_and(|n| n > MAX_DOCUMENT_SIZE) {
            return Err(RegistryError::Protocol {
                registry: self.host.clone(),
                image: get.image.to_string(),
                message: format!("{} is larger than any manifest should be", get.path),
            });
        }
        let bytes = match resp.bytes().await {
            Ok(b) => b.to_vec(),
            Err(e) => return Ok(Err(format!("reading the body failed: {}", error_chain(&e)))),
        };
        let digest = Digest::of(&bytes);
        if let Some(h) = header_digest
            && h != digest.to_string()
        {
            return Ok(Err(format!(
                "content hashes to {digest}, the registry says {h}"
            )));
        }
        let media_type = content_type
            .filter(|t| MANIFEST_ACCEPT.contains(&t.as_str()))
            .or_else(|| document_media_type(&bytes))
            .ok_or_else(|| RegistryError::Protocol {
                registry: self.host.clone(),
                image: get.image.to_string(),
                message: format!(
                    "{} is neither an image manifest nor an index (Docker schema 1 images are not supported)",
                    get.path
                ),
            })?;
        Ok(Ok(Fetched {
            bytes,
            media_type,
            digest,
        }))
    }

    /// Runs an `oci-client` operation with the retry policy.
    pub async fn retry_oci<T, F, Fut>(
        &self,
        image: &str,
        what: &str,
        mut op: F,
    ) -> Result<T, RegistryError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, OciDistributionError>>,
    {
        let mut attempt = 1;
        loop {
            match op().await {
                Ok(v) => return Ok(v),
                Err(e) => {
                    let failure = self.classify_oci(e, image);
                    if !failure.transient {
                        return Err(failure.error);
                    }
                    if !self.policy.should_retry(attempt) {
                        return Err(self.transfer(
                            image,
                            format!("{what} failed {attempt} times; last: {}", failure.error),
                        ));
                    }
                    tokio::time::sleep(self.policy.delay(attempt, None)).await;
                    attempt += 1;
                }
            }
        }
    }

    fn classify_reqwest(&self, e: &reqwest::Error, image: &str) -> Failure {
        let chain = error_chain(e);
        if is_certificate_problem(&chain) {
            return Failure {
                transient: false,
                error: RegistryError::UntrustedCertificate {
                    registry: self.host.clone(),
                    image: image.to_string(),
                    detail: chain,
                },
            };
        }
        Failure {
            transient: e.is_connect() || e.is_timeout() || e.is_request() || e.is_body(),
            error: self.transfer(image, chain),
        }
    }

    fn classify_oci(&self, e: OciDistributionError, image: &str) -> Failure {
        match e {
            OciDistributionError::RequestError(e) => self.classify_reqwest(&e, image),
            OciDistributionError::ServerError { code, message, .. } => Failure {
                transient: retryable_status(code),
                error: self.status_error(code, &message, image),
            },
            OciDistributionError::UnauthorizedError { .. }
            | OciDistributionError::AuthenticationFailure(_) => Failure {
                transient: false,
                error: RegistryError::Unauthorized {
                    registry: self.host.clone(),
                    image: image.to_string(),
                    status: 401,
                    who: self.who(),
                },
            },
            other => Failure {
                transient: false,
                error: self.transfer(image, other.to_string()),
            },
        }
    }

    fn status_error(&self, code: u16, message: &str, image: &str) -> RegistryError {
        match code {
            401 | 403 => RegistryError::Unauthorized {
                registry: self.host.clone(),
                image: image.to_string(),
                status: code,
                who: self.who(),
            },
            _ => self.transfer(image, format!("HTTP {code}: {}", excerpt(message))),
        }
    }
}

struct Fetched {
    bytes: Vec<u8>,
    media_type: String,
    digest: Digest,
}

/// A failure and whether it is worth retrying.
pub struct Failure {
    /// Retry?
    pub transient: bool,
    /// The error to report if not.
    pub error: RegistryError,
}

fn check_manifest_digest(reference: &str, found: &Fetched) -> Result<(), String> {
    if reference.starts_with("sha256:") && found.digest.to_string() != reference {
        return Err(format!("content hashes to {}", found.digest));
    }
    Ok(())
}

/// The `mediaType` a manifest states about itself.
fn document_media_type(bytes: &[u8]) -> Option<String> {
    let doc = crate::oci::descriptor::ManifestDoc::parse(bytes).ok()?;
    match doc.kind(None)? {
        crate::oci::descriptor::ManifestKind::Index => {
            Some(doc.media_type.unwrap_or(OCI_INDEX.into()))
        }
        crate::oci::descriptor::ManifestKind::Image => {
            Some(doc.media_type.unwrap_or(OCI_MANIFEST.into()))
        }
    }
}

/// An error with its causes, one line.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}

fn is_certificate_problem(chain: &str) -> bool {
    let lower = chain.to_ascii_lowercase();
    ["certificate", "unknownissuer", "x509", "invalid peer"]
        .iter()
        .any(|w| lower.contains(w))
}

/// The start of an error body, on one line.
fn excerpt(body: &str) -> String {
    let one_line: String = body.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() > 200 {
        format!("{}…", one_line.chars().take(200).collect::<String>())
    } else {
        one_line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_problems_are_recognised() {
        assert!(is_certificate_problem(
            "error sending request: client error (Connect): invalid peer certificate: UnknownIssuer"
        ));
        assert!(!is_certificate_problem("connection refused"));
    }

    #[test]
    fn media_type_from_document_shape() {
        assert_eq!(
            document_media_type(br#"{"schemaVersion":2,"manifests":[]}"#).as_deref(),
            Some(OCI_INDEX)
        );
        assert_eq!(document_media_type(br#"{"schemaVersion":1}"#), None);
    }

    #[test]
    fn excerpt_is_short_and_single_line() {
        let long = "a\nb ".repeat(300);
        let e = excerpt(&long);
        assert!(!e.contains('\n') && e.chars().count() <= 201);
    }
}
