"""A real uvicorn on 127.0.0.1 at a free port, over the test's Workbench, and an SSE reader.

    def test_x(server):                      # `server` needs the `scripted` fixture's models
        server.http.get("/api/v1/runs")       # an httpx.Client on server.url

tests/conftest.py loads this module as a plugin, so every test can ask for `server`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

TIMEOUT_S = 20.0  # every request of a test is bounded; nothing in these tests takes a second


@dataclass
class Served:
    url: str
    http: httpx.Client
    wb: Any
    token: str | None = None

    @property
    def ws_url(self) -> str:
        return "ws" + self.url[len("http"):]


def start_server(wb: Any, **options: Any) -> Served:
    from lfwb.server import background

    running = background.start(wb, port=0, **options)
    headers = {"Authorization": f"Bearer {running.token}"} if running.token else {}
    return Served(running.url, httpx.Client(base_url=running.url, timeout=TIMEOUT_S, headers=headers), wb, running.token)


@pytest.fixture
def server(scripted) -> Iterator[Served]:
    """The server over the `scripted` Workbench (register models with `scripted.model(...)`)."""
    from lfwb.server import background

    served = start_server(scripted.wb)
    try:
        yield served
    finally:
        served.http.close()
        background.stop()


def sse_events(lines: Iterator[str]) -> Iterator[tuple[str, Any]]:
    """Server-Sent Events as a browser's EventSource reads them: `event:` and `data:` fields, data
    lines joined by newlines, dispatched on a blank line, comments (`:`) ignored. Data is JSON
    (lfwb's events) or the text as is (`[DONE]`)."""
    event, data = "message", []
    for line in lines:
        if line == "":
            if data:
                text = "\n".join(data)
                try:
                    yield event, json.loads(text)
                except ValueError:
                    yield event, text
            event, data = "message", []
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if field == "event":
            event = value
        elif field == "data":
            data.append(value)


def read_sse(response: httpx.Response) -> list[tuple[str, Any]]:
    return list(sse_events(response.iter_lines()))
