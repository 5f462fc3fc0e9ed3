"""The openai_compat runtime against a real OpenAI-compatible server: llama-cpp-python's own
(`python -m llama_cpp.server`) serving the bundled SmolLM2 on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse

from conftest import run_ok
from gemini_server import serve_in_thread
from lfwb.errors import GenerationError
from lfwb.runtimes import GenerationConfig, ModelConfig, default_model_path

pytestmark = pytest.mark.timeout(180)

START_TIMEOUT_S = 90


class LlamaServer:
    """`python -m llama_cpp.server` on a free port, its log in a file."""

    def __init__(self, log: Path):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.log = log
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "llama_cpp.server",
                "--model",
                default_model_path(),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--n_ctx",
                "1024",
            ],
            stdout=subprocess.DEVNULL,
            stderr=log.open("w"),
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                if httpx.get(f"{self.url}/models", timeout=1, trust_env=False).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"llama_cpp.server did not start:\n{log.read_text()[-2000:]}")
            time.sleep(0.2)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory):
    server = LlamaServer(tmp_path_factory.mktemp("llama-server") / "server.log")
    yield server
    server.stop()


def register(wb, url: str, name: str = "srv", **options) -> None:
    wb.manager.register(
        ModelConfig(name=name, source="smollm2", runtime="openai_compat", options={"base_url": url, **options})
    )


def test_generate_through_the_server_is_recorded_like_a_local_run(wb, llama_server):
    register(wb, llama_server.url)
    pieces = []
    result = wb.generate(
        "Say hello.", model="srv", max_tokens=8, temperature=0, on_text=lambda text, r: pieces.append(text)
    )
    assert result.text.strip() and len(pieces) >= 2  # streamed, piece by piece
    assert all(b.startswith(a) for a, b in zip(pieces, pieces[1:]))
    row = wb.store.get_run(result.run_id)
    assert (row["status"], row["answered_by"], row["runtime"]) == ("done", "srv", "openai_compat")
    assert row["output"] == result.text and row["cost_usd"] == 0  # a self-hosted model is not priced


def test_token_counts_and_finish_reason_come_from_the_stream(wb, llama_server):
    register(wb, llama_server.url)
    # Greedy and far from done at 6 tokens: the server stops on the length limit.
    chunks = list(
        wb.manager.stream(
            "srv",
            GenerationConfig(
                messages=[{"role": "user", "content": "Count from 1 to 100, separated by commas."}],
                max_tokens=6,
                temperature=0,
            ),
        )
    )
    assert sum(c.output_tokens for c in chunks) == 6 and chunks[-1].finish_reason == "length"
    result = wb.generate("Count from 1 to 100, separated by commas.", model="srv", max_tokens=6, temperature=0)
    assert wb.store.get_run(result.run_id)["output_tokens"] == 6


def test_a_raw_prompt_goes_to_the_completions_endpoint(wb, llama_server):
    register(wb, llama_server.url)
    result = wb.generate("1, 2, 3, 4,", model="srv", raw=True, max_tokens=4, temperature=0)
    assert result.text.strip() and result.output_tokens == 4


def test_a_server_that_is_not_running_is_one_clear_line_at_once(wb, retry_clock):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once the socket closes
    register(wb, f"http://127.0.0.1:{port}/v1", max_attempts=4)
    started = retry_clock()
    with pytest.raises(GenerationError) as caught:
        wb.generate("Hi", model="srv", max_tokens=4)
    assert f"cannot reach http://127.0.0.1:{port}/v1" in str(caught.value)
    assert "is the server running?" in str(caught.value) and "\n" not in str(caught.value)
    assert retry_clock() == started  # refused connections are not retried: no wait for a second try


def test_the_magics_register_and_generate_through_the_server(ip, wb, llama_server):
    run_ok(
        ip,
        f"%lfw register fast --runtime openai_compat --source smollm2 --base-url {llama_server.url} "
        "--option timeout_s=60",
    )
    result = run_ok(ip, "%%lfw generate -m fast --max-tokens 5 --temperature 0\nSay hi.")
    assert result.status == "done" and result.answered_by == "fast" and result.text
    info = run_ok(ip, "%lfw info fast")
    assert info["endpoint"] == llama_server.url and info["api_key"].startswith("none")


def test_a_server_killed_mid_answer_is_a_clear_error_and_the_partial_answer_is_kept(wb, tmp_path):
    server = LlamaServer(tmp_path / "server.log")
    try:
        register(wb, server.url)

        def kill_after_a_few_pieces(text, result):
            if result.output_tokens >= 3 and server.proc.poll() is None:
                server.proc.kill()

        with pytest.raises(GenerationError) as caught:
            wb.generate(
                "Count from 1 to 300, separated by commas.",
                model="srv",
                max_tokens=300,
                temperature=0,
                on_text=kill_after_a_few_pieces,
            )
    finally:
        server.stop()
    message = str(caught.value)
    assert f"the connection to {server.url} dropped" in message and "partial answer is kept" in message
    row = wb.store.list_runs(limit=1)[0]
    assert row["status"] == "failed" and row["output"].strip() and row["output_tokens"] >= 3
    assert row["output_tokens"] < 300 and "dropped" in row["error"]


# -- what llama.cpp's server does not do: usage in the stream, 429s ---------------------------


@pytest.fixture
def usage_server(retry_clock):
    """A minimal OpenAI-compatible server that reports usage in the stream (as vLLM, Ollama and
    OpenAI do with stream_options.include_usage) and answers 429 with Retry-After first. Each
    request is stamped with the retries' fake clock: the gap between two is the wait lfwb chose."""
    app, seen = FastAPI(), []

    @app.post("/v1/chat/completions")
    async def chat(request: Request):
        seen.append((retry_clock(), await request.json()))
        if len(seen) == 1:
            return JSONResponse(
                {"error": {"message": "Rate limit reached", "type": "rate_limit"}},
                status_code=429,
                headers={"Retry-After": "1"},
            )

        def events():
            base = {"id": "c1", "object": "chat.completion.chunk", "created": 0, "model": "gpt-4o-mini"}
            for i, word in enumerate(["Hello", " there", "."]):
                choice = {"index": 0, "delta": {"content": word}, "finish_reason": "stop" if i == 2 else None}
                yield f"data: {json.dumps({**base, 'choices': [choice]})}\n\n"
            usage = {"prompt_tokens": 21, "completion_tokens": 3, "total_tokens": 24}
            yield f"data: {json.dumps({**base, 'choices': [], 'usage': usage})}\n\n"
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    server, thread, port = serve_in_thread(app, "fake-openai")
    yield f"http://127.0.0.1:{port}/v1", seen
    server.should_exit = True
    thread.join(10)


def test_usage_reported_in_the_stream_is_recorded_and_priced(wb, usage_server, tmp_path, monkeypatch):
    url, seen = usage_server
    prices = tmp_path / "prices.json"
    prices.write_text('{"gpt-4o-mini": {"input": 0.15, "output": 0.6}}')
    monkeypatch.setenv("LFWB_PRICES", str(prices))
    wb.manager.register(
        ModelConfig(
            name="mini", source="gpt-4o-mini", runtime="openai_compat", options={"base_url": url, "retry_base_s": 0.01}
        )
    )
    result = wb.generate("Hi", model="mini", max_tokens=20)
    assert result.text == "Hello there."
    row = wb.store.get_run(result.run_id)
    assert (row["input_tokens"], row["output_tokens"]) == (21, 3)
    assert row["cost_usd"] == pytest.approx((21 * 0.15 + 3 * 0.6) / 1e6)
    assert seen[1][1]["stream_options"] == {"include_usage": True}
    assert seen[1][0] - seen[0][0] == pytest.approx(1.0)  # the 429's Retry-After, not the 0.01 s backoff


# -- answers cut off: a closed connection, a stream that ends without a finish reason ---------


@pytest.fixture
def cutting_server():
    """An OpenAI-compatible server whose next answers are scripted: `"ok"` (three pieces, a
    finish reason, usage, [DONE]), `"close"` (two pieces, then the connection is closed
    mid-body), `"end"` (two pieces, then the stream ends cleanly with no finish reason and no
    [DONE]) or `"empty"` (the stream ends before any piece). Answers "ok" once the script is out."""
    app, script, asked = FastAPI(), [], []

    @app.post("/v1/chat/completions")
    async def chat(request: Request):
        asked.append(await request.json())
        mode = script.pop(0) if script else "ok"

        def events():
            base = {"id": "c1", "object": "chat.completion.chunk", "created": 0, "model": "m"}
            words = {"ok": ["Hello", " there", "."], "empty": []}.get(mode, ["Hello", " there"])
            for i, word in enumerate(words):
                last = mode == "ok" and i == len(words) - 1
                choice = {"index": 0, "delta": {"content": word}, "finish_reason": "stop" if last else None}
                yield f"data: {json.dumps({**base, 'choices': [choice]})}\n\n"
            if mode == "close":
                raise ConnectionResetError("the server goes away mid-answer")  # uvicorn drops the connection
            if mode == "ok":
                usage = {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}
                yield f"data: {json.dumps({**base, 'choices': [], 'usage': usage})}\n\n"
                yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    server, thread, port = serve_in_thread(app, "cutting-openai")
    yield f"http://127.0.0.1:{port}/v1", script, asked
    server.should_exit = True
    thread.join(10)


@pytest.mark.parametrize("mode", ["close", "end"])
def test_an_answer_cut_off_mid_stream_fails_with_its_partial_text_and_is_not_retried(wb, cutting_server, mode):
    url, script, asked = cutting_server
    script.append(mode)
    register(wb, url, retry_base_s=0.01)
    with pytest.raises(GenerationError) as caught:
        wb.generate("Hi", model="srv", max_tokens=20)
    message = str(caught.value)
    assert "the answer was cut off after 2 pieces" in message and "\n" not in message
    assert ("dropped" if mode == "close" else "ended the stream without a finish reason") in message
    row = wb.store.list_runs(limit=1)[0]
    assert (row["status"], row["output"]) == ("failed", "Hello there")
    assert "cut off" in row["error"] and "\n" not in row["error"]
    assert len(asked) == 1  # a second answer would repeat the half already shown


def test_a_stream_that_ends_before_any_text_is_retried(wb, cutting_server):
    url, script, asked = cutting_server
    script.append("empty")
    register(wb, url, retry_base_s=0.01)
    result = wb.generate("Hi", model="srv", max_tokens=20)
    assert (result.status, result.text, len(asked)) == ("done", "Hello there.", 2)


def test_a_pipeline_whose_first_step_is_cut_off_skips_its_dependants_and_fails(wb, cutting_server):
    url, script, asked = cutting_server
    script.append("end")
    register(wb, url, retry_base_s=0.01)
    result = wb.run_pipeline(
        {
            "steps": [
                {"name": "draft", "model": "srv", "prompt": "{input}"},
                {"name": "polish", "model": "srv", "prompt": "{steps.draft.output}"},
            ]
        },
        input="x",
    )
    run = wb.store.get_run(result.run_id)
    assert run["status"] == "failed" and "cut off" in run["error"]
    steps = {row["name"]: row for row in wb.store.list_steps(result.run_id)}
    assert {n: s["status"] for n, s in steps.items()} == {"draft": "failed", "polish": "skipped"}
    assert steps["draft"]["output"] == "Hello there" and len(asked) == 1
