//! `seedforge init`: a commented starter config, the k3s image list of its release and a
//! fresh join token, so that a new folder is one edit away from `seedforge build`.

use super::common::{CliError, ExitCode, Global, Kind, print_json, write_error};
use clap::Args;

use std::path::{Path, PathBuf};

/// Arguments of `seedforge init`.
#[derive(Debug, Args)]
pub(super) struct InitArgs {
    /// The folder to start in (made if missing).
    #[arg(default_value = ".")]
    dir: PathBuf,
    /// The k3s release the cluster runs (its image list is written to images.txt); one
    /// of the releases this seedforge knows the images of (the newest by default).
    #[arg(long, value_name = "VERSION")]
    k3s_version: Option<String>,
    /// Also write the node templates (cloud-init and autoinstall) into DIR/templates, to
    /// edit, and point the config at them. Without it the embedded ones are used.
    #[arg(long)]
    templates: bool,
}

/// The starter config: every required key, the common optional ones as comments.
const CONFIG: &str = r#"# seedforge.yaml: one file that describes an air-gapped k3s cluster. `seedforge plan`
# checks it and prints the steps; `seedforge build` writes everything into `output`.
# Every key is described in docs/config.md of the seedforge sources (`seedforge --help`).
version: 1

cluster:
  name: lab                      # a DNS label: letters, digits, '-'
  k3s_version: @K3S_VERSION@
  # The join token is read from a file (or {env: NAME}); `seedforge init` made one,
  # kept out of git by .gitignore. In CI, give it from the secret store: {env: NAME}.
  token: {file: token}
  # disable: [traefik]           # k3s components to switch off
  # embedded_registry: true      # k3s shares the servers' images between the nodes
                                 # (v1.29.12+); the registry section is then optional
                                 # (without it not v1.32.10, v1.33.6 or v1.34.2)

# The registry the nodes pull from (its CA and certificate are made by the build).
registry:
  host: 192.168.6.1              # its IP address or DNS name, as the nodes reach it
  port: 5000
  # sans: [registry.lab]         # more names or addresses for its certificate

images:
  lists:
    - images.txt                 # SOURCE [DESTINATION] per line; k3s's own images are listed
  platforms:
    - linux/amd64

# One seed ISO per node; each boots with a static address.
# seeds: {payload: shared}       # one payload.iso for every node, seeds of a few KiB
nodes:
  - name: server1
    role: server
    address: 192.168.6.10/24
  - name: agent1
    role: agent
    address: 192.168.6.11/24

network:
  gateway: 192.168.6.1
  nameservers:
    - 192.168.6.1

# .deb bundles installed on first boot, for nodes with no package mirror:
# packages:
#   - name: ops
#     sets: [k3s-ops]
#     repo: {url: http://deb.debian.org/debian, suite: bookworm}
#   - name: registry-host              # the registry software, for the registry host only
#     packages: [docker-registry]
#     nodes: false                     # not on the seeds (docs/workflow.md, the far side)
#     base: registry-host-status       # the registry host's /var/lib/dpkg/status
#     repo: {url: http://deb.debian.org/debian, suite: bookworm}

# Files every node gets under /usr/local/seed/payload (the k3s binary, for one):
# files:
#   - name: bin/k3s
#     source: https://github.com/k3s-io/k3s/releases/download/@K3S_URL_VERSION@/k3s
#     sha256: "<sha256 of the file>"
#     executable: true

# Helm charts the servers install at first boot (k3s's HelmChart), and manifests k3s
# applies at start:
# charts:
#   - name: demo                       # a DNS label, unique
#     repo: https://charts.example.com # a Helm repository, or oci://HOST/PATH
#     chart: demo-app                  # the chart's name there (default: name)
#     version: 1.2.3                   # exact: no ranges, no latest
#     namespace: apps                  # default: default
#     values: demo-values.yaml         # optional, relative to this file
# manifests:
#   - manifests/

# The node templates (user-data, the bootstrap script, …) are embedded; to change them,
# `seedforge init --templates` writes them into templates/ and sets this:
# templates: templates

output: out
"#;

/// What a folder `init` starts keeps out of git: the join token (a secret) and the build
/// output (state a pipeline keeps between runs: `out/pki` holds the registry CA's key).
const GITIGNORE: &str =
    "# Written by seedforge init. Commit seedforge.yaml, images.txt, seedforge.lock and
# templates/; keep these out of git:
# the join token, a secret (in CI, give it as cluster.token: {env: NAME})
/token
# the build output: keep it between runs (out/pki holds the registry CA and its key,
# which the nodes trust), never in git
/out/
";

pub(super) fn init_cmd(g: &Global, a: &InitArgs) -> Result<ExitCode, CliError> {
    let version = a
        .k3s_version
        .clone()
        .unwrap_or_else(|| seedforge::preflight::newest_known_release().to_string());
    let Some(list) = seedforge::preflight::release_image_list(&version) else {
        return Err(CliError::Usage(unknown_release(&version)));
    };
    let mut config = CONFIG
        .replace("@K3S_VERSION@", &version)
        .replace("@K3S_URL_VERSION@", &version.replace('+', "%2B"));
    if a.templates {
        config = config.replace("# templates: templates\n", "templates: templates\n");
    }
    let mut files = vec![
        (PathBuf::from("seedforge.yaml"), config, 0o644),
        (
            PathBuf::from("images.txt"),
            format!("# The images k3s {version} runs (its airgap image set).\n{list}"),
            0o644,
        ),
        (PathBuf::from("token"), format!("{}\n", token()?), 0o600),
        (PathBuf::from(".gitignore"), GITIGNORE.to_string(), 0o644),
    ];
    if a.templates {
        for (file, text) in seedforge::render::embedded_templates() {
            files.push((Path::new("templates").join(file), text.to_string(), 0o644));
        }
    }
    // Nothing is written over, and nothing through a symbolic link (`templates` linked
    // to another folder would receive the files): every name is checked before the first
    // file is written.
    seedforge::outpath::refuse_non_folder(&a.dir)?;
    for (name, _, _) in &files {
        let path = a.dir.join(name);
        seedforge::outpath::refuse_links_under(&a.dir, name)?;
        if let Some(parent) = path.parent() {
            seedforge::outpath::refuse_non_folder(parent)?;
        }
        if path.symlink_metadata().is_ok() {
            return Err(CliError::Usage(format!(
                "{}: already exists; seedforge init writes only files that do not exist",
                path.display()
            )));
        }
    }
    let io = write_error;
    let mut written = Vec::new();
    for (name, text, mode) in &files {
        let path = a.dir.join(name);
        let parent = path.parent().unwrap_or(&a.dir);
        std::fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
        seedforge::util::atomic_write_mode(&path, text.as_bytes(), *mode)
            .map_err(|e| io(&path, e))?;
        if !g.json {
            outln!("wrote {}", path.display());
        }
        written.push(path);
    }
    if g.json {
        print_json(
            g,
            Kind::Init,
            &serde_json::json!({ "dir": a.dir, "k3s_version": version, "written": written }),
        );
        return Ok(ExitCode::Ok);
    }
    outln!(
        "next: set the registry, node addresses and network in seedforge.yaml, then run\n  seedforge plan   (checks everything, writes nothing)\n  seedforge build"
    );
    Ok(ExitCode::Ok)
}

/// Why `--k3s-version VERSION` cannot start a folder: every release this seedforge knows
/// the images of, and how to use another.
fn unknown_release(version: &str) -> String {
    format!(
        "--k3s-version {version}: this seedforge knows the images of {}; give one of them (or give another release, write its k3s-images.txt yourself and set cluster.release_images to it)",
        seedforge::preflight::known_releases().join(", ")
    )
}

/// A join token: 32 random bytes as hex.
fn token() -> Result<String, CliError> {
    use ring::rand::SecureRandom as _;
    let mut bytes = [0u8; 32];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| CliError::Usage("no randomness for a join token".into()))?;
    Ok(seedforge::hashing::hex(&bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_release_is_told_every_known_one() {
        let message = unknown_release("v1.30.0+k3s1");
        for known in seedforge::preflight::known_releases() {
            assert!(message.contains(known), "{known}: {message}");
        }
        assert!(message.contains("v1.32.5+k3s1, v1.33.1+k3s1"), "{message}");
        assert!(message.contains("cluster.release_images"), "{message}");
    }

    /// The commented `charts:` and `manifests:` entries, uncommented, are a config the
    /// reader accepts: the starter shows what works.
    #[test]
    fn the_starter_configs_commented_charts_entry_parses() {
        let config = CONFIG
            .replace("@K3S_VERSION@", "v1.33.1+k3s1")
            .replace("@K3S_URL_VERSION@", "v1.33.1%2Bk3s1");
        assert!(!config.contains('@'), "{config}");
        let mut inside = false;
        let text: String = config
            .lines()
            .map(|l| {
                if l == "# charts:" {
                    inside = true;
                }
                let out = match l.strip_prefix("# ") {
                    Some(rest) if inside => rest.to_string(),
                    _ => l.to_string(),
                };
                if l.is_empty() {
                    inside = false;
                }
                out + "\n"
            })
            .collect();
        assert!(text.contains("\ncharts:\n"), "{text}");
        let parsed = seedforge::config::Config::parse(&text, Path::new("seedforge.yaml")).unwrap();
        assert_eq!(parsed.charts.len(), 1);
        assert_eq!(parsed.charts[0].chart, "demo-app");
        assert_eq!(parsed.manifests.len(), 1);
    }
}
