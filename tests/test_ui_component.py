"""The ui-component flow's renderer: a UI spec (title, known parts, accent) → a React component.

The renderer on its own (every part kind renders and passes the preview's validator; a model's
hostile labels stay text), and a pipeline step with `render: ui-spec` on the scripted backend
(decoded under the spec's schema, its artifact the rendered component). In Chromium:
tests/browser/test_ui_component_render.py.
"""

from __future__ import annotations

import json

import pytest

from conftest import one_line
from fixtures.scripted import words
from lfwb.errors import PipelineError
from lfwb.pipelines.library import BUNDLED
from lfwb.pipelines.spec import parse_pipeline
from lfwb.pipelines.ui_spec import KINDS, SCHEMA, component_name, read_spec, render_answer, render_component
from lfwb.preview.source import validate_source

HOSTILE = [
    "</div><script>alert(1)</script>",
    "{alert(1)}",
    '"; alert(1); "',
    "`${alert(1)}`",
    "<img src=x onerror=alert(1)>",
    "\\u003c/script>",
    "&lt;b&gt;",
]
EVERY_KIND = {
    "title": "All parts",
    "accent": "purple",
    "parts": [{"kind": k, "label": f"{k} label, second item"} for k in KINDS],
}


def spec_step(**step) -> dict:
    return {"steps": [{"name": "spec", "model": "m", "prompt": "Request: {input}", "render": "ui-spec", **step}]}


def test_a_spec_with_every_part_kind_renders_one_component_the_preview_accepts():
    source = render_component(EVERY_KIND)
    validate_source(source)  # imports, a default export, and tree-sitter's parse: no syntax error
    assert source.count("export default function AllParts()") == 1
    assert all(f"{k} label" in source for k in KINDS)


@pytest.mark.parametrize("label", HOSTILE)
def test_a_hostile_label_is_a_string_literal_never_markup_or_code(label):
    spec = {"title": label, "accent": "red", "parts": [{"kind": k, "label": label} for k in KINDS]}
    source = render_component(spec)
    validate_source(source)
    literal = json.dumps(label, ensure_ascii=False)
    for char in "<>&\u2028":
        literal = literal.replace(char, f"\\u{ord(char):04x}")
    assert literal in source  # as a JS string, escaped for the page it is inlined into
    assert "<script" not in source and "</div><" not in source and "<img" not in source
    assert "alert(1)}" not in source.replace(literal, "")  # nothing of the label outside its string


def test_the_components_name_keeps_letters_and_digits_only():
    assert component_name("pro plan — $12!") == "ProPlan12"
    assert component_name("</script>") == "Script"
    assert component_name("12 days") == "Component12Days"
    assert component_name("") == "Component"


def test_reading_a_spec_drops_unknown_kinds_and_repeats_and_bounds_labels():
    spec = read_spec(
        'Here: ```json\n{"title": "Shop", "parts": [{"kind": "button", "label": "Buy"}, '
        '{"kind": "button", "label": "Buy"}, {"kind": "marquee", "label": "x"}, '
        f'{{"kind": "Paragraph", "label": "{"word " * 40}"}}], "accent": "mauve"}}\n```'
    )
    assert [p["kind"] for p in spec["parts"]] == ["button", "text"]
    assert len(spec["parts"][1]["label"]) == 60 and spec["parts"][1]["label"].endswith("…")
    assert spec["accent"] == "blue"  # a colour it does not know: the default


@pytest.mark.parametrize(
    "answer, says",
    [
        ("a login form with two fields", "the UI spec is not JSON: the answer holds no '{'"),
        ('{"title": "Login", "parts": [', "the UI spec is not JSON: Expecting value"),
        ('{"parts": [{"kind": "marquee", "label": "x"}]}', "the UI spec has no title and no part of a known kind"),
    ],
)
def test_an_answer_that_is_no_spec_is_one_line(answer, says):
    with pytest.raises(PipelineError) as e:
        render_answer(answer)
    assert says in str(e.value) and len(str(e.value).splitlines()) == 1


def test_the_bundled_ui_component_tells_the_model_every_kind_the_renderer_knows():
    system = parse_pipeline((BUNDLED / "ui-component.yaml").read_text()).step("spec").settings["system"]
    assert all(f"- {kind}:" in system for kind in KINDS)
    assert SCHEMA["properties"]["parts"]["items"]["properties"]["kind"]["enum"] == list(KINDS)


# -- a pipeline step with render: ui-spec ------------------------------------------------------


def test_a_render_step_decodes_under_the_spec_schema_and_keeps_the_component_as_a_jsx_artifact(scripted):
    answer = json.dumps(
        {
            "title": "Login",
            "parts": [{"label": "Email", "kind": "email"}, {"label": "Sign in", "kind": "button"}],
            "accent": "green",
        }
    )
    model = scripted.model("m", words(answer))
    result = scripted.wb.run_pipeline(spec_step(), input="a login form")
    assert result.status == "done" and result.steps["spec"].text == answer
    asked = model.asked[0].json_schema
    assert asked["properties"]["parts"]["items"]["properties"]["kind"]["enum"] == list(KINDS)
    [artifact] = result.artifacts
    assert (artifact["kind"], artifact["filename"]) == ("jsx", "Login.jsx")
    assert artifact["content"] == render_component(json.loads(answer))


def test_a_render_step_whose_answer_breaks_the_schema_is_asked_again(scripted):
    good = '{"title": "Hi", "parts": [{"label": "Go", "kind": "button"}], "accent": "red"}'
    model = scripted.model(
        "m", [], answers=[words('{"title": "Hi", "parts": [{"label": "Go", "kind": "marquee"}]'), words(good)]
    )
    result = scripted.wb.run_pipeline(spec_step(retries=1), input="x")
    assert result.status == "done" and len(model.asked) == 2
    assert [a["filename"] for a in result.artifacts] == ["Hi.jsx"]


@pytest.mark.parametrize(
    "step, says",
    [
        ({"render": "svelte"}, "`render:` names a renderer (ui-spec), got 'svelte'"),
        ({"schema": "json"}, "`render: ui-spec` decodes the answer under its own schema — drop `schema:`"),
    ],
)
def test_a_bad_render_is_one_line_and_no_run(scripted, step, says):
    scripted.model("m", words("{}"))
    with pytest.raises(PipelineError) as e:
        scripted.wb.run_pipeline(spec_step(**step), input="x")
    assert says in one_line(str(e.value)) and scripted.wb.store.list_runs() == []
