"""Opening, writing and closing the store's SQLite file (the tables live in `Store`).

Every write runs in its own short `BEGIN IMMEDIATE` transaction with a busy timeout, so two
kernels (or two processes) writing one file wait for each other instead of failing with
"database is locked". Rows come back as plain dicts.

The file is opened through a driver that can load SQLite extensions — `sqlean` (sqlean.py) if
installed, else `pysqlite3`, else the standard library's `sqlite3`, which on many Pythons cannot —
and sqlite-vec is loaded into it for the vector index (`vectors_unavailable` says why not, when
not). Whatever the driver, `write` and `query` raise the standard library's `sqlite3` errors, so
`except sqlite3.IntegrityError` means the same everywhere.

    >>> conn = StoreConnection(":memory:")
    >>> with conn.write() as c:
    ...     _ = c.execute("INSERT INTO projects (name, created_at) VALUES ('demo', ?)", (now(),))
    >>> conn.query("SELECT name FROM projects")
    [{'name': 'demo'}]
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


from ..errors import StoreError
from .migrate import apply_migrations, check_ours, now

BUSY_TIMEOUT_S = 60.0


def _extension_driver():
    """The first importable DB-API module that can load SQLite extensions, else `sqlite3`."""
    for name in ("sqlean", "pysqlite3.dbapi2"):
        try:
            return __import__(name, fromlist=["connect"])
        except ImportError:
            continue
    return sqlite3


driver = _extension_driver()
# The driver's own error classes, when they are not the standard library's.
_DRIVER_ERRORS: tuple[type[Exception], ...] = (driver.Error,) if driver is not sqlite3 else ()
_DATABASE_ERRORS = (sqlite3.DatabaseError, *_DRIVER_ERRORS)


def as_stdlib_error(e: Exception) -> Exception:
    """`e` as the standard library's `sqlite3` error of the same name (the driver's are not
    subclasses of them), so callers catch `sqlite3.IntegrityError` whichever driver raised it."""
    if isinstance(e, sqlite3.Error):
        return e
    return getattr(sqlite3, type(e).__name__, sqlite3.DatabaseError)(*e.args)


def _load_sqlite_vec(conn) -> str | None:
    """Load sqlite-vec into `conn`; None when loaded, else one line saying why not."""
    try:
        import sqlite_vec
    except ImportError:
        return "the sqlite-vec package is not installed — pip install sqlite-vec sqlean.py"
    if not hasattr(conn, "enable_load_extension"):
        return (
            "this Python's sqlite3 cannot load extensions — pip install sqlean.py "
            "(or pysqlite3-binary) so lfwb can load sqlite-vec"
        )
    try:
        conn.enable_load_extension(True)
        sqlite_vec.load(conn)
        conn.enable_load_extension(False)
    except (AttributeError, *_DATABASE_ERRORS) as e:
        return f"sqlite-vec could not be loaded ({e}) — pip install -U sqlite-vec sqlean.py"
    return None


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
        except (sqlite3.OperationalError, *_DRIVER_ERRORS) as e:
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
        except _DATABASE_ERRORS as e:
            self.conn.close()
            raise self._open_error(e) from None
        except BaseException:
            self.conn.close()
            raise
        import sqlite_utils  # here, not at the top: it pulls in numpy (~0.2 s), and %load_ext must stay light

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
            conn = driver.connect(
                path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
            )
            conn.row_factory = driver.Row
            conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        except _DATABASE_ERRORS as e:
            raise self._open_error(e) from None
        # Why the vector index cannot be used with this file; None: it can (lfwb/store/chunks.py).
        self.vectors_unavailable = _load_sqlite_vec(conn)
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
                self.conn.close()

    @contextmanager
    def kept_open(self) -> Iterator[StoreConnection]:
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

    # -- reading and writing -----------------------------------------------------------

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; taken up front so concurrent writers queue, never fail."""
        with self._lock:
            try:
                self.conn.execute("BEGIN IMMEDIATE")
            except (sqlite3.OperationalError, *_DRIVER_ERRORS) as e:
                raise StoreError(f"cannot write to the store at {self.path}: {e}") from None
            try:
                yield self.conn
            except _DRIVER_ERRORS as e:
                self.conn.execute("ROLLBACK")
                raise as_stdlib_error(e) from e
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            else:
                try:
                    self.conn.execute("COMMIT")
                except (sqlite3.OperationalError, *_DRIVER_ERRORS) as e:
                    self.conn.execute("ROLLBACK")
                    raise StoreError(f"cannot write to the store at {self.path}: {e}") from None

    def query(self, sql: str, params: tuple | dict = ()) -> list[dict]:
        with self._lock:
            try:
                return [dict(r) for r in self.conn.execute(sql, params)]
            except _DRIVER_ERRORS as e:
                raise as_stdlib_error(e) from e
