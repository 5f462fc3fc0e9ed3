"""Tables that render as HTML in a notebook and as aligned text in a terminal.

`Rows` is a list of dicts, so what a magic returns is plain Python data (`_`, `-o`).
"""

from __future__ import annotations

import html
from typing import Any

MAX_CELL = 60


def _cell(value: Any, width: int = MAX_CELL) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        text = f"{value:.6g}"
    else:
        text = str(value)
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


class Rows(list):
    """A list of row dicts with a table repr. `columns` picks and orders what is shown."""

    def __init__(self, rows: list[dict], columns: list[str] | None = None, empty: str = "no rows"):
        super().__init__(rows)
        self.columns = columns or (list(rows[0]) if rows else [])
        self.empty = empty

    def as_text(self) -> str:
        if not self:
            return self.empty
        table = [[c for c in self.columns]] + [[_cell(r.get(c)) for c in self.columns] for r in self]
        widths = [max(len(row[i]) for row in table) for i in range(len(self.columns))]
        lines = ["  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() for row in table]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        if not self:
            return f"<p><em>{html.escape(self.empty)}</em></p>"
        head = "".join(f"<th>{html.escape(c)}</th>" for c in self.columns)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(_cell(r.get(c), 120))}</td>" for c in self.columns) + "</tr>"
            for r in self
        )
        return f'<table class="lfwb-rows"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'

    def _repr_pretty_(self, p, cycle: bool) -> None:
        p.text(self.as_text())


class Record(dict):
    """One row shown as field / value pairs (long values kept whole)."""

    def as_text(self) -> str:
        width = max((len(k) for k in self), default=0)
        return "\n".join(f"{k.ljust(width)}  {'' if v is None else v}" for k, v in self.items())

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><th style='text-align:left;vertical-align:top'>{html.escape(str(k))}</th>"
            f"<td><pre style='white-space:pre-wrap;margin:0'>{html.escape('' if v is None else str(v))}</pre></td></tr>"
            for k, v in self.items()
        )
        return f'<table class="lfwb-record">{rows}</table>'

    def _repr_pretty_(self, p, cycle: bool) -> None:
        p.text(self.as_text())
