"""What a pipeline run produced: a `PipelineResult` with one `StepResult` per step.

    >>> result = wb.run_pipeline("ui-component", input="a login form")
    >>> result.status, result.run_id
    ('done', 12)
    >>> result.steps["jsx"].text          # a step's answer
    >>> result.steps["analyse"].data      # a `schema:` step's parsed answer (a model instance)
    >>> result.artifacts                  # the run's artifacts rows (code from every step)

In a notebook it renders as a compact table: step, model, status, tokens, seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..runs import tokens_text
from ..untrusted import NO_MATH, escape

FINISHED = ("done", "reused", "cached")  # a step whose output later steps can use
NOT_RUN = ("reused", "cached")  # finished with an earlier step's answer: nothing asked, nothing spent
ENDED = ("done", "reused", "cached", "failed", "cancelled", "skipped")
SHOWN_WAIT_MS = 100  # a shorter wait for the model is not worth a word


def waited_note(waited_ms: float | None, model: str) -> str:
    """`waited 5.9 s for smollm2` when a step waited a while for its model; else '' (a step's
    header and row, and its bar on the timeline, say it the same)."""
    if waited_ms is None or waited_ms < SHOWN_WAIT_MS:
        return ""
    return f"waited {waited_ms / 1000:.1f} s for {model}"


@dataclass
class StepResult:
    """One step as it runs and once it has ended (the same values as its `steps` row)."""

    name: str
    model: str
    step_id: int
    status: str = "pending"
    text: str = ""
    prompt: str | None = None
    answered_by: str | None = None
    input_tokens: int | None = None
    output_tokens: int = 0
    ttft_ms: float | None = None
    duration_ms: float | None = None
    cost_usd: float = 0.0
    error: str | None = None
    reused_from_run: int | None = None  # the run whose answer it took (a reused or cached step)
    cached_from: int | None = None  # a cached step: the step whose answer it took
    started: float | None = None  # perf_counter at its start: the seconds shown while it runs
    data: Any = None  # a `schema:` step's parsed answer
    attempts: int = 1  # a `check:` step with `retries:` may take several; each has its row
    earlier_cost_usd: float = 0.0  # what its earlier attempts cost (cost_usd counts them)
    waited_ms: float | None = None  # from its start until its model was free (set once it was)

    def __str__(self) -> str:
        return self.text

    def header(self, now: float | None = None) -> str:
        """`jsx · smollm2 · running · 42 tokens · 3.1 s`; `css · smollm2 · waiting for smollm2 · 2.0 s`
        while another step has its model; `css · smollm2 · done · 40 tokens · 3.8 s · waited 5.9 s for
        smollm2` once it ran (the seconds are its model's, the wait is apart)."""
        model = self.answered_by or self.model
        waiting = self.waiting
        parts = [self.name, model, f"waiting for {model}" if waiting else self.status]
        if self.attempts > 1:
            parts.append(f"attempt {self.attempts}")
        if self.output_tokens:
            parts.append(tokens_text(self.output_tokens))
        seconds = self.seconds(now)
        if seconds is not None:
            parts.append(f"{seconds:.1f} s")
        if self.waited_note:
            parts.append(self.waited_note)
        if self.reused_from_run is not None:
            parts.append(self.source())
        line = " · ".join(parts)
        return f"{line} — {self.error}" if self.error and self.status in ("failed", "skipped") else line

    @property
    def waiting(self) -> bool:
        """Started, but its model is still answering another step (a local model takes turns)."""
        return self.status == "running" and self.started is not None and self.waited_ms is None

    @property
    def waited_note(self) -> str:
        return waited_note(self.waited_ms, self.answered_by or self.model)

    def source(self) -> str:
        """`from run 12`, `cached from run 12`: where a step that did not run took its answer."""
        return ("cached " if self.status == "cached" else "") + f"from run {self.reused_from_run}"

    def seconds(self, now: float | None = None) -> float | None:
        """The seconds it ran (its model's work: a wait for the model is `waited_ms`, apart)."""
        waited = (self.waited_ms or 0.0) / 1000
        if self.duration_ms is not None:
            return max(0.0, self.duration_ms / 1000 - waited)
        if self.started is not None and now is not None:
            return max(0.0, now - self.started - waited)
        return None


@dataclass
class PipelineResult:
    """A pipeline run: `.run_id`, `.status`, `.steps[name]`, `.artifacts`, `.error`."""

    run_id: int
    pipeline: str
    steps: dict[str, StepResult]
    status: str = "running"
    error: str | None = None
    artifacts: list[dict] = field(default_factory=list)
    duration_ms: float | None = None

    @property
    def text(self) -> str:
        """The last step's answer (what a pipeline is for, usually)."""
        last = list(self.steps.values())[-1]
        return last.text

    @property
    def cost_usd(self) -> float:
        return sum(s.cost_usd for s in self.steps.values() if s.status not in NOT_RUN)

    def table(self) -> list[list[str]]:
        rows = [["step", "model", "status", "tokens", "seconds", "note"]]
        for s in self.steps.values():
            seconds = s.seconds()
            note = (
                s.error if s.status in ("failed", "skipped") else (s.source() if s.reused_from_run is not None else "")
            )
            if s.attempts > 1:
                note = f"attempt {s.attempts}" + (f": {note}" if note else "")
            if s.waited_note:
                note = f"{note}; {s.waited_note}" if note else s.waited_note
            rows.append(
                [
                    s.name,
                    s.answered_by or s.model,
                    s.status,
                    str(s.output_tokens or ""),
                    "" if seconds is None else f"{seconds:.1f}",
                    (note or "")[:80],
                ]
            )
        return rows

    def summary(self) -> str:
        """`pipeline 'ui' run 12: done · 4 steps · 2 artifacts`"""
        n = len(self.artifacts)
        line = (
            f"pipeline {self.pipeline!r} run {self.run_id}: {self.status} · {len(self.steps)} steps · "
            f"{n} artifact{'' if n == 1 else 's'}"
        )
        return f"{line} — {self.error}" if self.error else line

    def __repr__(self) -> str:
        table = self.table()
        widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
        lines = ["  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in table]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join([self.summary(), *lines])

    def _repr_html_(self) -> str:
        # Errors and names can hold a model's or a server's text: escaped, and out of MathJax's reach.
        table = self.table()
        head = "".join(f"<th>{escape(v)}</th>" for v in table[0])
        body = "".join("<tr>" + "".join(f"<td>{escape(v)}</td>" for v in r) + "</tr>" for r in table[1:])
        return (
            f'<div class="lfwb-pipeline {NO_MATH}"><p><b>{escape(self.summary())}</b></p>'
            f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"
        )

    def metadata(self) -> dict:
        return {"lfwb": {"run_id": self.run_id, "pipeline": self.pipeline, "status": self.status}}
