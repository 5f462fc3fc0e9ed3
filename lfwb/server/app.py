"""The FastAPI app over one Workbench: `create_app(workbench, token=None, cors=None, max_body=...)`.

    app = create_app(lfwb.workbench(), token="s3cret", cors=["http://localhost:5173"])

Guards, outermost first: the body cap (413 before any route reads a byte too many), the bearer
token (401; compared in constant time; a WebSocket may send it as `?token=`), the Host check
(without a token, only a loopback name or the bound address: a web page that rebinds its own
DNS name to 127.0.0.1 is refused), the WebSocket origin check, then CORS when origins are given
(off otherwise). `/docs` and `/openapi.json` stay open: they describe the API and hold no data.
"""

from __future__ import annotations

import json
import secrets
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fastapi import FastAPI

from . import errors

MAX_BODY_BYTES = 1 * 2**20  # a prompt or a context of a MiB is plenty; bigger ones are a mistake
OPEN_PATHS = ("/docs", "/docs/oauth2-redirect", "/openapi.json", "/redoc")


LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")


def create_app(workbench: Any, token: str | None = None, cors: list[str] | str | None = None,
               max_body: int = MAX_BODY_BYTES, host: str | None = None,
               allow_remote_register: bool = False) -> FastAPI:
    """The app. Every route works on `workbench` (the kernel's, or one made for `lfwb serve`).
    `host` is the address it is bound to (a Host header naming it is accepted beside the loopback
    names); `allow_remote_register` lets `POST /models/register` send a key to a remote server."""
    from . import chat_ws, crud, generate, openai_v1, pipelines, runtime

    origins = [cors] if isinstance(cors, str) else list(cors or [])
    app = FastAPI(
        title="lfwb", version=_version(),
        description="The models, runs and material of an lfwb workbench over HTTP. "
                    "Errors are `{code, message, line}`; `line` is what `%lfw` prints.",
    )
    app.state.workbench = workbench
    app.state.generating = {}  # run id → the Generation writing it (streams.py), for /runs/{id}/cancel
    app.state.pipeline_runs = {}  # run id → the cancel Event of a pipeline run started here (pipelines.py)
    app.state.allow_remote_register = allow_remote_register
    errors.install(app)
    for module in (crud, runtime, generate, pipelines, chat_ws):
        app.include_router(module.router, prefix="/api/v1")
    app.include_router(openai_v1.router, prefix="/v1")
    if origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=origins, allow_methods=["*"],
                           allow_headers=["*"], allow_credentials=False)
    # Added last, so they run first: a request without the token or over the cap reaches nothing.
    app.add_middleware(Guard, token=token, origins=origins, host=host)
    app.add_middleware(BodyCap, max_body=max_body)
    return app


def _version() -> str:
    from .. import __version__

    return __version__


async def _send_json(send: Any, status: int, body: dict, headers: list | None = None) -> None:
    data = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(data)).encode()), *(headers or [])]})
    await send({"type": "http.response.body", "body": data})


class BodyCap:
    """413 for a request body over `max_body` bytes, declared or streamed (chunked)."""

    def __init__(self, app: Any, max_body: int):
        self.app, self.max_body = app, max_body

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body:
            return await self._refuse(send)
        # Read the body here (at most the cap) and hand it on: a chunked body has no length to trust.
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client left before sending its body
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_body:
                return await self._refuse(send)
            if not message.get("more_body"):
                break
        body, replayed = b"".join(chunks), False

        async def replay() -> dict:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # later reads wait for the disconnect, as Starlette expects

        await self.app(scope, replay, send)

    async def _refuse(self, send: Any) -> None:
        message = f"the request body is over {self.max_body} bytes — send less (or start the server with a larger cap)"
        await _send_json(send, 413, {"code": "body_too_large", "message": message,
                                     "line": f"BadInput: {message}"})


class Guard:
    """The bearer token (when set) on every request but the docs; without a token, the Host; the
    Origin of a WebSocket."""

    def __init__(self, app: Any, token: str | None, origins: list[str], host: str | None = None):
        self.app, self.token, self.origins = app, token, origins
        self.names = {*LOOPBACK_NAMES, *([host.strip("[]").lower()] if host else [])}

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket") or scope["path"] in OPEN_PATHS:
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers") or []}
        if self.token is not None and not self._authorized(scope, headers):
            if scope["type"] == "websocket":
                return await send({"type": "websocket.close", "code": 4401, "reason": "token required"})
            return await _send_json(
                send, 401, {"code": "unauthorized", "message": "a valid bearer token is required",
                            "line": "Unauthorized: send the server's token as 'Authorization: Bearer TOKEN'"},
                [(b"www-authenticate", b"Bearer")],
            )
        # Without a token, the loopback address is the only guard, and a page whose DNS name was
        # rebound to 127.0.0.1 reaches it too: its requests still carry its own name as the Host.
        if self.token is None and "host" in headers and not self._ours(headers["host"]):
            if scope["type"] == "websocket":
                return await send({"type": "websocket.close", "code": 4421, "reason": "host not allowed"})
            message = f"this server answers to {', '.join(sorted(self.names))}, not {headers['host'][:100]!r}"
            return await _send_json(send, 421, {
                "code": "host_not_allowed", "message": message,
                "line": f"BadInput: {message} — use http://127.0.0.1:PORT, or start it with --token to serve other names"})
        if scope["type"] == "websocket" and not self._origin_allowed(headers):
            return await send({"type": "websocket.close", "code": 4403, "reason": "origin not allowed"})
        return await self.app(scope, receive, send)

    def _authorized(self, scope: dict, headers: dict) -> bool:
        given = ""
        scheme, _, value = headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer":
            given = value.strip()
        elif scope["type"] == "websocket":  # a browser cannot set headers on a WebSocket
            given = (parse_qs(scope.get("query_string", b"").decode()).get("token") or [""])[0]
        return secrets.compare_digest(given.encode(), self.token.encode())

    def _ours(self, netloc: str) -> bool:
        """A Host (or an Origin's host) that names this machine's loopback or the bound address."""
        try:
            return urlsplit(f"//{netloc}").hostname in self.names
        except ValueError:  # "[::1" and the like: not a name of ours
            return False

    def _origin_allowed(self, headers: dict) -> bool:
        """No Origin (not a browser), a page on a loopback name or the bound address, one given
        with --cors, or (with a token, which a rebinding page cannot know) the server's own."""
        origin = headers.get("origin")
        if origin is None:
            return True
        if origin in self.origins or "*" in self.origins:
            return True
        netloc = origin.partition("//")[2]  # an Origin is scheme://host[:port]; "null" has none
        return self._ours(netloc) or (self.token is not None and netloc == headers.get("host"))
