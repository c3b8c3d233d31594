//! Ubuntu autoinstall nodes next to cloud-init nodes: the demo with its server installed by
//! autoinstall renders both modes, pinned by golden files; cloud-init's schema check and
//! shellcheck accept what the autoinstall node carries; the late-commands, run for real
//! against a fake /target and the seed ISO the build wrote, copy and verify the payload and
//! write the marker only when it checks; every mistake in the installer config is refused
//! naming the node, the file and the line.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use crate::common;

use common::{Cmd, Lab, cloud_init, require_tool};
use serde_json::Value;
use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

const TOKEN: &str = "K10-test-token-do-not-print";
/// `openssl passwd -6 -salt seedforgetest demo`.
const PASSWORD_HASH: &str = "$6$seedforgetest$J12fuPAbiw26MKxWFyKr9DOLtdftSq..WuzqB9icuGsoanYJJ0kUllO6LJTh68ZTtYSNuMwSGnqO8QG4/XRcL/";
const KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ05tBoRROahVHU1N7SljcfotznSRRkV+5ORnYz38/N4 ops@lab";
const SERVER: &str = "lab-server1";
const AGENTS: [&str; 2] = ["lab-agent1", "lab-agent2"];
const MARKER: &str = "var/lib/iso-copy-complete";

/// The demo with `lab-server1` installed by autoinstall (login `ops`, a password hash from
/// a file and one SSH key); the agents stay cloud-init nodes.
fn lab() -> Lab {
    lab_with(&format!(
        "autoinstall:\n  username: ops\n  password: {{file: password.hash}}\n  ssh_authorized_keys:\n    - {KEY}\n"
    ))
}

/// The demo with `lab-server1` installed by autoinstall and `autoinstall_section` appended.
fn lab_with(autoinstall_section: &str) -> Lab {
    let lab = Lab::new();
    let dir = lab.lab_dir();
    fs::write(dir.join("token"), format!("{TOKEN}\n")).unwrap();
    fs::write(dir.join("password.hash"), format!("{PASSWORD_HASH}\n")).unwrap();
    let config = dir.join("seedforge.yaml");
    let text = fs::read_to_string(&config).unwrap();
    let server = format!("  - name: {SERVER}\n    role: server\n    address: 192.168.6.10/24\n");
    assert!(text.contains(&server), "the demo config changed");
    let text = text.replace(&server, &format!("{server}    install: autoinstall\n"));
    fs::write(&config, format!("{text}{autoinstall_section}")).unwrap();
    lab
}

fn render(lab: &Lab) -> Cmd {
    lab.seedforge()
        .args(["render", "--config", lab.config_arg(), "--out", "nodes"])
}

fn rendered(lab: &Lab) -> PathBuf {
    render(lab).run();
    lab.root().join("nodes")
}

fn yaml(path: &Path) -> Value {
    serde_saphyr::from_str(&fs::read_to_string(path).unwrap()).unwrap()
}

/// The script of the first late-command (`[bash, -c, SCRIPT, NAME]`).
fn late_commands_script(user_data: &Path) -> String {
    let doc = yaml(user_data);
    let command = &doc["autoinstall"]["late-commands"][0];
    assert_eq!(command[0], "bash", "{command}");
    assert_eq!(command[1], "-c", "{command}");
    command[2].as_str().unwrap().to_string()
}

fn golden_dir() -> PathBuf {
    common::repo_root().join("tests/golden/autoinstall")
}

/// The autoinstall node's files are pinned by golden files (`UPDATE_GOLDEN=1` rewrites
/// them); the cloud-init nodes next to it render exactly as in the all-cloud-init demo.
#[test]
fn autoinstall_and_cloud_init_nodes_render_side_by_side() {
    let lab = lab();
    let out = rendered(&lab);
    if std::env::var("UPDATE_GOLDEN").is_ok_and(|v| v == "1") {
        let _ = fs::remove_dir_all(golden_dir());
        common::copy_tree(&out.join(SERVER), &golden_dir().join(SERVER), &|_| false);
    }
    for file in ["user-data", "meta-data", "network-config"] {
        let got = fs::read_to_string(out.join(SERVER).join(file)).unwrap();
        let want = fs::read_to_string(golden_dir().join(SERVER).join(file))
            .unwrap_or_else(|e| panic!("golden {SERVER}/{file}: {e} (UPDATE_GOLDEN=1 writes it)"));
        assert_eq!(
            got, want,
            "{SERVER}/{file} differs from tests/golden/autoinstall"
        );
        for agent in AGENTS {
            let got = fs::read_to_string(out.join(agent).join(file)).unwrap();
            let want = fs::read_to_string(
                common::repo_root()
                    .join("tests/golden/render")
                    .join(agent)
                    .join(file),
            )
            .unwrap();
            assert_eq!(got, want, "{agent}/{file}: a cloud-init node changed");
        }
    }
    let grub = "autoinstall-grub.cfg";
    assert_eq!(
        fs::read_to_string(out.join(SERVER).join(grub)).unwrap(),
        fs::read_to_string(golden_dir().join(SERVER).join(grub)).unwrap(),
        "{SERVER}/{grub} differs from tests/golden/autoinstall"
    );
}

#[test]
fn the_installer_config_says_what_the_node_needs() {
    let lab = lab();
    let out = rendered(&lab);
    let dir = out.join(SERVER);
    let doc = yaml(&dir.join("user-data"));
    let ai = &doc["autoinstall"];
    assert_eq!(ai["version"], 1);
    assert_eq!(ai["identity"]["hostname"], SERVER);
    assert_eq!(ai["identity"]["username"], "ops");
    assert_eq!(ai["identity"]["password"], PASSWORD_HASH);
    assert_eq!(ai["ssh"]["install-server"], true);
    assert_eq!(ai["ssh"]["allow-pw"], false);
    assert_eq!(ai["ssh"]["authorized-keys"][0], KEY);
    assert_eq!(ai["storage"]["layout"]["name"], "lvm");
    // The same facts as the seed's network-config, nameservers as a block sequence.
    assert_eq!(ai["network"], yaml(&dir.join("network-config")));
    assert_eq!(
        ai["network"]["ethernets"]["eth0"]["nameservers"]["addresses"][0],
        "192.168.6.1"
    );
    let text = fs::read_to_string(dir.join("user-data")).unwrap();
    assert!(
        text.contains(
            "        nameservers:\n          addresses:\n            - \"192.168.6.1\"\n"
        )
    );
    // First boot: the cloud-init node's bootstrap, unit enabled once, markers.
    let first_boot = &ai["user-data"];
    let files: Vec<&str> = first_boot["write_files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert!(
        files.contains(&"/usr/local/sbin/seedforge-bootstrap"),
        "{files:?}"
    );
    assert!(files.contains(&"/etc/rancher/k3s/config.yaml"), "{files:?}");
    assert_eq!(first_boot["hostname"], SERVER);
    assert!(
        first_boot.get("users").is_none(),
        "identity creates the login"
    );
    let bootstrap = first_boot["write_files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == "/usr/local/sbin/seedforge-bootstrap")
        .unwrap()["content"]
        .as_str()
        .unwrap();
    assert!(
        bootstrap.contains("no seed attached: using the payload installed in $PAYLOAD"),
        "the bootstrap takes the payload the installer put in place"
    );
    // Private, and the token only where k3s reads it.
    let mode = fs::metadata(dir.join("user-data"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    assert_eq!(text.matches(TOKEN).count(), 1);
    assert!(!late_commands_script(&dir.join("user-data")).contains(TOKEN));
    for other in ["meta-data", "network-config"] {
        let t = fs::read_to_string(dir.join(other)).unwrap();
        assert!(!t.contains(TOKEN) && !t.contains(PASSWORD_HASH), "{other}");
    }
    let meta = yaml(&dir.join("meta-data"));
    assert!(
        meta["instance-id"]
            .as_str()
            .unwrap()
            .starts_with("iid-seedforge-")
    );
    assert_eq!(meta["local-hostname"], SERVER);
}

/// Writes `doc` (a cloud-config mapping) to `path` as a `#cloud-config` file.
fn write_cloud_config(path: &Path, doc: &Value) {
    let text = serde_json::to_string_pretty(doc).unwrap();
    // JSON is YAML: cloud-init reads it as the same mapping.
    fs::write(path, format!("#cloud-config\n{text}\n")).unwrap();
}

/// cloud-init's schema check of the autoinstall user-data looks into `autoinstall:` only
/// for `version`; the first-boot config nested in it is checked as a cloud-config of its
/// own, since that is what the installed system's cloud-init reads.
#[test]
fn cloud_init_accepts_the_installer_config_and_the_first_boot_config() {
    if !require_tool("cloud-init") {
        return;
    }
    let lab = lab();
    let out = rendered(&lab);
    let user_data = out.join(SERVER).join("user-data");
    let first_boot = lab.root().join("first-boot.yaml");
    write_cloud_config(&first_boot, &yaml(&user_data)["autoinstall"]["user-data"]);
    // The judge can fail: a version that is not an integer is refused.
    let bad = lab.root().join("bad-version.yaml");
    let text = fs::read_to_string(&user_data).unwrap();
    fs::write(&bad, text.replacen("  version: 1\n", "  version: one\n", 1)).unwrap();
    let verdicts = cloud_init::schema(&[&user_data, &first_boot, &bad]);
    for (file, verdict) in [&user_data, &first_boot].iter().zip(&verdicts) {
        assert!(verdict.valid(), "{}: {}", file.display(), verdict.output);
    }
    assert_ne!(verdicts[2].code, 0, "{}", verdicts[2].output);
}

#[test]
fn shellcheck_finds_nothing_in_the_late_commands_and_the_bootstrap() {
    if !require_tool("shellcheck") {
        return;
    }
    let lab = lab();
    let out = rendered(&lab);
    let user_data = out.join(SERVER).join("user-data");
    let mut scripts = vec![(
        "late-commands".to_string(),
        late_commands_script(&user_data),
    )];
    for f in yaml(&user_data)["autoinstall"]["user-data"]["write_files"]
        .as_array()
        .unwrap()
    {
        let content = f["content"].as_str().unwrap();
        if content.starts_with("#!") {
            scripts.push((f["path"].as_str().unwrap().to_string(), content.to_string()));
        }
    }
    assert_eq!(
        scripts.len(),
        3,
        "the late-commands, the bootstrap and its upgrade's file"
    );
    for (name, content) in scripts {
        let file = lab.root().join("script.sh");
        fs::write(&file, content).unwrap();
        let o = Cmd::new("shellcheck")
            .args(["-s", "bash"])
            .arg(&file)
            .any_status()
            .run();
        assert_eq!(o.code, Some(0), "{name}:\n{}", o.stdout);
    }
}

#[test]
fn without_a_password_the_login_is_locked_and_takes_ssh_keys() {
    let lab = lab_with(&format!(
        "autoinstall:\n  ssh_authorized_keys:\n    - {KEY}\n  storage_layout: direct\n"
    ));
    let out = rendered(&lab);
    let user_data = out.join(SERVER).join("user-data");
    let ai = &yaml(&user_data)["autoinstall"];
    assert!(ai.get("identity").is_none(), "{ai}");
    assert_eq!(ai["storage"]["layout"]["name"], "direct");
    assert_eq!(ai["ssh"]["allow-pw"], false);
    let user = &ai["user-data"]["users"][0];
    assert_eq!(user["name"], "ubuntu", "the default login");
    assert_eq!(user["lock_passwd"], true);
    assert_eq!(user["ssh_authorized_keys"][0], KEY);
    assert!(user.get("passwd").is_none());
    if require_tool("cloud-init") {
        let first_boot = lab.root().join("first-boot.yaml");
        write_cloud_config(&first_boot, &ai["user-data"]);
        cloud_init::assert_valid(&[&user_data, &first_boot]);
    }
}

/// Renders expecting exit 2; returns stderr and checks nothing was written or leaked.
fn refused(lab: &Lab) -> String {
    let out = render(lab).expect(2).run();
    assert!(!lab.root().join("nodes").exists(), "nothing may be written");
    for secret in [TOKEN, PASSWORD_HASH, "hunter2"] {
        assert!(
            !out.stderr.contains(secret),
            "a secret leaked: {}",
            out.stderr
        );
    }
    out.stderr
}

#[test]
fn a_plaintext_password_is_refused_without_being_printed() {
    let lab = lab();
    fs::write(lab.lab_dir().join("password.hash"), "hunter2\n").unwrap();
    let e = refused(&lab);
    assert!(
        e.contains("seedforge.yaml: secret autoinstall.password"),
        "{e}"
    );
    assert!(e.contains("not a crypt(3) password hash"), "{e}");
}

/// The 1-based line of the config that starts with `prefix`.
fn config_line(lab: &Lab, prefix: &str) -> usize {
    let text = fs::read_to_string(lab.lab_dir().join("seedforge.yaml")).unwrap();
    text.lines().position(|l| l.starts_with(prefix)).unwrap() + 1
}

#[test]
fn config_mistakes_name_their_line() {
    // Neither a password nor a key: no one could log in.
    let lab = lab_with("autoinstall:\n  username: ops\n");
    let e = refused(&lab);
    let line = config_line(&lab, &format!("  - name: {SERVER}"));
    assert!(e.contains(&format!("seedforge.yaml:{line}:")), "{e}");
    assert!(e.contains("no one could log in"), "{e}");
    for (section, what) in [
        ("  storage_layout: btrfs\n", "btrfs"),
        ("  username: Root\n", "not a valid user name"),
        ("  passwd: {file: password.hash}\n", "passwd"),
        (
            "  ssh_authorized_keys: [\"hunter2\"]\n",
            "OpenSSH public key",
        ),
    ] {
        let lab = lab_with(&format!(
            "autoinstall:\n  password: {{file: password.hash}}\n{section}"
        ));
        let e = refused(&lab);
        let line = config_line(&lab, section.split(':').next().unwrap());
        assert!(
            e.contains(&format!("seedforge.yaml:{line}:")),
            "{section}: {e}"
        );
        assert!(e.contains(what), "{section}: {e}");
    }
    let kickstart = self::lab();
    let config = kickstart.lab_dir().join("seedforge.yaml");
    let text = fs::read_to_string(&config).unwrap();
    fs::write(
        &config,
        text.replace("install: autoinstall", "install: kickstart"),
    )
    .unwrap();
    let e = refused(&kickstart);
    let line = config_line(&kickstart, "    install: kickstart");
    assert!(
        e.contains(&format!("seedforge.yaml:{line}:")) && e.contains("kickstart"),
        "{e}"
    );
}

/// Points the config at a `templates` folder holding the embedded template `file`
/// (`autoinstall/user-data.tera`, `user-data.tera`…) passed through `edit`.
fn override_template(lab: &Lab, file: &str, edit: &dyn Fn(String) -> String) {
    let repo_file = if file.contains('/') {
        common::repo_root().join("templates").join(file)
    } else {
        common::repo_root().join("templates/cloud-init").join(file)
    };
    let to = lab.lab_dir().join("templates").join(file);
    fs::create_dir_all(to.parent().unwrap()).unwrap();
    let original = fs::read_to_string(repo_file).unwrap();
    let edited = edit(original.clone());
    assert_ne!(edited, original, "the edit changed nothing");
    fs::write(to, edited).unwrap();
    let config = lab.lab_dir().join("seedforge.yaml");
    let text = fs::read_to_string(&config).unwrap();
    if !text.contains("\ntemplates: templates\n") {
        fs::write(&config, format!("{text}templates: templates\n")).unwrap();
    }
}

/// The 1-based line of the default autoinstall user-data that starts with `prefix`.
fn user_data_line(prefix: &str) -> usize {
    let lab = lab();
    let text = fs::read_to_string(rendered(&lab).join(SERVER).join("user-data")).unwrap();
    text.lines()
        .position(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no line starts with {prefix:?}"))
        + 1
}

fn refused_with(file: &str, edit: &dyn Fn(String) -> String) -> String {
    let lab = lab();
    override_template(&lab, file, edit);
    refused(&lab)
}

#[test]
fn an_unknown_autoinstall_key_is_named_with_its_line() {
    let line = user_data_line("  storage:");
    let e = refused_with("autoinstall/user-data.tera", &|t| {
        t.replace("  storage:\n", "  storag:\n")
    });
    assert!(
        e.contains(&format!(
            "node {SERVER}: user-data:{line}: unknown autoinstall key `storag`"
        )),
        "{e}"
    );
}

#[test]
fn the_version_must_be_1() {
    let line = user_data_line("  version: 1");
    let e = refused_with("autoinstall/user-data.tera", &|t| {
        t.replace("  version: 1\n", "  version: 2\n")
    });
    assert!(
        e.contains(&format!(
            "node {SERVER}: user-data:{line}: autoinstall `version` must be 1"
        )),
        "{e}"
    );
    let e = refused_with("autoinstall/user-data.tera", &|t| {
        t.replace("  version: 1\n", "")
    });
    // cloud-init's own schema of the installer config requires it.
    assert!(
        e.contains("`autoinstall`: missing properties 'version'"),
        "{e}"
    );
}

#[test]
fn an_installer_config_without_identity_or_user_data_is_refused() {
    let e = refused_with("autoinstall/user-data.tera", &|_| {
        "#cloud-config\nautoinstall:\n  version: 1\n  storage:\n    layout:\n      name: lvm\n"
            .to_string()
    });
    assert!(
        e.contains(&format!(
            "node {SERVER}: user-data:2: autoinstall needs an `identity` or a `user-data`"
        )),
        "{e}"
    );
    let e = refused_with("autoinstall/user-data.tera", &|t| {
        t.replacen("autoinstall:\n", "installer:\n", 1)
    });
    assert!(e.contains("unknown cloud-config key `installer`"), "{e}");
    let e = refused_with("autoinstall/user-data.tera", &|_| {
        "#cloud-config\nhostname: \"{{ node.name }}\"\n".to_string()
    });
    assert!(e.contains("needs an `autoinstall:` mapping"), "{e}");
}

#[test]
fn a_syntax_error_in_the_late_commands_points_into_user_data() {
    let e = refused_with("autoinstall/late-commands.sh.tera", &|t| {
        t.replacen("  fi\n", "\n", 1)
    });
    assert!(
        e.contains(&format!("node {SERVER}: user-data:"))
            && e.contains("autoinstall `late-commands` item 1: bash -n"),
        "{e}"
    );
}

#[test]
fn the_first_boot_config_is_checked_like_any_user_data() {
    // The unit the bootstrap runs from must still be enabled exactly once on first boot.
    let e = refused_with("user-data.tera", &|t| {
        t.replace(
            "  - [systemctl, enable, --now, --no-block, seedforge-bootstrap.service]\n",
            "",
        )
    });
    assert!(
        e.contains(&format!("node {SERVER}: user-data:"))
            && e.contains("seedforge-bootstrap.service is written but never enabled"),
        "{e}"
    );
    let line = user_data_line("    manage_etc_hosts: true");
    let e = refused_with("user-data.tera", &|t| {
        t.replace("manage_etc_hosts: true", "manage_etc_host: true")
    });
    assert!(
        e.contains(&format!(
            "node {SERVER}: user-data:{line}: unknown cloud-config key `autoinstall.user-data.manage_etc_host`"
        )),
        "{e}"
    );
}

#[test]
fn an_undefined_variable_in_an_autoinstall_template_is_named_with_its_line() {
    let e = refused_with("autoinstall/user-data.tera", &|t| {
        t.replace("{{ install.storage_layout }}", "{{ install.layout }}")
    });
    let line = fs::read_to_string(common::repo_root().join("templates/autoinstall/user-data.tera"))
        .unwrap()
        .lines()
        .position(|l| l.contains("install.storage_layout"))
        .unwrap()
        + 1;
    assert!(
        e.contains(&format!("autoinstall/user-data.tera:{line}:")) && e.contains("install.layout"),
        "{e}"
    );
}

/// Builds the lab and extracts `seed-lab-server1.iso` into a folder: what the installer
/// would find on the mounted seed. Returns (lab, seed folder).
fn built_seed() -> Option<(Lab, PathBuf)> {
    if !require_tool("osirrox") || !require_tool("sha256sum") {
        return None;
    }
    let lab = lab();
    lab.build();
    let iso = lab.out_dir().join("iso").join(format!("seed-{SERVER}.iso"));
    let seed = lab.root().join("seed");
    Cmd::new("osirrox")
        .arg("-indev")
        .arg(&iso)
        .args(["-extract", "/"])
        .arg(&seed)
        .run();
    Some((lab, seed))
}

/// Runs the late-commands exactly as the installer does (`bash -c SCRIPT NAME`), with the
/// target and the seed mount point pointed into the test's folder.
fn run_late_commands(script: &str, target: &Path, env: &[(&str, &Path)]) -> common::Output {
    let mut cmd = Cmd::new("bash")
        .args(["-c", script, "seedforge-late-commands"])
        .env("SEEDFORGE_TARGET", target.to_str().unwrap())
        .any_status();
    for (k, v) in env {
        cmd = cmd.env(k, v.to_str().unwrap());
    }
    cmd.run()
}

#[test]
fn the_build_writes_the_seed_and_the_late_commands_install_its_payload() {
    let Some((lab, seed)) = built_seed() else {
        return;
    };
    // The seed holds the node's rendered files and the payload, for every node.
    for node in [SERVER, AGENTS[0], AGENTS[1]] {
        assert!(
            lab.out_dir()
                .join("iso")
                .join(format!("seed-{node}.iso"))
                .is_file()
        );
    }
    for file in ["user-data", "meta-data", "network-config"] {
        assert_eq!(
            fs::read(seed.join(file)).unwrap(),
            fs::read(lab.out_dir().join("nodes").join(SERVER).join(file)).unwrap(),
            "{file}"
        );
    }
    let script = late_commands_script(&seed.join("user-data"));
    let target = lab.root().join("target");
    fs::create_dir_all(&target).unwrap();
    let o = run_late_commands(&script, &target, &[("SEEDFORGE_SEED_MOUNT", &seed)]);
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    assert!(target.join(MARKER).is_file(), "{}", o.stderr);
    let payload = target.join("usr/local/seed/payload");
    common::assert_same_tree(
        &common::snapshot(&seed.join("payload")),
        &common::snapshot(&payload),
        "the payload copied into /target",
    );
    Cmd::new("sha256sum")
        .args(["--quiet", "--strict", "-c", "SHA256SUMS"])
        .cwd(&payload)
        .run();
    assert!(!target.join("usr/local/seed/.payload.partial").exists());

    // A file the payload's SHA256SUMS does not list, added on the way: the install fails
    // naming it, with no marker and no payload under its final name on a fresh target.
    let extra = seed.join("payload/packages/extra.tar.gz");
    fs::create_dir_all(extra.parent().unwrap()).unwrap();
    fs::write(&extra, "not listed").unwrap();
    let added = lab.root().join("added-target");
    fs::create_dir_all(&added).unwrap();
    let o = run_late_commands(&script, &added, &[("SEEDFORGE_SEED_MOUNT", &seed)]);
    assert_eq!(o.code, Some(1), "{}", o.stderr);
    assert!(
        o.stderr
            .contains("holds what its SHA256SUMS does not list: packages/extra.tar.gz"),
        "{}",
        o.stderr
    );
    assert!(!added.join(MARKER).exists());
    assert!(!added.join("usr/local/seed/payload").exists());
    fs::remove_file(&extra).unwrap();

    // One flipped byte: the install fails loudly, and the earlier marker is gone too.
    common::flip_byte(&seed.join("payload/registries.yaml"), 3);
    let o = run_late_commands(&script, &target, &[("SEEDFORGE_SEED_MOUNT", &seed)]);
    assert_eq!(o.code, Some(1), "{}", o.stderr);
    assert!(
        o.stderr.contains("payload checksum mismatch"),
        "{}",
        o.stderr
    );
    assert!(
        !target.join(MARKER).exists(),
        "a failed copy must leave no marker"
    );
    assert!(!target.join("usr/local/seed/.payload.partial").exists());
    let fresh = lab.root().join("fresh-target");
    fs::create_dir_all(&fresh).unwrap();
    let o = run_late_commands(&script, &fresh, &[("SEEDFORGE_SEED_MOUNT", &seed)]);
    assert_eq!(o.code, Some(1), "{}", o.stderr);
    assert!(!fresh.join(MARKER).exists());
    assert!(
        !fresh.join("usr/local/seed/payload").exists(),
        "a damaged payload never sits under its final name"
    );

    // No installed system mounted: nothing to do but fail.
    let o = run_late_commands(&script, &lab.root().join("missing"), &[]);
    assert_eq!(o.code, Some(1));
    assert!(o.stderr.contains("not mounted"), "{}", o.stderr);
}

/// True when this process may loop-mount a file system image (root with loop devices).
fn can_loop_mount(dir: &Path) -> bool {
    let uid = Cmd::new("id").arg("-u").run().stdout;
    if uid.trim() != "0" || !require_tool("mkfs.ext4") {
        eprintln!("SKIP: loop mounts need root");
        return false;
    }
    let (img, mnt) = (dir.join("probe.img"), dir.join("probe"));
    fs::create_dir_all(&mnt).unwrap();
    Cmd::new("mkfs.ext4").args(["-q"]).arg(&img).arg("4M").run();
    let ok = Cmd::new("mount")
        .args(["-o", "ro"])
        .arg(&img)
        .arg(&mnt)
        .any_status()
        .run()
        .code
        == Some(0);
    if ok {
        Cmd::new("umount").arg(&mnt).run();
    } else {
        eprintln!("SKIP: this machine cannot loop-mount an image");
    }
    ok
}

/// The late-commands mount the seed device themselves (here an ext4 image labelled cidata
/// holding the seed's tree), copy, verify, mark and unmount.
#[test]
fn the_late_commands_mount_the_seed_device_themselves() {
    let Some((lab, seed)) = built_seed() else {
        return;
    };
    if !can_loop_mount(lab.root()) {
        return;
    }
    let img = lab.root().join("seed.img");
    Cmd::new("mkfs.ext4")
        .args(["-q", "-L", "cidata", "-d"])
        .arg(&seed)
        .arg(&img)
        .arg("64M")
        .run();
    let (target, mnt) = (lab.root().join("target"), lab.root().join("mnt"));
    fs::create_dir_all(&target).unwrap();
    let script = late_commands_script(&seed.join("user-data"));
    let o = run_late_commands(
        &script,
        &target,
        &[
            ("SEEDFORGE_SEED_DEVICE", &img),
            ("SEEDFORGE_SEED_MOUNT", &mnt),
        ],
    );
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    assert!(target.join(MARKER).is_file());
    assert!(!common::is_mount_point(&mnt), "the seed stays mounted");
    common::assert_same_tree(
        &common::snapshot(&seed.join("payload")),
        &common::snapshot(&target.join("usr/local/seed/payload")),
        "the payload copied from the mounted seed",
    );
}

/// `plan` and `render` name the installer's confirmation prompt for the autoinstall node
/// and what removes it; `render` writes the GRUB entry that boots the installer with
/// `autoinstall` on its kernel command line (the cloud-init agents get none).
#[test]
fn plan_and_render_name_the_installers_prompt_and_the_kernel_argument() {
    let lab = lab();
    let plan = lab
        .seedforge()
        .args(["plan", "--config", lab.config_arg()])
        .run();
    let note = format!("note: node {SERVER} is installed by autoinstall");
    for (what, out) in [
        ("plan", &plan.stdout),
        ("render", &render(&lab).run().stdout),
    ] {
        let line = (out.lines())
            .find(|l| l.starts_with(&note))
            .unwrap_or_else(|| panic!("{what} says nothing of the installer's prompt:\n{out}"));
        assert!(
            line.contains("\"Continue with autoinstall? (yes|no)\""),
            "{what}: {line}"
        );
        assert!(
            line.contains("`autoinstall` is on its kernel command line"),
            "{what}: {line}"
        );
        for agent in AGENTS {
            assert!(
                !out.contains(&format!("node {agent} is installed by")),
                "{what}:\n{out}"
            );
        }
    }
    let grub = fs::read_to_string(
        lab.root()
            .join("nodes")
            .join(SERVER)
            .join("autoinstall-grub.cfg"),
    )
    .unwrap();
    assert!(
        grub.contains(&format!(
            "menuentry \"Install {SERVER} (autoinstall)\" {{\n"
        )),
        "{grub}"
    );
    assert!(
        grub.contains("\tlinux\t/casper/vmlinuz autoinstall ---\n"),
        "{grub}"
    );
    assert!(grub.contains("\tinitrd\t/casper/initrd\n"), "{grub}");
    for agent in AGENTS {
        assert!(
            !lab.root()
                .join("nodes")
                .join(agent)
                .join("autoinstall-grub.cfg")
                .exists()
        );
    }
}

/// Ubuntu's installer's own schema of the `autoinstall:` section (Subiquity's
/// `autoinstall-schema.json`, read in place from the shared test data, never copied), as
/// the installer applies it: the section validated against the schema, and no top-level
/// key the schema does not name (the installer refuses those too).
const SUBIQUITY_CHECK: &str = r#"
import json, sys
import jsonschema
schema = json.load(open(sys.argv[1]))
doc = json.load(open(sys.argv[2]))
errors = ["%s: %s" % ("/".join(str(p) for p in e.absolute_path) or "(top)", e.message)
          for e in jsonschema.validators.validator_for(schema)(schema).iter_errors(doc)]
errors += ["%s: not a key of the installer's config" % k for k in doc if k not in schema["properties"]]
print("\n".join(errors))
sys.exit(1 if errors else 0)
"#;

/// The installer's schema, where the shared test data keeps it (`$SEEDFORGE_AUTOINSTALL_SCHEMA`
/// or `shared/subiquity/autoinstall-schema.json` beside the repository or its parent).
fn subiquity_schema() -> Option<PathBuf> {
    let root = common::repo_root();
    let candidates = [
        std::env::var_os("SEEDFORGE_AUTOINSTALL_SCHEMA").map(PathBuf::from),
        Some(root.join("../shared/subiquity/autoinstall-schema.json")),
        Some(root.join("../../shared/subiquity/autoinstall-schema.json")),
    ];
    let found = candidates.into_iter().flatten().find(|p| p.is_file());
    if found.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "the installer's autoinstall-schema.json is not in ../shared/subiquity"
        );
        eprintln!("SKIP: no shared/subiquity/autoinstall-schema.json beside the repository");
    }
    found
}

/// The installer's verdict on `section` (its errors; empty: valid).
fn subiquity_verdict(python: &Path, schema: &Path, section: &Value, dir: &Path) -> String {
    let doc = dir.join("autoinstall.json");
    fs::write(&doc, serde_json::to_vec(section).unwrap()).unwrap();
    let out = Cmd::new(python)
        .args(["-c", SUBIQUITY_CHECK])
        .arg(schema)
        .arg(&doc)
        .any_status()
        .run();
    match out.code {
        Some(0) => String::new(),
        Some(1) if !out.stdout.trim().is_empty() => out.stdout,
        _ => panic!("the schema check did not run: {}{}", out.stdout, out.stderr),
    }
}

/// The rendered `autoinstall:` section passes the installer's schema, with and without a
/// password (a locked login), and a planted unknown key fails it (one inside `identity`,
/// one at the top).
#[test]
fn the_autoinstall_section_passes_the_installers_own_schema() {
    let Some(schema) = subiquity_schema() else {
        return;
    };
    let Some(python) = common::json_schema::judges_python(
        "import jsonschema",
        "python's jsonschema",
        "the autoinstall section is not judged by the installer's schema",
    ) else {
        return;
    };
    for lab in [
        lab(),
        lab_with(&format!(
            "autoinstall:\n  ssh_authorized_keys:\n    - {KEY}\n"
        )),
    ] {
        let out = rendered(&lab);
        let section = yaml(&out.join(SERVER).join("user-data"))["autoinstall"].clone();
        let verdict = subiquity_verdict(&python, &schema, &section, lab.root());
        assert!(
            verdict.is_empty(),
            "the installer's schema refuses it:\n{verdict}"
        );
        let mut planted = section.clone();
        planted["identity"]["hostnmae"] = Value::from(SERVER);
        let verdict = subiquity_verdict(&python, &schema, &planted, lab.root());
        assert!(
            verdict.contains("hostnmae"),
            "a planted identity.hostnmae passed:\n{verdict}"
        );
        let mut planted = section;
        planted["storage_layout"] = Value::from("lvm");
        let verdict = subiquity_verdict(&python, &schema, &planted, lab.root());
        assert!(
            verdict.contains("storage_layout: not a key"),
            "a planted key passed:\n{verdict}"
        );
    }
}
