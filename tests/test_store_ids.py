"""Ids are never handed out twice: a deleted row's id stays its own, in a new file and in one
upgraded from before m011 (which rebuilt the tables with AUTOINCREMENT)."""

from __future__ import annotations

import sqlite3

import pytest

from conftest import raw
from lfwb.errors import StoreError
from lfwb.store import MIGRATIONS, Store, apply_migrations

TABLES = ("projects", "contexts", "runs", "steps", "artifacts", "chat_sessions", "messages")


def make(store: Store, table: str, n: int) -> int:
    """A new row of `table` (the n-th made in the test); its id."""
    p = store.ensure_project("work")["id"]
    if table == "projects":
        return store.create_project(f"p{n}")["id"]
    if table == "contexts":
        return store.add_context(p, f"note {n}")["id"]
    if table == "runs":
        return store.add_run(p, prompt=f"q{n}", status="done")["id"]
    if table == "steps":
        run = store.add_run(p, "pipeline", status="done")["id"]
        return store.add_step(run, 0, f"s{n}", status="done")["id"]
    if table == "artifacts":
        return store.add_artifact(p, f"print({n})")["id"]
    session = store.create_chat_session(p, "talk")["id"]
    if table == "chat_sessions":
        return store.create_chat_session(p, f"talk {n}")["id"]
    return store.add_message(session, "user", f"hi {n}")["id"]


def delete(store: Store, table: str, row_id: int) -> None:
    if table == "chat_sessions":
        name = store.query("SELECT name FROM chat_sessions WHERE id = ?", (row_id,))[0]["name"]
        store.delete_chat_session(store.get_project("work")["id"], name)
    elif table == "messages":
        store.delete_message(row_id)
    else:
        getattr(
            store,
            {
                "projects": "delete_project",
                "contexts": "delete_context",
                "runs": "delete_run",
                "steps": "delete_step",
                "artifacts": "delete_artifact",
            }[table],
        )(row_id)


@pytest.mark.parametrize("table", TABLES)
def test_deleting_the_newest_row_never_gives_its_id_to_the_next(store, table):
    first = make(store, table, 1)
    newest = make(store, table, 2)
    assert newest > first
    delete(store, table, newest)
    assert make(store, table, 3) > newest


def write_old(db_path) -> dict:
    """A file as lfwb wrote it before m011 with a bit of everything; its row counts."""
    conn = raw(db_path)
    assert apply_migrations(conn, str(db_path), upto="m010_chat_memory")[-1] == "m010_chat_memory"
    conn.execute("PRAGMA foreign_keys = ON")
    at = "'2025-01-01'"
    for sql in (
        f"INSERT INTO projects (name, created_at) VALUES ('old', {at}), ('gone', {at})",
        f"INSERT INTO contexts (project_id, name, text, created_at) VALUES (1, 'style', 'Cards are teal.', {at})",
        f"INSERT INTO contexts (project_id, name, text, created_at) VALUES (1, 'tmp', 'scratch', {at})",
        f"INSERT INTO runs (project_id, kind, status, prompt, output, started_at) VALUES (1, 'pipeline', 'done', 'colour?', 'Teal, always.', {at})",
        f"INSERT INTO runs (project_id, kind, status, prompt, output, started_at, parent_id) VALUES (1, 'generate', 'done', 'again?', 'Still teal.', {at}, 1)",
        f"INSERT INTO steps (run_id, position, name, status, output, started_at) VALUES (1, 0, 'draft', 'done', 'a draft', {at})",
        f"INSERT INTO artifacts (project_id, run_id, content, sha256, created_at) VALUES (1, 1, 'print(1)', 'x', {at})",
        f"INSERT INTO chat_sessions (project_id, name, created_at) VALUES (1, 'talk', {at})",
        f"INSERT INTO messages (session_id, role, content, run_id, created_at) VALUES (1, 'user', 'hello', 2, {at})",
        "INSERT INTO context_chunks (context_id, chunk_index, text, start_char, end_char, tokens) VALUES (1, 0, 'Cards are teal.', 0, 15, 4)",
        f"INSERT INTO context_indexes (context_id, chunks, indexed_at) VALUES (1, 1, {at})",
        f"INSERT INTO budgets (project_id, limit_usd, updated_at) VALUES (1, 5, {at})",
        "DELETE FROM contexts WHERE id = 2",
        "DELETE FROM projects WHERE id = 2",
    ):
        conn.execute(sql)
    counts = {
        t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
        for t in (*TABLES, "context_chunks", "context_indexes", "budgets")
    }
    conn.close()
    return counts


def test_an_old_file_is_upgraded_with_every_row_link_and_index_kept(db_path):
    counts = write_old(db_path)
    store = Store(db_path)
    conn = raw(db_path)
    assert {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in counts} == counts
    for table in TABLES:
        sql = conn.execute("SELECT sql FROM sqlite_master WHERE name = ?", (table,)).fetchone()[0]
        assert "AUTOINCREMENT" in sql, table
    assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    # Full-text search still finds the old rows and follows new ones.
    assert [r["name"] for r in store.search_contexts("teal")] == ["style"]
    assert sorted(r["id"] for r in store.search_runs("teal")) == [1, 2]
    for fts in ("contexts_fts", "runs_fts", "context_chunks_fts"):
        conn.execute(f"INSERT INTO {fts} ({fts}) VALUES ('integrity-check')")
    store.add_context(1, "Buttons are round.", name="shape")
    assert [r["name"] for r in store.search_contexts("round")] == ["shape"]
    # The links still act: deleting the run cascades to its step and artifact, nulls its child's parent.
    store.delete_run(1)
    assert store.query("SELECT count(*) AS n FROM steps")[0]["n"] == 0
    assert store.query("SELECT count(*) AS n FROM artifacts")[0]["n"] == 0
    assert store.get_run(2)["parent_id"] is None
    # Indexes and triggers came back under their names.
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type IN ('index', 'trigger')")}
    assert {
        "runs_project",
        "runs_status",
        "steps_run",
        "artifacts_run_sha256",
        "messages_session",
        "runs_ai",
        "runs_au",
        "contexts_ad",
    } <= names
    # From now on a deleted newest row keeps its id (one deleted before the upgrade left no trace).
    newest = store.add_run(1, status="done")["id"]
    store.delete_run(newest)
    assert store.add_run(1, status="done")["id"] > newest
    store.close()


def test_a_failing_migration_after_the_rebuild_leaves_the_old_file_as_it_was(db_path, monkeypatch):
    counts = write_old(db_path)
    before = {r["name"]: r["sql"] for r in raw(db_path).execute("SELECT name, sql FROM sqlite_master")}

    def m999_broken(c):
        c.execute("THIS IS NOT SQL")

    monkeypatch.setattr("lfwb.store.migrations.MIGRATIONS", [*MIGRATIONS, m999_broken])
    with pytest.raises(StoreError):
        Store(db_path)
    conn = raw(db_path)
    assert {r["name"]: r["sql"] for r in conn.execute("SELECT name, sql FROM sqlite_master")} == before
    assert {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in counts} == counts
    assert [r[0] for r in conn.execute("SELECT name FROM _lfwb_migrations")][-1] == "m010_chat_memory"


def test_an_old_file_with_the_users_own_views_and_tables_on_lfwb_tables_still_upgrades(db_path):
    # Datasette and sqlite-utils users keep views and tables of their own beside lfwb's; the
    # rebuild must neither refuse the file nor break them.
    write_old(db_path)
    conn = raw(db_path)
    conn.execute(
        "CREATE VIEW done_runs AS SELECT r.id, p.name FROM runs r JOIN projects p "
        "ON p.id = r.project_id WHERE r.status = 'done'"
    )
    conn.execute("CREATE TABLE run_notes (id INTEGER PRIMARY KEY, run_id INTEGER REFERENCES runs(id), note TEXT)")
    conn.execute("INSERT INTO run_notes (run_id, note) VALUES (1, 'keep')")
    conn.execute(
        "CREATE TRIGGER note_new_runs AFTER INSERT ON run_notes BEGIN "
        "UPDATE runs SET error = 'noted' WHERE id = new.run_id; END"
    )
    conn.close()
    store = Store(db_path)
    conn = raw(db_path)
    assert [tuple(r) for r in conn.execute("SELECT * FROM done_runs ORDER BY id")] == [(1, "old"), (2, "old")]
    conn.execute("INSERT INTO run_notes (run_id, note) VALUES (2, 'again')")
    assert store.get_run(2)["error"] == "noted"
    assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    store.close()


def test_foreign_keys_are_back_on_after_a_failing_upgrade(db_path, monkeypatch):
    conn = raw(db_path)
    conn.execute("PRAGMA foreign_keys = ON")

    def m999_broken(c):
        c.execute("THIS IS NOT SQL")

    monkeypatch.setattr("lfwb.store.migrations.MIGRATIONS", [*MIGRATIONS, m999_broken])
    with pytest.raises(sqlite3.OperationalError):
        apply_migrations(conn, str(db_path))
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert conn.execute("PRAGMA legacy_alter_table").fetchone()[0] == 0
