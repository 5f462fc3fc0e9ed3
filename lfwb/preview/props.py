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
from typing import Any

from .component import Component, find_component
from .source import validate_source
from .tokens import Token, closing, split_top, texts, tokenize

__all__ = ["PropSpec", "extract_props", "validate_source"]

KINDS = ("string", "number", "boolean", "color", "enum")
_CONTROL_TYPES = {"String": "string", "Number": "number", "Boolean": "boolean", "Color": "color", "Enum": "enum"}
_COLOUR = re.compile(r"\s*(#(?:[\da-fA-F]{3,4}|[\da-fA-F]{6}|[\da-fA-F]{8})|(?:rgb|rgba|hsl|hsla)\(.*\))\s*")
_NOT_LITERAL = object()


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
    tokens = tokenize(source)
    component = find_component(tokens)
    name = component.name if component else None
    controls = _property_controls(tokens, name)
    defaults = _defaults(tokens, component) if component else {}
    if controls is not None:
        return [_finish(p, defaults.get(p.name)) for p in controls]
    kinds: dict[str, tuple[str | None, list | None]] = {}
    if component is not None:
        for prop_type in _type_ranges(tokens, component):
            kinds.update(_members(tokens, *prop_type))
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


def _type_ranges(tokens: list[Token], component: Component) -> list[tuple[int, int]]:
    """Token ranges of the props' type: the first parameter's annotation, else `FC<Props>`."""
    found = []
    first = _first_param(tokens, component)
    if first is not None:
        lo, hi = first
        start = closing(tokens, lo) + 1 if tokens[lo].text == "{" and closing(tokens, lo) else lo + 1
        if start < hi and tokens[start].text == "?":
            start += 1
        if start < hi and tokens[start].text == ":":
            end = next((j for j in range(start, hi) if tokens[j].text == "=" and _depth(tokens, start, j) == 0), hi)
            found.append((start + 1, end))
    if not found and component.props_type:
        found.append(component.props_type)
    return found


def _first_param(tokens: list[Token], component: Component) -> tuple[int, int] | None:
    if not component.params:
        return None
    parts = split_top(tokens, *component.params)
    return parts[0] if parts else None


def _depth(tokens: list[Token], lo: int, hi: int) -> int:
    depth = 0
    for t in tokens[lo:hi]:
        depth += (t.text in "([{<") - (t.text in ")]}>")
    return depth


def _members(tokens: list[Token], lo: int, hi: int, seen: frozenset = frozenset()) -> dict:
    """name → (kind or None, options) for the type in tokens[lo:hi]."""
    found: dict = {}
    for a, b in split_top(tokens, lo, hi, seps=("&",), angles=True):
        if tokens[a].text == "{":
            end = closing(tokens, a)
            if end is not None:
                found.update(_literal_members(tokens, a + 1, end))
            continue
        words = texts(tokens, a, b)
        if "<" in words:  # Partial<Props>, React.PropsWithChildren<Props>
            inner = (a + words.index("<") + 1, b - (words[-1] == ">"))
            found.update(_members(tokens, *inner, seen))
            continue
        name = words[-1]
        if tokens[b - 1].kind == "name" and name not in seen:
            found.update(_named_type(tokens, name, seen | {name}))
    return found


def _named_type(tokens: list[Token], name: str, seen: frozenset) -> dict:
    for i in range(len(tokens) - 2):
        if tokens[i + 1].text != name:
            continue
        if tokens[i].text == "interface":
            brace = next((j for j in range(i, len(tokens)) if tokens[j].text == "{"), None)
            end = closing(tokens, brace) if brace is not None else None
            if end is None:
                return {}
            found: dict = {}
            if tokens[i + 2].text == "extends":
                for part in split_top(tokens, i + 3, brace, angles=True):
                    found.update(_members(tokens, *part, seen))
            found.update(_literal_members(tokens, brace + 1, end))
            return found
        if tokens[i].text == "type" and tokens[i + 2].text in ("=", "<"):
            alias = _alias(tokens, name)
            return _members(tokens, *alias, seen) if alias else {}
    return {}


def _alias(tokens: list[Token], name: str) -> tuple[int, int] | None:
    """The range of what `type name = ...` stands for; None if no such alias."""
    for i in range(len(tokens) - 2):
        if tokens[i].text == "type" and tokens[i + 1].text == name and tokens[i + 2].text in ("=", "<"):
            eq = next((j for j in range(i + 2, len(tokens)) if tokens[j].text == "="), None)
            return (eq + 1, _type_end(tokens, eq + 1)) if eq is not None else None
    return None


def _type_end(tokens: list[Token], lo: int) -> int:
    """One past a `type X = ...` alias's last token: a `;`, or a new statement on a new line."""
    depth = 0
    for j in range(lo, len(tokens)):
        text = tokens[j].text
        depth += (text in "([{<") - (text in ")]}>")
        if depth == 0 and text == ";":
            return j
        if (depth == 0 and j > lo and tokens[j].line > tokens[j - 1].line
                and tokens[j - 1].text not in ("|", "&", "=", "=>", ":")
                and text not in ("|", "&", "{", "(")):
            return j
    return len(tokens)


def _literal_members(tokens: list[Token], lo: int, hi: int) -> dict:
    """The members of an object type's body tokens[lo:hi]: `name?: type` separated by `;`,
    `,` or a new line."""
    found, j = {}, lo
    while j < hi:
        if tokens[j].text in (";", ",", "readonly"):
            j += 1
            continue
        key = tokens[j]
        j += 1
        if j < hi and tokens[j].text == "?":
            j += 1
        if key.kind not in ("name", "string") or j >= hi or tokens[j].text != ":":
            j = _member_end(tokens, j, hi)  # a method, an index signature: no control
            continue
        end = _member_end(tokens, j + 1, hi)
        found[key.text.strip("'\"") if key.kind == "string" else key.text] = _kind_of_type(tokens, j + 1, end)
        j = end
    return found


def _member_end(tokens: list[Token], j: int, hi: int) -> int:
    depth, lo = 0, j
    while j < hi:
        text = tokens[j].text
        if depth == 0 and (text in (";", ",") or (
            j > lo and tokens[j].line > tokens[j - 1].line
            and tokens[j - 1].text not in ("|", "&", ":", "=>", "(", "<", ",")
            and text not in ("|", "&", "=>", ")", ">", "]", "}", "[", ".")
        )):
            return j
        depth += (text in "([{<") - (text in ")]}>")
        j += 1
    return hi


def _kind_of_type(tokens: list[Token], lo: int, hi: int, aliases: int = 3) -> tuple[str | None, list | None]:
    if hi == lo + 1 and tokens[lo].kind == "name" and aliases:  # type Plan = "starter" | "pro"
        alias = _alias(tokens, tokens[lo].text)
        if alias is not None:
            return _kind_of_type(tokens, *alias, aliases - 1)
    parts = [texts(tokens, a, b) for a, b in split_top(tokens, lo, hi, seps=("|",), angles=True)]
    parts = [p for p in parts if p not in (["undefined"], ["null"])]
    if not parts:
        return None, None
    if all(len(p) == 1 for p in parts):
        words = [p[0] for p in parts]
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


def _defaults(tokens: list[Token], component: Component) -> dict[str, Any]:
    """Literal defaults from `Name.defaultProps = {...}` and the parameter's destructuring
    (which wins), in the order the destructuring names them."""
    defaults: dict[str, Any] = {}
    first = _first_param(tokens, component)
    if first is not None and tokens[first[0]].text == "{":
        end = closing(tokens, first[0])
        for a, b in split_top(tokens, first[0] + 1, end or first[0] + 1):
            if tokens[a].text == "..." or tokens[a].kind != "name":
                continue
            words = texts(tokens, a, b)
            eq = next((x for x in range(a, b) if tokens[x].text == "=" and _depth(tokens, a, x) == 0), None)
            if ":" in words[:2] and b > a + 2 and tokens[a + 2].text in ("{", "["):
                continue  # a nested pattern: `style: { color }` is not one prop
            value = _literal(tokens, eq + 1, b) if eq is not None else None
            defaults[tokens[a].text] = None if value is _NOT_LITERAL else value
    if component.name:
        for i in range(len(tokens) - 4):
            if (tokens[i].text == component.name and tokens[i + 1].text == "." and tokens[i + 2].text == "defaultProps"
                    and tokens[i + 3].text == "=" and tokens[i + 4].text == "{"):
                for key, value in _object(tokens, i + 4).items():
                    if defaults.get(key) is None and value is not _NOT_LITERAL:
                        defaults[key] = value
    return defaults


def _object(tokens: list[Token], brace: int) -> dict[str, Any]:
    """key → literal value (or `_NOT_LITERAL`, or a nested dict) for the object at `brace`."""
    end = closing(tokens, brace)
    found: dict[str, Any] = {}
    if end is None:
        return found
    for a, b in split_top(tokens, brace + 1, end):
        if b - a < 3 or tokens[a + 1].text != ":" or tokens[a].kind not in ("name", "string", "number"):
            continue
        key = _decode(tokens[a].text) if tokens[a].kind == "string" else tokens[a].text
        if tokens[a + 2].text == "{":
            found[key] = _object(tokens, a + 2)
        elif tokens[a + 2].text == "[":
            close = closing(tokens, a + 2) or a + 2
            found[key] = [_literal(tokens, x, y) for x, y in split_top(tokens, a + 3, close)]
        elif b - a == 5 and texts(tokens, a + 2, a + 4) == ["ControlType", "."]:
            found[key] = ("ControlType", tokens[a + 4].text)
        else:
            found[key] = _literal(tokens, a + 2, b)
    return found


def _literal(tokens: list[Token], lo: int, hi: int) -> Any:
    """The value of a literal (string, template without `${`, number, true/false/null, -n)."""
    sign = 1
    if hi - lo == 2 and tokens[lo].text in ("-", "+") and tokens[lo + 1].kind == "number":
        sign, lo = (-1 if tokens[lo].text == "-" else 1), lo + 1
    if hi - lo != 1:
        return _NOT_LITERAL
    t = tokens[lo]
    if t.kind == "string" or (t.kind == "template" and "${" not in t.text):
        return _decode(t.text)
    if t.kind == "number":
        text = t.text.replace("_", "").rstrip("n")
        try:
            value = int(text, 0) if re.fullmatch(r"0[xob][\da-f]+|\d+", text, re.I) else float(text)
        except ValueError:
            return _NOT_LITERAL
        return sign * value
    return {"true": True, "false": False, "null": None}.get(t.text, _NOT_LITERAL)


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


def _property_controls(tokens: list[Token], component_name: str | None) -> list[PropSpec] | None:
    """The controls of an `addPropertyControls(Name, {...})` block; None without one."""
    for i in range(len(tokens) - 4):
        if tokens[i].text != "addPropertyControls" or tokens[i + 1].text != "(":
            continue
        if component_name and tokens[i + 2].text != component_name:
            continue
        if tokens[i + 3].text != "," or tokens[i + 4].text != "{":
            continue
        props = []
        for key, control in _object(tokens, i + 4).items():
            if not isinstance(control, dict) or not isinstance(control.get("type"), tuple):
                continue
            kind = _CONTROL_TYPES.get(control["type"][1])
            if kind is None:
                continue
            options = control.get("options")
            default = control.get("defaultValue")
            props.append(PropSpec(
                key, kind,
                default=None if default is _NOT_LITERAL else default,
                options=[o for o in options if o is not _NOT_LITERAL] if kind == "enum" and isinstance(options, list) else None,
                min=_number(control.get("min")), max=_number(control.get("max")),
                step=_number(control.get("step")),
                title=control["title"] if isinstance(control.get("title"), str) else None,
            ))
        return props
    return None


def _number(value: Any) -> float | None:
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None
