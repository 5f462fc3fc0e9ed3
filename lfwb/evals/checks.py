"""An eval's checks: what each answer is scored by, as written in YAML, and the verdicts.

    checks:
      - contains                          # the answer holds the row's `expected` (any case)
      - equals: "{expected}"              # the whole answer, stripped, is this text
      - regex: "^(positive|negative)\\b"  # re.search, multiline; `{column}` filled in escaped
      - json-schema: Order                # parses under a schema (lfwb/structured.py); bare: any JSON object
      - jsx                               # a component the preview takes (lfwb/pipelines/checks.py's jsx)
      - python: is_short                  # fn(answer, row) -> bool, or (bool, reason), from the notebook
      - judge: smollm2                    # a model reads the answer against the rubric: verdict + reason
        rubric: "The answer names the review's sentiment."

Any check may carry `name:` (default: its kind, a function's own name; numbered when repeated). `{column}` in a value
is the row's column; one the dataset lacks is refused before anything runs (`fields`).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import BadInput

KINDS = ("contains", "equals", "regex", "json-schema", "jsx", "python", "judge")
BARE = {"contains": "{expected}", "equals": "{expected}", "json-schema": "json", "jsx": None}
OPTIONS = ("name", "rubric", "ignore_case")
_FIELD = re.compile(r"\{\{[A-Za-z_]\w*\}\}|\{([A-Za-z_]\w*)\}")
_NAME = re.compile(r"[A-Za-z_][\w .-]{0,63}")
MAX_REASON = 300  # a verdict's reason as kept: a judge may ramble


@dataclass(frozen=True)
class EvalCheck:
    """One check as written: its `kind` (one of KINDS), its `value` (text, pattern, schema,
    function name or judge model), and a judge's `rubric`."""

    name: str
    kind: str
    value: str | None = None
    rubric: str | None = None
    ignore_case: bool = True  # contains and equals

    @property
    def fields(self) -> list[str]:
        """The `{column}`s its value (and rubric) read from a row."""
        texts = [self.value or ""] if self.kind in ("contains", "equals", "regex") else []
        texts.append(self.rubric or "")
        return [m.group(1) for text in texts for m in _FIELD.finditer(text) if m.group(1)]

    @property
    def written(self) -> str | dict:
        if self.kind in BARE and self.value == BARE[self.kind] and self.name == self.kind:
            return self.kind
        data: dict[str, Any] = {self.kind: self.value}
        if self.rubric is not None:
            data["rubric"] = self.rubric
        if self.name != self.kind:
            data["name"] = self.name
        if not self.ignore_case:
            data["ignore_case"] = False
        return data


@dataclass(frozen=True)
class Verdict:
    """How one answer fared on one check; `judge_run_id` is the judge's own run."""

    passed: bool
    reason: str | None = None
    judge_run_id: int | None = None


def parse_checks(raw: Any, label: str) -> tuple[EvalCheck, ...]:
    """`checks:` as written → EvalChecks (unique names); `BadInput` in one line for a bad one."""
    if not isinstance(raw, list) or not raw:
        raise BadInput(f"{label}: `checks:` must be a list of one check or more (e.g. `- contains`)")
    checks: list[EvalCheck] = []
    for i, item in enumerate(raw, 1):
        check = parse_check(item, f"{label}, check {i}")
        names = {c.name for c in checks}
        if check.name in names:
            if isinstance(item, Mapping) and "name" in item:
                raise BadInput(f"{label}, check {i}: the name {check.name!r} is taken — give each check its own")
            n = 2
            while f"{check.name}-{n}" in names:
                n += 1
            check = EvalCheck(f"{check.name}-{n}", check.kind, check.value, check.rubric, check.ignore_case)
        checks.append(check)
    return tuple(checks)


def parse_check(item: Any, where: str) -> EvalCheck:
    if isinstance(item, str):
        if item not in BARE:
            _unknown(item, where, bare=item in KINDS)
        return EvalCheck(item, item, BARE[item])
    if not isinstance(item, Mapping):
        raise BadInput(f"{where}: a check is a kind (`- jsx`) or a mapping (`- contains: text`), got {item!r}")
    kinds = [k for k in item if k not in OPTIONS]
    for kind in kinds:
        if kind not in KINDS:
            _unknown(kind, where)
    if len(kinds) != 1:
        raise BadInput(f"{where}: a check is one of {', '.join(KINDS)}, got {', '.join(kinds) or 'none'}")
    kind = kinds[0]
    value = item[kind]
    if value is None and kind in BARE:
        value = BARE[kind]
    if kind == "jsx":
        value = None
    elif not isinstance(value, str) or not value:
        raise BadInput(f"{where}: `{kind}:` takes non-empty text, got {value!r}")
    rubric = item.get("rubric")
    if kind == "judge" and (not isinstance(rubric, str) or not rubric.strip()):
        raise BadInput(f"{where}: a judge needs a `rubric:` — what a passing answer does")
    if kind != "judge" and rubric is not None:
        raise BadInput(f"{where}: only a judge takes a `rubric:`")
    if kind == "regex" and value is not None and not _FIELD.search(value):
        _compiled(value, where)
    name = item.get("name", value if kind == "python" else kind)  # a function goes by its name
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise BadInput(f"{where}: `name:` must be a short name (letters, digits, - _ . space), got {name!r}")
    ignore_case = item.get("ignore_case", True)
    if not isinstance(ignore_case, bool):
        raise BadInput(f"{where}: `ignore_case:` is true or false, got {ignore_case!r}")
    return EvalCheck(name, kind, value, rubric, ignore_case)


def _unknown(kind: Any, where: str, bare: bool = False) -> None:
    if bare:
        raise BadInput(f"{where}: `{kind}` needs a value (`- {kind}: ...`)")
    close = difflib.get_close_matches(kind, KINDS, n=1) if isinstance(kind, str) else []
    hint = f" — did you mean {close[0]!r}?" if close else ""
    raise BadInput(f"{where}: {kind!r} is not a check — use one of {', '.join(KINDS)}{hint}")


def _compiled(pattern: str, where: str) -> re.Pattern:
    try:
        return re.compile(pattern, re.MULTILINE)
    except re.error as e:
        raise BadInput(f"{where}: the regex {pattern!r} does not compile: {e}") from None


def fill(text: str, row: Mapping[str, Any], escape: bool = False) -> str:
    """`{column}` → the row's value (regex-escaped with `escape`); `{{x}}` → `{x}`."""

    def replace(match: re.Match) -> str:
        key = match.group(1)
        if key is None:
            return match.group(0)[1:-1]
        if key not in row:
            return match.group(0)
        value = "" if row[key] is None else str(row[key])
        return re.escape(value) if escape else value

    return _FIELD.sub(replace, text)


def short(reason: str) -> str:
    reason = " ".join(reason.split())
    return reason if len(reason) <= MAX_REASON else reason[: MAX_REASON - 1] + "…"


def text_verdict(check: EvalCheck, answer: str, row: Mapping[str, Any]) -> Verdict:
    """contains, equals and regex: read the answer's text only."""
    if check.kind == "regex":
        pattern = fill(check.value or "", row, escape=True)
        if _compiled(pattern, f"check {check.name!r}").search(answer):
            return Verdict(True)
        return Verdict(False, f"no match for {pattern!r}")
    want = fill(check.value or "", row)
    got = answer.strip()
    a, b = (got.casefold(), want.strip().casefold()) if check.ignore_case else (got, want.strip())
    if check.kind == "contains":
        return Verdict(True) if b in a else Verdict(False, short(f"does not contain {want!r}"))
    return Verdict(True) if a == b else Verdict(False, short(f"is not {want!r}"))
