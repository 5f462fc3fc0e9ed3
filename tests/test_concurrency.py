"""Two processes (two kernels) writing one store file at the same time."""

from __future__ import annotations

import subprocess
import sys
import time

from lfwb.store import Store

WRITER = """
import sys, time
from lfwb.store import Store
path, name, start_at, n = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
while time.time() < start_at:  # released together: they open (maybe create) the file at once
    time.sleep(0.001)
store = Store(path)
project = store.ensure_project("shared")
for i in range(n):
    run = store.add_run(project["id"], "generate", model=name, prompt=f"{name} {i}")
    if i % 10 == 0:
        store.update_run(run["id"], status="done", output=f"output {i}")
print("ok")
"""


def run_writers(path, names: tuple[str, ...], rows_each: int, timeout: float) -> None:
    """Start one writer process per name, released together; each must finish cleanly."""
    start_at = time.time() + 1.5
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path), name, str(start_at), str(rows_each)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in names
    ]
    for p in procs:
        out, err = p.communicate(timeout=timeout)
        assert p.returncode == 0 and out.strip() == "ok", err
        assert "locked" not in err


def test_two_processes_write_4000_runs_none_lost(db_path):
    Store(db_path).close()  # both writers open an existing, migrated file
    run_writers(db_path, ("kernel-a", "kernel-b"), 2000, timeout=240)
    store = Store(db_path)
    counts = {r["model"]: r["n"] for r in store.query("SELECT model, count(*) AS n FROM runs GROUP BY model")}
    assert counts == {"kernel-a": 2000, "kernel-b": 2000}
    assert store.query("SELECT count(DISTINCT prompt) AS n FROM runs")[0]["n"] == 4000
    # Finished runs are in the full-text index (every 10th was finished by its writer).
    assert len(store.search_runs("kernel", limit=5000)) == 400
    store.conn.execute("INSERT INTO runs_fts (runs_fts) VALUES ('integrity-check')")


def test_three_processes_creating_a_new_file_at_once(tmp_path):
    path = tmp_path / "new.db"
    run_writers(path, ("a", "b", "c"), 50, timeout=120)
    store = Store(path)
    assert len(store.list_projects()) == 1
    assert store.query("SELECT count(*) AS n FROM runs")[0]["n"] == 150
