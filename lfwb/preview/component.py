"""Finding the default-exported component among a source's tokens (see `source.tokenize`).

    >>> from lfwb.preview.source import tokenize
    >>> find_component(tokenize("export default function Card({ title }) { return <b>{title}</b> }")).name
    'Card'

The props reader (`props.py`) and the Framer export (`framer.py`) both start here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .tokens import Token, closing, default_export


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
