"""`%lfw browse` and `lfwb browse`: the store in a real Datasette on 127.0.0.1, read-only, with
its full-text search and canned queries; one line that says how to install it when it is missing."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request

import pytest

from conftest import one_line, run_error, run_ok
from fixtures.scripted import words
from lfwb import browse

pytestmark = pytest.mark.skipif(not browse.installed(), reason="needs the browse extra (Datasette)")


def get(url: str) -> tuple[int, object]:
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


@pytest.fixture
def browsing(ip):
    yield
    run_ok(ip, "%lfw browse --stop")


def test_browse_serves_the_store_read_only_with_search_and_canned_queries(ip, scripted, browsing):
    scripted.model("fake", words("Lighthouses guard the harbour"))
    run_ok(ip, "%%lfw generate -m fake\nTell me about lighthouses")
    shown = run_ok(ip, "%lfw browse")
    url = shown["browse"]
    assert url.startswith("http://127.0.0.1:") and shown["store"] == scripted.wb.path

    status, rows = get(f"{url}/runs_per_model.json?_shape=array")
    assert status == 200 and [(r["model"], r["runs"]) for r in rows] == [("fake", 1)]
    status, rows = get(f"{url}/runs.json?_search=lighthouses&_shape=array")  # runs_fts behind the search box
    assert status == 200 and [r["output"] for r in rows] == ["Lighthouses guard the harbour"]
    for query in ("cost_per_day", "slowest_steps"):
        assert get(f"{url}/{query}.json?_shape=array")[0] == 200

    status, refused = get(f"{url}.json?" + urllib.parse.urlencode({"sql": "DELETE FROM runs"}))
    assert status == 400 and refused["ok"] is False
    assert len(scripted.wb.runs()) == 1  # nothing was deleted
    # Datasette ran in a process of its own: no second SQLite library came into this one.
    assert not {"datasette", "pysqlite3", "sqlean"} & set(sys.modules)


def test_browse_stop_ends_datasette_and_its_port_goes_quiet(ip, scripted):
    url = run_ok(ip, "%lfw browse")["browse"]
    (browser,) = browse._running.values()
    assert run_ok(ip, "%lfw browse --stop")["browse"] == "stopped"
    assert browser.process.poll() is not None
    with pytest.raises(OSError):
        urllib.request.urlopen(url, timeout=5)


def test_without_datasette_browse_says_in_one_line_how_to_install_it(ip, scripted, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "datasette", None)  # what an environment without it finds
    line = run_error(ip, "%lfw browse", capsys)
    assert "pip install 'lfwb[browse]'" in line and len(line.splitlines()) == 1
    assert browse._running == {}


def test_a_bad_or_taken_port_is_one_line_and_starts_nothing(ip, scripted, capsys):
    line = one_line(run_error(ip, "%lfw browse --port 70000", capsys))
    assert line.endswith("--port must be from 0 to 65535, got 70000")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = one_line(run_error(ip, f"%lfw browse --port {port}", capsys))
    assert f"127.0.0.1:{port}" in line and "--port 0 for a free one" in line
    assert browse._running == {}


def test_the_console_script_browses_a_store_until_it_is_stopped(scripted, tmp_path):
    scripted.model("fake", words("a paid answer"))
    scripted.wb.generate("hello", model="fake")
    port = browse._free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "lfwb.server.cli", "browse", "--db", scripted.wb.path, "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    try:
        line = proc.stdout.readline()  # printed once Datasette answers
        assert line.startswith(f"lfwb browse: http://127.0.0.1:{port}/"), line
        url = line.split()[2]
        status, days = get(f"{url}/cost_per_day.json?_shape=array")
        assert status == 200 and [d["runs"] for d in days] == [1]
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    with pytest.raises(OSError):
        urllib.request.urlopen(url, timeout=5)


def test_the_console_script_refuses_a_missing_store_in_one_line(tmp_path):
    missing = tmp_path / "nowhere.db"
    done = subprocess.run(
        [sys.executable, "-m", "lfwb.server.cli", "browse", "--db", str(missing)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert (
        done.returncode == 2
        and done.stderr.strip()
        == f"lfwb browse: no store at {missing} — open it once (e.g. %load_ext lfwb) or give its path"
    )
    assert not missing.exists()  # nothing was created
