"""An eval's definition: what each model is asked, and the checks its answers are scored by.

    %%lfw eval sentiment
    description: One word for a review's sentiment
    prompt: "Is this review positive or negative? Answer with one word.\\n\\n{input}"
    max_tokens: 8
    temperature: 0
    checks:
      - contains                      # holds the row's `expected`
      - regex: "^\\\\W*(positive|negative)\\\\b"
      - judge: smollm2
        rubric: The answer names the review's sentiment.

`prompt:` is filled per row (`{input}`, `{expected}`, any column; other `{name}`s from the
notebook, else left as written); `pipeline:` names a saved or bundled pipeline instead, run on
the row's `input` with every step on the model being scored. Settings are `%%lfw generate`'s
(for a pipeline: every step's). `models:` and `dataset:` (a file, or rows inline) are defaults
that `--models` and `--over` replace. Bad YAML or an unknown check is one line, nothing saved.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import BadInput
from ..pipelines.spec import SETTINGS
from .checks import EvalCheck, parse_checks

KEYS = ("description", "prompt", "pipeline", "checks", "models", "dataset", *SETTINGS)
_EVAL_NAME = re.compile(r"[A-Za-z0-9_][\w.-]{0,99}")
_FIELD = re.compile(r"\{\{[A-Za-z_]\w*\}\}|\{([A-Za-z_]\w*)\}")


@dataclass(frozen=True)
class EvalSpec:
    """A checked eval definition; `source` is its YAML as written (what the store keeps)."""

    name: str
    checks: tuple[EvalCheck, ...]
    prompt: str | None = None
    pipeline: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    models: tuple[str, ...] = ()
    dataset: str | list | None = None
    description: str = ""
    source: str = ""
    version: int | None = None

    @property
    def prompt_fields(self) -> list[str]:
        return [m.group(1) for m in _FIELD.finditer(self.prompt or "") if m.group(1)]

    @property
    def hash(self) -> str:
        return hashlib.sha256(self.source.encode("utf-8")).hexdigest()

    def summary(self) -> str:
        asks = "prompt" if self.prompt is not None else f"pipeline {self.pipeline!r}"
        checks = ", ".join(c.name for c in self.checks)
        return f"{asks}, {len(self.checks)} check{'s' if len(self.checks) != 1 else ''}: {checks}"


def check_name(name: Any) -> str:
    if not isinstance(name, str) or not _EVAL_NAME.fullmatch(name):
        raise BadInput(f"an eval's name is letters, digits, - _ . (up to 100), got {name!r}")
    return name


def parse_eval(source: str | Mapping | EvalSpec, name: str) -> EvalSpec:
    """YAML text (or its data) → a checked `EvalSpec`; `BadInput` (one line) for the first fault."""
    from ..pipelines.yaml_source import dump_definition, load_definition

    if isinstance(source, EvalSpec):
        return source
    name = check_name(name)
    label = f"eval {name!r}"
    if isinstance(source, str):
        if not source.strip():
            raise BadInput(f"{label}: the definition is empty — give `prompt:` (or `pipeline:`) and `checks:`")
        data = load_definition(source, label)
        text = source
    else:
        data, text = source, dump_definition(dict(source))
    if not isinstance(data, Mapping):
        raise BadInput(f"{label}: the definition is a mapping (prompt:, checks:), got {type(data).__name__}")
    unknown = [k for k in data if k not in KEYS]
    if unknown:
        raise BadInput(f"{label}: unknown key {unknown[0]!r} — an eval takes {', '.join(KEYS)}")
    prompt, pipeline = data.get("prompt"), data.get("pipeline")
    if (prompt is None) == (pipeline is None):
        raise BadInput(f"{label}: give `prompt:` or `pipeline:` (one of them): what each model is asked")
    for key, value in (("prompt", prompt), ("pipeline", pipeline)):
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise BadInput(f"{label}: `{key}:` must be text, got {value!r}")
    settings = {k: data[k] for k in SETTINGS if data.get(k) is not None}
    if "prefill" in settings:
        raise BadInput(f"{label}: `prefill:` is a pipeline step's; an eval's answers start fresh")
    check_settings(settings, label)
    models = data.get("models") or ()
    if isinstance(models, str):
        models = tuple(m.strip() for m in models.split(","))
    if not isinstance(models, (list, tuple)) or not all(isinstance(m, str) and m for m in models):
        raise BadInput(f"{label}: `models:` is a list of model names, got {models!r}")
    dataset = data.get("dataset")
    if dataset is not None and not isinstance(dataset, (str, list)):
        raise BadInput(f"{label}: `dataset:` is a file (.csv, .jsonl) or a list of rows, got {dataset!r}")
    description = data.get("description") or ""
    if not isinstance(description, str):
        raise BadInput(f"{label}: `description:` must be text")
    return EvalSpec(
        name=name,
        checks=parse_checks(data.get("checks"), label),
        prompt=prompt,
        pipeline=pipeline,
        settings=settings,
        models=tuple(models),
        dataset=dataset,
        description=description,
        source=text,
    )


def check_settings(settings: dict[str, Any], label: str) -> None:
    """The settings must make a valid request, as `%%lfw generate`'s must."""
    from ..runtimes.base import chat_config

    rest = {k: v for k, v in settings.items() if k != "system"}
    if "system" in settings and not isinstance(settings["system"], str):
        raise BadInput(f"{label}: `system:` must be text")
    try:
        chat_config("check", settings.get("system"), **rest)
    except (BadInput, TypeError, ValueError) as e:
        raise BadInput(f"{label}: {e}") from None
