"""Recording a generation as a `runs` row while it streams.

Every generate, chat turn and pipeline step goes through `record_generation`: it creates the
row, follows a fallback chain, flushes partial output to the store as tokens arrive (so an
interrupt or a crash keeps what was written) and finishes the row with its status, token
counts and timings.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .errors import (
    BudgetExceeded, GenerationError, InsufficientMemory, LfwbError, MissingCredentials,
    ModelLoadError,
)
from .runtimes import GenerationConfig, RuntimeManager
from .store import Store, now

FLUSH_EVERY_S = 0.25
# Errors that move a fallback chain on to its next model (when nothing was written yet).
SKIPPABLE = (InsufficientMemory, MissingCredentials, BudgetExceeded, ModelLoadError, GenerationError)

OnText = Callable[[str, "RunResult"], None]


@dataclass
class RunResult:
    """What a generation produced. `str(result)` is the text; in a notebook it renders as Markdown."""

    run_id: int
    text: str
    model: str
    answered_by: str | None = None
    status: str = "running"
    input_tokens: int | None = None
    output_tokens: int = 0
    ttft_ms: float | None = None
    duration_ms: float | None = None
    cost_usd: float = 0.0
    skipped: list[dict] = field(default_factory=list)
    error: str | None = None
    format: str = "markdown"

    def __str__(self) -> str:
        return self.text

    @property
    def tokens_per_second(self) -> float | None:
        if not self.duration_ms or self.ttft_ms is None or self.output_tokens < 2:
            return None
        seconds = (self.duration_ms - self.ttft_ms) / 1000
        return (self.output_tokens - 1) / seconds if seconds > 0 else None

    def _repr_markdown_(self) -> str | None:
        if self.format == "markdown":
            return self.text
        if self.format == "code":
            return f"```\n{self.text}\n```"
        return None

    def _repr_pretty_(self, p, cycle) -> None:
        p.text(self.text)


def record_generation(
    store: Store,
    manager: RuntimeManager,
    project_id: int,
    model: str,
    gen: GenerationConfig,
    kind: str = "generate",
    prompt: str | None = None,
    parent_id: int | None = None,
    on_text: OnText | None = None,
    cancel: threading.Event | None = None,
) -> RunResult:
    """Run `gen` on `model` (or its fallback chain) and keep the run in the store.

    KeyboardInterrupt stops the generation, marks the row `cancelled` with the partial text and
    re-raises; any other failure marks it `failed` and re-raises.
    """
    links = manager.resolve(model)
    if prompt is None:
        prompt = gen.prompt if gen.prompt is not None else gen.messages[-1]["content"]
    row = store.add_run(
        project_id, kind, model=model, prompt=prompt, params_json=json.dumps(gen.params()),
        seed=gen.seed, status="running", parent_id=parent_id,
    )
    result = RunResult(run_id=row["id"], text="", model=model)
    start = time.perf_counter()
    try:
        for i, link in enumerate(links):
            try:
                _stream_into(store, manager, link, gen, result, start, on_text, cancel)
                break
            except SKIPPABLE as e:
                # Only skip to the next link when nothing was shown yet, never mid-answer.
                if result.text or i == len(links) - 1:
                    raise
                result.skipped.append({"model": link, "reason": f"{type(e).__name__}: {e}"})
        result.status = "done"
    except KeyboardInterrupt:
        result.status = "cancelled"
        raise
    except LfwbError as e:
        result.status, result.error = "failed", f"{type(e).__name__}: {e}"
        raise
    except Exception as e:
        result.status, result.error = "failed", f"{type(e).__name__}: {e}"
        raise GenerationError(f"{model} failed: {e}") from e
    finally:
        result.duration_ms = (time.perf_counter() - start) * 1000
        runtime = manager.config(result.answered_by).runtime if result.answered_by in manager else None
        _finish_row(store, result, runtime)
    return result


def _stream_into(
    store: Store, manager: RuntimeManager, link: str, gen: GenerationConfig, result: RunResult,
    start: float, on_text: OnText | None, cancel: threading.Event | None,
) -> None:
    parts: list[str] = []
    last_flush = time.perf_counter()
    stream = manager.stream(link, gen, cancel)
    try:
        for chunk in stream:
            if chunk.text:
                if result.ttft_ms is None:
                    result.ttft_ms = (time.perf_counter() - start) * 1000
                    result.answered_by = link
                parts.append(chunk.text)
                result.output_tokens += chunk.output_tokens
                result.text = "".join(parts)
                if time.perf_counter() - last_flush >= FLUSH_EVERY_S:
                    store.flush_run_output(result.run_id, result.text, result.output_tokens)
                    last_flush = time.perf_counter()
                if on_text is not None:
                    on_text(result.text, result)
            if chunk.input_tokens is not None:
                result.input_tokens = chunk.input_tokens
            if chunk.usage:
                result.input_tokens = chunk.usage.get("input_tokens", result.input_tokens)
                result.output_tokens = chunk.usage.get("output_tokens", result.output_tokens)
            if chunk.cost_usd is not None:
                result.cost_usd = chunk.cost_usd
        result.answered_by = result.answered_by or link
    finally:
        stream.close()  # joins the worker thread, also on KeyboardInterrupt


def _finish_row(store: Store, result: RunResult, runtime: str | None) -> None:
    values = dict(
        status=result.status, output=result.text, answered_by=result.answered_by, runtime=runtime,
        input_tokens=result.input_tokens, output_tokens=result.output_tokens,
        ttft_ms=None if result.ttft_ms is None else round(result.ttft_ms, 2),
        duration_ms=round(result.duration_ms or 0, 2), cost_usd=result.cost_usd,
        error=_error_text(result), finished_at=now(),
    )
    store.update_run(result.run_id, **values)


def _error_text(result: RunResult) -> str | None:
    notes = [f"skipped {s['model']}: {s['reason']}" for s in result.skipped]
    if result.error:
        notes.append(result.error)
    return "; ".join(notes) or None
