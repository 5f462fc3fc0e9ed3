"""`%lfw panel chat`: a message sent through the widget is answered (streaming into the panel),
stored in the session the magic uses, and Stop keeps the partial answer."""

from __future__ import annotations

import pytest

from conftest import run_ok
from fixtures.scripted import Stall, words
from lfwb.widgets.chat_panel import ChatPanel

WAIT_S = 20  # a bound on a thread that should end at once: reaching it is the failure


@pytest.fixture
def open_panel(ip, scripted):
    made = []

    def opened(line: str = "") -> ChatPanel:
        made.append(run_ok(ip, f"%lfw panel chat {line}"))
        return made[-1]

    yield opened
    for panel in made:  # never leave a turn going into the next test
        panel.stop()
        if panel.handle is not None:
            panel.handle.wait()
        panel.close()


def press_send(panel: ChatPanel, text: str) -> None:
    panel.input.value = text
    panel.send_button.click()
    panel.handle.wait()
    assert panel.handle.done


def test_a_message_sent_through_the_panel_streams_its_answer_and_is_stored(ip, open_panel, scripted):
    scripted.model("fake", words("Hello Ada, nice to meet you."))
    panel = open_panel("--session intro")
    assert isinstance(panel, ChatPanel) and "fake" in panel.model_choice.options
    panel.model_choice.value = "fake"
    streamed: list[str] = []
    panel.answer.observe(lambda change: streamed.append(change["new"]), names="value")
    press_send(panel, "My name is Ada.")
    assert panel.reply.status == "done" and panel.reply.text == "Hello Ada, nice to meet you."
    growing = [v for v in streamed if "Hello" in v]
    assert len(growing) == 6 and "nice to meet you." in growing[-1]  # a piece at a time
    assert "My name is Ada." in panel.messages.value and "Hello Ada, nice to meet you." in panel.messages.value
    assert panel.input.value == "" and not panel.send_button.disabled and panel.stop_button.disabled
    # The same session as %%lfw chat: the magic's next turn sees the panel's.
    run_ok(ip, "%%lfw chat --session intro\nWhat is my name?")
    fake = scripted.manager.runtime("fake").script
    assert [m["content"] for m in fake.asked[-1].messages[1:]] == [
        "My name is Ada.",
        "Hello Ada, nice to meet you.",
        "What is my name?",
    ]
    assert "intro" in panel.session_choice.options


def test_stop_keeps_the_partial_answer_as_cancelled(open_panel, scripted):
    stall = Stall()
    scripted.model("fake", ["Half", " an", stall, " answer"])
    panel = open_panel()
    panel.model_choice.value = "fake"
    panel.input.value = "Tell me."
    panel.send_button.click()
    assert stall.reached.wait(WAIT_S)
    panel.stop_button.click()
    panel.handle.wait()
    assert panel.reply.status == "cancelled" and panel.reply.text in ("Half", "Half an")
    history = scripted.wb.chat("default").history()
    assert [(m["role"], m["status"]) for m in history] == [("user", "done"), ("assistant", "cancelled")]
    assert "(cancelled)" in panel.messages.value


def test_an_empty_message_is_one_line_and_sends_nothing(open_panel, scripted):
    fake = scripted.model("fake", ["Hi"])
    panel = open_panel()
    panel.input.value = "   "
    panel.send_button.click()
    assert "the message is empty" in panel.message.value and panel.handle is None
    assert fake.asked == [] and scripted.wb.store.list_chat_sessions(scripted.wb.project_id) == []


def test_with_rag_ticked_the_answer_shows_the_context_it_drew_on(open_panel, scripted):
    fake = scripted.model("fake", words("Buttons are blue [1]."))
    context = scripted.wb.add_context(text="Buttons are blue with white text.", name="style guide")
    scripted.wb.add_context(text="Deploys happen on Fridays after the review.", name="process")
    panel = open_panel()
    panel.model_choice.value = "fake"
    assert panel.mode_choice.disabled  # a ranking means nothing until RAG is ticked
    panel.rag_choice.value = True
    assert not panel.mode_choice.disabled and panel.mode_choice.value == "hybrid"  # the default
    press_send(panel, "What colour are buttons?")
    assert "Buttons are blue with white text." in fake.asked[-1].messages[-1]["content"]
    assert [s["context_id"] for s in panel.reply.sources] == [context["id"]]
    source = f"[1] style guide, chunk 0 (%lfw context show {context['id']})"
    assert f"<li>{source}</li>" in panel.messages.value and "sources: " + source in panel.message.value


def test_rag_by_vectors_with_embeddings_off_is_one_line_in_the_panel_and_sends_nothing(open_panel, scripted):
    fake = scripted.model("fake", ["Hi"])
    scripted.wb.add_context(text="Buttons are blue.", name="style guide")
    scripted.wb.embeddings = False
    panel = open_panel()
    panel.model_choice.value = "fake"
    panel.rag_choice.value = True
    assert panel.mode_choice.value == "bm25"  # what it ranks by with embeddings off
    panel.mode_choice.value = "hybrid"
    press_send(panel, "What colour are buttons?")
    assert "mode hybrid ranks by vectors, and embeddings are off" in panel.message.value
    assert "Lfwb.embeddings = True" in panel.message.value
    assert fake.asked == [] and scripted.wb.store.list_runs() == []
    assert panel.input.value == "What colour are buttons?"  # kept, to send again
