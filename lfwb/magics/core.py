"""`%lfw help` and `%lfw error`."""

from __future__ import annotations

import sys
import traceback

from IPython.core.magic_arguments import argument, magic_arguments

from ..errors import BadInput
from .registry import SUBCOMMANDS, Invocation, subcommand
from .rows import Rows


@subcommand("help")
@magic_arguments("lfw help")
@argument("topic", nargs="*", help="a subcommand to explain")
def help_(ctx: Invocation, args) -> Rows | None:
    """List every subcommand; `%lfw help SUB` (or `%lfw SUB --help`) shows one."""
    if args.topic:
        name = " ".join(args.topic)
        if name not in SUBCOMMANDS:
            raise BadInput(f"no subcommand {name!r} — see %lfw help")
        print(SUBCOMMANDS[name].usage)
        return None
    rows = [
        {"subcommand": ("%%lfw " if s.cell == "required" else "%lfw ") + name, "what it does": s.summary}
        for name, s in sorted(SUBCOMMANDS.items())
    ]
    return Rows(rows, empty="no subcommands")


@subcommand("error")
@magic_arguments("lfw error")
def error(ctx: Invocation, args) -> None:
    """Show the full traceback of the last error (lfwb shows errors as one line)."""
    value = getattr(sys, "last_value", None)
    if value is None:
        print("no error yet")
        return
    print("".join(traceback.format_exception(type(value), value, value.__traceback__)), end="")
