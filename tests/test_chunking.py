"""Chunking contexts for retrieval: by tokens, with overlap, on paragraph and sentence bounds,
from text or a file read in a stream (bounded memory, binary and non-UTF-8 files refused)."""

from __future__ import annotations

import json
import random
import subprocess
import sys

import pytest

from lfwb.chat.chunking import chunk_stream, chunk_text, count_tokens, read_text_blocks
from lfwb.errors import ContextError

SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "Buttons are teal and round.",
    "Backups run every night at two.",
    "Tides follow the moon.",
    "Espresso needs nine bars.",
]


def prose(paragraphs: int, seed: int = 0) -> str:
    rng = random.Random(seed)
    return "\n\n".join(" ".join(rng.choice(SENTENCES) for _ in range(rng.randint(1, 12))) for _ in range(paragraphs))


def test_chunks_stay_within_the_token_budget_and_are_the_source_text_in_place():
    text = prose(60)
    chunks = chunk_text(text, max_tokens=80, overlap=16)
    assert len(chunks) > 5
    for c in chunks:
        assert c.tokens <= 80 and c.tokens == count_tokens(c.text)
        assert text[c.start : c.end] == c.text
    assert [c.index for c in chunks] == list(range(len(chunks)))
    assert chunks[0].start == 0 and chunks[-1].end == len(text.rstrip()) or chunks[-1].end == len(text)


def test_neighbouring_chunks_overlap_and_together_cover_the_whole_text():
    text = prose(40, seed=1)
    chunks = chunk_text(text, max_tokens=60, overlap=20)
    for a, b in zip(chunks, chunks[1:]):
        assert b.start < a.end, f"no overlap between chunks {a.index} and {b.index}"
        assert count_tokens(text[b.start : a.end]) <= 20
    covered = set()
    for c in chunks:
        covered.update(range(c.start, c.end))
    assert covered >= {i for i, ch in enumerate(text) if not ch.isspace()}


def test_chunks_break_at_paragraphs_then_sentences_not_mid_sentence():
    text = prose(30, seed=2)
    for c in chunk_text(text, max_tokens=70, overlap=0):
        assert c.start == 0 or text[c.start - 1] in " \n", "a chunk starts mid-word"
        assert c.text.rstrip().endswith("."), f"a chunk ends mid-sentence: {c.text[-30:]!r}"


def test_short_paragraphs_start_chunks_at_a_paragraph_bound():
    paragraphs = [f"Paragraph {i}. " + "Words here. " * 5 for i in range(12)]
    text = "\n\n".join(p.strip() for p in paragraphs)
    chunks = chunk_text(text, max_tokens=40, overlap=0)
    assert all(c.start == 0 or text[c.start - 2 : c.start] == "\n\n" for c in chunks)


def test_text_streamed_in_any_block_sizes_chunks_exactly_as_the_whole_text():
    text = prose(80, seed=3)
    rng = random.Random(4)
    cuts = sorted(rng.sample(range(1, len(text)), 40))
    blocks = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)])]
    assert list(chunk_stream(blocks, 50, 10)) == chunk_text(text, 50, 10)


def test_a_sentence_longer_than_a_chunk_is_cut_between_words():
    text = " ".join(["word"] * 500)
    chunks = chunk_text(text, max_tokens=100, overlap=10)
    assert all(c.tokens <= 100 for c in chunks) and len(chunks) >= 5
    assert "".join(c.text for c in chunks).count("word") > 500  # the overlaps repeat words


def test_a_file_is_read_in_blocks_and_bad_files_are_refused_in_one_line(tmp_path):
    good = tmp_path / "notes.md"
    good.write_text("é" * 10 + "\n\nmore", encoding="utf-8")
    assert "".join(read_text_blocks(good, block=3)) == "é" * 10 + "\n\nmore"  # é split across blocks
    (tmp_path / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    (tmp_path / "latin1.txt").write_bytes("café".encode("latin-1"))
    (tmp_path / "utf16.txt").write_text("hello", encoding="utf-16")
    (tmp_path / "late.txt").write_bytes(b"fine text\n" * 2000 + b"\x00\x01binary tail")
    for name, says in [
        ("image.png", "looks binary"),
        ("latin1.txt", "not UTF-8"),
        ("utf16.txt", "UTF-16"),
        ("late.txt", "looks binary"),
        ("missing.txt", "no file at"),
    ]:
        with pytest.raises(ContextError, match=says) as e:
            list(read_text_blocks(tmp_path / name, block=1024))
        assert "\n" not in str(e.value)


def test_a_bad_overlap_is_refused():
    with pytest.raises(ValueError):
        chunk_text("x", max_tokens=10, overlap=10)


# Adds a 200 MB file as a context in a fresh process and reports its peak memory: the file is
# read and chunked in a stream, so the peak stays far below the file's size.
BIG_FILE_PROBE = """
import json, resource, sys, time
from lfwb.store import Store
from lfwb.chat.retrieval import add_file_context, retrieve
store = Store(sys.argv[2])
p = store.create_project("big")
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = time.perf_counter()
c = add_file_context(store, p["id"], sys.argv[1], progress=False)
took = time.perf_counter() - t
hits = retrieve(store, p["id"], "needle haystack marker", limit=1, progress=False)
print(json.dumps({"before_kb": before, "peak_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  "chunks": store.chunk_count(c["id"]), "text_len": len(c["text"]), "s": took,
                  "hit": hits[0].text if hits else None}))
"""


@pytest.mark.slow
def test_a_200_mb_file_is_chunked_in_bounded_memory(tmp_path):
    big = tmp_path / "big.txt"
    paragraph = (prose(1, seed=5) + "\n\n").encode()
    size = 200 * 2**20
    with big.open("wb") as f:
        written = 0
        while written < size // 2:
            written += f.write(paragraph)
        written += f.write(b"The needle marker sits in this haystack paragraph.\n\n")
        while written < size:
            written += f.write(paragraph)
    out = subprocess.run(
        [sys.executable, "-c", BIG_FILE_PROBE, str(big), str(tmp_path / "s.db")],
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    print(
        f"\n200 MB file: {seen['chunks']} chunks in {seen['s']:.0f} s, peak RSS "
        f"{seen['peak_kb'] / 1024:.0f} MiB (after imports {seen['before_kb'] / 1024:.0f} MiB)"
    )
    assert seen["text_len"] == 0  # over the kept-text limit: the text lives in its chunks only
    assert "needle marker" in seen["hit"]
    assert (seen["peak_kb"] - seen["before_kb"]) * 1024 < 64 * 2**20


def test_trailing_blank_lines_make_no_chunk_of_their_own():
    text = "One two three four. Five six seven eight.\n\n\n   \n"
    chunks = chunk_text(text, max_tokens=6, overlap=2)
    assert chunks[-1].text.strip() and all(c.text.strip() for c in chunks)
    assert len({c.text.strip() for c in chunks}) == len(chunks)
