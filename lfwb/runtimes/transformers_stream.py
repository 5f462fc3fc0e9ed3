"""Running `model.generate` beside the consumer that streams its text.

`model.generate` blocks until the last token, so it runs on a thread of its own while the
runtime's `stream` reads a `TextIteratorStreamer` and stops it through a stopping criterion.
"""

from __future__ import annotations

import threading

from .transformers_placement import import_torch


def counting_streamer(tokenizer):
    """A TextIteratorStreamer whose items are (text, tokens that produced it)."""
    from transformers import TextIteratorStreamer

    class CountingStreamer(TextIteratorStreamer):
        def __init__(self):
            super().__init__(tokenizer, skip_prompt=True, skip_special_tokens=True)
            self.pending = 0

        def put(self, value):
            if not (self.skip_prompt and self.next_tokens_are_prompt):
                self.pending += int(value.numel())
            super().put(value)

        def on_finalized_text(self, text: str, stream_end: bool = False):
            tokens, self.pending = self.pending, 0
            self.text_queue.put((text, tokens))
            if stream_end:
                self.text_queue.put(self.stop_signal)

    return CountingStreamer()


def stop_when(*events: threading.Event):
    """A StoppingCriteriaList that ends generation at the next token once any event is set."""
    torch = import_torch()
    from transformers import StoppingCriteria, StoppingCriteriaList

    class StopWhen(StoppingCriteria):
        def __call__(self, input_ids, scores, **kwargs):
            stop = any(e.is_set() for e in events)
            return torch.full((input_ids.shape[0],), stop, dtype=torch.bool, device=input_ids.device)

    return StoppingCriteriaList([StopWhen()])


def first_stop(text: str, stops: list[str]) -> int | None:
    """Where the first of the stop strings starts in `text`, if any does."""
    hits = [text.find(s) for s in stops if s and s in text]
    return min(hits) if hits else None
