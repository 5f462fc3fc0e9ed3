"""`%%lfw generate` in terminal IPython: the answer prints as it comes, once (no redraws)."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time

from lfwb.store import Store

CELL = "%%lfw generate --temperature 0 --max-tokens 40\nWrite a very long story about a lighthouse keeper and his cat."


def run_in_a_terminal(args: list[str], env: dict, timeout: float = 120) -> str:
    """Run a program with a pseudo-terminal as its stdout (as a person's terminal is)."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=follower, stderr=follower, env=env)
    os.close(follower)
    out = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the program closed the terminal
                break
            if not chunk:
                break
            out += chunk
        elif proc.poll() is not None:
            break
    proc.kill()
    proc.wait()
    os.close(leader)
    return out.decode(errors="replace").replace("\r\n", "\n")


def test_terminal_ipython_prints_the_answer_once(tmp_path):
    db = tmp_path / "term.db"
    env = {**os.environ, "LFWB_DB": str(db), "HOME": str(tmp_path), "TERM": "dumb"}
    seen = run_in_a_terminal(
        [sys.executable, "-m", "IPython", "--no-banner", "--colors=nocolor", "--ext=lfwb", "-c", CELL], env
    )
    run = Store(db).list_runs(limit=1)[0]
    assert run["status"] == "done" and len(run["output"]) > 40, seen
    assert seen.count(run["output"]) == 1, seen
    assert seen.count(run["output"][:20]) == 1, seen  # streamed once: no redraws, no repeat as Out[n]
