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

    port = int(server.url.rsplit(":", 1)[1])
    for origin in (
        "http://evil.example",
        "null",
        f"http://localhost:{port + 1}",
        f"http://127.0.0.1.evil.example:{port}",
    ):
        with pytest.raises(websockets.exceptions.InvalidStatus):
            asyncio.run(connect(origin))
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
    assert (
        served.http.get(f"{API}/runs", headers=asked).headers["access-control-allow-origin"] == "http://localhost:5173"
    )


def test_an_api_key_never_appears_in_an_answer(server, scripted, monkeypatch):
    secret = "sk-test-0123456789abcdef"
    monkeypatch.setenv("ACME_API_KEY", secret)
    scripted.model("leaky", ["Hi", Fail(GenerationError(f"the server refused key {secret}"))])
    answer = server.http.post(f"{API}/generate", json={"prompt": "hi", "model": "leaky"})
    assert answer.status_code == 503
    assert secret not in answer.text and "***" in answer.json()["message"]


def test_a_request_naming_another_host_is_refused_without_a_token(server):
    # A page whose DNS name was rebound to 127.0.0.1 still sends its own name as the Host.
    port = server.url.rsplit(":", 1)[1]
    answer = httpx.get(f"{server.url}{API}/projects", headers={"Host": f"evil.example:{port}"})
    assert answer.status_code == 421
    assert answer.json()["code"] == "host_not_allowed" and "evil.example" in answer.json()["line"]
    for name in (f"localhost:{port}", f"127.0.0.1:{port}", "localhost"):
        assert httpx.get(f"{server.url}{API}/projects", headers={"Host": name}).status_code == 200


def test_a_websocket_from_a_rebound_name_is_refused_even_when_origin_and_host_match(server):
    port = server.url.rsplit(":", 1)[1]

    async def connect(name: str) -> None:
        # The URL's name goes in Host (as a browser sends it); the connection goes to 127.0.0.1.
        async with websockets.connect(
            f"ws://{name}:{port}{API}/chat/s",
            origin=f"http://{name}:{port}",
            host="127.0.0.1",
            port=int(port),
            open_timeout=TIMEOUT_S,
        ):
            pass

    with pytest.raises(websockets.exceptions.InvalidStatus):
        asyncio.run(connect("evil.example"))
    asyncio.run(connect("localhost"))  # a page served from this machine may


def test_a_model_registered_over_http_cannot_send_this_machines_variables_or_keys_elsewhere(server):
    def register(name: str, runtime: str, **options) -> httpx.Response:
        return server.http.post(
            f"{API}/models/register",
            json={"name": name, "runtime": runtime, "source": "gemini-2.5-flash", "options": options},
        )

    refused = [
        register("a", "openai_compat", base_url="https://evil.example/v1", api_key_env="HOME"),
        register("b", "openai_compat", base_url="http://127.0.0.1:9/v1", api_key_env="JUPYTER_TOKEN"),
        register("c", "gemini", api_key_env="OPENAI_API_KEY"),
        register("d", "gemini", base_url="https://evil.example"),
    ]
    assert [r.status_code for r in refused] == [400] * 4
    assert all(len(r.json()["line"].splitlines()) == 1 for r in refused)
    assert "--allow-remote-register" in refused[3].json()["line"]
    names = {m["name"] for m in server.http.get(f"{API}/models").json()}
    assert not names & {"a", "b", "c", "d"}
    # What sends nothing of this machine's, or sends a key to this machine, still registers.
    assert register("e", "openai_compat", base_url="https://gpu-box.example/v1").status_code == 201
    assert register("f", "gemini", api_key_env="GOOGLE_API_KEY").status_code == 201
    assert register("g", "gemini", base_url="http://127.0.0.1:9").status_code == 201


def test_a_server_started_to_allow_it_registers_a_remote_model_with_its_key(wb, stop_server):
    served = start_server(wb, allow_remote_register=True)
    made = served.http.post(
        f"{API}/models/register",
        json={
            "name": "proxied",
            "runtime": "gemini",
            "source": "gemini-2.5-flash",
            "options": {"base_url": "https://proxy.example", "api_key_env": "GEMINI_API_KEY"},
        },
    )
    assert made.status_code == 201
    home = served.http.post(
        f"{API}/models/register",
        json={
            "name": "home",
            "runtime": "openai_compat",
            "source": "x",
            "options": {"base_url": "https://evil.example/v1", "api_key_env": "HOME"},
        },
    )
    assert home.status_code == 400  # a variable that is no key is never sent, flag or not


def test_a_running_servers_repr_does_not_show_its_token(wb, stop_server):
    from lfwb.server import background

    running = background.start(wb, port=0, token="correct-horse-battery")
    assert "correct-horse-battery" not in repr(running) and running.status()["token_required"]


def test_a_cancelled_event_has_keys_blanked(server, scripted, monkeypatch):
    from types import SimpleNamespace

    from lfwb.stops import Cancelled
    from server_fixtures import read_sse

    secret = "sk-test-0123456789abcdef"
    monkeypatch.setenv("ACME_API_KEY", secret)

    def generate(prompt, model, system, raw, started, *rest, **options):  # what start_generate's handle runs
        started(SimpleNamespace(run_id=1, model=model))
        raise Cancelled(f"stopped while sending key {secret}")

    monkeypatch.setattr(scripted.wb, "_generate", generate)
    with server.http.stream("POST", f"{API}/generate", json={"prompt": "hi", "model": "m", "stream": True}) as r:
        events = read_sse(r)
    assert events[-1][0] == "cancelled"
    assert secret not in events[-1][1]["line"] and "***" in events[-1][1]["line"]


def test_an_unexpected_failure_is_a_json_500_with_the_line(server, scripted, monkeypatch):
    secret = "sk-test-0123456789abcdef"
    monkeypatch.setenv("ACME_API_KEY", secret)

    def broken(*args, **kwargs):
        raise RuntimeError(f"a bug holding {secret}")

    monkeypatch.setattr(scripted.wb.store, "get_run", broken)
    answer = server.http.get(f"{API}/runs/1")
    assert answer.status_code == 500
    body = answer.json()
    assert body["code"] == "internal_error" and body["line"].startswith("InternalError: RuntimeError: a bug")
    assert secret not in answer.text


def test_the_magic_says_in_one_line_that_an_address_is_not_this_machines(ip, capsys, stop_server):
    from conftest import run_error

    shown = run_error(ip, "%lfw serve --host 192.0.2.1 --port 0 --token correct-horse-battery", capsys)
    assert len(shown.splitlines()) == 1, shown
    assert "not one of this machine's" in shown and "port is taken" not in shown


# -- cross-site requests ---------------------------------------------------------------------


def test_a_page_on_another_site_cannot_cancel_a_run(server, scripted):
    import threading

    from fixtures.scripted import Stall

    stall = Stall()
    scripted.model("slow", ["Half", stall, " there"])
    worker = threading.Thread(target=lambda: server.http.post(f"{API}/generate", json={"prompt": "p", "model": "slow"}))
    worker.start()
    assert stall.reached.wait(TIMEOUT_S)
    run_id = server.http.get(f"{API}/runs", params={"status": "running"}).json()["items"][0]["id"]
    # A form or fetch() from any web page: a body-less POST needs no preflight.
    refused = httpx.post(f"{server.url}{API}/runs/{run_id}/cancel", headers={"Origin": "http://evil.example"})
    assert refused.status_code == 403 and refused.json()["code"] == "origin_not_allowed"
    assert server.http.get(f"{API}/runs/{run_id}").json()["status"] == "running"
    assert server.http.post(f"{API}/runs/{run_id}/cancel").json()["status"] == "cancelled"  # a script may
    worker.join(TIMEOUT_S)


def test_a_state_changing_request_from_a_foreign_origin_or_referer_is_403_and_stores_nothing(server):
    port = server.url.rsplit(":", 1)[1]
    foreign = [
        {"Origin": "http://evil.example"},
        {"Origin": "null"},
        {"Origin": f"http://localhost:{int(port) + 1}"},
        {"Referer": "https://evil.example/page?x=1"},
        {"Origin": f"http://evil.example:{port}"},
        {"Origin": f"http://127.0.0.1.evil.example:{port}"},
        {"Origin": f"http://127.0.0.1:{port}@evil.example"},
        {"Origin": f"http://EVIL.example:{port}"},
        {"Origin": f"file://127.0.0.1:{port}"},
        {"Origin": ""},
        {"Referer": f"http://127.0.0.1:{int(port) + 1}/"},
    ]
    for headers in foreign:
        for method, path in (
            ("POST", "/projects"),
            ("PATCH", "/projects/1"),
            ("DELETE", "/projects/1"),
            ("PUT", "/projects/1"),
            ("POST", "/runs/999/cancel"),
        ):
            answer = httpx.request(method, f"{server.url}{API}{path}", json={"name": "x"}, headers=headers)
            assert answer.status_code == 403, (headers, method, path)  # before routing: no 404, no 405
            body = answer.json()
            assert body["code"] == "origin_not_allowed" and body["line"].startswith("Forbidden: ")
    assert [p["name"] for p in server.http.get(f"{API}/projects").json()["items"]] == ["default"]


def test_the_servers_own_pages_scripts_and_reads_from_anywhere_pass_the_origin_check(server):
    port = server.url.rsplit(":", 1)[1]
    own = [
        {"Origin": f"http://127.0.0.1:{port}"},
        {"Origin": f"http://localhost:{port}"},
        {"Referer": f"http://localhost:{port}/docs"},
        {},
        {"Origin": f"http://LOCALHOST:{port}"},
    ]
    made = [httpx.post(f"{server.url}{API}/projects", json={"name": f"p{i}"}, headers=h) for i, h in enumerate(own)]
    assert [m.status_code for m in made] == [201] * 5
    assert httpx.get(f"{server.url}{API}/projects", headers={"Origin": "http://evil.example"}).status_code == 200


def test_a_cors_origin_may_change_things_and_its_preflight_needs_no_token(wb, stop_server):
    page = "http://localhost:5173"
    served = start_server(wb, token="correct-horse-battery", cors=[page])
    preflight = httpx.options(
        f"{served.url}{API}/projects",
        headers={
            "Origin": page,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == page
    made = served.http.post(f"{API}/projects", json={"name": "from-the-page"}, headers={"Origin": page})
    assert made.status_code == 201 and made.headers["access-control-allow-origin"] == page
    unauthorized = httpx.post(f"{served.url}{API}/projects", json={"name": "x"}, headers={"Origin": page})
    assert unauthorized.status_code == 401  # the token is still needed, and the page can read why:
    assert unauthorized.headers["access-control-allow-origin"] == page
    other = served.http.post(f"{API}/projects", json={"name": "y"}, headers={"Origin": "http://evil.example"})
    assert other.status_code == 403
    refused = httpx.options(
        f"{served.url}{API}/projects",
        headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert refused.status_code == 400 and "access-control-allow-origin" not in refused.headers
    assert refused.json()["code"] == "cors_refused"
