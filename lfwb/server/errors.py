"""lfwb's errors as HTTP answers: a stable `code`, the message, and the one line a magic shows.

    {"code": "not_found", "message": "no run with id 9", "line": "NotFound: no run with id 9"}

The status follows the error's category (errors.py draws the tree): bad input 400, nothing
there 404, taken (or a run that is not running, to cancel) 409, over a budget 402, a model that cannot answer now 503. Validation
errors are 422 and name the field. Known API keys are blanked out of every message.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

from ..errors import (
    AlreadyExists, BadInput, BudgetExceeded, ContextError, LfwbError, ModelNotFound, NotFound,
    RefusedBeforeSending, StoreError, Unavailable,
)


class NotRunning(BadInput):
    """A run that cannot be stopped here: it has ended, or something else is writing it."""


class StillRunning(BadInput):
    """A run lfwb is still writing: its record cannot be changed or deleted until it ends."""


# Most specific first: the first class an error is an instance of decides its status.
STATUS: list[tuple[type[LfwbError], int]] = [
    (NotRunning, 409), (StillRunning, 409), (ModelNotFound, 404), (NotFound, 404), (AlreadyExists, 409), (BudgetExceeded, 402),
    (BadInput, 400), (ContextError, 400), (RefusedBeforeSending, 400), (Unavailable, 503),
    (StoreError, 500), (LfwbError, 400),
]


class ErrorBody(BaseModel):
    """What every error answer holds (OpenAPI shows it for 4xx/5xx)."""

    model_config = ConfigDict(extra="allow")
    code: str
    message: str
    line: str


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody} for status in (400, 401, 402, 404, 409, 413, 500, 503)
}


def code_of(error: BaseException) -> str:
    """`ModelNotFound` → `model_not_found`: the class name, stable across messages."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", type(error).__name__).lower()


def status_of(error: LfwbError) -> int:
    return next(status for cls, status in STATUS if isinstance(error, cls))


def redacted(text: str) -> str:
    from ..runtimes.keys import redact

    return redact(text)


def error_body(error: BaseException) -> dict:
    """{code, message, line}: `line` is the error's one line, as `%lfw` prints it but without the
    notebook's hint (`Use %lfw models`): an HTTP client has no cell to type it in."""
    message = redacted(str(error))
    return {"code": code_of(error), "message": message, "line": f"{type(error).__name__}: {message}"}


def openai_shaped(body: dict, status: int) -> dict:
    """The OpenAI SDK reads `error.message`; lfwb's own fields stay beside it."""
    kind = "invalid_request_error" if status < 500 else "server_error"
    return {"error": {"message": body["message"], "type": kind, "code": body["code"]}, **body}


def respond(request: Request | None, body: dict, status: int) -> JSONResponse:
    if request is not None and request.url.path.startswith("/v1/"):
        body = openai_shaped(body, status)
    return JSONResponse(body, status_code=status)


async def lfwb_error(request: Request, error: LfwbError) -> JSONResponse:
    return respond(request, error_body(error), status_of(error))


async def validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
    """422 naming the first bad field (`body.max_tokens`); FastAPI's `detail` list stays."""
    problems = error.errors()
    first = problems[0] if problems else {"loc": (), "msg": "invalid request"}
    field = ".".join(str(part) for part in first.get("loc", ()))
    message = f"{field}: {first.get('msg')}" if field else str(first.get("msg"))
    body = {"code": "validation_error", "message": message, "line": f"BadInput: {message}",
            "field": field, "detail": _plain(problems)}
    return respond(request, body, 422)


def _plain(problems: list[dict]) -> list[dict]:
    # pydantic puts the exception object in `ctx`; keep what JSON can carry.
    return [{"loc": list(p.get("loc", ())), "msg": str(p.get("msg")), "type": str(p.get("type"))}
            for p in problems]


async def unexpected_error(request: Request, error: Exception) -> JSONResponse:
    """A bug is still an answer a client can read: 500 with {code, message, line}, key-blanked.
    (Starlette logs the traceback after this answer is sent.)"""
    message = redacted(f"{type(error).__name__}: {error}")
    body = {"code": "internal_error", "message": message,
            "line": f"InternalError: {message} — this is a bug in lfwb; the server's log has the traceback"}
    return respond(request, body, 500)


def install(app: Any) -> None:
    app.add_exception_handler(LfwbError, lfwb_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(Exception, unexpected_error)  # Starlette's plain-text 500 otherwise
