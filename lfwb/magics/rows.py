"""Tables that render as HTML in a notebook and as aligned text in a terminal.

`Rows` is a list of dicts, so what a magic returns is plain Python data (`_`, `-o`): a yes/no
stays a bool in the rows and is drawn as a mark here (✓ for True). Cells can hold a model's answer (`%lfw runs`, `%lfw show`): they are escaped, in a table MathJax skips.
"""

from __future__ import annotations

from typing import Any

from ..untrusted import NO_MATH, escape

MAX_CELL = 60
MARKS = ("✓", "")  # how True and False are drawn, unless a column says otherwise


def _cell(value: Any, width: int = MAX_CELL, marks: tuple[str, str] = MARKS) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return marks[0] if value else marks[1]
    if isinstance(value, float):
        text = f"{value:.6g}"
    else:
        text = str(value)
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


class Rows(list):
    """A list of row dicts with a table repr. `columns` picks and orders what is shown."""

    def __init__(
        self,
        rows: list[dict],
        columns: list[str] | None = None,
        empty: str = "no rows",
        ends: int | None = None,
        marks: dict[str, tuple[str, str]] | None = None,
    ):
        super().__init__(rows)
        self.marks = marks or {}  # column → (True's mark, False's mark)
        self.columns = columns or (list(rows[0]) if rows else [])
        self.empty = empty
        self.ends = ends  # show only this many rows at each end, and how many are between (a batch's)

    def _shown(self) -> tuple[list, int, list]:
        """(first rows, how many are left out, last rows)."""
        if self.ends is None or len(self) <= 2 * self.ends + 1:
            return list(self), 0, []
        return self[: self.ends], len(self) - 2 * self.ends, self[-self.ends :]

    def as_text(self) -> str:
        if not self:
            return self.empty
        first, hidden, last = self._shown()
        cells = [[c for c in self.columns]] + [
            [_cell(r.get(c), marks=self.marks.get(c, MARKS)) for c in self.columns] for r in first + last
        ]
        widths = [max(len(row[i]) for row in cells) for i in range(len(self.columns))]
        lines = ["  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() for row in cells]
        lines.insert(1, "  ".join("-" * w for w in widths))
        if hidden:
            lines.insert(2 + len(first), f"… {hidden} more rows …")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        if not self:
            return f"<p><em>{escape(self.empty)}</em></p>"
        first, hidden, last = self._shown()
        head = "".join(f"<th>{escape(c)}</th>" for c in self.columns)

        def rows(part: list) -> str:
            return "".join(
                "<tr>"
                + "".join(f"<td>{escape(_cell(r.get(c), 120, self.marks.get(c, MARKS)))}</td>" for c in self.columns)
                + "</tr>"
                for r in part
            )

        gap = f'<tr><td colspan="{len(self.columns)}"><em>… {hidden} more rows …</em></td></tr>' if hidden else ""
        return (
            f'<table class="lfwb-rows {NO_MATH}"><thead><tr>{head}</tr></thead>'
            f"<tbody>{rows(first)}{gap}{rows(last)}</tbody></table>"
        )

    def _repr_pretty_(self, p, cycle: bool) -> None:
        p.text(self.as_text())


class Record(dict):
    """One row shown as field / value pairs (long values kept whole)."""

    def as_text(self) -> str:
        width = max((len(k) for k in self), default=0)
        return "\n".join(f"{k.ljust(width)}  {'' if v is None else v}" for k, v in self.items())

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><th style='text-align:left;vertical-align:top'>{escape(str(k))}</th>"
            f"<td><pre style='white-space:pre-wrap;margin:0'>{escape('' if v is None else str(v))}</pre></td></tr>"
            for k, v in self.items()
        )
        return f'<table class="lfwb-record {NO_MATH}">{rows}</table>'

    def _repr_pretty_(self, p, cycle: bool) -> None:
        p.text(self.as_text())
