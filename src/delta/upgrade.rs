//! `seedforge plan --upgrade-from RECEIPT`: what a delta of the config's output since a far
//! side's receipt would carry, and the order in which the far side's nodes take the new
//! output without a node losing what its pods run on:
//!
//! 1. the delta is carried and applied (`seedforge apply DELTA --to OUT`);
//! 2. every node, its new seed (and payload medium) attached, runs
//!    `seedforge-bootstrap --images-only`: the new images placed and imported by the k3s it
//!    runs, nothing else changed, so no node later starts a k3s whose images it lacks;
//! 3. the servers, one at a time, then 4. the agents, the same way: the new seed attached,
//!    a reboot or `systemctl restart seedforge-bootstrap`, and the next node only once
//!    `/var/lib/seedforge/status.json` says `state: done`, the new payload and the new
//!    k3s version. The bootstrap removes the old archives once the new k3s runs.
//!
//! When the output rotates the registry CA (`build --rotate-ca`: `changes.ca`), every
//! node first installs the delta's node trust bundle (the new CA and the old one) before
//! the far side applies it, so no node meets the registry's new certificate without
//! trusting it; the next delta drops the old CA.
//!
//! The figures are those of the output as it is: built from the config, sealed. Nothing
//! is written.

use super::DeltaError;
use super::carry::{CarryPreview, preview};
use super::downgrade::newer;
use super::receipt::Receipt;
use crate::seed::PayloadFile;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The bootstrap's status file on a node.
pub const NODE_STATUS: &str = "/var/lib/seedforge/status.json";

/// A node of the config.
#[derive(Debug, Clone, Serialize)]
pub struct UpgradeNode {
    /// Its name.
    pub name: String,
    /// `server` or `agent`.
    pub role: String,
}

/// The k3s releases before and after.
#[derive(Debug, Clone, Serialize)]
pub struct K3sChange {
    /// The far side's, as the receipt records it (`None`: a receipt of format 1).
    pub from: Option<String>,
    /// The new output's.
    pub to: Option<String>,
    /// True when `from` is newer than `to`: the nodes refuse the payload unless the
    /// config sets `cluster.allow_downgrade: true`.
    pub downgrade: bool,
    /// The releases the nodes step through before `to` (`cluster.upgrade_path`'s hops
    /// newer than `from`), oldest first.
    pub hops: Vec<String>,
}

/// One step of the upgrade.
#[derive(Debug, Clone, Serialize)]
pub struct UpgradeStep {
    /// Where: `near side`, `far side`, or a node's name.
    pub on: String,
    /// The command or action.
    pub run: String,
    /// What to wait for before the next step, if anything.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
}

/// What `plan --upgrade-from` reports.
#[derive(Debug, Clone, Serialize)]
pub struct UpgradePlan {
    /// The receipt.
    pub receipt: PathBuf,
    /// Its digest.
    pub receipt_digest: String,
    /// The output the delta would be made of.
    pub output: PathBuf,
    /// True when the far side already holds this output (same manifest.json).
    pub up_to_date: bool,
    /// False when the output is not the build of the config's inputs as they are now
    /// (then the figures are of the output as it is: build first).
    pub output_current: bool,
    /// What the delta would carry.
    pub delta: CarryPreview,
    /// The k3s releases.
    pub k3s: K3sChange,
    /// The digest of the new payload's `SHA256SUMS`, the `payload` a node's status file
    /// shows once it runs the new output (when the output's seal gives every payload
    /// file's digest).
    pub payload: Option<String>,
    /// The order, one step a line.
    pub steps: Vec<UpgradeStep>,
}

/// `plan` of a config with `cluster.upgrade_from` and hops: the nodes' order from the
/// release they run through the hops to the config's.
#[derive(Debug, Clone, Serialize)]
pub struct PathOrder {
    /// `cluster.upgrade_from`.
    pub from: String,
    /// The hops, oldest first.
    pub hops: Vec<String>,
    /// `cluster.k3s_version`.
    pub to: String,
    /// The order, one step a line.
    pub steps: Vec<UpgradeStep>,
}

/// The [`PathOrder`] of nodes `nodes` from `from` through `hops` to `to`.
pub fn path_order(from: &str, hops: &[String], to: &str, nodes: &[UpgradeNode]) -> PathOrder {
    PathOrder {
        from: from.to_string(),
        hops: hops.to_vec(),
        to: to.to_string(),
        steps: node_order(nodes, hops, to, None),
    }
}

/// Refuses the upgrade of the far side of the receipt `receipt_path` to the release the
/// config `config` says (`cluster.k3s_version`, named at its line) when it skips a minor;
/// checked before anything is planned. (An output not built from the config as it is now
/// is the config's to follow: the plan says so.)
pub fn check_minors(receipt_path: &Path, config: &Path, hops: &[String]) -> Result<(), DeltaError> {
    let receipt = Receipt::load(receipt_path)?;
    let to = crate::config::k3s_version_at(config).map(|(_, _, v)| v);
    super::skew::check(
        config,
        (
            receipt.k3s_version.as_deref(),
            "the far side's, as its receipt records",
        ),
        (to.as_deref(), "the config's"),
        hops,
        Some(config),
        super::downgrade::Side::Near,
    )
}

/// The upgrade of the far side of the receipt `receipt_path` to the sealed output `out`
/// (built from the config `config`, whose nodes are `nodes`, whose hops are `hops` and
/// whose payload is `payload`).
pub fn plan_upgrade(
    out: &Path,
    receipt_path: &Path,
    (config, hops): (&Path, &[String]),
    nodes: &[UpgradeNode],
    payload: Option<&[PayloadFile]>,
    node_ca_path: Option<&str>,
) -> Result<UpgradePlan, DeltaError> {
    check_minors(receipt_path, config, hops)?;
    let receipt = Receipt::load(receipt_path)?;
    let delta = preview(out, &receipt, Some(config))?;
    let up_to_date = receipt.manifest_sha256 == delta.doc.target_manifest_sha256;
    let config_dir = match config.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    // Each input the build read that the folder holds otherwise now, with both digests, as
    // `delta` names it before it refuses the output.
    let mut edited: Vec<String> = (super::carry::changed_inputs(&config_dir, &delta.inputs))
        .into_iter()
        .map(|path| {
            let file = config_dir.join(&path);
            let read = (delta.inputs.iter())
                .find(|(p, _)| *p == path)
                .map_or("", |(_, sha)| sha.as_str());
            let holds = crate::input::read(&file, crate::input::Kind::Config).map_or_else(
                |e| format!("none ({})", e.reason()),
                |b| format!("sha256 {}", crate::hashing::sha256_hex(&b)),
            );
            format!(
                "{}: the build read sha256 {read}, the folder holds {holds} now",
                file.display()
            )
        })
        .collect();
    if let Some(other) = crate::pipeline::seal::ManifestView::load(out)
        .ok()
        .and_then(|v| v.inputs)
        .and_then(|i| i.other)
    {
        edited.extend(super::inputs::changed_since_build(
            config,
            &config_dir,
            &other,
        ));
    }
    // The charts kept beside the config, against the sums the preview checked.
    edited.extend(super::local_charts::changed_since_build(
        config,
        out,
        &delta.sums,
    ));
    if !edited.is_empty() {
        tracing::warn!(
            "{}: not the build of its config's inputs as they are now: {}; build first: delta refuses this output until then (exit 2), and what follows is of the output as it is",
            out.display(),
            edited.join("; ")
        );
    }
    let output_current = edited.is_empty();
    // A stale receipt, as `delta` says it.
    let history = super::record::sent(out);
    for said in super::record::stale(
        receipt.described(),
        delta.doc.cluster.as_deref(),
        &delta.doc.target_manifest_sha256,
        &history,
    )
    .into_iter()
    .chain(super::record::aged(
        receipt.described(),
        super::record::now(),
    )) {
        tracing::warn!("{}: {said}", receipt_path.display());
    }
    // A receipt of another site, as `delta` refuses it.
    if let (Some(far), Some(near)) = (&delta.doc.base_site, &delta.doc.site)
        && far != near
    {
        tracing::warn!(
            "{}: the receipt is of site {far}, and {} is the output of site {near}: delta refuses it (exit 2); what follows is what it would carry",
            receipt_path.display(),
            out.display()
        );
    }
    let k3s = K3sChange {
        downgrade: match (&receipt.k3s_version, &delta.k3s_version) {
            (Some(from), Some(to)) => newer(from, to),
            _ => false,
        },
        hops: taken_hops(receipt.k3s_version.as_deref(), hops),
        from: receipt.k3s_version.clone(),
        to: delta.k3s_version.clone(),
    };
    let payload = payload.and_then(|files| payload_digest(out, files));
    let mut steps = order(receipt_path, out, nodes, &k3s, payload.as_deref());
    if let Some(ca) = &delta.doc.changes.ca {
        // Before the apply (the second step): the registry presents the new CA's
        // certificate from then on.
        let trust = trust_steps(
            nodes,
            ca,
            node_ca_path.unwrap_or("the registry.node_ca_path"),
        );
        steps.splice(1..1, trust);
    }
    Ok(UpgradePlan {
        receipt: receipt_path.to_path_buf(),
        receipt_digest: receipt.stated_digest(),
        output: out.to_path_buf(),
        up_to_date,
        output_current,
        delta,
        k3s,
        payload,
        steps,
    })
}

/// The steps, in order.
fn order(
    receipt: &Path,
    out: &Path,
    nodes: &[UpgradeNode],
    k3s: &K3sChange,
    payload: Option<&str>,
) -> Vec<UpgradeStep> {
    let step = |on: &str, run: String, until: Option<String>| UpgradeStep {
        on: on.to_string(),
        run,
        until,
    };
    let out_name = out.display();
    let mut steps = vec![
        step(
            "near side",
            format!(
                "seedforge delta {out_name} --since {} -o DELTA, and carry DELTA across",
                receipt.display()
            ),
            None,
        ),
        step(
            "far side",
            "seedforge apply DELTA --to OUT (OUT: the far side's output, as the receipt describes it)".into(),
            Some("it prints `applied` (exit 0): OUT is the new output, its seeds included".into()),
        ),
    ];
    for n in nodes {
        steps.push(step(
            &n.name,
            "attach the new seed (and payload medium), then run `seedforge-bootstrap --images-only`".into(),
            Some("it exits 0: the new images are imported by the k3s the node runs; nothing else changed".into()),
        ));
    }
    let version = k3s.to.as_deref().unwrap_or("the new version");
    let payload = payload.unwrap_or("the new payload's digest");
    steps.extend(node_order(nodes, &k3s.hops, version, Some(payload)));
    steps
}

pub use super::skew::taken_hops;

/// The nodes' order through `hops` to `version`: at each release, the servers one at a
/// time, then the agents, every node at a release before any takes the next. The new seed
/// is attached and the bootstrap restarted once; it takes each release in turn. Before
/// each next step: the node at that release and Ready (`k3s kubectl get nodes`), and at the
/// target its status file done (with `payload`, the new payload's digest, when known).
pub fn node_order(
    nodes: &[UpgradeNode],
    hops: &[String],
    version: &str,
    payload: Option<&str>,
) -> Vec<UpgradeStep> {
    let mut steps = Vec::new();
    let releases = hops.len() + 1;
    let watch = |node: &str, release: &str| {
        format!("`k3s kubectl get nodes` shows {node} at {release}, Ready")
    };
    for (i, release) in hops.iter().map(String::as_str).chain([version]).enumerate() {
        let last = i + 1 == releases;
        for role in ["server", "agent"] {
            for n in nodes.iter().filter(|n| n.role == role) {
                let run = match (i, hops.is_empty()) {
                    (_, true) => "attach the new seed (and payload medium), then reboot or `systemctl restart seedforge-bootstrap`".to_string(),
                    (0, false) => format!(
                        "attach the new seed (and payload medium), then reboot or `systemctl restart seedforge-bootstrap`: the bootstrap takes k3s {release} first (hop 1 of {}: its images imported, its binary in place, k3s restarted), then each next release in its turn",
                        hops.len()
                    ),
                    (_, false) if last => format!(
                        "the bootstrap takes k3s {release}, the target, in its turn (nothing to do on the node)"
                    ),
                    (_, false) => format!(
                        "the bootstrap takes k3s {release} (hop {} of {}) in its turn (nothing to do on the node)",
                        i + 1,
                        hops.len()
                    ),
                };
                let until = if !last {
                    watch(&n.name, release)
                } else {
                    let status = match payload {
                        Some(payload) => format!(
                            "{NODE_STATUS} says \"state\": \"done\", \"payload\": \"{payload}\", \"k3s_version\": \"{version}\""
                        ),
                        None => format!(
                            "{NODE_STATUS} says \"state\": \"done\", \"k3s_version\": \"{version}\""
                        ),
                    };
                    if hops.is_empty() {
                        status
                    } else {
                        format!("{status}, and {}", watch(&n.name, release))
                    }
                };
                steps.push(UpgradeStep {
                    on: n.name.clone(),
                    run,
                    until: Some(until),
                });
            }
        }
    }
    steps
}

/// Each node trusts both CAs before the far side's registry presents the new one's
/// certificate: the delta's node trust bundle installed where the bootstrap installs the
/// CA.
fn trust_steps(
    nodes: &[UpgradeNode],
    ca: &crate::pki::CaChange,
    node_ca_path: &str,
) -> Vec<UpgradeStep> {
    let bundle = format!("DELTA/out/pki/{}", crate::pki::continuity::BUNDLE);
    nodes
        .iter()
        .map(|n| UpgradeStep {
            on: n.name.clone(),
            run: format!(
                "before the apply (the registry CA rotates from {} to {}): install {bundle} (both CAs) as {node_ca_path} and as /usr/local/share/ca-certificates/seedforge-registry-ca.crt, then run update-ca-certificates",
                ca.old, ca.new
            ),
            until: Some(format!(
                "`openssl crl2pkcs7 -nocrl -certfile {node_ca_path} | openssl pkcs7 -print_certs -noout` names two CAs on the node"
            )),
        })
        .collect()
}

/// The digest of the payload's `SHA256SUMS` as the bootstrap computes it, from each
/// payload file's digest in the output's seal (no file read but `SHA256SUMS`).
fn payload_digest(out: &Path, files: &[PayloadFile]) -> Option<String> {
    let text = crate::input::read_found_to_string(
        &out.join(crate::pipeline::seal::SUMS),
        crate::input::Kind::Sums,
    )
    .ok()?;
    let sealed: BTreeMap<String, String> = crate::pipeline::seal::parse_sums(&text);
    let out_abs = crate::outpath::resolve(out);
    let lookup = |p: &Path| -> std::io::Result<String> {
        let abs = crate::outpath::resolve(p);
        let rel = abs
            .strip_prefix(&out_abs)
            .ok()
            .map(|r| r.to_string_lossy().replace('\\', "/"));
        rel.and_then(|r| sealed.get(&r).cloned())
            .ok_or_else(|| std::io::Error::other("not sealed"))
    };
    let sums = crate::seed::payload_sums_with(files, &lookup).ok()?;
    Some(crate::hashing::sha256_hex(sums.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers_go_one_at_a_time_before_agents_after_every_node_has_the_images() {
        let nodes =
            [("a1", "agent"), ("s1", "server"), ("s2", "server")].map(|(n, r)| UpgradeNode {
                name: n.into(),
                role: r.into(),
            });
        let k3s = K3sChange {
            from: Some("v1.33.1+k3s1".into()),
            to: Some("v1.33.2+k3s1".into()),
            downgrade: false,
            hops: Vec::new(),
        };
        let steps = order(
            Path::new("r.json"),
            Path::new("out"),
            &nodes,
            &k3s,
            Some("ab"),
        );
        let on: Vec<&str> = steps.iter().map(|s| s.on.as_str()).collect();
        assert_eq!(
            on,
            ["near side", "far side", "a1", "s1", "s2", "s1", "s2", "a1"]
        );
        assert!(steps[2].run.contains("--images-only"));
        assert!(
            steps[5]
                .run
                .contains("systemctl restart seedforge-bootstrap")
        );
        let until = steps[7].until.as_deref().unwrap();
        assert!(until.contains("\"payload\": \"ab\""), "{until}");
        assert!(until.contains("v1.33.2+k3s1"), "{until}");
    }

    /// Through hops: every node at a release (servers one at a time, then agents) before
    /// any node takes the next, each step watched until the node is at it and Ready.
    #[test]
    fn through_hops_every_node_takes_a_release_before_any_takes_the_next() {
        let nodes =
            [("a1", "agent"), ("s1", "server"), ("s2", "server")].map(|(n, r)| UpgradeNode {
                name: n.into(),
                role: r.into(),
            });
        let hops = taken_hops(
            Some("v1.34.1+k3s1"),
            &["v1.34.2+k3s1".to_string(), "v1.35.1+k3s1".to_string()],
        );
        assert_eq!(hops, ["v1.34.2+k3s1", "v1.35.1+k3s1"]);
        assert_eq!(
            taken_hops(Some("v1.34.5+k3s1"), &hops),
            ["v1.35.1+k3s1"],
            "a hop the far side is past is not taken"
        );
        let steps = node_order(&nodes, &hops, "v1.36.2+k3s1", Some("ab"));
        let on: Vec<(&str, &str)> = (steps.iter())
            .map(|s| (s.on.as_str(), s.until.as_deref().unwrap()))
            .map(|(on, until)| {
                let at = ["v1.34.2+k3s1", "v1.35.1+k3s1", "v1.36.2+k3s1"]
                    .into_iter()
                    .find(|r| until.contains(&format!("{on} at {r}, Ready")))
                    .unwrap_or_else(|| panic!("{until}"));
                (on, at)
            })
            .collect();
        let mut expected = Vec::new();
        for r in ["v1.34.2+k3s1", "v1.35.1+k3s1", "v1.36.2+k3s1"] {
            for n in ["s1", "s2", "a1"] {
                expected.push((n, r));
            }
        }
        assert_eq!(on, expected);
        assert!(
            steps[0]
                .run
                .contains("systemctl restart seedforge-bootstrap")
        );
        assert!(steps[0].run.contains("hop 1 of 2"), "{}", steps[0].run);
        assert!(steps[3].run.contains("nothing to do"), "{}", steps[3].run);
        assert!(
            steps[8]
                .until
                .as_deref()
                .unwrap()
                .contains("\"payload\": \"ab\"")
        );
    }
}
