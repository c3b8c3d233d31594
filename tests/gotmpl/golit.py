"""Reading Go source text for the table extractors (extract_go_exec.py, extract_go_lex.py):
whitespace and line comments skipped, and Go string literals, raw or interpreted, decoded."""

ESCAPES = {'n': '\n', 't': '\t', 'r': '\r', '\\': '\\', '"': '"', "'": "'", 'a': '\a',
           'b': '\b', 'f': '\f', 'v': '\v'}


def skip_ws(src, i):
    """The index of the first character at or after i that is no whitespace or // comment."""
    while True:
        while src[i] in " \t\n":
            i += 1
        if src.startswith("//", i):
            i = src.index("\n", i)
            continue
        return i


def literal(src, i):
    """The Go string literal at i (`raw` or "interpreted", its escapes decoded) and the
    index after it."""
    if src[i] == '`':
        j = src.index('`', i + 1)
        return src[i + 1:j], j + 1
    assert src[i] == '"', src[i:i + 40]
    j = i + 1
    out = ""
    while src[j] != '"':
        if src[j] == '\\':
            j += 1
            c = src[j]
            if c in ESCAPES:
                out += ESCAPES[c]; j += 1
            elif c == 'x':
                out += chr(int(src[j + 1:j + 3], 16)); j += 3
            elif c == 'u':
                out += chr(int(src[j + 1:j + 5], 16)); j += 5
            elif c in '01234567':
                out += chr(int(src[j:j + 3], 8)); j += 3
            else:
                raise ValueError(src[j - 5:j + 5])
        else:
            out += src[j]; j += 1
    return out, j + 1


def string_expr(src, i, one):
    """Strings joined by +, each read by one(i) -> (text, next index)."""
    s, i = one(i)
    while True:
        k = skip_ws(src, i)
        if src[k] == '+':
            t, i = one(skip_ws(src, k + 1))
            s += t
        else:
            return s, i
