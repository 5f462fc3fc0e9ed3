"""The Workbench's pipelines: definitions (save, find, list) and runs (one, a batch, a rerun,
a notebook replayed); the step cache.

Each `start_*` returns the `Handle` the faces follow; the plain method waits on it and the
`a*` twin awaits it. Runs go to lfwb/pipelines/executor.py and batch.py with the Workbench's
store, manager and project.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .handles import Handle
    from .pipelines.batch import BatchInputs, BatchProgress
    from .pipelines.executor import OnUpdate
    from .pipelines.library import Saved
    from .pipelines.replay import OnReplay, ReplayCell, ReplayResult
    from .pipelines.result import PipelineResult
    from .pipelines.spec import PipelineSpec
    from .runtimes import RuntimeManager
    from .store import Store

    # A pipeline as the Workbench takes it: a saved or bundled name, YAML text, a dict, a spec.
    PipelineRef = str | Mapping[str, Any] | PipelineSpec


class Pipelines:
    """Mixed into `Workbench` (lfwb/workbench.py), which holds `store`, `manager` and the project."""

    store: Store
    manager: RuntimeManager

    if TYPE_CHECKING:

        @property
        def project_id(self) -> int: ...  # the current project's (lfwb/workbench_records.py)

    # -- pipeline definitions (lfwb/pipelines/library.py) -----------------------------------

    def pipeline(self, name: str, version: int | None = None) -> PipelineSpec:
        """The pipeline `name` as a `PipelineSpec`: saved (latest, or `version`), else bundled."""
        from .pipelines import library

        return library.find(self.store, name, version)

    def save_pipeline(self, definition: str | Mapping[str, Any] | PipelineSpec, name: str | None = None) -> Saved:
        """Check and save a pipeline (YAML text, a dict or a `PipelineSpec`); a changed
        definition becomes a new version. Returns what was saved (`.spec`, `.version`, `.created`)."""
        from .pipelines import library
        from .pipelines.spec import parse_pipeline

        return library.save(self.store, parse_pipeline(definition, name=name), self.manager)

    def pipelines(self) -> list[dict]:
        """Saved pipelines (latest version each) and the bundled ones."""
        from .pipelines import library

        return library.listing(self.store)

    def start_pipeline(
        self,
        name_or_spec: PipelineRef,
        input: str = "",
        *,
        namespace: Mapping[str, Any] | None = None,
        on_update: OnUpdate | None = None,
        cache: bool = True,
        **settings: Any,
    ) -> Handle[PipelineResult]:
        """`run_pipeline` as a `Handle`: `Update` events carry the `PipelineResult` as it fills
        in; `cancel()` stops every running step (each keeps its text). `cache=False` runs every
        step, none answered by the step cache (lfwb/pipelines/step_cache.py)."""
        from .handles import Handle
        from .pipelines.executor import run_pipeline

        def work(h: Handle) -> PipelineResult:
            return run_pipeline(
                self.store,
                self.manager,
                self.project_id,
                self._pipeline_spec(name_or_spec),
                input,
                namespace=namespace,
                settings=settings or None,
                on_update=h.updating(on_update),
                stop=h.stop,
                cache=cache,
            )

        return Handle(work)

    def run_pipeline(self, name_or_spec: PipelineRef, input: str = "", **options: Any) -> PipelineResult:
        """Run a pipeline (a saved or bundled name, YAML text, a dict or a `PipelineSpec`) on
        `input` and record it; returns a `PipelineResult` (`.steps["name"].text`, `.artifacts`,
        `.run_id`, `.status`). Settings override every step's (e.g. `max_tokens=64`);
        `namespace` fills `{name}`s from the notebook; `on_update(result)` follows it. A step that
        would repeat an answer the project has (temperature 0 or a seed) takes it, `cached`,
        unless `cache=False`."""
        return self.start_pipeline(name_or_spec, input, **options).result()

    async def arun_pipeline(self, name_or_spec: PipelineRef, input: str = "", **options: Any) -> PipelineResult:
        """`run_pipeline`, awaited."""
        return await self.start_pipeline(name_or_spec, input, **options)

    def start_batch(
        self,
        name_or_spec: PipelineRef,
        inputs: str | Sequence | BatchInputs,
        *,
        concurrency: int | None = None,
        namespace: Mapping[str, Any] | None = None,
        on_progress: Callable[[BatchProgress], None] | None = None,
        cache: bool = True,
        **settings: Any,
    ) -> Handle[list[dict]]:
        """`run_batch` as a `Handle`: `Update` events carry the `BatchProgress`; a cancelled
        batch's result is the rows of the inputs started. `cache=False`: no step is answered by the
        step cache."""
        from .handles import Handle
        from .pipelines.batch import run_batch

        def work(h: Handle) -> list[dict]:
            def progress(value: BatchProgress) -> None:
                h.update(value)
                if on_progress is not None:
                    on_progress(value)

            return run_batch(
                self.store,
                self.manager,
                self.project_id,
                self._pipeline_spec(name_or_spec),
                inputs,
                concurrency=concurrency,
                namespace=namespace,
                settings=settings or None,
                on_progress=progress,
                stop=h.stop,
                cache=cache,
            )

        return Handle(work)

    def run_batch(self, name_or_spec: PipelineRef, inputs: str | Sequence | BatchInputs, **options: Any) -> list[dict]:
        """Run a pipeline once per input, `concurrency` runs at a time (default: 1 when a step's
        model is local, 4 when all are remote); returns one row per input (`run_id`, `status`,
        ...). `inputs`: a list, or what `batch.read_inputs` reads (a CSV or JSONL file)."""
        return self.start_batch(name_or_spec, inputs, **options).result()

    def _pipeline_spec(self, name_or_spec: PipelineRef) -> PipelineSpec:
        from .pipelines.spec import parse_pipeline

        if isinstance(name_or_spec, str) and "\n" not in name_or_spec and ":" not in name_or_spec:
            return self.pipeline(name_or_spec)
        return parse_pipeline(name_or_spec)

    def start_rerun(
        self,
        run_id: int,
        from_step: str | None = None,
        *,
        namespace: Mapping[str, Any] | None = None,
        on_update: OnUpdate | None = None,
    ) -> Handle[PipelineResult]:
        """`rerun_pipeline` as a `Handle` (as `start_pipeline`'s)."""
        from .handles import Handle
        from .pipelines.rerun import rerun_pipeline

        def work(h: Handle) -> PipelineResult:
            return rerun_pipeline(
                self.store,
                self.manager,
                self.project_id,
                run_id,
                from_step,
                namespace=namespace,
                on_update=h.updating(on_update),
                stop=h.stop,
            )

        return Handle(work)

    def rerun_pipeline(self, run_id: int, from_step: str | None = None, **options: Any) -> PipelineResult:
        """Run pipeline run `run_id` again; with `from_step`, reuse the outputs of the steps before it."""
        return self.start_rerun(run_id, from_step, **options).result()

    def start_replay(
        self,
        source: str | os.PathLike | Sequence[ReplayCell],
        model: str | None = None,
        *,
        cells: str = "all",
        on_update: OnReplay | None = None,
    ) -> Handle[ReplayResult]:
        """`replay` as a `Handle`: `Update` events carry the `ReplayResult` as it fills in;
        `cancel()` stops the cell being asked and asks no further one. A notebook that cannot be
        read, a bad `cells` or an unknown model is refused here, before anything runs."""
        from .handles import Handle
        from .pipelines.replay import notebook_cells, replay, select

        if isinstance(source, (str, os.PathLike)):
            listed, label = notebook_cells(source), os.fspath(source)
        else:
            listed, label = list(source), "kernel history"
        chosen = select(listed, cells)
        if model is not None:
            self.manager.resolve(model)

        def work(h: Handle) -> ReplayResult:
            return replay(
                self.store,
                self.manager,
                self.project_id,
                chosen,
                model,
                source=label,
                on_update=h.updating(on_update),
                stop=h.stop,
            )

        return Handle(work)

    def replay(
        self, source: str | os.PathLike | Sequence[ReplayCell], model: str | None = None, **options: Any
    ) -> ReplayResult:
        """Ask a notebook's `%%lfw generate` and chat cells again on `model` (default: each cell's own),
        without running its other code: each cell's recorded prompt, as it was filled, and its
        settings. `source`: a saved notebook's path, or `ReplayCell`s (the magic reads them from
        the kernel's history); `cells="2-4"` picks by the numbers beside the cells. The new runs
        sit under one parent run; returns a `ReplayResult` (`.rows`, `.runs`, `.run_id`), shown
        as a table: old → new model, the answers' diff, tokens, tok/s, cost, schema valid."""
        return self.start_replay(source, model, **options).result()

    def clear_cache(self) -> int:
        """Forget the current project's step cache (lfwb/pipelines/step_cache.py): later steps and
        `generate(cache=True)` runs ask their models again. No run is deleted. Returns how many
        answers were cached."""
        return self.store.clear_cache(self.project_id)
