//! The registries of one run: their settings, the async runtime the clients share, and one
//! client per host, created when an image first names it.

use super::RegistryError;
use super::client::RegistryClient;
use super::retry::RetryPolicy;
use super::settings::RegistryAccess;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};
use tokio::runtime::Runtime;

/// The registries of one run: their settings, a lazily started async runtime, and one
/// client per host.
pub struct Registries {
    /// `build --offline`: no client is ever made and no runtime started.
    offline: bool,
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
            offline: false,
            access,
            policy: RetryPolicy::default(),
            runtime: OnceLock::new(),
            clients: Mutex::new(HashMap::new()),
        }
    }

    /// Registries that refuse to be reached (`build --offline`): asking for a client or
    /// the network runtime is an error naming the registry and the image, so an offline
    /// run cannot open a connection, whatever code path asks.
    pub fn offline() -> Registries {
        Registries {
            offline: true,
            ..Registries::new(RegistryAccess::default())
        }
    }

    /// True for [`Registries::offline`], or once the process has forbidden the network
    /// ([`crate::offline::forbid_network`]).
    pub fn is_offline(&self) -> bool {
        self.offline || crate::offline::network_forbidden()
    }

    fn refuse(&self, registry: &str, image: &str) -> Result<(), RegistryError> {
        if self.is_offline() {
            return Err(RegistryError::Offline {
                registry: registry.to_string(),
                image: image.to_string(),
            });
        }
        Ok(())
    }

    /// The same with another retry policy.
    pub fn with_policy(mut self, policy: RetryPolicy) -> Registries {
        self.policy = policy;
        self
    }

    /// The async runtime the clients run on (started on first use; two worker threads
    /// are plenty for I/O-bound transfers).
    pub fn runtime(&self) -> Result<&Runtime, RegistryError> {
        self.refuse("(any)", "(network runtime)")?;
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

    /// The client for `host` (`127.0.0.1:5000`, `docker.io`), created on first use;
    /// `image` names what it is for in an offline refusal.
    pub fn client(&self, host: &str, image: &str) -> Result<Arc<RegistryClient>, RegistryError> {
        self.refuse(host, image)?;
        let mut clients = self
            .clients
            .lock()
            .map_err(|_| RegistryError::Settings("registry client table poisoned".into()))?;
        if let Some(c) = clients.get(host) {
            return Ok(c.clone());
        }
        // reqwest needs a runtime context to build its connection pool.
        let _guard = self.runtime()?.enter();
        let t0 = std::time::Instant::now();
        let client = Arc::new(RegistryClient::new(
            host,
            &self.access.for_host(host),
            self.policy,
        )?);
        tracing::debug!("client for {host} ready in {:?}", t0.elapsed());
        clients.insert(host.to_string(), client.clone());
        Ok(client)
    }
}
