//! The masking of a config's lines, tested line by line and on the table of samples.

use super::*;
use crate::redact::samples;

/// Each line of `text` shown, with what must be hidden checked.
fn shown(text: &str) -> Vec<String> {
    let lines = config_lines(text, &Secrets::new());
    assert_eq!(lines.len(), text.split('\n').count(), "{text}");
    lines
}

#[test]
fn a_config_files_secret_values_are_masked_and_the_rest_kept() {
    let secrets = Secrets::new();
    secrets.register("registered-token-value-1234");
    let text = "replicas: 3\npassword: hunter2\ndbPassword: \"x\"\napiKey = abc\nAPI_TOKEN=zzz\n\"client_secret\": \"s\",\nimage: docker.io/a/b@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\nnote: registered-token-value-1234\ntoken: K10abcdef0123456789abcdef::server:abc\nkey: |\n  line one\n  line two\nafter: ok\n-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg\n-----END PRIVATE KEY-----\nblob: aGVsbG8gd29ybGQgdGhpcyBpcyBBIGxvbmcgc2VjcmV0MTIz\npasswordFile: token.txt\nempty_password: \"\"\nauthor: me\n";
    let lines = config_lines(text, &secrets);
    let joined = lines.join("\n");
    for hidden in [
        "hunter2",
        "\"x\"",
        "abc\n",
        "zzz",
        "\"s\"",
        "registered-token-value-1234",
        "K10abcdef",
        "MIIEvQIBADANBg",
        "aGVsbG8gd29y",
        "token.txt",
    ] {
        assert!(!joined.contains(hidden), "{hidden} shown: {joined}");
    }
    for shown in [
        "replicas: 3",
        "password: <redacted>",
        "dbPassword: <redacted>",
        "apiKey = <redacted>",
        "API_TOKEN=<redacted>",
        "\"client_secret\": <redacted>,",
        "@sha256:0123456789abcdef",
        "after: ok",
        "empty_password: \"\"",
        "author: me",
    ] {
        assert!(joined.contains(shown), "{shown} not shown: {joined}");
    }
    // `key: |` is not a secret key by itself; a block under a secret one is masked.
    assert!(joined.contains("  line one"), "{joined}");
    let block = config_lines("token: |\n  abc\n  def\nnext: 1", &secrets);
    assert_eq!(
        block,
        ["token: |", "  <redacted>", "  <redacted>", "next: 1"]
    );
    assert_eq!(lines.len(), text.split('\n').count());
    assert!(key_names_secret("registryPassword"));
    assert!(key_names_secret("client-secret"));
    assert!(key_names_secret("accessKey"));
    assert!(!key_names_secret("keyFile"));
    assert!(!key_names_secret("replicas"));
    assert!(!key_names_secret("passthrough"));
}

#[test]
fn every_sample_is_masked_its_line_kept_and_its_key_shown() {
    for g in [1, 2] {
        for (kind, samples) in [
            ("yaml", samples::yaml(g)),
            ("json", samples::json(g)),
            ("toml", samples::toml(g)),
        ] {
            for s in samples {
                let lines = shown(&s.text);
                let joined = lines.join("\n");
                for v in &s.values {
                    assert!(
                        !joined.contains(v.as_str()),
                        "{kind} {}: {v} shown in\n{joined}",
                        s.name
                    );
                }
                // A line that held a value still says that it is there.
                for (line, raw) in lines.iter().zip(s.text.split('\n')) {
                    if s.values.iter().any(|v| raw.contains(v.as_str())) {
                        assert!(
                            line.contains(MASK) || line.contains(crate::redact::URL_MASK),
                            "{kind} {}: {line:?}",
                            s.name
                        );
                    }
                }
            }
        }
        // Whole files, where a sample's lines meet the others.
        for file in [
            samples::yaml_file(g),
            samples::json_file(g),
            samples::toml_file(g),
        ] {
            let joined = shown(&file).join("\n");
            for (name, v) in samples::all_values(g) {
                assert!(
                    !joined.contains(v.as_str()),
                    "{name}: {v} shown in\n{joined}"
                );
            }
        }
        for k in samples::kept(g) {
            assert_eq!(shown(&k.text).join("\n"), k.text, "{}", k.name);
        }
        let file = shown(&samples::yaml_file(g)).join("\n");
        for k in samples::kept(g) {
            assert!(file.contains(&k.visible), "{}: {file}", k.name);
        }
    }
}

#[test]
fn each_shape_is_masked_by_its_shape_under_any_key() {
    for (name, v) in samples::shaped(1) {
        for text in [
            format!("note: {v}"),
            format!("- {v}"),
            format!("\"x\": \"{v}\","),
            format!("x = '{v}'"),
            format!("args: [\"--header\", \"{v}\"]"),
        ] {
            assert!(crate::redact::shapes::any(&text), "{name}: {text}");
            let line = &shown(&text)[0];
            assert!(!line.contains(v.as_str()), "{name}: {line}");
        }
    }
}

#[test]
fn the_shape_of_the_text_says_what_changed() {
    let text = "containers:\n  - name: app\n    env:\n      - name: DB_PASSWORD\n        value: hunter2\n      - name: MODE\n        value: fast\n    args: [\"--password\", \"hunter3\", \"--verbose\"]\npassword:\n  hunter4\nlevel: 2\n# token: hunter5\nkind: Secret\ndata:\n  user: aHVudGVyNg==\n  other: |\n    hunter7\nafter: 1\n";
    assert_eq!(
        shown(text),
        [
            "containers:",
            "  - name: app",
            "    env:",
            "      - name: DB_PASSWORD",
            "        value: <redacted>",
            "      - name: MODE",
            "        value: fast",
            "    args: [\"--password\", \"<redacted>\", \"--verbose\"]",
            "password:",
            "  <redacted>",
            "level: 2",
            "# token: <redacted>",
            "kind: Secret",
            "data:",
            "  user: <redacted>",
            "  other: |",
            "    <redacted>",
            "after: 1",
            "",
        ]
    );
    assert!(holds_secret(text));
    assert!(!holds_secret("replicas: 3\nimage: nginx:1.25\n"));
    // Where seedforge's config reads a secret from is shown; a secret in its place not.
    let config = "cluster:\n  token: {file: token}\n  password: {env: REGISTRY_PASSWORD}\n";
    assert!(!holds_secret(config), "{:?}", shown(config));
    assert_eq!(shown("token: {file: a, b: c}")[0], "token: <redacted>");
    assert_eq!(shown("token: {value: hunter2}")[0], "token: <redacted>");
    // Under a secret key in JSON, the brackets and what cannot be a secret stay.
    assert_eq!(
        shown(
            "\"auth\": {\n  \"basic\": true,\n  \"users\": [\n    {\n      \"name\": \"hunter8\"\n    }\n  ],\n  \"sig\": \"\"\n}"
        ),
        [
            "\"auth\": {",
            "  \"basic\": true,",
            "  \"users\": [",
            "    {",
            "      \"name\": <redacted>",
            "    }",
            "  ],",
            "  \"sig\": \"\"",
            "}"
        ]
    );
}

#[test]
fn text_beyond_ascii_is_read_whole() {
    let text = "# \u{202e} tuned\u{1b}[2K ü-----BEGIN x\nnote: µ--password ü\n- ü --token é\nkey: \"ü:é\"\nÄpassword: ö\n";
    let lines = shown(text);
    assert_eq!(lines[0], "# \u{202e} tuned\u{1b}[2K ü-----BEGIN x");
    assert_eq!(lines[2], "- ü --token <redacted>");
    assert_eq!(lines[4], "Äpassword: <redacted>");
}

#[test]
fn key_names_say_what_is_a_secret() {
    for secret in [
        "password",
        "DB_PASSWD",
        "adminPwd",
        "client-secret",
        "X-Auth-Token",
        "apiKey",
        "joinKey",
        "accessKey",
        "AccountKey",
        "access_key",
        "tlsCert",
        ".dockerconfigjson",
        "Credentials",
        "passphrase",
        "joinkey",
        "secretKeyRef",
        "SMTP_PASS",
        "sig",
    ] {
        assert!(key_names_secret(secret), "{secret}");
    }
    for name in [
        "key",
        "keyFile",
        "topologyKey",
        "publicKey",
        "replicas",
        "passthrough",
        "author",
        "name",
        "image",
        "ssh_authorized_keys",
        "configMapKeyRef",
        "value",
    ] {
        assert!(!key_names_secret(name), "{name}");
    }
}
