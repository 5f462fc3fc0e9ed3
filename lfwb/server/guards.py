"""The ASGI guards `create_app` puts in front of every route, outermost first:

- `Cors` (only with `--cors` origins): answers a preflight before anything else looks at it, so a
  page may send the token it has not sent yet; adds the CORS headers to every answer, refusals too.
- `BodyCap`: 413 for a body over the cap, 408 for one that does not arrive within BODY_TIMEOUT_S.
- `Guard`: the bearer token (401), the Host without a token (421), then the page a request comes
  from (403): a browser sends a body-less POST from any site without asking first, so a request
  that changes something must come from no page at all (curl, an SDK) or from an allowed one.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from typing import Any
from urllib.parse import parse_qs, urlsplit

from starlette.middleware.cors import CORSMiddleware
from starlette.responses import JSONResponse

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
OPEN_PATHS = ("/docs", "/docs/oauth2-redirect", "/openapi.json", "/redoc")
STATE_CHANGING = ("POST", "PUT", "PATCH", "DELETE")
BODY_TIMEOUT_S = 30.0  # from the request's head to its body's last byte (a MiB at 35 kB/s)


async def send_json(send: Any, status: int, body: dict, headers: list | None = None) -> None:
    data = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(data)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})


async def refuse(scope: dict, send: Any, status: int, body: dict, headers: list | None = None) -> None:
    """Answer `body` with `status`; a WebSocket is closed with code 4000 + status instead (a
    browser shows a WebSocket no answer before it opens), its reason the error's code."""
    if scope["type"] == "websocket":
        return await send({"type": "websocket.close", "code": 4000 + status, "reason": body["code"]})
    await send_json(send, status, body, headers)


def refusal(code: str, kind: str, message: str, hint: str = "") -> dict:
    """{code, message, line}: what every error answer holds (errors.py makes the others)."""
    return {"code": code, "message": message, "line": f"{kind}: {message}{f' — {hint}' if hint else ''}"}


class Cors(CORSMiddleware):
    """Starlette's CORS, with a refused preflight answered in lfwb's error shape."""

    def preflight_response(self, request_headers: Any) -> Any:
        answer = super().preflight_response(request_headers)
        if answer.status_code != 400:
            return answer
        message = f"{bytes(answer.body).decode()} (origin {request_headers['origin'][:100]!r})"
        headers = {k: v for k, v in answer.headers.items() if k.startswith("access-control-")}
        return JSONResponse(
            refusal("cors_refused", "BadInput", message, "start the server with --cors ORIGIN"),
            status_code=400,
            headers=headers,
        )


class BodyCap:
    """413 for a request body over `max_body` bytes, declared or streamed (chunked); 408 for one
    that takes longer than BODY_TIMEOUT_S (a client that stops halfway holds nothing for long)."""

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
        deadline = asyncio.get_running_loop().time() + BODY_TIMEOUT_S
        while True:
            try:
                message = await asyncio.wait_for(receive(), deadline - asyncio.get_running_loop().time())
            except asyncio.TimeoutError:
                return await self._too_slow(send)
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
        message = f"the request body is over {self.max_body} bytes"
        await send_json(
            send,
            413,
            refusal("body_too_large", "BadInput", message, "send less (or start the server with a larger cap)"),
        )

    async def _too_slow(self, send: Any) -> None:
        message = f"the request body did not arrive within {BODY_TIMEOUT_S:.0f} s"
        await send_json(
            send,
            408,
            refusal("request_timeout", "BadInput", message, "send it again, whole"),
            [(b"connection", b"close")],
        )  # what is left of it would be read as a request


class Guard:
    """The bearer token (when set) on every request but the docs; without a token, the Host; the
    page a WebSocket or a state-changing request comes from."""

    def __init__(self, app: Any, token: str | None, origins: list[str], host: str | None = None):
        self.app, self.token, self.origins = app, token, origins
        self.names = {*LOOPBACK_NAMES, *([host.strip("[]").lower()] if host else [])}

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket") or scope["path"] in OPEN_PATHS:
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers") or []}
        if self.token is not None and not self._authorized(scope, headers, self.token):
            return await refuse(
                scope,
                send,
                401,
                refusal(
                    "unauthorized",
                    "Unauthorized",
                    "a valid bearer token is required",
                    "send the server's token as 'Authorization: Bearer TOKEN'",
                ),
                [(b"www-authenticate", b"Bearer")],
            )
        # Without a token, the loopback address is the only guard, and a page whose DNS name was
        # rebound to 127.0.0.1 reaches it too: its requests still carry its own name as the Host.
        if self.token is None and "host" in headers and not self._ours(headers["host"]):
            message = f"this server answers to {', '.join(sorted(self.names))}, not {headers['host'][:100]!r}"
            return await refuse(
                scope,
                send,
                421,
                refusal(
                    "host_not_allowed",
                    "BadInput",
                    message,
                    "use http://127.0.0.1:PORT, or start it with --token to serve other names",
                ),
            )
        if scope["type"] == "websocket" or scope["method"] in STATE_CHANGING:
            page = page_of(headers)
            if page is not None and not self._page_allowed(page, scope, headers):
                message = f"a request from the page at {page[:100]!r} may not change anything here"
                return await refuse(
                    scope,
                    send,
                    403,
                    refusal(
                        "origin_not_allowed",
                        "Forbidden",
                        message,
                        "serve that page from this server's address, or start the server with --cors ORIGIN",
                    ),
                )
        return await self.app(scope, receive, send)

    def _authorized(self, scope: dict, headers: dict, token: str) -> bool:
        given = ""
        scheme, _, value = headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer":
            given = value.strip()
        elif scope["type"] == "websocket":  # a browser cannot set headers on a WebSocket
            given = (parse_qs(scope.get("query_string", b"").decode()).get("token") or [""])[0]
        return secrets.compare_digest(given.encode(), token.encode())

    def _ours(self, netloc: str) -> bool:
        """A Host (or an Origin's host) that names this machine's loopback or the bound address."""
        try:
            return urlsplit(f"//{netloc}").hostname in self.names
        except ValueError:  # "[::1" and the like: not a name of ours
            return False

    def _page_allowed(self, page: str, scope: dict, headers: dict) -> bool:
        """A page given with --cors, one at the address the request was sent to (the Host: /docs
        itself), or one at a loopback name or the bound address on this server's port. Another
        port of this machine is another site: the dev server of some other app."""
        if page in self.origins or "*" in self.origins:
            return True
        try:
            parts = urlsplit(page)
            port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
        except ValueError:
            return False
        if parts.scheme not in ("http", "https"):  # "null": a sandboxed frame, a file:// page
            return False
        if parts.netloc == headers.get("host"):
            return True
        server = scope.get("server") or (None, None)
        return parts.hostname in self.names and port == server[1]


def page_of(headers: dict) -> str | None:
    """The origin of the page a request comes from: its Origin, else its Referer's
    scheme://host:port; None when neither is sent (a script, curl, an SDK)."""
    if "origin" in headers:
        return headers["origin"]
    referer = headers.get("referer")
    if not referer:
        return None
    try:
        parts = urlsplit(referer)
    except ValueError:
        return referer
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else referer
