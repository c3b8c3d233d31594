//! The pki step: the registry's CA and certificate kept or issued, and the registry
//! configs for k3s (`registries.yaml`), containerd (`certs.d/*/hosts.toml`) and the
//! registry itself; without a registry, only `registries.yaml` for k3s's embedded
//! registry mirror. It always runs: it rewrites no file whose bytes are right.

use super::{Cx, Done, StepKind, Work, payload_file};
use crate::Result;
use crate::config::Config;
use crate::pipeline::modes::Kind;
use crate::pki::{self, PkiReport, PkiSettings};
use crate::seed::PayloadFile;
use serde::Serialize;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Keep or issue the registry PKI and write the registry configs.
#[derive(Debug, Clone, Serialize)]
pub struct Pki {
    /// The output directory (`pki/`, `registries.yaml`, `registry/`, `certs.d/`).
    pub out: PathBuf,
    /// The registry's endpoint (`https://HOST:PORT`); none when the cluster has no
    /// registry (only `registries.yaml` for k3s's embedded registry mirror is written).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// The SANs of the registry certificate (none for plain HTTP or no registry).
    pub sans: Vec<String>,
    /// The registries mirrored to it (or, without a registry, shared between the nodes).
    pub mirrors: Vec<String>,
    /// The servers run k3s's embedded registry mirror.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub embedded_registry: bool,
    /// The registry needs a login: `registries.yaml` holds its password.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub auth: bool,
}

/// The step: the registry's PKI and configs with `registries.yaml`, or (no registry) only
/// the embedded registry mirror's `registries.yaml` listing the `upstreams`. Everything
/// the step will write is computed (and thrown away) now: bad PEM files in the PKI
/// directory and the SAN preflight fail the plan, before anything is written.
pub fn plan<'a>(
    config: &Config,
    output: &Path,
    pki: Option<&PkiSettings>,
    upstreams: impl Iterator<Item = &'a str>,
) -> Result<Pki> {
    let embedded_registry = config.cluster.embedded_registry;
    let Some(pki) = pki else {
        return Ok(Pki {
            out: output.to_path_buf(),
            endpoint: None,
            sans: Vec::new(),
            mirrors: upstreams
                .map(str::to_string)
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect(),
            embedded_registry,
            auth: false,
        });
    };
    pki::prepare(pki, output, pki::now())?;
    Ok(Pki {
        out: output.to_path_buf(),
        endpoint: Some(pki.endpoint()),
        sans: if pki.plain_http {
            Vec::new()
        } else {
            pki.sans().iter().map(ToString::to_string).collect()
        },
        mirrors: pki.mirror_hosts().into_iter().collect(),
        embedded_registry,
        auth: pki.auth.is_some(),
    })
}

impl StepKind for Pki {
    type Report = PkiReport;
    type Kept = ();
    const NAME: &'static str = "pki";

    fn describe(&self) -> String {
        let Some(endpoint) = &self.endpoint else {
            return format!(
                "write {} for k3s's embedded registry mirror, sharing {} between the nodes (only the servers' seeds carry the airgap archives); no registry: no registry CA or certificate, registry/config.yml or certs.d",
                self.out.join("registries.yaml").display(),
                self.mirrors.join(", ")
            );
        };
        format!(
            "registry PKI in {}/pki for {endpoint} (SANs {}), registries.yaml mirroring {}{}",
            self.out.display(),
            if self.sans.is_empty() {
                "none".to_string()
            } else {
                self.sans.join(", ")
            },
            self.mirrors.join(", "),
            if self.embedded_registry {
                "; k3s's embedded registry mirror on every node is tried before the registry, and only the servers' seeds carry the airgap archives"
            } else {
                ""
            }
        )
    }

    fn artifacts(&self, out: &mut dyn FnMut(PathBuf, Kind)) -> Result<()> {
        for (name, kind) in [
            ("ca.crt", Kind::Plain),
            ("ca.key", Kind::Secret),
            ("registry.crt", Kind::Plain),
            ("registry.key", Kind::Secret),
        ] {
            out(self.out.join("pki").join(name), kind);
        }
        // With a login, registries.yaml holds the registry's password.
        out(self.out.join("registries.yaml"), Kind::of_secret(self.auth));
        out(self.out.join("registry").join("config.yml"), Kind::Plain);
        out(self.out.join("registry").join("htpasswd"), Kind::Secret);
        for dir in crate::pipeline::seal::list_dir(&self.out.join("certs.d"))? {
            out(dir.join("hosts.toml"), Kind::Plain);
        }
        Ok(())
    }

    fn payload(&self) -> Vec<PayloadFile> {
        let mut files = Vec::new();
        // A plain-HTTP registry has no certificate, hence no CA to carry.
        if !self.sans.is_empty() {
            files.push(payload_file("pki/", &self.out.join("pki").join("ca.crt")));
        }
        files.push(payload_file("", &self.out.join("registries.yaml")));
        files
    }

    fn run<'p>(&'p self, cx: &mut Cx<'p>) -> Result<Work<'p, PkiReport>> {
        let prepared = match &cx.inputs.pki {
            Some(settings) => pki::prepare(settings, &self.out, pki::now())?,
            None => pki::prepare_embedded(&self.mirrors.iter().cloned().collect(), &self.out),
        };
        Ok(Work::Done(pki::commit(prepared, cx.reporter)?))
    }

    fn deliver(report: PkiReport, done: &mut Done) {
        done.pki = Some(report);
    }
}
