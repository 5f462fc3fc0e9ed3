"""Bad input, catalogued: each entry is one line for the user, no traceback, a store left as it
was, and a shell that still generates afterwards. Regression tests for the cases that once got a
traceback or were taken silently come first."""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import attempt, one_line, read_only_store_at, refused_in_one_line, run_ok, table_counts
from fixtures.scripted import words
from lfwb.runtimes import default_model_path

GGUF = default_model_path()
HUGE = "99999999999999999999"  # past SQLite's 64-bit integers


# -- regressions ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cell",
    [
        f"%lfw runs --limit {HUGE}",
        f"%lfw context search notes --limit {HUGE}",
        f"%lfw context list --limit {HUGE}",
        f"%lfw show {HUGE}",
        f"%lfw artifacts {HUGE}",
        f"%lfw artifacts --limit {HUGE}",
        f"%lfw projects --limit {HUGE}",
    ],
)
def test_a_number_past_sqlites_integers_is_one_line_not_a_traceback(ip, wb, capsys, caplog, cell):
    assert "must be at most 9223372036854775807" in refused_in_one_line(ip, cell, capsys, caplog)


@pytest.mark.parametrize(
    "cell",
    [
        "%lfw runs --limit 0",
        "%lfw context list --limit 0",
        "%lfw context search notes --limit 0",
        "%lfw artifacts --limit 0",
        "%lfw projects --limit 0",
    ],
)
def test_a_limit_of_zero_is_refused_rather_than_shown_as_an_empty_table(ip, wb, capsys, caplog, cell):
    wb.add_context(text="notes on buttons")
    assert "--limit: must be at least 1" in refused_in_one_line(ip, cell, capsys, caplog)


def test_an_unknown_run_status_is_refused_with_the_valid_ones(ip, scripted, capsys, caplog):
    scripted.model("fake", words("Hi there"))
    scripted.wb.generate("Hi", model="fake")
    seen = refused_in_one_line(ip, "%lfw runs --status bogus", capsys, caplog)
    assert "'bogus'" in seen
    assert all(status in seen for status in ("running", "done", "failed", "cancelled", "interrupted"))


def test_a_status_with_no_runs_says_so_instead_of_no_runs_yet(ip, scripted):
    scripted.model("fake", words("Hi there"))
    scripted.wb.generate("Hi", model="fake")
    assert run_ok(ip, "%lfw runs --status failed").as_text() == "no runs with status 'failed'"
    assert [r["status"] for r in run_ok(ip, "%lfw runs --status done")] == ["done"]


@pytest.mark.parametrize("seed", [HUGE, "4294967296", "2147483648", "-1"])
def test_a_seed_out_of_range_is_one_line_and_leaves_no_run(ip, wb, capsys, caplog, seed):
    seen = refused_in_one_line(ip, f"%%lfw generate --seed {seed} --max-tokens 2\nHi", capsys, caplog)
    assert "a seed is a whole number from 0 to 2147483647" in seen
    assert wb.store.list_runs() == []


def test_the_largest_seed_is_taken_and_repeats(ip, wb):
    first = run_ok(ip, "%%lfw generate --seed 2147483647 --max-tokens 6 --temperature 1\nName a colour.")
    second = run_ok(ip, "%%lfw generate --seed 2147483647 --max-tokens 6 --temperature 1\nName a colour.")
    assert first.status == "done" and first.text == second.text


def test_an_empty_stop_string_is_refused_instead_of_an_empty_answer(ip, wb, capsys, caplog):
    seen = refused_in_one_line(ip, '%%lfw generate --stop "" --max-tokens 2\nHi', capsys, caplog)
    assert "stop string must be non-empty" in seen
    assert wb.store.list_runs() == []


@pytest.mark.parametrize("value", ["nan", "inf", "0", "-1"])
def test_memory_gb_must_be_a_finite_amount(ip, wb, capsys, caplog, value):
    cell = f"%lfw register x --runtime llama_cpp --source {GGUF} --memory-gb {value}"
    assert "--memory-gb: must be a finite number above 0" in refused_in_one_line(ip, cell, capsys, caplog)
    assert "x" not in wb.manager.names() and wb.store.list_models() == []


def test_a_name_that_is_an_alias_cannot_be_registered_as_a_model(ip, wb, capsys, caplog):
    run_ok(ip, "%lfw alias x = smollm2")
    seen = refused_in_one_line(ip, f"%lfw register x --runtime llama_cpp --source {GGUF}", capsys, caplog)
    assert "'x' is an alias (→ smollm2)" in seen
    assert "x" not in wb.manager.names() and wb.store.list_models() == []


@pytest.mark.parametrize("name", ["gemini-2.5-pro", "gemini-2.5-flash"])
def test_an_alias_cannot_take_a_remote_models_id_before_its_key_is_set(ip, wb, capsys, caplog, name):
    seen = refused_in_one_line(ip, f"%lfw alias {name} = smollm2", capsys, caplog)
    assert "is a remote model's id" in seen and wb.manager.aliases == {}


def test_an_alias_cannot_take_a_registered_models_name(ip, wb, capsys, caplog):
    seen = refused_in_one_line(ip, "%lfw alias smollm2 = gemini-2.5-pro", capsys, caplog)
    assert "'smollm2' is a registered model" in seen and wb.manager.aliases == {}


def test_an_alias_that_would_loop_is_refused(ip, wb, capsys, caplog):
    assert "cannot name itself" in refused_in_one_line(ip, "%lfw alias a = a", capsys, caplog)
    assert "cannot name itself" in refused_in_one_line(ip, "%lfw alias a = smollm2, a", capsys, caplog)
    run_ok(ip, "%lfw alias a = smollm2")
    seen = refused_in_one_line(ip, "%lfw alias b = a", capsys, caplog)
    assert "'a' is an alias itself" in seen
    assert "cannot name itself" in refused_in_one_line(ip, "%lfw alias a = a", capsys, caplog)
    assert wb.manager.aliases == {"a": ["smollm2"]}


def test_a_stored_alias_that_names_a_model_does_not_hide_it(db_path):
    from lfwb.runtimes import RuntimeManager
    from lfwb.store import Store
    from lfwb.store.settings import save_alias

    store = Store(db_path)
    try:
        # Files written before names were kept apart may hold such aliases.
        save_alias(store, "smollm2", ["gemini-2.5-pro"])
        save_alias(store, "gemini-2.5-pro", ["smollm2"])
        save_alias(store, "best", ["gemini-2.5-pro", "smollm2"])
        manager = RuntimeManager(store=store)
        assert manager.resolve("smollm2") == ["smollm2"]
        assert manager.aliases == {"best": ["gemini-2.5-pro", "smollm2"]}  # no -m gemini-2.5-pro → smollm2
    finally:
        store.close()


def test_a_quoted_dash_h_is_text_not_a_request_for_help(ip, wb, capsys):
    capsys.readouterr()
    row = run_ok(ip, '%lfw context add --text "run it with -h to see options"')
    assert row["text"] == "run it with -h to see options"
    assert "usage:" not in capsys.readouterr().out


def test_a_system_prompt_mentioning_help_is_sent(ip, scripted, capsys):
    fake = scripted.model("fake", words("Use --help."))
    capsys.readouterr()
    result = run_ok(ip, '%%lfw generate -m fake --system "answer --help questions"\nHow do I list options?')
    assert result.status == "done" and "usage:" not in capsys.readouterr().out
    assert fake.asked[0].messages[0] == {"role": "system", "content": "answer --help questions"}


@pytest.mark.parametrize(
    "cell",
    [
        "%lfw context add --help",
        "%lfw context add -h",
        "%lfw runs --limit 3 -h",
        "%lfw generate --help",
        '%lfw context add --text "x" --help',
    ],
)
def test_help_as_an_option_prints_the_usage_and_does_nothing(ip, wb, capsys, cell):
    capsys.readouterr()
    assert run_ok(ip, cell) is None
    assert capsys.readouterr().out.startswith("usage: %lfw " + cell.split()[1])
    assert wb.store.list_contexts() == []


# -- the catalogue -------------------------------------------------------------------------


@dataclass
class Bad:
    """One bad input: the cell, a piece of the line the user must see, and what it needs first."""

    cell: str
    says: str
    setup: Callable | None = None  # (ip, wb, folder) before the store is counted
    refused: bool = True  # False: an answer of one line is right (a search that finds nothing)
    real: bool = False  # afterwards, generate on smollm2 itself rather than the scripted model
    check: Callable | None = None  # (wb, folder) after: more that must hold
    absent: str | None = None  # text the line must not hold

    def __str__(self) -> str:
        return self.cell


def files(ip, wb, folder: Path) -> None:
    (folder / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00binary")
    (folder / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    (folder / "random.gguf").write_bytes(os.urandom(100_000))
    (folder / "notadb.txt").write_text("just some notes, not a database\n")


def alias_x(ip, wb, folder: Path) -> None:
    run_ok(ip, "%lfw alias x = smollm2")


def truncated_gguf(ip, wb, folder: Path) -> None:
    (folder / "cut.gguf").write_bytes(open(GGUF, "rb").read()[: 4 * 2**20])  # header intact
    run_ok(ip, f"%lfw register cut --runtime llama_cpp --source {folder / 'cut.gguf'}")


def foreign_sqlite(ip, wb, folder: Path, runs_table: bool = False) -> None:
    conn = sqlite3.connect(folder / "other-app.db")
    conn.execute(
        "CREATE TABLE runs (id INTEGER PRIMARY KEY, km REAL)"
        if runs_table
        else "CREATE TABLE recipes (id INTEGER PRIMARY KEY, title TEXT)"
    )
    conn.execute("INSERT INTO %s VALUES (1, 5)" % ("runs" if runs_table else "recipes"))
    conn.commit()
    conn.close()
    foreign_sqlite.digest = hashlib.sha256((folder / "other-app.db").read_bytes()).hexdigest()


def foreign_file_untouched(wb, folder: Path) -> None:
    assert hashlib.sha256((folder / "other-app.db").read_bytes()).hexdigest() == foreign_sqlite.digest
    assert not (folder / "other-app.db-wal").exists()
    assert Path(wb.store.path).name == "lfwb.db"


def read_only_store(ip, wb, folder: Path) -> None:
    read_only_store_at(folder / "ro.db")


def store_unswitched(wb, folder: Path) -> None:
    from lfwb.config import Lfwb

    assert Path(wb.store.path).name == "lfwb.db"
    setting = [c for c in _shell_configurables() if isinstance(c, Lfwb)][0].db_path
    assert setting in ("", wb.store.path), f"the refused path stayed in the setting: {setting!r}"


def _shell_configurables():
    from IPython import get_ipython

    return get_ipython().configurables


def artifact_named(name: str) -> Callable:
    def setup(ip, wb, folder: Path) -> None:
        run = wb.store.list_runs()[-1]["id"]  # the catalogue's first run, id 1
        wb.store.add_artifact(wb.project_id, "ok\n", run_id=run, filename="ok.txt")
        wb.store.add_artifact(wb.project_id, "x\n", run_id=run, filename=name)

    return setup


def nothing_exported(wb, folder: Path) -> None:
    assert not (folder / "out").exists() and not (folder / "evil.js").exists()


def budget_unchanged(wb, folder: Path) -> None:
    assert wb.manager.settings.session_budget_usd is None


def memory_budget_kept(wb, folder: Path) -> None:
    assert wb.manager.budget_bytes > 0


GEN = "%%lfw generate -m fake --max-tokens 2"
CATALOGUE = [
    # subcommands and parsing
    Bad("%lfw frobnicate", "unknown subcommand 'frobnicate'"),
    Bad("%lfw contxt add", "did you mean 'context'"),
    Bad("%lfw context", "needs one of: add, list, search"),
    Bad("%lfw help nosuch", "no subcommand 'nosuch'"),
    Bad("%lfw runs --bogus", "unrecognized arguments: --bogus"),
    Bad('%lfw context add --text "unclosed', "check the quoting"),
    Bad("%lfw generate", "takes a cell body"),
    Bad("%%lfw models\nbody", "takes no cell body"),
    Bad("%lfw cost --by week", "invalid choice: 'week'"),
    # numbers, limits and ids
    Bad(f"%lfw runs --limit {HUGE}", "must be at most"),
    Bad("%lfw runs --limit 0", "must be at least 1"),
    Bad("%lfw runs --limit -3", "must be at least 1"),
    Bad("%lfw runs --limit abc", "invalid int value: 'abc'"),
    Bad("%lfw runs --status bogus", "invalid choice: 'bogus'"),
    Bad(f"%lfw context search notes --limit {HUGE}", "must be at most"),
    Bad("%lfw context search notes --limit 0", "must be at least 1"),
    Bad(f"%lfw context list --limit {HUGE}", "must be at most"),
    Bad("%lfw context list --limit 0", "must be at least 1"),
    Bad("%lfw projects --limit 0", "must be at least 1"),
    Bad(f"%lfw show {HUGE}", "must be at most"),
    Bad("%lfw show 0", "must be at least 1"),
    Bad("%lfw show 999", "no run with id 999"),
    Bad("%lfw show abc", "invalid int value"),
    Bad(f"%lfw artifacts {HUGE}", "must be at most"),
    Bad(f"%lfw artifacts --limit {HUGE}", "must be at most"),
    Bad("%lfw artifacts --limit 0", "must be at least 1"),
    Bad("%lfw artifacts 999", "no run with id 999"),
    # contexts
    Bad("%lfw context add", "exactly one of"),
    Bad('%lfw context add --text "x" --file notes.md', "exactly one of"),
    Bad("%lfw context add --file missing.md", "no file at missing.md", files),
    Bad("%lfw context add --file image.png", "looks binary", files),
    Bad("%lfw context add --file latin1.txt", "not UTF-8", files),
    Bad("%lfw context search", "required"),
    Bad("%lfw context search 'NEAR('", "no matching context", refused=False),
    Bad("%lfw context search '\"'", "search needs at least one word"),
    Bad("%lfw context search AND OR", "no matching context", refused=False),
    Bad("%lfw context search 'x* NOT -y'", "no matching context", refused=False),
    # models
    Bad("%lfw load smolm2", "no model named 'smolm2'"),
    Bad("%lfw info nope", "no model named 'nope'"),
    Bad("%lfw unregister nope", "no model named 'nope'"),
    Bad("%lfw unload", "give a model name or --all"),
    Bad("%lfw register x --runtime llama_cpp --source missing.gguf", "no GGUF file at missing.gguf"),
    Bad("%lfw register x --runtime nosuch --source a.gguf", "unknown runtime 'nosuch'"),
    Bad("%lfw register x --source a.gguf", "the following arguments are required: --runtime"),
    Bad("%lfw register 'bad name' --runtime llama_cpp --source a.gguf", "model names are letters"),
    Bad("%lfw register x --runtime llama_cpp --source a.gguf --option novalue", "--option takes KEY=VALUE"),
    Bad("%lfw register x --runtime llama_cpp --source random.gguf", "is not a GGUF file", files, real=True),
    Bad(f"%lfw register x --runtime llama_cpp --source {GGUF} --memory-gb nan", "finite number above 0"),
    Bad(f"%lfw register x --runtime llama_cpp --source {GGUF} --memory-gb inf", "finite number above 0"),
    Bad(f"%lfw register x --runtime llama_cpp --source {GGUF} --memory-gb -1", "finite number above 0"),
    Bad(f"%lfw register x --runtime llama_cpp --source {GGUF} --threads 0", "must be at least 1"),
    Bad(f"%lfw register x --runtime llama_cpp --source {GGUF} --context-length {HUGE}", "must be at most"),
    Bad(f"%lfw register x --runtime llama_cpp --source {GGUF}", "'x' is an alias", alias_x),
    Bad("%lfw load cut", "could not load", truncated_gguf, real=True, absent="()"),
    # generation
    Bad("%%lfw generate -m nope\nHi", "no model named 'nope'"),
    Bad(f"{GEN} --seed {HUGE}\nHi", "a seed is a whole number"),
    Bad(f"%%lfw generate --max-tokens 2 --seed {HUGE}\nHi", "a seed is a whole number", real=True),
    Bad("%%lfw generate --max-tokens 2 --seed -1\nHi", "a seed is a whole number", real=True),
    Bad('%%lfw generate --max-tokens 2 --stop ""\nHi', "stop string must be non-empty", real=True),
    Bad(f"{GEN} --stop ''\nHi", "stop string must be non-empty"),
    Bad(f"{GEN} --temperature 5\nHi", "temperature must be between 0 and 2"),
    Bad(f"{GEN} --temperature nan\nHi", "temperature must be between 0 and 2"),
    Bad(f"{GEN} --top-p 0\nHi", "top-p must be in (0, 1]"),
    Bad(f"{GEN} --repeat-penalty 0\nHi", "repeat penalty"),
    Bad("%%lfw generate -m fake --max-tokens 0\nHi", "max tokens must be a whole number"),
    Bad(f"%%lfw generate -m fake --max-tokens {HUGE}\nHi", "max tokens must be a whole number"),
    Bad(f"{GEN} --top-k {HUGE}\nHi", "top-k must be a whole number"),
    Bad(f"{GEN} --top-k -1\nHi", "top-k must be a whole number"),
    Bad(f"{GEN}\n{{empty}}", "the prompt is empty", lambda ip, wb, folder: ip.user_ns.update(empty=" ")),
    Bad(f"{GEN} -o 1x\nHi", "-o needs a variable name"),
    Bad(f"{GEN} --raw --system terse\nHi", "--system goes through the chat template"),
    Bad(f"{GEN} -f pdf\nHi", "invalid choice: 'pdf'"),
    # aliases
    Bad("%lfw alias a = a", "cannot name itself"),
    Bad("%lfw alias b = x", "'x' is an alias itself", alias_x),
    Bad("%lfw alias x = x", "cannot name itself", alias_x),
    Bad("%lfw alias = smollm2", "usage: %lfw alias NAME = MODEL"),
    Bad("%lfw alias a =", "an alias needs at least one model"),
    Bad("%lfw alias gemini-2.5-pro = smollm2", "is a remote model's id"),
    Bad("%lfw alias fake = smollm2", "'fake' is a registered model"),
    Bad("%lfw alias best = nomodel", "no model named 'nomodel'"),
    Bad("%lfw alias nope --delete", "no alias named 'nope'"),
    Bad("%lfw alias nosuch", "no alias named 'nosuch'"),
    # exporting artifacts
    Bad("%lfw export", "needs one of: files"),
    Bad("%lfw export files 1", "the following arguments are required: --to"),
    Bad("%lfw export files 999 --to out", "no run with id 999", check=nothing_exported),
    Bad("%lfw export files 1 --to out", "run 1 has no artifacts", check=nothing_exported),
    Bad(
        "%lfw export files 1 --to out",
        "'..' would leave the folder",
        artifact_named("../evil.js"),
        check=nothing_exported,
    ),
    Bad("%lfw export files 1 --to out", "an absolute path", artifact_named("/tmp/evil.js"), check=nothing_exported),
    # money
    Bad("%lfw budget session", "give an amount"),
    Bad("%lfw budget project abc", "a budget is an amount in USD"),
    Bad("%lfw budget session nan", "nan", check=budget_unchanged),
    Bad("%lfw budget project nan", "nan"),
    Bad("%config Lfwb.session_budget_usd = float('nan')", "nan", check=budget_unchanged),
    Bad("%config Lfwb.memory_budget_gb = -1", "-1", check=memory_budget_kept),
    # the store file
    Bad("%config Lfwb.db_path = 'notadb.txt'", "notadb.txt", files, check=store_unswitched),
    Bad("%config Lfwb.db_path = 'nofolder/x.db'", "does not exist", check=store_unswitched),
    Bad("%config Lfwb.db_path = 'ro.db'", "read-only", read_only_store, check=store_unswitched),
    Bad("%config Lfwb.db_path = 'other-app.db'", "other-app.db", foreign_sqlite, check=foreign_file_untouched),
    Bad(
        "%config Lfwb.db_path = 'other-app.db'",
        "other-app.db",
        lambda ip, wb, folder: foreign_sqlite(ip, wb, folder, runs_table=True),
        check=foreign_file_untouched,
    ),
]


def test_the_catalogue_is_large():
    assert len(CATALOGUE) >= 60


@pytest.mark.parametrize("bad", CATALOGUE, ids=[f"{i:02d}" for i in range(len(CATALOGUE))])
def test_bad_input_is_one_line_changes_nothing_and_the_shell_still_generates(
    ip, scripted, tmp_path, capsys, caplog, bad
):
    wb = scripted.wb
    scripted.model("fake", words("Fine, thanks."))
    wb.generate("Hi", model="fake", max_tokens=2)  # rows exist: "no ... yet" would be wrong
    wb.add_context(text="notes about round blue buttons", name="notes")
    wb.search_contexts("buttons")  # its vectors made, as a first search makes them (then kept)
    if bad.setup is not None:
        bad.setup(ip, wb, tmp_path)
    store_path = wb.store.path
    before = table_counts(store_path)

    refused, seen = attempt(ip, bad.cell, capsys, caplog)

    assert refused == bad.refused, f"{bad.cell!r} {'was taken' if bad.refused else 'was refused'}: {seen!r}"
    one_line(seen)
    assert bad.says in seen, seen
    assert bad.absent is None or bad.absent not in seen, seen
    assert table_counts(store_path) == before
    if bad.check is not None:
        bad.check(wb, tmp_path)
    after = run_ok(ip, ("%%lfw generate --max-tokens 2" if bad.real else GEN) + "\nHello")
    assert after.status == "done" and after.text
