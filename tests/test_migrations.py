"""The schema history: old files are upgraded in place, newer files are refused."""

from __future__ import annotations


import pytest

from conftest import raw
from lfwb.errors import StoreError
from lfwb.store import MIGRATIONS, Store, apply_migrations


def test_new_file_records_every_migration_in_order(db_path):
    Store(db_path).close()
    names = [r["name"] for r in raw(db_path).execute("SELECT name FROM _lfwb_migrations ORDER BY rowid")]
    assert names == [m.__name__ for m in MIGRATIONS]


def test_reopening_applies_nothing_twice(db_path):
    Store(db_path).close()
    conn = raw(db_path)
    assert apply_migrations(conn, str(db_path)) == []


def test_old_schema_file_is_upgraded_in_place_with_data_kept(db_path):
    # A file as the first release wrote it: only the initial schema, with data in it.
    conn = raw(db_path)
    assert apply_migrations(conn, str(db_path), upto="m001_initial") == ["m001_initial"]
    conn.execute("INSERT INTO projects (name, created_at) VALUES ('old', '2025-01-01')")
    conn.execute(
        "INSERT INTO contexts (project_id, name, text, created_at) VALUES (1, 'style', 'Cards are teal.', '2025-01-01')"
    )
    conn.execute(
        "INSERT INTO runs (project_id, kind, status, prompt, output, started_at) "
        "VALUES (1, 'generate', 'done', 'colour?', 'Teal, always.', '2025-01-01')"
    )
    conn.close()

    store = Store(db_path)
    assert store.get_project("old")["id"] == 1
    assert store.search_contexts("teal")[0]["name"] == "style"  # old rows are indexed
    run = store.get_run(1)
    assert run["output"] == "Teal, always." and "owner_pid" in run
    assert store.search_runs("always")[0]["id"] == 1
    applied = [r["name"] for r in store.query("SELECT name FROM _lfwb_migrations ORDER BY rowid")]
    assert applied == [m.__name__ for m in MIGRATIONS]


def test_file_from_a_newer_lfwb_is_refused_and_left_alone(db_path):
    s = Store(db_path)
    s.create_project("keep me")
    with s.write() as conn:
        conn.execute("INSERT INTO _lfwb_migrations (name, applied_at) VALUES ('m999_from_the_future', 'x')")
    s.close()
    before = [tuple(r) for r in raw(db_path).execute("SELECT * FROM _lfwb_migrations ORDER BY rowid")]
    with pytest.raises(StoreError) as info:
        Store(db_path)
    assert "newer lfwb" in str(info.value) and "m999_from_the_future" in str(info.value)
    assert "\n" not in str(info.value)
    conn = raw(db_path)
    assert [tuple(r) for r in conn.execute("SELECT * FROM _lfwb_migrations ORDER BY rowid")] == before
    assert conn.execute("SELECT name FROM projects").fetchall()[0][0] == "keep me"


def test_a_failing_migration_leaves_the_file_as_it_was(db_path, monkeypatch):
    conn = raw(db_path)
    apply_migrations(conn, str(db_path), upto="m001_initial")
    conn.close()

    def m999_broken(c):
        c.execute("CREATE TABLE half_done (x)")
        c.execute("THIS IS NOT SQL")

    monkeypatch.setattr("lfwb.store.migrations.MIGRATIONS", [*MIGRATIONS, m999_broken])
    with pytest.raises(StoreError):
        Store(db_path)
    tables = {r[0] for r in raw(db_path).execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "half_done" not in tables and "contexts_fts" not in tables
