"""Every code block in README.md and docs/ runs, as a reader would run it in a notebook.

Each page's ```python blocks run in order in one real IPython shell with lfwb loaded, on a fresh
store in a folder of its own holding the files the guides name (notes.md, requests.csv, ...).
A block is one cell, or several: a line starting with `%%` starts a new cell. Models are real:
smollm2 (llama.cpp) where a page names it, and Gemini through the real `google-genai` SDK against
the fake Gemini API (tests/gemini_server.py) where a key would be needed, so `gemini-2.5-pro`
registers itself as it does for a user with a key.

A ```python block followed by a ```text block whose first line is `SomeError: ...` (an lfwb
error) shows what the reader sees when the cell fails: the cell must fail with exactly that line.
Blocks that cannot run here (a hidden key prompt, a path on the reader's machine) are fenced
`text` or `console`, and are never run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import ROOT, plain
from gemini_server import TEST_KEY, Reply

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})\s*([\w+-]*)")

# Files the guides name, as a reader would have them beside the notebook (and `my-checkpoint/`,
# a transformers checkpoint: see reader_folder).
FILES = {
    "notes.md": "# Notes\n\nCards have a 4px radius. Buttons are blue.\n",
    "docs/style-guide.md": "# Style guide\n\nPrimary buttons are teal. Links are underlined.\n",
    "requests.csv": "input\na login form\na pricing card with a Subscribe button\n",
    "prices.json": '{"my-model": {"input": 0.2, "output": 0.8}}\n',
    "logo.png": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00",
}
# What a model that needs a key answers here (the fake Gemini API): a revised component, for the
# guides that ask a capable model to change one.
STAND_IN_ANSWER = """Here is the component, revised:

```jsx
import { useState } from "react";
export default function Counter({ label = "Count" }) {
  const [n, setN] = useState(0);
  return (
    <div>
      <button style={{ color: "white", background: "crimson" }} onClick={() => setN(n + 1)}>{label}: {n}</button>
      <p>Click to count</p>
    </div>
  );
}
```
"""


@dataclass
class Block:
    page: Path
    line: int  # where its fence opens, 1-based
    lang: str
    text: str
    end: int  # the line of its closing fence, 1-based
    raises: str | None = None  # the one line the cell must fail with

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"

    def cells(self) -> list[str]:
        cells: list[list[str]] = [[]]
        for line in self.text.splitlines():
            if line.startswith("%%") and any(s.strip() for s in cells[-1]):
                cells.append([])
            cells[-1].append(line)
        return ["\n".join(c).strip("\n") for c in cells if any(s.strip() for s in c)]


def fenced_blocks(page: Path) -> list[Block]:
    """The page's fenced blocks in order (CommonMark's rule: a fence closes with at least as many
    of its own character and nothing after them)."""
    lines = page.read_text().splitlines()
    blocks, i = [], 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        fence, lang, start = opening.group(1), opening.group(2).lower(), i
        closing = re.compile(rf"^ {{0,3}}{re.escape(fence[0])}{{{len(fence)},}}\s*$")
        i += 1
        body = []
        while i < len(lines) and not closing.match(lines[i]):
            body.append(lines[i])
            i += 1
        blocks.append(Block(page, start + 1, lang, "\n".join(body), i + 1))
        i += 1
    return blocks


def runnable(page: Path) -> list[Block]:
    """The page's python blocks, each with the error line the next text block says it shows."""
    from lfwb import errors

    names = {n for n, c in vars(errors).items() if isinstance(c, type) and issubclass(c, errors.LfwbError)}
    blocks = fenced_blocks(page)
    out = []
    for block, following in zip(blocks, [*blocks[1:], None]):
        if block.lang not in ("python", "py", "ipython"):
            continue
        between = page.read_text().splitlines()[block.end : following.line - 1] if following else ["x"]
        if following is not None and following.lang == "text" and not any(s.strip() for s in between):
            first = following.text.strip().splitlines()[0] if following.text.strip() else ""
            if first.split(":")[0] in names:
                block.raises = first
        out.append(block)
    return out


PAGES_WITH_CODE = [p for p in PAGES if "hooks" not in p.parts and runnable(p)]


@pytest.fixture(scope="session")
def _docs_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("lfwb-docs-cache")


@pytest.fixture
def gemini_key(_gemini_server, _docs_cache, monkeypatch):
    """A Gemini key in the environment, for the fake Gemini API: set before the Workbench is made.
    GGUF files converted for transformers go to a cache of the suite's, not the reader's home."""
    monkeypatch.setenv("LFWB_CACHE", str(_docs_cache))
    _gemini_server.reset()
    _gemini_server.default = Reply(text=STAND_IN_ANSWER)
    monkeypatch.setenv("GEMINI_API_KEY", TEST_KEY)
    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", _gemini_server.url)
    yield _gemini_server
    _gemini_server.reset()


@pytest.fixture(scope="session")
def _tiny_checkpoint(tmp_path_factory) -> Path:
    """A transformers checkpoint (random weights, two layers), for `--source ./my-checkpoint`."""
    from fixtures.tiny_models import build_tiny_llama

    return build_tiny_llama(tmp_path_factory.mktemp("ckpt") / "tiny-llama")


@pytest.fixture
def reader_folder(tmp_path, _tiny_checkpoint):
    (tmp_path / "my-checkpoint").symlink_to(_tiny_checkpoint, target_is_directory=True)
    for name, text in FILES.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(text if isinstance(text, bytes) else text.encode())
    yield tmp_path
    from lfwb.server import background

    if background.status().get("running"):
        background.stop()


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES_WITH_CODE, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_code_block_of_the_page_runs(page, gemini_key, reader_folder, ip, capsys):
    for block in runnable(page):
        for cell in block.cells():
            capsys.readouterr()
            result = ip.run_cell(cell, store_history=True)
            out = capsys.readouterr()
            seen = plain(out.out + out.err).strip()
            if block.raises is None:
                assert result.success, f"{block.where}: the cell failed\n{cell}\n---\n{seen}"
            else:
                assert not result.success, f"{block.where}: the cell should fail with {block.raises!r}"
                shown = seen.splitlines()[-1] if seen else ""
                assert shown == block.raises, f"{block.where}: the page says {block.raises!r}, the cell shows {shown!r}"


def test_blocks_are_read_as_commonmark_fences(tmp_path):
    page = tmp_path / "p.md"
    page.write_text(
        '```python\n%%lfw pipeline ui\nsteps:\n  - prefill: "```jsx"\n```\n\n'
        "```python\n%%lfw generate -m nope\nHi\n```\n\n```text\nModelNotFound: no model named 'nope'\n```\n"
    )
    first, second = runnable(page)
    assert first.cells() == ['%%lfw pipeline ui\nsteps:\n  - prefill: "```jsx"']
    assert second.raises == "ModelNotFound: no model named 'nope'"
    assert fenced_blocks(page)[-1].lang == "text"


def test_every_block_says_what_it_is():
    """A block is run (python) or says why not (text, console, a file's language): a bare fence
    would be skipped without anyone deciding so."""
    allowed = {"python", "text", "console", "yaml", "toml", "json", "jsx", "tsx"}
    bare = [b.where for p in PAGES for b in fenced_blocks(p) if b.lang not in allowed]
    assert not bare, f"fence these blocks with a language: {bare}"
