"""A pipeline checked against the workspace: `check(spec, manager, ...)` → the `Plan` an executor runs.

    >>> plan = check(spec, wb.manager, namespace=user_ns, store=wb.store, project_id=wb.project_id)
    >>> [[s.name for s in level] for level in plan.levels]
    [['analyse'], ['code']]

`spec.parse_pipeline` has checked what a definition says on its own; this checks what it needs
from the workspace — every step has a model that resolves (a fallback chain needs one link that
does), every `{context:NAME}` is a context of the project, a `prefill:` step has a local model,
every `schema:` resolves and every `{steps.X.data.FIELD}` names a field of X's schema — and
refuses with one `PipelineError` line before anything runs or is saved. The `Plan` holds the
steps in levels (each level needs only earlier ones, so a level's steps may run at once), the
models each step tries, the resolved schemas, and how to fill a step's prompt.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import BadInput, PipelineError, Unavailable
from .checks import missing_field, plain_data
from .spec import PipelineSpec, StepSpec, parse_pipeline
from .templates import data_at, data_text, fill_pipeline_template

if TYPE_CHECKING:
    from ..runtimes import RuntimeManager
    from ..store import Store


@dataclass
class Plan:
    """A pipeline checked against the workspace: what an executor needs to run it."""

    spec: PipelineSpec
    levels: list[list[StepSpec]]
    models: dict[str, list[str]]  # step → the models it tries, in order (aliases expanded)
    contexts: dict[str, str]  # context name → its text (the newest of that name)
    namespace: Mapping[str, Any]
    literal: dict[str, list[str]]  # step → `{name}`s that name nothing and stay as written
    schemas: dict[str, Any] = field(default_factory=dict)  # step → its resolved `Schema`

    @property
    def order(self) -> list[StepSpec]:
        return [s for level in self.levels for s in level]

    def prompt(
        self,
        step: str,
        input: str,
        outputs: Mapping[str, str] = {},
        artifacts: Mapping[str, Mapping[str, str]] = {},
        data: Mapping[str, Any] = {},
    ) -> str:
        """`step`'s prompt filled in. `outputs`: step → its text; `artifacts`: step → kind → its
        code of that kind (the executor joins several blocks); `data`: step → its parsed answer.
        A kind a step did not produce fills in as empty text; a data field its answer lacks (a
        schema that leaves it open) is a `PipelineError`."""
        values: dict[str, Any] = {}
        for f in self.spec.step(step).fields:
            source, name = f.step or "", f.name or ""  # what each kind has (see templates.Field)
            if f.kind == "input":
                values[f.key] = input
            elif f.kind == "output":
                values[f.key] = outputs[source]
            elif f.kind == "artifact":
                values[f.key] = artifacts.get(source, {}).get(name, "")
            elif f.kind == "data":
                try:
                    values[f.key] = data_text(data_at(plain_data(data.get(source)), name))
                except KeyError as e:
                    raise PipelineError(f"{{{f.key}}}: step {f.step!r}'s answer has no field {e.args[0]!r}") from None
            elif f.kind == "context":
                values[f.key] = self.contexts[name]
            elif name in self.namespace:
                values[f.key] = self.namespace[name]
        return fill_pipeline_template(self.spec.step(step).prompt, values)


def check(
    spec: str | Mapping | PipelineSpec,
    manager: RuntimeManager,
    *,
    namespace: Mapping[str, Any] | None = None,
    store: Store | None = None,
    project_id: int | None = None,
) -> Plan:
    """Check `spec` against the workspace and return its `Plan`; `PipelineError` names the fault.

    Models are checked with `manager.resolve`. `{context:NAME}` fields are checked against the
    project's contexts when a `store` and `project_id` are given (saving a definition checks
    models only: its contexts belong to whichever project runs it); so are `schema:`s given by
    name (a dict schema is checked always).
    """
    spec = parse_pipeline(spec)
    namespace = namespace if namespace is not None else {}
    models = {s.name: _resolve(s, manager, spec.label) for s in spec.steps}
    contexts: dict[str, str] = {}
    wanted = [(s, f) for s in spec.steps for f in s.fields if f.kind == "context"]
    if wanted and store is not None and project_id is not None:
        for row in reversed(store.list_contexts(project_id=project_id)):  # oldest first: the newest wins
            contexts[row["name"]] = row["text"]
        for s, f in wanted:
            if f.name not in contexts:
                known = ", ".join(sorted(contexts)) or "none yet"
                raise PipelineError(
                    f"{spec.label}, step {s.name!r}: {{{f.key}}} — the project has no context "
                    f"named {f.name!r} (contexts: {known}) — add a context of that name first",
                    about="pipeline_context",
                    name=f.name,
                )
    literal = {
        s.name: [f.name or "" for f in s.fields if f.kind == "name" and f.name not in namespace] for s in spec.steps
    }
    for s in spec.steps:
        if s.settings.get("prefill") and not any(_local(m, manager) for m in models[s.name]):
            chain = models[s.name]
            raise PipelineError(
                f"{spec.label}, step {s.name!r}: prefill needs a local model — {', '.join(chain)} "
                f"answer{'s' if len(chain) == 1 else ''} through a remote API"
            )
    schemas = _schemas(spec, namespace if store is not None else None)
    return Plan(spec, spec.levels(), models, contexts, namespace, {k: v for k, v in literal.items() if v}, schemas)


def _local(model: str, manager: RuntimeManager) -> bool:
    return bool(manager.backend(manager.config(model).runtime).local)


def _schemas(spec: PipelineSpec, namespace: Mapping[str, Any] | None) -> dict[str, Any]:
    """Each `schema:` resolved, and every `{steps.X.data.FIELD}` checked against X's. Without a
    namespace (saving a definition), a schema given by name waits for the run."""
    from ..structured import resolve_schema

    schemas = {}
    for s in spec.steps:
        schema = s.decoded_schema
        if schema is None or (namespace is None and isinstance(schema, str) and schema != "json"):
            continue
        try:
            schemas[s.name] = resolve_schema(schema, namespace=dict(namespace or {}))
        except BadInput as e:
            raise PipelineError(f"{spec.label}, step {s.name!r}: `schema:` {e}") from None
    for s in spec.steps:
        for f in s.fields:
            if f.kind == "data" and f.step in schemas:
                missing = missing_field(schemas[f.step].json_schema, f.name or "")
                if missing:
                    raise PipelineError(
                        f"{spec.label}, step {s.name!r}: {{{f.key}}} — in step {f.step!r}'s "
                        f"schema {schemas[f.step].name}, {missing}"
                    )
    return schemas


def _resolve(step: StepSpec, manager: RuntimeManager, label: str) -> list[str]:
    """The models `step` tries. One unknown model is a fault; a chain needs one link that resolves."""
    chain: list[str] = []
    errors = []
    for model in step.models:
        try:
            chain.extend(m for m in manager.resolve(model) if m not in chain)
        except Unavailable as e:  # no such model, or one that needs a key not set
            errors.append(e)
    if not chain:
        raise PipelineError(f"{label}, step {step.name!r}: {errors[0]}") from errors[0]
    return chain
