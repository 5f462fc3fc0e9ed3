"""Chat sessions through `%%lfw chat` and `wb.chat(...)` on the scripted backend: stored turns,
history, continuing in a new Workbench, stops, retrieval's sources, bad input."""

from __future__ import annotations

import threading

import pytest

from conftest import one_line, run_error, run_ok, stop_when_shown
from fixtures.scripted import Stall, words
from lfwb.errors import BadInput
from lfwb.workbench import Workbench


def asked_messages(script, turn: int = -1) -> list[tuple[str, str]]:
    return [(m["role"], m["content"]) for m in script.asked[turn].messages]


def test_each_cell_is_a_turn_stored_as_a_chat_run_and_the_next_prompt_holds_the_earlier_one(ip, scripted):
    fake = scripted.model("fake", words("Nice to meet you, Ada."))
    first = run_ok(ip, "%%lfw chat -m fake --session intro\nMy name is Ada.")
    second = run_ok(ip, "%%lfw chat --session intro\nWhat is my name?")
    assert first.text == second.text == "Nice to meet you, Ada."
    assert asked_messages(fake) == [
        ("system", "You are a helpful assistant."),
        ("user", "My name is Ada."),
        ("assistant", "Nice to meet you, Ada."),
        ("user", "What is my name?"),
    ]
    store = scripted.wb.store
    runs = store.list_runs()
    assert [(r["kind"], r["prompt"], r["status"]) for r in runs] == [
        ("chat", "What is my name?", "done"),
        ("chat", "My name is Ada.", "done"),
    ]
    session = store.get_chat_session(scripted.wb.project_id, "intro")
    assert session["model"] == "fake"  # -m is kept with the session: the second cell needed none
    messages = store.list_messages(session["id"])
    assert [(m["role"], m["run_id"], m["status"]) for m in messages] == [
        ("user", first.run_id, "done"),
        ("assistant", first.run_id, "done"),
        ("user", second.run_id, "done"),
        ("assistant", second.run_id, "done"),
    ]


def test_a_session_continues_in_a_new_workbench_on_the_same_file(scripted, db_path):
    fake = scripted.model("fake", words("Noted."))
    scripted.wb.chat("notes", model="fake", system="Be brief.").send("The launch is on Tuesday.")
    again = Workbench(str(db_path), manager=scripted.manager)  # a kernel restart, the same models
    try:
        reply = again.chat("notes").send("When is the launch?")
    finally:
        again.close()
    assert reply.status == "done" and reply.session == "notes"
    assert asked_messages(fake) == [
        ("system", "Be brief."),
        ("user", "The launch is on Tuesday."),
        ("assistant", "Noted."),
        ("user", "When is the launch?"),
    ]


def test_the_answer_streams_to_on_chunk_and_through_stream(scripted):
    scripted.model("fake", words("One two three"))
    session = scripted.wb.chat("s", model="fake")
    pieces: list[str] = []
    reply = session.send("Count.", on_chunk=pieces.append)
    assert pieces == ["One", " two", " three"] and reply.text == "One two three"
    streamed = list(session.stream("Again."))
    assert streamed[:-1] == ["One", " two", " three"]
    assert streamed[-1].text == "One two three" and streamed[-1].run_id > reply.run_id
    assert [m["role"] for m in session.history()] == ["user", "assistant"] * 2


def test_a_stop_from_another_thread_keeps_the_partial_answer_as_cancelled(scripted):
    stall = Stall()
    fake = scripted.model("fake", ["Half", " an", stall, " answer"])
    session = scripted.wb.chat("s", model="fake")
    shown: list[str] = []

    def show(piece: str) -> None:  # stop once the text so far has been read, as a reader would
        shown.append(piece)
        if "".join(shown) == "Half an":
            threading.Thread(target=lambda: (stall.reached.wait(5), turn.cancel())).start()

    turn = session.start("Tell me.", on_chunk=show)
    reply = turn.result()
    assert (reply.status, reply.text) == ("cancelled", "Half an")
    assert scripted.wb.store.get_run(reply.run_id)["status"] == "cancelled"
    assert [(m["role"], m["content"], m["status"]) for m in session.history()] == [
        ("user", "Tell me.", "done"),
        ("assistant", "Half an", "cancelled"),
    ]
    assert "cancelled" in fake.log
    # The session goes on, the cancelled answer in its history.
    fake.steps[:] = words("Fine.")
    assert session.send("Go on.").status == "done"


def test_an_interrupt_in_the_cell_keeps_the_partial_answer_and_says_one_line(
    ip, scripted, capsys, sigint, published, monkeypatch
):
    stall = Stall()
    scripted.model("fake", ["Half", " an", stall, " answer"])
    # Once the cell shows text, as a user would, and the model stalls.
    stop_when_shown(
        ip,
        monkeypatch,
        lambda data, _: data.get("text/plain", "").startswith("Half"),
        first=lambda: stall.reached.wait(5),
    )
    seen = run_error(ip, "%%lfw chat -m fake\nTell me.", capsys)
    row = scripted.wb.store.list_runs(limit=1)[0]
    # The stop lands while the model stalls; the text it had read by then is kept ("Half an", or
    # "Half" when the stop came before the cell read the second token from the model's queue).
    assert row["status"] == "cancelled" and row["output"] in ("Half", "Half an")
    tokens = row["output_tokens"]
    assert f"cancelled after {tokens} token{'s' if tokens > 1 else ''} (run {row['id']})" in seen
    assert "Traceback" not in seen
    history = scripted.wb.chat("default").history()
    assert [(m["role"], m["content"], m["status"]) for m in history] == [
        ("user", "Tell me.", "done"),
        ("assistant", row["output"], "cancelled"),
    ]


def test_sessions_history_and_delete(ip, scripted, capsys):
    scripted.model("fake", words("Hello."))
    run_ok(ip, "%%lfw chat -m fake --session a\nHi.")
    run_ok(ip, "%%lfw chat -m fake --session b\nHey.")
    sessions = run_ok(ip, "%lfw chat sessions")
    assert [(s["name"], s["messages"]) for s in sessions] == [("b", 2), ("a", 2)]
    history = run_ok(ip, "%lfw chat history --session a")
    assert [(m["role"], m["content"]) for m in history] == [("user", "Hi."), ("assistant", "Hello.")]
    run_ok(ip, "%lfw chat delete a")
    assert "deleted chat session 'a'" in capsys.readouterr().out
    assert [s["name"] for s in run_ok(ip, "%lfw chat sessions")] == ["b"]
    assert len(scripted.wb.store.list_runs()) == 2  # the runs that answered stay


def test_new_starts_afresh_and_keeps_the_earlier_session(ip, scripted):
    fake = scripted.model("fake", words("Ok."))
    run_ok(ip, "%%lfw chat -m fake --session s\nFirst.")
    run_ok(ip, "%%lfw chat -m fake --session s --new\nSecond.")
    assert asked_messages(fake) == [("system", "You are a helpful assistant."), ("user", "Second.")]
    names = {s["name"]: s["messages"] for s in run_ok(ip, "%lfw chat sessions")}
    assert names == {"s": 2, "s-2": 2}


@pytest.mark.parametrize(
    "cell, expected",
    [
        ("%%lfw chat -m fake\n   \n", "the message is empty"),
        ("%lfw chat history --session nope", "no chat session 'nope' in this project — sessions: kept"),
        ("%lfw chat delete nope", "no chat session 'nope' in this project — sessions: kept"),
        ("%%lfw chat -m nosuch\nHi", "no model named 'nosuch'"),
        ("%%lfw chat -m fake --temperature 9\nHi", "temperature must be between 0 and 2"),
        ("%%lfw chat -m fake --system ''\nHi", "the system prompt is empty"),
        ("%lfw chat", "chat takes a cell body"),
    ],
)
def test_bad_input_is_one_line_and_changes_nothing(ip, scripted, capsys, cell, expected):
    fake = scripted.model("fake", ["Hi"])
    store = scripted.wb.store
    kept = store.create_chat_session(scripted.wb.project_id, "kept", model="fake")
    store.add_message(kept["id"], "user", "Earlier.")
    before = (store.list_chat_sessions(scripted.wb.project_id), store.list_messages(kept["id"]))
    assert expected in one_line(run_error(ip, cell, capsys))
    assert (store.list_chat_sessions(scripted.wb.project_id), store.list_messages(kept["id"])) == before
    assert store.list_runs() == [] and fake.asked == []


# -- retrieval (lfwb.chat.retrieval, BM25: no embedding model needed) --------------------------


@pytest.fixture
def retrieval(scripted, monkeypatch):
    """The real `retrieve`, noting what it was asked."""
    from lfwb.chat import retrieval as module

    asked, real = [], module.retrieve

    def retrieve(store, project_id, query, mode="bm25", limit=5, **options):
        asked.append((query, mode))
        return real(store, project_id, query, mode=mode, limit=limit, **options)

    monkeypatch.setattr(module, "retrieve", retrieve)
    return asked


def test_rag_puts_chunks_in_the_prompt_and_shows_and_stores_the_sources(ip, scripted, retrieval, published):
    fake = scripted.model("fake", words("Buttons are blue [1]."))
    context = scripted.wb.add_context(text="Buttons are blue with white text.", name="style guide")
    scripted.wb.add_context(text="Deploys happen on Fridays after the review.", name="process")
    reply = run_ok(ip, "%%lfw chat -m fake --rag\nWhat colour are buttons?")
    assert retrieval == [("What colour are buttons?", "hybrid")]  # the default, with the rag extra
    last = fake.asked[-1].messages[-1]["content"]
    assert "[1] (style guide, chunk 0)\nButtons are blue with white text." in last
    assert last.endswith("Question: What colour are buttons?")
    source = f"[1] style guide, chunk 0 (%lfw context show {context['id']})"
    assert source in published[-1]["data"]["text/html"]
    assert [s["context_id"] for s in reply.sources] == [context["id"]]  # only what matched
    history = scripted.wb.chat("default").history()
    assert history[0]["content"] == "What colour are buttons?"  # stored as written, the chunks aside
    assert [s["context_name"] for s in history[1]["sources"]] == ["style guide"]
    # The next turn's prompt holds the earlier question as asked, not the chunks again.
    run_ok(ip, "%%lfw chat -m fake\nThanks.")
    assert asked_messages(fake)[1] == ("user", "What colour are buttons?")


def test_a_cited_context_deleted_later_shows_as_deleted(ip, scripted, retrieval):
    scripted.model("fake", words("Blue."))
    context = scripted.wb.add_context(text="Buttons are blue.", name="style guide")
    run_ok(ip, "%%lfw chat -m fake --rag\nButton colour?")
    scripted.wb.store.delete_context(context["id"])
    history = run_ok(ip, "%lfw chat history")
    assert history[1]["sources"] == "style guide, chunk 0 (deleted)"


@pytest.mark.parametrize("mode", ["vector", "hybrid"])
def test_rag_by_vectors_with_embeddings_off_is_refused_in_one_line_before_anything_loads(
    ip, scripted, capsys, embedded, mode
):
    fake = scripted.model("fake", ["Hi"])
    scripted.wb.add_context(text="Buttons are blue.", name="style guide")
    run_ok(ip, "%config Lfwb.embeddings = False")
    seen = run_error(ip, f"%%lfw chat -m fake --rag --mode {mode}\nButton colour?", capsys)
    # The line `%lfw context search --mode ...` gives.
    assert (
        len(seen.splitlines()) == 1 and f"mode {mode} ranks by vectors, and embeddings are off — use mode bm25" in seen
    )
    assert "%config Lfwb.embeddings = True" in seen and "--mode bm25" in seen
    assert embedded == [] and fake.asked == [] and scripted.wb.store.list_runs() == []
    assert scripted.wb.store.list_chat_sessions(scripted.wb.project_id) == []


def test_the_session_api_the_websocket_calls_refuses_vectors_with_embeddings_off_too(scripted, embedded):
    fake = scripted.model("fake", ["Hi"])
    scripted.wb.add_context(text="Buttons are blue.", name="style guide")
    scripted.wb.embeddings = False  # as `lfwb serve` over a kernel with Lfwb.embeddings = False
    session = scripted.wb.chat("ws", model="fake")
    with pytest.raises(BadInput, match="embeddings are off"):
        session.send("Button colour?", rag=True, mode="vector")
    assert embedded == [] and fake.asked == [] and session.history() == []
    with pytest.raises(BadInput, match="unknown search mode 'fuzzy'"):
        session.send("Button colour?", rag=True, mode="fuzzy")
    assert session.send("Button colour?", rag=True, mode="bm25").sources  # BM25 needs no embeddings
    assert session.send("Button colour?", rag=True).sources and embedded == []  # the default is bm25 then
