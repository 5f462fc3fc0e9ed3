"""The step cache: an answer that would come out the same is taken from the store, not asked for again.

    >>> key = cache_key(manager, ["smollm2"], gen)      # None: this request may not repeat itself
    >>> store.cached_step(project_id, key)              # the newest finished step with that key

A generation repeats itself when it is greedy (temperature 0) or sampled with a fixed seed.
Its key is a hash of everything that decides the answer: the messages (the prompt as filled),
the settings (schema, prefill, stop, seed...), what the step checks and renders, and each model
it may ask — for a local model the fingerprint of its weights file, so a file replaced under the
same name is a new model. A pipeline step (lfwb/pipelines/executor.py) with a key an earlier
step of the project finished with takes that step's answer, marked `cached` with the step it
came from; `%%lfw generate --cache` does the same for a run (`cached_generation`). A failed,
cancelled or skipped step never has a key, so it is never a source.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..runtimes.keys import redact

if TYPE_CHECKING:
    from ..runs import RunResult
    from .result import StepResult
    from ..structured import Schema
    from ..runtimes import GenerationConfig, RuntimeManager
    from ..store import Store

SAMPLE_BYTES = 1 << 20  # a fingerprint reads this much at the start, the end and 8 places between
SAMPLES = 8
# Settings of a registration that change nothing in the answer: where and how fast it runs.
NOT_IN_KEY = ("name", "threads", "memory_estimate")

_fingerprints: dict[tuple[str, int, int], str] = {}
_lock = threading.Lock()


def repeatable(gen: GenerationConfig) -> bool:
    """Whether asking again would give the same answer: greedy, or sampled with a fixed seed."""
    return gen.temperature == 0 or gen.seed is not None


def cache_key(manager: RuntimeManager, models: list[str], gen: GenerationConfig, **extra: Any) -> str | None:
    """The hash of what decides `gen`'s answer on `models` (a chain, in order); None when it may
    not repeat itself. `extra`: what else decides it (a step's check and renderer)."""
    if not repeatable(gen):
        return None
    payload = {
        "models": [model_identity(manager, m) for m in models],
        "prompt": gen.prompt,
        "messages": gen.messages,
        "settings": _settings(gen),
        **extra,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def _settings(gen: GenerationConfig) -> dict:
    """`gen`'s settings with its float fields as floats: `temperature=0` and `0.0` are one key."""
    floats = {f.name for f in dataclasses.fields(gen) if f.type in ("float", float)}
    return {k: float(v) if k in floats and isinstance(v, int) else v for k, v in gen.params().items()}


def model_identity(manager: RuntimeManager, name: str) -> dict:
    """A registered model as the key sees it: its registration, with a local file's fingerprint
    in place of its path (the same weights under another path or name are the same model)."""
    config = manager.config(name).to_dict()
    for setting in NOT_IN_KEY:
        config.pop(setting, None)
    source = Path(str(config["source"])).expanduser()
    if manager.backend(config["runtime"]).local and source.exists():
        config["source"] = fingerprint(source)
    return config


def fingerprint(path: Path) -> str:
    """A cheap hash of a weights file (or a directory of them): its size and a few megabytes read
    at fixed places. Kept by path, size and modification time, so a file is read once."""
    if path.is_dir():
        parts = [f"{p.relative_to(path)}:{fingerprint(p)}" for p in sorted(path.rglob("*")) if p.is_file()]
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()
    stat = path.stat()
    memo = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    with _lock:
        known = _fingerprints.get(memo)
    if known is not None:
        return known
    digest = hashlib.sha256(str(stat.st_size).encode())
    with open(path, "rb") as f:
        span = max(stat.st_size - SAMPLE_BYTES, 0)
        for i in range(SAMPLES + 2):
            f.seek(span * i // (SAMPLES + 1))
            digest.update(f.read(SAMPLE_BYTES))
    with _lock:
        _fingerprints[memo] = digest.hexdigest()
    return _fingerprints[memo]


def generation_key(
    manager: RuntimeManager, models: list[str], gen: GenerationConfig, schema: Schema | None = None
) -> str | None:
    """A generation's key (its schema decided as it will be sent); None when it may not repeat."""
    if schema is not None:
        gen = dataclasses.replace(gen, json_schema=schema.json_schema)
    return cache_key(manager, models, gen)


def cached_generation(
    store: Store,
    project_id: int,
    models: list[str],
    gen: GenerationConfig,
    prompt: str,
    key: str,
    schema: Schema | None = None,
) -> RunResult | None:
    """A new `generate` run holding the answer of the newest finished run with `key` (its
    `cached_from`), with its artifacts, or None when there is none. Nothing is asked of a model,
    nothing is spent."""
    from ..runs import RunResult
    from ..sent import keep_request
    from ..store import now
    from .artifacts import save_artifacts

    source = store.cached_run(project_id, key)
    if source is None:
        return None
    origin = source["cached_from"] or source["id"]
    if schema is not None:
        gen = dataclasses.replace(gen, json_schema=schema.json_schema)
    copied = {k: source[k] for k in ("output", "answered_by", "runtime", "input_tokens", "output_tokens")}
    row = store.add_run(
        project_id,
        "generate",
        model=" → ".join(models),
        prompt=redact(prompt),  # as RunSink keeps a run asked anew (lfwb/runs.py)
        params_json=redact(json.dumps(gen.params())),
        seed=gen.seed,
        status="done",
        duration_ms=0.0,
        schema_valid=source["schema_valid"],
        cache_key=key,
        cached_from=origin,
        finished_at=now(),
        **copied,
    )
    result = RunResult(
        run_id=row["id"],
        text=source["output"],
        model=row["model"],
        answered_by=source["answered_by"],
        status="done",
        input_tokens=source["input_tokens"],
        output_tokens=source["output_tokens"] or 0,
        duration_ms=0.0,
        cached_from=origin,
    )
    if schema is not None:  # it matched when it was written: read it as the run's data again
        result.data, result.valid = schema.parse(result.text), True
    keep_request(store, row["id"], None, gen)  # what it asked, as if sent: %lfw show, diff and replay read it
    save_artifacts(store, row["id"], project_id, result.text)
    return result


def look_up(
    store: Store,
    manager: RuntimeManager,
    project_id: int,
    model: str,
    gen: GenerationConfig,
    prompt: str,
    schema: Schema | None = None,
) -> tuple[str | None, RunResult | None]:
    """A generation's key (None: it may not repeat) and, when a finished run had that key, a new
    run holding its answer (`cached_generation`). A run the caller records itself instead is
    given the key once done (`cache_key` column), to be a source from then on."""
    links = manager.resolve(model)
    key = generation_key(manager, links, gen, schema)
    return key, (cached_generation(store, project_id, links, gen, prompt, key, schema) if key else None)


def step_source(store: Store, project_id: int, key: str) -> dict | None:
    """The newest finished step of the project with `key` (with `origin`: the step that ran)."""
    source = store.cached_step(project_id, key)
    if source is not None:
        source["origin"] = source["cached_from"] or source["id"]
    return source


def take_answer(store: Store, step: StepResult, old: dict, status: str) -> None:
    """Finish `step` (its row and its result) with the answer of the earlier step row `old`:
    `cached` (its key matched: `old` comes from `step_source`) or `reused` (a rerun's step before
    its `from`, taken by position). Nothing is asked, nothing spent."""
    from ..store import now

    step.status, step.text, step.answered_by = status, old["output"] or "", old["answered_by"]
    step.input_tokens, step.output_tokens = old["input_tokens"], old["output_tokens"] or 0
    step.reused_from_run = old.get("reused_from_run") or old["run_id"]
    cached = {"cache_key": old["cache_key"], "cached_from": old["origin"]} if status == "cached" else {}
    step.cached_from = cached.get("cached_from")
    store.update_step(
        step.step_id,
        status=status,
        prompt=old["prompt"],
        output=step.text,
        answered_by=step.answered_by,
        runtime=old["runtime"],
        params_json=old["params_json"],
        input_tokens=step.input_tokens,
        output_tokens=step.output_tokens,
        reused_from_run=step.reused_from_run,
        schema_valid=old.get("schema_valid"),
        finished_at=now(),
        **cached,
    )
