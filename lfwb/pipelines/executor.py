"""Running a pipeline: its steps in dependency order, independent ones at the same time.

    >>> result = run_pipeline(store, manager, project_id, spec, input="a login form")
    >>> result.steps["jsx"].text, result.run_id, result.status

The definition is checked against the workspace first (`plan.check`): a fault is one
`PipelineError` and nothing runs, no row is written. Then one `runs` row (kind `pipeline`) and
one `steps` row per step. Each step is a generation recorded by `runs.record_generation` into
its step row (a `StepSink`), on a thread of its own as soon as the steps it needs are done, so
flushes, fallback chains, budgets and stops work as for `%%lfw generate`. Steps on one local
model take turns (the model's lock); a local model that cannot fit beside a busy one waits for
it (`wait_for_room`). A finished step's fenced code becomes artifacts of the run, and its text
and code fill the prompts of the steps after it.

A step with `schema:` is decoded under it and its answer parsed (`StepResult.data`, and
`{steps.X.data.FIELD}` for later steps); one with `check:` is checked (checks.py). An answer
refused by either fails the step, unless `retries:` allow another attempt: a new row for the
step, its prompt with the refusal appended and a new seed. The last attempt is the step. A step
with `render:` is decoded under its renderer's schema, and its artifact is the code the renderer
makes of the answer (`render: ui-spec`: a React component, ui_spec.py), not the answer's fences.

A step that would repeat itself (temperature 0, or a fixed seed) and whose filled prompt, models,
settings, check and renderer match a step the project has finished is not run: it takes that
step's answer and artifacts, marked `cached` (step_cache.py; `cache=False` runs every step).

A failed step fails the run (with its error) and skips the steps that need it; the others go on.
A stop (SIGINT on the calling thread, or its `Stop` from another) cancels every running step — each keeps its
partial text — marks the steps not started `cancelled`, finishes the rows and raises `Cancelled`.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ..errors import BadInput, PipelineError, check_text
from ..runs import RunResult, RunSink, finished_values, record_generation, tokens_text
from ..sent import keep_request
from ..stops import Cancelled, Stop, held_stops
from ..runtimes.base import MAX_SEED
from ..runtimes.keys import redact
from ..store import now
from .artifacts import extract_artifacts
from .checks import Check, read_answer, retry_prompt
from .result import ENDED, FINISHED, NOT_RUN, PipelineResult, StepResult
from .plan import Plan, check
from .spec import PipelineSpec, StepSpec
from .step_cache import cache_key, step_source, take_answer
from .ui_spec import RENDERERS

if TYPE_CHECKING:
    from ..runtimes import GenerationConfig, RuntimeManager
    from ..store import Store

POLL_S = 0.05  # how often the caller's `on_update` sees progress (a cell redraws 20 times a second)

OnUpdate = Callable[[PipelineResult], None]


class StepSink(RunSink):
    """`record_generation` writing into a step's row (and its live `StepResult`)."""

    def __init__(self, store: Store, run_id: int, step: StepResult, read: Callable[[str], tuple] | None = None):
        self.store, self.run_id, self.step = store, run_id, step
        self.read = read  # an answer → (why it is refused or None, its data): schema and check
        self.finished = False
        self.refusal: str | None = None
        self.data: Any = None

    def open(self, model: str, prompt: str, gen: GenerationConfig) -> int:
        self.step.status, self.step.prompt, self.step.started = "running", prompt, time.perf_counter()
        # A key pasted into the input is not kept, as in a run's own row (RunSink.open).
        values = {"prompt": redact(prompt), "params_json": redact(json.dumps(gen.params()))}
        self.store.update_step(self.step.step_id, status="running", started_at=now(), **values)
        return self.run_id  # a step's result names its pipeline run

    def owner(self) -> tuple[int, int | None]:
        return self.run_id, self.step.step_id

    def flush(self, result: RunResult) -> None:
        self.store.flush_step_output(self.step.step_id, result.text, result.output_tokens)

    def turn(self, result: RunResult) -> None:
        self.step.waited_ms = result.waited_ms  # until now it waited for its model (a step's row shows it)

    def finish(self, result: RunResult, runtime: str | None, refused: bool) -> None:
        # A refused step (over budget, prompt too long) is kept, failed: the run says why it stopped.
        values = finished_values(result, runtime)
        if result.status == "done" and self.read is not None:
            self.refusal, self.data = self.read(result.text)
            if self.refusal is not None:  # the row goes from running to failed, never shown done
                notes = f"; {values['error']}" if values["error"] else ""  # links a fallback skipped
                values.update(status="failed", error=self.refusal + notes)
        self.store.update_step(self.step.step_id, **values)
        if result.cost_usd:  # the project budget counts a pipeline's spending step by step
            self.store.update_run(self.run_id, cost_usd=self.store.steps_cost(self.run_id))
        self.finished = True
        follow(self.step, result)
        self.step.status, self.step.error = values["status"], values["error"]
        self.step.duration_ms = values["duration_ms"]


def follow(step: StepResult, result: RunResult) -> None:
    """Copy a streaming generation's progress into its step (read by the caller's thread)."""
    step.text, step.answered_by = result.text, result.answered_by
    step.input_tokens, step.output_tokens = result.input_tokens, result.output_tokens
    step.ttft_ms, step.cost_usd = result.ttft_ms, step.earlier_cost_usd + result.cost_usd


def run_pipeline(
    store: Store,
    manager: RuntimeManager,
    project_id: int,
    spec: str | Mapping | PipelineSpec,
    input: str = "",
    *,
    namespace: Mapping[str, Any] | None = None,
    settings: Mapping[str, Any] | None = None,
    on_update: OnUpdate | None = None,
    stop: Stop | None = None,
    reuse: Mapping[str, dict] | None = None,
    cache: bool = True,
) -> PipelineResult:
    """Run `spec` on `input` and record it; returns the `PipelineResult` (done or failed).

    `settings` override every step's generation settings (e.g. `max_tokens`); `on_update` is
    called on this thread with the result as it fills in; `stop.stop()` stops the run from
    another thread; `reuse` (step → its row in an earlier run) takes those steps' outputs instead of
    running them (see `rerun_pipeline`); `cache=False` runs every step, none taken from the step
    cache (the answers still become the cache's). Raises `Cancelled` (its `result`: the steps as they ended) once the rows are finished.
    """
    check_text(input, "the input")  # before any row: SQLite cannot store it
    plan = check(spec, manager, namespace=namespace, store=store, project_id=project_id)
    spec = plan.spec
    steps = {s.name: _with_settings(s, settings or {}, spec.label) for s in plan.order}
    reuse = {k: v for k, v in (reuse or {}).items() if k in steps}
    params = {
        "pipeline": spec.name,
        "version": spec.version,
        "input": input,
        "settings": dict(settings or {}),
        "definition": spec.to_dict(),
    }
    with held_stops(stop) as stops, store.kept_open():
        run_id = store.add_run(
            project_id,
            "pipeline",
            prompt=redact(input),
            params_json=redact(json.dumps(params)),
            status="running",
            pipeline_id=spec.pipeline_id,
        )["id"]
        result = PipelineResult(run_id, spec.name or "pipeline", {})
        for position, s in enumerate(plan.order):
            row = store.add_step(run_id, position, s.name, model=", ".join(s.models))
            result.steps[s.name] = StepResult(s.name, ", ".join(s.models), row["id"])
        run = _Run(store, manager, project_id, plan, steps, input, result, stops, cache)
        start = time.perf_counter()
        try:
            for name, old in reuse.items():
                run.serve(name, old, "reused")
            run.drive(on_update)
        finally:
            run.finish(time.perf_counter() - start)
        if on_update is not None:
            on_update(result)
        stops.after = f"stopped after pipeline run {run_id} had ended ({result.status}; every step kept)"
        if result.status == "cancelled":
            raise Cancelled(run.cancelled_line(), result=result)
    return result


def _with_settings(step: StepSpec, settings: Mapping[str, Any], label: str) -> StepSpec:
    if not settings:
        return step
    changed = replace(step, settings={**step.settings, **settings})
    try:
        changed.generation("check")
    except (BadInput, TypeError, ValueError) as e:
        raise PipelineError(f"{label}, step {step.name!r}: {e}") from None
    return changed


class _Run:
    """One pipeline run in progress: which steps may start, their threads, the stop."""

    def __init__(
        self,
        store: Store,
        manager: RuntimeManager,
        project_id: int,
        plan: Plan,
        steps: dict[str, StepSpec],
        input: str,
        result: PipelineResult,
        stops: Stop,
        cache: bool = True,
    ):
        self.store, self.manager, self.project_id, self.plan = store, manager, project_id, plan
        self.specs, self.input, self.result, self.stops, self.cache = steps, input, result, stops, cache
        self.keys: dict[str, str] = {}  # step → its cache key, when its answer may repeat
        self.wake = threading.Event()  # set when a step ends or a stop arrives
        self.holds: dict[str, Stop] = {}
        self.kinds: dict[str, dict[str, str]] = {}  # step → artifact kind → its code, for templates
        self.data: dict[str, Any] = {}  # step → its parsed answer (a `schema:` step), for templates
        self.running: dict[str, Future] = {}
        self.ended: set[str] = set()
        self.stopping = False

    @property
    def run_id(self) -> int:
        return self.result.run_id

    def serve(self, name: str, old: dict, status: str) -> None:
        """Finish step `name` with the answer of an earlier step row `old`, without running it:
        `reused` (a rerun's step before its `from`) or `cached` (the cache found its key)."""
        step = self.result.steps[name]
        take_answer(self.store, step, old, status)
        self._keep_artifacts(name, step.text, self.specs[name].check)
        schema = self.plan.schemas.get(name)
        if schema is not None:
            refusal, step.data = read_answer(step.text, schema, None)
            self.data[name] = step.data if refusal is None else None
        self.ended.add(name)

    def drive(self, on_update: OnUpdate | None) -> None:
        self.stops.cancels.append(self.wake)  # a stop wakes the loop at once
        pool = ThreadPoolExecutor(max_workers=len(self.specs), thread_name_prefix="lfwb-step")
        try:
            while True:
                for name, job in list(self.running.items()):
                    if job.done():
                        del self.running[name]
                        self.ended.add(name)
                if not self.stopping:
                    self._start_ready(pool)
                if not self.running:
                    break
                if on_update is not None:
                    on_update(self.result)
                self.wake.wait(POLL_S)
                self.wake.clear()
                if not self.stopping and self.stops.take():
                    self.stop()
        except BaseException:
            self.stop()  # never leave a step running behind an error
            raise
        finally:
            pool.shutdown(wait=True)  # each stopped step ends soon after its cancel
            self.stops.cancels.remove(self.wake)
        if self.stopping:
            for step in self.result.steps.values():
                if step.status == "pending":
                    self._end(step, "cancelled", "the run was stopped before this step started")

    def _start_ready(self, pool: ThreadPoolExecutor) -> None:
        for spec in self.specs.values():  # in plan order: a skip reaches its dependants in one pass
            step = self.result.steps[spec.name]
            if step.status != "pending" or spec.name in self.running:
                continue
            needs = [self.result.steps[n] for n in spec.needs]
            lost = [n for n in needs if n.name in self.ended and n.status not in FINISHED]
            if lost:
                self._end(step, "skipped", f"needs {lost[0].name}, which {_ended_as(lost[0].status)}")
                self.ended.add(spec.name)
            elif all(n.name in self.ended for n in needs):
                if self._from_cache(spec):  # ended here: its dependants may start in this same pass
                    self.ended.add(spec.name)
                    continue
                self.holds[spec.name] = Stop()
                self.running[spec.name] = pool.submit(self._run_step, spec, step, self.holds[spec.name])

    def _prompt(self, spec: StepSpec) -> tuple[str, dict[str, Any]]:
        """The step's prompt, filled from the steps before it, and its settings' changes (schema)."""
        outputs = {n: self.result.steps[n].text for n in spec.needs}
        prompt = self.plan.prompt(spec.name, self.input, outputs, self.kinds, self.data)
        schema = self.plan.schemas.get(spec.name)
        return prompt, ({"json_schema": schema.json_schema} if schema is not None else {})

    def _from_cache(self, spec: StepSpec) -> bool:
        """Finish the step from the cache when an earlier step had its key; note the key either way."""
        try:
            prompt, changes = self._prompt(spec)
            models = self.plan.models[spec.name]
            written = spec.check.written if spec.check is not None else None
            gen = spec.generation(prompt, **changes)
            key = cache_key(self.manager, models, gen, check=written, render=spec.render)
        except Exception:
            return False  # the step's own thread meets the error again and records it
        if key is None:
            return False
        self.keys[spec.name] = key
        source = step_source(self.store, self.project_id, key) if self.cache else None
        if source is not None:
            self.serve(spec.name, source, "cached")
            keep_request(self.store, self.run_id, self.result.steps[spec.name].step_id, gen)  # what it asked
        return source is not None

    def _run_step(self, spec: StepSpec, step: StepResult, hold: Stop) -> None:
        sink = StepSink(self.store, self.run_id, step)
        try:
            prompt, changes = self._prompt(spec)
            schema = self.plan.schemas.get(spec.name)
            checked = schema is not None or spec.check is not None
            asked = prompt
            for attempt in range(1, spec.retries + 2):
                if attempt > 1:
                    if self.stopping:
                        break  # the step stays as its last attempt ended
                    asked = retry_prompt(prompt, sink.refusal or "")
                    changes["seed"] = _retry_seed(spec.settings.get("seed"), attempt)
                    self._next_attempt(spec, step, attempt)
                sink = StepSink(
                    self.store,
                    self.run_id,
                    step,
                    (lambda text: read_answer(text, schema, spec.check)) if checked else None,
                )
                done = record_generation(
                    self.store,
                    self.manager,
                    self.project_id,
                    self.plan.models[spec.name],
                    spec.generation(asked, **changes),
                    prompt=asked,
                    on_text=lambda text, r: follow(step, r),
                    sink=sink,
                    stop=hold,
                    wait_for_room=True,
                )
                if sink.refusal is None:
                    break
            if sink.refusal is None:
                step.data = sink.data
                self.data[spec.name] = sink.data
                self._keep_artifacts(spec.name, done.text, spec.check)
                if spec.name in self.keys:  # finished: a source for the cache from now on
                    self.store.update_step(step.step_id, cache_key=self.keys[spec.name])
        except Cancelled:
            pass  # the sink has recorded it cancelled, with its partial text
        except Exception as e:
            # It failed before its generation began (e.g. filling the prompt), or between attempts.
            if not sink.finished or sink.refusal is not None:
                self._end(step, "failed", f"{type(e).__name__}: {e}")
        finally:
            if not sink.finished and step.status not in ENDED:
                self._end(step, "cancelled", None)
            self.wake.set()

    def _next_attempt(self, spec: StepSpec, step: StepResult, attempt: int) -> None:
        """A new row for the step's next attempt; the earlier one stays as it ended."""
        position = [s.name for s in self.plan.order].index(spec.name)
        row = self.store.add_step(self.run_id, position, spec.name, model=step.model, attempt=attempt)
        step.earlier_cost_usd = step.cost_usd
        step.step_id, step.attempts, step.status, step.error = row["id"], attempt, "pending", None
        step.waited_ms = None

    def _keep_artifacts(self, name: str, text: str, check: Check | None = None) -> None:
        render = self.specs[name].render
        if render is not None:  # the answer is a spec: its artifact is the code rendered from it
            text = RENDERERS[render].answer(text)
        found = check.labelled(text) if check is not None else extract_artifacts(text)
        kinds: dict[str, list[str]] = {}
        for artifact in found:
            kinds.setdefault(artifact.kind, []).append(artifact.content)
        self.kinds[name] = {k: "\n\n".join(v) for k, v in kinds.items()}
        self.store.add_artifacts(self.project_id, self.run_id, [a.row() for a in found])

    def _end(self, step: StepResult, status: str, error: str | None) -> None:
        step.status, step.error = status, error
        self.store.update_step(step.step_id, status=status, error=error, finished_at=now())

    def stop(self) -> None:
        self.stopping = True
        for hold in list(self.holds.values()):
            hold.stop()

    def finish(self, seconds: float) -> None:
        """Finish the run's row: its status from its steps', totals, the last step's text."""
        steps = list(self.result.steps.values())
        for step in steps:  # only after an error in this loop itself: nothing may stay open
            if step.status in ("pending", "running"):
                self._end(step, "cancelled", step.error)
        failed = [s for s in steps if s.status == "failed"]
        if self.stopping or any(s.status == "cancelled" for s in steps):
            status = "cancelled"
        else:
            status = "failed" if failed else "done"
        self.result.status = status
        self.result.error = f"step {failed[0].name}: {failed[0].error}" if failed else None
        self.result.duration_ms = seconds * 1000
        ran = [s for s in steps if s.status not in NOT_RUN]
        self.store.update_run(
            self.run_id,
            status=status,
            output=steps[-1].text,
            error=self.result.error,
            input_tokens=sum(s.input_tokens or 0 for s in ran) if any(s.input_tokens for s in ran) else None,
            output_tokens=sum(s.output_tokens or 0 for s in ran),
            cost_usd=self.result.cost_usd,
            duration_ms=round(seconds * 1000, 2),
            finished_at=now(),
        )
        self.result.artifacts = list(reversed(self.store.list_artifacts(run_id=self.run_id)))

    def cancelled_line(self) -> str:
        steps = self.result.steps.values()
        stopped = [
            f"{s.name} after {tokens_text(s.output_tokens)}"
            for s in steps
            if s.status == "cancelled" and s.started is not None
        ]
        done = [s.name for s in steps if s.status in FINISHED]
        line = f"cancelled pipeline run {self.run_id}"
        if stopped:
            line += ": stopped " + ", ".join(stopped)
        return line + (f"; kept {', '.join(done)}" if done else "")


def _retry_seed(seed: int | None, attempt: int) -> int:
    """A retry's seed: the step's own moved on by the attempt (so a rerun repeats it), else random."""
    if seed is None:
        return random.randrange(MAX_SEED + 1)
    return (seed + attempt - 1) % (MAX_SEED + 1)


def _ended_as(status: str) -> str:
    return {"failed": "failed", "cancelled": "was cancelled", "skipped": "was skipped"}.get(status, status)
