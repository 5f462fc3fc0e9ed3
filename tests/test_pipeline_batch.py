"""Batch runs: `%lfw run NAME --over SOURCE [--concurrency N]` and `wb.run_batch`, on the scripted backend.

One pipeline run per input (a CSV's `input` column, a JSONL file, a list in the notebook), a
few at a time; a failed input is its row's failure; a stop cancels the runs in flight and
starts no other; bad input is one line and runs nothing.
"""

from __future__ import annotations

import json
import signal
import threading

import pytest

from conftest import run_error, run_ok
from fixtures.scripted import Fail, Stall, words
from lfwb.errors import BadInput, GenerationError

ONE_STEP = """
steps:
  - name: answer
    model: a
    prompt: "Describe {input}"
"""


def save(ip, name: str = "p", yaml: str = ONE_STEP) -> None:
    run_ok(ip, f"%%lfw pipeline {name}\n{yaml}")


def prompts(script) -> list[str]:
    return [gen.messages[-1]["content"] for gen in script.asked]


def test_a_csv_batch_is_one_pipeline_run_per_row_and_a_table_of_them(ip, scripted, tmp_path):
    a = scripted.model("a", words("a fine answer"))
    save(ip)
    (tmp_path / "requests.csv").write_text('id,input\n1,a login form\n2,"a table, with commas"\n')
    table = run_ok(ip, "%lfw run p --over requests.csv")
    assert [(r["index"], r["input"], r["status"], r["output"]) for r in table] == [
        (0, "a login form", "done", "a fine answer"),
        (1, "a table, with commas", "done", "a fine answer"),
    ]
    runs = {r["id"]: r for r in scripted.wb.store.list_runs(kind="pipeline")}
    assert sorted(runs) == sorted(r["run_id"] for r in table)
    assert {r["prompt"] for r in runs.values()} == {"a login form", "a table, with commas"}
    assert sorted(prompts(a)) == ["Describe a login form", "Describe a table, with commas"]
    assert all(r["seconds"] is not None for r in table) and "run_id" in table.as_text()


def test_a_jsonl_batch_takes_strings_and_objects_with_an_input(ip, scripted, tmp_path):
    a = scripted.model("a", words("ok"))
    save(ip)
    (tmp_path / "requests.jsonl").write_text(json.dumps("a form") + "\n\n" + json.dumps({"input": "a menu"}) + "\n")
    table = run_ok(ip, "%lfw run p --over requests.jsonl")
    assert [r["status"] for r in table] == ["done", "done"]
    assert prompts(a) == ["Describe a form", "Describe a menu"]  # one at a time on a local model: in order


def test_a_list_in_the_notebook_wins_over_a_file_of_the_same_name(ip, scripted, tmp_path):
    a = scripted.model("a", words("ok"))
    save(ip)
    (tmp_path / "requests").write_text('"from the file"\n')
    ip.user_ns["requests"] = ["a card", "a modal", "a footer"]
    table = run_ok(ip, "%lfw run p --over requests -o batch")
    assert prompts(a) == ["Describe a card", "Describe a modal", "Describe a footer"]
    assert ip.user_ns["batch"] == table and len(table) == 3


def test_two_runs_are_in_flight_at_once_with_concurrency_2_on_a_remote_model(ip, scripted):
    go = threading.Event()
    stall = Stall(until=go)
    a = scripted.model("a", ["A", stall, "!"], remote=True)
    save(ip)
    both_started = []

    def release_once_both_wait() -> None:  # each run stalls until the other has been asked too
        seen = stall.reached.wait(10)
        for _ in range(2000):
            if len(a.asked) >= 2:
                break
            threading.Event().wait(0.005)
        both_started.append(seen and len(a.asked) == 2)
        go.set()

    threading.Thread(target=release_once_both_wait).start()
    ip.user_ns["requests"] = ["one", "two"]
    table = run_ok(ip, "%lfw run p --over requests --concurrency 2")
    assert both_started == [True]
    assert [(r["status"], r["output"]) for r in table] == [("done", "A!"), ("done", "A!")]


def test_the_default_concurrency_is_one_with_a_local_model_and_four_when_all_are_remote(scripted):
    from lfwb.pipelines.batch import default_concurrency
    from lfwb.pipelines.plan import check

    scripted.model("here", words("x"))
    scripted.model("there", words("x"), remote=True)

    def plan(*models: str):
        return check(
            {"steps": [{"name": f"s{i}", "model": m, "prompt": "{input}"} for i, m in enumerate(models)]},
            scripted.manager,
            store=scripted.wb.store,
            project_id=scripted.wb.project_id,
        )

    assert default_concurrency(scripted.manager, plan("there", "here")) == 1
    assert default_concurrency(scripted.manager, plan("there")) == 4


def test_a_failing_input_is_a_failed_row_and_the_inputs_after_it_still_run(scripted):
    script = scripted.model("a", ["ok"])

    class FailsOnBroken(list):  # the script fails the calls whose prompt says "broken"
        def __iter__(self):
            if "broken" in script.asked[-1].messages[-1]["content"]:
                return iter(["half", Fail(GenerationError("the server went away"))])
            return super().__iter__()

    script.steps = FailsOnBroken(script.steps)
    rows = scripted.wb.run_batch(
        {"steps": [{"name": "answer", "model": "a", "prompt": "{input}"}]}, ["first", "broken", "third"]
    )
    assert [r["status"] for r in rows] == ["done", "failed", "done"]
    assert "the server went away" in rows[1]["error"] and rows[2]["output"] == "ok"
    runs = {r["id"]: r["status"] for r in scripted.wb.store.list_runs(kind="pipeline")}
    assert runs == {row["run_id"]: row["status"] for row in rows}


@pytest.mark.parametrize(
    "line, setup, says",
    [
        ("--over missing.csv", None, "no variable of that name in the notebook and no file"),
        ("--over requests.csv", ("requests.csv", "id,text\n1,a form\n"), "has no `input` column"),
        ("--over requests.jsonl", ("requests.jsonl", "{not json\n"), "line 1: not JSON"),
        ("--over empty", None, "holds no inputs"),
        ("--over requests --concurrency 0", None, "must be at least 1, got 0"),
        ('--over requests --input "x"', None, "not both"),
        ("--concurrency 2 --input x", None, "--concurrency is for a batch"),
    ],
)
def test_bad_batch_input_is_one_line_and_runs_nothing(ip, scripted, tmp_path, capsys, line, setup, says):
    a = scripted.model("a", words("ok"))
    save(ip)
    ip.user_ns.update(empty=[], requests=["a form"])
    if setup:
        (tmp_path / setup[0]).write_text(setup[1])
    seen = run_error(ip, f"%lfw run p {line}", capsys)
    assert len(seen.splitlines()) == 1 and says in seen
    assert scripted.wb.store.list_runs() == [] and a.asked == []


def test_run_batch_refuses_a_concurrency_below_one(scripted):
    scripted.model("a", words("ok"))
    with pytest.raises(BadInput, match="at least 1"):
        scripted.wb.run_batch({"steps": [{"name": "s", "model": "a", "prompt": "{input}"}]}, ["x"], concurrency=0)
    assert scripted.wb.store.list_runs() == []


def test_a_stop_cancels_the_runs_in_flight_keeps_their_text_and_starts_no_other(ip, scripted, sigint, capsys):
    a = scripted.model("a", [], remote=True)
    stalls: list[Stall] = []

    class OneStallPerCall(list):  # each call writes two tokens, then waits at a Stall of its own
        def __iter__(self):
            stalls.append(Stall())
            return iter(["Once", " upon", stalls[-1]])

    a.steps = OneStallPerCall()
    save(ip)
    ip.user_ns["requests"] = ["one", "two", "three", "four"]
    main = threading.main_thread().ident

    def stop_once_both_write() -> None:
        for _ in range(2000):  # the runtime reads its script twice per call: two calls, four stalls
            if len(stalls) >= 4:
                break
            threading.Event().wait(0.005)
        if all(stall.reached.wait(10) for stall in stalls[1::2]):
            signal.pthread_kill(main, signal.SIGINT)

    threading.Thread(target=stop_once_both_write).start()
    seen = run_error(ip, "%lfw run p --over requests --concurrency 2", capsys)
    assert "cancelled the batch: 2 cancelled, 2 not run" in seen.splitlines()[-1]
    runs = scripted.wb.store.list_runs(kind="pipeline")
    assert len(runs) == 2 and {r["status"] for r in runs} == {"cancelled"}
    assert {r["prompt"] for r in runs} == {"one", "two"} and len(a.asked) == 2
    for run in runs:  # the text kept is what the run had read: " upon" may still be in the model's queue
        [step] = scripted.wb.store.list_steps(run["id"])
        assert step["status"] == "cancelled" and step["output"] in ("Once", "Once upon")
    assert not scripted.wb.store.query("SELECT id FROM runs WHERE status IN ('pending', 'running')")


def test_the_progress_line_says_done_failed_elapsed_and_time_left():
    from lfwb.pipelines.batch import BatchProgress

    progress = BatchProgress(total=10, concurrency=4, ended=2, done=1, failed=1, running=2, started=100.0)
    assert progress.line(now=110.0) == "2/10 · 1 failed · 2 running · 10.0 s · about 40 s left"
    assert BatchProgress(total=3, concurrency=1, started=100.0).line(now=100.5) == "0/3 · 0.5 s"


def test_the_progress_display_ends_on_every_input_ended(ip, scripted, capsys):
    scripted.model("a", words("ok"))
    save(ip)
    ip.user_ns["requests"] = ["x", "y"]
    capsys.readouterr()
    run_ok(ip, "%lfw run p --over requests")
    shown = [line for line in capsys.readouterr().out.splitlines() if line[:2] in ("0/", "1/", "2/")]
    assert shown[-1].startswith("2/2 · ") and "failed" not in shown[-1]
