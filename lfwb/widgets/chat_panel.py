"""`%lfw panel chat`: a chat session's messages, an input box, Send and Stop, model and session
pickers, and a RAG toggle with its ranking (bm25, vector, hybrid).

    from lfwb.widgets.chat_panel import ChatPanel
    ChatPanel(lfwb.workbench())

Send calls `ChatSession.send` — what `%%lfw chat` calls, on the same session object
(`Workbench.chat`) — on a thread of its own, so the kernel stays free; the answer streams into
the panel piece by piece and Stop sets the turn's `cancel` event (the answer keeps its text,
stored as cancelled). With RAG ticked the turn is `send(rag=True, mode=...)`, as `%%lfw chat --rag
--mode ...`: the same check of `%config Lfwb.embeddings`, and the sources show under the answer,
as does the summary note.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

import ipywidgets as widgets

from ..chat import DEFAULT_SESSION
from ..chat.retrieval import MODES
from ..chat.session import ChatReply, ChatSession, source_label
from ..handles import Handle
from ..untrusted import NO_MATH, answer_html, text_html

if TYPE_CHECKING:
    from ..workbench import Workbench

ROLE_STYLE = {"user": "background:#eef3ff", "assistant": "background:#f6f6f6"}


class ChatPanel(widgets.VBox):
    """The chat panel. `send()` and `stop()` are what the buttons call; `thread` is the turn's."""

    def __init__(self, workbench: Workbench, session: str = DEFAULT_SESSION):
        self.workbench = workbench
        names = [s["name"] for s in workbench.chat_sessions()]
        self.session_choice = widgets.Combobox(
            value=session, options=sorted(set(names) | {session}), description="session", ensure_option=False
        )
        self.model_choice = widgets.Dropdown(options=workbench.model_names(), description="model")
        self.rag_choice = widgets.Checkbox(
            value=False,
            description="RAG",
            indent=False,
            tooltip="put the project's best-matching context chunks into the prompt",
        )
        # Disabled until RAG is ticked: a ranking without retrieval would do nothing.
        self.mode_choice = widgets.Dropdown(
            options=MODES, value=workbench.retrieval_mode, description="ranking", disabled=True
        )
        self.messages = widgets.HTML()
        self.answer = widgets.HTML()  # the answer while it streams
        self.input = widgets.Textarea(placeholder="your message", layout=widgets.Layout(width="640px", height="70px"))
        self.send_button = widgets.Button(description="Send", icon="paper-plane", button_style="primary")
        self.stop_button = widgets.Button(description="Stop", icon="stop", button_style="danger", disabled=True)
        self.message = widgets.HTML()
        self.send_button.on_click(lambda _: self.send())
        self.stop_button.on_click(lambda _: self.stop())
        self.session_choice.observe(lambda _: self.show_session(), names="value")
        self.rag_choice.observe(lambda change: setattr(self.mode_choice, "disabled", not change["new"]), names="value")
        self.reply: ChatReply | None = None  # the last turn's
        self.handle: Handle[ChatReply] | None = None  # the turn in progress's (lfwb/handles.py)
        super().__init__(
            [
                widgets.HBox([self.session_choice, self.model_choice]),
                widgets.HBox([self.rag_choice, self.mode_choice]),
                self.messages,
                self.answer,
                self.input,
                widgets.HBox([self.send_button, self.stop_button]),
                self.message,
            ]
        )
        self.show_session()

    @property
    def session(self) -> ChatSession:
        """The picked session (made when the first message is sent, with the picked model)."""
        return self.workbench.chat(self.session_choice.value.strip() or DEFAULT_SESSION, model=self.model_choice.value)

    def show_session(self) -> None:
        name = self.session_choice.value.strip()
        row = self.workbench.find_chat_session(name) if name else None
        if row is not None:
            model = row["model"]
            if model in self.model_choice.options:
                self.model_choice.value = model
            self.show_history(self.workbench.chat(name))
        else:
            self.messages.value = "<i>a new session: its first message makes it</i>"

    def show_history(self, session: ChatSession) -> None:
        items = []
        for m in session.history():
            sources = "".join(f"<li>{html.escape(source_label(s, i))}</li>" for i, s in enumerate(m["sources"], 1))
            status = "" if m["status"] == "done" else f" <i>({html.escape(m['status'])})</i>"
            # An answer renders as Markdown that loads nothing; what the user typed stays as typed.
            content = answer_html(m["content"]) if m["role"] == "assistant" else text_html(m["content"])
            items.append(
                f"<div style='{ROLE_STYLE.get(m['role'], '')};padding:4px 8px;margin:2px 0'>"
                f"<b>{html.escape(m['role'])}</b>{status}{content}"
                + (f"<ul>{sources}</ul>" if sources else "")
                + "</div>"
            )
        self.messages.value = f"<div class='{NO_MATH}'>{''.join(items)}</div>"

    def send(self) -> None:
        """Send the input as the user's turn, on a thread; a second press while it answers does nothing."""
        if self.handle is not None and not self.handle.done:
            return
        text = self.input.value
        if not text.strip():
            self._say("the message is empty — write it in the box")
            return
        self.send_button.disabled, self.stop_button.disabled = True, False
        self.message.value, self.answer.value = "", "<i>…</i>"
        retrieval = {"rag": True, "mode": self.mode_choice.value} if self.rag_choice.value else {}
        shown: list[str] = []

        def piece(p: str) -> None:
            shown.append(p)
            self.answer.value = text_html("".join(shown))

        try:
            session = self.session
        except BaseException as e:
            self._say(f"{type(e).__name__}: {e}")
            self.send_button.disabled, self.stop_button.disabled = False, True
            return
        handle = self.handle = session.start(text, on_chunk=piece, **retrieval)
        handle.on_done(lambda: self._answered(handle, session))

    def stop(self) -> None:
        """Stop the answer: it keeps its text, stored as cancelled."""
        if self.handle is not None:
            self.handle.cancel()

    def _answered(self, handle: Handle[ChatReply], session: ChatSession) -> None:
        try:
            reply = self.reply = handle.result()
            self.input.value = ""
            self._say(reply.note() or f"run {reply.run_id}", ok=reply.status == "done")
        except BaseException as e:  # a thread's error would go nowhere: say it in the panel
            self._say(f"{type(e).__name__}: {e}")
        finally:
            self.answer.value = ""
            self.show_history(session)
            names = {s["name"] for s in self.workbench.chat_sessions()}
            self.session_choice.options = sorted(names | {self.session_choice.value})
            self.send_button.disabled, self.stop_button.disabled = False, True

    def _say(self, line: str, ok: bool = False) -> None:
        colour = "#060" if ok else "#b00"
        self.message.value = text_html(line, style=f"color:{colour}")
