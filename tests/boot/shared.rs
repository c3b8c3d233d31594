//! Shared payload: nodes joining from a seed and one payload CD-ROM each.

use super::*;

/// The paths `isoinfo -R -f` lists in an image.
pub(crate) fn iso_paths(iso: &Path) -> Vec<String> {
    Cmd::new("isoinfo")
        .args(["-R", "-f", "-i"])
        .arg(iso)
        .run()
        .stdout
        .lines()
        .map(str::to_string)
        .collect()
}

/// Shared payload: a server and an agent, each with two CD-ROM drives (its few-KiB seed and
/// the one payload.iso), joining each other; each applies the payload from the payload
/// medium its seed names.
#[test]
#[ignore = "boots Debian under qemu for minutes, as root: cargo test --test boot -- --ignored"]
pub(crate) fn shared_payload_nodes_join_from_two_cdroms() {
    let (_one, machine) = booting(&["isoinfo"]);
    // Shared payload, and k3s's embedded registry mirror with no registry: the agent
    // imports no archive and pulls from the server.
    let lab = Lab::with(&machine, |config| {
        let registry = "registry:\n  host: 192.0.2.1\n  port: 5000\n";
        let version = "  k3s_version: v1.33.1+k3s1\n";
        assert!(config.contains(registry) && config.contains(version));
        config
            .replace(registry, "")
            .replace(version, &format!("{version}  embedded_registry: true\n"))
            + "\nseeds:\n  payload: shared\n"
    });
    lab.build();
    let scratch = lab.path();
    let payload = lab.path().join("out/iso/payload.iso");

    // The seeds carry no payload, only its name; the payload ISO carries it once.
    for node in ["boot-server", "boot-agent"] {
        let paths = iso_paths(&lab.seed(node));
        assert!(
            paths.iter().any(|p| p == "/payload.sha256")
                && !paths.iter().any(|p| p.starts_with("/payload/")),
            "{node}: {paths:?}"
        );
        // The node files (user-data with the bootstrap, some 20 KiB) and the image's own
        // structures, far below the payload (about 900 KiB here), which is not there.
        let size = fs::metadata(lab.seed(node)).unwrap().len();
        assert!(size < 128 * 1024, "{node}: {size} bytes");
    }
    let paths = iso_paths(&payload);
    assert!(paths.iter().any(|p| p == "/payload/bin/k3s"), "{paths:?}");
    Cmd::new("osirrox")
        .arg("-indev")
        .arg(&payload)
        .args(["-extract", "/payload/SHA256SUMS"])
        .arg(scratch.join("SHA256SUMS"))
        .run();
    let digest = sha256_bytes(&fs::read(scratch.join("SHA256SUMS")).unwrap());

    let (s_seed, a_seed) = (lab.seed("boot-server"), lab.seed("boot-agent"));
    // The agent's drives the other way round: found by label, not by order.
    let Join {
        server,
        agent,
        s_console,
        a_console,
        took,
    } = machine.join(
        scratch,
        &[Medium::Cdrom(&s_seed), Medium::Cdrom(&payload)],
        &[Medium::Cdrom(&payload), Medium::Cdrom(&a_seed)],
    );
    for (disk, console) in [(&server, &s_console), (&agent, &a_console)] {
        let why = || diagnostics(disk, console);
        let st = status(disk);
        assert_eq!(st["state"], "done", "{}", why());
        assert_eq!(st["applied"], digest.as_str(), "{}", why());
        assert_eq!(
            read(disk, "/var/log/boot-diag/failed.txt").unwrap().trim(),
            "",
            "{}",
            why()
        );
        let log = read(disk, "/var/log/k3s-bootstrap.log").unwrap();
        assert!(
            log.contains(&format!("payload {digest} on the payload medium /dev/sr")),
            "{}",
            why()
        );
        assert!(
            log.contains("copying payload") && log.contains("from the payload medium /dev/sr"),
            "{}",
            why()
        );
        assert_eq!(
            read(disk, "/var/lib/iso-copy-complete").unwrap().trim(),
            digest,
            "{}",
            why()
        );
        assert!(
            exists(disk, "/usr/local/bin/k3s") && exists(disk, "/usr/bin/jq"),
            "{}",
            why()
        );
        assert!(
            exists(disk, "/etc/rancher/k3s/registries.yaml"),
            "{}",
            why()
        );
    }
    // The embedded registry mirror: the server imported the archive, the agent none; both
    // k3s see the mirror entries, and the server's config turns the mirror on.
    let archive = format!("{K3S_IMAGES}/{}", lab.carried_archive());
    let server_images = read(&server, "/var/lib/k3s-standin/images").unwrap_or_default();
    assert!(
        server_images.contains("docker.io/rancher/mirrored-pause:3.6") && exists(&server, &archive),
        "{server_images}\n{}",
        diagnostics(&server, &s_console)
    );
    let agent_images = read(&agent, "/var/lib/k3s-standin/images").unwrap_or_default();
    assert!(
        agent_images.trim().is_empty() && list(&agent, K3S_IMAGES).is_empty(),
        "the agent imported {agent_images}\n{}",
        diagnostics(&agent, &a_console)
    );
    assert_eq!(
        read(&agent, "/var/lib/k3s-standin/imports")
            .unwrap_or_default()
            .trim(),
        "",
        "{}",
        diagnostics(&agent, &a_console)
    );
    assert!(
        read(&agent, "/var/log/k3s-bootstrap.log")
            .unwrap()
            .contains("airgap images: none imported on this node")
    );
    for (disk, console) in [(&server, &s_console), (&agent, &a_console)] {
        let registries = read(disk, "/var/lib/k3s-standin/registries.yaml").unwrap_or_default();
        assert!(
            registries.contains("mirrors:") && registries.contains("\"docker.io\":"),
            "{registries}\n{}",
            diagnostics(disk, console)
        );
    }
    let server_config = read(&server, "/var/lib/k3s-standin/config.yaml").unwrap();
    assert!(
        server_config.contains("embedded-registry: true"),
        "{server_config}"
    );
    let agent_config = read(&agent, "/var/lib/k3s-standin/config.yaml").unwrap();
    assert!(
        !agent_config.contains("embedded-registry"),
        "{agent_config}"
    );
    let joined = read(&agent, "/var/lib/k3s-standin/joined").unwrap_or_default();
    assert!(
        joined.contains("https://192.0.2.10:6443"),
        "{joined}\n{}",
        diagnostics(&agent, &a_console)
    );
    let agents = read(&server, "/var/lib/k3s-standin/agents").unwrap_or_default();
    assert!(
        agents.contains("192.0.2.11 agent boot-agent"),
        "{agents}\n{}",
        diagnostics(&server, &s_console)
    );
    charts_on_the_server_only(&lab, &server, &s_console, &agent);

    // A newer build's seed with the old payload ISO: refused, nothing installed, the
    // applied payload stays.
    let old_payload = scratch.join("old-payload.iso");
    fs::copy(&payload, &old_payload).unwrap();
    let k3s_before = read(&agent, "/usr/local/bin/k3s").unwrap();
    lab.set_standin("# a newer build\n");
    lab.build();
    let started = Instant::now();
    let port = common::debs::free_port();
    machine
        .start_with(
            &agent,
            &[Medium::Cdrom(&a_seed), Medium::Cdrom(&old_payload)],
            &format!("socket,listen=127.0.0.1:{port}"),
            "52:54:00:00:02:0b",
            &a_console,
        )
        .wait();
    let stale_took = started.elapsed();
    let why = || diagnostics(&agent, &a_console);
    let st = status(&agent);
    assert_eq!(st["state"], "failed", "{}", why());
    assert_eq!(st["step"], "seed", "{}", why());
    assert_eq!(st["applied"], digest.as_str(), "{}", why());
    assert!(
        st["reason"]
            .as_str()
            .unwrap()
            .contains("stale or wrong payload ISO"),
        "{}",
        why()
    );
    assert_eq!(read(&agent, "/usr/local/bin/k3s").unwrap(), k3s_before);
    eprintln!(
        "boot time: shared payload join (server + agent): {:.0} s",
        took.as_secs_f64()
    );
    eprintln!(
        "boot time: shared payload, stale payload medium: {:.0} s",
        stale_took.as_secs_f64()
    );
}

/// Charts and manifests: on the server, in k3s's folders when the k3s unit started (the
/// stand-in hashed what it found at start), with the bytes the build wrote, the chart's
/// those of the repository's digest; the agent has none of them.
pub(crate) fn charts_on_the_server_only(lab: &Lab, server: &Path, s_console: &Path, agent: &Path) {
    let server_files = read(server, "/var/lib/k3s-standin/server-files").unwrap_or_default();
    let out = lab.path().join("out");
    let helmchart = fs::read(out.join("charts/demo.yaml")).unwrap();
    for (sha, path) in [
        (sha256_bytes(&lab_chart()), "static/charts/demo.tgz"),
        (sha256_bytes(&helmchart), "manifests/demo.yaml"),
        (
            sha256_bytes(LAB_MANIFEST.as_bytes()),
            "manifests/boot-settings.yaml",
        ),
    ] {
        assert!(
            server_files.contains(&format!("{sha}  {path}\n")),
            "{path} ({sha}) at k3s's start: {server_files}\n{}",
            diagnostics(server, s_console)
        );
    }
    let helmchart = String::from_utf8(helmchart).unwrap();
    assert!(helmchart.contains("kind: HelmChart"), "{helmchart}");
    for path in [
        "/var/lib/rancher/k3s/server/static/charts/demo.tgz",
        "/var/lib/rancher/k3s/server/manifests/demo.yaml",
        "/var/lib/rancher/k3s/server/manifests/boot-settings.yaml",
    ] {
        assert!(!exists(agent, path), "the agent has {path}");
    }
    assert!(
        read(agent, "/var/lib/k3s-standin/server-files").is_none(),
        "the agent's k3s recorded server files"
    );
}
