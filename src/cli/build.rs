//! `seedforge build` and `seedforge plan`.

use super::common::print::{print_images, print_pki_summary, print_verify};
use super::common::{
    CliError, ConfigArg, ExitCode, Global, Kind, cache, document, lock_output, net,
    parse_part_size, print_json, progress,
};
use clap::Args;
use seedforge::config::Config;
use seedforge::pipeline::plan;
use seedforge::pipeline::run;
use seedforge::pipeline::run::BuildReport;
use seedforge::render::notes;
use seedforge::util::human_bytes;
use serde::Serialize;
use std::path::{Path, PathBuf};

#[derive(Debug, Args)]
pub(crate) struct BuildArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// Output directory (default: the config's `output`, relative to the config).
    #[arg(short, long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Fail if a registry tag resolves to another digest than seedforge.lock pins.
    #[arg(long)]
    locked: bool,
    /// Never touch the network. Registry images must be pinned in seedforge.lock and
    /// already in OUT/oci, bundles from http(s) repositories already in OUT/packages: build
    /// once online, carry the config folder and OUT across, then build with --offline.
    /// Whatever is missing is named, and nothing is written (exit 2).
    #[arg(long)]
    offline: bool,
    /// Fail at once (exit 75) if another build is writing to the output folder (or a
    /// command reading it: verify, receipt, delta, push, airgap), instead of waiting for it to finish.
    #[arg(long)]
    no_wait: bool,
    /// Run every step and hash every file again, ignoring what the last build recorded in
    /// OUT/.seedforge/state.json (by default a step whose inputs and outputs are unchanged
    /// is skipped).
    #[arg(long)]
    force: bool,
    /// A PEM file of CA certificates to trust for every download (registries, package
    /// repositories, `files:` URLs), besides the system's and `SSL_CERT_FILE`; repeatable.
    /// A registry's own CA goes in its `registries:` entry (`ca_file`).
    #[arg(long = "ca-file", value_name = "FILE")]
    ca_files: Vec<PathBuf>,
    /// Export each ISO larger than SIZE into export_dir as numbered parts
    /// (NAME.part001, ...), with SHA256SUMS, SHA256SUMS.wholes and join.sh; overrides the
    /// config's export_split. SIZE: fat32 (4 GiB - 1 byte), dvd (4,700,000,000 bytes),
    /// bytes, or a number with K M G T (powers of 1000: 4G fits FAT32) or KiB MiB GiB TiB.
    #[arg(long, value_name = "SIZE", value_parser = parse_part_size)]
    export_split: Option<u64>,
    /// PAR 2.0 recovery files beside the exported parts (export.par2,
    /// export.volXX+YY.par2), PERCENT of their size and never less than one part; overrides
    /// the config's export_parity (needs export_split, in the config or given).
    #[arg(long, value_name = "PERCENT", value_parser = seedforge::config::parity::parse_percent)]
    export_parity: Option<u32>,
    /// Sign the output with this private key (cosign's encrypted cosign.key, its password
    /// from COSIGN_PASSWORD; or a PKCS#8 PEM, ECDSA P-256 or Ed25519), in place of the
    /// config's `seal.key`: the seal writes manifest.json.sigstore.json (a Sigstore bundle
    /// over manifest.json, which names every file's SHA-256) and the provenance's signed
    /// form. Check it with `seedforge verify --key cosign.pub OUT`, or cosign verify-blob.
    #[arg(long, value_name = "FILE")]
    signing_key: Option<PathBuf>,
    /// Refuse (exit 2, nothing written) to build an output that would not be signed: no
    /// private key (neither --signing-key nor the config's seal.key is there) and, where
    /// only the public key is, no signature in the output to keep. The config's
    /// `seal.require_signature: true` says the same.
    #[arg(long)]
    require_signature: bool,
    /// Replace the registry CA on purpose: a new CA (or the one registry.ca.import names)
    /// signs the registry's certificate, and the seeds carry pki/ca-bundle.crt, the new
    /// CA and the old one, so the nodes trust both for this output; the next build drops
    /// the old one. Without it, a build that would make a CA other than the one
    /// seedforge.lock or the last build recorded refuses (exit 2).
    #[arg(long)]
    rotate_ca: bool,
}

#[derive(Debug, Args)]
pub(crate) struct PlanArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// Output directory to plan for.
    #[arg(short, long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Plan as `build --offline` would: check that seedforge.lock and the output folder
    /// hold everything, without touching the network.
    #[arg(long)]
    offline: bool,
    /// A PEM file of CA certificates to trust for every download (registries, package
    /// repositories, `files:` URLs), besides the system's and `SSL_CERT_FILE`; repeatable.
    /// A registry's own CA goes in its `registries:` entry (`ca_file`).
    #[arg(long = "ca-file", value_name = "FILE")]
    ca_files: Vec<PathBuf>,
    /// Plan the upgrade of a running far side from its receipt (`seedforge receipt OUT -o
    /// FILE`, carried back across the gap): what `seedforge delta` of this config's output
    /// would carry (new blobs, sealed files, config inputs, against the whole output), and
    /// the order for the nodes: apply the delta, then every node imports the new images
    /// (`seedforge-bootstrap --images-only`) before any k3s changes, then the servers one
    /// at a time, then the agents, each until its status file says it runs the new
    /// payload and k3s version. Reads the output as the last build left it: build first.
    /// A receipt of a newer k3s than the config's is a downgrade, which the nodes refuse
    /// unless `cluster.allow_downgrade: true`; a config more than one minor ahead of the
    /// receipt's k3s is refused (exit 2): the nodes upgrade one minor at a time.
    #[arg(long, value_name = "RECEIPT")]
    upgrade_from: Option<PathBuf>,
    /// The private key `build --signing-key` would sign with (checked as build checks it:
    /// read with its password, a pair with seal.public_key), in place of seal.key.
    #[arg(long, value_name = "FILE")]
    signing_key: Option<PathBuf>,
    /// Refuse (exit 2) as `build --require-signature` would: the output would not be
    /// signed. The config's `seal.require_signature: true` says the same.
    #[arg(long)]
    require_signature: bool,
    /// Plan as `build --rotate-ca` would: the registry CA replaced on purpose.
    #[arg(long)]
    rotate_ca: bool,
}

/// The config as `build` reads it, with the command line's export settings over it.
fn build_config(g: &Global, a: &BuildArgs) -> Result<Config, CliError> {
    let mut config = Config::load(&a.config.config)?;
    config.register_secrets(&g.secrets);
    if let Some(split) = a.export_split {
        if config.export_dir.is_none() {
            return Err(CliError::Usage(format!(
                "--export-split: {} names no export_dir to export into",
                a.config.config.display()
            )));
        }
        config.export_split = Some(split);
    }
    if let Some(percent) = a.export_parity {
        if config.export_split.is_none() {
            return Err(CliError::Usage(format!(
                "--export-parity: {} exports no parts (no export_split; --export-split SIZE gives one)",
                a.config.config.display()
            )));
        }
        config.export_parity = Some(percent);
    }
    Ok(config)
}

pub(crate) fn build(g: &Global, a: &BuildArgs) -> Result<ExitCode, CliError> {
    let net = net::settings(&a.ca_files)?;
    if a.rotate_ca && a.locked {
        return Err(CliError::Usage(
            "--rotate-ca changes the CA seedforge.lock records, which --locked forbids: rotate without --locked".into(),
        ));
    }
    let config = build_config(g, a)?;
    let options = plan::PlanOptions {
        locked: a.locked,
        offline: a.offline,
        force: a.force,
        // Shared with `seedforge debs`: SEEDFORGE_CACHE_DIR, SEEDFORGE_NO_CACHE.
        deb_cache: cache::open_cache(false, None)?,
        secrets: g.secrets.clone(),
        staging: g.staging.clone(),
        signing_key: a.signing_key.clone(),
        trusted_key: None,
        require_signature: a.require_signature,
        carried_bundles: Default::default(),
        carried_files: Default::default(),
        rotate_ca: a.rotate_ca,
        keep_ca_bundle: false,
        pins_only: false,
    };
    let mut plan = plan::plan_with_net(&config, a.out.clone(), options.clone(), &net)?;
    print_plan_warnings(g, &plan.warnings);
    // One build per output folder: taken before the first write, held until the end.
    let _lock = {
        let lock = lock_output(g, &plan.output, !a.no_wait)?;
        if lock.waited() {
            // The other build (or an apply) may have changed the folder the plan was made
            // against, and the config beside it: both read again.
            let config = build_config(g, a)?;
            plan = plan::plan_with_net(&config, a.out.clone(), options, &net)?;
        }
        lock
    };
    let reporter = progress::CliReporter::new(g, plan.inputs.images.entries.len());
    let report = run::run(&plan, &reporter)?;
    reporter.finish();
    if g.json {
        print_json(g, Kind::Build, &report);
    } else if !g.quiet {
        let tag = |name: &str, out: &Path| {
            if report.kept(name, Some(out)) {
                "  (unchanged)"
            } else {
                ""
            }
        };
        print_images(&report.images);
        if !report.kept("verify", None) {
            print_verify(&report.verify);
        }
        for a in &report.airgap {
            let sha256 = (a.sha256.as_deref())
                .map(|d| format!(", sha256:{d}"))
                .unwrap_or_default();
            outln!(
                "{}  {} image(s), {}{sha256}{}",
                a.path.display(),
                a.images.len(),
                seedforge::util::human_bytes(a.file_bytes),
                tag("airgap", &a.path)
            );
        }
        for p in &report.packages {
            outln!(
                "{}  {} package(s), {}, sha256:{}{}",
                p.path.display(),
                p.debs,
                seedforge::util::human_bytes(p.file_bytes),
                p.sha256,
                tag("packages", &p.path)
            );
        }
        if let Some(p) = &report.pki {
            print_pki_summary(p);
        }
        print_build(&report);
        for line in steps_lines(&report.steps, report.seconds) {
            outln!("{line}");
        }
        outln!("built {}", report.output.display());
    }
    Ok(ExitCode::Ok)
}

/// One line for the steps that ran, with the run's wall time `seconds` (the steps' own
/// times overlap: seed ISOs are written at the same time), and one for those skipped as
/// unchanged.
pub(crate) fn steps_lines(steps: &[run::StepRun], seconds: f64) -> Vec<String> {
    let list = |status: &str| -> Vec<String> {
        steps
            .iter()
            .filter(|s| s.status == status)
            .map(|s| match s.key.split_once(' ') {
                Some((_, what)) if s.step == "iso" => format!("iso {what}"),
                _ => s.step.to_string(),
            })
            .collect()
    };
    let (ran, skipped) = (list("ran"), list("skipped"));
    let mut lines = vec![format!(
        "ran {} step(s) in {seconds:.2} s: {}",
        ran.len(),
        ran.join(", ")
    )];
    if !skipped.is_empty() {
        lines.push(format!(
            "skipped {} unchanged step(s): {} (build --force runs every step)",
            skipped.len(),
            skipped.join(", ")
        ));
    }
    lines
}

/// What planning found worth saying before a build runs, on stderr (also with `--quiet`
/// and `--json`: a check that could not be exact is not news to hide).
pub(crate) fn print_plan_warnings(g: &Global, warnings: &[String]) {
    for w in warnings {
        document::warn(g, w);
    }
}

pub(crate) fn plan_cmd(g: &Global, a: &PlanArgs) -> Result<ExitCode, CliError> {
    let net = net::settings(&a.ca_files)?;
    if let Some(receipt) = &a.upgrade_from {
        // A bad receipt is refused before anything is planned.
        seedforge::delta::receipt::Receipt::load(receipt)?;
    }
    let config = Config::load(&a.config.config)?;
    config.register_secrets(&g.secrets);
    if let Some(receipt) = &a.upgrade_from {
        // An upgrade the nodes cannot take in one step is refused before anything is planned.
        seedforge::delta::upgrade::check_minors(receipt, &a.config.config, &config.cluster.hops)?;
    }
    let options = plan::PlanOptions {
        locked: false,
        offline: a.offline,
        force: false,
        deb_cache: cache::open_cache(false, None)?,
        secrets: g.secrets.clone(),
        staging: g.staging.clone(),
        signing_key: a.signing_key.clone(),
        trusted_key: None,
        require_signature: a.require_signature,
        carried_bundles: Default::default(),
        carried_files: Default::default(),
        rotate_ca: a.rotate_ca,
        keep_ca_bundle: false,
        pins_only: false,
    };
    let plan = plan::plan_with_net(&config, a.out.clone(), options, &net)?;
    print_plan_warnings(g, &plan.warnings);
    let upgrade = match &a.upgrade_from {
        Some(receipt) => Some(plan_upgrade(&config, &plan, receipt, &a.config.config)?),
        None => None,
    };
    // Without a receipt, the order of the config's own path.
    let path = upgrade.is_none().then(|| path_order(&config)).flatten();
    if g.json {
        #[derive(Serialize)]
        struct PlanJson<'a> {
            output: &'a Path,
            steps: &'a [seedforge::pipeline::steps::Step],
            images: Vec<[String; 2]>,
            #[serde(skip_serializing_if = "Option::is_none")]
            upgrade: Option<&'a seedforge::delta::upgrade::UpgradePlan>,
            #[serde(skip_serializing_if = "Option::is_none")]
            upgrade_path: Option<&'a seedforge::delta::upgrade::PathOrder>,
        }
        print_json(
            g,
            Kind::Plan,
            &PlanJson {
                output: &plan.output,
                steps: &plan.steps,
                upgrade: upgrade.as_ref(),
                upgrade_path: path.as_ref(),
                images: plan
                    .inputs
                    .images
                    .entries
                    .iter()
                    .map(|e| [e.source.to_string(), e.destination.to_string()])
                    .collect(),
            },
        );
    } else {
        outln!("output: {}", plan.output.display());
        for (i, step) in plan.steps.iter().enumerate() {
            outln!("{}. {}", i + 1, step.describe());
        }
        if !plan.inputs.images.entries.is_empty() {
            outln!(
                "images ({}, destination <- source):",
                plan.inputs.images.entries.len()
            );
        }
        for e in &plan.inputs.images.entries {
            outln!("   {}  <-  {}", e.destination, e.source);
        }
        if let Some(u) = &upgrade {
            print_upgrade(u);
        }
        if let Some(p) = &path {
            print_path_order(p);
        }
        print_node_notes(&config);
    }
    Ok(ExitCode::Ok)
}

/// What `plan` says of how the nodes will read their files: an interface glob only netplan
/// reads, and the prompt of Ubuntu's installer on each autoinstall node.
fn print_node_notes(config: &Config) {
    let without_mac: Vec<&str> = (config.nodes.iter())
        .filter(|n| n.mac.is_none())
        .map(|n| n.name.as_str())
        .collect();
    if let Some(note) = notes::interface_note(&config.network.interface.0, &without_mac) {
        outln!("{note}");
    }
    for node in &config.nodes {
        if node.install == seedforge::vocab::InstallMode::Autoinstall {
            outln!("{}", notes::autoinstall_note(node.name.as_str()));
        }
    }
}

/// The build's closing lines for `files:`, the seal and the export.
pub(crate) fn print_build(report: &BuildReport) {
    for f in &report.files {
        outln!(
            "{}  {}, sha256:{} ({} from {})",
            f.path.display(),
            human_bytes(f.size),
            f.sha256,
            f.outcome,
            f.source
        );
    }
    if let Some(s) = &report.seal {
        outln!(
            "sealed {}  {} artifact(s), {} in all ({} hashed now, the rest by earlier steps); {}",
            s.sums.display(),
            s.artifacts,
            human_bytes(s.bytes),
            s.hashed,
            s.manifest.display()
        );
        let carry: Vec<&str> = (s.media.iter())
            .filter(|m| m.change != "unchanged")
            .map(|m| m.path.as_str())
            .collect();
        if !carry.is_empty() {
            outln!(
                "media to carry to the nodes: {} (new or changed; {} unchanged)",
                carry.join(", "),
                s.media.len() - carry.len()
            );
        }
        outln!("{}", signature_line(&s.signature));
        if let Some(saved) = s.shared_payload_would_save {
            outln!(
                "note: every seed carries the same payload; seeds: {{payload: shared}} would carry it once, {} less",
                human_bytes(saved)
            );
        }
    }
    if let Some(e) = &report.export {
        for f in &e.files {
            if f.parts.is_empty() {
                outln!(
                    "exported {}  {} ({})",
                    f.path.display(),
                    human_bytes(f.size),
                    f.outcome
                );
            } else {
                outln!(
                    "exported {}  {} in {} parts, {} to {} ({}); join.sh joins them",
                    f.path.display(),
                    human_bytes(f.size),
                    f.parts.len(),
                    f.parts
                        .first()
                        .map(|p| p.path.display().to_string())
                        .unwrap_or_default(),
                    f.parts
                        .last()
                        .map(|p| p.path.display().to_string())
                        .unwrap_or_default(),
                    f.outcome
                );
            }
        }
    }
}

/// Whether the seal is signed, and with which key id.
pub(crate) fn signature_line(s: &seedforge::pipeline::seal::SealSignature) -> String {
    match (&s.key_id, s.signer) {
        (Some(id), Some("public_key")) => format!(
            "signature: kept, key id {id} (only the public key is here: the output's signatures sign what it holds)"
        ),
        (Some(id), _) => format!("signature: signed, key id {id}"),
        (None, _) => "signature: not signed (no seal.key, no --signing-key)".into(),
    }
}

/// The config's nodes, in its order, as the upgrade's order names them.
fn upgrade_nodes(config: &Config) -> Vec<seedforge::delta::upgrade::UpgradeNode> {
    (config.nodes.iter())
        .map(|n| seedforge::delta::upgrade::UpgradeNode {
            name: n.name.as_str().to_string(),
            role: match n.role {
                seedforge::vocab::Role::Server => "server".into(),
                seedforge::vocab::Role::Agent => "agent".into(),
            },
        })
        .collect()
}

/// `plan` of a config upgraded through hops (`cluster.upgrade_from` and
/// `cluster.upgrade_path`), without a receipt: the nodes' order.
fn path_order(config: &Config) -> Option<seedforge::delta::upgrade::PathOrder> {
    let from = config.cluster.upgrade_from.as_deref()?;
    if config.cluster.hops.is_empty() {
        return None;
    }
    Some(seedforge::delta::upgrade::path_order(
        from,
        &config.cluster.hops,
        &config.cluster.k3s_version,
        &upgrade_nodes(config),
    ))
}

/// Prints the nodes' order through the hops.
fn print_path_order(p: &seedforge::delta::upgrade::PathOrder) {
    outln!(
        "upgrade path: k3s {} -> {} -> {} (cluster.upgrade_path)",
        p.from,
        p.hops.join(" -> "),
        p.to
    );
    print_order(&p.steps);
}

/// The order's lines, numbered.
fn print_order(steps: &[seedforge::delta::upgrade::UpgradeStep]) {
    outln!("   the order (each step once the one before is done):");
    for (i, s) in steps.iter().enumerate() {
        match &s.until {
            Some(until) => outln!("   {}. {}: {}; until {}", i + 1, s.on, s.run, until),
            None => outln!("   {}. {}: {}", i + 1, s.on, s.run),
        }
    }
}

/// `plan --upgrade-from RECEIPT`: the upgrade of the receipt's far side to the output of
/// `plan` (the config's nodes, in the config's order; the payload of its seeds).
pub(crate) fn plan_upgrade(
    config: &Config,
    plan: &plan::Plan,
    receipt: &Path,
    config_file: &Path,
) -> Result<seedforge::delta::upgrade::UpgradePlan, CliError> {
    use seedforge::pipeline::steps::Step;
    let nodes = upgrade_nodes(config);
    let payload = plan.steps.iter().find_map(|s| match s {
        Step::Payload(p) => Some(p.payload.as_slice()),
        Step::Iso(i) => Some(i.payload.as_slice()),
        _ => None,
    });
    Ok(seedforge::delta::upgrade::plan_upgrade(
        &plan.output,
        receipt,
        (config_file, &config.cluster.hops),
        &nodes,
        payload,
        config.registry.as_ref().map(|r| r.node_ca_path.0.as_str()),
    )?)
}

/// Prints an upgrade plan after `plan`'s own lines.
pub(crate) fn print_upgrade(u: &seedforge::delta::upgrade::UpgradePlan) {
    let d = &u.delta.doc;
    outln!(
        "upgrade from {} ({}):",
        u.receipt.display(),
        u.receipt_digest
    );
    // An edited config (a new release, a downgrade, another image) is not in the output
    // until it is built: said first, whatever the output holds.
    if !u.output_current {
        outln!(
            "   note: {} is not the build of the config as it is now (its inputs changed since): build first, then plan again; what follows is of the output as it is",
            u.output.display()
        );
    }
    if u.up_to_date {
        outln!(
            "   the far side already holds this output (manifest.json sha256 {}): nothing to carry{}",
            d.target_manifest_sha256,
            if u.output_current {
                ""
            } else {
                " until the edited config is built"
            }
        );
        return;
    }
    outln!(
        "   the delta: {} new blob(s) ({}), {} sealed file(s) ({}){}, {} config file(s){}, the seal; {} in all, against {} for the whole output ({} derived file(s) rebuilt on the far side)",
        d.blobs.count,
        human_bytes(d.blobs.bytes),
        d.artifacts.count,
        human_bytes(d.artifacts.bytes),
        listed(&u.delta.artifacts),
        d.config.count,
        listed(&u.delta.config_files),
        human_bytes(d.bytes),
        human_bytes(d.full_output_bytes),
        d.derived_not_carried
    );
    for line in d.changes.lines() {
        outln!("   {}", seedforge::redact::inert(&line));
    }
    match (&u.k3s.from, &u.k3s.to) {
        (Some(from), Some(to)) if u.k3s.downgrade => outln!(
            "   k3s {from} -> {to}: a DOWNGRADE; the nodes refuse the payload (k3s does not support downgrades of its datastore) unless the config sets cluster.allow_downgrade: true"
        ),
        (Some(from), Some(to)) if from == to => outln!("   k3s {to}, unchanged"),
        (Some(from), Some(to)) => outln!("   k3s {from} -> {to}"),
        (None, Some(to)) => outln!(
            "   k3s -> {to} (the receipt does not record the far side's release: it is of an older seedforge)"
        ),
        _ => {}
    }
    if !u.k3s.hops.is_empty() {
        outln!(
            "   through the hops {} (cluster.upgrade_path): every node at each before any takes the next",
            u.k3s.hops.join(", ")
        );
    }
    print_order(&u.steps);
    outln!(
        "   the bootstrap removes the old airgap archives once the new k3s runs; see docs/nodes.md, \"Upgrading a running cluster\""
    );
}

/// ` (a, b)` or nothing.
fn listed(items: &[String]) -> String {
    if items.is_empty() {
        String::new()
    } else {
        format!(" ({})", seedforge::redact::inert(&items.join(", ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_steps_line_gives_the_runs_wall_time_not_the_sum_of_overlapping_steps() {
        let step = |step: &'static str, key: &str, seconds: f64| run::StepRun {
            step,
            key: key.to_string(),
            status: "ran",
            seconds,
        };
        // Three seeds written at the same time: 4 s each, 4.85 s in all.
        let steps = [
            step("mirror", "mirror", 0.5),
            step("iso", "iso n1", 4.0),
            step("iso", "iso n2", 4.0),
            step("iso", "iso n3", 4.0),
        ];
        assert_eq!(
            steps_lines(&steps, 4.85),
            ["ran 4 step(s) in 4.85 s: mirror, iso n1, iso n2, iso n3"]
        );
    }
}
