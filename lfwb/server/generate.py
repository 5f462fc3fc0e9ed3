"""`POST /api/v1/generate` (also at the seed's `/api/v1/runtime/generate`; JSON, or Server-Sent
Events with `"stream": true`) and
`GET /api/v1/runs/{id}/events`, which follows any run as it is written — one started here,
in the notebook or by another kernel on the same file.

The generation is `Workbench.start_generate`'s handle, the call `%%lfw generate` makes,
followed from the event loop (streams.Followed). Events, as a browser's EventSource reads them:

    event: start     data: {"run_id": 7, "model": "smollm2"}
    event: token     data: {"text": "Once"}                    (one per piece of text)
    event: done      data: {"run_id": 7, "status": "done", "text": ..., "output_tokens": ...}

or `event: error` ({code, message, line}) / `event: cancelled` ({run_id, line, text}: the text
kept). A client that disconnects
mid-stream stops the model: the run ends `cancelled` with the text so far. Any other client
can stop it too, streamed or not: `POST /api/v1/runs/{id}/cancel` (a chat turn's run as well).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from .crud import project_id, workbench
from .errors import ERROR_RESPONSES, NotRunning, error_body, redacted
from .evals import running as eval_runs
from .pipelines import running as pipeline_runs
from .schemas import GenerateIn, Row, RowId, RunOut, run_out
from .streams import Followed, run_ended

if TYPE_CHECKING:
    from ..handles import Handle
    from ..runs import RunResult
    from ..store import Store
    from ..workbench import Workbench

router = APIRouter(tags=["generate"], responses=ERROR_RESPONSES)

FOLLOW_EVERY_S = 0.1  # how often /events looks at the row (the run flushes every 0.25 s)
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def sse(event: str, data: Any) -> str:
    """One Server-Sent Event: its name, one JSON data line, the blank line that ends it."""
    return f"event: {event}\ndata: {json.dumps(data)}\n\n"


def start_generation(
    wb: Workbench, project: int | None, prompt: str, model: str | None, running: dict[int, Handle], **kwargs: Any
) -> Followed[RunResult]:
    """`wb.start_generate` in `project` (default: the current one), followed, its handle kept in
    `running` (the app's `generating`) by its run id while it runs."""
    return Followed(wb.start_generate(prompt, model, project_id=project, **kwargs), running)


@router.post(
    "/runtime/generate",
    response_model=RunOut,
    responses={200: {"content": {"text/event-stream": {}}, "description": "the run, or its events"}},
)
@router.post(
    "/generate",
    response_model=RunOut,
    responses={200: {"content": {"text/event-stream": {}}, "description": "the run, or its events"}},
)
async def generate(body: GenerateIn, request: Request) -> Any:
    """Generate and record a run (`%%lfw generate`); `"stream": true` (or `Accept: text/event-stream`) for SSE."""
    wb = workbench(request)
    pid = await run_in_threadpool(project_id, wb, body.project)
    gen = start_generation(
        wb, pid, body.prompt, body.model, request.app.state.generating, system=body.system, raw=body.raw, **body.given()
    )
    started = await gen.started()  # refused before a run existed: the error handler answers (400, 404, 503...)
    streaming = body.stream or "text/event-stream" in request.headers.get("accept", "")
    if not streaming:
        return run_out(await gen.finished())  # cancelled: the run, text so far
    return StreamingResponse(_events(gen, started), media_type="text/event-stream", headers=SSE_HEADERS)


async def _events(gen: Followed[RunResult], started: RunResult) -> AsyncIterator[str]:
    yield sse("start", {"run_id": started.run_id, "model": started.model})
    async for kind, value in gen:  # leaving early (the client went away) stops the generation
        if kind == "text":
            yield sse("token", {"text": value})
        elif kind == "done":
            yield sse("done", run_out(value))
        elif kind == "cancelled":
            yield sse(
                "cancelled",
                {"run_id": started.run_id, "line": redacted(str(value)), "text": getattr(value.result, "text", None)},
            )
        elif kind == "error":
            yield sse("error", {"run_id": started.run_id, **error_body(value)})


@router.post("/runs/{run_id}/cancel", response_model=Row, tags=["runs"])
async def cancel_run(run_id: RowId, request: Request) -> dict:
    """Stop a run this server is writing — a generation (streamed or not), a chat turn, a
    pipeline run, an eval — as a client that leaves would: it ends `cancelled` with the text so far.
    Answers the run's row once it has ended; 409 if it is not running here."""
    store = workbench(request).store
    handle = (
        request.app.state.generating.get(run_id) or pipeline_runs(request).get(run_id) or eval_runs(request).get(run_id)
    )
    if handle is None:
        row = await run_in_threadpool(store.get_run, run_id)  # unknown: 404
        if row["status"] != "running":
            raise NotRunning(f"run {run_id} is {row['status']}, not running — there is nothing to cancel")
        raise NotRunning(
            f"run {run_id} is running outside this server (a notebook cell or another process) — stop it where it runs"
        )
    handle.cancel()
    await run_ended(handle)
    return await run_in_threadpool(store.get_run, run_id)


@router.get(
    "/runs/{run_id}/events",
    tags=["runs"],
    responses={200: {"content": {"text/event-stream": {}}, "description": "the run's events"}},
)
async def follow_run(run_id: RowId, request: Request) -> StreamingResponse:
    """Follow a run as it is written: `token` events as its text grows, `step` events as a
    pipeline's steps change, then `done` with the finished row (at once for a finished run)."""
    store = workbench(request).store
    first = await run_in_threadpool(store.get_run, run_id)  # an unknown run: 404 before any event
    return StreamingResponse(_follow(store, first), media_type="text/event-stream", headers=SSE_HEADERS)


async def _follow(store: Store, row: dict) -> AsyncIterator[str]:
    run_id, sent = row["id"], 0
    steps: dict[str, tuple] = {}  # step name → (status, tokens) last sent
    yield sse("start", {"run_id": run_id, "kind": row["kind"], "model": row["model"]})
    while True:
        text = row["output"] or ""
        if len(text) > sent:
            yield sse("token", {"text": text[sent:]})
            sent = len(text)
        if row["kind"] == "pipeline":
            for step in await run_in_threadpool(store.list_steps, run_id):
                seen = (step["status"], step["output_tokens"])
                if steps.get(step["name"]) != seen:
                    steps[step["name"]] = seen
                    yield sse("step", {k: step[k] for k in ("name", "status", "model", "answered_by", "output_tokens")})
        if row["status"] != "running":
            yield sse("done", row)
            return
        await asyncio.sleep(FOLLOW_EVERY_S)
        row = await run_in_threadpool(store.get_run, run_id)
