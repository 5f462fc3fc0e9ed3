"""Slow clients: `lfwb serve` (a process of its own) stops soon after SIGTERM whatever its clients
do; clients that send half a request are cut off, and cannot lock others out."""

from __future__ import annotations

import json
import signal
import socket
import subprocess

import httpx
import pytest
import websockets.sync.client

from server_fixtures import TIMEOUT_S, serve_process

API = "/api/v1"
STOPS_WITHIN_S = 10  # "a few seconds" with room for a loaded machine; today it never stops


@pytest.fixture
def served(tmp_path):
    from lfwb.store import Store

    store = Store(tmp_path / "lfwb.db")  # a run a notebook is writing: /events follows it until it ends
    project = store.create_project("default")["id"]
    store.add_run(project, "generate", model="m", prompt="p", status="running", output="so far")
    store.close()
    process = serve_process(tmp_path / "lfwb.db")
    yield process
    process.stop()


def test_lfwb_serve_stops_soon_after_sigterm_with_slow_clients_and_open_streams(served):
    host, port = served.address
    half_head = socket.create_connection((host, port), timeout=TIMEOUT_S)
    half_head.sendall(b"GET /api/v1/pro")
    half_body = socket.create_connection((host, port), timeout=TIMEOUT_S)
    half_body.sendall(
        b"POST /api/v1/contexts HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b'Content-Length: 100\r\n\r\n{"text": "'
    )
    with (
        httpx.Client(base_url=served.url, timeout=TIMEOUT_S) as http,
        http.stream("GET", f"{API}/runs/1/events") as stream,
        websockets.sync.client.connect(f"ws://{host}:{port}{API}/chat/s", open_timeout=TIMEOUT_S),
    ):
        assert next(stream.iter_lines()) == "event: start"  # the stream is open, the run still running
        served.process.send_signal(signal.SIGTERM)
        try:
            code = served.process.wait(STOPS_WITHIN_S)
        except subprocess.TimeoutExpired:
            pytest.fail(f"lfwb serve was still running {STOPS_WITHIN_S} s after SIGTERM")
    assert code == 0
    for sock in (half_head, half_body):
        sock.close()


def test_three_hundred_half_sent_requests_do_not_lock_out_the_next_client(tmp_path):
    served = serve_process(tmp_path / "lfwb.db", open_files=256)
    stalled = []
    try:
        for _ in range(300):  # each sends half a request line, then nothing
            stalled.append(socket.create_connection(served.address, timeout=TIMEOUT_S))
            stalled[-1].sendall(b"GET /api/v1/runs HT")
        # Answered long before a half-sent request's own deadline: the oldest waits made room.
        answer = httpx.get(f"{served.url}{API}/projects", timeout=TIMEOUT_S / 4)
        assert answer.status_code == 200 and answer.json()["items"][0]["name"] == "default"
    finally:
        for sock in stalled:
            sock.close()
        served.stop()


def answer_to(sock: socket.socket) -> tuple[int, dict, bytes]:
    """The status and JSON body the server wrote before closing, and what followed (b"": closed)."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body), sock.recv(1)


def test_a_client_that_stops_halfway_through_a_request_is_answered_408_and_closed(server, monkeypatch):
    from lfwb.server import connections, guards

    monkeypatch.setattr(connections, "HEAD_TIMEOUT_S", 0.5)
    monkeypatch.setattr(guards, "BODY_TIMEOUT_S", 0.5)
    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    half_head = socket.create_connection((host, int(port)), timeout=TIMEOUT_S)
    half_head.sendall(b"GET /api/v1/projects HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    half_body = socket.create_connection((host, int(port)), timeout=TIMEOUT_S)
    half_body.sendall(
        b"POST /api/v1/contexts HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b'Content-Length: 100\r\n\r\n{"text": "'
    )
    for sock in (half_head, half_body):
        with sock:
            status, body, after = answer_to(sock)
            assert (status, body["code"], after) == (408, "request_timeout", b"")
            assert "did not arrive" in body["line"]
    assert server.http.get(f"{API}/contexts").json()["items"] == []


def test_past_the_cap_the_longest_waiting_connection_makes_room_and_busy_ones_get_a_503(server, monkeypatch):
    from lfwb.server.connections import Connection

    monkeypatch.setattr(Connection, "limit", 2)
    address = server.url.removeprefix("http://").rsplit(":", 1)
    address = (address[0], int(address[1]))
    first, second = (socket.create_connection(address, timeout=TIMEOUT_S) for _ in range(2))
    for sock in (first, second):
        sock.sendall(b"GET /api/v1/pro")
    with httpx.Client(base_url=server.url, timeout=TIMEOUT_S) as http:  # a third: the first makes room
        assert http.get(f"{API}/projects").status_code == 200
    assert answer_to(first)[:2] == (
        408,
        {
            "code": "request_timeout",
            "message": "the server has 2 connections open",
            "line": "BadInput: the server has 2 connections open — send the request again, whole",
        },
    )

    def busy() -> socket.socket:
        """A connection whose request the server is reading (it asked for the body: 100 Continue)."""
        sock = socket.create_connection(address, timeout=TIMEOUT_S)
        sock.sendall(
            b"POST /api/v1/contexts HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: 100\r\nExpect: 100-continue\r\n\r\n"
        )
        assert sock.recv(100).startswith(b"HTTP/1.1 100 ")
        return sock

    held = [busy(), busy()]  # the second of them makes room by closing `second`
    assert answer_to(second)[0] == 408
    with socket.create_connection(address, timeout=TIMEOUT_S) as newcomer:
        status, body, after = answer_to(newcomer)
        assert (status, body["code"], after) == (503, "too_many_connections", b"")
    for sock in held + [first, second]:
        sock.close()


def test_a_streamed_answer_longer_than_the_head_and_body_deadlines_keeps_going(server, scripted, monkeypatch):
    import threading

    from fixtures.scripted import Stall
    from server_fixtures import sse_events
    from lfwb.server import connections, guards

    monkeypatch.setattr(connections, "HEAD_TIMEOUT_S", 0.3)
    monkeypatch.setattr(guards, "BODY_TIMEOUT_S", 0.3)
    go_on = threading.Event()
    stall = Stall(until=go_on)
    scripted.model("slow", ["Once", stall, " upon", " a time"])
    with server.http.stream("POST", f"{API}/generate", json={"prompt": "story", "model": "slow", "stream": True}) as r:
        events = sse_events(r.iter_lines())
        assert next(events)[0] == "start" and next(events)[1]["text"] == "Once"
        assert stall.reached.wait(TIMEOUT_S)
        # Both deadlines pass several times over while the model is thinking.
        assert not go_on.wait(1.5)
        go_on.set()
        rest = list(events)
    assert "".join(d["text"] for kind, d in rest if kind == "token") == " upon a time"
    assert rest[-1][1]["status"] == "done"
