"""Pipeline definitions: YAML (or a dict) → a `PipelineSpec` whose graph holds (its `Plan`: plan.py).

    >>> spec = parse_pipeline('''
    ... description: Analyse a UI request, then write the component
    ... steps:
    ...   - name: analyse
    ...     model: smollm2                      # a model, an alias or a fallback chain (a list)
    ...     prompt: "List the parts of this interface: {input}"
    ...     max_tokens: 200                     # any %%lfw generate setting
    ...   - name: code
    ...     model: [gemini-2.5-flash, smollm2]
    ...     prompt: "Write one React component (JSX) for: {steps.analyse.output}"
    ...     check: jsx                          # checks.py: jsx, tsx, json, python, {regex: ...}
    ...     retries: 2                          # a failed check asks again, its error appended
    ... ''', name="ui")
    >>> spec.step("code").needs                 # implied by {steps.analyse...}
    ('analyse',)
    >>> from lfwb.pipelines.plan import check
    >>> plan = check(spec, wb.manager, namespace=user_ns, store=wb.store, project_id=wb.project_id)
    >>> [[s.name for s in level] for level in plan.levels]
    [['analyse'], ['code']]

Two stages, each refusing with one `PipelineError` line that names the step and the fault, before
anything runs or is saved. `parse_pipeline` reads YAML through `yaml_source` (its one loader, with
its limits) and checks what the definition says on its own: its shape (at most `MAX_STEPS` steps),
step names (no duplicates), settings (the `GenerationConfig` rules of `%%lfw generate`), template
fields, steps that `depends_on` or a template names, cycles (named: `a → b → a`). So a
`PipelineSpec` always has a sound graph. `plan.check` then checks it against the workspace
(models, contexts, schemas) and returns the `Plan`.

A step with `schema:` (a JSON Schema dict, or the name of a Pydantic model, a schema dict or a
`.json` file: `lfwb.structured.resolve_schema`) is decoded under it, and later steps read its
parsed answer (`{steps.analyse.data.parts}`); `plan.check` verifies those names against the schema.
`render: ui-spec` decodes the answer under that renderer's schema and keeps, as the step's artifact,
the code it renders from it (`ui_spec.py`: a small model fills a spec, the renderer writes the JSX).
`prefill:` starts the answer (a local model continues it); `check:` and `retries:` are read in
`checks.py`.

A plain `{name}` follows `%%lfw generate`'s brace-sparing rule: filled from the notebook when the
name is there, otherwise left as written (JSX such as `{title}` survives). It is never a fault;
`Plan.literal` lists those left as written, so a face can point out a likely typo.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import BadInput, PipelineError
from .checks import Check, parse_check, parse_retries
from .templates import Field, template_fields
from .ui_spec import RENDERERS
from .yaml_source import MAX_DEFINITION_BYTES, dump_definition, load_definition  # noqa: F401 (the server caps bodies with it)

# The %%lfw generate settings a step may set; `system` is a system prompt, the rest GenerationConfig's.
SETTINGS = ("max_tokens", "temperature", "top_p", "top_k", "seed", "stop", "repeat_penalty", "system", "prefill")
STEP_KEYS = ("name", "model", "prompt", "depends_on", "schema", "check", "retries", "render", *SETTINGS)
PIPELINE_KEYS = ("name", "description", "steps")
_PIPELINE_NAME = re.compile(r"[A-Za-z0-9_][\w.-]{0,99}")
_STEP_NAME = re.compile(r"[A-Za-z_][\w-]{0,63}")  # what {steps.NAME.output} can spell
MAX_STEPS = 200  # a real pipeline has a few; thousands would make checking the graph slow


@dataclass
class StepSpec:
    """One step: its name, the models it tries in order, its prompt template and its settings."""

    name: str
    models: tuple[str, ...]
    prompt: str
    depends_on: tuple[str, ...] = ()  # as written; `needs` adds what the prompt implies
    settings: dict[str, Any] = field(default_factory=dict)  # only those written, in SETTINGS order
    fields: tuple[Field, ...] = ()
    schema: str | dict | None = None  # as written; `check` resolves it into Plan.schemas
    check: Check | None = None
    retries: int = 0  # more attempts after a failed check or schema
    render: str | None = None  # a renderer (ui_spec.RENDERERS): its schema decodes, its code is the artifact

    @property
    def decoded_schema(self) -> str | dict | None:
        """The schema the answer is decoded under: `schema:`, else the renderer's."""
        if self.schema is None and self.render is not None:
            return RENDERERS[self.render].schema
        return self.schema

    @property
    def needs(self) -> tuple[str, ...]:
        """Every step this one waits for: `depends_on`, then the steps its prompt names."""
        implied = [f.step for f in self.fields if f.step is not None]
        return tuple(dict.fromkeys([*self.depends_on, *implied]))

    def generation(self, prompt: str, **changes: Any):
        """The `GenerationConfig` for this step with its prompt filled in (sent as a chat message);
        `changes`: settings of this attempt (its schema, a retry's seed)."""
        from ..runtimes.base import GenerationConfig

        settings = {**self.settings, **changes}
        system = settings.pop("system", None)
        messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": prompt}]
        return GenerationConfig(messages=messages, **settings)

    def to_dict(self) -> dict:
        data: dict[str, Any] = {"name": self.name}
        data["model"] = self.models[0] if len(self.models) == 1 else list(self.models)
        data["prompt"] = self.prompt
        if self.depends_on:
            data["depends_on"] = list(self.depends_on)
        if self.schema is not None:
            data["schema"] = self.schema
        if self.check is not None:
            data["check"] = self.check.written
        if self.retries:
            data["retries"] = self.retries
        if self.render is not None:
            data["render"] = self.render
        return {**data, **self.settings}


@dataclass
class PipelineSpec:
    """A parsed pipeline. `source` is the YAML as written, when it came as YAML."""

    steps: tuple[StepSpec, ...]
    description: str = ""
    name: str | None = None
    source: str | None = None
    version: int | None = None  # set when it came from the store
    pipeline_id: int | None = None  # the stored version's row, for runs to point at

    def step(self, name: str) -> StepSpec:
        for s in self.steps:
            if s.name == name:
                return s
        raise PipelineError(f"{self.label}: no step {name!r} — steps: {', '.join(self.names)}")

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.steps]

    @property
    def label(self) -> str:
        return f"pipeline {self.name!r}" if self.name else "pipeline"

    def levels(self) -> list[list[StepSpec]]:
        """Steps grouped so that each needs only steps of earlier groups; written order within one."""
        done: set[str] = set()
        levels = []
        while len(done) < len(self.steps):
            level = [s for s in self.steps if s.name not in done and set(s.needs) <= done]
            levels.append(level)
            done.update(s.name for s in level)
        return levels

    def order(self) -> list[StepSpec]:
        """One order to run the steps in: every step after the steps it needs."""
        return [s for level in self.levels() for s in level]

    def dependants(self, name: str) -> list[str]:
        """Every step that needs `name`, directly or through others (what a failure skips)."""
        found: list[str] = []
        for s in self.order():
            if name in s.needs or any(n in found for n in s.needs):
                found.append(s.name)
        return found

    def to_dict(self) -> dict:
        data = {"name": self.name} if self.name else {}
        return {**data, "description": self.description, "steps": [s.to_dict() for s in self.steps]}

    def to_yaml(self) -> str:
        """The YAML as written, or the definition dumped as YAML when it came as a dict."""
        if self.source is not None:
            return self.source
        return dump_definition(self.to_dict())

    @property
    def hash(self) -> str:
        """What the definition says, not how: comments, layout and the name leave it unchanged."""
        data = self.to_dict()
        data.pop("name", None)
        text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(text.encode()).hexdigest()

    def summary(self) -> str:
        """`3 steps: analyse → code → assemble`"""
        n = len(self.steps)
        return f"{n} step{'s' if n != 1 else ''}: " + " → ".join(s.name for s in self.order())


def parse_pipeline(source: str | Mapping | PipelineSpec, name: str | None = None) -> PipelineSpec:
    """A `PipelineSpec` from YAML text or a dict; `PipelineError` (one line) when it is wrong.

    `name` names it (a `name:` key in the definition must then agree).
    """
    if isinstance(source, PipelineSpec):
        if name is None or source.name == name:
            return source
        source = source.to_dict()  # named anew below (a different `name:` is refused)
    label = f"pipeline {name!r}" if name else "pipeline"
    text = None
    if isinstance(source, str):
        text, data = source, load_definition(source, label)
    else:
        data = source
    if not isinstance(data, Mapping):
        raise PipelineError(f"{label}: a pipeline is a mapping with `description:` and `steps:`, got {_kind(data)}")
    _refuse_unknown(data, PIPELINE_KEYS, label)
    written = data.get("name")
    if written is not None and name is not None and str(written) != name:
        raise PipelineError(f"{label}: its definition says name: {written} — make the two agree")
    name = name if name is not None else (str(written) if written is not None else None)
    if name is not None and not _PIPELINE_NAME.fullmatch(name):
        raise PipelineError(
            f"pipeline name {name!r}: use letters, digits, '_', '-' and '.' (up to 100), e.g. ui-component"
        )
    label = f"pipeline {name!r}" if name else "pipeline"
    description = data.get("description")
    if description is not None and not isinstance(description, str):
        raise PipelineError(f"{label}: description must be text, got {_kind(description)}")
    raw_steps = data.get("steps")
    if not isinstance(raw_steps, list) or not raw_steps:
        raise PipelineError(f"{label}: `steps:` must be a list with at least one step, got {_kind(raw_steps)}")
    if len(raw_steps) > MAX_STEPS:
        raise PipelineError(f"{label}: {len(raw_steps)} steps — at most {MAX_STEPS} are taken; split it into pipelines")
    steps = [_parse_step(raw, i, label) for i, raw in enumerate(raw_steps, 1)]
    _check_graph(steps, label)
    return PipelineSpec(tuple(steps), (description or "").strip(), name, text)


def _parse_step(raw: Any, position: int, label: str) -> StepSpec:
    if not isinstance(raw, Mapping):
        raise PipelineError(f"{label}: step {position} must be a mapping (name, model, prompt), got {_kind(raw)}")
    name = raw.get("name")
    if not isinstance(name, str) or not _STEP_NAME.fullmatch(name):
        raise PipelineError(
            f"{label}: step {position} needs a name of letters, digits, '_' and '-' "
            f"(starting with a letter), got {name!r}"
        )
    where = f"{label}, step {name!r}"
    _refuse_unknown(raw, STEP_KEYS, where)
    model = raw.get("model")
    models = [model] if isinstance(model, str) else model
    if not isinstance(models, list) or not models or not all(isinstance(m, str) and m.strip() for m in models):
        raise PipelineError(
            f"{where}: `model:` must be a model or alias, or a list of them (a fallback chain), got {model!r}"
        )
    prompt = raw.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise PipelineError(f"{where}: `prompt:` must be non-empty text")
    depends_on = raw.get("depends_on") or []
    depends_on = [depends_on] if isinstance(depends_on, str) else depends_on
    if not isinstance(depends_on, list) or not all(isinstance(d, str) for d in depends_on):
        raise PipelineError(f"{where}: `depends_on:` must be a list of step names, got {raw.get('depends_on')!r}")
    settings = {k: raw[k] for k in SETTINGS if k in raw and raw[k] is not None}
    schema = raw.get("schema")
    if schema is not None and not (isinstance(schema, dict) or (isinstance(schema, str) and schema.strip())):
        raise PipelineError(
            f"{where}: `schema:` is the name of a schema (a Pydantic model or a dict in the "
            f"notebook, a .json file, json) or a JSON Schema mapping, got {_kind(schema)}"
        )
    render = raw.get("render")
    if render is not None and render not in RENDERERS:
        raise PipelineError(f"{where}: `render:` names a renderer ({', '.join(RENDERERS)}), got {render!r}")
    if render is not None and schema is not None:
        raise PipelineError(f"{where}: `render: {render}` decodes the answer under its own schema — drop `schema:`")
    if "prefill" in settings and not (isinstance(settings["prefill"], str) and settings["prefill"]):
        raise PipelineError(f"{where}: `prefill:` must be non-empty text, got {_kind(settings['prefill'])}")
    if "prefill" in settings and schema is not None:
        raise PipelineError(
            f"{where}: `prefill:` and `schema:` do not go together — the schema decides how "
            "the answer starts; leave one out"
        )
    try:
        check = parse_check(raw["check"]) if raw.get("check") is not None else None
        retries = parse_retries(raw.get("retries") or 0)
        if retries and check is None and schema is None and render is None:
            raise PipelineError("`retries:` needs a `check:` or a `schema:` to retry on")
        fields = tuple(template_fields(prompt))
        step = StepSpec(
            name,
            tuple(m.strip() for m in models),
            prompt,
            tuple(depends_on),
            settings,
            fields,
            schema,
            check,
            retries,
            render,
        )
        step.generation("check")  # the settings must make a valid request, as in %%lfw generate
    except BadInput as e:  # PipelineError included
        raise PipelineError(f"{where}: {e}") from None
    except (TypeError, ValueError):  # e.g. temperature: hot
        bad = ", ".join(f"{k}: {v!r}" for k, v in settings.items() if k != "system")
        raise PipelineError(f"{where}: settings must be numbers (stop: text), got {bad}") from None
    if "system" in settings and not isinstance(settings["system"], str):
        raise PipelineError(f"{where}: `system:` must be text, got {_kind(settings['system'])}")
    return step


def _check_graph(steps: list[StepSpec], label: str) -> None:
    names = [s.name for s in steps]
    seen: set[str] = set()
    for n in names:
        if n in seen:
            raise PipelineError(f"{label}: two steps are named {n!r} — step names must differ")
        seen.add(n)
    for s in steps:
        for d in s.depends_on:
            if d not in seen:
                raise PipelineError(
                    f"{label}, step {s.name!r}: depends_on {d!r}, which is not a step{_steps_hint(d, names)}"
                )
        for f in s.fields:
            if f.step is not None and f.step not in seen:
                raise PipelineError(
                    f"{label}, step {s.name!r}: {{{f.key}}} names no step {f.step!r}{_steps_hint(f.step, names)}"
                )
            if f.kind == "data" and next(t for t in steps if t.name == f.step).decoded_schema is None:
                raise PipelineError(
                    f"{label}, step {s.name!r}: {{{f.key}}} reads step {f.step!r}'s data, but it has no "
                    f"`schema:` — give it one, or use {{steps.{f.step}.output}}"
                )
    cycle = _find_cycle({s.name: s.needs for s in steps})
    if cycle:
        if len(cycle) == 2:
            raise PipelineError(f"{label}, step {cycle[0]!r}: depends on itself")
        raise PipelineError(f"{label}: the steps form a cycle, {' → '.join(cycle)} — a step cannot wait for itself")


def _find_cycle(needs: dict[str, tuple[str, ...]]) -> list[str] | None:
    """A cycle as a path that returns to its start (`[a, b, a]`), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: finished
    path: list[str] = []

    def visit(name: str) -> list[str] | None:
        state[name] = 1
        path.append(name)
        for n in needs[name]:
            if state.get(n) == 1:
                return path[path.index(n) :] + [n]
            if n not in state and (found := visit(n)):
                return found
        path.pop()
        state[name] = 2
        return None

    for name in needs:
        if name not in state and (found := visit(name)):
            return found
    return None


def _refuse_unknown(data: Mapping, allowed: tuple[str, ...], where: str) -> None:
    for key in data:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), allowed, n=1)
            hint = f" — did you mean {close[0]!r}?" if close else f" — keys: {', '.join(allowed)}"
            raise PipelineError(f"{where}: unknown key {key!r}{hint}")


def _steps_hint(name: str, names: list[str]) -> str:
    close = difflib.get_close_matches(name, names, n=1)
    return f" — did you mean {close[0]!r}?" if close else f" — steps: {', '.join(names)}"


def _kind(value: Any) -> str:
    return "nothing" if value is None else f"a {type(value).__name__}"
