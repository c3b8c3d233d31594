//! The key walk of a values file, against a chart of one level (no subcharts, no
//! templates): what the check refused and allowed before subcharts, globals and template
//! reads joined it.

use super::*;
use crate::charts::MAX_VALUES_SIZE;

const CHART: &str = "controller:\n  admin:\n    password: \"\"\n    username: admin\n  resources: {}\n  image:\n    tag: lts\npersistence:\n  enabled: true\n  storageClass: null\npodAnnotations: {}\ntolerations: []\nreplicaCount: 1\n";

fn files(schema: Option<&str>) -> ChartFiles {
    ChartFiles {
        values: CHART.into(),
        schema: schema.map(str::to_string),
        ..ChartFiles::default()
    }
}

fn run(text: &str, schema: Option<&str>) -> Result<(), String> {
    check(
        "jenkins",
        Path::new("conf/values.yaml"),
        text,
        &files(schema),
    )
    .map_err(|e| e.to_string())
}

#[test]
fn a_renamed_key_is_refused_at_its_line_with_the_closest_keys() {
    let text = "replicaCount: 2\ncontroller:\n  adminPassword: s3cret\n";
    let err = run(text, None).unwrap_err();
    assert!(
        err.starts_with("conf/values.yaml:3:3: controller.adminPassword "),
        "{err}"
    );
    assert!(
        err.contains("closest the chart has: controller.admin"),
        "{err}"
    );
    let err = run("persistance:\n  enabled: false\n", None).unwrap_err();
    assert!(err.contains("values.yaml:1:1: persistance is not"), "{err}");
    assert!(err.contains("closest the chart has: persistence"), "{err}");
}

#[test]
fn known_keys_free_maps_nulls_and_lists_pass() {
    let text = "controller:\n  admin:\n    password: x\n  resources:\n    limits: {cpu: 1}\npersistence:\n  storageClass: local-path\npodAnnotations:\n  a.b/c: d\ntolerations:\n  - key: x\n    anything: y\nreplicaCount: 3\n";
    run(text, None).unwrap();
    run("", None).unwrap();
    run("replicaCount: 1\npersistence: &p\n  enabled: true\ncontroller:\n  admin:\n    <<: {password: x}\n", None).unwrap();
    run("# nothing set\n", None).unwrap();
}

#[test]
fn the_schema_allows_more_keys() {
    let schema = r#"{"type":"object","properties":{"extraEnv":{"type":"object","additionalProperties":{"type":"string"}},"controller":{"properties":{"sidecars":{}}},"labels":{"patternProperties":{"^app\\.":{}}}}}"#;
    run("extraEnv:\n  FOO: bar\n", Some(schema)).unwrap();
    run("controller:\n  sidecars:\n    anything: 1\n", Some(schema)).unwrap();
    run("labels:\n  app.name: x\n", Some(schema)).unwrap();
    let err = run("labels:\n  team: x\n", Some(schema)).unwrap_err();
    assert!(err.contains("labels.team"), "{err}");
    assert!(err.contains("values.schema.json"), "{err}");
    let err = run("nope: 1\n", Some(schema)).unwrap_err();
    assert!(err.contains("nope"), "{err}");
}

#[test]
fn keys_are_judged_through_maps_and_not_inside_lists_or_complex_keys() {
    // Inside a list anything goes; a key that is a map is no name to compare; a
    // syntax error is reported at its line.
    run(
        "tolerations:\n  - key: x\n    nope: y\n? {a: 1}\n: whatever\nreplicaCount: 2\n",
        None,
    )
    .unwrap();
    let err = run("controller:\n  image:\n    tag: x\n    tga: y\n", None).unwrap_err();
    assert!(
        err.starts_with("conf/values.yaml:4:5: controller.image.tga is not a value"),
        "{err}"
    );
    assert!(
        err.contains("closest the chart has: controller.image.tag"),
        "{err}"
    );
    let err = run("e: {f: 3}\n", None).unwrap_err();
    assert!(err.starts_with("conf/values.yaml:1:1: e is not"), "{err}");
    let err = run("replicaCount: [\n", None).unwrap_err();
    assert!(err.starts_with("conf/values.yaml:"), "{err}");
}

#[test]
fn every_key_the_chart_lacks_is_named_in_one_run_and_what_lies_under_one_is_not_judged() {
    let err = run(
        "controller:\n  image:\n    tga: y\n    tag: x\nreplicaCont: 2\nwrong:\n  deeper: 1\n",
        None,
    )
    .unwrap_err();
    assert!(
        err.starts_with("3 keys the chart does not have:\n"),
        "{err}"
    );
    for needle in [
        "conf/values.yaml:3:5: controller.image.tga is not a value",
        "conf/values.yaml:5:1: replicaCont is not",
        "conf/values.yaml:6:1: wrong is not",
    ] {
        assert!(err.contains(needle), "{needle}: {err}");
    }
    assert!(!err.contains("deeper"), "{err}");
    let many: String = (0..SHOWN_UNKNOWN + 7)
        .map(|i| format!("k{i}: 1\n"))
        .collect();
    let err = run(&many, None).unwrap_err();
    assert!(
        err.starts_with(&format!("{} keys", SHOWN_UNKNOWN + 7)) && err.ends_with("… and 7 more"),
        "{err}"
    );
}

#[test]
fn a_values_file_whose_top_level_is_no_map_is_refused_naming_the_file() {
    for (text, found) in [
        ("- replicaCount: 2\n", "a list"),
        ("replicaCount\n", "the string \"replicaCount\""),
        ("3\n", "the string \"3\""),
        ("\"\"\n", "the string \"\""),
        ("# a list\n[a, b]\n", "a list"),
    ] {
        let err = run(text, None).unwrap_err();
        assert!(err.starts_with("conf/values.yaml:"), "{text:?}: {err}");
        assert!(
            err.contains(&format!("its top level is {found}")),
            "{text:?}: {err}"
        );
    }
    let bad = check("jenkins", Path::new("v.yaml"), "- a\n", &files(None)).unwrap_err();
    assert!(bad.is_invalid_input(), "{bad}");
    assert!(bad.to_string().starts_with("v.yaml:1:1: "), "{bad}");
    // Nothing at all, or null, is an empty map to Helm.
    for empty in ["", "# nothing\n", "~\n", "null\n", "---\n"] {
        run(empty, None).unwrap();
    }
}

/// A values file at the size cap with two thirds of a million keys under maps more than fifty
/// deep: copying each key's path would take gigabytes (a vector of fifty-odd strings per
/// key); judged from a shared path stack, it takes what the file's events take.
#[test]
fn deep_maps_with_many_keys_are_checked_without_copying_paths() {
    const DEPTH: usize = 56;
    let mut chart = String::new();
    let mut text = String::new();
    for level in 0..DEPTH {
        let pad = " ".repeat(level);
        chart.push_str(&format!("{pad}l{level}:\n"));
        text.push_str(&format!("{pad}l{level}:\n"));
    }
    let pad = " ".repeat(DEPTH);
    chart.push_str(&format!("{pad}known: 1\n{pad}open: {{}}\n"));
    text.push_str(&format!("{pad}open: {{"));
    // Keys without values (`{a, b}`: each is null), named a, b, …, ba, bb, …
    let mut keys = 0usize;
    while text.len() < (MAX_VALUES_SIZE as usize) - 64 {
        let mut n = keys;
        loop {
            text.push(char::from(b'a' + (n % 26) as u8));
            n /= 26;
            if n == 0 {
                break;
            }
        }
        text.push_str(", ");
        keys += 1;
    }
    text.push_str("zzzzzzzz}\n");
    assert!(text.len() as u64 <= MAX_VALUES_SIZE);
    assert!(keys > 600_000, "{keys}");
    let files = ChartFiles {
        values: chart,
        ..ChartFiles::default()
    };
    check("deep", Path::new("deep.yaml"), &text, &files).unwrap();
    // The same depth, one key the chart lacks at the bottom: found, its path named.
    let bad = text.replacen(&format!("{pad}open: {{"), &format!("{pad}nope: {{"), 1);
    let err = check("deep", Path::new("deep.yaml"), &bad, &files)
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(&format!("deep.yaml:{}:{}: l0.l1.", DEPTH + 1, DEPTH + 1)),
        "{}",
        &err[..200.min(err.len())]
    );
    assert!(
        err.contains(&format!(".l{}.nope is not a value", DEPTH - 1)),
        "{}",
        &err[..300.min(err.len())]
    );
}

#[test]
fn simple_patterns() {
    assert!(simple_match("^[a-z]+$", "anything"), "not simple: allowed");
    assert!(simple_match("^app\\.", "app.x"));
    assert!(!simple_match("^app\\.", "apps"));
    assert!(simple_match("^x-", "x-a"));
    assert!(!simple_match("^x-", "y-a"));
    assert!(simple_match("_total$", "a_total"));
    assert!(!simple_match("^exact$", "exactly"));
}
