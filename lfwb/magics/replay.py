"""Replaying a notebook on another model, and the step cache: `%lfw replay`, `%lfw cache clear`.

    %lfw replay --model gemini-2.5-flash                   # this kernel's %%lfw generate cells
    %lfw replay --model b --notebook story.ipynb --cells 2-5   # a saved notebook's, in any kernel
    %lfw cache clear                                       # later runs ask their models again

The work is `Workbench.start_replay`'s handle (lfwb/pipelines/replay.py); this face reads the
kernel's history into cells (each with the result its cell returned) and shows the table as it
fills in, in one display.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from IPython.core.magic_arguments import argument, magic_arguments

from .live import CellOutput
from .registry import Invocation, subcommand

if TYPE_CHECKING:  # lfwb.pipelines.replay pulls in the store: not at %load_ext time
    from ..pipelines.replay import ReplayCell, ReplayResult


class ReplayOutput(CellOutput):
    """One display in the running cell holding the replay's table (a terminal prints it once)."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.result: ReplayResult | None = None

    def on_event(self, event: Any) -> None:
        from IPython.display import display

        from ..handles import Update

        if not isinstance(event, Update) or self.terminal:
            return
        self.result = event.value
        data, metadata = event.value._repr_mimebundle_()
        if self.handle is None:
            self.handle = display(data, raw=True, display_id=True, metadata=metadata)
        elif self.due():
            self.handle.update(data, raw=True, metadata=metadata)

    def ended(self, value: Any, format: str) -> None:
        self.finish(value)

    def ended_early(self, format: str) -> None:
        if self.result is not None:
            self.finish(self.result)

    def finish(self, result: ReplayResult) -> None:
        from ..runs import mark_shown

        if self.terminal:
            print(repr(result))
        elif self.handle is not None:
            data, metadata = result._repr_mimebundle_()
            self.handle.update(data, raw=True, metadata=metadata)
        mark_shown(result)


@subcommand("replay")
@magic_arguments("lfw replay")
@argument("--model", "-m", metavar="M", help="the model to ask (default: each cell's own model)")
@argument("--cells", default="all", metavar="all|N-M", help="which cells, by the numbers beside them (default all)")
@argument(
    "--notebook",
    metavar="FILE.ipynb",
    help="a saved notebook's cells (its outputs name their runs); default: this kernel's",
)
def replay(ctx: Invocation, args):
    """Ask a notebook's %%lfw generate and chat cells again on another model, without running its other code.

    Each cell's prompt is taken as it was filled, with its settings, from the run it recorded.
    Shows a table: cell, old → new model, the two answers as a diff, tokens, tok/s, cost, schema
    valid. The new runs sit under one parent run. Returns the replay (`_.rows`, `_.run_id`).
    """
    source = args.notebook if args.notebook is not None else history_cells(ctx.shell)
    handle = ctx.workbench.start_replay(source, args.model, cells=args.cells)
    return ReplayOutput().follow(handle)


def history_cells(shell) -> list[ReplayCell]:
    """This kernel's `%%lfw` cells, each with the run of the result it returned (`Out[n]`)."""
    from ..pipelines.replay import ReplayCell

    if shell is None:
        return []
    history = shell.history_manager
    cells = []
    for number, source in enumerate(history.input_hist_raw):
        if number == 0 or not source.lstrip().startswith("%%lfw"):
            continue
        result = history.output_hist.get(number)
        run_id, shown = getattr(result, "run_id", None), getattr(result, "text", None)
        cells.append(
            ReplayCell(
                number,
                source.lstrip(),
                run_id if isinstance(run_id, int) else None,
                shown if isinstance(shown, str) else None,
            )
        )
    return cells


@subcommand("cache clear")
@magic_arguments("lfw cache clear")
def cache_clear(ctx: Invocation, args) -> None:
    """Forget the project's step cache: every later step and `--cache` generation asks its model
    again. The runs and their answers stay."""
    forgotten = ctx.workbench.clear_cache()
    print(
        f"forgot {forgotten} cached answer{'' if forgotten == 1 else 's'} in project {ctx.workbench.project['name']!r}"
    )
