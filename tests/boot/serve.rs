//! A node pulls its images from `seedforge serve`: the lab's server node booted alone on a
//! qemu user network that reaches nothing but the registry's address (`restrict=on`; its
//! `guestfwd` takes each connection to 192.0.2.1:5000 to `seedforge serve OUT` on this
//! machine's 127.0.0.1, one socat a connection), and the node's own containerd pulling
//! every image of the build through the build's `certs.d` hosts files and the CA the seed
//! placed, by the names k3s's mirror configuration uses.
//!
//! The build's chart is the demo lab's (`fixtures/lab/charts/demo-app`, its image from a
//! helper template, its sidecar's passed as a flag) with `images: add`, its values naming
//! both images in a registry on this machine's 127.0.0.1: the build mirrors them under
//! that registry's name, and the node pulls them by it, its `certs.d` hosts file for
//! `127.0.0.1:PORT` sending the pulls to `seedforge serve`.

use super::*;

/// How long `seedforge serve` may take to answer its first connection.
const SERVE_START: Duration = Duration::from_secs(30);

/// The build's images: (name, digest) from the layout's `index.json`.
fn layout_images(out: &Path) -> Vec<(String, String)> {
    let index: serde_json::Value =
        serde_json::from_slice(&fs::read(out.join("oci/index.json")).unwrap()).unwrap();
    index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| {
            let name = m["annotations"]["org.opencontainers.image.ref.name"].as_str()?;
            Some((name.to_string(), m["digest"].as_str()?.to_string()))
        })
        .collect()
}

/// The node's script, run once its boot has settled: installs the build's `certs.d` hosts
/// files where containerd reads them, pulls each image (its digest checked by containerd
/// against what the registry's manifest hashes to) into a namespace of its own, so that
/// nothing the node imported from its airgap archives can answer, and lists them.
fn pull_script(out: &Path, images: &[(String, String)], direct: &str) -> String {
    let mut script = String::from("set -u\nCERTS=/etc/containerd/certs.d\n");
    for entry in fs::read_dir(out.join("certs.d")).unwrap() {
        let dir = entry.unwrap().path();
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        let text = fs::read_to_string(dir.join("hosts.toml")).unwrap();
        script.push_str(&format!(
            "mkdir -p \"$CERTS/{name}\"\ncat >\"$CERTS/{name}/hosts.toml\" <<'HOSTS'\n{text}HOSTS\n"
        ));
    }
    let mut names: Vec<&str> = images.iter().map(|(n, _)| n.as_str()).collect();
    names.push(direct);
    for name in names {
        script.push_str(&format!(
            "timeout 120 ctr -n serve-test images pull --hosts-dir \"$CERTS\" {name} >/dev/null 2>/tmp/pull.err \
             && echo \"PULLED {name}\" || {{ echo \"FAILED {name}\"; cat /tmp/pull.err; }}\n"
        ));
    }
    script.push_str("echo '== images'\nctr -n serve-test images ls\n");
    script
}

#[test]
#[ignore = "boots Debian under qemu for minutes, as root: cargo test --test boot -- --ignored"]
fn a_node_pulls_every_image_from_seedforge_serve() {
    let (_one, machine) = booting(&["socat"]);
    assert!(
        common::require_tool("docker-registry") && common::require_tool("skopeo"),
        "docker-registry and skopeo are required"
    );
    // The node's NIC by its name (virtio-net in the third PCI slot: ens3), which every
    // renderer of cloud-init configures: this node renders without netplan (below).
    let lab = Lab::with(&machine, |config| {
        assert!(config.contains("network:\n"));
        config.replace("network:\n", "network:\n  interface: ens3\n")
    });
    // The chart's two images, in a registry on this machine only while the build runs.
    let mut registry = common::registry::Registry::start_plain();
    let chart_host = registry.host();
    common::charts::push_lab_chart_images(&registry);
    let chart_images = [
        format!("{chart_host}/lab/web:1.0"),
        format!("{chart_host}/lab/side:2.0"),
    ];
    let sources: Vec<String> = ["lab/web:1.0", "lab/side:2.0"]
        .iter()
        .map(|t| common::registry::skopeo_raw_digest(&registry, t))
        .collect();
    lab.set_chart(
        &common::charts::lab_chart_tgz(),
        &common::charts::lab_chart_values(&chart_host),
        "    images: add\n",
    );
    lab.append_config(&format!(
        "\nregistries:\n  - host: \"{chart_host}\"\n    insecure: true\n"
    ));
    lab.build();
    registry.stop();
    let scratch = lab.path();
    let out = scratch.join("out");
    let images = layout_images(&out);
    assert!(images.len() >= 10, "{images:?}");
    // Both chart images mirrored by their own names, at the source registry's digests,
    // and a hosts file for their registry that sends pulls to the build's registry.
    for (name, digest) in chart_images.iter().zip(&sources) {
        assert!(
            images.contains(&(name.clone(), digest.clone())),
            "{name} at {digest} is not in the layout: {images:?}"
        );
    }
    let hosts = fs::read_to_string(out.join(format!(
        "certs.d/{}/hosts.toml",
        chart_host.replace(':', "_") + "_"
    )))
    .unwrap();
    assert!(
        hosts.contains("[host.\"https://192.0.2.1:5000\"]"),
        "{hosts}"
    );
    let registries = fs::read_to_string(out.join("registries.yaml")).unwrap();
    assert!(
        registries.contains(&format!("\"{chart_host}\":")),
        "{registries}"
    );

    // The registry of the lab's config (192.0.2.1:5000), served from the output on this
    // machine's loopback; the node reaches it only through qemu's guestfwd.
    let port = common::debs::free_port();
    let serve = Cmd::new(common::seedforge_bin())
        .arg("serve")
        .arg(&out)
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--verbose")
        .timeout(BOOT_LIMIT)
        .spawn();
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < SERVE_START,
            "seedforge serve did not listen on 127.0.0.1:{port}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // The pause image by the registry's own name too, as a hosts file for it reads it.
    let direct = "192.0.2.1:5000/rancher/mirrored-pause:3.6";
    let node = machine.disk(&scratch.join("node.img"));
    put(
        &node,
        "/etc/boot-test",
        "then",
        &pull_script(&out, &images, direct),
        scratch,
    );
    // A node image without netplan: cloud-init renders the seed's network-config with
    // systemd-networkd itself, and the node must come up on its static address from it
    // (nothing on its network answers DHCP that it would ask).
    Cmd::new("debugfs")
        .args(["-w", "-R", "rm /usr/sbin/netplan"])
        .arg(&node)
        .run();
    assert!(!exists(&node, "/usr/sbin/netplan"));
    let console = scratch.join("node.console");
    let net = format!(
        "user,restrict=on,net=192.0.2.0/24,host=192.0.2.2,dns=192.0.2.3,\
         guestfwd=tcp:192.0.2.1:5000-cmd:socat - TCP:127.0.0.1:{port}"
    );
    let took = Instant::now();
    machine
        .start_with(
            &node,
            &[Medium::Virtio(&lab.seed("boot-server"))],
            &net,
            "52:54:00:00:02:0a",
            &console,
        )
        .wait();
    eprintln!(
        "boot time: a node pulling from seedforge serve: {:.0} s",
        took.elapsed().as_secs_f64()
    );
    drop(serve);

    let then = read(&node, "/var/log/boot-diag/then.out").unwrap_or_default();
    let why = || format!("{then}\n{}", diagnostics(&node, &console));
    assert_eq!(
        read(&node, "/var/log/boot-diag/then.rc").as_deref(),
        Some("0\n"),
        "{}",
        why()
    );
    assert!(!then.contains("FAILED"), "{}", why());
    // Rendered by cloud-init for networkd, on the NIC the config names, with no netplan.
    let networkd = read(&node, "/etc/systemd/network/10-cloud-init-ens3.network")
        .unwrap_or_else(|| panic!("no networkd file from cloud-init\n{}", why()));
    assert!(
        networkd.contains("Name=ens3") && networkd.contains("Address=192.0.2.10/24"),
        "{networkd}"
    );
    assert!(
        !exists(&node, "/etc/netplan/50-cloud-init.yaml"),
        "{}",
        why()
    );
    for name in &chart_images {
        let pulled = format!("PULLED {name}");
        assert!(then.lines().any(|l| l == pulled), "{}", why());
        eprintln!("{pulled}");
    }
    let listed = then.split("== images").nth(1).unwrap_or_default();
    let mut expected = images.clone();
    let pause = images
        .iter()
        .find(|(n, _)| n.ends_with("/mirrored-pause:3.6"))
        .unwrap();
    expected.push((direct.to_string(), pause.1.clone()));
    for (name, digest) in &expected {
        assert!(
            listed.lines().any(|l| {
                let mut words = l.split_whitespace();
                words.next() == Some(name.as_str()) && words.nth(1) == Some(digest.as_str())
            }),
            "{name} is not on the node at {digest}:\n{}",
            why()
        );
    }
}
