"""A component as a Framer code component: `to_framer(source) -> str`, a .tsx file to paste or drop
into a Framer project.

    >>> print(to_framer('export default ({ label = "Buy" }) => <button>{label}</button>', name="Buy"))
    import { addPropertyControls, ControlType } from "framer"
    <BLANKLINE>
    /**
     * @framerSupportedLayoutWidth any
     * @framerSupportedLayoutHeight any
     */
    export default function Buy({ label = "Buy" }) {
        return <button style={{ position: "relative" }}>{label}</button>
    }
    <BLANKLINE>
    addPropertyControls(Buy, {
        label: { type: ControlType.String, title: "Label", defaultValue: "Buy" },
    })
    <BLANKLINE>

What Framer asks of a code component, and how the source gets there:

- A named function, default-exported: `export default function Name(props)`. An arrow, a
  function expression, a name exported elsewhere (`export default Card`) or `memo(...)` around
  one is rewritten as that; an anonymous one takes `name` ("Component" without one). `name`
  given for a named component renames it (every identifier spelled `Old`: its declaration,
  `addPropertyControls(Old`, `Old.x`, `<Old/>`; never a property or JSX text).
- `addPropertyControls(Name, {...})` with a `ControlType` per prop (lfwb/preview/props.py) and its
  default. A block the source already has is kept as written.
- `@framerSupportedLayoutWidth any` / `@framerSupportedLayoutHeight any` in the JSDoc above it.
- `position: "relative"` in the root element's style (a fragment root becomes a `<div>`), so
  Framer can place the component's absolutely positioned children.
- `import { addPropertyControls, ControlType } from "framer"`, merged into an existing import.

Imports outside react, react-dom, framer and framer-motion are refused (`PreviewRefused`), as is a
class component. Every change is an edit at a node's byte range in the source's tree
(`source.parse`); the text between them is kept as written.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import BadInput, PreviewRefused
from ..pipelines.artifacts import MAX_NAME_BYTES, check_folder, too_long, write_all
from . import COMPONENT_KINDS
from .component import Component, find_component
from .props import PropSpec, controls_call, extract_props
from .source import Parsed, parse, validate_source

if TYPE_CHECKING:
    from tree_sitter import Node

    from ..store import Store

_CONTROL_TYPES = {"string": "String", "number": "Number", "boolean": "Boolean", "color": "Color", "enum": "Enum"}
_ANNOTATIONS = ("@framerSupportedLayoutWidth any", "@framerSupportedLayoutHeight any")
_IMPORTED = ("addPropertyControls", "ControlType")


def to_framer(source: str, name: str | None = None, *, what: str = "the component", unnamed: str = "Component") -> str:
    """`source` (JSX or TSX, its default export a function component) as a Framer code component.
    `name` renames it; an anonymous one without `name` is called `unnamed`."""
    validate_source(source, what)
    parsed = parse(source)
    component = find_component(parsed)
    if component is None:
        raise PreviewRefused(
            f"{what}'s default export is not a function component — write it as "
            "`export default function Name(props) { ... }`"
        )
    if component.kind == "class":
        raise PreviewRefused(
            f"{what} is a class component — Framer code components are functions; "
            "rewrite it as `export default function Name(props) { ... }`"
        )
    name = component_name(name) or component.name or component_name(unnamed) or "Component"
    parsed = parse(_as_named_function(parsed, component, name))
    component = find_component(parsed)
    assert component is not None  # it was just written as `export default function name`
    edits = _framer_import(parsed) + _annotations(parsed, component.statement) + _root_style(parsed, component)
    source = _apply(parsed, edits)
    if controls_call(parse(source), name) is None:
        source = source.rstrip("\n") + "\n\n" + property_controls(name, extract_props(source))
    return source


def export_framer(store: Store, artifact_id: int, path: str | os.PathLike, force: bool = False) -> dict:
    """Write artifact `artifact_id` as a Framer code component to `path`; returns {id, path,
    component, bytes}. A path outside the working folder, or a file already there, is refused
    (one line, nothing written) unless `force`."""
    row = store.get_artifact(artifact_id)
    if row["kind"] not in COMPONENT_KINDS:
        raise BadInput(f"artifact {artifact_id} is {row['kind']}, not a JSX/TSX component — nothing was written")
    target = Path(path).expanduser()
    if too_long(target.name):
        raise BadInput(f"the file name {target.name[:40]!r}… is over {MAX_NAME_BYTES} bytes — nothing was written")
    check_folder(target.parent)
    if not force and not target.resolve().is_relative_to(Path.cwd().resolve()):
        raise BadInput(f"{path} is outside the working folder {Path.cwd()} — add --force to write there")
    if target.is_dir():
        raise BadInput(f"{path} is a folder — give the file to write, e.g. {Path(path) / 'Component.tsx'}")
    if target.exists() and not force:
        raise BadInput(f"{path} already exists — add --force to replace it")
    what = row["filename"] or f"artifact {artifact_id}"
    text = to_framer(row["content"], what=what, unnamed=Path(row["filename"] or target.name).name)
    [written] = write_all([({"id": artifact_id, "content": text}, target)], target.parent)  # or nothing
    name = find_component(parse(text)).name  # type: ignore[union-attr]  # to_framer wrote one
    return {"id": artifact_id, "path": str(target), "component": name, "bytes": written["bytes"]}


def component_name(text: str | None) -> str | None:
    """A component name from a filename or a phrase: `pricing-card.tsx` → `PricingCard`."""
    if not text:
        return None
    stem = re.sub(r"\.(t|j)sx?$", "", text.rsplit("/", 1)[-1])
    words = re.findall(r"[A-Za-z0-9]+", stem)
    if not words:
        return None
    pascal = "".join(w[:1].upper() + w[1:] for w in words)
    return pascal if not pascal[0].isdigit() else "C" + pascal


def property_controls(name: str, props: list[PropSpec]) -> str:
    """An `addPropertyControls(name, {...})` block for `props`."""
    lines = [f"addPropertyControls({name}, {{"]
    for prop in props:
        fields = [f"type: ControlType.{_CONTROL_TYPES[prop.kind]}", f"title: {json.dumps(prop.title or prop.name)}"]
        if prop.kind == "enum":
            fields.append(f"options: {json.dumps(prop.options or [])}")
        if prop.default is not None:
            fields.append(f"defaultValue: {json.dumps(prop.default)}")
        if prop.kind == "number":
            fields += [f"{k}: {json.dumps(v)}" for k, v in _number_range(prop).items()]
        key = prop.name if re.fullmatch(r"[A-Za-z_$][\w$]*", prop.name) else json.dumps(prop.name)
        lines.append(f"    {key}: {{ {', '.join(fields)} }},")
    lines.append("})")
    return "\n".join(lines) + "\n"


def _number_range(prop: PropSpec) -> dict:
    # Framer's number control runs 0..100 in steps of 1 unless told: a default outside that, or
    # with a fraction, would be clamped or rounded the moment someone touches the control.
    found = {"min": prop.min, "max": prop.max, "step": prop.step}
    value = prop.default
    if isinstance(value, (int, float)):
        if found["min"] is None and value < 0:
            found["min"] = value * 2
        if found["max"] is None and value > 100:
            found["max"] = value * 2
        if found["step"] is None and value != int(value):
            found["step"] = 0.1
    return {k: int(v) if v == int(v) else v for k, v in found.items() if v is not None}


Edit = tuple[int, int, str]  # (start byte, end byte, new text)


def _apply(parsed: Parsed, edits: list[Edit], lo: int = 0, hi: int | None = None) -> str:
    """The source's bytes [lo, hi) with each edit made; an edit inside one that replaces more (a
    rename inside a removed statement) is dropped. Inserts at one place keep their order."""
    kept: list[Edit] = []
    reach = lo
    for edit in sorted(edits, key=lambda e: e[0]):
        if edit[0] >= reach or not kept:
            kept.append(edit)
            reach = max(reach, edit[1])
    data = parsed.data[lo:hi]
    for start, end, text in reversed(kept):
        data = data[: start - lo] + text.encode("utf-8", "surrogatepass") + data[end - lo :]
    return data.decode("utf-8", "surrogatepass")


# -- the shape: export default function Name(...) { ... } ------------------------------------


def _as_named_function(parsed: Parsed, component: Component, name: str) -> str:
    edits = (
        [(n.start_byte, n.end_byte, name) for n in parsed.identifiers(component.name)]
        if component.name and component.name != name
        else []
    )
    node, statement = component.node, component.statement
    if (
        component.kind == "function"
        and component.wrapper is None
        and (component.exported_inline or node.type.endswith("function_declaration"))
    ):
        if node.child_by_field_name("name") is None and component.params is not None:  # export default function () {}
            keyword = next(c for c in node.children if c.type == "function")
            edits.append((keyword.end_byte, component.params.start_byte, f" {name}"))
        if not component.exported_inline:
            first = statement.children[0]
            if first.type == "export":  # export function Name
                edits.append((first.start_byte, first.end_byte, "export default"))
            else:
                edits.append((statement.start_byte, statement.start_byte, "export default "))
            edits.append(_removal(parsed, component))
        return _apply(parsed, edits)
    # Everything else is written out again as a function declaration with the same text inside.
    returns = node.child_by_field_name("return_type")
    body = component.body
    inside = [e for e in edits if body.start_byte <= e[0] < body.end_byte]
    text = _apply(parsed, inside, body.start_byte, body.end_byte)
    if body.type != "statement_block":
        templates = [t for t in parsed.found["template_string"] if body.start_byte <= t.start_byte < body.end_byte]
        if not any("\n" in parsed.text(t) for t in templates):  # a template's lines would change
            text = text.replace("\n", "\n    ").replace("\n    \n", "\n\n")
        text = "{\n    return " + text + "\n}"
    declared = f"export default function {name}({_params(parsed, component)}){parsed.text(returns)} {text}"
    outside = [e for e in edits if not statement.start_byte <= e[0] < statement.end_byte]
    outside.append((statement.start_byte, statement.end_byte, declared))
    if not component.exported_inline:
        outside.append(_removal(parsed, component))
    return _apply(parsed, outside)


def _params(parsed: Parsed, component: Component) -> str:
    """The parameters as written, the first one annotated with `FC<Props>`'s type if it is not."""
    params = component.params
    if params is None:
        return ""
    if params.type != "formal_parameters":  # an arrow's lone `props`
        first, last = params, params
    elif not params.named_children:
        return ""
    else:
        first, last = params.named_children[0], params.named_children[-1]
    text = parsed.data[first.start_byte : last.end_byte].decode("utf-8", "surrogatepass")
    if component.props_type is None or first.child_by_field_name("type") is not None:
        return text
    head = parsed.text(first)
    return head + ": " + parsed.text(component.props_type) + text[len(head) :]


def _removal(parsed: Parsed, component: Component) -> Edit:
    """An edit that removes the separate `export default Name` (or `export { Name as default }`)."""
    if component.export is None:
        raise PreviewRefused(
            "the component is exported with other names in one `export { ... }` — "
            "export it alone with `export default Name`"
        )
    data, start, end = parsed.data, component.export.start_byte, component.export.end_byte
    end += data[end : end + 1] == b"\n"
    if data[start - 2 : start] == b"\n\n" and data[end : end + 1] in (b"\n", b""):
        start -= 1  # the blank line it stood between goes with it
    return start, end, ""


# -- the root element's position ------------------------------------------------------------


def _root_style(parsed: Parsed, component: Component) -> list[Edit]:
    """`position: "relative"` in the style of the element the body's last `return` gives."""
    returns = [s for s in component.body.named_children if s.type == "return_statement"]
    root = returns[-1].named_children[0] if returns and returns[-1].named_children else None
    while root is not None and root.type == "parenthesized_expression" and root.named_children:
        root = root.named_children[0]
    if root is None or root.type not in ("jsx_element", "jsx_self_closing_element"):
        return []
    opening = root.child_by_field_name("open_tag") if root.type == "jsx_element" else root
    tag = opening.child_by_field_name("name") if opening is not None else None
    if opening is None or tag is None:  # a fragment: <>...</> becomes a positioned <div>
        closing = root.child_by_field_name("close_tag")
        if opening is None or closing is None:
            return []
        return [
            (opening.start_byte, opening.end_byte, '<div style={{ position: "relative" }}>'),
            (closing.start_byte, closing.end_byte, "</div>"),
        ]
    for attribute in opening.children_by_field_name("attribute"):
        if attribute.type == "jsx_attribute" and parsed.text(attribute.named_children[0]) == "style":
            value = attribute.named_children[-1]
            return _positioned(parsed, value) if value.type == "jsx_expression" else []
    return [(tag.end_byte, tag.end_byte, ' style={{ position: "relative" }}')]


def _positioned(parsed: Parsed, expression: Node) -> list[Edit]:
    """`style={{...}}` gains `position: "relative"` unless it sets a position; `style={x}`
    becomes `style={{ position: "relative", ...x }}`."""
    value = expression.named_children[0] if expression.named_children else None
    if value is None:
        return []
    if value.type == "object":
        keys = [parsed.text(p.child_by_field_name("key") or p) for p in value.named_children]
        if "position" in keys:
            return []
        if not value.named_children:
            return [(value.start_byte, value.end_byte, '{ position: "relative" }')]
        first = value.named_children[0].start_byte
        return [(first, first, 'position: "relative", ')]
    return [
        (expression.start_byte, value.start_byte, '{{ position: "relative", ...'),
        (value.end_byte, expression.end_byte, " }}"),
    ]


# -- JSDoc, imports, controls -----------------------------------------------------------------


def _annotations(parsed: Parsed, statement: Node) -> list[Edit]:
    """Framer's layout annotations, added to the JSDoc just above the component or in a new one."""
    lines = "".join(f" * {a}\n" for a in _ANNOTATIONS)
    comment = statement.prev_sibling
    if (
        comment is None
        or comment.type != "comment"
        or not parsed.text(comment).startswith("/**")
        or parsed.data[comment.end_byte : statement.start_byte].strip()
    ):
        return [(statement.start_byte, statement.start_byte, "/**\n" + lines + " */\n")]
    text = parsed.text(comment)
    if _ANNOTATIONS[0] in text:
        return []
    if "\n" in text and text.splitlines()[-1].strip() == "*/":
        close_line = parsed.data.rfind(b"\n", comment.start_byte, comment.end_byte) + 1
        return [(close_line, close_line, lines)]
    inner = text[3:-2].strip().lstrip("*").strip()
    return [(comment.start_byte, comment.end_byte, "/**\n" + (f" * {inner}\n" if inner else "") + lines + " */")]


def _framer_import(parsed: Parsed) -> list[Edit]:
    """`addPropertyControls` and `ControlType` imported from "framer": merged into an import of it,
    else a new line after the last import."""
    last = None
    for statement in parsed.root.named_children:
        if statement.type != "import_statement" or statement.child_by_field_name("source") is None:
            continue
        last = statement
        clause = next((c for c in statement.named_children if c.type == "import_clause"), None)
        named = next((c for c in clause.named_children if c.type == "named_imports"), None) if clause else None
        if parsed.text(statement.child_by_field_name("source"))[1:-1] == "framer" and named is not None:
            names = [parsed.text(spec) for spec in named.named_children if spec.type == "import_specifier"]
            missing = [n for n in _IMPORTED if n not in names]
            if not missing:
                return []
            return [(named.start_byte, named.end_byte, "{ " + ", ".join(names + missing) + " }")]
    line = 'import { addPropertyControls, ControlType } from "framer"'
    if last is None:
        return [(0, 0, line + "\n\n")]
    return [(last.end_byte, last.end_byte, "\n" + line + (";" if parsed.text(last).endswith(";") else ""))]
