"""Typed and checked pipeline steps: `schema:`, `check:` with `retries:`, `prefill:`.

On the scripted backend (a script per call stands for a model asked again), but for one
end-to-end prefill on the bundled SmolLM2 (slow). Every attempt of a checked step is a row of
its own; bad definitions are one line and leave no row.
"""

from __future__ import annotations

import json

import pytest
from pydantic import BaseModel

from conftest import one_line, run_error, run_ok, table_counts
from fixtures.scripted import words
from gemini_server import register_fake
from lfwb.errors import PipelineError
from lfwb.pipelines.checks import RETRY_NOTE
from lfwb.pipelines.spec import parse_pipeline
from lfwb.structured import DEFAULT_MAX_ITEMS

PARTS = {
    "type": "object",
    "properties": {"parts": {"type": "array", "items": {"type": "string"}}, "title": {"type": "string"}},
    "required": ["parts", "title"],
}
COMPONENT = '```jsx\nexport default function Card() {\n  return <div className="card">Hi</div>;\n}\n```\n'
PREFILL = '```jsx\nimport React from "react";\nexport default function'


def one_step(**step) -> dict:
    return {"steps": [{"name": "code", "model": "m", "prompt": "Write it: {input}", **step}]}


def attempts(store, run_id: int) -> list[dict]:
    return store.list_steps(run_id, attempts=True)


def test_the_workbench_lists_a_steps_attempts_or_its_last(scripted):
    scripted.model("m", [], answers=[["no"], ["42"]])
    result = scripted.wb.run_pipeline(one_step(check={"regex": r"\d"}, retries=1), input="x")
    assert [r["attempt"] for r in scripted.wb.steps(result.run_id, attempts=True)] == [1, 2]
    assert [(r["attempt"], r["output"]) for r in scripted.wb.steps(result.run_id)] == [(2, "42")]


# -- check: and retries: ----------------------------------------------------------------------


def test_a_check_that_fails_twice_then_passes_is_three_recorded_attempts_and_the_step_done(scripted):
    model = scripted.model("m", [], answers=[["not json"], ['{"a": 1,', " }"], ['{"a": 1}']])
    result = scripted.wb.run_pipeline(one_step(check="json", retries=2, seed=7), input="x")
    store = scripted.wb.store
    rows = attempts(store, result.run_id)
    assert [(r["attempt"], r["status"]) for r in rows] == [(1, "failed"), (2, "failed"), (3, "done")]
    assert rows[0]["error"] == "the answer is not JSON: Expecting value (line 1, column 1)"
    assert rows[1]["output"] == '{"a": 1, }' and rows[1]["error"].startswith("the answer is not JSON")
    assert [r["name"] for r in store.list_steps(result.run_id)] == ["code"]  # the step is its last attempt
    assert store.list_steps(result.run_id)[0]["id"] == rows[2]["id"]
    step = result.steps["code"]
    assert (step.status, step.text, step.attempts, step.error) == ("done", '{"a": 1}', 3, None)
    assert result.status == "done" and store.get_run(result.run_id)["status"] == "done"
    assert len(model.asked) == 3


def test_the_retry_prompt_carries_the_error_line_and_a_new_seed(scripted):
    model = scripted.model("m", [], answers=[["def f(:"], ["def f():\n    return 1"]])
    result = scripted.wb.run_pipeline(one_step(check="python", retries=1, seed=7), input="a function")
    first, second = (gen.messages[-1]["content"] for gen in model.asked)
    assert first == "Write it: a function"
    error = attempts(scripted.wb.store, result.run_id)[0]["error"]
    assert error == "the answer's Python does not compile: invalid syntax (line 1)"
    assert second == first + "\n\n" + RETRY_NOTE.format(error=error)
    assert [gen.seed for gen in model.asked] == [7, 8]
    rows = attempts(scripted.wb.store, result.run_id)
    assert rows[1]["prompt"] == second and json.loads(rows[1]["params_json"])["seed"] == 8
    assert result.steps["code"].status == "done"


def test_a_step_that_never_passes_fails_with_its_last_error_and_skips_what_needs_it(scripted):
    scripted.model("m", [], answers=[["no component here"], ["still none"]])
    after = scripted.model("after", ["never asked"])
    result = scripted.wb.run_pipeline(
        {
            "steps": [
                {
                    "name": "code",
                    "model": "m",
                    "prompt": "{input}",
                    "check": {"regex": r"^export default"},
                    "retries": 1,
                },
                {"name": "use", "model": "after", "prompt": "{steps.code.output}"},
            ]
        },
        input="x",
    )
    rows = attempts(scripted.wb.store, result.run_id)
    assert [(r["name"], r["attempt"], r["status"]) for r in rows] == [
        ("code", 1, "failed"),
        ("code", 2, "failed"),
        ("use", 1, "skipped"),
    ]
    last = "the answer does not match the pattern '^export default'"
    assert rows[1]["output"] == "still none" and rows[1]["error"] == last
    assert (result.status, result.error) == ("failed", f"step code: {last}")
    assert result.steps["code"].error == last and after.asked == []
    assert scripted.wb.store.list_artifacts(run_id=result.run_id) == []  # a refused answer is not an output


def test_a_jsx_check_uses_the_previews_validator_and_keeps_only_the_passing_component(scripted):
    broken = "```jsx\nimport { View } from 'react-native';\nexport default function A() { return <View/>; }\n```"
    scripted.model("m", [], answers=[[broken], [COMPONENT]])
    result = scripted.wb.run_pipeline(one_step(check="jsx", retries=1), input="a card")
    rows = attempts(scripted.wb.store, result.run_id)
    assert "imports 'react-native' (line 1)" in rows[0]["error"] and rows[1]["status"] == "done"
    artifacts = scripted.wb.store.list_artifacts(run_id=result.run_id)
    assert [(a["kind"], "Card" in a["content"]) for a in artifacts] == [("jsx", True)]


def test_a_jsx_check_refuses_a_component_that_does_not_parse_with_its_line(scripted):
    # What smollm2 writes (a broken destructuring): the hand tokenizer once passed it.
    broken = "```jsx\nexport default function Card({ title, }) {\n  const { a, = title;\n  return <b>{a}</b>;\n}\n```"
    scripted.model("m", [], answers=[[broken], [COMPONENT]])
    result = scripted.wb.run_pipeline(one_step(check="jsx", retries=1), input="a card")
    first = attempts(scripted.wb.store, result.run_id)[0]
    assert first["status"] == "failed" and "the component does not parse (line 2" in first["error"]
    assert result.steps["code"].status == "done"


@pytest.mark.parametrize(
    ("answer", "check", "kind"),
    [
        ("```\nexport default function A() { return <b/>; }\n```", "jsx", "jsx"),  # a fence with no language
        ("export default function A() { return <b/>; }", "tsx", "tsx"),  # no fence at all
        ('Here:\n```\n{"a": 1}\n```\n```\nnot checked\n```', "json", "json"),
        ("```python\nx = 1\n```", "python", "python"),
    ],
)
def test_the_code_a_check_passed_is_an_artifact_of_its_kind(scripted, answer, check, kind):
    scripted.model("m", [answer])
    result = scripted.wb.run_pipeline(one_step(check=check), input="x")
    rows = scripted.wb.store.list_artifacts(run_id=result.run_id)
    assert rows[-1]["kind"] == kind  # the first block the check read (the newest row is listed first)


def test_a_code_check_reads_the_block_of_its_language(scripted):
    scripted.model("m", ['```css\n.a {}\n```\n```json\n{"ok": true}\n```'])
    assert scripted.wb.run_pipeline(one_step(check="json"), input="x").status == "done"
    scripted.model("n", ["```css\n.a {}\n```"])
    result = scripted.wb.run_pipeline(one_step(check="json", model="n"), input="x")
    assert result.steps["code"].error == "the answer has no ```json code block (it has css)"


def test_the_timeline_draws_a_bar_per_attempt(scripted):
    from lfwb.pipelines.timeline import timeline_rows

    scripted.model("m", [], answers=[["no"], ["42"]])
    scripted.model("f", ["fine"])
    result = scripted.wb.run_pipeline(
        {
            "steps": [
                {"name": "first", "model": "f", "prompt": "{input}"},
                {
                    "name": "code",
                    "model": "m",
                    "prompt": "{input}",
                    "check": {"regex": r"\d"},
                    "retries": 1,
                    "depends_on": ["first"],
                },
            ]
        },
        input="x",
    )
    bars = timeline_rows(scripted.wb.store, result.run_id)
    assert [(b.name, b.status) for b in bars] == [
        ("first", "done"),
        ("code · attempt 1", "failed"),
        ("code · attempt 2", "done"),
    ]


def test_the_step_costs_every_attempt(scripted):
    from lfwb.runtimes.base import Chunk

    scripted.model("m", [], answers=[["nope", Chunk(cost_usd=0.01)], ["42", Chunk(cost_usd=0.02)]], remote=True)
    result = scripted.wb.run_pipeline(one_step(check={"regex": r"\d+"}, retries=1), input="x")
    assert result.steps["code"].cost_usd == pytest.approx(0.03)
    assert scripted.wb.store.get_run(result.run_id)["cost_usd"] == pytest.approx(0.03)


# -- prefill: ----------------------------------------------------------------------------------


def test_a_prefill_starts_the_answer_and_the_model_continues_it(scripted):
    model = scripted.model("m", words(" Card() { return <b>Hi</b>; }\n```"))
    result = scripted.wb.run_pipeline(one_step(prefill=PREFILL, check="jsx"), input="a card")
    text = result.steps["code"].text
    assert text == PREFILL + " Card() { return <b>Hi</b>; }\n```" and model.asked[0].prefill == PREFILL
    (artifact,) = scripted.wb.store.list_artifacts(run_id=result.run_id)
    assert artifact["kind"] == "jsx" and artifact["content"].startswith('import React from "react";')


def test_a_prefill_skips_a_remote_link_of_a_chain_without_sending_it(scripted, fake_gemini):
    register_fake(scripted.wb, fake_gemini, "g")
    scripted.model("m", words(" Card() {}\n```"))
    result = scripted.wb.run_pipeline(one_step(model=["g", "m"], prefill=PREFILL), input="a card")
    row = scripted.wb.store.list_steps(result.run_id)[0]
    assert row["answered_by"] == "m" and "prefill needs a local model — g answers through a remote API" in row["error"]
    assert fake_gemini.requests == [] and result.status == "done"


# -- schema: ----------------------------------------------------------------------------------


def test_a_schema_step_is_decoded_under_it_and_its_fields_reach_the_next_step(scripted):
    analyse = scripted.model("a", ['{"parts": ["header", "button"], ', '"title": "Log in"}'])
    code = scripted.model("b", ["ok"])
    result = scripted.wb.run_pipeline(
        {
            "steps": [
                {"name": "analyse", "model": "a", "prompt": "{input}", "schema": PARTS},
                {
                    "name": "code",
                    "model": "b",
                    "prompt": "Title: {steps.analyse.data.title}\nParts: "
                    "{steps.analyse.data.parts}\nFirst: {steps.analyse.data.parts.0}",
                },
            ]
        },
        input="a login form",
    )
    sent = analyse.asked[0].json_schema
    assert sent["properties"]["parts"]["maxItems"] == DEFAULT_MAX_ITEMS  # bounded, as structured.py gives it
    assert code.asked[0].json_schema is None
    assert code.asked[0].messages[-1]["content"] == 'Title: Log in\nParts: ["header", "button"]\nFirst: header'
    assert result.steps["analyse"].data == {"parts": ["header", "button"], "title": "Log in"}


class Analysis(BaseModel):
    title: str
    parts: list[str]


def test_a_pydantic_schema_by_name_gives_a_model_instance_and_a_mismatch_is_retried(scripted):
    scripted.model("a", [], answers=[['{"title": "Log in"}'], ['{"title": "Log in", "parts": ["form"]}']])
    scripted.model("b", ["ok"])
    result = scripted.wb.run_pipeline(
        {
            "steps": [
                {"name": "analyse", "model": "a", "prompt": "{input}", "schema": "Analysis", "retries": 1},
                {"name": "code", "model": "b", "prompt": "{steps.analyse.data}"},
            ]
        },
        input="x",
        namespace={"Analysis": Analysis},
    )
    rows = attempts(scripted.wb.store, result.run_id)
    assert rows[0]["status"] == "failed" and "does not match Analysis at parts" in rows[0]["error"]
    assert result.steps["analyse"].data == Analysis(title="Log in", parts=["form"])
    assert result.steps["code"].prompt == '{"title": "Log in", "parts": ["form"]}'


def test_a_rerun_reads_the_reused_steps_data(scripted):
    scripted.model("a", ['{"parts": ["x"], "title": "T"}'])
    b = scripted.model("b", ["ok"])
    first = scripted.wb.run_pipeline(
        {
            "name": "p",
            "steps": [
                {"name": "analyse", "model": "a", "prompt": "{input}", "schema": PARTS},
                {"name": "code", "model": "b", "prompt": "{steps.analyse.data.title}"},
            ],
        },
        input="x",
    )
    again = scripted.wb.rerun_pipeline(first.run_id, "code")
    assert again.steps["analyse"].status == "reused" and b.asked[-1].messages[-1]["content"] == "T"


def test_a_definition_keeps_what_it_says_when_saved(scripted):
    spec = parse_pipeline(one_step(schema=PARTS, check={"regex": "a+"}, retries=2, seed=3), name="p")
    assert spec.to_dict()["steps"][0] == {
        "name": "code",
        "model": "m",
        "prompt": "Write it: {input}",
        "schema": PARTS,
        "check": {"regex": "a+"},
        "retries": 2,
        "seed": 3,
    }
    assert parse_pipeline(spec.to_yaml(), name="p").hash == spec.hash
    spec = parse_pipeline(one_step(check="jsx", prefill=PREFILL), name="p")
    assert spec.to_dict()["steps"][0]["prefill"] == PREFILL
    assert parse_pipeline(spec.to_yaml(), name="p").hash == spec.hash


# -- bad input: one line, no run ----------------------------------------------------------------

TWO = [{"name": "analyse", "model": "m", "prompt": "{input}", "schema": PARTS}]


@pytest.mark.parametrize(
    ("steps", "line"),
    [
        (
            one_step(check="jsxx")["steps"],
            "`check:` 'jsxx' is not a check — use jsx, tsx, json, python or {regex: PATTERN} — did you mean 'jsx'?",
        ),
        (
            one_step(check={"regex": "(a"})["steps"],
            "`check:` regex '(a' does not compile: missing ), unterminated subpattern at position 0",
        ),
        (one_step(check={"pattern": "a"})["steps"], "`check:` {'pattern': 'a'} is not a check"),
        (one_step(check="json", retries=-1)["steps"], "`retries:` must be a whole number from 0 to 10, got -1"),
        (one_step(check="json", retries="two")["steps"], "`retries:` must be a whole number from 0 to 10, got 'two'"),
        (one_step(check="json", retries=2.5)["steps"], "got 2.5"),
        (one_step(check="json", retries=True)["steps"], "got True"),
        (one_step(check="json", retries=11)["steps"], "got 11"),
        (one_step(retries=2)["steps"], "`retries:` needs a `check:` or a `schema:` to retry on"),
        (one_step(schema=5)["steps"], "`schema:` is the name of a schema"),
        (one_step(prefill=5)["steps"], "`prefill:` must be non-empty text, got a int"),
        (one_step(prefill="{", schema="json")["steps"], "`prefill:` and `schema:` do not go together"),
        (one_step(schema="NoSuchSchema")["steps"], "step 'code': `schema:` no schema named 'NoSuchSchema'"),
        (one_step(schema={"type": "objekt"})["steps"], "step 'code': `schema:` the schema is not a valid JSON Schema"),
        (one_step(schema="Analysis")["steps"], ""),  # a class in the notebook: taken (the control)
        (
            [*TWO, {"name": "code", "model": "m", "prompt": "{steps.analyse.data.partz}"}],
            "step 'code': {steps.analyse.data.partz} — in step 'analyse''s schema the schema, the answer has no field "
            "'partz' (fields: parts, title) — did you mean 'parts'?",
        ),
        (
            [*TWO, {"name": "code", "model": "m", "prompt": "{steps.analyse.data.title.size}"}],
            "title is string, with no field 'size'",
        ),
        (
            [
                {"name": "analyse", "model": "m", "prompt": "{input}"},
                {"name": "code", "model": "m", "prompt": "{steps.analyse.data.parts}"},
            ],
            "step 'code': {steps.analyse.data.parts} reads step 'analyse''s data, but it has no `schema:` — give it "
            "one, or use {steps.analyse.output}",
        ),
    ],
)
def test_a_bad_typed_or_checked_step_is_one_line_and_no_run(scripted, db_path, steps, line):
    model = scripted.model("m", ["{}"])
    before = table_counts(str(db_path))
    run = lambda: scripted.wb.run_pipeline({"steps": steps}, input="x", namespace={"Analysis": Analysis})  # noqa: E731
    if not line:
        run()
        return
    with pytest.raises(PipelineError) as refused:
        run()
    assert line in one_line(str(refused.value)) and model.asked == []
    assert table_counts(str(db_path)) == before


def test_a_prefill_on_remote_models_alone_is_refused_before_it_is_saved_or_run(ip, scripted, capsys, db_path):
    scripted.model("g", ["Hi"], remote=True)
    before = table_counts(str(db_path))
    definition = "steps:\n  - {name: code, model: g, prompt: '{input}', prefill: '```'}\n"
    seen = one_line(run_error(ip, f"%%lfw pipeline p\n{definition}", capsys))
    assert "step 'code': prefill needs a local model — g answers through a remote API" in seen
    with pytest.raises(PipelineError, match="prefill needs a local model"):
        scripted.wb.run_pipeline(definition, input="x")
    assert table_counts(str(db_path)) == before


def test_a_misused_data_field_is_one_line_in_the_cell_and_nothing_runs(ip, scripted, capsys, db_path):
    model = scripted.model("m", ["{}"])
    definition = (
        "steps:\n  - {name: analyse, model: m, prompt: '{input}', schema: Analysis}\n"
        "  - {name: code, model: m, prompt: '{steps.analyse.data.colour}'}\n"
    )
    ip.user_ns["Analysis"] = Analysis
    run_ok(ip, f"%%lfw pipeline p\n{definition}")  # saved: a schema by name is resolved when it runs
    before = table_counts(str(db_path))
    seen = one_line(run_error(ip, '%lfw run p --input "x"', capsys))
    assert "{steps.analyse.data.colour} — in step 'analyse''s schema Analysis, the answer has no field 'colour'" in seen
    assert table_counts(str(db_path)) == before and model.asked == []


# -- on the bundled model ----------------------------------------------------------------------


@pytest.mark.slow
def test_smollm2_continues_a_prefilled_component(wb):
    result = wb.run_pipeline(
        {
            "steps": [
                {
                    "name": "code",
                    "model": "smollm2",
                    "prompt": "Write a React component for: {input}",
                    "prefill": PREFILL,
                    "max_tokens": 60,
                    "temperature": 0.2,
                    "seed": 1,
                }
            ]
        },
        input="a counter button",
    )
    text = result.steps["code"].text
    assert result.status == "done" and text.startswith(PREFILL) and len(text) > len(PREFILL) + 10
    row = wb.store.list_steps(result.run_id)[0]
    assert row["output"] == text and json.loads(row["params_json"])["prefill"] == PREFILL


@pytest.mark.slow
def test_a_model_with_its_own_chat_template_answers_and_continues_a_prefill(wb):
    from lfwb.runtimes import default_model_path

    template = (
        "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    )
    wb.manager.register(name="chatml", runtime="llama_cpp", source=str(default_model_path()), chat_template=template)
    plain = wb.generate("Say hello.", model="chatml", max_tokens=12, temperature=0)
    assert plain.text.strip()  # its end token was an empty stop string, which ended every answer at once
    started = wb.generate("Say hello.", model="chatml", max_tokens=12, temperature=0, prefill="Hello")
    assert started.text.startswith("Hello") and len(started.text) > len("Hello")
