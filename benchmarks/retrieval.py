"""Retrieval: chunk + index throughput, and query latency over 100,000 chunks.

    .venv/bin/python benchmarks/retrieval.py [--chunks 100000] [--embed 512]

- chunk + BM25 index: chunks/s to chunk generated prose and write the chunks with their FTS5
  index (`retrieval.index_context`), in a fresh store file;
- embeddings: chunks/s to embed chunks with all-MiniLM-L6-v2 and write them to the vector index
  (`retrieval.embed_pending`), on --embed chunks (the model on this machine's CPU);
- query latency over --chunks chunks in one project: `retrieval.search` (what `retrieve` runs
  once everything is indexed) for the top 5 by BM25, vector and hybrid (RRF), p50 and p95 in
  ms over 50 queries of three words from the 50th to the 2,000th most common. The 100,000 vectors are random unit vectors (embedding them all would
  take long and measure the model, not the index), and so is the query vector: the latency
  excludes embedding the query, as the target does (hybrid p50 < 20 ms).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

# The repository instead of this folder, whose transformers.py would hide the package.
sys.path[0] = str(Path(__file__).resolve().parents[1])

from lfwb.chat import retrieval  # noqa: E402
from lfwb.chat.embeddings import DIMS  # noqa: E402
from lfwb.store import Store  # noqa: E402

# A Zipf-distributed vocabulary of 20,000 made-up words, as in natural text: a few words in
# most chunks, most words in few (a 40-word vocabulary would put every query word in every chunk).
_letters = random.Random(1)
WORDS = np.array(["".join(_letters.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(_letters.randint(3, 10)))
                  for _ in range(20_000)])
_zipf = 1 / np.arange(1, len(WORDS) + 1) ** 1.07
ZIPF = _zipf / _zipf.sum()


def prose(rng: np.random.Generator, paragraphs: int) -> str:
    """Paragraphs of 2-6 sentences of 6-14 words drawn from the Zipf vocabulary."""
    out = []
    for _ in range(paragraphs):
        lengths = rng.integers(6, 15, size=rng.integers(2, 7))
        words = WORDS[rng.choice(len(WORDS), size=int(lengths.sum()), p=ZIPF)]
        cuts = np.cumsum(lengths)[:-1]
        out.append(" ".join(" ".join(s).capitalize() + "." for s in np.split(words, cuts)))
    return "\n\n".join(out)


def percentiles(samples: list[float]) -> tuple[float, float]:
    s = sorted(samples)
    return statistics.median(s) * 1000, s[int(len(s) * 0.95) - 1] * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--chunks", type=int, default=100_000)
    ap.add_argument("--embed", type=int, default=512)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    folder = Path(tempfile.mkdtemp(prefix="lfwb-retrieval-bench-"))
    store = Store(folder / "bench.db")
    project = store.create_project("bench")["id"]

    # Chunk + BM25: contexts of ~40 paragraphs until --chunks chunks exist (the text is made
    # beforehand, in batches, so the time is lfwb's).
    took, made = 0.0, 0
    while made < args.chunks:
        texts = [prose(rng, 40) for _ in range(20)]
        t0 = time.perf_counter()
        for i, text in enumerate(texts):
            c = store.add_context(project, text, name=f"doc{made}-{i}")
            made += retrieval.index_context(store, c["id"])
        took += time.perf_counter() - t0
    bm25_rate = made / took

    # Embeddings: a separate project of --embed chunks, through the model.
    small = store.create_project("embed")["id"]
    embedded = 0
    while store.query("SELECT count(*) AS n FROM context_chunks c JOIN contexts x ON x.id = c.context_id "
                      "WHERE x.project_id = ?", (small,))[0]["n"] < args.embed:
        retrieval.index_context(store, store.add_context(small, prose(rng, 20), name="e")["id"])
    retrieval.embed_pending(store, small, progress=False)  # loads the model (not timed)
    store.query("DELETE FROM context_chunk_embeddings")  # and again, timed
    store.query(f"DELETE FROM {'context_chunk_vectors'}")
    t0 = time.perf_counter()
    embedded = retrieval.embed_pending(store, small, progress=False)
    embed_rate = embedded / (time.perf_counter() - t0)

    # Random unit vectors for the big project.
    store.ensure_vector_table(DIMS)
    vrng = np.random.default_rng(0)
    ids = [r["chunk_id"] for r in store.query(
        "SELECT c.id AS chunk_id FROM context_chunks c JOIN contexts x ON x.id = c.context_id WHERE x.project_id = ?",
        (project,))]
    for i in range(0, len(ids), 5000):
        part = ids[i:i + 5000]
        v = vrng.standard_normal((len(part), DIMS)).astype("float32")
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        store.add_vectors(project, "random", zip(part, (x.tobytes() for x in v)))

    # Three words of a query from the 50th to the 2,000th most common, as a question's content
    # words are once its stopwords are gone.
    queries = [" ".join(rng.choice(WORDS[50:2000], 3, replace=False)) for _ in range(50)]
    qvec = vrng.standard_normal((50, DIMS)).astype("float32")
    qvec /= np.linalg.norm(qvec, axis=1, keepdims=True)
    timings: dict[str, list[float]] = {"bm25": [], "vector": [], "hybrid": []}
    for q, v in zip(queries, qvec):
        for mode, samples in timings.items():
            t = time.perf_counter()
            hits = retrieval.search(store, project, q, mode, 5, vector=v.tobytes())
            samples.append(time.perf_counter() - t)
            assert hits

    print(f"store: {folder / 'bench.db'}  ({len(ids)} chunks in the queried project)")
    print(f"\n{'what':34} {'value':>12}")
    print(f"{'chunk + BM25 index':34} {bm25_rate:10.0f} chunks/s")
    print(f"{'embed + vector index':34} {embed_rate:10.0f} chunks/s")
    for mode, samples in timings.items():
        p50, p95 = percentiles(samples)
        print(f"{mode + ' query p50 / p95 (ms)':34} {p50:6.1f} / {p95:5.1f}")
    p50 = percentiles(timings["hybrid"])[0]
    print(f"\nhybrid p50 {p50:.1f} ms — target < 20 ms: {'met' if p50 < 20 else 'NOT met'}")
    store.close()


if __name__ == "__main__":
    main()
