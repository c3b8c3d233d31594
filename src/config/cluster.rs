//! `cluster:` and `airgap:`: the k3s release and its settings, and how its airgap images
//! are written.

use super::*;

/// `cluster:`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cluster {
    /// Cluster name: a DNS label, used in artifact names.
    pub name: DnsLabel,
    /// The k3s release the cluster runs (`v1.33.1+k3s1`).
    #[serde(deserialize_with = "k3s_release")]
    pub k3s_version: String,
    /// The join token nodes share.
    #[serde(default)]
    pub token: Option<Secret>,
    /// The pause (pod sandbox) image the nodes use; default: the release's own.
    #[serde(default)]
    pub pause_image: Option<ImageRef>,
    /// Packaged components switched off (k3s `--disable`): their images are not required.
    #[serde(default)]
    pub disable: Vec<Component>,
    /// k3s's embedded registry mirror (`embedded-registry: true` on the servers): only the
    /// servers' seeds carry the airgap archives, and every node pulls what it lacks from
    /// the others.
    #[serde(default)]
    pub embedded_registry: bool,
    /// A node's bootstrap applies a payload whose k3s is older than the k3s the node runs
    /// (otherwise it refuses it, with nothing installed).
    #[serde(default)]
    pub allow_downgrade: bool,
    /// The k3s release's own image list (`k3s-images.txt`), as written: the exact image
    /// check uses it instead of the list this build carries (resolved in
    /// [`Config::release_images`]).
    #[serde(default)]
    pub release_images: Option<Spanned<LinuxPath>>,
    /// The k3s release the far side's nodes run now, for `build` and `plan` without a
    /// receipt: a `k3s_version` more than one minor ahead of it is refused.
    #[serde(default, deserialize_with = "k3s_release_some")]
    pub upgrade_from: Option<String>,
    /// The releases the nodes step through from `upgrade_from` to `k3s_version`, oldest
    /// first (`auto`: the newest known release of each skipped minor).
    #[serde(default, deserialize_with = "upgrade_path_some")]
    pub upgrade_path: Option<crate::preflight::UpgradePath>,
    /// The hops resolved from `upgrade_path` while parsing (empty without one).
    #[serde(skip)]
    pub hops: Vec<String>,
}

/// `cluster.upgrade_path`: `auto`, or a list of strict releases.
fn upgrade_path_some<'de, D: de::Deserializer<'de>>(
    d: D,
) -> Result<Option<crate::preflight::UpgradePath>, D::Error> {
    struct PathVisitor;
    impl<'de> de::Visitor<'de> for PathVisitor {
        type Value = crate::preflight::UpgradePath;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("`auto` or a list of k3s releases like [v1.34.2+k3s1, v1.35.1+k3s1]")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            if v == "auto" {
                Ok(crate::preflight::UpgradePath::Auto)
            } else {
                Err(E::custom(format!(
                    "cluster.upgrade_path {v:?} is neither `auto` nor a list of k3s releases like [v1.34.2+k3s1, v1.35.1+k3s1]"
                )))
            }
        }
        fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut hops = Vec::new();
            while let Some(s) = seq.next_element::<String>()? {
                strict_release(
                    &s,
                    "cluster.upgrade_path: a hop",
                    "as `k3s --version` names it",
                )
                .map_err(de::Error::custom)?;
                hops.push(s);
            }
            Ok(crate::preflight::UpgradePath::Releases(hops))
        }
    }
    d.deserialize_any(PathVisitor).map(Some)
}

/// Refuses `s` (`what`, the key; `hint`, what the release is) unless it is a release
/// written in full as the nodes report it.
fn strict_release(s: &str, what: &str, hint: &str) -> Result<(), String> {
    let full = (s.strip_prefix('v'))
        .and_then(|rest| rest.split_once("+k3s"))
        .is_some_and(|(core, n)| {
            !core.contains('-')
                && crate::preflight::version_core(core).is_some_and(|(major, ..)| major == 1)
                && !n.is_empty()
                && n.bytes().all(|b| b.is_ascii_digit())
        });
    if !full {
        return Err(format!(
            "{what} {s:?} is not a k3s release like v1.33.1+k3s1 ({hint})"
        ));
    }
    crate::preflight::default_pause_image(s)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// A release the nodes run, written in full as they report it: `vX.Y.Z+k3sN`.
fn k3s_release_some<'de, D: de::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let s = String::deserialize(d)?;
    strict_release(
        &s,
        "cluster.upgrade_from",
        "the release the far side's nodes run, as `k3s --version` names it",
    )
    .map_err(de::Error::custom)?;
    Ok(Some(s))
}

/// The line, column and text of `cluster.k3s_version` in the config file at `path`, when
/// it can be read and says one.
pub fn k3s_version_at(path: &Path) -> Option<(u64, u64, String)> {
    let text = crate::input::read_to_string(path, crate::input::Kind::Config).ok()?;
    let value = (positions::Positions::of(&text)
        .get("cluster.k3s_version")?
        .scalar)
        .clone()?;
    let (line, column) = key_location(&text, "cluster", "k3s_version");
    Some((line, column, value))
}

/// The hops of the upgrade from `cluster.upgrade_from` to `cluster.k3s_version`
/// ([`crate::preflight::resolve_hops`]): a `k3s_version` more than one minor ahead of
/// `upgrade_from` without `cluster.upgrade_path` is refused at `k3s_version`'s line (the
/// nodes upgrade one minor at a time), a path that is not one at `upgrade_path`'s; an
/// `upgrade_path` without `upgrade_from` is refused at its line.
pub(super) fn check_upgrade_from(
    cluster: &Cluster,
    text: &str,
    path: &Path,
) -> Result<Vec<String>, ConfigError> {
    let at = |key: &str, message: String| {
        let (line, column) = key_location(text, "cluster", key);
        ConfigError::Invalid {
            path: path.to_path_buf(),
            line,
            column,
            message: format!("cluster.{key}: {message}"),
        }
    };
    let Some(from) = &cluster.upgrade_from else {
        return match cluster.upgrade_path {
            Some(_) => Err(at(
                "upgrade_path",
                "needs cluster.upgrade_from, the release the far side's nodes run now: the path goes from it to cluster.k3s_version".into(),
            )),
            None => Ok(Vec::new()),
        };
    };
    crate::preflight::resolve_hops(from, &cluster.k3s_version, cluster.upgrade_path.as_ref())
        .map_err(|refusal| match refusal.at_path {
            true => at("upgrade_path", refusal.message),
            false => at("k3s_version", refusal.message),
        })
}

pub use crate::preflight::{hop_binary_name, hop_of_binary};

/// Every hop has its k3s binary in `files:` (`hops/<RELEASE>/k3s`, else refused at
/// `cluster.upgrade_path`), and every `files:` entry under `hops/` is the binary of a hop
/// (else refused at the entry).
pub(super) fn check_hop_files(
    hops: &[String],
    files: &[crate::files::FileConfig],
    text: &str,
    path: &Path,
) -> Result<(), ConfigError> {
    let invalid = |(line, column): (u64, u64), message: String| ConfigError::Invalid {
        path: path.to_path_buf(),
        line,
        column,
        message,
    };
    let listed = if hops.is_empty() {
        "the config has no cluster.upgrade_path".to_string()
    } else {
        format!("cluster.upgrade_path's hops are {}", hops.join(", "))
    };
    for f in files.iter().filter(|f| f.name.starts_with("hops/")) {
        let at = (f.location.line, f.location.column);
        match hop_of_binary(&f.name) {
            Some(release) if hops.iter().any(|h| h == release) => {}
            Some(release) => {
                return Err(invalid(
                    at,
                    format!(
                        "files entry {:?} is the k3s binary of {release}, which is not a hop of the upgrade ({listed}); remove it or add the release to cluster.upgrade_path",
                        f.name
                    ),
                ));
            }
            None => {
                return Err(invalid(
                    at,
                    format!(
                        "files entry {:?}: the entries under hops/ are the hops' k3s binaries, each named hops/<RELEASE>/k3s ({listed})",
                        f.name
                    ),
                ));
            }
        }
    }
    for hop in hops {
        let name = hop_binary_name(hop);
        if !files.iter().any(|f| f.name == name) {
            return Err(invalid(
                key_location(text, "cluster", "upgrade_path"),
                format!(
                    "cluster.upgrade_path: the hop {hop} needs its k3s binary: add a files entry named {name:?} (source: the k3s binary of {hop}, executable: true)"
                ),
            ));
        }
    }
    Ok(())
}

/// A k3s release name, checked while parsing so a bad one is reported at its line.
fn k3s_release<'de, D: de::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = String::deserialize(d)?;
    crate::preflight::default_pause_image(&s).map_err(de::Error::custom)?;
    Ok(s)
}

/// An image reference in the config, normalised as Docker does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef(pub crate::image::Reference);

impl<'de> Deserialize<'de> for ImageRef {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        crate::image::Reference::parse(&s)
            .map(ImageRef)
            .map_err(de::Error::custom)
    }
}

/// A k3s packaged component that can be disabled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Component(pub String);

impl<'de> Deserialize<'de> for Component {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if crate::preflight::DISABLEABLE.contains(&s.as_str()) {
            Ok(Component(s))
        } else {
            Err(de::Error::custom(format!(
                "unknown component {s:?}; one of {}",
                crate::preflight::DISABLEABLE.join(", ")
            )))
        }
    }
}

/// `airgap:` — the k3s airgap image archives.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Airgap {
    /// `oci` or `docker`.
    #[serde(default = "default_airgap_format")]
    pub format: ArchiveFormat,
    /// `auto` (the default: plain `.tar` when every layer is compressed already, else
    /// `.tar.zst`), `none`, `gzip` or `zstd`.
    #[serde(default = "default_airgap_compression")]
    pub compression: CompressionSetting,
    /// Compression level: zstd 1-19 (default 3), gzip 1-9 (default 6).
    #[serde(default)]
    pub level: Option<Spanned<i32>>,
    /// Which images the archives (and so every seed) carry.
    #[serde(default)]
    pub images: AirgapImages,
    /// Which images the agents' seeds carry: `system` gives them an archive of their own
    /// with only what k3s needs itself (the servers keep the whole set).
    #[serde(default)]
    pub agents: AirgapImages,
}

/// `airgap.images`: which listed images go into the airgap archives.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AirgapImages {
    /// Every listed image (the default).
    #[default]
    All,
    /// Only the images k3s needs itself (its packaged components and the pause image);
    /// the others are in the registry alone, pulled by the nodes when a pod needs them.
    System,
}

impl Default for Airgap {
    fn default() -> Self {
        Airgap {
            format: default_airgap_format(),
            compression: default_airgap_compression(),
            level: None,
            images: AirgapImages::All,
            agents: AirgapImages::All,
        }
    }
}

fn default_airgap_format() -> ArchiveFormat {
    ArchiveFormat::Oci
}

fn default_airgap_compression() -> CompressionSetting {
    CompressionSetting::Auto
}
