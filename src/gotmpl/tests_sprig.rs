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
