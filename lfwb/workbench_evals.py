"""The Workbench's evals: definitions (save, find, list), runs (a `Handle` each) and reports.

    >>> wb.save_eval("prompt: 'Sentiment of: {input}'\\nchecks: [contains]", name="sentiment")
    >>> report = wb.run_eval("sentiment", models=["smollm2", "fast"], over="reviews.csv")
    >>> report.table(), report.best, wb.eval_report(report.run_id, against=9).changes

The work is lfwb/evals/ (runner, scoring, report) with the Workbench's store, manager and project.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .evals.report import EvalReport
    from .evals.runner import OnProgress
    from .evals.spec import EvalSpec
    from .handles import Handle
    from .runtimes import RuntimeManager
    from .store import Store


@dataclass
class SavedEval:
    spec: EvalSpec
    version: int
    created: bool

    def __str__(self) -> str:
        verb = "saved" if self.created else "unchanged:"
        return f"{verb} {self.spec.name} v{self.version} ({self.spec.summary()})"


class Evals:
    """Mixed into `Workbench` (lfwb/workbench.py), which holds `store`, `manager` and the project."""

    store: Store
    manager: RuntimeManager

    if TYPE_CHECKING:

        @property
        def project_id(self) -> int: ...

    def save_eval(self, definition: str | Mapping[str, Any], name: str) -> SavedEval:
        """Check and save an eval definition (YAML text or a dict) as `name`; a changed one is a
        new version. Bad YAML or an unknown check: one line, nothing saved."""
        from .evals.spec import parse_eval
        from .store.evals import save_eval

        spec = parse_eval(definition, name)
        row, created = save_eval(self.store, spec.name, spec.source, spec.hash)
        return SavedEval(replace(spec, version=row["version"]), row["version"], created)

    def eval_definition(self, name: str) -> EvalSpec:
        """The saved eval `name` (its latest version)."""
        from .evals.spec import parse_eval
        from .store.evals import get_eval

        row = get_eval(self.store, name)
        return replace(parse_eval(row["definition"], name), version=row["version"])

    def evals(self) -> list[dict]:
        """Saved evals: name, version, created_at."""
        from .store.evals import list_evals

        return [{k: r[k] for k in ("name", "version", "created_at")} for r in list_evals(self.store)]

    def start_eval(
        self,
        name_or_spec: str | EvalSpec,
        models: Sequence[str] | None = None,
        over: Any = None,
        *,
        against: int | None = None,
        namespace: Mapping[str, Any] | None = None,
        on_progress: OnProgress | None = None,
        cache: bool = True,
        definition: str | Mapping[str, Any] | None = None,
        on_saved: Callable[[SavedEval], None] | None = None,
        **settings: Any,
    ) -> Handle[EvalReport]:
        """`run_eval` as a `Handle`: `Update` events carry the progress (`.ended`, `.total`,
        `.run_id`); `cancel()` stops every answer; its result is the `EvalReport`. Everything is
        checked here, before the handle exists: a fault is one line and nothing is stored.
        `cache=False` asks every model again, even where an identical request was answered.
        With `definition`, it is the eval, saved as `name_or_spec` (`on_saved` told) once the run
        is checked: a cell whose run is refused keeps no new version either."""
        from .evals.runner import prepare, run_eval
        from .evals.spec import parse_eval
        from .handles import Handle

        if definition is not None:
            spec = parse_eval(definition, str(name_or_spec))
        else:
            spec = self.eval_definition(name_or_spec) if isinstance(name_or_spec, str) else name_or_spec
        prepared = prepare(
            self.store,
            self.manager,
            self.project_id,
            spec,
            list(models) if models else None,
            over,
            namespace=namespace,
            settings=settings,
            against=against,
            cache=cache,
        )
        if definition is not None:
            saved = self.save_eval(definition, str(name_or_spec))
            prepared = replace(prepared, spec=saved.spec)
            if on_saved is not None:
                on_saved(saved)
        store, manager, project_id = self.store, self.manager, self.project_id

        def work(h: Handle) -> EvalReport:
            return run_eval(
                prepared,
                store,
                manager,
                project_id,
                namespace=namespace,
                on_progress=h.updating(on_progress),
                stop=h.stop,
            )

        return Handle(work)

    def run_eval(
        self, name_or_spec: str | EvalSpec, models: Sequence[str] | None = None, over: Any = None, **options: Any
    ) -> EvalReport:
        """Run eval `name_or_spec` (saved name or `EvalSpec`) on each of `models` over the rows
        `over` (a list, a notebook name, a .csv or .jsonl file); returns its `EvalReport`
        (`.table()`, `.failures()`, `.best`, `.run_id`). `against=RUN` adds what changed since."""
        return self.start_eval(name_or_spec, models, over, **options).result()

    async def arun_eval(
        self, name_or_spec: str | EvalSpec, models: Sequence[str] | None = None, over: Any = None, **options: Any
    ) -> EvalReport:
        """`run_eval`, awaited."""
        return await self.start_eval(name_or_spec, models, over, **options)

    def eval_report(self, run_id: int, against: int | None = None) -> EvalReport:
        """Eval run `run_id` reopened (and compared with eval run `against`)."""
        from .evals.report import load_report

        report = load_report(self.store, run_id)
        if against is not None:
            report.against(load_report(self.store, against))
        return report
