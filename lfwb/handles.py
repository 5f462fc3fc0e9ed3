"""One handle for anything that runs: a generation, a chat turn, a pipeline run, a batch, a compare.

    >>> h = wb.start_generate("Write a haiku about SQLite")
    >>> for event in h:                    # Text pieces as they come (Update for pipelines)
    ...     print(event.piece, end="")
    >>> h.result().status                  # "done"; after h.cancel() from any thread: "cancelled"
    >>> await wb.agenerate("Hi")           # the same handle, awaited (a notebook cell can too)

Like llm's `Response`, the handle is the one object every consumer uses: the magics, the panels,
the server and user code. It has one way to stop (`cancel()`, which sets the operation's `Stop`),
and a stop has one outcome: `result()` returns the operation's result marked `cancelled` with its
partial text. Only a stop the caller did not ask for — SIGINT in the cell — raises `Cancelled`
(carrying that same result), so a stopped cell still stops a "Run all".

The work runs on the thread that asks for it first: `result()` runs it right there (a notebook
cell keeps SIGINT, mapped onto the same `Stop`); iterating or awaiting runs it on the handle's
one worker thread and hands its events over (to an asyncio loop without blocking it).
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from .stops import Cancelled, Stop

T = TypeVar("T")


@dataclass
class Started:
    """The operation's row exists: `run` is its result so far (a RunResult, a PipelineResult...)."""

    run: Any


@dataclass
class Text:
    """A new piece of text; `text` is the whole text so far."""

    piece: str
    text: str


@dataclass
class Note:
    """A line about the operation while it waits for something (a chat turn waiting for its
    summary to be written), for a face to show."""

    line: str


@dataclass
class Update:
    """A step of a longer operation changed (a pipeline's result, a batch's progress, a compare)."""

    value: Any


_END = object()


class Handle(Generic[T]):
    """A long operation in progress; see the module docstring.

    `work(handle)` does the operation: it passes `handle.stop` to what records it and reports
    through `handle.started(run)`, `handle.text(so_far, run)` and `handle.update(value)`.
    """

    def __init__(self, work: Callable[[Handle], T]):
        self.stop = Stop()
        self.run_id: int | None = None
        self.run: Any = None  # the result so far, once its row exists (see `Started`)
        self.status = "pending"  # pending, running, done, failed, cancelled
        self._work = work
        self._lock = threading.Lock()
        self._started = False
        self._done = threading.Event()
        self._value: Any = None
        self._error: BaseException | None = None
        self._sent = 0
        self._listeners: list[Callable[[Any], None]] = []
        self._ending = False  # set once the end callbacks are being called
        self._ends: list[Callable[[], None]] = []  # what runs once it has ended
        self.cancelled_line: str | None = None  # how a stopped run says so, in one line

    def __repr__(self) -> str:
        return f"<Handle run={self.run_id} {self.status}>"

    # -- what the work reports ------------------------------------------------------

    def started(self, run: Any) -> None:
        self.run, self.run_id, self.status = run, getattr(run, "run_id", None), "running"
        self._emit(Started(run))

    def text(self, so_far: str, run: Any = None) -> None:
        piece, self._sent = so_far[self._sent :], len(so_far)
        self._emit(Text(piece, so_far))

    def following(self, on_start: Callable | None = None, on_text: Callable | None = None) -> tuple:
        """(on_start, on_text) for `record_generation` that report here, then call the caller's."""

        def started(run: Any) -> None:
            self.started(run)
            if on_start is not None:
                on_start(run)

        def text(so_far: str, run: Any) -> None:
            self.text(so_far, run)
            if on_text is not None:
                on_text(so_far, run)

        return started, text

    def updating(self, on_update: Callable | None = None) -> Callable:
        """An `on_update` that reports here, then calls the caller's."""

        def update(value: Any) -> None:
            if self.run_id is None:
                self.started(value)
            self.update(value)
            if on_update is not None:
                on_update(value)

        return update

    def update(self, value: Any) -> None:
        self._emit(Update(value))

    def note(self, line: str) -> None:
        self._emit(Note(line))

    def _emit(self, event: Any) -> None:
        for listen in list(self._listeners):
            listen(event)

    # -- what a consumer does -------------------------------------------------------

    def cancel(self) -> None:
        """Stop the operation (from any thread); `result()` then returns it marked cancelled."""
        if not self._done.is_set():
            self.stop.stop()

    def listen(self, callback: Callable[[Any], None]) -> Handle:
        """Call `callback(event)` for each event, `Started(run)` first, on the thread doing the work
        (for a consumer that then calls `result()` on its own thread, as a cell does)."""
        self._listeners.append(callback)
        return self

    def start(self) -> Handle:
        """Run it on the handle's worker thread now (if nobody has started it)."""
        self._start_thread(lambda: None)
        return self

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until it has ended (if it was started; at most `timeout` s), raising nothing;
        whether it has ended."""
        if self._started:
            self._done.wait(timeout)
        return self._done.is_set()

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def result(self) -> T:
        """Wait for the result (running the work here if nobody started it)."""
        if self._claim():
            self._execute()
        elif not self._ending:  # once ending (an on_done callback asks), the outcome is set
            self._done.wait()
        if self._error is not None:
            raise self._error
        return self._value

    def __iter__(self) -> Iterator[Any]:
        """The events (`Text`, `Update`) as they come; the work runs on the handle's thread.
        A KeyboardInterrupt while waiting cancels it, and `Cancelled` follows once it has ended."""
        events: queue.Queue = queue.Queue()
        self._listeners.append(lambda e: None if isinstance(e, Started) else events.put(e))
        self._start_thread(lambda: events.put(_END))
        interrupted = False
        while True:
            try:
                event = events.get()
            except KeyboardInterrupt:
                interrupted = True
                self.cancel()
                continue
            if event is _END:
                break
            yield event
        if interrupted and self.status == "cancelled":
            raise Cancelled(self.cancelled_line or "cancelled", result=self._value)
        if self._error is not None:
            raise self._error

    def __await__(self):
        return self._wait_async().__await__()

    async def _wait_async(self) -> T:
        try:
            await self._finished(asyncio.get_running_loop())
        except asyncio.CancelledError:  # the awaiting task was cancelled: so is the work
            self.cancel()
            raise
        if self._error is not None:
            raise self._error
        return self._value

    async def ended(self) -> None:
        """Wait until it has ended (starting it if nobody has), raising nothing; leaving this
        wait early (a timeout) does not stop the work. The async twin of `wait()`."""
        await asyncio.shield(self._finished(asyncio.get_running_loop()))

    def _finished(self, loop: asyncio.AbstractEventLoop) -> asyncio.Future:
        finished = loop.create_future()
        self._start_thread(lambda: _to_loop(loop, _settle, finished, None))
        return finished

    async def running(self) -> Any:
        """The result so far once its row exists (`Started`), starting the work if nobody has;
        None if it ended without one, raising what refused it. Leaving early does not stop it."""
        loop = asyncio.get_running_loop()
        first = loop.create_future()
        self.listen(lambda e: _to_loop(loop, _settle, first, e.run) if isinstance(e, Started) else None)
        if self.run is not None:
            return self.run
        self._start_thread(lambda: _to_loop(loop, _settle, first, None))
        run = await asyncio.shield(first)
        if run is None and self._error is not None:
            raise self._error
        return run

    def __aiter__(self) -> AsyncIterator[Any]:
        return self.aevents()

    async def aevents(self, started: bool = False) -> AsyncIterator[Any]:
        """`async for`'s events (`Text`, `Update`); `started=True` puts `Started(run)` first, once
        the row exists (a server answers then). Leaving early stops the work."""
        loop = asyncio.get_running_loop()
        events: asyncio.Queue = asyncio.Queue()
        self._listeners.append(
            lambda e: None if isinstance(e, Started) and not started else _to_loop(loop, events.put_nowait, e)
        )
        self._start_thread(lambda: _to_loop(loop, events.put_nowait, _END))
        try:
            while (event := await events.get()) is not _END:
                yield event
        finally:
            if not self.done:  # the reader left early (or was cancelled): stop the work
                self.cancel()
        if self._error is not None:
            raise self._error

    # -- running --------------------------------------------------------------------

    def _claim(self) -> bool:
        with self._lock:
            if self._started:
                return False
            self._started = True
            return True

    def on_done(self, callback: Callable[[], None]) -> Handle:
        """Call `callback()` once it has ended, before `wait()` returns (starting it on the
        handle's thread if nobody has): how a panel follows a run without a thread of its own."""
        self._start_thread(callback)
        return self

    def _start_thread(self, on_end: Callable[[], None]) -> None:
        with self._lock:  # one block: an end added while `_execute` takes the list is never lost
            ending, start = self._ending, not self._started
            if not ending:
                self._ends.append(on_end)
                self._started = True
        if ending:
            on_end()
        elif start:
            # The one worker an operation gets beyond its model's own (see the module docstring).
            threading.Thread(target=self._execute, name="lfwb-handle", daemon=True).start()

    def _execute(self) -> None:
        try:
            self._value = self._work(self)
            self.status = getattr(self._value, "status", "done")
        except Cancelled as stopped:
            self._value, self.status, self.cancelled_line = stopped.result, "cancelled", str(stopped)
            if not self.stop.requested or stopped.result is None:
                self._error = stopped  # SIGINT in the cell: the cell stops, the result goes with it
        except BaseException as e:
            self._error, self.status = e, "failed"
        finally:
            with self._lock:
                self._ending = True
                ends, self._ends = self._ends, []
            try:
                for end in ends:
                    end()
            finally:
                self._done.set()


def _to_loop(loop: asyncio.AbstractEventLoop, fn: Callable, *args: Any) -> None:
    """`fn(*args)` on `loop`'s thread; nothing if the loop has closed (nobody listens any more)."""
    try:
        loop.call_soon_threadsafe(fn, *args)
    except RuntimeError:
        pass


def _settle(future: asyncio.Future, value: Any) -> None:
    if not future.done():
        future.set_result(value)
