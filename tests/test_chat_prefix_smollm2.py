"""A chat turn on the bundled SmolLM2 (llama.cpp, slow) evaluates only its new message: the key/
value cache llama.cpp keeps covers the previous answer, also when that answer was sampled (its
tokens are not the ones its text tokenizes to), cut by max tokens, or stopped."""

from __future__ import annotations

import llama_cpp
import pytest

from lfwb.handles import Text

pytestmark = pytest.mark.slow

# Sampled, not greedy: a sampled answer can hold token pairs its text does not tokenize back to
# (" dep" + "icted" for " depicted"). With these seeds the answers here do; before the fix the
# turn after them evaluated 35-77 tokens (the previous answer from that pair on).
SAMPLED = dict(temperature=1.0, seed=7)
QUESTIONS = [
    "Tell me a story about a dragon named Ember who guards a library.",
    "Continue the story: Ember meets a young knight who wants to borrow a book.",
    "What book does the knight want, and why does Ember hesitate?",
    "How does the story end?",
]


def evaluated_by_llama(wb, session, text: str, max_tokens: int, **sampled) -> tuple[object, int]:
    """(the reply to `text`, the prompt tokens llama.cpp computed for it), read from llama.cpp's
    own counters: every token decoded, less the answer's tokens fed back (all but a cut one's last)."""
    llama = wb.manager.runtime("smollm2")._llama
    llama_cpp.llama_perf_context_reset(llama.ctx)
    reply = session.send(text, max_tokens=max_tokens, **(sampled or SAMPLED))
    perf = llama_cpp.llama_perf_context(llama.ctx)
    fed_back = reply.output_tokens - (1 if reply.output_tokens == max_tokens else 0)
    return reply, perf.n_p_eval + perf.n_eval - fed_back


def template_tokens(wb, text: str) -> int:
    """The new message and the chat template's markers around it (the last answer's end, the
    user's turn, the answer's opening), by SmolLM2's tokenizer."""
    return wb.manager.runtime("smollm2").count_tokens(text) + 12


def stopped_after(session, text: str, pieces: int, **settings):
    handle = session.start(text, **settings)
    seen = [0]

    def count(event) -> None:
        if isinstance(event, Text):
            seen[0] += 1
            if seen[0] == pieces:
                handle.cancel()

    handle.listen(count)
    return handle.result()


def test_after_answers_cut_by_max_tokens_each_turn_evaluates_only_its_message(wb):
    wb.manager.load("smollm2")
    session = wb.chat("cut", model="smollm2")
    evaluated = []
    for question in QUESTIONS:
        reply, count = evaluated_by_llama(wb, session, question, 120)
        assert reply.status == "done" and reply.output_tokens == 120  # cut by max tokens
        assert reply.evaluated_tokens == count  # what the reply says is llama.cpp's own count
        evaluated.append(count)
    limits = [template_tokens(wb, q) for q in QUESTIONS]
    assert all(n <= limit for n, limit in zip(evaluated[1:], limits[1:])), (evaluated, limits)


def test_after_a_stopped_answer_the_next_turn_evaluates_only_its_message(wb):
    wb.manager.load("smollm2")
    session = wb.chat("stopped", model="smollm2")
    sampled = dict(temperature=1.0, seed=0)
    session.send(QUESTIONS[0], max_tokens=120, **sampled)
    stopped = stopped_after(session, QUESTIONS[1], 100, max_tokens=200, **sampled)
    assert stopped.status == "cancelled" and stopped.text
    assert session.history()[-1]["status"] == "cancelled"  # the stopped answer is kept, as it was
    reply, count = evaluated_by_llama(wb, session, QUESTIONS[2], 40, **sampled)
    assert reply.evaluated_tokens == count
    assert count <= template_tokens(wb, QUESTIONS[2]), count
