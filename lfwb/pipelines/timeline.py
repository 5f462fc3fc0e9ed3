"""A pipeline run's timeline: one horizontal bar per step, from its start to its end.

    >>> rows = timeline_rows(store, run_id)      # the bars, read from the run's `steps` rows
    >>> fig = timeline_figure(rows, title=...)   # a matplotlib Figure (PNG in a notebook)

Times are seconds since the run started. A step that ran spans `started_at` → `finished_at`
(or its `duration_ms` while it has no end yet); a step that did not run — skipped, reused from an
earlier run, cancelled before it began — is a thin hatched mark where it ended, so the chart shows
every step in the run's order. Bars are coloured by the model that answered (else the one asked).
A step that waited for its model (a local model answers one step at a time) draws its wait as a
lighter segment before its bar, labelled `waited 5.9 s for smollm2`: its bar is the model's work.
A checked step that asked again (`retries:`) has a bar per attempt (`code · attempt 2`).

matplotlib is imported only when a figure is drawn, and through `matplotlib.figure.Figure` (the
Agg canvas): `%load_ext lfwb` stays light and no GUI backend is ever touched.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from ..errors import BadInput
from .result import waited_note

if TYPE_CHECKING:
    from ..store import Store

NOT_RUN = ("skipped", "reused", "cached")  # these never generate: their start is when the run wrote the row
MARK_S = 0.02  # the least width a bar is drawn with, as a share of the chart's span
WAIT_ALPHA = 0.15  # a wait for the model: lighter than a faded (failed, cancelled) bar's 0.35


@dataclass
class Bar:
    """One step on the timeline."""

    name: str
    status: str
    model: str
    start_s: float
    end_s: float
    ran: bool  # False: skipped, reused, cached or cancelled before it began (drawn as a mark)
    waited_s: float = 0.0  # from its start until its model was free (steps on one local model take turns)

    @property
    def working_s(self) -> float:
        """When its model began on it (after its wait)."""
        return min(self.start_s + self.waited_s, self.end_s)

    @property
    def seconds(self) -> float:
        """How long its model worked on it (the wait left out)."""
        return self.end_s - self.working_s

    @property
    def waited_note(self) -> str:
        return waited_note(self.waited_s * 1000, self.model)


def timeline_rows(store: Store, run_id: int) -> list[Bar]:
    """The bars of pipeline run `run_id`, in its steps' order; `BadInput` for any other run."""
    run = store.get_run(run_id)  # NotFound: one line naming the id
    if run["kind"] != "pipeline":
        raise BadInput(
            f"run {run_id} is a {run['kind']} run, not a pipeline run — a timeline needs a pipeline run (see %lfw runs)"
        )
    origin = _seconds(run["started_at"])
    bars = []
    rows = store.list_steps(run_id, attempts=True)
    retried = {r["position"] for r in rows if r["attempt"] > 1}
    for row in rows:
        ran = row["status"] not in NOT_RUN and row["prompt"] is not None
        start = _seconds(row["started_at"]) - origin
        if row["finished_at"] is not None:
            end = _seconds(row["finished_at"]) - origin
        elif row["duration_ms"] is not None:
            end = start + row["duration_ms"] / 1000
        else:  # still running, or a row left behind by a crash: nothing to measure yet
            end = start
        if not ran:  # its row was written when the run began: it belongs where it ended
            start = end
        model = row["answered_by"] or row["model"] or "?"
        name = f"{row['name']} · attempt {row['attempt']}" if row["position"] in retried else row["name"]
        waited = (row["waited_ms"] or 0.0) / 1000 if ran else 0.0
        bars.append(Bar(name, row["status"], model, max(start, 0.0), max(end, start, 0.0), ran, waited))
    return bars


def timeline_figure(bars: list[Bar], title: str | None = None):
    """A `matplotlib.figure.Figure`: a bar per step (top to bottom in order), coloured by model."""
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    fig = Figure(figsize=(8, 1.2 + 0.45 * max(len(bars), 1)), layout="constrained")
    ax = fig.add_subplot()
    span = max([b.end_s for b in bars] + [0.001])
    models = list(dict.fromkeys(b.model for b in bars))
    colours = {m: f"C{i % 10}" for i, m in enumerate(models)}
    for y, bar in enumerate(bars):
        width = max(bar.seconds, span * MARK_S)
        faded = not bar.ran or bar.status != "done"
        if bar.waited_note:  # the wait for its model: lighter, outlined, before the model's work
            ax.barh(
                y,
                bar.working_s - bar.start_s,
                left=bar.start_s,
                color=colours[bar.model],
                alpha=WAIT_ALPHA,
                edgecolor=colours[bar.model],
                linestyle=":",
                label=f"{bar.name} (waiting)",
            )
        ax.barh(
            y,
            width,
            left=bar.working_s,
            color=colours[bar.model],
            alpha=0.35 if faded else 0.9,
            hatch=None if bar.ran else "//",
            edgecolor=colours[bar.model],
            label=bar.name,
        )
        text = (
            bar.status
            if not bar.ran
            else " · ".join(filter(None, [bar.status, f"{bar.seconds:.1f} s", bar.waited_note]))
        )
        ax.text(bar.working_s + width + span * 0.01, y, text, va="center", fontsize=8)
    ax.set_yticks(range(len(bars)), [b.name for b in bars])
    ax.invert_yaxis()  # the first step on top, as the run lists them
    ax.set_xlim(0, span * 1.45)  # room for the labels after the last bar
    ax.set_xlabel("seconds since the run started")
    ax.legend(
        handles=[Patch(color=colours[m], label=m) for m in models],
        title="model",
        loc="upper left",
        bbox_to_anchor=(1.01, 1),
        fontsize=8,
    )  # beside the bars, never over them
    if title:
        ax.set_title(title, fontsize=10)
    return fig


def _seconds(stamp: str) -> float:
    return datetime.fromisoformat(stamp).timestamp()
