//! The executor: a tree walked against data with Go's semantics (truth, fields of maps and
//! objects, missing keys, variables and their scopes, `range` over lists, maps in key order
//! and integers, `break` and `continue`, `template` calls), every step counted against the
//! [`Limits`](super::Limits).

use super::call::{Builtin, Caller, Fail};
use super::parse::{Arg, Branch, Cmd, Node, Number, Pipe};
use super::value::Value;
use super::{Error, Limits, MissingKey, TemplateSet, Tmpl};
use std::collections::HashMap;
use std::rc::Rc;

/// What a walk tells its caller: go on, or leave the loop (`break`) or the iteration
/// (`continue`).
enum Flow {
    Normal,
    Break,
    Continue,
}

/// One execution of a template set: variables, depth, counters.
pub(crate) struct Exec<'a> {
    pub(crate) set: &'a TemplateSet,
    /// Templates `define`d by texts `tpl` parsed, innermost last.
    pub(crate) overlay: Vec<HashMap<String, Rc<Tmpl>>>,
    /// Variables in scope, innermost last: name, value, and whether a nil in it is Go's nil
    /// `interface{}` (a `range` element, taken out of its list or map as it is) rather than
    /// the invalid value Go makes of a nil every pipeline leaves (it digs an `interface{}`
    /// result down to what it holds, and a nil one holds nothing). A field of the first is
    /// the error "nil pointer evaluating interface {}.x"; of the second, no value.
    vars: Vec<(String, Value, bool)>,
    /// Whether a nil dot is Go's nil `interface{}` (a `range` element), as for variables; a
    /// nil dot a template was called with (`template`, `include`, `tpl`) is invalid.
    dot_boxed: bool,
    pub(crate) depth: usize,
    pub(crate) steps: u64,
    /// The template being executed (for positions in errors).
    pub(crate) cur: Rc<Tmpl>,
    /// The position of the command being evaluated.
    pub(crate) at: usize,
    /// Include nesting per name (Helm's guard against include loops).
    pub(crate) included: HashMap<String, usize>,
}

type R<T> = Result<T, Error>;

impl<'a> Exec<'a> {
    pub(crate) fn new(set: &'a TemplateSet, cur: Rc<Tmpl>) -> Self {
        Exec {
            set,
            overlay: Vec::new(),
            vars: Vec::new(),
            dot_boxed: false,
            depth: 0,
            steps: 0,
            cur,
            at: 0,
            included: HashMap::new(),
        }
    }

    /// An error at `pos` of the current template.
    pub(crate) fn error(&self, pos: usize, message: impl Into<String>) -> Error {
        let (line, column) = super::lex::line_col(&self.cur.src, pos);
        Error {
            template: self.cur.file.to_string(),
            line,
            column,
            message: message.into(),
        }
    }

    pub(crate) fn lookup(&self, name: &str) -> Option<Rc<Tmpl>> {
        for o in self.overlay.iter().rev() {
            if let Some(t) = o.get(name) {
                return Some(t.clone());
            }
        }
        self.set.templates.get(name).cloned()
    }

    /// Counts `n` steps against the budget.
    pub(crate) fn step(&mut self, n: u64) -> R<()> {
        self.steps += n;
        if self.steps > self.set.limits.max_steps {
            return Err(self.error(
                self.at,
                format!(
                    "evaluation exceeds {} steps (Limits::max_steps)",
                    self.set.limits.max_steps
                ),
            ));
        }
        Ok(())
    }

    /// Runs template `t` with `dot` into `out` (a `template` action, `include`, the top).
    pub(crate) fn run(&mut self, t: Rc<Tmpl>, dot: Value, out: &mut String) -> R<()> {
        if self.depth >= self.set.limits.max_depth {
            return Err(self.error(
                self.at,
                format!(
                    "template calls nest deeper than {} (Limits::max_depth) calling {:?}",
                    self.set.limits.max_depth, t.name
                ),
            ));
        }
        self.depth += 1;
        let saved_vars = std::mem::replace(&mut self.vars, vec![("$".into(), dot.clone(), false)]);
        let saved_boxed = std::mem::replace(&mut self.dot_boxed, false);
        let saved_cur = std::mem::replace(&mut self.cur, t.clone());
        let saved_at = self.at;
        let r = self.walk_list(&dot, &t.root, out);
        self.vars = saved_vars;
        self.dot_boxed = saved_boxed;
        self.cur = saved_cur;
        self.at = saved_at;
        self.depth -= 1;
        r.map(|_| ())
    }

    fn write(&self, out: &mut String, s: &str) -> R<()> {
        if out.len() + s.len() > self.set.limits.max_output {
            return Err(self.error(
                self.at,
                format!(
                    "output exceeds {} bytes (Limits::max_output)",
                    self.set.limits.max_output
                ),
            ));
        }
        out.push_str(s);
        Ok(())
    }

    fn walk_list(&mut self, dot: &Value, list: &[Node], out: &mut String) -> R<Flow> {
        for n in list {
            match self.walk(dot, n, out)? {
                Flow::Normal => {}
                f => return Ok(f),
            }
        }
        Ok(Flow::Normal)
    }

    fn walk(&mut self, dot: &Value, node: &Node, out: &mut String) -> R<Flow> {
        self.step(1)?;
        match node {
            Node::Text(t) => self.write(out, t)?,
            Node::Action(pipe) => {
                self.at = pipe.pos;
                let v = self.pipeline(dot, pipe)?;
                if pipe.decl.is_empty() {
                    let s = self.print_value(&v)?;
                    self.write(out, &s)?;
                }
            }
            Node::If(b) | Node::With(b) => {
                self.at = b.pos;
                let mark = self.vars.len();
                let v = self.pipeline(dot, &b.pipe)?;
                let is_with = matches!(node, Node::With(_));
                let r = if v.truthy() {
                    let d = if is_with { v } else { dot.clone() };
                    self.walk_list(&d, &b.list, out)
                } else if let Some(e) = &b.else_list {
                    self.walk_list(dot, e, out)
                } else {
                    Ok(Flow::Normal)
                };
                self.vars.truncate(mark);
                return r;
            }
            Node::Range(b) => return self.range(dot, b, out),
            Node::Template { pos, name, pipe } => {
                self.at = *pos;
                let Some(t) = self.lookup(name) else {
                    return Err(self.error(
                        *pos,
                        format!(
                            "template: no template {name:?} associated with template {:?}",
                            self.cur.name
                        ),
                    ));
                };
                let d = match pipe {
                    Some(p) => self.pipeline(dot, p)?,
                    None => Value::Nil,
                };
                self.run(t, d, out)?;
            }
            Node::Break => return Ok(Flow::Break),
            Node::Continue => return Ok(Flow::Continue),
        }
        Ok(Flow::Normal)
    }

    fn range(&mut self, dot: &Value, b: &Branch, out: &mut String) -> R<Flow> {
        self.at = b.pos;
        let mark = self.vars.len();
        let v = self.pipeline(dot, &b.pipe)?;
        let body_mark = self.vars.len();
        let ndecl = b.pipe.decl.len();
        let mut items: Vec<(Value, Value)> = Vec::new();
        match &v {
            Value::List(l) => items.extend(
                l.iter()
                    .enumerate()
                    .map(|(i, e)| (Value::Int(i as i64), e.clone())),
            ),
            Value::Bytes(l) => items.extend(
                l.iter()
                    .enumerate()
                    .map(|(i, e)| (Value::Int(i as i64), Value::Int(i64::from(*e)))),
            ),
            Value::Map(m) => {
                let m = m
                    .try_borrow()
                    .map_err(|_| self.error(b.pos, "map is being changed"))?;
                items.extend(m.iter().map(|(k, e)| (Value::from(k.as_str()), e.clone())));
            }
            Value::Int(n) => {
                if ndecl > 1 {
                    return Err(self.error(
                        b.pos,
                        "can't use an int to iterate over more than one variable",
                    ));
                }
                let n = *n;
                if n > self.set.limits.max_range_items as i64 {
                    return Err(self.error(
                        b.pos,
                        format!(
                            "range over {n} exceeds {} items (Limits::max_range_items)",
                            self.set.limits.max_range_items
                        ),
                    ));
                }
                items.extend((0..n.max(0)).map(|i| (Value::Int(i), Value::Int(i))));
            }
            Value::Nil => {}
            // An object that is a Go map (Helm's `.Files`): as Go's range over a map, in
            // key order.
            // An object that is a Go slice (Helm's `.Capabilities.APIVersions`).
            Value::Object(o) if let Some(l) = o.list() => items.extend(
                l.iter()
                    .enumerate()
                    .map(|(i, e)| (Value::Int(i as i64), e.clone())),
            ),
            Value::Object(o) if let Some(mut entries) = o.entries() => {
                entries.sort_by(|a, b| a.0.cmp(&b.0));
                items.extend(
                    entries
                        .into_iter()
                        .map(|(k, e)| (Value::from(k.as_str()), e)),
                );
            }
            other => {
                return Err(self.error(
                    b.pos,
                    format!("range can't iterate over {}", other.to_text()),
                ));
            }
        }
        if items.is_empty() {
            let r = match &b.else_list {
                Some(e) => self.walk_list(dot, e, out),
                None => Ok(Flow::Normal),
            };
            self.vars.truncate(mark);
            return r.map(|_| Flow::Normal);
        }
        for (index, elem) in items {
            self.step(1)?;
            if ndecl > 0 {
                if b.pipe.assign {
                    let name = b.pipe.decl[ndecl - 1].clone();
                    self.set_var(b.pos, &name, elem.clone(), true)?;
                    if ndecl > 1 {
                        let name = b.pipe.decl[0].clone();
                        self.set_var(b.pos, &name, index.clone(), false)?;
                    }
                } else {
                    let top = self.vars.len() - 1;
                    self.vars[top].1 = elem.clone();
                    self.vars[top].2 = true;
                    if ndecl > 1 {
                        self.vars[top - 1].1 = index.clone();
                    }
                }
            }
            let saved_boxed = std::mem::replace(&mut self.dot_boxed, true);
            let f = self.walk_list(&elem, &b.list, out);
            self.dot_boxed = saved_boxed;
            let f = f?;
            self.vars.truncate(body_mark);
            if let Flow::Break = f {
                break;
            }
        }
        self.vars.truncate(mark);
        Ok(Flow::Normal)
    }

    fn set_var(&mut self, pos: usize, name: &str, v: Value, boxed: bool) -> R<()> {
        for (n, val, b) in self.vars.iter_mut().rev() {
            if n == name {
                *val = v;
                *b = boxed;
                return Ok(());
            }
        }
        Err(self.error(pos, format!("undefined variable: {name}")))
    }

    /// A variable's value and whether a nil in it is Go's nil `interface{}`.
    fn var_boxed(&self, pos: usize, name: &str) -> R<(Value, bool)> {
        for (n, val, boxed) in self.vars.iter().rev() {
            if n == name {
                return Ok((val.clone(), *boxed));
            }
        }
        Err(self.error(pos, format!("undefined variable: {name}")))
    }

    /// Where a field chain starts, as Go has it: a nil is the invalid value (whose fields
    /// are no value) unless it is a nil `interface{}` (`boxed`: a `range` element), whose
    /// fields are an error.
    fn receiver(v: Value, boxed: bool) -> Option<Value> {
        match v {
            Value::Nil if !boxed => None,
            v => Some(v),
        }
    }

    /// How `{{ value }}` prints a value.
    pub(crate) fn print_value(&self, v: &Value) -> R<String> {
        Ok(match v {
            Value::Nil => "<no value>".into(),
            Value::Object(o) => o.printed(),
            other => other.to_text(),
        })
    }

    pub(crate) fn pipeline(&mut self, dot: &Value, pipe: &Pipe) -> R<Value> {
        let mut value: Option<Value> = None;
        for c in &pipe.cmds {
            value = Some(self.command(dot, c, value)?);
        }
        let v = value.unwrap_or_default();
        for d in &pipe.decl {
            if pipe.assign {
                self.set_var(pipe.pos, d, v.clone(), false)?;
            } else {
                self.vars.push((d.clone(), v.clone(), false));
            }
        }
        Ok(v)
    }

    fn not_a_function(&self, cmd: &Cmd, fin: &Option<Value>) -> R<()> {
        if cmd.args.len() > 1 || fin.is_some() {
            return Err(self.error(
                cmd.args[0].pos(),
                format!("can't give argument to non-function {}", cmd.args[0]),
            ));
        }
        Ok(())
    }

    fn command(&mut self, dot: &Value, cmd: &Cmd, fin: Option<Value>) -> R<Value> {
        self.step(1)?;
        let first = &cmd.args[0];
        self.at = first.pos();
        match first {
            Arg::Field(pos, names) => {
                let r = Self::receiver(dot.clone(), self.dot_boxed);
                let v = self.field_chain(dot, r, *pos, names, &cmd.args[1..], fin)?;
                Ok(v.unwrap_or_default())
            }
            Arg::Var(pos, names) => {
                let (v, boxed) = self.var_boxed(*pos, &names[0])?;
                if names.len() == 1 {
                    self.not_a_function(cmd, &fin)?;
                    return Ok(v);
                }
                let r = Self::receiver(v, boxed);
                Ok(self
                    .field_chain(dot, r, *pos, &names[1..], &cmd.args[1..], fin)?
                    .unwrap_or_default())
            }
            Arg::Chain(pos, inner, names) => {
                let v = self.chain_receiver(dot, inner)?;
                Ok(self
                    .field_chain(dot, v, *pos, names, &cmd.args[1..], fin)?
                    .unwrap_or_default())
            }
            Arg::Ident(pos, name) => self.call(dot, *pos, name, &cmd.args[1..], fin),
            Arg::Pipe(_, p) => {
                self.not_a_function(cmd, &fin)?;
                let mark = self.vars.len();
                let v = self.pipeline(dot, p);
                self.vars.truncate(mark);
                v
            }
            Arg::Nil(pos) => Err(self.error(*pos, "nil is not a command")),
            other => {
                self.not_a_function(cmd, &fin)?;
                self.arg(dot, other)
            }
        }
    }

    /// An operand's value as an argument.
    pub(crate) fn arg(&mut self, dot: &Value, a: &Arg) -> R<Value> {
        self.step(1)?;
        Ok(match a {
            Arg::Dot(_) => dot.clone(),
            Arg::Nil(_) => Value::Nil,
            Arg::Bool(_, b) => Value::Bool(*b),
            Arg::Num(pos, n) => self.number(*pos, n)?,
            Arg::Str(_, s, _) => Value::from(s.as_str()),
            Arg::Field(pos, names) => {
                let r = Self::receiver(dot.clone(), self.dot_boxed);
                self.field_chain(dot, r, *pos, names, &[], None)?
                    .unwrap_or_default()
            }
            Arg::Var(pos, names) => {
                let (v, boxed) = self.var_boxed(*pos, &names[0])?;
                if names.len() == 1 {
                    v
                } else {
                    let r = Self::receiver(v, boxed);
                    self.field_chain(dot, r, *pos, &names[1..], &[], None)?
                        .unwrap_or_default()
                }
            }
            Arg::Chain(pos, inner, names) => {
                let v = self.chain_receiver(dot, inner)?;
                self.field_chain(dot, v, *pos, names, &[], None)?
                    .unwrap_or_default()
            }
            Arg::Ident(pos, name) => self.call(dot, *pos, name, &[], None)?,
            Arg::Pipe(_, p) => {
                let mark = self.vars.len();
                let v = self.pipeline(dot, p);
                self.vars.truncate(mark);
                v?
            }
        })
    }

    /// The receiver of `(pipeline).Field`: a pipeline's nil result is Go's invalid value
    /// (its `interface{}` is dug into), whose fields are invalid too rather than an error,
    /// as `(.Values.missing).field` renders empty under Helm.
    fn chain_receiver(&mut self, dot: &Value, inner: &Arg) -> R<Option<Value>> {
        let v = self.arg(dot, inner)?;
        Ok(match (inner, v) {
            (Arg::Pipe(..), Value::Nil) => None,
            (_, v) => Some(v),
        })
    }

    fn number(&self, pos: usize, n: &Number) -> R<Value> {
        if n.complex {
            return Err(self.error(pos, format!("complex constant {} is not supported", n.text)));
        }
        let lower = n.text.to_ascii_lowercase();
        let is_hex_int =
            lower.trim_start_matches(['+', '-']).starts_with("0x") && !lower.contains('p');
        let floaty = !n.char && !is_hex_int && n.text.contains(['.', 'e', 'E', 'p', 'P']);
        if let (true, Some(f)) = (floaty, n.float) {
            return Ok(Value::Float(f));
        }
        if let Some(i) = n.int {
            return Ok(Value::Int(i));
        }
        Err(self.error(pos, format!("{} overflows int", n.text)))
    }

    /// `receiver.A.B args`: all but the last name are fields; the last takes the arguments.
    /// `None` is Go's invalid value (a missing key under the default `missingkey`).
    fn field_chain(
        &mut self,
        dot: &Value,
        receiver: Option<Value>,
        pos: usize,
        names: &[String],
        args: &[Arg],
        fin: Option<Value>,
    ) -> R<Option<Value>> {
        let mut r = receiver;
        let n = names.len();
        // A value read out of a map (`.Chart` of Helm's data) has, to Go, the map's element
        // type, `interface {}`, which is what an error about its fields names.
        let mut via_map = false;
        for name in &names[..n - 1] {
            let from_map = matches!(r, Some(Value::Map(_)));
            r = self.field(dot, r, pos, name, &[], None, via_map)?;
            via_map = from_map;
        }
        self.field(dot, r, pos, &names[n - 1], args, fin, via_map)
    }

    #[allow(clippy::too_many_arguments)]
    fn field(
        &mut self,
        dot: &Value,
        receiver: Option<Value>,
        pos: usize,
        name: &str,
        args: &[Arg],
        fin: Option<Value>,
        via_map: bool,
    ) -> R<Option<Value>> {
        let static_type = |v: &Value| {
            if via_map {
                "interface {}".to_string()
            } else {
                v.type_name()
            }
        };
        self.step(1)?;
        let Some(r) = receiver else {
            if self.set.missing_key == MissingKey::Error {
                return Err(self.error(pos, format!("nil data; no entry for key {name:?}")));
            }
            return Ok(None);
        };
        let has_args = !args.is_empty() || fin.is_some();
        match &r {
            // Go's default mode: nil data is an invalid value, whose fields are invalid too.
            Value::Nil if self.set.missing_key == MissingKey::Invalid => Ok(None),
            Value::Nil => {
                Err(self.error(pos, format!("nil pointer evaluating interface {{}}.{name}")))
            }
            Value::Map(m) => {
                if has_args {
                    return Err(
                        self.error(pos, format!("{name} is not a method but has arguments"))
                    );
                }
                let got = m
                    .try_borrow()
                    .map_err(|_| self.error(pos, "map is being changed"))?
                    .get(name)
                    .cloned();
                match got {
                    Some(v) => Ok(Some(v)),
                    None => match self.set.missing_key {
                        MissingKey::Invalid => Ok(None),
                        MissingKey::Zero => Ok(Some(Value::Nil)),
                        MissingKey::Error => {
                            Err(self.error(pos, format!("map has no entry for key {name:?}")))
                        }
                    },
                }
            }
            Value::Object(o) => {
                let mut vals = Vec::with_capacity(args.len() + 1);
                for a in args {
                    vals.push(self.arg(dot, a)?);
                }
                if let Some(f) = fin {
                    vals.push(f);
                }
                if let Some(res) = o.method(name, &vals) {
                    return res
                        .map(Some)
                        .map_err(|m| self.error(pos, format!("error calling {name}: {m}")));
                }
                match o.field(name) {
                    Some(v) if vals.is_empty() => Ok(Some(v)),
                    Some(_) => Err(self.error(
                        pos,
                        format!("{name} has arguments but cannot be invoked as function"),
                    )),
                    None => Err(self.error(
                        pos,
                        format!("can't evaluate field {name} in type {}", static_type(&r)),
                    )),
                }
            }
            other => Err(self.error(
                pos,
                format!("can't evaluate field {name} in type {}", static_type(other)),
            )),
        }
    }

    /// A function call: `name args... [final]`.
    fn call(
        &mut self,
        dot: &Value,
        pos: usize,
        name: &str,
        args: &[Arg],
        fin: Option<Value>,
    ) -> R<Value> {
        self.at = pos;
        // and, or: evaluated lazily, the deciding argument returned.
        if name == "and" || name == "or" {
            let total = args.len() + usize::from(fin.is_some());
            if total < 1 {
                return Err(self.error(
                    pos,
                    format!("wrong number of args for {name}: want at least 1 got 0"),
                ));
            }
            let mut last = Value::Nil;
            for a in args {
                last = self.arg(dot, a)?;
                if last.truthy() != (name == "and") {
                    return Ok(last);
                }
            }
            if let Some(f) = fin {
                last = f;
            }
            return Ok(last);
        }
        let mut vals = Vec::with_capacity(args.len() + 1);
        for a in args {
            vals.push(self.arg(dot, a)?);
        }
        if let Some(f) = fin {
            vals.push(f);
        }
        self.call_values(dot, pos, name, vals)
    }

    pub(crate) fn call_values(
        &mut self,
        _dot: &Value,
        pos: usize,
        name: &str,
        vals: Vec<Value>,
    ) -> R<Value> {
        if let Some(b) = self.set.builtins.get(name).copied() {
            return self.call_builtin(pos, name, b, vals);
        }
        if let Some(f) = self.set.funcs.get(name).cloned() {
            return f(&vals).map_err(|m| self.error(pos, format!("error calling {name}: {m}")));
        }
        Err(self.error(pos, format!("function {name:?} not defined")))
    }

    fn call_builtin(&mut self, pos: usize, name: &str, b: Builtin, vals: Vec<Value>) -> R<Value> {
        // What the function fails with inside (`include`'s template) is named at its call.
        self.at = pos;
        match b(self, vals) {
            Ok(v) => {
                // Strings made by functions count against the budget and the output cap.
                if let Value::String(s) = &v {
                    if s.len() > self.set.limits.max_output {
                        return Err(self.error(pos, format!("{name} makes a string of {} bytes, more than {} (Limits::max_output)", s.len(), self.set.limits.max_output)));
                    }
                    self.step(s.len() as u64 / 64)?;
                }
                // Lists and maps made by functions: their nesting is bounded (a value nested
                // a million deep would overflow the stack when dropped), each node a step.
                if matches!(v, Value::List(_) | Value::Map(_)) {
                    let mut nodes = 0u64;
                    let max = self.set.limits.max_value_depth;
                    let d = nesting(&v, max + 1, &mut nodes);
                    self.step(nodes)?;
                    if d > max {
                        return Err(self.error(pos, format!("{name} makes a value nested deeper than {max} (Limits::max_value_depth)")));
                    }
                }
                Ok(v)
            }
            Err(Fail::Msg(m)) => Err(self.error(pos, format!("error calling {name}: {m}"))),
            Err(Fail::Raw(e)) => Err(e),
        }
    }
}

/// What a function may ask of the template running it: the set's limits, the steps so far,
/// `include` and `tpl`.
impl Caller for Exec<'_> {
    fn limits(&self) -> &Limits {
        &self.set.limits
    }

    fn steps(&self) -> u64 {
        self.steps
    }

    fn include(&mut self, name: &str, dot: Value) -> R<String> {
        const INCLUDE_FAILED: &str = "error calling include: ";
        let Some(t) = self.lookup(name) else {
            return Err(self.error(self.at, format!("error calling include: template: no template {name:?} associated with template {:?}", self.cur.name)));
        };
        let count = self.included.entry(name.to_string()).or_insert(0);
        *count += 1;
        let mut out = String::new();
        let r = self.run(t, dot, &mut out);
        if let Some(c) = self.included.get_mut(name) {
            *c -= 1;
        }
        // A failure inside is named where this `include` is, as Go's nested error and so
        // Helm name it, with the place inside that failed (the innermost, however deep).
        r.map_err(|e| {
            let message = if e.message.starts_with(INCLUDE_FAILED) {
                e.message
            } else {
                format!("{INCLUDE_FAILED}{e}")
            };
            self.error(self.at, message)
        })?;
        Ok(out)
    }

    fn tpl(&mut self, text: &str, dot: Value) -> R<String> {
        let file = format!("{} (tpl)", self.cur.file);
        let (root, defines) = self.set.parse_text(&self.cur.name, &file, text)?;
        let mut layer = HashMap::new();
        for d in defines {
            layer.insert(d.name.clone(), d);
        }
        self.overlay.push(layer);
        let mut out = String::new();
        let r = self.run(root, dot, &mut out);
        self.overlay.pop();
        r?;
        if self.set.helm {
            out = out.replace("<no value>", "");
        }
        Ok(out)
    }
}

/// The nesting of a value, counted up to `cap`; `nodes` counts the lists and maps visited.
fn nesting(v: &Value, cap: usize, nodes: &mut u64) -> usize {
    if cap == 0 {
        return 0;
    }
    match v {
        Value::List(l) => {
            *nodes += 1;
            1 + l
                .iter()
                .map(|x| nesting(x, cap - 1, nodes))
                .max()
                .unwrap_or(0)
        }
        Value::Map(m) => {
            *nodes += 1;
            // A map being changed (borrowed) is counted as deep as allowed.
            match m.try_borrow() {
                Ok(m) => {
                    1 + m
                        .values()
                        .map(|x| nesting(x, cap - 1, nodes))
                        .max()
                        .unwrap_or(0)
                }
                Err(_) => cap,
            }
        }
        _ => 0,
    }
}
