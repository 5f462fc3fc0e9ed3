"""The hand tokenizer the props reader and the Framer export still walk (to be replaced by
source.py's tree)."""
from __future__ import annotations

import bisect
import re
from dataclasses import dataclass




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
