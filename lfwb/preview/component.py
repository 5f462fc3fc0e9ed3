"""Finding the default-exported component in a source's tree (see `source.parse`).

    >>> from lfwb.preview.source import parse
    >>> find_component(parse("export default function Card({ title }) { return <b>{title}</b> }")).name
    'Card'

The props reader (`props.py`) and the Framer export (`framer.py`) both start here.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .source import Parsed, default_export

if TYPE_CHECKING:
    from tree_sitter import Node


@dataclass
class Component:
    """The default-exported component's nodes."""

    name: str | None
    kind: str  # "function" | "arrow" | "class"
    node: Node  # the function, arrow or class itself
    statement: Node  # the top-level statement that declares it (`export default ...`, `const X = ...;`)
    params: Node | None  # its formal_parameters, or an arrow's lone parameter
    body: Node  # a block, or an arrow's expression
    props_type: Node | None = None  # `Props` of `React.FC<Props>` / `Component<Props>`
    exported_inline: bool = True  # False: `export default Name;` sits elsewhere
    export: Node | None = None  # that statement (None: it shares an `export { ... }` with other names)
    wrapper: Node | None = None  # `memo(...)` / `forwardRef(...)` around it


_WRAPPERS = {"memo", "forwardRef", "React.memo", "React.forwardRef"}
_FUNCTIONS = {
    "function_declaration",
    "function_expression",
    "generator_function_declaration",
    "generator_function",
    "arrow_function",
}


def find_component(parsed: Parsed) -> Component | None:
    """The default-exported component: `export default function`, an arrow, a name declared
    elsewhere (`const X = ...`, `function X`), `memo(...)`/`forwardRef(...)` around either, or a
    class. None when there is no default export or it is not one of these."""
    exported = default_export(parsed)
    if exported is None:
        return None
    statement = top_statement(exported)
    if exported.parent is not None and exported.parent.type == "export_specifier":  # export { X as default }
        found = _declared(parsed, parsed.text(exported))
        if found is not None:
            found.exported_inline = False
            clause = exported.parent.parent
            found.export = statement if clause is not None and clause.named_child_count == 1 else None
        return found
    found = _function(parsed, exported, statement)
    if found is not None:
        return found
    named = _wrapped(parsed, exported) or exported  # export default memo(Name)
    if named.type != "identifier":
        return None
    found = _declared(parsed, parsed.text(named))
    if found is not None:
        found.exported_inline = False
        found.export = statement
    return found


def top_statement(node: Node) -> Node:
    """The statement at the top of the source that holds `node`."""
    while node.parent is not None and node.parent.type != "program":
        node = node.parent
    return node


def declarations(parsed: Parsed) -> Iterator[Node]:
    """The top-level statements, with `export`'s declaration in place of the export itself."""
    for statement in parsed.root.named_children:
        yield statement.child_by_field_name("declaration") or statement


def _declared(parsed: Parsed, name: str) -> Component | None:
    for declaration in declarations(parsed):
        if declaration.type in ("function_declaration", "generator_function_declaration", "class_declaration"):
            if parsed.text(declaration.child_by_field_name("name")) == name:
                return _function(parsed, declaration, top_statement(declaration))
        elif declaration.type in ("lexical_declaration", "variable_declaration"):
            for declarator in declaration.named_children:
                value = declarator.child_by_field_name("value")
                if parsed.text(declarator.child_by_field_name("name")) != name or value is None:
                    continue
                found = _function(parsed, value, top_statement(declaration))
                if found is not None:
                    found.name = found.name or name
                    found.props_type = found.props_type or type_argument(declarator.child_by_field_name("type"))
                return found
    return None


def type_argument(node: Node | None) -> Node | None:
    """The first type argument of `node`'s generic (`: React.FC<Props>` → `Props`)."""
    if node is not None and node.type == "type_annotation":
        node = node.named_children[0] if node.named_children else None
    arguments = node.child_by_field_name("type_arguments") if node is not None else None
    return arguments.named_children[0] if arguments is not None and arguments.named_children else None


def _function(parsed: Parsed, node: Node, statement: Node) -> Component | None:
    """The function, arrow or class `node` is (or `memo(...)` wraps), if it is one."""
    if node.type in _FUNCTIONS:
        params = node.child_by_field_name("parameters") or node.child_by_field_name("parameter")
        body = node.child_by_field_name("body")
        if body is None:
            return None
        kind = "arrow" if node.type == "arrow_function" else "function"
        name = node.child_by_field_name("name")
        return Component(parsed.text(name) if name else None, kind, node, statement, params, body)
    if node.type in ("class_declaration", "class"):
        name, body = node.child_by_field_name("name"), node.child_by_field_name("body")
        if body is None:
            return None
        heritage = next((c for c in node.named_children if c.type == "class_heritage"), None)
        extends = next((c for c in heritage.named_children if c.type == "extends_clause"), None) if heritage else None
        return Component(
            parsed.text(name) if name else None, "class", node, statement, None, body, props_type=type_argument(extends)
        )
    if node.type == "parenthesized_expression" and node.named_child_count == 1:
        return _function(parsed, node.named_children[0], statement)
    inner = _wrapped(parsed, node)
    if inner is not None:  # memo(function ...) / forwardRef((props, ref) => ...)
        found = _function(parsed, inner, statement)
        if found is not None:
            found.wrapper = node
        return found
    return None


def _wrapped(parsed: Parsed, node: Node) -> Node | None:
    """What `memo(X)`, `forwardRef(X)`, `React.memo(X)` wraps; None if `node` is not one."""
    if node.type != "call_expression" or parsed.text(node.child_by_field_name("function")) not in _WRAPPERS:
        return None
    arguments = node.child_by_field_name("arguments")
    return arguments.named_children[0] if arguments is not None and arguments.named_children else None
