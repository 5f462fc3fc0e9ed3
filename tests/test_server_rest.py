"""lfwb serve's REST API over a real uvicorn on 127.0.0.1: every endpoint through httpx."""

from __future__ import annotations

import json
import threading

from fixtures.scripted import Stall, words
from server_fixtures import TIMEOUT_S, read_sse

API = "/api/v1"


def test_a_project_is_created_read_listed_renamed_and_deleted(server):
    http = server.http
    made = http.post(f"{API}/projects", json={"name": "landing", "description": "the page"})
    assert made.status_code == 201
    pid = made.json()["id"]
    assert http.get(f"{API}/projects/{pid}").json()["name"] == "landing"
    assert http.patch(f"{API}/projects/{pid}", json={"name": "landing-2"}).json()["name"] == "landing-2"
    assert "landing-2" in [p["name"] for p in http.get(f"{API}/projects").json()["items"]]
    assert http.delete(f"{API}/projects/{pid}").status_code == 204
    assert http.get(f"{API}/projects/{pid}").status_code == 404


def test_a_taken_project_name_is_409_with_the_line_the_magic_shows(server):
    server.http.post(f"{API}/projects", json={"name": "dup"})
    answer = server.http.post(f"{API}/projects", json={"name": "dup"})
    assert answer.status_code == 409
    body = answer.json()
    assert body["code"] == "already_exists"
    assert body["line"] == "AlreadyExists: a project named 'dup' already exists"  # no notebook hint over HTTP


def test_contexts_are_added_searched_updated_and_deleted_in_the_named_project(server):
    http = server.http
    http.post(f"{API}/projects", json={"name": "site"})
    made = http.post(
        f"{API}/contexts", json={"text": "Buttons are blue and round.", "name": "style", "project": "site"}
    )
    assert made.status_code == 201
    cid = made.json()["id"]
    hits = http.get(f"{API}/contexts/search", params={"q": "blue buttons", "project": "site"}).json()
    assert [h["context_id"] for h in hits] == [cid]  # chunked for retrieval as it was added
    assert hits[0]["text"] == "Buttons are blue and round."
    assert http.get(f"{API}/contexts/search", params={"q": "blue"}).json() == []  # the default project has none
    assert http.patch(f"{API}/contexts/{cid}", json={"name": "palette"}).json()["name"] == "palette"
    assert http.get(f"{API}/contexts", params={"project": "site"}).json()["items"][0]["name"] == "palette"
    assert http.delete(f"{API}/contexts/{cid}").status_code == 204
    assert http.get(f"{API}/contexts/{cid}").json()["code"] == "not_found"


def test_runs_page_with_a_cursor_newest_first_and_filter_by_status(server):
    http = server.http
    ids = [
        http.post(
            f"{API}/runs",
            json={"model": "m", "prompt": f"p{i}", "output": "o", "status": "done" if i % 2 else "failed"},
        ).json()["id"]
        for i in range(5)
    ]
    first = http.get(f"{API}/runs", params={"limit": 2}).json()
    assert [r["id"] for r in first["items"]] == ids[:-3:-1]
    second = http.get(f"{API}/runs", params={"limit": 2, "cursor": first["next_cursor"]}).json()
    third = http.get(f"{API}/runs", params={"limit": 2, "cursor": second["next_cursor"]}).json()
    assert [r["id"] for r in second["items"] + third["items"]] == ids[2::-1]
    assert third["next_cursor"] is None
    failed = http.get(f"{API}/runs", params={"status": "failed"}).json()["items"]
    assert sorted(r["id"] for r in failed) == ids[0::2]


def test_a_run_is_read_and_deleted(server):
    http = server.http
    rid = http.post(f"{API}/runs", json={"model": "m", "prompt": "p", "output": "ok"}).json()["id"]
    assert http.get(f"{API}/runs/{rid}").json()["output"] == "ok"
    assert http.delete(f"{API}/runs/{rid}").status_code == 204
    assert http.get(f"{API}/runs/{rid}").status_code == 404


def test_steps_are_created_for_a_run_listed_by_run_and_status_a_page_at_a_time_and_deleted(server):
    http = server.http
    rid = http.post(f"{API}/runs", json={"kind": "pipeline", "prompt": "p"}).json()["id"]
    other = http.post(f"{API}/runs", json={"prompt": "q"}).json()["id"]
    made = [
        http.post(
            f"{API}/steps",
            json={
                "run_id": rid,
                "name": name,
                "position": i,
                "model": "m",
                "output": f"out {i}",
                "status": "done" if i else "failed",
            },
        )
        for i, name in enumerate(["draft", "review", "polish"])
    ]
    assert [m.status_code for m in made] == [201] * 3
    ids = [m.json()["id"] for m in made]
    http.post(f"{API}/steps", json={"run_id": other, "name": "elsewhere"})
    first = http.get(f"{API}/steps", params={"run_id": rid, "limit": 2}).json()
    rest = http.get(f"{API}/steps", params={"run_id": rid, "limit": 2, "cursor": first["next_cursor"]}).json()
    assert [s["id"] for s in first["items"] + rest["items"]] == ids[::-1] and rest["next_cursor"] is None
    assert [
        s["name"] for s in http.get(f"{API}/steps", params={"run_id": rid, "status": "failed"}).json()["items"]
    ] == ["draft"]
    assert [s["name"] for s in http.get(f"{API}/runs/{rid}/steps").json()] == ["draft", "review", "polish"]
    assert http.delete(f"{API}/steps/{ids[1]}").status_code == 204
    assert http.get(f"{API}/steps/{ids[1]}").json()["code"] == "not_found"
    assert [s["name"] for s in http.get(f"{API}/runs/{rid}/steps").json()] == ["draft", "polish"]


def test_a_step_for_an_unknown_run_is_404_and_a_bad_status_422_and_neither_adds_a_row(server):
    http = server.http
    missing = http.post(f"{API}/steps", json={"run_id": 999, "name": "draft"})
    assert missing.status_code == 404
    assert missing.json()["line"].startswith("NotFound: no run with id 999")
    rid = http.post(f"{API}/runs", json={"prompt": "p"}).json()["id"]
    bad = http.post(f"{API}/steps", json={"run_id": rid, "name": "draft", "status": "sleeping"})
    assert bad.status_code == 422 and bad.json()["field"] == "body.status"
    assert http.get(f"{API}/steps").json()["items"] == []
    assert http.delete(f"{API}/steps/999").status_code == 404


def test_artifacts_are_created_filtered_by_run_renamed_and_deleted(server):
    http = server.http
    rid = http.post(f"{API}/runs", json={"model": "m", "prompt": "p"}).json()["id"]
    aid = http.post(
        f"{API}/artifacts",
        json={"content": "export default () => null", "run_id": rid, "language": "jsx", "filename": "A.jsx"},
    ).json()["id"]
    http.post(f"{API}/artifacts", json={"content": "body {}", "language": "css"})
    assert [a["id"] for a in http.get(f"{API}/artifacts", params={"run_id": rid}).json()["items"]] == [aid]
    assert http.patch(f"{API}/artifacts/{aid}", json={"filename": "B.jsx"}).json()["filename"] == "B.jsx"
    assert http.get(f"{API}/artifacts/{aid}").json()["content"] == "export default () => null"
    assert http.delete(f"{API}/artifacts/{aid}").status_code == 204
    assert http.get(f"{API}/artifacts/{aid}").status_code == 404


def test_a_bad_field_is_422_naming_it_and_changes_nothing(server):
    before = server.http.get(f"{API}/projects").json()["items"]
    answer = server.http.post(f"{API}/projects", json={"name": "x", "colour": "red"})
    assert answer.status_code == 422
    assert answer.json()["field"] == "body.colour"
    assert server.http.get(f"{API}/projects").json()["items"] == before


def test_the_runtime_endpoints_register_load_unload_list_and_report(server, scripted):
    from fixtures.scripted import ScriptedRuntime, Script

    http = server.http
    ScriptedRuntime.scripts["echo"] = script = Script(words("hello there"))
    made = http.post(f"{API}/models/register", json={"name": "echo", "runtime": "scripted", "source": "echo"})
    assert made.status_code == 201 and made.json()["runtime"] == "scripted"
    assert "echo" in [m["name"] for m in http.get(f"{API}/models").json()]
    assert http.post(f"{API}/models/load", json={"name": "echo"}).json() == {"name": "echo", "loaded": True}
    assert http.get(f"{API}/models/echo").json()["loaded"] is True
    assert http.post(f"{API}/models/unload", json={"name": "echo"}).json()["loaded"] is False
    assert script.log == ["load", "unload"]
    assert http.get(f"{API}/health").json()["status"] == "ok"
    assert "echo" in [m["name"] for m in http.get(f"{API}/stats").json()["models"]]
    assert http.get(f"{API}/models/nope").json()["code"] == "model_not_found"


def test_generate_answers_the_run_as_json(server, scripted):
    scripted.model("fake", words("Once upon a time"))
    answer = server.http.post(f"{API}/generate", json={"prompt": "a story", "model": "fake", "max_tokens": 3}).json()
    assert (answer["text"], answer["status"], answer["output_tokens"]) == ("Once upon a", "done", 3)
    assert server.http.get(f"{API}/runs/{answer['run_id']}").json()["output"] == "Once upon a"


def test_generate_streams_server_sent_events_a_browser_can_read(server, scripted):
    scripted.model("fake", words("Once upon a time"))
    with server.http.stream(
        "POST", f"{API}/generate", json={"prompt": "a story", "model": "fake", "stream": True}
    ) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        events = read_sse(r)
    names = [e for e, _ in events]
    assert names == ["start", "token", "token", "token", "token", "done"]
    assert "".join(d["text"] for e, d in events if e == "token") == "Once upon a time"
    assert events[-1][1]["run_id"] == events[0][1]["run_id"]


def test_a_generation_refused_before_it_starts_is_an_error_answer_not_a_stream(server):
    answer = server.http.post(f"{API}/generate", json={"prompt": "hi", "model": "nope", "stream": True})
    assert answer.status_code == 404
    assert answer.json()["line"].startswith("ModelNotFound: no model named 'nope'")


def test_run_events_follow_a_running_run_until_it_ends(server, scripted):
    go = threading.Event()
    stall = Stall(until=go)
    scripted.model("slow", ["Once", " upon", stall, " a", " time"])
    done = {}
    worker = threading.Thread(target=lambda: done.update(r=server.wb.generate("story", "slow")))
    worker.start()
    assert stall.reached.wait(10)
    run_id = server.http.get(f"{API}/runs", params={"status": "running"}).json()["items"][0]["id"]
    with server.http.stream("GET", f"{API}/runs/{run_id}/events") as r:
        lines = r.iter_lines()
        seen = []
        from server_fixtures import sse_events

        for event, data in sse_events(lines):
            seen.append((event, data))
            if event == "start":
                go.set()
            if event == "done":
                break
    worker.join(10)
    assert "".join(d["text"] for e, d in seen if e == "token") == "Once upon a time"
    assert seen[-1][1]["status"] == "done"


TWO_STEPS = """
name: two
steps:
  - name: draft
    model: fake
    prompt: "Draft {input}"
  - name: polish
    model: fake
    prompt: "Polish {steps.draft.output}"
    depends_on: [draft]
"""


def test_a_pipeline_is_defined_listed_run_and_its_status_read(server, scripted):
    scripted.model("fake", words("a fine answer"))
    http = server.http
    saved = http.post(f"{API}/pipelines", json={"definition": TWO_STEPS})
    assert saved.status_code == 201 and saved.json()["version"] == 1
    assert "two" in [p["name"] for p in http.get(f"{API}/pipelines").json()]
    assert [s["name"] for s in http.get(f"{API}/pipelines/two").json()["steps"]] == ["draft", "polish"]
    started = http.post(f"{API}/pipelines/two/runs", json={"input": "a login form"})
    assert started.status_code == 202
    run_id = started.json()["run_id"]
    with http.stream("GET", f"{API}/runs/{run_id}/events") as r:
        events = read_sse(r)
    assert events[-1][1]["status"] == "done"
    status = http.get(f"{API}/pipeline-runs/{run_id}").json()
    assert [(s["name"], s["status"], s["output"]) for s in status["steps"]] == [
        ("draft", "done", "a fine answer"),
        ("polish", "done", "a fine answer"),
    ]


def test_a_pipeline_run_is_cancelled_and_keeps_its_partial_text(server, scripted):
    stall = Stall()
    scripted.model("fake", ["Half", " way", stall, " there"])
    server.http.post(f"{API}/pipelines", json={"definition": TWO_STEPS})
    run_id = server.http.post(f"{API}/pipelines/two/runs", json={"input": "x"}).json()["run_id"]
    assert stall.reached.wait(10)
    status = server.http.post(f"{API}/pipeline-runs/{run_id}/cancel").json()
    assert status["run"]["status"] == "cancelled"
    assert [(s["status"], s["output"]) for s in status["steps"]] == [("cancelled", "Half way"), ("cancelled", "")]


def test_a_pipeline_run_is_cancelled_through_the_runs_cancel_route_too(server, scripted):
    stall = Stall()
    scripted.model("fake", ["Half", stall, " there"])
    server.http.post(f"{API}/pipelines", json={"definition": TWO_STEPS})
    run_id = server.http.post(f"{API}/pipelines/two/runs", json={"input": "x"}).json()["run_id"]
    assert stall.reached.wait(10)
    assert server.http.post(f"{API}/runs/{run_id}/cancel").json()["status"] == "cancelled"
    assert [s["status"] for s in server.http.get(f"{API}/runs/{run_id}/steps").json()] == ["cancelled", "cancelled"]


def test_a_pipeline_that_cannot_run_is_refused_with_no_row(server):
    answer = server.http.post(f"{API}/pipelines/nope/runs", json={"input": "x"})
    assert answer.status_code == 404 and answer.json()["code"] == "not_found"
    assert server.http.get(f"{API}/runs").json()["items"] == []


def test_the_openapi_docs_are_served(server):
    assert server.http.get("/docs").status_code == 200
    paths = server.http.get("/openapi.json").json()["paths"]
    assert {"/api/v1/generate", "/v1/chat/completions", "/api/v1/runs/{run_id}/events"} <= set(paths)


def test_generation_settings_reach_the_run_stop_strings_included(server, scripted):
    scripted.model("fake", words("Once upon a time"))
    body = {"prompt": "story", "model": "fake", "stop": ["THE END"], "seed": 4, "temperature": 0.2}
    run_id = server.http.post(f"{API}/generate", json=body).json()["run_id"]
    params = json.loads(server.http.get(f"{API}/runs/{run_id}").json()["params_json"])
    assert (params["stop"], params["seed"], params["temperature"]) == (["THE END"], 4, 0.2)


# -- one error shape everywhere ---------------------------------------------------------------


def one_line_error(answer, status: int, code: str) -> dict:
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert body["code"] == code and body["message"] and len(body["line"].splitlines()) == 1, body
    return body


def test_a_body_that_is_no_json_a_client_can_use_is_a_422_in_the_one_error_shape(server):
    bodies = {
        "invalid UTF-8": b'{"name": "\xff\xfe"}',
        "10k-deep JSON": b"[" * 10_000 + b"]" * 10_000,
        "a 5000-digit number": b'{"name": "x", "description": ' + b"9" * 5000 + b"}",
        "not JSON": b'{"name": ',
    }
    for what, body in bodies.items():
        answer = server.http.post(f"{API}/projects", content=body, headers={"content-type": "application/json"})
        assert one_line_error(answer, 422, "validation_error")["field"] == "body", what
    assert [p["name"] for p in server.http.get(f"{API}/projects").json()["items"]] == ["default"]


def test_an_unknown_route_is_404_and_a_wrong_method_405_with_every_allowed_method(server):
    one_line_error(server.http.get("/api/v1/nope"), 404, "no_route")
    one_line_error(server.http.get("/v1/nope"), 404, "no_route")
    answer = server.http.delete(f"{API}/projects")
    assert "GET" in one_line_error(answer, 405, "method_not_allowed")["message"]
    assert answer.headers["allow"] == "GET, POST"
    answer = server.http.put(f"{API}/projects/1")
    one_line_error(answer, 405, "method_not_allowed")
    assert answer.headers["allow"] == "GET, PATCH, DELETE"


def test_wrong_types_are_refused_not_coerced(server):
    rid = server.http.post(f"{API}/runs", json={"prompt": "p"}).json()["id"]
    wrong = [
        ("/projects", {"name": 5}),
        ("/steps", {"run_id": str(rid), "name": "draft"}),  # "5" is not 5
        ("/steps", {"run_id": rid, "name": "draft", "position": False}),  # false is not 0
        ("/steps", {"run_id": rid, "name": "draft", "position": 1.5}),
        ("/generate", {"prompt": "hi", "max_tokens": "3"}),
        ("/generate", {"prompt": "hi", "raw": "false"}),
        ("/generate", {"prompt": "hi", "temperature": "0.5"}),
        ("/generate", {"prompt": "hi", "stop": "END"}),
    ]
    for path, body in wrong:
        assert server.http.post(f"{API}{path}", json=body).status_code == 422, (path, body)
    assert server.http.get(f"{API}/steps").json()["items"] == []
    # JSON has one kind of number: 2.0 is the integer 2, as JSON Schema says.
    made = server.http.post(f"{API}/steps", json={"run_id": float(rid), "name": "draft", "position": 2.0})
    assert made.status_code == 201 and made.json()["position"] == 2


def test_a_filter_with_a_value_that_cannot_match_is_422_naming_it(server):
    for path, params in (("/runs", {"status": "bogus"}), ("/runs", {"kind": "bogus"}), ("/steps", {"status": "bogus"})):
        answer = server.http.get(f"{API}{path}", params=params)
        assert one_line_error(answer, 422, "validation_error")["field"] == f"query.{next(iter(params))}"
    assert server.http.get(f"{API}/runs", params={"status": "failed", "limit": "5"}).status_code == 200


def test_after_a_500_the_same_keep_alive_connection_answers_the_next_request(server, scripted, monkeypatch):
    import http.client

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(scripted.wb.store, "get_run", broken)
    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=TIMEOUT_S)
    try:
        connection.request("GET", f"{API}/runs/1")
        first = connection.getresponse()
        assert first.status == 500 and json.loads(first.read())["code"] == "internal_error"
        connection.request("GET", f"{API}/projects")
        second = connection.getresponse()
        assert second.status == 200 and json.loads(second.read())["items"][0]["name"] == "default"
    finally:
        connection.close()


def test_the_openai_face_refuses_wrong_types_too(server, scripted):
    scripted.model("fake", words("Once upon a time"))
    ask = {"model": "fake", "messages": [{"role": "user", "content": "hi"}]}
    for wrong in ({"stream": "false"}, {"max_tokens": "3"}, {"seed": True}, {"temperature": "0.5"}):
        answer = server.http.post("/v1/chat/completions", json={**ask, **wrong})
        assert answer.status_code == 422 and answer.json()["error"]["code"] == "validation_error", wrong
    assert server.http.post("/v1/chat/completions", json={**ask, "max_tokens": 3.0}).status_code == 200
