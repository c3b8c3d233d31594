//! The lab fixture: a private copy of `fixtures/lab` and `fixtures/images` per test, the
//! commands that build it, and reading and writing image lists.

use super::{Cmd, Output, copy_tree, repo_root};
use std::fs;
use std::path::{Path, PathBuf};

/// A private copy of the fixtures in a temporary directory, laid out as in the repository
/// (`fixtures/lab`, `fixtures/images`) so relative paths in the lab config keep working and
/// nothing is written into the repository.
pub struct Lab {
    /// Deleted when the lab is dropped.
    pub tmp: tempfile::TempDir,
}

impl Lab {
    /// Copies the fixtures (without any `out/` left in the repository by a manual build).
    pub fn new() -> Lab {
        let tmp = tempfile::Builder::new()
            .prefix("seedforge-test-")
            .tempdir()
            .expect("tempdir");
        let src = repo_root().join("fixtures");
        for sub in ["lab", "images"] {
            copy_tree(
                &src.join(sub),
                &tmp.path().join("fixtures").join(sub),
                &|p| sub == "lab" && p.file_name().is_some_and(|n| n == "out"),
            );
        }
        Lab { tmp }
    }

    /// The temporary root (commands run here).
    pub fn root(&self) -> &Path {
        self.tmp.path()
    }

    /// `fixtures/lab` inside the copy.
    pub fn lab_dir(&self) -> PathBuf {
        self.root().join("fixtures/lab")
    }

    /// The lab config (relative to [`Lab::root`]).
    pub fn config_arg(&self) -> &'static str {
        "fixtures/lab/seedforge.yaml"
    }

    /// The default build output directory of the lab config.
    pub fn out_dir(&self) -> PathBuf {
        self.lab_dir().join("out")
    }

    /// The default build's amd64 airgap archive as the payload carries it:
    /// `images/k3s-airgap-images-amd64-<first 12 hex digits of its sha256>.tar.zst`.
    pub fn carried_archive(&self) -> String {
        let archive = self
            .out_dir()
            .join("airgap/k3s-airgap-images-amd64.tar.zst");
        format!("images/{}", carried_name(&archive))
    }

    /// The layout of the default build output.
    pub fn out_layout(&self) -> PathBuf {
        self.out_dir().join("oci")
    }

    /// `seedforge` with the lab root as working directory.
    pub fn seedforge(&self) -> Cmd {
        Cmd::seedforge().cwd(self.root())
    }

    /// A copy of the lab's `fixtures/` (config folder and output as they stand) under
    /// `ROOT/name/fixtures`, as a far side holds them; returns `ROOT/name`.
    pub fn far_copy(&self, name: &str) -> PathBuf {
        let far = self.root().join(name);
        super::copy_tree(
            &self.root().join("fixtures"),
            &far.join("fixtures"),
            &|_| false,
        );
        far
    }

    /// A signed crossing's start: an Ed25519 seal key made by openssl beside the config
    /// (`seal.key`, `seal.pub`, named in the config), the output built and its receipt
    /// written to `r.json`, and a far side copied as `far` without the private key;
    /// returns the far side's root.
    pub fn signed_far_side(&self) -> PathBuf {
        let dir = self.lab_dir();
        Cmd::new("openssl")
            .args(["genpkey", "-algorithm", "ed25519", "-out", "seal.key"])
            .cwd(&dir)
            .run();
        Cmd::new("openssl")
            .args(["pkey", "-in", "seal.key", "-pubout", "-out", "seal.pub"])
            .cwd(&dir)
            .run();
        let config = dir.join("seedforge.yaml");
        let text = fs::read_to_string(&config).unwrap();
        fs::write(
            &config,
            format!("{text}\nseal:\n  key: seal.key\n  public_key: seal.pub\n"),
        )
        .unwrap();
        self.build();
        self.receipt("r.json").run();
        let far = self.far_copy("far");
        fs::remove_file(far.join("fixtures/lab/seal.key")).unwrap();
        far
    }

    /// `seedforge receipt` of the default build output, written to `to`.
    pub fn receipt(&self, to: &str) -> Cmd {
        (self.seedforge()).args(["receipt", "fixtures/lab/out", "-o", to])
    }

    /// `seedforge delta` of the default build output since the receipt `since`, into `to`.
    pub fn delta(&self, since: &str, to: &str) -> Cmd {
        (self.seedforge()).args(["delta", "fixtures/lab/out", "--since", since, "-o", to])
    }

    /// Runs `seedforge build --config fixtures/lab/seedforge.yaml` and checks it succeeds.
    pub fn build(&self) -> Output {
        self.seedforge()
            .args(["build", "--config", self.config_arg()])
            .run()
    }

    /// Points the lab's pause image at `docker://HOST/rancher/mirrored-pause:3.6` and
    /// lists HOST in the config's `registries:` as plain HTTP.
    pub fn pull_pause_from(&self, host: &str) {
        let dir = self.lab_dir();
        let list = dir.join("images.txt");
        let text = std::fs::read_to_string(&list).unwrap().replace(
            "oci:../images/oci:mirrored-pause:3.6 ",
            &format!("docker://{host}/rancher/mirrored-pause:3.6 "),
        );
        std::fs::write(&list, text).unwrap();
        let config = dir.join("seedforge.yaml");
        let text = std::fs::read_to_string(&config).unwrap().replace(
            "\nimages:\n",
            &format!("\nregistries:\n  - host: \"{host}\"\n    insecure: true\n\nimages:\n"),
        );
        std::fs::write(&config, text).unwrap();
    }

    /// The destinations listed in the lab's images.txt, in order.
    pub fn lab_destinations(&self) -> Vec<String> {
        list_lines(&self.lab_dir().join("images.txt"))
            .into_iter()
            .map(|(_, fields)| fields[1].clone())
            .collect()
    }
}

/// The name a payload carries the airgap archive at `path` under: its file name with `-`
/// and the first 12 hex digits of its sha256 before the suffixes
/// (`k3s-airgap-images-amd64-0123456789ab.tar.zst`).
pub fn carried_name(path: &Path) -> String {
    let sha = super::sha256_file(path);
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    let (stem, suffixes) = name.split_at(name.find('.').unwrap_or(name.len()));
    format!("{stem}-{}{suffixes}", &sha[..12])
}

/// The non-comment lines of an image list: (1-based line number, fields).
pub fn list_lines(path: &Path) -> Vec<(usize, Vec<String>)> {
    let text = fs::read_to_string(path).unwrap();
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .map(|(i, l)| (i + 1, l.split_whitespace().map(str::to_string).collect()))
        .collect()
}

/// Writes an image list file with `lines`.
pub fn write_list(path: &Path, lines: &[String]) {
    let mut text = String::from("# written by an integration test\n");
    for l in lines {
        text.push_str(l);
        text.push('\n');
    }
    fs::write(path, text).unwrap();
}

/// Whether a network namespace with nothing but loopback can be made here (`unshare -n`):
/// where the far side of the gap, and the judges checking offline, run.
pub fn network_namespace_usable() -> bool {
    Cmd::new("unshare")
        .args(["-n", "true"])
        .any_status()
        .run()
        .code
        == Some(0)
}

/// `seedforge` run in `cwd` as the far side of the gap runs it: with no network, in a
/// namespace with nothing but loopback, where one can be made (else with a note).
pub fn far_side(cwd: &Path) -> Cmd {
    let isolated = super::network_namespace_usable();
    if isolated {
        Cmd::new("unshare")
            .args(["-n", "--"])
            .arg(super::seedforge_bin())
            .cwd(cwd)
    } else {
        eprintln!("note: no network namespace here; the far side runs with the network");
        Cmd::seedforge().cwd(cwd)
    }
}

/// A stand-in k3s binary that names `release` once (as the real one does) and `salt`.
pub fn k3s_binary(release: &str, salt: &str) -> Vec<u8> {
    let mut b = b"\x7fELF\x02\x01\x01".to_vec();
    b.extend(std::iter::repeat_n(0u8, 50_000));
    b.extend_from_slice(format!("go1.24.2{release}github.com/k3s-io/k3s").as_bytes());
    b.extend(std::iter::repeat_n(0u8, 1_000));
    b.extend_from_slice(salt.as_bytes());
    b
}

/// The hop of [`hop_upgrade`]: a release whose table row names its components only.
pub const HOP: &str = "v1.32.10+k3s1";

/// The images [`HOP`] needs that the lab's list does not hold (its components' tags), as
/// `SOURCE DESTINATION` lines: the lab's fixtures under the hop's names.
pub const HOP_IMAGES: [&str; 4] = [
    "oci:../images/oci:mirrored-coredns-coredns:1.12.1 docker.io/rancher/mirrored-coredns-coredns:1.13.1",
    "oci-archive:../images/traefik.oci.tar docker.io/rancher/mirrored-library-traefik:3.5.1",
    "oci:../images/oci:mirrored-metrics-server:v0.7.2 docker.io/rancher/mirrored-metrics-server:v0.8.0",
    "oci:../images/oci:local-path-provisioner:v0.0.31 docker.io/rancher/local-path-provisioner:v0.0.32",
];

/// The lab as an upgrade from v1.31.4+k3s1 through [`HOP`] (`cluster.upgrade_path`): the
/// hop's images added to the list and its k3s binary (`binary_release` its own) a `files:`
/// entry `hops/<HOP>/k3s`.
pub fn hop_upgrade(lab: &Lab, binary_release: &str) {
    hop_upgrade_in(
        &lab.lab_dir(),
        ("v1.31.4+k3s1", HOP, binary_release),
        &HOP_IMAGES,
    );
}

/// The lab config in `dir` as an upgrade from `from` through `hop` (its binary naming
/// `binary_release`), with the hop's `images` (`SOURCE DESTINATION` lines) added to its list.
pub fn hop_upgrade_in(
    dir: &Path,
    (from, hop, binary_release): (&str, &str, &str),
    images: &[&str],
) {
    let config = fs::read_to_string(dir.join("seedforge.yaml")).unwrap();
    let binary = k3s_binary(binary_release, "hop");
    fs::write(dir.join("k3s-hop"), &binary).unwrap();
    let entry = format!(
        "  - name: hops/{hop}/k3s\n    source: k3s-hop\n    sha256: \"{}\"\n    executable: true\n",
        super::sha256_bytes(&binary)
    );
    let config = config.replace(
        "  token: {file: token}\n",
        &format!("  upgrade_from: {from}\n  upgrade_path: [{hop}]\n  token: {{file: token}}\n"),
    );
    let config = match config.contains("\nfiles:\n") {
        true => config.replace("\nfiles:\n", &format!("\nfiles:\n{entry}")),
        false => config + "files:\n" + &entry,
    };
    fs::write(dir.join("seedforge.yaml"), config).unwrap();
    let mut list = fs::read_to_string(dir.join("images.txt")).unwrap();
    for line in images {
        list.push_str(line);
        list.push('\n');
    }
    fs::write(dir.join("images.txt"), list).unwrap();
}

/// `git` run in `dir` as a person on the near side would, with an identity of its own;
/// its standard output, trimmed.
pub fn git(dir: &Path, args: &[&str]) -> String {
    Cmd::new("git")
        .args([
            "-c",
            "user.name=Near Side",
            "-c",
            "user.email=near@example.invalid",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .cwd(dir)
        .run()
        .stdout
        .trim()
        .to_string()
}
