"""`%lfw timeline RUN`: a pipeline run's steps as bars from start to end, on the scripted backend."""

from __future__ import annotations

import pytest

from conftest import eventually, run_error, run_ok
from fixtures.scripted import Fail, words
from lfwb.errors import GenerationError
from lfwb.pipelines.result import SHOWN_WAIT_MS
from lfwb.pipelines.timeline import WAIT_ALPHA, timeline_rows

FOUR_STEPS = {
    "steps": [
        {"name": "analyse", "model": "a", "prompt": "{input}"},
        {"name": "code", "model": "broken", "prompt": "{steps.analyse.output}"},
        {"name": "assemble", "model": "c", "prompt": "{steps.code.output}"},
        {"name": "notes", "model": "c", "prompt": "{steps.analyse.output}"},
    ]
}


def four_step_run(scripted):
    scripted.model("a", words("the parts"))
    scripted.model("broken", ["half", Fail(GenerationError("the server went away"))])
    scripted.model("c", words("fine"))
    return scripted.wb.run_pipeline(FOUR_STEPS, input="x")


def test_the_bars_are_the_run_s_steps_in_order_with_their_status_and_model(scripted):
    result = four_step_run(scripted)
    bars = timeline_rows(scripted.wb.store, result.run_id)
    assert [b.name for b in bars] == [row["name"] for row in scripted.wb.store.list_steps(result.run_id)]
    by_name = {b.name: b for b in bars}
    assert {b.name: (b.status, b.model, b.ran) for b in bars} == {
        "analyse": ("done", "a", True),
        "code": ("failed", "broken", True),
        "assemble": ("skipped", "c", False),
        "notes": ("done", "c", True),
    }
    assert all(b.start_s >= 0 and b.end_s >= b.start_s for b in bars)
    assert by_name["code"].start_s >= by_name["analyse"].end_s  # it waited for what it needs
    assert by_name["assemble"].seconds == 0  # skipped: a mark where it ended, not a span


def test_a_rerun_shows_its_reused_steps_as_not_run(ip, scripted):
    scripted.model("a", words("the parts"))
    scripted.model("b", words("<Form/>"))
    spec = {
        "steps": [
            {"name": "analyse", "model": "a", "prompt": "{input}"},
            {"name": "code", "model": "b", "prompt": "{steps.analyse.output}"},
        ]
    }
    first = scripted.wb.run_pipeline(spec, input="a form")
    again = scripted.wb.rerun_pipeline(first.run_id, "code")
    bars = timeline_rows(scripted.wb.store, again.run_id)
    assert [(b.name, b.status, b.ran) for b in bars] == [("analyse", "reused", False), ("code", "done", True)]


def test_the_magic_returns_a_figure_with_one_bar_per_step_that_the_notebook_shows_as_png(ip, scripted):
    result = four_step_run(scripted)
    figure = run_ok(ip, f"%lfw timeline {result.run_id}")
    (ax,) = figure.axes
    assert len(ax.patches) == 4  # one bar per step (the legend's swatches are not on the axes)
    order = [row["name"] for row in scripted.wb.store.list_steps(result.run_id)]
    assert [t.get_text() for t in ax.get_yticklabels()] == order
    assert sorted(t.get_text() for t in ax.get_legend().get_texts()) == ["a", "broken", "c"]
    # what a notebook's kernel sends (a terminal shell has the PNG formatter switched off)
    png = ip.display_formatter.formatters["image/png"].lookup(figure)(figure)
    assert png[:4] == b"\x89PNG"


def test_an_unknown_run_or_a_run_that_is_no_pipeline_is_one_line(ip, scripted, capsys):
    missing = run_error(ip, "%lfw timeline 999", capsys)
    assert "999" in missing and len(missing.splitlines()) == 1
    wb = scripted.wb
    single = wb.store.add_run(wb.project_id, "generate", prompt="hi", status="done")["id"]
    line = run_error(ip, f"%lfw timeline {single}", capsys)
    assert "not a pipeline run" in line and len(line.splitlines()) == 1
    assert wb.store.get_run(single)["status"] == "done"  # nothing changed


TAKING_TURNS = {  # two steps on one local model, neither needing the other: they take turns
    "steps": [
        {"name": "jsx", "model": "m", "prompt": "the component"},
        {"name": "css", "model": "m", "prompt": "the styles"},
    ]
}


def run_taking_turns(scripted):
    """Run TAKING_TURNS; the first step to get the model holds it until the other has waited for it.

    Returns (result, the waiter's name). Which step gets the model first is the threads' race:
    the waiter is the one that got the second answer."""
    import threading
    import time

    from fixtures.scripted import Stall

    go = threading.Event()
    held = Stall(until=go)
    scripted.model("m", [], answers=[["first", held, " answer"], words("second answer")])
    handle = scripted.wb.start_pipeline(TAKING_TURNS, "x").start()  # on its own thread
    assert held.reached.wait(20)
    store = scripted.wb.store
    # A step's request is kept once its clock runs (record_generation): from then on it waits for m.
    steps = eventually(lambda: store.list_steps(handle.run_id), what="the steps' rows")
    eventually(lambda: all(store.get_request(handle.run_id, s["id"]) for s in steps), what="both steps asking m")
    # No timing is asserted: the sleep only makes the wait long enough to be shown (SHOWN_WAIT_MS).
    time.sleep(2 * SHOWN_WAIT_MS / 1000)
    go.set()
    result = handle.result()
    assert result.status == "done"
    (waiter,) = [name for name, step in result.steps.items() if step.text == "second answer"]
    return result, waiter


def test_a_step_that_waited_for_its_local_model_draws_its_wait_apart_from_its_work(ip, scripted):
    result, waiter = run_taking_turns(scripted)
    second = {b.name: b for b in timeline_rows(scripted.wb.store, result.run_id)}[waiter]
    assert second.waited_s * 1000 >= SHOWN_WAIT_MS  # its wait is recorded
    assert second.waited_note == f"waited {second.waited_s:.1f} s for m"
    assert second.working_s > second.start_s  # its model began on it after its wait
    assert second.seconds == pytest.approx(second.end_s - second.working_s)  # its bar is the work, the wait apart

    figure = run_ok(ip, f"%lfw timeline {result.run_id}")
    (ax,) = figure.axes
    labels = [t.get_text() for t in ax.texts]
    assert any(label.endswith(second.waited_note) for label in labels), labels
    row = [t.get_text() for t in ax.get_yticklabels()].index(waiter)
    waits = [p for p in ax.patches if p.get_alpha() == WAIT_ALPHA]  # the lighter segments
    assert [round(p.get_y() + p.get_height() / 2) for p in waits if p.get_width() > 0].count(row) == 1, waits
    (wait,) = [p for p in waits if round(p.get_y() + p.get_height() / 2) == row]
    assert wait.get_x() == pytest.approx(second.start_s)
    assert wait.get_width() == pytest.approx(second.working_s - second.start_s)  # from its start to its work
    works = [p for p in ax.patches if p.get_alpha() != WAIT_ALPHA and round(p.get_y() + p.get_height() / 2) == row]
    assert [p.get_x() for p in works] == [pytest.approx(second.working_s)]  # the work drawn after the wait


def test_the_step_rows_say_how_long_a_step_waited_for_its_model(scripted):
    result, waiter = run_taking_turns(scripted)
    rows = {s["name"]: s for s in scripted.wb.store.list_steps(result.run_id)}
    step, row = result.steps[waiter], rows[waiter]
    assert round(step.waited_ms, 2) == row["waited_ms"] >= SHOWN_WAIT_MS
    assert step.header().endswith(f"{step.seconds():.1f} s · waited {row['waited_ms'] / 1000:.1f} s for m")
    assert step.seconds() < row["duration_ms"] / 1000  # its seconds are the model's work, the wait apart
    assert f"waited {row['waited_ms'] / 1000:.1f} s for m" in repr(result)


def test_a_step_shows_waiting_for_its_model_until_its_turn(scripted):
    import threading

    from fixtures.scripted import Stall

    go = threading.Event()
    held = Stall(until=go)
    scripted.model("m", [], answers=[["first", held, " answer"], words("second")])
    seen: list[str] = []
    handle = scripted.wb.start_pipeline(
        TAKING_TURNS, "x", on_update=lambda r: seen.extend(s.header(0) for s in r.steps.values())
    ).start()
    assert held.reached.wait(20)
    eventually(lambda: any("waiting for m" in line for line in seen), what="a step waiting for m")
    go.set()
    result = handle.result()
    assert result.status == "done" and not any(s.waiting for s in result.steps.values())


@pytest.mark.slow
def test_two_steps_on_smollm2_take_turns_and_the_second_shows_its_wait(wb):
    spec = {
        "steps": [
            {"name": "jsx", "model": "smollm2", "prompt": "Write a button in JSX.", "max_tokens": 24, "seed": 1},
            {"name": "css", "model": "smollm2", "prompt": "Write CSS for a button.", "max_tokens": 24, "seed": 1},
        ]
    }
    result = wb.run_pipeline(spec, input="x")
    assert result.status == "done"
    first, second = sorted(timeline_rows(wb.store, result.run_id), key=lambda b: b.working_s)
    assert first.waited_s < second.waited_s  # it had the model at once (loading it is its work)
    assert second.waited_note.startswith("waited ") and second.waited_note.endswith(" s for smollm2")
    assert second.working_s >= first.working_s + first.seconds * 0.5  # it ran once the first was (nearly) done
    step = result.steps[second.name]
    assert step.waited_note == second.waited_note and step.waited_note in step.header()
