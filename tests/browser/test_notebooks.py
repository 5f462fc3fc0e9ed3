"""Every notebook in notebooks/, run top to bottom in JupyterLab and in Notebook 7 as a person
would (Run > Run All Cells) in Debian's Chromium: no error output outside the cells tagged
`raises-exception`, every widget drawn, and a screenshot of each kept in tests/browser/screenshots/.

One server (the `lab` fixture) serves both apps; each notebook runs on a copy in its own folder.
The run is over when the kernel has been idle for a while by the server's REST API: the `[*]`
marks are no guide (Lab shows `[ ]` on cells queued behind an error while the kernel runs them).
"""

from __future__ import annotations

import json
import re
import shutil
import time
import urllib.request
from pathlib import Path

import pytest

from .conftest import RESULTS

pytestmark = pytest.mark.slow

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))
# The app's page for a notebook, by its path under the server's root.
APPS = {"lab": "/lab/tree/{path}?reset", "notebook": "/notebooks/{path}"}
RUN_TIMEOUT_S = 300
TRACKER = Path("lab/user-settings/@jupyterlab/notebook-extension/tracker.jupyterlab-settings")


@pytest.fixture(scope="module")
def served(lab):
    """A copy of notebooks/ per app under the server's root, and every cell kept in the page
    (no windowing: a cell scrolled away would be neither checked nor in the screenshot)."""
    for app in APPS:
        shutil.copytree(NOTEBOOKS[0].parent, lab["root"] / app, ignore=shutil.ignore_patterns("*.db*", "*-out"))
    settings = lab["root"] / ".jupyter" / TRACKER
    settings.parent.mkdir(parents=True, exist_ok=True)
    settings.write_text('{"windowingMode": "none"}')
    yield lab
    settings.unlink()


@pytest.mark.parametrize("app", list(APPS))
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_the_notebook_runs_clean_in_the_browser(served, browser, app, notebook):
    path, name = f"{app}/{notebook.name}", f"{app}-{notebook.stem}"
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    traffic = KernelTraffic(page)
    try:
        page.goto(
            f"{served['url']}{APPS[app].format(path=path)}{'&' if '?' in APPS[app] else '?'}token={served['token']}"
        )
        page.locator(".jp-Notebook .jp-Cell").first.wait_for()
        session = _session_when_idle(served, path)

        page.get_by_role("menuitem", name="Run", exact=True).click()
        page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
        source = json.loads(notebook.read_text())
        code_cells = sum(1 for c in source["cells"] if c["cell_type"] == "code" and "".join(c["source"]).strip())
        _until_done(served, session, page, traffic, code_cells, name)
        saved = _save(page, served, path)
        widgets = _widgets_drawn(page, saved)
        shot = _screenshot(page, name)
        print(f"{path}: {len(saved['cells'])} cells, {widgets} widgets; screenshot {shot}")
        for i, cell in enumerate(saved["cells"]):
            for o in cell.get("outputs", []):
                if o.get("name") == "stderr":
                    print(f"  stderr in cell {i}: {o['text'][:120]!r}")

        errors = [
            f"cell {i}: {o['ename']}: {o['evalue']}"
            for i, cell in enumerate(saved["cells"])
            if cell["cell_type"] == "code" and "raises-exception" not in cell["metadata"].get("tags", [])
            for o in cell["outputs"]
            if o["output_type"] == "error"
        ]
        assert not errors, f"{path} shows errors (screenshot {shot}):\n" + "\n".join(errors)
        unrun = [i for i, c in enumerate(saved["cells"]) if c["cell_type"] == "code" and c["execution_count"] is None]
        assert not unrun, f"{path}: cells {unrun} never ran (screenshot {shot})"
    finally:
        context.close()
        _shut_down(served, path)


class KernelTraffic:
    """The execute requests the page sends its kernel and the replies it gets, counted off its
    websocket: every cell the page sent is done when its reply is in."""

    def __init__(self, page):
        self.requests, self.replies, self.last_count = 0, 0, 0
        page.on("websocket", lambda ws: (ws.on("framesent", self._sent), ws.on("framereceived", self._received)))

    def _sent(self, frame) -> None:
        if _msg_type(frame) == "execute_request":
            self.requests += 1

    def _received(self, frame) -> None:
        if _msg_type(frame) == "execute_reply":
            self.replies += 1
            count = re.search(r'"execution_count":\s*(\d+)', _text(frame))
            self.last_count = max(self.last_count, int(count.group(1)) if count else 0)


def _text(frame) -> str:
    return frame.decode("latin-1") if isinstance(frame, (bytes, bytearray)) else frame


def _msg_type(frame) -> str | None:
    # The message's own header comes first in both of Jupyter's websocket formats.
    found = re.search(r'"msg_type":\s*"(\w+)"', _text(frame))
    return found.group(1) if found else None


def _until_done(lab, session: dict, page, traffic: KernelTraffic, cells: int, name: str) -> None:
    """Until the page has sent all `cells` code cells and has every reply, shows the last number,
    and the server reports the kernel idle. Neither the `[*]` marks (Lab clears them after an
    error while the kernel still runs the cells) nor the execution_state alone tell: ipykernel 7
    reports idle after a widget's control request while a cell still runs."""
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while traffic.requests < cells or traffic.replies < traffic.requests:
        if time.monotonic() > deadline:
            shot = _screenshot(page, f"{name}-timeout")
            pytest.fail(
                f"{name}: {traffic.replies} of {cells} cells done after {RUN_TIMEOUT_S} s "
                f"({traffic.requests} sent; screenshot {shot})"
            )
        page.wait_for_timeout(250)  # Playwright hands the frames over while the page is waited on
    numbers = (
        "() => Math.max(0, ...[...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputArea-prompt')]"
        ".map(e => +((e.innerText.match(/\\d+/) || [0])[0])))"
    )
    last = traffic.last_count
    _until(lambda: page.evaluate(numbers) >= last, 30, f"{name}: the page shows [{last}]")
    _until(lambda: _kernel(lab, session)["execution_state"] == "idle", 30, f"{name}: the kernel idle")


def _until(condition, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {timeout_s} s"
        time.sleep(0.2)


def _widgets_drawn(page, saved: dict, timeout_s: float = 30) -> int:
    """Each widget output the notebook holds is drawn in its cell: not "Loading widget…", not an
    error, and with a size. Returns how many."""
    widget_cells = [
        i
        for i, c in enumerate(saved["cells"])
        if any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in c.get("outputs", []))
    ]
    deadline = time.monotonic() + timeout_s
    while "Loading widget" in page.locator(".jp-Notebook").inner_text() and time.monotonic() < deadline:
        time.sleep(0.2)
    for i in widget_cells:
        out = page.locator(".jp-Notebook .jp-Cell").nth(i).locator(".jp-OutputArea")
        text = out.inner_text()
        assert "Loading widget" not in text, f"cell {i}: a widget never rendered (still 'Loading widget…')"
        assert "Error displaying widget" not in text, f"cell {i}: {text[:200]}"
        drawn = out.locator(".jp-OutputArea-output .lm-Widget").first
        box = drawn.bounding_box() if drawn.count() else None
        assert box and box["height"] > 0, f"cell {i}: its widget has nothing drawn"
    return len(widget_cells)


def _save(page, lab, path: str) -> dict:
    """Save as a person would (Ctrl+S) and read back what the page holds: outputs, counts, tags."""
    before = _api(lab, f"/api/contents/{path}?content=0")["last_modified"]
    page.keyboard.press("Escape")
    page.keyboard.press("Control+s")
    deadline = time.monotonic() + 30
    while _api(lab, f"/api/contents/{path}?content=0")["last_modified"] == before:
        assert time.monotonic() < deadline, f"{path} was not saved"
        time.sleep(0.2)
    return _api(lab, f"/api/contents/{path}")["content"]


def _screenshot(page, name: str) -> Path:
    """The whole notebook in one picture: a window as tall as its content, scrolled to the top."""
    height = page.evaluate(
        "() => Math.max(...[...document.querySelectorAll('.jp-WindowedPanel-outer, .jp-Notebook')].map(e => e.scrollHeight))"
    )
    page.set_viewport_size({"width": 1280, "height": min(max(height + 200, 900), 16_000)})
    page.evaluate(
        "() => document.querySelectorAll('.jp-WindowedPanel-outer, .jp-Notebook').forEach(e => e.scrollTop = 0)"
    )
    time.sleep(0.5)
    out = RESULTS / "notebooks" / f"{name}.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(out))
    return out


def _session_when_idle(lab, path: str, timeout_s: float = 90) -> dict:
    """The page's session once its kernel is started, idle and connected (a click before is lost)."""
    deadline = time.monotonic() + timeout_s
    while True:
        for s in _api(lab, "/api/sessions"):
            if s["path"] == path and s["kernel"]:
                try:
                    k = _kernel(lab, s)
                except urllib.error.HTTPError:  # 500 while it starts (no last_activity yet)
                    k = {}
                if k.get("execution_state") == "idle" and k.get("connections"):
                    time.sleep(0.5)
                    return s
        assert time.monotonic() < deadline, f"{path}: its kernel did not start in {timeout_s:.0f} s"
        time.sleep(0.2)


def _kernel(lab, session: dict) -> dict:
    return _api(lab, f"/api/kernels/{session['kernel']['id']}")


def _shut_down(lab, path: str) -> None:
    for s in _api(lab, "/api/sessions"):
        if s["path"] == path:
            _api(lab, f"/api/sessions/{s['id']}", method="DELETE")


def _api(lab, route: str, method: str = "GET"):
    request = urllib.request.Request(
        lab["url"] + route, method=method, headers={"Authorization": f"token {lab['token']}"}
    )
    with urllib.request.urlopen(request, timeout=10) as r:
        body = r.read()
    return json.loads(body) if body else None
