"""What a stream of chunks adds up to: the text, tokens, usage, cost and time to first text.

    >>> totals = StreamTotals()
    >>> for chunk in manager.stream("smollm2", gen):
    ...     totals.add(chunk)
    >>> totals.text, totals.output_tokens, totals.cost_usd

One set of rules for every reader of a stream (`RuntimeManager.generate`, the runs that
`record_generation` keeps, the manager's own stats): tokens are counted as chunks arrive, and
a backend's reported usage (the last chunk of a remote answer) replaces the count; the latest
input-token count, cost and finish reason reported win.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from .base import Chunk


@dataclass
class GenerationResult:
    """The whole text of a finished generation and how it went."""

    text: str
    model: str
    input_tokens: int | None
    output_tokens: int
    ttft_ms: float | None
    duration_ms: float
    finish_reason: str | None = None
    usage: dict | None = None
    cost_usd: float | None = None


@dataclass
class StreamTotals:
    """The running totals of one stream; `start` is the `time.perf_counter()` TTFT counts from."""

    start: float = field(default_factory=time.perf_counter)
    input_tokens: int | None = None
    output_tokens: int = 0
    ttft_ms: float | None = None
    first_text_at: float | None = None  # perf_counter() of the first piece of text
    finish_reason: str | None = None
    usage: dict | None = None  # what the backend reported (thinking tokens, ...)
    cost_usd: float | None = None
    _parts: list[str] = field(default_factory=list, repr=False)

    def add(self, chunk: Chunk) -> bool:
        """Count `chunk` in; True when it brought text."""
        if chunk.text:
            if self.first_text_at is None:
                self.first_text_at = time.perf_counter()
                self.ttft_ms = (self.first_text_at - self.start) * 1000
            self._parts.append(chunk.text)
        self.output_tokens += chunk.output_tokens
        if chunk.input_tokens is not None:
            self.input_tokens = chunk.input_tokens
        if chunk.usage:  # the backend's own totals are exact; the count so far may not be
            self.usage = chunk.usage
            self.input_tokens = chunk.usage.get("input_tokens", self.input_tokens)
            self.output_tokens = chunk.usage.get("output_tokens", self.output_tokens)
        if chunk.cost_usd is not None:
            self.cost_usd = chunk.cost_usd
        if chunk.finish_reason is not None:
            self.finish_reason = chunk.finish_reason
        return bool(chunk.text)

    @property
    def text(self) -> str:
        """All the text so far (joined once per new piece, however often it is asked for)."""
        if len(self._parts) > 1:
            self._parts[:] = ["".join(self._parts)]
        return self._parts[0] if self._parts else ""

    def tokens_per_second(self) -> float | None:
        """Output tokens per second after the first, up to now; None before two tokens."""
        if self.first_text_at is None or self.output_tokens < 2:
            return None
        elapsed = time.perf_counter() - self.first_text_at
        return (self.output_tokens - 1) / elapsed if elapsed > 0 else None

    def result(self, model: str) -> GenerationResult:
        """The finished generation of `model`, its duration counted from `start` to now."""
        return GenerationResult(
            text=self.text,
            model=model,
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            ttft_ms=self.ttft_ms,
            duration_ms=(time.perf_counter() - self.start) * 1000,
            finish_reason=self.finish_reason,
            usage=self.usage,
            cost_usd=self.cost_usd,
        )
