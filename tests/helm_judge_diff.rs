//! How the Helm judge (`tests/helm_judge.rs`) compares a document of Helm's with
//! seedforge's, and a refusal with a refusal, so that it hides nothing: every place two
//! documents differ is a line of its own (a JSON pointer and the value on each side, every
//! differing line of a multi-line string), a known difference is one such line exactly
//! (not its start), and two refusals agree only when they name the same template and line.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;

/// The report line of one difference of the document `doc` (`Kind namespace/name`) at
/// `place` (a JSON pointer, with ` line N` for a line of a multi-line string and
/// ` (base64)` for a Secret's decoded data), each side's value as JSON (`None`: not there).
pub fn line(doc: &str, place: &str, helm: Option<&str>, seedforge: Option<&str>) -> String {
    let side = |v: Option<&str>| v.unwrap_or("(nothing)").to_string();
    format!(
        "{doc} differs at {place}: Helm {} / seedforge {}",
        side(helm),
        side(seedforge)
    )
}

/// Every place where `a` (Helm's) and `b` (seedforge's) differ, under `at`: each as
/// (place, Helm's value, seedforge's value), values as JSON text.
pub fn differences(
    a: &Value,
    b: &Value,
    at: &str,
    out: &mut Vec<(String, Option<String>, Option<String>)>,
) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                let p = format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
                match (x.get(k), y.get(k)) {
                    (Some(u), Some(v)) => differences(u, v, &p, out),
                    (u, v) => out.push((p, u.map(Value::to_string), v.map(Value::to_string))),
                }
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            for i in 0..x.len().max(y.len()) {
                let p = format!("{at}/{i}");
                match (x.get(i), y.get(i)) {
                    (Some(u), Some(v)) => differences(u, v, &p, out),
                    (u, v) => out.push((p, u.map(Value::to_string), v.map(Value::to_string))),
                }
            }
        }
        (Value::String(x), Value::String(y)) if x != y && decoded(x).zip(decoded(y)).is_some() => {
            let (x, y) = (decoded(x).unwrap(), decoded(y).unwrap());
            differences(
                &Value::String(x),
                &Value::String(y),
                &format!("{at} (base64)"),
                out,
            );
        }
        (Value::String(x), Value::String(y))
            if x != y && (x.contains('\n') || y.contains('\n')) =>
        {
            let (xl, yl): (Vec<&str>, Vec<&str>) =
                (x.split('\n').collect(), y.split('\n').collect());
            for i in 0..xl.len().max(yl.len()) {
                let (u, v) = (xl.get(i), yl.get(i));
                if u != v {
                    out.push((
                        format!("{at} line {}", i + 1),
                        u.map(|s| Value::String(s.to_string()).to_string()),
                        v.map(|s| Value::String(s.to_string()).to_string()),
                    ));
                }
            }
        }
        _ if a != b => out.push((at.to_string(), Some(a.to_string()), Some(b.to_string()))),
        _ => {}
    }
}

/// A Secret's base64 data that decodes to text of several lines.
fn decoded(s: &str) -> Option<String> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD.decode(s).ok()?;
    String::from_utf8(bytes).ok().filter(|t| t.contains('\n'))
}

/// The report lines of two documents: one a difference.
pub fn document_lines(doc: &str, helm: &Value, seedforge: &Value) -> Vec<String> {
    let mut d = Vec::new();
    differences(helm, seedforge, "", &mut d);
    d.iter()
        .map(|(p, h, s)| line(doc, p, h.as_deref(), s.as_deref()))
        .collect()
}

/// Where a refusal points: the first `TEMPLATE:LINE[:COLUMN]` it names (Helm's `execution
/// error at (chart/templates/x.yaml:12:4)`, seedforge's `chart/templates/x.yaml:12:4:`);
/// `None` for a refusal of no template (a schema's).
pub fn refusal_place(message: &str) -> Option<(String, usize, Option<usize>)> {
    let re = regex::Regex::new(r"([A-Za-z0-9_.\-/]+\.(?:yaml|yml|tpl|txt|json)):(\d+)(?::(\d+))?")
        .unwrap();
    let c = re.captures(message)?;
    Some((
        c[1].trim_start_matches('(').to_string(),
        c[2].parse().ok()?,
        c.get(3).and_then(|m| m.as_str().parse().ok()),
    ))
}

/// The report line of two refusals that do not point at the same place, or none: the same
/// template and line, and the same column where both name one.
pub fn refusals_differ(helm: &str, seedforge: &str) -> Option<String> {
    let (h, s) = (refusal_place(helm), refusal_place(seedforge));
    let same = match (&h, &s) {
        (Some((ht, hl, hc)), Some((st, sl, sc))) => {
            ht == st && hl == sl && (hc.is_none() || sc.is_none() || hc == sc)
        }
        (None, None) => true,
        _ => false,
    };
    (!same).then(|| {
        let shown = |p: &Option<(String, usize, Option<usize>)>| {
            p.as_ref().map_or("no template".to_string(), |(t, l, c)| {
                c.map_or(format!("{t}:{l}"), |c| format!("{t}:{l}:{c}"))
            })
        };
        format!(
            "both refuse, at other places: Helm at {} ({helm}) / seedforge at {} ({seedforge})",
            shown(&h),
            shown(&s)
        )
    })
}

/// The lines of a report not in `known` (case, exact line), and the known lines that did
/// not occur in `reports` (case, lines).
pub fn unexplained(
    known: &[(String, String)],
    reports: &[(String, Vec<String>)],
) -> (Vec<String>, Vec<String>) {
    let mut used = vec![false; known.len()];
    let mut out = Vec::new();
    for (case, lines) in reports {
        for l in lines {
            match known.iter().position(|(c, k)| c == case && k == l) {
                Some(i) => used[i] = true,
                None => out.push(format!("{case}: {l}")),
            }
        }
    }
    let stale = known
        .iter()
        .zip(&used)
        .filter(|(_, u)| !**u)
        .map(|((c, k), _)| format!("{c}: {k}"))
        .collect();
    (out, stale)
}

#[test]
fn a_difference_after_a_listed_one_fails_the_judge() {
    let helm: Value = serde_json::json!({"spec": {"probe": {}, "args": ["a", "b"], "text": "one\ntwo\nthree\nfour\n"}});
    let listed: Value = serde_json::json!({"spec": {"probe": {"delay": null}, "args": ["a", "b"], "text": "one\ntwo\nthree\nfour\n"}});
    let doc = "Deployment default/x";
    let pinned = line(doc, "/spec/probe/delay", None, Some("null"));
    let known = vec![("x defaults".to_string(), pinned.clone())];
    // The listed difference alone: explained.
    let lines = document_lines(doc, &helm, &listed);
    assert_eq!(lines, vec![pinned]);
    let (bad, stale) = unexplained(&known, &[("x defaults".into(), lines)]);
    assert!(bad.is_empty() && stale.is_empty(), "{bad:?} {stale:?}");
    // A further difference after it, in the same document (an argument, two lines of a
    // multi-line string): each is reported and none is taken for the listed one.
    let mut more = listed.clone();
    more["spec"]["args"][1] = "c".into();
    more["spec"]["args"]
        .as_array_mut()
        .unwrap()
        .push("d".into());
    more["spec"]["text"] = "one\nTWO\nthree\nFOUR\n".into();
    let lines = document_lines(doc, &helm, &more);
    assert_eq!(lines.len(), 5, "{lines:?}");
    let (bad, stale) = unexplained(&known, &[("x defaults".into(), lines)]);
    assert!(stale.is_empty());
    assert_eq!(
        bad,
        [
            "x defaults: Deployment default/x differs at /spec/args/1: Helm \"b\" / seedforge \"c\"",
            "x defaults: Deployment default/x differs at /spec/args/2: Helm (nothing) / seedforge \"d\"",
            "x defaults: Deployment default/x differs at /spec/text line 2: Helm \"two\" / seedforge \"TWO\"",
            "x defaults: Deployment default/x differs at /spec/text line 4: Helm \"four\" / seedforge \"FOUR\"",
        ]
    );
    // The same place with another value on one side is not the listed difference.
    let mut other = helm.clone();
    other["spec"]["probe"]["delay"] = 5.into();
    let (bad, stale) = unexplained(
        &known,
        &[("x defaults".into(), document_lines(doc, &helm, &other))],
    );
    assert_eq!(bad.len(), 1, "{bad:?}");
    assert_eq!(stale.len(), 1, "{stale:?}");
}

#[test]
fn refusals_agree_only_at_the_same_template_and_line() {
    let helm = "execution error at (caps/templates/_helpers.tpl:12:4): no ServiceMonitor";
    assert_eq!(
        refusal_place(helm),
        Some(("caps/templates/_helpers.tpl".into(), 12, Some(4)))
    );
    assert_eq!(
        refusals_differ(
            helm,
            "chart caps: caps/templates/_helpers.tpl:12:4: no ServiceMonitor"
        ),
        None
    );
    assert!(
        refusals_differ(
            helm,
            "chart caps: caps/templates/_helpers.tpl:13:4: no ServiceMonitor"
        )
        .is_some()
    );
    // The same line, another column: the chain's head named where Go names its field.
    let chain = "template: runners/templates/mode.yaml:8:26: executing \"runners/templates/mode.yaml\" at <$mode.volume.size>: nil pointer evaluating interface {}.size";
    assert!(
        refusals_differ(
            chain,
            "chart ci: runners/templates/mode.yaml:8:21: nil pointer evaluating interface {}.size"
        )
        .is_some()
    );
    assert_eq!(
        refusals_differ(
            chain,
            "chart ci: runners/templates/mode.yaml:8:26: nil pointer evaluating interface {}.size"
        ),
        None
    );
    assert!(refusals_differ(helm, "values don't meet the schema: replicaCount").is_some());
    assert_eq!(
        refusals_differ("schema: replicaCount", "the values: replicaCount"),
        None
    );
}
