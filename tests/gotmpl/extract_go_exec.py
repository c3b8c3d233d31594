#!/usr/bin/env python3
"""Extracts the execTests table of Go's text/template exec_test.go into JSON lines:
{"name", "input", "output", "data" (the Go expression, as text), "ok"}; with --parse, the
parseTests table of parse/parse_test.go: {"name", "input", "ok", "result"}.
Usage: extract_go_exec.py /usr/share/go-1.19/src/text/template/exec_test.go > go_exec_tests.jsonl
       extract_go_exec.py --parse .../parse/parse_test.go > go_parse_tests.jsonl"""
import json, re, sys

import golit

PARSE = sys.argv[1] == "--parse"
src = open(sys.argv[-1]).read()
head = "var parseTests = []parseTest" if PARSE else "var execTests = []execTest"
start = src.index(head + "{")
i = src.index("{", start + len(head)) + 1

def skip_ws(i):
    return golit.skip_ws(src, i)

def go_string(i):
    m = re.match(r"[A-Za-z_][A-Za-z0-9_]*", src[i:])
    if m:
        # A Go constant (bigInt, ...): kept by name; the test lists such cases as not supported.
        return "${" + m.group(0) + "}", i + len(m.group(0))
    return golit.literal(src, i)

def string_expr(i):
    # a string literal, or literals joined by +
    return golit.string_expr(src, i, go_string)

while True:
    i = skip_ws(i)
    if src[i] == '}':
        break
    assert src[i] == '{', src[i:i+60]
    i = skip_ws(i + 1)
    name, i = string_expr(i); i = skip_ws(i); assert src[i] == ','; i = skip_ws(i + 1)
    inp, i = string_expr(i); i = skip_ws(i); assert src[i] == ','; i = skip_ws(i + 1)
    if PARSE:
        m = re.match(r"(noError|hasError)", src[i:]); ok = m.group(1) == "noError"; i = skip_ws(i + len(m.group(1)))
        assert src[i] == ','; i = skip_ws(i + 1)
        result, i = string_expr(i); i = skip_ws(i)
        if src[i] == ',': i = skip_ws(i + 1)
        assert src[i] == '}', src[i:i+40]
        i = skip_ws(i + 1)
        if src[i] == ',': i += 1
        print(json.dumps({"name": name, "input": inp, "ok": ok, "result": result}))
        continue
    out, i = string_expr(i); i = skip_ws(i); assert src[i] == ','; i = skip_ws(i + 1)
    # data: balanced expression up to the comma before ok
    depth = 0; j = i
    while True:
        c = src[j]
        if c in '({[': depth += 1
        elif c in ')}]': depth -= 1
        elif c == '"' or c == '`':
            _, j = go_string(j); continue
        if c == ',' and depth == 0:
            break
        j += 1
    data = src[i:j].strip(); i = skip_ws(j + 1)
    m = re.match(r"(true|false)", src[i:]); ok = m.group(1) == "true"; i = skip_ws(i + len(m.group(1)))
    if src[i] == ',': i = skip_ws(i + 1)
    assert src[i] == '}', src[i:i+40]
    i += 1
    i = skip_ws(i)
    if src[i] == ',': i += 1
    print(json.dumps({"name": name, "input": inp, "output": out, "data": data, "ok": ok}))
