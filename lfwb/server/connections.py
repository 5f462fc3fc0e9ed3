"""uvicorn's HTTP/1.1 protocol (h11) with limits for clients that connect and then dawdle.

uvicorn waits for a request's head as long as a client likes, and keeps every connection it
accepts: 300 clients that each send half a request line hold 300 sockets, and under
`ulimit -n 256` the server can accept no one else. Here:

- the head (request line and headers) must arrive within HEAD_TIMEOUT_S of the connection
  opening or of the previous answer: a client that sent part of one is answered 408 and closed;
- at most `max_open()` connections stay open (from the process's limit on open files): past it,
  the connection that has waited longest for a head is closed to make room for the new one, and
  when every connection is busy with a request, the new one is answered 503;
- asyncio accepts as many connections in one turn of its loop as the backlog uvicorn hands it,
  before `Connection` sees any: uvicorn is given ACCEPT_BURST, so the cap holds between turns
  (and no burst of accepts runs out of files), while `Listener` keeps the kernel's queue long.

The body has its deadline in guards.BodyCap. background.py binds a `Listener` and passes
`Connection` to uvicorn.
"""

from __future__ import annotations

import json
import socket
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

HEAD_TIMEOUT_S = 10.0
MOST_CONNECTIONS = 1000
BACKLOG = 2048  # connections the kernel queues until they are accepted (uvicorn's default)
ACCEPT_BURST = 16  # connections asyncio accepts in one turn of its loop
# Files beside the connections: the store and its WAL, models, the loop's own; and the accepts of
# the few turns it takes a closed connection to give its file back.
SPARE_FILES = 64 + 3 * ACCEPT_BURST


def raise_file_limit() -> None:
    """Lift this process's soft limit on open files to its hard limit (at most 65536), as Go's
    runtime does for every server: a soft 256 (macOS's default) would cap connections at 144."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        wanted = 65536 if hard == resource.RLIM_INFINITY else min(hard, 65536)
        if soft != resource.RLIM_INFINITY and soft < wanted:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    except (ImportError, OSError, ValueError):  # no rlimits (Windows), or not allowed: keep the limit
        pass


class Listener(socket.socket):
    """The listening socket: asyncio's `listen(ACCEPT_BURST)` leaves the kernel's queue BACKLOG long."""

    def listen(self, backlog: int = BACKLOG) -> None:
        super().listen(max(backlog, BACKLOG))


def max_open() -> int:
    """How many connections may be open at once: the file limit less what the rest of the server needs."""
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (ImportError, OSError):  # no rlimits here (Windows)
        return MOST_CONNECTIONS
    if soft == resource.RLIM_INFINITY:
        return MOST_CONNECTIONS
    return max(8, min(MOST_CONNECTIONS, soft - SPARE_FILES))


class Connection(H11Protocol):
    """One HTTP connection; `waiting_since` is set while it waits for a request's head."""

    limit: int | None = None  # None: max_open(), looked up as connections open

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self.head_timer: Any = None
        self.waiting_since: float | None = None
        self._await_head()
        self._make_room()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.waiting_since is not None and self.cycle is not self._answered:
            self._stop_waiting()  # a head arrived: uvicorn made a new request cycle for it

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.cycle is None or self.cycle.response_complete:  # not a pipelined request already in
            self._await_head()

    def handle_websocket_upgrade(self, event: Any) -> None:
        self._stop_waiting()  # the socket is a WebSocket's now, with its own pings and close
        super().handle_websocket_upgrade(event)

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_waiting()
        super().connection_lost(exc)

    def shutdown(self) -> None:
        """The server stops: a request whose body is still arriving will not be answered, so its
        connection closes now (uvicorn would wait for it, then cancel it with a traceback)."""
        if self.cycle is not None and self.cycle.more_body and not self.cycle.response_started:
            self._stop_waiting()
            self.transport.close()
            return
        super().shutdown()

    def send_400_response(self, msg: str) -> None:
        """Bytes that are not HTTP/1.1 (or a head over h11's size limit): lfwb's error shape."""
        self._answer_and_close(
            400,
            "Bad Request",
            "bad_request",
            "the request is not valid HTTP/1.1",
            "send a well-formed request with headers under 16 KiB",
        )

    # -- the head's deadline and the cap --------------------------------------------------

    def _await_head(self) -> None:
        self._stop_waiting()
        if self.transport.is_closing():
            return
        self._answered = self.cycle  # the cycle that is over (None before the first request)
        self.waiting_since = self.loop.time()
        self.head_timer = self.loop.call_later(HEAD_TIMEOUT_S, self._head_too_slow)

    def _stop_waiting(self) -> None:
        if self.head_timer is not None:
            self.head_timer.cancel()
        self.head_timer = self.waiting_since = None

    def _head_too_slow(self) -> None:
        self.head_timer = None
        self._drop(f"the request's head did not arrive within {HEAD_TIMEOUT_S:.0f} s")

    def _drop(self, why: str) -> None:
        """Close a connection that is waiting for a head: with a 408 when part of one came (the
        client is sending and should know why), silently when it is idle between requests."""
        self._stop_waiting()
        if self.transport.is_closing():
            return
        if self.conn.trailing_data[0]:
            self._answer_and_close(408, "Request Timeout", "request_timeout", why, "send the request again, whole")
        else:
            self.transport.close()

    def _make_room(self) -> None:
        limit = self.limit or max_open()
        if len(self.connections) <= limit:
            return
        waiting = [
            (c.waiting_since, c)
            for c in self.connections
            if isinstance(c, Connection) and c is not self and c.waiting_since is not None
        ]
        if waiting:
            min(waiting, key=lambda since_c: since_c[0])[1]._drop(f"the server has {limit} connections open")
        else:
            self._stop_waiting()
            self._answer_and_close(
                503,
                "Service Unavailable",
                "too_many_connections",
                f"the server has {limit} connections open, all busy",
                "try again in a moment",
            )

    def _answer_and_close(self, status: int, reason: str, code: str, message: str, hint: str) -> None:
        """Written as bytes: h11 sends a response only to a request it has read whole."""
        data = json.dumps({"code": code, "message": message, "line": f"BadInput: {message} — {hint}"}).encode()
        head = (
            f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(data)}\r\nconnection: close\r\n\r\n"
        ).encode()
        self.transport.write(head + data)
        self.transport.close()
