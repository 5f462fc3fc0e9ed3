"""An eval's dataset: rows with an `input`, an optional `expected`, and any columns the checks read.

    >>> rows = read_rows([{"input": "Loved it", "expected": "positive"}, "Meh"])
    >>> rows.rows[1], rows.columns
    ({'input': 'Meh'}, ['input', 'expected'])

A dataset is a list (of strings, or of dicts with an `input`), a notebook variable holding one
(a pandas DataFrame too), or a file: a CSV with a header naming `input`, or JSONL (one string or
one object per line). It is read whole (an eval is scored answer by answer and kept with its run)
and checked whole before anything runs: one bad row is one line naming where it is.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import BadInput, check_text

MAX_ROWS = 10_000
MAX_CELL_CHARS = 128 * 1024  # one value: a CSV field, a JSONL line's text


@dataclass
class Dataset:
    rows: list[dict[str, Any]]
    where: str  # how to name it in a message: "data.csv", "variable 'rows'", "the list"

    @property
    def columns(self) -> list[str]:
        return list(dict.fromkeys(k for row in self.rows for k in row))

    def __len__(self) -> int:
        return len(self.rows)

    def need(self, columns: Iterable[str], what: str) -> None:
        """Refuse a dataset that lacks a column `what` reads (one line, naming the first row)."""
        for column in columns:
            for i, row in enumerate(self.rows):
                if column not in row:
                    have = ", ".join(self.columns)
                    raise BadInput(
                        f"{what} reads the column `{column}`, which {self.where} lacks"
                        f"{f' in row {i + 1}' if any(column in r for r in self.rows) else ''} (columns: {have})"
                    )


def read_rows(source: Any, namespace: Mapping[str, Any] | None = None) -> Dataset:
    """The rows of `source` (see the module docstring); a notebook name wins over a file's."""
    if isinstance(source, Dataset):
        return source
    if isinstance(source, str) and namespace is not None and source in namespace:
        return _checked(namespace[source], f"variable {source!r}")
    if not isinstance(source, str):
        return _checked(source, "the list")
    path = Path(source).expanduser()
    if not path.is_file():
        raise BadInput(
            f"{source}: no variable of that name in the notebook and no file at {path}"
            " — give a list, a .csv with an `input` column or a .jsonl file"
        )
    try:
        with path.open(encoding="utf-8-sig", newline="") as f:  # -sig: a spreadsheet's BOM
            items = _csv(f, source) if path.suffix.lower() == ".csv" else _jsonl(f, source)
    except UnicodeDecodeError as e:
        raise BadInput(f"{source}: not UTF-8 ({e.reason})") from None
    except OSError as e:
        raise BadInput(f"{source}: cannot read it ({e.strerror})") from None
    return _checked(items, source)


def _csv(f: Any, source: str) -> list[dict]:
    reader = csv.DictReader(f, strict=True)
    try:
        if "input" not in (reader.fieldnames or []):
            raise BadInput(
                f"{source}: the CSV has no `input` column (columns: {', '.join(reader.fieldnames or []) or 'none'})"
            )
        return [{k: v for k, v in row.items() if k is not None} for row in reader]
    except csv.Error as e:  # csv's own field cap too (128 KiB unless the notebook changed it)
        raise BadInput(f"{source}, line {reader.line_num}: not valid CSV ({e}) — check its quotes") from None


def _jsonl(f: Any, source: str) -> list[Any]:
    items = []
    for number, line in enumerate(f, 1):
        if not line.strip():
            continue
        try:
            items.append(json.loads(line))
        except (json.JSONDecodeError, RecursionError) as e:
            raise BadInput(
                f"{source}, line {number}: not JSON ({getattr(e, 'msg', 'nested too deep')}) — "
                'a .jsonl file holds one string or one {"input": ...} object per line'
            ) from None
    return items


def _checked(items: Any, where: str) -> Dataset:
    if hasattr(items, "to_dict") and hasattr(items, "columns"):  # a pandas DataFrame
        items = items.to_dict("records")
    if isinstance(items, (str, bytes, Mapping)) or not isinstance(items, Sequence):
        raise BadInput(f"{where} is a {type(items).__name__}, not a list of rows")
    if not items:
        raise BadInput(f"{where} holds no rows — nothing to score")
    if len(items) > MAX_ROWS:
        raise BadInput(f"{where} holds {len(items)} rows — at most {MAX_ROWS} are taken")
    rows = []
    for i, item in enumerate(items, 1):
        row = dict(item) if isinstance(item, Mapping) else {"input": item}
        if "input" not in row:
            raise BadInput(f"{where}, row {i}: no `input` (it has {', '.join(map(str, row)) or 'nothing'})")
        for key, value in row.items():
            if not isinstance(key, str):
                raise BadInput(f"{where}, row {i}: a column name must be text, got {key!r}")
            if isinstance(value, str):
                check_text(value, f"{where}, row {i}, column {key!r}")
                if len(value) > MAX_CELL_CHARS:
                    raise BadInput(f"{where}, row {i}: `{key}` is {len(value)} characters — at most {MAX_CELL_CHARS}")
        row["input"] = "" if row["input"] is None else str(row["input"])
        if not row["input"].strip():
            raise BadInput(f"{where}, row {i}: the input is empty")
        rows.append(row)
    return Dataset(rows, where)
