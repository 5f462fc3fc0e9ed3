"""Retrieval over a project's contexts: chunk them, index them, find the chunks a question needs.

    >>> from lfwb.chat.retrieval import retrieve
    >>> for hit in retrieve(wb.store, wb.project_id, "what colour are the buttons?", mode="hybrid"):
    ...     print(hit.context_name, hit.chunk_index, round(hit.score, 3))

Three rankings (`MODES`): `bm25` — FTS5's BM25 over the chunks' words, needing no model;
`vector` — cosine similarity of all-MiniLM-L6-v2 embeddings (run by llama.cpp, `embeddings.py`),
ranked with numpy (`lfwb/store/vectors.py`), which finds paraphrases that share no word with the
question; `hybrid` — both lists merged by reciprocal-rank fusion (each chunk scores
Σ 1/(60 + rank)). Which one a caller gets when it names none is `Workbench.search_mode`'s call:
hybrid, unless `%config Lfwb.embeddings = False` or the `rag` extra is missing.

A context is chunked when it is added (`index_context`, `add_file_context`); a context added
before chunking existed, or by another tool, is chunked on first use (`index_pending`), and
chunks without vectors are embedded when a vector ranking first needs them, with a progress bar.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import BadInput, ContextError, Unavailable
from ..store.chunks import bm25_query
from .chunking import chunk_stream, read_text_blocks

if TYPE_CHECKING:
    from ..store import Store

MODES = ("bm25", "vector", "hybrid")
RRF_K = 60  # reciprocal-rank fusion's constant, as in Cormack et al. (2009)
MIN_CANDIDATES = 10  # per ranking, before fusion
# Below this cosine a chunk is no match, however few chunks a project has: on the labelled set
# (tests/data/retrieval_eval.json) every answer scores ≥ 0.28 (paraphrases included) and 90% of
# the other contexts < 0.15. Without it, hybrid hands `--rag` every chunk of a small project.
MIN_COSINE = 0.2
# A file up to this size keeps its whole text in `contexts.text` too (shown by `context show`,
# found by the older whole-context search); a bigger one keeps it in its chunks only, so adding
# it never holds more than one paragraph in memory.
MAX_KEPT_TEXT = 20 * 1024 * 1024
BAR_FROM = 32  # chunks to embed before a progress bar is worth showing


@dataclass(frozen=True)
class Hit:
    """A chunk that answers a query; `score` is the ranking's own (higher is better): BM25,
    cosine similarity, or the fused reciprocal-rank score. `relevance` is what a person reads,
    0 to 1: the cosine for `vector`, the share of a chunk ranked first by both for `hybrid`,
    and the share of the best hit's score for `bm25` (whose raw scores in a small project are
    as small as 1e-06: FTS5 floors the weight of a word most chunks hold)."""

    context_id: int
    context_name: str
    chunk_id: int
    chunk_index: int
    text: str
    score: float
    snippet: str = ""
    relevance: float = 0.0


def retrieve(
    store: Store,
    project_id: int,
    query: str,
    mode: str = "bm25",
    limit: int = 5,
    *,
    progress: bool = True,
) -> list[Hit]:
    """The `limit` chunks of the project's contexts that best answer `query`, best first.
    `%config Lfwb.embeddings` is not read here: `Workbench.search_mode` reads it first."""
    check_mode(mode)
    if not isinstance(limit, int) or limit < 1:
        raise BadInput(f"limit must be a whole number ≥ 1, got {limit!r}")
    if not isinstance(query, str) or not bm25_query(query):  # before anything is indexed or embedded
        raise BadInput("search needs at least one word", about="search")
    if mode != "bm25":
        check_vectors(mode)
    index_pending(store, project_id, vectors=mode != "bm25", progress=progress)
    return search(store, project_id, query, mode, limit)


def search(
    store: Store, project_id: int, query: str, mode: str, limit: int, *, vector: bytes | None = None
) -> list[Hit]:
    """`retrieve`'s ranking alone, over what is indexed already. `vector`: the query's
    embedding (float32 bytes), when the caller has it; else the query is embedded here."""
    if mode == "bm25":
        hits = [_hit(r, r["score"]) for r in store.search_chunks(project_id, query, limit)]
        best = max((h.score for h in hits), default=0.0)
        return [replace(h, relevance=h.score / best if best > 0 else 1.0) for h in hits]
    if mode == "vector":
        return [replace(h, relevance=min(1.0, h.score)) for h in _nearest(store, project_id, query, limit, vector)]
    candidates = max(limit * 2, MIN_CANDIDATES)
    hits = fuse(
        [store_hits(store, project_id, query, candidates), _nearest(store, project_id, query, candidates, vector)],
        limit,
    )
    return [replace(h, relevance=h.score / (2 / (RRF_K + 1))) for h in hits]


def store_hits(store: Store, project_id: int, query: str, limit: int) -> list[Hit]:
    """BM25's ranking (a query of nothing but punctuation finds nothing rather than failing)."""
    try:
        return [_hit(r, r["score"]) for r in store.search_chunks(project_id, query, limit)]
    except BadInput:
        return []


def fuse(rankings: list[list[Hit]], limit: int, k: int = RRF_K) -> list[Hit]:
    """Reciprocal-rank fusion: a chunk's score is the sum of 1/(k + rank) over the rankings."""
    scores: dict[int, float] = {}
    first: dict[int, Hit] = {}
    for ranking in rankings:
        for rank, hit in enumerate(ranking, start=1):
            scores[hit.chunk_id] = scores.get(hit.chunk_id, 0.0) + 1.0 / (k + rank)
            first.setdefault(hit.chunk_id, hit)
    best = sorted(scores, key=lambda cid: -scores[cid])[:limit]
    return [replace(first[cid], score=scores[cid]) for cid in best]


def check_mode(mode: str) -> None:
    """One line for a mode that is not one of `MODES`."""
    if mode not in MODES:
        raise BadInput(f"unknown search mode {mode!r} — one of {', '.join(MODES)}")


def check_vectors(mode: str = "vector") -> None:
    """One line when vectors cannot be made here (the `rag` extra is missing), saying what to do."""
    from .embeddings import unavailable

    if (why := unavailable()) is not None:
        raise Unavailable(f"--mode {mode} ranks by vectors, and {why}; --mode bm25 works without it")


# -- indexing --------------------------------------------------------------------------------


# One indexing of a context at a time in this process: a search's `index_pending` can find a
# context that a request on another thread (lfwb serve) has just added and is chunking; two
# clear-then-insert runs interleaved would insert the same chunk twice (UNIQUE failed).
_indexing_locks: dict[int, threading.Lock] = {}
_indexing_guard = threading.Lock()


def index_context(store: Store, context_id: int, blocks: Iterable[str] | None = None) -> int:
    """Chunk a context — its stored text, or `blocks` of text streamed in — replacing any
    chunks it had, and mark it indexed; returns the chunk count."""
    with _indexing_guard:
        lock = _indexing_locks.setdefault(context_id, threading.Lock())
    with lock:
        store.clear_chunks(context_id)
        if blocks is None:
            blocks = [store.get_context(context_id)["text"]]
        store.add_chunks(context_id, chunk_stream(blocks))
        return store.finish_chunks(context_id)


def add_file_context(
    store: Store,
    project_id: int,
    path: str | Path,
    name: str | None = None,
    kind: str = "file",
    *,
    progress: bool = True,
) -> dict:
    """Add a UTF-8 text file as a context, read and chunked in a stream. A file that is missing,
    binary or not UTF-8 is a `ContextError` (one line) and leaves nothing behind, even when the
    bad bytes come late in a big file; so does a stop (KeyboardInterrupt)."""
    path = Path(path).expanduser()
    blocks = read_text_blocks(path)
    first = next(blocks, "")  # a binary or missing file is refused here, before any row
    name = name or path.name
    source = str(path.resolve())
    size = path.stat().st_size
    if size <= MAX_KEPT_TEXT:
        text = first + "".join(blocks)  # the whole (bounded) text: the row keeps it
        if not text.strip():
            raise ContextError(f"{path} holds only blank space — a context needs some text")
        context = store.add_context(project_id, text, name=name, kind=kind, source=source)
        _indexing(store, context, lambda: index_context(store, context["id"]))
        return store.get_context(context["id"])
    context = store.add_chunked_context(project_id, name=name, kind=kind, source=source)
    bar = _progress(size, f"chunking {name}", unit="B", show=progress)

    def stream() -> Iterator[str]:
        for block in itertools.chain([first], blocks):
            bar.update(len(block))
            yield block

    try:
        _indexing(store, context, lambda: index_context(store, context["id"], stream()))
    finally:
        bar.close()
    return store.get_context(context["id"])


def _indexing(store: Store, context: dict, index: Callable[[], object]) -> None:
    """Run `index()` for a context just added; on any failure or stop, remove the context."""
    try:
        index()
    except BaseException:
        store.delete_context(context["id"])
        raise


def index_pending(store: Store, project_id: int, *, vectors: bool = False, progress: bool = True) -> None:
    """Chunk the project's contexts that are not chunked yet and, with `vectors`, embed the
    chunks that have no vector yet, each with a progress bar when there is work."""
    pending = [c for c in store.unindexed_contexts(project_id) if c["chars"]]
    if pending:
        bar = _progress(len(pending), "chunking contexts", unit="context", show=progress)
        try:
            for context in pending:
                index_context(store, context["id"])
                bar.update(1)
        finally:
            bar.close()
    if vectors:
        embed_pending(store, project_id, progress=progress)


def embed_pending(store: Store, project_id: int, *, progress: bool = True) -> int:
    """Embed the project's chunks that have no vector yet; returns how many were embedded."""
    from .embeddings import MODEL_NAME, embed

    total = store.count_chunks_without_vectors(project_id)
    if not total:
        return 0
    # The bar stands from before the model loads (converted for llama.cpp the first time on a
    # machine: a second or two); a handful of chunks, done in well under a second, gets none.
    bar = _progress(total, "embedding chunks", unit="chunk", show=progress and total >= BAR_FROM)
    done = 0
    try:
        while batch := store.chunks_without_vectors(project_id, limit=256):
            vectors = embed([r["text"] for r in batch])
            store.add_vectors(MODEL_NAME, ((r["chunk_id"], v.tobytes()) for r, v in zip(batch, vectors)))
            done += len(batch)
            bar.update(len(batch))
    finally:
        bar.close()
    return done


# -- inside ----------------------------------------------------------------------------------


def _nearest(store: Store, project_id: int, query: str, limit: int, vector: bytes | None = None) -> list[Hit]:
    from .embeddings import MODEL_NAME, embed

    if vector is None:
        vector = embed([query])[0].tobytes()
    rows = store.nearest_chunks(project_id, MODEL_NAME, vector, limit)
    return [_hit(r, 1.0 - r["distance"]) for r in rows if 1.0 - r["distance"] >= MIN_COSINE]


def _hit(row: dict, score: float) -> Hit:
    snippet = row.get("snippet") or " ".join(row["text"].split())[:160]
    return Hit(
        row["context_id"], row["context_name"], row["chunk_id"], row["chunk_index"], row["text"], float(score), snippet
    )


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _progress(total: int, desc: str, unit: str, show: bool) -> Any:
    """A tqdm bar (a widget in a notebook, text in a terminal), or nothing when not shown."""
    if not show:
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, unit_scale=unit == "B", leave=False)
