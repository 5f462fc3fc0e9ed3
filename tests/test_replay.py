"""`%lfw replay`: a notebook's `%%lfw generate` cells asked again on another model.

The prompts come from the runs the cells recorded, as they were filled; no other code of the
notebook runs. The new runs sit under one parent run (kind `replay`), and the result is a table:
cell, old → new model, the answers' diff, tokens, tok/s, cost, schema valid.
"""

from __future__ import annotations

import threading
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from conftest import plain, refused_in_one_line, run_error, run_ok, stop_when_shown
from fixtures.scripted import Fail, Stall, words
from lfwb.errors import GenerationError

TESTS = Path(__file__).resolve().parent

SETUP = f"""
import sys
sys.path.insert(0, {str(TESTS)!r})
%load_ext lfwb
import lfwb
from fixtures.scripted import Scripted, words
Scripted(lfwb.workbench()).model("a", [], answers=[
    words("Blue."), words("The sea is wide."), words("Bonjour."), ['{{"x": 1}}'], words("One more thing."),
])
"""

CELLS = [
    "%%lfw generate -m a --temperature 0\nName a colour.",
    'topic = "the sea"\nopen("other-code-ran.txt", "w").write("yes")',
    "%%lfw generate -m a --temperature 0\nWrite a line about {topic}.",
    '%%lfw generate -m a --system "Answer in French" --max-tokens 20\nSay hello.',
    "%%lfw generate -m a --json --temperature 0\nGive a JSON object.",
    "%%lfw generate -m a --seed 3\nOne more.",
]


def saved_notebook(folder: Path) -> Path:
    """A notebook of 5 `%%lfw generate` cells among other code, run top to bottom in a kernel of
    its own (on the test's store: LFWB_DB) and saved with its outputs."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in [SETUP, *CELLS]]
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(folder)}}).execute()
    path = folder / "story.ipynb"
    nbformat.write(nb, path)
    (folder / "other-code-ran.txt").unlink()
    return path


def test_a_saved_five_cell_notebook_replays_onto_another_model_in_a_fresh_shell(ip, scripted, tmp_path):
    path = saved_notebook(tmp_path)
    a = scripted.model("a", words("never"))
    b = scripted.model(
        "b",
        [],
        answers=[words("Red."), words("The sea is deep."), words("Salut."), ['{"x": 2}'], words("One more thing.")],
    )
    result = run_ok(ip, f"%lfw replay --model b --notebook {path}")
    store = scripted.wb.store
    parent = store.get_run(result.run_id)
    children = store.query("SELECT * FROM runs WHERE parent_id = ? ORDER BY id", (result.run_id,))
    assert (parent["kind"], parent["status"], len(children)) == ("replay", "done", 5)
    assert all((c["kind"], c["model"], c["status"]) == ("generate", "b", "done") for c in children)
    assert a.log.count("start") == 0 and not (tmp_path / "other-code-ran.txt").exists()  # nothing else ran
    # Each prompt as it was filled, with its cell's settings.
    asked = [g.messages[-1]["content"] for g in b.asked]
    assert asked == ["Name a colour.", "Write a line about the sea.", "Say hello.", "Give a JSON object.", "One more."]
    assert b.asked[2].messages[0] == {"role": "system", "content": "Answer in French"} and b.asked[2].max_tokens == 20
    assert b.asked[3].json_schema is not None and b.asked[4].seed == 3 and b.asked[0].temperature == 0
    # The table: old → new model, the answers' diff, tokens, schema valid.
    assert [row.cell.number for row in result.rows] == [2, 4, 5, 6, 7]
    assert [row.columns()[1] for row in result.rows] == ["a → b"] * 5
    html = result._repr_html_()
    assert '<del style="background:#fdd">Blue.</del>' in html and ">Red.</ins>" in html
    assert result.rows[3].columns()[5] == "✓ → ✓" and result.rows[3].new.data == {"x": 2}
    assert "(the same answer)" in repr(result) and "- The sea is wide." in repr(result)


def test_the_kernels_own_cells_replay_without_running_the_code_between_them(ip, scripted):
    scripted.model("a", [], answers=[words("Blue."), words("Green.")])
    b = scripted.model("b", words("Red."))
    first = ip.execution_count
    ip.user_ns["counter"] = 0
    run_ok(ip, "%%lfw generate -m a --temperature 0\nName a colour.")
    run_ok(ip, "counter += 1\nshade = 'dark'")
    run_ok(ip, "%%lfw generate -m a --temperature 0\nName a {shade} colour.")
    last = ip.execution_count - 1
    result = run_ok(ip, f"%lfw replay -m b --cells {first}-{last}")
    assert ip.user_ns["counter"] == 1
    assert [g.messages[-1]["content"] for g in b.asked] == ["Name a colour.", "Name a dark colour."]
    assert [r.text for r in result.runs] == ["Red.", "Red."] and result.status == "done"
    assert {r["parent_id"] for r in scripted.wb.store.list_runs(kind="generate")[:2]} == {result.run_id}


def test_a_chat_cell_replays_with_the_whole_request_it_sent(ip, scripted):
    scripted.model("a", [], answers=[words("Hello Ada."), words("Your name is Ada.")])
    b = scripted.model("b", words("Ada."))
    run_ok(ip, "%%lfw chat -m a --session s --new\nMy name is Ada.")
    run_ok(ip, "%%lfw chat -m a --session s\nWhat is my name?")
    turn = ip.execution_count - 1
    result = run_ok(ip, f"%lfw replay -m b --cells {turn}")
    assert [(m["role"], m["content"]) for m in b.asked[0].messages if m["role"] != "system"] == [
        ("user", "My name is Ada."),
        ("assistant", "Hello Ada."),
        ("user", "What is my name?"),
    ]
    assert result.rows[0].new.text == "Ada." and result.rows[0].columns()[1] == "a → b"


def test_without_a_model_each_cell_is_asked_of_its_own(scripted):
    a = scripted.model("a", words("Blue."))
    first = scripted.wb.generate("Name a colour.", "a", temperature=0)
    from lfwb.pipelines.replay import ReplayCell

    result = scripted.wb.replay([ReplayCell(1, "%%lfw generate -m a\nName a colour.", first.run_id, first.text)])
    assert a.log.count("start") == 2 and result.rows[0].columns()[1] == "a → a" and result.model is None


def test_a_cell_that_fails_keeps_its_error_and_the_others_go_on(scripted):
    from lfwb.pipelines.replay import ReplayCell

    scripted.model("a", words("Blue."))
    scripted.model("b", [], answers=[["half", Fail(GenerationError("the server went away"))], words("Red.")])
    runs = [scripted.wb.generate(p, "a") for p in ("one", "two")]
    cells = [
        ReplayCell(i + 1, f"%%lfw generate\n{p}", r.run_id, r.text)
        for i, (p, r) in enumerate(zip(["one", "two"], runs))
    ]
    result = scripted.wb.replay(cells, "b")
    assert result.status == "done" and "the server went away" in result.rows[0].note
    assert (result.rows[0].new.status, result.rows[0].new.text) == ("failed", "half")
    assert result.rows[1].new.text == "Red."


def test_a_stop_cancels_the_cell_being_asked_and_asks_no_further_one(scripted):
    from lfwb.pipelines.replay import ReplayCell

    scripted.model("a", words("Blue."))
    stall = Stall()
    b = scripted.model("b", ["Half", stall])
    runs = [scripted.wb.generate(p, "a") for p in ("one", "two")]
    cells = [ReplayCell(i + 1, "%%lfw generate\nx", r.run_id, r.text) for i, r in enumerate(runs)]
    handle = scripted.wb.start_replay(cells, "b")
    threading.Thread(target=lambda: stall.reached.wait(10) and handle.cancel()).start()
    result = handle.result()  # a cancel() ends it: the result comes back marked cancelled
    assert result.status == "cancelled" and scripted.wb.store.get_run(result.run_id)["status"] == "cancelled"
    assert (result.rows[0].new.status, result.rows[0].new.text) == ("cancelled", "Half")
    assert result.rows[1].note == "not asked: the replay was stopped" and len(b.asked) == 1


def test_a_stop_in_the_cell_keeps_the_rows_and_says_so_in_one_line(ip, scripted, sigint, capsys, monkeypatch):
    scripted.model("a", [], answers=[words("Blue."), words("Green.")])
    stall = Stall()
    scripted.model("b", ["Half", stall])
    first = ip.execution_count
    run_ok(ip, "%%lfw generate -m a\nName a colour.")
    run_ok(ip, "%%lfw generate -m a\nName another.")
    # Stop is pressed once the table shows the replay running, when the first cell stalls.
    stop_when_shown(
        ip, monkeypatch, lambda data, meta: meta.get("lfwb", {}).get("kind") == "replay", stall.reached.wait
    )
    seen = run_error(ip, f"%lfw replay -m b --cells {first}-{first + 1}", capsys)
    assert plain(seen).splitlines()[-1] == "cancelled replay run 3 after 1 of 2 cells (the one stopped keeps its text)"
    [parent] = scripted.wb.store.list_runs(kind="replay")
    # (Its text may miss the last token, which may still be on its way when the stop comes.)
    children = scripted.wb.store.query("SELECT status FROM runs WHERE parent_id = ?", (parent["id"],))
    assert parent["status"] == "cancelled" and children == [{"status": "cancelled"}]


def test_cells_whose_run_is_elsewhere_or_not_a_generation_are_listed_not_asked(scripted):
    from lfwb.pipelines.replay import ReplayCell

    scripted.model("a", words("Blue."))
    b = scripted.model("b", words("Red."))
    kept = scripted.wb.generate("one", "a")
    cells = [
        ReplayCell(1, "%%lfw generate\none", kept.run_id, kept.text),
        ReplayCell(2, "%%lfw generate\ntwo", 999),
        ReplayCell(3, "%%lfw generate\nthree", kept.run_id, "another answer"),
        ReplayCell(4, "%%lfw generate\nfour", None),
    ]
    result = scripted.wb.replay(cells, "b")
    assert len(b.asked) == 1 and result.rows[0].new.text == "Red."
    assert "run 999 is not in this store" in result.rows[1].note
    assert "not the one the cell showed" in result.rows[2].note
    assert "no run recorded" in result.rows[3].note


@pytest.mark.parametrize(
    "line, seen",
    [
        ("%lfw replay --cells 5-2", "the first cell comes after the last"),
        ("%lfw replay --cells two", "give all, N or N-M"),
        ("%lfw replay --notebook nowhere.ipynb", "no notebook at nowhere.ipynb"),
        ("%lfw replay --notebook bad.ipynb", "not a notebook that can be read"),
        ("%lfw replay -m nosuch --notebook story.ipynb", "nosuch"),
        ("%lfw replay --notebook story.ipynb --cells 40-50", "no %%lfw cell with a recorded run among cells 40-50"),
    ],
)
def test_bad_replay_input_is_one_line_and_stores_nothing(ip, scripted, tmp_path, capsys, caplog, line, seen):
    import nbformat

    scripted.model("a", words("Blue."))
    run = scripted.wb.generate("one", "a")
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("%%lfw generate -m a\none", execution_count=1)
    cell.outputs = [
        nbformat.v4.new_output("display_data", {"text/plain": "Blue."}, metadata={"lfwb": {"run_id": run.run_id}})
    ]
    nb.cells = [cell]
    nbformat.write(nb, tmp_path / "story.ipynb")
    (tmp_path / "bad.ipynb").write_text("{not json")
    assert seen in refused_in_one_line(ip, line, capsys, caplog)
    assert scripted.wb.store.list_runs(kind="replay") == []


def test_a_hostile_answer_or_error_is_text_in_the_replay_table(scripted):
    from test_evals import HOSTILE, elements

    from lfwb.pipelines.replay import ReplayCell

    scripted.model("a", [], answers=[[HOSTILE], ["<i>old</i>"]])
    scripted.model("b", [], answers=[["<i>new</i> " + HOSTILE], ["half", Fail(GenerationError(HOSTILE))]])
    runs = [scripted.wb.generate(p, "a") for p in ("one", "two")]
    result = scripted.wb.replay(
        [ReplayCell(i + 1, "%%lfw generate\nx", r.run_id, r.text) for i, r in enumerate(runs)], "b"
    )
    html = result._repr_html_()
    made = elements(html)
    assert not any(tag in ("img", "i", "script") for tag, _ in made)
    assert not any(name.startswith("on") for _, attrs in made for name in attrs)
    assert "&lt;i&gt;new&lt;/i&gt;" in html and "&lt;i&gt;old&lt;/i&gt;" in html  # the answers' diff, as text
    assert "GenerationError: &lt;img src=x onerror=alert(1)&gt;" in html  # the failed cell's error


@pytest.mark.parametrize(
    "text, seen",
    [
        ('{"cells": []}', "not an nbformat 4 notebook"),
        ('{"nbformat": 4, "cells": ["x", 1]}', "its cells are not a list of cells"),
        ('{"nbformat": 4, "cells": {"a": 1}}', "its cells are not a list of cells"),
        ("\udcff", "not a notebook that can be read"),
    ],
)
def test_a_file_that_is_not_a_notebook_is_one_line_and_stores_nothing(
    ip, scripted, tmp_path, capsys, caplog, text, seen
):
    path = tmp_path / "odd.ipynb"
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    assert seen in refused_in_one_line(ip, f"%lfw replay --notebook {path}", capsys, caplog)
    assert scripted.wb.store.list_runs(kind="replay") == []


def test_a_folder_given_as_the_notebook_is_one_line(ip, scripted, tmp_path, capsys, caplog):
    assert "not a notebook that can be read" in refused_in_one_line(
        ip, f"%lfw replay --notebook {tmp_path}", capsys, caplog
    )
