"""Shared fixtures: a fresh store file per test, the kernel Workbench on it, a real IPython shell."""

from __future__ import annotations

import logging
import os
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# `server`: lfwb serve on 127.0.0.1 for tests/test_server_*.py; `fake_gemini`: the fake Gemini API.
pytest_plugins = ["server_fixtures", "gemini_server"]

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


@pytest.fixture
def embedded(monkeypatch: pytest.MonkeyPatch) -> list:
    """Every batch MiniLM is asked to embed, refused: a test where none may be asserts this stays empty."""
    from lfwb.chat import embeddings

    batches: list = []

    def embed(texts):
        batches.append(list(texts))
        raise RuntimeError("MiniLM was asked to embed")

    monkeypatch.setattr(embeddings, "embed", embed)
    return batches


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
    # IPython stops updating `_` for good once `_`, `__` or `___` differs from its displayhook's
    # own (a test that set or restored one): absent, they are filled in again by the next result.
    for unders in ("_", "__", "___"):
        _shell.user_ns.pop(unders, None)
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


def plain(text: str) -> str:
    """`text` as the user reads it: the ANSI colours of an error's name removed."""
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def one_line(seen: str) -> str:
    """What the user saw, without colours; it must be one line and no traceback."""
    seen = plain(seen).strip()
    assert seen and "Traceback" not in seen and len(seen.splitlines()) == 1, seen
    return seen


def attempt(ip, cell: str, capsys, caplog) -> tuple[bool, str]:
    """Run `cell`; was it refused, and what did the user see (colours removed)?

    `%config` reports a refused value through logging, not as a failed cell.
    """
    capsys.readouterr()
    caplog.clear()
    with caplog.at_level(logging.ERROR):
        result = ip.run_cell(cell, store_history=True)
    out = capsys.readouterr()
    logged = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    seen = plain("\n".join([out.out, out.err, *logged])).strip()
    return (not result.success or bool(logged)), seen


def refused_in_one_line(ip, cell: str, capsys, caplog) -> str:
    refused, seen = attempt(ip, cell, capsys, caplog)
    assert refused, f"{cell!r} was taken: {seen!r}"
    return one_line(seen)


def eventually(predicate: Callable[[], object], timeout: float = 30.0, what: str = "the condition"):
    """`predicate()`'s first truthy value, polled until `timeout` (a bound: reaching it fails the test)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def raw(path) -> sqlite3.Connection:
    """A plain sqlite3 connection of our own to a store file (autocommit, rows by column name)."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.row_factory = sqlite3.Row
    return conn


def loaded(manager) -> set[str]:
    """The names of the models loaded now."""
    return {r["name"] for r in manager.list() if r["loaded"]}


def symlink_out(folder: Path) -> None:
    """`out/link` in `folder`: a symlink to a folder beside `out`, for exports that must not follow it."""
    (folder / "out").mkdir()
    (folder / "elsewhere").mkdir()
    (folder / "out" / "link").symlink_to(folder / "elsewhere")


def table_counts(path: str) -> dict[str, int]:
    """Rows in every table of the store file, read through a connection of our own."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {name: conn.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0] for name in names}
    finally:
        conn.close()


_immutable: list[Path] = []  # made read-only for root by read_only_store_at, undone after each test


def read_only_store_at(path: Path) -> Path:
    """An lfwb store (one project, `kept`) at `path` that this process cannot write: mode 0444,
    and for root, who writes any file whatever its mode, immutable too (`chattr +i`, undone after
    the test). Skips the test where root has no chattr."""
    from lfwb.store import Store

    store = Store(path)
    store.create_project("kept")
    store.close()
    path.chmod(0o444)
    if os.geteuid() == 0:
        if subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode:
            pytest.skip("running as root without chattr: no file here is read-only")
        _immutable.append(path)
    return path


@pytest.fixture(autouse=True)
def _writable_again():
    yield
    while _immutable:
        subprocess.run(["chattr", "-i", str(_immutable.pop())], capture_output=True)


@pytest.fixture
def scripted(wb, monkeypatch: pytest.MonkeyPatch):
    """`wb` with the scripted backends added (tests/fixtures/scripted.py): no llama.cpp, no files.

    `scripted.model("fake", words("Once upon a time"))` registers a model that streams those
    tokens and returns its Script (`.asked`, `.log`).
    """
    from fixtures.scripted import Scripted, ScriptedRuntime

    monkeypatch.setattr(ScriptedRuntime, "scripts", {})  # each test its own scripts
    return Scripted(wb)


SMALL_WINDOW = 400  # the `small` model's window: a chat of a dozen turns folds into a summary


@pytest.fixture
def small(scripted):
    """A scripted model `small` with a 400-token window (counted by the runtime's estimate: 4
    characters a token); returns its Script."""
    from fixtures.scripted import Script, ScriptedRuntime, words

    ScriptedRuntime.scripts["small"] = script = Script(words("Sure, noted: " + "all of it " * 6))
    scripted.manager.register(name="small", runtime="scripted", source="small", context_length=SMALL_WINDOW)
    return script


@pytest.fixture
def retry_clock(monkeypatch: pytest.MonkeyPatch):
    """A FakeClock for the remote backends' retries (`Retries.clock` and `Retries.wait`): a test
    reads the waits lfwb chose between attempts from it, exactly, and nobody waits them out.
    A fake server that stamps its requests with it sees those waits as the gaps between them."""
    from fixtures.scripted import FakeClock
    from lfwb.runtimes.remote import Retries

    clock = FakeClock()

    def wait(cancel: threading.Event, seconds: float) -> bool:
        if not cancel.is_set():
            clock.sleep(seconds)
        return cancel.is_set()

    monkeypatch.setattr(Retries, "clock", staticmethod(clock))
    monkeypatch.setattr(Retries, "wait", staticmethod(wait))
    return clock


@pytest.fixture
def sigint():
    """Python's own SIGINT handler for a test that interrupts (processes here may inherit SIGINT ignored)."""
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
        sent.append(
            dict(
                at=time.perf_counter(),
                data=data,
                metadata=metadata or {},
                display_id=(transient or {}).get("display_id"),
                update=update,
            )
        )
        return real(data, metadata, *args, transient=transient, update=update, **kwargs)

    monkeypatch.setattr(ip.display_pub, "publish", publish)
    return sent


def last_shown(published: list[dict]) -> dict[int, dict]:
    """What each run's display in the cell showed last, by run id (from `published`)."""
    return {
        m["metadata"]["lfwb"]["run_id"]: m["data"]
        for m in published
        if m["metadata"].get("lfwb", {}).get("run_id") is not None
    }


def stop_when_shown(
    ip, monkeypatch, shows: Callable[[dict, dict], bool], first: Callable[[], object] = lambda: None
) -> None:
    """Press stop (SIGINT to the main thread, from another) once, the first time the cell's display
    `shows(data, metadata)`; `first` runs on that thread before the press (e.g. waits for a stall)."""
    main, real, pressed = threading.main_thread().ident, ip.display_pub.publish, []

    def press() -> None:
        first()
        signal.pthread_kill(main, signal.SIGINT)

    def publish(data, metadata=None, *args, **kwargs):
        real(data, metadata, *args, **kwargs)
        if not pressed and shows(data, metadata or {}):
            pressed.append(True)
            threading.Thread(target=press).start()

    monkeypatch.setattr(ip.display_pub, "publish", publish)
