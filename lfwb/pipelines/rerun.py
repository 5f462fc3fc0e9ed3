"""A pipeline run again as a new run: `%lfw rerun RUN [--from STEP]`.

    >>> again = rerun_pipeline(store, manager, project_id, 12, from_step="code")
    >>> again.steps["analyse"].status, again.steps["code"].status
    ('reused', 'done')

The step cache told which steps to take and which to run: the steps before `from_step` take the
earlier run's answers by position (`reused`), whatever their keys; the others are asked again.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ..errors import BadInput, PipelineError
from .executor import run_pipeline
from .result import FINISHED, PipelineResult
from .spec import parse_pipeline

if TYPE_CHECKING:
    from ..runtimes import RuntimeManager
    from ..store import Store


def rerun_pipeline(
    store: Store,
    manager: RuntimeManager,
    project_id: int,
    run_id: int,
    from_step: str | None = None,
    **options: Any,
) -> PipelineResult:
    """Run pipeline run `run_id` again as a new run, with its definition, input and settings.

    With `from_step`, the steps before it (in the run's order) that finished keep their output
    — recorded `reused`, with the run it came from — and `from_step` and every step after it run.
    This is the step cache told which steps to take (by position, not by key) and which to run:
    the steps that run are asked again even where the cache holds their answer (`cache=True`
    lets it answer them).
    """
    old = store.get_run(run_id)
    if old["kind"] != "pipeline":
        raise BadInput(f"run {run_id} is a {old['kind']} run, not a pipeline run — see %lfw runs")
    params = json.loads(old["params_json"] or "{}")
    spec = parse_pipeline(params["definition"], name=params.get("pipeline"))
    spec.pipeline_id, spec.version = old["pipeline_id"], params.get("version")
    names = [s.name for s in spec.order()]
    reuse: dict[str, dict] = {}
    if from_step is not None:
        if from_step not in names:
            raise PipelineError(f"run {run_id} has no step {from_step!r} — steps: {', '.join(names)}")
        rows = {r["name"]: r for r in store.list_steps(run_id)}
        reuse = {n: rows[n] for n in names[: names.index(from_step)] if rows.get(n, {}).get("status") in FINISHED}
    options.setdefault("settings", params.get("settings") or None)
    options.setdefault("cache", False)
    return run_pipeline(store, manager, project_id, spec, params.get("input", ""), reuse=reuse, **options)
