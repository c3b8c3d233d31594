//! Reading the library as the compiler does: from `lib.rs` along its `mod` declarations
//! (`x.rs` or `x/mod.rs` beside a `mod.rs`-like file or in a folder named after any other,
//! or the `#[path]` given), leaving out what only `#[cfg(test)]` compiles; then every path
//! of every file, resolved against the module it is written in, to the module it names.

use proc_macro2::{Span, TokenStream, TokenTree};
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use syn::visit::{self, Visit};

/// Where a module imports another first: `src/FILE:LINE: \`PATH\``.
pub(super) type Edges = BTreeMap<String, BTreeMap<String, String>>;

/// A parsed file of the library and the module it is.
pub(super) struct Source {
    pub(super) rel: String,
    module: Vec<String>,
    ast: syn::File,
}

/// Whether `attrs` hold `#[cfg(test)]` or `#[cfg(all(test, …))]`.
fn is_test(attrs: &[syn::Attribute]) -> bool {
    fn test_in(tokens: TokenStream) -> bool {
        let tokens: Vec<TokenTree> = tokens.into_iter().collect();
        tokens.iter().enumerate().any(|(i, t)| match t {
            TokenTree::Ident(id) if id == "test" => true,
            TokenTree::Ident(id) if id == "all" => {
                matches!(tokens.get(i + 1), Some(TokenTree::Group(g)) if test_in(g.stream()))
            }
            _ => false,
        })
    }
    attrs.iter().any(|a| match &a.meta {
        syn::Meta::List(l) if l.path.is_ident("cfg") => test_in(l.tokens.clone()),
        _ => false,
    })
}

/// The `#[path = "…"]` of a `mod` declaration.
fn path_attr(attrs: &[syn::Attribute]) -> Option<String> {
    attrs.iter().find_map(|a| match &a.meta {
        syn::Meta::NameValue(nv) if nv.path.is_ident("path") => match &nv.value {
            syn::Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Str(s),
                ..
            }) => Some(s.value()),
            _ => None,
        },
        _ => None,
    })
}

/// The library's files from `src/lib.rs` (or the binary's from `src/main.rs`) along the
/// `mod` declarations, as the compiler finds them, with every module path; and the files
/// only unit tests include.
pub(super) struct Crate {
    pub(super) sources: Vec<Source>,
    modules: BTreeSet<Vec<String>>,
    pub(super) test_files: BTreeSet<PathBuf>,
    /// The top-level modules whose parts count one by one (`pipeline`; `cli`).
    parted: &'static [&'static str],
    /// The modules that are a file of their own (`charts::values`), each file once.
    files: BTreeSet<Vec<String>>,
}

impl Crate {
    pub(super) fn load(src: &Path) -> Crate {
        Crate::load_from(src, "lib.rs", &["pipeline"])
    }

    /// The crate whose root is `src/ROOT`, the parts of each of `parted` counted one by one.
    fn load_from(src: &Path, root: &str, parted: &'static [&'static str]) -> Crate {
        let mut krate = Crate {
            sources: Vec::new(),
            modules: BTreeSet::from([Vec::new()]),
            test_files: BTreeSet::new(),
            parted,
            files: BTreeSet::new(),
        };
        krate.file(src, &src.join(root), Vec::new(), true);
        krate
    }

    /// One file; `mod_rs`: its child modules live beside it (`lib.rs`, `x/mod.rs`, a
    /// `#[path]` file), not in a folder of its own name.
    fn file(&mut self, src: &Path, file: &Path, module: Vec<String>, mod_rs: bool) {
        let rel = format!("src/{}", file.strip_prefix(src).unwrap().display());
        let text = fs::read_to_string(file).unwrap_or_else(|e| panic!("{rel}: {e}"));
        let ast = syn::parse_file(&text).unwrap_or_else(|e| panic!("{rel}: {e}"));
        let dir = file.parent().unwrap();
        let children = if mod_rs {
            dir.to_path_buf()
        } else {
            dir.join(file.file_stem().unwrap())
        };
        self.mods(src, &ast.items, &module, &children, dir);
        self.files.insert(module.clone());
        self.sources.push(Source { rel, module, ast });
    }

    fn mods(&mut self, src: &Path, items: &[syn::Item], module: &[String], dir: &Path, at: &Path) {
        for item in items {
            let syn::Item::Mod(m) = item else { continue };
            let name = m.ident.to_string();
            let file = match path_attr(&m.attrs) {
                Some(p) => Some((at.join(p), true)),
                None if m.content.is_some() => None,
                None if dir.join(format!("{name}.rs")).exists() => {
                    Some((dir.join(format!("{name}.rs")), false))
                }
                None => Some((dir.join(&name).join("mod.rs"), true)),
            };
            if is_test(&m.attrs) {
                self.test_files.extend(file.map(|(f, _)| f));
                continue;
            }
            let mut sub = module.to_vec();
            sub.push(name.clone());
            self.modules.insert(sub.clone());
            match (&m.content, file) {
                (Some((_, inner)), _) => self.mods(src, inner, &sub, &dir.join(&name), at),
                (None, Some((f, mod_rs))) => self.file(src, &f, sub, mod_rs),
                (None, None) => unreachable!(),
            }
        }
    }

    /// The unit a module path counts in: `root`, a top-level module, or `pipeline::PART`
    /// (`cli::PART` in the binary).
    fn unit(&self, path: &[String], root_uses: &BTreeMap<String, Vec<String>>) -> Option<String> {
        let top = path.first()?;
        if !self.modules.contains(&path[..1]) {
            // An item of lib.rs, or a name it re-exports (`crate::Reporter`).
            return match root_uses.get(top) {
                Some(to) if to[..] != path[..1] => self.unit(to, &BTreeMap::new()),
                _ => Some("root".to_string()),
            };
        }
        match path.get(1) {
            Some(part)
                if self.parted.contains(&top.as_str()) && self.modules.contains(&path[..2]) =>
            {
                Some(format!("{top}::{part}"))
            }
            _ => Some(top.clone()),
        }
    }
}

/// What an import is counted between: the units of [`Crate::unit`], or files.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Grain {
    /// Top-level modules, and the parts of the parted ones.
    Units,
    /// The files of one top-level module (`charts::values`, `charts::coalesce`), an import
    /// between a file and one of its ancestors left out (a `mod.rs` is its folder's face:
    /// its children name its items, and it names theirs to re-export them).
    Files,
}

impl Crate {
    /// The file a module path is written in: its longest prefix with a file of its own.
    fn file_of(&self, path: &[String]) -> Vec<String> {
        (0..=path.len())
            .rev()
            .map(|n| path[..n].to_vec())
            .find(|p| self.files.contains(p))
            .unwrap_or_default()
    }
}

/// A module path as an edge's end: `charts::values`, or `root` for lib.rs or main.rs.
fn named(path: &[String]) -> String {
    if path.is_empty() {
        "root".to_string()
    } else {
        path.join("::")
    }
}

/// Visits one file, resolving every path to the module it names.
struct Walker<'a> {
    krate: &'a Crate,
    grain: Grain,
    root_uses: &'a BTreeMap<String, Vec<String>>,
    rel: &'a str,
    module: Vec<String>,
    /// Names `use` brings in, innermost scope last.
    scopes: Vec<BTreeMap<String, Vec<String>>>,
    edges: &'a mut Edges,
}

impl Walker<'_> {
    /// The crate path `segments` names, if it is one.
    fn resolve(&self, segments: &[String]) -> Option<Vec<String>> {
        let (first, rest) = segments.split_first()?;
        match first.as_str() {
            "crate" | "$crate" => Some(rest.to_vec()),
            "self" => Some([&self.module[..], rest].concat()),
            "super" => {
                let mut at = self.module.clone();
                let mut rest = segments;
                while let Some(("super", tail)) = rest.split_first().map(|(s, t)| (s.as_str(), t)) {
                    at.pop()?;
                    rest = tail;
                }
                Some([&at[..], rest].concat())
            }
            _ => {
                if let Some(to) = self.scopes.iter().rev().find_map(|s| s.get(first)) {
                    return Some([&to[..], rest].concat());
                }
                let child = [&self.module[..], &segments[..1]].concat();
                self.krate
                    .modules
                    .contains(&child)
                    .then(|| [&self.module[..], segments].concat())
            }
        }
    }

    /// Records `segments` as an import written as `text` at `span`.
    fn import(&mut self, segments: &[String], text: &str, span: Span) {
        let Some(to) = self.resolve(segments) else {
            return;
        };
        if self.grain == Grain::Files {
            let (from, to) = (self.krate.file_of(&self.module), self.krate.file_of(&to));
            let kin = from.starts_with(&to) || to.starts_with(&from);
            if from.first() == to.first() && !kin {
                let at = format!("{}:{}: `{text}`", self.rel, span.start().line);
                let from = self.edges.entry(named(&from)).or_default();
                from.entry(named(&to)).or_insert(at);
            }
            return;
        }
        let from = self.krate.unit(&self.module, self.root_uses);
        let from = from.unwrap_or_else(|| "root".to_string());
        let Some(to) = self.krate.unit(&to, self.root_uses) else {
            return;
        };
        if from != to {
            let at = format!("{}:{}: `{text}`", self.rel, span.start().line);
            self.edges.entry(from).or_default().entry(to).or_insert(at);
        }
    }

    /// Every `crate::…`, `super::…` and `self::…` in a doc comment or attribute string.
    fn text(&mut self, text: &str, span: Span) {
        for start in ["crate::", "super::", "self::"] {
            for (i, _) in text.match_indices(start) {
                let before = text[..i].chars().next_back();
                if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                    continue;
                }
                let path: String = text[i..]
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                    .collect();
                let segments: Vec<String> = path
                    .split("::")
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect();
                self.import(&segments, &path, span);
            }
        }
    }

    /// Every `a::b::…` in a macro's or attribute's tokens, which `syn` leaves unparsed.
    fn tokens(&mut self, tokens: TokenStream) {
        let tokens: Vec<TokenTree> = tokens.into_iter().collect();
        let mut i = 0;
        while i < tokens.len() {
            let mut segments = Vec::new();
            let span = tokens[i].span();
            let mut j = i;
            if matches!(&tokens[j], TokenTree::Punct(p) if p.as_char() == '$') {
                j += 1; // `$crate::…` in a macro_rules body
            }
            while let Some(TokenTree::Ident(id)) = tokens.get(j) {
                segments.push(id.to_string());
                let colons = matches!((tokens.get(j + 1), tokens.get(j + 2)),
                    (Some(TokenTree::Punct(a)), Some(TokenTree::Punct(b)))
                        if a.as_char() == ':' && b.as_char() == ':');
                if !colons {
                    break;
                }
                j += 3;
            }
            if segments.len() > 1 {
                self.import(&segments, &segments.join("::"), span);
                i = j.max(i + 1);
                continue;
            }
            match &tokens[i] {
                TokenTree::Group(g) => self.tokens(g.stream()),
                TokenTree::Literal(l) => self.text(&l.to_string(), l.span()),
                _ => {}
            }
            i += 1;
        }
    }

    /// The names a block of items brings in with `use`.
    fn scope<'i>(
        &self,
        items: impl Iterator<Item = &'i syn::Item>,
    ) -> BTreeMap<String, Vec<String>> {
        let mut names = BTreeMap::new();
        for item in items {
            if let syn::Item::Use(u) = item {
                for (prefix, name) in leaves(&u.tree, Vec::new()) {
                    if let (Some(name), Some(to)) = (name, self.resolve(&prefix)) {
                        names.insert(name, to);
                    }
                }
            }
        }
        names
    }

    fn items(&mut self, items: &[syn::Item]) {
        let scope = self.scope(items.iter());
        self.scopes.push(scope);
        for item in items {
            self.visit_item(item);
        }
        self.scopes.pop();
    }
}

/// Each branch of a use tree: its full path, and the name it brings in (none for `*`,
/// `_`). `use a::{self as b}` is `a` as `b`.
fn leaves(tree: &syn::UseTree, mut prefix: Vec<String>) -> Vec<(Vec<String>, Option<String>)> {
    match tree {
        syn::UseTree::Path(p) => {
            prefix.push(p.ident.to_string());
            leaves(&p.tree, prefix)
        }
        syn::UseTree::Name(n) if n.ident == "self" => {
            let name = prefix.last().cloned();
            vec![(prefix, name)]
        }
        syn::UseTree::Name(n) => {
            prefix.push(n.ident.to_string());
            let name = prefix.last().cloned();
            vec![(prefix, name)]
        }
        syn::UseTree::Rename(r) => {
            if r.ident != "self" {
                prefix.push(r.ident.to_string());
            }
            let name = Some(r.rename.to_string()).filter(|n| n != "_");
            vec![(prefix, name)]
        }
        syn::UseTree::Glob(_) => vec![(prefix, None)],
        syn::UseTree::Group(g) => g
            .items
            .iter()
            .flat_map(|t| leaves(t, prefix.clone()))
            .collect(),
    }
}

/// The first identifier of a use tree, for its line.
fn use_span(tree: &syn::UseTree) -> Span {
    match tree {
        syn::UseTree::Path(p) => p.ident.span(),
        syn::UseTree::Name(n) => n.ident.span(),
        syn::UseTree::Rename(r) => r.ident.span(),
        syn::UseTree::Glob(g) => g.star_token.spans[0],
        syn::UseTree::Group(g) => g.brace_token.span.open(),
    }
}

impl<'ast> Visit<'ast> for Walker<'_> {
    fn visit_item(&mut self, item: &'ast syn::Item) {
        let attrs: &[syn::Attribute] = match item {
            syn::Item::Const(i) => &i.attrs,
            syn::Item::Enum(i) => &i.attrs,
            syn::Item::Fn(i) => &i.attrs,
            syn::Item::Impl(i) => &i.attrs,
            syn::Item::Macro(i) => &i.attrs,
            syn::Item::Mod(i) => &i.attrs,
            syn::Item::Static(i) => &i.attrs,
            syn::Item::Struct(i) => &i.attrs,
            syn::Item::Trait(i) => &i.attrs,
            syn::Item::Type(i) => &i.attrs,
            syn::Item::Use(i) => &i.attrs,
            _ => &[],
        };
        if !is_test(attrs) {
            visit::visit_item(self, item);
        }
    }

    fn visit_impl_item(&mut self, item: &'ast syn::ImplItem) {
        let attrs: &[syn::Attribute] = match item {
            syn::ImplItem::Const(i) => &i.attrs,
            syn::ImplItem::Fn(i) => &i.attrs,
            syn::ImplItem::Type(i) => &i.attrs,
            _ => &[],
        };
        if !is_test(attrs) {
            visit::visit_impl_item(self, item);
        }
    }

    fn visit_item_mod(&mut self, m: &'ast syn::ItemMod) {
        for a in &m.attrs {
            self.visit_attribute(a);
        }
        if let Some((_, items)) = &m.content {
            self.module.push(m.ident.to_string());
            self.items(items);
            self.module.pop();
        }
    }

    fn visit_block(&mut self, block: &'ast syn::Block) {
        let scope = self.scope(block.stmts.iter().filter_map(|s| match s {
            syn::Stmt::Item(i) => Some(i),
            _ => None,
        }));
        self.scopes.push(scope);
        visit::visit_block(self, block);
        self.scopes.pop();
    }

    fn visit_item_use(&mut self, u: &'ast syn::ItemUse) {
        let span = use_span(&u.tree);
        for (path, _) in leaves(&u.tree, Vec::new()) {
            let text = format!("use {}", path.join("::"));
            self.import(&path, &text, span);
        }
    }

    fn visit_path(&mut self, path: &'ast syn::Path) {
        if path.leading_colon.is_none() {
            let segments: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
            let span = path.segments[0].ident.span();
            self.import(&segments, &segments.join("::"), span);
        }
        visit::visit_path(self, path);
    }

    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        self.visit_path(&mac.path);
        self.tokens(mac.tokens.clone());
    }

    fn visit_attribute(&mut self, attr: &'ast syn::Attribute) {
        match &attr.meta {
            syn::Meta::NameValue(nv) => match &nv.value {
                syn::Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Str(s),
                    ..
                }) => self.text(&s.value(), s.span()),
                value => self.visit_expr(value),
            },
            syn::Meta::List(l) => self.tokens(l.tokens.clone()),
            syn::Meta::Path(_) => {}
        }
    }

    // `pub(super)`, `pub(in crate::x)` grant access; they import nothing.
    fn visit_visibility(&mut self, _: &'ast syn::Visibility) {}
}

/// The modules each module of the library imports, with where it does first.
pub(super) fn imports(src: &Path) -> Edges {
    imports_of(&Crate::load(src), Grain::Units)
}

/// The same of the binary (`main.rs`, `cli/`): each part of `cli` (a command, `common`)
/// counts as a module of its own, `cli` itself is `cli/mod.rs`, the dispatcher.
pub(super) fn binary_imports(src: &Path) -> Edges {
    imports_of(&Crate::load_from(src, "main.rs", &["cli"]), Grain::Units)
}

/// The files each file imports within its top-level module, of the library and of the
/// binary (`charts::values -> charts::coalesce`, `cli::common::document ->
/// cli::common::modes`), an import between a file and its ancestor's left out.
pub(super) fn file_imports(src: &Path) -> Edges {
    let mut edges = imports_of(&Crate::load(src), Grain::Files);
    let binary = imports_of(&Crate::load_from(src, "main.rs", &["cli"]), Grain::Files);
    edges.extend(
        binary
            .into_iter()
            .filter(|(from, _)| from.starts_with("cli")),
    );
    edges
}

fn imports_of(krate: &Crate, grain: Grain) -> Edges {
    let root = krate.sources.iter().find(|s| s.module.is_empty()).unwrap();
    let mut edges = Edges::new();
    let walker = Walker {
        krate,
        grain,
        root_uses: &BTreeMap::new(),
        rel: &root.rel,
        module: Vec::new(),
        scopes: Vec::new(),
        edges: &mut edges,
    };
    let root_uses = walker.scope(root.ast.items.iter());
    for source in &krate.sources {
        let mut walker = Walker {
            krate,
            grain,
            root_uses: &root_uses,
            rel: &source.rel,
            module: source.module.clone(),
            scopes: Vec::new(),
            edges: &mut edges,
        };
        for a in &source.ast.attrs {
            walker.visit_attribute(a);
        }
        walker.items(&source.ast.items);
    }
    edges
}
