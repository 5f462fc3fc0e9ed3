"""An OpenAI-compatible face: `GET /v1/models`, `GET /v1/models/{id}`, `POST /v1/chat/completions` (streaming or not).

    from openai import OpenAI
    client = OpenAI(base_url="http://127.0.0.1:7860/v1", api_key="TOKEN or anything")
    client.chat.completions.create(model="smollm2", messages=[{"role": "user", "content": "Hi"}])

Every lfwb model is offered, and every alias (a fallback chain: the run records which link
answered). A completion is `Workbench.generate` with the whole conversation, so it is a run
like any other; its id is `chatcmpl-<run id>`. Streaming sends `chat.completion.chunk`s and
`[DONE]`; with `stream_options.include_usage` a last chunk carries the usage.
`response_format` (json_object, json_schema) constrains decoding as `--json`/`--schema` in a
cell do; what lfwb cannot honour (tools, n > 1, logprobs...) is a 400 naming it (schemas.py).
"""

from __future__ import annotations

import json
import time
from types import SimpleNamespace
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from ..errors import BadInput, ModelNotFound, SchemaMismatch
from .crud import workbench
from .errors import ERROR_RESPONSES, error_body
from .generate import SSE_HEADERS, start_generation
from .schemas import CompletionIn
from .streams import Followed

if TYPE_CHECKING:
    from ..runs import RunResult
    from ..workbench import Workbench

    # What a completion's usage and finish reason are read from: the run, or a cut answer's row.
    Answered = RunResult | SimpleNamespace

router = APIRouter(tags=["openai"], responses=ERROR_RESPONSES)


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


def _cards(wb: Workbench) -> list[ModelCard]:
    """Registered models (owned by their runtime) and aliases (owned by `lfwb-alias`)."""
    created = int(time.time())
    cards = [ModelCard(id=row["name"], created=created, owned_by=row["runtime"]) for row in wb.models()]
    return cards + [ModelCard(id=name, created=created, owned_by="lfwb-alias") for name in wb.aliases()]


@router.get("/models", response_model=ModelList)
def models(request: Request) -> ModelList:
    """Registered models (owned by their runtime) and aliases (owned by `lfwb-alias`)."""
    return ModelList(data=_cards(workbench(request)))


@router.get("/models/{model_id:path}", response_model=ModelCard)
def model(model_id: Annotated[str, Path(min_length=1, max_length=200)], request: Request) -> ModelCard:
    """One model or alias (the SDK's `client.models.retrieve(id)`); 404 for an unknown id."""
    cards = _cards(workbench(request))
    card = next((c for c in cards if c.id == model_id), None)
    if card is None:
        names = ", ".join(c.id for c in cards[:20]) or "none yet"
        raise ModelNotFound(f"no model {model_id!r} — models: {names}", model=model_id)
    return card


class Unhonoured(BadInput):
    """A request field asking for what lfwb cannot do (tools, several choices, log probabilities)."""


def _schema(response_format: Any) -> Any:
    """The Schema the answer is decoded under and read through (lfwb/structured.py), as
    `--schema`/`--json` in a cell: None for text, any JSON object for json_object."""
    if response_format is None or response_format.type == "text":
        return None
    from ..structured import resolve_schema

    spec = getattr(response_format, "json_schema", None)
    if spec is None or spec.json_schema is None:
        return resolve_schema("json")
    # Its name, unless the schema has a title, is what a refusal calls it ("verdict is not ...").
    return resolve_schema({"title": spec.name, **spec.json_schema})


def _cut(error: BaseException) -> bool:
    """An answer that reached its token limit before its JSON ended (the run failed, its text kept)."""
    return isinstance(error, SchemaMismatch) and error.fields.get("about") == "cut"


async def _cut_run(wb: Workbench, run_id: int) -> SimpleNamespace:
    """A cut answer as OpenAI gives it — its text, finish_reason "length" (the SDK's `parse` then
    raises LengthFinishReasonError) — where lfwb's run is failed, with `schema_valid` false."""
    row = await run_in_threadpool(wb.run, run_id)
    return SimpleNamespace(
        text=row["output"] or "", input_tokens=row["input_tokens"], output_tokens=row["output_tokens"] or 0, cut=True
    )


def _usage(result: Answered) -> dict:
    prompt, completion = result.input_tokens or 0, result.output_tokens or 0
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _finish_reason(result: Answered, settings: dict) -> str:
    limit = settings.get("max_tokens")
    return "length" if getattr(result, "cut", False) or (limit and result.output_tokens >= limit) else "stop"


@router.post(
    "/chat/completions",
    response_model=dict[str, Any],
    responses={200: {"content": {"text/event-stream": {}}, "description": "a completion, or its chunks"}},
)
async def chat_completions(body: CompletionIn, request: Request) -> Any:
    """A completion, recorded as a run. `response_format` json_object or json_schema constrains
    decoding as `%%lfw generate --json/--schema` does; a field lfwb cannot honour (tools, n > 1,
    logprobs, ...) is a 400 naming it, before any run exists."""
    wb = workbench(request)
    unhonoured = body.unhonoured()
    if unhonoured:
        raise Unhonoured(
            "lfwb cannot honour "
            + "; ".join(f"{name} ({why})" for name, why in unhonoured)
            + " — leave them out of the request",
            param=unhonoured[0][0],
        )
    messages = [{"role": "system" if m.role == "developer" else m.role, "content": m.text()} for m in body.messages]
    prompt = next((m["content"] for m in reversed(messages) if m["role"] == "user"), messages[-1]["content"]) or " "
    settings = body.settings()
    schema = await run_in_threadpool(_schema, body.response_format)  # a bad schema: 400, no run
    await run_in_threadpool(wb.resolve_model, body.model)  # an unknown model: 404 before a run exists
    gen = start_generation(
        wb, None, prompt, body.model, request.app.state.generating, messages=messages, schema=schema, **settings
    )
    started = await gen.started()
    completion_id, created = f"chatcmpl-{started.run_id}", int(time.time())
    if not body.stream:
        result: Answered
        try:
            result = await gen.finished()  # stopped by POST /api/v1/runs/{id}/cancel: the text so far
        except SchemaMismatch as e:
            if not _cut(e):
                raise
            result = await _cut_run(wb, started.run_id)
        return {
            "id": completion_id,
            "object": "chat.completion",
            "created": created,
            "model": body.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": result.text},
                    "finish_reason": _finish_reason(result, settings),
                    "logprobs": None,
                }
            ],
            "usage": _usage(result),
        }
    usage = bool(body.stream_options and body.stream_options.include_usage)
    return StreamingResponse(
        _chunks(wb, gen, started.run_id, created, body.model, settings, usage),
        media_type="text/event-stream",
        headers=SSE_HEADERS,
    )


async def _chunks(
    wb: Workbench, gen: Followed[RunResult], run_id: int, created: int, model: str, settings: dict, usage: bool
) -> AsyncIterator[str]:
    cid = f"chatcmpl-{run_id}"

    def chunk(delta: dict, finish: str | None = None, **extra: Any) -> str:
        data = {
            "id": cid,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
            **extra,
        }
        return f"data: {json.dumps(data)}\n\n"

    yield chunk({"role": "assistant", "content": ""})
    async for kind, value in gen:  # leaving early (the client went away) stops the generation
        if kind == "error" and _cut(value):
            kind, value = "done", await _cut_run(wb, run_id)
        if kind == "text":
            yield chunk({"content": value})
        elif kind == "done":
            yield chunk({}, _finish_reason(value, settings))
            if usage:  # OpenAI's shape: no choices, the usage of the whole completion
                data = {
                    "id": cid,
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": model,
                    "choices": [],
                    "usage": _usage(value),
                }
                yield f"data: {json.dumps(data)}\n\n"
        elif kind in ("cancelled", "error"):
            yield f"data: {json.dumps({'error': error_body(value)})}\n\n"
    yield "data: [DONE]\n\n"
