"""The store's Python API: CRUD for projects, contexts, runs, artifacts; search; bad input."""

from __future__ import annotations

import json
import sqlite3

import pytest

from lfwb.errors import AlreadyExists, BadInput, NotFound, StillRunning, StoreError
from lfwb.store import Store


def dump(store: Store) -> list:
    """Every row of every table, to check that a failed call changed nothing."""
    tables = [
        r["name"] for r in store.query("SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE '%_fts%'")
    ]
    return [(t, store.query(f"SELECT * FROM {t} ORDER BY rowid")) for t in sorted(tables)]


def test_project_crud(store):
    p = store.create_project("landing", description="the new site")
    assert store.get_project("landing")["id"] == p["id"] == store.get_project(p["id"])["id"]
    store.update_project(p["id"], description="v2")
    assert store.get_project(p["id"])["description"] == "v2"
    q = store.create_project("docs")
    assert [r["name"] for r in store.list_projects()] == ["docs", "landing"]  # newest first
    assert [r["name"] for r in store.list_projects(limit=1, offset=1)] == ["landing"]
    store.delete_project(q["id"])
    with pytest.raises(NotFound):
        store.get_project("docs")


def test_duplicate_project_name_is_refused_and_changes_nothing(store):
    store.create_project("landing")
    before = dump(store)
    with pytest.raises(AlreadyExists, match="already exists"):
        store.create_project("landing")
    assert dump(store) == before


def test_delete_project_with_material_needs_cascade(store):
    p = store.create_project("landing")
    c = store.add_context(p["id"], "Buttons are blue.")
    run = store.add_run(p["id"], "generate", model="smollm2", prompt="hi")
    a = store.add_artifact(p["id"], "export default () => <b/>", run_id=run["id"], language="jsx")
    before = dump(store)
    with pytest.raises(BadInput, match="cascade=True"):
        store.delete_project(p["id"])
    assert dump(store) == before
    with pytest.raises(StillRunning, match="still running"):  # its run is still being written
        store.delete_project(p["id"], cascade=True)
    store.update_run(run["id"], status="done")
    store.delete_project(p["id"], cascade=True)
    for getter, row_id in ((store.get_context, c["id"]), (store.get_run, run["id"]), (store.get_artifact, a["id"])):
        with pytest.raises(NotFound):
            getter(row_id)
    assert store.search_contexts("blue") == []


def test_context_crud_and_search(store):
    p = store.create_project("landing")
    other = store.create_project("other")
    a = store.add_context(p["id"], "Primary buttons are blue with round corners.", name="buttons")
    store.add_context(p["id"], "The footer lists the legal links.", name="footer")
    store.add_context(other["id"], "Buttons in the other project are green.")
    assert a["name"] == "buttons" and a["kind"] == "note"
    hits = store.search_contexts("button", project_id=p["id"])  # stemmed: button ~ buttons
    assert [h["id"] for h in hits] == [a["id"]]
    assert "[buttons]" in hits[0]["snippet"].lower()
    assert len(store.search_contexts("button")) == 2  # all projects
    store.update_context(a["id"], text="Primary buttons are red now.")
    assert store.search_contexts("blue", project_id=p["id"]) == []
    assert store.search_contexts("red", project_id=p["id"])[0]["id"] == a["id"]
    store.delete_context(a["id"])
    assert store.search_contexts("red") == []
    assert [c["name"] for c in store.list_contexts(project_id=p["id"])] == ["footer"]


def test_search_ranks_best_match_first_and_survives_odd_queries(store):
    p = store.create_project("x")
    store.add_context(p["id"], "colour colour colour palette", name="many")
    store.add_context(p["id"], "a note that mentions colour once among many other words here", name="once")
    assert [h["name"] for h in store.search_contexts("colour")] == ["many", "once"]
    # Punctuation and FTS operators in user text are not syntax errors.
    assert store.search_contexts('colour" AND (NEAR -') == []
    assert store.search_contexts("palette-colour")[0]["name"] == "many"
    with pytest.raises(BadInput, match="at least one word"):
        store.search_contexts('  ""  ')


def test_run_crud_filters_and_search(store):
    p = store.create_project("x")
    r1 = store.add_run(p["id"], "generate", model="smollm2", prompt="a haiku", params_json={"temperature": 0})
    r2 = store.add_run(p["id"], "chat", model="tiny", prompt="hello", status="done")
    assert json.loads(store.get_run(r1["id"])["params_json"]) == {"temperature": 0}
    assert r1["status"] == "running" and r1["output"] == ""
    store.update_run(r1["id"], status="done", output="Blue waves of data", output_tokens=5)
    assert [r["id"] for r in store.list_runs(project_id=p["id"])] == [r2["id"], r1["id"]]
    assert [r["id"] for r in store.list_runs(status="running")] == []
    assert [r["id"] for r in store.list_runs(status="done")] == [r2["id"], r1["id"]]
    assert [r["id"] for r in store.list_runs(model="tiny")] == [r2["id"]]
    assert [r["id"] for r in store.list_runs(kind="chat")] == [r2["id"]]
    assert store.search_runs("waves")[0]["id"] == r1["id"]
    assert store.search_runs("haiku")[0]["id"] == r1["id"]  # prompt is indexed too
    store.delete_run(r2["id"])
    assert [r["id"] for r in store.list_runs()] == [r1["id"]]


def test_artifact_crud(store):
    p = store.create_project("x")
    run = store.add_run(p["id"], "pipeline", model="smollm2")
    a = store.add_artifact(p["id"], "body { color: red }", run_id=run["id"], language="css", filename="app.css")
    store.add_artifact(p["id"], "print(1)", language="python")
    assert [x["filename"] for x in store.list_artifacts(run_id=run["id"])] == ["app.css"]
    assert len(store.list_artifacts(project_id=p["id"])) == 2
    assert store.get_artifact(a["id"])["content"] == "body { color: red }"
    store.delete_run(run["id"])  # a run's artifacts go with it
    with pytest.raises(NotFound):
        store.get_artifact(a["id"])
    assert len(store.list_artifacts()) == 1


@pytest.mark.parametrize(
    "call, error",
    [
        (lambda s: s.get_run(999), NotFound),
        (lambda s: s.get_project("nope"), NotFound),
        (lambda s: s.get_context(42), NotFound),
        (lambda s: s.get_artifact(7), NotFound),
        (lambda s: s.update_run(999, status="done"), NotFound),
        (lambda s: s.delete_context(42), NotFound),
        (lambda s: s.delete_project(999), NotFound),
        (lambda s: s.add_context(999, "text"), NotFound),
        (lambda s: s.add_run(1, "generate", bogus=1), BadInput),
        (lambda s: s.add_run(1, "dance"), BadInput),
        (lambda s: s.update_run(1, status="weird"), BadInput),
        (lambda s: s.create_project("   "), BadInput),
        (lambda s: s.add_context(1, "   "), BadInput),
    ],
)
def test_bad_input_is_one_clear_line_and_changes_nothing(store, call, error):
    p = store.create_project("x")
    store.add_run(p["id"], "generate", model="smollm2")
    before = dump(store)
    with pytest.raises(error) as info:
        call(store)
    message = str(info.value)
    assert message and "\n" not in message
    assert dump(store) == before


def test_unknown_id_says_what_is_missing_and_only_a_notebook_adds_the_magic_to_use(store):
    with pytest.raises(NotFound, match=r"^no run with id 999$") as caught:
        store.get_run(999)  # the store names no magic
    assert caught.value.hint_text() == "See %lfw runs."
    assert caught.value._render_traceback_()[-1].endswith("no run with id 999. See %lfw runs.")


def test_non_writable_store_path_is_one_line(tmp_path):
    not_a_dir = tmp_path / "file.txt"
    not_a_dir.write_text("x")
    with pytest.raises(StoreError) as info:
        Store(not_a_dir / "lfwb.db")
    assert "\n" not in str(info.value) and "LFWB_DB" in str(info.value)
    with pytest.raises(StoreError, match="does not exist"):
        Store(tmp_path / "missing-folder" / "lfwb.db")


def test_a_file_that_is_not_a_database_is_refused_unchanged(tmp_path):
    path = tmp_path / "notes.db"
    path.write_bytes(b"this is not sqlite at all, just text" * 100)
    before = path.read_bytes()
    with pytest.raises(StoreError, match="cannot open the store"):
        Store(path)
    assert path.read_bytes() == before


def test_wal_mode_foreign_keys_and_datasette_friendly_schema(store):
    assert store.query("PRAGMA journal_mode")[0]["journal_mode"] == "wal"
    fks = {(fk.table, fk.column, fk.other_table) for fk in store.db["runs"].foreign_keys}
    assert ("runs", "project_id", "projects") in fks and ("runs", "parent_id", "runs") in fks
    assert store.db["contexts"].detect_fts() == "contexts_fts"
    assert store.db["runs"].detect_fts() == "runs_fts"
    expected = {
        "projects",
        "contexts",
        "runs",
        "steps",
        "artifacts",
        "models",
        "chat_sessions",
        "messages",
        "_lfwb_migrations",
    }
    assert expected <= set(store.db.table_names())
    run_columns = set(store.db["runs"].columns_dict)
    assert {
        "id",
        "project_id",
        "kind",
        "model",
        "answered_by",
        "status",
        "prompt",
        "output",
        "params_json",
        "input_tokens",
        "output_tokens",
        "ttft_ms",
        "duration_ms",
        "cost_usd",
        "error",
        "started_at",
        "finished_at",
        "parent_id",
    } <= run_columns


def test_the_file_opens_with_plain_sqlite_utils(db_path):
    import sqlite_utils

    s = Store(db_path)
    p = s.create_project("x")
    s.add_context(p["id"], "Buttons are blue.")
    s.close()
    db = sqlite_utils.Database(db_path)
    assert [r["text"] for r in db["contexts"].search("blue")] == ["Buttons are blue."]


def test_saving_a_model_again_replaces_its_registration(store):
    store.save_model("tiny", "llama_cpp", "/x.gguf", {"name": "tiny"})
    store.save_model("tiny", "llama_cpp", "/y.gguf", {"name": "tiny"})
    assert [(m["name"], m["source"]) for m in store.list_models()] == [("tiny", "/y.gguf")]


def test_interrupted_runs_are_marked_by_the_next_store(db_path):
    s = Store(db_path)
    p = s.create_project("x")
    run = s.add_run(p["id"], "generate", model="smollm2")
    s.flush_run_output(run["id"], "partial text", 2)
    # Pretend the owner was a process that no longer exists.
    with s.write() as conn:
        conn.execute("UPDATE runs SET owner_pid = 2147483600 WHERE id = ?", (run["id"],))
    mine = s.add_run(p["id"], "generate", model="smollm2")  # owned by this live process
    s.close()
    s2 = Store(db_path)
    assert s2.mark_interrupted_runs() == [run["id"]]
    row = s2.get_run(run["id"])
    assert row["status"] == "interrupted" and row["output"] == "partial text"
    assert s2.get_run(mine["id"])["status"] == "running"
    s2.close()


def test_sqlite_errors_never_leak_as_raw_exceptions(store):
    with pytest.raises((BadInput, NotFound)):
        store.update_run(1, nope=1)
    assert not isinstance(BadInput("x"), sqlite3.Error)


def test_runs_enter_the_search_index_when_they_finish(store):
    p = store.create_project("x")
    run = store.add_run(p["id"], "generate", model="smollm2", prompt="write about lighthouses")
    store.flush_run_output(run["id"], "A lighthouse stands", 3)
    assert store.search_runs("lighthouse") == []  # still streaming
    store.update_run(run["id"], status="done", output="A lighthouse stands tall.")
    assert [r["id"] for r in store.search_runs("lighthouse")] == [run["id"]]
    store.update_run(run["id"], output="A harbour light.")
    assert store.search_runs("tall") == [] and store.search_runs("harbour")[0]["id"] == run["id"]
    running = store.add_run(p["id"], "generate", model="smollm2", prompt="harbour again")
    store.delete_run(running["id"])  # never indexed: deleting it must not disturb the index
    store.delete_run(run["id"])
    assert store.search_runs("harbour") == []
    store.conn.execute("INSERT INTO runs_fts (runs_fts) VALUES ('integrity-check')")
    store.conn.execute("INSERT INTO contexts_fts (contexts_fts) VALUES ('integrity-check')")
