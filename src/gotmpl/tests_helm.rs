//! Helm's engine and function tests (Apache-2.0), ported by hand.

use super::*;
use std::collections::HashMap;

/// Helm's `pkg/engine/funcs_test.go` (helm/helm at e9b85e4de16a, Apache-2.0), `TestFuncs`:
/// template, expected output, data (JSON; a string case is a JSON string). Not supported:
/// `fromToml`'s error text (1 case: Helm's comes from another TOML parser; the error map is
/// checked in `from_toml_is_helms`), `mustToDuration` (3 cases: Helm's
/// duration helpers are not provided), `mustToToml` of a `map[int]string` (no such
/// map here).
const HELM_FUNCS: &[(&str, &str, &str)] = &[
    ("{{ toYaml . }}", "foo: bar", r#"{"foo": "bar"}"#),
    (
        "{{ toYamlPretty . }}",
        "baz:\n  - 1\n  - 2\n  - 3",
        r#"{"baz": [1, 2, 3]}"#,
    ),
    ("{{ toToml . }}", "foo = \"bar\"\n", r#"{"foo": "bar"}"#),
    ("{{ toJson . }}", r#"{"foo":"bar"}"#, r#"{"foo": "bar"}"#),
    ("{{ fromYaml . }}", "map[hello:world]", r#""hello: world""#),
    (
        "{{ fromToml . }}",
        "map[hello:world]",
        r#""hello = \"world\"""#,
    ),
    (
        "{{ fromToml . }}",
        "map[table:map[keyInTable:valueInTable subtable:map[keyInSubtable:valueInSubTable]]]",
        r#""\n[table]\nkeyInTable = \"valueInTable\"\n[table.subtable]\nkeyInSubtable = \"valueInSubTable\"\n""#,
    ),
    (
        "{{ fromToml . }}",
        "map[tableArray:[map[keyInElement0:valueInElement0] map[keyInElement1:valueInElement1]]]",
        r#""\n[[tableArray]]\nkeyInElement0 = \"valueInElement0\"\n[[tableArray]]\nkeyInElement1 = \"valueInElement1\"\n""#,
    ),
    (
        "{{ fromYamlArray . }}",
        "[one 2 map[name:helm]]",
        r#""- one\n- 2\n- name: helm\n""#,
    ),
    (
        "{{ fromYamlArray . }}",
        "[one 2 map[name:helm]]",
        r#""[\"one\", 2, { \"name\": \"helm\" }]""#,
    ),
    (
        "{{ toToml . }}",
        "[mast]\n  sail = \"white\"\n",
        r#"{"mast": {"sail": "white"}}"#,
    ),
    (
        "{{ fromYaml . }}",
        "map[Error:error unmarshaling JSON: while decoding JSON: json: cannot unmarshal array into Go value of type map[string]interface {}]",
        r#""- one\n- two\n""#,
    ),
    (
        "{{ fromJson .}}",
        "map[hello:world]",
        r#""{\"hello\":\"world\"}""#,
    ),
    (
        "{{ fromJson . }}",
        "map[Error:json: cannot unmarshal array into Go value of type map[string]interface {}]",
        r#""[\"one\", \"two\"]""#,
    ),
    (
        "{{ fromJsonArray . }}",
        "[one 2 map[name:helm]]",
        r#""[\"one\", 2, { \"name\": \"helm\" }]""#,
    ),
    (
        "{{ fromJsonArray . }}",
        "[json: cannot unmarshal object into Go value of type []interface {}]",
        r#""{\"hello\": \"world\"}""#,
    ),
    (
        "{{ merge .dict (fromYaml .yaml) }}",
        "map[a:map[b:c]]",
        r#"{"dict": {"a": {"b": "c"}}, "yaml": "{\"a\":{\"b\":\"d\"}}"}"#,
    ),
    (
        "{{ merge (fromYaml .yaml) .dict }}",
        "map[a:map[b:d]]",
        r#"{"dict": {"a": {"b": "c"}}, "yaml": "{\"a\":{\"b\":\"d\"}}"}"#,
    ),
    (
        "{{ fromYaml . }}",
        "map[Error:error unmarshaling JSON: while decoding JSON: json: cannot unmarshal array into Go value of type map[string]interface {}]",
        r#""[\"one\", \"two\"]""#,
    ),
    (
        "{{ fromYamlArray . }}",
        "[error unmarshaling JSON: while decoding JSON: json: cannot unmarshal object into Go value of type []interface {}]",
        r#""hello: world""#,
    ),
    (
        "{{ lookup \"v1\" \"Namespace\" \"\" \"unlikelynamespace99999999\" }}",
        "map[]",
        r#""[\"one\", \"two\"]""#,
    ),
    ("{{ mustToToml . }}", "foo = \"bar\"\n", r#"{"foo": "bar"}"#),
];

#[test]
fn helm_funcs_tests() {
    let mut failed = Vec::new();
    for (tpl, want, data) in HELM_FUNCS {
        let data = Value::from_json(&serde_json::from_str(data).unwrap(), Numbers::IntWhenWhole);
        let mut s = TemplateSet::new(Limits::default());
        s.set_missing_key(MissingKey::Invalid);
        s.set_strip_no_value(false);
        let got = s.parse("test", tpl).and_then(|_| s.execute("test", &data));
        if !matches!(&got, Ok(o) if o == want) {
            failed.push(format!("{tpl}: want {want:?}, got {got:?}"));
        }
    }
    // The mustFuncsTests with a map that holds itself: toYaml and toJson give "", the
    // must forms fail.
    let looped = Value::new_map();
    if let Value::Map(m) = &looped {
        m.borrow_mut().insert("foo".into(), Value::from("bar"));
        m.borrow_mut()
            .insert("loop".into(), Value::from(vec![looped.clone()]));
    }
    for (tpl, ok) in [
        ("{{ mustToYaml . }}", false),
        ("{{ mustToJson . }}", false),
        ("{{ toYaml . }}", true),
        ("{{ toJson . }}", true),
    ] {
        let mut s = TemplateSet::new(Limits::default());
        s.parse("test", tpl).unwrap();
        let got = s.execute("test", &looped);
        if ok != matches!(&got, Ok(o) if o.is_empty()) {
            failed.push(format!("{tpl} of a looped map: got {got:?}"));
        }
    }
    if let Value::Map(m) = &looped {
        m.borrow_mut().clear();
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

/// A chart's templates rendered as Helm's engine does for the engine's own tests: every file
/// parsed into one set, each rendered with the values and its `.Template`.
fn render_chart(
    files: &[(&str, &str)],
    values: serde_json::Value,
    strict: bool,
) -> Result<HashMap<String, String>, Error> {
    let mut s = TemplateSet::new(Limits::default());
    if strict {
        s.set_missing_key(MissingKey::Error);
    }
    for (n, t) in files {
        s.parse(n, t)?;
    }
    let mut out = HashMap::new();
    for (n, _) in files {
        let mut v = values.clone();
        let base = n.rsplit_once('/').map_or("", |x| x.0);
        v["Template"] = serde_json::json!({"Name": n, "BasePath": base});
        out.insert(
            n.to_string(),
            s.execute(n, &Value::from_json(&v, Numbers::Float64))?,
        );
    }
    Ok(out)
}

/// Helm's `pkg/engine/engine_test.go` (helm/helm at e9b85e4de16a, Apache-2.0), the tests of
/// the template functions: TestAlterFuncMap_include, _require, _tpl, _tplfunc, _tplinclude,
/// TestRenderRecursionLimit, TestRenderTplEmpty, TestRenderTplTemplateNames,
/// TestRenderTplRedefines, TestRenderTplMissingKey, TestRenderTplMissingKeyString. Not
/// ported: the tests of chart loading, values, dependencies, DNS, lookup clients, lint mode
/// and error traces (the chart side, or Helm's own error wording).
#[test]
fn helm_engine_tests() {
    let rel = |v: serde_json::Value| serde_json::json!({"Values": v, "Release": {"Name": "TestRelease"}, "Chart": {"Name": "c"}});
    // TestAlterFuncMap_include.
    let o = render_chart(
        &[
            (
                "conrad/templates/quote",
                r#"{{include "conrad/templates/_partial" . | indent 2}} dead."#,
            ),
            ("conrad/templates/_partial", "{{.Release.Name}} - he"),
        ],
        serde_json::json!({"Values": "", "Release": {"Name": "Mistah Kurtz"}}),
        false,
    )
    .unwrap();
    assert_eq!(o["conrad/templates/quote"], "  Mistah Kurtz - he dead.");
    assert!(
        render_chart(
            &[(
                "nested/templates/quote",
                r#"{{include "nested/templates/quote" . | indent 2}} dead."#
            )],
            rel(serde_json::json!({})),
            false
        )
        .is_err()
    );
    // TestAlterFuncMap_require.
    let o = render_chart(
        &[
            ("conan/templates/quote", r#"All your base are belong to {{ required "A valid 'who' is required" .Values.who }}"#),
            ("conan/templates/bases", r#"All {{ required "A valid 'bases' is required" .Values.bases }} of them!"#),
        ],
        rel(serde_json::json!({"who": "us", "bases": 2})),
        false,
    )
    .unwrap();
    assert_eq!(o["conan/templates/quote"], "All your base are belong to us");
    assert_eq!(o["conan/templates/bases"], "All 2 of them!");
    let e = render_chart(
        &[(
            "conan/templates/bases",
            r#"All {{ required "A valid 'bases' is required" .Values.bases }} of them!"#,
        )],
        rel(serde_json::json!({})),
        false,
    )
    .unwrap_err();
    assert!(e.message.contains("A valid 'bases' is required"), "{e}");
    // TestAlterFuncMap_tpl, _tplfunc, _tplinclude.
    let o = render_chart(
        &[(
            "T/templates/base",
            r#"Evaluate tpl {{tpl "Value: {{ .Values.value}}" .}}"#,
        )],
        rel(serde_json::json!({"value": "myvalue"})),
        false,
    )
    .unwrap();
    assert_eq!(o["T/templates/base"], "Evaluate tpl Value: myvalue");
    let o = render_chart(
        &[(
            "T/templates/base",
            r#"Evaluate tpl {{tpl "Value: {{ .Values.value | quote}}" .}}"#,
        )],
        rel(serde_json::json!({"value": "myvalue"})),
        false,
    )
    .unwrap();
    assert_eq!(o["T/templates/base"], "Evaluate tpl Value: \"myvalue\"");
    let o = render_chart(
        &[
            (
                "TplFunction/templates/base",
                "{{ tpl \"{{include `TplFunction/templates/_partial` .  | quote }}\" .}}",
            ),
            ("TplFunction/templates/_partial", "{{.Template.Name}}"),
        ],
        rel(serde_json::json!({"value": "myvalue"})),
        false,
    )
    .unwrap();
    assert_eq!(
        o["TplFunction/templates/base"],
        "\"TplFunction/templates/base\""
    );
    // TestRenderRecursionLimit: endless recursion is an error; 4000 calls in a row are fine.
    assert!(
        render_chart(
            &[
                ("bad/templates/base", r#"{{include "recursion" . }}"#),
                (
                    "bad/templates/recursion",
                    r#"{{define "recursion"}}{{include "recursion" . }}{{end}}"#
                )
            ],
            rel(serde_json::json!("")),
            false
        )
        .is_err()
    );
    let phrase = "All work and no play makes Jack a dull boy";
    let many = r#"{{include "overlook" . }}"#.repeat(4000);
    let o = render_chart(
        &[
            ("overlook/templates/quote", &many),
            (
                "overlook/templates/_function",
                &format!(r#"{{{{define "overlook"}}}}{{{{printf "{phrase}\n"}}}}{{{{end}}}}"#),
            ),
        ],
        rel(serde_json::json!("")),
        false,
    )
    .unwrap();
    assert_eq!(
        o["overlook/templates/quote"],
        format!("{phrase}\n").repeat(4000)
    );
    // TestRenderTplEmpty.
    let o = render_chart(
        &[
            ("E/templates/empty-string", r#"{{tpl "" .}}"#),
            ("E/templates/empty-action", r#"{{tpl "{{ \"\"}}" .}}"#),
            (
                "E/templates/only-defines",
                r#"{{tpl "{{define \"not-invoked\"}}not-rendered{{end}}" .}}"#,
            ),
        ],
        rel(serde_json::json!({})),
        false,
    )
    .unwrap();
    assert!(o.values().all(String::is_empty), "{o:?}");
    // TestRenderTplTemplateNames.
    let o = render_chart(
        &[
            ("TplTemplateNames/templates/default-basepath", r#"{{tpl "{{ .Template.BasePath }}" .}}"#),
            ("TplTemplateNames/templates/default-name", r#"{{tpl "{{ .Template.Name }}" .}}"#),
            ("TplTemplateNames/templates/modified-basepath", r#"{{tpl "{{ .Template.BasePath }}" .Values.dot}}"#),
            ("TplTemplateNames/templates/modified-name", r#"{{tpl "{{ .Template.Name }}" .Values.dot}}"#),
            ("TplTemplateNames/templates/modified-field", r#"{{tpl "{{ .Template.Field }}" .Values.dot}}"#),
        ],
        rel(serde_json::json!({"dot": {"Template": {"BasePath": "path/to/template", "Name": "name-of-template", "Field": "extra-field"}}})),
        false,
    )
    .unwrap();
    assert_eq!(
        o["TplTemplateNames/templates/default-basepath"],
        "TplTemplateNames/templates"
    );
    assert_eq!(
        o["TplTemplateNames/templates/default-name"],
        "TplTemplateNames/templates/default-name"
    );
    assert_eq!(
        o["TplTemplateNames/templates/modified-basepath"],
        "path/to/template"
    );
    assert_eq!(
        o["TplTemplateNames/templates/modified-name"],
        "name-of-template"
    );
    assert_eq!(
        o["TplTemplateNames/templates/modified-field"],
        "extra-field"
    );
    // TestRenderTplRedefines.
    let o = render_chart(
        &[
            ("R/templates/_partials", r#"{{define "partial"}}original-in-partial{{end}}"#),
            ("R/templates/partial", r#"before: {{include "partial" .}}\n{{tpl .Values.partialText .}}\nafter: {{include "partial" .}}"#),
            ("R/templates/manifest", r#"{{define "manifest"}}original-in-manifest{{end}}before: {{include "manifest" .}}\n{{tpl .Values.manifestText .}}\nafter: {{include "manifest" .}}"#),
            ("R/templates/manifest-only", r#"{{define "manifest-only"}}only-in-manifest{{end}}before: {{include "manifest-only" .}}\n{{tpl .Values.manifestOnlyText .}}\nafter: {{include "manifest-only" .}}"#),
            (
                "R/templates/nested",
                r#"{{define "nested"}}original-in-manifest{{end}}{{define "nested-outer"}}original-outer-in-manifest{{end}}before: {{include "nested" .}} {{include "nested-outer" .}}\n{{tpl .Values.nestedText .}}\nafter: {{include "nested" .}} {{include "nested-outer" .}}"#,
            ),
        ],
        rel(serde_json::json!({
            "partialText": r#"{{define "partial"}}redefined-in-tpl{{end}}tpl: {{include "partial" .}}"#,
            "manifestText": r#"{{define "manifest"}}redefined-in-tpl{{end}}tpl: {{include "manifest" .}}"#,
            "manifestOnlyText": r#"tpl: {{include "manifest-only" .}}"#,
            "nestedText": r#"{{define "nested"}}redefined-in-tpl{{end}}{{define "nested-outer"}}redefined-outer-in-tpl{{end}}before-inner-tpl: {{include "nested" .}} {{include "nested-outer" . }}\n{{tpl .Values.innerText .}}\nafter-inner-tpl: {{include "nested" .}} {{include "nested-outer" . }}"#,
            "innerText": r#"{{define "nested"}}redefined-in-inner-tpl{{end}}inner-tpl: {{include "nested" .}} {{include "nested-outer" . }}"#,
        })),
        false,
    )
    .unwrap();
    assert_eq!(
        o["R/templates/partial"],
        r#"before: original-in-partial\ntpl: redefined-in-tpl\nafter: original-in-partial"#
    );
    assert_eq!(
        o["R/templates/manifest"],
        r#"before: original-in-manifest\ntpl: redefined-in-tpl\nafter: original-in-manifest"#
    );
    assert_eq!(
        o["R/templates/manifest-only"],
        r#"before: only-in-manifest\ntpl: only-in-manifest\nafter: only-in-manifest"#
    );
    assert_eq!(
        o["R/templates/nested"],
        r#"before: original-in-manifest original-outer-in-manifest\nbefore-inner-tpl: redefined-in-tpl redefined-outer-in-tpl\ninner-tpl: redefined-in-inner-tpl redefined-outer-in-tpl\nafter-inner-tpl: redefined-in-tpl redefined-outer-in-tpl\nafter: original-in-manifest original-outer-in-manifest"#
    );
    // TestRenderTplMissingKey, TestRenderTplMissingKeyString (strict).
    let files = [(
        "M/templates/manifest",
        r#"missingValue: {{tpl "{{.Values.noSuchKey}}" .}}"#,
    )];
    assert_eq!(
        render_chart(&files, rel(serde_json::json!({})), false).unwrap()["M/templates/manifest"],
        "missingValue: "
    );
    let e = render_chart(&files, rel(serde_json::json!({})), true).unwrap_err();
    assert!(e.message.contains("noSuchKey"), "{e}");
}

/// `fromToml` of text that is no TOML gives a map holding the parser's error under
/// `Error`, as Helm's; integers stay integers; a nesting past the limit is an error, not a
/// crash.
#[test]
fn from_toml_is_helms() {
    let run = |data: &str, tpl: &str| {
        let mut s = TemplateSet::new(Limits::default());
        s.parse("t", tpl).unwrap();
        s.execute("t", &Value::from(data))
    };
    let out = run("one", "{{ (fromToml .).Error }}").unwrap();
    assert!(out.starts_with("toml: "), "{out}");
    assert_eq!(
        run(
            "n = 3\nf = 2.5\nd = 1979-05-27",
            "{{ add1 (fromToml .).n }} {{ (fromToml .).f }} {{ (fromToml .).d }}"
        )
        .unwrap(),
        "4 2.5 1979-05-27"
    );
    let deep = format!("a = {}1{}", "[".repeat(200_000), "]".repeat(200_000));
    let out = run(&deep, "{{ (fromToml .).Error }}");
    assert!(matches!(&out, Ok(e) if !e.is_empty()), "{out:?}");
}
