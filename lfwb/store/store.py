"""The SQLite store: one file per workspace, opened with sqlite-utils, shared by kernels.

`Store` is the one object callers use. Its parts, one idea each: opening, write transactions
and closing (`connection`), generic row access (`rows`), runs and who owns them (`runs`),
contexts and full-text search (`contexts`); projects, artifacts and model registrations are
here. Rows come back as plain dicts, newest first.
"""

from __future__ import annotations

import json
from typing import Any

from ..errors import AlreadyExists, NotFound, BadInput
from .contexts import ContextRows
from .migrations import now
from .runs import RunRows


class Store(RunRows, ContextRows):
    """The workspace database. `Store("lfwb.db")` creates or upgrades the file.

    >>> store = Store(":memory:")
    >>> p = store.create_project("demo")
    >>> store.add_context(p["id"], "Buttons are blue.", name="style")["name"]
    'style'
    """

    # -- projects ----------------------------------------------------------------------

    def create_project(self, name: str, description: str = "") -> dict:
        name = (name or "").strip()
        if not name:
            raise BadInput("a project needs a name, e.g. %lfw project landing-page")
        return self._insert("projects", {"name": name, "description": description})

    def get_project(self, id_or_name: int | str) -> dict:
        """A project by id or by name."""
        if isinstance(id_or_name, int) or str(id_or_name).isdigit():
            rows = self.query("SELECT * FROM projects WHERE id = ?", (int(id_or_name),))
        else:
            rows = self.query("SELECT * FROM projects WHERE name = ?", (id_or_name,))
        if not rows:
            names = ", ".join(p["name"] for p in self.list_projects(limit=20)) or "none yet"
            raise NotFound(
                f"no project {id_or_name!r} — projects: {names}. Create one with %lfw project NAME"
            )
        return rows[0]

    def ensure_project(self, name: str) -> dict:
        """The project called `name`, created if missing (safe when two kernels race)."""
        try:
            return self.get_project(name)
        except NotFound:
            try:
                return self.create_project(name)
            except AlreadyExists:
                return self.get_project(name)

    def list_projects(self, limit: int | None = None, offset: int = 0) -> list[dict]:
        return self._list("projects", limit=limit, offset=offset)

    def update_project(self, project_id: int, **values: Any) -> dict:
        return self._update("projects", project_id, values)

    def delete_project(self, project_id: int, cascade: bool = False) -> None:
        """Delete a project. One that still holds material is kept unless `cascade=True`."""
        project = self._get("projects", project_id)
        counts = {
            t: self.query(f"SELECT count(*) AS n FROM {t} WHERE project_id = ?", (project_id,))[0]["n"]
            for t in ("contexts", "runs", "artifacts", "chat_sessions")
        }
        held = {t: n for t, n in counts.items() if n}
        if held and not cascade:
            what = ", ".join(f"{n} {t.replace('_', ' ')}" for t, n in held.items())
            raise BadInput(
                f"project {project['name']!r} still has {what} — pass cascade=True to delete them too"
            )
        with self.write() as conn:
            for table in ("artifacts", "chat_sessions", "runs", "contexts"):
                conn.execute(f"DELETE FROM {table} WHERE project_id = ?", (project_id,))
            conn.execute("DELETE FROM projects WHERE id = ?", (project_id,))

    # -- artifacts ---------------------------------------------------------------------

    def add_artifact(
        self, project_id: int, content: str, run_id: int | None = None, kind: str = "code",
        language: str | None = None, filename: str | None = None,
    ) -> dict:
        return self._insert(
            "artifacts",
            {"project_id": project_id, "run_id": run_id, "kind": kind, "language": language,
             "filename": filename, "content": content},
        )

    def get_artifact(self, artifact_id: int) -> dict:
        return self._get("artifacts", artifact_id)

    def list_artifacts(
        self, run_id: int | None = None, project_id: int | None = None,
        limit: int | None = None, offset: int = 0,
    ) -> list[dict]:
        return self._list("artifacts", {"run_id": run_id, "project_id": project_id}, limit, offset)

    # -- model registrations -----------------------------------------------------------

    def save_model(self, name: str, runtime: str, source: str, config: dict) -> None:
        stamp = now()
        with self.write() as conn:
            conn.execute(
                "INSERT INTO models (name, runtime, source, config_json, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET runtime = excluded.runtime, "
                "source = excluded.source, config_json = excluded.config_json, "
                "updated_at = excluded.updated_at",
                (name, runtime, source, json.dumps(config), stamp, stamp),
            )

    def list_models(self) -> list[dict]:
        return self.query("SELECT * FROM models ORDER BY created_at, name")

    def delete_model(self, name: str) -> None:
        with self.write() as conn:
            conn.execute("DELETE FROM models WHERE name = ?", (name,))
