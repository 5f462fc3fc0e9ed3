"""Live JSX/TSX previews: a component runs in a sandboxed iframe, never in the notebook page.

    >>> from lfwb.preview import preview
    >>> w = preview("export default function Hi({name = 'you'}) { return <b>Hi {name}</b> }")
    >>> w                      # a live preview with a control per prop
    >>> w.props = {"name": "Ada"}  # re-renders without reloading the frame

`runtime` builds the frame's page from the bundle in `lfwb/static/` (built from `extension/`),
`widget` is the anywidget that shows it. Neither is imported by `%load_ext lfwb`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import BadInput, check_text

if TYPE_CHECKING:
    from ..store import Store

# The artifact kinds that hold a component (kinds are normalised: lfwb/pipelines/artifacts.py).
COMPONENT_KINDS = ("jsx", "tsx", "js", "ts")
# What the frame compiles: an artifact of these kinds previews as it is (runtime.py, every face).
LANGUAGES = ("jsx", "tsx")
PREVIEWABLE = (*COMPONENT_KINDS, "javascript", "typescript")


def preview(source: str, props: dict | None = None, height: int | None = None, language: str | None = None):
    """A live preview of `source` (its default export); see `lfwb.preview.widget.Preview`."""
    from .widget import Preview

    return Preview(source, props=props, height=height, language=language)


def save_component(
    store: Store, project_id: int, source: str, name: str | None = None, language: str | None = None
) -> dict:
    """Keep a previewed component as an artifact (kind and language jsx/tsx, as a pipeline's
    fenced block would be, so revise and export take it): the same source under the same name
    again is the artifact already kept, not a copy."""
    from .component import find_component
    from .runtime import guess_language
    from .source import parse

    language = language or guess_language(source)
    if name is not None:
        check_text(name, "the component's name")
    component = find_component(parse(source)) if name is None else None
    stem = name or (component.name if component and component.name else "component")
    filename = stem if "." in stem else f"{stem}.{language}"
    for row in store.query(
        "SELECT id FROM artifacts WHERE project_id = ? AND run_id IS NULL AND filename = ? AND content = ? "
        "ORDER BY id DESC LIMIT 1",
        (project_id, filename, source),
    ):
        return store.get_artifact(row["id"])
    return store.add_artifact(project_id, source, kind=language, language=language, filename=filename)


def component_source(store: Store, artifact_id: int) -> tuple[str, str]:
    """A stored artifact's (source, jsx|tsx); one line when it is not a component."""
    row = store.get_artifact(artifact_id)
    # The kind is the normalised language (lfwb/pipelines/artifacts.py); `language` as written.
    language = row["kind"] if row["kind"] in PREVIEWABLE else (row.get("language") or row["kind"] or "").lower()
    if language not in PREVIEWABLE:
        raise BadInput(
            f"artifact {artifact_id} is {language or 'text'}, not a JSX/TSX component: "
            "only jsx and tsx artifacts have a preview"
        )
    return row["content"], "tsx" if language in ("tsx", "ts", "typescript") else "jsx"


__all__ = ["COMPONENT_KINDS", "LANGUAGES", "PREVIEWABLE", "component_source", "preview", "save_component"]
