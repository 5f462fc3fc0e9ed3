"""A real uvicorn on 127.0.0.1 at a free port, over the test's Workbench, and an SSE reader.

    def test_x(server):                      # `server` needs the `scripted` fixture's models
        server.http.get("/api/v1/runs")       # an httpx.Client on server.url

tests/conftest.py loads this module as a plugin, so every test can ask for `server`.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
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
        return "ws" + self.url[len("http") :]


def start_server(wb: Any, **options: Any) -> Served:
    from lfwb.server import background

    running = background.start(wb, port=0, **options)
    headers = {"Authorization": f"Bearer {running.token}"} if running.token else {}
    return Served(
        running.url, httpx.Client(base_url=running.url, timeout=TIMEOUT_S, headers=headers), wb, running.token
    )


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


@dataclass
class ServeProcess:
    """`lfwb serve` in a process of its own (the console script's code, this checkout's lfwb)."""

    process: subprocess.Popen
    url: str
    log: Path  # its stderr

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.url.removeprefix("http://").rsplit(":", 1)
        return host, int(port)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(TIMEOUT_S)
        self.process.stdout.close()


def serve_process(db: Path, *args: str, open_files: int | None = None) -> ServeProcess:
    """Start `lfwb serve --db DB --port 0 ARGS` and return once it has printed its address (it
    listens by then). `open_files` lowers its limit on open files (`ulimit -n`)."""

    def limit_files() -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_NOFILE, (open_files, open_files))

    log = db.with_name(db.name + ".serve.log")
    command = [sys.executable, "-m", "lfwb.server.cli", "serve", "--db", str(db), "--port", "0", *args]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[1]), os.environ.get("PYTHONPATH", "")]),
    }
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=log.open("w"),
        text=True,
        env=env,
        preexec_fn=limit_files if open_files else None,
    )
    ready, _, _ = select.select([process.stdout], [], [], TIMEOUT_S)
    line = process.stdout.readline() if ready else ""
    if "http://" not in line:
        process.kill()
        raise AssertionError(f"lfwb serve did not start: {line!r} {log.read_text()[-2000:]}")
    return ServeProcess(process, line.split()[2], log)


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
