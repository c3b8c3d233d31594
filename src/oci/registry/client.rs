//! One HTTP client per registry host, shared by every image on that host.
//!
//! `oci-client` does the authentication dance (the `/v2/` challenge, basic credentials,
//! the bearer-token flow with its scopes) and the push side. Pulls are sent here on the
//! same `reqwest` stack because they need what `oci-client` hides: the `Retry-After`
//! header of a 429, the `Content-Type` of a manifest, and `Range` requests to resume a
//! blob. Every request goes through [`RegistryClient::get`], which retries transient
//! failures according to the [`RetryPolicy`] within the request's [`Budget`], with the
//! time limits [`Limits::cut`] decides for its kind of transfer.

use super::RegistryError;
use super::settings::HostAccess;
use crate::net::fetch::Watch;
use crate::net::limits::seconds;
use crate::net::retry::{RetryPolicy, parse_retry_after, retryable_status};
use crate::net::{Budget, Limits, Net, Transfer};
use oci_client::errors::OciDistributionError;
use oci_client::secrets::RegistryAuth;
use oci_client::{RegistryOperation, client::ClientConfig, client::ClientProtocol};
use reqwest::Method;
use reqwest::header::{ACCEPT, RANGE};
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::time::{Duration, Instant};

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
    limits: Limits,
    /// `HOST:PORT` to look up before the first request, when no proxy stands between
    /// (with one, the proxy resolves the name); `None` for an address.
    lookup: Option<String>,
    /// The lookup's outcome, once.
    resolved: tokio::sync::OnceCell<Result<(), String>>,
    /// Whether the registry has the OCI 1.1 referrers API: 0 not known yet, 1 yes, 2 no
    /// (a registry has it or not; it is asked once, not once an image).
    referrers_api: std::sync::atomic::AtomicU8,
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
    /// A document (manifest, index) or a bulk body (a blob): decides the deadline.
    pub kind: Transfer,
}

impl RegistryClient {
    pub(super) fn new(
        host: &str,
        access: &HostAccess,
        net: &Net,
    ) -> Result<RegistryClient, RegistryError> {
        let api_host = if host == "docker.io" {
            "registry-1.docker.io"
        } else {
            host
        };
        let scheme = if access.plain_http { "http" } else { "https" };
        let settings = |e: crate::net::NetError| RegistryError::Settings(e.to_string());
        let http = net.client(host).map_err(settings)?;
        let pems = net.ca_pems(host).map_err(settings)?;
        let limits = net.limits();
        // oci-client builds its own reqwest client, which would read the proxy variables
        // by reqwest's rules; it gets the decision of net's (Go's) rules for the registry.
        let api_url = format!("{scheme}://{api_host}/");
        let proxy = net.fixed_proxy(&api_url);
        let lookup = reqwest::Url::parse(&api_url)
            .ok()
            .and_then(|u| net.to_look_up(&u));
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
            connect_timeout: Some(limits.connect),
            read_timeout: Some(limits.idle),
            platform_resolver: None,
            http_proxy: proxy.http_proxy,
            https_proxy: proxy.https_proxy,
            no_proxy: proxy.no_proxy,
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
            policy: net.policy(),
            limits,
            lookup,
            resolved: tokio::sync::OnceCell::new(),
            referrers_api: std::sync::atomic::AtomicU8::new(0),
        })
    }

    /// Looks the registry's name up once, before the first request: a name that does not
    /// resolve fails at once, named as what it is (no network, no DNS), where a request
    /// would report a connection error and be retried for the whole retry budget.
    async fn check_name(&self, image: &str) -> Result<(), RegistryError> {
        let Some(lookup) = &self.lookup else {
            return Ok(());
        };
        let connect = self.limits.connect;
        let outcome = self
            .resolved
            .get_or_init(|| crate::net::look_up(lookup, connect))
            .await;
        outcome
            .clone()
            .map_err(|why| self.gave_up(image, crate::net::lookup_failed(lookup, &why)))
    }

    /// The registry host as references name it.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The URL of `path` below `/v2/<repo>/` (no credentials: it is shown in messages).
    pub fn url(&self, repo: &str, path: &str) -> String {
        format!("{}/v2/{repo}/{path}", self.base_url)
    }

    /// The retry policy.
    pub fn policy(&self) -> RetryPolicy {
        self.policy
    }

    /// The time limits of each request.
    pub fn limits(&self) -> Limits {
        self.limits
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
            None => "to anonymous requests; give credentials (--username with --password-stdin, `registries:` in the config, or an auth file: podman, skopeo or docker login, or --authfile)".to_string(),
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
        budget: &mut Budget,
    ) -> Result<AuthHeader, RegistryError> {
        self.check_name(image).await?;
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
            // oci-client has no overall deadline of its own: a token is a document.
            budget.attempt();
            let started = Instant::now();
            let cut = self.limits.cut(Transfer::Document, budget.left());
            let answer =
                tokio::time::timeout(cut.after, self.oci.auth(&reference, &self.auth, op)).await;
            let problem = match answer {
                Ok(Ok(t)) => break t,
                Err(_) if !cut.transient() => {
                    let message = format!("authentication: {}", budget.cut(&cut.describe()));
                    return Err(self.gave_up(image, message));
                }
                Err(_) => cut.describe(),
                Ok(Err(e)) => {
                    let failure = self.classify_oci(e, image, started, cut);
                    if !failure.transient {
                        return Err(failure.error);
                    }
                    detail(&failure.error)
                }
            };
            match budget.retry(&self.policy, attempt, None, &problem) {
                Ok(wait) => tokio::time::sleep(wait).await,
                Err(m) => return Err(self.gave_up(image, format!("authentication: {m}"))),
            }
            attempt += 1;
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

    /// Whether the registry has the referrers API, once an answer told (`None` before).
    pub fn has_referrers_api(&self) -> Option<bool> {
        match self
            .referrers_api
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            1 => Some(true),
            2 => Some(false),
            _ => None,
        }
    }

    /// Records whether the registry answered the referrers API.
    pub fn set_referrers_api(&self, has: bool) {
        self.referrers_api.store(
            if has { 1 } else { 2 },
            std::sync::atomic::Ordering::Relaxed,
        );
    }

    /// Sends a GET, retrying transient failures within `budget`, re-authenticating once on
    /// 401. Returns a successful response with the watch its body is to be read under;
    /// anything else becomes an error naming the registry, the image and the URL.
    pub async fn get(
        &self,
        get: &Get<'_>,
        budget: &mut Budget,
    ) -> Result<(reqwest::Response, Watch), RegistryError> {
        self.send(Method::GET, get, budget).await
    }

    /// Sends `get` as a HEAD, retrying and re-authenticating as [`RegistryClient::get`]
    /// does: `Some` response on success; `None` when the registry answers with a status
    /// that says no to the HEAD itself (405, 501, a 404 or any other 4xx), so the caller
    /// falls back to a GET, which words a real failure as it always has.
    pub async fn head(
        &self,
        get: &Get<'_>,
        budget: &mut Budget,
    ) -> Result<Option<reqwest::Response>, RegistryError> {
        let (resp, _) = self.send(Method::HEAD, get, budget).await?;
        if resp.status().is_success() {
            return Ok(Some(resp));
        }
        tracing::debug!(
            "{}: HEAD {}: HTTP {}",
            self.host,
            get.path,
            resp.status().as_u16()
        );
        Ok(None)
    }

    /// Sends `get` as a DELETE (of a manifest, by digest), with push access, retrying and
    /// re-authenticating as [`RegistryClient::get`] does; the answer's status is the
    /// caller's to judge (202: deleted; 404: not there; 405: deletes are not enabled).
    pub async fn delete(
        &self,
        get: &Get<'_>,
        budget: &mut Budget,
    ) -> Result<reqwest::Response, RegistryError> {
        self.send(Method::DELETE, get, budget).await.map(|(r, _)| r)
    }

    /// The retry loop of [`RegistryClient::get`] and [`RegistryClient::head`].
    async fn send(
        &self,
        method: Method,
        get: &Get<'_>,
        budget: &mut Budget,
    ) -> Result<(reqwest::Response, Watch), RegistryError> {
        let url = self.url(get.repo, &get.path);
        let mut refreshed = false;
        let mut attempt = 1;
        loop {
            let auth = self
                .authorization(
                    get.repo,
                    method == Method::DELETE,
                    refreshed,
                    get.image,
                    budget,
                )
                .await?;
            let sent = self
                .send_once(method.clone(), &url, get, &auth, budget)
                .await?;
            let (retry_after, problem) = match sent {
                Sent::Done(done) => return Ok(*done),
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
            let wait = budget
                .retry(&self.policy, attempt, retry_after, &problem)
                .map_err(|m| self.gave_up(get.image, format!("{method} {url}: {m}")))?;
            tracing::debug!(
                "{}: {method} {}: {problem}; retrying in {wait:?}",
                self.host,
                get.path
            );
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    /// Sends one request and sorts the answer: success, refusal, transient failure, or (as
    /// an error) anything that retrying cannot fix.
    async fn send_once(
        &self,
        method: Method,
        url: &str,
        get: &Get<'_>,
        auth: &AuthHeader,
        budget: &mut Budget,
    ) -> Result<Sent, RegistryError> {
        let head = method == Method::HEAD;
        budget.attempt();
        let cut = self.limits.cut(get.kind, budget.left());
        let mut request = self
            .http
            .request(method.clone(), url)
            .timeout(cut.after)
            .header(ACCEPT, get.accept.join(", "));
        if get.offset > 0 {
            request = request.header(RANGE, format!("bytes={}-", get.offset));
        }
        request = self.authorized(request, auth);
        let started = Instant::now();
        // The wait for an answer is held to the budget whatever the kind.
        let left = budget.left();
        let Ok(sent) = tokio::time::timeout(left, request.send()).await else {
            let waited = format!("no answer within {} s", seconds(left));
            return Err(self.gave_up(
                get.image,
                format!("{method} {url}: {}", budget.cut(&waited)),
            ));
        };
        let resp = match sent {
            Ok(resp) => resp,
            Err(e) => {
                let problem = crate::net::classify(&e, started, &self.limits, cut);
                if problem.budget {
                    let message = format!("{method} {url}: {}", problem.final_message(budget));
                    return Err(self.gave_up(get.image, message));
                }
                let failure = self.classify_reqwest(&e, get.image, started, cut);
                if !failure.transient {
                    return Err(failure.error);
                }
                return Ok(Sent::Transient {
                    retry_after: None,
                    problem: problem.message,
                });
            }
        };
        let status = resp.status().as_u16();
        match status {
            _ if resp.status().is_success() => Ok(Sent::Done(Box::new((
                resp,
                Watch::new(&self.limits, started, cut),
            )))),
            401 | 403 => Ok(Sent::Refused(status)),
            // A registry that does not do HEAD: the caller asks again with a GET.
            405 | 501 if head => Ok(Sent::Done(Box::new((
                resp,
                Watch::new(&self.limits, started, cut),
            )))),
            _ if head && !retryable_status(status) => Ok(Sent::Done(Box::new((
                resp,
                Watch::new(&self.limits, started, cut),
            )))),
            404 => {
                // A tag named after a digest (cosign's `sha256-<hex>.sig`, the referrers
                // fallback tag) is looked for, and absent is the usual answer: no listing.
                let tags = match get.path.strip_prefix("manifests/") {
                    Some(tag) if !tag.starts_with("sha256:") && !tag.starts_with("sha256-") => {
                        self.tags(get.repo, auth).await
                    }
                    _ => None,
                };
                Err(self.not_found(get, tags.as_deref()))
            }
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
                    format!(
                        "{method} {}: HTTP {status}: {}{}",
                        get.path,
                        excerpt(&body),
                        self.status_hint(status)
                    ),
                ))
            }
        }
    }

    /// `request` signed as `auth` says.
    fn authorized(
        &self,
        request: reqwest::RequestBuilder,
        auth: &AuthHeader,
    ) -> reqwest::RequestBuilder {
        match auth {
            AuthHeader::None => request,
            AuthHeader::Basic => request.basic_auth(
                self.username.clone().unwrap_or_default(),
                self.password.clone(),
            ),
            AuthHeader::Bearer(t) => request.bearer_auth(t),
        }
    }

    /// The tags the registry lists for `repo` (its first page), for a message about a tag
    /// it lacks; `None` when it does not answer them within a few seconds.
    async fn tags(&self, repo: &str, auth: &AuthHeader) -> Option<Vec<String>> {
        #[derive(serde::Deserialize)]
        struct Tags {
            #[serde(default)]
            tags: Option<Vec<String>>,
        }
        let url = format!("{}/v2/{repo}/tags/list", self.base_url);
        let request = self.http.get(&url).timeout(Duration::from_secs(10));
        let request = self.authorized(request, auth);
        let mut resp = request.send().await.ok()?;
        if !resp.status().is_success() {
            return None;
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.ok()? {
            body.extend_from_slice(&chunk);
            if body.len() > 1 << 20 {
                return None;
            }
        }
        serde_json::from_slice::<Tags>(&body).ok()?.tags
    }

    fn not_found(&self, get: &Get<'_>, tags: Option<&[String]>) -> RegistryError {
        let what = match get.path.strip_prefix("manifests/") {
            Some(r) if r.starts_with("sha256:") => format!("manifest {r} in {}", get.repo),
            Some(r) => match tags {
                Some([]) => format!("image {}:{r} (the repository has no tags)", get.repo),
                Some(tags) => {
                    let names: Vec<&str> = tags.iter().map(String::as_str).collect();
                    format!(
                        "image {}:{r} (unknown tag; the registry has {})",
                        get.repo,
                        crate::suggest::listing(&names, Some(r))
                    )
                }
                None => format!("image {}:{r} (unknown repository or tag)", get.repo),
            },
            None => format!("{} in {}", get.path.replace("blobs/", "blob "), get.repo),
        };
        RegistryError::NotFound {
            registry: self.host.clone(),
            image: get.image.to_string(),
            what,
        }
    }

    /// A transfer failure on this registry that another run would meet again (an answer
    /// that is no retryable status, a body larger than announced).
    pub fn transfer(&self, image: &str, message: String) -> RegistryError {
        self.transfer_as(image, message, false)
    }

    /// A transfer given up on when the registry could not be reached or kept failing
    /// after the retries (the budget spent, no DNS answer): another run later may succeed.
    pub fn gave_up(&self, image: &str, message: String) -> RegistryError {
        self.transfer_as(image, message, true)
    }

    /// A transfer failure, `transient` or not ([`RegistryError::is_transient`]).
    pub fn transfer_as(&self, image: &str, message: String, transient: bool) -> RegistryError {
        RegistryError::Transfer {
            registry: self.host.clone(),
            image: image.to_string(),
            message,
            transient,
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
            let started = Instant::now();
            match op().await {
                Ok(v) => return Ok(v),
                Err(e) => {
                    let failure = self.classify_oci(e, image, started, self.bulk());
                    if !failure.transient {
                        return Err(failure.error);
                    }
                    if !self.policy.should_retry(attempt) {
                        return Err(self.gave_up(
                            image,
                            format!("{what}: {} (tried {attempt} times)", detail(&failure.error)),
                        ));
                    }
                    tokio::time::sleep(self.policy.delay(attempt, None)).await;
                    attempt += 1;
                }
            }
        }
    }

    /// The cut of an `oci-client` push request (bulk: it may carry a layer).
    fn bulk(&self) -> crate::net::Cut {
        self.limits.cut(Transfer::Bulk, self.limits.budget)
    }

    fn classify_reqwest(
        &self,
        e: &reqwest::Error,
        image: &str,
        started: Instant,
        cut: crate::net::Cut,
    ) -> Failure {
        // oci-client turns some answers into errors with their status (a HEAD of a blob
        // with wrong credentials): judged by the status, as a direct answer would be.
        if let Some(code) = e.status().map(|s| s.as_u16()) {
            return Failure {
                transient: retryable_status(code),
                error: self.status_error(code, &e.to_string(), image),
            };
        }
        let problem = crate::net::classify(e, started, &self.limits, cut);
        let error = if problem.untrusted {
            RegistryError::UntrustedCertificate {
                registry: self.host.clone(),
                image: image.to_string(),
                detail: problem.message,
            }
        } else if problem.not_tls {
            RegistryError::NotTls {
                registry: self.host.clone(),
                image: image.to_string(),
                detail: problem.message,
            }
        } else {
            self.transfer_as(image, problem.message, problem.transient)
        };
        Failure {
            transient: problem.transient,
            error,
        }
    }

    fn classify_oci(
        &self,
        e: OciDistributionError,
        image: &str,
        started: Instant,
        cut: crate::net::Cut,
    ) -> Failure {
        match e {
            OciDistributionError::RequestError(e) => self.classify_reqwest(&e, image, started, cut),
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
            _ => self.transfer_as(
                image,
                format!(
                    "HTTP {code}: {}{}",
                    excerpt(message),
                    self.status_hint(code)
                ),
                retryable_status(code),
            ),
        }
    }

    /// What a status may mean beyond its number: a 400 to plain HTTP is what a server
    /// speaking HTTPS answers on its port (Go's and nginx's both do).
    fn status_hint(&self, code: u16) -> &'static str {
        if code == 400 && self.base_url.starts_with("http://") {
            "; the registry may speak HTTPS (an HTTPS server answers plain HTTP with 400): leave out --plain-http for it (in a build, registries[].plain_http)"
        } else {
            ""
        }
    }
}

/// How one request went.
enum Sent {
    Done(Box<(reqwest::Response, Watch)>),
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

pub use crate::net::error_chain;

/// What went wrong, without the image and registry a [`RegistryError::Transfer`] names.
fn detail(e: &RegistryError) -> String {
    match e {
        RegistryError::Transfer { message, .. } => message.clone(),
        other => other.to_string(),
    }
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
    fn excerpt_is_short_and_single_line() {
        let long = "a\nb ".repeat(300);
        let e = excerpt(&long);
        assert!(!e.contains('\n') && e.chars().count() <= 201);
    }
}
