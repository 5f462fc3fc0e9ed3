"""Stops (the notebook's stop button: SIGINT) that land anywhere, twice, and store switches mid-run.

However a stop is timed, no run is left `running`, and what the cell shows is what was saved.
"""

from __future__ import annotations

import random
import re
import signal
import sqlite3
import statistics
import threading
import time
from contextlib import closing

import pytest

from conftest import last_shown, plain, run_ok
from fixtures.scripted import Stall, words
from lfwb.stops import Cancelled

STORY = words("Once upon a time a lighthouse keeper and his cat watched the ships go by, night after night.")
MAIN = threading.main_thread().ident


def press_stop_twice(after_s: float, gap_s: float) -> None:
    """Press stop `after_s` from now, and again `gap_s` later (run on another thread)."""
    time.sleep(after_s)
    signal.pthread_kill(MAIN, signal.SIGINT)
    time.sleep(gap_s)
    signal.pthread_kill(MAIN, signal.SIGINT)


def run_stopped_twice(ip, cell: str, after_s: float, gap_s: float):
    """Run `cell` while stop is pressed twice; IPython's outcome, or None when a stop landed
    in IPython's own code around the cell. A stop that lands in this harness is absorbed.

    Once the cell has ended, SIGINT is blocked until the presser is done, then a stop still
    pending is dropped: a stop caught by `except` and retried in a loop could land again on
    the loop's jump back, outside any `try`, and end the whole test session. Each layer below
    catches at most one of the two stops and blocks SIGINT again, so none gets out."""
    presser = threading.Thread(target=press_stop_twice, args=(after_s, gap_s))
    outcome = None
    try:
        try:
            try:
                presser.start()
                outcome = ip.run_cell(cell)
            finally:
                signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        except KeyboardInterrupt:
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    except KeyboardInterrupt:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    presser.join()
    handler = signal.signal(signal.SIGINT, signal.SIG_IGN)  # drops a stop still pending
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    signal.signal(signal.SIGINT, handler)
    return outcome


def solo_seconds(ip, cell: str, tries: int = 5) -> float:
    times = []
    for _ in range(tries):
        started = time.perf_counter()
        run_ok(ip, cell)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def check_no_run_lost(wb, shown: dict, outcomes: list) -> dict:
    """Every row finished, showing in its cell exactly its saved output; status counts."""
    rows = wb.store.list_runs()
    assert [r["id"] for r in rows if r["status"] == "running"] == []
    assert [r["id"] for r in rows if shown.get(r["id"], {}).get("text/plain") != r["output"]] == []
    by_id = {r["id"]: r for r in rows}
    for outcome in outcomes:
        if outcome is not None and outcome.result is not None:  # the run returned: its text was saved
            assert outcome.result.text == by_id[outcome.result.run_id]["output"]
    return {s: sum(r["status"] == s for r in rows) for s in ("done", "cancelled", "failed", "interrupted")}


def moments_hit(wb, outcomes: list) -> tuple[int, int, int, int]:
    """Runs cancelled mid-answer, runs done, cells that stopped with the one line, and of those
    the stops that came just as a run finished."""
    rows = wb.store.list_runs()
    stopped = [str(o.error_in_exec) for o in outcomes if o is not None and isinstance(o.error_in_exec, Cancelled)]
    late = sum(line.startswith("stopped after run") for line in stopped)
    return sum(r["status"] == "cancelled" for r in rows), sum(r["status"] == "done" for r in rows), len(stopped), late


def test_two_quick_stops_at_any_moment_never_leave_a_run_running_or_unsaved(ip, wb, scripted, published, sigint):
    # About 30 ms a run: stops land while it loads, streams, finishes its row, redraws the cell.
    scripted.model("fake", [step for word in STORY for step in (word, Stall(seconds=0.0005))])
    cell = "%%lfw generate -m fake\nTell a story."
    solo = solo_seconds(ip, cell)
    rng = random.Random(8)
    tries, outcomes = 200, []
    # Sweep the stops across a run, again (at most 3 times) until every kind of moment was hit:
    # on a loaded machine a run's timing drifts from `solo`, and one sweep may miss its end.
    for i in range(3 * tries):
        after_s = 0.001 + 1.3 * solo * (i % tries) / tries
        outcomes.append(run_stopped_twice(ip, cell, after_s=after_s, gap_s=rng.uniform(0.0005, 0.004)))
        needed = (tries // 2, 5, tries // 2, 1)
        if len(outcomes) >= tries and all(n >= need for n, need in zip(moments_hit(wb, outcomes), needed)):
            break
    counts = check_no_run_lost(wb, last_shown(published), outcomes)
    assert counts["cancelled"] >= tries // 2 and counts["done"] >= 5  # stops mid-answer and at its end
    assert counts["failed"] == counts["interrupted"] == 0
    stopped = [o.error_in_exec for o in outcomes if o is not None and isinstance(o.error_in_exec, Cancelled)]
    late = 0
    for stop in stopped:  # the one line says how far the saved run got
        row = wb.store.get_run(int(re.search(r"run (\d+)", str(stop)).group(1)))
        n = row["output_tokens"]
        if row["status"] == "cancelled":
            assert str(stop) == f"cancelled after {n} token{'s' * (n != 1)} (run {row['id']})"
        else:  # a stop just as the run finished: all of it was kept, and the cell stops
            assert str(stop) == f"stopped after run {row['id']} had finished (all {n} tokens kept)"
            late += 1
    assert len(stopped) >= tries // 2 and late >= 1
    assert not wb.manager.busy("fake")
    assert run_ok(ip, cell).text == "".join(STORY)  # the model still answers


@pytest.mark.slow
def test_two_quick_stops_on_the_bundled_model_never_leave_a_run_running(ip, wb, published, sigint):
    cell = "%%lfw generate --max-tokens 12 --temperature 0\nWrite a very long story about a lighthouse keeper."
    solo = solo_seconds(ip, cell, tries=3)
    rng = random.Random(8)
    tries = 20
    outcomes = [
        run_stopped_twice(ip, cell, after_s=0.001 + 1.3 * solo * i / tries, gap_s=rng.uniform(0.0005, 0.004))
        for i in range(tries)
    ]
    counts = check_no_run_lost(wb, last_shown(published), outcomes)
    assert counts["cancelled"] >= 5 and counts["failed"] == 0
    assert run_ok(ip, cell).status == "done"


def press_stop_when(reached: threading.Event) -> None:
    """Press stop once the model stalls at `reached` and the cell has taken what it wrote."""

    def press() -> None:
        reached.wait(10)
        time.sleep(0.1)
        signal.pthread_kill(MAIN, signal.SIGINT)

    threading.Thread(target=press).start()


def test_a_stop_shows_the_text_so_far_and_one_line_without_a_traceback(ip, wb, scripted, published, sigint, capsys):
    stall = Stall()
    scripted.model("slow", ["Once", " upon", stall, " never"])
    press_stop_when(stall.reached)
    capsys.readouterr()
    outcome = ip.run_cell("%%lfw generate -m slow\nTell a story.", store_history=True)
    seen = capsys.readouterr()
    row = wb.store.list_runs(limit=1)[0]
    assert row["status"] == "cancelled" and row["output"] == "Once upon"
    assert last_shown(published)[row["id"]]["text/plain"] == "Once upon"
    # This shell prints each display as it comes (the placeholder, the updates, the final one).
    lines = [line for line in plain(seen.out + seen.err).splitlines() if line.strip()]
    assert lines[-2:] == ["Once upon", f"cancelled after 2 tokens (run {row['id']})"]
    assert [line for line in lines if "cancel" in line.lower() or "Traceback" in line or "Interrupt" in line] == [
        lines[-1]
    ]
    assert isinstance(outcome.error_in_exec, KeyboardInterrupt)  # the cell stopped, as a stop asks
    capsys.readouterr()
    run_ok(ip, "%lfw error")  # the whole traceback is still there when wanted
    assert "KeyboardInterrupt" in capsys.readouterr().out


def test_a_stop_in_python_code_stops_the_rest_of_the_cell(ip, wb, scripted, sigint, capsys):
    stall = Stall()
    scripted.model("slow", ["Once", stall, " never"])
    press_stop_when(stall.reached)
    for name in ("r", "after"):  # the shell is shared: an earlier test's cell may have set them
        ip.user_ns.pop(name, None)
    capsys.readouterr()
    ip.run_cell("import lfwb\nr = lfwb.workbench().generate('Tell a story.', model='slow')\nafter = True")
    seen = capsys.readouterr()
    assert "after" not in ip.user_ns and "r" not in ip.user_ns
    run_id = wb.store.list_runs(limit=1)[0]["id"]
    assert plain(seen.out + seen.err).strip() == f"cancelled after 1 token (run {run_id})"


def test_a_run_finishes_in_the_store_it_started_in_when_the_store_is_switched(ip, wb, scripted, tmp_path):
    go = threading.Event()
    halfway = Stall(until=go)
    scripted.model("fake", words("Once upon a time") + [halfway] + words(" there was a lighthouse."))
    old = wb.store
    finished: list = []

    def generate() -> None:
        try:
            finished.append(wb.generate("Tell a story.", model="fake"))
        except BaseException as e:  # the test reports it
            finished.append(e)

    generating = threading.Thread(target=generate)
    generating.start()
    assert halfway.reached.wait(10)
    run_ok(ip, "%config Lfwb.db_path = 'other.db'")
    go.set()
    generating.join(10)
    assert [getattr(r, "status", r) for r in finished] == ["done"]
    with closing(sqlite3.connect(tmp_path / "lfwb.db")) as conn:
        rows = conn.execute("SELECT status, output FROM runs").fetchall()
    assert rows == [("done", "Once upon a time there was a lighthouse.")]
    assert wb.store.path == "other.db" and wb.store.list_runs() == []  # no stray row in the new store
    # the old store closed once its run ended
    with pytest.raises(sqlite3.ProgrammingError, match="closed database"):
        old.conn.execute("SELECT 1")
