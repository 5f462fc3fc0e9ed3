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
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .errors import GenerationError, LfwbError, RefusedBeforeSending, Unavailable
from .runtimes import GenerationConfig, RuntimeManager
from .spending import check_budget, note_spend
from .store import Store, now

FLUSH_EVERY_S = 0.25

OnText = Callable[[str, "RunResult"], None]
OnStart = Callable[["RunResult"], None]


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
    usage: dict | None = None  # what a remote API reported (thinking tokens, ...)
    skipped: list[dict] = field(default_factory=list)
    error: str | None = None
    format: str = "markdown"

    # The notebook cell whose output already shows this result (set by the %%lfw face), so
    # that returning it from the magic does not show it a second time.
    shown_in: Any = field(default=None, repr=False, compare=False)

    def __str__(self) -> str:
        return self.text

    @property
    def tokens_per_second(self) -> float | None:
        if not self.duration_ms or self.ttft_ms is None or self.output_tokens < 2:
            return None
        seconds = (self.duration_ms - self.ttft_ms) / 1000
        return (self.output_tokens - 1) / seconds if seconds > 0 else None

    def note(self) -> str | None:
        """One line on how the run went, shown under its text: fallbacks, cancel, failure."""
        notes = []
        if self.skipped:
            skipped = "; ".join(f"skipped {s['model']}: {s['reason']}" for s in self.skipped)
            notes.append(f"answered by {self.answered_by or 'none'}; {skipped}")
        if self.status == "cancelled":
            notes.append(f"cancelled after {self.output_tokens} tokens (run {self.run_id})")
        elif self.status == "failed":
            notes.append(f"failed (run {self.run_id}): {self.error}")
        return " · ".join(notes) or None

    def metadata(self) -> dict:
        """What goes into the notebook output's metadata, under "lfwb"."""
        return {"lfwb": {"run_id": self.run_id, "model": self.model, "answered_by": self.answered_by,
                         "status": self.status}}

    def _repr_mimebundle_(self, include=None, exclude=None) -> tuple[dict, dict]:
        note = self.note()
        data = {"text/plain": self.text + (f"\n\n[{note}]" if note else "")}
        if self.format in ("markdown", "code"):
            body = self.text if self.format == "markdown" else fenced(self.text)
            data["text/markdown"] = body + (f"\n\n---\n*{note}*" if note else "")
        return data, self.metadata()

    def _ipython_display_(self) -> None:
        cell = _current_cell()
        if cell is not None and self.shown_in is not None and self.shown_in() is cell:
            return  # the %%lfw cell that produced it is showing it already
        from IPython.display import display

        data, metadata = self._repr_mimebundle_()
        display(data, raw=True, metadata=metadata)


def fenced(text: str) -> str:
    """`text` as a Markdown code block, fenced with more backticks than any run inside it."""
    ticks = 3
    while "`" * ticks in text:
        ticks += 1
    return f"{'`' * ticks}\n{text}\n{'`' * ticks}"


def _current_cell() -> Any:
    """The IPython ExecutionResult of the cell running now (None outside a cell)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    ip = get_ipython()
    return getattr(getattr(ip, "displayhook", None), "exec_result", None)


def mark_shown(result: RunResult) -> None:
    """Note that the running cell's output shows `result` (see RunResult.shown_in)."""
    cell = _current_cell()
    result.shown_in = weakref.ref(cell) if cell is not None else None


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
    on_start: OnStart | None = None,
) -> RunResult:
    """Run `gen` on `model` (or its fallback chain) and keep the run in the store.

    `on_start(result)` is called once the row exists (the request was valid), `on_text(text,
    result)` after each piece of text with the whole text so far.
    KeyboardInterrupt stops the generation, marks the row `cancelled` with the partial text and
    re-raises; any other failure marks it `failed` and re-raises. A request refused before it
    reached a model (prompt too long, over budget) is bad input, not a run: its row is removed.
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
    refused = False
    try:
        if on_start is not None:
            on_start(result)
        for i, link in enumerate(links):
            try:
                check_budget(store, manager, project_id, link, gen)  # before anything is sent
                _stream_into(store, manager, link, gen, result, start, on_text, cancel)
                break
            except (Unavailable, RefusedBeforeSending) as e:
                # The next link may answer (another key, a larger window, a smaller price) — but
                # only skip to it when nothing was shown yet, never mid-answer. ModelNotFound only
                # arises for a chain's link that is not registered (yet).
                if result.text or i == len(links) - 1:
                    raise
                result.skipped.append({"model": link, "reason": f"{type(e).__name__}: {e}"})
        result.status = "done"
    except KeyboardInterrupt:
        result.status = "cancelled"
        raise
    except LfwbError as e:
        result.status, result.error = "failed", f"{type(e).__name__}: {e}"
        refused = isinstance(e, RefusedBeforeSending) and not result.text  # bad input: no run kept
        raise
    except Exception as e:
        result.status, result.error = "failed", f"{type(e).__name__}: {e}"
        raise GenerationError(f"{model} failed: {e}") from e
    finally:
        result.duration_ms = (time.perf_counter() - start) * 1000
        if refused:
            store.delete_run(result.run_id)
        else:
            runtime = manager.config(result.answered_by).runtime if result.answered_by in manager else None
            _finish_row(store, result, runtime)
        note_spend(manager, result.cost_usd)
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
                result.usage = chunk.usage
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
        usage_json=json.dumps(result.usage) if result.usage else None,
        skipped_json=json.dumps(result.skipped) if result.skipped else None,
    )
    store.update_run(result.run_id, **values)


def _error_text(result: RunResult) -> str | None:
    notes = [f"skipped {s['model']}: {s['reason']}" for s in result.skipped]
    if result.error:
        notes.append(result.error)
    return "; ".join(notes) or None
