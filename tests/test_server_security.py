"""lfwb serve's guards: loopback unless a token, bearer tokens, body cap, CORS, WebSocket origin, keys."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
import websockets

from fixtures.scripted import Fail
from lfwb.errors import BadInput, GenerationError
from server_fixtures import TIMEOUT_S, start_server

API = "/api/v1"


@pytest.fixture
def stop_server():
    from lfwb.server import background

    yield
    background.stop()


def test_serving_off_loopback_is_refused_without_a_token(wb, stop_server):
    from lfwb.server import background

    with pytest.raises(BadInput, match="serving on 0.0.0.0 .* needs a token"):
        background.start(wb, host="0.0.0.0", port=0)
    assert background.status() == {"running": False}


def test_the_magic_says_in_one_line_why_it_will_not_serve_off_loopback(ip, capsys, stop_server):
    from conftest import run_error

    shown = run_error(ip, "%lfw serve --host 0.0.0.0 --port 0", capsys)
    assert "BadInput" in shown and "--token" in shown and len(shown.splitlines()) == 1


def test_a_made_token_is_printed_once_and_required(wb, capsys, stop_server):
    served = start_server(wb, token="auto")
    printed = capsys.readouterr().out
    assert served.token in printed and printed.count(served.token) == 1
    assert served.http.get(f"{API}/health").status_code == 200
    assert httpx.get(f"{served.url}{API}/health").status_code == 401


def test_no_token_or_a_wrong_one_is_401_and_the_right_one_passes(wb, stop_server):
    served = start_server(wb, token="correct-horse-battery")
    for headers in ({}, {"Authorization": "Bearer wrong-horse-battery"}, {"Authorization": "correct-horse-battery"}):
        answer = httpx.get(f"{served.url}{API}/runs", headers=headers)
        assert answer.status_code == 401
        assert answer.json()["code"] == "unauthorized"
    assert served.http.get(f"{API}/runs").status_code == 200
    assert httpx.get(f"{served.url}/docs").status_code == 200  # the docs hold no data


def test_a_websocket_needs_the_token_too(wb, stop_server):
    served = start_server(wb, token="correct-horse-battery")

    async def connect(query: str) -> str:
        async with websockets.connect(f"{served.ws_url}{API}/chat/s{query}", open_timeout=TIMEOUT_S) as ws:
            await ws.send(json.dumps({"type": "message", "text": ""}))
            return json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT_S))["code"]

    with pytest.raises(websockets.exceptions.InvalidStatus):
        asyncio.run(connect(""))
    assert asyncio.run(connect("?token=correct-horse-battery")) == "bad_input"


def test_a_websocket_from_another_origin_is_refused(server):
    async def connect(origin: str) -> None:
        async with websockets.connect(f"{server.ws_url}{API}/chat/s", origin=origin, open_timeout=TIMEOUT_S):
            pass

    with pytest.raises(websockets.exceptions.InvalidStatus):
        asyncio.run(connect("http://evil.example"))
    asyncio.run(connect(server.url))  # the server's own page may


def test_an_oversize_body_is_413_whether_declared_or_streamed(wb, stop_server):
    served = start_server(wb, max_body=1000)
    big = {"text": "x" * 2000}
    assert served.http.post(f"{API}/contexts", json=big).status_code == 413

    def chunks():
        yield b'{"text": "'
        yield b"x" * 2000
        yield b'"}'

    answer = served.http.post(f"{API}/contexts", content=chunks(), headers={"content-type": "application/json"})
    assert answer.status_code == 413 and answer.json()["code"] == "body_too_large"
    assert served.http.get(f"{API}/contexts").json()["items"] == []


def test_cors_is_off_unless_an_origin_is_given(wb, stop_server):
    from lfwb.server import background

    served = start_server(wb)
    asked = {"Origin": "http://localhost:5173"}
    assert "access-control-allow-origin" not in served.http.get(f"{API}/runs", headers=asked).headers
    background.stop()
    served = start_server(wb, cors=["http://localhost:5173"])
    assert served.http.get(f"{API}/runs", headers=asked).headers["access-control-allow-origin"] == "http://localhost:5173"


def test_an_api_key_never_appears_in_an_answer(server, scripted, monkeypatch):
    secret = "sk-test-0123456789abcdef"
    monkeypatch.setenv("ACME_API_KEY", secret)
    scripted.model("leaky", ["Hi", Fail(GenerationError(f"the server refused key {secret}"))])
    answer = server.http.post(f"{API}/generate", json={"prompt": "hi", "model": "leaky"})
    assert answer.status_code == 503
    assert secret not in answer.text and "***" in answer.json()["message"]
