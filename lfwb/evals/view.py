"""How an eval's report draws itself: the table, the chart, the failing answers, the changes.

The chart is a matplotlib Figure drawn as `%lfw timeline`'s is (the Agg canvas, matplotlib
imported only here), embedded in the HTML as a PNG `data:` URI: a saved notebook shows it
offline and it loads nothing. Answers and reasons are a model's text: escaped, out of MathJax's
reach (lfwb/untrusted.py).
"""

from __future__ import annotations

import base64
import io
from typing import TYPE_CHECKING, Any

from ..untrusted import NO_MATH, escape

if TYPE_CHECKING:
    from .report import EvalReport

SHOWN_FAILURES = 50  # failing verdicts drawn in a notebook; `failures()` has them all
MAX_CELL = 120
FAILURE_COLUMNS = ["model", "row", "check", "input", "answer", "expected", "why", "run_id"]


def cell(value: Any, width: int = MAX_CELL) -> str:
    text = "" if value is None else " ".join(str(value).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def table_text(rows: list[dict], columns: list[str], width: int = 40) -> str:
    cells = [columns] + [[cell(r.get(c), width) for c in columns] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def table_html(rows: list[dict], columns: list[str]) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{escape(cell(r.get(c)))}</td>" for c in columns) + "</tr>" for r in rows)
    return f'<table class="lfwb-rows {NO_MATH}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def report_text(report: EvalReport) -> str:
    parts = [report.summary(), table_text(report.table(), report.columns)]
    failed = report.failures()
    parts.append(f"{len(failed)} failed verdicts — .failures() lists them" if failed else "every check passed")
    if report.changes is not None:
        parts.append(report.changes.as_text())
    return "\n\n".join(parts)


def report_html(report: EvalReport) -> str:
    failed = report.failures()
    if failed:
        more = len(failed) - SHOWN_FAILURES
        tail = f"<p>… and {more} more: <code>.failures()</code></p>" if more > 0 else ""
        drill = (
            f"<details><summary>{len(failed)} failed verdicts (the answers and why)</summary>"
            f"{table_html(failed[:SHOWN_FAILURES], FAILURE_COLUMNS)}{tail}</details>"
        )
    else:
        drill = "<p>Every check passed.</p>"
    changes = report.changes._repr_html_() if report.changes is not None else ""
    return (
        f'<div class="lfwb-eval {NO_MATH}"><p><b>{escape(report.summary())}</b></p>'
        f"{table_html(report.table(), report.columns)}{chart_html(report)}{changes}{drill}</div>"
    )


def chart_html(report: EvalReport) -> str:
    """The chart as an `<img>` holding its PNG (nothing to fetch); empty with no answers."""
    if not report.answers:
        return ""
    buffer = io.BytesIO()
    report.figure().savefig(buffer, format="png", dpi=80)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img class="lfwb-eval-chart" alt="pass rate by check and model" src="data:image/png;base64,{data}"/>'


def eval_figure(report: EvalReport):
    """A `matplotlib.figure.Figure`: a group per check (and "all checks"), a bar per model."""
    from matplotlib.figure import Figure

    rates = report.pass_rates
    groups = [*report.checks, "all checks"]
    models = report.models
    height = 0.8 / max(len(models), 1)
    fig = Figure(figsize=(7, 0.9 + 0.3 * len(groups) * max(len(models), 1)), layout="constrained")
    ax = fig.add_subplot()
    for m, model in enumerate(models):
        answers = report.of(model)
        overall = sum(a.passed for a in answers) / len(answers) if answers else 0.0
        values = [rates[model][check] for check in report.checks] + [overall]
        ys = [g + m * height for g in range(len(groups))]
        ax.barh(ys, [v * 100 for v in values], height=height * 0.9, color=f"C{m % 10}", label=model)
        for y, v in zip(ys, values):
            ax.text(v * 100 + 1, y, f"{v:.0%}", va="center", fontsize=8)
    ax.set_yticks([g + height * (len(models) - 1) / 2 for g in range(len(groups))], groups)
    ax.invert_yaxis()  # the first check on top, as the table lists them
    ax.set_xlim(0, 112)
    ax.set_xlabel("pass rate (%)")
    ax.legend(title="model", loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)
    ax.set_title(f"eval {report.name!r} · run {report.run_id}", fontsize=10)
    return fig
