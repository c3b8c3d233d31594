//! `seedforge serve`: the build output's images as a read-only registry.

use super::common::{CliError, ExitCode, Global, Kind, print_json, read_lock_output};
use clap::Args;
use seedforge::pipeline::seal::ManifestView;
use seedforge::serve::{Limits, Options, Server, Stopped};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

const AFTER_HELP: &str = "\
It answers the pull side of the OCI distribution spec 1.1 (manifests by tag and digest,
blobs with Range, tags lists, the referrers API, containerd's ?ns=), which is all k3s,
containerd, skopeo, crane, cosign verify and oras discover ask of a registry. Writes are
refused (405 UNSUPPORTED): push into a registry of your own with `seedforge push`.

Images keep the names the build's registries.yaml and certs.d/*/hosts.toml send the nodes
for: docker.io/rancher/mirrored-pause:3.6 is HOST:PORT/rancher/mirrored-pause:3.6.
Each request reads OUT as it is then: a later `seedforge build`, `apply` or `gc` on OUT
is served from its next request on, without a restart, and a new registry certificate from
its next connection on. serve holds OUT's build lock shared: it waits for a build writing
OUT before it starts (or with --no-wait exits 75), and when a build, apply or gc waits for
OUT it lets the lock go, answers new requests 503 (Retry-After) until that is done, and
takes the lock again.

Examples:
  seedforge serve out                               (the config's registry address)
  seedforge serve out --listen 0.0.0.0:5000
  seedforge serve out --print-unit > /etc/systemd/system/seedforge-registry.service";

/// Arguments of `seedforge serve`.
#[derive(Debug, Args)]
#[command(after_help = AFTER_HELP)]
pub(crate) struct ServeArgs {
    /// The build output to serve: its OCI layout (OUT/oci), the registry certificate and
    /// key (OUT/pki/registry.crt, registry.key) and, when the config sets registry.auth,
    /// its htpasswd (OUT/registry/config.yml names it). Each image is served at its
    /// repository as the mirror rewrites of OUT/registries.yaml make it (the path the
    /// nodes ask for).
    #[arg(value_name = "OUT")]
    out: PathBuf,
    /// The address and port to listen on. Default: the registry address and port of the
    /// build's config (registry.host and registry.port, as OUT/manifest.json records them
    /// and registries.yaml points the nodes at); a DNS name there listens on every
    /// interface at that port.
    #[arg(long, value_name = "ADDR:PORT")]
    listen: Option<SocketAddr>,
    /// Serve plain HTTP, without TLS (the default is TLS with the build's registry
    /// certificate; a config with registry.plain_http needs this flag).
    #[arg(long)]
    plain_http: bool,
    /// Print a systemd unit that runs this command on the registry host, and exit.
    #[arg(long)]
    print_unit: bool,
    /// Seconds a connection may stay with nothing read or written before it is closed.
    #[arg(long, value_name = "SECONDS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    idle_timeout: u64,
    /// Seconds a response may stay unread by its client before the connection is closed.
    #[arg(long, value_name = "SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    write_timeout: u64,
    /// Connections served at once [default: the open-file limit, raised to its hard
    /// limit, less a margin].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    max_connections: Option<u64>,
    /// Fail at once (exit 75) instead of waiting when a build, apply or gc is writing OUT
    /// (OUT/.seedforge-build.lock held).
    #[arg(long)]
    no_wait: bool,
}

/// The build lock as `serve` holds it.
struct Held(seedforge::pipeline::build_lock::BuildLock);

impl seedforge::serve::lock::HeldLock for Held {
    fn still_at_path(&self) -> bool {
        self.0.still_at_path()
    }
    fn writer_waits(&self) -> bool {
        self.0.writer_waits()
    }
}

pub(crate) fn serve_cmd(g: &Global, a: &ServeArgs) -> Result<ExitCode, CliError> {
    // OUT read under its build lock, shared, from before its first read: never an output
    // a build is writing; held while serving, and yielded to each writer that waits.
    let lock = if a.print_unit {
        None
    } else {
        read_lock_output(g, &a.out, !a.no_wait)?
    };
    let listen = match a.listen {
        Some(listen) => listen,
        None => default_listen(&a.out, a.plain_http)?,
    };
    if a.print_unit {
        let exe = std::env::current_exe()
            .map_err(|e| CliError::Usage(format!("cannot tell this program's path: {e}")))?;
        let out = std::path::absolute(&a.out).unwrap_or_else(|_| a.out.clone());
        let mut args = Vec::new();
        if let Some(listen) = a.listen {
            args.extend(["--listen".to_string(), listen.to_string()]);
        }
        if a.plain_http {
            args.push("--plain-http".into());
        }
        out!("{}", seedforge::serve::unit(&exe, &out, &args));
        return Ok(ExitCode::Ok);
    }
    let fd_limit = seedforge::serve::raise_fd_limit();
    let max_connections = a
        .max_connections
        .unwrap_or(fd_limit.saturating_sub(64).clamp(16, 1 << 20));
    let options = Options {
        out: a.out.clone(),
        listen,
        plain_http: a.plain_http,
        limits: Limits {
            max_connections: usize::try_from(max_connections).unwrap_or(usize::MAX),
            idle_timeout: Duration::from_secs(a.idle_timeout),
            write_timeout: Duration::from_secs(a.write_timeout),
            ..Limits::default()
        },
        rewrites: super::common::registry::output_rewrites(&a.out)?,
    };
    let how = seedforge::serve::lock::OutputLock {
        file_name: seedforge::pipeline::build_lock::LOCK_FILE_NAME,
        acquire_shared: Box::new(|out: &Path, on_wait: &mut dyn FnMut()| {
            seedforge::pipeline::build_lock::BuildLock::acquire_shared(out, true, &mut |_| {
                on_wait()
            })
            .map(|l| l.map(|l| Box::new(Held(l)) as Box<dyn seedforge::serve::lock::HeldLock>))
            .map_err(|e| e.to_string())
        }),
    };
    let lock = lock.map(|l| Box::new(Held(l)) as Box<dyn seedforge::serve::lock::HeldLock>);
    let server = Server::bind(&options)?.holding(lock, how);
    let addr = server
        .local_addr()
        .map_err(|source| seedforge::serve::ServeError::Listen {
            addr: listen,
            source,
        })?;
    let scheme = if a.plain_http { "http" } else { "https" };
    if g.json {
        print_json(
            g,
            Kind::Serve,
            &serde_json::json!({
                "listen": format!("{scheme}://{addr}"),
                "images": server.images(),
                "out": a.out,
            }),
        );
    } else if !g.quiet {
        outln!(
            "serving {} image(s) from {} on {scheme}://{addr} (read-only; {} connections at most)",
            server.images(),
            a.out.display(),
            max_connections
        );
    }
    let stopped = server.run()?;
    if !g.quiet {
        errln!(
            "stopped ({})",
            match stopped {
                Stopped::Interrupt => "SIGINT",
                Stopped::Terminate => "SIGTERM",
            }
        );
    }
    Ok(ExitCode::Ok)
}

/// The address the build's config gives its registry, from `OUT/manifest.json`.
fn default_listen(out: &Path, plain_http: bool) -> Result<SocketAddr, CliError> {
    let view = ManifestView::load(out)?;
    let Some(registry) = view.registry else {
        return Err(CliError::Usage(format!(
            "{}: the build has no registry (registry: is not set in its config); give --listen ADDR:PORT",
            out.join("manifest.json").display()
        )));
    };
    if registry.plain_http && !plain_http {
        return Err(CliError::Usage(format!(
            "{}: the build's registry is plain HTTP (registry.plain_http), so it has no certificate; pass --plain-http",
            out.join("manifest.json").display()
        )));
    }
    let host = registry.host.trim_start_matches('[').trim_end_matches(']');
    let ip = host
        .parse::<IpAddr>()
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    Ok(SocketAddr::new(ip, registry.port))
}
