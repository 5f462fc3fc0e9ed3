"""binder/postBuild in a fresh virtualenv that holds only the Node.js binder/requirements.txt
brings, on a copy of the repository without its bundle: the preview it builds renders a
component (framer-motion included) in Chromium, as `%%lfw jsx` on mybinder would."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]

BANNER = """import { motion } from "framer-motion";
export default function Banner({ title = "Built on binder" }) {
  return <motion.h1 id="title" animate={{ opacity: 1 }}>{title}</motion.h1>;
}"""


def test_postbuild_in_a_fresh_virtualenv_builds_a_preview_that_renders(tmp_path, page, render_in_runtime, monkeypatch):
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT, capture_output=True
    )
    if listed.returncode != 0:
        pytest.skip("needs the repository's git checkout (the files binder would clone)")
    repo = tmp_path / "repo"
    for name in filter(None, listed.stdout.decode().split("\0")):
        if (ROOT / name).is_file():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, repo / name)
    assert not (repo / "lfwb" / "static").exists()

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    node = [
        line for line in (repo / "binder" / "requirements.txt").read_text().splitlines() if line.startswith("nodejs")
    ]
    pip = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", *node],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert pip.returncode == 0, pip.stderr[-2000:]

    # The virtualenv first on PATH, as mybinder's environment is; no other Python or Node before it.
    env = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": os.environ.get("HOME", str(tmp_path)), "LANG": "C.UTF-8"}
    found = subprocess.run(["bash", "-c", "command -v node npm"], env=env, capture_output=True, text=True)
    assert found.stdout.split() == [str(venv / "bin" / "node"), str(venv / "bin" / "npm")]
    built = subprocess.run(
        [str(repo / "binder" / "postBuild")], cwd=repo, env=env, capture_output=True, text=True, timeout=400
    )
    assert built.returncode == 0, (built.stdout + built.stderr)[-3000:]
    assert {p.name for p in (repo / "lfwb" / "static").iterdir()} >= {"runtime.js", "motion.js", "host.js"}
    assert not (repo / "extension" / "node_modules").exists()

    from lfwb.preview import runtime

    monkeypatch.setattr(runtime, "STATIC", repo / "lfwb" / "static")
    shown = render_in_runtime(page, BANNER, timeout_ms=20_000)
    assert shown["status"] == "ready", shown["error"]
    assert shown["frame"].locator("#title").inner_text() == "Built on binder"
