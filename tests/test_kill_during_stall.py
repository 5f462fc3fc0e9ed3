"""A process killed while its model stalls keeps the text the model had written: a run's text
reaches the store every 0.25 s, not only when the model sends its next piece. Generations,
chat turns and pipeline steps record the same way; each is killed three seconds into a stall."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from lfwb import Workbench
from lfwb.store import Store

pytestmark = pytest.mark.timeout(120)

TESTS = os.path.dirname(__file__)

CHILD = textwrap.dedent("""
    import sys
    sys.path.insert(0, sys.argv[3])  # tests/, for the scripted backend
    import lfwb
    from fixtures.scripted import Scripted, Stall
    wb = lfwb.Workbench(sys.argv[1])
    Scripted(wb).model("stalls", ["partial", " text", Stall()])  # then nothing, until killed
    if sys.argv[2] == "generate":
        wb.generate("Tell a story.", model="stalls")
    elif sys.argv[2] == "chat":
        wb.chat("talk", model="stalls").send("Tell a story.")
    else:
        wb.run_pipeline({"steps": [{"name": "write", "model": "stalls", "prompt": "{input}"}]}, input="x")
""")

# Where each kind of generation keeps its text.
ROWS = {
    "generate": "SELECT status, output FROM runs WHERE kind = 'generate'",
    "chat": "SELECT status, output FROM runs WHERE kind = 'chat'",
    "pipeline": "SELECT status, output FROM steps",
}


@pytest.mark.parametrize("kind", ROWS)
def test_a_kill_three_seconds_into_a_stall_keeps_the_partial_text(tmp_path, kind):
    db = str(tmp_path / "lfwb.db")
    Workbench(db).close()  # the file exists before the child and this test open it
    child = subprocess.Popen([sys.executable, "-c", CHILD, db, kind, TESTS])
    try:
        watcher = Store(db)
        deadline = time.monotonic() + 60
        while not [r for r in watcher.query(ROWS[kind]) if r["status"] == "running"]:
            assert child.poll() is None and time.monotonic() < deadline, "the child never started its run"
            time.sleep(0.05)
        watcher.close()
        time.sleep(3)  # "partial text" came at once; the model has been silent since
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    finally:
        if child.poll() is None:
            child.kill()
        child.wait()
    after = Workbench(db)  # the next Workbench on the file finds the dead process's run
    try:
        assert after.store.query(ROWS[kind]) == [{"status": "interrupted", "output": "partial text"}]
    finally:
        after.close()
