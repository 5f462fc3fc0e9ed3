"""What a chat turn sends: as many recent turns as fit the model's window, and a rolling summary.

Tokens are counted with the model's own tokenizer (`Runtime.count_tokens`); the answer's
`max_tokens` is kept free. When the history no longer fits, the oldest turns are folded into
the summary — not one turn at a time but a block, so that the kept turns take at most half of
the room: the prompt then starts the same way for several turns, and llama.cpp reuses the
key/value cache of that shared start (a summary that changed every turn would change the
prompt's start every turn). The summary sits in the system message, retrieved sources in the
last user message: both stay out of the way of the stable prefix.

A turn that ends leaving no room for a next message folds its block at once, in the background
(`ahead`, lfwb/chat/folding.py); `plan` folds only what that left undone.
Nothing here calls a model; `fold` is handed a `write(messages, max_tokens) -> str`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..errors import PromptTooLong

if TYPE_CHECKING:
    from .retrieval import Hit

DEFAULT_SYSTEM = "You are a helpful assistant."
# A window for models that do not say theirs (a remote API, a backend without one).
DEFAULT_WINDOW = 8192
# The chat template's markers around each message (SmolLM2: `<|im_start|>user\n` … `<|im_end|>\n`,
# 5 tokens) and the assistant's opening; counted generously, the window is never exceeded.
MESSAGE_OVERHEAD = 8
PROMPT_MARGIN = 16
# The summary gets at most this many tokens, and at most a quarter of the room: on SmolLM2 on
# two cores 128 tokens take ~2 s, so a fold (summary and warm-up) fits a reader's pause.
SUMMARY_TOKENS = 128
# A turn that ends with no room left for a next message of this share of the room folds the
# oldest block at once, in the background (lfwb/chat/folding.py), rather than the next message
# folding it while the person waits: as often as the next turn would have, only earlier.
NEXT_MESSAGE_SHARE = 1 / 8

Count = Callable[[str], int]
Write = Callable[[list[dict], int], str]


@dataclass
class Plan:
    """One turn's prompt: `messages` to send; `fold` the history rows to fold into the summary
    first (empty: the history fits); the `sources` that fit; `tokens` the prompt's count."""

    messages: list[dict]
    kept: list[dict]
    fold: list[dict]
    sources: list[Hit]
    tokens: int
    room: int  # what the prompt may take: the window less the answer and a margin


@dataclass
class Memory:
    """The budget of one model for one turn's answer length."""

    count: Count
    window: int
    max_tokens: int
    model: str = "the model"
    counts: dict = field(default_factory=dict)  # text → tokens: history is recounted every turn

    @property
    def room(self) -> int:
        return self.window - self.max_tokens - PROMPT_MARGIN

    @property
    def summary_tokens(self) -> int:
        return max(16, min(SUMMARY_TOKENS, self.room // 4))

    def tokens(self, message: dict) -> int:
        text = message["content"]
        if text not in self.counts:
            self.counts[text] = self.count(text)
        return self.counts[text] + MESSAGE_OVERHEAD

    def plan(
        self,
        system: str | None,
        summary: str | None,
        summary_turns: int,
        history: list[dict],
        text: str,
        hits: Sequence[Hit] = (),
    ) -> Plan:
        """The prompt for `text` after `history` (message rows, oldest first, those after the
        summary). Refuses (PromptTooLong, nothing sent) a message that cannot fit on its own."""
        room = self.room
        base = self.tokens({"content": system_text(system, None, 0)}) + self.tokens({"content": text})
        if base > room:
            raise PromptTooLong(
                f"the message and system prompt take {base} tokens but {self.model}'s window of "
                f"{self.window} leaves {room} beside the answer's {self.max_tokens} — shorten it, or "
                "lower max tokens",
                model=self.model,
                tokens=base,
                limit=room,
            )
        summary_cost = self.tokens({"content": system_text(system, summary, summary_turns)}) - self.tokens(
            {"content": system_text(system, None, 0)}
        )
        # Retrieved chunks take at most half of what is left; the rest is for the history.
        sources: list[Hit] = []
        used = 0
        for hit in hits:
            cost = self.count(hit.text) + MESSAGE_OVERHEAD
            if used + cost > (room - base - summary_cost) // 2:
                break
            sources.append(hit)
            used += cost
        question = {"role": "user", "content": with_sources(text, sources)}
        base = base - self.tokens({"content": text}) + self.tokens(question)
        sizes = [self.tokens(m) for m in history]
        fold: list[dict] = []
        if sum(sizes) > room - base - summary_cost:
            fold, history = self._block(history, sizes, base, summary_cost)
        messages = stable_start(system, summary, summary_turns, history) + [question]
        tokens = sum(self.tokens(m) for m in messages) + PROMPT_MARGIN
        return Plan(messages, history, fold, sources, tokens, room)

    def ahead(self, system: str | None, summary: str | None, summary_turns: int, history: list[dict]) -> list[dict]:
        """The block of `history` to fold now that a turn has ended, before any next message:
        empty while a next message of `NEXT_MESSAGE_SHARE` of the room still fits beside it."""
        sizes = [self.tokens(m) for m in history]
        start = self.tokens({"content": system_text(system, summary, summary_turns)})
        reserve = int(self.room * NEXT_MESSAGE_SHARE)
        if start + sum(sizes) + reserve <= self.room:
            return []
        base = self.tokens({"content": system_text(system, None, 0)}) + reserve
        cost = start - self.tokens({"content": system_text(system, None, 0)})
        return self._block(history, sizes, base, cost)[0]

    def _block(self, history: list[dict], sizes: list[int], base: int, summary_cost: int) -> tuple[list, list]:
        """(the oldest rows to fold, the rows kept): the kept turns fill at most half of what is
        left beside a summary of full size, so the next turns fit without folding again (and the
        prompt keeps its start); they start with a user's turn."""
        left = max(0, self.room - base - max(summary_cost, self.summary_tokens + 32))
        keep_from, total = len(history), 0
        while keep_from > 0 and total + sizes[keep_from - 1] <= left // 2:
            keep_from -= 1
            total += sizes[keep_from]
        while keep_from < len(history) and history[keep_from]["role"] != "user":
            keep_from += 1
        return history[:keep_from], history[keep_from:]

    def fold(self, summary: str | None, rows: list[dict], write: Write, context: list[dict] | None = None) -> str:
        """A new summary: `summary` with `rows` folded in. Given `context` (the last turn's
        messages and its answer, whose history starts with `rows`), asked as that conversation's
        next message: llama.cpp has it cached and evaluates only the request. Otherwise (it does
        not fit, or no context) written from a transcript in as many passes as the window needs."""
        if context and rows:
            ask = {"role": "user", "content": summary_ask(summary, rows)}
            # What the window leaves after the conversation; a little short of the budget will do.
            budget = min(
                self.summary_tokens, self.window - sum(self.tokens(m) for m in context + [ask]) - PROMPT_MARGIN
            )
            if budget >= self.summary_tokens // 2:
                return write(context + [ask], budget).strip() or summary or ""
        limit = self.window - self.summary_tokens - PROMPT_MARGIN - 2 * MESSAGE_OVERHEAD
        rows = list(rows)
        while rows:
            head = summary_request(summary, [])
            room = limit - self.count(head) - self.count(SUMMARY_SYSTEM)
            taken: list[dict] = []
            while rows and self.count(transcript(taken + rows[:1])) <= room:
                taken.append(rows.pop(0))
            if not taken:  # one message alone is too long: summarize its start
                taken.append({**rows[0], "content": clip(self.count, rows.pop(0)["content"], room - 8)})
            request = [
                {"role": "system", "content": SUMMARY_SYSTEM},
                {"role": "user", "content": summary_request(summary, taken)},
            ]
            summary = write(request, self.summary_tokens).strip() or summary
        return summary or ""


SUMMARY_SYSTEM = (
    "You keep the memory of a conversation. Write a short summary in plain sentences of what was "
    "said: names, facts, numbers, decisions, open questions. No preamble."
)


# How a summary asked inside the conversation begins (the rest names the exchanges to fold).
SUMMARY_CUE = "Pause our conversation: write a summary of it for your memory."


def summary_ask(summary: str | None, rows: list[dict]) -> str:
    """The request for a summary as the conversation's next message: which exchanges it covers
    (the first `rows`, named by their ends) and what it keeps."""
    turns = sum(1 for m in rows if m["role"] == "user")
    first, last = rows[0]["content"], rows[-1]["content"]
    earlier = "the summary of earlier turns in your instructions and " if summary else ""
    return (
        f"{SUMMARY_CUE} Cover {earlier}only our first {turns} exchange{'s' if turns != 1 else ''} here, from "
        f"{snippet(first)} to {snippet(last)}; leave out what came after. Plain sentences: names, facts, "
        "numbers, decisions, open questions. No preamble."
    )


def snippet(text: str, words: int = 6) -> str:
    cut = text.split()
    return '"' + " ".join(cut[:words]) + ("…" if len(cut) > words else "") + '"'


def stable_start(system: str | None, summary: str | None, turns: int, kept: list[dict]) -> list[dict]:
    """What every prompt starts with until the next fold: the system message (with the summary)
    and the kept turns. A fold evaluates it into the model's cache ahead of the next message."""
    return [{"role": "system", "content": system_text(system, summary, turns)}] + [
        {"role": m["role"], "content": m["content"]} for m in kept
    ]


def summary_request(summary: str | None, rows: list[dict]) -> str:
    earlier = f"Summary so far:\n{summary}\n\n" if summary else ""
    return f"{earlier}Conversation to add:\n{transcript(rows)}\n\nThe updated summary:"


def transcript(rows: list[dict]) -> str:
    return "\n".join(f"{'User' if m['role'] == 'user' else 'Assistant'}: {m['content']}" for m in rows)


def system_text(system: str | None, summary: str | None, turns: int) -> str:
    text = system or DEFAULT_SYSTEM
    if summary:
        text += f"\n\nSummary of the {turns} earlier turn{'s' if turns != 1 else ''} of this conversation:\n{summary}"
    return text


def with_sources(text: str, hits: Sequence[Hit]) -> str:
    """The user's message with the retrieved chunks before it, numbered for citing."""
    if not hits:
        return text
    blocks = "\n\n".join(f"[{i}] ({h.context_name}, chunk {h.chunk_index})\n{h.text}" for i, h in enumerate(hits, 1))
    return f"Sources (cite them as [1], [2], … where they help):\n\n{blocks}\n\nQuestion: {text}"


def clip(count: Count, text: str, limit: int) -> str:
    """The longest start of `text` that takes at most `limit` tokens (halving, then growing)."""
    if count(text) <= limit:
        return text
    low, high = 0, len(text)
    while high - low > 16:
        mid = (low + high) // 2
        if count(text[:mid]) <= limit:
            low = mid
        else:
            high = mid
    return text[:low]
