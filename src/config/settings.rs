//! The capabilities' settings, built from a loaded config: the config layer knows the
//! capabilities, never the other way round.

use super::{Config, ConfigError};
use crate::pki::{self, PkiSettings};
use crate::preflight::default_pause_image;
use crate::render::{AutoinstallSettings, NodeSettings, RenderError, RenderSettings};
use crate::vocab::{InstallMode, Role, SecretError};

impl Config {
    /// The registry PKI settings of a build of this config whose images come from the
    /// `registries` hosts; `None` without a `registry:` section (a cluster that shares its
    /// images through k3s's embedded registry mirror alone).
    pub fn pki_settings<'a>(
        &self,
        registries: impl IntoIterator<Item = &'a str>,
        source_date: Option<u64>,
    ) -> Result<Option<PkiSettings>, ConfigError> {
        let config = self;
        let Some(r) = &config.registry else {
            return Ok(None);
        };
        let auth = match &r.auth {
            Some(a) => Some((
                a.username.0.clone(),
                a.password.resolve("registry.auth.password", &config.path)?,
            )),
            None => None,
        };
        Ok(Some(PkiSettings {
            host: r.host.clone(),
            port: r.port,
            extra_sans: r.sans.clone(),
            plain_http: r.plain_http,
            ca_common_name: r.ca.common_name.as_ref().map_or_else(
                || format!("seedforge registry CA {}", config.cluster.name.as_str()),
                |c| c.0.clone(),
            ),
            ca_organization: r.ca.organization.as_ref().map(|o| o.0.clone()),
            ca_validity_days: r.ca.validity_days.map_or(pki::DEFAULT_CA_DAYS, |d| d.0),
            cert_validity_days: r
                .certificate
                .validity_days
                .map_or(pki::DEFAULT_CERT_DAYS, |d| d.0),
            ca_import: r
                .ca
                .import
                .as_ref()
                .map(|i| (config.dir.join(&i.cert), config.dir.join(&i.key))),
            node_ca_path: r.node_ca_path.0.clone(),
            storage: r.storage.0.clone(),
            auth,
            rewrite: r.rewrite.clone(),
            mirrors: registries.into_iter().map(str::to_string).collect(),
            source_date,
            continuity: Default::default(),
        }))
    }
}

impl Config {
    /// What rendering the nodes' files needs: the join token is read here, and the
    /// installer's password hash when a node is installed by autoinstall.
    pub fn render_settings(&self) -> Result<RenderSettings, RenderError> {
        let token = match &self.cluster.token {
            Some(secret) => secret.resolve("cluster.token", &self.path)?,
            None => {
                return Err(RenderError::Template {
                    template: self.path.display().to_string(),
                    line: None,
                    message: "cluster.token is required to render node files (agents join with it): set it to {env: NAME} or {file: PATH}".into(),
                });
            }
        };
        let pause_image = match &self.cluster.pause_image {
            Some(p) => p.0.to_string(),
            None => default_pause_image(&self.cluster.k3s_version)?.to_string(),
        };
        let auto = &self.autoinstall;
        let password_hash = match &auto.password {
            Some(secret)
                if self
                    .nodes
                    .iter()
                    .any(|n| n.install == InstallMode::Autoinstall) =>
            {
                let value = secret.resolve("autoinstall.password", &self.path)?;
                super::check_password_hash(value.expose()).map_err(|message| SecretError {
                    path: self.path.clone(),
                    what: "autoinstall.password".into(),
                    message,
                })?;
                Some(value)
            }
            _ => None,
        };
        Ok(RenderSettings {
            templates: self.templates.clone(),
            cluster_name: self.cluster.name.as_str().to_string(),
            k3s_version: self.cluster.k3s_version.clone(),
            pause_image,
            disable: self.cluster.disable.iter().map(|c| c.0.clone()).collect(),
            embedded_registry: self.cluster.embedded_registry,
            allow_downgrade: self.cluster.allow_downgrade,
            hops: self.cluster.hops.clone(),
            upgrade_from: self.cluster.upgrade_from.clone(),
            token,
            registry_host: self.registry.as_ref().map(|r| r.host.to_string()),
            registry_port: self.registry.as_ref().map(|r| r.port),
            node_ca_path: self
                .registry
                .as_ref()
                .map_or(super::DEFAULT_NODE_CA_PATH, |r| r.node_ca_path.0.as_str())
                .to_string(),
            interface: self.network.interface.0.clone(),
            gateway: self.network.gateway,
            nameservers: self.network.nameservers.clone(),
            autoinstall: AutoinstallSettings {
                username: auto.username.0.clone(),
                password_hash,
                ssh_authorized_keys: auto
                    .ssh_authorized_keys
                    .iter()
                    .map(|k| k.0.clone())
                    .collect(),
                storage_layout: auto.storage_layout.as_str(),
            },
            nodes: self
                .nodes
                .iter()
                .map(|n| NodeSettings {
                    name: n.name.as_str().to_string(),
                    role: n.role,
                    ip: n.address.ip,
                    prefix: n.address.prefix,
                    install: n.install,
                    // With the embedded registry mirror an agent pulls from its peers.
                    imports_images: !(self.cluster.embedded_registry && n.role == Role::Agent),
                    mac: n.mac.as_ref().map(|m| m.0.clone()),
                })
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::Config;

    const EMBEDDED: &str = "\
version: 1
cluster:
  name: lab
  k3s_version: v1.33.1+k3s1
  embedded_registry: true
  token: {file: token}
images:
  lists: [images.txt]
nodes:
  - name: s1
    role: server
    address: 192.168.6.10/24
  - name: a1
    role: agent
    address: 192.168.6.11/24
";

    fn config(text: &str) -> (tempfile::TempDir, Config) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("token"), "t0ken\n").unwrap();
        let config = Config::parse(text, &dir.path().join("seedforge.yaml")).unwrap();
        (dir, config)
    }

    /// The k3s config.yaml block of a rendered user-data.
    fn k3s_config(user_data: &str) -> &str {
        let start = user_data.find("/etc/rancher/k3s/config.yaml").unwrap();
        let end = user_data[start..].find("  - path:").unwrap();
        &user_data[start..start + end]
    }

    #[test]
    fn only_the_servers_k3s_config_turns_the_embedded_mirror_on() {
        let (_dir, c) = config(EMBEDDED);
        assert!(c.pki_settings(["docker.io"], None).unwrap().is_none());
        let nodes = crate::render::render_all(&c.render_settings().unwrap()).unwrap();
        let server = k3s_config(&nodes[0].user_data);
        assert!(
            server.contains("\n      embedded-registry: true\n"),
            "{server}"
        );
        let agent = k3s_config(&nodes[1].user_data);
        assert!(!agent.contains("embedded-registry"), "{agent}");
        let (_dir, c) = config(
            &EMBEDDED
                .replace("  embedded_registry: true\n", "")
                .replace("images:", "registry:\n  host: 192.168.6.1\nimages:"),
        );
        assert!(c.pki_settings(["docker.io"], None).unwrap().is_some());
        let nodes = crate::render::render_all(&c.render_settings().unwrap()).unwrap();
        assert!(!nodes[0].user_data.contains("embedded-registry"));
    }
}
