//! What templates can use: one serialisable value per node, built from the config. Every
//! name a template may reference is a field here, so a typo in a template is an error at
//! build time, not an empty string on a node.

use crate::vocab::{InstallMode, Role, SecretValue};
use serde::Serialize;
use std::net::IpAddr;
use std::path::PathBuf;

/// What rendering needs to know of a cluster, built by the config layer
/// (`Config::render_settings`) with its secrets already read.
#[derive(Debug)]
pub struct RenderSettings {
    /// A folder whose templates replace the embedded ones of the same name.
    pub templates: Option<PathBuf>,
    /// The cluster's name.
    pub cluster_name: String,
    /// The k3s release the nodes run.
    pub k3s_version: String,
    /// The pause image reference the nodes' containerd uses.
    pub pause_image: String,
    /// k3s components turned off (`--disable`).
    pub disable: Vec<String>,
    /// The servers run k3s's embedded registry mirror (`embedded-registry: true`).
    pub embedded_registry: bool,
    /// The nodes' bootstrap applies a payload with an older k3s than the one a node runs.
    pub allow_downgrade: bool,
    /// The releases a running node steps through before `k3s_version`, oldest first
    /// (`cluster.upgrade_path`); empty when the nodes go straight to `k3s_version`. Each
    /// hop's binary is `payload/hops/<release>/k3s`, its airgap archives
    /// `payload/hops/<release>/images/`.
    pub hops: Vec<String>,
    /// The release the nodes run before this build's (`cluster.upgrade_from`), when the
    /// config names one: its media are an upgrade, which a node joining with no k3s yet
    /// must not outrun.
    pub upgrade_from: Option<String>,
    /// The join token.
    pub token: SecretValue,
    /// The registry's host (IP or DNS name); `None` when the cluster has no registry
    /// (the embedded registry mirror alone).
    pub registry_host: Option<String>,
    /// The registry's port; `None` when the cluster has no registry.
    pub registry_port: Option<u16>,
    /// Where the registry CA goes on the node.
    pub node_ca_path: String,
    /// The interface the static address goes on: a name, or a glob only netplan reads
    /// ([`is_glob`]).
    pub interface: String,
    /// The default gateway.
    pub gateway: Option<IpAddr>,
    /// DNS servers.
    pub nameservers: Vec<IpAddr>,
    /// The installer's settings, for `autoinstall` nodes.
    pub autoinstall: AutoinstallSettings,
    /// The nodes, in config order; the first server is the one agents join.
    pub nodes: Vec<NodeSettings>,
}

/// The installer's settings of the `autoinstall` nodes.
#[derive(Debug)]
pub struct AutoinstallSettings {
    /// The login the installer creates.
    pub username: String,
    /// Its crypt(3) hash (read only when a node is installed by autoinstall); `None`
    /// locks the password.
    pub password_hash: Option<SecretValue>,
    /// SSH keys of the login.
    pub ssh_authorized_keys: Vec<String>,
    /// The installer's storage layout name.
    pub storage_layout: &'static str,
}

/// One node.
#[derive(Debug, Clone)]
pub struct NodeSettings {
    /// The node's name (its hostname).
    pub name: String,
    /// Server or agent.
    pub role: Role,
    /// Its static address.
    pub ip: IpAddr,
    /// Its subnet's prefix length.
    pub prefix: u8,
    /// How it is installed.
    pub install: InstallMode,
    /// Whether its bootstrap places the payload's airgap image archives for k3s to import
    /// (an agent of a cluster with k3s's embedded registry mirror pulls from its peers).
    pub imports_images: bool,
    /// The MAC address of its NIC (lowercase, `:`-separated), when the config gives one.
    pub mac: Option<String>,
}

/// The name a node's `ethernets` entry is keyed by when the configured interface is a glob:
/// cloud-init's renderers other than netplan ignore a name `match` and configure the
/// entry's key (or its `set-name`); `eth0` is the first NIC of the RHEL family's cloud
/// images (which boot with `net.ifnames=0`). With a MAC it is the name the NIC is given.
pub const GLOB_FALLBACK: &str = "eth0";

/// Whether an interface setting is a glob (`*`, `?` or `[`), which only netplan reads.
pub fn is_glob(interface: &str) -> bool {
    interface.contains(['*', '?', '['])
}

/// How a node's `network-config` names its interface, from the configured interface and
/// the node's MAC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Nic {
    /// The `ethernets` entry's key: the interface's name for every renderer but netplan
    /// with a glob.
    pub name: String,
    /// Matched by this MAC address and renamed to `name` (`set-name`).
    pub mac: Option<String>,
    /// Matched by this glob of names (netplan only).
    pub glob: Option<String>,
}

impl Nic {
    /// The interface of a node with `mac` (if any), configured `interface`.
    pub fn of(interface: &str, mac: Option<&str>) -> Nic {
        let glob = is_glob(interface);
        let name = if glob { GLOB_FALLBACK } else { interface }.to_string();
        match mac {
            Some(mac) => Nic {
                name,
                mac: Some(mac.to_string()),
                glob: None,
            },
            None => Nic {
                name,
                mac: None,
                glob: glob.then(|| interface.to_string()),
            },
        }
    }
}

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
    /// The volume label of the shared payload ISO, looked for when the seed carries no
    /// payload of its own.
    pub payload_label: &'static str,
    /// The bootstrap's upgrade logic, a file of its own that the bootstrap sources.
    pub upgrade: &'static str,
    /// Where a server publishes the release its k3s runs, in k3s's static folder (served
    /// to anyone at `https://SERVER:6443/static/seedforge/k3s-release`).
    pub published_release: &'static str,
}

/// The volume label of the shared payload ISO (`seeds: {payload: shared}`).
pub const PAYLOAD_LABEL: &str = "SEEDPAYLOAD";

/// The node-side paths.
pub const PATHS: Paths = Paths {
    seed: "/usr/local/seed",
    log: "/var/log/k3s-bootstrap.log",
    done_marker: "/var/lib/k3s-bootstrap.done",
    k3s_images: "/var/lib/rancher/k3s/agent/images",
    iso_copy_marker: "/var/lib/iso-copy-complete",
    state: "/var/lib/seedforge",
    payload_label: PAYLOAD_LABEL,
    upgrade: "/usr/local/lib/seedforge/k3s-upgrade.sh",
    published_release: "/var/lib/rancher/k3s/server/static/seedforge/k3s-release",
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

/// `cluster.*`.
#[derive(Debug, Serialize)]
struct ClusterContext {
    name: String,
    k3s_version: String,
    pause_image: String,
    disable: Vec<String>,
    /// True when the servers run k3s's embedded registry mirror: only the servers' seeds
    /// carry the airgap archives, and agents pull their images from the other nodes.
    embedded_registry: bool,
    /// True when a node's bootstrap applies a payload whose k3s is older than the one the
    /// node runs (`cluster.allow_downgrade`); otherwise it refuses it.
    allow_downgrade: bool,
}

#[derive(Debug, Serialize)]
struct NodeInfo {
    name: String,
    role: &'static str,
    ip: String,
    prefix: u8,
    address: String,
    imports_images: bool,
}

#[derive(Debug, Serialize)]
struct ServerInfo {
    name: String,
    ip: String,
    url: String,
}

/// `registry.*`: `host`, `port` and `endpoint` (`HOST:PORT`) are null when the cluster has
/// no registry (`cluster.embedded_registry` without a `registry:` section); test them with
/// `{% if registry.endpoint %}`.
#[derive(Debug, Serialize)]
struct RegistryInfo {
    host: Option<String>,
    port: Option<u16>,
    endpoint: Option<String>,
    /// Where the registry CA goes on the node (`registries.yaml`'s `ca_file`).
    node_ca_path: String,
}

/// `network.*`: `interface` as configured; `nic` how the node's entry names it (`name`,
/// the entry's key; `mac`, matched with `set-name`; `glob`, a netplan name match);
/// `gateway` with, by its family, `gateway4` (written as a route to `0.0.0.0/0`) or
/// `gateway6` (written as `gateway6`: cloud-init before 23.x turns a route to `::/0` into one
/// to `::/64` for every renderer but netplan).
#[derive(Debug, Serialize)]
struct NetworkInfo {
    interface: String,
    nic: Nic,
    gateway: Option<String>,
    gateway4: Option<String>,
    gateway6: Option<String>,
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
    /// The releases a running node steps through before `cluster.k3s_version`, oldest
    /// first (`cluster.upgrade_path`); empty for a direct upgrade.
    hops: Vec<String>,
    /// The servers' node names, in config order: the order they take each hop in.
    servers: Vec<String>,
    /// The servers' addresses, in the same order (a URL's host: an IPv6 one bracketed).
    server_addresses: Vec<String>,
    /// Whether this build's media are an upgrade (`cluster.upgrade_from` or hops): a
    /// node joining with no k3s yet waits for the servers to run the target first.
    upgrade: bool,
}

impl NodeContext {
    /// The context of `node`, one of `settings.nodes`.
    pub fn new(settings: &RenderSettings, node: &NodeSettings) -> NodeContext {
        let server = settings
            .nodes
            .iter()
            .find(|n| n.role == Role::Server)
            .unwrap_or(node);
        let mut paths = PATHS;
        if node.role == Role::Agent {
            paths.done_marker = AGENT_DONE_MARKER;
        }
        let install = &settings.autoinstall;
        NodeContext {
            cluster: ClusterContext {
                name: settings.cluster_name.clone(),
                k3s_version: settings.k3s_version.clone(),
                pause_image: settings.pause_image.clone(),
                disable: settings.disable.clone(),
                embedded_registry: settings.embedded_registry,
                allow_downgrade: settings.allow_downgrade,
            },
            node: NodeInfo {
                name: node.name.clone(),
                role: role_name(node.role),
                ip: node.ip.to_string(),
                prefix: node.prefix,
                address: format!("{}/{}", node.ip, node.prefix),
                imports_images: node.imports_images,
            },
            server: ServerInfo {
                name: server.name.clone(),
                ip: server.ip.to_string(),
                url: format!("https://{}:6443", url_host(&server.ip)),
            },
            registry: RegistryInfo {
                host: settings.registry_host.clone(),
                port: settings.registry_port,
                endpoint: match (&settings.registry_host, settings.registry_port) {
                    (Some(host), Some(port)) => Some(format!("{host}:{port}")),
                    _ => None,
                },
                node_ca_path: settings.node_ca_path.clone(),
            },
            network: NetworkInfo {
                interface: settings.interface.clone(),
                nic: Nic::of(&settings.interface, node.mac.as_deref()),
                gateway: settings.gateway.map(|g| g.to_string()),
                gateway4: (settings.gateway)
                    .filter(IpAddr::is_ipv4)
                    .map(|g| g.to_string()),
                gateway6: (settings.gateway)
                    .filter(IpAddr::is_ipv6)
                    .map(|g| g.to_string()),
                nameservers: settings
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
                hops: settings.hops.clone(),
                servers: (settings.nodes.iter())
                    .filter(|n| n.role == Role::Server)
                    .map(|n| n.name.clone())
                    .collect(),
                server_addresses: (settings.nodes.iter())
                    .filter(|n| n.role == Role::Server)
                    .map(|n| url_host(&n.ip))
                    .collect(),
                upgrade: settings.upgrade_from.is_some() || !settings.hops.is_empty(),
            },
            install: InstallInfo {
                mode: node.install.as_str(),
                username: install.username.clone(),
                password_hash: match node.install {
                    InstallMode::Autoinstall => install
                        .password_hash
                        .as_ref()
                        .map(|h| h.expose().to_string()),
                    InstallMode::CloudInit => None,
                },
                ssh_authorized_keys: install.ssh_authorized_keys.clone(),
                storage_layout: install.storage_layout,
            },
            paths,
            token: settings.token.expose().to_string(),
        }
    }
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::Server => "server",
        Role::Agent => "agent",
    }
}

/// An IPv6 address goes in brackets inside a URL.
fn url_host(ip: &IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
    }
}
