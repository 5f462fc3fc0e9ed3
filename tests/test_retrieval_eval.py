"""Retrieval quality on the labelled set the tests ship (tests/data/retrieval_eval.json): 22
short contexts on varied topics, 35 questions each labelled with the context that answers it,
6 of them paraphrases that share no content word with their answer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lfwb.chat.retrieval import retrieve

EVAL = json.loads((Path(__file__).parent / "data" / "retrieval_eval.json").read_text())


def evaluate(store, project_id: int, mode: str, questions: list[dict] | None = None) -> dict:
    """recall@1, recall@5 and MRR of `mode` over `questions` (default: all of the set's);
    benchmarks/retrieval.py prints them too."""
    ranks = []
    for item in EVAL["questions"] if questions is None else questions:
        names = [h.context_name for h in retrieve(store, project_id, item["q"], mode=mode, limit=5, progress=False)]
        ranks.append(names.index(item["answer"]) + 1 if item["answer"] in names else None)
    n = len(ranks)
    return {
        "mode": mode,
        "recall@1": sum(r == 1 for r in ranks) / n,
        "recall@5": sum(r is not None for r in ranks) / n,
        "MRR": sum(1 / r for r in ranks if r) / n,
    }


def print_table(rows: list[dict]) -> None:
    print(f"\n{'mode':8} {'recall@1':>9} {'recall@5':>9} {'MRR':>6}")
    for r in rows:
        print(f"{r['mode']:8} {r['recall@1']:9.3f} {r['recall@5']:9.3f} {r['MRR']:6.3f}")


@pytest.fixture
def eval_store(store):
    project = store.create_project("eval")
    for name, text in EVAL["contexts"].items():
        store.add_context(project["id"], text, name=name)  # indexed on first use
    return store, project["id"]


def test_the_eval_set_is_big_enough_and_has_paraphrases():
    assert len(EVAL["contexts"]) >= 20 and len(EVAL["questions"]) >= 30
    assert sum(bool(q.get("paraphrase")) for q in EVAL["questions"]) >= 5
    assert {q["answer"] for q in EVAL["questions"]} <= set(EVAL["contexts"])


def test_bm25_finds_the_answering_context_in_the_top_five_for_most_questions(eval_store):
    result = evaluate(*eval_store, "bm25")
    print_table([result])
    assert result["recall@5"] >= 0.8


@pytest.mark.slow
def test_hybrid_recalls_at_least_as_well_as_bm25_and_finds_paraphrases(eval_store):
    store, project_id = eval_store
    table = [evaluate(store, project_id, mode) for mode in ("bm25", "vector", "hybrid")]
    print_table(table)
    bm25, _vector, hybrid = table
    assert hybrid["recall@5"] >= bm25["recall@5"]
    assert hybrid["recall@5"] >= 0.9
