"""What a person sees in a real JupyterLab, driven by Chromium: compare's columns wrap between
words, the models panel's lines are whole, the pipeline panel shows each step's text and keeps
one preview per run, however many runs (the rough edges of issue 22)."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import RESULTS, write_notebook
from .test_preview_lab import _kernel_connected, run_cell

pytestmark = pytest.mark.slow

TESTS = Path(__file__).resolve().parents[1]
ANSWER = (
    "Notebooks that remember everything make it easy to compare what each model said, "
    "because the answers stay beside the prompt that produced them and nothing gets lost. "
) * 3
PARTS = "The parts: a title that greets and a button that counts"
CARD = 'export default function Card({ title = "Hi" }) {\n  return <h2>{title}</h2>;\n}\n'
PIPELINE = """steps:
  - name: analyse
    model: a
    prompt: "List the parts of {input}"
  - name: code
    model: b
    prompt: "Write code for: {steps.analyse.output}"
"""
SETUP = f"""import sys, lfwb
sys.path.insert(0, {str(TESTS)!r})
from fixtures.scripted import Scripted, words
scripted = Scripted(lfwb.workbench())
for name in ("left", "right"):
    scripted.model(name, words({ANSWER!r}))
scripted.model("big", [], memory=int(202.8 * 2**20))
lfwb.workbench().load_model("big")
scripted.model("a", words({PARTS!r}))
scripted.model("b", ["```jsx\\n", {CARD!r}, "```"])
lfwb.workbench().save_pipeline({PIPELINE!r}, name="ui")"""
RUN_PANEL = """import time
p.choice.value, p.input.value = "ui", "a card"
p.run()
p.handle.wait()
deadline = time.monotonic() + 30
while p.run_button.disabled and time.monotonic() < deadline:  # until the panel has shown the end
    time.sleep(0.05)
print(len(p.previews.children), "preview")"""

# Words of the element's text that the browser drew across two lines (a word broken in the middle).
BROKEN_WORDS = """(el) => {
  const node = el.firstChild, text = node.textContent, broken = [];
  for (const m of text.matchAll(/\\S+/g)) {
    const range = document.createRange();
    range.setStart(node, m.index);
    range.setEnd(node, m.index + m[0].length);
    const tops = new Set([...range.getClientRects()].map((r) => Math.round(r.top)));
    if (tops.size > 1) broken.push(m[0]);
  }
  return {broken, height: el.clientHeight};
}"""

CUT = """(root) => [...root.querySelectorAll('.widget-label, .widget-html-content')]
  .filter((el) => el.scrollWidth > el.clientWidth + 1).map((el) => el.textContent)"""


@pytest.fixture(scope="module")
def cells(lab, browser):
    """The notebook run top to bottom in JupyterLab: (page, {name: cell})."""
    write_notebook(
        lab["root"] / "rough-edges.ipynb",
        [
            "%load_ext lfwb",
            SETUP,
            "%%lfw compare -m left,right\nSay it.",
            "%lfw panel models",
            "%lfw panel pipeline",
            "p = _\n" + RUN_PANEL,
            RUN_PANEL,
        ],
    )
    # Narrow enough that compare's columns wrap many times.
    context = browser.new_context(viewport={"width": 1100, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.goto(f"{lab['url']}/lab/tree/rough-edges.ipynb?reset&token={lab['token']}")
    page.locator(".jp-Notebook .jp-Cell").first.wait_for()
    _kernel_connected(lab)
    shown = [run_cell(page, i) for i in range(5)]
    pipeline = shown[4]
    pipeline.locator(".widget-vbox").first.wait_for()
    frames = []
    for i in (5, 6):  # the panel's Run, twice: the previews it holds after each
        out = run_cell(page, i).locator(".jp-OutputArea").inner_text()
        assert "1 preview" in out, out
        pipeline.locator("iframe").first.wait_for()
        page.wait_for_timeout(500)  # the widget's children reach the page a moment after the kernel ends
        frames.append(pipeline.locator("iframe").count())
    RESULTS.mkdir(exist_ok=True)
    for name, i in (("compare", 2), ("models-panel", 3), ("pipeline-panel", 4)):
        shown[i].screenshot(path=str(RESULTS / f"rough-edges-{name}.png"))
    yield page, {"compare": shown[2], "models": shown[3], "pipeline": pipeline, "frames": frames}
    context.close()


def test_compare_columns_wrap_between_words_never_inside_one(cells):
    _, shown = cells
    columns = shown["compare"].locator(".lfwb-compare-column pre")
    assert columns.count() == 2
    for i in range(2):
        seen = columns.nth(i).evaluate(BROKEN_WORDS)
        assert seen["height"] > 60, "the column did not wrap at all: the test would prove nothing"
        assert seen["broken"] == [], f"words broken across lines: {seen['broken']}"


def test_the_models_panel_shows_its_lines_whole(cells):
    _, shown = cells
    panel = shown["models"]
    panel.get_by_text("loaded · 202.8 MiB").wait_for()
    assert panel.locator(".jp-OutputArea").evaluate(CUT) == []


def test_the_pipeline_panel_shows_each_step_s_text_and_one_preview_per_run(cells):
    _, shown = cells
    panel = shown["pipeline"]
    assert panel.get_by_text(PARTS).first.is_visible()  # the step's text, with nothing to expand
    assert panel.get_by_text("export default function Card").first.is_visible()
    first, second = shown["frames"]
    assert first >= 1 and second == first  # the second run replaced the first one's preview
