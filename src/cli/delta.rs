//! `seedforge receipt`, `seedforge delta` and `seedforge apply`: upgrades across the gap.

use super::common::{
    CliError, ExitCode, Global, Kind, cache, document, net, parse_part_size, print_json, progress,
    read_lock_output,
};
use clap::Args;
use seedforge::config::Config;
use seedforge::pipeline::{plan, run};
use seedforge::redact::inert;
use seedforge::util::human_bytes;
use std::path::{Path, PathBuf};

#[derive(Debug, Args)]
pub(crate) struct ReceiptArgs {
    /// The sealed build output to describe (its SHA256SUMS is checked first).
    #[arg(value_name = "DIR")]
    dir: PathBuf,
    /// The receipt to write (outside DIR).
    #[arg(short, long, value_name = "FILE")]
    out: PathBuf,
    /// The config the output was built from: seedforge.lock beside it is recorded
    /// (default: the folder above DIR when it holds the config manifest.json names).
    #[arg(short, long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Describe a damaged output instead of refusing it: each sealed file missing or not
    /// matching SHA256SUMS is recorded as damaged (and left out of what the receipt says
    /// DIR holds), so that a delta against it carries what cannot be rebuilt, and apply
    /// makes the output whole, offline.
    #[arg(long)]
    record_damage: bool,
    /// Fail at once (exit 75) if a build is writing to DIR, instead of waiting for it
    /// (DIR is read under its build lock, shared: other readers do not wait).
    #[arg(long)]
    no_wait: bool,
}

#[derive(Debug, Args)]
pub(crate) struct DeltaArgs {
    /// The sealed build output, newer than the far side's.
    #[arg(value_name = "DIR")]
    dir: PathBuf,
    /// The far side's receipt (`seedforge receipt`).
    #[arg(long, value_name = "FILE")]
    since: PathBuf,
    /// The delta folder to write (new or empty, outside DIR).
    #[arg(short, long, value_name = "DIR")]
    out: PathBuf,
    /// The config DIR was built from: its changed inputs and seedforge.lock are carried
    /// (default: the folder above DIR when it holds the config manifest.json names).
    #[arg(short, long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Write each file larger than SIZE (a large layer or bundle) as numbered parts
    /// (NAME.part001, ...) beside where it would be, with SHA256SUMS.wholes and join.sh,
    /// so that no file is larger than a medium holds; apply takes the parts as they are.
    /// SIZE: fat32 (4 GiB - 1 byte), dvd (4,700,000,000 bytes), bytes, or a number with
    /// K M G T (powers of 1000: 4G fits FAT32) or KiB MiB GiB TiB.
    #[arg(long, value_name = "SIZE", value_parser = parse_part_size)]
    split: Option<u64>,
    /// With --split: PAR 2.0 recovery files beside the parts (delta.par2,
    /// delta.volXX+YY.par2), PERCENT of the delta's size and never less than one part, so
    /// that par2 repair, seedforge verify --repair and apply rebuild a part lost on the way.
    #[arg(long, value_name = "PERCENT", requires = "split", value_parser = parse_percent)]
    parity: Option<u32>,
    /// Make the delta even though its k3s release is older than the far side's (the
    /// receipt's); also allowed by the config's cluster.allow_downgrade: true.
    #[arg(long)]
    allow_downgrade: bool,
    /// Refuse (exit 2, nothing written) to make a delta of an output that is not signed
    /// (no manifest.json.sigstore.json verifying with the key it records, keys/seal.pub);
    /// also said by the config's seal.require_signature: true.
    #[arg(long)]
    require_signature: bool,
    /// Why the delta is made, in the operator's words: recorded in delta.json (signed with
    /// it) and shown on the delta's review.html and by verify.
    #[arg(long, value_name = "TEXT")]
    reason: Option<String>,
    /// The private key that signed DIR (default: the config's seal.key, password from
    /// COSIGN_PASSWORD or seal.password_file): delta.json, what the delta is for and what
    /// it changes, is signed with it (delta.json.sigstore.json), and so is statement.json,
    /// every file on the medium (statement.json.sigstore.json), so that verify --key and
    /// apply check them. Without it, a signed DIR is refused (exit 2) unless
    /// --allow-unsigned.
    #[arg(long, value_name = "FILE")]
    signing_key: Option<PathBuf>,
    /// Make the delta even though the receipt is of another cluster's far side (its
    /// cluster.name) than DIR's: the far side is renamed to DIR's cluster on apply.
    #[arg(long)]
    allow_other_cluster: bool,
    /// Make an unsigned medium: of an unsigned DIR although the far side's output is signed
    /// (its receipt's signed_by), or of a signed DIR without its private key (delta.json
    /// and statement.json unsigned). Refused otherwise (exit 2, nothing written), as a
    /// signed far side's apply and verify --key refuse it (apply --allow-unsigned takes it
    /// there).
    #[arg(long)]
    allow_unsigned: bool,
    /// Fail at once (exit 75) if a build is writing to DIR, instead of waiting for it
    /// (DIR is read under its build lock, shared: other readers do not wait).
    #[arg(long)]
    no_wait: bool,
}

#[derive(Debug, Args)]
pub(crate) struct ApplyArgs {
    /// The delta folder (`seedforge delta`), checked against its own SHA256SUMS first.
    #[arg(value_name = "DELTA")]
    delta: PathBuf,
    /// The sealed output the delta was made against; replaced whole by the new one once
    /// the offline build of it matches the delta's seal.
    #[arg(long, value_name = "DIR")]
    to: PathBuf,
    /// The config OUT was built from: its changed inputs and seedforge.lock are written
    /// into its folder (default: the folder above OUT when it holds the config
    /// manifest.json names).
    #[arg(short, long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Fail at once (exit 75) if a build is writing to OUT, instead of waiting for it.
    #[arg(long)]
    no_wait: bool,
    /// The public key (PEM: cosign.pub) the delta's signature must verify with, checked
    /// before anything else of the delta is read. Default: the key OUT records it was
    /// signed with (OUT/keys/seal.pub). The private key never crosses: the offline
    /// rebuild keeps the signatures the delta carries.
    #[arg(long, value_name = "PUB")]
    key: Option<PathBuf>,
    /// Take a medium not signed whole over a signed output: a delta without a signature
    /// (the output would become unsigned), or one whose record (delta.json) or statement
    /// (statement.json, every file on the medium) is unsigned.
    #[arg(long)]
    allow_unsigned: bool,
    /// Take a delta signed by another key than the one that signed OUT (key rotation);
    /// it must still verify with --key.
    #[arg(long, requires = "key")]
    allow_new_key: bool,
    /// Apply the delta even though its k3s release is older than OUT's; also allowed by
    /// the new config's cluster.allow_downgrade: true.
    #[arg(long)]
    allow_downgrade: bool,
    /// Apply the delta even though it is for another cluster (its signed manifest.json's
    /// cluster.name) than OUT's: OUT becomes that cluster's output. What the delta
    /// changes is checked against its content all the same.
    #[arg(long)]
    allow_other_cluster: bool,
    /// Apply the delta even though OUT's history records it as applied before (after a
    /// rollback, it would bring back what the rollback undid); recorded as replayed.
    #[arg(long)]
    allow_replay: bool,
}

pub(crate) fn apply_cmd(g: &Global, a: &ApplyArgs) -> Result<ExitCode, CliError> {
    use seedforge::delta::apply::{ApplyError, ApplyOptions, apply};
    let net = net::settings(&[])?;
    let out = a.to.clone();
    let mut on_wait = |pid: Option<u32>| {
        if !g.quiet {
            errln!(
                "waiting for another seedforge build on {} ({})…",
                out.display(),
                seedforge::pipeline::build_lock::pid_text(pid)
            );
        }
    };
    // `build --offline` of the staged config into the staging copy of OUT, every step
    // run; export_dir is left for a later build: nothing is written outside OUT's copy.
    let mut build = |config_file: &Path, staged_out: &Path| -> Result<(), CliError> {
        let mut config = Config::load(config_file)?;
        config.register_secrets(&g.secrets);
        config.export_dir = None;
        let options = plan::PlanOptions {
            locked: false,
            offline: true,
            force: true,
            deb_cache: cache::open_cache(false, None)?,
            secrets: g.secrets.clone(),
            staging: g.staging.clone(),
            signing_key: None,
            trusted_key: a.key.clone(),
            require_signature: false,
            carried_bundles: seedforge::delta::carried_bundles(&a.delta),
            carried_files: seedforge::delta::carried_files(&a.delta),
            rotate_ca: false,
            keep_ca_bundle: seedforge::delta::seals_ca_bundle(&a.delta),
            pins_only: false,
        };
        let plan = plan::plan_with_net(&config, Some(staged_out.to_path_buf()), options, &net)?;
        // What planning found worth saying (another SOURCE_DATE_EPOCH here than the
        // delta's date, which the rebuild keeps), as build says it.
        for w in &plan.warnings {
            document::warn(g, w);
        }
        let reporter = progress::CliReporter::new(g, plan.inputs.images.entries.len());
        run::run(&plan, &reporter)?;
        reporter.finish();
        Ok(())
    };
    let trust =
        seedforge::delta::signed::Trust::read(a.key.as_deref(), a.allow_unsigned, a.allow_new_key)?;
    let options = ApplyOptions {
        config: a.config.as_deref(),
        trust: &trust,
        wait: !a.no_wait,
        allow_downgrade: a.allow_downgrade,
        allow_other_cluster: a.allow_other_cluster,
        allow_replay: a.allow_replay,
    };
    let mut r = match apply(
        &a.delta,
        &a.to,
        options,
        &g.staging,
        &mut on_wait,
        &mut build,
    ) {
        Ok(r) => r,
        Err(ApplyError::Delta(e)) => return Err(e.into()),
        Err(ApplyError::Build(e)) => return Err(e),
    };
    // The config folder found beside OUT, named as OUT was given (`fixtures/lab` for
    // `--to fixtures/lab/out`).
    let beside = seedforge::outpath::resolve(&a.to)
        .parent()
        .map(Path::to_path_buf);
    if a.config.is_none() && r.config_dir.is_some() && r.config_dir == beside {
        r.config_dir = seedforge::outpath::parent_as_given(&a.to);
    }
    // Nothing applied, nothing changed: what the delta would change is not reported.
    if r.outcome == "unchanged" {
        r.changes = None;
    }
    if g.json {
        print_json(g, Kind::Apply, &r);
        return Ok(ExitCode::Ok);
    }
    if !g.quiet {
        match &r.signature {
            Some(seedforge::delta::signed::SignedBy {
                signed: true,
                key_id: Some(id),
                key: Some(key),
                ..
            }) => outln!("the delta's signature verifies with {key} (key id {id})"),
            Some(_) => outln!("the delta is not signed"),
            None => {}
        }
        if r.outcome == "unchanged" {
            outln!(
                "{} already is the delta's output (manifest.json sha256 {}): nothing to apply",
                r.output.display(),
                r.manifest_sha256
            );
        } else {
            outln!(
                "applied {} to {}: {} file(s) ({}), {} blob(s) added, {} config file(s) written; rebuilt offline and matching the delta's seal in {:.1}s",
                r.delta.display(),
                r.output.display(),
                r.files_applied,
                human_bytes(r.bytes),
                r.blobs_added,
                r.config_files.len(),
                r.seconds
            );
            if let Some(changes) = &r.changes {
                for line in changes.lines() {
                    outln!("   {line}");
                }
            }
            if !r.repaired.is_empty() {
                outln!(
                    "   repaired (recorded damaged by the receipt): {}",
                    r.repaired.join(", ")
                );
            }
            if !r.removed.is_empty() || r.blobs_removed > 0 {
                outln!(
                    "   removed (the new seal no longer lists them): {}{}",
                    r.removed.join(", "),
                    match (r.removed.is_empty(), r.blobs_removed) {
                        (_, 0) => String::new(),
                        (true, n) => format!("{n} blob(s) of images no longer listed"),
                        (false, n) => format!("; {n} blob(s) of images no longer listed"),
                    }
                );
            }
        }
        if !r.delta_rebuilt.is_empty() {
            outln!(
                "   the delta's recovery files rebuilt {} (lost or damaged on the way; {} itself was not written)",
                r.delta_rebuilt.join(", "),
                r.delta.display()
            );
        }
    }
    Ok(ExitCode::Ok)
}

pub(crate) fn receipt_cmd(g: &Global, a: &ReceiptArgs) -> Result<ExitCode, CliError> {
    let _lock = read_lock_output(g, &a.dir, !a.no_wait)?;
    let r =
        seedforge::delta::receipt::receipt(&a.dir, a.config.as_deref(), &a.out, a.record_damage)?;
    if g.json {
        print_json(g, Kind::Receipt, &r);
        return Ok(ExitCode::Ok);
    }
    if !g.quiet {
        outln!(
            "receipt {}  {}: {} blob(s) ({}), {} sealed file(s), {} file(s) checked against SHA256SUMS; seedforge.lock {}",
            r.receipt.display(),
            r.digest,
            r.blobs,
            human_bytes(r.blob_bytes),
            r.artifacts,
            r.checked,
            match &r.lock_sha256 {
                Some(_) => "recorded",
                None => "not found",
            }
        );
        if let Some(a) = &r.applied {
            outln!(
                "   the output was made by apply from the delta whose delta.json hashes to {} (applied {})",
                a.delta_sha256,
                seedforge::delta::record::date(a.applied_at)
            );
        }
        if !r.damaged.is_empty() {
            outln!(
                "   damaged or missing here, recorded for repair: {}; a delta against this receipt carries what cannot be rebuilt, and apply makes the output whole",
                r.damaged.join(", ")
            );
        }
    }
    Ok(ExitCode::Ok)
}

/// The key `delta` signs `delta.json` with: `--signing-key`, else the config's `seal.key`
/// when that file is there (a config that names one this side does not hold signs nothing).
fn record_signer(
    g: &Global,
    a: &DeltaArgs,
) -> Result<Option<seedforge::trust::keys::SigningKey>, CliError> {
    let config = seedforge::delta::config_file_of(&a.dir, a.config.as_deref())
        .filter(|c| c.is_file())
        .map(|c| Config::load(&c))
        .transpose();
    match (config, &a.signing_key) {
        (Ok(Some(config)), given) => {
            // The config's secrets (the join token, passwords) are masked wherever the
            // record shows a config input's lines.
            config.register_secrets(&g.secrets);
            match config.signing_key(given.as_deref(), &g.secrets) {
                Ok(key) => Ok(key.map(|(_, k)| k)),
                // seal.key names a file this side does not hold: nothing to sign with.
                Err(_) if given.is_none() => Ok(None),
                Err(e) => Err(e.into()),
            }
        }
        (_, Some(path)) => {
            let password = std::env::var("COSIGN_PASSWORD").ok();
            if let Some(p) = password.as_deref().filter(|p| !p.is_empty()) {
                g.secrets.register(p);
            }
            seedforge::trust::keys::SigningKey::read(path, password.as_deref().map(str::as_bytes))
                .map(Some)
                .map_err(|e| CliError::Usage(format!("--signing-key {}: {e}", path.display())))
        }
        (Err(e), None) => Err(e.into()),
        (Ok(None), None) => Ok(None),
    }
}

pub(crate) fn delta_cmd(g: &Global, a: &DeltaArgs) -> Result<ExitCode, CliError> {
    let signer = record_signer(g, a)?;
    let options = seedforge::delta::carry::DeltaOptions {
        split: a.split,
        parity: a.parity,
        allow_downgrade: a.allow_downgrade,
        require_signature: a.require_signature,
        allow_other_cluster: a.allow_other_cluster,
        allow_unsigned: a.allow_unsigned,
        signer: signer.as_ref(),
        reason: a.reason.as_deref(),
        secrets: Some(&g.secrets),
    };
    let _lock = read_lock_output(g, &a.dir, !a.no_wait)?;
    let r =
        seedforge::delta::carry::delta(&a.dir, &a.since, &a.out, a.config.as_deref(), &options)?;
    if g.json {
        print_json(g, Kind::Delta, &r);
        return Ok(ExitCode::Ok);
    }
    if !g.quiet {
        let d = &r.doc;
        outln!(
            "delta {}: {} blob(s) ({}), {} sealed file(s) ({}), {} config file(s), the seal; {} of the {} output ({} derived file(s) left for build --offline)",
            r.dir.display(),
            d.blobs.count,
            human_bytes(d.blobs.bytes),
            d.artifacts.count,
            human_bytes(d.artifacts.bytes),
            d.config.count,
            human_bytes(d.bytes),
            human_bytes(d.full_output_bytes),
            d.derived_not_carried
        );
        match (&r.signature.key_id, &r.signature.key) {
            (Some(id), Some(key)) => {
                outln!("   signature: signed, key id {id} (verified with {key})")
            }
            _ => outln!("   signature: not signed"),
        }
        if !r.carried_artifacts.is_empty() {
            outln!("   sealed files: {}", r.carried_artifacts.join(", "));
        }
        if !r.carried_config.is_empty() {
            outln!("   config files: {}", inert(&r.carried_config.join(", ")));
        }
        for line in d.changes.lines() {
            outln!("   {}", inert(&line));
        }
        if let Some(why) = &d.why {
            for line in why.lines() {
                outln!("   config since the far side's: {}", inert(&line));
            }
        }
        if r.config_dir.is_none() {
            outln!(
                "note: no config folder given or found beside {}: no config file or seedforge.lock carried (--config FILE)",
                a.dir.display()
            );
        }
    }
    Ok(ExitCode::Ok)
}

fn parse_percent(text: &str) -> Result<u32, String> {
    seedforge::config::parity::parse_percent(text)
}
