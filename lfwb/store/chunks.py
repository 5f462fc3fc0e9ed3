"""Context chunks and their two indexes: FTS5 (BM25) over the text, and vectors.

The chunk rows, their full-text index and their float vectors are plain tables (`m009`), so
sqlite3, sqlite-utils and Datasette read them. The nearest-neighbour index is a sqlite-vec
`vec0` table made here on first use; it holds each vector's sign bits (binary quantization,
Hamming distance), which it scans about ten times faster than floats, and the few hundred
candidates it returns are ranked again by cosine distance on the float vectors. A store opened
without sqlite-vec (`vectors_unavailable`) keeps BM25 and leaves that table alone.

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
from typing import Any

from ..errors import BadInput, StoreError
from .migrate import now
from .rows import Rows

VECTOR_TABLE = "context_chunk_vectors"
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


def _field(chunk: Any, name: str) -> Any:
    return chunk[name] if isinstance(chunk, dict) else getattr(chunk, name)


class ChunkRows(Rows):
    """The `context_chunks` table, its FTS5 index, and the vector index beside it."""

    # -- chunks ------------------------------------------------------------------------

    def add_chunked_context(self, project_id: int, name: str, kind: str = "file", source: str | None = None) -> dict:
        """A context whose text lives in its chunks only (`text` is ''): a file too big to keep
        twice, added with `add_chunks` as it is read."""
        if not (name or "").strip():
            raise BadInput("a context needs a name")
        return self._insert(
            "contexts", {"project_id": project_id, "name": name, "kind": kind, "source": source, "text": ""}
        )

    def add_chunks(self, context_id: int, chunks: Iterable[Any]) -> int:
        """Append chunks (objects or dicts with index, text, start, end, tokens) to a context, in
        writes of `BATCH`; returns how many. The context is not marked indexed (`finish_chunks`)."""
        added = 0
        batch: list[tuple] = []
        for chunk in chunks:
            batch.append((context_id, _field(chunk, "index"), _field(chunk, "text"),
                          _field(chunk, "start"), _field(chunk, "end"), _field(chunk, "tokens")))
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
                "VALUES (?, ?, ?, ?, ?, ?)", batch,
            )
        return len(batch)

    def finish_chunks(self, context_id: int) -> int:
        """Mark the context wholly chunked; returns its chunk count."""
        with self.write() as conn:
            n = conn.execute(
                "SELECT count(*) FROM context_chunks WHERE context_id = ?", (context_id,)
            ).fetchone()[0]
            conn.execute(
                "INSERT OR REPLACE INTO context_indexes (context_id, chunks, indexed_at) VALUES (?, ?, ?)",
                (context_id, n, now()),
            )
        return n

    def clear_chunks(self, context_id: int) -> None:
        """Drop a context's chunks, vectors and indexed mark (it is indexed again on first use)."""
        with self.write() as conn:
            if self.vectors_unavailable is None and self._has_vector_table(conn):
                conn.execute(
                    f"DELETE FROM {VECTOR_TABLE} WHERE chunk_id IN "
                    "(SELECT id FROM context_chunks WHERE context_id = ?)", (context_id,),
                )
            conn.execute(
                "DELETE FROM context_chunk_embeddings WHERE chunk_id IN "
                "(SELECT id FROM context_chunks WHERE context_id = ?)", (context_id,),
            )
            conn.execute("DELETE FROM context_chunks WHERE context_id = ?", (context_id,))
            conn.execute("DELETE FROM context_indexes WHERE context_id = ?", (context_id,))

    def unindexed_contexts(self, project_id: int) -> list[dict]:
        """The project's contexts not (or not wholly) chunked: added before chunking existed,
        by another tool, or by a kernel that died while chunking them."""
        return self.query(
            "SELECT x.id, x.name, length(x.text) AS chars FROM contexts x "
            "LEFT JOIN context_indexes i ON i.context_id = x.id "
            "WHERE x.project_id = ? AND i.context_id IS NULL ORDER BY x.id", (project_id,),
        )

    def list_chunks(self, context_id: int, limit: int | None = None, offset: int = 0) -> list[dict]:
        """A context's chunks in order."""
        return self.query(
            f"SELECT {_CHUNK_COLUMNS} FROM context_chunks c JOIN contexts x ON x.id = c.context_id "
            "WHERE c.context_id = ? ORDER BY c.chunk_index LIMIT ? OFFSET ?",
            (context_id, -1 if limit is None else int(limit), int(offset)),
        )

    def chunk_count(self, context_id: int) -> int:
        return self.query(
            "SELECT count(*) AS n FROM context_chunks WHERE context_id = ?", (context_id,)
        )[0]["n"]

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
            f"WHERE c.id IN ({marks})", tuple(chunk_ids),
        )
        return {r["chunk_id"]: r for r in rows}

    # -- vectors -------------------------------------------------------------------------

    def _has_vector_table(self, conn: Any) -> bool:
        return conn.execute(
            "SELECT 1 FROM sqlite_master WHERE name = ?", (VECTOR_TABLE,)
        ).fetchone() is not None

    _vectors_checked = False  # once per open store: the check scans the whole index

    def ensure_vector_table(self, dims: int) -> None:
        """Create the sqlite-vec index, once per open store bring it in line with the float
        vectors (entries whose chunk a tool without sqlite-vec deleted go; vectors it lacks —
        a dropped index — come back). A store without sqlite-vec: `StoreError`."""
        if self.vectors_unavailable is not None:
            raise StoreError(f"vectors are unavailable: {self.vectors_unavailable}")
        if self._vectors_checked:
            return
        with self.write() as conn:
            conn.execute(
                f"CREATE VIRTUAL TABLE IF NOT EXISTS {VECTOR_TABLE} USING vec0("
                f"chunk_id INTEGER PRIMARY KEY, project_id INTEGER PARTITION KEY, embedding BIT[{dims}])"
            )
            conn.execute(
                f"DELETE FROM {VECTOR_TABLE} WHERE chunk_id NOT IN "
                "(SELECT chunk_id FROM context_chunk_embeddings)"
            )
            missing = conn.execute(
                "SELECT e.chunk_id, x.project_id, e.embedding "
                "FROM context_chunk_embeddings e JOIN context_chunks c ON c.id = e.chunk_id "
                f"JOIN contexts x ON x.id = c.context_id WHERE e.chunk_id NOT IN (SELECT chunk_id FROM {VECTOR_TABLE})"
            ).fetchall()
            # Row by row from Python: an INSERT ... SELECT loses the bit vector's type on the way.
            conn.executemany(
                f"INSERT INTO {VECTOR_TABLE} (chunk_id, project_id, embedding) VALUES (?, ?, vec_quantize_binary(?))",
                [tuple(r) for r in missing],
            )
        self._vectors_checked = True

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
            "WHERE x.project_id = ? AND e.chunk_id IS NULL", (project_id,),
        )[0]["n"]

    def add_vectors(self, project_id: int, model: str, vectors: Iterable[tuple[int, bytes]]) -> int:
        """Store (chunk_id, float32 bytes) pairs: the float vector and its bits in the index, in
        one write. A chunk deleted meanwhile is skipped."""
        rows = list(vectors)
        with self.write() as conn:
            alive = {r[0] for r in conn.execute(
                f"SELECT id FROM context_chunks WHERE id IN ({', '.join('?' for _ in rows)})",
                tuple(cid for cid, _ in rows),
            )} if rows else set()
            rows = [(cid, blob) for cid, blob in rows if cid in alive]
            conn.executemany(
                "INSERT OR REPLACE INTO context_chunk_embeddings (chunk_id, model, embedding) VALUES (?, ?, ?)",
                [(cid, model, blob) for cid, blob in rows],
            )
            conn.executemany(f"DELETE FROM {VECTOR_TABLE} WHERE chunk_id = ?", [(cid,) for cid, _ in rows])
            conn.executemany(
                f"INSERT INTO {VECTOR_TABLE} (chunk_id, project_id, embedding) "
                "VALUES (?, ?, vec_quantize_binary(?))",
                [(cid, project_id, blob) for cid, blob in rows],
            )
        return len(rows)

    def nearest_chunks(
        self, project_id: int, vector: bytes, limit: int = 10, candidates: int | None = None
    ) -> list[dict]:
        """The project's chunks nearest `vector` (float32 bytes), nearest first, `distance` the
        cosine distance: `candidates` (default 4 × limit, at least 40) by Hamming distance on
        the bits, ranked again on the floats. sqlite-vec's time grows with `candidates`
        (100,000 chunks: ~6 ms for 40, ~23 ms for 200), and 4× oversampling keeps binary
        quantization's recall close to the floats'."""
        candidates = candidates or max(4 * int(limit), 40)
        if self.vectors_unavailable is not None:
            raise StoreError(f"vectors are unavailable: {self.vectors_unavailable}")
        found = self.query(
            "SELECT e.chunk_id, vec_distance_cosine(e.embedding, :q) AS distance "
            "FROM context_chunk_embeddings e WHERE e.chunk_id IN ("
            f"  SELECT chunk_id FROM {VECTOR_TABLE} WHERE embedding MATCH vec_quantize_binary(:q) "
            "   AND project_id = :p AND k = :k"
            ") ORDER BY distance LIMIT :limit",
            {"q": vector, "p": project_id, "k": max(int(candidates), int(limit)), "limit": int(limit)},
        )
        rows = self.get_chunks([r["chunk_id"] for r in found])
        return [{**rows[r["chunk_id"]], "distance": r["distance"]} for r in found if r["chunk_id"] in rows]

    def iter_vectors(self, context_id: int) -> Iterator[tuple[int, bytes]]:
        """A context's (chunk_id, float32 bytes), for tests and export."""
        for r in self.query(
            "SELECT e.chunk_id, e.embedding FROM context_chunk_embeddings e "
            "JOIN context_chunks c ON c.id = e.chunk_id WHERE c.context_id = ? ORDER BY c.chunk_index",
            (context_id,),
        ):
            yield r["chunk_id"], r["embedding"]
