"""Shared fixtures: a fresh store file per test, the kernel Workbench on it, a real IPython shell."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytest_plugins = ["server_fixtures"]  # `server`: lfwb serve on 127.0.0.1 for tests/test_server_*.py

# The suite leases CPU cores among its own generations only (lfwb/runtimes/cpu.py): a notebook or
# another test run on the same machine must not change how many threads a test sees. The notebooks'
# kernels inherit it.
os.environ.setdefault("LFWB_CORES_DIR", tempfile.mkdtemp(prefix="lfwb-test-cores-"))


@pytest.fixture(autouse=True)
def _no_real_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's own Gemini key must neither register models nor reach a test."""
    for name in ("GEMINI_API_KEY", "GOOGLE_API_KEY", "GOOGLE_GEMINI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "lfwb.db"


@pytest.fixture
def store(db_path: Path):
    from lfwb.store import Store

    s = Store(db_path)
    yield s
    s.close()


@pytest.fixture
def wb(db_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The kernel Workbench (`lfwb.workbench()`), on a fresh store file."""
    from lfwb.workbench import reset_workbench, workbench

    monkeypatch.setenv("LFWB_DB", str(db_path))
    reset_workbench()
    w = workbench()
    yield w
    reset_workbench()


@pytest.fixture(scope="session")
def _shell():
    from IPython.testing.globalipapp import start_ipython

    shell = start_ipython()
    shell.run_line_magic("load_ext", "lfwb")
    return shell


@pytest.fixture
def ip(_shell, wb, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A real IPython shell with lfwb loaded, working in tmp_path, on the `wb` store.

    `ip.run_cell(...)` returns IPython's ExecutionResult; `.result` is what the magic returned.
    """
    monkeypatch.chdir(tmp_path)
    _shell.user_ns.pop("_", None)
    yield _shell
    # `%config Lfwb.X = ...` in one test must not reach the next (db_path would win over LFWB_DB).
    from lfwb.config import Lfwb

    for configurable in _shell.configurables:
        if isinstance(configurable, Lfwb):
            for name, trait in configurable.traits(config=True).items():
                setattr(configurable, name, trait.default())
    # A failed cell leaves sys.last_value behind; keep tests independent.
    for name in ("last_type", "last_value", "last_traceback"):
        if hasattr(sys, name):
            delattr(sys, name)


def run_ok(shell, cell: str):
    """Run a cell and fail the test with the error if it raised."""
    result = shell.run_cell(cell, store_history=True)
    if not result.success:
        raise AssertionError(f"cell failed: {result.error_in_exec or result.error_before_exec!r}")
    return result.result


def run_error(shell, cell: str, capsys) -> str:
    """Run a cell that must fail; return what the user saw (one line expected)."""
    capsys.readouterr()
    result = shell.run_cell(cell, store_history=True)
    assert not result.success, f"cell should have failed: {cell!r}"
    out = capsys.readouterr()
    return (out.out + out.err).strip()


@pytest.fixture
def scripted(wb, monkeypatch: pytest.MonkeyPatch):
    """`wb` with the scripted backends added (tests/fixtures/scripted.py): no llama.cpp, no files.

    `scripted.model("fake", words("Once upon a time"))` registers a model that streams those
    tokens and returns its Script (`.asked`, `.log`).
    """
    from fixtures.scripted import Scripted, ScriptedRuntime

    monkeypatch.setattr(ScriptedRuntime, "scripts", {})  # each test its own scripts
    return Scripted(wb)


@pytest.fixture
def sigint():
    """Python's own SIGINT handler for a test that interrupts (processes here may inherit SIGINT ignored)."""
    import signal

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.fixture
def published(ip, monkeypatch):
    """Every display message the cell sends: time, data, metadata, display_id, update or not."""
    import time

    sent: list[dict] = []
    real = ip.display_pub.publish

    def publish(data, metadata=None, *args, transient=None, update=False, **kwargs):
        sent.append(dict(at=time.perf_counter(), data=data, metadata=metadata or {},
                         display_id=(transient or {}).get("display_id"), update=update))
        return real(data, metadata, *args, transient=transient, update=update, **kwargs)

    monkeypatch.setattr(ip.display_pub, "publish", publish)
    return sent
