"""Browser fixtures: Debian's Chromium driven by Playwright, and a JupyterLab server.

`render_in_runtime(page, source, props)` loads one component's sandboxed frame in a plain page
(no Jupyter) and waits for its first paint or its error: the same runtime page the widget and
the static display use. `lab` is one JupyterLab server for the whole session.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("LFWB_CHROMIUM", "/usr/bin/chromium")
RESULTS = Path(__file__).resolve().parent / "screenshots"

if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
    pytest.skip(f"browser tests need Chromium at {CHROMIUM} (make browser installs Debian's)", allow_module_level=True)


# Package scope, not session: Playwright's sync API keeps an asyncio loop running in this thread
# while it is open, and the tests after these call asyncio.run().
@pytest.fixture(scope="package")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20_000)
    yield page
    context.close()


@pytest.fixture
def render_in_runtime():
    """`render_in_runtime(page, source, props=None, language=None)` → what the frame reported:
    {"status": "ready"|"error", "error": {...} | None, "transpile_ms": float, "frame": FrameLocator}."""
    return _render_in_runtime


def _render_in_runtime(
    page, source: str, props: dict | None = None, language: str | None = None, timeout_ms: int = 10_000
) -> dict:
    from lfwb.preview.runtime import iframe_html, runtime_page

    host = (
        "<!doctype html><html><body><script>window.lfwbMessages = [];"
        "addEventListener('message', (e) => window.lfwbMessages.push(e.data));</script>"
        f"{iframe_html(runtime_page(source, props, language), height=400)}</body></html>"
    )
    page.set_content(host)
    page.wait_for_function(
        "() => window.lfwbMessages.some((m) => m && (m.type === 'ready' || m.type === 'error'))", timeout=timeout_ms
    )
    messages = page.evaluate("() => window.lfwbMessages")
    errors = [m["error"] for m in messages if m.get("type") == "error"]
    ready = [m for m in messages if m.get("type") == "ready"]
    return {
        "status": "error" if errors else "ready",
        "error": errors[0] if errors else None,
        "transpile_ms": ready[0].get("transpile_ms") if ready else None,
        "messages": messages,
        # The component runs one frame inside the wrapper that stops its navigations.
        "frame": page.frame_locator("iframe").frame_locator("iframe"),
    }


def post_props(page, props: dict) -> None:
    """Send props into the plain page's frame, as the widget's host code does."""
    page.evaluate(
        "(props) => document.querySelector('iframe').contentWindow.postMessage("
        "{lfwb: 'host', type: 'props', props}, '*')",
        props,
    )


# -- a JupyterLab server ----------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="package")
def lab(tmp_path_factory):
    """One JupyterLab on 127.0.0.1 for the session: {"url", "token", "root"}; its kernels run
    this interpreter (which imports lfwb) on a store in the server's own folder."""
    root = tmp_path_factory.mktemp("lab")
    port, token = _free_port(), "lfwb-browser-test"
    env = {
        **os.environ,
        "LFWB_DB": str(root / "lab.db"),
        "JUPYTER_CONFIG_DIR": str(root / ".jupyter"),
        "JUPYTER_RUNTIME_DIR": str(root / ".runtime"),
        "JUPYTER_DATA_DIR": str(root / ".data"),
    }
    # No "get notified about Jupyter news?" toast over the cells (and no request for news).
    settings = root / ".jupyter" / "lab" / "user-settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text('{"fetchNews": "false"}')
    log = open(root / "lab.log", "w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyter",
            "lab",
            "--no-browser",
            f"--port={port}",
            "--ip=127.0.0.1",
            f"--IdentityProvider.token={token}",
            "--ServerApp.open_browser=False",
            f"--ServerApp.root_dir={root}",
            "--LabApp.news_url=",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            *(["--allow-root"] if os.geteuid() == 0 else []),
        ],
        cwd=root,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        # Processes here inherit SIGINT ignored; the server's kernels must be interruptible.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2).read()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail("JupyterLab did not start in 60 s:\n" + (root / "lab.log").read_text()[-3000:])
            time.sleep(0.3)
    try:
        yield {"url": url, "token": token, "root": root}
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


def write_notebook(path: Path, cells: list[str]) -> None:
    nb = {
        "cells": [
            {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": c} for c in cells
        ],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path.write_text(json.dumps(nb))
