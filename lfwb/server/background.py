"""The server on a thread inside the kernel (`%lfw serve`), or in the foreground (`lfwb serve`).

    server = start(lfwb.workbench(), port=7860)      # returns once it accepts connections
    server.url, status(), stop()

One server per kernel: its HTTP clients share the notebook's Workbench — the same loaded
models, one queue per model. Where it may listen is decided here, once, for both faces:
127.0.0.1 by default; any other address needs a token (`token="auto"` makes one, printed once).
"""

from __future__ import annotations

import errno
import ipaddress
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import BadInput
from .connections import Listener

if TYPE_CHECKING:
    from ..workbench import Workbench

DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 7860
START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 10.0
STOP_GRACE_S = 2  # what a stop leaves answers in progress before cancelling them


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def checked_token(host: str, token: str | None) -> tuple[str | None, bool]:
    """The token to require and whether it was made here (then the caller prints it once).
    Off loopback a token is required: refused without one, so no address is ever open by mistake."""
    if token == "auto":
        return secrets.token_urlsafe(24), True
    if token is not None and len(token) < 8:
        raise BadInput("a token needs at least 8 characters — or pass --token auto to have one made")
    if token is None and not is_loopback(host):
        raise BadInput(
            f"serving on {host} lets other machines in, so it needs a token — pass --token TOKEN, "
            "or --token auto to have one made and printed once"
        )
    return token, False


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound and listening here rather than in uvicorn: a failure is one line with the
    right hint (uvicorn logs its own and exits), and with port 0 the real port is known at once."""
    if not 0 <= port <= 65535:  # getaddrinfo wraps a larger one round; bind raises OverflowError
        raise BadInput(f"--port must be from 0 to 65535, got {port}")
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        sock = Listener(family, socket.SOCK_STREAM)
    except OSError as e:
        raise BadInput(
            f"cannot listen on {host}: {e.strerror or e} — give an address of this machine, e.g. 127.0.0.1"
        ) from None
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        if e.errno == errno.EADDRINUSE:
            hint = "the port is taken — try another --port, or --port 0 for a free one"
        elif e.errno == errno.EADDRNOTAVAIL:
            hint = "that address is not one of this machine's — use 127.0.0.1, or an address `ip addr` lists"
        elif e.errno == errno.EACCES:
            hint = "ports under 1024 need privileges — use a port from 1024 up, or --port 0"
        else:
            hint = f"{e.strerror or e}"
        raise BadInput(f"cannot listen on {host}:{port}: {hint}") from None
    sock.listen()  # connections queue from now on: the address printed is reachable at once
    return sock


def free_port(host: str = DEFAULT_HOST) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


@dataclass
class Running:
    """A server started by `start`: where it listens, its uvicorn.Server and thread."""

    host: str
    port: int
    token: str | None = field(repr=False)  # a repr is shown in notebooks and logs
    server: Any
    thread: threading.Thread
    started_at: float

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def status(self) -> dict:
        return {
            "running": self.thread.is_alive(),
            "url": self.url,
            "docs": f"{self.url}/docs",
            "openai_base_url": f"{self.url}/v1",
            "token_required": self.token is not None,
            "uptime_s": round(time.monotonic() - self.started_at, 1),
        }


_current: Running | None = None
_lock = threading.Lock()


def uvicorn_config(app: Any, host: str, port: int) -> Any:
    import uvicorn

    from .connections import ACCEPT_BURST, Connection

    # ws="websockets-sansio": the websockets library's maintained protocol; no access log: a
    # notebook's output is not a log file. A stop waits STOP_GRACE_S for answers in progress,
    # then cancels them: an open stream or a slow client never keeps the server from stopping.
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        http=Connection,
        backlog=ACCEPT_BURST,
        ws="websockets-sansio",
        lifespan="off",
        timeout_graceful_shutdown=STOP_GRACE_S,
    )


def start(
    workbench: Workbench,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    token: str | None = None,
    cors: list[str] | None = None,
    max_body: int | None = None,
    allow_remote_register: bool = False,
) -> Running:
    """Start the app on a background thread; returns once it accepts connections (or raises)."""
    global _current
    import uvicorn

    from .app import MAX_BODY_BYTES, create_app

    with _lock:
        if _current is not None and _current.thread.is_alive():
            raise BadInput(f"a server is already running at {_current.url} — stop it with %lfw serve --stop")
        token, made = checked_token(host, token)
        sock = bind(host, port)
        app = create_app(
            workbench,
            token=token,
            cors=cors,
            max_body=max_body or MAX_BODY_BYTES,
            host=host,
            allow_remote_register=allow_remote_register,
        )
        # uvicorn (0.29+) installs signal handlers only on the main thread: the kernel keeps its own.
        server = uvicorn.Server(uvicorn_config(app, host, port))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="lfwb-serve", daemon=True)
        thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not server.started and thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        if not server.started:
            server.should_exit = True
            thread.join(STOP_TIMEOUT_S)
            sock.close()
            raise BadInput(
                f"the server on {host}:{port} did not start within {START_TIMEOUT_S:.0f} s — see the kernel's log"
            )
        port = sock.getsockname()[1]  # the real one when port 0 was asked
        _current = Running(host, port, token, server, thread, time.monotonic())
        if made:
            print(f"lfwb serve: token {token} (shown once; send it as 'Authorization: Bearer TOKEN')")
        return _current


def stop() -> dict:
    """Stop the kernel's server (generations it streams are cancelled, their runs kept)."""
    global _current
    with _lock:
        running, _current = _current, None
    if running is None:
        return {"running": False}
    running.server.should_exit = True
    running.thread.join(STOP_TIMEOUT_S)
    if running.thread.is_alive():  # connections that would not close: force it
        running.server.force_exit = True
        running.thread.join(STOP_TIMEOUT_S)
    return {"running": False, "stopped": running.url}


def status() -> dict:
    running = _current
    return running.status() if running is not None and running.thread.is_alive() else {"running": False}
