"""Folding off the critical path, on the scripted backend: when a turn ends with the history past
most of the window, the summary is written between turns and the prompt's new start evaluated
into the model's cache ahead; the next turn starts with that warmed start and folds nothing. A
message that comes while the summary is written waits for it, saying so; a stop while it waits
cancels the fold, and nothing half-written is kept."""

from __future__ import annotations

import threading


from conftest import SMALL_WINDOW as WINDOW, eventually
from fixtures.scripted import Script, ScriptedRuntime, words
from lfwb.chat.memory import MESSAGE_OVERHEAD, PROMPT_MARGIN, SUMMARY_CUE, SUMMARY_SYSTEM
from lfwb.handles import Note

SETTINGS = dict(max_tokens=40)


def is_summary(gen) -> bool:
    """A summary request: the conversation's next message asking for it, or (when that does not
    fit) a transcript under the summary's own system prompt."""
    return gen.messages[-1]["content"].startswith(SUMMARY_CUE) or gen.messages[0]["content"] == SUMMARY_SYSTEM


def until_a_fold_starts(session, limit: int = 20, **settings) -> int:
    """Send turns until one ends with the history past most of the window; how many were sent."""
    for i in range(limit):
        session.send(f"Fact {i}: the code word is w{i}, remember it.", **{**SETTINGS, **settings})
        if session.folding is not None:
            return i + 1
    raise AssertionError(f"no fold started in {limit} turns")


def summary_runs(wb) -> list[dict]:
    return [r for r in wb.store.list_runs(limit=None) if r["kind"] == "chat-summary"]


def hold_summaries(wb, name: str) -> tuple[threading.Event, threading.Event]:
    """(reached, release): a summary's generation waits at its start until `release` is set, it
    is cancelled, or 10 s have passed."""
    runtime = wb.manager.runtime(name)
    reached, release, real = threading.Event(), threading.Event(), runtime.stream

    def stream(gen, cancel):
        if is_summary(gen):
            reached.set()
            for _ in range(1000):
                if release.wait(0.01) or cancel.is_set():
                    break
        return real(gen, cancel)

    runtime.stream = stream
    return reached, release


def test_the_summary_is_written_between_turns_and_the_next_turn_starts_with_the_warmed_prefix(wb, small):
    session = wb.chat("fold", model="small")
    reached, release = hold_summaries(wb, "small")
    until_a_fold_starts(session)
    assert reached.wait(10)  # a summary is being written between turns, and no message waits
    release.set()
    eventually(lambda: small.log[-1:] == ["warm"], what="the new start evaluated ahead")
    warmed = small.warmed[-1]
    row = session.row()
    assert warmed[0]["content"].endswith(row["summary"]) and row["summary"].startswith("Sure, noted")
    asked = len(small.asked)
    reply = session.send("What is the code word of fact 0?", **SETTINGS)
    # The next turn asked the model once (no summary during it), its prompt starting with the warmed start.
    assert len(small.asked) == asked + 1 and not is_summary(small.asked[-1])
    assert small.asked[-1].messages[: len(warmed)] == warmed
    assert reply.summarized and reply.fold_wait_ms is None


def test_the_summary_is_asked_as_the_next_message_of_the_conversation_the_model_has_cached(wb, scripted):
    # A window with room beside the conversation for the request and the summary (the 400 of
    # `small` has none: there the summary is written from a transcript, as the tests above check).
    script = ScriptedRuntime.scripts["wide"] = Script(words("Sure, noted: " + "all of it " * 6))
    scripted.manager.register(name="wide", runtime="scripted", source="wide", context_length=1000)
    session = wb.chat("sequel", model="wide")
    until_a_fold_starts(session, limit=30, max_tokens=150)
    session.folding.wait()
    turn, summary = script.asked[-2], script.asked[-1]
    # The last turn's messages and its answer, word for word, then one message naming what to fold:
    # the model computes only that message (llama.cpp keeps the rest cached from the turn).
    answer = session.history()[-1]["content"]
    assert summary.messages[:-1] == turn.messages + [{"role": "assistant", "content": answer}]
    ask = summary.messages[-1]
    folded = session.row()["summary_turns"]
    assert ask["role"] == "user" and ask["content"].startswith(SUMMARY_CUE)
    assert f'our first {folded} exchanges here, from "Fact 0: the code word' in ask["content"]


def test_a_message_during_the_summary_waits_for_it_and_says_so(wb, small):
    session = wb.chat("wait", model="small")
    reached, release = hold_summaries(wb, "small")
    until_a_fold_starts(session)
    assert reached.wait(10)
    handle = session.start("And the next fact?", **SETTINGS)
    notes: list[str] = []
    handle.listen(lambda e: notes.append(e.line) if isinstance(e, Note) else None).start()
    eventually(lambda: notes, what="the waiting line")
    assert not handle.done  # it waits for the summary
    release.set()
    reply = handle.result()
    assert notes == ["waiting for the summary of earlier turns to be written…"]
    assert reply.status == "done" and reply.summarized and reply.fold_wait_ms > 0
    assert "for the summary of earlier turns" in reply.note()
    assert [r["status"] for r in summary_runs(wb)] == ["done"]


def test_a_stop_while_waiting_cancels_the_fold_and_keeps_the_old_summary(wb, small):
    session = wb.chat("stop", model="small")
    reached, _release = hold_summaries(wb, "small")
    until_a_fold_starts(session)
    assert reached.wait(10)
    before = session.row()
    messages = len(session.history())
    handle = session.start("And the next fact?", **SETTINGS)
    notes: list[str] = []
    handle.listen(lambda e: notes.append(e.line) if isinstance(e, Note) else None).start()
    eventually(lambda: notes, what="the waiting line")
    handle.cancel()
    reply = handle.result()
    assert reply.status == "cancelled" and reply.run_id is None
    assert session.folding.done and session.folding.result() is None
    after = session.row()
    assert (after["summary"], after["summary_upto"], after["summary_turns"]) == (
        before["summary"],
        before["summary_upto"],
        before["summary_turns"],
    )
    assert len(session.history()) == messages  # the stopped message left nothing either
    assert [r["status"] for r in summary_runs(wb)] == ["cancelled"]


def test_a_chains_memory_keeps_to_the_smallest_window_among_its_links(wb, scripted):
    for name, window in (("roomy", 4000), ("narrow", WINDOW)):
        ScriptedRuntime.scripts[name] = Script(words("Sure, noted: " + "all of it " * 6))
        scripted.manager.register(name=name, runtime="scripted", source=name, context_length=window)
    wb.manager.alias("pair", ["roomy", "narrow"])
    session = wb.chat("chain", model="pair")
    for i in range(14):
        reply = session.send(f"Fact {i}: the code word is w{i}, remember it.", **SETTINGS)
        if session.folding is not None:
            session.folding.wait()
    assert reply.window == WINDOW
    chats = [g for g in ScriptedRuntime.scripts["roomy"].asked if not is_summary(g)]
    assert len(chats) == 14  # the first link answered every turn, with prompts the narrow one could take
    assert all(estimated(g.messages) <= WINDOW - SETTINGS["max_tokens"] for g in chats)


def estimated(messages: list[dict]) -> int:
    return sum(-(-len(m["content"]) // 4) + MESSAGE_OVERHEAD for m in messages) + PROMPT_MARGIN
