"""Prompt templates: `{name}` fields, the `{{ }}` escape, and braces that name nothing left alone.

`%%lfw generate` fills names from the notebook:

    >>> fill_template("Hi {who}, {{who}} {missing} {x: 1}", {"who": "Ada"})
    'Hi Ada, {who} {missing} {x: 1}'

A pipeline step's prompt knows more fields: `{input}`, `{steps.NAME.output}`,
`{steps.NAME.artifacts.KIND}` (the code of one kind a step produced, e.g. `jsx`),
`{steps.NAME.data.FIELD}` (a field of a `schema:` step's parsed answer; `.data` alone is all of
it), `{context:NAME}` (a project context) and names from the notebook:

    >>> [f.kind for f in template_fields("{input} {steps.a.output} {steps.a.data.parts} {context:style} {{input}} {x}")]
    ['input', 'output', 'data', 'context', 'name']
    >>> fill_pipeline_template("{steps.a.output} {props.title}", {"steps.a.output": "<A/>"})
    '<A/> {props.title}'

The rules are the same for both, so code and JSX in a prompt survive:
- `{{field}}` is the literal text `{field}`; other doubled braces (`style={{color: 'red'}}`) stay;
- a single name the values do not hold (`{props}`, `{missing}`) stays as written;
- anything else in braces (`{props.title}`, `{x: 1}`, `function f() {}`) is not a field.
In a pipeline, `{steps.…}` and `{context:…}` are always fields: one that is malformed or names
no step is refused before the pipeline runs (see `lfwb.pipelines.plan.check`); write it with
doubled braces to mean the text itself. A value filled in is never read again as a template, so
a step's output holding `{input}` reaches the next prompt as written.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import PipelineError

_NAME = r"[A-Za-z_]\w*"
# `steps.` then word characters, dots and hyphens (step names may hold hyphens); a call such as
# `{steps.map(fn)}` in JSX does not match and stays text. A context name is any text without
# braces that does not start with a space (`{context: value}` in code stays text).
_PIPELINE_FIELD = rf"steps\.[\w.-]+|context:[^\s{{}}][^{{}}\n]*|{_NAME}"
_SIMPLE = re.compile(rf"\{{\{{({_NAME})\}}\}}|\{{({_NAME})\}}")
_PIPELINE = re.compile(rf"\{{\{{({_PIPELINE_FIELD})\}}\}}|\{{({_PIPELINE_FIELD})\}}")
_STEP_REF = re.compile(r"steps\.([A-Za-z_][\w-]*)\.(?:(output)|artifacts\.([\w-]+)|data((?:\.[\w-]+)*))")

INPUT = "input"


@dataclass(frozen=True)
class Field:
    """One field of a pipeline template, as written between its braces (`key`).

    kind: "input", "output" (`step`'s text), "artifact" (`step`'s code of kind `name`), "data"
    (`step`'s parsed answer; `name` is the dotted path into it, "" for all of it), "context"
    (the project context called `name`) or "name" (a notebook name, `name`).
    """

    key: str
    kind: str
    step: str | None = None
    name: str | None = None


def _fill(pattern: re.Pattern, text: str, values: Mapping[str, Any]) -> str:
    def replace(match: re.Match) -> str:
        if match.group(1) is not None:
            return "{" + match.group(1) + "}"
        key = match.group(2)
        return str(values[key]) if key in values else match.group(0)

    # re.sub never rescans what it put in, so filled-in text is never filled again.
    return pattern.sub(replace, text)


def fill_template(text: str, namespace: Mapping[str, Any]) -> str:
    """`{name}` → the value of `name` in the namespace; `{{name}}` → a literal `{name}`.

    Braces that name nothing in the namespace stay as they are, so code and JSX survive
    (`style={{color: 'red'}}`, `{props.title}`, `function f() {}`).
    """
    return _fill(_SIMPLE, text, namespace)


def fill_pipeline_template(text: str, values: Mapping[str, Any]) -> str:
    """Fill a step's prompt; `values` is keyed by `Field.key` (`"input"`, `"steps.a.output"`,
    `"steps.a.artifacts.jsx"`, `"context:style"`, notebook names). Keys it lacks stay as written."""
    return _fill(_PIPELINE, text, values)


def template_fields(text: str) -> list[Field]:
    """The fields of a pipeline template in order of appearance (escaped ones are text, not fields).

    A `{steps.…}` that is neither `steps.NAME.output` nor `steps.NAME.artifacts.KIND` is a
    `PipelineError` that says how to write it.
    """
    found = []
    for match in _PIPELINE.finditer(text):
        key = match.group(2)
        if key is None:
            continue
        if key.startswith("steps."):
            ref = _STEP_REF.fullmatch(key)
            if ref is None:
                raise PipelineError(
                    f"{{{key}}} is not a step field — write {{steps.NAME.output}}, "
                    f"{{steps.NAME.artifacts.KIND}} or {{steps.NAME.data.FIELD}}, or {{{{{key}}}}} for the text itself"
                )
            step, output, kind, path = ref.groups()
            if output:
                found.append(Field(key, "output", step))
            elif kind is not None:
                found.append(Field(key, "artifact", step, kind))
            else:
                found.append(Field(key, "data", step, path[1:]))
        elif key.startswith("context:"):
            found.append(Field(key, "context", name=key[len("context:") :]))
        elif key == INPUT:
            found.append(Field(key, "input"))
        else:
            found.append(Field(key, "name", name=key))
    return found


def data_text(value: Any) -> str:
    """A data field as prompt text: text as it is, anything else as JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def data_at(data: Any, path: str) -> Any:
    """The value at `path` ("parts.0.label") in a step's parsed answer (dicts and lists);
    `KeyError` naming the first part that is not there."""
    for part in path.split(".") if path else ():
        if isinstance(data, dict) and part in data:
            data = data[part]
        elif isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        else:
            raise KeyError(part)
    return data
