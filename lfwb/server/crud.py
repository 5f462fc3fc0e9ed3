"""REST for the store's rows: projects, contexts (and search), runs, steps, artifacts.

Create, read, list (filters, cursor paging: `?limit=50&cursor=NEXT`), update, delete — each a
call to the same Workbench method the magics use (lfwb/workbench_records.py). Plain `def` routes: FastAPI runs them in its
threadpool, so a query never waits behind a generation (those have threads of their own).

Runs and steps are records, not notes: their status and text change only as lfwb records what
a model did (lfwb/runs.py). Over HTTP a client may import a run or a step that has ended
(`POST`, never `running` or `pending`), read, list and delete them — not edit them (no PATCH),
and not add steps to, or delete, a run lfwb is still writing (409 `still_running`).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict

from .errors import ERROR_RESPONSES
from .schemas import (
    MAX_INT,
    ArtifactIn,
    ArtifactPatch,
    ContextIn,
    ContextPatch,
    Cursor,
    Limit,
    Page,
    ProjectIn,
    ProjectPatch,
    ProjectRef,
    Row,
    RowId,
    RunDiffOut,
    RunIn,
    RunKind,
    RunStatus,
    StepIn,
    StepStatus,
    page_of,
)

if TYPE_CHECKING:
    from ..workbench import Workbench

router = APIRouter(responses=ERROR_RESPONSES)


def workbench(request: Request) -> Workbench:
    return request.app.state.workbench


def project_id(wb: Workbench, ref: str | None) -> int:
    """A project's id from its id or name; None: the workbench's current project."""
    return wb.project_ref(ref)


def _page(wb: Workbench, table: str, where: dict, limit: int, cursor: int | None) -> Page:
    return page_of(wb.page(table, where, limit, before=cursor), limit)


# -- projects ------------------------------------------------------------------------------


@router.post("/projects", status_code=201, response_model=Row, tags=["projects"])
def create_project(body: ProjectIn, request: Request) -> dict:
    return workbench(request).create_project(body.name, body.description)


@router.get("/projects", response_model=Page, tags=["projects"])
def list_projects(request: Request, limit: Limit = 50, cursor: Cursor = None) -> Page:
    return _page(workbench(request), "projects", {}, limit, cursor)


@router.get("/projects/{project_id}", response_model=Row, tags=["projects"])
def get_project(project_id: RowId, request: Request) -> dict:
    return workbench(request).get_project(project_id)


@router.patch("/projects/{project_id}", response_model=Row, tags=["projects"])
def update_project(project_id: RowId, body: ProjectPatch, request: Request) -> dict:
    return workbench(request).update_project(project_id, **body.model_dump(exclude_none=True))


@router.delete("/projects/{project_id}", status_code=204, tags=["projects"])
def delete_project(
    project_id: RowId,
    request: Request,
    cascade: Annotated[bool, Query(description="delete its contexts, runs and artifacts too")] = False,
) -> Response:
    workbench(request).delete_project(project_id, cascade=cascade)
    return Response(status_code=204)


# -- contexts ------------------------------------------------------------------------------


@router.post("/contexts", status_code=201, response_model=Row, tags=["contexts"])
def create_context(body: ContextIn, request: Request) -> dict:
    """Add material (`%lfw context add`): chunked for retrieval at once, embedded when embeddings are on."""
    wb = workbench(request)
    return wb.add_context(text=body.text, name=body.name, kind=body.kind, project_id=project_id(wb, body.project))


@router.get("/contexts", response_model=Page, tags=["contexts"])
def list_contexts(
    request: Request,
    project: ProjectRef = None,
    kind: Annotated[str | None, Query(max_length=40)] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page:
    wb = workbench(request)
    return _page(wb, "contexts", {"project_id": project_id(wb, project), "kind": kind}, limit, cursor)


class Hit(BaseModel):
    model_config = ConfigDict(extra="allow")
    context_id: int
    context_name: str | None = None
    chunk_index: int
    text: str
    score: float
    snippet: str = ""


@router.get("/contexts/search", response_model=list[Hit], tags=["contexts"])
def search_contexts(
    request: Request,
    q: Annotated[str, Query(min_length=1, max_length=1000, description="words to look for")],
    project: ProjectRef = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
    mode: Annotated[
        Literal["bm25", "vector", "hybrid"] | None, Query(description="default: hybrid with embeddings on, else bm25")
    ] = None,
) -> list[dict]:
    """The chunks that best match, best first (`%lfw context search`), each with a `snippet`."""
    wb = workbench(request)
    hits = wb.search_contexts(q, limit=limit, mode=mode, project_id=project_id(wb, project))
    return [asdict(h) for h in hits]


@router.get("/contexts/{context_id:int}", response_model=Row, tags=["contexts"])
def get_context(context_id: RowId, request: Request) -> dict:
    return workbench(request).context(context_id)


@router.patch("/contexts/{context_id:int}", response_model=Row, tags=["contexts"])
def update_context(context_id: RowId, body: ContextPatch, request: Request) -> dict:
    return workbench(request).update_context(context_id, **body.model_dump(exclude_none=True))


@router.delete("/contexts/{context_id:int}", status_code=204, tags=["contexts"])
def delete_context(context_id: RowId, request: Request) -> Response:
    workbench(request).delete_context(context_id)
    return Response(status_code=204)


# -- runs and steps -----------------------------------------------------------------------


@router.post("/runs", status_code=201, response_model=Row, tags=["runs"])
def create_run(body: RunIn, request: Request) -> dict:
    """Import a run made elsewhere (a tool that called a model itself), once it has ended."""
    wb = workbench(request)
    values = body.model_dump(exclude={"project", "kind"}, exclude_none=True)
    return wb.import_run(body.kind, project_id(wb, body.project), **values)


@router.get("/runs", response_model=Page, tags=["runs"])
def list_runs(
    request: Request,
    project: ProjectRef = None,
    kind: RunKind = None,
    status: RunStatus = None,
    model: Annotated[str | None, Query(max_length=200)] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page:
    wb = workbench(request)
    where = {"project_id": project_id(wb, project), "kind": kind, "status": status, "model": model}
    return _page(wb, "runs", where, limit, cursor)


@router.get("/runs/{run_id}", response_model=Row, tags=["runs"])
def get_run(run_id: RowId, request: Request) -> dict:
    """The run's row, and `sent`: what its model was sent (each message with its role, `part`,
    `tokens`, the summary and retrieved chunks marked; the settings). A pipeline's `steps` and
    a compare's `columns` come with it (`%lfw show`)."""
    return workbench(request).show_run(run_id)


@router.get("/runs/{run_id}/diff/{other_id}", response_model=RunDiffOut, tags=["runs"])
def diff_runs(run_id: RowId, other_id: RowId, request: Request) -> dict:
    """What changed from run `run_id` to run `other_id`: one section per kind of change (model,
    settings, messages, summary, chunks, answer), each a list of lines (`- ` before, `+ ` after)."""
    return workbench(request).diff_runs(run_id, other_id).to_dict()


@router.delete("/runs/{run_id}", status_code=204, tags=["runs"])
def delete_run(run_id: RowId, request: Request) -> Response:
    """Delete a run that has ended, with its steps and artifacts (409 while it runs)."""
    workbench(request).delete_run(run_id)
    return Response(status_code=204)


@router.get("/runs/{run_id}/steps", response_model=list[Row], tags=["steps"])
def list_run_steps(run_id: RowId, request: Request) -> list[dict]:
    """A run's steps in their order (a pipeline's, as its executor writes them)."""
    return workbench(request).steps(run_id)  # an unknown run is a 404, not an empty list


@router.post("/steps", status_code=201, response_model=Row, tags=["steps"])
def create_step(body: StepIn, request: Request) -> dict:
    """Import a step, ended, of a run that has ended (a tool that runs its own pipeline)."""
    values = body.model_dump(exclude={"run_id", "position", "name"}, exclude_none=True)
    return workbench(request).import_step(body.run_id, body.position, body.name, **values)


@router.get("/steps", response_model=Page, tags=["steps"])
def list_steps(
    request: Request,
    run_id: Annotated[int | None, Query(ge=1, le=MAX_INT)] = None,
    status: StepStatus = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page:
    """Steps of every run, newest first (`run_id` for one run's; `/runs/{id}/steps` gives them in order)."""
    return _page(workbench(request), "steps", {"run_id": run_id, "status": status}, limit, cursor)


@router.get("/steps/{step_id}", response_model=Row, tags=["steps"])
def get_step(step_id: RowId, request: Request) -> dict:
    """The step's row, and `sent`: what its model was sent (as `GET /runs/{id}` gives a run's)."""
    return workbench(request).step(step_id)


@router.delete("/steps/{step_id}", status_code=204, tags=["steps"])
def delete_step(step_id: RowId, request: Request) -> Response:
    workbench(request).delete_step(step_id)
    return Response(status_code=204)


# -- artifacts -----------------------------------------------------------------------------


@router.post("/artifacts", status_code=201, response_model=Row, tags=["artifacts"])
def create_artifact(body: ArtifactIn, request: Request) -> dict:
    wb = workbench(request)
    return wb.add_artifact(
        body.content,
        project_id(wb, body.project),
        run_id=body.run_id,
        kind=body.kind,
        language=body.language,
        filename=body.filename,
    )


@router.get("/artifacts", response_model=Page, tags=["artifacts"])
def list_artifacts(
    request: Request,
    project: ProjectRef = None,
    run_id: Annotated[int | None, Query(ge=1, le=MAX_INT)] = None,
    kind: Annotated[str | None, Query(max_length=40)] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page:
    wb = workbench(request)
    where = {"project_id": project_id(wb, project), "run_id": run_id, "kind": kind}
    return _page(wb, "artifacts", where, limit, cursor)


@router.get("/artifacts/{artifact_id}", response_model=Row, tags=["artifacts"])
def get_artifact(artifact_id: RowId, request: Request) -> dict:
    return workbench(request).artifact(artifact_id)


@router.patch("/artifacts/{artifact_id}", response_model=Row, tags=["artifacts"])
def update_artifact(artifact_id: RowId, body: ArtifactPatch, request: Request) -> dict:
    return workbench(request).update_artifact(artifact_id, **body.model_dump(exclude_none=True))


@router.delete("/artifacts/{artifact_id}", status_code=204, tags=["artifacts"])
def delete_artifact(artifact_id: RowId, request: Request) -> Response:
    workbench(request).delete_artifact(artifact_id)
    return Response(status_code=204)
