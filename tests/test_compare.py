"""`%%lfw compare -m A,B`: one prompt to several models side by side, through a real IPython
shell on the scripted backend; one test (marked slow) on the bundled SmolLM2 under two names."""

from __future__ import annotations

import functools
import threading
import time

import pytest

from conftest import one_line, plain, run_error, run_ok, stop_when_shown
from fixtures.scripted import Chunk, Fail, FakeClock, Stall, words
from lfwb.errors import GenerationError
from lfwb.magics import compare as compare_magic
from lfwb.magics import live
from lfwb.pipelines.compare import CompareResult
from lfwb.runtimes import default_model_path

WAIT_S = 10.0  # a bound on waiting for a thread to get somewhere, never a timing asserted


def rows_by_model(wb) -> dict[str, dict]:
    return {r["model"]: r for r in wb.store.list_runs()}


def when_set(events: list[threading.Event], then) -> threading.Thread:
    """On another thread: wait until every event is set (or WAIT_S passes), then call `then(all_set)`."""

    def watch() -> None:
        deadline = time.monotonic() + WAIT_S
        then(all(e.wait(max(0.0, deadline - time.monotonic())) for e in events))

    thread = threading.Thread(target=watch)
    thread.start()
    return thread


def test_each_model_answers_in_its_own_run_under_one_parent_and_the_cell_shows_them_side_by_side(
    ip, scripted, published
):
    scripted.model("local", words("Once upon a time"))
    scripted.model("remote", ["Hello", " there", Chunk(cost_usd=0.0125)], remote=True)
    ip.user_ns["topic"] = "a lighthouse"
    result = run_ok(ip, "%%lfw compare -m local,remote --max-tokens 10 --seed 7 -o answers\nWrite about {topic}.")

    assert isinstance(result, CompareResult) and ip.user_ns["_"] is result
    assert ip.user_ns["answers"] == {"local": "Once upon a time", "remote": "Hello there"}
    rows = rows_by_model(scripted.wb)
    parent = rows["local,remote"]
    assert parent["kind"] == "compare" and parent["status"] == "done" and parent["id"] == result.run_id
    assert parent["prompt"] == "Write about a lighthouse." and parent["cost_usd"] == pytest.approx(0.0125)
    for model, text in ip.user_ns["answers"].items():
        row = rows[model]
        assert row["kind"] == "generate" and row["parent_id"] == parent["id"] and row["status"] == "done"
        assert row["output"] == text == result.results[model].text and row["prompt"] == "Write about a lighthouse."
        assert row["seed"] == 7 and result.results[model].run_id == row["id"]

    # One display, updated in place, ending with both columns and the stats under each.
    assert len({m["display_id"] for m in published}) == 1 and published[0]["display_id"]
    final = published[-1]
    assert final["update"] and final["metadata"]["lfwb"]["run_id"] == parent["id"]
    assert final["metadata"]["lfwb"]["runs"] == {"local": rows["local"]["id"], "remote": rows["remote"]["id"]}
    html = final["data"]["text/html"]
    assert html.index("Once upon a time") < html.index("Hello there")
    assert "4 tokens · " in html and "2 tokens · " in html and "TTFT " in html and "tok/s" in html
    assert "$0.0125" in html and "$0<" in html
    assert "── local (run" in final["data"]["text/plain"]

    # Returned by the cell it streamed in, it was not shown again; from a later cell it is.
    shown = len(published)
    run_ok(ip, "_")
    assert len(published) == shown + 1 and "Hello there" in published[-1]["data"]["text/html"]


def test_remote_models_are_asked_at_once(ip, scripted):
    go = threading.Event()
    first, second = Stall(until=go), Stall(until=go)
    scripted.model("r1", ["One", first, " done"], remote=True)
    scripted.model("r2", ["Two", second, " done"], remote=True)
    met = []
    # Each remote model stops mid-answer until both have got there: asked one after the
    # other, the first would wait alone and `met` would be [False].
    when_set([first.reached, second.reached], lambda both: (met.append(both), go.set()))

    result = run_ok(ip, "%%lfw compare -m r1,r2\nCount.")

    assert met == [True]
    assert [r.text for r in result.results.values()] == ["One done", "Two done"]


def test_local_models_take_turns_while_a_remote_one_answers_beside_them(ip, scripted):
    turns: list[str] = []  # both local scripts write into one log
    release = threading.Event()
    holding = Stall(until=release)
    remote_started = Stall(until=threading.Event())
    remote_started.until.set()
    scripted.model("l1", ["First", holding, " local"], log=turns)
    scripted.model("l2", ["Second", " local"], log=turns)
    scripted.model("r", [remote_started, "Remote"], remote=True)
    beside = []
    # l1 holds until the remote model has started: the remote one runs beside the local ones.
    when_set([holding.reached, remote_started.reached], lambda both: (beside.append(both), release.set()))

    result = run_ok(ip, "%%lfw compare -m l1,r,l2\nHi.")

    assert beside == [True]
    assert turns == ["load", "start", "end", "load", "start", "end"]  # l2 began once l1 had ended
    assert [r.text for r in result.results.values()] == ["First local", "Remote", "Second local"]
    assert all(r["status"] == "done" for r in scripted.wb.store.list_runs())


def test_a_failing_model_shows_its_error_in_its_column_and_the_others_answer(ip, scripted, published):
    scripted.model("broken", ["Once", Fail(GenerationError("the server went away"))], remote=True)
    scripted.model("fine", words("Hello there"))
    result = run_ok(ip, "%%lfw compare -m broken,fine\nHi.")

    rows = rows_by_model(scripted.wb)
    assert rows["broken,fine"]["status"] == "done" and result.status == "done"
    assert rows["broken"]["status"] == "failed" and rows["broken"]["output"] == "Once"
    assert "the server went away" in rows["broken"]["error"]
    assert rows["fine"]["status"] == "done" and rows["fine"]["output"] == "Hello there"
    html = published[-1]["data"]["text/html"]
    assert "GenerationError: the server went away" in html and "Hello there" in html


def test_when_every_model_fails_the_parent_run_fails_with_their_errors(ip, scripted):
    scripted.model("a", [Fail(GenerationError("out of credit"))], remote=True)
    scripted.model("b", [Fail(GenerationError("no route"))])
    result = run_ok(ip, "%%lfw compare -m a,b\nHi.")

    parent = rows_by_model(scripted.wb)["a,b"]
    assert result.status == parent["status"] == "failed"
    assert "a: GenerationError: out of credit" in parent["error"] and "b: GenerationError: no route" in parent["error"]


def test_a_stop_cancels_every_column_keeps_each_ones_text_and_says_so_in_one_line(
    ip, scripted, sigint, capsys, monkeypatch
):
    scripted.model("story", ["Once", " upon", Stall(), " never"])
    scripted.model("greeting", ["Hello", Stall(), " never"], remote=True)
    scripted.model("count", ["One", " two", " three", Stall(), " never"], remote=True)
    waiting = scripted.model("later", words("never asked"))  # local: waits for story's turn to end
    # Every update shown (no rate limit); stop is pressed once the cell shows all three texts so far.
    monkeypatch.setattr(compare_magic, "CompareOutput", functools.partial(compare_magic.CompareOutput, max_rate=1e9))
    stop_when_shown(
        ip,
        monkeypatch,
        lambda data, _: all(t in data.get("text/plain", "") for t in ("Once upon\n", "Hello\n", "One two three\n")),
    )
    capsys.readouterr()

    outcome = ip.run_cell("%%lfw compare -m story,greeting,count,later\nGo.", store_history=True)

    assert isinstance(outcome.error_in_exec, KeyboardInterrupt)  # the cell stopped, as a stop asks
    rows = rows_by_model(scripted.wb)
    assert {m: (r["status"], r["output"]) for m, r in rows.items()} == {
        "story,greeting,count,later": ("cancelled", ""),
        "story": ("cancelled", "Once upon"),
        "greeting": ("cancelled", "Hello"),
        "count": ("cancelled", "One two three"),
    }
    assert all(r["finished_at"] for r in rows.values()) and waiting.asked == []
    parent = rows["story,greeting,count,later"]
    line = (
        f"compare cancelled (run {parent['id']}): story after 2 tokens, greeting after 1 token, "
        "count after 3 tokens, later not asked"
    )
    seen = plain(capsys.readouterr().out).strip().splitlines()
    assert seen[-1] == line and "Traceback" not in "\n".join(seen)
    assert [t.name for t in threading.enumerate() if t.name.startswith("lfwb-compare")] == []
    scripted.model("fresh", words("Still here"), remote=True)
    again = run_ok(ip, "%%lfw compare -m fresh,later\nAgain.")  # still usable
    assert again.status == "done"


@pytest.mark.parametrize(
    "cell, says",
    [
        ("%%lfw compare -m a\nHi", "compare needs two models or more, got only a — for one, use %%lfw generate"),
        ("%%lfw compare -m a,b,a\nHi", "a is named twice — compare each model once"),
        ("%%lfw compare -m a,nosuch\nHi", "no model named 'nosuch'"),
        ("%%lfw compare -m a,,b\nHi", "-m takes model names separated by commas, got 'a,,b'"),
        ("%%lfw compare\nHi", "the following arguments are required: -m/--models"),
        ("%%lfw compare -m a,b --max-tokens 0\nHi", "max tokens must be a whole number"),
        ("%%lfw compare -m a,b --temperature 9\nHi", "temperature must be between 0 and 2"),
        ("%%lfw compare -m a,b\n   \n", "the prompt is empty"),
        ("%%lfw compare -m a,b -o 2x\nHi", "-o needs a variable name, got '2x'"),
        ("%lfw compare -m a,b", "compare takes a cell body: start the cell with %%lfw compare"),
    ],
)
def test_bad_input_is_one_line_and_leaves_no_run(ip, scripted, capsys, cell, says):
    a = scripted.model("a", ["Hi"])
    b = scripted.model("b", ["Hi"], remote=True)
    assert says in one_line(run_error(ip, cell, capsys))
    assert scripted.wb.store.list_runs() == [] and a.asked == b.asked == []


def test_updates_are_coalesced_into_one_display(ip, scripted, published, monkeypatch):
    # A clock that moves 20 ms at each reading (one per event): at most 20 updates a second
    # thins the events out to one in three.
    monkeypatch.setattr(
        compare_magic, "CompareOutput", functools.partial(compare_magic.CompareOutput, clock=FakeClock(tick=0.02))
    )
    scripted.model("a", [f" {i}" for i in range(60)])
    scripted.model("b", [f" {i}" for i in range(60)], remote=True)
    run_ok(ip, "%%lfw compare -m a,b --max-tokens 60\nCount.")
    assert len({m["display_id"] for m in published}) == 1
    updates = [m for m in published if m["update"]]
    # 124 events (each model's start, 60 texts, end): one update in three, and the final one.
    assert len(updates) == 42 + 1
    assert " 59" in updates[-1]["data"]["text/html"]


def test_a_terminal_gets_each_answer_as_a_block_when_it_ends(ip, scripted, published, monkeypatch, capsys):
    monkeypatch.setattr(live, "in_terminal", lambda: True)
    scripted.model("a", words("Once upon a time"))
    scripted.model("b", ["Hello", Fail(GenerationError("the server went away"))], remote=True)
    capsys.readouterr()
    result = run_ok(ip, "%%lfw compare -m a,b\nHi.")
    out = capsys.readouterr().out
    rows = rows_by_model(scripted.wb)
    assert f"── a (run {rows['a']['id']}) ──\nOnce upon a time\n[4 tokens · " in out
    assert f"── b (run {rows['b']['id']}) ──\nHello\n[1 token · " in out
    assert "GenerationError: the server went away" in out
    assert published == [] and result.status == "done"  # printed once, not shown again as Out[n]


@pytest.mark.slow
def test_the_bundled_model_under_two_names_answers_the_same_in_turn(ip, wb):
    run_ok(ip, f"%lfw register smollm2-again --runtime llama_cpp --source {default_model_path()}")
    result = run_ok(ip, "%%lfw compare -m smollm2,smollm2-again --max-tokens 8 --temperature 0\nName a colour.")
    first, second = result.results["smollm2"], result.results["smollm2-again"]
    assert result.status == "done" and first.status == second.status == "done"
    assert 0 < first.output_tokens <= 8 and first.text and first.text == second.text  # greedy: the same text
    assert first.ttft_ms is not None and second.ttft_ms is not None
    rows = {r["id"]: r for r in wb.store.list_runs()}
    assert rows[first.run_id]["parent_id"] == rows[second.run_id]["parent_id"] == result.run_id
