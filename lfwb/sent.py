"""What a run sent its model: kept as it was sent, read back as its parts.

`record_generation` (lfwb/runs.py) keeps every request here once its row exists, below every
face: a generate, a chat turn, a pipeline step, a compare column, a `/v1` or REST generation
are all recorded the same way. The messages are kept exactly as the model got them (a raw
prompt as one message of role `prompt`), the settings beside them; what lfwb put in itself —
a chat's summary, the chunks retrieval found — is marked where it sits (`Given`), so `%lfw show`
can tell the user's words from lfwb's. A key this process knows never reaches the file
(`keys.redact`). Tokens are counted once the run ends, with the tokenizer of the model that
answered (an estimate of 4 characters a token where no tokenizer is at hand).

    >>> sent = sent_of(store, run_id)
    >>> [(m["role"], m["part"], m["tokens"]) for m in sent["messages"]]
    [('system', 'system', 12), ('user', 'history', 9), ('assistant', 'history', 30), ('user', 'turn', 140)]
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .runtimes.keys import redact

if TYPE_CHECKING:
    from .runtimes import GenerationConfig, RuntimeManager
    from .store import Store

# `counted_by` of a count made without the model's tokenizer (a remote model, one not loaded).
ESTIMATE = "estimate"


@dataclass
class Given:
    """What lfwb put into a request's messages besides the caller's words: a chat's `summary`
    of `summary_turns` earlier turns (in the system message) and the `chunks` retrieval found
    (in the last message; each with context_id, context_name, chunk_id, chunk_index, text)."""

    summary: str | None = None
    summary_turns: int = 0
    chunks: Sequence[Any] = ()


def keep_request(
    store: Store, run_id: int, step_id: int | None, gen: GenerationConfig, given: Given | None = None
) -> int:
    """Keep what `gen` sends for run `run_id` (its step `step_id`); returns the request's id."""
    if gen.prompt is not None:
        messages = [{"role": "prompt", "content": redact(gen.prompt)}]
    else:
        messages = [
            {"role": str(m.get("role")), "content": redact(_text(m.get("content")))} for m in gen.messages or ()
        ]
    settings = json.loads(redact(json.dumps(gen.params())))
    marks = _marks(messages, given) if given is not None else []
    return store.add_request(run_id, messages, settings, step_id=step_id, raw=gen.prompt is not None, marks=marks)


def count_request(store: Store, manager: RuntimeManager, request_id: int, model: str) -> None:
    """Count the request's tokens as `model` reads them: its own tokenizer when it is a local
    model that is loaded, else an estimate."""
    if model not in manager:
        return
    runtime = manager.runtime(model)
    exact = runtime.local and runtime.loaded
    store.count_request(request_id, model if exact else ESTIMATE, runtime.count_tokens)


def _text(content: Any) -> str:
    # An API message's content may be a list of parts; it is kept as the JSON it was.
    return content if isinstance(content, str) else json.dumps(content)


def _marks(messages: list[dict], given: Given) -> list[dict]:
    """Where the summary and each chunk sit: message index and character span (None: not found)."""
    marks: list[dict] = []
    if given.summary and messages and messages[0]["role"] == "system":
        summary = redact(given.summary)
        at = messages[0]["content"].find(summary)
        found = at >= 0
        marks.append(
            {
                "kind": "summary",
                "message": 0,
                "start": at if found else None,
                "end": at + len(summary) if found else None,
                "turns": given.summary_turns,
            }
        )
    last, after = len(messages) - 1, 0
    for hit in given.chunks:
        text = redact(hit.text)
        at = messages[last]["content"].find(text, after) if messages else -1
        found = at >= 0
        after = at + len(text) if found else after
        marks.append(
            {
                "kind": "chunk",
                "message": last,
                "start": at if found else None,
                "end": at + len(text) if found else None,
                "context_id": hit.context_id,
                "context_name": hit.context_name,
                "chunk_id": hit.chunk_id,
                "chunk_index": hit.chunk_index,
            }
        )
    return marks


def sent_of(store: Store, run_id: int, step_id: int | None = None) -> dict | None:
    """What run `run_id` (or its step `step_id`) sent, in parts; None when nothing was kept
    (a run imported over HTTP, or recorded by an older lfwb).

    {"messages": [{role, content, tokens, part, summary, chunks}], "settings", "raw", "tokens",
    "counted_by"}: `part` is system, history (the turns before), turn (the last message) or
    prompt (a raw one); `summary` the summary's span in the system message, `chunks` each
    retrieved chunk's span and ids; `counted_by` the model whose tokenizer counted (or "estimate").
    """
    request = store.get_request(run_id, step_id)
    if request is None:
        return None
    messages, marks = request["messages"], request["marks"]
    last = len(messages) - 1
    for i, message in enumerate(messages):
        if request["raw"]:
            message["part"] = "prompt"
        elif i == 0 and message["role"] == "system" and last > 0:
            message["part"] = "system"
        else:
            message["part"] = "turn" if i == last else "history"
        mine = [m for m in marks if m["message"] == i]
        message["summary"] = next((_span(m) for m in mine if m["kind"] == "summary"), None)
        message["chunks"] = [_span(m) for m in mine if m["kind"] == "chunk"]
    counts = [m["tokens"] for m in messages]
    return {
        "messages": messages,
        "settings": request["settings"],
        "raw": request["raw"],
        "tokens": sum(counts) if counts and None not in counts else None,
        "counted_by": request["counted_by"],
    }


def _span(mark: dict) -> dict:
    return {k: v for k, v in mark.items() if k not in ("kind", "message")}
