//! Go's `text/template` with Sprig's and Helm's functions, as Helm renders a chart: a format
//! library like `iso` and `par2`, importing nothing of seedforge but the foundation.
//!
//! A [`TemplateSet`] holds named templates parsed from texts (a chart's files): each text is a
//! template of its own name, and the templates it `define`s (or `block`s) are shared by the
//! whole set, as Helm parses every file of a chart and its subcharts into one set. A later
//! definition of a name replaces an earlier one.
//!
//! ```
//! use seedforge::gotmpl::{Limits, TemplateSet, Value, Numbers};
//! let mut set = TemplateSet::new(Limits::default());
//! set.parse("_helpers.tpl", r#"{{- define "img" -}}{{ .registry }}/{{ .repository }}:{{ .tag }}{{- end }}"#).unwrap();
//! set.parse("deploy.yaml", r#"image: {{ include "img" .Values.image | quote }}"#).unwrap();
//! let data = Value::from_json(&serde_json::json!({"Values": {"image": {
//!     "registry": "docker.io", "repository": "library/nginx", "tag": "1.27"}}}), Numbers::Float64);
//! assert_eq!(set.execute("deploy.yaml", &data).unwrap(), r#"image: "docker.io/library/nginx:1.27""#);
//! ```
//!
//! # Semantics
//!
//! - The language is Go 1.22's: actions, pipelines, `:=` and `=`, `if`/`else if`/`else`,
//!   `with`/`else with`/`else`, `range` over lists, maps (in sorted key order) and integers
//!   (Go 1.22) with `else`, `break`, `continue`, `define`, `template`, `block`, trim markers,
//!   comments. Complex constants are refused when evaluated.
//! - Numbers are Go's `int` ([`Value::Int`]) and `float64` ([`Value::Float`]); comparisons
//!   follow Go's basic kinds: `eq 1 1.0` is an error ("incompatible types for comparison"),
//!   as in Helm, where every number of a values file is a `float64`.
//! - Missing map keys: [`TemplateSet::new`] behaves as Helm (`missingkey=zero`, then every
//!   `<no value>` removed from the output, so a missing value renders empty, and a field of a
//!   missing value read in the same chain, `.Values.a.x`, is the error "nil pointer
//!   evaluating interface {}.x"). As in Go, a pipeline's nil result is the invalid value: a
//!   variable holding one (`$m := .Values.a`), a parenthesised one and a template's dot
//!   (`include "t" .Values.a`) have no fields (`$m.x` is no value, `eq $m.x "y"` false),
//!   while a nil `range` element is a nil `interface{}` whose fields are the error. An error
//!   names a chain at its first field after the head (`.a` of `.Values.a.x`), as Go does;
//!   [`TemplateSet::new_go`] as plain Go (`<no value>` printed, no Sprig or Helm functions);
//!   [`TemplateSet::set_missing_key`] picks Go's `missingkey` option.
//! - Functions: Go's builtins, Sprig's as Helm ships them (without `env`, `expandenv`), and
//!   Helm's (`include`, `tpl`, `required`, `fail`, `toYaml`, `fromYaml`, `fromYamlArray`,
//!   `toJson`, `fromJson`, `fromJsonArray`, `toToml`, `lookup`). Output is reproducible:
//!   `now` is a fixed clock (2000-01-01T00:00:00Z), and the random functions (`randAlpha`,
//!   `randAlphaNum`, `randNumeric`, `randAscii`, `randBytes`, `randInt`, `uuidv4`,
//!   `shuffle`, `genPrivateKey`...) are deterministic: seeded from their arguments, so the
//!   same template renders the same bytes every time. Keys and certificates (`genCA`,
//!   `genSelfSignedCert`, `genPrivateKey`...), `htpasswd` and `derivePassword` give
//!   deterministic placeholder text marked PLACEHOLDER: output is for reading (the images a
//!   chart names), not for applying. `lookup` returns an empty map, as
//!   `helm template` has it. Regular expressions use the `regex` crate (linear time, no
//!   backreferences; Go's RE2 has none either), with a size cap.
//!
//! [`TemplateSet`] and [`Value`] are not `Send`: parse and render a chart within one thread.
//!
//! # Caller's functions and objects
//!
//! [`TemplateSet::add_func`] registers a function (it shadows a builtin of the same name):
//! it receives its arguments as values and returns a value or an error message. Data with
//! methods (Helm's `.Files.Get "x"`, `.Capabilities.APIVersions.Has "v1"`) is a
//! [`Value::Object`]: an [`Object`] whose [`Object::method`] and [`Object::field`] the
//! executor calls for `.Name args...`.
//!
//! # Bounds
//!
//! Templates are input. [`Limits`] caps the nesting of `template`/`include`/`tpl` calls, the
//! output (of a template and of every string a function makes: `repeat`, `indent`...), the
//! steps of evaluation (nodes, commands, fields, iterations, and bytes made by functions),
//! the items of a list or range made at once (`until`, `seq`, `untilStep`, `range N`), the
//! nesting of values (`toYaml`, `fromYaml`, `deepCopy`...), the size of a compiled regular
//! expression, the size and nesting of a template's text. Each refusal is an [`Error`] with
//! the template, line and column. Helm refuses an `include` of a name already 1,000 deep;
//! here every `template`, `include` and `tpl` call counts against one nesting bound
//! ([`Limits::max_depth`], 100 by default), and any number of calls in a row is fine. The
//! caller's data is trusted to be bounded (read with the YAML reader's own limits).
//!
//! # Judges
//!
//! The unit tests run the tables of Go's `text/template` (`exec_test.go`'s execTests,
//! `parse/parse_test.go`'s parseTests, Go 1.19.8), Sprig 3.2.3's `*_test.go` (the `runt`
//! cases) and Helm's `pkg/engine` tests of its functions, `include` and `tpl`; the cases this
//! engine does not support are listed in the tests, each with why.

mod call;
mod exec;
mod float;
mod funcs;
mod lex;
mod parse;
mod printf;
mod value;
mod yaml;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_go;
#[cfg(test)]
mod tests_helm;
#[cfg(test)]
mod tests_lex;
#[cfg(test)]
mod tests_sprig;

pub use value::{Map, Numbers, Object, Value};

use parse::Node;
use std::collections::HashMap;
use std::fmt;
use std::rc::Rc;
use std::sync::Arc;

/// Bounds on what a template may cost.
#[derive(Clone, Debug)]
pub struct Limits {
    /// The deepest nesting of `template`, `include` and `tpl` calls.
    pub max_depth: usize,
    /// The most bytes of a template's output, and of any string a function makes.
    pub max_output: usize,
    /// The most steps of evaluation of one [`TemplateSet::execute`].
    pub max_steps: u64,
    /// The most items a function makes at once (`until`, `seq`, `untilStep`) or `range` over
    /// an integer walks.
    pub max_range_items: usize,
    /// The deepest nesting of a value read or written (`fromYaml`, `toYaml`, `toJson`,
    /// `deepCopy`, `merge`...).
    pub max_value_depth: usize,
    /// The largest compiled regular expression, in bytes (the `regex` crate's size limit).
    pub max_regex_size: usize,
    /// The largest text [`TemplateSet::parse`] takes, in bytes.
    pub max_template_size: usize,
    /// The deepest nesting of blocks and parentheses in a template's text.
    pub max_parse_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: 100,
            max_output: 16 << 20,
            max_steps: 20_000_000,
            max_range_items: 1_000_000,
            max_value_depth: 100,
            max_regex_size: 1 << 20,
            max_template_size: 4 << 20,
            max_parse_depth: 200,
        }
    }
}

/// A template that failed to parse or execute: where and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    /// The text (file) the error is in, as given to [`TemplateSet::parse`].
    pub template: String,
    /// The line, from 1.
    pub line: usize,
    /// The column: bytes from the start of the line, from 0 (as Go and Helm count).
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.template, self.line, self.column, self.message
        )
    }
}

impl std::error::Error for Error {}

/// Go's `missingkey` option: what a missing map key gives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MissingKey {
    /// Go's default: an invalid value (`<no value>` printed; a field of it is again invalid).
    Invalid,
    /// `missingkey=zero`, as Helm sets it: nil (a field of it is an error).
    Zero,
    /// `missingkey=error`: an error (Helm's `--strict`).
    Error,
}

/// A function the caller adds: its arguments, its value or an error message.
pub type Func = Arc<dyn Fn(&[Value]) -> Result<Value, String> + Send + Sync>;

/// A parsed template: its name, the text it came from (for positions) and its tree.
pub(crate) struct Tmpl {
    pub name: String,
    pub file: Rc<str>,
    pub src: Rc<str>,
    pub root: Rc<Vec<Node>>,
}

/// Named templates parsed from texts, and the functions they may call.
pub struct TemplateSet {
    pub(crate) limits: Limits,
    pub(crate) templates: HashMap<String, Rc<Tmpl>>,
    pub(crate) builtins: HashMap<&'static str, call::Builtin>,
    pub(crate) funcs: HashMap<String, Func>,
    pub(crate) missing_key: MissingKey,
    /// Helm's behaviour: `<no value>` removed from outputs.
    pub(crate) helm: bool,
}

impl TemplateSet {
    /// A set that renders as Helm: Go's builtins, Sprig's and Helm's functions,
    /// `missingkey=zero` and `<no value>` removed from the output.
    pub fn new(limits: Limits) -> Self {
        TemplateSet {
            limits,
            templates: HashMap::new(),
            builtins: funcs::all(),
            funcs: HashMap::new(),
            missing_key: MissingKey::Zero,
            helm: true,
        }
    }

    /// A set that renders as Go's `text/template` alone: its builtins only, Go's default
    /// `missingkey` (`<no value>` printed).
    pub fn new_go(limits: Limits) -> Self {
        TemplateSet {
            limits,
            templates: HashMap::new(),
            builtins: funcs::go_builtins(),
            funcs: HashMap::new(),
            missing_key: MissingKey::Invalid,
            helm: false,
        }
    }

    /// Sets Go's `missingkey` option.
    pub fn set_missing_key(&mut self, m: MissingKey) {
        self.missing_key = m;
    }

    /// Whether `<no value>` is removed from outputs, as Helm does (true for [`TemplateSet::new`]).
    pub fn set_strip_no_value(&mut self, strip: bool) {
        self.helm = strip;
    }

    /// Adds (or replaces) a function templates may call. Texts parsed before cannot name
    /// a function that did not exist then (Go's parser refuses unknown functions).
    pub fn add_func(&mut self, name: &str, f: Func) {
        self.funcs.insert(name.to_string(), f);
    }

    /// The limits the set enforces.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Whether the set has a template of that name (a text parsed or one `define`d).
    pub fn has(&self, name: &str) -> bool {
        self.templates.contains_key(name)
    }

    /// The names of the set's templates, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.templates.keys().cloned().collect();
        v.sort();
        v
    }

    fn is_func(&self, name: &str) -> bool {
        self.builtins.contains_key(name) || self.funcs.contains_key(name)
    }

    /// Parses `text` as the template `name`; its `define`d and `block` templates join the
    /// set under their own names.
    pub fn parse(&mut self, name: &str, text: &str) -> Result<(), Error> {
        let (root, defines) = self.parse_text(name, name, text)?;
        self.templates.insert(name.to_string(), root);
        for d in defines {
            self.templates.insert(d.name.clone(), d);
        }
        Ok(())
    }

    /// Parses one text: its own template and those it defines.
    pub(crate) fn parse_text(
        &self,
        name: &str,
        file: &str,
        text: &str,
    ) -> Result<(Rc<Tmpl>, Vec<Rc<Tmpl>>), Error> {
        let at = |pos: usize, message: String| {
            let (line, column) = lex::line_col(text, pos);
            Error {
                template: file.to_string(),
                line,
                column,
                message,
            }
        };
        if text.len() > self.limits.max_template_size {
            return Err(at(
                0,
                format!(
                    "template of {} bytes is larger than {} (Limits::max_template_size)",
                    text.len(),
                    self.limits.max_template_size
                ),
            ));
        }
        let toks = lex::lex(text, "{{", "}}").map_err(|e| at(e.pos, e.message))?;
        let is_func = |n: &str| self.is_func(n);
        let parsed = parse::parse(toks, &is_func, self.limits.max_parse_depth)
            .map_err(|e| at(e.pos, e.message))?;
        let src: Rc<str> = Rc::from(text);
        let file: Rc<str> = Rc::from(file);
        let mk = |n: &str, root: Vec<Node>| {
            Rc::new(Tmpl {
                name: n.to_string(),
                file: file.clone(),
                src: src.clone(),
                root: Rc::new(root),
            })
        };
        let defines = parsed.defines.into_iter().map(|(n, l)| mk(&n, l)).collect();
        Ok((mk(name, parsed.root), defines))
    }

    /// Renders template `name` with `data` as dot (and `$`).
    pub fn execute(&self, name: &str, data: &Value) -> Result<String, Error> {
        let Some(t) = self.templates.get(name).cloned() else {
            return Err(Error {
                template: name.to_string(),
                line: 0,
                column: 0,
                message: format!("no template {name:?} in the set"),
            });
        };
        let mut ex = exec::Exec::new(self, t.clone());
        let mut out = String::new();
        ex.run(t, data.clone(), &mut out)?;
        if self.helm {
            out = out.replace("<no value>", "");
        }
        Ok(out)
    }
}
