"""A generation on a thread of its own, followed from the event loop.

The event loop never computes and never waits on a model: `Generation` runs the Workbench call
on its own thread (the model's worker queues it behind other generations on that model) and
hands its events — start, each new piece of text, the end — to the loop through a queue. A
route that streams stops it (`halt()`) when the client goes away: the run ends `cancelled`
with the text so far, as after a stop in the notebook. Given the app's `generating` dict, it
is found there by its run id while it runs, so `POST /runs/{id}/cancel` can halt it too.

    gen = Generation(lambda g: g.follow(wb.start_generate(p, on_text=g.on_text, on_start=g.on_start)))
    async for kind, value in gen.start():     # ("start", result) ("text", delta) ... ("done", result)
        ...
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from ..runs import Cancelled

CANCEL_WAIT_S = 30.0  # a stopped run ends between tokens; past this the answer shows it still running


class Generation:
    """`call(generation)` on a thread; its events as an async iterator (see the module doc)."""

    def __init__(self, call: Callable[[Generation], Any], running: dict[int, Generation] | None = None):
        self.call = call
        self.running = running  # run id → generation, for every one this app has running
        self.run_ids: list[int] = []
        self.handle: Any = None  # the Workbench's Handle the call follows (see `follow`)
        self.halted = False
        self.loop = asyncio.get_running_loop()
        self.events: asyncio.Queue = asyncio.Queue()
        self.result: Any = None
        self._sent = 0
        self.thread = threading.Thread(target=self._run, name="lfwb-serve-generation", daemon=True)

    def start(self) -> Generation:
        self.thread.start()
        return self

    def halt(self) -> None:
        """The client is gone (or asked to cancel): stop the model, keep the partial text."""
        self.halted = True
        if self.handle is not None:
            self.handle.cancel()

    def follow(self, handle: Any) -> Any:
        """Run `handle` (a Workbench operation's) here; `halt()` cancels it. Returns its result."""
        self.handle = handle
        if self.halted:
            handle.cancel()
        return handle.result()

    # -- the generation's thread --------------------------------------------------------

    def on_start(self, result: Any) -> None:
        self.result = result  # the run so far: what a cancelled one answers with
        run_id = getattr(result, "run_id", None)
        if self.running is not None and run_id is not None:
            self.run_ids.append(run_id)
            self.running[run_id] = self
        self._put("start", result)

    def on_text(self, text: str, result: Any = None) -> None:
        delta, self._sent = text[self._sent:], len(text)
        if delta:
            self._put("text", delta)

    def _run(self) -> None:
        try:
            self.result = self.call(self)
            last: tuple[str, Any] = ("done", self.result)
            if self.handle is not None and self.handle.status == "cancelled":
                last = ("cancelled", Cancelled(self.handle.cancelled_line or "cancelled", result=self.result))
        except Cancelled as stopped:  # self.result is the run from on_start: `cancelled`, text kept
            last = ("cancelled", stopped)
        except BaseException as e:  # reaches the client, never dies silently in the thread
            last = ("error", e)
        # The run's row is finished by now. It leaves `running` before the client hears the end,
        # so a cancel sent right after the answer is told the run has ended (409), not stopped.
        for run_id in self.run_ids:
            if self.running is not None and self.running.get(run_id) is self:
                del self.running[run_id]
        self._put(*last)

    def _put(self, kind: str, value: Any) -> None:
        try:
            self.loop.call_soon_threadsafe(self.events.put_nowait, (kind, value))
        except RuntimeError:  # the loop has closed (server stopped): nobody is listening
            pass

    # -- the event loop -----------------------------------------------------------------

    def __aiter__(self) -> AsyncIterator[tuple[str, Any]]:
        return self._events()

    async def _events(self) -> AsyncIterator[tuple[str, Any]]:
        """Events until the end (`done`, `cancelled` or `error`). Leaving early stops the run."""
        finished = False
        try:
            while True:
                kind, value = await self.events.get()
                yield kind, value
                if kind in ("done", "cancelled", "error"):
                    finished = True
                    return
        finally:
            if not finished:
                self.halt()

    async def started(self) -> Any:
        """The run once its row exists (the first event); raises what refused the call before that."""
        kind, value = await self.events.get()
        if kind == "error":
            raise value
        return value

    async def finished(self) -> Any:
        """The run once it has ended — stopped (`cancelled`), the run with its text so far; raises
        the error that ended it."""
        async for kind, value in self:
            if kind == "error":
                raise value
            if kind in ("done", "cancelled"):
                return value if kind == "done" else self.result
        raise AssertionError("unreachable: a generation always ends")


async def on_own_thread(fn: Callable[[], Any]) -> Any:
    """`fn()` on a fresh thread (a model load, a pipeline's start), awaited without holding the
    threadpool that CRUD routes run in."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future = loop.create_future()

    def run() -> None:
        try:
            value = fn()
        except BaseException as e:
            loop.call_soon_threadsafe(_settle, done, None, e)
        else:
            loop.call_soon_threadsafe(_settle, done, value, None)

    threading.Thread(target=run, name="lfwb-serve-work", daemon=True).start()
    return await done


async def run_ended(store: Any, run_id: int, within_s: float = CANCEL_WAIT_S) -> dict:
    """The run's row once it is no longer `running` (a stopped run ends between two tokens),
    or as it is after `within_s`."""

    def wait() -> dict:
        deadline = time.monotonic() + within_s
        while (row := store.get_run(run_id))["status"] == "running" and time.monotonic() < deadline:
            time.sleep(0.02)
        return row

    return await on_own_thread(wait)


def _settle(future: asyncio.Future, value: Any, error: BaseException | None) -> None:
    if future.cancelled():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(value)
