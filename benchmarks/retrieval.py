"""Retrieval: the embedding runtime, chunk + index throughput, and query latency over 100,000
chunks, side by side.

    .venv/bin/python benchmarks/retrieval.py [--chunks 100000] [--embed 1000] [--compare 300]

- the embedding runtime, lfwb's beside the old one: memory, first-search latency, chunks/s and
  recall per mode (benchmarks/embedding_runtime.py, run first; `--runtimes-only` stops there);

- chunk + BM25 index: chunks/s to chunk generated prose and write the chunks with their FTS5
  index (`retrieval.index_context`), in a fresh store file;
- embeddings: chunks/s to embed chunks with all-MiniLM-L6-v2 and store their vectors
  (`retrieval.embed_pending`), on --embed paragraphs of the standard library's docstrings (real
  English, offline; the model on this machine's CPU), and on them the recall@10 of lfwb's
  first pass on sign bits when it keeps the share of vectors it keeps at --chunks;
- vector search over the --chunks chunks of one project, top 10, p50 / p95 in ms (wall, and
  CPU time: near what an idle machine takes) over 50 queries, each way measured beside the
  others on the same vectors, with its recall@10 against the exact ranking: numpy exact (lfwb's
  ranking up to `vectors.EXACT_UP_TO` vectors), numpy with a first pass on sign bits keeping
  2% (lfwb's beyond that) or 40 (as many as the old sqlite-vec search kept), and sqlite-vec's
  `vec0` bits rescored by `vec_distance_cosine` (the old store's way), only where this Python's
  sqlite3 can load an extension;
- `retrieval.search` as lfwb runs it once everything is indexed, top 5 by BM25, vector and
  hybrid (RRF): the target is hybrid p50 < 20 ms at 100,000 chunks;
- memory: the in-memory vectors' bytes and the process's RSS growth when they are first read,
  the time of that first read, and of a search right after 100 vectors were added (catch-up).

The 100,000 vectors are random unit vectors of 384 dimensions (embedding them all would take
long and measure the model, not the ranking), and so are the query vectors: latencies exclude
embedding the query. Random vectors are the sign-bit pass's worst case (no clusters).
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import psutil

# The repository instead of this folder, whose transformers.py would hide the package.
ROOT = Path(__file__).resolve().parents[1]
sys.path[0] = str(ROOT)

from benchmarks.embedding_runtime import compare_runtimes, docstring_paragraphs  # noqa: E402
from lfwb.chat import retrieval  # noqa: E402
from lfwb.chat.embeddings import DIMS, MODEL_NAME  # noqa: E402
from lfwb.store import Store, vectors  # noqa: E402

TOP = 10

# A Zipf-distributed vocabulary of 20,000 made-up words, as in natural text: a few words in
# most chunks, most words in few (a 40-word vocabulary would put every query word in every chunk).
_letters = random.Random(1)
WORDS = np.array(
    [
        "".join(_letters.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(_letters.randint(3, 10)))
        for _ in range(20_000)
    ]
)
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


def timed(fn, queries) -> tuple[list[float], list[float], list]:
    """Wall and CPU seconds per query (CPU: what the query costs on an idle machine, near
    enough, where other processes share the cores), and the answers."""
    wall, cpu, answers = [], [], []
    for q in queries:
        t, c = time.perf_counter(), time.process_time()
        answers.append(fn(q))
        cpu.append(time.process_time() - c)
        wall.append(time.perf_counter() - t)
    return wall, cpu, answers


@contextmanager
def ranking(exact_up_to: int, share: float = vectors.CANDIDATE_SHARE, least: int = vectors.MIN_CANDIDATES):
    """lfwb's ranking with other settings for the block: exact up to `exact_up_to` vectors,
    beyond it a first pass keeping `share` of them, at least `least`."""
    saved = vectors.EXACT_UP_TO, vectors.CANDIDATE_SHARE, vectors.MIN_CANDIDATES
    vectors.EXACT_UP_TO, vectors.CANDIDATE_SHARE, vectors.MIN_CANDIDATES = exact_up_to, share, least
    try:
        yield
    finally:
        vectors.EXACT_UP_TO, vectors.CANDIDATE_SHARE, vectors.MIN_CANDIDATES = saved


def recall(answers: list[list[int]], exact: list[list[int]]) -> float:
    return sum(len(set(a) & set(e)) for a, e in zip(answers, exact)) / sum(len(e) for e in exact)


def sqlite_vec_path(folder: Path, ids: list[int], blobs: list[bytes]):
    """The old store's vector search, on a copy of the vectors in a file of its own, or why it
    cannot run here."""
    try:
        import sqlite_vec
    except ImportError:
        return "the sqlite-vec package is not installed"
    conn = sqlite3.connect(folder / "vec0.db")
    if not hasattr(conn, "enable_load_extension"):
        return "this Python's sqlite3 cannot load extensions"
    conn.enable_load_extension(True)
    sqlite_vec.load(conn)
    conn.executescript(
        f"CREATE VIRTUAL TABLE bits USING vec0(chunk_id INTEGER PRIMARY KEY, embedding BIT[{DIMS}]);"
        "CREATE TABLE floats (chunk_id INTEGER PRIMARY KEY, embedding BLOB);"
    )
    with conn:
        conn.executemany("INSERT INTO floats VALUES (?, ?)", zip(ids, blobs))
        conn.executemany("INSERT INTO bits VALUES (?, vec_quantize_binary(?))", zip(ids, blobs))

    def nearest(q: bytes) -> list[int]:
        return [
            r[0]
            for r in conn.execute(
                "SELECT chunk_id, vec_distance_cosine(embedding, :q) AS d FROM floats WHERE chunk_id IN ("
                " SELECT chunk_id FROM bits WHERE embedding MATCH vec_quantize_binary(:q) AND k = :k"
                ") ORDER BY d LIMIT :top",
                {"q": q, "k": 4 * TOP, "top": TOP},
            )
        ]

    return nearest


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--chunks", type=int, default=100_000)
    ap.add_argument("--embed", type=int, default=1000)
    ap.add_argument("--compare", type=int, default=300, help="paragraphs each embedding runtime embeds")
    ap.add_argument("--runtimes-only", action="store_true", help="only the embedding runtimes' comparison")
    args = ap.parse_args()
    compare_runtimes(args.compare)  # benchmarks/embedding_runtime.py
    if args.runtimes_only:
        return
    print()
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

    # Embeddings: --embed paragraphs of real English, each a context of its own, through the
    # model (loaded first, not timed); 50 more paragraphs are the queries of the recall check.
    from lfwb.chat.embeddings import embed

    paragraphs = docstring_paragraphs()
    random.Random(2).shuffle(paragraphs)
    docs = store.create_project("docstrings")["id"]
    for i, text in enumerate(paragraphs[50 : 50 + args.embed]):
        retrieval.index_context(store, store.add_context(docs, text, name=f"p{i}")["id"])
    real_queries = [v.tobytes() for v in embed(paragraphs[:50])]
    t0 = time.perf_counter()
    embedded = retrieval.embed_pending(store, docs, progress=False)
    embed_rate = embedded / (time.perf_counter() - t0)
    # The first pass keeps the share of these that it keeps of --chunks vectors.
    share = max(args.chunks * vectors.CANDIDATE_SHARE, vectors.MIN_CANDIDATES) / args.chunks

    def real_top(q: bytes) -> list[int]:
        return [r["chunk_id"] for r in store.nearest_chunks(docs, MODEL_NAME, q, TOP)]

    with ranking(exact_up_to=embedded):
        real_exact = timed(real_top, real_queries)[2]
    with ranking(exact_up_to=0, share=share, least=TOP):
        real_recall = recall(timed(real_top, real_queries)[2], real_exact)

    # Random unit vectors for the big project.
    vrng = np.random.default_rng(0)
    ids = [
        r["chunk_id"]
        for r in store.query(
            "SELECT c.id AS chunk_id FROM context_chunks c JOIN contexts x ON x.id = c.context_id WHERE x.project_id = ?",
            (project,),
        )
    ]
    blobs = []
    for i in range(0, len(ids), 5000):
        part = ids[i : i + 5000]
        v = vrng.standard_normal((len(part), DIMS)).astype("float32")
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        blobs += [x.tobytes() for x in v]
        store.add_vectors(MODEL_NAME, zip(part, blobs[i : i + 5000]))

    # Three words of a query from the 50th to the 2,000th most common, as a question's content
    # words are once its stopwords are gone.
    queries = [" ".join(rng.choice(WORDS[50:2000], 3, replace=False)) for _ in range(50)]
    qvec = vrng.standard_normal((50, DIMS)).astype("float32")
    qvec /= np.linalg.norm(qvec, axis=1, keepdims=True)
    qbytes = [v.tobytes() for v in qvec]

    # The first read of the vectors into memory, and what it holds.
    index = store._vectors  # made by the recall check above, holding its small project
    rss, before = psutil.Process(os.getpid()).memory_info().rss, index.nbytes
    t0 = time.perf_counter()
    store.nearest_chunks(project, MODEL_NAME, qbytes[0], TOP)
    first_read = time.perf_counter() - t0
    rss_growth = psutil.Process(os.getpid()).memory_info().rss - rss
    held = index.nbytes - before

    # Vector search, each way over the same vectors and queries.
    def ranked(q: bytes) -> list[int]:
        return [cid for cid, _ in index.nearest(project, MODEL_NAME, q, TOP)]

    ways: dict[str, tuple | str] = {}
    with ranking(exact_up_to=len(ids)):
        ways["numpy, exact"] = timed(ranked, qbytes)
    with ranking(exact_up_to=0):
        ways[f"numpy, sign bits keep {share:.0%}"] = timed(ranked, qbytes)
    with ranking(exact_up_to=0, share=0, least=4 * TOP):
        ways[f"numpy, sign bits keep {4 * TOP}"] = timed(ranked, qbytes)
    old = sqlite_vec_path(folder, ids, blobs)
    ways[f"sqlite-vec, bits keep {4 * TOP} (old)"] = old if isinstance(old, str) else timed(old, qbytes)
    exact = ways["numpy, exact"][2]

    # Random vectors are all about as far from a query (cosine ~0): the floor under which a chunk
    # is no match would leave the vector ranking nothing to rank.
    retrieval.MIN_COSINE = -1.0
    timings: dict[str, list[float]] = {"bm25": [], "vector": [], "hybrid": []}
    cpu: dict[str, list[float]] = {mode: [] for mode in timings}
    for q, v in zip(queries, qbytes):
        for mode, samples in timings.items():
            t, c = time.perf_counter(), time.process_time()
            hits = retrieval.search(store, project, q, mode, 5, vector=v)
            cpu[mode].append(time.process_time() - c)
            samples.append(time.perf_counter() - t)
            assert hits

    # Catch-up: 100 vectors added (their chunks' old ones replaced), then one search.
    catch_up = []
    for round_ in range(10):
        part = ids[round_ * 100 : (round_ + 1) * 100]
        store.add_vectors(MODEL_NAME, zip(part, blobs[round_ * 100 : (round_ + 1) * 100]))
        t = time.perf_counter()
        store.nearest_chunks(project, MODEL_NAME, qbytes[round_], TOP)
        catch_up.append(time.perf_counter() - t)

    print(
        f"store: {folder / 'bench.db'}  ({len(ids)} chunks in the queried project, "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)"
    )
    print(f"\n{'what':34} {'value':>12}")
    print(f"{'chunk + BM25 index':34} {bm25_rate:10.0f} chunks/s")
    print(f"{'embed + store vectors':34} {embed_rate:10.0f} chunks/s")

    print(f"\nvector search, top {TOP} of {len(ids)} random vectors ({DIMS} dims):")
    print(f"{'way':32} {'p50 ms':>7} {'p95 ms':>7} {'CPU p50':>8} {'p50 ÷ exact':>12} {'recall@10':>10}")
    exact_p50 = percentiles(ways["numpy, exact"][0])[0]
    for name, way in ways.items():
        if isinstance(way, str):
            print(f"{name:32} {'—':>7} {'—':>7} {'—':>8} {'—':>12} {'—':>10}  ({way})")
            continue
        p50, p95 = percentiles(way[0])
        print(
            f"{name:32} {p50:7.1f} {p95:7.1f} {percentiles(way[1])[0]:8.1f} {p50 / exact_p50:12.2f} "
            f"{recall(way[2], exact):10.3f}"
        )
    lfwb_way = "exact" if len(ids) <= vectors.EXACT_UP_TO else f"sign bits keep {share:.0%}"
    print(
        f"lfwb ranks exactly up to {vectors.EXACT_UP_TO} vectors; here: {lfwb_way}. Random vectors are "
        f"the first pass's worst case: on {embedded} real MiniLM vectors (docstrings), keeping "
        f"{share:.0%} finds {real_recall:.3f} of the exact top {TOP}."
    )

    print(f"\n{'retrieval.search, top 5':34} {'p50 / p95 ms':>14}")
    for mode, samples in timings.items():
        p50, p95 = percentiles(samples)
        print(f"{mode:34} {p50:6.1f} / {p95:5.1f}   CPU p50 {percentiles(cpu[mode])[0]:5.1f}")
    print(f"\n{'memory and upkeep':34} {'value':>12}")
    print(f"{'vectors held in memory':34} {held / 2**20:9.1f} MiB")
    print(f"{'RSS growth on the first read':34} {rss_growth / 2**20:9.1f} MiB")
    print(f"{'first read of the vectors':34} {first_read * 1000:9.0f} ms")
    print(f"{'search after 100 vectors added':34} {statistics.median(catch_up) * 1000:9.1f} ms (p50)")
    p50 = percentiles(timings["hybrid"])[0]
    print(f"\nhybrid p50 {p50:.1f} ms — target < 20 ms: {'met' if p50 < 20 else 'NOT met'}")
    store.close()


if __name__ == "__main__":
    main()
