"""The frame's runtime page on its own (no Jupyter): transpiling, the allowed modules, props by
postMessage, and errors with the source's line. The same page the widget and saved notebooks use."""

from __future__ import annotations

import time

import pytest

from .conftest import post_props

pytestmark = pytest.mark.slow

COUNTER = """import { useState } from "react";
export default function Counter({ label = "Count" }) {
  const [n, setN] = useState(0);
  return <button onClick={() => setN(n + 1)}>{label}: {n}</button>;
}
"""

FRAMER = """import { motion } from "framer-motion";
import { addPropertyControls, ControlType } from "framer";

type Props = { title: string; tone: "calm" | "loud" };

export default function Banner({ title = "Hello", tone = "calm" }: Props) {
  return <motion.div style={{ position: "relative" }} animate={{ opacity: 1 }}>{title} ({tone})</motion.div>;
}

addPropertyControls(Banner, {
  title: { type: ControlType.String, defaultValue: "Hello" },
  tone: { type: ControlType.Enum, options: ["calm", "loud"], defaultValue: "calm" },
});
"""


def wait_text(locator, expected: str, timeout_s: float = 5) -> None:
    deadline = time.monotonic() + timeout_s
    while locator.inner_text() != expected:
        assert time.monotonic() < deadline, f"{expected!r} never showed; saw {locator.inner_text()!r}"
        time.sleep(0.05)


def test_props_arrive_by_message_and_keep_the_components_state(page, render_in_runtime):
    shown = render_in_runtime(page, COUNTER, {"label": "Clicks"})
    button = shown["frame"].locator("button")
    assert shown["status"] == "ready" and button.inner_text() == "Clicks: 0"
    button.click()
    post_props(page, {"label": "Taps"})
    wait_text(button, "Taps: 1")


def test_a_framer_component_with_motion_and_property_controls_renders(page, render_in_runtime):
    shown = render_in_runtime(page, FRAMER, {"tone": "loud"}, language="tsx")
    assert shown["status"] == "ready", shown["error"]
    assert shown["frame"].locator("#root").inner_text() == "Hello (loud)"


@pytest.mark.parametrize(
    "source, name, line, says",
    [
        ("export default function X() {\n  return <div>{</div>;\n}\n", "SyntaxError", 2, ""),
        ("export default function X() {\n  const a = null;\n  return <b>{a.b}</b>;\n}\n", "TypeError", 3, ""),
        (
            "import x from 'lodash';\nexport default function X() { return <b/>; }\n",
            "Error",
            1,
            "import 'lodash' is not available in the preview: only react, react-dom, framer, framer-motion",
        ),
        ("export function X() { return <b/>; }\n", "NoDefaultExport", None, "no default export"),
    ],
)
def test_errors_show_in_the_frame_and_are_reported_with_their_line(page, render_in_runtime, source, name, line, says):
    shown = render_in_runtime(page, source)
    error = shown["error"]
    assert shown["status"] == "error" and (error["name"], error["line"]) == (name, line)
    assert says in error["message"]
    assert name in shown["frame"].locator(".lfwb-error").inner_text()


def test_the_frame_reports_its_content_height(page, render_in_runtime):
    shown = render_in_runtime(page, "export default () => <div style={{ height: 300 }}>tall</div>\n")
    assert shown["status"] == "ready"
    page.wait_for_function("() => lfwbMessages.some((m) => m.type === 'height' && m.height >= 300)", timeout=5_000)
    heights = [m["height"] for m in page.evaluate("() => lfwbMessages") if m.get("type") == "height"]
    assert 300 <= heights[-1] <= 340
