"""Stopping a run: the one stop primitive (`Stop`), holding stops (`held_stops`), `Cancelled`.

A stop (the notebook's stop button, Ctrl-C: SIGINT) must never cut the row's writes, however
it is timed. While a run records itself its stops are held (`held_stops`): each one cancels the
generation at once, but KeyboardInterrupt is raised only while waiting for the model's next
piece of text, where it cuts nothing; the row is finished, then `Cancelled` goes on.
A `Stop` is stopped by SIGINT in the cell or by `stop()` from any thread (a handle's
`cancel()`, lfwb/handles.py); either way the run ends the same: `cancelled`, its text kept.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class Cancelled(KeyboardInterrupt):
    """A run was stopped; its row is finished (`cancelled`, with the text so far).

    A KeyboardInterrupt, not an LfwbError: a stop must still stop the cell (and a "Run all"),
    and no `except Exception` may swallow it. In IPython it renders as its one line; the
    interrupted frames stay available through `%lfw error` or `%tb`.

    `result` is what the run left (a RunResult, a PipelineResult, a ChatReply, a batch's rows),
    finished `cancelled` with its text so far, for a face that shows it.
    """

    def __init__(self, line: str = "stopped", result: Any = None):
        super().__init__(line)
        self.result = result

    def _render_traceback_(self) -> list[str]:
        return [f"\x1b[33m{self}\x1b[0m"]


class Stop:
    """The one way to stop a run: SIGINT in the cell (while the run records itself, see
    `held_stops`) or `stop()` from any thread (a handle's `cancel()`, lfwb/handles.py)."""

    def __init__(self) -> None:
        self.pending = False  # a stop arrived and was not raised yet
        self.requested = False  # stop() asked for it (a caller), not the keyboard
        self.cancels: list = []  # what a stop sets: the streams' events, nested runs' Stops
        self.after: str | None = None  # what a stop that arrives once the run is finished says
        self._armed = False

    def __call__(self, signum: int, frame: Any) -> None:
        for cancel in self.cancels:
            cancel.set()
        if self._armed:
            self._armed = False
            raise KeyboardInterrupt
        self.pending = True

    def next(self, chunks: Iterator, end: Any) -> Any:
        """`next(chunks, end)`: the one place where a stop raises. Waiting for the model's next
        chunk, nothing is half written; a stop noted earlier raises here too."""
        if self.pending:
            self.pending = False
            raise KeyboardInterrupt
        self._armed = True
        try:
            return next(chunks, end)
        finally:
            self._armed = False

    def take(self) -> bool:
        """Did a stop arrive (and not raise yet)? Forgets it."""
        pending, self.pending = self.pending, False
        return pending

    def set(self) -> None:
        """A nested run's Stop was stopped (see `held_stops`): stop as a signal would, unraised."""
        self.pending = True
        for cancel in list(self.cancels):
            cancel.set()

    def stop(self) -> None:
        """A stop from another thread (a pipeline stopping its steps): the streams are cancelled
        and the run ends `cancelled` at its next wait, as after a signal."""
        self.requested = True
        self.pending = True  # before the cancels: the stream that ends sees it noted
        for cancel in list(self.cancels):
            cancel.set()


@contextmanager
def held_stops(hold: Stop | None = None) -> Iterator[Stop]:
    """Hold stops for the block: none raises except in `Stop.next`.

    A nested block shares the outer hold. The outermost one puts Python's SIGINT handler back
    at its end and, if a stop arrived after the run was decided, raises `Cancelled` then (the
    cell stops, as a stop asks). Only the main thread gets signals; elsewhere, or where SIGINT
    does not raise KeyboardInterrupt, the hold only takes the stops given to `hold` (`stop()`).
    """
    on_main = threading.current_thread() is threading.main_thread()
    handler = signal.getsignal(signal.SIGINT) if on_main else None
    outer = handler if isinstance(handler, Stop) else None
    given = hold if outer is not None and hold is not None and hold is not outer else None
    if given is not None:
        given.cancels.append(outer)  # a run's own Stop inside a held block: its stop() reaches the block's
    hold = outer or hold or Stop()
    owner = handler is signal.default_int_handler
    if owner:
        signal.signal(signal.SIGINT, hold)
    try:
        yield hold
    finally:
        if owner:
            signal.signal(signal.SIGINT, handler)
        if given is not None:
            given.cancels.remove(outer)
    if owner and hold.pending and not hold.requested:  # a caller's late stop() has nothing left to stop
        raise Cancelled(hold.after or "stopped")
