"""A UI spec — a title, a few known parts, an accent colour — rendered as a React component.

    >>> spec = {"title": "Pro plan", "accent": "blue", "parts": [
    ...     {"kind": "price", "label": "$12 a month"}, {"kind": "button", "label": "Subscribe"}]}
    >>> source = render_component(spec)           # 'import { useState } from "react"; ...'
    >>> render_answer(json.dumps(spec))           # the same, as a ```jsx block named ProPlan.jsx

A model as small as the bundled SmolLM2 does not write a React component that runs, however it
is prompted; it can fill `SCHEMA` (a small bounded JSON schema) when decoding is constrained to
it. This module turns what it filled into JSX the same way every time, so every spec that
parses renders. The spec is a model's answer, hence untrusted: its labels only ever become JS
string literals (`{"..."}` in JSX, with `<`, `>` and `&` escaped), never code, and the
component's name keeps only letters and digits. A pipeline step with `render: ui-spec` is decoded
under `SCHEMA`, and its artifact is `render_answer` of its answer (`lfwb/pipelines/executor.py`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import PipelineError

# kind → what the part is, as the model reads it in the schema's description
KINDS = {
    "heading": "a heading",
    "text": "a line of text",
    "price": "a price, e.g. $12/month",
    "image": "an image placeholder",
    "button": "a button",
    "input": "a text field",
    "email": "an email field",
    "password": "a password field",
    "textarea": "a multi-line field",
    "checkbox": "a checkbox",
    "toggle": "an on/off switch",
    "list": "a list (items separated by commas)",
    "todo": "a to-do list the user adds items to",
    "counter": "a number with - and + buttons",
}
# Words a model writes for a kind without the schema's constraint (an answer from a model that
# ignores `json_schema`, e.g. a remote one without structured output).
ALIASES = {
    "title": "heading",
    "header": "heading",
    "paragraph": "text",
    "description": "text",
    "label": "text",
    "field": "input",
    "textbox": "input",
    "text-input": "input",
    "image-placeholder": "image",
    "picture": "image",
    "switch": "toggle",
    "cost": "price",
}
COLOURS = {
    "blue": "#2563eb",
    "green": "#16a34a",
    "red": "#dc2626",
    "purple": "#7c3aed",
    "orange": "#ea580c",
    "pink": "#db2777",
    "teal": "#0d9488",
    "gray": "#4b5563",
    "black": "#111827",
}
MAX_PARTS = 16  # after dropping unknown kinds and repeats (the schema allows 6)
MAX_ITEMS = 8  # in a list part
MAX_LABEL = 60

# Bounded everywhere (lengths, counts, enums): a small model fills an open array or string until
# its token limit runs out.
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "title": {"type": "string", "minLength": 1, "maxLength": 40},
        "parts": {
            "type": "array",
            "minItems": 1,
            "maxItems": 6,
            "items": {
                "type": "object",
                # The label first: a small model picks a far better kind for "Password" once it
                # has written it than it picks a kind and then a label to go with it.
                "properties": {
                    "label": {"type": "string", "minLength": 1, "maxLength": 40},
                    "kind": {"type": "string", "enum": list(KINDS)},
                },
                "required": ["label", "kind"],
                "additionalProperties": False,
            },
        },
        "accent": {"type": "string", "enum": list(COLOURS)},
    },
    "required": ["title", "parts", "accent"],
    "additionalProperties": False,
}


def read_spec(text: str) -> dict:
    """The spec in a model's answer (JSON, perhaps fenced or with words around it), checked and
    trimmed: unknown kinds dropped, labels cut to `MAX_LABEL`, repeated parts once, at most
    `MAX_PARTS`. `PipelineError` (one line) when there is no spec to render."""
    return check_spec(_json_object(text))


def check_spec(data: dict) -> dict:
    """A spec as data (a parsed answer), checked and trimmed as `read_spec` says."""
    title = _label(data.get("title"))
    parts: list[dict] = []
    raw = data.get("parts")
    for part in raw if isinstance(raw, list) else []:
        if not isinstance(part, dict):
            continue
        kind = str(part.get("kind") or "").strip().lower()
        kind = ALIASES.get(kind, kind)
        label = _label(part.get("label"))
        if kind in KINDS and (label or kind in ("todo", "counter")) and {"kind": kind, "label": label} not in parts:
            parts.append({"kind": kind, "label": label})
    if not title and not parts:
        raise PipelineError(
            f"the UI spec has no title and no part of a known kind ({', '.join(KINDS)}) — nothing to render"
        )
    accent = str(data.get("accent") or "").strip().lower()
    return {"title": title, "parts": parts[:MAX_PARTS], "accent": accent if accent in COLOURS else "blue"}


def _json_object(text: str) -> dict:
    start = (text or "").find("{")
    if start < 0:
        raise PipelineError("the UI spec is not JSON: the answer holds no '{'")
    try:
        data, _ = json.JSONDecoder().raw_decode(text, start)
    except json.JSONDecodeError as e:
        raise PipelineError(f"the UI spec is not JSON: {e.msg} at character {e.pos}") from None
    if not isinstance(data, dict):
        raise PipelineError(f"the UI spec is a JSON {type(data).__name__}, not an object")
    return data


def _label(value: Any) -> str:
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        return ""
    text = " ".join(str(value).split())  # newlines and tabs would only break the layout
    return text if len(text) <= MAX_LABEL else text[: MAX_LABEL - 1].rstrip() + "…"


def component_name(title: str) -> str:
    """`"pro plan — $12!"` → `ProPlan12`: letters and digits only, starting with a letter."""
    words = re.findall(r"[A-Za-z0-9]+", title)
    name = "".join(w[:1].upper() + w[1:] for w in words)[:40]
    if not name or not name[0].isalpha():
        name = "Component" + name
    return name


def js(text: str) -> str:
    """`text` as a JS string literal that is safe inside JSX and inside an HTML page."""
    literal = json.dumps(text, ensure_ascii=False)
    for char in "<>&\u2028\u2029":  # no </script>, no HTML entity, no line break in a string
        literal = literal.replace(char, f"\\u{ord(char):04x}")
    return literal


# -- rendering ----------------------------------------------------------------------------

BOX = (
    '{ fontFamily: "system-ui, sans-serif", maxWidth: 380, padding: 20, borderRadius: 12, '
    'border: "1px solid #e5e7eb", boxShadow: "0 1px 3px rgba(0,0,0,0.08)", display: "flex", '
    'flexDirection: "column", gap: 12 }'
)
FIELD = '{ display: "flex", flexDirection: "column", gap: 4, fontSize: 14, color: "#374151" }'
INPUT = '{ padding: "8px 10px", border: "1px solid #d1d5db", borderRadius: 6, fontSize: 14 }'


def render_component(spec: dict) -> str:
    """The JSX source of `spec` (as `read_spec` returns it): one function component, the
    default export, with state for what the user can change."""
    spec = check_spec(spec)
    name = component_name(spec["title"] or "Component")
    accent = COLOURS[spec["accent"]]
    body = []
    if spec["title"] and {"kind": "heading", "label": spec["title"]} not in spec["parts"]:
        body.append(_part({"kind": "heading", "label": spec["title"]}, "title"))
    body += [_part(part, f"p{i}") for i, part in enumerate(spec["parts"])]
    lines = [
        'import { useState } from "react";',
        "",
        f'const ACCENT_COLOUR = "{accent}";',  # an underscore: no component name clashes with it
        "",
        f"export default function {name}() {{",
        "  const [values, setValues] = useState({});",
        "  const [pressed, setPressed] = useState(null);",
        "  const set = (key, value) => setValues((old) => ({ ...old, [key]: value }));",
        "  return (",
        f"    <div style={{{BOX}}}>",
        *("      " + line for part in body for line in part),
        "      {pressed && <p style={{ margin: 0, color: ACCENT_COLOUR, fontSize: 14 }}>{pressed} ✓</p>}",
        "    </div>",
        "  );",
        "}",
        "",
    ]
    return "\n".join(lines)


def _part(part: dict, key: str) -> list[str]:
    """The JSX lines of one part; `key` names its slot in `values`."""
    kind, label = part["kind"], js(part["label"])
    value = f"values.{key}"
    if kind == "heading":
        return [f"<h2 style={{{{ margin: 0, fontSize: 22 }}}}>{{{label}}}</h2>"]
    if kind == "text":
        return [f'<p style={{{{ margin: 0, color: "#4b5563", lineHeight: 1.5 }}}}>{{{label}}}</p>']
    if kind == "price":
        return [f"<div style={{{{ fontSize: 30, fontWeight: 700, color: ACCENT_COLOUR }}}}>{{{label}}}</div>"]
    if kind == "image":
        return [
            f'<div role="img" aria-label={{{label}}} style={{{{ height: 140, borderRadius: 8, '
            f'background: "#f3f4f6", color: "#9ca3af", display: "grid", placeItems: "center" }}}}>'
            f"{{{label}}}</div>"
        ]
    if kind == "button":
        return [
            f'<button onClick={{() => setPressed({label})}} style={{{{ padding: "10px 16px", '
            f'border: 0, borderRadius: 8, background: ACCENT_COLOUR, color: "white", fontSize: 15, '
            f'cursor: "pointer" }}}}>{{{label}}}</button>'
        ]
    if kind in ("input", "email", "password", "textarea"):
        tag = "textarea rows={3}" if kind == "textarea" else f'input type="{"text" if kind == "input" else kind}"'
        return [
            f"<label style={{{FIELD}}}>",
            f"  {{{label}}}",
            f'  <{tag} value={{{value} ?? ""}} placeholder={{{label}}} style={{{INPUT}}}',
            f"    onChange={{(e) => set({js(key)}, e.target.value)}} />",
            "</label>",
        ]
    if kind == "checkbox":
        return [
            '<label style={{ display: "flex", gap: 8, alignItems: "center", fontSize: 14 }}>',
            f'  <input type="checkbox" checked={{!!{value}}} onChange={{(e) => set({js(key)}, e.target.checked)}} />',
            f"  {{{label}}}",
            "</label>",
        ]
    if kind == "toggle":
        return [
            '<label style={{ display: "flex", justifyContent: "space-between", alignItems: "center", fontSize: 14 }}>',
            f"  {{{label}}}",
            f'  <button role="switch" aria-checked={{!!{value}}} onClick={{() => set({js(key)}, !{value})}}',
            f'    style={{{{ width: 44, height: 24, borderRadius: 12, border: 0, cursor: "pointer", '
            f'background: {value} ? ACCENT_COLOUR : "#d1d5db", color: "white", fontSize: 11 }}}}>',
            f'    {{{value} ? "On" : "Off"}}',
            "  </button>",
            "</label>",
        ]
    if kind == "list":
        entries = [item.strip() for item in re.split(r"[,;]", part["label"]) if item.strip()][:MAX_ITEMS]
        return [
            "<ul style={{ margin: 0, paddingLeft: 20, lineHeight: 1.7 }}>",
            *(f"  <li>{{{js(item)}}}</li>" for item in entries),
            "</ul>",
        ]
    if kind == "todo":
        draft, items = js(key + "_draft"), f"({value} || [])"
        return [
            '<div style={{ display: "flex", gap: 8 }}>',
            f'  <input value={{values.{key}_draft ?? ""}} placeholder={{{js(part["label"] or "Add an item")}}}'
            f" style={{{{ ...{INPUT}, flex: 1 }}}}",
            f"    onChange={{(e) => set({draft}, e.target.value)}} />",
            f"  <button onClick={{() => {{ if (values.{key}_draft) {{ set({js(key)}, [...{items}, values.{key}_draft]); "
            f'set({draft}, ""); }} }}}}',
            '    style={{ padding: "8px 14px", border: 0, borderRadius: 6, background: ACCENT_COLOUR, color: "white" }}>Add</button>',
            "</div>",
            "<ul style={{ margin: 0, paddingLeft: 20, lineHeight: 1.7 }}>",
            f"  {{{items}.map((item, i) => <li key={{i}}>{{item}}</li>)}}",
            "</ul>",
        ]
    if kind == "counter":
        count = f"({value} || 0)"
        step = (
            'style={{ width: 32, height: 32, borderRadius: 6, border: "1px solid #d1d5db", '
            'background: "white", fontSize: 18, cursor: "pointer" }}'
        )
        return [
            '<div style={{ display: "flex", gap: 12, alignItems: "center" }}>',
            *([f"  <span style={{{{ flex: 1 }}}}>{{{label}}}</span>"] if part["label"] else []),
            f'  <button aria-label="decrease" onClick={{() => set({js(key)}, {count} - 1)}} {step}>−</button>',
            f'  <strong style={{{{ minWidth: 24, textAlign: "center", fontSize: 18 }}}}>{{{count}}}</strong>',
            f'  <button aria-label="increase" onClick={{() => set({js(key)}, {count} + 1)}} {step}>+</button>',
            "</div>",
        ]
    raise AssertionError(f"no JSX for part kind {kind!r}")  # read_spec keeps known kinds only


def render_answer(text: str) -> str:
    """A step's answer holding a spec → the answer a render step records: the component as one
    ```jsx block named after it (so it is kept as a jsx artifact)."""
    spec = read_spec(text)
    source = render_component(spec)
    return f'```jsx title="{component_name(spec["title"] or "Component")}.jsx"\n{source}```\n'


@dataclass(frozen=True)
class Renderer:
    """What a step's `render:` names: the schema its model fills, and how an answer becomes code."""

    schema: dict
    answer: Callable[[str], str]  # the step's answer → the text its artifacts are read from


RENDERERS = {"ui-spec": Renderer(SCHEMA, render_answer)}
