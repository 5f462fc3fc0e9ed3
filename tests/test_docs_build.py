"""The docs site builds offline in strict mode (`make docs`): a broken link, a nav entry without
its page or a generator that fails is a failed build, so it fails the suite."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from conftest import ROOT


@pytest.mark.slow
def test_the_site_builds_in_strict_mode_with_its_generated_reference(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    site = tmp_path / "site"
    # Every guide is a page; the reference pages were generated from the code.
    for page in ("guide/getting-started", "guide/troubleshooting", "architecture"):
        assert (site / f"{page}.html").exists(), page
    magics = (site / "reference/magics.html").read_text()
    assert "%%lfw generate" in magics and "--max-tokens MAX_TOKENS" in magics
    http = (site / "reference/http.html").read_text()
    assert "/v1/chat/completions" in http and "/api/v1/runs" in http
    assert "openapi" in (site / "reference/openapi.json").read_text()
    python = (site / "reference/python.html").read_text()
    assert "start_generate" in python
    settings = (site / "guide/configuration.html").read_text()
    assert "Lfwb.memory_budget_gb" in settings
    errors = (site / "guide/troubleshooting.html").read_text()
    assert "InsufficientMemory" in errors  # the table of every error class
    # The site reads offline: no web fonts, no CDN.
    assert "fonts.googleapis.com" not in (site / "index.html").read_text()


def test_the_readmes_links_and_screenshot_point_at_files_in_the_repo():
    readme = (ROOT / "README.md").read_text()
    targets = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", readme)
    assert "docs/assets/session.png" in targets
    missing = [t for t in targets if not t.startswith("http") and not (ROOT / t).exists()]
    assert not missing, missing
