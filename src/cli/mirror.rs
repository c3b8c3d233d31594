//! `seedforge mirror`: image lists into an OCI layout, from registries or local files.

use super::common::print::print_images;
use super::common::registry::RegistryArgs;
use super::common::{CliError, ExitCode, Global, Kind, print_json, progress};
use clap::Args;
use seedforge::Reporter;
use seedforge::config::IdentityConfig;
use seedforge::image::{ImageList, ImageSource};
use seedforge::oci::Platform;
use seedforge::oci::mirror::policy::{
    PolicyIdentity, PolicyKey, PolicyTrustedRoot, RequireSignature, SignaturePolicy,
};
use seedforge::oci::mirror::{MirrorOptions, MirrorSummary, mirror};
use seedforge::pipeline::run::MirroredImageReport;
use seedforge::util::human_bytes;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;

/// `seedforge mirror` arguments.
#[derive(Debug, Args)]
pub struct MirrorArgs {
    /// Image list file(s); `-` reads the list from standard input.
    #[arg(long = "images", value_name = "LIST", required = true, num_args = 1..)]
    images: Vec<PathBuf>,
    /// The OCI layout directory to write (created if missing).
    #[arg(short = 'o', long, value_name = "DIR")]
    layout: PathBuf,
    /// Platform to keep, OS/ARCH[/VARIANT], or `all` for every platform an image offers
    /// (as `crane --platform all`, `skopeo copy --all`); several as a comma list
    /// (linux/amd64,linux/arm64) or by repeating the flag.
    #[arg(
        long = "platform",
        value_name = "PLATFORM",
        default_value = "linux/amd64",
        value_delimiter = ',',
        value_parser = Platform::parse_selector
    )]
    platforms: Vec<Platform>,
    /// Blobs and images copied at the same time.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    concurrency: u16,
    /// Copy the other images when one fails; the run still fails and lists the failures.
    #[arg(long)]
    keep_going: bool,
    /// Copy the images only: do not look for the signatures, attestations, SBOMs and other
    /// OCI 1.1 referrers kept beside them (cosign's `sha256-<hex>.sig`/`.att`/`.sbom` tags
    /// and the referrers API or its fallback tag), which are carried by default.
    #[arg(long)]
    no_signatures: bool,
    /// A public key (PEM, cosign.pub) each image's signatures are checked against before it
    /// is stored, offline (repeat for several keys): a cosign `.sig` signature, a `.att`
    /// attestation or a Sigstore bundle referrer must verify with one of them.
    #[arg(long, value_name = "FILE")]
    verify_key: Vec<PathBuf>,
    /// The subject a keyless signature's certificate must name (an email or a URI),
    /// exactly, as cosign's flag; with --certificate-oidc-issuer[-regexp] and --trusted-root.
    #[arg(
        long,
        value_name = "SUBJECT",
        conflicts_with = "certificate_identity_regexp"
    )]
    certificate_identity: Option<String>,
    /// A regular expression found in the certificate's subject.
    #[arg(long, value_name = "REGEXP")]
    certificate_identity_regexp: Option<String>,
    /// The OIDC issuer a keyless signature's certificate must name, exactly.
    #[arg(
        long,
        value_name = "ISSUER",
        conflicts_with = "certificate_oidc_issuer_regexp"
    )]
    certificate_oidc_issuer: Option<String>,
    /// A regular expression found in the certificate's OIDC issuer.
    #[arg(long, value_name = "REGEXP")]
    certificate_oidc_issuer_regexp: Option<String>,
    /// A Sigstore `trusted_root.json` (Fulcio CAs, transparency and CT log keys, TSAs)
    /// keyless signatures are checked with, offline.
    #[arg(long, value_name = "FILE")]
    trusted_root: Option<PathBuf>,
    /// With --verify-key or a certificate identity: `always` (an image without a verified
    /// signature fails; the default) or `if-present` (only images that carry signatures
    /// must verify).
    #[arg(long, value_name = "WHEN", default_value = "always", value_parser = ["always", "if-present"])]
    require_signature: String,
    #[command(flatten)]
    registry: RegistryArgs,
}

/// The keyless identity and trusted root of `--certificate-identity[-regexp]`,
/// `--certificate-oidc-issuer[-regexp]` and `--trusted-root`; none when none is given.
fn keyless_policy(
    a: &MirrorArgs,
) -> Result<Option<(PolicyIdentity, Arc<PolicyTrustedRoot>)>, CliError> {
    let subject = a.certificate_identity.is_some() || a.certificate_identity_regexp.is_some();
    let issuer = a.certificate_oidc_issuer.is_some() || a.certificate_oidc_issuer_regexp.is_some();
    if !subject && !issuer && a.trusted_root.is_none() {
        return Ok(None);
    }
    let usage = |m: &str| Err(CliError::Usage(m.into()));
    if !subject {
        return usage(
            "a keyless check needs --certificate-identity or --certificate-identity-regexp",
        );
    }
    if !issuer {
        return usage(
            "a keyless check needs --certificate-oidc-issuer or --certificate-oidc-issuer-regexp",
        );
    }
    let Some(root_path) = &a.trusted_root else {
        return usage(
            "a keyless check needs --trusted-root: a Sigstore trusted_root.json (cosign trusted-root create, or a TUF client's cache)",
        );
    };
    for (flag, value) in [
        ("--certificate-identity", &a.certificate_identity),
        (
            "--certificate-identity-regexp",
            &a.certificate_identity_regexp,
        ),
        ("--certificate-oidc-issuer", &a.certificate_oidc_issuer),
        (
            "--certificate-oidc-issuer-regexp",
            &a.certificate_oidc_issuer_regexp,
        ),
    ] {
        if value.as_deref().is_some_and(|v| v.trim().is_empty()) {
            return Err(CliError::Usage(format!("{flag} is empty")));
        }
    }
    let config = IdentityConfig {
        issuer: a.certificate_oidc_issuer.clone(),
        issuer_regexp: a.certificate_oidc_issuer_regexp.clone(),
        subject: a.certificate_identity.clone(),
        subject_regexp: a.certificate_identity_regexp.clone(),
        no_issuer: false,
    };
    let identity = config
        .to_identity()
        .map_err(|e| CliError::Usage(format!("certificate identity: {e}")))?;
    let bytes = seedforge::input::read_capped(
        root_path,
        seedforge::trust::keyless::root::MAX_BYTES as u64,
        "trusted root",
    )
    .map_err(|e| {
        CliError::Usage(format!(
            "--trusted-root {}: {}",
            root_path.display(),
            e.reason()
        ))
    })?;
    let root = seedforge::trust::keyless::TrustedRoot::from_json(&bytes)
        .map_err(|e| CliError::Usage(format!("--trusted-root {}: {e}", root_path.display())))?;
    Ok(Some((
        PolicyIdentity {
            name: identity.to_string(),
            identity,
        },
        Arc::new(PolicyTrustedRoot {
            name: root_path.display().to_string(),
            bytes,
            root,
        }),
    )))
}

/// The policy of `--verify-key`, the certificate identity flags and `--require-signature`.
fn signature_policy(a: &MirrorArgs) -> Result<SignaturePolicy, CliError> {
    let mut keys = Vec::new();
    for path in &a.verify_key {
        let key = seedforge::trust::keys::PublicKey::read(path)
            .map_err(|e| CliError::Usage(format!("--verify-key {}: {e}", path.display())))?;
        keys.push(PolicyKey {
            name: path.display().to_string(),
            key,
        });
    }
    let keyless = keyless_policy(a)?;
    let (identities, trusted_root) = match keyless {
        Some((identity, root)) => (vec![identity], Some(root)),
        None => (Vec::new(), None),
    };
    Ok(SignaturePolicy {
        require: if keys.is_empty() && identities.is_empty() {
            RequireSignature::Never
        } else if a.require_signature == "if-present" {
            RequireSignature::IfPresent
        } else {
            RequireSignature::Always
        },
        keys: Arc::new(keys),
        identities: Arc::new(identities),
        trusted_root,
    })
}

/// Runs `seedforge mirror`.
pub fn run(g: &Global, a: &MirrorArgs) -> Result<ExitCode, CliError> {
    seedforge::outpath::refuse_dangerous(&a.layout)?;
    if a.registry.password_stdin && a.images.iter().any(|p| p.as_os_str() == "-") {
        return Err(CliError::Usage(
            "--images - and --password-stdin both read standard input: give the list as a file"
                .into(),
        ));
    }
    let images = ImageList::load_all(&a.images)?;
    let options = MirrorOptions {
        platforms: a.platforms.clone(),
        concurrency: usize::from(a.concurrency),
        registries: Arc::new(
            a.registry
                .registries(&registry_hosts(&images), &g.secrets)?,
        ),
        keep_going: a.keep_going,
        known_layout: None,
        opened: Arc::default(),
        attached: !a.no_signatures,
        policy: signature_policy(a)?,
    };
    let reporter = progress::CliReporter::new(g, images.entries.len());
    reporter.step_started("mirror");
    let result = mirror(&images.entries, &a.layout, &options, &reporter);
    reporter.finish();
    let run = result?;
    let reports: Vec<MirroredImageReport> = run.images.iter().map(Into::into).collect();
    if g.json {
        print_json(
            g,
            Kind::Mirror,
            &serde_json::json!({
                "layout": a.layout,
                "images": reports,
                "summary": run.summary,
            }),
        );
    } else if !g.quiet {
        print_images(&reports);
        errln!("{}", summary_line(&run.summary));
    }
    Ok(ExitCode::Ok)
}

/// The registries the images come from.
fn registry_hosts(images: &ImageList) -> BTreeSet<String> {
    images
        .entries
        .iter()
        .filter_map(|e| match &e.source {
            ImageSource::Registry(r) => Some(r.registry().to_string()),
            _ => None,
        })
        .collect()
}

fn summary_line(s: &MirrorSummary) -> String {
    format!(
        "mirrored {} image(s): {} blob(s) written, {} transferred, {} saved by deduplication ({} blob(s) reused), {:.1}s",
        s.images,
        s.blobs_written,
        human_bytes(s.bytes_transferred),
        human_bytes(s.bytes_saved),
        s.blobs_present,
        s.seconds
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Mirror {
        #[command(flatten)]
        args: MirrorArgs,
    }

    fn parse(extra: &[&str]) -> Result<MirrorArgs, clap::Error> {
        let base = ["mirror", "--images", "list.txt", "-o", "layout"];
        Mirror::try_parse_from(base.iter().chain(extra)).map(|m| m.args)
    }

    fn usage(extra: &[&str]) -> String {
        match signature_policy(&parse(extra).unwrap()) {
            Err(CliError::Usage(m)) => m,
            other => panic!("{extra:?}: {other:?}"),
        }
    }

    #[test]
    fn keyless_flags_are_cosigns_and_an_incomplete_set_is_a_usage_error() {
        let none = signature_policy(&parse(&[]).unwrap()).unwrap();
        assert_eq!(none.require, RequireSignature::Never);
        assert!(none.identities.is_empty() && none.trusted_root.is_none());

        let subject = ["--certificate-identity", "dev@example.com"];
        let issuer = ["--certificate-oidc-issuer", "https://issuer.example"];
        assert!(usage(&subject).contains("--certificate-oidc-issuer"));
        assert!(usage(&issuer).contains("--certificate-identity"));
        assert!(usage(&[&subject[..], &issuer[..]].concat()).contains("--trusted-root"));
        assert!(usage(&["--trusted-root", "root.json"]).contains("--certificate-identity"));
        let bad_regexp = usage(&[
            "--certificate-identity-regexp",
            "(unclosed",
            "--certificate-oidc-issuer-regexp",
            "^https://",
            "--trusted-root",
            "root.json",
        ]);
        assert!(bad_regexp.contains("subject_regexp"), "{bad_regexp}");
        let empty = usage(
            &[
                &issuer[..],
                &["--certificate-identity", " ", "--trusted-root", "r"],
            ]
            .concat(),
        );
        assert!(empty.contains("--certificate-identity is empty"), "{empty}");

        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.json");
        let garbage = dir.path().join("garbage.json");
        std::fs::write(&garbage, "{\"mediaType\": 1}").unwrap();
        for root in [&missing, &garbage] {
            let root = root.to_str().unwrap();
            let message = usage(&[&subject[..], &issuer[..], &["--trusted-root", root]].concat());
            assert!(
                message.starts_with(&format!("--trusted-root {root}: ")),
                "{message}"
            );
        }

        // An exact value and its regular expression together: clap refuses, as cosign.
        let both = parse(&[&subject[..], &["--certificate-identity-regexp", "dev"]].concat());
        assert_eq!(
            both.err().map(|e| e.kind()),
            Some(clap::error::ErrorKind::ArgumentConflict)
        );
    }
}
