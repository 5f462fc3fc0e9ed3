"""Reading a component's JSX/TSX source with tree-sitter: its syntax, its imports, its default export.

    >>> validate_source('import React from "react"\\nexport default () => <b>hi</b>')   # passes
    >>> validate_source('export default () => <b>hi</i>')
    Traceback (most recent call last):
    lfwb.errors.PreviewRefused: the component does not parse (line 1, column 27): `<b>` from line 1 is closed by `</i>` — fix the code there

The component itself is found by `component.find_component`, over the same tree.

Both .jsx and .tsx are read with tree-sitter-typescript's TSX grammar, a superset of JSX as
components are written. tree-sitter is imported when a component is first read, so `%load_ext
lfwb` never pays for it; the grammar is loaded once per process and a parser kept per thread
(pipeline steps check components on threads of their own). Positions are byte offsets into the
UTF-8 source (`Parsed.data`); `Parsed.text(node)` reads a node back as text.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from ..errors import PreviewRefused, check_text

if TYPE_CHECKING:
    from tree_sitter import Node, Tree

# What the preview's runtime can `require` (the names and the entry points sucrase emits).
ALLOWED_IMPORTS = frozenset(
    {
        "react",
        "react-dom",
        "framer",
        "framer-motion",
        "react/jsx-runtime",
        "react/jsx-dev-runtime",
        "react-dom/client",
    }
)
MAX_SOURCE_BYTES = 200_000
# tree-sitter's error recovery can take minutes on long runs of what is not code (64 kB of random
# brackets); a component of 200 kB parses in well under 0.1 s.
PARSE_BUDGET_S = 2.0

# What the checks and the Framer export look for anywhere: calls that name a module
# (`require("x")`, `import("x")`, `import x = require("x")`), JSX elements (the grammar does not
# match a closing tag's name against its opening one), identifiers and template literals.
_SOUGHT = frozenset({"call_expression", "import_require_clause", "jsx_element", "identifier", "template_string"})
_loaded: dict = {}
_loading = threading.Lock()
_threads = threading.local()


@dataclass(frozen=True)
class Parsed:
    """A source and its syntax tree."""

    source: str
    data: bytes  # the source as UTF-8: what node positions count in
    tree: Tree

    @property
    def root(self) -> Node:
        return self.tree.root_node

    def text(self, node: Node | None) -> str:
        return "" if node is None else self.data[node.start_byte : node.end_byte].decode("utf-8", "surrogatepass")

    def line(self, node: Node) -> int:
        return node.start_point[0] + 1

    @cached_property
    def found(self) -> dict[str, list[Node]]:
        """The nodes of each type in `_SOUGHT`, in the source's order, from one walk of the tree.
        (A walk, not a tree-sitter query: a query's time grows with the square of the nesting,
        minutes for a few thousand nested elements; a walk's only with the source.)"""
        found: dict[str, list[Node]] = {kind: [] for kind in _SOUGHT}
        cursor = self.root.walk()
        while True:
            node = cursor.node
            if node is not None and node.type in _SOUGHT:
                found[node.type].append(node)
            if cursor.goto_first_child():
                continue
            while not cursor.goto_next_sibling():
                if not cursor.goto_parent():
                    return found

    def identifiers(self, name: str) -> list[Node]:
        """Every identifier spelled `name` (not a property, a type or JSX text), in order."""
        return [n for n in self.found["identifier"] if self.text(n) == name]

    def column(self, byte: int) -> int:
        """The 1-based column, in characters, of a byte offset."""
        start = self.data.rfind(b"\n", 0, byte) + 1
        return len(self.data[start:byte].decode("utf-8", "replace")) + 1


def parse(source: str, what: str = "the component") -> Parsed:
    """`source`'s syntax tree: a syntax error is an ERROR or MISSING node in it. `PreviewRefused`
    only when reading it takes over `PARSE_BUDGET_S`."""
    data = source.encode("utf-8", "surrogatepass")
    # A byte-order mark is no JS token; blanks of the same length keep every offset.
    text = b"   " + data[3:] if data.startswith(b"\xef\xbb\xbf") else data
    deadline = time.monotonic() + PARSE_BUDGET_S
    parser = _parser()
    try:
        tree = parser.parse(
            lambda at, _: text[at : at + 65536], progress_callback=lambda _, __: time.monotonic() > deadline
        )
    except ValueError:  # the progress callback stopped it
        parser.reset()
        raise PreviewRefused(
            f"{what} could not be read in {PARSE_BUDGET_S:.0f} s — it is mostly not "
            "JavaScript; check what was given as the component"
        ) from None
    return Parsed(source, data, tree)


def _language():
    """tree-sitter-typescript's TSX grammar, loaded once per process."""
    with _loading:
        if not _loaded:
            import tree_sitter
            import tree_sitter_typescript

            _loaded["tsx"] = tree_sitter.Language(tree_sitter_typescript.language_tsx())
    return _loaded["tsx"]


def _parser():
    parser = getattr(_threads, "parser", None)
    if parser is None:
        import tree_sitter

        parser = _threads.parser = tree_sitter.Parser(_language())
    return parser


# -- syntax -------------------------------------------------------------------------------------


def syntax_error(parsed: Parsed) -> tuple[int, int, str] | None:
    """(line, column, what is wrong) of the source's first syntax error; None when it parses."""
    for element in parsed.found["jsx_element"]:
        opened, closed = element.child_by_field_name("open_tag"), element.child_by_field_name("close_tag")
        if opened is None or closed is None:
            continue
        name, closing = (parsed.text(n.child_by_field_name("name")) for n in (opened, closed))
        if name != closing:
            return (
                parsed.line(closed),
                parsed.column(closed.start_byte),
                f"`<{name}>` from line {parsed.line(opened)} is closed by `</{closing}>`",
            )
    node = _first_error(parsed.root)
    if node is None:
        return None
    if node.is_missing:
        what = f"`{node.type}`" if not node.is_named else "a " + node.type.replace("_", " ")
        return parsed.line(node), parsed.column(node.start_byte), f"{what} is missing"
    end = len(parsed.data.rstrip())
    if node.end_byte >= end:  # cut off: the error runs to the end
        line, unclosed = parsed.data.count(b"\n", 0, end) + 1, _last_unclosed(parsed, node)
        return (
            line,
            parsed.column(end),
            f"it ends before {unclosed or 'the code'} is {'closed' if unclosed else 'complete'}",
        )
    first = node.children[0] if node.children else node
    if node.parent is not None and node.parent.type == "jsx_element" and first.type in _IN_TEXT:
        return (
            parsed.line(first),
            parsed.column(first.start_byte),
            f"`{first.type}` cannot stand in JSX text: write {_IN_TEXT[first.type]}",
        )
    snippet = parsed.text(node).split("\n", 1)[0].strip()
    snippet = snippet if len(snippet) <= 40 else snippet[:40] + "…"
    return parsed.line(node), parsed.column(node.start_byte), f"unexpected `{snippet}`"


def _first_error(root: Node) -> Node | None:
    """The first ERROR or MISSING node, found down the children that hold one."""
    node: Node | None = root
    while node is not None and node.has_error and not (node.is_error or node.is_missing):
        node = next((c for c in node.children if c.has_error or c.is_missing), None)
    return node if node is not None and (node.is_error or node.is_missing) else None


# What JSX text may not hold as it is (sucrase lets them pass; TypeScript, Babel and esbuild do not).
_IN_TEXT = {">": "{'>'} or &gt;", "}": "{'}'} or &rbrace;"}
_PAIRS = {"(": ")", "[": "]", "{": "}", "${": "}", "jsx_opening_element": "jsx_closing_element"}


def _last_unclosed(parsed: Parsed, error: Node) -> str | None:
    """What the ERROR node leaves open last among its loose tokens (a complete child is
    balanced): "`{` from line 5", "`<ul>` from line 7"."""
    opened: list[Node] = []
    for child in error.children:
        if child.type in _PAIRS:
            opened.append(child)
        elif opened and child.type == _PAIRS[opened[-1].type]:
            opened.pop()
    if not opened:
        return None
    last = opened[-1]
    shown = f"<{parsed.text(last.child_by_field_name('name'))}>" if last.type == "jsx_opening_element" else last.type
    return f"`{shown}` from line {parsed.line(last)}"


# -- imports and the default export -------------------------------------------------------------


def imports(parsed: Parsed) -> list[tuple[str, int]]:
    """(module, line) for each `import ... from`, `import "x"`, `export ... from`, `import("x")`,
    `require("x")` and `import x = require("x")`, in the source's order."""
    found = []
    for statement in parsed.root.named_children:
        source = statement.child_by_field_name("source")
        if statement.type in ("import_statement", "export_statement") and source is not None:
            found.append((parsed.text(source)[1:-1], parsed.line(statement)))
    modules = [c.child_by_field_name("source") for c in parsed.found["import_require_clause"]]
    for call in parsed.found["call_expression"]:
        arguments = call.child_by_field_name("arguments")
        if parsed.text(call.child_by_field_name("function")) in ("import", "require") and arguments is not None:
            modules.append(arguments.named_children[0] if arguments.named_children else None)
    for module in modules:
        if (
            module is not None
            and module.type in ("string", "template_string")
            and not any(c.type == "template_substitution" for c in module.named_children)
        ):  # no ${}
            found.append((parsed.text(module)[1:-1], parsed.line(module)))
    return sorted(dict.fromkeys(found), key=lambda f: f[1])


def default_export(parsed: Parsed) -> Node | None:
    """What `export default` exports (a declaration or an expression), or the name in `export {
    X as default }`; None without one."""
    for statement in parsed.root.named_children:
        if statement.type != "export_statement":
            continue
        if any(c.type == "default" for c in statement.children):
            return statement.child_by_field_name("declaration") or statement.child_by_field_name("value")
        for clause in (c for c in statement.named_children if c.type == "export_clause"):
            for spec in clause.named_children:
                if parsed.text(spec.child_by_field_name("alias")) == "default":
                    return spec.child_by_field_name("name")
    return None


def validate_source(source: str, what: str = "the component") -> None:
    """Refuse (`PreviewRefused`, one line) what a preview or an export must never take: a source
    over 200 kB, one that does not parse (with the line and column), an import other than react,
    react-dom, framer and framer-motion, no default export. `what` names the source in the
    message (e.g. its filename)."""
    check_text(source, what, PreviewRefused)  # a lone surrogate would fail in the frame's page
    size = len(source.encode("utf-8", "surrogatepass"))
    if size > MAX_SOURCE_BYTES:
        raise PreviewRefused(
            f"{what} is {size / 1000:.0f} kB — a component may be at most {MAX_SOURCE_BYTES // 1000} kB; "
            "split it into smaller components"
        )
    parsed = parse(source, what)
    error = syntax_error(parsed)
    if error is not None:
        line, column, wrong = error
        raise PreviewRefused(f"{what} does not parse (line {line}, column {column}): {wrong} — fix the code there")
    for module, line in imports(parsed):
        if module not in ALLOWED_IMPORTS:
            raise PreviewRefused(
                f"{what} imports {module!r} (line {line}) — only react, react-dom, framer and "
                f"framer-motion can be imported; inline what it needs from {module!r}"
            )
    if default_export(parsed) is None:
        raise PreviewRefused(f"{what} has no default export — add `export default function Name(props) {{ ... }}`")
