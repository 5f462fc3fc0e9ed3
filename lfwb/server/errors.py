"""lfwb's errors as HTTP answers: a stable `code`, the message, and the one line a magic shows.

    {"code": "not_found", "message": "no run with id 9", "line": "NotFound: no run with id 9"}

The status follows the error's category (errors.py draws the tree): bad input 400, nothing
there 404, taken (or a run that is not running, to cancel) 409, over a budget 402, a model that cannot answer now 503. Validation
errors are 422 and name the field, a body that is no JSON included. What Starlette answers
itself has the same shape: an unknown route 404 `no_route`, a wrong method 405 with every
method the path allows. Known API keys are blanked out of every message.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException
from starlette.routing import Match

from ..errors import (
    AlreadyExists,
    BadInput,
    BudgetExceeded,
    ContextError,
    LfwbError,
    ModelNotFound,
    NotFound,
    RefusedBeforeSending,
    StillRunning,
    StoreError,
    Unavailable,
)


class NotRunning(BadInput):
    """A run that cannot be stopped here: it has ended, or something else is writing it."""


# Most specific first: the first class an error is an instance of decides its status.
STATUS: list[tuple[type[LfwbError], int]] = [
    (NotRunning, 409),
    (StillRunning, 409),
    (ModelNotFound, 404),
    (NotFound, 404),
    (AlreadyExists, 409),
    (BudgetExceeded, 402),
    (BadInput, 400),
    (ContextError, 400),
    (RefusedBeforeSending, 400),
    (Unavailable, 503),
    (StoreError, 500),
    (LfwbError, 400),
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
    body = {"code": code_of(error), "message": message, "line": f"{type(error).__name__}: {message}"}
    if isinstance(error, LfwbError) and "param" in error.fields:  # the request field it is about
        body["param"] = error.fields["param"]
    return body


def openai_shaped(body: dict, status: int) -> dict:
    """The OpenAI SDK reads `error.message`; lfwb's own fields stay beside it."""
    kind = "invalid_request_error" if status < 500 else "server_error"
    return {
        "error": {
            "message": body["message"],
            "type": kind,
            "param": body.get("param", body.get("field")),
            "code": body["code"],
        },
        **body,
    }


def respond(request: Request | None, body: dict, status: int) -> JSONResponse:
    if request is not None and request.url.path.startswith("/v1/"):
        body = openai_shaped(body, status)
    return JSONResponse(body, status_code=status)


async def lfwb_error(request: Request, error: LfwbError) -> JSONResponse:
    return respond(request, error_body(error), status_of(error))


async def validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
    """422 naming the first bad field (`body.max_tokens`); FastAPI's `detail` list stays."""
    problems = list(error.errors())
    first: dict = problems[0] if problems else {"loc": (), "msg": "invalid request"}
    if first.get("type") == "json_invalid":  # its loc ends with a character offset, not a field
        return unreadable_body(
            request, f"not JSON ({first.get('ctx', {}).get('error', 'cannot parse it')})", _plain(problems)
        )
    field = ".".join(str(part) for part in first.get("loc", ()))
    message = f"{field}: {first.get('msg')}" if field else str(first.get("msg"))
    body = {
        "code": "validation_error",
        "message": message,
        "line": f"BadInput: {message}",
        "field": field,
        "detail": _plain(problems),
    }
    return respond(request, body, 422)


def unreadable_body(request: Request, why: str, detail: list | None = None) -> JSONResponse:
    message = f"body: {why}"
    return respond(
        request,
        {
            "code": "validation_error",
            "message": message,
            "line": f"BadInput: {message}",
            "field": "body",
            "detail": detail or [],
        },
        422,
    )


# What FastAPI's JSON parsing raises beside a syntax error, said in words a client can act on.
UNREADABLE = [
    (UnicodeDecodeError, "not UTF-8 — send JSON encoded as UTF-8"),
    (RecursionError, "nested too deeply to read — send flatter JSON"),
    (ValueError, "not JSON lfwb can read (a number with thousands of digits?)"),
]


async def http_error(request: Request, error: HTTPException) -> JSONResponse:
    """Starlette's own answers (no route, a wrong method, a body FastAPI could not parse) in the
    one error shape."""
    method, path = request.method, request.url.path
    if error.status_code == 404:
        message = f"no route {method} {path[:200]}"
        return respond(
            request,
            {"code": "no_route", "message": message, "line": f"NotFound: {message} — the API is listed at /docs"},
            404,
        )
    if error.status_code == 405:
        allowed = allowed_methods(request)
        message = f"{method} is not allowed on {path[:200]} — use {', '.join(allowed)}"
        answer = respond(
            request, {"code": "method_not_allowed", "message": message, "line": f"BadInput: {message}"}, 405
        )
        answer.headers["allow"] = ", ".join(allowed)
        return answer
    cause = error.__cause__
    if error.status_code == 400 and cause is not None:
        return unreadable_body(
            request, next(why for kind, why in UNREADABLE + [(Exception, "cannot read it")] if isinstance(cause, kind))
        )
    message = str(error.detail)
    return respond(
        request,
        {"code": code_of_status(error.status_code), "message": message, "line": f"BadInput: {message}"},
        error.status_code,
    )


def allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at this path (Starlette's 405 names the first route's alone):
    the router is asked about each method in turn, so an included router counts as it routes."""
    routes = request.app.router.routes
    return [
        method
        for method in METHODS
        if any(route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes)
    ]


METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def code_of_status(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase.lower().replace(" ", "_").replace("-", "_")
    except ValueError:
        return "http_error"


def _plain(problems: list[dict]) -> list[dict]:
    # pydantic puts the exception object in `ctx`; keep what JSON can carry.
    return [{"loc": list(p.get("loc", ())), "msg": str(p.get("msg")), "type": str(p.get("type"))} for p in problems]


async def unexpected_error(request: Request, error: Exception) -> JSONResponse:
    """A bug is still an answer a client can read: 500 with {code, message, line}, key-blanked.
    (Starlette logs the traceback after this answer is sent.)"""
    message = redacted(f"{type(error).__name__}: {error}")
    body = {
        "code": "internal_error",
        "message": message,
        "line": f"InternalError: {message} — this is a bug in lfwb; the server's log has the traceback",
    }
    return respond(request, body, 500)


class Unexpected:
    """ASGI: a bug answers its 500 and the keep-alive connection stays usable. Starlette's last
    resort (`unexpected_error` below it) re-raises after answering, and uvicorn then closes the
    connection under a client that is about to send its next request."""

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = False

        async def watched(message: dict) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watched)
        except Exception as error:
            if started:  # half an answer is out: only closing the connection tells the client
                raise
            logging.getLogger("uvicorn.error").error("Exception in ASGI application", exc_info=error)
            await (await unexpected_error(Request(scope, receive), error))(scope, receive, send)


def install(app: Any) -> None:
    """The handlers, and `Unexpected` as the innermost middleware (install before the guards)."""
    app.add_exception_handler(LfwbError, lfwb_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(Exception, unexpected_error)  # Starlette's plain-text 500 otherwise
    app.add_middleware(Unexpected)
