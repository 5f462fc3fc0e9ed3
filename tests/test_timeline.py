"""`%lfw timeline RUN`: a pipeline run's steps as bars from start to end, on the scripted backend."""

from __future__ import annotations

from conftest import run_error, run_ok
from fixtures.scripted import Fail, words
from lfwb.errors import GenerationError
from lfwb.pipelines.timeline import timeline_rows

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
