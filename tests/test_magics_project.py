"""%lfw project / projects / context / runs / show / artifacts through a real IPython shell."""

from __future__ import annotations

import lfwb
from conftest import run_error, run_ok


def test_project_create_switch_and_show(ip, wb):
    assert run_ok(ip, "%lfw project")["name"] == "default"
    created = run_ok(ip, "%lfw project landing-page")
    assert created["name"] == "landing-page" and wb.project["id"] == created["id"]
    assert run_ok(ip, "%lfw project")["name"] == "landing-page"
    run_ok(ip, "%lfw project default")
    rows = run_ok(ip, "%lfw projects")
    assert [r["name"] for r in rows] == ["landing-page", "default"]
    assert [r["current"] for r in rows] == [False, True]  # plain values: the table draws ✓
    shown = rows.as_text().splitlines()
    assert "✓" in shown[-1] and "✓" not in shown[-2]


def test_context_add_text_file_and_cell_then_search(ip, wb, tmp_path):
    run_ok(ip, "%lfw project shop")
    added = run_ok(ip, '%lfw context add --text "Primary buttons are teal and round." --name style')
    assert added["text"] == "Primary buttons are teal and round." and added["name"] == "style"
    (tmp_path / "notes.md").write_text("# Footer\nThe footer holds legal links.\n")
    from_file = run_ok(ip, "%lfw context add --file notes.md")
    assert from_file["kind"] == "file" and from_file["name"] == "notes.md"
    ip.run_cell("palette = ['teal', 'coral']", store_history=True)
    from_cell = run_ok(ip, "%lfw context add --cell --name palette-cell")
    assert from_cell["text"] == "palette = ['teal', 'coral']" and from_cell["kind"] == "cell"
    hits = run_ok(ip, "%lfw context search teal")
    assert [h["context"] for h in hits][:2] and {h["context"] for h in hits} == {"style", "palette-cell"}
    assert [h["context"] for h in run_ok(ip, "%lfw context search legal links")] == ["notes.md"]
    # Contexts belong to the current project.
    run_ok(ip, "%lfw project other")
    assert run_ok(ip, "%lfw context search teal") == []


def test_tables_render_as_html_and_text(ip, wb):
    run_ok(ip, '%lfw context add --text "Cards have <b>soft</b> shadows."')
    rows = run_ok(ip, "%lfw context search shadows")
    html = rows._repr_html_()
    assert "<table" in html and "&lt;b&gt;soft&lt;/b&gt;" in html  # escaped, never raw HTML
    text = rows.as_text()
    assert text.splitlines()[0].split() == ["rank", "context_id", "context", "chunk", "relevance", "snippet"]
    assert isinstance(rows, list) and rows[0]["chunk"] == 0


def test_runs_show_and_artifacts(ip, wb):
    store = wb.store
    r1 = store.add_run(wb.project_id, "generate", model="smollm2", prompt="first")
    store.update_run(r1["id"], status="done", output="one")
    r2 = store.add_run(wb.project_id, "pipeline", model="smollm2", prompt="second")
    store.add_artifact(wb.project_id, "export default () => <p/>", run_id=r2["id"], language="jsx", filename="P.jsx")
    other = store.create_project("elsewhere")
    store.add_run(other["id"], "generate", model="smollm2", prompt="not mine")
    assert [r["id"] for r in run_ok(ip, "%lfw runs")] == [r2["id"], r1["id"]]
    assert [r["id"] for r in run_ok(ip, "%lfw runs --limit 1")] == [r2["id"]]
    assert [r["id"] for r in run_ok(ip, "%lfw runs --status done")] == [r1["id"]]
    shown = run_ok(ip, f"%lfw show {r1['id']}")
    assert shown["output"] == "one" and shown["prompt"] == "first"
    assert "<pre" in shown._repr_html_()
    assert [a["filename"] for a in run_ok(ip, f"%lfw artifacts {r2['id']}")] == ["P.jsx"]
    assert run_ok(ip, f"%lfw artifacts {r1['id']}") == []
    assert len(run_ok(ip, "%lfw artifacts")) == 1


def test_result_goes_to_underscore(ip, wb):
    ip.run_cell("%lfw project underscore", store_history=True)
    assert ip.user_ns["_"]["name"] == "underscore"


def rows_snapshot(wb):
    s = wb.store
    return [s.query(f"SELECT * FROM {t} ORDER BY id") for t in ("projects", "contexts", "runs", "artifacts")]


def test_bad_magic_input_is_one_line_and_changes_nothing(ip, wb, tmp_path, capsys):
    run_ok(ip, "%lfw project taken")
    run_ok(ip, "%lfw project default")
    (tmp_path / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00binary")
    (tmp_path / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    before = rows_snapshot(wb)
    cases = {
        "%lfw show 999": "no run with id 999",
        "%lfw show abc": "invalid int value",
        "%lfw artifacts 999": "no run with id 999",
        "%lfw runs --limit 0": "at least 1",
        "%lfw runs --bogus": "unrecognized arguments",
        "%lfw context add --file missing.md": "no file at missing.md",
        "%lfw context add --file image.png": "looks binary",
        "%lfw context add --file latin1.txt": "not UTF-8",
        "%lfw context add": "exactly one of",
        '%lfw context add --text "x" --file notes.md': "exactly one of",
        '%lfw context add --text "unclosed': "quot",
        "%lfw context": "needs one of: add, list, search",
        "%lfw contxt add": "did you mean 'context'",
        "%lfw context search": "required",
    }
    for cell, expected in cases.items():
        seen = run_error(ip, cell, capsys)
        assert expected in seen, (cell, seen)
        assert len(seen.splitlines()) == 1, (cell, seen)
    assert rows_snapshot(wb) == before
    assert wb.project["name"] == "default"


def test_subcommand_help_comes_from_the_parser(ip, capsys):
    capsys.readouterr()
    assert run_ok(ip, "%lfw context add --help") is None
    out = capsys.readouterr().out
    assert out.startswith("usage: %lfw context add") and "--file FILE" in out
    run_ok(ip, "%lfw help runs")
    assert "--limit LIMIT" in capsys.readouterr().out


def test_error_shows_the_full_traceback_of_the_last_error(ip, capsys):
    ip.run_cell("%lfw show 12345", store_history=True)
    capsys.readouterr()
    run_ok(ip, "%lfw error")
    out = capsys.readouterr().out
    assert "Traceback" in out and "NotFound" in out and "get_run" in out


def test_config_db_path_switches_the_store(ip, wb, tmp_path, caplog):
    other = tmp_path / "other.db"
    run_ok(ip, f"%config Lfwb.db_path = {str(other)!r}")
    assert lfwb.workbench() is wb and wb.store.path == str(other)
    run_ok(ip, "%lfw project in-other-file")
    assert other.exists()
    bad = tmp_path / "nofolder" / "x.db"
    ip.run_cell(f"%config Lfwb.db_path = {str(bad)!r}")
    assert "does not exist" in caplog.text  # %config reports the error as one line
    assert wb.store.path == str(other)  # and the bad path changes nothing
    run_ok(ip, f"%config Lfwb.db_path = {wb.store.path!r}")
