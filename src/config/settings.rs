//! The capabilities' settings, built from a loaded config: the config layer knows the
//! capabilities, never the other way round.

use super::{Config, ConfigError};
use crate::pki::{self, PkiSettings};

impl Config {
    /// The registry PKI settings of a build of this config whose images come from the `registries` hosts.
    pub fn pki_settings<'a>(
        &self,
        registries: impl IntoIterator<Item = &'a str>,
        source_date: Option<u64>,
    ) -> Result<PkiSettings, ConfigError> {
        let config = self;
        let r = &config.registry;
        let auth = match &r.auth {
            Some(a) => Some((
                a.username.0.clone(),
                a.password.resolve("registry.auth.password", &config.path)?,
            )),
            None => None,
        };
        Ok(PkiSettings {
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
            auth,
            rewrite: r.rewrite.clone(),
            mirrors: registries.into_iter().map(str::to_string).collect(),
            source_date,
        })
    }
}
