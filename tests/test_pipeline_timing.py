"""Independent pipeline steps and a batch's runs are in flight at the same time, seen by a real
server: a tiny OpenAI-compatible one on 127.0.0.1 that holds each answer until the requests
expected together have all arrived (no timing asserted: it counts what was in flight at once)."""

from __future__ import annotations

import asyncio
import json

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse

from gemini_server import serve_in_thread
from lfwb.runtimes import ModelConfig

# A request held longer than this is answered anyway: a client that asks one at a time is
# answered (slowly), and the test fails on what it counted, not by hanging.
HOLD_S = 3.0

BOTH_AT_ONCE = """
steps:
  - name: left
    model: left
    prompt: "Describe the left half of {input}"
  - name: right
    model: right
    prompt: "Describe the right half of {input}"
"""


class Gate:
    """Holds each request until `at_once` of them are in flight together (or every request still
    expected is); `most_at_once` is the most it saw in flight together."""

    def __init__(self, at_once: int, expected: int):
        self.at_once, self.expected = at_once, expected
        self.arrived = self.released = self.answered = self.in_flight = self.most_at_once = 0
        self.condition: asyncio.Condition | None = None  # made on the server's loop

    async def hold(self) -> None:
        self.condition = self.condition or asyncio.Condition()
        async with self.condition:
            self.arrived += 1
            me = self.arrived
            self.in_flight += 1
            self.most_at_once = max(self.most_at_once, self.in_flight)
            if self.in_flight >= min(self.at_once, self.expected - self.answered):
                self.released = self.arrived
                self.condition.notify_all()
            try:
                await asyncio.wait_for(self.condition.wait_for(lambda: self.released >= me), HOLD_S)
            except asyncio.TimeoutError:
                pass
            self.in_flight -= 1
            self.answered += 1


@pytest.fixture
def gated_server():
    """An OpenAI-compatible server whose answers wait at a Gate; yields its URL and a function
    that sets the gate (`at_once`, `expected`) and returns it."""
    app, gates = FastAPI(), []

    @app.post("/v1/chat/completions")
    async def chat(request: Request):
        body = await request.json()
        await gates[-1].hold()

        def events():
            base = {"id": "c1", "object": "chat.completion.chunk", "created": 0, "model": body["model"]}
            for i, word in enumerate(["Done", " by", f" {body['model']}."]):
                choice = {"index": 0, "delta": {"content": word}, "finish_reason": "stop" if i == 2 else None}
                yield f"data: {json.dumps({**base, 'choices': [choice]})}\n\n"
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    def gate(at_once: int, expected: int) -> Gate:
        gates.append(Gate(at_once, expected))
        return gates[-1]

    server, thread, port = serve_in_thread(app, "gated-openai")
    yield f"http://127.0.0.1:{port}/v1", gate
    server.should_exit = True
    thread.join(10)


def test_two_independent_steps_are_asked_at_the_same_time(wb, gated_server):
    url, gate = gated_server
    for name in ("left", "right"):  # two models: generations on one model take turns
        wb.manager.register(
            ModelConfig(
                name=name, source=f"{name}-model", runtime="openai_compat", options={"base_url": url, "timeout_s": 30}
            )
        )
    seen = gate(at_once=2, expected=2)
    result = wb.run_pipeline(BOTH_AT_ONCE, input="a split-screen editor")

    assert result.status == "done"
    assert result.steps["left"].text == "Done by left-model."
    assert result.steps["right"].text == "Done by right-model."
    assert (seen.answered, seen.most_at_once) == (2, 2)  # both in flight together, not one after the other
    rows = {row["name"]: row for row in wb.store.list_steps(result.run_id)}
    assert {row["status"] for row in rows.values()} == {"done"}


ONE_STEP = """
steps:
  - name: answer
    model: left
    prompt: "Summarise {input}"
"""


def test_a_batch_of_ten_with_concurrency_four_has_four_runs_in_flight_never_more(wb, gated_server):
    url, gate = gated_server
    wb.manager.register(
        ModelConfig(
            name="left", source="left-model", runtime="openai_compat", options={"base_url": url, "timeout_s": 30}
        )
    )
    inputs = [f"report {i}" for i in range(10)]
    seen = gate(at_once=4, expected=10)
    rows = wb.run_batch(ONE_STEP, inputs, concurrency=4)

    assert [row["status"] for row in rows] == ["done"] * 10
    # Released four at a time (then the last two): a fifth in flight would show here.
    assert (seen.answered, seen.most_at_once) == (10, 4)
