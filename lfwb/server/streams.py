"""A Workbench operation's handle (lfwb/handles.py), followed from the event loop.

The event loop never computes and never waits on a model: the Workbench's handle does the work
on its own worker (the model's worker queues it behind other generations on that model), and
the loop follows it with `async for` — start, each new piece of text, the end. A route that
streams stops it (`handle.cancel()`) when the client goes away: the run ends `cancelled` with
the text so far, as after a stop in the notebook. Given the app's `generating` dict, the handle
is found there by its run id while it runs, so `POST /runs/{id}/cancel` can cancel it too.

    followed = Followed(wb.start_generate(prompt), app.state.generating)
    run = await followed.started()            # the run once its row exists; raises what refused it
    async for kind, value in followed:        # ("text", delta) ... ("done" | "cancelled" | "error", ...)
        ...
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any, Generic, TypeVar

from ..handles import Handle, Started, Text
from ..stops import Cancelled

CANCEL_WAIT_S = 30.0  # a stopped run ends between tokens; past this the answer shows it still running
ENDS = ("done", "cancelled", "error")

T = TypeVar("T")


class Followed(Generic[T]):
    """A handle's events as `(kind, value)` pairs for a route (see the module docstring)."""

    def __init__(self, handle: Handle[T], running: dict[int, Handle] | None = None):
        self.handle = handle
        self.running = running  # run id → handle, for every one this app has running
        self._events = self._follow()

    def __aiter__(self) -> AsyncIterator[tuple[str, Any]]:
        return self._events

    async def _follow(self) -> AsyncIterator[tuple[str, Any]]:
        """("start", run), ("text", delta)..., then one end: ("done", result), ("cancelled",
        Cancelled carrying the result with its text so far) or ("error", e). Leaving early stops it."""
        run_ids: list[int] = []
        try:
            try:
                async for event in self.handle.aevents(started=True):
                    if isinstance(event, Started):
                        run_id = getattr(event.run, "run_id", None)
                        if self.running is not None and run_id is not None:
                            run_ids.append(run_id)
                            self.running[run_id] = self.handle
                        yield "start", event.run
                    elif isinstance(event, Text) and event.piece:
                        yield "text", event.piece
                result = self.handle.result()
                if self.handle.status == "cancelled":
                    end: tuple[str, Any] = (
                        "cancelled",
                        Cancelled(self.handle.cancelled_line or "cancelled", result=result),
                    )
                else:
                    end = ("done", result)
            except Cancelled as stopped:
                end = ("cancelled", stopped)
            except Exception as e:  # reaches the client, never dies silently
                end = ("error", e)
        finally:
            # The run's row is finished by now. It leaves `running` before the client hears the
            # end, so a cancel sent right after the answer is told the run has ended (409).
            for run_id in run_ids:
                if self.running is not None and self.running.get(run_id) is self.handle:
                    del self.running[run_id]
            if not self.handle.done:  # the client left (or the task was cancelled): stop the model
                self.handle.cancel()
        yield end

    async def started(self) -> Any:
        """The run once its row exists (the first event); raises what refused the call before that."""
        kind, value = await self._events.__anext__()
        if kind == "error":
            raise value
        if kind == "cancelled":  # stopped before a row was written: nothing to follow
            raise value
        return value

    async def finished(self) -> T:
        """The result once it has ended — stopped (`cancelled`): the run with its text so far;
        raises the error that ended it."""
        async for kind, value in self:
            if kind == "error":
                raise value
            if kind in ("done", "cancelled"):
                return value if kind == "done" else value.result
        raise AssertionError("unreachable: a handle always ends")


async def on_own_thread(fn: Callable[[], Any]) -> Any:
    """`fn()` (a model load) on a handle's worker, awaited without holding the threadpool that
    CRUD routes run in."""
    return await Handle(lambda _handle: fn())


async def run_ended(handle: Handle, within_s: float = CANCEL_WAIT_S) -> None:
    """Once `handle` has ended (a stopped run ends between two tokens), or after `within_s`."""
    try:
        await asyncio.wait_for(handle.ended(), within_s)
    except asyncio.TimeoutError:
        pass
