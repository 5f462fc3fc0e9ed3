"""Evals kept in the store: definitions by name and version, and the scores of an eval run.

Plain functions over a `Store`; what a definition means is `lfwb.evals.spec`'s business. An
eval run is a `runs` row (kind `eval`); its answers (and its judges' runs) are runs whose
`parent_id` is it, and `eval_scores` holds one row per answer and check.

    >>> save_eval(store, "sentiment", "prompt: ...", "3f2a…")
    ({'id': 1, 'name': 'sentiment', 'version': 1, ...}, True)
    >>> add_scores(store, [dict(eval_run_id=7, row_index=0, model="m", check_name="contains", passed=True)])
"""

from __future__ import annotations

from collections.abc import Iterable

from ..errors import NotFound
from .migrate import now
from .store import Store

SCORE_COLUMNS = ("eval_run_id", "row_index", "model", "answer_run_id", "check_name", "passed", "reason", "judge_run_id")


def save_eval(store: Store, name: str, definition: str, definition_hash: str) -> tuple[dict, bool]:
    """The row for this definition and whether it is new (as `save_pipeline`: the same text as
    the latest version adds nothing, any other becomes the next version, inside one write)."""
    with store.write() as conn:
        latest = conn.execute("SELECT * FROM evals WHERE name = ? ORDER BY version DESC LIMIT 1", (name,)).fetchone()
        if latest is not None and latest["hash"] == definition_hash:
            return dict(latest), False
        version = latest["version"] + 1 if latest is not None else 1
        row = conn.execute(
            "INSERT INTO evals (name, version, definition, hash, created_at) VALUES (?, ?, ?, ?, ?) RETURNING *",
            (name, version, definition, definition_hash, now()),
        ).fetchone()
        return dict(row), True


def get_eval(store: Store, name: str) -> dict:
    """The latest version of the eval called `name`."""
    rows = store.query("SELECT * FROM evals WHERE name = ? ORDER BY version DESC LIMIT 1", (name,))
    if not rows:
        saved = ", ".join(r["name"] for r in list_evals(store)) or "none yet"
        raise NotFound(f"no eval named {name!r} — saved: {saved}", about="eval")
    return rows[0]


def list_evals(store: Store) -> list[dict]:
    """The latest version of each saved eval, by name."""
    return store.query(
        "SELECT e.* FROM evals e WHERE e.version = (SELECT max(version) FROM evals f WHERE f.name = e.name) "
        "ORDER BY e.name"
    )


def add_scores(store: Store, scores: Iterable[dict]) -> None:
    """One answer's verdicts, written in one transaction."""
    rows = [tuple(score.get(c) for c in SCORE_COLUMNS) for score in scores]
    if not rows:
        return
    marks = ", ".join("?" for _ in SCORE_COLUMNS)
    with store.write() as conn:
        conn.executemany(f"INSERT INTO eval_scores ({', '.join(SCORE_COLUMNS)}) VALUES ({marks})", rows)


def eval_scores(store: Store, eval_run_id: int) -> list[dict]:
    """Every verdict of an eval run, by model, row and check as they were written."""
    return store.query("SELECT * FROM eval_scores WHERE eval_run_id = ? ORDER BY id", (eval_run_id,))


def child_runs(store: Store, parent_id: int) -> dict[int, dict]:
    """The runs under `parent_id` (an eval's answers and judges), by id."""
    return {r["id"]: r for r in store.query("SELECT * FROM runs WHERE parent_id = ? ORDER BY id", (parent_id,))}
