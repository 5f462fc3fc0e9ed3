"""`%%lfw generate` through a real IPython shell: on the scripted backend, and (marked slow) on
the real bundled model for a generation, an interrupt and the settings llama.cpp reads."""

from __future__ import annotations

import functools
import json
import threading

import pytest

from conftest import one_line, run_error, run_ok, stop_when_shown
from fixtures.scripted import Fail, FakeClock, words
from lfwb.errors import GenerationError, PromptTooLong
from lfwb.magics import generate as generate_magic
from lfwb.magics.live import LiveOutput
from lfwb.runs import RunResult
from lfwb.runtimes.base import DEFAULT_MAX_TOKENS

# Greedy SmolLM2 writes well past 250 tokens for this one (a counting prompt stopped early with
# flash attention on: keep tests on a prompt whose length does not hang on a digit).
COUNTING = "Write a very long story about a lighthouse keeper and his cat."


def test_generate_streams_into_one_coalesced_display(ip, scripted, published, monkeypatch):
    # The live output reads its clock once per token: a fake one that moves 20 ms at each reading
    # makes a model writing 50 tokens a second, which at most 20 updates a second must thin out
    # to one update every third token.
    monkeypatch.setattr(generate_magic, "LiveOutput", functools.partial(LiveOutput, clock=FakeClock(tick=0.02)))
    tokens = [f" {i}" for i in range(60)]
    scripted.model("fake", tokens)
    result = run_ok(ip, "%%lfw generate -m fake --max-tokens 60\nCount to sixty.")
    assert isinstance(result, RunResult) and result.output_tokens == 60
    assert len({m["display_id"] for m in published}) == 1 and published[0]["display_id"]
    assert [m["update"] for m in published] == [False] + [True] * (len(published) - 1)
    streamed = [m["data"]["text/plain"] for m in published[1:-1]]
    assert streamed == ["".join(tokens[:n]) for n in range(1, 61, 3)]  # 20 updates in 1.2 s, each extending
    final = published[-1]
    assert f"<p>{result.text.strip()}</p>" in final["data"]["text/html"] and final["data"]["text/plain"] == result.text
    assert final["metadata"]["lfwb"]["run_id"] == result.run_id
    assert all(m["metadata"]["lfwb"]["run_id"] == result.run_id for m in published)
    row = scripted.wb.store.get_run(result.run_id)
    assert row["status"] == "done" and row["output"] == result.text == "".join(tokens) and row["output_tokens"] == 60


def test_result_lands_in_underscore_and_dash_o_without_showing_twice(ip, scripted, published):
    scripted.model("fake", words("Hello there!"))
    run_ok(ip, "%%lfw generate -m fake -o answer\nSay hello.")
    shown = len(published)
    assert isinstance(ip.user_ns["_"], RunResult)
    assert ip.user_ns["answer"] == ip.user_ns["_"].text == "Hello there!"
    assert ip.user_ns["_"].run_id == scripted.wb.store.list_runs(limit=1)[0]["id"]
    assert shown >= 2 and all(m["display_id"] == published[0]["display_id"] for m in published)
    # Shown again from a later cell, it renders (its Markdown as HTML, with its run id).
    run_ok(ip, "_")
    again = published[shown:]
    assert len(again) == 1 and f"<p>{ip.user_ns['answer']}</p>" in again[0]["data"]["text/html"]
    assert again[0]["metadata"]["lfwb"]["run_id"] == ip.user_ns["_"].run_id


def test_names_are_filled_in_and_other_braces_survive(ip, scripted):
    fake = scripted.model("fake", ["Sure."])
    ip.user_ns["component"] = "Button"
    body = (
        "Explain {component} in {{component}} style={{color: 'red'}}, "
        "{props.title} and function f() {} and {undefined_name}."
    )
    result = run_ok(ip, f"%%lfw generate -m fake\n{body}")
    filled = (
        "Explain Button in {component} style={{color: 'red'}}, {props.title} and function f() {} and {undefined_name}."
    )
    assert scripted.wb.store.get_run(result.run_id)["prompt"] == filled
    assert fake.asked[0].messages == [{"role": "user", "content": filled}]  # what the model was sent


def test_code_and_text_formats(ip, scripted, published):
    scripted.model("fake", ["print", "('hi')"])
    run_ok(ip, "%%lfw generate -m fake -f code\nWrite a Python print statement.")
    assert "<pre><code>print('hi')&#10;</code></pre>" in published[-1]["data"]["text/html"]
    run_ok(ip, "%%lfw generate -m fake -f text\nSay hello.")
    assert published[-1]["data"] == {"text/plain": "print('hi')"}


def test_settings_and_the_system_prompt_reach_the_model(ip, scripted):
    fake = scripted.model("fake", ["Bonjour"])
    result = run_ok(
        ip,
        '%%lfw generate -m fake --system "Answer in French." --seed 3 --temperature 0.8 '
        "--top-p 0.5 --top-k 7 --stop END --max-tokens 10\nHello!",
    )
    [asked] = fake.asked
    assert asked.messages == [{"role": "system", "content": "Answer in French."}, {"role": "user", "content": "Hello!"}]
    assert (asked.seed, asked.temperature, asked.top_p, asked.top_k, asked.stop, asked.max_tokens) == (
        3,
        0.8,
        0.5,
        7,
        ["END"],
        10,
    )
    run_ok(ip, "%%lfw generate -m fake --raw\nHello!")
    assert fake.asked[-1].prompt == "Hello!" and fake.asked[-1].messages is None  # no chat template
    assert fake.asked[-1].max_tokens == DEFAULT_MAX_TOKENS  # left out: the one default, not a copy of it
    row = scripted.wb.store.get_run(result.run_id)
    assert row["seed"] == 3 and '"temperature": 0.8' in row["params_json"]


@pytest.mark.slow
def test_system_prompt_and_seed_are_recorded(ip, wb):
    first = run_ok(ip, '%%lfw generate --system "Answer in French." --seed 3 --temperature 0.8 --max-tokens 10\nHello!')
    second = run_ok(
        ip, '%%lfw generate --system "Answer in French." --seed 3 --temperature 0.8 --max-tokens 10\nHello!'
    )
    assert first.text == second.text
    row = wb.store.get_run(first.run_id)
    assert row["seed"] == 3 and '"temperature": 0.8' in row["params_json"]


def test_a_fallback_chain_says_what_it_skipped(ip, scripted, published):
    huge = scripted.model("huge", ["never"], memory=2**44)
    scripted.model("fake", ["Hi!"])
    scripted.manager.alias("best", ["huge", "fake"])
    result = run_ok(ip, "%%lfw generate -m best\nSay hi.")
    assert result.answered_by == "fake" and result.text == "Hi!" and huge.log == []
    note = published[-1]["data"]["text/html"]
    assert "answered by fake; skipped huge: InsufficientMemory: huge needs about" in note
    row = scripted.wb.store.get_run(result.run_id)
    assert row["answered_by"] == "fake" and "skipped huge" in row["error"]


def test_a_chain_never_moves_on_mid_answer(ip, scripted, published, capsys):
    scripted.model("flaky", words("Once upon") + [Fail(GenerationError("flaky: the connection dropped"))])
    spare = scripted.model("spare", ["Hi!"])
    scripted.manager.alias("best", ["flaky", "spare"])
    seen = run_error(ip, "%%lfw generate -m best\nTell a story.", capsys)
    assert "the connection dropped" in seen.splitlines()[-1] and spare.asked == []
    row = scripted.wb.store.list_runs(limit=1)[0]
    assert row["status"] == "failed" and row["output"] == "Once upon"
    final = published[-1]["data"]["text/html"]
    assert "<p>Once upon</p>" in final and f"failed (run {row['id']})" in final  # the text stays shown


@pytest.mark.slow
def test_interrupt_keeps_partial_text_in_the_cell(ip, wb, published, capsys, sigint, monkeypatch):
    # After the first tokens.
    stop_when_shown(ip, monkeypatch, lambda data, _: len(data.get("text/plain", "")) > 10)
    outcome = ip.run_cell(f"%%lfw generate --temperature 0 --max-tokens 250\n{COUNTING}", store_history=True)
    assert isinstance(outcome.error_in_exec, KeyboardInterrupt)
    row = wb.store.list_runs(limit=1)[0]
    assert row["status"] == "cancelled" and row["output"].startswith("Once upon") and row["output_tokens"] < 100
    final = published[-1]
    assert final["data"]["text/plain"].startswith(row["output"])
    assert str(outcome.error_in_exec) == f"cancelled after {row['output_tokens']} tokens (run {row['id']})"
    assert "cancelled" not in final["data"]["text/plain"]  # said once, by the line under it
    assert not wb.manager.busy("smollm2")  # the generation has ended, not just been left
    assert [t.name for t in threading.enumerate() if t.name.startswith("lfwb-")] == ["lfwb-model-smollm2_0"]
    again = run_ok(ip, "%%lfw generate --temperature 0 --max-tokens 5\nSay hi.")  # still usable
    assert again.status == "done"


@pytest.mark.parametrize(
    "cell, expected",
    [
        ("%%lfw generate -m smolm2\nHi", "ModelNotFound: no model named 'smolm2' — registered: fake, smollm2."),
        ("%%lfw generate -m fake --max-tokens 0\nHi", "max tokens must be a whole number"),
        ("%%lfw generate --temperature 9\nHi", "temperature must be between 0 and 2, got 9.0"),
        ("%%lfw generate --bogus\nHi", "unrecognized arguments: --bogus"),
        ("%%lfw generate --max-tokens many\nHi", "argument --max-tokens: invalid int value: 'many'"),
        ("%%lfw generate -o 2x\nHi", "-o needs a variable name, got '2x'"),
        ("%%lfw generate\n   \n", "the prompt is empty"),
        ("%lfw generate", "generate takes a cell body: start the cell with %%lfw generate"),
    ],
)
def test_bad_input_is_one_line_and_changes_nothing(ip, scripted, capsys, cell, expected):
    fake = scripted.model("fake", ["Hi"])
    scripted.manager.load("fake")
    assert expected in one_line(run_error(ip, cell, capsys))
    assert scripted.wb.store.list_runs() == [] and fake.asked == []
    assert [r["name"] for r in scripted.manager.list() if r["loaded"]] == ["fake"]


def test_prompt_too_long_is_one_line(ip, scripted, capsys):
    # The backend finds it out (llama.cpp when it tokenizes: see test_manager); here, what the cell shows.
    too_long = PromptTooLong("the prompt is 301 tokens but small's context window is 256 — shorten it")
    scripted.model("small", [Fail(too_long)])
    ip.user_ns["long_text"] = "word " * 300
    seen = run_error(ip, "%%lfw generate -m small --max-tokens 5\n{long_text}", capsys)
    errors = [line for line in seen.splitlines() if "PromptTooLong" in line]
    assert len(errors) == 1 and "context window is 256" in errors[0] and "Traceback" not in seen
    assert scripted.wb.store.list_runs() == []  # bad input leaves no run behind


@pytest.mark.slow
def test_repeat_penalty_is_a_setting_of_the_run(ip, wb, capsys):
    prompt = "List ten fruits."
    off = run_ok(ip, f"%%lfw generate --temperature 0 --max-tokens 40 --repeat-penalty 1.0\n{prompt}")
    strong = run_ok(ip, f"%%lfw generate --temperature 0 --max-tokens 40 --repeat-penalty 1.6\n{prompt}")
    assert off.text != strong.text  # same greedy prompt, another penalty: another text
    assert json.loads(wb.store.get_run(strong.run_id)["params_json"])["repeat_penalty"] == 1.6
    runs_before = wb.store.list_runs()
    seen = run_error(ip, f"%%lfw generate --repeat-penalty 0\n{prompt}", capsys)
    assert "repeat penalty must be in (0, 2]" in seen and len(seen.splitlines()) == 1
    assert wb.store.list_runs() == runs_before
