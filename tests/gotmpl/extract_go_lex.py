#!/usr/bin/env python3
"""Extracts the tables of Go's text/template/parse/lex_test.go into JSON lines:
{"table", "name", "input", "left", "right", "items"}, each item [type, value] (the Go item
type's constant name, itemText, ..., and its text), or [type, value, pos, line] in the
lexPosTests table, which checks positions. The tables: lexTests (delimiters {{ }}),
lexDelimTests ($$ @@), TestDelimsAlphaNumeric's case ({{hub hub}}), lexPosTests.
Usage: extract_go_lex.py /usr/share/go-1.19/src/text/template/parse/lex_test.go > go_lex_tests.jsonl"""
import json, re, sys

import golit

src = open(sys.argv[1]).read()
strings = {}  # Go string variables of the test (raw, rawNL)
items = {}  # Go item variables of the test (tDot, tLeft, ...)


def skip_ws(i):
    return golit.skip_ws(src, i)


def ident(i):
    m = re.match(r"[A-Za-z_][A-Za-z0-9_]*", src[i:])
    return (m.group(0), i + len(m.group(0))) if m else (None, i)


def go_string(i):
    name, j = ident(i)
    if name:
        return strings[name], j
    return golit.literal(src, i)


def string_expr(i):
    # a string literal or variable, or several joined by +
    return golit.string_expr(src, i, go_string)


def expect(i, c):
    i = skip_ws(i)
    assert src[i] == c, (c, src[i:i + 40])
    return skip_ws(i + 1)


def number(i):
    m = re.match(r"\d+", src[i:])
    return int(m.group(0)), i + len(m.group(0))


def item(i):
    """mkItem(itemX, "text"), a variable, or {itemX, pos, "text", line}."""
    if src[i] == '{':
        typ, i = ident(skip_ws(i + 1))
        i = expect(i, ',')
        pos, i = number(i)
        i = expect(i, ',')
        val, i = string_expr(i)
        i = expect(i, ',')
        line, i = number(i)
        i = expect(i, '}')
        return [typ, val, pos, line], i
    name, j = ident(i)
    if name == "mkItem":
        i = expect(j, '(')
        typ, i = ident(i)
        i = expect(i, ',')
        val, i = string_expr(i)
        i = expect(i, ')')
        return [typ, val], i
    return items[name], j


def var_blocks():
    for m in re.finditer(r"^var \(\n(.*?)^\)", src, re.S | re.M):
        for line in m.group(1).splitlines():
            line = line.split("//")[0].strip() if "`" not in line else line.strip()
            if not line:
                continue
            name, rest = [s.strip() for s in line.split("=", 1)]
            k = src.index(rest.split("//")[0].strip(), m.start())
            if rest.startswith("mkItem"):
                items[name], _ = item(k)
            else:
                strings[name], _ = string_expr(k)


def case(i):
    """{"name", "input", []item{...}} at i: the case and the index after it."""
    i = expect(i, '{')
    name, i = string_expr(i)
    i = expect(i, ',')
    inp, i = string_expr(i)
    i = expect(i, ',')
    assert src.startswith("[]item{", i), src[i:i + 40]
    i = skip_ws(i + len("[]item{"))
    out = []
    while src[i] != '}':
        it, i = item(i)
        out.append(it)
        i = skip_ws(i)
        if src[i] == ',':
            i = skip_ws(i + 1)
    i = expect(i, '}')
    i = expect(i, '}')
    return name, inp, out, i


def table(head, left, right, table_name):
    start = src.index(head)
    i = skip_ws(src.index("{", start + len(head) - 1) + 1)
    while src[i] != '}':
        name, inp, out, i = case(i)
        print(json.dumps({"table": table_name, "name": name, "input": inp, "left": left,
                          "right": right, "items": out}, ensure_ascii=False))
        if src[i] == ',':
            i = skip_ws(i + 1)


var_blocks()
print(json.dumps({"source": "Go 1.19.8 (Debian golang-1.19-src 1.19.8-2) "
                  "src/text/template/parse/lex_test.go, lexTests, lexDelimTests, "
                  "TestDelimsAlphaNumeric, lexPosTests; Copyright 2011 The Go Authors, BSD-style "
                  "license (LICENSE in the Go source); extracted by extract_go_lex.py"}))
table("var lexTests = []lexTest{", "{{", "}}", "lexTests")
table("var lexDelimTests = []lexTest{", "$$", "@@", "lexDelimTests")
# TestDelimsAlphaNumeric: one case, lexed with the delimiters its collect call names.
k = src.index("func TestDelimsAlphaNumeric")
m = re.search(r'collect\(&test, "([^"]*)", "([^"]*)"\)', src[k:])
i = src.index("lexTest{", k) + len("lexTest")
name, inp, out, _ = case(i)
print(json.dumps({"table": "TestDelimsAlphaNumeric", "name": name, "input": inp,
                  "left": m.group(1), "right": m.group(2), "items": out}, ensure_ascii=False))
table("var lexPosTests = []lexTest{", "{{", "}}", "lexPosTests")
