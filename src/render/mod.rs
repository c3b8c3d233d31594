//! Node files from templates: each node's NoCloud `user-data`, `meta-data` and
//! `network-config`, rendered with tera from templates embedded in the binary (or a
//! templates folder named in the config), then validated before anything is written.
//!
//! Two modes share one bootstrap. A `cloud-init` node's user-data is the first-boot config
//! itself. An `autoinstall` node's user-data is Ubuntu's installer config: it installs the
//! system, copies the seed's payload into it (late-commands) and hands the very same
//! first-boot config to the installed system's cloud-init (`autoinstall.user-data`).
//!
//! The shell scripts this replaces broke nodes in ways only a boot revealed: YAML that
//! parsed differently than intended, a missing `#cloud-config` header, template variables
//! left unrendered, units written but never enabled. Rendering here is strict (an undefined
//! variable is an error), and [`validate`] checks every rendered file the way its consumer
//! will read it, naming the node, the file and the line.

mod context;
pub mod notes;
mod schema;
mod units;
pub mod validate;

pub use context::{
    AutoinstallSettings, GLOB_FALLBACK, Nic, NodeContext, NodeSettings, PATHS, PAYLOAD_LABEL,
    RenderSettings, is_glob,
};

use crate::vocab::InstallMode;
use sha2::{Digest as _, Sha256};
use std::path::{Path, PathBuf};

/// The default templates, embedded so a single binary can render without a source tree:
/// (mode, name, text). The autoinstall mode adds its own templates and reuses the
/// cloud-init ones for the first boot and the network.
const EMBEDDED: &[(InstallMode, &str, &str)] = &[
    (
        InstallMode::CloudInit,
        "user-data",
        include_str!("../../templates/cloud-init/user-data.tera"),
    ),
    (
        InstallMode::CloudInit,
        "meta-data",
        include_str!("../../templates/cloud-init/meta-data.tera"),
    ),
    (
        InstallMode::CloudInit,
        "network-config",
        include_str!("../../templates/cloud-init/network-config.tera"),
    ),
    (
        InstallMode::CloudInit,
        "k3s-bootstrap.sh",
        include_str!("../../templates/cloud-init/k3s-bootstrap.sh.tera"),
    ),
    (
        InstallMode::CloudInit,
        "k3s-bootstrap-upgrade.sh",
        include_str!("../../templates/cloud-init/k3s-bootstrap-upgrade.sh.tera"),
    ),
    (
        InstallMode::Autoinstall,
        "user-data",
        include_str!("../../templates/autoinstall/user-data.tera"),
    ),
    (
        InstallMode::Autoinstall,
        "meta-data",
        include_str!("../../templates/autoinstall/meta-data.tera"),
    ),
    (
        InstallMode::Autoinstall,
        "late-commands.sh",
        include_str!("../../templates/autoinstall/late-commands.sh.tera"),
    ),
];

/// The template's name in tera (`cloud-init/user-data`).
fn template_key(mode: InstallMode, name: &str) -> String {
    format!("{}/{name}", mode.as_str())
}

/// Where a template is read from, relative to a templates folder: the cloud-init ones at
/// its top (`user-data.tera`), the autoinstall ones in `autoinstall/`.
fn template_file(mode: InstallMode, name: &str) -> PathBuf {
    match mode {
        InstallMode::CloudInit => PathBuf::from(format!("{name}.tera")),
        InstallMode::Autoinstall => Path::new("autoinstall").join(format!("{name}.tera")),
    }
}

/// A template's text with Windows line endings normalised: a UTF-8 byte-order mark is
/// dropped and CRLF becomes LF, so no `\r` reaches a node's shell script. A carriage
/// return anywhere else (old Mac endings, a pasted control character) is an error naming
/// the line, since no normalisation can tell what it was meant to be.
fn normalise_line_endings(text: &str, origin: &str) -> Result<String, RenderError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let text = text.replace("\r\n", "\n");
    match text.split('\n').position(|l| l.contains('\r')) {
        Some(i) => Err(RenderError::Template {
            template: origin.to_string(),
            line: Some(i + 1),
            message: "carriage return in the middle of a line (only CRLF line endings are accepted and normalised)".into(),
        }),
        None => Ok(text),
    }
}

/// The files (relative paths) a templates folder may hold to override the embedded
/// templates, of both install modes.
pub fn template_files() -> Vec<PathBuf> {
    EMBEDDED
        .iter()
        .map(|(mode, name, _)| template_file(*mode, name))
        .collect()
}

/// The embedded templates as (file relative to a templates folder, text): what a
/// templates folder starts from (`seedforge init --templates`).
pub fn embedded_templates() -> Vec<(PathBuf, &'static str)> {
    EMBEDDED
        .iter()
        .map(|(mode, name, text)| (template_file(*mode, name), *text))
        .collect()
}

/// Errors rendering or validating node files.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// A template could not be read.
    #[error("{}: cannot read template: {source}", path.display())]
    Read {
        /// The template file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A template does not parse, or uses something the context does not define.
    #[error("{template}{}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
    Template {
        /// The template (file name or embedded name).
        template: String,
        /// Line in the template, when known.
        line: Option<usize>,
        /// What is wrong.
        message: String,
    },
    /// A rendered file would break the node.
    #[error("node {node}: {file}:{line}: {message}")]
    Invalid {
        /// The node.
        node: String,
        /// The rendered file (`user-data`, …).
        file: String,
        /// 1-based line in the rendered file.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A secret the templates need could not be read.
    #[error(transparent)]
    Secret(#[from] crate::vocab::SecretError),
    /// The k3s release is unknown, so its pause image is too.
    #[error(transparent)]
    Preflight(#[from] crate::preflight::PreflightError),
}

/// The rendered NoCloud files of one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeFiles {
    /// The node's name.
    pub node: String,
    /// How the node is installed: what its user-data must be.
    pub install: InstallMode,
    /// `user-data` (holds the join token: write it 0600).
    pub user_data: String,
    /// `meta-data`.
    pub meta_data: String,
    /// `network-config`.
    pub network_config: String,
    /// The instance-id that `meta-data` carries (see [`NodeFiles::with_payload`]).
    pub instance_id: String,
}

impl NodeFiles {
    /// The files as a seed ISO carrying a payload listed by `payload_sums` holds them: the
    /// instance-id also covers the payload, so a seed whose payload changed (another CA,
    /// airgap archive or bundle) is a new instance to cloud-init, which then runs
    /// write_files and runcmd again.
    #[must_use]
    pub fn with_payload(&self, payload_sums: &str) -> NodeFiles {
        let id = instance_id(&self.user_data, &self.network_config, payload_sums);
        NodeFiles {
            meta_data: self.meta_data.replace(&self.instance_id, &id),
            instance_id: id,
            ..self.clone()
        }
    }

    /// The files as (name, content, mode), in a fixed order.
    pub fn files(&self) -> [(&'static str, &str, u32); 3] {
        [
            ("meta-data", &self.meta_data, 0o644),
            ("network-config", &self.network_config, 0o644),
            ("user-data", &self.user_data, 0o600),
        ]
    }
}

/// The loaded templates.
pub struct Templates {
    tera: tera::Tera,
    /// Each template's name, where it came from (for messages) and its text.
    sources: Vec<Source>,
}

struct Source {
    name: String,
    origin: String,
    text: String,
}

impl Templates {
    /// The embedded templates, overridden by same-named files in `dir` if given (see
    /// [`template_file`]). Line endings are normalised (see [`normalise_line_endings`]).
    pub fn load(dir: Option<&Path>) -> Result<Templates, RenderError> {
        let mut tera = tera::Tera::default();
        tera.autoescape_on(vec![]);
        tera.register_filter("sh", shell_word);
        let mut sources = Vec::new();
        for (mode, name, embedded) in EMBEDDED {
            let file = template_file(*mode, name);
            let (text, origin) = match dir.map(|d| d.join(&file)) {
                Some(path) if path.is_file() => {
                    let text = crate::input::read_to_string(&path, crate::input::Kind::Text)
                        .map_err(|e| RenderError::Read {
                            path: path.clone(),
                            source: e.into_io(),
                        })?;
                    (text, path.display().to_string())
                }
                _ => (
                    (*embedded).to_string(),
                    format!("templates/{}/{name}.tera", mode.as_str()),
                ),
            };
            sources.push(Source {
                name: template_key(*mode, name),
                text: normalise_line_endings(&text, &origin)?,
                origin,
            });
        }
        for source in &sources {
            tera.add_raw_template(&source.name, &source.text)
                .map_err(|e| template_error(source, &e))?;
        }
        Ok(Templates { tera, sources })
    }

    /// Where the template `name` of `mode` came from: its file, or its embedded name.
    fn origin(&self, mode: InstallMode, name: &str) -> String {
        let key = template_key(mode, name);
        self.sources
            .iter()
            .find(|s| s.name == key)
            .map_or(key, |s| s.origin.clone())
    }

    fn render(
        &self,
        mode: InstallMode,
        name: &str,
        context: &tera::Context,
    ) -> Result<String, RenderError> {
        let key = template_key(mode, name);
        self.tera.render(&key, context).map_err(|e| {
            match self.sources.iter().find(|s| s.name == key) {
                Some(source) => template_error(source, &e),
                None => RenderError::Template {
                    template: key.clone(),
                    line: None,
                    message: e.to_string(),
                },
            }
        })
    }
}

/// The `sh` filter: a string or number as one shell word ([`crate::shell::quote`]), the
/// only way a template puts a value into a script. Anything else (a list, a map, null) is
/// an error, not its JSON text.
fn shell_word(
    value: &tera::Value,
    _args: &std::collections::HashMap<String, tera::Value>,
) -> tera::Result<tera::Value> {
    let text = match value {
        tera::Value::String(s) => s.clone(),
        tera::Value::Number(n) => n.to_string(),
        other => {
            return Err(tera::Error::msg(format!(
                "the sh filter takes a string or a number, not {other}"
            )));
        }
    };
    crate::shell::quote(&text)
        .map(|q| tera::Value::String(q.into_owned()))
        .map_err(|e| tera::Error::msg(format!("the sh filter: {e}")))
}

/// A tera error as `template:line: message`, with tera's chain of causes flattened.
fn template_error(source: &Source, e: &tera::Error) -> RenderError {
    let mut message = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        message = format!("{message}: {c}");
        cause = c.source();
    }
    // tera reports parse errors as " --> L:C"; undefined variables only by name.
    let line = message
        .split(" --> ")
        .nth(1)
        .and_then(|rest| rest.split(':').next())
        .and_then(|l| l.trim().parse().ok())
        .or_else(|| undefined_variable_line(&message, &source.text));
    RenderError::Template {
        template: source.origin.clone(),
        line,
        message: message.replace('\n', " "),
    }
}

/// The first line of `text` that mentions the variable an "not found in context" error names.
fn undefined_variable_line(message: &str, text: &str) -> Option<usize> {
    let var = message.split('`').nth(1)?;
    text.lines().position(|l| l.contains(var)).map(|i| i + 1)
}

/// Renders and validates the files of one node.
pub fn render_node(
    settings: &RenderSettings,
    node: &NodeSettings,
    templates: &Templates,
) -> Result<NodeFiles, RenderError> {
    use InstallMode::{Autoinstall, CloudInit};
    let ctx = NodeContext::new(settings, node);
    let mut context = tera::Context::from_serialize(&ctx).map_err(|e| RenderError::Template {
        template: "context".into(),
        line: None,
        message: e.to_string(),
    })?;
    let bootstrap = templates.render(CloudInit, "k3s-bootstrap.sh", &context)?;
    context.insert("bootstrap", &bootstrap);
    // The upgrade's functions: a file of their own on the node, which the bootstrap sources.
    let upgrade = templates.render(CloudInit, "k3s-bootstrap-upgrade.sh", &context)?;
    context.insert("bootstrap_upgrade", &upgrade);
    let first_boot = templates.render(CloudInit, "user-data", &context)?;
    let network_config = templates.render(CloudInit, "network-config", &context)?;
    let user_data = match node.install {
        CloudInit => first_boot,
        Autoinstall => {
            // Included into the installer's config by its template, which decides the
            // indentation and what follows them.
            let body = first_boot
                .strip_prefix("#cloud-config\n")
                .unwrap_or(&first_boot);
            context.insert("first_boot", body.trim_end_matches('\n'));
            context.insert("network_config", network_config.trim_end_matches('\n'));
            let late = templates.render(Autoinstall, "late-commands.sh", &context)?;
            context.insert("late_commands", late.trim_end_matches('\n'));
            templates.render(Autoinstall, "user-data", &context)?
        }
    };
    let instance_id = instance_id(&user_data, &network_config, "");
    context.insert("instance_id", &instance_id);
    let meta_data = templates.render(node.install, "meta-data", &context)?;
    let files = NodeFiles {
        node: node.name.clone(),
        install: node.install,
        user_data,
        meta_data,
        network_config,
        instance_id,
    };
    validate::node_files(&files).map_err(|e| match e {
        RenderError::Invalid {
            node: name,
            file,
            line,
            message,
        } => {
            // network-config is always cloud-init's template; the others the install mode's.
            let mode = match file.as_str() {
                "network-config" => CloudInit,
                _ => node.install,
            };
            let message = format!(
                "{message} [from template {}]",
                templates.origin(mode, &file)
            );
            RenderError::Invalid {
                node: name,
                file,
                line,
                message,
            }
        }
        other => other,
    })?;
    Ok(files)
}

/// Renders every node.
pub fn render_all(settings: &RenderSettings) -> Result<Vec<NodeFiles>, RenderError> {
    let templates = Templates::load(settings.templates.as_deref())?;
    let nodes = &settings.nodes;
    let threads = std::thread::available_parallelism()
        .map_or(1, std::num::NonZeroUsize::get)
        .min(nodes.len().div_ceil(4))
        .max(1);
    if threads == 1 {
        return nodes
            .iter()
            .map(|n| render_node(settings, n, &templates))
            .collect();
    }
    // Rendering and checking a node is CPU work (templates, YAML, the schema, `bash -n`):
    // the nodes are shared out over the cores, and the first error in node order wins.
    let chunk = nodes.len().div_ceil(threads);
    let results: Vec<Vec<Result<NodeFiles, RenderError>>> = std::thread::scope(|scope| {
        let workers: Vec<_> = nodes
            .chunks(chunk)
            .map(|part| {
                let templates = &templates;
                scope.spawn(move || {
                    part.iter()
                        .map(|n| render_node(settings, n, templates))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    results.into_iter().flatten().collect()
}

/// cloud-init runs its per-instance modules again only when the instance id changes: a
/// hash of everything on the seed (the payload by its `SHA256SUMS`, empty for files
/// rendered without one) makes a changed seed take effect and an unchanged one not.
fn instance_id(user_data: &str, network_config: &str, payload_sums: &str) -> String {
    let mut h = Sha256::new();
    h.update(user_data.as_bytes());
    h.update([0u8]);
    h.update(network_config.as_bytes());
    if !payload_sums.is_empty() {
        h.update([0u8]);
        h.update(payload_sums.as_bytes());
    }
    let hex = crate::hashing::hex(&h.finalize()[..8]);
    format!("iid-seedforge-{hex}")
}

/// Writes a node's files into `dir` (created if missing), each atomically and with its mode
/// from the start: `user-data` carries the join token and is 0600.
pub fn write_node_files(files: &NodeFiles, dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for (name, content, mode) in files.files() {
        crate::util::atomic_write_mode(&dir.join(name), content.as_bytes(), mode)?;
    }
    Ok(())
}
