"""lfwb serve under streaming: a client that leaves cancels its run, the WebSocket chat, one queue
per model, and the store's routes answering while a generation runs."""

from __future__ import annotations

import asyncio
import json
import threading

import websockets

from conftest import eventually
from fixtures.scripted import Stall, words
from server_fixtures import TIMEOUT_S, sse_events

API = "/api/v1"


def test_a_client_that_disconnects_mid_stream_cancels_its_run_which_keeps_the_partial_text(server, scripted):
    stall = Stall()
    script = scripted.model("slow", ["Once", " upon", stall, " a", " time"])
    with server.http.stream("POST", f"{API}/generate", json={"prompt": "story", "model": "slow", "stream": True}) as r:
        events = sse_events(r.iter_lines())
        run_id = next(events)[1]["run_id"]
        assert [next(events)[1]["text"] for _ in range(2)] == ["Once", " upon"]
        assert stall.reached.wait(10)
    # The connection is closed: the server stops the model and finishes the row.
    row = eventually(lambda: (r := server.http.get(f"{API}/runs/{run_id}").json())["status"] != "running" and r)
    assert (row["status"], row["output"]) == ("cancelled", "Once upon")
    assert "cancelled" in script.log


def test_an_openai_stream_left_early_cancels_its_run_too(server, scripted):
    stall = Stall()
    scripted.model("slow", ["Hello", stall, " world"])
    body = {"model": "slow", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    with server.http.stream("POST", "/v1/chat/completions", json=body) as r:
        lines = (line for line in r.iter_lines() if line.startswith("data:"))
        first = json.loads(next(lines)[5:])
        assert json.loads(next(lines)[5:])["choices"][0]["delta"]["content"] == "Hello"
        assert stall.reached.wait(10)
    run_id = int(first["id"].removeprefix("chatcmpl-"))
    row = eventually(lambda: (r := server.http.get(f"{API}/runs/{run_id}").json())["status"] != "running" and r)
    assert (row["status"], row["output"]) == ("cancelled", "Hello")


def test_another_client_cancels_a_generation_that_is_not_streamed_and_both_get_the_partial_text(server, scripted):
    stall = Stall()
    scripted.model("slow", ["Once", " upon", stall, " a", " time"])
    answer = {}
    waiting = threading.Thread(
        target=lambda: answer.update(
            r=server.http.post(f"{API}/generate", json={"prompt": "story", "model": "slow"}).json()
        )
    )
    waiting.start()
    assert stall.reached.wait(10)
    run_id = server.http.get(f"{API}/runs", params={"status": "running"}).json()["items"][0]["id"]
    cancelled = server.http.post(f"{API}/runs/{run_id}/cancel")
    assert cancelled.status_code == 200
    assert (cancelled.json()["status"], cancelled.json()["output"]) == ("cancelled", "Once upon")
    waiting.join(TIMEOUT_S)
    assert (answer["r"]["run_id"], answer["r"]["status"], answer["r"]["text"]) == (run_id, "cancelled", "Once upon")


def test_another_client_cancels_a_chat_turn_and_the_socket_is_told_with_the_text_so_far(server, scripted):
    stall = Stall()
    scripted.model("slow", ["Half", " an", stall, " answer"])

    async def talk() -> list[dict]:
        got = []
        async with websockets.connect(f"{server.ws_url}{API}/chat/notes", open_timeout=TIMEOUT_S) as ws:
            await ws.send(json.dumps({"type": "message", "text": "hi", "model": "slow"}))
            while True:
                got.append(json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT_S)))
                if got[-1]["type"] == "token" and got[-1]["text"] == " an":
                    loop = asyncio.get_running_loop()
                    await loop.run_in_executor(None, stall.reached.wait, 10)
                    got.append(
                        await loop.run_in_executor(
                            None, lambda: server.http.post(f"{API}/runs/{got[0]['run_id']}/cancel").json()
                        )
                    )
                if got[-1].get("type") in ("cancelled", "done", "error"):
                    return got

    got = asyncio.run(talk())
    row = next(g for g in got if "type" not in g)  # the cancel's answer: the run's row
    assert (row["status"], row["output"]) == ("cancelled", "Half an")
    assert (got[-1]["type"], got[-1]["text"]) == ("cancelled", "Half an")


def test_an_openai_completion_cancelled_by_another_client_answers_its_partial_text(server, scripted):
    stall = Stall()
    scripted.model("slow", ["Hello", stall, " world"])
    answer = {}
    body = {"model": "slow", "messages": [{"role": "user", "content": "hi"}]}
    waiting = threading.Thread(target=lambda: answer.update(r=server.http.post("/v1/chat/completions", json=body)))
    waiting.start()
    assert stall.reached.wait(10)
    run_id = server.http.get(f"{API}/runs", params={"status": "running"}).json()["items"][0]["id"]
    assert server.http.post(f"{API}/runs/{run_id}/cancel").json()["status"] == "cancelled"
    waiting.join(TIMEOUT_S)
    assert answer["r"].status_code == 200
    assert answer["r"].json()["choices"][0]["message"]["content"] == "Hello"


def test_cancelling_a_run_that_is_not_running_here_is_409_in_one_line_and_an_unknown_run_404(server, scripted):
    scripted.model("fake", words("done already"))
    http = server.http
    finished = http.post(f"{API}/generate", json={"prompt": "x", "model": "fake"}).json()["run_id"]
    answer = http.post(f"{API}/runs/{finished}/cancel")
    assert answer.status_code == 409 and answer.json()["code"] == "not_running"
    assert answer.json()["line"] == f"NotRunning: run {finished} is done, not running — there is nothing to cancel"
    assert http.get(f"{API}/runs/{finished}").json()["status"] == "done"
    elsewhere = server.wb.store.add_run(server.wb.project_id, prompt="p", status="running")["id"]  # a notebook's
    answer = http.post(f"{API}/runs/{elsewhere}/cancel")
    assert answer.status_code == 409 and "stop it where it runs" in answer.json()["line"]
    assert http.get(f"{API}/runs/{elsewhere}").json()["status"] == "running"
    assert http.post(f"{API}/runs/999/cancel").json()["code"] == "not_found"


def test_generations_on_one_local_model_take_turns(server, scripted):
    script = scripted.model("fake", ["a", Stall(seconds=0.2), "b"])
    answers = []

    def ask() -> None:
        answers.append(server.http.post(f"{API}/generate", json={"prompt": "x", "model": "fake"}).json()["status"])

    threads = [threading.Thread(target=ask) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT_S)
    assert answers == ["done"] * 3
    assert script.log[1:] == ["start", "end"] * 3  # never two at once on one llama.cpp context


def test_the_store_answers_while_a_generation_is_running(server, scripted):
    go = threading.Event()
    stall = Stall(until=go)
    scripted.model("slow", ["a", stall, "b"])
    answer = {}
    generating = threading.Thread(
        target=lambda: answer.update(
            r=server.http.post(f"{API}/generate", json={"prompt": "x", "model": "slow"}).json()
        )
    )
    generating.start()
    assert stall.reached.wait(10)
    # The model stalls until `go`: a loop or threadpool that waited on it would never answer these.
    for _ in range(20):
        assert server.http.get(f"{API}/runs").status_code == 200
        assert server.http.get(f"{API}/models").status_code == 200
    go.set()
    generating.join(TIMEOUT_S)
    assert answer["r"]["text"] == "ab"


def chat(server, session: str, *messages: dict, until: str = "done") -> list[dict]:
    """Send `messages` over the chat WebSocket; everything received until an `until` message."""

    async def talk() -> list[dict]:
        got = []
        async with websockets.connect(f"{server.ws_url}{API}/chat/{session}", open_timeout=TIMEOUT_S) as ws:
            for m in messages:
                await ws.send(json.dumps(m))
            while True:
                got.append(json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT_S)))
                if got[-1]["type"] == until:
                    return got

    return asyncio.run(talk())


def test_a_chat_message_streams_tokens_then_the_final_message(server, scripted):
    scripted.model("fake", words("Blue, per the guide."))
    got = chat(server, "notes", {"type": "message", "text": "What colour are buttons?", "model": "fake"})
    assert [g["type"] for g in got] == ["start", "token", "token", "token", "token", "done"]
    assert got[-1]["text"] == "Blue, per the guide." and got[-1]["sources"] == []
    history = server.wb.chat("notes").history()
    assert [(m["role"], m["content"]) for m in history] == [
        ("user", "What colour are buttons?"),
        ("assistant", "Blue, per the guide."),
    ]


def test_a_cancel_message_stops_the_answer_which_keeps_its_text(server, scripted):
    stall = Stall()
    scripted.model("slow", ["Half", " an", stall, " answer"])

    async def talk() -> list[dict]:
        got = []
        async with websockets.connect(f"{server.ws_url}{API}/chat/notes", open_timeout=TIMEOUT_S) as ws:
            await ws.send(json.dumps({"type": "message", "text": "hi", "model": "slow"}))
            while True:
                got.append(json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT_S)))
                if got[-1]["type"] == "token" and got[-1]["text"] == " an":
                    await asyncio.get_running_loop().run_in_executor(None, stall.reached.wait, 10)
                    await ws.send(json.dumps({"type": "cancel"}))
                if got[-1]["type"] in ("cancelled", "done", "error"):
                    return got

    got = asyncio.run(talk())
    assert got[-1]["type"] == "cancelled" and got[-1]["text"] == "Half an"
    assert server.http.get(f"{API}/runs/{got[-1]['run_id']}").json()["status"] == "cancelled"


def test_a_bad_chat_message_is_answered_with_one_line_and_the_socket_stays_open(server, scripted):
    scripted.model("fake", words("ok"))
    got = chat(server, "notes", {"type": "shout"}, {"type": "message", "text": "hi", "model": "fake"})
    assert got[0]["type"] == "error" and got[0]["line"].startswith("BadInput:")
    assert got[-1]["type"] == "done" and got[-1]["text"] == "ok"


def test_a_chat_answer_with_retrieval_names_its_sources(server, scripted):
    scripted.model("fake", words("Blue."))
    note = server.http.post(f"{API}/contexts", json={"text": "Buttons are blue and round.", "name": "style"}).json()
    got = chat(server, "notes", {"type": "message", "text": "What colour are buttons?", "model": "fake", "rag": True})
    assert got[-1]["type"] == "done"
    assert [(s["context_id"], s["context_name"]) for s in got[-1]["sources"]] == [(note["id"], "style")]


def test_closing_the_chat_socket_mid_answer_cancels_the_turn_which_keeps_its_text(server, scripted):
    stall = Stall()
    scripted.model("slow", ["Half", stall, " more"])

    async def talk() -> int:
        async with websockets.connect(f"{server.ws_url}{API}/chat/notes", open_timeout=TIMEOUT_S) as ws:
            await ws.send(json.dumps({"type": "message", "text": "hi", "model": "slow"}))
            run_id = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT_S))["run_id"]
            assert json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT_S))["text"] == "Half"
            await asyncio.get_running_loop().run_in_executor(None, stall.reached.wait, 10)
        return run_id

    run_id = asyncio.run(talk())
    row = eventually(lambda: (r := server.http.get(f"{API}/runs/{run_id}").json())["status"] != "running" and r)
    assert (row["status"], row["output"]) == ("cancelled", "Half")
