"""Opening, writing and closing the store's SQLite file (the tables live in `Store`).

Every write runs in its own short `BEGIN IMMEDIATE` transaction with a busy timeout, so two
kernels (or two processes) writing one file wait for each other instead of failing with
"database is locked". Rows come back as plain dicts.

The file is opened with the standard library's `sqlite3` and nothing else: a second SQLite
library in the same process (sqlean, pysqlite3) would keep its own POSIX locks, and the
notebook's sqlite3, sqlite-utils or pandas closing the same file would then delete the WAL
this one is writing (SQLite's "How To Corrupt", section 2.2). So the store loads no extension.

    >>> conn = StoreConnection(":memory:")
    >>> with conn.write() as c:
    ...     _ = c.execute("INSERT INTO projects (name, created_at) VALUES ('demo', ?)", (now(),))
    >>> conn.query("SELECT name FROM projects")
    [{'name': 'demo'}]
"""

from __future__ import annotations

import functools
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..errors import StoreError
from .migrate import apply_migrations, check_ours, now  # noqa: F401 (`now`: the example above)

BUSY_TIMEOUT_S = 60.0


def default_db_path() -> str:
    return os.environ.get("LFWB_DB") or "lfwb.db"


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


class StoreConnection:
    """The open file: created or upgraded on open, one write transaction at a time, and a close
    that waits for the runs still being written (`kept_open`)."""

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

    @functools.cached_property
    def db(self) -> Any:
        """The open file as a `sqlite_utils.Database`, made on first use: sqlite-utils pulls
        in numpy (~0.2 s), and prefers pysqlite3, a second SQLite library, where it is installed."""
        import sqlite_utils

        return sqlite_utils.Database(self.conn)

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
            conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
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

    # -- closing -----------------------------------------------------------------------

    # Runs being written (`kept_open`): a close() meanwhile waits until the last one ends.
    _runs_writing = 0
    _closing = False

    def close(self) -> None:
        """Close the file, or, while runs are still being written to it, once the last one ends."""
        with self._lock:
            self._closing = True
            if not self._runs_writing:
                self._close_file()

    @contextmanager
    def kept_open(self) -> Iterator[StoreConnection]:
        """Keep the store open for the block: a run finishes in the store it started in, even
        when the workbench switches to another store meanwhile (`%config Lfwb.db_path`)."""
        with self._lock:
            if self._closing:
                raise StoreError(f"the store at {self.path} was closed — run it again: it goes to the current store")
            self._runs_writing += 1
        try:
            yield self
        finally:
            with self._lock:
                self._runs_writing -= 1
                if self._closing and not self._runs_writing:
                    self._close_file()

    def _close_file(self) -> None:
        """Close the SQLite connection; a part holding memory for the file frees it here too."""
        self.conn.close()

    def __repr__(self) -> str:
        return f"<Store {self.path}>"

    # -- reading and writing -----------------------------------------------------------

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
