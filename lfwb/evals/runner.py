"""Running an eval: every row through every model, each answer scored, all under one parent run.

    >>> report = run_eval(store, manager, project_id, spec, ["smollm2", "gemini-2.5-flash"], "reviews.csv")
    >>> report.table(), report.run_id

Everything is checked before the first row is written (`prepare`): the models, the dataset and
the columns the prompt and checks read, the settings, a pipeline against each model, the
checks' schemas, functions and judges. A fault is one line and nothing is stored.

With `cache` (the default, as a pipeline's), an answer or a verdict whose request repeats an
earlier one (temperature 0 or a seed: lfwb/pipelines/step_cache.py) takes that answer and asks
no model; its report reads latency and cost from the run that answered.

The eval's run (kind `eval`) holds the definition, models and rows (`params_json`); each answer
is a run under it (`generate`, or `pipeline` with every step on the model scored), and so is
each judge's verdict; `eval_scores` holds a row per answer and check. Concurrency is a batch's
and a compare's: a remote model's rows go `REMOTE_CONCURRENCY` at a time, each remote model in
lanes of its own, and local models take turns in one lane (they share the machine). The calling
thread reports progress (a `BatchProgress`, 20 times a second at most) and holds stops: a stop
cancels every lane (each answer ends `cancelled`, unscored), the parent ends `cancelled`, and
`Cancelled` carries the report of what was scored.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections import ChainMap
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from functools import partial
from typing import TYPE_CHECKING, Any

from ..errors import BadInput, check_prompt
from ..handles import Handle
from ..pipelines.batch import REMOTE_CONCURRENCY, BatchProgress
from ..pipelines.compare import is_local
from ..pipelines.executor import POLL_S
from ..stops import Cancelled, Stop, held_stops
from ..store import now
from .checks import Verdict
from .dataset import Dataset, read_rows
from .report import EvalReport, load_report
from .scoring import Scorer, ask
from .spec import EvalSpec, check_settings

if TYPE_CHECKING:
    from ..pipelines.spec import PipelineSpec
    from ..runtimes import GenerationConfig, RuntimeManager
    from ..store import Store

OnProgress = Callable[["EvalProgress"], None]


@dataclass
class EvalProgress(BatchProgress):
    """A batch's progress bar, plus the eval's run once its row exists."""

    run_id: int | None = None


@dataclass
class Prepared:
    """An eval checked against the workspace: what `run_eval` runs."""

    spec: EvalSpec
    models: list[str]
    dataset: Dataset
    settings: dict[str, Any]
    scorer: Scorer
    prompts: list[GenerationConfig] | None  # per row, for a prompt eval
    pipelines: dict[str, PipelineSpec] | None  # per model, for a pipeline eval
    against: int | None
    cache: bool = True  # answers (and verdicts) that repeat themselves come from the step cache


def prepare(
    store: Store,
    manager: RuntimeManager,
    project_id: int,
    spec: EvalSpec,
    models: list[str] | None = None,
    over: Any = None,
    *,
    namespace: Mapping[str, Any] | None = None,
    settings: Mapping[str, Any] | None = None,
    against: int | None = None,
    cache: bool = True,
) -> Prepared:
    """Check everything an eval needs; BadInput (or NotFound) in one line, nothing written."""
    from ..runtimes.base import chat_config
    from ..pipelines.templates import fill_template

    label = f"eval {spec.name!r}"
    models = list(models or spec.models)
    if not models:
        raise BadInput(f"{label}: give the models to score, e.g. models a,b (or `models:` in the definition)")
    for name in models:
        if models.count(name) > 1:
            raise BadInput(f"{label}: {name} is named twice — score each model once")
        manager.resolve(name)  # ModelNotFound: one line with its hint
    source = over if over is not None else spec.dataset
    if source is None:
        raise BadInput(
            f"{label}: give the rows to score: a list or a .csv/.jsonl file (or `dataset:` in the definition)"
        )
    dataset = read_rows(source, namespace)
    for check in spec.checks:
        dataset.need(check.fields, f"check {check.name!r}")
    notebook = namespace or {}
    columns = set(dataset.columns)
    missing = [f for f in spec.prompt_fields if f not in columns and f not in notebook]
    if missing:
        raise BadInput(
            f"{label}: the prompt reads `{{{missing[0]}}}`, which is neither a column of {dataset.where} "
            f"(columns: {', '.join(dataset.columns)}) nor a name in the notebook"
        )
    dataset.need([f for f in spec.prompt_fields if f in columns], "the prompt")
    merged = {**spec.settings, **(settings or {})}
    check_settings(merged, label)
    prompts = pipelines = None
    if spec.prompt is not None:
        system = merged.get("system")
        rest = {k: v for k, v in merged.items() if k != "system"}
        prompts = []
        for i, row in enumerate(dataset.rows, 1):
            values = ChainMap(row, notebook)  # type: ignore[arg-type]  # only read
            text = fill_template(spec.prompt, values)
            check_prompt(text, f"prompt of row {i}")
            prompts.append(chat_config(text, system, **rest))
    else:
        pipelines = {model: _on_model(store, manager, project_id, spec, model, notebook) for model in models}
    if against is not None:
        load_report(store, against)  # an unknown run, or one that is not an eval: one line
    scorer = Scorer(store, manager, project_id, spec.checks, namespace, cache=cache)
    scorer.prepare()
    return Prepared(spec, models, dataset, merged, scorer, prompts, pipelines, against, cache)


def _on_model(
    store: Store, manager: RuntimeManager, project_id: int, spec: EvalSpec, model: str, namespace: Mapping
) -> PipelineSpec:
    """The eval's pipeline with every step on `model`, checked (one line when it cannot run)."""
    from ..pipelines import library
    from ..pipelines.plan import check

    pipeline = library.find(store, spec.pipeline or "")
    moved = replace(pipeline, steps=tuple(replace(s, models=(model,)) for s in pipeline.steps))
    return check(moved, manager, namespace=namespace, store=store, project_id=project_id).spec


def run_eval(prepared: Prepared, store: Store, manager: RuntimeManager, project_id: int, **options: Any) -> EvalReport:
    """Run a prepared eval (see the module docstring); options: namespace, on_progress, stop."""
    return _Eval(prepared, store, manager, project_id).run(**options)


class _Eval:
    def __init__(self, prepared: Prepared, store: Store, manager: RuntimeManager, project_id: int):
        self.p, self.store, self.manager, self.project_id = prepared, store, manager, project_id
        self.stopping = threading.Event()
        self.wake = threading.Event()
        self.lock = threading.Lock()
        self.lanes: list[Handle] = []
        self.run_id = 0

    def run(
        self,
        namespace: Mapping[str, Any] | None = None,
        on_progress: OnProgress | None = None,
        stop: Stop | None = None,
    ) -> EvalReport:
        p, store = self.p, self.store
        self.namespace = namespace
        jobs = self._lanes()
        self.progress = progress = EvalProgress(len(p.models) * len(p.dataset), len(jobs))
        start = time.perf_counter()
        with held_stops(stop) as stops, store.kept_open():
            stops.cancels.append(self.wake)  # a stop wakes the loop at once
            self.run_id = progress.run_id = store.add_run(
                self.project_id,
                "eval",
                model=",".join(p.models),
                prompt=p.spec.prompt if p.spec.prompt is not None else f"pipeline {p.spec.pipeline}",
                params_json=self._params(),
                status="running",
            )["id"]
            try:
                if on_progress is not None:
                    on_progress(progress)
                self.lanes = [Handle(partial(self._lane, q)) for q in jobs]
                for lane in self.lanes:
                    lane.start()
                while not all(lane.done for lane in self.lanes):
                    self.wake.wait(POLL_S)
                    self.wake.clear()
                    if stops.take():
                        self.stop()
                    if on_progress is not None:
                        on_progress(progress)
            finally:
                self.stop(quietly=True)
                for lane in self.lanes:
                    lane.wait()
                stops.cancels.remove(self.wake)
                self._finish(start)
        for lane in self.lanes:
            if lane.status == "failed":
                lane.result()  # a fault of lfwb's own (the store went away): raised, not swallowed
        report = load_report(store, self.run_id)
        if p.against is not None:
            report.against(load_report(store, p.against))
        if self.stopping.is_set():
            raise Cancelled(
                f"eval cancelled (run {self.run_id}): {progress.ended} of {progress.total} answers scored",
                result=report,
            )
        return report

    def _lanes(self) -> list[queue.SimpleQueue]:
        """The jobs (model, row) per lane: one lane for every local model in turn, and
        REMOTE_CONCURRENCY lanes sharing each remote model's rows."""
        rows = range(len(self.p.dataset))
        local = [m for m in self.p.models if is_local(self.manager, m)]
        lanes: list[queue.SimpleQueue] = []
        if local:
            lanes.append(queue.SimpleQueue())
            for model in local:
                for i in rows:
                    lanes[0].put((model, i))
        for model in self.p.models:
            if model not in local:
                shared: queue.SimpleQueue = queue.SimpleQueue()
                for i in rows:
                    shared.put((model, i))
                lanes.extend([shared] * min(REMOTE_CONCURRENCY, len(rows)))
        return lanes

    def _params(self) -> dict:
        p = self.p
        rows = json.loads(json.dumps(p.dataset.rows, default=str))  # a DataFrame's numbers as JSON
        return {
            "eval": p.spec.name,
            "version": p.spec.version,
            "definition": p.spec.source,
            "models": p.models,
            "checks": [c.name for c in p.spec.checks],
            "settings": p.settings,
            "rows": rows,
            "against": p.against,
        }

    def stop(self, quietly: bool = False) -> None:
        if quietly and all(lane.done for lane in self.lanes):
            return
        self.stopping.set()
        for lane in self.lanes:
            lane.cancel()

    def _lane(self, jobs: queue.SimpleQueue, lane: Handle) -> None:
        while not self.stopping.is_set():
            try:
                model, index = jobs.get_nowait()
            except queue.Empty:
                return
            with self.lock:
                self.progress.running += 1
            try:
                self._score(model, index, lane.stop)
            finally:
                with self.lock:
                    self.progress.running -= 1
                self.wake.set()

    def _score(self, model: str, index: int, stop: Stop) -> None:
        from ..store.evals import add_scores

        row = self.p.dataset.rows[index]
        run_id, text, status, error = self._ask(model, index, stop)
        if status == "cancelled" or self.stopping.is_set() and status != "done":
            return  # stopped: not scored, not counted
        if status == "done":
            verdicts = self.p.scorer.score(text, row, parent_id=self.run_id, stop=stop)
        else:
            why = f"no answer ({status}): {(error or '').splitlines()[0] if error else status}"
            verdicts = {c.name: Verdict(False, why) for c in self.p.spec.checks}
        add_scores(
            self.store,
            [
                dict(eval_run_id=self.run_id, row_index=index, model=model, answer_run_id=run_id, check_name=name,
                     passed=v.passed, reason=v.reason, judge_run_id=v.judge_run_id)
                for name, v in verdicts.items()
            ],
        )  # fmt: skip
        with self.lock:
            self.progress.ended += 1
            self.progress.done += status == "done"
            self.progress.failed += status != "done"

    def _ask(self, model: str, index: int, stop: Stop) -> tuple[int | None, str, str, str | None]:
        """(run id, text, status, error) of `model`'s answer to row `index`."""
        if self.p.pipelines is not None:
            return self._ask_pipeline(model, index, stop)
        assert self.p.prompts is not None
        gen = self.p.prompts[index]
        started: list[Any] = []
        try:
            run = ask(
                self.store, self.manager, self.project_id, model, gen,
                parent_id=self.run_id, stop=stop, cache=self.p.cache, on_start=started.append,
            )  # fmt: skip
        except Cancelled:
            return (started[0].run_id if started else None), "", "cancelled", None
        except Exception as e:  # this answer's failure; the other rows and models go on
            kept = started[0].run_id if started and self._kept(started[0].run_id) else None
            return kept, "", "failed", f"{type(e).__name__}: {e}"
        return run.run_id, run.text, run.status, run.error

    def _ask_pipeline(self, model: str, index: int, stop: Stop) -> tuple[int | None, str, str, str | None]:
        from ..pipelines.executor import run_pipeline

        assert self.p.pipelines is not None
        adopted: list[int] = []

        def adopt(result: Any) -> None:  # under the eval's run from its first update on
            if not adopted:
                adopted.append(result.run_id)
                self.store.update_run(result.run_id, parent_id=self.run_id)

        settings = {k: v for k, v in self.p.settings.items()} or None
        try:
            result = run_pipeline(
                self.store, self.manager, self.project_id, self.p.pipelines[model], self.p.dataset.rows[index]["input"],
                namespace=self.namespace, settings=settings, on_update=adopt, stop=stop, cache=self.p.cache,
            )  # fmt: skip
        except Cancelled:
            return (adopted[0] if adopted else None), "", "cancelled", None
        except Exception as e:
            return (adopted[0] if adopted else None), "", "failed", f"{type(e).__name__}: {e}"
        adopt(result)
        text = list(result.steps.values())[-1].text if result.steps else ""
        return result.run_id, text, result.status, result.error

    def _kept(self, run_id: int) -> bool:
        return bool(self.store.query("SELECT 1 FROM runs WHERE id = ?", (run_id,)))

    def _finish(self, start: float) -> None:
        from ..store.evals import child_runs

        children = child_runs(self.store, self.run_id).values()
        answered = self.progress.done > 0
        status = "cancelled" if self.stopping.is_set() else ("done" if answered else "failed")
        errors = [r["error"] for r in children if r["error"]]
        self.store.update_run(
            self.run_id,
            status=status,
            output_tokens=sum(r["output_tokens"] or 0 for r in children),
            cost_usd=sum(r["cost_usd"] or 0.0 for r in children),
            duration_ms=round((time.perf_counter() - start) * 1000, 2),
            finished_at=now(),
            error=(errors[0].splitlines()[0] if errors else "no model answered") if status == "failed" else None,
        )
