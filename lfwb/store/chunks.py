"""Context chunks and their two indexes: FTS5 (BM25) over the text, and vectors.

The chunk rows, their full-text index and their float vectors are plain tables (`m009`), so
sqlite3, sqlite-utils and Datasette read them. Vector search needs no SQLite extension: the
vectors are ranked by exact cosine with numpy, over a copy held in memory that follows the
table's change log (`lfwb/store/vectors.py`).

    >>> store = Store(":memory:")
    >>> p = store.create_project("demo")
    >>> c = store.add_context(p["id"], "Buttons are blue.", name="style")
    >>> store.add_chunks(c["id"], [{"index": 0, "text": "Buttons are blue.", "start": 0, "end": 17, "tokens": 4}])
    1
    >>> [r["context_name"] for r in store.search_chunks(p["id"], "button colour")]
    ['style']
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import BadInput
from .migrate import now
from .rows import Rows

if TYPE_CHECKING:
    from .vectors import VectorIndex

# Change-log entries kept (`m012`): a store that fell further behind reloads its vectors.
KEEP_CHANGES = 100_000

BATCH = 500  # chunks per write: a big file never holds the store's write lock for long

# Words too common to rank by; dropped from a BM25 query (unless nothing else is left), since
# an OR over "the" would match, and score, every chunk.
_STOPWORDS = frozenset(
    "a an and are as at be but by can do does did for from has have how i if in into is it its "
    "me my of on or our so that the their them then there these they this to was we were what "
    "when where which who why will with you your".split()
)

_CHUNK_COLUMNS = (
    "c.id AS chunk_id, c.context_id, c.chunk_index, c.text, c.start_char, c.end_char, "
    "c.tokens, x.name AS context_name, x.project_id"
)


def bm25_query(text: str) -> str:
    """Free text as an FTS5 query that cannot be a syntax error: its words, quoted, ORed (a
    chunk need not hold every word of a question), common words left out."""
    words = list(dict.fromkeys(w.lower() for w in re.findall(r"\w+", text)))
    kept = [w for w in words if w not in _STOPWORDS] or words
    return " OR ".join(f'"{w}"' for w in kept)


class ChunkLike(Protocol):
    """A chunk as the chat layer makes it (lfwb/chat/chunking.py's Chunk); the store never chunks."""

    @property
    def index(self) -> int: ...
    @property
    def text(self) -> str: ...
    @property
    def start(self) -> int: ...
    @property
    def end(self) -> int: ...
    @property
    def tokens(self) -> int: ...


def _field(chunk: ChunkLike | dict[str, Any], name: str) -> Any:
    return chunk[name] if isinstance(chunk, dict) else getattr(chunk, name)


class ChunkRows(Rows):
    """The `context_chunks` table, its FTS5 index, and the vectors beside it."""

    # -- chunks ------------------------------------------------------------------------

    def add_chunked_context(self, project_id: int, name: str, kind: str = "file", source: str | None = None) -> dict:
        """A context whose text lives in its chunks only (`text` is ''): a file too big to keep
        twice, added with `add_chunks` as it is read."""
        if not (name or "").strip():
            raise BadInput("a context needs a name")
        return self._insert(
            "contexts", {"project_id": project_id, "name": name, "kind": kind, "source": source, "text": ""}
        )

    def add_chunks(self, context_id: int, chunks: Iterable[ChunkLike | dict[str, Any]]) -> int:
        """Append chunks (objects or dicts with index, text, start, end, tokens) to a context, in
        writes of `BATCH`; returns how many. The context is not marked indexed (`finish_chunks`)."""
        added = 0
        batch: list[tuple] = []
        for chunk in chunks:
            batch.append(
                (
                    context_id,
                    _field(chunk, "index"),
                    _field(chunk, "text"),
                    _field(chunk, "start"),
                    _field(chunk, "end"),
                    _field(chunk, "tokens"),
                )
            )
            if len(batch) >= BATCH:
                added += self._insert_chunks(batch)
                batch = []
        if batch:
            added += self._insert_chunks(batch)
        return added

    def _insert_chunks(self, batch: list[tuple]) -> int:
        with self.write() as conn:
            conn.executemany(
                "INSERT INTO context_chunks (context_id, chunk_index, text, start_char, end_char, tokens) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                batch,
            )
        return len(batch)

    def finish_chunks(self, context_id: int) -> int:
        """Mark the context wholly chunked; returns its chunk count."""
        with self.write() as conn:
            n = conn.execute("SELECT count(*) FROM context_chunks WHERE context_id = ?", (context_id,)).fetchone()[0]
            conn.execute(
                "INSERT OR REPLACE INTO context_indexes (context_id, chunks, indexed_at) VALUES (?, ?, ?)",
                (context_id, n, now()),
            )
        return n

    def clear_chunks(self, context_id: int) -> None:
        """Drop a context's chunks, vectors and indexed mark (it is indexed again on first use)."""
        with self.write() as conn:
            # Its vectors go with the chunks (a trigger, `m012`).
            conn.execute("DELETE FROM context_chunks WHERE context_id = ?", (context_id,))
            conn.execute("DELETE FROM context_indexes WHERE context_id = ?", (context_id,))

    def unindexed_contexts(self, project_id: int) -> list[dict]:
        """The project's contexts not (or not wholly) chunked: added before chunking existed,
        by another tool, or by a kernel that died while chunking them."""
        return self.query(
            "SELECT x.id, x.name, length(x.text) AS chars FROM contexts x "
            "LEFT JOIN context_indexes i ON i.context_id = x.id "
            "WHERE x.project_id = ? AND i.context_id IS NULL ORDER BY x.id",
            (project_id,),
        )

    def list_chunks(self, context_id: int, limit: int | None = None, offset: int = 0) -> list[dict]:
        """A context's chunks in order."""
        return self.query(
            f"SELECT {_CHUNK_COLUMNS} FROM context_chunks c JOIN contexts x ON x.id = c.context_id "
            "WHERE c.context_id = ? ORDER BY c.chunk_index LIMIT ? OFFSET ?",
            (context_id, -1 if limit is None else int(limit), int(offset)),
        )

    def chunk_count(self, context_id: int) -> int:
        return self.query("SELECT count(*) AS n FROM context_chunks WHERE context_id = ?", (context_id,))[0]["n"]

    def search_chunks(self, project_id: int, query: str, limit: int = 10) -> list[dict]:
        """The project's chunks best matching `query` by BM25, best first; `score` is BM25's
        (higher is better) and `snippet` marks the matched words."""
        match = bm25_query(query)
        if not match:
            raise BadInput("search needs at least one word", about="search")
        return self.query(
            f"SELECT {_CHUNK_COLUMNS}, -bm25(context_chunks_fts) AS score, "
            "snippet(context_chunks_fts, 0, '[', ']', '…', 16) AS snippet "
            "FROM context_chunks_fts JOIN context_chunks c ON c.id = context_chunks_fts.rowid "
            "JOIN contexts x ON x.id = c.context_id "
            "WHERE context_chunks_fts MATCH ? AND x.project_id = ? ORDER BY rank LIMIT ?",
            (match, project_id, int(limit)),
        )

    def get_chunks(self, chunk_ids: list[int]) -> dict[int, dict]:
        """Chunk rows (with their context's name) by id."""
        if not chunk_ids:
            return {}
        marks = ", ".join("?" for _ in chunk_ids)
        rows = self.query(
            f"SELECT {_CHUNK_COLUMNS} FROM context_chunks c JOIN contexts x ON x.id = c.context_id "
            f"WHERE c.id IN ({marks})",
            tuple(chunk_ids),
        )
        return {r["chunk_id"]: r for r in rows}

    # -- vectors -------------------------------------------------------------------------

    def chunks_without_vectors(self, project_id: int, limit: int = BATCH) -> list[dict]:
        """Up to `limit` of the project's chunks that have no vector yet."""
        return self.query(
            "SELECT c.id AS chunk_id, c.text FROM context_chunks c "
            "JOIN contexts x ON x.id = c.context_id "
            "LEFT JOIN context_chunk_embeddings e ON e.chunk_id = c.id "
            "WHERE x.project_id = ? AND e.chunk_id IS NULL ORDER BY c.id LIMIT ?",
            (project_id, int(limit)),
        )

    def count_chunks_without_vectors(self, project_id: int) -> int:
        return self.query(
            "SELECT count(*) AS n FROM context_chunks c JOIN contexts x ON x.id = c.context_id "
            "LEFT JOIN context_chunk_embeddings e ON e.chunk_id = c.id "
            "WHERE x.project_id = ? AND e.chunk_id IS NULL",
            (project_id,),
        )[0]["n"]

    def add_vectors(self, model: str, vectors: Iterable[tuple[int, bytes]]) -> int:
        """Store (chunk_id, float32 bytes) pairs made by `model`, in one write; returns how many.
        A chunk deleted meanwhile is skipped."""
        rows = list(vectors)
        with self.write() as conn:
            alive = (
                {
                    r[0]
                    for r in conn.execute(
                        f"SELECT id FROM context_chunks WHERE id IN ({', '.join('?' for _ in rows)})",
                        tuple(cid for cid, _ in rows),
                    )
                }
                if rows
                else set()
            )
            rows = [(cid, blob) for cid, blob in rows if cid in alive]
            conn.executemany(
                "INSERT OR REPLACE INTO context_chunk_embeddings (chunk_id, model, embedding) VALUES (?, ?, ?)",
                [(cid, model, blob) for cid, blob in rows],
            )
            conn.execute(
                "DELETE FROM context_vector_changes WHERE seq <= (SELECT max(seq) FROM context_vector_changes) - ?",
                (KEEP_CHANGES,),
            )
        return len(rows)

    _vectors: VectorIndex | None = None

    def _close_file(self) -> None:
        # A closed store may stay referenced (a panel, a finished run's handle): its matrices,
        # up to 150 MiB at 100,000 vectors, go with the file, not with the last reference.
        if self._vectors is not None:
            self._vectors.clear()
        super()._close_file()

    def nearest_chunks(self, project_id: int, model: str, vector: bytes, limit: int = 10) -> list[dict]:
        """The project's chunks nearest `vector` (float32 bytes), among the vectors `model`
        made, nearest first; `distance` is the cosine distance (exact, not approximated)."""
        with self._lock:
            if self._vectors is None:
                from .vectors import VectorIndex  # numpy: not on %load_ext's path

                self._vectors = VectorIndex(self.query)
        found = self._vectors.nearest(project_id, model, vector, int(limit))
        rows = self.get_chunks([cid for cid, _ in found])
        return [{**rows[cid], "distance": distance} for cid, distance in found if cid in rows]

    def iter_vectors(self, context_id: int) -> Iterator[tuple[int, bytes]]:
        """A context's (chunk_id, float32 bytes), for tests and export."""
        for r in self.query(
            "SELECT e.chunk_id, e.embedding FROM context_chunk_embeddings e "
            "JOIN context_chunks c ON c.id = e.chunk_id WHERE c.context_id = ? ORDER BY c.chunk_index",
            (context_id,),
        ):
            yield r["chunk_id"], r["embedding"]
