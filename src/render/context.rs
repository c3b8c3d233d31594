//! What templates can use: one serialisable value per node, built from the config. Every
//! name a template may reference is a field here, so a typo in a template is an error at
//! build time, not an empty string on a node.

use super::RenderError;
use crate::config::{Config, InstallMode, Node, Role};
use crate::preflight::default_pause_image;
use serde::Serialize;

/// Fixed paths on the node, shared by the templates and the payload layout.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Paths {
    /// Where the payload is copied on the node (`<seed>/payload`).
    pub seed: &'static str,
    /// The bootstrap's log.
    pub log: &'static str,
    /// Written when the bootstrap has finished (servers).
    pub done_marker: &'static str,
    /// Where k3s imports airgap image archives from at start.
    pub k3s_images: &'static str,
    /// Written once the payload is copied and verified: by autoinstall's late-commands
    /// into the installed system, by the bootstrap (holding the payload's digest) on a
    /// cloud-init node. The seeds' tooling waits for this name.
    pub iso_copy_marker: &'static str,
    /// The bootstrap's state: `status.json`, the applied payload's digest.
    pub state: &'static str,
}

/// The node-side paths.
pub const PATHS: Paths = Paths {
    seed: "/usr/local/seed",
    log: "/var/log/k3s-bootstrap.log",
    done_marker: "/var/lib/k3s-bootstrap.done",
    k3s_images: "/var/lib/rancher/k3s/agent/images",
    iso_copy_marker: "/var/lib/iso-copy-complete",
    state: "/var/lib/seedforge",
};

/// The marker agents write (the seeds' tooling waits for these names).
const AGENT_DONE_MARKER: &str = "/var/lib/k3s-agent-bootstrap.done";

/// How many times an agent probes the server's API before giving up (about 28 minutes).
const JOIN_ATTEMPTS: u32 = 60;

/// How long the bootstrap waits for k3s to start (a server reports ready when its API
/// serves) before it fails.
const START_SECONDS: u32 = 900;

/// Everything a node's templates see.
#[derive(Debug, Serialize)]
pub struct NodeContext {
    cluster: ClusterContext,
    node: NodeInfo,
    server: ServerInfo,
    registry: RegistryInfo,
    network: NetworkInfo,
    k3s: K3sInfo,
    install: InstallInfo,
    paths: Paths,
    /// The join token. Only the k3s config file in user-data carries it.
    token: String,
}

#[derive(Debug, Serialize)]
struct ClusterContext {
    name: String,
    k3s_version: String,
    pause_image: String,
    disable: Vec<String>,
}

#[derive(Debug, Serialize)]
struct NodeInfo {
    name: String,
    role: &'static str,
    ip: String,
    prefix: u8,
    address: String,
}

#[derive(Debug, Serialize)]
struct ServerInfo {
    name: String,
    ip: String,
    url: String,
}

#[derive(Debug, Serialize)]
struct RegistryInfo {
    host: String,
    port: u16,
    endpoint: String,
    /// Where the registry CA goes on the node (`registries.yaml`'s `ca_file`).
    node_ca_path: String,
}

#[derive(Debug, Serialize)]
struct NetworkInfo {
    interface: String,
    gateway: Option<String>,
    nameservers: Vec<String>,
}

/// How the node is installed, and for `autoinstall` the installer's settings.
#[derive(Debug, Serialize)]
struct InstallInfo {
    mode: &'static str,
    username: String,
    /// The login's crypt(3) hash; `None` locks the password (SSH keys only). Read from its
    /// secret only for autoinstall nodes.
    password_hash: Option<String>,
    ssh_authorized_keys: Vec<String>,
    storage_layout: &'static str,
}

#[derive(Debug, Serialize)]
struct K3sInfo {
    unit: &'static str,
    join_attempts: u32,
    start_seconds: u32,
}

impl NodeContext {
    /// The context of `node`; reads the join token from its secret.
    pub fn new(config: &Config, node: &Node) -> Result<NodeContext, RenderError> {
        let server = config
            .nodes
            .iter()
            .find(|n| n.role == Role::Server)
            .unwrap_or(node);
        let token = match &config.cluster.token {
            Some(secret) => secret
                .resolve("cluster.token", &config.path)?
                .expose()
                .to_string(),
            None => {
                return Err(RenderError::Template {
                    template: config.path.display().to_string(),
                    line: None,
                    message: "cluster.token is required to render node files (agents join with it): set it to {env: NAME} or {file: PATH}".into(),
                });
            }
        };
        let pause_image = match &config.cluster.pause_image {
            Some(p) => p.0.to_string(),
            None => default_pause_image(&config.cluster.k3s_version)?.to_string(),
        };
        let mut paths = PATHS;
        if node.role == Role::Agent {
            paths.done_marker = AGENT_DONE_MARKER;
        }
        Ok(NodeContext {
            cluster: ClusterContext {
                name: config.cluster.name.as_str().to_string(),
                k3s_version: config.cluster.k3s_version.clone(),
                pause_image,
                disable: config.cluster.disable.iter().map(|c| c.0.clone()).collect(),
            },
            node: NodeInfo {
                name: node.name.as_str().to_string(),
                role: role_name(node.role),
                ip: node.address.ip.to_string(),
                prefix: node.address.prefix,
                address: format!("{}/{}", node.address.ip, node.address.prefix),
            },
            server: ServerInfo {
                name: server.name.as_str().to_string(),
                ip: server.address.ip.to_string(),
                url: format!("https://{}:6443", url_host(&server.address.ip)),
            },
            registry: RegistryInfo {
                host: config.registry.host.to_string(),
                port: config.registry.port,
                endpoint: format!("{}:{}", config.registry.host, config.registry.port),
                node_ca_path: config.registry.node_ca_path.0.clone(),
            },
            network: NetworkInfo {
                interface: config.network.interface.clone(),
                gateway: config.network.gateway.map(|g| g.to_string()),
                nameservers: config
                    .network
                    .nameservers
                    .iter()
                    .map(ToString::to_string)
                    .collect(),
            },
            k3s: K3sInfo {
                unit: match node.role {
                    Role::Server => "k3s.service",
                    Role::Agent => "k3s-agent.service",
                },
                join_attempts: JOIN_ATTEMPTS,
                start_seconds: START_SECONDS,
            },
            install: install_info(config, node)?,
            paths,
            token,
        })
    }
}

fn install_info(config: &Config, node: &Node) -> Result<InstallInfo, RenderError> {
    let settings = &config.autoinstall;
    let password_hash = match (&settings.password, node.install) {
        (Some(secret), InstallMode::Autoinstall) => {
            let value = secret.resolve("autoinstall.password", &config.path)?;
            crate::config::check_password_hash(value.expose()).map_err(|message| {
                crate::vocab::SecretError {
                    path: config.path.clone(),
                    what: "autoinstall.password".into(),
                    message,
                }
            })?;
            Some(value.expose().to_string())
        }
        _ => None,
    };
    Ok(InstallInfo {
        mode: node.install.as_str(),
        username: settings.username.0.clone(),
        password_hash,
        ssh_authorized_keys: settings
            .ssh_authorized_keys
            .iter()
            .map(|k| k.0.clone())
            .collect(),
        storage_layout: settings.storage_layout.as_str(),
    })
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::Server => "server",
        Role::Agent => "agent",
    }
}

/// An IPv6 address goes in brackets inside a URL.
fn url_host(ip: &std::net::IpAddr) -> String {
    match ip {
        std::net::IpAddr::V4(v4) => v4.to_string(),
        std::net::IpAddr::V6(v6) => format!("[{v6}]"),
    }
}
