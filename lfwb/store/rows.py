"""Insert, read, list, update and delete one table's rows, with errors that name the row.

The table methods of `Store` (runs, contexts, projects, ...) are thin calls to these.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from ..errors import AlreadyExists, NotFound, BadInput
from .connection import StoreConnection
from .migrate import now

# Which columns a caller may set, per table; ids and timestamps are the store's business.
_WRITABLE = {
    "projects": {"name", "description"},
    "contexts": {"project_id", "name", "kind", "source", "text"},
    "runs": {
        "project_id",
        "kind",
        "model",
        "answered_by",
        "runtime",
        "status",
        "prompt",
        "output",
        "params_json",
        "seed",
        "input_tokens",
        "output_tokens",
        "ttft_ms",
        "duration_ms",
        "cost_usd",
        "error",
        "finished_at",
        "parent_id",
        "usage_json",
        "skipped_json",
        "pipeline_id",
        "schema_valid",
        "waited_ms",
        "cache_key",
        "cached_from",
    },
    "artifacts": {
        "project_id",
        "run_id",
        "kind",
        "language",
        "filename",
        "content",
        "parent_id",
        "instruction",
        "version",
    },
    "steps": {
        "run_id",
        "position",
        "name",
        "model",
        "status",
        "prompt",
        "output",
        "error",
        "started_at",
        "finished_at",
        "answered_by",
        "runtime",
        "params_json",
        "input_tokens",
        "output_tokens",
        "ttft_ms",
        "duration_ms",
        "cost_usd",
        "usage_json",
        "skipped_json",
        "reused_from_run",
        "attempt",
        "schema_valid",
        "waited_ms",
        "cache_key",
        "cached_from",
    },
}
_NOUN = {"projects": "project", "contexts": "context", "runs": "run", "artifacts": "artifact", "steps": "step"}


class Rows(StoreConnection):
    """Generic row access over the open file; `Store` adds one short method per table."""

    def _check_columns(self, table: str, values: dict) -> None:
        bad = sorted(set(values) - _WRITABLE[table])
        if bad:
            raise BadInput(f"{_NOUN[table]} has no field {bad[0]!r} — fields: {', '.join(sorted(_WRITABLE[table]))}")

    def _insert(self, table: str, values: dict, extra: dict | None = None) -> dict:
        self._check_columns(table, values)
        row = {**values, **(extra or {})}
        row.setdefault("started_at" if table in ("runs", "steps") else "created_at", now())
        cols = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        try:
            with self.write() as conn:
                cur = conn.execute(f"INSERT INTO {table} ({cols}) VALUES ({marks}) RETURNING *", tuple(row.values()))
                inserted = dict(cur.fetchone())
        except sqlite3.IntegrityError as e:
            raise self._integrity_error(table, e, row) from None
        return inserted

    def _integrity_error(self, table: str, e: sqlite3.IntegrityError, row: dict) -> Exception:
        msg = str(e)
        if "UNIQUE" in msg and table == "projects":
            return AlreadyExists(
                f"a project named {row.get('name')!r} already exists", about="project", name=row.get("name")
            )
        if "UNIQUE" in msg:
            return AlreadyExists(f"that {_NOUN[table]} already exists ({msg})")
        if "FOREIGN KEY" in msg:
            refs = {k: v for k, v in row.items() if k.endswith("_id") and v is not None}
            return NotFound(f"{_NOUN[table]} refers to a row that does not exist ({refs})")
        return BadInput(f"bad {_NOUN[table]}: {msg}")

    def _get(self, table: str, row_id: Any) -> dict:
        rows = self.query(f"SELECT * FROM {table} WHERE id = ?", (row_id,))
        if not rows:
            raise NotFound(f"no {_NOUN[table]} with id {row_id!r}", about=_NOUN[table])
        return rows[0]

    def _list(self, table: str, where: dict | None = None, limit: int | None = None, offset: int = 0) -> list[dict]:
        """Newest first; a None in `where` means any value."""
        where = {k: v for k, v in (where or {}).items() if v is not None}
        clause = " AND ".join(f"{k} = ?" for k in where)
        sql = f"SELECT * FROM {table}" + (f" WHERE {clause}" if clause else "")
        sql += " ORDER BY id DESC LIMIT ? OFFSET ?"
        return self.query(sql, (*where.values(), -1 if limit is None else int(limit), int(offset)))

    def page(self, table: str, where: dict | None = None, limit: int = 50, before: int | None = None) -> list[dict]:
        """Newest first, only rows with an id below `before` (the cursor of the page before):
        pages stay put while new rows are added, unlike an offset. A None in `where`: any value."""
        if table not in _WRITABLE:
            raise BadInput(f"no table {table!r} — one of {', '.join(sorted(_WRITABLE))}")
        where = {k: v for k, v in (where or {}).items() if v is not None}
        self._check_columns(table, where)
        clauses = [f"{k} = ?" for k in where] + (["id < ?"] if before is not None else [])
        sql = f"SELECT * FROM {table}" + (f" WHERE {' AND '.join(clauses)}" if clauses else "")
        params = (*where.values(), *([before] if before is not None else []), int(limit))
        return self.query(sql + " ORDER BY id DESC LIMIT ?", params)

    def _update(self, table: str, row_id: Any, values: dict) -> dict:
        self._check_columns(table, values)
        self._get(table, row_id)
        if values:
            sets = ", ".join(f"{k} = ?" for k in values)
            try:
                with self.write() as conn:
                    conn.execute(f"UPDATE {table} SET {sets} WHERE id = ?", (*values.values(), row_id))
            except sqlite3.IntegrityError as e:
                raise self._integrity_error(table, e, values) from None
        return self._get(table, row_id)

    def _delete(self, table: str, row_id: Any) -> None:
        self._get(table, row_id)
        with self.write() as conn:
            conn.execute(f"DELETE FROM {table} WHERE id = ?", (row_id,))
