"""Chat sessions and their messages (lfwb/chat/session.py writes them, one turn at a time).

A session is named within its project; its messages come back oldest first. A message's
`run_id` is the run that answered it (the user's turn and the answer point at the same run),
`status` says how the answer ended, `sources_json` lists the context chunks it was given.
"""

from __future__ import annotations

import json
from typing import Any

from ..errors import BadInput, NotFound
from .migrate import now
from .rows import Rows

_SESSION_FIELDS = {"model", "system", "summary", "summary_upto", "summary_turns"}
MESSAGE_STATUSES = ("done", "cancelled", "failed")


class ChatRows(Rows):
    """The `chat_sessions` and `messages` tables."""

    def create_chat_session(
        self, project_id: int, name: str, model: str | None = None, system: str | None = None
    ) -> dict:
        name = (name or "").strip()
        if not name:
            raise BadInput("a chat session needs a name", about="session_name")
        stamp = now()
        with self.write() as conn:
            row = conn.execute(
                "INSERT INTO chat_sessions (project_id, name, model, system, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (project_id, name) DO NOTHING RETURNING *",
                (project_id, name, model, system, stamp, stamp),
            ).fetchone()
        # Another kernel made it first: the same session, as for a project.
        return dict(row) if row is not None else self.get_chat_session(project_id, name)

    def find_chat_session(self, project_id: int, name: str) -> dict | None:
        rows = self.query("SELECT * FROM chat_sessions WHERE project_id = ? AND name = ?", (project_id, name))
        return rows[0] if rows else None

    def get_chat_session(self, project_id: int, name: str) -> dict:
        """The session `name` of the project; one line naming the sessions there when missing."""
        row = self.find_chat_session(project_id, name)
        if row is None:
            names = ", ".join(s["name"] for s in self.list_chat_sessions(project_id)[:20]) or "none yet"
            raise NotFound(f"no chat session {name!r} in this project — sessions: {names}")
        return row

    def list_chat_sessions(self, project_id: int) -> list[dict]:
        """Most recently used first, each with its message count and last message's time."""
        return self.query(
            "SELECT s.*, count(m.id) AS messages, max(m.created_at) AS last_message_at "
            "FROM chat_sessions s LEFT JOIN messages m ON m.session_id = s.id "
            "WHERE s.project_id = ? GROUP BY s.id ORDER BY coalesce(s.updated_at, s.created_at) DESC, s.id DESC",
            (project_id,),
        )

    def update_chat_session(self, session_id: int, **values: Any) -> dict:
        bad = sorted(set(values) - _SESSION_FIELDS)
        if bad:
            raise BadInput(f"a chat session has no field {bad[0]!r} — fields: {', '.join(sorted(_SESSION_FIELDS))}")
        values["updated_at"] = now()
        sets = ", ".join(f"{k} = ?" for k in values)
        with self.write() as conn:
            conn.execute(f"UPDATE chat_sessions SET {sets} WHERE id = ?", (*values.values(), session_id))
        return self.query("SELECT * FROM chat_sessions WHERE id = ?", (session_id,))[0]

    def rename_chat_session(self, session_id: int, name: str) -> None:
        with self.write() as conn:
            conn.execute("UPDATE chat_sessions SET name = ?, updated_at = ? WHERE id = ?", (name, now(), session_id))

    def delete_chat_session(self, project_id: int, name: str) -> dict:
        """Delete the session and its messages (their runs stay); returns the deleted row."""
        row = self.get_chat_session(project_id, name)
        with self.write() as conn:  # its messages go by ON DELETE CASCADE, as in delete_project
            conn.execute("DELETE FROM chat_sessions WHERE id = ?", (row["id"],))
        return row

    # -- messages ----------------------------------------------------------------------

    def add_message(
        self,
        session_id: int,
        role: str,
        content: str,
        run_id: int | None = None,
        status: str = "done",
        sources: list[dict] | None = None,
    ) -> dict:
        _check_status(status)
        stamp = now()
        with self.write() as conn:
            row = conn.execute(
                "INSERT INTO messages (session_id, role, content, run_id, status, sources_json, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING *",
                (session_id, role, content, run_id, status, json.dumps(sources) if sources else None, stamp),
            ).fetchone()
            conn.execute("UPDATE chat_sessions SET updated_at = ? WHERE id = ?", (stamp, session_id))
        return dict(row)

    def delete_message(self, message_id: int) -> None:
        with self.write() as conn:
            conn.execute("DELETE FROM messages WHERE id = ?", (message_id,))

    def list_messages(self, session_id: int, after_id: int | None = None) -> list[dict]:
        """Oldest first; with `after_id`, only the messages after that one."""
        return self.query(
            "SELECT * FROM messages WHERE session_id = ? AND id > ? ORDER BY id", (session_id, after_id or 0)
        )

    def existing_context_ids(self, ids: list[int]) -> set[int]:
        """Which of `ids` are contexts still there (a cited source may have been deleted)."""
        if not ids:
            return set()
        marks = ", ".join("?" for _ in ids)
        return {r["id"] for r in self.query(f"SELECT id FROM contexts WHERE id IN ({marks})", tuple(ids))}


def _check_status(status: str) -> None:
    if status not in MESSAGE_STATUSES:
        raise BadInput(f"unknown message status {status!r} — one of {', '.join(MESSAGE_STATUSES)}")
