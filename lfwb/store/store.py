"""The SQLite store: one file per workspace, opened with sqlite-utils, shared by kernels.

Every write runs in its own short `BEGIN IMMEDIATE` transaction with a busy timeout, so two
kernels (or two processes) writing one file wait for each other instead of failing with
"database is locked". Rows come back as plain dicts, newest first.
"""

from __future__ import annotations

import json
import os
import re
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import psutil
import sqlite_utils

from ..errors import AlreadyExists, NotFound, StoreError, UsageError
from .migrations import apply_migrations, check_ours

BUSY_TIMEOUT_S = 60.0

# Which columns a caller may set, per table; ids and timestamps are the store's business.
_WRITABLE = {
    "projects": {"name", "description"},
    "contexts": {"project_id", "name", "kind", "source", "text"},
    "runs": {
        "project_id", "kind", "model", "answered_by", "runtime", "status", "prompt", "output",
        "params_json", "seed", "input_tokens", "output_tokens", "ttft_ms", "duration_ms",
        "cost_usd", "error", "finished_at", "parent_id", "usage_json", "skipped_json",
    },
    "steps": {"run_id", "position", "name", "model", "status", "prompt", "output", "error",
              "finished_at"},
    "artifacts": {"project_id", "run_id", "kind", "language", "filename", "content"},
    "chat_sessions": {"project_id", "name", "model", "system"},
    "messages": {"session_id", "role", "content", "run_id"},
}
_NOUN = {
    "projects": "project", "contexts": "context", "runs": "run", "steps": "step",
    "artifacts": "artifact", "chat_sessions": "chat session", "messages": "message",
}
_HINT = {
    "projects": "%lfw projects", "contexts": "%lfw context search", "runs": "%lfw runs",
    "artifacts": "%lfw artifacts", "steps": "%lfw show RUN_ID", "chat_sessions": "%lfw chat",
    "messages": "%lfw chat",
}
RUN_STATUSES = ("running", "done", "failed", "cancelled", "interrupted")
RUN_KINDS = ("generate", "chat", "pipeline")


def now() -> str:
    """UTC timestamp as stored in every *_at column."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def default_db_path() -> str:
    return os.environ.get("LFWB_DB") or "lfwb.db"


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


def _enable_wal(conn: sqlite3.Connection) -> None:
    """Switch to WAL. On a file another process is creating at this very moment, SQLite answers
    "database is locked" at once (the busy timeout does not cover a journal-mode change), so
    try again for a while."""
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def fts_query(text: str) -> str:
    """Turn free text into an FTS5 query that cannot be a syntax error: every word quoted."""
    return " ".join(f'"{w}"' for w in re.findall(r"\w+", text))


class Store:
    """The workspace database. `Store("lfwb.db")` creates or upgrades the file.

    >>> store = Store(":memory:")
    >>> p = store.create_project("demo")
    >>> store.add_context(p["id"], "Buttons are blue.", name="style")["name"]
    'style'
    """

    def __init__(self, path: str | os.PathLike | None = None, *, adopt: bool = False):
        """`adopt=True` lets lfwb add its tables to another application's SQLite file."""
        self.path = str(path if path is not None else default_db_path())
        self._lock = threading.RLock()
        self.conn = self._connect(self.path)
        try:
            # Look before writing: another application's file is left exactly as it was,
            # its journal mode included.
            check_ours(self.conn, self.path, adopt)
            _enable_wal(self.conn)
            self.conn.execute("PRAGMA synchronous = NORMAL")
            self.conn.execute("PRAGMA foreign_keys = ON")
            apply_migrations(self.conn, self.path)
            self._check_writable()
        except sqlite3.DatabaseError as e:
            self.conn.close()
            raise self._open_error(e) from None
        except BaseException:
            self.conn.close()
            raise
        self.db = sqlite_utils.Database(self.conn)

    # -- opening -----------------------------------------------------------------------

    def _connect(self, path: str) -> sqlite3.Connection:
        if path != ":memory:":
            parent = Path(path).expanduser().resolve().parent
            if not parent.is_dir():
                raise StoreError(
                    f"cannot open the store at {path}: folder {parent} does not exist — "
                    "create it, or point LFWB_DB / %config Lfwb.db_path at a writable file"
                )
        try:
            conn = sqlite3.connect(
                path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
            )
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        except sqlite3.DatabaseError as e:
            raise self._open_error(e) from None
        return conn

    def _check_writable(self) -> None:
        # SQLite opens a file it may not write read-only without a word (a WAL file even takes
        # BEGIN IMMEDIATE), and only the first real write fails. Try one that changes nothing,
        # so a read-only store is refused when it is opened, not at the end of a generation.
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            self.conn.execute("DELETE FROM _lfwb_migrations WHERE 0")
        finally:
            self.conn.execute("ROLLBACK")

    def _open_error(self, e: Exception) -> StoreError:
        if "readonly" in str(e):
            return StoreError(
                f"the store at {self.path} is read-only, and lfwb records every run in it — "
                "make the file writable, or point %config Lfwb.db_path at another file"
            )
        return StoreError(
            f"cannot open the store at {self.path}: {e} — point LFWB_DB or "
            "%config Lfwb.db_path at a writable lfwb database file"
        )

    # Runs being written (`kept_open`): a close() meanwhile waits until the last one ends.
    _runs_writing = 0
    _closing = False

    def close(self) -> None:
        """Close the file, or, while runs are still being written to it, once the last one ends."""
        with self._lock:
            self._closing = True
            if not self._runs_writing:
                self.conn.close()

    @contextmanager
    def kept_open(self) -> Iterator[Store]:
        """Keep the store open for the block: a run finishes in the store it started in, even
        when the workbench switches to another store meanwhile (`%config Lfwb.db_path`)."""
        with self._lock:
            if self._closing:
                raise StoreError(
                    f"the store at {self.path} was closed — run it again: it goes to the current store"
                )
            self._runs_writing += 1
        try:
            yield self
        finally:
            with self._lock:
                self._runs_writing -= 1
                if self._closing and not self._runs_writing:
                    self.conn.close()

    def __repr__(self) -> str:
        return f"<Store {self.path}>"

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; taken up front so concurrent writers queue, never fail."""
        with self._lock:
            try:
                self.conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as e:
                raise StoreError(f"cannot write to the store at {self.path}: {e}") from None
            try:
                yield self.conn
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            else:
                try:
                    self.conn.execute("COMMIT")
                except sqlite3.OperationalError as e:
                    self.conn.execute("ROLLBACK")
                    raise StoreError(f"cannot write to the store at {self.path}: {e}") from None

    def query(self, sql: str, params: tuple | dict = ()) -> list[dict]:
        with self._lock:
            return [dict(r) for r in self.conn.execute(sql, params)]

    # -- generic rows ------------------------------------------------------------------

    def _check_columns(self, table: str, values: dict) -> None:
        bad = sorted(set(values) - _WRITABLE[table])
        if bad:
            raise UsageError(
                f"{_NOUN[table]} has no field {bad[0]!r} — fields: {', '.join(sorted(_WRITABLE[table]))}"
            )

    def _insert(self, table: str, values: dict, extra: dict | None = None) -> dict:
        self._check_columns(table, values)
        row = {**values, **(extra or {})}
        row.setdefault("started_at" if table in ("runs", "steps") else "created_at", now())
        cols = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        try:
            with self.write() as conn:
                cur = conn.execute(
                    f"INSERT INTO {table} ({cols}) VALUES ({marks}) RETURNING *", tuple(row.values())
                )
                inserted = dict(cur.fetchone())
        except sqlite3.IntegrityError as e:
            raise self._integrity_error(table, e, row) from None
        return inserted

    def _integrity_error(self, table: str, e: sqlite3.IntegrityError, row: dict) -> Exception:
        msg = str(e)
        if "UNIQUE" in msg and table == "projects":
            return AlreadyExists(
                f"a project named {row.get('name')!r} already exists — "
                f"switch to it with %lfw project {row.get('name')}"
            )
        if "UNIQUE" in msg:
            return AlreadyExists(f"that {_NOUN[table]} already exists ({msg})")
        if "FOREIGN KEY" in msg:
            refs = {k: v for k, v in row.items() if k.endswith("_id") and v is not None}
            return NotFound(f"{_NOUN[table]} refers to a row that does not exist ({refs})")
        return UsageError(f"bad {_NOUN[table]}: {msg}")

    def _get(self, table: str, row_id: Any) -> dict:
        rows = self.query(f"SELECT * FROM {table} WHERE id = ?", (row_id,))
        if not rows:
            raise NotFound(f"no {_NOUN[table]} with id {row_id!r} — see {_HINT[table]}")
        return rows[0]

    def _list(
        self, table: str, where: dict | None = None, limit: int | None = None, offset: int = 0
    ) -> list[dict]:
        where = {k: v for k, v in (where or {}).items() if v is not None}
        clause = " AND ".join(f"{k} = ?" for k in where)
        sql = f"SELECT * FROM {table}" + (f" WHERE {clause}" if clause else "")
        sql += " ORDER BY id DESC LIMIT ? OFFSET ?"
        return self.query(sql, (*where.values(), -1 if limit is None else int(limit), int(offset)))

    def _update(self, table: str, row_id: Any, values: dict) -> dict:
        self._check_columns(table, values)
        self._get(table, row_id)
        if values:
            sets = ", ".join(f"{k} = ?" for k in values)
            try:
                with self.write() as conn:
                    conn.execute(
                        f"UPDATE {table} SET {sets} WHERE id = ?", (*values.values(), row_id)
                    )
            except sqlite3.IntegrityError as e:
                raise self._integrity_error(table, e, values) from None
        return self._get(table, row_id)

    def _delete(self, table: str, row_id: Any) -> None:
        self._get(table, row_id)
        with self.write() as conn:
            conn.execute(f"DELETE FROM {table} WHERE id = ?", (row_id,))

    # -- projects ----------------------------------------------------------------------

    def create_project(self, name: str, description: str = "") -> dict:
        name = (name or "").strip()
        if not name:
            raise UsageError("a project needs a name, e.g. %lfw project landing-page")
        return self._insert("projects", {"name": name, "description": description})

    def get_project(self, id_or_name: int | str) -> dict:
        """A project by id or by name."""
        if isinstance(id_or_name, int) or str(id_or_name).isdigit():
            rows = self.query("SELECT * FROM projects WHERE id = ?", (int(id_or_name),))
        else:
            rows = self.query("SELECT * FROM projects WHERE name = ?", (id_or_name,))
        if not rows:
            names = ", ".join(p["name"] for p in self.list_projects(limit=20)) or "none yet"
            raise NotFound(
                f"no project {id_or_name!r} — projects: {names}. Create one with %lfw project NAME"
            )
        return rows[0]

    def ensure_project(self, name: str) -> dict:
        """The project called `name`, created if missing (safe when two kernels race)."""
        try:
            return self.get_project(name)
        except NotFound:
            try:
                return self.create_project(name)
            except AlreadyExists:
                return self.get_project(name)

    def list_projects(self, limit: int | None = None, offset: int = 0) -> list[dict]:
        return self._list("projects", limit=limit, offset=offset)

    def update_project(self, project_id: int, **values: Any) -> dict:
        return self._update("projects", project_id, values)

    def delete_project(self, project_id: int, cascade: bool = False) -> None:
        """Delete a project. One that still holds material is kept unless `cascade=True`."""
        project = self._get("projects", project_id)
        counts = {
            t: self.query(f"SELECT count(*) AS n FROM {t} WHERE project_id = ?", (project_id,))[0]["n"]
            for t in ("contexts", "runs", "artifacts", "chat_sessions")
        }
        held = {t: n for t, n in counts.items() if n}
        if held and not cascade:
            what = ", ".join(f"{n} {t.replace('_', ' ')}" for t, n in held.items())
            raise UsageError(
                f"project {project['name']!r} still has {what} — pass cascade=True to delete them too"
            )
        with self.write() as conn:
            for table in ("artifacts", "chat_sessions", "runs", "contexts"):
                conn.execute(f"DELETE FROM {table} WHERE project_id = ?", (project_id,))
            conn.execute("DELETE FROM projects WHERE id = ?", (project_id,))

    # -- contexts ----------------------------------------------------------------------

    def add_context(
        self, project_id: int, text: str, name: str | None = None, kind: str = "note",
        source: str | None = None,
    ) -> dict:
        if not isinstance(text, str) or not text.strip():
            raise UsageError("a context needs some text — it was empty")
        name = name or (text.strip().splitlines()[0][:60])
        return self._insert(
            "contexts",
            {"project_id": project_id, "name": name, "kind": kind, "source": source, "text": text},
        )

    def get_context(self, context_id: int) -> dict:
        return self._get("contexts", context_id)

    def list_contexts(
        self, project_id: int | None = None, kind: str | None = None,
        limit: int | None = None, offset: int = 0,
    ) -> list[dict]:
        return self._list("contexts", {"project_id": project_id, "kind": kind}, limit, offset)

    def update_context(self, context_id: int, **values: Any) -> dict:
        return self._update("contexts", context_id, values)

    def delete_context(self, context_id: int) -> None:
        self._delete("contexts", context_id)

    def search_contexts(
        self, query: str, project_id: int | None = None, limit: int = 10
    ) -> list[dict]:
        """Best matches first (BM25), each with a `snippet` around the matched words."""
        return self._search("contexts", "text", query, project_id, limit)

    def search_runs(self, query: str, project_id: int | None = None, limit: int = 10) -> list[dict]:
        return self._search("runs", "output", query, project_id, limit)

    def _search(
        self, table: str, column: str, query: str, project_id: int | None, limit: int
    ) -> list[dict]:
        match = fts_query(query)
        if not match:
            raise UsageError("search needs at least one word, e.g. %lfw context search button colour")
        col = {"contexts": 1, "runs": 1}[table]
        sql = (
            f"SELECT t.*, snippet({table}_fts, {col}, '[', ']', '…', 12) AS snippet "
            f"FROM {table}_fts JOIN {table} t ON t.id = {table}_fts.rowid "
            f"WHERE {table}_fts MATCH ?"
            + (" AND t.project_id = ?" if project_id is not None else "")
            + " ORDER BY rank LIMIT ?"
        )
        params = (match, project_id, limit) if project_id is not None else (match, limit)
        return self.query(sql, params)

    # -- runs --------------------------------------------------------------------------

    def add_run(self, project_id: int, kind: str = "generate", **values: Any) -> dict:
        """A new run row, owned by this process while its status is `running`."""
        if kind not in RUN_KINDS:
            raise UsageError(f"unknown run kind {kind!r} — one of {', '.join(RUN_KINDS)}")
        if isinstance(values.get("params_json"), dict):
            values["params_json"] = json.dumps(values["params_json"])
        host, pid, started = _this_process()
        return self._insert(
            "runs", {"project_id": project_id, "kind": kind, **values},
            extra={"owner_host": host, "owner_pid": pid, "owner_started": started},
        )

    def get_run(self, run_id: int) -> dict:
        return self._get("runs", run_id)

    def list_runs(
        self, project_id: int | None = None, kind: str | None = None, status: str | None = None,
        model: str | None = None, limit: int | None = None, offset: int = 0,
    ) -> list[dict]:
        where = {"project_id": project_id, "kind": kind, "status": status, "model": model}
        return self._list("runs", where, limit, offset)

    def update_run(self, run_id: int, **values: Any) -> dict:
        if "status" in values and values["status"] not in RUN_STATUSES:
            raise UsageError(f"unknown run status {values['status']!r} — one of {', '.join(RUN_STATUSES)}")
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

    def mark_interrupted_runs(self) -> list[int]:
        """Runs left `running` by a process on this host that no longer exists → `interrupted`."""
        host, pid, _ = _this_process()
        rows = self.query(
            "SELECT id, owner_host, owner_pid, owner_started FROM runs WHERE status = 'running'"
        )
        dead = [
            r["id"] for r in rows
            if r["owner_host"] in (host, None) and r["owner_pid"] != pid
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
        return dead

    # -- steps -------------------------------------------------------------------------

    def add_step(self, run_id: int, position: int, name: str, **values: Any) -> dict:
        return self._insert("steps", {"run_id": run_id, "position": position, "name": name, **values})

    def list_steps(self, run_id: int) -> list[dict]:
        return self.query("SELECT * FROM steps WHERE run_id = ? ORDER BY position", (run_id,))

    def update_step(self, step_id: int, **values: Any) -> dict:
        return self._update("steps", step_id, values)

    # -- artifacts ---------------------------------------------------------------------

    def add_artifact(
        self, project_id: int, content: str, run_id: int | None = None, kind: str = "code",
        language: str | None = None, filename: str | None = None,
    ) -> dict:
        return self._insert(
            "artifacts",
            {"project_id": project_id, "run_id": run_id, "kind": kind, "language": language,
             "filename": filename, "content": content},
        )

    def get_artifact(self, artifact_id: int) -> dict:
        return self._get("artifacts", artifact_id)

    def list_artifacts(
        self, run_id: int | None = None, project_id: int | None = None,
        limit: int | None = None, offset: int = 0,
    ) -> list[dict]:
        return self._list("artifacts", {"run_id": run_id, "project_id": project_id}, limit, offset)

    def update_artifact(self, artifact_id: int, **values: Any) -> dict:
        return self._update("artifacts", artifact_id, values)

    def delete_artifact(self, artifact_id: int) -> None:
        self._delete("artifacts", artifact_id)

    # -- model registrations -----------------------------------------------------------

    def save_model(self, name: str, runtime: str, source: str, config: dict) -> None:
        stamp = now()
        with self.write() as conn:
            conn.execute(
                "INSERT INTO models (name, runtime, source, config_json, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET runtime = excluded.runtime, "
                "source = excluded.source, config_json = excluded.config_json, "
                "updated_at = excluded.updated_at",
                (name, runtime, source, json.dumps(config), stamp, stamp),
            )

    def list_models(self) -> list[dict]:
        return self.query("SELECT * FROM models ORDER BY created_at, name")

    def delete_model(self, name: str) -> None:
        with self.write() as conn:
            conn.execute("DELETE FROM models WHERE name = ?", (name,))
