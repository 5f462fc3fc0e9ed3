"""Batch runs: one pipeline over many inputs, a few pipeline runs at a time.

    >>> rows = run_batch(store, manager, project_id, spec, ["a login form", "a pricing table"])
    >>> [(r["index"], r["run_id"], r["status"]) for r in rows]
    [(0, 12, 'done'), (1, 13, 'done')]

Each input is an ordinary pipeline run (`executor.run_pipeline`: its own `runs` row, kind
`pipeline`, and its steps), on a thread of its own; at most `concurrency` of them at once. By
default that is 1 when any step's model is local (they would only take turns on the machine)
and 4 when every model is remote: raising it against an OpenAI-compatible cluster is how a
batch outgrows one machine. A failed input is a `failed` row; the others go on.

The calling thread holds stops and reports progress (`on_progress`, 20 times a second at
most), so a face redraws from the thread that owns the cell. A stop cancels every running
pipeline run (each ends `cancelled`, its partial text kept), starts no further input, and
raises `Cancelled` with one line; its `result` holds the rows as they ended.
"""

from __future__ import annotations

import csv
import json
import threading
import time
from contextlib import contextmanager
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import BadInput, check_text
from ..stops import Cancelled, Stop, held_stops
from .executor import POLL_S, run_pipeline
from .plan import Plan, check
from .spec import PipelineSpec

if TYPE_CHECKING:
    from ..runtimes import RuntimeManager
    from ..store import Store

LOCAL_CONCURRENCY, REMOTE_CONCURRENCY = 1, 4
SHOWN = 60  # characters of an input and of an output kept in a row (the run keeps them whole)
MAX_INPUT_CHARS = 128 * 1024  # one input of a file: a CSV field, a JSONL line
COLUMNS = ["index", "input", "run_id", "status", "seconds", "output"]


@dataclass
class BatchProgress:
    """How far a batch has got: what a progress bar shows."""

    total: int
    concurrency: int
    ended: int = 0  # done, failed or cancelled
    done: int = 0
    failed: int = 0
    running: int = 0
    started: float = field(default_factory=time.perf_counter)

    def elapsed(self, now: float | None = None) -> float:
        return (now or time.perf_counter()) - self.started

    def eta(self, now: float | None = None) -> float | None:
        """Seconds left at the pace so far; None before the first input has ended."""
        if not self.ended:
            return None
        return self.elapsed(now) / self.ended * (self.total - self.ended)

    def line(self, now: float | None = None) -> str:
        """`3/10 · 1 failed · 2 running · 12.4 s · about 28 s left`"""
        parts = [f"{self.ended}/{self.total}"]
        if self.failed:
            parts.append(f"{self.failed} failed")
        if self.running:
            parts.append(f"{self.running} running")
        parts.append(f"{self.elapsed(now):.1f} s")
        eta = self.eta(now)
        if eta is not None and self.ended < self.total:
            parts.append(f"about {eta:.0f} s left")
        return " · ".join(parts)


class BatchInputs:
    """What a batch runs over, in order: `len()` and a fresh iterator on each `iter()`.

    A file is read in a stream twice: once, whole, to check every row and count them (a bad row
    anywhere is one line before any run starts), then row by row as the runs start.
    """

    def __init__(self, read: Callable[[], Iterator[str]], count: int, where: str):
        self._read, self.count, self.where = read, count, where

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[str]:
        return self._read()

    @classmethod
    def of(cls, items: Any, where: str) -> BatchInputs:
        inputs = _as_inputs(items, where)
        return cls(lambda: iter(inputs), len(inputs), where)


def read_inputs(source: str | Sequence | BatchInputs, namespace: Mapping[str, Any] | None = None) -> BatchInputs:
    """The inputs of a batch: a list, a notebook variable holding one, or a CSV / JSONL file.

    A name in `namespace` wins over a file of the same name. A CSV needs an `input` column; a
    JSONL file holds one string or one object with an `"input"` per line. One line when bad.
    """
    if isinstance(source, BatchInputs):
        return source
    if isinstance(source, str) and namespace is not None and source in namespace:
        return BatchInputs.of(namespace[source], f"variable {source!r}")
    if not isinstance(source, str):
        return BatchInputs.of(source, "the list")
    path = Path(source).expanduser()
    if not path.is_file():
        raise BadInput(
            f"--over {source}: no variable of that name in the notebook and no file at {path}"
            " — give a list variable, a .csv with an `input` column or a .jsonl file"
        )
    rows = _csv_rows if path.suffix.lower() == ".csv" else _jsonl_rows
    count = sum(1 for _ in rows(path, source))  # the checking pass: memory stays one row
    if not count:
        raise BadInput(f"{source} holds no inputs — nothing to run")
    return BatchInputs(lambda: rows(path, source), count, source)


def _csv_rows(path: Path, source: str) -> Iterator[str]:
    # strict: an unterminated quote is an error, not the rest of the file merged into one field
    with _opened(path, source) as f:
        reader = csv.DictReader(f, strict=True)
        line = 1  # where the row being read starts
        try:
            if "input" not in (reader.fieldnames or []):
                raise BadInput(
                    f"--over {source}: the CSV has no `input` column (columns: "
                    f"{', '.join(reader.fieldnames or []) or 'none'})"
                )
            line = reader.line_num + 1
            for row in reader:
                text = row["input"] or ""
                if len(text) > MAX_INPUT_CHARS:
                    raise BadInput(
                        f"--over {source}, line {line}: the input is {len(text)} "
                        f"characters — at most {MAX_INPUT_CHARS} are taken"
                    )
                yield text
                line = reader.line_num + 1
        except csv.Error as e:  # also csv's own field cap (128 KiB unless the notebook changed it)
            raise BadInput(f"--over {source}, line {line}: not valid CSV ({e}) — check its quotes") from None
        except UnicodeDecodeError as e:
            raise BadInput(f"--over {source}, line {line}: not UTF-8 ({e.reason})") from None


def _jsonl_rows(path: Path, source: str) -> Iterator[str]:
    with _opened(path, source) as f:
        number = 0
        while True:
            number += 1
            try:
                line = f.readline(MAX_INPUT_CHARS + 1)
            except UnicodeDecodeError as e:
                raise BadInput(f"--over {source}, line {number}: not UTF-8 ({e.reason})") from None
            if not line:
                return
            if len(line) > MAX_INPUT_CHARS and not line.endswith("\n"):
                raise BadInput(
                    f"--over {source}, line {number}: over {MAX_INPUT_CHARS} characters — "
                    "at most that many are taken per line"
                )
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except (json.JSONDecodeError, RecursionError) as e:
                why = getattr(e, "msg", "nested too deep")
                raise BadInput(
                    f"--over {source}, line {number}: not JSON ({why}) — "
                    'a .jsonl file holds one string or one {"input": ...} object per line'
                ) from None
            yield _as_input(item, f"--over {source}, line {number}")


@contextmanager
def _opened(path: Path, source: str) -> Iterator[Any]:
    try:
        f = path.open(encoding="utf-8-sig", newline="")  # -sig: a spreadsheet's BOM is not in the header
    except OSError as e:
        raise BadInput(f"--over {source}: cannot read it ({e.strerror})") from None
    with f:
        yield f


def _as_inputs(items: Any, where: str) -> list[str]:
    if isinstance(items, (str, bytes, Mapping)) or not isinstance(items, Sequence):
        raise BadInput(f"{where} is a {type(items).__name__}, not a list of inputs")
    inputs = [_as_input(item, f"{where}, item {i}") for i, item in enumerate(items)]
    if not inputs:
        raise BadInput(f"{where} holds no inputs — nothing to run")
    return inputs


def _as_input(item: Any, where: str) -> str:
    if isinstance(item, Mapping):
        if "input" not in item:
            raise BadInput(f'{where}: an object without an "input" key')
        item = item["input"]
    text = str(item)
    check_text(text, where)
    return text


def default_concurrency(manager: RuntimeManager, plan: Plan) -> int:
    """1 when any step may run on a local model (they share one machine), else 4."""
    models = {m for chain in plan.models.values() for m in chain}
    local = any(manager.runtime(m).local for m in models)
    return LOCAL_CONCURRENCY if local else REMOTE_CONCURRENCY


def run_batch(
    store: Store,
    manager: RuntimeManager,
    project_id: int,
    spec: str | Mapping | PipelineSpec,
    inputs: str | Sequence | BatchInputs,
    *,
    concurrency: int | None = None,
    namespace: Mapping[str, Any] | None = None,
    settings: Mapping[str, Any] | None = None,
    on_progress: Callable[[BatchProgress], None] | None = None,
    stop: Stop | None = None,
    cache: bool = True,
) -> list[dict]:
    """Run `spec` once per input; returns one row per input, in input order:
    `index, input, run_id, status, seconds, output` (input and output shortened), plus `error`.

    The definition is checked once first: a fault is one line and nothing runs. Inputs are read
    as the runs start; after a stop (`stop.stop()` from another thread, or SIGINT), `Cancelled`'s
    `result` holds a row for each input that was started. `cache=False`: no step is answered by
    the step cache (see executor.run_pipeline).
    """
    inputs = read_inputs(inputs, namespace)
    if concurrency is not None and concurrency < 1:
        raise BadInput(f"--concurrency must be at least 1, got {concurrency}")
    plan = check(spec, manager, namespace=namespace, store=store, project_id=project_id)
    concurrency = concurrency or default_concurrency(manager, plan)
    rows: list[dict] = []  # one per input started, in input order
    progress = BatchProgress(len(inputs), concurrency)
    stop_all = threading.Event()  # set once the batch stops: no further input starts
    holds: list[Stop] = []  # every pipeline run's own stop: a stop reaches all of them
    wake = threading.Event()

    def one(row: dict, text: str) -> None:
        start = time.perf_counter()
        hold = Stop()
        holds.append(hold)
        if stop_all.is_set():
            hold.stop()
        try:
            result = run_pipeline(
                store,
                manager,
                project_id,
                plan.spec,
                text,
                namespace=namespace,
                settings=settings,
                stop=hold,
                cache=cache,
            )
        except Cancelled as stopped:
            result = stopped.result
        except Exception as e:  # an input that breaks is its row's failure, not the batch's
            row.update(status="failed", error=f"{type(e).__name__}: {e}")
            result = None
        if result is not None:
            last = list(result.steps.values())[-1].text if result.steps else ""
            row.update(run_id=result.run_id, status=result.status, output=_short(last), error=result.error)
        row["seconds"] = round(time.perf_counter() - start, 2)
        wake.set()

    running: dict[int, Future] = {}
    waiting = iter(inputs)

    def stop_every_run() -> None:
        stop_all.set()
        for hold in list(holds):
            hold.stop()

    with held_stops(stop) as stops:
        stops.cancels.append(wake)  # a stop wakes the loop at once
        pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="lfwb-batch")
        try:
            while True:
                for i, job in list(running.items()):
                    if job.done():
                        del running[i]
                        progress.ended += 1
                        progress.failed += rows[i]["status"] == "failed"
                        progress.done += rows[i]["status"] == "done"
                if not stop_all.is_set():
                    while len(running) < concurrency and len(rows) < progress.total:
                        text = next(waiting, None)
                        if text is None:  # the file lost rows since they were counted
                            progress.total = len(rows)
                            break
                        rows.append(
                            {
                                "index": len(rows),
                                "input": _short(text),
                                "run_id": None,
                                "status": "running",
                                "seconds": None,
                                "output": "",
                                "error": None,
                            }
                        )
                        running[len(rows) - 1] = pool.submit(one, rows[-1], text)
                progress.running = len(running)
                if on_progress is not None:
                    on_progress(progress)
                if not running:
                    break
                wake.wait(POLL_S)
                wake.clear()
                if stops.take():
                    stop_every_run()
        except BaseException:
            stop_every_run()  # never leave a pipeline run going behind an error
            raise
        finally:
            pool.shutdown(wait=True)  # each stopped run ends soon after its cancel
            stops.cancels.remove(wake)
        stops.after = f"stopped after the batch had ended ({_counts(rows, progress.total)})"
    if stop_all.is_set():
        raise Cancelled(f"cancelled the batch: {_counts(rows, progress.total)}", result=rows)
    return rows


def _counts(rows: list[dict], total: int) -> str:
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["status"]] = counts.get(row["status"], 0) + 1
    if total > len(rows):
        counts["not run"] = total - len(rows)
    return ", ".join(f"{n} {status}" for status, n in counts.items())


def _short(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= SHOWN else text[: SHOWN - 1] + "…"
