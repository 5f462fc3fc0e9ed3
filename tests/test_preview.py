"""The JSX/TSX preview on the Python side: `%%lfw jsx`, `%lfw preview`, the widget's traits and
display, its controls, and bad input refused in one line with nothing kept. What the frame does
in a browser is tests/browser/."""

from __future__ import annotations

import html
import re

import pytest

from conftest import refused_in_one_line

COUNTER = """import { useState } from "react";

export default function Counter({ label = "Count", step = 1 }) {
  const [n, setN] = useState(0);
  return <button onClick={() => setN(n + step)}>{label}: {n}</button>;
}
"""

PRICING = """type Props = { plan: string; price: number; featured: boolean; accent: string; period: "month" | "year" };

export default function PricingCard({ plan = "Pro", price = 12, featured = false, accent = "#4f46e5", period = "month" }: Props) {
  return <div style={{ border: `2px solid ${accent}` }}>{plan} {price}/{period}{featured ? " ★" : ""}</div>;
}
"""


def artifact_rows(wb) -> list[dict]:
    return wb.store.list_artifacts(project_id=wb.project_id)


def srcdoc(bundle_html: str) -> str:
    return html.unescape(re.search(r'srcdoc="([^"]*)"', bundle_html).group(1))


def test_jsx_cell_previews_the_component_and_keeps_it_as_an_artifact(ip, wb):
    result = ip.run_cell('%%lfw jsx --props \'{"label": "Clicks"}\'\n' + COUNTER)
    w = result.result
    assert result.success and w.props == {"label": "Clicks"} and w.language == "jsx"
    [row] = artifact_rows(wb)
    assert (row["kind"], row["language"], row["filename"]) == ("jsx", "jsx", "Counter.jsx")
    assert row["content"] == COUNTER and w.artifact["id"] == row["id"]


def test_the_same_cell_run_again_keeps_one_artifact(ip, wb):
    ip.run_cell("%%lfw jsx\n" + COUNTER)
    ip.run_cell("%%lfw jsx\n" + COUNTER)
    ip.run_cell("%%lfw jsx --name Tally\n" + COUNTER)
    assert [r["filename"] for r in artifact_rows(wb)] == ["Tally.jsx", "Counter.jsx"]


def test_a_component_exported_by_name_is_kept_under_its_name(ip, wb):
    ip.run_cell('%%lfw jsx\nimport { memo } from "react"\nconst Badge = () => <b>new</b>\nexport default memo(Badge)\n')
    assert artifact_rows(wb)[0]["filename"] == "Badge.jsx"


def test_a_typescript_component_is_kept_as_tsx(ip, wb):
    w = ip.run_cell("%%lfw jsx\n" + PRICING).result
    assert w.language == "tsx" and artifact_rows(wb)[0]["filename"] == "PricingCard.tsx"


def test_the_display_holds_the_live_widget_and_a_static_sandboxed_frame(ip):
    w = ip.run_cell("%%lfw jsx --height 220\n" + COUNTER).result
    data, _ = w._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in data
    static = data["text/html"]
    assert 'sandbox="allow-scripts"' in static and "allow-same-origin" not in static
    assert "height:220px" in static
    page = srcdoc(static)
    assert "default-src 'none'" in page and "Counter" in page


def test_the_frame_page_inlines_the_runtime_and_fetches_nothing():
    from lfwb.preview.runtime import runtime_page

    page = runtime_page(COUNTER, {}, "jsx")
    assert not re.search(r"<script[^>]+src=|<link[^>]+href=|https?://(?!www\.w3\.org)[\w.-]+/[\w/.-]*\.js", page)
    assert "Content-Security-Policy" in page and "script-src 'unsafe-inline'" in page


def test_a_source_holding_a_closing_script_tag_cannot_break_out_of_the_page():
    from lfwb.preview.runtime import runtime_page

    source = 'export default function X() { return <p>{"</script><script>alert(1)</script>"}</p> }\n'
    page = runtime_page(source, {}, "jsx")
    config = page.split("id='lfwb-config'>", 1)[1].split("</script>", 1)[0]
    assert "alert(1)" in config and "<" not in config


def test_controls_come_from_the_props_and_a_change_reaches_the_props(ip):
    w = ip.run_cell("%%lfw jsx\n" + PRICING).result
    controls = w._controls.widgets
    assert {name: type(c).__name__ for name, c in controls.items()} == {
        "plan": "Text",
        "price": "IntText",
        "featured": "Checkbox",
        "accent": "ColorPicker",
        "period": "Dropdown",
    }
    controls["plan"].value = "Team"
    controls["period"].value = "year"
    assert w.props == {"plan": "Team", "period": "year"}


def test_props_set_from_python_move_the_controls_without_echo(ip):
    w = ip.run_cell("%%lfw jsx\n" + PRICING).result
    w.props = {"price": 30, "featured": True}
    controls = w._controls.widgets
    assert (controls["price"].value, controls["featured"].value) == (30, True)
    assert w.props == {"price": 30, "featured": True}


def test_the_panel_puts_the_controls_beside_the_preview(ip):
    w = ip.run_cell("%%lfw jsx\n" + PRICING).result
    left, controls = w.panel.children
    assert left.children[0] is w and len(controls.children) == 5


def test_an_error_the_frame_reports_reaches_python_and_shows_under_the_preview(ip):
    w = ip.run_cell("%%lfw jsx\n" + COUNTER).result
    w.error, w.status = "Error (line 5): boom", "error"  # what host.js sets from the frame's report
    assert "boom" in w._error_line.value and "line 5" in w._error_line.value
    assert "error='Error (line 5): boom'" in repr(w)


def test_a_new_source_rebuilds_the_frame_and_its_controls(ip):
    w = ip.run_cell("%%lfw jsx\n" + COUNTER).result
    first = w._srcdoc
    w.source = PRICING
    assert w._srcdoc != first and w.language == "tsx" and "accent" in w._controls.widgets


def test_preview_shows_a_stored_component(ip, wb):
    row = wb.store.add_artifact(wb.project_id, PRICING, kind="tsx", language="tsx", filename="card.tsx")
    w = ip.run_cell(f'%lfw preview {row["id"]} --props \'{{"plan": "Max"}}\'').result
    assert w.source == PRICING and w.language == "tsx" and w.props == {"plan": "Max"}


@pytest.mark.parametrize(
    "cell, says",
    [
        ("%%lfw jsx --props '[1, 2]'\n" + COUNTER, "--props needs a JSON object"),
        ("%%lfw jsx --props '{label'\n" + COUNTER, "--props needs a JSON object"),
        ("%%lfw jsx --height 5\n" + COUNTER, "--height is in pixels"),
        ("%%lfw jsx\nimport _ from 'lodash'\n" + COUNTER, "lodash"),
        ("%%lfw jsx\nimport x from './x'\n" + COUNTER, "./x"),
        ("%%lfw jsx\nexport function NoDefault() { return <b/> }\n", "default"),
        (
            "%%lfw jsx\n" + COUNTER.replace("</button>", "</b>"),
            "(line 5, column 61): `<button>` from line 5 is closed by `</b>`",
        ),
        ("%%lfw jsx\n" + COUNTER + "// " + "x" * 1_000_000 + "\n", "at most"),
    ],
)
def test_bad_components_are_refused_in_one_line_and_nothing_is_kept(ip, wb, capsys, caplog, cell, says):
    seen = refused_in_one_line(ip, cell, capsys, caplog)
    assert says in seen
    assert artifact_rows(wb) == []
    assert ip.run_cell("%%lfw jsx\n" + COUNTER).success  # the notebook keeps working


def test_preview_of_an_artifact_that_is_not_a_component_is_one_line(ip, wb, capsys, caplog):
    row = wb.store.add_artifact(wb.project_id, "body { color: red }", kind="css", language="css", filename="a.css")
    seen = refused_in_one_line(ip, f"%lfw preview {row['id']}", capsys, caplog)
    assert "css, not a JSX/TSX component" in seen
    assert "NotFound" in refused_in_one_line(ip, "%lfw preview 999", capsys, caplog)


def test_a_checkout_without_the_built_runtime_says_how_to_build_it(ip, wb, monkeypatch, tmp_path, capsys, caplog):
    from lfwb.preview import runtime

    monkeypatch.setattr(runtime, "STATIC", tmp_path / "no-static")
    seen = refused_in_one_line(ip, "%%lfw jsx\n" + COUNTER, capsys, caplog)
    assert "PreviewUnavailable" in seen and "make setup" in seen
    assert artifact_rows(wb) == []


def test_a_component_kept_by_a_jsx_cell_exports_to_framer(ip, wb, tmp_path):
    w = ip.run_cell("%%lfw jsx\n" + PRICING).result
    assert ip.run_cell(f"%lfw export framer {w.artifact['id']} --to PricingCard.tsx").success
    assert "addPropertyControls(PricingCard" in (tmp_path / "PricingCard.tsx").read_text()


def test_each_component_a_pipeline_run_makes_is_previewed_under_its_steps(ip, scripted, published):
    fence = "```"
    scripted.model("coder", [f"Here:\n{fence}jsx\n{COUNTER}{fence}\n{fence}css\nb {{ color: red }}\n{fence}\n"])
    assert ip.run_cell("%%lfw pipeline ui\nsteps:\n  - name: jsx\n    model: coder\n    prompt: 'a counter'\n").success
    assert ip.run_cell("%lfw run ui").success
    shown = [m["data"] for m in published if "text/html" in m["data"] and "lfwb preview" in m["data"]["text/html"]]
    assert len(shown) == 1 and "Counter" in srcdoc(shown[0]["text/html"])


def test_only_a_component_that_imports_framer_motion_gets_its_bundle_in_the_page():
    from lfwb.preview.runtime import component_page, static_file

    motion = static_file("motion.js")
    plain = component_page(COUNTER, {}, "jsx")
    moving = component_page(
        'import { motion } from "framer-motion";\n'
        "export default () => <motion.div animate={{ x: 4 }}>hi</motion.div>\n",
        {},
        "jsx",
    )
    assert motion not in plain and motion in moving
    assert len(plain) < len(moving) - 100_000
