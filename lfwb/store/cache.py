"""The step cache's rows: finding an earlier answer by its key, and forgetting the keys.

Keys are written by lfwb/pipelines/step_cache.py onto `steps` and `runs` rows (`cache_key`);
a row that took its answer from another names it in `cached_from`.
"""

from __future__ import annotations

from .rows import Rows


class CacheRows(Rows):
    """Look-ups by `cache_key`, within one project."""

    def cached_step(self, project_id: int, key: str) -> dict | None:
        """The newest step of the project that finished (ran or was cached) with `key`."""
        rows = self.query(
            "SELECT s.* FROM steps s JOIN runs r ON r.id = s.run_id WHERE s.cache_key = ? "
            "AND s.status IN ('done', 'cached') AND r.project_id = ? ORDER BY s.id DESC LIMIT 1",
            (key, project_id),
        )
        return rows[0] if rows else None

    def cached_run(self, project_id: int, key: str) -> dict | None:
        """The newest finished run of the project with `key`."""
        rows = self.query(
            "SELECT * FROM runs WHERE cache_key = ? AND status = 'done' AND project_id = ? ORDER BY id DESC LIMIT 1",
            (key, project_id),
        )
        return rows[0] if rows else None

    def clear_cache(self, project_id: int) -> int:
        """Forget every key of the project (rows stay); returns how many distinct answers it held."""
        steps = "SELECT id FROM runs WHERE project_id = ?"
        with self.write() as conn:
            (held,) = conn.execute(
                f"SELECT count(DISTINCT cache_key) FROM (SELECT cache_key FROM steps WHERE run_id IN ({steps}) "
                "UNION ALL SELECT cache_key FROM runs WHERE project_id = ?)",
                (project_id, project_id),
            ).fetchone()
            conn.execute(
                f"UPDATE steps SET cache_key = NULL WHERE cache_key IS NOT NULL AND run_id IN ({steps})", (project_id,)
            )
            conn.execute(
                "UPDATE runs SET cache_key = NULL WHERE cache_key IS NOT NULL AND project_id = ?", (project_id,)
            )
        return held
