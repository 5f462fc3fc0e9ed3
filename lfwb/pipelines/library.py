"""Where pipeline definitions come from: the store (saved, versioned), a YAML file, or the
ones that ship with lfwb (`ui-component.yaml`, `code-review.yaml` next to this module).

    >>> saved = save(store, parse_pipeline(text, name="ui"), manager)   # checked, then kept
    >>> saved.version, saved.created                                     # (2, True): it changed
    >>> find(store, "ui-component").source                               # a saved one, else the bundled one

A name the store holds is the saved pipeline; only a name it has never held falls back to the
bundled file, so a user's own `ui-component` wins over ours.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import NotFound, PipelineError
from ..store import pipelines as rows
from .plan import check
from .spec import PipelineSpec, parse_pipeline
from .yaml_source import MAX_DEFINITION_BYTES

if TYPE_CHECKING:
    from ..runtimes import RuntimeManager
    from ..store import Store

BUNDLED = Path(__file__).resolve().parent


@dataclass
class Saved:
    """What saving did: the spec as stored (with its version) and whether that version is new."""

    spec: PipelineSpec
    created: bool

    @property
    def version(self) -> int:
        return self.spec.version or 0

    def __str__(self) -> str:
        if self.created:
            return f"saved {self.spec.name} v{self.version} ({self.spec.summary()})"
        return f"{self.spec.name} v{self.version} is unchanged ({self.spec.summary()})"


def save(store: Store, spec: PipelineSpec, manager: RuntimeManager) -> Saved:
    """Check `spec`'s models, then keep it as the next version of its name (unless unchanged).

    Nothing is stored when the check fails.
    """
    if not spec.name:
        raise PipelineError(
            "a pipeline needs a name to be saved — give it `name:` in the definition", about="pipeline_name"
        )
    check(spec, manager)
    row, created = rows.save_pipeline(store, spec.name, spec.description, spec.to_yaml(), spec.hash)
    return Saved(_from_row(row), created)


def find(store: Store, name: str, version: int | None = None) -> PipelineSpec:
    """The saved pipeline `name` (its latest version, or `version`), else the bundled one."""
    if rows.has_pipeline(store, name) or name not in bundled_names():
        return _from_row(rows.get_pipeline(store, name, version))
    if version is not None:
        raise NotFound(f"{name!r} is a bundled pipeline with no saved versions — leave out --version")
    return read_file(BUNDLED / f"{name}.yaml")


def read_file(path: str | Path) -> PipelineSpec:
    """A pipeline from a YAML file, named by its `name:` key or else its file name (`ui.yaml` → ui)."""
    path = Path(path).expanduser()
    if path.suffix.lower() not in (".yaml", ".yml"):
        raise PipelineError(f"{path} is not a .yaml or .yml file — a pipeline file is YAML")
    if not path.is_file():
        raise PipelineError(f"no file at {path} — check the path (relative to {Path.cwd()})")
    if path.stat().st_size > MAX_DEFINITION_BYTES:  # before reading it
        raise PipelineError(
            f"{path} is {path.stat().st_size} bytes — a definition may be at most {MAX_DEFINITION_BYTES}"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise PipelineError(f"{path} is not UTF-8 text — re-save it as UTF-8") from None
    try:
        spec = parse_pipeline(text)
    except PipelineError as e:
        raise PipelineError(f"{path.name}: {e}") from None
    return spec if spec.name else parse_pipeline(text, name=path.stem)


def listing(store: Store) -> list[dict]:
    """Saved pipelines (latest version each) and the bundled ones the store has no name for."""
    found = []
    for row in rows.list_pipelines(store):
        found.append(
            {
                **_summary(_from_row(row)),
                "versions": row["versions"],
                "source": "saved",
                "created_at": row["created_at"],
            }
        )
    saved = {r["name"] for r in found}
    for name in bundled_names():
        if name not in saved:
            spec = read_file(BUNDLED / f"{name}.yaml")
            found.append({**_summary(spec), "versions": 0, "source": "bundled", "created_at": None})
    return sorted(found, key=lambda r: r["name"])


def bundled_names() -> list[str]:
    return sorted(p.stem for p in BUNDLED.glob("*.yaml"))


def _summary(spec: PipelineSpec) -> dict:
    return {
        "name": spec.name,
        "version": spec.version,
        "description": spec.description,
        "steps": len(spec.steps),
        "order": " → ".join(s.name for s in spec.order()),
    }


def _from_row(row: dict) -> PipelineSpec:
    spec = parse_pipeline(row["spec_yaml"], name=row["name"])
    spec.version, spec.pipeline_id = row["version"], row["id"]
    return spec
