"""`%lfw panel pipeline`: its Run button runs the pipeline as `%lfw run` does, Stop cancels it."""

from __future__ import annotations

import pytest

from conftest import eventually, run_ok
from fixtures.scripted import Stall, words
from lfwb.widgets.pipeline_panel import PipelinePanel
from test_pipeline_run import TWO_STEPS


WAIT_S = 20  # a bound on a thread that should end at once: reaching it is the failure


@pytest.fixture
def open_panel(ip, scripted):
    """`open_panel()` saves pipeline `ui` (its models registered first) and opens the panel."""
    made = []

    def opened() -> PipelinePanel:
        scripted.wb.save_pipeline(TWO_STEPS, name="ui")
        made.append(run_ok(ip, "%lfw panel pipeline"))
        return made[-1]

    yield opened
    for panel in made:  # never leave a run going into the next test
        panel.stop()
        if panel.handle is not None:
            panel.handle.wait()
        panel.close()


def press_run(panel: PipelinePanel, text: str) -> None:
    panel.choice.value, panel.input.value = "ui", text
    panel.run_button.click()


def test_the_panel_lists_the_saved_and_the_bundled_pipelines(open_panel, scripted):
    scripted.model("a", words("a form"))
    scripted.model("b", words("code"))
    panel = open_panel()
    assert isinstance(panel, PipelinePanel)
    assert "ui" in panel.choice.options and "ui-component" in panel.choice.options


def test_run_records_the_pipeline_shows_each_step_done_then_its_timeline_and_artifacts(open_panel, scripted):
    scripted.model("a", words("a form"))
    scripted.model("b", ["```jsx\n", "<Form/>\n", "```"])
    panel = open_panel()
    press_run(panel, "a login form")
    panel.handle.wait()
    assert panel.handle.done
    result = panel.result
    store = scripted.wb.store
    run = store.get_run(result.run_id)
    assert (run["kind"], run["status"], run["prompt"]) == ("pipeline", "done", "a login form")
    assert [s["prompt"] for s in store.list_steps(result.run_id)] == [
        "List the parts of a login form",
        "Write code for: a form",
    ]
    for name in ("analyse", "code"):
        row = panel.rows[name]
        assert row.status.value.split(" · ")[1] == "done"
        assert row.progress.value == row.progress.max and row.progress.bar_style == "success"
    assert panel.timeline.value[:4] == b"\x89PNG" and panel.timeline.layout.display == ""
    assert "<Form/>" not in panel.artifacts.value and "&lt;Form/&gt;" in panel.artifacts.value
    assert f"run {result.run_id}: done" in panel.message.value
    assert not panel.run_button.disabled and panel.stop_button.disabled  # ready for the next run


def test_stop_cancels_a_stalled_run_and_keeps_what_it_recorded(open_panel, scripted):
    stall = Stall()  # waits until the run is cancelled
    scripted.model("a", ["Once", " upon", stall])
    scripted.model("b", words("never asked"))
    panel = open_panel()
    press_run(panel, "x")
    assert stall.reached.wait(WAIT_S)
    assert panel.stop_button.disabled is False
    panel.stop_button.click()
    panel.handle.wait()
    assert panel.handle.done
    run = scripted.wb.store.get_run(panel.result.run_id)
    assert run["status"] == "cancelled"
    steps = {s["name"]: s for s in scripted.wb.store.list_steps(run["id"])}
    assert steps["analyse"]["status"] == "cancelled" and steps["analyse"]["output"].startswith("Once")
    assert steps["code"]["status"] == "cancelled" and steps["code"]["prompt"] is None  # never started
    assert panel.rows["analyse"].status.value.split(" · ")[1] == "cancelled"
    assert panel.rows["code"].progress.bar_style == "warning"
    assert "cancelled pipeline run" in panel.message.value
    assert not panel.run_button.disabled


CARD = ["```jsx\n", 'export default function Card({ title = "Hi" }) {\n', "  return <h2>{title}</h2>;\n}\n", "```"]


def test_a_run_that_writes_a_component_shows_its_live_preview_under_the_artifacts(open_panel, scripted):
    from lfwb.preview.widget import Preview

    scripted.model("a", words("a card"))
    scripted.model("b", CARD)
    panel = open_panel()
    press_run(panel, "a card")
    panel.handle.wait()
    assert panel.handle.done
    shown = list(panel.previews.children)
    assert len(shown) == 1
    previews = [p for p in _widgets(shown[0]) if isinstance(p, Preview)]
    assert len(previews) == 1 and "export default function Card" in previews[0].source
    assert previews[0].artifact["run_id"] == panel.result.run_id
    assert "export default function Card" in previews[0]._srcdoc.replace("&quot;", '"')


def test_each_run_replaces_the_last_run_s_previews_instead_of_piling_them_up(open_panel, scripted):
    from lfwb.preview.widget import Preview

    scripted.model("a", words("a card"))
    scripted.model("b", CARD)
    panel = open_panel()
    sizes, runs, old = [], [], []
    for _ in range(3):
        press_run(panel, "a card")
        panel.handle.wait()
        sizes.append(len(list(_widgets(panel))))
        runs.append([p.artifact["run_id"] for p in _widgets(panel) if isinstance(p, Preview)])
        old.extend(p for p in _widgets(panel) if isinstance(p, Preview))
    assert sizes[0] == sizes[1] == sizes[2]  # the panel does not grow run after run
    assert runs == [[r] for r in sorted({r for rs in runs for r in rs})]  # one preview each time: the run's own
    assert [p.comm is None for p in old] == [True, True, False]  # the replaced previews are closed


def test_each_step_s_text_shows_under_its_row_while_it_streams_and_once_it_ended(open_panel, scripted):
    stall = Stall()
    scripted.model("a", ["Once", " upon", stall])
    scripted.model("b", words("never asked"))
    panel = open_panel()
    press_run(panel, "x")
    assert stall.reached.wait(WAIT_S)
    eventually(lambda: "Once upon" in panel.rows["analyse"].text.value, what="the streamed text under its row")
    panel.stop()
    panel.handle.wait()
    assert "Once upon" in panel.rows["analyse"].text.value
    assert panel.rows["code"].text.value.count("never asked") == 0


def test_a_step_s_markdown_answer_renders_under_its_row_and_its_html_stays_text(open_panel, scripted):
    scripted.model("a", ["**Parts**: a <b>title</b> and", " <img src=x onerror=alert(1)>"])
    scripted.model("b", CARD)
    panel = open_panel()
    press_run(panel, "a card")
    panel.handle.wait()
    shown = panel.rows["analyse"].text.value
    assert "<strong>Parts</strong>" in shown and "&lt;img src=x" in shown and "<img" not in shown
    assert "export default function Card" in panel.rows["code"].text.value


def _widgets(widget):
    yield widget
    for child in getattr(widget, "children", ()):
        yield from _widgets(child)
