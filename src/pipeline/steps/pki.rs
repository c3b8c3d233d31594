//! The pki step: the registry's CA and certificate kept or issued, and the registry
//! configs for k3s (`registries.yaml`), containerd (`certs.d/*/hosts.toml`) and the
//! registry itself; without a registry, only `registries.yaml` for k3s's embedded
//! registry mirror. It always runs: it rewrites no file whose bytes are right.

use super::{Cx, Done, StepKind, Work, payload_file};
use crate::Result;
use crate::config::Config;
use crate::oci::registry::lockfile::CaPin;
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
    /// What the step changes on purpose: `ca`, the CA rotated (`--rotate-ca`): `old`,
    /// the fingerprint the nodes trust; the new one is made by the build.
    #[serde(skip_serializing_if = "PlannedChanges::is_empty")]
    pub changes: PlannedChanges,
    /// The seeds carry `pki/ca-bundle.crt` (the new CA and the old one) as `pki/ca.crt`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub node_bundle: bool,
    /// The build is of the config's own output: `seedforge.lock` records its CA.
    #[serde(skip)]
    pub record_in_lock: bool,
}

/// The planned changes of the PKI step.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PlannedChanges {
    /// The CA rotated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca: Option<PlannedCa>,
}

impl PlannedChanges {
    fn is_empty(&self) -> bool {
        self.ca.is_none()
    }
}

/// A planned rotation of the CA.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedCa {
    /// The fingerprint of the CA the nodes trust.
    pub old: String,
    /// `null`: the build makes it (or the fingerprint of `registry.ca.import`).
    pub new: Option<String>,
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
    record_in_lock: bool,
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
            changes: PlannedChanges::default(),
            node_bundle: false,
            record_in_lock,
        });
    };
    let prepared = pki::prepare(pki, output, pki::now())?;
    // A new CA made now is thrown away: the build makes its own.
    let changes = PlannedChanges {
        ca: prepared.report.changes.ca.as_ref().map(|c| PlannedCa {
            old: c.old.clone(),
            new: (prepared.report.ca == Some(pki::Outcome::Imported)).then(|| c.new.clone()),
        }),
    };
    Ok(Pki {
        changes,
        node_bundle: prepared.node_bundle,
        record_in_lock,
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

impl Pki {
    /// The lock's record of the CA the step left in `OUT/pki` (none without one).
    fn ca_pin(&self) -> Result<Option<CaPin>> {
        let path = self.out.join("pki").join("ca.crt");
        if self.sans.is_empty() || !path.is_file() {
            return Ok(None);
        }
        let bytes = crate::input::read_found(&path, crate::input::Kind::Text).map_err(|e| {
            pki::PkiError::Io {
                path: path.clone(),
                source: e.into_io(),
            }
        })?;
        let certificate = String::from_utf8_lossy(&bytes).into_owned();
        Ok(
            pki::continuity::fingerprint_pem(&bytes).map(|fingerprint| CaPin {
                fingerprint,
                certificate,
            }),
        )
    }
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
            "registry PKI in {}/pki for {endpoint} (SANs {}), registries.yaml mirroring {}{}{}",
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
            },
            match (&self.changes.ca, self.node_bundle) {
                (Some(ca), true) => format!(
                    "; ROTATES the registry CA {} (--rotate-ca): a new CA signs the registry's certificate, and the seeds carry pki/ca-bundle.crt (the new CA and the old one) so the nodes trust both until the next build drops the old one",
                    ca.old
                ),
                (Some(ca), false) => format!(
                    "; ROTATES the registry CA {} (--rotate-ca): its certificate is not here, so the nodes get the new CA alone",
                    ca.old
                ),
                (None, true) => "; the seeds carry pki/ca-bundle.crt as it is (the output of a build that rotated the CA)".to_string(),
                (None, false) => String::new(),
            }
        )
    }

    fn artifacts(&self, out: &mut dyn FnMut(PathBuf, Kind)) -> Result<()> {
        for (name, kind) in [
            ("ca.crt", Kind::Plain),
            (pki::continuity::BUNDLE, Kind::Plain),
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
            // The nodes install the payload's pki/ca.crt: the trust bundle of a rotating
            // build's output (the new CA and the old one), else the CA.
            let mut ca = payload_file("pki/", &self.out.join("pki").join("ca.crt"));
            if self.node_bundle {
                ca.source = self.out.join("pki").join(pki::continuity::BUNDLE);
            }
            files.push(ca);
        }
        files.push(payload_file("", &self.out.join("registries.yaml")));
        files
    }

    fn run<'p>(&'p self, cx: &mut Cx<'p>) -> Result<Work<'p, PkiReport>> {
        let prepared = match &cx.inputs.pki {
            Some(settings) => pki::prepare(settings, &self.out, pki::now())?,
            None => pki::prepare_embedded(&self.mirrors.iter().cloned().collect(), &self.out),
        };
        let report = pki::commit(prepared, cx.reporter)?;
        if self.record_in_lock
            && let Some((_, lock)) = &mut cx.lock
        {
            lock.registry_ca = self.ca_pin()?;
        }
        Ok(Work::Done(report))
    }

    fn deliver(report: PkiReport, done: &mut Done) {
        done.pki = Some(report);
    }
}
