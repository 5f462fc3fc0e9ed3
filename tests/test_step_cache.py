"""The step cache: a pipeline step that would repeat an answer the project has is not run again.

Greedy (temperature 0) or seeded steps whose filled prompt, model and settings match a finished
step take its answer, marked `cached` with the step it came from; the scripted models' logs show
what was really asked. `--no-cache` runs them, `%lfw cache clear` forgets, and `%lfw rerun
--from` still asks again from its step.
"""

from __future__ import annotations

import threading

from conftest import run_ok
from fixtures.scripted import Fail, Stall, words
from lfwb.errors import GenerationError
from lfwb.stops import Cancelled

THREE_STEPS = """
steps:
  - name: analyse
    model: a
    prompt: "{prompt} {input}"
  - name: code
    model: b
    prompt: "Write code for: {steps.analyse.output}"
  - name: notes
    model: c
    prompt: "Notes on {input}"
"""


def pipeline(prompt: str = "List the parts of") -> str:
    return THREE_STEPS.replace("{prompt}", prompt)


def statuses(result) -> dict[str, str]:
    return {name: step.status for name, step in result.steps.items()}


def starts(*scripts) -> list[int]:
    """How many times each model was really asked (its scripted log)."""
    return [s.log.count("start") for s in scripts]


def test_a_pipeline_run_twice_at_temperature_0_runs_no_model_the_second_time(ip, scripted):
    a = scripted.model("a", words("a header and a button"))
    b = scripted.model("b", words("```jsx\nexport default () => <b/>\n```"))
    c = scripted.model("c", words("short notes"))
    run_ok(ip, f"%%lfw pipeline ui\n{pipeline()}")
    first = run_ok(ip, '%lfw run ui --input "a form" --temperature 0')
    second = run_ok(ip, '%lfw run ui --input "a form" --temperature 0')
    assert starts(a, b, c) == [1, 1, 1]  # the second run asked nothing
    assert statuses(first) == {"analyse": "done", "code": "done", "notes": "done"}
    assert statuses(second) == {"analyse": "cached", "code": "cached", "notes": "cached"}
    store = scripted.wb.store
    before = {r["name"]: r for r in store.list_steps(first.run_id)}
    after = {r["name"]: r for r in store.list_steps(second.run_id)}
    for name in before:  # each step names the one it came from, with its answer and tokens
        assert after[name]["cached_from"] == before[name]["id"] and after[name]["status"] == "cached"
        assert (after[name]["output"], after[name]["output_tokens"]) == (
            before[name]["output"],
            before[name]["output_tokens"],
        )
    assert store.get_run(second.run_id)["status"] == "done" and second.text == first.text
    assert [x["content"] for x in second.artifacts] == [x["content"] for x in first.artifacts] != []
    assert "cached from run" in repr(second)
    asked = store.get_request(second.run_id, after["code"]["id"])  # what the cached step asked, for %lfw show
    assert asked["messages"][-1]["content"] == "Write code for: a header and a button"


def test_changing_one_steps_prompt_reruns_that_step_and_its_dependants_only(ip, scripted):
    a = scripted.model("a", [], answers=[words("a header"), words("a footer")])
    b = scripted.model("b", [], answers=[words("<Header/>"), words("<Footer/>")])
    c = scripted.model("c", words("short notes"))
    run_ok(ip, f"%%lfw pipeline ui\n{pipeline()}")
    run_ok(ip, '%lfw run ui --input "a form" --temperature 0')
    run_ok(ip, f"%%lfw pipeline ui\n{pipeline('Name the parts of')}")  # version 2: analyse's prompt changed
    changed = run_ok(ip, '%lfw run ui --input "a form" --temperature 0')
    assert statuses(changed) == {"analyse": "done", "code": "done", "notes": "cached"}
    assert starts(a, b, c) == [2, 2, 1]
    assert changed.steps["code"].text == "<Footer/>"
    again = run_ok(ip, '%lfw run ui --input "a form" --temperature 0')  # and now that one is cached too
    assert set(statuses(again).values()) == {"cached"} and starts(a, b, c) == [2, 2, 1]


def test_a_dependant_whose_filled_prompt_did_not_change_stays_cached(scripted):
    # The key is the prompt as filled: a changed step that answers as before changes nothing after it.
    a = scripted.model("a", words("a header"))
    b = scripted.model("b", words("<Header/>"))
    scripted.model("c", words("notes"))
    scripted.wb.run_pipeline(pipeline(), "a form", temperature=0)
    changed = scripted.wb.run_pipeline(pipeline("Name the parts of"), "a form", temperature=0)
    assert statuses(changed) == {"analyse": "done", "code": "cached", "notes": "cached"}
    assert starts(a, b) == [2, 1]


def test_a_step_sampled_without_a_seed_is_never_cached_and_a_seeded_one_is(scripted):
    a = scripted.model("a", words("parts"))
    b = scripted.model("b", words("code"))
    scripted.model("c", words("notes"))
    for _ in range(2):
        result = scripted.wb.run_pipeline(pipeline(), "x", temperature=0.7)
        assert "cached" not in statuses(result).values()
    assert starts(a, b) == [2, 2]
    scripted.wb.run_pipeline(pipeline(), "x", temperature=0.7, seed=7)
    seeded = scripted.wb.run_pipeline(pipeline(), "x", temperature=0.7, seed=7)
    assert set(statuses(seeded).values()) == {"cached"} and starts(a, b) == [3, 3]
    other_seed = scripted.wb.run_pipeline(pipeline(), "x", temperature=0.7, seed=8)
    assert "cached" not in statuses(other_seed).values() and starts(a, b) == [4, 4]


def test_a_failed_step_is_never_a_cache_source(scripted):
    a = scripted.model("a", words("parts"))
    b = scripted.model("b", [], answers=[["half", Fail(GenerationError("the server went away"))], words("code")])
    scripted.model("c", words("notes"))
    failed = scripted.wb.run_pipeline(pipeline(), "x", temperature=0)
    assert failed.steps["code"].status == "failed"
    again = scripted.wb.run_pipeline(pipeline(), "x", temperature=0)
    assert statuses(again) == {"analyse": "cached", "code": "done", "notes": "cached"}
    assert starts(a, b) == [1, 2] and again.steps["code"].text == "code"


def test_a_cancelled_step_is_never_a_cache_source(scripted):
    scripted.model("a", words("parts"))
    b = scripted.model("b", [], answers=[["Once", Stall()], words("code")])
    scripted.model("c", words("notes"))
    handle = scripted.wb.start_pipeline(pipeline(), "x", temperature=0)
    stalled = b.answers[0][1]
    threading.Thread(target=lambda: stalled.reached.wait(10) and handle.cancel()).start()
    try:
        handle.result()
    except Cancelled:
        pass
    [run] = scripted.wb.store.list_runs(kind="pipeline")
    assert {r["name"]: r["status"] for r in scripted.wb.store.list_steps(run["id"])}["code"] == "cancelled"
    again = scripted.wb.run_pipeline(pipeline(), "x", temperature=0)
    assert again.steps["code"].status == "done" and again.steps["code"].text == "code" and starts(b) == [2]


def test_no_cache_runs_every_step_and_its_answers_become_the_cache(ip, scripted):
    a = scripted.model("a", words("parts"))
    scripted.model("b", words("code"))
    scripted.model("c", words("notes"))
    run_ok(ip, f"%%lfw pipeline ui\n{pipeline()}")
    run_ok(ip, "%lfw run ui --input x --temperature 0")
    forced = run_ok(ip, "%lfw run ui --input x --temperature 0 --no-cache")
    assert set(statuses(forced).values()) == {"done"} and starts(a) == [2]
    cached = scripted.wb.run_pipeline("ui", "x", temperature=0)
    assert cached.steps["analyse"].cached_from == forced.steps["analyse"].step_id  # the newest source
    assert scripted.wb.run_pipeline("ui", "x", temperature=0, cache=False).steps["notes"].status == "done"


def test_cache_clear_forgets_the_answers_and_keeps_the_runs(ip, scripted, capsys):
    a = scripted.model("a", words("parts"))
    scripted.model("b", words("code"))
    scripted.model("c", words("notes"))
    first = scripted.wb.run_pipeline(pipeline(), "x", temperature=0)
    scripted.wb.run_pipeline(pipeline(), "x", temperature=0)
    capsys.readouterr()
    run_ok(ip, "%lfw cache clear")
    assert "forgot 3 cached answers" in capsys.readouterr().out
    again = scripted.wb.run_pipeline(pipeline(), "x", temperature=0)
    assert set(statuses(again).values()) == {"done"} and starts(a) == [2]
    assert scripted.wb.store.get_run(first.run_id)["output"] == "code"  # the runs are all still there
    assert len(scripted.wb.store.list_runs(kind="pipeline")) == 3


def test_a_rerun_from_a_step_asks_that_step_again_even_when_cached(ip, scripted):
    a = scripted.model("a", words("parts"))
    b = scripted.model("b", words("code"))
    scripted.model("c", words("notes"))
    run_ok(ip, f"%%lfw pipeline ui\n{pipeline()}")
    first = run_ok(ip, "%lfw run ui --input x --temperature 0")
    again = run_ok(ip, f"%lfw rerun {first.run_id} --from code")
    assert (again.steps["analyse"].status, again.steps["analyse"].reused_from_run) == ("reused", first.run_id)
    assert again.steps["code"].status == "done" and starts(a, b) == [1, 2]


def test_a_local_model_whose_file_changed_is_a_new_model(scripted, tmp_path):
    weights = tmp_path / "model.gguf"
    weights.write_bytes(b"GGUF" + bytes(5000))
    a = scripted.model("a", words("parts"), source=str(weights))
    one_step = {"steps": [{"name": "s", "model": "a", "prompt": "{input}", "temperature": 0}]}
    scripted.wb.run_pipeline(one_step, "x")
    assert scripted.wb.run_pipeline(one_step, "x").steps["s"].status == "cached"
    weights.write_bytes(b"GGUF" + bytes(4999) + b"!")  # new weights, same name and path
    assert scripted.wb.run_pipeline(one_step, "x").steps["s"].status == "done" and starts(a) == [2]


def test_a_cached_schema_step_gives_its_data_to_the_steps_after_it(scripted):
    scripted.model("a", ['{"title": "Log in"}'])
    b = scripted.model("b", words("ok"))
    spec = {
        "steps": [
            {"name": "analyse", "model": "a", "prompt": "{input}", "schema": "json"},
            {"name": "code", "model": "b", "prompt": "{steps.analyse.data.title}"},
        ]
    }
    scripted.wb.run_pipeline(spec, "x", temperature=0)
    again = scripted.wb.run_pipeline(spec, "x", temperature=0)
    assert again.steps["analyse"].status == "cached" and again.steps["analyse"].data == {"title": "Log in"}
    assert again.steps["code"].status == "cached" and b.asked[-1].messages[-1]["content"] == "Log in"


def test_over_http_a_run_is_cached_unless_it_asks_for_no_cache(server, scripted):
    from server_fixtures import read_sse

    a = scripted.model("a", words("parts"))
    scripted.model("b", words("code"))
    scripted.model("c", words("notes"))
    http = server.http
    assert http.post("/api/v1/pipelines", json={"definition": pipeline(), "name": "ui"}).status_code == 201

    def run(**body) -> list[str]:
        run_id = http.post("/api/v1/pipelines/ui/runs", json={"input": "x", **body}).json()["run_id"]
        with http.stream("GET", f"/api/v1/runs/{run_id}/events") as r:
            read_sse(r)
        return [s["status"] for s in http.get(f"/api/v1/pipeline-runs/{run_id}").json()["steps"]]

    assert run(settings={"temperature": 0}) == ["done"] * 3
    assert run(settings={"temperature": 0}) == ["cached"] * 3
    assert run(settings={"temperature": 0}, cache=False) == ["done"] * 3 and starts(a) == [2]


def test_generate_with_cache_at_temperature_0_shows_the_earlier_answer_without_asking(ip, scripted):
    fake = scripted.model("fake", words("```python\nprint(1)\n```"))
    first = run_ok(ip, "%%lfw generate -m fake --temperature 0 --cache\nWrite it")
    second = run_ok(ip, "%%lfw generate -m fake --temperature 0 --cache\nWrite it")
    assert starts(fake) == [1] and second.text == first.text and second.run_id != first.run_id
    assert second.cached_from == first.run_id and "cached: the answer of run" in second.note()
    row = scripted.wb.store.get_run(second.run_id)
    assert (row["status"], row["cached_from"], row["output_tokens"]) == ("done", first.run_id, first.output_tokens)
    assert [a["content"] for a in scripted.wb.artifacts(run_id=second.run_id)] == ["print(1)\n"]
    assert scripted.wb.store.get_request(second.run_id)["messages"][-1]["content"] == "Write it"  # for show and replay


def test_generate_asks_again_without_cache_with_sampling_or_with_another_prompt(ip, scripted):
    fake = scripted.model("fake", words("hello"))
    run_ok(ip, "%%lfw generate -m fake --temperature 0 --cache\nHi")
    run_ok(ip, "%%lfw generate -m fake --temperature 0\nHi")  # no --cache: asked
    run_ok(ip, "%%lfw generate -m fake --cache\nHi")  # temperature 0.7, no seed: asked
    run_ok(ip, "%%lfw generate -m fake --temperature 0 --cache\nHello")  # another prompt: asked
    assert starts(fake) == [4]
    run_ok(ip, "%%lfw generate -m fake --seed 3 --cache\nHi")
    assert run_ok(ip, "%%lfw generate -m fake --seed 3 --cache\nHi").cached_from is not None and starts(fake) == [5]


def test_a_cached_structured_answer_is_parsed_again(scripted):
    fake = scripted.model("fake", ['{"title": "Log in"}'])
    scripted.wb.generate("x", "fake", schema="json", temperature=0, cache=True)
    again = scripted.wb.generate("x", "fake", schema="json", temperature=0, cache=True)
    assert (again.data, again.valid, starts(fake)) == ({"title": "Log in"}, True, [1])


def test_a_batch_takes_cached_steps_unless_no_cache(ip, scripted):
    a = scripted.model("a", words("parts"))
    scripted.model("b", words("code"))
    scripted.model("c", words("notes"))
    run_ok(ip, f"%%lfw pipeline ui\n{pipeline()}")
    ip.user_ns["requests"] = ["x", "x"]
    run_ok(ip, "%lfw run ui --over requests --temperature 0")  # one after another: the second is cached
    assert starts(a) == [1]
    run_ok(ip, "%lfw run ui --over requests --temperature 0 --no-cache")
    assert starts(a) == [3]
