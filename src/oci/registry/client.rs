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
use super::settings::HostAccess;
use oci_client::errors::OciDistributionError;
use oci_client::secrets::RegistryAuth;
use oci_client::{RegistryOperation, client::ClientConfig, client::ClientProtocol};
use reqwest::header::{ACCEPT, RANGE};
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::time::Duration;

pub(super) const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
const READ_TIMEOUT: Duration = Duration::from_secs(60);

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
    pub(super) fn new(
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
            let (retry_after, problem) = match self.send_once(&url, get, &auth).await? {
                Sent::Done(resp) => return Ok(resp),
                Sent::Refused(_) if !refreshed => {
                    // The token may have expired: authenticate again, once.
                    refreshed = true;
                    continue;
                }
                Sent::Refused(status) => {
                    return Err(RegistryError::Unauthorized {
                        registry: self.host.clone(),
                        image: get.image.to_string(),
                        status,
                        who: self.who(),
                    });
                }
                Sent::Transient {
                    retry_after,
                    problem,
                } => (retry_after, problem),
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

    /// Sends one GET and sorts the answer: success, refusal, transient failure, or (as an
    /// error) anything that retrying cannot fix.
    async fn send_once(
        &self,
        url: &str,
        get: &Get<'_>,
        auth: &AuthHeader,
    ) -> Result<Sent, RegistryError> {
        let mut request = self.http.get(url).header(ACCEPT, get.accept.join(", "));
        if get.offset > 0 {
            request = request.header(RANGE, format!("bytes={}-", get.offset));
        }
        request = match auth {
            AuthHeader::None => request,
            AuthHeader::Basic => request.basic_auth(
                self.username.clone().unwrap_or_default(),
                self.password.clone(),
            ),
            AuthHeader::Bearer(t) => request.bearer_auth(t),
        };
        let resp = match request.send().await {
            Ok(resp) => resp,
            Err(e) => {
                let failure = self.classify_reqwest(&e, get.image);
                if !failure.transient {
                    return Err(failure.error);
                }
                return Ok(Sent::Transient {
                    retry_after: None,
                    problem: error_chain(&e),
                });
            }
        };
        let status = resp.status().as_u16();
        match status {
            _ if resp.status().is_success() => Ok(Sent::Done(resp)),
            401 | 403 => Ok(Sent::Refused(status)),
            404 => Err(self.not_found(get)),
            _ if retryable_status(status) => Ok(Sent::Transient {
                retry_after: resp
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(parse_retry_after),
                problem: format!("HTTP {status}"),
            }),
            _ => {
                let body = resp.text().await.unwrap_or_default();
                Err(self.transfer(
                    get.image,
                    format!("GET {}: HTTP {status}: {}", get.path, excerpt(&body)),
                ))
            }
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
        if is_plain_http_answer(&chain) {
            return Failure {
                transient: false,
                error: RegistryError::NotTls {
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

/// How one request went.
enum Sent {
    Done(reqwest::Response),
    Refused(u16),
    Transient {
        retry_after: Option<Duration>,
        problem: String,
    },
}

/// A failure and whether it is worth retrying.
pub struct Failure {
    /// Retry?
    pub transient: bool,
    /// The error to report if not.
    pub error: RegistryError,
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

/// rustls's complaint when the server answers the handshake with plain HTTP.
fn is_plain_http_answer(chain: &str) -> bool {
    chain.contains("InvalidContentType") || chain.contains("corrupt message")
}

fn is_certificate_problem(chain: &str) -> bool {
    let lower = chain.to_ascii_lowercase();
    ["certificate", "unknownissuer", "x509", "invalid peer"]
        .iter()
        .any(|w| lower.contains(w))
}

/// The start of an error body, on one line.
pub(super) fn excerpt(body: &str) -> String {
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
        assert!(is_plain_http_answer(
            "client error (Connect): received corrupt message of type InvalidContentType"
        ));
    }

    #[test]
    fn excerpt_is_short_and_single_line() {
        let long = "a\nb ".repeat(300);
        let e = excerpt(&long);
        assert!(!e.contains('\n') && e.chars().count() <= 201);
    }
}
