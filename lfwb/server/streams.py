"""A generation on a thread of its own, followed from the event loop.

The event loop never computes and never waits on a model: `Generation` runs the Workbench call
on its own thread (the model's worker queues it behind other generations on that model) and
hands its events — start, each new piece of text, the end — to the loop through a queue. A
route that streams stops it (`stop()`) when the client goes away: the run ends `cancelled`
with the text so far, as after a stop in the notebook.

    gen = Generation(lambda g: wb.generate(p, on_text=g.on_text, on_start=g.on_start, hold=g.stop))
    async for kind, value in gen.start():     # ("start", result) ("text", delta) ... ("done", result)
        ...
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

from ..runs import Cancelled, StopHold


class Generation:
    """`call(generation)` on a thread; its events as an async iterator (see the module doc)."""

    def __init__(self, call: Callable[[Generation], Any]):
        self.call = call
        self.stop = StopHold()  # what wb.generate takes; stop.stop() ends the run `cancelled`
        self.cancel = threading.Event()  # the same, for calls that take an Event (a chat turn)
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
        self.cancel.set()
        self.stop.stop()

    # -- the generation's thread --------------------------------------------------------

    def on_start(self, result: Any) -> None:
        self._put("start", result)

    def on_text(self, text: str, result: Any = None) -> None:
        delta, self._sent = text[self._sent:], len(text)
        if delta:
            self._put("text", delta)

    def _run(self) -> None:
        try:
            self.result = self.call(self)
            self._put("done", self.result)
        except Cancelled as stopped:
            self._put("cancelled", stopped)
        except BaseException as e:  # reaches the client, never dies silently in the thread
            self._put("error", e)

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

    async def outcome(self) -> tuple[str, Any]:
        """Wait for the end; returns its (kind, value)."""
        async for kind, value in self:
            if kind in ("done", "cancelled", "error"):
                return kind, value
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


def _settle(future: asyncio.Future, value: Any, error: BaseException | None) -> None:
    if future.cancelled():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(value)
