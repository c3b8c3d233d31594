use super::*;

fn go(t: &str, data: serde_json::Value) -> Result<String, Error> {
    let mut s = TemplateSet::new_go(Limits::default());
    s.parse("t", t)?;
    s.execute("t", &Value::from_json(&data, Numbers::IntWhenWhole))
}

#[test]
fn basics() {
    assert_eq!(go("a{{.x}}b", serde_json::json!({"x": 1})).unwrap(), "a1b");
    assert_eq!(
        go("{{- 3 -}} x {{- 4 }}", serde_json::json!({})).unwrap(),
        "3x4"
    );
    assert_eq!(
        go(
            "{{range $i, $e := .l}}{{$i}}={{$e}};{{end}}",
            serde_json::json!({"l": ["a", "b"]})
        )
        .unwrap(),
        "0=a;1=b;"
    );
    assert_eq!(
        go("{{.missing}}", serde_json::json!({})).unwrap(),
        "<no value>"
    );
    assert_eq!(
        go(
            r#"{{printf "%05.1f|%-4d|%q" 3.14159 7 "x"}}"#,
            serde_json::json!({})
        )
        .unwrap(),
        "003.1|7   |\"x\""
    );
}
