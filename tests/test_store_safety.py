"""Bad store files and bad settings: refused with one line, nothing changed.

Another application's SQLite file stays byte for byte as it was, a read-only store is refused
when it is opened (not at the first write), and a refused `%config Lfwb...` keeps the old value.
"""

from __future__ import annotations

import logging
import sqlite3
import struct
from pathlib import Path

import pytest

from conftest import one_line, read_only_store_at, run_error, run_ok
from gemini_server import register_fake
from lfwb.errors import ModelLoadError, StoreError
from lfwb.runtimes.gguf_meta import read_gguf_metadata
from lfwb.store import Store

pytestmark = pytest.mark.timeout(90)


@pytest.fixture(autouse=True)
def _no_saved_settings(monkeypatch):
    """IPython's shell keeps every `%config` line in its own config, refused ones too, and
    `%reload_ext lfwb` reads them back: start and end each test without them."""
    from IPython import get_ipython

    shell = get_ipython()
    if shell is not None:
        shell.config.pop("Lfwb", None)
    yield
    if shell is not None:
        shell.config.pop("Lfwb", None)


def config_error(ip, line: str, capsys, caplog) -> str:
    """Run `%config line`, which lfwb must refuse; return what the user saw.

    IPython's %config reports a refused value through `logging.error`, not as a failed cell."""
    capsys.readouterr()
    caplog.clear()
    with caplog.at_level(logging.ERROR):
        ip.run_cell(f"%config {line}", store_history=True)
    out = capsys.readouterr()
    return "\n".join(filter(None, [out.out.strip(), out.err.strip(), *caplog.messages]))


def setting(ip, name: str):
    return ip.run_line_magic("config", f"Lfwb.{name}")


def foreign_db(path: Path, *tables: str) -> bytes:
    """Another application's SQLite file (rollback journal, as sqlite3 makes it) with rows."""
    conn = sqlite3.connect(path)
    for table in tables:
        conn.execute(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, body TEXT)")
        conn.executemany(f"INSERT INTO {table} (body) VALUES (?)", [("a",), ("b",)])
    conn.commit()
    conn.close()
    return path.read_bytes()


def side_files(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.glob(path.name + "-*"))


# -- other applications' files --------------------------------------------------------------


@pytest.mark.parametrize("tables", [("notes", "tags"), ("runs",)], ids=["unrelated tables", "its own runs table"])
def test_another_applications_sqlite_file_is_refused_and_left_byte_for_byte(tmp_path, tables):
    path = tmp_path / "theirs.db"
    before = foreign_db(path, *tables)
    with pytest.raises(StoreError) as info:
        Store(path)
    assert "another application's SQLite database" in str(info.value) and "\n" not in str(info.value)
    assert "left unchanged" in str(info.value)
    assert path.read_bytes() == before and side_files(path) == []
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    assert [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")] == list(tables)


def test_a_foreign_file_is_adopted_only_when_asked_and_keeps_its_rows(tmp_path):
    path = tmp_path / "theirs.db"
    foreign_db(path, "notes")
    store = Store(path, adopt=True)
    store.create_project("shared")
    store.close()
    reopened = Store(path)  # now an lfwb store: no adopt needed
    assert [p["name"] for p in reopened.list_projects()] == ["shared"]
    assert reopened.query("SELECT body FROM notes ORDER BY id") == [{"body": "a"}, {"body": "b"}]
    reopened.close()


def test_a_foreign_file_with_a_table_lfwb_needs_is_refused_even_when_adopting(tmp_path):
    path = tmp_path / "theirs.db"
    before = foreign_db(path, "runs")
    with pytest.raises(StoreError, match="its own 'runs', a name lfwb needs"):
        Store(path, adopt=True)
    assert path.read_bytes() == before and side_files(path) == []


def test_config_refuses_a_foreign_file_in_one_line_until_adopt_db_is_set(ip, wb, tmp_path, capsys, caplog):
    path = tmp_path / "theirs.db"
    before = foreign_db(path, "notes")
    seen = one_line(config_error(ip, f"Lfwb.db_path = {str(path)!r}", capsys, caplog))
    assert "another application's SQLite database (tables: notes)" in seen and "Lfwb.adopt_db" in seen
    assert path.read_bytes() == before and setting(ip, "db_path") == ""
    assert Path(wb.store.path) != path
    run_ok(ip, "%config Lfwb.adopt_db = True")
    run_ok(ip, f"%config Lfwb.db_path = {str(path)!r}")
    assert Path(wb.store.path) == path and run_ok(ip, "%lfw projects")


def test_an_empty_file_still_becomes_a_store(tmp_path):
    path = tmp_path / "new.db"
    path.touch()
    Store(path).close()
    assert "_lfwb_migrations" in {r[0] for r in sqlite3.connect(path).execute("SELECT name FROM sqlite_master")}


# -- read-only files ------------------------------------------------------------------------


@pytest.fixture
def read_only_store(tmp_path: Path) -> Path:
    return read_only_store_at(tmp_path / "readonly.db")


def test_a_read_only_store_is_refused_when_opened_not_at_the_first_write(read_only_store):
    with pytest.raises(StoreError) as info:
        Store(read_only_store)
    assert str(info.value).startswith(f"the store at {read_only_store} is read-only")
    assert "\n" not in str(info.value)


def test_pointing_db_path_at_a_read_only_file_keeps_the_store_in_use(ip, wb, read_only_store, capsys, caplog):
    seen = one_line(config_error(ip, f"Lfwb.db_path = {str(read_only_store)!r}", capsys, caplog))
    assert "is read-only" in seen and "Lfwb.db_path" in seen
    assert setting(ip, "db_path") == "" and Path(wb.store.path) != read_only_store
    run_ok(ip, "%lfw project after-refusal")  # writes still go to the store in use, one line
    assert wb.store.get_project("after-refusal")["name"] == "after-refusal"


# -- refused settings keep their value --------------------------------------------------------


def test_a_db_path_that_does_not_open_is_refused_and_reload_ext_still_registers_lfw(ip, wb, tmp_path, capsys, caplog):
    (tmp_path / "notadb.txt").write_text("plain notes, not a database\n" * 50)
    in_use = wb.store.path
    seen = one_line(config_error(ip, "Lfwb.db_path = 'notadb.txt'", capsys, caplog))
    assert seen.startswith("Lfwb.db_path: cannot open the store at notadb.txt")
    assert setting(ip, "db_path") == "" and wb.store.path == in_use
    capsys.readouterr()
    ip.run_line_magic("reload_ext", "lfwb")
    assert "lfw" in ip.magics_manager.magics["line"] and "lfw" in ip.magics_manager.magics["cell"]
    assert setting(ip, "db_path") == "" and wb.store.path == in_use
    assert run_ok(ip, "%lfw projects")


def test_a_good_db_path_switches_the_store_and_the_setting(ip, wb, tmp_path):
    run_ok(ip, "%config Lfwb.db_path = 'other.db'")
    assert setting(ip, "db_path") == "other.db" and Path(wb.store.path).name == "other.db"


@pytest.mark.parametrize("value", ["-1", "float('nan')", "float('inf')"])
def test_a_memory_budget_that_is_negative_or_not_a_number_is_refused(ip, wb, value, capsys, caplog):
    run_ok(ip, "%config Lfwb.memory_budget_gb = 2")
    seen = one_line(config_error(ip, f"Lfwb.memory_budget_gb = {value}", capsys, caplog))
    assert seen.startswith("Lfwb.memory_budget_gb: a size in GiB ≥ 0")
    assert setting(ip, "memory_budget_gb") == 2 and wb.manager.budget_bytes == 2 * 2**30


@pytest.mark.parametrize("value", ["-1", "float('nan')", "float('inf')"])
def test_a_session_budget_that_is_negative_or_not_a_number_is_refused_by_config(ip, wb, value, capsys, caplog):
    run_ok(ip, "%config Lfwb.session_budget_usd = 0.5")
    seen = one_line(config_error(ip, f"Lfwb.session_budget_usd = {value}", capsys, caplog))
    assert seen.startswith("Lfwb.session_budget_usd: a budget is a USD amount ≥ 0")
    assert setting(ip, "session_budget_usd") == 0.5 and wb.manager.settings.session_budget_usd == 0.5


@pytest.mark.parametrize("scope", ["session", "project"])
@pytest.mark.parametrize("amount", ["nan", "inf", "-1", "1e999"])
def test_a_budget_of_nan_inf_or_below_zero_is_refused_and_the_old_one_still_holds(
    ip, wb, fake_gemini, scope, amount, capsys
):
    register_fake(wb, fake_gemini)
    run_ok(ip, f"%lfw budget {scope} 0")
    seen = one_line(run_error(ip, f"%lfw budget {scope} {amount}", capsys))
    assert "BadInput: a budget is a USD amount ≥ 0 (or 'off' for none)" in seen
    assert run_ok(ip, "%lfw budget")[f"{scope}_budget_usd"] == 0
    seen = run_error(ip, "%%lfw generate -m g --max-tokens 50\nHi", capsys)
    assert "BudgetExceeded" in seen and fake_gemini.requests == []  # nothing was sent


# -- damaged model files ----------------------------------------------------------------------


def test_a_truncated_gguf_says_the_file_ends_early(tmp_path):
    path = tmp_path / "cut.gguf"
    header = b"GGUF" + struct.pack("<IQQ", 3, 10, 5)
    key = b"general.architecture"
    path.write_bytes(header + struct.pack("<Q", len(key)) + key + struct.pack("<I", 8) + b"\x05")
    with pytest.raises(ModelLoadError) as info:
        read_gguf_metadata(path)
    assert "()" not in str(info.value) and "the file ends early" in str(info.value)
