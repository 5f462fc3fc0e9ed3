"""Chat on the bundled SmolLM2 (llama.cpp, slow): an earlier turn is in the prompt, a long chat in a
small window is summarized and never overflows it, a session continues in a new Workbench."""

from __future__ import annotations

import pytest

from lfwb.runtimes import default_model_path
from lfwb.workbench import Workbench

pytestmark = pytest.mark.slow

SETTINGS = dict(max_tokens=24, temperature=0, seed=0)


def sent_messages(manager, name: str) -> list[list[dict]]:
    """Record the messages each generation on `name` is given."""
    runtime = manager.runtime(name)
    sent, real = [], runtime.stream

    def stream(gen, cancel):
        sent.append(gen.messages)
        return real(gen, cancel)

    runtime.stream = stream
    return sent


def test_the_earlier_turn_is_in_the_prompt_and_the_model_counts_it(wb):
    sent = sent_messages(wb.manager, "smollm2")
    session = wb.chat("recall", model="smollm2")
    first = session.send("My name is Ada and my cat is called Pixel.", **SETTINGS)
    second = session.send("What is my cat called?", **SETTINGS)
    assert [m["content"] for m in sent[1][1:3]] == ["My name is Ada and my cat is called Pixel.", first.text]
    # llama.cpp's own count of the second prompt holds the whole first turn.
    assert second.input_tokens > first.input_tokens + first.output_tokens
    assert second.tokens["window"] == 2048


def test_a_long_chat_in_a_small_window_is_summarized_and_never_overflows(wb):
    wb.manager.register(
        name="smollm2-512", runtime="llama_cpp", source=default_model_path(), context_length=512, persist=False
    )
    session = wb.chat("long", model="smollm2-512")
    replies = [
        session.send(
            f"Note {i}: the parcel for room {100 + i} goes to the {['north', 'south'][i % 2]} "
            f"wing, and it must be signed for by the night porter before six.",
            **SETTINGS,
        )
        for i in range(12)
    ]
    if session.folding is not None:  # a fold the last turn started, between turns
        session.folding.wait()
    assert all(r.status == "done" for r in replies)
    runs = wb.store.list_runs(limit=None)
    assert all(r["input_tokens"] + r["output_tokens"] <= 512 for r in runs)
    assert any(r["kind"] == "chat-summary" for r in runs)
    assert replies[-1].summarized and replies[-1].summary_turns >= 2
    assert "summary of" in replies[-1].note()
    assert session.row()["summary"]


def test_a_session_continues_in_a_new_workbench(wb, db_path):
    wb.chat("trip", model="smollm2").send("I am travelling to Lisbon in May.", **SETTINGS)
    wb.manager.unload_all()
    again = Workbench(str(db_path))  # a kernel restart: a new store object, a new manager
    try:
        sent = sent_messages(again.manager, "smollm2")
        reply = again.chat("trip").send("Which city am I travelling to?", **SETTINGS)
    finally:
        again.manager.unload_all()
        again.close()
    assert reply.status == "done"
    assert sent[0][1]["content"] == "I am travelling to Lisbon in May."
