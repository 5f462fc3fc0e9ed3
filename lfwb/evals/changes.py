"""What changed between two runs of an eval (`--against RUN`): what got better, what regressed.

An answer is matched to the earlier run's by model and input (so a reordered dataset still
matches); a check is compared where both runs have it. "Better": a verdict that failed before
and passes now; "regressed": the other way round. Per model and check, the pass rates before
and after.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..untrusted import NO_MATH, escape
from .view import table_html, table_text

if TYPE_CHECKING:
    from .report import EvalReport

CHANGE_COLUMNS = ["model", "check", "input", "before", "now", "why"]
RATE_COLUMNS = ["model", "check", "before", "now", "change"]


@dataclass
class EvalChanges:
    earlier_run_id: int
    better: list[dict] = field(default_factory=list)
    regressed: list[dict] = field(default_factory=list)
    rates: list[dict] = field(default_factory=list)  # per model and check: before, now

    @classmethod
    def between(cls, earlier: EvalReport, now: EvalReport) -> EvalChanges:
        changes = cls(earlier.run_id)
        before = {(a.model, a.input): a for a in earlier.answers}
        for answer in now.answers:
            old = before.get((answer.model, answer.input))
            if old is None:
                continue
            for check, verdict in answer.verdicts.items():
                was = old.verdicts.get(check)
                if was is None or was.passed == verdict.passed:
                    continue
                row = {
                    "model": answer.model,
                    "check": check,
                    "input": answer.input,
                    "before": old.text,
                    "now": answer.text,
                    "why": (was if verdict.passed else verdict).reason,
                }
                (changes.better if verdict.passed else changes.regressed).append(row)
        old_rates, new_rates = earlier.pass_rates, now.pass_rates
        for model in now.models:
            for check in now.checks:
                if model in old_rates and check in old_rates[model]:
                    a, b = old_rates[model][check], new_rates[model][check]
                    changes.rates.append(
                        {
                            "model": model,
                            "check": check,
                            "before": f"{a:.0%}",
                            "now": f"{b:.0%}",
                            "change": _delta(b - a),
                        }
                    )
        return changes

    def summary(self) -> str:
        return f"against eval run {self.earlier_run_id}: {len(self.better)} better, {len(self.regressed)} regressed"

    def as_text(self) -> str:
        parts = [self.summary(), table_text(self.rates, RATE_COLUMNS)]
        for title, rows in (("better", self.better), ("regressed", self.regressed)):
            if rows:
                parts.append(f"{title}:\n{table_text(rows, CHANGE_COLUMNS, width=30)}")
        return "\n\n".join(parts)

    def _repr_html_(self) -> str:
        parts = [f"<p><b>{escape(self.summary())}</b></p>", table_html(self.rates, RATE_COLUMNS)]
        for title, rows in (("better", self.better), ("regressed", self.regressed)):
            if rows:
                parts.append(
                    f"<details><summary>{len(rows)} {title}</summary>{table_html(rows, CHANGE_COLUMNS)}</details>"
                )
        return f'<div class="lfwb-eval-changes {NO_MATH}">{"".join(parts)}</div>'

    def to_dict(self) -> dict:
        return {"against": self.earlier_run_id, "better": self.better, "regressed": self.regressed, "rates": self.rates}


def _delta(change: float) -> str:
    if abs(change) < 0.005:
        return "="
    return f"{change:+.0%}"
