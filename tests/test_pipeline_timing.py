"""Independent pipeline steps run at the same time, measured against a real server: a tiny
OpenAI-compatible one on 127.0.0.1 that answers every request after a fixed delay."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse

from gemini_server import serve_in_thread
from lfwb.runtimes import ModelConfig

DELAY_S = 1.5

BOTH_AT_ONCE = """
steps:
  - name: left
    model: left
    prompt: "Describe the left half of {input}"
  - name: right
    model: right
    prompt: "Describe the right half of {input}"
"""


@pytest.fixture
def delayed_server():
    """An OpenAI-compatible server whose answers start DELAY_S after each request; yields its
    URL and the monotonic time each request arrived."""
    app, arrived = FastAPI(), []

    @app.post("/v1/chat/completions")
    async def chat(request: Request):
        arrived.append(time.monotonic())
        body = await request.json()
        await asyncio.sleep(DELAY_S)  # asyncio: a second request is served meanwhile

        def events():
            base = {"id": "c1", "object": "chat.completion.chunk", "created": 0, "model": body["model"]}
            for i, word in enumerate(["Done", " by", f" {body['model']}."]):
                choice = {"index": 0, "delta": {"content": word}, "finish_reason": "stop" if i == 2 else None}
                yield f"data: {json.dumps({**base, 'choices': [choice]})}\n\n"
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    server, thread, port = serve_in_thread(app, "delayed-openai")
    yield f"http://127.0.0.1:{port}/v1", arrived
    server.should_exit = True
    thread.join(10)


def test_two_independent_steps_on_a_slow_server_finish_in_about_one_delay_not_two(wb, delayed_server):
    url, arrived = delayed_server
    for name in ("left", "right"):  # two models: generations on one model take turns
        wb.manager.register(ModelConfig(name=name, source=f"{name}-model", runtime="openai_compat",
                                        options={"base_url": url, "timeout_s": 30}))
        wb.manager.load(name)  # the SDK's import and client are not what is measured

    start = time.monotonic()
    result = wb.run_pipeline(BOTH_AT_ONCE, input="a split-screen editor")
    took = time.monotonic() - start

    assert result.status == "done"
    assert result.steps["left"].text == "Done by left-model."
    assert result.steps["right"].text == "Done by right-model."
    assert len(arrived) == 2 and abs(arrived[1] - arrived[0]) < DELAY_S / 2  # both asked at once
    # Serially this takes two delays (3 s); a loaded machine adds a little, never a whole delay.
    assert DELAY_S <= took < 1.9 * DELAY_S, f"took {took:.2f} s for two {DELAY_S} s answers"
    rows = {row["name"]: row for row in wb.store.list_steps(result.run_id)}
    assert {row["status"] for row in rows.values()} == {"done"}
    assert all(row["duration_ms"] >= DELAY_S * 1000 for row in rows.values())


ONE_STEP = """
steps:
  - name: answer
    model: left
    prompt: "Summarise {input}"
"""


@pytest.mark.slow  # 4.5 s of waiting on the server
def test_a_batch_of_ten_with_concurrency_four_takes_about_a_third_of_the_serial_time(wb, delayed_server):
    url, arrived = delayed_server
    wb.manager.register(ModelConfig(name="left", source="left-model", runtime="openai_compat",
                                    options={"base_url": url, "timeout_s": 30}))
    wb.manager.load("left")
    inputs = [f"report {i}" for i in range(10)]

    start = time.monotonic()
    rows = wb.run_batch(ONE_STEP, inputs, concurrency=4)
    took = time.monotonic() - start

    assert [row["status"] for row in rows] == ["done"] * 10 and len(arrived) == 10
    # Serially: 10 delays (15 s). Four at a time: ceil(10 / 4) = 3 delays (4.5 s), a third of it;
    # a loaded machine adds a little, never a whole delay.
    assert 3 * DELAY_S <= took < 4 * DELAY_S, f"took {took:.2f} s for 10 answers of {DELAY_S} s, 4 at a time"
