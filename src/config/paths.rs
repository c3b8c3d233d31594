//! The files and folders the config names: each checked to exist, at the line naming it.

use super::*;

impl Config {
    /// Checks that the files and folders the config names exist, pointing at the line
    /// that names a missing one (parsing alone does not touch the filesystem). Every
    /// missing input is named in one run, each at its own line: the first is the error's
    /// place, the others follow on lines of their own.
    pub(super) fn check_paths(&self, text: &str) -> Result<(), ConfigError> {
        let positions = positions::Positions::of(text);
        let mut problems: Vec<(u64, u64, String)> = Vec::new();
        fn at_key(
            problems: &mut Vec<(u64, u64, String)>,
            positions: &positions::Positions,
            key: &str,
            message: String,
        ) {
            let (line, column) = positions.at(key);
            problems.push((line, column, message));
        }
        let exists = |path: &Path| std::fs::metadata(path).map(drop);
        for (list, loc) in &self.images.lists {
            if let Err(e) = exists(list) {
                problems.push((
                    loc.line,
                    loc.column,
                    format!("image list {}: {e}", list.display()),
                ));
            }
        }
        if let Some(seal) = &self.seal {
            // The private key may be absent where the public key keeps the signatures.
            let key = (seal.key.as_ref())
                .filter(|k| seal.public_key.is_none() || self.dir.join(&*k.value).exists());
            for (field, path) in [
                ("seal.key", key),
                ("seal.password_file", key.and(seal.password_file.as_ref())),
                ("seal.public_key", seal.public_key.as_ref()),
            ] {
                if let Some(p) = path
                    && let Err(e) = crate::input::check_regular(&self.dir.join(&*p.value))
                {
                    problems.push((
                        p.referenced.line(),
                        p.referenced.column(),
                        format!("{field}: {e}"),
                    ));
                }
            }
        }
        // The signature policy's keys: each a public key seedforge can read.
        for key in self.images.verify.iter().flat_map(|v| v.keys.iter()) {
            if let Err(e) = crate::trust::keys::PublicKey::read(&self.dir.join(&*key.value)) {
                problems.push((
                    key.referenced.line(),
                    key.referenced.column(),
                    format!("images.verify.keys: {e}"),
                ));
            }
        }
        // The trusted root of keyless signatures: a regular file (parsed when the policy
        // is made, where its errors name it too).
        if let Some(root) = self
            .images
            .verify
            .as_ref()
            .and_then(|v| v.trusted_root.as_ref())
            && let Err(e) = crate::input::check_regular(&self.dir.join(&*root.value))
        {
            problems.push((
                root.referenced.line(),
                root.referenced.column(),
                format!("images.verify.trusted_root: {e}"),
            ));
        }
        if let Some((list, loc)) = &self.release_images
            && let Err(e) = crate::input::check_regular(list)
        {
            problems.push((loc.line, loc.column, format!("cluster.release_images: {e}")));
        }
        // A folder or a FIFO given as a certificate or key passes `metadata` and fails
        // only when a step reads it: refused here, at the line that names it.
        let regular = |problems: &mut Vec<(u64, u64, String)>, path: &Path, key: &str| {
            if let Err(e) = crate::input::check_regular(path) {
                at_key(problems, &positions, key, format!("{key}: {e}"));
            }
        };
        if let Some(import) = self.registry.as_ref().and_then(|r| r.ca.import.as_ref()) {
            regular(
                &mut problems,
                &self.dir.join(&import.cert),
                "registry.ca.import.cert",
            );
            regular(
                &mut problems,
                &self.dir.join(&import.key),
                "registry.ca.import.key",
            );
        }
        for (i, r) in self.registries.iter().enumerate() {
            if let Some(ca) = &r.ca_file {
                regular(
                    &mut problems,
                    &self.dir.join(ca),
                    &format!("registries[{i}].ca_file"),
                );
            }
        }
        for (i, chart) in self.charts.iter().enumerate() {
            if let Some(values) = &chart.values {
                regular(&mut problems, values, &format!("charts[{i}].values"));
            }
        }
        // Secrets read from files: read only when a step needs them, so a missing one
        // would otherwise fail late and without its line.
        let secrets = [
            ("cluster.token", self.cluster.token.as_ref()),
            (
                "registry.auth.password",
                self.registry
                    .as_ref()
                    .and_then(|r| r.auth.as_ref())
                    .map(|a| &a.password),
            ),
        ];
        for (key, secret) in secrets {
            if let Some(Secret::File(file)) = secret {
                regular(&mut problems, &self.dir.join(file), &format!("{key}.file"));
            }
        }
        // Local package sources and base lists are read again by every build, `--offline`
        // included (the bundle is made from them): they travel with the config.
        const TRAVELS: &str =
            "every build, --offline too, reads it again: carry it with the config";
        for (i, b) in self.packages.iter().enumerate() {
            if let Some(base) = &b.base
                && let Err(e) = crate::input::check_regular(&self.dir.join(base))
            {
                at_key(
                    &mut problems,
                    &positions,
                    &format!("packages[{i}].base"),
                    format!("packages[{i}].base: {e}; {TRAVELS}"),
                );
            }
            for source in &b.sources {
                let crate::debs::PackageSource::Debs(paths) = source else {
                    continue;
                };
                for (j, p) in paths.iter().enumerate() {
                    let path = self.dir.join(p);
                    if let Err(e) = exists(&path) {
                        at_key(
                            &mut problems,
                            &positions,
                            &format!("packages[{i}].debs[{j}]"),
                            format!(
                                "packages[{i}].debs[{j}]: {}: {e}; {TRAVELS}",
                                path.display()
                            ),
                        );
                    }
                }
            }
        }
        for f in &self.files {
            if let crate::files::FileSource::Local(src) = &f.source {
                let path = self.dir.join(src);
                // A stat, not an open: an unchanged payload file is not even opened.
                if let Err(e) = exists(&path) {
                    problems.push((
                        f.location.line,
                        f.location.column,
                        format!("files: {}: source {}: {e}", f.name, path.display()),
                    ));
                }
            }
        }
        for (m, loc) in &self.manifests {
            if let Err(e) = exists(m) {
                problems.push((
                    loc.line,
                    loc.column,
                    format!("manifests: {}: {e}", m.display()),
                ));
            }
        }
        if let Some(dir) = &self.templates
            && !dir.is_dir()
        {
            // `templates` is a top-level key, so it starts a line.
            let line = text
                .lines()
                .position(|l| l.starts_with("templates:"))
                .map_or(1, |i| i as u64 + 1);
            problems.push((
                line,
                1,
                format!("templates: {} is not a directory", dir.display()),
            ));
        }
        let mut problems = problems.into_iter();
        let Some((line, column, mut message)) = problems.next() else {
            return Ok(());
        };
        for (l, c, m) in problems {
            message.push_str(&format!("\n{}:{l}:{c}: {m}", self.path.display()));
        }
        Err(ConfigError::Invalid {
            path: self.path.clone(),
            line,
            column,
            message,
        })
    }
}
