"""Retrieval finds paraphrases by default: hybrid on every face (magic, --rag, REST, WebSocket)
unless `%config Lfwb.embeddings = False`; all-MiniLM-L6-v2 runs on llama.cpp, loaded on the
first search that needs it and never by %load_ext or %lfw context add."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
from contextlib import closing

import numpy as np
import pytest
import websockets

from conftest import ROOT, run_ok
from fixtures.scripted import words
from server_fixtures import TIMEOUT_S

API = "/api/v1"
QUESTION = "Where should we assemble during an evacuation?"
SEARCH = QUESTION.rstrip("?")  # a line magic ending in "?" is IPython's help
CONTEXTS = {
    "fire drill": "If the alarm sounds, leave by the nearest stairs and gather at the oak tree in the north car park.",
    "backups": "Backups run nightly to an offsite bucket and are kept for thirty days.",
    "style": "Primary buttons are teal with rounded corners.",
}


@pytest.fixture
def contexts(scripted) -> dict[str, int]:
    return {name: scripted.wb.add_context(text=text, name=name)["id"] for name, text in CONTEXTS.items()}


def ws_turn(server, frame: dict) -> dict:
    """One chat turn over the WebSocket: its `done` (or error) message."""

    async def run() -> dict:
        async with websockets.connect(f"{server.ws_url}{API}/chat/notes", open_timeout=TIMEOUT_S) as ws:
            await ws.send(json.dumps(frame))
            while True:
                message = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT_S))
                if message["type"] in ("done", "error", "cancelled"):
                    return message

    return asyncio.run(run())


def test_a_rag_paraphrase_question_gets_its_context_as_a_source_with_default_settings(ip, scripted, contexts, capsys):
    fake = scripted.model("fake", words("At the oak tree [1]."))
    assert run_ok(ip, f"%lfw context search {SEARCH} --mode bm25") == []  # no word in common
    capsys.readouterr()
    reply = run_ok(ip, f"%%lfw chat -m fake --rag\n{QUESTION}")
    assert reply.sources[0]["context_name"] == "fire drill"
    assert "gather at the oak tree" in fake.asked[-1].messages[-1]["content"]
    # Only what matches goes in: the backups and the buttons are far from the question.
    assert [s["context_name"] for s in reply.sources] == ["fire drill"]
    rows = run_ok(ip, f"%lfw context search {SEARCH}")
    assert rows[0]["context"] == "fire drill" and rows[0]["rank"] == 1 and 0 < rows[0]["relevance"] <= 1
    seen = capsys.readouterr()
    assert "Loading weights" not in seen.out + seen.err  # no third-party bar left in the cell


def test_rest_and_the_websocket_rank_hybrid_by_default_too(server, scripted, contexts):
    scripted.model("fake", words("At the oak tree."))
    hits = server.http.get(f"{API}/contexts/search", params={"q": QUESTION}).json()
    assert hits[0]["context_name"] == "fire drill"
    done = ws_turn(server, {"type": "message", "text": QUESTION, "model": "fake", "rag": True})
    assert done["type"] == "done" and [s["context_name"] for s in done["sources"]] == ["fire drill"]


def test_embeddings_off_turns_vectors_off_for_search_rag_rest_and_ws(ip, scripted, server, contexts, embedded):
    scripted.model("fake", words("I do not know."))
    run_ok(ip, "%config Lfwb.embeddings = False")
    assert run_ok(ip, f"%lfw context search {SEARCH}") == []
    assert run_ok(ip, f"%%lfw chat -m fake --rag\n{QUESTION}").sources == []
    assert server.http.get(f"{API}/contexts/search", params={"q": QUESTION}).json() == []
    done = ws_turn(server, {"type": "message", "text": QUESTION, "model": "fake", "rag": True})
    assert done["type"] == "done" and done["sources"] == []
    assert embedded == []  # MiniLM was never asked
    # BM25 still answers what shares words with a context.
    assert run_ok(ip, "%lfw context search oak tree")[0]["context"] == "fire drill"


def test_bm25_relevance_reads_as_a_share_of_the_best_hit_not_1e_06(ip, wb):
    run_ok(ip, '%lfw context add --text "Primary buttons are teal." --name style')
    run_ok(ip, '%lfw context add --text "Secondary buttons are grey." --name more')
    rows = run_ok(ip, "%lfw context search buttons --mode bm25")
    # In a project this small FTS5 scores "buttons" 1e-06 (a word most chunks hold).
    assert [r["relevance"] for r in rows] == [1.0, 1.0] and [r["rank"] for r in rows] == [1, 2]
    assert "e-0" not in rows.as_text()


PROBE = """
import json, sys
from IPython.testing.globalipapp import start_ipython
ip = start_ipython()
runtime = ("llama_cpp", "gguf", "safetensors", "lfwb.chat.embeddings")
heavy = ("torch", "transformers", "sentence_transformers")
ip.run_line_magic("load_ext", "lfwb")
seen = {"load": [m for m in runtime if m in sys.modules]}
ip.run_line_magic("lfw", 'context add --text "Gather at the oak tree when the alarm sounds." --name drill')
seen["add"] = [m for m in runtime if m in sys.modules]
hits = ip.run_line_magic("lfw", "context search where do we assemble in an evacuation")
seen["search"] = [h["context"] for h in hits]
seen["heavy"] = [m for m in heavy if m in sys.modules]
print(json.dumps(seen))
"""


def test_load_ext_and_context_add_leave_the_embedding_runtime_unloaded_and_search_never_imports_torch(tmp_path):
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        "LFWB_DB": str(tmp_path / "lfwb.db"),
        "LFWB_CACHE": str(tmp_path / "cache"),  # a first use on this machine: the GGUF is made here
    }
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-2000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen == {"load": [], "add": [], "search": ["drill"], "heavy": []}
    assert [p.name for p in (tmp_path / "cache" / "gguf").iterdir()] == [
        next((tmp_path / "cache" / "gguf").glob("all-MiniLM-L6-v2-*-f16.gguf")).name
    ]  # the finished file alone, no partial one left


def test_an_ordinary_sqlite3_reader_works_beside_the_store(ip, wb, db_path):
    from lfwb.chat.embeddings import embed

    run_ok(ip, f'%lfw context add --text "{CONTEXTS["fire drill"]}" --name "fire drill"')
    assert run_ok(ip, f"%lfw context search {SEARCH}")[0]["context"] == "fire drill"
    with closing(sqlite3.connect(db_path)) as reader:
        reader.execute("BEGIN")  # a read transaction held open while lfwb writes and searches
        ((model, blob),) = reader.execute("SELECT model, embedding FROM context_chunk_embeddings").fetchall()
        assert model == "all-MiniLM-L6-v2" and len(blob) == 384 * 4
        assert float(np.frombuffer(blob, dtype=np.float32) @ embed([CONTEXTS["fire drill"]])[0]) > 0.999
        run_ok(ip, f'%lfw context add --text "{CONTEXTS["backups"]}" --name backups')
        assert run_ok(ip, "%lfw context search how long are copies of the data retained")[0]["context"] == "backups"
        assert reader.execute("SELECT count(*) FROM context_chunk_embeddings").fetchone() == (1,)  # its snapshot
    with closing(sqlite3.connect(db_path)) as reader:
        assert reader.execute("SELECT count(*) FROM context_chunk_embeddings").fetchone() == (2,)
    assert {"sqlean", "pysqlite3"}.isdisjoint(sys.modules)
