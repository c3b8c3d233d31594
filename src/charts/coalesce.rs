//! Values as Helm merges them for a release (`helm template` with one values file):
//!
//! 1. Which dependencies are enabled: `tags:` first (a dependency with one of its tags
//!    `true` is enabled, with only `false` ones disabled), then `condition` (the first of
//!    its comma-separated paths that holds a boolean decides, and wins over the tags),
//!    each read from the chart's values coalesced with the user's, a subchart's
//!    conditions under its parent's path. An `alias` renames a dependency.
//! 2. `import-values`: a dependency's `exports.X` (or `{child, parent}`) copied into its
//!    parent's values, under the parent's own (the parent's values win), deepest first,
//!    from the charts' own values.
//! 3. The user's values coalesced over the chart's: maps merged key by key, the user's
//!    side winning; a `null` the user sets removes the chart's key; a dependency's values
//!    are the parent's map under its name over its own `values.yaml`, and the parent's
//!    `global` is copied into every dependency's `global` (the parent's keys win).

use super::load::Chart;
use serde_json::{Map, Value};

/// The values a release of `chart` renders with, the user's `user` over the chart's, after
/// the dependencies `chart` keeps are chosen and their imports made (`chart` is changed
/// as Helm changes it: disabled dependencies removed, aliases applied, imports merged
/// into its values).
pub fn release_values(chart: &mut Chart, user: &Map<String, Value>) -> Map<String, Value> {
    let top = coalesce(chart, user.clone());
    enable(chart, &top, "");
    let parent = chart
        .path
        .rsplit_once('/')
        .map_or(String::new(), |(p, _)| format!("{p}/"));
    super::load::set_paths(chart, &parent);
    import_values(chart);
    coalesce(chart, user.clone())
}

/// The chart's values under `dest` (which wins), its dependencies' under their names.
pub fn coalesce(chart: &Chart, mut dest: Map<String, Value>) -> Map<String, Value> {
    coalesce_values(chart, &mut dest);
    coalesce_deps(chart, &mut dest);
    dest
}

fn coalesce_values(chart: &Chart, dest: &mut Map<String, Value>) {
    for (key, val) in &chart.values {
        match dest.get_mut(key) {
            Some(Value::Null) => {
                dest.remove(key);
            }
            Some(Value::Object(d)) => {
                if let Value::Object(src) = val {
                    // A dependency's map keeps its nulls for its own values to meet.
                    let merge = chart.dependencies.iter().any(|c| &c.name == key);
                    coalesce_tables(d, src, merge);
                }
            }
            Some(_) => {}
            None => {
                dest.insert(key.clone(), val.clone());
            }
        }
    }
}

fn coalesce_deps(chart: &Chart, dest: &mut Map<String, Value>) {
    for sub in &chart.dependencies {
        let mut dv = match dest.remove(&sub.name) {
            Some(Value::Object(m)) => m,
            // Helm refuses a non-map there ("type mismatch"); nothing of it is kept.
            _ => Map::new(),
        };
        coalesce_globals(&mut dv, dest);
        let dv = coalesce(sub, dv);
        dest.insert(sub.name.clone(), Value::Object(dv));
    }
}

/// Where Helm's coalescing of `user` over `chart` (its dependencies chosen: see
/// [`release_values`]) fails: a dependency whose values are not a map (Helm: "type mismatch
/// on NAME"; [`coalesce`] drops them). The dotted path of the first, as Helm meets them
/// (dependencies in order, depth first), and what it holds.
pub fn type_mismatch(chart: &Chart, user: &Map<String, Value>) -> Option<(String, Value)> {
    let mut dest = user.clone();
    coalesce_values(chart, &mut dest);
    for sub in &chart.dependencies {
        match dest.get(&sub.name) {
            None => {}
            Some(Value::Object(m)) => {
                let mut dv = m.clone();
                coalesce_globals(&mut dv, &dest);
                if let Some((path, v)) = type_mismatch(sub, &dv) {
                    return Some((format!("{}.{path}", sub.name), v));
                }
            }
            Some(other) => return Some((sub.name.clone(), other.clone())),
        }
    }
    None
}

/// `src`'s `global` copied into `dest`'s (`src`'s keys win; maps merged).
fn coalesce_globals(dest: &mut Map<String, Value>, src: &Map<String, Value>) {
    let mut dg = match dest.get("global") {
        Some(Value::Object(m)) => m.clone(),
        Some(_) => return,
        None => Map::new(),
    };
    let sg = match src.get("global") {
        Some(Value::Object(m)) => m,
        Some(_) => return,
        None => &Map::new(),
    };
    for (key, val) in sg {
        match val {
            Value::Object(v) => {
                let mut vv = v.clone();
                match dg.get(key) {
                    None => {
                        dg.insert(key.clone(), Value::Object(vv));
                    }
                    Some(Value::Object(d)) => {
                        coalesce_tables(&mut vv, d, true);
                        dg.insert(key.clone(), Value::Object(vv));
                    }
                    Some(_) => {}
                }
            }
            _ if matches!(dg.get(key), Some(Value::Object(_))) => {}
            _ => {
                dg.insert(key.clone(), val.clone());
            }
        }
    }
    dest.insert("global".into(), Value::Object(dg));
}

/// `src` under `dst` (`dst` wins); without `merge`, a `null` in `dst` removes the key.
pub fn coalesce_tables(dst: &mut Map<String, Value>, src: &Map<String, Value>, merge: bool) {
    for (key, val) in src {
        match dst.get_mut(key) {
            Some(Value::Null) if !merge => {
                dst.remove(key);
            }
            None => {
                dst.insert(key.clone(), val.clone());
            }
            Some(Value::Object(d)) => {
                if let Value::Object(s) = val {
                    coalesce_tables(d, s, merge);
                }
            }
            Some(_) => {}
        }
    }
}

/// The value at the dotted `path` of `values`, when it is not a map (Helm's `PathValue`).
pub fn path_value<'v>(values: &'v Map<String, Value>, path: &str) -> Option<&'v Value> {
    let mut parts: Vec<&str> = path.split('.').collect();
    let last = parts.pop()?;
    let mut table = values;
    for p in parts {
        table = table.get(p)?.as_object()?;
    }
    table.get(last).filter(|v| !v.is_object())
}

/// The map at the dotted `path` of `values` (Helm's `Table`).
pub fn table<'v>(values: &'v Map<String, Value>, path: &str) -> Option<&'v Map<String, Value>> {
    let mut table = values;
    for p in path.split('.').filter(|p| !p.is_empty()) {
        table = table.get(p)?.as_object()?;
    }
    Some(table)
}

/// Keeps the dependencies of `chart` its `Chart.yaml` enables with `top` (the release's
/// values, coalesced), `path` being the chart's place in them (`""`, `sub.`), recursively;
/// applies the aliases.
fn enable(chart: &mut Chart, top: &Map<String, Value>, path: &str) {
    let declared = chart.declared();
    let found = std::mem::take(&mut chart.dependencies);
    let mut kept: Vec<Chart> = Vec::new();
    // A dependency not declared in Chart.yaml is always kept (Helm keeps what charts/ holds).
    for d in &found {
        let named = declared
            .iter()
            .any(|r| r.get("name").and_then(Value::as_str) == Some(&d.name));
        if !named {
            kept.push(d.clone());
        }
    }
    let tags = table(top, "tags");
    // Chart.yaml's dependencies as Helm leaves them in the chart's metadata (`.Chart.Dependencies`):
    // the alias as the name, `enabled`, the disabled ones gone.
    let mut metadata: Vec<(String, Map<String, Value>)> = Vec::new();
    let mut disabled: Vec<String> = Vec::new();
    for req in &declared {
        let Some(name) = req.get("name").and_then(Value::as_str) else {
            continue;
        };
        let alias = req
            .get("alias")
            .and_then(Value::as_str)
            .filter(|a| !a.is_empty());
        let mut entry = req.clone();
        let shown = alias.unwrap_or(name).to_string();
        entry.insert("name".into(), Value::String(shown.clone()));
        entry.insert("enabled".into(), Value::Bool(true));
        let dep = found.iter().find(|d| d.name == name);
        let mut enabled = true;
        if let (Some(tags), Some(Value::Array(want))) = (tags, req.get("tags")) {
            let (mut has_true, mut has_false) = (false, false);
            for t in want.iter().filter_map(Value::as_str) {
                match tags.get(t) {
                    Some(Value::Bool(true)) => has_true = true,
                    Some(Value::Bool(false)) => has_false = true,
                    _ => {}
                }
            }
            enabled = has_true || !has_false;
        }
        if let Some(Value::String(condition)) = req.get("condition") {
            for c in condition.split(',') {
                let c = c.trim();
                if c.is_empty() {
                    continue;
                }
                if let Some(Value::Bool(b)) = path_value(top, &format!("{path}{c}")) {
                    enabled = *b;
                    break;
                }
            }
        }
        metadata.push((shown.clone(), entry));
        if !enabled {
            disabled.push(shown);
            continue;
        }
        let Some(dep) = dep else {
            continue;
        };
        let mut dep = dep.clone();
        if let Some(alias) = alias {
            dep.name = alias.to_string();
        }
        kept.push(dep);
    }
    for d in &mut kept {
        let below = format!("{path}{}.", d.name);
        enable(d, top, &below);
    }
    kept.sort_by(|a, b| a.name.cmp(&b.name));
    chart.dependencies = kept;
    if matches!(chart.metadata.get("dependencies"), Some(Value::Array(_))) {
        let listed = metadata
            .into_iter()
            .filter(|(name, _)| !disabled.contains(name))
            .map(|(_, m)| Value::Object(m))
            .collect();
        chart
            .metadata
            .insert("dependencies".into(), Value::Array(listed));
    }
}

/// `import-values`, deepest first: each dependency's exported values merged under the
/// chart's own values (which win).
fn import_values(chart: &mut Chart) {
    for d in &mut chart.dependencies {
        import_values(d);
    }
    let declared = chart.declared();
    if declared.is_empty() {
        return;
    }
    let cvals = coalesce(chart, Map::new());
    let mut imported = Map::new();
    for req in &declared {
        let name = req
            .get("alias")
            .and_then(Value::as_str)
            .filter(|a| !a.is_empty())
            .or_else(|| req.get("name").and_then(Value::as_str));
        let (Some(name), Some(Value::Array(imports))) = (name, req.get("import-values")) else {
            continue;
        };
        for iv in imports {
            let (child, parent) = match iv {
                Value::String(s) => (format!("exports.{s}"), None),
                Value::Object(m) => match (m.get("child"), m.get("parent")) {
                    (Some(Value::String(c)), Some(Value::String(p))) => {
                        (c.clone(), Some(p.clone()))
                    }
                    _ => continue,
                },
                _ => continue,
            };
            let Some(from) = table(&cvals, &format!("{name}.{child}")) else {
                continue;
            };
            let add = match parent.as_deref() {
                None | Some(".") | Some("") => from.clone(),
                Some(p) => path_to_map(p, from.clone()),
            };
            // Later imports win over earlier ones (Helm merges each over what it has).
            let mut over = add;
            coalesce_tables(&mut over, &imported, true);
            imported = over;
        }
    }
    let mut values = cvals;
    coalesce_tables(&mut values, &imported, true);
    // The chart's values are now the coalesced ones, as Helm leaves them.
    chart.values = values;
}

/// `{a: {b: {…value}}}` for the path `a.b`.
fn path_to_map(path: &str, value: Map<String, Value>) -> Map<String, Value> {
    let mut out = value;
    for p in path.rsplit('.').filter(|p| !p.is_empty()) {
        let mut m = Map::new();
        m.insert(p.to_string(), Value::Object(out));
        out = m;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn chart(name: &str, meta: Value, values: Value, deps: Vec<Chart>) -> Chart {
        let mut m = obj(json!({"name": name, "version": "1.0.0"}));
        for (k, v) in obj(meta) {
            m.insert(k, v);
        }
        let mut c = Chart {
            name: name.into(),
            metadata: m,
            values: obj(values),
            dependencies: deps,
            ..Chart::default()
        };
        super::super::load::set_paths(&mut c, "");
        c
    }

    #[test]
    fn user_values_win_nulls_remove_and_subcharts_get_their_map_and_globals() {
        let sub = chart(
            "db",
            json!({}),
            json!({"image": {"repository": "pg", "tag": "15"}, "global": {"registry": "sub.example", "own": 1}, "keep": null}),
            vec![],
        );
        let mut top = chart(
            "app",
            json!({}),
            json!({"image": {"repository": "app", "tag": "1", "pullPolicy": "Always"}, "global": {"registry": "top.example"}, "db": {"image": {"tag": "16"}}}),
            vec![sub],
        );
        let user = obj(
            json!({"image": {"tag": "2", "pullPolicy": null}, "global": {"extra": true}, "db": {"image": {"repository": "postgres"}}}),
        );
        let v = release_values(&mut top, &user);
        assert_eq!(v["image"], json!({"repository": "app", "tag": "2"}));
        assert_eq!(
            v["db"]["image"],
            json!({"repository": "postgres", "tag": "16"})
        );
        assert_eq!(
            v["db"]["global"],
            json!({"registry": "top.example", "extra": true, "own": 1})
        );
    }

    #[test]
    fn conditions_and_tags_choose_dependencies_and_aliases_rename_them() {
        let deps = vec![
            chart("redis", json!({}), json!({"port": 6379}), vec![]),
            chart("metrics", json!({}), json!({}), vec![]),
            chart("extra", json!({}), json!({}), vec![]),
            chart("loose", json!({}), json!({}), vec![]),
        ];
        let meta = json!({"dependencies": [
            {"name": "redis", "condition": "redis.enabled"},
            {"name": "redis", "alias": "cache", "condition": "missing.x,cache.enabled"},
            {"name": "metrics", "tags": ["monitoring"]},
            {"name": "extra", "tags": ["monitoring", "extras"], "condition": "extra.on"},
        ]});
        let mut top = chart(
            "app",
            meta,
            json!({"redis": {"enabled": false}, "cache": {"enabled": true}, "tags": {"monitoring": false}}),
            deps,
        );
        let v = release_values(&mut top, &obj(json!({"extra": {"on": true}})));
        let names: Vec<(&str, &str)> = top
            .dependencies
            .iter()
            .map(|d| (d.name.as_str(), d.path.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                ("cache", "app/charts/cache"),
                ("extra", "app/charts/extra"),
                ("loose", "app/charts/loose")
            ]
        );
        assert_eq!(v["cache"]["port"], 6379);
    }

    #[test]
    fn import_values_go_under_the_parents_own() {
        let sub = chart(
            "child",
            json!({}),
            json!({"exports": {"data": {"image": {"repository": "x", "tag": "1"}}}, "deep": {"a": {"b": 1}}}),
            vec![],
        );
        let meta = json!({"dependencies": [{"name": "child", "import-values": ["data", {"child": "deep.a", "parent": "fromChild"}]}]});
        let mut top = chart("app", meta, json!({"image": {"tag": "2"}}), vec![sub]);
        let v = release_values(&mut top, &Map::new());
        assert_eq!(v["image"], json!({"tag": "2", "repository": "x"}));
        assert_eq!(v["fromChild"], json!({"b": 1}));
    }

    #[test]
    fn a_dependencys_values_that_are_no_map_are_a_type_mismatch_as_in_helm() {
        let inner = chart("leaf", json!({}), json!({"a": 1}), vec![]);
        let sub = chart("db", json!({}), json!({"port": 1}), vec![inner]);
        let mut top = chart("app", json!({}), json!({"db": {"port": 2}}), vec![sub]);
        let user = obj(json!({"db": 3}));
        // Before: dropped without a word (and the parent's `db.port` with it).
        let v = release_values(&mut top, &user);
        assert_eq!(v["db"]["port"], 1);
        assert_eq!(type_mismatch(&top, &user), Some(("db".into(), json!(3))));
        let user = obj(json!({"db": {"leaf": "x"}}));
        assert_eq!(
            type_mismatch(&top, &user),
            Some(("db.leaf".into(), json!("x")))
        );
        // A null the chart's own values meet removes the key: no mismatch; a null under a
        // name the chart's values lack stays, and Helm refuses it.
        assert_eq!(type_mismatch(&top, &obj(json!({"db": null}))), None);
        assert_eq!(
            type_mismatch(&top, &obj(json!({"db": {"leaf": null}}))),
            Some(("db.leaf".into(), Value::Null))
        );
        assert_eq!(type_mismatch(&top, &obj(json!({"db": {"port": 5}}))), None);
    }

    #[test]
    fn paths_read_as_helm_reads_them() {
        let v = obj(json!({"a": {"b": {"c": true}}, "t": 1}));
        assert_eq!(path_value(&v, "a.b.c"), Some(&json!(true)));
        assert_eq!(path_value(&v, "a.b"), None);
        assert_eq!(path_value(&v, "t"), Some(&json!(1)));
        assert!(table(&v, "a.b").is_some());
        assert!(table(&v, "t").is_none());
    }
}
