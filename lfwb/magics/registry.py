"""How `%lfw SUBCOMMAND ...` finds and parses its subcommand.

A subcommand is a plain function `fn(ctx, args)` decorated with IPython's `@magic_arguments`
(so its usage text comes from the decorators and is never stale) and registered with
`@subcommand("name")`. Multi-word names (`context add`) are matched before one-word ones.
"""

from __future__ import annotations

import difflib
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from IPython.core.error import UsageError as IPythonUsageError

from ..errors import UsageError


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

    @property
    def usage(self) -> str:
        # IPython writes usage as reST ("::" then an indented line); show it plainly.
        text = (self.func.__doc__ or self.summary).strip()
        if text.startswith("::"):
            text = text[2:].strip()
        return "usage: " + text


SUBCOMMANDS: dict[str, Subcommand] = {}


def subcommand(name: str, cell: str = "never") -> Callable:
    """Register `fn` as `%lfw NAME` (`cell="required"` for `%%lfw NAME`)."""

    def register(fn: Callable) -> Callable:
        parser = getattr(fn, "parser", None)
        description = (parser.description if parser else fn.__doc__) or ""
        summary = description.strip().splitlines()[0] if description.strip() else name
        SUBCOMMANDS[name] = Subcommand(name, fn, cell, summary)
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
            rest = line.strip()[len(words[0]):].strip()
            if n == 2:
                rest = rest[len(words[1]):].strip()
            return SUBCOMMANDS[name], rest
    names = sorted({n.split()[0] for n in SUBCOMMANDS})
    close = difflib.get_close_matches(words[0], names, n=1, cutoff=0.5)
    group = [n for n in SUBCOMMANDS if n.split()[0] == words[0]]
    if group:
        raise UsageError(f"%lfw {words[0]} needs one of: {', '.join(sorted(n.split()[1] for n in group))}")
    hint = f" — did you mean '{close[0]}'?" if close else ""
    raise UsageError(f"unknown subcommand '{words[0]}'{hint} See %lfw help.")


def parse(sub: Subcommand, rest: str) -> Any:
    """Parse arguments with the subcommand's own parser; errors become one line."""
    try:
        # POSIX splitting, so "quoted text" arrives without its quotes.
        argv = shlex.split(rest)
    except ValueError as e:
        raise UsageError(f"%lfw {sub.name}: {e} — check the quoting") from None
    try:
        return sub.func.parser.parse_args(argv)
    except IPythonUsageError as e:
        raise UsageError(f"%lfw {sub.name}: {e} — see %lfw {sub.name} --help") from None


_PLACEHOLDER = re.compile(r"\{\{([A-Za-z_]\w*)\}\}|\{([A-Za-z_]\w*)\}")


def fill_template(text: str, namespace: dict) -> str:
    """`{name}` → the value of `name` in the namespace; `{{name}}` → a literal `{name}`.

    Braces that name nothing in the namespace stay as they are, so code and JSX survive
    (`style={{color: 'red'}}`, `{props.title}`, `function f() {}`).

    >>> fill_template("Hi {who}, {{who}} {missing} {x: 1}", {"who": "Ada"})
    'Hi Ada, {who} {missing} {x: 1}'
    """

    def replace(match: re.Match) -> str:
        if match.group(1) is not None:
            return "{" + match.group(1) + "}"
        name = match.group(2)
        return str(namespace[name]) if name in namespace else match.group(0)

    return _PLACEHOLDER.sub(replace, text)
