"""Replaying a notebook on another model, and the step cache: `%lfw replay`, `%lfw cache clear`.

%lfw cache clear                        # later runs ask their models again; no run is deleted
"""

from __future__ import annotations

from IPython.core.magic_arguments import magic_arguments

from .registry import Invocation, subcommand


@subcommand("cache clear")
@magic_arguments("lfw cache clear")
def cache_clear(ctx: Invocation, args) -> None:
    """Forget the project's step cache: every later step and `--cache` generation asks its model
    again. The runs and their answers stay."""
    forgotten = ctx.workbench.clear_cache()
    print(
        f"forgot {forgotten} cached answer{'' if forgotten == 1 else 's'} in project {ctx.workbench.project['name']!r}"
    )
