use super::*;

const GOOD: &str = "\
version: 1
cluster:
  name: lab
  k3s_version: v1.33.1+k3s1
  token: {env: LAB_TOKEN}
registry:
  host: 192.168.6.1
  port: 5000
images:
  lists: [images.txt]
  platforms: [linux/amd64, linux/arm64]
nodes:
  - name: s1
    role: server
    address: 192.168.6.10/24
  - name: a1
    role: agent
    address: 192.168.6.11/24
network:
  gateway: 192.168.6.1
  nameservers:
    - 192.168.6.1
";

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, Path::new("conf/seedforge.yaml"))
}

fn error_at(text: &str) -> (u64, u64, String) {
    match parse(text) {
        Err(ConfigError::Invalid {
            line,
            column,
            message,
            ..
        }) => (line, column, message),
        other => panic!("expected an Invalid error, got {other:?}"),
    }
}

#[test]
fn good_config_parses_with_defaults_resolved() {
    let c = parse(GOOD).unwrap();
    assert_eq!(c.cluster.name.as_str(), "lab");
    assert_eq!(
        c.registry.unwrap().host,
        Host::Ip("192.168.6.1".parse().unwrap())
    );
    assert!(!c.cluster.embedded_registry);
    assert_eq!(c.images.lists[0].0, Path::new("conf/images.txt"));
    assert_eq!(c.images.platforms.len(), 2);
    assert_eq!(c.images.concurrency, 4);
    assert_eq!(c.nodes[1].role, Role::Agent);
    assert_eq!(c.nodes[0].address.to_string(), "192.168.6.10/24");
    assert_eq!(c.output, Path::new("conf/out"));
    assert_eq!(c.cluster.token, Some(Secret::Env("LAB_TOKEN".into())));
}

#[test]
fn unknown_key_names_line_and_column() {
    let text = GOOD.replace("  port: 5000\n", "  port: 5000\n  bogus: 1\n");
    let (line, column, message) = error_at(&text);
    assert_eq!((line, column), (9, 3), "{message}");
    assert!(message.contains("bogus"), "{message}");
    let rendered = parse(&text).unwrap_err().to_string();
    assert!(
        rendered.starts_with("conf/seedforge.yaml:9:3: "),
        "{rendered}"
    );
}

#[test]
fn unsupported_version_points_at_it() {
    let (line, column, message) = error_at(&GOOD.replace("version: 1", "version: 2"));
    assert_eq!((line, column), (1, 10));
    assert!(message.contains("version 2"), "{message}");
}

#[test]
fn yaml_1_1_booleans_and_unquoted_number_strings_are_rejected() {
    // `k3s_version: 1.33` would silently become the string "1.33" in lax parsers.
    let (line, _, message) = error_at(&GOOD.replace("v1.33.1+k3s1", "1.33"));
    assert_eq!(line, 4, "{message}");
    let text = GOOD.replace("  port: 5000\n", "  port: yes\n");
    assert_eq!(error_at(&text).0, 8);
}

#[test]
fn duplicate_keys_are_errors() {
    let text = GOOD.replace("  port: 5000\n", "  port: 5000\n  port: 5001\n");
    let (line, _, message) = error_at(&text);
    assert_eq!(line, 9);
    assert!(message.contains("duplicate"), "{message}");
}

#[test]
fn bad_values_name_their_position() {
    let cases = [
        ("192.168.6.10/24", "192.168.6.10/40", 15),
        ("192.168.6.10/24", "192.168.6.300/24", 15),
        ("host: 192.168.6.1", "host: https://x:5000", 7),
        ("linux/arm64", "linux", 11),
        ("name: s1", "name: S_1", 13),
        ("role: agent", "role: worker", 17),
        ("  gateway: 192.168.6.1", "  gateway: 192.168.6", 20),
    ];
    for (from, to, want_line) in cases {
        let (line, _, message) = error_at(&GOOD.replacen(from, to, 1));
        assert_eq!(line, want_line, "{from} -> {to}: {message}");
    }
}

#[test]
fn duplicate_node_names_and_addresses_are_errors() {
    let text = GOOD.replace("name: a1", "name: s1");
    let (line, _, message) = error_at(&text);
    assert_eq!(line, 16);
    assert!(message.contains("used twice"), "{message}");
    let text = GOOD.replace("192.168.6.11/24", "192.168.6.10/16");
    assert!(error_at(&text).2.contains("same address"));
}

#[test]
fn nodes_need_a_server() {
    let text = GOOD.replace("role: server", "role: agent");
    assert!(error_at(&text).2.contains("role: server"));
}

#[test]
fn empty_lists_and_bad_concurrency_are_errors() {
    assert!(
        error_at(&GOOD.replace("[images.txt]", "[]"))
            .2
            .contains("at least one")
    );
    let text = GOOD.replace("  platforms:", "  concurrency: 0\n  platforms:");
    assert!(error_at(&text).2.contains("between 1 and 64"));
}

#[test]
fn secrets_must_be_indirect() {
    let (line, _, message) = error_at(&GOOD.replace("{env: LAB_TOKEN}", "K10abc::server:def"));
    assert_eq!(line, 5);
    assert!(message.contains("inline"), "{message}");
    assert!(!message.contains("K10abc"), "the secret leaked: {message}");
    for bad in ["{}", "{env: A, file: b}", "{vault: x}", "{env: ''}"] {
        let text = GOOD.replace("{env: LAB_TOKEN}", bad);
        assert!(parse(&text).is_err(), "{bad} accepted");
    }
    let c = parse(&GOOD.replace("{env: LAB_TOKEN}", "{file: token.txt}")).unwrap();
    assert_eq!(c.cluster.token, Some(Secret::File("token.txt".into())));
}

#[test]
fn secrets_resolve_without_leaking() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("seedforge.yaml");
    std::fs::write(dir.path().join("token"), "s3cret\n").unwrap();
    let value = Secret::File("token".into())
        .resolve("cluster.token", &config)
        .unwrap();
    assert_eq!(value.expose(), "s3cret");
    assert!(!format!("{value:?}").contains("s3cret"));
    let missing = Secret::Env("SEEDFORGE_TEST_SURELY_UNSET".into())
        .resolve("cluster.token", &config)
        .unwrap_err()
        .to_string();
    assert!(missing.contains("SEEDFORGE_TEST_SURELY_UNSET"), "{missing}");
    let empty_file = dir.path().join("empty");
    std::fs::write(&empty_file, "\n").unwrap();
    assert!(Secret::File("empty".into()).resolve("t", &config).is_err());
}

#[test]
fn registry_pki_keys_parse_and_bad_values_name_their_line() {
    let text = GOOD.replace(
            "  port: 5000\n",
            "  port: 5000\n  sans: [registry.lab, 10.0.0.5]\n  ca:\n    common_name: Lab CA\n    validity_days: 7300\n    import: {cert: ca.crt, key: ca.key}\n  certificate:\n    validity_days: 400\n  node_ca_path: /usr/local/share/ca-certificates/lab.crt\n  auth:\n    username: puller\n    password: {env: LAB_PULL}\n  rewrite:\n    \"^rancher/(.*)\": \"lab/rancher/$1\"\n",
        );
    let c = parse(&text).unwrap();
    let r = c.registry.as_ref().unwrap();
    assert_eq!(r.sans.len(), 2);
    assert_eq!(r.ca.validity_days, Some(ValidityDays(7300)));
    assert_eq!(r.certificate.validity_days, Some(ValidityDays(400)));
    assert_eq!(
        r.ca.import.as_ref().unwrap().key.as_path(),
        Path::new("ca.key")
    );
    assert_eq!(r.node_ca_path.0, "/usr/local/share/ca-certificates/lab.crt");
    assert_eq!(
        r.auth.as_ref().unwrap().password,
        Secret::Env("LAB_PULL".into())
    );
    assert_eq!(r.rewrite["^rancher/(.*)"], "lab/rancher/$1");
    assert!(!r.plain_http);
    let d = parse(GOOD).unwrap().registry.unwrap();
    assert_eq!(d.node_ca_path.0, DEFAULT_NODE_CA_PATH);
    for (from, to, want) in [
        ("validity_days: 400", "validity_days: 0", 15),
        ("node_ca_path: /usr", "node_ca_path: usr", 16),
        ("[registry.lab, 10.0.0.5]", "[\"http://x\"]", 9),
        ("    password: {env: LAB_PULL}", "    password: hunter2", 19),
        ("common_name: Lab CA", "common_name: \"\"", 11),
    ] {
        let (line, _, message) = error_at(&text.replace(from, to));
        assert_eq!(line, want, "{from} -> {to}: {message}");
    }
    let (_, _, message) = error_at(&text.replace("  certificate:", "  certificat:"));
    assert!(message.contains("certificat"), "{message}");
}

#[test]
fn ipv6_and_dns_registry_hosts() {
    let c = parse(&GOOD.replace("host: 192.168.6.1", "host: \"fd00::1\"")).unwrap();
    assert_eq!(c.registry.unwrap().host.to_string(), "[fd00::1]");
    let c = parse(&GOOD.replace("host: 192.168.6.1", "host: Registry.Lab")).unwrap();
    assert_eq!(c.registry.unwrap().host.to_string(), "registry.lab");
}

/// GOOD without its `registry:` section (lines 6-8).
fn without_registry(text: &str) -> String {
    text.replace("registry:\n  host: 192.168.6.1\n  port: 5000\n", "")
}

#[test]
fn embedded_registry_parses_and_makes_the_registry_optional() {
    let with = GOOD.replace("  token:", "  embedded_registry: true\n  token:");
    let c = parse(&with).unwrap();
    assert!(c.cluster.embedded_registry);
    assert!(c.registry.is_some(), "a registry section stays usable");
    let c = parse(&without_registry(&with)).unwrap();
    assert!(c.cluster.embedded_registry);
    assert!(c.registry.is_none());
    let c = parse(&GOOD.replace("  token:", "  embedded_registry: false\n  token:")).unwrap();
    assert!(!c.cluster.embedded_registry);
    // Strict as every boolean: YAML 1.1's `yes` is refused at its line.
    let (line, _, message) =
        error_at(&GOOD.replace("  token:", "  embedded_registry: yes\n  token:"));
    assert_eq!(line, 5, "{message}");
}

#[test]
fn allow_downgrade_is_off_unless_set_and_strict() {
    assert!(!parse(GOOD).unwrap().cluster.allow_downgrade);
    let with = GOOD.replace("  token:", "  allow_downgrade: true\n  token:");
    assert!(parse(&with).unwrap().cluster.allow_downgrade);
    let (line, _, message) =
        error_at(&GOOD.replace("  token:", "  allow_downgrade: \"true\"\n  token:"));
    assert_eq!(line, 5, "{message}");
    // A misspelt key stays an error, naming the one meant.
    let (line, _, message) =
        error_at(&GOOD.replace("  token:", "  allow_downgrades: true\n  token:"));
    assert_eq!(line, 5, "{message}");
    assert!(message.contains("allow_downgrade"), "{message}");
}

#[test]
fn upgrade_from_is_a_strict_k3s_release_and_refuses_a_skipped_minor_at_k3s_version() {
    assert_eq!(parse(GOOD).unwrap().cluster.upgrade_from, None);
    // One minor ahead, a patch, the same release, a downgrade (checked elsewhere): read.
    for from in [
        "v1.32.10+k3s1",
        "v1.33.0+k3s1",
        "v1.33.1+k3s1",
        "v1.35.1+k3s1",
    ] {
        let with = GOOD.replace("  token:", &format!("  upgrade_from: {from}\n  token:"));
        let config = parse(&with).unwrap();
        assert_eq!(config.cluster.upgrade_from.as_deref(), Some(from));
    }
    for bad in [
        "1.33.1",
        "v1.33.1",
        "v1.33.1+k3s",
        "v1.33.1-rc1+k3s1",
        "v2.0.0+k3s1",
        "latest",
        "true",
        "\"\"",
    ] {
        let with = GOOD.replace("  token:", &format!("  upgrade_from: {bad}\n  token:"));
        let (line, _, message) = error_at(&with);
        assert_eq!(line, 5, "{bad}: {message}");
        if bad != "true" {
            assert!(message.contains("upgrade_from"), "{bad}: {message}");
        }
    }
    // Two minors behind: refused at cluster.k3s_version's line, naming the minor between.
    let with = GOOD.replace("  token:", "  upgrade_from: v1.31.4+k3s1\n  token:");
    let (line, column, message) = error_at(&with);
    assert_eq!((line, column), (4, 3), "{message}");
    for said in [
        "cluster.k3s_version: k3s v1.31.4+k3s1 (cluster.upgrade_from, the far side's) -> v1.33.1+k3s1 (cluster.k3s_version) skips the minor 1.32 (newest release known here: v1.32.10+k3s1)",
        "first with cluster.k3s_version: v1.32.10+k3s1",
    ] {
        assert!(message.contains(said), "{said}: {message}");
    }
}

#[test]
fn without_embedded_registry_the_registry_section_is_required() {
    let (line, _, message) = error_at(&without_registry(GOOD));
    assert_eq!(line, 1, "{message}");
    assert!(message.contains("missing field `registry`"), "{message}");
    assert!(message.contains("embedded_registry"), "{message}");
}

#[test]
fn embedded_registry_on_a_release_before_its_ga_names_the_version_line() {
    let text = GOOD
        .replace("v1.33.1+k3s1", "v1.30.7+k3s1")
        .replace("  token:", "  embedded_registry: true\n  token:");
    let (line, column, message) = error_at(&text);
    assert_eq!((line, column), (4, 3), "{message}");
    assert!(message.contains("v1.30.7+k3s1"), "{message}");
    assert!(message.contains("needs k3s v1.30.8+k3s1"), "{message}");
    let rendered = parse(&text).unwrap_err().to_string();
    assert!(
        rendered.starts_with("conf/seedforge.yaml:4:3: "),
        "{rendered}"
    );
    // The same release without the mirror is fine; the line's first GA release too.
    parse(&GOOD.replace("v1.33.1+k3s1", "v1.30.7+k3s1")).unwrap();
    parse(&text.replace("v1.30.7+k3s1", "v1.30.8+k3s1")).unwrap();
}

#[test]
fn quoted_booleans_and_numbers_are_refused_at_their_position() {
    let text = GOOD.replace("  token:", "  embedded_registry: \"true\"\n  token:");
    let (line, column, message) = error_at(&text);
    assert_eq!((line, column), (5, 22), "{message}");
    assert_eq!(
        message,
        "expected a boolean, found the string \"true\" (remove the quotes)"
    );
    let text = GOOD.replace("  port: 5000", "  port: '5000'");
    let (line, column, message) = error_at(&text);
    assert_eq!((line, column), (8, 9), "{message}");
    assert!(
        message.contains("expected an integer, found the string \"5000\" (remove the quotes)"),
        "{message}"
    );
    for (key, value) in [
        ("version", "\"1\""),
        ("source_date_epoch", "\"1700000000\""),
    ] {
        let text = if key == "version" {
            GOOD.replace("version: 1", &format!("version: {value}"))
        } else {
            format!("{GOOD}{key}: {value}\n")
        };
        let (_, _, message) = error_at(&text);
        assert!(message.contains("(remove the quotes)"), "{key}: {message}");
    }
    let text = format!("{GOOD}airgap:\n  compression: zstd\n  level: \"3\"\n");
    let (line, column, message) = error_at(&text);
    assert_eq!((line, column), (25, 10), "{message}");
    assert!(message.contains("expected an integer"), "{message}");
    let text = GOOD.replace("  platforms:", "  concurrency: \"8\"\n  platforms:");
    assert!(error_at(&text).2.contains("(remove the quotes)"));
    let text = GOOD.replace("  port: 5000", "  port: 5000\n  plain_http: 'false'");
    assert!(error_at(&text).2.contains("found the string \"false\""));
    // Unquoted, the same values are read.
    let c = parse(&format!("{GOOD}airgap:\n  compression: zstd\n  level: 3\n")).unwrap();
    assert_eq!(c.airgap_level, 3);
    // Strings stay strings when quoted: a name that looks like a number.
    parse(&GOOD.replace("name: s1", "name: \"s1\"")).unwrap();
}

#[test]
fn registries_entries_are_checked_at_their_line() {
    let with = |entries: &str| format!("{GOOD}registries:\n{entries}");
    // Lines: GOOD is 22 lines, `registries:` the 23rd.
    let twice = with(
        "  - host: registry.example:5000\n    insecure: true\n  - host: Registry.example:5000\n",
    );
    let (line, column, message) = error_at(&twice);
    assert_eq!((line, column), (26, 11), "{message}");
    assert!(
        message.contains("listed twice (first at line 24)"),
        "{message}"
    );
    let (line, _, message) = error_at(&with(
        "  - host: registry.example\n    password: {env: PULL}\n",
    ));
    assert_eq!(line, 25, "{message}");
    assert!(message.contains("password without a username"), "{message}");
    for (host, why) in [
        ("registry.example:0", "port 0"),
        ("\"\"", "empty"),
        ("registry.example/path", "without a path"),
    ] {
        let (line, _, message) = error_at(&with(&format!("  - host: {host}\n")));
        assert_eq!(line, 24, "{host}: {message}");
        assert!(message.contains(why), "{host}: {message}");
    }
    let c = parse(&with(
            "  - host: a.example:5000\n    username: u\n    password: {env: P}\n  - host: https://b.example/v2/\n",
        ))
        .unwrap();
    assert_eq!(c.registries.len(), 2);
}

#[test]
fn package_repository_urls_are_checked_at_their_line() {
    let with = |repos: &str| {
        format!(
            "{GOOD}packages:\n  - name: ops\n    packages: [jq]\n    repo: {{url: http://a/debian, suite: bookworm}}\n    repos:\n{repos}"
        )
    };
    for (url, why) in [
        ("ftp://a/debian", "only file:, http:// and https://"),
        ("\"\"", "empty"),
        ("http://a:0/debian", "port"),
    ] {
        let text = with(&format!(
            "      - {{url: http://b/debian, suite: bookworm}}\n      - url: {url}\n        suite: bookworm\n"
        ));
        let (line, column, message) = error_at(&text);
        assert_eq!((line, column), (29, 14), "{url}: {message}");
        assert!(
            message.starts_with("packages[0].repos[1].url: "),
            "{message}"
        );
        assert!(message.contains(why), "{url}: {message}");
    }
    let text = with("      - {url: http://b/debian, suite: bookworm}\n")
        .replace("url: http://a/debian", "url: ftp://a/debian");
    let (line, column, message) = error_at(&text);
    assert_eq!((line, column), (26, 17), "{message}");
    assert!(message.starts_with("packages[0].repo.url: "), "{message}");
    parse(&with(
        "      - {url: \"file:///srv/mirror\", suite: bookworm}\n",
    ))
    .unwrap();
}

#[test]
fn numbers_of_the_wrong_kind_or_range_are_refused_at_the_value() {
    for (value, want) in [
        ("70000", "70000 is out of range: expected u16 (0..=65535)"),
        ("-1", "-1 is out of range"),
        ("1.5", "expected an integer, found the number 1.5"),
        ("true", "expected an integer, found the boolean true"),
        ("[1]", "expected an integer, found a list"),
        ("five", "expected an integer, found \"five\""),
    ] {
        let (line, column, message) =
            error_at(&GOOD.replace("port: 5000", &format!("port: {value}")));
        assert_eq!((line, column), (8, 9), "{value}: {message}");
        assert!(message.contains(want), "{value}: {message}");
    }
    let (_, _, message) = error_at(&GOOD.replace("  port: 5000", "  port: 5000\n  plain_http: 1"));
    assert!(
        message.contains("expected a boolean, found the number 1"),
        "{message}"
    );
}

#[test]
fn a_payload_url_with_port_0_is_refused_at_its_line() {
    let text = format!(
        "{GOOD}files:\n  - name: bin/k3s\n    source: http://mirror.example:0/k3s\n    sha256: \"{}\"\n",
        "0".repeat(64)
    );
    let (line, column, message) = error_at(&text);
    assert_eq!((line, column), (25, 13), "{message}");
    assert!(
        message.contains("files[0].source: the URL's port \"0\""),
        "{message}"
    );
    parse(&text.replace(":0/", ":8080/")).unwrap();
}

#[test]
fn charts_and_manifests_parse_with_defaults_and_bad_ones_name_their_position() {
    let with = |charts: &str| format!("{GOOD}charts:\n{charts}");
    // GOOD is 22 lines: `charts:` is line 23, the first entry line 24.
    let c = parse(&format!(
            "{}manifests:\n  - manifests/\n  - extra.yaml\n",
            with("  - name: demo\n    repo: https://charts.example.com/\n    version: 1.2.3\n  - name: cni\n    repo: oci://registry.example:5000/charts\n    chart: cilium\n    version: v1.16.0\n    namespace: kube-system\n    values: cni/values.yaml\n")
        ))
        .unwrap();
    let (demo, cni) = (&c.charts[0], &c.charts[1]);
    assert_eq!(demo.chart, "demo");
    assert_eq!(demo.namespace, "default");
    assert_eq!(demo.values, None);
    assert_eq!(
        demo.repo,
        crate::charts::ChartRepo::Http("https://charts.example.com".into())
    );
    assert_eq!(demo.file_name(), "demo-1.2.3.tgz");
    assert_eq!(cni.chart, "cilium");
    assert_eq!(cni.namespace, "kube-system");
    assert_eq!(
        cni.values.as_deref(),
        Some(Path::new("conf/cni/values.yaml"))
    );
    assert_eq!(c.manifests[0].0, Path::new("conf/manifests/"));
    assert_eq!(c.manifests[1].1.line, 35);
    let entry = "  - name: demo\n    repo: https://charts.example.com\n    version: 1.2.3\n";
    for (from, to, want, why) in [
        ("version: 1.2.3", "version: ^1.2.0", (26, 14), "is a range"),
        (
            "version: 1.2.3",
            "version: latest",
            (26, 14),
            "not a version",
        ),
        ("version: 1.2.3", "version: \"\"", (26, 14), "is empty"),
        ("version: 1.2.3", "version: 1.2.x", (26, 14), "is a range"),
        ("name: demo", "name: Demo_App", (24, 11), "not a valid name"),
        (
            "https://charts.example.com",
            "ftp://charts",
            (25, 11),
            "https://",
        ),
    ] {
        let (line, column, message) = error_at(&with(&entry.replace(from, to)));
        assert_eq!((line, column), want, "{to}: {message}");
        assert!(message.contains(why), "{to}: {message}");
    }
    let (line, _, message) = error_at(&with(&format!("{entry}{entry}")));
    assert_eq!(line, 27, "{message}");
    assert!(
        message.contains("used twice (first at line 24)"),
        "{message}"
    );
    let (line, _, message) = error_at(&with(
        &entry.replace("    version:", "    versoin: x\n    version:"),
    ));
    assert_eq!(line, 26, "{message}");
    let (_, _, message) = error_at(&with(entry.strip_suffix("    version: 1.2.3\n").unwrap()));
    assert!(message.contains("version"), "{message}");
}

#[test]
fn every_path_field_refuses_a_windows_path_naming_the_field_at_its_value() {
    let registry = "registry:\n  host: 192.168.6.1\n  port: 5000\n";
    let chart = "charts:\n  - name: demo\n    repo: https://charts.example\n    version: 1.2.3\n";
    for (from, to, field, at) in [
        (
            registry,
            "registry:\n  host: 192.168.6.1\n  port: 5000\n  ca:\n    import: {cert: ca.crt, key: 'C:\\ca.key'}\n",
            "registry.ca.import.key",
            (10, 33),
        ),
        (
            "  token: {env: LAB_TOKEN}",
            "  token: {file: 'lab\\token'}",
            "cluster.token.file",
            (5, 17),
        ),
    ] {
        let (line, column, message) = error_at(&GOOD.replace(from, to));
        assert_eq!((line, column), at, "{field}: {message}");
        assert!(message.starts_with(&format!("{field}: '")), "{message}");
        assert!(message.contains("Windows"), "{message}");
    }
    for (extra, field, at) in [
        (
            format!("{chart}    values: 'C:\\demo\\values.yaml'\n"),
            "charts[0].values",
            (27, 13),
        ),
        (
            "manifests:\n  - ok.yaml\n  - '\\\\server\\share\\m.yaml'\n".to_string(),
            "manifests[1]",
            (25, 5),
        ),
        ("output: 'c:out'\n".to_string(), "output", (23, 9)),
    ] {
        let (line, column, message) = error_at(&format!("{GOOD}{extra}"));
        assert_eq!((line, column), at, "{field}: {message}");
        assert!(message.starts_with(&format!("{field}: '")), "{message}");
    }
    // A Linux path with a colon is no Windows path.
    parse(&format!("{GOOD}{chart}    values: ./c:values.yaml\n")).unwrap();
}

#[test]
fn missing_chart_values_and_manifests_are_refused_at_their_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("images.txt"), "").unwrap();
    let config = dir.path().join("seedforge.yaml");
    let base = format!(
        "{GOOD}charts:\n  - name: demo\n    repo: https://charts.example.com\n    version: 1.2.3\n    values: demo.yaml\nmanifests:\n  - manifests\n"
    );
    std::fs::write(&config, &base).unwrap();
    let err = Config::load(&config).unwrap_err().to_string();
    assert!(err.contains("seedforge.yaml:27:"), "{err}");
    assert!(err.contains("charts[0].values"), "{err}");
    std::fs::write(dir.path().join("demo.yaml"), "replicaCount: 2\n").unwrap();
    let err = Config::load(&config).unwrap_err().to_string();
    assert!(err.contains("seedforge.yaml:29:5: manifests: "), "{err}");
    std::fs::create_dir(dir.path().join("manifests")).unwrap();
    let c = Config::load(&config).unwrap();
    assert_eq!(c.charts.len(), 1);
}

/// `path:` names a chart beside the config: exclusive with `repo:`, `version:` optional,
/// relative to the config file; each misuse is refused at the entry's line.
#[test]
fn a_chart_path_is_exclusive_with_repo_and_relative_at_its_line() {
    let with = |charts: &str| format!("{GOOD}charts:\n{charts}");
    let c = parse(&with(
        "  - name: site\n    path: ./charts/site/\n  - name: packed\n    path: ../shared/packed-1.0.0.tgz\n    version: 1.0.0\n",
    ))
    .unwrap();
    let (site, packed) = (&c.charts[0], &c.charts[1]);
    assert_eq!(
        site.repo,
        crate::charts::ChartRepo::Local {
            path: Path::new("conf/./charts/site/").to_path_buf(),
            shown: "charts/site".into()
        }
    );
    assert_eq!((site.chart.as_str(), site.version.as_str()), ("", ""));
    assert_eq!(packed.repo.to_string(), "../shared/packed-1.0.0.tgz");
    assert_eq!(packed.version, "1.0.0");
    // GOOD is 22 lines: the entry is line 24.
    for (entry, why) in [
        (
            "  - name: demo\n    repo: https://charts.example.com\n    path: charts/demo\n    version: 1.2.3\n",
            "not both",
        ),
        ("  - name: demo\n    version: 1.2.3\n", "give repo:"),
        (
            "  - name: demo\n    repo: https://charts.example.com\n",
            "version: is needed",
        ),
        (
            "  - name: demo\n    path: /srv/charts/demo\n",
            "relative to the config file",
        ),
        ("  - name: demo\n    path: ./\n", "path: is empty"),
    ] {
        let (line, column, message) = error_at(&with(entry));
        assert_eq!((line, column), (24, 5), "{entry}: {message}");
        assert!(message.contains(why), "{entry}: {message}");
    }
    // Whether it exists is the chart step's to say (an offline build does not read it).
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("images.txt"), "").unwrap();
    let config = dir.path().join("seedforge.yaml");
    std::fs::write(&config, with("  - name: site\n    path: charts/site\n")).unwrap();
    Config::load(&config).unwrap();
}

fn with_verify(verify: &str) -> String {
    GOOD.replace(
        "  platforms: [linux/amd64, linux/arm64]\n",
        &format!("  platforms: [linux/amd64, linux/arm64]\n  verify:\n{verify}"),
    )
}

#[test]
fn keyless_identities_parse_with_a_trusted_root() {
    let c = parse(&with_verify(
        "    identities:\n      - issuer: https://accounts.google.com\n        subject: krel-trust@k8s-releng-prod.iam.gserviceaccount.com\n      - issuer_regexp: '^https://token\\.actions\\.githubusercontent\\.com$'\n        subject_regexp: '^https://github\\.com/org/'\n    trusted_root: trusted_root.json\n    require: always\n",
    ))
    .unwrap();
    let v = c.images.verify.unwrap();
    assert!(v.keys.is_empty());
    assert_eq!(v.identities.len(), 2);
    assert_eq!(
        v.identities[0].value.issuer.as_deref(),
        Some("https://accounts.google.com")
    );
    assert!(v.identities[1].value.subject_regexp.is_some());
    assert_eq!(
        v.trusted_root.unwrap().value.as_os_str(),
        "trusted_root.json"
    );
}

#[test]
fn identities_without_a_trusted_root_or_incomplete_are_errors_at_their_line() {
    // verify: is line 12; the first identity at line 14.
    let (line, _, message) = error_at(&with_verify(
        "    identities:\n      - issuer: https://issuer.example\n        subject: dev@example.com\n",
    ));
    assert_eq!(line, 14, "{message}");
    assert!(message.contains("trusted_root"), "{message}");
    let (line, _, message) = error_at(&with_verify(
        "    trusted_root: t.json\n    identities:\n      - issuer: https://issuer.example\n      - subject: dev@example.com\n        issuer_regexp: x\n        issuer: y\n",
    ));
    assert_eq!(line, 15, "{message}");
    assert!(message.contains("needs subject"), "{message}");
    let (line, _, message) = error_at(&with_verify(
        "    trusted_root: t.json\n    identities:\n      - subject: dev@example.com\n        issuer_regexp: x\n        issuer: y\n",
    ));
    assert_eq!(line, 15, "{message}");
    assert!(message.contains("both"), "{message}");
    let (line, _, message) = error_at(&with_verify(
        "    trusted_root: t.json\n    identities:\n      - subject: dev@example.com\n        no_issuer: true\n        issuer: y\n",
    ));
    assert_eq!(line, 15, "{message}");
    assert!(message.contains("no_issuer"), "{message}");
    // A 2021 certificate's signer, explicitly without an issuer.
    let c = parse(&with_verify(
        "    trusted_root: t.json\n    identities:\n      - subject: dev@example.com\n        no_issuer: true\n",
    ))
    .unwrap();
    let id = c.images.verify.unwrap().identities[0]
        .value
        .to_identity()
        .unwrap();
    assert_eq!(id.issuer, crate::trust::keyless::IssuerMatch::Absent);
    // Neither keys nor identities.
    let (line, _, message) = error_at(&with_verify("    require: always\n"));
    assert_eq!(line, 13, "{message}");
    assert!(message.contains("keys:, identities:"), "{message}");
}

#[test]
fn chart_images_are_checked_by_default_and_added_when_asked() {
    let entry =
        "charts:\n  - name: demo\n    repo: https://charts.example.com\n    version: 1.2.3\n";
    let c = parse(&format!("{GOOD}{entry}")).unwrap();
    assert_eq!(c.images.from_charts, crate::charts::ImagesMode::Check);
    assert_eq!(c.charts[0].images, None);
    let c = parse(&format!("{GOOD}{entry}    images: add\n")).unwrap();
    assert_eq!(c.charts[0].images, Some(crate::charts::ImagesMode::Add));
    let all = GOOD.replace("images:\n", "images:\n  from_charts: add\n");
    assert_ne!(all, GOOD);
    let c = parse(&format!("{all}{entry}")).unwrap();
    assert_eq!(c.images.from_charts, crate::charts::ImagesMode::Add);
    let err = parse(&format!("{GOOD}{entry}    images: mirror\n"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("check") && err.contains("add"), "{err}");
}

/// GOOD upgraded from v1.33.1 to v1.36.2 through `path`, with `files` (name, line each).
fn upgrade(path: &str, files: &[&str]) -> String {
    let mut text = GOOD
        .replace("k3s_version: v1.33.1+k3s1", "k3s_version: v1.36.2+k3s1")
        .replace(
            "  token:",
            &format!("  upgrade_from: v1.33.1+k3s1\n{path}  token:"),
        );
    if !files.is_empty() {
        text.push_str("files:\n");
        for name in files {
            text.push_str(&format!(
                "  - name: {name}\n    source: k3s\n    sha256: \"{}\"\n",
                "0".repeat(64)
            ));
        }
    }
    text
}

#[test]
fn upgrade_path_resolves_the_hops_and_each_needs_its_binary() {
    const HOPS: [&str; 2] = ["hops/v1.34.2+k3s1/k3s", "hops/v1.35.1+k3s1/k3s"];
    let listed = "  upgrade_path: [v1.34.2+k3s1, v1.35.1+k3s1]\n";
    let config = parse(&upgrade(listed, &HOPS)).unwrap();
    assert_eq!(config.cluster.hops, ["v1.34.2+k3s1", "v1.35.1+k3s1"]);
    let auto = ["hops/v1.34.5+k3s1/k3s", "hops/v1.35.4+k3s1/k3s"];
    let config = parse(&upgrade("  upgrade_path: auto\n", &auto)).unwrap();
    assert_eq!(config.cluster.hops, ["v1.34.5+k3s1", "v1.35.4+k3s1"]);
    // Without a path: refused at k3s_version, naming the fix.
    let (line, column, message) = error_at(&upgrade("", &[]));
    assert_eq!((line, column), (4, 3), "{message}");
    for said in [
        "skips the minors 1.34",
        "cluster.upgrade_path: auto (the hops v1.34.5+k3s1, v1.35.4+k3s1)",
        "cluster.upgrade_path: [v1.34.5+k3s1, v1.35.4+k3s1]",
    ] {
        assert!(message.contains(said), "{said}: {message}");
    }
    // A bad path: refused at upgrade_path's line.
    for (path, said) in [
        (
            "[v1.34.3+k3s1, v1.35.1+k3s1]",
            "nearest known: v1.34.2+k3s1, v1.34.5+k3s1",
        ),
        ("[v1.35.1+k3s1, v1.34.2+k3s1]", "is not newer than"),
        (
            "[v1.34.2+k3s1]",
            "skips the minor 1.35 (newest release known here: v1.35.4+k3s1)",
        ),
    ] {
        let (line, column, message) =
            error_at(&upgrade(&format!("  upgrade_path: {path}\n"), &HOPS));
        assert_eq!((line, column), (6, 3), "{path}: {message}");
        assert!(message.starts_with("cluster.upgrade_path: "), "{message}");
        assert!(message.contains(said), "{said}: {message}");
    }
    for bad in ["latest", "[v1.34.2]", "[1.34.2+k3s1]"] {
        let (line, _, message) = error_at(&upgrade(&format!("  upgrade_path: {bad}\n"), &HOPS));
        assert_eq!(line, 6, "{bad}: {message}");
        assert!(message.contains("upgrade_path"), "{bad}: {message}");
    }
    // No upgrade_from: refused at the path.
    let text = GOOD.replace("  token:", "  upgrade_path: auto\n  token:");
    let (line, _, message) = error_at(&text);
    assert_eq!(line, 5, "{message}");
    assert!(message.contains("needs cluster.upgrade_from"), "{message}");
    // A hop without its binary; an entry under hops/ of no hop, or not a binary.
    let (line, _, message) = error_at(&upgrade(listed, &HOPS[..1]));
    assert_eq!(line, 6, "{message}");
    assert!(
        message.contains("the hop v1.35.1+k3s1 needs its k3s binary: add a files entry named \"hops/v1.35.1+k3s1/k3s\""),
        "{message}"
    );
    for extra in ["hops/v1.35.4+k3s1/k3s", "hops/v1.34.2+k3s1/other"] {
        let (line, _, message) = error_at(&upgrade(listed, &[HOPS[0], HOPS[1], extra]));
        assert_eq!(line, 32, "{extra}: {message}");
        assert!(message.contains(extra), "{message}");
    }
}
