"""Pipelines over HTTP: list, define, run, follow, cancel — `%lfw pipelines`, `%%lfw pipeline`,
`%lfw run` and the panel's Stop, through the same Workbench methods.

A run is `Workbench.start_pipeline`'s handle; the answer (202) comes once its row exists, with its id:
follow it with `GET /runs/{id}/events` or poll `GET /pipeline-runs/{id}`, stop it with
`POST /pipeline-runs/{id}/cancel` (every running step keeps its text). A definition that
cannot run is refused at once (400) and leaves no row.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict

from ..errors import BadInput
from ..handles import Started as HandleStarted
from .crud import workbench
from .errors import ERROR_RESPONSES
from .schemas import Name, PipelineIn, PipelineRunIn, RowId
from .streams import run_ended

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
    """The handle of each pipeline run this server started and that has not ended."""
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
    handle = wb.start_pipeline(name, body.input, cache=body.cache, **body.settings.given())
    # Kept from its start (on its worker, before any step runs) until it has ended.
    handle.listen(lambda event: runs.setdefault(event.run.run_id, handle) if isinstance(event, HandleStarted) else None)

    def forget() -> None:
        if handle.run_id is not None:
            runs.pop(handle.run_id, None)

    handle.on_done(forget)
    run = await handle.running()  # refused before it ran: raises, and the error handler answers
    if run is None:
        raise BadInput(f"pipeline {name!r} did not start")
    return Started(run_id=run.run_id, status="running")


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
    await run_ended(handle)
    return pipeline_run(run_id, request)
