#!/usr/bin/env python3
"""Extracts the execTests table of Go's text/template exec_test.go into JSON lines:
{"name", "input", "output", "data" (the Go expression, as text), "ok"}; with --parse, the
parseTests table of parse/parse_test.go: {"name", "input", "ok", "result"}.
Usage: extract_go_exec.py /usr/share/go-1.19/src/text/template/exec_test.go > go_exec_tests.jsonl
       extract_go_exec.py --parse .../parse/parse_test.go > go_parse_tests.jsonl"""
import json, re, sys

PARSE = sys.argv[1] == "--parse"
src = open(sys.argv[-1]).read()
head = "var parseTests = []parseTest" if PARSE else "var execTests = []execTest"
start = src.index(head + "{")
i = src.index("{", start + len(head)) + 1

def skip_ws(i):
    while True:
        while src[i] in " \t\n":
            i += 1
        if src.startswith("//", i):
            i = src.index("\n", i)
            continue
        return i

def go_string(i):
    m = re.match(r"[A-Za-z_][A-Za-z0-9_]*", src[i:])
    if m:
        # A Go constant (bigInt, ...): kept by name; the test lists such cases as not supported.
        return "${" + m.group(0) + "}", i + len(m.group(0))
    if src[i] == '`':
        j = src.index('`', i + 1)
        return src[i + 1:j], j + 1
    assert src[i] == '"', src[i:i+40]
    j = i + 1
    out = ""
    while src[j] != '"':
        if src[j] == '\\':
            j += 1
            c = src[j]
            m = {'n': '\n', 't': '\t', 'r': '\r', '\\': '\\', '"': '"', "'": "'", 'a': '\a', 'b': '\b', 'f': '\f', 'v': '\v'}
            if c in m:
                out += m[c]; j += 1
            elif c == 'x':
                out += chr(int(src[j+1:j+3], 16)); j += 3
            elif c == 'u':
                out += chr(int(src[j+1:j+5], 16)); j += 5
            elif c in '01234567':
                out += chr(int(src[j:j+3], 8)); j += 3
            else:
                raise ValueError(src[j-5:j+5])
        else:
            out += src[j]; j += 1
    return out, j + 1

def string_expr(i):
    # a string literal, or literals joined by +
    s, i = go_string(i)
    while True:
        k = skip_ws(i)
        if src[k] == '+':
            k = skip_ws(k + 1)
            t, i = go_string(k)
            s += t
        else:
            return s, i

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
