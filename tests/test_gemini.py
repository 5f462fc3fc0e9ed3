"""The gemini runtime: the real google-genai SDK against a local server speaking the Gemini API."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import run_error
from fixtures.scripted import FakeClock
from gemini_server import DEFAULT_TEXT, TEST_KEY, Reply, register_fake
from lfwb.errors import GenerationError, MissingCredentials

pytestmark = pytest.mark.timeout(60)


def test_streams_the_answer_with_usage_thinking_and_cost(wb, fake_gemini):
    fake_gemini.default = Reply(prompt_tokens=1200, thoughts=300)
    register_fake(wb, fake_gemini)
    pieces = []
    result = wb.generate(
        "Name a fox.",
        model="g",
        system="Be brief.",
        max_tokens=500,
        temperature=0.2,
        top_p=0.8,
        stop=["END"],
        seed=7,
        on_text=lambda text, r: pieces.append(text),
    )
    assert result.text == DEFAULT_TEXT and len(pieces) >= 3  # it streamed, piece by piece
    row = wb.store.get_run(result.run_id)
    assert (row["status"], row["answered_by"], row["runtime"]) == ("done", "g", "gemini")
    assert (row["input_tokens"], row["output_tokens"]) == (1200, 14)
    assert json.loads(row["usage_json"])["thinking_tokens"] == 300
    # Gemini 2.5 Pro, prompt under 200k: $1.25 in, $10 out per 1M tokens, thinking billed as output.
    assert row["cost_usd"] == pytest.approx((1200 * 1.25 + (14 + 300) * 10) / 1e6)
    sent = fake_gemini.requests[-1]
    assert (sent["model"], sent["method"], sent["alt"]) == ("gemini-2.5-pro", "streamGenerateContent", "sse")
    assert sent["body"]["systemInstruction"]["parts"][0]["text"] == "Be brief."
    assert sent["body"]["contents"] == [{"parts": [{"text": "Name a fox."}], "role": "user"}]
    assert sent["body"]["generationConfig"] == {
        "temperature": 0.2,
        "topP": 0.8,
        "maxOutputTokens": 500,
        "stopSequences": ["END"],
        "seed": 7,
        "candidateCount": 1,
    }


def test_chat_history_maps_assistant_turns_to_the_model_role(wb, fake_gemini):
    register_fake(wb, fake_gemini)
    wb.manager.chat(
        "g",
        [
            {"role": "system", "content": "Terse."},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello."},
            {"role": "user", "content": "Again"},
        ],
        max_tokens=20,
    )
    body = fake_gemini.requests[-1]["body"]
    assert [c["role"] for c in body["contents"]] == ["user", "model", "user"]
    assert body["systemInstruction"]["parts"][0]["text"] == "Terse."


def test_one_shot_generate_content_when_streaming_is_off(wb, fake_gemini):
    register_fake(wb, fake_gemini, stream=False)
    result = wb.generate("Hi", model="g", max_tokens=50)
    assert result.text == DEFAULT_TEXT
    assert fake_gemini.requests[-1]["method"] == "generateContent"
    assert wb.store.get_run(result.run_id)["output_tokens"] == 14


@pytest.fixture
def clock(fake_gemini, retry_clock, monkeypatch) -> FakeClock:
    """The retries' fake clock, also stamping the fake server's log of requests: the gaps
    between requests are the waits lfwb chose."""
    monkeypatch.setattr(fake_gemini, "clock", retry_clock)
    return retry_clock


def test_a_429_is_retried_after_the_servers_retry_delay(wb, fake_gemini, clock):
    fake_gemini.script(Reply(kind="error", status=429, retry_delay="1.2s"))
    register_fake(wb, fake_gemini, retry_base_s=0.01)
    result = wb.generate("Hi", model="g", max_tokens=50)
    assert result.text == DEFAULT_TEXT
    first, second = fake_gemini.requests
    # The backoff alone would wait ~0.01s: the wait is the server's RetryInfo delay.
    assert second["at"] - first["at"] == pytest.approx(1.2)


def test_server_errors_are_retried_with_backoff_then_give_up_with_one_line(wb, fake_gemini, clock):
    fake_gemini.default = Reply(kind="error", status=500)
    register_fake(wb, fake_gemini, max_attempts=3, retry_base_s=0.2)
    with pytest.raises(GenerationError) as caught:
        wb.generate("Hi", model="g", max_tokens=50)
    message = str(caught.value)
    assert "server error (500 INTERNAL" in message and "gave up after 3 attempts" in message
    assert "\n" not in message
    times = [r["at"] for r in fake_gemini.requests]
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert len(times) == 3 and 0.1 <= gaps[0] <= 0.2 and 0.2 <= gaps[1] <= 0.4  # doubling, with jitter
    row = wb.store.list_runs(limit=1)[0]
    assert row["status"] == "failed" and "gave up after 3 attempts" in row["error"]


def test_a_malformed_body_is_a_clear_error_and_not_retried(wb, fake_gemini):
    fake_gemini.script(Reply(kind="malformed"))
    register_fake(wb, fake_gemini)
    with pytest.raises(GenerationError, match="not a Gemini answer"):
        wb.generate("Hi", model="g", max_tokens=50)
    assert len(fake_gemini.requests) == 1


def test_a_stalled_stream_ends_at_the_timeout_and_keeps_the_partial_answer(wb, fake_gemini):
    # Had it waited out the stall, the rest of the answer would have come: "timed out" and the
    # partial text are what ending at the timeout looks like.
    fake_gemini.script(Reply(kind="stall", after=2, stall_s=8))
    register_fake(wb, fake_gemini, timeout_s=1)
    with pytest.raises(GenerationError) as caught:
        wb.generate("Hi", model="g", max_tokens=50)
    assert "timed out" in str(caught.value) and "partial answer is kept" in str(caught.value)
    row = wb.store.list_runs(limit=1)[0]
    assert row["status"] == "failed" and row["output"] == "The quick brown fox jumps over "
    assert row["cost_usd"] == pytest.approx((12 * 1.25 + 6 * 10) / 1e6)  # what the usage so far bills
    assert len(fake_gemini.requests) == 1  # text was written: never restarted behind the user's back


def test_a_stall_before_any_text_is_retried(wb, fake_gemini):
    fake_gemini.script(Reply(kind="stall", stall_s=8))
    register_fake(wb, fake_gemini, timeout_s=1)
    result = wb.generate("Hi", model="g", max_tokens=50)
    assert result.text == DEFAULT_TEXT and len(fake_gemini.requests) == 2


def test_a_connection_cut_mid_answer_keeps_the_partial_answer(wb, fake_gemini):
    fake_gemini.script(Reply(kind="die", after=1))
    register_fake(wb, fake_gemini)
    with pytest.raises(GenerationError, match="dropped"):
        wb.generate("Hi", model="g", max_tokens=50)
    row = wb.store.list_runs(limit=1)[0]
    assert (row["status"], row["output"]) == ("failed", "The quick brown ")
    assert len(fake_gemini.requests) == 1


@pytest.mark.parametrize("stream", [True, False])
def test_an_answer_that_ends_without_a_finish_reason_is_cut_off_not_done(wb, fake_gemini, stream):
    fake_gemini.script(Reply(kind="cut", after=2))
    register_fake(wb, fake_gemini, stream=stream)
    with pytest.raises(GenerationError) as caught:
        wb.generate("Hi", model="g", max_tokens=50)
    message = str(caught.value)
    assert "ended the stream without a finish reason" in message and "cut off" in message and "\n" not in message
    row = wb.store.list_runs(limit=1)[0]
    kept = "The quick brown fox jumps over " if stream else DEFAULT_TEXT
    assert (row["status"], row["output"]) == ("failed", kept) and "\n" not in row["error"]
    assert len(fake_gemini.requests) == 1  # never asked again behind the user's back


def test_a_stream_that_ends_before_any_text_is_retried(wb, fake_gemini):
    fake_gemini.script(Reply(kind="cut", after=0))
    register_fake(wb, fake_gemini)
    result = wb.generate("Hi", model="g", max_tokens=50)
    assert (result.status, result.text, len(fake_gemini.requests)) == ("done", DEFAULT_TEXT, 2)


@pytest.mark.parametrize("kind", ["die", "cut"])
def test_a_pipeline_whose_first_step_is_cut_off_skips_its_dependants_and_fails(wb, fake_gemini, kind):
    fake_gemini.script(Reply(kind=kind, after=1))
    register_fake(wb, fake_gemini)
    result = wb.run_pipeline(
        {
            "steps": [
                {"name": "draft", "model": "g", "prompt": "{input}"},
                {"name": "polish", "model": "g", "prompt": "{steps.draft.output}"},
            ]
        },
        input="x",
        max_tokens=50,
    )
    assert wb.store.get_run(result.run_id)["status"] == "failed"
    steps = {row["name"]: row for row in wb.store.list_steps(result.run_id)}
    assert {n: s["status"] for n, s in steps.items()} == {"draft": "failed", "polish": "skipped"}
    assert steps["draft"]["output"] == "The quick brown " and "cut off" in steps["draft"]["error"]


def test_a_refused_key_says_where_to_fix_it(wb, fake_gemini, monkeypatch):
    monkeypatch.setenv("LFWB_TEST_GEMINI_KEY", "AIzaSy-a-wrong-key-that-is-long-enough")
    register_fake(wb, fake_gemini)
    with pytest.raises(MissingCredentials, match=r"key was refused \(400 INVALID_ARGUMENT"):
        wb.generate("Hi", model="g", max_tokens=50)
    assert len(fake_gemini.requests) == 1


def test_a_missing_key_fails_before_any_request(ip, wb, fake_gemini, monkeypatch, capsys):
    monkeypatch.delenv("LFWB_TEST_GEMINI_KEY")
    register_fake(wb, fake_gemini)
    health = {r["name"]: r for r in wb.manager.health()}
    assert not health["g"]["ok"] and "needs a Gemini API key — set LFWB_TEST_GEMINI_KEY" in health["g"]["detail"]
    with pytest.raises(MissingCredentials, match=r"needs a Gemini API key — set LFWB_TEST_GEMINI_KEY$"):
        wb.generate("Hi", model="g", max_tokens=50)
    # The magic the user can type is added where the error is shown, not kept in the run.
    seen = run_error(ip, "%%lfw generate -m g --max-tokens 50\nHi", capsys)
    assert seen.endswith("set LFWB_TEST_GEMINI_KEY. Or run %lfw key gemini.")
    assert "%lfw" not in wb.store.list_runs(limit=1)[0]["error"]
    assert fake_gemini.requests == []


def test_thinking_that_eats_every_token_is_explained(wb, fake_gemini):
    fake_gemini.script(Reply(text="", thoughts=64, finish="MAX_TOKENS"))
    register_fake(wb, fake_gemini)
    with pytest.raises(GenerationError, match="spent all 64 max tokens thinking"):
        wb.generate("Hi", model="g", max_tokens=64)


def test_gemini_2_5_pro_is_registered_when_a_key_is_set_without_importing_the_sdk(tmp_path):
    script = (
        "import sys, lfwb\n"
        "wb = lfwb.workbench()\n"
        "print('gemini-2.5-pro' in wb.manager, 'google.genai' in sys.modules)\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("GEMINI_API_KEY", "GOOGLE_API_KEY")}
    env["LFWB_DB"] = str(tmp_path / "x.db")
    without = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    with_key = subprocess.run(
        [sys.executable, "-c", script],
        env={**env, "GOOGLE_API_KEY": TEST_KEY},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert without.stdout.split() == ["False", "False"], without.stderr
    assert with_key.stdout.split() == ["True", "False"], with_key.stderr
