"""Writing artifacts out: `%lfw export files RUN_ID --to DIR`."""

from __future__ import annotations

from IPython.core.magic_arguments import argument, magic_arguments

from .registry import Invocation, positive_int, subcommand
from .rows import Rows


@subcommand("export files")
@magic_arguments("lfw export files")
@argument("run_id", type=positive_int, help="a run id from %%lfw runs")
@argument("--to", required=True, metavar="DIR", help="the folder to write into (created if missing)")
@argument("--force", action="store_true", help="replace files already in DIR")
def export_files(ctx: Invocation, args) -> Rows:
    """Write a run's artifacts as files into DIR: all of them or, when one cannot be written (a
    name that would leave DIR, a file already there without --force), none."""
    written = ctx.workbench.export_files(args.run_id, args.to, force=args.force)
    return Rows(written, ["id", "path", "bytes"])


@subcommand("export framer")
@magic_arguments("lfw export framer")
@argument("artifact_id", type=positive_int, help="a JSX/TSX artifact id from %%lfw artifacts")
@argument("--to", required=True, metavar="FILE", help="the .tsx file to write, in the working folder")
@argument("--force", action="store_true", help="write outside the working folder, or over an existing file")
def export_framer(ctx: Invocation, args) -> Rows:
    """Write a component as a Framer code component (a named default-exported function,
    addPropertyControls for its props, the layout annotations). Imports other than react,
    react-dom, framer and framer-motion are refused."""
    written = ctx.workbench.export_framer(args.artifact_id, args.to, force=args.force)
    return Rows([written], ["id", "path", "component", "bytes"])
