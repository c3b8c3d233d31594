//! The paths of `.Values` a chart's templates read, found without rendering: each action
//! (`{{ … }}`) is read as Go's `text/template` reads it (pipelines, parentheses, variables,
//! `if`/`with`/`range`/`define`/`block` … `end`), and every value it takes from `.Values`
//! is recorded: `.Values.a.b`, `$.Values.a.b`, `index .Values "a" "b"`, `get .Values "a"`,
//! `pluck "a" .Values`, `dig "a" "b" DEFAULT .Values`, `hasKey .Values "a"`, a variable
//! holding one (`$c := .Values.a` then `$c.b`), and the dot of `with .Values.a` (`.b` inside
//! reads `a.b`). What a `define` reads is taken as read from the chart's values (charts
//! `include` their helpers with `.` or `$`).
//!
//! A value is read *whole* when the template can use any key under it: printed, handed to a
//! function (`toYaml`, `include`, `tpl`, `merge`, a `dict`), ranged over. Compared, tested
//! (`if`, `not`, `empty`, `eq`, `hasKey`, `len`, `kindIs`, …) or taken as the dot of a
//! `with`, it is read but not whole. `.Values` itself is never whole: a chart that hands all
//! its values to a function (istio merges them over its `_internal_defaults_do_not_set`)
//! would otherwise make every key known.

use std::collections::BTreeMap;

/// What templates read under one place of the values.
#[derive(Debug, Default, Clone)]
pub struct Reads {
    /// Read whole: every key below is used.
    pub whole: bool,
    /// The keys read below, each with what is read under it.
    pub keys: BTreeMap<String, Reads>,
}

/// How deep parentheses nest before the rest of an action is not followed.
const MAX_NESTING: usize = 64;

impl Reads {
    /// Records that `path` (from the chart's values) is read, whole or not.
    pub fn add(&mut self, path: &[String], whole: bool) {
        if path.is_empty() {
            return;
        }
        let mut node = self;
        for key in path {
            node = node.keys.entry(key.clone()).or_default();
        }
        node.whole |= whole;
    }

    /// Records every read of the template `text`.
    pub fn scan(&mut self, text: &str) {
        let mut state = State {
            reads: self,
            frames: vec![Frame::new(Abs::Root, Kind::Top)],
        };
        for body in actions(text) {
            let toks = lex(body);
            state.action(&toks);
        }
    }
}

/// The text of each action of a template (between `{{` and `}}`, trim markers and
/// comments left out).
fn actions(text: &str) -> Vec<&str> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(found) = text[i..].find("{{") {
        let mut start = i + found + 2;
        if bytes.get(start) == Some(&b'-')
            && bytes.get(start + 1).is_some_and(u8::is_ascii_whitespace)
        {
            start += 1;
        }
        let mut j = start;
        let mut end = None;
        while j < bytes.len() {
            match bytes[j] {
                b'"' | b'\'' => {
                    let quote = bytes[j];
                    j += 1;
                    while j < bytes.len() && bytes[j] != quote && bytes[j] != b'\n' {
                        if bytes[j] == b'\\' {
                            j += 1;
                        }
                        j += 1;
                    }
                    j += 1;
                }
                b'`' => {
                    j += 1;
                    while j < bytes.len() && bytes[j] != b'`' {
                        j += 1;
                    }
                    j += 1;
                }
                b'/' if bytes.get(j + 1) == Some(&b'*') => {
                    j = text[j..].find("*/").map_or(bytes.len(), |k| j + k + 2);
                }
                b'}' if bytes.get(j + 1) == Some(&b'}') => {
                    end = Some(j);
                    break;
                }
                _ => j += 1,
            }
        }
        let Some(end) = end else { break };
        i = end + 2;
        let mut body = text.get(start..end).unwrap_or("");
        if body.trim_start().starts_with("/*") {
            continue;
        }
        if let Some(b) = body.strip_suffix('-')
            && b.ends_with(|c: char| c.is_ascii_whitespace())
        {
            body = b;
        }
        out.push(body);
    }
    out
}

/// A token of an action.
#[derive(Debug, Clone, PartialEq)]
enum Tok {
    /// `.a.b` (`.` alone: no names); `attached` when it follows `)` with no space
    /// (`(index .Values "a").b`).
    Field {
        names: Vec<String>,
        attached: bool,
    },
    /// `$x.a.b` (`$` alone: the name is empty).
    Var(String, Vec<String>),
    Ident(String),
    Str(String),
    Open,
    Close,
    Pipe,
    Decl,
    Assign,
    Comma,
    Other,
}

fn is_name(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80
}

/// `.a.b.c` from `i` (at a `.`): the names and where they end.
fn fields(s: &str, mut i: usize) -> (Vec<String>, usize) {
    let b = s.as_bytes();
    let mut names = Vec::new();
    while i < b.len() && b[i] == b'.' {
        let start = i + 1;
        let mut j = start;
        while j < b.len() && is_name(b[j]) {
            j += 1;
        }
        if j == start {
            // `.` alone (the dot), or a `.` that starts no name.
            if names.is_empty() {
                i = j;
            }
            break;
        }
        names.push(s[start..j].to_string());
        i = j;
    }
    (names, i)
}

fn lex(s: &str) -> Vec<Tok> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match c {
            _ if c.is_ascii_whitespace() => i += 1,
            b'.' if b.get(i + 1).is_none_or(|n| !n.is_ascii_digit()) => {
                let attached = i > 0 && b[i - 1] == b')';
                let (names, j) = fields(s, i);
                out.push(Tok::Field { names, attached });
                i = j.max(i + 1);
            }
            b'$' => {
                let start = i + 1;
                let mut j = start;
                while j < b.len() && is_name(b[j]) {
                    j += 1;
                }
                let name = s[start..j].to_string();
                let (names, k) = if b.get(j) == Some(&b'.') {
                    fields(s, j)
                } else {
                    (Vec::new(), j)
                };
                out.push(Tok::Var(name, names));
                i = k.max(j);
            }
            b'"' => {
                let mut text = String::new();
                let mut chars = s[i + 1..].char_indices();
                let mut end = b.len();
                while let Some((k, ch)) = chars.next() {
                    match ch {
                        '"' => {
                            end = i + 1 + k;
                            break;
                        }
                        '\\' => match chars.next() {
                            Some((_, 'n')) => text.push('\n'),
                            Some((_, 't')) => text.push('\t'),
                            Some((_, other)) => text.push(other),
                            None => {}
                        },
                        _ => text.push(ch),
                    }
                }
                out.push(Tok::Str(text));
                i = end + 1;
            }
            b'`' => {
                let end = s[i + 1..].find('`').map_or(b.len(), |k| i + 1 + k);
                out.push(Tok::Str(s[i + 1..end].to_string()));
                i = end + 1;
            }
            b'\'' => {
                let mut j = i + 1;
                while j < b.len() && b[j] != b'\'' {
                    if b[j] == b'\\' {
                        j += 1;
                    }
                    j += 1;
                }
                out.push(Tok::Other);
                i = j + 1;
            }
            b'(' => {
                out.push(Tok::Open);
                i += 1;
            }
            b')' => {
                out.push(Tok::Close);
                i += 1;
            }
            b'|' => {
                out.push(Tok::Pipe);
                i += 1;
            }
            b',' => {
                out.push(Tok::Comma);
                i += 1;
            }
            b':' if b.get(i + 1) == Some(&b'=') => {
                out.push(Tok::Decl);
                i += 2;
            }
            b'=' => {
                out.push(Tok::Assign);
                i += 1;
            }
            _ if is_name(c) => {
                let mut j = i;
                while j < b.len() && is_name(b[j]) {
                    j += 1;
                }
                if c.is_ascii_digit() {
                    // A number (`1`, `1.5`, `0x1F`, `1e3`).
                    while j < b.len() && (is_name(b[j]) || b[j] == b'.') {
                        j += 1;
                    }
                    out.push(Tok::Other);
                } else {
                    out.push(Tok::Ident(s[i..j].to_string()));
                }
                i = j;
            }
            _ => {
                out.push(Tok::Other);
                i += s[i..].chars().next().map_or(1, char::len_utf8);
            }
        }
    }
    out
}

/// What an operand is known to be.
#[derive(Debug, Clone, PartialEq)]
enum Abs {
    /// The chart's top context (`.` at the top of a template, `$`).
    Root,
    /// A place of the chart's values (`.Values.a.b`: `["a", "b"]`).
    Values(Vec<String>),
    /// A string constant.
    Str(String),
    /// Anything else.
    Other,
}

impl Abs {
    /// The value reached by the fields `names` from this one.
    fn field(self, names: &[String]) -> Abs {
        match (self, names.split_first()) {
            (v, None) => v,
            // `.Values.AsMap`: the values as a plain map (for `dig`).
            (Abs::Root, Some((first, rest))) if first == "Values" => match rest {
                [m] if m == "AsMap" => Abs::Values(Vec::new()),
                _ => Abs::Values(rest.to_vec()),
            },
            (Abs::Values(mut p), Some(_)) => {
                p.extend(names.iter().cloned());
                Abs::Values(p)
            }
            _ => Abs::Other,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Top,
    If,
    With,
    Range,
    Define,
}

/// A block open in the template: its dot, the dot outside it (for an `else`) and its
/// variables.
#[derive(Debug)]
struct Frame {
    dot: Abs,
    outer: Abs,
    kind: Kind,
    vars: Vec<(String, Abs)>,
}

impl Frame {
    fn new(dot: Abs, kind: Kind) -> Frame {
        Frame {
            outer: dot.clone(),
            dot,
            kind,
            vars: Vec::new(),
        }
    }
}

struct State<'r> {
    reads: &'r mut Reads,
    frames: Vec<Frame>,
}

/// Functions that only look at a value (its truth, type, length, or equality), so a map
/// handed to them is not used whole.
const LOOKS: &[&str] = &[
    "not",
    "and",
    "or",
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    "empty",
    "len",
    "kindIs",
    "kindOf",
    "typeOf",
    "typeIs",
    "typeIsLike",
    "deepEqual",
];

impl State<'_> {
    fn dot(&self) -> Abs {
        self.frames.last().map_or(Abs::Root, |f| f.dot.clone())
    }

    fn var(&self, name: &str) -> Abs {
        if name.is_empty() {
            return Abs::Root;
        }
        for f in self.frames.iter().rev() {
            if let Some((_, v)) = f.vars.iter().rev().find(|(n, _)| n == name) {
                return v.clone();
            }
            if f.kind == Kind::Define {
                break;
            }
        }
        Abs::Other
    }

    fn set_var(&mut self, name: &str, value: Abs, declare: bool) {
        if !declare {
            for f in self.frames.iter_mut().rev() {
                if let Some(slot) = f.vars.iter_mut().rev().find(|(n, _)| n == name) {
                    slot.1 = value;
                    return;
                }
            }
        }
        if let Some(f) = self.frames.last_mut() {
            f.vars.push((name.to_string(), value));
        }
    }

    fn used(&mut self, v: &Abs, whole: bool) {
        if let Abs::Values(p) = v {
            self.reads.add(p, whole);
        }
    }

    fn action(&mut self, toks: &[Tok]) {
        let keyword = match toks.first() {
            Some(Tok::Ident(k)) => k.as_str(),
            _ => "",
        };
        let rest = toks.get(1..).unwrap_or(&[]);
        match keyword {
            "if" => {
                let v = self.pipeline(rest, true);
                self.used(&v, false);
                let dot = self.dot();
                self.frames.push(Frame::new(dot, Kind::If));
            }
            "with" => {
                let v = self.pipeline(rest, true);
                self.used(&v, false);
                let outer = self.dot();
                self.frames.push(Frame {
                    dot: v,
                    outer,
                    kind: Kind::With,
                    vars: Vec::new(),
                });
                // `with $x := …` declared the variable in the frame below: move it in.
                self.move_decl(rest);
            }
            "range" => {
                let v = self.pipeline(rest, false);
                self.used(&v, true);
                let outer = self.dot();
                self.frames.push(Frame {
                    dot: Abs::Other,
                    outer,
                    kind: Kind::Range,
                    vars: Vec::new(),
                });
                // `range $k, $v := …`: the element, not the collection.
                for name in decl_names(rest) {
                    self.set_var(&name, Abs::Other, true);
                }
            }
            "else" => {
                let Some(outer) = self.frames.last().map(|f| f.outer.clone()) else {
                    return;
                };
                let next = match rest.first() {
                    Some(Tok::Ident(k)) => k.as_str(),
                    _ => "",
                };
                let below = rest.get(1..).unwrap_or(&[]);
                if let Some(f) = self.frames.last_mut() {
                    f.dot = outer;
                }
                match next {
                    "if" => {
                        let v = self.pipeline(below, true);
                        self.used(&v, false);
                    }
                    "with" => {
                        let v = self.pipeline(below, true);
                        self.used(&v, false);
                        if let Some(f) = self.frames.last_mut() {
                            f.dot = v;
                            f.kind = Kind::With;
                        }
                    }
                    _ => {}
                }
            }
            "end" => {
                if self.frames.len() > 1 {
                    self.frames.pop();
                }
            }
            "define" => self.frames.push(Frame::new(Abs::Root, Kind::Define)),
            "block" => {
                // `block "name" PIPE`: the pipeline is handed to the template.
                let v = self.pipeline(rest.get(1..).unwrap_or(&[]), true);
                self.used(&v, true);
                self.frames.push(Frame::new(Abs::Root, Kind::Define));
            }
            "template" => {
                let v = self.pipeline(rest.get(1..).unwrap_or(&[]), true);
                self.used(&v, true);
            }
            "break" | "continue" => {}
            _ => {
                let declared = !decl_names(toks).is_empty();
                let v = self.pipeline(toks, true);
                // Kept in a variable, it is used where the variable is; printed, whole.
                self.used(&v, !declared);
            }
        }
    }

    /// `with $x := PIPE`: the variable belongs to the new frame (it was declared below it).
    fn move_decl(&mut self, toks: &[Tok]) {
        let names = decl_names(toks);
        if names.is_empty() || self.frames.len() < 2 {
            return;
        }
        let n = self.frames.len();
        for name in names {
            if let Some(pos) = self.frames[n - 2]
                .vars
                .iter()
                .rposition(|(v, _)| *v == name)
            {
                let moved = self.frames[n - 2].vars.remove(pos);
                self.frames[n - 1].vars.push(moved);
            }
        }
    }

    /// A pipeline, with its declaration if any (bound to its value when `bind`); its value.
    fn pipeline(&mut self, toks: &[Tok], bind: bool) -> Abs {
        let names = decl_names(toks);
        let (body, declare) = match toks
            .iter()
            .position(|t| matches!(t, Tok::Decl | Tok::Assign))
        {
            Some(i) if !names.is_empty() => (&toks[i + 1..], matches!(toks[i], Tok::Decl)),
            _ => (toks, false),
        };
        let v = self.commands(body, 0);
        // One variable holds the value; with two (`$k, $v := …`), a range's element.
        if bind && names.len() == 1 {
            self.set_var(&names[0], v.clone(), declare);
        }
        v
    }

    /// Commands separated by `|`, each handed the value of the one before as its last
    /// argument.
    fn commands(&mut self, toks: &[Tok], depth: usize) -> Abs {
        let mut piped: Option<Abs> = None;
        for cmd in split_top(toks, |t| matches!(t, Tok::Pipe)) {
            let v = self.command(cmd, piped.take(), depth);
            piped = Some(v);
        }
        piped.unwrap_or(Abs::Other)
    }

    fn command(&mut self, toks: &[Tok], piped: Option<Abs>, depth: usize) -> Abs {
        let mut operands: Vec<(Option<String>, Abs)> = Vec::new();
        let mut i = 0;
        while i < toks.len() {
            let (name, value, next) = self.operand(toks, i, depth);
            operands.push((name, value));
            i = next;
        }
        let Some((first, _)) = operands.first() else {
            return piped.unwrap_or(Abs::Other);
        };
        let Some(func) = first.clone() else {
            // A value alone (or a method called with arguments): what is piped into it
            // and its arguments are used whole.
            let mut values = operands.into_iter().map(|(_, v)| v);
            let head = values.next().unwrap_or(Abs::Other);
            let rest: Vec<Abs> = values.chain(piped).collect();
            if rest.is_empty() {
                return head;
            }
            for v in std::iter::once(&head).chain(&rest) {
                self.used(v, true);
            }
            return Abs::Other;
        };
        let mut args: Vec<Abs> = operands.into_iter().skip(1).map(|(_, v)| v).collect();
        args.extend(piped);
        self.call(&func, args)
    }

    /// The operand at `toks[i]`: its name when it is a function's, its value, and where
    /// the next one starts.
    fn operand(&mut self, toks: &[Tok], i: usize, depth: usize) -> (Option<String>, Abs, usize) {
        let (name, mut value, mut next) = match &toks[i] {
            Tok::Field { names, .. } => (None, self.dot().field(names), i + 1),
            Tok::Var(v, names) => (None, self.var(v).field(names), i + 1),
            Tok::Str(s) => (None, Abs::Str(s.clone()), i + 1),
            Tok::Ident(f) => match f.as_str() {
                "true" | "false" | "nil" => (None, Abs::Other, i + 1),
                _ => (Some(f.clone()), Abs::Other, i + 1),
            },
            Tok::Open => {
                let close = matching_close(toks, i);
                let inner = &toks[i + 1..close.min(toks.len())];
                let v = if depth < MAX_NESTING {
                    self.commands(inner, depth + 1)
                } else {
                    Abs::Other
                };
                (None, v, close + 1)
            }
            _ => (None, Abs::Other, i + 1),
        };
        // `(…).a.b`
        while let Some(Tok::Field {
            names,
            attached: true,
        }) = toks.get(next)
        {
            value = value.field(names);
            next += 1;
        }
        (name, value, next)
    }

    fn call(&mut self, func: &str, args: Vec<Abs>) -> Abs {
        let keys = |args: &[Abs]| -> Option<Vec<String>> {
            args.iter()
                .map(|a| match a {
                    Abs::Str(s) => Some(s.clone()),
                    _ => None,
                })
                .collect()
        };
        let below = |base: &Abs, keys: Vec<String>| -> Abs {
            match base {
                Abs::Root => match keys.split_first() {
                    Some((first, rest)) if first == "Values" => Abs::Values(rest.to_vec()),
                    _ => Abs::Other,
                },
                Abs::Values(p) => {
                    let mut p = p.clone();
                    p.extend(keys);
                    Abs::Values(p)
                }
                _ => Abs::Other,
            }
        };
        match func {
            "index" | "get" if !args.is_empty() => match keys(&args[1..]) {
                Some(k) => below(&args[0], k),
                None => {
                    self.used(&args[0], true);
                    Abs::Other
                }
            },
            "dig" if args.len() >= 3 => {
                let n = args.len();
                self.used(&args[n - 2], true);
                match keys(&args[..n - 2]) {
                    Some(k) => below(&args[n - 1], k),
                    None => {
                        self.used(&args[n - 1], true);
                        Abs::Other
                    }
                }
            }
            "pluck" if !args.is_empty() => {
                match &args[0] {
                    Abs::Str(k) => {
                        for d in &args[1..] {
                            let v = below(d, vec![k.clone()]);
                            self.used(&v, true);
                        }
                    }
                    _ => {
                        for d in &args[1..] {
                            self.used(d, true);
                        }
                    }
                }
                Abs::Other
            }
            "hasKey" if args.len() == 2 => {
                if let Abs::Str(k) = &args[1] {
                    let v = below(&args[0], vec![k.clone()]);
                    self.used(&v, false);
                }
                Abs::Other
            }
            // `default DEFAULT VALUE`, `required MESSAGE VALUE`: the value goes on.
            "default" | "required" if !args.is_empty() => {
                let n = args.len();
                for a in &args[..n - 1] {
                    self.used(a, true);
                }
                args[n - 1].clone()
            }
            f if LOOKS.contains(&f) => {
                for a in &args {
                    self.used(a, false);
                }
                Abs::Other
            }
            _ => {
                for a in &args {
                    self.used(a, true);
                }
                Abs::Other
            }
        }
    }
}

/// The variables a pipeline declares or assigns (`$x := …`, `$k, $v := …`, `$x = …`).
fn decl_names(toks: &[Tok]) -> Vec<String> {
    let mut names = Vec::new();
    let mut i = 0;
    loop {
        match (toks.get(i), toks.get(i + 1)) {
            (Some(Tok::Var(n, f)), Some(Tok::Comma)) if f.is_empty() => {
                names.push(n.clone());
                i += 2;
            }
            (Some(Tok::Var(n, f)), Some(Tok::Decl | Tok::Assign)) if f.is_empty() => {
                names.push(n.clone());
                return names;
            }
            _ => return Vec::new(),
        }
    }
}

/// The index of the `)` closing the `(` at `open` (or the end).
fn matching_close(toks: &[Tok], open: usize) -> usize {
    let mut depth = 0usize;
    for (i, t) in toks.iter().enumerate().skip(open) {
        match t {
            Tok::Open => depth += 1,
            Tok::Close => {
                depth -= 1;
                if depth == 0 {
                    return i;
                }
            }
            _ => {}
        }
    }
    toks.len()
}

/// `toks` split at the separators `sep` outside parentheses.
fn split_top(toks: &[Tok], sep: impl Fn(&Tok) -> bool) -> Vec<&[Tok]> {
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, t) in toks.iter().enumerate() {
        match t {
            Tok::Open => depth += 1,
            Tok::Close => depth = depth.saturating_sub(1),
            t if depth == 0 && sep(t) => {
                out.push(&toks[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&toks[start..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The paths read by `text`, each with `*` when read whole.
    fn read(text: &str) -> Vec<String> {
        let mut r = Reads::default();
        r.scan(text);
        let mut out = Vec::new();
        fn walk(r: &Reads, path: &mut Vec<String>, out: &mut Vec<String>) {
            for (k, sub) in &r.keys {
                path.push(k.clone());
                if sub.whole || sub.keys.is_empty() {
                    out.push(format!(
                        "{}{}",
                        path.join("."),
                        if sub.whole { "*" } else { "" }
                    ));
                }
                walk(sub, path, out);
                path.pop();
            }
        }
        walk(&r, &mut Vec::new(), &mut out);
        out
    }

    #[test]
    fn fields_variables_and_functions_name_what_they_read() {
        assert_eq!(read("a: {{ .Values.image.tag }}"), ["image.tag*"]);
        assert_eq!(read("{{- $.Values.global.hub -}}"), ["global.hub*"]);
        assert_eq!(
            read("{{ index .Values \"a-b\" \"c\" }} {{ get .Values.x \"y\" }}"),
            ["a-b.c*", "x.y*"]
        );
        assert_eq!(
            read("{{ pluck \"tag\" .Values.image | first }}"),
            ["image.tag*"]
        );
        assert_eq!(
            read("{{ dig \"global\" \"registry\" \"\" .Values.AsMap }}"),
            ["global.registry*"]
        );
        assert_eq!(read("{{ dig \"a\" \"b\" \"\" .Values }}"), ["a.b*"]);
        assert_eq!(read("{{ if hasKey .Values \"flag\" }}x{{ end }}"), ["flag"]);
        assert_eq!(
            read("{{ $c := .Values.controller }}{{ $c.port }}{{ $c = .Values.other }}{{ $c.x }}"),
            ["controller.port*", "other.x*"]
        );
        assert_eq!(
            read("{{ (index .Values \"a\").b }} {{ (.Values.c).d | quote }}"),
            ["a.b*", "c.d*"]
        );
    }

    #[test]
    fn with_sets_the_dot_and_else_restores_it() {
        assert_eq!(
            read("{{ with .Values.a }}{{ .b }}{{ else }}{{ .Values.c }}{{ end }}{{ .Values.d }}"),
            ["a.b*", "c*", "d*"]
        );
        assert_eq!(
            read("{{ with $x := .Values.a }}{{ $x.b }}{{ .c }}{{ end }}"),
            ["a.b*", "a.c*"]
        );
        assert_eq!(
            read("{{ with .Values.a }}{{ else with .Values.e }}{{ .f }}{{ end }}"),
            ["a", "e.f*"]
        );
        // A range's dot is an element: its keys are nobody's.
        assert_eq!(
            read("{{ range .Values.hosts }}{{ .name }}{{ $.Values.x }}{{ end }}{{ .Values.y }}"),
            ["hosts*", "x*", "y*"]
        );
        assert_eq!(
            read(
                "{{ define \"h\" }}{{ .Values.inner }}{{ end }}{{ with .Values.w }}{{ include \"h\" $ }}{{ end }}"
            ),
            ["inner*", "w"]
        );
    }

    #[test]
    fn tests_and_comparisons_read_without_using_whole() {
        assert_eq!(
            read("{{ if and .Values.a (not .Values.b) (eq .Values.c \"x\") }}{{ end }}"),
            ["a", "b", "c"]
        );
        assert_eq!(
            read(
                "{{ toYaml .Values.resources | nindent 4 }}{{ include \"x\" (dict \"v\" .Values.pod) }}"
            ),
            ["pod*", "resources*"]
        );
        assert_eq!(
            read("{{ .Values.tag | default .Values.fallback }}"),
            ["fallback*", "tag*"]
        );
        // `.Values` whole is not recorded (istio's profile merge).
        assert!(
            read("{{ $_ := mustMergeOverwrite $.Values.x $.Values }}").contains(&"x*".to_string())
        );
        assert_eq!(read("{{ toYaml .Values }}"), Vec::<String>::new());
    }

    #[test]
    fn strings_comments_and_trim_markers_do_not_confuse_the_reader() {
        assert_eq!(
            read(
                "{{/* {{ .Values.no }} */}}{{- printf \"}}\" .Values.yes -}}{{ `}}` }}{{ .Values.after }}"
            ),
            ["after*", "yes*"]
        );
        assert_eq!(
            read("{{ .Values.a.b.c }} text .Values.not {{ 1.5 }}"),
            ["a.b.c*"]
        );
        // Unbalanced or cut actions end the scan without a panic.
        assert_eq!(read("{{ (((( .Values.a }}"), ["a*"]);
        assert_eq!(read("{{ .Values.cut"), Vec::<String>::new());
        read("{{ end }}{{ else }}{{ \"unterminated }}");
        let deep = format!("{{{{ {}.Values.x{} }}}}", "(".repeat(500), ")".repeat(500));
        read(&deep);
    }
}
