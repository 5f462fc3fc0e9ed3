"""Folding a chat's oldest turns into its summary, between turns rather than during one.

    >>> fold = Fold(session, memory, row, block, seed=None).start()   # a Handle, running
    >>> fold.phase                                                    # "summary", "warm", "done"
    >>> fold.handle.cancel()                                          # nothing half-written is kept

When a turn ends with the history past most of the window (`Memory.ahead`), the summary is
written in the background while the person reads the answer — asked as the conversation's next
message, so llama.cpp evaluates only the request — then the prompt's new stable start
(system + summary + kept turns) is evaluated into the model's cache (`RuntimeManager.warm`):
the next message pays only for itself. A message that comes while the summary is still being
written waits for it (its turn says so); one that comes during the warm-up cancels the warm-up,
whose work stays in the cache (the turn's own prompt evaluates the rest). A stop cancels the
fold: the summary's run ends cancelled and the session keeps its old summary.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

from ..handles import Handle
from ..runs import record_generation
from ..runtimes import GenerationConfig
from ..stops import Cancelled, Stop
from .memory import Memory, stable_start

if TYPE_CHECKING:
    from .session import ChatSession

SUMMARY_TEMPERATURE = 0.2  # a summary should keep facts, not invent them


def fold_into_summary(
    session: ChatSession,
    memory: Memory,
    row: dict,
    block: list[dict],
    stop: Stop,
    seed: int | None,
    context: list[dict] | None = None,
) -> dict | None:
    """Write the summary with `block` (the oldest history rows) folded in and store it: the
    session's new row, or None when stopped (then nothing is stored). `context`: the last
    turn's messages and answer, which the model has cached (see `Memory.fold`)."""
    model = row["model"] or session.workbench.default_model

    def write(messages: list[dict], max_tokens: int) -> str:
        gen = GenerationConfig(messages=messages, max_tokens=max_tokens, temperature=SUMMARY_TEMPERATURE, seed=seed)
        return record_generation(
            session.store,
            session.manager,
            session.project_id,
            model,
            gen,
            kind="chat-summary",
            prompt=f"summary of chat session {session.name!r}",
            stop=stop,
        ).text

    try:
        summary = memory.fold(row["summary"], block, write, context)
    except Cancelled:
        return None
    if stop.requested:
        return None
    turns = row["summary_turns"] + sum(1 for m in block if m["role"] == "user")
    return session.store.update_chat_session(
        session.id, summary=summary, summary_upto=block[-1]["id"], summary_turns=turns
    )


def fold_ahead(session: ChatSession, memory: Memory, seed: int | None, context: list[dict]) -> Fold | None:
    """After a turn: a Fold started in the background if the history has passed most of the
    window; `context` is the turn's messages and answer (the summary is asked as their sequel)."""
    row = session.row()
    history = session.store.list_messages(session.id, after_id=row["summary_upto"])
    block = memory.ahead(row["system"], row["summary"], row["summary_turns"], history)
    return Fold(session, memory, row, block, seed, context).start() if block else None


class Fold:
    """A fold running in the background (see the module docstring); `handle` is its Handle,
    whose result is the session's new row (None: stopped, or nothing folded)."""

    def __init__(
        self,
        session: ChatSession,
        memory: Memory,
        row: dict,
        block: list[dict],
        seed: int | None,
        context: list[dict] | None = None,
    ):
        self.session, self.memory, self.row, self.block, self.seed = session, memory, row, block, seed
        self.context = context
        self.phase = "summary"
        self.warmed = 0  # prompt tokens evaluated into the cache ahead of the next message
        self._warm_cancel = threading.Event()
        self.handle: Handle[dict | None] = Handle(self._work)

    def start(self) -> Fold:
        self.handle.start()
        return self

    @property
    def done(self) -> bool:
        return self.handle.done

    def skip_warm(self) -> None:
        """A message came: stop evaluating ahead (what is evaluated stays in the cache)."""
        self._warm_cancel.set()

    def before_turn(self, stops: Stop, turn: Handle) -> float | None:
        """A message came: wait for the summary if it is still being written (a `Note` on the
        turn's handle says so), skip the warm-up; the ms waited. None: a stop came while
        waiting, and the fold is cancelled (nothing of it kept)."""
        if self.done:
            return 0.0
        self.skip_warm()
        if self.phase != "summary":
            self.handle.wait()
            return 0.0
        turn.note("waiting for the summary of earlier turns to be written…")
        start = time.perf_counter()
        while not self.handle.wait(timeout=0.05):
            if stops.pending:
                self.handle.cancel()
                self.handle.wait()
                return None
        return (time.perf_counter() - start) * 1000

    def _work(self, handle: Handle) -> dict | None:
        handle.stop.cancels.append(self._warm_cancel)  # cancel() stops the warm-up too
        session = self.session
        try:
            row = fold_into_summary(session, self.memory, self.row, self.block, handle.stop, self.seed, self.context)
            if row is None or handle.stop.requested or self._warm_cancel.is_set():
                return row
            self.phase = "warm"
            kept = session.store.list_messages(session.id, after_id=row["summary_upto"])
            start = stable_start(row["system"], row["summary"], row["summary_turns"], kept)
            link = session.manager.resolve(row["model"] or session.workbench.default_model)[0]
            self.warmed = session.manager.warm(link, start, self._warm_cancel)
            return row
        finally:
            self.phase = "done"
