"""The store in Datasette, read-only, on 127.0.0.1: `%lfw browse` and `lfwb browse`.

    >>> browser = start("lfwb.db")          # returns once Datasette answers
    >>> browser.url                         # http://127.0.0.1:PORT/lfwb
    >>> browser.stop()

Datasette runs as a process of its own, never inside the kernel: it imports pysqlite3 or
sqlean when they are installed, and a second SQLite library in the process that writes the
store could corrupt the file (two copies of SQLite's locks know nothing of each other).

It serves the file read-only: Datasette reads a file it was not told is writable through
`mode=ro` connections and refuses any SQL but a SELECT (`lfwb browse` adds no write
permission), so the notebook keeps writing while a person reads. The full-text indexes
(`contexts_fts`, `runs_fts`, `context_chunks_fts`) give the tables a search box; the canned
queries below are links on the database's page. Datasette is an optional extra:
`pip install 'lfwb[browse]'`.
"""

from __future__ import annotations

import atexit
import importlib.util
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from .errors import BadInput, LfwbError

HOST = "127.0.0.1"  # the store holds prompts and answers: this machine only
START_TIMEOUT_S = 60.0  # Datasette imports a lot; a busy 2-core machine takes a while
INSTALL = "pip install 'lfwb[browse]'"

QUERIES = {
    "runs_per_model": {
        "title": "Runs per model",
        "description": "Generations, chat turns and compare lanes by the model that answered.",
        "sql": "SELECT coalesce(answered_by, model) AS model, count(*) AS runs,\n"
        "  sum(output_tokens) AS tokens_out, round(avg(duration_ms) / 1000.0, 2) AS avg_seconds,\n"
        "  round(sum(coalesce(cost_usd, 0)), 6) AS cost_usd\n"
        "FROM runs WHERE kind != 'pipeline' AND model IS NOT NULL\n"
        "GROUP BY 1 ORDER BY runs DESC",
    },
    "cost_per_day": {
        "title": "Cost per day",
        "description": "What the runs cost, by the day they started (a parent run's cost is its children's).",
        "sql": "SELECT date(started_at) AS day, count(*) AS runs,\n"
        "  round(sum(coalesce(cost_usd, 0)), 6) AS cost_usd\n"
        "FROM runs WHERE id NOT IN (SELECT parent_id FROM runs WHERE parent_id IS NOT NULL)\n"
        "GROUP BY day ORDER BY day DESC",
    },
    "slowest_steps": {
        "title": "Slowest pipeline steps",
        "description": "Each step's seconds, with how long it waited for its model before it ran.",
        "sql": "SELECT s.run_id, s.name AS step, coalesce(s.answered_by, s.model) AS model, s.status,\n"
        "  round(s.duration_ms / 1000.0, 2) AS seconds,\n"
        "  round(coalesce(s.waited_ms, 0) / 1000.0, 2) AS waited_seconds, s.output_tokens\n"
        "FROM steps s WHERE s.duration_ms IS NOT NULL\n"
        "ORDER BY s.duration_ms DESC LIMIT 50",
    },
}
SEARCHABLE = {"contexts": "contexts_fts", "runs": "runs_fts", "context_chunks": "context_chunks_fts"}
HIDDEN = ("_lfwb_migrations", "context_vector_changes", "sent_unused")  # bookkeeping, not the user's records


class BrowseError(LfwbError):
    """Datasette is not installed, or did not start."""


def metadata(database: str) -> dict:
    """Datasette's metadata for the store served as `database`: title, searches, canned queries."""
    tables: dict[str, dict] = {name: {"fts_table": fts, "fts_pk": "id"} for name, fts in SEARCHABLE.items()}
    tables.update({name: {"hidden": True} for name in HIDDEN})
    return {
        "title": "lfwb store (read-only)",
        "description": "Projects, contexts, runs, pipeline steps and artifacts, as lfwb wrote them.",
        "databases": {database: {"tables": tables, "queries": QUERIES}},
    }


def installed() -> bool:
    """Is Datasette installed (looked up, not imported: it stays out of this process)?"""
    return importlib.util.find_spec("datasette") is not None


@dataclass
class Browser:
    """A Datasette process serving one store file."""

    path: str
    port: int
    process: subprocess.Popen
    _metadata: str = field(repr=False)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/{database_name(self.path)}"

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def status(self) -> dict:
        return {"browse": self.url if self.running else "stopped", "store": self.path}

    def stop(self) -> None:
        if self.running:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        Path(self._metadata).unlink(missing_ok=True)
        _running.pop(self.path, None)


_running: dict[str, Browser] = {}  # one Datasette per store file, per process


def database_name(path: str) -> str:
    return Path(path).stem  # Datasette names a database by its file's stem


def start(path: str | os.PathLike, port: int = 0) -> Browser:
    """Serve `path` read-only in Datasette on 127.0.0.1 (`port` 0: a free one); returns once it
    answers. A store already being browsed from this process gives its running Browser."""
    path = str(Path(path).resolve())
    if path in _running and _running[path].running:
        return _running[path]
    if not installed():
        raise BrowseError(f"browsing the store needs Datasette, which is not installed — {INSTALL}")
    if not Path(path).is_file():
        raise BadInput(f"no store at {path} — open it once (e.g. %load_ext lfwb) or give its path")
    port = _free_port(port)
    with tempfile.NamedTemporaryFile("w", suffix=".json", prefix="lfwb-browse-", delete=False) as f:
        json.dump(metadata(database_name(path)), f)
    command = [sys.executable, "-m", "datasette", "serve", path, "--host", HOST, "--port", str(port)]
    command += ["--metadata", f.name, "--setting", "sql_time_limit_ms", "5000"]
    log = tempfile.TemporaryFile()
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    browser = Browser(path, port, process, f.name)
    _wait_until_up(browser, log)
    _running[path] = browser
    return browser


def stop_all() -> list[str]:
    """Stop every Datasette this process started; returns the stores they served."""
    stopped = list(_running)
    for browser in list(_running.values()):
        browser.stop()
    return stopped


atexit.register(stop_all)  # a Datasette outliving its kernel would hold the port, serving nobody


def _wait_until_up(browser: Browser, log) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            urllib.request.urlopen(f"http://{HOST}:{browser.port}/-/versions.json", timeout=2).read()
            return
        except OSError:
            if not browser.running or time.monotonic() > deadline:
                browser.stop()
                log.seek(0)
                said = log.read().decode(errors="replace").strip().splitlines()
                said = [line for line in said if "error" in line.lower()] or said  # not its shutdown notes
                raise BrowseError(
                    f"Datasette did not start on port {browser.port}: {said[-1] if said else 'no output'}"
                ) from None
            time.sleep(0.2)


def _free_port(port: int = 0) -> int:
    """`port` if nothing listens on it (0: a free one): checked here, so a bad or taken port is one
    line at once rather than Datasette's own log after its start."""
    if not 0 <= port <= 65535:
        raise BadInput(f"--port must be from 0 to 65535, got {port}")
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as Datasette's server binds it
        try:
            s.bind((HOST, port))
        except OSError as e:
            raise BadInput(
                f"cannot listen on {HOST}:{port}: {e.strerror or e} — try another --port, or --port 0 for a free one"
            ) from None
        return s.getsockname()[1]
