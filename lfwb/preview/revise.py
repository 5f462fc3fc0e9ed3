"""Revisions: a component changed by a model from an instruction, kept as its next version.

    >>> r = revise(wb, 12, "make the button red and add a subtitle", model="smollm2")
    >>> r.artifact["version"], r.artifact["parent_id"], r.run_id
    (2, 12, 31)
    >>> wb.store.artifact_versions(12)          # the whole chain, oldest first

The component and the instruction go to the model through `Workbench.generate`, so the revision
is a recorded run (streamed into the cell by `%lfw revise`, kept if it fails or is stopped). Its
answer's code blocks become the run's artifacts as any answer's do; the first JSX/TSX one that
passes `validate_source` becomes the new version: the parent's filename, `version` one more,
`parent_id` and `instruction` set. An answer without one is `PreviewRefused` (one line): the run
stays, and its code blocks are not kept as artifacts — none of them is a component.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import BadInput, PreviewRefused
from . import COMPONENT_KINDS, LANGUAGES
from .source import validate_source

if TYPE_CHECKING:
    from ..runs import OnStart, OnText, RunResult
    from ..stops import Stop
    from ..store import Store
    from ..workbench import Workbench

PROMPT = """Here is a React component{name}:

```{language}
{content}```

Change it as follows: {instruction}

Answer with the whole updated component in one ```{language} code block. Keep its default export \
and its props; import only from react, react-dom, framer or framer-motion."""


@dataclass
class Revision:
    """A revision: the component it started from, the new version, and the run that wrote it."""

    parent: dict  # the artifact row revised
    artifact: dict  # the new version's row
    run: RunResult  # the run that wrote it

    @property
    def run_id(self) -> int | None:
        return self.run.run_id

    def __repr__(self) -> str:
        a = self.artifact
        return (
            f"<Revision artifact {a['id']} ({a['filename'] or a['kind']} v{a['version']}) "
            f"from {self.parent['id']} by run {self.run_id}>"
        )

    def _repr_mimebundle_(self, **kwargs: Any):
        """The old and new versions' previews side by side (text where previews cannot show)."""
        from ..errors import PreviewUnavailable

        try:
            import ipywidgets

            from .widget import Preview

            columns = []
            for row, label in ((self.parent, "before"), (self.artifact, "after")):
                heading = ipywidgets.HTML(f"<b>v{row['version']}</b> · artifact {row['id']} · {label}")
                preview = Preview(row["content"], language=row["kind"] if row["kind"] in LANGUAGES else None)
                columns.append(ipywidgets.VBox([heading, preview.panel], layout=ipywidgets.Layout(width="50%")))
            bundle = ipywidgets.HBox(columns, layout=ipywidgets.Layout(width="100%"))._repr_mimebundle_(**kwargs)
        except (PreviewUnavailable, PreviewRefused):
            bundle = {}
        data, metadata = bundle if isinstance(bundle, tuple) else (bundle or {}, {})
        return {**data, "text/plain": repr(self)}, metadata


def revision_prompt(artifact: dict, instruction: str) -> str:
    """What the model is asked: the component in a fence of its language, and the instruction."""
    content = artifact["content"] if artifact["content"].endswith("\n") else artifact["content"] + "\n"
    name = f" ({artifact['filename']})" if artifact.get("filename") else ""
    return PROMPT.format(name=name, language=artifact["kind"], content=content, instruction=instruction.strip())


def revise(
    workbench: Workbench,
    artifact_id: int,
    instruction: str,
    model: str | None = None,
    *,
    on_start: OnStart | None = None,
    on_text: OnText | None = None,
    stop: Stop | None = None,
    **settings: Any,
) -> Revision:
    """Ask `model` to change component `artifact_id` as `instruction` says; keep the answer's
    component as its next version (see the module docstring). `settings` are generation
    settings (max_tokens, temperature, seed, ...); `on_start`/`on_text` follow the run, `stop`
    (a handle's) stops it."""
    store = workbench.store
    parent = store.get_artifact(artifact_id)
    if parent["kind"] not in COMPONENT_KINDS:
        raise BadInput(
            f"artifact {artifact_id} is {parent['kind']}, not a JSX/TSX component — "
            "revise a component (see %lfw artifacts)"
        )
    if not isinstance(instruction, str) or not instruction.strip():
        raise BadInput('say what to change, e.g. %lfw revise 3 "make the button red"')
    result = workbench._generate(
        revision_prompt(parent, instruction), model, None, False, on_start, on_text, stop, None, None, settings
    )
    return keep_revision(store, parent, instruction, result)


def keep_revision(store: Store, parent: dict, instruction: str, result: RunResult) -> Revision:
    """Make the first valid component among run `result`'s artifacts `parent`'s next version."""
    saved = sorted(store.list_artifacts(run_id=result.run_id), key=lambda r: r["id"])
    candidates = [row for row in saved if row["kind"] in COMPONENT_KINDS]
    refusal = None
    for row in candidates:
        try:
            validate_source(row["content"], what=f"the answer's {row['kind']} block")
        except PreviewRefused as e:
            refusal = refusal or e
            continue
        artifact = store.update_artifact(
            row["id"],
            parent_id=parent["id"],
            instruction=instruction.strip(),
            version=(parent.get("version") or 1) + 1,
            filename=parent["filename"],
            kind=parent["kind"],
        )
        return Revision(parent, artifact, result)
    for row in saved:  # none is a component: what the run wrote stays in its output only
        store.delete_artifact(row["id"])
    why = str(refusal) if refusal else "it has no ```jsx or ```tsx code block"
    raise PreviewRefused(
        f"run {result.run_id} answered without a usable component ({why}); "
        f"no new version of artifact {parent['id']} — see %lfw show {result.run_id}"
    )
