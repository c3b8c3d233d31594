//! Go's `text/template/parse/lex_test.go` tables (`tests/gotmpl/go_lex_tests.jsonl`, made by
//! `tests/gotmpl/extract_go_lex.py`): the lexer's tokens, read as Go's items, are the
//! items Go expects.
//!
//! The tokens are Go's items but in three ways, mapped here: a keyword, `true`, `false`
//! and `nil` are one kind of token (an identifier the parser tells apart, as Go's lexer
//! does by name); a comment is no token (the parser drops comments, as Go's does unless
//! asked to keep them, which Helm never does), so Go's comment items are left out of what
//! is expected; and a token keeps its position, its text is read from the source (up to
//! the next token). An error ends the tokens as Go's error item ends its items.

use super::lex::{Tok, Token, lex_into, line_col};

/// Cases of Go's lexer tables this lexer does not support, with why.
const GO_LEX_UNSUPPORTED: &[(&str, &str, &str)] = &[];

/// Go's item type of a keyword or identifier.
fn word_type(w: &str) -> &'static str {
    match w {
        "block" => "itemBlock",
        "break" => "itemBreak",
        "continue" => "itemContinue",
        "define" => "itemDefine",
        "else" => "itemElse",
        "end" => "itemEnd",
        "if" => "itemIf",
        "nil" => "itemNil",
        "range" => "itemRange",
        "template" => "itemTemplate",
        "with" => "itemWith",
        "true" | "false" => "itemBool",
        _ => "itemIdentifier",
    }
}

/// Whether a number token is Go's complex constant (`1+2i`): a second number after a sign.
fn is_complex(text: &str) -> bool {
    super::lex::scan_number(text).is_ok_and(|n| n < text.len())
}

/// The tokens as Go's items: type, text, position, line.
fn items(
    src: &str,
    left: &str,
    right: &str,
    toks: &[Token],
) -> Vec<(String, String, usize, usize)> {
    let mut out = Vec::new();
    for (k, t) in toks.iter().enumerate() {
        let end = toks.get(k + 1).map_or(src.len(), |n| n.pos);
        let written = || src[t.pos..end].to_string();
        let (typ, val) = match &t.tok {
            Tok::Text(s) => ("itemText", s.clone()),
            Tok::Left => ("itemLeftDelim", left.to_string()),
            Tok::Right => ("itemRightDelim", right.to_string()),
            Tok::Space => ("itemSpace", written()),
            Tok::Ident(w) => (word_type(w), w.clone()),
            Tok::Field(f) => ("itemField", format!(".{f}")),
            Tok::Var(v) => ("itemVariable", v.clone()),
            Tok::Dot => ("itemDot", ".".into()),
            Tok::Str(_, q) if q.starts_with('`') => ("itemRawString", q.clone()),
            Tok::Str(_, q) => ("itemString", q.clone()),
            Tok::Char(_) => ("itemCharConstant", written()),
            Tok::Number(n) if is_complex(n) => ("itemComplex", n.clone()),
            Tok::Number(n) => ("itemNumber", n.clone()),
            Tok::Pipe => ("itemPipe", "|".into()),
            Tok::LParen => ("itemLeftParen", "(".into()),
            Tok::RParen => ("itemRightParen", ")".into()),
            Tok::Declare => ("itemDeclare", ":=".into()),
            Tok::Assign => ("itemAssign", "=".into()),
            Tok::Comma => ("itemChar", ",".into()),
            Tok::Punct(c) => ("itemChar", c.to_string()),
        };
        out.push((typ.to_string(), val, t.pos, line_col(src, t.pos).0));
    }
    out
}

#[test]
fn go_lex_tests() {
    let text = include_str!("../../tests/gotmpl/go_lex_tests.jsonl");
    let (mut passed, mut listed, mut failed) = (0, 0, Vec::new());
    for line in text.lines().skip(1) {
        let case: serde_json::Value = serde_json::from_str(line).unwrap();
        let table = case["table"].as_str().unwrap();
        let name = case["name"].as_str().unwrap();
        let input = case["input"].as_str().unwrap();
        let (left, right) = (
            case["left"].as_str().unwrap(),
            case["right"].as_str().unwrap(),
        );
        let check_pos = table == "lexPosTests";
        let want: Vec<(String, String, usize, usize)> = case["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i[0] != "itemComment")
            .map(|i| {
                (
                    i[0].as_str().unwrap().to_string(),
                    i[1].as_str().unwrap().to_string(),
                    i.get(2).and_then(serde_json::Value::as_u64).unwrap_or(0) as usize,
                    i.get(3).and_then(serde_json::Value::as_u64).unwrap_or(0) as usize,
                )
            })
            .collect();
        let mut toks = Vec::new();
        let result = lex_into(input, left, right, &mut toks);
        let mut got = items(input, left, right, &toks);
        match result {
            Ok(()) => got.push((
                "itemEOF".into(),
                String::new(),
                input.len(),
                line_col(input, input.len()).0,
            )),
            Err(e) => got.push(("itemError".into(), e.message, e.pos, 0)),
        }
        let same = got.len() == want.len()
            && got.iter().zip(&want).all(|(g, w)| {
                g.0 == w.0 && g.1 == w.1 && (!check_pos || (g.2 == w.2 && g.3 == w.3))
            });
        let reason = GO_LEX_UNSUPPORTED
            .iter()
            .find(|(t, n, _)| *t == table && *n == name);
        match (same, reason) {
            (true, None) => passed += 1,
            (true, Some(_)) => failed.push(format!(
                "{table} {name}: listed as not supported but passes"
            )),
            (false, Some(_)) => listed += 1,
            (false, None) => failed.push(format!(
                "{table} {name}: {input:?}\n  want {want:?}\n  got  {got:?}"
            )),
        }
    }
    eprintln!("Go lex tests: {passed} pass, {listed} listed as not supported");
    assert!(
        failed.is_empty(),
        "{} failures:\n{}",
        failed.len(),
        failed.join("\n")
    );
    assert_eq!(passed + listed, text.lines().count() - 1);
}

/// What the lexer's fixes change for a template, as Go's parser reports it.
#[test]
fn go_lexer_items_reach_the_parser_as_in_go() {
    use super::{Limits, TemplateSet};
    let parse = |src: &str| {
        let mut s = TemplateSet::new_go(Limits::default());
        s.parse("t", src).map(|_| ()).map_err(|e| e.message)
    };
    // Printable punctuation is an item the parser refuses where it stands.
    assert_eq!(parse("{{@}}"), Err("unexpected \"@\" in operand".into()));
    assert_eq!(
        parse("{{3)}}"),
        Err("unexpected right paren U+0029 ')'".into())
    );
    assert_eq!(
        parse("{{\"a\" \u{1}}}"),
        Err("unrecognized character in action: U+0001".into())
    );
    // A complex constant is one number.
    assert_eq!(parse("{{print 1+2i}}"), Ok(()));
    // A character constant runs to its closing quote, then must be one character.
    assert_eq!(
        parse("{{'ab'}}"),
        Err("malformed character constant: 'ab'".into())
    );
    assert_eq!(
        parse("{{'\n'}}"),
        Err("unterminated character constant".into())
    );
}
