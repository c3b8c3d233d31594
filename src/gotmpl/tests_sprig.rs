//! Sprig 3.2.3's tests (MIT licence), the data file tests/gotmpl/sprig_tests.jsonl
//! extracted by tests/gotmpl/extract_sprig.py.

use super::*;

/// Cases of Sprig's tests this engine does not support, with why.
const SPRIG_UNSUPPORTED: &[(&str, &str)] = &[
    (
        "crypto_test.go:TestEncryptDecryptAES#1",
        "encryptAES/decryptAES are not provided (no chart renders images through them)",
    ),
    (
        "date_test.go:TestToDate#1",
        "dates are a fixed clock: toDate does not parse, it gives the fixed instant",
    ),
    (
        "functions_test.go:TestEnv#1",
        "env is not in Helm's function map (Helm removes it)",
    ),
    (
        "functions_test.go:TestExpandEnv#1",
        "expandenv is not in Helm's function map (Helm removes it)",
    ),
    (
        "functions_test.go:TestCamelCase#2",
        "camelcase keeps no leading or doubled underscores (xstrings' rules not ported)",
    ),
    (
        "functions_test.go:TestCamelCase#4",
        "camelcase keeps no leading or doubled underscores (xstrings' rules not ported)",
    ),
    (
        "functions_test.go:TestShuffle#1",
        "shuffle is deterministic here (seeded from its argument), not Go's math/rand sequence",
    ),
    (
        "numeric_test.go:TestMulf#1",
        "mulf and friends compute in float64, not Sprig's decimal arithmetic (shopspring/decimal)",
    ),
    (
        "semver_test.go:TestSemver#3",
        "semver gives a map of its parts, not an object with methods (Compare)",
    ),
    (
        "semver_test.go:TestSemver#4",
        "semver gives a map of its parts, not an object with methods (Compare)",
    ),
    (
        "semver_test.go:TestSemver#5",
        "semver gives a map of its parts, not an object with methods (Compare)",
    ),
];

#[test]
fn sprig_tests() {
    let text = include_str!("../../tests/gotmpl/sprig_tests.jsonl");
    let (mut passed, mut listed, mut failed) = (0, 0, Vec::new());
    for line in text.lines().skip(1) {
        let case: serde_json::Value = serde_json::from_str(line).unwrap();
        let name = case["name"].as_str().unwrap();
        let input = case["input"].as_str().unwrap();
        let want = case["output"].as_str().unwrap();
        let reason = SPRIG_UNSUPPORTED.iter().find(|(n, _)| *n == name);
        // Sprig's runt: the template with Sprig's functions, data an empty map.
        let mut s = TemplateSet::new(Limits::default());
        s.set_missing_key(MissingKey::Invalid);
        s.set_strip_no_value(false);
        let got = s
            .parse("t", input)
            .and_then(|_| s.execute("t", &Value::new_map()));
        let good = matches!(&got, Ok(out) if out == want);
        match (good, reason) {
            (true, None) => passed += 1,
            (true, Some(_)) => failed.push(format!("{name}: listed as not supported but passes")),
            (false, Some(_)) => listed += 1,
            (false, None) => failed.push(format!("{name}: {input:?} want {want:?}, got {got:?}")),
        }
    }
    eprintln!("Sprig tests: {passed} pass, {listed} listed as not supported");
    assert!(
        failed.is_empty(),
        "{} failures:\n{}",
        failed.len(),
        failed.join("\n")
    );
}

/// A template run as Sprig's `runtv` runs it: Sprig's functions, the data given.
fn runtv(t: &str, data: serde_json::Value) -> Result<String, Error> {
    let mut s = TemplateSet::new(Limits::default());
    s.set_missing_key(MissingKey::Invalid);
    s.set_strip_no_value(false);
    s.parse("t", t)?;
    s.execute("t", &Value::from_json(&data, Numbers::IntWhenWhole))
}

fn ok(t: &str, data: serde_json::Value) -> String {
    runtv(t, data).unwrap_or_else(|e| panic!("{t}: {e}"))
}

/// Sprig's cases that run with data or compute their expectation (the extractor takes only
/// literal ones), ported by hand; a `time.Time` as data has no counterpart here.
#[test]
fn sprig_cases_with_data() {
    use serde_json::json;
    // date_test.go TestDateInZone: the Unix-seconds inputs, and an unknown zone (UTC).
    for zone in ["UTC", "foobar"] {
        let t = format!(r#"{{{{ date_in_zone "02 Jan 06 15:04 -0700" .Time "{zone}" }}}}"#);
        assert_eq!(ok(&t, json!({"Time": 1560458379})), "13 Jun 19 20:39 +0000");
    }
    // TestDuration.
    for (secs, want) in [("61", "1m1s"), ("3600", "1h0m0s"), ("93784", "26h3m4s")] {
        assert_eq!(ok("{{ duration .Secs }}", json!({"Secs": secs})), want);
    }
    // TestDurationRound.
    for (d, want) in [("2h5s", "2h"), ("24h5s", "1d"), ("2400h5s", "3mo")] {
        assert_eq!(ok("{{ durationRound .Time }}", json!({"Time": d})), want);
    }
    // strings_test.go TestBase32: b32dec of base32.StdEncoding's "coffee".
    assert_eq!(ok(r#"{{b32dec "MNXWMZTFMU======"}}"#, json!({})), "coffee");
    // url_test.go TestUrlJoin: urlJoin of each urlTests dict gives its URL.
    for (want, d) in [
        (
            "proto://auth@host:80/path?query#fragment",
            json!({"fragment": "fragment", "host": "host:80", "hostname": "host", "opaque": "", "path": "/path", "query": "query", "scheme": "proto", "userinfo": "auth"}),
        ),
        (
            "proto://host:80/path",
            json!({"fragment": "", "host": "host:80", "hostname": "host", "opaque": "", "path": "/path", "query": "", "scheme": "proto", "userinfo": ""}),
        ),
        (
            "something",
            json!({"fragment": "", "host": "", "hostname": "", "opaque": "", "path": "something", "query": "", "scheme": "", "userinfo": ""}),
        ),
        (
            "proto://user:passwor%20d@host:80/path",
            json!({"fragment": "", "host": "host:80", "hostname": "host", "opaque": "", "path": "/path", "query": "", "scheme": "proto", "userinfo": "user:passwor%20d"}),
        ),
        (
            "proto://host:80/pa%20th?key=val%20ue",
            json!({"fragment": "", "host": "host:80", "hostname": "host", "opaque": "", "path": "/pa th", "query": "key=val%20ue", "scheme": "proto", "userinfo": ""}),
        ),
    ] {
        assert_eq!(ok("{{ urlJoin .U }}", json!({"U": d})), want);
    }
    // crypto_test.go TestRandBytes: 12 bytes, base64 (not random here: see below).
    use base64::Engine as _;
    let out = ok("{{randBytes 12}}", json!({}));
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(&out)
        .unwrap();
    assert_eq!(bytes.len(), 12);
    // defaults_test.go TestToPrettyJson and TestToRawJson, with the must variants.
    let d = json!({"Top": {"bool": true, "string": "test", "number": 42, "html": "<HEAD>"}});
    assert_eq!(
        ok("{{.Top | mustToPrettyJson}}", d.clone()),
        "{\n  \"bool\": true,\n  \"html\": \"<HEAD>\",\n  \"number\": 42,\n  \"string\": \"test\"\n}"
    );
    assert_eq!(
        ok("{{.Top | mustToRawJson}}", d),
        r#"{"bool":true,"html":"<HEAD>","number":42,"string":"test"}"#
    );
}

#[test]
fn date_modify_adds_a_go_duration() {
    use serde_json::json;
    let f = |t: &str| {
        ok(
            &format!("{t} | date \"2006-01-02 15:04:05\" }}}}"),
            json!({}),
        )
    };
    assert_eq!(f(r#"{{ now | dateModify "-1.5h""#), "1999-12-31 22:30:00");
    assert_eq!(
        f(r#"{{ now | date_modify "1h2m3.5s""#),
        "2000-01-01 01:02:03"
    );
    assert_eq!(
        f(r#"{{ now | mustDateModify "+90m""#),
        "2000-01-01 01:30:00"
    );
    assert_eq!(
        f(r#"{{ now | must_date_modify "-1ns""#),
        "1999-12-31 23:59:59"
    );
    // The plain variants give the date unchanged when the duration does not parse.
    assert_eq!(f(r#"{{ now | dateModify "bogus""#), "2000-01-01 00:00:00");
    assert_eq!(f(r#"{{ now | date_modify "1""#), "2000-01-01 00:00:00");
    // The must variants fail with Go's words.
    for (d, msg) in [
        ("bogus", r#"time: invalid duration "bogus""#),
        ("1", r#"time: missing unit in duration "1""#),
        ("1x", r#"time: unknown unit "x" in duration "1x""#),
        ("", r#"time: invalid duration """#),
    ] {
        for name in ["mustDateModify", "must_date_modify"] {
            let e = runtv(&format!("{{{{ now | {name} {d:?} }}}}"), json!({})).unwrap_err();
            assert!(e.to_string().contains(msg), "{name} {d}: {e}");
        }
    }
}

#[test]
fn dates_in_zones_and_must_to_date_are_the_fixed_clock() {
    use serde_json::json;
    assert_eq!(
        ok(r#"{{ htmlDateInZone now "Europe/Berlin" }}"#, json!({})),
        "2000-01-01"
    );
    assert_eq!(
        ok(r#"{{ htmlDateInZone 1560458379 "UTC" }}"#, json!({})),
        "2019-06-13"
    );
    assert_eq!(
        ok(
            r#"{{ mustToDate "2006-01-02" "2017-12-31" | date "2006-01-02" }}"#,
            json!({})
        ),
        ok(
            r#"{{ toDate "2006-01-02" "2017-12-31" | date "2006-01-02" }}"#,
            json!({})
        )
    );
}

#[test]
fn durations_are_written_as_go_writes_them() {
    use super::funcs::dates::{duration_string, parse_duration};
    use serde_json::json;
    for (ns, want) in [
        (0, "0s"),
        (1_500_000_000, "1.5s"),
        (3_661_000_000_000, "1h1m1s"),
        (1_500_000, "1.5ms"),
        (1_500, "1.5\u{b5}s"),
        (5, "5ns"),
        (-90_000_000_000, "-1m30s"),
        (i64::MIN, "-2562047h47m16.854775808s"),
    ] {
        assert_eq!(duration_string(ns), want);
    }
    for (s, ns) in [
        ("0", 0),
        ("-0", 0),
        (".5s", 500_000_000),
        ("1h2m3.5s", 3_723_500_000_000),
        ("1.5\u{b5}s", 1_500),
        ("-1.5h", -5_400_000_000_000),
        ("9223372036854775807ns", i64::MAX),
        ("-9223372036854775808ns", i64::MIN),
    ] {
        assert_eq!(parse_duration(s), Ok(ns), "{s}");
    }
    for s in ["9223372036854775808ns", "1..5s", ".s", "1h-2m", "h"] {
        assert!(parse_duration(s).is_err(), "{s}");
    }
    assert_eq!(ok("{{ duration 3661 }}", json!({})), "1h1m1s");
    assert_eq!(ok("{{ duration 0 }}", json!({})), "0s");
    assert_eq!(ok(r#"{{ duration "x" }}"#, json!({})), "0s");
    for (d, want) in [
        ("-2h5s", "2h"),
        ("1s", "0s"),
        ("1.5s", "1s"),
        ("8761h", "1y"),
        ("61m", "1h"),
        ("bogus", "0s"),
    ] {
        assert_eq!(
            ok(&format!("{{{{ durationRound {d:?} }}}}"), json!({})),
            want
        );
    }
    // An integer is nanoseconds, as Sprig takes an int64.
    assert_eq!(ok("{{ durationRound 3600000000001 }}", json!({})), "1h");
}

#[test]
fn abbrevboth_and_b32dec() {
    use serde_json::json;
    let s = "abcdefghijklmno";
    for (l, r, want) in [
        (-1, 10, "abcdefg..."),
        (0, 10, "abcdefg..."),
        (4, 10, "abcdefg..."),
        (5, 10, "...fghi..."),
        (8, 10, "...ijklmno"),
        (10, 10, "...ijklmno"),
        (12, 10, "...ijklmno"),
        (100, 20, s),
        (5, 6, s),
        (0, 3, s),
    ] {
        let t = format!("{{{{ abbrevboth {l} {r} {s:?} }}}}");
        assert_eq!(ok(&t, json!({})), want, "{l} {r}");
    }
    assert_eq!(ok(r#"{{ abbrevboth 5 10 "" }}"#, json!({})), "");
    assert_eq!(
        ok(r#"{{ "hello, world" | b32enc | b32dec }}"#, json!({})),
        "hello, world"
    );
    assert_eq!(ok(r#"{{ b32dec "" }}"#, json!({})), "");
    assert_eq!(
        ok(r#"{{ b32dec "!!!!!!!!" }}"#, json!({})),
        "illegal base32 data at input byte 0"
    );
    assert_eq!(ok(r#"{{ b32dec "MZXW6===" }}"#, json!({})), "foo");
    assert_eq!(
        ok(r#"{{ b32dec "MZXW6" }}"#, json!({})),
        "illegal base32 data at input byte 0"
    );
}

#[test]
fn url_join_writes_go_urls() {
    use serde_json::json;
    for (d, want) in [
        (
            json!({"scheme": "mailto", "opaque": "a@b.c"}),
            "mailto:a@b.c",
        ),
        (
            json!({"scheme": "https", "host": "h", "path": "p"}),
            "https://h/p",
        ),
        (json!({"path": "a:b/c"}), "./a:b/c"),
        (json!({"fragment": "a b!", "path": "/"}), "/#a%20b!"),
        (
            json!({"scheme": "s", "host": "h", "userinfo": "u@x:p w"}),
            "s://u%40x:p%20w@h",
        ),
        (json!({}), ""),
    ] {
        assert_eq!(ok("{{ urlJoin .U }}", json!({"U": d})), want);
    }
    let e = runtv("{{ urlJoin .U }}", json!({"U": {"host": 1}})).unwrap_err();
    assert!(
        e.to_string()
            .contains("unable to parse host key, must be of type string"),
        "{e}"
    );
    let e = runtv("{{ urlJoin .U }}", json!({"U": {"userinfo": "a%zz"}})).unwrap_err();
    assert!(e.to_string().contains("invalid URL escape"), "{e}");
}

#[test]
fn must_json_variants_fail_where_json_cannot_say() {
    use serde_json::json;
    for name in ["mustToPrettyJson", "mustToRawJson"] {
        let e = runtv(&format!(r#"{{{{ float64 "NaN" | {name} }}}}"#), json!({})).unwrap_err();
        assert!(
            e.to_string().contains("json: unsupported value"),
            "{name}: {e}"
        );
    }
    assert_eq!(
        ok("{{ list 1 \"a\" | mustToRawJson }}", json!({})),
        r#"[1,"a"]"#
    );
}

#[test]
fn bcrypt_and_rand_bytes_are_reproducible_placeholders() {
    use serde_json::json;
    let t = r#"{{ bcrypt "pw" }}|{{ randBytes 4 }}"#;
    let a = ok(t, json!({}));
    assert_eq!(a, ok(t, json!({})), "reproducible");
    let (h, _) = a.split_once('|').unwrap();
    assert!(h.starts_with("$2a$10$PLACEHOLDER") && h.len() == 60, "{h}");
    assert_ne!(h, ok(r#"{{ bcrypt "other" }}"#, json!({})));
    assert_eq!(ok("{{ randBytes 0 }}", json!({})), "");
    assert!(runtv("{{ randBytes -1 }}", json!({})).is_err());
    assert!(runtv("{{ randBytes 1000000000000 }}", json!({})).is_err());
}

#[test]
fn hello_and_must_from_json() {
    use serde_json::json;
    assert_eq!(ok("{{ hello }}", json!({})), "Hello!");
    // Any JSON value, numbers as float64 (Go's json.Unmarshal into an interface{}).
    assert_eq!(
        ok(r#"{{ (mustFromJson "{\"a\": [1, \"x\"]}").a }}"#, json!({})),
        "[1 x]"
    );
    assert_eq!(
        ok(r#"{{ mustFromJson "1.5" | typeOf }}"#, json!({})),
        "float64"
    );
    assert_eq!(ok(r#"{{ mustFromJson "[1,2]" | len }}"#, json!({})), "2");
    assert!(runtv(r#"{{ mustFromJson "{" }}"#, json!({})).is_err());
}
