"""Settings a workspace keeps in its store: fallback chains (aliases) and project budgets.

Plain functions over a `Store`, so the RuntimeManager and the budget checks share one copy.

    >>> save_alias(store, "best", ["gemini-2.5-pro", "smollm2"])
    >>> load_aliases(store)
    {'best': ['gemini-2.5-pro', 'smollm2']}
"""

from __future__ import annotations

import json

from .migrate import now
from .store import Store


def save_alias(store: Store, name: str, models: list[str]) -> None:
    with store.write() as conn:
        conn.execute(
            "INSERT INTO aliases (name, models_json, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT(name) DO UPDATE SET models_json = excluded.models_json, updated_at = excluded.updated_at",
            (name, json.dumps(list(models)), now()),
        )


def delete_alias(store: Store, name: str) -> None:
    with store.write() as conn:
        conn.execute("DELETE FROM aliases WHERE name = ?", (name,))


def load_aliases(store: Store) -> dict[str, list[str]]:
    return {r["name"]: json.loads(r["models_json"]) for r in store.query("SELECT * FROM aliases ORDER BY name")}


def project_budget(store: Store, project_id: int) -> float | None:
    """The project's spending limit in USD, or None when it has none."""
    rows = store.query("SELECT limit_usd FROM budgets WHERE project_id = ?", (project_id,))
    return rows[0]["limit_usd"] if rows else None


def set_project_budget(store: Store, project_id: int, limit_usd: float | None) -> None:
    """Set (or with None, remove) the project's spending limit."""
    with store.write() as conn:
        if limit_usd is None:
            conn.execute("DELETE FROM budgets WHERE project_id = ?", (project_id,))
        else:
            conn.execute(
                "INSERT INTO budgets (project_id, limit_usd, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT(project_id) DO UPDATE SET limit_usd = excluded.limit_usd, "
                "updated_at = excluded.updated_at",
                (project_id, float(limit_usd), now()),
            )
