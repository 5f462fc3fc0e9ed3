"""`%%lfw generate --schema/--json` and `wb.generate(schema=...)` on the scripted backend: the
schema reaches the model on every link, the answer comes back parsed and the run keeps both."""

from __future__ import annotations

import json

import pytest
from pydantic import BaseModel

from conftest import one_line, refused_in_one_line, run_error, run_ok, table_counts
from fixtures.scripted import Fail
from lfwb.errors import GenerationError, SchemaMismatch


class Point(BaseModel):
    x: int
    label: str


ANSWER = ['{"x": 3,', ' "label":', ' "origin"}']


def test_a_schema_answer_is_shown_as_json_and_kept_parsed(ip, scripted, published):
    ip.user_ns["Point"] = Point
    model = scripted.model("fake", ANSWER)

    result = run_ok(ip, "%%lfw generate -m fake --schema Point -o point\nWhere is the origin?")

    assert ip.user_ns["point"] == result.data == Point(x=3, label="origin")
    assert model.asked[0].json_schema["properties"]["label"]["maxLength"] > 0  # decoded under it, bounded
    shown = published[-1]["data"]
    assert shown["text/plain"] == json.dumps({"x": 3, "label": "origin"}, indent=2)
    assert "language-json" in shown["text/html"] or "<code" in shown["text/html"]
    row = scripted.wb.store.get_run(result.run_id)
    assert row["schema_valid"] == 1 and row["status"] == "done"
    assert json.loads(row["params_json"])["json_schema"]["title"] == "Point"


def test_json_asks_for_any_object(ip, scripted):
    model = scripted.model("fake", ['{"a":', " [1, 2]}"])

    result = run_ok(ip, "%%lfw generate -m fake --json\nAnything.")

    assert result.data == {"a": [1, 2]} and model.asked[0].json_schema == {"type": "object"}


def test_a_schema_file_in_the_working_folder_is_found_by_name(ip, scripted, tmp_path, monkeypatch):
    (tmp_path / "point.json").write_text(json.dumps(Point.model_json_schema()))
    monkeypatch.chdir(tmp_path)
    scripted.model("fake", ANSWER)

    assert run_ok(ip, "%%lfw generate -m fake --schema point.json\nWhere?").data == {"x": 3, "label": "origin"}


def test_an_answer_cut_by_max_tokens_fails_in_one_line_and_keeps_its_text(ip, scripted, capsys):
    ip.user_ns["Point"] = Point
    scripted.model("fake", ANSWER)

    seen = run_error(ip, "%%lfw generate -m fake --schema Point --max-tokens 2\nWhere?", capsys)

    error = one_line(seen.splitlines()[-1])  # under the partial text the cell shows
    assert error.startswith("SchemaMismatch") and "2-token limit before its JSON ended" in error
    assert "--max-tokens" in error
    [row] = scripted.wb.store.list_runs(limit=1)
    row = scripted.wb.store.get_run(row["id"])
    assert (row["status"], row["output"], row["schema_valid"]) == ("failed", '{"x": 3, "label":', 0)


def test_an_answer_the_schema_does_not_allow_fails_with_the_field_named(scripted):
    scripted.model("fake", ['{"x": "three", "label": "o"}'])

    with pytest.raises(SchemaMismatch, match="Point at x"):
        scripted.wb.generate("Where?", model="fake", schema=Point)

    [row] = scripted.wb.store.list_runs(limit=1)
    assert scripted.wb.store.get_run(row["id"])["schema_valid"] == 0


def test_every_link_of_a_fallback_chain_decodes_under_the_schema(ip, scripted):
    first = scripted.model("down", [Fail(GenerationError("the server went away"))])
    second = scripted.model("fake", ANSWER)
    run_ok(ip, "%lfw alias best = down, fake")

    result = scripted.wb.generate("Where?", model="best", schema=Point)

    assert result.answered_by == "fake" and result.data.label == "origin"
    assert first.asked[0].json_schema == second.asked[0].json_schema
    assert first.asked[0].json_schema["title"] == "Point"


def test_without_a_schema_nothing_changes(scripted):
    model = scripted.model("fake", ANSWER)

    result = scripted.wb.generate("Where?", model="fake")

    assert (result.data, result.valid, model.asked[0].json_schema) == (None, None, None)
    assert scripted.wb.store.get_run(result.run_id)["schema_valid"] is None


class NotAModel:
    pass


@pytest.mark.parametrize(
    "flags, says",
    [
        ("--schema Missing", "no schema named 'Missing'"),
        ("--schema NotAModel", "not a Pydantic model"),
        ("--schema Broken", "not a valid JSON Schema"),
        ("--schema Negated", "cannot express"),
        ("--schema Point --json", "give one of them"),
    ],
)
def test_bad_schemas_are_refused_in_one_line_and_nothing_runs(ip, scripted, capsys, caplog, db_path, flags, says):
    ip.user_ns.update(
        Point=Point,
        NotAModel=NotAModel,
        Broken={"type": "objekt"},
        Negated={"type": "object", "not": {"required": ["x"]}},
    )
    model = scripted.model("fake", ANSWER)
    before = table_counts(str(db_path))

    seen = refused_in_one_line(ip, f"%%lfw generate -m fake {flags}\nWhere?", capsys, caplog)

    assert says in seen
    assert model.asked == [] and table_counts(str(db_path)) == before
