"""Release hygiene: `python -m build` from a checkout without `make` gives an sdist and a wheel
that hold the preview bundle and the bundled pipelines, and `%load_ext lfwb` + a generation on
smollm2 work from that wheel installed in a virtualenv of its own.

The build runs offline (`--no-isolation`: hatchling and build come with the dev extra). The new
virtualenv gets the wheel with `--no-deps`, then a .pth file naming this environment's
site-packages for the dependencies (torch, llama-cpp-python...): nothing is downloaded again.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import site
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

import lfwb
from conftest import ROOT

pytestmark = pytest.mark.slow

BUNDLE = {"lfwb/static/runtime.js", "lfwb/static/host.js", "lfwb/static/motion.js"}
PIPELINES = {
    "lfwb/pipelines/ui-component.yaml",
    "lfwb/pipelines/ui-component-code.yaml",
    "lfwb/pipelines/code-review.yaml",
}

FROM_THE_WHEEL = """
import json, lfwb
from IPython.core.interactiveshell import InteractiveShell
from lfwb.pipelines.library import bundled_names
from lfwb.preview.runtime import runtime_page

ip = InteractiveShell.instance()
ip.run_line_magic("load_ext", "lfwb")
result = ip.run_cell_magic("lfw", "generate --max-tokens 8 --temperature 0 --seed 1", "Say hello.")
page = runtime_page("export default function A() { return <b>hi</b>; }")
print(json.dumps({
    "file": lfwb.__file__, "version": lfwb.__version__, "status": result.status, "text": result.text,
    "pipelines": bundled_names(), "page": len(page),
}))
"""


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    """`python -m build` on a copy of the checkout as git has it, without lfwb/static (a fresh
    clone): the sdist and the wheel, in their folder."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs a git checkout")
    for module in ("build", "hatchling"):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"needs {module} (the dev extra)")
    modules = ROOT / "extension" / "node_modules"
    if not modules.is_dir() or shutil.which("node") is None:
        pytest.skip("needs Node.js and extension/node_modules (make setup) to build the bundle offline")
    work = tmp_path_factory.mktemp("release")
    src = work / "src"
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.decode()
    for name in filter(None, files.split("\0")):
        if (ROOT / name).is_file():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, src / name)
    assert not (src / "lfwb" / "static").exists()  # git ignores it: the build must make it
    (src / "extension" / "node_modules").symlink_to(modules)  # what `npm ci` installs, without the download
    os.utime(src / "extension" / "package-lock.json", (0, 0))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(work / "dist"), str(src)],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return work / "dist"


def test_the_wheel_and_sdist_hold_the_preview_bundle_and_the_bundled_pipelines(dist):
    (wheel,) = dist.glob("lfwb-*.whl")
    (sdist,) = dist.glob("lfwb-*.tar.gz")
    assert wheel.name == f"lfwb-{lfwb.__version__}-py3-none-any.whl" and sdist.name == f"lfwb-{lfwb.__version__}.tar.gz"
    names = set(zipfile.ZipFile(wheel).namelist())
    assert BUNDLE | PIPELINES | {"lfwb/runtimes/prices.json"} <= names
    assert all(zipfile.ZipFile(wheel).getinfo(name).file_size > 1000 for name in BUNDLE)
    metadata = zipfile.ZipFile(wheel).read(f"lfwb-{lfwb.__version__}.dist-info/METADATA").decode()
    assert re.search(rf"^Version: {re.escape(lfwb.__version__)}$", metadata, re.M)
    assert "Provides-Extra: browse" in metadata
    import tarfile

    shipped = {n.split("/", 1)[1] for n in tarfile.open(sdist).getnames() if "/" in n}
    assert BUNDLE <= shipped  # installing from the sdist needs no Node


def test_the_version_is_written_once():
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'dynamic = ["version"]' in pyproject and not re.search(r"^version\s*=", pyproject, re.M)
    assert f"## {lfwb.__version__}" in (ROOT / "CHANGELOG.md").read_text()


def test_load_ext_and_a_generation_work_from_the_installed_wheel(dist, tmp_path):
    (wheel,) = dist.glob("lfwb-*.whl")
    env = tmp_path / "venv"
    venv.create(env, with_pip=False)
    python = env / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", "-q", str(wheel)],
        check=True,
        timeout=300,
    )
    # After the install (pip would take this environment's lfwb for the one asked for): the
    # dependencies come from here. A path in a .pth file is added as is: its own .pth files (our
    # editable lfwb) are not read.
    (purelib,) = env.glob("lib/python*/site-packages")
    (purelib / "lfwb-test-deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    clean = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "LFWB_DB")}
    done = subprocess.run(
        [str(python), "-c", FROM_THE_WHEEL],
        cwd=tmp_path,
        env={**clean, "LFWB_DB": str(tmp_path / "from-wheel.db")},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    import json

    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["file"].startswith(str(purelib))  # the wheel's lfwb, not this checkout's
    assert seen["version"] == lfwb.__version__
    assert seen["status"] == "done" and seen["text"].strip()
    assert {"ui-component", "code-review"} <= set(seen["pipelines"])
    assert seen["page"] > 100_000  # the runtime page with the bundle inlined
    script = env / "bin" / "lfwb"
    assert (
        subprocess.run([str(script), "browse", "--help"], capture_output=True, env=clean, timeout=120).returncode == 0
    )
