"""`%lfw panel models`: buttons drive the real manager; the panel follows what happens elsewhere."""

from __future__ import annotations

import pytest

from conftest import run_ok
from lfwb.runtimes import default_model_path
from lfwb.widgets.models_panel import ModelsPanel


@pytest.fixture
def panel(wb):
    p = ModelsPanel(wb)
    yield p
    p.close()


def test_load_and_unload_buttons(panel, wb):
    row = panel.rows["smollm2"]
    assert row.state.value == "not loaded" and row.button.description == "Load"
    assert panel.memory.value == 0
    states, bars = [], []
    row.state.observe(lambda change: states.append(change["new"]), "value")
    row.progress.layout.observe(lambda change: bars.append(change["new"]), "visibility")

    row.button.click()

    assert wb.manager.stats()["models"][0]["loaded"]
    assert states[0] == "loading 0%" and states[-1].startswith("loaded · ") and "MiB" in states[-1]
    assert bars == ["visible", "hidden"]  # progress shown while loading, then put away
    assert row.button.description == "Unload" and not row.button.disabled
    used, budget = wb.manager.used_bytes(), wb.manager.budget_bytes
    assert panel.memory.value == pytest.approx(used / budget) and panel.memory.value > 0
    assert "MiB of" in panel.memory_label.value

    row.button.click()
    assert not wb.manager.stats()["models"][0]["loaded"]
    assert row.state.value == "not loaded" and panel.memory.value == 0


def test_stats_follow_generations_run_elsewhere(panel, wb):
    wb.generate("Say hi.", max_tokens=6, temperature=0)  # e.g. a %%lfw generate cell
    stats = panel.rows["smollm2"].stats.value
    assert stats.startswith("1 run · ") and "tok/s" in stats and "loaded in" in stats
    assert panel.rows["smollm2"].state.value.startswith("loaded")


def test_models_registered_or_dropped_elsewhere_appear_and_go(panel, wb):
    wb.manager.register(name="copy", runtime="llama_cpp", source=default_model_path())
    assert list(panel.rows) == ["smollm2", "copy"]
    assert [b for b in panel.table.children] == [panel.rows["smollm2"].box, panel.rows["copy"].box]
    wb.manager.unregister("copy")
    assert list(panel.rows) == ["smollm2"] and len(panel.table.children) == 1


def test_registering_and_dropping_a_model_again_and_again_leaves_no_widgets_behind(panel, wb):
    from ipywidgets.widgets.widget import _instances

    def churn() -> None:  # a row appears, then goes: every widget it made must go with it
        wb.manager.register(name="copy", runtime="llama_cpp", source=default_model_path())
        wb.manager.unregister("copy")

    churn()
    before = len(_instances)
    for _ in range(5):
        churn()
    assert len(_instances) == before and list(panel.rows) == ["smollm2"]


def test_eviction_shows_in_the_panel(panel, wb):
    wb.manager.register(name="copy", runtime="llama_cpp", source=default_model_path())
    wb.manager.budget_bytes = int(wb.manager.estimate("smollm2") * 1.5)
    panel.rows["smollm2"].button.click()
    panel.rows["copy"].button.click()  # no room for both: smollm2 goes
    assert panel.rows["smollm2"].state.value == "not loaded"
    assert panel.rows["copy"].state.value.startswith("loaded")
    assert panel.memory.value > 0.5


def test_a_refused_load_shows_one_line_in_the_panel(panel, wb):
    wb.manager.budget_bytes = 1024
    panel.rows["smollm2"].button.click()  # never raises into the widget machinery
    assert "InsufficientMemory" in panel.message.value and "smollm2 needs about" in panel.message.value
    assert panel.rows["smollm2"].state.value == "not loaded"
    assert panel.rows["smollm2"].progress.layout.visibility == "hidden"


def test_a_closed_panel_stops_listening(wb):
    p = ModelsPanel(wb)
    p.close()
    wb.generate("Hi", max_tokens=2)
    assert p.rows["smollm2"].stats.value.startswith("0 runs")


def test_the_magic_returns_the_panel(ip, wb):
    panel = run_ok(ip, "%lfw panel models")
    try:
        assert isinstance(panel, ModelsPanel) and list(panel.rows) == ["smollm2"]
        assert panel.workbench is wb
    finally:
        panel.close()
