"""`%lfw timeline RUN`: a pipeline run's steps as bars from start to end, on the scripted backend."""

from __future__ import annotations

import pytest

from conftest import eventually, run_error, run_ok
from fixtures.scripted import Fail, words
from lfwb.errors import GenerationError
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
    """Run TAKING_TURNS; the first step to get the model holds it until the other has waited a while."""
    import threading
    import time

    from fixtures.scripted import Stall

    go = threading.Event()
    held = Stall(until=go)
    scripted.model("m", [], answers=[["first", held, " answer"], words("second answer")])
    handle = scripted.wb.start_pipeline(TAKING_TURNS, "x").start()  # on its own thread
    assert held.reached.wait(20)
    store = scripted.wb.store
    eventually(lambda: {s["status"] for s in store.list_steps(handle.run_id)} == {"running"}, what="both running")
    time.sleep(0.3)  # the other step waits on the model this long at least
    go.set()
    return handle.result()


def test_a_step_that_waited_for_its_local_model_draws_its_wait_apart_from_its_work(ip, scripted):
    result = run_taking_turns(scripted)
    bars = {b.name: b for b in timeline_rows(scripted.wb.store, result.run_id)}
    first, second = sorted(bars.values(), key=lambda b: b.working_s)
    assert second.waited_s >= 0.3 and first.waited_s < second.waited_s  # the first had the model at once
    assert second.waited_note == f"waited {second.waited_s:.1f} s for m"
    assert second.working_s > first.working_s  # its model began on it only after the first
    assert second.seconds == second.end_s - second.start_s - second.waited_s

    figure = run_ok(ip, f"%lfw timeline {result.run_id}")
    (ax,) = figure.axes
    labels = [t.get_text() for t in ax.texts]
    assert any(label.endswith(second.waited_note) for label in labels), labels
    waits = [p.get_width() for p in ax.patches if p.get_alpha() == WAIT_ALPHA]  # the lighter segments
    assert any(abs(width - second.waited_s) < 1e-6 for width in waits), waits


def test_the_step_rows_say_how_long_a_step_waited_for_its_model(scripted):
    result = run_taking_turns(scripted)
    rows = {s["name"]: s for s in scripted.wb.store.list_steps(result.run_id)}
    waiter = max(rows.values(), key=lambda r: r["waited_ms"])
    step = result.steps[waiter["name"]]
    assert round(step.waited_ms, 2) == waiter["waited_ms"] >= 300
    assert step.header().endswith(f"{step.seconds():.1f} s · waited {waiter['waited_ms'] / 1000:.1f} s for m")
    assert step.seconds() < waiter["duration_ms"] / 1000  # its seconds are the model's work, the wait apart
    assert f"waited {waiter['waited_ms'] / 1000:.1f} s for m" in repr(result)


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
