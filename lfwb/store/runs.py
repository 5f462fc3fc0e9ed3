"""Runs: each run row is owned by the process writing it while it is `running`,
so a run left `running` by a process that no longer exists can be told apart and marked
`interrupted` (`mark_interrupted_runs`) instead of looking alive for ever."""

from __future__ import annotations

import json
import os
import socket
from typing import Any

import psutil

from ..errors import BadInput
from .migrate import now
from .sent import SentRows

RUN_STATUSES = ("running", "done", "failed", "cancelled", "interrupted")
# chat-summary: a chat session's rolling summary, written by its model (lfwb/chat/memory.py)
# replay: the parent of a notebook's cells asked again (lfwb/pipelines/replay.py)
RUN_KINDS = ("generate", "chat", "chat-summary", "pipeline", "compare", "eval", "replay")

_process_identity: tuple[str, int, float] | None = None


def _this_process() -> tuple[str, int, float]:
    """(host, pid, start time) of this process; recomputed after a fork."""
    global _process_identity
    if _process_identity is None or _process_identity[1] != os.getpid():
        proc = psutil.Process()
        _process_identity = (socket.gethostname(), proc.pid, round(proc.create_time(), 3))
    return _process_identity


def _process_alive(pid: int, started: float | None) -> bool:
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        return started is None or abs(proc.create_time() - started) < 1.0
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


class RunRows(SentRows):
    """The `runs` table."""

    def add_run(self, project_id: int, kind: str = "generate", **values: Any) -> dict:
        """A new run row, owned by this process while its status is `running`."""
        if kind not in RUN_KINDS:
            raise BadInput(f"unknown run kind {kind!r} — one of {', '.join(RUN_KINDS)}")
        if isinstance(values.get("params_json"), dict):
            values["params_json"] = json.dumps(values["params_json"])
        host, pid, started = _this_process()
        return self._insert(
            "runs",
            {"project_id": project_id, "kind": kind, **values},
            extra={"owner_host": host, "owner_pid": pid, "owner_started": started},
        )

    def get_run(self, run_id: int) -> dict:
        return self._get("runs", run_id)

    def list_runs(
        self,
        project_id: int | None = None,
        kind: str | None = None,
        status: str | None = None,
        model: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[dict]:
        where = {"project_id": project_id, "kind": kind, "status": status, "model": model}
        return self._list("runs", where, limit, offset)

    def update_run(self, run_id: int, **values: Any) -> dict:
        if "status" in values and values["status"] not in RUN_STATUSES:
            raise BadInput(f"unknown run status {values['status']!r} — one of {', '.join(RUN_STATUSES)}")
        return self._update("runs", run_id, values)

    def flush_run_output(self, run_id: int, output: str, output_tokens: int | None = None) -> None:
        """Save a streaming run's text so far (cheap: one UPDATE, no re-read)."""
        with self.write() as conn:
            conn.execute(
                "UPDATE runs SET output = ?, output_tokens = ? WHERE id = ?",
                (output, output_tokens, run_id),
            )

    def delete_run(self, run_id: int) -> None:
        self._delete("runs", run_id)
        self.prune_sent()  # what it sent goes with it (lfwb/store/sent.py)

    def mark_interrupted_runs(self) -> list[int]:
        """Runs left `running` by a process on this host that no longer exists → `interrupted`."""
        host, pid, _ = _this_process()
        rows = self.query("SELECT id, owner_host, owner_pid, owner_started FROM runs WHERE status = 'running'")
        dead = [
            r["id"]
            for r in rows
            if r["owner_host"] in (host, None)
            and r["owner_pid"] != pid
            and not (r["owner_pid"] and _process_alive(r["owner_pid"], r["owner_started"]))
        ]
        if dead:
            marks = ", ".join("?" for _ in dead)
            with self.write() as conn:
                conn.execute(
                    f"UPDATE runs SET status = 'interrupted', finished_at = ?, "
                    f"error = coalesce(error, 'the process running it stopped') "
                    f"WHERE id IN ({marks}) AND status = 'running'",
                    (now(), *dead),
                )
                # A pipeline run's steps that had not ended went down with it.
                conn.execute(
                    f"UPDATE steps SET status = 'interrupted', finished_at = ? "
                    f"WHERE run_id IN ({marks}) AND status IN ('pending', 'running')",
                    (now(), *dead),
                )
        return dead
