"""Store speed: inserting runs and full-text search, lfwb vs the raw library, side by side.

    .venv/bin/python benchmarks/store.py

Targets (issue 2): 10,000 runs inserted in < 1 s; FTS search p50 < 5 ms over 100,000 contexts.
"""

from __future__ import annotations

import json
import random
import statistics
import tempfile
import time
from pathlib import Path

import sqlite_utils

from lfwb.store import Store, now

N_RUNS = 10_000
N_CONTEXTS = 100_000
N_QUERIES = 300
random.seed(7)
VOCAB = [f"w{i}" for i in range(5000)] + ["button", "colour", "footer", "layout", "teal", "grid", "modal"]
WEIGHTS = [1 / (i + 1) for i in range(len(VOCAB))]  # Zipf-like: some words are common


def text(n_words: int) -> str:
    return " ".join(random.choices(VOCAB, WEIGHTS, k=n_words))


def insert_runs_lfwb(path: Path) -> float:
    store = Store(path)
    p = store.create_project("bench")
    params = json.dumps({"temperature": 0})
    start = time.perf_counter()
    for i in range(N_RUNS):
        store.add_run(p["id"], "generate", model="smollm2", prompt=f"prompt {i}", params_json=params)
    elapsed = time.perf_counter() - start
    store.close()
    return elapsed


def insert_runs_raw(path: Path) -> float:
    """The same rows through sqlite-utils, one insert (one transaction) per row, WAL on."""
    db = sqlite_utils.Database(path)
    db.enable_wal()
    table = db["runs"]
    table.create(
        {
            "id": int,
            "project_id": int,
            "kind": str,
            "model": str,
            "prompt": str,
            "params_json": str,
            "started_at": str,
            "status": str,
            "output": str,
        },
        pk="id",
    )
    table.enable_fts(["prompt", "output"], create_triggers=True)
    params = json.dumps({"temperature": 0})
    start = time.perf_counter()
    for i in range(N_RUNS):
        table.insert(
            {
                "project_id": 1,
                "kind": "generate",
                "model": "smollm2",
                "prompt": f"prompt {i}",
                "params_json": params,
                "started_at": now(),
                "status": "running",
                "output": "",
            }
        )
    elapsed = time.perf_counter() - start
    db.close()
    return elapsed


def fill_contexts(path: Path) -> tuple[Store, sqlite_utils.Database]:
    store = Store(path)
    p = store.create_project("bench")
    rows = [(p["id"], f"ctx {i}", "note", text(random.randint(20, 80)), now()) for i in range(N_CONTEXTS)]
    with store.write() as conn:
        conn.executemany("INSERT INTO contexts (project_id, name, kind, text, created_at) VALUES (?, ?, ?, ?, ?)", rows)
    return store, sqlite_utils.Database(path)


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1]


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        lfwb_s, raw_s = [], []
        for round_ in range(2):  # alternate, so machine noise hits both alike
            lfwb_s.append(insert_runs_lfwb(tmp / f"lfwb{round_}.db"))
            raw_s.append(insert_runs_raw(tmp / f"raw{round_}.db"))
        lfwb_ins, raw_ins = min(lfwb_s), min(raw_s)

        store, raw_db = fill_contexts(tmp / "contexts.db")
        queries = [" ".join(random.choices(VOCAB[:2000], k=random.randint(1, 2))) for _ in range(N_QUERIES)]
        lfwb_q, raw_q = [], []
        for q in queries:
            t = time.perf_counter()
            store.search_contexts(q, limit=10)
            lfwb_q.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            list(raw_db["contexts"].search(q, limit=10))
            raw_q.append((time.perf_counter() - t) * 1000)

    rows = [
        ("insert 10,000 runs (s)", lfwb_ins, raw_ins, "< 1 s"),
        ("  runs/s", N_RUNS / lfwb_ins, N_RUNS / raw_ins, "> 10,000"),
        ("FTS p50 over 100k contexts (ms)", statistics.median(lfwb_q), statistics.median(raw_q), "< 5 ms"),
        ("FTS p95 (ms)", percentile(lfwb_q, 95), percentile(raw_q, 95), ""),
    ]
    print(f"{'measure':34} {'lfwb':>10} {'sqlite-utils':>13} {'lfwb/raw':>9}  target")
    for name, a, b, target in rows:
        print(f"{name:34} {a:10.3f} {b:13.3f} {a / b:9.2f}  {target}")
    ok = lfwb_ins < 1.0 and statistics.median(lfwb_q) < 5.0
    print("targets met" if ok else "TARGET MISSED")


if __name__ == "__main__":
    main()
