"""Take docs/assets/session.png: JupyterLab running the quick-start notebook, in headless Chromium.

    .venv/bin/python docs/tools/screenshot.py [--cells 6]

A JupyterLab server on 127.0.0.1 at a free port, in a temporary folder holding a copy of
notebooks/01-quickstart.ipynb; Debian's Chromium (Playwright, executable_path) opens it, runs its
first --cells cells one by one as a person would (Shift+Enter), waits for each to finish and
saves the window. The models are the real ones: SmolLM2 answers on this machine's CPU.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("LFWB_CHROMIUM", "/usr/bin/chromium")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_lab(root: Path) -> tuple[subprocess.Popen, str, str]:
    port, token = free_port(), "lfwb-docs-screenshot"
    settings = root / ".jupyter" / "lab" / "user-settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text('{"fetchNews": "false"}')
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(root / ".jupyter"),
        "JUPYTER_RUNTIME_DIR": str(root / ".runtime"),
        "JUPYTER_DATA_DIR": str(root / ".data"),
    }
    command = [
        sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
        f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}", "--LabApp.news_url=",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        *(["--allow-root"] if os.geteuid() == 0 else []),
    ]  # fmt: skip
    proc = subprocess.Popen(
        command, cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2).read()
            return proc, url, token
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise SystemExit("JupyterLab did not start in 90 s") from None
            time.sleep(0.3)


def run_cells(page, count: int) -> None:
    cells = page.locator(".jp-Notebook .jp-CodeCell")
    for index in range(min(count, cells.count())):
        cell = cells.nth(index)
        prompt = cell.locator(".jp-InputArea-prompt")
        cell.locator(".jp-InputArea-editor").click()
        page.keyboard.press("Shift+Enter")
        deadline = time.monotonic() + 180
        while not re.search(r"\[\d+\]", prompt.inner_text()):
            if time.monotonic() > deadline:
                raise SystemExit(f"cell {index} did not finish in 180 s")
            time.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=6, help="how many code cells to run (default 6)")
    parser.add_argument("--out", default=str(ROOT / "docs" / "assets" / "session.png"))
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="lfwb-screenshot-") as folder:
        root = Path(folder)
        shutil.copy(ROOT / "notebooks" / "01-quickstart.ipynb", root / "01-quickstart.ipynb")
        proc, url, token = start_lab(root)
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
                page = browser.new_page(viewport={"width": 1280, "height": 1000}, device_scale_factor=1)
                page.set_default_timeout(60_000)
                page.goto(f"{url}/lab/tree/01-quickstart.ipynb?reset&token={token}")
                page.locator(".jp-Notebook .jp-CodeCell").first.wait_for()
                page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").wait_for(timeout=120_000)
                run_cells(page, args.cells)
                time.sleep(1)
                # The file browser closed, and the notebook scrolled to the first generate cell.
                page.locator("#jp-main-dock-panel").click(position={"x": 5, "y": 5})
                page.keyboard.press("Control+b")
                page.mouse.move(700, 500)
                page.mouse.wheel(0, 170)
                time.sleep(1)
                page.screenshot(path=args.out)
                browser.close()
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=20)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
