"""Pipelines over HTTP: list, define, run, follow, cancel — `%lfw pipelines`, `%%lfw pipeline`,
`%lfw run` and the panel's Stop, through the same Workbench methods.

A run starts on a thread of its own; the answer (202) comes once its row exists, with its id:
follow it with `GET /runs/{id}/events` or poll `GET /pipeline-runs/{id}`, stop it with
`POST /pipeline-runs/{id}/cancel` (every running step keeps its text). A definition that
cannot run is refused at once (400) and leaves no row.
"""

from __future__ import annotations

import threading
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict

from ..errors import BadInput
from .crud import workbench
from .errors import ERROR_RESPONSES
from .schemas import Name, PipelineIn, PipelineRunIn, RowId
from .streams import on_own_thread, run_ended

router = APIRouter(tags=["pipelines"], responses=ERROR_RESPONSES)


class PipelineRow(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str | None = None


class Saved(BaseModel):
    name: str | None
    version: int | None
    created: bool


class Started(BaseModel):
    run_id: int
    status: str


class RunStatus(BaseModel):
    model_config = ConfigDict(extra="allow")
    run: dict[str, Any]
    steps: list[dict[str, Any]]


def running(request: Request) -> dict[int, Any]:
    """The cancel event of each pipeline run this server started and that has not ended."""
    return request.app.state.pipeline_runs


@router.get("/pipelines", response_model=list[PipelineRow])
def list_pipelines(request: Request) -> list[dict]:
    """Saved pipelines (latest version each) and the bundled ones."""
    return workbench(request).pipelines()


@router.post("/pipelines", status_code=201, response_model=Saved)
def define_pipeline(body: PipelineIn, request: Request) -> Saved:
    """Check and save a definition (YAML); a changed one becomes the next version."""
    saved = workbench(request).save_pipeline(body.definition, name=body.name)
    return Saved(name=saved.spec.name, version=saved.version, created=saved.created)


@router.get("/pipelines/{name}", response_model=dict[str, Any])
def get_pipeline(name: Name, request: Request) -> dict:
    spec = workbench(request).pipeline(name)
    return {**spec.to_dict(), "name": spec.name, "version": spec.version}


@router.post("/pipelines/{name}/runs", status_code=202, response_model=Started)
async def run_pipeline(name: Name, body: PipelineRunIn, request: Request) -> Started:
    """Start a run of `name` on `input`; settings override every step's (`max_tokens`, ...)."""
    wb, runs = workbench(request), running(request)
    started = threading.Event()
    holder: dict[str, Any] = {}

    def on_update(result: Any) -> None:
        if "run_id" not in holder:
            holder["run_id"] = result.run_id
            runs[result.run_id] = handle
            started.set()

    def ended() -> None:
        if handle.status == "failed" and "run_id" not in holder:  # refused before it ran: the request answers
            holder["error"] = handle._error
        runs.pop(holder.get("run_id"), None)
        started.set()

    handle = wb.start_pipeline(name, body.input, on_update=on_update, **body.settings.given())
    handle.on_done(ended)
    await on_own_thread(started.wait)
    if "run_id" not in holder:
        raise holder.get("error") or BadInput(f"pipeline {name!r} did not start")
    return Started(run_id=holder["run_id"], status="running")


@router.get("/pipeline-runs/{run_id}", response_model=RunStatus)
def pipeline_run(run_id: RowId, request: Request) -> RunStatus:
    """A pipeline run and its steps, as they are now."""
    store = workbench(request).store
    run = store.get_run(run_id)
    if run["kind"] != "pipeline":
        raise BadInput(f"run {run_id} is a {run['kind']} run, not a pipeline run")
    return RunStatus(run=run, steps=store.list_steps(run_id))


@router.post("/pipeline-runs/{run_id}/cancel", response_model=RunStatus)
async def cancel_pipeline_run(run_id: RowId, request: Request) -> RunStatus:
    """Stop a run this server started: running steps keep their text, the rest are cancelled.
    Answers once the rows are finished."""
    store = workbench(request).store
    handle = running(request).get(run_id)
    if handle is None:
        run = store.get_run(run_id)  # unknown: 404
        if run["status"] == "running":
            raise BadInput(f"run {run_id} was not started by this server — stop it where it runs")
        return pipeline_run(run_id, request)  # already ended: nothing to stop
    handle.cancel()
    await run_ended(store, run_id)
    return pipeline_run(run_id, request)
