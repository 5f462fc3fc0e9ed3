"""What the model saw: every run keeps the request exactly as sent (lfwb/sent.py), `%lfw show`
lists it (the summary, the earlier turns, the retrieved chunks, each message's tokens), and
`%lfw diff` says what changed between two runs — on the scripted backend, over a real store file."""

from __future__ import annotations

import json


from conftest import one_line, raw, run_error, run_ok
from fixtures.scripted import words
from lfwb.store import Store


def test_show_of_a_chat_turn_lists_the_summary_the_earlier_turns_and_the_chunks(ip, small, db_path):
    run_ok(ip, '%lfw context add --text "The launch code word is heron, said twice." --name codes')
    replies = [
        run_ok(ip, f"%%lfw chat -m small --max-tokens 40 --rag\nFact {i}: the code word is w{i}, remember it.")
        for i in range(12)
    ]
    reply = replies[-1]
    assert reply.summarized and reply.sources, "the turn had a summary and a retrieved chunk"
    shown = run_ok(ip, f"%lfw show {reply.run_id}")
    text = shown.as_text()
    messages = shown["sent"]["messages"]
    assert [m["part"] for m in messages][0] == "system" and messages[-1]["part"] == "turn"
    assert f"with the summary of {reply.summary_turns} earlier turns" in text
    assert messages[0]["summary"]["turns"] == reply.summary_turns
    earlier = [m for m in messages if m["part"] == "history"]
    assert earlier and [m["role"] for m in earlier][:2] == ["user", "assistant"]
    assert all(m["content"] in text for m in earlier)  # each earlier turn, word for word
    assert "retrieved chunk: codes, chunk 0 (context 1, chunk id 1)" in text
    assert messages[-1]["chunks"][0]["context_id"] == 1
    assert all(isinstance(m["tokens"], int) and m["tokens"] > 0 for m in messages)
    assert text.index("sent ·") < text.index("answer ·")
    assert "retrieved chunk: codes" in shown._repr_html_()
    # The file alone holds it: another Store on it reads the same request.
    other = Store(db_path)
    try:
        from lfwb.sent import sent_of

        assert [m["content"] for m in sent_of(other, reply.run_id)["messages"]] == [m["content"] for m in messages]
    finally:
        other.close()
    # What was recorded is what the model got (the turn's request: a summary may have been asked since).
    got = next(g for g in reversed(small.asked) if g.messages[-1]["content"] == messages[-1]["content"])
    assert [m["content"] for m in messages] == [m["content"] for m in got.messages]


def test_a_generation_a_raw_prompt_a_compare_column_and_a_pipeline_step_each_keep_what_they_sent(ip, scripted):
    scripted.model("a", words("one two"))
    scripted.model("b", words("three"))
    wb = scripted.wb
    made = wb.generate("Colour?", model="a", system="Be brief.", max_tokens=9, seed=4)
    sent = wb.show_run(made.run_id)["sent"]
    assert [(m["role"], m["content"], m["part"]) for m in sent["messages"]] == [
        ("system", "Be brief.", "system"),
        ("user", "Colour?", "turn"),
    ]
    assert sent["settings"]["max_tokens"] == 9 and sent["settings"]["seed"] == 4
    raw_run = wb.generate("Once upon", model="a", raw=True)
    assert wb.show_run(raw_run.run_id)["sent"]["messages"][0] | {"tokens": None} == {
        "role": "prompt",
        "content": "Once upon",
        "part": "prompt",
        "tokens": None,
        "summary": None,
        "chunks": [],
    }
    compared = wb.compare("Side by side?", ["a", "b"])
    for model in ("a", "b"):
        column = wb.show_run(compared.results[model].run_id)
        assert column["sent"]["messages"][-1]["content"] == "Side by side?"
    assert {c["model"] for c in wb.show_run(compared.run_id)["columns"]} == {"a", "b"}
    run_ok(
        ip,
        '%%lfw pipeline two\nsteps:\n  - {name: first, model: a, prompt: "Plan {input}"}\n'
        '  - {name: second, model: b, prompt: "Build {steps.first.output}"}',
    )
    piped = run_ok(ip, "%lfw run two --input 'a form'")
    steps = {s["name"]: s for s in wb.show_run(piped.run_id)["steps"]}
    assert steps["first"]["sent"]["messages"][-1]["content"] == "Plan a form"
    assert steps["second"]["sent"]["messages"][-1]["content"] == "Build one two"
    assert "step second" in run_ok(ip, f"%lfw show {piped.run_id}").as_text()


def test_a_key_never_lands_in_the_recorded_request(ip, scripted, monkeypatch, db_path):
    secret = "sk-test-0123456789abcdef"
    monkeypatch.setenv("SOMEONE_API_KEY", secret)
    scripted.model("fake", words("fine"))
    scripted.model("other", words("also fine"))
    wb = scripted.wb
    wb.generate(f"my key is {secret}", model="fake", system=f"Never say {secret}.", stop=[secret])
    wb.chat("keys", model="fake").send(f"remember {secret}")
    wb.compare(f"compare {secret}", ["fake", "other"])
    for _ in range(2):  # the second answer comes from the cache, in a row of its own
        wb.generate(f"cached {secret}", model="fake", temperature=0, cache=True)
    stored = json.dumps([dict(r) for r in raw(db_path).execute("SELECT * FROM sent_texts")])
    stored += json.dumps([dict(r) for r in raw(db_path).execute("SELECT prompt, params_json FROM runs")])
    assert secret not in stored and "***" in stored


def test_a_key_in_a_pipeline_input_lands_in_no_step_or_run_row(ip, scripted, monkeypatch, db_path):
    secret = "sk-test-0123456789abcdef"
    monkeypatch.setenv("SOMEONE_API_KEY", secret)
    scripted.model("fake", words("fine"))
    run_ok(ip, '%%lfw pipeline keyed\nsteps:\n  - {name: first, model: fake, prompt: "Use {input}"}')
    piped = run_ok(ip, f"%lfw run keyed --input 'my key {secret}'")
    conn = raw(db_path)
    stored = json.dumps([dict(r) for r in conn.execute("SELECT prompt, params_json FROM steps")])
    stored += json.dumps([dict(r) for r in conn.execute("SELECT prompt, params_json FROM runs")])
    assert secret not in stored and "my key ***" in stored
    assert secret not in run_ok(ip, f"%lfw show {piped.run_id}").as_text()


def test_a_key_in_a_run_or_step_imported_over_rest_lands_in_no_row(server, monkeypatch, db_path):
    secret = "sk-test-0123456789abcdef"
    monkeypatch.setenv("SOMEONE_API_KEY", secret)
    http = server.http
    run = http.post("/api/v1/runs", json={"model": "m", "prompt": f"use {secret}", "output": f"got {secret}"})
    assert run.status_code == 201 and secret not in run.text
    step = {"run_id": run.json()["id"], "name": f"call {secret}", "prompt": f"p {secret}", "output": f"o {secret}"}
    step["error"] = f"refused {secret}"
    assert http.post("/api/v1/steps", json=step).status_code == 201
    conn = raw(db_path)
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    stored = json.dumps([[dict(r) for r in conn.execute(f'SELECT * FROM "{t}"')] for t in tables], default=str)
    assert secret not in stored and "use ***" in stored and "o ***" in stored


def test_a_long_chat_grows_the_store_linearly_not_by_its_history_each_turn(scripted, db_path):
    scripted.model(
        "fake", words("A reply of a fair length, some twenty words, to fill the history as a real answer would.")
    )
    session = scripted.wb.chat("long", model="fake")
    conn = raw(db_path)

    def stored() -> int:
        texts = conn.execute("SELECT coalesce(sum(length(text)), 0) FROM sent_texts").fetchone()[0]
        rows = sum(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("sent_messages", "sent_requests"))
        return texts + 16 * rows

    sizes, sent = [stored()], 0
    for i in range(40):
        reply = session.send(f"Turn {i}: tell me one more thing about the harbour.")
        sizes.append(stored())
        sent += sum(len(m["content"]) for m in scripted.wb.show_run(reply.run_id)["sent"]["messages"])
    first, last = sizes[11] - sizes[1], sizes[40] - sizes[30]
    assert last <= 1.2 * first, sizes  # each turn adds its own new text, not the history again
    assert sizes[-1] < sent / 10, (sizes[-1], sent)  # what was sent, 40 times over, is kept once
    new_nodes = conn.execute("SELECT count(*) FROM sent_messages").fetchone()[0]
    assert new_nodes <= 2 * 40 + 1  # the system prompt once, then each turn's question and answer


def test_diff_says_what_changed_one_section_per_kind(ip, scripted):
    scripted.model("a", words("Buttons are teal."))
    scripted.model("b", words("Buttons are blue, I think."))
    wb = scripted.wb
    wb.add_context(text="Primary buttons are teal.", name="style")
    wb.add_context(text="Deploys happen on Fridays.", name="deploys")
    first = run_ok(ip, "%%lfw chat -m a --session one --rag --temperature 0.2\nWhat colour are the buttons?")
    second = run_ok(ip, "%%lfw chat -m b --session two --rag --temperature 0.9\nWhen do deploys happen?")
    diff = run_ok(ip, f"%lfw diff {first.run_id} {second.run_id}")
    titles = [s.title for s in diff]
    assert titles == ["model", "settings", "messages", "retrieved chunks", "answer"], titles
    section = {s.title: s.lines for s in diff}
    assert section["model"] == ["- a", "+ b"]
    assert section["settings"] == ["temperature: 0.2 → 0.9"]
    assert "- Question: What colour are the buttons?" in section["messages"]
    assert "+ Question: When do deploys happen?" in section["messages"]
    assert "- retrieved chunk: style, chunk 0 (context 1, chunk id 1)" in section["retrieved chunks"]
    assert "+ retrieved chunk: deploys, chunk 0 (context 2, chunk id 2)" in section["retrieved chunks"]
    assert "+ Buttons are blue, I think." in section["answer"]
    assert diff.as_text().startswith(f"run {first.run_id} → run {second.run_id}: model, settings,")
    again = wb.diff_runs(first.run_id, first.run_id)
    assert again.sections == [] and "the same request and got the same answer" in again.as_text()


def test_bad_run_ids_are_one_clear_line_for_show_and_diff(ip, scripted, capsys):
    scripted.model("a", words("ok"))
    run = scripted.wb.generate("hi", model="a")
    for cell, expected in {
        f"%lfw diff {run.run_id} 999": "no run with id 999",
        "%lfw diff 999 1": "no run with id 999",
        f"%lfw diff {run.run_id}": "required: run_b",
        "%lfw diff 0 1": "must be at least 1",
        "%lfw show 999": "no run with id 999",
    }.items():
        assert expected in one_line(run_error(ip, cell, capsys)), cell


def test_a_run_kept_without_its_request_shows_its_prompt_and_says_so(ip, scripted):
    wb = scripted.wb
    old = wb.import_run("generate", model="m", prompt="an old prompt", output="an old answer", status="done")
    shown = run_ok(ip, f"%lfw show {old['id']}")
    assert shown["sent"]["recorded"] is False and shown["output"] == "an old answer"
    assert "only the prompt was kept" in shown.as_text() and "an old prompt" in shown.as_text()


def test_show_and_diff_over_rest_and_a_bad_id_is_a_404_with_one_line(server, scripted):
    scripted.model("a", words("Teal."))
    scripted.model("b", words("Blue."))
    http = server.http
    one = http.post("/api/v1/generate", json={"prompt": "Colour?", "model": "a", "max_tokens": 5}).json()["run_id"]
    asked = {
        "model": "b",
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Colour?"}],
    }
    assert http.post("/v1/chat/completions", json=asked).status_code == 200
    two = http.get("/api/v1/runs", params={"limit": 1}).json()["items"][0]["id"]
    shown = http.get(f"/api/v1/runs/{two}").json()
    assert [(m["role"], m["content"], m["part"]) for m in shown["sent"]["messages"]] == [
        ("system", "Be brief.", "system"),
        ("user", "Colour?", "turn"),
    ]
    assert all(isinstance(m["tokens"], int) for m in shown["sent"]["messages"]) and shown["output"] == "Blue."
    diff = http.get(f"/api/v1/runs/{one}/diff/{two}").json()
    assert diff["same_request"] is False
    kinds = {s["kind"]: s["lines"] for s in diff["sections"]}
    assert kinds["model"] == ["- a", "+ b"] and "settings" in kinds
    assert "added system message (system), message 1:" in kinds["messages"]
    assert "+ Blue." in kinds["answer"]
    spec = {"steps": [{"name": "first", "model": "a", "prompt": "Plan {input}"}]}
    piped = scripted.wb.run_pipeline(spec, "a form")
    step = http.get(f"/api/v1/steps/{piped.steps['first'].step_id}").json()
    assert step["name"] == "first" and step["sent"]["messages"][-1]["content"] == "Plan a form"
    missing = http.get(f"/api/v1/runs/{one}/diff/999")
    assert missing.status_code == 404 and missing.json()["line"] == "NotFound: no run with id 999"
    assert http.get("/api/v1/runs/999").json()["line"] == "NotFound: no run with id 999"


def test_a_run_that_took_its_answer_from_the_cache_shows_what_its_source_sent(scripted):
    scripted.model("a", words("Teal."))
    wb = scripted.wb
    first = wb.generate("Colour?", model="a", temperature=0, cache=True)
    again = wb.generate("Colour?", model="a", temperature=0, cache=True)
    assert again.cached_from == first.run_id
    shown = wb.show_run(again.run_id)
    assert shown["sent"]["cached_from"] == {"run_id": first.run_id, "step_id": None}
    assert shown["sent"]["messages"][-1]["content"] == "Colour?"
    assert f"the answer came from the cache (run {first.run_id} sent this)" in shown.as_text()


def test_deleting_a_run_takes_what_it_alone_sent_and_keeps_what_others_share(scripted, db_path):
    scripted.model("fake", words("Noted."))
    wb = scripted.wb
    session = wb.chat("private", model="fake")
    first = session.send("My locker code is 4711.")
    second = session.send("And my bike is red.")
    wb.delete_run(second.run_id)
    texts = [r[0] for r in raw(db_path).execute("SELECT text FROM sent_texts")]
    assert "And my bike is red." not in texts and "My locker code is 4711." in texts
    assert wb.show_run(first.run_id)["sent"]["messages"][-1]["content"] == "My locker code is 4711."
    wb.delete_run(first.run_id)
    assert not any("4711" in t for t in (r[0] for r in raw(db_path).execute("SELECT text FROM sent_texts")))


def test_deleting_a_step_or_a_project_takes_what_it_alone_sent(scripted, db_path):
    scripted.model("a", words("one two"))
    wb = scripted.wb
    steps = [
        {"name": "plan", "model": "a", "prompt": "Plan {input}"},
        {"name": "build", "model": "a", "prompt": "Build {input}"},
    ]
    shared = wb.generate("Build a form", model="a")  # the step "build" sends the same text
    piped = wb.run_pipeline({"steps": steps}, "a form")
    wb.use_project("scratch")
    wb.generate("My locker code is 4711.", model="a")
    wb.use_project("default")

    def texts() -> list[str]:
        return [r[0] for r in raw(db_path).execute("SELECT text FROM sent_texts")]

    wb.delete_step(piped.steps["build"].step_id)
    wb.delete_project(wb.get_project("scratch")["id"], cascade=True)
    assert "Build a form" in texts() and "Plan a form" in texts()
    assert not any("4711" in t for t in texts())
    wb.delete_run(shared.run_id)
    assert "Build a form" not in texts() and "Plan a form" in texts()


def test_two_pipeline_runs_are_compared_step_by_step(ip, scripted):
    scripted.model("a", words("one two"))
    run_ok(ip, '%%lfw pipeline two\nsteps:\n  - {name: first, model: a, prompt: "Plan {input}"}')
    one = run_ok(ip, "%lfw run two --input 'a form'")
    two = run_ok(ip, "%lfw run two --input 'a card'")
    diff = scripted.wb.diff_runs(one.run_id, two.run_id)
    assert [s.title for s in diff] == ["step first: messages"]
    assert diff.sections[0].lines[-2:] == ["- Plan a form", "+ Plan a card"]


def test_the_sent_view_shows_a_hostile_prompt_as_text(scripted):
    scripted.model("a", words("ok"))
    run = scripted.wb.generate("<img src=https://evil.example/x.png> $\\style{x}{y}$", model="a")
    html = scripted.wb.show_run(run.run_id)._repr_html_()
    assert "<img" not in html and "&lt;img src=https://evil.example/x.png&gt;" in html
    assert "mathjax_ignore" in html
