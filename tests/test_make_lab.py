"""`make lab` and `make notebook` open the first notebook, as root too (containers, cloud machines):
Jupyter refuses root without --allow-root, so the Makefile passes it exactly when uid is 0."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIRST = "notebooks/01-quickstart.ipynb"
# The venv's bin/ the suite runs from: `make` is told to use it and not to redo the set-up.
BIN = Path(sys.executable).parent
MAKE = ["make", "--no-print-directory", "-o", "setup", f"BIN={BIN}"]


def _as_uid(tmp_path: Path, uid: int) -> dict:
    """An environment whose `id -u` answers `uid`."""
    fake = tmp_path / f"uid{uid}"
    fake.mkdir()
    (fake / "id").write_text(f'#!/bin/sh\n[ "$1" = "-u" ] && echo {uid} || exec /usr/bin/id "$@"\n')
    (fake / "id").chmod(0o755)
    return {**os.environ, "PATH": f"{fake}:{os.environ['PATH']}"}


@pytest.mark.parametrize("target", ["lab", "notebook"])
def test_the_command_line_allows_root_only_for_root(tmp_path, target):
    lines = {}
    for uid in (0, 1000):
        out = subprocess.run(
            [*MAKE, "-n", target], cwd=ROOT, env=_as_uid(tmp_path, uid), capture_output=True, text=True
        )
        assert out.returncode == 0, out.stderr
        lines[uid] = out.stdout.split()
    assert lines[0] == [f"{BIN}/jupyter", target, "--allow-root", FIRST]
    assert lines[1000] == [f"{BIN}/jupyter", target, FIRST]


@pytest.mark.slow
@pytest.mark.parametrize("target", ["lab", "notebook"])
def test_make_opens_the_first_notebook_as_whoever_runs_it(tmp_path, target):
    """The real command as this user (root in a container): the server starts and asks the
    browser for the first notebook's page; the notebook is there to open."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    opened = tmp_path / "opened"
    browser = tmp_path / "browser"
    browser.write_text(f'#!/bin/sh\necho "$1" >> {opened}\n')
    browser.chmod(0o755)
    env = {
        **os.environ,
        "BROWSER": f"{browser} %s",
        "JUPYTER_PORT": str(port),
        "JUPYTER_TOKEN": "make-lab-test",
        "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
    }
    log = open(tmp_path / "make.log", "w")
    proc = subprocess.Popen(
        [*MAKE, target], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 300  # a bound: Jupyter starts slowly on a busy machine
        while not (opened.exists() and opened.read_text().strip()):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"make {target} opened nothing:\n" + (tmp_path / "make.log").read_text()[-3000:])
            time.sleep(0.3)
        url = opened.read_text().split()[0]
        if url.startswith("file://"):  # Jupyter's redirect page, which holds the real address
            url = re.search(r'url=(http[^"]+)"', Path(url[len("file://") :]).read_text()).group(1)
        # Jupyter serves the notebook's folder and opens the notebook's page in it.
        page = re.fullmatch(rf"http://(?:localhost|127\.0\.0\.1):{port}(/lab/tree/|/tree/|/notebooks/)([^?]+)\?.*", url)
        assert page, url
        with urllib.request.urlopen(url.replace("localhost", "127.0.0.1"), timeout=60) as r:
            assert r.status == 200
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/contents/{page.group(2)}?content=0",
            headers={"Authorization": "token make-lab-test"},
        )
        with urllib.request.urlopen(request, timeout=60) as r:
            model = json.load(r)
        assert (model["type"], model["name"]) == ("notebook", Path(FIRST).name)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()
