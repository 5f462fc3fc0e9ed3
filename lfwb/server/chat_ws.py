"""`WS /api/v1/chat/{session}`: the chat sessions `%%lfw chat` uses, over a WebSocket.

    → {"type": "message", "text": "What colour are buttons?", "rag": true}
    ← {"type": "start", "run_id": 12}                       (once the turn's run exists)
    ← {"type": "token", "text": "Blue"} ...
    ← {"type": "done", "run_id": 12, "text": "Blue, per the style guide.", "sources": [...]}
    → {"type": "cancel"}                                      (stops the answer being written)
    ← {"type": "cancelled", "run_id": 12, "text": "Blu"}

Optional fields of a message: `model`, `system`, `rag`, `mode` (bm25 | vector | hybrid, with
`rag`) and `new` (start the session afresh), each of its own JSON type (`"rag": "no"` is not
false). A bad frame (binary, not JSON, nested too deep, a wrong field) is answered
`{"type": "error", code, message, line}` and the socket stays open.
The turn is `Workbench.chat(session).start(...)`'s handle, followed from the event loop
(streams.Followed); closing the socket mid-answer cancels it, and its run keeps the partial text.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Literal

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..chat.retrieval import MODES
from ..errors import BadInput, LfwbError
from .errors import error_body, redacted
from .streams import Followed

if TYPE_CHECKING:
    from ..chat.session import ChatReply
    from ..workbench import Workbench

router = APIRouter(tags=["chat"])


class ChatMessage(BaseModel):
    """A frame from the client. Strict: a field of the wrong JSON type is refused, not coerced."""

    model_config = ConfigDict(extra="forbid", strict=True)
    type: Literal["message", "cancel"]
    text: str | None = Field(None, max_length=2**20)
    model: str | None = Field(None, min_length=1, max_length=200)
    system: str | None = Field(None, max_length=2**20)
    rag: bool = False
    mode: Literal[MODES] | None = None  # type: ignore[valid-type]
    new: bool = False


async def _turn(wb: Workbench, session: str, message: ChatMessage, running: dict) -> Followed[ChatReply]:
    """The chat turn for `message`: the session's handle, followed."""
    if message.text is None or not message.text.strip():
        raise BadInput('a chat message needs its text: {"type": "message", "text": "..."}')
    chat = await run_in_threadpool(wb.chat, session, model=message.model, system=message.system, new=message.new)
    options = {"mode": message.mode} if message.mode else {}
    return Followed(chat.start(message.text, rag=message.rag, **options), running)


@router.websocket("/chat/{session}")
async def chat(websocket: WebSocket, session: str) -> None:
    await websocket.accept()
    wb = websocket.app.state.workbench
    incoming: asyncio.Queue = asyncio.Queue()

    async def read() -> None:
        try:
            while True:
                frame = await websocket.receive()
                if frame["type"] == "websocket.disconnect":
                    break
                # A binary frame is passed on as bytes, for _parsed to refuse in one line.
                await incoming.put(frame["text"] if frame.get("text") is not None else frame.get("bytes") or b"")
        except (WebSocketDisconnect, RuntimeError):
            pass
        await incoming.put(None)  # closed

    reader = asyncio.create_task(read())
    turn: Followed[ChatReply] | None = None
    try:
        while True:
            raw = await incoming.get()
            if raw is None:
                return
            try:
                message = _parsed(raw)
                if message.type == "cancel":
                    continue  # nothing is being written
                turn = await _turn(wb, session, message, websocket.app.state.generating)
            except LfwbError as e:
                await websocket.send_json({"type": "error", **error_body(e)})
                continue
            if not await _stream(websocket, turn, incoming):
                return  # the client left mid-answer: the turn was cancelled
            turn = None
    finally:
        if turn is not None:
            turn.handle.cancel()
        reader.cancel()


def _parsed(raw: str | bytes) -> ChatMessage:
    if isinstance(raw, bytes):
        raise BadInput("a chat message is a JSON text frame, not a binary one")
    try:
        message = json.loads(raw)
    except ValueError:
        raise BadInput('a chat message is JSON: {"type": "message", "text": "..."}') from None
    except RecursionError:  # a frame nested thousands deep
        raise BadInput("a chat message is nested too deeply — send a flat JSON object") from None
    if not isinstance(message, dict) or message.get("type") not in ("message", "cancel"):
        raise BadInput("a chat message's type is 'message' or 'cancel'")
    try:
        return ChatMessage.model_validate(message)
    except ValidationError as e:
        problem = e.errors()[0]
        field = ".".join(str(part) for part in problem["loc"])
        raise BadInput(f"a chat message's {field}: {problem['msg']}") from None


async def _stream(websocket: WebSocket, turn: Followed[ChatReply], incoming: asyncio.Queue) -> bool:
    """Send the turn's events; a `cancel` from the client stops it. False if the client left."""
    run_id = None
    events = turn.__aiter__()
    next_event = asyncio.ensure_future(events.__anext__())
    next_message = asyncio.ensure_future(incoming.get())
    try:
        while True:
            done, _ = await asyncio.wait({next_event, next_message}, return_when=asyncio.FIRST_COMPLETED)
            if next_message in done:
                raw = next_message.result()
                if raw is None:
                    turn.handle.cancel()
                    return False
                try:
                    if _parsed(raw).type == "cancel":
                        turn.handle.cancel()
                    else:
                        await websocket.send_json(
                            {
                                "type": "error",
                                "code": "busy",
                                "line": "BadInput: wait for the answer (or cancel it) first",
                                "message": "an answer is still being written",
                            }
                        )
                except LfwbError as e:
                    await websocket.send_json({"type": "error", **error_body(e)})
                next_message = asyncio.ensure_future(incoming.get())
            if next_event in done:
                kind, value = next_event.result()
                if kind == "start":
                    run_id = getattr(value, "run_id", None)
                    await websocket.send_json({"type": "start", "run_id": run_id})
                elif kind == "text":
                    await websocket.send_json({"type": "token", "text": value})
                elif kind == "done":
                    await websocket.send_json(
                        {
                            "type": "done",
                            "run_id": getattr(value, "run_id", run_id),
                            "text": value.text,
                            "sources": _sources(value),
                        }
                    )
                    return True
                elif kind == "cancelled":  # the reply it kept, with its text so far, rides on it
                    kept = value.result
                    await websocket.send_json(
                        {
                            "type": "cancelled",
                            "run_id": getattr(kept, "run_id", run_id),
                            "line": redacted(str(value)),
                            "text": getattr(kept, "text", None),
                        }
                    )
                    return True
                elif kind == "error":
                    await websocket.send_json({"type": "error", **error_body(value)})
                    return True
                next_event = asyncio.ensure_future(events.__anext__())
    finally:
        for pending in (next_message, next_event):
            if not pending.done():
                pending.cancel()


def _sources(reply: ChatReply) -> list:
    sources = getattr(reply, "sources", None) or []
    return [s if isinstance(s, (dict, str, int)) else getattr(s, "__dict__", str(s)) for s in sources]
