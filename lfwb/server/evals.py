"""Evals over HTTP: run one, follow it, read its report, stop it — `%lfw eval NAME --models ...`
and `%lfw eval show RUN` through the same Workbench methods.

`POST /evals` starts `Workbench.start_eval`'s handle (with a `definition`, it is saved as `name`
once the run is checked, as a `%%lfw eval` cell's is); the answer (202) comes once the eval's run exists, with its
id. `GET /evals/{id}` is its report as it stands (the answers scored so far while it runs), with
`?against=RUN` what changed since an earlier run; `POST /evals/{id}/cancel` stops it. Bad input
(bad YAML, an unknown check or model, a missing column) is a 400 at once and leaves no row.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict

from ..errors import BadInput
from ..handles import Started as HandleStarted
from .crud import workbench
from .errors import ERROR_RESPONSES
from .schemas import MAX_INT, EvalRunIn, RowId
from .streams import run_ended

router = APIRouter(tags=["evals"], responses=ERROR_RESPONSES)


class Started(BaseModel):
    run_id: int
    status: str


class EvalReportOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    run_id: int
    status: str
    table: list[dict[str, Any]]
    failures: list[dict[str, Any]]


def running(request: Request) -> dict[int, Any]:
    """The handle of each eval this server started and that has not ended."""
    return request.app.state.eval_runs


@router.get("/evals", response_model=list[dict[str, Any]])
def list_evals(request: Request) -> list[dict]:
    """Saved evals (latest version each)."""
    return workbench(request).evals()


@router.post("/evals", status_code=202, response_model=Started)
async def run_eval(body: EvalRunIn, request: Request) -> Started:
    """Start an eval of `models` over `rows` (default: the definition's `models:` and `dataset:`)."""
    wb, runs = workbench(request), running(request)
    handle = wb.start_eval(
        body.name,
        body.models,
        body.rows,
        against=body.against,
        cache=body.cache,
        definition=body.definition,  # saved once the run is checked: a refused one keeps no version
        **body.settings.given(),
    )
    handle.listen(lambda event: runs.setdefault(event.run.run_id, handle) if isinstance(event, HandleStarted) else None)

    def forget() -> None:
        if handle.run_id is not None:
            runs.pop(handle.run_id, None)

    handle.on_done(forget)
    run = await handle.running()
    if run is None:
        raise BadInput(f"eval {body.name!r} did not start")
    return Started(run_id=run.run_id, status="running")


@router.get("/evals/{run_id}", response_model=EvalReportOut)
def eval_report(
    run_id: RowId,
    request: Request,
    against: int | None = Query(None, ge=1, le=MAX_INT, description="an earlier eval run to compare with"),
) -> dict:
    """An eval run's report: the table (model × check), pass rates, failing answers, best model."""
    return workbench(request).eval_report(run_id, against=against).to_dict()


@router.post("/evals/{run_id}/cancel", response_model=EvalReportOut)
async def cancel_eval(run_id: RowId, request: Request) -> dict:
    """Stop an eval this server started: answers in progress end `cancelled`, unscored. Answers
    once its rows are finished, with the report of what was scored."""
    wb = workbench(request)
    handle = running(request).get(run_id)
    if handle is None:
        report = wb.eval_report(run_id)  # unknown, or not an eval: 404 / 400
        if report.status == "running":
            raise BadInput(f"eval run {run_id} was not started by this server — stop it where it runs")
        return report.to_dict()
    handle.cancel()
    await run_ended(handle)
    return wb.eval_report(run_id).to_dict()
