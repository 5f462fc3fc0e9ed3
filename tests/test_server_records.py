"""Runs and steps over HTTP are records of what a model did: a client imports ended ones, reads
and deletes them, but never writes one as `running`, edits one, or touches one lfwb is writing.
Ids deleted over HTTP are never handed out again."""

from __future__ import annotations

import threading
from contextlib import contextmanager

import pytest

from fixtures.scripted import Stall

API = "/api/v1"


def test_a_run_cannot_be_created_running_and_nothing_is_stored(server):
    answer = server.http.post(f"{API}/runs", json={"model": "m", "prompt": "p", "status": "running"})
    assert answer.status_code == 422
    body = answer.json()
    assert body["field"] == "body.status" and "'done'" in body["line"] and "running" not in body["line"]
    assert server.http.get(f"{API}/runs").json()["items"] == []


def test_an_imported_run_is_recorded_as_ended_with_its_finish_time(server):
    made = server.http.post(f"{API}/runs", json={"model": "m", "prompt": "p", "output": "o"})
    assert made.status_code == 201
    assert made.json()["status"] == "done" and made.json()["finished_at"] is not None


@pytest.mark.parametrize("status", ["running", "pending"])
def test_a_step_cannot_be_created_running_or_pending(server, status):
    rid = server.http.post(f"{API}/runs", json={"kind": "pipeline"}).json()["id"]
    answer = server.http.post(f"{API}/steps", json={"run_id": rid, "name": "draft", "status": status})
    assert answer.status_code == 422 and answer.json()["field"] == "body.status"
    assert server.http.get(f"{API}/runs/{rid}/steps").json() == []


@pytest.mark.parametrize("table", ["runs", "steps"])
def test_a_record_is_not_edited_over_http(server, table):
    rid = server.http.post(f"{API}/runs", json={"kind": "pipeline", "output": "kept"}).json()["id"]
    sid = server.http.post(f"{API}/steps", json={"run_id": rid, "name": "draft", "output": "kept"}).json()["id"]
    row_id = rid if table == "runs" else sid
    answer = server.http.patch(f"{API}/{table}/{row_id}", json={"status": "running", "output": "forged"})
    assert answer.status_code == 405
    assert server.http.get(f"{API}/{table}/{row_id}").json()["output"] == "kept"


@contextmanager
def generating(server, scripted):
    """A generation of "Once upon" held after "Once" (lfwb is writing its run) for the block."""
    go = threading.Event()
    stall = Stall(until=go)
    scripted.model("slow", ["Once", stall, " upon"])
    worker = threading.Thread(target=lambda: server.wb.generate("story", "slow"))
    worker.start()
    try:
        assert stall.reached.wait(10)
        yield
    finally:
        go.set()
        worker.join(10)


def test_a_run_lfwb_is_still_writing_cannot_be_deleted_edited_or_given_steps(server, scripted):
    with generating(server, scripted):
        rid = server.http.get(f"{API}/runs", params={"status": "running"}).json()["items"][0]["id"]
        deleted = server.http.delete(f"{API}/runs/{rid}")
        assert deleted.status_code == 409
        assert deleted.json()["code"] == "still_running"
        assert deleted.json()["line"].startswith(f"StillRunning: run {rid} is still running")
        step = server.http.post(f"{API}/steps", json={"run_id": rid, "name": "forged"})
        assert step.status_code == 409 and step.json()["code"] == "still_running"
        assert server.http.patch(f"{API}/runs/{rid}", json={"status": "done"}).status_code == 405
        assert server.http.get(f"{API}/runs/{rid}").json()["status"] == "running"
    assert server.http.get(f"{API}/runs/{rid}").json()["output"] == "Once upon"
    assert server.http.get(f"{API}/runs/{rid}/steps").json() == []
    assert server.http.delete(f"{API}/runs/{rid}").status_code == 204  # ended: the user's to delete


def test_a_step_of_a_running_run_cannot_be_deleted(server, scripted):
    rid = server.http.post(f"{API}/runs", json={"kind": "pipeline"}).json()["id"]
    sid = server.http.post(f"{API}/steps", json={"run_id": rid, "name": "draft"}).json()["id"]
    # A run the notebook has running (written straight into the store, as lfwb/runs.py does).
    server.wb.store.update_run(rid, status="running")
    answer = server.http.delete(f"{API}/steps/{sid}")
    assert answer.status_code == 409 and answer.json()["code"] == "still_running"
    assert server.http.get(f"{API}/steps/{sid}").status_code == 200


def make(http, table: str, n: int) -> int:
    if table == "projects":
        body = {"name": f"p{n}"}
    elif table == "contexts":
        body = {"text": f"note {n}"}
    elif table == "runs":
        body = {"prompt": f"q{n}"}
    elif table == "steps":
        body = {"run_id": http.post(f"{API}/runs", json={"kind": "pipeline"}).json()["id"], "name": f"s{n}"}
    else:
        body = {"content": f"print({n})"}
    answer = http.post(f"{API}/{table}", json=body)
    assert answer.status_code == 201, answer.text
    return answer.json()["id"]


@pytest.mark.parametrize("table", ["projects", "contexts", "runs", "steps", "artifacts"])
def test_an_id_deleted_over_http_is_never_given_to_a_new_row(server, table):
    http = server.http
    newest = make(http, table, 1)
    assert http.delete(f"{API}/{table}/{newest}").status_code == 204
    again = make(http, table, 2)
    assert again > newest
    assert http.get(f"{API}/{table}/{newest}").status_code == 404


def test_a_project_whose_run_is_still_being_written_is_not_deleted_with_it(server, scripted):
    with generating(server, scripted):
        answer = server.http.delete(f"{API}/projects/{server.wb.project_id}", params={"cascade": "true"})
        assert answer.status_code == 409 and answer.json()["code"] == "still_running"
    assert server.http.get(f"{API}/runs", params={"status": "done"}).json()["items"][0]["output"] == "Once upon"
