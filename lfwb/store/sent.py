"""What a run sent its model, each piece kept once (the tables of `m018_sent_requests`).

A request is its messages, its settings and marks (where a summary or a retrieved chunk sits in
a message). Texts are kept by SHA-256, so a settings block or a system prompt sent a thousand
times is one row. Messages are a prefix tree: a node is (the node before it, role, text), and a
request names its last node, so a chat turn that sends the whole history again adds only the
messages that are new — a long conversation grows the file by its new text, not by its history
once per turn. Token counts are kept per text and tokenizer (`counted_by`).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable

from .rows import Rows


def _inserted(cursor: sqlite3.Cursor) -> int:
    assert cursor.lastrowid is not None  # an INSERT that succeeded
    return cursor.lastrowid


def _text_id(conn: sqlite3.Connection, text: str) -> int:
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    row = conn.execute("SELECT id FROM sent_texts WHERE sha256 = ?", (digest,)).fetchone()
    if row is not None:
        return row[0]
    return _inserted(conn.execute("INSERT INTO sent_texts (sha256, text) VALUES (?, ?)", (digest, text)))


def _message_id(conn: sqlite3.Connection, parent_id: int, role: str, text_id: int) -> int:
    found = conn.execute(
        "SELECT id FROM sent_messages WHERE parent_id = ? AND role = ? AND text_id = ?", (parent_id, role, text_id)
    ).fetchone()
    if found is not None:
        return found[0]
    return _inserted(
        conn.execute(
            "INSERT INTO sent_messages (parent_id, role, text_id) VALUES (?, ?, ?)", (parent_id, role, text_id)
        )
    )


class SentRows(Rows):
    """The `sent_*` tables."""

    def add_request(
        self,
        run_id: int,
        messages: list[dict],
        settings: dict,
        *,
        step_id: int | None = None,
        raw: bool = False,
        marks: list[dict] | None = None,
    ) -> int:
        """Keep what run `run_id` (its step `step_id`) sent: `messages` ({role, content}; a raw
        prompt is one message of role `prompt`), `settings` and `marks`; returns the request's id."""
        with self.write() as conn:
            node = 0
            for message in messages:
                node = _message_id(conn, node, message["role"], _text_id(conn, message["content"]))
            settings_id = _text_id(conn, json.dumps(settings, sort_keys=True))
            return _inserted(
                conn.execute(
                    "INSERT INTO sent_requests (run_id, step_id, raw, last_message_id, settings_id, marks_json) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (run_id, step_id, int(raw), node, settings_id, json.dumps(marks) if marks else None),
                )
            )

    def count_request(self, request_id: int, counted_by: str, count: Callable[[str], int]) -> None:
        """Count the tokens of the request's messages with `count`, once per text and tokenizer."""
        missing = self.query(
            f"{_PATH} SELECT DISTINCT t.id, t.text FROM path JOIN sent_texts t ON t.id = path.text_id "
            "WHERE NOT EXISTS (SELECT 1 FROM sent_counts c WHERE c.text_id = t.id AND c.counted_by = ?)",
            (request_id, counted_by),
        )
        counts = [(row["id"], counted_by, count(row["text"])) for row in missing]
        with self.write() as conn:
            conn.executemany("INSERT OR IGNORE INTO sent_counts (text_id, counted_by, tokens) VALUES (?, ?, ?)", counts)
            conn.execute("UPDATE sent_requests SET counted_by = ? WHERE id = ?", (counted_by, request_id))

    def get_request(self, run_id: int, step_id: int | None = None) -> dict | None:
        """What run `run_id` (or its step `step_id`) sent: {messages: [{role, content, tokens}],
        settings, raw, marks, counted_by}; None when nothing was kept (a run imported, or older)."""
        where = "step_id = ?" if step_id is not None else "step_id IS NULL"
        found = self.query(
            f"SELECT r.*, s.text AS settings FROM sent_requests r JOIN sent_texts s ON s.id = r.settings_id "
            f"WHERE run_id = ? AND {where} ORDER BY r.id DESC LIMIT 1",
            (run_id, step_id) if step_id is not None else (run_id,),
        )
        if not found:
            return None
        request = found[0]
        messages = self.query(
            f"{_PATH} SELECT path.role, t.text AS content, c.tokens FROM path JOIN sent_texts t ON t.id = path.text_id "
            "LEFT JOIN sent_counts c ON c.text_id = t.id AND c.counted_by = ? ORDER BY path.depth DESC",
            (request["id"], request["counted_by"] or ""),
        )
        return {
            "messages": messages,
            "settings": json.loads(request["settings"]),
            "raw": bool(request["raw"]),
            "marks": json.loads(request["marks_json"] or "[]"),
            "counted_by": request["counted_by"],
        }

    def prune_sent(self) -> None:
        """Drop what no request names any more (after runs or steps are deleted): a deleted
        run's words leave the file, the texts other runs still share stay. Only what the deleted
        requests named is looked at (`sent_unused`, filled by a trigger, m019), from each one's
        last message up to the first that is still used."""
        with self.write() as conn:
            gone = conn.execute("SELECT DISTINCT message_id, settings_id FROM sent_unused").fetchall()
            texts = {settings for _, settings in gone}
            for node, _ in gone:
                while node and not conn.execute(_USED_MESSAGE, (node, node)).fetchone():
                    found = conn.execute("SELECT parent_id, text_id FROM sent_messages WHERE id = ?", (node,))
                    parent, text = found.fetchone() or (0, None)  # (0: gone already, by another path)
                    conn.execute("DELETE FROM sent_messages WHERE id = ?", (node,))
                    texts.add(text)
                    node = parent
            unused = [(t,) for t in texts if t is not None and not conn.execute(_USED_TEXT, (t, t)).fetchone()]
            conn.executemany("DELETE FROM sent_counts WHERE text_id = ?", unused)
            conn.executemany("DELETE FROM sent_texts WHERE id = ?", unused)
            conn.execute("DELETE FROM sent_unused")


_USED_MESSAGE = (
    "SELECT 1 FROM sent_requests WHERE last_message_id = ? UNION ALL SELECT 1 FROM sent_messages WHERE parent_id = ?"
)
_USED_TEXT = "SELECT 1 FROM sent_messages WHERE text_id = ? UNION ALL SELECT 1 FROM sent_requests WHERE settings_id = ?"

# The messages of request ? from its last one up, with their depth from the last (0).
_PATH = (
    "WITH RECURSIVE path(id, parent_id, role, text_id, depth) AS ("
    " SELECT m.id, m.parent_id, m.role, m.text_id, 0 FROM sent_messages m"
    " JOIN sent_requests r ON r.last_message_id = m.id WHERE r.id = ?"
    " UNION ALL SELECT m.id, m.parent_id, m.role, m.text_id, path.depth + 1 FROM sent_messages m"
    " JOIN path ON m.id = path.parent_id)"
)
