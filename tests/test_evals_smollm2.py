"""An eval end to end on the bundled SmolLM2 (llama.cpp) beside two scripted models: three models
× twenty rows × three checks (one a judge), reopened, then compared with a run after a prompt change.

SmolLM2's answers are whatever it writes at temperature 0; the test reads them from their runs
and scores them itself, so the table must agree with the answers the store holds."""

from __future__ import annotations

import re

import pytest

from conftest import run_ok

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

REVIEWS = [
    ("I loved this phone, the battery lasts for days.", "positive"),
    ("The pizza was cold and the service was rude.", "negative"),
    ("Great movie, I would watch it again.", "positive"),
    ("The shoes fell apart after a week.", "negative"),
    ("Wonderful hotel with a friendly staff.", "positive"),
    ("This laptop is slow and keeps crashing.", "negative"),
    ("Best coffee in town, highly recommended.", "positive"),
    ("The package arrived broken and late.", "negative"),
    ("A beautiful book that made me smile.", "positive"),
    ("Terrible sound quality, do not buy.", "negative"),
    ("The concert was amazing from start to end.", "positive"),
    ("My order was wrong and nobody answered.", "negative"),
    ("Comfortable chair, worth every penny.", "positive"),
    ("The app is full of bugs and ads.", "negative"),
    ("Lovely garden and a quiet room.", "positive"),
    ("The food made me sick.", "negative"),
    ("Fast delivery and great quality.", "positive"),
    ("Boring game, I quit after an hour.", "negative"),
    ("The teacher explains everything clearly.", "positive"),
    ("Awful smell and dirty sheets.", "negative"),
]
ROWS = [{"input": text, "expected": label} for text, label in REVIEWS]
JUDGE = '{"verdict": "pass", "reason": "it names a sentiment"}'

DEFINITION = """
prompt: "Is this review positive or negative? Answer with one word.\\n\\nReview: {input}"
max_tokens: 8
temperature: 0
seed: 7
checks:
  - contains
  - regex: "(?i)\\\\b(positive|negative)\\\\b"
    name: one-label
  - judge: judge
    rubric: The answer names the sentiment of the review.
"""


def test_three_models_with_smollm2_give_the_table_their_answers_earn_reopen_and_compare(ip, scripted):
    scripted.model("always-positive", ["positive"])
    scripted.model("echo", ["I", " cannot", " tell"], remote=True)
    scripted.model("judge", [JUDGE])
    ip.user_ns["reviews"] = ROWS
    run_ok(ip, f"%%lfw eval sentiment\n{DEFINITION}")
    first = run_ok(ip, "%lfw eval sentiment --models smollm2,always-positive,echo --over reviews")

    assert first.status == "done" and len(first.answers) == 60
    table = {row["model"]: row for row in first.table()}
    assert (table["always-positive"]["contains"], table["echo"]["contains"], table["echo"]["one-label"]) == (
        "50%",
        "0%",
        "0%",
    )
    # SmolLM2's row is what its recorded answers earn.
    store = _store()
    answers = {a.row: store.get_run(a.run_id)["output"] for a in first.of("smollm2")}
    assert len(answers) == 20 and all(store.get_run(a.run_id)["model"] == "smollm2" for a in first.of("smollm2"))
    contains = sum(ROWS[i]["expected"] in text.lower() for i, text in answers.items()) / 20
    labelled = sum(bool(re.search(r"(?i)\b(positive|negative)\b", text)) for text in answers.values()) / 20
    assert first.pass_rates["smollm2"] == {"contains": contains, "one-label": labelled, "judge": 1.0}
    assert table["smollm2"]["tokens"] == sum(store.get_run(a.run_id)["output_tokens"] for a in first.of("smollm2"))
    assert table["smollm2"]["p50 latency"].endswith(" ms")

    reopened = run_ok(ip, f"%lfw eval show {first.run_id}")
    assert reopened.table() == first.table() and reopened.failures() == first.failures()

    changed = DEFINITION.replace("Answer with one word.", "Reply with only the word positive or the word negative.")
    run_ok(ip, f"%%lfw eval sentiment\n{changed}")
    second = run_ok(
        ip, f"%lfw eval sentiment --models smollm2,always-positive,echo --over reviews --against {first.run_id}"
    )
    before = {(a.model, a.input): a for a in first.answers}
    better = [
        (a.model, check, a.input)
        for a in second.answers
        for check, v in a.verdicts.items()
        if v.passed and not before[(a.model, a.input)].verdicts[check].passed
    ]
    regressed = [
        (a.model, check, a.input)
        for a in second.answers
        for check, v in a.verdicts.items()
        if not v.passed and before[(a.model, a.input)].verdicts[check].passed
    ]
    assert [(r["model"], r["check"], r["input"]) for r in second.changes.better] == better
    assert [(r["model"], r["check"], r["input"]) for r in second.changes.regressed] == regressed
    assert all(m == "smollm2" for m, _, _ in better + regressed)  # the scripted models did not change


def _store():
    from lfwb.workbench import workbench

    return workbench().store
