"""A chat's memory on the scripted backend: the prompt stays within the model's window, leaving
room for the answer; older turns fold into a summary written by the model, in blocks, so the
prompt keeps its start for several turns; a message that cannot fit is refused, nothing stored."""

from __future__ import annotations


from conftest import SMALL_WINDOW as WINDOW, one_line, run_error, run_ok
from lfwb.chat.memory import MESSAGE_OVERHEAD, PROMPT_MARGIN, SUMMARY_CUE, Memory

MAX_TOKENS = 40


def is_chat(gen) -> bool:
    """A chat turn's request, not a summary's (asked as the next message, or from a transcript)."""
    return gen.messages[0]["content"].startswith("You are") and not gen.messages[-1]["content"].startswith(SUMMARY_CUE)


def estimated(messages: list[dict]) -> int:
    return sum(-(-len(m["content"]) // 4) + MESSAGE_OVERHEAD for m in messages) + PROMPT_MARGIN


def test_a_long_chat_never_exceeds_the_window_and_says_when_a_summary_stood_in(ip, small, published):
    replies = [
        run_ok(ip, f"%%lfw chat -m small --max-tokens {MAX_TOKENS}\nFact {i}: the code word is w{i}, remember it.")
        for i in range(14)
    ]
    settled()
    chats = [g for g in small.asked if is_chat(g)]
    assert all(estimated(g.messages) <= WINDOW - MAX_TOKENS for g in chats)
    summaries = [g for g in small.asked if g not in chats]
    assert summaries, "a summary was written"
    first = next(i for i, r in enumerate(replies) if r.summarized)
    assert all(r.summarized for r in replies[first:]) and not any(r.summarized for r in replies[:first])
    last = replies[-1]
    assert f"summary of {last.summary_turns} earlier turns used" in published[-1]["data"]["text/html"]
    session = small_session()
    # The last turn may have started a fold of its own, between turns.
    assert session["summary"].startswith("Sure, noted") and session["summary_turns"] >= last.summary_turns
    # Every turn is kept in the store, summarized or not.
    assert len(ip.run_line_magic("lfw", "chat history")) == 28
    kinds = [r["kind"] for r in small_store().list_runs()]
    assert kinds.count("chat") == 14 and kinds.count("chat-summary") == len(summaries)


def test_the_summary_is_rewritten_in_blocks_so_the_prompt_keeps_its_start(ip, small):
    for i in range(16):
        run_ok(ip, f"%%lfw chat -m small --max-tokens {MAX_TOKENS}\nTurn {i} says something worth keeping.")
    settled()
    chats = [g.messages for g in small.asked if is_chat(g)]
    # A turn's prompt starts with the whole of the previous one unless the turn folded a block.
    continued = [len(a) < len(b) and b[: len(a) - 1] == a[:-1] for a, b in zip(chats, chats[1:])]
    folds = continued.count(False)
    assert 1 <= folds <= len(continued) // 3, continued


def test_a_message_too_long_for_the_window_is_refused_and_nothing_is_stored(ip, small, capsys):
    seen = one_line(run_error(ip, "%%lfw chat -m small\n" + "word " * 400, capsys))
    assert "PromptTooLong" in seen and f"window of {WINDOW}" in seen
    assert small.asked == [] and small_store().list_runs() == []
    assert ip.run_line_magic("lfw", "chat sessions") == []  # the refused first turn left no session


def test_memory_counts_with_the_tokenizer_it_is_given_and_keeps_the_answer_free():
    count = lambda text: len(text.split())  # noqa: E731 - a tokenizer of whole words
    memory = Memory(count, window=300, max_tokens=30)
    history = [{"id": i, "role": "user" if i % 2 else "assistant", "content": "w " * 10} for i in range(1, 21)]
    plan = memory.plan(None, None, 0, history, "question")
    assert plan.room == 300 - 30 - PROMPT_MARGIN
    assert plan.fold and plan.kept and plan.fold + plan.kept == history and plan.kept[0]["role"] == "user"
    # The kept turns take at most half of what a full summary leaves: room for the next turns.
    assert sum(count(m["content"]) + MESSAGE_OVERHEAD for m in plan.kept) <= plan.room // 2
    assert memory.plan(None, None, 0, history[:6], "question").fold == []  # what fits is sent whole


def settled() -> None:
    """Wait for a fold the last turn started in the background (lfwb/chat/folding.py)."""
    from lfwb.workbench import workbench

    folding = workbench().chat("default").folding
    if folding is not None:
        folding.wait()


def small_store():
    from lfwb.workbench import workbench

    return workbench().store


def small_session() -> dict:
    from lfwb.workbench import workbench

    return workbench().store.get_chat_session(workbench().project_id, "default")
