"""Running pipelines: `%lfw run`, `%lfw rerun` and `wb.run_pipeline`, on the scripted backend.

One `runs` row (kind pipeline) and one `steps` row per step; independent steps at the same
time; a failure skips only what needs it; a stop cancels every running step and keeps its text;
a rerun reuses what came before its step; two models that cannot both fit take turns.
"""

from __future__ import annotations

import json
import threading

import pytest

from conftest import run_error, run_ok, stop_when_shown
from fixtures.scripted import MIB, Fail, Stall, words
from lfwb.errors import GenerationError
from lfwb.pipelines.spec import parse_pipeline

TWO_STEPS = """
steps:
  - name: analyse
    model: a
    prompt: "List the parts of {input}"
  - name: code
    model: b
    prompt: "Write code for: {steps.analyse.output}"
"""


def save(ip, name: str, yaml: str) -> None:
    run_ok(ip, f"%%lfw pipeline {name}\n{yaml}")


def steps_of(store, run_id: int) -> dict[str, dict]:
    return {row["name"]: row for row in store.list_steps(run_id)}


def test_a_run_is_one_pipeline_row_and_one_step_row_per_step_with_what_was_sent(ip, scripted):
    scripted.model("a", words("a header and a button"), input_tokens=7)
    scripted.model("b", words("<Header/> <Button/>"))
    save(ip, "ui", TWO_STEPS)
    result = run_ok(ip, '%lfw run ui --input "a login form"')
    store = scripted.wb.store
    run = store.get_run(result.run_id)
    assert (run["kind"], run["status"], run["prompt"]) == ("pipeline", "done", "a login form")
    assert run["pipeline_id"] is not None and run["output"] == "<Header/> <Button/>"
    steps = steps_of(store, result.run_id)
    assert [s["name"] for s in store.list_steps(result.run_id)] == ["analyse", "code"]
    assert steps["analyse"]["prompt"] == "List the parts of a login form"
    assert steps["code"]["prompt"] == "Write code for: a header and a button"
    assert (steps["analyse"]["status"], steps["analyse"]["answered_by"], steps["analyse"]["model"]) == (
        "done",
        "a",
        "a",
    )
    assert (steps["analyse"]["input_tokens"], steps["analyse"]["output_tokens"]) == (7, 5)
    assert steps["code"]["duration_ms"] is not None and steps["code"]["finished_at"] is not None
    assert result.steps["code"].text == "<Header/> <Button/>" and result.status == "done"
    assert "code" in repr(result) and "done" in repr(result)


def test_two_independent_steps_run_at_the_same_time(scripted):
    go = threading.Event()
    a = scripted.model("a", ["A", Stall(until=go), "!"])
    b = scripted.model("b", ["B", Stall(until=go), "!"])
    both_started = []

    def release_once_both_wait() -> None:  # each step stalls until the other has started too
        both_started.append(a.steps[1].reached.wait(10) and b.steps[1].reached.wait(10))
        go.set()

    threading.Thread(target=release_once_both_wait).start()
    result = scripted.wb.run_pipeline(
        {
            "steps": [
                {"name": "left", "model": "a", "prompt": "{input}"},
                {"name": "right", "model": "b", "prompt": "{input}"},
            ]
        },
        input="go",
    )
    assert both_started == [True]
    assert (result.steps["left"].text, result.steps["right"].text) == ("A!", "B!")


def test_a_failing_middle_step_fails_the_run_skips_its_dependants_and_keeps_the_rest(scripted):
    scripted.model("a", words("the parts"))
    scripted.model("broken", ["half", Fail(GenerationError("the server went away"))])
    scripted.model("c", words("fine"))
    result = scripted.wb.run_pipeline(
        {
            "steps": [
                {"name": "analyse", "model": "a", "prompt": "{input}"},
                {"name": "code", "model": "broken", "prompt": "{steps.analyse.output}"},
                {"name": "assemble", "model": "c", "prompt": "{steps.code.output}"},
                {"name": "notes", "model": "c", "prompt": "{steps.analyse.output}"},
            ]
        },
        input="x",
    )
    store = scripted.wb.store
    run = store.get_run(result.run_id)
    assert run["status"] == "failed" and "step code" in run["error"] and "the server went away" in run["error"]
    steps = steps_of(store, result.run_id)
    assert {n: s["status"] for n, s in steps.items()} == {
        "analyse": "done",
        "code": "failed",
        "assemble": "skipped",
        "notes": "done",
    }
    assert steps["analyse"]["output"] == "the parts" and steps["code"]["output"] == "half"
    assert "needs code" in steps["assemble"]["error"]


def test_a_stop_mid_pipeline_cancels_every_running_step_and_keeps_their_text(ip, scripted, sigint, capsys, monkeypatch):
    scripted.model("a", ["Once", " upon", Stall()])
    scripted.model("b", ["Far", Stall()])
    scripted.model("c", words("never"))
    save(
        ip,
        "story",
        """
steps:
  - name: left
    model: a
    prompt: "{input}"
  - name: right
    model: b
    prompt: "{input}"
  - name: join
    model: c
    prompt: "{steps.left.output} {steps.right.output}"
""",
    )
    # Stop is pressed once the cell shows both steps' text so far. (Not once the models reach
    # their stalls: their last token may still be on its way to the step, so what is kept would
    # be a race.)
    shown: dict[str, str] = {}

    def shows_both(data: dict, metadata: dict) -> bool:
        shown[metadata.get("lfwb", {}).get("step")] = data.get("text/plain", "")
        return shown.get("left", "").endswith("\nOnce upon") and shown.get("right", "").endswith("\nFar")

    stop_when_shown(ip, monkeypatch, shows_both)
    seen = run_error(ip, '%lfw run story --input "go"', capsys)
    last = seen.splitlines()[-1]  # one line says it, under the steps as they ended
    assert "cancelled pipeline run" in last and "stopped left after 2 tokens, right after 1 token" in last
    store = scripted.wb.store
    [run] = store.list_runs(kind="pipeline")
    assert run["status"] == "cancelled"
    steps = steps_of(store, run["id"])
    assert {n: s["status"] for n, s in steps.items()} == {
        "left": "cancelled",
        "right": "cancelled",
        "join": "cancelled",
    }
    assert (steps["left"]["output"], steps["right"]["output"]) == ("Once upon", "Far")  # what the cell showed
    assert shown["left"].endswith("\nOnce upon") and shown["right"].endswith("\nFar")  # and still shows
    assert not store.query("SELECT id FROM steps WHERE status IN ('pending', 'running')")
    assert not scripted.manager.busy("a") and not scripted.manager.busy("b")


def test_rerun_from_a_step_reuses_the_outputs_before_it_and_runs_the_rest(ip, scripted):
    a = scripted.model("a", words("the parts"))
    b = scripted.model("b", words("<Form/>"))
    save(ip, "ui", TWO_STEPS)
    first = run_ok(ip, '%lfw run ui --input "a form"')
    again = run_ok(ip, f"%lfw rerun {first.run_id} --from code")
    assert again.run_id != first.run_id and again.status == "done"
    steps = steps_of(scripted.wb.store, again.run_id)
    assert (steps["analyse"]["status"], steps["analyse"]["reused_from_run"]) == ("reused", first.run_id)
    assert steps["analyse"]["output"] == "the parts" and steps["code"]["status"] == "done"
    assert len(a.asked) == 1 and len(b.asked) == 2  # analyse was not asked again
    assert scripted.wb.store.get_run(again.run_id)["prompt"] == "a form"
    third = run_ok(ip, f"%lfw rerun {again.run_id} --from code")  # a reuse of a reuse names the first run
    assert steps_of(scripted.wb.store, third.run_id)["analyse"]["reused_from_run"] == first.run_id


def test_two_local_models_that_cannot_both_fit_take_turns_instead_of_failing(scripted):
    m = scripted.manager
    go = threading.Event()
    a = scripted.model("a", ["A", Stall(until=go), "!"], memory=100 * MIB)
    b = scripted.model("b", ["B", Stall(until=go), "!"], memory=100 * MIB)
    m.budget_bytes = 150 * MIB  # one of the two at a time
    waited = threading.Event()
    wait_for_room = m._wait_for_room

    def noted_wait(cancel):
        waited.set()
        return wait_for_room(cancel)

    m._wait_for_room = noted_wait

    def release_once_the_second_waits() -> None:
        waited.wait(10)
        go.set()

    threading.Thread(target=release_once_the_second_waits).start()
    result = scripted.wb.run_pipeline(
        {
            "steps": [
                {"name": "left", "model": "a", "prompt": "{input}"},
                {"name": "right", "model": "b", "prompt": "{input}"},
            ]
        },
        input="go",
    )
    assert waited.is_set()  # the second step did wait for room (and was not refused)
    assert (result.status, result.steps["left"].text, result.steps["right"].text) == ("done", "A!", "B!")
    first, second = (a, b) if a.log[-1] == "unload" else (b, a)
    assert first.log == ["load", "start", "end", "unload"] and second.log == ["load", "start", "end"]


def test_a_model_that_can_never_fit_fails_its_step_at_once(scripted):
    scripted.manager.budget_bytes = 150 * MIB
    scripted.model("huge", ["never"], memory=300 * MIB)
    result = scripted.wb.run_pipeline({"steps": [{"name": "only", "model": "huge", "prompt": "{input}"}]}, input="x")
    assert result.status == "failed" and "InsufficientMemory" in result.error


def test_a_steps_code_reaches_the_next_steps_template_and_becomes_run_artifacts(scripted):
    scripted.model("a", ["Here:\n```jsx\n<Button/>\n```\n```css\n.b { color: blue }\n```"])
    b = scripted.model("b", words("ok"))
    result = scripted.wb.run_pipeline(
        {
            "steps": [
                {"name": "code", "model": "a", "prompt": "{input}"},
                {"name": "style", "model": "b", "prompt": "Review this CSS: {steps.code.artifacts.css}"},
            ]
        },
        input="x",
    )
    assert b.asked[0].messages[-1]["content"] == "Review this CSS: .b { color: blue }\n"
    assert sorted(r["kind"] for r in result.artifacts) == ["css", "jsx"]
    assert {r["run_id"] for r in scripted.wb.store.list_artifacts(run_id=result.run_id)} == {result.run_id}


def test_a_pipeline_that_does_not_check_is_one_line_and_leaves_no_row(ip, scripted, capsys):
    scripted.model("a", words("hi"))
    save(
        ip,
        "styled",
        """
steps:
  - name: one
    model: a
    prompt: "In our style ({context:style}): {input}"
""",
    )
    seen = run_error(ip, '%lfw run styled --input "x"', capsys)
    assert len(seen.splitlines()) == 1 and "no context named 'style'" in seen
    assert scripted.wb.store.list_runs() == [] and not scripted.wb.store.query("SELECT id FROM steps")


def test_run_refuses_both_an_input_and_an_input_variable(ip, scripted, capsys):
    scripted.model("a", words("hi"))
    save(ip, "ui", TWO_STEPS.replace("model: b", "model: a"))
    seen = run_error(ip, "%lfw run ui --input x -i y", capsys)
    assert "give --input TEXT or -i VAR, not both" in seen and scripted.wb.store.list_runs() == []


def test_input_from_a_notebook_variable_and_the_result_into_another(ip, scripted):
    scripted.model("a", words("hi"))
    save(ip, "ui", TWO_STEPS.replace("model: b", "model: a"))
    ip.user_ns["request"] = "a pricing table"
    run_ok(ip, "%lfw run ui -i request -o out")
    assert ip.user_ns["out"].steps["analyse"].prompt == "List the parts of a pricing table"


@pytest.mark.slow
def test_ui_component_runs_end_to_end_on_smollm2(wb):
    result = wb.run_pipeline("ui-component", input="a login form with a remember-me checkbox", seed=0)
    run = wb.store.get_run(result.run_id)
    assert run["kind"] == "pipeline" and run["status"] == "done"
    steps = steps_of(wb.store, result.run_id)
    assert set(steps) == {"spec"} and steps["spec"]["answered_by"] == "smollm2"
    assert json.loads(steps["spec"]["output"])["parts"]  # the spec it filled; tests/browser renders it
    assert [a["kind"] for a in result.artifacts] == ["jsx"]
    assert wb.store.list_artifacts(run_id=result.run_id) == list(reversed(result.artifacts))


def test_the_steps_of_a_pipeline_run_whose_kernel_died_are_marked_interrupted(db_path):
    from lfwb.store import Store

    s = Store(db_path)
    p = s.create_project("x")
    run = s.add_run(p["id"], "pipeline", status="running")
    s.add_step(run["id"], 0, "analyse", status="done", output="the parts")
    writing = s.add_step(run["id"], 1, "code", status="running")
    s.flush_step_output(writing["id"], "half a comp", 3)
    s.add_step(run["id"], 2, "assemble")
    with s.write() as conn:  # its owner: a process that no longer exists
        conn.execute("UPDATE runs SET owner_pid = 2147483600 WHERE id = ?", (run["id"],))
    s.close()
    s2 = Store(db_path)
    assert s2.mark_interrupted_runs() == [run["id"]]
    steps = {r["name"]: r for r in s2.list_steps(run["id"])}
    assert {n: r["status"] for n, r in steps.items()} == {
        "analyse": "done",
        "code": "interrupted",
        "assemble": "interrupted",
    }
    assert steps["code"]["output"] == "half a comp" and steps["analyse"]["output"] == "the parts"
    s2.close()


def test_a_project_budget_counts_what_earlier_steps_of_the_run_spent(scripted):
    from lfwb.runtimes import Chunk
    from lfwb.spending import set_budget, worst_case

    scripted.model(
        "pro", ["Hi", Chunk(text="!", output_tokens=1, cost_usd=0.0123)], remote=True, source="gemini-2.5-pro"
    )
    spec = {
        "steps": [
            {"name": "one", "model": "pro", "prompt": "{input}", "max_tokens": 10},
            {"name": "two", "model": "pro", "prompt": "{steps.one.output}", "max_tokens": 10},
        ]
    }
    second_could_cost, _ = worst_case(scripted.manager, "pro", parse_pipeline(spec).steps[1].generation("Hi!"))
    wb = scripted.wb
    set_budget(wb.store, wb.manager, "project", wb.project_id, 0.0123 + second_could_cost / 2)
    result = wb.run_pipeline(spec, input="Hi")
    assert result.steps["one"].status == "done" and result.steps["two"].status == "failed"
    assert "BudgetExceeded" in result.steps["two"].error
    assert wb.store.get_run(result.run_id)["cost_usd"] == pytest.approx(0.0123)


def test_a_run_on_another_thread_is_stopped_by_its_handle(scripted):
    # How a panel stops a run: no signal reaches a thread, so it cancels the run's handle.
    writing = scripted.model("a", ["Once", Stall()])
    run = scripted.wb.start_pipeline({"steps": [{"name": "story", "model": "a", "prompt": "{input}"}]}, input="go")
    updates = iter(run)  # runs it on the handle's thread
    next(updates)
    assert writing.steps[1].reached.wait(10)
    run.cancel()
    list(updates)
    assert run.result().status == "cancelled" and run.result().steps["story"].text == "Once"
    [run_row] = scripted.wb.store.list_runs(kind="pipeline")
    [step] = scripted.wb.store.list_steps(run_row["id"])
    assert (run_row["status"], step["status"], step["output"]) == ("cancelled", "cancelled", "Once")
