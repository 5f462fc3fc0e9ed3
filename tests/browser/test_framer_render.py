"""Each golden Framer export (tests/golden/framer/*.framer.tsx) renders in the preview's runtime,
with the defaults its addPropertyControls block gives, as Framer would pass them."""

from __future__ import annotations

from pathlib import Path

import pytest

from lfwb.preview.props import extract_props

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "framer"
EXPORTS = sorted(GOLDEN.glob("*.framer.tsx"))

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("path", EXPORTS, ids=lambda p: p.name)
def test_each_golden_framer_export_renders_with_its_control_defaults(page, render_in_runtime, path):
    source = path.read_text()
    specs = extract_props(source)
    props = {p.name: p.initial for p in specs}
    result = render_in_runtime(page, source, props=props, language="tsx")
    assert result["status"] == "ready", result["error"]
    text = result["frame"].locator("#root").inner_text()
    shown = [p.initial for p in specs if p.kind == "string"]  # each golden shows its text props
    assert all(value in text for value in shown), (text, shown)
