//! Go's text/template tables: execTests and parseTests (Go 1.19.8, BSD licence), data
//! files in tests/gotmpl/ extracted by tests/gotmpl/extract_go_exec.py.

use super::*;

/// Go's `tVal` (exec_test.go) as far as this model has it: a struct (an [`Object`], whose
/// unknown fields are errors as in Go) with its data fields and the simple methods.
struct TVal(Map);

impl Object for TVal {
    fn type_name(&self) -> String {
        "*template.T".into()
    }
    fn field(&self, name: &str) -> Option<Value> {
        self.0.get(name).cloned()
    }
    fn method(&self, name: &str, args: &[Value]) -> Option<Result<Value, String>> {
        Some(Ok(match (name, args) {
            ("Method0", []) => Value::from("M0"),
            ("Method1", [Value::Int(a)]) => Value::Int(*a),
            ("Method2", [Value::Int(a), Value::String(b)]) => {
                Value::from(format!("Method2: {a} {b}"))
            }
            ("Method3", [v]) => Value::from(format!("Method3: {}", v.to_text())),
            ("Method0" | "Method1" | "Method2" | "Method3", _) => {
                return Some(Err("wrong arguments".into()));
            }
            _ => return None,
        }))
    }
}

fn t_val() -> Value {
    let j = serde_json::json!({
        "True": true, "I": 17, "U16": 16, "X": "x", "S": "xyz", "U": {"V": "v"},
        "SI": [3, 4, 5], "SICap": [0, 0, 0, 0, 0], "SIEmpty": [], "SB": [true, false], "AI": [3, 4, 5],
        "MSI": {"one": 1, "two": 2, "three": 3}, "MSIone": {"one": 1}, "MSIEmpty": {},
        "SMSI": [{"one": 1, "two": 2}, {"eleven": 11, "twelve": 12}],
        "Empty0": null, "Empty1": 3, "Empty2": "empty2", "Empty3": [7, 8], "Empty4": {"V": "UinEmpty"},
        "PI": 23, "PS": "a string", "PSI": [21, 22, 23], "NIL": null,
    });
    let Value::Map(m) = Value::from_json(&j, Numbers::IntWhenWhole) else {
        unreachable!()
    };
    let m = m.borrow().clone();
    Value::Object(std::rc::Rc::new(TVal(m)))
}

/// The data of a case, when this model can express it.
fn go_data(expr: &str) -> Option<Value> {
    Some(match expr {
        "tVal" => t_val(),
        "nil" => Value::Nil,
        "true" => Value::Bool(true),
        "\"hello\"" => Value::from("hello"),
        "`It'd be nice.`" => Value::from("It'd be nice."),
        "[]int{-1, -2, -3}" => Value::from(vec![Value::Int(-1), Value::Int(-2), Value::Int(-3)]),
        "map[string]int{\"two\": 22}" => {
            Value::from_json(&serde_json::json!({"two": 22}), Numbers::IntWhenWhole)
        }
        "map[string]string{\"cause\": \"neglect\"}" => Value::from_json(
            &serde_json::json!({"cause": "neglect"}),
            Numbers::IntWhenWhole,
        ),
        e => {
            if let Ok(i) = e.parse::<i64>() {
                Value::Int(i)
            } else if let Ok(f) = e.parse::<f64>() {
                Value::Float(f)
            } else if let Some(c) = e.strip_prefix('\'').and_then(|c| c.strip_suffix('\'')) {
                Value::Int(c.chars().next()? as i64)
            } else {
                return None;
            }
        }
    })
}

/// Cases of Go's execTests this engine does not support, with why.
const GO_EXEC_UNSUPPORTED: &[(&str, &str)] = &[
    (
        r#"ideal complex"#,
        "complex numbers: not supported (no Helm value is complex)",
    ),
    (
        r#"map .one interface"#,
        "maps with non-string keys (map[any]int, map[int32]string...): maps here are map[string]interface{}",
    ),
    (
        r#"dot uint"#,
        "data is a Go value this model has no form for (typed ints, structs, pointers, typed nil slices)",
    ),
    (
        r#"dot complex"#,
        "complex numbers: not supported (no Helm value is complex)",
    ),
    (
        r#"dot struct"#,
        "data is a Go value this model has no form for (typed ints, structs, pointers, typed nil slices)",
    ),
    (
        r#"V{6666}.String()"#,
        "fmt.Stringer and error values printed through their methods",
    ),
    (
        r#"&V{7777}.String()"#,
        "fmt.Stringer and error values printed through their methods",
    ),
    (
        r#"(*V)(nil).String()"#,
        "fmt.Stringer and error values printed through their methods",
    ),
    (
        r#"W{888}.Error()"#,
        "fmt.Stringer and error values printed through their methods",
    ),
    (
        r#"&W{999}.Error()"#,
        "fmt.Stringer and error values printed through their methods",
    ),
    (
        r#"(*W)(nil).Error()"#,
        "fmt.Stringer and error values printed through their methods",
    ),
    (r#"NIL"#, "typed nil pointer (*int) printed as <nil>"),
    (
        r#"empty with struct"#,
        "Go struct printed as {UinEmpty}: structs are maps here",
    ),
    (
        r#".Method3(nil value)"#,
        "maps with non-string keys (map[any]int, map[int32]string...): maps here are map[string]interface{}",
    ),
    (
        r#"method on chained var"#,
        "methods of Go structs and non-empty interfaces beyond the few the test's Object gives",
    ),
    (
        r#"chained method"#,
        "methods of Go structs and non-empty interfaces beyond the few the test's Object gives",
    ),
    (
        r#"chained method on variable"#,
        "methods of Go structs and non-empty interfaces beyond the few the test's Object gives",
    ),
    (
        r#".NilOKFunc not nil"#,
        "function-valued fields called with `call`: the model has no function values",
    ),
    (
        r#".NilOKFunc nil"#,
        "function-valued fields called with `call`: the model has no function values",
    ),
    (
        r#"method on nil value from slice"#,
        "data is a Go value this model has no form for (typed ints, structs, pointers, typed nil slices)",
    ),
    (
        r#"method on typed nil interface value"#,
        "methods of Go structs and non-empty interfaces beyond the few the test's Object gives",
    ),
    (
        r#".BinaryFunc"#,
        "function-valued fields called with `call`: the model has no function values",
    ),
    (
        r#".VariadicFunc0"#,
        "function-valued fields called with `call`: the model has no function values",
    ),
    (
        r#".VariadicFunc2"#,
        "function-valued fields called with `call`: the model has no function values",
    ),
    (
        r#".VariadicFuncInt"#,
        "function-valued fields called with `call`: the model has no function values",
    ),
    (
        r#"if .BinaryFunc call"#,
        "function-valued fields called with `call`: the model has no function values",
    ),
    (
        r#"if not .BinaryFunc call"#,
        "function-valued fields called with `call`: the model has no function values",
    ),
    (
        r#"Interface Call"#,
        "data is a Go value this model has no form for (typed ints, structs, pointers, typed nil slices)",
    ),
    (
        r#".ErrFunc"#,
        "function-valued fields called with `call`: the model has no function values",
    ),
    (
        r#"pipeline func"#,
        "function-valued fields called with `call`: the model has no function values",
    ),
    (
        r#"nil pipeline"#,
        "function-valued fields called with `call`: the model has no function values",
    ),
    (
        r#"nil call arg"#,
        "function-valued fields called with `call`: the model has no function values",
    ),
    (
        r#"parens: $.GetU in paren"#,
        "methods of Go structs and non-empty interfaces beyond the few the test's Object gives",
    ),
    (
        r#"if on typed nil interface value"#,
        "methods of Go structs and non-empty interfaces beyond the few the test's Object gives",
    ),
    (
        r#"if 0.0"#,
        "a zero field of a typed kind (float64, complex128) of the test's struct",
    ),
    (
        r#"if 1.5i"#,
        "complex numbers: not supported (no Helm value is complex)",
    ),
    (
        r#"if 0.0i"#,
        "complex numbers: not supported (no Helm value is complex)",
    ),
    (
        r#"if map unset"#,
        "maps with non-string keys (map[any]int, map[int32]string...): maps here are map[string]interface{}",
    ),
    (
        r#"if map not unset"#,
        "maps with non-string keys (map[any]int, map[int32]string...): maps here are map[string]interface{}",
    ),
    (
        r#"printf complex"#,
        "complex numbers: not supported (no Helm value is complex)",
    ),
    (
        r#"printf lots"#,
        "complex numbers: not supported (no Helm value is complex)",
    ),
    (
        r#"html untyped nil"#,
        "an invalid value as an argument (Go prints <no value>): arguments here are nil",
    ),
    (
        r#"map[NO]"#,
        "a missing key of a typed map (map[string]int) is the element type's zero (0); maps here hold interface{} (nil)",
    ),
    (
        r#"map[``]"#,
        "a missing key of a typed map (map[string]int) is the element type's zero (0); maps here hold interface{} (nil)",
    ),
    (
        r#"map MI64S"#,
        "maps with non-string keys (map[any]int, map[int32]string...): maps here are map[string]interface{}",
    ),
    (
        r#"map MI32S"#,
        "maps with non-string keys (map[any]int, map[int32]string...): maps here are map[string]interface{}",
    ),
    (
        r#"map MUI64S"#,
        "maps with non-string keys (map[any]int, map[int32]string...): maps here are map[string]interface{}",
    ),
    (
        r#"map MI8S"#,
        "maps with non-string keys (map[any]int, map[int32]string...): maps here are map[string]interface{}",
    ),
    (
        r#"map MUI8S"#,
        "maps with non-string keys (map[any]int, map[int32]string...): maps here are map[string]interface{}",
    ),
    (
        r#"len(s) < indexes < cap(s)"#,
        "slices with capacity beyond their length",
    ),
    (
        r#"len(s) < indexes < cap(s)"#,
        "slices with capacity beyond their length",
    ),
    (
        r#"with 0.0"#,
        "a zero field of a typed kind (float64, complex128) of the test's struct",
    ),
    (
        r#"with 1.5i"#,
        "complex numbers: not supported (no Helm value is complex)",
    ),
    (
        r#"with 0.0i"#,
        "complex numbers: not supported (no Helm value is complex)",
    ),
    (
        r#"with on typed nil interface value"#,
        "methods of Go structs and non-empty interfaces beyond the few the test's Object gives",
    ),
    (
        r#"range []int method"#,
        "methods of Go structs and non-empty interfaces beyond the few the test's Object gives",
    ),
    (
        r#"error method, no error"#,
        "methods of Go structs and non-empty interfaces beyond the few the test's Object gives",
    ),
    (
        r#"bug1"#,
        "data is a Go value this model has no form for (typed ints, structs, pointers, typed nil slices)",
    ),
    (
        r#"bug2"#,
        "methods of Go structs and non-empty interfaces beyond the few the test's Object gives",
    ),
    (
        r#"bug5"#,
        "fmt.Stringer and error values printed through their methods",
    ),
    (
        r#"bug5a"#,
        "fmt.Stringer and error values printed through their methods",
    ),
    (
        r#"bug6a"#,
        "fmt.Stringer and error values printed through their methods",
    ),
    (
        r#"bug6b"#,
        "fmt.Stringer and error values printed through their methods",
    ),
    (
        r#"bug6c"#,
        "fmt.Stringer and error values printed through their methods",
    ),
    (
        r#"bug6d"#,
        "fmt.Stringer and error values printed through their methods",
    ),
    (
        r#"bug8a"#,
        "type checks of the test functions' typed parameters (Go's reflect): functions here take any value",
    ),
    (
        r#"bug11"#,
        "data is a Go value this model has no form for (typed ints, structs, pointers, typed nil slices)",
    ),
    (
        r#"bug12xe"#,
        "data is a Go value this model has no form for (typed ints, structs, pointers, typed nil slices)",
    ),
    (
        r#"bug12xE"#,
        "data is a Go value this model has no form for (typed ints, structs, pointers, typed nil slices)",
    ),
    (
        r#"bug12Xe"#,
        "data is a Go value this model has no form for (typed ints, structs, pointers, typed nil slices)",
    ),
    (
        r#"bug12XE"#,
        "data is a Go value this model has no form for (typed ints, structs, pointers, typed nil slices)",
    ),
    (
        r#"bug13"#,
        "methods of Go structs and non-empty interfaces beyond the few the test's Object gives",
    ),
    (
        r#"bug16f"#,
        "type checks of the test functions' typed parameters (Go's reflect): functions here take any value",
    ),
    (
        r#"bug16h"#,
        "type checks of the test functions' typed parameters (Go's reflect): functions here take any value",
    ),
    (
        r#"bug16j"#,
        "complex numbers: not supported (no Helm value is complex)",
    ),
    (
        r#"bug17a"#,
        "methods of Go structs and non-empty interfaces beyond the few the test's Object gives",
    ),
    (
        r#"bug17b"#,
        "methods of Go structs and non-empty interfaces beyond the few the test's Object gives",
    ),
    (
        r#"bug17c"#,
        "methods of Go structs and non-empty interfaces beyond the few the test's Object gives",
    ),
    (
        r#"bug17d"#,
        "methods of Go structs and non-empty interfaces beyond the few the test's Object gives",
    ),
    (
        r#"bug17e"#,
        "methods of Go structs and non-empty interfaces beyond the few the test's Object gives",
    ),
];

#[test]
fn go_exec_tests() {
    let text = include_str!("../../tests/gotmpl/go_exec_tests.jsonl");
    let mut passed = 0;
    let mut failed = Vec::new();
    let mut listed = 0;
    for line in text.lines().skip(1) {
        let case: serde_json::Value = serde_json::from_str(line).unwrap();
        let name = case["name"].as_str().unwrap();
        let input = case["input"].as_str().unwrap();
        let want = case["output"].as_str().unwrap();
        let ok = case["ok"].as_bool().unwrap();
        // Inputs built with the test's Go constants (bigInt, bigUint) are not supported.
        let reason = GO_EXEC_UNSUPPORTED
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, r)| *r)
            .or(input
                .contains("${")
                .then_some("uses a Go constant of the test (bigInt, bigUint)"));
        let got = (|| {
            if input.contains("${") {
                return None;
            }
            let data = go_data(case["data"].as_str().unwrap())?;
            let mut s = TemplateSet::new_go(Limits::default());
            s.add_func(
                "echo",
                std::sync::Arc::new(|a: &[Value]| Ok(a.first().cloned().unwrap_or_default())),
            );
            s.add_func(
                "zeroArgs",
                std::sync::Arc::new(|_: &[Value]| Ok(Value::from("zeroArgs"))),
            );
            s.add_func(
                "oneArg",
                std::sync::Arc::new(|a: &[Value]| {
                    Ok(Value::from(format!(
                        "oneArg={}",
                        a.first().map(|v| v.to_text()).unwrap_or_default()
                    )))
                }),
            );
            s.add_func(
                "twoArgs",
                std::sync::Arc::new(|a: &[Value]| {
                    Ok(Value::from(format!(
                        "twoArgs={}{}",
                        a[0].to_text(),
                        a[1].to_text()
                    )))
                }),
            );
            s.add_func(
                "count",
                std::sync::Arc::new(|a: &[Value]| {
                    let Some(Value::Int(n)) = a.first() else {
                        return Err("count".into());
                    };
                    Ok(Value::from(
                        (0..*n)
                            .map(|i| Value::from(((b'a' + i as u8) as char).to_string()))
                            .collect::<Vec<_>>(),
                    ))
                }),
            );
            s.add_func(
                "typeOf",
                std::sync::Arc::new(|a: &[Value]| Ok(Value::from(a[0].type_name()))),
            );
            s.add_func(
                "vfunc",
                std::sync::Arc::new(|_: &[Value]| Ok(Value::from("vfunc"))),
            );
            s.add_func("die", std::sync::Arc::new(|_: &[Value]| Err("die".into())));
            s.add_func(
                "mapOfThree",
                std::sync::Arc::new(|_: &[Value]| {
                    Ok(Value::from_json(
                        &serde_json::json!({"three": 3}),
                        Numbers::IntWhenWhole,
                    ))
                }),
            );
            s.add_func(
                "add",
                std::sync::Arc::new(|a: &[Value]| match a {
                    [Value::Int(x), Value::Int(y)] => Ok(Value::Int(x + y)),
                    _ => Err("add".into()),
                }),
            );
            s.add_func(
                "makemap",
                std::sync::Arc::new(|a: &[Value]| {
                    let mut m = Map::new();
                    for p in a.chunks(2) {
                        m.insert(p[0].to_text(), p[1].clone());
                    }
                    Ok(Value::from(m))
                }),
            );
            let r = s.parse("t", input).and_then(|_| s.execute("t", &data));
            Some(r)
        })();
        let good = match &got {
            Some(Ok(out)) => ok && out == want,
            Some(Err(_)) => !ok,
            None => false,
        };
        match (good, reason) {
            (true, None) => passed += 1,
            (true, Some(_)) => failed.push(format!("{name}: listed as not supported but passes")),
            (false, Some(_)) => listed += 1,
            (false, None) => failed.push(format!(
                "{name}: {input:?} want {want:?} ok={ok}, got {got:?}"
            )),
        }
    }
    eprintln!("Go execTests: {passed} pass, {listed} listed as not supported");
    assert!(
        failed.is_empty(),
        "{} failures:\n{}",
        failed.len(),
        failed.join("\n")
    );
}

/// Cases of Go's parseTests this engine does not support, with why.
const GO_PARSE_UNSUPPORTED: &[(&str, &str)] = &[];

#[test]
fn go_parse_tests() {
    let text = include_str!("../../tests/gotmpl/go_parse_tests.jsonl");
    let (mut passed, mut listed, mut failed) = (0, 0, Vec::new());
    for line in text.lines().skip(1) {
        let case: serde_json::Value = serde_json::from_str(line).unwrap();
        let name = case["name"].as_str().unwrap();
        let input = case["input"].as_str().unwrap();
        let want = case["result"].as_str().unwrap();
        let ok = case["ok"].as_bool().unwrap();
        let reason = GO_PARSE_UNSUPPORTED.iter().find(|(n, _)| *n == name);
        // The parser's tests know two functions: printf and contains.
        let mut s = TemplateSet::new_go(Limits::default());
        s.builtins.retain(|k, _| *k == "printf");
        s.add_func(
            "contains",
            std::sync::Arc::new(|_: &[Value]| Ok(Value::Nil)),
        );
        let got = s
            .parse_text(name, name, input)
            .map(|(root, _)| parse::list_string(&root.root));
        let good = match &got {
            Ok(tree) => ok && tree == want,
            Err(_) => !ok,
        };
        match (good, reason) {
            (true, None) => passed += 1,
            (true, Some(_)) => failed.push(format!("{name}: listed as not supported but passes")),
            (false, Some(_)) => listed += 1,
            (false, None) => failed.push(format!(
                "{name}: {input:?} want {want:?} ok={ok}, got {got:?}"
            )),
        }
    }
    eprintln!("Go parseTests: {passed} pass, {listed} listed as not supported");
    assert!(
        failed.is_empty(),
        "{} failures:\n{}",
        failed.len(),
        failed.join("\n")
    );
}
