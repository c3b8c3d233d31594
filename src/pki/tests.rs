//! Unit tests of the PKI step's decisions; the consumers (openssl, the registry, skopeo,
//! containerd) judge the output in tests/pki_*.rs.

use super::*;
use crate::vocab::Host;

const SDE: u64 = 1_700_000_000;
const NOW: i64 = 1_763_000_000;

fn settings(host: &str) -> PkiSettings {
    PkiSettings {
        host: host.parse().unwrap(),
        port: 5000,
        extra_sans: vec![],
        plain_http: false,
        ca_common_name: "test CA".into(),
        ca_organization: Some("seedforge".into()),
        ca_validity_days: DEFAULT_CA_DAYS,
        cert_validity_days: DEFAULT_CERT_DAYS,
        ca_import: None,
        node_ca_path: "/etc/rancher/k3s/ca.crt".into(),
        storage: DEFAULT_REGISTRY_STORAGE.into(),
        auth: None,
        rewrite: BTreeMap::new(),
        mirrors: ["docker.io".to_string(), "quay.io".to_string()].into(),
        source_date: Some(SDE),
        continuity: Default::default(),
    }
}

fn run(s: &PkiSettings, out: &Path) -> PkiReport {
    commit(prepare(s, out, NOW).unwrap(), &crate::NoopReporter).unwrap()
}

#[test]
fn sans_are_host_loopback_localhost_and_extras_without_repeats() {
    let mut s = settings("192.168.6.1");
    s.extra_sans = vec![
        "registry.lab".parse().unwrap(),
        "127.0.0.1".parse().unwrap(),
    ];
    let sans: Vec<String> = s.sans().iter().map(ToString::to_string).collect();
    assert_eq!(
        sans,
        ["192.168.6.1", "127.0.0.1", "localhost", "registry.lab"]
    );
    assert_eq!(s.address(), "192.168.6.1:5000");
    let v6 = settings("fd00::1");
    assert_eq!(v6.endpoint(), "https://[fd00::1]:5000");
}

#[test]
fn issued_certificate_fields() {
    let dir = tempfile::tempdir().unwrap();
    let report = run(&settings("192.168.6.1"), dir.path());
    assert_eq!(report.ca, Some(Outcome::Created));
    let cert = report.registry_cert.unwrap();
    assert_eq!(cert.common_name.as_deref(), Some("192.168.6.1"));
    assert_eq!(cert.issuer, "CN=test CA, O=seedforge");
    assert_eq!(cert.not_before, SDE as i64);
    assert_eq!(cert.not_after - cert.not_before, 1825 * DAY);
    assert_eq!(cert.basic_constraints, Some((false, None)));
    assert_eq!(cert.key_usage, ["digitalSignature"]);
    assert_eq!(cert.extended_key_usage, ["serverAuth"]);
    assert!(cert.covers(&"192.168.6.1".parse().unwrap()));
    assert!(!cert.covers(&"192.168.6.2".parse().unwrap()));
}

#[test]
fn second_run_keeps_everything_and_a_new_host_reissues_only_the_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let paths = PkiPaths {
        out: dir.path().to_path_buf(),
    };
    run(&settings("192.168.6.1"), dir.path());
    let ca = std::fs::read(paths.ca_cert()).unwrap();
    let leaf = std::fs::read(paths.registry_cert()).unwrap();
    let again = run(&settings("192.168.6.1"), dir.path());
    assert_eq!(again.ca, Some(Outcome::Kept));
    assert_eq!(again.certificate, Some(Outcome::Kept));
    assert!(again.written.is_empty(), "{:?}", again.written);
    let moved = run(&settings("192.168.6.9"), dir.path());
    assert_eq!(moved.ca, Some(Outcome::Kept));
    assert!(matches!(moved.certificate, Some(Outcome::Reissued(_))));
    assert_eq!(std::fs::read(paths.ca_cert()).unwrap(), ca);
    assert_ne!(std::fs::read(paths.registry_cert()).unwrap(), leaf);
    // The old registry's certs.d entry is gone, the new one is there.
    assert!(!paths.certs_d().join("192.168.6.1_5000_").exists());
    assert!(
        paths
            .certs_d()
            .join("192.168.6.9_5000_/hosts.toml")
            .is_file()
    );
    let mut longer = settings("192.168.6.9");
    longer.cert_validity_days = 3000;
    assert!(matches!(
        run(&longer, dir.path()).certificate,
        Some(Outcome::Reissued(r)) if r.contains("3000 days")
    ));
}

#[test]
fn a_certificate_without_the_registry_host_fails_the_preflight() {
    // The field failure: a certificate for CN=localhost only.
    let dir = tempfile::tempdir().unwrap();
    let paths = PkiPaths {
        out: dir.path().to_path_buf(),
    };
    let good = settings("192.168.6.1");
    let ca = ca::resolve(&good, &paths, NOW).unwrap();
    let localhost_only = cert::resolve(&settings("localhost"), &paths, &ca, NOW).unwrap();
    let yaml = registries_yaml::render(&good);
    let err = cert::preflight(&good, &paths, &ca, &localhost_only.info, &yaml).unwrap_err();
    assert!(
        matches!(&err, PkiError::SanMissing { host, .. } if host == "192.168.6.1"),
        "{err}"
    );
    assert!(err.is_invalid_input());
    // A registries.yaml endpoint the certificate does not cover is caught too.
    let leaf = cert::resolve(&good, &paths, &ca, NOW).unwrap();
    let edited = yaml.replace("https://192.168.6.1:5000", "https://10.9.9.9:5000");
    let err = cert::preflight(&good, &paths, &ca, &leaf.info, &edited).unwrap_err();
    assert!(
        matches!(&err, PkiError::SanMissing { host, named_in, .. } if host == "10.9.9.9" && named_in.contains("registries.yaml")),
        "{err}"
    );
    cert::preflight(&good, &paths, &ca, &leaf.info, &yaml).unwrap();
}

#[test]
fn registries_yaml_parses_back_with_auth_and_rewrite() {
    let mut s = settings("registry.lab");
    s.auth = Some(("puller".into(), secret("p#ss: \"x\"")));
    s.rewrite
        .insert("^rancher/(.*)".into(), "mirror/rancher/$1".into());
    let text = registries_yaml::render(&s);
    let file = registries_yaml::parse(&text).unwrap();
    let hosts: Vec<&str> = file.mirrors.keys().map(String::as_str).collect();
    assert_eq!(hosts, ["docker.io", "quay.io", "registry.lab:5000"]);
    for (name, m) in &file.mirrors {
        assert_eq!(m.endpoint, ["https://registry.lab:5000"]);
        assert_eq!(m.rewrite.is_empty(), name == "registry.lab:5000");
    }
    let c = &file.configs["registry.lab:5000"];
    assert_eq!(
        c.tls.as_ref().unwrap().ca_file.as_deref(),
        Some("/etc/rancher/k3s/ca.crt")
    );
    let auth = c.auth.as_ref().unwrap();
    assert_eq!(auth.username.as_deref(), Some("puller"));
    assert_eq!(auth.password.as_deref(), Some("p#ss: \"x\""));
    assert!(!text.contains("token"));
    assert_eq!(
        registries_yaml::tls_hosts(&text).unwrap(),
        vec![Host::Name("registry.lab".into())]
    );
}

fn secret(value: &str) -> crate::vocab::SecretValue {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("s"), value).unwrap();
    crate::vocab::Secret::File("s".into())
        .resolve("t", &dir.path().join("c.yaml"))
        .unwrap()
}

#[test]
fn plain_http_has_no_pki_and_http_endpoints() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings("192.168.6.1");
    s.plain_http = true;
    let report = run(&s, dir.path());
    assert!(report.ca.is_none() && report.dir.is_none());
    assert!(!dir.path().join("pki").exists());
    let text = std::fs::read_to_string(dir.path().join("registries.yaml")).unwrap();
    assert!(text.contains("\"http://192.168.6.1:5000\""), "{text}");
    assert!(!text.contains("configs:"), "{text}");
}

#[test]
fn an_old_source_date_with_a_short_validity_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings("192.168.6.1");
    s.cert_validity_days = 30;
    let err = prepare(&s, dir.path(), NOW).unwrap_err();
    assert!(
        matches!(&err, PkiError::Validity { message, .. } if message.contains("registry.certificate.validity_days")),
        "{err}"
    );
    assert!(!dir.path().join("pki").exists());
}

#[test]
fn unparsable_or_half_present_state_is_an_error_and_nothing_changes() {
    let dir = tempfile::tempdir().unwrap();
    let paths = PkiPaths {
        out: dir.path().to_path_buf(),
    };
    run(&settings("192.168.6.1"), dir.path());
    std::fs::write(paths.ca_key(), "-----BEGIN PRIVATE KEY-----\nnope\n").unwrap();
    let err = prepare(&settings("192.168.6.1"), dir.path(), NOW).unwrap_err();
    assert!(
        matches!(&err, PkiError::BadPem { path, .. } if *path == paths.ca_key()),
        "{err}"
    );
    std::fs::remove_file(paths.ca_key()).unwrap();
    let err = prepare(&settings("192.168.6.1"), dir.path(), NOW).unwrap_err();
    assert!(matches!(err, PkiError::Incomplete { .. }), "{err}");
}

#[test]
fn expiry_warning_within_thirty_days() {
    let dir = tempfile::tempdir().unwrap();
    let info = run(&settings("192.168.6.1"), dir.path())
        .registry_cert
        .unwrap();
    assert!(expiry_warning("c", &info, NOW).is_none());
    let late = info.not_after - 10 * DAY;
    assert!(expiry_warning("c", &info, late).unwrap().contains("10 day"));
    assert!(
        expiry_warning("c", &info, info.not_after + 1)
            .unwrap()
            .contains("expired")
    );
}

#[test]
fn registries_yaml_for_the_embedded_mirror_alone_lists_each_registry_without_endpoints() {
    let mirrors: BTreeSet<String> = ["registry.k8s.io", "docker.io", "localhost:5000"]
        .map(String::from)
        .into();
    let text = registries_yaml::render_embedded(&mirrors);
    // k3s's documented form: each registry present under `mirrors`, nothing else.
    assert!(
        text.ends_with(
            "mirrors:\n  \"docker.io\":\n  \"localhost:5000\":\n  \"registry.k8s.io\":\n"
        ),
        "{text}"
    );
    assert!(text.lines().all(|l| l.starts_with('#') || !l.contains('*')));
    let file = registries_yaml::parse(&text).unwrap();
    assert_eq!(
        file.mirrors.keys().collect::<Vec<_>>(),
        ["docker.io", "localhost:5000", "registry.k8s.io"]
    );
    assert!(file.mirrors.values().all(|m| m.endpoint.is_empty()));
    assert!(file.configs.is_empty());
    assert!(registries_yaml::tls_hosts(&text).unwrap().is_empty());
}

#[test]
fn without_a_registry_only_registries_yaml_is_written_and_old_registry_configs_go() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings("192.168.6.1");
    s.auth = Some(("puller".into(), secret("pw")));
    run(&s, dir.path());
    let paths = PkiPaths {
        out: dir.path().to_path_buf(),
    };
    assert!(paths.registry_config().is_file() && paths.htpasswd().is_file());
    assert!(paths.certs_d().join("docker.io/hosts.toml").is_file());
    let mirrors: BTreeSet<String> = ["docker.io".to_string()].into();
    let prepared = prepare_embedded(&mirrors, dir.path());
    // Nothing is written or removed before commit.
    assert!(paths.registry_config().is_file());
    let report = commit(prepared, &crate::NoopReporter).unwrap();
    assert_eq!(report.written, [paths.registries_yaml()]);
    assert!(report.ca.is_none() && report.certificate.is_none());
    assert!(
        !dir.path().join("registry").exists(),
        "registry/ is removed"
    );
    assert!(!paths.certs_d().join("docker.io").exists());
    assert!(paths.ca_cert().is_file(), "pki/ is state and stays");
    let text = std::fs::read_to_string(paths.registries_yaml()).unwrap();
    assert_eq!(text, registries_yaml::render_embedded(&mirrors));
    // A second run changes nothing.
    let again = commit(prepare_embedded(&mirrors, dir.path()), &crate::NoopReporter).unwrap();
    assert!(again.written.is_empty() && again.removed.is_empty());
}

/// A registry's directory under certs.d is containerd's own name for it (`HOST_PORT_`,
/// which containerd looks for first), so no name under the output holds a `:`; what an
/// IPv6 address leaves is stored escaped, and maps back to the name the file says.
#[test]
fn certs_d_names_are_containerds_and_hold_no_colon() {
    for (registry, node, stored) in [
        ("docker.io", "docker.io", "docker.io"),
        ("192.168.6.1:5000", "192.168.6.1_5000_", "192.168.6.1_5000_"),
        (
            "registry.example:443",
            "registry.example_443_",
            "registry.example_443_",
        ),
        ("[fd00::1]:5000", "[fd00::1]_5000_", "[fd00%3A%3A1]_5000_"),
        ("[fd00::1]", "[fd00::1]", "[fd00%3A%3A1]"),
    ] {
        assert_eq!(hosts_toml::node_dir(registry), node, "{registry}");
        assert_eq!(hosts_toml::stored_dir(registry), stored, "{registry}");
        assert_eq!(
            crate::outpath::from_portable(stored).as_deref(),
            Some(node),
            "{registry}"
        );
    }
    let s = settings("192.168.6.1");
    let names: Vec<String> = hosts_toml::render_all(&s)
        .into_iter()
        .map(|(dir, _)| dir)
        .collect();
    assert!(
        names.contains(&"192.168.6.1_5000_".to_string()),
        "{names:?}"
    );
    assert!(names.iter().all(|n| !n.contains(':')), "{names:?}");
}

/// An output an earlier version wrote holds `certs.d/HOST:PORT/`: the build replaces it by
/// `certs.d/HOST_PORT_/` (containerd would read both, the new one first).
#[test]
fn an_earlier_colon_named_certs_d_directory_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let paths = PkiPaths {
        out: dir.path().to_path_buf(),
    };
    let old = paths.certs_d().join("192.168.6.1:5000");
    std::fs::create_dir_all(&old).unwrap();
    std::fs::write(
        old.join("hosts.toml"),
        format!("{}# Install as ...\n", hosts_toml::HEADER),
    )
    .unwrap();
    let report = run(&settings("192.168.6.1"), dir.path());
    assert!(report.removed.contains(&old), "{:?}", report.removed);
    assert!(!old.exists());
    assert!(
        paths
            .certs_d()
            .join("192.168.6.1_5000_/hosts.toml")
            .is_file()
    );
}

/// containerd 1.6 and 1.7 refuse a hosts.toml without a `[host."..."]` table (the
/// registry's own file once had only `server` and `ca`); every file has one, with the CA.
#[test]
fn hosts_toml_has_a_host_table_for_the_registry_itself_and_for_upstreams() {
    let s = settings("192.168.6.1");
    assert_eq!(
        hosts_toml::render(&s, "192.168.6.1:5000"),
        "# containerd registry host configuration written by seedforge.\n\
         # Install as /etc/containerd/certs.d/192.168.6.1_5000_/hosts.toml (containerd's name for 192.168.6.1:5000).\n\
         server = \"https://192.168.6.1:5000\"\n\
         ca = \"/etc/rancher/k3s/ca.crt\"\n\
         \n\
         [host.\"https://192.168.6.1:5000\"]\n  \
         capabilities = [\"pull\", \"resolve\"]\n  \
         ca = \"/etc/rancher/k3s/ca.crt\"\n"
    );
    assert_eq!(
        hosts_toml::render(&s, "quay.io"),
        "# containerd registry host configuration written by seedforge.\n\
         # Install as /etc/containerd/certs.d/quay.io/hosts.toml.\n\
         \n\
         [host.\"https://192.168.6.1:5000\"]\n  \
         capabilities = [\"pull\", \"resolve\"]\n  \
         ca = \"/etc/rancher/k3s/ca.crt\"\n"
    );
    let mut plain = s;
    plain.plain_http = true;
    for (host, text) in hosts_toml::render_all(&plain) {
        assert!(
            text.contains("\n[host.\"http://192.168.6.1:5000\"]\n"),
            "{host}: {text}"
        );
        assert!(!text.contains("ca ="), "{host}: {text}");
    }
}

#[test]
fn a_recorded_ca_is_kept_and_never_made_anew_unless_rotated_on_purpose() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path();
    run(&settings("192.168.6.1"), out);
    let ca = std::fs::read(out.join("pki/ca.crt")).unwrap();
    let fp = continuity::fingerprint_pem(&ca).unwrap();
    let mut s = settings("192.168.6.1");
    s.continuity.recorded.push(RecordedCa {
        recorded_in: "cfg/seedforge.lock".into(),
        fingerprint: Some(fp.clone()),
        file_sha256: None,
        certificate: Some(String::from_utf8(ca.clone()).unwrap()),
    });
    // Kept: the record is the CA in the folder.
    assert_eq!(run(&s, out).ca, Some(Outcome::Kept));
    // Lost: refused, naming the fingerprint and the record; nothing written.
    std::fs::remove_file(out.join("pki/ca.crt")).unwrap();
    std::fs::remove_file(out.join("pki/ca.key")).unwrap();
    let e = prepare(&s, out, NOW).unwrap_err();
    assert!(matches!(e, PkiError::CaWouldChange { .. }), "{e}");
    assert!(e.is_invalid_input());
    let text = e.to_string();
    for part in [
        fp.as_str(),
        "cfg/seedforge.lock",
        "--rotate-ca",
        "Restore the CA",
    ] {
        assert!(text.contains(part), "{part}: {text}");
    }
    // Rotated: the old certificate comes from the record, and the bundle holds both.
    s.continuity.rotate = true;
    let report = run(&s, out);
    let change = report.changes.ca.unwrap();
    assert_eq!(change.old, fp);
    let new = std::fs::read(out.join("pki/ca.crt")).unwrap();
    assert_eq!(change.new, continuity::fingerprint_pem(&new).unwrap());
    let bundle = std::fs::read(out.join("pki/ca-bundle.crt")).unwrap();
    assert_eq!(continuity::bundle_previous(&bundle, &new), Some(&ca[..]));
    // The next build drops the bundle; one that rebuilds the rotating output keeps it.
    s.continuity.rotate = false;
    s.continuity.keep_bundle = true;
    let p = prepare(&s, out, NOW).unwrap();
    assert!(p.node_bundle);
    s.continuity.keep_bundle = false;
    let p = prepare(&s, out, NOW).unwrap();
    assert!(!p.node_bundle);
    let report = commit(p, &crate::NoopReporter).unwrap();
    assert!(report.removed.contains(&out.join("pki/ca-bundle.crt")));
    assert!(!out.join("pki/ca-bundle.crt").exists());
}
