"""A notebook's `%%lfw generate` (and chat) cells asked again, on another model, without running its other code.

    >>> cells = notebook_cells("story.ipynb")               # or the kernel's history (the magic's)
    >>> result = replay(store, manager, project_id, select(cells, "2-4"), model="gemini-2.5-flash")
    >>> result.run_id, [row.new.text for row in result.rows]

Each cell is matched to the run it recorded: the run id the magic put in its output's metadata
(a saved notebook), or the result it returned (the kernel's history). What that run sent
(lfwb/sent.py: the prompt as it was filled, a system prompt, a chat turn's history) and its
settings (schema, seed, temperature...) are sent again to the new model — the cell's own model
when none is given — so no other cell has to run first. The new runs are
`generate` runs under one parent run (kind `replay`), asked one after another; a cell that fails
keeps its error in its row and the others go on. `ReplayResult` shows them side by side: cell,
old → new model, the two answers as a diff, tokens, tok/s, cost, schema valid.

A stop cancels the cell being asked (its row kept, `cancelled`), asks no further cell, finishes the
parent and raises `Cancelled` with the result as it ended.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import BadInput, LfwbError, NotFound, RefusedBeforeSending
from ..runs import RunResult, record_generation
from ..stops import Cancelled, Stop, held_stops
from ..store import now
from ..untrusted import NO_MATH, escape

if TYPE_CHECKING:
    import weakref

    from IPython.core.interactiveshell import ExecutionResult

    from ..runtimes import GenerationConfig, RuntimeManager
    from ..store import Store

OnReplay = Callable[["ReplayResult"], None]
SHOWN_CHARS = 60  # of an answer in the plain-text table (the HTML shows it whole)
REPLAYED = ("generate", "chat")  # a chat turn: its whole request as sent (summary, history, chunks)
HEAD = ("cell", "model", "tokens", "tok/s", "cost", "schema valid")  # and the answers' diff, third


@dataclass
class ReplayCell:
    """A `%%lfw` cell to replay: its number (the `[n]` beside it), its source and the run it recorded.
    `shown`: the answer the cell showed, when known (the kernel's history), to check the run is it."""

    number: int | None
    source: str
    run_id: int | None
    shown: str | None = None

    @property
    def label(self) -> str:
        return f"[{self.number}]" if self.number is not None else "[ ]"


@dataclass
class ReplayRow:
    """One cell replayed: its old run (a row) and its new one, or why it was not asked."""

    cell: ReplayCell
    old: dict | None = None
    new: RunResult | None = None
    note: str | None = None  # not replayed: why; or the new run's error

    def columns(self) -> list[str]:
        old, new = self.old or {}, self.new
        models = (
            f"{old.get('answered_by') or old.get('model') or '?'} → {(new.answered_by or new.model) if new else '—'}"
        )
        return [
            self.cell.label,
            models,
            _pair(old.get("output_tokens"), new.output_tokens if new else None),
            _pair(_rate(old), new.tokens_per_second if new else None, "{:.1f}"),
            _pair(_cost(old.get("cost_usd")), _cost(new.cost_usd) if new else None),
            _pair(_valid(old.get("schema_valid")), _valid(new.valid) if new else None),
        ]


@dataclass
class ReplayResult:
    """The cells' old and new answers side by side; `run_id` is the parent run of the new runs."""

    run_id: int
    model: str | None
    rows: list[ReplayRow]
    status: str = "running"
    duration_ms: float | None = None
    # The cell whose output already shows this result (see runs.mark_shown).
    shown_in: weakref.ref[ExecutionResult] | None = field(default=None, repr=False, compare=False)

    @property
    def runs(self) -> list[RunResult]:
        """The new runs, in the cells' order."""
        return [row.new for row in self.rows if row.new is not None]

    def summary(self) -> str:
        asked = len(self.runs)
        target = self.model or "each cell's own model"
        return f"replay run {self.run_id}: {self.status} · {asked} of {len(self.rows)} cells on {target}"

    def metadata(self) -> dict:
        runs = [r.run_id for r in self.runs]
        return {"lfwb": {"run_id": self.run_id, "kind": "replay", "runs": runs, "status": self.status}}

    def __repr__(self) -> str:
        lines = [self.summary()]
        for row in self.rows:
            cell, models, *rest = row.columns()
            lines.append(" · ".join([f"{cell} {models}", *(f"{h} {v}" for h, v in zip(HEAD[2:], rest) if v)]))
            if row.note:
                lines.append(f"  {row.note}")
            if row.new is not None and row.old is not None:
                lines.extend("  " + line for line in _text_diff(row.old["output"], row.new.text))
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        # Answers come from models: escaped, and out of MathJax's reach (lfwb/untrusted.py).
        head = "".join(f"<th>{escape(h)}</th>" for h in (*HEAD[:2], "answer (old → new)", *HEAD[2:]))
        body = []
        for row in self.rows:
            cells = row.columns()
            answer = _html_diff(row.old["output"], row.new.text) if row.new and row.old else ""
            note = f'<div style="color:#c62828">{escape(row.note)}</div>' if row.note else ""
            tds = [f"<td>{escape(v)}</td>" for v in cells]
            tds.insert(
                2, f'<td style="max-width:40em"><pre style="white-space:pre-wrap;margin:0">{answer}</pre>{note}</td>'
            )
            body.append("<tr>" + "".join(tds) + "</tr>")
        return (
            f'<div class="lfwb-replay {NO_MATH}"><p><b>{escape(self.summary())}</b></p>'
            f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"
        )

    def _repr_mimebundle_(self, include=None, exclude=None) -> tuple[dict, dict]:
        return {"text/plain": repr(self), "text/html": self._repr_html_()}, self.metadata()

    # Returned by the %lfw replay cell that showed it as it filled in, it is not shown twice.
    _ipython_display_ = RunResult._ipython_display_


def notebook_cells(path: str | os.PathLike) -> list[ReplayCell]:
    """The `%%lfw` cells of a saved notebook (nbformat 4) with the run each recorded."""
    path = Path(path).expanduser()
    try:
        notebook = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BadInput(f"no notebook at {path}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BadInput(f"{path} is not a notebook that can be read: {e}") from None
    if not isinstance(notebook, dict) or notebook.get("nbformat") != 4:
        raise BadInput(f"{path} is not an nbformat 4 notebook — save it from Jupyter 4 or later")
    listed = notebook.get("cells", [])
    # Any JSON file can say nbformat 4: a cell of the wrong shape is one line, not a crash.
    if not isinstance(listed, list) or not all(isinstance(c, dict) for c in listed):
        raise BadInput(f"{path} is not an nbformat 4 notebook: its cells are not a list of cells")
    cells = []
    for cell in listed:
        source = cell.get("source", "")
        source = "".join(map(str, source)) if isinstance(source, list) else str(source)
        if cell.get("cell_type") == "code" and source.lstrip().startswith("%%lfw"):
            number = cell.get("execution_count")
            cells.append(ReplayCell(number if isinstance(number, int) else None, source.lstrip(), _recorded_run(cell)))
    return cells


def _recorded_run(cell: dict) -> int | None:
    outputs = cell.get("outputs")
    for output in outputs if isinstance(outputs, list) else []:
        metadata = output.get("metadata") if isinstance(output, dict) else None
        lfwb = metadata.get("lfwb") if isinstance(metadata, dict) else None
        run_id = lfwb.get("run_id") if isinstance(lfwb, dict) else None
        if isinstance(run_id, int) and not isinstance(run_id, bool):
            return run_id
    return None


def select(cells: Sequence[ReplayCell], which: str = "all") -> list[ReplayCell]:
    """The cells `which` names: `all`, `N` or `N-M` (the numbers beside the cells, `[n]`)."""
    # A cell that recorded no run is listed only where one was expected (a definition is not).
    cells = [
        c
        for c in cells
        if c.run_id is not None or c.source.removeprefix("%%lfw").split()[:1] in (["generate"], ["chat"])
    ]
    which = (which or "all").strip()
    if which == "all":
        chosen = list(cells)
    else:
        found = re.fullmatch(r"(\d+)(?:-(\d+))?", which)
        if not found:
            raise BadInput(f"--cells {which}: give all, N or N-M (the numbers beside the cells)")
        low, high = int(found[1]), int(found[2] or found[1])
        if low > high:
            raise BadInput(f"--cells {which}: the first cell comes after the last — give N-M with N ≤ M")
        chosen = [c for c in cells if c.number is not None and low <= c.number <= high]
    if not any(c.run_id is not None for c in chosen):
        where = "" if which == "all" else f" among cells {which}"
        raise BadInput(f"no %%lfw cell with a recorded run{where} — run the cells first, or save the notebook")
    return chosen


def replay(
    store: Store,
    manager: RuntimeManager,
    project_id: int,
    cells: Sequence[ReplayCell],
    model: str | None = None,
    *,
    source: str = "kernel history",
    on_update: OnReplay | None = None,
    stop: Stop | None = None,
) -> ReplayResult:
    """Ask each cell's recorded prompt again on `model` (default: its own); see the module docstring."""
    if model is not None:
        manager.resolve(model)  # ModelNotFound: one line, before any row
    start = time.perf_counter()
    with held_stops(stop) as stops, store.kept_open():
        params = {"source": source, "model": model, "cells": [c.number for c in cells]}
        parent = store.add_run(project_id, "replay", model=model, prompt=source, params_json=params, status="running")
        result = ReplayResult(parent["id"], model, [_row(store, cell) for cell in cells])
        cancelled = None
        try:
            if on_update is not None:
                on_update(result)  # the parent exists: a face shows the cells, a handle has its id
            for row in result.rows:
                if row.note is not None:
                    continue
                if cancelled is not None:
                    row.note = "not asked: the replay was stopped"
                    continue
                try:
                    row.new = _ask(store, manager, project_id, row, model, parent["id"], stops)
                except Cancelled as stopped:
                    row.new, cancelled = stopped.result, stopped
                except LfwbError as e:  # its run is kept, failed; the other cells go on
                    row.note = f"{type(e).__name__}: {e}"
                if on_update is not None:
                    on_update(result)
        finally:
            _finish(store, result, start, cancelled is not None)
        if cancelled is not None:
            line = f"cancelled replay run {result.run_id} after {len(result.runs)} of {len(result.rows)} cells"
            raise Cancelled(line + " (the one stopped keeps its text)", result=result)
        stops.after = f"stopped after replay run {result.run_id} had ended"
    return result


def _row(store: Store, cell: ReplayCell) -> ReplayRow:
    """The cell with its old run, or the note why it cannot be replayed."""
    if cell.run_id is None:
        return ReplayRow(cell, note="no run recorded: the cell never ran, or stopped before its run began")
    try:
        old = store.get_run(cell.run_id)
    except NotFound:
        return ReplayRow(cell, note=f"run {cell.run_id} is not in this store — open the store the notebook used")
    if old["kind"] not in REPLAYED or (old["kind"] != "generate" and store.get_request(old["id"]) is None):
        return ReplayRow(cell, old, note=f"a {old['kind']} cell: only %%lfw generate and chat cells are replayed")
    if cell.shown is not None and old["output"] != cell.shown:
        return ReplayRow(cell, note=f"run {cell.run_id} of this store is not the one the cell showed")
    return ReplayRow(cell, old)


def _ask(
    store: Store, manager: RuntimeManager, project_id: int, row: ReplayRow, model: str | None, parent: int, stop: Stop
) -> RunResult:
    from ..structured import resolve_schema

    old = row.old or {}
    gen = request(store, old)
    schema = resolve_schema(gen.json_schema) if gen.json_schema is not None else None
    started: list[RunResult] = []
    try:
        return record_generation(
            store,
            manager,
            project_id,
            model or old["model"],
            gen,
            prompt=old["prompt"],
            parent_id=parent,
            on_start=started.append,
            stop=stop,
            schema=schema,
        )
    except LfwbError as e:
        if started and not isinstance(e, RefusedBeforeSending):
            row.new = started[0]  # kept, failed: its text shown (an answer that did not match: ✗)
        raise


def request(store: Store, old: dict) -> GenerationConfig:
    """What run `old` sent, to send again: its messages as they were sent, with its settings
    (lfwb/sent.py); for a run kept before requests were, its filled prompt through the chat template."""
    from ..runtimes import GenerationConfig

    sent = store.get_request(old["id"])
    settings = sent["settings"] if sent is not None else json.loads(old.get("params_json") or "{}")
    known = {f.name for f in fields(GenerationConfig)} - {"prompt", "messages"}
    settings = {k: v for k, v in settings.items() if k in known}
    if sent is None:
        return GenerationConfig(messages=[{"role": "user", "content": old["prompt"] or ""}], **settings)
    if sent["raw"]:
        return GenerationConfig(prompt=sent["messages"][0]["content"], **settings)
    return GenerationConfig(
        messages=[{"role": m["role"], "content": m["content"]} for m in sent["messages"]], **settings
    )


def _finish(store: Store, result: ReplayResult, start: float, cancelled: bool) -> None:
    runs = result.runs
    if cancelled:
        result.status = "cancelled"
    else:
        result.status = "done" if any(r.status == "done" for r in runs) else "failed"
    result.duration_ms = (time.perf_counter() - start) * 1000
    notes = [f"cell {row.cell.label}: {row.note}" for row in result.rows if row.note]
    store.update_run(
        result.run_id,
        status=result.status,
        output=result.summary(),
        output_tokens=sum(r.output_tokens for r in runs),
        cost_usd=sum(r.cost_usd for r in runs),
        duration_ms=round(result.duration_ms, 2),
        error="; ".join(notes) if result.status == "failed" else None,
        finished_at=now(),
    )


def _rate(row: dict) -> float | None:
    """A recorded run's tok/s, as `RunResult.tokens_per_second` reads it."""
    tokens, duration, ttft = row.get("output_tokens") or 0, row.get("duration_ms"), row.get("ttft_ms")
    if not duration or ttft is None or tokens < 2 or duration <= ttft:
        return None
    return (tokens - 1) / ((duration - ttft) / 1000)


def _cost(value: float | None) -> str | None:
    return None if value is None else (f"${value:.4f}" if value else "$0")


def _valid(value: Any) -> str | None:
    return None if value is None else ("✓" if value else "✗")


def _pair(old: Any, new: Any, form: str = "{}") -> str:
    """`12 → 15`; `—` for a value one side lacks; empty when both lack it."""
    if old is None and new is None:
        return ""
    return " → ".join("—" if v is None else form.format(v) for v in (old, new))


def _pieces(text: str) -> list[str]:
    return re.findall(r"\s+|[^\s]+", text)


def _html_diff(old: str, new: str) -> str:
    """The two answers as one text: words taken out struck through in red, words put in green."""
    a, b = _pieces(old), _pieces(new)
    out = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            out.append(escape("".join(a[i1:i2])))
            continue
        if i2 > i1:
            out.append(f'<del style="background:#fdd">{escape("".join(a[i1:i2]))}</del>')
        if j2 > j1:
            out.append(f'<ins style="background:#dfd;text-decoration:none">{escape("".join(b[j1:j2]))}</ins>')
    return "".join(out)


def _text_diff(old: str, new: str) -> list[str]:
    if old == new:
        return ["(the same answer)"]
    return [f"- {_short(old)}", f"+ {_short(new)}"]


def _short(text: str) -> str:
    text = text.replace("\n", " ")
    return text[:SHOWN_CHARS] + ("…" if len(text) > SHOWN_CHARS else "")
