"""Pipeline definitions: `%%lfw pipeline NAME`, `%lfw pipelines`, `%lfw pipeline load|show`.

    %%lfw pipeline ui
    description: Analyse a UI request, then write the component
    steps:
      - name: analyse
        model: smollm2
        prompt: "List the parts of this interface: {input}"
      - name: code
        model: smollm2
        prompt: "Write one React component (JSX) for: {steps.analyse.output}"

prints `saved ui v1 (2 steps: analyse → code)`. The definition is checked first (one line
naming the step and the fault, nothing saved); the Workbench does the work.
"""

from __future__ import annotations

from IPython.core.magic_arguments import argument, magic_arguments

from .registry import Invocation, positive_int, subcommand
from .rows import Record, Rows


@subcommand("pipeline", cell="required")
@magic_arguments("lfw pipeline")
@argument("name", help="the pipeline's name, e.g. ui-component")
def pipeline(ctx: Invocation, args) -> None:
    """Save the cell body (YAML: description, steps) as pipeline NAME; a change is a new version."""
    saved = ctx.workbench.save_pipeline(ctx.cell or "", name=args.name)
    print(saved)


@subcommand("pipeline load")
@magic_arguments("lfw pipeline load")
@argument("file", help="a .yaml file; named by its `name:` key, else its file name")
def pipeline_load(ctx: Invocation, args) -> None:
    """Check and save a pipeline from a YAML file (a change is a new version)."""
    from ..pipelines.library import read_file

    print(ctx.workbench.save_pipeline(read_file(args.file)))


@subcommand("pipeline show")
@magic_arguments("lfw pipeline show")
@argument("name", help="a saved or bundled pipeline")
@argument("--version", type=positive_int, help="this version (default: the latest)")
def pipeline_show(ctx: Invocation, args) -> Record:
    """Show a pipeline's definition: version, steps in order, and its YAML."""
    spec = ctx.workbench.pipeline(args.name, args.version)
    return Record(
        name=spec.name, version=spec.version if spec.version else "bundled (not saved)",
        description=spec.description, steps=spec.summary(), yaml=spec.to_yaml().strip(),
    )


@subcommand("pipelines")
@magic_arguments("lfw pipelines")
def pipelines(ctx: Invocation, args) -> Rows:
    """List pipelines: saved ones with their latest version, and the bundled ones."""
    return Rows(
        ctx.workbench.pipelines(),
        ["name", "version", "versions", "source", "steps", "order", "description"],
        empty="no pipelines",
    )
