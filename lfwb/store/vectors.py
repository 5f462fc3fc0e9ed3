"""Nearest chunks by cosine, ranked with numpy over a matrix held in memory.

The float vectors live in the plain table `context_chunk_embeddings` (`m009`), so no SQLite
extension is needed. A project's first vector search reads its vectors (of one embedding model)
into one float32 matrix; after that, triggers (`m012`) log every vector added, changed or
removed — by lfwb, another kernel or any other tool — and each search first applies the log
entries it has not seen, so a search never reads the whole table again. Up to `EXACT_UP_TO`
vectors the ranking is exact, one matrix-vector product over unit rows; beyond, a first pass on
the rows' sign bits (1/32 of the bytes) picks the candidates the exact cosine then ranks.
100,000 vectors of 384 dimensions hold 150 MiB (benchmarks/retrieval.py).

    >>> index = VectorIndex(store.query)
    >>> index.nearest(project_id, "all-MiniLM-L6-v2", query_vector, limit=5)
    [(chunk_id, cosine_distance), ...]
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np

from ..errors import BadInput

# Up to this many vectors a search reads them all (exact cosine). Beyond, a first pass on
# their sign bits keeps a share of them (at least MIN_CANDIDATES), ranked then by exact cosine:
# on all-MiniLM-L6-v2 vectors, keeping 2% finds 83% (1,000 vectors) to 93% (2,000) of the
# exact top 10 (benchmarks/retrieval.py), and at 100,000 takes half the time of exact.
EXACT_UP_TO = 20_000
CANDIDATE_SHARE = 0.02
MIN_CANDIDATES = 1_000
# A catch-up this large reads faster as a fresh load of the matrices it touches.
RELOAD_AFTER = 20_000
LOAD_BATCH = 5_000  # vectors per read when a matrix is first filled
IN_BATCH = 500  # ids per `IN (...)`: under SQLite's bound-parameter limit everywhere


def _signs(vecs: np.ndarray) -> np.ndarray:
    """Each row's sign bits, packed into 64-bit words (binary quantization)."""
    bits = np.packbits(vecs > 0, axis=1)
    if pad := -bits.shape[1] % 8:
        bits = np.pad(bits, ((0, 0), (0, pad)))
    return bits.view(np.uint64)


class _Matrix:
    """One project's vectors of one model: unit rows of a float32 matrix, and their sign bits,
    in arrays that grow in place, so adding k vectors copies k rows, not the matrix."""

    def __init__(self, dims: int):
        self.dims = dims
        self.n = 0
        self.ids = np.empty(0, dtype=np.int64)
        self.rows = np.empty((0, dims), dtype=np.float32)
        self.bits = _signs(self.rows)
        self.where: dict[int, int] = {}  # chunk id -> row

    def add(self, ids: list[int], blobs: list[bytes]) -> None:
        """Add (or replace) vectors; a blob of another length than the matrix's is skipped."""
        self.remove(ids)
        kept = [(i, b) for i, b in zip(ids, blobs) if len(b) == self.dims * 4]
        if not kept:
            return
        vecs = np.frombuffer(b"".join(b for _, b in kept), dtype=np.float32).reshape(len(kept), self.dims)
        norms = np.linalg.norm(vecs, axis=1, keepdims=True)
        unit = vecs / np.where(norms > 0, norms, 1)
        end = self.n + len(kept)
        if end > len(self.ids):
            self._grow(max(end, 2 * len(self.ids), 1024))
        self.ids[self.n : end] = [i for i, _ in kept]
        self.rows[self.n : end] = unit
        self.bits[self.n : end] = _signs(unit)
        for offset, (chunk_id, _) in enumerate(kept):
            self.where[chunk_id] = self.n + offset
        self.n = end

    def reserve(self, size: int) -> None:
        if size > len(self.ids):
            self._grow(size)

    def _grow(self, size: int) -> None:
        for name in ("ids", "rows", "bits"):
            old = getattr(self, name)
            new = np.empty((size, *old.shape[1:]), dtype=old.dtype)
            new[: self.n] = old[: self.n]
            setattr(self, name, new)

    def remove(self, ids: list[int]) -> None:
        """Drop vectors by chunk id, each by moving the last row into its place."""
        for chunk_id in ids:
            row = self.where.pop(chunk_id, None)
            if row is None:
                continue
            last = self.n - 1
            if row != last:
                moved = int(self.ids[last])
                self.ids[row], self.rows[row], self.bits[row] = moved, self.rows[last], self.bits[last]
                self.where[moved] = row
            self.n = last

    def nearest(self, query: np.ndarray, limit: int) -> list[tuple[int, float]]:
        """(chunk id, cosine distance) of the `limit` rows nearest `query` (a unit vector)."""
        n, k = self.n, min(limit, self.n)
        if not k:
            return []
        # einsum, not `@`: numpy's own loop runs as fast on this memory-bound product, while a
        # BLAS spreading it over threads took 8 ms for 2,000 rows on busy cores (benchmarks/retrieval.py).
        if n <= EXACT_UP_TO:
            rows = None
            scores = np.einsum("ij,j->i", self.rows[:n], query)
        else:
            # First pass: the rows whose sign bits differ least from the query's, then the
            # exact cosine on those alone.
            wanted = min(n, max(int(n * CANDIDATE_SHARE), MIN_CANDIDATES, k))
            hamming = np.bitwise_count(self.bits[:n] ^ _signs(query[None])[0]).sum(axis=1, dtype=np.uint16)
            rows = np.argpartition(hamming, wanted - 1)[:wanted]
            scores = np.einsum("ij,j->i", self.rows[rows], query)
        top = np.argpartition(scores, len(scores) - k)[len(scores) - k :]
        top = top[np.argsort(-scores[top], kind="stable")]
        ids = self.ids[top if rows is None else rows[top]]
        return [(int(i), float(1.0 - scores[t])) for i, t in zip(ids, top)]

    @property
    def nbytes(self) -> int:
        return self.ids.nbytes + self.rows.nbytes + self.bits.nbytes


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
                    f"the query vector has {query.size} dimensions; this project's {model!r} vectors have {matrix.dims}"
                )
            return matrix.nearest(query, int(limit))

    @property
    def nbytes(self) -> int:
        """Memory the matrices hold."""
        return sum(m.nbytes for m in self._matrices.values())

    def _load(self, project_id: int, model: str, dims: int) -> _Matrix:
        """Read the project's vectors in batches by chunk id, into a matrix sized up front: the
        peak is the matrix and one batch, not every row as a dict besides."""
        matrix = _Matrix(dims)
        # CROSS JOIN keeps the vectors' table outermost, walked by chunk id from `after`, so a
        # batch costs its own rows (a plain JOIN starts at the project's chunks and sorts them all).
        where = (
            "FROM context_chunk_embeddings e CROSS JOIN context_chunks c ON c.id = e.chunk_id "
            "CROSS JOIN contexts x ON x.id = c.context_id WHERE x.project_id = ? AND e.model = ?"
        )
        matrix.reserve(self.query(f"SELECT count(*) AS n {where}", (project_id, model))[0]["n"])
        after = 0
        while rows := self.query(
            f"SELECT e.chunk_id, e.embedding {where} AND e.chunk_id > ? ORDER BY e.chunk_id LIMIT ?",
            (project_id, model, after, LOAD_BATCH),
        ):
            matrix.add([r["chunk_id"] for r in rows], [r["embedding"] for r in rows])
            after = rows[-1]["chunk_id"]
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
                f"WHERE e.chunk_id IN ({', '.join('?' for _ in part)})",
                tuple(part),
            ):
                if (r["project_id"], r["model"]) in self._matrices:
                    to = added.setdefault((r["project_id"], r["model"]), ([], []))
                    to[0].append(r["chunk_id"])
                    to[1].append(r["embedding"])
        for key, (chunk_ids, blobs) in added.items():
            self._matrices[key].add(chunk_ids, blobs)
        # A matrix left empty (its project deleted, its vectors re-made by another model) keeps
        # its arrays' room, up to 150 MiB at 100,000 vectors: drop it; a later search reloads.
        for key in [key for key, matrix in self._matrices.items() if not matrix.n]:
            del self._matrices[key]

    def clear(self) -> None:
        """Free the matrices (the store is closing); a later search would reload them."""
        with self._lock:
            self._matrices.clear()
            self._seen = None
