"""Contexts (notes, files, snippets a project keeps) and full-text search over them and over
run outputs. The FTS5 indexes and the triggers that keep them current are in `migrations`."""

from __future__ import annotations

import re
from typing import Any

from ..errors import BadInput
from .chunks import ChunkRows


def fts_query(text: str) -> str:
    """Turn free text into an FTS5 query that cannot be a syntax error: every word quoted."""
    return " ".join(f'"{w}"' for w in re.findall(r"\w+", text))


class ContextRows(ChunkRows):
    """The `contexts` table (their chunks: ChunkRows), and searching it and the runs."""

    def add_context(
        self,
        project_id: int,
        text: str,
        name: str | None = None,
        kind: str = "note",
        source: str | None = None,
    ) -> dict:
        if not isinstance(text, str) or not text.strip():
            raise BadInput("a context needs some text — it was empty")
        name = name or (text.strip().splitlines()[0][:60])
        return self._insert(
            "contexts",
            {"project_id": project_id, "name": name, "kind": kind, "source": source, "text": text},
        )

    def get_context(self, context_id: int) -> dict:
        return self._get("contexts", context_id)

    def list_contexts(
        self,
        project_id: int | None = None,
        kind: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[dict]:
        return self._list("contexts", {"project_id": project_id, "kind": kind}, limit, offset)

    def update_context(self, context_id: int, **values: Any) -> dict:
        row = self._update("contexts", context_id, values)
        if {"text", "project_id"} & set(values):
            # Its chunks would be stale: drop them; retrieval indexes it again on first use.
            self.clear_chunks(context_id)
        return row

    def delete_context(self, context_id: int) -> None:
        self._get("contexts", context_id)
        self.clear_chunks(context_id)  # the vector index has no foreign key to cascade
        self._delete("contexts", context_id)

    # -- full-text search --------------------------------------------------------------

    def search_contexts(self, query: str, project_id: int | None = None, limit: int = 10) -> list[dict]:
        """Best matches first (BM25), each with a `snippet` around the matched words."""
        return self._search("contexts", query, project_id, limit)

    def search_runs(self, query: str, project_id: int | None = None, limit: int = 10) -> list[dict]:
        """Finished runs whose prompt or output matches, best first, each with a `snippet` of the output."""
        return self._search("runs", query, project_id, limit)

    def _search(self, table: str, query: str, project_id: int | None, limit: int) -> list[dict]:
        match = fts_query(query)
        if not match:
            raise BadInput("search needs at least one word", about="search")
        # Column 1 of both indexes is the searched text (contexts: name, text; runs: prompt, output).
        sql = (
            f"SELECT t.*, snippet({table}_fts, 1, '[', ']', '…', 12) AS snippet "
            f"FROM {table}_fts JOIN {table} t ON t.id = {table}_fts.rowid "
            f"WHERE {table}_fts MATCH ?"
            + (" AND t.project_id = ?" if project_id is not None else "")
            + " ORDER BY rank LIMIT ?"
        )
        params = (match, project_id, limit) if project_id is not None else (match, limit)
        return self.query(sql, params)
