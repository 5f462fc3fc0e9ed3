"""What changed between two runs: the question people ask when an answer changed.

    >>> wb.diff_runs(12, 15)          # also `%lfw diff 12 15`, GET /api/v1/runs/12/diff/15

compares what each run sent (lfwb/sent.py, as `Workbench.show_run` reads it) and what came
back, one section per kind of change: the model, the settings, the messages (aligned, each
changed one as a line diff; a retrieved chunk or the summary only as a placeholder, so an
edit to the question stands out), the summary, the retrieved chunks, the answer. Two pipeline
runs are compared step by step, by the steps' names. A `RunDiff` draws itself as text and as
HTML that loads nothing.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from .run_view import PART, RunView, chunk_label, segments
from .untrusted import NO_MATH, escape

REQUEST_KINDS = ("run", "model", "settings", "messages", "summary", "chunks", "steps")
SHOWN_LINES = 8  # of a message added or removed
ANSWER_LINES = 60  # of the answer's diff
LINE_CHARS = 200


@dataclass
class Section:
    """One kind of change: `kind` (model, settings, messages, summary, chunks, answer, ...),
    its `title`, and `lines` ("- " before, "+ " after, anything else a note)."""

    kind: str
    title: str
    lines: list[str] = field(default_factory=list)


@dataclass
class RunDiff:
    a: int
    b: int
    sections: list[Section]

    @property
    def same_request(self) -> bool:
        """Both runs sent the same model the same messages with the same settings."""
        return not any(s.kind in REQUEST_KINDS for s in self.sections)

    def to_dict(self) -> dict:
        return {"a": self.a, "b": self.b, "same_request": self.same_request, "sections": [asdict(s) for s in self]}

    def __iter__(self):
        return iter(self.sections)

    def summary(self) -> str:
        if not self.sections:
            return f"runs {self.a} and {self.b} sent the same request and got the same answer"
        changed = ", ".join(dict.fromkeys(s.title for s in self.sections))
        same = "; the requests are the same" if self.same_request else ""
        return f"run {self.a} → run {self.b}: {changed} changed{same}"

    def as_text(self) -> str:
        lines = [self.summary()]
        for section in self.sections:
            lines += ["", section.title, *[f"  {line}" for line in section.lines]]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        colours = {"- ": "#b91c1c", "+ ": "#15803d"}
        parts = [f"<p><b>{escape(self.summary())}</b></p>"]
        for section in self.sections:
            body = "&#10;".join(
                f'<span style="color:{colours[line[:2]]}">{escape(line)}</span>'
                if line[:2] in colours
                else escape(line)
                for line in section.lines
            )
            parts.append(f"<h4>{escape(section.title)}</h4><pre style='white-space:pre-wrap'>{body}</pre>")
        return f'<div class="lfwb-diff {NO_MATH}">{"".join(parts)}</div>'

    def _repr_pretty_(self, p, cycle: bool) -> None:
        p.text(self.as_text())


def diff_views(a: RunView, b: RunView) -> RunDiff:
    """The RunDiff of two runs as `Workbench.show_run` gives them."""
    sections: list[Section] = []
    if a["kind"] != b["kind"]:
        sections.append(Section("run", "kind", [f"- {a['kind']}", f"+ {b['kind']}"]))
    if "steps" in a and "steps" in b:
        steps_a = {s["name"]: s for s in a["steps"]}
        steps_b = {s["name"]: s for s in b["steps"]}
        for name in dict.fromkeys([*steps_a, *steps_b]):
            if name not in steps_b or name not in steps_a:
                where = "run A" if name in steps_a else "run B"
                sections.append(
                    Section("steps", f"step {name}", [f"only in {where} ({a['id'] if name in steps_a else b['id']})"])
                )
                continue
            sections += compare(steps_a[name], steps_b[name], f"step {name}: ")
    else:
        sections += compare(a, b)
    return RunDiff(a["id"], b["id"], sections)


def compare(x: dict, y: dict, prefix: str = "") -> list[Section]:
    """The sections that differ between two generations (runs or steps): each has `model`,
    `answered_by`, `sent`, `output`, `status`."""
    sent_x, sent_y = x.get("sent") or _NOTHING, y.get("sent") or _NOTHING
    found = [
        Section("model", "model", _pair(_model(x), _model(y))),
        Section("settings", "settings", _settings(sent_x["settings"], sent_y["settings"])),
        Section("messages", "messages", _messages(sent_x["messages"], sent_y["messages"])),
        Section("summary", "summary", _pair(_summary(sent_x), _summary(sent_y))),
        Section("chunks", "retrieved chunks", _chunks(sent_x, sent_y)),
        Section("answer", "answer", _answer(x, y)),
    ]
    return [Section(s.kind, prefix + s.title, s.lines) for s in found if s.lines]


_NOTHING: dict[str, Any] = {"settings": {}, "messages": []}


def _pair(before: str | None, after: str | None) -> list[str]:
    if before == after:
        return []
    return [f"- {before or '(none)'}", f"+ {after or '(none)'}"]


def _model(run: dict) -> str:
    answered = run.get("answered_by")
    return f"{run.get('model')}" + (f" (answered by {answered})" if answered and answered != run.get("model") else "")


def _value(key: str, value: Any) -> str:
    if key == "json_schema" and value is not None:
        return f"a schema of {len(json.dumps(value))} characters"
    return "(not set)" if value is None else json.dumps(value)


def _settings(a: dict, b: dict) -> list[str]:
    return [
        f"{key}: {_value(key, a.get(key))} → {_value(key, b.get(key))}"
        for key in sorted({*a, *b})
        if a.get(key) != b.get(key)
    ]


def _masked(message: dict) -> str:
    """The message with lfwb's insertions (summary, chunks) as placeholders."""
    return "".join(
        text if label is None else ("[summary]" if label.startswith("summary") else "[retrieved chunk]")
        for label, text in segments(message)
    )


def _excerpt(sign: str, text: str) -> list[str]:
    lines = text.split("\n")
    shown = [f"{sign} {line[:LINE_CHARS]}{'…' if len(line) > LINE_CHARS else ''}" for line in lines[:SHOWN_LINES]]
    return shown + ([f"  … {len(lines) - SHOWN_LINES} more lines"] if len(lines) > SHOWN_LINES else [])


def _where(message: dict) -> str:
    return f"{message['role']} message ({PART.get(message['part'], message['part'])})"


def _messages(a: list[dict], b: list[dict]) -> list[str]:
    """The two requests' messages: the last ones (this turn, or the prompt) side by side, the
    ones before them (system, earlier turns) aligned."""
    ends = bool(a and b) and a[-1]["part"] in ("turn", "prompt") and b[-1]["part"] in ("turn", "prompt")
    lines = _aligned(a[:-1], b[:-1]) if ends else _aligned(a, b)
    if ends and _masked(a[-1]) != _masked(b[-1]):
        lines += [f"changed {_where(b[-1])}:", *_line_diff(_masked(a[-1]), _masked(b[-1]))]
    if lines and len(a) != len(b):
        lines.insert(0, f"{len(a)} messages → {len(b)} messages")
    return lines


def _aligned(a: list[dict], b: list[dict]) -> list[str]:
    keys_a = [(m["role"], _masked(m)) for m in a]
    keys_b = [(m["role"], _masked(m)) for m in b]
    lines: list[str] = []
    matcher = difflib.SequenceMatcher(a=keys_a, b=keys_b, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            continue
        for i, j in zip(range(i1, i2), range(j1, j2)) if op == "replace" else ():
            if a[i]["role"] == b[j]["role"] and _alike(keys_a[i][1], keys_b[j][1]):
                lines += [f"changed {_where(b[j])}, message {j + 1}:", *_line_diff(keys_a[i][1], keys_b[j][1])]
            else:
                lines += [f"removed {_where(a[i])}:", *_excerpt("-", keys_a[i][1])]
                lines += [f"added {_where(b[j])}, message {j + 1}:", *_excerpt("+", keys_b[j][1])]
        paired = min(i2 - i1, j2 - j1) if op == "replace" else 0
        for i in range(i1 + paired, i2):
            lines += [f"removed {_where(a[i])}:", *_excerpt("-", keys_a[i][1])]
        for j in range(j1 + paired, j2):
            lines += [f"added {_where(b[j])}, message {j + 1}:", *_excerpt("+", keys_b[j][1])]
    return lines


def _alike(before: str, after: str) -> bool:
    """An edit of one message rather than another message in its place."""
    return difflib.SequenceMatcher(a=before, b=after, autojunk=False).ratio() >= 0.5


def _line_diff(before: str, after: str, limit: int = 40) -> list[str]:
    """`- old line` / `+ new line`, with one line of context around each change."""
    diff = difflib.unified_diff(before.split("\n"), after.split("\n"), lineterm="", n=1)
    lines: list[str] = []
    for line in list(diff)[2:]:  # past the ---/+++ header
        if line.startswith("@@"):
            if lines:  # a gap between two changes
                lines.append("  …")
            continue
        sign = line[:1] if line[:1] in "-+" else " "
        lines.append(f"{sign} {line[1:][:LINE_CHARS]}")
    return lines[:limit] + ([f"  … {len(lines) - limit} more lines"] if len(lines) > limit else [])


def _summary(sent: dict) -> str | None:
    for message in sent["messages"]:
        summary = message.get("summary")
        if summary and summary.get("start") is not None:
            text = message["content"][summary["start"] : summary["end"]]
            return f"of {summary['turns']} earlier turns: {' '.join(text.split())[:LINE_CHARS]}"
    return None


def _chunks(a: dict, b: dict) -> list[str]:
    def chunks(sent: dict) -> dict:
        return {(c["context_id"], c["chunk_id"]): c for m in sent["messages"] for c in m.get("chunks", [])}

    in_a, in_b = chunks(a), chunks(b)
    lines = [f"- {chunk_label(c)}" for k, c in in_a.items() if k not in in_b]
    lines += [f"+ {chunk_label(c)}" for k, c in in_b.items() if k not in in_a]
    if not lines and list(in_a) != list(in_b):
        lines.append("the same chunks, in another order")
    return lines


def _answer(x: dict, y: dict) -> list[str]:
    lines = [
        f"{label}: {x.get(key)} → {y.get(key)}"
        for key, label in (("status", "status"), ("output_tokens", "tokens"))
        if x.get(key) != y.get(key)
    ]
    if (x.get("output") or "") != (y.get("output") or ""):
        lines += _line_diff(x.get("output") or "", y.get("output") or "", ANSWER_LINES)
    return lines
