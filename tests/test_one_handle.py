"""One handle for long work (lfwb/handles.py): a caller's cancel has one outcome everywhere —
the result, marked cancelled, with its partial text — whether it is followed, waited or awaited."""

import asyncio
import json
import threading

import pytest
import websockets

from conftest import eventually, run_ok, stop_when_shown
from fixtures.scripted import Stall, words
from gemini_server import DEFAULT_TEXT, Reply, register_fake
from lfwb.handles import Text
from lfwb.stops import Cancelled
from server_fixtures import sse_events

API = "/api/v1"


def test_a_cancelled_generation_returns_its_partial_text_marked_cancelled(scripted):
    stall = Stall()
    scripted.model("fake", ["Half", " an", stall, " answer"])
    run = scripted.wb.start_generate("Tell me.", model="fake")
    pieces = []
    for event in run:  # the work runs on the handle's thread; its pieces arrive here
        pieces.append(event.piece)
        if event.text == "Half an":
            assert stall.reached.wait(10)
            run.cancel()
    result = run.result()
    assert (result.status, result.text, run.status, "".join(pieces)) == ("cancelled", "Half an", "cancelled", "Half an")
    assert scripted.wb.store.get_run(run.run_id)["status"] == "cancelled"


def test_a_chat_turn_and_a_pipeline_stop_the_same_way(scripted):
    stall = Stall()
    scripted.model("fake", ["Half", stall])
    turn = scripted.wb.chat("s", model="fake").start("Tell me.")
    threading.Thread(target=lambda: (stall.reached.wait(10), turn.cancel()), daemon=True).start()
    assert (turn.result().status, turn.result().text) == ("cancelled", "Half")
    stall = Stall()
    scripted.model("fake", ["Once", stall])
    run = scripted.wb.start_pipeline({"steps": [{"name": "s", "model": "fake", "prompt": "{input}"}]}, "go")
    threading.Thread(target=lambda: (stall.reached.wait(10), run.cancel()), daemon=True).start()
    assert (run.result().status, run.result().steps["s"].text) == ("cancelled", "Once")


def test_the_async_twins_answer_and_stream(scripted):
    scripted.model("fake", words("Hello there friend"))

    async def main():
        whole = await scripted.wb.agenerate("Hi", model="fake")
        pieces = [piece async for piece in scripted.wb.astream("Hi", model="fake")]
        reply = await scripted.wb.chat("s", model="fake").asend("Hi")
        return whole, pieces, reply

    whole, pieces, reply = asyncio.run(main())
    assert whole.text == "".join(pieces) == reply.text == "Hello there friend"


def test_a_notebook_cell_awaits_the_async_api(ip, scripted):
    """IPython's autoawait: a cell awaits the Workbench's coroutines directly."""
    scripted.model("fake", words("Hello there friend"))
    run_ok(
        ip,
        "import asyncio, lfwb\nwb = lfwb.workbench()\n"
        "both = await asyncio.gather(wb.agenerate('Hi', model='fake'), wb.agenerate('Yo', model='fake'))",
    )
    assert [r.text for r in ip.user_ns["both"]] == ["Hello there friend"] * 2


def test_an_awaited_run_cancelled_from_the_loop_keeps_its_text(scripted):
    stall = Stall()
    scripted.model("fake", ["Half", stall])

    async def main():
        run = scripted.wb.start_generate("Tell me.", model="fake")
        async for event in run:
            if isinstance(event, Text) and event.text == "Half":
                run.cancel()
        return await run

    result = asyncio.run(main())
    assert (result.status, result.text) == ("cancelled", "Half")


def test_gathered_remote_generations_are_in_flight_at_once(wb, fake_gemini):
    """asyncio.gather over three remote models: the stand-in Gemini holds each request until three
    are in flight (bounded), so it sees all three at once; sequential calls would show one at a time."""
    fake_gemini.default = Reply(together=3)
    models = ["g1", "g2", "g3"]
    for name in models:
        register_fake(wb, fake_gemini, name=name)

    async def main():
        return await asyncio.gather(*(wb.agenerate("Name a fox.", model=m, max_tokens=50) for m in models))

    results = asyncio.run(main())
    assert [(r.status, r.text) for r in results] == [("done", DEFAULT_TEXT)] * 3
    assert (len(fake_gemini.requests), fake_gemini.most_at_once) == (3, 3)


# -- one cancel, every face ---------------------------------------------------------------------
# The same scripted model, stalled after "Half an"; each face stops it its own way once the run's
# row holds that text, and sees the same outcome: the run cancelled, its partial text kept.

HALF = "Half an"
WAIT_S = 20  # a bound: reaching it is the failure


def half_written(wb) -> int:
    """The id of the run being written once its row holds HALF (rows are flushed while a model stalls)."""
    rows = eventually(
        lambda: [r for r in wb.store.list_runs(status="running") if r["output"] == HALF],
        WAIT_S,
        f"a running run holding {HALF!r}",
    )
    return rows[0]["id"]


def by_magic(request, wb) -> tuple:
    ip, monkeypatch = request.getfixturevalue("ip"), request.getfixturevalue("monkeypatch")
    request.getfixturevalue("sigint")  # the stop is Ctrl-C in the cell
    stop_when_shown(ip, monkeypatch, lambda data, metadata: "lfwb" in metadata, first=lambda: half_written(wb))
    outcome = ip.run_cell("%%lfw generate -m fake\nTell me.", store_history=True)
    assert isinstance(outcome.error_in_exec, Cancelled)  # the cell stops (a "Run all" too)
    run = outcome.error_in_exec.result
    return run.status, run.text, run.run_id


def by_panel(request, wb) -> tuple:
    from lfwb.widgets.chat_panel import ChatPanel

    panel = ChatPanel(wb)
    try:
        panel.model_choice.value = "fake"
        panel.input.value = "Tell me."
        panel.send_button.click()
        half_written(wb)
        panel.stop_button.click()
        panel.handle.wait()
        return panel.reply.status, panel.reply.text, panel.reply.run_id
    finally:
        panel.close()


def by_rest(request, wb) -> tuple:
    server = request.getfixturevalue("server")
    answer: dict = {}
    waiting = threading.Thread(
        target=lambda: answer.update(
            r=server.http.post(f"{API}/generate", json={"prompt": "Tell me.", "model": "fake"}).json()
        )
    )
    waiting.start()
    run_id = half_written(wb)
    assert server.http.post(f"{API}/runs/{run_id}/cancel").json()["status"] == "cancelled"
    waiting.join(WAIT_S)
    return answer["r"]["status"], answer["r"]["text"], answer["r"]["run_id"]


def by_sse(request, wb) -> tuple:
    server = request.getfixturevalue("server")
    body = {"prompt": "Tell me.", "model": "fake", "stream": True}
    text = ""
    with server.http.stream("POST", f"{API}/generate", json=body) as response:
        for event, data in sse_events(response.iter_lines()):
            text += data["text"] if event == "token" else ""
            if text == HALF and event == "token":
                server.http.post(f"{API}/runs/{half_written(wb)}/cancel")
            if event in ("done", "cancelled", "error"):
                break
    assert data["text"] == text  # what was streamed is what the run kept
    return event, data["text"], data["run_id"]


def by_websocket(request, wb) -> tuple:
    server = request.getfixturevalue("server")

    async def talk() -> dict:
        async with websockets.connect(f"{server.ws_url}{API}/chat/notes", open_timeout=WAIT_S) as ws:
            await ws.send(json.dumps({"type": "message", "text": "Tell me.", "model": "fake"}))
            text = ""
            while True:
                got = json.loads(await asyncio.wait_for(ws.recv(), WAIT_S))
                text += got["text"] if got["type"] == "token" else ""
                if got["type"] == "token" and text == HALF:
                    await asyncio.get_running_loop().run_in_executor(None, half_written, wb)
                    await ws.send(json.dumps({"type": "cancel"}))
                if got["type"] in ("done", "cancelled", "error"):
                    return got

    got = asyncio.run(talk())
    return got["type"], got["text"], got["run_id"]


def by_openai_v1(request, wb) -> tuple:
    from openai import OpenAI

    server = request.getfixturevalue("server")
    client = OpenAI(base_url=f"{server.url}/v1", api_key="unused", timeout=WAIT_S)
    stream = client.chat.completions.create(
        model="fake", messages=[{"role": "user", "content": "Tell me."}], stream=True
    )
    text = ""
    for chunk in stream:
        text += chunk.choices[0].delta.content or ""
        if text == HALF:
            half_written(wb)
            stream.close()  # how an OpenAI client stops: it leaves
            break
    run_id = int(chunk.id.removeprefix("chatcmpl-"))
    row = eventually(lambda: (r := wb.store.get_run(run_id))["status"] != "running" and r, WAIT_S, "the run to end")
    return row["status"], text, run_id


def by_async_api(request, wb) -> tuple:
    async def main():
        run = wb.start_generate("Tell me.", model="fake")
        async for event in run:
            if isinstance(event, Text) and event.text == HALF:
                await asyncio.get_running_loop().run_in_executor(None, half_written, wb)
                run.cancel()
        return await run

    result = asyncio.run(main())
    return result.status, result.text, result.run_id


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "face",
    [by_magic, by_panel, by_rest, by_sse, by_websocket, by_openai_v1, by_async_api],
    ids=lambda face: face.__name__.removeprefix("by_"),
)
def test_a_cancel_through_every_face_keeps_the_partial_text(request, scripted, face):
    scripted.model("fake", ["Half", " an", Stall(), " answer"])
    status, text, run_id = face(request, scripted.wb)
    row = scripted.wb.store.get_run(run_id)
    assert (status, text) == ("cancelled", HALF)
    assert (row["status"], row["output"]) == ("cancelled", HALF)
