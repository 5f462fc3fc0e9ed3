"""Applying the schema history (`migrations.py`) to a file, and telling lfwb's files from others'.

`apply_migrations` runs the migrations a file has not seen, in order, inside one write
transaction, and records each by name in `_lfwb_migrations`. A file that records a migration
this lfwb does not know was written by a newer lfwb and is refused.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime, timezone
from functools import cache

from ..errors import StoreError
from . import migrations


def now() -> str:
    """UTC timestamp as stored in every *_at column."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def check_ours(conn: sqlite3.Connection, path: str, adopt: bool = False) -> None:
    """Refuse a SQLite file that holds another application's tables, before anything is written.

    A file lfwb made records its migrations, and an empty one is lfwb's to fill; any other file
    belongs to someone else. lfwb adds its tables to it only when asked (`adopt=True`), and
    never when one of its names is already taken there.
    """
    rows = conn.execute("SELECT type, name FROM sqlite_master WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\'").fetchall()
    names = [name for _type, name in rows]
    if not names or "_lfwb_migrations" in names:
        return
    tables = sorted(name for kind, name in rows if kind == "table") or sorted(names)
    what = f"{path} is another application's SQLite database (tables: {', '.join(tables[:4])}"
    what += ", …)" if len(tables) > 4 else ")"
    taken = sorted(name for name in names if name.lower() in lfwb_names())
    if taken:
        raise StoreError(
            f"{what} with its own {taken[0]!r}, a name lfwb needs — it was left unchanged; "
            "point %config Lfwb.db_path at another file"
        )
    if not adopt:
        raise StoreError(
            f"{what} — it was left unchanged; point %config Lfwb.db_path at another file, "
            "or add lfwb's tables to this one with %config Lfwb.adopt_db = True"
        )


@cache
def lfwb_names() -> frozenset[str]:
    """Every table, index and trigger name lfwb's schema creates (lowercase)."""
    conn = sqlite3.connect(":memory:", isolation_level=None)
    try:
        apply_migrations(conn)
        return frozenset(r[0].lower() for r in conn.execute("SELECT name FROM sqlite_master"))
    finally:
        conn.close()


def applied_migrations(conn: sqlite3.Connection) -> list[str]:
    exists = conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='_lfwb_migrations'").fetchone()
    if not exists:
        return []
    return [r[0] for r in conn.execute("SELECT name FROM _lfwb_migrations ORDER BY rowid")]


def apply_migrations(conn: sqlite3.Connection, path: str = "", upto: str | None = None) -> list[str]:
    """Bring the schema up to date; return the names applied. `upto` stops after that one.

    The connection must be in autocommit mode (isolation_level=None): the whole upgrade runs
    in one BEGIN IMMEDIATE so two kernels opening a new file do not both migrate it.
    """
    known = [m.__name__ for m in migrations.MIGRATIONS]
    # A migration that rebuilds a table drops the old one, and with foreign keys on that drop
    # would first delete its rows and cascade to theirs (SQLite's ALTER TABLE procedure turns
    # them off; the pragma is a no-op inside a transaction, so here, before it begins). Its
    # rename of the new table must be the legacy one: the modern rename checks every view and
    # trigger, and a user's view on the table just dropped would refuse the whole upgrade.
    pragmas = {p: conn.execute(f"PRAGMA {p}").fetchone()[0] for p in ("foreign_keys", "legacy_alter_table")}
    conn.execute("PRAGMA foreign_keys = OFF")
    conn.execute("PRAGMA legacy_alter_table = ON")
    try:
        return _apply(conn, path, upto, known)
    finally:
        for pragma, value in pragmas.items():
            conn.execute(f"PRAGMA {pragma} = {int(value)}")


def _apply(conn: sqlite3.Connection, path: str, upto: str | None, known: list[str]) -> list[str]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute("CREATE TABLE IF NOT EXISTS _lfwb_migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
        done = applied_migrations(conn)
        unknown = [name for name in done if name not in known]
        if unknown:
            raise StoreError(
                f"the store {path or ''} was written by a newer lfwb (it has migration "
                f"{unknown[0]!r}); upgrade lfwb (pip install -U lfwb) or use another file"
            )
        applied = []
        for fn in migrations.MIGRATIONS:
            if fn.__name__ in done:
                continue
            # executescript would COMMIT our transaction: run statement by statement instead.
            _run_in_transaction(conn, fn)
            conn.execute(
                "INSERT INTO _lfwb_migrations (name, applied_at) VALUES (?, ?)",
                (fn.__name__, now()),
            )
            applied.append(fn.__name__)
            if fn.__name__ == upto:
                break
        conn.execute("COMMIT")
        return applied
    except BaseException:
        conn.execute("ROLLBACK")
        raise


class _StatementRunner:
    """Stands in for a connection inside a migration: splits scripts into statements."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def execute(self, sql: str, params: tuple = ()):  # noqa: D401 - mirrors sqlite3
        return self.conn.execute(sql, params)

    def executescript(self, script: str) -> None:
        statement = ""
        for line in script.splitlines(keepends=True):
            statement += line
            if sqlite3.complete_statement(statement):
                self.conn.execute(statement)
                statement = ""
        if statement.strip():
            self.conn.execute(statement)


def _run_in_transaction(conn: sqlite3.Connection, fn: migrations.Migration) -> None:
    fn(_StatementRunner(conn))  # type: ignore[arg-type]
