"""The `%lfw` / `%%lfw` magics: argument parsing and dispatch, nothing else.

Each subcommand lives in a small module here and hands its work to the Workbench.
"""

from __future__ import annotations

from IPython.core.magic import Magics, line_cell_magic, magics_class

from ..errors import BadInput

# Importing a module registers its subcommands.
from . import chat, compare, core, evals, export, generate, models, pipelines, preview  # noqa: F401
from . import project, remote, replay, revise, serve  # noqa: F401
from .registry import SUBCOMMANDS, Invocation, find_subcommand, parse


def run_lfw(shell, line: str, cell: str | None = None):
    """Dispatch one `%lfw` line (and `%%lfw` body) to its subcommand."""
    sub, rest = find_subcommand(line)
    args = parse(sub, rest)
    if args is None:  # -h / --help
        print(sub.usage)
        return None
    if sub.cell == "required" and cell is None:
        raise BadInput(f"{sub.name} takes a cell body: start the cell with %%lfw {sub.name}")
    if sub.cell == "never" and cell is not None and cell.strip():
        raise BadInput(f"{sub.name} takes no cell body: use %lfw {sub.name} on one line")
    return sub.func(Invocation(shell=shell, cell=cell), args)


@magics_class
class LfwbMagics(Magics):
    @line_cell_magic
    def lfw(self, line: str, cell: str | None = None):
        """lfwb, the LLM workbench. `%lfw help` lists the subcommands."""
        return run_lfw(self.shell, line, cell)


__all__ = ["LfwbMagics", "SUBCOMMANDS", "run_lfw"]
