"""Nearest chunks by cosine, ranked with numpy over a matrix held in memory.

The float vectors live in the plain table `context_chunk_embeddings` (`m009`), so no SQLite
extension is needed. A project's first vector search reads its vectors (of one embedding model)
into one float32 matrix; after that, triggers (`m012`) log every vector added, changed or
removed — by lfwb, another kernel or any other tool — and each search first applies the log
entries it has not seen, so a search never reads the whole table again. Ranking is exact: one
matrix-vector product over unit rows (benchmarks/retrieval.py: 100,000 chunks of 384
dimensions hold 147 MiB and rank in a few milliseconds).

    >>> index = VectorIndex(store.query)
    >>> index.nearest(project_id, "all-MiniLM-L6-v2", query_vector, limit=5)
    [(chunk_id, cosine_distance), ...]
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np

from ..errors import BadInput

# A catch-up this large reads faster as a fresh load of the matrices it touches.
RELOAD_AFTER = 20_000
IN_BATCH = 500  # ids per `IN (...)`: under SQLite's bound-parameter limit everywhere


class _Matrix:
    """One project's vectors of one model: unit rows of a float32 matrix that grows in place,
    so adding k vectors copies k rows, not the matrix."""

    def __init__(self, dims: int):
        self.dims = dims
        self.ids = np.empty(0, dtype=np.int64)
        self.rows = np.empty((0, dims), dtype=np.float32)
        self.n = 0
        self.where: dict[int, int] = {}  # chunk id -> row

    def add(self, ids: list[int], blobs: list[bytes]) -> None:
        """Add (or replace) vectors; a blob of another length than the matrix's is skipped."""
        self.remove(ids)
        kept = [(i, b) for i, b in zip(ids, blobs) if len(b) == self.dims * 4]
        if not kept:
            return
        vecs = np.frombuffer(b"".join(b for _, b in kept), dtype=np.float32).reshape(len(kept), self.dims)
        norms = np.linalg.norm(vecs, axis=1, keepdims=True)
        vecs = vecs / np.where(norms > 0, norms, 1)
        need = self.n + len(kept)
        if need > len(self.ids):
            size = max(need, 2 * len(self.ids), 1024)
            self.ids = np.resize(self.ids, size)
            rows = np.empty((size, self.dims), dtype=np.float32)
            rows[: self.n] = self.rows[: self.n]
            self.rows = rows
        self.ids[self.n : need] = [i for i, _ in kept]
        self.rows[self.n : need] = vecs
        for offset, (chunk_id, _) in enumerate(kept):
            self.where[chunk_id] = self.n + offset
        self.n = need

    def remove(self, ids: list[int]) -> None:
        """Drop vectors by chunk id, each by moving the last row into its place."""
        for chunk_id in ids:
            row = self.where.pop(chunk_id, None)
            if row is None:
                continue
            last = self.n - 1
            if row != last:
                moved = int(self.ids[last])
                self.ids[row] = moved
                self.rows[row] = self.rows[last]
                self.where[moved] = row
            self.n = last

    def nearest(self, query: np.ndarray, limit: int) -> list[tuple[int, float]]:
        if not self.n:
            return []
        scores = self.rows[: self.n] @ query
        k = min(limit, self.n)
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(int(self.ids[i]), float(1.0 - scores[i])) for i in top]

    @property
    def nbytes(self) -> int:
        return self.ids.nbytes + self.rows.nbytes


class VectorIndex:
    """The in-memory matrices of one open store, kept in step with its vector change log."""

    def __init__(self, query: Callable[[str, tuple], list[dict]]):
        self.query = query  # the store's: one statement, under its lock
        self._matrices: dict[tuple[int, str], _Matrix] = {}
        self._seen: int | None = None  # the last change-log entry applied
        self._lock = threading.Lock()

    def nearest(self, project_id: int, model: str, vector: bytes, limit: int) -> list[tuple[int, float]]:
        """(chunk_id, cosine distance) of the project's `limit` vectors nearest `vector`
        (float32 bytes), nearest first."""
        if len(vector) % 4 or not vector:
            raise BadInput(f"a query vector is float32 bytes; got {len(vector)} bytes")
        query = np.frombuffer(vector, dtype=np.float32)
        norm = float(np.linalg.norm(query))
        query = query / norm if norm > 0 else query
        with self._lock:
            self._catch_up()
            matrix = self._matrices.get((project_id, model))
            if matrix is None:
                matrix = self._matrices[(project_id, model)] = self._load(project_id, model, query.size)
            if matrix.dims != query.size:
                raise BadInput(
                    f"the query vector has {query.size} dimensions; this project's {model!r} "
                    f"vectors have {matrix.dims}"
                )
            return matrix.nearest(query, int(limit))

    @property
    def nbytes(self) -> int:
        """Memory the matrices hold."""
        return sum(m.nbytes for m in self._matrices.values())

    def _load(self, project_id: int, model: str, dims: int) -> _Matrix:
        matrix = _Matrix(dims)
        rows = self.query(
            "SELECT e.chunk_id, e.embedding FROM context_chunk_embeddings e "
            "JOIN context_chunks c ON c.id = e.chunk_id JOIN contexts x ON x.id = c.context_id "
            "WHERE x.project_id = ? AND e.model = ?", (project_id, model),
        )
        matrix.add([r["chunk_id"] for r in rows], [r["embedding"] for r in rows])
        return matrix

    def _last_change(self) -> int:
        return self.query("SELECT coalesce(max(seq), 0) AS seq FROM context_vector_changes", ())[0]["seq"]

    def _catch_up(self) -> None:
        """Apply the change-log entries not seen yet. The log position is read before any matrix
        is loaded, and applying an entry is idempotent, so a change committed meanwhile by
        another connection is applied on the next search, never lost."""
        if self._seen is None or not self._matrices:
            self._seen = self._last_change()
            return
        changes = self.query(
            "SELECT seq, chunk_id FROM context_vector_changes WHERE seq > ? ORDER BY seq LIMIT ?",
            (self._seen, RELOAD_AFTER + 1),
        )
        if not changes:
            return
        # A gap: entries were pruned before this store read them, so what changed is unknown.
        if changes[0]["seq"] != self._seen + 1 or len(changes) > RELOAD_AFTER:
            self._matrices.clear()
            self._seen = self._last_change()
            return
        self._seen = changes[-1]["seq"]
        ids = list(dict.fromkeys(r["chunk_id"] for r in changes))
        for matrix in self._matrices.values():
            matrix.remove(ids)
        added: dict[tuple[int, str], tuple[list[int], list[bytes]]] = {}
        for start in range(0, len(ids), IN_BATCH):
            part = ids[start : start + IN_BATCH]
            for r in self.query(
                "SELECT e.chunk_id, e.embedding, e.model, x.project_id FROM context_chunk_embeddings e "
                "JOIN context_chunks c ON c.id = e.chunk_id JOIN contexts x ON x.id = c.context_id "
                f"WHERE e.chunk_id IN ({', '.join('?' for _ in part)})", tuple(part),
            ):
                if (r["project_id"], r["model"]) in self._matrices:
                    to = added.setdefault((r["project_id"], r["model"]), ([], []))
                    to[0].append(r["chunk_id"])
                    to[1].append(r["embedding"])
        for key, (chunk_ids, blobs) in added.items():
            self._matrices[key].add(chunk_ids, blobs)
