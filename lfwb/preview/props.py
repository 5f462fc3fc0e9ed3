"""A component's props, read from its source: what the preview's controls and a Framer export offer.

    >>> source = '''
    ... type Props = { label?: string; size?: "sm" | "md" | "lg"; accent?: string }
    ... export default function Button({ label = "Buy", size = "md", accent = "#0a84ff", count = 3 }: Props) {
    ...   return <button>{label}</button>
    ... }'''
    >>> [(p.name, p.kind, p.default) for p in extract_props(source)]
    [('label', 'string', 'Buy'), ('size', 'enum', 'md'), ('accent', 'color', '#0a84ff'), ('count', 'number', 3)]

Where props come from, strongest first:

1. An `addPropertyControls(Component, {...})` block, as Framer reads it: when there is one, it is
   the list of controls (`ControlType.String|Number|Boolean|Color|Enum`; its `defaultValue`,
   `title`, `options`, `min`, `max`, `step`). Other control types (images, arrays, ...) are left out.
2. The TypeScript type of the component's props: an inline `{...}`, or an `interface`/`type` by
   name (`extends`, `&`, `Partial<>`, `React.FC<Props>` followed). `string`, `number`,
   `boolean`, and unions of string literals (an enum); a function or object prop has no control.
3. Defaults in the parameter's destructuring (`{ label = "Hi" }`) or `Name.defaultProps`: they
   give a default, and a kind where no type does.

A string prop is a colour when its default looks like one (`#f00`, `rgb(...)`, `hsl(...)`) or
its name ends in "color"/"colour". A default that is not a literal (`items = []`) is no default.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import PreviewRefused
from .component import Component, declarations, find_component
from .source import Parsed, parse, validate_source

if TYPE_CHECKING:
    from tree_sitter import Node

__all__ = ["PropSpec", "extract_props", "validate_source"]

KINDS = ("string", "number", "boolean", "color", "enum")
_CONTROL_TYPES = {"String": "string", "Number": "number", "Boolean": "boolean", "Color": "color", "Enum": "enum"}
_COLOUR = re.compile(r"\s*(#(?:[\da-fA-F]{3,4}|[\da-fA-F]{6}|[\da-fA-F]{8})|(?:rgb|rgba|hsl|hsla)\(.*\))\s*")
_NOT_LITERAL = object()
_NESTED = ("object_pattern", "array_pattern")


@dataclass
class PropSpec:
    """One prop and the control that sets it."""

    name: str
    kind: str  # "string" | "number" | "boolean" | "color" | "enum"
    default: Any = None  # None: the source gives none
    options: list | None = None  # an enum's values
    min: float | None = None
    max: float | None = None
    step: float | None = None
    title: str | None = None  # what the control is labelled: "Background Color"

    @property
    def initial(self) -> Any:
        """The value a control starts at: the default, else the kind's blank value."""
        if self.default is not None:
            return self.default
        blank = {"string": "", "number": 0, "boolean": False, "color": "#000000"}
        return (self.options or [None])[0] if self.kind == "enum" else blank[self.kind]


def extract_props(source: str) -> list[PropSpec]:
    """The props of `source`'s default-exported component, in the order it declares them
    (see the module docstring). A component it cannot read has none: never an error."""
    try:
        parsed = parse(source)
    except PreviewRefused:  # not code a parser reads in time: nothing to offer
        return []
    component = find_component(parsed)
    controls = _property_controls(parsed, component.name if component else None)
    defaults = _defaults(parsed, component) if component else {}
    if controls is not None:
        return [_finish(p, defaults.get(p.name)) for p in controls]
    kinds: dict[str, tuple[str | None, list | None]] = {}
    prop_type = _props_type(component) if component else None
    if prop_type is not None:
        kinds = _members(parsed, prop_type)
    props = []
    for prop_name in dict.fromkeys([*kinds, *defaults]):
        kind, options = kinds.get(prop_name, (None, None))
        default = defaults.get(prop_name)
        kind = kind or _kind_of_value(default)
        if kind is None:
            continue
        if kind == "string" and (_looks_like_colour(default) or re.search(r"colou?r$", prop_name, re.I)):
            kind = "color"
        props.append(_finish(PropSpec(prop_name, kind, options=options), default))
    return props


def _finish(prop: PropSpec, default: Any) -> PropSpec:
    """`prop` with the source's default where its own is missing (and only one that fits its
    kind), and a title."""
    if prop.default is None:
        prop.default = default
    if not _fits(prop, prop.default):
        prop.default = None
    prop.title = prop.title or _title(prop.name)
    return prop


def _title(name: str) -> str:
    """`backgroundColor` → `Background Color`, `show_icon` → `Show Icon`."""
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name).replace("_", " ").split()
    return " ".join(w[:1].upper() + w[1:] for w in words) or name


def _fits(prop: PropSpec, value: Any) -> bool:
    if prop.kind == "enum":
        return value in (prop.options or [])
    if prop.kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, {"boolean": bool}.get(prop.kind, str))


def _kind_of_value(value: Any) -> str | None:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "color" if _looks_like_colour(value) else "string"
    return None


def _looks_like_colour(value: Any) -> bool:
    return isinstance(value, str) and _COLOUR.fullmatch(value) is not None


# -- types ----------------------------------------------------------------------------------


def _first_param(component: Component) -> Node | None:
    params = component.params
    if params is None or params.type != "formal_parameters":
        return None  # none, or an arrow's lone `props`
    return next((p for p in params.named_children if p.type != "comment"), None)


def _props_type(component: Component) -> Node | None:
    """The props' type: the first parameter's annotation, else `FC<Props>`'s."""
    first = _first_param(component)
    annotation = first.child_by_field_name("type") if first is not None else None
    if annotation is not None and annotation.named_children:
        return annotation.named_children[0]
    return component.props_type


def _members(parsed: Parsed, node: Node, seen: frozenset = frozenset()) -> dict:
    """name → (kind or None, options) for the object type `node` stands for."""
    found: dict = {}
    if node.type in ("object_type", "interface_body"):
        for member in node.named_children:
            name, annotation = member.child_by_field_name("name"), member.child_by_field_name("type")
            if member.type != "property_signature" or name is None or annotation is None:
                continue  # a method, an index signature: no control
            key = _decode(parsed.text(name)) if name.type == "string" else parsed.text(name)
            found[key] = _kind_of_type(parsed, annotation.named_children[0])
    elif node.type in ("intersection_type", "parenthesized_type"):
        for part in node.named_children:
            found.update(_members(parsed, part, seen))
    elif node.type == "generic_type":  # Partial<Props>, React.PropsWithChildren<Props>
        arguments = node.child_by_field_name("type_arguments")
        for part in arguments.named_children if arguments is not None else ():
            found.update(_members(parsed, part, seen))
    elif node.type in ("type_identifier", "nested_type_identifier"):
        named = parsed.text(node.child_by_field_name("name") or node)
        if named not in seen:
            found.update(_named_type(parsed, named, seen | {named}))
    return found


def _named_type(parsed: Parsed, name: str, seen: frozenset) -> dict:
    """The members of `interface name` (with what it extends) or `type name = ...`."""
    for declaration in declarations(parsed):
        if parsed.text(declaration.child_by_field_name("name")) != name:
            continue
        if declaration.type == "interface_declaration":
            found: dict = {}
            for clause in (c for c in declaration.named_children if c.type == "extends_type_clause"):
                for base in clause.named_children:
                    found.update(_members(parsed, base, seen))
            body = declaration.child_by_field_name("body")
            return {**found, **(_members(parsed, body, seen) if body is not None else {})}
        if declaration.type == "type_alias_declaration":
            value = declaration.child_by_field_name("value")
            return _members(parsed, value, seen) if value is not None else {}
    return {}


def _alias(parsed: Parsed, name: str) -> Node | None:
    """What `type name = ...` stands for; None if no such alias."""
    for declaration in declarations(parsed):
        if (
            declaration.type == "type_alias_declaration"
            and parsed.text(declaration.child_by_field_name("name")) == name
        ):
            return declaration.child_by_field_name("value")
    return None


def _union(node: Node) -> list[Node]:
    """The members of a union type (a left-deep chain of `union_type`s), in order."""
    parts, pending = [], [node]
    while pending:
        part = pending.pop()
        if part.type == "parenthesized_type" and part.named_children:
            part = part.named_children[0]
        if part.type == "union_type":
            pending.extend(reversed(part.named_children))
        else:
            parts.append(part)
    return parts


def _kind_of_type(parsed: Parsed, node: Node, aliases: int = 3) -> tuple[str | None, list | None]:
    if node.type == "type_identifier" and aliases:  # type Plan = "starter" | "pro"
        alias = _alias(parsed, parsed.text(node))
        if alias is not None:
            return _kind_of_type(parsed, alias, aliases - 1)
    parts = [p for p in _union(node) if parsed.text(p) not in ("undefined", "null")]
    if not parts or any(p.type not in ("literal_type", "predefined_type") for p in parts):
        return None, None
    words = [parsed.text(p) for p in parts]
    if all(w[:1] in "'\"" for w in words):
        return "enum", [_decode(w) for w in words]
    if set(words) <= {"true", "false", "boolean"}:
        return "boolean", None
    if len(words) == 1 and words[0] in ("string", "number", "boolean"):
        return words[0], None
    if all(re.fullmatch(r"[\d.]+|number", w) for w in words):  # 1 | 2 | 3
        return "number", None
    return None, None


# -- defaults ---------------------------------------------------------------------------------


def _defaults(parsed: Parsed, component: Component) -> dict[str, Any]:
    """Literal defaults from `Name.defaultProps = {...}` and the parameter's destructuring
    (which wins), in the order the destructuring names them."""
    defaults: dict[str, Any] = {}
    first = _first_param(component)
    pattern = first.child_by_field_name("pattern") if first is not None else None
    for entry in pattern.named_children if pattern is not None and pattern.type == "object_pattern" else ():
        key: Node | None = entry
        value: Node | None = None
        if entry.type == "object_assignment_pattern":  # { label = "Hi" }
            key, value = entry.child_by_field_name("left"), entry.child_by_field_name("right")
        elif entry.type == "pair_pattern":  # { label: text = "Hi" }; `style: { color }` is not one prop
            key, target = entry.child_by_field_name("key"), entry.child_by_field_name("value")
            if target is not None and target.type == "assignment_pattern":
                value = target.child_by_field_name("right")
                target = target.child_by_field_name("left")
            if key is None or key.type != "property_identifier" or target is None or target.type in _NESTED:
                continue
        elif entry.type != "shorthand_property_identifier_pattern":
            continue  # ...rest
        literal = _literal(parsed, value) if value is not None else None
        defaults[parsed.text(key)] = None if literal is _NOT_LITERAL else literal
    for statement in parsed.root.named_children if component.name else ():
        assigned = (
            statement.named_children[0]
            if statement.type == "expression_statement" and statement.named_children
            else None
        )
        if assigned is None or assigned.type != "assignment_expression":
            continue
        left, right = assigned.child_by_field_name("left"), assigned.child_by_field_name("right")
        if (
            left is not None
            and right is not None
            and right.type == "object"
            and left.type == "member_expression"
            and parsed.text(left) == f"{component.name}.defaultProps"
        ):
            for prop, given in _object(parsed, right).items():
                if defaults.get(prop) is None and given is not _NOT_LITERAL:
                    defaults[prop] = given
    return defaults


def _object(parsed: Parsed, node: Node) -> dict[str, Any]:
    """key → literal value (or `_NOT_LITERAL`, or a nested dict) for the object `node`."""
    found: dict[str, Any] = {}
    for pair in node.named_children:
        key, value = pair.child_by_field_name("key"), pair.child_by_field_name("value")
        if (
            pair.type != "pair"
            or key is None
            or value is None
            or key.type not in ("property_identifier", "string", "number")
        ):
            continue
        name = _decode(parsed.text(key)) if key.type == "string" else parsed.text(key)
        if value.type == "object":
            found[name] = _object(parsed, value)
        elif value.type == "array":
            found[name] = [_literal(parsed, item) for item in value.named_children]
        elif value.type == "member_expression" and parsed.text(value.child_by_field_name("object")) == "ControlType":
            found[name] = ("ControlType", parsed.text(value.child_by_field_name("property")))
        else:
            found[name] = _literal(parsed, value)
    return found


def _literal(parsed: Parsed, node: Node) -> Any:
    """The value of a literal (string, template without `${`, number, true/false/null, -n)."""
    sign = 1
    if node.type == "unary_expression" and parsed.text(node.child_by_field_name("operator")) in ("-", "+"):
        sign = -1 if parsed.text(node.child_by_field_name("operator")) == "-" else 1
        node = node.child_by_field_name("argument") or node
        if node.type != "number":
            return _NOT_LITERAL
    text = parsed.text(node)
    if node.type == "string" or (
        node.type == "template_string" and all(c.type != "template_substitution" for c in node.named_children)
    ):
        return _decode(text)
    if node.type == "number":
        text = text.replace("_", "").rstrip("n")
        try:
            value = int(text, 0) if re.fullmatch(r"0[xob][\da-f]+|\d+", text, re.I) else float(text)
        except ValueError:
            return _NOT_LITERAL
        return sign * value
    return {"true": True, "false": False, "null": None}.get(node.type, _NOT_LITERAL)


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "v": "\v", "0": "\0", "\n": ""}


def _decode(text: str) -> str:
    """A JS string (or template) literal's value: `'It\\'s'` → `It's`."""

    def escape(m: re.Match) -> str:
        code = m.group(1)
        if code[0] in "ux" and len(code) > 1:
            return chr(int(code[1:].strip("{}"), 16))
        return _ESCAPES.get(code, code)

    return re.sub(r"\\(u\{[\da-fA-F]+\}|u[\da-fA-F]{4}|x[\da-fA-F]{2}|[\s\S])", escape, text[1:-1])


# -- addPropertyControls -----------------------------------------------------------------------


def _property_controls(parsed: Parsed, component_name: str | None) -> list[PropSpec] | None:
    """The controls of an `addPropertyControls(Name, {...})` block; None without one."""
    arguments = controls_call(parsed, component_name)
    if arguments is None:
        return None
    props = []
    for key, control in _object(parsed, arguments[1]).items():
        if not isinstance(control, dict) or not isinstance(control.get("type"), tuple):
            continue
        kind = _CONTROL_TYPES.get(control["type"][1])
        if kind is None:
            continue
        options = control.get("options")
        default = control.get("defaultValue")
        props.append(
            PropSpec(
                key,
                kind,
                default=None if default is _NOT_LITERAL else default,
                options=[o for o in options if o is not _NOT_LITERAL]
                if kind == "enum" and isinstance(options, list)
                else None,
                min=_number(control.get("min")),
                max=_number(control.get("max")),
                step=_number(control.get("step")),
                title=control["title"] if isinstance(control.get("title"), str) else None,
            )
        )
    return props


def controls_call(parsed: Parsed, component_name: str | None) -> list[Node] | None:
    """The arguments of the top-level `addPropertyControls(Name, {...})` call; None without one."""
    for statement in parsed.root.named_children:
        call = (
            statement.named_children[0]
            if statement.type == "expression_statement" and statement.named_children
            else None
        )
        if (
            call is None
            or call.type != "call_expression"
            or parsed.text(call.child_by_field_name("function")) != "addPropertyControls"
        ):
            continue
        arguments = call.child_by_field_name("arguments")
        found = [a for a in arguments.named_children if a.type != "comment"] if arguments is not None else []
        if (
            len(found) >= 2
            and found[1].type == "object"
            and (not component_name or parsed.text(found[0]) == component_name)
        ):
            return found
    return None


def _number(value: Any) -> float | None:
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None
