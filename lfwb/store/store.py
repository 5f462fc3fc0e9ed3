"""The SQLite store: one file per workspace, opened with sqlite-utils, shared by kernels.

`Store` is the one object callers use. Its parts, one idea each: opening, write transactions
and closing (`connection`), generic row access (`rows`), runs and who owns them (`runs`), pipeline steps (`steps`), the step cache's look-ups (`cache`),
contexts and full-text search (`contexts`), their chunks and vectors for retrieval (`chunks`), what runs sent (`sent`); projects, artifacts and model registrations are
here. Rows come back as plain dicts, newest first.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterable
from typing import Any

from ..errors import AlreadyExists, BadInput, NotFound, StillRunning
from .cache import CacheRows
from .chat import ChatRows
from .contexts import ContextRows
from .migrate import now
from .runs import RunRows
from .sent import SentRows
from .steps import StepRows


class Store(RunRows, StepRows, ContextRows, ChatRows, CacheRows, SentRows):
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
            raise BadInput("a project needs a name", about="project_name")
        return self._insert("projects", {"name": name, "description": description})

    def get_project(self, id_or_name: int | str) -> dict:
        """A project by id or by name."""
        if isinstance(id_or_name, int) or str(id_or_name).isdigit():
            rows = self.query("SELECT * FROM projects WHERE id = ?", (int(id_or_name),))
        else:
            rows = self.query("SELECT * FROM projects WHERE name = ?", (id_or_name,))
        if not rows:
            names = ", ".join(p["name"] for p in self.list_projects(limit=20)) or "none yet"
            raise NotFound(f"no project {id_or_name!r} — projects: {names}", about="project")
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
            raise BadInput(f"project {project['name']!r} still has {what} — pass cascade=True to delete them too")
        with self.write() as conn:
            # Checked inside the write, so no run can start in between: a run still being
            # written (here or by another process) would lose what its writer flushes next.
            running = [
                r[0]
                for r in conn.execute("SELECT id FROM runs WHERE project_id = ? AND status = 'running'", (project_id,))
            ]
            if running:
                raise StillRunning(
                    f"project {project['name']!r} has {len(running)} run(s) still running "
                    f"(run {running[0]}) — wait until they end, or stop them first"
                )
            for table in ("artifacts", "chat_sessions", "runs", "contexts"):
                conn.execute(f"DELETE FROM {table} WHERE project_id = ?", (project_id,))
            conn.execute("DELETE FROM projects WHERE id = ?", (project_id,))
        self.prune_sent()

    # -- artifacts ---------------------------------------------------------------------

    def add_artifact(
        self,
        project_id: int,
        content: str,
        run_id: int | None = None,
        kind: str = "code",
        language: str | None = None,
        filename: str | None = None,
    ) -> dict:
        return self._insert(
            "artifacts",
            {
                "project_id": project_id,
                "run_id": run_id,
                "kind": kind,
                "language": language,
                "filename": filename,
                "content": content,
            },
            extra={"sha256": content_hash(content)} if isinstance(content, str) else None,
        )

    def add_artifacts(self, project_id: int, run_id: int, artifacts: Iterable[dict]) -> list[dict]:
        """Add `run_id`'s artifacts (dicts of content, kind, language, filename) in one write;
        returns the rows added. Content the run already has is skipped, and a filename it
        already uses becomes a distinct one (`distinct_filename`), both decided inside the write
        so that two steps of one run saving at once cannot both take a name."""
        added: list[dict] = []
        try:
            with self.write() as conn:
                held = conn.execute("SELECT sha256, filename FROM artifacts WHERE run_id = ?", (run_id,)).fetchall()
                hashes = {r["sha256"] for r in held}
                names = {r["filename"] for r in held if r["filename"]}
                for artifact in artifacts:
                    self._check_columns("artifacts", artifact)
                    digest = content_hash(artifact["content"])
                    if digest in hashes:
                        continue
                    row = {
                        **artifact,
                        "filename": distinct_filename(artifact.get("filename"), names),
                        "project_id": project_id,
                        "run_id": run_id,
                        "sha256": digest,
                        "created_at": now(),
                    }
                    cur = conn.execute(
                        f"INSERT INTO artifacts ({', '.join(row)}) VALUES ({', '.join('?' for _ in row)}) RETURNING *",
                        tuple(row.values()),
                    )
                    added.append(dict(cur.fetchone()))
                    hashes.add(digest)
                    names.add(row["filename"])
        except sqlite3.IntegrityError as e:
            raise self._integrity_error("artifacts", e, {"project_id": project_id, "run_id": run_id}) from None
        return added

    def get_artifact(self, artifact_id: int) -> dict:
        return self._get("artifacts", artifact_id)

    def list_artifacts(
        self,
        run_id: int | None = None,
        project_id: int | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[dict]:
        return self._list("artifacts", {"run_id": run_id, "project_id": project_id}, limit, offset)

    def update_artifact(self, artifact_id: int, **values: Any) -> dict:
        """Rename or relabel an artifact (filename, language, kind); its content stays as recorded."""
        if "content" in values:
            raise BadInput("an artifact's content is what its run produced — add a new artifact instead")
        return self._update("artifacts", artifact_id, values)

    def delete_artifact(self, artifact_id: int) -> None:
        self._delete("artifacts", artifact_id)

    def artifact_versions(self, artifact_id: int) -> list[dict]:
        """Every version of `artifact_id`'s component (its first version and all revisions made
        from it, by `parent_id`), oldest first."""
        self.get_artifact(artifact_id)  # an unknown id is NotFound, not an empty history
        return self.query(
            """
            WITH RECURSIVE up(id, parent_id) AS (
                SELECT id, parent_id FROM artifacts WHERE id = ?
                UNION SELECT a.id, a.parent_id FROM artifacts a JOIN up ON a.id = up.parent_id
            ), down(id) AS (
                SELECT id FROM up WHERE parent_id IS NULL
                UNION SELECT a.id FROM artifacts a JOIN down ON a.parent_id = down.id
            )
            SELECT * FROM artifacts WHERE id IN (SELECT id FROM down) ORDER BY version, id
            """,
            (artifact_id,),
        )

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

    # Aliases, for the runtimes' registry: it is handed this Store and calls these, never the
    # store's modules (lfwb/store/settings.py keeps them).
    def save_alias(self, name: str, models: list[str]) -> None:
        from . import settings

        settings.save_alias(self, name, models)

    def delete_alias(self, name: str) -> None:
        from . import settings

        settings.delete_alias(self, name)

    def load_aliases(self) -> dict[str, list[str]]:
        from . import settings

        return settings.load_aliases(self)


def content_hash(content: str) -> str:
    """The hex SHA-256 of an artifact's content, as kept in `artifacts.sha256`."""
    return hashlib.sha256(content.encode("utf-8", "surrogatepass")).hexdigest()


def distinct_filename(name: str | None, taken: Iterable[str | None]) -> str | None:
    """`name`, or `name` numbered so it is not in `taken` (case aside, as on macOS and Windows):
    `Button.jsx` → `Button-2.jsx`, `src/app.test.js` → `src/app.test-2.js`, `Makefile` → `Makefile-2`.
    """
    if not name:
        return None
    folded = {t.casefold() for t in taken if t}
    if name.casefold() not in folded:
        return name
    folder, slash, base = name.rpartition("/")
    dot = base.rfind(".")
    stem, ext = (base[:dot], base[dot:]) if dot > 0 else (base, "")
    n = 2
    while f"{folder}{slash}{stem}-{n}{ext}".casefold() in folded:
        n += 1
    return f"{folder}{slash}{stem}-{n}{ext}"
