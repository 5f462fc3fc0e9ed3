"""A chat session: stored turns, memory within the model's window, retrieval, stop.

    >>> session = wb.chat("notes")                  # made if new, else continued (also after a restart)
    >>> session.send("My name is Ada.").text
    >>> session.send("What is my name?", rag=True).sources
    >>> for piece in session.stream("Tell me more"): ...   # text pieces, then the ChatReply

Each turn is a run of kind `chat`, recorded by `runs.record_generation` like any generation;
the user's message and the answer are `messages` rows pointing at it. A stop keeps the partial
answer as the assistant's message, marked `cancelled`. `start(...)`'s handle stops a turn
from another thread (a panel, a WebSocket): the turn then returns its reply, status
`cancelled`; a stop from the keyboard (SIGINT) raises `Cancelled` once everything is stored.
"""

from __future__ import annotations

import json
import threading
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields
from functools import partial
from typing import TYPE_CHECKING, Any

from ..errors import BadInput, LfwbError, NotFound, check_prompt, check_text
from ..handles import Handle, Text
from ..runs import OnStart, OnText, RunResult, record_generation
from ..sent import Given
from ..stops import Cancelled, Stop, held_stops
from ..runtimes import GenerationConfig
from . import DEFAULT_SESSION
from .folding import Fold, fold_ahead, fold_into_summary
from .memory import DEFAULT_WINDOW, Memory, stable_start

if TYPE_CHECKING:
    from ..store import Store
    from ..workbench import Workbench
    from .retrieval import Hit

OnChunk = Callable[[str], None]


@dataclass
class ChatReply(RunResult):
    """A turn's answer: a RunResult (`text`, `run_id`, `status`, tokens) and what the chat adds."""

    session: str = ""
    sources: list[dict] = field(default_factory=list)  # context_id, context_name, chunk_id, chunk_index, score
    summarized: bool = False  # a summary stood in for older turns
    summary_turns: int = 0
    window: int | None = None
    prompt_tokens: int | None = None  # lfwb's own count of what it sent
    fold_wait_ms: float | None = None  # how long the message waited for a summary being written

    @property
    def evaluated_tokens(self) -> int | None:
        """The prompt's tokens the model computed: those its cache did not hold from the turns
        before (llama.cpp's counters; None where the backend does not say)."""
        cached = (self.usage or {}).get("cached_tokens")
        return None if cached is None or self.input_tokens is None else self.input_tokens - cached

    @property
    def tokens(self) -> dict:
        return {
            "prompt": self.input_tokens or self.prompt_tokens,
            "evaluated": self.evaluated_tokens,
            "answer": self.output_tokens,
            "window": self.window,
        }

    def note(self, cancel: bool = True) -> str | None:
        notes = [n for n in (super().note(cancel),) if n]
        if self.fold_wait_ms:
            notes.append(f"waited {self.fold_wait_ms / 1000:.1f} s for the summary of earlier turns")
        if self.summarized:
            notes.append(f"summary of {self.summary_turns} earlier turn{'s' if self.summary_turns != 1 else ''} used")
        if self.sources:
            notes.append("sources: " + "; ".join(source_label(s, i) for i, s in enumerate(self.sources, 1)))
        return " · ".join(notes) or None

    @classmethod
    def of(cls, result: RunResult, **chat: Any) -> ChatReply:
        return cls(**{f.name: getattr(result, f.name) for f in fields(RunResult)}, **chat)


def source_label(source: dict, number: int | None = None) -> str:
    """`[1] style guide, chunk 2 (%lfw context show 3)`, or `(deleted)` for a context removed since."""
    where = "deleted" if source.get("deleted") else f"%lfw context show {source['context_id']}"
    head = f"[{number}] " if number is not None else ""
    return f"{head}{source['context_name']}, chunk {source['chunk_index']} ({where})"


class ChatSession:
    """One stored conversation of the current project (see the module docstring)."""

    def __init__(self, workbench: Workbench, row: dict):
        self.workbench = workbench
        self.store, self.manager = workbench.store, workbench.manager
        self.id, self.name, self.project_id = row["id"], row["name"], row["project_id"]
        self._turn = threading.Lock()  # one turn at a time: a turn reads what the last one stored
        # How open_session made or changed this session; undone when the next turn stores nothing,
        # and opened again by the turn after that (see open_session).
        self._undo_open: Callable[[], None] | None = None
        self._opened_with: tuple | None = None
        self._undone = False
        self._fold: Fold | None = None  # the last fold started between turns (lfwb/chat/folding.py)

    def __repr__(self) -> str:
        return f"<ChatSession {self.name!r} model={self.model!r}>"

    @property
    def folding(self) -> Handle[dict | None] | None:
        """The fold of older turns into the summary that the last turn started in the
        background (None: none yet). `cancel()` it to keep the old summary; `wait()` for it."""
        return self._fold.handle if self._fold is not None else None

    # -- what is stored ----------------------------------------------------------------

    def row(self) -> dict:
        rows = self.store.query("SELECT * FROM chat_sessions WHERE id = ?", (self.id,))
        if not rows:
            raise NotFound(f"chat session {self.name!r} was deleted — start it again with wb.chat({self.name!r})")
        return rows[0]

    @property
    def model(self) -> str:
        return self.row()["model"] or self.workbench.default_model

    @property
    def system(self) -> str | None:
        return self.row()["system"]

    def history(self) -> list[dict]:
        """Every message, oldest first, `sources` read (a deleted context marked `deleted`)."""
        rows = self.store.list_messages(self.id)
        cited = [s["context_id"] for r in rows for s in json.loads(r["sources_json"] or "[]")]
        alive = self.store.existing_context_ids(sorted(set(cited)))
        for r in rows:
            r["sources"] = [
                {**s, "deleted": s["context_id"] not in alive} for s in json.loads(r.pop("sources_json") or "[]")
            ]
        return rows

    # -- a turn ------------------------------------------------------------------------

    def start(
        self,
        text: str,
        *,
        rag: bool = False,
        mode: str | None = None,
        on_chunk: OnChunk | None = None,
        on_start: OnStart | None = None,
        on_text: OnText | None = None,
        **settings: Any,
    ) -> Handle[ChatReply]:
        """`send` as a `Handle` (lfwb/handles.py): iterate it for `Text` pieces, `cancel()` it
        from any thread (the answer keeps its text), `result()` or `await` it for the ChatReply."""

        def work(h: Handle) -> ChatReply:
            started, streamed = h.following(on_start, on_text)
            return self._turn_of(text, rag, mode, on_chunk, started, streamed, h, settings)

        return Handle(work)

    def send(self, text: str, **options: Any) -> ChatReply:
        """Send `text` as the user's turn and return the answer, stored with the turn.

        `rag=True` puts the project's best-matching context chunks (`mode`: bm25, vector or
        hybrid; default `Workbench.search_mode`'s, hybrid unless embeddings are off) into the prompt.
        `on_chunk(piece)` gets each new piece of text; `start(...)`'s handle (`cancel()`)
        ends the answer, which keeps its text. Other options are GenerationConfig fields
        (max_tokens, temperature, seed, ...); `on_start`/`on_text` are `record_generation`'s."""
        return self.start(text, **options).result()

    async def asend(self, text: str, **options: Any) -> ChatReply:
        """`send`, awaited."""
        return await self.start(text, **options)

    def _turn_of(self, text, rag, mode, on_chunk, on_start, on_text, handle: Handle, settings) -> ChatReply:
        if self._undone:
            self._open_again()
        undo, self._undo_open = self._undo_open, None
        kept = len(self.store.list_messages(self.id)) if undo is not None else 0
        try:
            check_turn(text, settings)
            if rag:  # before the model loads or anything is stored
                mode = self.workbench.search_mode(mode)
            with self._turn, held_stops(handle.stop) as stops:
                try:
                    waited = self._fold.before_turn(stops, handle) if self._fold is not None else 0.0
                    if waited is None:
                        return self._stopped_before_answer(stops)
                    reply = self._send(text, rag, mode, on_chunk, on_start, on_text, stops, settings)
                    reply.fold_wait_ms = waited or None
                    return reply
                finally:
                    if stops.requested:
                        stops.take()  # the caller's stop was answered: no Cancelled once the turn ends
        except BaseException:
            # The turn that follows opening the session left no message: undo the open too, so a
            # refused first message leaves no empty session (nor a renamed or changed one).
            if undo is not None and len(self.store.list_messages(self.id)) == kept:
                undo()
                self._undone = True
            raise

    def _open_again(self) -> None:
        assert self._opened_with is not None  # set by open_session with _undone
        fresh = open_session(self.workbench, *self._opened_with)
        self.id, self._undo_open, self._undone = fresh.id, fresh._undo_open, False
        _open[self.store][(self.project_id, self.name)] = self  # one object per session, as before

    def stream(self, text: str, **options: Any) -> Iterator[str | ChatReply]:
        """`send` as a generator: each new piece of text, then the ChatReply. Closing it early
        stops the answer (stored, cancelled)."""
        handle = self.start(text, **options)
        try:
            for event in handle:
                if isinstance(event, Text):
                    yield event.piece
            yield handle.result()
        finally:
            handle.cancel()
            handle.wait()

    def _send(self, text, rag, mode, on_chunk, on_start, on_text, stops, settings) -> ChatReply:
        row = self.row()
        model = row["model"] or self.workbench.default_model
        memory = self._memory(model, settings.get("max_tokens", GenerationConfig.max_tokens))
        hits = self._retrieve(text, mode) if rag else []
        history = self.store.list_messages(self.id, after_id=row["summary_upto"])
        plan = memory.plan(row["system"], row["summary"], row["summary_turns"], history, text, hits)
        if plan.fold:  # the history outgrew the window (a fold between turns was stopped, a long message)
            cached = stable_start(row["system"], row["summary"], row["summary_turns"], history)  # as last turn sent it
            folded = fold_into_summary(self, memory, row, plan.fold, stops, settings.get("seed"), cached)
            if folded is None:
                return self._stopped_before_answer(stops)
            row = folded
            history = self.store.list_messages(self.id, after_id=row["summary_upto"])
            plan = memory.plan(row["system"], row["summary"], row["summary_turns"], history, text, hits)
        sources = [
            {
                "context_id": h.context_id,
                "context_name": h.context_name,
                "chunk_id": h.chunk_id,
                "chunk_index": h.chunk_index,
                "score": h.score,
            }
            for h in plan.sources
        ]
        gen = GenerationConfig(messages=plan.messages, **settings)
        turn: dict = {}

        def started(result: RunResult) -> None:
            turn["result"] = result
            turn["user"] = self.store.add_message(self.id, "user", text, run_id=result.run_id)
            if on_start is not None:
                on_start(result)

        sent = [0]

        def streamed(so_far: str, result: RunResult) -> None:
            if on_chunk is not None:
                on_chunk(so_far[sent[0] :])
                sent[0] = len(so_far)
            if on_text is not None:
                on_text(so_far, result)

        error: BaseException | None = None
        try:
            record_generation(
                self.store,
                self.manager,
                self.project_id,
                model,
                gen,
                kind="chat",
                prompt=text,
                on_start=started,
                on_text=streamed,
                stop=stops,
                given=Given(row["summary"], row["summary_turns"], plan.sources),  # marked in `%lfw show`
            )
        except (Cancelled, LfwbError) as e:
            error = e
        result: RunResult | None = turn.get("result")
        reply = None
        if result is not None:
            self._keep(turn, result, sources)
            reply = ChatReply.of(
                result,
                session=self.name,
                sources=self._marked(sources),
                summarized=bool(row["summary"]),
                summary_turns=row["summary_turns"],
                window=memory.window,
                prompt_tokens=plan.tokens,
            )
        if reply is not None and reply.status == "done":
            context = plan.messages + [{"role": "assistant", "content": reply.text}]  # what llama.cpp has cached
            self._fold = fold_ahead(self, memory, settings.get("seed"), context) or self._fold
        if isinstance(error, Cancelled) and stops.requested:
            return (
                reply
                if reply is not None
                else ChatReply(run_id=None, text="", model=model, status="cancelled", session=self.name)
            )
        if isinstance(error, Cancelled):
            raise Cancelled(str(error), result=reply) from error  # what was kept, for a face to show
        if error is not None:
            raise error
        assert reply is not None  # record_generation returned, so on_start had its result
        return reply

    def _keep(self, turn: dict, result: RunResult, sources: list[dict]) -> None:
        """Store the answer beside the user's message; a turn that produced nothing leaves no message."""
        if result.status in ("cancelled", "failed") and not result.text or result.status == "running":
            self.store.delete_message(turn["user"]["id"])
            return
        self.store.add_message(
            self.id, "assistant", result.text, run_id=result.run_id, status=result.status, sources=sources or None
        )

    def _marked(self, sources: list[dict]) -> list[dict]:
        alive = self.store.existing_context_ids([s["context_id"] for s in sources])
        return [{**s, "deleted": s["context_id"] not in alive} for s in sources]

    def _memory(self, model: str, max_tokens: int) -> Memory:
        """The budget of the smallest window among the chain's links (one model: its own),
        counted with that link's tokenizer: a prompt that fits it fits whichever link answers.
        A local first link is loaded first, as the turn would load it anyway."""
        links = [link for link in self.manager.resolve(model) if link in self.manager] or self.manager.resolve(model)
        first = self.manager.runtime(links[0])
        if first.local and not first.loaded:
            self.manager.load(links[0])
        windows = [(self.manager.runtime(link).context_window or DEFAULT_WINDOW, link) for link in links]
        window, link = min(windows, key=lambda w: w[0])  # the first link of the smallest window
        return Memory(self.manager.runtime(link).count_tokens, window, max_tokens, model=link)

    def _stopped_before_answer(self, stops: Stop) -> ChatReply:
        """A stop while a summary was being written, before the answer began: nothing stored."""
        if stops.requested:
            return ChatReply(run_id=None, text="", model=self.model, status="cancelled", session=self.name)
        stops.take()
        raise Cancelled("stopped while the summary of earlier turns was being written")

    def _retrieve(self, text: str, mode: str) -> list[Hit]:
        try:
            from .retrieval import retrieve
        except ImportError:
            raise BadInput("retrieval (rag) is not installed in this lfwb", about="no_retrieval") from None
        return retrieve(self.store, self.project_id, text, mode=mode, limit=5)


def check_turn(text: str, settings: dict) -> None:
    """An empty message or a bad setting: one line, before anything is stored."""
    check_prompt(text, "message")
    check_text(text, "the message")
    GenerationConfig(messages=[], **settings)


_open: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # store → {(project, name): session}


def open_session(
    workbench: Workbench,
    name: str = DEFAULT_SESSION,
    model: str | None = None,
    system: str | None = None,
    new: bool = False,
) -> ChatSession:
    """The session `name` of the current project, made if missing; `model`/`system` given are
    kept with it. `new=True` starts it afresh: an earlier one of that name is kept as `name-2` (…)."""
    store, project_id = workbench.store, workbench.project_id
    name = (name or "").strip()
    if not name:
        raise BadInput("a chat session needs a name", about="session_name")
    if model is not None:
        workbench.manager.resolve(model)  # an unknown model: one line, nothing made
    if system is not None and not system.strip():
        raise BadInput("the system prompt is empty", about="system_prompt")
    check_text(name, "the session's name")
    if system is not None:
        check_text(system, "the system prompt")
    row = store.find_chat_session(project_id, name)
    undo: list[Callable[[], Any]] = []  # what opening changed, undone last first
    if row is not None and new:
        store.rename_chat_session(row["id"], free_name(store, project_id, name))
        undo.append(partial(store.rename_chat_session, row["id"], row["name"]))
        row = None
    if row is None:
        row = store.create_chat_session(project_id, name, model=model, system=system)
        undo.append(partial(store.delete_chat_session, project_id, row["name"]))
    changes = {k: v for k, v in (("model", model), ("system", system)) if v is not None and v != row[k]}
    if changes:
        undo.append(partial(store.update_chat_session, row["id"], **{k: row[k] for k in changes}))
        row = store.update_chat_session(row["id"], **changes)
    sessions = _open.setdefault(store, {})
    session = sessions.get((project_id, name))
    if session is None or session.id != row["id"]:
        session = sessions[(project_id, name)] = ChatSession(workbench, row)

    def undo_open() -> None:
        for step in reversed(undo):
            step()

    session._undo_open = undo_open if undo else None
    session._opened_with, session._undone = (name, model, system, new), False
    return session


def free_name(store: Store, project_id: int, name: str) -> str:
    n = 2
    while store.find_chat_session(project_id, f"{name}-{n}") is not None:
        n += 1
    return f"{name}-{n}"
