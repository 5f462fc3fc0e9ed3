"""Scoring one answer by an eval's checks: each check's `Verdict`, a judge's as a run of its own.

    >>> scorer = Scorer(store, manager, project_id, spec.checks, namespace=user_ns)
    >>> scorer.prepare()                  # schemas, functions and judges resolved: bad ones refused here
    >>> scorer.score("positive", {"input": "Loved it", "expected": "positive"}, parent_id=7)
    {'contains': Verdict(passed=True, ...), 'judge': Verdict(passed=True, reason='...', judge_run_id=9)}

Everything but the judge reads the answer's text in the kernel, in well under a millisecond
(benchmarks/evals.py). A judge is asked with temperature 0 and a fixed seed, its answer decoded
under `JUDGE_SCHEMA` (a verdict and a reason), and recorded under the eval's run like the
answers; a judge that fails or answers out of shape fails the check, saying why.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ..errors import BadInput, LfwbError
from .checks import EvalCheck, Verdict, fill, short, text_verdict

if TYPE_CHECKING:
    from ..runs import RunResult
    from ..runtimes import GenerationConfig, RuntimeManager
    from ..stops import Stop
    from ..store import Store
    from ..structured import Schema

JUDGE_SCHEMA = {
    "type": "object",
    "properties": {
        "verdict": {"type": "string", "enum": ["pass", "fail"]},
        "reason": {"type": "string", "maxLength": 200},
    },
    "required": ["verdict", "reason"],
}
JUDGE_SETTINGS: dict[str, Any] = {"temperature": 0.0, "seed": 0, "max_tokens": 120}


def judge_prompt(rubric: str, row: Mapping[str, Any], answer: str) -> str:
    """What a judge is asked: the rubric, the row's input (and expected answer), the answer."""
    expected = f"\nExpected answer: {row['expected']}" if row.get("expected") not in (None, "") else ""
    return (
        "Grade the answer against the rubric.\n\n"
        f"Rubric: {fill(rubric, row)}\n\n"
        f"Question: {row.get('input', '')}{expected}\n\n"
        f"Answer: {answer}\n\n"
        'Reply with JSON only: {"verdict": "pass" or "fail", "reason": "one short sentence"}'
    )


def ask(
    store: Store,
    manager: RuntimeManager,
    project_id: int,
    model: str,
    gen: GenerationConfig,
    *,
    parent_id: int | None,
    stop: Stop | None,
    cache: bool,
    schema: Schema | None = None,
    on_start: Callable[[RunResult], Any] | None = None,
) -> RunResult:
    """One generation under the eval's run (an answer, a judge's verdict). With `cache`, a
    request that repeats itself (temperature 0 or a seed) takes an earlier run's answer
    (lfwb/pipelines/step_cache.py), and a new one becomes a source."""
    from ..pipelines.step_cache import look_up
    from ..runs import record_generation

    key = None
    if cache:
        key, hit = look_up(store, manager, project_id, model, gen, gen.asked, schema)
        if hit is not None and hit.run_id is not None:
            store.update_run(hit.run_id, parent_id=parent_id)
            if on_start is not None:
                on_start(hit)
            return hit
    run = record_generation(
        store, manager, project_id, model, gen, parent_id=parent_id, on_start=on_start, stop=stop, schema=schema
    )
    if key is not None and run.status == "done" and run.run_id is not None:
        store.update_run(run.run_id, cache_key=key)
    return run


class Scorer:
    """An eval's checks, resolved against the workspace (see the module docstring)."""

    def __init__(
        self,
        store: Store,
        manager: RuntimeManager,
        project_id: int,
        checks: tuple[EvalCheck, ...],
        namespace: Mapping[str, Any] | None = None,
        cache: bool = False,
    ):
        self.store, self.manager, self.project_id = store, manager, project_id
        self.checks, self.namespace, self.cache = checks, namespace, cache
        self.schemas: dict[str, Schema] = {}
        self.functions: dict[str, Callable] = {}
        self.judge_schema: Schema | None = None

    def prepare(self) -> None:
        """Resolve what the checks name; one line for the first that cannot be used."""
        from ..structured import resolve_schema

        for check in self.checks:
            where = f"check {check.name!r}"
            if check.kind == "json-schema":
                try:
                    self.schemas[check.name] = resolve_schema(check.value, dict(self.namespace or {}))
                except LfwbError as e:
                    raise BadInput(f"{where}: {e}") from None
            elif check.kind == "python":
                fn = (self.namespace or {}).get(check.value or "")
                if fn is None:
                    raise BadInput(f"{where}: no function named {check.value!r} in the notebook — define it first")
                if not callable(fn):
                    raise BadInput(f"{where}: {check.value!r} is a {type(fn).__name__}, not a function")
                self.functions[check.name] = fn
            elif check.kind == "judge":
                self.manager.resolve(check.value or "")  # ModelNotFound: one line
                self.judge_schema = resolve_schema(JUDGE_SCHEMA)

    def score(
        self, answer: str, row: Mapping[str, Any], parent_id: int | None = None, stop: Stop | None = None
    ) -> dict[str, Verdict]:
        """Each check's verdict on `answer` to `row` (judges' runs under `parent_id`)."""
        return {check.name: self.verdict(check, answer, row, parent_id, stop) for check in self.checks}

    def verdict(
        self, check: EvalCheck, answer: str, row: Mapping[str, Any], parent_id: int | None, stop: Stop | None
    ) -> Verdict:
        if check.kind in ("contains", "equals", "regex"):
            return text_verdict(check, answer, row)
        if check.kind == "json-schema":
            try:
                self.schemas[check.name].parse(answer)
            except LfwbError as e:
                return Verdict(False, short(str(e)))
            return Verdict(True)
        if check.kind == "jsx":
            from ..pipelines.checks import Check

            error = Check("jsx").error(answer)
            return Verdict(True) if error is None else Verdict(False, short(error))
        if check.kind == "python":
            return _called(self.functions[check.name], answer, row)
        return self._judged(check, answer, row, parent_id, stop)

    def _judged(
        self, check: EvalCheck, answer: str, row: Mapping[str, Any], parent_id: int | None, stop: Stop | None
    ) -> Verdict:
        from ..runtimes.base import chat_config

        gen = chat_config(judge_prompt(check.rubric or "", row, answer), **JUDGE_SETTINGS)
        started: list[int | None] = []
        try:
            run = ask(
                self.store,
                self.manager,
                self.project_id,
                check.value or "",
                gen,
                parent_id=parent_id,
                stop=stop,
                cache=self.cache,
                schema=self.judge_schema,
                on_start=lambda r: started.append(r.run_id),
            )
        except LfwbError as e:
            return Verdict(False, short(f"the judge failed: {e}"), started[0] if started else None)
        data = run.data if isinstance(run.data, dict) else {}
        return Verdict(data.get("verdict") == "pass", short(str(data.get("reason") or "")) or None, run.run_id)


def _called(fn: Callable, answer: str, row: Mapping[str, Any]) -> Verdict:
    """A notebook function's verdict: True/False, or (True/False, reason); an error fails it."""
    try:
        got = fn(answer, dict(row))
    except Exception as e:  # the function's bug is this answer's failed check, not the eval's
        return Verdict(False, short(f"{type(e).__name__}: {e}"))
    if isinstance(got, tuple) and len(got) == 2 and isinstance(got[0], bool):
        return Verdict(got[0], short(str(got[1])) if got[1] else None)
    if isinstance(got, bool):
        return Verdict(got)
    return Verdict(False, short(f"the function returned {got!r}, not True or False"))
