"""Recording a generation as a `runs` row while it streams.

Every generate, chat turn and pipeline step goes through `record_generation`: it creates the
row, follows a fallback chain, flushes partial output to the store every 0.25 s, also while the
model stalls (so an interrupt or a crash keeps what was written), and finishes the row with its
status, token counts and timings.

A stop is held while a run records itself, so it never cuts the row's writes (lfwb/stops.py).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from .errors import GenerationError, LfwbError, RefusedBeforeSending, Unavailable
from .runtimes import GenerationConfig, RuntimeManager, StreamTotals
from .runtimes.keys import redact
from .sent import Given, count_request, keep_request
from .spending import check_budget, note_spend
from .stops import Cancelled, Stop, held_stops
from .store import Store, now
from .structured import Schema, read_answer
from .untrusted import answer_html

if TYPE_CHECKING:
    from IPython.core.interactiveshell import ExecutionResult

FLUSH_EVERY_S = 0.25

OnText = Callable[[str, "RunResult"], None]
OnStart = Callable[["RunResult"], None]


@dataclass
class RunResult:
    """What a generation produced. `str(result)` is the text; in a notebook it renders as Markdown
    (to HTML, by `lfwb.untrusted`)."""

    run_id: int | None  # None: nothing was recorded (a chat turn stopped before its run began)
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
    # Structured output (lfwb/structured.py): the answer read through its schema, and whether
    # it matched (None: no schema was asked for).
    data: Any = None
    valid: bool | None = None
    # From the start until the model was ours: a local model answers one generation at a time.
    waited_ms: float | None = None
    cached_from: int | None = None  # `generate(cache=True)`: the run whose answer it took (step_cache.py)

    # The notebook cell whose output already shows this result (set by the %%lfw face), so
    # that returning it from the magic does not show it a second time.
    shown_in: weakref.ref[ExecutionResult] | None = field(default=None, repr=False, compare=False)

    def __str__(self) -> str:
        return self.text

    @property
    def tokens_per_second(self) -> float | None:
        if not self.duration_ms or self.ttft_ms is None or self.output_tokens < 2:
            return None
        seconds = (self.duration_ms - self.ttft_ms) / 1000
        return (self.output_tokens - 1) / seconds if seconds > 0 else None

    def note(self, cancel: bool = True) -> str | None:
        """One line on how the run went, shown under its text: fallbacks, cancel, failure.
        `cancel=False` leaves the cancel out (a live cell shows it as its `Cancelled` line)."""
        notes = []
        if self.skipped:
            skipped = "; ".join(f"skipped {s['model']}: {s['reason']}" for s in self.skipped)
            notes.append(f"answered by {self.answered_by or 'none'}; {skipped}")
        if self.cached_from is not None:
            notes.append(f"cached: the answer of run {self.cached_from}, nothing was asked")
        if self.status == "cancelled" and cancel:
            notes.append(self.cancelled_line())
        elif self.status == "failed":
            notes.append(f"failed (run {self.run_id}): {self.error}")
        return " · ".join(notes) or None

    def cancelled_line(self) -> str:
        return f"cancelled after {tokens_text(self.output_tokens)} (run {self.run_id})"

    def metadata(self) -> dict:
        """What goes into the notebook output's metadata, under "lfwb"."""
        return {
            "lfwb": {"run_id": self.run_id, "model": self.model, "answered_by": self.answered_by, "status": self.status}
        }

    def _repr_mimebundle_(self, include=None, exclude=None) -> tuple[dict, dict]:
        return self.rendered(self.note())

    def rendered(self, note: str | None) -> tuple[dict, dict]:
        """(data, metadata) of the run's display: its text in its format, `note` under it.
        Markdown is rendered to HTML that loads nothing (`lfwb.untrusted`), never sent as is."""
        text, format = self.text, self.format
        if self.valid:  # a structured answer shows as the JSON it parsed to
            from .structured import pretty

            text, format = pretty(self.data), "json"
        data = {"text/plain": text + (f"\n\n[{note}]" if note else "")}
        if format in ("markdown", "code", "json"):
            body = text if format == "markdown" else fenced(text, "json" if format == "json" else "")
            data["text/html"] = answer_html(body, note=note)
        return data, self.metadata()

    def _ipython_display_(self) -> None:
        cell = _current_cell()
        if cell is not None and self.shown_in is not None and self.shown_in() is cell:
            return  # the %%lfw cell that produced it is showing it already
        from IPython.display import display

        data, metadata = self._repr_mimebundle_()
        display(data, raw=True, metadata=metadata)


def fenced(text: str, language: str = "") -> str:
    """`text` as a Markdown code block, fenced with more backticks than any run inside it."""
    ticks = 3
    while "`" * ticks in text:
        ticks += 1
    return f"{'`' * ticks}{language}\n{text}\n{'`' * ticks}"


def _current_cell() -> ExecutionResult | None:
    """The IPython ExecutionResult of the cell running now (None outside a cell)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    ip = get_ipython()
    return getattr(getattr(ip, "displayhook", None), "exec_result", None)


def tokens_text(count: int) -> str:
    """`1 token`, `42 tokens`: how a count of output tokens reads in a line."""
    return f"{count} token" + ("" if count == 1 else "s")


class Shown(Protocol):
    """A result a cell's output may show already (RunResult, CompareResult)."""

    shown_in: weakref.ref[ExecutionResult] | None


def mark_shown(result: Shown) -> None:
    """Note that the running cell's output shows `result` (see RunResult.shown_in)."""
    cell = _current_cell()
    result.shown_in = weakref.ref(cell) if cell is not None else None


class RunSink:
    """Where `record_generation` writes a generation: by default a `runs` row of its own.

    A pipeline writes each step into its `steps` row instead (lfwb/pipelines/executor.py), with
    the same flushes, fallbacks, budgets and stops: a sink says only where the values go.
    """

    def __init__(self, store: Store, project_id: int, kind: str = "generate", parent_id: int | None = None):
        self.store, self.project_id, self.kind, self.parent_id = store, project_id, kind, parent_id

    def open(self, model: str, prompt: str, gen: GenerationConfig) -> int:
        """Make the record (status `running`); returns the run id results carry."""
        row = self.store.add_run(
            self.project_id,
            self.kind,
            model=model,
            prompt=redact(prompt),  # a key pasted into a prompt is not kept (lfwb/sent.py does the same)
            params_json=redact(json.dumps(gen.params())),
            seed=gen.seed,
            status="running",
            parent_id=self.parent_id,
        )
        self.run_id: int = row["id"]
        return self.run_id

    def owner(self) -> tuple[int, int | None]:
        """(run id, step id) of the record: what the request sent is kept under (lfwb/sent.py)."""
        return self.run_id, None

    def flush(self, result: RunResult) -> None:
        self.store.flush_run_output(self.run_id, result.text, result.output_tokens)

    def turn(self, result: RunResult) -> None:
        """The model is ours now (`result.waited_ms` says after how long); called on its thread."""

    def finish(self, result: RunResult, runtime: str | None, refused: bool) -> None:
        """Finish the record; a request `refused` before anything was sent leaves no run."""
        if refused:
            self.store.delete_run(self.run_id)
        else:
            self.store.update_run(self.run_id, **finished_values(result, runtime))


def record_generation(
    store: Store,
    manager: RuntimeManager,
    project_id: int,
    model: str | list[str],
    gen: GenerationConfig,
    kind: str = "generate",
    prompt: str | None = None,
    parent_id: int | None = None,
    on_text: OnText | None = None,
    on_start: OnStart | None = None,
    *,
    sink: RunSink | None = None,
    stop: Stop | None = None,
    wait_for_room: bool = False,
    schema: Schema | None = None,
    given: Given | None = None,
) -> RunResult:
    """Run `gen` on `model` (or its fallback chain) and keep the run in the store.

    `on_start(result)` is called once the row exists (the request was valid), `on_text(text,
    result)` after each piece of text with the whole text so far.
    A stop (KeyboardInterrupt) ends the generation, marks the row `cancelled` with the partial
    text and raises `Cancelled`; any other failure marks it `failed` and re-raises. A request
    refused before it reached a model (prompt too long, over budget) is bad input, not a run:
    its row is removed. The row is finished in `store` even if the workbench switches to
    another store meanwhile.

    `model` may be a list: the chain itself, already resolved. `sink` writes the record
    elsewhere (a pipeline's step row); `stop` is the `Stop` another thread stops it with
    (a handle's `cancel()`); `wait_for_room`: a local model waits for busy ones to free the memory
    it needs instead of being refused (see `RuntimeManager.stream`).
    `schema` (lfwb/structured.py): every link decodes under it, and the answer is read through
    it (`result.data`, `result.valid`); one that does not match fails with SchemaMismatch.
    What is sent is kept with the run (lfwb/sent.py); `given` marks what the caller put into
    the messages itself (a chat's summary and retrieved chunks).
    """
    if schema is not None:
        gen = dataclasses.replace(gen, json_schema=schema.json_schema)
    links = manager.resolve(model) if isinstance(model, str) else list(model)
    model = model if isinstance(model, str) else " → ".join(model)
    sink = sink or RunSink(store, project_id, kind, parent_id)
    if prompt is None:
        prompt = gen.asked
    # From before the row exists until it is finished, no stop can cut a write (see held_stops).
    with held_stops(stop) as stops, store.kept_open():
        result = RunResult(run_id=sink.open(model, prompt, gen), text="", model=model)
        start = time.perf_counter()
        refused, request_id = False, None
        try:
            request_id = keep_request(sink.store, *sink.owner(), gen, given)
            if on_start is not None:
                on_start(result)
            for i, link in enumerate(links):
                try:
                    check_budget(store, manager, project_id, link, gen)  # before anything is sent
                    finish = _stream_into(sink, manager, link, gen, result, start, on_text, stops, wait_for_room)
                    break
                except (Unavailable, RefusedBeforeSending) as e:
                    # The next link may answer (another key, a larger window, a smaller price) — but
                    # only skip to it when nothing was shown yet, never mid-answer. ModelNotFound only
                    # arises for a chain's link that is not registered (yet).
                    if result.text or i == len(links) - 1:
                        raise
                    result.skipped.append({"model": link, "reason": f"{type(e).__name__}: {e}"})
            if stops.take():  # a stop while the last text was shown: the model had stopped
                raise KeyboardInterrupt
            if schema is not None:
                result.valid = False
                result.data = read_answer(schema, result.text, finish, gen.max_tokens)
                result.valid = True
            result.status = "done"
            stops.after = f"stopped after run {result.run_id} had finished (all {result.output_tokens} tokens kept)"
        except KeyboardInterrupt as stop:
            result.status = "cancelled"
            raise Cancelled(result.cancelled_line(), result=result) from stop
        except LfwbError as e:
            result.status, result.error = "failed", f"{type(e).__name__}: {e}"
            refused = isinstance(e, RefusedBeforeSending) and not result.text  # bad input: no run kept
            raise
        except Exception as e:
            result.status, result.error = "failed", f"{type(e).__name__}: {e}"
            raise GenerationError(f"{model} failed: {e}") from e
        finally:
            result.duration_ms = (time.perf_counter() - start) * 1000
            answered = result.answered_by
            runtime = manager.config(answered).runtime if answered is not None and answered in manager else None
            sink.finish(result, runtime, refused)
            note_spend(manager, result.cost_usd)
            if request_id is not None and not refused:
                # Counts are for reading the run later: a tokenizer that fails leaves them out,
                # never the run's own outcome.
                with contextlib.suppress(Exception):
                    count_request(sink.store, manager, request_id, result.answered_by or links[0])
    return result


def _stream_into(
    sink: RunSink,
    manager: RuntimeManager,
    link: str,
    gen: GenerationConfig,
    result: RunResult,
    start: float,
    on_text: OnText | None,
    stops: Stop,
    wait_for_room: bool = False,
) -> str | None:
    """Stream one link's answer into `result`; returns the finish reason."""
    totals = StreamTotals(start)  # TTFT counts from the run's start, links skipped included
    last_flush, unsaved = time.perf_counter(), False
    cancel = threading.Event()  # the model's own, set by `stops`; each link its own: a failed one has set it
    stops.cancels.append(cancel)
    # A model that stalls sends nothing; the empty chunks that come instead every FLUSH_EVERY_S
    # let the text so far reach the row on time, written from this thread as every other write.

    def on_turn() -> None:
        result.waited_ms = (time.perf_counter() - start) * 1000
        sink.turn(result)

    stream = manager.stream(link, gen, cancel, wait_for_room=wait_for_room, idle_s=FLUSH_EVERY_S, on_turn=on_turn)
    try:
        while (chunk := stops.next(stream, None)) is not None:
            brought_text = totals.add(chunk)
            _take(result, totals)
            unsaved = unsaved or brought_text
            if unsaved and time.perf_counter() - last_flush >= FLUSH_EVERY_S:
                sink.flush(result)
                last_flush, unsaved = time.perf_counter(), False
            if brought_text:
                result.answered_by = link
                if on_text is not None:
                    on_text(result.text, result)
        result.answered_by = result.answered_by or link
        return totals.finish_reason
    finally:
        stream.close()  # joins the worker thread, also after a stop
        stops.cancels.remove(cancel)


def _take(result: RunResult, totals: StreamTotals) -> None:
    """Copy a link's totals into its run (the row and `on_text` read the result)."""
    result.text, result.ttft_ms = totals.text, totals.ttft_ms
    result.input_tokens, result.output_tokens = totals.input_tokens, totals.output_tokens
    result.usage, result.cost_usd = totals.usage, totals.cost_usd or 0.0


def finished_values(result: RunResult, runtime: str | None) -> dict:
    """The columns a finished generation fills (a `runs` row and a `steps` row alike)."""
    return dict(
        status=result.status,
        output=result.text,
        answered_by=result.answered_by,
        runtime=runtime,
        input_tokens=result.input_tokens,
        output_tokens=result.output_tokens,
        ttft_ms=None if result.ttft_ms is None else round(result.ttft_ms, 2),
        duration_ms=round(result.duration_ms or 0, 2),
        cost_usd=result.cost_usd,
        error=_error_text(result),
        finished_at=now(),
        usage_json=json.dumps(result.usage) if result.usage else None,
        skipped_json=json.dumps(result.skipped) if result.skipped else None,
        schema_valid=None if result.valid is None else int(result.valid),
        waited_ms=None if result.waited_ms is None else round(result.waited_ms, 2),
    )


def _error_text(result: RunResult) -> str | None:
    notes = [f"skipped {s['model']}: {s['reason']}" for s in result.skipped]
    if result.error:
        notes.append(result.error)
    return "; ".join(notes) or None
