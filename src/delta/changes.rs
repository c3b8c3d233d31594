//! What a delta changes, in the operator's words: the images, charts, package bundles and
//! `files:` entries added, changed and removed between the far side's output (its
//! receipt) and the new one, and the registry CA when it is rotated on purpose. `delta.json` records it; `plan --upgrade-from`, `delta` and
//! `apply` print it.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Added, changed and removed names of one kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diff {
    /// New names.
    pub added: Vec<String>,
    /// Names kept whose content changed.
    pub changed: Vec<String>,
    /// Names dropped.
    pub removed: Vec<String>,
}

impl Diff {
    /// The difference from `before` to `after` (name to content digest).
    pub fn of(before: &BTreeMap<String, String>, after: &BTreeMap<String, String>) -> Diff {
        let mut d = Diff::default();
        for (name, digest) in after {
            match before.get(name) {
                None => d.added.push(name.clone()),
                Some(old) if old != digest => d.changed.push(name.clone()),
                Some(_) => {}
            }
        }
        d.removed = (before.keys())
            .filter(|n| !after.contains_key(*n))
            .cloned()
            .collect();
        d
    }

    /// True when nothing was added, changed or removed.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.changed.is_empty() && self.removed.is_empty()
    }

    /// `+a, ~b, -c`, or `none`.
    pub fn text(&self) -> String {
        let all: Vec<String> = (self.added.iter().map(|n| format!("+{n}")))
            .chain(self.changed.iter().map(|n| format!("~{n}")))
            .chain(self.removed.iter().map(|n| format!("-{n}")))
            .collect();
        if all.is_empty() {
            "none".into()
        } else {
            all.join(", ")
        }
    }
}

/// What a delta changes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Changes {
    /// Images, by destination (`None`: the receipt is older than its image records, so
    /// the far side's images are not known by name).
    pub images: Option<Diff>,
    /// Charts, by their archive's path (`charts/NAME-VERSION.tgz`).
    pub charts: Diff,
    /// Package bundles, by their archive's path.
    pub packages: Diff,
    /// `files:` entries, by their path in the output.
    pub files: Diff,
    /// The registry CA, rotated on purpose (`build --rotate-ca`): the fingerprint the far
    /// side's nodes trust and the new one (`None`: the CA is the same).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca: Option<crate::pki::CaChange>,
}

impl Changes {
    /// The changes from the far side's `before` (its images by destination, when its
    /// receipt records them, and its sealed files by path) to the new output's `after`.
    pub fn of(
        images_before: Option<&BTreeMap<String, String>>,
        images_after: &BTreeMap<String, String>,
        files_before: &BTreeMap<String, String>,
        files_after: &BTreeMap<String, String>,
    ) -> Changes {
        let under = |files: &BTreeMap<String, String>, dir: &str| -> BTreeMap<String, String> {
            (files.iter())
                .filter(|(p, _)| p.starts_with(dir))
                .map(|(p, s)| (p.clone(), s.clone()))
                .collect()
        };
        let kind = |dir: &str| Diff::of(&under(files_before, dir), &under(files_after, dir));
        Changes {
            images: images_before.map(|b| Diff::of(b, images_after)),
            charts: kind("charts/"),
            packages: kind("packages/"),
            files: kind("files/"),
            ca: None,
        }
    }

    /// One line per kind that changed (`images: +a, -b`), for the command line.
    pub fn lines(&self) -> Vec<String> {
        let mut lines = Vec::new();
        match &self.images {
            Some(d) if !d.is_empty() => lines.push(format!("images: {}", d.text())),
            Some(_) => {}
            None => {
                lines.push("images: not known by name (the receipt is of an older format)".into())
            }
        }
        for (kind, d) in [
            ("charts", &self.charts),
            ("packages", &self.packages),
            ("files", &self.files),
        ] {
            if !d.is_empty() {
                lines.push(format!("{kind}: {}", d.text()));
            }
        }
        if let Some(ca) = &self.ca {
            lines.push(format!(
                "registry CA: {} -> {} (rotated on purpose: the nodes trust both until the next delta drops the old one)",
                ca.old, ca.new
            ));
        }
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn a_diff_names_what_was_added_changed_and_removed() {
        let before = map(&[("acme/cron:1.0", "sha256:1"), ("acme/web:2.0", "sha256:2")]);
        let after = map(&[("acme/api:1.0", "sha256:3"), ("acme/web:2.0", "sha256:4")]);
        let d = Diff::of(&before, &after);
        assert_eq!(d.added, ["acme/api:1.0"]);
        assert_eq!(d.changed, ["acme/web:2.0"]);
        assert_eq!(d.removed, ["acme/cron:1.0"]);
        assert_eq!(d.text(), "+acme/api:1.0, ~acme/web:2.0, -acme/cron:1.0");
        assert!(Diff::of(&after, &after).is_empty());
    }

    #[test]
    fn sealed_files_are_sorted_into_charts_packages_and_files() {
        let before = map(&[
            ("charts/a-1.0.0.tgz", "1"),
            ("packages/tools.tar.gz", "2"),
            ("iso/seed-n1.iso", "3"),
        ]);
        let after = map(&[
            ("charts/a-1.1.0.tgz", "4"),
            ("packages/tools.tar.gz", "5"),
            ("files/bin/k3s", "6"),
            ("iso/seed-n1.iso", "7"),
        ]);
        let c = Changes::of(None, &BTreeMap::new(), &before, &after);
        assert_eq!(c.charts.text(), "+charts/a-1.1.0.tgz, -charts/a-1.0.0.tgz");
        assert_eq!(c.packages.text(), "~packages/tools.tar.gz");
        assert_eq!(c.files.text(), "+files/bin/k3s");
        assert!(c.lines()[0].contains("older format"));
    }
}
