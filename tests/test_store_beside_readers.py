"""The notebook's own SQLite tools beside lfwb in one kernel: the standard library's sqlite3,
sqlite-utils and pandas read and write the store file between generations, context adds and
vector searches, and another process then finds every row (issue 17, section 1).

With a second SQLite library in the process (lfwb used to open its store through sqlean), each
close of the notebook's connection dropped the POSIX locks lfwb's copy held and deleted the WAL
it was writing: 1 run of 10 survived, or the file was malformed."""

from __future__ import annotations

import importlib.util
import json
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

from conftest import run_ok
from fixtures.scripted import words

ROUNDS = 10

COUNT_ELSEWHERE = """
import json, sqlite3, sys
con = sqlite3.connect(sys.argv[1])
counts = {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in sys.argv[2:]}
counts["integrity"] = con.execute("PRAGMA integrity_check").fetchone()[0]
print(json.dumps(counts))
"""


def counted_by_another_process(path: Path | str, tables: tuple[str, ...]) -> dict:
    """Each table's row count, and integrity_check, as a fresh Python process finds them."""
    out = subprocess.run(
        [sys.executable, "-c", COUNT_ELSEWHERE, str(path), *tables], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def work_beside_the_notebooks_readers(ip, path: Path, generate: str, mode: str = "hybrid") -> list[int]:
    """The issue's reproduction: each round a context add, a generation, a search (`mode`), then
    the notebook's own tools on the same file. Returns the runs the stdlib reader saw each round."""
    import sqlite_utils

    pandas = __import__("pandas") if importlib.util.find_spec("pandas") else None
    if mode != "bm25":
        run_ok(ip, "%config Lfwb.embeddings = True")
    seen = []
    for i in range(ROUNDS):
        run_ok(ip, f'%lfw context add --text "note {i} about the lighthouse keeper"')
        run_ok(ip, generate)
        hits = run_ok(ip, f"%lfw context search note {i} --mode {mode} --limit 3")
        assert len(hits) >= 1
        con = sqlite3.connect(path)
        seen.append(con.execute("SELECT count(*) FROM runs").fetchone()[0])
        con.close()
        db = sqlite_utils.Database(path)  # a table of the user's own, in the same file
        db["my_notes"].insert({"round": i, "text": f"kept {i}"})
        db.close()
        if pandas is not None:
            with closing(sqlite3.connect(path)) as con:
                assert pandas.read_sql("SELECT count(*) AS n FROM contexts", con)["n"][0] == i + 1
    return seen


def assert_nothing_lost(path: Path, seen: list[int], vectors: int = ROUNDS) -> None:
    assert seen == list(range(1, ROUNDS + 1))  # the reader sees each new run at once
    assert "sqlean" not in sys.modules and "pysqlite3" not in sys.modules
    tables = ("runs", "contexts", "context_chunk_embeddings", "my_notes")
    assert counted_by_another_process(path, tables) == {
        "runs": ROUNDS,
        "contexts": ROUNDS,
        "context_chunk_embeddings": vectors,
        "my_notes": ROUNDS,
        "integrity": "ok",
    }


def test_the_notebooks_sqlite3_and_sqlite_utils_lose_no_run_nor_context(ip, wb, scripted, db_path):
    scripted.model("fake", words("one two three four"))
    seen = work_beside_the_notebooks_readers(ip, db_path, "%%lfw generate -m fake --max-tokens 4\nSay hi.", mode="bm25")
    wb.store.close()
    assert_nothing_lost(db_path, seen, vectors=0)


@pytest.mark.slow  # loads all-MiniLM-L6-v2 for the vector searches (a few seconds, once)
def test_with_vectors_on_the_notebooks_readers_lose_nothing_and_the_file_stays_sound(ip, wb, scripted, db_path):
    scripted.model("fake", words("one two three four"))
    seen = work_beside_the_notebooks_readers(ip, db_path, "%%lfw generate -m fake --max-tokens 4\nSay hi.")
    wb.store.close()  # as the kernel exiting would; another process then counts the rows
    assert_nothing_lost(db_path, seen)


@pytest.mark.slow
def test_the_notebooks_readers_lose_nothing_beside_smollm2_generations(ip, wb, db_path):
    seen = work_beside_the_notebooks_readers(ip, db_path, "%%lfw generate --max-tokens 4\nSay hi.")
    wb.store.close()
    assert_nothing_lost(db_path, seen)
