"""An eval run read back from the store: the table, the chart, the failing answers.

    >>> report = load_report(store, 12)          # what `%lfw eval show 12` shows
    >>> report.table()                            # model × check: pass rate, tokens, cost, p50 latency
    >>> report.pass_rates["smollm2"]["contains"], report.best
    (0.85, 'smollm2')
    >>> report.failures(model="smollm2")          # the answers that failed a check, with why
    >>> report.against(load_report(store, 9))     # what got better, what regressed

A run's report is always read from its rows (the eval's run, its answers' runs and its
`eval_scores`), so the table a finished eval shows is the one it shows when reopened.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import BadInput
from .checks import Verdict

if TYPE_CHECKING:
    from ..store import Store
    from .changes import EvalChanges


@dataclass
class Answer:
    """One model's answer to one row, and its verdicts by check name."""

    model: str
    row: int
    input: str
    expected: Any
    run_id: int | None
    text: str
    status: str
    output_tokens: int = 0
    cost_usd: float = 0.0
    duration_ms: float | None = None
    error: str | None = None
    cached_from: int | None = None  # the run whose answer it took (its latency and cost are that run's)
    verdicts: dict[str, Verdict] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(v.passed for v in self.verdicts.values())


@dataclass
class EvalReport:
    """An eval run: `answers` by model and row, each with its verdicts (see the module docstring)."""

    run_id: int
    name: str
    status: str
    models: list[str]
    checks: list[str]
    rows: int
    answers: list[Answer]
    judge_cost_usd: float = 0.0
    duration_ms: float | None = None
    error: str | None = None
    changes: EvalChanges | None = None  # set by `against`

    def of(self, model: str) -> list[Answer]:
        return [a for a in self.answers if a.model == model]

    @property
    def pass_rates(self) -> dict[str, dict[str, float]]:
        """{model: {check: share of its scored answers that passed}} (0.0 with none scored)."""
        rates: dict[str, dict[str, float]] = {}
        for model in self.models:
            answers = self.of(model)
            rates[model] = {
                check: (sum(a.verdicts[check].passed for a in answers if check in a.verdicts) / len(answers))
                if answers
                else 0.0
                for check in self.checks
            }
        return rates

    @property
    def best(self) -> str:
        """The model with the highest mean pass rate (ties: the cheaper, then the faster)."""

        def key(model: str) -> tuple:
            rates = self.pass_rates[model]
            cost = sum(a.cost_usd for a in self.of(model))
            return (-statistics.fmean(rates.values()) if rates else 0.0, cost, self.p50_ms(model) or 0.0)

        return min(self.models, key=key)

    def p50_ms(self, model: str) -> float | None:
        times = [a.duration_ms for a in self.of(model) if a.duration_ms is not None and a.status == "done"]
        return statistics.median(times) if times else None

    @property
    def columns(self) -> list[str]:
        return ["model", *self.checks, "all checks", "answers", "tokens", "cost", "p50 latency"]

    def table(self) -> list[dict]:
        """One row per model: each check's pass rate, answers, tokens, cost, p50 latency."""
        rows = []
        for model, rates in self.pass_rates.items():
            answers = self.of(model)
            p50 = self.p50_ms(model)
            rows.append(
                {
                    "model": model,
                    **{check: f"{rate:.0%}" for check, rate in rates.items()},
                    "all checks": f"{sum(a.passed for a in answers) / len(answers):.0%}" if answers else "",
                    "answers": len(answers),
                    "tokens": sum(a.output_tokens for a in answers),
                    "cost": f"${sum(a.cost_usd for a in answers):.4f}",
                    "p50 latency": "" if p50 is None else f"{p50:.0f} ms",
                }
            )
        return rows

    def failures(self, model: str | None = None, check: str | None = None) -> list[dict]:
        """Every failed verdict (of `model`, of `check`): the row, the answer and why."""
        for value, known, what in ((model, self.models, "model"), (check, self.checks, "check")):
            if value is not None and value not in known:
                raise BadInput(f"eval run {self.run_id} has no {what} {value!r} — it has {', '.join(known)}")
        return [
            {
                "model": a.model,
                "row": a.row + 1,
                "check": name,
                "input": a.input,
                "answer": a.text if a.status == "done" else f"({a.status}) {a.error or ''}".strip(),
                "expected": a.expected,
                "why": v.reason,
                "run_id": a.run_id,
            }
            for a in self.answers
            if model in (None, a.model)
            for name, v in a.verdicts.items()
            if not v.passed and check in (None, name)
        ]

    def against(self, earlier: EvalReport) -> EvalReport:
        """This report with what changed since `earlier` (another run of the same eval)."""
        from .changes import EvalChanges

        self.changes = EvalChanges.between(earlier, self)
        return self

    def figure(self):
        """A matplotlib Figure: each check's pass rate, a bar per model."""
        from .view import eval_figure

        return eval_figure(self)

    def summary(self) -> str:
        """`eval 'sentiment' run 12: done · 3 models × 20 rows · 3 checks · best: smollm2`"""
        line = (
            f"eval {self.name!r} run {self.run_id}: {self.status} · {len(self.models)} models × {self.rows} rows · "
            f"{len(self.checks)} checks"
        )
        if self.answers:
            line += f" · best: {self.best}"
        if self.judge_cost_usd:
            line += f" · judges ${self.judge_cost_usd:.4f}"
        cached = sum(a.cached_from is not None for a in self.answers)
        if cached:
            line += f" · {cached} answers from the cache"
        return f"{line} — {self.error}" if self.error else line

    def metadata(self) -> dict:
        return {"lfwb": {"run_id": self.run_id, "kind": "eval", "status": self.status}}

    def as_text(self) -> str:
        from .view import report_text

        return report_text(self)

    def _repr_html_(self) -> str:
        from .view import report_html

        return report_html(self)

    def _repr_mimebundle_(self, include=None, exclude=None) -> tuple[dict, dict]:
        return {"text/plain": self.as_text(), "text/html": self._repr_html_()}, self.metadata()

    def _repr_pretty_(self, p, cycle: bool) -> None:
        p.text(self.as_text())

    def to_dict(self) -> dict:
        """The report as JSON values (what the HTTP API answers)."""
        data = {
            "run_id": self.run_id,
            "name": self.name,
            "status": self.status,
            "models": self.models,
            "checks": self.checks,
            "rows": self.rows,
            "best": self.best if self.answers else None,
            "table": self.table(),
            "pass_rates": self.pass_rates,
            "failures": self.failures(),
            "error": self.error,
        }
        if self.changes is not None:
            data["changes"] = self.changes.to_dict()
        return data


def load_report(store: Store, run_id: int) -> EvalReport:
    """Eval run `run_id` as it stands now (while it runs: the answers scored so far)."""
    from ..store.evals import child_runs, eval_scores

    run = store.get_run(run_id)  # NotFound: one line naming the id
    if run["kind"] != "eval":
        raise BadInput(f"run {run_id} is a {run['kind']} run, not an eval run", about="eval_run")
    params = json.loads(run["params_json"] or "{}")
    rows = params.get("rows") or []
    runs = child_runs(store, run_id)
    for answer_run, origin in _cached_pipelines(store, runs).items():
        runs[answer_run] = {**runs[answer_run], "cached_from": origin}
    cached = sorted({r["cached_from"] for r in runs.values() if r.get("cached_from")})
    origins = {
        r["id"]: r
        for r in store.query(
            f"SELECT id, duration_ms, cost_usd FROM runs WHERE id IN ({', '.join('?' for _ in cached)})", tuple(cached)
        )
    }
    answers: dict[tuple[str, int], Answer] = {}
    judged: set[int] = set()
    for score in eval_scores(store, run_id):
        key = (score["model"], score["row_index"])
        if key not in answers:
            answers[key] = _answer(score, rows, runs.get(score["answer_run_id"]), origins)
        answers[key].verdicts[score["check_name"]] = Verdict(
            bool(score["passed"]), score["reason"], score["judge_run_id"]
        )
        if score["judge_run_id"] is not None:
            judged.add(score["judge_run_id"])
    models = params.get("models") or []
    ordered = sorted(
        answers.values(), key=lambda a: (models.index(a.model) if a.model in models else len(models), a.row)
    )
    return EvalReport(
        run_id=run_id,
        name=params.get("eval") or "?",
        status=run["status"],
        models=models,
        checks=params.get("checks") or [],
        rows=len(rows),
        answers=ordered,
        judge_cost_usd=sum(runs[i]["cost_usd"] or 0.0 for i in judged if i in runs),
        duration_ms=run["duration_ms"],
        error=run["error"],
    )


def _answer(score: dict, rows: list[dict], run: dict | None, origins: dict[int, dict]) -> Answer:
    index = score["row_index"]
    row = rows[index] if index < len(rows) else {}
    answer = Answer(
        score["model"], index, str(row.get("input", "")), row.get("expected"), score["answer_run_id"], "", "not run"
    )
    if run is not None:
        answer.text, answer.status, answer.error = run["output"] or "", run["status"], run["error"]
        answer.output_tokens, answer.cost_usd = run["output_tokens"] or 0, run["cost_usd"] or 0.0
        answer.duration_ms = run["duration_ms"]
        answer.cached_from = run.get("cached_from")
        origin = origins.get(answer.cached_from or 0)
        if origin is not None:  # what the model took and cost when it answered
            answer.duration_ms, answer.cost_usd = origin["duration_ms"], origin["cost_usd"] or 0.0
    return answer


def _cached_pipelines(store: Store, runs: dict[int, dict]) -> dict[int, int]:
    """{pipeline run: the run that answered} for each whose every step took its answer from the
    cache: its own duration is the cache's milliseconds, not what the pipeline takes. Its steps
    may come from several runs; the newest is the one that asked last, and its time is what the
    pipeline took when it last ran for this input."""
    piped = [i for i, r in runs.items() if r["kind"] == "pipeline" and not r.get("cached_from")]
    if not piped:
        return {}
    steps = store.query(
        f"SELECT s.run_id, s.status, o.run_id AS origin FROM steps s LEFT JOIN steps o ON o.id = s.cached_from "
        f"WHERE s.run_id IN ({', '.join('?' for _ in piped)})",
        tuple(piped),
    )
    origins: dict[int, set[int]] = {}
    asked = {step["run_id"] for step in steps if step["status"] != "cached"}
    for step in steps:
        if step["status"] == "cached":
            origins.setdefault(step["run_id"], set()).add(step["origin"])
    return {run: max(found) for run, found in origins.items() if run not in asked}
