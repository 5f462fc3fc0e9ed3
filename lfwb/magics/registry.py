"""How `%lfw SUBCOMMAND ...` finds and parses its subcommand.

A subcommand is a plain function `fn(ctx, args)` decorated with IPython's `@magic_arguments`
(so its usage text comes from the decorators and is never stale) and registered with
`@subcommand("name")`. Multi-word names (`context add`) are matched before one-word ones, so
`pipeline show NAME` is its own subcommand while `%%lfw pipeline NAME` (any other word) is `pipeline`.
`{name}` templates in a cell body live in `lfwb.pipelines.templates`.
"""

from __future__ import annotations

import argparse
import difflib
import keyword
import math
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from IPython.core.error import UsageError as IPythonUsageError

from ..errors import BadInput


@dataclass
class Invocation:
    """What a subcommand gets besides its parsed arguments."""

    shell: Any  # the IPython shell
    cell: str | None  # the body of a %%lfw cell, None for %lfw

    @property
    def workbench(self):
        from ..workbench import workbench

        return workbench()

    @property
    def user_ns(self) -> dict:
        return self.shell.user_ns if self.shell is not None else {}


@dataclass
class Subcommand:
    name: str
    func: Callable[[Invocation, Any], Any]
    cell: str  # "never" | "optional" | "required"
    summary: str
    parser: argparse.ArgumentParser | None = None  # from @magic_arguments; None: no arguments

    @property
    def usage(self) -> str:
        # IPython writes usage as reST ("::" then an indented line); show it plainly.
        text = (self.func.__doc__ or self.summary).strip()
        if text.startswith("::"):
            text = text[2:].strip()
        return "usage: " + text


SUBCOMMANDS: dict[str, Subcommand] = {}


class _HelpRequested(Exception):
    """Raised by the parser's own -h/--help action, so quoted text holding "-h" stays text."""


class _HelpAction(argparse.Action):
    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(
            option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, nargs=0, help="show this usage"
        )

    def __call__(self, parser, namespace, values, option_string=None):
        raise _HelpRequested


def subcommand(name: str, cell: str = "never") -> Callable:
    """Register `fn` as `%lfw NAME` (`cell="required"` for `%%lfw NAME`)."""

    def register(fn: Callable) -> Callable:
        parser = getattr(fn, "parser", None)
        if parser is not None:
            # IPython's parsers have no help option; ours is an ordinary one, so argparse decides
            # what is an option (`-h`) and what is a value (`--text "use -h"`).
            parser.add_argument("-h", "--help", action=_HelpAction)
        description = (parser.description if parser else fn.__doc__) or ""
        summary = description.strip().splitlines()[0] if description.strip() else name
        SUBCOMMANDS[name] = Subcommand(name, fn, cell, summary, parser)
        return fn

    return register


def find_subcommand(line: str) -> tuple[Subcommand, str]:
    """Split `line` into its subcommand and the rest; one clear line for an unknown one."""
    words = line.split()
    if not words:
        return SUBCOMMANDS["help"], ""
    for n in (2, 1):
        name = " ".join(words[:n])
        if len(words) >= n and name in SUBCOMMANDS:
            rest = line.strip()[len(words[0]) :].strip()
            if n == 2:
                rest = rest[len(words[1]) :].strip()
            return SUBCOMMANDS[name], rest
    names = sorted({n.split()[0] for n in SUBCOMMANDS})
    close = difflib.get_close_matches(words[0], names, n=1, cutoff=0.5)
    group = [n for n in SUBCOMMANDS if n.split()[0] == words[0]]
    if group:
        raise BadInput(f"%lfw {words[0]} needs one of: {', '.join(sorted(n.split()[1] for n in group))}")
    hint = f" — did you mean '{close[0]}'?" if close else ""
    raise BadInput(f"unknown subcommand '{words[0]}'{hint} See %lfw help.")


# Names IPython itself keeps in the notebook's namespace: taking one breaks the shell (`In`,
# `get_ipython`) or is overwritten by the next cell (`_`, `_i`, `_12`).
SHELL_NAMES = frozenset(
    {"get_ipython", "In", "Out", "exit", "quit", "_", "__", "___", "_i", "_ii", "_iii", "_ih", "_oh", "_dh", "_sh"}
)
_HISTORY_NAME = re.compile(r"_i?\d+")


def check_output(name: str | None) -> None:
    """`-o NAME`, the variable a cell's result goes into, must be a name a notebook can use."""
    if name is None:
        return
    if not name.isidentifier() or keyword.iskeyword(name):
        raise BadInput(f"-o needs a variable name, got {name!r}")
    if name in SHELL_NAMES or _HISTORY_NAME.fullmatch(name) or (name.startswith("__") and name.endswith("__")):
        raise BadInput(f"-o {name}: the notebook's shell keeps that name for itself — pick another, e.g. result")


# SQLite stores integers as signed 64-bit numbers: a bigger limit or id cannot be bound
# to a query (OverflowError deep inside sqlite3), so the parser refuses it first.
SQLITE_INT_MAX = 2**63 - 1


def given(**settings: Any) -> dict:
    """The generation settings an invocation gave: an option left out (None) keeps lfwb's own
    default (GenerationConfig's, e.g. DEFAULT_MAX_TOKENS), which the magics do not repeat."""
    return {k: v for k, v in settings.items() if v is not None}


def positive_int(text: str) -> int:
    """argparse type: a whole number from 1 up to SQLite's largest integer (limits, ids, counts)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid int value: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    if value > SQLITE_INT_MAX:
        raise argparse.ArgumentTypeError(f"must be at most {SQLITE_INT_MAX}, got {value}")
    return value


def positive_float(text: str) -> float:
    """argparse type: a finite number above 0 (`nan` and `inf` are refused, not taken)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid float value: {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number above 0, got {text}")
    return value


def parse(sub: Subcommand, rest: str) -> Any | None:
    """Parse arguments with the subcommand's own parser; errors become one line.

    None when the arguments ask for help (`-h`/`--help` where argparse reads an option).
    """
    try:
        # POSIX splitting, so "quoted text" arrives without its quotes.
        argv = shlex.split(rest)
    except ValueError as e:
        raise BadInput(f"%lfw {sub.name}: {e} — check the quoting") from None
    if sub.parser is None:
        if argv:
            raise BadInput(f"%lfw {sub.name} takes no arguments")
        return argparse.Namespace()
    try:
        return sub.parser.parse_args(argv)
    except _HelpRequested:
        return None
    except IPythonUsageError as e:
        raise BadInput(f"%lfw {sub.name}: {e} — see %lfw {sub.name} --help") from None
