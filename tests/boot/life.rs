//! A node's whole life: join, damaged and sound seeds, re-seeds, upgrades.

use super::*;
use crate::shared::charts_on_the_server_only;

#[test]
#[ignore = "boots Debian under qemu for minutes, as root: cargo test --test boot -- --ignored"]
pub(crate) fn a_nodes_whole_life_on_booted_machines() {
    let (_one, machine) = booting(&["xorriso"]);
    let lab = Lab::new(&machine);
    lab.build();
    let scratch = lab.path();
    let mut times = Vec::new();
    // The join's seeds, kept: the damaged build below replaces the lab's.
    let good = lab.keep_seed("boot-server", "good.iso");
    let a_seed = lab.keep_seed("boot-agent", "good-agent.iso");
    let good_id = instance_id(&lab, "boot-server");
    let set1 = vec![lab.carried_archive()];
    let damaged = scratch.join("damaged.iso");
    {
        // A different payload (another stand-in), one byte of it flipped in the image.
        lab.set_standin("# damaged on the way\n");
        lab.build();
        let mut bytes = fs::read(lab.seed("boot-server")).unwrap();
        let standin = fs::read(lab.path().join("k3s")).unwrap();
        let at = bytes
            .windows(standin.len())
            .position(|w| w == standin.as_slice())
            .expect("the stand-in is stored whole in the seed");
        bytes[at + 100] ^= 0x20;
        let flipped = scratch.join("flipped.iso");
        fs::write(&flipped, bytes).unwrap();
        // And a package bundle its SHA256SUMS does not list, added on the way: its
        // install.sh would run as root if the bootstrap installed what it finds.
        let extra = scratch.join("extra.tar.gz");
        fs::write(&extra, "not listed").unwrap();
        Cmd::new("xorriso")
            .arg("-indev")
            .arg(&flipped)
            .arg("-outdev")
            .arg(&damaged)
            .arg("-map")
            .arg(&extra)
            .args(["/payload/packages/extra.tar.gz", "-commit"])
            .run();
        Cmd::new(common::seedforge_bin())
            .arg("verify")
            .arg(&damaged)
            .expect(1)
            .run();
    }
    // The server's disk: its first seed is damaged, its second sound (the join).
    let node = machine.disk(&scratch.join("node.img"));
    let console = scratch.join("node.console");

    // A damaged payload: refused, nothing installed, the unit failed and says why.
    times.push(("damaged seed", machine.boot(&node, &damaged, &console)));
    let why = || diagnostics(&node, &console);
    let st = status(&node);
    assert_eq!(st["state"], "failed", "{}", why());
    assert_eq!(st["step"], "verify", "{}", why());
    assert!(st["applied"].is_null(), "{}", why());
    let reason = st["reason"].as_str().unwrap();
    assert!(
        reason.contains("is damaged") && reason.contains("does not list: packages/extra.tar.gz"),
        "{reason}\n{}",
        why()
    );
    assert!(
        read(&node, "/var/log/boot-diag/failed.txt")
            .unwrap()
            .contains("seedforge-bootstrap.service"),
        "{}",
        why()
    );
    for nothing in [
        "/usr/local/bin/k3s",
        "/etc/rancher/k3s/registries.yaml",
        "/usr/local/share/ca-certificates/seedforge-registry-ca.crt",
        K3S_IMAGES,
        "/usr/bin/jq",
        "/usr/local/seed/payload",
        "/var/lib/iso-copy-complete",
    ] {
        assert!(!exists(&node, nothing), "{nothing} exists\n{}", why());
    }
    let console_text = fs::read_to_string(&console).unwrap_or_default();
    assert!(
        console_text.contains("seedforge-bootstrap: FAILED (step verify)"),
        "no console line\n{}",
        why()
    );
    // The first seed gives the node SSH host keys of its own, not the image's.
    let keys = host_keys(&node);
    let baked = host_keys(&machine.image);
    assert!(!keys.is_empty() && !baked.is_empty(), "{keys:?} {baked:?}");
    for (name, key) in &keys {
        assert_ne!(baked.get(name), Some(key), "{name} is the image's");
    }

    // --- join: the same disk with a sound seed, as the server, and an agent on a fresh
    // disk, on a network that joins only the two. The server recovers with no manual step.
    let agent = machine.disk(&scratch.join("agent.img"));
    let a_console = scratch.join("agent.console");
    stay_until_joined(&node, &agent, scratch);
    times.push((
        "join (the server recovering + an agent)",
        machine.pair(
            Booting {
                disk: &node,
                media: &[Medium::Virtio(&good)],
                console: &console,
            },
            Booting {
                disk: &agent,
                media: &[Medium::Virtio(&a_seed)],
                console: &a_console,
            },
            None,
        ),
    ));
    for (disk, console) in [(&node, &console), (&agent, &a_console)] {
        let why = || diagnostics(disk, console);
        let st = status(disk);
        assert_eq!(st["state"], "done", "{}", why());
        assert_eq!(
            read(disk, "/var/log/boot-diag/failed.txt").unwrap().trim(),
            "",
            "{}",
            why()
        );
        assert_eq!(
            read(disk, "/var/log/boot-diag/cycles.txt").unwrap().trim(),
            "",
            "{}",
            why()
        );
        let images = read(disk, "/var/lib/k3s-standin/images").unwrap_or_default();
        assert!(
            images.contains("docker.io/rancher/mirrored-pause:3.6"),
            "{images}\n{}",
            why()
        );
        assert!(
            exists(disk, "/etc/rancher/k3s/registries.yaml"),
            "{}",
            why()
        );
        assert!(
            exists(
                disk,
                "/usr/local/share/ca-certificates/seedforge-registry-ca.crt"
            ),
            "{}",
            why()
        );
        // Both bundles installed, one after the other.
        for bundle in ["onig", "jq"] {
            assert!(
                exists(
                    disk,
                    &format!("/var/lib/seedforge/packages-{bundle}.installed")
                ),
                "{bundle}\n{}",
                why()
            );
        }
        assert!(exists(disk, "/usr/bin/jq"), "{}", why());
    }
    let joined = read(&agent, "/var/lib/k3s-standin/joined").unwrap_or_default();
    assert!(
        joined.contains("https://192.0.2.10:6443"),
        "{joined}\n{}",
        diagnostics(&agent, &a_console)
    );
    let config = read(&agent, "/var/lib/k3s-standin/config.yaml").unwrap();
    assert!(
        config.contains("server: \"https://192.0.2.10:6443\""),
        "{config}"
    );
    assert_eq!(
        read(&agent, "/var/lib/k3s-standin/token-present")
            .unwrap()
            .trim(),
        "yes"
    );
    assert_eq!(
        read(&agent, "/var/lib/k3s-standin/argv").unwrap().trim(),
        "/usr/local/bin/k3s agent"
    );
    let log = read(&agent, "/var/log/k3s-bootstrap.log").unwrap();
    assert!(log.contains("server 192.0.2.10:6443 answers"), "{log}");
    assert!(
        !log.contains("K10boot-test-join-token"),
        "the token reached the log"
    );
    let agents = read(&node, "/var/lib/k3s-standin/agents").unwrap_or_default();
    assert!(
        agents.contains("192.0.2.11 agent boot-agent"),
        "{agents}\n{}",
        why()
    );
    charts_on_the_server_only(&lab, &node, &console, &agent);

    // The server recovered from its damaged seed.
    let st = status(&node);
    let digest = st["applied"].as_str().unwrap().to_string();
    assert_eq!(
        read(&node, "/var/lib/iso-copy-complete").unwrap().trim(),
        digest
    );
    assert!(exists(&node, "/usr/local/bin/k3s"), "{}", why());
    let starts = read(&node, "/var/lib/k3s-standin/starts").unwrap();
    assert_eq!(starts.lines().count(), 1, "{starts}");
    // The archive under its content name; the sound seed is a new instance to
    // cloud-init, and the node kept its host keys.
    assert_eq!(archives(&node), set1, "{}", why());
    assert_eq!(host_keys(&node), keys, "{}", why());
    assert_eq!(st["k3s_version"], "v1.33.1+k3s1", "{}", why());
    assert!(st["k3s_installing"].is_null(), "{st}");

    // The operator opts in to k3s's conditional import (an empty `.cache.json` in its
    // images folder): from the next start on, k3s records the path, size and modification
    // time of each archive it imports and skips one it has seen unchanged.
    put(&node, K3S_IMAGES, ".cache.json", "", scratch);

    // A second boot with the same seed changes nothing.
    let before = read(&node, "/var/lib/seedforge/status.json").unwrap();
    times.push(("second boot", machine.boot(&node, &good, &console)));
    assert_eq!(
        read(&node, "/var/lib/seedforge/status.json").unwrap(),
        before,
        "{}",
        why()
    );
    let log = read(&node, "/var/log/k3s-bootstrap.log").unwrap();
    assert!(
        log.contains(&format!("payload {digest} is applied already")),
        "{log}"
    );
    // k3s started once per boot by systemd, never restarted by the bootstrap.
    let starts = read(&node, "/var/lib/k3s-standin/starts").unwrap();
    assert_eq!(starts.lines().count(), 2, "{starts}");
    // With the cache empty, that start imported set 1 and recorded it.
    let cache = read(&node, &format!("{K3S_IMAGES}/.cache.json")).unwrap_or_default();
    assert!(cache.contains(&set1[0]), "{cache}\n{}", why());
    assert_eq!(
        read(&node, "/var/log/boot-diag/cycles.txt").unwrap().trim(),
        "",
        "{}",
        why()
    );

    // A seed with a payload three minors ahead (k3s v1.36.2+k3s1 from v1.33.1+k3s1, through
    // the hops v1.34.2+k3s1 and v1.35.1+k3s1; one image added, one changed), booted on the
    // node (a server) together with the agent that joined a server of its address, seeded
    // from the same build: the server steps through each release in turn, the agent after
    // it at each; the agent's power is cut in its second hop. The node keeps its identity.
    let identity = Identity::of(&node);
    assert!(identity.password.is_some(), "{}", why());
    let set2_list = |list: String| {
        let kept: String = (list.lines())
            .filter(|l| !l.contains("busybox"))
            .map(|l| format!("{l}\n"))
            .collect();
        kept + &fixture_image("klipper-lb:v0.4.13", BUSYBOX)
            + &fixture_image("klipper-helm:v0.9.5-build20250306", ADDED_2)
    };
    lab.set_images(&|list| set2_list(list) + &upgrade_images());
    lab.set_upgrade("v1.33.1+k3s1", &HOPS, TARGET);
    // A zstd archive, which the bootstrap decompresses on its way to the running k3s (set
    // 3's, uncompressed, is imported from its file).
    lab.append_config("\nairgap:\n  compression: zstd\n");
    // And a changed manifest, which k3s re-applies only when its modification time is
    // not pinned to the seed's.
    let changed_manifest = LAB_MANIFEST.replace("greeting: hello", "greeting: upgraded");
    fs::write(
        lab.path().join("manifests/boot-settings.yaml"),
        &changed_manifest,
    )
    .unwrap();
    // The same build rotates the registry CA on purpose: the seed carries both CAs, and
    // the node must trust a registry certificate of either (checked on the node, below).
    let old_registry = fs::read_to_string(lab.path().join("out/pki/registry.crt")).unwrap();
    lab.build_with(&["--rotate-ca"]);
    let new_registry = fs::read_to_string(lab.path().join("out/pki/registry.crt")).unwrap();
    let new_ca = fs::read_to_string(lab.path().join("out/pki/ca.crt")).unwrap();
    assert_ne!(
        old_registry, new_registry,
        "--rotate-ca signed no new certificate"
    );
    put(
        &node,
        "/etc/boot-test",
        "old-registry.crt",
        &old_registry,
        scratch,
    );
    put(
        &node,
        "/etc/boot-test",
        "new-registry.crt",
        &new_registry,
        scratch,
    );
    put(&node, "/etc/boot-test", "new-ca.crt", &new_ca, scratch);
    put(&node, "/etc/boot-test", "then", ROTATION_CHECK, scratch);
    // The server stays up until it has given the agent the answer that lets it take its
    // second hop (the server runs it or newer, the agent Ready at its first): the agent
    // needs nothing of it after that until its power is cut.
    put(
        &node,
        "/etc/boot-test",
        "wait-for",
        &format!(
            "/var/lib/k3s-standin/answered-boot-agent-for-{} 1500\n",
            HOPS[1]
        ),
        scratch,
    );
    let changed_id = instance_id(&lab, "boot-server");
    assert_ne!(changed_id, good_id);
    let set2 = vec![lab.carried_archive()];
    assert_ne!(set2, set1);
    let changed = lab.keep_seed("boot-server", "changed.iso");
    let agent_changed = lab.keep_seed("boot-agent", "agent-changed.iso");
    let cut_console = scratch.join("agent-cut.console");
    let resumed_console = scratch.join("agent-resumed.console");
    let second_hop = format!(
        "seedforge-bootstrap: hop 2/3 {}: from k3s {}",
        HOPS[1], HOPS[0]
    );
    // The agent's power goes in its second hop once the hop's binary is renamed over the
    // installed one and before k3s restarts with it (the window a cut left without a record
    // before the release was recorded ahead of the rename): the next boot starts the new
    // binary, and the bootstrap must finish that hop (Ready waited for) before the target.
    let second_hop_installed = format!(
        "seedforge-bootstrap: hop 2/3 {}: k3s {} installed; restarting k3s-agent.service",
        HOPS[1], HOPS[1]
    );
    let upgrade_began = now();
    times.push((
        "upgrade across three minors (server + agent, the agent cut)",
        machine.pair(
            Booting {
                disk: &node,
                media: &[Medium::Virtio(&changed)],
                console: &console,
            },
            Booting {
                disk: &agent,
                media: &[Medium::Virtio(&agent_changed)],
                console: &cut_console,
            },
            Some(&second_hop_installed),
        ),
    ));
    let upgrade_ended = now();
    let st = status(&node);
    assert_eq!(st["state"], "done", "{}", why());
    assert_eq!(st["k3s_version"], TARGET, "{}", why());
    assert!(st["k3s_installing"].is_null(), "{st}");
    assert_eq!(
        st["hops"],
        serde_json::json!([HOPS[0], HOPS[1], TARGET]),
        "{}",
        why()
    );
    assert!(st["hop"].is_null(), "{st}");
    let new_digest = st["applied"].as_str().unwrap().to_string();
    assert_ne!(new_digest, digest);
    let installed = read(&node, "/usr/local/bin/k3s").unwrap();
    assert!(
        installed.ends_with(&format!("# k3s-standin-version: {TARGET}\n")),
        "the new k3s was not installed"
    );
    let starts = read(&node, "/var/lib/k3s-standin/starts").unwrap();
    assert_eq!(
        starts.lines().count(),
        6,
        "boot start + a restart for each hop and the target: {starts}"
    );
    stepped_in_order(&node, "v1.33.1+k3s1", &why);
    // The agent's console: its first hop done, its second installed when the power went.
    let agent_said = fs::read_to_string(&cut_console).unwrap_or_default();
    for line in [
        format!(
            "seedforge-bootstrap: hop 1/3 {}: from k3s v1.33.1+k3s1",
            HOPS[0]
        ),
        format!(
            "seedforge-bootstrap: hop 1/3 {}: done: this node runs k3s {} and is Ready",
            HOPS[0], HOPS[0]
        ),
        second_hop.clone(),
        second_hop_installed.clone(),
    ] {
        assert!(
            agent_said.contains(&line),
            "no {line:?} on the agent's console"
        );
    }
    // Where the cut landed (the host cuts within 200 ms of the console line, which comes
    // after the rename and before the restart): whether the agent said hello at the new
    // release before it, as the server saw it.
    let ran =
        (events(&node).iter()).any(|(_, what)| what == &format!("hello boot-agent {}", HOPS[1]));
    eprintln!(
        "the agent's cut: after the rename of {}, k3s {} at it before the power went",
        HOPS[1],
        if ran { "started" } else { "not started" }
    );
    let iid = read(&node, "/var/lib/cloud/data/instance-id").unwrap_or_default();
    assert_eq!(
        format!("instance-id: \"{}\"", iid.trim()),
        changed_id,
        "cloud-init took the changed seed as a new instance"
    );
    // Both registry certificates verify against the node's system store and against the
    // file k3s's registries.yaml names; the old one not against the new CA alone (the
    // check can fail).
    assert_eq!(
        read(&node, "/var/log/boot-diag/then.rc")
            .unwrap_or_default()
            .trim(),
        "0",
        "{}\n{}",
        read(&node, "/var/log/boot-diag/then.out").unwrap_or_default(),
        why()
    );
    let checked = read(&node, "/var/log/boot-diag/then.out").unwrap_or_default();
    for line in [
        "system old: OK",
        "system new: OK",
        "k3s old: OK",
        "k3s new: OK",
        "new CA alone old: refused",
    ] {
        assert!(checked.contains(line), "no {line:?} in:\n{checked}");
    }
    let busybox_2 = upgraded_in_order(&node, "v1.33.1+k3s1", HOPS[0], &set1, &set2, &why);
    assert_eq!(archives(&node), set2, "set 1 is gone\n{}", why());
    // The changed image runs under set 2's digest on the node.
    let digests = read(&node, "/var/lib/k3s-standin/image-digests").unwrap_or_default();
    assert!(
        digests
            .lines()
            .any(|l| l == format!("{BUSYBOX} {busybox_2}")),
        "{BUSYBOX} is not {busybox_2} on the node: {digests}\n{}",
        why()
    );
    assert_eq!(Identity::of(&node), identity, "{}", why());
    // The changed manifest was placed with the time of placing, during the upgrade's boot
    // (the VM's clock starts from this machine's), not with the payload's timestamps (the
    // seed's source date), which its copy in the payload keeps.
    let placed = "/var/lib/rancher/k3s/server/manifests/boot-settings.yaml";
    assert_eq!(read(&node, placed).unwrap(), changed_manifest);
    let placed_at = mtime(&node, placed);
    assert!(
        (upgrade_began - 600..=upgrade_ended + 600).contains(&placed_at),
        "{placed} has mtime {placed_at}, not within the upgrade's boot ({upgrade_began}..{upgrade_ended})\n{}",
        why()
    );
    let payload_manifests = "/usr/local/seed/payload/manifests";
    let in_payload = list(&node, payload_manifests)
        .into_iter()
        .map(|n| format!("{payload_manifests}/{n}"))
        .find(|p| read(&node, p).as_deref() == Some(changed_manifest.as_str()))
        .unwrap_or_else(|| panic!("no changed manifest in {payload_manifests}"));
    let seed_time = mtime(&node, &in_payload);
    assert!(
        seed_time < upgrade_began - 86_400,
        "{in_payload}: {seed_time} (the seed's timestamp expected)"
    );
    // Every manifest k3s reads was placed during this test, none with a seed's timestamp.
    for name in list(&node, "/var/lib/rancher/k3s/server/manifests") {
        let path = format!("/var/lib/rancher/k3s/server/manifests/{name}");
        let at = mtime(&node, &path);
        assert!(at > seed_time + 86_400, "{path}: mtime {at}");
    }

    // A payload with an older k3s (v1.33.1+k3s2 < v1.36.2+k3s1) is refused with nothing
    // installed; then, on the running node, `seedforge-bootstrap --images-only` with the
    // same media places and imports its images and changes nothing else. The agent boots
    // alongside with its seed of the upgrade, after its power cut: it resumes at its
    // second hop and steps on to the target, and the node stays up until it has.
    lab.set_images(&|list| {
        set2_list(list) + &fixture_image("local-path-provisioner:v0.0.31", ADDED_3)
    });
    lab.set_release("v1.33.1+k3s2", "");
    lab.build();
    let set3 = lab.carried_archive();
    let older = lab.keep_seed("boot-server", "older.iso");
    put(
        &node,
        "/etc/boot-test",
        "then",
        "cp /var/lib/seedforge/status.json /var/log/boot-diag/status-at-boot.json\n\
         /usr/local/sbin/seedforge-bootstrap --images-only\n",
        scratch,
    );
    put(
        &node,
        "/etc/boot-test",
        "wait-for",
        &format!("/var/lib/k3s-standin/answered-boot-agent-{TARGET} 1500\n"),
        scratch,
    );
    times.push((
        "downgrade, images only (server) + the agent resumed",
        machine.pair(
            Booting {
                disk: &node,
                media: &[Medium::Virtio(&older)],
                console: &console,
            },
            Booting {
                disk: &agent,
                media: &[Medium::Virtio(&agent_changed)],
                console: &resumed_console,
            },
            None,
        ),
    ));
    refused_then_images_only(&node, TARGET, &new_digest, &installed, &set2, &set3, &why);
    assert_eq!(Identity::of(&node), identity, "{}", why());
    // That boot's k3s skipped set 2, which its cache had seen at the upgrade's restart.
    let seen = events(&node);
    let last_start = seen
        .iter()
        .rposition(|(_, what)| what.starts_with("start "))
        .unwrap();
    assert!(
        seen[last_start..]
            .iter()
            .any(|(r, what)| r == TARGET && *what == format!("skip-at-start {} cached", set2[0])),
        "{seen:?}"
    );
    agent_resumed(&node, &agent, &resumed_console);
    // For the reader of a passing run: what the k3s stand-ins saw, in order.
    for (release, what) in events(&node) {
        eprintln!("k3s event (server): {release} {what}");
    }
    for (release, what) in events(&agent) {
        eprintln!("k3s event (agent): {release} {what}");
    }

    for (what, t) in &times {
        eprintln!("boot time: {what}: {:.0} s", t.as_secs_f64());
    }
}

/// Run on the node after the rotating upgrade's boot: each registry certificate (the
/// CA's before and after `--rotate-ca`) against the system's store, which
/// update-ca-certificates made, and against the CA file registries.yaml gives k3s.
const ROTATION_CHECK: &str = r#"set -u
k3s_ca=$(sed -n 's/^ *ca_file: *"\{0,1\}\([^"]*\)"\{0,1\} *$/\1/p' /etc/rancher/k3s/registries.yaml | head -n1)
echo "k3s CA file: $k3s_ca"
for which in old new; do
  cert=/etc/boot-test/$which-registry.crt
  openssl verify -CAfile /etc/ssl/certs/ca-certificates.crt "$cert" && echo "system $which: OK"
  openssl verify -CAfile "$k3s_ca" "$cert" && echo "k3s $which: OK"
done
if openssl verify -CAfile /etc/boot-test/new-ca.crt /etc/boot-test/old-registry.crt; then
  echo "new CA alone old: accepted"
else
  echo "new CA alone old: refused"
fi
"#;

/// An image list line: the fixture layout's image `name` as `destination`.
pub(crate) fn fixture_image(name: &str, destination: &str) -> String {
    let layout = common::repo_root().join("fixtures/images/oci");
    format!("oci:{}:{name} {destination}\n", layout.display())
}

/// The upgrade across three minors: the far side's release is v1.33.1+k3s1 (the lab's),
/// the hops (`cluster.upgrade_path`) and the target (`cluster.k3s_version`).
pub(crate) const HOPS: [&str; 2] = ["v1.34.2+k3s1", "v1.35.1+k3s1"];
pub(crate) const TARGET: &str = "v1.36.2+k3s1";

/// The packaged components of each release of the upgrade as k3s-io/docs' release notes
/// name them (the preflight's noted releases; the pause image stays 3.6): Traefik, CoreDNS,
/// metrics-server, local-path-provisioner.
const COMPONENTS: [(&str, [&str; 4]); 3] = [
    ("v1.34.2+k3s1", ["3.5.1", "1.13.1", "v0.8.0", "v0.0.32"]),
    ("v1.35.1+k3s1", ["3.6.7", "1.14.1", "v0.8.1", "v0.0.34"]),
    ("v1.36.2+k3s1", ["3.7.4", "1.14.4", "v0.8.1", "v0.0.36"]),
];

/// The images of `release` (one of [`COMPONENTS`]): image-list lines, each a fixture image
/// standing for the component under the release's name (as fixtures/lab/images.txt does
/// for v1.33.1+k3s1), and their names.
pub(crate) fn release_images(release: &str) -> Vec<(String, String)> {
    let (_, [traefik, coredns, metrics, lpp]) = COMPONENTS
        .iter()
        .find(|(r, _)| *r == release)
        .unwrap_or_else(|| panic!("no components of {release}"));
    let fixtures = common::repo_root().join("fixtures/images");
    let traefik = format!("docker.io/rancher/mirrored-library-traefik:{traefik}");
    let coredns = format!("docker.io/rancher/mirrored-coredns-coredns:{coredns}");
    let metrics = format!("docker.io/rancher/mirrored-metrics-server:{metrics}");
    let lpp = format!("docker.io/rancher/local-path-provisioner:{lpp}");
    vec![
        (
            format!(
                "oci-archive:{} {traefik}\n",
                fixtures.join("traefik.oci.tar").display()
            ),
            traefik.clone(),
        ),
        (
            fixture_image("mirrored-coredns-coredns:1.12.1", &coredns),
            coredns,
        ),
        (
            fixture_image("mirrored-metrics-server:v0.7.2", &metrics),
            metrics,
        ),
        (fixture_image("local-path-provisioner:v0.0.31", &lpp), lpp),
    ]
}

/// The image-list lines of every release of the upgrade, each image once.
pub(crate) fn upgrade_images() -> String {
    let mut seen = std::collections::BTreeSet::new();
    (HOPS.iter().chain([&TARGET]))
        .flat_map(|r| release_images(r))
        .filter(|(_, name)| seen.insert(name.clone()))
        .map(|(line, _)| line)
        .collect()
}

/// The numbers k3s releases are ordered by (`v1.34.2+k3s1`: 1, 34, 2, 1).
pub(crate) fn release_key(release: &str) -> (u32, u32, u32, u32) {
    let parse = || -> Option<(u32, u32, u32, u32)> {
        let (core, k3s) = release.strip_prefix('v')?.split_once("+k3s")?;
        let mut n = core.split('.').map(|x| x.parse::<u32>().ok());
        Some((n.next()??, n.next()??, n.next()??, k3s.parse().ok()?))
    };
    parse().unwrap_or_else(|| panic!("{release:?} is not a k3s release"))
}

/// `items` with each run of equal neighbours once.
fn runs(items: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for item in items {
        if out.last() != Some(&item) {
            out.push(item);
        }
    }
    out
}

/// The upgrade's boot on the server, from the stand-in's event log: after the k3s of
/// release `from` started at boot, k3s started once at each hop and at the target, in
/// order, and each one's images were imported before it first started.
pub(crate) fn stepped_in_order(disk: &Path, from: &str, why: &dyn Fn() -> String) {
    let events = events(disk);
    let boot = events
        .iter()
        .rposition(|(r, what)| r == from && what.starts_with("start "))
        .unwrap_or_else(|| panic!("k3s {from} did not start at the upgrade's boot: {events:?}"));
    let started: Vec<&str> = events[boot + 1..]
        .iter()
        .filter(|(_, what)| what.starts_with("start "))
        .map(|(r, _)| r.as_str())
        .collect();
    assert_eq!(
        started,
        [HOPS[0], HOPS[1], TARGET],
        "k3s started at these releases after {from}: {events:?}\n{}",
        why()
    );
    for release in HOPS.iter().chain([&TARGET]) {
        let first = events
            .iter()
            .position(|(r, what)| r == release && what.starts_with("start "))
            .unwrap();
        for (_, name) in release_images(release) {
            assert!(
                events[..first]
                    .iter()
                    .any(|(_, what)| what.contains(&format!("{name}@"))),
                "{name} was not imported before k3s {release} started: {events:?}\n{}",
                why()
            );
        }
    }
}

/// The agent whose power was cut in its second hop, booted again with the same seed beside
/// the server: it resumed there and stepped on to the target, and took every hop (its own
/// stand-in started at each release in turn); it never ran ahead of the server (each of its
/// hellos, as the server logged them with the server's release then).
pub(crate) fn agent_resumed(server: &Path, agent: &Path, a_console: &Path) {
    let why = || diagnostics(agent, a_console);
    let st = status(agent);
    assert_eq!(st["state"], "done", "{}", why());
    assert_eq!(st["k3s_version"], TARGET, "{}", why());
    assert!(st["k3s_installing"].is_null(), "{st}");
    assert_eq!(
        st["hops"],
        serde_json::json!([HOPS[0], HOPS[1], TARGET]),
        "{}",
        why()
    );
    assert!(st["hop"].is_null(), "{st}");
    let installed = read(agent, "/usr/local/bin/k3s").unwrap();
    assert!(
        installed.ends_with(&format!("# k3s-standin-version: {TARGET}\n")),
        "{}",
        why()
    );
    let log = read(agent, "/var/log/k3s-bootstrap.log").unwrap_or_default();
    // The cut came after the second hop's binary was in place: the next boot resumed that
    // hop (its release recorded before the rename) and waited until the agent was Ready at
    // it, never skipping to the target.
    for said in [
        format!(
            "hop 2/3 {}: from k3s {}: waiting for its turn",
            HOPS[1], HOPS[0]
        ),
        format!(
            "hop 2/3 {}: resumed: k3s {} is installed; waiting until this node is Ready at it",
            HOPS[1], HOPS[1]
        ),
        format!(
            "hop 2/3 {}: done: this node runs k3s {} and is Ready",
            HOPS[1], HOPS[1]
        ),
    ] {
        assert!(
            log.contains(&said),
            "no {said:?} in the agent's log\n{}",
            why()
        );
    }
    let started = runs(
        events(agent)
            .into_iter()
            .filter(|(_, what)| what.starts_with("start "))
            .map(|(r, _)| r),
    );
    assert_eq!(
        started,
        ["v1.33.1+k3s1", HOPS[0], HOPS[1], TARGET],
        "the agent's k3s started at these releases, in order\n{}",
        why()
    );
    let hellos: Vec<(String, String)> = events(server)
        .into_iter()
        .filter_map(|(s, what)| {
            let release = what.strip_prefix("hello boot-agent ")?;
            Some((s, release.to_string()))
        })
        .collect();
    for (s, a) in &hellos {
        assert!(
            release_key(a) <= release_key(s),
            "the agent said hello at {a} to the server at {s}: {hellos:?}"
        );
    }
    assert_eq!(
        runs(hellos.iter().map(|(_, a)| a.clone())),
        ["v1.33.1+k3s1", HOPS[0], HOPS[1], TARGET],
        "the agent's releases, as the server saw them: {hellos:?}"
    );
}

/// The image an upgrade changes (another image under its name), and those it adds.
pub(crate) const BUSYBOX: &str = "docker.io/rancher/mirrored-library-busybox:1.36.1";
pub(crate) const ADDED_2: &str = "docker.io/library/upgrade-added:2";
pub(crate) const ADDED_3: &str = "docker.io/library/upgrade-added:3";

/// The public SSH host keys of a disk, by file name.
pub(crate) fn host_keys(disk: &Path) -> std::collections::BTreeMap<String, String> {
    list(disk, "/etc/ssh")
        .into_iter()
        .filter(|n| n.starts_with("ssh_host_") && n.ends_with("_key.pub"))
        .map(|n| {
            let key = read(disk, &format!("/etc/ssh/{n}")).unwrap();
            (n, key)
        })
        .collect()
}

/// What makes a node itself to its peers and its operators, which a re-seed keeps.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Identity {
    pub(crate) host_keys: std::collections::BTreeMap<String, String>,
    pub(crate) machine_id: String,
    /// k3s's node password (written by k3s at its first start).
    pub(crate) password: Option<String>,
}

impl Identity {
    pub(crate) fn of(disk: &Path) -> Identity {
        let machine_id = read(disk, "/etc/machine-id").unwrap_or_default();
        assert_eq!(machine_id.trim().len(), 32, "machine-id {machine_id:?}");
        Identity {
            host_keys: host_keys(disk),
            machine_id,
            password: read(disk, "/etc/rancher/node/password"),
        }
    }
}

/// The k3s stand-in's event log: (release, what) per line, in order.
pub(crate) fn events(disk: &Path) -> Vec<(String, String)> {
    read(disk, "/var/lib/k3s-standin/events")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut words = l.splitn(3, ' ');
            let (_time, release, what) = (words.next()?, words.next()?, words.next()?);
            Some((release.to_string(), what.to_string()))
        })
        .collect()
}

/// The upgrade's order on the node, from the stand-in's event log: the k3s of release
/// `old` started at boot and skipped `set1` (its import cache had seen it); then, running,
/// it imported the new payload's images (the added image, and the changed one under its
/// new digest) before the k3s of release `new` first started, which found `set2` and
/// nothing else in its images folder (the old archive removed before it started) and
/// imported it, its new name unseen by the cache. The changed image's new digest.
pub(crate) fn upgraded_in_order(
    disk: &Path,
    old: &str,
    new: &str,
    set1: &[String],
    set2: &[String],
    why: &dyn Fn() -> String,
) -> String {
    let events = events(disk);
    let first_new = events
        .iter()
        .position(|(r, what)| r == new && what.starts_with("start "))
        .unwrap_or_else(|| panic!("k3s {new} never started: {events:?}\n{}", why()));
    let found = events[first_new]
        .1
        .split_once(" archives=")
        .map(|(_, names)| {
            names
                .split(',')
                .filter(|n| !n.is_empty())
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    assert_eq!(
        found,
        set2,
        "k3s {new} started with these archives in {K3S_IMAGES}: {events:?}\n{}",
        why()
    );
    assert!(
        events[first_new..]
            .iter()
            .take_while(|(r, what)| r == new && !what.starts_with("ctr "))
            .any(|(_, what)| what.starts_with(&format!("import-at-start {} rc=0 ", set2[0]))),
        "k3s {new} did not import {} at its start: {events:?}",
        set2[0]
    );
    let old_start = events[..first_new]
        .iter()
        .rposition(|(r, what)| r == old && what.starts_with("start "))
        .unwrap_or_else(|| panic!("k3s {old} did not start at the upgrade's boot: {events:?}"));
    assert!(
        events[old_start..first_new]
            .iter()
            .any(|(_, what)| *what == format!("skip-at-start {} cached", set1[0])),
        "k3s {old} did not skip {} it had seen: {events:?}",
        set1[0]
    );
    let busybox = format!("{BUSYBOX}@");
    let digest_of = |what: &str| -> Option<String> {
        what.split(['=', ','])
            .find_map(|i| i.strip_prefix(busybox.as_str()).map(str::to_string))
    };
    let before: Vec<&(String, String)> = events[..first_new].iter().collect();
    let first_busybox = before
        .iter()
        .find_map(|(r, what)| (r == old).then(|| digest_of(what)).flatten())
        .unwrap_or_else(|| panic!("k3s {old} never imported busybox: {events:?}"));
    let imported = before
        .iter()
        .find(|(r, what)| {
            r == old
                && what.starts_with("ctr ")
                && what.contains(" images import ")
                && what.contains(" rc=0 ")
                && what.contains(&format!("{ADDED_2}@"))
        })
        .unwrap_or_else(|| {
            panic!(
                "the running k3s {old} did not import the new images before k3s {new} started: {events:?}\n{}",
                why()
            )
        });
    let changed = digest_of(&imported.1).unwrap_or_else(|| {
        panic!(
            "the new images' import names no {BUSYBOX}: {}\n{events:?}",
            imported.1
        )
    });
    assert_ne!(
        changed, first_busybox,
        "the changed image was imported under its new digest: {events:?}"
    );
    changed
}

/// A payload with an older k3s, seeded: refused at boot with nothing installed (the
/// status the boot left, saved before the operator's command); then the operator's
/// `seedforge-bootstrap --images-only` placed and imported its archive (`set3`) beside the
/// applied payload's (`set2`) with the running k3s, and changed nothing else.
pub(crate) fn refused_then_images_only(
    node: &Path,
    running: &str,
    applied: &str,
    installed: &str,
    set2: &[String],
    set3: &str,
    why: &dyn Fn() -> String,
) {
    let at_boot = read(node, "/var/log/boot-diag/status-at-boot.json").expect("saved status");
    let at_boot: serde_json::Value = serde_json::from_str(&at_boot).unwrap();
    assert_eq!(at_boot["state"], "refused", "{at_boot}\n{}", why());
    assert_eq!(at_boot["step"], "version", "{at_boot}");
    assert_eq!(at_boot["applied"], applied, "{at_boot}");
    assert_eq!(at_boot["k3s_version"], running, "{at_boot}");
    let reason = at_boot["reason"].as_str().unwrap();
    // Three minors older: refused whatever cluster.allow_downgrade says.
    for says in [running, "v1.33.1+k3s2", "more than one minor older"] {
        assert!(reason.contains(says), "{reason}");
    }
    assert!(
        read(node, "/var/log/k3s-bootstrap.log")
            .unwrap_or_default()
            .contains("REFUSED (step version)"),
        "{}",
        why()
    );
    assert_eq!(read(node, "/usr/local/bin/k3s").unwrap(), installed);
    let sums = read(node, "/usr/local/seed/payload/SHA256SUMS").unwrap();
    assert_eq!(
        sha256_bytes(sums.as_bytes()),
        applied,
        "the applied payload stays"
    );
    assert_eq!(
        read(node, "/var/lib/iso-copy-complete").unwrap().trim(),
        applied
    );
    // The operator's images-only pass.
    let out = read(node, "/var/log/boot-diag/then.out").unwrap_or_default();
    assert_eq!(
        read(node, "/var/log/boot-diag/then.rc")
            .unwrap_or_default()
            .trim(),
        "0",
        "{out}\n{}",
        why()
    );
    let st = status(node);
    assert_eq!(st["state"], "images-only", "{st}\n{out}\n{}", why());
    assert_eq!(st["applied"], applied, "{st}");
    assert_ne!(st["payload"], applied, "{st}");
    assert_eq!(st["k3s_version"], running, "{st}");
    assert!(out.contains("nothing else was changed"), "{out}");
    let mut want: Vec<String> = set2.to_vec();
    want.push(set3.to_string());
    want.sort();
    assert_eq!(archives(node), want, "{}", why());
    let events = events(node);
    let last_start = events
        .iter()
        .rposition(|(_, what)| what.starts_with("start "))
        .unwrap();
    assert!(
        events[last_start..].iter().any(|(r, what)| r == running
            && what.starts_with("ctr ")
            && what.contains(" rc=0 ")
            && what.contains(&format!("{ADDED_3}@"))),
        "the running k3s imported the new images: {events:?}"
    );
    assert_eq!(read(node, "/usr/local/bin/k3s").unwrap(), installed);
}
