"""Loading the extension is fast and imports no model library."""

from __future__ import annotations

import json
import os
import subprocess
import sys

HEAVY = (
    "torch",
    "transformers",
    "llama_cpp",
    "openai",
    "google.genai",
    "sentence_transformers",
    "fastapi",
    "uvicorn",
    "anywidget",
    "markdown_it",
    "yaml",
    "tree_sitter",
)

PROBE = """
import json, sys, os
os.chdir(sys.argv[1])
from IPython.testing.globalipapp import start_ipython
ip = start_ipython()
ip.run_line_magic("load_ext", "lfwb")
after_load = sorted(m for m in {heavy} + ("sqlite_utils",) if m in sys.modules)
ip.run_line_magic("lfw", "project demo")
ip.run_line_magic("lfw", "runs")
after_use = sorted(m for m in {heavy} if m in sys.modules)
print(json.dumps({{"load": after_load, "use": after_use, "magics": sorted(ip.magics_manager.magics["cell"])}}))
"""


def test_load_ext_imports_no_model_library_nor_the_store_driver(tmp_path):
    code = PROBE.format(heavy=repr(HEAVY))
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        # PYTHONPATH kept: the lfwb under test, not whichever one is installed
        env={
            "LFWB_DB": str(tmp_path / "x.db"),
            "PATH": "/usr/bin:/bin",
            "HOME": str(tmp_path),
            "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
        },
    )
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["load"] == [] and seen["use"] == []
    assert "lfw" in seen["magics"]


def test_workbench_is_one_object_per_kernel(ip, wb):
    import lfwb

    assert lfwb.workbench() is wb
    ip.run_cell("%lfw project shared-state", store_history=True)
    assert lfwb.workbench().project["name"] == "shared-state"


def test_unload_and_reload(ip):
    ip.run_line_magic("unload_ext", "lfwb")
    assert "lfw" not in ip.magics_manager.magics["line"]
    ip.run_line_magic("load_ext", "lfwb")
    assert "lfw" in ip.magics_manager.magics["line"]


def test_reload_ext_keeps_the_loaded_models_reachable(ip, wb, scripted):
    scripted.model("kept", ["still", " here"])
    ip.run_cell("%lfw load kept", store_history=True)
    ip.run_line_magic("reload_ext", "lfwb")
    import lfwb

    assert lfwb.workbench() is wb  # the same manager: no model is left loaded out of reach
    assert [m["loaded"] for m in wb.manager.list() if m["name"] == "kept"] == [True]
    result = ip.run_cell("%%lfw generate -m kept\nsay it", store_history=True)
    assert result.result.text == "still here"


LISTING = """
import json, sys
from IPython.testing.globalipapp import start_ipython
start_ipython().run_line_magic("load_ext", "lfwb")
print(json.dumps(sorted(m for m in sys.modules if m == "lfwb" or m.startswith("lfwb."))))
"""


def test_load_ext_imports_the_lfwb_modules_the_architecture_page_lists(tmp_path):
    import re
    from pathlib import Path

    page = (Path(__file__).parent.parent / "docs" / "architecture.md").read_text(encoding="utf-8")
    claim = page[page.index("`%load_ext lfwb` imports these") :]
    claim = claim[: claim.index("(`tests/test_extension.py` checks this list)")]
    listed = re.findall(r"`(lfwb(?:\.\w+)*)`", claim)
    out = subprocess.run(
        [sys.executable, "-c", LISTING],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={
            "LFWB_DB": str(tmp_path / "x.db"),
            "PATH": "/usr/bin:/bin",
            "HOME": str(tmp_path),
            "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
        },
    )
    assert out.returncode == 0, out.stderr
    loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert loaded == sorted(listed)
    assert f"imports these {len(loaded)} lfwb modules" in page
