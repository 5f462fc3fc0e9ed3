"""Steps: one row per step of a pipeline run, recorded as it runs (lfwb/pipelines/executor.py).

A step is `pending` until the steps it needs are done, then `running`, and ends `done`,
`failed`, `cancelled`, `skipped` (a step it needs failed), `reused` (a rerun took its output
from an earlier run, named in `reused_from_run`) or `cached` (the step cache took the answer of
an earlier step with the same `cache_key`: `cached_from`, and its run in `reused_from_run`). A step that asked its model again after a
failed check (`retries:`) has a row per attempt (`attempt` 1, 2, ...): the step is its last.
"""

from __future__ import annotations

import json
from typing import Any

from ..errors import BadInput
from .sent import SentRows

STEP_STATUSES = ("pending", "running", "done", "failed", "cancelled", "skipped", "reused", "cached", "interrupted")


class StepRows(SentRows):
    """The `steps` table."""

    def add_step(self, run_id: int, position: int, name: str, **values: Any) -> dict:
        values.setdefault("status", "pending")
        self._check_status(values)
        if isinstance(values.get("params_json"), dict):
            values["params_json"] = json.dumps(values["params_json"])
        return self._insert("steps", {"run_id": run_id, "position": position, "name": name, **values})

    def get_step(self, step_id: int) -> dict:
        return self._get("steps", step_id)

    def list_steps(self, run_id: int, attempts: bool = False) -> list[dict]:
        """A run's steps in their order: each its last attempt, or with `attempts` every one."""
        if attempts:
            return self.query("SELECT * FROM steps WHERE run_id = ? ORDER BY position, attempt", (run_id,))
        return self.query(
            "SELECT * FROM steps s WHERE run_id = ? AND NOT EXISTS (SELECT 1 FROM steps later WHERE "
            "later.run_id = s.run_id AND later.position = s.position AND later.attempt > s.attempt) "
            "ORDER BY position",
            (run_id,),
        )

    def update_step(self, step_id: int, **values: Any) -> dict:
        self._check_status(values)
        return self._update("steps", step_id, values)

    def delete_step(self, step_id: int) -> None:
        self._delete("steps", step_id)
        self.prune_sent()

    def flush_step_output(self, step_id: int, output: str, output_tokens: int | None = None) -> None:
        """Save a streaming step's text so far (one UPDATE, no re-read)."""
        with self.write() as conn:
            conn.execute(
                "UPDATE steps SET output = ?, output_tokens = ? WHERE id = ?", (output, output_tokens, step_id)
            )

    def steps_cost(self, run_id: int) -> float:
        """What a run's steps cost so far (a reused or cached step was paid for by the run it came from)."""
        rows = self.query(
            "SELECT coalesce(sum(cost_usd), 0) AS cost FROM steps WHERE run_id = ? AND status NOT IN ('reused', 'cached')",
            (run_id,),
        )
        return float(rows[0]["cost"])

    @staticmethod
    def _check_status(values: dict) -> None:
        if "status" in values and values["status"] not in STEP_STATUSES:
            raise BadInput(f"unknown step status {values['status']!r} — one of {', '.join(STEP_STATUSES)}")
