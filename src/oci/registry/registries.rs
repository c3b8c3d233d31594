//! The registries of one run: their settings, the network they are reached through, and
//! one client per host and credential scope, created when an image first names it (a
//! repository whose credentials come from an auth file key of its own, such as
//! `host:5000/team`, gets a client of its own, and so does each such key).

use super::RegistryError;
use super::client::RegistryClient;
use super::settings::RegistryAccess;
use crate::net::{Net, NetSettings};
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use tokio::runtime::Runtime;

/// The registries of one run: their settings, the network, and one client per host.
pub struct Registries {
    access: RegistryAccess,
    net: Arc<Net>,
    /// By host and credential scope.
    clients: Mutex<HashMap<(String, String), Arc<RegistryClient>>>,
}

impl fmt::Debug for Registries {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registries")
            .field("access", &self.access)
            .field("net", &self.net)
            .finish_non_exhaustive()
    }
}

impl Default for Registries {
    fn default() -> Self {
        let access = RegistryAccess::default();
        let net = Arc::new(Net::new(access.net_settings(NetSettings::default())));
        Registries::new(access, net)
    }
}

impl Registries {
    /// Registries reached with `access` through `net` (whose trust should come from
    /// [`RegistryAccess::net_settings`]).
    pub fn new(access: RegistryAccess, net: Arc<Net>) -> Registries {
        Registries {
            access,
            net,
            clients: Mutex::new(HashMap::new()),
        }
    }

    /// Registries that refuse to be reached (`build --offline`): asking for a client or
    /// the network runtime is an error naming the registry and the image.
    pub fn offline() -> Registries {
        Registries::new(RegistryAccess::default(), Arc::new(Net::offline()))
    }

    /// True when the network is offline.
    pub fn is_offline(&self) -> bool {
        self.net.is_offline()
    }

    /// The settings (trust, credentials) these registries are reached with: other
    /// downloads that take credentials as registries do (Helm repositories) ask them.
    pub fn access(&self) -> &RegistryAccess {
        &self.access
    }

    /// The network these registries are reached through.
    pub fn net(&self) -> &Arc<Net> {
        &self.net
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

    /// The async runtime the clients run on.
    pub fn runtime(&self) -> Result<&Runtime, RegistryError> {
        self.refuse("(any)", "(network runtime)")?;
        self.net
            .runtime()
            .map_err(|e| RegistryError::Settings(e.to_string()))
    }

    /// The client for `host` (`127.0.0.1:5000`, `docker.io`) as a whole, created on first
    /// use; `image` names what it is for in an offline refusal.
    pub fn client(&self, host: &str, image: &str) -> Result<Arc<RegistryClient>, RegistryError> {
        self.repository_client(host, "", image)
    }

    /// The client for `repository` (`team/app`) on `host`, with the credentials meant for
    /// that repository ([`super::RegistryAccess::for_repository`]), created on first use.
    pub fn repository_client(
        &self,
        host: &str,
        repository: &str,
        image: &str,
    ) -> Result<Arc<RegistryClient>, RegistryError> {
        self.refuse(host, image)?;
        let mut clients = self
            .clients
            .lock()
            .map_err(|_| RegistryError::Settings("registry client table poisoned".into()))?;
        let (access, scope) = self.access.for_repository(host, repository)?;
        let key = (host.to_string(), scope);
        if let Some(c) = clients.get(&key) {
            return Ok(c.clone());
        }
        // reqwest needs a runtime context to build its connection pool.
        let _guard = self.runtime()?.enter();
        let t0 = std::time::Instant::now();
        let client = Arc::new(RegistryClient::new(host, &access, &self.net)?);
        tracing::debug!("client for {host} ({}) ready in {:?}", key.1, t0.elapsed());
        clients.insert(key, client.clone());
        Ok(client)
    }
}
