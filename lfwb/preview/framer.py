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
  given for a named component renames it (its declaration, `addPropertyControls(Old`, `Old.x`).
- `addPropertyControls(Name, {...})` with a `ControlType` per prop (lfwb/preview/props.py) and its
  default. A block the source already has is kept as written.
- `@framerSupportedLayoutWidth any` / `@framerSupportedLayoutHeight any` in the JSDoc above it.
- `position: "relative"` in the root element's style (a fragment root becomes a `<div>`), so
  Framer can place the component's absolutely positioned children.
- `import { addPropertyControls, ControlType } from "framer"`, merged into an existing import.

Imports outside react, react-dom, framer and framer-motion are refused (`PreviewRefused`), as is a
class component.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from ..errors import BadInput, PreviewRefused
from ..pipelines.artifacts import MAX_NAME_BYTES, check_folder, too_long, write_all
from . import COMPONENT_KINDS
from .props import PropSpec, extract_props
from .component import Component, expression_end, find_component
from .source import validate_source
from .tokens import Token, closing, split_top, tokenize

_CONTROL_TYPES = {"string": "String", "number": "Number", "boolean": "Boolean", "color": "Color", "enum": "Enum"}
_ANNOTATIONS = ("@framerSupportedLayoutWidth any", "@framerSupportedLayoutHeight any")
_IMPORTED = ("addPropertyControls", "ControlType")


def to_framer(source: str, name: str | None = None, *, what: str = "the component", unnamed: str = "Component") -> str:
    """`source` (JSX or TSX, its default export a function component) as a Framer code component.
    `name` renames it; an anonymous one without `name` is called `unnamed`."""
    validate_source(source, what)
    tokens = tokenize(source)
    component = find_component(tokens)
    if component is None:
        raise PreviewRefused(f"{what}'s default export is not a function component — write it as "
                             "`export default function Name(props) { ... }`")
    if component.kind == "class":
        raise PreviewRefused(f"{what} is a class component — Framer code components are functions; "
                             "rewrite it as `export default function Name(props) { ... }`")
    name = component_name(name) or component.name or component_name(unnamed) or "Component"
    source = _as_named_function(source, tokens, component, name)
    tokens = tokenize(source)
    component = find_component(tokens)
    edits = _framer_import(source, tokens) + _annotations(source, tokens[component.start].start)
    edits += _root_style(tokens, component)
    source = _apply(source, edits)
    if not _has_controls(tokenize(source), name):
        source = source.rstrip("\n") + "\n\n" + property_controls(name, extract_props(source))
    return source


def export_framer(store, artifact_id: int, path: str | os.PathLike, force: bool = False) -> dict:
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
    name = find_component(tokenize(text)).name
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


def _apply(source: str, edits: list[tuple[int, int, str]]) -> str:
    """`source` with each (start, end, text) edit made; an edit inside one that replaces more
    (a rename inside a removed statement) is dropped. Inserts at one place keep their order."""
    kept, reach = [], 0
    for edit in sorted(edits, key=lambda e: e[0]):
        if edit[0] >= reach or not kept:
            kept.append(edit)
            reach = max(reach, edit[1])
    for start, end, text in reversed(kept):
        source = source[:start] + text + source[end:]
    return source


# -- the shape: export default function Name(...) { ... } ------------------------------------


def _as_named_function(source: str, tokens: list[Token], component: Component, name: str) -> str:
    edits = _renames(tokens, component, name)
    if component.kind == "function" and component.wrapper is None and (
        component.exported_inline or _declared_function(tokens, component)
    ):
        keyword = next(j for j in range(component.start, component.params[0]) if tokens[j].text == "function")
        named = tokens[keyword + 1].kind == "name"
        if not named:
            edits.append((tokens[keyword].end, tokens[keyword + 1].start, f" {name}"))
        if not component.exported_inline:
            first = tokens[component.start]
            edits.append((first.start, first.end if first.text == "export" else first.start,
                          "export default " if first.text != "export" else "export default"))
            edits.append(_removal(source, tokens, component))
        return _apply(source, edits)
    # Everything else is written out again as a function declaration with the same text inside.
    lo, hi = component.params
    params = source[tokens[lo].start:tokens[hi - 1].end] if hi > lo else ""
    if component.props_type and not _annotated(tokens, lo, hi):
        first_end = _first_param_end(tokens, lo, hi)
        a, b = component.props_type
        params = (source[tokens[lo].start:tokens[first_end - 1].end] + ": " + source[tokens[a].start:tokens[b - 1].end]
                  + source[tokens[first_end - 1].end:tokens[hi - 1].end])
    returns = _return_type(source, tokens, component)
    body_lo, body_hi = component.body
    body = source[tokens[body_lo].start:tokens[body_hi - 1].end]
    if tokens[body_lo].text != "{":
        multiline_template = any(t.kind == "template" and "\n" in t.text for t in tokens[body_lo:body_hi])
        if not multiline_template:  # indent its lines under the `return` (a template's would change)
            body = body.replace("\n", "\n    ").replace("\n    \n", "\n\n")
        body = "{\n    return " + body + "\n}"
    renamed = _apply(body, [(s - tokens[body_lo].start, e - tokens[body_lo].start, t)
                            for s, e, t in edits if tokens[body_lo].start <= s < tokens[body_hi - 1].end])
    text = f"export default function {name}({params}){returns} {renamed}"
    outside = [e for e in edits if not tokens[component.start].start <= e[0] < tokens[component.end - 1].end]
    outside.append((tokens[component.start].start, tokens[component.end - 1].end, text))
    if not component.exported_inline:
        outside.append(_removal(source, tokens, component))
    return _apply(source, outside)


def _declared_function(tokens: list[Token], component: Component) -> bool:
    return tokens[component.start].text in ("function", "export", "async")


def _removal(source: str, tokens: list[Token], component: Component) -> tuple[int, int, str]:
    """An edit that removes the separate `export default Name` (or `export { Name as default }`)."""
    if component.export is None:
        raise PreviewRefused("the component is exported with other names in one `export { ... }` — "
                             "export it alone with `export default Name`")
    lo, hi = component.export
    start, end = tokens[lo].start, tokens[hi - 1].end
    end += source[end:end + 1] == "\n"
    if source[start - 2:start] == "\n\n" and source[end:end + 1] in ("\n", ""):
        start -= 1  # the blank line it stood between goes with it
    return start, end, ""


def _annotated(tokens: list[Token], lo: int, hi: int) -> bool:
    end = _first_param_end(tokens, lo, hi)
    depth = 0
    for t in tokens[lo:end]:
        depth += (t.text in "([{") - (t.text in ")]}")
        if depth == 0 and t.text == ":":
            return True
    return False


def _first_param_end(tokens: list[Token], lo: int, hi: int) -> int:
    parts = split_top(tokens, lo, hi)
    return parts[0][1] if parts else hi


def _return_type(source: str, tokens: list[Token], component: Component) -> str:
    """`: JSX.Element` written between the parameters and the body, if any."""
    after = component.params[1] + (tokens[component.params[1]].text == ")")
    stop = component.body[0] - (component.kind == "arrow")
    if after < stop and tokens[after].text == ":":
        return source[tokens[after].start:tokens[stop - 1].end]
    return ""


def _renames(tokens: list[Token], component: Component, name: str) -> list[tuple[int, int, str]]:
    """Edits that rename the component where it is named as itself (not in JSX text)."""
    old = component.name
    if not old or old == name:
        return []
    edits = []
    for i, t in enumerate(tokens):
        if t.text != old or t.kind != "name" or (i and tokens[i - 1].text in (".", "?.")):
            continue
        before = tokens[i - 1].text if i else ""
        after = tokens[i + 1].text if i + 1 < len(tokens) else ""
        if before in ("function", "const", "let", "var", "default", "(") or after == ".":
            edits.append((t.start, t.end, name))
    return edits


# -- the root element's position ------------------------------------------------------------


def _root_style(tokens: list[Token], component: Component) -> list[tuple[int, int, str]]:
    root = _root_element(tokens, component)
    if root is None:
        return []
    lt, end = root
    if tokens[lt + 1].text == ">":  # a fragment: <>...</> becomes a positioned <div>
        closing_tag = next((j for j in range(end - 3, lt, -1)
                            if [t.text for t in tokens[j:j + 3]] == ["<", "/", ">"]), None)
        if closing_tag is None:
            return []
        return [(tokens[lt].start, tokens[lt + 1].end, '<div style={{ position: "relative" }}>'),
                (tokens[closing_tag].start, tokens[closing_tag + 2].end, "</div>")]
    j = lt + 1
    while j + 2 < end and tokens[j + 1].text == "." and tokens[j + 2].kind == "name":
        j += 2
    tag_end = j + 1
    depth = 0
    for k in range(tag_end, end):
        text = tokens[k].text
        if text in ("{", "("):
            depth += 1
        elif text in ("}", ")"):
            depth -= 1
        elif depth == 0 and text in (">", "/"):
            break
        elif depth == 0 and text == "style" and tokens[k + 1].text == "=" and tokens[k + 2].text == "{":
            return _positioned(tokens, k + 2)
    return [(tokens[tag_end - 1].end, tokens[tag_end - 1].end, ' style={{ position: "relative" }}')]


def _positioned(tokens: list[Token], brace: int) -> list[tuple[int, int, str]]:
    """`style={{...}}` gains `position: "relative"` unless it sets a position; `style={x}`
    becomes `style={{ position: "relative", ...x }}`."""
    end = closing(tokens, brace)
    if end is None:
        return []
    inner = brace + 1
    if tokens[inner].text == "{" and closing(tokens, inner) == end - 1:
        keys = [tokens[a].text for a, b in split_top(tokens, inner + 1, end - 1)]
        if "position" in keys:
            return []
        if end - 1 == inner + 1:
            return [(tokens[inner].start, tokens[end - 1].end, '{ position: "relative" }')]
        return [(tokens[inner + 1].start, tokens[inner + 1].start, 'position: "relative", ')]
    return [(tokens[brace].start, tokens[brace].end, '{{ position: "relative", ...'),
            (tokens[end].start, tokens[end].end, " }}")]


def _root_element(tokens: list[Token], component: Component) -> tuple[int, int] | None:
    """(index of the root JSX element's `<`, end of the returned expression): the last `return`
    at the top of the function's body."""
    lo, hi = component.body
    depth, found = 0, None
    for j in range(lo, hi):
        text = tokens[j].text
        depth += (text in "([{") - (text in ")]}")
        if depth == 1 and text == "return":
            found = j
    if found is None:
        return None
    j = found + 1
    while j < hi and tokens[j].text == "(":
        j += 1
    if j + 1 >= hi or tokens[j].text != "<" or tokens[j + 1].kind not in ("name",) and tokens[j + 1].text != ">":
        return None
    return j, expression_end(tokens, found + 1)


# -- JSDoc, imports, controls -----------------------------------------------------------------


def _annotations(source: str, at: int) -> list[tuple[int, int, str]]:
    if _ANNOTATIONS[0].split()[0] in source:
        return []
    lines = "".join(f" * {a}\n" for a in _ANNOTATIONS)
    before = source[:at].rstrip()
    opened = before.rfind("/**")
    if before.endswith("*/") and opened >= 0 and "*/" not in before[opened:-2]:
        comment = before[opened:]
        if "\n" in comment and comment.splitlines()[-1].strip() == "*/":
            close_line = before.rfind("\n") + 1
            return [(close_line, close_line, lines)]
        text = comment[3:-2].strip().lstrip("*").strip()
        return [(opened, len(before), "/**\n" + (f" * {text}\n" if text else "") + lines + " */")]
    return [(at, at, "/**\n" + lines + " */\n")]


def _framer_import(source: str, tokens: list[Token]) -> list[tuple[int, int, str]]:
    last_import_end, semicolon = None, False
    for i, t in enumerate(tokens):
        if t.text != "import" or (i and tokens[i - 1].text == ".") or i + 1 >= len(tokens) or tokens[i + 1].text == "(":
            continue
        j = next((x for x in range(i + 1, len(tokens)) if tokens[x].kind == "string"), None)
        if j is None:
            continue
        semicolon = j + 1 < len(tokens) and tokens[j + 1].text == ";"
        last_import_end = tokens[j + semicolon].end
        if tokens[j].text[1:-1] == "framer" and tokens[i + 1].text == "{":
            close = closing(tokens, i + 1)
            names = [source[tokens[a].start:tokens[b - 1].end] for a, b in split_top(tokens, i + 2, close)]
            missing = [n for n in _IMPORTED if n not in names]
            if not missing:
                return []
            return [(tokens[i + 1].start, tokens[close].end, "{ " + ", ".join(names + missing) + " }")]
    line = 'import { addPropertyControls, ControlType } from "framer"' + (";" if semicolon else "")
    if last_import_end is None:
        return [(0, 0, line + "\n\n")]
    return [(last_import_end, last_import_end, "\n" + line)]


def _has_controls(tokens: list[Token], name: str) -> bool:
    return any(t.text == "addPropertyControls" and tokens[i + 1].text == "(" and tokens[i + 2].text == name
               for i, t in enumerate(tokens[:-2]))
