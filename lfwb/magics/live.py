"""A cell output that fills in while a model writes: one display, updated, never one per token.

    result = LiveOutput().follow(wb.start_generate(prompt))   # a handle whose events are Started, Text

A notebook front end re-renders the whole output on every update, so updates are coalesced
to at most `max_rate` a second. Terminal IPython cannot update an output in place: there the
text is printed as it arrives, once. While streaming the text shows as plain text; the finished run
renders in its own format (Markdown by default) with its run id in the output's metadata.
The handle runs on the cell's thread (`result()`), so Ctrl-C in the cell stops it.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:  # lfwb.runs pulls in the store: not at %load_ext time
    from IPython.display import DisplayHandle

    from ..handles import Handle
    from ..runs import RunResult

T = TypeVar("T")

MAX_UPDATES_PER_S = 20.0


def in_terminal() -> bool:
    """Terminal IPython on a real terminal (no front end that redraws an output in place)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    return type(get_ipython()).__name__ == "TerminalInteractiveShell" and sys.stdout.isatty()


class CellOutput:
    """One display in the running cell that follows a handle, run on the cell's thread (Ctrl-C
    stops it). `on_event` draws what an event changes; `finish` draws the end."""

    def __init__(
        self,
        waiting: str = "…",
        max_rate: float = MAX_UPDATES_PER_S,
        clock: Callable[[], float] = time.perf_counter,
    ):
        self.waiting = waiting
        self.clock = clock  # tests pass a fake one to check the rate without waiting
        self.terminal = in_terminal()
        self.interval = 1.0 / max_rate
        self.handle: DisplayHandle | None = None  # the display's, once shown
        self._last_update = 0.0

    def follow(self, handle: Handle[T], format: str = "markdown") -> T:
        """Run `handle` here, showing it as it goes; return its result.

        On an error or a stop, what was shown stays, drawn as it was saved, and the exception
        goes on (IPython shows it as one line: the error, or "cancelled after N tokens"). Stops
        are held until the cell shows the finished run, so what the cell shows is what was saved.
        """
        from ..stops import held_stops

        handle.listen(self.on_event)
        with held_stops():
            try:
                value = handle.result()
            except BaseException:
                self.ended_early(format)
                raise
            self.ended(value, format)
        return value

    def on_event(self, event: Any) -> None:
        raise NotImplementedError

    def ended(self, value: Any, format: str) -> None:
        raise NotImplementedError

    def ended_early(self, format: str) -> None:
        raise NotImplementedError

    def due(self) -> bool:
        """May the display be updated now (at most `max_rate` a second)? Yes notes the update."""
        now = self.clock()
        if now - self._last_update < self.interval:
            return False
        self._last_update = now
        return True


class LiveOutput(CellOutput):
    """A streaming run's text (a generation, a chat turn, a revision): see the module docstring."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._printed = 0
        self.result: RunResult | None = None

    def on_event(self, event: Any) -> None:
        """The handle's events, on the cell's thread (the work runs there)."""
        from ..handles import Note, Started, Text

        if isinstance(event, Note):  # the run waits for something: say what, before it starts
            print(event.line, flush=True)
        elif isinstance(event, Started):
            self.on_start(event.run)
        elif isinstance(event, Text) and self.result is not None:
            self.on_text(event.text, self.result)

    def ended(self, value: Any, format: str) -> None:
        result = getattr(value, "run", value)  # a Revision shows the run that wrote it
        result.format = format
        self.finish(result)

    def ended_early(self, format: str) -> None:
        if self.result is not None:
            self.result.format = format
            if self.result.status == "running":  # an error before the row was finished
                self.result.status = "failed"
            self.finish(self.result)

    def on_start(self, result: RunResult) -> None:
        from IPython.display import display

        self.result = result
        if self.terminal:
            return
        self.handle = display(
            {"text/plain": f"{result.model} {self.waiting}"},
            raw=True,
            display_id=True,
            metadata=result.metadata(),
        )

    def on_text(self, text: str, result: RunResult) -> None:
        if self.terminal:
            sys.stdout.write(text[self._printed :])
            sys.stdout.flush()
            self._printed = len(text)
            return
        if self.handle is not None and self.due():
            self.handle.update({"text/plain": text}, raw=True, metadata=result.metadata())

    def finish(self, result: RunResult) -> None:
        """Replace the streaming text with the finished run, rendered in its format."""
        from ..runs import mark_shown

        # A cancel is said once, by the `Cancelled` line IPython shows under this output.
        if self.terminal:
            note = result.note(cancel=False)
            if self._printed or note:
                sys.stdout.write("\n" + (f"[{note}]\n" if note else ""))
                sys.stdout.flush()
            mark_shown(result)  # printed already: Out[n] would only repeat it
            return
        if self.handle is None:
            return
        if not result.text and result.status in ("failed", "cancelled"):
            # Nothing was written: the error line says it all, an empty box would only confuse.
            self.handle.update({"text/plain": ""}, raw=True, metadata=result.metadata())
            return
        data, metadata = result.rendered(result.note(cancel=False))
        self.handle.update(data, raw=True, metadata=metadata)
        mark_shown(result)
