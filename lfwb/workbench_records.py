"""The Workbench's records: projects, contexts, runs, steps, artifacts, chat sessions and money.

Each method is the one operation the magic, the panel and the route call alike: a face parses,
calls one of these and renders. They read and write through the Workbench's store, in its
current project unless a `project_id` is given; rows come back as plain values (a face adds marks).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from .errors import BadInput, StillRunning

if TYPE_CHECKING:
    from .run_diff import RunDiff
    from .run_view import RunView
    from .runtimes import RuntimeManager
    from .store import Store


class Records:
    """Mixed into `Workbench` (lfwb/workbench.py), which holds `store`, `manager` and `project`."""

    store: Store
    manager: RuntimeManager
    project: dict
    default_model: str

    @property
    def project_id(self) -> int:
        return self.project["id"]

    # -- projects ------------------------------------------------------------------------

    def projects(self, limit: int | None = None) -> list[dict]:
        """Projects, newest first; `current` is True for the Workbench's own."""
        return [{**row, "current": row["id"] == self.project_id} for row in self.store.list_projects(limit=limit)]

    def project_ref(self, ref: int | str | None) -> int:
        """A project's id from its id or name; None: the current project."""
        return self.project_id if ref is None else self.store.get_project(ref)["id"]

    def create_project(self, name: str, description: str | None = None) -> dict:
        return self.store.create_project(name, description or "")

    def get_project(self, ref: int | str) -> dict:
        return self.store.get_project(ref)

    def update_project(self, project_id: int, **fields: Any) -> dict:
        return self.store.update_project(project_id, **fields)

    def delete_project(self, project_id: int, cascade: bool = False) -> None:
        self.store.delete_project(project_id, cascade=cascade)

    # -- contexts ------------------------------------------------------------------------

    def contexts(self, limit: int | None = 20, project_id: int | None = None) -> list[dict]:
        return self.store.list_contexts(project_id=project_id or self.project_id, limit=limit)

    def context(self, context_id: int) -> dict:
        """A context's row with its number of `chunks`."""
        row = self.store.get_context(context_id)
        return {**row, "chunks": self.store.chunk_count(row["id"])}

    def context_chunk(self, context_id: int, index: int) -> dict:
        """Chunk `index` (from 0) of a context; one line naming the chunks it has when there is none."""
        n = self.store.chunk_count(self.store.get_context(context_id)["id"])
        chunk = self.store.list_chunks(context_id, limit=1, offset=max(index, 0))
        if index < 0 or not chunk:
            raise BadInput(
                f"context {context_id} has chunks 0 to {n - 1}, not {index}"
                if n
                else f"context {context_id} has no chunks yet"
            )
        return {**chunk[0], "of": n}

    def update_context(self, context_id: int, **fields: Any) -> dict:
        return self.store.update_context(context_id, **fields)

    def delete_context(self, context_id: int) -> None:
        self.store.delete_context(context_id)

    # -- runs and steps ------------------------------------------------------------------

    def runs(self, limit: int | None = 20, offset: int = 0, status: str | None = None) -> list[dict]:
        """The current project's runs, newest first (`status` picks one status)."""
        return self.store.list_runs(project_id=self.project_id, status=status, limit=limit, offset=offset)

    def run(self, run_id: int) -> dict:
        return self.store.get_run(run_id)

    def show_run(self, run_id: int) -> RunView:
        """The run with what its model was sent (`sent`: each message, its role, part and token
        count, the summary and retrieved chunks marked) and its answer; see lfwb/run_view.py."""
        from .run_view import run_view

        return run_view(self.store, self.store.get_run(run_id))

    def diff_runs(self, a: int, b: int) -> RunDiff:
        """What changed from run `a` to run `b`: model, settings, messages, summary, retrieved
        chunks, answer — one section each (see lfwb/run_diff.py)."""
        from .run_diff import diff_views

        return diff_views(self.show_run(a), self.show_run(b))

    def ended_run(self, run_id: int) -> dict:
        """The run, refused while lfwb is still writing it (its steps and text are not final)."""
        row = self.store.get_run(run_id)
        if row["status"] == "running":
            raise StillRunning(f"run {run_id} is still running — lfwb is writing it; wait until it ends, or cancel it")
        return row

    def import_run(self, kind: str, project_id: int | None = None, **values: Any) -> dict:
        """Keep a run made elsewhere (a tool that called a model itself), ended now."""
        from .store import now

        return self.store.add_run(project_id or self.project_id, kind, finished_at=now(), **_scrubbed(values))

    def delete_run(self, run_id: int) -> None:
        """Delete a run that has ended, with its steps and artifacts."""
        self.ended_run(run_id)
        self.store.delete_run(run_id)

    def steps(self, run_id: int, attempts: bool = False) -> list[dict]:
        """A run's steps in their order (each its last attempt, or every one with `attempts`);
        an unknown run is an error, not an empty list."""
        self.store.get_run(run_id)
        return self.store.list_steps(run_id, attempts=attempts)

    def step(self, step_id: int) -> dict:
        """The step's row, and `sent`: what its model was sent (as a run's, see `show_run`)."""
        from .run_view import step_sent

        row = self.store.get_step(step_id)
        return {**row, "sent": step_sent(self.store, row)}

    def import_step(self, run_id: int, position: int, name: str, **values: Any) -> dict:
        """Keep a step, ended, of a run that has ended."""
        from .store import now

        self.ended_run(run_id)  # an unknown run: "no run with id N", not a foreign-key message
        values.setdefault("finished_at", now())
        return self.store.add_step(run_id, position, **_scrubbed({"name": name, **values}))

    def delete_step(self, step_id: int) -> None:
        self.ended_run(self.store.get_step(step_id)["run_id"])
        self.store.delete_step(step_id)

    def page(self, table: str, where: dict, limit: int, before: int | None = None) -> list[dict]:
        """Rows of `table` matching `where` (None values ignored), newest first, ids below `before`."""
        return self.store.page(table, where, limit=limit, before=before)

    def timeline(self, run_id: int) -> list:
        """The bars of pipeline run `run_id` (`lfwb.pipelines.timeline.Bar`s)."""
        from .pipelines.timeline import timeline_rows

        return timeline_rows(self.store, run_id)

    # -- artifacts -----------------------------------------------------------------------

    def artifacts(self, run_id: int | None = None, limit: int | None = 50) -> list[dict]:
        """The current project's artifacts, or one run's (an unknown run is an error)."""
        if run_id is None:
            return self.store.list_artifacts(project_id=self.project_id, limit=limit)
        self.store.get_run(run_id)
        return self.store.list_artifacts(run_id=run_id, limit=limit)

    def artifact(self, artifact_id: int) -> dict:
        return self.store.get_artifact(artifact_id)

    def artifact_versions(self, artifact_id: int) -> list[dict]:
        """The versions of artifact `artifact_id`'s component (revisions), oldest first."""
        return self.store.artifact_versions(artifact_id)

    def add_artifact(self, content: str, project_id: int | None = None, **fields: Any) -> dict:
        return self.store.add_artifact(project_id or self.project_id, content, **fields)

    def update_artifact(self, artifact_id: int, **fields: Any) -> dict:
        return self.store.update_artifact(artifact_id, **fields)

    def delete_artifact(self, artifact_id: int) -> None:
        self.store.delete_artifact(artifact_id)

    def save_component(self, source: str, name: str | None = None, language: str | None = None) -> dict:
        """Keep a previewed component as an artifact of the current project (once per source)."""
        from .preview import save_component

        return save_component(self.store, self.project_id, source, name=name, language=language)

    def component_source(self, artifact_id: int) -> tuple[str, str]:
        """A stored component's (source, jsx|tsx); one line when the artifact is not one."""
        from .preview import component_source

        return component_source(self.store, artifact_id)

    def export_files(self, run_id: int, folder: str | os.PathLike, force: bool = False) -> list[dict]:
        """Write a run's artifacts into `folder`: all of them or none (see pipelines/artifacts.py)."""
        from .pipelines.artifacts import export_files

        return export_files(self.store, run_id, folder, force=force)

    def export_framer(self, artifact_id: int, path: str | os.PathLike, force: bool = False) -> dict:
        """Write a component as a Framer code component to `path` (see preview/framer.py)."""
        from .preview.framer import export_framer

        return export_framer(self.store, artifact_id, path, force=force)

    # -- chat sessions -------------------------------------------------------------------

    def chat_sessions(self) -> list[dict]:
        """The current project's chat sessions, most recently used first; `model` is the one a
        turn would use (the session's, else the default)."""
        return [
            {**row, "model": row["model"] or self.default_model}
            for row in self.store.list_chat_sessions(self.project_id)
        ]

    def find_chat_session(self, name: str) -> dict | None:
        """The session `name`'s row as `chat_sessions` gives it; None when there is none."""
        row = self.store.find_chat_session(self.project_id, name)
        return None if row is None else {**row, "model": row["model"] or self.default_model}

    def delete_chat_session(self, name: str) -> dict:
        """Delete a chat session and its messages (the runs that answered stay)."""
        return self.store.delete_chat_session(self.project_id, name)

    # -- money ---------------------------------------------------------------------------

    def budget(self) -> dict:
        """Spend and limits for the current project and this session."""
        from .spending import budget_status

        return budget_status(self.store, self.manager, self.project)

    def set_budget(self, scope: str, limit_usd: float | None) -> dict:
        """Set (None: remove) the `project` or `session` limit; returns `budget()`."""
        from .spending import set_budget

        set_budget(self.store, self.manager, scope, self.project_id, limit_usd)
        return self.budget()

    def costs(self, by: str, all_projects: bool = False) -> list[dict]:
        """Spend grouped `by` model, project or day; of the current project unless `all_projects`."""
        from .spending import cost_summary

        return cost_summary(self.store, by, None if all_projects else self.project_id)


def _scrubbed(values: dict[str, Any]) -> dict[str, Any]:
    """An imported row's values with every known key replaced by `***`, as a run lfwb makes
    itself keeps them (lfwb/runs.py): a key pasted by another tool reaches no row either."""
    import json

    from .runtimes.keys import redact

    if isinstance(values.get("params_json"), dict):
        values = {**values, "params_json": json.dumps(values["params_json"])}
    return {name: redact(value) if isinstance(value, str) else value for name, value in values.items()}
