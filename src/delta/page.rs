//! `review.html`: the one page a person reads before a delta crosses the gap. Written by
//! `delta` into the delta folder, listed in its `SHA256SUMS`, made only of what the delta
//! records (no clock, no path of this machine): the same delta gives the same bytes.
//!
//! Self-contained: no script, no font, no image or style from anywhere else (the sizes are
//! an inline SVG), readable on screen and printed on A4. The facts come first: the cluster
//! it is for and the far side's receipt it was made against, who made it and whether its
//! record is signed, the k3s path, what changes, the secrets it carries and why, then the
//! sizes as a picture, then every file on the medium with its SHA-256 (the delta's own
//! seal, line for line). A stale receipt is said first; why the config's inputs changed
//! (their diff since the far side's, secrets masked) follows what changes.

use super::carry::DeltaDoc;
use crate::util::human_bytes;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// The page's file name in the delta folder.
pub const REVIEW_PAGE: &str = "review.html";

/// What the page says beyond `delta.json`.
pub(super) struct PageFacts<'a> {
    /// The output's signature: signed, and its key id.
    pub signed_by: Option<&'a str>,
    /// `delta.json` is signed with that key too.
    pub record_signed: bool,
    /// The far side's k3s release (its receipt's) and the new one.
    pub k3s_from: Option<&'a str>,
    pub k3s_to: Option<&'a str>,
    /// The hops the far side's nodes step through.
    pub hops: &'a [String],
    /// The carried config files and manifests (paths in the folder) that hold a secret
    /// ([`crate::redact::files_holding_secrets`]): their lines would be masked.
    pub masked: &'a [String],
}

/// HTML-escaped text, its control and bidi characters shown ([`crate::redact::inert`]).
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in crate::redact::inert(text).chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Why a carried file that holds a secret by its content crosses.
const MASKED: &str = "holds a secret (a password, token or key, by its name or its shape), masked wherever this delta shows its lines: the far side's own copy is where to read it";

/// Why a file of the delta (its path in the folder) is a secret, if it is one.
pub(super) fn secret_reason(path: &str) -> Option<&'static str> {
    let name = path.rsplit('/').next().unwrap_or(path);
    if path.starts_with("out/pki/") && name.ends_with(".key") {
        Some(
            "a private key of the registry's PKI: it crosses only with a rotation on purpose (build --rotate-ca), so that the far side's registry presents the new certificate",
        )
    } else if name == "htpasswd" {
        Some("the registry's password file (hashed passwords)")
    } else if name == "user-data" || (path.starts_with("out/iso/") && name.ends_with(".iso")) {
        Some("holds the cluster's join token: a node's first-boot files")
    } else if path.starts_with("config/")
        && ["token", "password", "secret"]
            .iter()
            .any(|w| name.to_ascii_lowercase().contains(w))
    {
        Some("a config file named as a secret (a token or password the build reads)")
    } else if path.starts_with("config/") && name.ends_with(".key") {
        Some("a private key in the config folder")
    } else {
        None
    }
}

/// The page for `doc`, whose folder holds `files` (path in the folder to (sha256, size)),
/// the page and `SHA256SUMS` aside.
pub(super) fn render(
    doc: &DeltaDoc,
    facts: &PageFacts<'_>,
    files: &BTreeMap<String, (String, u64)>,
) -> Vec<u8> {
    let mut h = String::new();
    let cluster = doc.cluster.as_deref().unwrap_or("(unnamed)");
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>seedforge delta for cluster {}</title>\n<style>\n{STYLE}</style>\n</head>\n<body>\n",
        esc(cluster)
    );
    let _ = writeln!(
        h,
        "<h1>Delta for cluster <span class=\"v\">{}</span></h1>",
        esc(cluster)
    );
    // The facts first.
    let far = match (&doc.base_cluster, &doc.cluster) {
        (Some(b), Some(c)) if b != c => format!(
            "cluster {} <strong class=\"warn\">(another cluster: this delta renames it)</strong>",
            esc(b)
        ),
        (Some(b), _) => format!("cluster {}", esc(b)),
        (None, _) => "not named (a receipt of an older format)".to_owned(),
    };
    let signer = match (facts.signed_by, facts.record_signed) {
        (Some(k), true) => format!(
            "signed with key id <code>{}</code>: the new seal (<code>out/manifest.json</code>) and this record (<code>delta.json</code>)",
            esc(k)
        ),
        (Some(k), false) => format!(
            "the new seal is signed with key id <code>{}</code>; <strong class=\"warn\">the record (<code>delta.json</code>) is not signed</strong>: the far side checks what it says against the content",
            esc(k)
        ),
        (None, _) => "<strong class=\"warn\">not signed</strong>".to_owned(),
    };
    let mut path = String::new();
    let _ = write!(path, "{}", esc(facts.k3s_from.unwrap_or("not recorded")));
    if facts.k3s_from.is_some() && facts.k3s_from == facts.k3s_to && facts.hops.is_empty() {
        path.push_str(" (unchanged)");
    } else {
        for hop in facts.hops {
            let _ = write!(path, " &rarr; {}", esc(hop));
        }
        if facts.k3s_to != facts.hops.last().map(String::as_str) {
            let _ = write!(
                path,
                " &rarr; {}",
                esc(facts.k3s_to.unwrap_or("not recorded"))
            );
        }
    }
    let base = doc.base.as_ref();
    let written = match base.and_then(|b| b.receipt_written_at) {
        Some(t) => format!(", written {}", esc(&super::record::date(t))),
        None => " (its time not recorded: a receipt of an older format)".to_owned(),
    };
    let last_applied = match base.map(|b| &b.last_applied) {
        Some(Some(a)) => format!(
            "the delta whose <code>delta.json</code> hashes to <code>{}</code>, applied {}",
            esc(&a.delta_sha256),
            esc(&super::record::date(a.applied_at))
        ),
        Some(None) => "no delta: its output came whole".to_owned(),
        None => "not recorded".to_owned(),
    };
    let made_by = match &doc.made_by {
        Some(m) => format!(
            "seedforge {}, from the config <code>{}</code>; {}",
            esc(&doc.seedforge_version),
            esc(m.config_sha256.as_deref().unwrap_or("(not recorded)")),
            match &m.git {
                Some(g) => format!(
                    "git commit <code>{}</code>{}",
                    esc(&g.commit),
                    match g.dirty {
                        Some(true) => {
                            " <strong class=\"warn\">with changes not committed (dirty)</strong>"
                        }
                        Some(false) => " (clean)",
                        None => " (read from .git: whether it was dirty is not known)",
                    }
                ),
                None => "not a git checkout".to_owned(),
            }
        ),
        None => format!("seedforge {}", esc(&doc.seedforge_version)),
    };
    let site = |s: &Option<String>| match s {
        Some(s) => format!("<code>{}</code>", esc(s)),
        None => "not named (made by a seedforge without sites)".to_owned(),
    };
    let mut rows = vec![
        ("For cluster", esc(cluster)),
        ("For site", site(&doc.site)),
        ("The far side (its receipt)", far),
        ("The far side's site", site(&doc.base_site)),
        (
            "Base receipt",
            format!("<code>{}</code>{written}", esc(&doc.base_receipt)),
        ),
        ("The far side last applied", last_applied),
        (
            "Base manifest.json",
            format!("<code>{}</code>", esc(&doc.base_manifest_sha256)),
        ),
        (
            "New manifest.json",
            format!("<code>{}</code>", esc(&doc.target_manifest_sha256)),
        ),
        ("Made by", made_by),
        (
            "Why",
            doc.reason
                .as_deref()
                .map_or_else(|| "no reason given (delta --reason TEXT)".to_owned(), esc),
        ),
        ("Signed", signer),
        ("k3s", path),
        (
            "Built as of",
            doc.source_date_epoch.map_or_else(
                || "no source date".to_owned(),
                |t| format!("{t} (seconds since 1970, the build's source date)"),
            ),
        ),
    ];
    if let Some(b) = base.filter(|b| !b.stale.is_empty()) {
        let said: Vec<String> = b.stale.iter().map(|s| esc(s)).collect();
        rows.insert(
            0,
            (
                "<span class=\"warn\">Stale receipt</span>",
                format!("<strong class=\"warn\">{}</strong>", said.join("<br>")),
            ),
        );
    }
    h.push_str("<table class=\"facts\">\n");
    for (k, v) in rows {
        let _ = writeln!(h, "<tr><th>{k}</th><td>{v}</td></tr>");
    }
    h.push_str("</table>\n");

    // What changes.
    h.push_str("<h2>What changes</h2>\n");
    let c = &doc.changes;
    let mut any = false;
    let mut kind = |name: &str, d: Option<&super::changes::Diff>| {
        let Some(d) = d else {
            let _ = writeln!(
                h,
                "<p><strong>{name}</strong>: not known by name (a receipt of an older format)</p>"
            );
            return;
        };
        if d.is_empty() {
            return;
        }
        any = true;
        let _ = writeln!(h, "<h3>{name}</h3>\n<ul>");
        for (sign, class, list) in [
            ("+", "add", &d.added),
            ("~", "chg", &d.changed),
            ("&minus;", "del", &d.removed),
        ] {
            for n in list {
                let _ = writeln!(
                    h,
                    "<li class=\"{class}\">{sign} <code>{}</code></li>",
                    esc(n)
                );
            }
        }
        h.push_str("</ul>\n");
    };
    kind("Images", c.images.as_ref());
    kind("Charts", Some(&c.charts));
    kind("Package bundles", Some(&c.packages));
    kind("Files", Some(&c.files));
    if let Some(ca) = &c.ca {
        any = true;
        let _ = writeln!(
            h,
            "<h3>Registry CA, rotated on purpose</h3>\n<p><code>{}</code> &rarr; <code>{}</code>: the nodes trust both until the next delta drops the old one.</p>",
            esc(&ca.old),
            esc(&ca.new)
        );
    }
    if !any {
        h.push_str("<p>Nothing by name: the delta carries what the far side rebuilds from (its config, the seal).</p>\n");
    }
    if !doc.repairs.is_empty() {
        h.push_str("<h3>Repairs of the far side</h3>\n<ul>\n");
        for r in &doc.repairs {
            let _ = writeln!(h, "<li><code>{}</code></li>", esc(r));
        }
        h.push_str("</ul>\n");
    }

    // Why: the config's inputs since the far side's.
    if let Some(why) = &doc.why {
        h.push_str("<h2>What changed in the config, since the far side's</h2>\n");
        if why.files.is_empty() {
            h.push_str("<p>No input of the config changed.</p>\n");
        }
        for f in &why.files {
            let counts = match (f.added, f.removed) {
                (Some(a), Some(r)) => format!(", +{a} &minus;{r}"),
                _ => String::new(),
            };
            let _ = writeln!(
                h,
                "<h3><code>{}</code>: {}{counts}</h3>",
                esc(&f.path),
                esc(&f.change)
            );
            if let Some(n) = &f.note {
                let _ = writeln!(h, "<p class=\"warn\">{}</p>", esc(n));
            }
            if !f.lines.is_empty() {
                h.push_str("<table class=\"diff\">\n");
                for l in &f.lines {
                    let class = if l.op == "+" { "add" } else { "del" };
                    let _ = writeln!(
                        h,
                        "<tr class=\"{class}\"><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
                        esc(&l.op),
                        l.line,
                        esc(&l.text)
                    );
                }
                h.push_str("</table>\n");
            }
            if f.more > 0 {
                let _ = writeln!(h, "<p>&hellip; {} more line(s)</p>", f.more);
            }
        }
        if let Some(n) = &why.note {
            let _ = writeln!(h, "<p class=\"warn\">{}</p>", esc(n));
        }
    }

    // Secrets.
    h.push_str("<h2>Secrets on this medium</h2>\n");
    let secrets: Vec<(&String, &str)> = (files.keys())
        .filter_map(|p| {
            let masked = facts.masked.contains(p).then_some(MASKED);
            Some((p, secret_reason(p).or(masked)?))
        })
        .collect();
    if secrets.is_empty() {
        h.push_str("<p>None: no private key, password file, token, node first-boot file or config file holding a secret crosses with this delta.</p>\n");
    } else {
        h.push_str("<table class=\"list\">\n<tr><th>File</th><th>Why it crosses</th></tr>\n");
        for (p, why) in secrets {
            let _ = writeln!(
                h,
                "<tr><td><code>{}</code></td><td>{}</td></tr>",
                esc(p),
                esc(why)
            );
        }
        h.push_str("</table>\n");
    }

    // Sizes as a picture: bytes by kind, and the whole new output beside.
    h.push_str("<h2>Sizes</h2>\n");
    let bars = [
        ("Blobs (image layers)", doc.blobs.bytes),
        ("Sealed files", doc.artifacts.bytes),
        ("The seal", doc.seal.bytes),
        ("Config files", doc.config.bytes),
        ("This delta, in all", doc.bytes),
        ("The whole new output", doc.full_output_bytes),
    ];
    let max = bars.iter().map(|(_, b)| *b).max().unwrap_or(1).max(1);
    let (width, row) = (640u64, 26u64);
    let _ = writeln!(
        h,
        "<svg width=\"{w}\" height=\"{ht}\" viewBox=\"0 0 {w} {ht}\" role=\"img\" aria-label=\"bytes by kind\">",
        w = width,
        ht = row * bars.len() as u64 + 4
    );
    for (i, (label, bytes)) in bars.iter().enumerate() {
        let y = row * i as u64 + 2;
        let len = (bytes.saturating_mul(360) / max).max(u64::from(*bytes > 0));
        let fill = if i >= 4 { "#8a8a8a" } else { "#2f6db5" };
        let _ = writeln!(
            h,
            "<text x=\"0\" y=\"{ty}\" font-size=\"12\">{}</text><rect x=\"170\" y=\"{y}\" width=\"{len}\" height=\"18\" fill=\"{fill}\"/><text x=\"{tx}\" y=\"{ty}\" font-size=\"12\">{}</text>",
            esc(label),
            esc(&human_bytes(*bytes)),
            ty = y + 13,
            tx = 176 + len
        );
    }
    h.push_str("</svg>\n");

    // Everything on the medium.
    let total: u64 = files.values().map(|(_, s)| *s).sum();
    let _ = writeln!(
        h,
        "<h2>Every file on this medium</h2>\n<p>{} file(s), {}, as the delta's <code>SHA256SUMS</code> lists them (it also lists this page); nothing else belongs on it.</p>\n<table class=\"list files\">\n<tr><th>File</th><th>Size</th><th>SHA-256</th></tr>",
        files.len(),
        esc(&human_bytes(total))
    );
    for (p, (sha, size)) in files {
        let _ = writeln!(
            h,
            "<tr><td><code>{}</code></td><td>{}</td><td><code class=\"sha\">{}</code></td></tr>",
            esc(p),
            esc(&human_bytes(*size)),
            esc(sha)
        );
    }
    h.push_str("</table>\n</body>\n</html>\n");
    h.into_bytes()
}

const STYLE: &str = "@page { size: A4; margin: 16mm; }
body { font-family: sans-serif; font-size: 11pt; color: #111; max-width: 180mm; margin: 1em auto; }
h1 { font-size: 18pt; margin: 0 0 0.6em; }
h2 { font-size: 13pt; margin: 1.2em 0 0.4em; border-bottom: 1px solid #999; }
h3 { font-size: 11pt; margin: 0.8em 0 0.2em; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; vertical-align: top; padding: 2px 6px; border-bottom: 1px solid #ddd; }
table.facts th { width: 32%; }
code { font-family: monospace; font-size: 9pt; word-break: break-all; }
code.sha { font-size: 7pt; }
table.files td { font-size: 9pt; }
.warn { color: #a00000; }
li.add { color: #075e07; } li.del { color: #a00000; } li.chg { color: #6b4a00; }
table.diff td { font-size: 9pt; border-bottom: none; padding: 0 4px; }
table.diff td:first-child, table.diff td:nth-child(2) { width: 2em; }
tr.add td { color: #075e07; } tr.del td { color: #a00000; }
ul { margin: 0.2em 0; padding-left: 1.4em; }
tr { page-break-inside: avoid; }
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_secrets_are_named_with_why() {
        assert_eq!(
            esc("<a href='x'>&\""),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;"
        );
        assert!(secret_reason("out/pki/ca.key").is_some());
        assert!(secret_reason("out/pki/registry.key").is_some());
        assert!(secret_reason("out/pki/ca.crt").is_none());
        assert!(secret_reason("config/token").is_some());
        assert!(secret_reason("out/nodes/n1/user-data").is_some());
        assert!(secret_reason("out/charts/a-1.0.0.tgz").is_none());
        // What a reviewer reads is what the record holds, not what it would do.
        assert_eq!(esc("a\u{1b}[2K\u{202e}b<"), "a\\x1b[2K&lt;U+202E&gt;b&lt;");
    }
}
