"""Pipeline definitions kept in the store, by name and version.

Plain functions over a `Store`; what a definition means is `lfwb.pipelines.spec`'s business,
the store keeps its YAML and a hash of what it says. Saving the definition a name already has
as its latest version adds nothing; any other definition becomes the next version.

    >>> save_pipeline(store, "ui", "Write a component", "steps: ...", "3f2a…")
    ({'id': 1, 'name': 'ui', 'version': 1, ...}, True)
    >>> get_pipeline(store, "ui")["version"]          # the latest, or version=N
    1
"""

from __future__ import annotations

from ..errors import NotFound
from .migrate import now
from .store import Store


def save_pipeline(store: Store, name: str, description: str, spec_yaml: str, spec_hash: str) -> tuple[dict, bool]:
    """The row for this definition and whether it is new: the latest version when its hash is
    the same, otherwise a new version (decided inside one write, so two kernels saving at once
    cannot take one number)."""
    with store.write() as conn:
        latest = conn.execute(
            "SELECT * FROM pipelines WHERE name = ? ORDER BY version DESC LIMIT 1", (name,)
        ).fetchone()
        if latest is not None and latest["hash"] == spec_hash:
            return dict(latest), False
        version = latest["version"] + 1 if latest is not None else 1
        row = conn.execute(
            "INSERT INTO pipelines (name, version, description, spec_yaml, hash, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?) RETURNING *",
            (name, version, description, spec_yaml, spec_hash, now()),
        ).fetchone()
        return dict(row), True


def get_pipeline(store: Store, name: str, version: int | None = None) -> dict:
    """A saved pipeline's row: its latest version, or `version`."""
    rows = store.query("SELECT * FROM pipelines WHERE name = ? ORDER BY version DESC", (name,))
    if not rows:
        saved = ", ".join(r["name"] for r in list_pipelines(store)) or "none yet"
        raise NotFound(f"no saved pipeline {name!r} — saved: {saved}", about="pipeline")
    if version is None:
        return rows[0]
    for row in rows:
        if row["version"] == version:
            return row
    raise NotFound(f"pipeline {name!r} has versions 1 to {rows[0]['version']}, not {version}")


def has_pipeline(store: Store, name: str) -> bool:
    return bool(store.query("SELECT 1 FROM pipelines WHERE name = ? LIMIT 1", (name,)))


def list_pipelines(store: Store) -> list[dict]:
    """The latest version of each saved pipeline, by name, with `versions` (how many it has)."""
    return store.query(
        "SELECT p.*, (SELECT count(*) FROM pipelines q WHERE q.name = p.name) AS versions "
        "FROM pipelines p WHERE p.version = (SELECT max(version) FROM pipelines q WHERE q.name = p.name) "
        "ORDER BY p.name"
    )
