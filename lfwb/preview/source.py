"""Reading a component's JSX/TSX source: tokens, its imports, its default export.

    >>> validate_source('import React from "react"\\nexport default () => <b>hi</b>')   # passes
    >>> validate_source('import x from "./x"\\nexport default () => <b/>')
    Traceback (most recent call last):
    lfwb.errors.PreviewRefused: the component imports './x' (line 1) — only react, react-dom, framer and framer-motion can be imported; inline what it needs from './x'

The component itself is found by `component.find_component`.

Not a JS engine: a tokenizer that knows strings, comments, template literals (with nested
`${}`), regular expressions and brackets, and a few patterns over its tokens. JSX text is not
tokenized as such; a stray quote in it (`<p>Don't</p>`) is read as a string only up to the end
of its line, so what it can swallow is limited to that line. Syntax errors are the runtime's
to report (with their line); this module only refuses what a preview must never try.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

from ..errors import PreviewRefused, check_text

# What the preview's runtime can `require` (the names and the entry points sucrase emits).
ALLOWED_IMPORTS = frozenset({
    "react", "react-dom", "framer", "framer-motion",
    "react/jsx-runtime", "react/jsx-dev-runtime", "react-dom/client",
})
MAX_SOURCE_BYTES = 200_000


@dataclass(frozen=True)
class Token:
    kind: str  # name | number | string | template | regex | punct
    text: str
    start: int  # offsets into the source
    end: int
    line: int  # 1-based


_NAME = re.compile(r"[A-Za-z_$\u0080-\uffff][\w$\u0080-\uffff]*")
_NUMBER = re.compile(
    r"0[xX][\da-fA-F_]+n?|0[oO][0-7_]+n?|0[bB][01_]+n?|(?:\d[\d_]*(?:\.[\d_]*)?|\.\d[\d_]*)(?:[eE][+-]?\d+)?n?"
)
_PUNCT = ("...", "===", "!==", "??=", "&&=", "||=", "=>", "?.", "??", "==", "!=", "<=", ">=",
          "&&", "||", "++", "--", "+=", "-=", "*=", "**")
# A `/` after one of these starts a regular expression; after anything else it divides (or
# closes a JSX tag: `</p>`, `<br />`, `{x} />`).
_BEFORE_REGEX = {"(", ",", "=", ":", "[", "!", "&", "|", "?", "{", ";", "+", "-", "*", "%", "~", "^",
                 "=>", "==", "===", "!=", "!==", "&&", "||", "??", "+=", "-=", "...",
                 "return", "typeof", "case", "do", "else", "in", "of", "new", "delete", "void",
                 "throw", "yield", "await", "instanceof"}
_OPEN = {"(": ")", "[": "]", "{": "}"}


def tokenize(source: str) -> list[Token]:
    """The source's tokens, comments and whitespace left out."""
    newlines = [m.start() for m in re.finditer("\n", source)]
    tokens: list[Token] = []
    _scan(source, 0, tokens, newlines, nested=False)
    return tokens


def _scan(src: str, i: int, tokens: list[Token], newlines: list[int], nested: bool) -> int:
    """Tokens from `i` into `tokens`; `nested` (a template's `${`): stop after its closing `}`."""
    depth, n = 0, len(src)
    while i < n:
        c = src[i]
        if c.isspace() or c == "\ufeff":
            i += 1
            continue
        if src.startswith("//", i):
            j = src.find("\n", i)
            i = n if j < 0 else j
            continue
        if src.startswith("/*", i):
            j = src.find("*/", i + 2)
            i = n if j < 0 else j + 2
            continue
        start = i
        if c in "'\"":
            kind, i = _string(src, i)
        elif c == "`":
            kind, i = "template", _template(src, i, newlines)
        elif c == "/" and (not tokens or tokens[-1].text in _BEFORE_REGEX):
            kind, i = _regex(src, i)
        elif c.isdigit() or (c == "." and src[i + 1:i + 2].isdigit()):
            kind, i = "number", _NUMBER.match(src, i).end()
        elif m := _NAME.match(src, i):
            kind, i = "name", m.end()
        else:
            kind = "punct"
            i += next((len(p) for p in _PUNCT if src.startswith(p, i)), 1)
            if nested and c == "{":
                depth += 1
            elif nested and c == "}":
                if depth == 0:
                    return i
                depth -= 1
        tokens.append(Token(kind, src[start:i], start, i, bisect.bisect_right(newlines, start - 1) + 1))
    return n


def _string(src: str, i: int) -> tuple[str, int]:
    quote, j = src[i], i + 1
    while j < len(src):
        if src[j] == "\\":
            j += 2
        elif src[j] == quote:
            return "string", j + 1
        elif src[j] == "\n":
            break
        else:
            j += 1
    # Unterminated on its line: a quote in JSX text (`Don't`), not a string.
    return "punct", i + 1


def _template(src: str, i: int, newlines: list[int]) -> int:
    j = i + 1
    while j < len(src):
        if src[j] == "\\":
            j += 2
        elif src[j] == "`":
            return j + 1
        elif src.startswith("${", j):
            j = _scan(src, j + 2, [], newlines, nested=True)
        else:
            j += 1
    return len(src)


def _regex(src: str, i: int) -> tuple[str, int]:
    j, in_class = i + 1, False
    while j < len(src) and src[j] != "\n":
        if src[j] == "\\":
            j += 2
            continue
        if in_class:
            in_class = src[j] != "]"
        elif src[j] == "[":
            in_class = True
        elif src[j] == "/":
            j += 1
            while j < len(src) and src[j].isalnum():
                j += 1
            return "regex", j
        j += 1
    return "punct", i + 1


# -- walking tokens ------------------------------------------------------------------------


def closing(tokens: list[Token], i: int) -> int | None:
    """The index of the bracket that closes the `(`, `[` or `{` at `i`; None if it never does."""
    open_, close = tokens[i].text, _OPEN[tokens[i].text]
    depth = 0
    for j in range(i, len(tokens)):
        if tokens[j].text == open_:
            depth += 1
        elif tokens[j].text == close:
            depth -= 1
            if depth == 0:
                return j
    return None


def split_top(tokens: list[Token], lo: int, hi: int, seps: tuple[str, ...] = (",",),
              angles: bool = False) -> list[tuple[int, int]]:
    """The ranges of tokens[lo:hi] between separators at bracket depth 0 (`<>` too if `angles`)."""
    parts, depth, start = [], 0, lo
    for j in range(lo, hi):
        text = tokens[j].text
        if text in "([{" or (angles and text == "<"):
            depth += 1
        elif text in ")]}" or (angles and text == ">"):
            depth -= 1
        elif depth == 0 and text in seps:
            parts.append((start, j))
            start = j + 1
    parts.append((start, hi))
    return [(a, b) for a, b in parts if a < b]


def texts(tokens: list[Token], lo: int, hi: int) -> list[str]:
    return [t.text for t in tokens[lo:hi]]


# -- imports and the default export -------------------------------------------------------


def imports(tokens: list[Token]) -> list[tuple[str, int]]:
    """(module, line) for each `import ... from`, `import "x"`, `import("x")`, `export ... from`
    and `require("x")`."""
    found = []
    for i, t in enumerate(tokens):
        if t.kind != "name" or (i and tokens[i - 1].text in (".", "?.")):
            continue
        nxt = tokens[i + 1] if i + 1 < len(tokens) else None
        if t.text in ("import", "require") and nxt is not None and nxt.text == "(":
            if i + 2 < len(tokens) and tokens[i + 2].kind == "string":
                found.append((_unquote(tokens[i + 2].text), t.line))
        elif t.text == "import" and nxt is not None and nxt.kind == "string":
            found.append((_unquote(nxt.text), t.line))
        elif t.text in ("import", "export") and nxt is not None and nxt.text not in (".", "default"):
            for j in range(i + 1, min(len(tokens), i + 400)):
                if tokens[j].text == ";" or (j > i + 1 and tokens[j].text in ("import", "export")):
                    break
                if tokens[j].text == "from" and j + 1 < len(tokens) and tokens[j + 1].kind == "string":
                    found.append((_unquote(tokens[j + 1].text), t.line))
                    break
    return found


def _unquote(text: str) -> str:
    return text[1:-1]


def validate_source(source: str, what: str = "the component") -> None:
    """Refuse (`PreviewRefused`, one line) what a preview or an export must never take: a source
    over 200 kB, an import other than react, react-dom, framer and framer-motion, no default
    export. `what` names the source in the message (e.g. its filename)."""
    check_text(source, what, PreviewRefused)  # a lone surrogate would fail in the frame's page
    size = len(source.encode("utf-8", "surrogatepass"))
    if size > MAX_SOURCE_BYTES:
        raise PreviewRefused(
            f"{what} is {size / 1000:.0f} kB — a component may be at most {MAX_SOURCE_BYTES // 1000} kB; "
            "split it into smaller components"
        )
    tokens = tokenize(source)
    for module, line in imports(tokens):
        if module not in ALLOWED_IMPORTS:
            raise PreviewRefused(
                f"{what} imports {module!r} (line {line}) — only react, react-dom, framer and "
                f"framer-motion can be imported; inline what it needs from {module!r}"
            )
    if default_export(tokens) is None:
        raise PreviewRefused(
            f"{what} has no default export — add `export default function Name(props) {{ ... }}`"
        )


def default_export(tokens: list[Token]) -> int | None:
    """The index of the token after `export default` (or of `default` in `export { X as
    default }`); None without one."""
    for i in range(len(tokens) - 1):
        if tokens[i].text == "export" and tokens[i + 1].text == "default" and i + 2 < len(tokens):
            return i + 2
        if tokens[i].text == "export" and tokens[i + 1].text == "{":
            end = closing(tokens, i + 1) or len(tokens)
            for j in range(i + 2, end - 2):
                if tokens[j + 1].text == "as" and tokens[j + 2].text == "default":
                    return j
    return None
