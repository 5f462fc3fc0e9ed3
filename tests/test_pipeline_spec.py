"""Pipeline definitions: YAML or a dict → checked steps, saved by name and version, bundled ones."""

from __future__ import annotations

import pytest
from conftest import run_error, run_ok
from fixtures.scripted import words

from lfwb.errors import NotFound, PipelineError
from lfwb.pipelines.library import BUNDLED, bundled_names
from lfwb.pipelines.plan import check
from lfwb.pipelines.spec import parse_pipeline
from lfwb.pipelines.templates import fill_template

UI = """\
description: Analyse a UI request, then write the component
steps:
  - name: analyse
    model: fake            # a model, an alias or a fallback chain
    prompt: |
      List the parts of this interface: {input}
    max_tokens: 200
  - name: code
    model: [missing-model, fake]
    prompt: |
      Write one React component (JSX) for: {steps.analyse.output}
    system: You write React.
    temperature: 0
  - name: style
    model: fake
    prompt: "Write CSS for: {steps.analyse.output}"
  - name: assemble
    model: fake
    prompt: "Put {steps.code.artifacts.jsx} and {steps.style.artifacts.css} together."
    depends_on: [code]
"""


def saved_rows(wb) -> list[dict]:
    return wb.store.query("SELECT name, version FROM pipelines ORDER BY id")


def test_a_yaml_pipeline_becomes_steps_with_models_settings_and_implied_dependencies(scripted):
    scripted.model("fake", ["ok"])
    spec = parse_pipeline(UI, name="ui")
    assert spec.names == ["analyse", "code", "style", "assemble"]
    code = spec.step("code")
    assert code.models == ("missing-model", "fake") and code.needs == ("analyse",)
    assert spec.step("assemble").needs == ("code", "style")  # depends_on, then what the prompt uses
    gen = code.generation("Write it.")
    assert gen.messages == [{"role": "system", "content": "You write React."}, {"role": "user", "content": "Write it."}]
    assert (gen.temperature, gen.max_tokens) == (0, 256)  # unset settings are generate's defaults
    assert spec.step("analyse").generation("x").max_tokens == 200

    plan = check(spec, scripted.manager)
    assert [[s.name for s in level] for level in plan.levels] == [["analyse"], ["code", "style"], ["assemble"]]
    assert plan.models["code"] == ["fake"]  # a chain needs one link that resolves
    assert spec.dependants("analyse") == ["code", "style", "assemble"]
    assert spec.summary() == "4 steps: analyse → code → style → assemble"


def test_a_dict_and_the_same_yaml_are_the_same_definition(scripted):
    import yaml

    scripted.model("fake", ["ok"])
    first = scripted.wb.save_pipeline(UI, name="ui")
    again = scripted.wb.save_pipeline(yaml.safe_load(UI), name="ui")
    assert (first.version, first.created) == (1, True)
    assert (again.version, again.created) == (1, False)


FAULTS = {
    "unknown step in depends_on": (
        "steps:\n  - {name: a, model: fake, prompt: x, depends_on: [b]}",
        "step 'a': depends_on 'b', which is not a step",
    ),
    "unknown step in a template": (
        "steps:\n  - {name: analyse, model: fake, prompt: x}\n  - {name: b, model: fake, prompt: '{steps.analyze.output}'}",
        "step 'b': {steps.analyze.output} names no step 'analyze' — did you mean 'analyse'?",
    ),
    "a cycle": (
        "steps:\n  - {name: a, model: fake, prompt: '{steps.c.output}'}\n"
        "  - {name: b, model: fake, prompt: '{steps.a.output}'}\n  - {name: c, model: fake, prompt: x, depends_on: [b]}",
        "the steps form a cycle, a → c → b → a",
    ),
    "a step that needs itself": (
        "steps:\n  - {name: a, model: fake, prompt: '{steps.a.output}'}",
        "step 'a': depends on itself",
    ),
    "two steps with one name": (
        "steps:\n  - {name: a, model: fake, prompt: x}\n  - {name: a, model: fake, prompt: y}",
        "two steps are named 'a'",
    ),
    "an unknown model": ("steps:\n  - {name: a, model: gpt-9, prompt: x}", "step 'a': no model named 'gpt-9'"),
    "a chain with no model that resolves": (
        "steps:\n  - {name: a, model: [gpt-9, gpt-10], prompt: x}",
        "step 'a': no model named 'gpt-9'",
    ),
    "a setting out of range": (
        "steps:\n  - {name: a, model: fake, prompt: x, temperature: 7}",
        "step 'a': temperature must be between 0 and 2, got 7",
    ),
    "a setting that is not a number": (
        "steps:\n  - {name: a, model: fake, prompt: x, max_tokens: lots}",
        "step 'a': max tokens must be a whole number",
    ),
    "a misspelt setting": (
        "steps:\n  - {name: a, model: fake, prompt: x, max_token: 9}",
        "step 'a': unknown key 'max_token' — did you mean 'max_tokens'?",
    ),
    "a malformed step field": (
        "steps:\n  - {name: a, model: fake, prompt: '{steps.a.text}'}",
        "{steps.a.text} is not a step field",
    ),
    "no steps": ("description: nothing", "`steps:` must be a list with at least one step"),
    "a step without a prompt": ("steps:\n  - {name: a, model: fake}", "step 'a': `prompt:` must be non-empty text"),
    "broken YAML": ("steps: [a: b: c]", "not valid YAML at line 1"),
}


@pytest.mark.parametrize("fault", FAULTS)
def test_each_fault_is_one_line_naming_it_and_nothing_is_saved(ip, scripted, capsys, fault):
    scripted.model("fake", ["ok"])
    body, expected = FAULTS[fault]
    shown = run_error(ip, f"%%lfw pipeline broken\n{body}\n", capsys)
    assert len(shown.splitlines()) == 1 and "PipelineError" in shown
    assert expected in shown and "pipeline 'broken'" in shown
    assert saved_rows(scripted.wb) == []


def test_a_context_field_must_name_a_context_of_the_project(scripted):
    scripted.model("fake", ["ok"])
    spec = parse_pipeline("steps:\n  - {name: a, model: fake, prompt: 'Follow {context:style}. {input}'}")
    wb = scripted.wb
    with pytest.raises(PipelineError, match=r"no context named 'style' .*add a context of that name first") as info:
        check(spec, wb.manager, store=wb.store, project_id=wb.project_id)
    assert info.value.hint_text() == "With %lfw context add --name style."  # the magic's hint
    wb.add_context(text="Buttons are red.", name="style")
    wb.add_context(text="Buttons are blue.", name="style")
    plan = check(spec, wb.manager, store=wb.store, project_id=wb.project_id)
    assert plan.prompt("a", input="A button.") == "Follow Buttons are blue.. A button."  # the newest


def test_templates_fill_input_steps_artifacts_contexts_and_names_and_leave_code_alone(scripted):
    scripted.model("fake", ["ok"])
    spec = parse_pipeline(
        {
            "steps": [
                {"name": "code", "model": "fake", "prompt": "{input}"},
                {
                    "name": "assemble",
                    "model": "fake",
                    "prompt": (
                        "For {user}: {steps.code.output} | {steps.code.artifacts.jsx} | {steps.code.artifacts.css} | "
                        "{{input}} {{steps.code.output}} | <p style={{color: 'red'}}>{props.title}</p> {title} "
                        "{steps.map(s => s)} function f() {}"
                    ),
                },
            ]
        }
    )
    plan = check(spec, scripted.manager, namespace={"user": "Ada"})
    assert plan.literal == {"assemble": ["title"]}  # names nothing: kept as written, and pointed out
    prompt = plan.prompt(
        "assemble",
        input="a card",
        outputs={"code": "Here: {input}"},
        artifacts={"code": {"jsx": "<Card/>"}},
    )
    assert prompt == (
        "For Ada: Here: {input} | <Card/> |  | "  # filled text is not filled again; no css → empty
        "{input} {steps.code.output} | <p style={{color: 'red'}}>{props.title}</p> {title} "
        "{steps.map(s => s)} function f() {}"
    )


def test_generate_keeps_its_template_rules():
    assert fill_template("Hi {who}, {{who}} {missing} {x: 1} {steps.a.output}", {"who": "Ada"}) == (
        "Hi Ada, {who} {missing} {x: 1} {steps.a.output}"
    )


def test_saving_the_same_definition_again_keeps_its_version_and_a_change_is_the_next(ip, scripted, capsys):
    scripted.model("fake", words("Hi"))
    two = "steps:\n  - {name: analyse, model: fake, prompt: '{input}'}\n  - {name: code, model: fake, prompt: '{steps.analyse.output}'}\n"
    capsys.readouterr()
    run_ok(ip, f"%%lfw pipeline ui\ndescription: first\n{two}")
    run_ok(ip, f"%%lfw pipeline ui\n# the same, laid out differently\ndescription:   first\n{two}")
    run_ok(ip, f"%%lfw pipeline ui\ndescription: second\n{two}")
    assert capsys.readouterr().out.splitlines() == [
        "saved ui v1 (2 steps: analyse → code)",
        "ui v1 is unchanged (2 steps: analyse → code)",
        "saved ui v2 (2 steps: analyse → code)",
    ]
    assert saved_rows(scripted.wb) == [{"name": "ui", "version": 1}, {"name": "ui", "version": 2}]
    assert run_ok(ip, "%lfw pipeline show ui --version 1")["description"] == "first"
    shown = run_ok(ip, "%lfw pipeline show ui")
    assert shown["version"] == 2 and "description: second" in shown["yaml"]
    listed = {r["name"]: r for r in run_ok(ip, "%lfw pipelines")}
    assert (listed["ui"]["version"], listed["ui"]["versions"], listed["ui"]["steps"]) == (2, 2, 2)
    assert listed["ui-component"]["source"] == "bundled"


def test_a_run_can_point_at_the_version_it_used(scripted):
    scripted.model("fake", ["ok"])
    saved = scripted.wb.save_pipeline(UI, name="ui")
    run = scripted.wb.store.add_run(scripted.wb.project_id, pipeline_id=saved.spec.pipeline_id)
    assert scripted.wb.store.get_run(run["id"])["pipeline_id"] == saved.spec.pipeline_id


def test_pipeline_load_names_it_by_its_name_key_or_its_file_name(ip, scripted, tmp_path, capsys):
    scripted.model("fake", ["ok"])
    (tmp_path / "review.yaml").write_text("steps:\n  - {name: read, model: fake, prompt: '{input}'}\n")
    (tmp_path / "other.yml").write_text("name: tidy\nsteps:\n  - {name: read, model: fake, prompt: '{input}'}\n")
    capsys.readouterr()
    run_ok(ip, "%lfw pipeline load review.yaml")
    run_ok(ip, "%lfw pipeline load other.yml")
    assert capsys.readouterr().out.splitlines() == ["saved review v1 (1 step: read)", "saved tidy v1 (1 step: read)"]
    shown = run_error(ip, "%lfw pipeline load missing.yaml", capsys)
    assert len(shown.splitlines()) == 1 and "no file at missing.yaml" in shown
    assert [r["name"] for r in saved_rows(scripted.wb)] == ["review", "tidy"]


def test_the_bundled_pipelines_check_cleanly_against_smollm2_and_load_by_name(wb):
    assert set(bundled_names()) >= {"ui-component", "code-review"}
    for name in bundled_names():
        spec = wb.pipeline(name)
        plan = check(spec, wb.manager, namespace={}, store=wb.store, project_id=wb.project_id)
        assert spec.name == name and spec.version is None and plan.literal == {}
        assert all(plan.models[s.name] == ["smollm2"] for s in spec.steps)
    ui = wb.pipeline("ui-component")
    assert [[s.name for s in level] for level in ui.levels()] == [["spec"]] and ui.step("spec").render == "ui-spec"
    assert (BUNDLED / "ui-component.yaml").read_text() == ui.source  # what users copy


def test_a_saved_pipeline_wins_over_the_bundled_one_of_its_name(scripted):
    scripted.model("fake", ["ok"])
    scripted.wb.save_pipeline("steps:\n  - {name: mine, model: fake, prompt: x}", name="ui-component")
    assert scripted.wb.pipeline("ui-component").names == ["mine"]
    with pytest.raises(NotFound, match="has versions 1 to 1, not 3"):
        scripted.wb.pipeline("ui-component", version=3)
    with pytest.raises(NotFound, match="no saved pipeline 'nope'"):
        scripted.wb.pipeline("nope")
