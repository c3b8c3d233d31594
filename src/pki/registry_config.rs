//! `registry/config.yml` for a distribution registry (Debian's `docker-registry`, the
//! `registry:2` image) that serves the mirrored images to the nodes with the issued
//! certificate. Its certificate, key and htpasswd paths are relative to the build's output
//! directory: run `docker-registry serve registry/config.yml` from there. Its storage is
//! `registry.storage` on the registry's host, outside the output, which is sealed.

use super::PkiSettings;
use super::registries_yaml::quote;
use crate::vocab::Host;
use std::fmt::Write as _;

/// Renders the registry config for `settings`.
pub fn render(settings: &PkiSettings) -> String {
    // An address host is bound exactly; for a name, every interface on the port.
    let addr = match &settings.host {
        Host::Ip(_) => settings.address(),
        Host::Name(_) => format!(":{}", settings.port),
    };
    let mut out = String::from(
        "# Distribution registry configuration written by seedforge.\n\
         # Serve from the output directory: docker-registry serve registry/config.yml\n\
         version: 0.1\n\
         log:\n  level: info\n\
         storage:\n  filesystem:\n",
    );
    let _ = writeln!(out, "    rootdirectory: {}", quote(&settings.storage));
    // `seedforge push --prune` deletes what a new output dropped.
    out.push_str("  delete:\n    enabled: true\n");
    out.push_str("http:\n");
    let _ = writeln!(out, "  addr: {}", quote(&addr));
    if !settings.plain_http {
        out.push_str("  tls:\n");
        out.push_str("    certificate: \"pki/registry.crt\"\n");
        out.push_str("    key: \"pki/registry.key\"\n");
    }
    if settings.auth.is_some() {
        out.push_str(
            "auth:\n  htpasswd:\n    realm: \"seedforge\"\n    path: \"registry/htpasswd\"\n",
        );
    }
    out
}
