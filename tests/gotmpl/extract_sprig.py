#!/usr/bin/env python3
"""Extracts the template cases of Sprig's *_test.go that need no data: `runt(TPL, EXPECT)`
with TPL and EXPECT string literals, a `tpl := LIT` before `runt(tpl, LIT)`, and the
`tests := map[string]string{TPL: EXPECT, ...}` tables run with `runt(KEY, VALUE)`.
Prints JSON lines {"name", "input", "output"}.
Usage: extract_sprig.py DIR > sprig_tests.jsonl"""
import json, os, re, sys

def tokens(src):
    i = 0
    while i < len(src):
        c = src[i]
        if src.startswith("//", i):
            i = src.find("\n", i); i = len(src) if i < 0 else i; continue
        if src.startswith("/*", i):
            i = src.index("*/", i) + 2; continue
        if c in " \t\n\r":
            i += 1; continue
        if c == '`':
            j = src.index('`', i + 1); yield ("str", src[i+1:j]); i = j + 1; continue
        if c == '"':
            j = i + 1; out = ""
            while src[j] != '"':
                if src[j] == '\\':
                    e = src[j+1]
                    m = {'n': '\n', 't': '\t', 'r': '\r', '\\': '\\', '"': '"', "'": "'"}
                    if e in m: out += m[e]; j += 2
                    elif e == 'x': out += chr(int(src[j+2:j+4], 16)); j += 4
                    elif e == 'u': out += chr(int(src[j+2:j+6], 16)); j += 6
                    else: raise ValueError(src[j:j+10])
                else:
                    out += src[j]; j += 1
            yield ("str", out); i = j + 1; continue
        m = re.match(r"[A-Za-z_][A-Za-z0-9_]*", src[i:])
        if m:
            yield ("id", m.group(0)); i += len(m.group(0)); continue
        if src.startswith(":=", i):
            yield ("p", ":="); i += 2; continue
        yield ("p", c); i += 1

def cases(path):
    toks = list(tokens(open(path).read()))
    func = "?"
    n = 0
    strs = {}
    table = []
    k = 0
    while k < len(toks):
        t = toks[k]
        if t == ("id", "func") and k + 1 < len(toks) and toks[k+1][0] == "id":
            func = toks[k+1][1]; n = 0; strs = {}; table = []
        # NAME := "lit"
        if t[0] == "id" and k + 2 < len(toks) and toks[k+1] in (("p", ":="), ("p", "=")) and toks[k+2][0] == "str" and (k + 3 >= len(toks) or toks[k+3][1] != "+"):
            strs[t[1]] = toks[k+2][1]
        elif t[0] == "id" and k + 1 < len(toks) and toks[k+1] in (("p", ":="), ("p", "=")):
            strs.pop(t[1], None)
        # map[string]string{ "a": "b", ... }
        if t == ("id", "map") and toks[k+1:k+6] == [("p", "["), ("id", "string"), ("p", "]"), ("id", "string"), ("p", "{")]:
            j = k + 6; table = []
            while toks[j] != ("p", "}"):
                if toks[j][0] == "str" and toks[j+1] == ("p", ":") and toks[j+2][0] == "str":
                    table.append((toks[j][1], toks[j+2][1])); j += 3
                    if toks[j] == ("p", ","): j += 1
                else:
                    table = None; break
            k = j
        # runt(A, B)
        if t == ("id", "runt") and toks[k+1] == ("p", "("):
            a, b = toks[k+2], toks[k+4] if toks[k+3] == ("p", ",") else None
            def val(x):
                if x is None: return None
                if x[0] == "str": return x[1]
                if x[0] == "id": return strs.get(x[1])
            # A table run as `for tpl, expect := range tests { runt(tpl, expect) }`, any names.
            if a[0] == "id" and b is not None and b[0] == "id" and val(a) is None and table:
                for tpl, exp in table:
                    n += 1
                    yield {"name": f"{os.path.basename(path)}:{func}#{n}", "input": tpl, "output": exp}
                table = []
            elif val(a) is not None and val(b) is not None and toks[k+5] == ("p", ")"):
                n += 1
                yield {"name": f"{os.path.basename(path)}:{func}#{n}", "input": val(a), "output": val(b)}
        k += 1

d = sys.argv[1]
for f in sorted(os.listdir(d)):
    if f.endswith("_test.go") and "windows" not in f:
        for c in cases(os.path.join(d, f)):
            print(json.dumps(c))
