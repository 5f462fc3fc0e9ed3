"""Revisions (lfwb/preview/revise.py, `%lfw revise`, `%lfw artifacts --versions`): a component
sent to a model with an instruction; the answer's component kept as its next version."""

from __future__ import annotations

import pytest
from conftest import run_error, run_ok

from fixtures.scripted import Stall, words
from lfwb.errors import PreviewRefused
from lfwb.preview.revise import Revision

FENCE = "`" * 3
CARD = 'export default function Card({ title = "Pro" }) {\n  return <div>{title}</div>\n}\n'
RED = 'export default function Card({ title = "Pro" }) {\n  return <div style={{ color: "red" }}>{title}</div>\n}\n'
SUBTITLE = (
    'export default function Card({ title = "Pro", subtitle = "Best value" }) {\n'
    '  return <div style={{ color: "red" }}>{title}<small>{subtitle}</small></div>\n}\n'
)


def answer(code: str, language: str = "jsx") -> list[str]:
    return words(f"Here you go:\n\n{FENCE}{language}\n{code}{FENCE}\n\nThe button is red now.")


@pytest.fixture
def card(wb):
    """A JSX component kept as an artifact, as %%lfw jsx or a pipeline would keep it."""
    run = wb.store.add_run(project_id=wb.project_id, kind="generate", model="fake", prompt="a card")
    (row,) = wb.store.add_artifacts(
        wb.project_id, run["id"], [{"content": CARD, "kind": "jsx", "language": "jsx", "filename": "Card.jsx"}]
    )
    return row


def test_a_revision_is_a_recorded_run_and_a_new_version_linked_to_its_parent(scripted, wb, card):
    script = scripted.model("fake", answer(RED))
    revision = wb.revise(card["id"], "make the text red", model="fake")
    new = revision.artifact
    assert (new["content"], new["version"], new["parent_id"]) == (RED, 2, card["id"])
    assert (new["filename"], new["kind"], new["instruction"]) == ("Card.jsx", "jsx", "make the text red")
    run = wb.store.get_run(revision.run_id)
    assert (run["status"], run["model"], new["run_id"]) == ("done", "fake", run["id"])
    asked = script.asked[0].messages[-1]["content"]
    assert CARD in asked and "make the text red" in asked and "```jsx" in asked


def test_versions_chain_and_list_oldest_first_from_any_version(scripted, wb, card, ip):
    scripted.model("fake", answer(RED))
    second = wb.revise(card["id"], "make the text red", model="fake").artifact
    scripted.model("fake", answer(SUBTITLE))
    third = wb.revise(second["id"], "add a subtitle", model="fake").artifact
    assert third["version"] == 3 and third["parent_id"] == second["id"]
    rows = run_ok(ip, f"%lfw artifacts --versions {second['id']}")
    assert [(r["id"], r["version"], r["instruction"]) for r in rows] == [
        (card["id"], 1, None),
        (second["id"], 2, "make the text red"),
        (third["id"], 3, "add a subtitle"),
    ]
    assert rows.columns[:3] == ["id", "version", "instruction"]


def test_revise_magic_streams_the_answer_and_returns_the_revision(scripted, ip, card):
    scripted.model("fake", answer(RED))
    revision = run_ok(ip, f'%lfw revise {card["id"]} -m fake "make the text red"')
    assert isinstance(revision, Revision) and revision.artifact["version"] == 2
    data, _ = revision._repr_mimebundle_()
    assert f"artifact {revision.artifact['id']} (Card.jsx v2) from {card['id']}" in data["text/plain"]
    assert "application/vnd.jupyter.widget-view+json" in data  # both previews, side by side


def test_an_answer_without_a_valid_component_keeps_the_run_and_makes_no_version(scripted, wb, ip, card, capsys):
    scripted.model("fake", answer('import _ from "lodash"\nexport default () => <b/>\n'))
    said = run_error(ip, f'%lfw revise {card["id"]} -m fake "use lodash"', capsys)
    assert "no new version of artifact" in said and "imports 'lodash'" in said
    (run,) = [r for r in wb.store.list_runs(project_id=wb.project_id) if r["model"] == "fake" and r["output"]]
    assert run["status"] == "done" and "lodash" in run["output"]
    assert wb.store.list_artifacts(run_id=run["id"]) == []
    assert [r["id"] for r in wb.store.artifact_versions(card["id"])] == [card["id"]]


def test_an_answer_with_no_code_block_says_so(scripted, wb, card):
    scripted.model("fake", words("I would rather not."))
    with pytest.raises(PreviewRefused, match="no ```jsx or ```tsx code block"):
        wb.revise(card["id"], "make it red", model="fake")


def test_a_stopped_revision_keeps_its_partial_run_and_makes_no_version(scripted, wb, card, sigint):
    import threading

    stall = Stall()
    scripted.model("fake", ["Here", " you go", stall])
    revision = wb.start_revise(card["id"], "make it red", model="fake")
    threading.Thread(target=lambda: (stall.reached.wait(5), revision.cancel()), daemon=True).start()
    assert revision.result().status == "cancelled"  # the run, as it ended: no version to show
    (run,) = [r for r in wb.store.list_runs(project_id=wb.project_id) if r["model"] == "fake" and r["output"]]
    # What it had read is kept (the last token may still have been on its way when stopped).
    assert run["status"] == "cancelled" and run["output"] in ("Here", "Here you go")
    assert len(wb.store.artifact_versions(card["id"])) == 1


@pytest.mark.parametrize(
    "line, says",
    [
        ('%lfw revise 999 -m fake "x"', "See %lfw artifacts"),
        ('%lfw revise {id} -m fake "   "', "say what to change"),
    ],
)
def test_bad_revise_input_is_one_line_and_sends_nothing(scripted, ip, card, capsys, line, says):
    script = scripted.model("fake", answer(RED))
    said = run_error(ip, line.format(id=card["id"]), capsys)
    assert says in said and script.asked == []


def test_a_non_component_artifact_cannot_be_revised(scripted, wb, ip, capsys):
    run = wb.store.add_run(project_id=wb.project_id, kind="generate", model="fake", prompt="py")
    (row,) = wb.store.add_artifacts(wb.project_id, run["id"], [{"content": "print(1)\n", "kind": "python"}])
    assert "is python, not a JSX/TSX component" in run_error(ip, f'%lfw revise {row["id"]} "x"', capsys)


def test_versions_of_an_unknown_artifact_is_one_line(ip, capsys):
    assert "See %lfw artifacts" in run_error(ip, "%lfw artifacts --versions 999", capsys)


def test_deleting_a_version_cuts_the_history_there_but_keeps_later_versions(scripted, wb, card):
    scripted.model("fake", answer(RED))
    second = wb.revise(card["id"], "red", model="fake").artifact
    scripted.model("fake", answer(SUBTITLE))
    third = wb.revise(second["id"], "subtitle", model="fake").artifact
    wb.store.delete_artifact(second["id"])
    assert wb.store.get_artifact(third["id"])["parent_id"] is None
    assert [r["id"] for r in wb.store.artifact_versions(third["id"])] == [third["id"]]


def test_an_artifact_kept_without_a_revision_is_version_one_of_its_own_history(wb, card):
    row = wb.store.get_artifact(card["id"])
    assert (row["version"], row["parent_id"], row["instruction"]) == (1, None, None)
    assert wb.store.artifact_versions(card["id"]) == [row]
