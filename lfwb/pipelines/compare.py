"""One prompt to several models side by side: a run per model, grouped under a parent run.

    >>> result = compare(wb, "Name a colour.", ["smollm2", "gemini-2.5-flash"], max_tokens=20)
    >>> result.results["smollm2"].text, result.results["gemini-2.5-flash"].ttft_ms, result.run_id

Remote models (their runtime is not local) are asked at once, each in a lane of its own (a
`Handle`, lfwb/handles.py: its worker asks, its `cancel()` stops). Local models take turns in one
more lane, alongside the remote ones: two local models at once would
share the same cores and memory, and each one's tok/s and TTFT would measure the other too.
Every model's answer is recorded by `runs.record_generation` as a `generate` run whose
`parent_id` is the compare's own run (kind `compare`). A model that fails keeps its error in its
column and the others go on; the parent ends `done` if any model answered, else `failed`.

Comparing needs two models or more: one model is `%%lfw generate`, and a lone name is more often
`-m a b` mistyped than meant. Bad input (no models, an unknown or repeated one, a bad setting, an
empty prompt) is refused before any row is written.

A stop (SIGINT) is held as a generation's is (`stops.held_stops`) and cancels every column at once:
each row is finished `cancelled` with its text so far, a local model still waiting for its turn
is not asked (it gets no row), the parent is finished, then `Cancelled` stops the cell with one line.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from ..errors import BadInput, NotFound, check_prompt
from ..handles import Handle
from ..runs import RunResult, record_generation, tokens_text
from ..runtimes.keys import redact
from ..stops import Cancelled, Stop, held_stops
from ..store import now
from ..untrusted import NO_MATH, escape

if TYPE_CHECKING:
    import weakref

    from IPython.core.interactiveshell import ExecutionResult

    from ..runtimes import GenerationConfig, RuntimeManager
    from ..workbench import Workbench

OnCompare = Callable[["CompareResult"], None]

WAITING, NOT_ASKED = "waiting", "not asked"


@dataclass
class CompareResult:
    """The models' answers side by side. `results[model]` is each one's `RunResult` (its
    `run_id` is None when no row was kept: refused before sending, or not asked after a stop);
    `run_id` is the parent run. In a notebook it renders as columns, in a terminal as blocks."""

    run_id: int
    prompt: str
    results: dict[str, RunResult]
    status: str = "running"
    duration_ms: float | None = None

    # The cell whose output already shows this result (see runs.mark_shown).
    shown_in: weakref.ref[ExecutionResult] | None = field(default=None, repr=False, compare=False)

    @property
    def models(self) -> list[str]:
        return list(self.results)

    @property
    def cost_usd(self) -> float:
        return sum(r.cost_usd for r in self.results.values())

    def metadata(self) -> dict:
        runs = {m: r.run_id for m, r in self.results.items()}
        return {"lfwb": {"run_id": self.run_id, "kind": "compare", "runs": runs, "status": self.status}}

    def as_text(self) -> str:
        return "\n\n".join(column_text(r) for r in self.results.values())

    def _repr_html_(self) -> str:
        columns = "".join(column_html(r) for r in self.results.values())
        # Answers and errors are escaped in column_html; MathJax must not typeset them either.
        return (
            f'<div class="lfwb-compare {NO_MATH}" style="display:flex;gap:1em;align-items:flex-start">{columns}</div>'
        )

    def _repr_mimebundle_(self, include=None, exclude=None) -> tuple[dict, dict]:
        return {"text/plain": self.as_text(), "text/html": self._repr_html_()}, self.metadata()

    # Shown from a later cell it renders; returned by the %%lfw cell that streamed it, it is
    # not shown twice. The rule is RunResult's own, through `shown_in`.
    _ipython_display_ = RunResult._ipython_display_


def stats_line(result: RunResult) -> str:
    """What goes under a column: tokens, tok/s, TTFT and cost — or why there is nothing."""
    if result.status == NOT_ASKED:
        return "not asked: stopped before its turn"
    if result.status == WAITING:
        return "waiting…"
    parts = [tokens_text(result.output_tokens)]
    if result.tokens_per_second is not None:
        parts.append(f"{result.tokens_per_second:.1f} tok/s")
    if result.ttft_ms is not None:
        parts.append(f"TTFT {result.ttft_ms:.0f} ms")
    parts.append(f"${result.cost_usd:.4f}" if result.cost_usd else "$0")
    if result.status in ("cancelled", "running"):
        parts.append(result.status)
    return " · ".join(parts)


def error_line(result: RunResult) -> str | None:
    """A failed model's error, on one line."""
    return result.error.splitlines()[0] if result.error else None


def column_text(result: RunResult) -> str:
    title = result.model + (f" (run {result.run_id})" if result.run_id is not None else "")
    lines = (f"── {title} ──", result.text, f"[{stats_line(result)}]", error_line(result))
    return "\n".join(line for line in lines if line)


def column_html(result: RunResult) -> str:
    error = error_line(result)
    error = f'<div style="color:#c62828">{escape(error)}</div>' if error else ""
    return (
        '<div class="lfwb-compare-column" style="flex:1;min-width:0">'
        f"<div><b>{escape(result.model)}</b></div>"
        # JupyterLab breaks an output's <pre> anywhere (word-break: break-all): "th|at" in a narrow
        # column. Wrap between words; a word longer than the column still breaks rather than overflow.
        '<pre style="white-space:pre-wrap;word-break:normal;overflow-wrap:anywhere;margin:0.3em 0">'
        f"{escape(result.text)}</pre>"
        f'<div style="font-size:0.85em;opacity:0.8">{escape(stats_line(result))}</div>{error}</div>'
    )


def check_models(wb: Workbench, models: list[str]) -> None:
    """Refuse a model list that cannot be compared (one line, before any row)."""
    if not models:
        raise BadInput("give the models to compare: -m MODEL,MODEL (see %lfw models)")
    for name in models:
        if models.count(name) > 1:
            raise BadInput(f"{name} is named twice — compare each model once")
    if len(models) < 2:
        raise BadInput(f"compare needs two models or more, got only {models[0]} — for one, use %%lfw generate")
    for name in models:
        wb.manager.resolve(name)  # ModelNotFound: one line with its hint


def is_local(manager: RuntimeManager, name: str) -> bool:
    """Does `name` (a model, or an alias's chain) run on this machine? Then it takes turns."""
    links = [link for link in manager.resolve(name) if link in manager]
    return any(manager.backend(manager.config(link).runtime).local for link in links)


def compare(
    wb: Workbench,
    prompt: str,
    models: list[str],
    *,
    system: str | None = None,
    on_start: OnCompare | None = None,
    on_update: OnCompare | None = None,
    stop: Stop | None = None,
    **settings: Any,
) -> CompareResult:
    """Ask every model in `models` the same `prompt`; see the module docstring.

    `settings` are GenerationConfig fields, the same for every model. `on_start(result)` is
    called once the parent row exists, `on_update(result)` after each piece of text and each
    model's end — both on the calling thread.
    """
    from ..runtimes.base import chat_config

    check_prompt(prompt)
    models = list(models)
    check_models(wb, models)
    gen = chat_config(prompt, system, **settings)  # a bad setting is refused here, before any row
    return _Comparison(wb, prompt, models, gen).run(on_start, on_update, stop)


class _Comparison:
    """One compare while it runs: the lanes' handles report on a queue the caller's thread reads."""

    def __init__(self, wb: Workbench, prompt: str, models: list[str], gen: GenerationConfig):
        self.wb, self.store, self.project_id = wb, wb.store, wb.project_id
        self.prompt, self.models, self.gen = prompt, models, gen
        self.events: queue.Queue = queue.Queue()
        self.stopping = threading.Event()
        self.lanes: list[Handle] = []

    def run(self, on_start: OnCompare | None, on_update: OnCompare | None, stop: Stop | None = None) -> CompareResult:
        store, gen = self.store, self.gen
        local = [m for m in self.models if is_local(self.wb.manager, m)]
        lanes = [[m] for m in self.models if m not in local] + ([local] if local else [])
        # A lane's worker gets no SIGINT: its models are stopped through its handle's Stop.
        self.lanes = [Handle(partial(self._lane, lane)) for lane in lanes]
        start = time.perf_counter()
        with held_stops(stop) as stops, store.kept_open():
            stops.cancels.append(self)  # a stop from another thread wakes the loop below (`set`)
            parent = store.add_run(
                self.project_id,
                "compare",
                model=",".join(self.models),
                prompt=redact(self.prompt),  # a pasted key is kept nowhere (lfwb/runs.py RunSink does the same)
                params_json=redact(json.dumps(gen.params())),
                seed=gen.seed,
                status="running",
            )
            placeholders = {m: RunResult(run_id=None, text="", model=m, status=WAITING) for m in self.models}
            self.result = result = CompareResult(run_id=parent["id"], prompt=self.prompt, results=placeholders)
            try:
                if on_start is not None:
                    on_start(result)
                for lane in self.lanes:
                    lane.start()
                ended = 0
                while ended < len(self.models):
                    try:
                        kind, model, value = stops.next(iter(self.events.get, None), None)
                    except KeyboardInterrupt:
                        self.stop()
                        continue
                    if kind == "stop":
                        self.stop()
                        continue
                    result.results[model] = value
                    ended += kind == "end"
                    if on_update is not None:
                        on_update(result)
            finally:
                self.stop(quietly=True)  # only if something failed here: the lanes then end soon
                for lane in self.lanes:
                    lane.wait()  # returns at once for a lane never started
                self._finish(result, start)
            stops.cancels.remove(self)
            if self.stopping.is_set():
                stops.take()  # answered: every lane was stopped
                raise Cancelled(self._cancelled_line(), result=result)
        return result

    def set(self) -> None:
        """The run's Stop was stopped (the loop may be waiting on the lanes' queue)."""
        self.events.put(("stop", None, None))

    def stop(self, quietly: bool = False) -> None:
        """Cancel every model (`quietly`: only when the lanes have not all ended already)."""
        if quietly and all(r.status not in (WAITING, "running") for r in self.result.results.values()):
            return
        self.stopping.set()
        for lane in self.lanes:
            lane.cancel()

    def _lane(self, models: list[str], lane: Handle) -> None:
        """Ask `models` one after another (a remote model's lane holds only it), stopped
        through the lane's handle."""
        for model in models:
            if self.stopping.is_set():
                self._report("end", model, RunResult(run_id=None, text="", model=model, status=NOT_ASKED))
                continue
            self._report("end", model, self._ask(model, lane.stop))

    def _ask(self, model: str, stop: Stop) -> RunResult:
        started: list[RunResult] = []

        def on_start(run: RunResult) -> None:
            started.append(run)
            self._report("start", model, run)

        try:
            run = record_generation(
                self.store,
                self.wb.manager,
                self.project_id,
                model,
                self.gen,
                prompt=self.prompt,
                parent_id=self.result.run_id,
                on_start=on_start,
                stop=stop,
                on_text=lambda text, run: self._report("text", model, run),
            )
        except Cancelled:  # its row is finished, `cancelled` with its text so far
            return started[0]
        except BaseException as e:  # its column shows it; the other models go on
            run = started[0] if started else RunResult(run_id=None, text="", model=model)
            run.status = "failed"
            run.error = run.error or f"{type(e).__name__}: {e}"
            if run.run_id is not None and not self._kept(run.run_id):
                run.run_id = None  # refused before sending: record_generation kept no row
        return run

    def _kept(self, run_id: int) -> bool:
        try:
            self.store.get_run(run_id)
            return True
        except NotFound:
            return False

    def _report(self, kind: str, model: str, run: RunResult) -> None:
        self.events.put((kind, model, run))

    def _finish(self, result: CompareResult, start: float) -> None:
        runs = list(result.results.values())
        if self.stopping.is_set():
            result.status = "cancelled"
        else:
            result.status = "done" if any(r.status == "done" for r in runs) else "failed"
        errors = [f"{r.model}: {r.error}" for r in runs if r.error]
        result.duration_ms = (time.perf_counter() - start) * 1000
        self.store.update_run(
            result.run_id,
            status=result.status,
            output_tokens=sum(r.output_tokens for r in runs),
            cost_usd=result.cost_usd,
            duration_ms=round(result.duration_ms, 2),
            finished_at=now(),
            error="; ".join(errors) if result.status == "failed" else None,
        )

    def _cancelled_line(self) -> str:
        parts = []
        for r in self.result.results.values():
            if r.status == NOT_ASKED:
                parts.append(f"{r.model} not asked")
            else:
                parts.append(f"{r.model} after {tokens_text(r.output_tokens)}")
        return f"compare cancelled (run {self.result.run_id}): " + ", ".join(parts)
