"""A local stand-in for the Gemini API, for tests: the real `google-genai` SDK talks to it.

It speaks the REST protocol of generativelanguage.googleapis.com for
`POST /{version}/models/{model}:generateContent` and
`POST /{version}/models/{model}:streamGenerateContent?alt=sse`, with the documented JSON
shapes (GenerateContentResponse with usageMetadata incl. thoughtsTokenCount; errors as
`{"error": {"code", "message", "status", "details": [...]}}` with a google.rpc.RetryInfo).

Tests script what the next requests get (`server.script(Reply(...), ...)`) and read what the
server saw (`server.requests`) and how many requests it answered at once at most (`most_at_once`:
a reply's `wait_s` keeps it in flight that long before its first byte). It runs uvicorn in a thread on 127.0.0.1 at a free port.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass

import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

DEFAULT_TEXT = "The quick brown fox jumps over the lazy dog near the quiet river bank."

TOGETHER_BOUND_S = 20.0  # a bound, not a timing: reaching it means the requests never overlapped


@dataclass
class Reply:
    """What one request gets.

    kind: ok | error | malformed | stall | die | cut
      error     — HTTP `status` with a Google error body (429 carries RetryInfo `retry_delay`)
      malformed — 200 with a body that is not JSON (after `after` good stream events)
      stall     — `after` stream events, then nothing for `stall_s` seconds
      die       — `after` stream events, then the connection is cut
      cut       — `after` stream events, then the stream ends cleanly but with no finishReason
                  (generateContent: the whole text, no finishReason)
    """

    kind: str = "ok"
    text: str = DEFAULT_TEXT
    status: int = 200
    retry_delay: str | None = None
    after: int = 0
    stall_s: float = 5.0
    prompt_tokens: int = 12
    thoughts: int = 0
    finish: str = "STOP"
    delay_s: float = 0.01  # between stream events
    wait_s: float = 0.0  # before the answer's first byte (a slow model thinking)
    # Held (before `wait_s`) until this many requests were in flight at once, for at most
    # TOGETHER_BOUND_S: calls made concurrently are seen together however slowly they arrive.
    together: int = 1
    message: str | None = None  # an error's message, instead of the usual one


def error_body(
    status: int, retry_delay: str | None = None, model: str = "gemini-2.5-pro", message: str | None = None
) -> dict:
    """The error JSON the Gemini API sends for `status` (with `message` instead of its own)."""
    body = _error_body(status, retry_delay, model)
    if message is not None:
        body["error"]["message"] = message
    return body


def _error_body(status: int, retry_delay: str | None, model: str) -> dict:
    if status == 429:
        details = [
            {
                "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                "violations": [
                    {
                        "quotaMetric": "generativelanguage.googleapis.com/generate_content_paid_tier_input_token_count",
                        "quotaId": "GenerateContentPaidTierInputTokensPerModelPerMinute",
                        "quotaDimensions": {"location": "global", "model": model},
                        "quotaValue": "2000000",
                    }
                ],
            },
            {
                "@type": "type.googleapis.com/google.rpc.Help",
                "links": [
                    {
                        "description": "Learn more about Gemini API quotas",
                        "url": "https://ai.google.dev/gemini-api/docs/rate-limits",
                    }
                ],
            },
        ]
        if retry_delay is not None:
            details.append({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retry_delay})
        return {
            "error": {
                "code": 429,
                "message": "You exceeded your current quota, please check your plan and billing details.",
                "status": "RESOURCE_EXHAUSTED",
                "details": details,
            }
        }
    if status == 400:
        return {
            "error": {
                "code": 400,
                "message": "API key not valid. Please pass a valid API key.",
                "status": "INVALID_ARGUMENT",
                "details": [
                    {
                        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                        "reason": "API_KEY_INVALID",
                        "domain": "googleapis.com",
                        "metadata": {"service": "generativelanguage.googleapis.com"},
                    }
                ],
            }
        }
    if status == 404:
        return {
            "error": {
                "code": 404,
                "message": f"models/{model} is not found for API version v1beta.",
                "status": "NOT_FOUND",
            }
        }
    if status == 503:
        return {
            "error": {
                "code": 503,
                "message": "The model is overloaded. Please try again later.",
                "status": "UNAVAILABLE",
            }
        }
    return {"error": {"code": status, "message": "An internal error has occurred. Please retry.", "status": "INTERNAL"}}


def _pieces(text: str, words_per_piece: int = 3) -> list[str]:
    words = text.split(" ")
    return [
        " ".join(words[i : i + words_per_piece]) + (" " if i + words_per_piece < len(words) else "")
        for i in range(0, len(words), words_per_piece)
    ]


def _response(model: str, reply: Reply, text: str, written: int, last: bool) -> dict:
    """A GenerateContentResponse; usage is the running total so far, as the API sends it."""
    candidate: dict = {"content": {"parts": [{"text": text}], "role": "model"}, "index": 0}
    usage = {
        "promptTokenCount": reply.prompt_tokens,
        "candidatesTokenCount": written,
        "totalTokenCount": reply.prompt_tokens + written + reply.thoughts,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": reply.prompt_tokens}],
    }
    if reply.thoughts:
        usage["thoughtsTokenCount"] = reply.thoughts
    if last and reply.kind != "cut":
        candidate["finishReason"] = reply.finish
    return {"candidates": [candidate], "usageMetadata": usage, "modelVersion": model, "responseId": "fake-response-id"}


class FakeGemini:
    """The server, its script and its request log."""

    def __init__(self, expected_key: str | None = None):
        self.expected_key = expected_key
        self.clock = time.monotonic  # when each request came (tests/test_gemini.py puts a fake clock here)
        self.requests: list[dict] = []
        self.at_once = 0  # requests in flight now (the loop's one thread counts them)
        self.most_at_once = 0
        self._script: deque[Reply] = deque()
        self.default = Reply()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0
        self.app = self._make_app()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def script(self, *replies: Reply) -> None:
        """The next requests get these replies, in order; then `self.default`."""
        self._script.extend(replies)

    def reset(self) -> None:
        self.requests.clear()
        self.at_once = self.most_at_once = 0
        self._script.clear()
        self.default = Reply()

    def _next(self) -> Reply:
        return self._script.popleft() if self._script else self.default

    def _make_app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/{version}/models/{target}")
        async def models(version: str, target: str, request: Request) -> Response:
            self.at_once += 1
            self.most_at_once = max(self.most_at_once, self.at_once)
            try:
                return await answer(version, target, request)
            finally:
                self.at_once -= 1

        async def answer(version: str, target: str, request: Request) -> Response:
            model, _, method = target.partition(":")
            raw = await request.body()
            key = request.headers.get("x-goog-api-key")
            self.requests.append(
                {
                    "version": version,
                    "model": model,
                    "method": method,
                    "alt": request.query_params.get("alt"),
                    "body": json.loads(raw or b"{}"),
                    "key_ok": self.expected_key in (None, key),
                    "at": self.clock(),
                }
            )
            if method not in ("generateContent", "streamGenerateContent"):
                return JSONResponse(error_body(404, model=model), status_code=404)
            if not self.requests[-1]["key_ok"]:
                return JSONResponse(error_body(400), status_code=400)
            reply = self._next()
            deadline = time.monotonic() + TOGETHER_BOUND_S
            while self.most_at_once < reply.together and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            await asyncio.sleep(reply.wait_s)
            if reply.kind == "error":
                body = error_body(reply.status, reply.retry_delay, model, reply.message)
                return JSONResponse(body, status_code=reply.status)
            if method == "generateContent":
                if reply.kind == "malformed":
                    return Response("<html><body>502 Bad Gateway</body></html>", media_type="application/json")
                written = len(reply.text.split())
                return JSONResponse(_response(model, reply, reply.text, written, last=True))
            return StreamingResponse(self._events(model, reply), media_type="text/event-stream")

        return app

    async def _events(self, model: str, reply: Reply):
        pieces = _pieces(reply.text)
        written = 0
        for i, piece in enumerate(pieces):
            if reply.kind != "ok" and i == reply.after:
                break
            written += len(piece.split())
            event = _response(model, reply, piece, written, last=i == len(pieces) - 1)
            yield f"data: {json.dumps(event)}\r\n\r\n".encode()
            await asyncio.sleep(reply.delay_s)
        if reply.kind == "malformed":
            yield b'data: {"candidates": [{"content": {"parts": [{"te\r\n\r\n'
        elif reply.kind == "stall":
            await asyncio.sleep(reply.stall_s)
        elif reply.kind == "die":
            raise ConnectionResetError("the fake server cuts the connection")

    # -- running -------------------------------------------------------------------------

    def start(self) -> FakeGemini:
        self._server, self._thread, self.port = serve_in_thread(self.app, "fake-gemini")
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            self._thread.join(10)


def serve_in_thread(app, name: str) -> tuple[uvicorn.Server, threading.Thread, int]:
    """Run an ASGI app with uvicorn in a daemon thread on 127.0.0.1 at a free port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="critical", timeout_graceful_shutdown=1, lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=name, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError(f"{name} did not start within 10s")
        time.sleep(0.02)
    return server, thread, port


# -- pytest fixtures (import them into a test module to use them) ---------------------------

TEST_KEY = "AIzaSyLFWB-test-key-0123456789abcdefXYZ"
TEST_KEY_ENV = "LFWB_TEST_GEMINI_KEY"


@pytest.fixture(scope="session")
def _gemini_server():
    server = FakeGemini(expected_key=TEST_KEY).start()
    yield server
    server.stop()


@pytest.fixture
def fake_gemini(_gemini_server, monkeypatch):
    """The fake Gemini API, its script and log cleared; its key in $LFWB_TEST_GEMINI_KEY."""
    _gemini_server.reset()
    monkeypatch.setenv(TEST_KEY_ENV, TEST_KEY)
    yield _gemini_server
    _gemini_server.reset()


def register_fake(wb, server: FakeGemini, name: str = "g", source: str = "gemini-2.5-pro", **options):
    """Register a Gemini model that talks to `server` (short retry waits unless given)."""
    from lfwb.runtimes import ModelConfig

    settings = {"base_url": server.url, "api_key_env": TEST_KEY_ENV, "retry_base_s": 0.01, "timeout_s": 10}
    settings.update(options)
    return wb.manager.register(ModelConfig(name=name, source=source, runtime="gemini", options=settings))
