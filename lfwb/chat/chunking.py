"""Splitting a context into chunks for retrieval: by tokens, with overlap, on paragraph and then
sentence bounds where possible, from a string or from a file read in a stream.

    >>> [c.text for c in chunk_text("One. Two.\\n\\nThree.", max_tokens=4, overlap=2)]
    ['One. Two.\\n\\n', 'Two.\\n\\nThree.']

Tokens are an estimate that needs no model (`count_tokens`): a word or a punctuation mark is
one token, and a long word one per 6 characters, close to the embedding model's WordPiece
count for English prose (within ~20 %). Loading a tokenizer only to cut text for BM25 would
cost more than the whole index. Each chunk's text is the source's exact characters
`[start, end)`, so a chunk can be shown in place and neighbours share their overlap verbatim.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import ContextError

MAX_TOKENS = 200  # all-MiniLM-L6-v2 reads 256 word pieces; leave room for the estimate's error
OVERLAP = 40
READ_BLOCK = 1 << 20  # characters decoded per read
# Text without a paragraph break is cut at a sentence (or, failing that, a space) once this much
# is buffered, so one huge line cannot hold the whole file in memory.
MAX_PARAGRAPH_CHARS = 1 << 16

_TOKEN = re.compile(r"\w+|[^\w\s]")
_PARAGRAPH_END = re.compile(r"\n[ \t]*\n\s*")
_SENTENCE_END = re.compile(r"(?<=[.!?…。])[\"')\]]*\s+|\n\s*")
_WORD = re.compile(r"\S+\s*")


@dataclass(frozen=True)
class Chunk:
    """One chunk: its position among the context's chunks, the exact text and where it sits."""

    index: int
    text: str
    start: int  # character offsets in the source
    end: int
    tokens: int


def count_tokens(text: str) -> int:
    """The estimated token count (see the module docstring)."""
    return sum(1 + (len(w) - 1) // 6 for w in _TOKEN.findall(text))


def chunk_text(text: str, max_tokens: int = MAX_TOKENS, overlap: int = OVERLAP) -> list[Chunk]:
    """`text` in chunks of at most about `max_tokens`, neighbours sharing about `overlap`."""
    return list(chunk_stream([text], max_tokens, overlap))


def chunk_stream(blocks: Iterable[str], max_tokens: int = MAX_TOKENS, overlap: int = OVERLAP) -> Iterator[Chunk]:
    """Chunks of text arriving in `blocks` (any sizes); holds about one paragraph at a time."""
    if not 0 <= overlap < max_tokens:
        raise ValueError(f"overlap must be ≥ 0 and below max_tokens ({max_tokens}), got {overlap}")
    pieces = (p for para in _paragraphs(blocks) for p in _pieces(para, max_tokens))
    ahead: list[_Piece] = []  # parts of a piece that was split, next first (stack)
    window: list[_Piece] = []
    size = 0
    index = 0
    only_overlap = False  # the window holds nothing but the last chunk's tail
    while (piece := ahead.pop() if ahead else next(pieces, None)) is not None:
        if window and size + piece.tokens > max_tokens:
            if not only_overlap:
                yield _chunk(index, window)
                index += 1
                window = _overlap(window, overlap)
                size = sum(p.tokens for p in window)
                only_overlap = True
            if window and size + piece.tokens > max_tokens:
                # A paragraph too big to follow the overlap goes in sentences (a sentence, in
                # words), so the chunks still overlap; a single huge word drops the overlap.
                parts = _split(piece)
                if parts:
                    ahead.extend(reversed(parts))
                    continue
                window, size = [], 0
        window.append(piece)
        size += piece.tokens
        only_overlap = only_overlap and not piece.tokens  # blank space alone is no new chunk
    if window and not only_overlap:
        yield _chunk(index, window)


def read_text_blocks(path: str | Path, block: int = READ_BLOCK) -> Iterator[str]:
    """A UTF-8 text file's characters in blocks, read in a stream. A missing file, a binary one
    or one that is not UTF-8 is a `ContextError` (one line): before the first block when the
    start of the file shows it, else when the bad bytes are reached."""
    p = Path(path).expanduser()
    if not p.exists():
        raise ContextError(f"no file at {path} — check the path (relative to {Path.cwd()})")
    if not p.is_file():
        raise ContextError(f"{path} is not a file — give a text file")
    with p.open("rb") as f:
        head = f.read(8192)
        if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            raise ContextError(f"{path} is UTF-16 text — re-save it as UTF-8")
        if b"\x00" in head:
            raise ContextError(f"{path} looks binary — contexts are text (UTF-8); convert it first")
        decoder = codecs.getincrementaldecoder("utf-8-sig")()
        data, offset = head, 0
        while True:
            try:
                text = decoder.decode(data, final=not data)
            except UnicodeDecodeError as e:
                raise ContextError(
                    f"{path} is not UTF-8 text (byte {offset + e.start}) — re-save it as UTF-8"
                ) from None
            if text:
                yield text
            if not data:
                return
            offset += len(data)
            data = f.read(block)
            if b"\x00" in data:
                raise ContextError(f"{path} looks binary — contexts are text (UTF-8); convert it first")


# -- inside ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Piece:
    text: str  # with the whitespace that followed it in the source
    start: int
    tokens: int


def _chunk(index: int, window: list[_Piece]) -> Chunk:
    text = "".join(p.text for p in window)
    return Chunk(index, text, window[0].start, window[0].start + len(text), sum(p.tokens for p in window))


def _overlap(window: list[_Piece], overlap: int) -> list[_Piece]:
    """The window's last pieces that fit in `overlap` tokens; failing that, the last words."""
    kept: list[_Piece] = []
    size = 0
    for piece in reversed(window):
        if size + piece.tokens > overlap:
            break
        kept.insert(0, piece)
        size += piece.tokens
    if not kept and overlap:
        words = list(_words(window[-1]))
        while words and size + words[-1].tokens <= overlap:
            kept.insert(0, words.pop())
            size += kept[0].tokens
    return kept


def _paragraphs(blocks: Iterable[str]) -> Iterator[tuple[str, int]]:
    """(paragraph with its trailing blank lines, start offset), buffering one at a time."""
    buffer, start = "", 0
    for block in blocks:
        buffer += block
        cut = 0
        for m in _PARAGRAPH_END.finditer(buffer):
            if m.end() == len(buffer):
                break  # more blank lines (or more text) may follow in the next block
            yield buffer[cut : m.end()], start + cut
            cut = m.end()
        while len(buffer) - cut > MAX_PARAGRAPH_CHARS:
            end = _forced_cut(buffer, cut, cut + MAX_PARAGRAPH_CHARS)
            yield buffer[cut:end], start + cut
            cut = end
        buffer, start = buffer[cut:], start + cut
    if buffer:
        yield buffer, start


def _forced_cut(buffer: str, lo: int, hi: int) -> int:
    """Where to end a paragraph too long to hold: the last sentence end, else space, before `hi`."""
    for pattern in (_SENTENCE_END, re.compile(r"\s+")):
        ends = [m.end() for m in pattern.finditer(buffer, lo, hi) if m.end() < hi]
        if ends and ends[-1] > lo:
            return ends[-1]
    return hi


def _pieces(paragraph: tuple[str, int], max_tokens: int) -> Iterator[_Piece]:
    """The paragraph whole if it fits, else its sentences (and a sentence too long, its words)."""
    text, start = paragraph
    tokens = count_tokens(text)
    if tokens <= max_tokens:
        yield _Piece(text, start, tokens)
        return
    at = 0
    for m in _SENTENCE_END.finditer(text):
        if m.end() > at:
            yield from _fitted(_Piece(text[at : m.end()], start + at, count_tokens(text[at : m.end()])), max_tokens)
            at = m.end()
    if at < len(text):
        yield from _fitted(_Piece(text[at:], start + at, count_tokens(text[at:])), max_tokens)


def _split(piece: _Piece) -> list[_Piece]:
    """A piece in its sentences, else its words; [] when it is one word."""
    cuts = [m.end() for m in _SENTENCE_END.finditer(piece.text) if 0 < m.end() < len(piece.text)]
    if cuts:
        bounds = [0, *cuts, len(piece.text)]
        return [
            _Piece(piece.text[a:b], piece.start + a, count_tokens(piece.text[a:b])) for a, b in zip(bounds, bounds[1:])
        ]
    words = list(_words(piece))
    return words if len(words) > 1 else []


def _fitted(piece: _Piece, max_tokens: int) -> Iterator[_Piece]:
    if piece.tokens <= max_tokens:
        yield piece
    else:
        yield from _words(piece)


def _words(piece: _Piece) -> Iterator[_Piece]:
    for m in _WORD.finditer(piece.text):
        yield _Piece(m.group(), piece.start + m.start(), count_tokens(m.group()) or 1)
