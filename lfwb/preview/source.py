"""Reading a component's JSX/TSX source: tokens, its imports, its default-exported component.

    >>> validate_source('import React from "react"\\nexport default () => <b>hi</b>')   # passes
    >>> validate_source('import x from "./x"\\nexport default () => <b/>')
    Traceback (most recent call last):
    lfwb.errors.PreviewRefused: the component imports './x' (line 1) — only react, react-dom, framer and framer-motion can be imported; inline what it needs from './x'
    >>> find_component(tokenize("export default function Card({ title }) { return <div/> }")).name
    'Card'

Not a JS engine: a tokenizer that knows strings, comments, template literals (with nested
`${}`), regular expressions and brackets, and a few patterns over its tokens. JSX text is not
tokenized as such; a stray quote in it (`<p>Don't</p>`) is read as a string only up to the end
of its line, so what it can swallow is limited to that line. Syntax errors are the runtime's
to report (with their line); this module only refuses what a preview must never try.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field

from ..errors import PreviewRefused

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


# -- the component --------------------------------------------------------------------------


@dataclass
class Component:
    """Where the default-exported component sits among the tokens (ranges are [lo, hi))."""

    name: str | None
    kind: str  # "function" | "arrow" | "class"
    start: int  # its declaration's first token (`function`, `async`, `(`, `const`, `class`)
    params: tuple[int, int] | None  # inside the parentheses; a bare `props =>` is its one token
    body: tuple[int, int]  # a block with its braces, or an arrow's expression
    end: int  # one past its declaration's last token (a `;` included)
    props_type: tuple[int, int] | None = None  # `Props` of `React.FC<Props>` / `Component<Props>`
    exported_inline: bool = True  # False: `export default Name;` sits elsewhere
    export: tuple[int, int] | None = None  # that statement's range
    wrapper: tuple[int, int] | None = field(default=None)  # `memo(` ... `)` around it


_WRAPPERS = {"memo", "forwardRef"}
_STATEMENT_STARTS = {"export", "import", "const", "let", "var", "function", "class", "type",
                     "interface", "addPropertyControls"}


def find_component(tokens: list[Token]) -> Component | None:
    """The default-exported component: `export default function`, an arrow, a name declared
    elsewhere (`const X = ...`, `function X`), `memo(...)`/`forwardRef(...)` around either, or a
    class. None when there is no default export or it is not one of these."""
    k = default_export(tokens)
    if k is None:
        return None
    if tokens[k - 1].text != "default":  # export { X as default }
        found = _declared(tokens, tokens[k].text)
        if found:
            found.exported_inline = False
            if tokens[k - 1].text == "{" and k + 3 < len(tokens) and tokens[k + 3].text == "}":
                found.export = (k - 2, k + 4 + _semicolon(tokens, k + 4))  # it alone: export { X as default }
        return found
    found = _expression(tokens, k)
    if found is not None:
        found.start = k - 2
        return found
    name_at, end = k, k + 1
    if _wrapper_paren(tokens, k) is not None:  # export default memo(Name)
        paren = _wrapper_paren(tokens, k)
        close = closing(tokens, paren)
        if close is None or close != paren + 2 or tokens[paren + 1].kind != "name":
            return None
        name_at, end = paren + 1, close + 1
    if tokens[name_at].kind != "name":
        return None
    found = _declared(tokens, tokens[name_at].text)
    if found is not None:
        found.exported_inline = False
        found.export = (k - 2, end + _semicolon(tokens, end))
    return found


def _declared(tokens: list[Token], name: str) -> Component | None:
    for i in range(len(tokens) - 1):
        if tokens[i + 1].text != name or tokens[i].text not in ("function", "const", "let", "var", "class"):
            continue
        if tokens[i].text in ("function", "class"):
            found = _expression(tokens, i)
        else:
            j, props_type = i + 2, None
            if j < len(tokens) and tokens[j].text == ":":
                eq = next((x for x in range(j, len(tokens)) if tokens[x].text == "="), None)
                if eq is None:
                    return None
                props_type = _generic_argument(tokens, j + 1, eq)
                j = eq
            if j >= len(tokens) or tokens[j].text != "=":
                continue
            found = _expression(tokens, j + 1)
            if found is not None:
                found.props_type = found.props_type or props_type
        if found is not None:
            found.name = found.name or name
            found.start = i - (i > 0 and tokens[i - 1].text == "export")
            return found
    return None


def _generic_argument(tokens: list[Token], lo: int, hi: int) -> tuple[int, int] | None:
    """The range inside the last `<...>` of tokens[lo:hi] (`React.FC<Props>` → `Props`)."""
    opened = next((j for j in range(lo, hi) if tokens[j].text == "<"), None)
    closed = next((j for j in range(hi - 1, lo - 1, -1) if tokens[j].text == ">"), None)
    if opened is None or closed is None or closed <= opened + 1:
        return None
    return opened + 1, closed


def _expression(tokens: list[Token], k: int) -> Component | None:
    """The function (or class) that starts at `k`, if it is one."""
    n = len(tokens)
    j = k + (tokens[k].text == "async" and k + 1 < n)
    t = tokens[j]
    if t.text == "function":
        j += 1 + (j + 1 < n and tokens[j + 1].text == "*")
        name = tokens[j].text if j < n and tokens[j].kind == "name" else None
        j += name is not None
        if j < n and tokens[j].text == "<":
            j = next((x for x in range(j, n) if tokens[x].text == ">"), n - 1) + 1
        if j >= n or tokens[j].text != "(":
            return None
        close = closing(tokens, j)
        brace = next((x for x in range(close or n, n) if tokens[x].text == "{"), None) if close else None
        body_end = closing(tokens, brace) if brace is not None else None
        if body_end is None:
            return None
        end = body_end + 1
        return Component(name, "function", k, (j + 1, close), (brace, end), end + _semicolon(tokens, end))
    if t.text == "class":
        name = tokens[j + 1].text if j + 1 < n and tokens[j + 1].kind == "name" and tokens[j + 1].text != "extends" else None
        brace = next((x for x in range(j, n) if tokens[x].text == "{"), None)
        body_end = closing(tokens, brace) if brace is not None else None
        if body_end is None:
            return None
        return Component(name, "class", k, None, (brace, body_end + 1), body_end + 1,
                         props_type=_generic_argument(tokens, j, brace))
    paren = _wrapper_paren(tokens, j)
    if paren is not None:  # memo(function ...) / forwardRef((props, ref) => ...)
        close = closing(tokens, paren)
        inner = _expression(tokens, paren + 1) if close is not None else None
        if inner is not None:
            inner.wrapper = (k, close + 1)
            inner.end = close + 1 + _semicolon(tokens, close + 1)
        return inner
    return _arrow(tokens, k, j)


def _wrapper_paren(tokens: list[Token], j: int) -> int | None:
    """The `(` of `memo(`, `forwardRef(`, `React.memo(` at `j`; None if it is not one."""
    n = len(tokens)
    if tokens[j].text in _WRAPPERS and j + 1 < n and tokens[j + 1].text == "(":
        return j + 1
    if (tokens[j].text == "React" and j + 3 < n and tokens[j + 1].text == "."
            and tokens[j + 2].text in _WRAPPERS and tokens[j + 3].text == "("):
        return j + 3
    return None


def _arrow(tokens: list[Token], k: int, j: int) -> Component | None:
    n = len(tokens)
    if tokens[j].text == "<":  # generic arrow: <T,>(props: P<T>) => ...
        j = next((x for x in range(j, n) if tokens[x].text == ">"), n - 1) + 1
    if j < n and tokens[j].text == "(":
        close = closing(tokens, j)
        if close is None:
            return None
        params = (j + 1, close)
        arrow = next((x for x in range(close + 1, min(n, close + 60)) if tokens[x].text == "=>"), None)
        if arrow is None or (close + 1 < n and tokens[close + 1].text not in ("=>", ":")):
            return None
    elif j + 1 < n and tokens[j].kind == "name" and tokens[j + 1].text == "=>":
        params, arrow = (j, j + 1), j + 1
    else:
        return None
    body_start = arrow + 1
    if body_start >= n:
        return None
    if tokens[body_start].text == "{":
        body_end = closing(tokens, body_start)
        if body_end is None:
            return None
        body_end += 1
    else:
        body_end = expression_end(tokens, body_start)
    return Component(None, "arrow", k, params, (body_start, body_end), body_end + _semicolon(tokens, body_end))


def expression_end(tokens: list[Token], lo: int) -> int:
    """One past the last token of the expression starting at `lo`: the first `;`, `,` or
    unmatched closing bracket at depth 0, or a new line that starts a statement."""
    depth = 0
    for j in range(lo, len(tokens)):
        text = tokens[j].text
        if text in "([{":
            depth += 1
        elif text in ")]}":
            if depth == 0:
                return j
            depth -= 1
        elif depth == 0 and text in (";", ","):
            return j
        elif (depth == 0 and j > lo and text in _STATEMENT_STARTS and tokens[j].line > tokens[j - 1].line):
            return j
    return len(tokens)


def _semicolon(tokens: list[Token], j: int) -> int:
    return int(j < len(tokens) and tokens[j].text == ";")
