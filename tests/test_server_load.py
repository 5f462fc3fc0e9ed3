"""lfwb serve under load, beside the notebook's own SQLite tools (its OpenAPI schema is checked
in tests/test_server_schema.py)."""

from __future__ import annotations

import asyncio
import importlib.util
import sqlite3
import threading
import time
from contextlib import closing

import httpx
import pytest

from fixtures.scripted import words
from server_fixtures import TIMEOUT_S
from test_store_beside_readers import counted_by_another_process

API = "/api/v1"


async def mixed_requests(url: str, n: int) -> list[httpx.Response]:
    """`n` requests at once: a quarter short generations, the rest reads and writes of rows."""
    limits = httpx.Limits(max_connections=n, max_keepalive_connections=n)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as http:

        def request(i: int):
            match i % 8:
                case 0 | 4:
                    return http.post(f"{API}/generate", json={"prompt": f"p{i}", "model": "fake", "max_tokens": 4})
                case 1:
                    return http.post(f"{API}/contexts", json={"text": f"note {i} about buttons"})
                case 2:
                    return http.get(f"{API}/runs", params={"limit": 20})
                case 3:
                    return http.get(f"{API}/contexts/search", params={"q": "buttons"})
                case 5:
                    return http.post(f"{API}/artifacts", json={"content": f"const a = {i}", "language": "js"})
                case 6:
                    return http.get(f"{API}/models")
                case _:
                    return http.get(f"{API}/projects")

        return await asyncio.gather(*(request(i) for i in range(n)))


def read_while(running: threading.Thread, path: str, seen: list[int]) -> None:
    """The notebook's readers, in this process: the standard library's sqlite3 (and pandas, if
    installed) open the store, count its runs and close, again and again while `running` runs."""
    pandas = __import__("pandas") if importlib.util.find_spec("pandas") else None
    while running.is_alive():
        with closing(sqlite3.connect(path)) as con:
            seen.append(con.execute("SELECT count(*) FROM runs").fetchone()[0])
            if pandas is not None:
                pandas.read_sql("SELECT id, status FROM runs ORDER BY id DESC LIMIT 5", con)
        time.sleep(0.01)


@pytest.mark.slow
def test_two_hundred_concurrent_mixed_requests_beside_the_notebooks_own_sqlite_lose_nothing(server, scripted, ip):
    import sqlite_utils

    from conftest import run_ok

    scripted.model("fake", words("one two three four"))
    path = server.wb.store.path
    answers: list = []
    load = threading.Thread(target=lambda: answers.extend(asyncio.run(mixed_requests(server.url, 200))))
    seen: list[int] = []
    reader = threading.Thread(target=read_while, args=(load, path, seen))
    load.start()
    reader.start()
    magics_ran = 0
    while load.is_alive():  # the notebook's own magics, and its sqlite-utils writes, meanwhile
        assert run_ok(ip, "%lfw runs --limit 3") is not None
        db = sqlite_utils.Database(path)
        db["my_notes"].insert({"round": magics_ran})
        db.close()
        magics_ran += 1
        time.sleep(0.05)
    load.join(TIMEOUT_S)
    reader.join(TIMEOUT_S)
    assert magics_ran >= 1 and len(seen) >= 1
    assert seen == sorted(seen)  # a reader never sees runs vanish
    assert [a.status_code for a in answers if a.status_code >= 300] == []
    store = server.wb.store
    generated = [a.json()["run_id"] for a in answers if a.request.url.path.endswith("/generate")]
    assert len(generated) == 50
    rows = store.query("SELECT id, status, output FROM runs")
    assert sorted(r["id"] for r in rows) == sorted(generated)  # none lost, none extra
    assert {(r["status"], r["output"]) for r in rows} == {("done", "one two three four")}  # none stuck
    assert counted_by_another_process(path, ("runs", "contexts", "artifacts", "my_notes")) == {
        "runs": 50,
        "contexts": 25,
        "artifacts": 25,
        "my_notes": magics_ran,
        "integrity": "ok",
    }
