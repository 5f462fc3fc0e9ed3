"""`%%lfw generate` through a real IPython shell, on the real bundled model."""

from __future__ import annotations

import json
import re
import signal
import threading
import time

import pytest

from conftest import run_error, run_ok
from lfwb.runs import RunResult
from lfwb.runtimes import default_model_path

# Greedy SmolLM2 writes well past 250 tokens for this one (a counting prompt stopped early with
# flash attention on: keep tests on a prompt whose length does not hang on a digit).
COUNTING = "Write a very long story about a lighthouse keeper and his cat."


@pytest.fixture
def published(ip, monkeypatch):
    """Every display message the cell sends: (time, data, metadata, display_id, update)."""
    sent: list[dict] = []
    real = ip.display_pub.publish

    def publish(data, metadata=None, *args, transient=None, update=False, **kwargs):
        sent.append(dict(at=time.perf_counter(), data=data, metadata=metadata or {},
                         display_id=(transient or {}).get("display_id"), update=update))
        return real(data, metadata, *args, transient=transient, update=update, **kwargs)

    monkeypatch.setattr(ip.display_pub, "publish", publish)
    return sent


def test_generate_streams_into_one_coalesced_display(ip, wb, published):
    started = time.perf_counter()
    result = run_ok(ip, f"%%lfw generate --temperature 0 --max-tokens 60\n{COUNTING}")
    elapsed = time.perf_counter() - started
    assert isinstance(result, RunResult) and result.output_tokens == 60
    assert len({m["display_id"] for m in published}) == 1 and published[0]["display_id"]
    assert [m["update"] for m in published] == [False] + [True] * (len(published) - 1)
    streamed = [m for m in published[1:-1] if m["data"]["text/plain"]]
    assert len(streamed) >= 2  # it really streamed...
    gaps = [b["at"] - a["at"] for a, b in zip(streamed, streamed[1:])]
    assert min(gaps) >= 0.045 and len(published) <= elapsed * 20 + 3  # ...at most ~20 updates a second
    texts = [m["data"]["text/plain"] for m in streamed]
    assert all(b.startswith(a) for a, b in zip(texts, texts[1:]))  # each update extends the last
    final = published[-1]
    assert final["data"]["text/markdown"] == result.text and final["data"]["text/plain"] == result.text
    assert final["metadata"]["lfwb"]["run_id"] == result.run_id
    assert all(m["metadata"]["lfwb"]["run_id"] == result.run_id for m in published)
    row = wb.store.get_run(result.run_id)
    assert row["status"] == "done" and row["output"] == result.text and row["output_tokens"] == 60


def test_result_lands_in_underscore_and_dash_o_without_showing_twice(ip, wb, published):
    run_ok(ip, "%%lfw generate --temperature 0 --max-tokens 12 -o answer\nSay hello.")
    shown = len(published)
    assert isinstance(ip.user_ns["_"], RunResult)
    assert ip.user_ns["answer"] == ip.user_ns["_"].text and ip.user_ns["answer"]
    assert ip.user_ns["_"].run_id == wb.store.list_runs(limit=1)[0]["id"]
    assert shown >= 2 and all(m["display_id"] == published[0]["display_id"] for m in published)
    # Shown again from a later cell, it renders (as Markdown, with its run id).
    run_ok(ip, "_")
    again = published[shown:]
    assert len(again) == 1 and again[0]["data"]["text/markdown"] == ip.user_ns["answer"]
    assert again[0]["metadata"]["lfwb"]["run_id"] == ip.user_ns["_"].run_id


def test_names_are_filled_in_and_other_braces_survive(ip, wb):
    ip.user_ns["component"] = "Button"
    body = ("Explain {component} in {{component}} style={{color: 'red'}}, "
            "{props.title} and function f() {} and {undefined_name}.")
    result = run_ok(ip, f"%%lfw generate --max-tokens 3 --temperature 0\n{body}")
    assert wb.store.get_run(result.run_id)["prompt"] == (
        "Explain Button in {component} style={{color: 'red'}}, "
        "{props.title} and function f() {} and {undefined_name}.")


def test_code_and_text_formats(ip, wb, published):
    run_ok(ip, "%%lfw generate -f code --temperature 0 --max-tokens 8\nWrite a Python print statement.")
    code = published[-1]["data"]
    assert code["text/markdown"].startswith("```") and code["text/markdown"].rstrip().endswith("```")
    run_ok(ip, "%%lfw generate -f text --temperature 0 --max-tokens 8\nSay hello.")
    assert set(published[-1]["data"]) == {"text/plain"}


def test_system_prompt_and_seed_are_recorded(ip, wb):
    first = run_ok(ip, '%%lfw generate --system "Answer in French." --seed 3 --temperature 0.8 --max-tokens 10\nHello!')
    second = run_ok(ip, '%%lfw generate --system "Answer in French." --seed 3 --temperature 0.8 --max-tokens 10\nHello!')
    assert first.text == second.text
    row = wb.store.get_run(first.run_id)
    assert row["seed"] == 3 and '"temperature": 0.8' in row["params_json"]


def test_a_fallback_chain_says_what_it_skipped(ip, wb, published):
    wb.manager.register(name="huge", runtime="llama_cpp", source=default_model_path(), memory_estimate=2**44)
    wb.manager.alias("best", ["huge", "smollm2"])
    result = run_ok(ip, "%%lfw generate -m best --temperature 0 --max-tokens 5\nSay hi.")
    assert result.answered_by == "smollm2"
    note = published[-1]["data"]["text/markdown"]
    assert "answered by smollm2; skipped huge: InsufficientMemory: huge needs about" in note
    row = wb.store.get_run(result.run_id)
    assert row["answered_by"] == "smollm2" and "skipped huge" in row["error"]


def test_interrupt_keeps_partial_text_in_the_cell(ip, wb, published, capsys):
    main = threading.main_thread().ident
    fired = []

    def publish_then_interrupt(data, metadata=None, *args, **kwargs):
        if len(data.get("text/plain", "")) > 10 and not fired:  # after the first tokens
            fired.append(True)
            threading.Thread(target=signal.pthread_kill, args=(main, signal.SIGINT)).start()

    real = ip.display_pub.publish
    ip.display_pub.publish = lambda *a, **k: (real(*a, **k), publish_then_interrupt(*a, **k))[0]
    try:
        outcome = ip.run_cell(f"%%lfw generate --temperature 0 --max-tokens 250\n{COUNTING}", store_history=True)
    finally:
        ip.display_pub.publish = real  # back to the fixture's recorder
    assert isinstance(outcome.error_in_exec, KeyboardInterrupt)
    row = wb.store.list_runs(limit=1)[0]
    assert row["status"] == "cancelled" and row["output"].startswith("Once upon") and row["output_tokens"] < 100
    final = published[-1]
    assert final["data"]["text/markdown"].startswith(row["output"])
    assert str(outcome.error_in_exec) == f"cancelled after {row['output_tokens']} tokens (run {row['id']})"
    assert "cancelled" not in final["data"]["text/markdown"]  # said once, by the line under it
    assert not wb.manager.busy("smollm2")  # the generation has ended, not just been left
    assert [t.name for t in threading.enumerate() if t.name.startswith("lfwb-")] == ["lfwb-model-smollm2_0"]
    again = run_ok(ip, "%%lfw generate --temperature 0 --max-tokens 5\nSay hi.")  # still usable
    assert again.status == "done"


@pytest.mark.parametrize("cell, expected", [
    ("%%lfw generate -m smolm2\nHi", "ModelNotFound: no model named 'smolm2' — registered: smollm2."),
    ("%%lfw generate --max-tokens 0\nHi", "max tokens must be a whole number ≥ 1, got 0"),
    ("%%lfw generate --temperature 9\nHi", "temperature must be between 0 and 2, got 9.0"),
    ("%%lfw generate --bogus\nHi", "unrecognized arguments: --bogus"),
    ("%%lfw generate --max-tokens many\nHi", "argument --max-tokens: invalid int value: 'many'"),
    ("%%lfw generate -o 2x\nHi", "-o needs a variable name, got '2x'"),
    ("%%lfw generate\n   \n", "the prompt is empty"),
    ("%lfw generate", "generate takes a cell body: start the cell with %%lfw generate"),
])
def test_bad_input_is_one_line_and_changes_nothing(ip, wb, capsys, cell, expected):
    wb.manager.load("smollm2")
    seen = re.sub(r"\x1b\[[0-9;]*m", "", run_error(ip, cell, capsys))
    assert expected in seen and len(seen.splitlines()) == 1, seen
    assert wb.store.list_runs() == []
    assert [r["name"] for r in wb.manager.list() if r["loaded"]] == ["smollm2"]


def test_prompt_too_long_is_one_line(ip, wb, capsys):
    run_ok(ip, "%lfw register small --runtime llama_cpp --source " + default_model_path() + " --context-length 256")
    ip.user_ns["long_text"] = "word " * 300
    seen = run_error(ip, "%%lfw generate -m small --max-tokens 5\n{long_text}", capsys)
    errors = [line for line in seen.splitlines() if "PromptTooLong" in line]
    assert len(errors) == 1 and "context window is 256" in errors[0] and "Traceback" not in seen
    assert wb.store.list_runs() == []  # bad input leaves no run behind


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
