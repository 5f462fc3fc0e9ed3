"""What ui-component makes, in Chromium: a rendered spec is a component that works, a model's
hostile labels show as text, and the bundled pipeline on SmolLM2 gives one that renders."""

from __future__ import annotations

import pytest

from lfwb.pipelines.ui_spec import KINDS, render_component

pytestmark = pytest.mark.slow

EVERY_KIND = {
    "title": "All parts",
    "accent": "purple",
    "parts": [{"kind": k, "label": f"{k} label, second item"} for k in KINDS],
}
HOSTILE = "</div><script>parent.postMessage({type: 'pwned'}, '*')</script><img src=x onerror=alert(1)>{alert(1)}"


def test_a_spec_with_every_part_kind_renders_and_its_parts_work(page, render_in_runtime):
    shown = render_in_runtime(page, render_component(EVERY_KIND))
    assert shown["status"] == "ready", shown["error"]
    frame = shown["frame"]
    assert frame.locator("h2").first.inner_text() == "All parts"
    assert frame.locator('input[type="password"]').count() == 1 and frame.locator("li").count() >= 2
    frame.get_by_label("increase").click()
    frame.get_by_label("increase").click()
    assert frame.locator("strong").inner_text() == "2"
    frame.get_by_placeholder("todo label, second item").fill("buy milk")
    frame.get_by_role("button", name="Add").click()
    assert "buy milk" in frame.locator("li").all_inner_texts()
    frame.get_by_role("button", name="button label, second item").click()
    assert frame.get_by_text("button label, second item ✓").count() == 1


def test_hostile_labels_show_as_text_and_run_nothing(page, render_in_runtime):
    spec = {"title": HOSTILE, "accent": "red", "parts": [{"kind": k, "label": HOSTILE} for k in KINDS]}
    shown = render_in_runtime(page, render_component(spec))
    assert shown["status"] == "ready", shown["error"]
    root = shown["frame"].locator("#root")
    assert root.locator("script, img").count() == 0
    assert HOSTILE[:50] in root.inner_text()  # labels are cut at 60 characters
    assert not [m for m in shown["messages"] if m.get("type") == "pwned"]


def test_ui_component_on_smollm2_gives_a_jsx_artifact_that_renders(wb, page, render_in_runtime):
    result = wb.run_pipeline(
        "ui-component", input="a login form with email, password and a remember-me checkbox", seed=0
    )
    assert result.status == "done", result.error
    [artifact] = result.artifacts
    assert artifact["kind"] == "jsx" and artifact["filename"].endswith(".jsx")
    shown = render_in_runtime(page, artifact["content"])
    assert shown["status"] == "ready", shown["error"]
    assert shown["frame"].locator("#root").inner_text().strip()
