//! The lab: the test cluster's config, the k3s stand-in, the images and two bundles.

use super::*;

/// The lab: the test cluster's config, the k3s stand-in, the images and two bundles.
pub(crate) struct Lab {
    pub(crate) dir: tempfile::TempDir,
    /// A scenario's changes to the config (`seeds:`, `cluster:` settings).
    pub(crate) edit: fn(String) -> String,
    /// The Helm repository the config's chart comes from (files served on 127.0.0.1).
    pub(crate) repo: common::debs::HttpServer,
}

/// The chart the lab installs on its server, as the repository serves it.
pub(crate) fn lab_chart() -> Vec<u8> {
    common::charts::chart_tgz("demo-app", "1.2.3", common::charts::VALUES)
}

/// `tgz` as the Helm HTTP repository in `repo` serves `demo-app` 1.2.3: the archive and
/// an `index.yaml` with its digest.
fn publish_chart(repo: &Path, tgz: &[u8]) {
    fs::create_dir_all(repo.join("charts")).unwrap();
    fs::write(repo.join("charts/demo-app-1.2.3.tgz"), tgz).unwrap();
    fs::write(
        repo.join("index.yaml"),
        format!(
            "apiVersion: v1\nentries:\n  demo-app:\n    - apiVersion: v2\n      name: demo-app\n      version: 1.2.3\n      digest: {}\n      urls:\n        - charts/demo-app-1.2.3.tgz\n",
            sha256_bytes(tgz)
        ),
    )
    .unwrap();
}

/// A manifest the config's `manifests:` carries to the server.
pub(crate) const LAB_MANIFEST: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: boot-settings\n  namespace: default\ndata:\n  greeting: hello\n";

impl Lab {
    pub(crate) fn new(machine: &Machine) -> Lab {
        Lab::with(machine, |config| config)
    }

    /// The lab with its config changed by `edit`.
    pub(crate) fn with(machine: &Machine, edit: fn(String) -> String) -> Lab {
        // SEEDFORGE_BOOT_KEEP=1 keeps the lab, its disks and consoles after the test, to
        // read a boot's journal (/var/log/boot-diag on each disk) with debugfs.
        let keep = std::env::var_os("SEEDFORGE_BOOT_KEEP").is_some_and(|v| v == "1");
        let dir = tempfile::Builder::new()
            .prefix("seedforge-boot-")
            .disable_cleanup(keep)
            .tempdir()
            .unwrap();
        if keep {
            eprintln!("boot lab kept: {}", dir.path().display());
        }
        let lab = dir.path();
        let src = common::repo_root().join("tests/boot/lab");
        for f in ["seedforge.yaml", "token"] {
            fs::copy(src.join(f), lab.join(f)).unwrap();
        }
        let fixtures = common::repo_root().join("fixtures/images");
        let list = fs::read_to_string(common::repo_root().join("fixtures/lab/images.txt"))
            .unwrap()
            .replace("../images", &fixtures.display().to_string());
        fs::write(lab.join("images.txt"), list).unwrap();
        // What the node image has installed: the bundles carry only the rest.
        let status = read(&machine.image, "/var/lib/dpkg/status").expect("dpkg status");
        assert!(
            status.lines().any(|l| l == "Package: libc6"),
            "the node image's dpkg status ({} bytes) has no libc6: {}",
            status.len(),
            machine.image.display()
        );
        fs::write(lab.join("node-status"), status).unwrap();
        // A Helm HTTP repository with one chart, a values file for it, and a manifest.
        publish_chart(&lab.join("repo"), &lab_chart());
        fs::write(lab.join("values.yaml"), "replicaCount: 2\n").unwrap();
        fs::create_dir_all(lab.join("manifests")).unwrap();
        fs::write(lab.join("manifests/boot-settings.yaml"), LAB_MANIFEST).unwrap();
        let repo = common::debs::HttpServer::start(&lab.join("repo"));
        let lab = Lab { dir, edit, repo };
        lab.set_standin("");
        lab
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The repository's `demo-app` 1.2.3 replaced by `tgz`, given `values`; `extra` lines
    /// are added to the config's chart entry (`    images: add\n`) until [`Lab::set_standin`]
    /// writes the config again.
    pub(crate) fn set_chart(&self, tgz: &[u8], values: &str, extra: &str) {
        publish_chart(&self.path().join("repo"), tgz);
        fs::write(self.path().join("values.yaml"), values).unwrap();
        let path = self.path().join("seedforge.yaml");
        let config = fs::read_to_string(&path).unwrap();
        let entry = "    values: values.yaml\n";
        assert!(config.contains(entry), "{config}");
        fs::write(&path, config.replace(entry, &format!("{entry}{extra}"))).unwrap();
    }

    /// Writes the k3s stand-in with `extra` appended (a changed payload) and the config
    /// that carries it and the two bundles.
    pub(crate) fn set_standin(&self, extra: &str) {
        let standin = fs::read_to_string(common::repo_root().join("tests/boot/k3s-standin.py"))
            .unwrap()
            + extra;
        fs::write(self.path().join("k3s"), &standin).unwrap();
        let debs: Vec<String> = common::debs::fixture_debs()
            .iter()
            .map(|p| format!("\"{}\"", p.display()))
            .collect();
        let config =
            fs::read_to_string(common::repo_root().join("tests/boot/lab/seedforge.yaml")).unwrap();
        let bundle = |name: &str, package: &str| {
            format!(
                "  - name: {name}\n    packages: [{package}]\n    debs: [{}]\n    base: node-status\n",
                debs.join(", ")
            )
        };
        fs::write(
            self.path().join("seedforge.yaml"),
            format!(
                "{}\nfiles:\n  - name: bin/k3s\n    source: k3s\n    sha256: \"{}\"\n    executable: true\n\npackages:\n{}{}\ncharts:\n  - name: demo\n    repo: {}\n    chart: demo-app\n    version: 1.2.3\n    namespace: apps\n    values: values.yaml\n\nmanifests:\n  - manifests/\n",
                (self.edit)(config),
                sha256_bytes(standin.as_bytes()),
                bundle("onig", "libonig5"),
                bundle("jq", "jq"),
                self.repo.url,
            ),
        )
        .unwrap();
    }

    pub(crate) fn build(&self) {
        self.build_with(&[]);
    }

    /// `seedforge build` with `args` after the config (`--rotate-ca`).
    pub(crate) fn build_with(&self, args: &[&str]) {
        Cmd::new(common::seedforge_bin())
            .args(["build", "--config", "seedforge.yaml"])
            .args(args)
            .cwd(self.path())
            .timeout(Duration::from_secs(300))
            .run();
    }

    /// Writes the image list: the lab's, changed by `edit`.
    pub(crate) fn set_images(&self, edit: &dyn Fn(String) -> String) {
        let fixtures = common::repo_root().join("fixtures/images");
        let list = fs::read_to_string(common::repo_root().join("fixtures/lab/images.txt"))
            .unwrap()
            .replace("../images", &fixtures.display().to_string());
        fs::write(self.path().join("images.txt"), edit(list)).unwrap();
    }

    /// The k3s stand-in saying it is k3s `release` (with `extra` appended), and the config
    /// naming that release.
    pub(crate) fn set_release(&self, release: &str, extra: &str) {
        self.set_standin(&format!("# k3s-standin-version: {release}\n{extra}"));
        let path = self.path().join("seedforge.yaml");
        let config = fs::read_to_string(&path).unwrap();
        let lab = "  k3s_version: v1.33.1+k3s1\n";
        assert!(config.contains(lab), "{config}");
        fs::write(
            &path,
            config.replace(lab, &format!("  k3s_version: {release}\n")),
        )
        .unwrap();
    }

    /// An upgrade across several minors: the k3s stand-in saying it is k3s `target`, and
    /// the config naming it, the far side's release `from` (`cluster.upgrade_from`) and the
    /// hops (`cluster.upgrade_path`), each hop's stand-in (saying it is that release) given
    /// as `hops/<release>/k3s`.
    pub(crate) fn set_upgrade(&self, from: &str, hops: &[&str], target: &str) {
        self.set_release(target, "");
        let standin =
            fs::read_to_string(common::repo_root().join("tests/boot/k3s-standin.py")).unwrap();
        let mut entries = String::new();
        for (i, hop) in hops.iter().enumerate() {
            let text = format!("{standin}# k3s-standin-version: {hop}\n");
            let name = format!("k3s-hop{}", i + 1);
            fs::write(self.path().join(&name), &text).unwrap();
            entries.push_str(&format!(
                "  - name: hops/{hop}/k3s\n    source: {name}\n    sha256: \"{}\"\n    executable: true\n",
                sha256_bytes(text.as_bytes())
            ));
        }
        let path = self.path().join("seedforge.yaml");
        let config = fs::read_to_string(&path).unwrap();
        let files_end = "    executable: true\n\npackages:\n";
        let version = format!("  k3s_version: {target}\n");
        assert!(
            config.contains(files_end) && config.contains(&version),
            "{config}"
        );
        let config = config
            .replacen(
                files_end,
                &format!("    executable: true\n{entries}\npackages:\n"),
                1,
            )
            .replace(
                &version,
                &format!(
                    "{version}  upgrade_from: {from}\n  upgrade_path: [{}]\n",
                    hops.join(", ")
                ),
            );
        fs::write(&path, config).unwrap();
    }

    /// Appends `text` to the config.
    pub(crate) fn append_config(&self, text: &str) {
        let path = self.path().join("seedforge.yaml");
        let config = fs::read_to_string(&path).unwrap();
        fs::write(&path, config + text).unwrap();
    }

    /// The airgap archive the build wrote, by the name its payload carries it under (its
    /// name with the first 12 hex digits of its sha256).
    pub(crate) fn carried_archive(&self) -> String {
        let airgap = self.path().join("out/airgap");
        let archive = fs::read_dir(&airgap)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| {
                (p.file_name().unwrap().to_string_lossy()).starts_with("k3s-airgap-images-amd64.")
            })
            .unwrap_or_else(|| panic!("no amd64 archive in {}", airgap.display()));
        common::carried_name(&archive)
    }

    pub(crate) fn seed(&self, node: &str) -> PathBuf {
        self.path().join(format!("out/iso/seed-{node}.iso"))
    }

    /// A copy of `node`'s seed, kept for a later boot.
    pub(crate) fn keep_seed(&self, node: &str, name: &str) -> PathBuf {
        let to = self.path().join(name);
        fs::copy(self.seed(node), &to).unwrap();
        to
    }
}

/// The instance-id of a seed's meta-data (from the build's node files).
pub(crate) fn instance_id(lab: &Lab, node: &str) -> String {
    let meta = fs::read_to_string(lab.path().join(format!("out/nodes/{node}/meta-data"))).unwrap();
    meta.lines().next().unwrap().to_string()
}
