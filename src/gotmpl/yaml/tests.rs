//! `toYaml` against what Helm 4's own `toYaml` wrote for the same values (the judge of
//! `tests/helm_judge.rs`, chart `fixtures/charts-own/yaml-text-1.0.0`).

use super::{to_yaml, to_yaml_pretty};
use crate::gotmpl::value::{Numbers, Value};

fn helm_to_yaml(v: &Value) -> String {
    let mut s = to_yaml(v, 64).unwrap_or_default();
    s.pop();
    s
}

/// (the string, Helm's `toYaml` of it).
const STRINGS: &[(&str, &str)] = &[
    ("", "\"\""),
    ("on", "\"on\""),
    ("Y", "\"Y\""),
    ("02", "\"02\""),
    ("08", "\"08\""),
    ("1:30", "\"1:30\""),
    ("12:60", "12:60"),
    ("2001-13-01", "2001-13-01"),
    ("<<", "<<"),
    ("-a", "-a"),
    ("?x", "?x"),
    ("a:b", "a:b"),
    ("#a", "'#a'"),
    ("a[b]", "a[b]"),
    ("--- a", "'--- a'"),
    ("... a", "'... a'"),
    ("trail ", "'trail '"),
    ("  two lead", "'  two lead'"),
    ("in  side", "in  side"),
    ("\tlead tab", "\"\\tlead tab\""),
    ("multi\nline", "|-\n  multi\n  line"),
    ("multi\nline\n", "|\n  multi\n  line"),
    ("\n\n", "|2+\n\n"),
    ("\nlead break", "|2-\n\n  lead break"),
    (" \nx", "\" \\nx\""),
    ("ends \n", "\"ends \\n\""),
    ("back\\slash", "back\\slash"),
    ("emoji \u{1f600} here", "\"emoji \\U0001F600 here\""),
    ("é ü", "é ü"),
    ("bell\u{7}", "\"bell\\a\""),
    (
        "the quick brown fox jumps over the lazy dog the quick brown fox jumps over the lazy dog the quick brown fox jumps over the lazy dog the quick brown fox jumps over the lazy dog",
        "the quick brown fox jumps over the lazy dog the quick brown fox jumps over the lazy\n  dog the quick brown fox jumps over the lazy dog the quick brown fox jumps over the\n  lazy dog",
    ),
    (
        "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    ),
    (
        "a: the quick brown fox jumps over the lazy dog the quick brown fox jumps over the lazy dog the quick brown fox jumps over the lazy dog the quick brown fox jumps over the lazy dog",
        "'a: the quick brown fox jumps over the lazy dog the quick brown fox jumps over the\n  lazy dog the quick brown fox jumps over the lazy dog the quick brown fox jumps over\n  the lazy dog'",
    ),
    (
        "tab\tthe quick brown fox jumps over the lazy dog the quick brown fox jumps over the lazy dog the quick brown fox jumps over the lazy dog the quick brown fox jumps over the lazy dog",
        "\"tab\\tthe quick brown fox jumps over the lazy dog the quick brown fox jumps over the\n  lazy dog the quick brown fox jumps over the lazy dog the quick brown fox jumps over\n  the lazy dog\"",
    ),
    (
        "# y y y y y y y y y y y y y y y y y y y y y y y y y y y y y y y y y y y y y y y y y y y y y y y y y y y y y y y y y y y y",
        "'# y y y y y y y y y y y y y y y y y y y y y y y y y y y y y y y y y y y y y y y y\n  y y y y y y y y y y y y y y y y y y y y'",
    ),
    ("a \u{85} b", "a b"),
    ("two\u{85}\u{85}breaks", "|-\n  two\n  breaks"),
];

#[test]
fn each_string_is_written_in_the_style_and_folding_helm_writes() {
    let mut wrong = Vec::new();
    for (s, helm) in STRINGS {
        let ours = helm_to_yaml(&Value::from(*s));
        if ours != *helm {
            wrong.push(format!("{s:?}: Helm {helm:?}, seedforge {ours:?}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn a_character_go_yaml_cannot_read_back_empties_to_yaml() {
    for s in ["del\u{7f}", "c1\u{80}", "fffe\u{fffe}"] {
        assert_eq!(helm_to_yaml(&Value::from(s)), "", "{s:?}");
        // toYamlPretty has no JSON between, and writes it escaped.
        assert!(to_yaml_pretty(&Value::from(s), 64).is_ok_and(|t| t.starts_with('"')));
    }
}

#[test]
fn keys_come_in_go_yaml_order_quoted_and_long_ones_as_complex_keys() {
    let keys = [
        "item10",
        "item2",
        "item1",
        "a01",
        "a1",
        "a001",
        "a10",
        "b",
        "B",
        "_x",
        "1",
        "10",
        "2",
        "true",
        "on",
        "",
        " sp",
        "x y",
        "é",
        "a-b",
        "a_b",
        "a.b",
        "ab",
        "aB",
        "A",
        "z9",
        "z10",
        &"k".repeat(130),
        "key: colon",
        "multi\nline key",
        "0x10",
        "1.5",
    ];
    let map: serde_json::Map<String, serde_json::Value> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| (k.to_string(), serde_json::Value::from(i)))
        .collect();
    let v = Value::from_json(&serde_json::Value::Object(map), Numbers::Float64);
    let long = "k".repeat(130);
    let helm = format!(
        "\"\": 15\n' sp': 16\n_x: 9\n\"0x10\": 30\n\"1\": 10\n\"1.5\": 31\n\"2\": 12\n\"10\": 11\n\
         A: 24\nB: 8\na-b: 19\na.b: 21\na_b: 20\na1: 4\na01: 3\na001: 5\na10: 6\naB: 23\nab: 22\n\
         b: 7\nitem1: 2\nitem2: 1\nitem10: 0\n'key: colon': 28\n? {long}\n: 27\n? |-\n  multi\n  line key\n\
         : 29\n\"on\": 14\n\"true\": 13\nx y: 17\nz9: 25\nz10: 26\né: 18"
    );
    assert_eq!(helm_to_yaml(&v), helm);
}

#[test]
fn numbers_come_back_from_json_as_helm_writes_them_and_pretty_keeps_floats() {
    let nums = serde_json::json!([
        1,
        -1,
        0,
        1.5,
        1_000_000,
        1e6,
        1e15,
        1e20,
        1e21,
        1e-7,
        0.1,
        12_345_678_901_234_567_890.0_f64,
        -9.5e-5,
        3.0,
        2.5e10
    ]);
    let v = Value::from_json(&nums, Numbers::Float64);
    assert_eq!(
        helm_to_yaml(&v),
        "- 1\n- -1\n- 0\n- 1.5\n- 1000000\n- 1000000\n- 1000000000000000\n- 1e+20\n- 1e+21\n\
         - 1e-07\n- 0.1\n- 12345678901234567000\n- -9.5e-05\n- 3\n- 25000000000"
    );
    assert_eq!(
        to_yaml_pretty(&v, 64).unwrap_or_default(),
        "- 1\n- -1\n- 0\n- 1.5\n- 1e+06\n- 1e+06\n- 1e+15\n- 1e+20\n- 1e+21\n- 1e-07\n- 0.1\n\
         - 1.2345678901234567e+19\n- -9.5e-05\n- 3\n- 2.5e+10\n"
    );
}
