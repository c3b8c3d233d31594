//! The parser: tokens into the tree Go's `text/template/parse` builds (lists of text,
//! actions, `if`/`range`/`with` with their `else`, `template`, `break`, `continue`), and the
//! `define`d and `block` templates found on the way.

use super::lex::{Tok, Token};
use std::fmt;

/// A node of a template's tree.
#[derive(Clone, Debug)]
pub(crate) enum Node {
    Text(String),
    Action(Pipe),
    If(Branch),
    Range(Branch),
    With(Branch),
    Template {
        pos: usize,
        name: String,
        pipe: Option<Pipe>,
    },
    Break,
    Continue,
}

/// `if`, `range` and `with`: the pipeline, the list and the `else` list.
#[derive(Clone, Debug)]
pub(crate) struct Branch {
    pub pos: usize,
    pub pipe: Pipe,
    pub list: Vec<Node>,
    pub else_list: Option<Vec<Node>>,
}

/// A pipeline: variables declared or assigned, and the commands.
#[derive(Clone, Debug)]
pub(crate) struct Pipe {
    pub pos: usize,
    pub decl: Vec<String>,
    pub assign: bool,
    pub cmds: Vec<Cmd>,
}

/// A command: its operands (the first is the function, field or value).
#[derive(Clone, Debug)]
pub(crate) struct Cmd {
    pub args: Vec<Arg>,
}

/// A number constant and what Go makes of it.
#[derive(Clone, Debug)]
pub(crate) struct Number {
    pub text: String,
    pub int: Option<i64>,
    pub float: Option<f64>,
    pub complex: bool,
    pub char: bool,
}

/// An operand.
#[derive(Clone, Debug)]
pub(crate) enum Arg {
    Dot(usize),
    Nil(usize),
    Bool(usize, bool),
    Num(usize, Number),
    /// The value and the text as written.
    Str(usize, String, String),
    /// `.A.B`: the names.
    Field(usize, Vec<String>),
    /// `$x.A.B`: the variable's name (with `$`) then the fields.
    Var(usize, Vec<String>),
    Ident(usize, String),
    Pipe(usize, Box<Pipe>),
    /// `(pipeline).A.B` or `x.A`: the operand then the fields.
    Chain(usize, Box<Arg>, Vec<String>),
}

impl Arg {
    pub(crate) fn pos(&self) -> usize {
        match self {
            Arg::Dot(p) | Arg::Nil(p) | Arg::Bool(p, _) | Arg::Num(p, _) | Arg::Str(p, _, _) => *p,
            Arg::Field(p, _)
            | Arg::Var(p, _)
            | Arg::Ident(p, _)
            | Arg::Pipe(p, _)
            | Arg::Chain(p, _, _) => *p,
        }
    }
}

/// A parse error at a byte offset.
#[derive(Debug)]
pub(crate) struct ParseError {
    pub pos: usize,
    pub message: String,
}

type PResult<T> = Result<T, ParseError>;

/// The result of parsing one text: its own tree and the templates it defines.
pub(crate) struct Parsed {
    pub root: Vec<Node>,
    pub defines: Vec<(String, Vec<Node>)>,
}

pub(crate) struct Parser<'a> {
    toks: Vec<Token>,
    i: usize,
    vars: Vec<String>,
    range_depth: usize,
    is_func: &'a dyn Fn(&str) -> bool,
    defines: Vec<(String, Vec<Node>)>,
    depth: usize,
    max_depth: usize,
}

/// Why a list ended.
enum End {
    Eof,
    Close(usize),
    Else(usize),
}

fn err<T>(pos: usize, message: impl Into<String>) -> PResult<T> {
    Err(ParseError {
        pos,
        message: message.into(),
    })
}

/// Parses the tokens of one text; `is_func` tells which names are functions.
pub(crate) fn parse(
    toks: Vec<Token>,
    is_func: &dyn Fn(&str) -> bool,
    max_depth: usize,
) -> PResult<Parsed> {
    let mut p = Parser {
        toks,
        i: 0,
        vars: vec!["$".into()],
        range_depth: 0,
        is_func,
        defines: Vec::new(),
        depth: 0,
        max_depth,
    };
    let mut root = Vec::new();
    let (list, end) = p.list(true)?;
    root.extend(list);
    match end {
        End::Eof => {}
        End::Close(pos) => return err(pos, "unexpected {{end}}"),
        End::Else(pos) => return err(pos, "unexpected {{else}}"),
    }
    Ok(Parsed {
        root,
        defines: p.defines,
    })
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.i).map(|t| &t.tok)
    }
    fn pos(&self) -> usize {
        self.toks
            .get(self.i)
            .or(self.toks.last())
            .map_or(0, |t| t.pos)
    }
    fn next(&mut self) -> Option<Token> {
        let t = self.toks.get(self.i).cloned();
        self.i += 1;
        t
    }
    /// The next token that is not a space.
    fn next_non_space(&mut self) -> Option<Token> {
        while let Some(Tok::Space) = self.peek() {
            self.i += 1;
        }
        self.next()
    }
    fn peek_non_space(&mut self) -> Option<&Tok> {
        while let Some(Tok::Space) = self.peek() {
            self.i += 1;
        }
        self.peek()
    }
    fn expect_right(&mut self, ctx: &str) -> PResult<()> {
        let pos = self.pos();
        match self.next_non_space() {
            Some(Token {
                tok: Tok::Right, ..
            }) => Ok(()),
            Some(t) => err(t.pos, format!("unexpected {} in {ctx}", describe(&t.tok))),
            None => err(pos, format!("unclosed action in {ctx}")),
        }
    }

    /// A list of nodes up to `{{end}}`, `{{else}}` or the end of the text.
    fn list(&mut self, top: bool) -> PResult<(Vec<Node>, End)> {
        self.depth += 1;
        if self.depth > self.max_depth {
            return err(
                self.pos(),
                format!("template nests deeper than {} levels", self.max_depth),
            );
        }
        let mut out = Vec::new();
        let end = loop {
            let Some(t) = self.next() else { break End::Eof };
            match t.tok {
                Tok::Text(s) => out.push(Node::Text(s)),
                Tok::Left => {
                    let save = self.i;
                    let kw = match self.next_non_space() {
                        Some(Token {
                            tok: Tok::Ident(k),
                            pos,
                        }) => Some((k, pos)),
                        _ => None,
                    };
                    match kw.as_ref().map(|(k, p)| (k.as_str(), *p)) {
                        Some(("end", pos)) => {
                            self.expect_right("end")?;
                            break End::Close(pos);
                        }
                        Some(("else", pos)) => break End::Else(pos),
                        Some(("if", pos)) => out.push(Node::If(self.branch(pos, "if")?)),
                        Some(("with", pos)) => out.push(Node::With(self.branch(pos, "with")?)),
                        Some(("range", pos)) => out.push(Node::Range(self.branch(pos, "range")?)),
                        Some(("template", pos)) => out.push(self.template(pos)?),
                        Some(("block", pos)) => out.push(self.block(pos)?),
                        Some(("define", pos)) => {
                            if !top {
                                return err(pos, "unexpected <define> in command");
                            }
                            self.define(pos)?;
                        }
                        Some(("break", pos)) => {
                            if self.range_depth == 0 {
                                return err(pos, "{{break}} outside {{range}}");
                            }
                            self.expect_right("break")?;
                            out.push(Node::Break);
                        }
                        Some(("continue", pos)) => {
                            if self.range_depth == 0 {
                                return err(pos, "{{continue}} outside {{range}}");
                            }
                            self.expect_right("continue")?;
                            out.push(Node::Continue);
                        }
                        _ => {
                            self.i = save;
                            let pipe = self.pipeline("command", true)?;
                            out.push(Node::Action(pipe));
                        }
                    }
                }
                other => return err(t.pos, format!("unexpected {}", describe(&other))),
            }
        };
        self.depth -= 1;
        Ok((out, end))
    }

    /// `if`, `with`, `range`: the pipeline, the list, an `else` (or `else if`, `else with`).
    fn branch(&mut self, pos: usize, kind: &str) -> PResult<Branch> {
        let nvars = self.vars.len();
        let pipe = self.pipeline(kind, kind == "range")?;
        if kind == "range" {
            self.range_depth += 1;
        }
        let (list, end) = self.list(false)?;
        if kind == "range" {
            self.range_depth -= 1;
        }
        let else_list = match end {
            End::Eof => return err(pos, format!("unexpected EOF in {kind}")),
            End::Close(_) => None,
            End::Else(epos) => {
                // `else if` / `else with` chain into a nested branch ending at the same end.
                match self.peek_non_space() {
                    Some(Tok::Ident(k))
                        if (k == "if" && kind == "if") || (k == "with" && kind == "with") =>
                    {
                        let k = k.clone();
                        let p = self.pos();
                        self.i += 1;
                        let inner = self.branch(p, &k)?;
                        Some(vec![if k == "if" {
                            Node::If(inner)
                        } else {
                            Node::With(inner)
                        }])
                    }
                    _ => {
                        self.expect_right("else")?;
                        let (list, end) = self.list(false)?;
                        match end {
                            End::Close(_) => {}
                            End::Else(p) => return err(p, "expected end; found {{else}}"),
                            End::Eof => return err(epos, format!("unexpected EOF in {kind}")),
                        }
                        Some(list)
                    }
                }
            }
        };
        self.vars.truncate(nvars);
        Ok(Branch {
            pos,
            pipe,
            list,
            else_list,
        })
    }

    fn template_name(&mut self, ctx: &str) -> PResult<(usize, String)> {
        match self.next_non_space() {
            Some(Token {
                tok: Tok::Str(s, _),
                pos,
            }) => Ok((pos, s)),
            Some(t) => err(
                t.pos,
                format!("unexpected {} in {ctx} clause", describe(&t.tok)),
            ),
            None => err(self.pos(), format!("unexpected EOF in {ctx} clause")),
        }
    }

    fn template(&mut self, pos: usize) -> PResult<Node> {
        let (_, name) = self.template_name("template")?;
        let pipe = if let Some(Tok::Right) = self.peek_non_space() {
            self.i += 1;
            None
        } else {
            Some(self.pipeline("template", false)?)
        };
        Ok(Node::Template { pos, name, pipe })
    }

    fn define(&mut self, pos: usize) -> PResult<()> {
        let (_, name) = self.template_name("define")?;
        self.expect_right("define")?;
        let list = self.template_body(pos, "define")?;
        self.defines.push((name, list));
        Ok(())
    }

    /// The body of a `define` or `block` up to its `{{end}}`: a template of its own, with
    /// only `$` in scope and outside any `range`.
    fn template_body(&mut self, pos: usize, what: &str) -> PResult<Vec<Node>> {
        let saved = std::mem::replace(&mut self.vars, vec!["$".into()]);
        let saved_range = std::mem::take(&mut self.range_depth);
        let (list, end) = self.list(false)?;
        self.vars = saved;
        self.range_depth = saved_range;
        match end {
            End::Close(_) => Ok(list),
            End::Else(p) => err(p, format!("unexpected {{{{else}}}} in {what}")),
            End::Eof => err(pos, format!("unexpected EOF in {what} clause")),
        }
    }

    fn block(&mut self, pos: usize) -> PResult<Node> {
        let (_, name) = self.template_name("block")?;
        let pipe = self.pipeline("block", false)?;
        let list = self.template_body(pos, "block")?;
        self.defines.push((name.clone(), list));
        Ok(Node::Template {
            pos,
            name,
            pipe: Some(pipe),
        })
    }

    /// A pipeline up to `}}` (or `)` when `ctx` is "parenthesized pipeline").
    fn pipeline(&mut self, ctx: &str, allow_decl: bool) -> PResult<Pipe> {
        let _ = allow_decl;
        let pos = self.pos();
        let mut decl = Vec::new();
        let mut assign = false;
        // Declarations: $x := / $x = / $i, $e :=
        let save = self.i;
        if let Some(Tok::Var(v)) = self.peek_non_space().cloned() {
            self.i += 1;
            let after_var = self.i;
            match self.peek_non_space().cloned() {
                Some(Tok::Declare) | Some(Tok::Assign) => {
                    let is_assign = matches!(self.peek(), Some(Tok::Assign));
                    self.i += 1;
                    decl.push(v);
                    assign = is_assign;
                }
                Some(Tok::Comma) if ctx == "range" => {
                    self.i += 1;
                    match self.next_non_space() {
                        Some(Token {
                            tok: Tok::Var(v2), ..
                        }) => {
                            match self.next_non_space() {
                                Some(Token {
                                    tok: Tok::Declare, ..
                                }) => {}
                                Some(Token {
                                    tok: Tok::Assign, ..
                                }) => assign = true,
                                Some(t) => {
                                    return err(
                                        t.pos,
                                        format!("unexpected {} in range", describe(&t.tok)),
                                    );
                                }
                                None => return err(pos, "unexpected EOF in range"),
                            }
                            decl.push(v);
                            decl.push(v2);
                        }
                        _ => return err(pos, "range can only initialize variables"),
                    }
                }
                Some(Tok::Comma) => return err(pos, format!("too many declarations in {ctx}")),
                _ => {
                    let _ = after_var;
                    self.i = save;
                }
            }
        }
        if !assign {
            for d in &decl {
                self.vars.push(d.clone());
            }
        } else {
            for d in &decl {
                if !self.vars.contains(d) {
                    return err(pos, format!("undefined variable \"{d}\""));
                }
            }
        }
        let close_paren = ctx == "parenthesized pipeline";
        let mut cmds = Vec::new();
        loop {
            match self.peek_non_space() {
                Some(Tok::Right) if !close_paren => {
                    self.i += 1;
                    break;
                }
                Some(Tok::RParen) if close_paren => {
                    self.i += 1;
                    break;
                }
                Some(Tok::Pipe) => {
                    let p = self.pos();
                    return err(p, format!("missing command in {ctx}"));
                }
                None => return err(pos, format!("unclosed action in {ctx}")),
                _ => {
                    let cmd = self.command(close_paren)?;
                    cmds.push(cmd);
                }
            }
        }
        if cmds.is_empty() {
            return err(pos, format!("missing value for {ctx}"));
        }
        for (k, c) in cmds.iter().enumerate().skip(1) {
            if let Some(
                a @ (Arg::Bool(..) | Arg::Dot(_) | Arg::Nil(_) | Arg::Num(..) | Arg::Str(..)),
            ) = c.args.first()
            {
                return err(
                    a.pos(),
                    format!("non executable command in pipeline stage {}", k + 1),
                );
            }
        }
        Ok(Pipe {
            pos,
            decl,
            assign,
            cmds,
        })
    }

    fn command(&mut self, in_paren: bool) -> PResult<Cmd> {
        let pos = self.pos();
        let mut args = Vec::new();
        loop {
            while let Some(Tok::Space) = self.peek() {
                self.i += 1;
            }
            match self.peek() {
                None => return err(pos, "unclosed action"),
                Some(Tok::Right) => break,
                Some(Tok::RParen) if in_paren => break,
                Some(Tok::Pipe) => {
                    self.i += 1;
                    if matches!(self.peek_non_space(), Some(Tok::Right) | Some(Tok::RParen)) {
                        return err(self.pos(), "missing command after |");
                    }
                    break;
                }
                _ => {
                    let a = self.operand()?;
                    args.push(a);
                    // Operands are separated by spaces.
                    match self.peek() {
                        Some(Tok::Space) | Some(Tok::Right) | Some(Tok::Pipe) => {}
                        Some(Tok::RParen) if in_paren => {}
                        Some(t) => {
                            let t = t.clone();
                            return err(
                                self.pos(),
                                format!("unexpected {} in operand", describe(&t)),
                            );
                        }
                        None => {}
                    }
                }
            }
        }
        if args.is_empty() {
            return err(pos, "empty command");
        }
        Ok(Cmd { args })
    }

    fn operand(&mut self) -> PResult<Arg> {
        let term = self.term()?;
        if let Some(Tok::Field(_)) = self.peek() {
            let pos = term.pos();
            // Go places a chain (`.a.b`, `$x.b`, `(p).b`) at its first field after the
            // head, where an error evaluating it is named.
            let at = self.pos();
            let mut fields = Vec::new();
            while let Some(Tok::Field(f)) = self.peek() {
                fields.push(f.clone());
                self.i += 1;
            }
            return Ok(match term {
                Arg::Field(_, mut fs) => {
                    fs.extend(fields);
                    Arg::Field(at, fs)
                }
                Arg::Var(_, mut fs) => {
                    fs.extend(fields);
                    Arg::Var(at, fs)
                }
                Arg::Bool(..) | Arg::Str(..) | Arg::Num(..) | Arg::Nil(_) | Arg::Dot(_) => {
                    return err(
                        pos,
                        format!("unexpected . after term {:?}", term_text(&term)),
                    );
                }
                other => Arg::Chain(at, Box::new(other), fields),
            });
        }
        Ok(term)
    }

    fn term(&mut self) -> PResult<Arg> {
        let Some(t) = self.next() else {
            return err(self.pos(), "unexpected EOF");
        };
        let pos = t.pos;
        Ok(match t.tok {
            Tok::Ident(name) => match name.as_str() {
                "true" => Arg::Bool(pos, true),
                "false" => Arg::Bool(pos, false),
                "nil" => Arg::Nil(pos),
                _ => {
                    if !(self.is_func)(&name) {
                        return err(pos, format!("function \"{name}\" not defined"));
                    }
                    Arg::Ident(pos, name)
                }
            },
            Tok::Dot => Arg::Dot(pos),
            Tok::Field(f) => Arg::Field(pos, vec![f]),
            Tok::Var(v) => {
                if !self.vars.contains(&v) {
                    return err(pos, format!("undefined variable \"{v}\""));
                }
                Arg::Var(pos, vec![v])
            }
            Tok::Str(s, quoted) => Arg::Str(pos, s, quoted),
            Tok::Char(c) => Arg::Num(
                pos,
                Number {
                    text: format!("{c:?}"),
                    int: Some(c as i64),
                    float: Some(c as u32 as f64),
                    complex: false,
                    char: true,
                },
            ),
            Tok::Number(text) => Arg::Num(
                pos,
                parse_number(&text).map_err(|m| ParseError { pos, message: m })?,
            ),
            Tok::LParen => {
                self.depth += 1;
                if self.depth > self.max_depth {
                    return err(
                        pos,
                        format!("template nests deeper than {} levels", self.max_depth),
                    );
                }
                let pipe = self.pipeline("parenthesized pipeline", false)?;
                self.depth -= 1;
                Arg::Pipe(pos, Box::new(pipe))
            }
            other => return err(pos, format!("unexpected {} in operand", describe(&other))),
        })
    }
}

fn term_text(a: &Arg) -> String {
    match a {
        Arg::Str(_, _, q) => q.clone(),
        Arg::Num(_, n) => n.text.clone(),
        Arg::Bool(_, b) => b.to_string(),
        Arg::Nil(_) => "nil".into(),
        Arg::Dot(_) => ".".into(),
        _ => String::new(),
    }
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Text(_) => "text".into(),
        Tok::Left => "\"{{\"".into(),
        Tok::Right => "\"}}\"".into(),
        Tok::Space => "space".into(),
        Tok::Ident(s) => format!("<{s}>"),
        Tok::Field(s) => format!("<.{s}>"),
        Tok::Var(s) => format!("<{s}>"),
        Tok::Dot => "<.>".into(),
        Tok::Str(_, q) => q.clone(),
        Tok::Char(c) => format!("{c:?}"),
        Tok::Number(n) => format!("<{n}>"),
        Tok::Pipe => "\"|\"".into(),
        Tok::LParen => "\"(\"".into(),
        Tok::RParen => "\")\"".into(),
        Tok::Declare => "\":=\"".into(),
        Tok::Assign => "\"=\"".into(),
        Tok::Comma => "\",\"".into(),
        Tok::Punct(c) => format!("{:?}", c.to_string()),
    }
}

/// A number constant as Go's parser reads it.
pub(crate) fn parse_number(text: &str) -> Result<Number, String> {
    let bad = || format!("illegal number syntax: {text:?}");
    if let Some(body) = text.strip_suffix('i') {
        // `1+2i`: a real part, then the imaginary one with its sign.
        let imaginary = body
            .char_indices()
            .skip(1)
            .filter(|(k, c)| {
                matches!(c, '+' | '-')
                    && !matches!(body.as_bytes()[k - 1], b'e' | b'E' | b'p' | b'P')
            })
            .last()
            .map_or(body, |(k, _)| &body[k..]);
        let real = &body[..body.len() - imaginary.len()];
        let number = |t: &str| t.parse::<f64>().is_ok() || parse_int(t).is_some();
        if number(imaginary) && (real.is_empty() || number(real)) {
            return Ok(Number {
                text: text.into(),
                int: None,
                float: None,
                complex: true,
                char: false,
            });
        }
        return Err(bad());
    }
    let clean: String = text.chars().filter(|c| *c != '_').collect();
    let int = parse_int(&clean);
    let is_hex = clean
        .trim_start_matches(['+', '-'])
        .to_ascii_lowercase()
        .starts_with("0x");
    let float = match int {
        Some(i) => Some(i as f64),
        None if !is_hex => clean.parse::<f64>().ok().filter(|f| f.is_finite()),
        None => parse_hex_float(&clean).filter(|f| f.is_finite()),
    };
    let int = int.or_else(|| {
        float
            .filter(|f| f.fract() == 0.0 && f.abs() < 9.2e18)
            .map(|f| f as i64)
    });
    if int.is_none() && float.is_none() {
        return Err(bad());
    }
    Ok(Number {
        text: text.into(),
        int,
        float,
        complex: false,
        char: false,
    })
}

/// A hexadecimal floating-point constant as Go reads it (`0x1p60`, `0x1.8p-2`): hex digits
/// with an optional point, then a binary exponent `p` that Go requires.
fn parse_hex_float(s: &str) -> Option<f64> {
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let lower = body.to_ascii_lowercase();
    let rest = lower.strip_prefix("0x")?;
    let (mantissa, exp) = rest.split_once('p')?;
    let exp: i32 = exp.parse().ok()?;
    let (whole, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if whole.is_empty() && frac.is_empty() {
        return None;
    }
    let mut v = 0f64;
    for c in whole.chars() {
        v = v * 16.0 + f64::from(c.to_digit(16)?);
    }
    let mut scale = 1.0 / 16.0;
    for c in frac.chars() {
        v += f64::from(c.to_digit(16)?) * scale;
        scale /= 16.0;
    }
    let v = v * 2f64.powi(exp);
    Some(if neg { -v } else { v })
}

fn parse_int(s: &str) -> Option<i64> {
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let lower = body.to_ascii_lowercase();
    let (radix, digits) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d.to_string())
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d.to_string())
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d.to_string())
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, lower[1..].to_string())
    } else {
        (10, lower.clone())
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let v = i128::from_str_radix(&digits, radix).ok()?;
    let v = if neg { -v } else { v };
    i64::try_from(v).ok()
}

/// Go's `strconv.Quote` (close enough for printing trees and `%q`).
pub(crate) fn quote_go(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            '\r' => o.push_str("\\r"),
            '\t' => o.push_str("\\t"),
            '\x07' => o.push_str("\\a"),
            '\x08' => o.push_str("\\b"),
            '\x0c' => o.push_str("\\f"),
            '\x0b' => o.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                o.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if c.is_ascii() || go_printable(c) => o.push(c),
            c if (c as u32) < 0x10000 => o.push_str(&format!("\\u{:04x}", c as u32)),
            c => o.push_str(&format!("\\U{:08x}", c as u32)),
        }
    }
    o.push('"');
    o
}

/// Go's `strconv.IsPrint` beyond ASCII: letters, marks, numbers, punctuation and symbols;
/// not other spaces (U+00A0, U+2028), formats (U+00AD, U+FEFF), controls, private use or
/// unassigned code points, which `%q` and `quote` escape.
fn go_printable(c: char) -> bool {
    static PRINT: std::sync::LazyLock<Option<regex::Regex>> =
        std::sync::LazyLock::new(|| regex::Regex::new(r"^[\p{L}\p{M}\p{N}\p{P}\p{S}]$").ok());
    let mut buf = [0u8; 4];
    PRINT
        .as_ref()
        .is_some_and(|re| re.is_match(c.encode_utf8(&mut buf)))
}

// Go's String() of a tree, for the parser's own tests.
impl fmt::Display for Arg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Arg::Dot(_) => f.write_str("."),
            Arg::Nil(_) => f.write_str("nil"),
            Arg::Bool(_, b) => write!(f, "{b}"),
            Arg::Num(_, n) => f.write_str(&n.text),
            Arg::Str(_, _, q) => f.write_str(q),
            Arg::Field(_, fs) => {
                for x in fs {
                    write!(f, ".{x}")?;
                }
                Ok(())
            }
            Arg::Var(_, fs) => {
                f.write_str(&fs[0])?;
                for x in &fs[1..] {
                    write!(f, ".{x}")?;
                }
                Ok(())
            }
            Arg::Ident(_, n) => f.write_str(n),
            Arg::Pipe(_, p) => write!(f, "({p})"),
            Arg::Chain(_, a, fs) => {
                write!(f, "{a}")?;
                for x in fs {
                    write!(f, ".{x}")?;
                }
                Ok(())
            }
        }
    }
}

impl fmt::Display for Pipe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.decl.is_empty() {
            f.write_str(&self.decl.join(", "))?;
            f.write_str(if self.assign { " = " } else { " := " })?;
        }
        for (i, c) in self.cmds.iter().enumerate() {
            if i > 0 {
                f.write_str(" | ")?;
            }
            for (j, a) in c.args.iter().enumerate() {
                if j > 0 {
                    f.write_str(" ")?;
                }
                write!(f, "{a}")?;
            }
        }
        Ok(())
    }
}

pub(crate) fn list_string(list: &[Node]) -> String {
    let mut s = String::new();
    for n in list {
        s.push_str(&n.to_string());
    }
    s
}

impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Node::Text(t) => write!(f, "{}", quote_go(t)),
            Node::Action(p) => write!(f, "{{{{{p}}}}}"),
            Node::If(b) | Node::Range(b) | Node::With(b) => {
                let kw = match self {
                    Node::If(_) => "if",
                    Node::Range(_) => "range",
                    _ => "with",
                };
                write!(f, "{{{{{kw} {}}}}}{}", b.pipe, list_string(&b.list))?;
                if let Some(e) = &b.else_list {
                    write!(f, "{{{{else}}}}{}", list_string(e))?;
                }
                f.write_str("{{end}}")
            }
            Node::Template { name, pipe, .. } => match pipe {
                Some(p) => write!(f, "{{{{template {} {p}}}}}", quote_go(name)),
                None => write!(f, "{{{{template {}}}}}", quote_go(name)),
            },
            Node::Break => f.write_str("{{break}}"),
            Node::Continue => f.write_str("{{continue}}"),
        }
    }
}
